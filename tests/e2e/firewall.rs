//! firewall: inside hosts (port 0) talk to outside hosts (port 1); every packet leaving
//! every port is checked, in order and byte for byte, against a model of the stateful
//! firewall written here (pinholes keyed by 5-tuple, replies matched in reverse, idle
//! expiry exactly at the documented boundary, a full table, ICMP and other protocols,
//! malformed frames). Hand-written scenarios spell the expected verdicts out literally, so
//! the model itself is checked too.

use crate::support::*;
use nfcc_runtime::pcap::PacketRecord;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Malformed,
    NotIpv4,
    Fragment,
    OtherProto,
    IcmpOut,
    IcmpIn,
    Opened,
    Refreshed,
    TableFull,
    AllowedIn,
    DeniedIn,
}

/// (inside ip, outside ip, inside port, outside port, proto)
type Key = (u32, u32, u16, u16, u8);

struct Model {
    expiry: u64,
    capacity: usize,
    /// Pinhole -> time last opened or refreshed.
    table: HashMap<Key, u64>,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Where the IPv4 datagram of `frame` is valid: (header length, protocol), or the class
/// of a frame that is not. Shared by the firewall and the checks on the crafted frames.
fn parse(frame: &[u8]) -> Result<(usize, u8), Class> {
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
    Ok((hlen, ip[9]))
}

impl Model {
    fn new(expiry: u64, capacity: usize) -> Model {
        Model { expiry, capacity, table: HashMap::new() }
    }

    /// The verdict on one packet: its class and the port it leaves on.
    fn process(&mut self, now: u64, port: u16, frame: &[u8]) -> (Class, Option<u16>) {
        let (hlen, proto) = match parse(frame) {
            Ok(x) => x,
            Err(c) => return (c, None),
        };
        let ip = &frame[14..];
        let total = usize::from(be16(&ip[2..]));
        match proto {
            1 if port == 0 => return (Class::IcmpOut, Some(1)),
            1 => return (Class::IcmpIn, None),
            6 | 17 => {}
            _ => return (Class::OtherProto, None),
        }
        if be16(&ip[6..]) & 0x1fff != 0 {
            return (Class::Fragment, None);
        }
        if total - hlen < if proto == 6 { 20 } else { 8 } {
            return (Class::Malformed, None);
        }
        let l4 = &ip[hlen..];
        let (s, d, sp, dp) = (be32(&ip[12..]), be32(&ip[16..]), be16(l4), be16(&l4[2..]));
        let key: Key = if port == 0 { (s, d, sp, dp, proto) } else { (d, s, dp, sp, proto) };
        let expiry = self.expiry;
        self.table.retain(|_, t| now.saturating_sub(*t) < expiry || now < *t);
        if let Some(t) = self.table.get_mut(&key) {
            *t = now;
            return if port == 0 { (Class::Refreshed, Some(1)) } else { (Class::AllowedIn, Some(0)) };
        }
        if port == 1 {
            return (Class::DeniedIn, None);
        }
        if self.table.len() >= self.capacity {
            return (Class::TableFull, None);
        }
        self.table.insert(key, now);
        (Class::Opened, Some(1))
    }
}

// ---------------------------------------------------------------------------------------
// Crafting packets.

/// Ethernet + IPv4 (20-byte header plus `opts` bytes of options) + a TCP (20) or UDP (8)
/// header (other protocols: 8 bytes) + `payload` random bytes, zero-padded to 60 bytes.
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
    ip[10] = 0;
    ip[11] = 0;
    let c = !ones_sum(&ip[..hlen]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let l4 = &mut ip[hlen..total];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    if proto == 17 {
        l4[4..6].copy_from_slice(&((l4len + payload) as u16).to_be_bytes());
    }
    f
}

fn addr(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

/// The reply to `f`: addresses and ports swapped (no checksum changes: sums commute).
fn reverse(f: &[u8]) -> Vec<u8> {
    let mut r = f.to_vec();
    if let Ok((hlen, proto)) = parse(f) {
        let (a, b) = (f[26..30].to_vec(), f[30..34].to_vec());
        r[26..30].copy_from_slice(&b);
        r[30..34].copy_from_slice(&a);
        let l4 = 14 + hlen;
        if (proto == 6 || proto == 17) && f.len() >= l4 + 4 {
            r[l4..l4 + 2].copy_from_slice(&f[l4 + 2..l4 + 4]);
            r[l4 + 2..l4 + 4].copy_from_slice(&f[l4..l4 + 2]);
        }
    }
    r
}

/// A packet of a trace: arrival time, input port, frame.
type Packet = (u64, u16, Vec<u8>);

// ---------------------------------------------------------------------------------------
// Running the firewall and comparing.

/// The order in which the host sends `trace` through the module: by time, ties to the
/// lower input port, then capture order.
fn merged(trace: &[Packet]) -> Vec<Packet> {
    let mut v = trace.to_vec();
    v.sort_by_key(|p| (p.0, p.1));
    v
}

/// Writes one capture per input port (each in time order), runs `so` with `settings` on two ports, returns the
/// directory, stdout and what left each port.
fn run(so: &Path, settings: &[&str], trace: &[Packet]) -> (tempfile::TempDir, String, Vec<Vec<PacketRecord>>) {
    let dir = tempdir();
    let trace = merged(trace);
    let mut args: Vec<String> = vec!["run".into(), so.to_str().unwrap().into()];
    args.extend(settings.iter().map(|s| s.to_string()));
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

/// Checks every output packet of both ports against the model, in order, and the module's
/// row of counters; returns the class of every packet in merged order.
#[track_caller]
fn check(model: &mut Model, trace: &[Packet], stdout: &str, outs: &[Vec<PacketRecord>]) -> Vec<Class> {
    let trace = merged(trace);
    let mut want: Vec<Vec<(u64, Vec<u8>)>> = vec![Vec::new(); 2];
    let mut classes = Vec::new();
    for (t, port, f) in &trace {
        let (class, out) = model.process(*t, *port, f);
        classes.push(class);
        if let Some(o) = out {
            want[usize::from(o)].push((*t, f.clone()));
        }
    }
    for (port, (got, want)) in outs.iter().zip(&want).enumerate() {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.time_ns, w.0, "port {port}, packet {i}: not the packet the model sends here");
            assert_eq!(g.data, w.1, "port {port}, packet {i} (time {}): bytes differ", w.0);
        }
        assert_eq!(got.len(), want.len(), "port {port}: {} packets out, the model sends {}", got.len(), want.len());
    }
    let passed: usize = want.iter().map(|w| w.len()).sum();
    let row: Vec<&str> = stdout.lines().find(|l| l.starts_with("firewall")).expect("firewall row").split_whitespace().collect();
    assert_eq!(row[2..6], [trace.len().to_string(), passed.to_string(), (trace.len() - passed).to_string(), "0".into()], "{stdout}");
    assert_eq!(row[6], "no", "{stdout}");
    classes
}

fn count(classes: &[Class], c: Class) -> usize {
    classes.iter().filter(|x| **x == c).count()
}

/// Conversations between 40 inside and 40 outside hosts: outbound packets, replies (some
/// to the wrong port, address or protocol), unsolicited inbound packets, ICMP both ways and
/// other protocols, over a time span several expiry windows long.
fn random_trace(seed: u64, n: usize, step: u64) -> Vec<Packet> {
    let mut rng = Rng(seed);
    let mut trace = Vec::new();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut t = 1_000u64;
    for _ in 0..n {
        t += rng.below(step);
        let inside = addr(10, 0, 0, 1 + rng.below(6) as u8);
        let outside = addr(198, 51, 100, 1 + rng.below(6) as u8);
        let proto = [6, 6, 17, 17, 1, 47][rng.below(6) as usize];
        let sport = 40000 + rng.below(2) as u16;
        let dport = [53, 443][rng.below(2) as usize];
        let payload = rng.below(80) as usize;
        match rng.below(10) {
            0..=3 => {
                let f = frame(proto, inside, outside, sport, dport, 0, payload, &mut rng);
                sent.push(f.clone());
                trace.push((t, 0, f));
            }
            4..=6 if !sent.is_empty() => {
                let k = sent.len() - 1 - rng.below(sent.len().min(30) as u64) as usize;
                let mut r = reverse(&sent[k]);
                match rng.below(8) {
                    0 => r[36] ^= 1, // another inside port
                    1 => r[29] ^= 0x80, // another outside host
                    2 => r[23] = if r[23] == 6 { 17 } else { 6 },
                    _ => {}
                }
                trace.push((t, 1, r));
            }
            _ => {
                let f = frame(proto, outside, inside, dport, sport, 0, payload, &mut rng);
                trace.push((t, 1, f));
            }
        }
    }
    trace
}

/// `nfcc build` of `name` with `--protect mode` into `dir`.
fn build_mode(dir: &Path, name: &str, mode: &str) -> PathBuf {
    let src = root().join(format!("nf-examples/{name}/{name}.c"));
    let out = dir.join(format!("{name}-{mode}.so"));
    ok(&nfcc().args(["build", "--no-contract"]).arg(&src).arg("-o").arg(&out).args(["--protect", mode]).output().unwrap());
    out
}

// ---------------------------------------------------------------------------------------
// Tests.

#[test]
fn pinholes_open_outbound_and_admit_only_matching_replies() {
    let trace = random_trace(1, 6000, 400);
    let (_dir, stdout, outs) = run(&example("firewall"), &["expiry=50000"], &trace);
    let classes = check(&mut Model::new(50_000, 65536), &trace, &stdout, &outs);
    for c in [Class::Opened, Class::Refreshed, Class::AllowedIn, Class::DeniedIn, Class::IcmpOut, Class::IcmpIn, Class::OtherProto] {
        assert!(count(&classes, c) > 100, "{c:?}: {}", count(&classes, c));
    }
}

#[test]
fn expiry_is_exactly_at_the_documented_boundary() {
    let mut rng = Rng(2);
    let (a, b) = (addr(10, 0, 0, 1), addr(198, 51, 100, 7));
    let out = frame(6, a, b, 40000, 443, 0, 10, &mut rng);
    let back = reverse(&out);
    let udp = frame(17, a, b, 5353, 53, 0, 10, &mut rng);
    let udp_back = reverse(&udp);
    // expiry=1000: a pinhole refreshed at t is open at t + 999 and gone at t + 1000.
    let trace: Vec<Packet> = vec![
        (100, 1, back.clone()),     // nothing open yet: dropped
        (200, 0, out.clone()),      // opens
        (1199, 1, back.clone()),    // t + 999: passes, refreshes to 1199
        (2198, 1, back.clone()),    // 1199 + 999: passes
        (3198, 1, back.clone()),    // 2198 + 1000: gone
        (3198, 0, udp.clone()),     // (port 0 goes first at equal times) opens UDP
        (4197, 0, udp.clone()),     // outbound refresh at + 999
        (5197, 1, udp_back.clone()), // 4197 + 1000: gone
        (6000, 0, out.clone()),     // reopens
        (6999, 1, back.clone()),    // passes
        (4_000_000_000_000_000_000, 1, back.clone()), // long after: gone
    ];
    let (_dir, stdout, outs) = run(&example("firewall"), &["expiry=1000"], &trace);
    let classes = check(&mut Model::new(1000, 65536), &trace, &stdout, &outs);
    use Class::*;
    assert_eq!(classes, [DeniedIn, Opened, AllowedIn, AllowedIn, Opened, DeniedIn, Refreshed, DeniedIn, Opened, AllowedIn, DeniedIn]);
    let times = |p: usize| outs[p].iter().map(|r| r.time_ns).collect::<Vec<_>>();
    assert_eq!(times(0), [1199, 2198, 6999]);
    assert_eq!(times(1), [200, 3198, 4197, 6000]);
}

#[test]
fn a_full_table_drops_new_outbound_flows_only() {
    let mut rng = Rng(3);
    let host = |i: u8| addr(10, 0, 0, i);
    let srv = addr(203, 0, 113, 5);
    let flows: Vec<Vec<u8>> = (1..=5).map(|i| frame(17, host(i), srv, 1000 + u16::from(i), 53, 0, 4, &mut rng)).collect();
    let mut trace: Vec<Packet> = Vec::new();
    for (i, f) in flows.iter().enumerate().take(3) {
        trace.push((10 + i as u64, 0, f.clone())); // opens 3: full
    }
    trace.push((20, 0, flows[3].clone())); // full: dropped
    trace.push((21, 1, reverse(&flows[3]))); // so its reply is denied
    trace.push((22, 1, reverse(&flows[0]))); // open pinholes still work both ways
    trace.push((23, 0, flows[1].clone()));
    trace.push((24, 0, frame(1, host(9), srv, 0, 0, 0, 8, &mut rng))); // ICMP needs no room
    // At 10 + 100 the first pinhole (refreshed at 22) is still open, the third (12) gone.
    trace.push((112, 0, flows[4].clone())); // room again: opens
    trace.push((113, 0, flows[3].clone())); // full again (flows 0, 1, 4): dropped
    trace.push((122, 0, flows[3].clone())); // flow 0 expired at 22 + 100: opens
    trace.push((123, 1, reverse(&flows[3])));
    let (_dir, stdout, outs) = run(&example("firewall"), &["capacity=3", "expiry=100"], &trace);
    let classes = check(&mut Model::new(100, 3), &trace, &stdout, &outs);
    use Class::*;
    assert_eq!(classes, [Opened, Opened, Opened, TableFull, DeniedIn, AllowedIn, Refreshed, IcmpOut, Opened, TableFull, Opened, AllowedIn]);
}

/// Frames the firewall must drop with their class, and well-formed ones at the boundaries.
fn malformed_frames() -> Vec<(Class, u16, Vec<u8>)> {
    let mut rng = Rng(4);
    let (a, b) = (addr(10, 0, 0, 1), addr(192, 0, 2, 1));
    let mut v: Vec<(Class, u16, Vec<u8>)> = Vec::new();
    let tcp = |rng: &mut Rng| frame(6, a, b, 1234, 80, 0, 6, rng);
    for n in [0, 1, 12, 13] {
        v.push((Class::Malformed, 0, vec![0x08; n]));
    }
    let mut f = vec![0u8; 14];
    f[12] = 0x08;
    v.push((Class::Malformed, 0, f)); // IPv4 EtherType, no header
    for n in [15, 20, 33] {
        v.push((Class::Malformed, 0, tcp(&mut rng)[..n].to_vec()));
    }
    for ver_ihl in [0x65, 0x05, 0x00, 0x40, 0x44, 0x4f] {
        let mut f = tcp(&mut rng);
        f[14] = ver_ihl;
        v.push((Class::Malformed, 0, f));
    }
    for total in [19u16, 0, 67, 0xffff] {
        let mut f = tcp(&mut rng); // 60 bytes after Ethernet header... 46 + 6 payload = 66
        f[16..18].copy_from_slice(&total.to_be_bytes());
        v.push((Class::Malformed, 0, f));
    }
    // L4 header cut short by the total length: TCP 19 bytes, UDP 7, and TCP with options.
    for (proto, l4) in [(6u8, 19u16), (17, 7), (6, 0), (17, 0)] {
        let mut f = frame(proto, a, b, 1, 2, 0, 0, &mut rng);
        f[16..18].copy_from_slice(&(20 + l4).to_be_bytes());
        v.push((Class::Malformed, 0, f));
    }
    let mut f = frame(6, a, b, 1, 2, 40, 0, &mut rng); // 60-byte header + 20 TCP
    f[16..18].copy_from_slice(&79u16.to_be_bytes());
    v.push((Class::Malformed, 0, f[..14 + 79].to_vec()));
    // Fragments past the first carry no ports, whatever their bytes say.
    for (i, (flags, class)) in [(0x0001u16, Class::Fragment), (0x2001, Class::Fragment), (0x1fff, Class::Fragment), (0x2000, Class::Opened), (0x4000, Class::Opened)].into_iter().enumerate() {
        let mut f = frame(17, a, b, 7, 8 + i as u16, 0, 4, &mut rng);
        f[20..22].copy_from_slice(&flags.to_be_bytes());
        v.push((class, 0, f));
    }
    // Fragments inbound: dropped as fragments even though they would match.
    let mut f = reverse(&frame(6, a, b, 1234, 80, 0, 6, &mut rng));
    f[20..22].copy_from_slice(&0x0004u16.to_be_bytes());
    v.push((Class::Fragment, 1, f));
    for et in [[0x08, 0x06], [0x86, 0xdd], [0x81, 0x00]] {
        let mut f = tcp(&mut rng);
        f[12..14].copy_from_slice(&et);
        v.push((Class::NotIpv4, 0, f.clone()));
        v.push((Class::NotIpv4, 1, f));
    }
    // Boundaries that are fine: exactly 20 TCP / 8 UDP bytes, options, padding.
    v.push((Class::Opened, 0, frame(6, a, b, 5, 6, 0, 0, &mut rng)));
    v.push((Class::Opened, 0, frame(17, a, b, 5, 6, 0, 0, &mut rng)));
    v.push((Class::Opened, 0, frame(6, a, b, 5, 7, 40, 0, &mut rng)));
    let mut f = frame(17, a, b, 5, 8, 4, 3, &mut rng);
    f.extend([0xee; 100]);
    v.push((Class::Opened, 0, f));
    v
}

#[test]
fn malformed_frames_are_dropped_without_harm() {
    let crafted = malformed_frames();
    let mut rng = Rng(5);
    let mut trace = Vec::new();
    let mut probe = Model::new(1 << 40, 65536);
    for (i, (class, port, f)) in crafted.iter().enumerate() {
        assert_eq!(probe.process(0, *port, f).0, *class, "test bug: crafted frame {i}");
        // Between every two crafted frames, a good exchange: the firewall keeps working.
        let good = frame(6, addr(10, 1, 0, i as u8), addr(192, 0, 2, 9), 999, 443, 0, 20, &mut rng);
        trace.push((10 * i as u64 + 1, *port, f.clone()));
        trace.push((10 * i as u64 + 5, 0, good.clone()));
        trace.push((10 * i as u64 + 6, 1, reverse(&good)));
    }
    let (_dir, stdout, outs) = run(&example("firewall"), &[], &trace);
    let classes = check(&mut Model::new(60_000_000_000, 65536), &trace, &stdout, &outs);
    assert!(count(&classes, Class::Malformed) >= 20);
    assert_eq!(count(&classes, Class::AllowedIn), crafted.len());
}

/// 100,000 generated packets over 10,000 flows: even packets go out as they are, odd ones
/// come back as replies to their flow; expiry and capacity are set so both bite.
fn generated_trace() -> Vec<Packet> {
    let path = traffic(&["--packets", "100000", "--flows", "10000", "--seed", "31", "--non-ip", "3"]);
    read_pcap(&path)
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 0 { (p.time_ns, 0, p.data.clone()) } else { (p.time_ns, 1, reverse(&p.data)) })
        .collect()
}

const GEN_SETTINGS: [&str; 2] = ["expiry=50M", "capacity=3000"];

#[test]
fn generated_traffic_100k_packets_10k_flows() {
    let trace = generated_trace();
    assert_eq!(trace.len(), 100_000);
    let (_dir, stdout, outs) = run(&example("firewall"), &GEN_SETTINGS, &trace);
    let classes = check(&mut Model::new(50_000_000, 3000), &trace, &stdout, &outs);
    let mut hist: HashMap<Class, usize> = HashMap::new();
    for c in &classes {
        *hist.entry(*c).or_default() += 1;
    }
    eprintln!("firewall on generated traffic: {hist:?}");
    for c in [Class::Opened, Class::Refreshed, Class::AllowedIn, Class::DeniedIn, Class::TableFull, Class::NotIpv4] {
        assert!(hist.get(&c).copied().unwrap_or(0) > 500, "{c:?}: {hist:?}");
    }
}

#[test]
fn identical_output_in_every_protection_mode() {
    let builds = tempdir();
    let modes = ["rw", "wonly", "none"];
    let mut trace = random_trace(6, 3000, 400);
    let t0 = trace.iter().map(|p| p.0).max().unwrap();
    trace.extend(malformed_frames().into_iter().enumerate().map(|(i, (_, port, f))| (t0 + 1 + i as u64, port, f)));
    let gen = generated_trace();
    let mut first: Option<Vec<Vec<u8>>> = None;
    for mode in modes {
        let so = build_mode(builds.path(), "firewall", mode);
        let mut files = Vec::new();
        for (tr, settings, expiry, cap) in [(&trace, vec!["expiry=50000"], 50_000, 65536), (&gen, GEN_SETTINGS.to_vec(), 50_000_000, 3000)] {
            let mut settings = settings;
            if mode == "none" {
                settings.push("--allow-unprotected");
            }
            let (dir, stdout, outs) = run(&so, &settings, tr);
            assert!(stdout.contains(&format!(" {mode} ")), "{stdout}");
            check(&mut Model::new(expiry, cap), tr, &stdout.replace(&format!("firewall-{mode}"), "firewall"), &outs);
            for p in 0..2 {
                files.push(std::fs::read(dir.path().join(format!("out{p}.pcap"))).unwrap());
            }
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
    let so = example("firewall");
    for (arg, needle) in [("capacity=0", "capacity"), ("expiry=0", "expiry"), ("capacity=99999999", "capacity"), ("nonsense=1", "nonsense")] {
        let out = run_in(dir.path(), &["run", so.to_str().unwrap(), arg, "--pcap", "in.pcap"]);
        assert!(!out.status.success(), "{arg} accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{arg}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = run_in(dir.path(), &["run", so.to_str().unwrap(), "--ports", "1", "--pcap", "in.pcap"]);
    fails(&out, 1, &["needs two ports"]);
}
