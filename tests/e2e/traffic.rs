//! `nfcc traffic --profile`: each profile's trace is checked for the properties it promises
//! (flow counts, repeats, the expiry gap, more flows than the capacity, keys sharing one
//! chain by the Rust `nfcc_hash`, heartbeats, nested routes), then run through the real NF,
//! whose output is compared with what a small model written here says the NF must do; the
//! firewall's tracing build (`nfcc check`) shows colliding flows really walk one chain.
//! Bad arguments fail with a message and leave no file.

use crate::support::*;
use nfcc_runtime::pcap::PacketRecord;
use nfcc_runtime::traffic::profiles::{map_chain, Tuple};
use std::collections::{HashMap, HashSet};
use std::path::Path;

const GAP: u64 = 1_000_000_000;

/// A generated trace: its directory, stdout, and the packets of ports 0 and 1.
struct Gen {
    dir: tempfile::TempDir,
    stdout: String,
    p0: Vec<PacketRecord>,
    p1: Vec<PacketRecord>,
}

impl Gen {
    /// The `KEY=VALUE` settings `nfcc traffic` printed.
    fn settings(&self) -> Vec<String> {
        let line = self.stdout.lines().find_map(|l| l.strip_prefix("settings: ")).expect("settings line");
        line.split(' ').map(String::from).collect()
    }

    /// Time of the first packet of the second wave (the one after the gap), if any.
    fn wave2_start(&self) -> Option<u64> {
        let mut t: Vec<u64> = self.p0.iter().chain(&self.p1).map(|p| p.time_ns).collect();
        t.sort_unstable();
        let gaps: Vec<&[u64]> = t.windows(2).filter(|w| w[1] - w[0] >= GAP).collect();
        assert!(gaps.len() <= 1, "at most one quiet gap");
        gaps.first().map(|w| w[1])
    }

    /// Runs `nf` on the trace with its printed settings (plus `extra`); returns the module's
    /// row (in, forwarded, dropped, errors) and the packets out of ports 0 and 1.
    fn run(&self, nf: &str, extra: &[&str]) -> ([u64; 4], Vec<PacketRecord>, Vec<PacketRecord>) {
        let so = example(nf);
        let mut args: Vec<String> = vec!["run".into(), so.to_str().unwrap().into()];
        args.extend(self.settings());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--pcap".into(), "0=in0.pcap".into()]);
        if self.dir.path().join("in1.pcap").exists() {
            args.extend(["--pcap".into(), "1=in1.pcap".into()]);
        }
        args.extend(["--out".into(), "0=out0.pcap".into(), "--out".into(), "1=out1.pcap".into()]);
        let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let stdout = ok(&run_in(self.dir.path(), &argv));
        let row: Vec<u64> = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(nf))
            .expect("module row")
            .split_whitespace()
            .skip(2)
            .take(4)
            .map(|x| x.parse().unwrap())
            .collect();
        let d = self.dir.path();
        (row.try_into().unwrap(), read_pcap(&d.join("out0.pcap")), read_pcap(&d.join("out1.pcap")))
    }
}

fn generate(args: &[&str]) -> Gen {
    let dir = tempdir();
    let mut argv = vec!["traffic", "-o", "in0.pcap"];
    argv.extend_from_slice(args);
    let stdout = ok(&run_in(dir.path(), &argv));
    let p0 = read_pcap(&dir.path().join("in0.pcap"));
    let p1 = if dir.path().join("in1.pcap").exists() { read_pcap(&dir.path().join("in1.pcap")) } else { Vec::new() };
    assert!(stdout.contains(&format!("wrote {} packets", p0.len())), "{stdout}");
    Gen { dir, stdout, p0, p1 }
}

/// The 5-tuple of an IPv4 TCP/UDP frame (checking its header checksum on the way).
fn tuple(f: &[u8]) -> Tuple {
    assert_eq!(&f[12..14], &[8, 0]);
    let ip = &f[14..];
    assert_eq!(ones_sum(&ip[..20]), 0xffff, "IPv4 header checksum");
    assert!(ip[9] == 6 || ip[9] == 17);
    Tuple {
        proto: ip[9],
        src: ip[12..16].try_into().unwrap(),
        dst: ip[16..20].try_into().unwrap(),
        sport: u16::from_be_bytes([ip[20], ip[21]]),
        dport: u16::from_be_bytes([ip[22], ip[23]]),
    }
}

/// Flows of port 0 in order of first appearance, and how many packets each has.
fn flows_of(pkts: &[PacketRecord]) -> (Vec<Tuple>, HashMap<Tuple, usize>) {
    let (mut order, mut count) = (Vec::new(), HashMap::new());
    for p in pkts {
        let t = tuple(&p.data);
        *count.entry(t).or_insert_with(|| {
            order.push(t);
            0
        }) += 1;
    }
    (order, count)
}

/// Checks what every two-wave flow profile promises: `flows` flows, all repeated, one gap
/// of exactly GAP, waves 1 us apart inside, every key in one chain of a `capacity` map.
fn check_flow_trace(g: &Gen, flows: usize, capacity: u32) -> (Vec<Tuple>, u64) {
    let (order, count) = flows_of(&g.p0);
    assert_eq!(order.len(), flows, "distinct flows");
    assert!(flows > capacity as usize, "more flows than the table holds");
    assert!(count.values().all(|&c| c >= 2), "every flow repeated");
    assert!(count.values().sum::<usize>() >= 3 * flows, "repeats beyond the first packets");
    let chains: HashSet<u32> = order.iter().map(|t| map_chain(&t.key(), capacity)).collect();
    assert_eq!(chains.len(), 1, "every flow key in one chain");
    let w2 = g.wave2_start().expect("two waves");
    let mut t: Vec<u64> = g.p0.iter().chain(&g.p1).map(|p| p.time_ns).collect();
    t.sort_unstable();
    assert!(t.windows(2).all(|w| w[1] - w[0] == 1_000 || w[1] - w[0] == GAP), "1 us apart but for the gap");
    (order, w2)
}

/// Which flows a table of `capacity` admits in each wave: the first ones to arrive.
fn admitted(g: &Gen, w2: u64, capacity: usize) -> [HashSet<Tuple>; 2] {
    let mut sets = [HashSet::new(), HashSet::new()];
    let mut seen = [HashSet::new(), HashSet::new()];
    for p in &g.p0 {
        let w = usize::from(p.time_ns >= w2);
        let t = tuple(&p.data);
        if seen[w].insert(t) && sets[w].len() < capacity {
            sets[w].insert(t);
        }
    }
    sets
}

#[test]
fn nat_profile_fills_the_table_collides_and_expires() {
    let g = generate(&[
        "--profile", "nat", "--port1-out", "in1.pcap", "--flows", "600", "--packets", "6000", "--capacity", "256",
        "--collide", "--expire-gap", "1000000000",
    ]);
    assert_eq!(g.settings(), ["external_ip=192.0.2.1", "port_base=1024", "capacity=256", "expiry=1000000000"]);
    let (_, w2) = check_flow_trace(&g, 600, 256);
    let adm = admitted(&g, w2, 256);
    assert!(adm[0].is_disjoint(&adm[1]), "the second wave starts with the flows the first refused");
    // Replies: first wave only, to the NAT's address and the ports it gives in order.
    assert!(!g.p1.is_empty());
    for p in &g.p1 {
        let t = tuple(&p.data);
        assert!(p.time_ns < w2);
        assert_eq!(t.dst, [192, 0, 2, 1]);
        assert!((1024..1024 + 256).contains(&t.dport), "reply to port {}", t.dport);
    }
    let (row, out0, out1) = g.run("nat", &[]);
    let pass: Vec<&PacketRecord> =
        g.p0.iter().filter(|p| adm[usize::from(p.time_ns >= w2)].contains(&tuple(&p.data))).collect();
    assert_eq!(out1.len(), pass.len(), "port 0 traffic of admitted flows only (table full drops the rest)");
    assert_eq!(out0.len(), g.p1.len(), "every reply matches its flow");
    let total = (g.p0.len() + g.p1.len()) as u64;
    assert_eq!(row, [total, (out0.len() + out1.len()) as u64, total - (out0.len() + out1.len()) as u64, 0]);
    // Translated: the NAT's address; 256 ports in the first wave, and again after the expiry.
    let mut ports = [HashSet::new(), HashSet::new()];
    for p in &out1 {
        let t = tuple(&p.data);
        assert_eq!(t.src, [192, 0, 2, 1]);
        ports[usize::from(p.time_ns >= w2)].insert(t.sport);
    }
    assert_eq!((ports[0].len(), ports[1].len()), (256, 256));
}

#[test]
fn firewall_profile_opens_pinholes_until_full_and_again_after_expiry() {
    let g = generate(&[
        "--profile", "firewall", "--port1-out", "in1.pcap", "--flows", "400", "--packets", "4000", "--capacity",
        "128", "--collide", "--expire-gap", "1000000000",
    ]);
    assert_eq!(g.settings(), ["capacity=128", "expiry=1000000000"]);
    let (order, w2) = check_flow_trace(&g, 400, 128);
    let adm = admitted(&g, w2, 128);
    let flows: HashSet<Tuple> = order.into_iter().collect();
    let reverse = |t: Tuple| Tuple { proto: t.proto, src: t.dst, dst: t.src, sport: t.dport, dport: t.sport };
    assert!(g.p1.iter().all(|p| flows.contains(&reverse(tuple(&p.data)))), "inbound packets are replies");
    let (row, out0, out1) = g.run("firewall", &[]);
    let outbound = g.p0.iter().filter(|p| adm[usize::from(p.time_ns >= w2)].contains(&tuple(&p.data))).count();
    let inbound = g.p1.iter().filter(|p| adm[usize::from(p.time_ns >= w2)].contains(&reverse(tuple(&p.data)))).count();
    assert!(inbound > 0 && inbound < g.p1.len(), "some replies pass, those of refused flows do not");
    assert_eq!((out1.len(), out0.len()), (outbound, inbound));
    assert_eq!(row[1], (outbound + inbound) as u64);
    assert_eq!(row[0], (g.p0.len() + g.p1.len()) as u64);
}

#[test]
fn lb_profile_heartbeats_then_fewer_backends_after_expiry() {
    let g = generate(&[
        "--profile", "lb", "--port1-out", "in1.pcap", "--flows", "500", "--packets", "6000", "--capacity", "128",
        "--collide", "--expire-gap", "1000000000",
    ]);
    assert_eq!(g.settings(), ["flow_capacity=128", "flow_expiry=1000000000", "backend_expiry=1000000000"]);
    let (_, w2) = check_flow_trace(&g, 500, 128);
    // Heartbeats: UDP to port 7777 on port 1, four backends, then two; each wave starts with them.
    let mut from = [HashSet::new(), HashSet::new()];
    for p in &g.p1 {
        let t = tuple(&p.data);
        assert_eq!((t.proto, t.dport), (17, 7777));
        from[usize::from(p.time_ns >= w2)].insert(t.src);
    }
    assert_eq!((from[0].len(), from[1].len()), (4, 2));
    assert!(from[1].is_subset(&from[0]));
    let first = |w: usize| g.p0.iter().chain(&g.p1).map(|p| p.time_ns).filter(|&t| (t >= w2) == (w == 1)).min().unwrap();
    for w in 0..2 {
        assert!(g.p1.iter().any(|p| p.time_ns == first(w)), "wave {w} opens with a heartbeat");
    }
    let (row, out0, out1) = g.run("lb", &[]);
    assert!(out0.is_empty());
    assert_eq!(out1.len(), g.p0.len(), "every client packet is balanced");
    assert_eq!(row, [(g.p0.len() + g.p1.len()) as u64, g.p0.len() as u64, g.p1.len() as u64, 0]);
    // Client packets leave in order; each flow keeps one live backend within a wave.
    let mut backend: [HashMap<Tuple, [u8; 4]>; 2] = [HashMap::new(), HashMap::new()];
    let mut used = [HashSet::new(), HashSet::new()];
    for (i, o) in g.p0.iter().zip(&out1) {
        let w = usize::from(i.time_ns >= w2);
        let (t, d) = (tuple(&i.data), tuple(&o.data).dst);
        assert!(from[w].contains(&d), "wave {w}: backend {d:?} is not live");
        assert_eq!(*backend[w].entry(t).or_insert(d), d, "a flow changed backend within a wave");
        used[w].insert(d);
    }
    assert_eq!(used, from, "every live backend gets flows");
}

#[test]
fn bridge_profile_learns_until_full_and_relearns_after_expiry() {
    let g = generate(&[
        "--profile", "bridge", "--port1-out", "in1.pcap", "--flows", "300", "--packets", "4000", "--capacity",
        "100", "--collide", "--expire-gap", "1000000000",
    ]);
    assert_eq!(g.settings(), ["capacity=100", "expiry=1000000000"]);
    let w2 = g.wave2_start().expect("two waves");
    // Stations: each sends from one port only; all their MACs share one chain.
    let mut port_of: HashMap<[u8; 6], u16> = HashMap::new();
    let mut frames: Vec<(u64, u16, [u8; 6], [u8; 6])> = Vec::new();
    for (port, pkts) in [(0u16, &g.p0), (1, &g.p1)] {
        for p in pkts {
            let (dst, src): ([u8; 6], [u8; 6]) = (p.data[0..6].try_into().unwrap(), p.data[6..12].try_into().unwrap());
            assert_eq!(*port_of.entry(src).or_insert(port), port, "a station stays behind its port");
            frames.push((p.time_ns, port, src, dst));
        }
    }
    frames.sort_unstable();
    assert_eq!(port_of.len(), 300);
    assert!(port_of.values().filter(|&&p| p == 0).count().abs_diff(150) <= 1);
    assert_eq!(port_of.keys().map(|m| map_chain(m, 100)).collect::<HashSet<_>>().len(), 1, "one chain");
    // The model: learn while there is room, forget everything between the waves.
    let (mut table, mut wave) = (HashSet::new(), 0);
    let mut want = [0usize; 2];
    let (mut flooded, mut filtered) = (0, 0);
    for &(t, port, src, dst) in &frames {
        if t >= w2 && wave == 0 {
            (table, wave) = (HashSet::new(), 1);
        }
        if !table.contains(&src) && table.len() < 100 {
            table.insert(src);
        }
        if dst[0] & 1 == 0 && table.contains(&dst) {
            if port_of[&dst] == port {
                filtered += 1;
                continue;
            }
        } else {
            flooded += 1;
        }
        want[usize::from(1 - port)] += 1;
    }
    assert!(flooded > 300 && filtered > 0, "flooded {flooded}, filtered {filtered}");
    let (row, out0, out1) = g.run("bridge", &[]);
    assert_eq!([out0.len(), out1.len()], want);
    assert_eq!(row[0..2], [frames.len() as u64, (want[0] + want[1]) as u64]);
}

/// The longest prefix in `routes` containing `a`: its length and port.
fn lookup(routes: &[(u32, u32, u16)], a: u32) -> Option<(u32, u16)> {
    routes
        .iter()
        .filter(|r| r.1 == 0 || a >> (32 - r.1) == r.0 >> (32 - r.1))
        .max_by_key(|r| r.1)
        .map(|r| (r.1, r.2))
}

#[test]
fn router_profile_routes_nest_and_every_level_is_hit() {
    let g = generate(&["--profile", "router", "--flows", "200", "--packets", "2000"]);
    assert!(g.p1.is_empty() && !g.dir.path().join("in1.pcap").exists());
    let settings = g.settings();
    assert_eq!(settings.len(), 1);
    let routes: Vec<(u32, u32, u16)> = settings[0]
        .strip_prefix("routes=")
        .unwrap()
        .split(',')
        .map(|e| {
            let (net, port) = e.split_once(':').unwrap();
            let (addr, len) = net.split_once('/').unwrap();
            let b: Vec<u32> = addr.split('.').map(|x| x.parse().unwrap()).collect();
            (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3], len.parse().unwrap(), port.parse().unwrap())
        })
        .collect();
    // Nesting: every route but the default sits inside a shorter one with another port.
    let depth = |r: &(u32, u32, u16)| routes.iter().filter(|o| o.1 < r.1 && lookup(&[**o], r.0).is_some()).count();
    for r in &routes {
        if r.1 > 0 {
            let parent = routes.iter().filter(|o| o.1 < r.1 && lookup(&[**o], r.0).is_some()).max_by_key(|o| o.1).unwrap();
            assert_ne!(parent.2, r.2, "nested prefixes alternate ports");
        }
    }
    assert_eq!(routes.iter().map(depth).max(), Some(4), "five levels: /0, /8, /16, /24, /28");
    let (order, count) = flows_of(&g.p0);
    assert_eq!(order.len(), 200);
    assert!(count.values().all(|&c| c >= 2), "every flow repeated");
    let levels: HashSet<u32> = order.iter().map(|t| lookup(&routes, u32::from_be_bytes(t.dst)).unwrap().0).collect();
    assert_eq!(levels, HashSet::from([0, 8, 16, 24, 28]), "every level is some flow's longest match");
    let (row, out0, out1) = g.run("router", &[]);
    let want1 = g.p0.iter().filter(|p| lookup(&routes, u32::from_be_bytes(tuple(&p.data).dst)).unwrap().1 == 1).count();
    assert_eq!((out0.len(), out1.len()), (g.p0.len() - want1, want1));
    assert!(want1 > 0 && want1 < g.p0.len());
    for o in out0.iter().chain(&out1) {
        assert_eq!(o.data[22], 63, "TTL decremented");
    }
    for (o, port) in out1.iter().map(|o| (o, 1)).chain(out0.iter().map(|o| (o, 0))) {
        assert_eq!(lookup(&routes, u32::from_be_bytes(tuple(&o.data).dst)).unwrap().1, port);
    }
    assert_eq!(row, [2000, 2000, 0, 0]);
}

#[test]
fn default_traffic_is_unchanged_and_profiles_are_deterministic() {
    let dir = tempdir();
    ok(&run_in(dir.path(), &["traffic", "-o", "a.pcap", "--packets", "3000", "--flows", "50"]));
    let spec = nfcc_runtime::traffic::TrafficSpec { packets: 3000, flows: 50, ..Default::default() };
    let mut want = Vec::new();
    nfcc_runtime::traffic::write_pcap(&spec, &mut want).unwrap();
    assert!(std::fs::read(dir.path().join("a.pcap")).unwrap() == want, "default trace changed");
    let args = ["--profile", "firewall", "--flows", "50", "--packets", "500", "--seed", "7"];
    let a = generate(&[&args[..], &["--port1-out", "in1.pcap"]].concat());
    let b = generate(&[&args[..], &["--port1-out", "in1.pcap"]].concat());
    assert_eq!((a.p0, a.p1), (b.p0, b.p1));
}

#[track_caller]
fn refused(dir: &Path, args: &[&str], code: i32, needles: &[&str]) {
    let mut argv = vec!["traffic"];
    argv.extend_from_slice(args);
    fails(&run_in(dir, &argv), code, needles);
}

#[test]
fn bad_arguments_are_refused_and_leave_no_file() {
    let dir = tempdir();
    let d = dir.path();
    let p1 = ["--port1-out", "b.pcap"];
    refused(d, &["-o", "a.pcap", "--profile", "nat"], 2, &["--profile nat needs --port1-out"]);
    refused(d, &["-o", "a.pcap", "--profile", "dns"], 2, &["`dns` is not a profile"]);
    refused(d, &["-o", "a.pcap", "--capacity", "5"], 2, &["--profile"]);
    refused(d, &["-o", "a.pcap", "--profile", "nat", "--collide", "--port1-out", "b.pcap"], 2, &["--capacity"]);
    refused(d, &["-o", "a.pcap", "--profile", "router", "--port1-out", "b.pcap"], 2, &["--port1-out does not apply"]);
    refused(d, &["-o", "a.pcap", "--profile", "router", "--expire-gap", "5"], 2, &["--expire-gap does not apply"]);
    refused(d, &[&["-o", "a.pcap", "--profile", "lb", "--capacity", "0"][..], &p1].concat(), 2, &["at least 1"]);
    refused(d, &[&["-o", "a.pcap", "--profile", "nat", "--packets", "100"][..], &p1].concat(), 2, &["at least 2000"]);
    refused(
        d,
        &[&["-o", "a.pcap", "--profile", "nat", "--expire-gap", "1000"][..], &p1].concat(),
        2,
        &["--expire-gap 1000 ns must be longer than a wave"],
    );
    refused(d, &[&["-o", "a.pcap", "--profile", "nat", "--non-ip", "3"][..], &p1].concat(), 2, &["--non-ip"]);
    refused(d, &["-o", "a.pcap", "--profile", "nat", "--port1-out", "a.pcap"], 2, &["different files"]);
    refused(d, &[&["-o", "a.pcap", "--profile", "bridge", "--flows", "1"][..], &p1].concat(), 2, &["at least 2 flows"]);
    assert_eq!(files_in(d), Vec::<String>::new());
    // A port-1 file that cannot be written: exit 1, and the port-0 file does not appear either.
    std::fs::write(d.join("f"), b"").unwrap();
    refused(d, &["-o", "a.pcap", "--profile", "firewall", "--port1-out", "f/b.pcap"], 1, &["f/b.pcap: cannot write"]);
    assert_eq!(files_in(d), ["f"]);
}

/// The largest value a PCV `t` (map chain entries examined; one per map operation:
/// `t_map_get`, `t_map_put`, ...) took in `nfcc check`.
fn max_chain_walk(dir: &Path, so: &Path, collide: bool) -> u64 {
    let mut args = vec!["--profile", "firewall", "--flows", "40", "--packets", "120", "--capacity", "64"];
    args.extend(["-o", "a.pcap", "--port1-out", "b.pcap"]);
    if collide {
        args.push("--collide");
    }
    ok(&run_in(dir, &[&["traffic"][..], &args].concat()));
    let so = so.to_str().unwrap();
    let out = ok(&run_in(dir, &["check", so, "capacity=64", "--pcap", "a.pcap", "--pcap", "1=b.pcap", "--json"]));
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let chain = |n: &str| n == "t" || n.starts_with("t_");
    r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|k| k["pcv_max"].as_object().unwrap().iter().filter(|(n, _)| chain(n)).map(|(_, v)| v.as_u64().unwrap()))
        .max()
        .expect("a chain PCV")
}

/// The firewall's own tracing build counts the chain walks: 40 flows in one chain make some
/// lookup walk past all 39 others; spread out, chains stay short.
#[test]
fn colliding_flows_really_share_a_chain_in_the_nf() {
    let dir = tempdir();
    let so = dir.path().join("fw.so");
    ok(&nfcc().arg("build").arg(root().join("nf-examples/firewall/firewall.c")).arg("-o").arg(&so).output().unwrap());
    let (together, apart) = (max_chain_walk(dir.path(), &so, true), max_chain_walk(dir.path(), &so, false));
    assert!(together >= 39, "longest chain walk {together} with --collide");
    assert!(apart < 10, "longest chain walk {apart} without --collide");
}
