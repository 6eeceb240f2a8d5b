//! The `nfcc` command as a library: argument parsing and messages ([`cli`]) over the build
//! of modules ([`build`]); running modules is the host's job, in `nfcc-runtime`.
#![deny(missing_docs)]

pub mod bench;
pub mod bench_dpdk;
pub mod build;
pub mod check;
pub mod cli;
pub mod contract;
pub mod stack;
