//! The performance contract of a module being built: the annotated IR of the module and of
//! the runtime it links, handed to the contract engine (`nfcc-symbex`).

use crate::build::{BuildError, BuildOptions};
use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use nfcc_symbex::contract::Contract;
use std::collections::HashMap;

/// Builds the contract of the module whose final IR is `module_bc`, linked with the runtime
/// whose IR is `runtime_bc`. `sources` are the C sources' texts by file name (PCV names
/// written at loops are read from them); `library` is where the data-structure library's
/// sources were compiled from, if the module includes it; `module_bytes` is the linked module.
pub fn generate(
    module_bc: &[u8],
    runtime_bc: &[u8],
    sources: HashMap<String, String>,
    library: Option<&std::path::Path>,
    opts: &BuildOptions,
    module_bytes: &[u8],
) -> Result<Contract, BuildError> {
    let fail = |message: String| BuildError::Contract { output: opts.output.clone(), message };
    let ctx = Context::create();
    let load = |bytes: &[u8], name: &str| {
        let buf = MemoryBuffer::create_from_memory_range_copy(bytes, name);
        ctx.create_module_from_ir(buf).map_err(|e| fail(format!("cannot read the {name} IR: {e}")))
    };
    let module = load(module_bc, "module")?;
    let runtime = load(runtime_bc, "runtime")?;
    let mut sources = sources;
    sources.entry("nfcc_rt.c".into()).or_insert_with(|| nfcc_runtime::abi::RUNTIME_C.into());
    sources.entry("nfcc_hash.c".into()).or_insert_with(|| nfcc_runtime::abi::RUNTIME_HASH_C.into());
    // The data-structure library and the runtime's memory functions are analysed once per
    // calling context and charged by outcome where they are called; so is the isolation
    // checks' slow path, through a PCV of its own (its runs: 0 for valid accesses).
    let cfg = nfcc_symbex::Config {
        sources,
        summarise_files: library.map(|d| format!("{}/", d.display())).into_iter().collect(),
        summarise_functions: ["memcpy", "memmove", "memset", "memcmp", "bcmp", "nfcc_hash_bytes"].map(String::from).to_vec(),
        count_calls: vec!["nfcc__check".into()],
        ..nfcc_symbex::Config::default()
    };
    let cfg = match opts.contract_time_limit {
        Some(limit) => nfcc_symbex::Config { time_limit: limit, ..cfg },
        None => cfg,
    };
    let info = nfcc_symbex::ModuleInfo {
        module: opts.output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        protection: opts.protect.name().into(),
        nfcc_version: env!("CARGO_PKG_VERSION").into(),
        module_sha256: sha256_hex(module_bytes),
    };
    nfcc_symbex::analyse(&[module.as_mut_ptr(), runtime.as_mut_ptr()], &cfg, &info).map_err(|e| fail(e.to_string()))
}

/// The SHA-256 of `bytes` in hex: how a contract names the exact binary it describes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
