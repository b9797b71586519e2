//! A panic or an abort is an internal error: a line on stderr, then exit 3 at once.
//!
//! No input may panic, but the runtime itself can: std panics in a new thread when it cannot
//! map the thread's alternate signal stack (an address-space limit, `ulimit -v`). Without a hook
//! that is SIGABRT (exit 134) after a backtrace attempt; with it, the documented exit 3. The
//! process ends from the panicking thread, so no other thread waits for a dead one.
//!
//! std also aborts by itself where no hook is asked: when an allocation it makes with the system
//! allocator fails (a new thread's list of thread-local destructors, 64 bytes, bypasses the
//! global allocator of `alloc`), after printing "memory allocation of N bytes failed". So
//! SIGABRT gets a handler too, which ends the process with exit 3 instead of 134.

use crate::exit::Exit;
use crate::output::write_fd;

/// Installs the hook and the SIGABRT handler; call it first thing in main.
pub fn exit_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>");
        let text = format!("service-precheck: internal error: thread '{name}' {info}\n");
        let _ = write_fd(libc::STDERR_FILENO, text.as_bytes());
        // SAFETY: _exit ends the process without running anything else.
        unsafe { libc::_exit(Exit::Internal.code()) }
    }));
    // SAFETY: a handler that only calls write and _exit (both async-signal-safe); the action
    // is reset to the default by execve, so COMMAND aborts as it would anywhere.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = exit_on_abort as *const () as libc::sighandler_t;
        libc::sigfillset(&mut action.sa_mask);
        // If it cannot be installed, an abort stays SIGABRT: nothing better to do.
        libc::sigaction(libc::SIGABRT, &action, std::ptr::null_mut());
    }
}

extern "C" fn exit_on_abort(_sig: libc::c_int) {
    const LINE: &[u8] = b"service-precheck: internal error: aborted\n";
    // SAFETY: write and _exit are async-signal-safe; _exit never returns.
    unsafe {
        libc::write(libc::STDERR_FILENO, LINE.as_ptr().cast(), LINE.len());
        libc::_exit(Exit::Internal.code())
    }
}
