//! Machine cost on every basic block, taken from the x86-64 code that is actually emitted.
//!
//! This module is the one owner of the cost metadata. [`AnnotateCosts`] (pipeline stage
//! `annotate-costs`, run last) attaches `!nfcc.cost !{i64 instructions, i64 mem_reads,
//! i64 mem_writes, i64 ir_instructions}` to the terminator of every block of every defined
//! function; [`block_cost`] reads it back.
//!
//! # Method
//! 1. Every unnamed block gets a deterministic name (`nfcc.bbN`, N its position); names do
//!    not change code generation.
//! 2. A clone of the module is compiled to verbose assembly by the same target machine the
//!    driver emits the object with (code generation rewrites the IR it runs on, hence the
//!    clone). Verbose assembly marks each machine block (`.LBB0_3:` or `# %bb.1:`) with the
//!    IR block it came from (`# %if.then`).
//! 3. Every instruction is classified as valgrind 3.19 (callgrind/cachegrind) counts it
//!    ([`classify`]): one `Ir` per instruction, `Dr`/`Dw` per the rules below.
//! 4. A machine block is charged to the IR block it names. A block that names no IR block
//!    but lies on exactly one IR edge `a -> b` (its predecessors resolve to `a` alone, its
//!    successors to `b` alone, `b` is an IR successor of `a`, and every IR successor of `a`
//!    owns machine code, so no folded-away block hides between them) is a critical-edge
//!    split holding phi copies: it runs exactly when that edge is taken, and is charged to
//!    the edge ([`EDGE_COST_MD`] on `a`'s terminator), paid only by paths taking it. So is a
//!    block whose successors resolve to `b` when `b` is reached from `a` only through the
//!    one successor `e` of `a` that owns no code, along blocks without code of one successor
//!    each (values reloaded on the way to a join the optimiser left an empty block before):
//!    it runs exactly when `a` takes the edge to `e`, which pays for it. And so is a block
//!    entered only from `a`'s one machine block when every IR successor of `a` but one, `e`,
//!    owns a named machine block `a` goes to directly and the block leads to none of them
//!    (a copy tail duplication made of `e`'s code on its way to the shared epilogue): it runs
//!    only when `a` takes the edge to `e`. A block after such an edge block (resolving
//!    through blocks that name no IR block) runs only on that edge too, and is charged to it
//!    as well (the shared epilogue after a failed lookup's counter: charged to the lookup's
//!    block, the paths that go on to return elsewhere paid it twice). And a block that
//!    leads out of the function (to no named block) after the code of an IR block `a` in one
//!    machine block is charged to the edge from `a` to its one IR successor from which a
//!    return is reached through blocks without code, each with one successor: any other
//!    successor would have run its own code first (a checksum test that skips the update
//!    and jumps straight to the epilogue).
//!    Any other block that names no IR block of the module (a block a codegen IR pass
//!    created such as `select.end`) is charged to the IR blocks of all its machine predecessors, or of all
//!    its machine successors (resolved through other such blocks). Each execution of it
//!    follows exactly one execution of one predecessor, and is followed by exactly one
//!    execution of one successor, so either way every path pays for it. The side in the
//!    shallower loop (loop depth from the assembly's loop comments) is chosen, predecessors
//!    on a tie: a block on a loop's exit edge is then paid once per exit, not once per
//!    iteration. One exception: a block that leaves the function (`ret` or a tail call)
//!    entered from inside a loop, a return block tail duplication copied onto a loop's exit,
//!    is charged to every IR block that returns: each call that returns runs exactly one
//!    such block, and its IR path ends in exactly one returning block, so it is paid once
//!    per call rather than on every iteration of the loop it leaves. A cycle made only of
//!    such blocks would run an unknown number of times per IR block and is an error.
//! 5. An IR block's cost is, per metric, the most expensive path through the machine blocks
//!    charged to it (one execution of the IR block runs a path of them, each once: e.g. a
//!    switch's range check, then either its table jump or the default's code); the plain
//!    sum if they form a cycle. One of them follows another when it may run after it
//!    directly or through blocks that name no IR block: an epilogue charged to the block
//!    before a split edge runs after that block's own code and the edge's copy, so the two
//!    add up (taking the larger of them once charged a policer's early exit 5 instructions
//!    short).
//!
//! # Why the sum along an IR path bounds the machine count along it
//! Instruction selection splits one IR block into several machine blocks (switch lowering,
//! `br (and a, b)`, select expansion); one execution of the IR block runs each of them at
//! most once, so the sum is an upper bound. Block placement only reorders, adding or
//! removing `jmp`s inside the blocks it changes, which are counted as emitted. Branch folding
//! merges a block into its only predecessor when that predecessor has no other successor:
//! the merged code runs exactly when both ran. Tail duplication copies a block's code into
//! predecessors: the copy is charged to the predecessor, so paths through it pay the copy
//! plus the original (when the original survives for other predecessors): an overcharge,
//! never an undercharge. Where every predecessor of the copied block owns machine code and
//! only some of them reach its own blocks (through blocks that name no IR block), its cost
//! moves onto the edges from those: the others run the copy and go on to its successors. Two transformations would break the mapping and are disabled by
//! [`crate::target::CODEGEN_OPTIONS`]: tail merging (one machine block running on paths
//! through two IR blocks) and loop alignment (nop padding executed on fall-through into a
//! loop header, in no block). Any `.p2align` still found inside a function is charged to
//! the block that falls into it, as the most nops that padding can take (10-byte nops for
//! the generic x86-64 CPU), and counted as `alignment-padding-charged`.
//!
//! Price of those options (`nfcc bench`, callgrind instructions per packet in `nf_process`,
//! none / wonly / rw): macswap 18.0 / 14.0 / 14.0 (unchanged from the README's table),
//! router 51.2 / 51.2 / 66.4 (none unchanged), policer none 94.6 against the README's 92.8
//! (+1.9%, measured over 5,000 packets rather than 20,000, so not strictly comparable).
//! Disabling tail duplication as well was tried and removed: it made no known-answer test
//! tighter.
//!
//! # How valgrind 3.19 counts (measured with callgrind `--cache-sim=yes --dump-instr=yes`)
//! - every instruction is one `Ir`; `lea` and every `nop` form (`nopl (%rax)`) access nothing;
//! - a memory source operand (load, `cmp`/`test`/`bt` with memory, `cmov` with memory, taken
//!   or not, SSE loads and arithmetic, `imul`/`div` with memory) is one `Dr`;
//! - a store (`mov`, `set`cc, SSE stores) is one `Dw`;
//! - a plain read-modify-write (`addl $1,(%rax)`, `inc`, `neg`, `shl`, `bts`, ...) is ONE
//!   `Dw` and no `Dr`: callgrind merges the load and store of the same address into a
//!   "modify" event, counted as a write;
//! - `lock`-prefixed read-modify-writes, `xadd` and `xchg` with memory are one `Dr` and one
//!   `Dw`; `lock cmpxchg` is one `Dw` only;
//! - `push` reg/imm: one `Dw`; `push` mem: `Dr` + `Dw`; `pop` reg: one `Dr`; `pop` mem:
//!   `Dr` + `Dw`; `call` direct or through a register: one `Dw`; `call *mem`: `Dr` + `Dw`;
//!   `jmp *mem`: one `Dr`; `ret`: one `Dr`; `leave`: one `Dr`;
//! - string instructions (`rep movs`, `rep stos`, ...) cost per iteration (`rep movsq` with
//!   `rcx` = 2: 3 `Ir`, 2 `Dr`, 2 `Dw`): they are refused with [`PassError::Cost`];
//! - valgrind drops loads whose value is dead within its superblock (a `cmp` with memory whose
//!   flags are overwritten before use, a volatile load whose result is ignored): such a load
//!   is counted here, an overcharge. Compiled code rarely contains them.
//! - An instruction with a memory operand this classifier does not know is charged one `Dr`
//!   and one `Dw` (the most one explicit operand can cost) and counted as
//!   `unclassified-memory-instructions`.
//!
//! # Drift
//! Known-answer tests (tests/fixtures/callgrind.rs: the IR path counted by a build with a
//! counter per block, the metadata summed along it, against callgrind): exact for
//! straight-line code, diamonds, calls, read-modify-writes and atomics, push/pop-heavy code;
//! a switch (default path pays for the table jump) and an unrolled loop (its exit test is
//! tail-duplicated) are over by less than 10% and 5%; early exits whose counter updates
//! were sunk into one shared block (each exit's address `lea` on its own split edge) are
//! exact through edge costs. No case is under. The per-block drift
//! on the example NFs is not measured yet.

use crate::{OptLevel, PassError};
use inkwell::basic_block::BasicBlock;
use inkwell::module::Module;
use inkwell::targets::FileType;
use inkwell::values::{FunctionValue, InstructionOpcode};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The metadata kind attached to every block's terminator.
/// Operands: `!{i64 instructions, i64 mem_reads, i64 mem_writes, i64 ir_instructions}`.
pub const COST_MD: &str = "nfcc.cost";

/// The metadata kind attached to the terminator of a block some of whose outgoing edges
/// carry machine code of their own. Operands: groups of
/// `i64 successor_index, i64 instructions, i64 mem_reads, i64 mem_writes`, one per
/// successor whose edge costs something; that cost is paid each time the edge is taken, on
/// top of the two blocks' own.
pub const EDGE_COST_MD: &str = "nfcc.edge.cost";

/// What one execution of a basic block costs on the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockCost {
    /// x86-64 instructions executed (valgrind's `Ir`).
    pub instructions: u64,
    /// Memory reads (valgrind's `Dr`).
    pub reads: u64,
    /// Memory writes (valgrind's `Dw`).
    pub writes: u64,
    /// Non-debug, non-phi IR instructions of the block.
    pub ir_instructions: u64,
}

impl BlockCost {
    /// Memory accesses: reads plus writes.
    pub fn memory(&self) -> u64 {
        self.reads + self.writes
    }
}

/// Reads the cost metadata of `bb` back; `None` if the block has none (or it is malformed).
pub fn block_cost(bb: BasicBlock<'_>) -> Option<BlockCost> {
    let kind = bb.get_context().get_kind_id(COST_MD);
    let md = bb.get_terminator()?.get_metadata(kind)?;
    let values = md.get_node_values()?;
    if values.len() != 4 {
        return None;
    }
    let mut n = [0u64; 4];
    for (slot, v) in n.iter_mut().zip(values) {
        match v {
            inkwell::values::BasicMetadataValueEnum::IntValue(i) => *slot = i.get_zero_extended_constant()?,
            _ => return None,
        }
    }
    Some(BlockCost { instructions: n[0], reads: n[1], writes: n[2], ir_instructions: n[3] })
}

/// Reads [`EDGE_COST_MD`] of `bb` back: (successor index, cost) per costed edge; empty if
/// the block has none. `ir_instructions` is 0 (an edge holds no IR instruction).
pub fn edge_costs(bb: BasicBlock<'_>) -> Vec<(u32, BlockCost)> {
    let kind = bb.get_context().get_kind_id(EDGE_COST_MD);
    let Some(values) = bb.get_terminator().and_then(|t| t.get_metadata(kind)).and_then(|md| md.get_node_values()) else {
        return Vec::new();
    };
    let ints: Option<Vec<u64>> = values
        .iter()
        .map(|v| match v {
            inkwell::values::BasicMetadataValueEnum::IntValue(i) => i.get_zero_extended_constant(),
            _ => None,
        })
        .collect();
    let Some(ints) = ints.filter(|v| v.len() % 4 == 0) else { return Vec::new() };
    ints.chunks(4)
        .map(|c| (c[0] as u32, BlockCost { instructions: c[1], reads: c[2], writes: c[3], ir_instructions: 0 }))
        .collect()
}

/// Memory accesses of one instruction, as valgrind counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsnCost {
    /// `Dr`.
    pub reads: u64,
    /// `Dw`.
    pub writes: u64,
    /// The instruction has a memory operand the classifier does not know (charged 1 + 1).
    pub unclassified: bool,
}

const fn rw(reads: u64, writes: u64) -> InsnCost {
    InsnCost { reads, writes, unclassified: false }
}

/// Splits AT&T operands at top-level commas (not inside parentheses).
fn split_operands(text: &str) -> Vec<&str> {
    let mut v = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                v.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = text[start..].trim();
    if !last.is_empty() {
        v.push(last);
    }
    v
}

/// Whether an AT&T operand addresses memory (`8(%rax)`, `sym(%rip)`, `*(%rax)`, `sym`).
fn is_memory(op: &str) -> bool {
    let op = op.strip_prefix('*').unwrap_or(op);
    !(op.starts_with('$') || op.starts_with('%'))
}

/// `name` is `base` with an optional AT&T size suffix.
fn sized(name: &str, base: &str) -> bool {
    name == base
        || (name.len() == base.len() + 1
            && name.starts_with(base)
            && matches!(name.as_bytes()[base.len()], b'b' | b'w' | b'l' | b'q'))
}

fn is_any_sized(name: &str, bases: &[&str]) -> bool {
    bases.iter().any(|b| sized(name, b))
}

/// Plain read-modify-write instructions: with a memory destination, one `Dw` (callgrind's
/// merged "modify" event), or one `Dr` + one `Dw` under `lock`.
const RMW: &[&str] = &[
    "add", "sub", "and", "or", "xor", "adc", "sbb", "inc", "dec", "neg", "not", "shl", "shr", "sar",
    "sal", "rol", "ror", "rcl", "rcr", "bts", "btr", "btc", "shld", "shrd",
];
/// Instructions whose last operand is read, never written.
const COMPARE: &[&str] = &["cmp", "test", "bt"];
/// Single-operand instructions that only read their operand.
const READ_ONLY_UNARY: &[&str] = &["mul", "imul", "div", "idiv"];
/// String instructions: their cost depends on data (with `rep`) and on `rsi`/`rdi`.
const STRING: &[&str] = &["movs", "stos", "lods", "scas", "cmps", "ins", "outs"];

/// Classifies one instruction line of AT&T assembly (`mnemonic operands`, prefixes such as
/// `lock` allowed) as valgrind counts it. `Err` for instructions whose cost depends on data.
pub fn classify(line: &str) -> Result<InsnCost, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let mut rest = line;
    let mut lock = false;
    let mnemonic;
    // Prefixes come first, separated by spaces or `;`.
    loop {
        let end = rest.find(|c: char| c.is_whitespace() || c == ';').unwrap_or(rest.len());
        let word = &rest[..end];
        rest = rest[end..].trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        match word {
            "lock" => lock = true,
            "rep" | "repe" | "repz" | "repne" | "repnz" => {
                return Err(format!("`{line}`: a rep-prefixed instruction costs per iteration"))
            }
            "notrack" | "data16" | "cs" | "ds" | "ss" | "es" => {}
            _ => {
                mnemonic = word;
                break;
            }
        }
    }
    let ops = split_operands(rest);
    let xmm = ops.iter().any(|o| o.contains("%xmm"));
    let string_op = (ops.is_empty() || rest.contains("%es:")) && is_any_sized(mnemonic, STRING);
    if string_op || (mnemonic == "movsd" && !xmm) {
        return Err(format!("`{line}`: string instructions are not costed (their cost depends on data)"));
    }
    let mem: Vec<usize> = ops.iter().enumerate().filter(|(_, o)| is_memory(o)).map(|(i, _)| i).collect();
    let has_mem = !mem.is_empty();
    let mem_is_last = has_mem && mem.contains(&(ops.len() - 1));
    let m = mnemonic;

    // Control flow and the stack.
    if m.starts_with('j') {
        // Direct jumps name a label; `jmp *mem` reads the target.
        let reads = ops.first().is_some_and(|o| o.starts_with('*') && is_memory(o));
        return Ok(rw(reads as u64, 0));
    }
    if sized(m, "call") {
        let reads = ops.first().is_some_and(|o| o.starts_with('*') && is_memory(o));
        return Ok(rw(reads as u64, 1));
    }
    if sized(m, "ret") || sized(m, "leave") {
        return Ok(rw(1, 0));
    }
    if sized(m, "push") || m == "pushf" || m == "pushfq" {
        return Ok(rw(has_mem as u64, 1));
    }
    if sized(m, "pop") || m == "popf" || m == "popfq" {
        return Ok(rw(1, has_mem as u64));
    }
    if !has_mem || sized(m, "lea") || m.starts_with("nop") || m.starts_with("prefetch") {
        return Ok(rw(0, 0));
    }
    if mem.len() > 1 {
        return Ok(InsnCost { reads: 1, writes: 1, unclassified: true });
    }
    // Exactly one explicit memory operand from here on.
    if is_any_sized(m, &["xchg", "xadd"]) {
        return Ok(rw(1, 1));
    }
    if m.starts_with("cmpxchg") {
        return Ok(rw(0, 1));
    }
    if !mem_is_last {
        // A source operand: read, never written (the destination is a register).
        return Ok(rw(1, 0));
    }
    // The memory operand is the last one: a destination, or the only operand.
    if is_any_sized(m, COMPARE) {
        return Ok(rw(1, 0));
    }
    if ops.len() == 1 && is_any_sized(m, READ_ONLY_UNARY) {
        return Ok(rw(1, 0));
    }
    if is_any_sized(m, RMW) {
        return Ok(if lock { rw(1, 1) } else { rw(0, 1) });
    }
    if m.starts_with("mov") || m.starts_with("set") || m.starts_with("pextr") || m == "extractps" || m == "stmxcsr"
    {
        return Ok(rw(0, 1));
    }
    Ok(InsnCost { reads: 1, writes: 1, unclassified: true })
}

/// One machine basic block of the emitted assembly.
#[derive(Debug, Clone, Default)]
pub struct MachineBlock {
    /// The label (`.LBB0_3`), if the block has one; blocks reached only by fall-through
    /// have none.
    pub label: Option<String>,
    /// The IR block named in the assembly comment, if any.
    pub ir_block: Option<String>,
    /// x86 instructions.
    pub instructions: u64,
    /// Memory reads, as valgrind counts them.
    pub reads: u64,
    /// Memory writes, as valgrind counts them.
    pub writes: u64,
    /// Instructions with a memory operand the classifier does not know.
    pub unclassified: u64,
    /// Labels this block jumps to.
    pub targets: Vec<String>,
    /// The block may fall through into the next one in layout.
    pub falls_through: bool,
    /// The block ends with an indirect jump (a jump table).
    pub indirect: bool,
    /// The block leaves the function: it ends with `ret` or a tail call.
    pub exits: bool,
    /// Upper bound on nop instructions executed on fall-through into the next block
    /// (alignment padding before it).
    pub padding_nops: u64,
    /// Loop depth, from the assembly's loop comments (0 outside loops).
    pub loop_depth: u32,
}

/// One function of the emitted assembly.
#[derive(Debug, Clone, Default)]
pub struct AsmFunction {
    /// Symbol name.
    pub name: String,
    /// Machine blocks in layout order; the first is the entry.
    pub blocks: Vec<MachineBlock>,
    /// Targets of the function's jump tables.
    pub jump_table_targets: Vec<String>,
}

/// The largest nop the assembler emits for the generic x86-64 CPU (bytes).
const MAX_NOP_BYTES: u64 = 10;

/// Parses LLVM's verbose x86-64 AT&T assembly into functions and machine blocks.
pub fn parse_asm(text: &str) -> Result<Vec<AsmFunction>, PassError> {
    let mut functions: Vec<AsmFunction> = Vec::new();
    let mut declared: HashSet<String> = HashSet::new();
    let mut current: Option<AsmFunction> = None;
    // Jump-table entries (`.long .LBB0_3-.LJTI0_0`), keyed by the function number in the label.
    let mut tables: HashMap<String, Vec<String>> = HashMap::new();
    let mut numbers: HashMap<String, String> = HashMap::new();
    let err = |f: &str, message: String| PassError::Cost { function: f.to_string(), message };

    let finish = |f: AsmFunction, functions: &mut Vec<AsmFunction>| functions.push(f);
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix(".type") {
            let rest = rest.trim();
            if let Some(name) = rest.strip_suffix(",@function") {
                declared.insert(unquote(name.trim()).to_string());
            }
            continue;
        }
        if line.starts_with(".long") || line.starts_with(".quad") {
            let value = line.split_whitespace().nth(1).unwrap_or("");
            let target = value.split('-').next().unwrap_or("");
            if let Some(num) = target.strip_prefix(".LBB").and_then(|r| r.split('_').next()) {
                tables.entry(num.to_string()).or_default().push(target.to_string());
            }
            continue;
        }
        // A new machine block: `.LBB0_3:  # %name` or `# %bb.1:  # %name`.
        let block_start = if let Some(rest) = line.strip_prefix("# %bb.") {
            rest.find(':').map(|i| (None, &rest[i + 1..]))
        } else if line.starts_with(".LBB") {
            line.find(':').map(|i| (Some(line[..i].to_string()), &line[i + 1..]))
        } else {
            None
        };
        if let Some((label, comment)) = block_start {
            let Some(f) = current.as_mut() else { continue };
            let ir_block = comment.trim().strip_prefix("# %").map(|n| unquote(n.trim()).to_string());
            if let Some(num) = label.as_deref().and_then(|l| l[4..].split('_').next()) {
                numbers.insert(f.name.clone(), num.to_string());
            }
            f.blocks.push(MachineBlock { label, ir_block, falls_through: true, ..MachineBlock::default() });
            continue;
        }
        if line.starts_with('#') {
            // `# =>This Inner Loop Header: Depth=2`, `# in Loop: Header=BB0_2 Depth=1`.
            if let (Some(f), Some(d)) = (current.as_mut(), line.split("Depth=").nth(1)) {
                if let (Some(b), Ok(d)) = (f.blocks.last_mut(), d.trim().parse::<u32>()) {
                    if b.instructions == 0 {
                        b.loop_depth = d;
                    }
                }
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        // A label: a function start, the function end, or a local label.
        if let Some(name) = line.split('#').next().unwrap_or("").trim().strip_suffix(':') {
            let name = unquote(name);
            if declared.contains(name) && !name.starts_with(".L") {
                if let Some(f) = current.take() {
                    finish(f, &mut functions);
                }
                current = Some(AsmFunction { name: name.to_string(), ..AsmFunction::default() });
            } else if name.starts_with(".Lfunc_end") {
                if let Some(f) = current.take() {
                    finish(f, &mut functions);
                }
            }
            continue;
        }
        let Some(f) = current.as_mut() else { continue };
        if let Some(rest) = line.strip_prefix(".p2align") {
            let log2: u64 = rest.trim().split(',').next().unwrap_or("").trim().parse().map_err(|_| {
                err(&f.name, format!("cannot read alignment `{line}`"))
            })?;
            let pad = (1u64 << log2.min(12)) - 1;
            if let Some(b) = f.blocks.last_mut() {
                b.padding_nops += pad.div_ceil(MAX_NOP_BYTES);
            }
            continue;
        }
        if line.starts_with('.') {
            continue; // directives: .cfi_*, .loc, ...
        }
        // An instruction.
        let name = f.name.clone();
        if f.blocks.is_empty() {
            // Code generated from IR starts every function with a block marker; this is a
            // function written in module-level assembly (the runtime's stack switch). No
            // IR block owns it, so it gets no metadata: the engine reports a call to it.
            current = None;
            continue;
        }
        // `jcc a; jmp b` ending a block: the `jmp` runs only on the way to `b`. It becomes a
        // block of its own, which names no IR block, so that it is charged to the edge it
        // lies on (or, failing that, to a neighbour) rather than to every run of the block.
        let first_word = line.split_whitespace().next().unwrap_or("");
        if (first_word == "jmp" || first_word == "jmpq")
            && f.blocks.last().is_some_and(|b| !b.targets.is_empty() && !b.indirect)
        {
            let depth = f.blocks.last().map_or(0, |b| b.loop_depth);
            f.blocks.push(MachineBlock { falls_through: true, loop_depth: depth, ..MachineBlock::default() });
        }
        let Some(b) = f.blocks.last_mut() else {
            return Err(err(&name, format!("instruction `{line}` before the first block marker")));
        };
        let c = classify(line).map_err(|m| err(&name, m))?;
        b.instructions += 1;
        b.reads += c.reads;
        b.writes += c.writes;
        b.unclassified += c.unclassified as u64;
        let text = line.split('#').next().unwrap_or("").trim();
        let mut words = text.split_whitespace();
        let mut m = words.next().unwrap_or("");
        if m == "notrack" {
            m = words.next().unwrap_or("");
        }
        let operand = words.next().unwrap_or("");
        if m.starts_with('j') {
            let unconditional = m == "jmp" || m == "jmpq";
            if operand.starts_with('*') {
                b.indirect = true;
            } else if operand.starts_with(".LBB") {
                b.targets.push(operand.to_string());
            }
            // A jump to a function symbol is a tail call: it leaves the function.
            if unconditional {
                b.falls_through = false;
                b.exits = !operand.starts_with('*') && !operand.starts_with(".LBB");
            }
        } else if sized(m, "ret") {
            b.falls_through = false;
            b.exits = true;
        } else if m == "ud2" {
            b.falls_through = false;
        }
    }
    if let Some(f) = current.take() {
        finish(f, &mut functions);
    }
    for f in &mut functions {
        if let Some(num) = numbers.get(&f.name) {
            f.jump_table_targets = tables.get(num).cloned().unwrap_or_default();
        }
    }
    Ok(functions)
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s)
}

/// Machine costs charged to each IR block of one function, by IR block name.
#[derive(Debug, Default)]
pub struct Mapping {
    /// IR block name -> (instructions, reads, writes).
    pub costs: BTreeMap<String, (u64, u64, u64)>,
    /// IR edge (from, to) -> (instructions, reads, writes) of the machine blocks on it.
    pub edges: BTreeMap<(String, String), (u64, u64, u64)>,
    /// Machine blocks that named an IR block of the function.
    pub mapped: u64,
    /// Machine blocks charged to the IR blocks of their predecessors or successors.
    pub charged_to_neighbour: u64,
    /// IR blocks whose cost moved onto the edges from the predecessors that run their code
    /// (tail duplication copied it into the others).
    pub moved_to_edges: u64,
    /// Machine blocks that name no IR block and leave the function, charged to the
    /// returning IR blocks.
    pub charged_to_return: u64,
    /// Machine blocks charged to the one IR edge they lie on.
    pub charged_to_edge: u64,
    /// Machine blocks no path reaches (charged nowhere).
    pub unreachable: u64,
    /// Nops of alignment padding charged.
    pub padding_nops: u64,
    /// Instructions charged the conservative 1 + 1 accesses.
    pub unclassified: u64,
}

/// Charges every machine block of `f` to IR blocks named in `ir_names`, or to IR edges
/// (`ir_succs`: each IR block's successors, by name), or to the IR blocks that return
/// (`ir_returns`) (see the module doc).
pub fn map_function(
    f: &AsmFunction,
    ir_names: &HashSet<String>,
    ir_succs: &HashMap<String, Vec<String>>,
    ir_returns: &[String],
) -> Result<Mapping, PassError> {
    let err = |message: String| PassError::Cost { function: f.name.clone(), message };
    let n = f.blocks.len();
    let index: HashMap<&str, usize> =
        f.blocks.iter().enumerate().filter_map(|(i, b)| b.label.as_deref().map(|l| (l, i))).collect();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, b) in f.blocks.iter().enumerate() {
        let mut succ: Vec<usize> = Vec::new();
        for t in &b.targets {
            succ.push(*index.get(t.as_str()).ok_or_else(|| err(format!("jump to unknown label {t}")))?);
        }
        if b.indirect {
            for t in &f.jump_table_targets {
                succ.push(*index.get(t.as_str()).ok_or_else(|| err(format!("jump table names unknown label {t}")))?);
            }
        }
        if b.falls_through && i + 1 < n {
            succ.push(i + 1);
        }
        succ.sort_unstable();
        succ.dedup();
        for &s in &succ {
            preds[s].push(i);
        }
        succs[i] = succ;
    }
    let own = |i: usize| f.blocks[i].ir_block.as_ref().filter(|name| ir_names.contains(*name));
    if n > 0 && own(0).is_none() {
        return Err(err("the entry machine block names no IR block".into()));
    }
    // Resolves an unnamed block to its nearest named neighbours along `edges` (all
    // predecessors, or all successors): (IR block names, deepest loop among them).
    fn resolve(
        i: usize,
        edges: &[Vec<usize>],
        own: &dyn Fn(usize) -> Option<String>,
        depth: &dyn Fn(usize) -> u32,
        memo: &mut HashMap<usize, (Vec<String>, u32)>,
        visiting: &mut HashSet<usize>,
    ) -> Result<(Vec<String>, u32), usize> {
        if let Some(v) = memo.get(&i) {
            return Ok(v.clone());
        }
        if !visiting.insert(i) {
            return Err(i);
        }
        let (mut out, mut deepest): (Vec<String>, u32) = (Vec::new(), 0);
        for &p in &edges[i] {
            match own(p) {
                Some(name) => {
                    out.push(name);
                    deepest = deepest.max(depth(p));
                }
                None => {
                    let (names, d) = resolve(p, edges, own, depth, memo, visiting)?;
                    out.extend(names);
                    deepest = deepest.max(d);
                }
            }
        }
        out.sort();
        out.dedup();
        visiting.remove(&i);
        memo.insert(i, (out.clone(), deepest));
        Ok((out, deepest))
    }
    let own_owned = |i: usize| own(i).cloned();
    let depth = |i: usize| f.blocks[i].loop_depth;
    let (mut memo_p, mut memo_s) = (HashMap::new(), HashMap::new());
    let mut charged: BTreeMap<String, Vec<(usize, (u64, u64, u64))>> = BTreeMap::new();
    let mut on_edge: BTreeMap<(String, String), Vec<(usize, (u64, u64, u64))>> = BTreeMap::new();
    // The machine blocks of each IR block that owns machine code: an edge out of a block
    // whose IR successors all own some is not a path through a block code generation
    // folded away.
    let mut blocks_of: HashMap<&String, Vec<usize>> = HashMap::new();
    for i in 0..n {
        if let Some(name) = own(i) {
            blocks_of.entry(name).or_default().push(i);
        }
    }
    let present = |x: &String| blocks_of.contains_key(x);
    // Whether the walk from `e` along IR blocks that own no machine code, each with one
    // successor, meets a block `target` accepts (checked before the block's own code).
    let codeless_path = |e: &String, target: &dyn Fn(&String) -> bool| -> bool {
        let mut cur = e;
        for _ in 0..=ir_succs.len() {
            if target(cur) {
                return true;
            }
            if present(cur) {
                return false;
            }
            match ir_succs.get(cur).map(Vec::as_slice) {
                Some([next]) => cur = next,
                _ => return false,
            }
        }
        false
    };
    let edge_of = |p: &[String], s: &[String]| -> Option<(String, String)> {
        let ([a], [b]) = (p, s) else { return None };
        let succs = ir_succs.get(a)?;
        if succs.contains(b) {
            return succs.iter().all(|x| present(x)).then(|| (a.clone(), b.clone()));
        }
        // `a -> e -> ... -> b` through IR blocks that own no machine code, each with one
        // successor, where `e` is the only successor of `a` without code: the block runs
        // exactly when `a` takes the edge to `e` (any other way out of `a` goes to code of
        // its own, never to `b`'s through this block), so that edge pays for it.
        let mut codeless = succs.iter().filter(|x| !present(x));
        let (Some(e), None) = (codeless.next(), codeless.next()) else { return None };
        codeless_path(e, &|x| x == b).then(|| (a.clone(), e.clone()))
    };
    // A block entered only from the machine blocks of one IR block `a`, when every IR
    // successor of `a` but one (`e`) is the IR block of a named machine block that `a`'s
    // blocks go to directly, and it leads (resolving through blocks that name none) to none
    // of those or `a`: it runs only when `a` takes the edge to `e` (a copy of `e`'s code
    // that tail duplication put there, say, on its way to the shared epilogue). The edge
    // pays for it, not every path through `a`.
    let edge_by_elimination = |i: usize, s: &[String]| -> Option<(String, String)> {
        let mut from = preds[i].iter().map(|&k| own(k));
        let a = from.next()??;
        if !from.all(|x| x == Some(a)) {
            return None;
        }
        // `a` in one machine block: its cost is that block, and the edge's adds to it only
        // on the edge (with several, `a` is charged its longest path through them, which
        // may already hold this block's cost: a switch's default).
        let [k] = blocks_of.get(a)?[..] else { return None };
        let mut named: HashSet<&String> = HashSet::new();
        for &j in &succs[k] {
            match own(j) {
                Some(x) if x != a => {
                    named.insert(x);
                }
                Some(_) => {}
                None if j == i => {}
                None => return None,
            }
        }
        if s.iter().any(|x| x == a || named.contains(x)) {
            return None;
        }
        let mut rest = ir_succs.get(a)?.iter().filter(|t| !named.contains(t) && *t != a);
        let (Some(e), None) = (rest.next(), rest.next()) else { return None };
        Some((a.clone(), e.clone()))
    };
    let cycle = |at: usize| {
        err(format!(
            "machine block {} lies on a loop of blocks that name no IR block",
            f.blocks[at].label.clone().unwrap_or_else(|| format!("#{at}"))
        ))
    };
    // The blocks on exactly one IR edge (a critical edge split for its phi copies, and the
    // two kinds above): paid by the paths that take that edge, and only by them.
    let mut edge_block: HashMap<usize, (String, String)> = HashMap::new();
    for i in (0..n).filter(|&i| own(i).is_none() && !p_is_empty_and_unreachable(&preds[i], i)) {
        let (p, _) = resolve(i, &preds, &own_owned, &depth, &mut memo_p, &mut HashSet::new()).map_err(cycle)?;
        let (s, _) = resolve(i, &succs, &own_owned, &depth, &mut memo_s, &mut HashSet::new()).map_err(cycle)?;
        if let Some(e) = edge_of(&p, &s).or_else(|| edge_by_elimination(i, &s)) {
            edge_block.insert(i, e);
        }
    }
    // A block's predecessors as what they are charged to: the IR blocks they name, and the
    // edges of the edge blocks among them (a block after an edge's block runs only on that
    // edge too: the shared epilogue after a failed lookup's counter, say, which charged to
    // the lookup's block would be paid again by the paths that go on to return elsewhere).
    let mut memo_pe: HashMap<usize, (Vec<String>, Vec<(String, String)>, u32)> = HashMap::new();
    fn resolve_preds(
        i: usize,
        preds: &[Vec<usize>],
        own: &dyn Fn(usize) -> Option<String>,
        depth: &dyn Fn(usize) -> u32,
        edge_block: &HashMap<usize, (String, String)>,
        memo: &mut HashMap<usize, (Vec<String>, Vec<(String, String)>, u32)>,
        visiting: &mut HashSet<usize>,
    ) -> Result<(Vec<String>, Vec<(String, String)>, u32), usize> {
        if let Some(v) = memo.get(&i) {
            return Ok(v.clone());
        }
        if !visiting.insert(i) {
            return Err(i);
        }
        let (mut blocks, mut edges, mut deepest) = (Vec::new(), Vec::new(), 0);
        for &p in &preds[i] {
            if let Some(name) = own(p) {
                blocks.push(name);
            } else if let Some(e) = edge_block.get(&p) {
                edges.push(e.clone());
            } else {
                let (b, e, d) = resolve_preds(p, preds, own, depth, edge_block, memo, visiting)?;
                blocks.extend(b);
                edges.extend(e);
                deepest = deepest.max(d);
                continue;
            }
            deepest = deepest.max(depth(p));
        }
        blocks.sort();
        blocks.dedup();
        edges.sort();
        edges.dedup();
        visiting.remove(&i);
        memo.insert(i, (blocks.clone(), edges.clone(), deepest));
        Ok((blocks, edges, deepest))
    }
    // The one IR successor of `a` (of several) from which a return is reached through
    // blocks without code, each with one successor. Only for `a` in one machine block: with
    // several, `a` is charged its longest path through them, which may already pay for the
    // way out (a switch's default beside its table jump), and the edge would add to it.
    let exit_edge = |a: &String| -> Option<(String, String)> {
        let succs = ir_succs.get(a)?;
        if succs.len() < 2 || blocks_of.get(a).map_or(0, Vec::len) != 1 {
            return None;
        }
        let mut found = succs.iter().filter(|e| codeless_path(e, &|x| !present(x) && ir_returns.contains(x)));
        match (found.next(), found.next()) {
            (Some(e), None) => Some((a.clone(), e.clone())),
            _ => None,
        }
    };
    let mut m = Mapping::default();
    for (i, b) in f.blocks.iter().enumerate() {
        // Padding before block i+1 runs only when block i falls into it.
        let padding = if b.falls_through && i + 1 < n { b.padding_nops } else { 0 };
        let cost = (b.instructions + padding, b.reads, b.writes);
        m.padding_nops += padding;
        m.unclassified += b.unclassified;
        let targets = match own(i) {
            Some(name) => {
                m.mapped += 1;
                vec![name.clone()]
            }
            None => {
                if p_is_empty_and_unreachable(&preds[i], i) {
                    m.unreachable += 1;
                    continue;
                }
                if let Some(e) = edge_block.get(&i) {
                    m.charged_to_edge += 1;
                    on_edge.entry(e.clone()).or_default().push((i, cost));
                    continue;
                }
                let (p, p_edges, pd) =
                    resolve_preds(i, &preds, &own_owned, &depth, &edge_block, &mut memo_pe, &mut HashSet::new())
                        .map_err(cycle)?;
                let (s, sd) = resolve(i, &succs, &own_owned, &depth, &mut memo_s, &mut HashSet::new())
                    .map_err(cycle)?;
                // A way out of the function entered from inside a loop (a return block that
                // code generation copied onto a loop's exit, tail duplication): each call that
                // returns runs exactly one such block, last, and its IR path ends in exactly
                // one returning IR block, so charging it to every returning IR block is paid
                // once per call, where charging the loop block before it would be paid every
                // iteration. Outside loops the predecessor is cheaper: its other machine
                // blocks often cost as much, and only the longest path is charged.
                if f.blocks[i].exits && s.is_empty() && pd > 0 && !ir_returns.is_empty() {
                    m.charged_to_return += 1;
                    for r in ir_returns {
                        charged.entry(r.clone()).or_default().push((i, cost));
                    }
                    continue;
                }
                // Both sides are sound; the side in the shallower loop is charged less often
                // (a loop's exit block must not be paid on every iteration).
                let no_preds = p.is_empty() && p_edges.is_empty();
                if no_preds || (!s.is_empty() && sd < pd) {
                    if s.is_empty() {
                        return Err(err(format!(
                            "machine block #{i} names no IR block and has no neighbour to charge"
                        )));
                    }
                    m.charged_to_neighbour += 1;
                    s
                } else {
                    m.charged_to_neighbour += 1;
                    // A way out of the function (it leads to no named block) after `a`'s
                    // code: when exactly one IR successor of `a` reaches a return through
                    // blocks without code, that is the edge the path took (any other
                    // successor would have run its own code first), and it pays, not every
                    // path through `a` (the shared epilogue after a checksum test that may
                    // skip the update, which paid it again after the update).
                    let mut blocks = Vec::new();
                    for a in p {
                        match exit_edge(&a) {
                            Some(e) if s.is_empty() => on_edge.entry(e).or_default().push((i, cost)),
                            _ => blocks.push(a),
                        }
                    }
                    for e in p_edges {
                        on_edge.entry(e).or_default().push((i, cost));
                    }
                    blocks
                }
            }
        };
        for t in targets {
            charged.entry(t).or_default().push((i, cost));
        }
    }
    // What one execution of an IR block may run of its machine blocks: X then Y when Y
    // follows X directly, or through blocks that name no IR block (charged to an edge or to
    // other neighbours): an epilogue charged to the block before a split edge still runs
    // after it on that edge.
    let reach: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let mut seen: HashSet<usize> = HashSet::new();
            let mut work: Vec<usize> = succs[i].clone();
            while let Some(j) = work.pop() {
                if seen.insert(j) && own(j).is_none() {
                    work.extend(succs[j].iter().copied());
                }
            }
            let mut out: Vec<usize> = seen.into_iter().collect();
            out.sort_unstable();
            out
        })
        .collect();
    for (name, blocks) in charged {
        m.costs.insert(name, longest_path(&blocks, &reach));
    }
    for (edge, blocks) in on_edge {
        m.edges.insert(edge, longest_path(&blocks, &reach));
    }
    // An IR block `b` that tail duplication copied into some of its predecessors: their
    // machine code goes on to `b`'s successors without running `b`'s own blocks (it runs
    // the copy, charged to them), so a path through such an edge would pay `b` twice. When
    // every predecessor owns machine code and some of them reach `b`'s named blocks (only
    // through blocks that name no IR block) and some do not, `b`'s cost moves onto the
    // edges from those that do: each run of `b`'s blocks follows one of those edges.
    let mut ir_preds: HashMap<&String, Vec<&String>> = HashMap::new();
    for (a, ss) in ir_succs {
        for x in ss {
            if !ir_preds.get(x).is_some_and(|v| v.contains(&a)) {
                ir_preds.entry(x).or_default().push(a);
            }
        }
    }
    for b in blocks_of.keys().copied() {
        let Some(preds_b) = ir_preds.get(b) else { continue };
        if preds_b.iter().any(|a| *a == b || !present(a)) {
            continue;
        }
        let reaches = |a: &String| blocks_of[a].iter().any(|&k| reach[k].iter().any(|&j| own(j) == Some(b)));
        let (into, around): (Vec<&String>, Vec<&String>) = preds_b.iter().copied().partition(|a| reaches(a));
        if into.is_empty() || around.is_empty() {
            continue;
        }
        let Some(cost) = m.costs.get_mut(b) else { continue };
        let moved = std::mem::take(cost);
        for a in into {
            let e = m.edges.entry((a.clone(), b.clone())).or_default();
            *e = (e.0 + moved.0, e.1 + moved.1, e.2 + moved.2);
        }
        m.moved_to_edges += 1;
    }
    Ok(m)
}

/// The cost of one execution of an IR block whose machine blocks (index, cost) are
/// `blocks`: per metric, the most expensive path through the blocks (one execution runs a
/// path of them, each at most once; `succs`: what may follow each machine block, directly or
/// through blocks charged elsewhere); the plain sum if they form a cycle.
fn longest_path(blocks: &[(usize, (u64, u64, u64))], succs: &[Vec<usize>]) -> (u64, u64, u64) {
    let local: HashMap<usize, usize> = blocks.iter().enumerate().map(|(k, (i, _))| (*i, k)).collect();
    let n = blocks.len();
    let edges: Vec<Vec<usize>> =
        blocks.iter().map(|(i, _)| succs[*i].iter().filter_map(|s| local.get(s).copied()).collect()).collect();
    // Topological order (Kahn); a cycle leaves nodes unordered.
    let mut indegree = vec![0usize; n];
    for e in &edges {
        for &t in e {
            indegree[t] += 1;
        }
    }
    let mut order: Vec<usize> = (0..n).filter(|&k| indegree[k] == 0).collect();
    let mut at = 0;
    while at < order.len() {
        let k = order[at];
        at += 1;
        for &t in &edges[k] {
            indegree[t] -= 1;
            if indegree[t] == 0 {
                order.push(t);
            }
        }
    }
    let sum = blocks.iter().fold((0, 0, 0), |a, (_, c)| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    if order.len() != n {
        return sum;
    }
    let metric = |pick: &dyn Fn(&(u64, u64, u64)) -> u64| -> u64 {
        // best[k]: the most expensive path ending at k.
        let mut best = vec![0u64; n];
        for &k in &order {
            best[k] += pick(&blocks[k].1);
            for &t in &edges[k] {
                best[t] = best[t].max(best[k]);
            }
        }
        best.into_iter().max().unwrap_or(0)
    };
    (metric(&|c| c.0), metric(&|c| c.1), metric(&|c| c.2))
}

/// A block no edge enters (and not the entry) never runs.
fn p_is_empty_and_unreachable(preds: &[usize], i: usize) -> bool {
    preds.is_empty() && i != 0
}

/// Non-debug, non-phi IR instructions of `bb`.
pub fn ir_instruction_count(bb: BasicBlock<'_>) -> u64 {
    bb.get_instructions()
        .filter(|i| {
            if i.get_opcode() == InstructionOpcode::Phi {
                return false;
            }
            if i.get_opcode() == InstructionOpcode::Call {
                let n = i.get_num_operands();
                if let Some(callee) = n.checked_sub(1).and_then(|k| i.get_operand(k)).and_then(|o| o.value()) {
                    if callee.is_pointer_value() {
                        let name = callee.into_pointer_value().get_name().to_string_lossy().into_owned();
                        return !name.starts_with("llvm.dbg.");
                    }
                }
            }
            true
        })
        .count() as u64
}

/// Gives every unnamed block of `f` a deterministic name, so assembly comments name it.
fn name_blocks(f: FunctionValue<'_>) {
    for (i, bb) in f.get_basic_block_iter().enumerate() {
        if bb.get_name().to_bytes().is_empty() {
            bb.set_name(&format!("nfcc.bb{i}"));
        }
    }
}

/// Pipeline stage `annotate-costs`: attaches [`COST_MD`] to every block's terminator.
/// Runs last; the driver then emits the object from the same module with a machine made
/// by [`crate::target::machine`] at the same `level`.
pub struct AnnotateCosts {
    /// The optimisation level code is generated at (must be the driver's).
    pub level: OptLevel,
}

impl crate::ModulePass for AnnotateCosts {
    fn name(&self) -> &str {
        "annotate-costs"
    }

    fn run(&self, module: &Module<'_>) -> Result<Vec<(String, u64)>, PassError> {
        let defined: Vec<FunctionValue<'_>> =
            module.get_functions().filter(|f| f.count_basic_blocks() > 0).collect();
        for f in &defined {
            name_blocks(*f);
        }
        let tm = crate::target::machine(self.level)?;
        tm.set_asm_verbosity(true);
        let copy = module.clone();
        let asm = tm.write_to_memory_buffer(&copy, FileType::Assembly).map_err(|e| PassError::Cost {
            function: "(module)".into(),
            message: format!("cannot generate assembly: {e}"),
        })?;
        drop(copy);
        let text = String::from_utf8_lossy(asm.as_slice());
        let parsed = parse_asm(&text)?;
        let by_name: HashMap<&str, &AsmFunction> = parsed.iter().map(|f| (f.name.as_str(), f)).collect();

        let ctx = module.get_context();
        let kind = ctx.get_kind_id(COST_MD);
        let i64t = ctx.i64_type();
        let mut counters: BTreeMap<&str, u64> = BTreeMap::new();
        for f in &defined {
            let fname = f.get_name().to_string_lossy().into_owned();
            if f.get_linkage() == inkwell::module::Linkage::AvailableExternally {
                continue;
            }
            let asm_f = by_name.get(fname.as_str()).ok_or_else(|| PassError::Cost {
                function: fname.clone(),
                message: "no machine code was generated for it".into(),
            })?;
            let blocks: Vec<BasicBlock<'_>> = f.get_basic_block_iter().collect();
            let names: HashSet<String> =
                blocks.iter().map(|b| b.get_name().to_string_lossy().into_owned()).collect();
            let succ_names = |bb: &BasicBlock<'_>| -> Vec<String> {
                let Some(t) = bb.get_terminator() else { return Vec::new() };
                // SAFETY: successor queries on a terminator of this module.
                unsafe {
                    use inkwell::llvm_sys::core::{LLVMGetBasicBlockName, LLVMGetNumSuccessors, LLVMGetSuccessor};
                    let t = inkwell::values::AsValueRef::as_value_ref(&t);
                    (0..LLVMGetNumSuccessors(t))
                        .map(|k| std::ffi::CStr::from_ptr(LLVMGetBasicBlockName(LLVMGetSuccessor(t, k))).to_string_lossy().into_owned())
                        .collect()
                }
            };
            let succs: HashMap<String, Vec<String>> =
                blocks.iter().map(|b| (b.get_name().to_string_lossy().into_owned(), succ_names(b))).collect();
            let returns: Vec<String> = blocks
                .iter()
                .filter(|b| b.get_terminator().is_some_and(|t| t.get_opcode() == InstructionOpcode::Return))
                .map(|b| b.get_name().to_string_lossy().into_owned())
                .collect();
            let m = map_function(asm_f, &names, &succs, &returns)?;
            let edge_kind = ctx.get_kind_id(EDGE_COST_MD);
            for bb in &blocks {
                let name = bb.get_name().to_string_lossy().into_owned();
                let (instructions, reads, writes) = m.costs.get(&name).copied().unwrap_or_default();
                let cost = [instructions, reads, writes, ir_instruction_count(*bb)];
                let node = ctx.metadata_node(&cost.map(|c| i64t.const_int(c, false).into()));
                let term = bb.get_terminator().ok_or_else(|| PassError::Cost {
                    function: fname.clone(),
                    message: format!("block %{name} has no terminator"),
                })?;
                term.set_metadata(node, kind).map_err(|e| PassError::Cost {
                    function: fname.clone(),
                    message: format!("cannot attach {COST_MD} to block %{name}: {e}"),
                })?;
                // The costed edges out of this block, by successor index (a successor named
                // twice, as by a switch, has the edge's cost on each index).
                let mut groups = Vec::new();
                for (k, s) in succs[&name].iter().enumerate() {
                    if let Some(&(i, r, w)) = m.edges.get(&(name.clone(), s.clone())) {
                        groups.extend([k as u64, i, r, w]);
                    }
                }
                if groups.is_empty() {
                    // SAFETY: removes the kind from an instruction of this module (a no-op when
                    // absent): a re-annotation leaves no stale edge cost behind.
                    unsafe { inkwell::llvm_sys::core::LLVMSetMetadata(inkwell::values::AsValueRef::as_value_ref(&term), edge_kind, std::ptr::null_mut()) };
                } else {
                    *counters.entry("edges costed").or_default() += groups.len() as u64 / 4;
                    let values: Vec<_> = groups.iter().map(|c| i64t.const_int(*c, false).into()).collect();
                    term.set_metadata(ctx.metadata_node(&values), edge_kind).map_err(|e| PassError::Cost {
                        function: fname.clone(),
                        message: format!("cannot attach {EDGE_COST_MD} to block %{name}: {e}"),
                    })?;
                }
                *counters.entry("blocks annotated").or_default() += 1;
                if instructions == 0 {
                    *counters.entry("blocks with no machine code").or_default() += 1;
                }
            }
            *counters.entry("functions").or_default() += 1;
            *counters.entry("machine blocks").or_default() += asm_f.blocks.len() as u64;
            *counters.entry("machine blocks mapped").or_default() += m.mapped;
            *counters.entry("machine blocks charged to a neighbour").or_default() += m.charged_to_neighbour;
            *counters.entry("IR blocks paid on their edges").or_default() += m.moved_to_edges;
            *counters.entry("machine blocks charged to the returns").or_default() += m.charged_to_return;
            *counters.entry("machine blocks charged to an edge").or_default() += m.charged_to_edge;
            *counters.entry("unreachable machine blocks").or_default() += m.unreachable;
            *counters.entry("alignment-padding-charged").or_default() += m.padding_nops;
            *counters.entry("unclassified-memory-instructions").or_default() += m.unclassified;
        }
        Ok(counters.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}
