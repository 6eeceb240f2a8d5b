//! The memory a module instance owns: one region holding its unsafe stack and its heap
//! (the `mem` region of the isolation checks), and a separate call stack for return
//! addresses and spills. Every mapping has inaccessible guard zones at both ends.
//!
//! Layout of the `mem` mapping, low to high addresses:
//! `[guard][unsafe stack (grows down)][heap][guard above mem]`; `mem_lo` is the start of the unsafe
//! stack, `mem_len` covers stack and heap, so one unsigned compare checks both.
//! Guards are at least as large as the biggest frame the isolation pass lets a function
//! take from the unsafe stack, and than the biggest access a check covers past its base;
//! the one above `mem` is `GUARD_ABOVE_MEM` (1 GiB of address space), which covers the
//! bounded array indices the isolation pass lets share their base's check.

use crate::heap::Heap;

/// Bytes of `PROT_NONE` at each end of every mapping (the isolation checks rely on it).
pub const GUARD: usize = crate::abi::GUARD;
const PAGE: usize = 4096;

/// An anonymous mapping with guard zones: `[guard][usable][guard]`.
pub struct Mapping {
    base: *mut u8,
    total: usize,
    usable: usize,
    below: usize,
}

// Owned exclusively; the pointer is just an address.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `usable` bytes (rounded up to pages) between guards of `guard` bytes. Memory is
    /// committed only when touched.
    pub fn reserve(usable: usize, guard: usize) -> std::io::Result<Mapping> {
        Mapping::reserve_between(usable, guard, guard)
    }

    /// Maps `usable` bytes (rounded up to pages) with `below` bytes of guard under them and
    /// `above` bytes over them.
    pub fn reserve_between(usable: usize, below: usize, above: usize) -> std::io::Result<Mapping> {
        let usable = usable.div_ceil(PAGE).max(1) * PAGE;
        let total = usable + below + above;
        // SAFETY: anonymous private mapping, no fixed address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let m = Mapping { base: p.cast(), total, usable, below };
        // SAFETY: the middle of our own mapping.
        let rc = unsafe {
            libc::mprotect(m.usable_start().cast(), usable, libc::PROT_READ | libc::PROT_WRITE)
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(m)
    }

    /// First usable byte.
    pub fn usable_start(&self) -> *mut u8 {
        // SAFETY: within the mapping.
        unsafe { self.base.add(self.below) }
    }

    /// Usable bytes.
    pub fn usable_len(&self) -> usize {
        self.usable
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what reserve() mapped.
        unsafe { libc::munmap(self.base.cast(), self.total) };
    }
}

/// All memory of one module instance.
pub struct ModuleMemory {
    mem: Mapping,
    call_stack: Mapping,
    stack_size: usize,
    /// The module's heap allocator, over the upper part of `mem`.
    pub heap: Heap,
}

impl ModuleMemory {
    /// Reserves a heap of `heap` bytes and two stacks of `stack` bytes each.
    pub fn reserve(heap: usize, stack: usize) -> std::io::Result<ModuleMemory> {
        let stack = stack.div_ceil(PAGE).max(1) * PAGE;
        let heap_size = heap.div_ceil(PAGE).max(1) * PAGE;
        let mem = Mapping::reserve_between(stack + heap_size, GUARD, crate::abi::GUARD_ABOVE_MEM)?;
        let call_stack = Mapping::reserve(stack, GUARD)?;
        // SAFETY: the heap is the part of `mem` above the unsafe stack.
        let heap = Heap::new(unsafe { mem.usable_start().add(stack) }, heap_size);
        Ok(ModuleMemory { mem, call_stack, stack_size: stack, heap })
    }

    /// Start of the `mem` region (bottom of the unsafe stack).
    pub fn mem_lo(&self) -> u64 {
        self.mem.usable_start() as u64
    }

    /// Length of the `mem` region (unsafe stack and heap).
    pub fn mem_len(&self) -> u64 {
        self.mem.usable_len() as u64
    }

    /// Initial unsafe stack pointer (its top, where the heap begins).
    pub fn usp_top(&self) -> u64 {
        self.mem_lo() + self.stack_size as u64
    }

    /// Initial call stack pointer (16-byte aligned top of the call stack).
    pub fn stack_top(&self) -> u64 {
        self.call_stack.usable_start() as u64 + self.call_stack.usable_len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_readable(addr: u64) -> bool {
        // Ask the kernel whether the page is readable: write(2) from it fails with EFAULT
        // instead of faulting.
        let mut fds = [0; 2];
        unsafe { libc::pipe(fds.as_mut_ptr()) };
        let r = unsafe { libc::write(fds[1], addr as *const libc::c_void, 1) };
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        r == 1
    }

    #[test]
    fn layout_and_guards() {
        let m = ModuleMemory::reserve(1 << 20, 64 * 1024).unwrap();
        assert_eq!(m.mem_len(), (1 << 20) + 64 * 1024);
        assert_eq!(m.usp_top(), m.mem_lo() + 64 * 1024);
        assert_eq!(m.heap.base(), m.usp_top() as usize);
        assert_eq!(m.stack_top() % 16, 0);
        assert!(probe_readable(m.mem_lo()));
        assert!(probe_readable(m.mem_lo() + m.mem_len() - 1));
        assert!(!probe_readable(m.mem_lo() - 1), "guard below the unsafe stack");
        assert!(!probe_readable(m.mem_lo() + m.mem_len()), "guard above the heap");
        let top = m.mem_lo() + m.mem_len() + crate::abi::GUARD_ABOVE_MEM as u64 - 1;
        assert!(!probe_readable(top), "the guard above the heap covers MEM_INDEX_REACH");
        assert!(!probe_readable(m.stack_top()), "guard above the call stack");
        assert!(probe_readable(m.stack_top() - 1));
    }
}
