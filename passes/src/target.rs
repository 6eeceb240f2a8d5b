//! The x86-64 target machine and object emission.
//!
//! The CPU is the generic `x86-64` baseline, not the build machine's: a module runs on
//! whatever host loads it, and its cost metadata must describe the code it will run.

use crate::{OptLevel, PassError};
use inkwell::module::Module;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple,
};
use inkwell::OptimizationLevel;
use std::path::Path;

/// The triple every module is built for.
pub const TRIPLE: &str = "x86_64-pc-linux-gnu";
/// The CPU every module is built for.
pub const CPU: &str = "x86-64";

/// A target machine for position-independent x86-64 code at `level`.
pub fn machine(level: OptLevel) -> Result<TargetMachine, PassError> {
    Target::initialize_x86(&InitializationConfig::default());
    let triple = TargetTriple::create(TRIPLE);
    let target =
        Target::from_triple(&triple).map_err(|e| PassError::Target { message: e.to_string() })?;
    let opt = match level {
        OptLevel::O0 => OptimizationLevel::None,
        OptLevel::O1 => OptimizationLevel::Less,
        OptLevel::O2 | OptLevel::Os | OptLevel::Oz => OptimizationLevel::Default,
        OptLevel::O3 => OptimizationLevel::Aggressive,
    };
    target
        .create_target_machine(&triple, CPU, "", opt, RelocMode::PIC, CodeModel::Default)
        .ok_or_else(|| PassError::Target { message: format!("LLVM has no machine for {TRIPLE}/{CPU}") })
}

/// Makes the module's triple and data layout the machine's.
pub fn adopt(module: &Module<'_>, tm: &TargetMachine) {
    module.set_triple(&tm.get_triple());
    module.set_data_layout(&tm.get_target_data().get_data_layout());
}

/// Generates machine code for `module` and writes it as an ELF object to `path`.
pub fn emit_object(module: &Module<'_>, tm: &TargetMachine, path: &Path) -> Result<(), PassError> {
    tm.write_to_file(module, FileType::Object, path)
        .map_err(|e| PassError::Emit { path: path.to_path_buf(), message: e.to_string() })
}
