//! Builds the DPDK shim (`dpdk/shim.c`) and generates bindings for the DPDK API the host
//! uses (`dpdk/bindings.h`), with DPDK's flags from `pkg-config libdpdk`. DPDK is linked
//! dynamically; its drivers (net_pcap, net_ring, net_null, ...) are loaded by the EAL.

use std::path::PathBuf;
use std::process::Command;

fn pkg_config(arg: &str) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args([arg, "libdpdk"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run pkg-config ({e}): run scripts/setup.sh (installs pkg-config, libdpdk-dev)"));
    if !out.status.success() {
        panic!(
            "pkg-config {arg} libdpdk failed: {}run scripts/setup.sh (installs libdpdk-dev)",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).expect("pkg-config prints UTF-8").split_whitespace().map(String::from).collect()
}

/// The DPDK libraries the host calls into (the rest of `pkg-config --libs` is not needed).
const LIBS: &[&str] = &["rte_eal", "rte_ethdev", "rte_mbuf", "rte_mempool", "rte_ring"];

fn main() {
    println!("cargo:rerun-if-changed=dpdk/shim.c");
    println!("cargo:rerun-if-changed=dpdk/shim.h");
    println!("cargo:rerun-if-changed=dpdk/bindings.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let cflags = pkg_config("--cflags");
    let mut shim = cc::Build::new();
    shim.file("dpdk/shim.c").include("dpdk").opt_level(2).warnings(true);
    for f in &cflags {
        shim.flag(f);
    }
    shim.compile("nfcc_dpdk_shim");

    for word in pkg_config("--libs-only-L") {
        if let Some(dir) = word.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        }
    }
    for lib in LIBS {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }

    let bindings = bindgen::Builder::default()
        .header("dpdk/bindings.h")
        .clang_args(&cflags)
        .clang_arg("-Idpdk")
        // bindgen 0.66 cannot represent `_Float16 _Complex`, which clang 19's fp16
        // intrinsics (pulled in by DPDK's rte_vect.h) take; nothing here uses them.
        .clang_args(["-D__AVX512FP16INTRIN_H", "-D__AVX512VLFP16INTRIN_H"])
        .allowlist_function("nfcc_dpdk_.*")
        .allowlist_function("rte_eal_init|rte_eal_cleanup|rte_strerror|rte_lcore_count|rte_socket_id")
        .allowlist_function("rte_get_main_lcore|rte_get_next_lcore|rte_eal_remote_launch|rte_eal_wait_lcore")
        .allowlist_function("rte_eth_dev_(count_avail|info_get|configure|start|stop|close|socket_id|get_name_by_port|adjust_nb_rx_tx_desc)|rte_eth_promiscuous_enable")
        .allowlist_function("rte_eth_(rx|tx)_queue_setup|rte_eth_stats_get")
        .allowlist_function("rte_pktmbuf_pool_create|rte_mempool_free|rte_mbuf_dynfield_lookup|rte_mbuf_dynflag_lookup")
        .allowlist_var("RTE_ETH_RX_OFFLOAD_TIMESTAMP|RTE_MBUF_DYNFIELD_TIMESTAMP_NAME|RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME|RTE_PKTMBUF_HEADROOM|NFCC_DPDK_HEADROOM|RTE_MAX_LCORE")
        .allowlist_type("rte_eth_rx_mq_mode")
        .opaque_type("rte_mbuf|rte_mempool|rte_eth_dev_portconf|rte_eth_switch_info")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .expect("bindgen over dpdk/bindings.h (needs libclang: LIBCLANG_PATH, scripts/setup.sh)");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("dpdk_sys.rs");
    bindings.write_to_file(&out).expect("write DPDK bindings");
}
