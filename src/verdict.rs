//! How a run ends: one value, the verdict, that carries every target's last state, rendered in
//! one place as the last log lines, the termination message and the exit code.
//!
//! The waiting decides (ready, the deadline, a signal, an internal error); after it, running
//! the command can end the run too (a signal first, or exec failing). Every ending that is not
//! a success is a `Verdict` whose `log` writes the lines, whose `message` is the same words for
//! Kubernetes (see `termination`) and whose `exit` gives the code.

use std::fmt::Write;

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

/// The termination message names pending targets within this many bytes (with the count of the
/// rest): where a pod's containers share the kubelet's 12 KiB, only the first kilobyte may stay.
pub const MESSAGE_FIRST: usize = 1024;

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
    // Not inlined: the binary is smaller so (measured against the size budget).
    #[inline(never)]
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

    /// The termination message of a run that did not succeed, on one line: the words of the
    /// last log lines (escaped as they are, at the source), what ended the run first; at the
    /// deadline or a signal, then the targets not ready with their last reasons (those that
    /// gave one first), as many as fit in `MESSAGE_FIRST` bytes, and how many more.
    // Not inlined: in main it would cost the binary more.
    #[inline(never)]
    pub fn message(&self, plan: &Plan) -> String {
        let words = Words::of(plan);
        let counts = format_args!(
            "{} of {} targets {}, {} needed",
            self.ready_count(),
            plan.targets.len(),
            words.ready,
            plan.min_ready
        );
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = match &self.end {
            End::Ready => Ok(()),
            End::Deadline => {
                let timeout = crate::duration::format(plan.timeout.unwrap_or_default());
                write!(text, "deadline of {timeout} passed: {counts}")
            }
            End::Signal(sig) => write!(text, "interrupted by {}: {counts}", signals::name(*sig)),
            End::SignalBeforeCommand(sig, command) => {
                let signal = signals::name(*sig);
                write!(text, "interrupted by {signal} before running {command}")
            }
            End::NotRun(e) => write!(text, "{e}"),
            End::Internal { target, what, .. } => match target {
                Some(i) => write!(text, "{}: {what}", plan.targets[*i].spelling),
                None => write!(text, "{what}"),
            },
        };
        if !matches!(self.end, End::Deadline | End::Signal(_)) {
            return text;
        }
        // Those that gave a reason first, then those that gave none yet; in order within each.
        let pending = (plan.targets.iter().zip(&self.ready).zip(&self.last))
            .filter(|((_, ready), _)| !**ready)
            .map(|((t, _), r)| (&t.spelling, r.as_deref()));
        let mut shown = 0;
        let by = |reason: bool| pending.clone().filter(move |(_, r)| r.is_some() == reason);
        for (t, r) in by(true).chain(by(false)) {
            let before = text.len();
            let reason = r.unwrap_or(&Reason::NoAnswerYet);
            let _ = match shown {
                0 => write!(text, "; {}: {t}: {reason}", words.not),
                _ => write!(text, "; {t}: {reason}"),
            };
            // Room for the count after it: "; and 1000000 more".
            if text.len() + 20 > MESSAGE_FIRST {
                text.truncate(before);
                break;
            }
            shown += 1;
        }
        let more = plan.targets.len() - self.ready_count() - shown;
        let _ = match (more, shown) {
            (0, _) => Ok(()),
            (_, 0) => write!(text, "; {more} {}", words.not),
            _ => write!(text, "; and {more} more"),
        };
        text
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::Probing;
    use crate::target::Family;

    fn plan(targets: &[String], min_ready: usize) -> Plan {
        Plan {
            targets: targets
                .iter()
                .map(|t| t.parse().expect("a target"))
                .collect(),
            min_ready,
            timeout: Some(Duration::from_secs(300)),
            probing: Probing {
                interval: Duration::from_secs(1),
                connect_timeout: Duration::from_secs(1),
                family: Family::Both,
                invert: false,
            },
        }
    }

    #[test]
    fn message_says_the_end_then_the_targets_with_a_reason_first() {
        let targets = ["a.shop", "mysql-0.mysql.shop", "b.shop"].map(String::from);
        let p = plan(&targets, 3);
        let mut v = Verdict::early(&p, End::Deadline);
        v.ready[0] = true;
        v.last[2] = Some(Box::new(Reason::NoSuchName));
        assert_eq!(
            v.message(&p),
            "deadline of 5m passed: 1 of 3 targets ready, 3 needed; not ready: b.shop: no such \
             name (NXDOMAIN); mysql-0.mysql.shop: no answer yet"
                .replace("no answer yet", &Reason::NoAnswerYet.to_string())
        );
        v.end = End::Signal(libc::SIGTERM);
        assert!(
            v.message(&p)
                .starts_with("interrupted by SIGTERM: 1 of 3 targets ready")
        );
        v.end = End::Internal {
            target: Some(1),
            what: "resolver error: bad request".into(),
            reason: None,
        };
        let m = v.message(&p);
        assert_eq!(m, "mysql-0.mysql.shop: resolver error: bad request");
    }

    #[test]
    fn message_names_what_fits_in_the_first_kilobyte_and_counts_the_rest() {
        let targets: Vec<String> = (0..5000).map(|i| format!("pod-{i}.svc.shop")).collect();
        let p = plan(&targets, 5000);
        let mut v = Verdict::early(&p, End::Deadline);
        for last in &mut v.last {
            *last = Some(Box::new(Reason::NoSuchName));
        }
        let m = v.message(&p);
        assert!(m.len() <= MESSAGE_FIRST, "{}", m.len());
        let shown = m.matches(": no such name").count();
        assert!(shown > 10, "{m}");
        assert!(m.ends_with(&format!("; and {} more", 5000 - shown)), "{m}");
        assert!(
            m.starts_with("deadline of 5m passed: 0 of 5000 targets ready"),
            "{m}"
        );
        // A target too long to be named is still counted.
        let long = format!("http://a.shop/{}", "p".repeat(1100));
        let p = plan(&[long], 1);
        let m = Verdict::early(&p, End::Deadline).message(&p);
        assert!(m.ends_with("ready, 1 needed; 1 not ready"), "{m}");
    }
}
