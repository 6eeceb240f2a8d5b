//! The interval refutation against Z3: whenever intervals call a query impossible on a
//! path, Z3 must agree (random paths of the shapes the engine builds: bounds on pointers
//! and sums, null-or-in-range disjunctions, isolation checks).

use nfcc_symbex::expr::{BinOp, CmpOp, Expr};
use nfcc_symbex::interval::refutes;
use nfcc_symbex::solver::{Sat, Solver, Z3};
use std::time::Duration;

use crate::Rng;

const BOUNDS: [u128; 8] = [0, 1, 0x40, 0x1000, 0x1000_0000, 0x10_0000_0000, 0x10_ff00_0000, 0xffff_fff0_0000_0000];

fn konst(r: &mut Rng) -> Expr {
    let base = BOUNDS[r.below(8) as usize];
    let v = match r.below(3) {
        0 => base,
        1 => base.wrapping_add(r.below(64) as u128),
        _ => base.wrapping_sub(r.below(64) as u128),
    };
    Expr::constant(64, v)
}

/// A 64-bit term over variables 0..3: a variable, plus a constant, plus a scaled 32-bit index.
fn term(r: &mut Rng) -> Expr {
    let mut t = Expr::var(64, r.below(3) as u32);
    if r.below(2) == 0 {
        t = Expr::bin(BinOp::Add, &t, &konst(r));
    }
    if r.below(3) == 0 {
        let idx = Expr::bin(BinOp::Mul, &Expr::var(32, 3 + r.below(2) as u32).zext(64), &Expr::constant(64, [1, 4, 24][r.below(3) as usize]));
        t = Expr::bin(BinOp::Add, &t, &idx);
    }
    if r.below(4) == 0 {
        t = Expr::bin(BinOp::Sub, &konst(r), &t);
    }
    t
}

fn atom(r: &mut Rng) -> Expr {
    let ops = [CmpOp::Ult, CmpOp::Ule, CmpOp::Eq];
    let op = ops[r.below(3) as usize];
    let (a, b) = if r.below(2) == 0 { (term(r), konst(r)) } else { (konst(r), term(r)) };
    let c = Expr::cmp(op, &a, &b);
    if r.below(3) == 0 {
        c.not()
    } else {
        c
    }
}

fn constraint(r: &mut Rng) -> Expr {
    match r.below(4) {
        0 => Expr::and(&atom(r), &atom(r)),
        1 => Expr::bin(BinOp::Or, &atom(r), &Expr::and(&atom(r), &atom(r))),
        _ => atom(r),
    }
}

#[test]
fn interval_refutations_are_confirmed_by_z3() {
    let mut z3 = Z3::new(Duration::from_secs(5));
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut refuted, mut tried) = (0, 0);
    for _ in 0..4000 {
        let path: Vec<Expr> = (0..1 + r.below(4)).map(|_| constraint(&mut r)).collect();
        // Only satisfiable paths, as the engine's are.
        if z3.check(&path, false).0 != Sat::Sat {
            continue;
        }
        let q = atom(&mut r);
        tried += 1;
        if refutes(&path, &q) {
            refuted += 1;
            let mut all = path.clone();
            all.push(q.clone());
            assert_eq!(z3.check(&all, false).0, Sat::Unsat, "intervals refuted a satisfiable query:\n{path:?}\n{q:?}");
        }
    }
    // The refutation must do some work to be worth a test.
    assert!(tried > 1000 && refuted * 40 > tried, "{refuted} of {tried} refuted");
}

#[test]
fn a_heap_pointer_is_inside_mem() {
    // p is null or in the heap; p + 16 is in the heap (so p is not null): p is in mem.
    let (heap_lo, heap_hi, mem_lo, mem_len) = (0x10_0020_0000u128, 0x10_ff00_0000u128, 0x10_0000_0000u128, 0x1_0000_0000u128);
    let p = Expr::var(64, 0);
    let c = |v: u128| Expr::constant(64, v);
    let in_heap = |e: &Expr| Expr::and(&Expr::cmp(CmpOp::Ule, &c(heap_lo), e), &Expr::cmp(CmpOp::Ult, e, &c(heap_hi)));
    let null_or_heap = Expr::bin(BinOp::Or, &Expr::cmp(CmpOp::Eq, &p, &c(0)), &in_heap(&p));
    let p16 = Expr::bin(BinOp::Add, &p, &c(16));
    let outside_mem = Expr::cmp(CmpOp::Ult, &Expr::bin(BinOp::Sub, &p16, &c(mem_lo)), &c(mem_len)).not();
    assert!(refutes(&[null_or_heap.clone(), in_heap(&p16)], &outside_mem));
    // Without knowing p + 16 is in the heap, p may be null: not refuted.
    assert!(!refutes(&[null_or_heap], &outside_mem));
}
