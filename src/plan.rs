//! What to wait for and how: the one value that the waiting core (sweep, runner, probe) takes.
//!
//! cli builds it from argv and the environment; nothing below it knows about options. The
//! deadline is fixed once, at the start, and "ready after the deadline does not count" is
//! decided here alone.

use std::time::{Duration, Instant};

use crate::target::{Family, Target};

/// The targets, the quorum, the deadline's length and how each target is attempted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub targets: Vec<Target>,
    /// How many targets must be ready; from 1 to `targets.len()`.
    pub min_ready: usize,
    /// `None`: wait forever.
    pub timeout: Option<Duration>,
    pub probing: Probing,
}

/// How every target is attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probing {
    /// The pause between two attempts at one target.
    pub interval: Duration,
    /// Bounds one connect, and the same length again the conversation after it.
    pub connect_timeout: Duration,
    pub family: Family,
    /// `--invert`: a target counts when it is definitely gone.
    pub invert: bool,
}

/// The one deadline of a run: when, and the `--timeout` it came from (for the last line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub at: Instant,
    pub after: Duration,
}

impl Plan {
    /// The deadline of a run that started at `start`; `Err` with the timeout when the clock
    /// cannot represent it (cli checks this already: only a clock near its end gets there).
    pub fn deadline(&self, start: Instant) -> Result<Option<Deadline>, Duration> {
        match self.timeout {
            None => Ok(None),
            Some(after) => match start.checked_add(after) {
                Some(at) => Ok(Some(Deadline { at, after })),
                None => Err(after),
            },
        }
    }
}

/// Whether something that happened at `at` counts: not after the deadline, even when the main
/// thread reads of it late (held up, descheduled).
pub fn in_time(deadline: Option<Deadline>, at: Instant) -> bool {
    deadline.is_none_or(|d| at <= d.at)
}
