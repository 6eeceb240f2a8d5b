//! Places every global variable the module defines in one of two sections the runtime
//! knows: `nfcc_data` (writable) and `nfcc_rodata` (read-only). The linker brackets them
//! with `__start_`/`__stop_` symbols, which is how the runtime's slow-path check and the
//! host's services tell the module's own globals from everything else in the process.
//!
//! Runs in every protection mode (the runtime validates service arguments always).

use crate::llvm::{self, cstr};
use crate::{ModulePass, PassError};
use inkwell::llvm_sys::core::*;
use inkwell::module::Module;

/// Section of the module's writable globals.
pub const DATA_SECTION: &str = "nfcc_data";
/// Section of the module's read-only globals (constants, string literals).
pub const RODATA_SECTION: &str = "nfcc_rodata";

/// The pass.
pub struct PlaceGlobals;

impl ModulePass for PlaceGlobals {
    fn name(&self) -> &str {
        "place-globals"
    }

    fn run(&self, module: &Module<'_>) -> Result<Vec<(String, u64)>, PassError> {
        let file = module.get_source_file_name().to_string_lossy().into_owned();
        let (mut data, mut rodata) = (0, 0);
        for g in llvm::globals(module.as_mut_ptr()) {
            let name = llvm::name(g);
            if !llvm::is_definition(g) || name.starts_with("llvm.") {
                continue;
            }
            // SAFETY: g is a global variable of this module.
            unsafe {
                if LLVMIsThreadLocal(g) != 0 {
                    return Err(PassError::Abi {
                        file,
                        message: format!(
                            "global `{name}` is thread-local: modules keep per-thread state in their heap, not in TLS"
                        ),
                    });
                }
                let section = if LLVMIsGlobalConstant(g) != 0 {
                    rodata += 1;
                    RODATA_SECTION
                } else {
                    data += 1;
                    DATA_SECTION
                };
                let s = cstr(section);
                LLVMSetSection(g, s.as_ptr());
            }
        }
        Ok(vec![("data".into(), data), ("rodata".into(), rodata)])
    }
}

/// Makes every function and global the module defines internal, except the entry points
/// the host calls: they are the module's whole interface (the linker exports nothing else
/// anyway), and internal definitions let LLVM inline, specialise and delete freely.
pub struct Internalize;

impl ModulePass for Internalize {
    fn name(&self) -> &str {
        "internalize"
    }

    fn run(&self, module: &Module<'_>) -> Result<Vec<(String, u64)>, PassError> {
        use inkwell::llvm_sys::LLVMLinkage;
        let keep = [nfcc_runtime::abi::SYM_INIT, nfcc_runtime::abi::SYM_PROCESS];
        let m = module.as_mut_ptr();
        let mut n = 0;
        for v in llvm::functions(m).into_iter().chain(llvm::globals(m)) {
            let name = llvm::name(v);
            if !llvm::is_definition(v) || name.starts_with("llvm.") || keep.contains(&name.as_str()) {
                continue;
            }
            // SAFETY: v is a definition of this module.
            unsafe {
                if LLVMGetLinkage(v) == LLVMLinkage::LLVMExternalLinkage {
                    LLVMSetLinkage(v, LLVMLinkage::LLVMInternalLinkage);
                    n += 1;
                }
            }
        }
        Ok(vec![("internalized".into(), n)])
    }
}
