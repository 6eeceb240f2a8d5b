//! Every bad input gets a clear message naming the culprit, a non-zero exit, and leaves
//! no output file (not even a partial or temporary one) behind.

use crate::support::*;
use std::path::Path;

/// Compiles C into a plain shared object with clang-19 directly (not an nfcc module).
fn plain_so(dir: &Path, name: &str, c: &str) -> std::path::PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, c).unwrap();
    let so = dir.join(format!("{name}.so"));
    let st = std::process::Command::new("clang-19")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    so
}

#[test]
fn source_that_does_not_compile_shows_clang_diagnostics() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("broken.c"),
        "#include <nfcc.h>\nint nf_process(const struct nfcc_packet *p)\n{\n\treturn p->nope;\n}\n",
    )
    .unwrap();
    let out = run_in(dir.path(), &["build", "--no-contract", "broken.c", "-o", "broken.so"]);
    fails(&out, 1, &["broken.c: does not compile", "broken.c:4:", "nope"]);
    assert_eq!(files_in(dir.path()), ["broken.c"]);
}

#[test]
fn missing_directory_and_non_c_inputs_are_refused() {
    let dir = tempdir();
    fails(&run_in(dir.path(), &["build", "--no-contract", "absent.c", "-o", "x.so"]), 1, &["absent.c: cannot read source", "No such file"]);
    std::fs::create_dir(dir.path().join("d.c")).unwrap();
    fails(&run_in(dir.path(), &["build", "--no-contract", "d.c", "-o", "x.so"]), 1, &["d.c: cannot read source: is a directory"]);
    std::fs::write(dir.path().join("nf.txt"), "int nf_process(void *p) { return 0; }").unwrap();
    fails(&run_in(dir.path(), &["build", "--no-contract", "nf.txt", "-o", "x.so"]), 1, &["nf.txt: not a C source"]);
    fails(&run_in(dir.path(), &["build", "--no-contract", "-o", "x.so"]), 2, &["SRC.c"]);
    assert_eq!(files_in(dir.path()), ["d.c", "nf.txt"]);
}

#[test]
fn module_without_process_entry_point_fails_the_build() {
    let dir = tempdir();
    std::fs::write(dir.path().join("noproc.c"), "#include <nfcc.h>\nint nf_init(void) { return 0; }\n").unwrap();
    fails(&run_in(dir.path(), &["build", "--no-contract", "noproc.c", "-o", "noproc.so"]), 1, &["noproc.c", "nf_process", "every module needs one"]);
    std::fs::write(
        dir.path().join("static.c"),
        "#include <nfcc.h>\nstatic int nf_process(const struct nfcc_packet *p) { return p->port; }\nint (*keep)(const struct nfcc_packet *) = nf_process;\n",
    )
    .unwrap();
    // clang itself refuses a static definition after nfcc.h's declaration.
    fails(&run_in(dir.path(), &["build", "--no-contract", "static.c", "-o", "s.so"]), 1, &["static.c: does not compile"]);
    std::fs::write(dir.path().join("sig.c"), "long nf_process(long a, long b) { return a + b; }\n").unwrap();
    fails(&run_in(dir.path(), &["build", "--no-contract", "sig.c", "-o", "sig.so"]), 1, &["sig.c", "wrong signature", "int nf_process(const struct nfcc_packet *pkt)"]);
    assert!(!files_in(dir.path()).iter().any(|f| f.contains(".so")), "{:?}", files_in(dir.path()));
}

#[test]
fn link_errors_name_the_missing_symbol() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("undef.c"),
        "#include <nfcc.h>\nvoid not_defined_anywhere(void);\nint nf_process(const struct nfcc_packet *p) { not_defined_anywhere(); return 0; }\n",
    )
    .unwrap();
    // Unprotected: the linker finds it; protected: the isolation pass refuses it first.
    fails(&run_in(dir.path(), &["build", "--no-contract", "undef.c", "-o", "u.so", "--protect", "none"]), 1, &["u.so: cannot link the module", "not_defined_anywhere"]);
    fails(&run_in(dir.path(), &["build", "--no-contract", "undef.c", "-o", "u.so"]), 1, &["undef.c: in `nf_process` at undef.c:3: calls `not_defined_anywhere`, which is outside the module"]);
    assert_eq!(files_in(dir.path()), ["undef.c"]);
}

#[test]
fn module_files_that_are_not_nfcc_modules_are_refused() {
    let dir = tempdir();
    let trace = traffic(&["--packets", "10", "--flows", "2"]);
    let t = trace.to_str().unwrap();
    std::fs::write(dir.path().join("text.so"), "not a module").unwrap();
    fails(&run_in(dir.path(), &["run", "text.so", "--pcap", t, "--out", "o.pcap"]), 1, &["text.so: cannot load module", "no ELF header"]);
    fails(&run_in(dir.path(), &["run", "none.so", "--pcap", t, "--out", "o.pcap"]), 1, &["none.so: cannot read module", "No such file"]);
    plain_so(dir.path(), "plain", "int nf_process(void *p) { return 0; }\n");
    fails(&run_in(dir.path(), &["run", "plain.so", "--pcap", t, "--out", "o.pcap"]), 1, &["plain.so: not an nfcc module", "nfcc_abi_version"]);
    plain_so(
        dir.path(),
        "oldabi",
        "const unsigned nfcc_abi_version = 999;\nvoid *nfcc__bind(const void *a) { return 0; }\nint nf_process(void *p) { return 0; }\n",
    );
    fails(&run_in(dir.path(), &["run", "oldabi.so", "--pcap", t, "--out", "o.pcap"]), 1, &["oldabi.so: module was built for ABI version 999", &format!("runs version {}", nfcc_runtime::abi::ABI_VERSION), "rebuild"]);
    plain_so(
        dir.path(),
        "noproc",
        &format!(
            "const unsigned nfcc_abi_version = {};\nvoid *nfcc__bind(const void *a) {{ return 0; }}\n",
            nfcc_runtime::abi::ABI_VERSION
        ),
    );
    fails(&run_in(dir.path(), &["run", "noproc.so", "--pcap", t, "--out", "o.pcap"]), 1, &["noproc.so: module lacks the entry point", "nf_process"]);
    assert!(!dir.path().join("o.pcap").exists());
}

#[test]
fn bad_captures_name_the_file_and_packet_and_leave_no_output() {
    let dir = tempdir();
    let so = example("macswap");
    let so = so.to_str().unwrap();
    let good = std::fs::read(traffic(&["--packets", "100", "--flows", "10"])).unwrap();
    std::fs::write(dir.path().join("text.pcap"), "hello, this is text\n").unwrap();
    std::fs::write(dir.path().join("empty.pcap"), "").unwrap();
    // Cut in the middle of the last packet's bytes.
    std::fs::write(dir.path().join("cut.pcap"), &good[..good.len() - 10]).unwrap();
    std::fs::write(dir.path().join("cuthdr.pcap"), &good[..10]).unwrap();
    std::fs::create_dir(dir.path().join("dir.pcap")).unwrap();
    let cases: [(&str, &[&str]); 6] = [
        ("text.pcap", &["text.pcap", "not a pcap"]),
        ("empty.pcap", &["empty.pcap"]),
        ("cut.pcap", &["cut.pcap", "packet 100", "truncated"]),
        ("cuthdr.pcap", &["cuthdr.pcap", "truncated"]),
        ("dir.pcap", &["dir.pcap"]),
        ("absent.pcap", &["absent.pcap", "No such file"]),
    ];
    for (input, needles) in cases {
        let out = run_in(dir.path(), &["run", so, "--pcap", input, "--out", "o.pcap"]);
        fails(&out, 1, needles);
        assert!(!files_in(dir.path()).iter().any(|f| f.contains("o.pcap")), "{input}: output left behind");
    }
}

#[test]
fn unwritable_output_is_reported_before_any_work() {
    let dir = tempdir();
    let so = example("macswap");
    let trace = traffic(&["--packets", "10", "--flows", "2"]);
    std::fs::write(dir.path().join("file"), "x").unwrap();
    std::fs::create_dir(dir.path().join("outdir")).unwrap();
    for (target, needle) in [("file/o.pcap", "file/o.pcap: cannot write output"), ("outdir", "outdir: cannot write output")] {
        let out = run_in(dir.path(), &["run", so.to_str().unwrap(), "--pcap", trace.to_str().unwrap(), "--out", target]);
        fails(&out, 1, &[needle]);
    }
    fails(&run_in(dir.path(), &["traffic", "-o", "file/t.pcap"]), 1, &["file/t.pcap: cannot write"]);
    fails(
        &run_in(dir.path(), &["build", "--no-contract", &root().join("nf-examples/macswap/macswap.c").display().to_string(), "-o", "file/m.so"]),
        1,
        &["file/m.so: cannot write"],
    );
    assert_eq!(files_in(dir.path()), ["file", "outdir"]);
}

#[test]
fn bad_settings_are_refused_with_the_module_and_setting_named() {
    let dir = tempdir();
    let pol = example("policer");
    let pol = pol.to_str().unwrap();
    let trace = traffic(&["--packets", "10", "--flows", "2"]);
    let t = trace.to_str().unwrap();
    let cases: [(&[&str], i32, &[&str]); 7] = [
        (&["rat=5"], 1, &["policer.so: unknown setting `rat`", "it reads: rate, burst"]),
        (&["rate=fast"], 1, &["policer.so: rate=fast: not an unsigned integer"]),
        (&["rate=0"], 1, &["policer.so: rate=0: out of range"]),
        (&["rate=1", "rate=2"], 1, &["setting `rate` given twice"]),
        (&["nfcc.heap=4Ki", "capacity=100000"], 1, &["cannot allocate the bucket table", "policer.so: nf_init failed"]),
        (&["nfcc.stak=1"], 1, &["unknown host setting `nfcc.stak`"]),
        // Protected entry points carve their frame below usp_top unchecked: 64K at least.
        (&["nfcc.stack=32Ki"], 1, &["nfcc.stack=32Ki: out of range", "65536"]),
    ];
    for (settings, code, needles) in cases {
        let mut args = vec!["run", pol];
        args.extend_from_slice(settings);
        args.extend_from_slice(&["--pcap", t, "--out", "o.pcap"]);
        fails(&run_in(dir.path(), &args), code, needles);
    }
    fails(&run_in(dir.path(), &["run", "rate=5", pol, "--pcap", t]), 2, &["comes before any module"]);
    let mac = example("macswap");
    fails(&run_in(dir.path(), &["run", mac.to_str().unwrap(), "x=1", "--pcap", t]), 1, &["unknown setting `x` (it reads no settings)"]);
    fails(&run_in(dir.path(), &["run", mac.to_str().unwrap(), "--pcap", &format!("5={t}")]), 2, &["port 5 does not exist"]);
    assert!(files_in(dir.path()).is_empty(), "{:?}", files_in(dir.path()));
}
