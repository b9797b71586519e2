//! The global allocator: the system's, except that running out of memory exits 3 with a line.
//!
//! Rust's default reaction to a failed allocation is to abort (SIGABRT, exit 134) with no word
//! a user can act on. Under a small memory or address-space limit (a pod's, `ulimit -v`) that
//! must be the documented internal error instead, whichever thread hits it.

use std::alloc::{GlobalAlloc, Layout, System};

/// `System`, but a null return ends the process with exit 3.
pub struct ExitOnOom;

fn out_of_memory() -> ! {
    const LINE: &[u8] = b"service-precheck: out of memory\n";
    // SAFETY: write and _exit need no allocation and are safe to call from any thread.
    unsafe {
        libc::write(libc::STDERR_FILENO, LINE.as_ptr().cast(), LINE.len());
        libc::_exit(crate::exit::Exit::Internal.code())
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only a null result is acted on.
unsafe impl GlobalAlloc for ExitOnOom {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_memory();
        }
        p
    }
}
