//! The first look: TCP targets on IP literals are tried together from the main thread before
//! any other thread exists, so a target that is already up costs no thread, and a run whose
//! targets are all up starts none: a thread start costs more than a loopback connect.
//!
//! The look is bounded like everything else: by `SWEEP`, by the connect timeout, by the
//! deadline, and by a waited signal (the signalfd is polled with the sockets).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::cli::Config;
use crate::probe::{self, Reason};
use crate::runner::{Event, Probing};
use crate::signals::Signals;
use crate::target::{Host, Kind, Target};

/// How long the first look may take at most; a target it leaves undecided gets a thread.
const SWEEP: Duration = Duration::from_millis(50);

/// What the first look found.
pub struct First {
    /// A signal that came during the look.
    pub signal: Option<libc::c_int>,
    /// The targets found ready (index and address), all at `at`.
    pub ready: Vec<(usize, SocketAddr)>,
    pub at: Instant,
    /// Whether the events decide the run: a signal, or enough targets ready by the deadline.
    pub decided: bool,
    /// The targets still waiting (index, target, the reason the look gave if it tried), each
    /// for a probe thread of its own.
    pub pending: Vec<(usize, Target, Option<Reason>)>,
}

/// Looks at every TCP target on an IP literal at once, then takes a signal that came meanwhile.
/// Under `--invert` nothing is tried: a target that is up is a reason to wait, not a shortcut.
pub fn look(
    config: &Config,
    probing: &Probing,
    deadline: Option<Instant>,
    signals: &Signals,
) -> First {
    let literal = |t: &Target| match t.kind {
        Kind::Tcp {
            host: Host::Ip(ip),
            port,
            ..
        } if !probing.invert => Some(SocketAddr::new(ip, port)),
        _ => None,
    };
    let addrs: Vec<SocketAddr> = config.targets.iter().filter_map(literal).collect();
    let mut results = Vec::new();
    if !addrs.is_empty() {
        let mut budget = SWEEP.min(probing.connect_timeout);
        if let Some(deadline) = deadline {
            budget = budget.min(deadline.saturating_duration_since(Instant::now()));
        }
        results = probe::connect_many(&addrs, budget, Some(signals.fd()));
    }
    let at = Instant::now();
    let signal = signals.take();
    // As runner::wait counts: a target ready after the deadline does not count.
    let in_time = deadline.is_none_or(|d| at <= d);
    let mut ready = Vec::new();
    let mut pending = Vec::new();
    let mut results = results.into_iter();
    for (index, target) in config.targets.iter().enumerate() {
        let Some(addr) = literal(target) else {
            pending.push((index, target.clone(), None));
            continue;
        };
        // connect_many gives one result per address, in order.
        let first = match results.next().flatten() {
            None => None,
            Some(Ok(())) => {
                ready.push((index, addr));
                continue;
            }
            Some(Err(e)) => Some(Reason::Connect(addr, e)),
        };
        pending.push((index, target.clone(), first));
    }
    First {
        decided: signal.is_some() || (in_time && ready.len() >= config.min_ready),
        signal,
        ready,
        at,
        pending,
    }
}

impl First {
    /// For `runner::wait`, in order: the signal, then the ready targets. Made one at a time: a
    /// thousand events at once would cost some 160 KB.
    pub fn events(self) -> impl Iterator<Item = Event> {
        let at = self.at;
        let ready = self
            .ready
            .into_iter()
            .map(move |(index, addr)| Event::Ready {
                index,
                addrs: vec![addr.to_string()],
                at,
                answered_as: None,
                gone: None,
            });
        self.signal.map(Event::Signal).into_iter().chain(ready)
    }
}
