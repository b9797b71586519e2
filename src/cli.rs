//! Options, environment variables and `--help`: turns argv and the environment into a `Config`.
//!
//! Every option can come from a PRECHECK_* variable; a flag wins over its variable. A bad value
//! in either is a usage error naming the flag or variable and quoting the value: nothing falls
//! back to a default silently. The parser takes argv and an environment lookup as parameters so
//! tests never touch the real process environment.

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use lexopt::prelude::*;

use crate::exit;
use crate::target::{MAX_MIN, Target, TargetError};

/// Which address families count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Both,
    V4,
    V6,
}

/// Everything a run needs, parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub targets: Vec<Target>,
    /// `None`: wait forever.
    pub timeout: Option<Duration>,
    pub interval: Duration,
    pub connect_timeout: Duration,
    /// How many targets must be ready; from 1 to `targets.len()`.
    pub min_ready: usize,
    pub family: Family,
    /// An env_logger filter, already checked.
    pub log_filter: String,
    /// The command to exec after success, byte-exact; empty for none.
    pub command: Vec<OsString>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Run(Config),
    Help,
    Version,
}

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// A usage error (exit 2). The message names the flag or variable and quotes the bad input.
#[derive(Debug)]
pub struct UsageError(Kind);

#[derive(Debug)]
enum Kind {
    Lexopt(lexopt::Error),
    Value {
        source: &'static str,
        value: String,
        why: String,
    },
    NotUtf8 {
        source: &'static str,
        value: OsString,
    },
    Target(TargetError),
    NoTargets,
    NoCommand,
    Conflict(&'static str, &'static str),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Lexopt(e) => write!(f, "{e}"),
            Kind::Value { source, value, why } => {
                write!(f, "invalid value '{value}' for {source}: {why}")
            }
            Kind::NotUtf8 { source, value } => write!(
                f,
                "invalid value '{}' for {source}: it is not valid UTF-8",
                value.to_string_lossy()
            ),
            Kind::Target(e) => write!(f, "{e}"),
            Kind::NoTargets => write!(
                f,
                "no targets: give at least one NAME or HOST:PORT, or set PRECHECK_TARGETS"
            ),
            Kind::NoCommand => write!(f, "'--' must be followed by a command"),
            Kind::Conflict(a, b) => write!(f, "{a} and {b} cannot be used together"),
        }
    }
}

impl std::error::Error for UsageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            Kind::Lexopt(e) => Some(e),
            Kind::Target(e) => Some(e),
            _ => None,
        }
    }
}

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> UsageError {
        UsageError(Kind::Lexopt(e))
    }
}

fn bad(source: &'static str, value: &str, why: impl Into<String>) -> UsageError {
    UsageError(Kind::Value {
        source,
        value: value.to_string(),
        why: why.into(),
    })
}

/// Parses argv (without the program name) and the environment (through `env`).
pub fn parse_args(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Action, UsageError> {
    // Everything after the first `--` is the command, verbatim. lexopt would swallow the `--`
    // itself and hand back the rest as plain values, indistinguishable from targets.
    let (args, command) = match args.iter().position(|a| a == "--") {
        Some(i) => {
            let mut args = args;
            let command = args.split_off(i + 1);
            args.pop();
            if command.is_empty() {
                return Err(UsageError(Kind::NoCommand));
            }
            (args, command)
        }
        None => (args, Vec::new()),
    };

    let mut timeout = None;
    let mut interval = None;
    let mut connect_timeout = None;
    let mut min_ready: Option<(&'static str, String)> = None;
    let mut any = false;
    let (mut v4, mut v6) = (false, false);
    let mut verbosity: i32 = 0;
    let mut verbosity_given = false;
    let mut targets = Vec::new();

    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Action::Help),
            Short('V') | Long("version") => return Ok(Action::Version),
            Short('t') | Long("timeout") => {
                timeout = Some(parse_timeout(
                    "--timeout",
                    &utf8("--timeout", parser.value()?)?,
                )?)
            }
            Short('i') | Long("interval") => {
                interval = Some(parse_interval(
                    "--interval",
                    &utf8("--interval", parser.value()?)?,
                )?)
            }
            Long("connect-timeout") => {
                connect_timeout = Some(parse_connect_timeout(
                    "--connect-timeout",
                    &utf8("--connect-timeout", parser.value()?)?,
                )?)
            }
            Long("min-ready") => {
                min_ready = Some(("--min-ready", utf8("--min-ready", parser.value()?)?))
            }
            Long("any") => any = true,
            Short('4') => v4 = true,
            Short('6') => v6 = true,
            Short('q') | Long("quiet") => {
                verbosity -= 1;
                verbosity_given = true;
            }
            Short('v') | Long("verbose") => {
                verbosity += 1;
                verbosity_given = true;
            }
            Value(v) => targets.push(parse_target(v)?),
            _ => return Err(arg.unexpected().into()),
        }
    }

    if v4 && v6 {
        return Err(UsageError(Kind::Conflict("-4", "-6")));
    }
    if any && min_ready.is_some() {
        return Err(UsageError(Kind::Conflict("--any", "--min-ready")));
    }

    if let Some(list) = env_utf8(env, "PRECHECK_TARGETS")? {
        for word in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
        {
            let target = word.parse().map_err(|e| UsageError(Kind::Target(e)))?;
            targets.push(target);
        }
    }
    if targets.is_empty() {
        return Err(UsageError(Kind::NoTargets));
    }

    let timeout = match timeout {
        Some(t) => t,
        None => match env_utf8(env, "PRECHECK_TIMEOUT")? {
            Some(v) => parse_timeout("PRECHECK_TIMEOUT", &v)?,
            None => None,
        },
    };
    let interval = match interval {
        Some(i) => i,
        None => match env_utf8(env, "PRECHECK_INTERVAL")? {
            Some(v) => parse_interval("PRECHECK_INTERVAL", &v)?,
            None => DEFAULT_INTERVAL,
        },
    };
    let connect_timeout = match connect_timeout {
        Some(c) => c,
        None => match env_utf8(env, "PRECHECK_CONNECT_TIMEOUT")? {
            Some(v) => parse_connect_timeout("PRECHECK_CONNECT_TIMEOUT", &v)?,
            None => DEFAULT_CONNECT_TIMEOUT,
        },
    };
    let min_ready = match (any, min_ready) {
        (true, _) => 1,
        (false, Some((source, v))) => parse_min_ready(source, &v, targets.len())?,
        (false, None) => match env_utf8(env, "PRECHECK_MIN_READY")? {
            Some(v) => parse_min_ready("PRECHECK_MIN_READY", &v, targets.len())?,
            None => targets.len(),
        },
    };
    let log_filter = if verbosity_given {
        const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
        // info is index 3; the clamp keeps the index inside LEVELS.
        LEVELS[(3 + verbosity).clamp(0, 5) as usize].to_string()
    } else {
        match env_utf8(env, "PRECHECK_LOG")? {
            Some(v) => parse_log_filter(&v)?,
            None => "info".to_string(),
        }
    };
    let family = match (v4, v6) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Both,
    };
    for target in &targets {
        check_family(target, family)?;
    }

    Ok(Action::Run(Config {
        targets,
        timeout,
        interval,
        connect_timeout,
        min_ready,
        family,
        log_filter,
        command,
    }))
}

fn utf8(source: &'static str, value: OsString) -> Result<String, UsageError> {
    value
        .into_string()
        .map_err(|value| UsageError(Kind::NotUtf8 { source, value }))
}

fn env_utf8(
    env: &dyn Fn(&str) -> Option<OsString>,
    name: &'static str,
) -> Result<Option<String>, UsageError> {
    env(name).map(|v| utf8(name, v)).transpose()
}

fn parse_target(value: OsString) -> Result<Target, UsageError> {
    let value = utf8("a target", value)?;
    value.parse().map_err(|e| UsageError(Kind::Target(e)))
}

fn duration(source: &'static str, value: &str) -> Result<Duration, UsageError> {
    humantime::parse_duration(value.trim()).map_err(|e| {
        bad(
            source,
            value,
            format!("{e}; expected a duration such as 500ms, 30s, 5m or '1h 30m'"),
        )
    })
}

/// `0` means no deadline.
fn parse_timeout(source: &'static str, value: &str) -> Result<Option<Duration>, UsageError> {
    let d = duration(source, value)?;
    Ok(if d.is_zero() { None } else { Some(d) })
}

fn parse_interval(source: &'static str, value: &str) -> Result<Duration, UsageError> {
    let d = duration(source, value)?;
    if d < MIN_INTERVAL {
        return Err(bad(source, value, "the interval must be at least 10ms"));
    }
    Ok(d)
}

fn parse_connect_timeout(source: &'static str, value: &str) -> Result<Duration, UsageError> {
    let d = duration(source, value)?;
    if d.is_zero() {
        return Err(bad(
            source,
            value,
            "the connect timeout must be more than 0",
        ));
    }
    Ok(d)
}

fn parse_min_ready(source: &'static str, value: &str, targets: usize) -> Result<usize, UsageError> {
    let why = || format!("expected a whole number from 1 to {targets} (the number of targets)");
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=targets).contains(&n) => Ok(n),
        _ => Err(bad(source, value, why())),
    }
}

fn parse_log_filter(value: &str) -> Result<String, UsageError> {
    env_filter::Builder::new()
        .try_parse(value)
        .map_err(|e| bad("PRECHECK_LOG", value, e.to_string()))?;
    Ok(value.to_string())
}

/// An IP literal of the other family can never be ready under -4 or -6.
fn check_family(target: &Target, family: Family) -> Result<(), UsageError> {
    use crate::target::Host;
    let (flag, wrong) = match (family, &target.host) {
        (Family::V4, Host::Ip(ip)) if ip.is_ipv6() => ("-4", "an IPv6"),
        (Family::V6, Host::Ip(ip)) if ip.is_ipv4() => ("-6", "an IPv4"),
        _ => return Ok(()),
    };
    Err(bad(
        "a target",
        &target.spelling,
        format!("it is {wrong} address, which {flag} excludes"),
    ))
}

pub fn help() -> String {
    format!(
        "\
service-precheck {version}
Wait until the services a process depends on resolve in DNS or accept TCP
connections, then exit 0 or exec COMMAND. Made for Kubernetes initContainers:
a headless service's DNS name for a pod exists only while the pod is ready.

USAGE:
  service-precheck [OPTIONS] TARGET... [-- COMMAND [ARG...]]

TARGETS:
  NAME, dns://NAME          ready when NAME resolves (via /etc/hosts, the
                            resolv.conf search list and ndots, as for any program)
  HOST:PORT, tcp://HOST:PORT, [IPV6]:PORT
                            ready when a TCP connection to PORT succeeds on an
                            address of HOST
  ...?min=N                 DNS: at least N distinct addresses; TCP: at least N
                            distinct addresses accept a connection (1 to {max_min})
  A bare IPv6 address (::1) is a DNS target. Quote targets with ? in shells.

OPTIONS:                                    (environment variable; default)
  -t, --timeout DURATION      one deadline for everything; 0 means none
                              (PRECHECK_TIMEOUT; none: wait forever)
  -i, --interval DURATION     pause between attempts of one target, >= 10ms
                              (PRECHECK_INTERVAL; 1s)
      --connect-timeout DURATION
                              bound on one TCP connect attempt
                              (PRECHECK_CONNECT_TIMEOUT; 1s)
      --min-ready N           succeed once N targets are ready, 1 to the number
                              of targets (PRECHECK_MIN_READY; all targets)
      --any                   same as --min-ready 1
  -4, -6                      only IPv4 / only IPv6 addresses count (both)
  -q, -v                      quieter / more detail, repeatable; they win over
                              PRECHECK_LOG, an env_logger filter (info)
  -h, --help                  print this help
  -V, --version               print the version

  PRECHECK_TARGETS            more targets, separated by commas or white space
  NO_COLOR                    when set, never colour the log (colour is used
                              only when stderr is a terminal)
  A flag wins over its variable. DURATION: 500ms, 30s, 5m, '1h 30m'.

EXIT CODES:
{table}
Logs go to stderr, one line per event with the target first.
",
        version = env!("CARGO_PKG_VERSION"),
        max_min = MAX_MIN,
        table = exit::help_table(),
    )
}

pub fn version() -> String {
    format!("service-precheck {}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::ffi::OsStringExt;

    fn run_with(args: &[&str], env: &[(&str, &str)]) -> Result<Action, UsageError> {
        let env: HashMap<String, OsString> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        let args = args.iter().map(OsString::from).collect();
        parse_args(args, &|k| env.get(k).cloned())
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run_with(args, env) {
            Ok(Action::Run(c)) => c,
            other => panic!("{args:?} {env:?}: expected a config, got {other:?}"),
        }
    }

    fn usage(args: &[&str], env: &[(&str, &str)]) -> String {
        match run_with(args, env) {
            Err(e) => e.to_string(),
            Ok(a) => panic!("{args:?} {env:?}: expected a usage error, got {a:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = config(&["db"], &[]);
        assert_eq!(c.targets.len(), 1);
        assert_eq!(c.timeout, None);
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.connect_timeout, Duration::from_secs(1));
        assert_eq!(c.min_ready, 1);
        assert_eq!(c.family, Family::Both);
        assert_eq!(c.log_filter, "info");
        assert!(c.command.is_empty());
        assert_eq!(config(&["a", "b:1", "c"], &[]).min_ready, 3);
    }

    #[test]
    fn flags() {
        let c = config(
            &[
                "-t",
                "1h 30m",
                "--interval=250ms",
                "--connect-timeout",
                "2s",
                "--min-ready",
                "2",
                "-4",
                "-vv",
                "a",
                "b",
                "c",
            ],
            &[],
        );
        assert_eq!(c.timeout, Some(Duration::from_secs(5400)));
        assert_eq!(c.interval, Duration::from_millis(250));
        assert_eq!(c.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.min_ready, 2);
        assert_eq!(c.family, Family::V4);
        assert_eq!(c.log_filter, "trace");
        assert_eq!(config(&["--any", "a", "b"], &[]).min_ready, 1);
        assert_eq!(config(&["-6", "a"], &[]).family, Family::V6);
        assert_eq!(config(&["-q", "a"], &[]).log_filter, "warn");
        assert_eq!(config(&["-qqqqq", "a"], &[]).log_filter, "off");
        assert_eq!(config(&["-qv", "a"], &[]).log_filter, "info");
        assert_eq!(config(&["-t", "0", "a"], &[]).timeout, None);
    }

    #[test]
    fn env_vars_and_precedence() {
        let env = [
            ("PRECHECK_TIMEOUT", "30s"),
            ("PRECHECK_INTERVAL", "100ms"),
            ("PRECHECK_CONNECT_TIMEOUT", "3s"),
            ("PRECHECK_MIN_READY", "1"),
            ("PRECHECK_LOG", "debug"),
            ("PRECHECK_TARGETS", "b:1, c\n d,,"),
        ];
        let c = config(&["a"], &env);
        let names: Vec<_> = c.targets.iter().map(|t| t.spelling.as_str()).collect();
        assert_eq!(names, ["a", "b:1", "c", "d"]);
        assert_eq!(c.timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.interval, Duration::from_millis(100));
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.min_ready, 1);
        assert_eq!(c.log_filter, "debug");

        let c = config(
            &[
                "-t",
                "1s",
                "-i",
                "1s",
                "--connect-timeout",
                "1s",
                "--min-ready",
                "4",
                "-q",
                "a",
            ],
            &env,
        );
        assert_eq!(c.timeout, Some(Duration::from_secs(1)));
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.connect_timeout, Duration::from_secs(1));
        assert_eq!(c.min_ready, 4);
        assert_eq!(c.log_filter, "warn");
        // Targets from the environment alone are enough.
        assert_eq!(config(&[], &[("PRECHECK_TARGETS", "x")]).targets.len(), 1);
        assert_eq!(config(&["a"], &[("PRECHECK_TIMEOUT", "0")]).timeout, None);
        // A flag wins even when its variable is bad.
        assert_eq!(
            config(&["-t", "2s", "a"], &[("PRECHECK_TIMEOUT", "soon")]).timeout,
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            config(&["--any", "a"], &[("PRECHECK_MIN_READY", "9")]).min_ready,
            1
        );
    }

    #[test]
    fn command_after_double_dash() {
        let c = config(&["db:5432", "--", "./server", "", "a b", "--", "-t"], &[]);
        assert_eq!(c.targets.len(), 1);
        assert_eq!(c.command, ["./server", "", "a b", "--", "-t"]);
        assert!(usage(&["db", "--"], &[]).contains("'--' must be followed by a command"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(run_with(&["-h"], &[]).unwrap(), Action::Help);
        assert_eq!(run_with(&["db", "--help"], &[]).unwrap(), Action::Help);
        assert_eq!(run_with(&["-V"], &[]).unwrap(), Action::Version);
        let help = help();
        for word in [
            "--timeout",
            "PRECHECK_TIMEOUT",
            "--interval",
            "PRECHECK_INTERVAL",
            "--connect-timeout",
            "PRECHECK_CONNECT_TIMEOUT",
            "--min-ready",
            "PRECHECK_MIN_READY",
            "--any",
            "PRECHECK_LOG",
            "PRECHECK_TARGETS",
            "NO_COLOR",
            "143 for SIGTERM",
            "127",
        ] {
            assert!(help.contains(word), "help lacks {word}");
        }
    }

    #[test]
    fn usage_errors_name_the_source_and_quote_the_value() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (&[], &[], "no targets"),
            (
                &["-t", "soon", "a"],
                &[],
                "invalid value 'soon' for --timeout",
            ),
            (
                &["a"],
                &[("PRECHECK_TIMEOUT", "5 parsecs")],
                "invalid value '5 parsecs' for PRECHECK_TIMEOUT",
            ),
            (
                &["-t", "-1s", "a"],
                &[],
                "invalid value '-1s' for --timeout",
            ),
            (
                &["-i", "5ms", "a"],
                &[],
                "invalid value '5ms' for --interval: the interval must be at least 10ms",
            ),
            (
                &["a"],
                &[("PRECHECK_INTERVAL", "0")],
                "invalid value '0' for PRECHECK_INTERVAL",
            ),
            (
                &["--connect-timeout", "0s", "a"],
                &[],
                "invalid value '0s' for --connect-timeout",
            ),
            (
                &["a"],
                &[("PRECHECK_CONNECT_TIMEOUT", "x")],
                "invalid value 'x' for PRECHECK_CONNECT_TIMEOUT",
            ),
            (
                &["--min-ready", "0", "a"],
                &[],
                "invalid value '0' for --min-ready: expected a whole number from 1 to 1",
            ),
            (
                &["--min-ready", "3", "a", "b"],
                &[],
                "invalid value '3' for --min-ready",
            ),
            (
                &["--min-ready", "two", "a"],
                &[],
                "invalid value 'two' for --min-ready",
            ),
            (
                &["a"],
                &[("PRECHECK_MIN_READY", "2")],
                "invalid value '2' for PRECHECK_MIN_READY",
            ),
            (
                &["a"],
                &[("PRECHECK_LOG", "info,=x=y")],
                "invalid value 'info,=x=y' for PRECHECK_LOG",
            ),
            (
                &["a"],
                &[("PRECHECK_TARGETS", "ok bad:port")],
                "invalid target 'bad:port'",
            ),
            (&["db:0"], &[], "invalid target 'db:0'"),
            (
                &["--any", "--min-ready", "1", "a"],
                &[],
                "--any and --min-ready cannot be used together",
            ),
            (&["-4", "-6", "a"], &[], "-4 and -6 cannot be used together"),
            (
                &["-4", "::1"],
                &[],
                "invalid value '::1' for a target: it is an IPv6 address, which -4 excludes",
            ),
            (
                &["-6", "127.0.0.1:80"],
                &[],
                "it is an IPv4 address, which -6 excludes",
            ),
            (&["--frobnicate", "a"], &[], "--frobnicate"),
            (&["-x", "a"], &[], "-x"),
            (&["-t"], &[], "-t"),
        ];
        for (args, env, want) in cases {
            let got = usage(args, env);
            assert!(
                got.contains(want),
                "{args:?} {env:?}: {got:?} lacks {want:?}"
            );
        }
    }

    #[test]
    fn non_utf8_never_panics() {
        let bad = OsString::from_vec(vec![b'd', 0xff, b'b']);
        let err = parse_args(vec![bad.clone()], &|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("d\u{fffd}b") && err.contains("not valid UTF-8"),
            "{err}"
        );
        let err = parse_args(vec!["-t".into(), bad.clone(), "a".into()], &|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--timeout"), "{err}");
        let env_bad = bad.clone();
        let err = parse_args(vec!["a".into()], &move |k| {
            (k == "PRECHECK_TARGETS").then(|| env_bad.clone())
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("PRECHECK_TARGETS"), "{err}");
        // The command after -- stays byte-exact, even when it is not UTF-8.
        let c = match parse_args(vec!["a".into(), "--".into(), bad.clone()], &|_| None) {
            Ok(Action::Run(c)) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(c.command, [bad]);
    }
}
