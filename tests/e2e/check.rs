//! `nfcc check`: contracts replayed against callgrind's exact per-call counts of the real
//! module, with PCVs counted by the tracing variant `nfcc build` writes beside it.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Builds `nf-examples/NAME/NAME.c` into `dir/OUT.so` with its contract.
fn build(dir: &Path, name: &str, out: &str, args: &[&str]) -> (PathBuf, String) {
    let so = dir.join(format!("{out}.so"));
    let run = nfcc().arg("build").args(args).arg(root().join(format!("nf-examples/{name}/{name}.c"))).arg("-o").arg(&so).output().unwrap();
    let stdout = ok(&run);
    (so, stdout)
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout)))
}

/// Frames shorter than an Ethernet header (and a few just above), one every microsecond.
fn runts(dir: &Path) -> PathBuf {
    let p = dir.join("runts.pcap");
    let t0 = 1_700_000_000_000_000_000u64;
    let frames: Vec<(u64, Vec<u8>)> = (0..30u64).map(|k| (t0 + k * 3_000, vec![0xab; (k % 20) as usize])).collect();
    write_pcap(&p, &frames);
    p
}

#[test]
fn macswap_holds_its_contract_within_3_percent_in_every_mode() {
    let dir = tempdir();
    let trace = traffic(&["--packets", "1000", "--flows", "100", "--seed", "11"]);
    let short = runts(dir.path());
    for mode in ["none", "wonly", "rw"] {
        let (so, built) = build(dir.path(), "macswap", &format!("macswap-{mode}"), &["--protect", mode]);
        // No PCVs: no tracing variant.
        assert!(!built.contains("tracing variant"), "{built}");
        assert!(!dir.path().join(format!("macswap-{mode}.trace.so")).exists());
        let mut cmd = nfcc();
        cmd.arg("check").arg(&so).arg("--pcap").arg(&trace).arg("--pcap").arg(format!("1={}", short.display()));
        if mode == "none" {
            // Unprotected modules need the same consent as for `nfcc run`.
            fails(&nfcc().arg("check").arg(&so).arg("--pcap").arg(&trace).output().unwrap(), 2, &["--allow-unprotected"]);
            cmd.arg("--allow-unprotected");
        }
        if mode == "rw" {
            // The table (one mode: each run is a callgrind run).
            let text = ok(&cmd.output().unwrap());
            for want in ["class", "when", "packets", "instr max gap", "mem mean gap", "len < 14", "len >= 14", "0.00% #", "0 underestimates", "1030 packets, 1030 delivered, 1030 compared"] {
                assert!(text.contains(want), "{mode}: missing {want:?} in\n{text}");
            }
        }
        let out = cmd.arg("--json").output().unwrap();
        ok(&out);
        let r = json(&out);
        assert_eq!(r["format"], "nfcc-check/1");
        assert_eq!(r["protection"], mode);
        assert_eq!(r["underestimates"], 0, "{r}");
        assert_eq!(r["compared"], 1030);
        assert_eq!(r["unclassified"], 0);
        assert_eq!(r["holds"], true);
        for metric in ["instructions", "memory"] {
            let g = r["max_gap"][metric].as_f64().unwrap();
            assert!((0.0..=0.03).contains(&g), "{mode}: max {metric} gap {g}");
        }
        let classes = r["classes"].as_array().unwrap();
        let runt = classes.iter().find(|c| c["when"] == "len < 14").unwrap();
        let frame = classes.iter().find(|c| c["when"] == "len >= 14").unwrap();
        // Runts: lengths 0..19 then 0..9, 24 of them below 14 bytes.
        assert_eq!(runt["packets"], 24, "{runt}");
        assert_eq!(frame["packets"], 1006, "{frame}");
        for c in [runt, frame] {
            for key in ["max_gap", "mean_gap"] {
                assert!(c[key]["instructions"].as_f64().unwrap() >= 0.0 && c[key]["memory"].as_f64().unwrap() >= 0.0, "{c}");
            }
            // The packet with the largest gap is named, one of the class's own.
            for metric in ["instructions", "memory"] {
                let k = c["max_gap_packet"][metric].as_u64().unwrap_or_else(|| panic!("{c}"));
                assert!((1..=1030).contains(&k), "{c}");
            }
        }
        assert_ne!(runt["max_gap_packet"], frame["max_gap_packet"]);
    }

    // A contract is for exactly one binary.
    let rw = dir.path().join("macswap-rw.so");
    let other = dir.path().join("macswap-wonly.contract.json");
    let out = nfcc().arg("check").arg(&rw).arg("--pcap").arg(&trace).arg("--contract").arg(&other).output().unwrap();
    fails(&out, 1, &["macswap-wonly.contract.json: this contract is for another binary", "macswap-rw.so has"]);
    assert!(out.stdout.is_empty());
}

#[test]
fn a_tampered_bound_is_reported_packet_by_packet_with_exit_1() {
    let dir = tempdir();
    let (so, _) = build(dir.path(), "macswap", "m", &[]);
    let trace = traffic(&["--packets", "300", "--flows", "30", "--seed", "5"]);
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.contract.json")).unwrap()).unwrap();
    let frame = c["classes"].as_array_mut().unwrap().iter_mut().find(|k| k["when"] == "len >= 14").unwrap();
    let honest = frame["instructions"]["constant"].as_i64().unwrap();
    frame["instructions"]["constant"] = (honest - 2).into();
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, serde_json::to_string_pretty(&c).unwrap()).unwrap();

    let out = nfcc().arg("check").arg(&so).arg("--pcap").arg(&trace).arg("--contract").arg(&tampered).output().unwrap();
    fails(&out, 1, &["300 packets cost more than their contract's bound"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("UNDERESTIMATE: packet 1 (class 2): instructions {honest} measured, bound {}", honest - 2)), "{text}");
    assert!(text.contains("UNDERESTIMATE: packet 300 "), "{text}");
    assert!(text.contains("300 underestimates"), "{text}");

    let out = nfcc().arg("check").arg(&so).arg("--pcap").arg(&trace).arg("--contract").arg(&tampered).arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    assert_eq!(r["underestimates"], 300);
    assert_eq!(r["holds"], false);
    let first = &r["underestimated_packets"][0];
    assert_eq!(first["packet"], 1);
    assert_eq!(first["classes"], serde_json::json!([2]));
    assert_eq!(first["measured"]["instructions"], honest);
    assert_eq!(first["bound"]["instructions"], honest - 2);
    assert!(first["gap"]["instructions"].as_f64().unwrap() < 0.0);
    assert!(r["max_gap"]["instructions"].as_f64().unwrap() < 0.0);
    // Memory bounds were not touched: they still hold.
    assert!(r["max_gap"]["memory"].as_f64().unwrap() >= 0.0);
}

#[test]
fn router_with_default_settings_on_generated_traffic() {
    let dir = tempdir();
    let (so, _) = build(dir.path(), "router", "router", &[]);
    let trace = traffic(&["--packets", "2000", "--flows", "1000", "--seed", "21", "--non-ip", "4"]);
    let out = nfcc().arg("check").arg(&so).arg("--pcap").arg(&trace).arg("--json").output().unwrap();
    ok(&out);
    let r = json(&out);
    eprintln!("router: max gap {} over {} packets", r["max_gap"], r["compared"]);
    assert_eq!(r["underestimates"], 0, "{r}");
    // The second LPM stage is an arm (a PCV of its own): the bounds are the 3% bar's side
    // of exact.
    for metric in ["instructions", "memory"] {
        let g = r["max_gap"][metric].as_f64().unwrap();
        assert!(g <= 0.03, "router: max {metric} gap {g}");
    }
    assert_eq!(r["unclassified"], 0, "{r}");
    assert_eq!(r["compared"], 2000);
    let classes = r["classes"].as_array().unwrap();
    // Non-IP frames and routed IPv4 both appear, each in its own class.
    assert!(classes.iter().filter(|c| c["packets"].as_u64().unwrap() > 0).count() >= 2, "{r}");
    assert_eq!(classes.iter().map(|c| c["packets"].as_u64().unwrap()).sum::<u64>(), 2000);
}

#[test]
fn policer_pcvs_are_counted_by_its_tracing_variant() {
    let dir = tempdir();
    // Capacity 16 and 300 destinations: the table fills, and a new destination probes
    // every slot: 16 runs of the probing loop's header (15 back edges), never more.
    let trace = traffic(&["--packets", "600", "--flows", "300", "--seed", "9", "--non-ip", "0"]);
    let (so, built) = build(dir.path(), "policer", "policer", &["--contract-holes"]);
    assert!(built.contains("tracing variant") && built.contains("policer.trace.so"), "{built}");
    let t = dir.path().join("policer.trace.so");
    assert!(t.exists());
    let c: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("policer.contract.json")).unwrap()).unwrap();
    let names: Vec<Value> = c["pcvs"].as_array().unwrap().iter().map(|p| p["name"].clone()).collect();
    assert!(names.contains(&Value::from("n_policer_90")), "{names:?}");
    let complete = c["coverage"]["complete"].as_bool().unwrap();

    let check = |extra: &[&str]| {
        nfcc().arg("check").arg(&so).arg("capacity=16").arg("--pcap").arg(&trace).args(extra).output().unwrap()
    };
    if !complete {
        fails(&check(&[]), 1, &["does not cover every path", "--allow-holes"]);
    }
    let out = check(&["--allow-holes", "--json"]);
    let r = json(&out);
    assert_eq!(r["pcvs"], Value::from(names.clone()));
    assert_eq!(r["trace_module"], t.display().to_string());
    let largest = r["classes"].as_array().unwrap().iter().filter_map(|k| k["pcv_max"]["n_policer_90"].as_u64()).max();
    assert_eq!(largest, Some(16), "{r}");
    // The counts are exact: a bound with the PCV's coefficient honest holds on every
    // packet whose class the contract bounds fully (checked here when it is complete).
    if complete {
        assert_eq!(r["underestimates"], 0, "{r}");
    }
    // Underestimated packets carry their PCVs.
    for p in r["underestimated_packets"].as_array().unwrap() {
        assert!(p["pcvs"]["n_policer_90"].is_u64(), "{p}");
    }

    // A tracing variant of another build of the module is refused, and a missing one too.
    let (_, _) = build(dir.path(), "policer", "other", &["--contract-holes", "--protect", "wonly"]);
    std::fs::copy(dir.path().join("other.trace.so"), &t).unwrap();
    fails(&check(&["--allow-holes"]), 1, &["policer.trace.so: stale tracing variant", "made for the module with SHA-256", "rebuild"]);
    std::fs::remove_file(&t).unwrap();
    fails(&check(&["--allow-holes"]), 1, &["policer.trace.so: missing", "n_policer_90", "nfcc build"]);
}

#[test]
fn policer_classes_name_how_its_probe_loop_is_left_and_stay_tight() {
    // A hit, a free slot and a full table leave the probe loop by different branches, at
    // different costs: the classes say which, and the tracing variant counts it, so a hit
    // is not charged the claiming of a slot (7.1% over before, on this traffic).
    let dir = tempdir();
    let trace = traffic(&["--packets", "300", "--flows", "40"]);
    let (so, _) = build(dir.path(), "policer", "policer", &[]);
    let c: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("policer.contract.json")).unwrap()).unwrap();
    let exits: Vec<&Value> = c["calls"].as_array().unwrap().iter().filter(|s| s["exit_side"].is_u64()).collect();
    assert!(exits.len() >= 2, "{}", c["calls"]);
    assert!(exits.iter().any(|s| s["name"] == "exit@policer.c:90"), "{}", c["calls"]);
    assert!(c["classes"].as_array().unwrap().iter().any(|k| k["when"].as_str().unwrap().contains("leaves by exit@policer.c:90")), "{}", c["classes"]);
    // In every mode: `none` stood at 2.7% / 3.3% until a block tail duplication copied
    // into a predecessor was paid on the other edges only.
    for (mode, so) in [("rw", so.clone()), ("wonly", build(dir.path(), "policer", "policer-wonly", &["--protect", "wonly"]).0), ("none", build(dir.path(), "policer", "policer-none", &["--protect", "none"]).0)] {
        let mut check = nfcc();
        check.arg("check").arg(&so).arg("capacity=16").arg("--pcap").arg(&trace).arg("--json");
        if mode == "none" {
            check.arg("--allow-unprotected");
        }
        let out = check.output().unwrap();
        let r = json(&out);
        assert!(out.status.success(), "{mode}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(r["underestimates"], 0, "{mode}: {r}");
        assert_eq!(r["compared"], 300, "{mode}: {r}");
        for metric in ["instructions", "memory"] {
            let gap = r["max_gap"][metric].as_f64().unwrap();
            assert!(gap < 0.02, "{mode}: max {metric} gap {gap}");
        }
    }
}

#[test]
fn contracts_with_holes_need_allow_holes_and_bad_command_lines_exit_2() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("opaque.c"),
        "#include <nfcc.h>\nint nf_process(const struct nfcc_packet *pkt)\n{\n\tnfcc_log(\"hello\");\n\treturn pkt->port;\n}\n",
    )
    .unwrap();
    ok(&run_in(dir.path(), &["build", "opaque.c", "-o", "o.so", "--contract-holes"]));
    let trace = traffic(&["--packets", "20", "--seed", "2"]);
    let t = trace.display().to_string();
    fails(&run_in(dir.path(), &["check", "o.so", "--pcap", &t]), 1, &["o.contract.json: the contract does not cover every path", "--allow-holes"]);
    fails(&run_in(dir.path(), &["check", "o.so", "o.so", "--pcap", &t]), 2, &["one module"]);
    fails(&run_in(dir.path(), &["check", "o.so"]), 2, &["--pcap"]);
    fails(&run_in(dir.path(), &["check", "o.so", "--pcap", "5=x.pcap"]), 2, &["port 5 does not exist"]);
    fails(&run_in(dir.path(), &["check", "absent.so", "--pcap", &t]), 1, &["absent.so: cannot read"]);
    fails(&run_in(dir.path(), &["check", "o.so", "--pcap", &t, "--contract", "none.json"]), 1, &["none.json: cannot read"]);
}

#[test]
fn a_call_stopped_by_a_violation_is_reported_not_compared() {
    let dir = tempdir();
    let so = dir.path().join("wpp.so");
    let src = root().join("nf-examples/attacks/write_past_packet.c");
    ok(&nfcc().arg("build").arg(&src).arg("-o").arg(&so).arg("--contract-holes").output().unwrap());
    let trace = traffic(&["--packets", "20", "--seed", "3"]);
    let out = nfcc().arg("check").arg(&so).arg("--pcap").arg(&trace).args(["--allow-holes", "--json"]).output().unwrap();
    ok(&out);
    let r = json(&out);
    // The attack strikes on its 5th packet; the module is then quarantined.
    assert_eq!(r["packets"], 20);
    assert_eq!(r["delivered"], 5);
    assert_eq!(r["compared"], 4);
    assert_eq!(r["violations"][0]["packet"], 5, "{r}");
    assert!(r["violations"][0]["message"].as_str().unwrap().contains("write violation"), "{r}");
    assert_eq!(r["underestimates"], 0);
}

#[test]
fn data_structure_nfs_never_exceed_their_contracts_on_colliding_expiring_traffic() {
    // Soundness of the derived data-structure costs (call summaries, merged paths): every
    // chain in one bucket (`--collide`), tables smaller than the flows, and a second wave
    // after every entry expired; not one call may execute more than its class allows.
    let dir = tempdir();
    for nf in ["bridge", "firewall", "nat", "lb"] {
        let (p0, p1) = (dir.path().join(format!("{nf}.0.pcap")), dir.path().join(format!("{nf}.1.pcap")));
        let gen = nfcc()
            .args(["traffic", "--profile", nf, "--flows", "40", "--packets", "300", "--capacity", "16", "--collide"])
            .args(["--expire-gap", "2000000000", "-o"])
            .arg(&p0)
            .arg("--port1-out")
            .arg(&p1)
            .output()
            .unwrap();
        let said = ok(&gen);
        let settings: Vec<String> = said
            .lines()
            .find_map(|l| l.strip_prefix("settings: "))
            .unwrap_or_else(|| panic!("{nf}: no settings line in\n{said}"))
            .split_whitespace()
            .map(String::from)
            .collect();
        for mode in ["rw", "wonly", "none"] {
            let (so, _) = build(dir.path(), nf, &format!("{nf}-{mode}"), &["--protect", mode]);
            let mut check = nfcc();
            check.arg("check").arg(&so).args(&settings);
            check.arg("--pcap").arg(format!("0={}", p0.display())).arg("--pcap").arg(format!("1={}", p1.display()));
            if mode == "none" {
                check.arg("--allow-unprotected");
            }
            let out = check.arg("--json").output().unwrap();
            let r = json(&out);
            assert_eq!(r["underestimates"], 0, "{nf} {mode}: {r}");
            assert_eq!(r["holds"], true, "{nf} {mode}: {r}");
            assert!(r["unclassified_packets"].as_array().unwrap().is_empty(), "{nf} {mode}: {r}");
            assert_eq!(r["compared"], 300, "{nf} {mode}: {r}");
            assert!(out.status.success(), "{nf} {mode}: {}", String::from_utf8_lossy(&out.stderr));
            eprintln!("{nf} {mode}: max gap {}", r["max_gap"]);
            // The 3% the contracts aim at (see README), in every mode: loop branches and
            // per-value call runs as PCVs brought rw from 86-112% to 17-22%, loop PCVs
            // counting header runs and preheader arms to 5-13%, packets kept known across
            // loops that do not write them and returns charged once per call to 3-4.5% (the
            // LB's Maglev refill 13%), the library's expiry and probe loops tested at the end
            // of each run to 1.5-3.2%; the key hash as runtime code and the cost mapping's
            // edge rules (copies and reloads on one edge are paid on it) to 0.8-2.7%; expiry
            // loops' preheaders as arms and the shared epilogue paid once took every mode to
            // 0.5-2.2% (`none` had stood at up to 3.2% / 7.6%).
            let limit = 0.03;
            for metric in ["instructions", "memory"] {
                let gap = r["max_gap"][metric].as_f64().unwrap();
                assert!(gap < limit, "{nf} {mode}: max {metric} gap {gap}");
            }
        }
    }
}
