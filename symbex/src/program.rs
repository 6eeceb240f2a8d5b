//! The program under analysis: the annotated IR of the module (and of the runtime it is
//! linked with), read through the LLVM C API, with what the engine asks of it precomputed:
//! functions by name, every global's address in the engine's address space, natural loops
//! per function, block costs.

use crate::SymbexError;
use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::prelude::*;
use inkwell::llvm_sys::target::*;
use inkwell::llvm_sys::{LLVMOpcode, LLVMTypeKind};
use nfcc_passes::llvm::{self, Value};
use nfcc_runtime::abi;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// The engine's address space. Regions are far apart so a constant part names its region.
pub mod layout {
    /// The runtime's bounds block (`nfcc__bounds`).
    pub const BOUNDS: u64 = 0x0000_1000_0000;
    /// Start of the packet buffer (headroom first).
    pub const PKT_LO: u64 = 0x0000_4000_0000;
    /// Bytes of headroom before the packet's data.
    pub const HEADROOM: u64 = 64;
    /// The packet's first byte.
    pub const PKT_DATA: u64 = PKT_LO + HEADROOM;
    /// Largest packet the ABI passes.
    pub const MAX_LEN: u64 = 65535;
    /// Globals of the module and runtime.
    pub const GLOBALS: u64 = 0x0000_2000_0000;
    /// Functions (fake addresses for function pointers).
    pub const FUNCTIONS: u64 = 0x0000_3000_0000;
    /// The `mem` region (unsafe stack, then heap).
    pub const MEM_LO: u64 = 0x0010_0000_0000;
    /// Its length.
    pub const MEM_LEN: u64 = 0x0001_0000_0000;
    /// Top of the unsafe stack.
    pub const USP_TOP: u64 = MEM_LO + 0x0010_0000;
    /// Top of the call stack (outside every region).
    pub const STACK_TOP: u64 = 0x0020_0000_0000;
    /// Heap pointers read from module state lie in here.
    pub const HEAP_LO: u64 = USP_TOP + 0x0010_0000;
    /// End of that range (leaves room for constant offsets below MEM_LO + MEM_LEN).
    pub const HEAP_HI: u64 = MEM_LO + MEM_LEN - 0x0100_0000;
    /// Stack frames of unprotected modules (allocas), growing down.
    pub const ALLOCA_TOP: u64 = MEM_LO + 0x000F_0000;
}

/// A natural loop of a function.
#[derive(Debug)]
pub struct Loop {
    /// Its header.
    pub header: LLVMBasicBlockRef,
    /// Blocks in the loop (header included).
    pub body: HashSet<LLVMBasicBlockRef>,
    /// Whether a store, a memory intrinsic or a call is in it.
    pub writes: bool,
    /// `file:line` of the header.
    pub location: String,
    /// Global index of the loop.
    pub id: usize,
    /// The function it is in.
    pub function: String,
    /// Position of its header among the function's blocks.
    pub header_index: usize,
}

/// Per-function facts.
pub struct Function {
    /// The LLVM function.
    pub value: Value,
    /// Its name.
    pub name: String,
    /// Loops, by header.
    pub loops: HashMap<LLVMBasicBlockRef, usize>,
    /// The source file it was compiled from (debug info), if known.
    pub file: Option<String>,
    /// Per block: its index in reverse postorder and its number of predecessors.
    pub order: HashMap<LLVMBasicBlockRef, (usize, usize)>,
}

/// Everything about the program the engine reads.
pub struct Program {
    /// Functions with bodies, by name.
    pub functions: HashMap<String, Rc<Function>>,
    /// All loops, by global id.
    pub loops: Vec<Loop>,
    /// Address of each global (by name).
    pub global_addr: HashMap<String, u64>,
    /// Globals by address range: (start, size, value handle, constant?).
    pub global_ranges: Vec<(u64, u64, Value, bool, String)>,
    /// Function by fake address.
    pub function_at: HashMap<u64, String>,
    /// Fake address of each function.
    pub function_addr: HashMap<String, u64>,
    /// `[start, stop)` of the module's writable globals (section nfcc_data).
    pub data_range: (u64, u64),
    /// `[start, stop)` of the module's read-only globals (section nfcc_rodata).
    pub rodata_range: (u64, u64),
    /// Target data of the module.
    pub td: LLVMTargetDataRef,
    /// The branches of loops: blocks of a loop's body (outside any loop nested in it) that
    /// do not dominate every latch of the loop, so that some iterations skip them. The
    /// engine charges such a block by the times it runs (a PCV of its own, which the
    /// tracing variant counts) rather than at every iteration of a summarised loop.
    pub branches: HashMap<LLVMBasicBlockRef, Branch>,
    /// The arms of branches on module state outside loops, by entry block (see [`Arm`]).
    pub arms: HashMap<LLVMBasicBlockRef, Arm>,
    blocks: std::cell::RefCell<HashMap<LLVMBasicBlockRef, Rc<Vec<Value>>>>,
    /// Per block, the costed edges out of it: (successor, instructions, memory accesses).
    edges: std::cell::RefCell<HashMap<LLVMBasicBlockRef, Rc<Vec<(LLVMBasicBlockRef, u64, u64)>>>>,
    innermost: HashMap<LLVMBasicBlockRef, Vec<usize>>,
}

/// A branch of a loop (see [`Program::branches`]).
#[derive(Debug, Clone)]
pub struct Branch {
    /// The innermost loop it is in.
    pub loop_id: usize,
    /// The function.
    pub function: String,
    /// Its position among the function's blocks (from 0).
    pub index: usize,
    /// `file:line` of its first instruction with a location (else of its loop).
    pub location: String,
}

/// The arm of a two-way branch outside loops whose condition depends on module state (not
/// only on the packet and its metadata): the side's first block `entry` (whose only
/// predecessor is the branch), every block it dominates up to the headers of the loops they
/// enter (`region`), and the one block all of them leave to. No loop, return or call (but
/// to the isolation slow path) lies in it, and it does not begin with the slow path. The
/// other side goes straight to that block, or is an arm to it, or that block is the header
/// of a loop only the arm enters (a preheader behind the loop's guard). The engine charges
/// an arm by the times it runs (a PCV of its own, which the tracing variant counts, at its
/// dearest run) rather than as a constant: paths that skip it are not charged for it when
/// paths that differ only in module state merge into one class.
#[derive(Debug, Clone)]
pub struct Arm {
    /// The blocks of the arm.
    pub region: HashSet<LLVMBasicBlockRef>,
    /// The function.
    pub function: String,
    /// The entry's position among the function's blocks (from 0).
    pub index: usize,
    /// `file:line` of the branch (else of the entry's first located instruction).
    pub location: String,
    /// Whether the arm is taken when the condition holds (successor 0).
    pub when_true: bool,
    /// The entry is an isolation check's packet test (a pointer whose region the check
    /// could not know at compile time).
    pub packet_test: bool,
}

/// Offset of a constant address into `nfcc__bounds` (`@nfcc__bounds` or an `i8` GEP of it).
fn bounds_offset(p: Value) -> Option<i64> {
    let is_bounds = |g: Value| llvm::as_global_var(g).is_some_and(|g| llvm::name(g) == "nfcc__bounds");
    if is_bounds(p) {
        return Some(0);
    }
    if llvm::const_expr_opcode(p) == Some(LLVMOpcode::LLVMGetElementPtr) && llvm::num_operands(p) == 2 && is_bounds(llvm::operand(p, 0)) {
        return llvm::const_int(llvm::operand(p, 1));
    }
    None
}

/// The packet descriptor's fields (data pointer, length, port, time), as offsets into it.
const PACKET_FIELDS: std::ops::Range<i64> = 0..std::mem::size_of::<abi::Packet>() as i64;
/// Offset of the packet's data pointer in the bounds block.
const BOUNDS_PKT_DATA: i64 = (abi::BOUNDS_PKT + abi::PACKET_DATA) as i64;

/// Whether pointer `p` points into the packet: derived from the packet's data pointer.
fn packet_pointer(p: Value, packet: Option<Value>, depth: u32) -> bool {
    if depth > 32 {
        return false;
    }
    match llvm::opcode(p) {
        Some(LLVMOpcode::LLVMLoad) => {
            let a = llvm::operand(p, 0);
            bounds_offset(a) == Some(BOUNDS_PKT_DATA) || packet_field(a, packet) == Some(abi::PACKET_DATA as i64)
        }
        Some(LLVMOpcode::LLVMGetElementPtr | LLVMOpcode::LLVMBitCast) => packet_pointer(llvm::operand(p, 0), packet, depth + 1),
        Some(LLVMOpcode::LLVMPHI) => (0..llvm::num_operands(p)).all(|k| packet_pointer(llvm::operand(p, k), packet, depth + 1)),
        Some(LLVMOpcode::LLVMSelect) => {
            packet_pointer(llvm::operand(p, 1), packet, depth + 1) && packet_pointer(llvm::operand(p, 2), packet, depth + 1)
        }
        _ => false,
    }
}

/// Offset of address `a` into the entry point's `struct nfcc_packet` parameter (before the
/// isolation pass replaces it by the bounds block's copy): the parameter, or a constant
/// `i8` GEP of it.
fn packet_field(a: Value, packet: Option<Value>) -> Option<i64> {
    let packet = packet?;
    if a == packet {
        return Some(0);
    }
    (llvm::opcode(a) == Some(LLVMOpcode::LLVMGetElementPtr) && llvm::num_operands(a) == 2 && llvm::operand(a, 0) == packet)
        .then(|| llvm::const_int(llvm::operand(a, 1)))
        .flatten()
}

/// Whether value `v` may depend on module state: a load from anything but the packet and
/// its fields, or a function argument (conservatively), within `budget` instructions of the
/// backward slice (past it: yes). Call results are in a summarised function (`entry`
/// false), not in the entry point, where they are outcomes (see below).
fn depends_on_state(v: Value, packet: Option<Value>, entry: bool, budget: &mut u32, seen: &mut HashSet<Value>) -> bool {
    // SAFETY: kind queries.
    if unsafe { !LLVMIsAArgument(v).is_null() } {
        return true;
    }
    let Some(op) = llvm::opcode(v) else { return false };
    if !seen.insert(v) {
        return false;
    }
    if *budget == 0 {
        return true;
    }
    *budget -= 1;
    match op {
        LLVMOpcode::LLVMLoad => {
            let p = llvm::operand(v, 0);
            let field = bounds_offset(p).map(|o| o - abi::BOUNDS_PKT as i64).or_else(|| packet_field(p, packet));
            !(field.is_some_and(|o| PACKET_FIELDS.contains(&o)) || packet_pointer(p, packet, 0))
        }
        LLVMOpcode::LLVMCall => {
            // In the entry point a call's result is an outcome: a summarised call's constants
            // split the classes, other calls' results are counted with the call. In a
            // summarised function nothing splits on a callee's result (its paths merge into
            // the function's outcomes), so a branch on it is one on the state the callee
            // read: its arm is worth a PCV (the loop behind an expiry test, entered only when
            // something expires). Intrinsics are arithmetic.
            let intrinsic = llvm::as_function(llvm::called_value(v)).is_some_and(|f| llvm::name(f).starts_with("llvm."));
            if !intrinsic {
                return !entry;
            }
            (0..llvm::num_operands(v).saturating_sub(1)).any(|k| depends_on_state(llvm::operand(v, k), packet, entry, budget, seen))
        }
        LLVMOpcode::LLVMAlloca => false,
        // SAFETY: operand kind queries.
        _ => (0..llvm::num_operands(v))
            .map(|k| llvm::operand(v, k))
            .filter(|o| unsafe { LLVMValueIsBasicBlock(*o) == 0 })
            .any(|o| depends_on_state(o, packet, entry, budget, seen)),
    }
}

/// Whether block `b` begins an isolation check's packet test (the volatile loads of the
/// packet's data pointer and length the isolation pass puts in its cold block).
fn is_packet_test(b: LLVMBasicBlockRef) -> bool {
    let first = llvm::instructions(b).into_iter().find(|i| !is_debug_call(*i));
    // SAFETY: a query on a load.
    first.is_some_and(|i| {
        llvm::opcode(i) == Some(LLVMOpcode::LLVMLoad) && unsafe { LLVMGetVolatile(i) } != 0 && bounds_offset(llvm::operand(i, 0)) == Some(BOUNDS_PKT_DATA)
    })
}

/// The names of the functions block `b` calls directly (debug intrinsics left out).
fn callees(b: LLVMBasicBlockRef) -> impl Iterator<Item = String> {
    llvm::instructions(b)
        .into_iter()
        .filter(|i| llvm::opcode(*i) == Some(LLVMOpcode::LLVMCall) && !is_debug_call(*i))
        .map(|i| llvm::as_function(llvm::called_value(i)).map(llvm::name).unwrap_or_default())
}

/// Whether a function is the isolation slow path or the violation exit.
fn is_cold_check_fn(name: &str) -> bool {
    matches!(name, "nfcc__check" | "nfcc__violation")
}

/// Whether block `b` calls a function other than an intrinsic or the isolation slow path
/// (an indirect call included): such a call's cost depends on its outcome, which the
/// classes (or the call's own PCVs) tell apart, and an arm charged at its dearest run would
/// lose that.
fn calls_out(b: LLVMBasicBlockRef) -> bool {
    callees(b).any(|n| !(n.starts_with("llvm.") || is_cold_check_fn(&n)))
}

/// Whether block `b` calls the isolation slow path or the violation exit.
fn is_cold_check(b: LLVMBasicBlockRef) -> bool {
    callees(b).any(|n| is_cold_check_fn(&n))
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: created in `Program::new`, disposed once.
        unsafe { LLVMDisposeTargetData(self.td) }
    }
}

fn section(g: Value) -> String {
    // SAFETY: query on a global.
    unsafe {
        let p = LLVMGetSection(g);
        if p.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

impl Program {
    /// Reads `modules` (the module first, then the runtime).
    pub fn new(modules: &[LLVMModuleRef], entry: &str) -> Result<Program, SymbexError> {
        let first = *modules.first().ok_or_else(|| SymbexError::Input("no module".into()))?;
        // SAFETY: the data layout string belongs to the module.
        let td = unsafe { LLVMCreateTargetData(LLVMGetDataLayoutStr(first)) };
        let mut p = Program {
            functions: HashMap::new(),
            loops: Vec::new(),
            global_addr: HashMap::new(),
            global_ranges: Vec::new(),
            function_at: HashMap::new(),
            function_addr: HashMap::new(),
            data_range: (0, 0),
            rodata_range: (0, 0),
            td,
            branches: HashMap::new(),
            arms: HashMap::new(),
            blocks: Default::default(),
            edges: Default::default(),
            innermost: HashMap::new(),
        };
        // Globals: the module's data section, its rodata section, then the rest.
        let mut defs: Vec<(Value, String, u64, u64, String)> = Vec::new();
        for &m in modules {
            for g in llvm::globals(m) {
                let name = llvm::name(g);
                // SAFETY: queries on a global of the module.
                let (is_decl, ty) = unsafe { (LLVMIsDeclaration(g) != 0, LLVMGlobalGetValueType(g)) };
                if is_decl || defs.iter().any(|d| d.1 == name && !name.is_empty()) {
                    continue;
                }
                let size = llvm::alloc_size(td, ty).max(1);
                // SAFETY: query.
                let align = unsafe { LLVMGetAlignment(g) }.max(1) as u64;
                defs.push((g, name, size, align, section(g)));
            }
        }
        let mut at = layout::GLOBALS;
        for pass in ["nfcc_data", "nfcc_rodata", ""] {
            let start = at;
            for (g, name, size, align, sec) in &defs {
                let here = match pass {
                    "" => sec != "nfcc_data" && sec != "nfcc_rodata",
                    s => sec == s,
                };
                if !here {
                    continue;
                }
                at = at.div_ceil((*align).max(16)) * (*align).max(16);
                let addr = if name == "nfcc__bounds" { layout::BOUNDS } else { at };
                if name != "nfcc__bounds" {
                    at += size;
                }
                // SAFETY: query.
                let constant = unsafe { LLVMIsGlobalConstant(*g) != 0 };
                p.global_addr.insert(name.clone(), addr);
                p.global_ranges.push((addr, *size, *g, constant, name.clone()));
            }
            match pass {
                "nfcc_data" => p.data_range = (start, at),
                "nfcc_rodata" => p.rodata_range = (start, at),
                _ => {}
            }
            at += 0x1000;
        }
        for (sym, v) in [
            ("__start_nfcc_data", p.data_range.0),
            ("__stop_nfcc_data", p.data_range.1),
            ("__start_nfcc_rodata", p.rodata_range.0),
            ("__stop_nfcc_rodata", p.rodata_range.1),
        ] {
            p.global_addr.insert(sym.into(), v);
        }
        let mut faddr = layout::FUNCTIONS;
        for &m in modules {
            for f in llvm::functions(m) {
                let name = llvm::name(f);
                if !p.function_addr.contains_key(&name) {
                    p.function_addr.insert(name.clone(), faddr);
                    p.function_at.insert(faddr, name.clone());
                    faddr += 16;
                }
                if !llvm::is_definition(f) || p.functions.contains_key(&name) {
                    continue;
                }
                let loops = p.find_loops(f, llvm::name(f) == entry);
                p.functions.insert(name.clone(), Rc::new(Function { value: f, name, loops, file: llvm::function_file(f), order: block_order(f) }));
            }
        }
        Ok(p)
    }

    /// Instructions of `b` (cached).
    pub fn instructions(&self, b: LLVMBasicBlockRef) -> Rc<Vec<Value>> {
        self.blocks.borrow_mut().entry(b).or_insert_with(|| Rc::new(llvm::instructions(b))).clone()
    }

    /// What taking the edge `from -> to` costs on its own (`nfcc.edge.cost`: machine code
    /// code generation placed on that edge), as (instructions, memory accesses).
    pub fn edge_cost(&self, from: LLVMBasicBlockRef, to: LLVMBasicBlockRef) -> (u64, u64) {
        let list = self
            .edges
            .borrow_mut()
            .entry(from)
            .or_insert_with(|| {
                // SAFETY: wrapping a block handle of the program.
                let bb = unsafe { inkwell::basic_block::BasicBlock::new(from) }.expect("a block");
                let succs = llvm::successors(from);
                Rc::new(
                    nfcc_passes::cost::edge_costs(bb)
                        .into_iter()
                        .filter_map(|(k, c)| succs.get(k as usize).map(|s| (*s, c.instructions, c.memory())))
                        .collect(),
                )
            })
            .clone();
        // A successor named twice (a switch) has the edge's cost on each index: the dearest.
        list.iter().filter(|(s, ..)| *s == to).fold((0, 0), |a, (_, i, m)| (a.0.max(*i), a.1.max(*m)))
    }

    /// Loops containing `b`, innermost first.
    pub fn loops_of(&self, b: LLVMBasicBlockRef) -> &[usize] {
        self.innermost.get(&b).map(|v| v.as_slice()).unwrap_or(&[])
    }

    fn find_loops(&mut self, f: Value, is_entry: bool) -> HashMap<LLVMBasicBlockRef, usize> {
        let blocks = llvm::blocks(f);
        let index: HashMap<LLVMBasicBlockRef, usize> = blocks.iter().enumerate().map(|(i, b)| (*b, i)).collect();
        let succs: Vec<Vec<usize>> = blocks.iter().map(|b| flow_successors(*b).iter().map(|s| index[s]).collect()).collect();
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); blocks.len()];
        for (i, ss) in succs.iter().enumerate() {
            for &s in ss {
                preds[s].push(i);
            }
        }
        // Dominators, iteratively over bit sets (functions here are small), as the tracing
        // variant's counters find the same loops (`passes::trace`).
        let n = blocks.len();
        let dom = llvm::dominators(&preds);
        let mut by_header: HashMap<usize, HashSet<usize>> = HashMap::new();
        for (u, ss) in succs.iter().enumerate() {
            for &h in ss {
                if dom[u][h] {
                    // Natural loop of the back edge u -> h.
                    let body = by_header.entry(h).or_insert_with(|| HashSet::from([h]));
                    let mut work = vec![u];
                    while let Some(x) = work.pop() {
                        if body.insert(x) {
                            work.extend(preds[x].iter().copied());
                        }
                    }
                }
            }
        }
        let mut result = HashMap::new();
        let mut headers: Vec<_> = by_header.into_iter().collect();
        headers.sort_by_key(|(h, _)| *h);
        let first = self.loops.len();
        let mut bodies: Vec<(usize, HashSet<usize>)> = Vec::new();
        for (h, body) in headers {
            bodies.push((h, body.clone()));
            let id = self.loops.len();
            let body: HashSet<LLVMBasicBlockRef> = body.into_iter().map(|i| blocks[i]).collect();
            let writes = body.iter().any(|b| {
                llvm::instructions(*b).iter().any(|i| {
                    matches!(llvm::opcode(*i), Some(LLVMOpcode::LLVMStore | LLVMOpcode::LLVMCall | LLVMOpcode::LLVMAtomicRMW | LLVMOpcode::LLVMAtomicCmpXchg))
                        && !is_debug_call(*i)
                })
            });
            // Line 0 is code the compiler made of several lines (a do-while's merged test):
            // the first instruction with a line of its own names the loop.
            let location = llvm::instructions(blocks[h])
                .iter()
                .find_map(|i| llvm::debug_location(*i).filter(|(_, l)| *l != 0))
                .map(|(f, l)| format!("{}:{l}", short(&f)))
                .unwrap_or_else(|| format!("{}:block{h}", llvm::name(f)));
            result.insert(blocks[h], id);
            for b in &body {
                self.innermost.entry(*b).or_default().push(id);
            }
            self.loops.push(Loop { header: blocks[h], body, writes, location, id, function: llvm::name(f), header_index: h });
        }
        // Innermost first: smaller bodies first.
        let loops = &self.loops;
        for v in self.innermost.values_mut() {
            v.sort_by_key(|id| loops[*id].body.len());
        }
        // Branches: per loop, the blocks whose innermost loop it is that miss a latch's
        // dominators.
        for (k, (h, body)) in bodies.iter().enumerate() {
            let id = first + k;
            let latches: Vec<usize> = preds[*h].iter().copied().filter(|u| body.contains(u)).collect();
            for &b in body {
                if b == *h || self.innermost[&blocks[b]].first() != Some(&id) || latches.iter().all(|u| dom[*u][b]) {
                    continue;
                }
                let location = llvm::instructions(blocks[b])
                    .iter()
                    .find_map(|i| llvm::debug_location(*i))
                    .map(|(f, l)| format!("{}:{l}", short(&f)))
                    .unwrap_or_else(|| self.loops[id].location.clone());
                self.branches.insert(blocks[b], Branch { loop_id: id, function: llvm::name(f), index: b, location });
            }
        }
        // Arms of branches on module state outside loops.
        let in_loop = |b: usize| self.innermost.contains_key(&blocks[b]);
        let mut reachable = vec![false; n];
        let mut work = vec![0usize];
        while let Some(b) = work.pop() {
            if n > 0 && !reachable[b] {
                reachable[b] = true;
                work.extend(succs[b].iter().copied());
            }
        }
        // SAFETY: the entry point's packet parameter.
        let packet = (is_entry && unsafe { LLVMCountParams(f) } > 0).then(|| unsafe { LLVMGetParam(f, 0) });
        for a in 0..n {
            // SAFETY: the block's terminator.
            let term = unsafe { LLVMGetBasicBlockTerminator(blocks[a]) };
            if !reachable[a] || term.is_null() || llvm::opcode(term) != Some(LLVMOpcode::LLVMBr) || succs[a].len() != 2 || succs[a][0] == succs[a][1] {
                continue;
            }
            // SAFETY: a conditional branch's condition.
            let cond = unsafe { LLVMGetCondition(term) };
            let state = depends_on_state(cond, packet, is_entry, &mut 200, &mut HashSet::new());
            // Each side's arm, if it is one: (side, entry, region, exit, packet test).
            let mut sides: Vec<(usize, usize, Vec<usize>, usize, bool)> = Vec::new();
            for (side, &e) in succs[a].iter().enumerate() {
                let mut from: Vec<usize> = preds[e].clone();
                from.dedup();
                if from != [a] || in_loop(e) || is_cold_check(blocks[e]) {
                    continue;
                }
                let packet_test = is_packet_test(blocks[e]);
                if !state && !packet_test {
                    continue;
                }
                // The blocks `e` dominates, cut at the headers of the loops they enter: a
                // side that leads into a loop (a preheader behind its guard) ends there.
                let headers: HashSet<usize> = bodies.iter().map(|(h, _)| *h).collect();
                let mut region: Vec<usize> = Vec::new();
                let mut seen: HashSet<usize> = HashSet::from([e]);
                let mut work = vec![e];
                let mut exits: HashSet<usize> = HashSet::new();
                let mut ok = true;
                while let Some(b) = work.pop() {
                    // SAFETY: the block's terminator.
                    let t = unsafe { LLVMGetBasicBlockTerminator(blocks[b]) };
                    ok &= !in_loop(b) && !t.is_null() && llvm::opcode(t) != Some(LLVMOpcode::LLVMRet) && !calls_out(blocks[b]);
                    region.push(b);
                    for &x in &succs[b] {
                        if !(reachable[x] && dom[x][e]) || headers.contains(&x) {
                            exits.insert(x);
                        } else if seen.insert(x) {
                            work.push(x);
                        }
                    }
                }
                region.sort_unstable();
                if !ok || exits.len() != 1 {
                    continue;
                }
                sides.push((side, e, region, exits.into_iter().next().expect("one exit"), packet_test));
            }
            // An arm is worth its PCV only if the other side costs nothing of its own: it
            // goes straight to the arm's exit, or it is an arm to the same exit. Otherwise
            // the path skipping the arm would set the class's constant with its own code,
            // and the arm would be paid on top of it.
            let keep: Vec<bool> = sides
                .iter()
                .map(|(side, _, region, exit, _)| {
                    let other = succs[a][1 - side];
                    // A loop's preheader behind its guard: the arm leads only into a loop
                    // that nothing else enters.
                    let preheader = bodies.iter().any(|(h, body)| h == exit && preds[*h].iter().all(|p| body.contains(p) || region.contains(p)));
                    other == *exit || preheader || sides.iter().any(|(s2, _, _, x2, _)| s2 != side && x2 == exit)
                })
                .collect();
            for ((side, e, region, _, packet_test), keep) in sides.into_iter().zip(keep) {
                if !keep {
                    continue;
                }
                let location = llvm::debug_location(term)
                    .or_else(|| llvm::instructions(blocks[e]).iter().find_map(|i| llvm::debug_location(*i)))
                    .map(|(f, l)| format!("{}:{l}", short(&f)))
                    .unwrap_or_else(|| format!("{}:block{e}", llvm::name(f)));
                self.arms.insert(
                    blocks[e],
                    Arm {
                        region: region.iter().map(|b| blocks[*b]).collect(),
                        function: llvm::name(f),
                        index: e,
                        location,
                        when_true: side == 0,
                        packet_test,
                    },
                );
            }
        }
        result
    }
}

/// The file name without its directories.
pub fn short(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Whether `i` calls a debug intrinsic (which generates no code).
pub fn is_debug_call(i: Value) -> bool {
    if llvm::opcode(i) != Some(LLVMOpcode::LLVMCall) {
        return false;
    }
    llvm::as_function(llvm::called_value(i)).is_some_and(|f| {
        let n = llvm::name(f);
        n.starts_with("llvm.dbg.") || n.starts_with("llvm.lifetime.") || n == "llvm.assume" || n.starts_with("llvm.experimental.noalias")
    })
}

/// Each block's reverse-postorder index (from the entry) and predecessor count.
fn block_order(f: Value) -> HashMap<LLVMBasicBlockRef, (usize, usize)> {
    let blocks = llvm::blocks(f);
    let Some(&entry) = blocks.first() else { return HashMap::new() };
    let mut preds: HashMap<LLVMBasicBlockRef, usize> = HashMap::new();
    for &b in &blocks {
        for s in flow_successors(b) {
            *preds.entry(s).or_insert(0) += 1;
        }
    }
    // Iterative depth-first search; a block is finished when its successors are.
    let mut post = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![(entry, flow_successors(entry), 0usize)];
    seen.insert(entry);
    while let Some((b, succ, next)) = stack.last_mut() {
        if let Some(&s) = succ.get(*next) {
            *next += 1;
            if seen.insert(s) {
                let ss = flow_successors(s);
                stack.push((s, ss, 0));
            }
        } else {
            post.push(*b);
            stack.pop();
        }
    }
    let n = post.len();
    post.iter().enumerate().map(|(i, b)| (*b, (n - 1 - i, preds.get(b).copied().unwrap_or(0)))).collect()
}

/// The blocks control may go on to from `b`: none when `b` calls the runtime's
/// `nfcc__violation`, which never returns (the build points a failed check's block at the
/// way on after that call, for code generation's sake; the edge never runs), else its
/// terminator's successors.
pub fn flow_successors(b: LLVMBasicBlockRef) -> Vec<LLVMBasicBlockRef> {
    if callees(b).any(|n| n == "nfcc__violation") {
        return Vec::new();
    }
    llvm::successors(b)
}


/// The width in bits of a first-class scalar or vector type; `None` for aggregates and floats.
pub fn bits(t: LLVMTypeRef) -> Option<u32> {
    // SAFETY: type queries.
    unsafe {
        match LLVMGetTypeKind(t) {
            LLVMTypeKind::LLVMIntegerTypeKind => Some(LLVMGetIntTypeWidth(t)),
            LLVMTypeKind::LLVMPointerTypeKind => Some(64),
            LLVMTypeKind::LLVMVectorTypeKind => {
                let e = bits(LLVMGetElementType(t))?;
                Some(e * LLVMGetVectorSize(t))
            }
            _ => None,
        }
    }
}
