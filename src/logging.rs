//! The log format, chosen once: `<seconds since start>s <LEVEL> <message>` on stderr.
//!
//! Messages start with the target. Colour only when stderr is a terminal and NO_COLOR is unset
//! or empty (no-color.org); in a pod's log there is never any.

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

/// Installs the logger. `filter` is an env_logger filter, already checked by the cli.
pub fn init(filter: &str, start: Instant) {
    let colour = colour_wanted(std::env::var_os("NO_COLOR"));
    env_logger::Builder::new()
        .parse_filters(filter)
        .target(env_logger::Target::Stderr)
        .format(move |buf, record| {
            let level = record.level();
            let secs = Secs(start.elapsed());
            let (on, off) = match (colour, level) {
                (false, _) => ("", ""),
                (true, log::Level::Error) => ("\x1b[31m", "\x1b[0m"),
                (true, log::Level::Warn) => ("\x1b[33m", "\x1b[0m"),
                (true, log::Level::Info) => ("\x1b[32m", "\x1b[0m"),
                (true, _) => ("\x1b[2m", "\x1b[0m"),
            };
            writeln!(buf, "{secs:>9} {on}{level:<5}{off} {}", record.args())
        })
        .init();
}

fn colour_wanted(no_color: Option<std::ffi::OsString>) -> bool {
    let disabled = no_color.is_some_and(|v| !v.is_empty());
    // SAFETY: isatty only inspects the descriptor.
    !disabled && unsafe { libc::isatty(libc::STDERR_FILENO) } == 1
}

/// A duration as seconds with milliseconds, `12.345s`. Integer arithmetic: float formatting
/// would add some 10 KiB to a binary whose size users weigh.
pub struct Secs(pub Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{}.{:03}s", self.0.as_secs(), self.0.subsec_millis());
        f.pad(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_with_milliseconds() {
        assert_eq!(Secs(Duration::from_millis(12_345)).to_string(), "12.345s");
        assert_eq!(Secs(Duration::from_micros(4_999)).to_string(), "0.004s");
        assert_eq!(
            format!("{:>9}", Secs(Duration::from_millis(1))),
            "   0.001s"
        );
    }
}
