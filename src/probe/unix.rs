//! The unix-socket half of an attempt: does a stream socket at the path accept a connection?
//!
//! std's UnixStream has no connect timeout, and a connect to a listener whose queue is full
//! blocks until there is room; on Linux SO_SNDTIMEO bounds that wait (then EAGAIN), so the
//! socket is made by hand. The connection is closed at once; nothing is sent.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::talk::Said;

/// Why a socket path did not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnixError {
    /// ENOENT: no file at the path.
    Missing,
    /// ECONNREFUSED: a socket file nobody listens on (or a file that is no socket).
    Refused,
    /// The listener's queue stayed full for the whole timeout.
    TimedOut(Duration),
    /// Anything else, as an errno.
    Other(i32),
}

impl From<UnixError> for Said {
    /// What proves nothing is there (for `--invert`), as opposed to not knowing.
    fn from(e: UnixError) -> Said {
        let absent = matches!(e, UnixError::Missing | UnixError::Refused);
        Said::of(&e, absent)
    }
}

impl fmt::Display for UnixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixError::Missing => write!(f, "no socket: no such file or directory"),
            UnixError::Refused => write!(f, "connection refused: nothing listens on the socket"),
            UnixError::TimedOut(t) => write!(
                f,
                "connect timed out after {}: the listener's queue is full",
                crate::duration::format(*t)
            ),
            UnixError::Other(errno) => write!(
                f,
                "connect failed: {}",
                io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

/// One connect to the stream socket at `path`, bounded by `timeout`.
pub fn connect(path: &str, timeout: Duration) -> Result<(), UnixError> {
    // SAFETY: an all-zero sockaddr_un is valid (AF_UNSPEC, empty path); it is filled below.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // The grammar limits the path to sun_path's length less the NUL; checked again here.
    if path.len() >= addr.sun_path.len() {
        return Err(UnixError::Other(libc::ENAMETOOLONG));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(path.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: plain socket(2); the descriptor is owned by `socket` at once.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(error(io::Error::last_os_error(), timeout));
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as _,
        tv_usec: timeout.subsec_micros() as _,
    };
    // SAFETY: `tv` is a valid timeval of the given size for SO_SNDTIMEO.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(error(io::Error::last_os_error(), timeout));
    }
    // SAFETY: `addr` is a valid sockaddr_un of the given size.
    let rc = unsafe {
        libc::connect(
            socket.as_raw_fd(),
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(error(io::Error::last_os_error(), timeout));
    }
    Ok(())
}

fn error(e: io::Error, timeout: Duration) -> UnixError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => UnixError::Missing,
        Some(libc::ECONNREFUSED) => UnixError::Refused,
        Some(libc::EAGAIN | libc::EINPROGRESS) => UnixError::TimedOut(timeout),
        n => UnixError::Other(n.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn listeners_missing_paths_and_dead_sockets() {
        let t = Duration::from_secs(1);
        let dir = std::env::temp_dir().join(format!("precheck-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("s.sock");
        let path_str = path.to_str().expect("a UTF-8 temp dir");
        assert_eq!(connect(path_str, t), Err(UnixError::Missing));
        let listener = UnixListener::bind(&path).expect("bind");
        assert_eq!(connect(path_str, t), Ok(()));
        drop(listener);
        // The socket file stays behind, with nobody listening.
        assert_eq!(connect(path_str, t), Err(UnixError::Refused));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
