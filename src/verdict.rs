//! How a run ends: one value, the verdict, that carries every target's last state, rendered in
//! one place as the last log lines and the exit code.
//!
//! The waiting decides (ready, the deadline, a signal, an internal error); after it, running
//! the command can end the run too (a signal first, or exec failing). Every ending that is not
//! a success is a `Verdict` whose `log` writes the lines and whose `exit` gives the code.

use std::ffi::OsString;

use log::Level;

use crate::exec::ExecError;
use crate::exit::Exit;
use crate::logging::{Line, emit};
use crate::plan::Plan;
use crate::probe::Reason;
use crate::signals;
use crate::target::Target;

/// At the deadline or a signal, this many pending targets are named; the rest are counted.
pub const PENDING_LINES: usize = 20;

/// What ended the run.
#[derive(Debug)]
pub enum End {
    /// Enough targets ready (gone, under `--invert`).
    Ready,
    /// The deadline passed first.
    Deadline,
    /// SIGINT or SIGTERM came while waiting.
    Signal(libc::c_int),
    /// SIGINT or SIGTERM came after the wait, before the command ran; its name as shown.
    SignalBeforeCommand(libc::c_int, String),
    /// The command could not be executed.
    NotRun(ExecError),
    /// What should never happen: the resolver rejecting a request, no thread to start, no
    /// signalfd. `what` follows the target's name when there is a target.
    Internal {
        target: Option<usize>,
        what: String,
        reason: Option<String>,
    },
}

/// The end of a run, with what each target came to.
#[derive(Debug)]
pub struct Verdict {
    pub end: End,
    /// Per target: whether it counted as ready.
    pub ready: Vec<bool>,
    /// Per target: the last reason it gave; boxed, as most targets never have one.
    pub last: Vec<Option<Box<Reason>>>,
}

/// The words of the log lines, which `--invert` turns around.
pub struct Words {
    pub ready: &'static str,
    pub not: &'static str,
    pub not_event: &'static str,
}

impl Words {
    pub fn of(plan: &Plan) -> Words {
        if plan.probing.invert {
            Words {
                ready: "gone",
                not: "not gone",
                not_event: "not_gone",
            }
        } else {
            Words {
                ready: "ready",
                not: "not ready",
                not_event: "not_ready",
            }
        }
    }
}

impl Verdict {
    /// An ending before any target was looked at.
    pub fn early(plan: &Plan, end: End) -> Verdict {
        Verdict {
            end,
            ready: vec![false; plan.targets.len()],
            last: vec![None; plan.targets.len()],
        }
    }

    pub fn ready_count(&self) -> usize {
        self.ready.iter().filter(|r| **r).count()
    }

    pub fn exit(&self) -> Exit {
        match &self.end {
            End::Ready => Exit::Ready,
            End::Deadline => Exit::Deadline,
            End::Signal(sig) | End::SignalBeforeCommand(sig, _) => Exit::Signal(*sig),
            End::NotRun(e) => e.exit(),
            End::Internal { .. } => Exit::Internal,
        }
    }

    /// The first `PENDING_LINES` targets not ready, with the last reason each gave, and how
    /// many more there are.
    pub fn pending<'a>(&'a self, plan: &'a Plan) -> (Vec<(&'a Target, Reason)>, usize) {
        let shown: Vec<_> = (plan.targets.iter())
            .zip(&self.ready)
            .zip(&self.last)
            .filter(|((_, ready), _)| !**ready)
            .take(PENDING_LINES)
            .map(|((t, _), r)| (t, r.as_deref().cloned().unwrap_or(Reason::NoAnswerYet)))
            .collect();
        let more = plan.targets.len() - self.ready_count() - shown.len();
        (shown, more)
    }

    /// Writes the last log lines of a run that did not succeed (the waiting logs success as
    /// it happens, and the command's start).
    pub fn log(&self, plan: &Plan, command: &[OsString]) {
        let words = Words::of(plan);
        let (n, of) = (self.ready_count(), plan.targets.len());
        // For JSON lines: every target that did not count, and the command as argv.
        let all_pending: Vec<String> = (plan.targets.iter().zip(&self.ready))
            .filter(|(_, ready)| !**ready)
            .map(|(t, _)| t.spelling.clone())
            .collect();
        let argv = crate::exec::shown(command);
        match &self.end {
            End::Ready => {}
            End::Deadline => {
                let not = words.not;
                let (pending, more) = self.pending(plan);
                for (target, reason) in pending {
                    let t = &target.spelling;
                    let line = Line::new("deadline").target(t).reason(&reason);
                    let msg = format_args!("{t}: {not} at the deadline: {reason}");
                    emit(Level::Error, line, msg);
                }
                if more > 0 {
                    let msg = format_args!("and {more} more targets {not} at the deadline");
                    emit(Level::Error, Line::new("deadline"), msg);
                }
                // A deadline only passes when there is one.
                let timeout = crate::duration::format(plan.timeout.unwrap_or_default());
                let (need, word) = (plan.min_ready, words.ready);
                let msg = format_args!(
                    "deadline of {timeout} passed: {n} of {of} targets {word}, {need} needed"
                );
                let line = Line::new("deadline").tally(n, of, &all_pending);
                emit(Level::Error, line, msg);
            }
            End::Signal(sig) => {
                let (pending, more) = self.pending(plan);
                let mut pending: Vec<String> = (pending.iter())
                    .map(|(t, r)| format!("{t} ({r})"))
                    .collect();
                if more > 0 {
                    pending.push(format!("and {more} more"));
                }
                let name = signals::name(*sig);
                let line = (Line::new("interrupted").reason(&name)).tally(n, of, &all_pending);
                if pending.is_empty() {
                    // Every target was ready (the first look saw them with the signal).
                    emit(Level::Error, line, format_args!("interrupted by {name}"));
                } else {
                    let msg = format_args!(
                        "interrupted by {name}, still waiting for: {}",
                        pending.join(", ")
                    );
                    emit(Level::Error, line, msg);
                }
            }
            End::SignalBeforeCommand(sig, command) => {
                let signal = signals::name(*sig);
                let msg = format_args!("interrupted by {signal} before running {command}");
                let line = (Line::new("interrupted").reason(&signal))
                    .tally(n, of, &all_pending)
                    .command(&argv);
                emit(Level::Error, line, msg);
            }
            End::NotRun(e) => {
                let line = Line::new("error").reason(e).command(&argv);
                emit(Level::Error, line, format_args!("{e}"))
            }
            End::Internal {
                target,
                what,
                reason,
            } => {
                let mut line = Line::new("error");
                if let Some(reason) = reason {
                    line = line.reason(reason);
                }
                match target.map(|i| plan.targets[i].spelling.as_str()) {
                    Some(t) => emit(Level::Error, line.target(t), format_args!("{t}: {what}")),
                    None => emit(Level::Error, line, format_args!("{what}")),
                }
            }
        }
    }
}
