//! The exit-code table: the one place that says what each code means, printed by `--help`.
//!
//! The codes follow the shell and tini: 126/127 for a command that cannot run, 128+n for a
//! signal, so scripts and Kubernetes events read them as they read any other tool's.

/// How the process ends. `Signal(n)` exits with 128+n.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ready,
    Deadline,
    Usage,
    Internal,
    NotExecutable,
    NotFound,
    Signal(i32),
}

/// Every code with its meaning, in the order `--help` prints them.
pub const TABLE: &[(&str, &str)] = &[
    (
        "0",
        "ready (or, with -- COMMAND, the command's own exit status)",
    ),
    (
        "1",
        "the deadline (--timeout) passed before enough targets were ready",
    ),
    (
        "2",
        "usage error: a bad option, value, environment variable or target",
    ),
    (
        "3",
        "internal error: out of memory, a thread could not be started, the resolver rejected \
         the request, or --help/--version could not be written",
    ),
    ("126", "COMMAND was found but could not be executed"),
    ("127", "COMMAND was not found"),
    (
        "128+n",
        "ended by signal n: 130 for SIGINT, 143 for SIGTERM",
    ),
];

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ready => 0,
            Exit::Deadline => 1,
            Exit::Usage => 2,
            Exit::Internal => 3,
            Exit::NotExecutable => 126,
            Exit::NotFound => 127,
            Exit::Signal(n) => 128 + n,
        }
    }

    /// The table row that documents this exit.
    #[cfg(test)]
    fn row(self) -> &'static str {
        match self {
            Exit::Ready => "0",
            Exit::Deadline => "1",
            Exit::Usage => "2",
            Exit::Internal => "3",
            Exit::NotExecutable => "126",
            Exit::NotFound => "127",
            Exit::Signal(_) => "128+n",
        }
    }
}

/// The table as `--help` prints it.
pub fn help_table() -> String {
    let mut out = String::new();
    for (code, meaning) in TABLE {
        out.push_str(&format!("  {code:<7}{meaning}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Exit; 8] = [
        Exit::Ready,
        Exit::Deadline,
        Exit::Usage,
        Exit::Internal,
        Exit::NotExecutable,
        Exit::NotFound,
        Exit::Signal(libc::SIGINT),
        Exit::Signal(libc::SIGTERM),
    ];

    #[test]
    fn codes_match_the_contract() {
        let codes: Vec<i32> = ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 126, 127, 130, 143]);
    }

    #[test]
    fn every_exit_is_documented_once() {
        for exit in ALL {
            let rows = TABLE.iter().filter(|(code, _)| *code == exit.row()).count();
            assert_eq!(rows, 1, "{exit:?} has {rows} rows in the table");
        }
        let distinct: std::collections::HashSet<_> = ALL.iter().map(|e| e.row()).collect();
        assert_eq!(distinct.len(), TABLE.len(), "a table row documents no exit");
    }

    #[test]
    fn help_lists_every_row() {
        let help = help_table();
        for (code, meaning) in TABLE {
            assert!(help.contains(&format!("{code:<7}{meaning}")), "{help}");
        }
    }
}
