//! The termination message: what Kubernetes shows as the container's `message` when a run fails.
//!
//! The kubelet reads the file at `terminationMessagePath` (`/dev/termination-log`, which it
//! mounts into every container) and keeps at most 4096 bytes of it. The text is the verdict's
//! second rendering (`Verdict::message`) or a usage error. Writing it must never change the
//! exit or delay it: the default path is only written when it exists (nothing is created
//! under /dev), anything but a regular file is refused, opens never wait for a FIFO's reader,
//! and the open and the write happen on a thread of their own that is given up after a small
//! budget (storage can stall in open or write whatever the flags say; `_exit` ends it).

use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use log::Level;

use crate::logging::{Line, emit};
use crate::output::write_fd;
use crate::quote::{escaped, quoted};

/// Where the kubelet looks unless a container says otherwise.
pub const DEFAULT: &str = "/dev/termination-log";

/// The most the kubelet keeps per container.
pub const MAX: usize = 4096;

/// No answer yet from the writer thread.
const PENDING: i32 = i32::MIN;

/// Writes `text` (escaped, cut to `MAX` bytes) to `path`: the flag's or the variable's value
/// (created if missing; empty: nowhere), or `None` for `DEFAULT` when it exists. A failure is
/// one warning line; after `budget` the write is given up on.
pub fn write(path: Option<OsString>, text: &str, budget: Duration) {
    let (path, create) = match path {
        // Where the kubelet made no file (a laptop, plain podman) there is nothing to write,
        // and no thread to start for it: a stat in /dev does not wait on storage.
        None if std::fs::symlink_metadata(DEFAULT).is_err() => return,
        None => (PathBuf::from(DEFAULT), false),
        Some(p) if p.is_empty() => return,
        Some(p) => (PathBuf::from(p), true),
    };
    let bytes = bounded(text);
    // The writer's answer: PENDING, 0 for written, -1 for not a regular file, else an errno.
    // An atomic and park, not a channel: a channel of another type would cost kilobytes.
    let answer = Arc::new(AtomicI32::new(PENDING));
    let (at, told, main) = (path.clone(), answer.clone(), thread::current());
    let spawned = thread::Builder::new().stack_size(64 * 1024).spawn(move || {
        let code = match put(&at, &bytes, create) {
            Ok(()) => 0,
            // Only a path with a NUL has no errno, and argv and the environment hold none.
            Err(e) => e.raw_os_error().unwrap_or(libc::EINVAL),
        };
        told.store(code, Ordering::Release);
        main.unpark();
    });
    let until = Instant::now() + budget;
    let result = match spawned {
        Err(e) => Err(e),
        Ok(_) => loop {
            match answer.load(Ordering::Acquire) {
                0 => break Ok(()),
                -1 => break Err(io::Error::other("it is not a regular file")),
                PENDING => {}
                errno => break Err(io::Error::from_raw_os_error(errno)),
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(io::ErrorKind::TimedOut.into());
            }
            thread::park_timeout(left);
        },
    };
    match result {
        Ok(()) => {}
        // The default is only written where the kubelet made it.
        Err(e) if !create && e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            let path = path.to_string_lossy();
            let path = quoted(&path);
            let msg = format_args!("cannot write the termination message to {path}: {e}");
            emit(Level::Warn, Line::new("warning").reason(&e), msg);
        }
    }
}

/// `text` with control characters escaped and a newline, within `MAX` bytes: cut at a
/// character boundary with `...` when longer.
pub fn bounded(text: &str) -> Vec<u8> {
    let mut text = escaped(text);
    if text.len() >= MAX {
        let mut at = MAX - 4;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push_str("...");
    }
    text.push('\n');
    text.into_bytes()
}

/// Opens `path` without waiting (no FIFO reader, no controlling terminal), refuses what is not
/// a regular file (looked at before the open too, so no device is ever opened), and writes.
/// libc rather than std::fs: OpenOptions would cost the binary kilobytes.
fn put(path: &Path, bytes: &[u8], create: bool) -> io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path and room for a stat.
    match regular(|st| unsafe { libc::stat(path.as_ptr(), st) }) {
        Err(e) if !create || e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let flags = libc::O_WRONLY | libc::O_TRUNC | libc::O_NONBLOCK | libc::O_NOCTTY;
    let flags = flags | libc::O_CLOEXEC | if create { libc::O_CREAT } else { 0 };
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: an open descriptor and room for a stat.
    let written = regular(|st| unsafe { libc::fstat(fd, st) }).and_then(|()| write_fd(fd, bytes));
    // SAFETY: `fd` is ours, closed once.
    unsafe { libc::close(fd) };
    written
}

/// Whether `stat` (stat(2) or fstat(2) into the buffer given) found a regular file; not one is
/// the error -1 (see `write`).
fn regular(stat: impl FnOnce(*mut libc::stat) -> libc::c_int) -> io::Result<()> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    if stat(st.as_mut_ptr()) != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: stat and fstat fill the buffer when they return 0.
    match unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFREG {
        true => Ok(()),
        false => Err(io::Error::from_raw_os_error(-1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_escapes_and_cuts_at_a_character() {
        assert_eq!(bounded("a\x1b[1mb\nc"), b"a\\u{1b}[1mb\\u{a}c\n");
        let long = "é".repeat(3000);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX, "{}", cut.len());
        let cut = String::from_utf8(cut).expect("cut at a character boundary");
        assert!(cut.ends_with("é...\n"), "{cut}");
        assert_eq!(bounded(&"x".repeat(MAX - 1)).len(), MAX);
    }
}
