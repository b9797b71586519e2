//! Options, environment variables and `--help`: turns argv and the environment into a `Config`.
//!
//! Every option can come from a PRECHECK_* variable; a flag wins over its variable. A bad value
//! in either is a usage error naming the flag or variable and quoting the value: nothing falls
//! back to a default silently. The parser takes argv and an environment lookup as parameters so
//! tests never touch the real process environment.

use std::ffi::OsString;
use std::fmt;
use std::time::{Duration, Instant};

use lexopt::prelude::*;

use crate::exit;
use crate::logging::Format;
use crate::plan::{Plan, Probing};
use crate::quote::quoted;
use crate::target::{Family, MAX_MIN, Target, TargetError};

/// Everything a run needs, parsed and checked: the plan for the waiting core, and what only
/// main needs (logging, the command).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub plan: Plan,
    /// An env_logger filter, already checked.
    pub log_filter: String,
    pub log_format: Format,
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
    /// A short option without its value, with the whole argument the user typed.
    MissingValue {
        option: String,
        arg: String,
    },
    /// An unknown short option inside a cluster, with the whole argument the user typed.
    UnknownShort {
        option: char,
        arg: String,
    },
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
    /// A bad target in a variable (PRECHECK_TARGETS).
    EnvTarget(&'static str, TargetError),
    NoTargets,
    NoCommand,
    Conflict(&'static str, &'static str),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Lexopt(e) => write_lexopt(f, e),
            Kind::MissingValue { option, arg } if option == arg => {
                write!(f, "missing value for option {}", quoted(option))
            }
            Kind::MissingValue { option, arg } => write!(
                f,
                "missing value for option {} in {}",
                quoted(option),
                quoted(arg)
            ),
            Kind::UnknownShort { option, arg } => write!(
                f,
                "invalid option {} in {}",
                quoted(&format!("-{option}")),
                quoted(arg)
            ),
            Kind::Value { source, value, why } => {
                write!(f, "invalid value {} for {source}: {why}", quoted(value))
            }
            Kind::NotUtf8 { source, value } => write!(
                f,
                "invalid value {} for {source}: it is not valid UTF-8",
                quoted(&value.to_string_lossy())
            ),
            Kind::Target(e) => write!(f, "{e}"),
            Kind::EnvTarget(var, e) => write!(f, "{e} (in {var})"),
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
            Kind::Target(e) | Kind::EnvTarget(_, e) => Some(e),
            _ => None,
        }
    }
}

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> UsageError {
        UsageError(Kind::Lexopt(e))
    }
}

/// lexopt's errors, with every piece of user input quoted.
fn write_lexopt(f: &mut fmt::Formatter<'_>, e: &lexopt::Error) -> fmt::Result {
    use lexopt::Error::*;
    match e {
        MissingValue { option: Some(o) } => write!(f, "missing value for option {}", quoted(o)),
        MissingValue { option: None } => write!(f, "missing value"),
        UnexpectedOption(o) => write!(f, "invalid option {}", quoted(o)),
        UnexpectedArgument(a) => write!(f, "unexpected argument {}", quoted(&a.to_string_lossy())),
        UnexpectedValue { option, value } => write!(
            f,
            "option {} takes no value, got {}",
            quoted(option),
            quoted(&value.to_string_lossy())
        ),
        ParsingFailed { value, error } => {
            write!(f, "cannot parse {}: {error}", quoted(value))
        }
        NonUnicodeValue(v) => write!(f, "{} is not valid UTF-8", quoted(&v.to_string_lossy())),
        Custom(e) => write!(f, "{e}"),
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
    let (args, command) = split_command(args)?;
    let flags = match read_flags(args)? {
        Read::Flags(flags) => flags,
        Read::Help => return Ok(Action::Help),
        Read::Version => return Ok(Action::Version),
    };
    configure(flags, command, env).map(Action::Run)
}

/// Everything after the first `--` is the command, verbatim. lexopt would swallow the `--`
/// itself and hand back the rest as plain values, indistinguishable from targets.
fn split_command(mut args: Vec<OsString>) -> Result<(Vec<OsString>, Vec<OsString>), UsageError> {
    match args.iter().position(|a| a == "--") {
        Some(i) => {
            let command = args.split_off(i + 1);
            args.pop();
            if command.is_empty() {
                return Err(UsageError(Kind::NoCommand));
            }
            Ok((args, command))
        }
        None => Ok((args, Vec::new())),
    }
}

/// What the command line said, before the environment fills the gaps.
#[derive(Default)]
struct Flags {
    timeout: Option<Option<Duration>>,
    interval: Option<Duration>,
    connect_timeout: Option<Duration>,
    min_ready: Option<String>,
    any: bool,
    v4: bool,
    v6: bool,
    /// -v minus -q, when either was given.
    verbosity: Option<i32>,
    log_format: Option<Format>,
    invert: bool,
    targets: Vec<Target>,
}

enum Read {
    Flags(Flags),
    Help,
    Version,
}

fn read_flags(args: Vec<OsString>) -> Result<Read, UsageError> {
    let mut f = Flags::default();
    // Most arguments are targets: one allocation, not one per doubling.
    f.targets.reserve(args.len());
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    while let Some(arg) = parser.next().map_err(|e| lexopt_error(e, &args))? {
        match arg {
            Short('h') | Long("help") => return Ok(Read::Help),
            Short('V') | Long("version") => return Ok(Read::Version),
            Short('t') | Long("timeout") => {
                f.timeout = Some(parse_timeout(
                    "--timeout",
                    &value(&mut parser, &args, "--timeout")?,
                )?)
            }
            Short('i') | Long("interval") => {
                f.interval = Some(parse_interval(
                    "--interval",
                    &value(&mut parser, &args, "--interval")?,
                )?)
            }
            Long("connect-timeout") => {
                let v = value(&mut parser, &args, "--connect-timeout")?;
                f.connect_timeout = Some(parse_connect_timeout("--connect-timeout", &v)?)
            }
            Long("min-ready") => f.min_ready = Some(value(&mut parser, &args, "--min-ready")?),
            Long("any") => f.any = true,
            Long("invert") => f.invert = true,
            Long("log-format") => {
                let v = value(&mut parser, &args, "--log-format")?;
                f.log_format = Some(parse_log_format("--log-format", &v)?)
            }
            Short('4') => f.v4 = true,
            Short('6') => f.v6 = true,
            Short('q') | Long("quiet") => *f.verbosity.get_or_insert(0) -= 1,
            Short('v') | Long("verbose") => *f.verbosity.get_or_insert(0) += 1,
            Value(v) => f.targets.push(parse_target(v)?),
            Short(option) => {
                return Err(UsageError(Kind::UnknownShort {
                    option,
                    arg: cluster_of(option, &args),
                }));
            }
            Long(_) => return Err(lexopt_error(arg.unexpected(), &args)),
        }
    }
    if f.v4 && f.v6 {
        return Err(UsageError(Kind::Conflict("-4", "-6")));
    }
    if f.any && f.min_ready.is_some() {
        return Err(UsageError(Kind::Conflict("--any", "--min-ready")));
    }
    Ok(Read::Flags(f))
}

/// The value of the option just read, as UTF-8.
fn value(
    parser: &mut lexopt::Parser,
    args: &[OsString],
    source: &'static str,
) -> Result<String, UsageError> {
    let v = parser.value().map_err(|e| lexopt_error(e, args))?;
    utf8(source, v)
}

/// The argument a short option came from: the first `-xyz` cluster holding it. lexopt reports
/// `-e` for `-version`; the user should see what they typed.
fn cluster_of(option: char, args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .find(|a| a.starts_with('-') && !a.starts_with("--") && a[1..].contains(option))
        .map_or_else(|| format!("-{option}"), |a| a.into_owned())
}

fn lexopt_error(e: lexopt::Error, args: &[OsString]) -> UsageError {
    match e {
        // A short option missing its value at the end of a cluster (`-vt`): quote the cluster.
        lexopt::Error::MissingValue { option: Some(o) }
            if o.chars().count() == 2 && !o.starts_with("--") =>
        {
            let option = o.chars().nth(1).unwrap_or('-');
            UsageError(Kind::MissingValue {
                arg: cluster_of(option, args),
                option: o,
            })
        }
        // An unexpected short option: quote the whole cluster it came in.
        lexopt::Error::UnexpectedOption(o) if o.chars().count() == 2 && !o.starts_with("--") => {
            // count() == 2 and a leading '-', so there is a second char.
            let option = o.chars().nth(1).unwrap_or('-');
            UsageError(Kind::UnknownShort {
                option,
                arg: cluster_of(option, args),
            })
        }
        e => UsageError(Kind::Lexopt(e)),
    }
}

/// Fills what the flags left open from PRECHECK_* variables, then the defaults; checks the
/// whole.
fn configure(
    f: Flags,
    command: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Config, UsageError> {
    let mut targets = f.targets;
    if let Some(list) = env_utf8(env, "PRECHECK_TARGETS")? {
        for word in env_words(&list) {
            let target =
                (word.parse()).map_err(|e| UsageError(Kind::EnvTarget("PRECHECK_TARGETS", e)))?;
            targets.push(target);
        }
    }
    if targets.is_empty() {
        return Err(UsageError(Kind::NoTargets));
    }
    let timeout = match f.timeout {
        Some(t) => t,
        None => match env_utf8(env, "PRECHECK_TIMEOUT")? {
            Some(v) => parse_timeout("PRECHECK_TIMEOUT", &v)?,
            None => None,
        },
    };
    let interval = match f.interval {
        Some(i) => i,
        None => match env_utf8(env, "PRECHECK_INTERVAL")? {
            Some(v) => parse_interval("PRECHECK_INTERVAL", &v)?,
            None => DEFAULT_INTERVAL,
        },
    };
    let connect_timeout = match f.connect_timeout {
        Some(c) => c,
        None => match env_utf8(env, "PRECHECK_CONNECT_TIMEOUT")? {
            Some(v) => parse_connect_timeout("PRECHECK_CONNECT_TIMEOUT", &v)?,
            None => DEFAULT_CONNECT_TIMEOUT,
        },
    };
    let min_ready = match (f.any, f.min_ready) {
        (true, _) => 1,
        (false, Some(v)) => parse_min_ready("--min-ready", &v, targets.len())?,
        (false, None) => match env_utf8(env, "PRECHECK_MIN_READY")? {
            Some(v) => parse_min_ready("PRECHECK_MIN_READY", &v, targets.len())?,
            None => targets.len(),
        },
    };
    let log_filter = match f.verbosity {
        Some(verbosity) => {
            const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
            // info is index 3; the clamp keeps the index inside LEVELS.
            LEVELS[(3 + verbosity).clamp(0, 5) as usize].to_string()
        }
        None => match env_utf8(env, "PRECHECK_LOG")? {
            Some(v) => parse_log_filter(&v)?,
            None => "info".to_string(),
        },
    };
    let log_format = match f.log_format {
        Some(format) => format,
        None => match env_utf8(env, "PRECHECK_LOG_FORMAT")? {
            Some(v) => parse_log_format("PRECHECK_LOG_FORMAT", &v)?,
            None => Format::Text,
        },
    };
    let family = match (f.v4, f.v6) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Both,
    };
    for target in &targets {
        check_family(target, family)?;
    }
    let probing = Probing {
        interval,
        connect_timeout,
        family,
        invert: f.invert,
    };
    Ok(Config {
        plan: Plan {
            targets,
            min_ready,
            timeout,
            probing,
        },
        log_filter,
        log_format,
        command,
    })
}

/// The targets in PRECHECK_TARGETS: separated by white space or commas, except that after a
/// '#' a comma belongs to the status list (`http://es:9200/#status=200,204`).
pub fn env_words(list: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let (mut start, mut after_hash) = (0, false);
    for (i, c) in list.char_indices() {
        after_hash |= c == '#';
        if c.is_whitespace() || (c == ',' && !after_hash) {
            if i > start {
                words.push(&list[start..i]);
            }
            start = i + c.len_utf8();
            after_hash &= !c.is_whitespace();
        }
    }
    if start < list.len() {
        words.push(&list[start..]);
    }
    words
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

/// The most seconds any DURATION may hold: far beyond any deadline, and far enough from
/// `u64::MAX` that humantime's arithmetic (which panics on one overflow) is never near it.
const MAX_SECS: u128 = 1 << 62;

fn duration(source: &'static str, value: &str) -> Result<Duration, UsageError> {
    let too_large = || {
        bad(
            source,
            value,
            "it is too large: the clock cannot represent a time that far away",
        )
    };
    // An upper bound of the sum humantime computes: every run of digits read as a number of
    // years (its largest unit). Checked before humantime sees the text. A fraction's digits
    // count as a whole number too, so a fraction of a dozen digits is refused: no loss.
    let bound = value
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| !run.is_empty())
        .map(|run| run.parse::<u128>().unwrap_or(u128::MAX))
        .fold(0u128, |sum, n| {
            sum.saturating_add(n.saturating_mul(31_557_600))
        });
    if bound > MAX_SECS {
        return Err(too_large());
    }
    let d = humantime::parse_duration(value.trim()).map_err(|e| {
        bad(
            source,
            value,
            format!("{e}; expected a duration such as 500ms, 30s, 5m or '1h 30m'"),
        )
    })?;
    if Instant::now().checked_add(d).is_none() {
        return Err(too_large());
    }
    Ok(d)
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

fn parse_log_format(source: &'static str, value: &str) -> Result<Format, UsageError> {
    match value.trim() {
        "text" => Ok(Format::Text),
        "json" => Ok(Format::Json),
        _ => Err(bad(source, value, "expected text or json")),
    }
}

fn parse_log_filter(value: &str) -> Result<String, UsageError> {
    env_filter::Builder::new()
        .try_parse(value)
        .map_err(|e| bad("PRECHECK_LOG", value, crate::quote::escaped(&e.to_string())))?;
    Ok(value.to_string())
}

/// An IP literal of the other family can never be ready under -4 or -6.
fn check_family(target: &Target, family: Family) -> Result<(), UsageError> {
    use crate::target::Host;
    let (flag, wrong) = match (family, target.host()) {
        (Family::V4, Some(Host::Ip(ip))) if ip.is_ipv6() => ("-4", "an IPv6"),
        (Family::V6, Some(Host::Ip(ip))) if ip.is_ipv4() => ("-6", "an IPv4"),
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
Wait until the services a process depends on resolve in DNS, accept TCP
connections or answer HTTP, then exit 0 or exec COMMAND. Made for Kubernetes
initContainers: a headless service's DNS name for a pod exists only while the
pod is ready.

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
  http://HOST[:PORT][/PATH[?QUERY]]
                            ready when a GET answers 200-399 (redirects are not
                            followed); only status and headers are read, within
                            the connect timeout again
  http://...#status=CODES   other success statuses: 200, 200-299, 200,204
                            (the # part is not sent). https:// is refused: no
                            TLS; check tcp://HOST:443 or a plain-HTTP port
  file:///ABS/PATH          ready when the path exists (symlinks followed)
  unix:///ABS/PATH          ready when a stream socket there accepts
  A bare IP address (10.0.0.5, ::1, ::1:5432) is refused: it checks nothing.
  Write a port check as IPV4:PORT or [IPV6]:PORT. Quote targets with ?, # or &
  in shells.

OPTIONS:                                    (environment variable; default)
  -t, --timeout DURATION      one deadline for everything; 0 means none
                              (PRECHECK_TIMEOUT; none: wait forever)
  -i, --interval DURATION     pause between attempts of one target, >= 10ms
                              (PRECHECK_INTERVAL; 1s)
      --connect-timeout DURATION
                              bound on one TCP or unix connect attempt, and
                              on an HTTP answer (PRECHECK_CONNECT_TIMEOUT; 1s)
      --min-ready N           succeed once N targets are ready, 1 to the number
                              of targets (PRECHECK_MIN_READY; all targets)
      --any                   same as --min-ready 1
      --invert                wait until targets are gone instead: a name that
                              does not resolve (NXDOMAIN, NODATA), a refused
                              connection, an HTTP status outside the set, a
                              missing file or socket; a DNS failure or a
                              timeout is no proof and never counts
  -4, -6                      only IPv4 / only IPv6 addresses count (both)
  -q, -v                      quieter / more detail, repeatable; they win over
                              PRECHECK_LOG, an env_logger filter (info)
      --log-format FORMAT     text, or json: one JSON object per line with ts,
                              elapsed, level, event, target, reason, addresses,
                              canonical and msg (PRECHECK_LOG_FORMAT; text)
  -h, --help                  print this help
  -V, --version               print the version

  PRECHECK_TARGETS            more targets, separated by commas or white space
                              (after a #, commas belong to the status list)
  NO_COLOR                    when set, never colour the log (colour is used
                              only when stderr is a terminal)
  A flag wins over its variable. DURATION: 500ms, 30s, 5m, '1h 30m'; one too
  large for the clock is refused.

Each waiting target costs one thread: about 30 KB of memory for TCP, 45 KB
for DNS, so 16 MiB holds about 450 TCP or 300 DNS targets (see README). A TCP
target on an IP literal that is up at the first look costs none.

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
        assert_eq!(c.plan.targets.len(), 1);
        assert_eq!(c.plan.timeout, None);
        assert_eq!(c.plan.probing.interval, Duration::from_secs(1));
        assert_eq!(c.plan.probing.connect_timeout, Duration::from_secs(1));
        assert_eq!(c.plan.min_ready, 1);
        assert_eq!(c.plan.probing.family, Family::Both);
        assert_eq!(c.log_filter, "info");
        assert_eq!(c.log_format, Format::Text);
        assert!(c.command.is_empty());
        assert_eq!(config(&["a", "b:1", "c"], &[]).plan.min_ready, 3);
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
        assert_eq!(c.plan.timeout, Some(Duration::from_secs(5400)));
        assert_eq!(c.plan.probing.interval, Duration::from_millis(250));
        assert_eq!(c.plan.probing.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.plan.min_ready, 2);
        assert_eq!(c.plan.probing.family, Family::V4);
        assert_eq!(c.log_filter, "trace");
        assert_eq!(config(&["--any", "a", "b"], &[]).plan.min_ready, 1);
        assert!(config(&["--invert", "a"], &[]).plan.probing.invert);
        assert!(!config(&["a"], &[]).plan.probing.invert);
        assert_eq!(config(&["-6", "a"], &[]).plan.probing.family, Family::V6);
        assert_eq!(config(&["-q", "a"], &[]).log_filter, "warn");
        assert_eq!(config(&["-qqqqq", "a"], &[]).log_filter, "off");
        assert_eq!(config(&["-qv", "a"], &[]).log_filter, "info");
        assert_eq!(config(&["-t", "0", "a"], &[]).plan.timeout, None);
        let json = config(&["--log-format", "json", "a"], &[]).log_format;
        assert_eq!(json, Format::Json);
        let env = [("PRECHECK_LOG_FORMAT", "json")];
        assert_eq!(config(&["a"], &env).log_format, Format::Json);
        let flag_wins = config(&["--log-format=text", "a"], &env).log_format;
        assert_eq!(flag_wins, Format::Text);
    }

    #[test]
    fn precheck_targets_words() {
        assert_eq!(env_words("b:1, c\n d,,"), ["b:1", "c", "d"]);
        assert_eq!(
            env_words("db:5432,http://es:9200/#status=200,204 file:///x,y"),
            [
                "db:5432",
                "http://es:9200/#status=200,204",
                "file:///x",
                "y"
            ]
        );
        let c = config(&[], &[("PRECHECK_TARGETS", "a,http://x/#status=200,204")]);
        assert_eq!(c.plan.targets[1].spelling, "http://x/#status=200,204");
        assert_eq!(env_words(" , "), [] as [&str; 0]);
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
        let names: Vec<_> = c.plan.targets.iter().map(|t| t.spelling.as_str()).collect();
        assert_eq!(names, ["a", "b:1", "c", "d"]);
        assert_eq!(c.plan.timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.plan.probing.interval, Duration::from_millis(100));
        assert_eq!(c.plan.probing.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.plan.min_ready, 1);
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
        assert_eq!(c.plan.timeout, Some(Duration::from_secs(1)));
        assert_eq!(c.plan.probing.interval, Duration::from_secs(1));
        assert_eq!(c.plan.probing.connect_timeout, Duration::from_secs(1));
        assert_eq!(c.plan.min_ready, 4);
        assert_eq!(c.log_filter, "warn");
        // Targets from the environment alone are enough.
        assert_eq!(
            config(&[], &[("PRECHECK_TARGETS", "x")]).plan.targets.len(),
            1
        );
        assert_eq!(
            config(&["a"], &[("PRECHECK_TIMEOUT", "0")]).plan.timeout,
            None
        );
        // A flag wins even when its variable is bad.
        assert_eq!(
            config(&["-t", "2s", "a"], &[("PRECHECK_TIMEOUT", "soon")])
                .plan
                .timeout,
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            config(&["--any", "a"], &[("PRECHECK_MIN_READY", "9")])
                .plan
                .min_ready,
            1
        );
    }

    #[test]
    fn command_after_double_dash() {
        let c = config(&["db:5432", "--", "./server", "", "a b", "--", "-t"], &[]);
        assert_eq!(c.plan.targets.len(), 1);
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
            "--invert",
            "PRECHECK_LOG",
            "--log-format",
            "PRECHECK_LOG_FORMAT",
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
                "invalid target 'bad:port': port 'port' is not a number from 1 to 65535 (in PRECHECK_TARGETS)",
            ),
            (&["db:0"], &[], "invalid target 'db:0'"),
            (
                &["--any", "--min-ready", "1", "a"],
                &[],
                "--any and --min-ready cannot be used together",
            ),
            (&["-4", "-6", "a"], &[], "-4 and -6 cannot be used together"),
            (
                &["-4", "[::1]:80"],
                &[],
                "invalid value '[::1]:80' for a target: it is an IPv6 address, which -4 excludes",
            ),
            (&["-version"], &[], "invalid option '-e' in '-version'"),
            (&["-4v-4v", "a"], &[], "invalid option '--' in '-4v-4v'"),
            (
                &["--frob\u{1b}[2J", "a"],
                &[],
                "invalid option '--frob\\u{1b}[2J'",
            ),
            (
                &["a"],
                &[("PRECHECK_TARGETS", "ok x\u{202e}y")],
                "invalid target 'x\\u{202e}y': '\\u{202e}' is not allowed in a host name (letters, digits, '-', '_' and '.' are) (in PRECHECK_TARGETS)",
            ),
            (
                &["-t", "18446744073709551615s 1000000000ns", "a"],
                &[],
                "invalid value '18446744073709551615s 1000000000ns' for --timeout: it is too large",
            ),
            (
                &["-t", "18446744073709551615s", "a"],
                &[],
                "for --timeout: it is too large",
            ),
            (
                &["a"],
                &[("PRECHECK_INTERVAL", "500000000000y")],
                "invalid value '500000000000y' for PRECHECK_INTERVAL: it is too large",
            ),
            (
                &["--connect-timeout", "9999999999999999999999s", "a"],
                &[],
                "for --connect-timeout: it is too large",
            ),
            (
                &["-t", "1h\u{1b}", "a"],
                &[],
                "invalid value '1h\\u{1b}' for --timeout",
            ),
            (
                &["-6", "127.0.0.1:80"],
                &[],
                "it is an IPv4 address, which -6 excludes",
            ),
            (&["--frobnicate", "a"], &[], "--frobnicate"),
            (
                &["--log-format", "yaml", "a"],
                &[],
                "invalid value 'yaml' for --log-format: expected text or json",
            ),
            (
                &["a"],
                &[("PRECHECK_LOG_FORMAT", "JSON ")],
                "invalid value 'JSON ' for PRECHECK_LOG_FORMAT",
            ),
            (&["-x", "a"], &[], "-x"),
            (&["-t"], &[], "missing value for option '-t'"),
            (&["a", "-vt"], &[], "missing value for option '-t' in '-vt'"),
        ];
        for (args, env, want) in cases {
            let got = usage(args, env);
            assert!(
                got.contains(want),
                "{args:?} {env:?}: {got:?} lacks {want:?}"
            );
            assert!(
                !got.chars().any(crate::quote::needs_escape),
                "{args:?} {env:?}: {got:?} holds a raw control character"
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
