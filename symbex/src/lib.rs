//! nfcc's contract engine: symbolic execution of a module's final, cost-annotated IR,
//! giving for each class of input packets an upper bound on the machine cost of one call
//! of `nf_process`, linear in performance-critical variables (PCVs).
//!
//! Data flow: annotated IR (module + runtime, `nfcc.cost` metadata from
//! `nfcc_passes::cost`) -> [`program::Program`] (functions, loops, addresses) ->
//! [`engine::Engine`] (every path, costs, loop summaries) -> [`contract::Contract`]
//! (paths grouped into classes, bounds, witnesses). The contract format is owned by
//! [`contract`]. This crate never prints.
#![deny(missing_docs)]

pub mod contract;
pub mod engine;
pub mod expr;
pub mod interval;
pub mod program;
pub mod render;
pub mod solver;

use inkwell::llvm_sys::prelude::LLVMModuleRef;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Limits and inputs of one analysis.
#[derive(Debug, Clone)]
pub struct Config {
    /// The entry point.
    pub entry: String,
    /// Whole-analysis time limit.
    pub time_limit: Duration,
    /// Per-query solver timeout.
    pub query_timeout: Duration,
    /// Back edges a loop may take unrolled before it is summarised anyway.
    pub unroll: u32,
    /// Most complete paths.
    pub max_paths: usize,
    /// Most instructions on one path.
    pub max_steps: u64,
    /// Source texts by file name (no directories), for PCV names written at loops.
    pub sources: HashMap<String, String>,
    /// Functions analysed once per calling context and charged by outcome where they are
    /// called (see `engine`'s call summaries): those compiled from a file whose path
    /// contains one of these fragments (the directory `nfcc build` compiled the
    /// data-structure library from).
    pub summarise_files: Vec<String>,
    /// Functions summarised by name, as `summarise_files`.
    pub summarise_functions: Vec<String>,
    /// Functions run in place (so their conditions stay on the path) but charged through
    /// one PCV per function, the times any of its calls runs, at the dearest run, instead
    /// of as a constant: the isolation checks' slow path, which runs of valid accesses do
    /// not take but which the engine cannot rule out where pointers lost their offsets (in
    /// a summarised loop, say).
    pub count_calls: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            entry: "nf_process".into(),
            time_limit: Duration::from_secs(60),
            query_timeout: Duration::from_millis(250),
            unroll: 64,
            max_paths: 20_000,
            max_steps: 2_000_000,
            sources: HashMap::new(),
            summarise_files: Vec::new(),
            summarise_functions: Vec::new(),
            count_calls: Vec::new(),
        }
    }
}

/// Kinds of holes: what the engine could not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoleKind {
    /// A call to code neither the module nor the runtime defines.
    UnmodelledCall,
    /// A loop or recursion the engine cannot bound.
    Unbounded,
    /// A time, path or solver limit was hit.
    Timeout,
    /// An instruction or value the engine does not model.
    Unsupported,
    /// A block without cost metadata.
    NoCost,
}

/// Something the contract does not cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hole {
    /// Its kind.
    pub kind: HoleKind,
    /// What and where.
    pub what: String,
}

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum SymbexError {
    /// The input IR is not what the engine needs.
    #[error("{0}")]
    Input(String),
}

/// Facts about the module the contract describes, supplied by the caller.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    /// The module file.
    pub module: String,
    /// Its protection mode (`none`, `wonly`, `rw`).
    pub protection: String,
    /// The nfcc version that built it.
    pub nfcc_version: String,
    /// SHA-256 of the module file, in hex.
    pub module_sha256: String,
}

/// Analyses `modules` (the NF module first, then the runtime it is linked with; both
/// annotated with cost metadata) and builds the contract.
pub fn analyse(modules: &[LLVMModuleRef], cfg: &Config, info: &ModuleInfo) -> Result<contract::Contract, SymbexError> {
    let t0 = Instant::now();
    let prog = program::Program::new(modules, &cfg.entry)?;
    let mut engine = engine::Engine::new(&prog, cfg.clone());
    engine.run(&cfg.entry)?;
    // A loop that wrote more than it was assumed to: explore again with the wider
    // assumption (each round widens at least one loop's regions, so this ends).
    while engine.assumptions_broken() {
        let mut again = engine::Engine::new(&prog, cfg.clone());
        again.widen(&engine);
        again.run(&cfg.entry)?;
        engine = again;
    }
    Ok(contract::build(&prog, &mut engine, cfg, info, t0.elapsed()))
}
