//! The performance contract: its format (the one owner of it) and how the engine's paths
//! become classes.
//!
//! A class is a set of paths with the same condition on the input (packet bytes, length,
//! port, time) and the same results of the tracked data-structure calls ([`CallSite`]:
//! hit or miss, allocated or full, ...); other state outcomes inside a class are merged. Its bound on each metric is the
//! coefficient-wise maximum of its paths' formulas, which is >= every path's cost for every
//! value of the PCVs (all PCVs are >= 0, and a path's formula already holds for the PCV
//! values that path can have).

use crate::engine::{Engine, Extra, Inputs, PathResult, VarInfo, VarKind};
use crate::expr::{ArrNode, BinOp, CmpOp, Expr, Node};
use crate::program::Program;
use crate::render::{input_only, render};
use crate::{Config, Hole, ModuleInfo};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

/// The format name written into every contract.
pub const FORMAT: &str = "nfcc-contract/4";

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
    /// The condition's conjuncts, readable.
    pub conditions: Vec<String>,
    /// The same conjuncts as expression trees, to evaluate on a packet.
    pub condition: Vec<Term>,
    /// What the NF returns on this class (`port 1`, `drop`, ...), every value seen.
    pub returns: Vec<String>,
    /// Bound on x86 instructions.
    pub instructions: Bound,
    /// Bound on memory accesses.
    pub memory: Bound,
    /// How many times each tracked call returned each value on this class's packets, by
    /// counter name ([`CallSite::counters`]); a counter not listed is 0. Part of the class's
    /// condition: a packet is in the class only if its calls' results match exactly.
    #[serde(default)]
    pub results: BTreeMap<String, u64>,
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
    /// The same loops in the module's final IR: the PCV is the number of times one of these
    /// headers runs (each entry into the loop and each back edge), summed over the call.
    pub sites: Vec<LoopSite>,
    /// Calls it counts instead (each time one runs), for the PCV of a call inside a loop
    /// (then `loops` gives the call's location).
    #[serde(default)]
    pub calls: Vec<CallRef>,
    /// Blocks it counts instead (each time one runs), for the PCV of a loop branch: a block
    /// that only some iterations of its loop run (then `loops` gives the block's location).
    #[serde(default)]
    pub blocks: Vec<BlockRef>,
}

/// A basic block in the module's final IR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    /// The function it is in.
    pub function: String,
    /// Its position among the function's basic blocks (from 0).
    pub block: usize,
}

/// A call instruction in the module's final IR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRef {
    /// The function it is in.
    pub function: String,
    /// Its block's position among the function's basic blocks (from 0).
    pub block: usize,
    /// Its position among the block's instructions (from 0).
    pub index: usize,
    /// Count only the runs that returned this value (signed decimal, in `width` bits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<String>,
    /// Count only the runs that returned none of these values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub returned_none_of: Vec<String>,
    /// The result's width in bits, with `returned` or `returned_none_of`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub width: u32,
}

fn is_zero(w: &u32) -> bool {
    *w == 0
}

/// A call whose result the classes name: a data-structure operation called from the
/// entry point's own code (not inside a summarised loop), whose every outcome returns a
/// constant. The tracing variant counts, per packet, how many times it returned each of
/// its `values` (and any other value, which no class expects).
///
/// Or, with `exit_side`, a way out of a loop of the entry point's own code that classes
/// name: the conditional branch at `block`/`index` (its terminator) taking side
/// `exit_side` (0 the true side) out of the loop; the tracing variant counts the times it
/// does. Leaving a probe loop because the entry was found, or because a free slot was, are
/// different outcomes with different costs, as a data-structure call's results are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSite {
    /// Its name in the classes: `callee@file:line` (`#k` added when a line has several);
    /// a loop exit's is `exit@file:line` (where the exiting branch is).
    pub name: String,
    /// The function called; for a loop exit, `loop at file:line`.
    pub callee: String,
    /// Where the call is (file:line).
    pub location: String,
    /// The function the call is in, in the module's final IR.
    pub function: String,
    /// The call's block: its position among the function's basic blocks (from 0).
    pub block: usize,
    /// The call's position among its block's instructions (from 0).
    pub index: usize,
    /// The result's width in bits.
    pub width: u32,
    /// The results the analysis found (signed decimal).
    pub values: Vec<String>,
    /// For a loop exit: the side of the branch that leaves the loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_side: Option<u32>,
}

impl CallSite {
    /// The counter of each value (`name=value`), then the one of every other value
    /// (`name=other`); a loop exit's one counter is its name.
    pub fn counters(&self) -> Vec<String> {
        if self.exit_side.is_some() {
            return vec![self.name.clone()];
        }
        self.values.iter().map(|v| format!("{}={v}", self.name)).chain(std::iter::once(format!("{}=other", self.name))).collect()
    }
}

/// A loop header in the module's final IR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopSite {
    /// The function.
    pub function: String,
    /// The header's position among the function's basic blocks (from 0).
    pub header: usize,
}

/// A condition on the input, as an expression tree (what `when` prints). Widths are bits;
/// semantics are SMT-LIB bit-vector semantics; `pkt` bytes at or beyond `len` read as 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Term {
    /// A constant (decimal text: values may exceed JSON's integers).
    Const {
        /// Width.
        width: u32,
        /// Value.
        value: String,
    },
    /// The frame length (32 bits).
    Len,
    /// The input port (16 bits).
    Port,
    /// The arrival time (64 bits).
    Time,
    /// The packet byte at an index (64-bit index, 8-bit result).
    Pkt {
        /// Index.
        index: Box<Term>,
    },
    /// Bitwise not.
    Not {
        /// Operand.
        a: Box<Term>,
    },
    /// Binary operator: add sub mul udiv sdiv urem srem and or xor shl lshr ashr.
    Bin {
        /// Operator.
        kind: String,
        /// Left.
        a: Box<Term>,
        /// Right.
        b: Box<Term>,
    },
    /// Comparison (1 bit): eq ult ule slt sle.
    Cmp {
        /// Operator.
        kind: String,
        /// Left.
        a: Box<Term>,
        /// Right.
        b: Box<Term>,
    },
    /// If-then-else.
    Ite {
        /// 1-bit condition.
        c: Box<Term>,
        /// Then.
        t: Box<Term>,
        /// Else.
        e: Box<Term>,
    },
    /// Zero extension to `width`.
    Zext {
        /// Width.
        width: u32,
        /// Operand.
        a: Box<Term>,
    },
    /// Sign extension to `width`.
    Sext {
        /// Width.
        width: u32,
        /// Operand.
        a: Box<Term>,
    },
    /// Bits `lo .. lo + width`.
    Extract {
        /// Low bit.
        lo: u32,
        /// Width.
        width: u32,
        /// Operand.
        a: Box<Term>,
    },
    /// `hi` above `lo`.
    Concat {
        /// High part.
        hi: Box<Term>,
        /// Low part.
        lo: Box<Term>,
    },
}

const BIN_NAMES: [(BinOp, &str); 13] = [
    (BinOp::Add, "add"),
    (BinOp::Sub, "sub"),
    (BinOp::Mul, "mul"),
    (BinOp::UDiv, "udiv"),
    (BinOp::SDiv, "sdiv"),
    (BinOp::URem, "urem"),
    (BinOp::SRem, "srem"),
    (BinOp::And, "and"),
    (BinOp::Or, "or"),
    (BinOp::Xor, "xor"),
    (BinOp::Shl, "shl"),
    (BinOp::LShr, "lshr"),
    (BinOp::AShr, "ashr"),
];
const CMP_NAMES: [(CmpOp, &str); 5] =
    [(CmpOp::Eq, "eq"), (CmpOp::Ult, "ult"), (CmpOp::Ule, "ule"), (CmpOp::Slt, "slt"), (CmpOp::Sle, "sle")];

/// A concrete input, to evaluate conditions on.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The frame.
    pub packet: &'a [u8],
    /// Input port.
    pub port: u16,
    /// Arrival time.
    pub time_ns: u64,
}

impl Term {
    /// The term of an expression over the input; `None` if it mentions anything else.
    pub fn from_expr(e: &Expr, vars: &[VarInfo], inputs: &Inputs) -> Option<Term> {
        let b = |x: &Expr| Term::from_expr(x, vars, inputs).map(Box::new);
        Some(match e.node() {
            Node::Const(v) => Term::Const { width: e.width(), value: v.to_string() },
            Node::Var(id) => match vars.get(*id as usize)?.kind {
                VarKind::Len => Term::Len,
                VarKind::Port => Term::Port,
                VarKind::Time => Term::Time,
                _ => return None,
            },
            Node::Select(a, i) => match &*a.0 {
                ArrNode::Base(id) if *id == inputs.packet => Term::Pkt { index: b(i)? },
                _ => return None,
            },
            Node::Not(x) => Term::Not { a: b(x)? },
            Node::Bin(op, x, y) => Term::Bin {
                kind: BIN_NAMES.iter().find(|(o, _)| o == op)?.1.into(),
                a: b(x)?,
                b: b(y)?,
            },
            Node::Cmp(op, x, y) => Term::Cmp {
                kind: CMP_NAMES.iter().find(|(o, _)| o == op)?.1.into(),
                a: b(x)?,
                b: b(y)?,
            },
            Node::Ite(c, t, f) => Term::Ite { c: b(c)?, t: b(t)?, e: b(f)? },
            Node::ZExt(x) => Term::Zext { width: e.width(), a: b(x)? },
            Node::SExt(x) => Term::Sext { width: e.width(), a: b(x)? },
            Node::Extract(lo, x) => Term::Extract { lo: *lo, width: e.width(), a: b(x)? },
            Node::Concat(h, l) => Term::Concat { hi: b(h)?, lo: b(l)? },
        })
    }

    /// The expression again (variables: 0 length, 1 port, 2 time, array 3 the packet).
    pub fn to_expr(&self) -> Result<Expr, ContractError> {
        let bad = |m: &str| ContractError::Parse(format!("bad condition: {m}"));
        let width_ok = |w: u32| if (1..=128).contains(&w) { Ok(w) } else { Err(bad("width")) };
        Ok(match self {
            Term::Const { width, value } => {
                Expr::constant(width_ok(*width)?, value.parse::<u128>().map_err(|_| bad("constant"))?)
            }
            Term::Len => Expr::var(32, 0),
            Term::Port => Expr::var(16, 1),
            Term::Time => Expr::var(64, 2),
            Term::Pkt { index } => {
                let i = index.to_expr()?;
                if i.width() != 64 {
                    return Err(bad("packet index width"));
                }
                crate::expr::Arr::base(3).select(i)
            }
            Term::Not { a } => a.to_expr()?.not(),
            Term::Bin { kind, a, b } => {
                let op = BIN_NAMES.iter().find(|(_, n)| n == kind).ok_or_else(|| bad("operator"))?.0;
                let (x, y) = (a.to_expr()?, b.to_expr()?);
                if x.width() != y.width() {
                    return Err(bad("operand widths"));
                }
                Expr::bin(op, &x, &y)
            }
            Term::Cmp { kind, a, b } => {
                let op = CMP_NAMES.iter().find(|(_, n)| n == kind).ok_or_else(|| bad("comparison"))?.0;
                let (x, y) = (a.to_expr()?, b.to_expr()?);
                if x.width() != y.width() {
                    return Err(bad("operand widths"));
                }
                Expr::cmp(op, &x, &y)
            }
            Term::Ite { c, t, e } => {
                let (c, t, e) = (c.to_expr()?, t.to_expr()?, e.to_expr()?);
                if c.width() != 1 || t.width() != e.width() {
                    return Err(bad("ite widths"));
                }
                Expr::ite(&c, &t, &e)
            }
            Term::Zext { width, a } => {
                let x = a.to_expr()?;
                if *width < x.width() || *width > 128 {
                    return Err(bad("zext width"));
                }
                x.zext(*width)
            }
            Term::Sext { width, a } => {
                let x = a.to_expr()?;
                if *width < x.width() || *width > 128 {
                    return Err(bad("sext width"));
                }
                x.sext(*width)
            }
            Term::Extract { lo, width, a } => {
                let x = a.to_expr()?;
                if *width == 0 || lo + width > x.width() {
                    return Err(bad("extract range"));
                }
                x.extract(*lo, *width)
            }
            Term::Concat { hi, lo } => {
                let (h, l) = (hi.to_expr()?, lo.to_expr()?);
                if h.width() + l.width() > 128 {
                    return Err(bad("concat width"));
                }
                Expr::concat(&h, &l)
            }
        })
    }
}

/// Whether every term of `conds` (1-bit) holds for `input`.
pub fn holds(conds: &[Expr], input: Input<'_>) -> bool {
    let var = |v: u32| -> Option<u128> {
        Some(match v {
            0 => input.packet.len() as u128,
            1 => input.port as u128,
            2 => input.time_ns as u128,
            _ => return None,
        })
    };
    let byte = |_a: u32, i: u64| -> Option<u8> { Some(input.packet.get(i as usize).copied().unwrap_or(0)) };
    conds.iter().all(|c| c.eval(&var, &byte) == Some(1))
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
    /// SHA-256 of the module file (hex): the contract describes exactly that binary.
    pub module_sha256: String,
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
    /// The calls whose results the classes name.
    #[serde(default)]
    pub calls: Vec<CallSite>,
    /// The classes.
    pub classes: Vec<Class>,
    /// Coverage.
    pub coverage: Coverage,
    /// Generation facts.
    pub generation: Generation,
    /// The whole stack, when the contract was built for one (`nfcc build --stack`): the
    /// packet path around the module (DPDK receive and transmit, mbufs, the host's
    /// dispatch) from a measured model, and every class's bound with it. Absent in a
    /// module-only contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Stack>,
}

/// A bound on both metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    /// Instructions.
    pub instructions: Bound,
    /// Memory accesses.
    pub memory: Bound,
}

/// The whole-stack part of a contract: what the packet path around the module costs,
/// with `pcv` (the packets one receive burst returned) as its performance-critical
/// variable.
///
/// A receive burst of `burst` packets, packet i in class c_i with module PCVs v_i, costs at
/// most `a + sum_i (stack(c_i) + class(c_i).bound(v_i))`, where `a` is `per_burst`'s
/// constant and `stack(c)` the class's per-packet stack cost (the model's coefficient for
/// what the class returns: a drop, or a packet sent). `per_burst` itself, `a + b * burst`
/// with the largest per-packet coefficient, bounds the stack's cost of any burst. Per
/// packet averaged over the burst: that sum divided by `burst`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    /// The model's name (`dpdk:net_ring`).
    pub model: String,
    /// The model file it came from.
    pub model_file: String,
    /// SHA-256 of that file.
    pub model_sha256: String,
    /// The device (DPDK driver) the model describes.
    pub device: String,
    /// The DPDK library the model was measured on.
    pub dpdk_version: String,
    /// The host that was measured (nfcc version, binary SHA-256).
    pub host: String,
    /// The frame size measured: a device that copies frames (net_pcap) is bounded for
    /// frames up to this size; others never touch the bytes.
    pub frame_bytes: u32,
    /// The burst-size PCV: its name (`burst`) and meaning.
    pub pcv: Pcv,
    /// The stack's own cost per receive burst, whatever its packets: `a + b * burst`.
    pub per_burst: Bounds,
    /// What the first burst of a run was measured to cost on top (the host's loop sets
    /// itself up: its staging queues' allocation, whose cost depends on the heap): stated,
    /// not bounded; the bounds hold for every burst after the first.
    pub first_burst: Bounds,
    /// Per class (the contract's ids).
    pub classes: Vec<StackClass>,
    /// The statement, in words.
    pub statement: String,
}

/// One class's whole-stack bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackClass {
    /// The class id.
    pub id: usize,
    /// The stack's cost per packet of this class (constants).
    pub stack: Bounds,
    /// Per packet: the module's bound plus `stack`; the stack's `a` per burst comes on
    /// top, shared by the burst's packets.
    pub per_packet: Bounds,
    /// A burst of `burst` packets all of this class: `a + (module constant + stack) *
    /// burst + the module's PCV terms`, each module PCV then summed over the burst (with a
    /// flood surcharge, see `fixed`, in the burst coefficient).
    pub per_burst: Bounds,
    /// What a burst holding a packet of this class pays once, whatever else it holds:
    /// `a`, plus, for a class that may flood, `surcharge * burst` (the chain's flood path
    /// for every packet of the burst). A burst pays the largest of its packets' classes'.
    pub fixed: Bounds,
}

impl Stack {
    /// The stack section for `classes`: `per_burst` is the model's `a + b * pcv` for any
    /// burst; `drop` the lines `(a, b)` (instructions, memory accesses) of bursts of dropped
    /// packets, used for classes that only drop, and `forward` those of packets sent to a
    /// port, used for classes that only send to the input port; classes that never flood
    /// get the larger of the two (a constant or computed port may not exist: a drop), the
    /// others (a port from state may be a flood) `per_burst`'s. A
    /// class's `per_burst` constant is its line's `a`: a burst pays the largest `a` of its
    /// packets' classes once. A class that may flood (a flood, or a port from state) makes
    /// the chain take its flood path for the whole burst, where the other packets may cost
    /// more than their own verdict's `b`: its `fixed` cost also pays every packet of the
    /// burst the difference between `per_burst`'s `b` and the cheapest verdict's.
    #[allow(clippy::too_many_arguments)]
    pub fn for_classes(
        classes: &[Class],
        model: String,
        model_file: String,
        model_sha256: String,
        device: String,
        dpdk_version: String,
        host: String,
        frame_bytes: u32,
        pcv: Pcv,
        per_burst: Bounds,
        first_burst: Bounds,
        drop: [(i64, u64); 2],
        forward: [(i64, u64); 2],
    ) -> Stack {
        let one = |module: &Bound, a: i64, b: u64| -> (Bound, Bound) {
            let per_packet = Bound { constant: module.constant + b as i64, terms: module.terms.clone() };
            // A burst: the constant becomes a coefficient of the burst size (never below
            // zero: the burst size is >= 0, so rounding up keeps the bound sound).
            let mut terms = module.terms.clone();
            terms.insert(pcv.name.clone(), per_packet.constant.max(0) as u64);
            (per_packet, Bound { constant: a, terms })
        };
        let coef = |b: &Bound| *b.terms.get(&pcv.name).unwrap_or(&0);
        let classes = classes
            .iter()
            .map(|c| {
                let all = |f: fn(&str) -> bool| !c.returns.is_empty() && c.returns.iter().all(|r| f(r));
                // The input port always exists; a constant or computed port may not (the
                // host then drops the packet), and a port from state may also be a flood.
                let floods = c.returns.iter().any(|r| r == "flood" || r == STATE_PORT);
                // (a, b, flood surcharge per packet of the burst), per metric.
                let [(ai, si, xi), (am, sm, xm)] = if all(|r| r == "drop") {
                    [(drop[0].0, drop[0].1, 0), (drop[1].0, drop[1].1, 0)]
                } else if all(|r| r == "input port") {
                    [(forward[0].0, forward[0].1, 0), (forward[1].0, forward[1].1, 0)]
                } else if !floods {
                    let either = |k: usize| (drop[k].0.max(forward[k].0), drop[k].1.max(forward[k].1), 0);
                    [either(0), either(1)]
                } else {
                    let line = |b: &Bound, k: usize| {
                        let surcharge = coef(b).saturating_sub(drop[k].1.min(forward[k].1));
                        (b.constant, coef(b), surcharge)
                    };
                    [line(&per_burst.instructions, 0), line(&per_burst.memory, 1)]
                };
                let (pi, mut bi) = one(&c.instructions, ai, si);
                let (pm, mut bm) = one(&c.memory, am, sm);
                *bi.terms.entry(pcv.name.clone()).or_insert(0) += xi;
                *bm.terms.entry(pcv.name.clone()).or_insert(0) += xm;
                let fixed = |a: i64, x: u64| Bound { constant: a, terms: if x > 0 { BTreeMap::from([(pcv.name.clone(), x)]) } else { BTreeMap::new() } };
                StackClass {
                    id: c.id,
                    stack: Bounds { instructions: Bound { constant: si as i64, terms: BTreeMap::new() }, memory: Bound { constant: sm as i64, terms: BTreeMap::new() } },
                    per_packet: Bounds { instructions: pi, memory: pm },
                    per_burst: Bounds { instructions: bi, memory: bm },
                    fixed: Bounds { instructions: fixed(ai, xi), memory: fixed(am, xm) },
                }
            })
            .collect();
        let statement = format!(
            "a receive burst of {p} packets on {device} costs at most {} instructions and {} memory accesses in the host and DPDK ({model}, measured on {dpdk_version}; {} + {}*{p} and {} + {}*{p} for bursts whose classes only drop, {} + {}*{p} and {} + {}*{p} for bursts whose classes only send to the input port, the larger of the two for classes that never flood, the largest of its packets' classes' per burst otherwise (a class that may flood pays the flood path for every packet of its burst); the first burst of a run, which also sets the loop up, is not bounded: it measured up to {} and {} more; frames measured: {frame_bytes} bytes), plus each packet's class bound for its call of the module",
            per_burst.instructions,
            per_burst.memory,
            drop[0].0,
            drop[0].1,
            drop[1].0,
            drop[1].1,
            forward[0].0,
            forward[0].1,
            forward[1].0,
            forward[1].1,
            first_burst.instructions,
            first_burst.memory,
            p = pcv.name
        );
        Stack { model, model_file, model_sha256, device, dpdk_version, host, frame_bytes, pcv, per_burst, first_burst, classes, statement }
    }

    /// The stack's fixed cost per burst (`a`), on both metrics, whatever its packets' classes
    /// (a class's own is its `fixed` cost).
    pub fn fixed(&self) -> (i64, i64) {
        (self.per_burst.instructions.constant, self.per_burst.memory.constant)
    }

    /// Class `id`'s stack entry.
    pub fn class(&self, id: usize) -> Option<&StackClass> {
        self.classes.iter().find(|c| c.id == id)
    }
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

    /// What the tracing variant counts, in its slot order: each PCV, then each tracked
    /// call's counters ([`CallSite::counters`]).
    pub fn counted(&self) -> Vec<String> {
        self.pcvs.iter().map(|p| p.name.clone()).chain(self.calls.iter().flat_map(|c| c.counters())).collect()
    }

    /// The classes a call of the entry point on `input` falls in, given what the tracing
    /// variant counted on it (`counts`, by [`Contract::counted`] name; missing names are 0):
    /// the input conditions hold and the tracked calls' results are the class's. Several
    /// when they differ only in other state outcomes: its bound is then the largest.
    pub fn classes_of(&self, input: Input<'_>, counts: &BTreeMap<String, u64>) -> Result<Vec<&Class>, ContractError> {
        let counters: Vec<String> = self.calls.iter().flat_map(|c| c.counters()).collect();
        let mut out = Vec::new();
        for c in &self.classes {
            let conds = c.condition.iter().map(Term::to_expr).collect::<Result<Vec<_>, _>>()?;
            let results_match = counters.iter().all(|n| c.results.get(n).copied().unwrap_or(0) == counts.get(n).copied().unwrap_or(0));
            if results_match && holds(&conds, input) {
                out.push(c);
            }
        }
        Ok(out)
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
        if let Some(st) = &self.stack {
            let _ = writeln!(s);
            let _ = writeln!(s, "whole stack: {} ({}, {}; model {}, host {})", st.model, st.device, st.dpdk_version, st.model_file, st.host);
            let _ = writeln!(
                s,
                "  stack per receive burst: instructions <= {}, memory accesses <= {} (every burst but a run's first, which measured up to {} and {} more)",
                st.per_burst.instructions, st.per_burst.memory, st.first_burst.instructions, st.first_burst.memory
            );
            let _ = writeln!(s, "  {:<12} {}", st.pcv.name, st.pcv.meaning);
            let head = ["class", "stack per packet", "per packet (+ a / burst)", "burst of this class: instructions", "memory accesses"];
            let rows: Vec<[String; 5]> = st
                .classes
                .iter()
                .map(|c| {
                    [
                        c.id.to_string(),
                        format!("{} / {}", c.stack.instructions, c.stack.memory),
                        format!("<= {} / {}", c.per_packet.instructions, c.per_packet.memory),
                        format!("<= {}", c.per_burst.instructions),
                        format!("<= {}", c.per_burst.memory),
                    ]
                })
                .collect();
            let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
            for r in &rows {
                for (k, x) in r.iter().enumerate() {
                    w[k] = w[k].max(x.chars().count());
                }
            }
            let line = |cells: &[String]| {
                let mut l = String::from("  ");
                for (k, x) in cells.iter().enumerate() {
                    l.push_str(x);
                    if k + 1 < cells.len() {
                        l.push_str(&" ".repeat(w[k] - x.chars().count() + 2));
                    }
                }
                l
            };
            let _ = writeln!(s, "{}", line(&head.map(String::from)));
            for r in &rows {
                let _ = writeln!(s, "{}", line(r));
            }
            let _ = writeln!(s, "  (instructions / memory accesses; module PCVs in a burst's bound are summed over its packets)");
            let _ = writeln!(s, "  {}", st.statement);
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

/// The PCV names of the summarised loops, calls in loops and loop branches.
struct Names {
    /// Name and meaning, by PCV id (as in `Engine::loops`).
    names: BTreeMap<usize, (String, String)>,
    /// Branches whose block holds a call with a PCV: they run exactly as often as the
    /// call, so they take its name and add their cost to its coefficient.
    folded: BTreeSet<usize>,
    /// The PCVs of a call's runs that returned one constant, with the call's `=other`
    /// counter (runs that returned none of its constants, which the analysis says cannot
    /// happen) and its coefficients (the call's dearest outcome): a bound that has one of
    /// the call's constants has it too.
    others: BTreeMap<usize, (String, u64, u64)>,
}

/// The block of an instruction.
fn block_of(i: nfcc_passes::llvm::Value) -> inkwell::llvm_sys::prelude::LLVMBasicBlockRef {
    // SAFETY: an instruction of the program's module, which outlives this.
    unsafe { inkwell::llvm_sys::core::LLVMGetInstructionParent(i) }
}

/// The name of each PCV (see [`Names`]).
fn pcv_names(prog: &Program, engine: &Engine<'_>, cfg: &Config) -> Names {
    let mut out = BTreeMap::new();
    let mut folded = BTreeSet::new();
    let mut calls_named: BTreeMap<String, usize> = BTreeMap::new();
    // Each call instruction's name (`callee@file:line`, `#k` for the k-th of a line).
    let mut call_base: std::collections::HashMap<nfcc_passes::llvm::Value, String> = std::collections::HashMap::new();
    let mut branches = Vec::new();
    let mut arms = Vec::new();
    let mut valued: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (id, stat) in engine.loops.iter().enumerate() {
        if !stat.summarised {
            continue;
        }
        if id >= prog.loops.len() {
            let (call, value) = match engine.extra[id - prog.loops.len()] {
                Extra::Call(call, value) => (call, value),
                Extra::Branch(b) => {
                    branches.push((id, b));
                    continue;
                }
                Extra::Arm(b) => {
                    arms.push((id, b));
                    continue;
                }
            };
            // A call inside a loop, or of a function counted at every call (one PCV for all).
            let (callee, loc) = (callee_of(call), location_of(call));
            if cfg.count_calls.contains(&callee) {
                out.insert(id, (callee.clone(), format!("calls of `{callee}` at any of its call sites (each charged at the dearest run seen)")));
                continue;
            }
            let name = call_base
                .entry(call)
                .or_insert_with(|| {
                    let base = format!("{callee}@{loc}");
                    let k = calls_named.entry(base.clone()).or_insert(0);
                    *k += 1;
                    if *k == 1 { base } else { format!("{base}#{k}") }
                })
                .clone();
            match value {
                None => {
                    out.insert(id, (name, format!("calls of `{callee}` at {loc} (each charged at its dearest outcome; the loops it runs have PCVs of their own)")));
                }
                Some(v) => {
                    let v = signed(v, result_width(call));
                    valued.entry(name.clone()).or_default().push(id);
                    out.insert(
                        id,
                        (format!("{name}={v}"), format!("calls of `{callee}` at {loc} that returned {v} (each charged at that outcome's dearest path; the loops it runs have PCVs of their own)")),
                    );
                }
            }
            continue;
        }
        let loc = &prog.loops[id].location;
        let (file, line_text) = loc.rsplit_once(':').unwrap_or((loc.as_str(), "0"));
        let line: usize = line_text.parse().unwrap_or(0);
        // A `PCV x: meaning` comment on the loop's line or the eight above names it (a rotated
        // loop's header is often the first line of its body).
        let named = cfg.sources.get(file).and_then(|text| {
            let lines: Vec<&str> = text.lines().collect();
            (line.saturating_sub(8)..line).rev().find_map(|k| {
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
                // `block7` without debug information.
                (format!("n_{stem}_{line_text}"), format!("iterations of the loop at {loc} (runs of its header, summed over the call)"))
            }),
        );
    }
    // Branches: a branch holding a call with a PCV counts as that call; the others count
    // their own runs.
    let mut function_of: BTreeMap<usize, String> = (0..prog.loops.len()).filter(|id| out.contains_key(id)).map(|id| (id, prog.loops[id].function.clone())).collect();
    let mut plain_branches = Vec::new();
    for (id, b) in branches {
        // Only a call counted by one PCV (its runs returning one constant are not all its runs).
        let calls: Vec<usize> = engine
            .extra
            .iter()
            .enumerate()
            .filter_map(|(k, e)| match e {
                Extra::Call(c, _) if block_of(*c) == b && out.contains_key(&(prog.loops.len() + k)) => Some(prog.loops.len() + k),
                _ => None,
            })
            .collect();
        let single = calls.len() == 1 && matches!(engine.extra[calls[0] - prog.loops.len()], Extra::Call(_, None));
        if let Some(call) = calls.first().copied().filter(|_| single) {
            let (name, meaning) = out[&call].clone();
            let meaning =
                if meaning.contains("plus the loop branch") { meaning } else { meaning.replacen(" outcome", " outcome, plus the loop branch it is in", 1) };
            out.insert(call, (name.clone(), meaning.clone()));
            out.insert(id, (name, meaning));
            folded.insert(id);
            continue;
        }
        let br = &prog.branches[&b];
        let (file, line) = br.location.rsplit_once(':').unwrap_or((br.location.as_str(), "0"));
        let stem = file.trim_end_matches(".c");
        let name = format!("br_{stem}_{line}");
        let meaning = format!("runs of the branch at {} in the loop at {} (which some iterations skip)", br.location, prog.loops[br.loop_id].location);
        function_of.insert(id, br.function.clone());
        plain_branches.push(id);
        out.insert(id, (name, meaning));
    }
    // Arms: isolation packet tests share one PCV; the others are named by their branch.
    let mut arm_names: BTreeMap<String, usize> = BTreeMap::new();
    for (id, b) in arms {
        let arm = &prog.arms[&b];
        if arm.packet_test {
            out.insert(
                id,
                (
                    "nfcc__pkt".into(),
                    "runs of isolation checks' packet tests (a pointer the compiler could not place, tested against the packet), each charged at the dearest one".into(),
                ),
            );
            continue;
        }
        let (file, line) = arm.location.rsplit_once(':').unwrap_or((arm.location.as_str(), "0"));
        let stem = file.trim_end_matches(".c");
        let base = format!("{}_{stem}_{line}", if arm.when_true { "if" } else { "ifnot" });
        let mut name = base.clone();
        if arm_names.contains_key(&name) {
            name = format!("{base}_{}", arm.function.strip_prefix("nfcc_").unwrap_or(&arm.function));
        }
        let mut k = 1;
        while arm_names.contains_key(&name) {
            k += 1;
            name = format!("{base}#{k}");
        }
        arm_names.insert(name.clone(), id);
        let meaning = format!(
            "runs of the code the branch at {} (in `{}`) enters when its condition, on module state, {} (each charged at its dearest run)",
            arm.location,
            arm.function,
            if arm.when_true { "holds" } else { "fails" }
        );
        out.insert(id, (name, meaning));
    }
    // One name for loops of several functions (a library loop inlined into each of its
    // operations) would charge each at the dearest one's iteration: one PCV per function.
    let mut functions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, f) in &function_of {
        functions.entry(out[id].0.clone()).or_default().insert(f.clone());
    }
    for (id, f) in &function_of {
        let (name, meaning) = out.get_mut(id).expect("named");
        if functions[name.as_str()].len() > 1 {
            *name = format!("{name}_{}", f.strip_prefix("nfcc_").unwrap_or(f));
            *meaning = format!("{meaning}, in `{f}`");
        }
    }
    // Branch blocks of one line in one function (code generation splits a condition into
    // several blocks) get a name each, `#2` and on: one name would charge each of them at
    // the dearest one's cost.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for id in plain_branches {
        let (name, _) = out.get_mut(&id).expect("named");
        let k = seen.entry(name.clone()).or_insert(0);
        *k += 1;
        if *k > 1 {
            *name = format!("{name}#{k}");
        }
    }
    // Each value-split call's `=other` counter, at the call's dearest outcome.
    let mut others = BTreeMap::new();
    for (name, ids) in valued {
        let i = ids.iter().map(|id| engine.loops[*id].instructions).max().unwrap_or(0);
        let m = ids.iter().map(|id| engine.loops[*id].memory).max().unwrap_or(0);
        for id in ids {
            others.insert(id, (format!("{name}=other"), i, m));
        }
    }
    Names { names: out, folded, others }
}

/// The width in bits of a call's integer result (0 if it has none).
fn result_width(call: nfcc_passes::llvm::Value) -> u32 {
    // SAFETY: type queries on an instruction of the program's module.
    unsafe {
        let t = inkwell::llvm_sys::core::LLVMTypeOf(call);
        if nfcc_passes::llvm::type_kind(t) == inkwell::llvm_sys::LLVMTypeKind::LLVMIntegerTypeKind {
            inkwell::llvm_sys::core::LLVMGetIntTypeWidth(t)
        } else {
            0
        }
    }
}

/// A path's bounds, with every loop's coefficient known.
fn path_bounds(p: &PathResult, engine: &Engine<'_>, names: &Names) -> (Bound, Bound) {
    let mut bi = Bound { constant: p.cost.instructions as i64, terms: BTreeMap::new() };
    let mut bm = Bound { constant: p.cost.memory as i64, terms: BTreeMap::new() };
    // Loops this path summarised or left (k: the runs of their headers it paid concretely), and
    // (k = 0) every loop summarised inside their iterations.
    let mut with_k: BTreeMap<usize, u64> = BTreeMap::new();
    for (l, k) in &p.cost.terms {
        // A loop no path summarised has no PCV: its runs are all in the constant.
        if engine.loops[*l].summarised {
            *with_k.entry(*l).or_insert(0) += k;
        }
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
    // A name's coefficient: the largest of its own PCVs', plus the largest of the branches
    // folded into it.
    let mut own: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut plus: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for &l in &all {
        let stat = &engine.loops[l];
        let k = *with_k.get(&l).unwrap_or(&0) as i64;
        let name = names.names.get(&l).map(|n| n.0.clone()).unwrap_or_else(|| format!("loop{l}"));
        bi.constant -= stat.instructions as i64 * k;
        bm.constant -= stat.memory as i64 * k;
        let e = if names.folded.contains(&l) { &mut plus } else { &mut own }.entry(name).or_insert((0, 0));
        *e = (e.0.max(stat.instructions), e.1.max(stat.memory));
    }
    for l in &all {
        if let Some((name, i, m)) = names.others.get(l) {
            let e = own.entry(name.clone()).or_insert((0, 0));
            *e = (e.0.max(*i), e.1.max(*m));
        }
    }
    for (name, (i, m)) in own.into_iter().chain(plus) {
        *bi.terms.entry(name.clone()).or_insert(0) += i;
        *bm.terms.entry(name).or_insert(0) += m;
    }
    (bi, bm)
}

/// `v` (of `width` bits) as a signed decimal (a 1-bit value as 0 or 1).
fn signed(v: u128, width: u32) -> i128 {
    if width > 1 && width < 128 && v >> (width - 1) & 1 == 1 {
        v as i128 - (1i128 << width)
    } else {
        v as i128
    }
}

/// The tracked calls that some path took (see [`crate::engine::CallStat`]), by call.
fn call_sites(engine: &Engine<'_>, paths: &[PathResult], names: &Names) -> std::collections::HashMap<nfcc_passes::llvm::Value, CallSite> {
    let taken: BTreeSet<nfcc_passes::llvm::Value> = paths.iter().flat_map(|p| p.results.iter().map(|(c, _)| *c)).collect();
    let mut found = Vec::new();
    for call in taken {
        let Some(stat) = engine.calls.get(&call) else { continue };
        if !stat.tracked || stat.width == 0 || stat.width > 64 {
            continue;
        }
        let (function, block, index) = call_position(call);
        let values = stat.values.iter().map(|v| signed(*v, stat.width).to_string()).collect();
        let site = CallSite { name: String::new(), callee: callee_of(call), location: location_of(call), function, block, index, width: stat.width, values, exit_side: None };
        found.push((call, site));
    }
    // Loop exits, of the loops whose paths leave by them at different costs (the dearest
    // path of each exit). A loop with one way out is left by every path that enters it, and
    // exits that cost the same would only multiply classes: their exits say nothing more.
    let mut dearest: BTreeMap<&str, BTreeMap<nfcc_passes::llvm::Value, (i64, i64)>> = BTreeMap::new();
    for p in paths {
        let (bi, bm) = path_bounds(p, engine, names);
        for (c, _) in &p.results {
            if let Some((l, _)) = engine.exits.get(c) {
                let e = dearest.entry(l.as_str()).or_default().entry(*c).or_insert((i64::MIN, i64::MIN));
                *e = (e.0.max(bi.constant), e.1.max(bm.constant));
            }
        }
    }
    for (term, (l, side)) in &engine.exits {
        let ways = engine.exits.values().filter(|(m, _)| m == l).count();
        let same_cost = dearest.get(l.as_str()).is_some_and(|exits| {
            let first = exits.values().next();
            exits.values().all(|c| Some(c) == first)
        });
        if ways < 2 || same_cost {
            continue;
        }
        let (function, block, index) = call_position(*term);
        let site = CallSite {
            name: String::new(),
            callee: format!("loop at {l}"),
            location: location_of(*term),
            function,
            block,
            index,
            width: 0,
            values: Vec::new(),
            exit_side: Some(*side as u32),
        };
        found.push((*term, site));
    }
    found.sort_by(|a, b| (&a.1.function, a.1.block, a.1.index).cmp(&(&b.1.function, b.1.block, b.1.index)));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (_, site) in found.iter_mut() {
        let base = if site.exit_side.is_some() { format!("exit@{}", site.location) } else { format!("{}@{}", site.callee, site.location) };
        let k = seen.entry(base.clone()).or_insert(0);
        *k += 1;
        site.name = if *k == 1 { base } else { format!("{base}#{k}") };
    }
    found.into_iter().collect()
}

/// A call's function, block position and position in the block.
fn call_position(call: nfcc_passes::llvm::Value) -> (String, usize, usize) {
    use inkwell::llvm_sys::core::{LLVMGetBasicBlockParent, LLVMGetInstructionParent};
    use nfcc_passes::llvm;
    // SAFETY: the call is an instruction of the program's module, which outlives this.
    let (f, b) = unsafe {
        let b = LLVMGetInstructionParent(call);
        (LLVMGetBasicBlockParent(b), b)
    };
    let block = llvm::blocks(f).iter().position(|x| *x == b).expect("the call's block is in its function");
    let index = llvm::instructions(b).iter().position(|x| *x == call).expect("the call is in its block");
    (llvm::name(f), block, index)
}

/// The function a call calls.
fn callee_of(call: nfcc_passes::llvm::Value) -> String {
    use nfcc_passes::llvm;
    llvm::as_function(llvm::called_value(call)).map(llvm::name).unwrap_or_else(|| "(indirect)".into())
}

/// Where a call is (`file:line`, or its function and block without debug information).
fn location_of(call: nfcc_passes::llvm::Value) -> String {
    match nfcc_passes::llvm::debug_location(call) {
        Some((file, line)) => format!("{}:{line}", crate::program::short(&file)),
        None => {
            let (f, block, _) = call_position(call);
            format!("{f}#{block}")
        }
    }
}

fn describe_return(e: &Option<crate::expr::Expr>, engine: &Engine<'_>) -> String {
    match e.as_ref().and_then(|e| e.as_const().map(|v| (v, e.width()))) {
        Some((v, w)) => {
            match signed(crate::expr::eval_bin(crate::expr::BinOp::Add, w, v, 0), w) {
                -1 => "drop".into(),
                -2 => "flood".into(),
                p => format!("port {p}"),
            }
        }
        None => match e {
            Some(e) if input_only(e, &engine.vars) => {
                let r = render(e, &engine.vars, &engine.inputs);
                if r == "port" {
                    "input port".into()
                } else {
                    format!("port {r}")
                }
            }
            Some(e) if never_negative(e) => NONNEGATIVE_STATE_PORT.into(),
            _ => STATE_PORT.into(),
        },
    }
}

/// A port read from state: any verdict, a drop or a flood too.
pub const STATE_PORT: &str = "port (from state)";
/// A port read from state that can be neither a drop nor a flood (its sign bit is clear).
pub const NONNEGATIVE_STATE_PORT: &str = "port (from state, >= 0)";

/// Whether `e`, read as a signed number of its width, is never negative: a constant with its
/// sign bit clear, a zero extension, a choice between such values, a mask by one, a shift
/// right.
fn never_negative(e: &crate::expr::Expr) -> bool {
    use crate::expr::{BinOp, Node};
    let w = e.width();
    match e.node() {
        Node::Const(c) => w > 0 && (c >> (w - 1)) & 1 == 0,
        Node::ZExt(x) => x.width() < w,
        Node::Ite(_, t, f) => never_negative(t) && never_negative(f),
        Node::Bin(BinOp::And, a, b) => never_negative(a) || never_negative(b),
        Node::Bin(BinOp::LShr, _, k) => k.as_const().is_some_and(|k| k > 0),
        _ => false,
    }
}

/// Groups the engine's paths into classes.
pub fn build(prog: &Program, engine: &mut Engine<'_>, cfg: &Config, info: &ModuleInfo, took: Duration) -> Contract {
    let names = pcv_names(prog, engine, cfg);
    let inputs = engine.inputs;
    let paths = std::mem::take(&mut engine.paths);
    let sites = call_sites(engine, &paths, &names);
    let mut classes: BTreeMap<(Vec<String>, Vec<(String, u64)>), (Class, Vec<crate::expr::Expr>)> = BTreeMap::new();
    for p in &paths {
        let mut exprs: Vec<(String, Expr)> = p
            .pc
            .iter()
            .filter(|c| input_only(c, &engine.vars) && !engine.axioms.contains(c))
            .map(|c| (render(c, &engine.vars, &inputs), c.clone()))
            .collect();
        exprs.sort_by(|a, b| a.0.cmp(&b.0));
        exprs.dedup_by(|a, b| a.0 == b.0);
        // Drop what the other conditions (and the ABI's limits) imply: `len >= 34` makes
        // `len >= 14` say nothing.
        let mut k = 0;
        while k < exprs.len() {
            let premises: Vec<Expr> =
                engine.axioms.iter().cloned().chain(exprs.iter().enumerate().filter(|(j, _)| *j != k).map(|(_, e)| e.1.clone())).collect();
            if engine.implies(&premises, &exprs[k].1) {
                exprs.remove(k);
            } else {
                k += 1;
            }
        }
        let pairs: Vec<(String, Term)> =
            exprs.into_iter().filter_map(|(r, c)| Some((r, Term::from_expr(&c, &engine.vars, &inputs)?))).collect();
        let conds: Vec<String> = pairs.iter().map(|p| p.0.clone()).collect();
        let terms: Vec<Term> = pairs.into_iter().map(|p| p.1).collect();
        let (bi, bm) = path_bounds(p, engine, &names);
        let ret = describe_return(&p.ret, engine);
        // The tracked calls' results on this path, in order of the sites.
        let mut results: BTreeMap<String, u64> = BTreeMap::new();
        for (call, v) in &p.results {
            match sites.get(call) {
                Some(site) if site.exit_side.is_some() => *results.entry(site.name.clone()).or_insert(0) += 1,
                Some(site) => *results.entry(format!("{}={}", site.name, signed(*v, site.width))).or_insert(0) += 1,
                None => {}
            }
        }
        let said: Vec<String> = results
            .iter()
            .map(|(n, k)| match n.rsplit_once('=') {
                Some((site, v)) if *k == 1 => format!("{site} == {v}"),
                Some((site, v)) => format!("{site} == {v} ({k} times)"),
                None if *k == 1 => format!("leaves by {n}"),
                None => format!("leaves by {n} ({k} times)"),
            })
            .collect();
        let key = (conds.clone(), results.iter().map(|(n, k)| (n.clone(), *k)).collect::<Vec<_>>());
        let entry = classes.entry(key).or_insert_with(|| {
            let all: Vec<String> = conds.iter().chain(said.iter()).cloned().collect();
            (
                Class {
                    id: 0,
                    when: if all.is_empty() { "any packet".into() } else { all.join(" && ") },
                    conditions: conds.clone(),
                    condition: terms.clone(),
                    returns: Vec::new(),
                    instructions: bi.clone(),
                    memory: bm.clone(),
                    results: results.clone(),
                    paths: 0,
                    witness: None,
                },
                // The witness needs the input's conditions only (and is then quicker to find).
                p.pc.iter().filter(|c| input_only(c, &engine.vars)).cloned().collect(),
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
    out.sort_by_key(|c| (c.conditions.len() + c.results.len(), c.when.clone()));
    for (k, c) in out.iter_mut().enumerate() {
        c.id = k + 1;
    }
    let mut pcvs: BTreeMap<String, Pcv> = BTreeMap::new();
    for (id, (name, meaning)) in &names.names {
        if names.folded.contains(id) {
            continue;
        }
        let e = pcvs.entry(name.clone()).or_insert_with(|| Pcv {
            name: name.clone(),
            meaning: meaning.clone(),
            loops: Vec::new(),
            sites: Vec::new(),
            calls: Vec::new(),
            blocks: Vec::new(),
        });
        if *id >= prog.loops.len() {
            match engine.extra[*id - prog.loops.len()] {
                Extra::Call(call, value) => {
                    let (function, block, index) = call_position(call);
                    e.loops.push(location_of(call));
                    let width = if value.is_some() { result_width(call) } else { 0 };
                    let returned = value.map(|v| signed(v, width).to_string());
                    e.calls.push(CallRef { function, block, index, returned, returned_none_of: Vec::new(), width });
                }
                Extra::Branch(b) => {
                    let br = &prog.branches[&b];
                    e.loops.push(br.location.clone());
                    e.blocks.push(BlockRef { function: br.function.clone(), block: br.index });
                }
                Extra::Arm(b) => {
                    let arm = &prog.arms[&b];
                    e.loops.push(arm.location.clone());
                    e.blocks.push(BlockRef { function: arm.function.clone(), block: arm.index });
                }
            }
            continue;
        }
        let l = &prog.loops[*id];
        e.loops.push(l.location.clone());
        e.sites.push(LoopSite { function: l.function.clone(), header: l.header_index });
    }
    // The `=other` counter of each value-split call: its runs that returned none of them.
    let mut other_values: BTreeMap<String, (nfcc_passes::llvm::Value, Vec<u128>)> = BTreeMap::new();
    for (id, (other, _, _)) in &names.others {
        if let Extra::Call(call, Some(v)) = engine.extra[*id - prog.loops.len()] {
            other_values.entry(other.clone()).or_insert((call, Vec::new())).1.push(v);
        }
    }
    for (other, (call, mut values)) in other_values {
        values.sort_unstable();
        let (function, block, index) = call_position(call);
        let width = result_width(call);
        let (callee, loc) = (callee_of(call), location_of(call));
        pcvs.insert(
            other.clone(),
            Pcv {
                name: other,
                meaning: format!("calls of `{callee}` at {loc} that returned none of the values the analysis found (never, if it is right; each charged at the dearest outcome)"),
                loops: vec![loc],
                sites: Vec::new(),
                calls: vec![CallRef { function, block, index, returned: None, returned_none_of: values.iter().map(|v| signed(*v, width).to_string()).collect(), width }],
                blocks: Vec::new(),
            },
        );
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
        module_sha256: info.module_sha256.clone(),
        nfcc_version: info.nfcc_version.clone(),
        protection: info.protection.clone(),
        entry: cfg.entry.clone(),
        metrics: vec![
            Metric { name: "instructions".into(), meaning: "x86-64 instructions executed by one call of the entry point, everything it calls included (valgrind's Ir)".into() },
            Metric { name: "memory".into(), meaning: "memory accesses of that call: loads plus stores, as valgrind counts them (Dr + Dw)".into() },
        ],
        pcvs: pcvs.into_values().collect(),
        calls: {
            let mut v: Vec<CallSite> = sites.into_values().collect();
            v.sort_by(|a, b| (&a.function, a.block, a.index).cmp(&(&b.function, b.block, b.index)));
            v
        },
        classes: out,
        coverage: Coverage { complete, paths: paths.len() as u64, violation_paths: engine.violation_paths, holes, statement },
        generation: Generation { seconds: took.as_secs_f64(), solver_queries: misses, cache_hits: hits, solver_unknown: unknown },
        stack: None,
    }
}

#[cfg(test)]
mod tests {
    use super::never_negative;
    use crate::expr::{BinOp, CmpOp, Expr};

    #[test]
    fn ports_that_cannot_be_negative_are_told_apart_from_those_that_can() {
        let x = Expr::var(32, 0);
        let c = Expr::var(1, 1);
        let small = Expr::var(16, 2).zext(32);
        assert!(never_negative(&Expr::constant(32, 1)));
        assert!(!never_negative(&Expr::constant(32, u32::MAX as u128)), "-1 is a drop");
        assert!(!never_negative(&Expr::constant(32, 0xffff_fffe)), "-2 is a flood");
        assert!(never_negative(&small), "a 16-bit port read from state");
        assert!(!never_negative(&x), "any 32-bit value");
        assert!(never_negative(&Expr::ite(&c, &Expr::constant(32, 0), &small)));
        assert!(!never_negative(&Expr::ite(&c, &Expr::constant(32, u32::MAX as u128), &small)), "one side may drop");
        assert!(never_negative(&Expr::bin(BinOp::And, &x, &Expr::constant(32, 1))));
        assert!(never_negative(&Expr::bin(BinOp::LShr, &x, &Expr::constant(32, 1))));
        assert!(!never_negative(&Expr::bin(BinOp::Add, &small, &x)));
        let bit = Expr::cmp(CmpOp::Eq, &x, &Expr::constant(32, 0));
        assert!(never_negative(&bit.zext(32)), "a comparison's result, widened");
    }
}
