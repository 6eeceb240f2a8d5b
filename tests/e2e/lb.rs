//! lb: backends announce themselves with heartbeats on port 1, clients send on port 0. Every
//! packet leaving the balancer is checked, in order and byte for byte, against a model
//! written here: which packets are dropped (malformed, not TCP/UDP, no live backend,
//! heartbeats), that a flow keeps its backend while both live (flow and backend expiry
//! exactly at the documented boundaries), that a new or moved flow gets a live backend, and
//! that the rewritten packet equals the input with the new destination and both checksums
//! recomputed from scratch. The Maglev choice itself is checked by its properties: even
//! spread, determinism, and little movement when a backend leaves.

use crate::support::*;
use nfcc_runtime::pcap::PacketRecord;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Malformed,
    NotIpv4,
    Fragment,
    OtherProto,
    NotHeartbeat,
    Heartbeat,
    BackendRefused,
    NoBackend,
    /// An existing flow whose backend lives: it must go there.
    Stuck,
    /// A new flow, given a backend now.
    New,
    /// An existing flow whose backend died, given a new one.
    Moved,
    /// A new flow while the flow table is full: balanced without an entry.
    Stateless,
}

/// (src ip, dst ip, src port, dst port, proto)
type Key = (u32, u32, u16, u16, u8);

#[derive(Clone)]
struct Settings {
    backend_expiry: u64,
    max_backends: usize,
    flow_expiry: u64,
    flow_capacity: usize,
    heartbeat_port: u16,
}

impl Settings {
    fn new(backend_expiry: u64, flow_expiry: u64) -> Settings {
        Settings { backend_expiry, max_backends: 64, flow_expiry, flow_capacity: 65536, heartbeat_port: 7777 }
    }
    fn args(&self) -> Vec<String> {
        vec![
            format!("backend_expiry={}", self.backend_expiry),
            format!("max_backends={}", self.max_backends),
            format!("flow_expiry={}", self.flow_expiry),
            format!("flow_capacity={}", self.flow_capacity),
            format!("heartbeat_port={}", self.heartbeat_port),
        ]
    }
}

struct Model {
    s: Settings,
    /// Backend address -> time of its last heartbeat.
    backends: HashMap<u32, u64>,
    /// Flow -> (backend address, time last seen).
    flows: HashMap<Key, (u32, u64)>,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A valid IPv4 TCP/UDP frame's (header length, protocol, flow key), or its class.
fn parse(frame: &[u8]) -> Result<(usize, u8, Key), Class> {
    if frame.len() < 14 {
        return Err(Class::Malformed);
    }
    if frame[12..14] != [0x08, 0x00] {
        return Err(Class::NotIpv4);
    }
    if frame.len() < 34 {
        return Err(Class::Malformed);
    }
    let ip = &frame[14..];
    let hlen = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(&ip[2..]));
    if ip[0] >> 4 != 4 || hlen < 20 || hlen > ip.len() || total < hlen || total > ip.len() {
        return Err(Class::Malformed);
    }
    let proto = ip[9];
    if proto != 6 && proto != 17 {
        return Err(Class::OtherProto);
    }
    if be16(&ip[6..]) & 0x1fff != 0 {
        return Err(Class::Fragment);
    }
    if total - hlen < if proto == 6 { 20 } else { 8 } {
        return Err(Class::Malformed);
    }
    let l4 = &ip[hlen..];
    Ok((hlen, proto, (be32(&ip[12..]), be32(&ip[16..]), be16(l4), be16(&l4[2..]), proto)))
}

/// What the model knows about a packet: dropped, or forwarded to `Some(backend)` exactly or
/// to any live backend (`None`).
enum Verdict {
    Drop(Class),
    Forward(Class, Option<u32>),
}

impl Model {
    fn new(s: Settings) -> Model {
        Model { s, backends: HashMap::new(), flows: HashMap::new() }
    }

    fn expire(&mut self, now: u64) {
        let (be, fe) = (self.s.backend_expiry, self.s.flow_expiry);
        self.backends.retain(|_, t| now < *t || now - *t < be);
        self.flows.retain(|_, (_, t)| now < *t || now - *t < fe);
    }

    fn live(&self, ip: u32) -> bool {
        self.backends.contains_key(&ip)
    }

    fn process(&mut self, now: u64, port: u16, frame: &[u8]) -> Verdict {
        self.expire(now);
        let (hlen, proto, key) = match parse(frame) {
            Ok(x) => x,
            Err(Class::OtherProto) if port == 1 => return Verdict::Drop(Class::NotHeartbeat),
            Err(c) => return Verdict::Drop(c),
        };
        if port == 1 {
            if proto != 17 || be16(&frame[14 + hlen + 2..]) != self.s.heartbeat_port {
                return Verdict::Drop(Class::NotHeartbeat);
            }
            if let Some(t) = self.backends.get_mut(&key.0) {
                *t = now;
            } else if self.backends.len() >= self.s.max_backends {
                return Verdict::Drop(Class::BackendRefused);
            } else {
                self.backends.insert(key.0, now);
            }
            return Verdict::Drop(Class::Heartbeat);
        }
        if self.backends.is_empty() {
            return Verdict::Drop(Class::NoBackend);
        }
        match self.flows.get(&key) {
            Some((b, _)) if self.live(*b) => Verdict::Forward(Class::Stuck, Some(*b)),
            Some(_) => Verdict::Forward(Class::Moved, None),
            None if self.flows.len() >= self.s.flow_capacity => Verdict::Forward(Class::Stateless, None),
            None => Verdict::Forward(Class::New, None),
        }
    }

    /// Records that the packet of `key` went to `backend` at `now`.
    fn sent(&mut self, class: Class, key: Key, backend: u32, now: u64) {
        if class != Class::Stateless {
            self.flows.insert(key, (backend, now));
        }
    }
}

/// Sets the IPv4 header checksum and, for TCP and UDP (unless the UDP checksum is 0, "none"),
/// the L4 checksum over the pseudo-header and the datagram's L4 bytes, from scratch.
fn fix_checksums(f: &mut [u8]) {
    let Ok((hlen, proto, _)) = parse(f) else { return };
    let total = usize::from(be16(&f[16..]));
    f[24] = 0;
    f[25] = 0;
    let c = !ones_sum(&f[14..14 + hlen]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let at = 14 + hlen + if proto == 6 { 16 } else { 6 };
    if proto == 17 && f[at] == 0 && f[at + 1] == 0 {
        return;
    }
    f[at] = 0;
    f[at + 1] = 0;
    let l4 = &f[14 + hlen..14 + total];
    let mut pseudo = Vec::with_capacity(12 + l4.len() + 1);
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(l4);
    let mut c = !ones_sum(&pseudo);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// `f` sent to `backend`: the destination rewritten, checksums recomputed from scratch.
fn rewritten(f: &[u8], backend: u32) -> Vec<u8> {
    let mut o = f.to_vec();
    o[30..34].copy_from_slice(&backend.to_be_bytes());
    fix_checksums(&mut o);
    o
}

// ---------------------------------------------------------------------------------------
// Crafting packets.

/// Ethernet + IPv4 (20-byte header plus `opts` bytes of options) + a TCP (20) or UDP (8)
/// header (other protocols: 8 bytes) + `payload` random bytes, zero-padded to 60 bytes,
/// with correct checksums.
fn frame(proto: u8, src: u32, dst: u32, sport: u16, dport: u16, opts: usize, payload: usize, rng: &mut Rng) -> Vec<u8> {
    let l4len = if proto == 6 { 20 } else { 8 };
    let hlen = 20 + opts;
    let total = hlen + l4len + payload;
    let mut f = vec![0u8; (14 + total).max(60)];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x10]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x20]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    for b in &mut f[14 + 20..14 + total] {
        *b = rng.next() as u8;
    }
    let ip = &mut f[14..];
    ip[0] = 0x40 | (hlen / 4) as u8;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&(rng.next() as u16).to_be_bytes());
    ip[6] = 0;
    ip[7] = 0;
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.to_be_bytes());
    ip[16..20].copy_from_slice(&dst.to_be_bytes());
    let l4 = &mut ip[hlen..total];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    if proto == 17 {
        l4[4..6].copy_from_slice(&((l4len + payload) as u16).to_be_bytes());
        l4[6] = 0x55; // non-zero: computed below
    }
    fix_checksums(&mut f);
    f
}

fn addr(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

const VIP: u32 = 0xc000_0264; // 192.0.2.100

fn backend(i: u8) -> u32 {
    addr(10, 9, 0, i)
}

fn heartbeat(b: u32, rng: &mut Rng) -> Vec<u8> {
    frame(17, b, VIP, 7777, 7777, 0, 4, rng)
}

/// A packet of a trace: arrival time, input port, frame.
type Packet = (u64, u16, Vec<u8>);

// ---------------------------------------------------------------------------------------
// Running the balancer and comparing.

fn merged(trace: &[Packet]) -> Vec<Packet> {
    let mut v = trace.to_vec();
    v.sort_by_key(|p| (p.0, p.1));
    v
}

/// Writes one capture per input port (each in time order), runs `so` with `settings` on two
/// ports, returns the directory, stdout and what left each port.
fn run(so: &Path, settings: &[String], trace: &[Packet]) -> (tempfile::TempDir, String, Vec<Vec<PacketRecord>>) {
    let dir = tempdir();
    let trace = merged(trace);
    let mut args: Vec<String> = vec!["run".into(), so.to_str().unwrap().into()];
    args.extend(settings.iter().cloned());
    args.extend(["--ports".into(), "2".into()]);
    for p in 0..2u16 {
        let frames: Vec<(u64, Vec<u8>)> = trace.iter().filter(|x| x.1 == p).map(|x| (x.0, x.2.clone())).collect();
        write_pcap(&dir.path().join(format!("in{p}.pcap")), &frames);
        args.extend(["--pcap".into(), format!("{p}=in{p}.pcap")]);
    }
    for p in 0..2 {
        args.extend(["--out".into(), format!("{p}=out{p}.pcap")]);
    }
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let stdout = ok(&run_in(dir.path(), &argv));
    let outs = (0..2).map(|p| read_pcap(&dir.path().join(format!("out{p}.pcap")))).collect();
    (dir, stdout, outs)
}

/// One input packet as the model saw it: time, class, flow key (if TCP/UDP), and the
/// backend it went to (if forwarded).
#[derive(Debug, Clone)]
struct Seen {
    time: u64,
    class: Class,
    key: Option<Key>,
    backend: Option<u32>,
}

/// Checks every output packet against the model, in order, and the module's counters;
/// returns what happened to each input packet, in merged order.
#[track_caller]
fn check(s: &Settings, trace: &[Packet], stdout: &str, outs: &[Vec<PacketRecord>]) -> Vec<Seen> {
    let trace = merged(trace);
    let mut model = Model::new(s.clone());
    let mut seen = Vec::new();
    let mut next = 0usize;
    assert!(outs[0].is_empty(), "nothing may leave on port 0");
    for (i, (t, port, f)) in trace.iter().enumerate() {
        let key = parse(f).ok().map(|x| x.2);
        match model.process(*t, *port, f) {
            Verdict::Drop(class) => seen.push(Seen { time: *t, class, key, backend: None }),
            Verdict::Forward(class, want) => {
                let got = outs[1].get(next).unwrap_or_else(|| panic!("input {i} (time {t}, {class:?}): the model forwards it, nothing left"));
                assert_eq!(got.time_ns, *t, "output {next}: not the packet the model forwards here (input {i}, {class:?})");
                let b = be32(&got.data[30..34]);
                if let Some(w) = want {
                    assert_eq!(b, w, "input {i} (time {t}): flow moved off its live backend");
                } else {
                    assert!(model.live(b), "input {i} (time {t}, {class:?}): sent to {b:08x}, not a live backend");
                }
                assert_eq!(got.data, rewritten(f, b), "input {i} (time {t}): bytes differ from the rewrite");
                model.sent(class, key.unwrap(), b, *t);
                seen.push(Seen { time: *t, class, key, backend: Some(b) });
                next += 1;
            }
        }
    }
    assert_eq!(outs[1].len(), next, "port 1: {} packets out, the model sends {next}", outs[1].len());
    let row: Vec<&str> = stdout.lines().find(|l| l.starts_with("lb")).expect("lb row").split_whitespace().collect();
    assert_eq!(row[2..6], [trace.len().to_string(), next.to_string(), (trace.len() - next).to_string(), "0".into()], "{stdout}");
    assert_eq!(row[6], "no", "{stdout}");
    seen
}

fn count(seen: &[Seen], c: Class) -> usize {
    seen.iter().filter(|x| x.class == c).count()
}

fn build_mode(dir: &Path, name: &str, mode: &str) -> PathBuf {
    let src = root().join(format!("nf-examples/{name}/{name}.c"));
    let out = dir.join(format!("{name}-{mode}.so"));
    ok(&nfcc().args(["build", "--no-contract"]).arg(&src).arg("-o").arg(&out).args(["--protect", mode]).output().unwrap());
    out
}

/// Heartbeats from `b` every `every` ns in [from, to).
fn beats(b: u32, from: u64, to: u64, every: u64, rng: &mut Rng) -> Vec<Packet> {
    (0..).map(|k| from + k * every).take_while(|t| *t < to).map(|t| (t, 1, heartbeat(b, rng))).collect()
}

/// Clients: `n` packets over `flows` flows (TCP and UDP, a few ICMP) between `from` and
/// `to`, plus noise on port 1 (non-heartbeats) and heartbeat-shaped packets on port 0.
fn clients(rng: &mut Rng, n: usize, flows: usize, from: u64, to: u64) -> Vec<Packet> {
    let mut v = Vec::new();
    for _ in 0..n {
        let t = from + rng.below(to - from);
        let f = rng.below(flows as u64);
        let src = addr(172, 16, (f >> 8) as u8, f as u8);
        let proto = [6, 17, 6, 17, 6, 17, 6, 17, 6, 1][rng.below(10) as usize];
        let sport = 1024 + (f as u16 % 7);
        let payload = rng.below(120) as usize;
        v.push((t, 0, frame(proto, src, VIP, sport, 80, 0, payload, rng)));
        match rng.below(50) {
            0 => v.push((t, 1, frame(6, backend(1), VIP, 7777, 7777, 0, 0, rng))), // TCP: no heartbeat
            1 => v.push((t, 1, frame(17, backend(2), VIP, 7777, 7778, 0, 0, rng))), // another port
            2 => v.push((t, 0, heartbeat(backend(3), rng))), // on the client side: a client packet
            _ => {}
        }
    }
    v
}

// ---------------------------------------------------------------------------------------
// Tests.

#[test]
fn flows_stick_to_live_backends_and_move_when_theirs_expires() {
    let mut rng = Rng(1);
    let s = Settings::new(10_000, 50_000);
    let mut trace = Vec::new();
    // Backend 1 lives throughout, 2 from 20k, 3 stops at 150k, 4 lives 100k..200k and again
    // from 300k, 5 beats too slowly to stay (gaps of 10,000 ns: gone at each next beat).
    trace.extend(beats(backend(1), 5_000, 400_000, 3_000, &mut rng));
    trace.extend(beats(backend(2), 20_000, 400_000, 4_000, &mut rng));
    trace.extend(beats(backend(3), 5_000, 150_000, 9_999, &mut rng));
    trace.extend(beats(backend(4), 100_000, 200_000, 2_000, &mut rng));
    trace.extend(beats(backend(4), 300_000, 400_000, 2_000, &mut rng));
    trace.extend(beats(backend(5), 5_000, 400_000, 10_000, &mut rng));
    trace.extend(clients(&mut rng, 8000, 300, 0, 420_000));
    let so = example("lb");
    let (_dir, stdout, outs) = run(&so, &s.args(), &trace);
    let seen = check(&s, &trace, &stdout, &outs);
    let mut hist: HashMap<Class, usize> = HashMap::new();
    for x in &seen {
        *hist.entry(x.class).or_default() += 1;
    }
    eprintln!("lb scenario: {hist:?}");
    for c in [Class::Stuck, Class::New, Class::Moved, Class::NoBackend, Class::Heartbeat, Class::NotHeartbeat, Class::OtherProto] {
        assert!(hist.get(&c).copied().unwrap_or(0) > 10, "{c:?}: {hist:?}");
    }
    // Every backend that lived long enough carried traffic; backend 5 never lived two beats.
    let used: HashSet<u32> = seen.iter().filter_map(|x| x.backend).collect();
    for i in 1..=5 {
        assert!(used.contains(&backend(i)), "backend {i} unused");
    }
}

#[test]
fn expiry_boundaries_for_backends_and_flows() {
    let mut rng = Rng(2);
    let s = Settings::new(1000, 500);
    let so = example("lb");
    // Backends: heard at t = 100 -> serves at 1099, gone at 1100.
    let c = |rng: &mut Rng, i: u16| frame(17, addr(172, 16, 0, 1), VIP, 2000 + i, 53, 0, 8, rng);
    let trace: Vec<Packet> = vec![
        (50, 0, c(&mut rng, 0)),              // no backend yet
        (100, 1, heartbeat(backend(1), &mut rng)),
        (100, 0, c(&mut rng, 1)),             // port 0 first at equal times: still none
        (101, 0, c(&mut rng, 2)),
        (1099, 0, c(&mut rng, 3)),
        (1100, 0, c(&mut rng, 4)),            // gone
        (1100, 1, heartbeat(backend(1), &mut rng)),
        (1101, 0, c(&mut rng, 5)),
    ];
    let (_dir, stdout, outs) = run(&so, &s.args(), &trace);
    let seen = check(&s, &trace, &stdout, &outs);
    let classes: Vec<Class> = seen.iter().map(|x| x.class).collect();
    use Class::*;
    // Merged order: at equal times, port 0 (clients) goes first.
    assert_eq!(classes, [NoBackend, NoBackend, Heartbeat, New, New, NoBackend, Heartbeat, New]);
    assert_eq!(outs[1].iter().map(|r| r.time_ns).collect::<Vec<_>>(), [101, 1099, 1101]);

    // Flows: 300 flows start on backend 1 alone; backends 2 to 4 join. A flow last seen at t
    // stays on backend 1 at t + 499 and is rebalanced at t + 500 (most then move).
    let s = Settings::new(1_000_000, 500);
    let flows: Vec<Vec<u8>> = (0..300u16).map(|i| frame(6, addr(172, 16, 1, i as u8), VIP, 3000 + i, 443, 0, 4, &mut rng)).collect();
    let mut trace: Vec<Packet> = vec![(10, 1, heartbeat(backend(1), &mut rng))];
    for (i, f) in flows.iter().enumerate() {
        trace.push((1000 + i as u64, 0, f.clone()));
    }
    for b in 2..=4 {
        trace.push((1400, 1, heartbeat(backend(b), &mut rng)));
    }
    for (i, f) in flows.iter().enumerate() {
        trace.push((1000 + i as u64 + 499, 0, f.clone())); // still stuck; refreshed
        trace.push((1000 + i as u64 + 999, 0, f.clone())); // expired: rebalanced
    }
    let (_dir, stdout, outs) = run(&so, &s.args(), &trace);
    let seen = check(&s, &trace, &stdout, &outs);
    assert_eq!(count(&seen, Class::Stuck), 300);
    assert_eq!(count(&seen, Class::New), 600);
    let phase: Vec<&Seen> = seen.iter().filter(|x| x.class == Class::Stuck).collect();
    assert!(phase.iter().all(|x| x.backend == Some(backend(1))));
    let moved = seen.iter().filter(|x| x.time >= 1999 && x.backend != Some(backend(1))).count();
    assert!(moved > 150, "{moved} of 300 flows rebalanced off backend 1");
}

#[test]
fn backend_table_full_and_flow_table_full() {
    let mut rng = Rng(3);
    let mut s = Settings::new(10_000, 1_000_000);
    s.max_backends = 2;
    s.flow_capacity = 50;
    let mut trace = Vec::new();
    trace.extend(beats(backend(1), 0, 60_000, 3_000, &mut rng));
    trace.extend(beats(backend(2), 1, 20_000, 3_000, &mut rng)); // stops: gone by 28,001
    trace.extend(beats(backend(3), 2, 60_000, 3_000, &mut rng)); // refused until 2 is gone
    trace.extend(clients(&mut rng, 3000, 200, 5_000, 60_000));
    let (_dir, stdout, outs) = run(&example("lb"), &s.args(), &trace);
    let seen = check(&s, &trace, &stdout, &outs);
    assert!(count(&seen, Class::BackendRefused) > 3);
    assert!(count(&seen, Class::Stateless) > 100);
    let early: HashSet<u32> = seen.iter().filter(|x| x.time < 20_000).filter_map(|x| x.backend).collect();
    let late: HashSet<u32> = seen.iter().filter(|x| x.time > 40_000).filter_map(|x| x.backend).collect();
    assert_eq!(early, HashSet::from([backend(1), backend(2)]));
    assert_eq!(late, HashSet::from([backend(1), backend(3)]));
}

#[test]
fn maglev_spreads_evenly_is_deterministic_and_moves_little() {
    // flow_expiry=1: every packet is a fresh Maglev lookup.
    let mut rng = Rng(4);
    let s = Settings::new(1_000_000, 1);
    let mut trace = Vec::new();
    for b in 1..=4 {
        trace.extend(beats(backend(b), b as u64, 3_000_000, 400_000, &mut rng));
    }
    trace.extend(beats(backend(5), 5, 1_500_000, 400_000, &mut rng)); // gone from 2,200,005
    let flows: Vec<Vec<u8>> =
        (0..5000u32).map(|i| frame(17, addr(172, 17, (i >> 8) as u8, i as u8), VIP, 5000 + (i % 3) as u16, 53, 0, 0, &mut rng)).collect();
    for (phase, start) in [(0u64, 100_000u64), (1, 600_000), (2, 2_300_000)] {
        let _ = phase;
        for (i, f) in flows.iter().enumerate() {
            trace.push((start + 2 * i as u64, 0, f.clone()));
        }
    }
    let (_dir, stdout, outs) = run(&example("lb"), &s.args(), &trace);
    let seen = check(&s, &trace, &stdout, &outs);
    let by_phase = |start: u64| -> Vec<u32> {
        seen.iter().filter(|x| x.time >= start && x.time < start + 10_000 && x.backend.is_some()).map(|x| x.backend.unwrap()).collect()
    };
    let (p0, p1, p2) = (by_phase(100_000), by_phase(600_000), by_phase(2_300_000));
    assert_eq!((p0.len(), p1.len(), p2.len()), (5000, 5000, 5000));
    assert_eq!(p0, p1, "the same backend set must give every flow the same backend");
    let mut spread: HashMap<u32, usize> = HashMap::new();
    for b in &p0 {
        *spread.entry(*b).or_default() += 1;
    }
    eprintln!("spread over 5 backends: {spread:?}");
    assert_eq!(spread.len(), 5);
    assert!(spread.values().all(|n| (800..=1200).contains(n)), "{spread:?}");
    // Backend 5 left: its flows moved; of the others, nearly all stay.
    let kept = p0.iter().zip(&p2).filter(|(a, _)| **a != backend(5)).filter(|(a, b)| a == b).count();
    let others = p0.iter().filter(|a| **a != backend(5)).count();
    eprintln!("flows kept after backend 5 left: {kept} of {others}");
    assert!(p2.iter().all(|b| *b != backend(5)));
    assert!(kept * 100 >= others * 90, "{kept} of {others}");
}

#[test]
fn checksum_edge_cases_match_a_full_recomputation() {
    // One backend: every flow goes there, so the test can aim the rewritten checksums at 0
    // (TCP: 0x0000 stays; UDP: sent as 0xffff), and UDP checksum 0 ("none") stays 0.
    let mut rng = Rng(5);
    let b = backend(7);
    let s = Settings::new(1 << 40, 1 << 40);
    let mut trace: Vec<Packet> = vec![(1, 1, heartbeat(b, &mut rng))];
    for i in 0..600u64 {
        let proto = if i % 2 == 0 { 6 } else { 17 };
        let mut f = frame(proto, rng.next() as u32, rng.next() as u32, rng.next() as u16, rng.next() as u16, 0, 2 + rng.below(30) as usize, &mut rng);
        let hl = 14 + 20;
        let at = hl + if proto == 6 { 16 } else { 6 };
        match i % 6 {
            // Make the rewritten L4 checksum 0: fix the first two payload bytes.
            0 | 1 | 2 => {
                let pay = hl + if proto == 6 { 20 } else { 8 };
                let mut o = rewritten(&f, b);
                o[pay] = 0;
                o[pay + 1] = 0;
                o[at] = 0;
                o[at + 1] = 0;
                let total = usize::from(be16(&o[16..]));
                let mut pseudo = o[26..34].to_vec();
                pseudo.extend_from_slice(&[0, proto]);
                pseudo.extend_from_slice(&((total - 20) as u16).to_be_bytes());
                pseudo.extend_from_slice(&o[hl..14 + total]);
                let w = 0xffff - ones_sum(&pseudo);
                f[pay..pay + 2].copy_from_slice(&w.to_be_bytes());
                f[at] = 1; // non-zero: recomputed
                fix_checksums(&mut f);
                let o = rewritten(&f, b);
                let want = if proto == 6 { 0 } else { 0xffff };
                assert_eq!(be16(&o[at..]), want, "test bug");
            }
            3 if proto == 17 => {
                f[at] = 0;
                f[at + 1] = 0;
            }
            // Make the rewritten IPv4 header checksum 0 through the identification.
            _ => {
                let mut o = rewritten(&f, b);
                o[18] = 0;
                o[19] = 0;
                o[24] = 0;
                o[25] = 0;
                let id = 0xffff - ones_sum(&o[14..34]);
                f[18..20].copy_from_slice(&id.to_be_bytes());
                fix_checksums(&mut f);
                assert_eq!(be16(&rewritten(&f, b)[24..]), 0, "test bug");
            }
        }
        trace.push((10 + i, 0, f));
    }
    let (_dir, stdout, outs) = run(&example("lb"), &s.args(), &trace);
    let seen = check(&s, &trace, &stdout, &outs);
    assert_eq!(count(&seen, Class::New), 600);
    let none = outs[1].iter().filter(|o| o.data[23] == 17 && o.data[40..42] == [0, 0]).count();
    assert_eq!(none, 100);
}

/// Frames the balancer must drop, with their input port, and well-formed ones at the
/// boundaries (with a live backend 1).
fn malformed_frames() -> Vec<(u16, Vec<u8>)> {
    let mut rng = Rng(6);
    let (a, b) = (addr(172, 16, 9, 9), VIP);
    let mut v: Vec<(u16, Vec<u8>)> = Vec::new();
    let tcp = |rng: &mut Rng| frame(6, a, b, 1234, 80, 0, 6, rng);
    for port in [0u16, 1] {
        for n in [0, 1, 12, 13] {
            v.push((port, vec![0x08; n]));
        }
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        v.push((port, f));
        for n in [15, 20, 33, 40] {
            v.push((port, tcp(&mut rng)[..n].to_vec()));
        }
        for ver_ihl in [0x65, 0x05, 0x00, 0x40, 0x44, 0x4f] {
            let mut f = if port == 1 { heartbeat(backend(9), &mut rng) } else { tcp(&mut rng) };
            f[14] = ver_ihl;
            v.push((port, f));
        }
        for total in [19u16, 0, 67, 0xffff] {
            let mut f = if port == 1 { heartbeat(backend(9), &mut rng) } else { tcp(&mut rng) };
            f[16..18].copy_from_slice(&total.to_be_bytes());
            v.push((port, f));
        }
        for (proto, l4) in [(6u8, 19u16), (17, 7), (6, 0), (17, 0)] {
            let mut f = frame(proto, a, b, 7777, 7777, 0, 0, &mut rng);
            f[16..18].copy_from_slice(&(20 + l4).to_be_bytes());
            v.push((port, f));
        }
        for flags in [0x0001u16, 0x2001, 0x1fff, 0x2000, 0x4000] {
            let mut f = if port == 1 { heartbeat(backend(9), &mut rng) } else { tcp(&mut rng) };
            f[20..22].copy_from_slice(&flags.to_be_bytes());
            fix_checksums(&mut f);
            v.push((port, f));
        }
        for et in [[0x08, 0x06], [0x86, 0xdd], [0x81, 0x00]] {
            let mut f = tcp(&mut rng);
            f[12..14].copy_from_slice(&et);
            v.push((port, f));
        }
        v.push((port, frame(1, a, b, 0, 0, 0, 8, &mut rng)));
        v.push((port, frame(47, a, b, 0, 0, 0, 8, &mut rng)));
    }
    // Fine at the boundaries: exactly 20 TCP / 8 UDP bytes, options, padding.
    v.push((0, frame(6, a, b, 5, 6, 0, 0, &mut rng)));
    v.push((0, frame(17, a, b, 5, 6, 0, 0, &mut rng)));
    v.push((0, frame(6, a, b, 5, 7, 40, 0, &mut rng)));
    let mut f = frame(17, a, b, 5, 8, 4, 3, &mut rng);
    f.extend([0xee; 100]);
    v.push((0, f));
    let mut f = heartbeat(backend(8), &mut rng);
    f.extend([0xee; 30]);
    v.push((1, f)); // a padded heartbeat with options-free header: valid
    v
}

#[test]
fn malformed_frames_are_dropped_without_harm() {
    let mut rng = Rng(7);
    let s = Settings::new(1 << 40, 1 << 40);
    let mut trace: Vec<Packet> = vec![(1, 1, heartbeat(backend(1), &mut rng))];
    for (i, (port, f)) in malformed_frames().into_iter().enumerate() {
        trace.push((10 * i as u64 + 10, port, f));
        let good = frame(6, addr(172, 16, 0, i as u8), VIP, 999, 443, 0, 20, &mut rng);
        trace.push((10 * i as u64 + 15, 0, good));
    }
    let (_dir, stdout, outs) = run(&example("lb"), &s.args(), &trace);
    let seen = check(&s, &trace, &stdout, &outs);
    assert!(count(&seen, Class::Malformed) >= 40, "{}", count(&seen, Class::Malformed));
    assert!(count(&seen, Class::Fragment) >= 6);
    assert_eq!(count(&seen, Class::NotIpv4), 6);
    // The padded heartbeat of backend 8 (and the fragment-free first fragments of 9) count.
    let used: HashSet<u32> = seen.iter().filter_map(|x| x.backend).collect();
    assert!(used.contains(&backend(8)) && used.contains(&backend(9)), "{used:?}");
}

/// 100,000 generated client packets over 10,000 flows (checksums set right first), with 8
/// backends beating every 2 ms: backend 8 stops at 30 ms, backend 7 is away from 50 to
/// 70 ms. The trace spans about 100 ms.
fn generated_trace() -> (Settings, Vec<Packet>) {
    let path = traffic(&["--packets", "100000", "--flows", "10000", "--seed", "41", "--non-ip", "3"]);
    let input = read_pcap(&path);
    let t0 = input[0].time_ns;
    let end = input.last().unwrap().time_ns;
    let mut rng = Rng(8);
    let mut trace: Vec<Packet> = input
        .iter()
        .map(|p| {
            let mut d = p.data.clone();
            fix_checksums(&mut d);
            (p.time_ns, 0, d)
        })
        .collect();
    for b in 1..=8u8 {
        let ms = 1_000_000;
        let start = t0 + u64::from(b) * 1000;
        match b {
            8 => trace.extend(beats(backend(b), start, t0 + 30 * ms, 2 * ms, &mut rng)),
            7 => {
                trace.extend(beats(backend(b), start, t0 + 50 * ms, 2 * ms, &mut rng));
                trace.extend(beats(backend(b), t0 + 70 * ms, end, 2 * ms, &mut rng));
            }
            _ => trace.extend(beats(backend(b), start, end, 2 * ms, &mut rng)),
        }
    }
    let mut s = Settings::new(5_000_000, 20_000_000);
    s.flow_capacity = 6000;
    (s, trace)
}

#[test]
fn generated_traffic_100k_packets_10k_flows() {
    let (s, trace) = generated_trace();
    let (_dir, stdout, outs) = run(&example("lb"), &s.args(), &trace);
    let seen = check(&s, &trace, &stdout, &outs);
    let mut hist: HashMap<Class, usize> = HashMap::new();
    for x in &seen {
        *hist.entry(x.class).or_default() += 1;
    }
    eprintln!("lb on generated traffic: {hist:?}");
    assert!(trace.iter().filter(|p| p.1 == 0).count() == 100_000);
    for c in [Class::Stuck, Class::New, Class::Moved, Class::NotIpv4, Class::OtherProto, Class::Heartbeat] {
        assert!(hist.get(&c).copied().unwrap_or(0) > 100, "{c:?}: {hist:?}");
    }
    let flows: HashSet<Key> = seen.iter().filter(|x| x.backend.is_some()).filter_map(|x| x.key).collect();
    assert!(flows.len() >= 5000, "{} flows", flows.len());
    // First packets of flows while all 8 backends live spread roughly evenly.
    let mut spread: HashMap<u32, usize> = HashMap::new();
    let t0 = trace.iter().map(|p| p.0).min().unwrap();
    for x in seen.iter().filter(|x| x.class == Class::New && x.time > t0 + 1_000_000 && x.time < t0 + 30_000_000) {
        *spread.entry(x.backend.unwrap()).or_default() += 1;
    }
    let total: usize = spread.values().sum();
    eprintln!("new flows per backend: {spread:?}");
    assert_eq!(spread.len(), 8);
    assert!(spread.values().all(|n| *n * 8 * 10 > total * 7 && *n * 8 * 10 < total * 13), "{spread:?}");
}

#[test]
fn identical_output_in_every_protection_mode() {
    let builds = tempdir();
    let mut rng = Rng(9);
    let s1 = Settings::new(10_000, 50_000);
    let mut small = Vec::new();
    small.extend(beats(backend(1), 0, 100_000, 3_000, &mut rng));
    small.extend(beats(backend(2), 0, 50_000, 3_000, &mut rng));
    small.extend(clients(&mut rng, 2000, 100, 1, 120_000));
    small.extend(malformed_frames().into_iter().enumerate().map(|(i, (p, f))| (130_000 + i as u64, p, f)));
    let (s2, gen) = generated_trace();
    let mut first: Option<Vec<Vec<u8>>> = None;
    for mode in ["rw", "wonly", "none"] {
        let so = build_mode(builds.path(), "lb", mode);
        let mut files = Vec::new();
        for (s, tr) in [(&s1, &small), (&s2, &gen)] {
            let mut args = s.args();
            if mode == "none" {
                args.push("--allow-unprotected".into());
            }
            let (dir, stdout, outs) = run(&so, &args, tr);
            assert!(stdout.contains(&format!(" {mode} ")), "{stdout}");
            check(s, tr, &stdout, &outs);
            files.push(std::fs::read(dir.path().join("out1.pcap")).unwrap());
        }
        match &first {
            None => first = Some(files),
            Some(f) => assert!(f == &files, "--protect {mode} output differs from --protect rw"),
        }
    }
}

#[test]
fn refuses_bad_settings() {
    let dir = tempdir();
    write_pcap(&dir.path().join("in.pcap"), &[(1, udp_frame([10, 0, 0, 1], [1, 1, 1, 1], 60))]);
    let so = example("lb");
    for arg in ["max_backends=0", "backend_expiry=0", "flow_expiry=0", "flow_capacity=0", "heartbeat_port=0", "heartbeat_port=65536"] {
        let out = run_in(dir.path(), &["run", so.to_str().unwrap(), arg, "--pcap", "in.pcap"]);
        let key = arg.split('=').next().unwrap();
        assert!(!out.status.success(), "{arg} accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains(key), "{arg}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = run_in(dir.path(), &["run", so.to_str().unwrap(), "--ports", "1", "--pcap", "in.pcap"]);
    fails(&out, 1, &["needs two ports"]);
}
