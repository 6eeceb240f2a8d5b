//! The whole stack in the contract: models of what the DPDK path around a module costs
//! (`nfcc dpdk-model`), whole-stack contracts (`nfcc build --stack`), and their check on
//! real DPDK runs (`nfcc check --dpdk`).
//!
//! **What is measured.** The DPDK host's per-lcore loop, `Loop::serve` in
//! `nfcc-runtime`'s `dpdk` module, runs under valgrind callgrind with collection on only
//! inside it and off inside `nf_process` (nested `--toggle-collect`): every receive burst
//! (the C shim's `nfcc_dpdk_rx`, hence `rte_eth_rx_burst` and the driver's receive
//! function), the host's per-packet dispatch (staging, the mbuf as a `Frame`,
//! `run_chain`, the module's runtime entry with its fault containment, the verdict),
//! transmit bursts (`nfcc_dpdk_tx`, the driver), frees on drop, and the loop's own
//! bookkeeping. Counts are dumped on entry to every `Loop::process` (one packet) and after
//! every `Loop::flush` (the end of each round of the loop that received something), so
//! each burst's stack cost and size are exact. callgrind cannot cut one call's counts on
//! both sides of a function, so `nfcc check --dpdk` measures the module's calls in a second,
//! identical run (`--toggle-collect=nf_process`). Metrics are the contract's: `Ir`, and
//! `Dr + Dw` (`--cache-sim=yes`). `LD_BIND_NOW=1` keeps the dynamic linker's lazy binding
//! out of the first bursts.
//!
//! **The model** of a device is `a + b * burst` per receive burst on each metric: the
//! upper envelope (no measured point above the line, integer coefficients) of bursts of
//! controlled sizes, measured with three model NFs (one forwards every packet, one drops
//! every packet, one floods every packet: on the model's one port that is the chain's
//! flood path with no copy to make), after a few warm-up bursts per run: net_ring primed with exactly the
//! run's packets, net_null and net_pcap with the receive burst size set (`--dpdk-burst`).
//! Among envelope lines it takes the one with the smallest mean relative gap over the
//! points.

use crate::build::{self, BuildOptions, ContractMode};
use crate::check::{self, Dump, Metrics};
use crate::contract::sha256_hex;
use nfcc_passes::{OptLevel, Protection};
use nfcc_runtime::atomic::AtomicFile;
use nfcc_runtime::config::Setting;
use nfcc_runtime::module::{ModuleSpec, Verdict};
use nfcc_runtime::pcap::{PacketRecord, PcapError, PcapReader, PcapWriter};
use nfcc_symbex::contract::{Bound, Bounds, Contract, ContractError, Input as ContractInput, Pcv, Stack};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The format name of a model file.
pub const MODEL_FORMAT: &str = "nfcc-dpdk-model/2";
/// The devices the host supports on this machine, and so the models there are.
pub const DEVICES: &[&str] = &["net_ring", "net_null", "net_pcap"];
/// The burst-size PCV.
pub const BURST_PCV: &str = "burst";
/// The function whose every call callgrind counts.
pub const SERVE_FN: &str = "nfcc_runtime::dpdk::Loop::serve";
/// The host's per-packet function: a dump on entering it marks a packet.
pub const PROCESS_FN: &str = "nfcc_runtime::dpdk::Loop::process";
/// The function whose exit ends a burst.
pub const FLUSH_FN: &str = "nfcc_runtime::dpdk::Loop::flush";
/// Where `--stack dpdk:NAME` finds `NAME.json`: this source tree's `dpdk-models/`.
pub const MODELS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../dpdk-models");

/// The model NF that forwards every packet back out of its input port.
const FORWARD_NF: &str = "#include <nfcc.h>\nint nf_process(const struct nfcc_packet *pkt)\n{\n\treturn pkt->port;\n}\n";
/// The model NF that floods every packet (on the model's one port: no copy is made, the
/// packet goes through the chain's flood path and is freed).
const FLOOD_NF: &str = "#include <nfcc.h>\nint nf_process(const struct nfcc_packet *pkt)\n{\n\t(void)pkt;\n\treturn NFCC_FLOOD;\n}\n";
/// The model NF that drops every packet.
const DROP_NF: &str = "#include <nfcc.h>\nint nf_process(const struct nfcc_packet *pkt)\n{\n\t(void)pkt;\n\treturn NFCC_DROP;\n}\n";

/// Why a model, a whole-stack contract or its check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),
    /// A file cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file cannot be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A model file is not a model.
    #[error("{}: not an nfcc DPDK model ({MODEL_FORMAT}): {message}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The contract is unreadable or not a whole-stack contract.
    #[error("{}: {message}", path.display())]
    Contract {
        /// The contract file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A model NF could not be built.
    #[error("cannot build the model NF: {0}")]
    Build(#[from] build::BuildError),
    /// A capture is unreadable.
    #[error(transparent)]
    Pcap(#[from] PcapError),
    /// The module-only part of the check failed.
    #[error(transparent)]
    Check(#[from] check::CheckError),
    /// valgrind cannot be started.
    #[error("cannot run valgrind: {0} (scripts/setup.sh installs it)")]
    Valgrind(String),
    /// The measured DPDK run failed.
    #[error("the DPDK run under callgrind failed ({status}): nfcc {args}\n{stderr}")]
    Measure {
        /// The run's arguments.
        args: String,
        /// Its exit status.
        status: String,
        /// What it printed.
        stderr: String,
    },
    /// callgrind's output does not split into bursts as expected.
    #[error("{}: {message}", path.display())]
    Dumps {
        /// The callgrind output file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A temporary file cannot be made.
    #[error("cannot create temporary files: {0}")]
    Temp(std::io::Error),
}

/// Every frame of a capture, in order.
pub fn read_frames(path: &Path) -> Result<Vec<Vec<u8>>, PcapError> {
    let mut r = PcapReader::open(path)?;
    let mut rec = PacketRecord::default();
    let mut out = Vec::new();
    while r.next_into(&mut rec)? {
        out.push(rec.data.clone());
    }
    Ok(out)
}

/// One receive burst as callgrind measured it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BurstCost {
    /// Each module call (`nf_process`), in order.
    pub calls: Vec<Metrics<u64>>,
    /// Everything else the loop executed in that round: the stack.
    pub stack: Metrics<u64>,
}

/// Splits callgrind's dumps into bursts, which end at each exit of [`FLUSH_FN`]. In a
/// [`Part::Stack`] run a dump on entry to [`PROCESS_FN`] marks a packet (its counts are the
/// stack's); in a [`Part::Module`] run a dump on leaving it is one call. Counts after the
/// last burst (the loop's exit) are returned apart.
pub fn split_bursts(dumps: &[Dump]) -> Result<(Vec<BurstCost>, Metrics<u64>), String> {
    let mut bursts = Vec::new();
    let mut cur = BurstCost::default();
    let add = |m: &mut Metrics<u64>, d: &Dump| {
        m.instructions += d.cost.instructions;
        m.memory += d.cost.memory;
    };
    for d in dumps {
        let t = d.trigger.as_str();
        if t == "--dump-after=nf_process" {
            cur.calls.push(d.cost);
        } else if t == format!("--dump-before={PROCESS_FN}") {
            cur.calls.push(Metrics::default());
            add(&mut cur.stack, d);
        } else if t == format!("--dump-after={FLUSH_FN}") {
            add(&mut cur.stack, d);
            bursts.push(std::mem::take(&mut cur));
        } else if t == "Program termination" {
            if !cur.calls.is_empty() {
                return Err(format!("{} calls of nf_process after the last transmit round", cur.calls.len()));
            }
            add(&mut cur.stack, d);
        } else {
            return Err(format!("a dump triggered by `{t}`, which nfcc did not ask for"));
        }
    }
    Ok((bursts, cur.stack))
}

/// What a measured run counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything `Loop::serve` executes outside `nf_process` (callgrind cannot cut a
    /// call's counts on both sides of one function, so the module is measured apart).
    Stack,
    /// Only `nf_process`, one count per call.
    Module,
}

/// One DPDK run of a module under callgrind.
#[derive(Debug, Clone)]
pub struct DpdkRun {
    /// The `nfcc` binary.
    pub nfcc: PathBuf,
    /// The module and its settings.
    pub module: PathBuf,
    /// Its settings.
    pub settings: Vec<Setting>,
    /// EAL arguments.
    pub eal: String,
    /// Receive burst size asked for.
    pub burst: u16,
    /// A capture to prime port 0 with.
    pub prime: Option<PathBuf>,
    /// Packets to receive.
    pub packets: u64,
    /// Run a module built with `--protect none`.
    pub allow_unprotected: bool,
}

/// The valgrind options that measure `part` of a DPDK run burst by burst.
pub fn callgrind_args(out: &Path, part: Part) -> Vec<String> {
    let mut v: Vec<String> = vec!["--tool=callgrind".into()];
    match part {
        // Collection toggles on at Loop::serve's entry, off inside nf_process (nested).
        // Packets are counted at the host's per-packet function: a dump on entry to
        // nf_process itself would also count its first basic block as the stack's.
        Part::Stack => v.extend([format!("--toggle-collect={SERVE_FN}"), "--toggle-collect=nf_process".into(), format!("--dump-before={PROCESS_FN}")]),
        Part::Module => v.extend(["--toggle-collect=nf_process".into(), "--dump-after=nf_process".into()]),
    }
    v.extend([
        format!("--dump-after={FLUSH_FN}"),
        "--cache-sim=yes".into(),
        "--combine-dumps=yes".into(),
        "--dump-line=no".into(),
        format!("--callgrind-out-file={}", out.display()),
    ]);
    v
}

/// The `nfcc run` arguments of `r`.
fn run_args(r: &DpdkRun) -> Vec<String> {
    let mut a = vec!["run".to_string(), r.module.display().to_string()];
    a.extend(r.settings.iter().map(|s| format!("{}={}", s.key, s.value)));
    a.extend(["--dpdk".into(), r.eal.clone(), "--dpdk-burst".into(), r.burst.to_string(), "--dpdk-packets".into(), r.packets.to_string()]);
    // Only the packet limit ends these runs: an idle end would add idle rounds.
    a.extend(["--dpdk-idle".into(), "0".into()]);
    if let Some(p) = &r.prime {
        a.extend(["--dpdk-prime".into(), p.display().to_string()]);
    }
    if r.allow_unprotected {
        a.push("--allow-unprotected".into());
    }
    a
}

/// Runs `r` under callgrind in `dir` and splits the counts into bursts; returns them and
/// what `nfcc run` printed.
pub fn measure(r: &DpdkRun, part: Part, dir: &Path) -> Result<(Vec<BurstCost>, String), StackError> {
    let out = dir.join(format!("callgrind.{}.out", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let args = run_args(r);
    let run = Command::new("valgrind")
        .args(callgrind_args(&out, part))
        .arg(&r.nfcc)
        .args(&args)
        .env("LD_BIND_NOW", "1")
        .current_dir(dir)
        .output()
        .map_err(|e| StackError::Valgrind(e.to_string()))?;
    let shown = || args.iter().map(|a| if a.contains(' ') { format!("\"{a}\"") } else { a.clone() }).collect::<Vec<_>>().join(" ");
    if !run.status.success() {
        let stderr = String::from_utf8_lossy(&run.stderr);
        let kept: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("==")).collect();
        return Err(StackError::Measure { args: shown(), status: run.status.to_string(), stderr: kept.join("\n") });
    }
    let file = std::fs::File::open(&out).map_err(|source| StackError::Read { path: out.clone(), source })?;
    let dumps = check::parse_dumps(std::io::BufReader::new(file)).map_err(|message| StackError::Dumps { path: out.clone(), message })?;
    let (bursts, _exit) = split_bursts(&dumps).map_err(|message| StackError::Dumps { path: out.clone(), message })?;
    if part == Part::Module {
        if let Some(b) = bursts.iter().find(|b| b.stack.instructions != 0) {
            return Err(StackError::Dumps { path: out.clone(), message: format!("{} instructions counted outside nf_process in a module-only run", b.stack.instructions) });
        }
    }
    let calls: usize = bursts.iter().map(|b| b.calls.len()).sum();
    if calls as u64 != r.packets {
        return Err(StackError::Dumps {
            path: out.clone(),
            message: format!("{calls} calls of nf_process measured in {} bursts, {} packets asked for (nfcc {})", bursts.len(), r.packets, shown()),
        });
    }
    let _ = std::fs::remove_file(&out);
    Ok((bursts, String::from_utf8_lossy(&run.stdout).into_owned()))
}

/// The EAL arguments for one port of `device` (`rx`/`tx`: net_pcap's files).
fn eal_for(device: &str, rx: &Path, tx: &Path) -> String {
    match device {
        "net_ring" => "--no-huge --no-pci --vdev=net_ring0".into(),
        "net_null" => "--no-huge --no-pci --vdev=net_null0".into(),
        _ => format!("--no-huge --no-pci --vdev=net_pcap0,rx_pcap={},tx_pcap={}", rx.display(), tx.display()),
    }
}

/// Writes `frames` as a pcap (time: one microsecond apart).
fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> Result<(), StackError> {
    let wr = |source| StackError::Write { path: path.to_path_buf(), source };
    let f = std::fs::File::create(path).map_err(wr)?;
    let mut w = PcapWriter::new(std::io::BufWriter::new(f)).map_err(wr)?;
    for (k, fr) in frames.iter().enumerate() {
        w.write(1_700_000_000_000_000_000 + k as u64 * 1000, fr.len() as u32, fr).map_err(wr)?;
    }
    w.finish().map_err(wr)?;
    Ok(())
}

/// The frame size a device's model is measured with: net_pcap copies every frame (into the
/// mbuf on receive, into the capture on transmit), so its model takes the largest standard
/// Ethernet frame, which bounds shorter ones; net_ring and net_null never touch the bytes.
pub fn frame_bytes(device: &str) -> u32 {
    if device == "net_pcap" {
        1514
    } else {
        64
    }
}

/// A UDP/IPv4 frame of `len` bytes (the model NFs never read it).
fn model_frame(k: usize, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, (k >> 8) as u8, k as u8]);
    f
}

/// `a + b * x` on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Per burst.
    pub a: i64,
    /// Per packet of the burst.
    pub b: u64,
}

impl Line {
    /// Its value at `x`.
    pub fn at(&self, x: u64) -> i64 {
        self.a + (self.b * x) as i64
    }

    /// The line a contract charges: `a` raised by [`STACK_MARGIN_PER_MILLE`] of the line's
    /// value at the largest burst.
    pub fn with_margin(&self) -> Line {
        let full = self.at(nfcc_runtime::dpdk::BURST as u64).max(0);
        Line { a: self.a + (full * STACK_MARGIN_PER_MILLE + 999) / 1000, b: self.b }
    }
}

/// What a whole-stack contract adds to a model's measured envelope, in thousandths of a full
/// burst's cost. The host's count for one burst size varies from burst to burst and from
/// run to run (the debug host by up to 31 memory accesses in 31,358, 0.1%, on net_ring's
/// 32-packet bursts), so an envelope of a few measured bursts can sit just below a burst of
/// another run; the margin covers five times that.
pub const STACK_MARGIN_PER_MILLE: i64 = 5;

/// The upper envelope of `points` (x, y): integer `b >= 1` and the smallest `a` with no point
/// above the line, choosing the `b` whose line has the smallest mean relative gap
/// `(line - y) / y` over the points.
pub fn fit_envelope(points: &[(u64, u64)]) -> Option<Line> {
    if points.is_empty() {
        return None;
    }
    let ymax = points.iter().map(|p| p.1).max().unwrap_or(1).max(1);
    let mut best: Option<(f64, Line)> = None;
    for b in 1..=ymax {
        let a = points.iter().map(|&(x, y)| y as i64 - (b * x) as i64).max().expect("points");
        let l = Line { a, b };
        let cost: f64 = points.iter().map(|&(x, y)| (l.at(x) - y as i64) as f64 / y.max(1) as f64).sum();
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, l));
        }
    }
    best.map(|(_, l)| l)
}

/// What `nfcc dpdk-model` was asked for.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// The device (`net_ring`, `net_null`, `net_pcap`).
    pub device: String,
    /// Receive burst sizes to measure.
    pub bursts: Vec<u16>,
    /// Bursts measured per run, after the warm-up.
    pub per_run: usize,
    /// Bursts at the start of each run left out of the line (at least 1: the first burst
    /// includes the loop's setup, which the model states apart as `first_burst`).
    pub warmup: usize,
    /// The model NFs' protection mode: whole-stack contracts use the model only for
    /// modules of that mode (the runtime entry around `nf_process` depends on it).
    pub protect: Protection,
    /// The `nfcc` binary that runs the host.
    pub nfcc: PathBuf,
}

/// One measured burst of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// `forward`, `drop` or `flood`: the model NF's verdict.
    pub verdict: &'static str,
    /// Packets in the burst.
    pub burst: u64,
    /// The stack's counts.
    pub cost: Metrics<u64>,
}

/// A model, as `nfcc dpdk-model` makes it.
#[derive(Debug, Clone)]
pub struct ModelReport {
    /// The JSON written.
    pub json: Value,
    /// The fitted lines.
    pub instructions: Line,
    /// See `instructions`.
    pub memory: Line,
    /// Every measured point.
    pub points: Vec<Point>,
}

/// Measures `opts.device`'s stack and fits its model.
pub fn make_model(opts: &ModelOptions, progress: &mut dyn FnMut(&str)) -> Result<ModelReport, StackError> {
    if !DEVICES.contains(&opts.device.as_str()) {
        return Err(StackError::Usage(format!("--vdev {}: the host's models cover {}", opts.device, DEVICES.join(", "))));
    }
    if opts.bursts.is_empty() || opts.bursts.iter().any(|&b| b == 0 || b as usize > nfcc_runtime::dpdk::BURST) {
        return Err(StackError::Usage(format!("--bursts: sizes between 1 and {}", nfcc_runtime::dpdk::BURST)));
    }
    if opts.per_run == 0 || opts.warmup == 0 {
        return Err(StackError::Usage("--per-run and --warmup must be at least 1".into()));
    }
    let dir = tempfile::Builder::new().prefix("nfcc-dpdk-model-").tempdir().map_err(StackError::Temp)?;
    let mut nfs = Vec::new();
    for (name, src) in [("forward", FORWARD_NF), ("drop", DROP_NF), ("flood", FLOOD_NF)] {
        let c = dir.path().join(format!("{name}.c"));
        std::fs::write(&c, src).map_err(StackError::Temp)?;
        let so = dir.path().join(format!("{name}.so"));
        // Built as user modules with contracts are: the runtime linked in then goes
        // through the same code generation, and its entry is part of what is measured.
        let o = BuildOptions { sources: vec![c], output: so.clone(), opt: OptLevel::O2, protect: opts.protect, contract: ContractMode::Strict, ..BuildOptions::default() };
        build::build(&o, &build::pipeline(&o))?;
        nfs.push((name, so));
    }
    let mut points = Vec::new();
    let mut firsts = Vec::new();
    let mut runs = Vec::new();
    for (verdict, so) in &nfs {
        for &k in &opts.bursts {
            let n = k as u64 * (opts.warmup + opts.per_run) as u64;
            let frames: Vec<Vec<u8>> = (0..n as usize).map(|i| model_frame(i, frame_bytes(&opts.device) as usize)).collect();
            let rx = dir.path().join("in.pcap");
            let tx = dir.path().join("out.pcap");
            let prime = if opts.device == "net_ring" {
                write_pcap(&rx, &frames)?;
                Some(rx.clone())
            } else {
                if opts.device == "net_pcap" {
                    write_pcap(&rx, &frames)?;
                }
                None
            };
            let run = DpdkRun {
                nfcc: opts.nfcc.clone(),
                module: so.clone(),
                settings: Vec::new(),
                eal: eal_for(&opts.device, &rx, &tx),
                burst: k,
                prime,
                packets: n,
                allow_unprotected: false,
            };
            progress(&format!("{}: {verdict}, burst {k}: {n} packets under callgrind", opts.device));
            let (bursts, _) = measure(&run, Part::Stack, dir.path())?;
            let mut kept = 0;
            for (i, b) in bursts.iter().enumerate() {
                if i == 0 {
                    firsts.push(Point { verdict, burst: k as u64, cost: b.stack });
                }
                if i < opts.warmup {
                    continue;
                }
                if b.calls.len() as u64 != k as u64 {
                    return Err(StackError::Dumps {
                        path: dir.path().join("callgrind.out"),
                        message: format!("{}: burst {} of the {verdict} run with burst size {k} received {} packets", opts.device, i + 1, b.calls.len()),
                    });
                }
                points.push(Point { verdict, burst: k as u64, cost: b.stack });
                kept += 1;
            }
            runs.push(json!({ "verdict": verdict, "burst": k, "packets": n, "bursts": bursts.len(), "kept": kept, "eal": run.eal.replace(&dir.path().display().to_string(), "TMP") }));
        }
    }
    let fit = |verdict: &str, f: fn(&Metrics<u64>) -> u64| {
        fit_envelope(&points.iter().filter(|p| p.verdict == verdict).map(|p| (p.burst, f(&p.cost))).collect::<Vec<_>>()).expect("points measured")
    };
    let (fi, fm) = (fit("forward", |m| m.instructions), fit("forward", |m| m.memory));
    let (di, dm) = (fit("drop", |m| m.instructions), fit("drop", |m| m.memory));
    let (li, lm) = (fit("flood", |m| m.instructions), fit("flood", |m| m.memory));
    let all = |x: Line, y: Line, z: Line| Line { a: x.a.max(y.a).max(z.a), b: x.b.max(y.b).max(z.b) };
    let (instructions, memory) = (all(fi, di, li), all(fm, dm, lm));
    let line_json = |i: Line, m: Line| json!({ "instructions": { "a": i.a, "b": i.b }, "memory": { "a": m.a, "b": m.b } });
    // The first burst's excess over the line: the loop's setup.
    let first = |l: Line, f: fn(&Metrics<u64>) -> u64| firsts.iter().map(|p| f(&p.cost) as i64 - l.at(p.burst)).max().unwrap_or(0).max(0);
    let first_burst = (first(instructions, |m| m.instructions), first(memory, |m| m.memory));
    let exe = std::fs::read(&opts.nfcc).map_err(|source| StackError::Read { path: opts.nfcc.clone(), source })?;
    let mut per_packet = Vec::new();
    for k in 1..=nfcc_runtime::dpdk::BURST as u64 {
        per_packet.push(json!({
            "burst": k,
            "instructions": instructions.at(k) as f64 / k as f64,
            "memory": memory.at(k) as f64 / k as f64,
        }));
    }
    let mut cg = callgrind_args(Path::new("OUT"), Part::Stack);
    cg.push("(env LD_BIND_NOW=1)".into());
    let json = json!({
        "format": MODEL_FORMAT,
        "device": opts.device,
        "dpdk_version": nfcc_runtime::dpdk::version(),
        "host": {
            "nfcc_version": env!("CARGO_PKG_VERSION"),
            "binary_sha256": sha256_hex(&exe),
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        },
        "frame_bytes": frame_bytes(&opts.device),
        "pcv": { "name": BURST_PCV, "meaning": "packets one receive burst returned (1 to 32)" },
        "per_burst": line_json(instructions, memory),
        "by_verdict": { "forward": line_json(fi, fm), "drop": line_json(di, dm), "flood": line_json(li, lm) },
        "first_burst": { "instructions": first_burst.0, "memory": first_burst.1 },
        "per_packet_averaged": per_packet,
        "method": {
            "what": "everything the DPDK host's per-lcore loop (nfcc_runtime::dpdk::Loop::serve) executes per receive burst except the module's nf_process: receive burst (nfcc_dpdk_rx, rte_eth_rx_burst), mbuf handling and the host's per-packet dispatch (run_chain, the module's runtime entry), transmit burst (nfcc_dpdk_tx) or free on drop, the loop's bookkeeping",
            "how": "valgrind callgrind collecting only inside Loop::serve and not inside nf_process (nested --toggle-collect), counts dumped on entry to every Loop::process call (one packet) and after every Loop::flush (the end of a burst); a burst's stack cost is the sum of its dumps; Ir, and Dr + Dw; three model NFs (forward every packet, drop every packet, flood every packet: on the one port, the chain's flood path and no copy), one run per verdict and burst size with exactly that many packets per receive burst (net_ring primed with the run's packets; net_null and net_pcap through --dpdk-burst); the first warmup_bursts bursts of each run left out of the lines; first_burst is the largest excess of a run's first burst over per_burst (the loop setting itself up: stated, not bounded)",
            "fit": "upper envelope per verdict: integer b >= 1, a = the largest (y - b*burst) over that verdict's points, b chosen for the smallest mean relative gap (line - y) / y over them; no measured point lies above its line. per_burst takes the largest a and the largest b of the three, so it bounds any burst of one port; a whole-stack contract charges a class that only drops the drop line, a class that only sends to the input port the forward line, a class that never floods the larger of the two, any other class per_burst's line plus the flood path for every packet of its burst; a burst pays the largest a of its packets' classes once",
            "callgrind": cg,
            "warmup_bursts": opts.warmup,
            "bursts_per_run": opts.per_run,
            "burst_sizes": opts.bursts,
            "model_nfs": { "forward": FORWARD_NF, "drop": DROP_NF, "flood": FLOOD_NF },
            "protection": opts.protect.name(),
            "runs": runs,
            "regenerate": format!("nfcc dpdk-model --vdev {} -o dpdk-models/{}.json", opts.device, opts.device),
        },
        "first_bursts": firsts.iter().map(|p| json!({ "verdict": p.verdict, "burst": p.burst, "instructions": p.cost.instructions, "memory": p.cost.memory })).collect::<Vec<_>>(),
        "points": points.iter().map(|p| json!({ "verdict": p.verdict, "burst": p.burst, "instructions": p.cost.instructions, "memory": p.cost.memory })).collect::<Vec<_>>(),
    });
    Ok(ModelReport { json, instructions, memory, points })
}

/// A model read back from its file.
#[derive(Debug, Clone)]
pub struct StackModel {
    /// Its name (`dpdk:net_ring`).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its SHA-256.
    pub sha256: String,
    /// The device.
    pub device: String,
    /// DPDK version measured.
    pub dpdk_version: String,
    /// The host measured.
    pub host: String,
    /// Per burst.
    pub instructions: Line,
    /// Per burst.
    pub memory: Line,
    /// A dropped packet's lines (instructions, memory accesses).
    pub drop: (Line, Line),
    /// A forwarded packet's lines (instructions, memory accesses).
    pub forward: (Line, Line),
    /// The first burst's extra cost (instructions, memory accesses).
    pub first_burst: (i64, i64),
    /// The model NFs' protection mode.
    pub protection: String,
    /// The frame size measured (see [`frame_bytes`]).
    pub frame_bytes: u32,
}

/// Reads `spec`: `dpdk:NAME` (this tree's `dpdk-models/NAME.json`) or `dpdk:FILE.json`.
pub fn load_model(spec: &str) -> Result<StackModel, StackError> {
    let Some(rest) = spec.strip_prefix("dpdk:") else {
        return Err(StackError::Usage(format!("--stack {spec}: expected dpdk:DEVICE ({}) or dpdk:MODEL.json", DEVICES.join(", "))));
    };
    let path = if rest.ends_with(".json") || rest.contains('/') {
        PathBuf::from(rest)
    } else if DEVICES.contains(&rest) {
        Path::new(MODELS_DIR).join(format!("{rest}.json"))
    } else {
        return Err(StackError::Usage(format!("--stack {spec}: no model for `{rest}`; the host's models cover {}, or give dpdk:MODEL.json", DEVICES.join(", "))));
    };
    let bytes = std::fs::read(&path).map_err(|source| StackError::Read { path: path.clone(), source })?;
    let bad = |message: String| StackError::Model { path: path.clone(), message };
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if v["format"] != MODEL_FORMAT {
        let older = v["format"].as_str().is_some_and(|f| f.starts_with("nfcc-dpdk-model/"));
        let hint = if older { " (another version's model: measure it again with `nfcc dpdk-model --vdev DEVICE -o FILE`)" } else { "" };
        return Err(bad(format!("its format is {}{hint}", v["format"])));
    }
    let text = |k: &str| v[k].as_str().map(String::from).ok_or_else(|| bad(format!("no `{k}`")));
    let line = |at: &str, m: &str| -> Result<Line, StackError> {
        let l = at.split('.').fold(&v, |v, k| &v[k]);
        let l = &l[m];
        let a = l["a"].as_i64().ok_or_else(|| bad(format!("no {at}.{m}.a")))?;
        let b = l["b"].as_u64().ok_or_else(|| bad(format!("no {at}.{m}.b (a whole number >= 0)")))?;
        Ok(Line { a, b })
    };
    let device = text("device")?;
    if !DEVICES.contains(&device.as_str()) {
        return Err(bad(format!("device `{device}` is none of {}", DEVICES.join(", "))));
    }
    let host = format!(
        "nfcc {} ({}), binary SHA-256 {}",
        v["host"]["nfcc_version"].as_str().ok_or_else(|| bad("no host.nfcc_version".into()))?,
        v["host"]["profile"].as_str().unwrap_or("?"),
        v["host"]["binary_sha256"].as_str().ok_or_else(|| bad("no host.binary_sha256".into()))?
    );
    Ok(StackModel {
        name: format!("dpdk:{device}"),
        sha256: sha256_hex(&bytes),
        dpdk_version: text("dpdk_version")?,
        instructions: line("per_burst", "instructions")?,
        memory: line("per_burst", "memory")?,
        drop: (line("by_verdict.drop", "instructions")?, line("by_verdict.drop", "memory")?),
        forward: (line("by_verdict.forward", "instructions")?, line("by_verdict.forward", "memory")?),
        first_burst: (
            v["first_burst"]["instructions"].as_i64().ok_or_else(|| bad("no first_burst.instructions".into()))?,
            v["first_burst"]["memory"].as_i64().ok_or_else(|| bad("no first_burst.memory".into()))?,
        ),
        frame_bytes: v["frame_bytes"].as_u64().and_then(|b| u32::try_from(b).ok()).ok_or_else(|| bad("no frame_bytes".into()))?,
        protection: v["method"]["protection"].as_str().ok_or_else(|| bad("no method.protection".into()))?.to_string(),
        device,
        host,
        path,
    })
}

impl StackModel {
    /// The contract's stack section for `contract`'s classes.
    pub fn section(&self, contract: &Contract) -> Stack {
        let m = |l: &Line| {
            let l = l.with_margin();
            (l.a, l.b)
        };
        let bound = |l: &Line| {
            let (a, b) = m(l);
            Bound { constant: a, terms: BTreeMap::from([(BURST_PCV.to_string(), b)]) }
        };
        Stack::for_classes(
            &contract.classes,
            self.name.clone(),
            self.path.display().to_string(),
            self.sha256.clone(),
            self.device.clone(),
            self.dpdk_version.clone(),
            self.host.clone(),
            self.frame_bytes,
            Pcv {
                name: BURST_PCV.into(),
                meaning: "packets the receive burst returned (the stack's PCV; 1 to 32)".into(),
                loops: vec![format!("{SERVE_FN} (one round per receive burst)")],
                sites: Vec::new(),
                calls: Vec::new(),
                blocks: Vec::new(),
            },
            Bounds { instructions: bound(&self.instructions), memory: bound(&self.memory) },
            Bounds {
                instructions: Bound { constant: self.first_burst.0, terms: BTreeMap::new() },
                memory: Bound { constant: self.first_burst.1, terms: BTreeMap::new() },
            },
            [m(&self.drop.0), m(&self.drop.1)],
            [m(&self.forward.0), m(&self.forward.1)],
        )
    }
}

/// Everything `nfcc check --dpdk` was asked for.
#[derive(Debug, Clone)]
pub struct StackCheckOptions {
    /// The module check's options (module, settings, one capture on port 0, contract...).
    pub check: check::CheckOptions,
    /// Receive burst size (default 32).
    pub burst: u16,
}

/// One burst compared with its bound.
#[derive(Debug, Clone, PartialEq)]
pub struct BurstResult {
    /// Its number, from 1.
    pub burst: usize,
    /// Packets in it.
    pub packets: usize,
    /// Measured: module calls plus stack.
    pub measured: Metrics<u64>,
    /// Its stack part alone.
    pub stack_measured: Metrics<u64>,
    /// The bound: the packets' class bounds plus the stack's.
    pub bound: Metrics<i64>,
    /// The stack's part of the bound.
    pub stack_bound: Metrics<i64>,
    /// (bound - measured) / measured: the same per packet averaged over the burst.
    pub gap: Metrics<f64>,
    /// Whether it is compared: a run's first burst also sets the loop up, which the
    /// contract states but does not bound.
    pub compared: bool,
}

/// What `nfcc check --dpdk` found.
#[derive(Debug, Clone)]
pub struct StackCheckReport {
    /// The module check on the same packets (each call's own bound), from the DPDK run.
    pub contract: PathBuf,
    /// The model named in the contract.
    pub model: String,
    /// The device run.
    pub device: String,
    /// Every burst.
    pub bursts: Vec<BurstResult>,
    /// Packets that cost more than their class bound in their module call (packet numbers).
    pub module_underestimates: Vec<u64>,
    /// Packets no class matched.
    pub unclassified: Vec<u64>,
    /// The host binary differs from the one the model was measured on.
    pub host_note: Option<String>,
}

impl StackCheckReport {
    /// Bursts above their bound.
    pub fn underestimates(&self) -> Vec<&BurstResult> {
        self.bursts.iter().filter(|b| b.compared && (b.bound.instructions < b.measured.instructions as i64 || b.bound.memory < b.measured.memory as i64)).collect()
    }

    /// Compared bursts whose stack part alone exceeded the model's share of the bound (the
    /// sum may still hold on the module's slack): the model missed something this module
    /// makes the host do (a flood verdict, say).
    pub fn stack_underestimates(&self) -> Vec<&BurstResult> {
        self.bursts
            .iter()
            .filter(|b| b.compared && (b.stack_bound.instructions < b.stack_measured.instructions as i64 || b.stack_bound.memory < b.stack_measured.memory as i64))
            .collect()
    }

    /// Whether the whole-stack contract held on every burst.
    pub fn holds(&self) -> bool {
        self.underestimates().is_empty() && self.module_underestimates.is_empty() && self.unclassified.is_empty()
    }

    /// Max and mean of `f` over the compared bursts.
    pub fn stat(&self, f: impl Fn(&BurstResult) -> f64) -> (f64, f64) {
        let v: Vec<f64> = self.bursts.iter().filter(|b| b.compared).map(f).collect();
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (max, v.iter().sum::<f64>() / v.len().max(1) as f64)
    }

    /// The report as text.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let pct = |x: f64| format!("{:.2}%", x * 100.0);
        let packets: usize = self.bursts.iter().map(|b| b.packets).sum();
        let compared = self.bursts.iter().filter(|b| b.compared).count();
        let _ = writeln!(
            s,
            "whole-stack check of {} ({} on {}): {} packets in {} receive bursts, {} compared",
            self.contract.display(),
            self.model,
            self.device,
            packets,
            self.bursts.len(),
            compared
        );
        if let Some(n) = &self.host_note {
            let _ = writeln!(s, "note: {n}");
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "{:>5} {:>7} {:>12} {:>12} {:>9} {:>10} {:>10} {:>9} {:>12} {:>12}", "burst", "packets", "instr meas", "instr bound", "gap", "mem meas", "mem bound", "gap", "stack instr", "stack bound");
        for b in &self.bursts {
            let _ = writeln!(
                s,
                "{:>5} {:>7} {:>12} {:>12} {:>9} {:>10} {:>10} {:>9} {:>12} {:>12}{}",
                b.burst,
                b.packets,
                b.measured.instructions,
                b.bound.instructions,
                pct(b.gap.instructions),
                b.measured.memory,
                b.bound.memory,
                pct(b.gap.memory),
                b.stack_measured.instructions,
                b.stack_bound.instructions,
                if b.compared { "" } else { "  (the run's first: loop setup, not bounded)" }
            );
        }
        let _ = writeln!(s);
        let (imax, imean) = self.stat(|b| b.gap.instructions);
        let (mmax, mmean) = self.stat(|b| b.gap.memory);
        let under = self.underestimates();
        let _ = writeln!(
            s,
            "gap per packet averaged over a burst (compared bursts): instructions max {} mean {}, memory accesses max {} mean {}; {} bursts underestimated",
            pct(imax),
            pct(imean),
            pct(mmax),
            pct(mmean),
            under.len()
        );
        let (smax, _) = self.stat(|b| check_gap(b.stack_bound.instructions, b.stack_measured.instructions));
        let (smin, _) = self.stat(|b| -check_gap(b.stack_bound.instructions, b.stack_measured.instructions));
        let _ = writeln!(s, "the stack's part alone: instruction gap from {} to {}", pct(-smin), pct(smax));
        let stack_under = self.stack_underestimates();
        if !stack_under.is_empty() {
            let worst = stack_under.iter().map(|b| -check_gap(b.stack_bound.instructions, b.stack_measured.instructions)).fold(0.0, f64::max);
            let _ = writeln!(
                s,
                "warning: in {} bursts the stack's part alone exceeded the model (by up to {} of its instructions): the model does not cover all this module makes the host do",
                stack_under.len(),
                pct(worst)
            );
        }
        for b in under {
            let _ = writeln!(
                s,
                "UNDERESTIMATE: burst {} ({} packets): instructions {} measured, bound {}; memory accesses {} measured, bound {}",
                b.burst, b.packets, b.measured.instructions, b.bound.instructions, b.measured.memory, b.bound.memory
            );
        }
        if !self.module_underestimates.is_empty() {
            let _ = writeln!(s, "{} module calls above their class bound: packets {:?}", self.module_underestimates.len(), self.module_underestimates);
        }
        if !self.unclassified.is_empty() {
            let _ = writeln!(s, "{} packets fall in no class: {:?}", self.unclassified.len(), self.unclassified);
        }
        s
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        let (imax, imean) = self.stat(|b| b.gap.instructions);
        let (mmax, mmean) = self.stat(|b| b.gap.memory);
        let m = |x: &Metrics<u64>| json!({ "instructions": x.instructions, "memory": x.memory });
        let mi = |x: &Metrics<i64>| json!({ "instructions": x.instructions, "memory": x.memory });
        let v = json!({
            "format": "nfcc-stack-check/1",
            "contract": self.contract.display().to_string(),
            "model": self.model,
            "device": self.device,
            "host_note": self.host_note,
            "bursts": self.bursts.iter().map(|b| json!({
                "burst": b.burst, "packets": b.packets, "measured": m(&b.measured), "bound": mi(&b.bound),
                "stack_measured": m(&b.stack_measured), "stack_bound": mi(&b.stack_bound),
                "gap": { "instructions": b.gap.instructions, "memory": b.gap.memory },
                "compared": b.compared,
            })).collect::<Vec<_>>(),
            "max_gap": { "instructions": imax, "memory": mmax },
            "mean_gap": { "instructions": imean, "memory": mmean },
            "underestimates": self.underestimates().len(),
            "stack_underestimates": self.stack_underestimates().len(),
            "module_underestimates": self.module_underestimates,
            "unclassified": self.unclassified,
            "holds": self.holds(),
        });
        serde_json::to_string_pretty(&v).expect("JSON values serialise") + "\n"
    }
}

fn check_gap(bound: i64, measured: u64) -> f64 {
    (bound as f64 - measured as f64) / (measured.max(1) as f64)
}

/// Checks a whole-stack contract on a DPDK run of its module: the contract's device
/// (net_pcap replaying the capture, or net_ring primed with it), one port, one lcore;
/// every burst's measured instructions and memory accesses (its module calls plus the
/// stack) against the sum of its packets' class bounds and the stack's.
pub fn check_stack(opts: &StackCheckOptions) -> Result<StackCheckReport, StackError> {
    let c = &opts.check;
    if c.inputs.len() != 1 || c.inputs[0].port != 0 {
        return Err(StackError::Usage("nfcc check --dpdk replays one capture on port 0 (--pcap FILE)".into()));
    }
    if opts.burst == 0 || opts.burst as usize > nfcc_runtime::dpdk::BURST {
        return Err(StackError::Usage(format!("--dpdk-burst {}: must be between 1 and {}", opts.burst, nfcc_runtime::dpdk::BURST)));
    }
    let contract_path = c.contract.clone().unwrap_or_else(|| build::contract_path(&c.module));
    let text = std::fs::read_to_string(&contract_path).map_err(|source| StackError::Read { path: contract_path.clone(), source })?;
    let contract = Contract::from_json(&text).map_err(|e: ContractError| StackError::Contract { path: contract_path.clone(), message: e.to_string() })?;
    let Some(stack) = contract.stack.clone() else {
        return Err(StackError::Contract {
            path: contract_path,
            message: "a module-only contract (no `stack` section): build the module with --stack dpdk:DEVICE for a whole-stack contract".into(),
        });
    };
    if stack.device == "net_null" {
        return Err(StackError::Contract {
            path: contract_path,
            message: "its stack is net_null, whose packets the device makes up: nfcc check --dpdk replays a capture, on net_pcap or net_ring".into(),
        });
    }
    // The module-only check first: the module's hash, holes, tracing variant, and the
    // counting run that gives every packet's class and PCVs (on one port, as the DPDK run).
    let module_opts = check::CheckOptions { ports: 1, ..c.clone() };
    let counted = check::count_packets(&module_opts, &contract, &contract_path)?;
    let frames: Vec<&[u8]> = counted.packets.iter().map(|p| p.data.as_slice()).collect();
    let n = frames.len() as u64;
    if stack.device == "net_pcap" {
        if let Some(k) = frames.iter().position(|f| f.len() > stack.frame_bytes as usize) {
            return Err(StackError::Contract {
                path: contract_path,
                message: format!(
                    "packet {} of {} has {} bytes: the net_pcap model (which copies frames) was measured with {}-byte frames and bounds only frames up to that",
                    k + 1,
                    c.inputs[0].path.display(),
                    frames[k].len(),
                    stack.frame_bytes
                ),
            });
        }
    }
    if n == 0 {
        return Err(StackError::Usage(format!("{}: no packets", c.inputs[0].path.display())));
    }
    let dir = tempfile::Builder::new().prefix("nfcc-check-dpdk-").tempdir().map_err(StackError::Temp)?;
    let input = std::fs::canonicalize(&c.inputs[0].path).map_err(|source| StackError::Read { path: c.inputs[0].path.clone(), source })?;
    let tx = dir.path().join("out.pcap");
    let run = DpdkRun {
        nfcc: c.nfcc.clone(),
        module: std::fs::canonicalize(&c.module).map_err(|source| StackError::Read { path: c.module.clone(), source })?,
        settings: c.settings.clone(),
        eal: eal_for(&stack.device, &input, &tx),
        burst: opts.burst,
        prime: (stack.device == "net_ring").then(|| input.clone()),
        packets: n,
        allow_unprotected: c.allow_unprotected,
    };
    let (bursts, stdout) = measure(&run, Part::Stack, dir.path())?;
    let (calls, _) = measure(&run, Part::Module, dir.path())?;
    let sizes = |v: &[BurstCost]| v.iter().map(|b| b.calls.len()).collect::<Vec<_>>();
    if sizes(&bursts) != sizes(&calls) {
        return Err(StackError::Check(check::CheckError::Mismatch {
            module: c.module.clone(),
            message: format!("the two DPDK runs (stack, module) received bursts of {:?} and {:?} packets", sizes(&bursts), sizes(&calls)),
        }));
    }
    let bursts: Vec<BurstCost> = bursts.into_iter().zip(calls).map(|(s, m)| BurstCost { calls: m.calls, stack: s.stack }).collect();
    // The measured run must have seen the packets as the counting run did.
    let forwarded = counted.verdicts.iter().filter(|v| matches!(v, Some(Verdict::Port(_) | Verdict::Flood))).count() as u64;
    let line = stdout.lines().skip_while(|l| !l.starts_with("module ")).nth(1).unwrap_or("");
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() < 4 || words[3].parse::<u64>().ok() != Some(forwarded) {
        return Err(StackError::Check(check::CheckError::Mismatch {
            module: c.module.clone(),
            message: format!("the DPDK run's counters `{line}` against {forwarded} packets forwarded in the counting run"),
        }));
    }
    let mut results = Vec::new();
    let mut module_under = Vec::new();
    let mut unclassified = Vec::new();
    let mut k = 0usize;
    for (i, b) in bursts.iter().enumerate() {
        let mut measured = b.stack;
        // The burst's fixed cost: the largest of its packets' classes' constants, plus the
        // largest flood surcharge for each packet (the model's largest `a` when none is
        // classified).
        let n = b.calls.len() as i64;
        let max = |x: Metrics<i64>, y: Metrics<i64>| Metrics { instructions: x.instructions.max(y.instructions), memory: x.memory.max(y.memory) };
        let fixed = counted.bounds[k..k + b.calls.len()].iter().flatten().map(|(_, _, f)| *f).reduce(|(aa, ax), (a, x)| (max(aa, a), max(ax, x)));
        let fixed = fixed.map_or_else(
            || {
                let (i, m) = stack.fixed();
                Metrics { instructions: i, memory: m }
            },
            |(a, x)| Metrics { instructions: a.instructions + x.instructions * n, memory: a.memory + x.memory * n },
        );
        let (mut si, mut sm) = (fixed.instructions, fixed.memory);
        let mut bound = fixed;
        for call in &b.calls {
            let bnd = &counted.bounds[k];
            k += 1;
            measured.instructions += call.instructions;
            measured.memory += call.memory;
            match bnd {
                Some((m, whole, _)) => {
                    bound.instructions += whole.instructions;
                    bound.memory += whole.memory;
                    si += whole.instructions - m.instructions;
                    sm += whole.memory - m.memory;
                    if m.instructions < call.instructions as i64 || m.memory < call.memory as i64 {
                        module_under.push(k as u64);
                    }
                }
                None => unclassified.push(k as u64),
            }
        }
        results.push(BurstResult {
            burst: i + 1,
            packets: b.calls.len(),
            measured,
            stack_measured: b.stack,
            bound,
            stack_bound: Metrics { instructions: si, memory: sm },
            gap: Metrics { instructions: check_gap(bound.instructions, measured.instructions), memory: check_gap(bound.memory, measured.memory) },
            compared: i > 0,
        });
    }
    let exe = std::fs::read(&c.nfcc).map_err(|source| StackError::Read { path: c.nfcc.clone(), source })?;
    let sha = sha256_hex(&exe);
    let host_note = (!stack.host.ends_with(&sha)).then(|| format!("this host binary (SHA-256 {sha}) is not the one the model was measured on ({})", stack.host));
    Ok(StackCheckReport { contract: contract_path, model: stack.model, device: stack.device, bursts: results, module_underestimates: module_under, unclassified, host_note })
}

/// A packet's bounds for [`check_stack`]: its call of the module, the same plus its
/// per-packet stack cost (the contract's stack section; the module's alone without one),
/// and its class's fixed stack cost per burst: a constant, and a flood surcharge per packet
/// of the burst (0 without a stack section). A packet several classes match gets the
/// largest of theirs, each.
pub(crate) type PacketBounds = (Metrics<i64>, Metrics<i64>, (Metrics<i64>, Metrics<i64>));

/// See [`PacketBounds`]; `None` when no class matches. `pcvs`: what the tracing variant
/// counted on the packet (PCVs and call results, by `Contract::counted` name).
pub(crate) fn packet_bound(contract: &Contract, data: &[u8], port: u16, time_ns: u64, pcvs: &BTreeMap<String, u64>) -> Result<Option<PacketBounds>, ContractError> {
    let classes = contract.classes_of(ContractInput { packet: data, port, time_ns }, pcvs)?;
    if classes.is_empty() {
        return Ok(None);
    }
    let whole = |id: usize, metric: fn(&Bounds) -> &Bound| -> i64 {
        contract.stack.as_ref().and_then(|s| s.class(id)).map_or(0, |c| metric(&c.stack).constant)
    };
    let fixed = |id: usize, metric: fn(&Bounds) -> &Bound| -> i64 {
        contract.stack.as_ref().and_then(|s| s.class(id)).map_or(0, |c| metric(&c.fixed).constant)
    };
    let surcharge = |id: usize, metric: fn(&Bounds) -> &Bound| -> i64 {
        contract.stack.as_ref().and_then(|s| s.class(id)).map_or(0, |c| metric(&c.fixed).terms.values().sum::<u64>() as i64)
    };
    let max = |f: &dyn Fn(&nfcc_symbex::contract::Class) -> i64| classes.iter().map(|c| f(c)).max().expect("a class");
    Ok(Some((
        Metrics { instructions: max(&|c| c.instructions.eval(pcvs)), memory: max(&|c| c.memory.eval(pcvs)) },
        Metrics {
            instructions: max(&|c| c.instructions.eval(pcvs) + whole(c.id, |b| &b.instructions)),
            memory: max(&|c| c.memory.eval(pcvs) + whole(c.id, |b| &b.memory)),
        },
        (
            Metrics { instructions: max(&|c| fixed(c.id, |b| &b.instructions)), memory: max(&|c| fixed(c.id, |b| &b.memory)) },
            Metrics { instructions: max(&|c| surcharge(c.id, |b| &b.instructions)), memory: max(&|c| surcharge(c.id, |b| &b.memory)) },
        ),
    )))
}

/// A module spec from its path and settings.
pub fn spec(module: &Path, settings: &[Setting]) -> ModuleSpec {
    ModuleSpec { path: module.to_path_buf(), settings: settings.to_vec() }
}

/// Writes a model's JSON to `out`, all or nothing.
pub fn write_model(out: &Path, json: &Value) -> Result<(), StackError> {
    let text = serde_json::to_string_pretty(json).expect("JSON values serialise") + "\n";
    let f = AtomicFile::create(out, 0o644).map_err(|source| StackError::Write { path: out.to_path_buf(), source })?;
    let mut f = f;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|source| StackError::Write { path: out.to_path_buf(), source })?;
    f.commit().map_err(|source| StackError::Write { path: out.to_path_buf(), source })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(trigger: &str, instructions: u64, memory: u64) -> Dump {
        Dump { trigger: trigger.into(), cost: Metrics { instructions, memory } }
    }

    #[test]
    fn the_envelope_has_no_point_above_and_one_on_it() {
        let pts = [(1, 1000), (2, 1490), (4, 2500), (4, 2507), (8, 4480), (32, 16400)];
        let l = fit_envelope(&pts).unwrap();
        assert!(l.b >= 1);
        assert!(pts.iter().all(|&(x, y)| l.at(x) >= y as i64), "{l:?}");
        assert!(pts.iter().any(|&(x, y)| l.at(x) == y as i64), "{l:?}");
        // Exactly linear points give exactly their line.
        assert_eq!(fit_envelope(&[(1, 150), (2, 200), (32, 1700)]), Some(Line { a: 100, b: 50 }));
        assert_eq!(fit_envelope(&[]), None);
    }

    #[test]
    fn dumps_split_into_bursts_at_each_flush() {
        let p = format!("--dump-before={PROCESS_FN}");
        let f = format!("--dump-after={FLUSH_FN}");
        // A stack run: two bursts of 2 and 1 packets, then the loop's exit.
        let d = [dump(&p, 10, 5), dump(&p, 3, 1), dump(&f, 7, 2), dump(&p, 9, 4), dump(&f, 6, 2), dump("Program termination", 4, 1)];
        let (b, exit) = split_bursts(&d).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].calls.len(), b[0].stack), (2, Metrics { instructions: 20, memory: 8 }));
        assert_eq!((b[1].calls.len(), b[1].stack), (1, Metrics { instructions: 15, memory: 6 }));
        assert_eq!(exit, Metrics { instructions: 4, memory: 1 });
        // A module run: each call's own counts.
        let d = [dump("--dump-after=nf_process", 14, 12), dump(&f, 0, 0)];
        let (b, _) = split_bursts(&d).unwrap();
        assert_eq!(b[0].calls, vec![Metrics { instructions: 14, memory: 12 }]);
        assert!(split_bursts(&[dump("--dump-after=other", 1, 1)]).unwrap_err().contains("did not ask for"));
        assert!(split_bursts(&[dump(&p, 1, 1), dump("Program termination", 1, 1)]).unwrap_err().contains("after the last transmit round"));
    }
}
