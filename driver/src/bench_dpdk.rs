//! `nfcc bench --dpdk`: packets per second through DPDK ports, per NF and protection mode,
//! and dpdk-testpmd on the same devices in the same run.
//!
//! Devices (two ports each, no hugepages): `ring`, two net_ring ports whose transmit ring
//! is their own receive ring, primed with one burst of 64-byte packets per port (as
//! testpmd's `--tx-first`) that then go round; a packet the chain drops is replaced on its
//! input port by the next of the pool (so the population stays constant: a traffic
//! generator's job, counted in the time). `null`, two net_null ports: receive makes 64-byte
//! packets (zeroed: most NFs drop them as non-IP), transmit frees them.
//!
//! Each measurement is a worker process (`nfcc bench-dpdk-worker`; EAL starts once per
//! process) on one lcore. Repetitions are interleaved: every device, NF, mode, then
//! testpmd on each device, then the next repetition; ratios are medians of per-repetition
//! ratios. testpmd runs `io` forwarding (pointers only, the baseline) and
//! `macswap` (it rewrites the addresses, the same work as our macswap).

use crate::bench::{self, BenchError};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Protection modes measured.
pub const MODES: [&str; 3] = ["none", "wonly", "rw"];

/// A pair of DPDK virtual devices.
#[derive(Debug, Clone, Copy)]
pub struct Device {
    /// Name in the report.
    pub name: &'static str,
    /// The `--vdev` arguments.
    pub vdevs: &'static str,
    /// Packets injected per port before the timed run (0: the device makes its own).
    pub inject: usize,
}

/// The devices, in report order.
pub const DEVICES: [Device; 2] = [
    Device { name: "ring", vdevs: "--vdev=net_ring0 --vdev=net_ring1", inject: 32 },
    Device { name: "null", vdevs: "--vdev=net_null0 --vdev=net_null1", inject: 0 },
];

/// testpmd forwarding modes measured as baselines.
pub const TESTPMD_MODES: [&str; 2] = ["io", "macswap"];

/// EAL memory for every run (MB, no hugepages).
const MEMORY_MB: u32 = 256;

/// The EAL arguments of `d` for our host.
pub fn eal_args(d: &Device) -> String {
    format!("--no-huge -m {MEMORY_MB} --no-pci {}", d.vdevs)
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct DpdkBenchOptions {
    /// NF sources.
    pub sources: Vec<PathBuf>,
    /// Interleaved repetitions.
    pub reps: usize,
    /// Seconds per timed run.
    pub seconds: f64,
    /// The testpmd binary.
    pub testpmd: PathBuf,
}

/// One NF in one mode on one device.
#[derive(Debug, Clone)]
pub struct Row {
    /// Device name.
    pub device: &'static str,
    /// NF name.
    pub nf: String,
    /// Protection mode.
    pub mode: &'static str,
    /// Packets per second, per repetition.
    pub pps: Vec<f64>,
    /// Median of `pps`.
    pub median_pps: f64,
    /// Median over repetitions of pps / pps(none).
    pub ratio_to_none: f64,
    /// Median over repetitions of pps / testpmd io pps on the same device.
    pub ratio_to_testpmd_io: f64,
}

/// testpmd on one device in one forwarding mode.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// Device name.
    pub device: &'static str,
    /// testpmd's forwarding mode.
    pub mode: &'static str,
    /// Packets per second (received, all ports), per repetition.
    pub pps: Vec<f64>,
    /// Median of `pps`.
    pub median_pps: f64,
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct DpdkBench {
    /// Per device, NF and mode.
    pub rows: Vec<Row>,
    /// testpmd per device and mode.
    pub baselines: Vec<Baseline>,
    /// Per device: median over repetitions of our unprotected macswap / testpmd io (and
    /// / testpmd macswap), when macswap was measured.
    pub macswap_ratios: Vec<(&'static str, f64, f64)>,
}

fn worker(exe: &Path, module: &Path, d: &Device, seconds: f64, nf: &str, mode: &'static str) -> Result<f64, BenchError> {
    let out = Command::new(exe)
        .arg("bench-dpdk-worker")
        .arg(module)
        .args(["--dpdk", &eal_args(d), "--seconds", &seconds.to_string(), "--inject", &d.inject.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::Worker { nf: nf.into(), mode, message: e.to_string() })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| text.split_whitespace().find_map(|w| w.strip_prefix(k)).and_then(|v| v.parse::<f64>().ok());
    match (out.status.success(), field("packets="), field("ns=")) {
        (true, Some(p), Some(ns)) if ns > 0.0 && p > 0.0 => Ok(p / (ns / 1e9)),
        _ => Err(BenchError::Worker {
            nf: nf.into(),
            mode,
            message: format!("on {}: {}{}", d.name, text, String::from_utf8_lossy(&out.stderr)),
        }),
    }
}

/// Received packets per second from testpmd's periodic statistics: per period, the sum
/// of every port's `Rx-pps`; the first period (start-up) is skipped, the median taken.
pub fn parse_testpmd_pps(text: &str, ports: usize) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Rx-pps:"))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect();
    let mut sums: Vec<f64> = values.chunks_exact(ports).map(|c| c.iter().sum()).skip(1).collect();
    (!sums.is_empty()).then(|| bench::median(&mut sums))
}

fn testpmd(opts: &DpdkBenchOptions, d: &Device, mode: &'static str) -> Result<f64, BenchError> {
    let err = |message: String| BenchError::Worker { nf: "dpdk-testpmd".into(), mode, message: format!("on {}: {message}", d.name) };
    let mut args: Vec<String> = eal_args(d).split_whitespace().map(String::from).collect();
    args.extend(["--no-shconf".into(), "-l".into(), "0,1".into(), "--".into(), "--no-mlockall".into()]);
    args.extend([format!("--forward-mode={mode}"), "--auto-start".into(), "--total-num-mbufs=8191".into(), "--stats-period=1".into()]);
    if d.inject > 0 {
        args.push("--tx-first".into());
    }
    let child = Command::new(&opts.testpmd)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot start {}: {e} (scripts/setup.sh installs dpdk-dev)", opts.testpmd.display())))?;
    // Start-up, then at least two full statistics periods.
    std::thread::sleep(Duration::from_secs_f64(1.5 + opts.seconds.max(2.0)));
    // SAFETY: signalling our own child; testpmd stops forwarding and exits on SIGINT.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_testpmd_pps(&text, 2).ok_or_else(|| err(format!("no statistics in its output:\n{text}{}", String::from_utf8_lossy(&out.stderr))))
}

/// Builds every variant, measures them and testpmd, interleaved.
pub fn run(opts: &DpdkBenchOptions, exe: &Path, progress: &mut dyn FnMut(&str)) -> Result<DpdkBench, BenchError> {
    if opts.sources.is_empty() {
        return Err(BenchError::NoSources);
    }
    let dir = tempfile::Builder::new().prefix("nfcc-bench-dpdk-").tempdir().map_err(BenchError::Temp)?;
    let mut modules = Vec::new();
    for src in &opts.sources {
        modules.push(bench::build_variants(src, &MODES, dir.path(), progress)?);
    }
    let (nd, nn, nm, nb) = (DEVICES.len(), modules.len(), MODES.len(), TESTPMD_MODES.len());
    let mut pps = vec![vec![vec![Vec::new(); nm]; nn]; nd];
    let mut base = vec![vec![Vec::new(); nb]; nd];
    for rep in 0..opts.reps {
        progress(&format!("repetition {}/{}", rep + 1, opts.reps));
        for (di, d) in DEVICES.iter().enumerate() {
            for (k, (nf, variants)) in modules.iter().enumerate() {
                for (m, module) in variants.iter().enumerate() {
                    pps[di][k][m].push(worker(exe, module, d, opts.seconds, nf, MODES[m])?);
                }
            }
            for (b, mode) in TESTPMD_MODES.iter().enumerate() {
                progress(&format!("dpdk-testpmd {mode} on {}", d.name));
                base[di][b].push(testpmd(opts, d, mode)?);
            }
        }
    }

    let ratios = |a: &[f64], b: &[f64]| bench::median(&mut a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>());
    let mut rows = Vec::new();
    let mut macswap_ratios = Vec::new();
    for (di, d) in DEVICES.iter().enumerate() {
        for (k, (nf, _)) in modules.iter().enumerate() {
            for (m, mode) in MODES.iter().enumerate() {
                let v = &pps[di][k][m];
                rows.push(Row {
                    device: d.name,
                    nf: nf.clone(),
                    mode,
                    pps: v.clone(),
                    median_pps: bench::median(&mut v.clone()),
                    ratio_to_none: ratios(v, &pps[di][k][0]),
                    ratio_to_testpmd_io: ratios(v, &base[di][0]),
                });
            }
            if nf == "macswap" {
                macswap_ratios.push((d.name, ratios(&pps[di][k][0], &base[di][0]), ratios(&pps[di][k][0], &base[di][1])));
            }
        }
    }
    let mut baselines = Vec::new();
    for (di, d) in DEVICES.iter().enumerate() {
        for (b, mode) in TESTPMD_MODES.iter().enumerate() {
            baselines.push(Baseline { device: d.name, mode, pps: base[di][b].clone(), median_pps: bench::median(&mut base[di][b].clone()) });
        }
    }
    Ok(DpdkBench { rows, baselines, macswap_ratios })
}

/// The results as a table.
pub fn to_table(r: &DpdkBench) -> String {
    let mut s = format!("{:<7} {:<10} {:<8} {:>13} {:>14} {:>16}\n", "device", "nf", "mode", "Mpps (median)", "ratio to none", "ratio to testpmd io");
    for row in &r.rows {
        s += &format!(
            "{:<7} {:<10} {:<8} {:>13.2} {:>14.3} {:>16.4}\n",
            row.device,
            row.nf,
            row.mode,
            row.median_pps / 1e6,
            row.ratio_to_none,
            row.ratio_to_testpmd_io
        );
    }
    for b in &r.baselines {
        s += &format!("{:<7} {:<10} {:<8} {:>13.2}\n", b.device, "testpmd", b.mode, b.median_pps / 1e6);
    }
    for (d, io, mac) in &r.macswap_ratios {
        s += &format!("{d}: our unprotected macswap chain / testpmd io forwarding = {io:.4} (/ testpmd macswap = {mac:.4})\n");
    }
    s
}

/// The results as JSON with stable field names; ratios at full precision (ours over testpmd
/// io is a few thousandths on net_ring, where five decimals would lose a part in a
/// thousand).
pub fn to_json(r: &DpdkBench, opts: &DpdkBenchOptions) -> String {
    let list = |v: &[f64]| v.iter().map(|p| format!("{p:.0}")).collect::<Vec<_>>().join(", ");
    let mut s = format!("{{\n  \"seconds_per_run\": {},\n  \"repetitions\": {},\n  \"packet_bytes\": 64,\n  \"rows\": [\n", opts.seconds, opts.reps);
    for (i, row) in r.rows.iter().enumerate() {
        s += &format!(
            "    {{\"device\": \"{}\", \"nf\": \"{}\", \"mode\": \"{}\", \"median_pps\": {:.0}, \"ratio_to_none\": {:.4}, \"ratio_to_testpmd_io\": {}, \"pps\": [{}]}}{}\n",
            row.device,
            row.nf,
            row.mode,
            row.median_pps,
            row.ratio_to_none,
            row.ratio_to_testpmd_io,
            list(&row.pps),
            if i + 1 < r.rows.len() { "," } else { "" }
        );
    }
    s += "  ],\n  \"testpmd\": [\n";
    for (i, b) in r.baselines.iter().enumerate() {
        s += &format!(
            "    {{\"device\": \"{}\", \"mode\": \"{}\", \"median_pps\": {:.0}, \"pps\": [{}]}}{}\n",
            b.device,
            b.mode,
            b.median_pps,
            list(&b.pps),
            if i + 1 < r.baselines.len() { "," } else { "" }
        );
    }
    s += "  ],\n  \"macswap_none_to_testpmd\": [\n";
    for (i, (d, io, mac)) in r.macswap_ratios.iter().enumerate() {
        s += &format!(
            "    {{\"device\": \"{d}\", \"io\": {io}, \"macswap\": {mac}}}{}\n",
            if i + 1 < r.macswap_ratios.len() { "," } else { "" }
        );
    }
    s += "  ]\n}\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testpmd_statistics_are_summed_per_period_after_the_first() {
        let text = "Port statistics\n  Rx-pps:  0  Rx-bps: 0\n  Rx-pps: 0 Rx-bps: 0\n  Rx-pps: 100 Rx-bps: 1\n  Rx-pps: 50 Rx-bps: 1\n  Rx-pps: 120 x\n  Rx-pps: 60 x\n  Rx-pps: 999 x\n";
        assert_eq!(parse_testpmd_pps(text, 2), Some(165.0));
        assert_eq!(parse_testpmd_pps("  Rx-pps: 5\n  Rx-pps: 5\n", 2), None, "the start-up period alone is no measurement");
    }
}
