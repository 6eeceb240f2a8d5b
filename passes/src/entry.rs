//! Checks that a module defines the entry points of `nfcc.h` with the right signatures,
//! so a module that the host could not run is refused at build time.

use crate::{ModulePass, PassError};
use inkwell::module::{Linkage, Module};
use inkwell::types::{BasicMetadataTypeEnum, BasicTypeEnum};
use inkwell::values::FunctionValue;
use nfcc_runtime::abi::{SYM_INIT, SYM_PROCESS};

/// The pass: `nf_process` must be defined as `int (struct nfcc_packet *)`; `nf_init`, if
/// defined, as `int (void)`. Both must be externally visible.
pub struct CheckEntryPoints;

impl ModulePass for CheckEntryPoints {
    fn name(&self) -> &str {
        "check-entry-points"
    }

    fn run(&self, module: &Module<'_>) -> Result<Vec<(String, u64)>, PassError> {
        let file = module.get_source_file_name().to_string_lossy().into_owned();
        let err = |message: String| PassError::Abi { file: file.clone(), message };
        let process = match module.get_function(SYM_PROCESS) {
            Some(f) if f.count_basic_blocks() > 0 => f,
            _ => {
                return Err(err(format!(
                    "no definition of `int {SYM_PROCESS}(const struct nfcc_packet *pkt)`: every module needs one"
                )))
            }
        };
        check(process, &[Param::Ptr], SYM_PROCESS, "int nf_process(const struct nfcc_packet *pkt)")
            .map_err(err)?;
        if let Some(init) = module.get_function(SYM_INIT).filter(|f| f.count_basic_blocks() > 0) {
            check(init, &[], SYM_INIT, "int nf_init(void)").map_err(err)?;
        }
        Ok(Vec::new())
    }
}

enum Param {
    Ptr,
}

fn check(f: FunctionValue<'_>, params: &[Param], name: &str, want: &str) -> Result<(), String> {
    let ty = f.get_type();
    let ret_ok = matches!(ty.get_return_type(), Some(BasicTypeEnum::IntType(t)) if t.get_bit_width() == 32);
    let got = ty.get_param_types();
    let params_ok = got.len() == params.len()
        && got.iter().zip(params).all(|(g, p)| match p {
            Param::Ptr => matches!(g, BasicMetadataTypeEnum::PointerType(_)),
        });
    if !ret_ok || !params_ok || ty.is_var_arg() {
        return Err(format!("`{name}` has the wrong signature: nfcc.h declares `{want}`"));
    }
    if matches!(f.get_linkage(), Linkage::Internal | Linkage::Private) {
        return Err(format!("`{name}` is static: it must be visible to the host, remove `static`"));
    }
    Ok(())
}
