//! The whole stack in the contract: `nfcc dpdk-model` measures the DPDK path around a
//! module under callgrind and fits `a + b*burst`; `nfcc build --stack` adds it to the
//! contract; `nfcc check --dpdk` validates the sum burst by burst on a real DPDK run.
//!
//! Models are made here with the binary under test (a model describes one host binary),
//! with few burst sizes and bursts: callgrind is slow.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn json_file(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn json_out(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout)))
}

/// A model of `device` made once per test process: burst sizes 1, 4, 8 and 32 (the checks
/// below see bursts of 32 and 4), 6 bursts each (the host's own small variations, its
/// staging queue wrapping round, must be among the points).
fn model(device: &'static str) -> PathBuf {
    static RING: OnceLock<PathBuf> = OnceLock::new();
    static PCAP: OnceLock<PathBuf> = OnceLock::new();
    let cell = if device == "net_ring" { &RING } else { &PCAP };
    cell.get_or_init(|| {
        // Beside the test process's shared captures, which are removed with them.
        let dir = traffic(TRACE).parent().unwrap().to_path_buf();
        let out = dir.join(format!("model-{device}.json"));
        let run = nfcc().args(["dpdk-model", "--vdev", device, "--bursts", "1,4,8,32", "--per-run", "6", "-o"]).arg(&out).output().unwrap();
        let stdout = ok(&run);
        assert!(stdout.contains(&format!("({device}, DPDK 22.11")), "{stdout}");
        assert!(stdout.contains("none above the line"), "{stdout}");
        out
    })
    .clone()
}

/// The capture the checks replay: 100 packets, so bursts of 32, 32, 32 and 4.
const TRACE: &[&str] = &["--packets", "100", "--flows", "20", "--seed", "5"];

fn line(v: &Value) -> (i64, u64) {
    (v["a"].as_i64().unwrap(), v["b"].as_u64().unwrap())
}

#[test]
fn the_model_is_the_upper_envelope_of_its_measured_bursts() {
    for device in ["net_ring", "net_pcap"] {
        let m = json_file(&model(device));
        assert_eq!(m["format"], "nfcc-dpdk-model/2");
        assert_eq!(m["device"], device);
        assert!(m["dpdk_version"].as_str().unwrap().starts_with("DPDK 22.11"), "{}", m["dpdk_version"]);
        let exe = std::fs::read(env!("CARGO_BIN_EXE_nfcc")).unwrap();
        let sha: String = {
            use sha2::Digest;
            sha2::Sha256::digest(&exe).iter().map(|b| format!("{b:02x}")).collect()
        };
        assert_eq!(m["host"]["binary_sha256"], sha.as_str(), "the model names the binary that measured it");
        let points = m["points"].as_array().unwrap();
        // 3 verdicts x 4 burst sizes x 6 bursts, each of exactly its size.
        assert_eq!(points.len(), 72, "{device}");
        for metric in ["instructions", "memory"] {
            let (a, b) = line(&m["per_burst"][metric]);
            assert!(b > 0, "{device} {metric}: b = {b}");
            for verdict in ["forward", "drop", "flood"] {
                let (va, vb) = line(&m["by_verdict"][verdict][metric]);
                assert!(vb > 0 && va <= a && vb <= b, "{device} {verdict} {metric}: {va} + {vb}x against {a} + {b}x");
                let mine: Vec<(u64, i64)> = points
                    .iter()
                    .filter(|p| p["verdict"] == verdict)
                    .map(|p| (p["burst"].as_u64().unwrap(), p[metric].as_i64().unwrap()))
                    .collect();
                assert_eq!(mine.len(), 24);
                for &(x, y) in &mine {
                    assert!(y <= va + (vb * x) as i64, "{device} {verdict} {metric}: point ({x}, {y}) above {va} + {vb}*x");
                    assert!(y <= a + (b * x) as i64, "{device} {metric}: point ({x}, {y}) above per_burst");
                }
                // An envelope, not just any line above: some point lies on it.
                assert!(mine.iter().any(|&(x, y)| y == va + (vb * x) as i64), "{device} {verdict} {metric}: no point on the line");
                // Every packet costs something: a 32-packet burst costs more than a 1-packet one.
                let at = |k: u64| mine.iter().filter(|p| p.0 == k).map(|p| p.1).max().unwrap();
                assert!(at(32) > at(8) && at(8) > at(1), "{device} {verdict} {metric}: {} {} {}", at(1), at(8), at(32));
            }
        }
    }
}

#[test]
fn whole_stack_contracts_hold_burst_by_burst_on_dpdk() {
    let dir = tempdir();
    let trace = traffic(TRACE);
    for device in ["net_ring", "net_pcap"] {
        let m = json_file(&model(device));
        let (a, b) = line(&m["per_burst"]["instructions"]);
        let drop = line(&m["by_verdict"]["drop"]["instructions"]);
        let forward = line(&m["by_verdict"]["forward"]["instructions"]);
        let so = dir.path().join(format!("macswap-{device}.so"));
        let built = ok(&nfcc()
            .arg("build")
            .arg(root().join("nf-examples/macswap/macswap.c"))
            .arg("-o")
            .arg(&so)
            .arg("--stack")
            .arg(format!("dpdk:{}", model(device).display()))
            .output()
            .unwrap());
        assert!(built.contains(&format!("whole stack dpdk:{device}")), "{built}");
        let contract_path = dir.path().join(format!("macswap-{device}.contract.json"));
        let c = json_file(&contract_path);
        let st = &c["stack"];
        assert_eq!(st["model"], format!("dpdk:{device}").as_str());
        assert_eq!(st["pcv"]["name"], "burst");
        // The model's envelope plus the margin for run-to-run variation.
        let margin = |a: i64, b: u64| a + ((a + (b * 32) as i64).max(0) * 5 + 999) / 1000;
        assert_eq!(st["per_burst"]["instructions"]["constant"], margin(a, b));
        assert_eq!(st["per_burst"]["instructions"]["terms"]["burst"], b);
        // Class 1 (runts) only drops: the drop line; class 2 sends to the input port: the
        // forward one. Each class's `a` is its line's (a burst pays its classes' largest).
        for (k, class) in c["classes"].as_array().unwrap().iter().enumerate() {
            let s = &st["classes"][k];
            assert_eq!(s["id"], class["id"]);
            let module = class["instructions"]["constant"].as_i64().unwrap();
            let (class_a, want) = if class["returns"] == serde_json::json!(["drop"]) {
                drop
            } else {
                assert_eq!(class["returns"], serde_json::json!(["input port"]), "{class}");
                forward
            };
            assert!(class_a <= a && want <= b, "{s}");
            assert_eq!(s["stack"]["instructions"]["constant"].as_i64().unwrap(), want as i64, "{s}");
            assert_eq!(s["per_packet"]["instructions"]["constant"].as_i64().unwrap(), module + want as i64);
            assert_eq!(s["per_burst"]["instructions"]["constant"], margin(class_a, want));
            assert_eq!(s["per_burst"]["instructions"]["terms"]["burst"].as_i64().unwrap(), module + want as i64);
        }
        let shown = ok(&nfcc().args(["contract", "show"]).arg(&contract_path).output().unwrap());
        assert!(shown.contains(&format!("whole stack: dpdk:{device}")), "{shown}");
        assert!(shown.contains(&format!("instructions <= {} + {b}*burst", margin(a, b))), "{shown}");

        let out = nfcc().arg("check").arg(&so).arg("--pcap").arg(&trace).args(["--dpdk", "--json"]).output().unwrap();
        let r = json_out(&out);
        assert!(out.status.success(), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(r["holds"], true, "{r}");
        assert_eq!(r["underestimates"], 0, "{r}");
        // macswap only forwards what the model NFs do: the stack's part holds on its own.
        assert_eq!(r["stack_underestimates"], 0, "{r}");
        let bursts = r["bursts"].as_array().unwrap();
        // 100 packets: 32 + 32 + 32 + 4; the first is the loop's setup and not compared.
        let sizes: Vec<u64> = bursts.iter().map(|b| b["packets"].as_u64().unwrap()).collect();
        assert_eq!(sizes, [32, 32, 32, 4], "{r}");
        assert_eq!(bursts.iter().filter(|b| b["compared"] == true).count(), 3);
        // net_ring never touches the bytes: its model is exact up to the host's own
        // variations. net_pcap copies frames and is measured with 1514-byte ones, so a trace
        // of shorter frames sits further under the bound.
        let limit = if device == "net_ring" { 0.05 } else { 1.0 };
        for metric in ["instructions", "memory"] {
            let g = r["max_gap"][metric].as_f64().unwrap();
            assert!((0.0..=limit).contains(&g), "{device} {metric}: max gap {g} per packet averaged over a burst");
        }
    }
}

/// Builds example `nf` in `dir` with a whole-stack contract on the net_ring model; returns
/// the module and its contract.
fn build_on_ring(dir: &Path, nf: &str) -> (PathBuf, Value) {
    let so = dir.join(format!("{nf}.so"));
    let stack = format!("dpdk:{}", model("net_ring").display());
    ok(&nfcc().arg("build").arg(root().join(format!("nf-examples/{nf}/{nf}.c"))).arg("-o").arg(&so).arg("--stack").arg(&stack).output().unwrap());
    let c = json_file(&dir.join(format!("{nf}.contract.json")));
    (so, c)
}

#[test]
fn a_flooding_nf_holds_its_whole_stack_contract() {
    // The bridge floods frames to unknown stations: on one port the chain's flood path,
    // which the model measures with its own model NF; the other classes send to a port
    // from state (any verdict), charged the largest of the three.
    let dir = tempdir();
    let (so, c) = build_on_ring(dir.path(), "bridge");
    // Classes that may flood pay the flood path for every packet of their burst.
    let surcharged = c["stack"]["classes"].as_array().unwrap().iter().filter(|k| k["fixed"]["instructions"]["terms"]["burst"].as_u64().is_some_and(|x| x > 0)).count();
    assert!(surcharged > 0, "{}", c["stack"]);
    let out = nfcc().arg("check").arg(&so).arg("--pcap").arg(traffic(TRACE)).args(["--dpdk", "--json"]).output().unwrap();
    let r = json_out(&out);
    assert!(out.status.success(), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(r["holds"], true, "{r}");
    assert_eq!(r["underestimates"], 0, "{r}");
    assert_eq!(r["stack_underestimates"], 0, "{r}");
}

#[test]
fn a_port_from_state_that_cannot_be_negative_is_never_a_flood() {
    // The policer sends a packet to `n_ports == 1 ? 0 : (port == 0 ? 1 : 0)`: a port read
    // from state, but never negative, so never a drop or flood verdict of its own making.
    let dir = tempdir();
    let (_, c) = build_on_ring(dir.path(), "policer");
    let returns: Vec<&str> = c["classes"].as_array().unwrap().iter().flat_map(|k| k["returns"].as_array().unwrap().iter().map(|r| r.as_str().unwrap())).collect();
    assert!(returns.contains(&"port (from state, >= 0)"), "{returns:?}");
    assert!(!returns.contains(&"port (from state)") && !returns.contains(&"flood"), "{returns:?}");
    for k in c["stack"]["classes"].as_array().unwrap() {
        assert!(k["fixed"]["instructions"]["terms"].as_object().is_none_or(|t| t.is_empty()), "{k}");
    }
}

#[test]
fn a_model_below_the_real_stack_is_caught() {
    let dir = tempdir();
    let mut m = json_file(&model("net_ring"));
    // Half the per-packet cost: the check must see bursts above their bound.
    for line in ["per_burst", "by_verdict.forward", "by_verdict.drop"] {
        let at = line.split('.').fold(&mut m, |v, k| &mut v[k]);
        let b = at["instructions"]["b"].as_u64().unwrap();
        at["instructions"]["b"] = Value::from(b / 2);
    }
    let low = dir.path().join("low.json");
    std::fs::write(&low, serde_json::to_string(&m).unwrap()).unwrap();
    let so = dir.path().join("ms.so");
    ok(&nfcc().arg("build").arg(root().join("nf-examples/macswap/macswap.c")).arg("-o").arg(&so).arg("--stack").arg(format!("dpdk:{}", low.display())).output().unwrap());
    let trace = traffic(TRACE);
    let out = nfcc().arg("check").arg(&so).arg("--pcap").arg(&trace).arg("--dpdk").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    fails(&out, 1, &["the whole-stack contract does not hold"]);
    assert!(stdout.contains("UNDERESTIMATE: burst 2 (32 packets)"), "{stdout}");
}

#[test]
fn bad_stack_models_and_module_only_contracts_are_refused() {
    let dir = tempdir();
    let src = root().join("nf-examples/macswap/macswap.c");
    let so = dir.path().join("m.so");
    let build = |stack: &str| nfcc().arg("build").arg(&src).arg("-o").arg(&so).arg("--stack").arg(stack).output().unwrap();
    fails(&build("dpdk:net_nope"), 2, &["--stack dpdk:net_nope", "net_ring, net_null, net_pcap"]);
    fails(&build("ring"), 2, &["expected dpdk:DEVICE"]);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"format\": \"nfcc-dpdk-model/1\", \"device\": \"net_ring\"}").unwrap();
    fails(&build(&format!("dpdk:{}", bad.display())), 1, &[&bad.display().to_string(), "not an nfcc DPDK model", "measure it again with `nfcc dpdk-model"]);
    fails(&build(&format!("dpdk:{}", dir.path().join("missing.json").display())), 1, &["missing.json: cannot read"]);
    // Nothing was written by the refused builds.
    assert!(!so.exists() && !dir.path().join("m.contract.json").exists());
    // A model for rw modules does not make a contract for a --protect none one.
    let out = nfcc().arg("build").arg(&src).arg("-o").arg(&so).args(["--protect", "none", "--stack"]).arg(format!("dpdk:{}", model("net_ring").display())).output().unwrap();
    fails(&out, 1, &["measured with --protect rw modules"]);
    assert!(!so.exists());
    // A module-only contract has no stack to check.
    ok(&nfcc().arg("build").arg(&src).arg("-o").arg(&so).output().unwrap());
    let trace = traffic(&["--packets", "10", "--seed", "3"]);
    let out = nfcc().arg("check").arg(&so).arg("--pcap").arg(&trace).arg("--dpdk").output().unwrap();
    fails(&out, 1, &["m.contract.json", "module-only contract", "--stack dpdk:DEVICE"]);
    // Unknown devices for the generator.
    fails(&nfcc().args(["dpdk-model", "--vdev", "net_tap", "-o"]).arg(dir.path().join("x.json")).output().unwrap(), 2, &["net_ring, net_null, net_pcap"]);
    assert!(!dir.path().join("x.json").exists());
}
