//! A module's private heap: part of the module's memory region, carved up by an
//! allocator whose bookkeeping lives in the host.
//!
//! Invariants: every pointer handed to the module lies inside `[base, base + size)`;
//! free memory is always zero (freed blocks are cleared), so `alloc` never has to touch
//! pages that were never used; the module cannot corrupt the allocator because nothing
//! of it is stored in module-writable memory.

use std::collections::{BTreeMap, HashMap};

/// Alignment of every allocation (what `nfcc.h` promises).
pub const ALIGN: usize = 16;

/// Why a `free` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreeError {
    /// The pointer is not the start of a live allocation of this heap.
    #[error("{0:#x} is not a block nfcc_alloc returned (or it was freed already)")]
    NotAllocated(usize),
}

/// A first-fit allocator over a zero-initialised range it does not own (the module's
/// [`crate::memory::ModuleMemory`] maps it).
pub struct Heap {
    base: *mut u8,
    size: usize,
    /// Free ranges: offset -> length, coalesced.
    free: BTreeMap<usize, usize>,
    /// Live allocations: offset -> rounded length.
    live: HashMap<usize, usize>,
    in_use: usize,
}

// The range is used exclusively through this Heap; the raw pointer is just its address.
unsafe impl Send for Heap {}

impl Heap {
    /// An allocator over `[base, base + size)`, which must be zero-filled, writable, and
    /// outlive the `Heap`.
    pub fn new(base: *mut u8, size: usize) -> Heap {
        let mut free = BTreeMap::new();
        if size > 0 {
            free.insert(0, size);
        }
        Heap { base, size, free, live: HashMap::new(), in_use: 0 }
    }

    /// First address of the region.
    pub fn base(&self) -> usize {
        self.base as usize
    }

    /// Size of the region in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Bytes currently allocated (after rounding).
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// A zeroed block of at least `len` bytes, or `None` if no free range is large enough.
    pub fn alloc(&mut self, len: usize) -> Option<*mut u8> {
        let len = len.max(1).checked_next_multiple_of(ALIGN)?;
        let (&off, &flen) = self.free.iter().find(|(_, &flen)| flen >= len)?;
        self.free.remove(&off);
        if flen > len {
            self.free.insert(off + len, flen - len);
        }
        self.live.insert(off, len);
        self.in_use += len;
        // SAFETY: off + len <= size, inside the mapping.
        Some(unsafe { self.base.add(off) })
    }

    /// Returns a block to the heap, clearing it.
    pub fn free(&mut self, ptr: usize) -> Result<(), FreeError> {
        let off = ptr.wrapping_sub(self.base as usize);
        let len = match self.live.remove(&off) {
            Some(len) if off < self.size => len,
            _ => return Err(FreeError::NotAllocated(ptr)),
        };
        // SAFETY: [off, off + len) was a live block inside the mapping.
        unsafe { std::ptr::write_bytes(self.base.add(off), 0, len) };
        self.in_use -= len;
        let (mut start, mut end) = (off, off + len);
        if let Some((&poff, &plen)) = self.free.range(..off).next_back() {
            if poff + plen == off {
                self.free.remove(&poff);
                start = poff;
            }
        }
        if let Some(nlen) = self.free.remove(&end) {
            end += nlen;
        }
        self.free.insert(start, end - start);
        Ok(())
    }

    /// True if `[addr, addr + len)` lies inside the region.
    pub fn contains(&self, addr: usize, len: usize) -> bool {
        let base = self.base as usize;
        addr >= base && addr.checked_add(len).is_some_and(|end| end <= base + self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Mapping;

    fn heap(size: usize) -> (Mapping, Heap) {
        let m = Mapping::reserve(size, 0).unwrap();
        let h = Heap::new(m.usable_start(), size);
        (m, h)
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_inside() {
        let (_m, mut h) = heap(1 << 16);
        let a = h.alloc(1).unwrap() as usize;
        let b = h.alloc(17).unwrap() as usize;
        let c = h.alloc(100).unwrap() as usize;
        for p in [a, b, c] {
            assert_eq!(p % ALIGN, 0);
            assert!(h.contains(p, 16));
        }
        assert_eq!(b - a, 16);
        assert_eq!(c - b, 32);
        assert_eq!(h.in_use(), 16 + 32 + 112);
    }

    #[test]
    fn exhaustion_returns_none_and_free_makes_room() {
        let (_m, mut h) = heap(4096);
        let a = h.alloc(4096).unwrap();
        assert!(h.alloc(1).is_none());
        h.free(a as usize).unwrap();
        assert!(h.alloc(4096).is_some());
    }

    #[test]
    fn freed_memory_comes_back_zeroed_and_coalesced() {
        let (_m, mut h) = heap(4096);
        let a = h.alloc(1024).unwrap();
        let b = h.alloc(1024).unwrap();
        let c = h.alloc(2048).unwrap();
        unsafe { std::ptr::write_bytes(b, 0xAB, 1024) };
        h.free(a as usize).unwrap();
        h.free(b as usize).unwrap();
        // a and b merged: a 2048-byte request fits at a.
        let d = h.alloc(2048).unwrap();
        assert_eq!(d, a);
        assert!(unsafe { std::slice::from_raw_parts(d, 2048) }.iter().all(|&x| x == 0));
        h.free(c as usize).unwrap();
        h.free(d as usize).unwrap();
        assert_eq!(h.in_use(), 0);
        assert!(h.alloc(4096).is_some());
    }

    #[test]
    fn bad_frees_are_refused() {
        let (_m, mut h) = heap(4096);
        let a = h.alloc(64).unwrap() as usize;
        assert_eq!(h.free(a + 16), Err(FreeError::NotAllocated(a + 16)));
        assert_eq!(h.free(0x1234), Err(FreeError::NotAllocated(0x1234)));
        h.free(a).unwrap();
        assert_eq!(h.free(a), Err(FreeError::NotAllocated(a)));
    }
}
