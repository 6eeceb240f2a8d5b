//! policer: checked packet by packet against a token-bucket model written here, and for
//! the property users care about: each destination's forwarded rate stays within one burst
//! of the configured rate.

use crate::support::*;
use nfcc_runtime::pcap::PacketRecord;
use std::collections::HashMap;

/// Per-destination token buckets, as the policer's README specifies them.
struct Model {
    rate: u64,
    burst: u64,
    buckets: HashMap<[u8; 4], (u64, u64)>,
}

impl Model {
    fn new(rate: u64, burst: u64) -> Model {
        Model { rate, burst, buckets: HashMap::new() }
    }

    /// True if the packet passes.
    fn pass(&mut self, p: &PacketRecord) -> bool {
        let d = &p.data;
        if d.len() < 14 {
            return false;
        }
        if d[12..14] != [0x08, 0x00] {
            return true;
        }
        if d.len() < 34 {
            return false;
        }
        let dst: [u8; 4] = d[30..34].try_into().unwrap();
        let (rate, burst) = (self.rate as u128, self.burst as u128);
        let (tokens, last) = self.buckets.entry(dst).or_insert((self.burst, p.time_ns));
        if p.time_ns > *last {
            let refill = rate * (p.time_ns - *last) as u128 / 1_000_000_000;
            *tokens = (*tokens as u128 + refill).min(burst) as u64;
            *last = p.time_ns;
        }
        if *tokens < d.len() as u64 {
            return false;
        }
        *tokens -= d.len() as u64;
        true
    }
}

fn run_policer(settings: &[&str], trace: &std::path::Path, extra: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempdir();
    let so = example("policer");
    let mut args = vec!["run", so.to_str().unwrap()];
    args.extend_from_slice(settings);
    args.extend_from_slice(&["--pcap", trace.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let stdout = ok(&run_in(dir.path(), &args));
    (dir, stdout)
}

#[test]
fn matches_the_model_packet_by_packet() {
    let trace = traffic(&["--packets", "30000", "--flows", "3000", "--seed", "11", "--rate", "200000"]);
    let (dir, stdout) = run_policer(&["rate=200k", "burst=4000"], &trace, &["--out", "out.pcap"]);
    let input = read_pcap(&trace);
    let output = read_pcap(&dir.path().join("out.pcap"));
    let mut model = Model::new(200_000, 4000);
    let expected: Vec<&PacketRecord> = input.iter().filter(|p| model.pass(p)).collect();
    let dropped = input.len() - expected.len();
    assert!(dropped > 1000, "the trace must exercise the policer: only {dropped} drops");
    assert!(expected.len() > 1000, "the trace must pass traffic too");
    assert_eq!(output.len(), expected.len(), "forwarded count differs from the model");
    for (i, (got, want)) in output.iter().zip(&expected).enumerate() {
        assert_eq!(got.time_ns, want.time_ns, "forwarded packet {i} is not the model's");
        assert_eq!(got.data, want.data, "forwarded packet {i} was modified");
    }
    let line = stdout.lines().find(|l| l.starts_with("policer")).expect("policer row");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[1..5], ["rw".to_string(), input.len().to_string(), expected.len().to_string(), dropped.to_string()]);
}

#[test]
fn forwarded_rate_per_destination_is_within_one_burst() {
    let (rate, burst) = (50_000u64, 3000u64);
    let trace = traffic(&["--packets", "20000", "--flows", "400", "--seed", "5", "--rate", "20000"]);
    let (dir, _) = run_policer(&["rate=50k", "burst=3000"], &trace, &["--out", "out.pcap"]);
    let input = read_pcap(&trace);
    let output = read_pcap(&dir.path().join("out.pcap"));
    let dst = |p: &PacketRecord| -> Option<[u8; 4]> {
        (p.data.len() >= 34 && p.data[12..14] == [8, 0]).then(|| p.data[30..34].try_into().unwrap())
    };
    // Per destination: first and last arrival, bytes offered, bytes forwarded.
    let mut per: HashMap<[u8; 4], (u64, u64, u64, u64)> = HashMap::new();
    for p in &input {
        if let Some(d) = dst(p) {
            let e = per.entry(d).or_insert((p.time_ns, p.time_ns, 0, 0));
            e.1 = p.time_ns;
            e.2 += p.data.len() as u64;
        }
    }
    for p in &output {
        if let Some(d) = dst(p) {
            per.get_mut(&d).unwrap().3 += p.data.len() as u64;
        }
    }
    let mut saturated = 0;
    for (d, (first, last, offered, forwarded)) in per {
        let allowed = rate as u128 * (last - first) as u128 / 1_000_000_000;
        let allowed = allowed as u64;
        assert!(forwarded <= allowed + burst, "{d:?}: forwarded {forwarded} > rate bound {allowed} + burst");
        if offered >= 2 * (allowed + burst) {
            saturated += 1;
            assert!(
                forwarded + burst >= allowed,
                "{d:?}: forwarded {forwarded} is more than one burst below the rate bound {allowed}"
            );
        }
    }
    assert!(saturated >= 5, "only {saturated} destinations exceeded the rate; the test proves nothing");
}

#[test]
fn non_ipv4_passes_and_ports_are_a_bump_in_the_wire() {
    let trace = traffic(&["--packets", "5000", "--flows", "200", "--seed", "9", "--non-ip", "20"]);
    // Everything arrives on port 1, so everything forwarded leaves on port 0.
    let dir = tempdir();
    let so = example("policer");
    ok(&run_in(dir.path(), &[
        "run",
        so.to_str().unwrap(),
        "rate=1G",
        "--pcap",
        &format!("1={}", trace.display()),
        "--out",
        "0=p0.pcap",
        "--out",
        "1=p1.pcap",
    ]));
    let input = read_pcap(&trace);
    let p0 = read_pcap(&dir.path().join("p0.pcap"));
    let p1 = read_pcap(&dir.path().join("p1.pcap"));
    assert!(p1.is_empty());
    let non_ip = input.iter().filter(|p| p.data[12..14] != [8, 0]).count();
    assert!(non_ip > 500, "{non_ip}");
    let non_ip_out = p0.iter().filter(|p| p.data[12..14] != [8, 0]).count();
    assert_eq!(non_ip_out, non_ip, "every non-IPv4 frame passes");
}

#[test]
fn chained_instances_keep_separate_state() {
    // The same module twice: each instance must have its own buckets, so the chain behaves
    // like two policers in series, and the macswap after them swaps what survives.
    let trace = traffic(&["--packets", "20000", "--flows", "1000", "--seed", "13", "--rate", "100000"]);
    let dir = tempdir();
    let pol = example("policer");
    let swap = example("macswap");
    let stdout = ok(&run_in(dir.path(), &[
        "run",
        pol.to_str().unwrap(),
        "rate=300k",
        "burst=6000",
        pol.to_str().unwrap(),
        "rate=100k",
        "burst=2000",
        swap.to_str().unwrap(),
        "--pcap",
        trace.to_str().unwrap(),
        "--out",
        "out.pcap",
    ]));
    let input = read_pcap(&trace);
    let (mut m1, mut m2) = (Model::new(300_000, 6000), Model::new(100_000, 2000));
    let expected: Vec<&PacketRecord> = input.iter().filter(|p| m1.pass(p) && m2.pass(p)).collect();
    let output = read_pcap(&dir.path().join("out.pcap"));
    assert_eq!(output.len(), expected.len());
    for (got, want) in output.iter().zip(&expected) {
        assert_eq!(got.data[0..6], want.data[6..12]);
        assert_eq!(got.data[12..], want.data[12..]);
    }
    assert!(stdout.contains("policer#1") && stdout.contains("policer#2"), "{stdout}");
}
