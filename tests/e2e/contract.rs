//! Performance contracts written by `nfcc build`: what they say, how they print, and that
//! their bounds hold against callgrind's exact counts of the real module.

use crate::support::*;
use std::path::Path;
use std::process::Command;

/// Instructions and memory accesses (Dr + Dw) per packet inside `nf_process`, measured by
/// callgrind over `trace`.
fn measured(module: &Path, trace: &Path, packets: u64, dir: &Path) -> (f64, f64) {
    let out = dir.join("cg.out");
    let run = Command::new("valgrind")
        .args(["--tool=callgrind", "--toggle-collect=nf_process", "--cache-sim=yes"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(env!("CARGO_BIN_EXE_nfcc"))
        .arg("run")
        .arg(module)
        .arg("--pcap")
        .arg(trace)
        .arg("--allow-unprotected")
        .output()
        .expect("valgrind is installed by scripts/setup.sh");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let events: Vec<&str> = text.lines().find_map(|l| l.strip_prefix("events:")).unwrap().split_whitespace().collect();
    let totals: Vec<f64> = text
        .lines()
        .find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let get = |name: &str| totals[events.iter().position(|e| *e == name).unwrap()];
    (get("Ir") / packets as f64, (get("Dr") + get("Dw")) / packets as f64)
}

fn contract_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bound(class: &serde_json::Value, metric: &str) -> i64 {
    let b = &class[metric];
    assert!(b["terms"].as_object().unwrap().values().all(|v| v.as_u64() == Some(0)), "{b}");
    b["constant"].as_i64().unwrap()
}

#[test]
fn macswap_contract_is_complete_and_tight_against_callgrind_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("nf-examples/macswap/macswap.c");
    // Every frame of this trace is at least 60 bytes: all in the forwarding class.
    let trace = traffic(&["--packets", "2000", "--flows", "100", "--seed", "11"]);
    for mode in ["none", "wonly", "rw"] {
        let so = dir.path().join(format!("macswap-{mode}.so"));
        let out = nfcc().args(["build", "--protect", mode]).arg(&src).arg("-o").arg(&so).output().unwrap();
        ok(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("2 classes") && stdout.contains("complete"), "{stdout}");
        let c = contract_json(&dir.path().join(format!("macswap-{mode}.contract.json")));
        assert_eq!(c["format"], "nfcc-contract/4");
        assert_eq!(c["protection"], mode);
        assert_eq!(c["coverage"]["complete"], true);
        assert!(c["generation"]["seconds"].as_f64().unwrap() < 10.0);
        let classes = c["classes"].as_array().unwrap();
        assert_eq!(classes.len(), 2);
        let short = classes.iter().find(|k| k["when"] == "len < 14").expect("a class for runt frames");
        assert_eq!(short["returns"][0], "drop");
        let fwd = classes.iter().find(|k| k["when"] == "len >= 14").expect("a class for frames");
        let w = fwd["witness"]["len"].as_u64().unwrap();
        assert!(w >= 14, "witness of length {w}");

        let (ir, mem) = measured(&so, &trace, 2000, dir.path());
        let (bi, bm) = (bound(fwd, "instructions") as f64, bound(fwd, "memory") as f64);
        assert!(bi >= ir, "{mode}: instruction bound {bi} below the measured {ir}");
        assert!(bm >= mem, "{mode}: memory bound {bm} below the measured {mem}");
        assert!(bi <= ir * 1.03, "{mode}: instruction bound {bi} more than 3% above the measured {ir}");
        assert!(bm <= mem * 1.03, "{mode}: memory bound {bm} more than 3% above the measured {mem}");
    }
}

#[test]
fn router_contract_covers_every_path_in_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("router.so");
    let out = nfcc().arg("build").arg(root().join("nf-examples/router/router.c")).arg("-o").arg(&so).output().unwrap();
    ok(&out);
    let c = contract_json(&dir.path().join("router.contract.json"));
    assert_eq!(c["coverage"]["complete"], true, "{}", c["coverage"]);
    assert!(c["generation"]["seconds"].as_f64().unwrap() < 10.0);
    let classes = c["classes"].as_array().unwrap();
    assert!(classes.len() >= 4, "{classes:?}");
    assert!(classes.iter().any(|k| k["when"] == "len < 14"));
    // Every class has a witness that is a frame of the class's minimum length or more.
    for k in classes {
        assert!(k["witness"]["len"].is_u64(), "{k}");
    }
}

#[test]
fn policer_contract_summarises_its_probe_loop_with_a_pcv() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("policer.so");
    let out = nfcc().arg("build").arg(root().join("nf-examples/policer/policer.c")).arg("-o").arg(&so).output().unwrap();
    ok(&out);
    let c = contract_json(&dir.path().join("policer.contract.json"));
    assert_eq!(c["coverage"]["complete"], true, "{}", c["coverage"]);
    assert!(c["generation"]["seconds"].as_f64().unwrap() < 10.0);
    let pcvs = c["pcvs"].as_array().unwrap();
    // One loop PCV (the probe loop); the others count the loop's branches (blocks some
    // probes skip) or the calls in it.
    let loops: Vec<&serde_json::Value> = pcvs.iter().filter(|p| !p["sites"].as_array().unwrap().is_empty()).collect();
    assert_eq!(loops.len(), 1, "{pcvs:?}");
    let probe = loops[0];
    let name = probe["name"].as_str().unwrap();
    assert!(probe["loops"][0].as_str().unwrap().starts_with("policer.c:"), "{pcvs:?}");
    assert_eq!(probe["sites"][0]["function"], "nf_process");
    for p in pcvs.iter().filter(|p| p["name"] != name) {
        let counted = p["blocks"].as_array().unwrap().len() + p["calls"].as_array().unwrap().len();
        assert!(counted > 0 && p["sites"].as_array().unwrap().is_empty(), "{p}");
    }
    // IPv4 frames long enough to police pay per probe, in one class per way out of the
    // probe loop (found, a free slot, the table full); the others do not.
    let classes = c["classes"].as_array().unwrap();
    let policed: Vec<&serde_json::Value> =
        classes.iter().filter(|k| k["when"].as_str().unwrap().starts_with("eth.type == 0x800 && len >= 34 && leaves by exit@policer.c:")).collect();
    assert!(policed.len() >= 2, "{classes:?}");
    for k in policed {
        assert!(k["instructions"]["terms"][name].as_u64().unwrap() > 0, "{k}");
        assert!(k["memory"]["terms"][name].as_u64().unwrap() > 0, "{k}");
    }
    let other = classes.iter().find(|k| k["when"] == "eth.type != 0x800 && len >= 14").expect("non-IPv4 class");
    assert!(other["instructions"]["terms"].as_object().unwrap().values().all(|v| v == 0), "{other}");
}

#[test]
fn contract_show_prints_the_table_and_refuses_what_is_not_a_contract() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("m.so");
    ok(&nfcc().arg("build").arg(root().join("nf-examples/macswap/macswap.c")).arg("-o").arg(&so).output().unwrap());
    let out = nfcc().args(["contract", "show"]).arg(dir.path().join("m.contract.json")).output().unwrap();
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    for want in ["class", "when", "instructions", "memory accesses", "len >= 14", "<= ", "coverage: every path"] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    std::fs::write(dir.path().join("bad.json"), "{\"format\": 1}").unwrap();
    fails(&nfcc().args(["contract", "show"]).arg(dir.path().join("bad.json")).output().unwrap(), 1, &["bad.json", "not an nfcc contract"]);
    fails(&nfcc().args(["contract", "show"]).arg(dir.path().join("absent.json")).output().unwrap(), 1, &["absent.json: cannot read"]);
}

#[test]
fn an_incomplete_contract_fails_the_build_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("opaque.c"),
        "#include <nfcc.h>\nint nf_process(const struct nfcc_packet *pkt)\n{\n\tnfcc_log(\"hello\");\n\treturn pkt->port;\n}\n",
    )
    .unwrap();
    let out = run_in(dir.path(), &["build", "opaque.c", "-o", "o.so"]);
    fails(&out, 1, &["o.so: the performance contract does not cover every path", "--contract-holes"]);
    assert!(!dir.path().join("o.so").exists());
    assert!(!dir.path().join("o.contract.json").exists());
    // With --contract-holes the module is built and the hole is listed.
    ok(&run_in(dir.path(), &["build", "opaque.c", "-o", "o.so", "--contract-holes"]));
    let c = contract_json(&dir.path().join("o.contract.json"));
    assert_eq!(c["coverage"]["complete"], false);
    assert!(!c["coverage"]["holes"].as_array().unwrap().is_empty());
    // --no-contract writes none.
    ok(&run_in(dir.path(), &["build", "opaque.c", "-o", "p.so", "--no-contract"]));
    assert!(!dir.path().join("p.contract.json").exists());
}

#[test]
fn every_example_nf_gets_a_complete_contract_in_every_mode() {
    // Completeness, not speed: the engine is given time enough that a loaded test machine
    // cannot turn into a hole what `nfcc build` (10 s by default) covers on its own; the
    // generation time each contract records is what README quotes.
    let dir = tempfile::tempdir().unwrap();
    for nf in ["macswap", "policer", "router", "bridge", "firewall", "lb", "nat"] {
        let src = root().join(format!("nf-examples/{nf}/{nf}.c"));
        for mode in ["none", "wonly", "rw"] {
            let so = dir.path().join(format!("{nf}-{mode}.so"));
            let out = nfcc()
                .args(["build", "--protect", mode, "--contract-time-limit", "300"])
                .arg(&src)
                .arg("-o")
                .arg(&so)
                .output()
                .unwrap();
            let stdout = ok(&out);
            assert!(stdout.contains("complete in"), "{nf} {mode}: {stdout}");
            let c = contract_json(&dir.path().join(format!("{nf}-{mode}.contract.json")));
            assert_eq!(c["coverage"]["complete"], true, "{nf} {mode}: {}", c["coverage"]);
            assert_eq!(c["protection"], mode, "{nf}");
            let classes = c["classes"].as_array().unwrap();
            assert!(!classes.is_empty(), "{nf} {mode}");
            // Every class has a witness and a bound on both metrics.
            for k in classes {
                assert!(k["witness"].is_object(), "{nf} {mode}: {k}");
                assert!(k["instructions"]["constant"].as_i64().unwrap() > 0, "{nf} {mode}: {k}");
                assert!(k["memory"]["constant"].as_i64().is_some(), "{nf} {mode}: {k}");
            }
            eprintln!("{nf} {mode}: {} classes, generated in {} s", classes.len(), c["generation"]["seconds"]);
        }
    }
}
