//! The data-plane host on DPDK: EAL from the user's arguments, every DPDK port an nfcc port
//! (DPDK port i = nfcc port i), burst receive, the chain on each mbuf, burst transmit.
//!
//! Invariants:
//! - A module's packet region is exactly one mbuf's buffer: the frame at the mbuf's data
//!   pointer and the `abi::HEADROOM` bytes before it, inside the mbuf headroom
//!   (`RTE_PKTMBUF_HEADROOM` is 128), zeroed before every call. Mbufs of several segments,
//!   or with less headroom, never reach a module (they are dropped and counted).
//! - Every mbuf has exactly one owner: the receive burst, then the chain, then a transmit
//!   burst (which hands it to the driver) or a free. A flood copy is a new mbuf.
//! - Per-packet chain semantics (verdicts, floods, quarantine, violations) are
//!   `host::run_chain`'s, shared with the pcap host: the packets a round of the loop
//!   received go through it as one burst (each module entered once per round).
//! - Each EAL lcore has its own instance of every module (instances are single-threaded)
//!   and serves its own receive and transmit queue of every port (queue k: the k-th lcore,
//!   the main one first); with several lcores the NIC spreads flows by RSS where it can.
//!   Module state is per lcore: a flow whose packets land on two lcores is seen by two
//!   instances. Counters are summed by chain position for the report.
//! - EAL is initialised once per process and cleaned up (ports stopped and closed, which
//!   flushes net_pcap's output files) on every path out of [`run`] after it succeeded.

pub mod eal;
mod sys;

use crate::abi;
use crate::host::{self, Arrival, Chain, Event, Frame, RunConfig, RunReport};
use crate::module::{LoadError, Module, ModuleSpec, ModuleStats, Protection, Verdict, Violation};
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Packets received (and transmitted) per burst.
pub const BURST: usize = 32;
/// Receive and transmit descriptors asked for per port (the driver may adjust them).
pub const RING_SIZE: u16 = 1024;
/// Mbufs per-lcore cached by the pool.
pub const POOL_CACHE: u32 = 256;
/// Bytes of packet data per mbuf (DPDK's default: 2048 + the 128-byte headroom).
pub const MBUF_BUF_SIZE: u16 = 2048 + sys::RTE_PKTMBUF_HEADROOM as u16;
/// How long every port may stay silent before a run on virtual devices ends.
pub const DEFAULT_IDLE: Duration = Duration::from_millis(100);
/// Drivers whose input runs dry: a run on them alone ends when they go idle.
pub const VIRTUAL_DRIVERS: &[&str] = &["net_pcap", "net_ring", "net_null"];
/// Transmit attempts on a full queue before the rest of a burst is dropped.
const TX_RETRIES: u32 = 64;

const _: () = assert!(sys::NFCC_DPDK_HEADROOM as usize == abi::HEADROOM);
const _: () = assert!(sys::RTE_PKTMBUF_HEADROOM as usize >= abi::HEADROOM);

/// Everything a DPDK run needs.
#[derive(Debug, Clone)]
pub struct DpdkConfig {
    /// The chain, in order.
    pub modules: Vec<ModuleSpec>,
    /// What followed `--dpdk`: EAL arguments, split at whitespace.
    pub eal: String,
    /// Ports offered to modules; must equal the DPDK ports when given.
    pub ports: Option<u16>,
    /// Load modules built with `--protect none`.
    pub allow_unprotected: bool,
    /// Stop after this many packets were received.
    pub max_packets: Option<u64>,
    /// Stop when no port received anything for this long (`Some(ZERO)`: never); `None`
    /// picks [`DEFAULT_IDLE`] when every port is a virtual device, never otherwise.
    pub idle: Option<Duration>,
    /// Mbufs in the pool (default: [`default_mbufs`]).
    pub mbufs: Option<u32>,
    /// Packets asked for per receive burst (1 to [`BURST`]; default [`BURST`]).
    pub burst: Option<u16>,
    /// Frames transmitted on port 0 before the run starts (in order, by the main lcore):
    /// they prime loopback devices such as net_ring, which hand them back as input.
    pub prime: Vec<Vec<u8>>,
}

/// One DPDK port in a run.
#[derive(Debug, Clone, Default)]
pub struct PortReport {
    /// Its DPDK device name (`net_pcap0`).
    pub name: String,
    /// Its driver (`net_pcap`).
    pub driver: String,
    /// Whether its packets carry the driver's RX timestamp (their `time_ns`).
    pub timestamps: bool,
    /// Packets received.
    pub rx: u64,
    /// Received packets no module may be given (several segments, too little headroom).
    pub unusable: u64,
    /// Packets handed to the driver for transmission.
    pub tx: u64,
    /// Packets dropped because the transmit queue stayed full.
    pub tx_dropped: u64,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// No port received anything for this long.
    Idle(Duration),
    /// The packet limit was reached.
    Packets(u64),
    /// SIGINT or SIGTERM (the signal number).
    Signal(i32),
    /// A benchmark's time was up.
    Time,
}

/// What happened in a DPDK run.
#[derive(Debug, Clone)]
pub struct DpdkReport {
    /// Per-module counters, packets in and out, chain time, as for a pcap run.
    pub run: RunReport,
    /// Per port, in port order.
    pub ports: Vec<PortReport>,
    /// Why it ended.
    pub stop: Stop,
    /// The EAL arguments used (the host's additions included).
    pub eal_args: String,
    /// Mbufs in the pool.
    pub mbufs: u32,
    /// Whether packets of several ports were handed to the chain in timestamp order.
    pub merged: bool,
    /// Flood copies that could not be made because the pool was empty.
    pub lost_copies: u64,
    /// Per lcore (the main one first): its id and the packets its chain handled.
    pub per_lcore: Vec<(u32, u64)>,
}

/// Why a DPDK run failed.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),
    /// The EAL arguments were refused before EAL saw them.
    #[error(transparent)]
    Args(#[from] eal::ArgsError),
    /// `rte_eal_init` failed.
    #[error("DPDK EAL initialisation failed: {reason} (EAL arguments: {args})")]
    Eal {
        /// The EAL arguments used.
        args: String,
        /// `rte_strerror(rte_errno)`.
        reason: String,
    },
    /// EAL offers no ports.
    #[error("DPDK found no ports (EAL arguments: {args}): add virtual devices (--vdev=net_pcap0,rx_pcap=IN,tx_pcap=OUT, --vdev=net_ring0, --vdev=net_null0) or bind a NIC to a DPDK driver")]
    NoPorts {
        /// The EAL arguments used.
        args: String,
    },
    /// Fewer ports than the network virtual devices asked for.
    #[error("DPDK created {found} ports for {asked} network virtual devices: a device failed to start (EAL's messages above say which; a missing rx_pcap file, a bad device argument) (EAL arguments: {args})")]
    Probe {
        /// Network `--vdev`s in the arguments.
        asked: usize,
        /// Ports EAL offers.
        found: u16,
        /// The EAL arguments used.
        args: String,
    },
    /// A port has fewer queues than there are lcores.
    #[error("DPDK port {port} ({name}) has at most {max} receive/transmit queues, but each of the {lcores} lcores needs its own: give EAL fewer lcores (-l 0 for one)")]
    Queues {
        /// Port id.
        port: u16,
        /// Device name.
        name: String,
        /// The smaller of its receive and transmit queue limits.
        max: u16,
        /// `rte_lcore_count()`.
        lcores: u32,
    },
    /// An lcore could not be started.
    #[error("cannot start the chain on lcore {lcore}: {reason}")]
    Launch {
        /// The lcore.
        lcore: u32,
        /// `rte_eal_remote_launch`'s error.
        reason: String,
    },
    /// The mbuf pool could not be created.
    #[error("cannot create the mbuf pool ({mbufs} mbufs of {buf_size} bytes, about {mib} MiB): {reason}; give EAL more memory (-m MB) or use fewer mbufs (--dpdk-mbufs N)")]
    Mempool {
        /// Mbufs asked for.
        mbufs: u32,
        /// Data bytes per mbuf.
        buf_size: u16,
        /// Rough size of the pool.
        mib: u64,
        /// `rte_strerror(rte_errno)`.
        reason: String,
    },
    /// A port could not be set up.
    #[error("DPDK port {port} ({name}): {call} failed: {reason}")]
    Port {
        /// Port id.
        port: u16,
        /// Device name.
        name: String,
        /// The DPDK call that failed.
        call: &'static str,
        /// Its error.
        reason: String,
    },
    /// A module could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A net_pcap output (`tx_pcap=`) cannot be written or put in place.
    #[error("{}: cannot write net_pcap output: {source}", path.display())]
    Output {
        /// The `tx_pcap` file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl From<host::HostError> for DpdkError {
    fn from(e: host::HostError) -> DpdkError {
        match e {
            host::HostError::Usage(m) => DpdkError::Usage(m),
            host::HostError::Load(l) => DpdkError::Load(l),
            other => DpdkError::Usage(other.to_string()),
        }
    }
}

/// Mbufs for `ports` ports when the user does not say: every receive and transmit ring
/// full, a burst in flight per port, and the pool's per-lcore cache, as 2^k - 1 (the
/// size DPDK's ring-backed pools use best), at least 8191.
pub fn default_mbufs(ports: u16) -> u32 {
    let need = ports as u32 * (2 * RING_SIZE as u32 + 2 * BURST as u32) + 2 * POOL_CACHE;
    let mut n = 8191u32;
    while n < need {
        n = n * 2 + 1;
    }
    n
}

/// The version of the DPDK library this host runs on (`rte_version()`, "DPDK 22.11.11").
pub fn version() -> String {
    // SAFETY: rte_version returns a static NUL-terminated string; no EAL needed.
    unsafe { CStr::from_ptr(sys::nfcc_dpdk_version()) }.to_string_lossy().into_owned()
}

/// The idle limit for a run on `drivers` when the user gave none.
pub fn default_idle(drivers: &[String]) -> Option<Duration> {
    drivers.iter().all(|d| VIRTUAL_DRIVERS.contains(&d.as_str())).then_some(DEFAULT_IDLE)
}

fn rte_error(code: c_int) -> String {
    // SAFETY: rte_strerror returns a static or thread-local NUL-terminated string.
    let s = unsafe { CStr::from_ptr(sys::rte_strerror(code)) }.to_string_lossy().into_owned();
    format!("{s} (error {code})")
}

fn last_rte_error() -> String {
    // SAFETY: reads this thread's rte_errno.
    rte_error(unsafe { sys::nfcc_dpdk_errno() })
}

/// EAL, once initialised: stops and closes the ports that were started and cleans up,
/// then removes the runtime directory if this process made it and it is empty.
struct Eal {
    started: Vec<u16>,
    pool: *mut sys::rte_mempool,
    dirs: eal::RuntimeDirs,
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: EAL is initialised; every mbuf has been freed or handed to a driver.
        unsafe {
            for &p in &self.started {
                sys::rte_eth_dev_stop(p);
            }
            for p in 0..sys::rte_eth_dev_count_avail() {
                sys::rte_eth_dev_close(p);
            }
            if !self.pool.is_null() {
                sys::rte_mempool_free(self.pool);
            }
            sys::rte_eal_cleanup();
        }
        self.dirs.remove();
    }
}

/// An mbuf the host owns; freed when dropped (null: handed over already).
struct Mbuf {
    m: *mut sys::rte_mbuf,
    data: *mut u8,
    len: u32,
    pool: *mut sys::rte_mempool,
}

impl Mbuf {
    /// Hands the mbuf over (to a transmit burst).
    fn into_raw(self) -> *mut sys::rte_mbuf {
        let m = self.m;
        std::mem::forget(self);
        m
    }
}

impl Frame for Mbuf {
    fn data(&mut self) -> *mut u8 {
        self.data
    }

    fn len(&self) -> u32 {
        self.len
    }

    fn duplicate(&self) -> Option<Mbuf> {
        let mut data = std::ptr::null_mut();
        // SAFETY: the frame is `len` readable bytes; the shim copies them into a new mbuf
        // with the default headroom.
        let m = unsafe { sys::nfcc_dpdk_frame(self.pool, self.data, self.len, &mut data) };
        (!m.is_null()).then_some(Mbuf { m, data, len: self.len, pool: self.pool })
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        if !self.m.is_null() {
            // SAFETY: the host owns this mbuf.
            unsafe { sys::nfcc_dpdk_free(self.m) };
        }
    }
}

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: c_int) {
    SIGNAL.store(sig, Ordering::Relaxed);
}

/// SIGINT and SIGTERM end the run (with its report) while installed.
struct SignalGuard {
    old: Vec<(c_int, libc::sighandler_t)>,
}

impl SignalGuard {
    fn install() -> SignalGuard {
        SIGNAL.store(0, Ordering::Relaxed);
        let old = [libc::SIGINT, libc::SIGTERM]
            .into_iter()
            // SAFETY: the handler only stores to an atomic.
            .map(|s| (s, unsafe { libc::signal(s, on_signal as extern "C" fn(c_int) as libc::sighandler_t) }))
            .collect();
        SignalGuard { old }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for &(s, h) in &self.old {
            // SAFETY: restoring the previous disposition.
            unsafe { libc::signal(s, h) };
        }
    }
}

/// The packets one port's last receive burst gave that have not gone to the chain yet:
/// `descs[head..]`, each the descriptor of `mbufs[k]`'s frame (the shim describes them
/// and leaves out, freed, the ones no module may be given). A port is received from again
/// only once it is empty.
struct Staging {
    descs: Vec<abi::Packet>,
    mbufs: Vec<*mut sys::rte_mbuf>,
    head: usize,
}

const _: () = assert!(std::mem::size_of::<abi::Packet>() == std::mem::size_of::<sys::nfcc_dpdk_desc>());
const _: () = assert!(std::mem::offset_of!(abi::Packet, len) == std::mem::offset_of!(sys::nfcc_dpdk_desc, len));
const _: () = assert!(std::mem::offset_of!(abi::Packet, port) == std::mem::offset_of!(sys::nfcc_dpdk_desc, port));
const _: () = assert!(std::mem::offset_of!(abi::Packet, time_ns) == std::mem::offset_of!(sys::nfcc_dpdk_desc, time_ns));

impl Staging {
    /// Its vectors hold a whole round (they trade places with the round's).
    fn new(round: usize) -> Staging {
        Staging { descs: Vec::with_capacity(round), mbufs: Vec::with_capacity(round), head: 0 }
    }

    fn is_empty(&self) -> bool {
        self.head == self.descs.len()
    }
}

/// Picks the port whose oldest staged packet goes to the chain next: the earliest
/// timestamp (ties: the lower port). `heads[p]` is port `p`'s oldest staged packet's time,
/// `None` when it has nothing staged (the caller refills a port before it would matter).
fn merge_pick(heads: &[Option<u64>]) -> Option<usize> {
    heads.iter().enumerate().filter_map(|(p, t)| t.map(|t| (t, p))).min().map(|(_, p)| p)
}

/// EAL with its ports started and a chain loaded per lcore.
struct Session {
    /// Per lcore (the main one first), its own module instances.
    chains: Vec<Vec<Module>>,
    /// The lcores, the main one first; lcore k serves queue k of every port.
    lcore_ids: Vec<u32>,
    ports: Vec<PortReport>,
    n: u16,
    ts_offset: c_int,
    ts_flag: u64,
    merged: bool,
    idle: Option<Duration>,
    mbufs: u32,
    burst: usize,
    line: String,
    /// Dropped after the modules, and after every mbuf went back.
    eal: Eal,
    /// net_pcap's outputs, renamed into place once EAL closed them and the run succeeded;
    /// dropped after `eal` (which closes them), removed if never committed.
    outputs: eal::PcapOutputs,
}

/// How a run ends, shared by every lcore's loop.
struct Shared {
    /// 0 while running, else why it stopped (the first lcore to see a reason sets it).
    stop: AtomicU8,
    stop_detail: AtomicI32,
    /// Packets received so far, against `limit`.
    received: AtomicU64,
    limit: Option<u64>,
    /// When any lcore last received something, in ns since `start`.
    last_rx: AtomicU64,
    start: Instant,
    idle: Option<Duration>,
    deadline: Option<Instant>,
    /// Violations seen on lcores other than the main one, told by the main one.
    events: Mutex<Vec<Event>>,
    has_events: AtomicBool,
}

const STOP_IDLE: u8 = 1;
const STOP_SIGNAL: u8 = 2;
const STOP_TIME: u8 = 3;

impl Shared {
    fn new(limit: Option<u64>, idle: Option<Duration>, deadline: Option<Instant>) -> Shared {
        Shared {
            stop: AtomicU8::new(0),
            stop_detail: AtomicI32::new(0),
            received: AtomicU64::new(0),
            limit,
            last_rx: AtomicU64::new(0),
            start: Instant::now(),
            idle,
            deadline,
            events: Mutex::new(Vec::new()),
            has_events: AtomicBool::new(false),
        }
    }

    fn set_stop(&self, why: u8, detail: i32) {
        if self.stop.compare_exchange(0, why, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.stop_detail.store(detail, Ordering::Release);
        }
    }

    fn stopped(&self) -> Option<Stop> {
        let detail = self.stop_detail.load(Ordering::Acquire);
        match self.stop.load(Ordering::Acquire) {
            0 => None,
            STOP_IDLE => Some(Stop::Idle(self.idle.unwrap_or_default())),
            STOP_SIGNAL => Some(Stop::Signal(detail)),
            _ => Some(Stop::Time),
        }
    }

    /// Takes up to `want` packets of the limit's budget; returns how many.
    fn reserve(&self, want: u64) -> u64 {
        let Some(limit) = self.limit else { return want };
        let mut got = 0;
        let _ = self.received.fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
            got = want.min(limit.saturating_sub(r));
            Some(r + got)
        });
        got
    }

    /// Gives back budget taken but not received.
    fn unreserve(&self, n: u64) {
        if self.limit.is_some() && n > 0 {
            self.received.fetch_sub(n, Ordering::AcqRel);
        }
    }
}

/// What one lcore's loop ended with.
struct LoopResult {
    modules: Vec<Module>,
    ports: Vec<PortReport>,
    packets_in: u64,
    packets_out: u64,
    chain_time: Duration,
    lost_copies: u64,
    refilled: u64,
}

impl Session {
    fn looper(&self, k: usize, modules: Vec<Module>, shared: &Shared) -> Loop<'_> {
        Loop {
            modules,
            ports: self.ports.clone(),
            pool: self.eal.pool,
            n: self.n,
            queue: k as u16,
            merged: false,
            ts_offset: self.ts_offset,
            ts_flag: self.ts_flag,
            burst: self.burst,
            packets_in: 0,
            packets_out: 0,
            chain_time: Duration::ZERO,
            tx: (0..self.n).map(|_| Vec::with_capacity(BURST * 2)).collect(),
            round: Vec::with_capacity(self.n.max(2) as usize * BURST),
            round_mbufs: Vec::with_capacity(self.n.max(2) as usize * BURST),
            verdicts: Vec::with_capacity(self.n.max(2) as usize * BURST),
            arrivals: Vec::new(),
            chain: Chain::default(),
            refill: None,
            shared: std::ptr::from_ref(shared),
            _session: std::marker::PhantomData,
        }
    }

    /// Runs every lcore's loop (worker lcores launched by EAL, the main one here) until
    /// the run ends; `prepare` sets each loop up first.
    fn serve_all(
        &mut self,
        shared: &Shared,
        prepare: &mut dyn FnMut(&mut Loop<'_>) -> Result<(), DpdkError>,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<Vec<LoopResult>, DpdkError> {
        let chains = std::mem::take(&mut self.chains);
        let mut loops: Vec<Box<Loop<'_>>> = Vec::new();
        for (k, modules) in chains.into_iter().enumerate() {
            let mut lp = Box::new(self.looper(k, modules, shared));
            prepare(&mut lp)?;
            loops.push(lp);
        }
        let merged = self.merged;
        let mut launched = Vec::new();
        let mut failure = None;
        for (k, lp) in loops.iter_mut().enumerate().skip(1) {
            let id = self.lcore_ids[k];
            lp.merged = merged;
            let arg: *mut Loop<'_> = &mut **lp;
            // SAFETY: the loop lives in its box until rte_eal_wait_lcore below returns;
            // nothing else touches it meanwhile.
            let rc = unsafe { sys::rte_eal_remote_launch(Some(worker_main), arg.cast(), id) };
            if rc != 0 {
                failure = Some(DpdkError::Launch { lcore: id, reason: rte_error(-rc) });
                shared.set_stop(STOP_SIGNAL, 0);
                break;
            }
            launched.push(id);
        }
        if failure.is_none() {
            let main = &mut loops[0];
            main.merged = merged;
            main.serve(on_event);
        }
        for id in launched {
            // SAFETY: waits for the loop launched on that lcore to return.
            unsafe { sys::rte_eal_wait_lcore(id) };
        }
        for e in shared.events.lock().expect("no lcore panicked holding it").drain(..) {
            on_event(&e);
        }
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(loops.into_iter().map(|lp| (*lp).finish()).collect())
    }
}

/// The entry point of a worker lcore: serves its queues until the run ends.
unsafe extern "C" fn worker_main(arg: *mut std::ffi::c_void) -> c_int {
    // SAFETY: `serve_all` passed a loop it keeps alive and untouched until we return.
    let lp = unsafe { &mut *(arg as *mut Loop<'_>) };
    let shared = lp.shared;
    lp.serve(&mut |e| {
        // SAFETY: the shared state outlives every loop.
        let shared = unsafe { &*shared };
        shared.events.lock().expect("no lcore panicked holding it").push(e.clone());
        shared.has_events.store(true, Ordering::Release);
    });
    0
}

/// Sums what every lcore's loop counted; module counters by chain position.
type ChainSums = (Vec<(String, ModuleStats)>, Vec<Option<Violation>>, Vec<Protection>);

fn merge_results(results: &[LoopResult], ports: &mut [PortReport]) -> ChainSums {
    let first = &results[0].modules;
    let mut stats: Vec<(String, ModuleStats)> = first.iter().map(|m| (m.name().to_string(), Default::default())).collect();
    let mut quarantined = vec![None; first.len()];
    for r in results {
        for (i, m) in r.modules.iter().enumerate() {
            let (a, b) = (&mut stats[i].1, m.stats());
            a.received += b.received;
            a.forwarded += b.forwarded;
            a.dropped += b.dropped;
            a.bad_verdict += b.bad_verdict;
            a.violations += b.violations;
            a.quarantined += b.quarantined;
            if quarantined[i].is_none() {
                quarantined[i] = m.quarantined().cloned();
            }
        }
        for (p, q) in ports.iter_mut().zip(&r.ports) {
            p.rx += q.rx;
            p.tx += q.tx;
            p.tx_dropped += q.tx_dropped;
            p.unusable += q.unusable;
        }
    }
    (stats, quarantined, first.iter().map(|m| m.protection()).collect())
}

/// Initialises EAL from `cfg.eal`, sets up every port, loads a chain per lcore and runs
/// them until the run ends (see [`Stop`]). `on_event` hears of violations as they happen
/// (those on worker lcores through the main one's loop).
pub fn run(cfg: &DpdkConfig, on_event: &mut dyn FnMut(&Event)) -> Result<DpdkReport, DpdkError> {
    let start = Instant::now();
    let mut s = open(cfg)?;
    let shared = Shared::new(cfg.max_packets, s.idle, None);
    let _signals = SignalGuard::install();
    let mut prepare = |lp: &mut Loop<'_>| if lp.queue == 0 { lp.prime(&cfg.prime) } else { Ok(()) };
    let results = s.serve_all(&shared, &mut prepare, on_event)?;
    // Every lcore returned without a reason to stop: the packet limit was spent.
    let stop = shared.stopped().unwrap_or(Stop::Packets(shared.received.load(Ordering::Acquire)));
    let mut ports = s.ports.clone();
    let (modules, quarantined, protection) = merge_results(&results, &mut ports);
    let run = RunReport {
        modules,
        quarantined,
        protection,
        packets_in: results.iter().map(|r| r.packets_in).sum(),
        packets_out: results.iter().map(|r| r.packets_out).sum(),
        written: Vec::new(),
        chain_time: results.iter().map(|r| r.chain_time).max().unwrap_or_default(),
        wall_time: Duration::ZERO,
    };
    let per_lcore: Vec<(u32, u64)> = s.lcore_ids.iter().copied().zip(results.iter().map(|r| r.packets_in)).collect();
    let lost_copies = results.iter().map(|r| r.lost_copies).sum();
    drop(results);
    let Session { ports: _, line, mbufs, merged, eal, outputs, .. } = s;
    drop(eal);
    // EAL closed net_pcap's files: they appear now, whole.
    outputs.commit().map_err(|(path, source)| DpdkError::Output { path, source })?;
    let mut run = run;
    // Measured once EAL is cleaned up and net_pcap's files are flushed.
    run.wall_time = start.elapsed();
    Ok(DpdkReport { run, ports, stop, eal_args: line, mbufs, merged, lost_copies, per_lcore })
}

/// One timed run of `nfcc bench --dpdk`.
#[derive(Debug, Clone)]
pub struct BenchRun {
    /// Packets received and run through the chain.
    pub packets: u64,
    /// Time from the first receive burst to the end.
    pub elapsed: Duration,
    /// Per port, as in a run.
    pub ports: Vec<PortReport>,
    /// Packets injected to replace those the chain dropped (`inject` runs only).
    pub refilled: u64,
}

/// Runs the chain on `cfg`'s devices for `duration`. With `inject > 0`, first transmits
/// `inject` packets from `frames` on every port (loopback devices such as net_ring then
/// carry them round), and replaces every packet the chain drops with the next of
/// `frames` on its input port, so the population stays constant.
pub fn bench(cfg: &DpdkConfig, frames: &[Vec<u8>], inject: usize, duration: Duration) -> Result<BenchRun, DpdkError> {
    if inject > 0 && frames.is_empty() {
        return Err(DpdkError::Usage("no frames to inject".into()));
    }
    let mut s = open(cfg)?;
    let mut prepare = |lp: &mut Loop<'_>| -> Result<(), DpdkError> {
        if inject == 0 {
            return Ok(());
        }
        lp.refill = Some(Refill { frames: frames.to_vec(), next: 0, injected: 0 });
        for port in 0..lp.n {
            for _ in 0..inject {
                let m = lp.next_frame().ok_or_else(|| DpdkError::Usage("the mbuf pool is too small to inject".into()))?;
                lp.tx[port as usize].push(m.into_raw());
            }
        }
        lp.flush();
        // Count only what the chain does from now on.
        lp.refill.as_mut().expect("set above").injected = 0;
        for p in lp.ports.iter_mut() {
            p.tx = 0;
        }
        Ok(())
    };
    let _signals = SignalGuard::install();
    let t0 = Instant::now();
    let shared = Shared::new(cfg.max_packets, None, Some(t0 + duration));
    let results = s.serve_all(&shared, &mut prepare, &mut |_| {})?;
    let elapsed = t0.elapsed();
    let mut ports = s.ports.clone();
    let (modules, quarantined, _) = merge_results(&results, &mut ports);
    if let Some((i, v)) = quarantined.iter().enumerate().find_map(|(i, q)| q.clone().map(|v| (i, v))) {
        return Err(DpdkError::Usage(format!("{} was stopped during the benchmark: {v}", modules[i].0)));
    }
    Ok(BenchRun {
        packets: results.iter().map(|r| r.packets_in).sum(),
        elapsed,
        ports,
        refilled: results.iter().map(|r| r.refilled).sum(),
    })
}

/// Initialises EAL, sets up every port and loads the chain.
fn open(cfg: &DpdkConfig) -> Result<Session, DpdkError> {
    if cfg.modules.is_empty() {
        return Err(DpdkError::Usage("no module given".into()));
    }
    if cfg.mbufs == Some(0) {
        return Err(DpdkError::Usage("--dpdk-mbufs must be at least 1".into()));
    }
    if let Some(b) = cfg.burst {
        if b == 0 || b as usize > BURST {
            return Err(DpdkError::Usage(format!("--dpdk-burst {b}: must be between 1 and {BURST}")));
        }
    }
    let mut args = eal::EalArgs::parse(&cfg.eal, &eal::allowed_cpus())?;
    let line = args.line();
    let outputs = args.stage_pcap_outputs().map_err(|(path, source)| DpdkError::Output { path, source })?;
    let cargs: Vec<CString> = args.words.iter().map(|w| CString::new(w.as_str()).expect("checked for NUL")).collect();
    let mut argv: Vec<*mut c_char> = cargs.iter().map(|c| c.as_ptr() as *mut c_char).collect();
    // SAFETY: before EAL; DPDK's log then goes to stderr, not into nfcc's report.
    unsafe { sys::nfcc_dpdk_log_to_stderr() };
    let dirs = eal::RuntimeDirs::before_init(&eal::runtime_dir(args.file_prefix()));
    // What we printed goes out before EAL's printing is sent to stderr for the call.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    // SAFETY: argv holds argc valid C strings that outlive EAL (EAL may keep pointers).
    let rc = unsafe { sys::nfcc_dpdk_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
    if rc < 0 {
        let reason = last_rte_error();
        dirs.remove();
        return Err(DpdkError::Eal { args: line, reason });
    }
    let mut eal = Eal { started: Vec::new(), pool: std::ptr::null_mut(), dirs };

    // SAFETY: EAL is initialised.
    let lcores = unsafe { sys::rte_lcore_count() };
    // The main lcore first, then every worker lcore.
    let mut lcore_ids = vec![unsafe { sys::rte_get_main_lcore() }];
    let mut next = lcore_ids[0];
    while lcore_ids.len() < lcores as usize {
        // SAFETY: EAL is initialised; skips the main lcore, no wrap-around.
        next = unsafe { sys::rte_get_next_lcore(next, 1, 0) };
        if next as usize >= sys::RTE_MAX_LCORE as usize {
            break;
        }
        lcore_ids.push(next);
    }
    let w = lcore_ids.len() as u16;
    // SAFETY: EAL is initialised.
    let n = unsafe { sys::rte_eth_dev_count_avail() };
    if (n as usize) < args.net_vdevs() {
        return Err(DpdkError::Probe { asked: args.net_vdevs(), found: n, args: line });
    }
    if n == 0 {
        return Err(DpdkError::NoPorts { args: line });
    }
    if n > abi::MAX_PORTS {
        return Err(DpdkError::Usage(format!("DPDK offers {n} ports; modules can be given at most {}", abi::MAX_PORTS)));
    }
    if let Some(p) = cfg.ports {
        if p != n {
            return Err(DpdkError::Usage(format!(
                "--ports {p}, but DPDK offers {n} port{}: with --dpdk every DPDK port is an nfcc port (drop --ports or change the devices)",
                if n == 1 { "" } else { "s" }
            )));
        }
    }

    let mbufs = cfg.mbufs.unwrap_or_else(|| default_mbufs(n));
    let pool_name = CString::new("nfcc_mbufs").unwrap();
    // SAFETY: EAL is initialised; the name is a C string.
    eal.pool = unsafe { sys::rte_pktmbuf_pool_create(pool_name.as_ptr(), mbufs, POOL_CACHE.min(mbufs / 2), 0, MBUF_BUF_SIZE, sys::rte_socket_id() as c_int) };
    if eal.pool.is_null() {
        let reason = last_rte_error();
        let mib = (mbufs as u64 * (MBUF_BUF_SIZE as u64 + 192)).div_ceil(1 << 20);
        return Err(DpdkError::Mempool { mbufs, buf_size: MBUF_BUF_SIZE, mib, reason });
    }

    let mut ports: Vec<PortReport> = Vec::new();
    // SAFETY: the offload bit, a constant.
    let ts_offload = unsafe { sys::nfcc_dpdk_rx_offload_timestamp() };
    for port in 0..n {
        let mut name_buf = [0 as c_char; 64];
        // SAFETY: the buffer is 64 bytes (RTE_ETH_NAME_MAX_LEN).
        let name = if unsafe { sys::rte_eth_dev_get_name_by_port(port, name_buf.as_mut_ptr()) } == 0 {
            unsafe { CStr::from_ptr(name_buf.as_ptr()) }.to_string_lossy().into_owned()
        } else {
            format!("port{port}")
        };
        let fail = |call: &'static str, code: c_int| DpdkError::Port { port, name: name.clone(), call, reason: rte_error(-code) };
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: info is a properly sized rte_eth_dev_info.
        let rc = unsafe { sys::rte_eth_dev_info_get(port, &mut info) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_info_get", rc));
        }
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };
        // net_pcap (22.11) stamps every packet it reads with its capture time, in
        // microseconds since the epoch (libpcap reads nanosecond files at microsecond
        // precision), whether or not the offload is asked for, and does not advertise it;
        // ask for it where it is advertised. Other drivers' timestamps count in the NIC's
        // own clock, not ns since the epoch: their packets get the host clock.
        let timestamps = driver == "net_pcap";
        let mut conf = sys::rte_eth_conf::default();
        if timestamps && info.rx_offload_capa & ts_offload != 0 {
            conf.rxmode.offloads |= ts_offload;
        }
        let max = info.max_rx_queues.min(info.max_tx_queues);
        if max < w {
            return Err(DpdkError::Queues { port, name: name.clone(), max, lcores });
        }
        // Several lcores: the NIC spreads flows over their queues by RSS where it can
        // (virtual devices cannot: each of their queues is its own stream).
        // SAFETY: a constant.
        let rss_hf = unsafe { sys::nfcc_dpdk_rss_hf() } & info.flow_type_rss_offloads;
        if w > 1 && rss_hf != 0 {
            conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // SAFETY: one RX and one TX queue per lcore; the rest of the configuration is
        // DPDK's default (zeroed).
        let rc = unsafe { sys::rte_eth_dev_configure(port, w, w, &conf) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_configure", rc));
        }
        let (mut rxd, mut txd) = (RING_SIZE, RING_SIZE);
        // SAFETY: the port is configured.
        let rc = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(port, &mut rxd, &mut txd) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_adjust_nb_rx_tx_desc", rc));
        }
        // SAFETY: the port is configured; a negative socket means "any".
        let socket = unsafe { sys::rte_eth_dev_socket_id(port) }.max(0) as u32;
        for q in 0..w {
            // SAFETY: default queue configurations (NULL), our pool.
            let rc = unsafe { sys::rte_eth_rx_queue_setup(port, q, rxd, socket, std::ptr::null(), eal.pool) };
            if rc != 0 {
                return Err(fail("rte_eth_rx_queue_setup", rc));
            }
            let rc = unsafe { sys::rte_eth_tx_queue_setup(port, q, txd, socket, std::ptr::null()) };
            if rc != 0 {
                return Err(fail("rte_eth_tx_queue_setup", rc));
            }
        }
        let rc = unsafe { sys::rte_eth_dev_start(port) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_start", rc));
        }
        eal.started.push(port);
        // Real NICs must see every frame, whatever its destination; virtual devices may
        // not support it, which is harmless.
        // SAFETY: the port is started.
        unsafe { sys::rte_eth_promiscuous_enable(port) };
        ports.push(PortReport { name, driver, timestamps, ..PortReport::default() });
    }

    let (mut ts_offset, mut ts_flag) = (-1, 0u64);
    if ports.iter().any(|p| p.timestamps) {
        let field = CString::new(&sys::RTE_MBUF_DYNFIELD_TIMESTAMP_NAME[..sys::RTE_MBUF_DYNFIELD_TIMESTAMP_NAME.len() - 1]).unwrap();
        let flag = CString::new(&sys::RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME[..sys::RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME.len() - 1]).unwrap();
        // SAFETY: lookups by name; the driver registered both when the offload was enabled.
        let (off, bit) = unsafe {
            (sys::rte_mbuf_dynfield_lookup(field.as_ptr(), std::ptr::null_mut()), sys::rte_mbuf_dynflag_lookup(flag.as_ptr(), std::ptr::null_mut()))
        };
        if off >= 0 && bit >= 0 {
            (ts_offset, ts_flag) = (off, 1u64 << bit);
        } else {
            for p in &mut ports {
                p.timestamps = false;
            }
        }
    }
    // Captures replayed on several ports reach the chain in capture-time order, as in a
    // pcap run; ports without capture times are served in turn.
    let merged = w == 1 && ports.iter().all(|p| p.timestamps);

    let chain_cfg = RunConfig {
        modules: cfg.modules.clone(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        ports: n,
        allow_unprotected: cfg.allow_unprotected,
    };
    // One chain per lcore: module instances are single-threaded. Instances on the other
    // lcores are labelled with their lcore.
    let mut chains = Vec::new();
    for (k, &id) in lcore_ids.iter().enumerate() {
        let suffix = if k == 0 { String::new() } else { format!("@lcore{id}") };
        chains.push(host::load_chain_labelled(&chain_cfg, &suffix)?);
    }

    let drivers: Vec<String> = ports.iter().map(|p| p.driver.clone()).collect();
    let idle = match cfg.idle {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => default_idle(&drivers),
    };
    let burst = cfg.burst.map_or(BURST, usize::from);
    Ok(Session { chains, lcore_ids, ports, n, ts_offset, ts_flag, merged, idle, mbufs, burst, line, eal, outputs })
}

/// Frames that replace dropped packets in a benchmark.
struct Refill {
    frames: Vec<Vec<u8>>,
    next: usize,
    injected: u64,
}

impl Refill {
    /// A new mbuf from `pool` holding the next frame; `None` when the pool is empty.
    fn next_frame(&mut self, pool: *mut sys::rte_mempool) -> Option<Mbuf> {
        let f = &self.frames[self.next % self.frames.len()];
        self.next += 1;
        let mut data = std::ptr::null_mut();
        // SAFETY: `f` is readable; the shim copies it into a new mbuf.
        let m = unsafe { sys::nfcc_dpdk_frame(pool, f.as_ptr(), f.len() as u32, &mut data) };
        if m.is_null() {
            return None;
        }
        self.injected += 1;
        Some(Mbuf { m, data, len: f.len() as u32, pool })
    }
}

/// What a one-module chain needs to act on a verdict other than a port.
struct Other<'l> {
    tx: &'l mut [Vec<*mut sys::rte_mbuf>],
    chain: &'l mut Chain<Mbuf>,
    refill: &'l mut Option<Refill>,
    pool: *mut sys::rte_mempool,
    ports: u16,
}

impl Other<'_> {
    /// Acts on arrival `k`'s verdict `v` (not a port): a flood's copies queued on every
    /// other port (in port order), the mbuf freed; in benchmarks an arrival nothing left
    /// for is replaced on its input port (in arrival order among the packets that leave).
    /// Returns the packets queued for transmission.
    #[inline(never)]
    fn act(&mut self, k: usize, v: Verdict, d: &abi::Packet, m: *mut sys::rte_mbuf) -> u64 {
        let mut copies = 0;
        match v {
            Verdict::Port(_) => unreachable!("ports are queued by the caller"),
            Verdict::Drop => {}
            Verdict::Violation => self.chain.stopped.push((k, 0)),
            Verdict::Flood => {
                for to in (0..self.ports).filter(|&to| to != d.port) {
                    let mut data = std::ptr::null_mut();
                    // SAFETY: the frame is `len` readable bytes; the shim copies them into
                    // a new mbuf with the default headroom.
                    let c = unsafe { sys::nfcc_dpdk_frame(self.pool, d.data, d.len, &mut data) };
                    if c.is_null() {
                        self.chain.lost_copies += 1;
                    } else {
                        self.tx[to as usize].push(c);
                        copies += 1;
                    }
                }
            }
        }
        // SAFETY: the host owns it; nothing refers to it any more.
        unsafe { sys::nfcc_dpdk_free(m) };
        if copies == 0 {
            if let Some(f) = self.refill.as_mut().and_then(|r| r.next_frame(self.pool)) {
                self.tx[d.port as usize].push(f.into_raw());
            }
        }
        copies
    }
}

/// The state of one lcore's receive-chain-transmit loop (queue `queue` of every port).
struct Loop<'a> {
    modules: Vec<Module>,
    ports: Vec<PortReport>,
    pool: *mut sys::rte_mempool,
    n: u16,
    queue: u16,
    merged: bool,
    ts_offset: c_int,
    ts_flag: u64,
    /// Packets asked for per receive burst.
    burst: usize,
    packets_in: u64,
    packets_out: u64,
    chain_time: Duration,
    /// Per output port, mbufs waiting for the next transmit burst.
    tx: Vec<Vec<*mut sys::rte_mbuf>>,
    /// The packets of this round, in the order they go to the chain: each one's descriptor
    /// (its input port and time, its mbuf's frame) and its mbuf.
    round: Vec<abi::Packet>,
    round_mbufs: Vec<*mut sys::rte_mbuf>,
    /// The one module's verdicts on `round` (a chain of one module).
    verdicts: Vec<Verdict>,
    /// The round as `host::run_chain` takes it (chains of several modules).
    arrivals: Vec<Arrival<Mbuf>>,
    /// The chain's scratch, reused every round.
    chain: Chain<Mbuf>,
    /// Benchmarks only: what replaces dropped packets.
    refill: Option<Refill>,
    /// How the run ends; outlives the loop.
    shared: *const Shared,
    _session: std::marker::PhantomData<&'a Session>,
}

impl Loop<'_> {
    fn finish(self) -> LoopResult {
        let refilled = self.refill.as_ref().map_or(0, |r| r.injected);
        let lost_copies = self.chain.lost_copies;
        let Loop { modules, ports, packets_in, packets_out, chain_time, .. } = self;
        LoopResult { modules, ports, packets_in, packets_out, chain_time, lost_copies, refilled }
    }

    /// Transmits `frames` on port 0 (queue 0) before the run, each in a new mbuf; every
    /// one must be taken by the device.
    fn prime(&mut self, frames: &[Vec<u8>]) -> Result<(), DpdkError> {
        let mut sent = 0usize;
        for chunk in frames.chunks(BURST) {
            let mut mbufs = Vec::with_capacity(chunk.len());
            for f in chunk {
                let mut data = std::ptr::null_mut();
                // SAFETY: `f` is readable; the shim copies it into a new mbuf.
                let m = unsafe { sys::nfcc_dpdk_frame(self.pool, f.as_ptr(), f.len() as u32, &mut data) };
                if m.is_null() {
                    // SAFETY: the host still owns these.
                    unsafe { sys::nfcc_dpdk_free_bulk(mbufs.as_mut_ptr(), mbufs.len() as u32) };
                    return Err(DpdkError::Usage(format!(
                        "cannot prime port 0 with {} frames: the mbuf pool ran out after {sent} (or a frame is over {} bytes); use --dpdk-mbufs",
                        frames.len(),
                        MBUF_BUF_SIZE as usize - sys::RTE_PKTMBUF_HEADROOM as usize
                    )));
                }
                mbufs.push(m);
            }
            // SAFETY: the host owns these mbufs; the device takes the ones it sends.
            let took = unsafe { sys::nfcc_dpdk_tx(0, self.queue, mbufs.as_mut_ptr(), mbufs.len() as u16) } as usize;
            sent += took;
            if took < mbufs.len() {
                // SAFETY: the rest are still the host's.
                unsafe { sys::nfcc_dpdk_free_bulk(mbufs.as_mut_ptr().add(took), (mbufs.len() - took) as u32) };
                return Err(DpdkError::Usage(format!(
                    "cannot prime port 0 with {} frames: the device took only {sent} (its queue is full)",
                    frames.len()
                )));
            }
        }
        Ok(())
    }

    /// A new mbuf holding the next refill frame.
    fn next_frame(&mut self) -> Option<Mbuf> {
        self.refill.as_mut()?.next_frame(self.pool)
    }

    /// Receives up to `want` packets from `port` into the empty `st`; returns how many the
    /// driver gave (those no module may be given are counted and freed, not staged).
    fn receive(&mut self, port: u16, want: usize, st: &mut Staging) -> usize {
        let stats = &mut self.ports[port as usize];
        let ts_offset = if stats.timestamps { self.ts_offset } else { -1 };
        let (mut usable, mut unusable) = (0u16, 0u16);
        st.descs.clear();
        st.mbufs.clear();
        st.descs.reserve(BURST);
        st.mbufs.reserve(BURST);
        st.head = 0;
        // SAFETY: both vectors have room for BURST entries and `nfcc_dpdk_desc` is
        // `abi::Packet`'s layout (asserted above); the port is started.
        let got = unsafe {
            sys::nfcc_dpdk_rx(
                port,
                self.queue,
                st.mbufs.as_mut_ptr(),
                st.descs.as_mut_ptr().cast(),
                want.min(BURST) as u16,
                ts_offset,
                self.ts_flag,
                &mut usable,
                &mut unusable,
            )
        } as usize;
        // SAFETY: the shim described `usable` packets into both (and no more than asked).
        unsafe {
            st.descs.set_len(usable as usize);
            st.mbufs.set_len(usable as usize);
        }
        stats.rx += got as u64;
        stats.unusable += u64::from(unusable);
        got
    }

    /// Counts one received packet taken for this round's burst of the chain (the caller
    /// has put it in `round`). `nfcc dpdk-model` and `nfcc check --dpdk` count packets at
    /// its entry, so it stays a function of its own, called once per received packet.
    #[inline(never)]
    fn process(&mut self) {
        self.packets_in += 1;
    }

    /// Takes `st`'s staged packets for this round, in order.
    fn take(&mut self, st: &mut Staging) {
        let k = st.descs.len() - st.head;
        if self.round.is_empty() && st.head == 0 {
            // The whole of one port's burst: the vectors trade places.
            std::mem::swap(&mut self.round, &mut st.descs);
            std::mem::swap(&mut self.round_mbufs, &mut st.mbufs);
            st.descs.clear();
            st.mbufs.clear();
        } else {
            self.round.extend_from_slice(&st.descs[st.head..]);
            self.round_mbufs.extend_from_slice(&st.mbufs[st.head..]);
        }
        st.head = st.descs.len();
        for _ in 0..k {
            self.process();
        }
    }

    /// Runs the round's packets through the chain as one burst and queues what leaves it,
    /// in the order the chain emits it (by arrival); frees the mbufs that did not leave.
    fn run_burst(&mut self, on_event: &mut dyn FnMut(&Event)) {
        let n = self.round.len();
        if n == 0 {
            return;
        }
        if self.modules.len() == 1 {
            self.run_one();
        } else {
            self.run_chain();
        }
        let first = self.packets_in - n as u64;
        host::report_stops(&self.modules, &self.chain, |slot| first + slot as u64 + 1, on_event);
        self.round.clear();
        self.round_mbufs.clear();
    }

    /// A chain of one module: what `host::run_chain` does, on the round's descriptors as
    /// they are (each one its mbuf's frame), each verdict acted on in arrival order: a
    /// port's packet queued on it, a flood's copies on every other port (in port order),
    /// any other packet freed (in benchmarks, replaced).
    #[inline(never)]
    fn run_one(&mut self) {
        let Loop { modules, round, round_mbufs, verdicts, tx, chain, refill, pool, n: ports, packets_out, .. } = self;
        chain.stopped.clear();
        // SAFETY: each descriptor is its own received mbuf's frame (one segment, at least
        // HEADROOM bytes of headroom before it, checked by the shim), which nothing else
        // uses while the module runs; no two share an mbuf.
        unsafe { modules[0].process_burst(round, verdicts) };
        // An arrival adds at most one mbuf to each queue (itself, a flood copy or, in
        // benchmarks, its replacement): room for the round in every queue, made once, keeps
        // each packet's cost its own verdict's, whatever its neighbours' (the whole-stack
        // models add per-packet costs up).
        let n = round.len();
        for q in tx.iter_mut() {
            q.reserve(n);
        }
        let mut out = 0u64;
        for (k, (&v, &m)) in verdicts.iter().zip(round_mbufs.iter()).enumerate() {
            if let Verdict::Port(to) = v {
                let q = &mut tx[to as usize];
                if q.len() < q.capacity() {
                    // SAFETY: the queue has room for one more.
                    unsafe {
                        q.as_mut_ptr().add(q.len()).write(m);
                        q.set_len(q.len() + 1);
                    }
                } else {
                    q.push(m);
                }
                out += 1;
            } else {
                let mut other = Other { tx, chain, refill, pool: *pool, ports: *ports };
                out += other.act(k, v, &round[k], m);
            }
        }
        *packets_out += out;
    }

    /// A chain of several modules: the round as arrivals through `host::run_chain`.
    fn run_chain(&mut self) {
        let n = self.round.len();
        self.arrivals.clear();
        for (d, &m) in self.round.iter().zip(&self.round_mbufs) {
            let frame = Mbuf { m, data: d.data, len: d.len, pool: self.pool };
            self.arrivals.push(Arrival { frame, port: d.port, time_ns: d.time_ns });
        }
        host::run_chain(&mut self.modules, &mut self.arrivals, self.n, &mut self.chain);
        self.packets_out += self.chain.out.len() as u64;
        // In benchmarks an arrival nothing left for is replaced on its input port, in
        // arrival order among the packets that leave.
        let mut next = 0usize;
        let mut out = std::mem::take(&mut self.chain.out);
        for e in out.drain(..) {
            if self.refill.is_some() {
                for k in next..e.slot {
                    self.replace(self.arrivals[k].port);
                }
                next = e.slot + 1;
            }
            let m = match e.copy {
                Some(c) => c.into_raw(),
                // Handed over: the arrival no longer owns it.
                None => std::mem::replace(&mut self.arrivals[e.slot].frame.m, std::ptr::null_mut()),
            };
            self.tx[e.port as usize].push(m);
        }
        self.chain.out = out;
        if self.refill.is_some() {
            for k in next..n {
                self.replace(self.arrivals[k].port);
            }
        }
        // Frees the mbufs that did not leave.
        self.arrivals.clear();
    }

    /// Benchmarks: queues the next refill frame on `port` in place of a dropped packet.
    fn replace(&mut self, port: u16) {
        if let Some(m) = self.next_frame() {
            self.tx[port as usize].push(m.into_raw());
        }
    }

    /// Transmits everything queued, retrying a full queue a little, then dropping. Called
    /// once at the end of every round of the loop that received something: `nfcc
    /// dpdk-model` and `nfcc check --dpdk` cut callgrind's counts into bursts at its exit,
    /// so it stays a function of its own.
    #[inline(never)]
    fn flush(&mut self) {
        for port in 0..self.n {
            let q = &mut self.tx[port as usize];
            if q.is_empty() {
                continue;
            }
            let mut sent = 0usize;
            let mut tries = 0;
            while sent < q.len() && tries < TX_RETRIES {
                let k = (q.len() - sent).min(u16::MAX as usize) as u16;
                // SAFETY: q[sent..] are mbufs the host owns; the driver takes the ones it sends.
                sent += unsafe { sys::nfcc_dpdk_tx(port, self.queue, q.as_mut_ptr().add(sent), k) } as usize;
                tries += 1;
            }
            let stats = &mut self.ports[port as usize];
            stats.tx += sent as u64;
            if sent < q.len() {
                stats.tx_dropped += (q.len() - sent) as u64;
                // SAFETY: the rest are still the host's.
                unsafe { sys::nfcc_dpdk_free_bulk(q.as_mut_ptr().add(sent), (q.len() - sent) as u32) };
            }
            q.clear();
        }
    }

    /// Receives, processes and transmits until the run ends (for every lcore: the first
    /// to see a reason to stop tells the others). `nfcc dpdk-model` and `nfcc check
    /// --dpdk` count everything it executes (callgrind's `--toggle-collect`), so it stays
    /// a function of its own.
    #[inline(never)]
    fn serve(&mut self, on_event: &mut dyn FnMut(&Event)) {
        // SAFETY: the shared state outlives every loop.
        let shared = unsafe { &*self.shared };
        let n = self.n as usize;
        let mut staged: Vec<Staging> = (0..n).map(|_| Staging::new(self.round.capacity())).collect();
        let mut rr = 0usize;
        let mut quiet_since: Option<Instant> = None;
        loop {
            let sig = SIGNAL.load(Ordering::Relaxed);
            if sig != 0 {
                shared.set_stop(STOP_SIGNAL, sig);
            }
            if shared.deadline.is_some_and(|d| Instant::now() >= d) {
                shared.set_stop(STOP_TIME, 0);
            }
            if shared.stopped().is_some() {
                self.drop_staged(&mut staged);
                return;
            }
            if self.queue == 0 && shared.has_events.load(Ordering::Acquire) && shared.has_events.swap(false, Ordering::AcqRel) {
                let mut events = shared.events.lock().expect("no lcore panicked holding it");
                for e in events.drain(..) {
                    on_event(&e);
                }
            }

            // Refill every port with nothing staged; a port that delivers nothing now is
            // not waited for in this round.
            let mut got_any = false;
            let mut budget_left = true;
            for (p, queue) in staged.iter_mut().enumerate() {
                if !queue.is_empty() {
                    continue;
                }
                let want = shared.reserve(self.burst as u64);
                if want == 0 {
                    budget_left = false;
                    break;
                }
                let got = self.receive(p as u16, want as usize, queue);
                shared.unreserve(want - got as u64);
                got_any |= got > 0;
            }
            let empty = staged.iter().all(|s| s.is_empty());
            if !budget_left && empty {
                // The packet limit is spent and this lcore has handled its share; the
                // others finish theirs.
                return;
            }
            if got_any {
                quiet_since = None;
            }
            if !got_any && empty {
                let quiet = *quiet_since.get_or_insert_with(Instant::now);
                if let Some(limit) = shared.idle {
                    let last = Duration::from_nanos(shared.last_rx.load(Ordering::Relaxed));
                    if shared.start.elapsed().saturating_sub(last) >= limit && quiet.elapsed() >= limit {
                        shared.set_stop(STOP_IDLE, 0);
                    }
                }
                // A short sleep once the ports have been quiet for a while keeps an idle
                // run from spinning a CPU; busy ports never sleep.
                if quiet.elapsed() > Duration::from_millis(1) {
                    std::thread::sleep(Duration::from_micros(20));
                }
                continue;
            }

            let t0 = Instant::now();
            // Only an idle limit reads it.
            if got_any && shared.idle.is_some() {
                shared.last_rx.store(t0.saturating_duration_since(shared.start).as_nanos() as u64, Ordering::Relaxed);
            }
            if self.merged {
                // Hand packets over in timestamp order while every port has one staged
                // or was just found empty; a port running out is refilled first.
                let mut heads = [None; abi::MAX_PORTS as usize];
                for _ in 0..2 * BURST {
                    for (h, s) in heads.iter_mut().zip(&staged) {
                        *h = (!s.is_empty()).then(|| s.descs[s.head].time_ns);
                    }
                    let Some(p) = merge_pick(&heads[..n]) else { break };
                    let s = &mut staged[p];
                    self.round.push(s.descs[s.head]);
                    self.round_mbufs.push(s.mbufs[s.head]);
                    s.head += 1;
                    self.process();
                    if staged[p].is_empty() {
                        break;
                    }
                }
            } else {
                for k in 0..n {
                    self.take(&mut staged[(rr + k) % n]);
                }
                rr = (rr + 1) % n;
            }
            self.run_burst(on_event);
            self.chain_time += t0.elapsed();
            self.flush();
        }
    }

    fn drop_staged(&mut self, staged: &mut [Staging]) {
        for s in staged {
            for &m in &s.mbufs[s.head..] {
                // SAFETY: staged mbufs are the host's.
                unsafe { sys::nfcc_dpdk_free(m) };
            }
            s.head = s.descs.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_takes_the_earliest_head() {
        assert_eq!(merge_pick(&[Some(5), Some(3), None]), Some(1));
        assert_eq!(merge_pick(&[Some(3), Some(3)]), Some(0), "ties go to the lower port");
        assert_eq!(merge_pick(&[None, None]), None);
    }

    #[test]
    fn the_pool_covers_every_ring_and_burst() {
        assert_eq!(default_mbufs(1), 8191);
        assert_eq!(default_mbufs(2), 8191);
        let n = default_mbufs(8);
        assert!(n >= 8 * (2 * RING_SIZE as u32 + 2 * BURST as u32) + 2 * POOL_CACHE, "{n}");
        assert_eq!((n + 1).count_ones(), 1, "{n} is not 2^k - 1");
    }

    #[test]
    fn only_virtual_devices_end_by_going_idle() {
        let d = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(default_idle(&d(&["net_pcap", "net_ring"])), Some(DEFAULT_IDLE));
        assert_eq!(default_idle(&d(&["net_pcap", "net_ixgbe"])), None);
    }
}
