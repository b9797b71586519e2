//! `pthread_setname_np` for the static musl binary, without musl's: about 10 KB less, because
//! musl's pulls in its whole printf (`snprintf`, float formatting included) for one path.
//!
//! std names a thread from inside it: a spawned thread with a name calls
//! `pthread_setname_np(pthread_self(), name)` with the name already cut to 15 bytes, and std's
//! thread start links that call whether or not any thread has a name. For the calling thread musl
//! does exactly what this does, `prctl(PR_SET_NAME)`; only for another thread does it format a
//! /proc/self/task/<tid>/comm path with snprintf, and std never asks for that. Here that case
//! returns ENOTSUP, which std ignores (a name is a debugging aid, not a requirement).
//!
//! A static archive member is linked only for a symbol still undefined, and musl's
//! `pthread_setname_np.o` defines nothing else, so this definition takes its place; if anything
//! ever needed that member for another reason, the link would stop with "duplicate symbol".
//! tests/panic.rs runs the one named thread there is (src/selftest.rs) in the shipped binary.
#![cfg(target_env = "musl")]

use std::ffi::{c_char, c_int, c_ulong};

/// Longer names do not fit the kernel's 16-byte `comm`; musl answers ERANGE as well.
const MAX_NAME: usize = 15;

#[unsafe(no_mangle)]
extern "C" fn pthread_setname_np(thread: libc::pthread_t, name: *const c_char) -> c_int {
    // SAFETY: pthread_self has no preconditions; `name` is a NUL-terminated string (the
    // function's contract, which std keeps), and strnlen reads at most MAX_NAME + 1 bytes of it.
    unsafe {
        if thread != libc::pthread_self() {
            return libc::ENOTSUP;
        }
        if libc::strnlen(name, MAX_NAME + 1) > MAX_NAME {
            return libc::ERANGE;
        }
        let (name, unused): (c_ulong, c_ulong) = (name as c_ulong, 0);
        if libc::prctl(libc::PR_SET_NAME, name, unused, unused, unused) != 0 {
            return *libc::__errno_location();
        }
    }
    0
}
