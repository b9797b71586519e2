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
use service_precheck::probe::Reason;
use service_precheck::quote::quoted;
use service_precheck::target::Target;
use service_precheck::{alloc, exec, logging, output, panic, runner, signals, sweep};

/// Any allocation failure ends the process with exit 3 and a line, never with SIGABRT.
#[global_allocator]
static ALLOCATOR: alloc::ExitOnOom = alloc::ExitOnOom;

/// How long the last log lines may take to reach stderr before the process exits anyway.
const LAST_LINES: Duration = Duration::from_millis(20);

mod thread_name;
mod unwind;

fn main() {
    panic::exit_on_panic();
    service_precheck::selftest::panic_if_asked();
    let code = run().code();
    logging::flush(LAST_LINES);
    // Probe threads may be stuck inside getaddrinfo, which cannot be cancelled. _exit ends the
    // process around them without running exit handlers that could race with a lookup.
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

fn run() -> Exit {
    let start = Instant::now();
    // 1. Parse argv and the environment; nothing else happens on a usage error.
    let (config, deadline) = match parse(start) {
        Ok(parsed) => parsed,
        Err(exit) => return exit,
    };

    // 2. Block SIGINT and SIGTERM before any thread exists (the log writer is the first), so
    //    every thread inherits the mask; they are read from a signalfd, never by a handler.
    let mask = signals::block();
    logging::init(&config.log_filter, config.log_format, start);
    for warning in &config.warnings {
        emit(Level::Warn, Line::new("warning"), format_args!("{warning}"));
    }
    // A command that cannot run fails now, not after the wait (execvp looks it up again).
    if let Some(Err(e)) = config.command.first().map(|c| exec::find(c)) {
        emit(
            Level::Error,
            Line::new("error").reason(&e),
            format_args!("{e}"),
        );
        return e.exit();
    }
    let mask = match mask {
        Ok(mask) => mask,
        Err(e) => return internal(format_args!("cannot block SIGINT and SIGTERM: {e}"), &e),
    };
    let signals = match signals::Signals::open() {
        Ok(signals) => signals,
        Err(e) => {
            return internal(
                format_args!("cannot read SIGINT and SIGTERM (signalfd): {e}"),
                &e,
            );
        }
    };

    // 3. A first look at the TCP targets on IP literals from this thread (see `sweep`). When it
    //    decides the run (or a signal came), no thread is started at all; otherwise one probe
    //    thread per target still waiting, started by a starter thread while this one waits.
    runner::announce(&config);
    let probing = runner::Probing {
        interval: config.interval,
        connect_timeout: config.connect_timeout,
        family: config.family,
        invert: config.invert,
    };
    let mut first = sweep::look(&config, &probing, deadline, &signals);
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let waiter = if first.decided {
        // runner::wait finds the decision among the first events. Without a sender left it
        // could never block, whatever it found.
        drop(tx);
        signals::Waiter::idle(signals)
    } else {
        let pending = std::mem::take(&mut first.pending);
        match start_threads(pending, probing, signals, tx, &stop) {
            Ok(waiter) => waiter,
            Err(exit) => return exit,
        }
    };

    // 4. Wait; then exit, or become the command.
    let exit = runner::wait(&config, first.events(), &rx, start, deadline);
    stop.store(true, Ordering::Relaxed);
    if exit != Exit::Ready || config.command.is_empty() {
        return exit;
    }
    become_command(&config.command, waiter, &rx, &mask)
}

/// The configuration and the deadline, or the exit of a usage error (or of --help, --version).
fn parse(start: Instant) -> Result<(cli::Config, Option<Instant>), Exit> {
    let args = std::env::args_os().skip(1).collect();
    let config = match cli::parse_args(args, &|name| std::env::var_os(name)) {
        Ok(Action::Run(config)) => config,
        Ok(Action::Help) => return Err(output::print(&cli::help())),
        Ok(Action::Version) => return Err(output::print(&format!("{}\n", cli::version()))),
        Err(e) => {
            output::usage_error(&e);
            return Err(Exit::Usage);
        }
    };
    let deadline = match config.timeout {
        None => None,
        Some(t) => match start.checked_add(t) {
            Some(deadline) => Some(deadline),
            // cli checked this against the clock already; only a clock near its end gets here.
            None => {
                output::usage_error(&format!(
                    "the deadline {} is beyond what the clock can represent",
                    humantime::format_duration(t)
                ));
                return Err(Exit::Usage);
            }
        },
    };
    Ok((config, deadline))
}

/// The signal thread, then the starter of one probe thread per pending target.
fn start_threads(
    pending: Vec<(usize, Target, Option<Reason>)>,
    probing: runner::Probing,
    signals: signals::Signals,
    tx: mpsc::Sender<runner::Event>,
    stop: &Arc<AtomicBool>,
) -> Result<signals::Waiter, Exit> {
    let signal_tx = tx.clone();
    let waiter = signals::spawn_waiter(signals, move |sig| {
        let _ = signal_tx.send(runner::Event::Signal(sig));
    })
    .map_err(|e| internal(format_args!("cannot start the signal thread: {e}"), &e))?;
    runner::start(pending, probing, tx, stop.clone())
        .map_err(|e| internal(format_args!("cannot start a thread: {e}"), &e))?;
    Ok(waiter)
}

/// Execs COMMAND, unless a SIGTERM or SIGINT came first: then the command is not started.
fn become_command(
    command: &[OsString],
    waiter: signals::Waiter,
    rx: &mpsc::Receiver<runner::Event>,
    mask: &signals::OriginalMask,
) -> Exit {
    let pending = waiter.stop();
    let taken = rx.try_iter().find_map(|event| match event {
        runner::Event::Signal(sig) => Some(sig),
        _ => None,
    });
    let name = quoted(&command[0].to_string_lossy()).to_string();
    if let Some(sig) = taken.or(pending) {
        let signal = signals::name(sig);
        let msg = format_args!("interrupted by {signal} before running {name}");
        emit(Level::Error, Line::new("interrupted").reason(&signal), msg);
        return Exit::Signal(sig);
    }
    emit(
        Level::Info,
        Line::new("exec"),
        format_args!("running {name}"),
    );
    logging::flush(LAST_LINES);
    let e = exec::exec(command, mask);
    emit(
        Level::Error,
        Line::new("error").reason(&e),
        format_args!("{e}"),
    );
    e.exit()
}

/// Logs an internal error (`msg`, with `reason` for JSON) and gives exit 3.
fn internal(msg: std::fmt::Arguments<'_>, reason: &dyn std::fmt::Display) -> Exit {
    emit(Level::Error, Line::new("error").reason(reason), msg);
    Exit::Internal
}
