//! The log: `<seconds since start>s <LEVEL> <message>` on stderr, or one JSON object per line
//! (`--log-format json`), written so that it never blocks.
//!
//! Every line is an event (`Line`): a name (`ready`, `not_ready`, ...), the target, the reason,
//! the addresses, and a message that starts with the target. Text shows the message; JSON shows
//! all of it, with `msg` holding the same words. Colour only when stderr is a terminal and
//! NO_COLOR is unset or empty (no-color.org); in a pod's log there is never any.
//!
//! A reader that stops reading (a full pipe, a stopped log shipper) must not hold up the
//! decision: the deadline and SIGTERM hold whatever stderr does. So log lines go into a bounded
//! queue that one writer thread empties with blocking writes; when the queue is full a line is
//! dropped and counted, and the writer says how many were dropped once it can write again.
//! The writer starts with the first line. Where stderr cannot hold a writer up (/dev/null)
//! there is no queue and no writer: each line is written where it is logged. A regular file
//! can (a hung NFS server, a full FUSE daemon), so it gets the queue like a pipe.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use log::{Level, LevelFilter};

use crate::json;

/// How lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// One log event. Only `event` is required; the rest is set where it applies.
pub struct Line<'a> {
    pub event: &'static str,
    pub target: Option<&'a str>,
    /// Formatted only when the line is written (a debug line per attempt costs nothing when off).
    pub reason: Option<&'a dyn fmt::Display>,
    pub addresses: &'a [String],
    pub canonical: Option<&'a str>,
    /// At the end of a wait: how many targets counted, of how many.
    pub counts: Option<(usize, usize)>,
    /// At the end of a wait: the targets that did not count.
    pub pending: Option<&'a [String]>,
    /// The command to run, as argv.
    pub command: Option<&'a [String]>,
}

impl<'a> Line<'a> {
    pub fn new(event: &'static str) -> Line<'a> {
        Line {
            event,
            target: None,
            reason: None,
            addresses: &[],
            canonical: None,
            counts: None,
            pending: None,
            command: None,
        }
    }

    /// How many targets counted, of how many, and those that did not.
    pub fn tally(mut self, ready: usize, total: usize, pending: &'a [String]) -> Line<'a> {
        self.counts = Some((ready, total));
        self.pending = Some(pending);
        self
    }

    pub fn command(mut self, command: &'a [String]) -> Line<'a> {
        self.command = Some(command);
        self
    }

    pub fn target(mut self, target: &'a str) -> Line<'a> {
        self.target = Some(target);
        self
    }

    pub fn reason(mut self, reason: &'a dyn fmt::Display) -> Line<'a> {
        self.reason = Some(reason);
        self
    }

    pub fn addresses(mut self, addresses: &'a [String]) -> Line<'a> {
        self.addresses = addresses;
        self
    }

    pub fn canonical(mut self, canonical: Option<&'a str>) -> Line<'a> {
        self.canonical = canonical;
        self
    }
}

/// How lines look, fixed by `init`.
struct Setup {
    format: Format,
    start: Instant,
    colour: bool,
}

static SETUP: OnceLock<Setup> = OnceLock::new();

/// Logs `line` at `level` with the message `msg`, if the level is let through.
pub fn emit(level: Level, line: Line<'_>, msg: fmt::Arguments<'_>) {
    let Some(setup) = SETUP.get() else { return };
    if !log::log_enabled!(level) {
        return;
    }
    match setup.format {
        Format::Json => out(json_line(level, &line, setup.start, &msg.to_string()).as_bytes()),
        Format::Text => out(text_line(level, setup, msg).as_bytes()),
    }
}

/// `<seconds since start> <LEVEL> <message>`, the level coloured when `setup` says so.
fn text_line(level: Level, setup: &Setup, msg: fmt::Arguments<'_>) -> String {
    let secs = Secs(setup.start.elapsed());
    let (on, off) = match (setup.colour, level) {
        (false, _) => ("", ""),
        (true, Level::Error) => ("\x1b[31m", "\x1b[0m"),
        (true, Level::Warn) => ("\x1b[33m", "\x1b[0m"),
        (true, Level::Info) => ("\x1b[32m", "\x1b[0m"),
        (true, _) => ("\x1b[2m", "\x1b[0m"),
    };
    format!("{secs:>9} {on}{level:<5}{off} {msg}\n")
}

/// The JSON object of one event.
fn json_line(level: Level, line: &Line<'_>, start: Instant, msg: &str) -> String {
    let elapsed = start.elapsed();
    let mut o = json::Object::new();
    o.str(
        "ts",
        &crate::duration::rfc3339_millis(SystemTime::now()).to_string(),
    )
    .raw_number(
        "elapsed",
        &format!("{}.{:03}", elapsed.as_secs(), elapsed.subsec_millis()),
    )
    .str("level", &level.as_str().to_ascii_lowercase())
    .str("event", line.event);
    if let Some(target) = line.target {
        o.str("target", target);
    }
    if let Some(reason) = line.reason {
        o.str("reason", &reason.to_string());
    }
    if !line.addresses.is_empty() {
        o.strs("addresses", line.addresses);
    }
    if let Some(canonical) = line.canonical {
        o.str("canonical", canonical);
    }
    if let Some((ready, total)) = line.counts {
        o.raw_number("ready", &ready.to_string())
            .raw_number("total", &total.to_string());
    }
    if let Some(pending) = line.pending {
        o.strs("pending", pending);
    }
    if let Some(command) = line.command {
        o.strs("command", command);
    }
    o.str("msg", msg);
    o.line()
}

/// Lines waiting for the writer; beyond this, lines are dropped.
const QUEUE_LINES: usize = 1024;

/// Installs the logger: lines up to `level` pass. If the writer thread cannot be started, lines are written directly, as where
/// stderr never blocks.
pub fn init(level: LevelFilter, format: Format, start: Instant) {
    let direct = never_blocks(libc::STDERR_FILENO);
    if !direct {
        init_queue();
    }
    // /dev/null is no terminal: no need to ask.
    let colour = !direct && colour_wanted(std::env::var_os("NO_COLOR"));
    let _ = SETUP.set(Setup {
        format,
        start,
        colour,
    });
    log::set_max_level(level);
    // Set once, for the life of the process: the logger is leaked on purpose.
    let _ = log::set_logger(Box::leak(Box::new(Logger(level))));
}

/// Whether writes to `fd` can never wait: /dev/null. Pipes, sockets and terminals can hold a
/// writer up for as long as nobody reads, and a file for as long as its storage stalls.
fn never_blocks(fd: libc::c_int) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` when it returns 0.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: fstat returned 0.
    let st = unsafe { st.assume_init() };
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3)
}

/// Waits until the queued lines are written or `limit` passes, whichever comes first.
pub fn flush(limit: Duration) {
    let Some(q) = QUEUE.get() else { return };
    if q.lock().writer == Writer::Failed {
        return;
    }
    let until = Instant::now() + limit;
    let mut state = q.lock();
    while !state.lines.is_empty() || state.writing {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        state = match q.drained.wait_timeout(state, left) {
            Ok((state, _)) => state,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}

struct Queue {
    state: Mutex<State>,
    /// Signalled when a line is queued.
    queued: Condvar,
    /// Signalled when the writer finished a line.
    drained: Condvar,
}

struct State {
    lines: VecDeque<Vec<u8>>,
    dropped: u64,
    writing: bool,
    /// The writer waits for lines.
    idle: bool,
    writer: Writer,
}

/// The writer thread's life.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writer {
    NotYet,
    Running,
    /// It could not be started: lines are written where they are logged.
    Failed,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock (and a panic aborts the process anyway).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

static QUEUE: OnceLock<Queue> = OnceLock::new();

fn init_queue() {
    QUEUE.get_or_init(|| Queue {
        state: Mutex::new(State {
            lines: VecDeque::new(),
            dropped: 0,
            writing: false,
            idle: false,
            writer: Writer::NotYet,
        }),
        queued: Condvar::new(),
        drained: Condvar::new(),
    });
}

fn spawn_writer(queue: &'static Queue) -> io::Result<()> {
    thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || write_lines(queue))
        .map(drop)
}

/// The writer thread: takes a line, writes it with the lock released, says what was dropped.
fn write_lines(q: &Queue) {
    let mut stderr = io::stderr();
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut state = q.lock();
    loop {
        if state.lines.is_empty() {
            state.idle = true;
            state = match q.queued.wait(state) {
                Ok(state) => state,
                Err(poisoned) => poisoned.into_inner(),
            };
            state.idle = false;
            continue;
        }
        // Everything queued is taken at once, and written a line a write: a pipe then packs the
        // lines into its pages, as a reader (and a test that fills the pipe) expects.
        batch.clear();
        batch.extend(state.lines.drain(..));
        state.writing = true;
        drop(state);
        for line in &batch {
            // A failed write (stderr closed) is not worth stopping for: the line is lost.
            let _ = stderr.write_all(line);
        }
        state = q.lock();
        if state.dropped > 0 {
            let dropped = std::mem::take(&mut state.dropped);
            drop(state);
            let msg = format!(
                "{dropped} log line{} dropped: stderr was not read fast enough",
                if dropped == 1 { "" } else { "s" }
            );
            let note = match SETUP.get() {
                Some(Setup {
                    format: Format::Json,
                    start,
                    ..
                }) => json_line(Level::Warn, &Line::new("log_dropped"), *start, &msg),
                _ => format!("{:>9} WARN  {msg}\n", ""),
            };
            let _ = stderr.write_all(note.as_bytes());
            state = q.lock();
        }
        state.writing = false;
        q.drained.notify_all();
    }
}

/// The `log` facade's logger: lines up to the level (PRECHECK_LOG, -q, -v) pass, and lines
/// that do not come through `emit` (a dependency's, if one ever logs) look the same and take
/// the same way out.
struct Logger(LevelFilter);

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.0
    }

    fn log(&self, record: &log::Record<'_>) {
        if let (true, Some(setup)) = (self.enabled(record.metadata()), SETUP.get()) {
            out(text_line(record.level(), setup, *record.args()).as_bytes());
        }
    }

    fn flush(&self) {}
}

/// Writes one line to stderr where that cannot block; else queues it for the writer thread
/// (starting it with the first line), or counts it as dropped when the queue is full.
fn out(line: &[u8]) {
    let Some(q) = QUEUE.get() else {
        // A failed write (stderr closed, disk full) is not worth stopping for: the line is lost.
        let _ = io::stderr().write_all(line);
        return;
    };
    let mut state = q.lock();
    match state.writer {
        Writer::Failed => {
            drop(state);
            let _ = io::stderr().write_all(line);
            return;
        }
        Writer::NotYet => {
            state.writer = Writer::Running;
            drop(state);
            if spawn_writer(q).is_err() {
                let mut state = q.lock();
                state.writer = Writer::Failed;
                let queued: Vec<Vec<u8>> = state.lines.drain(..).collect();
                drop(state);
                for line in queued {
                    let _ = io::stderr().write_all(&line);
                }
                let _ = io::stderr().write_all(line);
                return;
            }
            state = q.lock();
        }
        Writer::Running => {}
    }
    if state.lines.len() < QUEUE_LINES {
        state.lines.push_back(line.to_vec());
        // Wake the writer only when it sleeps: a futex call per line adds up.
        if state.idle {
            q.queued.notify_one();
        }
    } else {
        state.dropped += 1;
    }
}

fn colour_wanted(no_color: Option<std::ffi::OsString>) -> bool {
    let disabled = no_color.is_some_and(|v| !v.is_empty());
    // SAFETY: isatty only inspects the descriptor.
    !disabled && unsafe { libc::isatty(libc::STDERR_FILENO) } == 1
}

/// A duration as seconds with milliseconds, `12.345s`. Integer arithmetic: float formatting
/// would add some 10 KiB to a binary whose size users weigh.
pub struct Secs(pub Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{}.{:03}s", self.0.as_secs(), self.0.subsec_millis());
        f.pad(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_with_milliseconds() {
        assert_eq!(Secs(Duration::from_millis(12_345)).to_string(), "12.345s");
        assert_eq!(Secs(Duration::from_micros(4_999)).to_string(), "0.004s");
        assert_eq!(
            format!("{:>9}", Secs(Duration::from_millis(1))),
            "   0.001s"
        );
    }
}
