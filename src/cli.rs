//! Options, environment variables and `--help`: turns argv and the environment into a `Config`.
//!
//! Every option can come from a PRECHECK_* variable; a flag wins over its variable. A bad value
//! in either is a usage error naming the flag or variable and quoting the value: nothing falls
//! back to a default silently. The parser takes argv and an environment lookup as parameters so
//! tests never touch the real process environment.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::{Duration, Instant};

use lexopt::prelude::*;
use log::LevelFilter;

use crate::exec;
use crate::exit;
use crate::logging::Format;
use crate::plan::{Plan, Probing};
use crate::quote::quoted;
use crate::target::{Family, Host, Kind as TargetKind, MAX_MIN, Target, TargetError};

/// Everything a run needs, parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub plan: Plan,
    /// The most detailed level logged (PRECHECK_LOG, -q, -v).
    pub log_level: LevelFilter,
    pub log_format: Format,
    /// The command to exec after success, byte-exact; empty for none.
    pub command: Vec<OsString>,
    /// Lines for the log at start (level warn): what is valid but probably not meant.
    pub warnings: Vec<String>,
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
    /// `--help` or `--version` (as typed) with other arguments; whether a target came first.
    NotAlone(String, bool),
    /// wait-for-it's `-h HOST` and `-p PORT`: the options as typed, quoted; the target.
    WaitForIt(String, String),
    /// A long option with one dash (`-timeout`), and the long option.
    OneDash(String, &'static str),
    /// An unknown option after a target: the command's, short of a `--`.
    AfterTargets(Box<UsageError>),
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
            Kind::NotAlone(option, after_target) => {
                write!(
                    f,
                    "{} is accepted only alone: with other arguments nothing would be \
                     checked, yet the exit status would be 0",
                    quoted(option)
                )?;
                if *after_target {
                    write!(f, "; if it is the command's, put '--' before the command")?;
                }
                Ok(())
            }
            Kind::WaitForIt(typed, form) => write!(
                f,
                "{typed}: wait-for-it's host and port options are not taken here; a target is \
                 one argument, HOST:PORT: write {}",
                quoted(form)
            ),
            Kind::OneDash(typed, long) => write!(
                f,
                "invalid option {}: a long option takes two dashes, write '--{long}'",
                quoted(typed)
            ),
            Kind::AfterTargets(inner) => write!(
                f,
                "{}: did you forget '--' before the command? \
                 (service-precheck [OPTIONS] TARGET... -- COMMAND [ARG...])",
                inner
            ),
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
    // --help and --version only alone: `service-precheck -h db && ./migrate` must not go on.
    if let [only] = args.as_slice() {
        if only == "-h" || only == "--help" {
            return Ok(Action::Help);
        }
        if only == "-V" || only == "--version" {
            return Ok(Action::Version);
        }
    }
    let (args, command) = split_command(args)?;
    wait_for_it(&args)?;
    one_dash(&args)?;
    let flags = read_flags(args)?;
    configure(flags, command, env).map(Action::Run)
}

/// wait-for-it's `-h HOST` / `--host HOST` and `-p PORT` / `--port PORT`: refused with the
/// target to write, before `-h` could read as --help.
fn wait_for_it(args: &[OsString]) -> Result<(), UsageError> {
    let (mut host, mut port) = (None, None);
    for pair in args.windows(2) {
        let (Some(option), Some(value)) = (pair[0].to_str(), pair[1].to_str()) else {
            continue;
        };
        match option {
            // `-h db:5432` is a target after -h, not wait-for-it's host.
            "-h" | "--host" if !value.contains(':') && !value.starts_with('-') => {
                host = Some((option, value))
            }
            "-p" | "--port" => port = Some((option, value)),
            _ => {}
        }
    }
    let (typed, form) = match (host, port) {
        (None, None) => return Ok(()),
        (Some((h, host)), Some((p, port))) => (
            format!("{} and {}", quoted(h), quoted(p)),
            format!("{host}:{port}"),
        ),
        (Some((h, host)), None) => (quoted(h).to_string(), format!("{host}:PORT")),
        (None, Some((p, port))) => (quoted(p).to_string(), format!("HOST:{port}")),
    };
    Err(UsageError(Kind::WaitForIt(typed, form)))
}

/// Every long option, for `-timeout`, which lexopt would read as `-t imeout`.
const LONG: [&str; 12] = [
    "timeout",
    "interval",
    "connect-timeout",
    "min-ready",
    "any",
    "invert",
    "log-format",
    "termination-log",
    "quiet",
    "verbose",
    "help",
    "version",
];

/// A long option written with one dash (`-timeout`, `-version=1`).
fn one_dash(args: &[OsString]) -> Result<(), UsageError> {
    for arg in args.iter().filter_map(|a| a.to_str()) {
        let Some(body) = arg.strip_prefix('-') else {
            continue;
        };
        let name = body.split('=').next().unwrap_or(body);
        if let Some(long) = LONG.iter().find(|l| **l == name) {
            return Err(UsageError(Kind::OneDash(arg.to_string(), long)));
        }
    }
    Ok(())
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

// Not inlined: the binary is smaller so (measured against the size budget).

#[inline(never)]
fn read_flags(args: Vec<OsString>) -> Result<Flags, UsageError> {
    let mut f = Flags::default();
    // Most arguments are targets: one allocation, not one per doubling.
    f.targets.reserve(args.len());
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    while let Some(arg) = parser.next().map_err(|e| lexopt_error(e, &args))? {
        match arg {
            // Alone they were taken before; here they come with other arguments.
            Short(c @ ('h' | 'V')) => {
                let typed = cluster_of(c, &args);
                return Err(UsageError(Kind::NotAlone(typed, !f.targets.is_empty())));
            }
            Long(long @ ("help" | "version")) => {
                let option = format!("--{long}");
                // `--version=1`: lexopt's "takes no value" says it better.
                if let Some(value) = parser.optional_value() {
                    let e = lexopt::Error::UnexpectedValue { option, value };
                    return Err(UsageError(Kind::Lexopt(e)));
                }
                return Err(UsageError(Kind::NotAlone(option, !f.targets.is_empty())));
            }
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
            Long("min-ready") => {
                let v = value(&mut parser, &args, "--min-ready")?;
                // A number is checked now: `--min-ready localhost` is about the value, not
                // about the targets it leaves out.
                count("--min-ready", &v)?;
                f.min_ready = Some(v)
            }
            Long("any") => f.any = true,
            Long("invert") => f.invert = true,
            Long("log-format") => {
                let v = value(&mut parser, &args, "--log-format")?;
                f.log_format = Some(parse_log_format("--log-format", &v)?)
            }
            // Read before the parse, by `termination_log`: a usage error is written there too.
            Long("termination-log") => drop(parser.value()?),
            Short('4') => f.v4 = true,
            Short('6') => f.v6 = true,
            Short('q') | Long("quiet") => *f.verbosity.get_or_insert(0) -= 1,
            Short('v') | Long("verbose") => *f.verbosity.get_or_insert(0) += 1,
            Value(v) => f.targets.push(parse_target(v)?),
            Short(option) => {
                let e = UsageError(Kind::UnknownShort {
                    option,
                    arg: cluster_of(option, &args),
                });
                return Err(after_targets(e, &f.targets));
            }
            Long(_) => {
                return Err(after_targets(
                    lexopt_error(arg.unexpected(), &args),
                    &f.targets,
                ));
            }
        }
    }
    if f.v4 && f.v6 {
        return Err(UsageError(Kind::Conflict("-4", "-6")));
    }
    if f.any && f.min_ready.is_some() {
        return Err(UsageError(Kind::Conflict("--any", "--min-ready")));
    }
    Ok(f)
}

/// An unknown option after a target is most likely the command's, short of a `--`.
fn after_targets(e: UsageError, targets: &[Target]) -> UsageError {
    match targets.is_empty() {
        true => e,
        false => UsageError(Kind::AfterTargets(Box::new(e))),
    }
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
/// whole. Every variable that is set is checked, also where its flag wins: a bad value is an
/// error wherever it is, not only where it happens to be used.
// Not inlined: the binary is smaller so (measured against the size budget).
#[inline(never)]
fn configure(
    f: Flags,
    command: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Config, UsageError> {
    let warnings = match command.is_empty() {
        true => command_warning(&f.targets, env).into_iter().collect(),
        false => Vec::new(),
    };
    let mut targets = f.targets;
    if let Some(list) = env_utf8(env, "PRECHECK_TARGETS")? {
        let words = env_words(&list);
        if words.is_empty() && targets.is_empty() {
            let why = "it holds no target, and no target was given as an argument";
            return Err(bad("PRECHECK_TARGETS", &list, why));
        }
        for word in words {
            let target =
                (word.parse()).map_err(|e| UsageError(Kind::EnvTarget("PRECHECK_TARGETS", e)))?;
            targets.push(target);
        }
    }
    if targets.is_empty() {
        return Err(UsageError(Kind::NoTargets));
    }
    let var = |name| env_utf8(env, name);
    let timeout = var("PRECHECK_TIMEOUT")?
        .map(|v| parse_timeout("PRECHECK_TIMEOUT", &v))
        .transpose()?;
    let interval = var("PRECHECK_INTERVAL")?
        .map(|v| parse_interval("PRECHECK_INTERVAL", &v))
        .transpose()?;
    let connect_timeout = var("PRECHECK_CONNECT_TIMEOUT")?
        .map(|v| parse_connect_timeout("PRECHECK_CONNECT_TIMEOUT", &v))
        .transpose()?;
    let env_min_ready = var("PRECHECK_MIN_READY")?;
    if let Some(v) = &env_min_ready {
        count("PRECHECK_MIN_READY", v)?;
    }
    let log_filter = var("PRECHECK_LOG")?
        .map(|v| parse_log_filter(&v))
        .transpose()?;
    let log_format = var("PRECHECK_LOG_FORMAT")?
        .map(|v| parse_log_format("PRECHECK_LOG_FORMAT", &v))
        .transpose()?;

    let min_ready = match (f.any, f.min_ready, env_min_ready) {
        (true, _, _) => 1,
        (false, Some(v), _) => parse_min_ready("--min-ready", &v, targets.len())?,
        (false, None, Some(v)) => parse_min_ready("PRECHECK_MIN_READY", &v, targets.len())?,
        (false, None, None) => targets.len(),
    };
    let log_level = match f.verbosity {
        // info is index 3; the clamp keeps the index inside LEVELS.
        Some(verbosity) => LEVELS[(3 + verbosity).clamp(0, 5) as usize],
        None => log_filter.unwrap_or(LevelFilter::Info),
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
        interval: f.interval.or(interval).unwrap_or(DEFAULT_INTERVAL),
        connect_timeout: (f.connect_timeout.or(connect_timeout)).unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        family,
        invert: f.invert,
    };
    Ok(Config {
        plan: Plan {
            targets,
            min_ready,
            timeout: f.timeout.or(timeout).flatten(),
            probing,
        },
        log_level,
        log_format: f.log_format.or(log_format).unwrap_or(Format::Text),
        command,
        warnings,
    })
}

/// Where the termination message goes: `--termination-log PATH` (or `=PATH`; the last one
/// wins, as in the parse), else PRECHECK_TERMINATION_LOG; `None`: the default. Read from argv
/// before the parse, so that a usage error anywhere is written there too.
pub fn termination_log(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Option<OsString> {
    let mut found = None;
    let mut args = args.iter().take_while(|a| *a != "--");
    while let Some(arg) = args.next() {
        if arg == "--termination-log" {
            found = args.next().cloned();
        } else if let Some(path) = arg.as_bytes().strip_prefix(b"--termination-log=") {
            found = Some(OsString::from_vec(path.to_vec()));
        }
    }
    found.or_else(|| env("PRECHECK_TERMINATION_LOG"))
}

/// A forgotten `--` turns a command into targets: `... db.shop npm start` waits for the names
/// `npm` and `start`. Such names stay valid (`mysql` is a fine service name), but the first
/// bare one-label name that is also a command on PATH gets a warning.
fn command_warning(targets: &[Target], env: &dyn Fn(&str) -> Option<OsString>) -> Option<String> {
    let path = env("PATH");
    targets.iter().find_map(|t| {
        let name = match &t.kind {
            TargetKind::Dns {
                host: Host::Name(name),
                ..
            } if *name == t.spelling && !name.contains('.') => name,
            _ => return None,
        };
        let file = exec::find_in(name.as_ref(), path.as_deref()).ok()?;
        Some(format!(
            "{} is waited for as a DNS name, and it is also a command ({}): to run it \
             after the wait, put '--' before it",
            quoted(name),
            quoted(&file.to_string_lossy())
        ))
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

/// The most seconds any DURATION may hold: far beyond any deadline, and far below `u64::MAX`
/// where the parser's arithmetic overflows.
const MAX_SECS: u128 = 1 << 62;

/// What a duration looks like, for the messages.
const DURATION_EXAMPLE: &str =
    "a number and a unit (ns, us, ms, s, m, h, d), such as 15s, 500ms, 5m or '1h 30m'";

fn duration(source: &'static str, value: &str) -> Result<Duration, UsageError> {
    let too_large = || {
        bad(
            source,
            value,
            "it is too large: the clock cannot represent a time that far away",
        )
    };
    let text = value.trim();
    if text.is_empty() {
        return Err(bad(
            source,
            value,
            format!("it is empty; expected {DURATION_EXAMPLE}"),
        ));
    }
    // A bare number: `0` is zero in any unit; any other needs its unit said (wait-for-it's
    // `-t 15` means seconds, `sleep 0.5` too: guessing would be wrong somewhere).
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        if text.bytes().all(|b| b == b'0' || b == b'.') && text.starts_with('0') {
            return Ok(Duration::ZERO);
        }
        let why = format!(
            "a number needs a unit: write {} for seconds, or use ms, m or h",
            quoted(&format!("{text}s"))
        );
        return Err(bad(source, value, why));
    }
    // An upper bound of the sum the parser computes: every run of digits read as a number of
    // years (its largest unit). Checked before the parser sees the text, so that a huge value
    // is called too large rather than malformed. A fraction's digits count as a whole number
    // too, so a fraction of a dozen digits is refused: no loss.
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
    // The parser's errors speak of byte offsets; ours of the value as a whole.
    let d = crate::duration::parse(text)
        .map_err(|_| bad(source, value, format!("expected {DURATION_EXAMPLE}")))?;
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

/// A count of targets, before the targets are known: a whole number from 1.
fn count(source: &'static str, value: &str) -> Result<usize, UsageError> {
    match value.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad(
            source,
            value,
            "expected a whole number from 1 to the number of targets",
        )),
    }
}

fn parse_min_ready(source: &'static str, value: &str, targets: usize) -> Result<usize, UsageError> {
    match count(source, value)? {
        n if n <= targets => Ok(n),
        _ => Err(bad(
            source,
            value,
            format!("expected a whole number from 1 to {targets} (the number of targets)"),
        )),
    }
}

fn parse_log_format(source: &'static str, value: &str) -> Result<Format, UsageError> {
    match value.trim() {
        "text" => Ok(Format::Text),
        "json" => Ok(Format::Json),
        _ => Err(bad(source, value, "expected text or json")),
    }
}

/// The log target of every line: `logging::emit` checks the filter with logging's module path.
const LOG_TARGET: &str = "service_precheck::logging";

const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The levels of `LOG_LEVELS`, in the same order.
const LEVELS: [LevelFilter; 6] = [
    LevelFilter::Off,
    LevelFilter::Error,
    LevelFilter::Warn,
    LevelFilter::Info,
    LevelFilter::Debug,
    LevelFilter::Trace,
];

/// PRECHECK_LOG, in env_logger's syntax: a level, or directives that apply to our lines,
/// comma-separated; the level they give our lines. env_logger itself takes any word as a
/// module name (`verbose`, `1`) and then shows nothing, not even the final error; a `/` message
/// filter could hide it too. So only what selects our lines is accepted: `LEVEL`, or
/// `NAME=LEVEL` where NAME is `service_precheck` or `service_precheck::logging` (env_logger
/// matches a target by prefix).
fn parse_log_filter(value: &str) -> Result<LevelFilter, UsageError> {
    let level = |l: &str| {
        let i = LOG_LEVELS
            .iter()
            .position(|k| k.eq_ignore_ascii_case(l.trim()));
        i.map(|i| LEVELS[i])
    };
    let ours = |name: &str| {
        LOG_TARGET == name
            || (LOG_TARGET.strip_prefix(name)).is_some_and(|rest| rest.starts_with("::"))
    };
    let why = |what: String| {
        let accepted = "expected a level (off, error, warn, info, debug, trace) or \
                        service_precheck=LEVEL, several separated by ','";
        bad("PRECHECK_LOG", value, format!("{what}; {accepted}"))
    };
    // As env_logger applies them: the directive with the longest name wins, a later one over
    // an earlier one of the same name; a bare level has the shortest name.
    let mut chosen: Option<(usize, LevelFilter)> = None;
    for d in (value.split(',').map(str::trim)).filter(|d| !d.is_empty()) {
        let (name, found) = match d.split_once('=') {
            None => ("", level(d)),
            Some((name, l)) if ours(name.trim()) => (name.trim(), level(l)),
            Some((name, _)) => {
                return Err(why(format!(
                    "{} selects none of this program's lines (their target is {LOG_TARGET})",
                    quoted(name.trim())
                )));
            }
        };
        let Some(found) = found else {
            return Err(why(format!("{} is not a level", quoted(d))));
        };
        if chosen.is_none_or(|(len, _)| name.len() >= len) {
            chosen = Some((name.len(), found));
        }
    }
    chosen
        .map(|(_, level)| level)
        .ok_or_else(|| why("it is empty".to_string()))
}

/// An IP literal of the other family can never be ready under -4 or -6.
fn check_family(target: &Target, family: Family) -> Result<(), UsageError> {
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
connections, answer HTTP or say they serve, then exit 0 or exec COMMAND. Made
for Kubernetes initContainers: a headless service's DNS name for a pod exists
only while the pod is ready.

USAGE:
  service-precheck [OPTIONS] TARGET... [-- COMMAND [ARG...]]
  COMMAND is looked up on PATH before the wait (exit 127 or 126 at once).

TARGETS:
  NAME, dns://NAME          ready when NAME resolves (via /etc/hosts, the
                            resolv.conf search list and ndots, as for any
                            program)
  HOST:PORT, tcp://HOST:PORT, [IPV6]:PORT
                            ready when a TCP connection to PORT succeeds on an
                            address of HOST
  ...?min=N                 at least N distinct addresses resolve (DNS), accept
                            (TCP) or answer ready (protocols); 1 to {max_min}
  http://HOST[:PORT][/PATH[?QUERY]]
                            ready when a GET answers 200-399 (redirects are not
                            followed); only status and headers are read, within
                            the connect timeout again
  http://...#status=CODES   other success statuses: 200, 200-299, 200,204
                            (the # part is not sent). https:// is refused: no
                            TLS; check tcp://HOST:443 or a plain-HTTP port
  file:///ABS/PATH          ready when the path exists (symlinks followed)
  unix:///ABS/PATH          ready when a stream socket there accepts
  postgres://[USER@]HOST[:PORT][/DB]   mysql://[USER@]HOST[:PORT]
  redis://HOST[:PORT]   zk://HOST[:PORT]   grpc://HOST:PORT[/SERVICE]
                            ready when the server says it serves: PostgreSQL
                            as pg_isready (57P03 is not), MySQL logs in or
                            denies access (1040, 1129 are not), Redis PONG or
                            NOAUTH, ZooKeeper srvr Mode, gRPC health SERVING
                            (h2c; grpcs:// is refused)
  A bare IP address (10.0.0.5, ::1, ::1:5432) is refused: it checks nothing.
  Write a port check as IPV4:PORT or [IPV6]:PORT. Quote targets with ?, # or &
  in shells. One target per argument; no user:password@ in a target.

OPTIONS:                                    (environment variable; default)
  -t, --timeout DURATION      one deadline for everything; 0 means none
                              (PRECHECK_TIMEOUT; none: wait forever)
  -i, --interval DURATION     pause between attempts of one target, >= 10ms
                              (PRECHECK_INTERVAL; 1s)
      --connect-timeout DURATION
                              bound on one TCP or unix connect attempt, and
                              on an answer (PRECHECK_CONNECT_TIMEOUT; 1s)
      --min-ready N           succeed once N targets are ready, 1 to the number
                              of targets (PRECHECK_MIN_READY; all targets)
      --any                   same as --min-ready 1
      --invert                wait until targets are gone instead: a name that
                              does not resolve (NXDOMAIN, NODATA), a refused
                              connection, an HTTP status outside the set, a
                              missing file or socket; a DNS failure, a
                              timeout or a server not ready never counts
  -4, -6                      only IPv4 / only IPv6 addresses count (both)
  -q, -v                      quieter / more detail, repeatable; they win over
                              PRECHECK_LOG: a level (off, error, warn, info,
                              debug, trace) or service_precheck=LEVEL (info)
      --log-format FORMAT     text, or json: one JSON object per line with ts,
                              elapsed, level, event, target, reason, addresses,
                              canonical and msg (PRECHECK_LOG_FORMAT; text)
      --termination-log PATH  on failure, write a summary there for Kubernetes
                              (PRECHECK_TERMINATION_LOG; /dev/termination-log
                              if it exists; an empty PATH writes none)
  -h, --help                  print this help; only alone, else a usage error
  -V, --version               print the version; only alone

  PRECHECK_TARGETS            more targets, separated by commas or white space
                              (after a #, commas belong to the status list)
  NO_COLOR                    when set, never colour the log (colour is used
                              only when stderr is a terminal)
  A flag wins over its variable; a bad value in either is a usage error.
  DURATION: a number and a unit: 500ms, 30s, 5m, '1h 30m' (a bare number other
  than 0 is refused); one too large for the clock is refused.

Each waiting target costs one thread: about 30 KB of memory for TCP, 45 KB
for DNS, so 16 MiB holds about 450 TCP or 300 DNS targets (see README). A TCP
target on an IP literal that is up at the first look costs none. When the
memory cgroup's limit cannot hold the threads, the run ends at once (exit 3).

EXIT CODES:
{table}
Logs go to stderr, one line per event with the target first.
",
        version = env!("CARGO_PKG_VERSION"),
        max_min = MAX_MIN,
        table = exit_codes(),
    )
}

/// The exit-code table of `exit`, each meaning wrapped to fit 80 columns under its code.
fn exit_codes() -> String {
    const INDENT: &str = "         ";
    let mut out = String::new();
    for (code, meaning) in exit::TABLE {
        let mut line = format!("  {code:<7}{meaning}");
        // Break at the last space that keeps the line within 79 columns.
        while line.len() > 79 {
            let at = line[..80].rfind(' ').unwrap_or(79);
            out.push_str(&line[..at]);
            out.push('\n');
            line = format!("{INDENT}{}", line[at..].trim_start());
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
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
        assert_eq!(c.log_level, LevelFilter::Info);
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
        assert_eq!(c.log_level, LevelFilter::Trace);
        assert_eq!(config(&["--any", "a", "b"], &[]).plan.min_ready, 1);
        assert!(config(&["--invert", "a"], &[]).plan.probing.invert);
        assert!(!config(&["a"], &[]).plan.probing.invert);
        assert_eq!(config(&["-6", "a"], &[]).plan.probing.family, Family::V6);
        assert_eq!(config(&["-q", "a"], &[]).log_level, LevelFilter::Warn);
        assert_eq!(config(&["-qqqqq", "a"], &[]).log_level, LevelFilter::Off);
        assert_eq!(config(&["-qv", "a"], &[]).log_level, LevelFilter::Info);
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
        assert_eq!(c.log_level, LevelFilter::Debug);

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
        assert_eq!(c.log_level, LevelFilter::Warn);
        // Targets from the environment alone are enough.
        assert_eq!(
            config(&[], &[("PRECHECK_TARGETS", "x")]).plan.targets.len(),
            1
        );
        assert_eq!(
            config(&["a"], &[("PRECHECK_TIMEOUT", "0")]).plan.timeout,
            None
        );
        // A flag wins, but its variable must be good all the same.
        assert!(
            usage(&["-t", "2s", "a"], &[("PRECHECK_TIMEOUT", "soon")])
                .contains("invalid value 'soon' for PRECHECK_TIMEOUT")
        );
        // A count that fits other targets is no bad value.
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
    fn termination_log_is_read_before_the_parse() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let env = |v: Option<&'static str>| move |_: &str| v.map(OsString::from);
        let path = |a: &[&str], v| termination_log(&args(a), &env(v));
        assert_eq!(path(&["db"], None), None);
        assert_eq!(path(&["db"], Some("/e")), Some("/e".into()));
        assert_eq!(
            path(&["--termination-log", "/f", "db"], Some("/e")),
            Some("/f".into())
        );
        // Also where the parse fails, and the last one wins; not in the command.
        let typo = [
            "--termination-log=/a",
            "--bad",
            "--termination-log=/b",
            "--",
            "x",
        ];
        assert_eq!(path(&typo, None), Some("/b".into()));
        assert_eq!(path(&["db", "--", "--termination-log", "/c"], None), None);
        // The parse takes the option and its value.
        let c = config(&["--termination-log", "/f", "db"], &[]);
        assert_eq!(c.plan.targets.len(), 1);
        assert!(usage(&["db", "--termination-log"], &[]).contains("--termination-log"));
        assert!(usage(&["-termination-log", "x", "db"], &[]).contains("--termination-log"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(run_with(&["-h"], &[]).unwrap(), Action::Help);
        assert_eq!(run_with(&["--help"], &[]).unwrap(), Action::Help);
        assert_eq!(run_with(&["-V"], &[]).unwrap(), Action::Version);
        assert_eq!(run_with(&["--version"], &[]).unwrap(), Action::Version);
        let help = help();
        for line in help.lines() {
            assert!(line.chars().count() <= 80, "too wide: {line:?}");
        }
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
            "--termination-log",
            "PRECHECK_TERMINATION_LOG",
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
                "invalid value '0' for --min-ready: expected a whole number from 1 to the number",
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
            (
                &["-version"],
                &[],
                "invalid option '-version': a long option takes two dashes, write '--version'",
            ),
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

    #[test]
    fn help_and_version_only_alone() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["127.0.0.1:1", "--help"],
                "'--help' is accepted only alone",
            ),
            (&["db", "-V"], "'-V' is accepted only alone"),
            (&["-vh", "db"], "'-vh' is accepted only alone"),
            (&["--help", "--", "true"], "'--help' is accepted only alone"),
            (
                &["--version=1"],
                "option '--version' takes no value, got '1'",
            ),
            (
                &["db.shop", "migrate", "--help"],
                "put '--' before the command",
            ),
        ];
        for (args, want) in cases {
            let got = usage(args, &[]);
            assert!(got.contains(want), "{args:?}: {got:?} lacks {want:?}");
        }
        assert!(!usage(&["--help", "db"], &[]).contains("before the command"));
    }

    #[test]
    fn wait_for_its_options_show_the_target_to_write() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["-h", "db", "-p", "5432"],
                "'-h' and '-p': wait-for-it's host and port options are not taken here; a \
                 target is one argument, HOST:PORT: write 'db:5432'",
            ),
            (
                &["--host", "db", "--port", "5432", "-t", "5s"],
                "write 'db:5432'",
            ),
            (&["-p", "5432", "-h", "db"], "write 'db:5432'"),
            (&["-h", "db"], "'-h': wait-for-it's host and port options"),
            (&["-h", "db"], "write 'db:PORT'"),
            (&["db", "-p", "5432"], "'-p': wait-for-it's"),
            (&["db", "-p", "5432"], "write 'HOST:5432'"),
            (&["-h", "db:5432"], "'-h' is accepted only alone"),
        ];
        for (args, want) in cases {
            let got = usage(args, &[]);
            assert!(got.contains(want), "{args:?}: {got:?} lacks {want:?}");
        }
        // After `--` it is the command's business.
        assert_eq!(
            config(&["db", "--", "psql", "-h", "x", "-p", "1"], &[])
                .command
                .len(),
            5
        );
    }

    #[test]
    fn long_options_with_one_dash() {
        for (arg, long) in [
            ("-timeout", "--timeout"),
            ("-min-ready=2", "--min-ready"),
            ("-any", "--any"),
            ("-help", "--help"),
        ] {
            let got = usage(&[arg, "5s", "db"], &[]);
            let want =
                format!("invalid option '{arg}': a long option takes two dashes, write '{long}'");
            assert!(got.contains(&want), "{got:?} lacks {want:?}");
        }
        // Clusters of short options stay what they are.
        assert_eq!(
            config(&["-t5s", "db"], &[]).plan.timeout,
            Some(Duration::from_secs(5))
        );
        assert_eq!(config(&["-vv", "db"], &[]).log_level, LevelFilter::Trace);
    }

    #[test]
    fn unknown_options_after_a_target_ask_for_the_double_dash() {
        let got = usage(&["db.shop", "migrate", "--force"], &[]);
        assert!(
            got.starts_with("invalid option '--force': did you forget '--' before the command?"),
            "{got}"
        );
        let got = usage(&["db", "ls", "-la"], &[]);
        assert!(
            got.contains("invalid option '-l' in '-la': did you forget '--'"),
            "{got}"
        );
        // Before any target it is an unknown option and nothing more.
        let got = usage(&["--force", "db"], &[]);
        assert!(!got.contains("did you forget"), "{got}");
    }

    #[test]
    fn durations_in_our_own_words() {
        let cases: &[(&str, &str)] = &[
            (
                "5",
                "a number needs a unit: write '5s' for seconds, or use ms, m or h",
            ),
            ("0.5", "write '0.5s' for seconds"),
            ("15 ", "write '15s'"),
            (
                "soon",
                "expected a number and a unit (ns, us, ms, s, m, h, d), such as 15s, 500ms, 5m or '1h 30m'",
            ),
            (
                "5 parsecs",
                "expected a number and a unit (ns, us, ms, s, m, h, d)",
            ),
            ("1h 30", "expected a number and a unit"),
            ("", "it is empty; expected a number and a unit"),
            ("s", "expected a number and a unit"),
        ];
        for (value, want) in cases {
            let got = usage(&["-t", value, "db"], &[]);
            assert!(got.contains(want), "{value:?}: {got:?} lacks {want:?}");
            for leak in [
                "expected number at",
                "few variations",
                "time unit needed",
                "at 0",
            ] {
                assert!(!got.contains(leak), "{value:?}: {got:?} leaks {leak:?}");
            }
        }
        for zero in ["0", "00", "0.0"] {
            assert_eq!(config(&["-t", zero, "db"], &[]).plan.timeout, None);
        }
        assert!(usage(&["-i", "0", "db"], &[]).contains("at least 10ms"));
        assert_eq!(
            config(&["-t", "0.5s", "db"], &[]).plan.timeout,
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn min_ready_and_empty_targets() {
        let got = usage(&["--min-ready", "localhost"], &[]);
        assert!(
            got.contains("invalid value 'localhost' for --min-ready"),
            "{got}"
        );
        let got = usage(&[], &[("PRECHECK_TARGETS", "")]);
        assert!(
            got.contains("invalid value '' for PRECHECK_TARGETS: it holds no target"),
            "{got}"
        );
        assert!(usage(&[], &[("PRECHECK_TARGETS", " , ")]).contains("holds no target"));
        // Empty beside targets given as arguments: nothing is missing.
        assert_eq!(
            config(&["db"], &[("PRECHECK_TARGETS", "")])
                .plan
                .targets
                .len(),
            1
        );
        let got = usage(&["--any", "a"], &[("PRECHECK_MIN_READY", "many")]);
        assert!(
            got.contains("invalid value 'many' for PRECHECK_MIN_READY"),
            "{got}"
        );
    }

    #[test]
    fn every_variable_is_checked_even_where_its_flag_wins() {
        let cases: &[(&[&str], (&str, &str))] = &[
            (&["-t", "1s", "x"], ("PRECHECK_TIMEOUT", "abc")),
            (&["-i", "1s", "x"], ("PRECHECK_INTERVAL", "5")),
            (
                &["--connect-timeout", "1s", "x"],
                ("PRECHECK_CONNECT_TIMEOUT", "0"),
            ),
            (&["--min-ready", "1", "x"], ("PRECHECK_MIN_READY", "0")),
            (&["-v", "x"], ("PRECHECK_LOG", "verbose")),
            (
                &["--log-format", "json", "x"],
                ("PRECHECK_LOG_FORMAT", "yaml"),
            ),
        ];
        for (args, (var, value)) in cases {
            let got = usage(args, &[(var, value)]);
            let want = format!("invalid value '{value}' for {var}");
            assert!(got.contains(&want), "{args:?}: {got:?} lacks {want:?}");
        }
    }

    #[test]
    fn precheck_log_must_select_our_lines() {
        use LevelFilter::*;
        for (ok, level) in [
            ("off", Off),
            ("INFO", Info),
            ("debug", Debug),
            ("warn,service_precheck=trace", Trace),
            ("service_precheck=trace,warn", Trace),
            ("service_precheck=debug", Debug),
            ("service_precheck::logging=warn", Warn),
            (
                "service_precheck::logging=warn,service_precheck=trace",
                Warn,
            ),
            ("info,debug", Debug),
            (" info , ", Info),
        ] {
            let got = config(&["a"], &[("PRECHECK_LOG", ok)]).log_level;
            assert_eq!(got, level, "{ok:?}");
        }
        let accepted = "expected a level (off, error, warn, info, debug, trace) or \
                        service_precheck=LEVEL, several separated by ','";
        let cases = [
            (
                "verbose",
                "invalid value 'verbose' for PRECHECK_LOG: 'verbose' is not a level",
            ),
            ("1", "'1' is not a level"),
            ("bogus", "'bogus' is not a level"),
            ("", "it is empty"),
            (" , ", "it is empty"),
            ("service_precheck", "'service_precheck' is not a level"),
            (
                "service_precheck=loud",
                "'service_precheck=loud' is not a level",
            ),
            (
                "hyper=debug",
                "'hyper' selects none of this program's lines",
            ),
            (
                "service_precheck::runner=debug",
                "'service_precheck::runner' selects none",
            ),
            ("service=debug", "'service' selects none"),
            ("info/ready", "'info/ready' is not a level"),
            ("info,x=y", "'x' selects none"),
        ];
        for (value, want) in cases {
            let got = usage(&["a"], &[("PRECHECK_LOG", value)]);
            assert!(got.contains(want), "{value:?}: {got:?} lacks {want:?}");
            assert!(got.contains(accepted), "{value:?}: {got:?}");
        }
    }

    #[test]
    fn the_first_bare_name_that_is_a_command_gets_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("precheck-cli-warn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, mode) in [("npm", 0o755), ("start", 0o755), ("data", 0o644)] {
            let file = dir.join(name);
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let path = dir.to_str().unwrap();
        let env = [("PATH", path)];
        let c = config(&["-t", "1.5s", "db.shop", "npm", "start"], &env);
        assert_eq!(c.plan.targets.len(), 3, "names stay valid");
        let want = format!(
            "'npm' is waited for as a DNS name, and it is also a command ('{path}/npm'): \
             to run it after the wait, put '--' before it"
        );
        assert_eq!(c.warnings, [want]);
        // Not executable, dotted, with a scheme or a query, after `--`, or from the variable:
        // no warning.
        for args in [
            &["data"][..],
            &["npm.shop"],
            &["dns://npm"],
            &["npm?min=1"],
            &["db", "npm", "--", "npm", "start"],
        ] {
            assert_eq!(config(args, &env).warnings, [] as [String; 0], "{args:?}");
        }
        let env = [("PATH", path), ("PRECHECK_TARGETS", "npm")];
        assert!(config(&[], &env).warnings.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
