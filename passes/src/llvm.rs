//! Thin, safe-looking helpers over the LLVM C API (llvm-sys) for the passes that walk and
//! rewrite IR instruction by instruction, where inkwell's typed wrappers get in the way.
//!
//! Invariant: every `Value`/`Block`/`Type` here is a plain handle into a module that the
//! calling pass holds by reference for the whole of its run; nothing is cached across runs.

use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::debuginfo::*;
use inkwell::llvm_sys::prelude::*;
use inkwell::llvm_sys::{LLVMOpcode, LLVMTypeKind};
use std::ffi::{CStr, CString};

/// An LLVM value handle.
pub type Value = LLVMValueRef;

/// Functions of a module, in order.
pub fn functions(m: LLVMModuleRef) -> Vec<Value> {
    let mut v = Vec::new();
    // SAFETY: walking the module's own function list.
    unsafe {
        let mut f = LLVMGetFirstFunction(m);
        while !f.is_null() {
            v.push(f);
            f = LLVMGetNextFunction(f);
        }
    }
    v
}

/// Global variables of a module, in order.
pub fn globals(m: LLVMModuleRef) -> Vec<Value> {
    let mut v = Vec::new();
    // SAFETY: walking the module's own global list.
    unsafe {
        let mut g = LLVMGetFirstGlobal(m);
        while !g.is_null() {
            v.push(g);
            g = LLVMGetNextGlobal(g);
        }
    }
    v
}

/// `dom[b][k]`: block `k` dominates block `b` (iterative, over bit sets, entry = block 0).
pub fn dominators(preds: &[Vec<usize>]) -> Vec<Vec<bool>> {
    let n = preds.len();
    if n == 0 {
        return Vec::new();
    }
    let all = vec![true; n];
    let mut dom = vec![all.clone(); n];
    dom[0] = vec![false; n];
    dom[0][0] = true;
    let mut changed = true;
    while changed {
        changed = false;
        for b in 1..n {
            let mut new = all.clone();
            let mut any = false;
            for &p in &preds[b] {
                any = true;
                for k in 0..n {
                    new[k] = new[k] && dom[p][k];
                }
            }
            if !any {
                new = vec![false; n];
            }
            new[b] = true;
            if new != dom[b] {
                dom[b] = new;
                changed = true;
            }
        }
    }
    dom
}

/// The successors of block `b` (its terminator's targets, in order).
pub fn successors(b: LLVMBasicBlockRef) -> Vec<LLVMBasicBlockRef> {
    // SAFETY: the block's own terminator.
    unsafe {
        let t = LLVMGetBasicBlockTerminator(b);
        if t.is_null() {
            return Vec::new();
        }
        (0..LLVMGetNumSuccessors(t)).map(|i| LLVMGetSuccessor(t, i)).collect()
    }
}

/// Basic blocks of a function, in order.
pub fn blocks(f: Value) -> Vec<LLVMBasicBlockRef> {
    let mut v = Vec::new();
    // SAFETY: walking the function's own block list.
    unsafe {
        let mut b = LLVMGetFirstBasicBlock(f);
        while !b.is_null() {
            v.push(b);
            b = LLVMGetNextBasicBlock(b);
        }
    }
    v
}

/// Instructions of a block, in order.
pub fn instructions(b: LLVMBasicBlockRef) -> Vec<Value> {
    let mut v = Vec::new();
    // SAFETY: walking the block's own instruction list.
    unsafe {
        let mut i = LLVMGetFirstInstruction(b);
        while !i.is_null() {
            v.push(i);
            i = LLVMGetNextInstruction(i);
        }
    }
    v
}

/// True if `f` has a body in this module.
pub fn is_definition(f: Value) -> bool {
    // SAFETY: f is a function or global.
    unsafe { LLVMIsDeclaration(f) == 0 }
}

/// The value's name ("" if none).
pub fn name(v: Value) -> String {
    let mut len = 0;
    // SAFETY: LLVM returns a pointer to `len` bytes owned by the value.
    unsafe {
        let p = LLVMGetValueName2(v, &mut len);
        if p.is_null() {
            return String::new();
        }
        String::from_utf8_lossy(std::slice::from_raw_parts(p.cast(), len)).into_owned()
    }
}

/// The instruction's opcode, or `None` for non-instructions.
pub fn opcode(v: Value) -> Option<LLVMOpcode> {
    // SAFETY: queries only.
    unsafe { (!LLVMIsAInstruction(v).is_null()).then(|| LLVMGetInstructionOpcode(v)) }
}

/// The values a phi or select merges (a phi's incoming values, a select's two arms), or
/// `None` for anything else.
pub fn merged_values(v: Value) -> Option<Vec<Value>> {
    match opcode(v) {
        // SAFETY: queries on a phi.
        Some(LLVMOpcode::LLVMPHI) => Some(unsafe { (0..LLVMCountIncoming(v)).map(|k| LLVMGetIncomingValue(v, k)).collect() }),
        Some(LLVMOpcode::LLVMSelect) => Some(vec![operand(v, 1), operand(v, 2)]),
        _ => None,
    }
}

/// Operand `i`.
pub fn operand(v: Value, i: u32) -> Value {
    // SAFETY: callers index within LLVMGetNumOperands.
    unsafe { LLVMGetOperand(v, i) }
}

/// Number of operands.
pub fn num_operands(v: Value) -> u32 {
    // SAFETY: query.
    unsafe { LLVMGetNumOperands(v) as u32 }
}

/// The constant integer value of `v`, if it is a `ConstantInt` of at most 64 bits.
pub fn const_int(v: Value) -> Option<i64> {
    // SAFETY: queries only.
    unsafe {
        if LLVMIsAConstantInt(v).is_null() {
            return None;
        }
        if LLVMGetIntTypeWidth(LLVMTypeOf(v)) > 64 {
            return None;
        }
        Some(LLVMConstIntGetSExtValue(v))
    }
}

/// The callee of a call instruction (a function, or any value for indirect calls).
pub fn called_value(call: Value) -> Value {
    // SAFETY: call is a call instruction.
    unsafe { LLVMGetCalledValue(call) }
}

/// The function `v` if it is one.
pub fn as_function(v: Value) -> Option<Value> {
    // SAFETY: query.
    unsafe { (!LLVMIsAFunction(v).is_null()).then_some(v) }
}

/// The global variable `v` if it is one.
pub fn as_global_var(v: Value) -> Option<Value> {
    // SAFETY: query.
    unsafe { (!LLVMIsAGlobalVariable(v).is_null()).then_some(v) }
}

/// True if `v` is inline assembly.
pub fn is_inline_asm(v: Value) -> bool {
    // SAFETY: query.
    unsafe { !LLVMIsAInlineAsm(v).is_null() }
}

/// True if `v` is a constant expression; returns its opcode.
pub fn const_expr_opcode(v: Value) -> Option<LLVMOpcode> {
    // SAFETY: query.
    unsafe { (!LLVMIsAConstantExpr(v).is_null()).then(|| LLVMGetConstOpcode(v)) }
}

/// The instruction's source location as `(file, line)`, if it has one.
pub fn debug_location(inst: Value) -> Option<(String, u32)> {
    // SAFETY: debug-info queries on the instruction's own metadata.
    unsafe {
        let loc = LLVMInstructionGetDebugLoc(inst);
        if loc.is_null() {
            return None;
        }
        let line = LLVMDILocationGetLine(loc);
        let scope = LLVMDILocationGetScope(loc);
        let file = if scope.is_null() { std::ptr::null_mut() } else { LLVMDIScopeGetFile(scope) };
        let name = if file.is_null() {
            String::new()
        } else {
            let mut len = 0;
            let p = LLVMDIFileGetFilename(file, &mut len);
            String::from_utf8_lossy(std::slice::from_raw_parts(p.cast(), len as usize)).into_owned()
        };
        Some((name, line))
    }
}

/// The source file a function was compiled from (its debug-info subprogram's file), if
/// it carries debug info: the full path, its directory joined in when the recorded name
/// is relative (clang records a source under its working directory relative to it, so the
/// same file reads differently depending on where `nfcc build` was run).
pub fn function_file(f: Value) -> Option<String> {
    // SAFETY: debug-info queries on the function's own metadata.
    unsafe {
        let sp = LLVMGetSubprogram(f);
        if sp.is_null() {
            return None;
        }
        let file = LLVMDIScopeGetFile(sp);
        if file.is_null() {
            return None;
        }
        let mut len = 0;
        let p = LLVMDIFileGetFilename(file, &mut len);
        let name = String::from_utf8_lossy(std::slice::from_raw_parts(p.cast(), len as usize)).into_owned();
        if name.starts_with('/') {
            return Some(name);
        }
        let mut dlen = 0;
        let d = LLVMDIFileGetDirectory(file, &mut dlen);
        let dir = String::from_utf8_lossy(std::slice::from_raw_parts(d.cast(), dlen as usize)).into_owned();
        Some(if dir.is_empty() { name } else { format!("{}/{name}", dir.trim_end_matches('/')) })
    }
}

/// The instruction printed as IR text, trimmed.
pub fn print(v: Value) -> String {
    // SAFETY: LLVM returns an owned C string we dispose of.
    unsafe {
        let p = LLVMPrintValueToString(v);
        let s = CStr::from_ptr(p).to_string_lossy().trim().to_string();
        LLVMDisposeMessage(p);
        s
    }
}

/// Size in bytes LLVM stores for type `t` under `td` (what a load/store touches).
pub fn store_size(td: inkwell::llvm_sys::target::LLVMTargetDataRef, t: LLVMTypeRef) -> u64 {
    // SAFETY: query.
    unsafe { inkwell::llvm_sys::target::LLVMStoreSizeOfType(td, t) }
}

/// Size in bytes of an object of type `t` (with padding, as in arrays).
pub fn alloc_size(td: inkwell::llvm_sys::target::LLVMTargetDataRef, t: LLVMTypeRef) -> u64 {
    // SAFETY: query.
    unsafe { inkwell::llvm_sys::target::LLVMABISizeOfType(td, t) }
}

/// Kind of a type.
pub fn type_kind(t: LLVMTypeRef) -> LLVMTypeKind {
    // SAFETY: query.
    unsafe { LLVMGetTypeKind(t) }
}

/// A C string for the LLVM API.
pub fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in LLVM names")
}

/// Metadata kind id for `name`.
pub fn md_kind(ctx: LLVMContextRef, name: &str) -> u32 {
    // SAFETY: interning a kind name.
    unsafe { LLVMGetMDKindIDInContext(ctx, name.as_ptr().cast(), name.len() as u32) }
}

/// Enum attribute kind for `name` (0 if unknown).
pub fn attr_kind(name: &str) -> u32 {
    // SAFETY: lookup only.
    unsafe { LLVMGetEnumAttributeKindForName(name.as_ptr().cast(), name.len()) }
}
