//! service-precheck: block until the services a process depends on are up, then exit 0 or exec.
//!
//! main reads as a script: parse, set up logging and signals, start one probe thread per
//! target, wait under the deadline, then exit or exec. Exit codes live in `exit`.

use std::io::Write;
use std::sync::mpsc;
use std::time::Instant;

use log::{error, info};

use service_precheck::cli::{self, Action};
use service_precheck::exit::Exit;
use service_precheck::{exec, logging, runner, signals};

mod unwind;

fn main() {
    service_precheck::selftest::panic_if_asked();
    let code = run().code();
    // Probe threads may be stuck inside getaddrinfo, which cannot be cancelled. _exit ends the
    // process around them without running exit handlers that could race with a lookup.
    let _ = std::io::stdout().flush();
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

fn run() -> Exit {
    let start = Instant::now();
    // 1. Parse argv and the environment; nothing else happens on a usage error.
    let args = std::env::args_os().skip(1).collect();
    let config = match cli::parse_args(args, &|name| std::env::var_os(name)) {
        Ok(Action::Run(config)) => config,
        Ok(Action::Help) => return print(&cli::help()),
        Ok(Action::Version) => return print(&format!("{}\n", cli::version())),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "service-precheck: {e}\nTry 'service-precheck --help' for more information."
            );
            return Exit::Usage;
        }
    };
    logging::init(&config.log_filter, start);

    // 2. Block SIGINT and SIGTERM before any thread exists, so every thread inherits the mask.
    let mask = match signals::block() {
        Ok(mask) => mask,
        Err(e) => {
            error!("cannot block SIGINT and SIGTERM: {e}");
            return Exit::Internal;
        }
    };
    let (tx, rx) = mpsc::channel();
    let signal_tx = tx.clone();
    if let Err(e) = signals::spawn_waiter(move |sig| {
        let _ = signal_tx.send(runner::Event::Signal(sig));
    }) {
        error!("cannot start the signal thread: {e}");
        return Exit::Internal;
    }

    // 3. One probe thread per target.
    runner::announce(&config);
    let probing = runner::Probing {
        interval: config.interval,
        connect_timeout: config.connect_timeout,
        family: config.family,
    };
    for (index, target) in config.targets.iter().enumerate() {
        if let Err(e) = runner::spawn_probe(index, target.clone(), probing, start, tx.clone()) {
            error!("{target}: cannot start a thread: {e}");
            return Exit::Internal;
        }
    }
    drop(tx);

    // 4. Wait; then exit, or become the command.
    let exit = runner::wait(&config, &rx, start);
    if exit != Exit::Ready || config.command.is_empty() {
        return exit;
    }
    info!("running {}", config.command[0].to_string_lossy());
    let e = exec::exec(&config.command, &mask);
    error!("{e}");
    e.exit()
}

fn print(text: &str) -> Exit {
    // A closed stdout is not worth a panic; the exit code still says it worked.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Exit::Ready
}
