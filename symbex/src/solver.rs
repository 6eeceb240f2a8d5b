//! The solver behind a trait of our own, and Z3 behind it.
//!
//! The engine asks two things: is a conjunction of 1-bit constraints satisfiable, and give
//! values for some expressions in one model. [`CachedSolver`] adds what every query goes
//! through: constraint independence (only the constraints that share variables, transitively,
//! with the query are sent), a cache of answers keyed by the exact constraint set, and a
//! counterexample cache (a model that satisfied a superset's constraints answers a subset).

use crate::expr::{ArrNode, BinOp, CmpOp, Expr, Node, VarId};
use z3::ast::Ast;
use std::collections::HashMap;
use std::time::Duration;

/// A solver's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sat {
    /// Satisfiable.
    Sat,
    /// Unsatisfiable.
    Unsat,
    /// The solver gave up (timeout, resource limit).
    Unknown,
}

/// A model: values of the variables and array bytes it decided.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Variable values.
    pub vars: HashMap<VarId, u128>,
    /// Array bytes, by array and index.
    pub bytes: HashMap<(VarId, u64), u8>,
}

impl Model {
    /// Evaluates `e`, taking 0 for whatever the model left open.
    pub fn eval(&self, e: &Expr) -> u128 {
        e.eval(&|v| Some(*self.vars.get(&v).unwrap_or(&0)), &|a, i| Some(*self.bytes.get(&(a, i)).unwrap_or(&0)))
            .unwrap_or(0)
    }
}

/// What the engine needs from a solver.
pub trait Solver {
    /// Whether all `constraints` (1-bit expressions) can hold at once; with a model when they can.
    fn check(&mut self, constraints: &[Expr], want_model: bool) -> (Sat, Option<Model>);
}

/// Z3 (the system's libz3 4.8.12 through the `z3` crate).
///
/// One incremental solver (logic QF_ABV) answers every query between a push and a pop:
/// creating a solver per query costs several milliseconds, more than most queries.
pub struct Z3 {
    // Declared before `ctx`: dropped first. It borrows `ctx`, which lives on the heap and
    // is never moved or dropped while the solver exists.
    solver: std::mem::ManuallyDrop<z3::Solver<'static>>,
    ctx: Box<z3::Context>,
    /// Queries sent to Z3.
    pub queries: u64,
    timeout: Duration,
}

impl Drop for Z3 {
    fn drop(&mut self) {
        // SAFETY: the solver is dropped exactly once, before the context it borrows.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.solver) }
    }
}

impl Z3 {
    /// A Z3 solver giving up after `timeout` per query.
    pub fn new(timeout: Duration) -> Z3 {
        let cfg = z3::Config::new();
        let ctx = Box::new(z3::Context::new(&cfg));
        // SAFETY: the context is boxed (stable address) and outlives the solver (see Drop).
        let ctx_ref: &'static z3::Context = unsafe { &*(ctx.as_ref() as *const z3::Context) };
        let solver = z3::Solver::new_for_logic(ctx_ref, "QF_ABV").unwrap_or_else(|| z3::Solver::new(ctx_ref));
        let mut params = z3::Params::new(ctx_ref);
        params.set_u32("timeout", timeout.as_millis().clamp(1, u32::MAX as u128) as u32);
        solver.set_params(&params);
        Z3 { solver: std::mem::ManuallyDrop::new(solver), ctx, queries: 0, timeout }
    }
}

struct Tr<'c> {
    ctx: &'c z3::Context,
    bv: HashMap<usize, z3::ast::BV<'c>>,
    arrays: HashMap<usize, z3::ast::Array<'c>>,
    vars: HashMap<VarId, z3::ast::BV<'c>>,
    base_arrays: HashMap<VarId, z3::ast::Array<'c>>,
    keep: Vec<Expr>,
}

impl<'c> Tr<'c> {
    fn konst(&self, w: u32, v: u128) -> z3::ast::BV<'c> {
        if w <= 64 {
            z3::ast::BV::from_u64(self.ctx, v as u64, w)
        } else {
            let hi = z3::ast::BV::from_u64(self.ctx, (v >> 64) as u64, w - 64);
            hi.concat(&z3::ast::BV::from_u64(self.ctx, v as u64, 64))
        }
    }

    fn boolean(&mut self, e: &Expr) -> z3::ast::Bool<'c> {
        use z3::ast::Ast;
        match e.node() {
            Node::Cmp(op, a, b) => {
                let (x, y) = (self.bv(a), self.bv(b));
                match op {
                    CmpOp::Eq => x._eq(&y),
                    CmpOp::Ult => x.bvult(&y),
                    CmpOp::Ule => x.bvule(&y),
                    CmpOp::Slt => x.bvslt(&y),
                    CmpOp::Sle => x.bvsle(&y),
                }
            }
            Node::Not(x) if e.width() == 1 => self.boolean(x).not(),
            Node::Bin(BinOp::And, a, b) if e.width() == 1 => {
                z3::ast::Bool::and(self.ctx, &[&self.boolean(a), &self.boolean(b)])
            }
            Node::Bin(BinOp::Or, a, b) if e.width() == 1 => {
                z3::ast::Bool::or(self.ctx, &[&self.boolean(a), &self.boolean(b)])
            }
            Node::Const(v) => z3::ast::Bool::from_bool(self.ctx, *v == 1),
            _ => self.bv(e)._eq(&self.konst(1, 1)),
        }
    }

    fn array(&mut self, a: &crate::expr::Arr) -> z3::ast::Array<'c> {
        let key = std::rc::Rc::as_ptr(&a.0) as usize;
        if let Some(x) = self.arrays.get(&key) {
            return x.clone();
        }
        let r = match &*a.0 {
            ArrNode::Base(id) => self
                .base_arrays
                .entry(*id)
                .or_insert_with(|| {
                    z3::ast::Array::new_const(
                        self.ctx,
                        format!("a{id}"),
                        &z3::Sort::bitvector(self.ctx, 64),
                        &z3::Sort::bitvector(self.ctx, 8),
                    )
                })
                .clone(),
            ArrNode::Store(inner, i, v) => {
                let base = self.array(inner);
                let (i, v) = (self.bv(i), self.bv(v));
                base.store(&i, &v)
            }
        };
        self.arrays.insert(key, r.clone());
        r
    }

    fn bv(&mut self, e: &Expr) -> z3::ast::BV<'c> {
        if let Some(x) = self.bv.get(&e.id()) {
            return x.clone();
        }
        let w = e.width();
        let r = match e.node() {
            Node::Const(v) => self.konst(w, *v),
            Node::Var(id) => {
                let ctx = self.ctx;
                self.vars.entry(*id).or_insert_with(|| z3::ast::BV::new_const(ctx, format!("v{id}"), w)).clone()
            }
            Node::Select(a, i) => {
                let arr = self.array(a);
                let i = self.bv(i);
                arr.select(&i).as_bv().expect("byte array")
            }
            Node::Not(x) => self.bv(x).bvnot(),
            Node::Bin(op, a, b) => {
                let (x, y) = (self.bv(a), self.bv(b));
                match op {
                    BinOp::Add => x.bvadd(&y),
                    BinOp::Sub => x.bvsub(&y),
                    BinOp::Mul => x.bvmul(&y),
                    BinOp::UDiv => x.bvudiv(&y),
                    BinOp::SDiv => x.bvsdiv(&y),
                    BinOp::URem => x.bvurem(&y),
                    BinOp::SRem => x.bvsrem(&y),
                    BinOp::And => x.bvand(&y),
                    BinOp::Or => x.bvor(&y),
                    BinOp::Xor => x.bvxor(&y),
                    BinOp::Shl => x.bvshl(&y),
                    BinOp::LShr => x.bvlshr(&y),
                    BinOp::AShr => x.bvashr(&y),
                }
            }
            Node::Cmp(..) => {
                let b = self.boolean(e);
                b.ite(&self.konst(1, 1), &self.konst(1, 0))
            }
            Node::Ite(c, t, f) => {
                let c = self.boolean(c);
                let (t, f) = (self.bv(t), self.bv(f));
                c.ite(&t, &f)
            }
            Node::ZExt(x) => self.bv(x).zero_ext(w - x.width()),
            Node::SExt(x) => self.bv(x).sign_ext(w - x.width()),
            Node::Extract(lo, x) => self.bv(x).extract(lo + w - 1, *lo),
            Node::Concat(h, l) => self.bv(h).concat(&self.bv(l)),
        };
        self.keep.push(e.clone());
        self.bv.insert(e.id(), r.clone());
        r
    }
}

impl Solver for Z3 {
    fn check(&mut self, constraints: &[Expr], want_model: bool) -> (Sat, Option<Model>) {
        self.queries += 1;
        let solver: &z3::Solver<'_> = &self.solver;
        // libz3 4.8.12's timer threads can cancel a query long before its own timeout (a
        // timer of an earlier query firing late): an "unknown" that came too early for the
        // timeout is asked again (at most twice) rather than turned into a hole in the
        // contract.
        let mut tries = 0;
        loop {
            let started = std::time::Instant::now();
            solver.push();
            let result = self.check_in_scope(solver, constraints, want_model);
            let early = result.0 == Sat::Unknown
                && started.elapsed() < self.timeout / 2
                && solver.get_reason_unknown().is_some_and(|r| r.contains("cancel") || r.contains("timeout"));
            solver.pop(1);
            tries += 1;
            if !early || tries == 3 {
                return result;
            }
        }
    }
}

impl Z3 {
    fn check_in_scope(&self, solver: &z3::Solver<'_>, constraints: &[Expr], want_model: bool) -> (Sat, Option<Model>) {
        let mut tr = Tr {
            ctx: &self.ctx,
            bv: HashMap::new(),
            arrays: HashMap::new(),
            vars: HashMap::new(),
            base_arrays: HashMap::new(),
            keep: Vec::new(),
        };
        // Every index the constraints read an array at, for the model.
        let mut reads: Vec<(VarId, Expr)> = Vec::new();
        for c in constraints {
            let b = tr.boolean(c);
            solver.assert(&b);
            if want_model {
                collect_selects(c, &mut reads);
            }
        }
        match solver.check() {
            z3::SatResult::Unsat => (Sat::Unsat, None),
            z3::SatResult::Unknown => (Sat::Unknown, None),
            z3::SatResult::Sat => {
                if !want_model {
                    return (Sat::Sat, None);
                }
                let Some(m) = solver.get_model() else { return (Sat::Sat, None) };
                let mut model = Model::default();
                for (id, v) in &tr.vars {
                    if let Some(x) = m.eval(v, true) {
                        model.vars.insert(*id, bv_value(&x));
                    }
                }
                for (id, base) in tr.base_arrays.clone() {
                    for (aid, idx) in &reads {
                        if *aid != id {
                            continue;
                        }
                        let i = tr.bv(idx);
                        if let (Some(iv), Some(bv)) =
                            (m.eval(&i, true), m.eval(&base.select(&i).as_bv().expect("byte"), true))
                        {
                            model.bytes.insert((id, bv_value(&iv) as u64), bv_value(&bv) as u8);
                        }
                    }
                }
                (Sat::Sat, Some(model))
            }
        }
    }
}

fn bv_value(x: &z3::ast::BV<'_>) -> u128 {
    if let Some(v) = x.as_u64() {
        return v as u128;
    }
    let w = x.get_size();
    if w > 64 {
        let hi = x.extract(w - 1, 64).simplify().as_u64().unwrap_or(0) as u128;
        let lo = x.extract(63, 0).simplify().as_u64().unwrap_or(0) as u128;
        return (hi << 64) | lo;
    }
    0
}

/// Every (array, index) a constraint reads.
pub fn collect_selects(e: &Expr, out: &mut Vec<(VarId, Expr)>) {
    let mut stack = vec![e.clone()];
    let mut seen = std::collections::HashSet::new();
    while let Some(e) = stack.pop() {
        if !seen.insert(e.id()) {
            continue;
        }
        match e.node() {
            Node::Const(_) | Node::Var(_) => {}
            Node::Select(a, i) => {
                let mut a = a.clone();
                loop {
                    let next = match &*a.0 {
                        ArrNode::Base(id) => {
                            out.push((*id, i.clone()));
                            break;
                        }
                        ArrNode::Store(inner, si, sv) => {
                            stack.push(si.clone());
                            stack.push(sv.clone());
                            inner.clone()
                        }
                    };
                    a = next;
                }
                stack.push(i.clone());
            }
            Node::Not(x) | Node::ZExt(x) | Node::SExt(x) | Node::Extract(_, x) => stack.push(x.clone()),
            Node::Bin(_, a, b) | Node::Cmp(_, a, b) | Node::Concat(a, b) => {
                stack.push(a.clone());
                stack.push(b.clone());
            }
            Node::Ite(c, t, f) => {
                stack.push(c.clone());
                stack.push(t.clone());
                stack.push(f.clone());
            }
        }
    }
}

/// Independence, answer cache and counterexample cache in front of any [`Solver`].
pub struct CachedSolver<S: Solver> {
    inner: S,
    answers: HashMap<Vec<(u64, Expr)>, Sat>,
    models: Vec<Model>,
    seed: u64,
    /// Queries answered without the solver.
    pub hits: u64,
    /// Queries sent to the solver.
    pub misses: u64,
    /// Queries the solver gave up on.
    pub unknowns: u64,
}

impl<S: Solver> CachedSolver<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> CachedSolver<S> {
        CachedSolver { inner, answers: HashMap::new(), models: Vec::new(), seed: 0x2545_f491_4f6c_dd1d, hits: 0, misses: 0, unknowns: 0 }
    }

    /// Whether `path` and `extra` can hold together. `path` is assumed satisfiable on its own.
    pub fn may_hold(&mut self, path: &[Expr], extra: &Expr) -> Sat {
        self.may_hold_model(path, extra).0
    }

    /// As [`CachedSolver::may_hold`], with a model of the constraints involved when one is at
    /// hand (it assigns the variables of `extra` and of the constraints sharing variables
    /// with it; nothing else).
    pub fn may_hold_model(&mut self, path: &[Expr], extra: &Expr) -> (Sat, Option<Model>) {
        if let Some(v) = extra.as_const() {
            return (if v == 1 { Sat::Sat } else { Sat::Unsat }, None);
        }
        let relevant = independent(path, extra);
        // A known model of related constraints may already satisfy these.
        for m in self.models.iter().rev().take(16) {
            if m.eval(extra) == 1 && relevant.iter().all(|c| m.eval(c) == 1) {
                self.hits += 1;
                return (Sat::Sat, Some(m.clone()));
            }
        }
        // Keyed by structure: the same query built again on another path hits.
        let mut key: Vec<(u64, Expr)> = relevant.iter().chain([extra]).map(|e| (structural_hash(e), e.clone())).collect();
        key.sort_by_key(|k| k.0);
        key.dedup();
        if let Some(a) = self.answers.get(&key) {
            self.hits += 1;
            return (*a, None);
        }
        if crate::interval::refutes(&relevant, extra) {
            self.hits += 1;
            self.answers.insert(key, Sat::Unsat);
            return (Sat::Unsat, None);
        }
        // Random assignments first: a branch on module state usually goes both ways, and
        // finding a witness by evaluation costs microseconds where a solver query on 64-bit
        // multiplications and divisions costs tens of milliseconds.
        if let Some(m) = random_model(&relevant, extra, &mut self.seed) {
            self.hits += 1;
            self.remember(m.clone());
            return (Sat::Sat, Some(m));
        }
        self.misses += 1;
        let mut all = relevant;
        all.push(extra.clone());
        let (sat, model) = self.inner.check(&all, true);
        if sat == Sat::Unknown {
            self.unknowns += 1;
        }
        if let Some(m) = &model {
            self.remember(m.clone());
        }
        self.answers.insert(key, sat);
        (sat, model)
    }

    fn remember(&mut self, m: Model) {
        self.models.push(m);
        if self.models.len() > 64 {
            self.models.remove(0);
        }
    }

    /// A model of all of `constraints`.
    pub fn model(&mut self, constraints: &[Expr]) -> Option<Model> {
        self.misses += 1;
        match self.inner.check(constraints, true) {
            (Sat::Sat, m) => m,
            _ => None,
        }
    }
}

/// The constraints of `path` that share variables with `query`, transitively.
pub fn independent(path: &[Expr], query: &Expr) -> Vec<Expr> {
    let mut want: std::collections::HashSet<VarId> = {
        let mut v = Vec::new();
        query.vars(&mut v);
        v.into_iter().collect()
    };
    let sets: Vec<Vec<VarId>> = path
        .iter()
        .map(|c| {
            let mut v = Vec::new();
            c.vars(&mut v);
            v
        })
        .collect();
    let mut taken = vec![false; path.len()];
    loop {
        let mut grew = false;
        for (i, s) in sets.iter().enumerate() {
            if !taken[i] && s.iter().any(|v| want.contains(v)) {
                taken[i] = true;
                want.extend(s.iter().copied());
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    path.iter().zip(taken).filter(|(_, t)| *t).map(|(c, _)| c.clone()).collect()
}

/// Tries a few assignments (edge values and random ones) of the variables of `constraints`
/// and `extra`; a model if one satisfies them all.
fn random_model(constraints: &[Expr], extra: &Expr, seed: &mut u64) -> Option<Model> {
    let mut ids = Vec::new();
    for c in constraints.iter().chain([extra]) {
        c.vars(&mut ids);
    }
    ids.sort_unstable();
    ids.dedup();
    // Constants of the constraints (and their neighbours) are the interesting values.
    let mut consts: Vec<u128> = Vec::new();
    for c in constraints.iter().chain([extra]) {
        collect_consts(c, &mut consts);
    }
    consts.sort_unstable();
    consts.dedup();
    // Conjuncts `x == e` (x a variable): after the draw, x takes e's value, so that paths
    // equating two unknowns (the same index read twice) are satisfied by evaluation too.
    let mut equations: Vec<(VarId, Expr)> = Vec::new();
    let mut conj: Vec<Expr> = constraints.iter().chain([extra]).cloned().collect();
    while let Some(c) = conj.pop() {
        match c.node() {
            Node::Bin(BinOp::And, a, b) if c.width() == 1 => {
                conj.push(a.clone());
                conj.push(b.clone());
            }
            Node::Cmp(CmpOp::Eq, a, b) => {
                for (x, e) in [(a, b), (b, a)] {
                    if let Node::Var(id) = x.node() {
                        equations.push((*id, e.clone()));
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    let all: Vec<Expr> = constraints.iter().chain([extra]).cloned().collect();
    let hints = crate::interval::hints(&all);
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    for round in 0..64u32 {
        let mut m = Model::default();
        for id in &ids {
            let r = next();
            let v: u128 = match (round + *id) % 8 {
                0 => 0,
                1 => 1,
                2 => (r % 64) as u128,
                3 => (r % 2048) as u128,
                4 => u128::MAX,
                5 | 6 if !consts.is_empty() => {
                    let c = consts[(r % consts.len() as u64) as usize];
                    match (r >> 32) % 3 {
                        0 => c,
                        1 => c.wrapping_add(1),
                        _ => c.wrapping_sub(1),
                    }
                }
                _ => r as u128 | ((next() as u128) << 64),
            };
            m.vars.insert(*id, v);
        }
        // Every other round, variables the constraints bound by constants are drawn inside
        // one of those ranges (near its low end, or anywhere).
        if round % 2 == 1 {
            for id in &ids {
                let mine: Vec<&(VarId, u128, u128)> = hints.iter().filter(|h| h.0 == *id).collect();
                if mine.is_empty() || next() % 4 == 0 {
                    continue;
                }
                let r = next();
                let (_, lo, hi) = *mine[(r % mine.len() as u64) as usize];
                let span = hi - lo;
                let off = if (r >> 32) % 2 == 0 { (next() % 2048) as u128 } else { next() as u128 };
                m.vars.insert(*id, lo + if span == u128::MAX { off } else { off % (span + 1) });
            }
        }
        let base = next();
        if round % 2 == 1 {
            for _ in 0..2 {
                for (x, e) in &equations {
                    let val = e.eval(&|v: VarId| m.vars.get(&v).copied(), &|_, _| None);
                    if let Some(val) = val {
                        m.vars.insert(*x, val);
                    }
                }
            }
        }
        let byte = |a: VarId, i: u64| -> Option<u8> {
            let mut x = base ^ (a as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x ^= x >> 31;
            Some(x as u8)
        };
        let var = |v: VarId| m.vars.get(&v).copied();
        let holds = |e: &Expr| e.eval(&var, &byte) == Some(1);
        if holds(extra) && constraints.iter().all(holds) {
            // Record the bytes the constraints read so the model replays.
            let mut reads = Vec::new();
            for c in constraints.iter().chain([extra]) {
                collect_selects(c, &mut reads);
            }
            let mut bytes = std::collections::HashMap::new();
            for (a, i) in reads {
                if let Some(iv) = i.eval(&var, &byte) {
                    bytes.insert((a, iv as u64), byte(a, iv as u64).unwrap_or(0));
                }
            }
            let mut m = m.clone();
            m.bytes = bytes;
            return Some(m);
        }
    }
    None
}

fn collect_consts(e: &Expr, out: &mut Vec<u128>) {
    let mut stack = vec![e.clone()];
    let mut seen = std::collections::HashSet::new();
    while let Some(e) = stack.pop() {
        if !seen.insert(e.id()) || out.len() > 256 {
            continue;
        }
        match e.node() {
            Node::Const(v) => out.push(*v),
            Node::Var(_) | Node::Select(..) => {}
            Node::Not(x) | Node::ZExt(x) | Node::SExt(x) | Node::Extract(_, x) => stack.push(x.clone()),
            Node::Bin(_, a, b) | Node::Cmp(_, a, b) | Node::Concat(a, b) => {
                stack.push(a.clone());
                stack.push(b.clone());
            }
            Node::Ite(c, t, f) => {
                stack.push(c.clone());
                stack.push(t.clone());
                stack.push(f.clone());
            }
        }
    }
}

/// A hash of an expression's structure.
fn structural_hash(e: &Expr) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    e.hash(&mut h);
    h.finish()
}
