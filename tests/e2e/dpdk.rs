//! `nfcc run --dpdk`: every example NF gives the same output on DPDK's net_pcap ports as on
//! the pcap host, byte for byte and in the same order; net_ring and net_null runs; EAL
//! errors are reported, exit non-zero and never hang.
//!
//! Inputs are rounded to whole microseconds: net_pcap reads captures at microsecond
//! precision (libpcap), so both hosts must be given the same times. Output timestamps are
//! not compared: net_pcap stamps what it transmits with its own clock.

use crate::support::*;
use nfcc_runtime::pcap::PacketRecord;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Longest a DPDK run may take before the test calls it hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `nfcc args...` in `dir`, killing it (and failing) if it outlives `DEADLINE`.
fn run_bounded(dir: &Path, args: &[String]) -> Output {
    let mut child = nfcc()
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nfcc starts");
    let start = Instant::now();
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).unwrap();
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("nfcc {} did not end within {DEADLINE:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: t_out.join().unwrap(), stderr: t_err.join().unwrap() }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The module table of `nfcc run`'s report: its header and one row per module.
fn module_table(stdout: &str) -> Vec<String> {
    stdout.lines().take_while(|l| !l.contains("packets in,")).map(String::from).collect()
}

/// Frames in order, timestamps dropped.
fn frames(path: &Path) -> Vec<Vec<u8>> {
    read_pcap(path).into_iter().map(|r: PacketRecord| r.data).collect()
}

/// Swaps an IPv4 TCP/UDP frame's addresses and ports (and MACs): a reply to it. The
/// checksums stay valid, as one's complement sums do not depend on word order.
fn reply(f: &[u8]) -> Option<Vec<u8>> {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[14] >> 4 != 4 || !matches!(f[23], 6 | 17) {
        return None;
    }
    let ihl = (f[14] & 0x0f) as usize * 4;
    if f.len() < 14 + ihl + 4 || f[20] & 0x3f != 0 || f[21] != 0 {
        return None;
    }
    let mut r = f.to_vec();
    r[0..6].copy_from_slice(&f[6..12]);
    r[6..12].copy_from_slice(&f[0..6]);
    r[26..30].copy_from_slice(&f[30..34]);
    r[30..34].copy_from_slice(&f[26..30]);
    let l4 = 14 + ihl;
    r[l4..l4 + 2].copy_from_slice(&f[l4 + 2..l4 + 4]);
    r[l4 + 2..l4 + 4].copy_from_slice(&f[l4..l4 + 2]);
    Some(r)
}

/// A heartbeat for the load balancer from backend `10.9.0.b` (UDP to port 7777).
fn heartbeat(b: u8) -> Vec<u8> {
    let mut f = udp_frame([10, 9, 0, b], [10, 9, 255, 255], 60);
    f[36..38].copy_from_slice(&7777u16.to_be_bytes());
    f
}

/// Per input port, `(time_ns, frame)` in time order: a generated trace on port 0 (times
/// rounded down to microseconds) and, when `two_sided`, on port 1 replies to every third
/// IPv4 TCP/UDP packet one microsecond later plus load-balancer heartbeats.
fn two_port_trace(seed: &str, two_sided: bool) -> Vec<Vec<(u64, Vec<u8>)>> {
    let trace = traffic(&["--packets", "3000", "--flows", "300", "--seed", seed, "--rate", "100000"]);
    let mut p0 = Vec::new();
    let mut p1 = Vec::new();
    for (i, r) in read_pcap(&trace).into_iter().enumerate() {
        let t = r.time_ns / 1000 * 1000;
        if two_sided && i % 3 == 0 {
            if let Some(rep) = reply(&r.data) {
                p1.push((t + 1000, rep));
            }
        }
        if two_sided && i % 250 == 0 {
            p1.push((t, heartbeat(1 + (i / 250 % 4) as u8)));
        }
        p0.push((t, r.data));
    }
    // Stable: a heartbeat sorts before a reply of the same microsecond, as pushed.
    p1.sort_by_key(|x| x.0);
    let mut v = vec![p0];
    if two_sided {
        v.push(p1);
    }
    v
}

/// Runs `nf` with `settings` on `inputs` (one capture per input port, port order) through
/// the pcap host and through DPDK (a net_pcap device per port), and asserts that every
/// port's output carries the same frames in the same order and that the module reports
/// agree. Returns the frames per output port.
fn same_on_both_hosts(nf: &str, settings: &[&str], ports: u16, inputs: &[Vec<(u64, Vec<u8>)>]) -> Vec<Vec<Vec<u8>>> {
    let dir = tempdir();
    let so = example(nf);
    for (p, frames) in inputs.iter().enumerate() {
        write_pcap(&dir.path().join(format!("in{p}.pcap")), frames);
    }
    let mut chain = vec![so.display().to_string()];
    chain.extend(strings(settings));

    let mut pcap_args = vec!["run".to_string()];
    pcap_args.extend(chain.iter().cloned());
    pcap_args.extend(["--ports".into(), ports.to_string()]);
    for p in 0..inputs.len() {
        pcap_args.extend(["--pcap".into(), format!("{p}=in{p}.pcap")]);
    }
    for p in 0..ports {
        pcap_args.extend(["--out".into(), format!("{p}=out{p}.pcap")]);
    }
    let pcap_stdout = ok(&run_bounded(dir.path(), &pcap_args));

    let mut eal = vec!["--no-huge".to_string(), "--no-pci".to_string()];
    for p in 0..ports as usize {
        let rx = if p < inputs.len() { format!("rx_pcap=in{p}.pcap,") } else { String::new() };
        eal.push(format!("--vdev=net_pcap{p},{rx}tx_pcap=dpdk{p}.pcap"));
    }
    let mut dpdk_args = vec!["run".to_string()];
    dpdk_args.extend(chain.iter().cloned());
    dpdk_args.extend(["--dpdk".into(), eal.join(" ")]);
    let dpdk_stdout = ok(&run_bounded(dir.path(), &dpdk_args));

    assert_eq!(module_table(&dpdk_stdout), module_table(&pcap_stdout), "{nf}: module reports differ:\npcap:\n{pcap_stdout}\ndpdk:\n{dpdk_stdout}");
    let total_in: usize = inputs.iter().map(Vec::len).sum();
    assert!(dpdk_stdout.contains(&format!("{total_in} packets in,")), "{nf}:\n{dpdk_stdout}");
    assert!(dpdk_stdout.contains("time: capture timestamps"), "{nf}:\n{dpdk_stdout}");
    assert!(dpdk_stdout.contains("stopped: no port received anything for 100 ms"), "{nf}:\n{dpdk_stdout}");
    let mut outs = Vec::new();
    for p in 0..ports {
        let want = frames(&dir.path().join(format!("out{p}.pcap")));
        let got = frames(&dir.path().join(format!("dpdk{p}.pcap")));
        assert_eq!(got.len(), want.len(), "{nf}: port {p}: {} packets on DPDK, {} on pcap", got.len(), want.len());
        if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
            panic!("{nf}: port {p}: packet {i} differs\ndpdk: {:02x?}\npcap: {:02x?}", got[i], want[i]);
        }
        assert!(dpdk_stdout.contains(&format!("port {p} (net_pcap{p}, net_pcap): rx {}, tx {}", inputs.get(p as usize).map_or(0, Vec::len), got.len())), "{nf}:\n{dpdk_stdout}");
        outs.push(got);
    }
    outs
}

#[test]
fn macswap_is_the_same_on_dpdk() {
    let outs = same_on_both_hosts("macswap", &[], 1, &two_port_trace("31", false));
    assert!(outs[0].len() > 2900, "{}", outs[0].len());
}

#[test]
fn policer_is_the_same_on_dpdk() {
    // The rate sits below the trace's, so which packets pass depends on every timestamp.
    let outs = same_on_both_hosts("policer", &["rate=150k", "burst=3000"], 2, &two_port_trace("32", true));
    let (passed, total) = (outs[0].len() + outs[1].len(), 3000 + 1000);
    assert!(passed > 500 && passed + 100 < total, "policer passed {passed} of about {total}: the rate does not bite");
}

#[test]
fn router_is_the_same_on_dpdk() {
    let outs = same_on_both_hosts("router", &["routes=10.0.0.0/8:1,10.1.0.0/16:2,0.0.0.0/0:0"], 3, &two_port_trace("33", true));
    assert!(outs.iter().filter(|o| !o.is_empty()).count() >= 2, "routes sent everything to one port");
}

#[test]
fn bridge_is_the_same_on_dpdk() {
    // Floods are copied per port: separate mbufs on DPDK.
    let outs = same_on_both_hosts("bridge", &[], 3, &two_port_trace("34", true));
    assert!(!outs[2].is_empty(), "nothing was flooded to the port without traffic");
}

#[test]
fn firewall_is_the_same_on_dpdk() {
    let outs = same_on_both_hosts("firewall", &[], 2, &two_port_trace("35", true));
    assert!(!outs[0].is_empty() && !outs[1].is_empty(), "no replies came back in: {} / {}", outs[0].len(), outs[1].len());
}

#[test]
fn lb_is_the_same_on_dpdk() {
    // Backends expire between heartbeats now and then: time decides where flows go.
    let outs = same_on_both_hosts("lb", &["backend_expiry=6000000"], 2, &two_port_trace("36", true));
    assert!(outs[1].len() > 100, "the balancer forwarded {} packets", outs[1].len());
}

#[test]
fn nat_is_the_same_on_dpdk() {
    let outs = same_on_both_hosts("nat", &["external_ip=203.0.113.7", "expiry=2000000", "capacity=200"], 2, &two_port_trace("37", true));
    assert!(outs[1].len() > 100, "the NAT translated {} packets", outs[1].len());
}

#[test]
fn attacks_are_stopped_on_mbufs_too() {
    // Another packet's buffer is another mbuf of the same pool: reading it is a violation.
    let dir = tempdir();
    let mut mods = Vec::new();
    for name in ["canary", "read_other_packet", "write_past_packet"] {
        let out = dir.path().join(format!("{name}.so"));
        ok(&nfcc().args(["build", "--no-contract"]).arg(root().join(format!("nf-examples/attacks/{name}.c"))).arg("-o").arg(&out).output().unwrap());
        mods.push(out.display().to_string());
    }
    let trace = traffic(&["--packets", "40", "--flows", "8", "--seed", "21", "--non-ip", "0"]);
    for attacker in [&mods[1], &mods[2]] {
        // Two ports, as the pcap host's default: the canary hands packets on to port 1.
        let eal = format!("--no-huge --no-pci --vdev=net_pcap0,rx_pcap={},tx_pcap=out.pcap --vdev=net_pcap1,tx_pcap=out1.pcap", trace.display());
        let out = run_bounded(dir.path(), &strings(&["run", mods[0].as_str(), attacker.as_str(), "--dpdk", &eal]));
        let stdout = ok(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = Path::new(attacker).file_stem().unwrap().to_string_lossy().into_owned();
        let kind = if name == "read_other_packet" { "read" } else { "write" };
        assert!(stderr.contains(&format!("nfcc: violation: {name}: packet 5: {kind} violation")), "{stderr}");
        let canary: Vec<&str> = stdout.lines().find(|l| l.starts_with("canary")).unwrap().split_whitespace().collect();
        assert_eq!(canary[1..5], ["rw", "40", "40", "0"], "canary saw corruption:\n{stdout}");
        assert_eq!(frames(&dir.path().join("out.pcap")).len(), 4, "{stdout}");
    }
}

#[test]
fn net_ring_loops_packets_back_through_the_chain() {
    // Port 0 reads a capture, port 1 is a net_ring whose transmit ring is its receive ring:
    // the policer (at a rate nothing exceeds) sends port 0's packets out of port 1, gets
    // them back on port 1, and sends them out of port 0, unchanged and in order.
    let dir = tempdir();
    let input: Vec<(u64, Vec<u8>)> = two_port_trace("38", false).remove(0).into_iter().take(2000).collect();
    write_pcap(&dir.path().join("in.pcap"), &input);
    let so = example("policer");
    let eal = "--no-huge --no-pci --vdev=net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap --vdev=net_ring0";
    let stdout = ok(&run_bounded(dir.path(), &strings(&["run", so.to_str().unwrap(), "rate=100G", "--dpdk", eal])));
    assert!(stdout.contains("4000 packets in, 4000 out"), "{stdout}");
    assert!(stdout.contains("port 0 (net_pcap0, net_pcap): rx 2000, tx 2000; time: capture timestamps"), "{stdout}");
    assert!(stdout.contains("port 1 (net_ring0, net_ring): rx 2000, tx 2000; time: host clock"), "{stdout}");
    assert!(stdout.contains("ports served in turn"), "{stdout}");
    let want: Vec<Vec<u8>> = input.into_iter().map(|x| x.1).collect();
    assert!(frames(&dir.path().join("out.pcap")) == want, "the ring changed or reordered packets");
}

#[test]
fn net_null_runs_until_the_packet_limit() {
    let dir = tempdir();
    let so = example("macswap");
    let stdout = ok(&run_bounded(dir.path(), &strings(&["run", so.to_str().unwrap(), "--dpdk", "--no-huge --no-pci --vdev=net_null0 --vdev=net_null1", "--dpdk-packets", "50000"])));
    assert!(stdout.contains("50000 packets in, 50000 out"), "{stdout}");
    assert!(stdout.contains("stopped: 50000 packets received (--dpdk-packets)"), "{stdout}");
    // Both ports are polled: neither is starved.
    for p in 0..2 {
        let line = stdout.lines().find(|l| l.starts_with(&format!("port {p} (net_null{p}"))).unwrap_or_else(|| panic!("{stdout}"));
        let rx: u64 = line.split("rx ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
        assert!(rx >= 10000, "{stdout}");
        assert!(line.contains(&format!("tx {rx};")), "{stdout}");
    }
}

#[test]
fn sigterm_ends_a_run_on_endless_input_with_its_report() {
    let dir = tempdir();
    let so = example("macswap");
    let child = nfcc()
        .current_dir(dir.path())
        .args(["run", so.to_str().unwrap(), "--dpdk", "--no-huge --no-pci --vdev=net_null0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10), "the run took {:?} to stop", start.elapsed());
    let stdout = ok(&out);
    assert!(stdout.contains("stopped: SIGTERM"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("macswap")).unwrap();
    let received: u64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(received > 0, "{stdout}");
}

/// Runs macswap on DPDK with `eal` and asserts exit `code` with every needle on stderr.
#[track_caller]
fn dpdk_fails(eal: &str, extra: &[&str], code: i32, needles: &[&str]) {
    let dir = tempdir();
    let so = example("macswap");
    let mut args = strings(&["run", so.to_str().unwrap(), "--dpdk", eal]);
    args.extend(strings(extra));
    let start = Instant::now();
    let out = run_bounded(dir.path(), &args);
    fails(&out, code, needles);
    assert!(start.elapsed() < Duration::from_secs(20), "{eal}: took {:?} to fail", start.elapsed());
}

#[test]
fn eal_errors_name_what_failed() {
    dpdk_fails("--no-huge --no-pci --no-such-option", &[], 1, &["DPDK EAL initialisation failed", "--no-such-option", "EAL arguments: --no-huge"]);
    dpdk_fails("--no-huge --no-pci", &[], 1, &["DPDK found no ports", "--vdev=net_pcap0"]);
    dpdk_fails("--no-huge --no-pci --vdev=net_pcap0,rx_pcap=missing.pcap,tx_pcap=o.pcap", &[], 1, &["DPDK created 0 ports for 1 network virtual devices", "missing.pcap"]);
    dpdk_fails("--no-huge --no-pci -m 16 --vdev=net_null0", &[], 1, &["cannot create the mbuf pool (8191 mbufs", "-m MB"]);
    dpdk_fails("--no-huge --no-pci --vdev=net_null0", &["--dpdk-mbufs", "200000"], 1, &["cannot create the mbuf pool (200000 mbufs"]);
    dpdk_fails("--no-huge --no-pci --lcores=0@0,1@0 --vdev=net_pcap0,rx_pcap=missing-too.pcap", &[], 1, &["DPDK created 0 ports"]);
    // net_pcap has one queue per rx_pcap: it cannot serve two lcores.
    let dir = tempdir();
    write_pcap(&dir.path().join("in.pcap"), &[(0, udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 60))]);
    let eal = format!("--no-huge --no-pci --lcores=0@0,1@0 --vdev=net_pcap0,rx_pcap={}", dir.path().join("in.pcap").display());
    dpdk_fails(&eal, &[], 1, &["DPDK port 0 (net_pcap0) has at most 1 receive/transmit queues, but each of the 2 lcores needs its own"]);
    dpdk_fails("--no-huge --no-pci --vdev=net_null0", &["--ports", "2"], 2, &["--ports 2, but DPDK offers 1 port:"]);
    dpdk_fails(" ", &[], 2, &["--dpdk needs EAL arguments"]);
    dpdk_fails("--no-huge", &["--pcap", "x.pcap"], 2, &["--pcap", "--dpdk"]);
}

#[test]
fn module_errors_come_after_eal_and_still_clean_up() {
    // A module refused at load (unknown setting) fails the run; EAL is cleaned up (the
    // process exits promptly) and the message names the module.
    let dir = tempdir();
    let so = example("macswap");
    let out = run_bounded(dir.path(), &strings(&["run", so.to_str().unwrap(), "bogus=1", "--dpdk", "--no-huge --no-pci --vdev=net_null0"]));
    fails(&out, 1, &["macswap.so: unknown setting `bogus`"]);
    // net_pcap opened its output when the port started: the failed run leaves none of it.
    write_pcap(&dir.path().join("in.pcap"), &[(1_000, udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 60))]);
    let eal = "--no-huge --no-pci --vdev=net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap";
    let out = run_bounded(dir.path(), &strings(&["run", so.to_str().unwrap(), "bogus=1", "--dpdk", eal]));
    fails(&out, 1, &["macswap.so: unknown setting `bogus`"]);
    assert_eq!(files_in(dir.path()), ["in.pcap"]);
    // A run that succeeds puts it in place, whole, with the user's name in the report.
    let stdout = ok(&run_bounded(dir.path(), &strings(&["run", so.to_str().unwrap(), "--dpdk", eal])));
    assert!(stdout.contains("tx_pcap=out.pcap"), "{stdout}");
    assert_eq!(files_in(dir.path()), ["in.pcap", "out.pcap"]);
    assert_eq!(frames(&dir.path().join("out.pcap")).len(), 1);
    // An output that cannot be written fails the run before EAL starts.
    let eal = "--no-huge --no-pci --vdev=net_pcap0,rx_pcap=in.pcap,tx_pcap=no-such-dir/out.pcap";
    let out = run_bounded(dir.path(), &strings(&["run", so.to_str().unwrap(), "--dpdk", eal]));
    fails(&out, 1, &["no-such-dir/out.pcap: cannot write net_pcap output"]);
}

#[test]
fn bench_dpdk_measures_every_mode_beside_testpmd() {
    let dir = tempdir();
    let src = root().join("nf-examples/macswap/macswap.c");
    let args = strings(&["bench", "--dpdk", src.to_str().unwrap(), "--reps", "1", "--seconds", "0.2", "--json"]);
    let stdout = ok(&run_bounded(dir.path(), &args));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}:\n{stdout}"));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * 3, "two devices, three modes:\n{stdout}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["device"], ["ring", "null"][i / 3]);
        assert_eq!(r["mode"], ["none", "wonly", "rw"][i % 3]);
        assert_eq!(r["nf"], "macswap");
        assert!(r["median_pps"].as_f64().unwrap() > 10_000.0, "{r}");
        assert!(r["ratio_to_testpmd_io"].as_f64().unwrap() > 0.0, "{r}");
    }
    let base = v["testpmd"].as_array().unwrap();
    assert_eq!(base.len(), 4, "{stdout}");
    assert!(base.iter().all(|b| b["median_pps"].as_f64().unwrap() > 10_000.0), "{stdout}");
    let ratios = v["macswap_none_to_testpmd"].as_array().unwrap();
    assert_eq!(ratios.len(), 2, "{stdout}");
    // The ratio is ours over testpmd's, both measured in this run.
    let none_ring = rows[0]["median_pps"].as_f64().unwrap();
    let io_ring = base[0]["median_pps"].as_f64().unwrap();
    assert!((ratios[0]["io"].as_f64().unwrap() - none_ring / io_ring).abs() < 1e-3 * (none_ring / io_ring).max(1e-3), "{stdout}");
}

#[test]
fn several_lcores_each_run_their_own_instances() {
    // Two lcores (both on CPU 0, so the test needs one CPU), two net_null ports with a
    // queue per lcore: every packet is handled once, by one lcore's instances, and a
    // violation on either lcore quarantines only that lcore's instance.
    let dir = tempdir();
    let mut mods = Vec::new();
    for name in ["canary", "write_past_packet"] {
        let out = dir.path().join(format!("{name}.so"));
        ok(&nfcc().args(["build", "--no-contract"]).arg(root().join(format!("nf-examples/attacks/{name}.c"))).arg("-o").arg(&out).output().unwrap());
        mods.push(out.display().to_string());
    }
    let eal = "--no-huge --no-pci --lcores=0@0,1@0 --vdev=net_null0 --vdev=net_null1";
    let out = run_bounded(dir.path(), &strings(&["run", mods[0].as_str(), mods[1].as_str(), "--dpdk", eal, "--dpdk-packets", "200000"]));
    let stdout = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("200000 packets in"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("2 lcores, each with its own module instances")).unwrap_or_else(|| panic!("{stdout}"));
    let counts: Vec<u64> = line.split("lcore ").skip(1).map(|x| x.split(": ").nth(1).unwrap().trim().trim_end_matches(',').parse().unwrap()).collect();
    assert_eq!(counts.len(), 2, "{line}");
    assert_eq!(counts.iter().sum::<u64>(), 200000, "{line}");
    assert!(counts.iter().all(|&c| c > 5), "an lcore saw too few packets to attack: {line}");
    // Each lcore's attacker instance is stopped on its own fifth packet.
    assert!(stderr.contains("nfcc: violation: write_past_packet: packet 5: write violation"), "{stderr}");
    assert!(stderr.contains("nfcc: violation: write_past_packet@lcore1: packet 5: write violation"), "{stderr}");
    let canary: Vec<&str> = stdout.lines().find(|l| l.starts_with("canary")).unwrap().split_whitespace().collect();
    assert_eq!(canary[1..5], ["rw", "200000", "200000", "0"], "canary saw corruption:\n{stdout}");
    let attacker: Vec<&str> = stdout.lines().find(|l| l.starts_with("write_past_packet")).unwrap().split_whitespace().collect();
    // Per chain position, summed over lcores: 2 x 5 packets reached it, two violations.
    assert_eq!(attacker[2], "10", "{stdout}");
    assert_eq!(attacker[5], "2", "{stdout}");
    assert_eq!(attacker[6], "yes", "{stdout}");
}

#[test]
fn eal_prints_nothing_on_stdout_and_leaves_no_runtime_directory() {
    // EAL's runtime directory goes under $RUNTIME_DIRECTORY: this test's own.
    let dir = tempdir();
    let rd = dir.path().join("run");
    std::fs::create_dir(&rd).unwrap();
    let so = example("macswap");
    let run = |eal: &str| {
        nfcc()
            .current_dir(dir.path())
            .env("RUNTIME_DIRECTORY", &rd)
            .args(["run", so.to_str().unwrap(), "--dpdk", eal, "--dpdk-packets", "100"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Bad arguments: EAL's usage text goes to stderr, nfcc's stdout stays empty.
    let out = run("--no-huge --no-pci --no-such-option");
    let stderr = fails(&out, 1, &["DPDK EAL initialisation failed"]);
    assert!(out.stdout.is_empty(), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("EAL common options"), "EAL's usage text is shown on stderr:\n{stderr}");
    assert!(!rd.join("dpdk").exists(), "{:?}", files_in(&rd));
    // A run: its runtime directory (with EAL's telemetry socket) is gone once it ends.
    let stdout = ok(&run("--no-huge --no-pci --vdev=net_null0"));
    assert!(stdout.contains("100 packets in, 100 out"), "{stdout}");
    assert!(!stdout.contains("EAL:") && !stdout.contains("TELEMETRY:"), "EAL's log stays on stderr:\n{stdout}");
    assert!(!rd.join("dpdk").exists(), "{:?}", files_in(&rd));
    // A directory that was there before stays.
    std::fs::create_dir_all(rd.join("dpdk/rte")).unwrap();
    ok(&run("--no-huge --no-pci --vdev=net_null0"));
    assert!(rd.join("dpdk/rte").is_dir());
}

#[test]
fn frames_longer_than_an_mbuf_are_counted_and_never_reach_a_module() {
    // net_pcap reads a 3000-byte frame into a chain of two mbufs: it is dropped and counted;
    // the packets around it go through as on the pcap host.
    let dir = tempdir();
    let small = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 60);
    let big = udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 3000);
    write_pcap(&dir.path().join("in.pcap"), &[(1_000, small.clone()), (2_000, big), (3_000, small.clone())]);
    let so = example("macswap");
    let eal = "--no-huge --no-pci --vdev=net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap";
    let stdout = ok(&run_bounded(dir.path(), &strings(&["run", so.to_str().unwrap(), "--dpdk", eal])));
    assert!(stdout.contains("port 0 (net_pcap0, net_pcap): rx 3, tx 2, 1 multi-segment packets dropped"), "{stdout}");
    assert!(stdout.contains("2 packets in, 2 out"), "{stdout}");
    assert_eq!(frames(&dir.path().join("out.pcap")).len(), 2);
}
