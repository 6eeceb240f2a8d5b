//! Rust mirror of the module ABI (`include/nfcc.h`) and of the host-service table
//! (`c/nfcc_host_api.h`).
//!
//! Invariant: every `#[repr(C)]` type here matches its C twin field for field. The C side
//! pins the same sizes with `_Static_assert`s, so a change to one side without the other
//! fails to build rather than corrupting memory at run time.

use std::ffi::{c_char, c_int, c_void};

/// `NFCC_ABI_VERSION` from `nfcc.h`: the host loads only modules built for this version.
pub const ABI_VERSION: u32 = 1;
/// `NFCC_DROP`: `nf_process` asks the host to drop the packet.
pub const DROP: c_int = -1;
/// `NFCC_FLOOD`: `nf_process` asks for a copy on every port but the input port.
pub const FLOOD: c_int = -2;
/// `NFCC_MAX_PORTS`: the most ports a host offers a module.
pub const MAX_PORTS: u16 = 64;
/// `NFCC_RT_STATE_SIZE`: size of the runtime state page the host write-protects.
pub const RT_STATE_SIZE: usize = 4096;

/// `struct nfcc_packet`: one packet as `nf_process` sees it.
#[repr(C)]
#[derive(Debug)]
pub struct Packet {
    /// First byte of the Ethernet frame.
    pub data: *mut u8,
    /// Bytes in the frame.
    pub len: u32,
    /// Input port.
    pub port: u16,
    /// Always zero.
    pub pad: u16,
    /// Arrival time in ns since the Unix epoch.
    pub time_ns: u64,
}
const _: () = assert!(std::mem::size_of::<Packet>() == 24);

/// `struct nfcc_host_api`: the services the module's runtime forwards to the host.
#[repr(C)]
pub struct HostApi {
    /// The host's `NFCC_ABI_VERSION`.
    pub abi_version: u32,
    /// `size_of::<HostApi>()`, checked by the module's runtime.
    pub size: u32,
    /// The host's handle for this module instance, passed back on every call.
    pub ctx: *mut c_void,
    /// `nfcc_alloc`.
    pub alloc: extern "C" fn(*mut c_void, usize) -> *mut c_void,
    /// `nfcc_free`.
    pub free: extern "C" fn(*mut c_void, *mut c_void),
    /// `nfcc_config_str`.
    pub config_str: extern "C" fn(*mut c_void, *const c_char, *const c_char) -> *const c_char,
    /// `nfcc_config_u64`.
    pub config_u64: extern "C" fn(*mut c_void, *const c_char, u64, u64, u64) -> u64,
    /// `nfcc_port_count`.
    pub port_count: extern "C" fn(*mut c_void) -> u16,
    /// `nfcc_log`.
    pub log: extern "C" fn(*mut c_void, *const c_char),
}
const _: () = assert!(std::mem::size_of::<HostApi>() == 64);

/// Symbol of the module's ABI version (a `const uint32_t`).
pub const SYM_ABI_VERSION: &str = "nfcc_abi_version";
/// Symbol of the runtime's bind function: `void *nfcc__bind(const struct nfcc_host_api *)`.
pub const SYM_BIND: &str = "nfcc__bind";
/// Symbol of the NF's optional init entry point: `int nf_init(void)`.
pub const SYM_INIT: &str = "nf_init";
/// Symbol of the NF's packet entry point: `int nf_process(struct nfcc_packet *)`.
pub const SYM_PROCESS: &str = "nf_process";
/// Every symbol a module exports; the linker hides the rest.
pub const EXPORTED_SYMBOLS: [&str; 4] = [SYM_ABI_VERSION, SYM_BIND, SYM_INIT, SYM_PROCESS];

/// `nfcc.h`, the header NF authors include.
pub const HEADER_NFCC_H: &str = include_str!("../include/nfcc.h");
/// `nfcc_host_api.h`, internal to the runtime.
pub const HEADER_HOST_API_H: &str = include_str!("../c/nfcc_host_api.h");
/// `nfcc_rt.c`, the runtime linked into every module.
pub const RUNTIME_C: &str = include_str!("../c/nfcc_rt.c");
