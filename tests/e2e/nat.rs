//! nat: internal hosts (port 0) talk to external hosts (port 1) through the NAT's external
//! address. Every packet leaving every port is checked, in order and byte for byte, against
//! a model of the NAT written here: which packets are dropped (malformed, not TCP/UDP,
//! fragments, unknown external flows, full table), which external port a new flow gets (the
//! documented allocation order: most recently freed first, then never-used ports in
//! increasing order), reverse translation of replies, idle expiry exactly at the documented
//! boundary, and that every translated packet equals the input with the new address and
//! port and both checksums recomputed from scratch (and each output checksum is verified on
//! its own). Hand-written scenarios spell the expected ports and classes out literally, so
//! the model itself is checked too. Traces in both directions are built from a model as
//! they are written: a reply goes to the external port the NAT gave its flow.

use crate::support::*;
use nfcc_runtime::pcap::PacketRecord;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Class {
    Malformed,
    NotIpv4,
    NotTcpUdp,
    Fragment,
    BadPort,
    /// Internal packet of a new flow: a port was allocated.
    IntNew,
    /// Internal packet of a new flow while the table is full: dropped.
    IntFull,
    IntKnown,
    ExtKnown,
    /// External packet matching no live flow: dropped.
    ExtUnknown,
}

/// A flow as the internal host sees it: (internal ip, internal port, remote ip, remote port, proto).
type IntKey = (u32, u16, u32, u16, u8);
/// The same flow from outside: (remote ip, remote port, external ip, external port, proto).
type ExtKey = (u32, u16, u32, u16, u8);

#[derive(Clone, Debug)]
struct Settings {
    external_ip: u32,
    port_base: u16,
    capacity: u32,
    expiry: u64,
}

impl Settings {
    fn new(port_base: u16, capacity: u32, expiry: u64) -> Settings {
        Settings { external_ip: addr(203, 0, 113, 7), port_base, capacity, expiry }
    }
    fn args(&self) -> Vec<String> {
        let ip = self.external_ip.to_be_bytes();
        vec![
            format!("external_ip={}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]),
            format!("port_base={}", self.port_base),
            format!("capacity={}", self.capacity),
            format!("expiry={}", self.expiry),
        ]
    }
}

struct Flow {
    int: IntKey,
    ext: ExtKey,
    /// Last packet, either direction.
    time: u64,
    /// Position in the order of last use.
    seq: u64,
}

struct Model {
    s: Settings,
    by_int: HashMap<IntKey, u32>,
    by_ext: HashMap<ExtKey, u32>,
    /// Live flows by index (external port - port_base).
    flows: HashMap<u32, Flow>,
    /// Live flows, least recently used first: seq -> index.
    lru: BTreeMap<u64, u32>,
    seq: u64,
    /// Freed indices, the most recently freed last.
    freed: Vec<u32>,
    /// Indices fresh.. have never been used.
    fresh: u32,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Where the IPv4 datagram of `frame` is valid: (header length, protocol), or the class of a
/// frame that is not (checked in the NAT's order, up to the input port).
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

/// The L4 checksum of the datagram in `f` computed from scratch (its own field counted as
/// zero), as the sender would put it (UDP: a computed 0 is sent as 0xffff).
fn l4_checksum(f: &[u8], hlen: usize, proto: u8) -> u16 {
    let total = usize::from(be16(&f[16..]));
    let at = 14 + hlen + if proto == 6 { 16 } else { 6 };
    let mut pseudo = Vec::with_capacity(12 + total);
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&((total - hlen) as u16).to_be_bytes());
    pseudo.extend_from_slice(&f[14 + hlen..at]);
    pseudo.extend_from_slice(&[0, 0]);
    pseudo.extend_from_slice(&f[at + 2..14 + total]);
    let c = !ones_sum(&pseudo);
    if proto == 17 && c == 0 {
        0xffff
    } else {
        c
    }
}

/// Sets the IPv4 header checksum and, for TCP and UDP (unless the UDP checksum is 0, "none"),
/// the L4 checksum, from scratch.
fn fix_checksums(f: &mut [u8]) {
    let Ok((hlen, proto)) = parse(f) else { return };
    f[24] = 0;
    f[25] = 0;
    let c = !ones_sum(&f[14..14 + hlen]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    if proto != 6 && proto != 17 {
        return;
    }
    let total = usize::from(be16(&f[16..]));
    if total - hlen < if proto == 6 { 20 } else { 8 } {
        return; // no whole L4 header: no L4 checksum to fix
    }
    let at = 14 + hlen + if proto == 6 { 16 } else { 6 };
    if proto == 17 && f[at..at + 2] == [0, 0] {
        return;
    }
    let c = l4_checksum(f, hlen, proto);
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Whether both checksums of a well-formed TCP/UDP datagram are right (UDP 0: none).
fn checksums_verify(f: &[u8]) -> bool {
    let (hlen, proto) = parse(f).expect("well-formed");
    let at = 14 + hlen + if proto == 6 { 16 } else { 6 };
    ones_sum(&f[14..14 + hlen]) == 0xffff
        && ((proto == 17 && f[at..at + 2] == [0, 0]) || be16(&f[at..]) == l4_checksum(f, hlen, proto))
}

/// `f` with the address at `addr_at` and the port at `port_at` (frame offsets) replaced, and
/// its checksums recomputed from scratch.
fn translated(f: &[u8], addr_at: usize, ip: u32, port_at: usize, port: u16) -> Vec<u8> {
    assert!(checksums_verify(f), "test bug: the model translates only packets with right checksums");
    let mut o = f.to_vec();
    o[addr_at..addr_at + 4].copy_from_slice(&ip.to_be_bytes());
    o[port_at..port_at + 2].copy_from_slice(&port.to_be_bytes());
    fix_checksums(&mut o);
    o
}

/// The model's verdict on one packet.
struct Verdict {
    class: Class,
    /// Output port and frame.
    out: Option<(u16, Vec<u8>)>,
}

impl Model {
    fn new(s: Settings) -> Model {
        Model {
            s,
            by_int: HashMap::new(),
            by_ext: HashMap::new(),
            flows: HashMap::new(),
            lru: BTreeMap::new(),
            seq: 0,
            freed: Vec::new(),
            fresh: 0,
        }
    }

    fn dropped(class: Class) -> Verdict {
        Verdict { class, out: None }
    }

    fn touch(&mut self, i: u32, now: u64) {
        let f = self.flows.get_mut(&i).unwrap();
        self.lru.remove(&f.seq);
        self.seq += 1;
        f.seq = self.seq;
        f.time = now;
        self.lru.insert(self.seq, i);
    }

    /// Forgets every flow idle for `expiry` or more at `now`, least recently used first.
    fn expire(&mut self, now: u64) {
        while let Some((&seq, &i)) = self.lru.first_key_value() {
            if now - self.flows[&i].time < self.s.expiry {
                break;
            }
            self.lru.remove(&seq);
            let f = self.flows.remove(&i).unwrap();
            self.by_int.remove(&f.int);
            self.by_ext.remove(&f.ext);
            self.freed.push(i);
        }
    }

    /// The external port of the live flow `k`, if any.
    fn port_of(&self, k: &IntKey) -> Option<u16> {
        self.by_int.get(k).map(|i| self.s.port_base + *i as u16)
    }

    fn process(&mut self, now: u64, port: u16, frame: &[u8]) -> Verdict {
        let (hlen, proto) = match parse(frame) {
            Ok(x) => x,
            Err(c) => return Model::dropped(c),
        };
        if port > 1 {
            return Model::dropped(Class::BadPort);
        }
        if proto != 6 && proto != 17 {
            return Model::dropped(Class::NotTcpUdp);
        }
        if be16(&frame[20..]) & 0x3fff != 0 {
            return Model::dropped(Class::Fragment);
        }
        let total = usize::from(be16(&frame[16..]));
        if total - hlen < if proto == 6 { 20 } else { 8 } {
            return Model::dropped(Class::Malformed);
        }
        let l4 = 14 + hlen;
        let (src, dst, sp, dp) = (be32(&frame[26..]), be32(&frame[30..]), be16(&frame[l4..]), be16(&frame[l4 + 2..]));
        self.expire(now);
        if port == 1 {
            let Some(&i) = self.by_ext.get(&(src, sp, dst, dp, proto)) else {
                return Model::dropped(Class::ExtUnknown);
            };
            self.touch(i, now);
            let (ip, p, ..) = self.flows[&i].int;
            return Verdict { class: Class::ExtKnown, out: Some((0, translated(frame, 30, ip, l4 + 2, p))) };
        }
        let k: IntKey = (src, sp, dst, dp, proto);
        let class = match self.by_int.get(&k) {
            Some(&i) => {
                self.touch(i, now);
                Class::IntKnown
            }
            None => {
                let i = if let Some(i) = self.freed.pop() {
                    i
                } else if self.fresh < self.s.capacity {
                    self.fresh += 1;
                    self.fresh - 1
                } else {
                    return Model::dropped(Class::IntFull);
                };
                let ext: ExtKey = (dst, dp, self.s.external_ip, self.s.port_base + i as u16, proto);
                self.by_int.insert(k, i);
                self.by_ext.insert(ext, i);
                self.flows.insert(i, Flow { int: k, ext, time: now, seq: 0 });
                self.seq += 1;
                self.flows.get_mut(&i).unwrap().seq = self.seq;
                self.lru.insert(self.seq, i);
                Class::IntNew
            }
        };
        let p = self.port_of(&k).unwrap();
        Verdict { class, out: Some((1, translated(frame, 26, self.s.external_ip, l4, p))) }
    }
}

// ---------------------------------------------------------------------------------------
// Crafting packets and traces.

fn addr(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

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
    ip[6] = 0x40; // don't fragment
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

/// The internal flow of a well-formed TCP/UDP frame sent from inside.
fn int_key(f: &[u8]) -> Option<IntKey> {
    let (hlen, proto) = parse(f).ok()?;
    if proto != 6 && proto != 17 || f.len() < 14 + hlen + 4 {
        return None;
    }
    let l4 = 14 + hlen;
    Some((be32(&f[26..]), be16(&f[l4..]), be32(&f[30..]), be16(&f[l4 + 2..]), proto))
}

/// The remote host's reply to `f` (sent from inside), addressed to `ip`:`port`: addresses
/// and ports swapped, then the destination set, checksums recomputed. Frames that are not
/// TCP/UDP are swapped where they can be and sent as they are.
fn reply(f: &[u8], ip: u32, port: u16) -> Vec<u8> {
    let mut r = f.to_vec();
    let Ok((hlen, proto)) = parse(f) else { return r };
    r[26..30].copy_from_slice(&f[30..34]);
    r[30..34].copy_from_slice(&ip.to_be_bytes());
    let l4 = 14 + hlen;
    if (proto == 6 || proto == 17) && f.len() >= l4 + 4 {
        r[l4..l4 + 2].copy_from_slice(&f[l4 + 2..l4 + 4]);
        r[l4 + 2..l4 + 4].copy_from_slice(&port.to_be_bytes());
    }
    fix_checksums(&mut r);
    r
}

/// A packet of a trace: arrival time, input port, frame. Traces are in strictly increasing
/// time order, which is the order the host sends them in.
type Packet = (u64, u16, Vec<u8>);

/// Builds a two-way trace: internal packets as given, replies aimed at the external port the
/// NAT gives (or last gave) their flow, found by running a model as the trace is written.
struct TraceBuilder {
    model: Model,
    trace: Vec<Packet>,
    /// The last external port each internal flow had.
    last_port: HashMap<IntKey, u16>,
}

impl TraceBuilder {
    fn new(s: Settings) -> TraceBuilder {
        TraceBuilder { model: Model::new(s), trace: Vec::new(), last_port: HashMap::new() }
    }

    fn push(&mut self, t: u64, port: u16, f: Vec<u8>) -> Class {
        let t = t.max(self.trace.last().map_or(0, |p| p.0 + 1));
        let v = self.model.process(t, port, &f);
        if port == 0 && v.out.is_some() {
            if let Some(k) = int_key(&f) {
                self.last_port.insert(k, self.model.port_of(&k).unwrap());
            }
        }
        self.trace.push((t, port, f));
        v.class
    }

    /// The external port a reply to `f` should go to: the flow's live port, else the last
    /// it had, else `fallback`.
    fn port_for(&self, f: &[u8], fallback: u16) -> u16 {
        match int_key(f) {
            Some(k) => self.model.port_of(&k).or_else(|| self.last_port.get(&k).copied()).unwrap_or(fallback),
            None => fallback,
        }
    }
}

/// Conversations between 4 internal and 4 external hosts (128 TCP/UDP flows): internal packets, replies (some to
/// the wrong port, address or protocol, some to flows that expired), unsolicited external
/// packets, ICMP and other protocols, over a time span several expiry windows long.
fn random_trace(s: &Settings, seed: u64, n: usize, step: u64) -> Vec<Packet> {
    let mut rng = Rng(seed);
    let mut b = TraceBuilder::new(s.clone());
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut t = 1_000u64;
    for _ in 0..n {
        t += rng.below(step);
        let inside = addr(10, 0, 0, 1 + rng.below(4) as u8);
        let outside = addr(198, 51, 100, 1 + rng.below(4) as u8);
        let proto = [6, 6, 17, 17, 1, 47][rng.below(6) as usize];
        let sport = 40000 + rng.below(2) as u16;
        let dport = [53, 443][rng.below(2) as usize];
        let payload = rng.below(80) as usize;
        match rng.below(10) {
            0..=3 => {
                let f = frame(proto, inside, outside, sport, dport, 0, payload, &mut rng);
                sent.push(f.clone());
                b.push(t, 0, f);
            }
            4..=7 if !sent.is_empty() => {
                let k = sent.len() - 1 - rng.below(sent.len().min(30) as u64) as usize;
                let port = b.port_for(&sent[k], s.port_base);
                let mut r = reply(&sent[k], s.external_ip, port);
                match rng.below(10) {
                    0 => r[37] ^= 1,    // another external port
                    1 => r[29] ^= 0x80, // another remote host
                    2 => r[33] ^= 1,    // another external address
                    3 => r[35] ^= 1,    // another remote port
                    4 => r[23] = if r[23] == 6 { 17 } else { 6 },
                    _ => {}
                }
                fix_checksums(&mut r);
                b.push(t, 1, r);
            }
            _ => {
                let port = s.port_base + rng.below(u64::from(s.capacity)) as u16;
                b.push(t, 1, frame(proto, outside, s.external_ip, dport, port, 0, payload, &mut rng));
            }
        }
    }
    b.trace
}

// ---------------------------------------------------------------------------------------
// Running the NAT and comparing.

/// Writes one capture per input port, runs `so` with `settings` on `ports` ports, returns the
/// directory, stdout and what left each port.
fn run(so: &Path, settings: &[String], trace: &[Packet], ports: u16) -> (tempfile::TempDir, String, Vec<Vec<PacketRecord>>) {
    let dir = tempdir();
    let mut args: Vec<String> = vec!["run".into(), so.to_str().unwrap().into()];
    args.extend(settings.iter().cloned());
    args.extend(["--ports".into(), ports.to_string()]);
    for p in 0..ports {
        let frames: Vec<(u64, Vec<u8>)> = trace.iter().filter(|x| x.1 == p).map(|x| (x.0, x.2.clone())).collect();
        write_pcap(&dir.path().join(format!("in{p}.pcap")), &frames);
        args.extend(["--pcap".into(), format!("{p}=in{p}.pcap")]);
    }
    for p in 0..ports {
        args.extend(["--out".into(), format!("{p}=out{p}.pcap")]);
    }
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let stdout = ok(&run_in(dir.path(), &argv));
    let outs = (0..ports).map(|p| read_pcap(&dir.path().join(format!("out{p}.pcap")))).collect();
    (dir, stdout, outs)
}

/// Checks every output packet of every port against a fresh model, in order and byte for
/// byte, every output's checksums on their own, and the module's row of counters (the row
/// whose name is `row`); returns the class of every packet.
#[track_caller]
fn check(s: &Settings, trace: &[Packet], stdout: &str, outs: &[Vec<PacketRecord>], row: &str) -> Vec<Class> {
    assert!(trace.windows(2).all(|w| w[0].0 < w[1].0), "test bug: trace times must increase");
    let mut model = Model::new(s.clone());
    let mut want: Vec<Vec<(u64, Vec<u8>)>> = vec![Vec::new(); outs.len()];
    let mut classes = Vec::new();
    for (t, port, f) in trace {
        let v = model.process(*t, *port, f);
        classes.push(v.class);
        if let Some((o, frame)) = v.out {
            want[usize::from(o)].push((*t, frame));
        }
    }
    for (port, (got, want)) in outs.iter().zip(&want).enumerate() {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.time_ns, w.0, "port {port}, packet {i}: not the packet the model sends here");
            assert_eq!(g.data, w.1, "port {port}, packet {i} (time {}): bytes differ", w.0);
            assert!(checksums_verify(&g.data), "port {port}, packet {i}: checksums do not verify");
        }
        assert_eq!(got.len(), want.len(), "port {port}: {} packets out, the model sends {}", got.len(), want.len());
    }
    let passed: usize = want.iter().map(|w| w.len()).sum();
    let cols: Vec<&str> = stdout.lines().find(|l| l.split_whitespace().next() == Some(row)).expect("module row").split_whitespace().collect();
    assert_eq!(cols[2..6], [trace.len().to_string(), passed.to_string(), (trace.len() - passed).to_string(), "0".into()], "{stdout}");
    assert_eq!(cols[6], "no", "{stdout}");
    classes
}

fn count(classes: &[Class], c: Class) -> usize {
    classes.iter().filter(|x| **x == c).count()
}

/// `nfcc build --no-contract` of the NAT with `--protect mode` into `dir`.
fn build_mode(dir: &Path, mode: &str) -> PathBuf {
    let src = root().join("nf-examples/nat/nat.c");
    let out = dir.join(format!("nat-{mode}.so"));
    ok(&nfcc().args(["build", "--no-contract"]).arg(&src).arg("-o").arg(&out).args(["--protect", mode]).output().unwrap());
    out
}

/// (source ip, source port, destination ip, destination port) of a translated TCP/UDP frame
/// without IP options.
fn endpoints(f: &[u8]) -> (u32, u16, u32, u16) {
    (be32(&f[26..]), be16(&f[34..]), be32(&f[30..]), be16(&f[36..]))
}

// ---------------------------------------------------------------------------------------
// Tests.

#[test]
fn translates_both_ways_and_matches_replies_exactly() {
    let s = Settings::new(5000, 16, 1_000_000);
    let ext = s.external_ip;
    let mut rng = Rng(1);
    let (h1, h2) = (addr(10, 0, 0, 1), addr(10, 0, 0, 2));
    let (r1, r2, r9) = (addr(198, 51, 100, 1), addr(198, 51, 100, 2), addr(198, 51, 100, 9));
    let tcp = frame(6, h1, r1, 40000, 443, 0, 30, &mut rng);
    let udp = frame(17, h2, r2, 5353, 53, 0, 11, &mut rng);
    let tcp_other = frame(6, h1, r9, 40000, 443, 0, 3, &mut rng);
    let trace: Vec<Packet> = vec![
        (10, 0, tcp.clone()),                   // new: port 5000
        (11, 0, udp.clone()),                   // new: port 5001
        (12, 1, reply(&tcp, ext, 5000)),        // reply: to h1:40000
        (13, 1, reply(&udp, ext, 5001)),        // reply: to h2:5353
        (14, 1, reply(&tcp, ext, 5001)),        // the UDP flow's port, but TCP from r1: unknown
        (15, 1, reply(&tcp, addr(203, 0, 113, 8), 5000)), // another address: unknown
        (16, 1, frame(6, r1, ext, 444, 5000, 0, 0, &mut rng)), // another remote port: unknown
        (17, 1, frame(6, r9, ext, 443, 5000, 0, 0, &mut rng)), // another remote host: unknown
        (18, 0, tcp.clone()),                   // known: port 5000 again
        (19, 0, tcp_other.clone()),             // same internal endpoint, other remote: new, 5002
        (20, 1, reply(&tcp_other, ext, 5002)),  // its reply
        (21, 1, reply(&tcp_other, ext, 5000)),  // r9 to h1's first flow's port: unknown
    ];
    let (_dir, stdout, outs) = run(&example("nat"), &s.args(), &trace, 2);
    let classes = check(&s, &trace, &stdout, &outs, "nat");
    use Class::*;
    assert_eq!(classes, [IntNew, IntNew, ExtKnown, ExtKnown, ExtUnknown, ExtUnknown, ExtUnknown, ExtUnknown, IntKnown, IntNew, ExtKnown, ExtUnknown]);
    let out1: Vec<_> = outs[1].iter().map(|r| endpoints(&r.data)).collect();
    assert_eq!(out1, [(ext, 5000, r1, 443), (ext, 5001, r2, 53), (ext, 5000, r1, 443), (ext, 5002, r9, 443)]);
    let out0: Vec<_> = outs[0].iter().map(|r| endpoints(&r.data)).collect();
    assert_eq!(out0, [(r1, 443, h1, 40000), (r2, 53, h2, 5353), (r9, 443, h1, 40000)]);
    // Everything but the address, port and checksums is the packet that came in.
    let same = |a: &[u8], b: &[u8]| {
        let mask = |f: &[u8]| {
            let mut f = f.to_vec();
            f[24..38].fill(0); // IPv4 checksum, addresses, ports
            f[50..52].fill(0); // TCP checksum
            f
        };
        mask(a) == mask(b)
    };
    assert!(same(&outs[1][0].data, &tcp) && same(&outs[1][3].data, &tcp_other));
}

/// A time long after every other (the latest a pcap's 32-bit seconds can hold is 2^32 s).
const LATE: u64 = 4_000_000_000_000_000_000;

#[test]
fn ports_are_allocated_in_order_and_reused_after_expiry_exactly_at_the_boundary() {
    // port_base 100, 3 flows, expiry 1000: a flow last seen at t is live at t + 999 and gone
    // at t + 1000. Freed ports are reused most recently freed first.
    let s = Settings::new(100, 3, 1000);
    let ext = s.external_ip;
    let mut rng = Rng(2);
    // Flow i: 10.0.0.i:100i to 198.51.100.i:53, so no two flows share a remote host.
    let f: Vec<Vec<u8>> = (1..=7).map(|i| frame(17, addr(10, 0, 0, i), addr(198, 51, 100, i), 1000 + u16::from(i), 53, 0, 4, &mut rng)).collect();
    let trace: Vec<Packet> = vec![
        (100, 0, f[0].clone()),              // A: 100
        (200, 0, f[1].clone()),              // B: 101
        (300, 0, f[2].clone()),              // C: 102 (full)
        (400, 0, f[3].clone()),              // D: full, dropped
        (1099, 1, reply(&f[0], ext, 100)),   // A at 100 + 999: live, refreshed
        (1199, 1, reply(&f[1], ext, 101)),   // B at 200 + 999: live, refreshed
        (1299, 0, f[3].clone()),             // C gone at 300 + 999? no: 999 < 1000, still full
        (1300, 0, f[3].clone()),             // C gone at 300 + 1000: D takes 102
        (1301, 1, reply(&f[2], ext, 102)),   // C's reply: gone (102 is D's, other flow)
        (1302, 1, reply(&f[3], ext, 102)),   // D's reply
        // At 2199 A (1099) and B (1199) have expired, A first: B's 101 is reused first.
        (2199, 0, f[4].clone()),             // E: 101
        (2200, 0, f[5].clone()),             // F: 100
        (2201, 0, f[6].clone()),             // G: full (D 1302, E, F)
        (2202, 1, reply(&f[0], ext, 100)),   // A's old port is F's: unknown for A's reply
        (2203, 1, reply(&f[5], ext, 100)),   // F's reply
        (2302, 1, reply(&f[3], ext, 102)),   // D at 1302 + 1000: gone
        (2303, 0, f[6].clone()),             // G: 102
        (LATE, 1, reply(&f[6], ext, 102)),     // long after: gone
        (LATE + 1, 0, f[0].clone()),          // everything expired (G freed last): A gets 102
    ];
    let (_dir, stdout, outs) = run(&example("nat"), &s.args(), &trace, 2);
    let classes = check(&s, &trace, &stdout, &outs, "nat");
    use Class::*;
    assert_eq!(
        classes,
        [IntNew, IntNew, IntNew, IntFull, ExtKnown, ExtKnown, IntFull, IntNew, ExtUnknown, ExtKnown, IntNew, IntNew, IntFull, ExtUnknown, ExtKnown, ExtUnknown, IntNew, ExtUnknown, IntNew]
    );
    let ports: Vec<u16> = outs[1].iter().map(|r| endpoints(&r.data).1).collect();
    assert_eq!(ports, [100, 101, 102, 102, 101, 100, 102, 102]);
    let times: Vec<u64> = outs[0].iter().map(|r| r.time_ns).collect();
    assert_eq!(times, [1099, 1199, 1302, 2203]);
}

#[test]
fn a_full_table_drops_new_internal_flows_only() {
    let s = Settings::new(60000, 2, 100);
    let ext = s.external_ip;
    let mut rng = Rng(3);
    let host = |i: u8| addr(10, 0, 0, i);
    let srv = |i: u8| addr(203, 0, 113, i);
    let f: Vec<Vec<u8>> = (1..=4).map(|i| frame(6, host(i), srv(i), 2000 + u16::from(i), 80, 0, 9, &mut rng)).collect();
    let trace: Vec<Packet> = vec![
        (10, 0, f[0].clone()),
        (11, 0, f[1].clone()), // full
        (12, 0, f[2].clone()), // dropped
        (13, 0, f[2].clone()), // again
        (14, 1, reply(&f[2], ext, 60001)), // a reply to a flow that never got a port: its port is f[1]'s
        (15, 1, reply(&f[0], ext, 60000)), // live flows keep working both ways
        (16, 0, f[1].clone()),
        (17, 0, frame(1, host(9), srv(9), 0, 0, 0, 8, &mut rng)), // ICMP: dropped, takes nothing
        (115, 0, f[2].clone()), // f[0] (15) expired at 115: room
        (116, 0, f[3].clone()), // f[1] (16) expired at 116: room
        (117, 1, reply(&f[2], ext, 60000)),
        (118, 1, reply(&f[3], ext, 60001)),
        (119, 0, f[0].clone()), // full again
    ];
    let (_dir, stdout, outs) = run(&example("nat"), &s.args(), &trace, 2);
    let classes = check(&s, &trace, &stdout, &outs, "nat");
    use Class::*;
    assert_eq!(classes, [IntNew, IntNew, IntFull, IntFull, ExtUnknown, ExtKnown, IntKnown, NotTcpUdp, IntNew, IntNew, ExtKnown, ExtKnown, IntFull]);
    let ports: Vec<u16> = outs[1].iter().map(|r| endpoints(&r.data).1).collect();
    assert_eq!(ports, [60000, 60001, 60001, 60000, 60001]);
}

#[test]
fn random_conversations_match_the_model() {
    let s = Settings::new(20000, 24, 50_000);
    let trace = random_trace(&s, 4, 8000, 400);
    let (_dir, stdout, outs) = run(&example("nat"), &s.args(), &trace, 2);
    let classes = check(&s, &trace, &stdout, &outs, "nat");
    let mut hist: BTreeMap<Class, usize> = BTreeMap::new();
    for c in &classes {
        *hist.entry(*c).or_default() += 1;
    }
    eprintln!("{hist:?}");
    for c in [Class::IntNew, Class::IntKnown, Class::IntFull, Class::ExtKnown, Class::ExtUnknown, Class::NotTcpUdp] {
        assert!(count(&classes, c) > 100, "{c:?}: {}", count(&classes, c));
    }
}

#[test]
fn checksum_edge_cases_match_a_full_recomputation() {
    // Translated checksums aimed at 0 (TCP: 0x0000 stays; UDP: sent as 0xffff; the IPv4
    // header: 0), UDP checksum 0 ("none") kept in both directions, IP options, odd lengths.
    let s = Settings::new(30000, 1000, 1 << 40);
    let ext = s.external_ip;
    let mut rng = Rng(5);
    let mut b = TraceBuilder::new(s.clone());
    let mut t = 10;
    let (mut zero_l4, mut zero_ip, mut none) = (0, 0, 0);
    for i in 0..400u64 {
        let proto = if i % 2 == 0 { 6 } else { 17 };
        let opts = [0, 4, 40][rng.below(3) as usize];
        let src = addr(10, 1, (i >> 8) as u8, i as u8);
        let mut f = frame(proto, src, rng.next() as u32, rng.next() as u16, rng.next() as u16, opts, 2 + rng.below(31) as usize, &mut rng);
        let hl = 14 + 20 + opts;
        let at = hl + if proto == 6 { 16 } else { 6 };
        // This packet opens a new flow: it gets the next never-used port.
        let port = s.port_base + i as u16;
        let out = |f: &[u8]| translated(f, 26, ext, hl, port);
        match i % 6 {
            0..=2 => {
                // Choose the first two payload bytes so the translated L4 sum is all ones.
                let pay = hl + if proto == 6 { 20 } else { 8 };
                f[pay] = 0;
                f[pay + 1] = 0;
                fix_checksums(&mut f);
                let mut o = out(&f);
                o[at] = 0;
                o[at + 1] = 0;
                let total = usize::from(be16(&o[16..]));
                let mut pseudo = o[26..34].to_vec();
                pseudo.extend_from_slice(&[0, proto]);
                pseudo.extend_from_slice(&((total - 20 - opts) as u16).to_be_bytes());
                pseudo.extend_from_slice(&o[hl..14 + total]);
                let w = 0xffff - ones_sum(&pseudo);
                f[pay..pay + 2].copy_from_slice(&w.to_be_bytes());
                fix_checksums(&mut f);
                assert_eq!(be16(&out(&f)[at..]), if proto == 6 { 0 } else { 0xffff }, "test bug");
                zero_l4 += 1;
            }
            3 if proto == 17 => {
                f[at] = 0;
                f[at + 1] = 0;
                none += 1;
            }
            _ => {
                // Choose the identification so the translated header checksum is 0.
                let mut o = out(&f);
                o[18] = 0;
                o[19] = 0;
                o[24] = 0;
                o[25] = 0;
                let id = 0xffff - ones_sum(&o[14..14 + 20 + opts]);
                f[18..20].copy_from_slice(&id.to_be_bytes());
                fix_checksums(&mut f);
                assert_eq!(be16(&out(&f)[24..]), 0, "test bug");
                zero_ip += 1;
            }
        }
        assert_eq!(b.push(t, 0, f.clone()), Class::IntNew);
        // The reply, with the same edge: UDP none stays none on the way in.
        let mut r = reply(&f, ext, port);
        if proto == 17 && f[at..at + 2] == [0, 0] {
            r[at] = 0;
            r[at + 1] = 0;
        }
        assert_eq!(b.push(t + 1, 1, r), Class::ExtKnown);
        t += 10;
    }
    assert!(zero_l4 > 100 && zero_ip > 50 && none > 20);
    let trace = b.trace;
    let (_dir, stdout, outs) = run(&example("nat"), &s.args(), &trace, 2);
    check(&s, &trace, &stdout, &outs, "nat");
    let udp_none = |o: &[PacketRecord]| o.iter().filter(|r| r.data[23] == 17 && be16(&r.data[14 + usize::from(r.data[14] & 15) * 4 + 6..]) == 0).count();
    assert_eq!(udp_none(&outs[1]), none);
    assert_eq!(udp_none(&outs[0]), none);
    let zero_hdr = outs[1].iter().filter(|r| r.data[24..26] == [0, 0]).count();
    assert!(zero_hdr >= zero_ip, "{zero_hdr} < {zero_ip}");
}

/// Frames the NAT must drop with their class and input port, and well-formed ones at the
/// boundaries (translated).
fn malformed_frames(s: &Settings) -> Vec<(Class, u16, Vec<u8>)> {
    let mut rng = Rng(6);
    let (a, b) = (addr(10, 0, 0, 1), addr(192, 0, 2, 1));
    let mut v: Vec<(Class, u16, Vec<u8>)> = Vec::new();
    let tcp = |rng: &mut Rng| frame(6, a, b, 1234, 80, 0, 6, rng);
    for port in [0u16, 1] {
        for n in [0, 1, 12, 13] {
            v.push((Class::Malformed, port, vec![0x08; n]));
        }
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        v.push((Class::Malformed, port, f)); // IPv4 EtherType, no header
        for n in [15, 20, 33] {
            v.push((Class::Malformed, port, tcp(&mut rng)[..n].to_vec()));
        }
        for ver_ihl in [0x65, 0x05, 0x00, 0x40, 0x44, 0x4f] {
            let mut f = tcp(&mut rng);
            f[14] = ver_ihl;
            v.push((Class::Malformed, port, f));
        }
        for total in [19u16, 0, 67, 0xffff] {
            let mut f = tcp(&mut rng); // 14 + 20 + 20 + 6 = 60 bytes: total length 46
            f[16..18].copy_from_slice(&total.to_be_bytes());
            v.push((Class::Malformed, port, f));
        }
        // L4 header cut short by the total length.
        for (proto, l4) in [(6u8, 19u16), (17, 7), (6, 0), (17, 0)] {
            let mut f = frame(proto, a, b, 1, 2, 0, 0, &mut rng);
            f[16..18].copy_from_slice(&(20 + l4).to_be_bytes());
            v.push((Class::Malformed, port, f));
        }
        let mut f = frame(6, a, b, 1, 2, 40, 0, &mut rng); // 60-byte header + 20 TCP
        f[16..18].copy_from_slice(&79u16.to_be_bytes());
        v.push((Class::Malformed, port, f[..14 + 79].to_vec()));
        // Fragments, first ones included: dropped.
        for flags in [0x0001u16, 0x2001, 0x1fff, 0x2000, 0x6000] {
            let mut f = frame(17, a, b, 7, 8, 0, 4, &mut rng);
            f[20..22].copy_from_slice(&flags.to_be_bytes());
            v.push((Class::Fragment, port, f));
        }
        for et in [[0x08, 0x06], [0x86, 0xdd], [0x81, 0x00]] {
            let mut f = tcp(&mut rng);
            f[12..14].copy_from_slice(&et);
            v.push((Class::NotIpv4, port, f));
        }
        for proto in [1u8, 47, 0, 255] {
            v.push((Class::NotTcpUdp, port, frame(proto, a, b, 0, 0, 0, 12, &mut rng)));
        }
    }
    // Arrived on a port other than 0 and 1.
    v.push((Class::BadPort, 2, tcp(&mut rng)));
    // Boundaries that are fine: exactly 20 TCP / 8 UDP bytes, options, padding, DF set,
    // the largest frame.
    v.push((Class::IntNew, 0, frame(6, a, b, 5, 6, 0, 0, &mut rng)));
    v.push((Class::IntNew, 0, frame(17, a, b, 5, 6, 0, 0, &mut rng)));
    v.push((Class::IntNew, 0, frame(6, a, b, 5, 7, 40, 0, &mut rng)));
    let mut f = frame(17, a, b, 5, 8, 4, 3, &mut rng);
    f.extend([0xee; 100]);
    v.push((Class::IntNew, 0, f));
    v.push((Class::IntNew, 0, frame(6, a, b, 5, 9, 0, 1460, &mut rng)));
    // External packets to unallocated ports.
    v.push((Class::ExtUnknown, 1, frame(6, b, s.external_ip, 80, (u32::from(s.port_base) + s.capacity - 1) as u16, 0, 0, &mut rng)));
    v.push((Class::ExtUnknown, 1, frame(17, b, s.external_ip, 80, 0, 0, 0, &mut rng)));
    v
}

#[test]
fn malformed_frames_are_dropped_without_harm() {
    let s = Settings::new(1024, 64512, 60_000_000_000);
    let crafted = malformed_frames(&s);
    let mut rng = Rng(7);
    let mut b = TraceBuilder::new(s.clone());
    for (i, (class, port, f)) in crafted.iter().enumerate() {
        let t = 10 * i as u64;
        assert_eq!(b.push(t + 1, *port, f.clone()), *class, "test bug: crafted frame {i}");
        // Between every two crafted frames, a good exchange: the NAT keeps working.
        let good = frame(6, addr(10, 1, 0, i as u8), addr(192, 0, 2, 9), 999, 443, 0, 20, &mut rng);
        assert_eq!(b.push(t + 5, 0, good.clone()), Class::IntNew);
        let port = b.port_for(&good, 0);
        assert_eq!(b.push(t + 6, 1, reply(&good, s.external_ip, port)), Class::ExtKnown);
    }
    let trace = b.trace;
    let (_dir, stdout, outs) = run(&example("nat"), &s.args(), &trace, 3);
    let classes = check(&s, &trace, &stdout, &outs, "nat");
    assert!(count(&classes, Class::Malformed) >= 40);
    assert_eq!(count(&classes, Class::ExtKnown), crafted.len());
    assert!(outs[2].is_empty());
}

/// Generated traffic in both directions: the 100,000 packets of a 12,000-flow trace (over
/// 10,000 of them TCP/UDP) go out as generated, and every other one is followed by the
/// remote host's reply to its flow (to the flow's live external port, the last it had, or an
/// arbitrary one if it never had one): 150,000 packets. Expiry and capacity are set so both
/// bite.
fn generated_trace(s: &Settings) -> Vec<Packet> {
    let path = traffic(&["--packets", "100000", "--flows", "12000", "--seed", "37", "--non-ip", "3"]);
    let mut b = TraceBuilder::new(s.clone());
    for (i, p) in read_pcap(&path).iter().enumerate() {
        b.push(p.time_ns, 0, p.data.clone());
        if i % 2 == 1 {
            let port = b.port_for(&p.data, s.port_base + (i % s.capacity as usize) as u16);
            b.push(p.time_ns + 1, 1, reply(&p.data, s.external_ip, port));
        }
    }
    b.trace
}

fn gen_settings() -> Settings {
    Settings::new(1024, 2000, 20_000_000)
}

#[test]
fn generated_traffic_150k_packets_10k_flows() {
    let s = gen_settings();
    let trace = generated_trace(&s);
    assert_eq!(trace.len(), 150_000);
    let (_dir, stdout, outs) = run(&example("nat"), &s.args(), &trace, 2);
    let classes = check(&s, &trace, &stdout, &outs, "nat");
    let mut hist: BTreeMap<Class, usize> = BTreeMap::new();
    for c in &classes {
        *hist.entry(*c).or_default() += 1;
    }
    eprintln!("nat on generated traffic: {hist:?}\n{stdout}");
    for c in [Class::IntNew, Class::IntKnown, Class::IntFull, Class::ExtKnown, Class::ExtUnknown, Class::NotTcpUdp, Class::NotIpv4] {
        assert!(hist.get(&c).copied().unwrap_or(0) > 500, "{c:?}: {hist:?}");
    }
    let mut flows = std::collections::HashSet::new();
    for (_, port, f) in &trace {
        if *port == 0 {
            if let Some(k) = int_key(f) {
                flows.insert(k);
            }
        }
    }
    assert!(flows.len() >= 10_000, "{} internal TCP/UDP flows", flows.len());
}

#[test]
fn identical_output_in_every_protection_mode() {
    let builds = tempdir();
    let small = Settings::new(20000, 24, 50_000);
    let mut trace = random_trace(&small, 8, 3000, 400);
    let t0 = trace.last().unwrap().0;
    trace.extend(malformed_frames(&small).into_iter().filter(|x| x.1 < 2).enumerate().map(|(i, (_, port, f))| (t0 + 1 + i as u64, port, f)));
    let gs = gen_settings();
    let gen = generated_trace(&gs);
    let mut first: Option<Vec<Vec<u8>>> = None;
    for mode in ["rw", "wonly", "none"] {
        let so = build_mode(builds.path(), mode);
        let mut files = Vec::new();
        for (tr, s) in [(&trace, &small), (&gen, &gs)] {
            let mut settings = s.args();
            if mode == "none" {
                settings.push("--allow-unprotected".into());
            }
            let (dir, stdout, outs) = run(&so, &settings, tr, 2);
            assert!(stdout.contains(&format!(" {mode} ")), "{stdout}");
            check(s, tr, &stdout, &outs, &format!("nat-{mode}"));
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
    let so = example("nat");
    for (args, needle) in [
        (&["capacity=0"][..], "capacity"),
        (&["capacity=65536"], "capacity"),
        (&["port_base=0"], "port_base"),
        (&["port_base=65536"], "port_base"),
        (&["port_base=60000", "capacity=5537"], "port_base + capacity"),
        (&["expiry=0"], "expiry"),
        (&["external_ip=1.2.3"], "external_ip"),
        (&["external_ip=1.2.3.4.5"], "external_ip"),
        (&["external_ip=1.2.3.256"], "external_ip"),
        (&["external_ip=1.2.3.0004"], "external_ip"),
        (&["external_ip=1.2..4"], "external_ip"),
        (&["external_ip="], "external_ip"),
        (&["external_ip=a.b.c.d"], "external_ip"),
        (&["external_ip= 1.2.3.4"], "external_ip"),
        (&["nonsense=1"], "nonsense"),
    ] {
        let mut argv = vec!["run", so.to_str().unwrap()];
        argv.extend(args);
        argv.extend(["--pcap", "in.pcap"]);
        let out = run_in(dir.path(), &argv);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The extremes that are fine.
    for args in [&["port_base=60000", "capacity=5536", "external_ip=255.255.255.255"][..], &["port_base=1", "capacity=65535", "external_ip=0.0.0.0"]] {
        let mut argv = vec!["run", so.to_str().unwrap()];
        argv.extend(args);
        argv.extend(["--pcap", "in.pcap"]);
        ok(&run_in(dir.path(), &argv));
    }
    let out = run_in(dir.path(), &["run", so.to_str().unwrap(), "--ports", "1", "--pcap", "in.pcap"]);
    fails(&out, 1, &["needs two ports"]);
}
