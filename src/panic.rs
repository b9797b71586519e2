//! A panic is an internal error: its message on stderr, then exit 3 at once.
//!
//! No input may panic, but the runtime itself can: std panics in a new thread when it cannot
//! map the thread's alternate signal stack (an address-space limit, `ulimit -v`). Without a hook
//! that is SIGABRT (exit 134) after a backtrace attempt; with it, the documented exit 3. The
//! process ends from the panicking thread, so no other thread waits for a dead one.

use crate::exit::Exit;
use crate::output::write_fd;

/// Installs the hook; call it first thing in main.
pub fn exit_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>");
        let text = format!("service-precheck: internal error: thread '{name}' {info}\n");
        let _ = write_fd(libc::STDERR_FILENO, text.as_bytes());
        // SAFETY: _exit ends the process without running anything else.
        unsafe { libc::_exit(Exit::Internal.code()) }
    }));
}
