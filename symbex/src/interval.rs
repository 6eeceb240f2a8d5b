//! Refutation by unsigned intervals, in front of the solver.
//!
//! Most branches the engine meets inside the data-structure library are isolation checks
//! on heap pointers: the path already says the pointer (or the address computed from it)
//! lies in the heap, and the check asks whether it may lie outside `mem`, which contains
//! the heap. Z3 proves such a side impossible in milliseconds; intervals prove it in
//! microseconds.
//!
//! How: every top-level conjunct of the path that bounds an expression by a constant
//! (`c <= e`, `e < c`, `e == c`, their negations) gives that expression (compared
//! structurally) an interval; the query is then evaluated bottom-up over intervals, each
//! subterm narrowed by its own interval if it has one. Every interval over-approximates
//! the values the term takes in any assignment satisfying the path, so a query whose
//! interval is `[0, 0]` cannot hold: the answer is "unsatisfiable". Anything the domain
//! does not understand is the full range, so the refutation is never wrong, only
//! sometimes silent (and then the solver answers).

use crate::expr::{mask, BinOp, CmpOp, Expr, Node};
use std::collections::HashMap;

/// An interval `[lo, hi]` of unsigned values of a bit-vector.
type Iv = (u128, u128);

/// Whether `path` and `query` provably cannot hold together.
///
/// A few disjunctions of the path (a heap pointer is null *or* in the heap) are split:
/// the query is refuted only if it is refuted under every choice of their sides.
pub fn refutes(path: &[Expr], query: &Expr) -> bool {
    let mut facts: HashMap<Expr, Iv> = HashMap::new();
    let mut ors = Vec::new();
    for c in path {
        learn(c, true, &mut facts);
        if let Node::Bin(BinOp::Or, a, b) = c.node() {
            if c.width() == 1 && ors.len() < MAX_SPLITS {
                ors.push((a.clone(), b.clone()));
            }
        }
    }
    (0..1u32 << ors.len()).all(|choice| {
        let mut f = facts.clone();
        for (k, (a, b)) in ors.iter().enumerate() {
            learn(if choice >> k & 1 == 0 { a } else { b }, true, &mut f);
        }
        let mut dead = false;
        let q = eval(query, &f, &mut HashMap::new(), &mut dead);
        facts_empty(&f) || dead || q == (0, 0)
    })
}

/// Disjunctions split at most (2^MAX_SPLITS evaluations).
const MAX_SPLITS: usize = 3;

/// A fact narrowed to nothing: the path itself is impossible.
fn facts_empty(facts: &HashMap<Expr, Iv>) -> bool {
    facts.values().any(|(lo, hi)| lo > hi)
}

fn full(w: u32) -> Iv {
    (0, mask(w))
}

fn narrow(facts: &mut HashMap<Expr, Iv>, e: &Expr, iv: Iv) {
    if e.as_const().is_some() || e.width() > 64 || iv.0 > iv.1 {
        if iv.0 > iv.1 {
            // Nothing satisfies the fact: record the contradiction.
            facts.insert(e.clone(), iv);
        }
        return;
    }
    let cur = facts.entry(e.clone()).or_insert_with(|| full(e.width()));
    cur.0 = cur.0.max(iv.0);
    cur.1 = cur.1.min(iv.1);
    // x + k in [lo, hi] puts x in [lo - k, hi - k] when that range does not wrap.
    if let Node::Bin(BinOp::Add, x, k) = e.node() {
        if let Some(k) = k.as_const() {
            let m = mask(e.width());
            let (lo, hi) = (iv.0.wrapping_sub(k) & m, iv.1.wrapping_sub(k) & m);
            if lo <= hi {
                narrow(facts, x, (lo, hi));
            }
        }
    }
}

/// Records what `c == holds` says about single terms.
fn learn(c: &Expr, holds: bool, facts: &mut HashMap<Expr, Iv>) {
    match c.node() {
        Node::Not(x) if c.width() == 1 => learn(x, !holds, facts),
        Node::Bin(BinOp::And, a, b) if c.width() == 1 && holds => {
            learn(a, true, facts);
            learn(b, true, facts);
        }
        Node::Bin(BinOp::Or, a, b) if c.width() == 1 && !holds => {
            learn(a, false, facts);
            learn(b, false, facts);
        }
        Node::Cmp(op, a, b) => {
            let w = a.width();
            if w > 64 {
                return;
            }
            let m = mask(w);
            match (op, a.as_const(), b.as_const(), holds) {
                // a < k  /  !(a < k): a >= k
                (CmpOp::Ult, None, Some(k), true) => narrow(facts, a, (0, k.saturating_sub(1))),
                (CmpOp::Ult, None, Some(k), false) => narrow(facts, a, (k, m)),
                // k < b  /  !(k < b): b <= k
                (CmpOp::Ult, Some(k), None, true) => narrow(facts, b, (k.saturating_add(1), m)),
                (CmpOp::Ult, Some(k), None, false) => narrow(facts, b, (0, k)),
                // a <= k  /  a > k
                (CmpOp::Ule, None, Some(k), true) => narrow(facts, a, (0, k)),
                (CmpOp::Ule, None, Some(k), false) => narrow(facts, a, (k.saturating_add(1), m)),
                // k <= b  /  b < k
                (CmpOp::Ule, Some(k), None, true) => narrow(facts, b, (k, m)),
                (CmpOp::Ule, Some(k), None, false) => narrow(facts, b, (0, k.saturating_sub(1))),
                (CmpOp::Eq, None, Some(k), true) => narrow(facts, a, (k, k)),
                (CmpOp::Eq, Some(k), None, true) => narrow(facts, b, (k, k)),
                _ => {}
            }
        }
        _ => {}
    }
}

/// The interval of `e`; sets `dead` when a term's computed interval and the path's fact
/// on it do not meet: then no assignment satisfies the path.
fn eval(e: &Expr, facts: &HashMap<Expr, Iv>, memo: &mut HashMap<usize, Iv>, dead: &mut bool) -> Iv {
    if let Some(v) = memo.get(&e.id()) {
        return *v;
    }
    let w = e.width();
    let mut r = if w > 64 { full(w) } else { compute(e, facts, memo, dead) };
    if let Some(f) = facts.get(e) {
        r = (r.0.max(f.0), r.1.min(f.1));
        if r.0 > r.1 {
            *dead = true;
            r = (0, 0);
        }
    }
    memo.insert(e.id(), r);
    r
}

fn compute(e: &Expr, facts: &HashMap<Expr, Iv>, memo: &mut HashMap<usize, Iv>, dead: &mut bool) -> Iv {
    let w = e.width();
    let m = mask(w);
    let modulus = 1u128 << w;
    // A sum or difference computed in integers: valid if both ends wrap the same number of
    // times (the range is shorter than the modulus).
    let wrap = |lo: i128, hi: i128| -> Iv {
        let md = modulus as i128;
        if hi - lo >= md {
            return (0, m);
        }
        let (ql, qh) = (lo.div_euclid(md), hi.div_euclid(md));
        if ql != qh {
            return (0, m);
        }
        (lo.rem_euclid(md) as u128, hi.rem_euclid(md) as u128)
    };
    let bit = |known: Option<bool>| -> Iv {
        match known {
            Some(true) => (1, 1),
            Some(false) => (0, 0),
            None => (0, 1),
        }
    };
    match e.node() {
        Node::Const(c) => (*c, *c),
        Node::Var(_) | Node::Select(..) => (0, m),
        Node::ZExt(x) => eval(x, facts, memo, dead),
        Node::Not(x) if w == 1 => {
            let (lo, hi) = eval(x, facts, memo, dead);
            (1 - hi, 1 - lo)
        }
        Node::Extract(0, x) => {
            let (lo, hi) = eval(x, facts, memo, dead);
            if hi <= m {
                (lo, hi)
            } else {
                (0, m)
            }
        }
        Node::Bin(op, a, b) => {
            let (al, ah) = eval(a, facts, memo, dead);
            let (bl, bh) = eval(b, facts, memo, dead);
            match op {
                BinOp::Add => wrap(al as i128 + bl as i128, ah as i128 + bh as i128),
                BinOp::Sub => wrap(al as i128 - bh as i128, ah as i128 - bl as i128),
                BinOp::Mul => match ah.checked_mul(bh) {
                    Some(p) if p <= m => (al * bl, p),
                    _ => (0, m),
                },
                BinOp::And if w == 1 => bit(match ((al, ah), (bl, bh)) {
                    ((0, 0), _) | (_, (0, 0)) => Some(false),
                    ((1, 1), (1, 1)) => Some(true),
                    _ => None,
                }),
                BinOp::Or if w == 1 => bit(match ((al, ah), (bl, bh)) {
                    ((1, 1), _) | (_, (1, 1)) => Some(true),
                    ((0, 0), (0, 0)) => Some(false),
                    _ => None,
                }),
                BinOp::And => (0, ah.min(bh)),
                BinOp::UDiv if bl > 0 => (al / bh, ah / bl),
                BinOp::URem if bl > 0 => (0, ah.min(bh - 1)),
                BinOp::LShr if bl == bh && bl < w as u128 => (al >> bl, ah >> bl),
                _ => (0, m),
            }
        }
        Node::Cmp(op, a, b) => {
            let (al, ah) = eval(a, facts, memo, dead);
            let (bl, bh) = eval(b, facts, memo, dead);
            bit(match op {
                CmpOp::Ult if ah < bl => Some(true),
                CmpOp::Ult if al >= bh => Some(false),
                CmpOp::Ule if ah <= bl => Some(true),
                CmpOp::Ule if al > bh => Some(false),
                CmpOp::Eq if ah < bl || bh < al => Some(false),
                CmpOp::Eq if al == ah && bl == bh && al == bl => Some(true),
                _ => None,
            })
        }
        Node::Ite(c, t, f) => match eval(c, facts, memo, dead) {
            (1, 1) => eval(t, facts, memo, dead),
            (0, 0) => eval(f, facts, memo, dead),
            _ => {
                let (tl, th) = eval(t, facts, memo, dead);
                let (fl, fh) = eval(f, facts, memo, dead);
                (tl.min(fl), th.max(fh))
            }
        },
        _ => (0, m),
    }
}


/// Ranges the constraints suggest for their variables (for drawing random models, not a
/// proof: both sides of a disjunction count): `(var, lo, hi)`, from comparisons of a
/// variable with a constant.
pub fn hints(constraints: &[Expr]) -> Vec<(crate::expr::VarId, u128, u128)> {
    let mut out = Vec::new();
    let mut work: Vec<Expr> = constraints.to_vec();
    while let Some(c) = work.pop() {
        if out.len() > 256 {
            break;
        }
        match c.node() {
            Node::Bin(BinOp::And | BinOp::Or, a, b) if c.width() == 1 => {
                work.push(a.clone());
                work.push(b.clone());
            }
            Node::Cmp(..) => {
                let mut facts = HashMap::new();
                learn(&c, true, &mut facts);
                for (e, (lo, hi)) in facts {
                    if let (Node::Var(id), true) = (e.node(), lo <= hi) {
                        out.push((*id, lo, hi));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap pointer plus a scaled index that the path puts in the heap: the check that
    /// it lies in `mem` cannot fail, whether the base pointer is null or in the heap (null
    /// makes the sum's interval miss the heap: that side of the path is impossible).
    #[test]
    fn a_checked_heap_address_stays_in_mem_for_either_side_of_a_null_test() {
        let c = |v: u128| Expr::constant(64, v);
        let base = Expr::var(64, 1);
        let index = Expr::bin(BinOp::And, &Expr::var(32, 2), &Expr::var(32, 3)).zext(64);
        let p = Expr::bin(BinOp::Add, &base, &Expr::bin(BinOp::Mul, &index, &c(4)));
        let heap = |x: &Expr| Expr::and(&Expr::cmp(CmpOp::Ule, &c(0x10_0020_0000), x), &Expr::cmp(CmpOp::Ult, x, &c(0x10_ff00_0000)));
        let null_or_heap = Expr::bin(BinOp::Or, &Expr::cmp(CmpOp::Eq, &base, &c(0)), &heap(&base));
        let outside = Expr::cmp(CmpOp::Ult, &Expr::bin(BinOp::Add, &p, &c(0xffff_fff0_0000_0000)), &c(0x1_0000_0000)).not();
        assert!(refutes(&[null_or_heap.clone(), heap(&p)], &outside));
        // Without the path's fact on the address, nothing is refuted.
        assert!(!refutes(&[null_or_heap], &outside));
    }
}
