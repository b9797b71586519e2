//! A scripted fake TCP server on loopback, for HTTP and every protocol test: each accepted
//! connection runs a script of steps (read, answer, trickle, stay silent, close, reset, send
//! endlessly, record all the client sends while answering), records what the client sent and
//! counts connections, and the script can change while the binary waits.
//!
//! ```ignore
//! let server = Fake::start(http(503, "Service Unavailable"));
//! // ... the binary logs "HTTP 503" ...
//! server.set(http(200, "OK"));
//! let request = server.read(0, 0); // what connection 0 sent in its first read step
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::PATIENCE;

/// A read step stops after this many bytes even without its pattern.
const READ_LIMIT: usize = 64 * 1024;

/// One step of a connection's script.
#[derive(Clone, Debug)]
pub enum Step {
    /// Reads until what this step read ends with the pattern (or 64 KiB, or the client closes).
    ReadUntil(Vec<u8>),
    /// Reads exactly this many bytes (fewer when the client closes first).
    Read(usize),
    /// Reads once: whatever the client has sent by then (at least a byte, at most 64 KiB), for
    /// a first message whose end no pattern tells.
    ReadSome,
    /// From here on a thread of its own reads everything the client sends until it closes,
    /// recorded as one read step then, while the rest of the script writes; the connection
    /// stays open until the client closes. No read step may follow.
    Record,
    /// Writes the bytes.
    Send(Vec<u8>),
    /// Writes the bytes one at a time, waiting the duration after each.
    Trickle(Vec<u8>, Duration),
    /// Sends nothing and waits until the client closes (what it sends is discarded).
    Silent,
    /// Closes the connection (FIN); also what happens after the last step.
    Close,
    /// Resets the connection (SO_LINGER 0, then close: an RST).
    Reset,
    /// Writes the bytes again and again, waiting the duration before each write (ZERO: a
    /// flood), until the client goes away.
    Endless(Vec<u8>, Duration),
}

impl Step {
    pub fn read_until(pattern: impl Into<Vec<u8>>) -> Step {
        Step::ReadUntil(pattern.into())
    }

    pub fn send(bytes: impl Into<Vec<u8>>) -> Step {
        Step::Send(bytes.into())
    }

    pub fn trickle(bytes: impl Into<Vec<u8>>, every: Duration) -> Step {
        Step::Trickle(bytes.into(), every)
    }

    pub fn endless(bytes: impl Into<Vec<u8>>, every: Duration) -> Step {
        Step::Endless(bytes.into(), every)
    }
}

/// `first`, then the steps of `then`: e.g. a read of what the client says first, then answers.
pub fn after(first: Step, then: Vec<Step>) -> Vec<Step> {
    let mut script = vec![first];
    script.extend(then);
    script
}

/// Reads an HTTP request head, answers `code phrase` with no body, and closes.
pub fn http(code: u16, phrase: &str) -> Vec<Step> {
    vec![
        Step::read_until("\r\n\r\n"),
        Step::send(format!(
            "HTTP/1.1 {code} {phrase}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )),
    ]
}

/// Per connection in accept order, the bytes of each read step that ended.
type Log = Arc<(Mutex<Vec<Vec<Vec<u8>>>>, Condvar)>;

/// The server: its address, the script for new connections, and what each connection sent.
/// Dropping it stops accepting (connections under way run their script to the end).
pub struct Fake {
    pub addr: SocketAddr,
    script: Arc<Mutex<Vec<Step>>>,
    log: Log,
    stop: Arc<AtomicBool>,
}

impl Fake {
    /// A server on 127.0.0.1 with an ephemeral port.
    pub fn start(script: Vec<Step>) -> Fake {
        Fake::start_at("127.0.0.1:0", script).expect("bind the fake server on 127.0.0.1")
    }

    /// A server bound to `bind` (e.g. "[::1]:0"); an error when that address is not here.
    pub fn start_at(bind: &str, script: Vec<Step>) -> io::Result<Fake> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let script = Arc::new(Mutex::new(script));
        let log: Log = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, all, stopped) = (script.clone(), log.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let steps = shared.lock().expect("script lock").clone();
                let n = {
                    let mut conns = all.0.lock().expect("log lock");
                    conns.push(Vec::new());
                    conns.len() - 1
                };
                let all = all.clone();
                thread::spawn(move || run(conn, &steps, n, &all));
            }
        });
        Ok(Fake {
            addr,
            script,
            log,
            stop,
        })
    }

    /// The script for connections accepted from now on.
    pub fn set(&self, script: Vec<Step>) {
        *self.script.lock().expect("script lock") = script;
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.log.0.lock().expect("log lock").len()
    }

    /// What each connection accepted so far sent (its read steps' bytes joined), in order.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        let conns = self.log.0.lock().expect("log lock");
        conns.iter().map(|reads| reads.concat()).collect()
    }

    /// The bytes read step `step` of connection `conn` (both from 0) read, waiting for that
    /// step to end; fails the test after PATIENCE.
    pub fn read(&self, conn: usize, step: usize) -> Vec<u8> {
        let deadline = Instant::now() + PATIENCE;
        let (lock, changed) = &*self.log;
        let mut conns = lock.lock().expect("log lock");
        loop {
            if let Some(bytes) = conns.get(conn).and_then(|reads| reads.get(step)) {
                return bytes.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "connection {conn} read step {step} did not end; sent so far: {:?}",
                conns
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.concat()).into_owned())
                    .collect::<Vec<_>>()
            );
            conns = changed.wait_timeout(conns, left).expect("log lock").0;
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag and closes the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Runs the script on one connection, recording each read step as connection `n`.
fn run(mut conn: TcpStream, steps: &[Step], n: usize, log: &Log) {
    for step in steps {
        let ok = match step {
            Step::ReadUntil(pattern) => {
                let (bytes, ok) = read_until(&mut conn, |got| got.ends_with(pattern));
                record(log, n, bytes);
                ok
            }
            Step::Read(len) => {
                let (bytes, ok) = read_until(&mut conn, |got| got.len() >= *len);
                record(log, n, bytes);
                ok
            }
            Step::ReadSome => {
                let mut buf = vec![0u8; READ_LIMIT];
                let got = conn.read(&mut buf).unwrap_or(0);
                buf.truncate(got);
                record(log, n, buf);
                got > 0
            }
            Step::Record => {
                let mut reader = conn.try_clone().expect("clone the connection");
                let log = log.clone();
                thread::spawn(move || {
                    let mut bytes = Vec::new();
                    let _ = reader.set_read_timeout(Some(PATIENCE));
                    let _ = reader.read_to_end(&mut bytes);
                    record(&log, n, bytes);
                });
                true
            }
            Step::Send(bytes) => conn.write_all(bytes).is_ok(),
            Step::Trickle(bytes, every) => bytes.iter().all(|b| {
                let sent = conn.write_all(&[*b]).is_ok();
                if sent {
                    thread::sleep(*every);
                }
                sent
            }),
            Step::Silent => {
                let mut sink = [0u8; 4096];
                while conn.read(&mut sink).is_ok_and(|got| got > 0) {}
                false
            }
            Step::Close => {
                let _ = conn.shutdown(Shutdown::Both);
                false
            }
            Step::Reset => {
                let _ = socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO));
                false
            }
            Step::Endless(bytes, every) => loop {
                thread::sleep(*every);
                if conn.write_all(bytes).is_err() {
                    break false;
                }
            },
        };
        if !ok {
            return;
        }
    }
}

/// Reads a byte at a time (nothing past the step) until `done`, READ_LIMIT bytes, or the end;
/// the bytes, and whether `done` was reached.
fn read_until(conn: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut byte = [0u8];
    while !done(&got) {
        if got.len() >= READ_LIMIT || !conn.read(&mut byte).is_ok_and(|n| n == 1) {
            return (got, false);
        }
        got.push(byte[0]);
    }
    (got, true)
}

fn record(log: &Log, n: usize, bytes: Vec<u8>) {
    let (lock, changed) = &**log;
    lock.lock().expect("log lock")[n].push(bytes);
    changed.notify_all();
}
