//! The waiting: one probe thread per target, one channel, one deadline, one quorum.
//!
//! Probe threads loop (attempt, report a change, sleep the interval) and never get joined: a
//! getaddrinfo call cannot be cancelled, so when the deadline passes or a signal arrives the
//! main thread decides and the process exits around any thread still stuck in a lookup.

use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, error, info};

use crate::cli::{Config, Family};
use crate::exit::Exit;
use crate::logging::Secs;
use crate::probe::{self, Outcome, Reason};
use crate::signals;
use crate::target::Target;

/// While a reason stays the same, it is logged again this often.
const REPEAT: Duration = Duration::from_secs(10);

/// Enough for getaddrinfo (musl needs about 12 KiB, glibc more); the 2 MiB default would make
/// a thousand targets cost 2 GiB of address space.
const PROBE_STACK: usize = 256 * 1024;

/// What the threads tell the main thread.
#[derive(Debug)]
pub enum Event {
    Ready {
        index: usize,
        addrs: Vec<String>,
        after: Duration,
    },
    NotReady {
        index: usize,
        reason: Reason,
    },
    Fatal {
        index: usize,
        message: String,
    },
    Signal(libc::c_int),
}

/// How every probe thread attempts.
#[derive(Clone, Copy, Debug)]
pub struct Probing {
    pub interval: Duration,
    pub connect_timeout: Duration,
    pub family: Family,
}

/// Starts the probe thread for `targets[index]`.
pub fn spawn_probe(
    index: usize,
    target: Target,
    probing: Probing,
    start: Instant,
    tx: Sender<Event>,
) -> io::Result<()> {
    thread::Builder::new()
        .name(format!("probe-{index}"))
        .stack_size(PROBE_STACK)
        .spawn(move || probe_loop(index, &target, probing, start, &tx))
        .map(drop)
}

fn probe_loop(index: usize, target: &Target, p: Probing, start: Instant, tx: &Sender<Event>) {
    let mut last: Option<(Reason, Instant)> = None;
    for attempt in 1u64.. {
        let event = match probe::attempt(target, p.family, p.connect_timeout) {
            Outcome::Ready(addrs) => {
                debug!("{target}: attempt {attempt}: ready");
                Event::Ready {
                    index,
                    addrs,
                    after: start.elapsed(),
                }
            }
            Outcome::Fatal(message) => Event::Fatal { index, message },
            Outcome::NotReady(reason) => {
                debug!("{target}: attempt {attempt}: {reason}");
                let now = Instant::now();
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
                thread::sleep(p.interval);
                continue;
            }
        };
        // Ready and Fatal end this target; a send error means the main thread is done anyway.
        let _ = tx.send(event);
        return;
    }
}

/// Waits for `config.min_ready` targets under the deadline, logging each event.
pub fn wait(config: &Config, rx: &Receiver<Event>, start: Instant) -> Exit {
    let targets = &config.targets;
    // A deadline beyond what the clock can represent is no deadline at all.
    let deadline = config.timeout.and_then(|t| start.checked_add(t));
    let mut last: Vec<Option<Reason>> = vec![None; targets.len()];
    let mut ready = vec![false; targets.len()];
    let mut ready_count = 0;
    loop {
        let event = match deadline {
            Some(deadline) => rx.recv_timeout(deadline.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match event {
            Ok(Event::Ready {
                index,
                addrs,
                after,
            }) => {
                info!(
                    "{}: ready after {}: {}",
                    targets[index],
                    Secs(after),
                    addrs.join(", ")
                );
                if !ready[index] {
                    ready[index] = true;
                    ready_count += 1;
                }
                if ready_count >= config.min_ready {
                    info!("ready: {ready_count} of {} targets", targets.len());
                    return Exit::Ready;
                }
            }
            Ok(Event::NotReady { index, reason }) => {
                info!("{}: not ready: {reason}", targets[index]);
                last[index] = Some(reason);
            }
            Ok(Event::Fatal { index, message }) => {
                error!("{}: {message}", targets[index]);
                return Exit::Internal;
            }
            Ok(Event::Signal(sig)) => {
                let pending: Vec<String> = pending(targets, &ready, &last)
                    .map(|(t, r)| format!("{t} ({r})"))
                    .collect();
                error!(
                    "interrupted by {}, still waiting for: {}",
                    signals::name(sig),
                    pending.join(", ")
                );
                return Exit::Signal(sig);
            }
            Err(RecvTimeoutError::Timeout) => {
                for (target, reason) in pending(targets, &ready, &last) {
                    error!("{target}: not ready at the deadline: {reason}");
                }
                error!(
                    "deadline of {} passed: {ready_count} of {} targets ready, {} needed",
                    // A timeout only happens with a deadline, so config.timeout is set.
                    humantime::format_duration(config.timeout.unwrap_or_default()),
                    targets.len(),
                    config.min_ready
                );
                return Exit::Deadline;
            }
            Err(RecvTimeoutError::Disconnected) => {
                // The signal thread holds a sender for ever, so this cannot happen short of a bug.
                error!("every probe thread has stopped without an answer");
                return Exit::Internal;
            }
        }
    }
}

/// The targets not yet ready, with the last reason each gave.
fn pending<'a>(
    targets: &'a [Target],
    ready: &'a [bool],
    last: &'a [Option<Reason>],
) -> impl Iterator<Item = (&'a Target, Reason)> + 'a {
    targets
        .iter()
        .zip(ready)
        .zip(last)
        .filter(|((_, ready), _)| !**ready)
        .map(|((t, _), r)| (t, r.clone().unwrap_or(Reason::NoAnswerYet)))
}

/// The start line: targets, quorum and deadline.
pub fn announce(config: &Config) {
    let n = config.targets.len();
    let quorum = if config.min_ready == n {
        if n == 1 {
            "it must be ready".to_string()
        } else {
            "all must be ready".to_string()
        }
    } else {
        format!("{} of {n} must be ready", config.min_ready)
    };
    let deadline = match config.timeout {
        Some(t) => format!("deadline {}", humantime::format_duration(t)),
        None => "no deadline".to_string(),
    };
    let names: Vec<&str> = config.targets.iter().map(|t| t.spelling.as_str()).collect();
    info!(
        "waiting for {n} target{} ({quorum}), {deadline}: {}",
        if n == 1 { "" } else { "s" },
        names.join(", ")
    );
}
