//! Traces shaped for the example NFs (`nfcc traffic --profile`): many flows, each seen again
//! (repeated flows), optional expiry waves, tables overfilled, keys chosen to share one hash
//! chain, load-balancer heartbeats, nested route sets.
//!
//! Invariants:
//! - The trace is a pure function of the [`ProfileSpec`] (the parent module's PRNG only).
//! - Packets are evenly spaced, `1e9 / rate_pps` ns apart (at least 1 ns). With an expiry gap
//!   the trace is two *waves* of the same flows; the second starts `expire_gap_ns` after the
//!   last packet of the first, and each wave spans less than the gap, so an NF whose expiry is
//!   the gap forgets everything between the waves and nothing within one.
//! - In every wave each flow's first packet comes before any repeat (LB heartbeats aside): in
//!   flow order in the first wave, in reverse order in the second (so flows a full table refused
//!   first get in after the expiry). Repeats pick flows uniformly. Every frame is an IPv4 TCP
//!   or UDP frame with correct checksums, TTL 64.
//! - Per profile: `nat` and `firewall`: internal flows on port 0, replies on port 1 (the NAT's
//!   only in the first wave, to [`NAT_EXTERNAL_IP`] and port [`NAT_PORT_BASE`] + k for the
//!   k-th flow the table admits); `lb`: client flows to [`LB_VIP`] on port 0, heartbeats on
//!   port 1 (all of [`LB_BACKENDS`], then [`LB_BACKENDS_WAVE2`] of them); `bridge`: stations
//!   alternately behind ports 0 and 1, each first broadcasting, then sending to random other
//!   stations; `router`: flows on port 0 to every level of a nested route set.
//! - [`nfcc_hash`] is bit-for-bit `runtime-lib/ds/hash.c`; [`map_chain`] is `nfcc_map_chain`.
//!   Keys are the NFs' host-order structs as laid out on x86-64 (little-endian).

use super::{checksum16, eth, l4_checksum, mac_of, GeneratedPacket, Rng};
use crate::pcap::PcapWriter;
use std::collections::HashSet;
use std::fmt;
use std::io::{self, Write};

/// The NF a trace is shaped for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `nf-examples/nat`: internal flows on port 0, replies on port 1.
    Nat,
    /// `nf-examples/bridge`: stations on ports 0 and 1.
    Bridge,
    /// `nf-examples/lb`: client flows on port 0, heartbeats on port 1.
    Lb,
    /// `nf-examples/router`: flows to a nested route set, on port 0.
    Router,
    /// `nf-examples/firewall`: outbound flows on port 0, inbound on port 1.
    Firewall,
}

impl Profile {
    /// Parses `nat`, `bridge`, `lb`, `router` or `firewall`.
    pub fn parse(s: &str) -> Option<Profile> {
        Some(match s {
            "nat" => Profile::Nat,
            "bridge" => Profile::Bridge,
            "lb" => Profile::Lb,
            "router" => Profile::Router,
            "firewall" => Profile::Firewall,
            _ => return None,
        })
    }

    /// The name `parse` takes.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Nat => "nat",
            Profile::Bridge => "bridge",
            Profile::Lb => "lb",
            Profile::Router => "router",
            Profile::Firewall => "firewall",
        }
    }

    /// Whether the trace has packets for port 1 too (every profile but the router's).
    pub fn two_ports(self) -> bool {
        self != Profile::Router
    }
}

/// What trace to generate for an NF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSpec {
    /// The NF.
    pub profile: Profile,
    /// Packets in all, both ports.
    pub packets: u64,
    /// Flows (bridge: stations; router: distinct 5-tuples).
    pub flows: u32,
    /// PRNG seed; equal specs give identical traces.
    pub seed: u64,
    /// Packets per second (evenly spaced); must be at least 1.
    pub rate_pps: u64,
    /// Timestamp of the first packet.
    pub start_ns: u64,
    /// The NF's table capacity: named in the settings, and the map size collisions target.
    pub capacity: Option<u32>,
    /// Every flow's key lands in one chain of a map of `capacity` entries.
    pub collide: bool,
    /// Quiet time between two waves of the same flows.
    pub expire_gap_ns: Option<u64>,
}

/// A generated trace: frames per input port, and the NF settings it is shaped for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileTrace {
    /// Frames arriving on port 0, in time order.
    pub port0: Vec<GeneratedPacket>,
    /// Frames arriving on port 1, in time order (none for the router).
    pub port1: Vec<GeneratedPacket>,
    /// `KEY=VALUE` settings for `nfcc run` that match the trace (the router's `routes=`).
    pub settings: Vec<String>,
}

/// Why a [`ProfileSpec`] cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// An option the profile has no use for, e.g. `--expire-gap` for the router.
    NotApplicable {
        /// The profile asked for.
        profile: Profile,
        /// The option, as spelled on the command line.
        option: &'static str,
    },
    /// `--collide` without `--capacity`.
    CollideNeedsCapacity,
    /// `--capacity 0`.
    ZeroCapacity,
    /// `--collide` searches keys; chains above this make the search too slow.
    CollideCapacityTooLarge {
        /// The capacity asked for.
        capacity: u32,
        /// The largest allowed.
        max: u32,
    },
    /// More flows than the profile can address.
    TooManyFlows {
        /// The profile asked for.
        profile: Profile,
        /// The flows asked for.
        flows: u32,
        /// The largest allowed.
        max: u32,
    },
    /// Fewer flows than the profile needs (the bridge: two stations).
    TooFewFlows {
        /// The profile asked for.
        profile: Profile,
        /// The least allowed.
        min: u32,
    },
    /// A capacity the NF cannot have (the NAT: more ports than there are above `port_base`).
    CapacityTooLarge {
        /// The profile asked for.
        profile: Profile,
        /// The capacity asked for.
        capacity: u32,
        /// The largest allowed.
        max: u32,
    },
    /// Each wave needs every flow's first packet and at least as many repeats.
    TooFewPackets {
        /// The packets asked for.
        packets: u64,
        /// The least allowed.
        min: u64,
    },
    /// A wave lasts at least the gap, so flows would expire within it.
    GapNotLongerThanWave {
        /// The gap asked for.
        gap_ns: u64,
        /// How long a wave lasts.
        wave_ns: u64,
    },
    /// `--collide` would draw about flows x chains keys, more than [`COLLIDE_BUDGET`].
    CollideTooCostly {
        /// The flows asked for.
        flows: u32,
        /// Chains of the map.
        chains: u32,
    },
    /// A rate of 0 or over 1e9 packets per second.
    RateTooHigh {
        /// The rate asked for.
        rate_pps: u64,
    },
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileError::NotApplicable { profile, option } => {
                write!(f, "{option} does not apply to --profile {}", profile.name())
            }
            ProfileError::CollideNeedsCapacity => write!(f, "--collide needs --capacity (the table whose chains collide)"),
            ProfileError::ZeroCapacity => write!(f, "--capacity must be at least 1"),
            ProfileError::CollideCapacityTooLarge { capacity, max } => {
                write!(f, "--collide supports --capacity up to {max}, not {capacity}")
            }
            ProfileError::TooManyFlows { profile, flows, max } => {
                write!(f, "--profile {} supports at most {max} flows, not {flows}", profile.name())
            }
            ProfileError::TooFewFlows { profile, min } => {
                write!(f, "--profile {} needs at least {min} flows", profile.name())
            }
            ProfileError::CapacityTooLarge { profile, capacity, max } => {
                write!(f, "--capacity {capacity} is over {max}, the most --profile {} supports", profile.name())
            }
            ProfileError::TooFewPackets { packets, min } => write!(
                f,
                "--packets {packets} is too few: at least {min} are needed (per wave, every flow twice, and heartbeats)"
            ),
            ProfileError::GapNotLongerThanWave { gap_ns, wave_ns } => write!(
                f,
                "--expire-gap {gap_ns} ns must be longer than a wave ({wave_ns} ns at this --rate and --packets)"
            ),
            ProfileError::CollideTooCostly { flows, chains } => write!(
                f,
                "--collide with {flows} flows in a map of {chains} chains would try about {} keys, more than {COLLIDE_BUDGET}: \
                 lower --flows or --capacity",
                *flows as u64 * *chains as u64
            ),
            ProfileError::RateTooHigh { rate_pps } => {
                write!(f, "--rate {rate_pps} must be 1 to 1000000000 (profiles space packets by whole nanoseconds)")
            }
        }
    }
}

impl std::error::Error for ProfileError {}

fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// `nfcc_hash(key, len, seed)` of `runtime-lib/ds/hash.c`.
pub fn nfcc_hash(key: &[u8], seed: u32) -> u32 {
    let len = key.len();
    let mut h = seed ^ (len as u32).wrapping_mul(0x9e37_79b9);
    let mut i = 0;
    while len - i >= 4 {
        let w = u32::from_le_bytes([key[i], key[i + 1], key[i + 2], key[i + 3]]);
        h = (h ^ mix32(w)).wrapping_mul(0x9e37_79b1);
        h = h.rotate_left(13);
        i += 4;
    }
    if len > i {
        let mut w = if len - i > 1 { u16::from_le_bytes([key[i], key[i + 1]]) as u32 } else { key[i] as u32 };
        if len - i > 2 {
            w |= (key[i + 2] as u32) << 16;
        }
        h = (h ^ mix32(w)).wrapping_mul(0x9e37_79b1);
    }
    mix32(h)
}

/// Chains of an `nfcc_map` of `capacity` entries: the least power of two at least `capacity`.
pub fn map_chains(capacity: u32) -> u32 {
    capacity.max(1).next_power_of_two()
}

/// The chain `key` lands in, in an `nfcc_map` of `capacity` entries (`nfcc_map_chain`).
pub fn map_chain(key: &[u8], capacity: u32) -> u32 {
    nfcc_hash(key, 0) & (map_chains(capacity) - 1)
}

/// A TCP or UDP flow as it leaves its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// 6 (TCP) or 17 (UDP).
    pub proto: u8,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

impl Tuple {
    /// The 16-byte flow key of the NAT (`int_key`), firewall and LB (`flow_key`): source,
    /// destination, source port, destination port, protocol, three zero bytes, host order.
    pub fn key(&self) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[0..4].copy_from_slice(&u32::from_be_bytes(self.src).to_le_bytes());
        k[4..8].copy_from_slice(&u32::from_be_bytes(self.dst).to_le_bytes());
        k[8..10].copy_from_slice(&self.sport.to_le_bytes());
        k[10..12].copy_from_slice(&self.dport.to_le_bytes());
        k[12] = self.proto;
        k
    }
}

/// The NAT's defaults, which the profile's replies are addressed to (and names in its settings).
pub const NAT_EXTERNAL_IP: [u8; 4] = [192, 0, 2, 1];
/// The NAT's default `port_base`: flow `k` of the first wave is given port `NAT_PORT_BASE + k`.
pub const NAT_PORT_BASE: u16 = 1024;
/// The LB profile's backends, its VIP and the LB's default heartbeat port.
pub const LB_BACKENDS: [[u8; 4]; 4] = [[10, 200, 0, 1], [10, 200, 0, 2], [10, 200, 0, 3], [10, 200, 0, 4]];
/// The address clients send to.
pub const LB_VIP: [u8; 4] = [203, 0, 113, 10];
/// Heartbeats' UDP source and destination port.
pub const LB_HEARTBEAT_PORT: u16 = 7777;
/// In the second wave only this many of [`LB_BACKENDS`] (the first ones) send heartbeats.
pub const LB_BACKENDS_WAVE2: usize = 2;
/// Heartbeats: a round from every live backend at the start of each wave and every this many packets.
pub const LB_HEARTBEAT_EVERY: u64 = 256;
/// Keys `--collide` may draw (each lands in the wanted chain with probability 1/chains).
pub const COLLIDE_BUDGET: u64 = 1 << 30;
/// Route groups the router profile makes at most (each: a /16, a /24 in it, a /28 in that).
pub const ROUTER_MAX_GROUPS: u32 = 64;

/// An IPv4 TCP (ACK) or UDP frame with correct checksums, 60 bytes or more.
fn l4_frame(rng: &mut Rng, t: &Tuple, src_mac: [u8; 6], dst_mac: [u8; 6]) -> Vec<u8> {
    let l4_hdr = if t.proto == 6 { 20 } else { 8 };
    let payload = rng.range(0, 32) as usize;
    let ip_len = 20 + l4_hdr + payload;
    let mut b = vec![0u8; (14 + ip_len).max(60)];
    rng.fill(&mut b[34 + l4_hdr..14 + ip_len]);
    eth(&mut b, dst_mac, src_mac, 0x0800);
    let ip = &mut b[14..14 + ip_len];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&(rng.next_u64() as u16).to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = t.proto;
    ip[12..16].copy_from_slice(&t.src);
    ip[16..20].copy_from_slice(&t.dst);
    let c = checksum16(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let l4 = &mut ip[20..];
    l4[0..2].copy_from_slice(&t.sport.to_be_bytes());
    l4[2..4].copy_from_slice(&t.dport.to_be_bytes());
    if t.proto == 6 {
        l4[4..12].copy_from_slice(&rng.next_u64().to_be_bytes());
        l4[12] = 5 << 4;
        l4[13] = if payload > 0 { 0x18 } else { 0x10 };
        l4[14..16].copy_from_slice(&502u16.to_be_bytes());
        let c = l4_checksum(&t.src, &t.dst, 6, l4);
        l4[16..18].copy_from_slice(&c.to_be_bytes());
    } else {
        super::udp(l4, t.sport, t.dport, &t.src, &t.dst);
    }
    b
}

/// A random address in `base/plen`, not the network or broadcast address (`base` itself for a /32).
fn host_in(rng: &mut Rng, base: [u8; 4], plen: u32) -> [u8; 4] {
    if plen == 32 {
        return base;
    }
    (u32::from_be_bytes(base) | rng.range(1, (1u64 << (32 - plen)) - 2) as u32).to_be_bytes()
}

/// Draws `n` distinct values with `draw`; with `chain` set only those whose `key` lands in
/// chain `chain.1` of a map of `chain.0` entries.
fn distinct<T: Eq + std::hash::Hash + Clone, K: AsRef<[u8]>>(
    rng: &mut Rng,
    n: usize,
    chain: Option<(u32, u32)>,
    mut draw: impl FnMut(&mut Rng) -> T,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut seen = HashSet::new();
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let x = draw(rng);
        if chain.is_some_and(|(cap, c)| map_chain(key(&x).as_ref(), cap) != c) {
            continue;
        }
        if seen.insert(x.clone()) {
            v.push(x);
        }
    }
    v
}

fn tuple(rng: &mut Rng, src: ([u8; 4], u32), dst: ([u8; 4], u32), dports: &[u16]) -> Tuple {
    Tuple {
        proto: if rng.below(10) < 7 { 6 } else { 17 },
        src: host_in(rng, src.0, src.1),
        dst: host_in(rng, dst.0, dst.1),
        sport: rng.range(1024, 65535) as u16,
        dport: dports[rng.below(dports.len() as u64) as usize],
    }
}

fn fmt_ip(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

/// What one packet of a wave is.
enum Event {
    /// A packet of flow `k` from its sender (port 0; the bridge: the station's port).
    Out(usize),
    /// A packet of flow `k` back towards its sender, on port 1.
    Reply(usize),
    /// A heartbeat from LB backend `b`, on port 1.
    Heartbeat(usize),
    /// Bridge: station `s` to station `d`.
    Station(usize, usize),
}

/// Generates the trace `spec` describes.
pub fn generate(spec: &ProfileSpec) -> Result<ProfileTrace, ProfileError> {
    let p = spec.profile;
    let na = |option| Err(ProfileError::NotApplicable { profile: p, option });
    if p == Profile::Router {
        if spec.capacity.is_some() {
            return na("--capacity");
        }
        if spec.collide {
            return na("--collide");
        }
        if spec.expire_gap_ns.is_some() {
            return na("--expire-gap");
        }
    }
    if spec.collide && spec.capacity.is_none() {
        return Err(ProfileError::CollideNeedsCapacity);
    }
    if spec.capacity == Some(0) {
        return Err(ProfileError::ZeroCapacity);
    }
    const COLLIDE_MAX: u32 = 1 << 16;
    match spec.capacity {
        Some(c) if spec.collide && c > COLLIDE_MAX => {
            return Err(ProfileError::CollideCapacityTooLarge { capacity: c, max: COLLIDE_MAX })
        }
        _ => {}
    }
    let flows = spec.flows.max(1);
    let max_flows = match p {
        // Replies go to port_base + k: every admitted flow needs a port of its own.
        Profile::Nat if spec.capacity.is_none() => 65536 - NAT_PORT_BASE as u32,
        Profile::Bridge => 1 << 24,
        _ => 1 << 22,
    };
    if flows > max_flows {
        return Err(ProfileError::TooManyFlows { profile: p, flows, max: max_flows });
    }
    if p == Profile::Bridge && flows < 2 {
        return Err(ProfileError::TooFewFlows { profile: p, min: 2 });
    }
    let nat_max = 65536 - NAT_PORT_BASE as u32;
    match spec.capacity {
        Some(c) if p == Profile::Nat && c > nat_max => {
            return Err(ProfileError::CapacityTooLarge { profile: p, capacity: c, max: nat_max })
        }
        _ => {}
    }
    if let Some(c) = spec.capacity.filter(|_| spec.collide) {
        let chains = map_chains(c);
        if flows as u64 * chains as u64 > COLLIDE_BUDGET {
            return Err(ProfileError::CollideTooCostly { flows, chains });
        }
    }
    if spec.rate_pps == 0 || spec.rate_pps > 1_000_000_000 {
        return Err(ProfileError::RateTooHigh { rate_pps: spec.rate_pps });
    }
    let gap = 1_000_000_000 / spec.rate_pps;
    let waves: u64 = if spec.expire_gap_ns.is_some() { 2 } else { 1 };
    let per_wave_min = 2 * flows as u64 + if p == Profile::Lb { 2 * LB_BACKENDS.len() as u64 + 16 } else { 0 };
    let min = per_wave_min.saturating_mul(waves);
    if spec.packets < min {
        return Err(ProfileError::TooFewPackets { packets: spec.packets, min });
    }
    let wave_len = [spec.packets / waves, spec.packets - spec.packets / waves * (waves - 1)];
    if let Some(g) = spec.expire_gap_ns {
        let wave_ns = (wave_len[1] - 1).saturating_mul(gap);
        if g <= wave_ns {
            return Err(ProfileError::GapNotLongerThanWave { gap_ns: g, wave_ns });
        }
    }

    let mut rng = Rng(spec.seed ^ 0x7072_6f66_696c_6573);
    let chain = spec.capacity.filter(|_| spec.collide).map(|c| {
        let target = rng.below(map_chains(c) as u64) as u32;
        (c, target)
    });
    let n = flows as usize;
    let mut settings = Vec::new();
    let mut tuples = Vec::new();
    let mut macs: Vec<[u8; 6]> = Vec::new();
    let dports = [80, 443, 443, 22, 53, 123, 8080];
    match p {
        Profile::Nat | Profile::Firewall => {
            tuples = distinct(&mut rng, n, chain, |r| tuple(r, ([10, 0, 0, 0], 16), ([198, 51, 100, 0], 24), &dports), Tuple::key);
        }
        Profile::Lb => {
            tuples = distinct(&mut rng, n, chain, |r| tuple(r, ([100, 64, 0, 0], 10), (LB_VIP, 32), &[80, 443]), Tuple::key);
        }
        Profile::Bridge => {
            let station = |r: &mut Rng| {
                let mut m = [0u8; 6];
                r.fill(&mut m);
                m[0] = 0x02; // locally administered unicast
                m
            };
            macs = distinct(&mut rng, n, chain, station, |m| *m);
        }
        Profile::Router => {}
    }
    let mut routes = Vec::new();
    if p == Profile::Router {
        let groups = (flows / 16).clamp(1, ROUTER_MAX_GROUPS);
        // Ports alternate with each level of nesting, so only the longest prefix gives the right one.
        routes.push("10.0.0.0/8:1".to_string());
        for g in 1..=groups {
            routes.push(format!("10.{g}.0.0/16:0"));
            routes.push(format!("10.{g}.7.0/24:1"));
            routes.push(format!("10.{g}.7.16/28:0"));
        }
        routes.push("0.0.0.0/0:0".to_string());
        settings.push(format!("routes={}", routes.join(",")));
        let draw = |r: &mut Rng| {
            let g = r.range(1, groups as u64) as u8;
            let dst = match r.below(5) {
                0 => host_in(r, [198, 18, 0, 0], 15),                    // default route
                1 => [10, r.range(100, 250) as u8, r.below(256) as u8, r.range(1, 254) as u8], // the /8
                2 => [10, g, [0, 1, 8, 200][r.below(4) as usize], r.range(1, 254) as u8],   // a /16
                3 => [10, g, 7, [1, 2, 40, 200][r.below(4) as usize]],                     // a /24
                _ => [10, g, 7, r.range(16, 31) as u8],                                     // a /28
            };
            let mut t = tuple(r, ([192, 168, 0, 0], 16), ([0; 4], 32), &dports);
            t.dst = dst;
            t
        };
        tuples = distinct(&mut rng, n, None, draw, Tuple::key);
    }
    if let Some(c) = spec.capacity {
        match p {
            Profile::Nat => settings.push(format!("capacity={c}")),
            Profile::Lb => settings.push(format!("flow_capacity={c}")),
            Profile::Bridge | Profile::Firewall => settings.push(format!("capacity={c}")),
            Profile::Router => {}
        }
    }
    if p == Profile::Nat {
        settings.insert(0, format!("external_ip={}", fmt_ip(NAT_EXTERNAL_IP)));
        settings.insert(1, format!("port_base={NAT_PORT_BASE}"));
    }
    if let Some(g) = spec.expire_gap_ns {
        match p {
            Profile::Lb => {
                settings.push(format!("flow_expiry={g}"));
                settings.push(format!("backend_expiry={g}"));
            }
            _ => settings.push(format!("expiry={g}")),
        }
    }
    // NAT replies: the flows the NAT admits in the first wave get ports in order of first packet.
    let nat_admitted = spec.capacity.map_or(n, |c| n.min(c as usize));

    let mut trace = ProfileTrace { port0: Vec::new(), port1: Vec::new(), settings };
    let mut time = spec.start_ns;
    for (w, &len) in wave_len.iter().enumerate().take(waves as usize) {
        if w == 1 {
            time = time.saturating_add(spec.expire_gap_ns.unwrap_or(0) - gap);
        }
        let backends = if w == 0 { LB_BACKENDS.len() } else { LB_BACKENDS_WAVE2 };
        let mut first = 0;
        for j in 0..len {
            let ev = if p == Profile::Lb && j % LB_HEARTBEAT_EVERY < backends as u64 {
                Event::Heartbeat((j % LB_HEARTBEAT_EVERY) as usize)
            } else if first < n {
                // The second wave introduces flows in reverse, so the flows a full table
                // refused in the first wave come first.
                let k = if w == 0 { first } else { n - 1 - first };
                first += 1;
                match p {
                    Profile::Bridge => Event::Station(k, usize::MAX),
                    _ => Event::Out(k),
                }
            } else {
                let k = rng.below(n as u64) as usize;
                let reply = rng.below(2) == 0;
                match p {
                    Profile::Bridge => {
                        let d = (k + 1 + rng.below(n as u64 - 1) as usize) % n;
                        Event::Station(k, d)
                    }
                    Profile::Firewall if reply => Event::Reply(k),
                    Profile::Nat if reply && w == 0 && k < nat_admitted => Event::Reply(k),
                    _ => Event::Out(k),
                }
            };
            let (port, data) = match ev {
                Event::Out(k) => {
                    let t = &tuples[k];
                    (0, l4_frame(&mut rng, t, mac_of(t.src), mac_of(t.dst)))
                }
                Event::Reply(k) => {
                    let t = &tuples[k];
                    let r = match p {
                        Profile::Nat => Tuple {
                            proto: t.proto,
                            src: t.dst,
                            dst: NAT_EXTERNAL_IP,
                            sport: t.dport,
                            dport: NAT_PORT_BASE + k as u16,
                        },
                        _ => Tuple { proto: t.proto, src: t.dst, dst: t.src, sport: t.dport, dport: t.sport },
                    };
                    (1, l4_frame(&mut rng, &r, mac_of(r.src), mac_of(r.dst)))
                }
                Event::Heartbeat(b) => {
                    let t = Tuple { proto: 17, src: LB_BACKENDS[b], dst: LB_VIP, sport: LB_HEARTBEAT_PORT, dport: LB_HEARTBEAT_PORT };
                    (1, l4_frame(&mut rng, &t, mac_of(t.src), mac_of(t.dst)))
                }
                Event::Station(s, d) => {
                    let ip = |i: usize| (0x0a01_0000u32.wrapping_add(i as u32 + 1)).to_be_bytes();
                    let (dst_mac, dst_ip) = if d == usize::MAX { ([0xff; 6], [10, 1, 255, 255]) } else { (macs[d], ip(d)) };
                    let t = Tuple { proto: 17, src: ip(s), dst: dst_ip, sport: 5000, dport: 5000 };
                    ((s % 2) as u16, l4_frame(&mut rng, &t, macs[s], dst_mac))
                }
            };
            let pkt = GeneratedPacket { time_ns: time, data };
            if port == 0 { trace.port0.push(pkt) } else { trace.port1.push(pkt) }
            time = time.saturating_add(gap);
        }
    }
    Ok(trace)
}

/// Writes `packets` as a classic pcap; returns how many.
pub fn write_packets(packets: &[GeneratedPacket], w: impl Write) -> io::Result<u64> {
    let mut out = PcapWriter::new(io::BufWriter::new(w))?;
    for p in packets {
        out.write(p.time_ns, p.data.len() as u32, &p.data)?;
    }
    out.finish()?;
    Ok(packets.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Our `nfcc_hash` against the C one: a tiny program compiled with clang-19 against
    /// `runtime-lib/c/nfcc_hash.c` (the runtime's, which `nfcc_hash` calls) prints the hash
    /// of every test key.
    #[test]
    fn hash_matches_the_c_library() {
        let ds = concat!(env!("CARGO_MANIFEST_DIR"), "/ds");
        let include = concat!(env!("CARGO_MANIFEST_DIR"), "/include");
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.c");
        let exe = dir.path().join("hash");
        // Keys: lengths 0 to 17 of the bytes 0x11 * (i + 1) (every tail case), then the 6-byte
        // MAC and 16-byte flow keys the NFs hash; seeds 0 and the LB's flow seed.
        std::fs::write(
            &main,
            r#"#include <stdio.h>
#include <stdint.h>
#include "nfcc_ds.h"
int main(void) {
	uint8_t k[17];
	for (int i = 0; i < 17; i++) k[i] = (uint8_t)(0x11 * (i + 1));
	uint32_t seeds[2] = { 0, 0x666c6f77u };
	for (int s = 0; s < 2; s++)
		for (uint32_t len = 0; len <= 17; len++)
			printf("%u\n", nfcc_hash(k, len, seeds[s]));
	uint8_t mac[6] = { 0x02, 0x5e, 0xc0, 0xa8, 0x01, 0x07 };
	printf("%u\n", nfcc_hash(mac, 6, 0));
	struct { uint32_t a, b; uint16_t c, d; uint8_t p, pad[3]; } key = { 0x0a000001u, 0xc6336401u, 40000, 443, 6, { 0 } };
	printf("%u\n", nfcc_hash(&key, 16, 0));
	return 0;
}
"#,
        )
        .unwrap();
        let out = Command::new("clang-19")
            .args(["-O2", "-I", ds, "-I", include])
            .arg(&main)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/c/nfcc_hash.c"))
            .arg("-o")
            .arg(&exe)
            .output()
            .expect("clang-19 runs");
        assert!(out.status.success(), "clang-19 failed: {}", String::from_utf8_lossy(&out.stderr));
        let run = Command::new(&exe).output().unwrap();
        assert!(run.status.success());
        let c: Vec<u32> = String::from_utf8(run.stdout).unwrap().lines().map(|l| l.parse().unwrap()).collect();
        let k: Vec<u8> = (0..17).map(|i| (0x11 * (i + 1)) as u8).collect();
        let mut ours = Vec::new();
        for seed in [0, 0x666c_6f77] {
            for len in 0..=17 {
                ours.push(nfcc_hash(&k[..len], seed));
            }
        }
        ours.push(nfcc_hash(&[0x02, 0x5e, 0xc0, 0xa8, 0x01, 0x07], 0));
        let t = Tuple { proto: 6, src: [10, 0, 0, 1], dst: [198, 51, 100, 1], sport: 40000, dport: 443 };
        ours.push(nfcc_hash(&t.key(), 0));
        assert_eq!(ours, c);
        assert_eq!(ours.iter().collect::<HashSet<_>>().len(), ours.len(), "distinct keys, distinct hashes");
    }

    #[test]
    fn chains_are_powers_of_two_at_least_the_capacity() {
        assert_eq!([1, 2, 3, 4, 5, 1000, 1024, 1025].map(map_chains), [1, 2, 4, 4, 8, 1024, 1024, 2048]);
        assert_eq!(map_chain(b"anything", 1), 0);
    }

    fn spec(profile: Profile) -> ProfileSpec {
        ProfileSpec {
            profile,
            packets: 2_000,
            flows: 100,
            seed: 3,
            rate_pps: 1_000_000,
            start_ns: 1_000,
            capacity: None,
            collide: false,
            expire_gap_ns: None,
        }
    }

    #[test]
    fn collisions_share_one_chain_and_waves_are_separated_by_the_gap() {
        let s = ProfileSpec { capacity: Some(64), collide: true, expire_gap_ns: Some(10_000_000), ..spec(Profile::Firewall) };
        let t = generate(&s).unwrap();
        assert_eq!(t.port0.len() + t.port1.len(), 2_000);
        assert_eq!(t.settings, ["capacity=64", "expiry=10000000"]);
        let keys: HashSet<[u8; 16]> = t
            .port0
            .iter()
            .map(|p| {
                let f = &p.data[14..];
                let tu = Tuple {
                    proto: f[9],
                    src: f[12..16].try_into().unwrap(),
                    dst: f[16..20].try_into().unwrap(),
                    sport: u16::from_be_bytes([f[20], f[21]]),
                    dport: u16::from_be_bytes([f[22], f[23]]),
                };
                tu.key()
            })
            .collect();
        assert_eq!(keys.len(), 100);
        assert_eq!(keys.iter().map(|k| map_chain(k, 64)).collect::<HashSet<_>>().len(), 1);
        let mut all: Vec<u64> = t.port0.iter().chain(&t.port1).map(|p| p.time_ns).collect();
        all.sort_unstable();
        let gaps: Vec<u64> = all.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps.iter().filter(|&&g| g == 10_000_000).count(), 1);
        assert!(gaps.iter().all(|&g| g == 1_000 || g == 10_000_000));
        assert_eq!(generate(&s).unwrap(), t, "deterministic");
    }

    #[test]
    fn bad_specs_are_refused() {
        let e = |s: ProfileSpec| generate(&s).unwrap_err().to_string();
        assert!(e(ProfileSpec { collide: true, ..spec(Profile::Nat) }).contains("--collide needs --capacity"));
        assert!(e(ProfileSpec { capacity: Some(3), ..spec(Profile::Router) }).contains("does not apply"));
        assert!(e(ProfileSpec { packets: 150, ..spec(Profile::Nat) }).contains("at least 200"));
        assert!(e(ProfileSpec { expire_gap_ns: Some(500_000), ..spec(Profile::Nat) }).contains("longer than a wave"));
        assert!(e(ProfileSpec { flows: 1, ..spec(Profile::Bridge) }).contains("at least 2"));
        assert!(e(ProfileSpec { capacity: Some(0), ..spec(Profile::Lb) }).contains("at least 1"));
        let costly = ProfileSpec { flows: 20_000, packets: 40_000, capacity: Some(65_536), collide: true, ..spec(Profile::Firewall) };
        assert!(e(costly).contains("would try about 1310720000 keys"));
        assert!(e(ProfileSpec { rate_pps: 0, ..spec(Profile::Nat) }).contains("must be 1 to 1000000000"));
    }
}
