//! The symbolic executor: walks every path of the entry point over the annotated IR.
//!
//! - A path is a [`State`]: a call stack of frames, the path constraint, the cost so far,
//!   and memory. States are copy-on-write (`Rc` maps, cloned only when written after a
//!   fork). Paths are explored from an explicit work list (depth first), never by recursion.
//! - Memory: the engine's address space ([`layout`]) puts the bounds block, globals, the
//!   packet and `mem` at fixed addresses, so every address the module computes from them is a
//!   constant plus, perhaps, a symbolic offset, and the constant names the region. The packet
//!   is one symbolic byte array; module state (mutable globals, the heap) is symbolic wherever
//!   the path has not written it: a read the engine cannot resolve returns a fresh variable,
//!   which over-approximates the paths, never under-approximates them.
//! - Cost: entering a block adds its `nfcc.cost` metadata. A loop runs unrolled while its
//!   exits are decided; once an exit depends on a symbolic value, the rest of the loop is
//!   summarised: header values are havocked, each path around the loop once is an iteration
//!   whose cost bounds every iteration's, and the path leaving the loop is charged
//!   `iterations x (max iteration cost)` through the loop's PCV. What the loop may write is
//!   forgotten when its summary starts: the regions (globals and stack, heap, packet) it is
//!   assumed to write, at first all but the packet. A loop seen writing outside its
//!   assumption has the exploration run again with the assumption widened, so a loop that
//!   leaves the packet alone keeps the packet's bytes, and their conditions, known after it.

use crate::expr::{Arr, BinOp, CmpOp, Expr, VarId};
use crate::program::{bits, is_debug_call, layout, Function, Program};
use crate::solver::{CachedSolver, Sat, Z3};
use crate::{Config, Hole, HoleKind};
use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::prelude::*;
use inkwell::llvm_sys::target::*;
use inkwell::llvm_sys::{LLVMIntPredicate, LLVMOpcode, LLVMTypeKind};
use nfcc_passes::cost::block_cost;
use nfcc_passes::llvm::{self, Value};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::time::Instant;

/// What a variable stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarKind {
    /// The packet's bytes (the array).
    Packet,
    /// The packet's length in bytes.
    Len,
    /// The input port.
    Port,
    /// The arrival time.
    Time,
    /// Module state read from memory (globals, heap).
    State(String),
    /// A value a summarised loop may have changed.
    Havoc(String),
    /// An undefined value (`undef`, uninitialised stack).
    Undef,
}

/// A variable of the analysis.
#[derive(Debug, Clone)]
pub struct VarInfo {
    /// Its width.
    pub width: u32,
    /// What it is.
    pub kind: VarKind,
}

/// Cost accumulated along a path: constants, and the loop PCV terms it carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cost {
    /// Instructions.
    pub instructions: u64,
    /// Memory accesses.
    pub memory: u64,
    /// Loops summarised or left: (loop id, runs of its header already paid concretely).
    pub terms: Vec<(usize, u64)>,
}

/// What the engine learnt about a loop.
#[derive(Debug, Clone, Default)]
pub struct LoopStat {
    /// Largest instruction cost of one iteration seen.
    pub instructions: u64,
    /// Largest memory-access cost of one iteration seen.
    pub memory: u64,
    /// Loops summarised inside an iteration of this one.
    pub inner: BTreeSet<usize>,
    /// Whether the loop was summarised anywhere.
    pub summarised: bool,
    /// Regions (`WROTE_*`) an iteration of it wrote, on any path.
    pub wrote: u8,
    /// Iterations that paid iterations of inner loops concretely, by those loops and how many
    /// header runs of each (cost still including them), settled by [`Engine::settle_loops`].
    pub credited: HashMap<Vec<(usize, u64)>, (u64, u64)>,
}

/// A complete path through the entry point.
#[derive(Debug, Clone)]
pub struct PathResult {
    /// Path constraint.
    pub pc: Vec<Expr>,
    /// Its cost.
    pub cost: Cost,
    /// The entry point's return value.
    pub ret: Option<Expr>,
    /// The results its summarised calls returned, in order: (call, constant), for the calls
    /// [`Engine::calls`] may track.
    pub results: Vec<(Value, u128)>,
}

/// What the engine learnt about one call instruction: whether each time it ran it was a
/// summarised call of the entry point's own path whose every outcome returns a constant
/// (`tracked`), and the constants seen. A tracked call's result is observable (the tracing
/// variant compares it with the constants), so paths that differ in it stay apart and the
/// contract's classes name it.
#[derive(Debug, Clone, Default)]
pub struct CallStat {
    /// Every execution was trackable.
    pub tracked: bool,
    /// The result's width.
    pub width: u32,
    /// The constants it returned.
    pub values: BTreeSet<u128>,
}

#[derive(Clone, Debug)]
enum Val {
    Bv(Expr),
    Agg(Vec<Val>),
}

impl Val {
    fn bv(&self) -> Result<Expr, Stop> {
        match self {
            Val::Bv(e) => Ok(e.clone()),
            Val::Agg(_) => Err(Stop::unsupported("an aggregate value used as a scalar")),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct LoopRun {
    visits: u32,
    symbolic: bool,
}

#[derive(Clone)]
struct Frame {
    func: Rc<Function>,
    block: LLVMBasicBlockRef,
    idx: usize,
    values: Rc<HashMap<Value, Val>>,
    call: Option<Value>,
    loops: Rc<HashMap<usize, LoopRun>>,
    alloca_mark: u64,
    /// For a call of a function the configuration counts (`Config::count_calls`), run in
    /// place: its PCV, and the path's instructions and memory accesses when it began (what
    /// it costs goes to the PCV at its return, not to the path's constants).
    counted: Option<(usize, u64, u64)>,
}

#[derive(Clone)]
struct Marker {
    loop_id: usize,
    depth: usize,
    start: Cost,
    /// Regions the iteration wrote so far.
    wrote: u8,
}

/// An arm the path entered: its entry block, the frame depth, the cost before it.
#[derive(Clone)]
struct ArmMarker {
    entry: LLVMBasicBlockRef,
    depth: usize,
    start: Cost,
}

#[derive(Clone)]
struct SymAccess {
    addr: Expr,
    size: u64,
    value: Expr,
    write: bool,
}

/// One path being explored.
#[derive(Clone)]
pub struct State {
    frames: Vec<Frame>,
    pc: Rc<Vec<Expr>>,
    cost: Cost,
    bytes: Rc<HashMap<u64, Expr>>,
    symlog: Rc<Vec<SymAccess>>,
    pkt: Arr,
    markers: Vec<Marker>,
    /// Arms ([`Program::arms`]) the path is in, innermost last.
    arms: Vec<ArmMarker>,
    alloca_top: u64,
    steps: u64,
    /// An assignment satisfying `pc` when `model_ok`: the side of a branch it satisfies is
    /// feasible without asking the solver.
    model: Rc<crate::solver::Model>,
    model_ok: bool,
    /// Regions the path wrote (`WROTE_*`), for call summaries.
    wrote: u8,
    /// What its trackable calls returned (see [`PathResult::results`]).
    results: Rc<Vec<(Value, u128)>>,
}

/// Regions written: the concrete ones (by address, `region_bit`), the heap and the packet.
const WROTE_CONCRETE: u8 = 0b111;
const WROTE_HEAP: u8 = 1 << 3;
const WROTE_PACKET: u8 = 1 << 4;

/// The region bit of a concrete address (as `same_region` divides them).
fn region_bit(x: u64) -> u8 {
    if x >= layout::MEM_LO {
        1 << 2
    } else if x >= layout::GLOBALS {
        1 << 1
    } else {
        1
    }
}

/// How a call's argument is abstracted in its summary (the key of the summary cache).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum ArgKey {
    /// A constant: passed as is.
    Const(u32, u128),
    /// A pointer at an unknown offset into the concrete region at this address.
    Region(u64),
    /// Any value (a pointer: into the heap, or null).
    Sym(u32, bool),
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct SummaryKey {
    func: String,
    args: Vec<ArgKey>,
    alloca_top: u64,
    bounds: Vec<(u64, Expr)>,
}

/// One path of a summarised call, at its return.
struct SummaryPath {
    ret: Option<Expr>,
    cost: Cost,
    bytes: Rc<HashMap<u64, Expr>>,
    wrote: u8,
}

/// What a summarised call returns on a group of its paths.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Returned {
    /// This constant.
    Const(Expr),
    /// Its argument of this index, unchanged.
    Arg(usize),
    /// Anything (or nothing, for `void`): a fresh value.
    Fresh,
}

/// What a summarised call does, for one group of its paths (those returning the same
/// constant, or the same argument, or anything else).
#[derive(Debug)]
struct Outcome {
    ret: Returned,
    /// Covers every path of the group: the largest constants, and each loop any path
    /// summarised or left (with the fewest header runs any path paid concretely).
    cost: Cost,
    /// Concrete bytes a path may have written: the value if every path wrote that constant.
    writes: Vec<(u64, Option<Expr>)>,
    /// Regions a path may have written (`WROTE_*`): what the caller must forget.
    wrote: u8,
}

struct Summary {
    func: String,
    outcomes: Vec<Outcome>,
    /// All paths as one outcome, for calls whose result is not used.
    merged: Option<Outcome>,
    ret_width: Option<u32>,
    ret_ptr: bool,
}

/// Why a path stopped early.
#[derive(Debug)]
pub enum Stop {
    /// The path ended in a violation (the module is stopped; no cost contract applies).
    Violation,
    /// The path's constraint became unsatisfiable.
    Infeasible,
    /// One iteration of a summarised loop was recorded.
    Iteration,
    /// The engine cannot go on: a hole.
    Hole(HoleKind, String),
    /// The path reached a join point of the entry point: it waits there to be merged with
    /// the other paths that reach it (its owner keeps it).
    Parked,
}

impl Stop {
    fn unsupported(what: &str) -> Stop {
        Stop::Hole(HoleKind::Unsupported, what.to_string())
    }
}

/// The engine over one program.
pub struct Engine<'p> {
    prog: &'p Program,
    cfg: Config,
    solver: CachedSolver<Z3>,
    /// Every variable created.
    pub vars: Vec<VarInfo>,
    /// Per loop, what was learnt.
    pub loops: Vec<LoopStat>,
    /// Per loop, the regions (`WROTE_*`) its iterations are assumed to write: what a path
    /// forgets when it starts summarising the loop. An assumption is sound when no iteration
    /// wrote outside it ([`Engine::assumptions_broken`]); the caller then runs again with
    /// [`Engine::widen`].
    assumed: Vec<u8>,
    /// Complete paths.
    pub paths: Vec<PathResult>,
    /// Paths that ended in a violation.
    pub violation_paths: u64,
    /// Holes met.
    pub holes: Vec<Hole>,
    const_bytes: HashMap<u64, Option<Vec<Option<Expr>>>>,
    started: Instant,
    /// The packet array, length, port and time variables.
    pub inputs: Inputs,
    /// Constraints every path starts with (the ABI's limits), not part of any class.
    pub axioms: Vec<Expr>,
    /// Nonlinear operations replaced by fresh values.
    pub abstracted: u64,
    /// Call summaries by calling context (`None`: the call is executed in place).
    summaries: HashMap<SummaryKey, Option<Rc<Summary>>>,
    /// Paths of the summaries being computed (innermost last).
    collecting: Vec<Vec<SummaryPath>>,
    /// Functions whose summaries are being computed.
    summarising: Vec<String>,
    /// Calls charged from a summary instead of being executed.
    pub summarised_calls: u64,
    /// Paths waiting at join points of the function a run explores (one list per run: the
    /// entry point's, then each summary being computed).
    parked: Vec<Vec<State>>,
    /// Paths merged into others at join points.
    pub merged_paths: u64,
    /// Every call instruction executed, and whether its results can be tracked.
    pub calls: HashMap<Value, CallStat>,
    /// Loop exits of the entry point's own code that paths took: the exiting branch (a
    /// conditional `br` whose other side stays in the loop), the loop's location, and the
    /// side taken. A path records in [`PathResult::results`] the exits it took, as
    /// (branch, side): they are observable (the tracing variant counts the edge), so paths
    /// that leave a loop in different ways stay apart and the contract's classes name them.
    pub exits: HashMap<Value, (String, u128)>,
    /// The PCVs beyond the program's loops: `extra[i]` is PCV `prog.loops.len() + i` in
    /// [`Engine::loops`].
    pub extra: Vec<Extra>,
    loop_call_ids: HashMap<(Value, Option<u128>), usize>,
    /// The PCV (index into `loops`) of each loop branch run and each arm closed so far.
    block_pcvs: HashMap<Extra, usize>,
}

/// What a PCV beyond the program's loops counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extra {
    /// The runs of a summarised call that lies inside a loop of its function, or of a call
    /// of a function of `Config::count_calls` (run in place): every run (`None`), or the
    /// runs that returned this constant, for a call whose every outcome returns one. Its
    /// "iteration" cost (in [`Engine::loops`]) is the call's dearest outcome (returning
    /// that constant), or dearest run.
    Call(Value, Option<u128>),
    /// The runs of a loop branch ([`Program::branches`]), wherever they happen; its
    /// "iteration" cost is the block's own.
    Branch(LLVMBasicBlockRef),
    /// The runs of an arm ([`Program::arms`]), by entry block; its "iteration" cost is the
    /// dearest run of the arm seen.
    Arm(LLVMBasicBlockRef),
}

/// The variables standing for the input.
#[derive(Debug, Clone, Copy)]
pub struct Inputs {
    /// The packet's byte array.
    pub packet: VarId,
    /// Its length (32 bits).
    pub len: VarId,
    /// The input port (16 bits).
    pub port: VarId,
    /// Arrival time (64 bits).
    pub time: VarId,
}

type R<T> = Result<T, Stop>;

fn opcode(i: Value) -> LLVMOpcode {
    llvm::opcode(i).expect("an instruction")
}

fn type_of(v: Value) -> LLVMTypeRef {
    // SAFETY: query.
    unsafe { LLVMTypeOf(v) }
}

fn lanes(t: LLVMTypeRef) -> Option<(u32, u32)> {
    // SAFETY: type queries.
    unsafe {
        if LLVMGetTypeKind(t) == LLVMTypeKind::LLVMVectorTypeKind {
            Some((LLVMGetVectorSize(t), bits(LLVMGetElementType(t))?))
        } else {
            Some((1, bits(t)?))
        }
    }
}

fn split_lanes(e: &Expr, n: u32, w: u32) -> Vec<Expr> {
    (0..n).map(|i| e.extract(i * w, w)).collect()
}

fn join_lanes(l: &[Expr]) -> Expr {
    let mut acc = l[0].clone();
    for x in &l[1..] {
        acc = Expr::concat(x, &acc);
    }
    acc
}

fn location(i: Value) -> String {
    match llvm::debug_location(i) {
        Some((f, l)) => format!("{}:{l}", crate::program::short(&f)),
        None => "(no location)".into(),
    }
}

impl<'p> Engine<'p> {
    /// An engine over `prog`.
    pub fn new(prog: &'p Program, cfg: Config) -> Engine<'p> {
        let mut e = Engine {
            prog,
            solver: CachedSolver::new(Z3::new(cfg.query_timeout)),
            cfg,
            vars: Vec::new(),
            loops: vec![LoopStat::default(); prog.loops.len()],
            // A loop that may write is first assumed to leave the packet alone: a loop that
            // does write it shows so, and the exploration is run again.
            assumed: prog.loops.iter().map(|l| if l.writes { WROTE_CONCRETE | WROTE_HEAP } else { 0 }).collect(),
            paths: Vec::new(),
            violation_paths: 0,
            holes: Vec::new(),
            const_bytes: HashMap::new(),
            started: Instant::now(),
            inputs: Inputs { packet: 0, len: 0, port: 0, time: 0 },
            axioms: Vec::new(),
            abstracted: 0,
            summaries: HashMap::new(),
            collecting: Vec::new(),
            summarising: Vec::new(),
            summarised_calls: 0,
            parked: Vec::new(),
            merged_paths: 0,
            calls: HashMap::new(),
            exits: HashMap::new(),
            extra: Vec::new(),
            loop_call_ids: HashMap::new(),
            block_pcvs: HashMap::new(),
        };
        let packet = e.new_var(8, VarKind::Packet);
        let len = e.new_var(32, VarKind::Len);
        let port = e.new_var(16, VarKind::Port);
        let time = e.new_var(64, VarKind::Time);
        e.inputs = Inputs { packet, len, port, time };
        e
    }

    fn new_var(&mut self, width: u32, kind: VarKind) -> VarId {
        self.vars.push(VarInfo { width, kind });
        (self.vars.len() - 1) as VarId
    }

    fn fresh(&mut self, width: u32, kind: VarKind) -> Expr {
        let id = self.new_var(width, kind);
        Expr::var(width, id)
    }

    /// Solver statistics: (answered from caches, sent to the solver, unknown).
    pub fn solver_stats(&self) -> (u64, u64, u64) {
        (self.solver.hits, self.solver.misses, self.solver.unknowns)
    }

    /// Whether `premises` imply `c` (the solver proves `premises && !c` impossible).
    pub fn implies(&mut self, premises: &[Expr], c: &Expr) -> bool {
        self.solver.may_hold(premises, &c.not()) == Sat::Unsat
    }

    /// A model of `pc` with a preference for short packets, for witnesses.
    pub fn witness(&mut self, pc: &[Expr]) -> Option<crate::solver::Model> {
        let len = Expr::var(32, self.inputs.len);
        // Long enough to hold every byte the path reads, and no longer than a frame.
        let mut reads = Vec::new();
        for c in pc {
            crate::solver::collect_selects(c, &mut reads);
        }
        let need = reads.iter().filter_map(|(_, i)| i.as_const()).map(|i| i as u64 + 1).filter(|i| *i <= layout::MAX_LEN).max().unwrap_or(0);
        let mut short = pc.to_vec();
        short.push(Expr::cmp(CmpOp::Ule, &len, &Expr::constant(32, 1514.max(need) as u128)));
        let mut long_enough = short.clone();
        long_enough.push(Expr::cmp(CmpOp::Ule, &Expr::constant(32, need as u128), &len));
        self.solver.model(&long_enough).or_else(|| self.solver.model(&short)).or_else(|| self.solver.model(pc))
    }

    fn hole(&mut self, kind: HoleKind, what: String) {
        if !self.holes.iter().any(|h| h.kind == kind && h.what == what) {
            self.holes.push(Hole { kind, what });
        }
    }

    /// Explores every path of `entry`.
    pub fn run(&mut self, entry: &str) -> Result<(), crate::SymbexError> {
        let f = self
            .prog
            .functions
            .get(entry)
            .cloned()
            .ok_or_else(|| crate::SymbexError::Input(format!("the module defines no `{entry}`")))?;
        let mut st = self.initial_state(&f)?;
        // SAFETY: the entry block of a defined function.
        let entry_block = unsafe { LLVMGetEntryBasicBlock(f.value) };
        if let Err(e) = self.charge(&mut st, entry_block) {
            self.record_stop(e);
            return Ok(());
        }
        let mut work = vec![st];
        self.parked.push(Vec::new());
        while let Some(mut st) = self.next_state(&mut work) {
            if self.started.elapsed() > self.cfg.time_limit {
                let left = work.len() + 1 + self.parked.last().map_or(0, Vec::len);
                self.hole(HoleKind::Timeout, format!("{left} paths left unexplored after {:?}", self.cfg.time_limit));
                break;
            }
            if self.paths.len() >= self.cfg.max_paths {
                self.hole(HoleKind::Timeout, format!("more than {} paths", self.cfg.max_paths));
                break;
            }
            match self.step_path(&mut st, &mut work) {
                Ok(()) => {}
                Err(Stop::Violation) => self.violation_paths += 1,
                Err(Stop::Infeasible) | Err(Stop::Iteration) => {}
                Err(Stop::Hole(kind, what)) => self.hole(kind, what),
                Err(Stop::Parked) => self.park(st),
            }
        }
        self.parked.pop();
        self.settle_loops();
        Ok(())
    }

    /// Whether a loop's iterations wrote outside the regions assumed of it: the exploration
    /// kept values it may have changed, and must run again with [`Engine::widen`].
    pub fn assumptions_broken(&self) -> bool {
        self.assumed.iter().zip(&self.loops).any(|(a, l)| l.wrote & !a != 0)
    }

    /// What each loop is assumed to write: `previous` widened by what its iterations wrote.
    /// The time limit still counts from `previous`'s start.
    pub fn widen(&mut self, previous: &Engine<'_>) {
        self.started = previous.started;
        for (l, a) in self.assumed.iter_mut().enumerate() {
            *a = previous.assumed[l] | previous.loops[l].wrote;
        }
    }

    /// Folds each loop's [`LoopStat::credited`] iterations into its iteration cost, inner
    /// loops first: an inner iteration paid concretely cost at most the inner loop's final
    /// iteration cost (every concrete iteration is one of the summarised iteration's paths)
    /// and is also counted by the inner PCV, so the outer iteration needs only the rest.
    pub fn settle_loops(&mut self) {
        fn settle(loops: &mut [LoopStat], l: usize, busy: &mut Vec<bool>) -> (u64, u64) {
            if busy[l] {
                // Not nested (cannot happen): the cost known so far gives less credit.
                return (loops[l].instructions, loops[l].memory);
            }
            busy[l] = true;
            let credited = std::mem::take(&mut loops[l].credited);
            for (inner, (mut i, mut m)) in credited {
                for (id, k) in inner {
                    let (ii, im) = settle(loops, id, busy);
                    i = i.saturating_sub(ii * k);
                    m = m.saturating_sub(im * k);
                }
                loops[l].instructions = loops[l].instructions.max(i);
                loops[l].memory = loops[l].memory.max(m);
            }
            busy[l] = false;
            (loops[l].instructions, loops[l].memory)
        }
        let mut busy = vec![false; self.loops.len()];
        for l in 0..self.loops.len() {
            settle(&mut self.loops, l, &mut busy);
        }
    }

    fn initial_state(&mut self, f: &Rc<Function>) -> Result<State, crate::SymbexError> {
        let mut bytes = HashMap::new();
        let mut put = |addr: u64, e: &Expr| {
            for i in 0..e.width() / 8 {
                bytes.insert(addr + i as u64, e.extract(i * 8, 8));
            }
        };
        let b = layout::BOUNDS;
        put(b, &Expr::constant(64, layout::MEM_LO as u128));
        put(b + 8, &Expr::constant(64, layout::MEM_LEN as u128));
        put(b + 16, &Expr::constant(64, layout::USP_TOP as u128));
        put(b + 24, &Expr::constant(64, layout::USP_TOP as u128));
        put(b + 32, &Expr::constant(64, layout::PKT_DATA as u128));
        put(b + 40, &Expr::var(32, self.inputs.len));
        put(b + 44, &Expr::var(16, self.inputs.port));
        put(b + 46, &Expr::constant(16, 0));
        put(b + 48, &Expr::var(64, self.inputs.time));
        put(b + 56, &Expr::constant(64, layout::STACK_TOP as u128));
        for off in (64..96).step_by(8) {
            put(b + off, &Expr::constant(64, 0));
        }
        put(b + 88, &Expr::constant(64, 1));
        let len = Expr::var(32, self.inputs.len);
        let pc = vec![Expr::cmp(CmpOp::Ule, &len, &Expr::constant(32, layout::MAX_LEN as u128))];
        self.axioms = pc.clone();
        let mut values = HashMap::new();
        // SAFETY: the entry point's parameters.
        unsafe {
            for i in 0..LLVMCountParams(f.value) {
                let p = LLVMGetParam(f.value, i);
                let v = if i == 0 {
                    Expr::constant(64, (layout::BOUNDS + 32) as u128)
                } else {
                    self.fresh(bits(type_of(p)).unwrap_or(64), VarKind::Undef)
                };
                values.insert(p, Val::Bv(v));
            }
        }
        // SAFETY: the entry block of a defined function.
        let entry = unsafe { LLVMGetEntryBasicBlock(f.value) };
        let st = State {
            frames: vec![Frame {
                func: f.clone(),
                block: entry,
                idx: 0,
                values: Rc::new(values),
                call: None,
                loops: Rc::new(HashMap::new()),
                alloca_mark: layout::ALLOCA_TOP,
                counted: None,
            }],
            pc: Rc::new(pc),
            cost: Cost::default(),
            bytes: Rc::new(bytes),
            symlog: Rc::new(Vec::new()),
            pkt: Arr::base(self.inputs.packet),
            markers: Vec::new(),
            arms: Vec::new(),
            alloca_top: layout::ALLOCA_TOP,
            steps: 0,
            model: Rc::new(crate::solver::Model::default()),
            model_ok: true,
            wrote: 0,
            results: Rc::new(Vec::new()),
        };
        Ok(st)
    }

    fn charge(&mut self, st: &mut State, b: LLVMBasicBlockRef) -> R<()> {
        // SAFETY: wrapping a block handle of the program.
        let bb = unsafe { inkwell::basic_block::BasicBlock::new(b) }.expect("a block");
        match block_cost(bb) {
            Some(c) if self.prog.branches.contains_key(&b) => {
                // A loop branch: paid per run, wherever it runs, through its own PCV (which
                // the tracing variant counts), never as a constant: paths that skip it are
                // not charged for it when paths merge, and an iteration's cost is then its
                // blocks that every iteration runs.
                let id = self.block_pcv(
                    Extra::Branch(b),
                    LoopStat { instructions: c.instructions, memory: c.memory(), summarised: true, ..LoopStat::default() },
                );
                // Once per path, or per iteration being recorded (which names it as a loop
                // inside it).
                let from = st.markers.last().map_or(0, |m| m.start.terms.len());
                if !st.cost.terms[from..].iter().any(|(l, _)| *l == id) {
                    st.cost.terms.push((id, 0));
                }
                Ok(())
            }
            Some(c) => {
                st.cost.instructions += c.instructions;
                st.cost.memory += c.memory();
                Ok(())
            }
            None => {
                let f = &st.frames.last().expect("a frame").func.name;
                Err(Stop::Hole(HoleKind::NoCost, format!("a block of `{f}` carries no cost metadata")))
            }
        }
    }

    fn step_path(&mut self, st: &mut State, work: &mut Vec<State>) -> R<()> {
        loop {
            st.steps += 1;
            if st.steps > self.cfg.max_steps {
                return Err(Stop::Hole(HoleKind::Timeout, format!("a path longer than {} instructions", self.cfg.max_steps)));
            }
            // The time limit holds inside a path too: one long path (a loop unrolled while
            // every solver query times out on a loaded machine) must not outlive it.
            if st.steps % 4096 == 0 && self.started.elapsed() > self.cfg.time_limit {
                return Err(Stop::Hole(HoleKind::Timeout, format!("a path still running after {:?}", self.cfg.time_limit)));
            }
            let frame = st.frames.last().expect("a frame");
            let insts = self.prog.instructions(frame.block);
            let i = insts[frame.idx];
            st.frames.last_mut().expect("a frame").idx += 1;
            if self.exec(st, i, work)? {
                return Ok(());
            }
        }
    }

    fn val(&mut self, st: &State, v: Value) -> R<Val> {
        if let Some(x) = st.frames.last().expect("a frame").values.get(&v) {
            return Ok(x.clone());
        }
        self.constant(v)
    }

    fn bv(&mut self, st: &State, v: Value) -> R<Expr> {
        self.val(st, v)?.bv()
    }

    fn constant(&mut self, v: Value) -> R<Val> {
        let t = type_of(v);
        // SAFETY: queries on a constant.
        unsafe {
            if !LLVMIsAConstantInt(v).is_null() {
                let w = LLVMGetIntTypeWidth(t);
                if w <= 64 {
                    return Ok(Val::Bv(Expr::constant(w, LLVMConstIntGetZExtValue(v) as u128)));
                }
                let text = llvm::print(v);
                let num = text.rsplit(' ').next().unwrap_or("0");
                let n: i128 = num.parse().map_err(|_| Stop::unsupported("a wide integer constant"))?;
                return Ok(Val::Bv(Expr::constant(w, n as u128)));
            }
            if !LLVMIsAConstantPointerNull(v).is_null() {
                return Ok(Val::Bv(Expr::constant(64, 0)));
            }
            if !LLVMIsAUndefValue(v).is_null() || !LLVMIsAPoisonValue(v).is_null() {
                return match lanes(t) {
                    Some(_) => Ok(Val::Bv(self.fresh(bits(t).unwrap_or(64), VarKind::Undef))),
                    None => self.zero_of(t),
                };
            }
            if !LLVMIsAGlobalVariable(v).is_null() || !LLVMIsAFunction(v).is_null() || !LLVMIsAGlobalAlias(v).is_null() {
                let name = llvm::name(v);
                let a = self
                    .prog
                    .global_addr
                    .get(&name)
                    .or_else(|| self.prog.function_addr.get(&name))
                    .copied()
                    .ok_or_else(|| Stop::Hole(HoleKind::UnmodelledCall, format!("the address of `{name}`, which neither the module nor the runtime defines")))?;
                return Ok(Val::Bv(Expr::constant(64, a as u128)));
            }
            if !LLVMIsAConstantAggregateZero(v).is_null() {
                return self.zero_of(t);
            }
            if !LLVMIsAConstantDataVector(v).is_null() || !LLVMIsAConstantVector(v).is_null() {
                let n = LLVMGetVectorSize(t);
                let mut l = Vec::new();
                for k in 0..n {
                    l.push(self.constant(LLVMGetAggregateElement(v, k))?.bv()?);
                }
                return Ok(Val::Bv(join_lanes(&l)));
            }
            if !LLVMIsAConstantStruct(v).is_null() || !LLVMIsAConstantArray(v).is_null() || !LLVMIsAConstantDataArray(v).is_null() {
                let n = match LLVMGetTypeKind(t) {
                    LLVMTypeKind::LLVMStructTypeKind => LLVMCountStructElementTypes(t),
                    _ => LLVMGetArrayLength2(t) as u32,
                };
                let mut l = Vec::new();
                for k in 0..n {
                    l.push(self.constant(LLVMGetAggregateElement(v, k))?);
                }
                return Ok(Val::Agg(l));
            }
            if !LLVMIsAConstantExpr(v).is_null() {
                let op = LLVMGetConstOpcode(v);
                let a = |e: &mut Self, i| -> R<Expr> { e.constant(LLVMGetOperand(v, i))?.bv() };
                return Ok(Val::Bv(match op {
                    LLVMOpcode::LLVMGetElementPtr => return self.gep_const(v),
                    LLVMOpcode::LLVMPtrToInt | LLVMOpcode::LLVMIntToPtr | LLVMOpcode::LLVMBitCast | LLVMOpcode::LLVMAddrSpaceCast => {
                        a(self, 0)?.resize(bits(t).unwrap_or(64))
                    }
                    LLVMOpcode::LLVMTrunc => a(self, 0)?.trunc(bits(t).unwrap_or(64)),
                    LLVMOpcode::LLVMAdd => Expr::bin(BinOp::Add, &a(self, 0)?, &a(self, 1)?),
                    LLVMOpcode::LLVMSub => Expr::bin(BinOp::Sub, &a(self, 0)?, &a(self, 1)?),
                    other => return Err(Stop::unsupported(&format!("constant expression {other:?}"))),
                }));
            }
        }
        Err(Stop::unsupported(&format!("the value `{}`", llvm::print(v))))
    }

    fn zero_of(&mut self, t: LLVMTypeRef) -> R<Val> {
        if let Some(w) = bits(t) {
            return Ok(Val::Bv(Expr::constant(w, 0)));
        }
        // SAFETY: type queries.
        unsafe {
            match LLVMGetTypeKind(t) {
                LLVMTypeKind::LLVMStructTypeKind => {
                    let n = LLVMCountStructElementTypes(t);
                    let mut l = Vec::new();
                    for k in 0..n {
                        l.push(self.zero_of(LLVMStructGetTypeAtIndex(t, k))?);
                    }
                    Ok(Val::Agg(l))
                }
                LLVMTypeKind::LLVMArrayTypeKind => {
                    let n = LLVMGetArrayLength2(t);
                    let e = self.zero_of(LLVMGetElementType(t))?;
                    Ok(Val::Agg(vec![e; n as usize]))
                }
                _ => Err(Stop::unsupported("a floating-point or other non-integer type")),
            }
        }
    }

    fn gep_const(&mut self, v: Value) -> R<Val> {
        // SAFETY: operands of a constant GEP.
        let (base, idx): (Expr, Vec<Expr>) = unsafe {
            let base = self.constant(LLVMGetOperand(v, 0))?.bv()?;
            let mut idx = Vec::new();
            for k in 1..LLVMGetNumOperands(v) as u32 {
                idx.push(self.constant(LLVMGetOperand(v, k))?.bv()?);
            }
            (base, idx)
        };
        // SAFETY: the source element type of a GEP.
        let ty = unsafe { LLVMGetGEPSourceElementType(v) };
        Ok(Val::Bv(self.gep(base, ty, &idx)?))
    }

    fn gep(&mut self, base: Expr, ty: LLVMTypeRef, idx: &[Expr]) -> R<Expr> {
        let td = self.prog.td;
        let mut addr = base;
        let mut t = ty;
        for (k, i) in idx.iter().enumerate() {
            let i64v = if i.width() < 64 { i.sext(64) } else { i.trunc(64) };
            if k == 0 {
                let size = llvm::alloc_size(td, t);
                addr = Expr::bin(BinOp::Add, &addr, &Expr::bin(BinOp::Mul, &i64v, &Expr::constant(64, size as u128)));
                continue;
            }
            // SAFETY: type queries on the indexed type.
            unsafe {
                match LLVMGetTypeKind(t) {
                    LLVMTypeKind::LLVMStructTypeKind => {
                        let f = i.as_const().ok_or_else(|| Stop::unsupported("a symbolic struct index"))? as u32;
                        let off = LLVMOffsetOfElement(td, t, f);
                        addr = Expr::bin(BinOp::Add, &addr, &Expr::constant(64, off as u128));
                        t = LLVMStructGetTypeAtIndex(t, f);
                    }
                    LLVMTypeKind::LLVMArrayTypeKind | LLVMTypeKind::LLVMVectorTypeKind => {
                        t = LLVMGetElementType(t);
                        let size = llvm::alloc_size(td, t);
                        addr = Expr::bin(BinOp::Add, &addr, &Expr::bin(BinOp::Mul, &i64v, &Expr::constant(64, size as u128)));
                    }
                    _ => return Err(Stop::unsupported("a GEP into a non-aggregate type")),
                }
            }
        }
        Ok(addr)
    }

    fn set(&self, st: &mut State, i: Value, v: Val) {
        Rc::make_mut(&mut st.frames.last_mut().expect("a frame").values).insert(i, v);
    }

    /// Adds `c` to the path constraint (the caller knows it may hold).
    fn add(&mut self, st: &mut State, c: Expr) {
        if c.as_const().is_some() {
            return;
        }
        if st.model_ok && st.model.eval(&c) != 1 {
            st.model_ok = false;
        }
        Rc::make_mut(&mut st.pc).push(c);
    }

    /// Takes in the values of `m` (a model of some constraints) and checks the result
    /// satisfies the whole path constraint.
    fn adopt(&mut self, st: &mut State, m: Option<crate::solver::Model>) {
        let Some(m) = m else {
            st.model_ok = false;
            return;
        };
        let merged = Rc::make_mut(&mut st.model);
        merged.vars.extend(m.vars);
        merged.bytes.extend(m.bytes);
        st.model_ok = st.pc.iter().all(|c| st.model.eval(c) == 1);
    }

    /// Adds `c` to the path constraint if it may hold; `Infeasible` otherwise.
    fn assume(&mut self, st: &mut State, c: Expr) -> R<()> {
        match self.solver.may_hold(&st.pc, &c) {
            Sat::Unsat => Err(Stop::Infeasible),
            _ => {
                self.add(st, c);
                Ok(())
            }
        }
    }

    /// Executes one instruction; `Ok(true)` when the path is complete.
    fn exec(&mut self, st: &mut State, i: Value, work: &mut Vec<State>) -> R<bool> {
        use LLVMOpcode::*;
        let op = opcode(i);
        let t = type_of(i);
        // SAFETY (whole match): operand and type queries on instructions of the program.
        unsafe {
            match op {
                LLVMAdd | LLVMSub | LLVMMul | LLVMUDiv | LLVMSDiv | LLVMURem | LLVMSRem | LLVMShl | LLVMLShr
                | LLVMAShr | LLVMAnd | LLVMOr | LLVMXor => {
                    let a = self.bv(st, LLVMGetOperand(i, 0))?;
                    let b = self.bv(st, LLVMGetOperand(i, 1))?;
                    let bop = match op {
                        LLVMAdd => BinOp::Add,
                        LLVMSub => BinOp::Sub,
                        LLVMMul => BinOp::Mul,
                        LLVMUDiv => BinOp::UDiv,
                        LLVMSDiv => BinOp::SDiv,
                        LLVMURem => BinOp::URem,
                        LLVMSRem => BinOp::SRem,
                        LLVMShl => BinOp::Shl,
                        LLVMLShr => BinOp::LShr,
                        LLVMAShr => BinOp::AShr,
                        LLVMAnd => BinOp::And,
                        LLVMOr => BinOp::Or,
                        _ => BinOp::Xor,
                    };
                    let (n, w) = lanes(t).ok_or_else(|| Stop::unsupported("floating point"))?;
                    if matches!(bop, BinOp::UDiv | BinOp::SDiv | BinOp::URem | BinOp::SRem) && n == 1 {
                        // Division by zero is undefined behaviour: the path cannot take it.
                        let nz = Expr::ne(&b, &Expr::constant(w, 0));
                        self.assume(st, nz)?;
                    }
                    let la = split_lanes(&a, n, w);
                    let lb = split_lanes(&b, n, w);
                    let mut r = Vec::new();
                    for (x, y) in la.iter().zip(&lb) {
                        let nonlinear = matches!(bop, BinOp::Mul | BinOp::UDiv | BinOp::SDiv | BinOp::URem | BinOp::SRem)
                            && x.as_const().is_none()
                            && y.as_const().is_none();
                        r.push(if nonlinear {
                            // Products and quotients of two unknowns make solver queries slow
                            // (bit-blasted 64-bit multipliers and dividers); a fresh value
                            // bounded as the operation bounds it is a sound stand-in: it can
                            // only add paths, never hide one.
                            self.abstracted += 1;
                            let v = self.fresh(w, VarKind::State(format!("{bop:?} at {}", location(i)).to_lowercase()));
                            let bound = match bop {
                                BinOp::URem => Some(Expr::cmp(CmpOp::Ult, &v, y)),
                                BinOp::UDiv => Some(Expr::cmp(CmpOp::Ule, &v, x)),
                                _ => None,
                            };
                            if let Some(b) = bound {
                                self.add(st, b);
                            }
                            v
                        } else {
                            Expr::bin(bop, x, y)
                        });
                    }
                    self.set(st, i, Val::Bv(join_lanes(&r)));
                }
                LLVMICmp => {
                    let a = self.bv(st, LLVMGetOperand(i, 0))?;
                    let b = self.bv(st, LLVMGetOperand(i, 1))?;
                    let (n, w) = lanes(type_of(LLVMGetOperand(i, 0))).ok_or_else(|| Stop::unsupported("fcmp"))?;
                    let pred = LLVMGetICmpPredicate(i);
                    let la = split_lanes(&a, n, w);
                    let lb = split_lanes(&b, n, w);
                    let r: Vec<Expr> = la.iter().zip(&lb).map(|(x, y)| icmp(pred, x, y)).collect();
                    self.set(st, i, Val::Bv(join_lanes(&r)));
                }
                LLVMSelect => {
                    let c = self.bv(st, LLVMGetOperand(i, 0))?;
                    let a = self.val(st, LLVMGetOperand(i, 1))?;
                    let b = self.val(st, LLVMGetOperand(i, 2))?;
                    let r = match (a, b) {
                        (Val::Bv(a), Val::Bv(b)) => {
                            let (n, w) = lanes(t).ok_or_else(|| Stop::unsupported("select of floats"))?;
                            let ptr = LLVMGetTypeKind(t) == LLVMTypeKind::LLVMPointerTypeKind;
                            if ptr && c.width() == 1 && a != b && (self.placed(&a) || self.placed(&b)) {
                                // A pointer into the packet or a fixed region on either side:
                                // each side on its own path, so every address keeps its region.
                                match self.fork_here(st, &c, work)? {
                                    true => Val::Bv(a),
                                    false => Val::Bv(b),
                                }
                            } else if c.width() == 1 {
                                Val::Bv(Expr::ite(&c, &a, &b))
                            } else {
                                let lc = split_lanes(&c, n, 1);
                                let la = split_lanes(&a, n, w);
                                let lb = split_lanes(&b, n, w);
                                let r: Vec<Expr> = (0..n as usize).map(|k| Expr::ite(&lc[k], &la[k], &lb[k])).collect();
                                Val::Bv(join_lanes(&r))
                            }
                        }
                        (a, b) => {
                            // Aggregates: fork rather than merge.
                            match self.decide(st, &c, work)? {
                                true => a,
                                false => b,
                            }
                        }
                    };
                    self.set(st, i, r);
                }
                LLVMZExt | LLVMSExt | LLVMTrunc => {
                    let a = self.bv(st, LLVMGetOperand(i, 0))?;
                    let (n, w) = lanes(t).ok_or_else(|| Stop::unsupported("float conversion"))?;
                    let (_, fw) = lanes(type_of(LLVMGetOperand(i, 0))).ok_or_else(|| Stop::unsupported("float conversion"))?;
                    let l: Vec<Expr> = split_lanes(&a, n, fw)
                        .iter()
                        .map(|x| match op {
                            LLVMZExt => x.zext(w),
                            LLVMSExt => x.sext(w),
                            _ => x.trunc(w),
                        })
                        .collect();
                    self.set(st, i, Val::Bv(join_lanes(&l)));
                }
                LLVMPtrToInt | LLVMIntToPtr | LLVMBitCast | LLVMAddrSpaceCast | LLVMFreeze => {
                    let a = self.val(st, LLVMGetOperand(i, 0))?;
                    let r = match (a, bits(t)) {
                        (Val::Bv(e), Some(w)) => Val::Bv(e.resize(w)),
                        (v, _) => v,
                    };
                    self.set(st, i, r);
                }
                LLVMGetElementPtr => {
                    let base = self.bv(st, LLVMGetOperand(i, 0))?;
                    let mut idx = Vec::new();
                    for k in 1..LLVMGetNumOperands(i) as u32 {
                        idx.push(self.bv(st, LLVMGetOperand(i, k))?);
                    }
                    if lanes(t).is_some_and(|(n, _)| n > 1) {
                        return Err(Stop::unsupported("a vector GEP"));
                    }
                    let a = self.gep(base.clone(), LLVMGetGEPSourceElementType(i), &idx)?;
                    self.stay_in_heap(st, &base, &a).map_err(|what| Stop::unsupported(&format!("{what} at {}", location(i))))?;
                    self.set(st, i, Val::Bv(a));
                }
                LLVMLoad => {
                    let addr = self.bv(st, LLVMGetOperand(i, 0))?;
                    let w = bits(t).ok_or_else(|| Stop::unsupported(&format!("a load of a non-integer type at {}", location(i))))?;
                    let size = llvm::store_size(self.prog.td, t);
                    let is_ptr = LLVMGetTypeKind(t) == LLVMTypeKind::LLVMPointerTypeKind;
                    let v = self.load(st, &addr, size, is_ptr)?;
                    self.set(st, i, Val::Bv(v.trunc(w)));
                }
                LLVMStore => {
                    let v = self.bv(st, LLVMGetOperand(i, 0)).map_err(|_| Stop::unsupported("a store of an aggregate"))?;
                    let addr = self.bv(st, LLVMGetOperand(i, 1))?;
                    let size = llvm::store_size(self.prog.td, type_of(LLVMGetOperand(i, 0)));
                    self.store(st, &addr, &v.zext((size * 8) as u32), size)?;
                }
                LLVMAlloca => {
                    let ty = LLVMGetAllocatedType(i);
                    let n = self.bv(st, LLVMGetOperand(i, 0))?;
                    let n = n.as_const().ok_or_else(|| Stop::unsupported("a dynamic alloca"))? as u64;
                    let size = llvm::alloc_size(self.prog.td, ty) * n;
                    let align = (LLVMGetAlignment(i) as u64).max(16);
                    st.alloca_top = (st.alloca_top - size) / align * align;
                    if st.alloca_top < layout::MEM_LO + 0x1000 {
                        return Err(Stop::Violation);
                    }
                    self.set(st, i, Val::Bv(Expr::constant(64, st.alloca_top as u128)));
                }
                LLVMExtractValue => {
                    let mut v = self.val(st, LLVMGetOperand(i, 0))?;
                    let n = LLVMGetNumIndices(i);
                    let idx = std::slice::from_raw_parts(LLVMGetIndices(i), n as usize);
                    for k in idx {
                        v = match v {
                            Val::Agg(l) => l.get(*k as usize).cloned().ok_or_else(|| Stop::unsupported("extractvalue index"))?,
                            Val::Bv(_) => return Err(Stop::unsupported("extractvalue of a scalar")),
                        };
                    }
                    self.set(st, i, v);
                }
                LLVMInsertValue => {
                    let agg = self.val(st, LLVMGetOperand(i, 0))?;
                    let x = self.val(st, LLVMGetOperand(i, 1))?;
                    let n = LLVMGetNumIndices(i);
                    let idx = std::slice::from_raw_parts(LLVMGetIndices(i), n as usize).to_vec();
                    fn put(a: Val, idx: &[u32], x: Val) -> R<Val> {
                        match (a, idx.split_first()) {
                            (_, None) => Ok(x),
                            (Val::Agg(mut l), Some((k, rest))) => {
                                let k = *k as usize;
                                let inner = l.get(k).cloned().ok_or_else(|| Stop::unsupported("insertvalue index"))?;
                                l[k] = put(inner, rest, x)?;
                                Ok(Val::Agg(l))
                            }
                            _ => Err(Stop::unsupported("insertvalue into a scalar")),
                        }
                    }
                    let r = put(agg, &idx, x)?;
                    self.set(st, i, r);
                }
                LLVMExtractElement => {
                    let v = self.bv(st, LLVMGetOperand(i, 0))?;
                    let k = self.bv(st, LLVMGetOperand(i, 1))?;
                    let (_, w) = lanes(t).ok_or_else(|| Stop::unsupported("float lanes"))?;
                    let k = k.as_const().ok_or_else(|| Stop::unsupported("a symbolic lane index"))? as u32;
                    self.set(st, i, Val::Bv(v.extract(k * w, w)));
                }
                LLVMInsertElement => {
                    let v = self.bv(st, LLVMGetOperand(i, 0))?;
                    let x = self.bv(st, LLVMGetOperand(i, 1))?;
                    let k = self.bv(st, LLVMGetOperand(i, 2))?;
                    let (n, w) = lanes(t).ok_or_else(|| Stop::unsupported("float lanes"))?;
                    let k = k.as_const().ok_or_else(|| Stop::unsupported("a symbolic lane index"))? as usize;
                    let mut l = split_lanes(&v, n, w);
                    if k < l.len() {
                        l[k] = x;
                    }
                    self.set(st, i, Val::Bv(join_lanes(&l)));
                }
                LLVMShuffleVector => {
                    let a = self.bv(st, LLVMGetOperand(i, 0))?;
                    let b = self.bv(st, LLVMGetOperand(i, 1))?;
                    let (na, w) = lanes(type_of(LLVMGetOperand(i, 0))).ok_or_else(|| Stop::unsupported("float lanes"))?;
                    let mut src = split_lanes(&a, na, w);
                    src.extend(split_lanes(&b, na, w));
                    let n = LLVMGetNumMaskElements(i);
                    let mut l = Vec::new();
                    for k in 0..n {
                        let m = LLVMGetMaskValue(i, k);
                        l.push(if m < 0 { Expr::constant(w, 0) } else { src[m as usize].clone() });
                    }
                    self.set(st, i, Val::Bv(join_lanes(&l)));
                }
                LLVMPHI => {
                    // Phis are evaluated on entry to the block.
                }
                LLVMCall => return self.call(st, i, work),
                LLVMBr => {
                    if LLVMIsConditional(i) != 0 {
                        let c = self.bv(st, LLVMGetCondition(i))?;
                        let (tb, fb) = (LLVMGetSuccessor(i, 0), LLVMGetSuccessor(i, 1));
                        let from = st.frames.last().expect("frame").block;
                        let go_true = self.branch(st, &c, from, tb, fb, work)?;
                        let to = if go_true { tb } else { fb };
                        self.goto(st, from, to)?;
                    } else {
                        let from = st.frames.last().expect("frame").block;
                        self.goto(st, from, LLVMGetSuccessor(i, 0))?;
                    }
                }
                LLVMSwitch => {
                    let c = self.bv(st, LLVMGetOperand(i, 0))?;
                    let from = st.frames.last().expect("frame").block;
                    let n = LLVMGetNumSuccessors(i);
                    // Cases: successor k (k >= 1) for case value k; successor 0 is the default.
                    let mut cases: Vec<(Expr, LLVMBasicBlockRef)> = Vec::new();
                    for k in 1..n {
                        let v = self.constant(LLVMGetOperand(i, 2 * k))?.bv()?;
                        cases.push((Expr::cmp(CmpOp::Eq, &c, &v), LLVMGetSuccessor(i, k)));
                    }
                    let mut default = Expr::bool(true);
                    for (eq, _) in &cases {
                        default = Expr::and(&default, &eq.not());
                    }
                    cases.push((default, LLVMGetSuccessor(i, 0)));
                    let mut feasible = Vec::new();
                    for (cond, to) in cases {
                        if self.solver.may_hold(&st.pc, &cond) != Sat::Unsat {
                            feasible.push((cond, to));
                        }
                    }
                    let Some((first_c, first_to)) = feasible.pop() else { return Err(Stop::Infeasible) };
                    let targets: Vec<LLVMBasicBlockRef> = feasible.iter().map(|f| f.1).chain([first_to]).collect();
                    for (cond, to) in feasible {
                        let mut s2 = st.clone();
                        self.add(&mut s2, cond);
                        self.mark_symbolic_exits(&mut s2, from, to, &targets);
                        match self.goto(&mut s2, from, to) {
                            Ok(()) => work.push(s2),
                            Err(Stop::Parked) => self.park(s2),
                            Err(e) => self.record_stop(e),
                        }
                    }
                    self.add(st, first_c);
                    self.mark_symbolic_exits(st, from, first_to, &targets);
                    self.goto(st, from, first_to)?;
                }
                LLVMRet => {
                    let v = if LLVMGetNumOperands(i) > 0 { Some(self.val(st, LLVMGetOperand(i, 0))?) } else { None };
                    return self.ret(st, v);
                }
                LLVMUnreachable => return Err(Stop::Infeasible),
                LLVMFence => {}
                _ => {
                    return Err(Stop::unsupported(&format!("the instruction `{}` at {}", llvm::print(i), location(i))));
                }
            }
        }
        Ok(false)
    }

    fn record_stop(&mut self, e: Stop) {
        match e {
            Stop::Violation => self.violation_paths += 1,
            Stop::Hole(k, w) => self.hole(k, w),
            Stop::Infeasible | Stop::Iteration => {}
            Stop::Parked => unreachable!("a parked path is kept by its owner"),
        }
    }

    /// Decides a condition that must not fork (a select between aggregates).
    fn decide(&mut self, st: &mut State, c: &Expr, _work: &mut Vec<State>) -> R<bool> {
        if let Some(v) = c.as_const() {
            return Ok(v == 1);
        }
        let nc = c.not();
        match (self.solver.may_hold(&st.pc, c), self.solver.may_hold(&st.pc, &nc)) {
            (Sat::Unsat, Sat::Unsat) => Err(Stop::Infeasible),
            (Sat::Unsat, _) => Ok(false),
            (_, Sat::Unsat) => Ok(true),
            _ => Err(Stop::unsupported("a select between aggregates on a symbolic condition")),
        }
    }

    /// Forks the path on `c` in the middle of a block: the side where `c` fails is pushed on
    /// `work` to run the current instruction again (it then decides `c` without forking).
    /// Returns whether `st` goes on with `c` holding.
    fn fork_here(&mut self, st: &mut State, c: &Expr, work: &mut Vec<State>) -> R<bool> {
        let (holds, other) = self.sides(st, c)?;
        if let Some(mut other) = other {
            other.frames.last_mut().expect("a frame").idx -= 1;
            work.push(other);
        }
        Ok(holds)
    }

    /// A conditional branch from `from`: forks if both sides may hold; returns whether `st`
    /// goes to the true side (the other side is pushed on `work`).
    fn branch(
        &mut self,
        st: &mut State,
        c: &Expr,
        from: LLVMBasicBlockRef,
        tb: LLVMBasicBlockRef,
        fb: LLVMBasicBlockRef,
        work: &mut Vec<State>,
    ) -> R<bool> {
        let (holds, other) = self.sides(st, c)?;
        if let Some(mut other) = other {
            self.mark_symbolic_exits(&mut other, from, fb, &[tb, fb]);
            match self.goto(&mut other, from, fb) {
                Ok(()) => work.push(other),
                Err(Stop::Parked) => self.park(other),
                Err(e) => self.record_stop(e),
            }
            self.mark_symbolic_exits(st, from, tb, &[tb, fb]);
        }
        Ok(holds)
    }

    /// Decides `c` on `st`'s path: whether `st` goes on with `c` holding (the side taken
    /// joins its conditions), and, when both sides may hold, a copy of the path on the side
    /// where `c` fails. Neither side: `Infeasible`.
    fn sides(&mut self, st: &mut State, c: &Expr) -> R<(bool, Option<State>)> {
        if let Some(v) = c.as_const() {
            return Ok((v == 1, None));
        }
        let nc = c.not();
        // The path's model decides one side for free; the solver is asked about the other.
        let (t, f, tm, fm) = if st.model_ok {
            if st.model.eval(c) == 1 {
                let (f, fm) = self.solver.may_hold_model(&st.pc, &nc);
                (Sat::Sat, f, None, fm)
            } else {
                let (t, tm) = self.solver.may_hold_model(&st.pc, c);
                (t, Sat::Sat, tm, None)
            }
        } else {
            let (t, tm) = self.solver.may_hold_model(&st.pc, c);
            let (f, fm) = self.solver.may_hold_model(&st.pc, &nc);
            (t, f, tm, fm)
        };
        let model_side_true = st.model_ok && st.model.eval(c) == 1;
        let model_side_false = st.model_ok && !model_side_true;
        // An unknown answer counts as feasible: exploring a side that cannot happen only
        // adds paths, it never hides one, so the bounds stay sound.
        let other = match (t, f) {
            (Sat::Unsat, Sat::Unsat) => return Err(Stop::Infeasible),
            (Sat::Unsat, _) => {
                Rc::make_mut(&mut st.pc).push(nc);
                if !model_side_false {
                    self.adopt(st, fm);
                }
                return Ok((false, None));
            }
            (_, Sat::Unsat) => None,
            _ => {
                let mut other = st.clone();
                Rc::make_mut(&mut other.pc).push(nc);
                if !model_side_false {
                    self.adopt(&mut other, fm);
                }
                Some(other)
            }
        };
        Rc::make_mut(&mut st.pc).push(c.clone());
        if !model_side_true {
            self.adopt(st, tm);
        }
        Ok((true, other))
    }

    /// After a fork at `from`: every loop that one of the other `targets` leaves, but `to`
    /// stays in, has a symbolic exit: it will be summarised at its header.
    fn mark_symbolic_exits(&mut self, st: &mut State, from: LLVMBasicBlockRef, to: LLVMBasicBlockRef, targets: &[LLVMBasicBlockRef]) {
        let loops = self.prog.loops_of(from).to_vec();
        for l in loops {
            let body = &self.prog.loops[l].body;
            if body.contains(&to) && targets.iter().any(|t| !body.contains(t)) {
                let fr = st.frames.last_mut().expect("frame");
                Rc::make_mut(&mut fr.loops).entry(l).or_default().symbolic = true;
            }
        }
    }

    /// Moves the top frame from `from` to `to`: loop bookkeeping, phis, cost.
    fn goto(&mut self, st: &mut State, from: LLVMBasicBlockRef, to: LLVMBasicBlockRef) -> R<()> {
        let depth = st.frames.len();
        while st.arms.last().is_some_and(|m| m.depth == depth && !self.prog.arms[&m.entry].region.contains(&to)) {
            let m = st.arms.pop().expect("an arm");
            self.close_arm(st, m);
        }
        // Loops left. A loop's PCV counts runs of its header (entries and back edges); every
        // run this path paid concretely is on the path as `k` of the loop's term: the
        // iterations before the loop was summarised (`start_summary`) and, now, the last
        // run, the one that leaves. So a path that leaves a loop pays what it really ran,
        // `constant - k x iteration + iteration x runs` with runs = k, and paths that skip
        // the loop altogether are not charged for the run that leaves it when they merge
        // with paths that enter it.
        if depth == 1 && self.collecting.is_empty() && !self.prog.loops_of(from).is_empty() && self.prog.loops_of(to).is_empty() {
            self.record_exit(st, from, to);
        }
        for &l in self.prog.loops_of(from) {
            if !self.prog.loops[l].body.contains(&to) {
                let mut summarised_at = None;
                while st.markers.last().is_some_and(|m| m.depth == depth && m.loop_id == l) {
                    summarised_at = st.markers.pop().map(|m| m.start.terms.len());
                }
                let fr = st.frames.last_mut().expect("frame");
                let visits = Rc::make_mut(&mut fr.loops).remove(&l).map_or(0, |r| r.visits as u64);
                match summarised_at {
                    // `start_summary` pushed the loop's term just before the marker's start.
                    Some(n) if n > 0 && st.cost.terms.get(n - 1).is_some_and(|(id, _)| *id == l) => st.cost.terms[n - 1].1 += 1,
                    Some(_) => {}
                    None => st.cost.terms.push((l, visits + 1)),
                }
            }
        }
        let func = st.frames.last().expect("frame").func.clone();
        let mut summarise: Option<(usize, u64)> = None;
        if let Some(&l) = func.loops.get(&to) {
            let back = self.prog.loops[l].body.contains(&from);
            if back {
                if st.markers.last().is_some_and(|m| m.depth == depth && m.loop_id == l) {
                    // One full iteration of a summarised loop: record it; the path ends here.
                    self.enter(st, from, to)?;
                    let m = st.markers.last().expect("marker").clone();
                    let (i, mem) = (st.cost.instructions - m.start.instructions, st.cost.memory - m.start.memory);
                    let inner: Vec<(usize, u64)> = st.cost.terms[m.start.terms.len()..].to_vec();
                    let stat = &mut self.loops[l];
                    stat.inner.extend(inner.iter().map(|(l, _)| *l));
                    if inner.iter().all(|(_, k)| *k == 0) {
                        stat.instructions = stat.instructions.max(i);
                        stat.memory = stat.memory.max(mem);
                    } else {
                        // Iterations of loops inside this one that it paid concretely before
                        // summarising them are also counted by their PCVs: they are credited
                        // at the inner loops' final iteration costs, once exploration ends
                        // ([`Engine::settle_loops`]).
                        let e = stat.credited.entry(inner).or_insert((0, 0));
                        *e = (e.0.max(i), e.1.max(mem));
                    }
                    stat.wrote |= m.wrote;
                    return Err(Stop::Iteration);
                }
                let fr = st.frames.last_mut().expect("frame");
                let run = Rc::make_mut(&mut fr.loops).entry(l).or_default();
                run.visits += 1;
                if run.symbolic || run.visits > self.cfg.unroll {
                    summarise = Some((l, run.visits as u64));
                }
            } else {
                let fr = st.frames.last_mut().expect("frame");
                Rc::make_mut(&mut fr.loops).insert(l, LoopRun::default());
            }
        }
        self.enter(st, from, to)?;
        if let Some((l, k)) = summarise {
            self.start_summary(st, l, k, to)?;
        }
        if self.join_point(st, to) {
            return Err(Stop::Parked);
        }
        Ok(())
    }

    /// The path leaves the entry point's loops from `from` to `to`: through a conditional
    /// branch, the exit is one of the path's results (see [`Engine::exits`]).
    fn record_exit(&mut self, st: &mut State, from: LLVMBasicBlockRef, to: LLVMBasicBlockRef) {
        // SAFETY: the block's terminator and its successors.
        let (term, side) = unsafe {
            let term = LLVMGetBasicBlockTerminator(from);
            if term.is_null() || opcode(term) != LLVMOpcode::LLVMBr || LLVMGetNumSuccessors(term) != 2 {
                return;
            }
            let side = (0..2).find(|k| LLVMGetSuccessor(term, *k) == to);
            match side {
                Some(k) if LLVMGetSuccessor(term, 1 - k) != to => (term, k as u128),
                _ => return,
            }
        };
        let prog = self.prog;
        self.exits.entry(term).or_insert_with(|| {
            // Named by the outermost loop the path leaves.
            let outer = prog.loops_of(from).iter().max_by_key(|l| prog.loops[**l].body.len()).expect("a loop");
            (prog.loops[*outer].location.clone(), side)
        });
        Rc::make_mut(&mut st.results).push((term, side));
    }

    /// Enters block `to` from `from`: phis (all at once), then the block's cost.
    fn enter(&mut self, st: &mut State, from: LLVMBasicBlockRef, to: LLVMBasicBlockRef) -> R<()> {
        let insts = self.prog.instructions(to);
        let mut phis = Vec::new();
        for &p in insts.iter() {
            if opcode(p) != LLVMOpcode::LLVMPHI {
                break;
            }
            // SAFETY: incoming edges of a phi.
            let v = unsafe {
                let n = LLVMCountIncoming(p);
                let mut found = None;
                for k in 0..n {
                    if LLVMGetIncomingBlock(p, k) == from {
                        found = Some(LLVMGetIncomingValue(p, k));
                        break;
                    }
                }
                found.ok_or_else(|| Stop::unsupported("a phi without the incoming edge taken"))?
            };
            phis.push((p, self.val(st, v)?));
        }
        let fr = st.frames.last_mut().expect("frame");
        fr.block = to;
        fr.idx = phis.len();
        let vals = Rc::make_mut(&mut fr.values);
        for (p, v) in phis {
            vals.insert(p, v);
        }
        if self.prog.arms.contains_key(&to) {
            // The edge into the arm runs exactly when the arm does: the arm pays for it.
            st.arms.push(ArmMarker { entry: to, depth: st.frames.len(), start: st.cost.clone() });
        }
        let (i, m) = self.prog.edge_cost(from, to);
        st.cost.instructions += i;
        st.cost.memory += m;
        self.charge(st, to)
    }

    /// The PCV of a loop branch or an arm (`e`), made with `stat` the first time.
    fn block_pcv(&mut self, e: Extra, stat: LoopStat) -> usize {
        if let Some(id) = self.block_pcvs.get(&e) {
            return *id;
        }
        let id = self.loops.len();
        self.loops.push(stat);
        self.extra.push(e);
        self.block_pcvs.insert(e, id);
        id
    }

    /// The path leaves arm `m`: what it cost since its entry becomes one run of the arm's
    /// PCV (the dearest run is its coefficient), unless the arm paid loop iterations
    /// concretely (those are counted by the loops' PCVs as well), in which case the cost
    /// stays on the path as a constant.
    fn close_arm(&mut self, st: &mut State, m: ArmMarker) {
        let inner = st.cost.terms.get(m.start.terms.len()..).unwrap_or(&[]);
        if st.cost.terms.len() < m.start.terms.len() || inner.iter().any(|(_, k)| *k > 0) {
            return;
        }
        let (i, mem) = (st.cost.instructions - m.start.instructions, st.cost.memory - m.start.memory);
        let id = self.block_pcv(Extra::Arm(m.entry), LoopStat { summarised: true, ..LoopStat::default() });
        let stat = &mut self.loops[id];
        stat.instructions = stat.instructions.max(i);
        stat.memory = stat.memory.max(mem);
        st.cost.instructions = m.start.instructions;
        st.cost.memory = m.start.memory;
        let from = st.markers.last().map_or(0, |mk| mk.start.terms.len());
        if !st.cost.terms[from..].iter().any(|(l, _)| *l == id) {
            st.cost.terms.push((id, 0));
        }
    }

    fn start_summary(&mut self, st: &mut State, l: usize, k: u64, header: LLVMBasicBlockRef) -> R<()> {
        self.loops[l].summarised = true;
        let name = self.prog.loops[l].location.clone();
        // Header values: anything an iteration may produce.
        let insts = self.prog.instructions(header);
        for &p in insts.iter() {
            if opcode(p) != LLVMOpcode::LLVMPHI {
                break;
            }
            let v = match bits(type_of(p)) {
                Some(w) => {
                    let is_ptr = llvm::type_kind(type_of(p)) == LLVMTypeKind::LLVMPointerTypeKind;
                    let old = self.val(st, p)?.bv()?;
                    let (c, _) = Self::split(&old);
                    if is_ptr && (Self::in_packet(c) || self.concrete_region(c)) {
                        // A pointer walking a concrete region stays in it: keep the region,
                        // forget the offset.
                        let off = self.fresh(64, VarKind::Havoc(name.clone()));
                        Val::Bv(Expr::bin(BinOp::Add, &off, &Expr::constant(64, c as u128)))
                    } else if is_ptr && self.mentions_region(&old) {
                        return Err(Stop::unsupported(&format!("a loop pointer whose region nfcc cannot tell (`{name}`)")));
                    } else if is_ptr && !old.is(0) {
                        // A pointer walking the heap stays in the heap (as `stay_in_heap`).
                        let v = self.fresh(64, VarKind::Havoc(name.clone()));
                        self.heap_pointer(st, &v)?;
                        Val::Bv(v)
                    } else {
                        Val::Bv(self.fresh(w, VarKind::Havoc(name.clone())))
                    }
                }
                None => return Err(Stop::unsupported("an aggregate loop variable")),
            };
            self.set(st, p, v);
        }
        // Whatever the loop may write is unknown from here on. What it does not write keeps
        // its value: an iteration from any state this one leads to writes only inside
        // `assumed`, or the assumption is broken and the whole exploration runs again.
        let assumed = self.assumed[l];
        if assumed & WROTE_CONCRETE != 0 {
            Rc::make_mut(&mut st.bytes).retain(|a, _| (layout::BOUNDS..layout::BOUNDS + 128).contains(a) || region_bit(*a) & assumed == 0);
        }
        if assumed & WROTE_HEAP != 0 {
            Rc::make_mut(&mut st.symlog).clear();
        }
        if assumed & WROTE_PACKET != 0 {
            st.pkt = Arr::base(self.new_var(8, VarKind::Havoc(name)));
        }
        st.cost.terms.push((l, k));
        let depth = st.frames.len();
        st.markers.push(Marker { loop_id: l, depth, start: st.cost.clone(), wrote: 0 });
        Ok(())
    }

    fn ret(&mut self, st: &mut State, v: Option<Val>) -> R<bool> {
        let depth = st.frames.len();
        while st.markers.last().is_some_and(|m| m.depth == depth) {
            st.markers.pop();
        }
        // An arm holds no return; should one be open, its cost simply stays on the path.
        while st.arms.last().is_some_and(|m| m.depth >= depth) {
            st.arms.pop();
        }
        let done = st.frames.pop().expect("frame");
        st.alloca_top = done.alloca_mark;
        if let Some((id, i0, m0)) = done.counted {
            // A counted call returns: its cost is its PCV's (the dearest run seen).
            let stat = &mut self.loops[id];
            stat.instructions = stat.instructions.max(st.cost.instructions - i0);
            stat.memory = stat.memory.max(st.cost.memory - m0);
            st.cost.instructions = i0;
            st.cost.memory = m0;
            let from = st.markers.last().map_or(0, |m| m.start.terms.len());
            if !st.cost.terms[from..].iter().any(|(l, _)| *l == id) {
                st.cost.terms.push((id, 0));
            }
        }
        match st.frames.last() {
            None => {
                let ret = match v {
                    Some(Val::Bv(e)) => Some(e),
                    _ => None,
                };
                if let Some(paths) = self.collecting.last_mut() {
                    paths.push(SummaryPath {
                        ret,
                        cost: st.cost.clone(),
                        bytes: st.bytes.clone(),
                        wrote: st.wrote,
                    });
                    return Ok(true);
                }
                self.paths.push(PathResult { pc: (*st.pc).clone(), cost: st.cost.clone(), ret, results: (*st.results).clone() });
                Ok(true)
            }
            Some(_) => {
                if let (Some(call), Some(v)) = (done.call, v) {
                    self.set(st, call, v);
                }
                Ok(false)
            }
        }
    }

    fn call(&mut self, st: &mut State, i: Value, work: &mut Vec<State>) -> R<bool> {
        if is_debug_call(i) {
            return Ok(false);
        }
        let callee = llvm::called_value(i);
        let name = match llvm::as_function(callee) {
            Some(f) => llvm::name(f),
            None => {
                if llvm::is_inline_asm(callee) {
                    return Err(Stop::unsupported(&format!("inline assembly at {}", location(i))));
                }
                let a = self.bv(st, callee)?;
                let a = a.as_const().ok_or_else(|| Stop::Hole(HoleKind::UnmodelledCall, format!("an indirect call through a symbolic pointer at {}", location(i))))?;
                self.prog
                    .function_at
                    .get(&(a as u64))
                    .cloned()
                    .ok_or_else(|| Stop::Hole(HoleKind::UnmodelledCall, format!("an indirect call to a non-function at {}", location(i))))?
            }
        };
        // SAFETY: argument operands of a call.
        let nargs = unsafe { LLVMGetNumArgOperands(i) };
        let mut args = Vec::new();
        for k in 0..nargs {
            // SAFETY: as above.
            args.push(self.val(st, unsafe { LLVMGetOperand(i, k) })?);
        }
        if matches!(name.as_str(), "nfcc__stop" | "nfcc__violation" | "nfcc__fault" | "siglongjmp" | "abort") {
            return Err(Stop::Violation);
        }
        // A copy of unknown or large length is a call to the runtime's function in the
        // machine code (x86 inlines constant copies up to 128 bytes; below 32 is certain).
        let mut name = name;
        for (intrinsic, function) in [("llvm.memcpy.", "memcpy"), ("llvm.memmove.", "memmove"), ("llvm.memset.", "memset")] {
            if name.starts_with(intrinsic) {
                let small = args.get(2).and_then(|a| a.bv().ok()).and_then(|n| n.as_const()).is_some_and(|n| n <= 32);
                if !small {
                    args.truncate(3);
                    if function == "memset" {
                        args[1] = Val::Bv(args[1].bv()?.zext(32));
                    }
                    name = function.to_string();
                }
            }
        }
        if let Some(f) = self.prog.functions.get(&name).cloned() {
            if self.summarisable(&f) {
                if let Some(s) = self.summary(st, &f, &args, i)? {
                    return self.charge_summary(st, i, &s, &args, work);
                }
            }
            self.untrack(i);
            if st.frames.len() >= 64 {
                return Err(Stop::Hole(HoleKind::Unbounded, format!("calls nested deeper than 64 at {}", location(i))));
            }
            let mut values = HashMap::new();
            for (k, a) in args.into_iter().enumerate() {
                // SAFETY: parameter of a defined function.
                values.insert(unsafe { LLVMGetParam(f.value, k as u32) }, a);
            }
            // SAFETY: entry block of a defined function.
            let entry = unsafe { LLVMGetEntryBasicBlock(f.value) };
            let counted = self.cfg.count_calls.contains(&f.name).then(|| (self.call_pcv(i, None), st.cost.instructions, st.cost.memory));
            st.frames.push(Frame {
                func: f,
                block: entry,
                idx: 0,
                values: Rc::new(values),
                call: Some(i),
                loops: Rc::new(HashMap::new()),
                alloca_mark: st.alloca_top,
                counted,
            });
            self.charge(st, entry)?;
            return Ok(false);
        }
        if name.starts_with("llvm.") {
            let r = self.intrinsic(st, i, &name, &args)?;
            if let Some(r) = r {
                self.set(st, i, r);
            }
            return Ok(false);
        }
        Err(Stop::Hole(HoleKind::UnmodelledCall, format!("a call to `{name}` at {}", location(i))))
    }

    /// One cost that bounds each of `costs`: per summarised loop, the fewest back edges any
    /// of them paid concretely (a path that did not summarise it paid none), and the largest
    /// constant once the others' extra concrete back edges are credited at the loop's
    /// iteration cost known so far (never above its final one, so never too much credit).
    fn merge_costs(&self, costs: &[&Cost]) -> Cost {
        let mut loops: BTreeSet<usize> = BTreeSet::new();
        for c in costs {
            loops.extend(c.terms.iter().map(|(l, _)| *l));
        }
        let paid = |c: &Cost, l: usize| c.terms.iter().filter(|(m, _)| *m == l).map(|(_, k)| k).sum::<u64>();
        let mut out = Cost::default();
        for &l in &loops {
            out.terms.push((l, costs.iter().map(|c| paid(c, l)).min().unwrap_or(0)));
        }
        for c in costs {
            let (mut i, mut m) = (c.instructions, c.memory);
            for &(l, least) in &out.terms {
                let extra = paid(c, l) - least;
                i = i.saturating_sub(self.loops[l].instructions * extra);
                m = m.saturating_sub(self.loops[l].memory * extra);
            }
            out.instructions = out.instructions.max(i);
            out.memory = out.memory.max(m);
        }
        out
    }

    /// Whether `st`, having just entered `b`, waits there to be merged: a block of the
    /// function the run explores (the entry point, or a summarised callee), outside any
    /// loop, no loop being summarised, that more than one edge reaches.
    fn join_point(&self, st: &State, b: LLVMBasicBlockRef) -> bool {
        // A summarised callee's paths stay apart where they return: merged there, the
        // constants they return (hit, miss, full) would become one unknown result.
        // SAFETY: the block's terminator.
        let returns = unsafe { llvm::opcode(LLVMGetBasicBlockTerminator(b)) } == Some(LLVMOpcode::LLVMRet);
        st.frames.len() == 1
            && !(returns && !self.collecting.is_empty())
            && st.markers.is_empty()
            && st.arms.is_empty()
            && self.prog.loops_of(b).is_empty()
            && st.frames[0].func.order.get(&b).is_some_and(|(_, preds)| *preds > 1)
    }

    /// The next path a run explores: the last one forked, or, when none is left, those
    /// waiting at the earliest join point, merged.
    fn next_state(&mut self, work: &mut Vec<State>) -> Option<State> {
        if let Some(st) = work.pop() {
            return Some(st);
        }
        let mut states = self.unpark()?;
        let st = states.pop();
        work.extend(states);
        st
    }

    /// Keeps `st` at its join point until the run has nothing else to do.
    fn park(&mut self, st: State) {
        self.parked.last_mut().expect("a run's parked list").push(st);
    }

    /// The paths waiting at the earliest join point (in reverse postorder: no running or
    /// waiting path can reach it any more), merged where they can be.
    fn unpark(&mut self) -> Option<Vec<State>> {
        let rank = |st: &State| st.frames[0].func.order.get(&st.frames[0].block).map_or(usize::MAX, |(r, _)| *r);
        let parked = self.parked.last_mut()?;
        let first = parked.iter().map(rank).min()?;
        let (here, rest): (Vec<State>, Vec<State>) = std::mem::take(parked).into_iter().partition(|s| rank(s) == first);
        *parked = rest;
        let mut out: Vec<State> = Vec::new();
        'next: for st in here {
            for m in out.iter_mut() {
                if let Some(merged) = self.merge(m, &st) {
                    *m = merged;
                    self.merged_paths += 1;
                    continue 'next;
                }
            }
            out.push(st);
        }
        Some(out)
    }

    /// One path covering both `a` and `b` (at the same point), if they differ only in what
    /// they know of module state: the same packet, the same conditions on the input (the
    /// conditions they do not share mention no input, so classes stay as they are), values
    /// of the same regions. What they disagree on becomes unknown; the cost bounds both.
    fn merge(&mut self, a: &State, b: &State) -> Option<State> {
        let (fa, fb) = (&a.frames[0], &b.frames[0]);
        if fa.block != fb.block || fa.idx != fb.idx || a.alloca_top != b.alloca_top || a.pkt != b.pkt {
            return None;
        }
        if !fa.loops.is_empty() || !fb.loops.is_empty() || !a.markers.is_empty() || !b.markers.is_empty() || !a.arms.is_empty() || !b.arms.is_empty() {
            return None;
        }
        // Paths whose calls returned different constants stay apart: the classes tell them
        // apart by those results.
        if self.collecting.is_empty() && a.results != b.results {
            return None;
        }
        let common = a.pc.iter().zip(b.pc.iter()).take_while(|(x, y)| x == y).count();
        let input = |id: &VarId| matches!(self.vars[*id as usize].kind, VarKind::Packet | VarKind::Len | VarKind::Port | VarKind::Time);
        // Inside a summary no condition reaches the caller: any two paths may merge.
        let classes_matter = self.collecting.is_empty();
        for c in a.pc[common..].iter().chain(b.pc[common..].iter()).filter(|_| classes_matter) {
            let mut v = Vec::new();
            c.vars(&mut v);
            if v.iter().any(input) {
                return None;
            }
        }
        let bounds = layout::BOUNDS..layout::BOUNDS + 0x1000;
        for (addr, v) in a.bytes.iter().filter(|(x, _)| bounds.contains(*x)) {
            if b.bytes.get(addr) != Some(v) {
                return None;
            }
        }
        // Values: equal, or of one region (a fresh offset into it), or both of none.
        let mut values = HashMap::new();
        for (k, va) in fa.values.iter() {
            let Some(vb) = fb.values.get(k) else { continue };
            let v = match (va, vb) {
                (Val::Bv(x), Val::Bv(y)) if x == y => va.clone(),
                (Val::Bv(x), Val::Bv(_)) if llvm::type_kind(type_of(*k)) != LLVMTypeKind::LLVMPointerTypeKind => {
                    Val::Bv(self.fresh(x.width(), VarKind::Havoc("a value where paths merged".into())))
                }
                (Val::Bv(x), Val::Bv(y)) => {
                    let ((cx, sx), (cy, sy)) = (Self::split(x), Self::split(y));
                    let region = |c: u64, s: &Option<Expr>, e: &Expr| e.as_const().is_some() || (s.is_some() && (Self::in_packet(c) || self.concrete_region(c)));
                    match (region(cx, &sx, x), region(cy, &sy, y)) {
                        (false, false) => Val::Bv(self.fresh(x.width(), VarKind::Havoc("a value where paths merged".into()))),
                        _ if x.width() == 64 && sx.is_some() && sy.is_some() && cx == cy && cx != 0 => {
                            let off = self.fresh(64, VarKind::Havoc("an offset where paths merged".into()));
                            Val::Bv(Expr::bin(BinOp::Add, &off, &Expr::constant(64, cx as u128)))
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            };
            values.insert(*k, v);
        }
        let bytes: HashMap<u64, Expr> = a.bytes.iter().filter(|(k, v)| b.bytes.get(*k) == Some(*v)).map(|(k, v)| (*k, v.clone())).collect();
        let same_log = Rc::ptr_eq(&a.symlog, &b.symlog)
            || (a.symlog.len() == b.symlog.len()
                && a.symlog.iter().zip(b.symlog.iter()).all(|(x, y)| x.addr == y.addr && x.size == y.size && x.value == y.value && x.write == y.write));
        let cost = self.merge_costs(&[&a.cost, &b.cost]);
        let mut frame = fa.clone();
        frame.values = Rc::new(values);
        Some(State {
            frames: vec![frame],
            pc: Rc::new(a.pc[..common].to_vec()),
            cost,
            bytes: Rc::new(bytes),
            symlog: if same_log { a.symlog.clone() } else { Rc::new(Vec::new()) },
            pkt: a.pkt.clone(),
            markers: Vec::new(),
            arms: Vec::new(),
            alloca_top: a.alloca_top,
            steps: a.steps.max(b.steps),
            model: Rc::new(crate::solver::Model::default()),
            model_ok: false,
            wrote: a.wrote | b.wrote,
            results: a.results.clone(),
        })
    }

    /// Records that the path (and the iteration of every loop it is summarising) wrote
    /// `regions`.
    fn note_write(st: &mut State, regions: u8) {
        st.wrote |= regions;
        for m in st.markers.iter_mut() {
            m.wrote |= regions;
        }
    }

    /// Regions the loops a cost summarises (and the loops inside them) may have written.
    fn loops_wrote(&self, cost: &Cost) -> u8 {
        let mut seen = BTreeSet::new();
        let mut work: Vec<usize> = cost.terms.iter().map(|(l, _)| *l).collect();
        let mut w = 0;
        while let Some(l) = work.pop() {
            if seen.insert(l) {
                w |= self.loops[l].wrote;
                work.extend(self.loops[l].inner.iter().copied());
            }
        }
        w
    }

    /// Whether calls to `f` are charged from a summary (the configuration names it).
    fn summarisable(&self, f: &Function) -> bool {
        !self.summarising.contains(&f.name)
            && (self.cfg.summarise_functions.contains(&f.name)
                || f.file.as_ref().is_some_and(|p| self.cfg.summarise_files.iter().any(|frag| p.contains(frag.as_str()))))
    }

    /// The summary of calling `f` with `args` from `st` (computed once per calling
    /// context), or `None` when the call must be executed in place: an aggregate argument
    /// or result, or a result pointing into a concrete region (it would lose the region).
    ///
    /// The callee is explored on its own, from what the caller's arguments say in general
    /// (constants stay constants; other pointers keep only their region; anything else is
    /// a fresh value), with the bounds block of the caller and nothing else known: every
    /// other read is a fresh value, so its paths cover the call from any caller state.
    /// The caller then takes each outcome as a path of its own, with none of the callee's
    /// conditions: more paths than the call may really take, never fewer.
    fn summary(&mut self, st: &State, f: &Rc<Function>, args: &[Val], call: Value) -> R<Option<Rc<Summary>>> {
        let ret_t = type_of(call);
        let (ret_width, ret_ptr) = match llvm::type_kind(ret_t) {
            LLVMTypeKind::LLVMVoidTypeKind => (None, false),
            k => match bits(ret_t) {
                Some(w) => (Some(w), k == LLVMTypeKind::LLVMPointerTypeKind),
                None => return Ok(None),
            },
        };
        let mut keys = Vec::new();
        for (k, a) in args.iter().enumerate() {
            let Val::Bv(e) = a else { return Ok(None) };
            // SAFETY: parameter of a defined function.
            let is_ptr = llvm::type_kind(type_of(unsafe { LLVMGetParam(f.value, k as u32) })) == LLVMTypeKind::LLVMPointerTypeKind;
            keys.push(match (e.as_const(), Self::split(e)) {
                (Some(c), _) => ArgKey::Const(e.width(), c),
                (None, (c, Some(_))) if e.width() == 64 && (Self::in_packet(c) || self.concrete_region(c)) => ArgKey::Region(c),
                _ => ArgKey::Sym(e.width(), is_ptr),
            });
        }
        let bounds_range = layout::BOUNDS..layout::BOUNDS + 0x1000;
        let mut bounds: Vec<(u64, Expr)> = st.bytes.iter().filter(|(a, _)| bounds_range.contains(*a)).map(|(a, e)| (*a, e.clone())).collect();
        bounds.sort_by_key(|(a, _)| *a);
        let key = SummaryKey { func: f.name.clone(), args: keys, alloca_top: st.alloca_top, bounds };
        if let Some(s) = self.summaries.get(&key) {
            return Ok(s.clone());
        }
        let s = self.compute_summary(f, &key, ret_width, ret_ptr)?.map(Rc::new);
        self.summaries.insert(key, s.clone());
        Ok(s)
    }

    fn compute_summary(&mut self, f: &Rc<Function>, key: &SummaryKey, ret_width: Option<u32>, ret_ptr: bool) -> R<Option<Summary>> {
        let initial: HashMap<u64, Expr> = key.bounds.iter().cloned().collect();
        let pkt = Arr::base(self.new_var(8, VarKind::Havoc(format!("the packet when `{}` is called", f.name))));
        // SAFETY: the entry block of a defined function.
        let entry = unsafe { LLVMGetEntryBasicBlock(f.value) };
        let mut sst = State {
            frames: vec![Frame {
                func: f.clone(),
                block: entry,
                idx: 0,
                values: Rc::new(HashMap::new()),
                call: None,
                loops: Rc::new(HashMap::new()),
                alloca_mark: key.alloca_top,
                counted: None,
            }],
            pc: Rc::new(self.axioms.clone()),
            cost: Cost::default(),
            bytes: Rc::new(initial.clone()),
            symlog: Rc::new(Vec::new()),
            pkt: pkt.clone(),
            markers: Vec::new(),
            arms: Vec::new(),
            alloca_top: key.alloca_top,
            steps: 0,
            model: Rc::new(crate::solver::Model::default()),
            model_ok: false,
            wrote: 0,
            results: Rc::new(Vec::new()),
        };
        for (k, a) in key.args.iter().enumerate() {
            let v = match a {
                ArgKey::Const(w, c) => Expr::constant(*w, *c),
                ArgKey::Region(c) => {
                    let off = self.fresh(64, VarKind::State(format!("argument {} of `{}` (offset)", k + 1, f.name)));
                    Expr::bin(BinOp::Add, &off, &Expr::constant(64, *c as u128))
                }
                ArgKey::Sym(w, is_ptr) => {
                    let v = self.fresh(*w, VarKind::State(format!("argument {} of `{}`", k + 1, f.name)));
                    if *is_ptr && *w == 64 {
                        self.heap_pointer(&mut sst, &v)?;
                    }
                    v
                }
            };
            // SAFETY: parameter of a defined function.
            let p = unsafe { LLVMGetParam(f.value, k as u32) };
            Rc::make_mut(&mut sst.frames[0].values).insert(p, Val::Bv(v));
        }
        let arg_values = sst.frames[0].values.clone();
        sst.model_ok = sst.pc.iter().all(|c| sst.model.eval(c) == 1);
        self.charge(&mut sst, entry)?;

        self.collecting.push(Vec::new());
        self.summarising.push(f.name.clone());
        let mut work = vec![sst];
        let mut out_of_time = false;
        self.parked.push(Vec::new());
        while let Some(mut s) = self.next_state(&mut work) {
            if self.started.elapsed() > self.cfg.time_limit {
                out_of_time = true;
                break;
            }
            match self.step_path(&mut s, &mut work) {
                Ok(()) => {}
                Err(Stop::Parked) => self.park(s),
                Err(e) => self.record_stop(e),
            }
        }
        let left = work.len() + self.parked.pop().map_or(0, |p| p.len());
        self.summarising.pop();
        let paths = self.collecting.pop().expect("the summary's collector");
        if out_of_time {
            return Err(Stop::Hole(
                HoleKind::Timeout,
                format!("{} paths of `{}` left unexplored after {:?}", left + 1, f.name, self.cfg.time_limit),
            ));
        }
        let args: Vec<Expr> = (0..key.args.len())
            .map(|k| {
                // SAFETY: parameter of a defined function.
                let p = unsafe { LLVMGetParam(f.value, k as u32) };
                match arg_values.get(&p) {
                    Some(Val::Bv(e)) => e.clone(),
                    _ => unreachable!("every argument is a bit-vector"),
                }
            })
            .collect();
        let mut groups: Vec<(Returned, Vec<&SummaryPath>)> = Vec::new();
        for p in &paths {
            let k = match &p.ret {
                Some(r) if r.as_const().is_some() => Returned::Const(r.clone()),
                Some(r) if args.contains(r) => Returned::Arg(args.iter().position(|a| a == r).expect("found")),
                Some(r) => {
                    // A result pointing into a concrete region would become a heap pointer:
                    // keep the call in place instead.
                    let (c, sym) = Self::split(r);
                    if ret_ptr && sym.is_some() && (Self::in_packet(c) || self.concrete_region(c)) {
                        return Ok(None);
                    }
                    Returned::Fresh
                }
                None => Returned::Fresh,
            };
            match groups.iter_mut().find(|(g, _)| *g == k) {
                Some((_, v)) => v.push(p),
                None => groups.push((k, vec![p])),
            }
        }
        let all: Vec<&SummaryPath> = paths.iter().collect();
        let merged = (!all.is_empty()).then(|| self.outcome(Returned::Fresh, &all, &initial));
        let outcomes = groups.into_iter().map(|(ret, ps)| self.outcome(ret, &ps, &initial)).collect();
        Ok(Some(Summary { func: f.name.clone(), outcomes, merged, ret_width, ret_ptr }))
    }

    /// One outcome covering the paths `ps`.
    fn outcome(&self, ret: Returned, ps: &[&SummaryPath], initial: &HashMap<u64, Expr>) -> Outcome {
        let costs: Vec<&Cost> = ps.iter().map(|p| &p.cost).collect();
        let cost = self.merge_costs(&costs);
        // Bytes that differ from the callee's start on some path.
        let mut written: BTreeSet<u64> = BTreeSet::new();
        for p in ps {
            written.extend(p.bytes.iter().filter(|(a, v)| initial.get(a) != Some(v)).map(|(a, _)| *a));
            written.extend(initial.keys().filter(|a| !p.bytes.contains_key(a)));
        }
        let writes = written
            .into_iter()
            .map(|a| {
                let first = ps[0].bytes.get(&a).filter(|v| v.as_const().is_some());
                let same = first.is_some() && ps.iter().all(|p| p.bytes.get(&a) == first);
                (a, if same { first.cloned() } else { None })
            })
            .collect();
        Outcome {
            ret,
            cost,
            writes,
            wrote: ps.iter().fold(0, |w, p| w | p.wrote | self.loops_wrote(&p.cost)),
        }
    }

    /// Continues `st` past the summarised `call` with each outcome of `s` (the first on
    /// `st`, the others on copies pushed on `work`).
    fn charge_summary(&mut self, st: &mut State, call: Value, s: &Summary, args: &[Val], work: &mut Vec<State>) -> R<bool> {
        if s.outcomes.is_empty() {
            // Every path of the callee ended in a violation (counted when it was summarised).
            return Err(Stop::Violation);
        }
        self.summarised_calls += 1;
        // A call of the entry point's own path (outside loops) whose outcomes each return a
        // constant, and whose result the code looks at, is tracked.
        let in_loop = !self.prog.loops_of(st.frames.last().expect("a frame").block).is_empty();
        // SAFETY: use list of an instruction.
        let unused = unsafe { LLVMGetFirstUse(call) }.is_null();
        let trackable = self.collecting.is_empty()
            && st.markers.is_empty()
            && !in_loop
            && !unused
            && s.ret_width.is_some()
            && s.outcomes.iter().all(|o| matches!(o.ret, Returned::Const(_)));
        if trackable {
            let stat = self.calls.entry(call).or_insert_with(|| CallStat { tracked: true, ..Default::default() });
            stat.width = s.ret_width.expect("a result");
            for o in &s.outcomes {
                if let Returned::Const(c) = &o.ret {
                    stat.values.insert(c.as_const().expect("a constant"));
                }
            }
        } else {
            self.untrack(call);
        }
        let track = |st: &mut State, o: &Outcome| {
            if let (true, Returned::Const(c)) = (trackable, &o.ret) {
                Rc::make_mut(&mut st.results).push((call, c.as_const().expect("a constant")));
            }
        };
        if s.outcomes.len() > 1 && unused {
            // Nothing looks at the result: one path through the call covers them all.
            let o = s.merged.as_ref().expect("paths");
            self.take_outcome(st, call, s, args, o)?;
            return Ok(false);
        }
        // A loop whose trip count depends on a call's outcome is summarised, as a loop
        // whose exit branch depends on a symbolic value is.
        let block = st.frames.last().expect("a frame").block;
        for &l in self.prog.loops_of(block) {
            let fr = st.frames.last_mut().expect("a frame");
            Rc::make_mut(&mut fr.loops).entry(l).or_default().symbolic = true;
        }
        for o in &s.outcomes[1..] {
            let mut other = st.clone();
            track(&mut other, o);
            self.take_outcome(&mut other, call, s, args, o)?;
            work.push(other);
        }
        track(st, &s.outcomes[0]);
        self.take_outcome(st, call, s, args, &s.outcomes[0])?;
        Ok(false)
    }

    /// The PCV of a call charged by its runs (a call in a loop, or a counted call).
    fn call_pcv(&mut self, call: Value, value: Option<u128>) -> usize {
        if let Some(id) = self.loop_call_ids.get(&(call, value)) {
            return *id;
        }
        let id = self.loops.len();
        self.loops.push(LoopStat { summarised: true, ..LoopStat::default() });
        self.extra.push(Extra::Call(call, value));
        self.loop_call_ids.insert((call, value), id);
        id
    }

    /// Records that `call` ran in a way its results cannot be tracked: in place, inside a
    /// summary or a summarised loop's iteration, or with an outcome of no constant result.
    fn untrack(&mut self, call: Value) {
        self.calls.entry(call).or_default().tracked = false;
    }

    fn take_outcome(&mut self, st: &mut State, call: Value, s: &Summary, args: &[Val], o: &Outcome) -> R<()> {
        if self.prog.loops_of(st.frames.last().expect("a frame").block).is_empty() {
            st.cost.instructions += o.cost.instructions;
            st.cost.memory += o.cost.memory;
            st.cost.terms.extend(o.cost.terms.iter().copied());
        } else {
            // A call inside a loop is charged through its own PCV (the times it runs, which
            // the tracing variant counts), at its dearest outcome: an iteration that does
            // not call it is not charged for it. When every outcome returns a constant (and
            // the result is used), one PCV per constant: the runs that returned it, at that
            // outcome's cost.
            let per_value = s.ret_width.is_some() && s.outcomes.iter().all(|o| matches!(o.ret, Returned::Const(_)));
            let value = match &o.ret {
                Returned::Const(c) if per_value => c.as_const(),
                _ => None,
            };
            // A run's cost is the outcome's constant less the header runs of its loops that
            // it paid concretely, at their iteration costs known now (never above their final
            // ones): those loops' PCVs count every run of every call, so each run must leave
            // them out, not only the first.
            let (mut i, mut m) = (o.cost.instructions, o.cost.memory);
            for &(l, k) in &o.cost.terms {
                i = i.saturating_sub(self.loops[l].instructions * k);
                m = m.saturating_sub(self.loops[l].memory * k);
            }
            let id = self.call_pcv(call, value);
            let stat = &mut self.loops[id];
            stat.instructions = stat.instructions.max(i);
            stat.memory = stat.memory.max(m);
            stat.wrote |= o.wrote;
            st.cost.terms.push((id, 0));
            st.cost.terms.extend(o.cost.terms.iter().map(|&(l, _)| (l, 0)));
        }
        let what = format!("written by `{}` at {}", s.func, location(call));
        // What the callee may have written is unknown (but the bounds block, which module
        // code writes only through the isolation pass's own stores, checked by the verifier).
        if o.wrote & WROTE_CONCRETE != 0 {
            let bounds = layout::BOUNDS..layout::BOUNDS + 0x1000;
            Rc::make_mut(&mut st.bytes).retain(|a, _| bounds.contains(a) || o.wrote & region_bit(*a) == 0);
        }
        if o.wrote & WROTE_HEAP != 0 {
            Rc::make_mut(&mut st.symlog).clear();
        }
        let mut wrote = o.wrote;
        for (a, v) in &o.writes {
            wrote |= region_bit(*a);
            let v = match v {
                Some(v) => v.clone(),
                None => self.fresh(8, VarKind::Havoc(what.clone())),
            };
            Rc::make_mut(&mut st.bytes).insert(*a, v);
        }
        if o.wrote & WROTE_PACKET != 0 {
            st.pkt = Arr::base(self.new_var(8, VarKind::Havoc(what)));
        }
        Self::note_write(st, wrote);
        if let Some(w) = s.ret_width {
            let v = match &o.ret {
                Returned::Const(c) => c.clone(),
                Returned::Arg(k) => args[*k].bv()?,
                Returned::Fresh => {
                    let v = self.fresh(w, VarKind::State(format!("the result of `{}` at {}", s.func, location(call))));
                    if s.ret_ptr {
                        self.heap_pointer(st, &v)?;
                    }
                    v
                }
            };
            self.set(st, call, Val::Bv(v));
        }
        Ok(())
    }

    fn intrinsic(&mut self, st: &mut State, i: Value, name: &str, args: &[Val]) -> R<Option<Val>> {
        let base = name.split('.').take(2).collect::<Vec<_>>().join(".");
        let a = |k: usize| -> R<Expr> { args.get(k).ok_or_else(|| Stop::unsupported("intrinsic arity"))?.bv() };
        let t = type_of(i);
        let r = match base.as_str() {
            "llvm.expect" => a(0)?,
            "llvm.umin" | "llvm.umax" | "llvm.smin" | "llvm.smax" => {
                let (x, y) = (a(0)?, a(1)?);
                let (n, w) = lanes(t).ok_or_else(|| Stop::unsupported("float min/max"))?;
                let lx = split_lanes(&x, n, w);
                let ly = split_lanes(&y, n, w);
                let l: Vec<Expr> = lx
                    .iter()
                    .zip(&ly)
                    .map(|(x, y)| {
                        let lt = match base.as_str() {
                            "llvm.umin" => Expr::cmp(CmpOp::Ult, x, y),
                            "llvm.umax" => Expr::cmp(CmpOp::Ult, y, x),
                            "llvm.smin" => Expr::cmp(CmpOp::Slt, x, y),
                            _ => Expr::cmp(CmpOp::Slt, y, x),
                        };
                        Expr::ite(&lt, x, y)
                    })
                    .collect();
                join_lanes(&l)
            }
            "llvm.abs" => {
                let x = a(0)?;
                let w = x.width();
                let neg = Expr::bin(BinOp::Sub, &Expr::constant(w, 0), &x);
                Expr::ite(&Expr::cmp(CmpOp::Slt, &x, &Expr::constant(w, 0)), &neg, &x)
            }
            "llvm.bswap" => {
                let x = a(0)?;
                let (n, w) = lanes(t).ok_or_else(|| Stop::unsupported("bswap"))?;
                let l: Vec<Expr> = split_lanes(&x, n, w)
                    .iter()
                    .map(|v| {
                        let bytes: Vec<Expr> = (0..w / 8).rev().map(|k| v.extract(k * 8, 8)).collect();
                        join_lanes(&bytes)
                    })
                    .collect();
                join_lanes(&l)
            }
            "llvm.fshl" | "llvm.fshr" => {
                let (x, y, s) = (a(0)?, a(1)?, a(2)?);
                let w = x.width();
                let s = s.as_const().ok_or_else(|| Stop::unsupported("a funnel shift by a symbolic amount"))? as u32 % w;
                if w * 2 > 128 {
                    return Err(Stop::unsupported("a wide funnel shift"));
                }
                let both = Expr::concat(&x, &y);
                if base == "llvm.fshl" {
                    both.extract(w - s, w)
                } else {
                    both.extract(s, w)
                }
            }
            "llvm.ctpop" => {
                let x = a(0)?;
                let w = x.width();
                let mut acc = Expr::constant(w, 0);
                for k in 0..w {
                    acc = Expr::bin(BinOp::Add, &acc, &x.extract(k, 1).zext(w));
                }
                acc
            }
            "llvm.uadd" | "llvm.usub" | "llvm.umul" | "llvm.sadd" | "llvm.ssub" if name.contains("with.overflow") => {
                let (x, y) = (a(0)?, a(1)?);
                let w = x.width();
                let (r, of) = match base.as_str() {
                    "llvm.uadd" => {
                        let r = Expr::bin(BinOp::Add, &x, &y);
                        (r.clone(), Expr::cmp(CmpOp::Ult, &r, &x))
                    }
                    "llvm.usub" => (Expr::bin(BinOp::Sub, &x, &y), Expr::cmp(CmpOp::Ult, &x, &y)),
                    "llvm.umul" => {
                        if w * 2 > 128 {
                            return Err(Stop::unsupported("a wide multiplication with overflow"));
                        }
                        let wide = Expr::bin(BinOp::Mul, &x.zext(w * 2), &y.zext(w * 2));
                        (wide.trunc(w), Expr::ne(&wide.extract(w, w), &Expr::constant(w, 0)))
                    }
                    "llvm.sadd" | "llvm.ssub" => {
                        if w * 2 > 128 {
                            return Err(Stop::unsupported("a wide signed add with overflow"));
                        }
                        let op = if base == "llvm.sadd" { BinOp::Add } else { BinOp::Sub };
                        let wide = Expr::bin(op, &x.sext(w + 1), &y.sext(w + 1));
                        let r = wide.trunc(w);
                        (r.clone(), Expr::ne(&wide, &r.sext(w + 1)))
                    }
                    _ => unreachable!(),
                };
                return Ok(Some(Val::Agg(vec![Val::Bv(r), Val::Bv(of)])));
            }
            "llvm.usub" | "llvm.uadd" if name.contains(".sat") => {
                let (x, y) = (a(0)?, a(1)?);
                let w = x.width();
                if base == "llvm.usub" {
                    Expr::ite(&Expr::cmp(CmpOp::Ult, &x, &y), &Expr::constant(w, 0), &Expr::bin(BinOp::Sub, &x, &y))
                } else {
                    let r = Expr::bin(BinOp::Add, &x, &y);
                    Expr::ite(&Expr::cmp(CmpOp::Ult, &r, &x), &Expr::constant(w, u128::MAX), &r)
                }
            }
            "llvm.vector" if name.starts_with("llvm.vector.reduce.") => {
                let x = a(0)?;
                let (n, w) = lanes(type_of(unsafe { LLVMGetOperand(i, 0) })).ok_or_else(|| Stop::unsupported("float reduce"))?;
                let l = split_lanes(&x, n, w);
                let op = name.trim_start_matches("llvm.vector.reduce.").split('.').next().unwrap_or("");
                let mut acc = l[0].clone();
                for v in &l[1..] {
                    acc = match op {
                        "add" => Expr::bin(BinOp::Add, &acc, v),
                        "mul" => Expr::bin(BinOp::Mul, &acc, v),
                        "and" => Expr::bin(BinOp::And, &acc, v),
                        "or" => Expr::bin(BinOp::Or, &acc, v),
                        "xor" => Expr::bin(BinOp::Xor, &acc, v),
                        "umax" => Expr::ite(&Expr::cmp(CmpOp::Ult, &acc, v), v, &acc),
                        "umin" => Expr::ite(&Expr::cmp(CmpOp::Ult, v, &acc), v, &acc),
                        "smax" => Expr::ite(&Expr::cmp(CmpOp::Slt, &acc, v), v, &acc),
                        "smin" => Expr::ite(&Expr::cmp(CmpOp::Slt, v, &acc), v, &acc),
                        _ => return Err(Stop::unsupported(&format!("the intrinsic {name}"))),
                    };
                }
                acc
            }
            "llvm.memcpy" | "llvm.memmove" => {
                let (dst, src, n) = (a(0)?, a(1)?, a(2)?);
                let n = n.as_const().ok_or_else(|| Stop::Hole(HoleKind::Unbounded, format!("a memcpy of a symbolic length at {}", location(i))))? as u64;
                if n > 4096 {
                    return Err(Stop::unsupported("a memcpy longer than 4096 bytes"));
                }
                let mut tmp = Vec::new();
                for k in 0..n {
                    let s = Expr::bin(BinOp::Add, &src, &Expr::constant(64, k as u128));
                    tmp.push(self.load(st, &s, 1, false)?);
                }
                for (k, b) in tmp.iter().enumerate() {
                    let d = Expr::bin(BinOp::Add, &dst, &Expr::constant(64, k as u128));
                    self.store(st, &d, b, 1)?;
                }
                return Ok(None);
            }
            "llvm.memset" => {
                let (dst, v, n) = (a(0)?, a(1)?, a(2)?);
                let n = n.as_const().ok_or_else(|| Stop::Hole(HoleKind::Unbounded, format!("a memset of a symbolic length at {}", location(i))))? as u64;
                if n > 4096 {
                    return Err(Stop::unsupported("a memset longer than 4096 bytes"));
                }
                for k in 0..n {
                    let d = Expr::bin(BinOp::Add, &dst, &Expr::constant(64, k as u128));
                    self.store(st, &d, &v.trunc(8), 1)?;
                }
                return Ok(None);
            }
            "llvm.prefetch" | "llvm.donothing" | "llvm.sideeffect" => return Ok(None),
            _ => return Err(Stop::Hole(HoleKind::UnmodelledCall, format!("the intrinsic `{name}` at {}", location(i)))),
        };
        Ok(Some(Val::Bv(r)))
    }

    /// The constant part of an address and the rest.
    fn split(addr: &Expr) -> (u64, Option<Expr>) {
        if let Some(c) = addr.as_const() {
            return (c as u64, None);
        }
        if let crate::expr::Node::Bin(BinOp::Add, x, c) = addr.node() {
            if let Some(c) = c.as_const() {
                return (c as u64, Some(x.clone()));
            }
        }
        (0, Some(addr.clone()))
    }

    fn in_packet(c: u64) -> bool {
        (layout::PKT_LO..layout::PKT_DATA + layout::MAX_LEN + 0x10000).contains(&c)
    }

    fn concrete_region(&self, c: u64) -> bool {
        (layout::BOUNDS..layout::BOUNDS + 0x1000).contains(&c)
            || (layout::GLOBALS..layout::FUNCTIONS).contains(&c)
            || (layout::MEM_LO..layout::HEAP_LO).contains(&c)
    }

    fn load(&mut self, st: &mut State, addr: &Expr, size: u64, is_ptr: bool) -> R<Expr> {
        let (c, sym) = Self::split(addr);
        if Self::in_packet(c) {
            if let Some(sym) = &sym {
                // At an offset that depends on module state or on a summarised loop (not on
                // the packet alone): any bytes. Array reads at such indices would drag the
                // array into every later query about values computed from them, and a class
                // condition cannot mention them anyway.
                let mut v = Vec::new();
                sym.vars(&mut v);
                let input = |id: &VarId| matches!(self.vars[*id as usize].kind, VarKind::Packet | VarKind::Len | VarKind::Port | VarKind::Time);
                if !v.iter().all(input) {
                    return Ok(self.fresh((size * 8) as u32, VarKind::State("packet bytes at a state-dependent offset".into())));
                }
            }
            let idx = Expr::bin(BinOp::Sub, addr, &Expr::constant(64, layout::PKT_DATA as u128));
            let bytes: Vec<Expr> = (0..size)
                .map(|k| st.pkt.select(Expr::bin(BinOp::Add, &idx, &Expr::constant(64, k as u128))))
                .collect();
            return Ok(join_lanes(&bytes));
        }
        match sym {
            None if self.concrete_region(c) => {
                let known: Vec<Option<Expr>> = (0..size).map(|k| st.bytes.get(&(c + k)).cloned()).collect();
                if known.iter().all(|b| b.is_some()) {
                    return Ok(join_lanes(&known.into_iter().map(|b| b.expect("known")).collect::<Vec<_>>()));
                }
                // Constant globals read their initialisers.
                if let Some(init) = self.const_global_bytes(c, size) {
                    return Ok(init);
                }
                let kind = self.describe(c);
                let fresh = if known.iter().all(|b| b.is_none()) {
                    let v = self.fresh((size * 8) as u32, kind);
                    if is_ptr && size == 8 {
                        self.heap_pointer(st, &v)?;
                    }
                    v
                } else {
                    let mut l = Vec::new();
                    for b in known {
                        l.push(match b {
                            Some(b) => b,
                            None => self.fresh(8, kind.clone()),
                        });
                    }
                    join_lanes(&l)
                };
                let bytes = Rc::make_mut(&mut st.bytes);
                for k in 0..size {
                    bytes.insert(c + k, fresh.extract((k * 8) as u32, 8));
                }
                Ok(fresh)
            }
            Some(_) if self.concrete_region(c) => {
                // A symbolic offset into a concrete region: any value.
                let kind = self.describe(c);
                let v = self.fresh((size * 8) as u32, kind);
                if is_ptr && size == 8 {
                    self.heap_pointer(st, &v)?;
                }
                Ok(v)
            }
            _ => {
                for a in st.symlog.iter().rev() {
                    if a.addr == *addr && a.size == size {
                        return Ok(a.value.clone());
                    }
                    if a.write {
                        break;
                    }
                }
                let v = self.fresh((size * 8) as u32, VarKind::State("heap".into()));
                if is_ptr && size == 8 {
                    self.heap_pointer(st, &v)?;
                }
                Rc::make_mut(&mut st.symlog).push(SymAccess { addr: addr.clone(), size, value: v.clone(), write: false });
                Ok(v)
            }
        }
    }

    /// Addresses computed from a heap pointer stay in the heap: a module whose pointer
    /// arithmetic leaves its heap object is stopped by isolation (or, landing in another of
    /// its regions, breaks this stated assumption of the contract).
    fn stay_in_heap(&mut self, st: &mut State, base: &Expr, addr: &Expr) -> Result<(), &'static str> {
        let (c, sym) = Self::split(base);
        if sym.is_none() || Self::in_packet(c) || self.concrete_region(c) || addr.as_const().is_some() {
            return Ok(());
        }
        // An address built from a region's constant that the folder did not bring to the top
        // is not a heap pointer: assuming it in the heap would silently make its path
        // infeasible, so say so instead.
        if self.mentions_region(base) || self.mentions_region(addr) {
            return Err("an address whose region nfcc cannot tell (a fixed region's address under a symbolic operation)");
        }
        let lo = Expr::cmp(CmpOp::Ule, &Expr::constant(64, layout::HEAP_LO as u128), addr);
        let hi = Expr::cmp(CmpOp::Ult, addr, &Expr::constant(64, layout::HEAP_HI as u128));
        self.add(st, Expr::and(&lo, &hi));
        Ok(())
    }

    /// Whether the constant part of an address names the packet or a fixed region.
    fn placed(&self, addr: &Expr) -> bool {
        let (c, _) = Self::split(addr);
        Self::in_packet(c) || self.concrete_region(c)
    }

    /// Whether a constant of the packet or a fixed region appears anywhere in an address's
    /// arithmetic (sums, differences, selects).
    fn mentions_region(&self, e: &Expr) -> bool {
        use crate::expr::Node;
        match e.node() {
            Node::Const(c) => Self::in_packet(*c as u64) || self.concrete_region(*c as u64),
            Node::Bin(BinOp::Add | BinOp::Sub, x, y) => self.mentions_region(x) || self.mentions_region(y),
            Node::Ite(_, x, y) => self.mentions_region(x) || self.mentions_region(y),
            _ => false,
        }
    }

    /// Pointers in module state are null or point into the module's heap.
    fn heap_pointer(&mut self, st: &mut State, v: &Expr) -> R<()> {
        let lo = Expr::cmp(CmpOp::Ule, &Expr::constant(64, layout::HEAP_LO as u128), v);
        let hi = Expr::cmp(CmpOp::Ult, v, &Expr::constant(64, layout::HEAP_HI as u128));
        let null = Expr::cmp(CmpOp::Eq, v, &Expr::constant(64, 0));
        self.add(st, Expr::bin(BinOp::Or, &null, &Expr::and(&lo, &hi)));
        Ok(())
    }

    fn describe(&self, c: u64) -> VarKind {
        for (start, size, _, _, name) in &self.prog.global_ranges {
            if (*start..start + size).contains(&c) {
                return VarKind::State(format!("{name}+{}", c - start));
            }
        }
        if (layout::MEM_LO..layout::HEAP_LO).contains(&c) {
            return VarKind::Undef;
        }
        VarKind::State(format!("{c:#x}"))
    }

    fn const_global_bytes(&mut self, c: u64, size: u64) -> Option<Expr> {
        let (start, gsize, g, constant, _) =
            self.prog.global_ranges.iter().find(|(s, n, ..)| (*s..s + n).contains(&c)).cloned()?;
        if !constant {
            return None;
        }
        if !self.const_bytes.contains_key(&start) {
            // SAFETY: the initializer of a defined constant global.
            let init = unsafe { LLVMGetInitializer(g) };
            let mut out = vec![None; gsize as usize];
            let ok = !init.is_null() && self.serialise(init, 0, &mut out).is_ok();
            self.const_bytes.insert(start, ok.then_some(out));
        }
        let bytes = self.const_bytes.get(&start)?.as_ref()?;
        let off = (c - start) as usize;
        let l: Option<Vec<Expr>> = (0..size as usize).map(|k| bytes.get(off + k).cloned().flatten()).collect();
        Some(join_lanes(&l?))
    }

    fn serialise(&mut self, v: Value, at: usize, out: &mut [Option<Expr>]) -> R<()> {
        let t = type_of(v);
        let td = self.prog.td;
        if let Some(w) = bits(t) {
            let e = self.constant(v)?.bv()?;
            let size = llvm::store_size(td, t) as usize;
            let e = e.zext((size * 8) as u32);
            for k in 0..size.min(w.div_ceil(8) as usize).max(size) {
                if at + k < out.len() {
                    out[at + k] = Some(e.extract((k * 8) as u32, 8));
                }
            }
            return Ok(());
        }
        // SAFETY: aggregate constant element access.
        unsafe {
            match LLVMGetTypeKind(t) {
                LLVMTypeKind::LLVMStructTypeKind => {
                    for k in 0..LLVMCountStructElementTypes(t) {
                        let off = LLVMOffsetOfElement(td, t, k) as usize;
                        let e = LLVMGetAggregateElement(v, k);
                        if e.is_null() {
                            return Err(Stop::unsupported("constant element"));
                        }
                        self.serialise(e, at + off, out)?;
                    }
                    // Padding reads as zero.
                    for b in out.iter_mut().skip(at).take(llvm::alloc_size(td, t) as usize) {
                        if b.is_none() {
                            *b = Some(Expr::constant(8, 0));
                        }
                    }
                }
                LLVMTypeKind::LLVMArrayTypeKind => {
                    let et = LLVMGetElementType(t);
                    let es = llvm::alloc_size(td, et) as usize;
                    for k in 0..LLVMGetArrayLength2(t) as u32 {
                        let e = LLVMGetAggregateElement(v, k);
                        if e.is_null() {
                            return Err(Stop::unsupported("constant element"));
                        }
                        self.serialise(e, at + k as usize * es, out)?;
                    }
                }
                _ => return Err(Stop::unsupported("a floating-point constant")),
            }
        }
        Ok(())
    }

    fn store(&mut self, st: &mut State, addr: &Expr, v: &Expr, size: u64) -> R<()> {
        let (c, sym) = Self::split(addr);
        if Self::in_packet(c) {
            let idx = Expr::bin(BinOp::Sub, addr, &Expr::constant(64, layout::PKT_DATA as u128));
            for k in 0..size {
                let i = Expr::bin(BinOp::Add, &idx, &Expr::constant(64, k as u128));
                st.pkt = st.pkt.store(i, v.extract((k * 8) as u32, 8));
            }
            Self::note_write(st, WROTE_PACKET);
            return Ok(());
        }
        match sym {
            None if self.concrete_region(c) => {
                Self::note_write(st, region_bit(c));
                let bytes = Rc::make_mut(&mut st.bytes);
                for k in 0..size {
                    bytes.insert(c + k, v.extract((k * 8) as u32, 8));
                }
                Ok(())
            }
            Some(_) if self.concrete_region(c) => {
                // Somewhere in a concrete region: forget what it held (but the bounds block,
                // which module code cannot write at a symbolic offset once verified).
                let bounds = layout::BOUNDS..layout::BOUNDS + 0x1000;
                Rc::make_mut(&mut st.bytes).retain(|a, _| bounds.contains(a) || !same_region(*a, c));
                Self::note_write(st, region_bit(c));
                Ok(())
            }
            _ => {
                Self::note_write(st, WROTE_HEAP);
                Rc::make_mut(&mut st.symlog).push(SymAccess { addr: addr.clone(), size, value: v.clone(), write: true });
                Ok(())
            }
        }
    }
}

fn same_region(a: u64, c: u64) -> bool {
    let region = |x: u64| {
        if x >= layout::MEM_LO {
            2
        } else if x >= layout::GLOBALS {
            1
        } else {
            0
        }
    };
    region(a) == region(c)
}

fn icmp(p: LLVMIntPredicate, a: &Expr, b: &Expr) -> Expr {
    use LLVMIntPredicate::*;
    match p {
        LLVMIntEQ => Expr::cmp(CmpOp::Eq, a, b),
        LLVMIntNE => Expr::ne(a, b),
        LLVMIntULT => Expr::cmp(CmpOp::Ult, a, b),
        LLVMIntULE => Expr::cmp(CmpOp::Ule, a, b),
        LLVMIntUGT => Expr::cmp(CmpOp::Ult, b, a),
        LLVMIntUGE => Expr::cmp(CmpOp::Ule, b, a),
        LLVMIntSLT => Expr::cmp(CmpOp::Slt, a, b),
        LLVMIntSLE => Expr::cmp(CmpOp::Sle, a, b),
        LLVMIntSGT => Expr::cmp(CmpOp::Slt, b, a),
        LLVMIntSGE => Expr::cmp(CmpOp::Sle, b, a),
    }
}
