//! `nfcc bench`: what protection costs, measured side by side in one run.
//!
//! For each NF, four builds: `none`, `wonly`, `rw`, and clang's AddressSanitizer (the
//! fine-grained software baseline, as MPX was in FastPaas). Each measurement is a separate
//! worker process (`nfcc bench-worker`, so ASan's runtime can be preloaded) that pushes a
//! preallocated pool of 64-byte packets through the module with no I/O. Repetitions are
//! interleaved (rep 1: every NF in every mode, rep 2: ...), and the ratio to `none` is the
//! median over repetitions of the ratio within each repetition, so slow drifts of a shared
//! machine cancel out. Exact instruction counts per packet come from valgrind callgrind,
//! counting inside `nf_process` (the NF, its checks, and the runtime it calls).

use crate::build::{self, BuildOptions, ASAN_RUNTIME};
use nfcc_passes::{OptLevel, Pipeline, Protection};
use nfcc_runtime::traffic::{self, TrafficSpec};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The modes compared, in report order.
pub const MODES: [&str; 4] = ["none", "wonly", "rw", "asan"];

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// NF sources (one module each).
    pub sources: Vec<PathBuf>,
    /// Packets per timed run.
    pub packets: u64,
    /// Interleaved repetitions.
    pub reps: usize,
    /// Packets per callgrind run (0: skip instruction counts).
    pub callgrind_packets: u64,
}

/// One NF in one mode.
#[derive(Debug, Clone)]
pub struct ModeResult {
    /// `none`, `wonly`, `rw` or `asan`.
    pub mode: &'static str,
    /// Packets per second of every repetition.
    pub pps: Vec<f64>,
    /// Median of `pps`.
    pub median_pps: f64,
    /// Median over repetitions of pps / pps(none) in the same repetition.
    pub ratio: f64,
    /// First and third quartiles of those per-repetition ratios: how far the machine's
    /// noise moves them (for `none` itself always 1).
    pub ratio_quartiles: (f64, f64),
    /// Instructions per packet inside `nf_process`, from callgrind.
    pub instructions: Option<f64>,
}

/// One NF, every mode.
#[derive(Debug, Clone)]
pub struct NfResult {
    /// NF name (file stem).
    pub nf: String,
    /// Per mode, in `MODES` order.
    pub modes: Vec<ModeResult>,
}

/// Why the benchmark failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Building a variant failed.
    #[error("{nf} ({mode}): {source}")]
    Build {
        /// NF.
        nf: String,
        /// Mode.
        mode: &'static str,
        /// The build error.
        source: build::BuildError,
    },
    /// A worker failed.
    #[error("{nf} ({mode}): benchmark run failed: {message}")]
    Worker {
        /// NF.
        nf: String,
        /// Mode.
        mode: &'static str,
        /// What it printed.
        message: String,
    },
    /// No sources.
    #[error("no NF sources given, and no nf-examples/NAME/NAME.c below the current directory")]
    NoSources,
    /// Temporary files.
    #[error("cannot create temporary files: {0}")]
    Temp(std::io::Error),
}

/// `nf-examples/NAME/NAME.c` for every example folder below `root`.
pub fn example_sources(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("nf-examples"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let src = e.path().join(format!("{name}.c"));
            src.is_file().then_some(src)
        })
        .collect();
    v.sort();
    v
}

/// The `q`-quantile of `v` (sorted in place; `q` in [0, 1]), interpolating linearly
/// between the two nearest ranks; 0 when empty.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let at = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (at - lo as f64)
}

/// The median of `v` (sorted in place); 0 when empty.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn worker_command(exe: &Path, module: &Path, mode: &str, packets: u64) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("bench-worker").arg(module).arg("--packets").arg(packets.to_string());
    if mode == "asan" {
        cmd.env("LD_PRELOAD", ASAN_RUNTIME)
            .env("ASAN_OPTIONS", "detect_leaks=0:verify_asan_link_order=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0");
    }
    cmd
}

fn run_worker(exe: &Path, module: &Path, nf: &str, mode: &'static str, packets: u64) -> Result<f64, BenchError> {
    let out = worker_command(exe, module, mode, packets).output().map_err(|e| BenchError::Worker {
        nf: nf.into(),
        mode,
        message: e.to_string(),
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let ns = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ns="))
        .and_then(|v| v.parse::<f64>().ok());
    match (out.status.success(), ns) {
        (true, Some(ns)) if ns > 0.0 => Ok(packets as f64 / (ns / 1e9)),
        _ => Err(BenchError::Worker {
            nf: nf.into(),
            mode,
            message: format!("{}{}", text, String::from_utf8_lossy(&out.stderr)),
        }),
    }
}

/// Instructions per packet inside `nf_process` (the NF, its checks, and the runtime
/// services it calls), or None if valgrind is unavailable.
fn callgrind(exe: &Path, module: &Path, dir: &Path, packets: u64) -> Option<f64> {
    let out_file = dir.join(format!("callgrind.{}.out", module.file_stem()?.to_string_lossy()));
    let status = Command::new("valgrind")
        .args(["--tool=callgrind", "--toggle-collect=nf_process"])
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(exe)
        .arg("bench-worker")
        .arg(module)
        .arg("--packets")
        .arg(packets.to_string())
        .output()
        .ok()?;
    if !status.status.success() {
        return None;
    }
    let text = std::fs::read_to_string(&out_file).ok()?;
    let total: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(total / packets as f64)
}

/// Builds `src` at -O2 in each of `modes` (`none`, `wonly`, `rw`, `asan`) into `dir`;
/// returns the NF's name and the modules, in `modes` order.
pub fn build_variants(src: &Path, modes: &[&'static str], dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<(String, Vec<PathBuf>), BenchError> {
    let nf = src.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut variants = Vec::new();
    for &mode in modes {
        progress(&format!("building {nf} ({mode})"));
        let output = dir.join(format!("{nf}-{mode}.so"));
        let protect = Protection::parse(mode).unwrap_or(Protection::None);
        let o = BuildOptions {
            sources: vec![src.to_path_buf()],
            output: output.clone(),
            opt: OptLevel::O2,
            protect,
            sanitize_address: mode == "asan",
            ..BuildOptions::default()
        };
        let pipeline = if mode == "asan" { build::asan_pipeline(o.opt) } else { Pipeline::for_build(o.opt, protect) };
        build::build(&o, &pipeline).map_err(|source| BenchError::Build { nf: nf.clone(), mode, source })?;
        variants.push(output);
    }
    Ok((nf, variants))
}

/// The benchmark's packets: 1024 generated frames (256 flows), each cut or padded to 64
/// bytes.
pub fn packet_pool() -> Vec<Vec<u8>> {
    let spec = TrafficSpec { packets: POOL as u64, flows: 256, ..TrafficSpec::default() };
    traffic::Generator::new(&spec)
        .map(|p| {
            let mut d = p.data;
            d.resize(64, 0);
            d
        })
        .collect()
}

/// Distinct packets in the benchmark's pool.
pub const POOL: usize = 1024;

/// Builds every variant, measures, and returns the results (`exe` is the nfcc binary).
pub fn run(opts: &BenchOptions, exe: &Path, progress: &mut dyn FnMut(&str)) -> Result<Vec<NfResult>, BenchError> {
    if opts.sources.is_empty() {
        return Err(BenchError::NoSources);
    }
    let dir = tempfile::Builder::new().prefix("nfcc-bench-").tempdir().map_err(BenchError::Temp)?;
    let mut modules: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for src in &opts.sources {
        modules.push(build_variants(src, &MODES, dir.path(), progress)?);
    }

    let mut pps = vec![vec![Vec::new(); MODES.len()]; modules.len()];
    let mut ratios = vec![vec![Vec::new(); MODES.len()]; modules.len()];
    for rep in 0..opts.reps {
        progress(&format!("repetition {}/{}", rep + 1, opts.reps));
        for (k, (nf, variants)) in modules.iter().enumerate() {
            let mut this = Vec::new();
            for (m, module) in variants.iter().enumerate() {
                let p = run_worker(exe, module, nf, MODES[m], opts.packets)?;
                pps[k][m].push(p);
                this.push(p);
            }
            for m in 0..MODES.len() {
                ratios[k][m].push(this[m] / this[0]);
            }
        }
    }

    let mut results = Vec::new();
    for (k, (nf, variants)) in modules.iter().enumerate() {
        let mut modes = Vec::new();
        for (m, module) in variants.iter().enumerate() {
            let instructions = if opts.callgrind_packets > 0 && MODES[m] != "asan" {
                progress(&format!("callgrind {nf} ({})", MODES[m]));
                callgrind(exe, module, dir.path(), opts.callgrind_packets)
            } else {
                None
            };
            modes.push(ModeResult {
                mode: MODES[m],
                pps: pps[k][m].clone(),
                median_pps: median(&mut pps[k][m].clone()),
                ratio: median(&mut ratios[k][m]),
                ratio_quartiles: (quantile(&mut ratios[k][m], 0.25), quantile(&mut ratios[k][m], 0.75)),
                instructions,
            });
        }
        results.push(NfResult { nf: nf.clone(), modes });
    }
    Ok(results)
}

/// The results as a JSON document with stable field names.
pub fn to_json(results: &[NfResult], opts: &BenchOptions) -> String {
    let mut s = format!(
        "{{\n  \"packets_per_run\": {},\n  \"repetitions\": {},\n  \"packet_bytes\": 64,\n  \"nfs\": [\n",
        opts.packets, opts.reps
    );
    for (i, r) in results.iter().enumerate() {
        s.push_str(&format!("    {{\n      \"nf\": \"{}\",\n      \"modes\": [\n", r.nf));
        for (j, m) in r.modes.iter().enumerate() {
            let pps: Vec<String> = m.pps.iter().map(|p| format!("{p:.0}")).collect();
            s.push_str(&format!(
                "        {{\"mode\": \"{}\", \"median_pps\": {:.0}, \"ratio_to_none\": {:.4}, \"ratio_p25\": {:.4}, \"ratio_p75\": {:.4}, \"instructions_per_packet\": {}, \"pps\": [{}]}}{}\n",
                m.mode,
                m.median_pps,
                m.ratio,
                m.ratio_quartiles.0,
                m.ratio_quartiles.1,
                m.instructions.map_or("null".to_string(), |x| format!("{x:.1}")),
                pps.join(", "),
                if j + 1 < r.modes.len() { "," } else { "" }
            ));
        }
        s.push_str(&format!("      ]\n    }}{}\n", if i + 1 < results.len() { "," } else { "" }));
    }
    s.push_str("  ]\n}\n");
    s
}

/// The results as a table.
pub fn to_table(results: &[NfResult]) -> String {
    let mut s = format!(
        "{:<10} {:<6} {:>12} {:>16} {:>15} {:>14}\n",
        "nf", "mode", "Mpps (median)", "ratio to none", "ratio p25-p75", "instr/packet"
    );
    for r in results {
        for m in &r.modes {
            s.push_str(&format!(
                "{:<10} {:<6} {:>12.2} {:>16.3} {:>15} {:>14}\n",
                r.nf,
                m.mode,
                m.median_pps / 1e6,
                m.ratio,
                format!("{:.3}-{:.3}", m.ratio_quartiles.0, m.ratio_quartiles.1),
                m.instructions.map_or("-".to_string(), |x| format!("{x:.1}"))
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{median, quantile};

    #[test]
    fn quartiles_interpolate_between_ranks() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(quantile(&mut v, 0.25), 2.0);
        assert_eq!(quantile(&mut v, 0.75), 4.0);
        assert_eq!(quantile(&mut v, 0.5), median(&mut v));
        let mut even = vec![1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&mut even, 0.25), 1.75);
        assert_eq!(quantile(&mut even, 1.0), 4.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }
}
