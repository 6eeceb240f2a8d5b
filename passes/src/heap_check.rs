//! `nfcc_heap_check(p)` (`nfcc.h`): a module's assertion that `p` lies in its own memory.
//! nfcc compiles it in place and never links it. In a protected module the isolation
//! pass makes it one compare and a violation (`isolate.rs`, `lower_heap_checks`); in an
//! unprotected one [`ElideHeapChecks`] makes it the identity before LLVM's optimiser runs.

use crate::llvm::{self, Value};
use crate::{ModulePass, PassError};
use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::LLVMOpcode;
use inkwell::module::Module;
use nfcc_runtime::abi;

/// The calls of `nfcc_heap_check` in the module; an error if its address is taken (it has
/// no definition anywhere, so only direct calls can be compiled in place).
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
            if !direct || LLVMGetNumArgOperands(user) != 1 {
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
            // SAFETY: c is a call with one argument, replaced and then deleted.
            unsafe {
                LLVMReplaceAllUsesWith(c, llvm::operand(c, 0));
                LLVMInstructionEraseFromParent(c);
            }
        }
        Ok(vec![("elided".into(), calls.len() as u64)])
    }
}
