//! The data-plane host for pcap files: reads packets from one or more captures, sends each
//! through the chain of modules, and writes what comes out.
//!
//! Invariants:
//! - Output files appear only when the whole run succeeded: they are written to temporary
//!   files beside their destination and renamed at the end.
//! - Every input file is validated as it is read; a bad packet record aborts the run with
//!   its file, index and offset, and no output is left behind.
//! - A module sees only the bytes of the packet it is handed; a copy is made for each port
//!   of a flood.

use crate::atomic::AtomicFile;
use crate::module::{LoadError, Module, ModuleSpec, ModuleStats, PacketBuf, Protection, Verdict, Violation};
use crate::pcap::{PacketRecord, PcapError, PcapReader, PcapWriter};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Packets read and processed between two looks at the clock.
pub const BATCH: usize = 256;

/// Ports a host offers modules unless told otherwise.
pub const DEFAULT_PORTS: u16 = 2;

/// A capture to read, and the port its packets arrive on.
#[derive(Debug, Clone)]
pub struct Input {
    /// Input port.
    pub port: u16,
    /// pcap or pcapng file.
    pub path: PathBuf,
}

/// A capture to write, and the port whose packets go into it (`None`: every port).
#[derive(Debug, Clone)]
pub struct Output {
    /// Output port filter.
    pub port: Option<u16>,
    /// Destination pcap file.
    pub path: PathBuf,
}

/// Everything `run` needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The chain, in order.
    pub modules: Vec<ModuleSpec>,
    /// Captures, merged by timestamp (ties: the order given).
    pub inputs: Vec<Input>,
    /// Captures to write.
    pub outputs: Vec<Output>,
    /// Ports offered to every module.
    pub ports: u16,
    /// Load modules built with `--protect none` (they can touch anything in the process).
    pub allow_unprotected: bool,
}

/// Something worth telling the user the moment it happens.
#[derive(Debug, Clone)]
pub enum Event {
    /// A module was stopped and quarantined.
    Violation {
        /// The module's label.
        module: String,
        /// 1-based index of the input packet it was processing.
        packet: u64,
        /// What it did.
        violation: Violation,
    },
}

/// What happened in a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Per module, in chain order: its label and counters.
    pub modules: Vec<(String, ModuleStats)>,
    /// Per module, in chain order: why it is quarantined, if it is.
    pub quarantined: Vec<Option<Violation>>,
    /// Per module, in chain order: the protection it was built with.
    pub protection: Vec<Protection>,
    /// Packets read from all inputs.
    pub packets_in: u64,
    /// Packets leaving the chain (a flood counts once per port).
    pub packets_out: u64,
    /// Packets written to each output, in the order given.
    pub written: Vec<u64>,
    /// Time spent inside the chain (excluding file I/O).
    pub chain_time: Duration,
    /// Wall time of the whole run, loading included.
    pub wall_time: Duration,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),
    /// A module could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// An input capture is unreadable or malformed.
    #[error(transparent)]
    Pcap(#[from] PcapError),
    /// An output capture cannot be written.
    #[error("{}: cannot write output: {source}", path.display())]
    Output {
        /// Output path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

struct OutFile {
    port: Option<u16>,
    path: PathBuf,
    writer: PcapWriter<BufWriter<AtomicFile>>,
    written: u64,
}

fn open_output(o: &Output) -> Result<OutFile, HostError> {
    let err = |source| HostError::Output { path: o.path.clone(), source };
    let file = AtomicFile::create(&o.path, 0o644).map_err(err)?;
    let writer = PcapWriter::new(BufWriter::new(file)).map_err(err)?;
    Ok(OutFile { port: o.port, path: o.path.clone(), writer, written: 0 })
}

struct InFile {
    port: u16,
    reader: PcapReader<BufReader<File>>,
    next: Option<PacketRecord>,
}

impl InFile {
    fn advance(&mut self) -> Result<(), PcapError> {
        let mut rec = self.next.take().unwrap_or_else(|| PacketRecord {
            time_ns: 0,
            orig_len: 0,
            data: Vec::with_capacity(2048),
        });
        if self.reader.next_into(&mut rec)? {
            self.next = Some(rec);
        }
        Ok(())
    }
}

/// What the pcap host keeps of a batch's packet besides its `Arrival`.
struct Record {
    /// Its length on the wire, from the capture.
    orig_len: u32,
    /// 1-based index over every input.
    index: u64,
}

/// Loads the chain, pushes every input packet through it, writes the outputs. `on_event`
/// hears of violations as they happen.
pub fn run(cfg: &RunConfig, on_event: &mut dyn FnMut(&Event)) -> Result<RunReport, HostError> {
    let start = Instant::now();
    if cfg.modules.is_empty() {
        return Err(HostError::Usage("no module given".into()));
    }
    if cfg.inputs.is_empty() {
        return Err(HostError::Usage("no input capture given (--pcap FILE)".into()));
    }
    if cfg.ports == 0 || cfg.ports > crate::abi::MAX_PORTS {
        return Err(HostError::Usage(format!(
            "--ports {}: must be between 1 and {}",
            cfg.ports,
            crate::abi::MAX_PORTS
        )));
    }
    for p in cfg.inputs.iter().map(|i| i.port).chain(cfg.outputs.iter().filter_map(|o| o.port)) {
        if p >= cfg.ports {
            return Err(HostError::Usage(format!(
                "port {p} does not exist: the host offers ports 0 to {} (set --ports)",
                cfg.ports - 1
            )));
        }
    }

    // Inputs and outputs are checked before any module runs, so a typo fails fast.
    let mut inputs = Vec::new();
    for i in &cfg.inputs {
        let mut f = InFile { port: i.port, reader: PcapReader::open(&i.path)?, next: None };
        f.advance()?;
        inputs.push(f);
    }
    let mut outputs = cfg.outputs.iter().map(open_output).collect::<Result<Vec<_>, _>>()?;

    let modules = load_chain(cfg)?;
    let mut modules = modules;

    // One burst of the chain per batch: every module is entered once per batch.
    let mut batch: Vec<Arrival<PacketBuf>> = Vec::with_capacity(BATCH);
    let mut records: Vec<Record> = Vec::with_capacity(BATCH);
    let mut spare: Vec<PacketBuf> = Vec::new();
    let mut chain = Chain::default();
    let mut rec = PacketRecord::default();
    let (mut packets_in, mut packets_out) = (0u64, 0u64);
    let mut chain_time = Duration::ZERO;
    loop {
        while batch.len() < BATCH {
            let Some(k) = earliest(&inputs) else { break };
            std::mem::swap(&mut rec, inputs[k].next.as_mut().expect("earliest input has a packet"));
            inputs[k].advance()?;
            let mut buf = spare.pop().unwrap_or_else(|| PacketBuf::from_frame(&[]));
            buf.set(&rec.data);
            packets_in += 1;
            batch.push(Arrival { frame: buf, port: inputs[k].port, time_ns: rec.time_ns });
            records.push(Record { orig_len: rec.orig_len, index: packets_in });
        }
        if batch.is_empty() {
            break;
        }

        let t0 = Instant::now();
        run_chain(&mut modules, &mut batch, cfg.ports, &mut chain);
        chain_time += t0.elapsed();
        report_stops(&modules, &chain, |slot| records[slot].index, on_event);

        for e in &chain.out {
            let (a, r) = (&batch[e.slot], &records[e.slot]);
            let data = match &e.copy {
                Some(c) => c.frame(),
                None => a.frame.frame(),
            };
            // A capture cut short by its snaplen stays cut short by the same amount.
            let orig_len = r.orig_len.max(data.len() as u32);
            packets_out += 1;
            for o in outputs.iter_mut().filter(|o| o.port.is_none_or(|p| p == e.port)) {
                o.writer
                    .write(a.time_ns, orig_len, data)
                    .map_err(|source| HostError::Output { path: o.path.clone(), source })?;
                o.written += 1;
            }
        }
        chain.out.clear();
        records.clear();
        spare.extend(batch.drain(..).map(|a| a.frame));
    }

    let written = outputs.iter().map(|o| o.written).collect();
    for o in outputs {
        let err = |source| HostError::Output { path: o.path.clone(), source };
        let file = o.writer.finish().map_err(err)?.into_inner().map_err(|e| err(e.into_error()))?;
        file.commit().map_err(err)?;
    }
    Ok(RunReport {
        modules: modules.iter().map(|m| (m.name().to_string(), m.stats())).collect(),
        quarantined: modules.iter().map(|m| m.quarantined().cloned()).collect(),
        protection: modules.iter().map(|m| m.protection()).collect(),
        packets_in,
        packets_out,
        written,
        chain_time,
        wall_time: start.elapsed(),
    })
}

/// Loads every module of the chain, refusing unprotected ones unless allowed.
pub(crate) fn load_chain(cfg: &RunConfig) -> Result<Vec<Module>, HostError> {
    load_chain_labelled(cfg, "")
}

/// [`load_chain`], with `suffix` after every module's label (one chain per lcore).
pub(crate) fn load_chain_labelled(cfg: &RunConfig, suffix: &str) -> Result<Vec<Module>, HostError> {
    let mut modules = Vec::new();
    for (i, spec) in cfg.modules.iter().enumerate() {
        let m = Module::load(spec, &format!("{}{suffix}", label(cfg, i)), cfg.ports)?;
        if m.protection() == Protection::None && !cfg.allow_unprotected {
            return Err(HostError::Usage(format!(
                "{}: built with --protect none, so nothing confines it; pass --allow-unprotected to run it anyway",
                spec.path.display()
            )));
        }
        modules.push(m);
    }
    Ok(modules)
}

/// A module's label: its file stem, with `#N` when the same stem appears more than once.
fn label(cfg: &RunConfig, i: usize) -> String {
    let stem = |k: usize| {
        cfg.modules[k].path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    };
    let me = stem(i);
    let same: Vec<usize> = (0..cfg.modules.len()).filter(|&k| stem(k) == me).collect();
    if same.len() == 1 {
        me
    } else {
        format!("{me}#{}", same.iter().position(|&k| k == i).unwrap() + 1)
    }
}

fn earliest(inputs: &[InFile]) -> Option<usize> {
    inputs
        .iter()
        .enumerate()
        .filter_map(|(k, f)| f.next.as_ref().map(|r| (r.time_ns, k)))
        .min()
        .map(|(_, k)| k)
}

/// A packet buffer the chain can run modules on: a frame with `abi::HEADROOM` bytes
/// before it that belong to the packet (pcap buffers, DPDK mbufs).
pub(crate) trait Frame: Sized {
    /// The first byte of the frame; the `HEADROOM` bytes before it are the packet's too,
    /// and nothing else lives in `[data - HEADROOM, data + len)`.
    fn data(&mut self) -> *mut u8;
    /// Bytes of the frame.
    fn len(&self) -> u32;
    /// A separate buffer holding a copy of the frame, for one port of a flood; `None` when
    /// no buffer can be had (the copy is lost and counted).
    fn duplicate(&self) -> Option<Self>;
}

impl Frame for PacketBuf {
    fn data(&mut self) -> *mut u8 {
        self.data_ptr()
    }

    fn len(&self) -> u32 {
        self.len
    }

    fn duplicate(&self) -> Option<PacketBuf> {
        Some(PacketBuf::from_frame(self.frame()))
    }
}

/// A packet as it arrived: its buffer (which stays the host's), input port and time.
pub(crate) struct Arrival<F> {
    /// The buffer it arrived in.
    pub frame: F,
    /// Its input port.
    pub port: u16,
    /// Its arrival time.
    pub time_ns: u64,
}

/// A packet between two modules of the chain: a copy of arrival `slot` made for one port of
/// a flood (`copy`), or that arrival's own buffer (`None`), heading for `port`.
pub(crate) struct InChain<F> {
    /// Index of the arrival it comes from.
    pub slot: usize,
    /// The port the last module sent it to (the input port before the first).
    pub port: u16,
    /// A flood copy, which the chain owns; `None`: the arrival's own buffer.
    pub copy: Option<F>,
}

/// What a burst did besides the packets that left the chain; reused from burst to burst
/// (its buffers keep their capacity).
pub(crate) struct Chain<F> {
    /// What left the last module, in the order the per-packet chain would have emitted it:
    /// by arrival, and a flood's copies in port order. An arrival's own buffer leaves at
    /// most once (`copy: None`); the caller takes these out after each burst.
    pub out: Vec<InChain<F>>,
    /// `(arrival, module)` for each module a violation stopped, by arrival.
    pub stopped: Vec<(usize, usize)>,
    /// Flood copies that could not be made (no buffer), over every burst.
    pub lost_copies: u64,
    next: Vec<InChain<F>>,
    pkts: Vec<crate::abi::Packet>,
    verdicts: Vec<Verdict>,
}

impl<F> Default for Chain<F> {
    fn default() -> Self {
        Chain { out: Vec::new(), stopped: Vec::new(), lost_copies: 0, next: Vec::new(), pkts: Vec::new(), verdicts: Vec::new() }
    }
}

/// Tells `on_event` about every module a violation stopped in the last burst, by arrival;
/// `index(slot)` is the 1-based input packet number of arrival `slot`.
pub(crate) fn report_stops<F>(modules: &[Module], chain: &Chain<F>, index: impl Fn(usize) -> u64, on_event: &mut dyn FnMut(&Event)) {
    for &(slot, m) in &chain.stopped {
        let module: &Module = &modules[m];
        let violation = module.quarantined().expect("a stopped module is quarantined").clone();
        on_event(&Event::Violation { module: module.name().to_string(), packet: index(slot), violation });
    }
}

/// Sends a burst of arrivals through the chain, the step every host loop shares; what
/// leaves the last module is in `chain.out` afterwards. Each module is entered once for
/// the burst (`Module::process_burst`), on the packets the previous one passed on, in
/// order: every module sees exactly the packets, in exactly the order, and decides exactly
/// what it would if each arrival went through the whole chain before the next (a flood
/// makes one copy per port but the input one, each going through the rest of the chain on
/// its own); only the interleaving of different modules' calls differs. No two arrivals
/// may share a buffer.
pub(crate) fn run_chain<F: Frame>(modules: &mut [Module], arrivals: &mut [Arrival<F>], ports: u16, chain: &mut Chain<F>) {
    chain.out.clear();
    chain.stopped.clear();
    chain.out.extend(arrivals.iter().enumerate().map(|(slot, a)| InChain { slot, port: a.port, copy: None }));
    for (at, m) in modules.iter_mut().enumerate() {
        if chain.out.is_empty() {
            break;
        }
        chain.pkts.clear();
        for p in chain.out.iter_mut() {
            let a = &mut arrivals[p.slot];
            let f = match &mut p.copy {
                Some(c) => c,
                None => &mut a.frame,
            };
            chain.pkts.push(crate::abi::Packet { data: f.data(), len: f.len(), port: p.port, pad: 0, time_ns: a.time_ns });
        }
        // SAFETY: every `Frame` is one buffer with HEADROOM bytes before `len` bytes of
        // frame that nothing else uses while the module runs, and each buffer is in the
        // burst once (arrivals do not share buffers, copies are new).
        unsafe { m.process_burst(&chain.pkts, &mut chain.verdicts) };
        if !chain.verdicts.contains(&Verdict::Flood) {
            // No copies to make: what goes on stays where it is, in order.
            let (verdicts, stopped) = (&chain.verdicts, &mut chain.stopped);
            let mut k = 0;
            chain.out.retain_mut(|p| {
                let v = verdicts[k];
                k += 1;
                match v {
                    Verdict::Port(to) => {
                        p.port = to;
                        true
                    }
                    Verdict::Violation => {
                        stopped.push((p.slot, at));
                        false
                    }
                    _ => false,
                }
            });
            continue;
        }
        chain.next.clear();
        for (mut p, &verdict) in chain.out.drain(..).zip(&chain.verdicts) {
            match verdict {
                Verdict::Drop => {}
                Verdict::Violation => chain.stopped.push((p.slot, at)),
                Verdict::Port(to) => {
                    p.port = to;
                    chain.next.push(p);
                }
                Verdict::Flood => {
                    for to in (0..ports).filter(|&to| to != p.port) {
                        let f = match &p.copy {
                            Some(c) => c,
                            None => &arrivals[p.slot].frame,
                        };
                        match f.duplicate() {
                            Some(copy) => chain.next.push(InChain { slot: p.slot, port: to, copy: Some(copy) }),
                            None => chain.lost_copies += 1,
                        }
                    }
                }
            }
        }
        std::mem::swap(&mut chain.out, &mut chain.next);
    }
    // Modules stopped in one burst are told by arrival (then chain position).
    chain.stopped.sort_unstable();
}

/// Pushes `packets` packets from a preallocated `pool` of frames through the chain, with no
/// file I/O: the pool is reused round-robin, in bursts of at most [`BATCH`] distinct
/// frames, arrival times advance by `gap_ns` per packet. Returns the time spent in the
/// chain. Used by `nfcc bench`.
pub fn run_pool(cfg: &RunConfig, pool: &[Vec<u8>], packets: u64, gap_ns: u64) -> Result<Duration, HostError> {
    if pool.is_empty() {
        return Err(HostError::Usage("empty packet pool".into()));
    }
    let mut modules = load_chain(cfg)?;
    let mut bufs: Vec<Arrival<PacketBuf>> = pool.iter().map(|f| Arrival { frame: PacketBuf::from_frame(f), port: 0, time_ns: 0 }).collect();
    let burst = bufs.len().min(BATCH);
    let mut chain = Chain::default();
    let t0 = Instant::now();
    let mut time_ns = 1_700_000_000_000_000_000u64;
    let (mut done, mut k) = (0u64, 0usize);
    while done < packets {
        // A burst never holds one buffer twice: it ends at the end of the pool.
        let n = (burst as u64).min(packets - done).min((bufs.len() - k) as u64) as usize;
        for a in &mut bufs[k..k + n] {
            time_ns += gap_ns;
            a.time_ns = time_ns;
        }
        run_chain(&mut modules, &mut bufs[k..k + n], cfg.ports, &mut chain);
        if let Some(&(_, m)) = chain.stopped.first() {
            let v = modules[m].quarantined().cloned().expect("stopped modules are quarantined");
            return Err(HostError::Usage(format!("{} was stopped during the benchmark: {v}", modules[m].name())));
        }
        chain.out.clear();
        done += n as u64;
        k = (k + n) % bufs.len();
    }
    Ok(t0.elapsed())
}
