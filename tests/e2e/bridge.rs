//! bridge: hosts on several ports send frames (one capture per input port, merged by time);
//! every frame leaving every port is checked against a model of a learning bridge written
//! here (learning, flooding to every other port, filtering, station moves, expiry exactly at
//! the documented boundary, static entries, a full table). Hand-written scenarios also spell
//! out the expected ports literally, so the model itself is checked.

use crate::support::*;
use nfcc_runtime::pcap::PacketRecord;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

type Mac = [u8; 6];

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Malformed,
    BadSource,
    LinkLocal,
    Flooded,
    Filtered,
    Forwarded,
}

/// What learning did with a frame's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Learn {
    New,
    Refreshed,
    Moved,
    /// Known from an entry that had expired: learned afresh.
    Relearned,
    TableFull,
    Static,
}

struct Model {
    ports: u16,
    expiry: u64,
    capacity: usize,
    statics: HashMap<Mac, u16>,
    /// Learned entries: port and time of the last frame from the address. Entries may be
    /// stale (expired); they are then ignored, and dropped when room is needed.
    learned: HashMap<Mac, (u16, u64)>,
    learn_counts: HashMap<Learn, usize>,
}

impl Model {
    fn new(ports: u16, expiry: u64, capacity: usize, statics: &[(Mac, u16)]) -> Model {
        Model {
            ports,
            expiry,
            capacity,
            statics: statics.iter().copied().collect(),
            learned: HashMap::new(),
            learn_counts: HashMap::new(),
        }
    }

    /// Expired at `now`: last seen at t with now - t >= expiry (README: gone at t + expiry).
    fn alive(&self, last: u64, now: u64) -> bool {
        now - last < self.expiry
    }

    fn learn(&mut self, mac: Mac, port: u16, now: u64) -> Learn {
        if self.statics.contains_key(&mac) {
            return Learn::Static;
        }
        let mut stale = false;
        if let Some(&(p, last)) = self.learned.get(&mac) {
            if self.alive(last, now) {
                self.learned.insert(mac, (port, now));
                return if p == port { Learn::Refreshed } else { Learn::Moved };
            }
            stale = true;
            self.learned.remove(&mac);
        }
        if self.learned.len() >= self.capacity {
            let expiry = self.expiry;
            self.learned.retain(|_, &mut (_, last)| now - last < expiry);
        }
        if self.learned.len() >= self.capacity {
            return Learn::TableFull;
        }
        self.learned.insert(mac, (port, now));
        if stale { Learn::Relearned } else { Learn::New }
    }

    /// The ports `frame`, arriving on `port` at `now`, leaves on (in increasing order).
    fn process(&mut self, now: u64, port: u16, frame: &[u8]) -> (Class, Vec<u16>) {
        if frame.len() < 14 {
            return (Class::Malformed, vec![]);
        }
        let dst: Mac = frame[0..6].try_into().unwrap();
        let src: Mac = frame[6..12].try_into().unwrap();
        if src[0] & 1 == 1 || src == [0; 6] {
            return (Class::BadSource, vec![]);
        }
        let l = self.learn(src, port, now);
        *self.learn_counts.entry(l).or_default() += 1;
        let flood = (0..self.ports).filter(|&p| p != port).collect();
        if dst[0] & 1 == 1 {
            if dst[..5] == [0x01, 0x80, 0xc2, 0, 0] && dst[5] <= 0x0f {
                return (Class::LinkLocal, vec![]);
            }
            return (Class::Flooded, flood);
        }
        let out = match self.statics.get(&dst) {
            Some(&p) => Some(p),
            None => match self.learned.get(&dst) {
                Some(&(p, last)) if self.alive(last, now) => Some(p),
                _ => None,
            },
        };
        match out {
            None => (Class::Flooded, flood),
            Some(p) if p == port => (Class::Filtered, vec![]),
            Some(p) => (Class::Forwarded, vec![p]),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Traces and runs.

/// Arrival time, input port, frame.
type Packet = (u64, u16, Vec<u8>);

fn host(i: u32) -> Mac {
    let b = i.to_be_bytes();
    [0x02, 0x00, b[0], b[1], b[2], b[3]]
}

const BROADCAST: Mac = [0xff; 6];

/// A frame of `len` bytes (at least 14) from `src` to `dst`; the rest is `tag` then zeros.
fn frame(dst: Mac, src: Mac, len: usize, tag: u32) -> Vec<u8> {
    let mut f = vec![0u8; len.max(14)];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental EtherType
    let t = tag.to_be_bytes();
    for (i, b) in f[14..].iter_mut().enumerate() {
        *b = t[i % 4];
    }
    f
}

/// Runs `so` with `settings` on `ports` ports: one capture per input port of `trace`, one
/// output per port. Returns stdout and what left each port.
fn run(so: &Path, settings: &[&str], ports: u16, trace: &[Packet]) -> (String, Vec<Vec<PacketRecord>>) {
    let (stdout, outs, _) = run_files(so, settings, ports, trace);
    (stdout, outs)
}

/// `run`, also returning the bytes of every output file.
fn run_files(so: &Path, settings: &[&str], ports: u16, trace: &[Packet]) -> (String, Vec<Vec<PacketRecord>>, Vec<Vec<u8>>) {
    let dir = tempdir();
    let mut args: Vec<String> = vec!["run".into(), so.to_str().unwrap().into()];
    args.extend(settings.iter().map(|s| s.to_string()));
    args.extend(["--ports".into(), ports.to_string()]);
    let mut in_ports: Vec<u16> = trace.iter().map(|p| p.1).collect();
    in_ports.sort();
    in_ports.dedup();
    for p in &in_ports {
        let frames: Vec<(u64, Vec<u8>)> = trace.iter().filter(|x| x.1 == *p).map(|x| (x.0, x.2.clone())).collect();
        write_pcap(&dir.path().join(format!("in{p}.pcap")), &frames);
        args.extend(["--pcap".into(), format!("{p}=in{p}.pcap")]);
    }
    for p in 0..ports {
        args.extend(["--out".into(), format!("{p}=out{p}.pcap")]);
    }
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let stdout = ok(&run_in(dir.path(), &argv));
    let outs = (0..ports).map(|p| read_pcap(&dir.path().join(format!("out{p}.pcap")))).collect();
    let files = (0..ports).map(|p| std::fs::read(dir.path().join(format!("out{p}.pcap"))).unwrap()).collect();
    (stdout, outs, files)
}

/// The host's order: captures merged by time, ties to the capture given first (the lower
/// input port), each capture in trace order.
fn merged(trace: &[Packet]) -> Vec<Packet> {
    let mut v = trace.to_vec();
    v.sort_by_key(|p| (p.0, p.1));
    v
}

/// Feeds `trace` to `model` and compares every port's output with it, packet by packet;
/// also the module's counters row. Returns the class and output ports of every frame, in
/// the host's order.
#[track_caller]
fn check(model: &mut Model, trace: &[Packet], stdout: &str, outs: &[Vec<PacketRecord>]) -> Vec<(Class, Vec<u16>)> {
    let trace = merged(trace);
    let mut want: Vec<Vec<(u64, &[u8])>> = vec![Vec::new(); outs.len()];
    let mut verdicts = Vec::new();
    for (t, port, f) in &trace {
        let (class, ports) = model.process(*t, *port, f);
        for &p in &ports {
            want[usize::from(p)].push((*t, f));
        }
        verdicts.push((class, ports));
    }
    for (port, (got, want)) in outs.iter().zip(&want).enumerate() {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.time_ns, w.0, "port {port}, packet {i}: not the frame the model sends here");
            assert_eq!(g.data, w.1, "port {port}, packet {i} (time {}): bytes changed", w.0);
        }
        assert_eq!(got.len(), want.len(), "port {port}: {} frames out, the model sends {}", got.len(), want.len());
    }
    let sent = verdicts.iter().filter(|v| !v.1.is_empty()).count();
    let row: Vec<&str> = stdout.lines().find(|l| l.starts_with("bridge")).expect("bridge row").split_whitespace().collect();
    assert_eq!(row[2], trace.len().to_string(), "{stdout}");
    assert_eq!(row[4], (trace.len() - sent).to_string(), "dropped, {stdout}");
    assert_eq!(row[5..7], ["0", "no"], "{stdout}");
    let total: usize = want.iter().map(|w| w.len()).sum();
    assert!(stdout.contains(&format!("{} packets in, {total} out", trace.len())), "{stdout}");
    verdicts
}

fn classes(verdicts: &[(Class, Vec<u16>)]) -> HashMap<Class, usize> {
    let mut m = HashMap::new();
    for (c, _) in verdicts {
        *m.entry(*c).or_default() += 1;
    }
    m
}

/// A scripted trace: `(time, port, dst, src)`, frames of 60 bytes tagged by their index.
fn script(steps: &[(u64, u16, Mac, Mac)]) -> Vec<Packet> {
    steps.iter().enumerate().map(|(i, &(t, p, d, s))| (t, p, frame(d, s, 60, i as u32))).collect()
}

/// Checks a scripted trace against both the literal expectation (output ports per frame)
/// and the model.
#[track_caller]
fn check_script(settings: &[&str], model: &mut Model, steps: &[(u64, u16, Mac, Mac)], expect: &[&[u16]]) {
    assert_eq!(steps.len(), expect.len(), "test bug");
    let trace = script(steps);
    let (stdout, outs) = run(&example("bridge"), settings, model.ports, &trace);
    let verdicts = check(model, &trace, &stdout, &outs);
    for (i, ((_, ports), want)) in verdicts.iter().zip(expect).enumerate() {
        assert_eq!(&ports[..], *want, "frame {i} ({:?}): the model disagrees with the expectation", steps[i]);
    }
}

// ---------------------------------------------------------------------------------------
// Scripted behaviour.

#[test]
fn learns_forwards_floods_filters_and_follows_moves() {
    let (a, b, c) = (host(0xa), host(0xb), host(0xc));
    let steps = [
        (10, 0, b, a),                                // B unknown: flood
        (20, 1, a, b),                                // A learned on 0
        (30, 0, b, a),                                // B learned on 1
        (40, 0, a, c),                                // A is on C's port: filtered
        (50, 0, a, a),                                // to itself: filtered
        (60, 2, b, a),                                // A moves to port 2
        (70, 1, a, b),                                // follows the move
        (80, 1, BROADCAST, b),                        // broadcast: flood
        (90, 3, [0x01, 0x00, 0x5e, 0, 0, 1], host(0xd)), // multicast: flood
        (100, 1, [0x01, 0x80, 0xc2, 0, 0, 0], b),     // STP: never forwarded
        (110, 1, [0x01, 0x80, 0xc2, 0, 0, 0x0f], b),  // last reserved address
        (120, 1, [0x01, 0x80, 0xc2, 0, 0, 0x10], b),  // not reserved: flood
        (130, 2, [0x01, 0x80, 0xc2, 0, 0, 0x01], host(0xe)), // pause, but E is learned
        (140, 0, host(0xe), c),                       // E on 2
        (150, 3, host(0xd), c),                       // C moves to 3; D on 3: filtered
        (160, 2, c, a),                               // C on 3
    ];
    let expect: [&[u16]; 16] =
        [&[1, 2, 3], &[0], &[1], &[], &[], &[1], &[2], &[0, 2, 3], &[0, 1, 2], &[], &[], &[0, 2, 3], &[], &[2], &[], &[3]];
    let mut model = Model::new(4, 300_000_000_000, 65536, &[]);
    check_script(&[], &mut model, &steps, &expect);
}

#[test]
fn entries_expire_exactly_expiry_ns_after_the_last_frame() {
    let (a, b, c) = (host(1), host(2), host(3));
    let steps = [
        (10_000, 0, BROADCAST, a), // A learned at 10_000
        (10_999, 1, a, b),         // age 999: known
        (11_000, 2, a, c),         // age 1000: expired, flood
        (11_500, 0, b, a),         // B (10_999) known; A learned again at 11_500
        (11_998, 2, b, c),         // B age 999: known
        (11_999, 2, b, c),         // B age 1000: flood
        (12_000, 0, c, a),         // C refreshed at 11_999: known; A refreshed
        (12_999, 1, a, b),         // A age 999: known
        (13_000, 1, a, b),         // A age 1000: flood
        (13_000, 2, b, c),         // same time, later capture: B refreshed just before; C relearned
    ];
    let expect: [&[u16]; 10] = [&[1, 2, 3], &[0], &[0, 1, 3], &[1], &[1], &[0, 1, 3], &[2], &[0], &[0, 2, 3], &[1]];
    let mut model = Model::new(4, 1000, 100, &[]);
    check_script(&["expiry=1000"], &mut model, &steps, &expect);
}

#[test]
fn static_entries_never_expire_or_move() {
    let (s1, s2, x, y) = ([0x02, 0xab, 0, 0, 0, 0x01], [0x02, 0xab, 0, 0, 0, 0xfe], host(1), host(2));
    let steps = [
        (1_000, 0, s1, x),        // static on 2
        (2_000, 0, y, s1),        // from port 0: S1 does not move; Y unknown: flood
        (3_000, 1, s1, y),        // still on 2
        (1_000_000, 3, s1, y),    // long after expiry: still on 2
        (1_001_000, 3, s2, y),    // S2 on 3: filtered
        (1_002_000, 2, x, s1),    // X expired: flood
        (1_003_000, 1, s1, x),
        (1_004_000, 1, s2, s2),   // S2's frame from port 1 is forwarded to its static port
    ];
    let expect: [&[u16]; 8] = [&[2], &[1, 2, 3], &[2], &[2], &[], &[0, 1, 3], &[2], &[3]];
    let mut model = Model::new(4, 1000, 16, &[(s1, 2), (s2, 3)]);
    check_script(&["expiry=1000", "static=02:ab:00:00:00:01@2, 02:AB:00:00:00:FE@3"], &mut model, &steps, &expect);
}

#[test]
fn a_full_table_learns_no_new_address_until_one_expires() {
    let (a, b, c, d, s) = (host(1), host(2), host(3), host(4), [0x02, 0x55, 0, 0, 0, 0x55]);
    let steps = [
        (0, 0, BROADCAST, a),    // A learned (1 of 2)
        (100, 1, BROADCAST, b),  // B learned (2 of 2)
        (200, 2, BROADCAST, c),  // table full: C not learned
        (300, 1, c, b),          // so C is unknown: flood
        (400, 3, a, s),          // the static entry takes no room; A known
        (999, 2, a, c),          // A still there (age 999): C still not learned
        (1_000, 2, a, c),        // A expired: flood; C learned in its place
        (1_050, 0, c, a),        // C known; A not learned (B and C fill the table)
        (1_060, 1, a, b),        // A unknown: flood; B refreshed
        (1_070, 2, BROADCAST, c), // C refreshed
        (2_060, 0, b, d),        // B expired: flood; D learned
        (2_065, 0, c, d),        // C (age 995) on 2
        (2_066, 2, d, a),        // D on 0; A not learned
        (2_067, 1, s, b),        // static: forwarded; B not learned
    ];
    let expect: [&[u16]; 14] = [
        &[1, 2, 3],
        &[0, 2, 3],
        &[0, 1, 3],
        &[0, 2, 3],
        &[0],
        &[0],
        &[0, 1, 3],
        &[2],
        &[0, 2, 3],
        &[0, 1, 3],
        &[1, 2, 3],
        &[2],
        &[0],
        &[3],
    ];
    let mut model = Model::new(4, 1000, 2, &[(s, 3)]);
    check_script(&["expiry=1000", "capacity=2", "static=02:55:00:00:00:55@3"], &mut model, &steps, &expect);
    assert!(model.learn_counts[&Learn::TableFull] >= 4, "{:?}", model.learn_counts);
}

#[test]
fn malformed_frames_and_invalid_sources_teach_nothing() {
    let (a, b) = (host(1), host(2));
    let mut trace: Vec<Packet> = Vec::new();
    // Frames of 0 to 13 bytes whose bytes, were they read, would teach "A is on port 3".
    let whole = frame(b, a, 14, 0);
    for n in 0..14 {
        trace.push((n as u64, 3, whole[..n].to_vec()));
    }
    // Group and all-zero sources: dropped, even to a known address or broadcast.
    trace.push((100, 1, frame(BROADCAST, b, 14, 1))); // B learned on 1 (a 14-byte frame is fine)
    trace.push((200, 3, frame(b, [0x01, 0, 0x5e, 0, 0, 1], 60, 2)));
    trace.push((210, 3, frame(b, BROADCAST, 60, 3)));
    trace.push((220, 3, frame(BROADCAST, [0; 6], 60, 4)));
    trace.push((230, 3, frame(b, [0x03, 0, 0, 0, 0, 9], 60, 5))); // group bit with the local bit
    trace.push((300, 1, frame(a, b, 60, 6))); // A never learned: flood
    let mut model = Model::new(4, 1_000_000, 100, &[]);
    let (stdout, outs) = run(&example("bridge"), &[], 4, &trace);
    let verdicts = check(&mut model, &trace, &stdout, &outs);
    let c = classes(&verdicts);
    assert_eq!(c[&Class::Malformed], 14);
    assert_eq!(c[&Class::BadSource], 4);
    assert_eq!(verdicts.last().unwrap().1, [0, 2, 3]);
}

#[test]
fn refuses_bad_settings_with_a_clear_error() {
    let dir = tempdir();
    write_pcap(&dir.path().join("in.pcap"), &[(1, frame(BROADCAST, host(1), 60, 0))]);
    let so = example("bridge");
    let m1 = "02:00:00:00:00:01";
    let cases: Vec<(String, &str)> = vec![
        (format!("static={m1}@4"), "static: entry 1 \"02:00:00:00:00:01@4\": port 4 does not exist (the host offers ports 0 to 3"),
        (format!("static={m1}@1,{m1}@2"), "entry 2 \"02:00:00:00:00:01@2\": this address already has a static entry"),
        (format!("static={m1}@1,02:00:00:00:00:01@1"), "entry 2"),
        (format!("static={m1}"), "expected @PORT"),
        (format!("static={m1}@"), "the port must be a decimal number"),
        (format!("static={m1}@1x"), "the port must be a decimal number"),
        ("static=02:00:00:00:00:1@1".into(), "not a MAC address"),
        ("static=02:00:00:00:00:0g@1".into(), "not a MAC address"),
        ("static=02-00-00-00-00-01@1".into(), "not a MAC address"),
        ("static=02:00:00:00:00:01:02@1".into(), "expected @PORT"),
        ("static=01:00:5e:00:00:01@1".into(), "a group (multicast) address"),
        ("static=ff:ff:ff:ff:ff:ff@1".into(), "a group (multicast) address"),
        ("static=00:00:00:00:00:00@1".into(), "the all-zeros address"),
        (format!("static={m1}@1,"), "entry 2 \"\": empty"),
        (format!("static=,{m1}@1"), "entry 1 \"\": empty"),
    ];
    for (setting, needle) in &cases {
        let out = run_in(dir.path(), &["run", so.to_str().unwrap(), setting, "--ports", "4", "--pcap", "in.pcap", "--out", "o.pcap"]);
        let stderr = fails(&out, 1, &["[bridge] static: entry ", needle, "bridge.so: nf_init failed"]);
        assert!(!dir.path().join("o.pcap").exists(), "{setting}: output left behind\n{stderr}");
    }
    for (setting, needle) in [
        ("expiry=0", "expiry=0: out of range"),
        ("capacity=0", "capacity=0: out of range"),
        ("capacity=20M", "capacity=20M: out of range"),
        ("expiry=soon", "expiry=soon: not an unsigned integer"),
        ("statics=02:00:00:00:00:01@1", "unknown setting `statics`"),
    ] {
        let out = run_in(dir.path(), &["run", so.to_str().unwrap(), setting, "--pcap", "in.pcap"]);
        fails(&out, 1, &["bridge", needle]);
    }
    // The largest table holds 2^22 entries, static ones included.
    let out = run_in(dir.path(), &["run", so.to_str().unwrap(), "capacity=4194304", "static=02:00:00:00:00:09@1", "--pcap", "in.pcap"]);
    fails(&out, 1, &["capacity= plus the static entries exceed the largest table", "nf_init failed"]);
    // Blanks around entries and an empty setting are fine.
    let out = run_in(dir.path(), &["run", so.to_str().unwrap(), "static=", "--pcap", "in.pcap"]);
    assert!(ok(&out).contains("1 packets in, 1 out"));
    let out = run_in(dir.path(), &["run", so.to_str().unwrap(), "static= 02:00:00:00:00:09@1\t", "--pcap", "in.pcap"]);
    assert!(ok(&out).contains("1 packets in, 1 out"));
}

// ---------------------------------------------------------------------------------------
// Random and generated traffic.

/// `n` frames among `hosts` hosts on `ports` ports, times `gap` ns apart on average; hosts
/// sometimes move; destinations are other hosts, unknown addresses, broadcast, multicast
/// and reserved addresses; frame lengths vary.
fn random_trace(seed: u64, n: usize, hosts: u32, ports: u16, gap: u64) -> Vec<Packet> {
    let mut rng = Rng(seed);
    let mut home: Vec<u16> = (0..hosts).map(|_| rng.below(u64::from(ports)) as u16).collect();
    let mut t = 1_000_000u64;
    let mut trace = Vec::with_capacity(n);
    for i in 0..n {
        let s = rng.below(u64::from(hosts)) as u32;
        if rng.below(50) == 0 {
            home[s as usize] = rng.below(u64::from(ports)) as u16;
        }
        let dst = match rng.below(100) {
            0..70 => host(rng.below(u64::from(hosts)) as u32),
            70..80 => BROADCAST,
            80..85 => [0x01, 0x00, 0x5e, 0, rng.next() as u8, rng.next() as u8],
            85..88 => [0x01, 0x80, 0xc2, 0, 0, rng.below(0x20) as u8],
            _ => host(1_000_000 + rng.below(1000) as u32),
        };
        // Whole multiples of 10 ns, so frames often land exactly on an expiry boundary.
        t += 10 * rng.below(2 * gap / 10 + 1);
        let len = 14 + rng.below(120) as usize;
        trace.push((t, home[s as usize], frame(dst, host(s), len, i as u32)));
    }
    trace
}

#[test]
fn random_traffic_with_expiry_moves_statics_and_a_full_table() {
    // 40 hosts, room for 12 learned entries, two static hosts, entries live 20 frames' time.
    let trace = random_trace(31, 20_000, 40, 4, 100);
    let statics = [(host(3), 1), (host(7), 2)];
    let mut model = Model::new(4, 2000, 12, &statics);
    let (stdout, outs) = run(
        &example("bridge"),
        &["expiry=2000", "capacity=12", "static=02:00:00:00:00:03@1,02:00:00:00:00:07@2"],
        4,
        &trace,
    );
    let verdicts = check(&mut model, &trace, &stdout, &outs);
    let c = classes(&verdicts);
    for class in [Class::LinkLocal, Class::Flooded, Class::Filtered, Class::Forwarded] {
        assert!(c.get(&class).copied().unwrap_or(0) > 200, "{class:?}: {c:?}");
    }
    for l in [Learn::New, Learn::Refreshed, Learn::Moved, Learn::Relearned, Learn::TableFull, Learn::Static] {
        assert!(model.learn_counts.get(&l).copied().unwrap_or(0) > 20, "{l:?}: {:?}", model.learn_counts);
    }
}

/// A port per host address, from its bytes.
fn home_of(mac: &[u8]) -> u16 {
    let h = mac.iter().fold(0u32, |h, &b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    (h % 4) as u16
}

/// 100,000 generated frames, each arriving on the port of its source host, plus a reply
/// (addresses swapped) to every third IPv4 frame from the port of its destination host;
/// every 2,000th frame's source host moves to the next port. Times are respaced 200 ns apart.
fn generated_bridge_trace() -> Vec<Packet> {
    let path = traffic(&["--packets", "100000", "--flows", "10000", "--seed", "41"]);
    let input = read_pcap(&path);
    let mut moved: HashMap<Vec<u8>, u16> = HashMap::new();
    let mut trace = Vec::new();
    let mut t = 1_000_000_000u64;
    for (i, p) in input.iter().enumerate() {
        let src = p.data[6..12].to_vec();
        let home = |m: &HashMap<Vec<u8>, u16>, mac: &[u8]| m.get(mac).copied().unwrap_or_else(|| home_of(mac));
        if i % 2000 == 1999 {
            let h = home(&moved, &src);
            moved.insert(src.clone(), (h + 1) % 4);
        }
        t += 200;
        trace.push((t, home(&moved, &src), p.data.clone()));
        if i % 3 == 0 && p.data[12..14] == [8, 0] {
            let mut r = p.data.clone();
            r[0..6].copy_from_slice(&p.data[6..12]);
            r[6..12].copy_from_slice(&p.data[0..6]);
            t += 200;
            trace.push((t, home(&moved, &p.data[0..6]), r));
        }
    }
    trace
}

#[test]
fn hundred_thousand_generated_frames() {
    let trace = generated_bridge_trace();
    assert!(trace.len() > 120_000, "{}", trace.len());
    // 2 ms expiry is 10,000 frames' time; 3,000 entries do not hold every active host.
    let mut model = Model::new(4, 2_000_000, 3000, &[]);
    let (stdout, outs) = run(&example("bridge"), &["expiry=2M", "capacity=3000"], 4, &trace);
    let verdicts = check(&mut model, &trace, &stdout, &outs);
    let c = classes(&verdicts);
    eprintln!("bridge on generated traffic: {c:?} {:?}", model.learn_counts);
    for class in [Class::Flooded, Class::Filtered, Class::Forwarded] {
        assert!(c.get(&class).copied().unwrap_or(0) > 5000, "{class:?}: {c:?}");
    }
    for l in [Learn::Moved, Learn::Relearned, Learn::TableFull] {
        assert!(model.learn_counts.get(&l).copied().unwrap_or(0) > 20, "{l:?}: {:?}", model.learn_counts);
    }
}

/// `nfcc build` of the bridge with `--protect mode` into `dir`.
fn build_mode(dir: &Path, mode: &str) -> PathBuf {
    let src = root().join("nf-examples/bridge/bridge.c");
    let out = dir.join(format!("bridge-{mode}.so"));
    ok(&nfcc().args(["build", "--no-contract"]).arg(&src).arg("-o").arg(&out).args(["--protect", mode]).output().unwrap());
    out
}

#[test]
fn identical_output_in_every_protection_mode() {
    let builds = tempdir();
    let modes = ["rw", "wonly", "none"];
    let sos: Vec<PathBuf> = modes.iter().map(|m| build_mode(builds.path(), m)).collect();
    let random = random_trace(32, 20_000, 40, 4, 100);
    let generated = generated_bridge_trace();
    let mut first: Option<Vec<Vec<u8>>> = None;
    for (so, mode) in sos.iter().zip(modes) {
        let mut files = Vec::new();
        for (trace, settings, mut model) in [
            (&random, ["expiry=2000", "capacity=12", "static=02:00:00:00:00:03@1"], Model::new(4, 2000, 12, &[(host(3), 1)])),
            (
                &generated,
                ["expiry=2M", "capacity=3000", "static=02:5e:0a:00:00:01@0"],
                Model::new(4, 2_000_000, 3000, &[([0x02, 0x5e, 0x0a, 0, 0, 1], 0)]),
            ),
        ] {
            let mut s: Vec<&str> = settings.to_vec();
            if mode == "none" {
                s.push("--allow-unprotected");
            }
            let (stdout, outs, f) = run_files(so, &s, 4, trace);
            assert!(stdout.contains(&format!(" {mode} ")), "{stdout}");
            check(&mut model, trace, &stdout, &outs);
            files.extend(f);
        }
        match &first {
            None => first = Some(files),
            Some(f) => assert!(f == &files, "--protect {mode}: output files differ from --protect rw's"),
        }
    }
}
