//! The tracing variant of a module, for `nfcc check`: counts, per performance-critical
//! variable (PCV) of the module's contract, how many times control goes round its loops,
//! and, per tracked call of the contract (`symbex::contract::CallSite`), how many times it
//! returned each value.
//!
//! A PCV's value for one call is the number of times one of its loop headers (its *sites*:
//! function name and header position in the module's final IR) runs, summed over the call:
//! each entry into the loop and each back edge. Natural loops are found exactly as the
//! contract engine finds them (`symbex/src/program.rs`): iterative dominators over the
//! function's blocks in order; `u -> h` is a back edge when `h` dominates `u`, and a site
//! must have one.
//!
//! [`TracePcvs`] runs last, on the module's final IR (after the isolation verifier and the
//! cost annotation), and:
//! - adds `@nfcc__trace_counts`, an `[N x i64]` in the module's writable globals section
//!   (`nfcc_data`, one slot per PCV) and `@nfcc__trace_info`, a constant string in
//!   `nfcc_rodata` naming the module the counts describe and the PCV of each slot
//!   ([`info_text`]); the driver exports both;
//! - at the start of every site's header (after its phis), adds 1 to the PCV's slot;
//! - after every tracked call (function, block position, position in the block), compares
//!   the result with the slot's value (or with none of the call's values) and adds the
//!   outcome, 0 or 1, to the slot: no new block, no branch;
//! - before every counted loop exit (a conditional branch and the side that leaves the
//!   loop), adds that side's condition, 0 or 1, to the slot;
//! - at the start of every counted block (after its phis), adds 1 to the slot.
//!
//! Isolation is unaffected: the only new memory accesses are a load and a store at a
//! constant, in-bounds offset of a module global in `nfcc_data`, which is one of the
//! module's own regions (the verifier proves such accesses without a check, and the driver
//! runs it again on the tracing variant of protected modules). Control flow is unchanged,
//! so the tracing variant takes exactly the paths the module takes on the same inputs.

use crate::llvm::{self, cstr, Value};
use crate::{ModulePass, PassError};
use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::prelude::*;
use inkwell::llvm_sys::{LLVMLinkage, LLVMOpcode};
use inkwell::module::Module;
use std::collections::{BTreeMap, HashMap};

/// The counters: `[N x i64]`, slot `k` for the `k`-th PCV.
pub const COUNTS_SYMBOL: &str = "nfcc__trace_counts";
/// The description of the counters (see [`info_text`]).
pub const INFO_SYMBOL: &str = "nfcc__trace_info";
/// First line of [`info_text`].
pub const INFO_FORMAT: &str = "nfcc-trace/2";

/// A loop header in the module's final IR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The function.
    pub function: String,
    /// The header's position among the function's basic blocks (from 0).
    pub header: usize,
}

/// One slot: a PCV's name and its loop headers, or a call result's counter and its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcvSites {
    /// Its name in the contract.
    pub name: String,
    /// Its loops.
    pub sites: Vec<Site>,
    /// The calls whose results it counts.
    pub calls: Vec<CallTest>,
    /// The blocks whose runs it counts.
    pub blocks: Vec<BlockSite>,
}

/// A basic block in the module's final IR, whose runs a slot counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSite {
    /// The function.
    pub function: String,
    /// The block's position among the function's basic blocks (from 0).
    pub block: usize,
}

/// A call instruction in the module's final IR, and which of its results a slot counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTest {
    /// The function the call is in.
    pub function: String,
    /// The call's block (position among the function's blocks, from 0).
    pub block: usize,
    /// The call's position among the block's instructions (from 0).
    pub index: usize,
    /// The result's width in bits (at most 64; unused with [`ResultTest::Any`]).
    pub width: u32,
    /// What is counted.
    pub test: ResultTest,
}

/// Which results of a call a slot counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultTest {
    /// Every one: the slot counts the times the call runs (any result type).
    Any,
    /// This value (two's complement in the result's width).
    Eq(i128),
    /// Any value but these.
    NoneOf(Vec<i128>),
    /// Not a call: the instruction is a conditional branch, and the slot counts the times
    /// it takes this side (0 the true side), as a loop exit the contract's classes name.
    Side(u32),
}

/// The text of `@nfcc__trace_info`: `nfcc-trace/2`, then `module_sha256=HEX` (the module
/// whose contract's PCVs are counted), then `pcv=NAME` for each slot in order, one per
/// line.
pub fn info_text(module_sha256: &str, pcvs: &[PcvSites]) -> String {
    let mut s = format!("{INFO_FORMAT}\nmodule_sha256={module_sha256}\n");
    for p in pcvs {
        s.push_str(&format!("pcv={}\n", p.name));
    }
    s
}

/// What [`info_text`] says, read back: the module's SHA-256 and the PCV of each slot.
pub fn parse_info(text: &str) -> Option<(String, Vec<String>)> {
    let mut lines = text.lines();
    if lines.next()? != INFO_FORMAT {
        return None;
    }
    let sha = lines.next()?.strip_prefix("module_sha256=")?.to_string();
    let mut names = Vec::new();
    for l in lines {
        names.push(l.strip_prefix("pcv=")?.to_string());
    }
    Some((sha, names))
}

/// The pass (see the module documentation).
///
/// A module's loops may lie in its own IR or in the runtime's (`nfcc_rt.c`, compiled
/// separately and linked in): the pass runs on each, with the sites of that IR only. The
/// module's IR defines the counters and their description (`define`); the runtime's
/// declares the counters, which the linker resolves to the module's definition.
pub struct TracePcvs {
    /// SHA-256 of the module whose contract the PCVs come from.
    pub module_sha256: String,
    /// The PCVs, in slot order, each with its sites in this IR (possibly none).
    pub pcvs: Vec<PcvSites>,
    /// Define the counters and the description (the module's IR), or only declare the
    /// counters (the runtime's IR).
    pub define: bool,
}

/// Names of the functions `bitcode` (a module's IR) defines: which IR a site belongs to.
pub fn defined_functions(bitcode: &[u8]) -> Result<std::collections::HashSet<String>, PassError> {
    let ctx = inkwell::context::Context::create();
    let buf = inkwell::memory_buffer::MemoryBuffer::create_from_memory_range_copy(bitcode, "ir");
    let m = ctx
        .create_module_from_ir(buf)
        .map_err(|e| PassError::Load { path: "final IR".into(), message: e.to_string() })?;
    Ok(llvm::functions(m.as_mut_ptr()).into_iter().filter(|f| llvm::is_definition(*f)).map(llvm::name).collect())
}

impl ModulePass for TracePcvs {
    fn name(&self) -> &str {
        "trace-pcvs"
    }

    fn run(&self, module: &Module<'_>) -> Result<Vec<(String, u64)>, PassError> {
        let file = module.get_source_file_name().to_string_lossy().into_owned();
        let err = |message: String| PassError::Abi { file: file.clone(), message };
        let m = module.as_mut_ptr();
        // SAFETY: every handle below belongs to `m`, which the caller holds for the whole run.
        unsafe {
            let ctx = LLVMGetModuleContext(m);
            let i64t = LLVMInt64TypeInContext(ctx);
            let i32t = LLVMInt32TypeInContext(ctx);
            let n = self.pcvs.len() as u32;
            let arr = LLVMArrayType2(i64t, n.max(1) as u64);
            let counts = add_global(m, arr, COUNTS_SYMBOL).ok_or_else(|| err(format!("the module already defines `{COUNTS_SYMBOL}`")))?;
            LLVMSetAlignment(counts, 8);
            if self.define {
                LLVMSetInitializer(counts, LLVMConstNull(arr));
                LLVMSetSection(counts, cstr(crate::globals::DATA_SECTION).as_ptr());
                let text = info_text(&self.module_sha256, &self.pcvs);
                let init = LLVMConstStringInContext2(ctx, text.as_ptr().cast(), text.len(), 0);
                let info = add_global(m, LLVMTypeOf(init), INFO_SYMBOL).ok_or_else(|| err(format!("the module already defines `{INFO_SYMBOL}`")))?;
                LLVMSetInitializer(info, init);
                LLVMSetGlobalConstant(info, 1);
                LLVMSetSection(info, cstr(crate::globals::RODATA_SECTION).as_ptr());
            }

            // The calls to instrument, found before anything changes.
            let mut calls = Vec::new();
            for (slot, p) in self.pcvs.iter().enumerate() {
                for c in &p.calls {
                    let at = find_call(m, c).map_err(|why| err(format!("counter `{}`: {why} (the IR is not the one the contract was made from)", p.name)))?;
                    calls.push((at, c.clone(), slot as u32));
                }
            }
            // The blocks to count, found before anything changes.
            let mut counted = Vec::new();
            for (slot, p) in self.pcvs.iter().enumerate() {
                for b in &p.blocks {
                    let f = llvm::functions(m)
                        .into_iter()
                        .find(|f| llvm::name(*f) == b.function && llvm::is_definition(*f))
                        .ok_or_else(|| err(format!("PCV `{}`: its block is in `{}`, which this IR does not define", p.name, b.function)))?;
                    let block = *llvm::blocks(f).get(b.block).ok_or_else(|| {
                        err(format!("PCV `{}`: `{}` has no block {} (the IR is not the one the contract was made from)", p.name, b.function, b.block))
                    })?;
                    counted.push((block, slot as u32));
                }
            }
            // The loop headers to count, checked against the CFG as it is now.
            let mut by_function: BTreeMap<String, Vec<(usize, u32)>> = BTreeMap::new();
            for (slot, p) in self.pcvs.iter().enumerate() {
                for s in &p.sites {
                    by_function.entry(s.function.clone()).or_default().push((s.header, slot as u32));
                }
            }
            let mut headers = 0u64;
            for (fname, sites) in &by_function {
                let f = llvm::functions(m)
                    .into_iter()
                    .find(|f| llvm::name(*f) == *fname && llvm::is_definition(*f))
                    .ok_or_else(|| err(format!("PCV loop site in `{fname}`, which this IR does not define")))?;
                let blocks = llvm::blocks(f);
                let back = back_edges(&blocks);
                for &(h, slot) in sites {
                    if h >= blocks.len() || !back.iter().any(|(_, t)| *t == h) {
                        let name = &self.pcvs[slot as usize].name;
                        return Err(err(format!(
                            "PCV `{name}`: block {h} of `{fname}` is not a loop header in this IR (the IR is not the one the contract was made from)"
                        )));
                    }
                    counted.push((blocks[h], slot));
                    headers += 1;
                }
            }
            let builder = LLVMCreateBuilderInContext(ctx);
            for (call, test, slot) in &calls {
                count_result(ctx, builder, *call, test, counts, arr, i64t, i32t, *slot);
            }
            for (block, slot) in &counted {
                let first = llvm::instructions(*block).into_iter().find(|i| llvm::opcode(*i) != Some(LLVMOpcode::LLVMPHI));
                let Some(first) = first else { return Err(err("a counted block without instructions".into())) };
                LLVMPositionBuilderBefore(builder, first);
                add_one(builder, counts, arr, i64t, i32t, *slot);
            }
            LLVMDisposeBuilder(builder);
            Ok(vec![("pcvs".into(), n as u64), ("headers".into(), headers), ("calls".into(), calls.len() as u64), ("blocks".into(), counted.len() as u64 - headers)])
        }
    }
}

/// The call instruction `c` names, checked to return an integer of its width.
fn find_call(m: LLVMModuleRef, c: &CallTest) -> Result<Value, String> {
    let f = llvm::functions(m)
        .into_iter()
        .find(|f| llvm::name(*f) == c.function && llvm::is_definition(*f))
        .ok_or_else(|| format!("its call is in `{}`, which this IR does not define", c.function))?;
    let b = *llvm::blocks(f).get(c.block).ok_or_else(|| format!("`{}` has no block {}", c.function, c.block))?;
    let i = *llvm::instructions(b).get(c.index).ok_or_else(|| format!("block {} of `{}` has no instruction {}", c.block, c.function, c.index))?;
    if let ResultTest::Side(side) = c.test {
        // SAFETY: an instruction of `m`.
        let ok = llvm::opcode(i) == Some(LLVMOpcode::LLVMBr) && unsafe { LLVMIsConditional(i) != 0 } && side < 2;
        return if ok { Ok(i) } else { Err(format!("instruction {} of block {} of `{}` is not a conditional branch", c.index, c.block, c.function)) };
    }
    if c.test == ResultTest::Any {
        return match llvm::opcode(i) {
            Some(LLVMOpcode::LLVMCall) => Ok(i),
            _ => Err(format!("instruction {} of block {} of `{}` is not a call", c.index, c.block, c.function)),
        };
    }
    // SAFETY: an instruction of `m` and its type.
    let ok = llvm::opcode(i) == Some(LLVMOpcode::LLVMCall)
        && unsafe {
            let t = LLVMTypeOf(i);
            llvm::type_kind(t) == inkwell::llvm_sys::LLVMTypeKind::LLVMIntegerTypeKind && LLVMGetIntTypeWidth(t) == c.width
        };
    if !ok || c.width == 0 || c.width > 64 {
        return Err(format!("instruction {} of block {} of `{}` is not a call returning i{}", c.index, c.block, c.function, c.width));
    }
    Ok(i)
}

/// After `call`: `counts[slot] += (result passes the test)`.
#[allow(clippy::too_many_arguments)]
unsafe fn count_result(
    ctx: LLVMContextRef,
    builder: LLVMBuilderRef,
    call: Value,
    test: &CallTest,
    counts: Value,
    arr: LLVMTypeRef,
    i64t: LLVMTypeRef,
    i32t: LLVMTypeRef,
    slot: u32,
) {
    let hit = if let ResultTest::Side(side) = test.test {
        // Before the branch: its condition, or its negation, is the edge taken.
        LLVMPositionBuilderBefore(builder, call);
        let cond = LLVMGetCondition(call);
        if side == 0 { cond } else { LLVMBuildNot(builder, cond, cstr("nfcc.trace.side").as_ptr()) }
    } else {
        let next = LLVMGetNextInstruction(call);
        LLVMPositionBuilderBefore(builder, next);
        let t = LLVMTypeOf(call);
        let konst = |v: i128| LLVMConstInt(t, v as u64, 0);
        match &test.test {
            ResultTest::Any => LLVMConstInt(LLVMInt1TypeInContext(ctx), 1, 0),
            ResultTest::Eq(v) => LLVMBuildICmp(builder, inkwell::llvm_sys::LLVMIntPredicate::LLVMIntEQ, call, konst(*v), cstr("nfcc.trace.is").as_ptr()),
            ResultTest::NoneOf(vs) => {
                let mut acc = LLVMConstInt(LLVMInt1TypeInContext(ctx), 1, 0);
                for v in vs {
                    let ne = LLVMBuildICmp(builder, inkwell::llvm_sys::LLVMIntPredicate::LLVMIntNE, call, konst(*v), cstr("nfcc.trace.not").as_ptr());
                    acc = LLVMBuildAnd(builder, acc, ne, cstr("nfcc.trace.other").as_ptr());
                }
                acc
            }
            ResultTest::Side(_) => unreachable!("handled above"),
        }
    };
    let one = LLVMBuildZExt(builder, hit, i64t, cstr("nfcc.trace.one").as_ptr());
    let mut idx = [LLVMConstInt(i32t, 0, 0), LLVMConstInt(i32t, slot as u64, 0)];
    let at = LLVMConstGEP2(arr, counts, idx.as_mut_ptr(), 2);
    let old = LLVMBuildLoad2(builder, i64t, at, cstr("nfcc.trace.old").as_ptr());
    LLVMSetAlignment(old, 8);
    let new = LLVMBuildAdd(builder, old, one, cstr("nfcc.trace.new").as_ptr());
    let st = LLVMBuildStore(builder, new, at);
    LLVMSetAlignment(st, 8);
}

/// At the builder's position: `counts[slot] += 1`.
unsafe fn add_one(builder: LLVMBuilderRef, counts: Value, arr: LLVMTypeRef, i64t: LLVMTypeRef, i32t: LLVMTypeRef, slot: u32) {
    let mut idx = [LLVMConstInt(i32t, 0, 0), LLVMConstInt(i32t, slot as u64, 0)];
    let at = LLVMConstGEP2(arr, counts, idx.as_mut_ptr(), 2);
    let old = LLVMBuildLoad2(builder, i64t, at, cstr("nfcc.trace.old").as_ptr());
    LLVMSetAlignment(old, 8);
    let new = LLVMBuildAdd(builder, old, LLVMConstInt(i64t, 1, 0), cstr("nfcc.trace.new").as_ptr());
    let st = LLVMBuildStore(builder, new, at);
    LLVMSetAlignment(st, 8);
}

/// Adds an externally visible global named exactly `name`; `None` if the name is taken.
unsafe fn add_global(m: LLVMModuleRef, ty: LLVMTypeRef, name: &str) -> Option<Value> {
    if !LLVMGetNamedGlobal(m, cstr(name).as_ptr()).is_null() {
        return None;
    }
    let g = LLVMAddGlobal(m, ty, cstr(name).as_ptr());
    LLVMSetLinkage(g, LLVMLinkage::LLVMExternalLinkage);
    (llvm::name(g) == name).then_some(g)
}

/// Back edges `(u, h)` of a function with blocks `blocks` (positions), with dominators and
/// loops computed exactly as `symbex::program::Program::find_loops` does.
fn back_edges(blocks: &[LLVMBasicBlockRef]) -> Vec<(usize, usize)> {
    let index: HashMap<LLVMBasicBlockRef, usize> = blocks.iter().enumerate().map(|(i, b)| (*b, i)).collect();
    let succs: Vec<Vec<usize>> = blocks.iter().map(|b| llvm::successors(*b).iter().map(|s| index[s]).collect()).collect();
    let n = blocks.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ss) in succs.iter().enumerate() {
        for &s in ss {
            preds[s].push(i);
        }
    }
    let dom = llvm::dominators(&preds);
    let mut out = Vec::new();
    for (u, ss) in succs.iter().enumerate() {
        let mut seen = Vec::new();
        for &h in ss {
            if dom[u][h] && !seen.contains(&h) {
                seen.push(h);
                out.push((u, h));
            }
        }
    }
    out
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_text_reads_back() {
        let p = |n: &str| PcvSites { name: n.into(), sites: vec![Site { function: "f".into(), header: 1 }], calls: Vec::new(), blocks: Vec::new() };
        let t = info_text("ab12", &[p("t"), p("n_x_3")]);
        assert_eq!(parse_info(&t), Some(("ab12".to_string(), vec!["t".to_string(), "n_x_3".to_string()])));
        assert_eq!(parse_info("nfcc-trace/1\nmodule_sha256=ab\n"), None);
        assert_eq!(parse_info("nfcc-trace/2\nmodule_sha256=ab\nbad\n"), None);
    }

    #[test]
    fn dominators_and_back_edges_of_a_nested_loop() {
        // 0 -> 1 -> 2 -> 2 (self loop), 2 -> 3 -> 1, 3 -> 4.
        let preds = vec![vec![], vec![0, 3], vec![1, 2], vec![2], vec![3]];
        let dom = llvm::dominators(&preds);
        assert!(dom[3][1] && dom[3][2] && !dom[1][2] && dom[4][0]);
    }
}
