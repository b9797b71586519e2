//! The log format, chosen once: `<seconds since start>s <LEVEL> <message>` on stderr.
//!
//! Messages start with the target. Colour only when stderr is a terminal and NO_COLOR is unset
//! or empty (no-color.org); in a pod's log there is never any.

use std::io::Write;
use std::time::Instant;

/// Installs the logger. `filter` is an env_logger filter, already checked by the cli.
pub fn init(filter: &str, start: Instant) {
    let colour = colour_wanted(std::env::var_os("NO_COLOR"));
    env_logger::Builder::new()
        .parse_filters(filter)
        .target(env_logger::Target::Stderr)
        .format(move |buf, record| {
            let level = record.level();
            let secs = start.elapsed().as_secs_f64();
            let (on, off) = match (colour, level) {
                (false, _) => ("", ""),
                (true, log::Level::Error) => ("\x1b[31m", "\x1b[0m"),
                (true, log::Level::Warn) => ("\x1b[33m", "\x1b[0m"),
                (true, log::Level::Info) => ("\x1b[32m", "\x1b[0m"),
                (true, _) => ("\x1b[2m", "\x1b[0m"),
            };
            writeln!(buf, "{secs:8.3}s {on}{level:<5}{off} {}", record.args())
        })
        .init();
}

fn colour_wanted(no_color: Option<std::ffi::OsString>) -> bool {
    let disabled = no_color.is_some_and(|v| !v.is_empty());
    // SAFETY: isatty only inspects the descriptor.
    !disabled && unsafe { libc::isatty(libc::STDERR_FILENO) } == 1
}
