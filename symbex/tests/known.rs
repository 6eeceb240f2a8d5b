//! Tiny IR functions with known paths and known costs. Block costs are written by hand as
//! `!nfcc.cost` metadata (instructions, reads, writes, IR instructions).

use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use nfcc_symbex::contract::Contract;
use nfcc_symbex::{analyse, Config, ModuleInfo};
use std::collections::BTreeMap;

const HEAD: &str = "target datalayout = \"e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128\"\ntarget triple = \"x86_64-pc-linux-gnu\"\n";

fn contract(body: &str) -> Contract {
    contract_with(body, &Config::default())
}

fn contract_with(body: &str, cfg: &Config) -> Contract {
    let ctx = Context::create();
    let text = format!("{HEAD}{body}");
    let buf = MemoryBuffer::create_from_memory_range_copy(text.as_bytes(), "test");
    let m = ctx.create_module_from_ir(buf).unwrap_or_else(|e| panic!("bad test IR: {e}\n{text}"));
    analyse(&[m.as_mut_ptr()], cfg, &ModuleInfo::default()).expect("analysis")
}

fn pcv(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

#[test]
fn straight_line_has_one_class_with_its_exact_cost() {
    let c = contract(
        "define i32 @nf_process(ptr %p) {\n  ret i32 0, !nfcc.cost !0\n}\n!0 = !{i64 7, i64 2, i64 1, i64 1}\n",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    assert_eq!(c.classes.len(), 1);
    assert_eq!(c.classes[0].when, "any packet");
    assert_eq!(c.classes[0].instructions.eval(&pcv(&[])), 7);
    assert_eq!(c.classes[0].memory.eval(&pcv(&[])), 3);
    assert_eq!(c.classes[0].paths, 1);
    assert_eq!(c.classes[0].returns, vec!["port 0".to_string()]);
}

#[test]
fn an_edge_cost_is_paid_only_by_the_paths_taking_that_edge() {
    // `entry -> join` carries machine code of its own (phi copies on a split critical
    // edge): 4 instructions, 1 write. The path through `mid` does not run it.
    let c = contract(
        "define i32 @nf_process(ptr %p) {
entry:
  %lp = getelementptr i8, ptr %p, i64 8
  %len = load i32, ptr %lp
  %short = icmp ult i32 %len, 14
  br i1 %short, label %join, label %mid, !nfcc.cost !0, !nfcc.edge.cost !3
mid:
  br label %join, !nfcc.cost !1
join:
  %r = phi i32 [ -1, %entry ], [ 1, %mid ]
  ret i32 %r, !nfcc.cost !2
}
!0 = !{i64 5, i64 1, i64 0, i64 4}
!1 = !{i64 2, i64 0, i64 0, i64 1}
!2 = !{i64 3, i64 1, i64 0, i64 1}
!3 = !{i64 0, i64 4, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete);
    let drop = c.classes.iter().find(|k| k.returns == ["drop"]).expect("drop class");
    let fwd = c.classes.iter().find(|k| k.returns == ["port 1"]).expect("forward class");
    assert_eq!((drop.instructions.eval(&pcv(&[])), drop.memory.eval(&pcv(&[]))), (5 + 4 + 3, 1 + 1 + 1));
    assert_eq!((fwd.instructions.eval(&pcv(&[])), fwd.memory.eval(&pcv(&[]))), (5 + 2 + 3, 1 + 1));
}

#[test]
fn an_arm_on_module_state_is_a_pcv_paid_only_by_the_runs_that_take_it() {
    // `if (mode) { 6 instructions }`, `mode` being module state: the two paths merge at
    // `join` (they differ only in state); the arm is not charged to the path that skips it,
    // but counted by its own PCV at its cost (edge into it included).
    let c = contract(
        "@mode = global i32 0
define i32 @nf_process(ptr %p) {
entry:
  %m = load i32, ptr @mode
  %on = icmp ne i32 %m, 0
  br i1 %on, label %arm, label %join, !nfcc.cost !0, !nfcc.edge.cost !3
arm:
  store i32 0, ptr @mode
  br label %join, !nfcc.cost !1
join:
  ret i32 1, !nfcc.cost !2
}
!0 = !{i64 4, i64 1, i64 0, i64 3}
!1 = !{i64 6, i64 0, i64 1, i64 2}
!2 = !{i64 3, i64 1, i64 0, i64 1}
!3 = !{i64 0, i64 1, i64 0, i64 0}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    assert_eq!(c.classes.len(), 1, "{:#?}", c.classes);
    let k = &c.classes[0];
    assert_eq!(k.paths, 1, "the two paths merged");
    let arm = c.pcvs.iter().find(|p| p.name.starts_with("if_")).unwrap_or_else(|| panic!("no arm PCV: {:?}", c.pcvs));
    assert_eq!(arm.blocks.len(), 1);
    assert_eq!((arm.blocks[0].function.as_str(), arm.blocks[0].block), ("nf_process", 1));
    let name = arm.name.as_str();
    assert_eq!((k.instructions.eval(&pcv(&[(name, 0)])), k.memory.eval(&pcv(&[(name, 0)]))), (4 + 3, 1 + 1));
    assert_eq!((k.instructions.eval(&pcv(&[(name, 1)])), k.memory.eval(&pcv(&[(name, 1)]))), (4 + 1 + 6 + 3, 1 + 1 + 1));
}

#[test]
fn a_length_test_gives_two_classes_with_witnesses() {
    let c = contract(
        "define i32 @nf_process(ptr %p) {
entry:
  %lp = getelementptr i8, ptr %p, i64 8
  %len = load i32, ptr %lp
  %short = icmp ult i32 %len, 14
  br i1 %short, label %drop, label %fwd, !nfcc.cost !0
drop:
  ret i32 -1, !nfcc.cost !1
fwd:
  ret i32 1, !nfcc.cost !2
}
!0 = !{i64 5, i64 1, i64 0, i64 4}
!1 = !{i64 2, i64 1, i64 0, i64 1}
!2 = !{i64 3, i64 1, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete);
    assert_eq!(c.classes.len(), 2, "{:#?}", c.classes);
    let drop = c.classes.iter().find(|k| k.returns == ["drop"]).expect("drop class");
    let fwd = c.classes.iter().find(|k| k.returns == ["port 1"]).expect("forward class");
    assert_eq!(drop.when, "len < 14");
    assert_eq!(fwd.when, "len >= 14");
    assert_eq!(drop.instructions.eval(&pcv(&[])), 7);
    assert_eq!(fwd.instructions.eval(&pcv(&[])), 8);
    assert_eq!(fwd.memory.eval(&pcv(&[])), 2);
    assert!(drop.witness.as_ref().expect("witness").len < 14);
    assert!(fwd.witness.as_ref().expect("witness").len >= 14);
    // Classes are found again for concrete packets, through the JSON.
    let c = Contract::from_json(&c.to_json()).expect("parses");
    let of = |n: usize| {
        let p = vec![0u8; n];
        let input = nfcc_symbex::contract::Input { packet: &p, port: 0, time_ns: 0 };
        c.classes_of(input, &Default::default()).expect("conditions evaluate").iter().map(|k| k.returns[0].clone()).collect::<Vec<_>>()
    };
    assert_eq!(of(0), ["drop"]);
    assert_eq!(of(13), ["drop"]);
    assert_eq!(of(14), ["port 1"]);
    assert_eq!(of(1514), ["port 1"]);
}

#[test]
fn packet_fields_are_named_and_byte_order_is_kept() {
    // ethertype == 0x0800 read as a little-endian i16 and byte-swapped, as clang emits it.
    let c = contract(
        "declare i16 @llvm.bswap.i16(i16)
define i32 @nf_process(ptr %p) {
entry:
  %data = load ptr, ptr %p
  %tp = getelementptr i8, ptr %data, i64 12
  %t = load i16, ptr %tp
  %ts = call i16 @llvm.bswap.i16(i16 %t)
  %ip = icmp eq i16 %ts, 2048
  br i1 %ip, label %a, label %b, !nfcc.cost !0
a:
  ret i32 0, !nfcc.cost !0
b:
  ret i32 -1, !nfcc.cost !0
}
!0 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    let whens: Vec<&str> = c.classes.iter().map(|k| k.when.as_str()).collect();
    assert!(whens.contains(&"eth.type == 0x800"), "{whens:?}");
    assert!(whens.contains(&"eth.type != 0x800"), "{whens:?}");
    let w = c.classes.iter().find(|k| k.when == "eth.type == 0x800").and_then(|k| k.witness.clone()).expect("witness");
    assert_eq!(&w.bytes[24..28], "0800", "{}", w.bytes);
    let mut frame = vec![0u8; 60];
    frame[12] = 8;
    let input = nfcc_symbex::contract::Input { packet: &frame, port: 0, time_ns: 0 };
    let found = c.classes_of(input, &Default::default()).expect("evaluates");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].when, "eth.type == 0x800");
}

#[test]
fn a_loop_with_a_constant_trip_count_is_unrolled_exactly() {
    // for (i = 0; i < 4; i++) {}: header 2 instr, body 3, exit 1.
    let c = contract(
        "define i32 @nf_process(ptr %p) {
entry:
  br label %h, !nfcc.cost !0
h:
  %i = phi i32 [ 0, %entry ], [ %n, %body ]
  %c = icmp ult i32 %i, 4
  br i1 %c, label %body, label %exit, !nfcc.cost !1
body:
  %n = add i32 %i, 1
  br label %h, !nfcc.cost !2
exit:
  ret i32 0, !nfcc.cost !3
}
!0 = !{i64 1, i64 0, i64 0, i64 1}
!1 = !{i64 2, i64 0, i64 0, i64 2}
!2 = !{i64 3, i64 0, i64 0, i64 2}
!3 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete);
    assert_eq!(c.classes.len(), 1);
    assert!(c.pcvs.is_empty(), "{:?}", c.pcvs);
    // entry 1 + 5 headers * 2 + 4 bodies * 3 + exit 1
    assert_eq!(c.classes[0].instructions.eval(&pcv(&[])), 1 + 10 + 12 + 1);
}

#[test]
fn a_state_dependent_loop_is_summarised_with_a_pcv() {
    // Walk a chain in the heap until a null next pointer: trip count depends on state.
    let c = contract(
        "@head = internal global ptr null
define i32 @nf_process(ptr %p) {
entry:
  %h0 = load ptr, ptr @head
  br label %h, !nfcc.cost !0
h:
  %cur = phi ptr [ %h0, %entry ], [ %next, %body ]
  %k = phi i32 [ 0, %entry ], [ %k1, %body ]
  %null = icmp eq ptr %cur, null
  br i1 %null, label %exit, label %body, !nfcc.cost !1
body:
  %next = load ptr, ptr %cur
  %k1 = add i32 %k, 1
  br label %h, !nfcc.cost !2
exit:
  ret i32 %k, !nfcc.cost !3
}
!0 = !{i64 4, i64 1, i64 0, i64 2}
!1 = !{i64 2, i64 0, i64 0, i64 2}
!2 = !{i64 3, i64 1, i64 0, i64 2}
!3 = !{i64 1, i64 1, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    assert_eq!(c.pcvs.len(), 1, "{:?}", c.pcvs);
    let n = c.pcvs[0].name.clone();
    // Real cost with t back edges (the PCV counts runs of the header: t + 1):
    // 4 + (t + 1) * 2 + t * 3 + 1 = 7 + 5t.
    for t in 0..6u64 {
        let real = 7 + 5 * t;
        let bound = c.classes.iter().map(|k| k.instructions.eval(&pcv(&[(&n, t + 1)]))).max().expect("a class");
        assert!(bound >= real as i64, "t={t}: bound {bound} < real {real}");
        assert!(bound <= real as i64 + 5, "t={t}: bound {bound} far above real {real}");
    }
}

#[test]
fn a_guarded_loop_is_not_charged_to_the_paths_that_skip_it() {
    // A rotated chain walk behind its guard (as clang emits `while`): an empty chain never
    // enters the loop. The paths that skip it and those that walk it merge at `exit`; the
    // PCV counts runs of the header, so neither pays for the other.
    let c = contract(
        "@head = internal global ptr null
define i32 @nf_process(ptr %p) {
entry:
  %h0 = load ptr, ptr @head
  %empty = icmp eq ptr %h0, null
  br i1 %empty, label %exit, label %body, !nfcc.cost !0
body:
  %cur = phi ptr [ %h0, %entry ], [ %next, %body ]
  %next = load ptr, ptr %cur
  %end = icmp eq ptr %next, null
  br i1 %end, label %exit, label %body, !nfcc.cost !1
exit:
  ret i32 0, !nfcc.cost !2
}
!0 = !{i64 4, i64 1, i64 0, i64 3}
!1 = !{i64 5, i64 1, i64 0, i64 3}
!2 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    assert_eq!(c.pcvs.len(), 1, "{:?}", c.pcvs);
    let n = c.pcvs[0].name.clone();
    // r runs of the body (0: the chain is empty): 4 + 5r + 1, reads 1 + r.
    for r in 0..6u64 {
        let at = pcv(&[(&n, r)]);
        let bound = c.classes.iter().map(|k| k.instructions.eval(&at)).max().expect("a class");
        let mem = c.classes.iter().map(|k| k.memory.eval(&at)).max().expect("a class");
        assert_eq!((bound, mem), (5 + 5 * r as i64, 1 + r as i64), "r={r}");
    }
}

#[test]
fn a_branch_inside_a_summarised_loop_is_charged_by_its_own_runs() {
    // Walk a chain; entries with an odd value take a dear branch (10 instructions, 2 reads).
    let c = contract(
        "@head = internal global ptr null
define i32 @nf_process(ptr %p) {
entry:
  %h0 = load ptr, ptr @head
  br label %h, !nfcc.cost !0
h:
  %cur = phi ptr [ %h0, %entry ], [ %next, %latch ]
  %k = phi i32 [ 0, %entry ], [ %k2, %latch ]
  %null = icmp eq ptr %cur, null
  br i1 %null, label %exit, label %body, !nfcc.cost !1
body:
  %vp = getelementptr i8, ptr %cur, i64 8
  %v = load i32, ptr %vp
  %odd = trunc i32 %v to i1
  br i1 %odd, label %dear, label %latch, !nfcc.cost !2
dear:
  %k1 = add i32 %k, 1
  br label %latch, !nfcc.cost !3
latch:
  %k2 = phi i32 [ %k, %body ], [ %k1, %dear ]
  %next = load ptr, ptr %cur
  br label %h, !nfcc.cost !4
exit:
  ret i32 %k, !nfcc.cost !5
}
!0 = !{i64 4, i64 1, i64 0, i64 2}
!1 = !{i64 2, i64 0, i64 0, i64 2}
!2 = !{i64 3, i64 1, i64 0, i64 3}
!3 = !{i64 10, i64 2, i64 0, i64 2}
!4 = !{i64 3, i64 1, i64 0, i64 3}
!5 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    assert_eq!(c.pcvs.len(), 2, "{:?}", c.pcvs);
    let branch = c.pcvs.iter().find(|p| !p.blocks.is_empty()).expect("a branch PCV");
    assert_eq!((branch.blocks[0].function.as_str(), branch.blocks[0].block), ("nf_process", 3));
    let walk = c.pcvs.iter().find(|p| !p.sites.is_empty()).expect("the loop's PCV");
    // Real cost with t back edges (t + 1 runs of the header), b of them through `dear`:
    // 4 + (t + 1) * 2 + t * 6 + 10b + 1.
    for t in 0..6u64 {
        for b in 0..=t {
            let (real, real_mem) = (7 + 8 * t + 10 * b, 1 + 2 * t + 2 * b);
            let at = pcv(&[(&walk.name, t + 1), (&branch.name, b)]);
            let bound = c.classes.iter().map(|k| k.instructions.eval(&at)).max().expect("a class");
            let mem = c.classes.iter().map(|k| k.memory.eval(&at)).max().expect("a class");
            assert_eq!((bound, mem), (real as i64, real_mem as i64), "t={t} b={b}");
        }
    }
}

#[test]
fn a_preheader_behind_a_guard_on_state_is_paid_only_by_the_paths_that_enter_the_loop() {
    // The guard skips an empty chain; the preheader (7 instructions, 2 reads) runs only when
    // the walk is entered. It is an arm ending at the loop's header: the skipping paths do
    // not pay it where they merge with the entering ones at `exit`.
    let c = contract(
        "@head = internal global ptr null
define i32 @nf_process(ptr %p) {
entry:
  %h0 = load ptr, ptr @head
  %empty = icmp eq ptr %h0, null
  br i1 %empty, label %exit, label %pre, !nfcc.cost !0
pre:
  br label %body, !nfcc.cost !1
body:
  %cur = phi ptr [ %h0, %pre ], [ %next, %body ]
  %next = load ptr, ptr %cur
  %end = icmp eq ptr %next, null
  br i1 %end, label %post, label %body, !nfcc.cost !2
post:
  br label %exit, !nfcc.cost !3
exit:
  ret i32 0, !nfcc.cost !4
}
!0 = !{i64 4, i64 1, i64 0, i64 3}
!1 = !{i64 7, i64 2, i64 0, i64 1}
!2 = !{i64 5, i64 1, i64 0, i64 3}
!3 = !{i64 2, i64 0, i64 0, i64 1}
!4 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    let arm = c.pcvs.iter().find(|p| p.blocks.iter().any(|b| b.block == 1)).unwrap_or_else(|| panic!("no arm at the preheader: {:?}", c.pcvs)).name.clone();
    let walk = c.pcvs.iter().find(|p| !p.sites.is_empty()).expect("the loop's PCV").name.clone();
    let bound = |runs: u64, entered: u64| {
        let at = pcv(&[(&walk, runs), (&arm, entered)]);
        c.classes.iter().map(|k| (k.instructions.eval(&at), k.memory.eval(&at))).max().expect("a class")
    };
    // Skipped: 4 + 1, reads 1; the loop's exit block (2) is all it is charged beyond that.
    assert_eq!(bound(0, 0), (7, 1));
    // Entered, r runs of the header: 4 + 7 + 5r + 2 + 1, reads 1 + 2 + r: exact.
    for r in 1..6u64 {
        assert_eq!(bound(r, 1), (14 + 5 * r as i64, 3 + r as i64), "r={r}");
    }
}

#[test]
fn branches_of_one_place_are_each_charged_their_own_cost() {
    // Two blocks some iterations skip, at one location (here none: both take the loop's):
    // a dear one (10 instructions) and a cheap one (3). Each is a PCV of its own.
    let c = contract(
        "@head = internal global ptr null
define i32 @nf_process(ptr %p) {
entry:
  %h0 = load ptr, ptr @head
  br label %h, !nfcc.cost !0
h:
  %cur = phi ptr [ %h0, %entry ], [ %next, %latch ]
  %null = icmp eq ptr %cur, null
  br i1 %null, label %exit, label %body, !nfcc.cost !1
body:
  %vp = getelementptr i8, ptr %cur, i64 8
  %v = load i32, ptr %vp
  %odd = trunc i32 %v to i1
  br i1 %odd, label %dear, label %mid, !nfcc.cost !2
dear:
  br label %mid, !nfcc.cost !3
mid:
  %wp = getelementptr i8, ptr %cur, i64 12
  %w = load i32, ptr %wp
  %wodd = trunc i32 %w to i1
  br i1 %wodd, label %cheap, label %latch, !nfcc.cost !2
cheap:
  br label %latch, !nfcc.cost !4
latch:
  %next = load ptr, ptr %cur
  br label %h, !nfcc.cost !2
exit:
  ret i32 0, !nfcc.cost !5
}
!0 = !{i64 4, i64 1, i64 0, i64 2}
!1 = !{i64 2, i64 0, i64 0, i64 2}
!2 = !{i64 3, i64 1, i64 0, i64 3}
!3 = !{i64 10, i64 2, i64 0, i64 1}
!4 = !{i64 3, i64 0, i64 0, i64 1}
!5 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    let branch = |block: usize| {
        c.pcvs.iter().find(|p| p.blocks.iter().any(|b| b.block == block)).unwrap_or_else(|| panic!("no PCV counts block {block}: {:?}", c.pcvs)).name.clone()
    };
    let (dear, cheap) = (branch(3), branch(5));
    assert_ne!(dear, cheap);
    let walk = c.pcvs.iter().find(|p| !p.sites.is_empty()).expect("the loop's PCV").name.clone();
    // t entries walked (t + 1 runs of the header), d through `dear`, e through `cheap`:
    // 4 + 2(t + 1) + 9t + 10d + 3e + 1.
    for t in 0..5u64 {
        for d in 0..=t {
            for e in 0..=t {
                let real = 7 + 11 * t + 10 * d + 3 * e;
                let at = pcv(&[(&walk, t + 1), (&dear, d), (&cheap, e)]);
                let bound = c.classes.iter().map(|k| k.instructions.eval(&at)).max().expect("a class");
                assert_eq!(bound, real as i64, "t={t} d={d} e={e}");
            }
        }
    }
}

#[test]
fn a_call_to_an_unknown_function_is_a_hole() {
    let c = contract(
        "declare i32 @mystery()
define i32 @nf_process(ptr %p) {
  %r = call i32 @mystery()
  ret i32 %r, !nfcc.cost !0
}
!0 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    assert!(!c.coverage.complete);
    assert!(c.coverage.holes.iter().any(|h| h.what.contains("mystery")), "{:?}", c.coverage.holes);
}

#[test]
fn a_block_without_cost_is_a_hole() {
    let c = contract("define i32 @nf_process(ptr %p) {\n  ret i32 0\n}\n");
    assert!(!c.coverage.complete);
}

#[test]
fn calls_add_the_callee_cost_and_violations_are_not_bounded() {
    let c = contract(
        "declare void @nfcc__violation(i32, i64)
define internal i32 @helper(i32 %x) {
  %y = add i32 %x, 1
  ret i32 %y, !nfcc.cost !1
}
define i32 @nf_process(ptr %p) {
entry:
  %lp = getelementptr i8, ptr %p, i64 8
  %len = load i32, ptr %lp
  %bad = icmp ugt i32 %len, 9000
  br i1 %bad, label %stop, label %ok, !nfcc.cost !0
stop:
  call void @nfcc__violation(i32 0, i64 0)
  unreachable, !nfcc.cost !0
ok:
  %r = call i32 @helper(i32 %len)
  ret i32 0, !nfcc.cost !0
}
!0 = !{i64 2, i64 0, i64 0, i64 1}
!1 = !{i64 10, i64 1, i64 1, i64 1}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    assert_eq!(c.coverage.violation_paths, 1);
    assert_eq!(c.classes.len(), 1);
    assert_eq!(c.classes[0].instructions.eval(&pcv(&[])), 14);
    assert_eq!(c.classes[0].memory.eval(&pcv(&[])), 2);
}

#[test]
fn contracts_round_trip_through_json() {
    let c = contract("define i32 @nf_process(ptr %p) {\n  ret i32 0, !nfcc.cost !0\n}\n!0 = !{i64 7, i64 2, i64 1, i64 1}\n");
    let back = Contract::from_json(&c.to_json()).expect("parses");
    assert_eq!(back, c);
    assert!(Contract::from_json("{}").is_err());
    assert!(c.table().contains("<= 7"));
}

/// The configuration that summarises the functions named.
fn summarising(names: &[&str]) -> Config {
    Config { summarise_functions: names.iter().map(|n| n.to_string()).collect(), ..Config::default() }
}

// A callee reading module state: two internal paths (7 or 3 instructions), each returning
// `%ret`; the caller (2 + 2 instructions around it) returns what it got.
fn two_paths_returning(a: &str, b: &str, caller_uses_result: bool) -> String {
    let tail = if caller_uses_result { "ret i32 %r" } else { "ret i32 0" };
    format!(
        "@table = internal global ptr null
define internal i32 @lookup(ptr %t) {{
entry:
  %v = load i32, ptr %t
  %big = icmp ugt i32 %v, 10
  br i1 %big, label %slow, label %fast, !nfcc.cost !1
slow:
  ret i32 {a}, !nfcc.cost !2
fast:
  ret i32 {b}, !nfcc.cost !3
}}
define i32 @nf_process(ptr %p) {{
entry:
  %t = load ptr, ptr @table
  %r = call i32 @lookup(ptr %t)
  br label %out, !nfcc.cost !0
out:
  {tail}, !nfcc.cost !0
}}
!0 = !{{i64 2, i64 1, i64 0, i64 1}}
!1 = !{{i64 4, i64 1, i64 0, i64 3}}
!2 = !{{i64 3, i64 0, i64 0, i64 1}}
!3 = !{{i64 1, i64 0, i64 0, i64 1}}
"
    )
}

#[test]
fn a_summarised_call_is_one_path_per_outcome_with_its_largest_cost() {
    // Both internal paths return 0: one outcome, charged 4 + 3 (the larger side).
    let ir = two_paths_returning("0", "0", true);
    let inlined = contract(&ir);
    let summarised = contract_with(&ir, &summarising(&["lookup"]));
    assert!(summarised.coverage.complete, "{:?}", summarised.coverage);
    assert_eq!(inlined.classes.iter().map(|k| k.paths).sum::<u64>(), 2);
    assert_eq!(summarised.classes.iter().map(|k| k.paths).sum::<u64>(), 1);
    let bound = |c: &Contract| c.classes.iter().map(|k| k.instructions.eval(&pcv(&[]))).max();
    // 2 + (4 + 3) + 2 on the slow side; the summary never charges less than inlining.
    assert_eq!(bound(&inlined), Some(11));
    assert_eq!(bound(&summarised), Some(11));
    assert_eq!(summarised.classes[0].memory.eval(&pcv(&[])), 1 + 1 + 1);
}

#[test]
fn a_used_result_forks_the_caller_on_each_returned_constant() {
    let c = contract_with(&two_paths_returning("1", "-1", true), &summarising(&["lookup"]));
    assert!(c.coverage.complete, "{:?}", c.coverage);
    assert_eq!(c.classes.iter().map(|k| k.paths).sum::<u64>(), 2);
    let mut returns: Vec<String> = c.classes.iter().flat_map(|k| k.returns.clone()).collect();
    returns.sort();
    assert_eq!(returns, ["drop", "port 1"]);
    // Each outcome carries its own cost: 2 + 7 + 2 when it returns 1, 2 + 5 + 2 for -1.
    let max = c.classes.iter().map(|k| k.instructions.eval(&pcv(&[]))).max();
    assert_eq!(max, Some(11));
    for k in c.classes.iter().filter(|k| k.returns == ["drop"]) {
        assert_eq!(k.instructions.eval(&pcv(&[])), 9);
    }
}

#[test]
fn an_unused_result_merges_every_outcome_into_one_path() {
    let c = contract_with(&two_paths_returning("1", "-1", false), &summarising(&["lookup"]));
    assert!(c.coverage.complete, "{:?}", c.coverage);
    assert_eq!(c.classes.len(), 1);
    assert_eq!(c.classes[0].paths, 1);
    assert_eq!(c.classes[0].instructions.eval(&pcv(&[])), 11);
}

// A callee storing into the caller's local through a pointer (7 on one path, `other` on
// the other); the caller branches on what it reads back.
fn writes_through_a_pointer(other: u32) -> String {
    format!(
        "@table = internal global ptr null
define internal void @fill(ptr %t, ptr %out) {{
entry:
  %v = load i32, ptr %t
  %big = icmp ugt i32 %v, 10
  br i1 %big, label %a, label %b, !nfcc.cost !0
a:
  store i32 7, ptr %out
  ret void, !nfcc.cost !0
b:
  store i32 {other}, ptr %out
  ret void, !nfcc.cost !0
}}
define i32 @nf_process(ptr %p) {{
entry:
  %x = alloca i32
  store i32 0, ptr %x
  %t = load ptr, ptr @table
  call void @fill(ptr %t, ptr %x)
  %got = load i32, ptr %x
  %seven = icmp eq i32 %got, 7
  br i1 %seven, label %yes, label %no, !nfcc.cost !0
yes:
  ret i32 1, !nfcc.cost !0
no:
  ret i32 -1, !nfcc.cost !0
}}
!0 = !{{i64 1, i64 0, i64 1, i64 1}}
"
    )
}

#[test]
fn what_a_summarised_call_writes_is_known_only_where_every_path_agrees() {
    // Both paths store 7: the caller reads 7 and takes one side.
    let same = contract_with(&writes_through_a_pointer(7), &summarising(&["fill"]));
    assert!(same.coverage.complete, "{:?}", same.coverage);
    assert_eq!(same.classes.iter().map(|k| k.paths).sum::<u64>(), 1);
    assert_eq!(same.classes[0].returns, ["port 1"]);
    // 7 or 9: the local holds either, so the caller goes both ways.
    let differ = contract_with(&writes_through_a_pointer(9), &summarising(&["fill"]));
    assert!(differ.coverage.complete, "{:?}", differ.coverage);
    assert_eq!(differ.classes.iter().map(|k| k.paths).sum::<u64>(), 2);
}

// A call whose outcome (module state) picks one of two blocks that join again; then a test
// of the packet's length.
const JOIN_AFTER_A_CALL: &str = "@table = internal global ptr null
define internal i32 @lookup(ptr %t) {
entry:
  %v = load i32, ptr %t
  %big = icmp ugt i32 %v, 10
  br i1 %big, label %slow, label %fast, !nfcc.cost !0
slow:
  ret i32 1, !nfcc.cost !0
fast:
  ret i32 0, !nfcc.cost !0
}
define i32 @nf_process(ptr %p) {
entry:
  %t = load ptr, ptr @table
  %r = call i32 @lookup(ptr %t)
  %hit = icmp eq i32 %r, 1
  br i1 %hit, label %a, label %b, !nfcc.cost !0
a:
  br label %join, !nfcc.cost !1
b:
  br label %join, !nfcc.cost !0
join:
  %lp = getelementptr i8, ptr %p, i64 8
  %len = load i32, ptr %lp
  %short = icmp ult i32 %len, 14
  br i1 %short, label %drop, label %fwd, !nfcc.cost !0
drop:
  ret i32 -1, !nfcc.cost !0
fwd:
  ret i32 1, !nfcc.cost !0
}
!0 = !{i64 1, i64 0, i64 0, i64 1}
!1 = !{i64 5, i64 0, i64 0, i64 1}
";

#[test]
fn paths_that_differ_only_in_module_state_merge_where_they_join() {
    // Executed in place, the callee's result is module state like any other: the two
    // outcomes merge at `join`, and only the length splits.
    let inlined = contract(JOIN_AFTER_A_CALL);
    assert!(inlined.coverage.complete, "{:?}", inlined.coverage);
    assert_eq!(inlined.classes.iter().map(|k| k.paths).sum::<u64>(), 2);
    assert!(inlined.calls.is_empty());
    // The merged path pays the dearer side (a: 5): entry 1 + lookup 2 + 5 + join 1 + ret 1.
    for k in &inlined.classes {
        assert_eq!(k.instructions.eval(&pcv(&[])), 10, "{}", k.when);
    }
}

#[test]
fn a_summarised_calls_results_split_the_classes_and_are_counted() {
    // From its summary, the call returns a constant on each outcome: it is tracked, its
    // outcomes stay apart where the paths join, and each class names its result and pays
    // only its own side.
    let c = contract_with(JOIN_AFTER_A_CALL, &summarising(&["lookup"]));
    assert!(c.coverage.complete, "{:?}", c.coverage);
    assert_eq!(c.calls.len(), 1);
    let site = &c.calls[0];
    assert_eq!((site.callee.as_str(), site.function.as_str(), site.block, site.index, site.width), ("lookup", "nf_process", 0, 1, 32));
    assert_eq!(site.values, vec!["0".to_string(), "1".to_string()]);
    assert_eq!(site.counters(), vec![format!("{}=0", site.name), format!("{}=1", site.name), format!("{}=other", site.name)]);
    assert_eq!(c.classes.len(), 4);
    let hit = format!("{}=1", site.name);
    for k in &c.classes {
        assert_eq!(k.paths, 1, "{}", k.when);
        let took_a = k.results.get(&hit) == Some(&1);
        assert_eq!(k.results.values().sum::<u64>(), 1, "{}", k.when);
        assert!(k.when.contains(&format!("{} == {}", site.name, if took_a { 1 } else { 0 })), "{}", k.when);
        assert_eq!(k.instructions.eval(&pcv(&[])), if took_a { 10 } else { 6 }, "{}", k.when);
    }
    // A packet is in a class only if the counted results match: a long frame whose call
    // returned 1 is in exactly the class of `a`; one whose call returned anything else is
    // in none.
    let frame = vec![0u8; 60];
    let input = nfcc_symbex::contract::Input { packet: &frame, port: 0, time_ns: 0 };
    let counts = |n: &str| -> BTreeMap<String, u64> { [(n.to_string(), 1)].into_iter().collect() };
    let found = c.classes_of(input, &counts(&hit)).expect("evaluates");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].instructions.eval(&pcv(&[])), 10);
    assert!(c.classes_of(input, &counts(&format!("{}=other", site.name))).expect("evaluates").is_empty());
    assert!(c.classes_of(input, &BTreeMap::new()).expect("evaluates").is_empty());
}

#[test]
fn conditions_chained_as_selects_read_as_junctions() {
    // `len < 14 || len > 1000` as clang's optimiser writes it: a select of conditions.
    let c = contract(
        "define i32 @nf_process(ptr %p) {
entry:
  %lp = getelementptr i8, ptr %p, i64 8
  %len = load i32, ptr %lp
  %short = icmp ult i32 %len, 14
  %long = icmp ugt i32 %len, 1000
  %bad = select i1 %short, i1 true, i1 %long
  br i1 %bad, label %drop, label %fwd, !nfcc.cost !0
drop:
  ret i32 -1, !nfcc.cost !0
fwd:
  ret i32 1, !nfcc.cost !0
}
!0 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    let mut whens: Vec<&str> = c.classes.iter().map(|k| k.when.as_str()).collect();
    whens.sort();
    assert_eq!(whens, ["(len < 14 || len > 1000)", "(len >= 14 && len <= 1000)"], "{whens:?}");
}

#[test]
fn bytes_ored_together_and_compared_with_zero_read_as_a_field() {
    // eth.type (bytes 12, 13) all zero, as `(p[12] | p[13]) == 0`.
    let c = contract(
        "define i32 @nf_process(ptr %p) {
entry:
  %data = load ptr, ptr %p
  %ap = getelementptr i8, ptr %data, i64 12
  %bp = getelementptr i8, ptr %data, i64 13
  %a = load i8, ptr %ap
  %b = load i8, ptr %bp
  %or = or i8 %a, %b
  %zero = icmp eq i8 %or, 0
  br i1 %zero, label %drop, label %fwd, !nfcc.cost !0
drop:
  ret i32 -1, !nfcc.cost !0
fwd:
  ret i32 1, !nfcc.cost !0
}
!0 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    let mut whens: Vec<&str> = c.classes.iter().map(|k| k.when.as_str()).collect();
    whens.sort();
    assert_eq!(whens, ["eth.type != 0", "eth.type == 0"], "{whens:?}");
}

#[test]
fn a_call_in_a_loop_is_charged_per_returned_constant() {
    // Walk a chain, calling `check` on every entry: it returns 1 after 3 + 20 instructions,
    // 0 after 3 + 1. Its runs are counted per result, each at that outcome's cost.
    let cfg = summarising(&["check"]);
    let c = contract_with(
        "@head = internal global ptr null
define internal i32 @check(ptr %e) {
entry:
  %vp = getelementptr i8, ptr %e, i64 8
  %v = load i32, ptr %vp
  %big = icmp ugt i32 %v, 10
  br i1 %big, label %dear, label %cheap, !nfcc.cost !6
dear:
  ret i32 1, !nfcc.cost !7
cheap:
  ret i32 0, !nfcc.cost !5
}
define i32 @nf_process(ptr %p) {
entry:
  %h0 = load ptr, ptr @head
  br label %h, !nfcc.cost !0
h:
  %cur = phi ptr [ %h0, %entry ], [ %next, %body ]
  %k = phi i32 [ 0, %entry ], [ %k1, %body ]
  %null = icmp eq ptr %cur, null
  br i1 %null, label %exit, label %body, !nfcc.cost !1
body:
  %r = call i32 @check(ptr %cur)
  %k1 = add i32 %k, %r
  %next = load ptr, ptr %cur
  br label %h, !nfcc.cost !2
exit:
  ret i32 %k, !nfcc.cost !5
}
!0 = !{i64 4, i64 1, i64 0, i64 2}
!1 = !{i64 2, i64 0, i64 0, i64 2}
!2 = !{i64 3, i64 1, i64 0, i64 3}
!5 = !{i64 1, i64 0, i64 0, i64 1}
!6 = !{i64 3, i64 1, i64 0, i64 3}
!7 = !{i64 20, i64 0, i64 0, i64 1}
",
        &cfg,
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    let names: Vec<&str> = c.pcvs.iter().map(|p| p.name.as_str()).collect();
    let named = |suffix: &str| names.iter().find(|n| n.ends_with(suffix)).unwrap_or_else(|| panic!("no {suffix} in {names:?}")).to_string();
    let (one, zero, other) = (named("=1"), named("=0"), named("=other"));
    let walk = c.pcvs.iter().find(|p| !p.sites.is_empty()).expect("the loop's PCV").name.clone();
    let counted = c.pcvs.iter().find(|p| p.name == other).expect("other");
    assert_eq!(counted.calls[0].returned_none_of, vec!["0".to_string(), "1".to_string()]);
    // Real with t back edges (t + 1 runs of the header) and d dear calls among t:
    // 4 + 2(t + 1) + 3t + 23d + 4(t - d) + 1.
    for t in 0..6u64 {
        for d in 0..=t {
            let real = 7 + 9 * t + 19 * d;
            let at = pcv(&[(&walk, t + 1), (&one, d), (&zero, t - d)]);
            let bound = c.classes.iter().map(|k| k.instructions.eval(&at)).max().expect("a class");
            assert_eq!(bound, real as i64, "t={t} d={d}");
        }
    }
}

#[test]
fn a_summarised_loop_inside_a_summarised_loop_is_paid_once_per_inner_iteration() {
    // For each entry of a chain, walk its sub-chain: both trip counts depend on state.
    let c = contract(
        "@head = internal global ptr null
define i32 @nf_process(ptr %p) {
entry:
  %h0 = load ptr, ptr @head
  br label %oh, !nfcc.cost !0
oh:
  %cur = phi ptr [ %h0, %entry ], [ %next, %olatch ]
  %null = icmp eq ptr %cur, null
  br i1 %null, label %exit, label %obody, !nfcc.cost !1
obody:
  %sp = getelementptr i8, ptr %cur, i64 8
  %s0 = load ptr, ptr %sp
  br label %ih, !nfcc.cost !2
ih:
  %sub = phi ptr [ %s0, %obody ], [ %snext, %ibody ]
  %snull = icmp eq ptr %sub, null
  br i1 %snull, label %olatch, label %ibody, !nfcc.cost !3
ibody:
  %snext = load ptr, ptr %sub
  br label %ih, !nfcc.cost !4
olatch:
  %next = load ptr, ptr %cur
  br label %oh, !nfcc.cost !5
exit:
  ret i32 0, !nfcc.cost !6
}
!0 = !{i64 4, i64 1, i64 0, i64 2}
!1 = !{i64 2, i64 0, i64 0, i64 2}
!2 = !{i64 3, i64 1, i64 0, i64 2}
!3 = !{i64 2, i64 0, i64 0, i64 2}
!4 = !{i64 5, i64 1, i64 0, i64 2}
!5 = !{i64 3, i64 1, i64 0, i64 2}
!6 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    let loops: Vec<&str> = c.pcvs.iter().filter(|p| !p.sites.is_empty()).map(|p| p.name.as_str()).collect();
    assert_eq!(loops.len(), 2, "{:?}", c.pcvs);
    let (outer, inner) = (loops[0], loops[1]);
    // t outer back edges, each after walking a sub-chain; u inner back edges in all (the
    // last outer visit exits at once). Real: 4 + 2(t + 1) + t(3 + 3) + 2(t + u) + 5u + 1:
    // the outer iteration that paid an inner one concretely is credited it.
    for t in 0..5u64 {
        for u in 0..8u64 {
            if t == 0 && u > 0 {
                continue;
            }
            let real = 7 + 10 * t + 7 * u;
            // Runs of the headers: the outer one t + 1 times, the inner one u + t times
            // (entered once per outer iteration).
            let at = pcv(&[(outer, t + 1), (inner, u + t)]);
            let bound = c.classes.iter().map(|k| k.instructions.eval(&at)).max().expect("a class");
            assert!(bound >= real as i64, "t={t} u={u}: bound {bound} < real {real}");
            assert!(bound <= real as i64 + 2, "t={t} u={u}: bound {bound} far above real {real}");
        }
    }
}

/// `nf_process` with a summarised walk of a heap chain between a length test and a test of
/// packet byte 12; the walk's body is `BODY`, blocks ending in `br label %latch` (it may
/// write through `%cur` or `%d`; `%k` counts the visits).
fn walk_then_test_byte(body: &str) -> Contract {
    contract(&format!(
        "@head = internal global ptr null
define i32 @nf_process(ptr %p) {{
entry:
  %d = load ptr, ptr %p
  %lp = getelementptr i8, ptr %p, i64 8
  %len = load i32, ptr %lp
  %short = icmp ult i32 %len, 14
  br i1 %short, label %drop, label %start, !nfcc.cost !0
start:
  %h0 = load ptr, ptr @head
  br label %h, !nfcc.cost !0
h:
  %cur = phi ptr [ %h0, %start ], [ %next, %latch ]
  %k = phi i32 [ 0, %start ], [ %k1, %latch ]
  %null = icmp eq ptr %cur, null
  br i1 %null, label %after, label %body, !nfcc.cost !1
body:
  %next = load ptr, ptr %cur
{body}
latch:
  %k1 = add i32 %k, 1
  br label %h, !nfcc.cost !1
after:
  %bp = getelementptr i8, ptr %d, i64 12
  %b = load i8, ptr %bp
  %ip = icmp eq i8 %b, 8
  br i1 %ip, label %dear, label %cheap, !nfcc.cost !1
dear:
  ret i32 1, !nfcc.cost !2
cheap:
  ret i32 0, !nfcc.cost !1
drop:
  ret i32 -1, !nfcc.cost !1
}}
!0 = !{{i64 4, i64 1, i64 0, i64 3}}
!1 = !{{i64 2, i64 0, i64 0, i64 2}}
!2 = !{{i64 40, i64 0, i64 0, i64 2}}
"
    ))
}

#[test]
fn a_loop_that_writes_only_the_heap_leaves_the_packet_known() {
    // The walk writes each entry it visits: the packet is as it arrived after it, so the
    // test of byte 12 is a condition on the input and splits the classes.
    let c = walk_then_test_byte("  %fp = getelementptr i8, ptr %cur, i64 8\n  store i32 1, ptr %fp\n  br label %latch, !nfcc.cost !1");
    assert!(c.coverage.complete, "{:?}", c.coverage);
    let whens: Vec<&str> = c.classes.iter().map(|k| k.when.as_str()).collect();
    assert_eq!(whens, ["len < 14", "len >= 14 && pkt[12] != 8", "len >= 14 && pkt[12] == 8"]);
    assert!(c.classes[1].instructions.eval(&pcv(&[])) < 40, "{}", c.classes[1].instructions);
}

#[test]
fn a_loop_that_writes_the_packet_makes_its_bytes_unknown_after_it() {
    // The walk sets byte 12 on its fourth visit, after the engine started summarising it:
    // whatever the packet carried, a long chain runs the dear side. The first exploration
    // assumed the loop leaves the packet alone; it saw the write and explored again, so a
    // class without a condition on byte 12 pays the dear side.
    let c = walk_then_test_byte(
        "  %fourth = icmp eq i32 %k, 3
  br i1 %fourth, label %write, label %latch, !nfcc.cost !1
write:
  %bq = getelementptr i8, ptr %d, i64 12
  store i8 8, ptr %bq
  br label %latch, !nfcc.cost !1",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    let whens: Vec<&str> = c.classes.iter().map(|k| k.when.as_str()).collect();
    let any_byte = c.classes.iter().find(|k| k.when == "len >= 14").unwrap_or_else(|| panic!("{whens:#?}"));
    assert!(any_byte.instructions.eval(&pcv(&[])) >= 40, "{}", any_byte.instructions);
}

#[test]
fn a_packet_read_at_a_header_length_plus_a_selected_offset_stays_in_the_packet() {
    // NAT reads the L4 checksum at `l4 + (proto == TCP ? 16 : 6)`, l4 behind an IHL-long
    // header: base + symbolic length + select. The address must still be seen as the
    // packet's (it once looked like a heap address, and the heap assumption on the next
    // byte's address made every such path infeasible: the forwarding paths vanished from a
    // contract that said it covered every path).
    let c = contract(
        "define i32 @nf_process(ptr %p) {
entry:
  %data = load ptr, ptr %p
  %vp = getelementptr i8, ptr %data, i64 14
  %v = load i8, ptr %vp
  %ihl = and i8 %v, 15
  %ihl4 = shl i8 %ihl, 2
  %ihl64 = zext i8 %ihl4 to i64
  %ip = getelementptr i8, ptr %data, i64 14
  %l4 = getelementptr i8, ptr %ip, i64 %ihl64
  %pp = getelementptr i8, ptr %data, i64 23
  %proto = load i8, ptr %pp
  %tcp = icmp eq i8 %proto, 6
  %off = select i1 %tcp, i64 16, i64 6
  %cp = getelementptr i8, ptr %l4, i64 %off
  %hi = load i8, ptr %cp
  %cp1 = getelementptr i8, ptr %cp, i64 1
  %lo = load i8, ptr %cp1
  %both = or i8 %hi, %lo
  %zero = icmp eq i8 %both, 0
  br i1 %zero, label %a, label %b, !nfcc.cost !0
a:
  ret i32 -1, !nfcc.cost !0
b:
  ret i32 1, !nfcc.cost !0
}
!0 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    assert_eq!(c.classes.len(), 2, "{:#?}", c.classes);
    let mut frame = vec![0u8; 60];
    frame[14] = 0x45;
    frame[23] = 17;
    frame[14 + 20 + 6] = 0x12;
    let classes = Contract::from_json(&c.to_json()).expect("parses");
    let of = |f: &[u8]| {
        let input = nfcc_symbex::contract::Input {
            packet: f,
            port: 0,
            time_ns: 0,
        };
        classes
            .classes_of(input, &Default::default())
            .expect("evaluates")
            .iter()
            .map(|k| k.returns[0].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(of(&frame), ["port 1"]);
    frame[14 + 20 + 6] = 0;
    assert_eq!(of(&frame), ["drop"]);
    frame[23] = 6;
    frame[14 + 20 + 17] = 1;
    assert_eq!(of(&frame), ["port 1"]);
}

#[test]
fn a_pointer_selected_between_the_packet_and_a_global_keeps_each_region() {
    // Long frames read byte 21, short ones a constant global: each side on its own path.
    let c = contract(
        "@g = constant [2 x i8] c\"\\00\\07\"
define i32 @nf_process(ptr %p) {
entry:
  %data = load ptr, ptr %p
  %lp = getelementptr i8, ptr %p, i64 8
  %len = load i32, ptr %lp
  %long = icmp uge i32 %len, 60
  %a = getelementptr i8, ptr %data, i64 20
  %q = select i1 %long, ptr %a, ptr @g
  %q1 = getelementptr i8, ptr %q, i64 1
  %v = load i8, ptr %q1
  %seven = icmp eq i8 %v, 7
  br i1 %seven, label %a7, label %b, !nfcc.cost !0
a7:
  ret i32 -1, !nfcc.cost !0
b:
  ret i32 1, !nfcc.cost !0
}
!0 = !{i64 1, i64 0, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    let whens: Vec<&str> = c.classes.iter().map(|k| k.when.as_str()).collect();
    assert_eq!(
        whens,
        [
            "len < 60",
            "len >= 60 && pkt[21] != 7",
            "len >= 60 && pkt[21] == 7"
        ]
    );
    assert_eq!(c.classes[0].returns, ["drop"]);
}

#[test]
fn the_way_a_loop_is_left_splits_the_classes() {
    // A probe: a hit leaves from the body and costs 1 more; a miss leaves from the header
    // when the chain ends, and claims a slot for 30. Paths that leave differently stay
    // apart, so a hit is not charged the claim: its class names its exit.
    let c = contract(
        "@head = internal global ptr null
define i32 @nf_process(ptr %p) {
entry:
  %h0 = load ptr, ptr @head
  br label %h, !nfcc.cost !0
h:
  %cur = phi ptr [ %h0, %entry ], [ %next, %body ]
  %null = icmp eq ptr %cur, null
  br i1 %null, label %claim, label %body, !nfcc.cost !1
body:
  %kp = getelementptr i8, ptr %cur, i64 8
  %key = load i32, ptr %kp
  %hit = icmp eq i32 %key, 7
  %next = load ptr, ptr %cur
  br i1 %hit, label %found, label %h, !nfcc.cost !2
found:
  ret i32 1, !nfcc.cost !3
claim:
  ret i32 1, !nfcc.cost !4
}
!0 = !{i64 4, i64 1, i64 0, i64 2}
!1 = !{i64 2, i64 0, i64 0, i64 2}
!2 = !{i64 3, i64 2, i64 0, i64 4}
!3 = !{i64 1, i64 0, i64 0, i64 1}
!4 = !{i64 30, i64 5, i64 0, i64 1}
",
    );
    assert!(c.coverage.complete, "{:?}", c.coverage);
    let exits: Vec<_> = c.calls.iter().filter(|s| s.exit_side.is_some()).collect();
    assert_eq!(exits.len(), 2, "{:#?}", c.calls);
    let hit = exits.iter().find(|s| s.block == 2).expect("the body's exit");
    let miss = exits.iter().find(|s| s.block == 1).expect("the header's exit");
    assert_eq!((hit.exit_side, miss.exit_side), (Some(0), Some(0)));
    assert_eq!(c.classes.len(), 2, "{:#?}", c.classes);
    let n = c.pcvs.iter().find(|p| p.name.starts_with("n_")).expect("the loop's PCV").name.clone();
    let class_of = |exit: &str| c.classes.iter().find(|k| k.results.get(exit) == Some(&1)).unwrap_or_else(|| panic!("{exit}: {:#?}", c.classes));
    for t in 0..6u64 {
        // t bodies that miss, then the hit: header and body t + 1 times.
        let real_hit = 4 + 2 * (t + 1) + 3 * (t + 1) + 1;
        let b = class_of(&hit.name).instructions.eval(&pcv(&[(&n, t + 1)]));
        assert!(b >= real_hit as i64 && b <= real_hit as i64 + 3, "hit after {t}: bound {b}, real {real_hit}");
        // t bodies that miss, then the chain ends: header t + 1 times.
        let real_miss = 4 + 2 * (t + 1) + 3 * t + 30;
        let b = class_of(&miss.name).instructions.eval(&pcv(&[(&n, t + 1)]));
        assert!(b >= real_miss as i64 && b <= real_miss as i64 + 3, "miss after {t}: bound {b}, real {real_miss}");
    }
    // Concrete packets find their class through the exits' counters.
    let frame = vec![0u8; 60];
    let input = nfcc_symbex::contract::Input { packet: &frame, port: 0, time_ns: 0 };
    let found = c.classes_of(input, &pcv(&[(&hit.name, 1)])).expect("evaluates");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].results.get(&hit.name), Some(&1));
}

#[test]
fn a_preheader_behind_a_test_of_a_callees_result_is_paid_only_by_the_runs_that_enter_the_loop() {
    // An expiry: `expire` (summarised) asks `ready` (summarised) whether the oldest entry is
    // due and walks the loop only then; its preheader costs 20. The result of `expire` is
    // not a constant, so its outcomes merge in the caller: were the preheader a constant of
    // the entering outcome, a call that expires nothing would be charged it too.
    let ir = "@head = internal global ptr null
define internal i32 @ready(ptr %t) {
entry:
  %v = load i32, ptr %t
  %due = icmp ugt i32 %v, 10
  %r = zext i1 %due to i32
  ret i32 %r, !nfcc.cost !1
}
define internal i32 @expire(ptr %t) {
entry:
  %r0 = call i32 @ready(ptr %t)
  %none = icmp eq i32 %r0, 0
  br i1 %none, label %out, label %pre, !nfcc.cost !2
pre:
  br label %body, !nfcc.cost !3
body:
  %n = phi i32 [ 0, %pre ], [ %n1, %body ]
  %n1 = add i32 %n, 1
  store i32 %n1, ptr %t
  %r1 = call i32 @ready(ptr %t)
  %again = icmp ne i32 %r1, 0
  br i1 %again, label %body, label %out, !nfcc.cost !4
out:
  %k = phi i32 [ 0, %entry ], [ %n1, %body ]
  ret i32 %k, !nfcc.cost !1
}
define i32 @nf_process(ptr %p) {
entry:
  %t = load ptr, ptr @head
  %k = call i32 @expire(ptr %t)
  ret i32 %k, !nfcc.cost !0
}
!0 = !{i64 2, i64 1, i64 0, i64 1}
!1 = !{i64 3, i64 1, i64 0, i64 3}
!2 = !{i64 4, i64 0, i64 0, i64 2}
!3 = !{i64 20, i64 4, i64 0, i64 1}
!4 = !{i64 5, i64 1, i64 0, i64 4}
";
    let c = contract_with(ir, &summarising(&["ready", "expire"]));
    assert!(c.coverage.complete, "{:?}", c.coverage);
    let arm = c.pcvs.iter().find(|p| p.blocks.iter().any(|b| b.block == 1)).unwrap_or_else(|| panic!("no arm at the preheader: {:?}", c.pcvs)).name.clone();
    let walk = c.pcvs.iter().find(|p| !p.sites.is_empty()).unwrap_or_else(|| panic!("no loop PCV: {:?}", c.pcvs)).name.clone();
    // The loop's call of `ready` is counted by its own PCV, once per run of the loop.
    let asks = c.pcvs.iter().find(|p| !p.calls.is_empty()).unwrap_or_else(|| panic!("no call PCV: {:?}", c.pcvs)).name.clone();
    let bound = |runs: u64, entered: u64| {
        let at = pcv(&[(&walk, runs), (&asks, runs), (&arm, entered)]);
        c.classes.iter().map(|k| k.instructions.eval(&at)).max().expect("a class")
    };
    // Nothing due: 2 + ready 3 + 4 + 3 = 12, the preheader not among them.
    assert_eq!(bound(0, 0), 12);
    // r entries expired: 2 + 3 + 4 + 20 + r * (5 + ready 3) + 3: never below.
    for r in 1..6u64 {
        let real = 32 + 8 * r as i64;
        let b = bound(r, 1);
        assert!(b >= real && b <= real + 3, "r={r}: bound {b}, real {real}");
    }
}

#[test]
fn a_path_that_outlives_the_time_limit_becomes_a_hole() {
    // A loop of 50 million iterations, every one unrolled (no summary before u32::MAX): one
    // path far longer than the analysis may take. The time limit stops it inside the path,
    // as a timeout hole, instead of only between paths.
    let ir = "define i32 @nf_process(ptr %p) {
entry:
  br label %h, !nfcc.cost !0
h:
  %i = phi i32 [ 0, %entry ], [ %n, %body ]
  %c = icmp ult i32 %i, 50000000
  br i1 %c, label %body, label %exit, !nfcc.cost !0
body:
  %n = add i32 %i, 1
  br label %h, !nfcc.cost !0
exit:
  ret i32 0, !nfcc.cost !0
}
!0 = !{i64 1, i64 0, i64 0, i64 1}
";
    let cfg = Config { time_limit: std::time::Duration::from_millis(50), max_steps: u64::MAX, unroll: u32::MAX, ..Config::default() };
    let c = contract_with(ir, &cfg);
    assert!(!c.coverage.complete, "{:?}", c.coverage);
    assert!(
        c.coverage.holes.iter().any(|h| h.kind == nfcc_symbex::HoleKind::Timeout && h.what.contains("still running")),
        "{:?}",
        c.coverage.holes
    );
}
