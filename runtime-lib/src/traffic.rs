//! A deterministic generator of realistic Ethernet traffic, for tests and benchmarks.
//!
//! Invariants:
//! - The output is a pure function of the [`TrafficSpec`]: the generator uses only its own PRNG
//!   and integer or basic IEEE-754 arithmetic (its own `ln`), so it is byte-identical everywhere.
//! - Frames are 60..=1514 bytes without FCS; every IPv4 header and TCP/UDP/ICMP checksum is
//!   correct; frames shorter than 60 bytes are zero-padded while IP lengths stay exact.
//! - Timestamps start at `start_ns` and never decrease.
//! - `flows` counts IPv4 flows (at least one). Flow `i` has popularity rank `i` (Zipf, s = 1).
//!   When `packets >= flows` every flow appears: each packet introduces a not-yet-seen flow with
//!   probability unseen/remaining (certainly once unseen == remaining), so first appearances are
//!   spread over the whole trace; otherwise it picks a flow by popularity.
//! - Non-IP packets (ARP requests, IPv6 UDP) are background traffic outside the flow table,
//!   drawn per packet with probability `non_ip_percent`%; they never displace a flow's first packet.

use crate::pcap::PcapWriter;
use std::collections::HashSet;
use std::io::{self, Write};

/// Traces shaped for the example NFs (`--profile`).
#[path = "traffic_profiles.rs"]
pub mod profiles;

/// What traffic to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSpec {
    /// Number of packets.
    pub packets: u64,
    /// Number of distinct IPv4 flows (0 is treated as 1).
    pub flows: u32,
    /// PRNG seed; equal specs give identical traffic.
    pub seed: u64,
    /// Mean packet rate (packets per second); 0 puts every packet at `start_ns`.
    pub rate_pps: u64,
    /// Timestamp of the first packet, in nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// Share of packets, in percent, that are ARP or IPv6 rather than IPv4.
    pub non_ip_percent: u8,
}

impl Default for TrafficSpec {
    fn default() -> Self {
        TrafficSpec {
            packets: 10_000,
            flows: 1_000,
            seed: 1,
            rate_pps: 1_000_000,
            start_ns: 1_700_000_000_000_000_000,
            non_ip_percent: 3,
        }
    }
}

/// One generated Ethernet frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedPacket {
    /// Timestamp in nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// The frame, from destination MAC to the end of the payload or padding (no FCS).
    pub data: Vec<u8>,
}

/// SplitMix64: tiny, fast, and good enough for traffic synthesis.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the multiply-shift bias is below 2^-32 for our ranges.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in (0, 1], never 0 so its logarithm is finite.
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            c.copy_from_slice(&self.next_u64().to_le_bytes()[..c.len()]);
        }
    }
}

/// Natural logarithm from basic arithmetic only, so timestamps do not depend on the platform libm.
fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    // ln m = 2 atanh t with |t| < 0.172; 14 odd terms reach double precision.
    let t = (m - 1.0) / (m + 1.0);
    let (t2, mut p, mut sum) = (t * t, t, 0.0);
    for k in 0..14 {
        sum += p / (2 * k + 1) as f64;
        p *= t2;
    }
    2.0 * sum + e as f64 * std::f64::consts::LN_2
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Tcp = 6,
    Udp = 17,
    Icmp = 1,
}

struct Flow {
    proto: Proto,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    /// Source port, or the ICMP echo identifier.
    sport: u16,
    dport: u16,
    /// TCP sequence number, or the ICMP echo sequence number.
    seq: u32,
    ack: u32,
    ip_id: u16,
}

/// Locally administered (bit 1) unicast (bit 0 clear) MAC derived from the host's address, so
/// a host keeps one MAC across flows.
fn mac_of(ip: [u8; 4]) -> [u8; 6] {
    [0x02, 0x5e, ip[0], ip[1], ip[2], ip[3]]
}

/// Picks an address in one of `nets` (base, prefix length), never the network or broadcast address.
fn addr_in(rng: &mut Rng, nets: &[([u8; 4], u32)]) -> [u8; 4] {
    let (base, plen) = nets[rng.below(nets.len() as u64) as usize];
    let host = rng.range(1, (1u64 << (32 - plen)) - 2) as u32;
    (u32::from_be_bytes(base) | host).to_be_bytes()
}

/// Iterator over the frames described by a [`TrafficSpec`].
pub struct Generator {
    rng: Rng,
    flows: Vec<Flow>,
    /// Cumulative Zipf weights by flow index.
    cdf: Vec<f64>,
    seen: Vec<bool>,
    unseen: u64,
    next_unseen: usize,
    cover: bool,
    remaining: u64,
    time_ns: u64,
    frac_ns: f64,
    mean_gap_ns: f64,
    started: bool,
    non_ip_percent: u64,
}

impl Generator {
    /// Builds the flow table for `spec`.
    pub fn new(spec: &TrafficSpec) -> Self {
        let mut rng = Rng(spec.seed ^ 0x6e66_6363_7472_6166);
        let n = spec.flows.max(1) as usize;
        let dsts = (n / 4).max(1);
        let dst_nets = [([192, 168, 10, 0], 24), ([172, 16, 0, 0], 16), ([10, 20, 0, 0], 16), ([10, 0, 0, 0], 8)];
        let src_nets = [([192, 168, 1, 0], 24), ([100, 64, 0, 0], 16), ([198, 18, 0, 0], 15)];
        let mut taken = HashSet::new();
        let mut dst_pool = Vec::with_capacity(dsts);
        while dst_pool.len() < dsts {
            let a = addr_in(&mut rng, &dst_nets);
            if taken.insert(a) {
                dst_pool.push(a);
            }
        }
        // Every destination gets n/dsts flows (about four), in random order of popularity.
        let mut dst_of: Vec<usize> = (0..n).map(|i| i % dsts).collect();
        for i in (1..n).rev() {
            dst_of.swap(i, rng.below(i as u64 + 1) as usize);
        }
        // Protocols go to the flow whose packet share most lags its target, so both the flow mix
        // and the (popularity-weighted) packet mix stay near 60/30/10.
        let (targets, protos) = ([0.6, 0.3, 0.1], [Proto::Tcp, Proto::Udp, Proto::Icmp]);
        let (mut got, mut total) = ([0.0f64; 3], 0.0);
        let mut cdf = Vec::with_capacity(n);
        let mut tuples = HashSet::new();
        let mut flows = Vec::with_capacity(n);
        for (i, &d) in dst_of.iter().enumerate() {
            let w = 1.0 / (i + 1) as f64;
            total += w;
            cdf.push(total);
            let p = (0..3).max_by(|&a, &b| (targets[a] * total - got[a]).total_cmp(&(targets[b] * total - got[b])));
            let p = p.unwrap_or(0);
            got[p] += w;
            let (proto, dst) = (protos[p], dst_pool[d]);
            let (src, sport, dport) = loop {
                let src = addr_in(&mut rng, &src_nets);
                let sport = rng.range(32768, 60999) as u16;
                let dport = match proto {
                    Proto::Tcp => [80, 443, 443, 443, 22, 8080, 25, 3306][rng.below(8) as usize],
                    Proto::Udp => [53, 53, 123, 443, 5353, 4789, 514][rng.below(7) as usize],
                    Proto::Icmp => 0,
                };
                if tuples.insert((src, dst, proto as u8, sport, dport)) {
                    break (src, sport, dport);
                }
            };
            let (seq, ack) = (rng.next_u64() as u32, rng.next_u64() as u32);
            let ip_id = rng.next_u64() as u16;
            let (src_mac, dst_mac) = (mac_of(src), mac_of(dst));
            flows.push(Flow { proto, src_mac, dst_mac, src, dst, sport, dport, seq, ack, ip_id });
        }
        let mean_gap_ns = if spec.rate_pps == 0 { 0.0 } else { 1e9 / spec.rate_pps as f64 };
        Generator {
            rng,
            flows,
            cdf,
            seen: vec![false; n],
            unseen: n as u64,
            next_unseen: 0,
            cover: spec.packets >= n as u64,
            remaining: spec.packets,
            time_ns: spec.start_ns,
            frac_ns: 0.0,
            mean_gap_ns,
            started: false,
            non_ip_percent: spec.non_ip_percent.min(100) as u64,
        }
    }

    /// Frame length: 40% minimum size, 15% maximum, the rest uniform; `true` for the minimum class.
    fn frame_len(&mut self) -> (usize, bool) {
        match self.rng.below(100) {
            0..40 => (60, true),
            40..55 => (1514, false),
            _ => (self.rng.range(60, 1514) as usize, false),
        }
    }

    fn pick_flow(&mut self) -> usize {
        let new = self.cover && self.rng.below(self.remaining) < self.unseen;
        let i = if new {
            while self.seen[self.next_unseen] {
                self.next_unseen += 1;
            }
            self.next_unseen
        } else {
            let x = self.rng.unit() * self.cdf[self.cdf.len() - 1];
            self.cdf.partition_point(|&c| c < x).min(self.cdf.len() - 1)
        };
        if !self.seen[i] {
            self.seen[i] = true;
            self.unseen -= 1;
        }
        i
    }

    fn ipv4_frame(&mut self, i: usize) -> Vec<u8> {
        let (frame_len, minimal) = self.frame_len();
        let f = &self.flows[i];
        let l4_hdr = if f.proto == Proto::Tcp { 20 } else { 8 };
        // Minimum-size frames carry pure TCP ACKs or tiny datagrams, padded like on the wire.
        let payload = match (minimal, f.proto) {
            (true, Proto::Tcp) => 0,
            (true, _) => self.rng.range(0, 46 - 20 - l4_hdr as u64) as usize,
            (false, _) => frame_len - 34 - l4_hdr,
        };
        let ip_len = 20 + l4_hdr + payload;
        let mut b = vec![0u8; (14 + ip_len).max(60)];
        self.rng.fill(&mut b[34 + l4_hdr..14 + ip_len]);
        let f = &mut self.flows[i];
        eth(&mut b, f.dst_mac, f.src_mac, 0x0800);
        let ip = &mut b[14..14 + ip_len];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&f.ip_id.to_be_bytes());
        ip[6] = if f.proto == Proto::Tcp { 0x40 } else { 0 };
        ip[8] = 64;
        ip[9] = f.proto as u8;
        ip[12..16].copy_from_slice(&f.src);
        ip[16..20].copy_from_slice(&f.dst);
        let c = checksum16(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.ip_id = f.ip_id.wrapping_add(1);
        let l4 = &mut ip[20..];
        match f.proto {
            Proto::Tcp => {
                l4[0..2].copy_from_slice(&f.sport.to_be_bytes());
                l4[2..4].copy_from_slice(&f.dport.to_be_bytes());
                l4[4..8].copy_from_slice(&f.seq.to_be_bytes());
                l4[8..12].copy_from_slice(&f.ack.to_be_bytes());
                l4[12] = 5 << 4;
                l4[13] = if payload > 0 { 0x18 } else { 0x10 }; // PSH+ACK when carrying data
                l4[14..16].copy_from_slice(&502u16.to_be_bytes());
                f.seq = f.seq.wrapping_add(payload as u32);
                f.ack = f.ack.wrapping_add(self.rng.below(1449) as u32);
                let c = l4_checksum(&f.src, &f.dst, 6, l4);
                l4[16..18].copy_from_slice(&c.to_be_bytes());
            }
            Proto::Udp => udp(l4, f.sport, f.dport, &f.src, &f.dst),
            Proto::Icmp => {
                l4[0] = 8;
                l4[4..6].copy_from_slice(&f.sport.to_be_bytes());
                l4[6..8].copy_from_slice(&(f.seq as u16).to_be_bytes());
                f.seq = f.seq.wrapping_add(1);
                let c = checksum16(l4);
                l4[2..4].copy_from_slice(&c.to_be_bytes());
            }
        }
        b
    }

    /// An ARP request or an IPv6 UDP datagram between the hosts of a random flow.
    fn non_ip_frame(&mut self) -> Vec<u8> {
        let i = self.rng.below(self.flows.len() as u64) as usize;
        let f = &self.flows[i];
        let (src_mac, dst_mac, src, dst) = (f.src_mac, f.dst_mac, f.src, f.dst);
        if self.rng.below(2) == 0 {
            let mut b = vec![0u8; 60];
            eth(&mut b, [0xff; 6], src_mac, 0x0806);
            b[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]); // Ethernet/IPv4, request
            b[22..28].copy_from_slice(&src_mac);
            b[28..32].copy_from_slice(&src);
            b[38..42].copy_from_slice(&dst);
            return b;
        }
        let len = self.frame_len().0.max(62);
        let mut b = vec![0u8; len];
        self.rng.fill(&mut b[62..]);
        eth(&mut b, dst_mac, src_mac, 0x86dd);
        let ip6 = &mut b[14..];
        ip6[0] = 0x60;
        ip6[4..6].copy_from_slice(&((len - 54) as u16).to_be_bytes());
        ip6[6] = 17;
        ip6[7] = 64;
        // Unique-local addresses embedding the IPv4 hosts' MACs.
        for (off, mac) in [(8, src_mac), (24, dst_mac)] {
            ip6[off] = 0xfd;
            ip6[off + 10..off + 16].copy_from_slice(&mac);
        }
        let (s6, d6): ([u8; 16], [u8; 16]) = (ip6[8..24].try_into().unwrap(), ip6[24..40].try_into().unwrap());
        let sport = self.rng.range(32768, 60999) as u16;
        udp(&mut ip6[40..], sport, 443, &s6, &d6);
        b
    }
}

impl Iterator for Generator {
    type Item = GeneratedPacket;

    fn next(&mut self) -> Option<GeneratedPacket> {
        if self.remaining == 0 {
            return None;
        }
        if self.started {
            // Exponential gaps (a Poisson process); the fraction is carried so high rates keep their mean.
            self.frac_ns += -ln(self.rng.unit()) * self.mean_gap_ns;
            let whole = self.frac_ns.floor();
            self.frac_ns -= whole;
            self.time_ns = self.time_ns.saturating_add(whole as u64);
        }
        self.started = true;
        let must_introduce = self.cover && self.unseen >= self.remaining;
        let data = if !must_introduce && self.rng.below(100) < self.non_ip_percent {
            self.non_ip_frame()
        } else {
            let i = self.pick_flow();
            self.ipv4_frame(i)
        };
        self.remaining -= 1;
        Some(GeneratedPacket { time_ns: self.time_ns, data })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, usize::try_from(self.remaining).ok())
    }
}

fn eth(b: &mut [u8], dst: [u8; 6], src: [u8; 6], ethertype: u16) {
    b[0..6].copy_from_slice(&dst);
    b[6..12].copy_from_slice(&src);
    b[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

/// Fills in a UDP header over `seg` (header plus payload) and its checksum.
fn udp(seg: &mut [u8], sport: u16, dport: u16, src: &[u8], dst: &[u8]) {
    seg[0..2].copy_from_slice(&sport.to_be_bytes());
    seg[2..4].copy_from_slice(&dport.to_be_bytes());
    let len = seg.len() as u16;
    seg[4..6].copy_from_slice(&len.to_be_bytes());
    // A computed zero is sent as all ones: zero means "no checksum" in UDP.
    let c = match l4_checksum(src, dst, 17, seg) {
        0 => 0xffff,
        c => c,
    };
    seg[6..8].copy_from_slice(&c.to_be_bytes());
}

/// Adds big-endian 16-bit words (odd tail padded with zero) to `acc`.
fn sum16(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u16::from_be_bytes([w[0], w[1]]) as u64;
    }
    if let [last] = words.remainder() {
        acc += (*last as u64) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// TCP/UDP checksum with the IPv4 or IPv6 pseudo-header; the checksum field must be zero.
/// One formula fits both versions: their pseudo-headers sum to the same words.
fn l4_checksum(src: &[u8], dst: &[u8], proto: u8, seg: &[u8]) -> u16 {
    let acc = sum16(sum16(0, src), dst) + proto as u64 + seg.len() as u64;
    !fold(sum16(acc, seg))
}

/// RFC 1071 Internet checksum of `data`: a header with its checksum filled in sums to 0.
pub fn checksum16(data: &[u8]) -> u16 {
    !fold(sum16(0, data))
}

/// Writes `spec`'s traffic to `w` as a classic pcap file; returns the number of packets written.
pub fn write_pcap(spec: &TrafficSpec, w: impl Write) -> io::Result<u64> {
    let mut out = PcapWriter::new(io::BufWriter::new(w))?;
    let mut n = 0;
    for p in Generator::new(spec) {
        out.write(p.time_ns, p.data.len() as u32, &p.data)?;
        n += 1;
    }
    out.finish()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn be16(b: &[u8]) -> u16 {
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Verifies a transport checksum with an explicitly built IPv4/IPv6 pseudo-header.
    fn l4_verifies(src: &[u8], dst: &[u8], proto: u8, seg: &[u8]) -> bool {
        let mut pseudo = [src, dst].concat();
        if src.len() == 4 {
            pseudo.extend_from_slice(&[0, proto]);
            pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        } else {
            pseudo.extend_from_slice(&(seg.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, proto]);
        }
        checksum16(&[&pseudo[..], seg].concat()) == 0
    }

    /// What a parsed IPv4 frame tells us: protocol, addresses, ports, TCP seq and payload length.
    #[derive(Debug, PartialEq)]
    struct V4 {
        proto: u8,
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        seq: u32,
        payload: usize,
    }

    /// Checks every invariant of an IPv4 frame and returns its summary.
    fn parse_v4(f: &[u8]) -> V4 {
        assert_eq!(be16(&f[12..]), 0x0800);
        assert!(f[0] & 1 == 0 && f[6] & 3 == 2, "MACs must be unicast, source locally administered");
        let ip = &f[14..];
        assert_eq!(ip[0], 0x45);
        let total = be16(&ip[2..]) as usize;
        assert!(f.len() == 14 + total || (f.len() == 60 && 14 + total < 60), "frame {} ip {total}", f.len());
        assert!(f[14 + total..].iter().all(|&x| x == 0), "padding must be zeros");
        let ip = &ip[..total];
        assert_eq!(checksum16(&ip[..20]), 0, "IPv4 header checksum");
        assert_eq!(ip[8], 64);
        let (src, dst) = (ip[12..16].try_into().unwrap(), ip[16..20].try_into().unwrap());
        let l4 = &ip[20..];
        let mut v = V4 { proto: ip[9], src, dst, sport: be16(l4), dport: be16(&l4[2..]), seq: 0, payload: 0 };
        match ip[9] {
            6 => {
                assert_eq!(be16(&ip[6..]), 0x4000, "TCP sets DF");
                assert_eq!(l4[12], 0x50);
                assert!(l4[13] == 0x10 || l4[13] == 0x18, "ACK or PSH|ACK");
                assert!(l4_verifies(&src, &dst, 6, l4), "TCP checksum");
                v.seq = u32::from_be_bytes(l4[4..8].try_into().unwrap());
                v.payload = l4.len() - 20;
                assert_eq!(l4[13] == 0x18, v.payload > 0);
            }
            17 => {
                assert_eq!(be16(&l4[4..]) as usize, l4.len());
                assert!(l4_verifies(&src, &dst, 17, l4), "UDP checksum");
            }
            1 => {
                assert_eq!((l4[0], l4[1]), (8, 0), "echo request");
                assert_eq!(checksum16(l4), 0, "ICMP checksum");
                v.dport = 0;
            }
            p => panic!("unexpected protocol {p}"),
        }
        v
    }

    fn generate(spec: &TrafficSpec) -> Vec<GeneratedPacket> {
        Generator::new(spec).collect()
    }

    #[test]
    fn checksum_known_vectors() {
        // RFC 1071 section 3 example, and a textbook IPv4 header whose checksum is b861.
        assert_eq!(checksum16(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
        let mut h = [0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7];
        assert_eq!(checksum16(&h), 0xb861);
        h[10..12].copy_from_slice(&[0xb8, 0x61]);
        assert_eq!(checksum16(&h), 0);
        assert_eq!(checksum16(&[0x12]), !0x1200, "odd length pads with a zero byte");
    }

    #[test]
    fn ln_matches_std() {
        for x in [1.0, 0.5, 1e-16, 0.3, 0.999_999, 0.7, 1.1e-300] {
            assert!((ln(x) - x.ln()).abs() <= 1e-14 * x.ln().abs().max(1.0), "{x}");
        }
    }

    #[test]
    fn packets_are_well_formed_and_mixed_as_specified() {
        let spec = TrafficSpec::default();
        let pkts = generate(&spec);
        assert_eq!(pkts.len(), 10_000);
        let (mut arp, mut v6, mut min, mut max) = (0, 0, 0, 0);
        let mut per_proto: HashMap<u8, usize> = HashMap::new();
        let mut per_flow: HashMap<_, usize> = HashMap::new();
        let mut next_seq: HashMap<_, u32> = HashMap::new();
        let mut dsts = HashSet::new();
        for p in &pkts {
            let f = &p.data;
            assert!((60..=1514).contains(&f.len()), "frame length {}", f.len());
            min += (f.len() == 60) as usize;
            max += (f.len() == 1514) as usize;
            match be16(&f[12..]) {
                0x0806 => {
                    arp += 1;
                    assert_eq!(f.len(), 60);
                    assert_eq!((&f[..6], &f[14..22]), (&[0xff; 6][..], &[0, 1, 8, 0, 6, 4, 0, 1][..]));
                    assert!(f[42..].iter().all(|&x| x == 0));
                }
                0x86dd => {
                    v6 += 1;
                    assert_eq!((f[14] >> 4, f[20], be16(&f[18..]) as usize), (6, 17, f.len() - 54));
                    assert!(l4_verifies(&f[22..38], &f[38..54], 17, &f[54..]), "IPv6 UDP checksum");
                }
                _ => {
                    let v = parse_v4(f);
                    *per_proto.entry(v.proto).or_default() += 1;
                    dsts.insert(v.dst);
                    let key = (v.src, v.dst, v.proto, v.sport, v.dport);
                    *per_flow.entry(key).or_default() += 1;
                    if v.proto == 6 {
                        if let Some(want) = next_seq.get(&key) {
                            assert_eq!(v.seq, *want, "TCP sequence advances by the payload");
                        }
                        next_seq.insert(key, v.seq.wrapping_add(v.payload as u32));
                    }
                }
            }
        }
        let ip = pkts.len() - arp - v6;
        let share = |n: usize, of: usize| n as f64 / of as f64;
        assert!((0.02..0.04).contains(&share(arp + v6, pkts.len())), "non-IP {arp}+{v6}");
        assert!(arp.abs_diff(v6) < 80, "ARP {arp} vs IPv6 {v6}");
        assert!((0.37..0.43).contains(&share(min, pkts.len())), "60-byte frames {min}");
        assert!((0.13..0.17).contains(&share(max, pkts.len())), "1514-byte frames {max}");
        let (tcp, udp, icmp) = (per_proto[&6], per_proto[&17], per_proto[&1]);
        assert!((0.55..0.65).contains(&share(tcp, ip)), "tcp {tcp}/{ip}");
        assert!((0.25..0.35).contains(&share(udp, ip)), "udp {udp}/{ip}");
        assert!((0.07..0.13).contains(&share(icmp, ip)), "icmp {icmp}/{ip}");
        // Every flow appears, flows split by protocol near 60/30/10, four flows per destination.
        assert_eq!(per_flow.len(), 1000);
        let flows_of = |p: u8| per_flow.keys().filter(|k| k.2 == p).count();
        assert!((580..=620).contains(&flows_of(6)) && (280..=320).contains(&flows_of(17)), "flow mix");
        assert_eq!(dsts.len(), 250);
        // Zipf popularity: the top flow is far above the mean of 10, most flows are rare.
        let mut counts: Vec<usize> = per_flow.values().copied().collect();
        counts.sort_unstable();
        assert!(counts[999] > 700, "top flow {}", counts[999]);
        assert!(counts[500] <= 5, "median flow {}", counts[500]);
    }

    #[test]
    fn timestamps_start_at_start_and_never_decrease() {
        let spec = TrafficSpec { rate_pps: 2_000_000, ..TrafficSpec::default() };
        let pkts = generate(&spec);
        assert_eq!(pkts[0].time_ns, spec.start_ns);
        assert!(pkts.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
        let mean = (pkts[9_999].time_ns - spec.start_ns) as f64 / 9_999.0;
        assert!((475.0..525.0).contains(&mean), "mean gap {mean}");
        let zeros = pkts.windows(2).filter(|w| w[0].time_ns == w[1].time_ns).count();
        assert!(zeros < 20, "{zeros} zero gaps at a 500 ns mean");
        let burst = generate(&TrafficSpec { rate_pps: 0, packets: 10, ..spec });
        assert!(burst.iter().all(|p| p.time_ns == spec.start_ns));
    }

    #[test]
    fn deterministic_and_seed_sensitive() {
        let spec = TrafficSpec { packets: 2_000, flows: 300, ..TrafficSpec::default() };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert_eq!(write_pcap(&spec, &mut a).unwrap(), 2_000);
        write_pcap(&spec, &mut b).unwrap();
        assert!(a == b, "same spec, same bytes");
        let mut c = Vec::new();
        write_pcap(&TrafficSpec { seed: 2, ..spec.clone() }, &mut c).unwrap();
        assert!(a != c, "different seed, different bytes");
        // The file reads back packet for packet.
        let mut r = crate::pcap::PcapReader::new(&a[..], "gen.pcap").unwrap();
        let mut rec = crate::pcap::PacketRecord::default();
        for p in Generator::new(&spec) {
            assert!(r.next_into(&mut rec).unwrap());
            assert_eq!((rec.time_ns, rec.orig_len as usize, &rec.data), (p.time_ns, p.data.len(), &p.data));
        }
        assert!(!r.next_into(&mut rec).unwrap());
    }

    #[test]
    fn small_and_degenerate_specs() {
        for flows in [0, 1, 3, 7] {
            let spec = TrafficSpec { packets: 50, flows, non_ip_percent: 0, ..TrafficSpec::default() };
            let pkts = generate(&spec);
            let v4: Vec<V4> = pkts.iter().map(|p| parse_v4(&p.data)).collect();
            let tuples: HashSet<_> = v4.iter().map(|v| (v.src, v.dst, v.proto, v.sport, v.dport)).collect();
            let dsts: HashSet<_> = v4.iter().map(|v| v.dst).collect();
            assert_eq!(tuples.len(), flows.max(1) as usize);
            assert_eq!(dsts.len(), (flows as usize / 4).max(1));
        }
        // Exactly as many packets as flows: each packet is a different flow, none is non-IP.
        let spec = TrafficSpec { packets: 500, flows: 500, ..TrafficSpec::default() };
        let v4: Vec<V4> = generate(&spec).iter().map(|p| parse_v4(&p.data)).collect();
        assert_eq!(v4.iter().map(|v| (v.src, v.dst, v.proto, v.sport, v.dport)).collect::<HashSet<_>>().len(), 500);
        let all_arp = generate(&TrafficSpec { packets: 100, flows: 1, non_ip_percent: 100, ..TrafficSpec::default() });
        assert_eq!(all_arp.iter().filter(|p| be16(&p.data[12..]) == 0x0800).count(), 1, "only the flow's first packet");
    }
}
