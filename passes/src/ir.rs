//! Loading clang's IR (bitcode or text) and linking several translation units into one module.

use crate::PassError;
use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::module::Module;
use std::path::PathBuf;

/// Parses every bitcode file and links them into the first. Each bitcode file comes with
/// the C source it was compiled from, which errors name.
pub fn load_and_link<'ctx>(
    ctx: &'ctx Context,
    files: &[(PathBuf, PathBuf)],
) -> Result<Module<'ctx>, PassError> {
    let mut module: Option<Module<'ctx>> = None;
    for (bitcode, source) in files {
        let m = load(ctx, bitcode)
            .map_err(|message| PassError::Load { path: source.clone(), message })?;
        match &module {
            None => module = Some(m),
            Some(first) => first
                .link_in_module(m)
                .map_err(|e| PassError::Link { path: source.clone(), message: e.to_string().trim().to_string() })?,
        }
    }
    let module = module.expect("at least one input");
    module.set_source_file_name(&source_names(files));
    module
        .verify()
        .map_err(|e| PassError::Verify { stage: "load".into(), message: e.to_string() })?;
    Ok(module)
}

/// Parses one file of LLVM IR, bitcode or text (`.ll`).
pub fn load<'ctx>(ctx: &'ctx Context, path: &std::path::Path) -> Result<Module<'ctx>, String> {
    let buf = MemoryBuffer::create_from_file(path).map_err(|e| e.to_string())?;
    ctx.create_module_from_ir(buf).map_err(|e| e.to_string())
}

fn source_names(files: &[(PathBuf, PathBuf)]) -> String {
    files.iter().map(|(_, s)| s.display().to_string()).collect::<Vec<_>>().join(", ")
}

