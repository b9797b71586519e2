//! Seeded fuzz test of the argument, environment and target grammar, on stable Rust.
//!
//! A few thousand generated inputs (mutated real-looking targets, options with odd durations,
//! short-option clusters, PRECHECK_* variables) go through `cli::parse_args`. Nothing may panic;
//! every usage error quotes (with `quote::quoted`) one of the strings the user gave, and holds
//! no raw control or bidi character; a parsed config keeps the grammar's promises. Then the
//! binary runs on a few hundred of the rejected inputs: exit 2, nothing raw on stderr. The
//! binary only ever sees inputs the parser rejects, so nothing is resolved or connected to.
//!
//! FUZZ_SEED and FUZZ_CASES override the fixed seed and the number of cases; a failure names
//! the seed and the case.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use service_precheck::cli::{self, Action};
use service_precheck::quote::quoted;
use service_precheck::target::{Host, Kind};

mod common;
use common::{bin, cmd, output};

const SEED: u64 = 0x5eed_0008_2026;
const CASES: usize = 4000;
/// How many rejected inputs are also run through the binary.
const BINARY_RUNS: usize = 300;

/// splitmix64: tiny, fast, good enough to explore a grammar, and the same everywhere.
/// `wild` scales every mutation's chance: a mild case (0) is made of well-formed pieces.
struct Rng {
    state: u64,
    wild: u64,
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng {
            state: seed,
            wild: 100,
        }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// A mutation's chance, scaled by how wild this case is.
    fn spice(&mut self, percent: u64) -> bool {
        let p = percent * self.wild / 100;
        self.chance(p)
    }
}

const TARGETS: &[&str] = &[
    "db",
    "localhost",
    "mysql-0.mysql.ns.svc.cluster.local",
    "db.example.com.",
    "_srv._tcp.x",
    "dns://zk-headless.ns",
    "dns://zk-headless.ns?min=3",
    "DNS://Upper.Case",
    "db:5432",
    "tcp://db.ns:5432",
    "tcp://zk-headless.ns:2181?min=2",
    "tcp://[::1]:1",
    "[::1]:5432",
    "[fe80::1%eth0]:80",
    "127.0.0.1:65535",
    "10.0.0.5:5432",
    "127.0.0.1",
    "::1",
    "::1:5432",
    "2001:db8::5:5432",
    "dns://::1",
    "dns://10.0.0.5",
    "::ffff:127.0.0.1",
    "http://db:80",
    "file:///etc/hosts",
    "unix:///run/db.sock",
    "db:5432#status=200",
    "db?min=1&min=2",
    "db?max=3",
    "db?min=",
    "db?min=48",
    "db?min=49",
    "db?min=18446744073709551616",
    "db:99999",
    "db:0",
    "db:+80",
    "db:",
    ":80",
    "[db]:80",
    "[::1]",
    "a..b",
    "-a.b",
    "",
    "dns://",
    "tcp://",
    "ünïcödé.example",
    "xn--bcher-kva.example",
];

const GOOD_TARGETS: &[&str] = &[
    "db",
    "db:5432",
    "dns://zk.ns?min=3",
    "tcp://zk.ns:2181?min=2",
    "[::1]:5432",
    "127.0.0.1:80",
    "localhost",
];

const DURATIONS: &[&str] = &[
    "1s",
    "500ms",
    "0",
    "0s",
    "10ms",
    "9ms",
    "1ns",
    "1h 30m",
    "5m",
    "-1s",
    "",
    " ",
    "1e3s",
    "soon",
    "18446744073709551615s",
    "18446744073709551615s 1000000000ns",
    "18446744073709551616s",
    "18446744073709551615ns",
    "500000000000y",
    "584542046090years",
    "99999999999999999999h",
    "1000000000ns",
    "1s 1s 1s",
    "\u{221e}",
];

const OPTIONS: &[&str] = &[
    "-t",
    "--timeout",
    "-i",
    "--interval",
    "--connect-timeout",
    "--min-ready",
];

const FLAGS: &[&str] = &[
    "--any",
    "-4",
    "-6",
    "-q",
    "-v",
    "-vv",
    "-qv",
    "-4v-4v",
    "-version",
    "--verbose",
    "--quiet",
    "--bogus",
    "-x",
    "-",
    "--",
    "-tv",
    "-vt",
    "--any=1",
    "--timeout=",
    "-h",
    "--help",
    "-V",
];

/// Characters that turn a harmless string into a hostile one.
const SPICE: &[char] = &[
    ':',
    '[',
    ']',
    '?',
    '=',
    '&',
    '#',
    '/',
    '%',
    '@',
    '.',
    '-',
    '_',
    ' ',
    ',',
    '\'',
    '"',
    '\\',
    '0',
    '9',
    'a',
    'Z',
    '\u{0}',
    '\u{7}',
    '\t',
    '\n',
    '\r',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{9b}',
    '\u{200b}',
    '\u{200e}',
    '\u{202a}',
    '\u{202e}',
    '\u{2066}',
    '\u{2069}',
    '\u{feff}',
    '\u{e9}',
    '\u{301}',
    '\u{1f642}',
    '\u{fffd}',
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "3",
    "48",
    "49",
    "65535",
    "65536",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "-1",
    "+1",
    "1_000",
    "0x10",
    "\u{661}",
];

fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..rng.below(4) {
        match rng.below(7) {
            0 => {
                let at = rng.below(chars.len() + 1);
                chars.insert(at, *rng.pick(SPICE));
            }
            1 if !chars.is_empty() => {
                let at = rng.below(chars.len());
                chars.remove(at);
            }
            2 if !chars.is_empty() => {
                let at = rng.below(chars.len());
                chars[at] = *rng.pick(SPICE);
            }
            3 => {
                // Replace the first run of digits with an odd number, or append one.
                let n: Vec<char> = rng.pick(NUMBERS).chars().collect();
                match chars.iter().position(|c| c.is_ascii_digit()) {
                    Some(start) => {
                        let end = chars[start..]
                            .iter()
                            .position(|c| !c.is_ascii_digit())
                            .map_or(chars.len(), |e| start + e);
                        chars.splice(start..end, n);
                    }
                    None => chars.extend(n),
                }
            }
            4 => {
                let suffix = match rng.below(4) {
                    0 => format!("?min={}", rng.pick(NUMBERS)),
                    1 => "#status=200".to_string(),
                    2 => format!(":{}", rng.pick(NUMBERS)),
                    _ => format!("&min={}", rng.pick(NUMBERS)),
                };
                chars.extend(suffix.chars());
            }
            5 => {
                let scheme = rng.pick(&[
                    "dns://", "tcp://", "http://", "file://", "unix://", "DNS://", "://",
                ]);
                chars.splice(0..0, scheme.chars());
            }
            _ if chars.len() > 1 => {
                // Duplicate a slice: doubled colons, brackets, schemes.
                let a = rng.below(chars.len());
                let b = a + rng.below(chars.len() - a);
                let slice: Vec<char> = chars[a..=b.min(chars.len() - 1)].to_vec();
                let at = rng.below(chars.len() + 1);
                chars.splice(at..at, slice);
            }
            _ => chars.push(*rng.pick(SPICE)),
        }
    }
    chars.into_iter().collect()
}

fn mutated(rng: &mut Rng, items: &[&str]) -> String {
    let base = *rng.pick(items);
    mutate(rng, base)
}

fn target(rng: &mut Rng) -> String {
    let base = if rng.spice(100) {
        rng.pick(TARGETS).to_string()
    } else {
        rng.pick(GOOD_TARGETS).to_string()
    };
    if rng.spice(50) {
        mutate(rng, &base)
    } else {
        base
    }
}

fn duration(rng: &mut Rng) -> String {
    let base = if rng.spice(100) {
        rng.pick(DURATIONS).to_string()
    } else {
        rng.pick(&["1s", "250ms", "0", "1h 30m", "10ms"])
            .to_string()
    };
    if rng.spice(30) {
        mutate(rng, &base)
    } else {
        base
    }
}

/// Now and then a value that is not UTF-8.
fn maybe_binary(rng: &mut Rng, s: String) -> OsString {
    if rng.spice(3) {
        let mut bytes = s.into_bytes();
        let at = rng.below(bytes.len() + 1);
        bytes.insert(at, 0xff);
        OsString::from_vec(bytes)
    } else {
        OsString::from(s)
    }
}

struct Case {
    args: Vec<OsString>,
    env: Vec<(&'static str, OsString)>,
}

fn case(rng: &mut Rng) -> Case {
    rng.wild = if rng.chance(35) { 0 } else { 100 };
    let mut args = Vec::new();
    for _ in 0..rng.below(7) {
        match rng.below(10) {
            0..=3 => {
                let t = target(rng);
                args.push(maybe_binary(rng, t))
            }
            4..=6 => {
                let opt = *rng.pick(OPTIONS);
                let value = if opt == "--min-ready" {
                    if rng.wild == 0 {
                        "1".to_string()
                    } else if rng.chance(50) {
                        rng.pick(NUMBERS).to_string()
                    } else {
                        mutated(rng, NUMBERS)
                    }
                } else {
                    duration(rng)
                };
                match rng.below(4) {
                    0 => args.push(maybe_binary(rng, format!("{opt}={value}"))),
                    1 if !opt.starts_with("--") => {
                        args.push(maybe_binary(rng, format!("{opt}{value}")))
                    }
                    2 => args.push(OsString::from(opt)), // a missing value, or the next arg
                    _ => {
                        args.push(OsString::from(opt));
                        args.push(maybe_binary(rng, value));
                    }
                }
            }
            7 | 8 if rng.spice(100) => args.push(OsString::from(*rng.pick(FLAGS))),
            7 | 8 => args.push(OsString::from(
                *rng.pick(&["--any", "-4", "-6", "-q", "-v"]),
            )),
            _ if rng.wild == 0 => args.push(OsString::from(*rng.pick(&["db", "db:5432"]))),
            _ => {
                let flag = mutated(rng, FLAGS);
                args.push(maybe_binary(rng, flag))
            }
        }
    }
    if rng.chance(10) {
        args.push("--".into());
        if rng.chance(80) {
            args.push("true".into());
        }
    }
    let mut env = Vec::new();
    let mut set = |name: &'static str, value: String, rng: &mut Rng| {
        env.push((name, maybe_binary(rng, value)));
    };
    if rng.chance(20) {
        let n = rng.below(4);
        let sep = *rng.pick(&[",", " ", ", ", "\n", ",,", "\t"]);
        let list: Vec<String> = (0..n).map(|_| target(rng)).collect();
        set("PRECHECK_TARGETS", list.join(sep), rng);
    }
    for var in [
        "PRECHECK_TIMEOUT",
        "PRECHECK_INTERVAL",
        "PRECHECK_CONNECT_TIMEOUT",
    ] {
        if rng.chance(15) {
            let d = duration(rng);
            set(var, d, rng);
        }
    }
    if rng.spice(10) {
        let n = mutated(rng, NUMBERS);
        set("PRECHECK_MIN_READY", n, rng);
    }
    if rng.spice(10) {
        let filter = mutated(rng, &["info", "debug", "off", "info,x=y", "=", ""]);
        set("PRECHECK_LOG", filter, rng);
    }
    Case { args, env }
}

/// Characters a message must never hold raw (spec: C0, DEL, C1, Unicode bidi and format
/// characters). The reference that `quote::quoted` is checked against.
fn must_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2069}'
        | '\u{feff}')
}

/// Inverts a Rust-style escaped, single-quoted string: `'...'` with `\\`, `\'`, `\"`, `\n`,
/// `\r`, `\t`, `\0` and `\u{HEX}`. None if `q` is not such a string.
fn unquote(q: &str) -> Option<String> {
    let inner = q.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => return None, // an unescaped quote inside
            '\\' => match chars.next()? {
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '0' => out.push('\0'),
                'u' => {
                    if chars.next()? != '{' {
                        return None;
                    }
                    let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            },
            c => out.push(c),
        }
    }
    Some(out)
}

/// quoted() against the reference: nothing raw, reversible, and plain text stays plain.
fn check_quoted(s: &str) -> Result<(), String> {
    let q = quoted(s).to_string();
    if let Some(c) = q.chars().find(|&c| must_escape(c)) {
        return Err(format!("quoted({s:?}) = {q:?} holds a raw {c:?}"));
    }
    if unquote(&q).as_deref() != Some(s) {
        return Err(format!(
            "quoted({s:?}) = {q:?} does not read back as the input"
        ));
    }
    // Printable ASCII other than the two escape characters passes through as it is.
    let plain = s
        .chars()
        .all(|c| c == ' ' || (c.is_ascii_graphic() && c != '\\' && c != '\''));
    if plain && q != format!("'{s}'") {
        return Err(format!("quoted({s:?}) = {q:?}, expected '{s}'"));
    }
    Ok(())
}

/// The strings of a case a usage error may quote: each argument and variable value, the
/// parts of `--opt=value`, every tail of a short-option cluster (`-vt5x` gives `5x`), and each
/// word of PRECHECK_TARGETS. Non-UTF-8 input is seen as the lossy text.
fn quotable(case: &Case) -> Vec<String> {
    let mut out = Vec::new();
    for arg in &case.args {
        let a = arg.to_string_lossy().into_owned();
        if let Some((opt, value)) = a.split_once('=') {
            out.push(opt.to_string());
            out.push(value.to_string());
        }
        if a.starts_with('-') && !a.starts_with("--") {
            out.extend(a.char_indices().skip(1).map(|(i, _)| a[i..].to_string()));
        }
        out.push(a);
    }
    for (name, value) in &case.env {
        let v = value.to_string_lossy().into_owned();
        if *name == "PRECHECK_TARGETS" {
            out.extend(
                v.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|w| !w.is_empty())
                    .map(String::from),
            );
            // After a '#' a comma belongs to the status list: those words are whole.
            out.extend(cli::env_words(&v).into_iter().map(String::from));
        }
        out.push(v);
    }
    out
}

/// Errors that are about the absence or combination of inputs, not about one string.
fn quotes_nothing_by_design(message: &str) -> bool {
    message.starts_with("no targets") || message.contains("cannot be used together")
}

fn show(case: &Case) -> String {
    format!("args {:?} env {:?}", case.args, case.env)
}

/// What a parsed config must never hold.
fn check_config(config: &cli::Config) -> Result<(), String> {
    let now = Instant::now();
    let plan = &config.plan;
    if plan.targets.is_empty() || !(1..=plan.targets.len()).contains(&plan.min_ready) {
        return Err(format!(
            "min_ready {} of {} targets",
            plan.min_ready,
            plan.targets.len()
        ));
    }
    for t in &plan.targets {
        if matches!(
            t.kind,
            Kind::Dns {
                host: Host::Ip(_),
                ..
            }
        ) {
            return Err(format!(
                "bare IP literal {:?} accepted as a DNS target",
                t.spelling
            ));
        }
        // Log lines print a target's spelling as it is.
        if let Some(c) = t.spelling.chars().find(|&c| must_escape(c)) {
            return Err(format!("raw {c:?} in the accepted target {:?}", t.spelling));
        }
    }
    if plan.probing.interval < cli::MIN_INTERVAL {
        return Err(format!("interval {:?}", plan.probing.interval));
    }
    let durations = [
        Some(plan.probing.interval),
        Some(plan.probing.connect_timeout),
        plan.timeout,
    ];
    if durations
        .iter()
        .flatten()
        .any(|d| now.checked_add(*d).is_none())
    {
        return Err(format!("a duration beyond the clock: {durations:?}"));
    }
    Ok(())
}

/// The case being checked, for the panic hook: a panic must name its input.
static CURRENT: Mutex<String> = Mutex::new(String::new());
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

#[test]
fn the_grammar_never_panics_and_every_error_quotes_its_input() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CASES);
    let hook = panic::take_hook();
    let shown = std::sync::atomic::AtomicUsize::new(0);
    panic::set_hook(Box::new(move |info| {
        let current = CURRENT.lock().map(|c| c.clone()).unwrap_or_default();
        // Straight to stderr, past the harness's capture, in case the panic aborts; the
        // failure list below has them all.
        if shown.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3 {
            let _ = writeln!(std::io::stderr(), "fuzz seed {seed}, {current}: {info}");
        }
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
        if current.is_empty() {
            hook(info);
        }
    }));

    let mut rng = Rng::new(seed);
    let all: Vec<Case> = (0..cases).map(|_| case(&mut rng)).collect();
    let mut failures = Vec::new();
    let mut rejected = Vec::new();
    let (mut ok, mut errors) = (0, 0);
    for (n, case) in all.iter().enumerate() {
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = format!("case {n}: {}", show(case));
        let env: Vec<(&str, OsString)> = case.env.clone();
        let lookup = move |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            cli::parse_args(case.args.clone(), &lookup)
        }));
        let problem = match result {
            Err(_) => {
                rejected.push(n);
                Some(format!(
                    "panicked: {}",
                    LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner())
                ))
            }
            Ok(Ok(Action::Run(config))) => {
                ok += 1;
                check_config(&config).err()
            }
            Ok(Ok(_)) => None,
            Ok(Err(e)) => {
                errors += 1;
                let message = e.to_string();
                let candidates = quotable(case);
                let raw = message.chars().find(|&c| must_escape(c));
                let quotes = candidates
                    .iter()
                    .any(|c| message.contains(&quoted(c).to_string()));
                rejected.push(n);
                if let Some(c) = raw {
                    Some(format!("raw {c:?} in {message:?}"))
                } else if !quotes && !quotes_nothing_by_design(&message) {
                    Some(format!("{message:?} quotes none of the input"))
                } else {
                    None
                }
            }
        };
        if let Some(p) = problem {
            failures.push(format!("case {n}: {p}\n    {}", show(case)));
        }
        for s in quotable(case) {
            if let Err(e) = check_quoted(&s) {
                failures.push(format!("case {n}: {e}"));
            }
        }
    }
    CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clear();
    eprintln!("fuzz seed {seed}: {cases} cases, {ok} configs, {errors} usage errors");
    assert!(
        ok > cases / 20 && errors > cases / 4,
        "the generator lost its balance: {ok} ok, {errors} errors"
    );
    // The binary on rejected inputs: the same parser decides, so it must end with 2 at once.
    let step = (rejected.len() / BINARY_RUNS).max(1);
    let mut binary_failures = Vec::new();
    for &n in rejected.iter().step_by(step).take(BINARY_RUNS) {
        let case = &all[n];
        // argv and the environment cannot hold NUL bytes.
        let has_nul = |s: &OsStr| s.as_bytes().contains(&0);
        if case.args.iter().any(|a| has_nul(a)) || case.env.iter().any(|(_, v)| has_nul(v)) {
            continue;
        }
        let mut c = cmd(&case.args);
        for (k, v) in &case.env {
            c.env(k, v);
        }
        // A usage error ends the binary at once; a hang fails after 10 s, and the panic hook
        // names the case.
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) =
            format!("binary, case {n}: {}", show(case));
        let o = output(c, Duration::from_secs(10));
        let err = String::from_utf8_lossy(&o.stderr);
        let raw = err
            .split('\n')
            .flat_map(|l| l.chars())
            .find(|&c| must_escape(c));
        if o.status.code() != Some(2) || raw.is_some() {
            binary_failures.push(format!(
                "case {n}: {:?}, raw {raw:?}, stderr {err:?}\n    {}",
                o.status,
                show(case)
            ));
        }
    }
    CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let first = |list: &[String]| list.iter().take(12).cloned().collect::<Vec<_>>().join("\n");
    assert!(
        failures.is_empty() && binary_failures.is_empty(),
        "fuzz seed {seed} (FUZZ_SEED={seed} to repeat): {} failures in the parser, first ones:\n{}\n\
         {} failures of the binary {}, first ones:\n{}",
        failures.len(),
        first(&failures),
        binary_failures.len(),
        bin().display(),
        first(&binary_failures),
    );
}

// The mysql:// and zk:// judges on random and mutated answers: no panic, a conversation that
// always ends within its byte limit, and never ready on bytes that are not a ready answer.

use service_precheck::probe::talk::{Dialect, Step};

/// Real answers to mutate: a MariaDB greeting with the replies to the login, first-packet errors,
/// an auth switch; ZooKeeper's srvr answers.
const MYSQL_GREETING: &[u8] =
    b"d\x00\x00\x00\n5.5.5-10.11.19-MariaDB-0+deb12u1\x00\x03\x00\x00\x00\
    {bWnEN7i\x00\xfe\xf7\x08\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00\
    *5i3_ghTKZb\\\x00mysql_native_password\x00";
const MYSQL_REPLIES: &[&[u8]] = &[
    b"S\x00\x00\x02\xff\x15\x04#28000Access denied for user 'service-precheck'@'localhost' \
      (using password: NO)",
    b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00",
    b"\x1d\x00\x00\x02\xff\x10\x04#08004Too many connections",
    b",\x00\x00\x02\xfemysql_native_password\x00o3Kc0ay\\BuIJu3=tV/'t\x00",
    b"\x02\x00\x00\x04\x01\x03",
    b"\x02\x00\x00\x04\x01\x04",
];
const MYSQL_FIRST_ERR: &[u8] = b"\x17\x00\x00\x00\xff\x10\x04Too many connections";
const ZK_ANSWERS: &[&[u8]] = &[
    b"Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2023-03-15 08:19 UTC\n\
      Latency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\nOutstanding: 0\n\
      Zxid: 0x0\nMode: follower\nNode count: 5\n",
    b"This ZooKeeper instance is not currently serving requests\n",
    b"srvr is not executed because it is not in the whitelist.\n",
    b"READ-ONLY mode; serving only read-only clients\nMode: read-only\n",
];

fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..rng.below(5) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(7) {
            0 => bytes.insert(at, rng.next() as u8),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 if at < bytes.len() => bytes[at] = rng.next() as u8,
            3 => bytes.truncate(at),
            4 if at < bytes.len() => bytes[at] = *rng.pick(&[0, 0xff, 0xfe, 0x01, b'\n', 10]),
            5 if bytes.len() > 1 => {
                let from = rng.below(bytes.len());
                let to = (from + rng.below(64)).min(bytes.len());
                let slice = bytes[from..to].to_vec();
                bytes.splice(at..at, slice);
            }
            _ => bytes.extend((0..rng.below(32)).map(|_| rng.next() as u8)),
        }
    }
}

/// Feeds `answer` to `dialect` in random pieces, as the shared loop would (Sends counted, the
/// close judged last): the verdict, or None when it wanted more at the close.
fn converse(rng: &mut Rng, dialect: &dyn Dialect, answer: &[u8]) -> Option<Result<(), String>> {
    let limit = dialect.limit();
    let (mut len, mut sent) = (0, 0);
    loop {
        let closed = len == answer.len();
        match dialect.judge(&answer[..len.min(limit)], sent, closed) {
            Step::Done(r) => return Some(r.map_err(|s| s.to_string())),
            Step::Send(_) => {
                sent += 1;
                assert!(sent < 64, "endless Sends");
            }
            Step::More if closed || len >= limit => {
                let _ = dialect.last_words(&answer[..len.min(limit)], sent);
                return None;
            }
            Step::More => len = (len + 1 + rng.below(40)).min(answer.len()),
        }
    }
}

/// Whether bytes hold a ready answer, checked independently of the judge.
type Oracle = fn(&[u8]) -> bool;

/// Whether `heard` holds a ready MySQL answer, checked independently of the judge: a framed
/// protocol-10 greeting, then a framed OK or an ERR 1045/1698 among the packets after it.
fn mysql_ready(heard: &[u8]) -> bool {
    let mut packets = Vec::new();
    let mut rest = heard;
    while rest.len() >= 4 {
        let len = rest[0] as usize | (rest[1] as usize) << 8 | (rest[2] as usize) << 16;
        if rest.len() < 4 + len {
            break;
        }
        packets.push(&rest[4..4 + len]);
        rest = &rest[4 + len..];
    }
    let greeting = packets.first().is_some_and(|p| p.first() == Some(&10));
    let replied = packets.iter().skip(1).any(|p| {
        matches!(
            p,
            [0x00, ..] | [0xff, 0x15, 0x04, ..] | [0xff, 0xa2, 0x06, ..]
        )
    });
    greeting && replied
}

/// Whether `heard` holds a complete `Mode:` line of a serving member.
fn zk_ready(heard: &[u8]) -> bool {
    let text = String::from_utf8_lossy(heard);
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let modes = ["leader", "follower", "standalone", "observer"];
    complete.lines().any(|l| {
        let l = l.strip_suffix('\r').unwrap_or(l);
        l.strip_prefix("Mode: ").is_some_and(|m| modes.contains(&m))
    })
}

#[test]
fn protocol_judges_never_panic_nor_call_garbage_ready() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let mut rng = Rng::new(seed);
    let mysql = service_precheck::probe::mysql::dialect(None, None);
    let zk = service_precheck::probe::zookeeper::dialect(None, None);
    let (mut ready, mut reasons) = (0, 0);
    for case in 0..6000 {
        let is_mysql = case % 2 == 0;
        let mut answer = if !rng.chance(90) {
            (0..rng.below(300)).map(|_| rng.next() as u8).collect()
        } else if is_mysql && rng.chance(10) {
            MYSQL_FIRST_ERR.to_vec()
        } else if is_mysql {
            let mut a = MYSQL_GREETING.to_vec();
            for _ in 0..1 + rng.below(3) {
                let reply: &&[u8] = rng.pick(MYSQL_REPLIES);
                a.extend_from_slice(reply);
            }
            a
        } else {
            (*rng.pick(ZK_ANSWERS)).to_vec()
        };
        if rng.chance(70) {
            mutate_bytes(&mut rng, &mut answer);
        }
        let (dialect, valid): (&dyn Dialect, Oracle) = if is_mysql {
            (&*mysql, mysql_ready)
        } else {
            (&*zk, zk_ready)
        };
        match converse(&mut rng, dialect, &answer) {
            Some(Ok(())) => {
                ready += 1;
                assert!(
                    valid(&answer[..answer.len().min(dialect.limit())]),
                    "seed {seed} case {case}: ready on {answer:?}"
                );
            }
            Some(Err(text)) => {
                reasons += 1;
                let name = dialect.name();
                assert!(text.starts_with(&format!("{name}: ")), "{text}");
                assert!(
                    text.chars().all(|c| (' '..='~').contains(&c)),
                    "seed {seed} case {case}: unprintable reason {text:?}"
                );
            }
            None => {}
        }
    }
    eprintln!("protocol fuzz seed {seed}: {ready} ready, {reasons} reasons of 6000");
    assert!(
        ready > 300 && reasons > 1000,
        "{ready} ready, {reasons} reasons"
    );
}

// ---- The protocol judges (postgres://, redis://) on random and mutated answers ----

use service_precheck::probe::{postgres, redis};

/// Real answers (SERVER-FACTS.md) that mutations start from.
const POSTGRES_SEEDS: &[&[u8]] = &[
    b"R\x00\x00\x00\x08\x00\x00\x00\x00S\x00\x00\x00\x19client_encoding\x00UTF8\x00Z\x00\x00\x00\x05I",
    b"R\x00\x00\x00\x17\x00\x00\x00\nSCRAM-SHA-256\x00\x00",
    b"E\x00\x00\x00bSFATAL\x00VFATAL\x00C28000\x00Mrole \"nosuch\" does not exist\x00Fmiscinit.c\x00L768\x00RInitializeSessionUserId\x00\x00",
    b"E\x00\x00\x00\x95SFATAL\x00VFATAL\x00C57P03\x00Mthe database system is not accepting connections\x00DHot standby mode is disabled.\x00Fpostmaster.c\x00L2426\x00RProcessStartupPacket\x00\x00",
    b"Ecould not fork new process for connection: Cannot allocate memory\n\x00",
    b"N",
    b"HTTP/1.1 400 Bad Request\r\n\r\n",
];

const REDIS_SEEDS: &[&[u8]] = &[
    b"+PONG\r\n",
    b"-NOAUTH Authentication required.\r\n",
    b"-LOADING Redis is loading the dataset in memory\r\n",
    b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n",
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n",
    b"-ERR max number of clients reached\r\n",
    b"$4\r\nPONG\r\n",
    b"*1\r\n$4\r\nPONG\r\n",
];

/// A random answer: pure noise, or a seed mutated (bytes flipped, inserted, removed, a length
/// word replaced by an extreme, cut, or followed by junk or a long run).
fn answer(rng: &mut Rng, seeds: &[&[u8]]) -> Vec<u8> {
    if rng.chance(10) {
        let n = rng.below(64);
        return (0..n).map(|_| rng.next() as u8).collect();
    }
    let mut a = rng.pick(seeds).to_vec();
    for _ in 0..rng.below(4) {
        let at = rng.below(a.len() + 1);
        match rng.below(7) {
            0 if at < a.len() => a[at] = rng.next() as u8,
            1 => a.insert(at, *rng.pick(b"\x00\r\n-+ERZC57P03\x1b\xff")),
            2 if at < a.len() => {
                a.remove(at);
            }
            3 if a.len() >= 5 => {
                let word = *rng.pick(&[0u32, 4, 7, 8, 2000, 2001, 30000, 30001, u32::MAX]);
                a[1..5].copy_from_slice(&word.to_be_bytes());
            }
            4 => a.truncate(at),
            5 => a.extend((0..rng.below(32)).map(|_| rng.next() as u8)),
            6 => a.extend(std::iter::repeat_n(*rng.pick(b"xz\x00"), rng.below(5000))),
            _ => {}
        }
    }
    a
}

/// What a ready verdict requires of the bytes, checked independently of the judges.
fn postgres_may_be_ready(a: &[u8]) -> bool {
    if a.len() < 5 {
        return false;
    }
    let len = u32::from_be_bytes([a[1], a[2], a[3], a[4]]) as usize;
    match a[0] {
        b'R' => (8..=2000).contains(&len) && a.len() > len,
        b'E' => {
            (8..=30000).contains(&len)
                && a.len() > len
                && a[..=len].ends_with(b"\x00\x00")
                && a[5..=len].windows(7).any(|w| {
                    w[0] == b'C'
                        && w[6] == 0
                        && w[1..6] != *b"57P03"
                        && w[1..6]
                            .iter()
                            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
                })
        }
        _ => false,
    }
}

fn redis_may_be_ready(a: &[u8]) -> bool {
    a.starts_with(b"+PONG\r\n")
        || a.starts_with(b"-NOAUTH\r\n")
        || a.starts_with(b"-NOAUTH ") && a.windows(2).any(|w| w == b"\r\n")
}

/// The start of an answer, for failure messages.
fn short(a: &[u8]) -> String {
    let shown: Vec<u8> = a.iter().copied().take(80).collect();
    format!("{} ({} bytes)", shown.escape_ascii(), a.len())
}

/// Feeds `cases` answers to `judge`, whole and cut at a few points, open and closed: no panic,
/// ready only where `may_be_ready` allows it, a verdict never changed by more bytes, and every
/// reason named after the protocol, bounded and free of control characters.
fn fuzz_judge(
    name: &str,
    seeds: &[&[u8]],
    judge: fn(&[u8], bool) -> Step,
    may_be_ready: fn(&[u8]) -> bool,
) {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let mut rng = Rng::new(seed);
    let (mut ready, mut reasons, mut failures) = (0, 0, Vec::new());
    for n in 0..20_000 {
        let a = answer(&mut rng, seeds);
        let mut cuts: Vec<usize> = (0..4).map(|_| rng.below(a.len() + 1)).collect();
        cuts.push(a.len());
        cuts.sort_unstable();
        let mut first: Option<(usize, bool)> = None;
        for &cut in &cuts {
            for closed in [false, true] {
                let heard = &a[..cut];
                let step = judge(heard, closed);
                let problem = match &step {
                    Step::Done(Ok(())) if !may_be_ready(heard) => Some("ready".to_string()),
                    Step::Done(Ok(())) => None,
                    Step::Done(Err(said)) => {
                        let text = said.to_string();
                        let bad = !text.starts_with(&format!("{name}: "))
                            // 200 bytes quoted, each at most 4 characters (\xNN).
                            || text.len() > 1000
                            || text.chars().any(|c| c.is_control())
                            || said.proves_absent();
                        bad.then(|| format!("reason {text:?}"))
                    }
                    Step::Send(_) => Some("a Send".to_string()),
                    Step::More => None,
                };
                if let Some(p) = problem {
                    failures.push(format!(
                        "case {n}, {cut} bytes, closed {closed}: {p}: {:?}",
                        short(heard)
                    ));
                }
                // Once decided on an open connection, more bytes change nothing (but how much
                // of them a reason quotes).
                let verdict = match &step {
                    Step::Done(result) => Some(result.is_ok()),
                    _ => None,
                };
                if !closed {
                    match first {
                        Some((at, was)) if Some(was) != verdict => failures.push(format!(
                            "case {n}: ready {was} at {at} bytes, {step:?} at {cut}: {:?}",
                            short(&a)
                        )),
                        None => first = verdict.map(|v| (cut, v)),
                        _ => {}
                    }
                }
                match step {
                    Step::Done(Ok(())) => ready += 1,
                    Step::Done(Err(_)) => reasons += 1,
                    _ => {}
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{name} judge, FUZZ_SEED={seed}: {} failures, first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        ready > 1000 && reasons > 1000,
        "the generator lost its balance: {ready} ready, {reasons} reasons"
    );
}

#[test]
fn the_postgres_judge_is_ready_only_on_a_valid_first_answer() {
    fuzz_judge(
        "postgres",
        POSTGRES_SEEDS,
        postgres::judge,
        postgres_may_be_ready,
    );
}

#[test]
fn the_redis_judge_is_ready_only_on_pong_or_noauth() {
    fuzz_judge("redis", REDIS_SEEDS, redis::judge, redis_may_be_ready);
}

// The grpc:// judge on random and mutated answers: no panic, and never ready on bytes that are
// not a ready answer.

/// Real answers to mutate (SERVER-FACTS.md): grpcio SERVING, etcd SERVING (Huffman-coded
/// trailers), grpcio NOT_SERVING, grpcio without the health service (trailers-only).
const GRPC_ANSWERS: &[&str] = &[
    "000018040000000000000400400000000500400000000600004000fe0300000001000004080000000000003f00\
     0100000004010000000000000408000000000000000005000008060000000000011c4e02ca18918f00004e0104\
     0000000188400c636f6e74656e742d74797065106170706c69636174696f6e2f677270634014677270632d6163\
     636570742d656e636f64696e67176964656e746974792c206465666c6174652c20677a69700000070000000000\
     010000000002080100001e010500000001400b677270632d7374617475730130000c677270632d6d6573736167\
     6500",
    "00000c0400000000000005000040000003ffffffff0000000401000000000000040800000000000000000500\
     000806000000000002041010090e070700000e010400000001885f8b1d75d0620d263d4c4d656400000700000000\
     00010000000002080100001801050000000140889acac8b21234da8f013040899acac8b5254207317f00",
    "000018040000000000000400400000000500400000000600004000fe0300000001000004080000000000003f00\
     0100000004010000000000000408000000000000000005000008060000000000011c4e02ca18918f00004e0104\
     0000000188400c636f6e74656e742d74797065106170706c69636174696f6e2f677270634014677270632d6163\
     636570742d656e636f64696e67176964656e746974792c206465666c6174652c20677a69700000070000000000\
     010000000002080200001e010500000001400b677270632d7374617475730130000c677270632d6d6573736167\
     6500",
    "000018040000000000000400400000000500400000000600004000fe0300000001000004080000000000003f00\
     0100000004010000000000000408000000000000000005000008060000000000e835aaf0a7e0b65e0000500105\
     0000000188400c636f6e74656e742d74797065106170706c69636174696f6e2f67727063400b677270632d7374\
     61747573023132000c677270632d6d657373616765114d6574686f64206e6f7420666f756e6421",
];

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Whether `heard` holds a ready gRPC health answer, checked independently of the judge: the
/// server's SETTINGS first, then on stream 1 a DATA frame holding SERVING (`08 01`) and a
/// HEADERS frame with END_STREAM, and a header block there holding the value "0".
fn grpc_ready(heard: &[u8]) -> bool {
    let mut frames = Vec::new();
    let mut rest = heard;
    while rest.len() >= 9 {
        let len = (rest[0] as usize) << 16 | (rest[1] as usize) << 8 | rest[2] as usize;
        if rest.len() < 9 + len {
            break;
        }
        let stream = u32::from_be_bytes([rest[5] & 0x7f, rest[6], rest[7], rest[8]]);
        frames.push((rest[3], rest[4], stream, &rest[9..9 + len]));
        rest = &rest[9 + len..];
    }
    let on_1 = |kind: u8| frames.iter().filter(move |f| f.0 == kind && f.2 == 1);
    let holds = |b: &[u8], pair: [u8; 2]| b.windows(2).any(|w| w == pair);
    frames.first().is_some_and(|f| f.0 == 4 && f.2 == 0)
        && on_1(0).any(|f| holds(f.3, [8, 1]))
        && on_1(1).any(|f| f.1 & 1 != 0)
        && on_1(1).any(|f| holds(f.3, [1, b'0']))
}

#[test]
fn the_grpc_judge_never_panics_nor_calls_garbage_ready() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let mut rng = Rng::new(seed);
    let grpc = service_precheck::probe::grpc::dialect(None, None);
    let answers: Vec<Vec<u8>> = GRPC_ANSWERS.iter().map(|a| unhex(a)).collect();
    let (mut ready, mut reasons) = (0, 0);
    for case in 0..4000 {
        let mut answer = if rng.chance(10) {
            (0..rng.below(300)).map(|_| rng.next() as u8).collect()
        } else {
            rng.pick(&answers).clone()
        };
        if rng.chance(70) {
            mutate_bytes(&mut rng, &mut answer);
        }
        match converse(&mut rng, &*grpc, &answer) {
            Some(Ok(())) => {
                ready += 1;
                assert!(
                    grpc_ready(&answer),
                    "seed {seed} case {case}: ready on {answer:02x?}"
                );
            }
            Some(Err(text)) => {
                reasons += 1;
                assert!(text.starts_with("grpc: "), "{text}");
                assert!(
                    text.chars().all(|c| (' '..='~').contains(&c)),
                    "seed {seed} case {case}: unprintable reason {text:?}"
                );
            }
            None => {}
        }
    }
    eprintln!("grpc fuzz seed {seed}: {ready} ready, {reasons} reasons of 4000");
    assert!(
        ready > 200 && reasons > 1000,
        "{ready} ready, {reasons} reasons"
    );
}
