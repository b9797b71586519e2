//! The waiting: one probe thread per target, one channel, one deadline, one quorum.
//!
//! Probe threads loop (attempt, report a change, sleep the interval) and never get joined: a
//! getaddrinfo call cannot be cancelled, so when the deadline passes or a signal arrives the
//! main thread decides and the process exits around any thread still stuck in a lookup.
//!
//! The decision goes by the clock, not by the order events arrive in: every Ready carries the
//! moment its attempt finished, and one that finished after the deadline does not count, even
//! when the main thread was held up (stopped, descheduled) and reads it late. Threads are started
//! by a starter thread, so the main thread watches the deadline and signals from the start.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use log::Level;

use crate::logging::{Line, Secs, emit};
use crate::plan::{Deadline, Plan, Probing, in_time};
use crate::probe::{Outcome, Probe, Reason};
use crate::target::Target;
use crate::verdict::{End, PENDING_LINES, Verdict, Words};

/// The nice value of probe threads (see `probe_loop`).
const PROBE_NICE: libc::c_int = 10;

/// While a reason stays the same, it is logged again this often.
const REPEAT: Duration = Duration::from_secs(10);

/// Enough for getaddrinfo (musl needs about 20 KiB, glibc more); the 2 MiB default would make
/// a thousand targets cost 2 GiB of address space. Only the pages touched become resident.
const PROBE_STACK: usize = 128 * 1024;

/// What the threads tell the main thread.
#[derive(Debug)]
pub enum Event {
    Ready {
        index: usize,
        addrs: Vec<String>,
        /// When the attempt that found the target ready finished.
        at: Instant,
        /// The name that answered, when it is not the one typed.
        answered_as: Option<String>,
        /// Under `--invert`: the proof that the target is gone.
        gone: Option<Reason>,
    },
    NotReady {
        index: usize,
        reason: Reason,
    },
    Fatal {
        index: usize,
        message: String,
    },
    /// The probe thread for `index` could not be started.
    NoThread {
        index: usize,
        error: io::Error,
    },
    Signal(libc::c_int),
}

/// Starts the starter thread, which starts one probe thread for each of `pending` (the index
/// of the target, the target, and the reason the first look gave, if it tried) and stops early
/// when `stop` is set (the main thread has decided) or a thread cannot be started. Probe
/// threads stop attempting once `stop` is set, leaving the cores to the main thread.
///
/// Targets that need the resolver get their threads first: TCP targets on IP literals had a
/// first look already (see `sweep`).
// Not inlined: the binary is smaller so (measured against the size budget).
#[inline(never)]
pub fn start(
    pending: Vec<(usize, Target, Option<Reason>)>,
    probing: Probing,
    tx: Sender<Event>,
    stop: Arc<AtomicBool>,
) -> io::Result<()> {
    let (literal, named): (Vec<_>, Vec<_>) =
        (pending.into_iter()).partition(|(_, t, _)| t.literal().is_some());
    thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let starter = Starter { probing, tx, stop };
            for (index, target, first) in named.into_iter().chain(literal) {
                if !starter.spawn(index, target, first) {
                    return;
                }
            }
        })
        .map(drop)
}

/// What the starter thread needs to start probe threads.
struct Starter {
    probing: Probing,
    tx: Sender<Event>,
    stop: Arc<AtomicBool>,
}

impl Starter {
    /// Starts the probe thread for `index`; false when the starter should stop.
    fn spawn(&self, index: usize, target: Target, first: Option<Reason>) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        let probe = Probe::new(target, self.probing.family, self.probing.connect_timeout);
        let probe = if self.probing.invert {
            probe.forgetful()
        } else {
            probe
        };
        let invert = self.probing.invert;
        let (tx, stop) = (self.tx.clone(), self.stop.clone());
        let interval = self.probing.interval;
        let spawned = thread::Builder::new()
            .stack_size(PROBE_STACK)
            .spawn(move || probe_loop(index, probe, first, interval, invert, &tx, &stop));
        match spawned {
            Ok(_) => true,
            Err(error) => {
                let _ = self.tx.send(Event::NoThread { index, error });
                false
            }
        }
    }
}

/// Attempts until ready. `first` is the reason of an attempt made before the thread started:
/// it is reported and the thread sleeps before its own first attempt.
fn probe_loop(
    index: usize,
    mut probe: Probe,
    first: Option<Reason>,
    interval: Duration,
    invert: bool,
    tx: &Sender<Event>,
    stop: &AtomicBool,
) {
    // Thousands of probe threads attempting every 10 ms can keep both cores busy; the main
    // thread, which watches the deadline and signals, must still get the CPU when it wakes.
    // Not SCHED_IDLE: on a busy host that could starve the probes themselves.
    // SAFETY: on Linux the nice value is per thread, and `0` names the calling thread. Lowering
    // one's own priority needs no privilege; if it fails, the thread keeps its priority.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, PROBE_NICE) };
    let mut last: Option<(Reason, Instant)> = None;
    if let Some(reason) = first {
        last = Some((reason.clone(), Instant::now()));
        if tx.send(Event::NotReady { index, reason }).is_err() {
            return;
        }
        thread::sleep(interval);
    }
    for attempt in 1u64.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let (outcome, gone) = match probe.attempt() {
            outcome if !invert => (outcome, None),
            // Inverted: proof of absence is what counts; being there is a reason to wait, and
            // so is not knowing (a DNS failure, a timeout).
            Outcome::Ready(addrs) => (Outcome::NotReady(Reason::StillThere(addrs)), None),
            Outcome::NotReady(reason) if reason.proves_absent() => match probe.unsure() {
                None => (Outcome::Ready(Vec::new()), Some(reason)),
                // A refusal on the IPv4 addresses proves nothing while AAAA went unanswered.
                Some(lookup) => {
                    let lookup = Box::new(lookup.clone());
                    let seen = Box::new(reason);
                    (Outcome::NotReady(Reason::NoProof { seen, lookup }), None)
                }
            },
            outcome => (outcome, None),
        };
        let now = Instant::now();
        let event = match outcome {
            Outcome::Ready(addrs) => {
                let t = &probe.target.spelling;
                let line = Line::new("attempt").target(t);
                let word = if gone.is_some() { "gone" } else { "ready" };
                emit(
                    Level::Debug,
                    line,
                    format_args!("{t}: attempt {attempt}: {word}"),
                );
                Event::Ready {
                    index,
                    addrs,
                    at: now,
                    answered_as: probe.answered_as().map(str::to_string),
                    gone,
                }
            }
            Outcome::Fatal(message) => Event::Fatal { index, message },
            Outcome::NotReady(reason) => {
                let t = &probe.target.spelling;
                let line = Line::new("attempt").target(t).reason(&reason);
                emit(
                    Level::Debug,
                    line,
                    format_args!("{t}: attempt {attempt}: {reason}"),
                );
                let tell = match &last {
                    Some((previous, at)) => *previous != reason || now - *at >= REPEAT,
                    None => true,
                };
                if tell {
                    last = Some((reason.clone(), now));
                    if tx.send(Event::NotReady { index, reason }).is_err() {
                        return;
                    }
                }
                thread::sleep(interval);
                continue;
            }
        };
        // Ready and Fatal end this target; a send error means the main thread is done anyway.
        let _ = tx.send(event);
        return;
    }
}

/// Waits for `plan.min_ready` targets under the deadline, logging each event: first the events
/// of the first look (see `sweep`), then those from the threads. Ends in the verdict.
pub fn wait(
    plan: &Plan,
    first: (Option<libc::c_int>, impl Iterator<Item = Event>),
    rx: &Receiver<Event>,
    start: Instant,
    deadline: Option<Deadline>,
) -> Verdict {
    let mut state = State {
        plan,
        start,
        deadline,
        verdict: Verdict::early(plan, End::Deadline),
        ready_count: 0,
        hold: false,
    };
    let end = state.run(first, rx);
    state.verdict.end = end;
    state.verdict
}

/// What the main thread knows while it waits.
struct State<'a> {
    plan: &'a Plan,
    start: Instant,
    deadline: Option<Deadline>,
    /// Every target's state so far; its `end` is set when the wait ends.
    verdict: Verdict,
    /// How many of `verdict.ready` are true.
    ready_count: usize,
    /// A signal decides the run whatever is ready: reaching the quorum does not.
    hold: bool,
}

impl State<'_> {
    fn run(
        &mut self,
        first: (Option<libc::c_int>, impl Iterator<Item = Event>),
        rx: &Receiver<Event>,
    ) -> End {
        // A signal during the first look decides the run; the targets the look found ready are
        // still told first, so the interrupted line names only those that were not.
        let (signal, ready) = first;
        self.hold = signal.is_some();
        for event in ready {
            if let Some(end) = self.handle(event) {
                return end;
            }
        }
        if let Some(sig) = signal {
            return End::Signal(sig);
        }
        loop {
            let event = match self.deadline {
                Some(d) => rx.recv_timeout(d.at.saturating_duration_since(Instant::now())),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match event {
                Ok(event) => {
                    if let Some(end) = self.handle(event) {
                        return end;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Events that were queued when the deadline passed still count if they
                    // happened in time (a main thread held up must not lose a ready target).
                    while let Ok(event) = rx.try_recv() {
                        if let Some(end) = self.handle(event) {
                            return end;
                        }
                    }
                    return End::Deadline;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // The signal thread holds a sender for ever, and without threads the first
                    // events decided; so this cannot happen short of a bug.
                    return End::Internal {
                        target: None,
                        what: "every probe thread has stopped without an answer".to_string(),
                        reason: None,
                    };
                }
            }
        }
    }

    /// Logs one event; returns the end when it decides the run.
    fn handle(&mut self, event: Event) -> Option<End> {
        let targets = &self.plan.targets;
        match event {
            Event::Ready {
                index,
                addrs,
                at,
                answered_as,
                gone,
            } => {
                let t = &targets[index].spelling;
                let after = Secs(at - self.start);
                let word = Words::of(self.plan).ready;
                if !in_time(self.deadline, at) {
                    let event = if gone.is_some() {
                        "gone_late"
                    } else {
                        "ready_late"
                    };
                    let line = Line::new(event).target(t).addresses(&addrs);
                    let msg =
                        format_args!("{t}: {word} after {after}, past the deadline: not counted");
                    emit(Level::Info, line, msg);
                    return None;
                }
                match gone {
                    Some(reason) => {
                        let line = Line::new("gone").target(t).reason(&reason);
                        emit(
                            Level::Info,
                            line,
                            format_args!("{t}: gone after {after}: {reason}"),
                        );
                    }
                    None => {
                        let line = (Line::new("ready").target(t).addresses(&addrs))
                            .canonical(answered_as.as_deref());
                        let shown = match &answered_as {
                            Some(name) => format!(" (as {name})"),
                            None => String::new(),
                        };
                        let addrs = addrs.join(", ");
                        let msg = format_args!("{t}: ready after {after}: {addrs}{shown}");
                        emit(Level::Info, line, msg);
                    }
                }
                if !self.verdict.ready[index] {
                    self.verdict.ready[index] = true;
                    self.ready_count += 1;
                }
                if self.ready_count < self.plan.min_ready || self.hold {
                    return None;
                }
                let (n, of) = (self.ready_count, targets.len());
                let msg = format_args!("{word}: {n} of {of} targets");
                emit(Level::Info, Line::new("success"), msg);
                Some(End::Ready)
            }
            Event::NotReady { index, reason } => {
                let t = &targets[index].spelling;
                let words = Words::of(self.plan);
                let line = Line::new(words.not_event).target(t).reason(&reason);
                emit(
                    Level::Info,
                    line,
                    format_args!("{t}: {}: {reason}", words.not),
                );
                self.verdict.last[index] = Some(Box::new(reason));
                None
            }
            Event::Fatal { index, message } => Some(End::Internal {
                target: Some(index),
                what: message.clone(),
                reason: Some(message),
            }),
            Event::NoThread { index, error } => Some(End::Internal {
                target: Some(index),
                what: format!("cannot start a thread: {error}"),
                reason: Some(error.to_string()),
            }),
            Event::Signal(sig) => Some(End::Signal(sig)),
        }
    }
}

/// The start line: targets, quorum and deadline.
pub fn announce(plan: &Plan) {
    let n = plan.targets.len();
    let word = Words::of(plan).ready;
    let quorum = if plan.min_ready == n {
        if n == 1 {
            format!("it must be {word}")
        } else {
            format!("all must be {word}")
        }
    } else {
        format!("{} of {n} must be {word}", plan.min_ready)
    };
    let deadline = match plan.timeout {
        Some(t) => format!("deadline {}", crate::duration::format(t)),
        None => "no deadline".to_string(),
    };
    let mut names: Vec<&str> = (plan.targets.iter())
        .take(PENDING_LINES)
        .map(|t| t.spelling.as_str())
        .collect();
    let more = format!("and {} more", n.saturating_sub(PENDING_LINES));
    if n > PENDING_LINES {
        names.push(&more);
    }
    let plural = if n == 1 { "" } else { "s" };
    let msg = format_args!(
        "waiting for {n} target{plural} ({quorum}), {deadline}: {}",
        names.join(", ")
    );
    emit(Level::Info, Line::new("waiting"), msg);
}
