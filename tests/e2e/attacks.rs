//! The attack suite (`nf-examples/attacks/`): every attack is stopped, the benign neighbour
//! and the host are untouched, and the host keeps serving the rest of the chain.
//!
//! Each attack runs behind `canary`, which verifies its own heap and globals on every
//! packet (and drops everything from the first sign of corruption) and leaks their
//! addresses into the packet for the attacker.

use crate::support::*;
use std::path::{Path, PathBuf};

const PACKETS: usize = 40;
const AT: usize = 5;

fn attack_src(name: &str) -> PathBuf {
    root().join(format!("nf-examples/attacks/{name}.c"))
}

fn build(dir: &Path, name: &str, protect: &str) -> PathBuf {
    let out = dir.join(format!("{name}-{protect}.so"));
    ok(&nfcc().args(["build", "--no-contract", "--protect", protect]).arg(attack_src(name)).arg("-o").arg(&out).output().unwrap());
    out
}

/// Runs canary -> attacker on a small trace; returns (stdout, stderr, output packets).
fn run_attack(name: &str, protect: &str, extra: &[&str]) -> (String, String, Vec<nfcc_runtime::pcap::PacketRecord>) {
    let dir = tempdir();
    let canary = build(dir.path(), "canary", protect);
    let attacker = build(dir.path(), name, protect);
    let trace = traffic(&["--packets", &PACKETS.to_string(), "--flows", "8", "--seed", "21", "--non-ip", "0"]);
    let mut args = vec!["run".to_string(), canary.display().to_string(), attacker.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--pcap".into(), trace.display().to_string(), "--out".into(), "out.pcap".into()]);
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = run_in(dir.path(), &args);
    let stdout = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let packets = read_pcap(&dir.path().join("out.pcap"));
    (stdout, stderr, packets)
}

/// The row of `module` in `nfcc run`'s summary: protect, in, forwarded, dropped, errors,
/// quarantined.
fn row<'a>(stdout: &'a str, module: &str) -> Vec<&'a str> {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next().is_some_and(|w| w.starts_with(module)))
        .unwrap_or_else(|| panic!("no row for {module} in:\n{stdout}"));
    line.split_whitespace().skip(1).collect()
}

/// Asserts the attack was stopped on packet AT with a violation of `kind`, the canary never
/// saw its memory change, and what the chain forwarded before the attack is intact.
#[track_caller]
fn assert_stopped(name: &str, protect: &str, kind: &str, extra: &[&str]) {
    let (stdout, stderr, packets) = run_attack(name, protect, extra);
    let expect = format!("nfcc: violation: {name}-{protect}: packet {AT}: {kind} violation");
    assert!(stderr.contains(&expect), "{name} ({protect}): expected `{expect}` in:\n{stderr}\n{stdout}");
    assert!(stderr.contains("module quarantined"), "{stderr}");
    let canary = row(&stdout, "canary");
    assert_eq!(canary[..4], [protect.to_string(), PACKETS.to_string(), PACKETS.to_string(), "0".to_string()], "canary saw corruption:\n{stdout}");
    let attacker = row(&stdout, name);
    assert_eq!(attacker[..2], [protect.to_string(), AT.to_string()], "{stdout}");
    assert_eq!(attacker[5..].join(" "), format!("yes ({})", PACKETS - AT), "{stdout}");
    // The attacker forwards packets 1..AT-1 (to port 0) before it attacks.
    assert_eq!(packets.len(), AT - 1, "{stdout}");
    let input = read_pcap(&traffic(&["--packets", &PACKETS.to_string(), "--flows", "8", "--seed", "21", "--non-ip", "0"]));
    for (got, want) in packets.iter().zip(&input) {
        assert_eq!(got.data[..14], want.data[..14]);
        assert_eq!(got.data[30..], want.data[30..], "bytes the canary does not write changed");
    }
}

#[test]
fn writes_past_the_packet_are_stopped() {
    for mode in ["rw", "wonly"] {
        assert_stopped("write_past_packet", mode, "write", &[]);
    }
}

#[test]
fn writes_into_a_neighbours_heap_are_stopped() {
    for mode in ["rw", "wonly"] {
        assert_stopped("neighbour_heap_leaked", mode, "write", &[]);
        assert_stopped("neighbour_heap_guessed", mode, "write", &[]);
    }
}

#[test]
fn writes_to_a_neighbours_globals_are_stopped() {
    for mode in ["rw", "wonly"] {
        assert_stopped("neighbour_global", mode, "write", &[]);
    }
}

#[test]
fn reading_another_packet_is_stopped_in_rw_only() {
    assert_stopped("read_other_packet", "rw", "read", &[]);
    // wonly checks no loads: by design the read goes through, and nothing is written.
    let (stdout, stderr, packets) = run_attack("read_other_packet", "wonly", &[]);
    assert!(!stderr.contains("violation"), "{stderr}");
    assert_eq!(row(&stdout, "read_other_packet")[5], "no");
    assert_eq!(packets.len(), PACKETS);
}

#[test]
fn reading_another_packet_through_the_runtimes_hash_is_stopped_in_rw() {
    assert_stopped("hash_other_packet", "rw", "read", &[]);
}

#[test]
fn smashing_the_stack_never_reaches_a_return_address() {
    for mode in ["rw", "wonly"] {
        // A small heap keeps the walk through the module's own memory short.
        assert_stopped("stack_smash", mode, "write", &["nfcc.heap=1M"]);
    }
}

#[test]
fn writes_through_pointers_from_packet_bytes_are_stopped() {
    for mode in ["rw", "wonly"] {
        assert_stopped("packet_pointer", mode, "write", &[]);
    }
}

#[test]
fn memcpy_with_a_huge_length_is_stopped() {
    for mode in ["rw", "wonly"] {
        assert_stopped("memcpy_huge", mode, "write", &[]);
    }
}

#[test]
fn calls_through_forged_function_pointers_are_stopped() {
    for mode in ["rw", "wonly"] {
        assert_stopped("forged_call", mode, "call", &[]);
    }
}

#[test]
fn freeing_a_foreign_pointer_is_stopped() {
    for mode in ["rw", "wonly"] {
        assert_stopped("bad_free", mode, "bad free", &[]);
    }
}

#[test]
fn heap_exhaustion_hurts_only_the_attacker() {
    for mode in ["rw", "wonly"] {
        assert_stopped("heap_exhaustion", mode, "write", &["nfcc.heap=16M"]);
    }
}

#[test]
fn unbounded_recursion_is_stopped() {
    for mode in ["rw", "wonly"] {
        assert_stopped("deep_recursion", mode, "stack overflow", &[]);
        assert_stopped("deep_calls", mode, "fault", &[]);
    }
}

#[test]
fn violations_name_the_source_line() {
    let (_, stderr, _) = run_attack("write_past_packet", "rw", &[]);
    assert!(stderr.contains("in nf_process (") && stderr.contains("write_past_packet.c:"), "{stderr}");
}

#[test]
fn uncheckable_code_is_refused_at_build_time() {
    let dir = tempdir();
    for mode in ["rw", "wonly"] {
        for (name, needle) in [
            ("huge_stack", "bytes of stack for its local variables"),
            ("vla", "variable-length or dynamic stack allocation"),
            ("inline_asm", "inline assembly cannot be checked"),
            ("call_system", "calls `system`, which is outside the module"),
        ] {
            let out = nfcc()
                .current_dir(dir.path())
                .args(["build", "--no-contract", "--protect", mode])
                .arg(attack_src(name))
                .args(["-o", "x.so"])
                .output()
                .unwrap();
            let stderr = fails(&out, 1, &[needle]);
            assert!(stderr.contains(&format!("{name}.c")), "{stderr}");
        }
    }
    assert!(files_in(dir.path()).is_empty());
}
