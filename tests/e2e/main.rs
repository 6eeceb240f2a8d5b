//! End-to-end tests: the real `nfcc` binary builds the shipped examples, runs them on
//! generated traffic, and every output packet is checked against an independent model
//! written here. One test binary for the whole suite (LLVM links into every binary).

mod attacks;
mod bad_input;
mod bridge;
mod build;
mod check;
mod contract;
mod dpdk;
mod firewall;
mod lb;
mod macswap;
mod nat;
mod policer;
mod router;
mod stack;
mod support;
mod traffic;
