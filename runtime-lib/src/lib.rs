//! nfcc's runtime: the module ABI (`include/nfcc.h`, mirrored in [`abi`]), the C runtime
//! linked into every module (`c/`), and the host that loads modules and feeds them packets.
//!
//! Only this crate knows the ABI's layout; the driver asks it for the header and runtime
//! sources ([`abi::HEADER_NFCC_H`], [`abi::RUNTIME_C`]) when it builds a module.
#![deny(missing_docs)]

pub mod abi;
pub mod atomic;
pub mod config;
pub mod dpdk;
pub mod ds;
pub mod fault;
pub mod heap;
pub mod host;
pub mod memory;
pub mod module;
pub mod pcap;
pub mod traffic;
