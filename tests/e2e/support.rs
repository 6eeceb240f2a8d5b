//! Helpers shared by the end-to-end tests: running `nfcc`, building examples once per
//! test process, generating and reading captures.

use nfcc_runtime::pcap::{PacketRecord, PcapReader, PcapWriter};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A command running the `nfcc` binary under test.
pub fn nfcc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nfcc"))
}

/// Runs `nfcc args...` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    nfcc().current_dir(dir).args(args).output().expect("nfcc runs")
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "nfcc failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts failure with exit code `code`, that stderr contains every one of `needles`, and
/// returns stderr.
#[track_caller]
pub fn fails(out: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}; stdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}:\n{stderr}");
    }
    stderr
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("nfcc-e2e-").tempdir().unwrap()
}

/// Names of the files in `dir`, sorted (hidden temporaries included).
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Where modules and traces shared by many tests go: under cargo's per-target scratch
/// directory (statics are never dropped, so a TempDir here would leak one per run).
fn shared_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        // Leftovers of earlier runs go now.
        if let Ok(entries) = std::fs::read_dir(d.parent().unwrap()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("e2e-") && e.path() != d {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        d
    })
}

/// The module built from `nf-examples/NAME/NAME.c` at -O2, built once per test process.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    // A build that failed panics with the lock held: the next test builds again (and
    // reports its own failure) instead of failing on the poisoned lock.
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    let src = root().join(format!("nf-examples/{name}/{name}.c"));
    let out = shared_dir().join(format!("{name}.so"));
    ok(&nfcc().args(["build", "--no-contract"]).arg(&src).arg("-o").arg(&out).output().unwrap());
    built.insert(name.to_string(), out.clone());
    out
}

/// A generated trace (`nfcc traffic`), written once per distinct argument list.
pub fn traffic(args: &[&str]) -> PathBuf {
    static MADE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let key = args.join(" ");
    let mut made = MADE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = made.get(&key) {
        return p.clone();
    }
    let out = shared_dir().join(format!("traffic-{}.pcap", made.len()));
    ok(&nfcc().arg("traffic").arg("-o").arg(&out).args(args).output().unwrap());
    made.insert(key, out.clone());
    out
}

/// Every packet of a capture.
pub fn read_pcap(path: &Path) -> Vec<PacketRecord> {
    let mut r = PcapReader::open(path).unwrap();
    let mut v = Vec::new();
    loop {
        let mut rec = PacketRecord { time_ns: 0, orig_len: 0, data: Vec::new() };
        if !r.next_into(&mut rec).unwrap() {
            return v;
        }
        v.push(rec);
    }
}

/// Writes `(time_ns, frame)` pairs as a pcap.
pub fn write_pcap(path: &Path, packets: &[(u64, Vec<u8>)]) {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for (t, d) in packets {
        w.write(*t, d.len() as u32, d).unwrap();
    }
    w.finish().unwrap();
}

/// An Ethernet + IPv4 + UDP frame of `len` bytes (at least 42) from `src` to `dst`.
pub fn udp_frame(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
    assert!(len >= 42);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    let ip_len = (len - 14) as u16;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&src);
    f[30..34].copy_from_slice(&dst);
    let sum = nfcc_runtime::traffic::checksum16(&f[14..34]);
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f
}

/// SplitMix64, so crafted traces are the same on every run.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 pseudo-random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One's complement sum of the big-endian 16-bit words of `bytes` (an odd last byte is
/// padded with zero), folded to 16 bits: the Internet checksum is its complement.
pub fn ones_sum(bytes: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for w in bytes.chunks(2) {
        s += u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}
