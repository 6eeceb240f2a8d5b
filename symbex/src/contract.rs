//! The performance contract: its format (the one owner of it) and how the engine's paths
//! become classes.
//!
//! A class is a set of paths with the same condition on the input (packet bytes, length,
//! port, time); state outcomes inside a class are merged. Its bound on each metric is the
//! coefficient-wise maximum of its paths' formulas, which is >= every path's cost for every
//! value of the PCVs (all PCVs are >= 0, and a path's formula already holds for the PCV
//! values that path can have).

use crate::engine::{Engine, PathResult};
use crate::program::Program;
use crate::render::{input_only, render};
use crate::{Config, Hole, ModuleInfo};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

/// The format name written into every contract.
pub const FORMAT: &str = "nfcc-contract/1";

/// A bound: `constant + sum(coefficient * pcv)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    /// The constant part.
    pub constant: i64,
    /// Coefficient of each PCV, by name.
    pub terms: BTreeMap<String, u64>,
}

impl Bound {
    /// The bound's value for PCV values `pcv` (missing PCVs are 0).
    pub fn eval(&self, pcv: &BTreeMap<String, u64>) -> i64 {
        self.constant + self.terms.iter().map(|(n, c)| (*c as i64) * (*pcv.get(n).unwrap_or(&0) as i64)).sum::<i64>()
    }

    fn max_with(&mut self, other: &Bound) {
        self.constant = self.constant.max(other.constant);
        for (n, c) in &other.terms {
            let e = self.terms.entry(n.clone()).or_insert(0);
            *e = (*e).max(*c);
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.constant)?;
        for (n, c) in &self.terms {
            if *c > 0 {
                write!(f, " + {c}*{n}")?;
            }
        }
        Ok(())
    }
}

/// A packet that falls in a class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witness {
    /// Frame length.
    pub len: u32,
    /// Input port.
    pub port: u16,
    /// Arrival time (ns).
    pub time_ns: u64,
    /// The frame's bytes in hex.
    pub bytes: String,
}

/// One input class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Class {
    /// Number, from 1.
    pub id: usize,
    /// The condition, readable.
    pub when: String,
    /// The condition's conjuncts.
    pub conditions: Vec<String>,
    /// What the NF returns on this class (`port 1`, `drop`, ...), every value seen.
    pub returns: Vec<String>,
    /// Bound on x86 instructions.
    pub instructions: Bound,
    /// Bound on memory accesses.
    pub memory: Bound,
    /// Paths merged into the class.
    pub paths: u64,
    /// A packet of the class.
    pub witness: Option<Witness>,
}

/// A performance-critical variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pcv {
    /// Its name in the bounds.
    pub name: String,
    /// What it counts.
    pub meaning: String,
    /// The loops it counts (file:line of each header).
    pub loops: Vec<String>,
}

/// A metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// Its name.
    pub name: String,
    /// What it counts.
    pub meaning: String,
}

/// What the contract covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Whether every path was covered (no holes).
    pub complete: bool,
    /// Complete paths analysed.
    pub paths: u64,
    /// Paths that end in an isolation violation (the module is stopped; not bounded).
    pub violation_paths: u64,
    /// What is not covered.
    pub holes: Vec<Hole>,
    /// The statement, in words.
    pub statement: String,
}

/// How the contract was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Seconds of analysis.
    pub seconds: f64,
    /// Queries sent to the solver.
    pub solver_queries: u64,
    /// Queries answered from caches.
    pub cache_hits: u64,
    /// Queries the solver gave up on within its timeout (both answers then explored).
    pub solver_unknown: u64,
}

/// A module's performance contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    /// Always [`FORMAT`].
    pub format: String,
    /// The module file.
    pub module: String,
    /// nfcc's version.
    pub nfcc_version: String,
    /// Protection mode of the module.
    pub protection: String,
    /// The entry point costed.
    pub entry: String,
    /// The metrics.
    pub metrics: Vec<Metric>,
    /// The PCVs.
    pub pcvs: Vec<Pcv>,
    /// The classes.
    pub classes: Vec<Class>,
    /// Coverage.
    pub coverage: Coverage,
    /// Generation facts.
    pub generation: Generation,
}

/// Why a contract file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// Not JSON or not a contract.
    #[error("not an nfcc contract: {0}")]
    Parse(String),
    /// Another format version.
    #[error("contract format `{0}` is not {FORMAT}")]
    Format(String),
}

impl Contract {
    /// Parses a contract from JSON text.
    pub fn from_json(text: &str) -> Result<Contract, ContractError> {
        let c: Contract = serde_json::from_str(text).map_err(|e| ContractError::Parse(e.to_string()))?;
        if c.format != FORMAT {
            return Err(ContractError::Format(c.format));
        }
        Ok(c)
    }

    /// The contract as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("contracts serialise") + "\n"
    }

    /// The contract as a readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "contract of {} (protection {}, nfcc {}), entry {}", self.module, self.protection, self.nfcc_version, self.entry);
        let _ = writeln!(s);
        let rows: Vec<[String; 6]> = self
            .classes
            .iter()
            .map(|c| {
                [
                    c.id.to_string(),
                    c.when.clone(),
                    c.returns.join(", "),
                    format!("<= {}", c.instructions),
                    format!("<= {}", c.memory),
                    c.paths.to_string(),
                ]
            })
            .collect();
        let head = ["class", "when", "returns", "instructions", "memory accesses", "paths"];
        let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (k, x) in r.iter().enumerate() {
                w[k] = w[k].max(x.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut l = String::new();
            for (k, x) in cells.iter().enumerate() {
                let pad = w[k] - x.chars().count();
                l.push_str(x);
                if k + 1 < cells.len() {
                    l.push_str(&" ".repeat(pad + 2));
                }
            }
            l
        };
        let _ = writeln!(s, "{}", line(&head.map(String::from)));
        for r in &rows {
            let _ = writeln!(s, "{}", line(r));
        }
        let _ = writeln!(s);
        if self.pcvs.is_empty() {
            let _ = writeln!(s, "PCVs: none (every path's cost is a constant)");
        } else {
            let _ = writeln!(s, "PCVs:");
            for p in &self.pcvs {
                let _ = writeln!(s, "  {:<12} {} [{}]", p.name, p.meaning, p.loops.join(", "));
            }
        }
        let _ = writeln!(s, "metrics: {}", self.metrics.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "));
        let _ = writeln!(s, "coverage: {}", self.coverage.statement);
        for h in &self.coverage.holes {
            let _ = writeln!(s, "  hole ({}): {}", serde_json::to_string(&h.kind).unwrap_or_default().trim_matches('"'), h.what);
        }
        let _ = writeln!(
            s,
            "generated in {:.2} s ({} solver queries, {} answered from caches)",
            self.generation.seconds, self.generation.solver_queries, self.generation.cache_hits
        );
        s
    }
}

/// The PCV name of each summarised loop.
fn pcv_names(prog: &Program, engine: &Engine<'_>, cfg: &Config) -> BTreeMap<usize, (String, String)> {
    let mut out = BTreeMap::new();
    for (id, stat) in engine.loops.iter().enumerate() {
        if !stat.summarised {
            continue;
        }
        let loc = &prog.loops[id].location;
        let (file, line) = loc.rsplit_once(':').unwrap_or((loc.as_str(), "0"));
        let line: usize = line.parse().unwrap_or(0);
        // A `PCV x: meaning` comment on the loop's line or the three above names it.
        let named = cfg.sources.get(file).and_then(|text| {
            let lines: Vec<&str> = text.lines().collect();
            (line.saturating_sub(4)..line).rev().find_map(|k| {
                let l = lines.get(k)?;
                let at = l.find("PCV ")?;
                let rest = &l[at + 4..];
                let (name, meaning) = rest.split_once(':')?;
                let name = name.trim();
                (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                    .then(|| (name.to_string(), meaning.trim().trim_end_matches("*/").trim().to_string()))
            })
        });
        out.insert(
            id,
            named.unwrap_or_else(|| {
                let stem = file.trim_end_matches(".c");
                (format!("n_{stem}_{line}"), format!("iterations of the loop at {loc} (back edges taken, summed over the call)"))
            }),
        );
    }
    out
}

/// A path's bounds, with every loop's coefficient known.
fn path_bounds(p: &PathResult, engine: &Engine<'_>, names: &BTreeMap<usize, (String, String)>) -> (Bound, Bound) {
    let mut bi = Bound { constant: p.cost.instructions as i64, terms: BTreeMap::new() };
    let mut bm = Bound { constant: p.cost.memory as i64, terms: BTreeMap::new() };
    // Loops this path summarised, and (k = 0) every loop summarised inside their iterations.
    let mut with_k: BTreeMap<usize, u64> = BTreeMap::new();
    for (l, k) in &p.cost.terms {
        *with_k.entry(*l).or_insert(0) += k;
    }
    let mut all: BTreeSet<usize> = with_k.keys().copied().collect();
    let mut work: Vec<usize> = all.iter().copied().collect();
    while let Some(l) = work.pop() {
        for i in &engine.loops[l].inner {
            if all.insert(*i) {
                work.push(*i);
            }
        }
    }
    for l in all {
        let stat = &engine.loops[l];
        let k = *with_k.get(&l).unwrap_or(&0) as i64;
        let name = names.get(&l).map(|n| n.0.clone()).unwrap_or_else(|| format!("loop{l}"));
        bi.constant -= stat.instructions as i64 * k;
        bm.constant -= stat.memory as i64 * k;
        let e = bi.terms.entry(name.clone()).or_insert(0);
        *e = (*e).max(stat.instructions);
        let e = bm.terms.entry(name).or_insert(0);
        *e = (*e).max(stat.memory);
    }
    (bi, bm)
}

fn describe_return(e: &Option<crate::expr::Expr>) -> String {
    match e.as_ref().and_then(|e| e.as_const().map(|v| (v, e.width()))) {
        Some((v, w)) => {
            let s = crate::expr::eval_bin(crate::expr::BinOp::Add, w, v, 0) as i128;
            let signed = if w < 128 && v >> (w - 1) & 1 == 1 { s - (1i128 << w) } else { s };
            match signed {
                -1 => "drop".into(),
                -2 => "flood".into(),
                p => format!("port {p}"),
            }
        }
        None => "port (computed)".into(),
    }
}

/// Groups the engine's paths into classes.
pub fn build(prog: &Program, engine: &mut Engine<'_>, cfg: &Config, info: &ModuleInfo, took: Duration) -> Contract {
    let names = pcv_names(prog, engine, cfg);
    let inputs = engine.inputs;
    let mut classes: BTreeMap<Vec<String>, (Class, Vec<crate::expr::Expr>)> = BTreeMap::new();
    let paths = std::mem::take(&mut engine.paths);
    for p in &paths {
        let mut conds: Vec<String> =
            p.pc.iter().filter(|c| input_only(c, &engine.vars) && !engine.axioms.contains(c)).map(|c| render(c, &engine.vars, &inputs)).collect();
        conds.sort();
        conds.dedup();
        let (bi, bm) = path_bounds(p, engine, &names);
        let ret = describe_return(&p.ret);
        let entry = classes.entry(conds.clone()).or_insert_with(|| {
            (
                Class {
                    id: 0,
                    when: if conds.is_empty() { "any packet".into() } else { conds.join(" && ") },
                    conditions: conds.clone(),
                    returns: Vec::new(),
                    instructions: bi.clone(),
                    memory: bm.clone(),
                    paths: 0,
                    witness: None,
                },
                p.pc.clone(),
            )
        });
        entry.0.instructions.max_with(&bi);
        entry.0.memory.max_with(&bm);
        entry.0.paths += 1;
        if !entry.0.returns.contains(&ret) {
            entry.0.returns.push(ret);
        }
    }
    let mut out = Vec::new();
    for (_, (mut class, pc)) in classes {
        class.id = out.len() + 1;
        if let Some(m) = engine.witness(&pc) {
            let len = (m.vars.get(&inputs.len).copied().unwrap_or(0) as u32).min(crate::program::layout::MAX_LEN as u32);
            let bytes: String = (0..len as u64).map(|i| format!("{:02x}", m.bytes.get(&(inputs.packet, i)).copied().unwrap_or(0))).collect();
            class.witness = Some(Witness {
                len,
                port: m.vars.get(&inputs.port).copied().unwrap_or(0) as u16,
                time_ns: m.vars.get(&inputs.time).copied().unwrap_or(0) as u64,
                bytes,
            });
        }
        out.push(class);
    }
    // Order classes by the order a reader expects: shortest conditions first.
    out.sort_by_key(|c| (c.conditions.len(), c.when.clone()));
    for (k, c) in out.iter_mut().enumerate() {
        c.id = k + 1;
    }
    let mut pcvs: BTreeMap<String, Pcv> = BTreeMap::new();
    for (id, (name, meaning)) in &names {
        let e = pcvs.entry(name.clone()).or_insert_with(|| Pcv { name: name.clone(), meaning: meaning.clone(), loops: Vec::new() });
        e.loops.push(prog.loops[*id].location.clone());
    }
    let holes = engine.holes.clone();
    let (hits, misses, unknown) = engine.solver_stats();
    let complete = holes.is_empty();
    let statement = if complete {
        format!(
            "every path of {} is covered: {} paths in {} classes{}",
            cfg.entry,
            paths.len(),
            out.len(),
            if engine.violation_paths > 0 {
                format!("; {} more paths end in an isolation violation, which stops the module (not bounded)", engine.violation_paths)
            } else {
                String::new()
            }
        )
    } else {
        format!("INCOMPLETE: {} holes; the bounds hold only for the paths analysed ({})", holes.len(), paths.len())
    };
    Contract {
        format: FORMAT.into(),
        module: info.module.clone(),
        nfcc_version: info.nfcc_version.clone(),
        protection: info.protection.clone(),
        entry: cfg.entry.clone(),
        metrics: vec![
            Metric { name: "instructions".into(), meaning: "x86-64 instructions executed by one call of the entry point, everything it calls included (valgrind's Ir)".into() },
            Metric { name: "memory".into(), meaning: "memory accesses of that call: loads plus stores, as valgrind counts them (Dr + Dw)".into() },
        ],
        pcvs: pcvs.into_values().collect(),
        classes: out,
        coverage: Coverage { complete, paths: paths.len() as u64, violation_paths: engine.violation_paths, holes, statement },
        generation: Generation { seconds: took.as_secs_f64(), solver_queries: misses, cache_hits: hits, solver_unknown: unknown },
    }
}
