//! The Z3 side of the verifier: SSA values as terms, path facts as formulas, and the
//! search that decides whether a goal (an access is covered, a value lies in mem, a
//! callee is a function of the module) holds.
//!
//! Terms. Integers and pointers of `w` bits become integers in `[0, 2^w)` (pointers:
//! 64 bits) and `i1` a Bool; each operation is encoded exactly, wrap-around included
//! (`a + b` is `a + b - 2^w` when that sum reaches `2^w`). Linear integer arithmetic, not
//! bit-vectors, because the proofs are about the order of addresses: Z3 settles them at
//! once over the integers but needs seconds for each over 64-bit bit-vectors. Anything
//! that is not linear (loads, calls, phis, arguments, bitwise operations, shifts by or
//! divisions by unknown values) is a variable known only to lie in `[0, 2^w)`.
//! Loads of the bounds block at offsets other than `usp` are *named* variables: every
//! load of `mem_lo`, `mem_len`, the descriptor or `usp_top` in a function denotes the
//! same runtime constant, because module code cannot write them and the host does not
//! while the module runs.
//!
//! Proofs. A goal at a point is proven from the facts that hold there whatever the path
//! (the edge conditions into the single-predecessor blocks of the dominator chain, the
//! `nfcc__check` calls in dominating blocks); failing that, backwards, as a weakest
//! precondition: at the nearest block M above with several predecessors, the goal (with
//! the facts met between M and the point as hypotheses) must hold at the end of every
//! predecessor, M's phis replaced by what that predecessor brings. On a back edge the
//! values M's blocks define are those of a later iteration than the predecessor's facts
//! speak of: they become fresh copies. A goal none of whose relevant parts change around
//! a loop needs proving on entry to the loop only (induction). Loops are unrolled a few
//! times at most, and each goal has a budget of solver questions.
//!
//! Checks. A returning `nfcc__check(a, s, site)` proves `[a, a+s)` allowed. As a fact it
//! reads "if the access being proven lies in `[a, a+s)` (and the check's kind allows a
//! write if the access is one), the access is ok", over the variables `acc.p`, `acc.n`,
//! `acc.w`, `acc.ok`, which each goal binds to its access: facts do not depend on the
//! access, so each block's are built once.
//!
//! Speed. Questions keep only the facts that share a variable with the goal (directly or
//! through other kept facts), and only the axioms (ranges) of the variables they mention.

use super::cfg::Cfg;
use crate::llvm::{self, Value};
use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::target::{LLVMOffsetOfElement, LLVMTargetDataRef};
use inkwell::llvm_sys::{LLVMIntPredicate, LLVMOpcode, LLVMTypeKind};
use nfcc_runtime::abi;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use z3::ast::{Ast, Bool, Dynamic, Int};
use z3::{Context, Params, SatResult, Solver};

/// Solver queries one goal may take on its way back through the paths to it.
const QUERY_BUDGET: u32 = 96;
/// How many times one path back from a goal may go round loops.
const MAX_ROUNDS: u32 = 1;
/// Per-query solver work limit (Z3's resource units, roughly 1-3 per microsecond): a
/// deterministic bound, so a module verifies the same on any machine. Past it the query
/// counts as "not proven".
const RLIMIT: u32 = 1_000_000;
/// Work all the questions about one goal may take together: bounds the time a goal that
/// cannot be proven costs, where loops make questions grow.
const GOAL_RLIMIT: u64 = 8_000_000;
/// A last resort on the time one goal may take (Z3 does not count all its work), checked
/// between questions: processor time of this thread, not wall time, so that a machine
/// loaded by other work cannot turn a provable access into a failed build. Goals the
/// verifier can prove take well under a second even unoptimised; this only caps how long a
/// failing build searches. Z3's own `timeout` is not used either (its timer threads in
/// libz3 4.8.12 run on wall time); a single query is bounded by `RLIMIT`.
const GOAL_TIME: Duration = Duration::from_secs(20);

/// How many times a query Z3 reports cancelled is asked again before it counts as unknown.
const CANCELLED_RETRIES: usize = 3;

/// Processor time this thread has used.
fn thread_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
/// Bytes of the bounds block module code may read: mem_lo .. the descriptor's end.
pub(super) const BOUNDS_READABLE: u64 = abi::BOUNDS_PKT + 24;
/// Integers wider than this are opaque (2^w must fit the arithmetic below).
const MAX_WIDTH: u32 = 64;

/// A value's term: an integer of a bit width, or a Bool for `i1`.
#[derive(Clone)]
pub(super) enum T<'c> {
    I(Int<'c>, u32),
    B(Bool<'c>),
}

/// What may change a variable's value between two points of a run.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Dep {
    /// Never (runtime constants, arguments, global addresses).
    Fixed,
    /// Running this block again: the block defining it, or for a copy made on a back edge
    /// into a loop header, that header.
    Block(usize),
    /// Anything (undef: a new value at every use).
    Always,
}

struct Var<'c> {
    ast: Dynamic<'c>,
    name: String,
    dep: Dep,
    /// What is known of the value by itself (its range; for `usp`, that it lies in mem).
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

/// An obligation: the hypotheses imply the goal.
struct Ob<'c> {
    hyps: Vec<Bool<'c>>,
    goal: Bool<'c>,
}

impl<'c> Ob<'c> {
    fn formula(&self, ctx: &'c Context) -> Bool<'c> {
        and(ctx, &self.hyps).implies(&self.goal)
    }
}

/// What a query must show.
pub(super) enum Goal<'c> {
    /// `[p, p+n)` lies in one of `regions` (a formula over p and n), or in a checked range.
    Access { p: Int<'c>, n: Int<'c>, write: bool, regions: Bool<'c> },
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
    /// Phis encoded as their own variable (the ones substituted on the way back).
    phi_vars: HashSet<Value>,
    vars: Vec<Var<'c>>,
    renamed: HashMap<(usize, usize), usize>,
    /// Named constants (bounds fields, global addresses) whose range is asserted.
    named: HashSet<String>,
    /// Facts about single objects (no wrap-around), asserted at the base level.
    pending: Vec<Bool<'c>>,
    /// What is known of each variable by itself (its range, ...), by name.
    axioms: HashMap<String, Bool<'c>>,
    chain: HashMap<usize, Rc<Vec<Bool<'c>>>>,
    checks: HashMap<usize, Vec<Bool<'c>>>,
    results: HashMap<(Bool<'c>, Bool<'c>), Option<Proof>>,
    /// Goals proven at block entries.
    solved: HashMap<(usize, Bool<'c>), Proof>,
    /// Variables of formulas, for the relevance filter.
    free: HashMap<Bool<'c>, Rc<Vec<String>>>,
    /// Solver work spent on the current goal, and when it must give up.
    spent: u64,
    /// Why the current goal's search stopped short, if it did (out of time, of solver
    /// work, of questions, or an "unknown" from Z3): a failed goal then says so.
    pub gave_up: Option<String>,
    deadline: Duration,
    /// Phi variables, by the block they belong to.
    phi_group: HashMap<String, String>,
    acc_p: Int<'c>,
    acc_n: Int<'c>,
    acc_w: Bool<'c>,
    ok: Bool<'c>,
    use_checks: Bool<'c>,
}

/// Conjunction, without the trivial `true`s.
fn and<'c>(ctx: &'c Context, v: &[Bool<'c>]) -> Bool<'c> {
    let v: Vec<&Bool<'c>> = v.iter().filter(|b| b.as_bool() != Some(true)).collect();
    match v[..] {
        [] => Bool::from_bool(ctx, true),
        [b] => b.clone(),
        _ => Bool::and(ctx, &v),
    }
}

/// Disjunction, without the trivial `false`s.
fn or<'c>(ctx: &'c Context, v: &[Bool<'c>]) -> Bool<'c> {
    let v: Vec<&Bool<'c>> = v.iter().filter(|b| b.as_bool() != Some(false)).collect();
    match v[..] {
        [] => Bool::from_bool(ctx, false),
        [b] => b.clone(),
        _ => Bool::or(ctx, &v),
    }
}

/// `2^w`.
fn pow2(ctx: &Context, w: u32) -> Int<'_> {
    Int::from_str(ctx, &(1u128 << w).to_string()).expect("a decimal literal")
}

/// `[p, p+n)` within `[lo, lo+len)`. Over the integers: a region that would wrap around
/// the address space is cut at its end, which only makes the test stricter.
pub(super) fn inside<'c>(p: &Int<'c>, n: &Int<'c>, lo: &Int<'c>, len: &Int<'c>) -> Bool<'c> {
    Bool::and(p.get_ctx(), &[&lo.le(p), &(p + n).le(&(lo + len))])
}

/// `x` reduced into `[0, 2^w)`, for `x` known to lie in `(-2^w, 2^(w+1))`.
fn wrap<'c>(x: Int<'c>, w: u32) -> Int<'c> {
    let m = pow2(x.get_ctx(), w);
    let zero = Int::from_u64(x.get_ctx(), 0);
    x.ge(&m).ite(&(&x - &m), &x.lt(&zero).ite(&(&x + &m), &x))
}

/// The signed reading of a `w`-bit value.
fn signed<'c>(x: &Int<'c>, w: u32) -> Int<'c> {
    let ctx = x.get_ctx();
    x.ge(&pow2(ctx, w - 1)).ite(&(x - &pow2(ctx, w)), x)
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
        let mut enc = Enc {
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
            named: HashSet::new(),
            pending: Vec::new(),
            axioms: HashMap::new(),
            chain: HashMap::new(),
            checks: HashMap::new(),
            results: HashMap::new(),
            solved: HashMap::new(),
            free: HashMap::new(),
            phi_group: HashMap::new(),
            spent: 0,
            gave_up: None,
            deadline: thread_time() + GOAL_TIME,
            acc_p: Int::new_const(ctx, "acc.p"),
            acc_n: Int::new_const(ctx, "acc.n"),
            acc_w: Bool::new_const(ctx, "acc.w"),
            ok: Bool::new_const(ctx, "acc.ok"),
            use_checks: Bool::new_const(ctx, "acc.use_checks"),
        };
        enc.solver.set_params(&enc.params());
        // What the host guarantees (runtime-lib/src/memory.rs, module.rs): mem is a
        // user-space mapping of [2^17, 2^41] bytes with GUARD bytes of PROT_NONE below and
        // GUARD_ABOVE_MEM above; usp_top lies in it, at least MIN_UNSAFE_STACK above
        // mem_lo; packets are shorter than 2^18 bytes and sit in user space, unless there
        // is none (nf_init: data NULL, len 0).
        let (lo, len, data, plen) = (enc.mem_lo(), enc.mem_len(), enc.pkt_data(), enc.pkt_len());
        let top = enc.bounds_var(abi::BOUNDS_USP + 8, 64);
        let k = |v: u64| Int::from_u64(ctx, v);
        let no_packet = Bool::and(ctx, &[&data._eq(&k(0)), &plen._eq(&k(0))]);
        let packet = Bool::and(ctx, &[&data.ge(&k(1 << 16)), &data.le(&k(1 << 47))]);
        for a in [
            len.ge(&k(1 << 17)),
            len.le(&k(1 << 41)),
            lo.ge(&k(abi::GUARD as u64)),
            lo.le(&k(1 << 47)),
            plen.lt(&k(1 << 18)),
            top.ge(&(&lo + k(abi::MIN_UNSAFE_STACK))),
            top.le(&(&lo + &len)),
            Bool::or(ctx, &[&no_packet, &packet]),
        ] {
            enc.solver.assert(&a);
        }
        enc
    }

    /// The solver's work so far (Z3's resource count).
    fn work(&self) -> u64 {
        let stats = self.solver.get_statistics();
        let count = stats.entries().find(|e| e.key == "rlimit count").map(|e| e.value);
        match count {
            Some(z3::StatisticsValue::UInt(u)) => u as u64,
            Some(z3::StatisticsValue::Double(d)) => d as u64,
            None => 0,
        }
    }

    fn params(&self) -> Params<'c> {
        let mut p = Params::new(self.ctx);
        p.set_u32("rlimit", RLIMIT);
        p
    }

    pub fn ctx(&self) -> &'c Context {
        self.ctx
    }

    // ---- runtime constants ---------------------------------------------------------

    /// A named constant in `[0, 2^w)`, or `[0, top]` if given; its range asserted once.
    fn named(&mut self, name: String, w: u32, top: Option<u64>) -> Int<'c> {
        let x = Int::new_const(self.ctx, name.as_str());
        if self.named.insert(name.clone()) {
            let zero = Int::from_u64(self.ctx, 0);
            let below = match top {
                Some(t) => x.le(&Int::from_u64(self.ctx, t)),
                None => x.lt(&pow2(self.ctx, w)),
            };
            self.axioms.insert(name, Bool::and(self.ctx, &[&x.ge(&zero), &below]));
        }
        x
    }

    /// The value every load of the bounds block at `off` (`w` bits) yields.
    fn bounds_var(&mut self, off: u64, w: u32) -> Int<'c> {
        self.named(format!("bounds+{off}:{w}"), w, None)
    }
    pub fn mem_lo(&mut self) -> Int<'c> {
        self.bounds_var(abi::BOUNDS_MEM_LO, 64)
    }
    pub fn mem_len(&mut self) -> Int<'c> {
        self.bounds_var(abi::BOUNDS_MEM_LEN, 64)
    }
    fn pkt_data(&mut self) -> Int<'c> {
        self.bounds_var(abi::BOUNDS_PKT + abi::PACKET_DATA, 64)
    }
    fn pkt_len(&mut self) -> Int<'c> {
        self.bounds_var(abi::BOUNDS_PKT + abi::PACKET_LEN, 32)
    }

    /// The address of a global value (variable or function): in user space, so the
    /// object never wraps around the address space.
    fn global(&mut self, g: Value) -> Int<'c> {
        let name = llvm::name(g);
        let name = if name.is_empty() { format!("{g:p}") } else { name };
        self.named(format!("@{name}"), 64, Some(1 << 47))
    }

    // ---- terms ---------------------------------------------------------------------

    /// A new variable of `w` bits; `axiom` may add what else is known of it.
    fn fresh(&mut self, w: u32, hint: &str, dep: Dep, axiom: impl FnOnce(&Int<'c>) -> Option<Bool<'c>>) -> T<'c> {
        let name = format!("{hint}#{}", self.vars.len());
        let (t, ast, ax) = if w == 1 {
            let b = Bool::new_const(self.ctx, name.as_str());
            (T::B(b.clone()), Dynamic::from_ast(&b), None)
        } else {
            let x = Int::new_const(self.ctx, name.as_str());
            let zero = Int::from_u64(self.ctx, 0);
            let mut ax = vec![x.ge(&zero)];
            if w <= MAX_WIDTH {
                ax.push(x.lt(&pow2(self.ctx, w)));
            }
            ax.extend(axiom(&x));
            (T::I(x.clone(), w), Dynamic::from_ast(&x), Some(and(self.ctx, &ax)))
        };
        if let Some(a) = &ax {
            self.axioms.insert(name.clone(), a.clone());
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

    /// The value as an unsigned integer of `w` bits (zero-extended or truncated).
    pub fn int(&mut self, v: Value, w: u32) -> Option<Int<'c>> {
        let t = self.term(v)?;
        Some(resize(self.ctx, t, w, false))
    }

    pub fn boolean(&mut self, v: Value) -> Option<Bool<'c>> {
        Some(to_bool(self.ctx, self.term(v)?))
    }

    unsafe fn encode(&mut self, v: Value, w: u32) -> T<'c> {
        use LLVMOpcode::*;
        let ctx = self.ctx;
        if !LLVMIsAConstantInt(v).is_null() && w <= 64 {
            let x = LLVMConstIntGetZExtValue(v);
            return if w == 1 { T::B(Bool::from_bool(ctx, x & 1 == 1)) } else { T::I(Int::from_u64(ctx, x), w) };
        }
        if !LLVMIsAConstantPointerNull(v).is_null() {
            return T::I(Int::from_u64(ctx, 0), 64);
        }
        if !LLVMIsAGlobalValue(v).is_null() {
            return T::I(self.global(v), 64);
        }
        let is_inst = llvm::opcode(v).is_some();
        let dep = if is_inst { self.cfg.block_of(v).map_or(Dep::Always, Dep::Block) } else { Dep::Fixed };
        let hint = llvm::name(v);
        let hint = if hint.is_empty() { "v".to_string() } else { hint };
        let op = llvm::opcode(v).or_else(|| llvm::const_expr_opcode(v));
        let o = |i: u32| llvm::operand(v, i);
        let int = w > 1 && w <= MAX_WIDTH;
        let t = match op {
            Some(LLVMAnd | LLVMOr | LLVMXor | LLVMAdd | LLVMSub | LLVMMul) if w == 1 => {
                match (self.boolean(o(0)), self.boolean(o(1))) {
                    (Some(a), Some(b)) => Some(T::B(match op {
                        Some(LLVMAnd | LLVMMul) => Bool::and(ctx, &[&a, &b]),
                        Some(LLVMOr) => Bool::or(ctx, &[&a, &b]),
                        _ => a.xor(&b), // xor, and add/sub modulo 2
                    })),
                    _ => None,
                }
            }
            Some(LLVMAdd | LLVMSub) if int => match (self.int(o(0), w), self.int(o(1), w)) {
                (Some(a), Some(b)) => Some(T::I(wrap(if op == Some(LLVMAdd) { a + b } else { a - b }, w), w)),
                _ => None,
            },
            // Linear only with a constant factor; a shift left by a constant is one.
            Some(LLVMMul | LLVMShl) if int => {
                let c = llvm::const_int(o(1)).map(|c| c as u64 & mask(w));
                let c = if op == Some(LLVMShl) { c.filter(|&k| k < w as u64).map(|k| 1u64 << k) } else { c };
                match (self.int(o(0), w), c) {
                    (Some(a), Some(c)) => Some(T::I((a * Int::from_u64(ctx, c)).modulo(&pow2(ctx, w)), w)),
                    // Two variables (a masked index times a masked size): nonlinear, so only
                    // the product of the operands' largest values as their syntax bounds
                    // them (the isolation pass's `index_max`), and only if it cannot wrap.
                    (Some(_), None) if op == Some(LLVMMul) => {
                        let most = crate::isolate::index_max(o(0), 0).checked_mul(crate::isolate::index_max(o(1), 0));
                        most.filter(|&m| m <= mask(w)).map(|m| self.fresh(w, &hint, dep, |x| Some(x.le(&Int::from_u64(ctx, m)))))
                    }
                    _ => None,
                }
            }
            Some(LLVMLShr | LLVMAShr | LLVMUDiv | LLVMURem) if int => {
                let c = llvm::const_int(o(1)).map(|c| c as u64 & mask(w));
                let c = match op {
                    Some(LLVMLShr | LLVMAShr) => c.filter(|&k| k < w as u64).map(|k| 1u64 << k),
                    _ => c.filter(|&k| k != 0),
                };
                match (self.int(o(0), w), c) {
                    (Some(a), Some(c)) => {
                        let c = Int::from_u64(ctx, c);
                        Some(T::I(match op {
                            Some(LLVMURem) => a.modulo(&c),
                            // floor(signed / 2^k), back to unsigned (an ashr never wraps)
                            Some(LLVMAShr) => wrap(signed(&a, w).div(&c), w),
                            _ => a.div(&c),
                        }, w))
                    }
                    _ => None,
                }
            }
            // `x & (2^k - 1)` is `x mod 2^k`, `x & -2^k` is `x - x mod 2^k`; any other mask
            // keeps the value below it.
            Some(LLVMAnd) if int => match (self.int(o(0), w), llvm::const_int(o(1)).map(|c| c as u64 & mask(w))) {
                (Some(a), Some(c)) if c.wrapping_add(1) & c == 0 => Some(T::I(a.modulo(&pow2(ctx, c.count_ones())), w)),
                (Some(a), Some(c)) if (!c & mask(w)).wrapping_add(1) & !c & mask(w) == 0 => {
                    let low = a.modulo(&pow2(ctx, (!c & mask(w)).count_ones()));
                    Some(T::I(a - low, w))
                }
                (_, Some(c)) => Some(self.fresh(w, &hint, dep, |x| Some(x.le(&Int::from_u64(ctx, c))))),
                // Two variables: the result lies in [0, min(a, b)] (unsigned), written
                // `max(0, min(a, b) - d)` for a fresh `d`, a term of a and b (an axiom
                // tying a fresh result to them would not follow them through renaming).
                (Some(a), None) => match self.int(o(1), w) {
                    Some(b) => match self.fresh(w, &hint, dep, |_| None) {
                        T::I(d, _) => {
                            let zero = Int::from_u64(ctx, 0);
                            let below = a.le(&b).ite(&a, &b) - d;
                            Some(T::I(below.ge(&zero).ite(&below, &zero), w))
                        }
                        T::B(_) => None,
                    },
                    None => None,
                },
                _ => None,
            },
            // `x | c` is `x + c` when x has none of c's bits (what unrolled loops compute
            // as `or disjoint iv, k`); the flag itself is not trusted.
            Some(LLVMOr) if int => match (self.int(o(0), w), llvm::const_int(o(1)).map(|c| c as u64 & mask(w))) {
                (Some(a), Some(c)) if c < 1 << 16 => {
                    let two = Int::from_u64(ctx, 2);
                    let zero = Int::from_u64(ctx, 0);
                    let clear: Vec<Bool<'c>> = (0..16)
                        .filter(|j| c >> j & 1 == 1)
                        .map(|j| a.div(&pow2(ctx, j)).modulo(&two)._eq(&zero))
                        .collect();
                    let other = match self.fresh(w, &hint, dep, |_| None) {
                        T::I(x, _) => x,
                        T::B(_) => unreachable!("w > 1"),
                    };
                    Some(T::I(and(ctx, &clear).ite(&(a + Int::from_u64(ctx, c)), &other), w))
                }
                _ => None,
            },
            Some(LLVMZExt | LLVMTrunc | LLVMPtrToInt | LLVMIntToPtr | LLVMBitCast | LLVMAddrSpaceCast) => {
                self.term(o(0)).filter(|t| w <= MAX_WIDTH || matches!(t, T::I(_, sw) if *sw <= w)).map(|t| {
                    if w == 1 { T::B(to_bool(ctx, T::I(resize(ctx, t, 1, false), 1))) } else { T::I(resize(ctx, t, w, false), w) }
                })
            }
            Some(LLVMSExt) if w <= MAX_WIDTH => self.term(o(0)).map(|t| T::I(resize(ctx, t, w, true), w)),
            Some(LLVMICmp) => self.icmp(v).map(T::B),
            Some(LLVMSelect) => match (self.term(o(0)), self.term(o(1)), self.term(o(2))) {
                (Some(T::B(c)), Some(a), Some(b)) => Some(if w == 1 {
                    // `select c, x, false` is LLVM's `c && x`: kept a conjunction, its parts
                    // are facts of their own (see `atoms`).
                    let (a, b) = (to_bool(ctx, a), to_bool(ctx, b));
                    T::B(match (a.as_bool(), b.as_bool()) {
                        (_, Some(false)) => Bool::and(ctx, &[&c, &a]),
                        (Some(true), _) => Bool::or(ctx, &[&c, &b]),
                        _ => c.ite(&a, &b),
                    })
                } else {
                    T::I(c.ite(&resize(ctx, a, w, false), &resize(ctx, b, w, false)), w)
                }),
                _ => None,
            },
            Some(LLVMGetElementPtr) => self.gep(v).map(|x| T::I(x, 64)),
            Some(LLVMPHI) => {
                let n = LLVMCountIncoming(v);
                if n == 0 {
                    None
                } else if (1..n).all(|i| LLVMGetIncomingValue(v, i) == LLVMGetIncomingValue(v, 0)) {
                    self.term(LLVMGetIncomingValue(v, 0))
                } else {
                    self.phi_vars.insert(v);
                    let t = self.fresh(w, &hint, dep, |_| None);
                    let name = self.vars.last().expect("just made").name.clone();
                    self.phi_group.insert(name, format!("phis of {dep:?}"));
                    // Visible to the congruence proof, which meets this phi again.
                    self.terms.insert(v, Some(t.clone()));
                    if let (T::I(x, _), Some(b)) = (&t, self.cfg.block_of(v)) {
                        if let Some(ax) = self.congruence(v, b, x, w) {
                            let var = self.vars.iter_mut().rev().find(|var| var.ast == Dynamic::from_ast(x)).expect("just made");
                            let all = and(ctx, &[var.axiom.clone().expect("a range"), ax]);
                            var.axiom = Some(all.clone());
                            self.axioms.insert(var.name.clone(), all);
                        }
                    }
                    Some(t)
                }
            }
            // freeze(x) is x unless x is poison; our encodings of poison-free arithmetic
            // are what the machine computes, so this is x.
            Some(LLVMFreeze) => self.term(o(0)),
            Some(LLVMLoad) => return self.load(v, w, dep, &hint),
            // min and max are selects.
            Some(LLVMCall) if int && min_max(v).is_some() => {
                let (signed_cmp, min) = min_max(v).expect("just matched");
                match (self.int(o(0), w), self.int(o(1), w)) {
                    (Some(a), Some(b)) => {
                        let (sa, sb) = if signed_cmp { (signed(&a, w), signed(&b, w)) } else { (a.clone(), b.clone()) };
                        let first = if min { sa.le(&sb) } else { sa.ge(&sb) };
                        Some(T::I(first.ite(&a, &b), w))
                    }
                    _ => None,
                }
            }
            Some(LLVMCall) if self.is_fn.is_some() && llvm::called_value(v) == self.is_fn.unwrap() && w == 1 => {
                // Verified separately: nfcc.is_fn(x) implies x is a function of the module.
                // So its result is `b && member(x)` for some b (b = the result itself).
                let member = self.int(o(0), 64).map(|x| self.member(&x));
                match (self.fresh(1, "is_fn", dep, |_| None), member) {
                    (T::B(b), Some(m)) => Some(T::B(Bool::and(ctx, &[&b, &m]))),
                    (t, _) => Some(t),
                }
            }
            _ => None,
        };
        match t {
            Some(t) => t,
            None if !is_inst && op.is_none() => self.fresh(w, &hint, Dep::Fixed, |_| None), // arguments
            None => self.fresh(w, &hint, dep, |_| None),
        }
    }

    /// For a loop-header phi `x` that starts at constants and steps by constants
    /// (`x + c` on every back edge), `x mod g == r` with `g` the largest power of two up to
    /// 64 dividing every step and every difference of starts: true on entry, kept by each
    /// step (2^w is a multiple of g, so wrapping keeps it too). Unrolled loops need it:
    /// they address `iv | 1`, `iv | 2`, ... .
    unsafe fn congruence(&mut self, phi: Value, b: usize, x: &Int<'c>, w: u32) -> Option<Bool<'c>> {
        let mut inits = Vec::new();
        let mut steps = Vec::new();
        for i in 0..LLVMCountIncoming(phi) {
            let (v, p) = (LLVMGetIncomingValue(phi, i), LLVMGetIncomingBlock(phi, i));
            let p = *self.cfg.index.get(&p)?;
            if self.cfg.dominates(b, p) {
                let op = llvm::opcode(v)?;
                if !matches!(op, LLVMOpcode::LLVMAdd | LLVMOpcode::LLVMSub) || llvm::operand(v, 0) != phi {
                    return None;
                }
                let c = llvm::const_int(llvm::operand(v, 1))?;
                let c = if op == LLVMOpcode::LLVMSub { c.wrapping_neg() } else { c };
                steps.push(c as u64 & mask(w));
            } else {
                inits.push(llvm::const_int(v)? as u64 & mask(w));
            }
        }
        let first = *inits.first()?;
        let all = steps.iter().copied().chain(inits.iter().map(|&c| c.wrapping_sub(first) & mask(w)));
        let k = all.map(|d| if d == 0 { 6 } else { d.trailing_zeros().min(6) }).min()?;
        if k == 0 || steps.is_empty() {
            return None;
        }
        let g = Int::from_u64(self.ctx, 1 << k);
        Some(x.modulo(&g)._eq(&Int::from_u64(self.ctx, first % (1 << k))))
    }

    unsafe fn load(&mut self, v: Value, w: u32, dep: Dep, hint: &str) -> T<'c> {
        let (root, off) = self.split(llvm::operand(v, 0));
        if self.bounds == Some(root) && w > 1 {
            if let Some(c) = off.filter(|&c| c >= 0).map(|c| c as u64) {
                let end = c + (w as u64).div_ceil(8);
                let usp = abi::BOUNDS_USP;
                if end <= usp || (c >= usp + 8 && end <= BOUNDS_READABLE) {
                    return T::I(self.bounds_var(c, w), w);
                }
                if c == usp && w == 64 {
                    // Each load of usp may differ, but it always lies in mem.
                    let (lo, len) = (self.mem_lo(), self.mem_len());
                    return self.fresh(64, "usp", dep, |u| Some(Bool::and(self.ctx, &[&u.ge(&lo), &u.le(&(&lo + &len))])));
                }
            }
        }
        self.fresh(w, hint, dep, |_| None)
    }

    unsafe fn icmp(&mut self, v: Value) -> Option<Bool<'c>> {
        use LLVMIntPredicate::*;
        let (a, b) = (self.term(llvm::operand(v, 0))?, self.term(llvm::operand(v, 1))?);
        let w = match &a {
            T::I(_, w) => *w,
            T::B(_) => 1,
        };
        let (a, b) = (resize(self.ctx, a, w, false), resize(self.ctx, b, w, false));
        let pred = LLVMGetICmpPredicate(v);
        let (a, b) = match pred {
            LLVMIntSGT | LLVMIntSGE | LLVMIntSLT | LLVMIntSLE if w <= MAX_WIDTH => (signed(&a, w), signed(&b, w)),
            LLVMIntSGT | LLVMIntSGE | LLVMIntSLT | LLVMIntSLE => return None,
            _ => (a, b),
        };
        Some(match pred {
            LLVMIntEQ => a._eq(&b),
            LLVMIntNE => a._eq(&b).not(),
            LLVMIntUGT | LLVMIntSGT => a.gt(&b),
            LLVMIntUGE | LLVMIntSGE => a.ge(&b),
            LLVMIntULT | LLVMIntSLT => a.lt(&b),
            LLVMIntULE | LLVMIntSLE => a.le(&b),
        })
    }

    /// Base plus the sum of scaled indices (indices sign-extended, as GEP does), wrapped.
    unsafe fn gep(&mut self, v: Value) -> Option<Int<'c>> {
        let ctx = self.ctx;
        let base = self.int(llvm::operand(v, 0), 64)?;
        if let Some(c) = self.gep_const(v) {
            // The common case: a constant offset, which cannot wrap more than once.
            return Some(wrap(base + Int::from_i64(ctx, c), 64));
        }
        let mut sum = base;
        let mut ty = LLVMGetGEPSourceElementType(v);
        for k in 1..llvm::num_operands(v) {
            let idx = llvm::operand(v, k);
            let size = if k == 1 {
                llvm::alloc_size(self.td, ty)
            } else {
                match llvm::type_kind(ty) {
                    LLVMTypeKind::LLVMStructTypeKind => {
                        let i = llvm::const_int(idx)? as u32;
                        sum += Int::from_u64(ctx, LLVMOffsetOfElement(self.td, ty, i));
                        ty = LLVMStructGetTypeAtIndex(ty, i);
                        continue;
                    }
                    LLVMTypeKind::LLVMArrayTypeKind | LLVMTypeKind::LLVMVectorTypeKind => {
                        ty = LLVMGetElementType(ty);
                        llvm::alloc_size(self.td, ty)
                    }
                    _ => return None,
                }
            };
            let i = match self.term(idx)? {
                T::I(x, w) if w <= MAX_WIDTH => signed(&x, w),
                _ => return None,
            };
            sum += i * Int::from_u64(ctx, size);
        }
        Some(sum.modulo(&pow2(ctx, 64)))
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
    pub fn member(&mut self, x: &Int<'c>) -> Bool<'c> {
        let eqs: Vec<Bool<'c>> = self.functions.clone().into_iter().map(|f| x._eq(&self.global(f))).collect();
        or(self.ctx, &eqs)
    }

    /// The regions an access may lie in: `mem` with its guard zones (bytes there fault,
    /// which stops the module), the packet with its headroom, for reads the readable
    /// part of the bounds block, and the given objects `(address, size, writable)`.
    pub fn regions(&mut self, p: &Int<'c>, n: &Int<'c>, write: bool, objects: &[(Value, u64, bool)]) -> Bool<'c> {
        let ctx = self.ctx;
        let k = |v: u64| Int::from_u64(ctx, v);
        let guard = abi::GUARD as u64;
        let (lo, len, data, plen) = (self.mem_lo(), self.mem_len(), self.pkt_data(), self.pkt_len());
        let head = abi::HEADROOM as u64;
        let mut r = vec![
            inside(p, n, &(lo - k(guard)), &(len + k(guard + abi::GUARD_ABOVE_MEM as u64))),
            // Without a packet (data NULL) this is the top of the address space: kernel
            // memory, where any access faults.
            inside(p, n, &wrap(data - k(head), 64), &(plen + k(head))),
        ];
        if let (false, Some(b)) = (write, self.bounds) {
            r.push(inside(p, n, &self.global(b), &k(BOUNDS_READABLE)));
        }
        for &(o, size, writable) in objects {
            if writable || !write {
                if let Some(base) = self.int(o, 64) {
                    // An object never wraps around the address space.
                    self.pending.push((&base + k(size)).le(&pow2(ctx, 64)));
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
                    let w = if let T::I(_, w) = &x { *w } else { 1 };
                    let x = resize(self.ctx, x, w, false);
                    let mut none = Vec::new();
                    for i in 1..LLVMGetNumSuccessors(t) {
                        let Some(val) = self.int(llvm::operand(t, 2 * i), w) else { return tru };
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
        let a = self.int(llvm::operand(call, 0), 64)?;
        let s = self.int(llvm::operand(call, 1), 64)?;
        // The runtime checks for writing unless the site's kind is a read.
        let write_ok = llvm::const_int(llvm::operand(call, 2)).is_some_and(|w| w & 7 != abi::ViolationKind::Read.raw() as i64);
        let within = inside(&self.acc_p, &self.acc_n, &a, &s);
        let kind = if write_ok { Bool::from_bool(self.ctx, true) } else { self.acc_w.not() };
        // Every region the runtime knows is a real mapping: a range it accepts never wraps.
        let no_wrap = (&a + &s).le(&pow2(self.ctx, 64));
        let covers = and(self.ctx, &[self.use_checks.clone(), within, kind]).implies(&self.ok);
        Some(Bool::and(self.ctx, &[&no_wrap, &covers]))
    }

    /// True if `inst` is a call of the runtime's slow-path check.
    pub fn is_check(inst: Value) -> bool {
        llvm::opcode(inst) == Some(LLVMOpcode::LLVMCall)
            && llvm::as_function(llvm::called_value(inst)).is_some_and(|f| llvm::name(f) == abi::SYM_CHECK)
    }

    /// The facts of every check in block `b`.
    fn block_checks(&mut self, b: usize) -> Vec<Bool<'c>> {
        if let Some(f) = self.checks.get(&b) {
            return f.clone();
        }
        let facts: Vec<Bool<'c>> = llvm::instructions(self.cfg.blocks[b])
            .into_iter()
            .filter(|&i| Self::is_check(i))
            .filter_map(|i| self.check_fact(i))
            .collect();
        self.checks.insert(b, facts.clone());
        facts
    }

    /// The facts holding on entry to `b` whatever the path: the edge conditions into the
    /// single-predecessor blocks of its dominator chain and the checks in the blocks
    /// strictly dominating it (iterative: dominator chains can be long).
    fn chain(&mut self, b: usize) -> Rc<Vec<Bool<'c>>> {
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
            let mut facts = Vec::new();
            if x != 0 {
                let i = self.cfg.idom[x];
                facts.extend(self.chain[&i].iter().cloned());
                facts.extend(self.block_checks(i));
                if let [p] = self.cfg.preds[x][..] {
                    facts.push(self.edge(p, x));
                }
            }
            let facts = facts.iter().flat_map(atoms).collect();
            self.chain.insert(x, Rc::new(facts));
        }
        self.chain[&b].clone()
    }

    // ---- queries -------------------------------------------------------------------

    /// Proves `goal` at a point of block `b` after the checks `local` (facts of the
    /// `nfcc__check` calls earlier in `b`).
    pub fn prove_at(&mut self, b: usize, local: &[Bool<'c>], goal: &Goal<'c>) -> Option<Proof> {
        let mut hyps = local.to_vec();
        let goal = match goal {
            Goal::Access { p, n, write, regions } => {
                hyps.extend([
                    self.acc_p._eq(p),
                    self.acc_n._eq(n),
                    self.acc_w._eq(&Bool::from_bool(self.ctx, *write)),
                    regions.implies(&self.ok),
                ]);
                self.ok.clone()
            }
            Goal::Plain(g) => g.clone(),
        };
        let mut budget = QUERY_BUDGET;
        self.spent = 0;
        self.gave_up = None;
        self.deadline = thread_time() + GOAL_TIME;
        self.solve(b, Ob { hyps, goal }, 0, &mut budget, &mut HashSet::new())
    }

    /// Proves that `ob` holds on entry to block `x`: from the facts of its dominator
    /// chain, or else, going back to the nearest block M with several predecessors
    /// (`x` itself or a dominator), at the end of every predecessor of M with its phis
    /// replaced by what that predecessor brings (a weakest precondition, path by path).
    fn solve(&mut self, x: usize, ob: Ob<'c>, rounds: u32, budget: &mut u32, active: &mut HashSet<(usize, Bool<'c>)>) -> Option<Proof> {
        let key = (x, ob.formula(self.ctx));
        if let Some(&r) = self.solved.get(&key) {
            return Some(r);
        }
        if *budget == 0 {
            self.gave_up.get_or_insert_with(|| format!("all {QUERY_BUDGET} questions of the goal asked"));
            return None;
        }
        if !active.insert(key.clone()) {
            return None; // going round a loop to the same question
        }
        *budget -= 1;
        // At a merge the facts that hold whatever the path rarely suffice: go straight
        // to the predecessors, which see them too.
        let mut r = None;
        if self.cfg.preds[x].len() < 2 {
            // Only the chain's facts that bear on the obligation: smaller questions.
            let chain = self.chain(x);
            let facts = self.relevant_facts(&chain, &ob);
            r = self.query(&and(self.ctx, &facts), &key.1);
        }
        if r.is_none() {
            r = self.by_predecessors(x, ob, rounds, budget, active);
        }
        active.remove(&key);
        // A failure for want of budget may succeed with more: remember successes only.
        if let Some(p) = r {
            self.solved.insert(key, p);
        }
        r
    }

    fn by_predecessors(&mut self, x: usize, ob: Ob<'c>, rounds: u32, budget: &mut u32, active: &mut HashSet<(usize, Bool<'c>)>) -> Option<Proof> {
        let mut m = x;
        while self.cfg.preds[m].len() < 2 {
            if m == 0 {
                return None;
            }
            m = self.cfg.idom[m];
        }
        // What held between M and x (edges, checks) becomes a hypothesis.
        let mut hyps = ob.hyps;
        hyps.extend(self.chain(x).iter().cloned());
        let ob = Ob { hyps, goal: ob.goal };
        let preds = self.cfg.preds[m].clone();
        let (back, entry): (Vec<usize>, Vec<usize>) = preds.iter().partition(|&&p| self.cfg.dominates(m, p));
        if !back.is_empty() {
            // A loop header. If what bears on the goal does not change around the loop, it
            // holds on every entry to M once it holds on the first: prove it (stronger
            // than `ob`, some hypotheses gone) from outside the loop only.
            let strong = self.relevant(Ob { hyps: ob.hyps.clone(), goal: ob.goal.clone() });
            let invariant = back.iter().all(|&p| {
                let around = self.at_predecessor(m, p, &strong);
                around.goal == strong.goal && around.hyps == strong.hyps
            });
            if invariant {
                let r = self.all_predecessors(m, &entry, &strong, rounds, budget, active);
                if r.is_some() {
                    return r;
                }
            }
        }
        self.all_predecessors(m, &preds, &ob, rounds, budget, active)
    }

    /// Proves `ob` (at M's entry) at the end of each of `preds`.
    fn all_predecessors(&mut self, m: usize, preds: &[usize], ob: &Ob<'c>, rounds: u32, budget: &mut u32, active: &mut HashSet<(usize, Bool<'c>)>) -> Option<Proof> {
        let mut nexts = Vec::new();
        let mut together = Vec::new();
        for &p in preds {
            let next = self.at_predecessor(m, p, ob);
            // Hypotheses that cannot bear on the goal go, so that a goal unrelated to a
            // loop is seen to be (and formulas stay small).
            let mut next = self.relevant(next);
            next.hyps.extend(self.block_checks(p));
            next.hyps.extend(atoms(&self.edge(p, m)));
            let chain = self.chain(p);
            let facts = self.relevant_facts(&chain, &next);
            together.push(and(self.ctx, &facts).implies(&next.formula(self.ctx)));
            nexts.push((p, next));
        }
        // Usually each predecessor's own facts settle it: one question for all of them.
        let tru = Bool::from_bool(self.ctx, true);
        if let Some(proof) = self.query(&tru, &and(self.ctx, &together)) {
            return Some(proof);
        }
        // A merge the obligation does not look into (no back edge, none of its phis in the
        // obligation): what holds at the end of its immediate dominator holds on every way
        // into it, since every path to M passes there and the facts met since only add to
        // what is known. Trying that first keeps a goal whose proof lies further up (an
        // access of a group guarded before other groups' guards) from splitting at every
        // merge on the way (paths multiply; the dominator chain does not).
        if let Some(proof) = self.past_merge(m, preds, ob, rounds, budget, active) {
            return Some(proof);
        }
        let mut proof = Proof::Guarded;
        for (p, next) in nexts {
            // Each way round a loop adds a copy of its body to the question: a few at most.
            let back = self.cfg.dominates(m, p);
            if back && rounds >= MAX_ROUNDS {
                return None;
            }
            if self.solve(p, next, rounds + back as u32, budget, active)? == Proof::SlowChecked {
                proof = Proof::SlowChecked;
            }
        }
        Some(proof)
    }

    /// `ob` at M's entry, proven at the end of M's immediate dominator (see
    /// `all_predecessors`), when `preds` are all of M's predecessors, none a back edge, and
    /// `ob` mentions none of M's phis.
    fn past_merge(&mut self, m: usize, preds: &[usize], ob: &Ob<'c>, rounds: u32, budget: &mut u32, active: &mut HashSet<(usize, Bool<'c>)>) -> Option<Proof> {
        if m == 0 || preds.len() != self.cfg.preds[m].len() || preds.iter().any(|&p| self.cfg.dominates(m, p)) {
            return None;
        }
        let mut phis = HashSet::new();
        for phi in llvm::instructions(self.cfg.blocks[m]).into_iter().take_while(|&i| llvm::opcode(i) == Some(LLVMOpcode::LLVMPHI)) {
            if !self.phi_vars.contains(&phi) {
                continue;
            }
            match self.term(phi) {
                Some(T::I(x, _)) => phis.insert(x.decl().name()),
                Some(T::B(b)) => phis.insert(b.decl().name()),
                None => return None,
            };
        }
        let vars = self.free_vars(&ob.formula(self.ctx));
        if vars.iter().any(|v| phis.contains(v)) {
            return None;
        }
        let d = self.cfg.idom[m];
        let mut next = self.relevant(Ob { hyps: ob.hyps.clone(), goal: ob.goal.clone() });
        next.hyps.extend(self.block_checks(d));
        self.solve(d, next, rounds, budget, active)
    }

    /// `ob` at M's entry as an obligation at the end of predecessor `p`: M's phis become
    /// what `p` brings; on a back edge, values M's blocks define are those of a later
    /// iteration than `p`'s facts speak of, so they become fresh copies.
    fn at_predecessor(&mut self, m: usize, p: usize, ob: &Ob<'c>) -> Ob<'c> {
        let pb = self.cfg.blocks[p];
        let mut pairs = Vec::new();
        for phi in llvm::instructions(self.cfg.blocks[m]).into_iter().take_while(|&i| llvm::opcode(i) == Some(LLVMOpcode::LLVMPHI)) {
            if !self.phi_vars.contains(&phi) {
                continue;
            }
            // SAFETY: phi is a phi of m; pb one of its predecessors.
            let inc = unsafe {
                (0..LLVMCountIncoming(phi)).find(|&i| LLVMGetIncomingBlock(phi, i) == pb).map(|i| LLVMGetIncomingValue(phi, i))
            };
            if let (Some(lhs), Some(rhs)) = (self.term(phi), inc.and_then(|v| self.term(v))) {
                pairs.push((dynamic(lhs), dynamic(rhs)));
            }
        }
        let back = self.cfg.dominates(m, p);
        let pairs = self.pairs(pairs, back.then_some(m));
        let refs: Vec<(&Dynamic<'c>, &Dynamic<'c>)> = pairs.iter().map(|(a, b)| (a, b)).collect();
        let sub = |f: &Bool<'c>| if refs.is_empty() { f.clone() } else { f.substitute(&refs) };
        Ob { hyps: ob.hyps.iter().map(sub).collect(), goal: sub(&ob.goal) }
    }

    /// `ob` without the hypotheses that share no variable with the goal, directly or
    /// through other kept hypotheses.
    fn relevant(&mut self, ob: Ob<'c>) -> Ob<'c> {
        let keep = self.cone(&ob.hyps, &ob.goal, &[]);
        let hyps = ob.hyps.into_iter().zip(keep).filter(|(_, k)| *k).map(|(h, _)| h).collect();
        Ob { hyps, goal: ob.goal }
    }

    /// The facts among `facts` that bear on `ob` (with its hypotheses).
    fn relevant_facts(&mut self, facts: &[Bool<'c>], ob: &Ob<'c>) -> Vec<Bool<'c>> {
        let keep = self.cone(facts, &ob.goal, &ob.hyps);
        facts.iter().zip(keep).filter(|(_, k)| *k).map(|(f, _)| f.clone()).collect()
    }

    /// Which of `atoms` share a variable with `goal` or `more`, directly or through other
    /// kept atoms. Runtime constants and global addresses relate nothing (everything
    /// mentions them): atoms about them alone are kept. So are check facts, whose
    /// variables relate nothing either (they only matter through the access's own).
    fn cone(&mut self, atoms: &[Bool<'c>], goal: &Bool<'c>, more: &[Bool<'c>]) -> Vec<bool> {
        let vars: Vec<Vec<String>> = atoms.iter().map(|h| self.relating_vars(h)).collect();
        // The access's own variables stay: the checks met further back speak of them.
        let mut live: HashSet<String> = ["acc.p", "acc.n", "acc.w", "acc.ok"].map(String::from).into();
        live.extend(self.relating_vars(goal));
        for h in more {
            live.extend(self.relating_vars(h));
        }
        // A check fact (it concludes `acc.ok`) bears on the access only if its range is
        // related to the access's own variables; it relates nothing further.
        let acc = |n: &String| n.starts_with("acc.");
        let sink: Vec<bool> = vars.iter().map(|v| v.iter().any(|n| n == "acc.ok")).collect();
        let mut keep: Vec<bool> = vars.iter().map(|v| v.iter().all(acc)).collect();
        let mut changed = true;
        while changed {
            changed = false;
            for (k, v) in vars.iter().enumerate() {
                if !keep[k] && v.iter().any(|n| !(sink[k] && acc(n)) && live.contains(n)) {
                    keep[k] = true;
                    if !sink[k] {
                        live.extend(v.iter().cloned());
                        changed = true;
                    }
                }
            }
        }
        keep
    }

    /// The variables of `f` that relate facts: all but runtime constants and addresses;
    /// the phis of one block count as one (they are related by the edge they all take).
    fn relating_vars(&mut self, f: &Bool<'c>) -> Vec<String> {
        let all = self.free_vars(f);
        all.iter()
            .filter(|n| !self.named.contains(*n))
            .map(|n| self.phi_group.get(n).cloned().unwrap_or_else(|| n.clone()))
            .collect()
    }

    /// The variables of `f` (uninterpreted constants), by name.
    fn free_vars(&mut self, f: &Bool<'c>) -> Rc<Vec<String>> {
        if let Some(v) = self.free.get(f) {
            return v.clone();
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut work = vec![Dynamic::from_ast(f)];
        while let Some(a) = work.pop() {
            if !seen.insert(a.clone()) {
                continue;
            }
            if a.kind() != z3::AstKind::App {
                continue;
            }
            if a.num_children() == 0 {
                let d = a.decl();
                if d.kind() == z3::DeclKind::UNINTERPRETED {
                    out.push(d.name());
                }
            } else {
                work.extend(a.children());
            }
        }
        let out = Rc::new(out);
        self.free.insert(f.clone(), out.clone());
        out
    }

    /// Substitution pairs: the given ones and, if `renaming` names a block, every
    /// variable that running that block again may change replaced by its copy.
    fn pairs(&mut self, mut pairs: Vec<(Dynamic<'c>, Dynamic<'c>)>, renaming: Option<usize>) -> Vec<(Dynamic<'c>, Dynamic<'c>)> {
        if let Some(x) = renaming {
            for i in 0..self.vars.len() {
                let hit = match self.vars[i].dep {
                    Dep::Fixed => false,
                    Dep::Always => true,
                    Dep::Block(b) => self.cfg.dominates(x, b),
                };
                if hit && !pairs.iter().any(|(from, _)| *from == self.vars[i].ast) {
                    let j = self.renamed_var(i, x);
                    pairs.push((self.vars[i].ast.clone(), self.vars[j].ast.clone()));
                }
            }
        }
        pairs
    }

    fn renamed_var(&mut self, i: usize, x: usize) -> usize {
        if let Some(&j) = self.renamed.get(&(i, x)) {
            return j;
        }
        let v = &self.vars[i];
        let name = format!("{}'{x}", v.name);
        let ast = match v.ast.as_int() {
            Some(_) => Dynamic::from_ast(&Int::new_const(self.ctx, name.as_str())),
            None => Dynamic::from_ast(&Bool::new_const(self.ctx, name.as_str())),
        };
        let axiom = v.axiom.as_ref().map(|a| a.substitute(&[(&v.ast, &ast)]));
        let dep = if v.dep == Dep::Always { Dep::Always } else { Dep::Block(x) };
        if let Some(a) = &axiom {
            self.axioms.insert(name.clone(), a.clone());
        }
        self.vars.push(Var { ast, name, dep, axiom });
        self.renamed.insert((i, x), self.vars.len() - 1);
        self.vars.len() - 1
    }

    /// Whether `facts` imply `psi`, and whether a check was needed.
    fn query(&mut self, facts: &Bool<'c>, psi: &Bool<'c>) -> Option<Proof> {
        let key = (facts.clone(), psi.clone());
        if let Some(&r) = self.results.get(&key) {
            return r;
        }
        for a in self.pending.drain(..) {
            self.solver.assert(&a);
        }
        if self.spent >= GOAL_RLIMIT {
            self.gave_up.get_or_insert_with(|| format!("the goal's solver work ({GOAL_RLIMIT}) spent"));
            return None;
        }
        if thread_time() > self.deadline {
            self.gave_up.get_or_insert_with(|| format!("the goal's {} s of processor time spent", GOAL_TIME.as_secs()));
            return None;
        }
        let before = self.work();
        self.solver.push();
        // What is known of each variable the question mentions (asserting all of them
        // for every question would make each one pay for the whole function).
        let mut names: Vec<String> = self.free_vars(facts).iter().cloned().collect();
        names.extend(self.free_vars(psi).iter().cloned());
        for n in names {
            if let Some(a) = self.axioms.get(&n) {
                self.solver.assert(a);
            }
        }
        self.solver.assert(facts);
        self.solver.assert(&psi.not());
        let mut first = self.solver.check_assumptions(std::slice::from_ref(&self.use_checks));
        // libz3 4.8.12 can cancel a query no limit of ours stopped: a timer left by another
        // solver of the process (the contract engine's, whose queries have a timeout) fires
        // on this one. Such an answer says nothing about the question: ask again.
        for _ in 0..CANCELLED_RETRIES {
            let cancelled = first == SatResult::Unknown
                && self.solver.get_reason_unknown().is_some_and(|r| r.contains("cancel"));
            if !cancelled {
                break;
            }
            first = self.solver.check_assumptions(std::slice::from_ref(&self.use_checks));
        }
        let r = match first {
            // The core need not be minimal: a proof may count as needing a check when the
            // branch conditions alone would have done (only a counter).
            SatResult::Unsat if self.solver.get_unsat_core().contains(&self.use_checks) => Some(Proof::SlowChecked),
            SatResult::Unsat => Some(Proof::Guarded),
            SatResult::Sat => None,
            SatResult::Unknown => {
                let why = self.solver.get_reason_unknown().unwrap_or_else(|| "no reason given".into());
                self.gave_up.get_or_insert_with(|| format!("Z3 answered unknown ({why})"));
                None
            }
        };
        self.spent += self.work().saturating_sub(before);
        self.solver.pop(1);
        // An "unknown" is not an answer: the same question in another goal asks again.
        if first != SatResult::Unknown {
            self.results.insert(key, r);
        }
        r
    }
}

/// For a call of `llvm.{s,u}{min,max}.*`: (signed, min).
fn min_max(call: Value) -> Option<(bool, bool)> {
    let f = llvm::as_function(llvm::called_value(call))?;
    let name = llvm::name(f);
    let kind = name.strip_prefix("llvm.")?.split('.').next()?;
    match kind {
        "smin" => Some((true, true)),
        "smax" => Some((true, false)),
        "umin" => Some((false, true)),
        "umax" => Some((false, false)),
        _ => None,
    }
}

/// The conjuncts of `f`, nested conjunctions flattened, `true`s dropped: each is a fact
/// the relevance filter may keep or drop on its own.
fn atoms<'c>(f: &Bool<'c>) -> Vec<Bool<'c>> {
    let mut out = Vec::new();
    let mut work = vec![f.clone()];
    while let Some(b) = work.pop() {
        if b.as_bool() == Some(true) {
            continue;
        }
        if b.kind() == z3::AstKind::App && b.decl().kind() == z3::DeclKind::AND {
            work.extend(b.children().iter().rev().filter_map(|c| c.as_bool()));
        } else {
            out.push(b);
        }
    }
    out
}

fn dynamic(t: T<'_>) -> Dynamic<'_> {
    match t {
        T::I(x, _) => Dynamic::from_ast(&x),
        T::B(b) => Dynamic::from_ast(&b),
    }
}

fn to_bool<'c>(ctx: &'c Context, t: T<'c>) -> Bool<'c> {
    match t {
        T::B(b) => b,
        T::I(x, _) => x._eq(&Int::from_u64(ctx, 0)).not(),
    }
}

/// All ones in `w` bits (w <= 64).
fn mask(w: u32) -> u64 {
    if w >= 64 {
        u64::MAX
    } else {
        (1u64 << w) - 1
    }
}

/// `t` as an unsigned `w`-bit integer: zero- (or sign-) extended, or truncated.
fn resize<'c>(ctx: &'c Context, t: T<'c>, w: u32, signed_ext: bool) -> Int<'c> {
    let (x, sw) = match t {
        T::I(x, sw) => (x, sw),
        T::B(b) => (b.ite(&Int::from_u64(ctx, 1), &Int::from_u64(ctx, 0)), 1),
    };
    if sw == w || (sw < w && !signed_ext) {
        x
    } else if sw < w {
        // Negative values gain the high bits: + 2^w - 2^sw.
        let high = pow2(ctx, w) - pow2(ctx, sw);
        x.ge(&pow2(ctx, sw - 1)).ite(&(&x + &high), &x)
    } else {
        x.modulo(&pow2(ctx, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkwell::llvm_sys::target::{LLVMCreateTargetData, LLVMDisposeTargetData};
    use inkwell::memory_buffer::MemoryBuffer;
    use inkwell::values::AsValueRef;

    const LAYOUT: &str = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128";

    /// Runs `test` on the encoder of `@f` in `ir`, with its instructions by name.
    fn with_f(ir: &str, test: impl FnOnce(&mut Enc<'_>, &dyn Fn(&str) -> Value)) {
        let lctx = inkwell::context::Context::create();
        let buf = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "t");
        let m = lctx.create_module_from_ir(buf).expect("valid IR");
        let f = m.get_function("f").expect("@f").as_value_ref();
        let layout = llvm::cstr(LAYOUT);
        // SAFETY: created and disposed here.
        let td = unsafe { LLVMCreateTargetData(layout.as_ptr()) };
        let ctx = Context::new(&z3::Config::new());
        let bounds = m.get_global("nfcc__bounds").map(|g| g.as_value_ref());
        let mut enc = Enc::new(&ctx, f, td, bounds, None, vec![f]);
        let insts: Vec<Value> = llvm::blocks(f).into_iter().flat_map(llvm::instructions).collect();
        let named = |n: &str| *insts.iter().find(|&&i| llvm::name(i) == n).expect("an instruction of that name");
        test(&mut enc, &named);
        // SAFETY: no longer used.
        unsafe { LLVMDisposeTargetData(td) };
    }

    /// `f` holds whatever the variables, given what the runtime guarantees.
    fn valid<'c>(enc: &mut Enc<'c>, f: &Bool<'c>) -> bool {
        enc.query(&Bool::from_bool(enc.ctx, true), f).is_some()
    }

    const HEADER: &str = "@nfcc__bounds = external hidden global [128 x i8]\n";

    #[test]
    fn packet_offset_of_a_gep_is_its_constant() {
        let ir = format!("{HEADER}define i64 @f() {{
  %D = load ptr, ptr getelementptr (i8, ptr @nfcc__bounds, i64 32)
  %p = getelementptr i8, ptr %D, i64 30
  %a = ptrtoint ptr %p to i64
  %d = ptrtoint ptr %D to i64
  %o = sub i64 %a, %d
  ret i64 %o
}}");
        with_f(&ir, |enc, v| {
            let o = enc.int(v("o"), 64).unwrap();
            let thirty = Int::from_u64(enc.ctx, 30);
            assert!(valid(enc, &o._eq(&thirty)));
            assert!(!valid(enc, &o._eq(&Int::from_u64(enc.ctx, 31))));
        });
    }

    #[test]
    fn bounds_fields_are_constants_but_usp_is_not() {
        let ir = format!("{HEADER}define void @f() {{
  %lo1 = load i64, ptr @nfcc__bounds
  %lo2 = load i64, ptr @nfcc__bounds
  %u1 = load i64, ptr getelementptr (i8, ptr @nfcc__bounds, i64 16)
  %u2 = load i64, ptr getelementptr (i8, ptr @nfcc__bounds, i64 16)
  ret void
}}");
        with_f(&ir, |enc, v| {
            let (lo1, lo2) = (enc.int(v("lo1"), 64).unwrap(), enc.int(v("lo2"), 64).unwrap());
            let (u1, u2) = (enc.int(v("u1"), 64).unwrap(), enc.int(v("u2"), 64).unwrap());
            assert!(valid(enc, &lo1._eq(&lo2)));
            assert!(!valid(enc, &u1._eq(&u2)));
            // Every usp lies in mem.
            let len = enc.mem_len();
            assert!(valid(enc, &Bool::and(enc.ctx, &[&u1.ge(&lo1), &u1.le(&(&lo1 + &len))])));
        });
    }

    #[test]
    fn arithmetic_wraps_and_extends_as_the_machine_does() {
        let ir = "define void @f(i8 %x) {
  %inc = add i8 %x, 1
  %neg = icmp slt i8 %x, 0
  %s = sext i8 %x to i64
  %low = and i64 %s, 255
  %up = or i64 %s, 3
  ret void
}";
        with_f(ir, |enc, v| {
            let ctx = enc.ctx;
            let x = enc.int(v("inc"), 8).unwrap();
            let k = |n: u64| Int::from_u64(ctx, n);
            // 255 + 1 is 0 in 8 bits; x < 0 signed is x >= 128 unsigned.
            let arg = enc.int(llvm::operand(v("inc"), 0), 8).unwrap();
            assert!(valid(enc, &arg._eq(&k(255)).implies(&x._eq(&k(0)))));
            let neg = enc.boolean(v("neg")).unwrap();
            assert!(valid(enc, &neg._eq(&arg.ge(&k(128)))));
            // sext of 0xff is all ones; masking its low byte gives 0xff back.
            let s = enc.int(v("s"), 64).unwrap();
            let low = enc.int(v("low"), 64).unwrap();
            assert!(valid(enc, &arg._eq(&k(255)).implies(&s._eq(&k(u64::MAX)))));
            assert!(valid(enc, &low._eq(&arg)));
            // x | 3 is only x + 3 when x's low bits are clear.
            let up = enc.int(v("up"), 64).unwrap();
            assert!(valid(enc, &arg._eq(&k(4)).implies(&up._eq(&k(7)))));
            assert!(!valid(enc, &up._eq(&(&s + &k(3)))));
        });
    }

    #[test]
    fn unrolled_induction_variables_keep_their_low_bits() {
        let ir = "define void @f() {
entry:
  br label %loop
loop:
  %iv = phi i64 [ 8, %entry ], [ %next, %loop ]
  %odd = or i64 %iv, 1
  %next = add i64 %iv, 4
  %more = icmp ult i64 %next, 100
  br i1 %more, label %loop, label %exit
exit:
  ret void
}";
        with_f(ir, |enc, v| {
            let iv = enc.int(llvm::operand(v("odd"), 0), 64).unwrap();
            let odd = enc.int(v("odd"), 64).unwrap();
            assert!(valid(enc, &odd._eq(&(&iv + &Int::from_u64(enc.ctx, 1)))));
        });
    }
}

