//! service-precheck: block until the services a process depends on are up, then exit 0 or exec.
//!
//! main reads as a script: parse, set up logging and signals, take a first look at the targets
//! that need no resolver, start one probe thread per target still waiting (none when the look
//! decided), wait under the deadline, then exit or exec. Exit codes live in `exit`.

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use log::Level;

use service_precheck::cli::{self, Action};
use service_precheck::exit::Exit;
use service_precheck::logging::{Line, emit};
use service_precheck::plan::{Deadline, Plan};
use service_precheck::probe::talk;
use service_precheck::quote::quoted;
use service_precheck::verdict::{End, Verdict};
use service_precheck::{
    alloc, exec, logging, memory, output, panic, runner, signals, sweep, termination,
};

/// Any allocation failure ends the process with exit 3 and a line, never with SIGABRT.
#[global_allocator]
static ALLOCATOR: alloc::ExitOnOom = alloc::ExitOnOom;

/// How long a conversation updating its owed words may hold up the end (see `talk`).
const OWED_WORDS: Duration = Duration::from_millis(10);

/// How long the last log lines may take to reach stderr before the process exits anyway.
const LAST_LINES: Duration = Duration::from_millis(20);

/// How long writing the termination message may take before the process exits anyway (out of
/// `LAST_LINES`).
const TERMINATION: Duration = Duration::from_millis(10);

mod thread_name;
mod unwind;

fn main() {
    panic::exit_on_panic();
    service_precheck::selftest::panic_if_asked();
    let start = Instant::now();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let message_to = cli::termination_log(&args, &|name| std::env::var_os(name));
    // The termination message shares the last lines' budget: the end is never later for it.
    let mut last_lines = LAST_LINES;
    // 1. Parse argv and the environment; nothing else happens on a usage error.
    let code = match parse(args, start, &message_to) {
        Err(exit) => exit,
        // 2-4. Wait, and end in one verdict; every ending is told here, once: the last log
        //    lines, the termination message, the exit code.
        Ok((config, deadline)) => {
            let verdict = run(&config, deadline, start);
            verdict.log(&config.plan, &config.command);
            if !matches!(verdict.end, End::Ready) {
                let begun = Instant::now();
                let message = verdict.message(&config.plan);
                termination::write(message_to, &message, TERMINATION);
                last_lines = LAST_LINES.saturating_sub(begun.elapsed());
            }
            verdict.exit()
        }
    };
    logging::flush(last_lines);
    // Probe threads may be stuck inside getaddrinfo, which cannot be cancelled. _exit ends the
    // process around them without running exit handlers that could race with a lookup.
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code.code()) }
}

fn run(config: &cli::Config, deadline: Option<Deadline>, start: Instant) -> Verdict {
    let plan = &config.plan;
    // 2. Block SIGINT and SIGTERM before any thread exists (the log writer is the first), so
    //    every thread inherits the mask; they are read from a signalfd, never by a handler.
    let mask = signals::block();
    logging::init(config.log_level, config.log_format, start);
    for warning in &config.warnings {
        emit(Level::Warn, Line::new("warning"), format_args!("{warning}"));
    }
    // A command that cannot run fails now, not after the wait (execvp looks it up again).
    if let Some(Err(e)) = config.command.first().map(|c| exec::find(c)) {
        return Verdict::early(plan, End::NotRun(e));
    }
    let mask = match mask {
        Ok(mask) => mask,
        Err(e) => return internal(plan, "cannot block SIGINT and SIGTERM", &e),
    };
    let signals = match signals::Signals::open() {
        Ok(signals) => signals,
        Err(e) => return internal(plan, "cannot read SIGINT and SIGTERM (signalfd)", &e),
    };

    // 3. A first look at the TCP targets on IP literals from this thread (see `sweep`). When it
    //    decides the run (or a signal came), no thread is started at all; otherwise one probe
    //    thread per target still waiting, started by a starter thread while this one waits.
    runner::announce(plan);
    let mut first = sweep::look(plan, deadline, &signals);
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let waiter = if first.decided {
        // runner::wait finds the decision among the first events. Without a sender left it
        // could never block, whatever it found.
        drop(tx);
        signals::Waiter::idle(signals)
    } else {
        let pending = std::mem::take(&mut first.pending);
        // What the memory limit cannot hold is refused now: the kernel would kill it unheard.
        if let Err(short) = memory::check(pending.iter().map(|(_, t, _)| t)) {
            let end = End::Internal {
                target: None,
                what: short.to_string(),
                reason: Some("not enough memory".into()),
            };
            return Verdict::early(plan, end);
        }
        let signal_tx = tx.clone();
        let waiter = signals::spawn_waiter(signals, move |sig| {
            let _ = signal_tx.send(runner::Event::Signal(sig));
        });
        let waiter = match waiter {
            Ok(waiter) => waiter,
            Err(e) => return internal(plan, "cannot start the signal thread", &e),
        };
        if let Err(e) = runner::start(pending, plan.probing, tx, stop.clone()) {
            return internal(plan, "cannot start a thread", &e);
        }
        waiter
    };

    // 4. Wait; then end, or become the command.
    let verdict = runner::wait(plan, first.events(), &rx, start, deadline);
    stop.store(true, Ordering::Relaxed);
    // Conversations still in progress end with the process or the exec: those that owe their
    // server last words (MySQL's login) say them now.
    talk::say_owed_words(OWED_WORDS);
    if !matches!(verdict.end, End::Ready) || config.command.is_empty() {
        return verdict;
    }
    become_command(verdict, &config.command, waiter, &rx, &mask)
}

/// The configuration and the deadline, or the exit of a usage error (or of --help, --version).
fn parse(
    args: Vec<OsString>,
    start: Instant,
    message_to: &Option<OsString>,
) -> Result<(cli::Config, Option<Deadline>), Exit> {
    let config = match cli::parse_args(args, &|name| std::env::var_os(name)) {
        Ok(Action::Run(config)) => config,
        Ok(Action::Help) => return Err(output::print(&cli::help())),
        Ok(Action::Version) => return Err(output::print(&format!("{}\n", cli::version()))),
        Err(e) => return Err(usage(&e, message_to)),
    };
    match config.plan.deadline(start) {
        Ok(deadline) => Ok((config, deadline)),
        // cli checked this against the clock already; only a clock near its end gets here.
        Err(t) => {
            let t = service_precheck::duration::format(t);
            let e = format!("the deadline {t} is beyond what the clock can represent");
            Err(usage(&e, message_to))
        }
    }
}

/// A usage error: on stderr, and as the termination message.
fn usage(e: &dyn std::fmt::Display, message_to: &Option<OsString>) -> Exit {
    output::usage_error(e);
    termination::write(
        message_to.clone(),
        &format!("usage error: {e}"),
        TERMINATION,
    );
    Exit::Usage
}

/// Execs COMMAND, unless a SIGTERM or SIGINT came first: then the command is not started.
/// Returns only when the command did not run.
fn become_command(
    mut verdict: Verdict,
    command: &[OsString],
    waiter: signals::Waiter,
    rx: &mpsc::Receiver<runner::Event>,
    mask: &signals::OriginalMask,
) -> Verdict {
    let pending = waiter.stop();
    let taken = rx.try_iter().find_map(|event| match event {
        runner::Event::Signal(sig) => Some(sig),
        _ => None,
    });
    let name = quoted(&command[0].to_string_lossy()).to_string();
    if let Some(sig) = taken.or(pending) {
        verdict.end = End::SignalBeforeCommand(sig, name);
        return verdict;
    }
    let argv = exec::shown(command);
    let line = Line::new("exec").command(&argv);
    emit(Level::Info, line, format_args!("running {name}"));
    logging::flush(LAST_LINES);
    verdict.end = End::NotRun(exec::exec(command, mask));
    verdict
}

/// An internal error before the wait: `what` failed with `e`.
fn internal(plan: &Plan, what: &str, e: &std::io::Error) -> Verdict {
    let end = End::Internal {
        target: None,
        what: format!("{what}: {e}"),
        reason: Some(e.to_string()),
    };
    Verdict::early(plan, end)
}
