//! The expression folder against Z3: random expressions over a few variables, folded as
//! built, must agree with Z3's evaluation of the same expression for random inputs.

use nfcc_symbex::expr::{BinOp, CmpOp, Expr};
use nfcc_symbex::solver::{Sat, Solver, Z3};
use std::time::Duration;

use crate::Rng;

const OPS: [BinOp; 13] = [
    BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::UDiv, BinOp::SDiv, BinOp::URem, BinOp::SRem,
    BinOp::And, BinOp::Or, BinOp::Xor, BinOp::Shl, BinOp::LShr, BinOp::AShr,
];

/// A random expression of width `w` over variables 0..3 (each `w` bits) and constants.
fn gen(r: &mut Rng, w: u32, depth: u32) -> Expr {
    if depth == 0 || r.below(4) == 0 {
        return match r.below(3) {
            0 => Expr::var(w, r.below(3) as u32),
            _ => {
                let special = [0u128, 1, u128::MAX, 1 << (w - 1), (w as u128) - 1];
                let v = if r.below(2) == 0 { special[r.below(5) as usize] } else { r.next() as u128 };
                Expr::constant(w, v)
            }
        };
    }
    match r.below(6) {
        0 | 1 | 2 => {
            let op = OPS[r.below(13) as usize];
            Expr::bin(op, &gen(r, w, depth - 1), &gen(r, w, depth - 1))
        }
        3 => {
            let ops = [CmpOp::Eq, CmpOp::Ult, CmpOp::Ule, CmpOp::Slt, CmpOp::Sle];
            let c = Expr::cmp(ops[r.below(5) as usize], &gen(r, w, depth - 1), &gen(r, w, depth - 1));
            Expr::ite(&c, &gen(r, w, depth - 1), &gen(r, w, depth - 1))
        }
        4 => {
            // Split and rejoin: extract/concat/extension folds.
            let x = gen(r, w, depth - 1);
            let cut = 1 + r.below(w as u64 - 1) as u32;
            let joined = Expr::concat(&x.extract(cut, w - cut), &x.extract(0, cut));
            if r.below(2) == 0 { joined } else { x.trunc(cut).zext(w) }
        }
        _ => gen(r, w, depth - 1).not(),
    }
}

#[test]
fn folding_agrees_with_z3_on_random_expressions() {
    let mut r = Rng(0x9e3779b97f4a7c15);
    let mut z3 = Z3::new(Duration::from_secs(5));
    let mut checked = 0;
    for round in 0..300 {
        let w = [8u32, 16, 32, 64][round % 4];
        let e = gen(&mut r, w, 4);
        let inputs: Vec<u128> = (0..3).map(|_| r.next() as u128 & nfcc_symbex::expr::mask(w)).collect();
        let value = e
            .eval(&|v| inputs.get(v as usize).copied(), &|_, _| Some(0))
            .expect("closed expression");
        // Z3 must find the folded value to be the only one possible for those inputs.
        let mut cs: Vec<Expr> = (0..3).map(|v| Expr::cmp(CmpOp::Eq, &Expr::var(w, v), &Expr::constant(w, inputs[v as usize]))).collect();
        cs.push(Expr::ne(&e, &Expr::constant(w, value)));
        let (sat, _) = z3.check(&cs, false);
        assert_eq!(sat, Sat::Unsat, "round {round}: {e:?} with inputs {inputs:?}: folded evaluation {value:#x} disagrees with Z3");
        checked += 1;
    }
    assert_eq!(checked, 300);
}

#[test]
fn constant_folding_matches_smt_division_by_zero() {
    for w in [8u32, 32, 64] {
        let x = Expr::constant(w, 5);
        let z = Expr::constant(w, 0);
        assert!(Expr::bin(BinOp::UDiv, &x, &z).is(u128::MAX));
        assert!(Expr::bin(BinOp::URem, &x, &z).is(5));
        assert!(Expr::bin(BinOp::SDiv, &x, &z).is(u128::MAX));
        let neg = Expr::constant(w, (-5i128) as u128);
        assert!(Expr::bin(BinOp::SDiv, &neg, &z).is(1));
        assert!(Expr::bin(BinOp::SRem, &neg, &z).is((-5i128) as u128));
    }
}

#[test]
fn loaded_bytes_join_back_into_the_stored_value() {
    let v = Expr::var(32, 0);
    let bytes: Vec<Expr> = (0..4).map(|k| v.extract(k * 8, 8)).collect();
    let joined = Expr::concat(&bytes[3], &Expr::concat(&bytes[2], &Expr::concat(&bytes[1], &bytes[0])));
    assert_eq!(joined, v);
}
