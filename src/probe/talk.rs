//! The conversation after a connect: one bounded loop that every protocol target shares.
//!
//! A protocol is a `Dialect`: the bytes it sends first, a byte limit, and a pure judge over the
//! bytes received so far that answers ready, not ready (and why), "need more", or "send these
//! bytes next". The loop here owns the socket: the connect timeout bounds the connect, the same
//! length again bounds the whole conversation, the byte limit bounds what is read (a buffer of
//! that size is the only allocation, whatever a length field claims), and a close, a reset or a
//! timeout is a reason with what was read so far. Judges never see a socket, so unit tests and
//! the fuzz test call them with literal bytes.
//!
//! A server may punish a client that leaves mid-handshake (MySQL blocks its host after
//! `max_connect_errors`): such a dialect's last words are said when its conversation ends
//! early, and, from before its connect starts, are kept in a list that the end of the run
//! (the deadline, a signal, enough targets, the exec) says for every conversation still open.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::tcp::{self, ConnectError};

/// What a judge makes of the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The answer is not complete: read more (or, when the server closed, give up).
    More,
    /// Send these bytes, then judge again (at once, with the same bytes and `sent` one higher).
    Send(Vec<u8>),
    /// The conversation is over: ready, or not ready and why.
    Done(Result<(), Said>),
}

/// A protocol spoken after a TCP connect. Plain data: everything it sends and judges is fixed
/// when the target is parsed.
pub trait Dialect: Send + Sync {
    /// The protocol's name in reasons (`postgres`, `HTTP`).
    fn name(&self) -> &'static str;

    /// The bytes sent right after the connect; empty when the server speaks first.
    fn hello(&self) -> Cow<'_, [u8]>;

    /// The most bytes read in one conversation.
    fn limit(&self) -> usize;

    /// Judges `heard`, everything received so far, after `sent` `Step::Send`s. `closed` is true
    /// when the server has closed (or reset) the connection: nothing more will come, and `More`
    /// then means "incomplete" (see `fault`).
    fn judge(&self, heard: &[u8], sent: usize, closed: bool) -> Step;

    /// Bytes to send before closing a conversation that ends early (a timeout, the byte limit,
    /// a close), for servers that punish a client leaving mid-handshake (MySQL counts it
    /// toward `max_connect_errors`). None by default.
    fn last_words(&self, _heard: &[u8], _sent: usize) -> Option<Vec<u8>> {
        None
    }

    /// How a conversation that ended without the judge's answer is told.
    fn fault(&self, fault: Fault, heard: &[u8]) -> Said {
        told(self.name(), fault, heard)
    }
}

/// The default words of `Dialect::fault`, for the protocol `name` (one copy in the binary, not
/// one per dialect).
pub fn told(name: &str, fault: Fault, heard: &[u8]) -> Said {
    Said::new(match fault {
        Fault::TimedOut(t) => format!(
            "no {name} answer within {}{}",
            crate::duration::format(t),
            so_far(heard)
        ),
        Fault::Closed => format!(
            "connection closed before a complete {name} answer{}",
            so_far(heard)
        ),
        Fault::Reset => format!(
            "connection reset before a complete {name} answer{}",
            so_far(heard)
        ),
        Fault::TooLong(n) => format!("{name} answer longer than {n} bytes"),
        Fault::Io(errno) => format!(
            "{name} exchange failed: {}",
            io::Error::from_raw_os_error(errno)
        ),
    })
}

/// A target's dialect, shared by the clones of the target.
#[derive(Clone)]
pub struct Talk(Arc<dyn Dialect>);

/// The protocol's name: Debug is no part of a dialect's vtable (the bytes stay out of the
/// binary).
impl fmt::Debug for Talk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl Talk {
    pub fn new(dialect: Arc<dyn Dialect>) -> Talk {
        Talk(dialect)
    }

    pub fn dialect(&self) -> &dyn Dialect {
        &*self.0
    }
}

/// The same protocol sending the same first bytes. Targets also compare their spelling, from
/// which the rest of a dialect follows (targets are compared in tests).
impl PartialEq for Talk {
    fn eq(&self, other: &Talk) -> bool {
        self.0.name() == other.0.name() && self.0.hello() == other.0.hello()
    }
}

impl Eq for Talk {}

/// How a conversation ended without a judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The whole conversation took longer than the connect timeout allows.
    TimedOut(Duration),
    /// The server closed the connection.
    Closed,
    /// The server reset the connection.
    Reset,
    /// More than the dialect's limit of bytes would have been needed.
    TooLong(usize),
    /// Reading or writing failed otherwise: the errno.
    Io(i32),
}

/// Why a conversation did not count, worded by its dialect, and whether that proves the target
/// is not there (for `--invert`: an HTTP status outside the set does, a silent server does not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Said {
    text: String,
    absent: bool,
}

impl Said {
    /// An error's words; `absent` when it proves the service is not there.
    pub fn of(e: &dyn fmt::Display, absent: bool) -> Said {
        Said {
            text: e.to_string(),
            absent,
        }
    }

    /// A reason that proves nothing about absence.
    pub fn new(text: impl Into<String>) -> Said {
        Said {
            text: text.into(),
            absent: false,
        }
    }

    /// A reason that proves the service is not there.
    pub fn absent(text: impl Into<String>) -> Said {
        Said {
            text: text.into(),
            absent: true,
        }
    }

    pub fn proves_absent(&self) -> bool {
        self.absent
    }
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why one address did not count: its connect, or the conversation after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddrError {
    Connect(ConnectError),
    Answer(Said),
}

impl AddrError {
    /// Whether the failure proves nothing is there: a refused connect, or an answer that says so.
    pub fn proves_absent(&self) -> bool {
        match self {
            AddrError::Connect(e) => e.proves_absent(),
            AddrError::Answer(said) => said.proves_absent(),
        }
    }
}

/// Server text for a reason: printable ASCII kept, anything else escaped as `\xNN`, cut after
/// `max` bytes of input with `...`.
pub fn printable(bytes: &[u8], max: usize) -> String {
    let mut out = String::with_capacity(bytes.len().min(max) + 3);
    for &b in bytes.iter().take(max) {
        match b {
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > max {
        out.push_str("...");
    }
    out
}

/// The most bytes of an incomplete answer quoted in a reason.
const SO_FAR: usize = 48;

/// `" after N bytes: '...'"`, or nothing when nothing came.
fn so_far(heard: &[u8]) -> String {
    match heard.len() {
        0 => String::new(),
        n => format!(" (after {n} bytes: '{}')", printable(heard, SO_FAR)),
    }
}

/// The most bytes drained after the conversation, so that closing sends no reset.
const DRAIN: usize = 64 * 1024;

/// Connects to `addr` and holds the dialect's conversation: `timeout` bounds the connect, and
/// the same length again everything after it.
// Not inlined: its frame would deepen the stack of every probe thread, TCP targets too.
#[inline(never)]
pub fn converse(
    addr: SocketAddr,
    timeout: Duration,
    dialect: &dyn Dialect,
) -> Result<(), AddrError> {
    // What the dialect owes from the first packet on (MySQL: the login) is known before the
    // connect starts, so that the end of the run in the middle of the connect still says it.
    let owed = dialect.last_words(&[], 0);
    let mut watch = |fd: RawFd, open: bool| {
        if let Some(words) = owed.as_ref() {
            let mut list = lock_owed();
            list.retain(|(owner, _)| *owner != fd);
            if open {
                list.push((fd, words.clone()));
            }
        }
    };
    let stream = tcp::open_watched(addr, timeout, &mut watch).map_err(AddrError::Connect)?;
    let until = Instant::now() + timeout;
    let mut conversation = Conversation {
        stream,
        until,
        timeout,
        heard: vec![0u8; dialect.limit()],
        len: 0,
        sent: 0,
        reset: false,
        owes: owed.is_some(),
    };
    let result = conversation.run(dialect);
    conversation.close(dialect, result.is_err());
    result.map_err(AddrError::Answer)
}

/// One conversation's socket, buffer and clock.
struct Conversation {
    stream: TcpStream,
    until: Instant,
    timeout: Duration,
    heard: Vec<u8>,
    len: usize,
    sent: usize,
    /// The server reset the connection (rather than closing it).
    reset: bool,
    /// Whether `OWED` holds this conversation's last words.
    owes: bool,
}

impl Conversation {
    fn run(&mut self, dialect: &dyn Dialect) -> Result<(), Said> {
        let hello = dialect.hello();
        if !hello.is_empty() {
            self.write(&hello).map_err(|f| dialect.fault(f, &[]))?;
            self.owe(dialect);
        }
        let mut closed = false;
        loop {
            let heard = &self.heard[..self.len];
            match dialect.judge(heard, self.sent, closed) {
                Step::Done(result) => return result,
                Step::Send(bytes) => {
                    if let Err(f) = self.write(&bytes) {
                        return Err(dialect.fault(f, &self.heard[..self.len]));
                    }
                    self.sent += 1;
                    self.owe(dialect);
                    continue;
                }
                Step::More if closed => {
                    let fault = if self.reset {
                        Fault::Reset
                    } else {
                        Fault::Closed
                    };
                    return Err(dialect.fault(fault, heard));
                }
                Step::More if self.len == self.heard.len() => {
                    return Err(dialect.fault(Fault::TooLong(self.heard.len()), heard));
                }
                Step::More => {}
            }
            match self.read() {
                Ok(0) => closed = true,
                Ok(n) => {
                    self.len += n;
                    self.owe(dialect);
                }
                // What came before a reset still counts: Redis sends its reason, then resets.
                Err(Fault::Reset) => (closed, self.reset) = (true, true),
                Err(f) => return Err(dialect.fault(f, &self.heard[..self.len])),
            }
        }
    }

    /// Keeps `OWED` up to date with what the dialect would say if the conversation ended now.
    /// Dialects without last words never take the lock.
    fn owe(&mut self, dialect: &dyn Dialect) {
        let words = dialect.last_words(&self.heard[..self.len], self.sent);
        if words.is_none() && !self.owes {
            return;
        }
        let fd = self.stream.as_raw_fd();
        let mut owed = lock_owed();
        owed.retain(|(owner, _)| *owner != fd);
        self.owes = words.is_some();
        owed.extend(words.map(|words| (fd, words)));
    }

    /// What is left of the conversation's time; a fault once it is up.
    fn left(&self) -> Result<Duration, Fault> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Fault::TimedOut(self.timeout));
        }
        Ok(left)
    }

    fn write(&mut self, mut bytes: &[u8]) -> Result<(), Fault> {
        while !bytes.is_empty() {
            let left = self.left()?;
            self.stream
                .set_write_timeout(Some(left))
                .map_err(|e| fault(&e, self.timeout))?;
            match self.stream.write(bytes) {
                Ok(0) => return Err(Fault::Closed),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fault(&e, self.timeout)),
            }
        }
        Ok(())
    }

    /// One read into the rest of the buffer (which the caller keeps non-empty).
    fn read(&mut self) -> Result<usize, Fault> {
        loop {
            let left = self.left()?;
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| fault(&e, self.timeout))?;
            match self.stream.read(&mut self.heard[self.len..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return result.map_err(|e| fault(&e, self.timeout)),
            }
        }
    }

    /// Ends the conversation without a reset: the dialect's last words when it ended early,
    /// then a half-close, then what already arrived is read and dropped (closing a socket with
    /// unread bytes sends a reset, which servers log), all without waiting.
    fn close(mut self, dialect: &dyn Dialect, early: bool) {
        if self.owes {
            lock_owed().retain(|(fd, _)| *fd != self.stream.as_raw_fd());
        }
        if early {
            if let Some(words) = dialect.last_words(&self.heard[..self.len], self.sent) {
                // The socket's send buffer is empty by now, so a short write does not block
                // for long; the deadline still bounds it.
                self.until = self.until.max(Instant::now() + Duration::from_millis(100));
                let _ = self.write(&words);
            }
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        // Into the conversation's own buffer: a buffer on the stack would deepen every probe
        // thread's stack, conversations or not (threads are what a waiting target costs).
        if self.stream.set_nonblocking(true).is_ok() && !self.heard.is_empty() {
            let mut drained = 0;
            while drained < DRAIN {
                match self.stream.read(&mut self.heard) {
                    Ok(n) if n > 0 => drained += n,
                    _ => break,
                }
            }
        }
    }
}

/// The conversations in progress that owe their server last words (see `Dialect::last_words`):
/// the socket, and the words. The process can end in the middle of a conversation (the
/// deadline, a signal, enough other targets ready, the command's exec), and MySQL counts a
/// client that leaves mid-handshake toward blocking its host; `say_owed_words` says them then.
static OWED: Mutex<Vec<(RawFd, Vec<u8>)>> = Mutex::new(Vec::new());

/// The lock, also when a thread panicked holding it (the process aborts then anyway).
fn lock_owed() -> MutexGuard<'static, Vec<(RawFd, Vec<u8>)>> {
    OWED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Before the process ends or execs: sends every conversation's owed last words without
/// waiting, and half-closes its socket. Waits at most `limit` for a conversation that is
/// updating what it owes; the lock is then kept, so no conversation closes a socket (and no
/// descriptor is reused) before the process is gone.
pub fn say_owed_words(limit: Duration) {
    let until = Instant::now() + limit;
    let owed = loop {
        match OWED.try_lock() {
            Ok(owed) => break owed,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => break poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < until => {
                std::thread::yield_now()
            }
            Err(std::sync::TryLockError::WouldBlock) => return,
        }
    };
    for (fd, words) in owed.iter() {
        // A connect still on its way (the words are owed from before it starts) may finish
        // within what is left of the limit: a loopback or LAN one does.
        let mut pollfd = libc::pollfd {
            fd: *fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let left = until.saturating_duration_since(Instant::now());
        // SAFETY: one valid pollfd (the descriptor is open, see below).
        unsafe { libc::poll(&mut pollfd, 1, left.as_millis() as libc::c_int) };
        // SAFETY: the descriptor is open: a conversation removes it from OWED (under the lock,
        // which is held from here on) before its socket closes. MSG_DONTWAIT: a full send
        // buffer loses the words rather than delaying the exit.
        unsafe {
            libc::send(
                *fd,
                words.as_ptr().cast(),
                words.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            );
            libc::shutdown(*fd, libc::SHUT_WR);
        }
    }
    // Held until the process exits or execs.
    std::mem::forget(owed);
}

/// An I/O error as a fault: a timeout (SO_RCVTIMEO and SO_SNDTIMEO give EAGAIN), a reset, or
/// an errno.
fn fault(e: &io::Error, timeout: Duration) -> Fault {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Fault::TimedOut(timeout),
        io::ErrorKind::ConnectionReset => Fault::Reset,
        _ => Fault::Io(e.raw_os_error().unwrap_or(0)),
    }
}
