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

use crate::abi::{self, HostApi, Packet};
use crate::config::{self, ConfigError, Setting};
use crate::heap::Heap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};

/// Heap reserved for a module unless it sets `nfcc.heap`.
pub const DEFAULT_HEAP: u64 = 256 << 20;

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
    /// `nfcc_free` calls with a pointer that was not a live block.
    pub bad_frees: u64,
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
}

/// The host's state for one module, reachable from the service callbacks.
struct Ctx {
    name: String,
    heap: Heap,
    n_ports: u16,
    /// The module's own settings with their values as C strings.
    settings: Vec<(Setting, CString)>,
    /// Keys the module asked for, in first-asked order.
    asked: Vec<String>,
    /// Setting errors found while `nf_init` ran.
    errors: Vec<ConfigError>,
    in_init: bool,
    bad_frees: u64,
}

/// A loaded, initialised module.
pub struct Module {
    name: String,
    path: PathBuf,
    handle: *mut c_void,
    process: unsafe extern "C" fn(*mut Packet) -> c_int,
    ctx: *mut Ctx,
    _api: Box<HostApi>,
    /// Packet counters, updated by `process`.
    pub stats: ModuleStats,
}

impl Module {
    /// Loads `spec`, binds its runtime, and runs `nf_init`. `name` labels its messages.
    pub fn load(spec: &ModuleSpec, name: &str, n_ports: u16) -> Result<Module, LoadError> {
        let path = &spec.path;
        let setting_err = |reason: String| LoadError::Setting { path: path.clone(), reason };

        let mut heap_size = DEFAULT_HEAP;
        let mut own = Vec::new();
        for s in &spec.settings {
            if let Some(host_key) = s.key.strip_prefix(config::HOST_PREFIX) {
                match host_key {
                    "heap" => {
                        heap_size = config::parse_u64_in(s, 4096, 1 << 40)
                            .map_err(|e| setting_err(e.to_string()))?
                    }
                    _ => {
                        return Err(setting_err(format!(
                            "unknown host setting `{}` (host settings: nfcc.heap)",
                            s.key
                        )))
                    }
                }
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
        let mut module = LoadGuard { handle };
        let abi_sym = dlsym(handle, abi::SYM_ABI_VERSION)
            .ok_or(LoadError::NotAModule { path: path.clone(), symbol: abi::SYM_ABI_VERSION })?;
        // SAFETY: nfcc_abi_version is a `const uint32_t` in every nfcc module.
        let version = unsafe { *(abi_sym as *const u32) };
        if version != abi::ABI_VERSION {
            return Err(LoadError::AbiMismatch {
                path: path.clone(),
                module: version,
                host: abi::ABI_VERSION,
            });
        }
        let bind = dlsym(handle, abi::SYM_BIND)
            .ok_or(LoadError::NotAModule { path: path.clone(), symbol: abi::SYM_BIND })?;
        let process = dlsym(handle, abi::SYM_PROCESS)
            .ok_or(LoadError::NoProcess { path: path.clone() })?;
        let init = dlsym(handle, abi::SYM_INIT);

        let heap = Heap::reserve(heap_size as usize).map_err(|source| LoadError::Heap {
            path: path.clone(),
            size: heap_size,
            source,
        })?;
        let ctx = Box::into_raw(Box::new(Ctx {
            name: name.to_string(),
            heap,
            n_ports,
            settings: own,
            asked: Vec::new(),
            errors: Vec::new(),
            in_init: true,
            bad_frees: 0,
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
        let mut m = Module {
            name: name.to_string(),
            path: path.clone(),
            handle: std::mem::replace(&mut module.handle, std::ptr::null_mut()),
            // SAFETY: the symbol is the module's nf_process, whose C signature this is.
            process: unsafe { std::mem::transmute::<*mut c_void, _>(process) },
            ctx,
            _api: api,
            stats: ModuleStats::default(),
        };

        // SAFETY: nfcc__bind has this signature in the runtime linked into every module.
        let bind: unsafe extern "C" fn(*const HostApi) -> *mut c_void =
            unsafe { std::mem::transmute(bind) };
        let page = unsafe { bind(&*m._api) };
        if page.is_null() || (page as usize) % abi::RT_STATE_SIZE != 0 {
            return Err(LoadError::NotAModule { path: path.clone(), symbol: abi::SYM_BIND });
        }
        // SAFETY: the page is the runtime's own, page-aligned and page-sized state object.
        if unsafe { libc::mprotect(page, abi::RT_STATE_SIZE, libc::PROT_READ) } != 0 {
            return Err(LoadError::Dlopen {
                path: path.clone(),
                reason: format!("cannot protect runtime state: {}", std::io::Error::last_os_error()),
            });
        }

        let code = match init {
            // SAFETY: nf_init is `int nf_init(void)` per nfcc.h.
            Some(f) => unsafe {
                let f: unsafe extern "C" fn() -> c_int = std::mem::transmute(f);
                f()
            },
            None => 0,
        };
        // SAFETY: no module code is running now.
        let ctx = unsafe { &mut *m.ctx };
        ctx.in_init = false;
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
        m.stats = ModuleStats::default();
        Ok(m)
    }

    /// The label used in messages and reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path the module was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `nf_process` on `data[..*len]` and updates the counters. The module may shrink
    /// `*len`; it can never grow it.
    pub fn process(&mut self, data: &mut [u8], len: &mut u32, port: u16, time_ns: u64) -> Verdict {
        let mut pkt = Packet { data: data.as_mut_ptr(), len: *len, port, pad: 0, time_ns };
        self.stats.received += 1;
        // SAFETY: data[..len] is valid for the call; nf_process follows nfcc.h.
        let rc = unsafe { (self.process)(&mut pkt) };
        *len = pkt.len.min(*len);
        // SAFETY: the module returned; nothing else holds the context.
        let n_ports = unsafe { (*self.ctx).n_ports };
        let verdict = match rc {
            abi::DROP => {
                self.stats.dropped += 1;
                return Verdict::Drop;
            }
            abi::FLOOD => Verdict::Flood,
            p if p >= 0 && p < n_ports as c_int => Verdict::Port(p as u16),
            _ => {
                self.stats.bad_verdict += 1;
                return Verdict::Drop;
            }
        };
        self.stats.forwarded += 1;
        verdict
    }

    /// Snapshot of the counters, including those the host services keep.
    pub fn stats(&self) -> ModuleStats {
        // SAFETY: no module code is running.
        ModuleStats { bad_frees: unsafe { (*self.ctx).bad_frees }, ..self.stats }
    }

    /// Bytes of the module's heap currently allocated.
    pub fn heap_in_use(&self) -> usize {
        // SAFETY: no module code is running.
        unsafe { (*self.ctx).heap.in_use() }
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
    // SAFETY: called by the runtime with its bound context.
    let c = unsafe { ctx(c) };
    c.heap.alloc(size).map_or(std::ptr::null_mut(), |p| p.cast())
}

extern "C" fn host_free(c: *mut c_void, ptr: *mut c_void) {
    let c = unsafe { ctx(c) };
    if let Err(e) = c.heap.free(ptr as usize) {
        c.bad_frees += 1;
        eprintln!("[{}] nfcc_free refused: {e}", c.name);
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
    let c = unsafe { ctx(c) };
    let key = unsafe { key_str(key) };
    match c.lookup(key) {
        Some(i) => c.settings[i].1.as_ptr(),
        None => def,
    }
}

extern "C" fn host_config_u64(c: *mut c_void, key: *const c_char, def: u64, min: u64, max: u64) -> u64 {
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
    let c = unsafe { ctx(c) };
    if msg.is_null() {
        return;
    }
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    eprintln!("[{}] {text}", c.name);
}
