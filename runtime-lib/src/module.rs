//! Loading one NF module into the host: checks, binding the runtime, `nf_init`, and the
//! host side of every service in `nfcc.h`.
//!
//! Invariants:
//! - Each `Module` is a private copy of its shared object (loaded from its own temporary
//!   file), so the same `.so` twice in a chain gives two instances with separate globals.
//! - The host-service table and the module's context stay at fixed addresses (boxed) for
//!   the module's life; the runtime's pointer to the table sits in a page the host makes
//!   read-only right after binding.
//! - The context is reached only through a raw pointer, never a Rust reference held
//!   across a call into the module, because module code calls back into it.
//! - Module code runs only inside `fault::contain` (a fault becomes a violation) and only
//!   through the runtime's `nfcc__enter*` (its own stacks, a `sigsetjmp` point). After a
//!   violation the module is quarantined: it never runs again.
//! - A burst (`process_burst`) means exactly what as many `process_raw` calls in a row
//!   would: one entry into the module for all of them, each call on exactly its packet.

use crate::abi::{self, Bounds, HostApi, Packet, RawSite, ViolationKind};
use crate::config::{self, ConfigError, Setting};
use crate::fault::{self, FaultFn, HostCode};
use crate::memory::ModuleMemory;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};

/// Heap reserved for a module unless it sets `nfcc.heap`.
pub const DEFAULT_HEAP: u64 = 256 << 20;
/// Size of each of a module's two stacks unless it sets `nfcc.stack`.
pub const DEFAULT_STACK: u64 = 1 << 20;

/// Protection compiled into a module (`nfcc build --protect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// No checks.
    None,
    /// Stores checked.
    WriteOnly,
    /// Loads and stores checked.
    ReadWrite,
}

impl Protection {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protection::None => "none",
            Protection::WriteOnly => "wonly",
            Protection::ReadWrite => "rw",
        }
    }
}

/// A violation: what a module tried, where in its source, and on which packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What kind of access or event.
    pub kind: ViolationKind,
    /// Address the module tried to use.
    pub addr: u64,
    /// Bytes it tried to touch (0 if not an access).
    pub size: u64,
    /// Function and source line of the check that caught it, when known.
    pub site: Option<Site>,
}

/// A place in the module's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Function name.
    pub function: String,
    /// Source file.
    pub file: String,
    /// Line, 0 if unknown.
    pub line: u32,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} violation at {:#x}", self.kind.describe(), self.addr)?;
        match self.size {
            0 => {}
            1 => write!(f, " (1 byte)")?,
            n => write!(f, " ({n} bytes)")?,
        }
        match &self.site {
            Some(s) if s.line > 0 => write!(f, " in {} ({}:{})", s.function, s.file, s.line),
            Some(s) => write!(f, " in {} ({})", s.function, s.file),
            None => Ok(()),
        }
    }
}

/// What the user asked for: a module path and the settings written after it.
#[derive(Debug, Clone)]
pub struct ModuleSpec {
    /// Path of the `.so` built by `nfcc build`.
    pub path: PathBuf,
    /// `KEY=VALUE` settings for this module, in command-line order.
    pub settings: Vec<Setting>,
}

/// Why a module could not be loaded or initialised.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{}: cannot read module: {source}", path.display())]
    Read {
        /// Module path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not a shared object, or the dynamic loader refused it.
    #[error("{}: cannot load module: {reason}", path.display())]
    Dlopen {
        /// Module path.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The shared object was not built by `nfcc build`.
    #[error("{}: not an nfcc module (no `{symbol}` symbol); build it with `nfcc build`", path.display())]
    NotAModule {
        /// Module path.
        path: PathBuf,
        /// The missing symbol.
        symbol: &'static str,
    },
    /// Built against another version of `nfcc.h`.
    #[error("{}: module was built for ABI version {module}, this host runs version {host}; rebuild it with this nfcc", path.display())]
    AbiMismatch {
        /// Module path.
        path: PathBuf,
        /// The module's `nfcc_abi_version`.
        module: u32,
        /// The host's version.
        host: u32,
    },
    /// No `nf_process`.
    #[error("{}: module lacks the entry point `int nf_process(struct nfcc_packet *)`", path.display())]
    NoProcess {
        /// Module path.
        path: PathBuf,
    },
    /// A setting was malformed, unknown, or refused.
    #[error("{}: {reason}", path.display())]
    Setting {
        /// Module path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The heap could not be reserved.
    #[error("{}: cannot reserve a heap of {size} bytes: {source}", path.display())]
    Heap {
        /// Module path.
        path: PathBuf,
        /// Requested size.
        size: u64,
        /// The OS error.
        source: std::io::Error,
    },
    /// `nf_init` was stopped by a violation.
    #[error("{}: nf_init stopped: {violation}", path.display())]
    InitViolation {
        /// Module path.
        path: PathBuf,
        /// What it did.
        violation: Violation,
    },
    /// `nf_init` returned non-zero.
    #[error("{}: nf_init failed (returned {code})", path.display())]
    InitFailed {
        /// Module path.
        path: PathBuf,
        /// Its return value.
        code: i32,
    },
}

/// Per-module packet counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModuleStats {
    /// Packets handed to `nf_process`.
    pub received: u64,
    /// Packets sent to a port (a flood counts once).
    pub forwarded: u64,
    /// Packets the module dropped (`NFCC_DROP`).
    pub dropped: u64,
    /// Packets dropped because `nf_process` returned neither a valid port nor a verdict.
    pub bad_verdict: u64,
    /// Packets stopped by a violation (at most one: the module is then quarantined).
    pub violations: u64,
    /// Packets dropped without being offered because the module is quarantined.
    pub quarantined: u64,
}

/// What `nf_process` decided for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it out of this port.
    Port(u16),
    /// Send a copy out of every port but the input port.
    Flood,
    /// Drop it (asked for, or the module returned something invalid).
    Drop,
    /// The module was stopped by a violation (and is now quarantined); drop the packet.
    Violation,
}

/// The host's state for one module, reachable from the service callbacks.
struct Ctx {
    name: String,
    memory: ModuleMemory,
    n_ports: u16,
    /// The module's own settings with their values as C strings.
    settings: Vec<(Setting, CString)>,
    /// Keys the module asked for, in first-asked order.
    asked: Vec<String>,
    /// Setting errors found while `nf_init` ran.
    errors: Vec<ConfigError>,
    in_init: bool,
}

/// `nfcc__enter_burst`: runs `nf_process` on `n` descriptors, writes their results; returns
/// how many it wrote.
type EnterBurstFn = unsafe extern "C" fn(*const Packet, *mut c_int, u32) -> u32;

/// A loaded, initialised module.
pub struct Module {
    name: String,
    handle: *mut c_void,
    enter: unsafe extern "C" fn() -> c_int,
    /// `None` for modules of builds before the burst entry: they are entered per packet.
    enter_burst: Option<EnterBurstFn>,
    /// What `nfcc__enter_burst` wrote for the last burst.
    raw_verdicts: Vec<c_int>,
    fault: FaultFn,
    bounds: *mut Bounds,
    sites: &'static [RawSite],
    protection: Protection,
    ctx: *mut Ctx,
    _api: Box<HostApi>,
    quarantine: Option<Violation>,
    /// Packet counters, updated by `process`.
    stats: ModuleStats,
}

impl Module {
    /// Loads `spec`, binds its runtime, and runs `nf_init`. `name` labels its messages.
    pub fn load(spec: &ModuleSpec, name: &str, n_ports: u16) -> Result<Module, LoadError> {
        let path = &spec.path;
        let setting_err = |reason: String| LoadError::Setting { path: path.clone(), reason };

        let mut heap_size = DEFAULT_HEAP;
        let mut stack_size = DEFAULT_STACK;
        let mut own = Vec::new();
        for s in &spec.settings {
            if let Some(host_key) = s.key.strip_prefix(config::HOST_PREFIX) {
                let (slot, min) = match host_key {
                    "heap" => (&mut heap_size, 4096),
                    "stack" => (&mut stack_size, abi::MIN_UNSAFE_STACK),
                    _ => {
                        return Err(setting_err(format!(
                            "unknown host setting `{}` (host settings: nfcc.heap, nfcc.stack)",
                            s.key
                        )))
                    }
                };
                *slot = config::parse_u64_in(s, min, 1 << 40).map_err(|e| setting_err(e.to_string()))?;
            } else {
                if own.iter().any(|(o, _): &(Setting, CString)| o.key == s.key) {
                    return Err(setting_err(format!("setting `{}` given twice", s.key)));
                }
                let c = CString::new(s.value.clone())
                    .map_err(|_| setting_err(format!("{}: value contains a NUL byte", s.key)))?;
                own.push((s.clone(), c));
            }
        }

        let handle = dlopen_private_copy(path)?;
        let mut guard = LoadGuard { handle };
        let not_module = |symbol| LoadError::NotAModule { path: path.clone(), symbol };
        let abi_sym = dlsym(handle, abi::SYM_ABI_VERSION).ok_or(not_module(abi::SYM_ABI_VERSION))?;
        // SAFETY: nfcc_abi_version is a `const uint32_t` in every nfcc module.
        let version = unsafe { *(abi_sym as *const u32) };
        if version != abi::ABI_VERSION {
            return Err(LoadError::AbiMismatch {
                path: path.clone(),
                module: version,
                host: abi::ABI_VERSION,
            });
        }
        dlsym(handle, abi::SYM_PROCESS).ok_or(LoadError::NoProcess { path: path.clone() })?;
        let sym = |name: &'static str| dlsym(handle, name).ok_or(not_module(name));
        let bind = sym(abi::SYM_BIND)?;
        let enter = sym(abi::SYM_ENTER)?;
        let enter_init = sym(abi::SYM_ENTER_INIT)?;
        let enter_burst = dlsym(handle, abi::SYM_ENTER_BURST);
        let fault = sym(abi::SYM_FAULT)?;
        // SAFETY: a `const uint32_t` in every module.
        let protection = match unsafe { *(sym(abi::SYM_PROTECTION)? as *const u32) } {
            0 => Protection::None,
            1 => Protection::WriteOnly,
            _ => Protection::ReadWrite,
        };
        let sites: &'static [RawSite] = match (dlsym(handle, abi::SYM_SITES), dlsym(handle, abi::SYM_NSITES)) {
            // SAFETY: the pass emits a constant array of `n` sites; it lives as long as the
            // module's mapping, which outlives every use (sites are decoded before dlclose).
            (Some(t), Some(n)) => unsafe { std::slice::from_raw_parts(t as *const RawSite, *(n as *const u32) as usize) },
            _ => &[],
        };

        let memory = ModuleMemory::reserve(heap_size as usize, stack_size as usize)
            .map_err(|source| LoadError::Heap { path: path.clone(), size: heap_size, source })?;
        let ctx = Box::into_raw(Box::new(Ctx {
            name: name.to_string(),
            memory,
            n_ports,
            settings: own,
            asked: Vec::new(),
            errors: Vec::new(),
            in_init: true,
        }));
        let api = Box::new(HostApi {
            abi_version: abi::ABI_VERSION,
            size: std::mem::size_of::<HostApi>() as u32,
            ctx: ctx.cast(),
            alloc: host_alloc,
            free: host_free,
            config_str: host_config_str,
            config_u64: host_config_u64,
            port_count: host_port_count,
            log: host_log,
        });
        // SAFETY: the symbols have these C signatures in the runtime of every module.
        let (bind, enter, enter_init, fault) = unsafe {
            (
                std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*const HostApi, *mut *mut c_void) -> *mut Bounds>(bind),
                std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> c_int>(enter),
                std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> c_int>(enter_init),
                std::mem::transmute::<*mut c_void, FaultFn>(fault),
            )
        };
        // SAFETY: the runtime defines it with this C signature.
        let enter_burst = enter_burst.map(|p| unsafe { std::mem::transmute::<*mut c_void, EnterBurstFn>(p) });
        let mut m = Module {
            name: name.to_string(),
            handle: std::mem::replace(&mut guard.handle, std::ptr::null_mut()),
            enter,
            enter_burst,
            raw_verdicts: Vec::new(),
            fault,
            bounds: std::ptr::null_mut(),
            sites,
            protection,
            ctx,
            _api: api,
            quarantine: None,
            stats: ModuleStats::default(),
        };

        let mut page: *mut c_void = std::ptr::null_mut();
        // SAFETY: binding hands the runtime our table; it returns its bounds block.
        m.bounds = unsafe { bind(&*m._api, &mut page) };
        if m.bounds.is_null() || page.is_null() || (page as usize) % abi::RT_STATE_SIZE != 0 {
            return Err(not_module(abi::SYM_BIND));
        }
        // SAFETY: the page is the runtime's own, page-aligned and page-sized state object.
        if unsafe { libc::mprotect(page, abi::RT_STATE_SIZE, libc::PROT_READ) } != 0 {
            return Err(LoadError::Dlopen {
                path: path.clone(),
                reason: format!("cannot protect runtime state: {}", std::io::Error::last_os_error()),
            });
        }
        // SAFETY: no module code runs; the bounds block is the runtime's, written by us only.
        unsafe {
            let mem = &(*m.ctx).memory;
            let b = &mut *m.bounds;
            b.mem_lo = mem.mem_lo();
            b.mem_len = mem.mem_len();
            b.usp_top = mem.usp_top();
            b.usp = b.usp_top;
            b.stack_top = mem.stack_top();
        }

        let code = fault::contain(m.fault, || unsafe { enter_init() });
        // SAFETY: no module code is running now.
        let ctx = unsafe { &mut *m.ctx };
        ctx.in_init = false;
        if code == abi::VIOLATED {
            return Err(LoadError::InitViolation { path: path.clone(), violation: m.last_violation() });
        }
        if let Some(e) = ctx.errors.first() {
            return Err(setting_err(e.to_string()));
        }
        if let Some((unknown, _)) = ctx.settings.iter().find(|(s, _)| !ctx.asked.contains(&s.key)) {
            let known = if ctx.asked.is_empty() {
                "it reads no settings".to_string()
            } else {
                format!("it reads: {}", ctx.asked.join(", "))
            };
            return Err(setting_err(format!("unknown setting `{}` ({known})", unknown.key)));
        }
        if code != 0 {
            return Err(LoadError::InitFailed { path: path.clone(), code });
        }
        Ok(m)
    }

    /// The violation the runtime recorded for the last stopped call.
    fn last_violation(&self) -> Violation {
        // SAFETY: no module code runs; the runtime wrote the record before returning.
        let v = unsafe { (*self.bounds).v };
        let site = self.sites.get(v.site as usize).map(|s| {
            let text = |p: *const c_char| {
                if p.is_null() {
                    String::new()
                } else {
                    // SAFETY: the pass emits NUL-terminated constant strings.
                    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
                }
            };
            Site { function: text(s.function), file: text(s.file), line: s.line }
        });
        Violation { kind: ViolationKind::from_raw(v.kind), addr: v.addr, size: v.size, site }
    }

    /// The protection the module was built with.
    pub fn protection(&self) -> Protection {
        self.protection
    }

    /// Why the module is quarantined, if it is.
    pub fn quarantined(&self) -> Option<&Violation> {
        self.quarantine.as_ref()
    }

    /// The address of `name` in this instance, if the module exports it (modules export
    /// only the ABI; `nfcc check` reads a tracing variant's counters through this between
    /// calls, never while module code runs).
    pub fn symbol(&self, name: &str) -> Option<*mut c_void> {
        dlsym(self.handle, name)
    }

    /// The label used in messages and reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `nf_process` on the packet in `buf` and updates the counters. A quarantined
    /// module is not run: the packet is dropped.
    pub fn process(&mut self, buf: &mut PacketBuf, port: u16, time_ns: u64) -> Verdict {
        let len = buf.len;
        // SAFETY: the buffer holds HEADROOM bytes, then exactly `len` bytes of frame.
        unsafe { self.process_raw(buf.data_ptr(), len, port, time_ns) }
    }

    /// Runs `nf_process` on the frame at `data[0..len)`, zeroing the `abi::HEADROOM` bytes
    /// before it first (they belong to the packet's region too), and updates the counters.
    /// The host's packet buffers of every kind (pcap, DPDK mbufs) come through here.
    ///
    /// # Safety
    /// `data - HEADROOM .. data + len` is writable memory of one buffer that nothing else
    /// reads or writes during the call, and holds no host state: the module may rewrite it.
    pub unsafe fn process_raw(&mut self, data: *mut u8, len: u32, port: u16, time_ns: u64) -> Verdict {
        if self.quarantine.is_some() {
            self.stats.quarantined += 1;
            return Verdict::Drop;
        }
        self.stats.received += 1;
        // SAFETY: the caller guarantees the headroom is the packet's.
        unsafe { std::ptr::write_bytes(data.sub(abi::HEADROOM), 0, abi::HEADROOM) };
        // SAFETY: no module code runs; only the host writes the descriptor.
        unsafe {
            (*self.bounds).pkt = Packet { data, len, port, pad: 0, time_ns };
        }
        let enter = self.enter;
        // SAFETY: the runtime's entry point; faults are contained.
        let rc = fault::contain(self.fault, || unsafe { enter() });
        self.verdict(rc)
    }

    /// Runs `nf_process` on every packet of `pkts` in order (each `data` with `abi::HEADROOM`
    /// bytes before it, zeroed before its call) and puts one verdict per packet in
    /// `verdicts`, exactly as `process_raw` on each in turn would, with one entry into the
    /// module for the whole burst. A violation on packet k stops the burst there: k's
    /// verdict is `Violation`, the module is quarantined, and the packets after k are
    /// dropped as a quarantined module's are (never offered to it); the verdicts before k
    /// stand.
    ///
    /// # Safety
    /// Each `pkts[i]` satisfies `process_raw`'s contract for its `data` and `len`, and no two
    /// of them share a buffer.
    pub unsafe fn process_burst(&mut self, pkts: &[Packet], verdicts: &mut Vec<Verdict>) {
        verdicts.clear();
        let n = pkts.len();
        if n == 0 {
            return;
        }
        let Some(enter_burst) = self.enter_burst.filter(|_| self.quarantine.is_none()) else {
            for p in pkts {
                // SAFETY: the caller's guarantee, packet by packet.
                verdicts.push(unsafe { self.process_raw(p.data, p.len, p.port, p.time_ns) });
            }
            return;
        };
        let n32 = u32::try_from(n).expect("a burst holds fewer than 2^32 packets");
        let mut raw = std::mem::take(&mut self.raw_verdicts);
        raw.clear();
        raw.resize(n, 0);
        let out = raw.as_mut_ptr();
        // SAFETY: the runtime's entry point reads n descriptors and writes at most n
        // verdicts; the packets' buffers are the caller's guarantee; faults are contained.
        let done = fault::contain(self.fault, || unsafe { enter_burst(pkts.as_ptr(), out, n32) }) as usize;
        let done = done.min(n);
        self.stats.received += done as u64;
        // SAFETY: the module returned; nothing else holds the context.
        let n_ports = c_int::from(unsafe { (*self.ctx).n_ports });
        let mut forwarded = 0u64;
        verdicts.extend(raw[..done].iter().map(|&rc| {
            // A port, the common case, counted here; every other result as `verdict` says.
            if rc >= 0 && rc < n_ports {
                forwarded += 1;
                Verdict::Port(rc as u16)
            } else {
                self.verdict(rc)
            }
        }));
        self.stats.forwarded += forwarded;
        self.raw_verdicts = raw;
        if done < n {
            debug_assert!(self.quarantine.is_some(), "the runtime stops a burst only on a violation");
            self.stats.quarantined += (n - done) as u64;
            verdicts.resize(n, Verdict::Drop);
        }
    }

    /// The verdict of one `nf_process` result (`abi::VIOLATED`: the call was stopped, the
    /// module is quarantined), counted.
    fn verdict(&mut self, rc: c_int) -> Verdict {
        // SAFETY: the module returned; nothing else holds the context.
        let n_ports = unsafe { (*self.ctx).n_ports };
        match rc {
            abi::DROP => {
                self.stats.dropped += 1;
                Verdict::Drop
            }
            abi::VIOLATED => {
                self.stats.violations += 1;
                self.quarantine = Some(self.last_violation());
                Verdict::Violation
            }
            abi::FLOOD => {
                self.stats.forwarded += 1;
                Verdict::Flood
            }
            p if p >= 0 && p < n_ports as c_int => {
                self.stats.forwarded += 1;
                Verdict::Port(p as u16)
            }
            _ => {
                self.stats.bad_verdict += 1;
                Verdict::Drop
            }
        }
    }

    /// Snapshot of the counters.
    pub fn stats(&self) -> ModuleStats {
        self.stats
    }
}

/// A packet buffer as modules see it: `HEADROOM` bytes that belong to the packet (zeroed
/// before every call), then exactly the frame.
pub struct PacketBuf {
    storage: Vec<u8>,
    /// Bytes of the frame.
    pub len: u32,
}

impl PacketBuf {
    /// A buffer holding a copy of `frame`.
    pub fn from_frame(frame: &[u8]) -> PacketBuf {
        let mut b = PacketBuf { storage: Vec::new(), len: 0 };
        b.set(frame);
        b
    }

    /// Replaces the frame with a copy of `frame`.
    pub fn set(&mut self, frame: &[u8]) {
        self.storage.resize(abi::HEADROOM, 0);
        self.storage.extend_from_slice(frame);
        self.len = frame.len() as u32;
    }

    /// The frame.
    pub fn frame(&self) -> &[u8] {
        &self.storage[abi::HEADROOM..abi::HEADROOM + self.len as usize]
    }

    /// The first byte of the frame (`HEADROOM` bytes of the buffer come before it).
    pub(crate) fn data_ptr(&mut self) -> *mut u8 {
        self.storage[abi::HEADROOM..].as_mut_ptr()
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: the module's code is gone before its heap and context are freed.
        unsafe {
            if !self.handle.is_null() {
                libc::dlclose(self.handle);
            }
            drop(Box::from_raw(self.ctx));
        }
    }
}

/// Closes a half-loaded module on an early error return.
struct LoadGuard {
    handle: *mut c_void,
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        if !self.handle.is_null() {
            // SAFETY: handle came from dlopen and nothing of it is in use.
            unsafe { libc::dlclose(self.handle) };
        }
    }
}

fn dlerror_string() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown loader error".into()
    } else {
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

/// dlopen()s a private copy of `path`, so every instance has its own globals.
fn dlopen_private_copy(path: &Path) -> Result<*mut c_void, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: path.into(), source })?;
    if !bytes.starts_with(b"\x7fELF") {
        return Err(LoadError::Dlopen {
            path: path.into(),
            reason: "not a shared object (no ELF header); build modules with `nfcc build`".into(),
        });
    }
    let stem = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!("nfcc-{stem}-"))
        .suffix(".so")
        .tempfile()
        .map_err(|source| LoadError::Read { path: path.into(), source })?;
    std::fs::write(tmp.path(), &bytes).map_err(|source| LoadError::Read { path: path.into(), source })?;
    let c = CString::new(tmp.path().as_os_str().as_encoded_bytes()).expect("temp path has no NUL");
    // SAFETY: loading a shared object; its constructors run here.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        let reason = dlerror_string().replace(&tmp.path().display().to_string(), &path.display().to_string());
        return Err(LoadError::Dlopen { path: path.into(), reason });
    }
    Ok(h)
}

fn dlsym(handle: *mut c_void, name: &str) -> Option<*mut c_void> {
    let c = CString::new(name).expect("symbol names have no NUL");
    // SAFETY: handle is a live dlopen handle.
    let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// # Safety
/// `ctx` is the `Ctx` the host registered in this module's table.
unsafe fn ctx<'a>(ctx: *mut c_void) -> &'a mut Ctx {
    &mut *(ctx as *mut Ctx)
}

unsafe fn key_str<'a>(key: *const c_char) -> &'a str {
    if key.is_null() {
        return "";
    }
    CStr::from_ptr(key).to_str().unwrap_or("")
}

extern "C" fn host_alloc(c: *mut c_void, size: usize) -> *mut c_void {
    let _host = HostCode::enter();
    // SAFETY: called by the runtime with its bound context.
    let c = unsafe { ctx(c) };
    c.memory.heap.alloc(size).map_or(std::ptr::null_mut(), |p| p.cast())
}

extern "C" fn host_free(c: *mut c_void, ptr: *mut c_void) -> c_int {
    let _host = HostCode::enter();
    let c = unsafe { ctx(c) };
    match c.memory.heap.free(ptr as usize) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

impl Ctx {
    fn lookup(&mut self, key: &str) -> Option<usize> {
        if !self.in_init {
            eprintln!("[{}] setting `{key}` read outside nf_init: the default is used", self.name);
            return None;
        }
        if !self.asked.iter().any(|k| k == key) {
            self.asked.push(key.to_string());
        }
        self.settings.iter().position(|(s, _)| s.key == key)
    }
}

extern "C" fn host_config_str(c: *mut c_void, key: *const c_char, def: *const c_char) -> *const c_char {
    let _host = HostCode::enter();
    let c = unsafe { ctx(c) };
    let key = unsafe { key_str(key) };
    let Some(i) = c.lookup(key) else { return def };
    // The module may only read its own memory: hand it a copy in its heap.
    let value = c.settings[i].1.as_bytes_with_nul();
    match c.memory.heap.alloc(value.len()) {
        Some(p) => {
            // SAFETY: p is a fresh block of value.len() bytes.
            unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), p, value.len()) };
            p as *const c_char
        }
        None => def,
    }
}

extern "C" fn host_config_u64(c: *mut c_void, key: *const c_char, def: u64, min: u64, max: u64) -> u64 {
    let _host = HostCode::enter();
    let c = unsafe { ctx(c) };
    let key = unsafe { key_str(key) };
    let Some(i) = c.lookup(key) else { return def };
    match config::parse_u64_in(&c.settings[i].0, min, max) {
        Ok(v) => v,
        Err(e) => {
            c.errors.push(e);
            def
        }
    }
}

extern "C" fn host_port_count(c: *mut c_void) -> u16 {
    unsafe { ctx(c) }.n_ports
}

extern "C" fn host_log(c: *mut c_void, msg: *const c_char) {
    let _host = HostCode::enter();
    let c = unsafe { ctx(c) };
    if msg.is_null() {
        return;
    }
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    eprintln!("[{}] {text}", c.name);
}
