//! Writing `--help`, `--version` and usage errors, where a failed write is an error.
//!
//! std's stdout treats a closed descriptor (EBADF) as success, so `--help >&-` would exit 0
//! having printed nothing. These go straight to the descriptors with write(2), and a write that
//! fails (ENOSPC on /dev/full, EPIPE) makes the exit 3, as coreutils make it non-zero. A closed
//! stdout needs a second look: Rust's start-up code opens /dev/null read-write on any of the
//! descriptors 0-2 that is closed, so the write would "succeed"; see `reopened_by_runtime`.

use std::fmt::Display;
use std::io;

use crate::exit::Exit;

/// Writes all of `bytes` to `fd`, retrying on EINTR and short writes.
pub fn write_fd(fd: libc::c_int, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid buffer of the given length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // write returned a count no larger than the buffer.
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// Prints `text` on stdout: `Exit::Ready`, or `Exit::Internal` (with a line on stderr) when it
/// could not be written.
pub fn print(text: &str) -> Exit {
    let written = if reopened_by_runtime(libc::STDOUT_FILENO) {
        Err(io::Error::from_raw_os_error(libc::EBADF))
    } else {
        write_fd(libc::STDOUT_FILENO, text.as_bytes())
    };
    match written {
        Ok(()) => Exit::Ready,
        Err(e) => {
            let _ = write_fd(
                libc::STDERR_FILENO,
                format!("service-precheck: cannot write to standard output: {e}\n").as_bytes(),
            );
            Exit::Internal
        }
    }
}

/// Whether `fd` is /dev/null opened read-write: what Rust's runtime puts on a standard
/// descriptor that the process was started without. A shell's `>/dev/null` opens it write-only.
fn reopened_by_runtime(fd: libc::c_int) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` on success; fcntl F_GETFL only reads the descriptor's flags.
    unsafe {
        if libc::fstat(fd, st.as_mut_ptr()) != 0 {
            return false;
        }
        let st = st.assume_init();
        let dev_null = (st.st_mode & libc::S_IFMT) == libc::S_IFCHR
            && libc::major(st.st_rdev) == 1
            && libc::minor(st.st_rdev) == 3;
        dev_null && (libc::fcntl(fd, libc::F_GETFL) & libc::O_ACCMODE) == libc::O_RDWR
    }
}

/// A usage error on stderr, with the pointer to `--help`.
pub fn usage_error(e: &dyn Display) {
    let text =
        format!("service-precheck: {e}\nTry 'service-precheck --help' for more information.\n");
    let _ = write_fd(libc::STDERR_FILENO, text.as_bytes());
}
