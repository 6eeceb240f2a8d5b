//! The x86-64 target machine and object emission.
//!
//! The CPU is the generic `x86-64` baseline, not the build machine's: a module runs on
//! whatever host loads it, and its cost metadata must describe the code it will run.
//!
//! Code generation is tuned once per process ([`CODEGEN_OPTIONS`]) so that every machine
//! block can be charged soundly to one IR block (see `cost.rs` for why and what it costs).

use crate::{OptLevel, PassError};
use inkwell::module::Module;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple,
};
use inkwell::OptimizationLevel;
use std::ffi::CString;
use std::path::Path;
use std::sync::Once;

/// The triple every module is built for.
pub const TRIPLE: &str = "x86_64-pc-linux-gnu";
/// The CPU every module is built for.
pub const CPU: &str = "x86-64";

/// LLVM code-generation options every nfcc build uses, set once per process before the
/// first target machine exists (LLVM's options are process-global):
/// - `-enable-tail-merge=false`: branch folding must not merge the common tails of two IR
///   blocks into one machine block, which would then run on paths through neither's label;
/// - `-align-loops=1`, `-x86-experimental-pref-innermost-loop-alignment=0`: no nop padding
///   before loop headers, which is executed on fall-through and belongs to no IR block.
pub const CODEGEN_OPTIONS: &[&str] =
    &["-enable-tail-merge=false", "-align-loops=1", "-x86-experimental-pref-innermost-loop-alignment=0"];

static CODEGEN_ONCE: Once = Once::new();

/// Applies [`CODEGEN_OPTIONS`] exactly once per process.
fn set_codegen_options() {
    CODEGEN_ONCE.call_once(|| {
        let args: Vec<CString> = std::iter::once("nfcc")
            .chain(CODEGEN_OPTIONS.iter().copied())
            .map(|a| CString::new(a).expect("option text has no NUL"))
            .collect();
        let argv: Vec<*const std::os::raw::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        let overview = CString::new("nfcc").expect("no NUL");
        // SAFETY: argv points into `args`, which outlives the call; LLVM copies what it keeps.
        // The options are registered by the X86 target and CodeGen libraries, which are
        // initialised before this runs.
        unsafe {
            inkwell::llvm_sys::support::LLVMParseCommandLineOptions(
                argv.len() as i32,
                argv.as_ptr(),
                overview.as_ptr(),
            );
        }
    });
}

/// A target machine for position-independent x86-64 code at `level`.
pub fn machine(level: OptLevel) -> Result<TargetMachine, PassError> {
    Target::initialize_x86(&InitializationConfig::default());
    set_codegen_options();
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
