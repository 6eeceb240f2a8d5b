//! The Z3 side of the verifier: SSA values as bit-vector terms, path facts as formulas,
//! and the queries that decide whether an access is covered.
//!
//! Terms. Integers and pointers become bit-vectors of their width (pointers: 64), `i1`
//! becomes a Bool. Arithmetic, casts, compares, selects and GEPs are encoded exactly
//! (wrapping, as the machine computes them). Anything else (loads, calls, phis,
//! arguments, shifts by unknown amounts, divisions by unknown values) is a variable.
//! Loads of the bounds block at offsets other than `usp` are *named* variables: every
//! load of `mem_lo`, `mem_len`, the descriptor or `usp_top` in a function denotes the
//! same runtime constant, because module code cannot write them and the host does not
//! while the module runs.
//!
//! Facts. At the entry of a block B hold: the edge conditions of the single-predecessor
//! blocks on B's dominator chain, and the `nfcc__check` calls in the blocks strictly
//! dominating B (depth 0). With depth d > 0, each block X with several predecessors on
//! that chain also contributes "we came from one of X's predecessors P": the facts at the
//! end of P (depth d-1), the P->X edge condition and `phi = incoming(P)` for X's phis.
//! Inside such a disjunct every variable whose value may have been redefined since (one
//! defined in a block X dominates, e.g. a loop body for a back edge) is renamed to a copy
//! meaning "its value before this entry to X"; this is what makes one step around a loop
//! sound. (A block X dominates runs again only through X, so everything else keeps its value.)
//!
//! Checks. A returning `nfcc__check(a, s, site)` proves `[a, a+s)` allowed. As a fact it
//! reads "if the access being proven lies in `[a, a+s)` (and the check's kind allows a
//! write if the access is one), the access is ok", over the variables `acc.p`, `acc.n`,
//! `acc.w`, `acc.ok`, which each query binds to its access. This keeps fact formulas
//! independent of the access, so they are built once per block and depth.

use super::cfg::Cfg;
use crate::llvm::{self, Value};
use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::target::{LLVMOffsetOfElement, LLVMTargetDataRef};
use inkwell::llvm_sys::{LLVMIntPredicate, LLVMOpcode, LLVMTypeKind};
use nfcc_runtime::abi;
use std::collections::{HashMap, HashSet};
use z3::ast::{Ast, Bool, Dynamic, BV};
use z3::{Context, Params, SatResult, Solver};

/// Deepest path-sensitive reasoning tried (merges unrolled on the way back from a block).
const MAX_DEPTH: u32 = 3;
/// How many merge blocks on a dominator chain contribute facts, nearest first.
const MAX_CHAIN_MERGES: usize = 6;
/// Per-query solver time limit; a timeout counts as "not proven".
const TIMEOUT_MS: u32 = 2000;
/// Bytes of the bounds block module code may read: mem_lo .. the descriptor's end.
pub(super) const BOUNDS_READABLE: u64 = abi::BOUNDS_PKT + 24;

/// A value's term.
#[derive(Clone)]
pub(super) enum T<'c> {
    Bv(BV<'c>),
    B(Bool<'c>),
}

/// What may change a variable's value between two points of a run.
#[derive(Clone, Copy, PartialEq)]
enum Dep {
    /// Never (runtime constants, arguments, global addresses).
    Fixed,
    /// Running this block again (the block defining it, or for a renamed copy the block
    /// whose entry it precedes).
    Block(usize),
    /// Anything (undef: a new value at every use).
    Always,
}

struct Var<'c> {
    ast: Dynamic<'c>,
    name: String,
    dep: Dep,
    /// What the runtime guarantees about the value (e.g. `usp` lies in `mem`).
    axiom: Option<Bool<'c>>,
}

/// How a goal was proven.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Proof {
    /// By branch conditions alone.
    Guarded,
    /// A returning `nfcc__check` was needed.
    SlowChecked,
}

/// What a query must show.
pub(super) enum Goal<'c> {
    /// `[p, p+n)` lies in one of `regions` (a formula over p and n), or in a checked range.
    Access { p: BV<'c>, n: BV<'c>, write: bool, regions: Bool<'c> },
    /// A plain formula.
    Plain(Bool<'c>),
}

/// The encoder and prover for one function.
pub(super) struct Enc<'c> {
    ctx: &'c Context,
    solver: Solver<'c>,
    td: LLVMTargetDataRef,
    bounds: Option<Value>,
    is_fn: Option<Value>,
    functions: Vec<Value>,
    pub cfg: Cfg,
    terms: HashMap<Value, Option<T<'c>>>,
    visiting: HashSet<Value>,
    /// Phis encoded as their own variable (the ones merges add equations for).
    phi_vars: HashSet<Value>,
    vars: Vec<Var<'c>>,
    renamed: HashMap<(usize, usize), usize>,
    /// Axioms of variables created since the last query, asserted at the base level.
    pending: Vec<Bool<'c>>,
    chain: HashMap<usize, Bool<'c>>,
    entry: HashMap<(usize, u32), Bool<'c>>,
    merges: HashMap<(usize, u32), Bool<'c>>,
    checks: HashMap<usize, Bool<'c>>,
    results: HashMap<(Bool<'c>, Bool<'c>), Option<Proof>>,
    acc_p: BV<'c>,
    acc_n: BV<'c>,
    acc_w: Bool<'c>,
    ok: Bool<'c>,
    use_checks: Bool<'c>,
}

fn and<'c>(ctx: &'c Context, v: &[Bool<'c>]) -> Bool<'c> {
    Bool::and(ctx, &v.iter().collect::<Vec<_>>())
}

fn or<'c>(ctx: &'c Context, v: &[Bool<'c>]) -> Bool<'c> {
    Bool::or(ctx, &v.iter().collect::<Vec<_>>())
}

/// `[p, p+n)` within `[lo, lo+len)`, exactly (no wrap-around either way).
pub(super) fn inside<'c>(p: &BV<'c>, n: &BV<'c>, lo: &BV<'c>, len: &BV<'c>) -> Bool<'c> {
    let off = p.bvsub(lo);
    let ctx = p.get_ctx();
    Bool::and(ctx, &[&off.bvule(len), &n.bvule(&len.bvsub(&off))])
}

impl<'c> Enc<'c> {
    pub fn new(
        ctx: &'c Context,
        f: Value,
        td: LLVMTargetDataRef,
        bounds: Option<Value>,
        is_fn: Option<Value>,
        functions: Vec<Value>,
    ) -> Enc<'c> {
        let solver = Solver::new(ctx);
        let mut params = Params::new(ctx);
        params.set_u32("timeout", TIMEOUT_MS);
        solver.set_params(&params);
        let enc = Enc {
            ctx,
            solver,
            td,
            bounds,
            is_fn,
            functions,
            cfg: Cfg::new(f),
            terms: HashMap::new(),
            visiting: HashSet::new(),
            phi_vars: HashSet::new(),
            vars: Vec::new(),
            renamed: HashMap::new(),
            pending: Vec::new(),
            chain: HashMap::new(),
            entry: HashMap::new(),
            merges: HashMap::new(),
            checks: HashMap::new(),
            results: HashMap::new(),
            acc_p: BV::new_const(ctx, "acc.p", 64),
            acc_n: BV::new_const(ctx, "acc.n", 64),
            acc_w: Bool::new_const(ctx, "acc.w"),
            ok: Bool::new_const(ctx, "acc.ok"),
            use_checks: Bool::new_const(ctx, "acc.use_checks"),
        };
        // What the host guarantees (runtime-lib/src/memory.rs, module.rs): mem is a
        // user-space mapping of [2^17, 2^41] bytes with GUARD bytes of PROT_NONE on both
        // sides; usp_top lies in it; packets are shorter than 2^18 bytes.
        let (lo, len) = (enc.mem_lo(), enc.mem_len());
        let k = |v: u64| BV::from_u64(ctx, v, 64);
        let top = enc.bounds_var(abi::BOUNDS_USP + 8, 64);
        for a in [
            len.bvuge(&k(1 << 17)),
            len.bvule(&k(1 << 41)),
            lo.bvuge(&k(abi::GUARD as u64)),
            lo.bvule(&k(1 << 47)),
            enc.pkt_len().bvult(&BV::from_u64(ctx, 1 << 18, 32)),
            top.bvuge(&lo),
            top.bvule(&lo.bvadd(&len)),
        ] {
            enc.solver.assert(&a);
        }
        enc
    }

    // ---- runtime constants ---------------------------------------------------------

    /// The value every load of the bounds block at `off` (`w` bits) yields.
    fn bounds_var(&self, off: u64, w: u32) -> BV<'c> {
        BV::new_const(self.ctx, format!("bounds+{off}:{w}"), w)
    }
    pub fn mem_lo(&self) -> BV<'c> {
        self.bounds_var(abi::BOUNDS_MEM_LO, 64)
    }
    pub fn mem_len(&self) -> BV<'c> {
        self.bounds_var(abi::BOUNDS_MEM_LEN, 64)
    }
    fn pkt_data(&self) -> BV<'c> {
        self.bounds_var(abi::BOUNDS_PKT + abi::PACKET_DATA, 64)
    }
    fn pkt_len(&self) -> BV<'c> {
        self.bounds_var(abi::BOUNDS_PKT + abi::PACKET_LEN, 32)
    }

    /// The address of a global value (variable or function).
    fn global(&self, g: Value) -> BV<'c> {
        let name = llvm::name(g);
        let name = if name.is_empty() { format!("{g:p}") } else { name };
        BV::new_const(self.ctx, format!("@{name}"), 64)
    }

    // ---- terms ---------------------------------------------------------------------

    fn fresh(&mut self, w: u32, hint: &str, dep: Dep, axiom: impl FnOnce(&BV<'c>) -> Option<Bool<'c>>) -> T<'c> {
        let name = format!("{hint}#{}", self.vars.len());
        let (t, ast, ax) = if w == 1 {
            let b = Bool::new_const(self.ctx, name.as_str());
            (T::B(b.clone()), Dynamic::from_ast(&b), None)
        } else {
            let v = BV::new_const(self.ctx, name.as_str(), w);
            let ax = axiom(&v);
            (T::Bv(v.clone()), Dynamic::from_ast(&v), ax)
        };
        if let Some(a) = &ax {
            self.pending.push(a.clone());
        }
        self.vars.push(Var { ast, name, dep, axiom: ax });
        t
    }

    pub fn term(&mut self, v: Value) -> Option<T<'c>> {
        if let Some(t) = self.terms.get(&v) {
            return t.clone();
        }
        // SAFETY: type queries on a value of the function being verified.
        let w = unsafe {
            let ty = LLVMTypeOf(v);
            match llvm::type_kind(ty) {
                LLVMTypeKind::LLVMIntegerTypeKind => LLVMGetIntTypeWidth(ty),
                LLVMTypeKind::LLVMPointerTypeKind => 64,
                _ => {
                    self.terms.insert(v, None);
                    return None;
                }
            }
        };
        // SAFETY: query.
        if unsafe { !LLVMIsAUndefValue(v).is_null() } {
            // undef and poison: any value, possibly a different one at every use.
            return Some(self.fresh(w, "undef", Dep::Always, |_| None));
        }
        if !self.visiting.insert(v) {
            // A cycle without a phi exists only in unreachable code.
            return Some(self.fresh(w, "cycle", Dep::Always, |_| None));
        }
        // SAFETY: encoding reads the IR only.
        let t = unsafe { self.encode(v, w) };
        self.visiting.remove(&v);
        self.terms.insert(v, Some(t.clone()));
        Some(t)
    }

    /// The value as a bit-vector of `w` bits (zero-extended or truncated).
    pub fn bv(&mut self, v: Value, w: u32) -> Option<BV<'c>> {
        let t = self.term(v)?;
        Some(resize(self.ctx, t, w, false))
    }

    pub fn boolean(&mut self, v: Value) -> Option<Bool<'c>> {
        match self.term(v)? {
            T::B(b) => Some(b),
            T::Bv(x) if x.get_size() == 1 => Some(x._eq(&BV::from_u64(self.ctx, 1, 1))),
            T::Bv(_) => None,
        }
    }

    unsafe fn encode(&mut self, v: Value, w: u32) -> T<'c> {
        use LLVMOpcode::*;
        let ctx = self.ctx;
        if !LLVMIsAConstantInt(v).is_null() && w <= 64 {
            let x = LLVMConstIntGetZExtValue(v);
            return if w == 1 { T::B(Bool::from_bool(ctx, x & 1 == 1)) } else { T::Bv(BV::from_u64(ctx, x, w)) };
        }
        if !LLVMIsAConstantPointerNull(v).is_null() {
            return T::Bv(BV::from_u64(ctx, 0, 64));
        }
        if !LLVMIsAGlobalValue(v).is_null() {
            return T::Bv(self.global(v));
        }
        let is_inst = llvm::opcode(v).is_some();
        let dep = if is_inst { self.cfg.block_of(v).map_or(Dep::Always, Dep::Block) } else { Dep::Fixed };
        let hint = llvm::name(v);
        let hint = if hint.is_empty() { "v".to_string() } else { hint };
        let op = llvm::opcode(v).or_else(|| llvm::const_expr_opcode(v));
        let o = |i: u32| llvm::operand(v, i);
        let t = match op {
            Some(LLVMAdd | LLVMSub | LLVMMul | LLVMAnd | LLVMOr | LLVMXor) => {
                match (self.term(o(0)), self.term(o(1))) {
                    (Some(a), Some(b)) if w == 1 => {
                        let (a, b) = (to_bool(ctx, a), to_bool(ctx, b));
                        Some(T::B(match op {
                            Some(LLVMAnd | LLVMMul) => Bool::and(ctx, &[&a, &b]),
                            Some(LLVMOr) => Bool::or(ctx, &[&a, &b]),
                            _ => a.xor(&b), // xor, and add/sub modulo 2
                        }))
                    }
                    (Some(a), Some(b)) => {
                        let (a, b) = (resize(ctx, a, w, false), resize(ctx, b, w, false));
                        Some(T::Bv(match op {
                            Some(LLVMAdd) => a.bvadd(&b),
                            Some(LLVMSub) => a.bvsub(&b),
                            Some(LLVMMul) => a.bvmul(&b),
                            Some(LLVMAnd) => a.bvand(&b),
                            Some(LLVMOr) => a.bvor(&b),
                            _ => a.bvxor(&b),
                        }))
                    }
                    _ => None,
                }
            }
            // Shifts by an unknown or too large amount: the machine masks the amount,
            // Z3 does not, and LLVM calls it poison; leave them opaque.
            Some(LLVMShl | LLVMLShr | LLVMAShr) if w > 1 => match (self.bv(o(0), w), llvm::const_int(o(1))) {
                (Some(a), Some(k)) if (0..w as i64).contains(&k) => {
                    let k = BV::from_u64(ctx, k as u64, w);
                    Some(T::Bv(match op {
                        Some(LLVMShl) => a.bvshl(&k),
                        Some(LLVMLShr) => a.bvlshr(&k),
                        _ => a.bvashr(&k),
                    }))
                }
                _ => None,
            },
            // Division only by constants where Z3 and the machine agree.
            Some(LLVMUDiv | LLVMURem | LLVMSDiv | LLVMSRem) if w > 1 => {
                match (self.bv(o(0), w), self.bv(o(1), w), llvm::const_int(o(1))) {
                    (Some(a), Some(k), Some(c)) if c != 0 && c != -1 => {
                        Some(T::Bv(match op {
                            Some(LLVMUDiv) => a.bvudiv(&k),
                            Some(LLVMURem) => a.bvurem(&k),
                            Some(LLVMSDiv) => a.bvsdiv(&k),
                            _ => a.bvsrem(&k),
                        }))
                    }
                    _ => None,
                }
            }
            Some(LLVMZExt | LLVMSExt | LLVMTrunc | LLVMPtrToInt | LLVMIntToPtr | LLVMBitCast | LLVMAddrSpaceCast) => {
                self.term(o(0)).map(|t| resize(ctx, t, w, op == Some(LLVMSExt))).map(|x| {
                    if w == 1 { T::B(x._eq(&BV::from_u64(ctx, 1, 1))) } else { T::Bv(x) }
                })
            }
            Some(LLVMICmp) => self.icmp(v).map(T::B),
            Some(LLVMSelect) => match (self.term(o(0)), self.term(o(1)), self.term(o(2))) {
                (Some(T::B(c)), Some(a), Some(b)) => Some(if w == 1 {
                    T::B(c.ite(&to_bool(ctx, a), &to_bool(ctx, b)))
                } else {
                    T::Bv(c.ite(&resize(ctx, a, w, false), &resize(ctx, b, w, false)))
                }),
                _ => None,
            },
            Some(LLVMGetElementPtr) => self.gep(v).map(T::Bv),
            Some(LLVMPHI) => {
                let n = LLVMCountIncoming(v);
                let first = LLVMGetIncomingValue(v, 0);
                if n > 0 && (1..n).all(|i| LLVMGetIncomingValue(v, i) == first) {
                    self.term(first)
                } else {
                    self.phi_vars.insert(v);
                    None
                }
            }
            // freeze(x) is x unless x is poison; our encodings of poison-free arithmetic
            // are what the machine computes, so this is x.
            Some(LLVMFreeze) => self.term(o(0)),
            Some(LLVMLoad) => return self.load(v, w, dep, &hint),
            Some(LLVMCall) if self.is_fn.is_some() && llvm::called_value(v) == self.is_fn.unwrap() && w == 1 => {
                // Verified separately: nfcc.is_fn(x) implies x is a function of the module.
                let x = self.bv(o(0), 64);
                let member = x.map(|x| self.member(&x));
                let b = Bool::new_const(ctx, format!("is_fn#{}", self.vars.len()));
                if let Some(m) = member {
                    self.pending.push(b.implies(&m));
                }
                self.vars.push(Var { ast: Dynamic::from_ast(&b), name: format!("is_fn#{}", self.vars.len()), dep, axiom: None });
                Some(T::B(b))
            }
            _ => None,
        };
        match t {
            Some(t) => t,
            None if !is_inst && op.is_none() => self.fresh(w, &hint, Dep::Fixed, |_| None), // arguments
            None => self.fresh(w, &hint, dep, |_| None),
        }
    }

    unsafe fn load(&mut self, v: Value, w: u32, dep: Dep, hint: &str) -> T<'c> {
        let (root, off) = self.split(llvm::operand(v, 0));
        if self.bounds == Some(root) {
            if let Some(c) = off.filter(|&c| c >= 0).map(|c| c as u64) {
                let end = c + (w as u64).div_ceil(8);
                let usp = abi::BOUNDS_USP;
                if end <= usp || (c >= usp + 8 && end <= BOUNDS_READABLE) {
                    let x = self.bounds_var(c, w);
                    return if w == 1 { T::B(x._eq(&BV::from_u64(self.ctx, 1, 1))) } else { T::Bv(x) };
                }
                if c == usp && w == 64 {
                    // Each load of usp may differ, but it always lies in mem.
                    let (ctx, lo, len) = (self.ctx, self.mem_lo(), self.mem_len());
                    return self.fresh(64, "usp", dep, |u| {
                        Some(Bool::and(ctx, &[&u.bvuge(&lo), &u.bvule(&lo.bvadd(&len))]))
                    });
                }
            }
        }
        self.fresh(w, hint, dep, |_| None)
    }

    unsafe fn icmp(&mut self, v: Value) -> Option<Bool<'c>> {
        use LLVMIntPredicate::*;
        let (a, b) = (self.term(llvm::operand(v, 0))?, self.term(llvm::operand(v, 1))?);
        let w = match &a {
            T::Bv(x) => x.get_size(),
            T::B(_) => 1,
        };
        let (a, b) = (resize(self.ctx, a, w, false), resize(self.ctx, b, w, false));
        Some(match LLVMGetICmpPredicate(v) {
            LLVMIntEQ => a._eq(&b),
            LLVMIntNE => a._eq(&b).not(),
            LLVMIntUGT => a.bvugt(&b),
            LLVMIntUGE => a.bvuge(&b),
            LLVMIntULT => a.bvult(&b),
            LLVMIntULE => a.bvule(&b),
            LLVMIntSGT => a.bvsgt(&b),
            LLVMIntSGE => a.bvsge(&b),
            LLVMIntSLT => a.bvslt(&b),
            LLVMIntSLE => a.bvsle(&b),
        })
    }

    /// Base plus the sum of scaled indices (indices sign-extended, as GEP does).
    unsafe fn gep(&mut self, v: Value) -> Option<BV<'c>> {
        let mut acc = self.bv(llvm::operand(v, 0), 64)?;
        let mut ty = LLVMGetGEPSourceElementType(v);
        for k in 1..llvm::num_operands(v) {
            let idx = llvm::operand(v, k);
            let scaled = |enc: &mut Self, size: u64| -> Option<BV<'c>> {
                let i = resize(enc.ctx, enc.term(idx)?, 64, true);
                Some(i.bvmul(&BV::from_u64(enc.ctx, size, 64)))
            };
            let step = if k == 1 {
                scaled(self, llvm::alloc_size(self.td, ty))?
            } else {
                match llvm::type_kind(ty) {
                    LLVMTypeKind::LLVMStructTypeKind => {
                        let i = llvm::const_int(idx)? as u32;
                        let off = LLVMOffsetOfElement(self.td, ty, i);
                        ty = LLVMStructGetTypeAtIndex(ty, i);
                        BV::from_u64(self.ctx, off, 64)
                    }
                    LLVMTypeKind::LLVMArrayTypeKind | LLVMTypeKind::LLVMVectorTypeKind => {
                        ty = LLVMGetElementType(ty);
                        scaled(self, llvm::alloc_size(self.td, ty))?
                    }
                    _ => return None,
                }
            };
            acc = acc.bvadd(&step);
        }
        Some(acc)
    }

    /// `p` as a root value and its constant byte offset (`None` if some index is not a
    /// constant), through GEPs and pointer casts, instructions or constant expressions.
    pub fn split(&self, mut p: Value) -> (Value, Option<i64>) {
        let mut off = Some(0i64);
        loop {
            match llvm::opcode(p).or_else(|| llvm::const_expr_opcode(p)) {
                Some(LLVMOpcode::LLVMGetElementPtr) => {
                    // SAFETY: p is a GEP.
                    off = off.zip(unsafe { self.gep_const(p) }).and_then(|(a, b)| a.checked_add(b));
                    p = llvm::operand(p, 0);
                }
                Some(LLVMOpcode::LLVMBitCast | LLVMOpcode::LLVMAddrSpaceCast) => p = llvm::operand(p, 0),
                _ => return (p, off),
            }
        }
    }

    unsafe fn gep_const(&self, gep: Value) -> Option<i64> {
        let mut ty = LLVMGetGEPSourceElementType(gep);
        let mut off = 0i64;
        for k in 1..llvm::num_operands(gep) {
            let idx = llvm::const_int(llvm::operand(gep, k))?;
            let step = if k == 1 {
                idx.checked_mul(llvm::alloc_size(self.td, ty) as i64)?
            } else {
                match llvm::type_kind(ty) {
                    LLVMTypeKind::LLVMStructTypeKind => {
                        let o = LLVMOffsetOfElement(self.td, ty, idx as u32) as i64;
                        ty = LLVMStructGetTypeAtIndex(ty, idx as u32);
                        o
                    }
                    LLVMTypeKind::LLVMArrayTypeKind | LLVMTypeKind::LLVMVectorTypeKind => {
                        ty = LLVMGetElementType(ty);
                        idx.checked_mul(llvm::alloc_size(self.td, ty) as i64)?
                    }
                    _ => return None,
                }
            };
            off = off.checked_add(step)?;
        }
        Some(off)
    }

    /// `x` is the address of one of the module's functions.
    pub fn member(&mut self, x: &BV<'c>) -> Bool<'c> {
        let eqs: Vec<Bool<'c>> = self.functions.iter().map(|&f| x._eq(&self.global(f))).collect();
        or(self.ctx, &eqs)
    }

    /// The regions an access may lie in: `mem` with its guard zones (bytes there fault,
    /// which stops the module), the packet with its headroom, for reads the readable
    /// part of the bounds block, and the given objects `(address, size, writable)`.
    pub fn regions(&mut self, p: &BV<'c>, n: &BV<'c>, write: bool, objects: &[(Value, u64, bool)]) -> Bool<'c> {
        let ctx = self.ctx;
        let k = |v: u64| BV::from_u64(ctx, v, 64);
        let guard = abi::GUARD as u64;
        let mut r = vec![
            inside(p, n, &self.mem_lo().bvsub(&k(guard)), &self.mem_len().bvadd(&k(2 * guard))),
            inside(
                p,
                n,
                &self.pkt_data().bvsub(&k(abi::HEADROOM as u64)),
                &self.pkt_len().zero_ext(32).bvadd(&k(abi::HEADROOM as u64)),
            ),
        ];
        if let (false, Some(b)) = (write, self.bounds) {
            r.push(inside(p, n, &self.global(b), &k(BOUNDS_READABLE)));
        }
        for &(o, size, writable) in objects {
            if writable || !write {
                if let Some(base) = self.bv(o, 64) {
                    r.push(inside(p, n, &base, &k(size)));
                }
            }
        }
        or(self.ctx, &r)
    }

    // ---- facts ---------------------------------------------------------------------

    /// The condition under which control goes from block `p` to block `b`.
    fn edge(&mut self, p: usize, b: usize) -> Bool<'c> {
        let (pb, bb) = (self.cfg.blocks[p], self.cfg.blocks[b]);
        let tru = Bool::from_bool(self.ctx, true);
        // SAFETY: queries on the terminator of a reachable block.
        unsafe {
            let t = LLVMGetBasicBlockTerminator(pb);
            let mut alts = Vec::new();
            match llvm::opcode(t) {
                Some(LLVMOpcode::LLVMBr) if LLVMIsConditional(t) != 0 => {
                    let Some(c) = self.boolean(LLVMGetCondition(t)) else { return tru };
                    if LLVMGetSuccessor(t, 0) == bb {
                        alts.push(c.clone());
                    }
                    if LLVMGetSuccessor(t, 1) == bb {
                        alts.push(c.not());
                    }
                }
                Some(LLVMOpcode::LLVMSwitch) => {
                    let Some(x) = self.term(llvm::operand(t, 0)) else { return tru };
                    let x = resize(self.ctx, x, 64, false);
                    let mut none = Vec::new();
                    for i in 1..LLVMGetNumSuccessors(t) {
                        let Some(val) = self.bv(llvm::operand(t, 2 * i), 64) else { return tru };
                        let eq = x._eq(&val);
                        if LLVMGetSuccessor(t, i) == bb {
                            alts.push(eq.clone());
                        }
                        none.push(eq.not());
                    }
                    if LLVMGetSuccessor(t, 0) == bb {
                        alts.push(and(self.ctx, &none));
                    }
                }
                _ => return tru,
            }
            or(self.ctx, &alts)
        }
    }

    /// The fact a returning `nfcc__check(a, s, site)` call establishes (see the module doc).
    pub fn check_fact(&mut self, call: Value) -> Option<Bool<'c>> {
        let a = self.bv(llvm::operand(call, 0), 64)?;
        let s = self.bv(llvm::operand(call, 1), 64)?;
        // The runtime checks for writing unless the site's kind is a read.
        let write_ok = llvm::const_int(llvm::operand(call, 2)).is_some_and(|w| w & 7 != abi::ViolationKind::Read.raw() as i64);
        let within = inside(&self.acc_p, &self.acc_n, &a, &s);
        let kind = if write_ok { Bool::from_bool(self.ctx, true) } else { self.acc_w.not() };
        Some(and(self.ctx, &[self.use_checks.clone(), within, kind]).implies(&self.ok))
    }

    /// True if `inst` is a call of the runtime's slow-path check.
    pub fn is_check(inst: Value) -> bool {
        llvm::opcode(inst) == Some(LLVMOpcode::LLVMCall)
            && llvm::as_function(llvm::called_value(inst)).is_some_and(|f| llvm::name(f) == abi::SYM_CHECK)
    }

    /// The facts of every check in block `b`.
    fn block_checks(&mut self, b: usize) -> Bool<'c> {
        if let Some(f) = self.checks.get(&b) {
            return f.clone();
        }
        let facts: Vec<Bool<'c>> = llvm::instructions(self.cfg.blocks[b])
            .into_iter()
            .filter(|&i| Self::is_check(i))
            .filter_map(|i| self.check_fact(i))
            .collect();
        let f = and(self.ctx, &facts);
        self.checks.insert(b, f.clone());
        f
    }

    /// Depth-0 facts at the entry of `b` (iterative: dominator chains can be long).
    fn chain(&mut self, b: usize) -> Bool<'c> {
        let mut path = Vec::new();
        let mut x = b;
        while !self.chain.contains_key(&x) {
            path.push(x);
            if x == 0 {
                break;
            }
            x = self.cfg.idom[x];
        }
        for &x in path.iter().rev() {
            let f = if x == 0 {
                Bool::from_bool(self.ctx, true)
            } else {
                let i = self.cfg.idom[x];
                let mut parts = vec![self.chain[&i].clone(), self.block_checks(i)];
                if let [p] = self.cfg.preds[x][..] {
                    parts.push(self.edge(p, x));
                }
                and(self.ctx, &parts)
            };
            self.chain.insert(x, f);
        }
        self.chain[&b].clone()
    }

    /// Facts at the entry of `b` with merges unrolled `d` deep.
    fn entry_facts(&mut self, b: usize, d: u32) -> Bool<'c> {
        if d == 0 {
            return self.chain(b);
        }
        if let Some(f) = self.entry.get(&(b, d)) {
            return f.clone();
        }
        let mut parts = vec![self.chain(b)];
        let mut x = b;
        loop {
            if self.cfg.preds[x].len() >= 2 && parts.len() <= MAX_CHAIN_MERGES {
                parts.push(self.merge(x, d));
            }
            if x == 0 {
                break;
            }
            x = self.cfg.idom[x];
        }
        let f = and(self.ctx, &parts);
        self.entry.insert((b, d), f.clone());
        f
    }

    /// "Control entered `x` from one of its predecessors", `d` deep.
    fn merge(&mut self, x: usize, d: u32) -> Bool<'c> {
        if let Some(f) = self.merges.get(&(x, d)) {
            return f.clone();
        }
        let phis: Vec<Value> = llvm::instructions(self.cfg.blocks[x])
            .into_iter()
            .take_while(|&i| llvm::opcode(i) == Some(LLVMOpcode::LLVMPHI))
            .collect();
        for &phi in &phis {
            self.term(phi);
        }
        let mut alts = Vec::new();
        for p in self.cfg.preds[x].clone() {
            let pb = self.cfg.blocks[p];
            let inner = and(self.ctx, &[self.entry_facts(p, d - 1), self.block_checks(p), self.edge(p, x)]);
            // Only a back edge (x dominates p) can carry values x's blocks redefine: on
            // any other edge every value in the facts is defined in blocks dominating p,
            // which x does not dominate.
            let back = self.cfg.dominates(x, p);
            let mut parts = vec![if back { self.rename(x, &Dynamic::from_ast(&inner)).as_bool().unwrap() } else { inner }];
            for &phi in phis.iter().filter(|p| self.phi_vars.contains(p)) {
                // SAFETY: phi is a phi of x; p one of its predecessors.
                let inc = unsafe {
                    (0..LLVMCountIncoming(phi)).find(|&i| LLVMGetIncomingBlock(phi, i) == pb).map(|i| LLVMGetIncomingValue(phi, i))
                };
                if let (Some(lhs), Some(rhs)) = (self.term(phi), inc.and_then(|v| self.term(v))) {
                    let (lhs, rhs) = (dynamic(lhs), dynamic(rhs));
                    let rhs = if back { self.rename(x, &rhs) } else { rhs };
                    parts.push(lhs._eq(&rhs));
                }
            }
            alts.push(and(self.ctx, &parts));
        }
        let f = or(self.ctx, &alts);
        self.merges.insert((x, d), f.clone());
        f
    }

    /// `f` with every variable that running `x` again may change replaced by its copy
    /// "value before the latest entry to `x`".
    fn rename(&mut self, x: usize, f: &Dynamic<'c>) -> Dynamic<'c> {
        let mut pairs = Vec::new();
        for i in 0..self.vars.len() {
            let hit = match self.vars[i].dep {
                Dep::Fixed => false,
                Dep::Always => true,
                Dep::Block(b) => self.cfg.dominates(x, b),
            };
            if hit {
                let j = self.renamed_var(i, x);
                pairs.push((self.vars[i].ast.clone(), self.vars[j].ast.clone()));
            }
        }
        let refs: Vec<(&Dynamic<'c>, &Dynamic<'c>)> = pairs.iter().map(|(a, b)| (a, b)).collect();
        if refs.is_empty() {
            f.clone()
        } else {
            f.substitute(&refs)
        }
    }

    fn renamed_var(&mut self, i: usize, x: usize) -> usize {
        if let Some(&j) = self.renamed.get(&(i, x)) {
            return j;
        }
        let v = &self.vars[i];
        let name = format!("{}'{x}", v.name);
        let ast = Dynamic::new_const(self.ctx, name.as_str(), &v.ast.get_sort());
        let axiom = v.axiom.as_ref().map(|a| a.substitute(&[(&v.ast, &ast)]));
        let dep = if v.dep == Dep::Always { Dep::Always } else { Dep::Block(x) };
        if let Some(a) = &axiom {
            self.pending.push(a.clone());
        }
        self.vars.push(Var { ast, name, dep, axiom });
        self.renamed.insert((i, x), self.vars.len() - 1);
        self.vars.len() - 1
    }

    // ---- queries -------------------------------------------------------------------

    /// Proves `goal` at a point of block `b` after the checks `local` (facts of the
    /// `nfcc__check` calls earlier in `b`), trying deeper path reasoning as needed.
    pub fn prove_at(&mut self, b: usize, local: &[Bool<'c>], goal: &Goal<'c>) -> Option<Proof> {
        for d in 0..=MAX_DEPTH {
            let mut parts = vec![self.entry_facts(b, d)];
            parts.extend(local.iter().cloned());
            let facts = and(self.ctx, &parts);
            if let Some(p) = self.prove(facts, goal) {
                return Some(p);
            }
        }
        None
    }

    fn prove(&mut self, facts: Bool<'c>, goal: &Goal<'c>) -> Option<Proof> {
        let (hyp, target) = match goal {
            Goal::Access { p, n, write, regions } => {
                let bind = [
                    facts,
                    self.acc_p._eq(p),
                    self.acc_n._eq(n),
                    self.acc_w._eq(&Bool::from_bool(self.ctx, *write)),
                    regions.implies(&self.ok),
                ];
                (and(self.ctx, &bind), self.ok.clone())
            }
            Goal::Plain(g) => (facts, g.clone()),
        };
        let key = (hyp, target);
        if let Some(&r) = self.results.get(&key) {
            return r;
        }
        for a in self.pending.drain(..) {
            self.solver.assert(&a);
        }
        self.solver.push();
        self.solver.assert(&key.0);
        self.solver.assert(&key.1.not());
        let r = match self.solver.check_assumptions(&[self.use_checks.clone()]) {
            SatResult::Unsat => Some(if self.solver.get_unsat_core().contains(&self.use_checks) {
                Proof::SlowChecked
            } else {
                Proof::Guarded
            }),
            SatResult::Sat | SatResult::Unknown => None,
        };
        self.solver.pop(1);
        self.results.insert(key, r);
        r
    }
}

fn dynamic(t: T<'_>) -> Dynamic<'_> {
    match t {
        T::Bv(x) => Dynamic::from_ast(&x),
        T::B(b) => Dynamic::from_ast(&b),
    }
}

fn to_bool<'c>(ctx: &'c Context, t: T<'c>) -> Bool<'c> {
    match t {
        T::B(b) => b,
        T::Bv(x) => x._eq(&BV::from_u64(ctx, 0, x.get_size())).not(),
    }
}

/// `t` as `w` bits: zero- (or sign-) extended, or truncated.
fn resize<'c>(ctx: &'c Context, t: T<'c>, w: u32, signed: bool) -> BV<'c> {
    let x = match t {
        T::Bv(x) => x,
        T::B(b) => b.ite(&BV::from_u64(ctx, 1, 1), &BV::from_u64(ctx, 0, 1)),
    };
    let sw = x.get_size();
    match sw.cmp(&w) {
        std::cmp::Ordering::Equal => x,
        std::cmp::Ordering::Less if signed => x.sign_ext(w - sw),
        std::cmp::Ordering::Less => x.zero_ext(w - sw),
        std::cmp::Ordering::Greater => x.extract(w - 1, 0),
    }
}
