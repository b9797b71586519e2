//! A hidden trigger for tests/panic.rs: proves on the shipped binary that a panic in a probe
//! thread still prints its message and ends the whole process at once (exit 3, see src/panic.rs).
//!
//! The binary has no input that panics on purpose, and the panic path is exactly what the
//! unwinder stubs (src/unwind.rs) and `panic = "abort"` change, so the test needs a real panic
//! in the real static binary. With the variable below set, main panics in a fresh thread while
//! the main thread blocks for good, as it does while probe threads work: only the panic hook
//! (or an abort) ends the process; were the panic to unwind, the thread would die quietly and the process would hang.
//! Not in --help: it only ever kills the process.

/// Set (to anything) to make the binary panic as described above before it reads its arguments.
pub const PANIC_VAR: &str = "SERVICE_PRECHECK_SELFTEST_PANIC";

/// Does nothing unless `PANIC_VAR` is set; then never returns.
pub fn panic_if_asked() {
    if std::env::var_os(PANIC_VAR).is_none() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("selftest".into())
        .spawn(|| panic!("selftest: a panic in a thread (SERVICE_PRECHECK_SELFTEST_PANIC is set)"));
    if let Err(e) = spawned {
        panic!("selftest: cannot start a thread: {e}");
    }
    loop {
        std::thread::park();
    }
}
