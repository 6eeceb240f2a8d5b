//! Rust mirror of the module ABI (`include/nfcc.h`) and of what the host shares with the
//! runtime in every module (`c/nfcc_host_api.h`).
//!
//! Invariant: every `#[repr(C)]` type and offset here matches its C twin. The C side pins
//! the same sizes and offsets with `_Static_assert`s, so a change to one side without the
//! other fails to build rather than corrupting memory at run time. The isolation pass
//! addresses the bounds block through the `BOUNDS_*` offsets below, never its own copies.

use std::ffi::{c_char, c_int, c_void};

/// `NFCC_ABI_VERSION` from `nfcc.h`: the host loads only modules built for this version.
pub const ABI_VERSION: u32 = 3;
/// `NFCC_DROP`: `nf_process` asks the host to drop the packet.
pub const DROP: c_int = -1;
/// `NFCC_FLOOD`: `nf_process` asks for a copy on every port but the input port.
pub const FLOOD: c_int = -2;
/// `NFCC__VIOLATED`: `nfcc__enter` stopped the module's call.
pub const VIOLATED: c_int = -1000;
/// `NFCC_MAX_PORTS`: the most ports a host offers a module.
pub const MAX_PORTS: u16 = 64;
/// `NFCC_RT_STATE_SIZE`: size of the runtime state page the host write-protects.
pub const RT_STATE_SIZE: usize = 4096;
/// `NFCC_HEADROOM`: bytes before a packet's data that belong to it (zeroed per call).
pub const HEADROOM: usize = 64;
/// Bytes of inaccessible guard zone the host keeps on both sides of the `mem` region (and
/// below each call stack). The isolation checks rely on it: once a pointer is known to be
/// in `mem`, accesses within `MEM_GUARD_REACH` bytes of it either land in `mem` or fault.
pub const GUARD: usize = 64 * 1024;
/// The smallest unsafe stack a host gives a module (`nfcc.stack`): `usp_top` lies at least
/// this far above `mem_lo`, so an entry point's frame (at most 32 KiB), carved right below
/// `usp_top` with no compare, lies in `mem`.
pub const MIN_UNSAFE_STACK: u64 = 64 * 1024;
/// How far (bytes, either way, access size included) from a pointer checked to be in `mem`
/// an access may reach without a check of its own.
pub const MEM_GUARD_REACH: i64 = 32 * 1024;
/// Bytes of inaccessible guard zone the host keeps *above* the `mem` region (instead of
/// `GUARD`). Address space only: nothing is committed. Once a pointer is known to be in
/// `mem`, an access at a non-negative offset the compiler can bound (an array index the
/// code masks, as `runtime-lib/ds` does) that ends within `MEM_INDEX_REACH` bytes of it
/// either lands in `mem` or faults, so it needs no compare of its own.
pub const GUARD_ABOVE_MEM: usize = 1 << 30;
/// How far above a pointer checked to be in `mem` (bytes, access size included) an access
/// at a bounded non-negative offset may end without a check of its own.
pub const MEM_INDEX_REACH: i64 = GUARD_ABOVE_MEM as i64;
/// `NFCC_SITE_KIND_BITS`: a check site word is `index << SITE_KIND_BITS | kind`.
pub const SITE_KIND_BITS: u32 = 3;

/// `struct nfcc_packet`: one packet as `nf_process` sees it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
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
    /// `nfcc_free`: 0, or -1 if the pointer is not a live block (a violation).
    pub free: extern "C" fn(*mut c_void, *mut c_void) -> c_int,
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

/// Kinds of violation (`NFCC_V_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// A load outside the module's regions.
    Read,
    /// A store outside the module's writable regions.
    Write,
    /// An indirect call to something not a function of the module.
    Call,
    /// The module's unsafe stack is exhausted.
    Stack,
    /// A hardware fault in module code (guard page, divide error, trap).
    Fault,
    /// `nfcc_free` of a pointer `nfcc_alloc` did not return.
    Free,
    /// A runtime service was handed memory outside the module's regions.
    Api,
    /// A kind this host does not know.
    Unknown(u32),
}

impl ViolationKind {
    /// Decodes `NFCC_V_*`.
    pub fn from_raw(k: u32) -> ViolationKind {
        match k {
            1 => ViolationKind::Read,
            2 => ViolationKind::Write,
            3 => ViolationKind::Call,
            4 => ViolationKind::Stack,
            5 => ViolationKind::Fault,
            6 => ViolationKind::Free,
            7 => ViolationKind::Api,
            k => ViolationKind::Unknown(k),
        }
    }

    /// The raw `NFCC_V_*` value.
    pub fn raw(self) -> u32 {
        match self {
            ViolationKind::Read => 1,
            ViolationKind::Write => 2,
            ViolationKind::Call => 3,
            ViolationKind::Stack => 4,
            ViolationKind::Fault => 5,
            ViolationKind::Free => 6,
            ViolationKind::Api => 7,
            ViolationKind::Unknown(k) => k,
        }
    }

    /// A word for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ViolationKind::Read => "read",
            ViolationKind::Write => "write",
            ViolationKind::Call => "call",
            ViolationKind::Stack => "stack overflow",
            ViolationKind::Fault => "fault",
            ViolationKind::Free => "bad free",
            ViolationKind::Api => "bad service argument",
            ViolationKind::Unknown(_) => "unknown",
        }
    }
}

/// `struct nfcc_violation`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawViolation {
    /// `NFCC_V_*`.
    pub kind: u32,
    /// Index into the module's site table, or `u32::MAX`.
    pub site: u32,
    /// Address the module tried to use.
    pub addr: u64,
    /// Bytes it tried to touch.
    pub size: u64,
}

/// The prefix of `struct nfcc_bounds` the host reads and writes (the `sigjmp_buf` after
/// it is the runtime's alone).
#[repr(C)]
pub struct Bounds {
    /// Unsafe stack + heap region start.
    pub mem_lo: u64,
    /// Its length.
    pub mem_len: u64,
    /// Unsafe stack pointer.
    pub usp: u64,
    /// Its value on entry.
    pub usp_top: u64,
    /// The descriptor `nf_process` receives.
    pub pkt: Packet,
    /// Top of the module's call stack.
    pub stack_top: u64,
    /// What stopped the last call.
    pub v: RawViolation,
    /// 1 while module code runs.
    pub running: u64,
}

/// Offset of `mem_lo` in `struct nfcc_bounds`.
pub const BOUNDS_MEM_LO: u64 = 0;
/// Offset of `mem_len`.
pub const BOUNDS_MEM_LEN: u64 = 8;
/// Offset of `usp`.
pub const BOUNDS_USP: u64 = 16;
/// Offset of `pkt` (the packet descriptor).
pub const BOUNDS_PKT: u64 = 32;
const _: () = assert!(std::mem::offset_of!(Bounds, pkt) == BOUNDS_PKT as usize);
const _: () = assert!(std::mem::offset_of!(Bounds, usp) == BOUNDS_USP as usize);
const _: () = assert!(std::mem::offset_of!(Bounds, stack_top) == 56);
const _: () = assert!(std::mem::offset_of!(Bounds, v) == 64);
const _: () = assert!(std::mem::offset_of!(Bounds, running) == 88);
/// Offset of `data` in `struct nfcc_packet`.
pub const PACKET_DATA: u64 = 0;
/// Offset of `len` in `struct nfcc_packet`.
pub const PACKET_LEN: u64 = 8;

/// `struct nfcc_site`: where a check sits in the module's source.
#[repr(C)]
pub struct RawSite {
    /// Function name (NUL-terminated).
    pub function: *const c_char,
    /// Source file (NUL-terminated).
    pub file: *const c_char,
    /// Source line, 0 if unknown.
    pub line: u32,
    /// `NFCC_V_*`.
    pub kind: u32,
}

/// Symbol of the module's ABI version (a `const uint32_t`).
pub const SYM_ABI_VERSION: &str = "nfcc_abi_version";
/// Symbol of the module's protection mode (a `const uint32_t`: 0 none, 1 wonly, 2 rw).
pub const SYM_PROTECTION: &str = "nfcc_protection";
/// `struct nfcc_bounds *nfcc__bind(const struct nfcc_host_api *, void **state)`.
pub const SYM_BIND: &str = "nfcc__bind";
/// `int nfcc__enter(void)`: runs `nf_process` on the packet in the bounds block.
pub const SYM_ENTER: &str = "nfcc__enter";
/// `uint32_t nfcc__enter_burst(const struct nfcc_packet *pkts, int *verdicts, uint32_t n)`:
/// runs `nf_process` on each packet in turn in one entry; returns the verdicts written (`n`,
/// or `k + 1` when a violation stopped packet `k`). Modules of older builds lack it (the
/// host then enters once per packet).
pub const SYM_ENTER_BURST: &str = "nfcc__enter_burst";
/// `int nfcc__enter_init(void)`: runs `nf_init`.
pub const SYM_ENTER_INIT: &str = "nfcc__enter_init";
/// `void nfcc__fault(uint64_t addr)`: called by the host's signal handler; never returns.
pub const SYM_FAULT: &str = "nfcc__fault";
/// The site table the isolation pass emits (`const struct nfcc_site[]`).
pub const SYM_SITES: &str = "nfcc__sites";
/// Number of entries in it (a `const uint32_t`).
pub const SYM_NSITES: &str = "nfcc__nsites";
/// The NF's optional init entry point: `int nf_init(void)`.
pub const SYM_INIT: &str = "nf_init";
/// The NF's packet entry point: `int nf_process(const struct nfcc_packet *)`.
pub const SYM_PROCESS: &str = "nf_process";
/// The runtime's slow-path check: `void nfcc__check(uint64_t addr, uint64_t size, uint32_t site)`.
pub const SYM_CHECK: &str = "nfcc__check";
/// The runtime's violation exit: `void nfcc__violation(uint32_t site, uint64_t addr)`.
pub const SYM_VIOLATION: &str = "nfcc__violation";
/// `void *nfcc_heap_check(const void *p)` (`nfcc.h`): compiled in place by nfcc, never
/// linked (`nfcc_passes::isolate` makes it a compare, `ElideHeapChecks` the identity).
pub const SYM_HEAP_CHECK: &str = "nfcc_heap_check";
/// The bounds block (`struct nfcc_bounds`, hidden in the module).
pub const SYM_BOUNDS: &str = "nfcc__bounds";
/// Every symbol a module exports; the linker hides the rest.
pub const EXPORTED_SYMBOLS: [&str; 11] = [
    SYM_ABI_VERSION,
    SYM_PROTECTION,
    SYM_BIND,
    SYM_ENTER,
    SYM_ENTER_BURST,
    SYM_ENTER_INIT,
    SYM_FAULT,
    SYM_SITES,
    SYM_NSITES,
    SYM_INIT,
    SYM_PROCESS,
];
/// The runtime services a module may call (`nfcc.h`), besides the ones the pass inserts.
pub const RUNTIME_SERVICES: [&str; 6] =
    ["nfcc_alloc", "nfcc_free", "nfcc_config_str", "nfcc_config_u64", "nfcc_port_count", "nfcc_log"];

/// `nfcc.h`, the header NF authors include.
pub const HEADER_NFCC_H: &str = include_str!("../include/nfcc.h");
/// `nfcc_host_api.h`, internal to the runtime.
pub const HEADER_HOST_API_H: &str = include_str!("../c/nfcc_host_api.h");
/// `nfcc_rt.c`, the runtime linked into every module.
pub const RUNTIME_C: &str = include_str!("../c/nfcc_rt.c");
/// `nfcc_hash.c`, the key hash `nfcc_rt.c` includes (the data-structure library's tests
/// link it too).
pub const RUNTIME_HASH_C: &str = include_str!("../c/nfcc_hash.c");
