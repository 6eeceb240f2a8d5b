//! nfcc's IR stages, driven through inkwell: load and link the bitcode clang produced, run
//! the pipeline (our own passes slotted around LLVM's optimiser), emit a relocatable object.
//!
//! The data flows `ir::load_and_link` -> `pipeline::Pipeline::run` -> `target::emit_object`.
//! Every failure is a [`PassError`] carrying the file, function or pass that caused it;
//! this crate never prints.
#![deny(missing_docs)]

pub mod cost;
pub mod entry;
pub mod error;
pub mod globals;
pub mod heap_check;
pub mod ir;
pub mod isolate;
pub mod llvm;
pub mod pipeline;
pub mod target;
pub mod trace;
pub mod verify;

pub use error::PassError;
pub use pipeline::{ModulePass, OptLevel, Pipeline, Protection, StageReport};

use std::path::{Path, PathBuf};

/// What [`compile`] produced besides the object file.
#[derive(Debug)]
pub struct Compiled {
    /// Each pipeline stage, in order.
    pub stages: Vec<StageReport>,
    /// The final IR as text, when asked for.
    pub ir: Option<String>,
    /// The final IR as bitcode (what the contract engine reads).
    pub bitcode: Vec<u8>,
}

/// The whole middle of a build: links `bitcode` (pairs of bitcode file and the source it
/// came from), runs `pipeline`, and writes the object to `object`.
pub fn compile(
    bitcode: &[(PathBuf, PathBuf)],
    pipeline: &Pipeline,
    level: OptLevel,
    object: &Path,
    want_ir: bool,
) -> Result<Compiled, PassError> {
    let tm = target::machine(level)?;
    let ctx = inkwell::context::Context::create();
    let module = ir::load_and_link(&ctx, bitcode)?;
    target::adopt(&module, &tm);
    let stages = pipeline.run(&module, &tm)?;
    // The IR as the pipeline left it: code generation rewrites the module it runs on
    // (CodeGenPrepare adds blocks), and the cost metadata describes the IR before that.
    let ir = want_ir.then(|| module.print_to_string().to_string());
    let bitcode = module.write_bitcode_to_memory().as_slice().to_vec();
    target::emit_object(&module, &tm, object)?;
    Ok(Compiled { stages, ir, bitcode })
}
