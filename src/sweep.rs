//! The first look: TCP targets on IP literals are tried together from the main thread before
//! any other thread exists, so a target that is already up costs no thread, and a run whose
//! targets are all up starts none: a thread start costs more than a loopback connect.
//!
//! The look is bounded like everything else: by `SWEEP`, by the connect timeout, by the
//! deadline, and by a waited signal (the signalfd is polled with the sockets). It ends as soon
//! as enough targets are up for the quorum. Targets that need the resolver get their threads
//! only after it (50 ms at most, when a literal target's connect hangs).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::plan::{Deadline, Plan, in_time};
use crate::probe::talk::AddrError;
use crate::probe::{self, Reason};
use crate::runner::Event;
use crate::signals::Signals;
use crate::target::Target;

/// How long the first look may take at most; a target it leaves undecided gets a thread.
const SWEEP: Duration = Duration::from_millis(50);

/// What the first look found.
pub struct First {
    /// A SIGINT or SIGTERM that came during the look: it decides the run.
    pub signal: Option<libc::c_int>,
    /// The targets found ready: index, address, and when the connect was seen to succeed.
    pub ready: Vec<(usize, SocketAddr, Instant)>,
    /// Whether the look decides the run: a signal, or enough targets ready by the deadline.
    pub decided: bool,
    /// The targets still waiting (index, target, the reason the look gave if it tried), each
    /// for a probe thread of its own.
    pub pending: Vec<(usize, Target, Option<Reason>)>,
}

/// Looks at every TCP target on an IP literal at once, then takes a signal that came meanwhile.
/// Under `--invert` nothing is tried: a target that is up is a reason to wait, not a shortcut.
// Not inlined: the binary is smaller so (measured against the size budget).
#[inline(never)]
pub fn look(plan: &Plan, deadline: Option<Deadline>, signals: &Signals) -> First {
    let invert = plan.probing.invert;
    let literal = |t: &Target| t.literal().filter(|_| !invert);
    // Sized at once: a vector grown by doubling costs an mmap and an munmap per step in musl.
    let mut addrs = Vec::with_capacity(plan.targets.len());
    addrs.extend(plan.targets.iter().filter_map(literal));
    let mut results = Vec::new();
    if !addrs.is_empty() {
        let mut budget = SWEEP.min(plan.probing.connect_timeout);
        if let Some(deadline) = deadline {
            budget = budget.min(deadline.at.saturating_duration_since(Instant::now()));
        }
        results = probe::connect_many(&addrs, budget, plan.min_ready, Some(signals.fd()));
    }
    let signal = signals.take();
    let mut ready = Vec::with_capacity(addrs.len());
    let mut counted = 0;
    let mut pending = Vec::new();
    let mut results = results.into_iter();
    for (index, target) in plan.targets.iter().enumerate() {
        let Some(addr) = literal(target) else {
            pending.push((index, target.clone(), None));
            continue;
        };
        // connect_many gives one result per address, in order.
        let first = match results.next().flatten() {
            None => None,
            Some((Ok(()), at)) => {
                counted += usize::from(in_time(deadline, at));
                ready.push((index, addr, at));
                continue;
            }
            Some((Err(e), _)) => Some(Reason::Address(addr, AddrError::Connect(e))),
        };
        pending.push((index, target.clone(), first));
    }
    First {
        decided: signal.is_some() || counted >= plan.min_ready,
        signal,
        ready,
        pending,
    }
}

impl First {
    /// For `runner::wait`: the signal, and the ready targets as events, made one at a time (a
    /// thousand events at once would cost some 160 KB).
    pub fn events(self) -> (Option<libc::c_int>, impl Iterator<Item = Event>) {
        let ready = (self.ready.into_iter()).map(|(index, addr, at)| Event::Ready {
            index,
            addrs: vec![addr.to_string()],
            at,
            answered_as: None,
            gone: None,
        });
        (self.signal, ready)
    }
}
