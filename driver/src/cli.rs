//! Command-line interface: parses arguments, calls the libraries, prints what happened.
//! The only place in nfcc that writes messages for users and chooses exit codes.

use crate::bench;
use crate::bench_dpdk;
use crate::check;
use crate::build::{self, BuildOptions, ContractMode};
use clap::{Args, Parser, Subcommand};
use nfcc_passes::{OptLevel, Protection};
use nfcc_runtime::atomic::write_atomically;
use nfcc_runtime::config::{self, Setting};
use nfcc_runtime::dpdk::{self, DpdkConfig};
use nfcc_runtime::host::{self, Input, Output, RunConfig, RunReport};
use nfcc_runtime::module::ModuleSpec;
use nfcc_runtime::atomic::AtomicFile;
use nfcc_runtime::traffic::profiles::{self, Profile, ProfileSpec};
use nfcc_runtime::traffic::{self, TrafficSpec};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// nfcc: compile C network functions into protected, predictable modules, and run them.
#[derive(Parser, Debug)]
#[command(name = "nfcc", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compile C sources into an NF module (a shared object the host loads).
    Build(BuildArgs),
    /// Load modules into a chain and push captured packets through it.
    Run(RunArgs),
    /// Write a pcap of realistic generated traffic.
    Traffic(TrafficArgs),
    /// Measure what protection costs: every NF in none, wonly, rw and ASan, side by side.
    Bench(BenchArgs),
    /// Read a module's performance contract.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Check a module's performance contract against real executions: each packet's
    /// instructions and memory accesses measured by callgrind against its class's bound.
    Check(CheckArgs),
    /// Measure what the DPDK path around a module costs on a virtual device (receive and
    /// transmit bursts, mbufs, the host's dispatch) under callgrind, and write its model:
    /// instructions and memory accesses per receive burst, a + b*burst.
    DpdkModel(DpdkModelArgs),
    /// One timed run of `nfcc bench` (internal).
    #[command(hide = true)]
    BenchWorker(BenchWorkerArgs),
    /// One timed run of `nfcc bench --dpdk` (internal).
    #[command(hide = true)]
    BenchDpdkWorker(BenchDpdkWorkerArgs),
}

#[derive(Subcommand, Debug)]
enum ContractCommand {
    /// Print a contract (`OUT.contract.json`, written by `nfcc build`) as a table.
    Show {
        /// The contract file.
        #[arg(value_name = "CONTRACT.json")]
        file: PathBuf,
        /// Print it as JSON instead.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// NF sources (default: every nf-examples/NAME/NAME.c).
    #[arg(value_name = "SRC.c")]
    sources: Vec<PathBuf>,
    /// Packets per timed run.
    #[arg(long, default_value_t = 2_000_000)]
    packets: u64,
    /// Interleaved repetitions.
    #[arg(long, default_value_t = 7)]
    reps: usize,
    /// Packets per callgrind run for exact instruction counts (0 skips them).
    #[arg(long, default_value_t = 20_000)]
    callgrind_packets: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Measure through DPDK ports instead (net_ring and net_null, one lcore), beside
    /// dpdk-testpmd on the same devices.
    #[arg(long)]
    dpdk: bool,
    /// With --dpdk: seconds per timed run.
    #[arg(long, default_value_t = 1.0, requires = "dpdk")]
    seconds: f64,
    /// With --dpdk: the dpdk-testpmd binary.
    #[arg(long, default_value = "dpdk-testpmd", requires = "dpdk")]
    testpmd: PathBuf,
}

#[derive(Args, Debug)]
struct BenchDpdkWorkerArgs {
    module: PathBuf,
    #[arg(long, allow_hyphen_values = true)]
    dpdk: String,
    #[arg(long)]
    seconds: f64,
    #[arg(long)]
    inject: usize,
}

#[derive(Args, Debug)]
struct DpdkModelArgs {
    /// The device: net_ring, net_null or net_pcap.
    #[arg(long, value_name = "DEVICE")]
    vdev: String,
    /// The model file to write (dpdk-models/DEVICE.json in this tree).
    #[arg(short = 'o', value_name = "OUT.json")]
    output: PathBuf,
    /// Receive burst sizes to measure, comma-separated (default: every size, 1 to 32, so
    /// that every burst a run can have is a measured point under the line).
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    bursts: Vec<u16>,
    /// Bursts measured per run (per verdict and burst size).
    #[arg(long, value_name = "N", default_value_t = 4)]
    per_run: usize,
    /// Bursts at the start of each run left out of the per-burst line (the first one's
    /// excess is the model's first_burst).
    #[arg(long, value_name = "N", default_value_t = 1)]
    warmup: usize,
    /// The model NFs' protection mode; whole-stack contracts need modules of that mode.
    #[arg(long, value_name = "MODE", default_value = "rw", value_parser = parse_protect)]
    protect: Protection,
}

#[derive(Args, Debug)]
struct BenchWorkerArgs {
    module: PathBuf,
    #[arg(long)]
    packets: u64,
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// C sources; several are linked into one module.
    #[arg(required = true, value_name = "SRC.c")]
    sources: Vec<PathBuf>,
    /// The module to write.
    #[arg(short = 'o', value_name = "OUT.so")]
    output: PathBuf,
    /// Add a directory to the include search path.
    #[arg(short = 'I', value_name = "DIR")]
    include: Vec<PathBuf>,
    /// Define a preprocessor macro.
    #[arg(short = 'D', value_name = "NAME[=VALUE]")]
    define: Vec<String>,
    /// Optimisation level: 0, 1, 2, 3, s or z.
    #[arg(short = 'O', value_name = "LEVEL", default_value = "2", value_parser = parse_opt)]
    opt: OptLevel,
    /// Also write the final IR beside the module (OUT.ll).
    #[arg(long)]
    emit_ir: bool,
    /// Isolation compiled into the module: rw (loads and stores checked), wonly (stores),
    /// none (trusted code).
    #[arg(long, value_name = "MODE", default_value = "rw", value_parser = parse_protect)]
    protect: Protection,
    /// Print the commands run and what each pipeline stage did.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Do not make the performance contract (OUT.contract.json).
    #[arg(long, conflicts_with = "contract_holes")]
    no_contract: bool,
    /// Write the contract even when the engine cannot cover every path, listing what it
    /// does not cover as holes (by default that fails the build).
    #[arg(long)]
    contract_holes: bool,
    /// Seconds the contract engine may take before what is left becomes a hole.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    contract_time_limit: u64,
    /// Write a whole-stack contract: the module's, plus the model of the packet path
    /// around it (`dpdk:net_ring`, `dpdk:net_null`, `dpdk:net_pcap` from dpdk-models/, or
    /// `dpdk:MODEL.json`), with the receive burst size as a PCV.
    #[arg(long, value_name = "dpdk:DEVICE", conflicts_with = "no_contract")]
    stack: Option<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Modules in chain order, each followed by its settings: `policer.so rate=1M burst=64k`.
    #[arg(required = true, value_name = "MODULE.so [KEY=VALUE]...")]
    chain: Vec<String>,
    /// Input capture (pcap or pcapng); `PORT=FILE` makes its packets arrive on PORT
    /// (default 0). Repeat to merge several captures by time.
    #[arg(long = "pcap", required_unless_present = "dpdk", conflicts_with = "dpdk", value_name = "[PORT=]FILE")]
    pcap: Vec<String>,
    /// Write forwarded packets to FILE (pcap); `PORT=FILE` keeps only those sent to PORT.
    #[arg(long = "out", conflicts_with = "dpdk", value_name = "[PORT=]FILE")]
    out: Vec<String>,
    /// Number of ports the host offers modules (default 2; with --dpdk, the DPDK ports).
    #[arg(long, value_name = "N")]
    ports: Option<u16>,
    /// Also load modules built with `--protect none` (trusted code: nothing confines it).
    #[arg(long)]
    allow_unprotected: bool,
    /// Run on DPDK ports instead of captures: the EAL arguments, in one word, e.g.
    /// "--no-huge --no-pci --vdev=net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap".
    #[arg(long, value_name = "EAL ARGS", allow_hyphen_values = true)]
    dpdk: Option<String>,
    /// With --dpdk: stop after receiving N packets.
    #[arg(long, value_name = "N", requires = "dpdk")]
    dpdk_packets: Option<u64>,
    /// With --dpdk: stop when no port received anything for MS milliseconds (0: never;
    /// default 100 when every port is net_pcap, net_ring or net_null, never otherwise).
    #[arg(long, value_name = "MS", requires = "dpdk")]
    dpdk_idle: Option<u64>,
    /// With --dpdk: mbufs in the packet pool (default: enough for every ring, at least 8191).
    #[arg(long, value_name = "N", requires = "dpdk")]
    dpdk_mbufs: Option<u32>,
    /// With --dpdk: packets asked for per receive burst (1 to 32, default 32).
    #[arg(long, value_name = "N", requires = "dpdk")]
    dpdk_burst: Option<u16>,
    /// With --dpdk: transmit this capture's frames on port 0 before the run (primes a
    /// loopback device such as net_ring, which then hands them back as input).
    #[arg(long, value_name = "FILE", requires = "dpdk")]
    dpdk_prime: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// The module, followed by its settings as for `nfcc run`: `policer.so rate=1M`.
    #[arg(required = true, value_name = "MODULE.so [KEY=VALUE]...")]
    module: Vec<String>,
    /// Input capture (pcap or pcapng); `PORT=FILE` makes its packets arrive on PORT
    /// (default 0). Repeat to merge several captures by time.
    #[arg(long = "pcap", required = true, value_name = "[PORT=]FILE")]
    pcap: Vec<String>,
    /// The contract (default: MODULE's `.contract.json` beside it).
    #[arg(long, value_name = "FILE")]
    contract: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Check a contract that does not cover every path (`coverage.complete` false).
    #[arg(long)]
    allow_holes: bool,
    /// Run a module built with `--protect none`.
    #[arg(long)]
    allow_unprotected: bool,
    /// Number of ports the host offers the module.
    #[arg(long, default_value_t = host::DEFAULT_PORTS, value_name = "N")]
    ports: u16,
    /// Check the whole-stack contract (built with --stack) on a DPDK run of the module
    /// under callgrind, burst by burst, on the contract's device (one port).
    #[arg(long)]
    dpdk: bool,
    /// With --dpdk: packets asked for per receive burst (1 to 32).
    #[arg(long, value_name = "N", default_value_t = 32, requires = "dpdk")]
    dpdk_burst: u16,
}

#[derive(Args, Debug)]
struct TrafficArgs {
    /// The pcap to write.
    #[arg(short = 'o', value_name = "OUT.pcap")]
    output: PathBuf,
    /// Packets to generate.
    #[arg(long, default_value_t = TrafficSpec::default().packets)]
    packets: u64,
    /// Distinct flows.
    #[arg(long, default_value_t = TrafficSpec::default().flows)]
    flows: u32,
    /// Seed: the same seed gives the same trace.
    #[arg(long, default_value_t = TrafficSpec::default().seed)]
    seed: u64,
    /// Mean packet rate (packets per second of capture time).
    #[arg(long, default_value_t = TrafficSpec::default().rate_pps)]
    rate: u64,
    /// Share of non-IP frames (ARP, IPv6), in percent [default: 3; not with --profile].
    #[arg(long)]
    non_ip: Option<u8>,
    /// Shape the trace for an example NF: nat, bridge, lb, router or firewall.
    #[arg(long, value_parser = parse_profile)]
    profile: Option<Profile>,
    /// The NF's table capacity: the trace has more flows than it can hold when --flows is larger.
    #[arg(long, value_name = "N", requires = "profile")]
    capacity: Option<u32>,
    /// Every flow's key lands in the same chain of a map of --capacity entries.
    #[arg(long, requires = "capacity")]
    collide: bool,
    /// Two waves of the same flows, this many ns of silence apart (the NF's expiry to set).
    #[arg(long, value_name = "NS", requires = "profile")]
    expire_gap: Option<u64>,
    /// The pcap of what arrives on port 1 (replies, heartbeats, stations behind port 1).
    #[arg(long, value_name = "FILE", requires = "profile")]
    port1_out: Option<PathBuf>,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::parse(s).ok_or_else(|| format!("`{s}` is not a profile (nat, bridge, lb, router, firewall)"))
}

fn parse_protect(s: &str) -> Result<Protection, String> {
    Protection::parse(s).ok_or_else(|| format!("`{s}` is not a protection mode (rw, wonly, none)"))
}

fn parse_opt(s: &str) -> Result<OptLevel, String> {
    OptLevel::parse(s).ok_or_else(|| format!("`{s}` is not an optimisation level (0, 1, 2, 3, s, z)"))
}

/// Runs `nfcc` with `args` (including the program name) and returns its exit code:
/// 0 on success, 1 when the work failed, 2 for a malformed command line.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Build(a) => cmd_build(a),
        Command::Run(a) => cmd_run(a),
        Command::Traffic(a) => cmd_traffic(a),
        Command::Bench(a) => cmd_bench(a),
        Command::BenchWorker(a) => cmd_bench_worker(a),
        Command::BenchDpdkWorker(a) => cmd_bench_dpdk_worker(a),
        Command::Contract(c) => cmd_contract(c),
        Command::Check(a) => cmd_check(a),
        Command::DpdkModel(a) => cmd_dpdk_model(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("nfcc: error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("nfcc: error: {msg}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Failed(String),
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::Failed(e.to_string())
}

fn stack_failure(e: crate::stack::StackError) -> Failure {
    match e {
        crate::stack::StackError::Usage(m) => Failure::Usage(m),
        crate::stack::StackError::Check(check::CheckError::Usage(m)) => Failure::Usage(m),
        e => failed(e),
    }
}

fn cmd_dpdk_model(a: DpdkModelArgs) -> Result<(), Failure> {
    let opts = crate::stack::ModelOptions {
        device: a.vdev,
        bursts: if a.bursts.is_empty() { (1..=nfcc_runtime::dpdk::BURST as u16).collect() } else { a.bursts },
        per_run: a.per_run,
        warmup: a.warmup,
        protect: a.protect,
        nfcc: std::env::current_exe().map_err(failed)?,
    };
    let mut progress = |m: &str| eprintln!("nfcc dpdk-model: {m}");
    let r = crate::stack::make_model(&opts, &mut progress).map_err(stack_failure)?;
    crate::stack::write_model(&a.output, &r.json).map_err(stack_failure)?;
    println!(
        "model {} ({}, {}): per receive burst, instructions <= {} + {}*burst, memory accesses <= {} + {}*burst ({} bursts measured, none above the line)",
        a.output.display(),
        opts.device,
        r.json["dpdk_version"].as_str().unwrap_or(""),
        r.instructions.a,
        r.instructions.b,
        r.memory.a,
        r.memory.b,
        r.points.len()
    );
    for k in [1u64, 8, 32] {
        println!(
            "  burst {k:>2}: {:.1} instructions, {:.1} memory accesses per packet",
            r.instructions.at(k) as f64 / k as f64,
            r.memory.at(k) as f64 / k as f64
        );
    }
    Ok(())
}

fn cmd_build(a: BuildArgs) -> Result<(), Failure> {
    let stack = match &a.stack {
        Some(s) => {
            let m = crate::stack::load_model(s).map_err(stack_failure)?;
            if m.protection != a.protect.name() {
                return Err(Failure::Failed(format!(
                    "{}: the model was measured with --protect {} modules, this one is --protect {}: the runtime entry around nf_process differs; make a model for it with nfcc dpdk-model --protect {}",
                    m.path.display(),
                    m.protection,
                    a.protect.name(),
                    a.protect.name()
                )));
            }
            Some(m)
        }
        None => None,
    };
    let opts = BuildOptions {
        sources: a.sources,
        output: a.output,
        include_dirs: a.include,
        defines: a.define,
        opt: a.opt,
        emit_ir: a.emit_ir,
        protect: a.protect,
        sanitize_address: false,
        contract: if a.no_contract {
            ContractMode::Off
        } else if a.contract_holes {
            ContractMode::AllowHoles
        } else {
            ContractMode::Strict
        },
        contract_time_limit: Some(std::time::Duration::from_secs(a.contract_time_limit)),
        stack,
    };
    let pipeline = build::pipeline(&opts);
    let report = build::build(&opts, &pipeline).map_err(failed)?;
    if !report.warnings.is_empty() {
        eprint!("{}", report.warnings);
    }
    if a.verbose {
        for c in &report.commands {
            eprintln!("  ran {c}");
        }
        for s in &report.stages {
            let counters: Vec<String> = s.counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
            eprintln!("  stage {:<24} {:>8.1} ms  {}", s.stage, s.time.as_secs_f64() * 1e3, counters.join(" "));
        }
    }
    print!("built {}", report.output.display());
    if let Some(ir) = &report.ir {
        print!(" (IR: {})", ir.display());
    }
    println!();
    if let Some((path, c)) = &report.contract {
        println!(
            "contract {}: {} classes, {} paths, {} in {:.2} s",
            path.display(),
            c.classes.len(),
            c.coverage.paths,
            if c.coverage.complete { "complete".to_string() } else { format!("{} HOLES", c.coverage.holes.len()) },
            c.generation.seconds
        );
        if let Some(st) = &c.stack {
            println!(
                "whole stack {} ({}): per receive burst + instructions <= {}, memory accesses <= {}",
                st.model, st.dpdk_version, st.per_burst.instructions, st.per_burst.memory
            );
        }
    }
    if let Some(t) = &report.trace {
        println!("tracing variant {} (counts the contract's PCVs for nfcc check)", t.display());
    }
    Ok(())
}

fn cmd_contract(c: ContractCommand) -> Result<(), Failure> {
    match c {
        ContractCommand::Show { file, json } => {
            let text = std::fs::read_to_string(&file).map_err(|e| Failure::Failed(format!("{}: cannot read: {e}", file.display())))?;
            let contract = nfcc_symbex::contract::Contract::from_json(&text)
                .map_err(|e| Failure::Failed(format!("{}: {e}", file.display())))?;
            if json {
                print!("{}", contract.to_json());
            } else {
                print!("{}", contract.table());
            }
            Ok(())
        }
    }
}

fn cmd_check(a: CheckArgs) -> Result<(), Failure> {
    let mut specs = parse_chain(&a.module)?;
    if specs.len() != 1 {
        return Err(Failure::Usage(format!(
            "nfcc check takes one module (followed by its settings), not {}",
            specs.len()
        )));
    }
    let spec = specs.remove(0);
    let mut inputs = Vec::new();
    for p in &a.pcap {
        let (port, path) = parse_port_file(p, "--pcap")?;
        inputs.push(Input { port: port.unwrap_or(0), path });
    }
    let opts = check::CheckOptions {
        module: spec.path,
        settings: spec.settings,
        inputs,
        contract: a.contract,
        ports: a.ports,
        allow_holes: a.allow_holes,
        allow_unprotected: a.allow_unprotected,
        nfcc: std::env::current_exe().map_err(failed)?,
    };
    if a.dpdk {
        let r = crate::stack::check_stack(&crate::stack::StackCheckOptions { check: opts, burst: a.dpdk_burst }).map_err(stack_failure)?;
        if a.json {
            print!("{}", r.to_json());
        } else {
            print!("{}", r.table());
        }
        return if r.holds() {
            Ok(())
        } else {
            Err(Failure::Failed(format!(
                "the whole-stack contract does not hold: {} bursts above their bound, {} module calls above theirs, {} packets in no class",
                r.underestimates().len(),
                r.module_underestimates.len(),
                r.unclassified.len()
            )))
        };
    }
    let report = check::check(&opts).map_err(|e| match e {
        check::CheckError::Usage(m) => Failure::Usage(m),
        e => failed(e),
    })?;
    if a.json {
        print!("{}", report.to_json());
    } else {
        print!("{}", report.table());
    }
    if report.holds() {
        Ok(())
    } else if !report.underestimates.is_empty() {
        Err(Failure::Failed(format!(
            "{} packets cost more than their contract's bound",
            report.underestimates.len()
        )))
    } else {
        Err(Failure::Failed(format!(
            "{} packets fall in no class of a contract that claims to cover every path",
            report.unclassified.len()
        )))
    }
}

/// Splits `MODULE [KEY=VALUE]... MODULE ...` into module specs.
fn parse_chain(words: &[String]) -> Result<Vec<ModuleSpec>, Failure> {
    let mut specs: Vec<ModuleSpec> = Vec::new();
    for w in words {
        if config::is_setting(w) {
            let s: Setting = config::parse_setting(w).map_err(|e| Failure::Usage(e.to_string()))?;
            match specs.last_mut() {
                Some(m) => m.settings.push(s),
                None => {
                    return Err(Failure::Usage(format!(
                        "setting `{w}` comes before any module: write it after the module it configures"
                    )))
                }
            }
        } else {
            specs.push(ModuleSpec { path: PathBuf::from(w), settings: Vec::new() });
        }
    }
    Ok(specs)
}

/// Splits `[PORT=]FILE`.
fn parse_port_file(text: &str, flag: &str) -> Result<(Option<u16>, PathBuf), Failure> {
    if let Some((port, file)) = text.split_once('=') {
        if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            let p = port.parse::<u16>().map_err(|_| {
                Failure::Usage(format!("{flag} {text}: port `{port}` is not a port number"))
            })?;
            if file.is_empty() {
                return Err(Failure::Usage(format!("{flag} {text}: no file after `=`")));
            }
            return Ok((Some(p), PathBuf::from(file)));
        }
    }
    Ok((None, PathBuf::from(text)))
}

fn cmd_run(a: RunArgs) -> Result<(), Failure> {
    let modules = parse_chain(&a.chain)?;
    if let Some(eal) = a.dpdk {
        return cmd_run_dpdk(DpdkConfig {
            modules,
            eal,
            ports: a.ports,
            allow_unprotected: a.allow_unprotected,
            max_packets: a.dpdk_packets,
            idle: a.dpdk_idle.map(Duration::from_millis),
            mbufs: a.dpdk_mbufs,
            burst: a.dpdk_burst,
            prime: match &a.dpdk_prime {
                Some(p) => crate::stack::read_frames(p).map_err(failed)?,
                None => Vec::new(),
            },
        });
    }
    let mut inputs = Vec::new();
    for p in &a.pcap {
        let (port, path) = parse_port_file(p, "--pcap")?;
        inputs.push(Input { port: port.unwrap_or(0), path });
    }
    let mut outputs = Vec::new();
    for o in &a.out {
        let (port, path) = parse_port_file(o, "--out")?;
        outputs.push(Output { port, path });
    }
    let ports = a.ports.unwrap_or(host::DEFAULT_PORTS);
    let cfg = RunConfig { modules, inputs, outputs, ports, allow_unprotected: a.allow_unprotected };
    let report = host::run(&cfg, &mut print_event).map_err(|e| match e {
        host::HostError::Usage(m) => Failure::Usage(m),
        e => failed(e),
    })?;
    print_run(&cfg.outputs, &report);
    Ok(())
}

fn print_event(e: &host::Event) {
    match e {
        host::Event::Violation { module, packet, violation } => {
            eprintln!("nfcc: violation: {module}: packet {packet}: {violation}; module quarantined")
        }
    }
}

fn cmd_run_dpdk(cfg: DpdkConfig) -> Result<(), Failure> {
    let r = dpdk::run(&cfg, &mut print_event).map_err(|e| match e {
        dpdk::DpdkError::Usage(m) => Failure::Usage(m),
        dpdk::DpdkError::Args(e) => Failure::Usage(e.to_string()),
        e => failed(e),
    })?;
    print_run(&[], &r.run);
    for (i, p) in r.ports.iter().enumerate() {
        let mut line = format!(
            "port {i} ({}, {}): rx {}, tx {}",
            p.name,
            p.driver,
            p.rx,
            p.tx
        );
        if p.tx_dropped > 0 {
            line += &format!(", tx dropped {} (queue full)", p.tx_dropped);
        }
        if p.unusable > 0 {
            line += &format!(", {} multi-segment packets dropped", p.unusable);
        }
        line += if p.timestamps { "; time: capture timestamps" } else { "; time: host clock" };
        println!("{line}");
    }
    if r.per_lcore.len() > 1 {
        let each: Vec<String> = r.per_lcore.iter().map(|(id, n)| format!("lcore {id}: {n}")).collect();
        println!("{} lcores, each with its own module instances; packets per lcore: {}", r.per_lcore.len(), each.join(", "));
    }
    if r.lost_copies > 0 {
        eprintln!("nfcc: warning: {} flood copies lost: the mbuf pool was empty (--dpdk-mbufs)", r.lost_copies);
    }
    let why = match r.stop {
        dpdk::Stop::Idle(d) => format!("no port received anything for {} ms", d.as_millis()),
        dpdk::Stop::Packets(n) => format!("{n} packets received (--dpdk-packets)"),
        dpdk::Stop::Signal(libc::SIGINT) => "SIGINT".to_string(),
        dpdk::Stop::Signal(libc::SIGTERM) => "SIGTERM".to_string(),
        dpdk::Stop::Signal(s) => format!("signal {s}"),
        dpdk::Stop::Time => "time is up".to_string(),
    };
    println!(
        "stopped: {why}; {} mbufs; {}; EAL arguments: {}",
        r.mbufs,
        if r.merged { "ports merged in timestamp order" } else { "ports served in turn" },
        r.eal_args
    );
    Ok(())
}

fn print_run(outputs: &[Output], r: &RunReport) {
    let width = r.modules.iter().map(|(n, _)| n.len()).max().unwrap_or(6).max(6);
    println!(
        "{:<width$} {:>7} {:>10} {:>10} {:>10} {:>10} {:>11}",
        "module", "protect", "in", "forwarded", "dropped", "errors", "quarantined"
    );
    for (((name, s), q), p) in r.modules.iter().zip(&r.quarantined).zip(&r.protection) {
        println!(
            "{:<width$} {:>7} {:>10} {:>10} {:>10} {:>10} {:>11}",
            name,
            p.name(),
            s.received,
            s.forwarded,
            s.dropped,
            s.bad_verdict + s.violations,
            if q.is_some() { format!("yes ({})", s.quarantined) } else { "no".to_string() }
        );
    }
    let secs = r.chain_time.as_secs_f64();
    let rate = if secs > 0.0 { r.packets_in as f64 / secs } else { 0.0 };
    println!(
        "{} packets in, {} out; chain time {:.3} ms = {:.3} Mpps (file I/O excluded); wall {:.1} ms",
        r.packets_in,
        r.packets_out,
        secs * 1e3,
        rate / 1e6,
        r.wall_time.as_secs_f64() * 1e3
    );
    for (o, n) in outputs.iter().zip(&r.written) {
        match o.port {
            Some(p) => println!("wrote {n} packets (port {p}) to {}", o.path.display()),
            None => println!("wrote {n} packets to {}", o.path.display()),
        }
    }
    for (name, s) in &r.modules {
        if s.bad_verdict > 0 {
            eprintln!("nfcc: warning: {name}: {} packets dropped because nf_process returned an invalid port", s.bad_verdict);
        }
    }
}

fn cmd_traffic(a: TrafficArgs) -> Result<(), Failure> {
    if a.rate == 0 {
        return Err(Failure::Usage("--rate must be at least 1 packet per second".into()));
    }
    if a.flows == 0 {
        return Err(Failure::Usage("--flows must be at least 1".into()));
    }
    if let Some(profile) = a.profile {
        return cmd_traffic_profile(a, profile);
    }
    let non_ip = a.non_ip.unwrap_or(TrafficSpec::default().non_ip_percent);
    if non_ip > 100 {
        return Err(Failure::Usage("--non-ip is a percentage, at most 100".into()));
    }
    let spec = TrafficSpec {
        packets: a.packets,
        flows: a.flows,
        seed: a.seed,
        rate_pps: a.rate,
        non_ip_percent: non_ip,
        ..TrafficSpec::default()
    };
    let n = write_atomically(&a.output, 0o644, |w| traffic::write_pcap(&spec, w))
        .map_err(|e| failed(format!("{}: cannot write: {e}", a.output.display())))?;
    println!("wrote {n} packets ({} flows) to {}", spec.flows, a.output.display());
    Ok(())
}

fn cmd_traffic_profile(a: TrafficArgs, profile: Profile) -> Result<(), Failure> {
    if a.non_ip.is_some() {
        return Err(Failure::Usage("--non-ip does not apply to --profile (its traces are all IPv4)".into()));
    }
    match (&a.port1_out, profile.two_ports()) {
        (None, true) => {
            return Err(Failure::Usage(format!("--profile {} needs --port1-out FILE for port 1's packets", profile.name())))
        }
        (Some(_), false) => return Err(Failure::Usage(format!("--port1-out does not apply to --profile {}", profile.name()))),
        _ => {}
    }
    if a.port1_out.as_ref() == Some(&a.output) {
        return Err(Failure::Usage("-o and --port1-out must be different files".into()));
    }
    let spec = ProfileSpec {
        profile,
        packets: a.packets,
        flows: a.flows,
        seed: a.seed,
        rate_pps: a.rate,
        start_ns: TrafficSpec::default().start_ns,
        capacity: a.capacity,
        collide: a.collide,
        expire_gap_ns: a.expire_gap,
    };
    let trace = profiles::generate(&spec).map_err(|e| Failure::Usage(e.to_string()))?;
    // Both files are written whole before either appears.
    let mut files = vec![(&a.output, &trace.port0)];
    if let Some(p1) = &a.port1_out {
        files.push((p1, &trace.port1));
    }
    let mut done = Vec::new();
    for (path, pkts) in &files {
        let cannot = |e: std::io::Error| failed(format!("{}: cannot write: {e}", path.display()));
        let mut f = AtomicFile::create(path, 0o644).map_err(cannot)?;
        profiles::write_packets(pkts, &mut f).map_err(cannot)?;
        done.push(f);
    }
    for f in done {
        let path = f.path().to_path_buf();
        f.commit().map_err(|e| failed(format!("{}: cannot write: {e}", path.display())))?;
    }
    println!("wrote {} packets ({} flows) to {} (port 0)", trace.port0.len(), spec.flows, a.output.display());
    if let Some(p1) = &a.port1_out {
        println!("wrote {} packets to {} (port 1)", trace.port1.len(), p1.display());
    }
    if !trace.settings.is_empty() {
        println!("settings: {}", trace.settings.join(" "));
    }
    Ok(())
}

fn cmd_bench(a: BenchArgs) -> Result<(), Failure> {
    let sources = if a.sources.is_empty() { bench::example_sources(std::path::Path::new(".")) } else { a.sources };
    if a.reps == 0 || a.packets == 0 {
        return Err(Failure::Usage("--reps and --packets must be at least 1".into()));
    }
    if a.dpdk {
        if !(a.seconds > 0.0 && a.seconds <= 600.0) {
            return Err(Failure::Usage("--seconds must be above 0 and at most 600".into()));
        }
        let opts = bench_dpdk::DpdkBenchOptions { sources, reps: a.reps, seconds: a.seconds, testpmd: a.testpmd };
        let exe = std::env::current_exe().map_err(failed)?;
        let mut progress = |m: &str| eprintln!("nfcc bench: {m}");
        let results = bench_dpdk::run(&opts, &exe, &mut progress).map_err(failed)?;
        if a.json {
            print!("{}", bench_dpdk::to_json(&results, &opts));
        } else {
            print!("{}", bench_dpdk::to_table(&results));
            println!(
                "64-byte packets, two ports per device, one lcore, {} s per run, {} interleaved repetitions; ratios = medians of per-repetition ratios",
                opts.seconds, opts.reps
            );
        }
        return Ok(());
    }
    let opts = bench::BenchOptions { sources, packets: a.packets, reps: a.reps, callgrind_packets: a.callgrind_packets };
    let exe = std::env::current_exe().map_err(failed)?;
    let mut progress = |m: &str| eprintln!("nfcc bench: {m}");
    let results = bench::run(&opts, &exe, &mut progress).map_err(failed)?;
    if a.json {
        print!("{}", bench::to_json(&results, &opts));
    } else {
        print!("{}", bench::to_table(&results));
        let counts = if opts.callgrind_packets > 0 {
            "; instructions counted by callgrind inside nf_process"
        } else {
            ""
        };
        println!(
            "64-byte packets from a pool of {}, {} packets per run, {} interleaved repetitions; ratio = median of per-repetition ratios, p25-p75 their quartiles (the noise){counts}",
            bench::POOL, opts.packets, opts.reps
        );
    }
    Ok(())
}


fn cmd_bench_dpdk_worker(a: BenchDpdkWorkerArgs) -> Result<(), Failure> {
    let cfg = DpdkConfig {
        modules: vec![ModuleSpec { path: a.module, settings: Vec::new() }],
        eal: a.dpdk,
        ports: None,
        allow_unprotected: true,
        max_packets: None,
        idle: None,
        mbufs: None,
        burst: None,
        prime: Vec::new(),
    };
    let r = dpdk::bench(&cfg, &bench::packet_pool(), a.inject, Duration::from_secs_f64(a.seconds)).map_err(failed)?;
    let tx_dropped: u64 = r.ports.iter().map(|p| p.tx_dropped).sum();
    println!("packets={} ns={} refilled={} tx_dropped={tx_dropped}", r.packets, r.elapsed.as_nanos(), r.refilled);
    Ok(())
}

fn cmd_bench_worker(a: BenchWorkerArgs) -> Result<(), Failure> {
    let pool = bench::packet_pool();
    let cfg = RunConfig {
        modules: vec![ModuleSpec { path: a.module, settings: Vec::new() }],
        inputs: Vec::new(),
        outputs: Vec::new(),
        ports: host::DEFAULT_PORTS,
        allow_unprotected: true,
    };
    let t = host::run_pool(&cfg, &pool, a.packets, 100).map_err(failed)?;
    println!("ns={} packets={}", t.as_nanos(), a.packets);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn chains_split_into_modules_and_their_settings() {
        let specs = match parse_chain(&words("a.so rate=1M burst=2k ./b.so c.so x=")) {
            Ok(s) => s,
            Err(_) => panic!("valid chain refused"),
        };
        let got: Vec<(String, Vec<String>)> = specs
            .iter()
            .map(|m| (m.path.display().to_string(), m.settings.iter().map(|s| format!("{}={}", s.key, s.value)).collect()))
            .collect();
        assert_eq!(
            got,
            [
                ("a.so".to_string(), vec!["rate=1M".to_string(), "burst=2k".to_string()]),
                ("./b.so".to_string(), vec![]),
                ("c.so".to_string(), vec!["x=".to_string()]),
            ]
        );
        assert!(matches!(parse_chain(&words("rate=1 a.so")), Err(Failure::Usage(m)) if m.contains("comes before any module")));
    }

    #[test]
    fn port_prefixes_are_optional() {
        let ok = |t: &str| match parse_port_file(t, "--pcap") {
            Ok(v) => v,
            Err(_) => panic!("{t} refused"),
        };
        assert_eq!(ok("in.pcap"), (None, PathBuf::from("in.pcap")));
        assert_eq!(ok("1=wan.pcap"), (Some(1), PathBuf::from("wan.pcap")));
        assert_eq!(ok("dir=x/a.pcap"), (None, PathBuf::from("dir=x/a.pcap")));
        assert!(matches!(parse_port_file("99999=a.pcap", "--pcap"), Err(Failure::Usage(m)) if m.contains("not a port number")));
        assert!(matches!(parse_port_file("1=", "--out"), Err(Failure::Usage(m)) if m.contains("no file")));
    }
}
