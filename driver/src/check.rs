//! `nfcc check`: validates a module's performance contract against real executions.
//!
//! For every packet of the input captures (merged by time exactly as `nfcc run` merges
//! them), one call of `nf_process`:
//! - **measured**: valgrind callgrind runs the real module inside `nfcc run`, collecting only
//!   inside `nf_process` (`--toggle-collect`), with the cache simulator on (for `Dr`/`Dw`),
//!   and dumps the counts after every call (`--dump-after=nf_process`, all dumps appended to
//!   one file by `--combine-dumps`): dump `k` is call `k`. Instructions are `Ir`, memory
//!   accesses `Dr + Dw`, as the contract's metrics define them;
//! - **PCVs**: the module's tracing variant (`nfcc build` writes `OUT.trace.so` beside a
//!   module whose contract has PCVs; see `nfcc_passes::trace`) runs in this process on the
//!   same packets, its counters zeroed before each call and read after. Modules are
//!   deterministic given the same packets and settings, so both runs take the same paths;
//!   that they saw the same packets with the same verdicts is checked;
//! - **classified** by the contract's machine-readable conditions
//!   ([`nfcc_symbex::contract::Contract::classes_of`]; the bound of a packet several classes
//!   match is the largest of theirs), and compared: gap = (bound - measured) / measured.
//!
//! Calls stopped by an isolation violation are reported, not compared (the contract does
//! not bound them). The contract must describe exactly the module (its `module_sha256`),
//! and the tracing variant must have been made for that module and those PCVs (it embeds
//! both, `@nfcc__trace_info`).

use crate::contract::sha256_hex;
use nfcc_passes::trace::{self, COUNTS_SYMBOL, INFO_SYMBOL};
use nfcc_runtime::config::Setting;
use nfcc_runtime::host::Input;
use nfcc_runtime::module::{LoadError, Module, ModuleSpec, ModuleStats, PacketBuf, Protection, Verdict};
use nfcc_runtime::pcap::{PacketRecord, PcapError, PcapReader};
use nfcc_symbex::contract::{Contract, ContractError, Input as ContractInput};
use serde_json::json;
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Everything `nfcc check` was asked for.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The module.
    pub module: PathBuf,
    /// Its settings (`KEY=VALUE`), as for `nfcc run`.
    pub settings: Vec<Setting>,
    /// The captures, each with the port its packets arrive on.
    pub inputs: Vec<Input>,
    /// The contract (default: [`crate::build::contract_path`] of the module).
    pub contract: Option<PathBuf>,
    /// Ports the host offers the module.
    pub ports: u16,
    /// Accept a contract that does not cover every path (`coverage.complete` false).
    pub allow_holes: bool,
    /// Run a module built with `--protect none`.
    pub allow_unprotected: bool,
    /// The `nfcc` binary that runs the module under valgrind (`nfcc run`).
    pub nfcc: PathBuf,
}

/// Why a check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),
    /// A file cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The contract file is not a contract.
    #[error("{}: {source}", path.display())]
    Contract {
        /// The contract file.
        path: PathBuf,
        /// Why.
        source: ContractError,
    },
    /// The contract describes another binary.
    #[error("{}: this contract is for another binary: it names SHA-256 {contract_sha} (module `{named}`), {} has {module_sha}; rebuild the module with `nfcc build` to get its contract", contract.display(), module.display())]
    WrongModule {
        /// The contract file.
        contract: PathBuf,
        /// The module file.
        module: PathBuf,
        /// The module the contract names.
        named: String,
        /// The hash in the contract.
        contract_sha: String,
        /// The module's hash.
        module_sha: String,
    },
    /// The contract has holes and `--allow-holes` was not given.
    #[error("{}: the contract does not cover every path ({} holes: {}); its bounds hold only for the paths analysed; pass --allow-holes to check it anyway", path.display(), holes.len(), holes.join("; "))]
    Incomplete {
        /// The contract file.
        path: PathBuf,
        /// What it does not cover.
        holes: Vec<String>,
    },
    /// The tracing variant is missing.
    #[error("{}: missing: the contract has PCVs ({}), whose values nfcc check counts with this tracing variant of the module; `nfcc build` writes it beside the module, rebuild it", path.display(), pcvs.join(", "))]
    TraceMissing {
        /// Where it should be.
        path: PathBuf,
        /// The contract's PCVs.
        pcvs: Vec<String>,
    },
    /// The tracing variant is not the one of this module and contract.
    #[error("{}: stale tracing variant: {reason}; rebuild the module with `nfcc build`", path.display())]
    TraceStale {
        /// The tracing variant.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// A module could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A capture is unreadable or malformed.
    #[error(transparent)]
    Pcap(#[from] PcapError),
    /// valgrind cannot be started.
    #[error("cannot run valgrind: {0} (scripts/setup.sh installs it)")]
    Valgrind(String),
    /// The measured run failed.
    #[error("{}: the run under callgrind failed ({status}):\n{stderr}", module.display())]
    Measure {
        /// The module.
        module: PathBuf,
        /// Its exit status.
        status: String,
        /// What it printed.
        stderr: String,
    },
    /// callgrind's output cannot be read.
    #[error("{}: cannot read callgrind's counts: {message}", path.display())]
    Dumps {
        /// The callgrind output file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The measured run and the counting run disagree.
    #[error("{}: the measured run and the counting run disagree: {message}", module.display())]
    Mismatch {
        /// The module.
        module: PathBuf,
        /// How.
        message: String,
    },
    /// A temporary file cannot be made.
    #[error("cannot create temporary files: {0}")]
    Temp(std::io::Error),
}

/// Per-metric numbers: instructions (`Ir`) and memory accesses (`Dr + Dw`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics<T> {
    /// Instructions.
    pub instructions: T,
    /// Memory accesses.
    pub memory: T,
}

/// Max and mean gap of a set of packets on one metric.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GapStats {
    /// Largest gap.
    pub max: f64,
    /// Mean gap.
    pub mean: f64,
    /// The packet with the largest gap (the first of them), numbered as in the report.
    pub worst: u64,
}

/// One class's packets.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassReport {
    /// The class number in the contract.
    pub id: usize,
    /// Its condition, readable.
    pub when: String,
    /// Packets compared against it.
    pub packets: u64,
    /// Gaps, when it has packets.
    pub gaps: Option<Metrics<GapStats>>,
    /// Largest value each PCV took on its packets.
    pub pcv_max: BTreeMap<String, u64>,
}

/// A packet compared against its bound.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketResult {
    /// Its number in the merged input (from 1, as `nfcc run` numbers packets).
    pub packet: u64,
    /// Every class it falls in; the first is the one it is reported under.
    pub classes: Vec<usize>,
    /// What callgrind measured.
    pub measured: Metrics<u64>,
    /// The contract's bound for it.
    pub bound: Metrics<i64>,
    /// Its PCV values.
    pub pcvs: BTreeMap<String, u64>,
    /// (bound - measured) / measured.
    pub gap: Metrics<f64>,
}

/// A packet whose call the module's isolation stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct ViolationPacket {
    /// Its number.
    pub packet: u64,
    /// The violation.
    pub message: String,
}

/// What a check found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The module.
    pub module: PathBuf,
    /// The contract.
    pub contract: PathBuf,
    /// The tracing variant used, if the contract has PCVs.
    pub trace: Option<PathBuf>,
    /// The module's protection mode.
    pub protection: String,
    /// Whether the contract covers every path.
    pub complete: bool,
    /// The contract's PCVs.
    pub pcvs: Vec<String>,
    /// Packets read from the captures.
    pub packets: u64,
    /// Packets handed to `nf_process` (the rest arrived after a violation quarantined it).
    pub delivered: u64,
    /// Packets compared with a bound.
    pub compared: u64,
    /// Per class, in the contract's order.
    pub classes: Vec<ClassReport>,
    /// Largest gap over every compared packet, per metric.
    pub max_gap: Option<Metrics<f64>>,
    /// Packets that cost more than their bound.
    pub underestimates: Vec<PacketResult>,
    /// Packets no class matches (numbers).
    pub unclassified: Vec<u64>,
    /// Packets stopped by a violation (not compared).
    pub violations: Vec<ViolationPacket>,
}

impl CheckReport {
    /// Whether the contract held: no underestimate, and (for a complete contract) every
    /// packet in a class. An incomplete contract (accepted with `--allow-holes`) is not
    /// expected to classify packets that take the paths it did not analyse.
    pub fn holds(&self) -> bool {
        self.underestimates.is_empty() && (self.unclassified.is_empty() || !self.complete)
    }

    /// The report as JSON (stable field names; gaps are fractions, 0.01 = 1%).
    pub fn to_json(&self) -> String {
        let gaps = |g: &Option<Metrics<GapStats>>, f: fn(&GapStats) -> f64| match g {
            Some(m) => json!({ "instructions": f(&m.instructions), "memory": f(&m.memory) }),
            None => serde_json::Value::Null,
        };
        let classes: Vec<_> = self
            .classes
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "when": c.when,
                    "packets": c.packets,
                    "max_gap": gaps(&c.gaps, |g| g.max),
                    "mean_gap": gaps(&c.gaps, |g| g.mean),
                    "max_gap_packet": c.gaps.as_ref().map(|m| json!({ "instructions": m.instructions.worst, "memory": m.memory.worst })),
                    "pcv_max": c.pcv_max,
                })
            })
            .collect();
        let metrics_u = |m: &Metrics<u64>| json!({ "instructions": m.instructions, "memory": m.memory });
        let metrics_i = |m: &Metrics<i64>| json!({ "instructions": m.instructions, "memory": m.memory });
        let metrics_f = |m: &Metrics<f64>| json!({ "instructions": m.instructions, "memory": m.memory });
        let under: Vec<_> = self
            .underestimates
            .iter()
            .map(|p| {
                json!({
                    "packet": p.packet,
                    "classes": p.classes,
                    "measured": metrics_u(&p.measured),
                    "bound": metrics_i(&p.bound),
                    "gap": metrics_f(&p.gap),
                    "pcvs": p.pcvs,
                })
            })
            .collect();
        let v = json!({
            "format": "nfcc-check/1",
            "module": self.module.display().to_string(),
            "contract": self.contract.display().to_string(),
            "trace_module": self.trace.as_ref().map(|t| t.display().to_string()),
            "protection": self.protection,
            "contract_complete": self.complete,
            "pcvs": self.pcvs,
            "packets": self.packets,
            "delivered": self.delivered,
            "compared": self.compared,
            "classes": classes,
            "max_gap": self.max_gap.as_ref().map(metrics_f),
            "underestimates": self.underestimates.len(),
            "underestimated_packets": under,
            "unclassified": self.unclassified.len(),
            "unclassified_packets": self.unclassified,
            "violations": self.violations.iter().map(|v| json!({ "packet": v.packet, "message": v.message })).collect::<Vec<_>>(),
            "holds": self.holds(),
        });
        serde_json::to_string_pretty(&v).expect("JSON values serialise") + "\n"
    }

    /// The report as text: a table per class, then every packet that broke its bound.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let pct = |x: f64| format!("{:.2}%", x * 100.0);
        let _ = writeln!(
            s,
            "check of {} against {} (protection {}{}): {} packets, {} delivered, {} compared",
            self.module.display(),
            self.contract.display(),
            self.protection,
            if self.complete { "" } else { ", contract INCOMPLETE" },
            self.packets,
            self.delivered,
            self.compared
        );
        if let Some(t) = &self.trace {
            let _ = writeln!(s, "PCVs {} counted by {}", self.pcvs.join(", "), t.display());
        }
        let _ = writeln!(s);
        let mut head: Vec<String> =
            ["class", "when", "packets", "instr max gap", "instr mean gap", "mem max gap", "mem mean gap"].map(String::from).to_vec();
        if !self.pcvs.is_empty() {
            head.push("largest PCVs".into());
        }
        let rows: Vec<Vec<String>> = self
            .classes
            .iter()
            .map(|c| {
                let g = |f: fn(&Metrics<GapStats>) -> f64| c.gaps.as_ref().map(|m| pct(f(m))).unwrap_or_else(|| "-".into());
                // A max gap names its packet: `8.00% #151`.
                let worst = |f: fn(&Metrics<GapStats>) -> &GapStats| {
                    c.gaps.as_ref().map(|m| format!("{} #{}", pct(f(m).max), f(m).worst)).unwrap_or_else(|| "-".into())
                };
                // Long conditions are cut here; `nfcc contract show` and --json give them whole.
                let when = if c.when.chars().count() > WHEN_WIDTH {
                    format!("{}...", c.when.chars().take(WHEN_WIDTH - 3).collect::<String>())
                } else {
                    c.when.clone()
                };
                let mut row = vec![
                    c.id.to_string(),
                    when,
                    c.packets.to_string(),
                    worst(|m| &m.instructions),
                    g(|m| m.instructions.mean),
                    worst(|m| &m.memory),
                    g(|m| m.memory.mean),
                ];
                if !self.pcvs.is_empty() {
                    let seen: Vec<String> = c.pcv_max.iter().map(|(n, v)| format!("{n}={v}")).collect();
                    row.push(if seen.is_empty() { "-".into() } else { seen.join(" ") });
                }
                row
            })
            .collect();
        let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (k, x) in r.iter().enumerate() {
                w[k] = w[k].max(x.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut l = String::new();
            for (k, x) in cells.iter().enumerate() {
                let pad = w[k].saturating_sub(x.chars().count());
                // Text columns left-aligned, numbers right-aligned.
                if k <= 1 || k == 7 {
                    l.push_str(x);
                    if k + 1 < cells.len() {
                        l.push_str(&" ".repeat(pad + 2));
                    }
                } else {
                    l.push_str(&" ".repeat(pad));
                    l.push_str(x);
                    if k + 1 < cells.len() {
                        l.push_str("  ");
                    }
                }
            }
            l
        };
        let _ = writeln!(s, "{}", line(&head));
        for r in &rows {
            let _ = writeln!(s, "{}", line(r));
        }
        let _ = writeln!(s);
        for p in &self.underestimates {
            let pcvs = if p.pcvs.is_empty() {
                String::new()
            } else {
                format!("; PCVs {}", p.pcvs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(" "))
            };
            let _ = writeln!(
                s,
                "UNDERESTIMATE: packet {} (class {}): instructions {} measured, bound {}; memory accesses {} measured, bound {}{pcvs}",
                p.packet,
                p.classes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("+"),
                p.measured.instructions,
                p.bound.instructions,
                p.measured.memory,
                p.bound.memory,
            );
        }
        if !self.unclassified.is_empty() {
            let shown: Vec<String> = self.unclassified.iter().take(20).map(|n| n.to_string()).collect();
            let more = if self.unclassified.len() > 20 { format!(" and {} more", self.unclassified.len() - 20) } else { String::new() };
            let _ = writeln!(
                s,
                "{} packets fall in no class of the contract{}: packets {}{more}",
                self.unclassified.len(),
                if self.complete { " (an error in the contract)" } else { " (its holes)" },
                shown.join(", ")
            );
        }
        for v in &self.violations {
            let _ = writeln!(s, "packet {}: stopped by a violation, not compared: {}", v.packet, v.message);
        }
        match &self.max_gap {
            Some(g) => {
                let _ = writeln!(
                    s,
                    "max gap: instructions {}, memory accesses {}; {} underestimates",
                    pct(g.instructions),
                    pct(g.memory),
                    self.underestimates.len()
                );
            }
            None => {
                let _ = writeln!(s, "no packet compared; {} underestimates", self.underestimates.len());
            }
        }
        s
    }
}

/// Longest condition the table prints whole.
const WHEN_WIDTH: usize = 60;

/// One packet of the merged input.
pub(crate) struct Packet {
    pub(crate) data: Vec<u8>,
    pub(crate) port: u16,
    pub(crate) time_ns: u64,
}

/// The packets of a check, with each one's verdict in the counting run (`None`: not
/// delivered) and its contract bound (`None`: in no class).
pub(crate) struct CountedPackets {
    pub(crate) packets: Vec<Packet>,
    pub(crate) verdicts: Vec<Option<Verdict>>,
    pub(crate) bounds: Vec<Option<crate::stack::PacketBounds>>,
}

/// What every check requires before it runs anything: the contract names the module whose
/// SHA-256 is `module_sha` and covers every path (or `--allow-holes`), the captures read,
/// and the tracing variant exists if the contract has PCVs (its path is returned).
fn admit(opts: &CheckOptions, contract: &Contract, contract_path: &Path, module_sha: String) -> Result<(Vec<Packet>, Option<PathBuf>), CheckError> {
    if contract.module_sha256 != module_sha {
        return Err(CheckError::WrongModule {
            contract: contract_path.to_path_buf(),
            module: opts.module.clone(),
            named: contract.module.clone(),
            contract_sha: contract.module_sha256.clone(),
            module_sha,
        });
    }
    if !contract.coverage.complete && !opts.allow_holes {
        return Err(CheckError::Incomplete {
            path: contract_path.to_path_buf(),
            holes: contract.coverage.holes.iter().map(|h| h.what.clone()).collect(),
        });
    }
    let packets = read_inputs(&opts.inputs)?;
    let pcv_names = contract.counted();
    let trace = (!pcv_names.is_empty()).then(|| crate::build::trace_path(&opts.module));
    if let Some(t) = &trace {
        if !t.exists() {
            return Err(CheckError::TraceMissing { path: t.clone(), pcvs: pcv_names });
        }
    }
    Ok((packets, trace))
}

/// What [`check`] does before it measures, for a check of the whole stack: the contract
/// must name this module and cover it (or `--allow-holes`), the tracing variant must match,
/// and the counting run gives every packet's verdict, PCVs and so its bound. A violation
/// is refused: the whole-stack check compares every call.
pub(crate) fn count_packets(opts: &CheckOptions, contract: &Contract, contract_path: &Path) -> Result<CountedPackets, CheckError> {
    let module_bytes = std::fs::read(&opts.module).map_err(|source| CheckError::Read { path: opts.module.clone(), source })?;
    let (packets, trace) = admit(opts, contract, contract_path, sha256_hex(&module_bytes))?;
    let pcv_names = contract.counted();
    let counted = count(opts, trace.as_deref(), contract, &packets)?;
    if let Some((k, v)) = &counted.violation {
        return Err(CheckError::Mismatch { module: opts.module.clone(), message: format!("packet {k} stops the module ({v}); a whole-stack check needs every call to complete") });
    }
    let mut verdicts = Vec::new();
    let mut bounds = Vec::new();
    for (k, p) in packets.iter().enumerate() {
        let Outcome::Done(v) = counted.outcomes[k] else {
            verdicts.push(None);
            continue;
        };
        verdicts.push(Some(v));
        let pcvs: BTreeMap<String, u64> = pcv_names.iter().cloned().zip(counted.pcvs[k].iter().copied()).collect();
        let b = crate::stack::packet_bound(contract, &p.data, p.port, p.time_ns, &pcvs)
            .map_err(|source| CheckError::Contract { path: contract_path.to_path_buf(), source })?;
        bounds.push(b);
    }
    Ok(CountedPackets { packets, verdicts, bounds })
}

/// What one call did in the counting run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Delivered, with this verdict.
    Done(Verdict),
    /// Not handed to the module (quarantined by an earlier violation).
    NotDelivered,
}

/// Checks the contract of `opts.module` against the captures.
pub fn check(opts: &CheckOptions) -> Result<CheckReport, CheckError> {
    if opts.inputs.is_empty() {
        return Err(CheckError::Usage("no input capture given (--pcap FILE)".into()));
    }
    if opts.ports == 0 || opts.ports > nfcc_runtime::abi::MAX_PORTS {
        return Err(CheckError::Usage(format!("--ports {}: must be between 1 and {}", opts.ports, nfcc_runtime::abi::MAX_PORTS)));
    }
    if let Some(i) = opts.inputs.iter().find(|i| i.port >= opts.ports) {
        return Err(CheckError::Usage(format!(
            "port {} does not exist: the host offers ports 0 to {} (set --ports)",
            i.port,
            opts.ports - 1
        )));
    }
    let contract_path = opts.contract.clone().unwrap_or_else(|| crate::build::contract_path(&opts.module));
    let read = |p: &Path| std::fs::read(p).map_err(|source| CheckError::Read { path: p.to_path_buf(), source });
    let module_bytes = read(&opts.module)?;
    let text = String::from_utf8(read(&contract_path)?).map_err(|_| CheckError::Contract {
        path: contract_path.clone(),
        source: ContractError::Parse("not UTF-8 text".into()),
    })?;
    let contract = Contract::from_json(&text).map_err(|source| CheckError::Contract { path: contract_path.clone(), source })?;
    let (packets, trace) = admit(opts, &contract, &contract_path, sha256_hex(&module_bytes))?;
    let pcv_names = contract.counted();

    // Counting run, in this process: the tracing variant when there are PCVs to count,
    // else the module itself (for the verdicts the measured run must reproduce).
    let counted = count(opts, trace.as_deref(), &contract, &packets)?;

    // Measured run, under callgrind.
    let dir = tempfile::Builder::new().prefix("nfcc-check-").tempdir().map_err(CheckError::Temp)?;
    let (dumps, stats) = measure(opts, dir.path())?;
    // `nfcc run` prints bad verdicts and violations as one column.
    let counted_stats = ModuleStats { bad_verdict: 0, violations: counted.stats.violations + counted.stats.bad_verdict, ..counted.stats };
    if stats != counted_stats {
        return Err(CheckError::Mismatch {
            module: opts.module.clone(),
            message: format!("counters under callgrind {} against {} in the counting run", describe(&stats), describe(&counted_stats)),
        });
    }
    let delivered = counted.stats.received;
    let violated = counted.violation.is_some();
    // A call stopped by a violation leaves nf_process by a long jump, which callgrind also
    // treats as a return; accept its dump missing all the same.
    if dumps.len() as u64 != delivered && !(violated && dumps.len() as u64 + 1 == delivered) {
        return Err(CheckError::Mismatch {
            module: opts.module.clone(),
            message: format!("callgrind saw {} calls of nf_process, the module received {delivered} packets", dumps.len()),
        });
    }

    let mut per_class: BTreeMap<usize, Vec<(u64, Metrics<f64>)>> = BTreeMap::new();
    let mut pcv_max: BTreeMap<usize, BTreeMap<String, u64>> = BTreeMap::new();
    let mut underestimates = Vec::new();
    let mut unclassified = Vec::new();
    let mut max_gap: Option<Metrics<f64>> = None;
    let mut compared = 0u64;
    let mut call = 0usize;
    for (k, p) in packets.iter().enumerate() {
        let number = k as u64 + 1;
        let Outcome::Done(verdict) = counted.outcomes[k] else { continue };
        let cost = dumps.get(call).copied();
        call += 1;
        if verdict == Verdict::Violation {
            continue;
        }
        let cost = cost.expect("only a violation's dump may be missing");
        let input = ContractInput { packet: &p.data, port: p.port, time_ns: p.time_ns };
        let counts: BTreeMap<String, u64> = pcv_names.iter().cloned().zip(counted.pcvs[k].iter().copied()).collect();
        let classes = contract.classes_of(input, &counts).map_err(|source| CheckError::Contract { path: contract_path.clone(), source })?;
        if classes.is_empty() {
            unclassified.push(number);
            continue;
        }
        let pcvs: BTreeMap<String, u64> = contract.pcvs.iter().map(|p| (p.name.clone(), counts.get(&p.name).copied().unwrap_or(0))).collect();
        let bounds: Vec<(usize, i64, i64)> =
            classes.iter().map(|c| (c.id, c.instructions.eval(&pcvs), c.memory.eval(&pcvs))).collect();
        let bound = Metrics {
            instructions: bounds.iter().map(|b| b.1).max().expect("at least one class"),
            memory: bounds.iter().map(|b| b.2).max().expect("at least one class"),
        };
        // Reported under the class with the largest instruction bound (first on a tie).
        let mut ids: Vec<usize> = bounds.iter().map(|b| b.0).collect();
        let top = bounds.iter().enumerate().max_by_key(|(i, b)| (b.1, std::cmp::Reverse(*i))).map(|(i, _)| i).unwrap_or(0);
        ids.swap(0, top);
        let gap = Metrics { instructions: gap(bound.instructions, cost.instructions), memory: gap(bound.memory, cost.memory) };
        compared += 1;
        per_class.entry(ids[0]).or_default().push((number, gap));
        let seen = pcv_max.entry(ids[0]).or_default();
        for (n, v) in &pcvs {
            let e = seen.entry(n.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
        max_gap = Some(match max_gap {
            None => gap,
            Some(m) => Metrics { instructions: m.instructions.max(gap.instructions), memory: m.memory.max(gap.memory) },
        });
        if bound.instructions < cost.instructions as i64 || bound.memory < cost.memory as i64 {
            underestimates.push(PacketResult { packet: number, classes: ids, measured: cost, bound, pcvs, gap });
        }
    }
    let classes = contract
        .classes
        .iter()
        .map(|c| {
            let gaps = per_class.get(&c.id).map(|v| {
                let stat = |f: fn(&Metrics<f64>) -> f64| {
                    let (worst, max) = v.iter().fold((0, f64::NEG_INFINITY), |(w, m), (k, g)| if f(g) > m { (*k, f(g)) } else { (w, m) });
                    GapStats { max, mean: v.iter().map(|(_, g)| f(g)).sum::<f64>() / v.len() as f64, worst }
                };
                Metrics { instructions: stat(|m| m.instructions), memory: stat(|m| m.memory) }
            });
            ClassReport {
                id: c.id,
                when: c.when.clone(),
                packets: per_class.get(&c.id).map_or(0, |v| v.len() as u64),
                gaps,
                pcv_max: pcv_max.remove(&c.id).unwrap_or_default(),
            }
        })
        .collect();
    Ok(CheckReport {
        module: opts.module.clone(),
        contract: contract_path,
        trace,
        protection: contract.protection.clone(),
        complete: contract.coverage.complete,
        pcvs: contract.pcvs.iter().map(|p| p.name.clone()).collect(),
        packets: packets.len() as u64,
        delivered,
        compared,
        classes,
        max_gap,
        underestimates,
        unclassified,
        violations: counted.violation.into_iter().map(|(packet, message)| ViolationPacket { packet, message }).collect(),
    })
}

/// (bound - measured) / measured (a call measuring 0 counts as 1, so the gap stays finite).
fn gap(bound: i64, measured: u64) -> f64 {
    (bound as f64 - measured as f64) / (measured.max(1) as f64)
}

fn describe(s: &ModuleStats) -> String {
    format!(
        "(received {}, forwarded {}, dropped {}, errors {}, quarantined {})",
        s.received,
        s.forwarded,
        s.dropped,
        s.bad_verdict + s.violations,
        s.quarantined
    )
}

/// Every packet of `inputs`, merged by time as the host merges them (ties: the order given).
fn read_inputs(inputs: &[Input]) -> Result<Vec<Packet>, CheckError> {
    let mut readers = Vec::new();
    for i in inputs {
        let mut r = PcapReader::open(&i.path)?;
        let mut rec = PacketRecord::default();
        let head = if r.next_into(&mut rec)? { Some(rec) } else { None };
        readers.push((i.port, r, head));
    }
    let mut out = Vec::new();
    loop {
        let next = readers
            .iter()
            .enumerate()
            .filter_map(|(k, (_, _, head))| head.as_ref().map(|r| (r.time_ns, k)))
            .min()
            .map(|(_, k)| k);
        let Some(k) = next else { break };
        let (port, reader, head) = &mut readers[k];
        let rec = head.take().expect("chosen input has a packet");
        let mut again = PacketRecord::default();
        if reader.next_into(&mut again)? {
            *head = Some(again);
        }
        out.push(Packet { data: rec.data, port: *port, time_ns: rec.time_ns });
    }
    Ok(out)
}

/// What the counting run saw.
struct Counted {
    outcomes: Vec<Outcome>,
    /// PCV values of each packet, in the contract's PCV order (empty when none).
    pcvs: Vec<Vec<u64>>,
    stats: ModuleStats,
    /// The packet a violation stopped, and what it was.
    violation: Option<(u64, String)>,
}

/// Runs the tracing variant `trace` (or, without PCVs, the module itself) over `packets` in
/// this process, reading the PCV counters around every call.
fn count(opts: &CheckOptions, trace: Option<&Path>, contract: &Contract, packets: &[Packet]) -> Result<Counted, CheckError> {
    let path = trace.unwrap_or(&opts.module);
    let spec = ModuleSpec { path: path.to_path_buf(), settings: opts.settings.clone() };
    let label = opts.module.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut module = Module::load(&spec, &label, opts.ports)?;
    if module.protection() == Protection::None && !opts.allow_unprotected {
        return Err(CheckError::Usage(format!(
            "{}: built with --protect none, so nothing confines it; pass --allow-unprotected to run it anyway",
            opts.module.display()
        )));
    }
    let want = contract.counted();
    let n = want.len();
    let counters: Option<*mut u64> = match trace {
        None => None,
        Some(t) => {
            let stale = |reason: String| CheckError::TraceStale { path: t.to_path_buf(), reason };
            let info = module
                .symbol(INFO_SYMBOL)
                .ok_or_else(|| stale(format!("it does not export `{INFO_SYMBOL}`: not a tracing variant")))?;
            // SAFETY: the trace pass defines the symbol as a NUL-terminated constant string.
            let text = unsafe { CStr::from_ptr(info as *const std::ffi::c_char) }.to_string_lossy().into_owned();
            let (sha, names) = trace::parse_info(&text).ok_or_else(|| stale(format!("`{INFO_SYMBOL}` is not in the {} format", trace::INFO_FORMAT)))?;
            if sha != contract.module_sha256 {
                return Err(stale(format!("it was made for the module with SHA-256 {sha}, the contract is for {}", contract.module_sha256)));
            }
            if names != want {
                return Err(stale(format!("it counts PCVs [{}], the contract has [{}]", names.join(", "), want.join(", "))));
            }
            if module.protection().name() != contract.protection {
                return Err(stale(format!("it is built with --protect {}, the contract is for --protect {}", module.protection().name(), contract.protection)));
            }
            Some(module.symbol(COUNTS_SYMBOL).ok_or_else(|| stale(format!("it does not export `{COUNTS_SYMBOL}`")))? as *mut u64)
        }
    };
    let mut outcomes = Vec::with_capacity(packets.len());
    let mut pcvs = Vec::with_capacity(packets.len());
    let mut violation = None;
    let mut buf = PacketBuf::from_frame(&[]);
    for (k, p) in packets.iter().enumerate() {
        buf.set(&p.data);
        let delivered = module.quarantined().is_none();
        if let Some(c) = counters {
            // SAFETY: `n` slots of the module's own counters; no module code runs now.
            unsafe { std::ptr::write_bytes(c, 0, n) };
        }
        let verdict = module.process(&mut buf, p.port, p.time_ns);
        let values = match counters {
            // SAFETY: as above; the call has returned.
            Some(c) => (0..n).map(|i| unsafe { c.add(i).read_volatile() }).collect(),
            None => Vec::new(),
        };
        if verdict == Verdict::Violation {
            let v = module.quarantined().map(|v| v.to_string()).unwrap_or_default();
            violation = Some((k as u64 + 1, v));
        }
        outcomes.push(if delivered { Outcome::Done(verdict) } else { Outcome::NotDelivered });
        pcvs.push(values);
    }
    Ok(Counted { outcomes, pcvs, stats: module.stats(), violation })
}

/// Runs the real module under callgrind (`nfcc run`), returning each call's counts and the
/// module's counters as `nfcc run` printed them.
fn measure(opts: &CheckOptions, dir: &Path) -> Result<(Vec<Metrics<u64>>, ModuleStats), CheckError> {
    let out = dir.join("callgrind.out");
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--tool=callgrind",
        "--toggle-collect=nf_process",
        "--dump-after=nf_process",
        "--cache-sim=yes",
        "--combine-dumps=yes",
        "--dump-line=no",
    ])
    .arg(format!("--callgrind-out-file={}", out.display()))
    .arg(&opts.nfcc)
    .arg("run")
    .arg(&opts.module);
    for s in &opts.settings {
        cmd.arg(format!("{}={}", s.key, s.value));
    }
    for i in &opts.inputs {
        cmd.arg("--pcap").arg(format!("{}={}", i.port, i.path.display()));
    }
    cmd.arg("--ports").arg(opts.ports.to_string());
    if opts.allow_unprotected {
        cmd.arg("--allow-unprotected");
    }
    let run = cmd.output().map_err(|e| CheckError::Valgrind(e.to_string()))?;
    let stderr = String::from_utf8_lossy(&run.stderr);
    if !run.status.success() {
        let kept: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("==")).collect();
        return Err(CheckError::Measure { module: opts.module.clone(), status: run.status.to_string(), stderr: kept.join("\n") });
    }
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stats = parse_run_counters(&stdout).ok_or_else(|| CheckError::Measure {
        module: opts.module.clone(),
        status: "no counters in its output".into(),
        stderr: stdout.to_string(),
    })?;
    let file = std::fs::File::open(&out).map_err(|source| CheckError::Read { path: out.clone(), source })?;
    let parts = parse_dumps(std::io::BufReader::new(file)).map_err(|message| CheckError::Dumps { path: out.clone(), message })?;
    let mut calls = Vec::new();
    for p in &parts {
        if p.trigger.contains("--dump-after=nf_process") {
            calls.push(p.cost);
        } else if p.cost.instructions != 0 && !(stats.violations > 0 && p.trigger == "Program termination") {
            return Err(CheckError::Dumps {
                path: out.clone(),
                message: format!("{} instructions counted outside any call of nf_process (dump `{}`)", p.cost.instructions, p.trigger),
            });
        }
    }
    Ok((calls, stats))
}

/// One profile part callgrind wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Dump {
    /// What triggered it (`--dump-after=nf_process`, `Program termination`).
    pub trigger: String,
    /// Its totals: `Ir`, and `Dr + Dw`.
    pub cost: Metrics<u64>,
}

/// Reads a callgrind output file (several parts with `--combine-dumps=yes`, or one) into
/// its parts in order: each part's trigger and totals (`totals:`, else `summary:`; trailing
/// zero counts may be left out, as callgrind does). `Dr` and `Dw` must be among the events
/// (`--cache-sim=yes`).
pub fn parse_dumps(reader: impl BufRead) -> Result<Vec<Dump>, String> {
    struct Part {
        trigger: String,
        events: Option<Vec<String>>,
        totals: Option<Vec<u64>>,
        summary: Option<Vec<u64>>,
    }
    let new = || Part { trigger: String::new(), events: None, totals: None, summary: None };
    let mut parts: Vec<Part> = Vec::new();
    let mut cur = new();
    let mut started = false;
    let numbers = |text: &str, line: usize| -> Result<Vec<u64>, String> {
        text.split_whitespace().map(|x| x.parse::<u64>().map_err(|_| format!("line {line}: `{x}` is not a count"))).collect()
    };
    for (k, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        let n = k + 1;
        if k == 0 && !line.starts_with("# callgrind format") && !line.starts_with("version:") {
            return Err("not a callgrind output file".into());
        }
        if line.starts_with("part:") {
            if started {
                parts.push(std::mem::replace(&mut cur, new()));
            }
            started = true;
        } else if let Some(t) = line.strip_prefix("desc: Trigger:") {
            cur.trigger = t.trim().to_string();
        } else if let Some(e) = line.strip_prefix("events:") {
            cur.events = Some(e.split_whitespace().map(String::from).collect());
        } else if let Some(t) = line.strip_prefix("totals:") {
            cur.totals = Some(numbers(t, n)?);
        } else if let Some(t) = line.strip_prefix("summary:") {
            cur.summary = Some(numbers(t, n)?);
        }
    }
    if started || cur.events.is_some() {
        parts.push(cur);
    }
    let mut out = Vec::new();
    for (k, p) in parts.into_iter().enumerate() {
        let events = p.events.ok_or_else(|| format!("part {} has no `events:` line", k + 1))?;
        let totals = p.totals.or(p.summary).ok_or_else(|| format!("part {} has no totals", k + 1))?;
        if totals.len() > events.len() {
            return Err(format!("part {}: {} totals for {} events", k + 1, totals.len(), events.len()));
        }
        let get = |name: &str| -> Result<u64, String> {
            let i = events.iter().position(|e| e == name).ok_or_else(|| format!("part {}: no `{name}` event (run callgrind with --cache-sim=yes)", k + 1))?;
            Ok(totals.get(i).copied().unwrap_or(0))
        };
        out.push(Dump { trigger: p.trigger, cost: Metrics { instructions: get("Ir")?, memory: get("Dr")? + get("Dw")? } });
    }
    Ok(out)
}

/// The module's counters from `nfcc run`'s table (one module: the line after the header).
fn parse_run_counters(stdout: &str) -> Option<ModuleStats> {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("module "));
    lines.next()?;
    let row = lines.next()?;
    let mut words: Vec<&str> = row.split_whitespace().collect();
    let quarantined = if words.last()?.ends_with(')') {
        let n = words.pop()?.trim_start_matches('(').trim_end_matches(')').parse().ok()?;
        words.pop()?;
        n
    } else {
        words.pop()?;
        0
    };
    let num = |w: Option<&str>| w.and_then(|x| x.parse::<u64>().ok());
    let errors = num(words.pop())?;
    let dropped = num(words.pop())?;
    let forwarded = num(words.pop())?;
    let received = num(words.pop())?;
    Some(ModuleStats { received, forwarded, dropped, bad_verdict: 0, violations: errors, quarantined })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMBINED: &str = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 1\ncmd:  nfcc run m.so\npart: 1\n\n\
desc: I1 cache: 32768 B, 64 B, 8-way associative\ndesc: Timerange: Basic block 0 - 10\ndesc: Trigger: --dump-after=nf_process\n\n\
positions: line\nevents: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 14 8 4 1\n\n\nob=(1) m.so\nfn=(2) nf_process\n12 1 0 0 1\n\ntotals: 14 8 4 1\n\n\
part: 2\n\ndesc: Timerange: Basic block 10 - 20\ndesc: Trigger: --dump-after=nf_process\n\npositions: line\n\
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 154 31 33 15 2 3 13 0 1\n\n\ntotals: 154 31 33 15 2 3 13 0 1\n\n\
part: 3\n\ndesc: Trigger: Program termination\n\npositions: line\nevents: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 0\n\n\ntotals: 0\n";

    #[test]
    fn combined_dumps_read_in_order_with_trailing_zeros_left_out() {
        let d = parse_dumps(COMBINED.as_bytes()).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0], Dump { trigger: "--dump-after=nf_process".into(), cost: Metrics { instructions: 14, memory: 12 } });
        assert_eq!(d[1].cost, Metrics { instructions: 154, memory: 64 });
        assert_eq!(d[2], Dump { trigger: "Program termination".into(), cost: Metrics { instructions: 0, memory: 0 } });
    }

    #[test]
    fn a_single_dump_without_parts_and_with_events_in_another_order() {
        let text = "# callgrind format\nversion: 1\nevents: Dw Ir Dr\nsummary: 5 20 7\n";
        let d = parse_dumps(text.as_bytes()).unwrap();
        assert_eq!(d, vec![Dump { trigger: String::new(), cost: Metrics { instructions: 20, memory: 12 } }]);
    }

    #[test]
    fn dumps_without_the_cache_simulator_or_malformed_are_refused() {
        let no_cache = "# callgrind format\nversion: 1\npart: 1\nevents: Ir\ntotals: 5\n";
        assert!(parse_dumps(no_cache.as_bytes()).unwrap_err().contains("--cache-sim=yes"));
        let bad = "# callgrind format\nversion: 1\npart: 1\nevents: Ir Dr Dw\ntotals: 5 x\n";
        assert!(parse_dumps(bad.as_bytes()).unwrap_err().contains("`x` is not a count"));
        let too_many = "# callgrind format\nversion: 1\npart: 1\nevents: Ir Dr Dw\ntotals: 5 1 1 1\n";
        assert!(parse_dumps(too_many.as_bytes()).unwrap_err().contains("4 totals for 3 events"));
        assert!(parse_dumps("hello\n".as_bytes()).unwrap_err().contains("not a callgrind output"));
        let no_totals = "# callgrind format\nversion: 1\npart: 1\nevents: Ir Dr Dw\n";
        assert!(parse_dumps(no_totals.as_bytes()).unwrap_err().contains("no totals"));
    }

    #[test]
    fn run_counters_are_read_from_the_table() {
        let out = "module protect         in  forwarded    dropped     errors quarantined\n\
wpp         rw          5          4          0          1    yes (15)\n20 packets in, 4 out; chain time 1 ms\n";
        assert_eq!(
            parse_run_counters(out),
            Some(ModuleStats { received: 5, forwarded: 4, dropped: 0, bad_verdict: 0, violations: 1, quarantined: 15 })
        );
        let out = "module  protect   in forwarded dropped errors quarantined\nmy mod     none 2000 1990 10 0 no\n";
        assert_eq!(
            parse_run_counters(out),
            Some(ModuleStats { received: 2000, forwarded: 1990, dropped: 10, bad_verdict: 0, violations: 0, quarantined: 0 })
        );
        assert_eq!(parse_run_counters("nothing\n"), None);
    }

    #[test]
    fn gaps_are_relative_to_the_measured_count() {
        assert_eq!(gap(103, 100), 0.03);
        assert_eq!(gap(90, 100), -0.1);
        assert_eq!(gap(2, 0), 2.0);
    }
}
