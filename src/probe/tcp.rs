//! The TCP half of an attempt: one connect, bounded in time, or many at once without threads.
//!
//! A connection counts only when something else accepted it: Linux lets a loopback connect to a
//! port in the ephemeral range pick that same port as its source and connect to itself, which is
//! not a listener. The connection is closed at once; nothing is sent.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, RawFd};
use std::time::{Duration, Instant};

/// Why one connect did not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectError {
    Refused,
    TimedOut(Duration),
    /// The socket connected to itself: nothing listens on that port.
    ToItself,
    Other(String),
}

impl ConnectError {
    /// Whether the failure proves nothing listens there (as opposed to not knowing).
    pub fn proves_absent(&self) -> bool {
        matches!(self, ConnectError::Refused | ConnectError::ToItself)
    }
}

/// One connect, bounded by `timeout`; counts only a connection to another socket.
pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<(), ConnectError> {
    open(addr, timeout).map(drop)
}

/// The same, keeping the connection (for an HTTP request).
pub fn open(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| connect_error(&e, timeout))?;
    match stream.local_addr() {
        Ok(local) if local == addr => Err(ConnectError::ToItself),
        Ok(_) => Ok(stream),
        Err(e) => Err(ConnectError::Other(e.to_string())),
    }
}

fn connect_error(e: &io::Error, timeout: Duration) -> ConnectError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectError::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnectError::TimedOut(timeout),
        _ => ConnectError::Other(e.to_string()),
    }
}

/// One connect like `open`, with the socket shown to `watch` before the connect starts, and
/// again (`false`) before it is closed when the connect fails: a conversation that owes its
/// server last words (see `talk`) is known from the first packet on.
pub fn open_watched(
    addr: SocketAddr,
    timeout: Duration,
    watch: &mut dyn FnMut(RawFd, bool),
) -> Result<TcpStream, ConnectError> {
    let socket = Socket::new(&addr).map_err(|e| connect_error(&e, timeout))?;
    watch(socket.0, true);
    let connected = socket.connected(&addr, timeout);
    if let Err(e) = connected {
        watch(socket.0, false);
        return Err(e);
    }
    let fd = socket.0;
    std::mem::forget(socket);
    // SAFETY: the descriptor is a connected TCP socket that nothing else owns any more.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    stream
        .set_nonblocking(false)
        .map_err(|e| ConnectError::Other(e.to_string()))?;
    Ok(stream)
}

/// How many connects `connect_many` keeps in flight. Few enough that the descriptors stay below
/// 64: growing the descriptor table of a process with several threads waits for an RCU grace
/// period, some 10 ms each time, which would cost more than the connects.
const WINDOW: usize = 48;

/// What one connect of `connect_many` came to, and when that was known.
pub type Finished = (Result<(), ConnectError>, Instant);

/// Connects to `addrs` from this thread with non-blocking sockets, `WINDOW` at a time, for at
/// most `budget` in all, until `enough` of them are connected, or until `interrupt` (a
/// descriptor) becomes readable. Each result is `None` when the connect had not finished by
/// then (or could not be tried: no socket to spare), else what `connect` would have said and
/// the moment it was seen.
///
/// Used for the first attempt at TCP targets on IP literals: a target that is already up needs
/// no thread of its own, and starting a thousand threads costs more than a thousand loopback
/// connects.
pub fn connect_many(
    addrs: &[SocketAddr],
    budget: Duration,
    enough: usize,
    interrupt: Option<libc::c_int>,
) -> Vec<Option<Finished>> {
    let until = Instant::now() + budget;
    let mut results: Vec<Option<Finished>> = vec![None; addrs.len()];
    let mut connected = 0;
    let mut done = |results: &mut Vec<Option<Finished>>, i: usize, r: Result<(), ConnectError>| {
        connected += usize::from(r.is_ok());
        results[i] = Some((r, Instant::now()));
        connected >= enough
    };
    // The sockets still connecting, with the index of their address.
    let mut pending: Vec<(usize, Socket)> = Vec::new();
    let mut next = 0;
    // A last look (a poll that does not wait) takes what came in before the budget ran out.
    let mut last_look = false;
    while !last_look && (next < addrs.len() || !pending.is_empty()) {
        while pending.len() < WINDOW && next < addrs.len() {
            // Connects that finish at once never wait in poll: the budget is checked here too.
            if Instant::now() >= until {
                next = addrs.len();
                break;
            }
            let (i, addr) = (next, &addrs[next]);
            next += 1;
            let result = match Socket::connect(addr) {
                // A loopback connect has mostly finished when connect returns: taking it at
                // once makes a run over listeners on this host go one connect after another
                // (measured: 1000 of them in 29 ms instead of 34 ms with all 48 in flight).
                Ok((socket, false)) => match socket.finished(budget) {
                    Some(result) => result.and_then(|()| socket.check_peer(addr)),
                    None => {
                        pending.push((i, socket));
                        continue;
                    }
                },
                Ok((socket, true)) => socket.check_peer(addr),
                // Out of descriptors: the rest get threads of their own.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    next = addrs.len();
                    continue;
                }
                Err(e) => Err(connect_error(&e, budget)),
            };
            if done(&mut results, i, result) {
                return results;
            }
        }
        if pending.is_empty() {
            // Every connect so far finished at once: nothing to wait for (the interrupt alone
            // would hold the call up to the budget).
            continue;
        }
        let left = until.saturating_duration_since(Instant::now());
        last_look = left.is_zero();
        let mut fds: Vec<libc::pollfd> = (pending.iter())
            .map(|(_, s)| libc::pollfd {
                fd: s.0,
                events: libc::POLLOUT,
                revents: 0,
            })
            .collect();
        // The interrupt goes last, after the sockets (so the zip below leaves it out).
        fds.extend(interrupt.map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }));
        // At most a second a call, rounded up (rounded down, the last millisecond would spin);
        // 0 for the last look.
        let ms = left.as_micros().div_ceil(1000).min(1000) as libc::c_int;
        // SAFETY: `fds` is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                last_look = false;
                continue;
            }
            // Not expected with valid descriptors; what is left gets threads of its own.
            break;
        }
        // What finished with the interrupt still counts; the rest stays untried.
        let interrupted = interrupt.is_some() && fds.last().is_some_and(|fd| fd.revents != 0);
        if interrupted {
            last_look = true;
            next = addrs.len();
        }
        let mut still = Vec::new();
        let mut enough_now = false;
        for ((i, socket), fd) in pending.into_iter().zip(fds) {
            if fd.revents == 0 || enough_now {
                still.push((i, socket));
                continue;
            }
            let result = match socket.outcome(fd.revents) {
                Ok(()) => socket.check_peer(&addrs[i]),
                Err(e) => Err(connect_error(&e, budget)),
            };
            enough_now = done(&mut results, i, result);
        }
        if enough_now {
            return results;
        }
        pending = still;
    }
    results
}

/// A non-blocking TCP socket, closed on drop.
struct Socket(libc::c_int);

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

/// A socket address as the C API wants it.
fn raw(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; the family-specific view written below
    // fits inside it (that is what sockaddr_storage is for).
    unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in);
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                std::mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6);
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        (storage, len as libc::socklen_t)
    }
}

impl Socket {
    /// Starts a connect; the flag says whether it connected at once.
    fn connect(addr: &SocketAddr) -> io::Result<(Socket, bool)> {
        let socket = Socket::new(addr)?;
        let connected = socket.start(addr)?;
        Ok((socket, connected))
    }

    /// A non-blocking TCP socket for `addr`'s family, not connected.
    fn new(addr: &SocketAddr) -> io::Result<Socket> {
        let family = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: plain socket(2); the descriptor is owned by `Socket` at once.
        let fd = unsafe { libc::socket(family, flags, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Socket(fd))
    }

    /// Starts the connect; true when it connected at once.
    fn start(&self, addr: &SocketAddr) -> io::Result<bool> {
        let (storage, len) = raw(addr);
        // SAFETY: `storage` holds a valid address of length `len`.
        let rc = unsafe { libc::connect(self.0, (&raw const storage).cast(), len) };
        if rc == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINPROGRESS) {
            Ok(false)
        } else {
            Err(e)
        }
    }

    /// Connects within `timeout`; a connection to itself does not count (see the top).
    fn connected(&self, addr: &SocketAddr, timeout: Duration) -> Result<(), ConnectError> {
        let error = |e: io::Error| connect_error(&e, timeout);
        if !self.start(addr).map_err(error)? {
            let until = Instant::now() + timeout;
            let mut fd = libc::pollfd {
                fd: self.0,
                events: libc::POLLOUT,
                revents: 0,
            };
            loop {
                let left = until.saturating_duration_since(Instant::now());
                // Rounded up: rounded down, the last millisecond would spin.
                let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
                // SAFETY: one valid pollfd.
                match unsafe { libc::poll(&mut fd, 1, ms) } {
                    1 => break,
                    0 => return Err(ConnectError::TimedOut(timeout)),
                    _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                    _ => return Err(error(io::Error::last_os_error())),
                }
            }
            self.outcome(fd.revents).map_err(error)?;
        }
        self.check_peer(addr)
    }

    /// The outcome of the connect if it has finished, without waiting.
    fn finished(&self, budget: Duration) -> Option<Result<(), ConnectError>> {
        let mut fd = libc::pollfd {
            fd: self.0,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a zero timeout never waits.
        let n = unsafe { libc::poll(&mut fd, 1, 0) };
        if n != 1 {
            return None;
        }
        Some(
            self.outcome(fd.revents)
                .map_err(|e| connect_error(&e, budget)),
        )
    }

    /// The outcome of a finished non-blocking connect, from what poll said: POLLOUT alone is a
    /// connection; with POLLERR or POLLHUP the error is asked for (SO_ERROR), as std does.
    fn outcome(&self, revents: libc::c_short) -> io::Result<()> {
        if revents & (libc::POLLERR | libc::POLLHUP) == 0 {
            return Ok(());
        }
        self.take_error()?;
        Err(io::Error::other(
            "the connection failed without an error code",
        ))
    }

    /// The error of a finished non-blocking connect (SO_ERROR).
    fn take_error(&self) -> io::Result<()> {
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `err` and `len` are valid for getsockopt's SO_ERROR.
        let rc = unsafe {
            libc::getsockopt(
                self.0,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut err).cast(),
                &mut len,
            )
        };
        match (rc, err) {
            (0, 0) => Ok(()),
            (0, e) => Err(io::Error::from_raw_os_error(e)),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// A connected socket counts only if its local address is not `addr` (see the top).
    fn check_peer(&self, addr: &SocketAddr) -> Result<(), ConnectError> {
        // SAFETY: the descriptor stays open while the borrowed stream lives, and ManuallyDrop
        // keeps the stream from closing it.
        let stream = std::mem::ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(self.0) });
        match stream.local_addr() {
            Ok(local) if local == *addr => Err(ConnectError::ToItself),
            Ok(_) => Ok(()),
            Err(e) => Err(ConnectError::Other(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn connect_errors_map_to_reasons() {
        let t = Duration::from_millis(300);
        let e = |kind| connect_error(&io::Error::from(kind), t);
        assert_eq!(e(io::ErrorKind::ConnectionRefused), ConnectError::Refused);
        assert_eq!(e(io::ErrorKind::TimedOut), ConnectError::TimedOut(t));
        assert_eq!(e(io::ErrorKind::WouldBlock), ConnectError::TimedOut(t));
        let unreachable = connect_error(&io::Error::from_raw_os_error(libc::ENETUNREACH), t);
        assert!(
            matches!(&unreachable, ConnectError::Other(text) if text.contains("nreachable")),
            "{unreachable:?}"
        );
    }

    #[test]
    fn connect_many_sees_listeners_and_refusals_at_once() {
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let open_addr = open.local_addr().unwrap();
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let results = connect_many(&[closed_addr, open_addr], Duration::from_secs(5), 2, None);
        let results: Vec<_> = results.into_iter().map(|r| r.map(|(r, _)| r)).collect();
        assert_eq!(results, [Some(Err(ConnectError::Refused)), Some(Ok(()))]);
    }

    #[test]
    fn connect_many_stops_at_enough_and_says_when_each_finished() {
        let (a, b) = (
            TcpListener::bind("127.0.0.1:0").unwrap(),
            TcpListener::bind("127.0.0.1:0").unwrap(),
        );
        let addrs = [a.local_addr().unwrap(), b.local_addr().unwrap()];
        let before = Instant::now();
        let results = connect_many(&addrs, Duration::from_secs(5), 1, None);
        let after = Instant::now();
        // One was enough: the second address was never tried.
        assert!(results[1].is_none(), "{results:?}");
        let (result, at) = results[0].clone().expect("the first was tried");
        assert_eq!(result, Ok(()));
        assert!(before <= at && at <= after, "{before:?} {at:?} {after:?}");
        let both = connect_many(&addrs, Duration::from_secs(5), 2, None);
        assert!(
            both.iter().all(|r| matches!(r, Some((Ok(()), _)))),
            "{both:?}"
        );
    }

    #[test]
    fn connect_many_stops_when_interrupted() {
        // A listener whose backlog is full leaves further connects pending: they never finish
        // unless something accepts, so only the interrupt can end the call before the budget.
        let full = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = full.local_addr().unwrap();
        let mut pipe = [0; 2];
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        assert_eq!(unsafe { libc::write(pipe[1], b"x".as_ptr().cast(), 1) }, 1);
        let addrs = vec![addr; 200];
        let started = std::time::Instant::now();
        let results = connect_many(&addrs, Duration::from_secs(60), addrs.len(), Some(pipe[0]));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        assert!(results.iter().any(Option::is_none), "{results:?}");
        unsafe { libc::close(pipe[0]) };
        unsafe { libc::close(pipe[1]) };
    }
}
