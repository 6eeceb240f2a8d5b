//! The isolation pass: confines every memory access, call and stack allocation of a module
//! to the regions the runtime gives it (see `runtime-lib/c/nfcc_host_api.h`).
//!
//! It runs after LLVM's -O2 (so inlining and SROA have made pointer provenance plain) and
//! before a cleanup pipeline (so LLVM merges, hoists and deletes what it can prove). The
//! independent verifier (`verify.rs`) then proves the final IR covered.
//!
//! What it does, in order:
//! 1. Refuses what it cannot check: inline assembly, calls out of the module other than the
//!    runtime services and the checked libc functions, variadic definitions, dynamic or
//!    over-aligned stack allocations, thread-local globals, static constructors, and any
//!    reference to the runtime's reserved symbols.
//! 2. Strips what would let LLVM assume an access is safe (`inbounds`, `nsw`/`nuw`,
//!    `dereferenceable`, `nonnull`, `!range`, `llvm.assume`, ...): a checked access must
//!    never be speculated above its check, and UB must not delete a check.
//! 3. Makes `nf_process` read the descriptor from the runtime's block, not its argument
//!    (module code can call `nf_process` itself with a forged one).
//! 4. Moves every local variable to a frame on the module's unsafe stack (inside `mem`);
//!    the call stack keeps only return addresses and spills, which no pointer reaches.
//! 5. Checks every access by the provenance of its pointer: none for constant offsets
//!    inside a frame, global or byval argument; `off + n <= len` for the packet; an
//!    own-object compare for dynamic offsets into objects; one unsigned compare against
//!    `mem` for anything else, and when that fails an exact inline test against the
//!    packet (keys handed to library code by pointer often lie there). Provenance goes
//!    through phis and selects whose every incoming pointer is statically in bounds.
//!    Failed compares go to the runtime's slow path (`preserve_most`), which knows every
//!    region and stops the module if none allows the access.
//! 6. Guards indirect calls with a membership test over the module's address-taken
//!    functions, and records a site table (function, file, line, kind) for every check.

use crate::llvm::{self, cstr, Value};
use crate::{ModulePass, PassError};
use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::prelude::*;
use inkwell::llvm_sys::target::{LLVMCreateTargetData, LLVMDisposeTargetData, LLVMTargetDataRef};
use inkwell::llvm_sys::{LLVMIntPredicate, LLVMLinkage, LLVMOpcode, LLVMTypeKind, LLVMVisibility};
use inkwell::module::Module;
use nfcc_runtime::abi;
use std::collections::{HashMap, HashSet};

/// What a protected module has checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Stores only.
    WriteOnly,
    /// Loads and stores.
    ReadWrite,
}

/// The largest frame a function may take from the unsafe stack; the runtime's guard zone
/// below the unsafe stack is larger, so even an unchecked frame lands in it.
pub const MAX_FRAME: u64 = 32 * 1024;
// An entry point's frame, right below usp_top >= mem_lo + MIN_UNSAFE_STACK, lies in mem.
const _: () = assert!(MAX_FRAME <= abi::MIN_UNSAFE_STACK);
/// `nfcc__check`'s calling convention: the runtime defines it `preserve_most`
/// (`nfcc_rt.c`), so the slow path clobbers no register the caller keeps values in.
pub const CHECK_CALL_CONV: u32 = inkwell::llvm_sys::LLVMCallConv::LLVMPreserveMostCallConv as u32;
/// Most accesses one group guard covers (see `group_guard`).
const MAX_GROUP: usize = 4;
/// Accesses of at least this many bytes always go through the runtime's exact check.
const MAX_INLINE_CHECK: u64 = 4096;

/// Intrinsics that touch no memory (or only what the pass checks separately).
const PURE_INTRINSICS: &[&str] = &[
    "llvm.dbg.", "llvm.lifetime.", "llvm.expect", "llvm.bswap", "llvm.ctpop", "llvm.ctlz",
    "llvm.cttz", "llvm.fshl", "llvm.fshr", "llvm.abs", "llvm.smin", "llvm.smax", "llvm.umin",
    "llvm.umax", "llvm.sadd.with.overflow", "llvm.uadd.with.overflow", "llvm.ssub.with.overflow",
    "llvm.usub.with.overflow", "llvm.smul.with.overflow", "llvm.umul.with.overflow",
    "llvm.sadd.sat", "llvm.uadd.sat", "llvm.ssub.sat", "llvm.usub.sat", "llvm.prefetch",
    "llvm.trap", "llvm.experimental.noalias.scope.decl", "llvm.is.constant", "llvm.bitreverse",
    "llvm.vector.reduce.", "llvm.fabs", "llvm.sqrt", "llvm.floor", "llvm.ceil", "llvm.trunc",
    "llvm.round", "llvm.copysign", "llvm.minnum", "llvm.maxnum", "llvm.fma", "llvm.fmuladd",
    "llvm.scmp", "llvm.ucmp",
];
/// Memory intrinsics the pass checks: (prefix, has a source operand).
const MEM_INTRINSICS: &[(&str, bool)] =
    &[("llvm.memcpy", true), ("llvm.memmove", true), ("llvm.memset", false)];
/// libc functions modules may call, checked like the intrinsics: (name, writes op0, reads op1).
const LIBC: &[(&str, bool, bool)] = &[
    ("memcpy", true, true),
    ("memmove", true, true),
    ("memset", true, false),
    ("memcmp", false, true),
    ("bcmp", false, true),
    // nfcc's runtime: the data-structure library's key hash (`nfcc_hash` in nfcc_ds.h)
    // reads its key's range, checked here once instead of word by word in module code.
    ("nfcc_hash_bytes", false, false),
];
/// Name prefixes user code may not define or reference.
const RESERVED: &[&str] = &["nfcc__", "nfcc.", "__start_nfcc", "__stop_nfcc", "__safestack"];

/// One check site, for the table the host reads when reporting a violation.
struct Site {
    function: String,
    file: String,
    line: u32,
    kind: u32,
}

/// Counters reported by `nfcc build -v`.
#[derive(Default)]
struct Stats {
    accesses: u64,
    proven: u64,
    packet: u64,
    object: u64,
    mem: u64,
    merged: u64,
    indexed: u64,
    heap_checks: u64,
    heap_checked: u64,
    slow: u64,
    frames: u64,
    indirect_calls: u64,
    packet_params: u64,
}

/// The pass.
pub struct Isolate {
    /// What to check.
    pub mode: Mode,
}

impl ModulePass for Isolate {
    fn name(&self) -> &str {
        "isolate"
    }

    fn run(&self, module: &Module<'_>) -> Result<Vec<(String, u64)>, PassError> {
        let file = module.get_source_file_name().to_string_lossy().into_owned();
        let heap_checks = crate::heap_check::calls(module)?;
        let m = module.as_mut_ptr();
        // SAFETY: every raw call below works on this module, which outlives the pass.
        unsafe {
            let dl = LLVMGetDataLayoutStr(m);
            let td = LLVMCreateTargetData(dl);
            let mut cx = Cx::new(m, td, self.mode, file);
            cx.heap_check_calls = heap_checks;
            let r = cx.run();
            LLVMDisposeTargetData(td);
            LLVMDisposeBuilder(cx.b);
            let s = r?;
            Ok(vec![
                ("accesses".into(), s.accesses),
                ("proven".into(), s.proven),
                ("checked-packet".into(), s.packet),
                ("checked-object".into(), s.object),
                ("checked-mem".into(), s.mem),
                ("merged".into(), s.merged),
                ("indexed".into(), s.indexed),
                ("heap-checks".into(), s.heap_checks),
                ("heap-checked".into(), s.heap_checked),
                ("checked-slow".into(), s.slow),
                ("frames".into(), s.frames),
                ("indirect-calls".into(), s.indirect_calls),
                ("packet-params".into(), s.packet_params),
            ])
        }
    }
}

/// Where a pointer comes from.
#[derive(Clone, Copy)]
enum Root {
    /// The function's unsafe frame (`frame` is the `inttoptr` of its address), `size` bytes.
    Frame { frame: Value, size: u64 },
    /// A global variable defined in the module.
    Global { g: Value, size: u64, constant: bool },
    /// A `byval` argument: the callee's own copy.
    ByVal { arg: Value, size: u64 },
    /// The runtime's bounds block (only via the descriptor).
    Bounds,
    /// The current packet's data (`D`, a load of the descriptor's data field).
    Packet { data: Value },
    /// Anything else: heap, or a pointer handed in from elsewhere.
    Unknown,
}

/// A pointer split into its root value and offset from it.
struct Decomposed {
    root: Value,
    /// `Some(c)` if the offset is a known constant.
    offset: Option<i64>,
}

struct Cx {
    m: LLVMModuleRef,
    c: LLVMContextRef,
    td: LLVMTargetDataRef,
    b: LLVMBuilderRef,
    mode: Mode,
    file: String,
    i8t: LLVMTypeRef,
    i1t: LLVMTypeRef,
    i32t: LLVMTypeRef,
    i64t: LLVMTypeRef,
    ptrt: LLVMTypeRef,
    voidt: LLVMTypeRef,
    bounds: Value,
    check: (Value, LLVMTypeRef),
    violation: (Value, LLVMTypeRef),
    guard: (Value, LLVMTypeRef),
    guard_pkt: (Value, LLVMTypeRef),
    guard_pkt_small: (Value, LLVMTypeRef),
    stack_guard: (Value, LLVMTypeRef),
    call_guard: (Value, LLVMTypeRef),
    sites: Vec<Site>,
    stats: Stats,
    /// Per function: the frame value and its size.
    frame: Option<(Value, u64)>,
    /// Per function: `mem_lo` and `mem_len`, loaded once at entry.
    mem_bounds: Option<(Value, Value)>,
    /// Instructions the pass itself created that touch the bounds block (frame prologue and
    /// epilogue): never instrumented.
    own: HashSet<Value>,
    /// The module's `nfcc_heap_check` calls, compiled function by function.
    heap_check_calls: Vec<Value>,
    /// Results of lowered `nfcc_heap_check` calls: pointers proven to lie in `mem`.
    heap_checked: HashSet<Value>,
    /// Per function: accesses that need a `mem` check, grouped by base at the end.
    pending_mem: Vec<MemAccess>,
    /// Pointer parameters every caller passes a packet pointer in (see `packet_params`).
    pkt_params: HashSet<Value>,
    /// Per function: the packet's data pointer, loaded once at entry, for those parameters.
    pkt_data: Option<Value>,
    /// Per function: accesses that get a packet check, grouped by block and base at the end.
    pending_pkt: Vec<PktAccess>,
    /// The group guards made so far, by (packet, members).
    group_helpers: HashMap<(bool, usize), (Value, LLVMTypeRef)>,
}

/// Accesses that share one guard: one base, one straight stretch of one block.
#[derive(PartialEq)]
struct GroupKey {
    block: LLVMBasicBlockRef,
    seg: u32,
    base: Value,
    data: Option<Value>,
    ok: Option<Value>,
}

/// One access of a group: where it stands in its block and what it touches.
struct Member {
    inst: Value,
    pos: u32,
    off: i64,
    n: u64,
    kind: u32,
}

/// An access to check against the packet, waiting to be grouped with others from the same
/// base in its block.
struct PktAccess {
    inst: Value,
    p: Value,
    n: u64,
    kind: u32,
    data: Value,
}

/// An access to check against `mem`, waiting to be grouped with others from the same base.
struct MemAccess {
    inst: Value,
    p: Value,
    n: u64,
    kind: u32,
}

fn err(file: &str, message: String) -> PassError {
    PassError::Abi { file: file.to_string(), message }
}

/// `where` text for an instruction: "in function `f` at file:line".
fn place(f: Value, inst: Value) -> String {
    match llvm::debug_location(inst) {
        Some((file, line)) if line > 0 => format!("in `{}` at {file}:{line}", llvm::name(f)),
        _ => format!("in `{}`", llvm::name(f)),
    }
}

impl Cx {
    unsafe fn new(m: LLVMModuleRef, td: LLVMTargetDataRef, mode: Mode, file: String) -> Cx {
        let c = LLVMGetModuleContext(m);
        let i8t = LLVMInt8TypeInContext(c);
        let i1t = LLVMInt1TypeInContext(c);
        let i32t = LLVMInt32TypeInContext(c);
        let i64t = LLVMInt64TypeInContext(c);
        let ptrt = LLVMPointerTypeInContext(c, 0);
        let voidt = LLVMVoidTypeInContext(c);
        let null = (std::ptr::null_mut(), std::ptr::null_mut());
        Cx {
            m,
            c,
            td,
            b: LLVMCreateBuilderInContext(c),
            mode,
            file,
            i8t,
            i1t,
            i32t,
            i64t,
            ptrt,
            voidt,
            bounds: std::ptr::null_mut(),
            check: null,
            violation: null,
            guard: null,
            guard_pkt: null,
            guard_pkt_small: null,
            stack_guard: null,
            call_guard: null,
            sites: Vec::new(),
            stats: Stats::default(),
            frame: None,
            mem_bounds: None,
            own: HashSet::new(),
            heap_check_calls: Vec::new(),
            heap_checked: HashSet::new(),
            pending_mem: Vec::new(),
            pkt_params: HashSet::new(),
            pkt_data: None,
            pending_pkt: Vec::new(),
            group_helpers: HashMap::new(),
        }
    }

    unsafe fn run(&mut self) -> Result<Stats, PassError> {
        let user_functions: Vec<Value> =
            llvm::functions(self.m).into_iter().filter(|&f| llvm::is_definition(f)).collect();
        self.refuse_unsupported(&user_functions)?;
        self.strip_assumptions(&user_functions);
        let taken = self.address_taken(&user_functions);
        self.refuse_byval_behind_pointers(&taken)?;
        self.declare_runtime();
        self.define_helpers(&taken);
        self.redirect_descriptor();
        self.pkt_params = self.packet_params(&user_functions, &taken);
        self.stats.packet_params = self.pkt_params.len() as u64;
        for &f in &user_functions {
            // Large frames touch every page on the way down, so a runaway stack always
            // meets the call stack's guard page rather than skipping over it.
            let (k, v) = ("probe-stack", "inline-asm");
            let a = LLVMCreateStringAttribute(self.c, k.as_ptr().cast(), k.len() as u32, v.as_ptr().cast(), v.len() as u32);
            LLVMAddAttributeAtIndex(f, u32::MAX, a);
            self.frame = None;
            self.mem_bounds = None;
            self.pkt_data = None;
            self.move_locals_to_frame(f)?;
            self.lower_heap_checks(f);
            self.instrument(f)?;
        }
        for &f in &user_functions {
            self.mark_invariant_bounds_loads(f);
        }
        self.emit_site_table();
        Ok(std::mem::take(&mut self.stats))
    }

    // ---- 1. refusals --------------------------------------------------------------

    unsafe fn refuse_unsupported(&self, funcs: &[Value]) -> Result<(), PassError> {
        for g in llvm::globals(self.m) {
            let n = llvm::name(g);
            if n == "llvm.global_ctors" || n == "llvm.global_dtors" {
                return Err(err(&self.file, "static constructors and destructors are not supported in protected modules: initialise state in nf_init".into()));
            }
            if RESERVED.iter().any(|r| n.starts_with(r)) {
                return Err(err(&self.file, format!("`{n}` is a name reserved for nfcc's runtime")));
            }
        }
        for f in llvm::functions(self.m) {
            let n = llvm::name(f);
            if RESERVED.iter().any(|r| n.starts_with(r)) {
                return Err(err(&self.file, format!("`{n}` is a name reserved for nfcc's runtime")));
            }
        }
        for &f in funcs {
            if LLVMIsFunctionVarArg(LLVMGlobalGetValueType(f)) != 0 {
                return Err(err(&self.file, format!("`{}` is variadic: protected modules cannot check va_arg", llvm::name(f))));
            }
            let entry = LLVMGetEntryBasicBlock(f);
            for b in llvm::blocks(f) {
                for i in llvm::instructions(b) {
                    match llvm::opcode(i) {
                        Some(LLVMOpcode::LLVMAlloca) => {
                            let count = llvm::const_int(llvm::operand(i, 0));
                            if b != entry || count.is_none() {
                                return Err(err(&self.file, format!("{}: variable-length or dynamic stack allocation is not supported in protected modules (allocate from the heap in nf_init)", place(f, i))));
                            }
                            if LLVMGetAlignment(i) > 16 {
                                return Err(err(&self.file, format!("{}: local variable aligned to {} bytes; protected modules support at most 16", place(f, i), LLVMGetAlignment(i))));
                            }
                        }
                        Some(LLVMOpcode::LLVMCall) | Some(LLVMOpcode::LLVMInvoke) | Some(LLVMOpcode::LLVMCallBr) => {
                            self.refuse_call(f, i)?;
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    unsafe fn refuse_call(&self, f: Value, call: Value) -> Result<(), PassError> {
        let callee = llvm::called_value(call);
        if llvm::is_inline_asm(callee) {
            return Err(err(&self.file, format!("{}: inline assembly cannot be checked; it is not allowed in protected modules", place(f, call))));
        }
        if llvm::opcode(call) != Some(LLVMOpcode::LLVMCall) {
            return Err(err(&self.file, format!("{}: `{}` is not supported in protected modules", place(f, call), llvm::print(call))));
        }
        let Some(target) = llvm::as_function(callee) else {
            return Ok(()); // indirect: guarded at run time
        };
        let name = llvm::name(target);
        if llvm::is_definition(target) || abi::RUNTIME_SERVICES.contains(&name.as_str()) || name == abi::SYM_HEAP_CHECK {
            return Ok(());
        }
        if name.starts_with("llvm.") {
            if PURE_INTRINSICS.iter().any(|p| name.starts_with(p))
                || MEM_INTRINSICS.iter().any(|(p, _)| name.starts_with(p))
                || name.starts_with("llvm.assume")
            {
                return Ok(());
            }
            return Err(err(&self.file, format!("{}: intrinsic `{name}` is not supported in protected modules", place(f, call))));
        }
        if LIBC.iter().any(|(n, _, _)| *n == name) {
            return Ok(());
        }
        Err(err(
            &self.file,
            format!(
                "{}: calls `{name}`, which is outside the module; protected modules may call only their own functions, the nfcc runtime services ({}) and the checked libc functions ({})",
                place(f, call),
                abi::RUNTIME_SERVICES.join(", "),
                LIBC.iter().map(|l| l.0).collect::<Vec<_>>().join(", ")
            ),
        ))
    }

    /// A function reached through a pointer may be called with the wrong type; if it takes
    /// a struct by value, it would then read and write its "copy" in the caller's call-stack
    /// frame, where return addresses live. Such functions must take a pointer instead.
    unsafe fn refuse_byval_behind_pointers(&self, taken: &[Value]) -> Result<(), PassError> {
        let byval = llvm::attr_kind("byval");
        for &f in taken {
            for idx in 0..LLVMCountParams(f) {
                if !LLVMGetEnumAttributeAtIndex(f, idx + 1, byval).is_null() {
                    return Err(err(&self.file, format!(
                        "`{}` takes a struct by value and is called through a function pointer; protected modules cannot check such calls: pass a pointer to the struct instead",
                        llvm::name(f)
                    )));
                }
            }
        }
        Ok(())
    }

    // ---- 2. strip what lets LLVM assume safety -------------------------------------

    unsafe fn strip_assumptions(&self, funcs: &[Value]) {
        let md_kinds: Vec<u32> = ["range", "nonnull", "dereferenceable", "dereferenceable_or_null", "align", "noundef"]
            .iter()
            .map(|k| llvm::md_kind(self.c, k))
            .collect();
        let attrs: Vec<u32> = ["dereferenceable", "dereferenceable_or_null", "nonnull", "noundef"]
            .iter()
            .map(|a| llvm::attr_kind(a))
            .filter(|&k| k != 0)
            .collect();
        for &f in funcs {
            let nparams = LLVMCountParams(f);
            for idx in 0..=nparams {
                for &k in &attrs {
                    LLVMRemoveEnumAttributeAtIndex(f, idx, k);
                }
            }
            let mut dead = Vec::new();
            for b in llvm::blocks(f) {
                for i in llvm::instructions(b) {
                    use LLVMOpcode::*;
                    match llvm::opcode(i) {
                        Some(LLVMGetElementPtr) => LLVMGEPSetNoWrapFlags(i, 0),
                        Some(LLVMAdd) | Some(LLVMSub) | Some(LLVMMul) | Some(LLVMShl) => {
                            LLVMSetNSW(i, 0);
                            LLVMSetNUW(i, 0);
                        }
                        Some(LLVMUDiv) | Some(LLVMSDiv) | Some(LLVMLShr) | Some(LLVMAShr) => LLVMSetExact(i, 0),
                        Some(LLVMZExt) => LLVMSetNNeg(i, 0),
                        Some(LLVMOr) => LLVMSetIsDisjoint(i, 0),
                        Some(LLVMLoad) => {
                            for &k in &md_kinds {
                                LLVMSetMetadata(i, k, std::ptr::null_mut());
                            }
                        }
                        Some(LLVMCall) => {
                            if let Some(t) = llvm::as_function(llvm::called_value(i)) {
                                if llvm::name(t).starts_with("llvm.assume") {
                                    dead.push(i);
                                    continue;
                                }
                            }
                            let nargs = LLVMGetNumArgOperands(i);
                            for idx in 0..=nargs {
                                for &k in &attrs {
                                    LLVMRemoveCallSiteEnumAttribute(i, idx, k);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            for i in dead {
                LLVMInstructionEraseFromParent(i);
            }
        }
    }

    /// Defined functions whose address is used other than as a direct callee.
    unsafe fn address_taken(&self, funcs: &[Value]) -> Vec<Value> {
        let mut taken = Vec::new();
        for &f in funcs {
            let mut u = LLVMGetFirstUse(f);
            while !u.is_null() {
                let user = LLVMGetUser(u);
                let is_callee = llvm::opcode(user) == Some(LLVMOpcode::LLVMCall)
                    && llvm::called_value(user) == f
                    && (0..LLVMGetNumArgOperands(user)).all(|k| llvm::operand(user, k) != f);
                if !is_callee {
                    taken.push(f);
                    break;
                }
                u = LLVMGetNextUse(u);
            }
        }
        taken
    }

    // ---- runtime declarations and helpers ------------------------------------------

    unsafe fn declare_fn(&self, name: &str, ret: LLVMTypeRef, params: &mut [LLVMTypeRef]) -> (Value, LLVMTypeRef) {
        let ty = LLVMFunctionType(ret, params.as_mut_ptr(), params.len() as u32, 0);
        let n = cstr(name);
        let f = LLVMAddFunction(self.m, n.as_ptr(), ty);
        (f, ty)
    }

    unsafe fn add_attr(&self, f: Value, name: &str) {
        let a = LLVMCreateEnumAttribute(self.c, llvm::attr_kind(name), 0);
        LLVMAddAttributeAtIndex(f, u32::MAX, a); // function index
    }

    unsafe fn declare_runtime(&mut self) {
        let arr = LLVMArrayType2(self.i8t, 128);
        let n = cstr(abi::SYM_BOUNDS);
        self.bounds = LLVMAddGlobal(self.m, arr, n.as_ptr());
        LLVMSetLinkage(self.bounds, LLVMLinkage::LLVMExternalLinkage);
        LLVMSetVisibility(self.bounds, LLVMVisibility::LLVMHiddenVisibility);
        LLVMSetAlignment(self.bounds, 64);
        self.check = self.declare_fn(abi::SYM_CHECK, self.voidt, &mut [self.i64t, self.i64t, self.i32t]);
        self.add_attr(self.check.0, "cold");
        self.add_attr(self.check.0, "nounwind");
        // It only reads; it never returns after writing (a violation leaves by longjmp).
        // Without `willreturn` LLVM keeps every call, but may keep values across it.
        let mem_read = LLVMCreateEnumAttribute(self.c, llvm::attr_kind("memory"), 0b01_01_01);
        LLVMAddAttributeAtIndex(self.check.0, u32::MAX, mem_read);
        LLVMSetVisibility(self.check.0, LLVMVisibility::LLVMHiddenVisibility);
        // The runtime defines it `preserve_most`: a slow path in a loop then costs the
        // caller no saved registers and no spills around it.
        LLVMSetFunctionCallConv(self.check.0, CHECK_CALL_CONV);
        self.violation = self.declare_fn(abi::SYM_VIOLATION, self.voidt, &mut [self.i32t, self.i64t]);
        // `preserve_most` as well (the runtime defines it so): it never returns, but the
        // build points a failed check's block at the way on after it
        // (`ContinueAfterViolation`), and with the C convention the values live across
        // that call would each take a callee-saved register, saved and restored on every
        // call of the function.
        LLVMSetFunctionCallConv(self.violation.0, CHECK_CALL_CONV);
        self.add_attr(self.violation.0, "cold");
        self.add_attr(self.violation.0, "noreturn");
        self.add_attr(self.violation.0, "nounwind");
        LLVMSetVisibility(self.violation.0, LLVMVisibility::LLVMHiddenVisibility);
    }

    /// Declares an internal, always-inlined helper (the caller fills its body).
    unsafe fn helper(&mut self, name: &str, ret: LLVMTypeRef, params: &mut [LLVMTypeRef]) -> (Value, LLVMTypeRef) {
        let (f, ty) = self.declare_fn(name, ret, params);
        LLVMSetLinkage(f, LLVMLinkage::LLVMInternalLinkage);
        self.add_attr(f, "alwaysinline");
        self.add_attr(f, "nounwind");
        (f, ty)
    }

    /// A guard helper `name(ok, addr, size, site)` for a pointer whose region is not known
    /// (`ok` tested `mem`): when `ok` failed, `in_packet(addr, size, data, len)` (built in
    /// the cold block from the current packet's data pointer and length) tests the packet
    /// before the slow path.
    unsafe fn packet_guard(&mut self, name: &str, in_packet: impl Fn(&Self, Value, Value, Value, Value) -> Value) -> (Value, LLVMTypeRef) {
        let e = cstr("");
        let helper = self.helper(name, self.voidt, &mut [self.i1t, self.i64t, self.i64t, self.i32t]);
        let f = helper.0;
        let (entry, cold, slow, done) = (self.block(f, "entry"), self.block(f, "pkt"), self.block(f, "slow"), self.block(f, "done"));
        LLVMPositionBuilderAtEnd(self.b, entry);
        let br = LLVMBuildCondBr(self.b, LLVMGetParam(f, 0), done, cold);
        self.unlikely(br);
        LLVMPositionBuilderAtEnd(self.b, cold);
        let (addr, size) = (LLVMGetParam(f, 1), LLVMGetParam(f, 2));
        let data = LLVMBuildLoad2(self.b, self.ptrt, self.bounds_at(abi::BOUNDS_PKT + abi::PACKET_DATA), e.as_ptr());
        let len = LLVMBuildLoad2(self.b, self.i32t, self.bounds_at(abi::BOUNDS_PKT + abi::PACKET_LEN), e.as_ptr());
        // Volatile: the loads (and the test built on them) stay in this cold block. Plain
        // loads of a global are safe to speculate, so LICM would hoist the whole test of
        // every guard in a loop into the loop's preheader, which runs on the hot path.
        LLVMSetVolatile(data, 1);
        LLVMSetVolatile(len, 1);
        let in_pkt = in_packet(self, addr, size, data, len);
        let br = LLVMBuildCondBr(self.b, in_pkt, done, slow);
        self.unlikely(br);
        LLVMPositionBuilderAtEnd(self.b, slow);
        let c = self.call(self.check, &mut [addr, size, LLVMGetParam(f, 3)]);
        LLVMSetInstructionCallConv(c, CHECK_CALL_CONV);
        LLVMBuildBr(self.b, done);
        LLVMPositionBuilderAtEnd(self.b, done);
        LLVMBuildRetVoid(self.b);
        helper
    }

    unsafe fn block(&self, f: Value, name: &str) -> LLVMBasicBlockRef {
        let n = cstr(name);
        LLVMAppendBasicBlockInContext(self.c, f, n.as_ptr())
    }

    unsafe fn unlikely(&self, br: Value) {
        // Failure paths are cold: lay the fast path straight.
        let kind = llvm::md_kind(self.c, "prof");
        let s = "branch_weights";
        let mut ops = [
            LLVMMDStringInContext2(self.c, s.as_ptr().cast(), s.len()),
            LLVMValueAsMetadata(LLVMConstInt(self.i32t, 2000, 0)),
            LLVMValueAsMetadata(LLVMConstInt(self.i32t, 1, 0)),
        ];
        let node = LLVMMDNodeInContext2(self.c, ops.as_mut_ptr(), ops.len());
        LLVMSetMetadata(br, kind, LLVMMetadataAsValue(self.c, node));
    }

    unsafe fn call(&self, f: (Value, LLVMTypeRef), args: &mut [Value]) -> Value {
        let empty = cstr("");
        LLVMBuildCall2(self.b, f.1, f.0, args.as_mut_ptr(), args.len() as u32, empty.as_ptr())
    }

    unsafe fn define_helpers(&mut self, taken: &[Value]) {
        let e = cstr("");
        // nfcc.guard(ok, addr, size, site): the slow path when the fast compare failed.
        self.guard = self.helper("nfcc.guard", self.voidt, &mut [self.i1t, self.i64t, self.i64t, self.i32t]);
        let f = self.guard.0;
        let (entry, slow, done) = (self.block(f, "entry"), self.block(f, "slow"), self.block(f, "done"));
        LLVMPositionBuilderAtEnd(self.b, entry);
        let br = LLVMBuildCondBr(self.b, LLVMGetParam(f, 0), done, slow);
        self.unlikely(br);
        LLVMPositionBuilderAtEnd(self.b, slow);
        let c = self.call(self.check, &mut [LLVMGetParam(f, 1), LLVMGetParam(f, 2), LLVMGetParam(f, 3)]);
        LLVMSetInstructionCallConv(c, CHECK_CALL_CONV);
        LLVMBuildBr(self.b, done);
        LLVMPositionBuilderAtEnd(self.b, done);
        LLVMBuildRetVoid(self.b);

        // nfcc.guard_pkt(ok, addr, size, site): the guard of a pointer whose region is not
        // known (`ok` tested `mem`): when `ok` failed, an exact inline test of `[addr,
        // addr+size)` against the current packet (headroom included) comes before the slow
        // path, so that keys and headers handed to library code by pointer stay cheap.
        self.guard_pkt = self.packet_guard("nfcc.guard_pkt", |g, addr, size, data, len| {
            let head = LLVMConstInt(g.i64t, abi::HEADROOM as u64, 0);
            let d = LLVMBuildPtrToInt(g.b, data, g.i64t, e.as_ptr());
            let start = LLVMBuildSub(g.b, d, head, e.as_ptr());
            let span = LLVMBuildAdd(g.b, LLVMBuildZExt(g.b, len, g.i64t, e.as_ptr()), head, e.as_ptr());
            let o = LLVMBuildSub(g.b, addr, start, e.as_ptr());
            let starts_in = LLVMBuildICmp(g.b, LLVMIntPredicate::LLVMIntULT, o, span, e.as_ptr());
            let room = LLVMBuildSub(g.b, span, o, e.as_ptr());
            let fits = LLVMBuildICmp(g.b, LLVMIntPredicate::LLVMIntULE, size, room, e.as_ptr());
            LLVMBuildAnd(g.b, starts_in, fits, e.as_ptr())
        });

        // nfcc.guard_pkt_small(ok, addr, size, site): `guard_pkt` for a constant size of
        // at most the headroom. The packet test is then the one `packet_check` compiles,
        // `(addr - data) + size <= len`: an `addr` up to size - 1 bytes below the data
        // wraps the sum to below size, which admits it, and it lies in the headroom.
        self.guard_pkt_small = self.packet_guard("nfcc.guard_pkt_small", |g, addr, size, data, len| {
            let d = LLVMBuildPtrToInt(g.b, data, g.i64t, e.as_ptr());
            let o = LLVMBuildSub(g.b, addr, d, e.as_ptr());
            let end = LLVMBuildAdd(g.b, o, size, e.as_ptr());
            let lz = LLVMBuildZExt(g.b, len, g.i64t, e.as_ptr());
            LLVMBuildICmp(g.b, LLVMIntPredicate::LLVMIntULE, end, lz, e.as_ptr())
        });

        // nfcc.stack_guard(ok, frame, site): unsafe stack exhausted -> violation.
        self.stack_guard = self.helper("nfcc.stack_guard", self.voidt, &mut [self.i1t, self.i64t, self.i32t]);
        let f = self.stack_guard.0;
        let (entry, bad, done) = (self.block(f, "entry"), self.block(f, "bad"), self.block(f, "done"));
        LLVMPositionBuilderAtEnd(self.b, entry);
        let br = LLVMBuildCondBr(self.b, LLVMGetParam(f, 0), done, bad);
        self.unlikely(br);
        LLVMPositionBuilderAtEnd(self.b, bad);
        let c = self.call(self.violation, &mut [LLVMGetParam(f, 2), LLVMGetParam(f, 1)]);
        LLVMSetInstructionCallConv(c, CHECK_CALL_CONV);
        LLVMBuildUnreachable(self.b);
        LLVMPositionBuilderAtEnd(self.b, done);
        LLVMBuildRetVoid(self.b);

        // nfcc.is_fn(p): p is one of the module's address-taken functions.
        let is_fn = self.declare_fn("nfcc.is_fn", self.i1t, &mut [self.ptrt]);
        LLVMSetLinkage(is_fn.0, LLVMLinkage::LLVMInternalLinkage);
        let entry = self.block(is_fn.0, "entry");
        LLVMPositionBuilderAtEnd(self.b, entry);
        let p = LLVMGetParam(is_fn.0, 0);
        let mut acc = LLVMConstInt(self.i1t, 0, 0);
        for &t in taken {
            let eq = LLVMBuildICmp(self.b, LLVMIntPredicate::LLVMIntEQ, p, t, e.as_ptr());
            acc = LLVMBuildOr(self.b, acc, eq, e.as_ptr());
        }
        LLVMBuildRet(self.b, acc);

        // nfcc.call_guard(p, site): indirect calls reach only the module's functions.
        self.call_guard = self.helper("nfcc.call_guard", self.voidt, &mut [self.ptrt, self.i32t]);
        let f = self.call_guard.0;
        let (entry, bad, done) = (self.block(f, "entry"), self.block(f, "bad"), self.block(f, "done"));
        LLVMPositionBuilderAtEnd(self.b, entry);
        let ok = self.call(is_fn, &mut [LLVMGetParam(f, 0)]);
        let br = LLVMBuildCondBr(self.b, ok, done, bad);
        self.unlikely(br);
        LLVMPositionBuilderAtEnd(self.b, bad);
        let addr = LLVMBuildPtrToInt(self.b, LLVMGetParam(f, 0), self.i64t, e.as_ptr());
        let c = self.call(self.violation, &mut [LLVMGetParam(f, 1), addr]);
        LLVMSetInstructionCallConv(c, CHECK_CALL_CONV);
        LLVMBuildUnreachable(self.b);
        LLVMPositionBuilderAtEnd(self.b, done);
        LLVMBuildRetVoid(self.b);
    }

    /// `getelementptr i8, @nfcc__bounds, off` as a constant.
    unsafe fn bounds_at(&self, off: u64) -> Value {
        let mut idx = [LLVMConstInt(self.i64t, off, 0)];
        LLVMConstGEP2(self.i8t, self.bounds, idx.as_mut_ptr(), 1)
    }

    // ---- 3. the descriptor ----------------------------------------------------------

    unsafe fn redirect_descriptor(&self) {
        let n = cstr(abi::SYM_PROCESS);
        let f = LLVMGetNamedFunction(self.m, n.as_ptr());
        if f.is_null() || !llvm::is_definition(f) || LLVMCountParams(f) != 1 {
            return;
        }
        LLVMReplaceAllUsesWith(LLVMGetParam(f, 0), self.bounds_at(abi::BOUNDS_PKT));
    }

    /// Loads of `mem_lo`, `mem_len` and the descriptor never change value while module
    /// code runs (no module region covers the bounds block, and the host writes it only
    /// between calls), so LLVM may merge them, and relate our checks to the NF's own
    /// `pkt->len` tests. `usp` is not invariant and is left alone.
    unsafe fn mark_invariant_bounds_loads(&self, f: Value) {
        let kind = llvm::md_kind(self.c, "invariant.load");
        let empty = LLVMMDNodeInContext2(self.c, std::ptr::null_mut(), 0);
        let invariant = |off: i64| {
            off == abi::BOUNDS_MEM_LO as i64
                || off == abi::BOUNDS_MEM_LEN as i64
                || (abi::BOUNDS_PKT as i64..abi::BOUNDS_PKT as i64 + 12).contains(&off)
        };
        for b in llvm::blocks(f) {
            for i in llvm::instructions(b) {
                if llvm::opcode(i) != Some(LLVMOpcode::LLVMLoad) {
                    continue;
                }
                let d = self.decompose(llvm::operand(i, 0));
                if d.root == self.bounds && d.offset.is_some_and(invariant) {
                    LLVMSetMetadata(i, kind, LLVMMetadataAsValue(self.c, empty));
                }
            }
        }
    }

    // ---- 4. locals to the unsafe frame ---------------------------------------------

    unsafe fn move_locals_to_frame(&mut self, f: Value) -> Result<(), PassError> {
        let entry = LLVMGetEntryBasicBlock(f);
        let allocas: Vec<Value> = llvm::instructions(entry)
            .into_iter()
            .filter(|&i| llvm::opcode(i) == Some(LLVMOpcode::LLVMAlloca))
            .collect();
        // Lifetime markers name allocas; once those are frame slots they mean nothing.
        for b in llvm::blocks(f) {
            for i in llvm::instructions(b) {
                if llvm::opcode(i) == Some(LLVMOpcode::LLVMCall) {
                    if let Some(t) = llvm::as_function(llvm::called_value(i)) {
                        if llvm::name(t).starts_with("llvm.lifetime.") {
                            LLVMInstructionEraseFromParent(i);
                        }
                    }
                }
            }
        }
        if allocas.is_empty() {
            return Ok(());
        }
        let mut layout = Vec::new();
        let mut size = 0u64;
        for &a in &allocas {
            let count = llvm::const_int(llvm::operand(a, 0)).unwrap_or(1).max(0) as u64;
            let bytes = llvm::alloc_size(self.td, LLVMGetAllocatedType(a)) * count;
            let align = (LLVMGetAlignment(a) as u64).max(1);
            size = size.div_ceil(align) * align;
            layout.push((a, size));
            size += bytes;
        }
        let frame_size = size.div_ceil(16).max(1) * 16;
        if frame_size > MAX_FRAME {
            return Err(err(&self.file, format!(
                "`{}` needs {frame_size} bytes of stack for its local variables; protected modules allow at most {MAX_FRAME} (allocate large buffers from the heap in nf_init)",
                llvm::name(f)
            )));
        }
        self.stats.frames += 1;
        let e = cstr("");
        // The runtime empties the unsafe stack before every call of an entry point
        // (`enter` and `call_burst` in nfcc_rt.c set usp to usp_top): one that the
        // module itself never calls or takes the address of has its frame right below
        // usp_top, and need not give it back, which frees the register the old usp would
        // be kept in. No compare either: the frame (at most MAX_FRAME) ends at usp_top,
        // which lies in mem at least MIN_UNSAFE_STACK above mem_lo, so it lies in mem.
        let name = llvm::name(f);
        let entry_point = (name == abi::SYM_PROCESS || name == abi::SYM_INIT) && LLVMGetFirstUse(f).is_null();
        // Insert after the allocas, which are about to be erased; an entry point's frame
        // where its locals are first needed (see `frame_block`).
        let home = if entry_point { self.frame_block(f, &allocas) } else { entry };
        let first = llvm::instructions(home)
            .into_iter()
            .find(|&i| !matches!(llvm::opcode(i), Some(LLVMOpcode::LLVMAlloca | LLVMOpcode::LLVMPHI)))
            .expect("a block ends in a terminator");
        LLVMPositionBuilderBefore(self.b, first);
        // usp_top is the word after usp in the bounds block.
        let from = if entry_point { abi::BOUNDS_USP + 8 } else { abi::BOUNDS_USP };
        let usp = LLVMBuildLoad2(self.b, self.i64t, self.bounds_at(from), e.as_ptr());
        let fi = LLVMBuildSub(self.b, usp, LLVMConstInt(self.i64t, frame_size, 0), e.as_ptr());
        if !entry_point {
            let lo = LLVMBuildLoad2(self.b, self.i64t, self.bounds_at(abi::BOUNDS_MEM_LO), e.as_ptr());
            let ok = LLVMBuildICmp(self.b, LLVMIntPredicate::LLVMIntUGE, fi, lo, e.as_ptr());
            let site = self.site(f, first, abi::ViolationKind::Stack.raw());
            self.call(self.stack_guard, &mut [ok, fi, LLVMConstInt(self.i32t, site as u64, 0)]);
        }
        let st = LLVMBuildStore(self.b, fi, self.bounds_at(abi::BOUNDS_USP));
        self.own.insert(st);
        let frame = LLVMBuildIntToPtr(self.b, fi, self.ptrt, e.as_ptr());
        for (a, off) in layout {
            let mut idx = [LLVMConstInt(self.i64t, off, 0)];
            let slot = LLVMBuildGEP2(self.b, self.i8t, frame, idx.as_mut_ptr(), 1, e.as_ptr());
            LLVMReplaceAllUsesWith(a, slot);
            LLVMInstructionEraseFromParent(a);
        }
        for b in llvm::blocks(f) {
            let t = LLVMGetBasicBlockTerminator(b);
            if !entry_point && !t.is_null() && llvm::opcode(t) == Some(LLVMOpcode::LLVMRet) {
                LLVMPositionBuilderBefore(self.b, t);
                let st = LLVMBuildStore(self.b, usp, self.bounds_at(abi::BOUNDS_USP));
                self.own.insert(st);
            }
        }
        self.frame = Some((frame, frame_size));
        Ok(())
    }

    /// Where an entry point sets up its frame: the deepest block that dominates every use
    /// of its locals and lies on no cycle (else the entry). Set up at the entry, the frame
    /// (a load of usp_top, a subtraction, a store of usp) keeps the paths that return before
    /// needing a local from being shrink-wrapped: they paid the whole prologue (the
    /// firewall's early drops, 11 instructions each). It needs no giving back, so it can
    /// sit anywhere that dominates its uses: a call before it still finds usp at usp_top,
    /// where its own frame cannot meet ours, which no local of ours has used yet; once set,
    /// usp stays below our frame until the call returns.
    unsafe fn frame_block(&self, f: Value, allocas: &[Value]) -> LLVMBasicBlockRef {
        let blocks = llvm::blocks(f);
        let entry = blocks[0];
        let index: HashMap<LLVMBasicBlockRef, usize> = blocks.iter().enumerate().map(|(i, b)| (*b, i)).collect();
        let succs: Vec<Vec<usize>> = blocks.iter().map(|b| llvm::successors(*b).iter().map(|s| index[s]).collect()).collect();
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); blocks.len()];
        for (i, ss) in succs.iter().enumerate() {
            for &s in ss {
                preds[s].push(i);
            }
        }
        let dom = llvm::dominators(&preds);
        // The blocks the locals are used in (a phi uses its value at the end of the
        // incoming block).
        let mut used: HashSet<usize> = HashSet::new();
        for &a in allocas {
            let mut u = LLVMGetFirstUse(a);
            while !u.is_null() {
                let user = LLVMGetUser(u);
                if llvm::opcode(user) == Some(LLVMOpcode::LLVMPHI) {
                    for k in 0..LLVMCountIncoming(user) {
                        if LLVMGetIncomingValue(user, k) == a {
                            used.insert(index[&LLVMGetIncomingBlock(user, k)]);
                        }
                    }
                } else {
                    used.insert(index[&LLVMGetInstructionParent(user)]);
                }
                u = LLVMGetNextUse(u);
            }
        }
        // Dominators of every use, deepest (most dominated) first.
        let mut common: Vec<usize> = (0..blocks.len()).filter(|&k| !used.is_empty() && used.iter().all(|&b| dom[b][k])).collect();
        common.sort_by_key(|&k| std::cmp::Reverse(dom[k].iter().filter(|&&d| d).count()));
        let on_cycle = |start: usize| {
            let mut seen = vec![false; blocks.len()];
            let mut work: Vec<usize> = succs[start].clone();
            while let Some(b) = work.pop() {
                if b == start {
                    return true;
                }
                if !std::mem::replace(&mut seen[b], true) {
                    work.extend(succs[b].iter().copied());
                }
            }
            false
        };
        common.into_iter().find(|&k| !on_cycle(k)).map_or(entry, |k| blocks[k])
    }

    // ---- 5/6. checks ------------------------------------------------------------------

    /// Records a site; returns its word (`index << 3 | kind`).
    unsafe fn site(&mut self, f: Value, inst: Value, kind: u32) -> u32 {
        let (file, line) = llvm::debug_location(inst).unwrap_or_default();
        self.sites.push(Site { function: llvm::name(f), file, line, kind });
        ((self.sites.len() - 1) as u32) << abi::SITE_KIND_BITS | kind
    }

    /// `r = nfcc_heap_check(p)` becomes `p in mem, or a violation` (`nfcc.stack_guard`'s
    /// shape: the failure never returns), and `r` a copy of `p` (`gep i8, p, 0`, which
    /// LLVM's cleanup folds) that `access` knows to lie in `mem`: accesses through it at
    /// bounded offsets are then proven (they land in `mem` or its guard zones).
    unsafe fn lower_heap_checks(&mut self, f: Value) {
        // Taken out of the list: each call is erased below.
        let (calls, rest): (Vec<Value>, Vec<Value>) =
            std::mem::take(&mut self.heap_check_calls).into_iter().partition(|&c| LLVMGetBasicBlockParent(LLVMGetInstructionParent(c)) == f);
        self.heap_check_calls = rest;
        let e = cstr("");
        for call in calls {
            let p = llvm::operand(call, 0);
            if self.mode == Mode::WriteOnly && !self.feeds_write(call) {
                // Loads are not checked in `wonly`: a check no store relies on is only cost.
                crate::heap_check::elide(call);
                continue;
            }
            self.stats.heap_checks += 1;
            LLVMPositionBuilderBefore(self.b, call);
            let ok = self.in_mem(f, p);
            LLVMPositionBuilderBefore(self.b, call);
            let addr = LLVMBuildPtrToInt(self.b, p, self.i64t, e.as_ptr());
            let site = self.site(f, call, abi::ViolationKind::Read.raw());
            self.call(self.stack_guard, &mut [ok, addr, LLVMConstInt(self.i32t, site as u64, 0)]);
            let mut idx = [LLVMConstInt(self.i64t, 0, 0)];
            let r = LLVMBuildGEP2(self.b, self.i8t, p, idx.as_mut_ptr(), 1, e.as_ptr());
            self.heap_checked.insert(r);
            LLVMReplaceAllUsesWith(call, r);
            LLVMInstructionEraseFromParent(call);
        }
    }

    /// True if `v` (a pointer) reaches, through GEPs, casts, phis and selects, the address
    /// of a store, an atomic or a memory intrinsic's destination in this function.
    unsafe fn feeds_write(&self, v: Value) -> bool {
        let mut seen = HashSet::new();
        let mut work = vec![v];
        while let Some(x) = work.pop() {
            if !seen.insert(x) {
                continue;
            }
            let mut u = LLVMGetFirstUse(x);
            while !u.is_null() {
                let user = LLVMGetUser(u);
                use LLVMOpcode::*;
                match llvm::opcode(user) {
                    Some(LLVMGetElementPtr | LLVMBitCast | LLVMAddrSpaceCast | LLVMPHI | LLVMSelect) => work.push(user),
                    Some(LLVMStore) if llvm::operand(user, 1) == x => return true,
                    Some(LLVMAtomicRMW | LLVMAtomicCmpXchg) if llvm::operand(user, 0) == x => return true,
                    Some(LLVMCall) => {
                        let name = llvm::as_function(llvm::called_value(user)).map(llvm::name).unwrap_or_default();
                        if memory_function(&name).is_some_and(|(writes0, _)| writes0) && llvm::operand(user, 0) == x {
                            return true;
                        }
                    }
                    _ => {}
                }
                u = LLVMGetNextUse(u);
            }
        }
        false
    }

    unsafe fn instrument(&mut self, f: Value) -> Result<(), PassError> {
        // Collect first: instrumenting inserts instructions.
        let mut work = Vec::new();
        for b in llvm::blocks(f) {
            for i in llvm::instructions(b) {
                work.push(i);
            }
        }
        let rw = self.mode == Mode::ReadWrite;
        for i in work {
            if self.own.contains(&i) {
                continue;
            }
            use LLVMOpcode::*;
            let (read, write) = (abi::ViolationKind::Read.raw(), abi::ViolationKind::Write.raw());
            match llvm::opcode(i) {
                Some(LLVMLoad) if rw => {
                    let n = llvm::store_size(self.td, LLVMTypeOf(i));
                    self.access(f, i, llvm::operand(i, 0), Len::Const(n), read)?;
                }
                Some(LLVMStore) => {
                    let n = llvm::store_size(self.td, LLVMTypeOf(llvm::operand(i, 0)));
                    self.access(f, i, llvm::operand(i, 1), Len::Const(n), write)?;
                }
                Some(LLVMAtomicRMW) | Some(LLVMAtomicCmpXchg) => {
                    let n = llvm::store_size(self.td, LLVMTypeOf(llvm::operand(i, 1)));
                    self.access(f, i, llvm::operand(i, 0), Len::Const(n), write)?;
                }
                Some(LLVMCall) => self.instrument_call(f, i)?,
                _ => {}
            }
        }
        self.flush_mem_checks(f);
        self.flush_packet_checks(f);
        Ok(())
    }

    /// Emits the `mem` checks. Every base pointer gets one compare, `ok = base in mem`,
    /// where it is defined; an access at a constant offset from it (within
    /// `MEM_GUARD_REACH`) then only branches on `ok`: if the base is in `mem`, the access
    /// lands in `mem` or in the guard zone around it, which faults (a contained violation).
    /// If `ok` is false the access takes the exact slow path, which decides it alone: `ok`
    /// never stops a module by itself. (Passing `ok` through loop phis would save a compare
    /// per iteration, but the verifier cannot prove such inductive facts yet.)
    unsafe fn flush_mem_checks(&mut self, f: Value) {
        let pending = std::mem::take(&mut self.pending_mem);
        if pending.is_empty() {
            return;
        }
        let reach = abi::MEM_GUARD_REACH;
        let mut oks: HashMap<Value, Value> = HashMap::new();
        let places = self.places(f);
        let mut groups: Vec<(GroupKey, Vec<Member>)> = Vec::new();
        for a in pending {
            let n = a.n as i64;
            let (base, lo, hi) = self.split_bounded(a.p);
            if lo != hi && lo > -reach && hi.saturating_add(n) <= abi::MEM_INDEX_REACH && a.n <= abi::HEADROOM as u64 {
                // An index the code bounds: if `base` lies in `mem`, the access lands in
                // `mem` or in the guard above it. One compare per base; each access only
                // branches on it (its address is not known before it runs, so no group).
                let fresh = !oks.contains_key(&base);
                let ok = self.ok_of(f, base, &mut oks);
                if fresh {
                    self.stats.mem += 1;
                }
                self.stats.indexed += 1;
                LLVMPositionBuilderBefore(self.b, a.inst);
                let e = cstr("");
                let addr = LLVMBuildPtrToInt(self.b, a.p, self.i64t, e.as_ptr());
                self.guard_unknown(f, a.inst, ok, addr, LLVMConstInt(self.i64t, a.n, 0), a.kind);
                continue;
            }
            // Every offset known exactly (lo == hi): that is the base and constant offset.
            let (base, off) = if lo == hi { (base, lo) } else { self.split_const(a.p) };
            if off <= -reach || off.saturating_add(n) >= reach {
                LLVMPositionBuilderBefore(self.b, a.inst);
                self.mem_check(f, a.inst, a.p, a.n, a.kind);
                continue;
            }
            let fresh = !oks.contains_key(&base);
            let ok = self.ok_of(f, base, &mut oks);
            if fresh {
                self.stats.mem += 1;
            } else {
                self.stats.merged += 1;
            }
            if a.n > abi::HEADROOM as u64 {
                // Too large for the group's packet test: its own guard.
                LLVMPositionBuilderBefore(self.b, a.inst);
                let e = cstr("");
                let addr = LLVMBuildPtrToInt(self.b, a.p, self.i64t, e.as_ptr());
                self.guard_unknown(f, a.inst, ok, addr, LLVMConstInt(self.i64t, a.n, 0), a.kind);
                continue;
            }
            let (block, seg, pos) = places[&a.inst];
            let key = GroupKey { block, seg, base, data: None, ok: Some(ok) };
            let m = Member { inst: a.inst, pos, off, n: a.n, kind: a.kind };
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, ms)) => ms.push(m),
                None => groups.push((key, vec![m])),
            }
        }
        for (key, members) in groups {
            let ok = key.ok.expect("a mem group has its compare");
            self.group_guard(f, false, ok, key.base, members);
        }
    }

    /// Where each instruction of `f` stands: its block, its segment (how many calls that
    /// might not return precede it in the block) and its position.
    unsafe fn places(&self, f: Value) -> HashMap<Value, (LLVMBasicBlockRef, u32, u32)> {
        let mut out = HashMap::new();
        for b in llvm::blocks(f) {
            let mut seg = 0;
            for (pos, i) in llvm::instructions(b).into_iter().enumerate() {
                out.insert(i, (b, seg, pos as u32));
                if llvm::opcode(i) == Some(LLVMOpcode::LLVMCall) && self.is_barrier(i) {
                    seg += 1;
                }
            }
        }
        out
    }

    /// A call after which the rest of its block might not run: anything but LLVM's
    /// intrinsics, the pass's own guards and the checked memory functions, which return
    /// (or stop the module, as a failed check would).
    unsafe fn is_barrier(&self, call: Value) -> bool {
        let Some(t) = llvm::as_function(llvm::called_value(call)) else { return true };
        let n = llvm::name(t);
        !(n.starts_with("llvm.") || n.starts_with("nfcc.") || LIBC.iter().any(|l| l.0 == n))
    }

    /// One guard for accesses at constant offsets from `base` in one straight stretch of a
    /// block (no call between them that might not return), placed before the first: they
    /// all run once it does. If `ok` (the base lies in `mem`, or for the packet, their span
    /// lies in it) holds, none of them needs more; if not, each is tested exactly on its
    /// own, in order, before the first runs: the packet inline for a pointer of unknown
    /// region, then the runtime's slow path. So a module is stopped here only if one of
    /// the accesses it is about to make is outside its regions, never for the group.
    unsafe fn group_guard(&mut self, f: Value, pkt: bool, ok: Value, base: Value, mut members: Vec<Member>) {
        members.sort_by_key(|m| m.pos);
        // Long runs (an unrolled loop's stores) take one guard per few members: each access
        // is then proven from a handful of slow paths, not from all of them.
        while members.len() > MAX_GROUP {
            let rest = members.split_off(MAX_GROUP);
            self.group_guard(f, pkt, ok, base, std::mem::replace(&mut members, rest));
        }
        let e = cstr("");
        let first = members[0].inst;
        LLVMPositionBuilderBefore(self.b, first);
        let mut args = vec![ok];
        for m in &members {
            let mut idx = [LLVMConstInt(self.i64t, m.off as u64, 1)];
            let p = LLVMBuildGEP2(self.b, self.i8t, base, idx.as_mut_ptr(), 1, e.as_ptr());
            args.push(LLVMBuildPtrToInt(self.b, p, self.i64t, e.as_ptr()));
            args.push(LLVMConstInt(self.i64t, m.n, 0));
            let site = self.site(f, m.inst, m.kind);
            args.push(LLVMConstInt(self.i32t, site as u64, 0));
        }
        let helper = self.group_helper(pkt, members.len());
        LLVMPositionBuilderBefore(self.b, first);
        self.call(helper, &mut args);
    }

    /// `nfcc.group.{mem,pkt}.K(ok, addr1, size1, site1, ..., addrK, sizeK, siteK)`: see
    /// `group_guard`. The packet test of a mem group is `guard_pkt_small`'s (sizes up to
    /// the headroom).
    unsafe fn group_helper(&mut self, pkt: bool, k: usize) -> (Value, LLVMTypeRef) {
        if let Some(&h) = self.group_helpers.get(&(pkt, k)) {
            return h;
        }
        let e = cstr("");
        let mut params = vec![self.i1t];
        for _ in 0..k {
            params.extend([self.i64t, self.i64t, self.i32t]);
        }
        let name = format!("nfcc.group.{}.{k}", if pkt { "pkt" } else { "mem" });
        let h = self.helper(&name, self.voidt, &mut params);
        let f = h.0;
        let b = LLVMCreateBuilderInContext(self.c);
        let (entry, test, slow, done) = (self.block(f, "entry"), self.block(f, "pkt"), self.block(f, "slow"), self.block(f, "done"));
        let member = |j: usize| (LLVMGetParam(f, 1 + 3 * j as u32), LLVMGetParam(f, 2 + 3 * j as u32), LLVMGetParam(f, 3 + 3 * j as u32));
        LLVMPositionBuilderAtEnd(b, entry);
        let br = LLVMBuildCondBr(b, LLVMGetParam(f, 0), done, if pkt { slow } else { test });
        self.unlikely(br);
        // One test of all the members against the packet, then one block of slow paths:
        // each way into `done` proves every member on its own (no path per member).
        LLVMPositionBuilderAtEnd(b, test);
        if !pkt {
            let data = LLVMBuildLoad2(b, self.ptrt, self.bounds_at(abi::BOUNDS_PKT + abi::PACKET_DATA), e.as_ptr());
            let len = LLVMBuildLoad2(b, self.i32t, self.bounds_at(abi::BOUNDS_PKT + abi::PACKET_LEN), e.as_ptr());
            LLVMSetVolatile(data, 1);
            LLVMSetVolatile(len, 1);
            let d = LLVMBuildPtrToInt(b, data, self.i64t, e.as_ptr());
            let lz = LLVMBuildZExt(b, len, self.i64t, e.as_ptr());
            let mut all = LLVMConstInt(self.i1t, 1, 0);
            for j in 0..k {
                let (addr, size, _) = member(j);
                let o = LLVMBuildSub(b, addr, d, e.as_ptr());
                let end = LLVMBuildAdd(b, o, size, e.as_ptr());
                let in_pkt = LLVMBuildICmp(b, LLVMIntPredicate::LLVMIntULE, end, lz, e.as_ptr());
                all = LLVMBuildAnd(b, all, in_pkt, e.as_ptr());
            }
            let br = LLVMBuildCondBr(b, all, done, slow);
            self.unlikely(br);
        } else {
            LLVMBuildBr(b, slow);
        }
        LLVMPositionBuilderAtEnd(b, slow);
        for j in 0..k {
            let (addr, size, site) = member(j);
            let mut a = [addr, size, site];
            let c = LLVMBuildCall2(b, self.check.1, self.check.0, a.as_mut_ptr(), 3, e.as_ptr());
            LLVMSetInstructionCallConv(c, CHECK_CALL_CONV);
        }
        LLVMBuildBr(b, done);
        LLVMPositionBuilderAtEnd(b, done);
        LLVMBuildRetVoid(b);
        LLVMDisposeBuilder(b);
        self.group_helpers.insert((pkt, k), h);
        h
    }

    /// Emits the packet checks. Accesses at constant offsets from one base in one straight
    /// stretch of a block (a header field read byte by byte, a checksum patched) share one
    /// guard (`group_guard`) on one test of the span they cover, `(first - data) + span <=
    /// len`; the span is contiguous, so it holds exactly when each of them lies in the
    /// packet. Spans stay within the headroom, which the test's form needs (see `access`).
    unsafe fn flush_packet_checks(&mut self, f: Value) {
        let pending = std::mem::take(&mut self.pending_pkt);
        if pending.is_empty() {
            return;
        }
        let places = self.places(f);
        let mut groups: Vec<(GroupKey, Vec<(PktAccess, Member)>)> = Vec::new();
        for a in pending {
            let (base, off) = self.split_const(a.p);
            let (block, seg, pos) = places[&a.inst];
            let key = GroupKey { block, seg, base, data: Some(a.data), ok: None };
            let m = Member { inst: a.inst, pos, off, n: a.n, kind: a.kind };
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, ms)) => ms.push((a, m)),
                None => groups.push((key, vec![(a, m)])),
            }
        }
        let e = cstr("");
        for (key, members) in groups {
            let lo = members.iter().map(|(_, m)| m.off).min().unwrap_or(0);
            let hi = members.iter().map(|(_, m)| m.off.saturating_add(m.n as i64)).max().unwrap_or(0);
            let span = hi.saturating_sub(lo);
            if members.len() == 1 || span <= 0 || span > abi::HEADROOM as i64 {
                for (a, _) in members {
                    LLVMPositionBuilderBefore(self.b, a.inst);
                    self.packet_check(f, a.inst, a.p, a.data, a.n, a.kind);
                }
                continue;
            }
            let first = members.iter().min_by_key(|(_, m)| m.pos).expect("a group has members").1.inst;
            LLVMPositionBuilderBefore(self.b, first);
            self.stats.packet += 1;
            self.stats.merged += members.len() as u64 - 1;
            let mut idx = [LLVMConstInt(self.i64t, lo as u64, 1)];
            let start = LLVMBuildGEP2(self.b, self.i8t, key.base, idx.as_mut_ptr(), 1, e.as_ptr());
            let ok = self.packet_ok(start, key.data.expect("a packet group has its data"), span as u64);
            self.group_guard(f, true, ok, key.base, members.into_iter().map(|(_, m)| m).collect());
        }
    }

    /// `(p - data) + n <= len` at the builder's position.
    unsafe fn packet_ok(&mut self, p: Value, data: Value, n: u64) -> Value {
        let e = cstr("");
        let a = LLVMBuildPtrToInt(self.b, p, self.i64t, e.as_ptr());
        let d = LLVMBuildPtrToInt(self.b, data, self.i64t, e.as_ptr());
        let o = LLVMBuildSub(self.b, a, d, e.as_ptr());
        let end = LLVMBuildAdd(self.b, o, LLVMConstInt(self.i64t, n, 0), e.as_ptr());
        let len = LLVMBuildLoad2(self.b, self.i32t, self.bounds_at(abi::BOUNDS_PKT + abi::PACKET_LEN), e.as_ptr());
        let lz = LLVMBuildZExt(self.b, len, self.i64t, e.as_ptr());
        LLVMBuildICmp(self.b, LLVMIntPredicate::LLVMIntULE, end, lz, e.as_ptr())
    }

    /// `base in mem` as an i1, computed where `base` is defined (memoised in `oks`).
    unsafe fn ok_of(&mut self, f: Value, base: Value, oks: &mut HashMap<Value, Value>) -> Value {
        if let Some(&ok) = oks.get(&base) {
            return ok;
        }
        let ok = self.compare_after(f, base);
        oks.insert(base, ok);
        ok
    }

    /// `v in mem`, computed right after `v` is defined.
    unsafe fn compare_after(&mut self, f: Value, v: Value) -> Value {
        let (_, len) = self.mem_bounds(f);
        self.position_after_definition(v, len);
        self.in_mem(f, v)
    }

    /// `(ptrtoint v) - mem_lo <u mem_len` at the builder's position.
    unsafe fn in_mem(&mut self, f: Value, v: Value) -> Value {
        let (lo, len) = self.mem_bounds(f);
        let e = cstr("");
        let a = LLVMBuildPtrToInt(self.b, v, self.i64t, e.as_ptr());
        let o = LLVMBuildSub(self.b, a, lo, e.as_ptr());
        LLVMBuildICmp(self.b, LLVMIntPredicate::LLVMIntULT, o, len, e.as_ptr())
    }

    /// Positions the builder right after `v` is defined (after the phis of its block for a
    /// phi; at the function's top, after `after`, for arguments and constants).
    unsafe fn position_after_definition(&self, v: Value, after: Value) {
        if llvm::opcode(v).is_none() {
            LLVMPositionBuilderBefore(self.b, LLVMGetNextInstruction(after));
            return;
        }
        if llvm::opcode(v) == Some(LLVMOpcode::LLVMPHI) {
            let block = LLVMGetInstructionParent(v);
            let first = llvm::instructions(block)
                .into_iter()
                .find(|&i| llvm::opcode(i) != Some(LLVMOpcode::LLVMPHI))
                .expect("a block ends in a terminator");
            LLVMPositionBuilderBefore(self.b, first);
            return;
        }
        LLVMPositionBuilderBefore(self.b, LLVMGetNextInstruction(v));
    }

    /// `p` as a base plus a constant offset, through GEPs with constant indices and casts.
    unsafe fn split_const(&self, mut p: Value) -> (Value, i64) {
        let mut off = 0i64;
        loop {
            if self.heap_checked.contains(&p) {
                return (p, off);
            }
            let op = llvm::opcode(p).or_else(|| llvm::const_expr_opcode(p));
            match op {
                Some(LLVMOpcode::LLVMGetElementPtr) => match self.gep_offset(p).and_then(|g| off.checked_add(g)) {
                    Some(o) => {
                        off = o;
                        p = llvm::operand(p, 0);
                    }
                    None => return (p, off),
                },
                Some(LLVMOpcode::LLVMBitCast) | Some(LLVMOpcode::LLVMAddrSpaceCast) => p = llvm::operand(p, 0),
                _ => return (p, off),
            }
        }
    }

    /// `p` as a base plus an offset in `[lo, hi]`, through casts and GEPs whose variable
    /// indices the code bounds (`index_max`); `lo == hi` when every index is constant.
    /// Stops at the first GEP it cannot bound (that GEP is then the base). A phi or select
    /// whose incoming pointers all split to one heap-checked base (a probe loop's slot,
    /// PRE's merged address) splits to that base at the union of their ranges: its check
    /// dominates every use, which the verifier carries into each incoming path.
    unsafe fn split_bounded(&self, p: Value) -> (Value, i64, i64) {
        let (q, lo, hi) = self.split_geps(p);
        let merged = self.split_merge(q).filter(|(base, _, _)| self.heap_checked.contains(base));
        match merged.and_then(|(base, a, b)| Some((base, lo.checked_add(a)?, hi.checked_add(b)?))) {
            Some(split) => split,
            None => (q, lo, hi),
        }
    }

    /// `p` as a base plus an offset in `[lo, hi]` through casts and boundable GEPs only,
    /// stopping at a heap-checked pointer or at the first GEP it cannot bound.
    unsafe fn split_geps(&self, mut p: Value) -> (Value, i64, i64) {
        let (mut lo, mut hi) = (0i64, 0i64);
        loop {
            if self.heap_checked.contains(&p) {
                return (p, lo, hi);
            }
            match llvm::opcode(p).or_else(|| llvm::const_expr_opcode(p)) {
                Some(LLVMOpcode::LLVMGetElementPtr) => {
                    match self.gep_range(p).and_then(|(a, b)| Some((lo.checked_add(a)?, hi.checked_add(b)?))) {
                        Some((a, b)) => {
                            (lo, hi) = (a, b);
                            p = llvm::operand(p, 0);
                        }
                        None => return (p, lo, hi),
                    }
                }
                Some(LLVMOpcode::LLVMBitCast) | Some(LLVMOpcode::LLVMAddrSpaceCast) => p = llvm::operand(p, 0),
                _ => return (p, lo, hi),
            }
        }
    }

    /// For a phi or select: the one base all its incoming pointers split to (`split_geps`:
    /// not through further merges, so a loop's phi never meets itself), and the union of
    /// their ranges. None if they split to different bases, or to a base that is itself a
    /// phi or select: it may have changed since the incoming value was computed from it
    /// (two phis of one loop header).
    unsafe fn split_merge(&self, p: Value) -> Option<(Value, i64, i64)> {
        let mut out: Option<(Value, i64, i64)> = None;
        for v in llvm::merged_values(p)? {
            let (q, lo, hi) = self.split_geps(v);
            if llvm::merged_values(q).is_some() {
                return None;
            }
            out = match out {
                None => Some((q, lo, hi)),
                Some((base, a, b)) if base == q => Some((base, a.min(lo), b.max(hi))),
                Some(_) => return None,
            };
        }
        out
    }

    /// The byte offsets `[lo, hi]` a GEP may add: constant indices add their offset, a
    /// variable index its range `[0, index_max]` times its element size. None if an index
    /// may be negative (GEP indices are signed) or the sum overflows.
    unsafe fn gep_range(&self, gep: Value) -> Option<(i64, i64)> {
        let mut ty = LLVMGetGEPSourceElementType(gep);
        let n = llvm::num_operands(gep);
        let (mut lo, mut hi) = (0i64, 0i64);
        for k in 1..n {
            let idx = llvm::operand(gep, k);
            let elem = if k == 1 {
                llvm::alloc_size(self.td, ty) as i64
            } else {
                match llvm::type_kind(ty) {
                    LLVMTypeKind::LLVMStructTypeKind => {
                        // Struct indices are always constants.
                        let i = llvm::const_int(idx)?;
                        let o = inkwell::llvm_sys::target::LLVMOffsetOfElement(self.td, ty, i as u32) as i64;
                        ty = LLVMStructGetTypeAtIndex(ty, i as u32);
                        lo = lo.checked_add(o)?;
                        hi = hi.checked_add(o)?;
                        continue;
                    }
                    LLVMTypeKind::LLVMArrayTypeKind | LLVMTypeKind::LLVMVectorTypeKind => {
                        ty = LLVMGetElementType(ty);
                        llvm::alloc_size(self.td, ty) as i64
                    }
                    _ => return None,
                }
            };
            let (a, b) = match llvm::const_int(idx) {
                Some(c) => {
                    let o = c.checked_mul(elem)?;
                    (o, o)
                }
                None => {
                    let w = LLVMGetIntTypeWidth(LLVMTypeOf(idx));
                    let max = index_max(idx, 0);
                    // Sign-extended to 64 bits: non-negative only below 2^(w-1).
                    if w == 0 || w > 64 || max >= 1u64 << (w - 1) {
                        return None;
                    }
                    (0, i64::try_from(max).ok()?.checked_mul(elem)?)
                }
            };
            lo = lo.checked_add(a.min(b))?;
            hi = hi.checked_add(a.max(b))?;
        }
        Some((lo, hi))
    }

    unsafe fn instrument_call(&mut self, f: Value, call: Value) -> Result<(), PassError> {
        let callee = llvm::called_value(call);
        let Some(target) = llvm::as_function(callee) else {
            self.stats.indirect_calls += 1;
            LLVMPositionBuilderBefore(self.b, call);
            let site = self.site(f, call, abi::ViolationKind::Call.raw());
            self.call(self.call_guard, &mut [callee, LLVMConstInt(self.i32t, site as u64, 0)]);
            return Ok(());
        };
        let name = llvm::name(target);
        let Some((writes0, reads1)) = memory_function(&name) else {
            return Ok(());
        };
        let len = llvm::operand(call, 2);
        let len = match llvm::const_int(len) {
            Some(n) if n >= 0 => Len::Const(n as u64),
            _ => Len::Dyn(len),
        };
        let (read, write) = (abi::ViolationKind::Read.raw(), abi::ViolationKind::Write.raw());
        let rw = self.mode == Mode::ReadWrite;
        if writes0 {
            self.access(f, call, llvm::operand(call, 0), len, write)?;
        } else if rw {
            self.access(f, call, llvm::operand(call, 0), len, read)?;
        }
        if reads1 && rw {
            self.access(f, call, llvm::operand(call, 1), len, read)?;
        }
        Ok(())
    }

    /// Splits `p` into root and offset, through GEPs and casts.
    unsafe fn decompose(&self, mut p: Value) -> Decomposed {
        let mut offset = Some(0i64);
        loop {
            let op = llvm::opcode(p).or_else(|| llvm::const_expr_opcode(p));
            match op {
                Some(LLVMOpcode::LLVMGetElementPtr) => {
                    let step = self.gep_offset(p);
                    offset = match (offset, step) {
                        (Some(a), Some(b)) => a.checked_add(b),
                        _ => None,
                    };
                    p = llvm::operand(p, 0);
                }
                Some(LLVMOpcode::LLVMBitCast) | Some(LLVMOpcode::LLVMAddrSpaceCast) => p = llvm::operand(p, 0),
                _ => return Decomposed { root: p, offset },
            }
        }
    }

    /// The constant byte offset a GEP adds, if all its indices are constant.
    unsafe fn gep_offset(&self, gep: Value) -> Option<i64> {
        let mut ty = LLVMGetGEPSourceElementType(gep);
        let n = llvm::num_operands(gep);
        let mut off: i64 = 0;
        for k in 1..n {
            let idx = llvm::const_int(llvm::operand(gep, k))?;
            if k == 1 {
                off = off.checked_add(idx.checked_mul(llvm::alloc_size(self.td, ty) as i64)?)?;
                continue;
            }
            match llvm::type_kind(ty) {
                LLVMTypeKind::LLVMStructTypeKind => {
                    off = off.checked_add(inkwell::llvm_sys::target::LLVMOffsetOfElement(self.td, ty, idx as u32) as i64)?;
                    ty = LLVMStructGetTypeAtIndex(ty, idx as u32);
                }
                LLVMTypeKind::LLVMArrayTypeKind | LLVMTypeKind::LLVMVectorTypeKind => {
                    ty = LLVMGetElementType(ty);
                    off = off.checked_add(idx.checked_mul(llvm::alloc_size(self.td, ty) as i64)?)?;
                }
                _ => return None,
            }
        }
        Some(off)
    }

    unsafe fn classify(&self, root: Value) -> Root {
        if let Some((frame, size)) = self.frame {
            if root == frame {
                return Root::Frame { frame, size };
            }
        }
        if root == self.bounds {
            return Root::Bounds;
        }
        if let Some(g) = llvm::as_global_var(root) {
            if llvm::is_definition(g) {
                let size = llvm::alloc_size(self.td, LLVMGlobalGetValueType(g));
                return Root::Global { g, size, constant: LLVMIsGlobalConstant(g) != 0 };
            }
            return Root::Unknown;
        }
        if !LLVMIsAArgument(root).is_null() {
            let f = LLVMGetParamParent(root);
            let idx = (0..LLVMCountParams(f)).find(|&k| LLVMGetParam(f, k) == root).unwrap_or(0);
            let a = LLVMGetEnumAttributeAtIndex(f, idx + 1, llvm::attr_kind("byval"));
            if !a.is_null() {
                let size = llvm::alloc_size(self.td, LLVMGetTypeAttributeValue(a));
                return Root::ByVal { arg: root, size };
            }
            return Root::Unknown;
        }
        if llvm::opcode(root) == Some(LLVMOpcode::LLVMLoad)
            && llvm::type_kind(LLVMTypeOf(root)) == LLVMTypeKind::LLVMPointerTypeKind
        {
            let d = self.decompose(llvm::operand(root, 0));
            if d.root == self.bounds && d.offset == Some((abi::BOUNDS_PKT + abi::PACKET_DATA) as i64) {
                return Root::Packet { data: root };
            }
        }
        Root::Unknown
    }

    unsafe fn access(&mut self, f: Value, inst: Value, p: Value, len: Len, kind: u32) -> Result<(), PassError> {
        self.stats.accesses += 1;
        LLVMPositionBuilderBefore(self.b, inst);
        let e = cstr("");
        // At most `len` bytes from a heap-checked base at a bounded offset, all within the
        // guard's reach: the access lands in `mem` or in a guard zone, which faults. This
        // covers the memory functions too (a key copied or compared at a masked index,
        // its length masked): whatever order they touch bytes in, each one faults or is
        // the module's own.
        let most = match len {
            Len::Const(n) => n,
            Len::Dyn(v) => index_max(v, 0),
        };
        if most > 0 && most <= abi::MEM_INDEX_REACH as u64 {
            let (base, lo, hi) = self.split_bounded(p);
            if self.heap_checked.contains(&base)
                && lo > -abi::MEM_GUARD_REACH
                && hi.saturating_add(most as i64) <= abi::MEM_INDEX_REACH
            {
                self.stats.heap_checked += 1;
                return Ok(());
            }
        }
        let n = match len {
            Len::Const(0) => {
                self.stats.proven += 1;
                return Ok(());
            }
            Len::Const(n) if n < MAX_INLINE_CHECK => n,
            Len::Const(n) => return Ok(self.range_check(f, inst, p, LLVMConstInt(self.i64t, n, 0), kind)),
            Len::Dyn(v) => {
                let w = LLVMGetIntTypeWidth(LLVMTypeOf(v));
                let l = if w < 64 { LLVMBuildZExt(self.b, v, self.i64t, e.as_ptr()) } else { v };
                return Ok(self.range_check(f, inst, p, l, kind));
            }
        };
        let d = self.decompose(p);
        let write = kind != abi::ViolationKind::Read.raw();
        if self.static_through_merges(p, 0, n, write, &mut HashSet::new()) {
            self.stats.proven += 1;
            return Ok(());
        }
        let static_ok = |size: u64| matches!(d.offset, Some(c) if c >= 0 && (c as u64).checked_add(n).is_some_and(|end| end <= size));
        match self.classify(d.root) {
            Root::Frame { frame, size } => {
                if static_ok(size) {
                    self.stats.proven += 1;
                } else {
                    self.object_check(f, inst, p, frame, size, n, kind);
                }
            }
            Root::Global { g, size, constant } => {
                if static_ok(size) && !(write && constant) {
                    self.stats.proven += 1;
                } else if write && constant {
                    self.mem_check(f, inst, p, n, kind); // fails; the slow path decides
                } else {
                    self.object_check(f, inst, p, g, size, n, kind);
                }
            }
            Root::ByVal { arg, size } => {
                if static_ok(size) {
                    self.stats.proven += 1;
                } else {
                    self.object_check(f, inst, p, arg, size, n, kind);
                }
            }
            Root::Bounds if !write && static_ok(abi::BOUNDS_PKT + 24) => self.stats.proven += 1,
            // `off + n <= len` also admits `p` up to n - 1 bytes below the data, which must
            // stay within the packet's headroom: larger accesses take the exact range form.
            Root::Packet { data } if n <= abi::HEADROOM as u64 => self.pending_pkt.push(PktAccess { inst, p, n, kind, data }),
            Root::Packet { .. } => self.range_check(f, inst, p, LLVMConstInt(self.i64t, n, 0), kind),
            // A parameter every caller passes a packet pointer in: the packet's test first
            // (one compare), the exact slow path if it fails. Only a choice of test: the
            // test is exact whatever the pointer is.
            Root::Unknown if n <= abi::HEADROOM as u64 && (self.pkt_params.contains(&d.root) || self.packet_merge(d.root, &mut HashSet::new())) => {
                let data = self.packet_data(f);
                self.pending_pkt.push(PktAccess { inst, p, n, kind, data })
            }
            Root::Bounds | Root::Unknown => self.pending_mem.push(MemAccess { inst, p, n, kind }),
        }
        Ok(())
    }

    /// True if `p` is a phi or select whose every incoming pointer derives from the packet's
    /// data or from a packet parameter, seen through further phis and selects (LLVM sinks
    /// the header reads of two branches into one through a phi of their addresses). Only
    /// picks the packet's test first: the test is exact whatever the pointer is.
    unsafe fn packet_merge(&self, p: Value, seen: &mut HashSet<Value>) -> bool {
        let Some(incoming) = llvm::merged_values(p) else { return false };
        if !seen.insert(p) || seen.len() > 16 {
            return false;
        }
        incoming.into_iter().all(|v| {
            let root = self.decompose(v).root;
            matches!(self.classify(root), Root::Packet { .. })
                || self.pkt_params.contains(&root)
                || seen.contains(&root)
                || self.packet_merge(root, seen)
        })
    }

    /// The packet's data pointer, loaded once at the top of the function.
    unsafe fn packet_data(&mut self, f: Value) -> Value {
        if let Some(d) = self.pkt_data {
            return d;
        }
        let e = cstr("");
        let first = LLVMGetFirstInstruction(LLVMGetEntryBasicBlock(f));
        let builder = LLVMCreateBuilderInContext(self.c);
        LLVMPositionBuilderBefore(builder, first);
        let d = LLVMBuildLoad2(builder, self.ptrt, self.bounds_at(abi::BOUNDS_PKT + abi::PACKET_DATA), e.as_ptr());
        LLVMDisposeBuilder(builder);
        self.pkt_data = Some(d);
        d
    }

    /// Pointer parameters of the module's internal functions that every call passes a
    /// packet pointer in (the packet's data plus an offset, or such a parameter of the
    /// caller): the helpers NFs write to parse and rewrite headers. The largest set closed
    /// under that rule; functions reached through pointers have unknown callers and none.
    /// It only picks which test an access gets first: every test is exact.
    unsafe fn packet_params(&self, funcs: &[Value], taken: &[Value]) -> HashSet<Value> {
        let entry_points = [abi::SYM_PROCESS, "nf_init"];
        let mut calls: HashMap<Value, Vec<Value>> = HashMap::new();
        let mut candidates: HashSet<Value> = HashSet::new();
        for &f in funcs {
            if taken.contains(&f) || entry_points.contains(&llvm::name(f).as_str()) {
                continue;
            }
            for k in 0..LLVMCountParams(f) {
                let a = LLVMGetParam(f, k);
                if llvm::type_kind(LLVMTypeOf(a)) == LLVMTypeKind::LLVMPointerTypeKind {
                    candidates.insert(a);
                }
            }
        }
        for &f in funcs {
            for b in llvm::blocks(f) {
                for i in llvm::instructions(b) {
                    if llvm::opcode(i) != Some(LLVMOpcode::LLVMCall) {
                        continue;
                    }
                    if let Some(t) = llvm::as_function(llvm::called_value(i)) {
                        if llvm::is_definition(t) {
                            calls.entry(t).or_default().push(i);
                        }
                    }
                }
            }
        }
        // Parameters of functions never called directly have no known caller.
        candidates.retain(|&a| calls.contains_key(&LLVMGetParamParent(a)));
        loop {
            let mut gone = Vec::new();
            for &a in &candidates {
                let f = LLVMGetParamParent(a);
                let k = (0..LLVMCountParams(f)).find(|&k| LLVMGetParam(f, k) == a).unwrap_or(0);
                let all = calls[&f].iter().all(|&call| {
                    k < LLVMGetNumArgOperands(call) && {
                        let root = self.decompose(llvm::operand(call, k)).root;
                        matches!(self.classify(root), Root::Packet { .. }) || candidates.contains(&root)
                    }
                });
                if !all {
                    gone.push(a);
                }
            }
            if gone.is_empty() {
                return candidates;
            }
            for a in gone {
                candidates.remove(&a);
            }
        }
    }

    /// True if `p + extra` is, on every path, a constant offset into a frame, global or
    /// `byval` object with `[p+extra, p+extra+n)` inside it (writable if `write`), seen
    /// through phis and selects whose every incoming value is such a pointer (LLVM sinks
    /// `stats.a++` / `stats.b++` on several paths into one store through a phi of
    /// globals). Cycles through phis are refused, not assumed.
    unsafe fn static_through_merges(&self, p: Value, extra: i64, n: u64, write: bool, seen: &mut HashSet<Value>) -> bool {
        let d = self.decompose(p);
        let Some(off) = d.offset.and_then(|o| o.checked_add(extra)) else { return false };
        let fits = |size: u64| off >= 0 && (off as u64).checked_add(n).is_some_and(|end| end <= size);
        let Some(incoming) = llvm::merged_values(d.root) else {
            return match self.classify(d.root) {
                Root::Frame { size, .. } | Root::ByVal { size, .. } => fits(size),
                Root::Global { size, constant, .. } => fits(size) && !(write && constant),
                _ => false,
            };
        };
        if incoming.is_empty() || seen.len() >= 16 || !seen.insert(d.root) {
            return false;
        }
        let all = incoming.into_iter().all(|v| self.static_through_merges(v, off, n, write, seen));
        seen.remove(&d.root);
        all
    }

    unsafe fn guard(&mut self, f: Value, inst: Value, ok: Value, addr: Value, n: u64, kind: u32) {
        let site = self.site(f, inst, kind);
        self.call(self.guard, &mut [ok, addr, LLVMConstInt(self.i64t, n, 0), LLVMConstInt(self.i32t, site as u64, 0)]);
    }

    /// `guard`, for a `mem` compare on a pointer of unknown region: the packet is tried
    /// inline before the slow path.
    unsafe fn guard_unknown(&mut self, f: Value, inst: Value, ok: Value, addr: Value, n: Value, kind: u32) {
        let site = self.site(f, inst, kind);
        let small = llvm::const_int(n).is_some_and(|k| k > 0 && k <= abi::HEADROOM as i64);
        let helper = if small { self.guard_pkt_small } else { self.guard_pkt };
        self.call(helper, &mut [ok, addr, n, LLVMConstInt(self.i32t, site as u64, 0)]);
    }

    /// `mem_lo`/`mem_len`, loaded once at the top of the function.
    unsafe fn mem_bounds(&mut self, f: Value) -> (Value, Value) {
        if let Some(b) = self.mem_bounds {
            return b;
        }
        let e = cstr("");
        let entry = LLVMGetEntryBasicBlock(f);
        let first = LLVMGetFirstInstruction(entry);
        let builder = LLVMCreateBuilderInContext(self.c);
        LLVMPositionBuilderBefore(builder, first);
        let lo = LLVMBuildLoad2(builder, self.i64t, self.bounds_at(abi::BOUNDS_MEM_LO), e.as_ptr());
        let len = LLVMBuildLoad2(builder, self.i64t, self.bounds_at(abi::BOUNDS_MEM_LEN), e.as_ptr());
        LLVMDisposeBuilder(builder);
        self.mem_bounds = Some((lo, len));
        (lo, len)
    }

    unsafe fn mem_check(&mut self, f: Value, inst: Value, p: Value, n: u64, kind: u32) {
        self.stats.mem += 1;
        let (lo, len) = self.mem_bounds(f);
        let e = cstr("");
        let a = LLVMBuildPtrToInt(self.b, p, self.i64t, e.as_ptr());
        let o = LLVMBuildSub(self.b, a, lo, e.as_ptr());
        let lim = LLVMBuildSub(self.b, len, LLVMConstInt(self.i64t, n - 1, 0), e.as_ptr());
        let ok = LLVMBuildICmp(self.b, LLVMIntPredicate::LLVMIntULT, o, lim, e.as_ptr());
        self.guard_unknown(f, inst, ok, a, LLVMConstInt(self.i64t, n, 0), kind);
    }

    unsafe fn packet_check(&mut self, f: Value, inst: Value, p: Value, data: Value, n: u64, kind: u32) {
        self.stats.packet += 1;
        let e = cstr("");
        let ok = self.packet_ok(p, data, n);
        let a = LLVMBuildPtrToInt(self.b, p, self.i64t, e.as_ptr());
        self.guard(f, inst, ok, a, n, kind);
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn object_check(&mut self, f: Value, inst: Value, p: Value, base: Value, size: u64, n: u64, kind: u32) {
        self.stats.object += 1;
        let e = cstr("");
        let a = LLVMBuildPtrToInt(self.b, p, self.i64t, e.as_ptr());
        let ok = if size < n {
            LLVMConstInt(self.i1t, 0, 0)
        } else {
            let b = LLVMBuildPtrToInt(self.b, base, self.i64t, e.as_ptr());
            let o = LLVMBuildSub(self.b, a, b, e.as_ptr());
            LLVMBuildICmp(self.b, LLVMIntPredicate::LLVMIntULT, o, LLVMConstInt(self.i64t, size - n + 1, 0), e.as_ptr())
        };
        self.guard(f, inst, ok, a, n, kind);
    }

    /// A range of `len` bytes (not a compile-time constant, or large): inline, exactly
    /// `[p, p + len)` within `mem` (two compares, no wrap); otherwise the slow path decides
    /// (the range may lie in another region, such as the packet).
    unsafe fn range_check(&mut self, f: Value, inst: Value, p: Value, len: Value, kind: u32) {
        self.stats.slow += 1;
        let e = cstr("");
        let (lo, mem_len) = self.mem_bounds(f);
        let a = LLVMBuildPtrToInt(self.b, p, self.i64t, e.as_ptr());
        let o = LLVMBuildSub(self.b, a, lo, e.as_ptr());
        let starts_in = LLVMBuildICmp(self.b, LLVMIntPredicate::LLVMIntULT, o, mem_len, e.as_ptr());
        let room = LLVMBuildSub(self.b, mem_len, o, e.as_ptr());
        let fits = LLVMBuildICmp(self.b, LLVMIntPredicate::LLVMIntULE, len, room, e.as_ptr());
        let ok = LLVMBuildAnd(self.b, starts_in, fits, e.as_ptr());
        self.guard_unknown(f, inst, ok, a, len, kind);
    }

    unsafe fn emit_site_table(&mut self) {
        let mut fields = [self.ptrt, self.ptrt, self.i32t, self.i32t];
        let st = LLVMStructTypeInContext(self.c, fields.as_mut_ptr(), 4, 0);
        let mut strings: HashMap<String, Value> = HashMap::new();
        let mut entries = Vec::new();
        let sites = std::mem::take(&mut self.sites);
        for s in &sites {
            let mut vals = [
                self.string(&mut strings, &s.function),
                self.string(&mut strings, &s.file),
                LLVMConstInt(self.i32t, s.line as u64, 0),
                LLVMConstInt(self.i32t, s.kind as u64, 0),
            ];
            entries.push(LLVMConstNamedStruct(st, vals.as_mut_ptr(), 4));
        }
        let arr_t = LLVMArrayType2(st, entries.len() as u64);
        let table = LLVMConstArray2(st, entries.as_mut_ptr(), entries.len() as u64);
        let n = cstr(abi::SYM_SITES);
        let g = LLVMAddGlobal(self.m, arr_t, n.as_ptr());
        LLVMSetInitializer(g, table);
        LLVMSetGlobalConstant(g, 1);
        let n = cstr(abi::SYM_NSITES);
        let c = LLVMAddGlobal(self.m, self.i32t, n.as_ptr());
        LLVMSetInitializer(c, LLVMConstInt(self.i32t, sites.len() as u64, 0));
        LLVMSetGlobalConstant(c, 1);
    }

    unsafe fn string(&self, cache: &mut HashMap<String, Value>, s: &str) -> Value {
        if let Some(&g) = cache.get(s) {
            return g;
        }
        let init = LLVMConstStringInContext2(self.c, s.as_ptr().cast(), s.len(), 0);
        let n = cstr("nfcc.str");
        let g = LLVMAddGlobal(self.m, LLVMTypeOf(init), n.as_ptr());
        LLVMSetInitializer(g, init);
        LLVMSetGlobalConstant(g, 1);
        LLVMSetLinkage(g, LLVMLinkage::LLVMPrivateLinkage);
        cache.insert(s.to_string(), g);
        g
    }
}

/// Length of an access.
#[derive(Clone, Copy)]
enum Len {
    Const(u64),
    Dyn(Value),
}

/// For a memory intrinsic or checked libc function: whether it writes its first pointer
/// argument and whether it reads its second.
fn memory_function(name: &str) -> Option<(bool, bool)> {
    if let Some((_, has_src)) = MEM_INTRINSICS.iter().find(|(p, _)| name.starts_with(p)) {
        return Some((true, *has_src));
    }
    LIBC.iter().find(|(n, _, _)| *n == name).map(|&(_, w, r)| (w, r))
}

/// The largest value (unsigned) the integer `v` can take, from what the code computes it
/// with: constants, zero extensions, masks, shifts and divisions by constants, remainders,
/// sums and products that cannot wrap, selects, phis and unsigned minima. The full range of its
/// type when nothing bounds it.
pub(crate) unsafe fn index_max(v: Value, depth: u32) -> u64 {
    let ty = LLVMTypeOf(v);
    if llvm::type_kind(ty) != LLVMTypeKind::LLVMIntegerTypeKind {
        return u64::MAX;
    }
    let w = LLVMGetIntTypeWidth(ty);
    if w > 64 {
        return u64::MAX;
    }
    let full = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
    if let Some(c) = llvm::const_int(v) {
        return c as u64 & full;
    }
    if depth > 8 {
        return full;
    }
    let m = |i: u32| index_max(llvm::operand(v, i), depth + 1);
    let konst = |i: u32| llvm::const_int(llvm::operand(v, i)).map(|c| c as u64 & full);
    use LLVMOpcode::*;
    let max = match llvm::opcode(v).or_else(|| llvm::const_expr_opcode(v)) {
        Some(LLVMZExt) => m(0),
        Some(LLVMTrunc) => m(0).min(full),
        Some(LLVMAnd) => m(0).min(m(1)),
        Some(LLVMLShr) => match konst(1) {
            Some(c) if c < w as u64 => m(0) >> c,
            _ => full,
        },
        Some(LLVMUDiv) => match konst(1) {
            Some(c) if c > 0 => m(0) / c,
            _ => m(0),
        },
        Some(LLVMURem) => match konst(1) {
            Some(c) if c > 0 => m(0).min(c - 1),
            _ => m(0),
        },
        Some(LLVMShl) => match konst(1) {
            Some(c) if c < w as u64 => m(0).checked_mul(1u64 << c).filter(|&x| x <= full).unwrap_or(full),
            _ => full,
        },
        Some(LLVMMul) => m(0).checked_mul(m(1)).filter(|&x| x <= full).unwrap_or(full),
        Some(LLVMAdd) => m(0).checked_add(m(1)).filter(|&x| x <= full).unwrap_or(full),
        Some(LLVMSelect) => m(1).max(m(2)),
        // GVN's PRE merges one masked index computed on two paths through a phi. A phi
        // in a cycle meets itself again deeper down and comes out as its full range.
        // Few levels and few incomings only: phis of phis of a switch would otherwise make
        // the walk exponential.
        Some(LLVMPHI) if depth < 4 && LLVMCountIncoming(v) <= 8 => {
            (0..LLVMCountIncoming(v)).map(|k| index_max(LLVMGetIncomingValue(v, k), depth + 1)).max().unwrap_or(full)
        }
        Some(LLVMCall) => {
            let callee = llvm::called_value(v);
            match llvm::as_function(callee).map(llvm::name) {
                Some(n) if n.starts_with("llvm.umin.") => m(0).min(m(1)),
                _ => full,
            }
        }
        _ => full,
    };
    max.min(full)
}

/// Pipeline stage `continue-after-violation`, the last rewrite of a protected build: a
/// check's failure block (`call @nfcc__violation(..); unreachable`, entered from the check
/// alone) goes on, after the call, to where the check goes when it passes (its phis take,
/// from it, what they take from the check). `nfcc__violation` never returns (the runtime
/// unwinds to the entry point's caller), so that edge never runs, and the verifier reads a
/// block that calls it as one with no way out (`verify::cfg`). But code generation
/// shrink-wraps a function only when its register saves can sit where one block after them
/// reaches every way out: a block that does not return, or that returns on its own, keeps
/// the prologue in the entry block, and every early return pays for saving and restoring
/// registers only the later code uses (the firewall's drops in `wonly`: 11 instructions
/// each). Run after LLVM's cleanup, which needs the `unreachable` to know a check held on
/// the way on; and before the verifier, which sees what is emitted.
pub struct ContinueAfterViolation;

impl ModulePass for ContinueAfterViolation {
    fn name(&self) -> &str {
        "continue-after-violation"
    }

    fn run(&self, module: &Module<'_>) -> Result<Vec<(String, u64)>, PassError> {
        let m = module.as_mut_ptr();
        let mut rewritten = 0u64;
        // SAFETY: raw queries and edits on this module's own functions and blocks.
        unsafe {
            let name = cstr(abi::SYM_VIOLATION);
            let violation = LLVMGetNamedFunction(m, name.as_ptr());
            if violation.is_null() {
                return Ok(vec![("blocks rewritten".into(), 0)]);
            }
            let c = LLVMGetModuleContext(m);
            let b = LLVMCreateBuilderInContext(c);
            let mut f = LLVMGetFirstFunction(m);
            while !f.is_null() {
                let blocks = llvm::blocks(f);
                let mut preds: HashMap<LLVMBasicBlockRef, Vec<LLVMBasicBlockRef>> = HashMap::new();
                for &bb in &blocks {
                    for s in llvm::successors(bb) {
                        preds.entry(s).or_default().push(bb);
                    }
                }
                for bb in blocks {
                    let t = LLVMGetBasicBlockTerminator(bb);
                    if t.is_null() || llvm::opcode(t) != Some(LLVMOpcode::LLVMUnreachable) {
                        continue;
                    }
                    let call = LLVMGetPreviousInstruction(t);
                    if call.is_null() || llvm::opcode(call) != Some(LLVMOpcode::LLVMCall) || llvm::called_value(call) != violation {
                        continue;
                    }
                    // Entered from one conditional branch, whose other side is the way on.
                    let [check] = preds.get(&bb).map(Vec::as_slice).unwrap_or_default() else { continue };
                    let on = llvm::successors(*check);
                    let [x, y] = on[..] else { continue };
                    let pass = if x == bb { y } else { x };
                    if pass == bb {
                        continue;
                    }
                    for phi in llvm::instructions(pass).into_iter().take_while(|&i| llvm::opcode(i) == Some(LLVMOpcode::LLVMPHI)) {
                        let Some(k) = (0..LLVMCountIncoming(phi)).find(|&k| LLVMGetIncomingBlock(phi, k) == *check) else { continue };
                        let mut v = [LLVMGetIncomingValue(phi, k)];
                        let mut from = [bb];
                        LLVMAddIncoming(phi, v.as_mut_ptr(), from.as_mut_ptr(), 1);
                    }
                    LLVMPositionBuilderBefore(b, t);
                    LLVMBuildBr(b, pass);
                    LLVMInstructionEraseFromParent(t);
                    rewritten += 1;
                }
                f = LLVMGetNextFunction(f);
            }
            LLVMDisposeBuilder(b);
        }
        Ok(vec![("blocks rewritten".into(), rewritten)])
    }
}
