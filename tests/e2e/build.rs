//! `nfcc build`: examples build at every level, several sources link into one module,
//! -I/-D reach clang, --emit-ir writes the final IR, and the module exports only the ABI.

use crate::support::*;

#[test]
fn every_example_builds_at_every_level() {
    let dir = tempdir();
    for name in ["macswap", "policer"] {
        for level in ["0", "1", "2", "3", "s"] {
            let src = root().join(format!("nf-examples/{name}/{name}.c"));
            let out = dir.path().join(format!("{name}-O{level}.so"));
            ok(&nfcc().args(["build", "--no-contract", "-O", level]).arg(&src).arg("-o").arg(&out).output().unwrap());
            assert!(out.is_file());
        }
    }
    let trace = traffic(&["--packets", "2000", "--flows", "100", "--seed", "2"]);
    // -O0 and -O3 builds of macswap behave the same.
    for level in ["0", "3"] {
        let so = dir.path().join(format!("macswap-O{level}.so"));
        ok(&run_in(dir.path(), &["run", so.to_str().unwrap(), "--pcap", trace.to_str().unwrap(), "--out", &format!("o{level}.pcap")]));
    }
    assert_eq!(std::fs::read(dir.path().join("o0.pcap")).unwrap(), std::fs::read(dir.path().join("o3.pcap")).unwrap());
}

#[test]
fn several_sources_with_include_dirs_and_defines() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::create_dir(d.join("inc")).unwrap();
    std::fs::write(d.join("inc/port.h"), "int out_port(int in);\n").unwrap();
    std::fs::write(
        d.join("main.c"),
        "#include <nfcc.h>\n#include <port.h>\nint nf_process(const struct nfcc_packet *p) { return p->len < OFFSET ? NFCC_DROP : out_port(p->port); }\n",
    )
    .unwrap();
    std::fs::write(d.join("port.c"), "#include <port.h>\nint out_port(int in) { return in ^ 1; }\n").unwrap();
    let out = run_in(d, &["build", "--no-contract", "main.c", "port.c", "-I", "inc", "-D", "OFFSET=100", "-o", "m.so", "--emit-ir", "-v"]);
    let stdout = ok(&out);
    assert!(stdout.contains("built m.so (IR: m.ll)"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stage check-entry-points") && stderr.contains("stage default<O2>"), "{stderr}");
    let ir = std::fs::read_to_string(d.join("m.ll")).unwrap();
    assert!(ir.contains("define") && ir.contains("@nf_process"), "{ir}");
    // The define reached clang: packets shorter than 100 bytes are dropped, longer ones
    // leave on the other port.
    let short = udp_frame([1, 1, 1, 1], [2, 2, 2, 2], 60);
    let long = udp_frame([1, 1, 1, 1], [2, 2, 2, 2], 200);
    write_pcap(&d.join("in.pcap"), &[(1, short), (2, long.clone())]);
    ok(&run_in(d, &["run", "m.so", "--pcap", "in.pcap", "--out", "1=o.pcap"]));
    let got = read_pcap(&d.join("o.pcap"));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, long);

    // Defined twice across sources: a link error naming the second source.
    std::fs::write(d.join("dup.c"), "int out_port(int in) { return in; }\n").unwrap();
    fails(&run_in(d, &["build", "--no-contract", "main.c", "port.c", "dup.c", "-I", "inc", "-D", "OFFSET=1", "-o", "d.so"]), 1, &["dup.c: cannot link", "out_port"]);
    assert!(!d.join("d.so").exists());
}

#[test]
fn modules_export_only_the_abi() {
    let so = example("policer");
    let nm = std::process::Command::new("llvm-nm-19").args(["-D", "--defined-only"]).arg(&so).output().unwrap();
    assert!(nm.status.success());
    let text = String::from_utf8_lossy(&nm.stdout);
    let mut syms: Vec<&str> = text.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
    syms.sort();
    let mut want = nfcc_runtime::abi::EXPORTED_SYMBOLS.to_vec();
    want.sort();
    assert_eq!(syms, want, "{text}");
}

#[test]
fn rebuilding_replaces_the_module_atomically() {
    let dir = tempdir();
    let src = root().join("nf-examples/macswap/macswap.c");
    let out = dir.path().join("out/m.so");
    for _ in 0..2 {
        ok(&nfcc().args(["build", "--no-contract"]).arg(&src).arg("-o").arg(&out).output().unwrap());
    }
    assert_eq!(files_in(&dir.path().join("out")), ["m.so"]);
}

#[test]
fn the_readme_example_builds_and_behaves_as_documented() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```c\n").expect("README has a C example") + 5;
    let len = readme[start..].find("```").unwrap();
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("limit.c"), &readme[start..start + len]).unwrap();
    ok(&run_in(d, &["build", "--no-contract", "limit.c", "-o", "limit.so"]));
    let frames: Vec<(u64, Vec<u8>)> = (0..10).map(|i| (i, udp_frame([1, 1, 1, 1], [2, 2, 2, 2], 60))).collect();
    write_pcap(&d.join("in.pcap"), &frames);
    let stdout = ok(&run_in(d, &["run", "limit.so", "limit=4", "--pcap", "in.pcap", "--out", "1=out.pcap"]));
    assert_eq!(read_pcap(&d.join("out.pcap")).len(), 4, "{stdout}");
}

#[test]
fn every_example_gives_byte_identical_output_in_every_protection_mode() {
    let dir = tempdir();
    let trace = traffic(&["--packets", "20000", "--flows", "2000", "--seed", "31", "--rate", "300000"]);
    for name in ["macswap", "policer"] {
        let mut outputs = Vec::new();
        for mode in ["none", "wonly", "rw"] {
            let so = dir.path().join(format!("{name}-{mode}.so"));
            let src = root().join(format!("nf-examples/{name}/{name}.c"));
            ok(&nfcc().args(["build", "--no-contract", "--protect", mode]).arg(&src).arg("-o").arg(&so).output().unwrap());
            let out = format!("{name}-{mode}.pcap");
            let mut args = vec!["run", "--allow-unprotected", so.to_str().unwrap()];
            if name == "policer" {
                args.push("rate=200k");
            }
            args.extend_from_slice(&["--pcap", trace.to_str().unwrap(), "--out", &out]);
            let stdout = ok(&run_in(dir.path(), &args));
            assert!(!stdout.contains("yes"), "{name} {mode} was quarantined:\n{stdout}");
            outputs.push(std::fs::read(dir.path().join(&out)).unwrap());
        }
        assert!(outputs[0].len() > 1000);
        assert_eq!(outputs[0], outputs[1], "{name}: none and wonly differ");
        assert_eq!(outputs[0], outputs[2], "{name}: none and rw differ");
    }
}

#[test]
fn unprotected_modules_need_explicit_consent() {
    let dir = tempdir();
    let src = root().join("nf-examples/macswap/macswap.c");
    ok(&nfcc().args(["build", "--no-contract", "--protect", "none"]).arg(&src).args(["-o", "m.so"]).current_dir(dir.path()).output().unwrap());
    let trace = traffic(&["--packets", "10", "--flows", "2"]);
    let t = trace.to_str().unwrap();
    fails(&run_in(dir.path(), &["run", "m.so", "--pcap", t, "--out", "o.pcap"]), 2, &["m.so: built with --protect none", "--allow-unprotected"]);
    assert!(!dir.path().join("o.pcap").exists());
    ok(&run_in(dir.path(), &["run", "--allow-unprotected", "m.so", "--pcap", t, "--out", "o.pcap"]));
}

#[test]
fn the_data_structure_library_is_linked_in_when_included() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(
        d.join("dedup.c"),
        r#"#include <nfcc.h>
#include <nfcc_ds.h>
/* Forwards the first packet of each IPv4 destination, drops repeats. */
static struct nfcc_map *seen;
int nf_init(void) { seen = nfcc_map_create(4096, 4); return seen ? 0 : -1; }
int nf_process(const struct nfcc_packet *pkt)
{
	uint32_t v;
	if (pkt->len < 34 || pkt->data[12] != 8 || pkt->data[13] != 0)
		return NFCC_DROP;
	if (nfcc_map_get(seen, pkt->data + 30, &v))
		return NFCC_DROP;
	return nfcc_map_put(seen, pkt->data + 30, 1) == NFCC_DS_OK ? 1 : NFCC_DROP;
}
"#,
    )
    .unwrap();
    ok(&run_in(d, &["build", "--no-contract", "dedup.c", "-o", "dedup.so"]));
    let trace = traffic(&["--packets", "3000", "--flows", "300", "--seed", "4"]);
    ok(&run_in(d, &["run", "dedup.so", "--pcap", trace.to_str().unwrap(), "--out", "o.pcap"]));
    let input = read_pcap(&trace);
    let mut firsts = std::collections::HashSet::new();
    let expected: Vec<_> = input
        .iter()
        .filter(|p| p.data.len() >= 34 && p.data[12..14] == [8, 0] && firsts.insert(p.data[30..34].to_vec()))
        .collect();
    let got = read_pcap(&d.join("o.pcap"));
    assert!(expected.len() > 20);
    assert_eq!(got.len(), expected.len());
    for (g, w) in got.iter().zip(&expected) {
        assert_eq!(g.data, w.data);
    }
}

/// Clang records a source under its working directory relative to it: the library's
/// summaries must not depend on where `nfcc build` runs (here the build's scratch dir,
/// in TMPDIR, is under the working directory, as when building from `/tmp`).
#[test]
fn contracts_do_not_depend_on_the_working_directory() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::create_dir(d.join("tmp")).unwrap();
    let src = root().join("nf-examples/bridge/bridge.c");
    let out = nfcc()
        .current_dir(d)
        .env("TMPDIR", d.join("tmp"))
        .args(["build", src.to_str().unwrap(), "-o", "bridge.so"])
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(text.contains("complete in"), "{text}");
    let contract: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("bridge.contract.json")).unwrap()).unwrap();
    let paths: u64 = contract["classes"].as_array().unwrap().iter().map(|c| c["paths"].as_u64().unwrap()).sum();
    assert!(paths < 100, "the library's calls were not summarised: {paths} paths");
}

#[test]
fn bench_reports_every_mode_with_exact_instruction_counts() {
    let dir = tempdir();
    let src = root().join("nf-examples/macswap/macswap.c");
    let out = nfcc()
        .current_dir(dir.path())
        .arg("bench")
        .arg(&src)
        .args(["--reps", "1", "--packets", "2000", "--callgrind-packets", "200", "--json"])
        .output()
        .unwrap();
    let json = ok(&out);
    for mode in ["none", "wonly", "rw", "asan"] {
        assert!(json.contains(&format!("\"mode\": \"{mode}\"")), "{json}");
    }
    assert!(json.contains("\"nf\": \"macswap\""), "{json}");
    // Exact counts for the three nfcc modes; ASan cannot run under valgrind.
    assert_eq!(json.matches("\"instructions_per_packet\": null").count(), 1, "{json}");
    assert!(json.contains("\"ratio_to_none\": 1.0000"), "{json}");
}
