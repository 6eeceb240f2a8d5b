//! `nfcc build`: C sources -> clang bitcode -> the passes pipeline -> object -> shared module.
//!
//! Invariants: nothing is written next to the output until every step succeeded (the module
//! and its IR are renamed into place at the very end); the runtime's C files and headers are
//! taken from the `nfcc-runtime` crate, so a module is always built against the ABI of the
//! host in the same binary.

use nfcc_passes::{OptLevel, PassError, Pipeline, Protection, StageReport};
use nfcc_runtime::abi;
use nfcc_runtime::atomic::AtomicFile;
use nfcc_runtime::ds;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Everything `nfcc build` was asked for.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// C sources, linked into one module.
    pub sources: Vec<PathBuf>,
    /// The module to write.
    pub output: PathBuf,
    /// `-I` directories.
    pub include_dirs: Vec<PathBuf>,
    /// `-D` definitions, `NAME` or `NAME=VALUE`.
    pub defines: Vec<String>,
    /// `-O` level.
    pub opt: OptLevel,
    /// Also write the final IR beside the module (`OUT.ll`).
    pub emit_ir: bool,
    /// What the isolation pass checks.
    pub protect: Protection,
    /// Instrument with clang's AddressSanitizer instead (the fine-grained baseline of
    /// `nfcc bench`; use with `Protection::None` and [`asan_pipeline`]).
    pub sanitize_address: bool,
    /// Whether and how to write the performance contract beside the module.
    pub contract: ContractMode,
    /// Wall time the contract engine may take (`None`: its default, 60 s); past it, what is
    /// left unexplored is a hole.
    pub contract_time_limit: Option<std::time::Duration>,
    /// Make the contract a whole-stack one with this model of the packet path around the
    /// module (`nfcc build --stack`; see [`crate::stack`]).
    pub stack: Option<crate::stack::StackModel>,
}

/// What `nfcc build` does about the performance contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContractMode {
    /// No contract (and no cost annotation needed).
    #[default]
    Off,
    /// Write `OUT.contract.json`; fail the build if anything is not covered.
    Strict,
    /// Write it, listing what is not covered as holes.
    AllowHoles,
}

/// The pipeline `nfcc build` runs for `opts`: [`Pipeline::for_build`], then cost annotation
/// when a contract is wanted.
pub fn pipeline(opts: &BuildOptions) -> Pipeline {
    let mut p = Pipeline::for_build(opts.opt, opts.protect);
    if opts.contract != ContractMode::Off {
        p.push(nfcc_passes::pipeline::Stage::Pass(Box::new(nfcc_passes::cost::AnnotateCosts { level: opts.opt })));
    }
    p
}

/// The contract written beside `output` (`nat.so` -> `nat.contract.json`).
pub fn contract_path(output: &Path) -> PathBuf {
    output.with_extension("contract.json")
}

/// The tracing variant written beside `output` when its contract has PCVs
/// (`nat.so` -> `nat.trace.so`): the module's final IR plus `passes::trace::TracePcvs`,
/// which `nfcc check` runs to count each packet's PCVs.
pub fn trace_path(output: &Path) -> PathBuf {
    output.with_extension("trace.so")
}

/// The pipeline for an AddressSanitizer build: the standard one, then LLVM's `asan` pass.
pub fn asan_pipeline(level: OptLevel) -> Pipeline {
    let mut p = Pipeline::standard(level);
    p.push(nfcc_passes::pipeline::Stage::Llvm("asan".into()));
    p
}

/// AddressSanitizer's runtime, which must be preloaded into a host running ASan modules.
pub const ASAN_RUNTIME: &str = "/usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.asan-x86_64.so";

/// What a successful build produced.
#[derive(Debug)]
pub struct BuildReport {
    /// The module written.
    pub output: PathBuf,
    /// The IR written, with `--emit-ir`.
    pub ir: Option<PathBuf>,
    /// Each pipeline stage, in order.
    pub stages: Vec<StageReport>,
    /// Warnings clang printed for sources that compiled.
    pub warnings: String,
    /// The external commands run (clang, the linker), for `-v`.
    pub commands: Vec<String>,
    /// The contract written, and where.
    pub contract: Option<(PathBuf, nfcc_symbex::contract::Contract)>,
    /// The tracing variant written (when the contract has PCVs).
    pub trace: Option<PathBuf>,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No source given.
    #[error("no source file given")]
    NoSources,
    /// A source does not exist or cannot be read.
    #[error("{}: cannot read source: {reason}", path.display())]
    Unreadable {
        /// The source.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A source is not C.
    #[error("{}: not a C source (nfcc builds .c files)", path.display())]
    NotC {
        /// The source.
        path: PathBuf,
    },
    /// The output would overwrite a source.
    #[error("{}: the output would overwrite a source file", path.display())]
    OutputIsSource {
        /// The output path.
        path: PathBuf,
    },
    /// clang-19 (or the linker) is not installed.
    #[error("cannot run {tool}: {reason} (run scripts/setup.sh to install LLVM 19)")]
    ToolMissing {
        /// The tool.
        tool: String,
        /// The OS error.
        reason: String,
    },
    /// clang rejected a source; its diagnostics carry file:line:column.
    #[error("{}: does not compile\n{diagnostics}", path.display())]
    Compile {
        /// The source.
        path: PathBuf,
        /// clang's diagnostics.
        diagnostics: String,
    },
    /// A pipeline stage failed.
    #[error(transparent)]
    Pass(#[from] PassError),
    /// Linking the shared module failed.
    #[error("{}: cannot link the module\n{diagnostics}", output.display())]
    Link {
        /// The module being built.
        output: PathBuf,
        /// The linker's messages.
        diagnostics: String,
    },
    /// The output cannot be written.
    #[error("{}: cannot write: {source}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A temporary file of the build cannot be written.
    #[error("cannot create temporary files: {0}")]
    Temp(std::io::Error),
    /// The contract engine failed.
    #[error("{}: cannot make the performance contract: {message}", output.display())]
    Contract {
        /// The module being built.
        output: PathBuf,
        /// Why.
        message: String,
    },
    /// The contract does not cover every path.
    #[error("{}: the performance contract does not cover every path:\n{}\n(--contract-holes writes it with these listed as holes; --no-contract skips it)", output.display(), holes.iter().map(|h| format!("  - {h}")).collect::<Vec<_>>().join("\n"))]
    ContractHoles {
        /// The module being built.
        output: PathBuf,
        /// What is not covered.
        holes: Vec<String>,
    },
}

/// The clang-19 binary: `$NFCC_CLANG`, else `clang-19` on PATH, else LLVM 19's own.
pub fn clang() -> PathBuf {
    if let Some(c) = std::env::var_os("NFCC_CLANG") {
        return c.into();
    }
    let versioned = Path::new("/usr/lib/llvm-19/bin/clang");
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("clang-19").is_file()))
        .unwrap_or(false);
    if on_path || !versioned.is_file() {
        "clang-19".into()
    } else {
        versioned.into()
    }
}

/// The `.ll` written beside `output` with `--emit-ir`.
pub fn ir_path(output: &Path) -> PathBuf {
    output.with_extension("ll")
}

/// Runs a command, returning its stderr on success and (stderr) as the error on failure.
fn run_tool(cmd: &mut Command, log: &mut Vec<String>) -> Result<Result<String, String>, BuildError> {
    log.push(format!("{cmd:?}"));
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .output()
        .map_err(|e| BuildError::ToolMissing { tool, reason: e.to_string() })?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok(if out.status.success() { Ok(stderr) } else { Err(stderr) })
}

/// Builds the module described by `opts`, with `pipeline` between loading and emission.
pub fn build(opts: &BuildOptions, pipeline: &Pipeline) -> Result<BuildReport, BuildError> {
    if opts.sources.is_empty() {
        return Err(BuildError::NoSources);
    }
    for src in &opts.sources {
        let meta = std::fs::metadata(src)
            .map_err(|e| BuildError::Unreadable { path: src.clone(), reason: e.to_string() })?;
        if meta.is_dir() {
            return Err(BuildError::Unreadable { path: src.clone(), reason: "is a directory".into() });
        }
        std::fs::File::open(src)
            .map_err(|e| BuildError::Unreadable { path: src.clone(), reason: e.to_string() })?;
        if src.extension().is_none_or(|e| e != "c") {
            return Err(BuildError::NotC { path: src.clone() });
        }
        if same_file(src, &opts.output) {
            return Err(BuildError::OutputIsSource { path: opts.output.clone() });
        }
    }

    let work = tempfile::Builder::new().prefix("nfcc-build-").tempdir().map_err(BuildError::Temp)?;
    let include = work.path().join("include");
    std::fs::create_dir(&include).map_err(BuildError::Temp)?;
    for (name, text) in [
        ("nfcc.h", abi::HEADER_NFCC_H),
        ("nfcc_host_api.h", abi::HEADER_HOST_API_H),
        ("nfcc_rt.c", abi::RUNTIME_C),
        ("nfcc_hash.c", abi::RUNTIME_HASH_C),
        (ds::HEADER_NAME, ds::HEADER),
    ] {
        std::fs::write(include.join(name), text).map_err(BuildError::Temp)?;
    }
    // The data-structure library is module code: compiled and linked with the NF (and so
    // checked like it) when a source includes its header.
    let mut sources: Vec<PathBuf> = opts.sources.clone();
    let uses_ds = opts.sources.iter().any(|s| {
        std::fs::read_to_string(s).is_ok_and(|text| text.contains(ds::HEADER_NAME))
    });
    if uses_ds {
        let dsdir = work.path().join("ds");
        std::fs::create_dir(&dsdir).map_err(BuildError::Temp)?;
        for (name, text) in ds::SOURCES {
            let p = dsdir.join(name);
            std::fs::write(&p, text).map_err(BuildError::Temp)?;
            sources.push(p);
        }
    }

    let clang = clang();
    let mut commands = Vec::new();
    let mut warnings = String::new();
    let mut bitcode = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let bc = work.path().join(format!("{i}.bc"));
        let mut cmd = Command::new(&clang);
        cmd.args(["-c", "-emit-llvm", "--target=x86_64-pc-linux-gnu", "-fPIC", "-std=gnu11"])
            .arg(opts.opt.clang_flag())
            // Unoptimised IR without `optnone`: our pipeline runs the optimiser itself.
            // DWARF 4: valgrind 3.19 (callgrind, for exact counts) cannot read clang 19's
            // DWARF 5 line tables of multi-file modules.
            .args(["-Xclang", "-disable-llvm-passes", "-gline-tables-only", "-gdwarf-4", "-fno-common"])
            .args(["-fdiagnostics-color=never", "-Wall"])
            .arg("-I")
            .arg(&include);
        for d in &opts.include_dirs {
            cmd.arg("-I").arg(d);
        }
        for d in &opts.defines {
            cmd.arg(format!("-D{d}"));
        }
        if opts.sanitize_address {
            cmd.arg("-fsanitize=address");
        }
        cmd.arg("-o").arg(&bc).arg(src);
        match run_tool(&mut cmd, &mut commands)? {
            Ok(w) => warnings.push_str(&w),
            Err(diagnostics) => return Err(BuildError::Compile { path: src.clone(), diagnostics }),
        }
        bitcode.push((bc, src.clone()));
    }

    let nf_obj = work.path().join("nf.o");
    let compiled = nfcc_passes::compile(&bitcode, pipeline, opts.opt, &nf_obj, opts.emit_ir)?;
    let (stages, ir_text, module_bitcode) = (compiled.stages, compiled.ir, compiled.bitcode);

    // The runtime is trusted host-side code: compiled as is, never through our isolation
    // passes. With a contract it goes through clang's optimiser to bitcode and then only
    // through cost annotation, so the engine sees the code the module links.
    let rt_obj = work.path().join("nfcc_rt.o");
    let want_contract = opts.contract != ContractMode::Off;
    let mut cmd = Command::new(&clang);
    cmd.args(["-c", "--target=x86_64-pc-linux-gnu", "-fPIC", "-O2", "-std=gnu11", "-fdiagnostics-color=never"])
        .arg(format!("-DNFCC_PROTECTION={}", opts.protect.raw()))
        .arg("-I")
        .arg(&include);
    let rt_bc = work.path().join("nfcc_rt.bc");
    if want_contract {
        // Line tables: contracts name the runtime's loops by file and line.
        cmd.args(["-emit-llvm", "-gline-tables-only", "-gdwarf-4"]).arg("-o").arg(&rt_bc);
    } else {
        cmd.arg("-o").arg(&rt_obj);
    }
    cmd.arg(include.join("nfcc_rt.c"));
    if let Err(diagnostics) = run_tool(&mut cmd, &mut commands)? {
        return Err(BuildError::Compile { path: "nfcc_rt.c (nfcc's runtime)".into(), diagnostics });
    }
    let mut runtime_bitcode = Vec::new();
    if want_contract {
        let mut annotate = Pipeline::new();
        annotate.push(nfcc_passes::pipeline::Stage::Pass(Box::new(nfcc_passes::cost::AnnotateCosts { level: opts.opt })));
        let rt = nfcc_passes::compile(&[(rt_bc, PathBuf::from("nfcc_rt.c"))], &annotate, opts.opt, &rt_obj, false)?;
        runtime_bitcode = rt.bitcode;
    }

    let exports = work.path().join("exports.map");
    let globals: String = abi::EXPORTED_SYMBOLS.iter().map(|s| format!("{s}; ")).collect();
    std::fs::write(&exports, format!("{{ global: {globals}local: *; }};\n")).map_err(BuildError::Temp)?;
    let so = work.path().join("module.so");
    link(&clang, &so, &nf_obj, &rt_obj, &exports, opts, &mut commands)?;

    let module_bytes = std::fs::read(&so).map_err(BuildError::Temp)?;
    let contract = match opts.contract {
        ContractMode::Off => None,
        mode => {
            let mut srcs = std::collections::HashMap::new();
            for src in &sources {
                if let (Some(name), Ok(text)) = (src.file_name(), std::fs::read_to_string(src)) {
                    srcs.insert(name.to_string_lossy().into_owned(), text);
                }
            }
            let library = uses_ds.then(|| work.path().join("ds"));
            let c = crate::contract::generate(&module_bitcode, &runtime_bitcode, srcs, library.as_deref(), opts, &module_bytes)?;
            if mode == ContractMode::Strict && !c.coverage.complete {
                return Err(BuildError::ContractHoles {
                    output: opts.output.clone(),
                    holes: c.coverage.holes.iter().map(|h| h.what.clone()).collect(),
                });
            }
            let mut c = c;
            if let Some(m) = &opts.stack {
                c.stack = Some(m.section(&c));
            }
            Some(c)
        }
    };

    // The tracing variant, when the contract has PCVs or call results to count (see
    // `passes::trace`).
    let trace = match &contract {
        Some(c) if !c.counted().is_empty() => {
            let bytes = build_trace(c, &module_bitcode, &runtime_bitcode, &clang, &rt_obj, work.path(), opts, &mut commands)?;
            Some((trace_path(&opts.output), bytes))
        }
        _ => None,
    };

    let ir = ir_text.map(|text| (ir_path(&opts.output), text));
    let staged_so = stage(&opts.output, &module_bytes, 0o755)?;
    let staged_ir = match &ir {
        Some((path, text)) => Some(stage(path, text.as_bytes(), 0o644)?),
        None => None,
    };
    let staged_contract = match &contract {
        Some(c) => Some(stage(&contract_path(&opts.output), c.to_json().as_bytes(), 0o644)?),
        None => None,
    };
    let staged_trace = match &trace {
        Some((path, bytes)) => Some(stage(path, bytes, 0o755)?),
        None => None,
    };
    for f in [staged_ir, staged_contract, staged_trace].into_iter().flatten() {
        let path = f.path().to_path_buf();
        f.commit().map_err(|source| BuildError::Output { path, source })?;
    }
    staged_so.commit().map_err(|source| BuildError::Output { path: opts.output.clone(), source })?;
    let contract = contract.map(|c| (contract_path(&opts.output), c));
    Ok(BuildReport {
        output: opts.output.clone(),
        ir: ir.map(|(p, _)| p),
        stages,
        warnings,
        commands,
        contract,
        trace: trace.map(|(p, _)| p),
    })
}

/// Links `nf_obj` and the runtime object into the shared module `so`, exporting what
/// `exports` (a version script) lists.
fn link(
    clang: &Path,
    so: &Path,
    nf_obj: &Path,
    rt_obj: &Path,
    exports: &Path,
    opts: &BuildOptions,
    commands: &mut Vec<String>,
) -> Result<(), BuildError> {
    let mut cmd = Command::new(clang);
    cmd.args(["-shared", "--target=x86_64-pc-linux-gnu", "-fuse-ld=lld", "-fdiagnostics-color=never"])
        .arg("-o")
        .arg(so)
        .arg(nf_obj)
        .arg(rt_obj)
        .arg(format!("-Wl,--version-script={}", exports.display()))
        .args(["-Wl,-z,defs", "-Wl,-z,now", "-Wl,-z,relro", "-Wl,--undefined-version"]);
    if opts.sanitize_address {
        cmd.args(["-fsanitize=address", "-shared-libasan"]);
    }
    if let Err(diagnostics) = run_tool(&mut cmd, commands)? {
        return Err(BuildError::Link { output: opts.output.clone(), diagnostics: clean_link(&diagnostics, nf_obj) });
    }
    Ok(())
}

/// The tracing variant of the module whose final IR is `module_bc` and whose contract is
/// `contract`: that IR plus `passes::trace::TracePcvs` (a counter per PCV, tagged with the
/// module's SHA-256), proved again by the isolation verifier in protected modes, linked with
/// the runtime (whose final IR is `runtime_bc`: the same object, or that IR through the same
/// pass when PCV loops lie in it) and exporting the counters. Returns the shared object.
#[allow(clippy::too_many_arguments)]
fn build_trace(
    contract: &nfcc_symbex::contract::Contract,
    module_bc: &[u8],
    runtime_bc: &[u8],
    clang: &Path,
    rt_obj: &Path,
    work: &Path,
    opts: &BuildOptions,
    commands: &mut Vec<String>,
) -> Result<Vec<u8>, BuildError> {
    use nfcc_passes::trace::{defined_functions, BlockSite, CallTest, PcvSites, ResultTest, Site, TracePcvs, COUNTS_SYMBOL, INFO_SYMBOL};
    // A site is in the module's IR if the module defines its function, else in the
    // runtime's (the engine reads both, the module first).
    let in_module = defined_functions(module_bc)?;
    let in_runtime = defined_functions(runtime_bc)?;
    // Whether `function` (where `what` lies) is the module's (else the runtime's).
    let in_module_ir = |function: &str, what: String| -> Result<bool, BuildError> {
        if in_module.contains(function) {
            Ok(true)
        } else if in_runtime.contains(function) {
            Ok(false)
        } else {
            Err(BuildError::Contract {
                output: opts.output.clone(),
                message: format!("{what} is in `{function}`, which neither the module nor the runtime defines"),
            })
        }
    };
    let mut module_pcvs = Vec::new();
    let mut runtime_pcvs = Vec::new();
    for p in &contract.pcvs {
        let (mut here, mut there) = (Vec::new(), Vec::new());
        for s in &p.sites {
            let site = Site { function: s.function.clone(), header: s.header };
            if in_module_ir(&s.function, format!("PCV `{}`: its loop", p.name))? { here.push(site) } else { there.push(site) }
        }
        let (mut calls_here, mut calls_there) = (Vec::new(), Vec::new());
        for c in &p.calls {
            let bad = |message: String| BuildError::Contract { output: opts.output.clone(), message };
            let number = |v: &String| v.parse::<i128>().map_err(|_| bad(format!("PCV `{}`: result `{v}` is not a number", p.name)));
            let (width, test) = match (&c.returned, c.returned_none_of.is_empty()) {
                (Some(v), true) => (c.width, ResultTest::Eq(number(v)?)),
                (None, false) => (c.width, ResultTest::NoneOf(c.returned_none_of.iter().map(number).collect::<Result<_, _>>()?)),
                (None, true) => (0, ResultTest::Any),
                (Some(_), false) => return Err(bad(format!("PCV `{}`: a call counted both by one result and by none of several", p.name))),
            };
            let call = CallTest { function: c.function.clone(), block: c.block, index: c.index, width, test };
            if in_module_ir(&c.function, format!("PCV `{}`: its call", p.name))? { calls_here.push(call) } else { calls_there.push(call) }
        }
        let (mut blocks_here, mut blocks_there) = (Vec::new(), Vec::new());
        for b in &p.blocks {
            let block = BlockSite { function: b.function.clone(), block: b.block };
            if in_module_ir(&b.function, format!("PCV `{}`: its block", p.name))? { blocks_here.push(block) } else { blocks_there.push(block) }
        }
        module_pcvs.push(PcvSites { name: p.name.clone(), sites: here, calls: calls_here, blocks: blocks_here });
        runtime_pcvs.push(PcvSites { name: p.name.clone(), sites: there, calls: calls_there, blocks: blocks_there });
    }
    // Then each tracked call's counters, in `Contract::counted` order.
    for c in &contract.calls {
        let bad = |message: String| BuildError::Contract { output: opts.output.clone(), message };
        let mut values = Vec::new();
        for v in &c.values {
            values.push(v.parse::<i128>().map_err(|_| bad(format!("call `{}`: result `{v}` is not a number", c.name)))?);
        }
        let names = c.counters();
        let tests: Vec<ResultTest> = match c.exit_side {
            Some(side) => vec![ResultTest::Side(side)],
            None => values.iter().map(|v| ResultTest::Eq(*v)).chain(std::iter::once(ResultTest::NoneOf(values.clone()))).collect(),
        };
        for (name, test) in names.into_iter().zip(tests) {
            let call = CallTest { function: c.function.clone(), block: c.block, index: c.index, width: c.width, test };
            let (mut here, mut there) = (Vec::new(), Vec::new());
            if in_module_ir(&c.function, format!("call `{}`", c.name))? { here.push(call) } else { there.push(call) }
            module_pcvs.push(PcvSites { name: name.clone(), sites: Vec::new(), calls: here, blocks: Vec::new() });
            runtime_pcvs.push(PcvSites { name, sites: Vec::new(), calls: there, blocks: Vec::new() });
        }
    }
    let final_bc = work.join("final.bc");
    std::fs::write(&final_bc, module_bc).map_err(BuildError::Temp)?;
    let mut pipeline = Pipeline::new();
    pipeline.push(nfcc_passes::pipeline::Stage::Pass(Box::new(TracePcvs {
        module_sha256: contract.module_sha256.clone(),
        pcvs: module_pcvs,
        define: true,
    })));
    let verify = match opts.protect {
        Protection::None => None,
        Protection::WriteOnly => Some(nfcc_passes::verify::Mode::WriteOnly),
        Protection::ReadWrite => Some(nfcc_passes::verify::Mode::ReadWrite),
    };
    if let Some(mode) = verify {
        pipeline.push(nfcc_passes::pipeline::Stage::Pass(Box::new(nfcc_passes::verify::VerifyIsolation { mode })));
    }
    let obj = work.join("trace.o");
    let name = format!("{} (tracing variant)", opts.output.display());
    nfcc_passes::compile(&[(final_bc, PathBuf::from(name))], &pipeline, opts.opt, &obj, false)?;
    // The runtime's loops: its final IR with the same pass, counting into the module's
    // counters (trusted code, as the runtime always is: not verified).
    let rt_traced;
    let rt_obj = if runtime_pcvs.iter().any(|p| !p.sites.is_empty() || !p.calls.is_empty()) {
        let rt_bc = work.join("runtime-final.bc");
        std::fs::write(&rt_bc, runtime_bc).map_err(BuildError::Temp)?;
        let mut rt_pipeline = Pipeline::new();
        rt_pipeline.push(nfcc_passes::pipeline::Stage::Pass(Box::new(TracePcvs {
            module_sha256: contract.module_sha256.clone(),
            pcvs: runtime_pcvs,
            define: false,
        })));
        rt_traced = work.join("trace-runtime.o");
        nfcc_passes::compile(&[(rt_bc, PathBuf::from("nfcc_rt.c (tracing variant)"))], &rt_pipeline, opts.opt, &rt_traced, false)?;
        rt_traced.as_path()
    } else {
        rt_obj
    };
    let exports = work.join("trace-exports.map");
    let globals: String =
        abi::EXPORTED_SYMBOLS.iter().chain(&[COUNTS_SYMBOL, INFO_SYMBOL]).map(|s| format!("{s}; ")).collect();
    std::fs::write(&exports, format!("{{ global: {globals}local: *; }};\n")).map_err(BuildError::Temp)?;
    let so = work.join("trace.so");
    link(clang, &so, &obj, rt_obj, &exports, opts, commands)?;
    std::fs::read(&so).map_err(BuildError::Temp)
}

/// The linker names our temporary object; users wrote C sources.
fn clean_link(diagnostics: &str, obj: &Path) -> String {
    diagnostics.replace(&obj.display().to_string(), "module").trim_end().to_string()
}

/// Writes `bytes` to a hidden temporary beside `path`, ready to be committed onto it.
fn stage(path: &Path, bytes: &[u8], mode: u32) -> Result<AtomicFile, BuildError> {
    let err = |source| BuildError::Output { path: path.to_path_buf(), source };
    let mut f = AtomicFile::create(path, mode).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    Ok(f)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
