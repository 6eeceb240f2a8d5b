//! `nfcc_heap_check(p)` (`nfcc.h`): a module's assertion that `p` lies in its own memory.
//! nfcc compiles it in place and never links it. In a protected module the isolation
//! pass makes it one compare and a violation (`isolate.rs`, `lower_heap_checks`); in an
//! unprotected one [`ElideHeapChecks`] makes it the identity before LLVM's optimiser runs.

use crate::llvm::{self, Value};
use crate::{ModulePass, PassError};
use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::{LLVMOpcode, LLVMTypeKind};
use inkwell::module::Module;
use nfcc_runtime::abi;

/// The calls of `nfcc_heap_check` in the module; an error if its address is taken or a call
/// passes other than one pointer (it has no definition anywhere, so only direct calls can
/// be compiled in place).
pub fn calls(module: &Module<'_>) -> Result<Vec<Value>, PassError> {
    let file = module.get_source_file_name().to_string_lossy().into_owned();
    let Some(f) = llvm::functions(module.as_mut_ptr()).into_iter().find(|&f| llvm::name(f) == abi::SYM_HEAP_CHECK) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    // SAFETY: walks the uses of a function of this module.
    unsafe {
        let mut u = LLVMGetFirstUse(f);
        while !u.is_null() {
            let user = LLVMGetUser(u);
            let direct = llvm::opcode(user) == Some(LLVMOpcode::LLVMCall) && llvm::called_value(user) == f;
            let one_pointer = direct
                && LLVMGetNumArgOperands(user) == 1
                && llvm::type_kind(LLVMTypeOf(llvm::operand(user, 0))) == LLVMTypeKind::LLVMPointerTypeKind;
            if !one_pointer {
                let what = match llvm::debug_location(user) {
                    Some((src, line)) if line > 0 => format!("at {src}:{line}"),
                    _ => format!("in `{}`", llvm::print(user)),
                };
                return Err(PassError::Abi {
                    file,
                    message: format!("`{}` is used {what} other than as a direct call with one pointer; nfcc compiles it in place and it has no address", abi::SYM_HEAP_CHECK),
                });
            }
            out.push(user);
            u = LLVMGetNextUse(u);
        }
    }
    Ok(out)
}

/// Unprotected builds: `nfcc_heap_check(p)` is `p`.
pub struct ElideHeapChecks;

impl ModulePass for ElideHeapChecks {
    fn name(&self) -> &str {
        "elide-heap-checks"
    }

    fn run(&self, module: &Module<'_>) -> Result<Vec<(String, u64)>, PassError> {
        let calls = calls(module)?;
        for &c in &calls {
            elide(c);
        }
        Ok(vec![("elided".into(), calls.len() as u64)])
    }
}

/// Replaces one call from [`calls`] by its argument and deletes it.
pub fn elide(call: Value) {
    // SAFETY: `call` is a call with one argument (see `calls`), replaced, then deleted.
    unsafe {
        LLVMReplaceAllUsesWith(call, llvm::operand(call, 0));
        LLVMInstructionEraseFromParent(call);
    }
}
