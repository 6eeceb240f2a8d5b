//! The control-flow graph of one function as the verifier sees it: reachable blocks in
//! reverse post-order, their predecessors, and the dominator tree (Cooper, Harvey and
//! Kennedy's iterative algorithm; LLVM's C API exposes no dominator tree).
//!
//! Unreachable blocks are left out on purpose: nothing in them ever runs, so nothing in
//! them needs a proof, and they may hold IR that the dominance-based reasoning would trip on.

use crate::llvm::{self, Value};
use inkwell::llvm_sys::LLVMOpcode;
use nfcc_runtime::abi;
use inkwell::llvm_sys::core::*;
use inkwell::llvm_sys::prelude::LLVMBasicBlockRef;
use std::collections::HashMap;

pub(super) struct Cfg {
    /// Reachable blocks in reverse post-order; index 0 is the entry block.
    pub blocks: Vec<LLVMBasicBlockRef>,
    pub index: HashMap<LLVMBasicBlockRef, usize>,
    /// Distinct reachable predecessors of each block.
    pub preds: Vec<Vec<usize>>,
    /// Immediate dominator (the entry is its own).
    pub idom: Vec<usize>,
    /// Pre- and post-order numbers in the dominator tree, for O(1) dominance tests.
    pre: Vec<u32>,
    post: Vec<u32>,
}

/// Successor blocks of `b`'s terminator, in operand order (duplicates kept).
pub(super) fn successors(b: LLVMBasicBlockRef) -> Vec<LLVMBasicBlockRef> {
    // SAFETY: queries on a block of a function the caller holds.
    unsafe {
        let t = LLVMGetBasicBlockTerminator(b);
        if t.is_null() || stops(b) {
            return Vec::new();
        }
        (0..LLVMGetNumSuccessors(t)).map(|i| LLVMGetSuccessor(t, i)).collect()
    }
}

/// Whether `b` calls the runtime's `nfcc__violation`, which never returns (it unwinds to
/// the entry point's caller): no way out of `b` is taken, whatever its terminator says
/// (`isolate::ContinueAfterViolation` points a failed check's block at the way on, for
/// code generation's sake).
fn stops(b: LLVMBasicBlockRef) -> bool {
    llvm::instructions(b).into_iter().any(|i| {
        llvm::opcode(i) == Some(LLVMOpcode::LLVMCall)
            && llvm::as_function(llvm::called_value(i)).is_some_and(|f| llvm::name(f) == abi::SYM_VIOLATION)
    })
}

impl Cfg {
    pub fn new(f: Value) -> Cfg {
        // SAFETY: f is a function definition.
        let entry = unsafe { LLVMGetEntryBasicBlock(f) };
        // Iterative DFS for the post-order.
        let mut post_order = Vec::new();
        let mut seen = HashMap::new();
        let mut stack = vec![(entry, successors(entry), 0usize)];
        seen.insert(entry, ());
        while let Some((b, succs, next)) = stack.last_mut() {
            if let Some(&s) = succs.get(*next) {
                *next += 1;
                if seen.insert(s, ()).is_none() {
                    stack.push((s, successors(s), 0));
                }
            } else {
                post_order.push(*b);
                stack.pop();
            }
        }
        let blocks: Vec<_> = post_order.into_iter().rev().collect();
        let index: HashMap<_, _> = blocks.iter().enumerate().map(|(i, &b)| (b, i)).collect();
        let mut preds = vec![Vec::new(); blocks.len()];
        for (i, &b) in blocks.iter().enumerate() {
            for s in successors(b) {
                let j = index[&s];
                if !preds[j].contains(&i) {
                    preds[j].push(i);
                }
            }
        }
        let idom = dominators(&preds);
        let mut children = vec![Vec::new(); blocks.len()];
        for b in 1..blocks.len() {
            children[idom[b]].push(b);
        }
        let (mut pre, mut post) = (vec![0; blocks.len()], vec![0; blocks.len()]);
        let mut clock = 0;
        let mut stack = vec![(0usize, 0usize)];
        pre[0] = 0;
        while let Some((b, next)) = stack.last_mut() {
            if let Some(&c) = children[*b].get(*next) {
                *next += 1;
                clock += 1;
                pre[c] = clock;
                stack.push((c, 0));
            } else {
                clock += 1;
                post[*b] = clock;
                stack.pop();
            }
        }
        Cfg { blocks, index, preds, idom, pre, post }
    }

    /// True if every path from the entry to `b` passes through `a` (a block dominates itself).
    pub fn dominates(&self, a: usize, b: usize) -> bool {
        self.pre[a] <= self.pre[b] && self.post[b] <= self.post[a]
    }

    /// The block of an instruction, if it is reachable.
    pub fn block_of(&self, inst: Value) -> Option<usize> {
        // SAFETY: inst is an instruction.
        self.index.get(&unsafe { LLVMGetInstructionParent(inst) }).copied()
    }
}

/// Immediate dominators over blocks numbered in reverse post-order (entry 0).
fn dominators(preds: &[Vec<usize>]) -> Vec<usize> {
    const NONE: usize = usize::MAX;
    let mut idom = vec![NONE; preds.len()];
    if preds.is_empty() {
        return idom;
    }
    idom[0] = 0;
    let intersect = |idom: &[usize], mut a: usize, mut b: usize| {
        while a != b {
            while a > b {
                a = idom[a];
            }
            while b > a {
                b = idom[b];
            }
        }
        a
    };
    let mut changed = true;
    while changed {
        changed = false;
        for b in 1..preds.len() {
            let mut new = NONE;
            for &p in &preds[b] {
                if idom[p] == NONE {
                    continue;
                }
                new = if new == NONE { p } else { intersect(&idom, p, new) };
            }
            if new != NONE && idom[b] != new {
                idom[b] = new;
                changed = true;
            }
        }
    }
    idom
}

#[cfg(test)]
mod tests {
    use super::dominators;

    #[test]
    fn diamond_and_loop_dominators() {
        // 0 -> 1, 2; 1 -> 3; 2 -> 3; 3 -> 4; 4 -> 3 (loop), 4 -> 5
        let preds = vec![vec![], vec![0], vec![0], vec![1, 2, 4], vec![3], vec![4]];
        assert_eq!(dominators(&preds), vec![0, 0, 0, 0, 3, 4]);
    }
}
