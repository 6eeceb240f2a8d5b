//! The independent isolation verifier: proves that every memory access, call and write to
//! the runtime's state in the *final* IR of a protected module stays inside the module's
//! regions, and fails the build otherwise.
//!
//! It trusts neither the isolation pass nor LLVM's cleanup after it: it does not look for
//! the instruction shapes the pass emits, but asks Z3 whether the branch conditions and
//! `nfcc__check` calls on every path to an access imply that the bytes it touches lie in
//! a region (see `verify/smt.rs` for the encoding). What it may rely on is the runtime's
//! contract alone: the bounds block (`runtime-lib/c/nfcc_host_api.h`), the regions the
//! slow-path check knows (`nfcc_rt.c`), and the guard zones around `mem` (`abi::GUARD` below,
//! `abi::GUARD_ABOVE_MEM` above).
//!
//! Rules, per instruction of every defined function (unreachable blocks never run):
//! - Loads (`rw` only), stores, atomics, `llvm.mem{cpy,move,set}` and libc
//!   `memcpy`/`memmove`/`memset`/`memcmp`/`bcmp`, and `byval` copies at calls (`rw`):
//!   covered *statically* (a defined global, `byval` argument or alloca plus a constant
//!   offset, in bounds; writes not to constants; reads of the bounds block's first 56
//!   bytes) or *by proof*: on every path, the facts imply `[p, p+n)` lies in `mem` (or its
//!   guard zones, which fault), the packet with headroom, the root object, for reads the
//!   readable bounds block, or inside the range of a returning `nfcc__check` of a kind that
//!   allows the access.
//! - Writes into `@nfcc__bounds`: only an 8-byte store at `usp` (offset 16) of a value
//!   proven to lie in `mem` (a frame below a checked `usp`, or a `usp` saved earlier).
//! - Calls: to the module's own functions, the runtime services, `nfcc__check`,
//!   `nfcc__violation`, the libc functions above and harmless intrinsics. Indirect calls
//!   must be proven to target a function defined in the module; `nfcc.is_fn`, which
//!   guards them, is itself proven to return true only for such functions. Inline
//!   assembly, `invoke`/`callbr`, `va_arg` and other intrinsics are refused.
//! - The module may not define the runtime's symbols (`nfcc__bounds`, `nfcc__check`,
//!   `nfcc__violation`; `available_externally` copies do not count as the module's own)
//!   nor name the section bounds; `nfcc__check` must have the runtime's type and calling
//!   convention (`preserve_most`), in its declaration and at every call.
//!
//! Errors name the function, the instruction as IR text and its source line if known:
//! "isolation not proven in `f` at file.c:12: `store i32 1, ptr %p, align 4` writes 4
//! bytes that no check, branch condition or static bound shows to lie in ...".
//! Counters: accesses, and how each was proven: static, guarded (branch conditions),
//! slow-checked (a returning `nfcc__check` was used; from Z3's unsat core, which need not
//! be minimal, so a few guarded ones may count here).

mod cfg;
mod smt;

use crate::llvm::{self, Value};
use crate::{ModulePass, PassError};
use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::target::{LLVMCreateTargetData, LLVMDisposeTargetData, LLVMTargetDataRef};
use inkwell::llvm_sys::LLVMOpcode;
use inkwell::module::Module;
use nfcc_runtime::abi;
use smt::{Enc, Goal, Proof};
use std::collections::HashSet;
use z3::ast::{Bool, Int};

/// Which accesses must be proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Loads and stores (and everything that reads or writes memory).
    ReadWrite,
    /// Only what writes memory; loads are exempt.
    WriteOnly,
}

/// The verifier pass. It never changes the module.
pub struct VerifyIsolation {
    /// What to prove.
    pub mode: Mode,
}

/// Intrinsics that touch no memory a module could misuse.
const HARMLESS_INTRINSICS: &[&str] = &[
    "llvm.dbg.", "llvm.lifetime.", "llvm.expect", "llvm.assume", "llvm.bswap", "llvm.ctpop",
    "llvm.ctlz", "llvm.cttz", "llvm.fshl", "llvm.fshr", "llvm.abs", "llvm.smin", "llvm.smax",
    "llvm.umin", "llvm.umax", "llvm.sadd.with.overflow", "llvm.uadd.with.overflow",
    "llvm.ssub.with.overflow", "llvm.usub.with.overflow", "llvm.smul.with.overflow",
    "llvm.umul.with.overflow", "llvm.sadd.sat", "llvm.uadd.sat", "llvm.ssub.sat",
    "llvm.usub.sat", "llvm.prefetch", "llvm.trap", "llvm.experimental.noalias.scope.decl",
    "llvm.is.constant", "llvm.objectsize", "llvm.bitreverse", "llvm.vector.reduce.",
    "llvm.fabs", "llvm.sqrt", "llvm.floor", "llvm.ceil", "llvm.trunc", "llvm.round",
    "llvm.copysign", "llvm.minnum", "llvm.maxnum", "llvm.fma", "llvm.fmuladd", "llvm.scmp",
    "llvm.ucmp", "llvm.ptrmask",
];
/// libc functions a module may call: (name, writes its first argument, reads its second).
/// The length is the third argument; `memcmp`/`bcmp` read both pointers, and the runtime's
/// key hash `nfcc_hash_bytes` (key, seed, length) reads its first.
const LIBC: &[(&str, bool, bool)] = &[
    ("memcpy", true, true),
    ("memmove", true, true),
    ("memset", true, false),
    ("memcmp", false, true),
    ("bcmp", false, true),
    ("nfcc_hash_bytes", false, false),
];
/// The calling convention the runtime defines `nfcc__check` with (`preserve_most` in
/// `nfcc_rt.c`). A call of another convention would hand the runtime other registers
/// than the arguments proven, so declarations and calls must use this one.
const CHECK_CALL_CONV: u32 = inkwell::llvm_sys::LLVMCallConv::LLVMPreserveMostCallConv as u32;
/// The helper the isolation pass generates to guard indirect calls.
const IS_FN: &str = "nfcc.is_fn";

/// `llvm.memcpy.*`/`llvm.memmove.*`/`llvm.memset.*` (and `.inline`): whether it has a
/// source. Element-wise atomic and pattern variants are not matched.
fn mem_intrinsic(name: &str) -> Option<bool> {
    for (prefix, src) in [("llvm.memcpy.", true), ("llvm.memmove.", true), ("llvm.memset.", false)] {
        if let Some(rest) = name.strip_prefix(prefix) {
            let rest = rest.strip_prefix("inline.").unwrap_or(rest);
            if rest.starts_with('p') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
                return Some(src);
            }
        }
    }
    None
}

/// How many bytes an access touches.
#[derive(Clone, Copy)]
enum Len {
    Const(u64),
    Dyn(Value),
}

#[derive(Default)]
struct Stats {
    accesses: u64,
    fixed: u64,
    guarded: u64,
    slow: u64,
}

impl ModulePass for VerifyIsolation {
    fn name(&self) -> &str {
        "verify-isolation"
    }

    fn run(&self, module: &Module<'_>) -> Result<Vec<(String, u64)>, PassError> {
        let file = module.get_source_file_name().to_string_lossy().into_owned();
        let m = module.as_mut_ptr();
        // SAFETY: the module outlives this call; the target data is disposed below.
        let td = unsafe { LLVMCreateTargetData(LLVMGetDataLayoutStr(m)) };
        let cfg = z3::Config::new();
        let ctx = z3::Context::new(&cfg);
        let mut v = Verifier { file, mode: self.mode, td, bounds: None, is_fn: None, defined: Vec::new(), stats: Stats::default() };
        let r = v.run(&ctx, m);
        // SAFETY: created above, no longer used.
        unsafe { LLVMDisposeTargetData(td) };
        r?;
        let s = v.stats;
        Ok(vec![
            ("accesses".into(), s.accesses),
            ("static".into(), s.fixed),
            ("guarded".into(), s.guarded),
            ("slow-checked".into(), s.slow),
        ])
    }
}

struct Verifier {
    file: String,
    mode: Mode,
    td: LLVMTargetDataRef,
    bounds: Option<Value>,
    is_fn: Option<Value>,
    defined: Vec<Value>,
    stats: Stats,
}

impl Verifier {
    fn error(&self, message: String) -> PassError {
        PassError::Abi { file: self.file.clone(), message }
    }

    /// An error about `inst` in `f`: "isolation not proven in `f` at file:line: `inst` what".
    fn refuse(&self, f: Value, inst: Value, what: &str) -> PassError {
        let place = match llvm::debug_location(inst) {
            Some((file, line)) if line > 0 => format!("in `{}` at {file}:{line}", llvm::name(f)),
            _ => format!("in `{}`", llvm::name(f)),
        };
        self.error(format!("isolation not proven {place}: `{}` {what}", llvm::print(inst)))
    }

    fn run(&mut self, ctx: &z3::Context, m: inkwell::llvm_sys::prelude::LLVMModuleRef) -> Result<(), PassError> {
        let reserved = |n: &str| n.starts_with("__start_nfcc") || n.starts_with("__stop_nfcc");
        for g in llvm::globals(m) {
            let n = llvm::name(g);
            if reserved(&n) {
                return Err(self.error(format!("the module refers to `{n}`, a section bound only the runtime may use")));
            }
            if n == abi::SYM_BOUNDS {
                if llvm::is_definition(g) {
                    return Err(self.error(format!("the module defines `{n}`, which belongs to the runtime")));
                }
                self.bounds = Some(g);
            }
        }
        for f in llvm::functions(m) {
            let n = llvm::name(f);
            if reserved(&n) {
                return Err(self.error(format!("the module refers to `{n}`, a section bound only the runtime may use")));
            }
            let runtime_owned = n == abi::SYM_CHECK || n == abi::SYM_VIOLATION;
            // The proofs read nfcc__check's arguments as (addr, size, site): a declaration
            // of another type would hand the runtime other values than those proven.
            // SAFETY: type queries on a function.
            if n == abi::SYM_CHECK && type_text(unsafe { LLVMGlobalGetValueType(f) }) != "void (i64, i64, i32)" {
                return Err(self.error(format!("`{n}` is declared with the wrong type: the runtime defines `void (i64, i64, i32)`")));
            }
            // SAFETY: query on a function.
            if n == abi::SYM_CHECK && unsafe { LLVMGetFunctionCallConv(f) } != CHECK_CALL_CONV {
                return Err(self.error(format!("`{n}` is declared with the wrong calling convention: the runtime defines it `preserve_most`")));
            }
            if defined_here(f) {
                if runtime_owned {
                    // A module-defined check would be trusted by the rules below.
                    return Err(self.error(format!("the module defines `{n}`, which belongs to the runtime")));
                }
                self.defined.push(f);
                if n == IS_FN {
                    self.is_fn = Some(f);
                }
            }
        }
        for f in self.defined.clone() {
            self.function(ctx, f)?;
        }
        Ok(())
    }

    fn function(&mut self, ctx: &z3::Context, f: Value) -> Result<(), PassError> {
        let mut enc = Enc::new(ctx, f, self.td, self.bounds, self.is_fn, self.defined.clone());
        let rw = self.mode == Mode::ReadWrite;
        for b in 0..enc.cfg.blocks.len() {
            // Facts of the `nfcc__check` calls met so far in this block.
            let mut local: Vec<Bool<'_>> = Vec::new();
            for i in llvm::instructions(enc.cfg.blocks[b]) {
                use LLVMOpcode::*;
                if Enc::is_check(i) {
                    // SAFETY: query on a call.
                    if unsafe { LLVMGetInstructionCallConv(i) } != CHECK_CALL_CONV {
                        return Err(self.refuse(f, i, "calls the runtime's check with another calling convention than the runtime's `preserve_most`"));
                    }
                    // Declared by the runtime (definitions are refused above); proves its range.
                    if let Some(fact) = enc.check_fact(i) {
                        local.push(fact);
                    }
                    continue;
                }
                let mut at = At { enc: &mut enc, b, local: &local, f, inst: i };
                // SAFETY: type queries on instructions of f.
                let size = |v: Value| llvm::store_size(self.td, unsafe { LLVMTypeOf(v) });
                match llvm::opcode(i) {
                    Some(LLVMLoad) if rw => self.access(&mut at, llvm::operand(i, 0), Len::Const(size(i)), false)?,
                    Some(LLVMStore) => self.store(&mut at)?,
                    Some(LLVMAtomicRMW | LLVMAtomicCmpXchg) => {
                        self.access(&mut at, llvm::operand(i, 0), Len::Const(size(llvm::operand(i, 1))), true)?
                    }
                    Some(LLVMCall) => self.call(&mut at)?,
                    Some(LLVMInvoke | LLVMCallBr) => {
                        return Err(self.refuse(f, i, "is not supported in protected modules"))
                    }
                    Some(LLVMVAArg) => return Err(self.refuse(f, i, "reads variadic arguments, which protected modules cannot check")),
                    Some(LLVMRet) if Some(f) == self.is_fn => self.is_fn_result(&mut at)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Proves one access: statically if it can, else through Z3.
    fn access(&mut self, at: &mut At<'_, '_>, p: Value, n: Len, write: bool) -> Result<(), PassError> {
        self.stats.accesses += 1;
        let (root, off) = at.enc.split(p);
        let what = |n: Len| {
            let verb = if write { "writes" } else { "reads" };
            match n {
                Len::Const(1) => format!("{verb} 1 byte"),
                Len::Const(n) => format!("{verb} {n} bytes"),
                Len::Dyn(v) => format!("{verb} `{}` bytes", value_text(v)),
            }
        };
        if self.bounds == Some(root) && write {
            return Err(self.refuse(at.f, at.inst, &format!(
                "{} of the runtime's bounds block `@{}`; module code may only save and restore its unsafe stack pointer there",
                what(n),
                abi::SYM_BOUNDS
            )));
        }
        if let (Some(c), Len::Const(n)) = (off, n) {
            if n == 0 {
                self.stats.fixed += 1;
                return Ok(());
            }
            let object = if self.bounds == Some(root) { Some((smt::BOUNDS_READABLE, true)) } else { self.object(root) };
            if let Some((size, writable)) = object {
                if c >= 0 && (c as u64).checked_add(n).is_some_and(|end| end <= size) {
                    if write && !writable {
                        return Err(self.refuse(at.f, at.inst, &format!("{} of a constant global", what(Len::Const(n)))));
                    }
                    self.stats.fixed += 1;
                    return Ok(());
                }
            }
        }
        let enc = &mut *at.enc;
        let (Some(pt), Some(nt)) = (enc.int(p, 64), match n {
            Len::Const(k) => Some(Int::from_u64(enc.ctx(), k)),
            Len::Dyn(v) => enc.int(v, 64),
        }) else {
            return Err(self.refuse(at.f, at.inst, &format!("{} at an address the verifier cannot follow", what(n))));
        };
        let objects = self.objects(p);
        let regions = enc.regions(&pt, &nt, write, &objects);
        match enc.prove_at(at.b, at.local, &Goal::Access { p: pt, n: nt, write, regions }) {
            Some(Proof::Guarded) => self.stats.guarded += 1,
            Some(Proof::SlowChecked) => self.stats.slow += 1,
            None => {
                let region = if write { "a region the module may write" } else { "a region the module may read" };
                let gave_up = enc.gave_up.take().map(|why| format!(" (the search stopped short: {why})")).unwrap_or_default();
                return Err(self.refuse(at.f, at.inst, &format!(
                    "{} that no check, branch condition or static bound shows to lie in {region}{gave_up}",
                    what(n)
                )));
            }
        }
        Ok(())
    }

    /// `(size, writable)` of an object the module owns, if `root` is one.
    fn object(&self, root: Value) -> Option<(u64, bool)> {
        // SAFETY: queries on a value of the module.
        unsafe {
            if let Some(g) = llvm::as_global_var(root) {
                if !defined_here(g) || Some(g) == self.bounds {
                    return None;
                }
                return Some((llvm::alloc_size(self.td, LLVMGlobalGetValueType(g)), LLVMIsGlobalConstant(g) == 0));
            }
            if !LLVMIsAArgument(root).is_null() {
                let f = LLVMGetParamParent(root);
                let idx = (0..LLVMCountParams(f)).find(|&k| LLVMGetParam(f, k) == root)?;
                let a = LLVMGetEnumAttributeAtIndex(f, idx + 1, llvm::attr_kind("byval"));
                return (!a.is_null()).then(|| (llvm::alloc_size(self.td, LLVMGetTypeAttributeValue(a)), true));
            }
            if llvm::opcode(root) == Some(LLVMOpcode::LLVMAlloca) {
                // An alloca left in place is a slot of the call stack: in-bounds accesses
                // to it cannot reach anything else.
                let count = llvm::const_int(llvm::operand(root, 0)).filter(|&c| c >= 0)? as u64;
                return Some((llvm::alloc_size(self.td, LLVMGetAllocatedType(root)).checked_mul(count)?, true));
            }
            None
        }
    }

    /// The objects `p` may point into, found through GEPs, casts, selects and phis.
    fn objects(&self, p: Value) -> Vec<(Value, u64, bool)> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut work = vec![p];
        while let Some(v) = work.pop() {
            if !seen.insert(v) || seen.len() > 32 || out.len() >= 8 {
                continue;
            }
            if let Some((size, writable)) = self.object(v) {
                out.push((v, size, writable));
                continue;
            }
            match llvm::opcode(v).or_else(|| llvm::const_expr_opcode(v)) {
                Some(LLVMOpcode::LLVMGetElementPtr | LLVMOpcode::LLVMBitCast | LLVMOpcode::LLVMAddrSpaceCast) => {
                    work.push(llvm::operand(v, 0))
                }
                Some(LLVMOpcode::LLVMSelect) => work.extend([llvm::operand(v, 1), llvm::operand(v, 2)]),
                // SAFETY: v is a phi.
                Some(LLVMOpcode::LLVMPHI) => unsafe {
                    work.extend((0..LLVMCountIncoming(v)).map(|i| LLVMGetIncomingValue(v, i)))
                },
                _ => {}
            }
        }
        out
    }

    fn store(&mut self, at: &mut At<'_, '_>) -> Result<(), PassError> {
        let (val, p) = (llvm::operand(at.inst, 0), llvm::operand(at.inst, 1));
        // SAFETY: type query.
        let n = llvm::store_size(self.td, unsafe { LLVMTypeOf(val) });
        let (root, off) = at.enc.split(p);
        if self.bounds != Some(root) || off != Some(abi::BOUNDS_USP as i64) || n != 8 {
            return self.access(at, p, Len::Const(n), true);
        }
        // The unsafe stack pointer: the value must lie in mem (the frame checks rely on
        // usp <= mem_lo + mem_len, and frames are carved below it).
        self.stats.accesses += 1;
        let enc = &mut *at.enc;
        let Some(v) = enc.int(val, 64) else {
            return Err(self.refuse(at.f, at.inst, "stores to the unsafe stack pointer a value the verifier cannot follow"));
        };
        let (lo, len) = (enc.mem_lo(), enc.mem_len());
        let goal = Bool::and(enc.ctx(), &[&v.ge(&lo), &v.le(&(&lo + &len))]);
        if enc.prove_at(at.b, at.local, &Goal::Plain(goal)).is_none() {
            return Err(self.refuse(at.f, at.inst, &format!(
                "stores to the unsafe stack pointer (`@{}`+{}) a value not proven to lie in mem",
                abi::SYM_BOUNDS,
                abi::BOUNDS_USP
            )));
        }
        self.stats.guarded += 1;
        Ok(())
    }

    fn call(&mut self, at: &mut At<'_, '_>) -> Result<(), PassError> {
        let (f, inst) = (at.f, at.inst);
        let callee = llvm::called_value(inst);
        if llvm::is_inline_asm(callee) {
            return Err(self.refuse(f, inst, "is inline assembly, which cannot be checked; it is not allowed in protected modules"));
        }
        let rw = self.mode == Mode::ReadWrite;
        let Some(target) = llvm::as_function(callee) else {
            self.byval_args(at, None)?;
            let enc = &mut *at.enc;
            let goal = match enc.int(callee, 64) {
                Some(c) => enc.member(&c),
                None => Bool::from_bool(enc.ctx(), false),
            };
            if enc.prove_at(at.b, at.local, &Goal::Plain(goal)).is_none() {
                return Err(self.refuse(f, inst, "calls through a pointer not proven to be a function of the module (guard it with nfcc.is_fn)"));
            }
            return Ok(());
        };
        let name = llvm::name(target);
        if name == abi::SYM_VIOLATION || Some(target) == self.is_fn || abi::RUNTIME_SERVICES.contains(&name.as_str()) {
            return Ok(());
        }
        if defined_here(target) {
            return self.byval_args(at, Some(target));
        }
        let len = |i: Value| match llvm::const_int(i) {
            Some(k) if k >= 0 => Len::Const(k as u64),
            _ => Len::Dyn(i),
        };
        let op = |k| llvm::operand(inst, k);
        if let Some(has_src) = mem_intrinsic(&name) {
            self.access(at, op(0), len(op(2)), true)?;
            if has_src && rw {
                self.access(at, op(1), len(op(2)), false)?;
            }
            return Ok(());
        }
        if let Some(&(_, writes, reads)) = LIBC.iter().find(|l| l.0 == name) {
            if writes || rw {
                self.access(at, op(0), len(op(2)), writes)?;
            }
            if reads && rw {
                self.access(at, op(1), len(op(2)), false)?;
            }
            return Ok(());
        }
        if name.starts_with("llvm.") {
            if HARMLESS_INTRINSICS.iter().any(|p| name.starts_with(p)) {
                return Ok(());
            }
            return Err(self.refuse(f, inst, &format!("calls the intrinsic `{name}`, which is unsupported in protected modules")));
        }
        Err(self.refuse(f, inst, &format!(
            "calls `{name}`, which is outside the module; protected modules may call only their own functions, the runtime services ({}) and {}",
            abi::RUNTIME_SERVICES.join(", "),
            LIBC.iter().map(|l| l.0).collect::<Vec<_>>().join(", ")
        )))
    }

    /// A `byval` argument is copied from the caller's pointer: a read of the type's size.
    fn byval_args(&mut self, at: &mut At<'_, '_>, callee: Option<Value>) -> Result<(), PassError> {
        if self.mode != Mode::ReadWrite {
            return Ok(());
        }
        let kind = llvm::attr_kind("byval");
        // SAFETY: attribute queries on a call and its callee.
        let sizes: Vec<(Value, u64)> = unsafe {
            (0..LLVMGetNumArgOperands(at.inst))
                .filter_map(|k| {
                    let mut a = LLVMGetCallSiteEnumAttribute(at.inst, k + 1, kind);
                    if a.is_null() {
                        if let Some(c) = callee.filter(|&c| k < LLVMCountParams(c)) {
                            a = LLVMGetEnumAttributeAtIndex(c, k + 1, kind);
                        }
                    }
                    (!a.is_null()).then(|| (llvm::operand(at.inst, k), llvm::alloc_size(self.td, LLVMGetTypeAttributeValue(a))))
                })
                .collect()
        };
        for (p, n) in sizes {
            self.access(at, p, Len::Const(n), false)?;
        }
        Ok(())
    }

    /// `nfcc.is_fn` may return true only for a function defined in the module.
    fn is_fn_result(&mut self, at: &mut At<'_, '_>) -> Result<(), PassError> {
        let enc = &mut *at.enc;
        // SAFETY: is_fn is a function; its first parameter is the tested pointer.
        let arg = unsafe { (LLVMCountParams(at.f) == 1).then(|| LLVMGetParam(at.f, 0)) };
        let ok = match (arg.and_then(|a| enc.int(a, 64)), (llvm::num_operands(at.inst) == 1).then(|| llvm::operand(at.inst, 0))) {
            (Some(x), Some(r)) => match enc.boolean(r) {
                Some(r) => {
                    let goal = r.implies(&enc.member(&x));
                    enc.prove_at(at.b, at.local, &Goal::Plain(goal)).is_some()
                }
                None => false,
            },
            _ => false,
        };
        if !ok {
            return Err(self.refuse(at.f, at.inst, "may accept a pointer that is not a function defined in the module"));
        }
        Ok(())
    }
}

/// True if the module itself provides `v`'s definition. An `available_externally` body
/// or initializer is only a copy of one that lives elsewhere (perhaps in the runtime).
fn defined_here(v: Value) -> bool {
    // SAFETY: query on a global value.
    llvm::is_definition(v) && unsafe { LLVMGetLinkage(v) } != inkwell::llvm_sys::LLVMLinkage::LLVMAvailableExternallyLinkage
}

/// A type as IR text.
fn type_text(t: inkwell::llvm_sys::prelude::LLVMTypeRef) -> String {
    // SAFETY: LLVM returns an owned C string, disposed of here.
    unsafe {
        let p = LLVMPrintTypeToString(t);
        let s = std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned();
        LLVMDisposeMessage(p);
        s
    }
}

/// How a value reads in a message: `%name` if it has one, else its printed form.
fn value_text(v: Value) -> String {
    let name = llvm::name(v);
    if name.is_empty() || llvm::as_function(v).is_some() || llvm::as_global_var(v).is_some() {
        llvm::print(v)
    } else {
        format!("%{name}")
    }
}

/// Where in a function the verifier stands.
struct At<'e, 'c> {
    enc: &'e mut Enc<'c>,
    b: usize,
    local: &'e [Bool<'c>],
    f: Value,
    inst: Value,
}
