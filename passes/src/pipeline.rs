//! The ordered stages a module goes through between "IR loaded" and "object emitted".
//!
//! A stage is either an LLVM pass-pipeline string (run by LLVM's new pass manager) or one
//! of our own [`ModulePass`]es. Later work slots its passes in with [`Pipeline::insert_before`]
//! and [`Pipeline::push`]; the module is verified after every stage, so a pass that breaks
//! the IR is named at once rather than crashing code generation.

use crate::PassError;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::TargetMachine;
use std::fmt;
use std::time::{Duration, Instant};

/// How hard LLVM optimises (`-O` on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptLevel {
    /// No optimisation.
    O0,
    /// Light.
    O1,
    /// The default.
    #[default]
    O2,
    /// Aggressive.
    O3,
    /// For size.
    Os,
    /// For size, harder.
    Oz,
}

impl OptLevel {
    /// Parses `0`, `1`, `2`, `3`, `s`, `z`.
    pub fn parse(text: &str) -> Option<OptLevel> {
        Some(match text {
            "0" => OptLevel::O0,
            "1" => OptLevel::O1,
            "2" => OptLevel::O2,
            "3" => OptLevel::O3,
            "s" => OptLevel::Os,
            "z" => OptLevel::Oz,
            _ => return None,
        })
    }

    /// The flag clang takes for this level.
    pub fn clang_flag(self) -> &'static str {
        match self {
            OptLevel::O0 => "-O0",
            OptLevel::O1 => "-O1",
            OptLevel::O2 => "-O2",
            OptLevel::O3 => "-O3",
            OptLevel::Os => "-Os",
            OptLevel::Oz => "-Oz",
        }
    }

    /// LLVM's default module pipeline for this level.
    pub fn llvm_pipeline(self) -> &'static str {
        match self {
            OptLevel::O0 => "default<O0>",
            OptLevel::O1 => "default<O1>",
            OptLevel::O2 => "default<O2>",
            OptLevel::O3 => "default<O3>",
            OptLevel::Os => "default<Os>",
            OptLevel::Oz => "default<Oz>",
        }
    }
}

/// What `nfcc build --protect` compiles into a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protection {
    /// No checks (the module is trusted).
    None,
    /// Every store, atomic and memory-writing call checked.
    WriteOnly,
    /// Every load and store checked: the default.
    #[default]
    ReadWrite,
}

impl Protection {
    /// Parses `none`, `wonly`, `rw`.
    pub fn parse(text: &str) -> Option<Protection> {
        Some(match text {
            "none" => Protection::None,
            "wonly" => Protection::WriteOnly,
            "rw" => Protection::ReadWrite,
            _ => return None,
        })
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protection::None => "none",
            Protection::WriteOnly => "wonly",
            Protection::ReadWrite => "rw",
        }
    }

    /// The value of `nfcc_protection` in the module (0, 1, 2).
    pub fn raw(self) -> u32 {
        match self {
            Protection::None => 0,
            Protection::WriteOnly => 1,
            Protection::ReadWrite => 2,
        }
    }
}

/// LLVM passes run after instrumentation: inline the check helpers, then let LLVM merge,
/// hoist and delete checks it can prove (none of these passes speculate a check away).
pub const CLEANUP_PIPELINE: &str = "always-inline,function(instcombine<no-verify-fixpoint>,simplifycfg,early-cse<memssa>,constraint-elimination,loop-mssa(licm),irce,gvn<no-pre;no-load-pre>,simplifycfg),globaldce";

/// One of nfcc's own transformations or checks over a whole module.
pub trait ModulePass {
    /// Short name used in reports and errors.
    fn name(&self) -> &str;
    /// Runs over `module`; returns counters worth reporting (e.g. checks inserted).
    fn run(&self, module: &Module<'_>) -> Result<Vec<(String, u64)>, PassError>;
}

/// A step of the pipeline.
pub enum Stage {
    /// An LLVM pass-pipeline string, e.g. `default<O2>` or `function(instcombine)`.
    Llvm(String),
    /// One of our passes.
    Pass(Box<dyn ModulePass>),
}

impl Stage {
    /// The stage's name in reports.
    pub fn name(&self) -> &str {
        match self {
            Stage::Llvm(p) => p,
            Stage::Pass(p) => p.name(),
        }
    }
}

impl fmt::Debug for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one stage did.
#[derive(Debug, Clone)]
pub struct StageReport {
    /// Stage name.
    pub stage: String,
    /// Time it took.
    pub time: Duration,
    /// Counters it reported.
    pub counters: Vec<(String, u64)>,
}

/// The stages, in order.
#[derive(Debug, Default)]
pub struct Pipeline {
    stages: Vec<Stage>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// The standard pipeline of an unprotected module: check the ABI, internalize all but
    /// the entry points, place globals, make `nfcc_heap_check` the identity, LLVM's
    /// optimiser at `level`.
    pub fn standard(level: OptLevel) -> Pipeline {
        Pipeline::front(level, true)
    }

    fn front(level: OptLevel, elide_heap_checks: bool) -> Pipeline {
        let mut p = Pipeline::new();
        p.push(Stage::Pass(Box::new(crate::entry::CheckEntryPoints)));
        p.push(Stage::Pass(Box::new(crate::globals::Internalize)));
        p.push(Stage::Pass(Box::new(crate::globals::PlaceGlobals)));
        if elide_heap_checks {
            p.push(Stage::Pass(Box::new(crate::heap_check::ElideHeapChecks)));
        }
        p.push(Stage::Llvm(level.llvm_pipeline().to_string()));
        p
    }

    /// The pipeline of `nfcc build`: the standard one, then, for protected builds (where
    /// `nfcc_heap_check` stays until the isolation pass compiles it), the isolation pass,
    /// LLVM's cleanup, checks' failure blocks made to go on (for shrink-wrapping), and the
    /// independent verifier.
    pub fn for_build(level: OptLevel, protection: Protection) -> Pipeline {
        let mode = match protection {
            Protection::None => return Pipeline::standard(level),
            Protection::WriteOnly => crate::isolate::Mode::WriteOnly,
            Protection::ReadWrite => crate::isolate::Mode::ReadWrite,
        };
        let mut p = Pipeline::front(level, false);
        p.push(Stage::Pass(Box::new(crate::isolate::Isolate { mode })));
        p.push(Stage::Llvm(CLEANUP_PIPELINE.to_string()));
        p.push(Stage::Pass(Box::new(crate::isolate::ContinueAfterViolation)));
        let verify_mode = match mode {
            crate::isolate::Mode::WriteOnly => crate::verify::Mode::WriteOnly,
            crate::isolate::Mode::ReadWrite => crate::verify::Mode::ReadWrite,
        };
        p.push(Stage::Pass(Box::new(crate::verify::VerifyIsolation { mode: verify_mode })));
        p
    }

    /// Appends a stage.
    pub fn push(&mut self, stage: Stage) {
        self.stages.push(stage);
    }

    /// Inserts `stage` before the first stage named `before`; appends if there is none.
    pub fn insert_before(&mut self, before: &str, stage: Stage) {
        let at = self.stages.iter().position(|s| s.name() == before).unwrap_or(self.stages.len());
        self.stages.insert(at, stage);
    }

    /// Names of the stages, in order.
    pub fn stage_names(&self) -> Vec<String> {
        self.stages.iter().map(|s| s.name().to_string()).collect()
    }

    /// Runs every stage over `module`, verifying it after each.
    pub fn run(&self, module: &Module<'_>, tm: &TargetMachine) -> Result<Vec<StageReport>, PassError> {
        let mut reports = Vec::new();
        for stage in &self.stages {
            let t0 = Instant::now();
            let counters = match stage {
                Stage::Llvm(pipeline) => {
                    module.run_passes(pipeline, tm, PassBuilderOptions::create()).map_err(|e| {
                        PassError::Pipeline { pipeline: pipeline.clone(), message: e.to_string() }
                    })?;
                    Vec::new()
                }
                Stage::Pass(pass) => pass.run(module)?,
            };
            module.verify().map_err(|e| PassError::Verify {
                stage: stage.name().to_string(),
                message: e.to_string(),
            })?;
            reports.push(StageReport { stage: stage.name().to_string(), time: t0.elapsed(), counters });
        }
        Ok(reports)
    }
}
