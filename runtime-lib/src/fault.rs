//! Containing hardware faults raised by module code (guard pages, divide errors, traps).
//!
//! Invariants:
//! - The handlers are installed once per process, with `SA_ONSTACK` (a module that
//!   overflowed its stack has no stack left to run a handler on) and `SA_NODEFER` (the
//!   handler leaves by `siglongjmp`, and the signal must not stay blocked).
//! - A fault is turned into a violation only while module code runs on this thread
//!   (`CURRENT` is set, and cleared again whenever the module calls back into the host);
//!   any other fault is the host's own bug and gets the default action (a crash with a
//!   core), never a silent recovery.

use std::cell::Cell;
use std::sync::Once;

/// `void nfcc__fault(uint64_t addr)` of the module whose code is running.
pub type FaultFn = unsafe extern "C" fn(u64) -> !;

thread_local! {
    static CURRENT: Cell<Option<FaultFn>> = const { Cell::new(None) };
    static ALT_STACK: Cell<bool> = const { Cell::new(false) };
}

const SIGNALS: [libc::c_int; 5] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP];
const ALT_STACK_SIZE: usize = 64 * 1024;

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, _uc: *mut libc::c_void) {
    if let Some(fault) = CURRENT.with(|c| c.get()) {
        CURRENT.with(|c| c.set(None));
        // SAFETY: info is the kernel's siginfo for this signal.
        let addr = unsafe { (*info).si_addr() } as u64;
        // SAFETY: the module's runtime siglongjmps back to its entry point.
        unsafe { fault(addr) };
    }
    // Not module code: restore the default action and return, so the fault repeats and
    // the process dies the way it would have without us.
    // SAFETY: resetting a signal disposition.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for sig in SIGNALS {
            // SAFETY: a zeroed sigaction with our handler; fields set below.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = handler as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
    ALT_STACK.with(|done| {
        if done.get() {
            return;
        }
        // The stack is leaked on purpose: it must outlive any signal on this thread.
        let stack = Box::leak(vec![0u8; ALT_STACK_SIZE].into_boxed_slice());
        let ss = libc::stack_t { ss_sp: stack.as_mut_ptr().cast(), ss_flags: 0, ss_size: ALT_STACK_SIZE };
        // SAFETY: the stack is valid for the thread's lifetime.
        unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) };
        done.set(true);
    });
}

/// Runs `f` (which calls into module code) with faults routed to `fault`.
pub fn contain<T>(fault: FaultFn, f: impl FnOnce() -> T) -> T {
    install();
    let prev = CURRENT.with(|c| c.replace(Some(fault)));
    let r = f();
    CURRENT.with(|c| c.set(prev));
    r
}

/// While alive, faults are the host's again (used inside host services called by modules).
pub struct HostCode {
    prev: Option<FaultFn>,
}

impl HostCode {
    /// Suspends fault routing on this thread.
    pub fn enter() -> HostCode {
        HostCode { prev: CURRENT.with(|c| c.replace(None)) }
    }
}

impl Drop for HostCode {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}
