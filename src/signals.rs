//! SIGTERM and SIGINT without async handlers: blocked in every thread, taken by one waiter thread.
//!
//! As in tini: the signals are blocked before any other thread starts (threads inherit the
//! mask), and a dedicated thread takes them with sigwait and reports them to the main thread
//! like any other event. This also works as PID 1, where the kernel drops a signal whose
//! action is the default: a blocked signal is queued, never dropped.

use std::io;
use std::mem::MaybeUninit;
use std::thread;

/// The signals that end the wait.
pub const WAITED: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// The signal mask the process started with, to hand on to COMMAND.
pub struct OriginalMask(libc::sigset_t);

fn waited_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset with valid signal numbers cannot fail.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for sig in WAITED {
            libc::sigaddset(set.as_mut_ptr(), sig);
        }
        set.assume_init()
    }
}

/// Blocks the waited signals in the calling thread; call it before starting any other thread.
pub fn block() -> io::Result<OriginalMask> {
    let set = waited_set();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: both pointers are valid sigset_t; pthread_sigmask fills `old` on success.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: pthread_sigmask returned 0, so `old` is initialised.
    Ok(OriginalMask(unsafe { old.assume_init() }))
}

/// Starts the thread that waits for a signal and calls `on_signal` with its number.
pub fn spawn_waiter(on_signal: impl Fn(libc::c_int) + Send + 'static) -> io::Result<()> {
    thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let set = waited_set();
            loop {
                let mut sig: libc::c_int = 0;
                // SAFETY: `set` and `sig` are valid for the call.
                if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                    on_signal(sig);
                }
            }
        })
        .map(drop)
}

/// Gives the calling thread back the mask the process started with, and SIGPIPE its default
/// action (the Rust runtime ignores SIGPIPE, and ignored signals survive exec).
pub fn restore(original: &OriginalMask) -> io::Result<()> {
    // SAFETY: the mask came from pthread_sigmask; signal() with SIG_DFL is always valid.
    unsafe {
        if libc::signal(libc::SIGPIPE, libc::SIG_DFL) == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
        let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &original.0, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
    }
    Ok(())
}

/// "SIGTERM", "SIGINT", or "signal 10".
pub fn name(sig: libc::c_int) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}
