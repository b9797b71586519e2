//! The target grammar: what the user asks to wait for, parsed once at the edge.
//!
//! `NAME`, `dns://NAME`, `HOST:PORT`, `tcp://HOST:PORT` and `[V6]:PORT`, each optionally followed
//! by `?min=N`; `http://HOST[:PORT][/PATH[?QUERY]][#status=CODES]`, `file:///ABS/PATH` and
//! `unix:///ABS/PATH`. A malformed target is a usage error whose message quotes the target.
//!
//! A target's spelling is printed as it is in log lines, so the grammar lets through no
//! character that `quoted` would escape: a DNS or TCP target's grammar allows none, an http://
//! URL is printable ASCII (anything else is %-encoded), a file:// or unix:// path printable ASCII.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use crate::probe::grpc::dialect as grpc;
use crate::probe::http::{Http, Statuses};
use crate::probe::mysql::dialect as mysql;
use crate::probe::postgres::dialect as postgres;
use crate::probe::redis::dialect as redis;
use crate::probe::talk::{Dialect, Talk};
use crate::probe::zookeeper::dialect as zookeeper;
use crate::quote::quoted;

/// The most addresses musl's getaddrinfo returns for one lookup (MAXADDRS in musl's lookup.h).
/// A `min` above it could never be met by the shipped static binary, so it is refused.
pub const MAX_MIN: usize = 48;

/// The most bytes of a unix socket path: `sun_path` holds 108, with the terminating NUL.
pub const MAX_UNIX_PATH: usize = 107;

/// A protocol spoken after the connect, as a target scheme: `SCHEME://[USER@]HOST[:PORT][/PATH]`
/// with `?min=N`. The grammar refuses a user or a path where the service takes none.
pub struct Service {
    pub scheme: &'static str,
    /// The port when the target gives none; `None`: the target must give one.
    pub port: Option<u16>,
    /// Whether `USER@` is taken.
    pub user: bool,
    /// Whether `/PATH` is taken.
    pub path: bool,
    /// The dialect for a user and a path (each without its '@' or '/').
    pub dialect: fn(Option<&str>, Option<&str>) -> Arc<dyn Dialect>,
}

/// The scheme table of the protocols spoken after a connect: adding a protocol is a module
/// under `probe/` and a line here (this file reads the URL, `probe::talk` holds the
/// conversation).
pub const SERVICES: &[Service] = &[
    // scheme, default port, takes USER@, takes /PATH, dialect
    Service::new("postgres", Some(5432), true, true, postgres),
    Service::new("postgresql", Some(5432), true, true, postgres),
    Service::new("mysql", Some(3306), true, false, mysql),
    Service::new("redis", Some(6379), false, false, redis),
    Service::new("zk", Some(2181), false, false, zookeeper),
    Service::new("grpc", None, false, true, grpc),
];

impl Service {
    const fn new(
        scheme: &'static str,
        port: Option<u16>,
        user: bool,
        path: bool,
        dialect: fn(Option<&str>, Option<&str>) -> Arc<dyn Dialect>,
    ) -> Service {
        Service {
            scheme,
            port,
            user,
            path,
            dialect,
        }
    }
}

/// One thing to wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The target exactly as the user wrote it, for log lines.
    pub spelling: String,
    pub kind: Kind,
}

/// What is checked, and what makes it ready. `min` is how many distinct addresses must resolve
/// (DNS) or accept a connection and, with a dialect, answer ready (every other kind with a port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dns {
        host: Host,
        min: usize,
    },
    /// A TCP port: ready when it accepts, or with a dialect, when the conversation after the
    /// connect says so (http://, postgres://, ...).
    Port {
        host: Host,
        port: u16,
        min: usize,
        talk: Option<Talk>,
    },
    /// Ready when the absolute path exists.
    File(String),
    /// Ready when a stream socket at the absolute path accepts.
    Unix(String),
}

/// Which address families count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Both,
    V4,
    V6,
}

impl Family {
    /// The families to look up, in order, with their `AF_*` constants.
    pub fn each(self) -> &'static [(Family, i32)] {
        match self {
            Family::V4 => &[(Family::V4, libc::AF_INET)],
            Family::V6 => &[(Family::V6, libc::AF_INET6)],
            Family::Both => &[(Family::V4, libc::AF_INET), (Family::V6, libc::AF_INET6)],
        }
    }
}

impl Target {
    /// The host to resolve or connect to, for the kinds that have one.
    pub fn host(&self) -> Option<&Host> {
        match &self.kind {
            Kind::Dns { host, .. } | Kind::Port { host, .. } => Some(host),
            Kind::File(_) | Kind::Unix(_) => None,
        }
    }

    /// A plain TCP target on an IP literal: its address, which needs no resolver and no
    /// conversation (the first look connects to these from the main thread).
    pub fn literal(&self) -> Option<SocketAddr> {
        match &self.kind {
            Kind::Port {
                host: Host::Ip(ip),
                port,
                talk: None,
                ..
            } => Some(SocketAddr::new(*ip, *port)),
            _ => None,
        }
    }
}

/// The host part of a target: a name for the resolver, or a literal address that needs none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

/// Why a target could not be parsed. The message quotes the whole target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError {
    target: String,
    kind: TargetErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TargetErrorKind {
    Empty,
    EmptyHost,
    UnknownScheme(String),
    BadChar(char),
    LabelEmpty,
    LabelTooLong(String),
    LabelHyphen(String),
    NameTooLong(usize),
    MissingPort(&'static str),
    BadPort(String),
    DnsWithPort,
    BadBracket,
    UnknownQueryKey(String),
    DuplicateQueryKey(String),
    BadMin(String),
    MinTooLarge(usize),
    MinOnLiteral(usize),
    BareLiteral(IpAddr),
    Https,
    Grpcs,
    UrlChar(char),
    PathChar(char),
    RelativePath(&'static str),
    UnixPathTooLong(usize),
    UnknownOption(String),
    BadStatus(String),
    ReversedStatus(String),
    MinOnHttp,
    Mistake(Mistake),
    EmptyUser,
    NoUser(&'static str),
    NoPath(&'static str),
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TargetErrorKind::*;
        write!(f, "invalid target {}: ", quoted(&self.target))?;
        match &self.kind {
            Empty => write!(f, "it is empty"),
            EmptyHost => write!(f, "the host is empty"),
            UnknownScheme(s) => {
                write!(
                    f,
                    "unknown scheme {}, expected ",
                    quoted(&format!("{s}://"))
                )?;
                let services = SERVICES.iter().map(|s| s.scheme);
                let all: Vec<&str> = SCHEMES.into_iter().chain(services).collect();
                for (i, scheme) in all.iter().enumerate() {
                    let sep = match i {
                        0 => "",
                        i if i + 1 == all.len() => " or ",
                        _ => ", ",
                    };
                    write!(f, "{sep}{scheme}://")?;
                }
                Ok(())
            }
            BadChar(c) => write!(
                f,
                "{} is not allowed in a host name (letters, digits, '-', '_' and '.' are)",
                quoted(&c.to_string())
            ),
            LabelEmpty => write!(f, "the name has an empty label (two dots in a row?)"),
            LabelTooLong(l) => write!(f, "label {} is longer than 63 bytes", quoted(l)),
            LabelHyphen(l) => write!(f, "label {} starts or ends with '-'", quoted(l)),
            NameTooLong(n) => write!(f, "the name is {n} bytes long, more than 253"),
            MissingPort(scheme) => write!(f, "{scheme}:// needs HOST:PORT"),
            BadPort(p) => write!(f, "port {} is not a number from 1 to 65535", quoted(p)),
            DnsWithPort => write!(f, "a dns:// target takes no port"),
            BadBracket => write!(f, "expected [IPV6]:PORT with an IPv6 address in brackets"),
            UnknownQueryKey(k) => write!(f, "unknown query key {}, expected min=N", quoted(k)),
            DuplicateQueryKey(k) => write!(f, "query key {} is given twice", quoted(k)),
            BadMin(v) => write!(
                f,
                "min {} is not a whole number from 1 to {MAX_MIN}",
                quoted(v)
            ),
            MinTooLarge(n) => write!(
                f,
                "min={n} is above {MAX_MIN}, the most addresses the static (musl) resolver returns for one lookup"
            ),
            MinOnLiteral(n) => write!(f, "min={n} can never be met by a single IP address"),
            BareLiteral(ip) => {
                write!(
                    f,
                    "an IP address is not a DNS name, so there is nothing to wait for; \
                     to check a port write [IPV6]:PORT or IPV4:PORT, "
                )?;
                match port_hint(&self.target, ip) {
                    Some(hint) => write!(f, "perhaps {}", quoted(&hint)),
                    None if ip.is_ipv6() => write!(f, "e.g. '[{ip}]:5432'"),
                    None => write!(f, "e.g. '{ip}:5432'"),
                }
            }
            Https => write!(
                f,
                "https:// needs TLS, which would make this 300 KB binary several times larger; \
                 check the port with tcp://HOST:443 instead, or point an http:// target at a \
                 plain-HTTP health port"
            ),
            Grpcs => write!(
                f,
                "grpcs:// needs TLS, which would make this 300 KB binary several times larger; \
                 check the port with tcp://HOST:PORT instead, or point a grpc:// target at a \
                 plaintext (h2c) port, as a Kubernetes grpc probe does"
            ),
            UrlChar(c) => write!(
                f,
                "{} is not allowed in a URL: write it %-encoded",
                quoted(&c.to_string())
            ),
            PathChar(c) => write!(
                f,
                "{} is not allowed in a path: log lines print it as it is, so it must be printable ASCII",
                quoted(&c.to_string())
            ),
            RelativePath(scheme) => write!(
                f,
                "the path must be absolute, as in {scheme}:///ABS/PATH (three slashes)"
            ),
            UnixPathTooLong(n) => write!(
                f,
                "the socket path is {n} bytes long, more than {MAX_UNIX_PATH} (the most a unix socket address holds)"
            ),
            UnknownOption(k) => write!(
                f,
                "unknown key {} after '#', expected status=CODES (e.g. #status=200-299)",
                quoted(k)
            ),
            BadStatus(v) => write!(
                f,
                "status {} is not a code from 100 to 599, a range LOW-HIGH of them, or a list of these separated by ','",
                quoted(v)
            ),
            ReversedStatus(v) => {
                write!(f, "status range {} is reversed: write LOW-HIGH", quoted(v))
            }
            MinOnHttp => write!(
                f,
                "min=N is not offered for http:// targets: one address answering is enough, \
                 and the URL's query goes to the server as written"
            ),
            Mistake(m) => write!(f, "{m}"),
            EmptyUser => write!(f, "the user name before '@' is empty"),
            NoUser(scheme) => write!(f, "{scheme}:// takes no user name"),
            NoPath(scheme) => write!(f, "{scheme}:// takes no path"),
        }
    }
}

impl std::error::Error for TargetError {}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(spelling: &str) -> Result<Target, TargetError> {
        let kind = match newcomer_mistake(spelling) {
            _ if spelling.is_empty() => Err(TargetErrorKind::Empty),
            Some(mistake) => Err(TargetErrorKind::Mistake(mistake)),
            None => read(spelling),
        };
        Ok(Target {
            spelling: spelling.to_string(),
            kind: kind.map_err(|kind| TargetError {
                target: spelling.to_string(),
                kind,
            })?,
        })
    }
}

/// A target: `SCHEME://...` or a bare one.
fn read(spelling: &str) -> Result<Kind, TargetErrorKind> {
    match spelling.split_once("://") {
        Some((scheme, rest)) => read_scheme(scheme, rest),
        None => read_bare(spelling),
    }
}

/// The schemes with a grammar of their own; the protocols spoken after a connect come from
/// `SERVICES`.
const SCHEMES: [&str; 5] = ["dns", "tcp", "http", "file", "unix"];

/// What follows `SCHEME://`, read by the scheme's grammar.
// Not inlined: the binary is smaller so (measured against the size budget).
#[inline(never)]
fn read_scheme(scheme: &str, rest: &str) -> Result<Kind, TargetErrorKind> {
    match scheme.to_ascii_lowercase().as_str() {
        "dns" => {
            let (rest, min) = split_min(rest)?;
            if let Ok(ip) = rest.parse::<IpAddr>() {
                return Err(TargetErrorKind::BareLiteral(ip));
            }
            if rest.contains(':') || rest.starts_with('[') {
                return Err(TargetErrorKind::DnsWithPort);
            }
            dns(parse_host(rest)?, min)
        }
        "tcp" => {
            let (rest, min) = split_min(rest)?;
            let (host, port) = split_host_port(rest)?;
            tcp(host, port, min, None)
        }
        "http" => {
            let (host, port, http) = read_http(rest)?;
            tcp(host, port, 1, Some(Talk::new(Arc::new(http))))
        }
        "https" => Err(TargetErrorKind::Https),
        "grpcs" => Err(TargetErrorKind::Grpcs),
        "file" => parse_path(rest, "file").map(Kind::File),
        "unix" => match parse_path(rest, "unix")? {
            path if path.len() > MAX_UNIX_PATH => Err(TargetErrorKind::UnixPathTooLong(path.len())),
            path => Ok(Kind::Unix(path)),
        },
        lower => match SERVICES.iter().find(|s| s.scheme == lower) {
            Some(service) => read_service(rest, service),
            None => Err(TargetErrorKind::UnknownScheme(scheme.to_ascii_lowercase())),
        },
    }
}

/// A target without a scheme: `NAME` or `HOST:PORT`, with `?min=N`.
fn read_bare(spelling: &str) -> Result<Kind, TargetErrorKind> {
    let (rest, min) = split_min(spelling)?;
    // An IP literal as a DNS target would be "ready" without checking anything, and
    // `::1:5432` reads like a port check: refuse it, saying how to write one.
    if let Ok(ip) = rest.parse::<IpAddr>() {
        return Err(TargetErrorKind::BareLiteral(ip));
    }
    if rest.contains(':') {
        let (host, port) = split_host_port(rest)?;
        tcp(host, port, min, None)
    } else {
        dns(parse_host(rest)?, min)
    }
}

/// `[USER@]HOST[:PORT][/PATH][?min=N]` for a protocol spoken after the connect.
// Not inlined: the binary is smaller so (measured against the size budget).
#[inline(never)]
fn read_service(rest: &str, service: &Service) -> Result<Kind, TargetErrorKind> {
    let (rest, min) = split_min(rest)?;
    if let Some(c) = rest.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(TargetErrorKind::UrlChar(c));
    }
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path).filter(|p| !p.is_empty())),
        None => (rest, None),
    };
    let scheme = service.scheme;
    let (user, authority) = match authority.rsplit_once('@') {
        Some(_) if !service.user => return Err(TargetErrorKind::NoUser(scheme)),
        Some(("", _)) => return Err(TargetErrorKind::EmptyUser),
        Some((user, authority)) => (Some(user), authority),
        None => (None, authority),
    };
    if path.is_some() && !service.path {
        return Err(TargetErrorKind::NoPath(scheme));
    }
    let (host, port, _) = host_port(authority, service.port, scheme)?;
    let talk = Talk::new((service.dialect)(user, path));
    tcp(host, port, min, Some(talk))
}

fn dns(host: Host, min: usize) -> Result<Kind, TargetErrorKind> {
    if min > 1 && matches!(host, Host::Ip(_)) {
        return Err(TargetErrorKind::MinOnLiteral(min));
    }
    Ok(Kind::Dns { host, min })
}

fn tcp(host: Host, port: u16, min: usize, talk: Option<Talk>) -> Result<Kind, TargetErrorKind> {
    if min > 1 && matches!(host, Host::Ip(_)) {
        return Err(TargetErrorKind::MinOnLiteral(min));
    }
    Ok(Kind::Port {
        host,
        port,
        min,
        talk,
    })
}

/// `TEXT?min=N` (the query is optional).
fn split_min(text: &str) -> Result<(&str, usize), TargetErrorKind> {
    match text.split_once('?') {
        Some((rest, query)) => Ok((rest, parse_query(query)?)),
        None => Ok((text, 1)),
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spelling)
    }
}

/// A newcomer's first mistakes, each with the form to write. They are caught before the grammar
/// proper, whose message would name a symptom (`'db:5432 cache:6379'` would be told about
/// IPv6 brackets).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Mistake {
    /// White space between words: several targets in one argument.
    Several(Vec<String>),
    /// Commas: a list, which only PRECHECK_TARGETS takes.
    Commas(Vec<String>),
    /// `SCHEME://user:password@...`, with the URL to write instead.
    Credentials(String),
    /// `http:/x`, `file:/x`, `http:x`: the slashes after the scheme, with the URL to write.
    Slashes(String),
    /// A path without `file://`, with the target to write.
    BarePath(String),
}

fn newcomer_mistake(spelling: &str) -> Option<Mistake> {
    // get: the spelling's first bytes may end inside a character (`ünï...`).
    let has_scheme = |s: &str| (spelling.get(..s.len())).is_some_and(|p| p.eq_ignore_ascii_case(s));
    // A path may hold anything below: spaces, commas, '@'.
    let path = has_scheme("file:") || has_scheme("unix:");
    let http = has_scheme("http");
    if let Some((scheme, rest)) = spelling.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            // `user@` alone holds no secret: the grammar refuses its '@' as it is.
            if userinfo.contains(':') && !path {
                let tail = &rest[authority.len()..];
                return Some(Mistake::Credentials(format!("{scheme}://{host}{tail}")));
            }
        }
    }
    let words = |sep: fn(char) -> bool| -> Vec<String> {
        (spelling.split(sep).filter(|w| !w.is_empty()))
            .map(String::from)
            .collect()
    };
    let several = words(char::is_whitespace);
    // In a URL a space is a character to %-encode, unless a second URL or HOST:PORT follows.
    if several.len() > 1 && !path && (!http || several[1..].iter().all(|w| w.contains(':'))) {
        return Some(Mistake::Several(several));
    }
    // A URL's path and status list hold commas.
    if spelling.contains(',') && !path && !http {
        return Some(Mistake::Commas(words(|c| c == ',')));
    }
    if let Some((scheme, rest)) = spelling.split_once(':') {
        let word = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        // Schemes whose `SCHEME:` cannot start a HOST:PORT target by mistake.
        let known = (SCHEMES.into_iter().chain(["https", "grpcs"]))
            .chain(SERVICES.iter().map(|s| s.scheme))
            .any(|s| s.eq_ignore_ascii_case(scheme));
        // `http:80` is HOST:PORT; `http:/x` and `http:x` are a URL short of slashes.
        let digits = rest.split('?').next().unwrap_or(rest);
        let port = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        if word && !rest.starts_with("//") && !port && (rest.starts_with('/') || known) {
            let rest = rest.trim_start_matches('/');
            let slashes = if path { "///" } else { "//" };
            return Some(Mistake::Slashes(format!("{scheme}:{slashes}{rest}")));
        }
    }
    if spelling.starts_with('/') {
        return Some(Mistake::BarePath(format!("file://{spelling}")));
    }
    None
}

impl fmt::Display for Mistake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, words: &[String]| {
            for (i, w) in words.iter().enumerate() {
                write!(f, "{}{}", if i == 0 { "" } else { " " }, quoted(w))?;
            }
            Ok(())
        };
        match self {
            Mistake::Several(words) => {
                write!(f, "one target per argument: write ")?;
                list(f, words)?;
                write!(f, " as separate arguments, not in one quoted string")
            }
            Mistake::Commas(words) => {
                write!(
                    f,
                    "commas separate targets only in PRECHECK_TARGETS; as arguments, \
                     one target per argument: write "
                )?;
                list(f, words)
            }
            Mistake::Credentials(url) => write!(
                f,
                "no user:password@ in a target: the command line is readable by every \
                 process on the node, and log lines print the target; a readiness probe \
                 needs no password, write {}",
                quoted(url)
            ),
            Mistake::Slashes(url) => write!(f, "a URL needs its slashes: write {}", quoted(url)),
            Mistake::BarePath(url) => write!(
                f,
                "a path to wait for is a file:// target: write {} (unix:// for a socket)",
                quoted(url)
            ),
        }
    }
}

/// For `::1:5432` or `2001:db8::5:5432`, the port check the user probably meant.
fn port_hint(target: &str, ip: &IpAddr) -> Option<String> {
    let bare = target.rsplit_once("://").map_or(target, |(_, rest)| rest);
    let bare = bare.split_once('?').map_or(bare, |(host, _)| host);
    let (host, port) = bare.rsplit_once(':')?;
    let host: Ipv6Addr = host.parse().ok()?;
    parse_port(port).ok()?;
    ip.is_ipv6().then(|| format!("[{host}]:{port}"))
}

/// `min=N`, the only query key, possibly joined with `&` to others (which are refused).
fn parse_query(query: &str) -> Result<usize, TargetErrorKind> {
    let mut min = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "min" {
            return Err(TargetErrorKind::UnknownQueryKey(key.to_string()));
        }
        if min.is_some() {
            return Err(TargetErrorKind::DuplicateQueryKey(key.to_string()));
        }
        let n: usize = value
            .parse()
            .map_err(|_| TargetErrorKind::BadMin(value.to_string()))?;
        if n == 0 {
            return Err(TargetErrorKind::BadMin(value.to_string()));
        }
        if n > MAX_MIN {
            return Err(TargetErrorKind::MinTooLarge(n));
        }
        min = Some(n);
    }
    // split('&') always yields at least one item, so min is set or we returned an error.
    Ok(min.unwrap_or(1))
}

/// What follows `http://`: `HOST[:PORT][/PATH[?QUERY]][#status=CODES]`, printable ASCII.
// Not inlined: the binary is smaller so (measured against the size budget).
#[inline(never)]
fn read_http(rest: &str) -> Result<(Host, u16, Http), TargetErrorKind> {
    if let Some(c) = rest.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(TargetErrorKind::UrlChar(c));
    }
    let (url, options) = match rest.split_once('#') {
        Some((url, options)) => (url, Some(options)),
        None => (rest, None),
    };
    let end = (url.bytes()).position(|b| b == b'/' || b == b'?');
    let (authority, path) = url.split_at(end.unwrap_or(url.len()));
    let (host, port, host_text) = host_port(authority, Some(80), "http")?;
    // `?min=N` reads like the option of tcp:// targets, but the query belongs to the server.
    if let Some(query) = path.split_once('?').map(|(_, q)| q) {
        let n = query.strip_prefix("min=").unwrap_or("");
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TargetErrorKind::MinOnHttp);
        }
    }
    let slash = if path.starts_with('/') { "" } else { "/" };
    let host_header = if port == 80 { host_text } else { authority };
    let request = format!(
        "GET {slash}{path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: service-precheck/{}\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut statuses = None;
    for pair in options.into_iter().flat_map(|o| o.split('&')) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "status" if statuses.is_some() => {
                return Err(TargetErrorKind::DuplicateQueryKey(key.to_string()));
            }
            "status" => statuses = Some(parse_statuses(value)?),
            "min" => return Err(TargetErrorKind::MinOnHttp),
            _ => return Err(TargetErrorKind::UnknownOption(key.to_string())),
        }
    }
    let statuses = statuses.unwrap_or_else(Statuses::default_set);
    Ok((host, port, Http { request, statuses }))
}

/// `HOST[:PORT]` of a URL, HOST a name, an IPv4 literal or a bracketed IPv6 literal; without a
/// port, `default` (none: the port is required). Also gives HOST as written.
fn host_port<'a>(
    authority: &'a str,
    default: Option<u16>,
    scheme: &'static str,
) -> Result<(Host, u16, &'a str), TargetErrorKind> {
    let (host_text, port) = match authority.rsplit_once(':') {
        // `[::1]` alone has colons but no port.
        Some((host, port)) if !host.starts_with('[') || host.ends_with(']') => {
            (host, parse_port(port)?)
        }
        _ => (
            authority,
            default.ok_or(TargetErrorKind::MissingPort(scheme))?,
        ),
    };
    let host = match host_text.strip_prefix('[') {
        Some(inner) => {
            let addr = inner
                .strip_suffix(']')
                .and_then(|a| a.parse::<Ipv6Addr>().ok());
            Host::Ip(IpAddr::V6(addr.ok_or(TargetErrorKind::BadBracket)?))
        }
        None if host_text.contains(':') => return Err(TargetErrorKind::BadBracket),
        None => parse_host(host_text)?,
    };
    Ok((host, port, host_text))
}

/// `200`, `200-299`, `200,204`, `200-299,304`: codes from 100 to 599.
fn parse_statuses(value: &str) -> Result<Statuses, TargetErrorKind> {
    let code = |s: &str| match s.as_bytes() {
        &[a @ b'1'..=b'5', b, c] if b.is_ascii_digit() && c.is_ascii_digit() => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(TargetErrorKind::BadStatus(s.to_string())),
    };
    let mut ranges = Vec::new();
    for item in value.split(',') {
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (code(lo)?, code(hi)?),
            None => (code(item)?, code(item)?),
        };
        if lo > hi {
            return Err(TargetErrorKind::ReversedStatus(item.to_string()));
        }
        ranges.push((lo, hi));
    }
    Ok(Statuses::given(ranges))
}

/// What follows `file://` or `unix://`: an absolute path, taken literally (no %-decoding).
fn parse_path(rest: &str, scheme: &'static str) -> Result<String, TargetErrorKind> {
    if let Some(c) = rest.chars().find(|&c| !(c == ' ' || c.is_ascii_graphic())) {
        return Err(TargetErrorKind::PathChar(c));
    }
    if !rest.starts_with('/') {
        return Err(TargetErrorKind::RelativePath(scheme));
    }
    Ok(rest.to_string())
}

/// `HOST:PORT` or `[V6]:PORT`.
fn split_host_port(s: &str) -> Result<(Host, u16), TargetErrorKind> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let (addr, port) = inner.split_once("]:").ok_or(TargetErrorKind::BadBracket)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| TargetErrorKind::BadBracket)?;
        (Host::Ip(IpAddr::V6(addr)), port)
    } else {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or(TargetErrorKind::MissingPort("tcp"))?;
        if host.contains(':') {
            return Err(TargetErrorKind::BadBracket);
        }
        (parse_host(host)?, port)
    };
    Ok((host, parse_port(port)?))
}

fn parse_port(port: &str) -> Result<u16, TargetErrorKind> {
    let bad = || TargetErrorKind::BadPort(port.to_string());
    // u16::from_str accepts a leading '+'; a port is digits only.
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(p) => Ok(p),
    }
}

/// An IP literal, or a host name checked against RFC 1123 lengths and characters. Underscores
/// are allowed because real zones use them (service records, some internal names) and
/// getaddrinfo passes them through; everything else outside letters, digits, '-' and '.' is not.
fn parse_host(s: &str) -> Result<Host, TargetErrorKind> {
    if s.is_empty() {
        return Err(TargetErrorKind::EmptyHost);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(TargetErrorKind::BadChar(c));
    }
    // A trailing dot makes the name absolute (no search list); it is not an empty label.
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.len() > 253 {
        return Err(TargetErrorKind::NameTooLong(name.len()));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(TargetErrorKind::LabelEmpty);
        }
        if label.len() > 63 {
            return Err(TargetErrorKind::LabelTooLong(label.to_string()));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(TargetErrorKind::LabelHyphen(label.to_string()));
        }
    }
    // Looked up in lower case: DNS is case-insensitive, but musl matches /etc/hosts entries
    // case-sensitively (glibc does not), so `DB.shop` would never find `db.shop` there. The
    // target's spelling keeps the case typed, for log lines.
    Ok(Host::Name(s.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Target {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn error(s: &str) -> String {
        match s.parse::<Target>() {
            Ok(t) => panic!("{s:?} should not parse, got {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn name(n: &str) -> Host {
        Host::Name(n.to_string())
    }

    fn dns(s: &str) -> (Host, usize) {
        match parse(s).kind {
            Kind::Dns { host, min } => (host, min),
            k => panic!("{s:?} is not a DNS target: {k:?}"),
        }
    }

    fn tcp(s: &str) -> (Host, u16, usize) {
        match parse(s).kind {
            Kind::Port {
                host,
                port,
                min,
                talk: None,
            } => (host, port, min),
            k => panic!("{s:?} is not a TCP target: {k:?}"),
        }
    }

    /// An http:// target's host, port and request, parsed as the target parser does.
    struct H {
        host: Host,
        port: u16,
        request: String,
        statuses: Statuses,
    }

    fn http(s: &str) -> H {
        assert!(
            matches!(parse(s).kind, Kind::Port { talk: Some(_), .. }),
            "{s:?} is not an HTTP target"
        );
        let rest = s.split_once("://").expect("a scheme").1;
        let (host, port, http) = read_http(rest).expect("parses");
        H {
            host,
            port,
            request: http.request,
            statuses: http.statuses,
        }
    }

    #[test]
    fn dns_names() {
        for s in ["mysql-0.mysql.ns", "dns://mysql-0.mysql.ns"] {
            assert_eq!(dns(s), (name("mysql-0.mysql.ns"), 1));
            assert_eq!(parse(s).spelling, s);
        }
        assert_eq!(dns("localhost").0, name("localhost"));
        assert_eq!(dns("db.example.com.").0, name("db.example.com."));
        assert_eq!(dns("DNS://Upper.Case").0, name("upper.case"));
        assert_eq!(parse("DB.Shop:5432").spelling, "DB.Shop:5432");
        assert_eq!(tcp("DB.Shop:5432").0, name("db.shop"));
        assert_eq!(dns("_srv._tcp.x").0, name("_srv._tcp.x"));
    }

    #[test]
    fn bare_literals_are_refused_with_a_hint() {
        let cases = [
            ("::1:5432", "perhaps '[::1]:5432'"),
            ("2001:db8::5:5432", "perhaps '[2001:db8::5]:5432'"),
            ("dns://::1:5432", "perhaps '[::1]:5432'"),
            ("::1", "e.g. '[::1]:5432'"),
            ("dns://::1", "e.g. '[::1]:5432'"),
            ("127.0.0.1", "e.g. '127.0.0.1:5432'"),
            ("dns://10.0.0.5", "e.g. '10.0.0.5:5432'"),
            ("10.0.0.5?min=1", "e.g. '10.0.0.5:5432'"),
        ];
        for (input, hint) in cases {
            let got = error(input);
            assert!(got.contains("an IP address is not a DNS name"), "{got}");
            assert!(got.contains("[IPV6]:PORT or IPV4:PORT"), "{got}");
            assert!(got.contains(hint), "{input:?}: {got:?} lacks {hint:?}");
        }
    }

    #[test]
    fn tcp_targets() {
        assert_eq!(tcp("db:5432"), (name("db"), 5432, 1));
        assert_eq!(tcp("tcp://db.ns:5432"), (name("db.ns"), 5432, 1));
        let v6 = Host::Ip("::1".parse().unwrap());
        assert_eq!(tcp("[::1]:5432"), (v6, 5432, 1));
        assert_eq!(tcp("tcp://[::1]:1").1, 1);
        assert_eq!(tcp("127.0.0.1:65535").1, 65535);
    }

    #[test]
    fn min_query() {
        assert_eq!(dns("dns://zk-headless.ns?min=3").1, 3);
        assert_eq!(
            tcp("tcp://zk-headless.ns:2181?min=2"),
            (name("zk-headless.ns"), 2181, 2)
        );
        assert_eq!(tcp("zk:2181?min=48").2, 48);
        assert_eq!(dns("zk?min=1").1, 1);
    }

    #[test]
    fn usage_errors_quote_the_target() {
        let cases = [
            ("", "invalid target '': it is empty"),
            ("dns://", "the host is empty"),
            (":80", "the host is empty"),
            (
                "ftp://x",
                "unknown scheme 'ftp://', expected dns://, tcp://, http://, file://, unix://, postgres://, postgresql://, mysql://, redis://, zk:// or grpc://",
            ),
            ("a:b:c", "expected [IPV6]:PORT"),
            ("db\u{1b}[2J", "'\\u{1b}' is not allowed"),
            ("my host", "one target per argument: write 'my' 'host'"),
            ("db@x", "'@' is not allowed"),
            ("a..b", "empty label"),
            (".a", "empty label"),
            ("-a.b", "label '-a' starts or ends with '-'"),
            ("db:0", "port '0' is not a number from 1 to 65535"),
            ("db:65536", "port '65536'"),
            ("db:http", "port 'http'"),
            ("db:+80", "port '+80'"),
            ("db:", "port ''"),
            ("tcp://db", "tcp:// needs HOST:PORT"),
            ("dns://db:53", "a dns:// target takes no port"),
            ("dns://[::1]:53", "a dns:// target takes no port"),
            ("[::1]", "expected [IPV6]:PORT"),
            ("[db]:80", "expected [IPV6]:PORT"),
            ("db?max=3", "unknown query key 'max'"),
            ("db?min=0", "min '0' is not a whole number"),
            ("db?min=x", "min 'x'"),
            ("db?min=", "min ''"),
            ("db?min=2&min=3", "query key 'min' is given twice"),
            ("db?min=49", "min=49 is above 48"),
            (
                "127.0.0.1:80?min=2",
                "min=2 can never be met by a single IP address",
            ),
        ];
        for (input, want) in cases {
            let got = error(input);
            assert!(got.contains(want), "{input:?}: {got:?} lacks {want:?}");
            assert!(
                got.starts_with(&format!("invalid target {}: ", quoted(input))),
                "{got:?} does not quote {input:?}"
            );
        }
    }

    #[test]
    fn lengths() {
        let label63 = "a".repeat(63);
        assert_eq!(dns(&label63).0, name(&label63));
        assert!(error(&"a".repeat(64)).contains("longer than 63 bytes"));
        // 4 labels of 63 plus 3 dots = 255 bytes.
        let long = [label63.as_str(); 4].join(".");
        assert!(error(&long).contains("255 bytes long, more than 253"));
        let ok = format!("{}.{}.{}.{}", label63, label63, label63, "a".repeat(61));
        assert_eq!(ok.len(), 253);
        assert_eq!(dns(&ok).0, name(&ok));
        assert_eq!(dns(&format!("{ok}.")).0, name(&format!("{ok}.")));
    }

    /// The request line and the Host header of an http:// target.
    fn request(s: &str) -> (String, String) {
        let h = http(s);
        let lines: Vec<&str> = h.request.split("\r\n").collect();
        let tail = format!(
            "User-Agent: service-precheck/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(h.request.ends_with(&tail), "{:?}", h.request);
        (lines[0].to_string(), lines[1].to_string())
    }

    #[test]
    fn http_targets() {
        let h = http("http://keycloak:8080/health/ready");
        assert_eq!((h.host, h.port), (name("keycloak"), 8080));
        assert_eq!(h.statuses, Statuses::default_set());
        let get =
            |line: &str, host: &str| (format!("GET {line} HTTP/1.1"), format!("Host: {host}"));
        assert_eq!(
            request("http://keycloak:8080/health/ready"),
            get("/health/ready", "keycloak:8080")
        );
        assert_eq!(http("HTTP://Es:80").port, 80);
        assert_eq!(request("HTTP://Es:80"), get("/", "Es"));
        let t = "http://es:9200/_cluster/health?wait_for_status=yellow&timeout=1s#status=200";
        assert_eq!(
            request(t),
            get(
                "/_cluster/health?wait_for_status=yellow&timeout=1s",
                "es:9200"
            )
        );
        assert_eq!(http(t).statuses.to_string(), "200");
        assert!(http(t).statuses.given);
        // The query reaches the server byte for byte: no decoding, no normalising.
        assert_eq!(
            request("http://x?a=%2F..%20&b=c/d"),
            get("/?a=%2F..%20&b=c/d", "x")
        );
        assert_eq!(request("http://x/?min=2&max=3"), get("/?min=2&max=3", "x"));
        let h = http("http://[::1]:8080/");
        assert_eq!((h.host, h.port), (Host::Ip("::1".parse().unwrap()), 8080));
        assert_eq!(request("http://[::1]:8080/"), get("/", "[::1]:8080"));
        assert_eq!(http("http://[fd00::1]/x").port, 80);
        assert_eq!(request("http://[fd00::1]/x"), get("/x", "[fd00::1]"));
        let h = http("http://127.0.0.1:80/x");
        assert_eq!(h.host, Host::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(request("http://127.0.0.1:80/x"), get("/x", "127.0.0.1"));
    }

    #[test]
    fn status_sets() {
        let set = |s: &str| http(&format!("http://x/#status={s}")).statuses;
        let s = set("200-299");
        assert!(s.contains(200) && s.contains(299) && !s.contains(300) && !s.contains(199));
        let s = set("200,204");
        assert!(s.contains(204) && !s.contains(201));
        assert_eq!(s.to_string(), "200,204");
        assert_eq!(set("100-599,418").to_string(), "100-599,418");
        let d = Statuses::default_set();
        assert!(d.contains(200) && d.contains(399) && !d.contains(400) && !d.contains(199));
        assert!(!d.given);
    }

    #[test]
    fn file_and_unix_targets() {
        let t = parse("file:///run/secrets/db-password");
        assert_eq!(t.kind, Kind::File("/run/secrets/db-password".into()));
        assert_eq!(t.host(), None);
        // Taken literally: no %-decoding, and `?` and `#` are part of the name.
        assert_eq!(
            parse("file:///a%20b?c#d").kind,
            Kind::File("/a%20b?c#d".into())
        );
        assert_eq!(parse("file:///").kind, Kind::File("/".into()));
        assert_eq!(
            parse("file:///tmp/my file").kind,
            Kind::File("/tmp/my file".into())
        );
        assert_eq!(
            parse("UNIX:///run/docker.sock").kind,
            Kind::Unix("/run/docker.sock".into())
        );
        let longest = format!("/{}", "s".repeat(MAX_UNIX_PATH - 1));
        assert_eq!(
            parse(&format!("unix://{longest}")).kind,
            Kind::Unix(longest)
        );
    }

    #[test]
    fn malformed_urls_are_usage_errors_that_quote_the_target() {
        let cases = [
            ("https://es:9200/", "https:// needs TLS"),
            ("HTTPS://es/", "check the port with tcp://HOST:443"),
            ("https://es/", "plain-HTTP health port"),
            ("grpcs://etcd:2379", "grpcs:// needs TLS"),
            ("GRPCS://etcd:2379/x", "a plaintext (h2c) port"),
            ("grpc://etcd", "grpc:// needs HOST:PORT"),
            ("grpc://u@etcd:2379", "grpc:// takes no user name"),
            ("redis://db:6379/0", "redis:// takes no path"),
            ("zk://@zk:2181", "zk:// takes no user name"),
            ("mysql://@db", "the user name before '@' is empty"),
            ("http://", "the host is empty"),
            ("http:///health", "the host is empty"),
            ("http://:8080/", "the host is empty"),
            ("http://?x", "the host is empty"),
            ("http://es:/", "port '' is not a number"),
            ("http://es:0/", "port '0'"),
            ("http://es:65536", "port '65536'"),
            ("http://es:http/", "port 'http'"),
            ("http://es:+80", "port '+80'"),
            ("http://::1/", "expected [IPV6]"),
            ("http://[::1/", "expected [IPV6]"),
            ("http://[es]:80/", "expected [IPV6]"),
            ("http://[::1]x/", "expected [IPV6]"),
            ("http://user@es/", "'@' is not allowed in a host name"),
            ("http://es..x/", "empty label"),
            (
                "http://es/a b",
                "' ' is not allowed in a URL: write it %-encoded",
            ),
            ("http://es/\u{e9}", "'\u{e9}' is not allowed in a URL"),
            ("http://es/\u{1b}[2J", "'\\u{1b}' is not allowed in a URL"),
            (
                "http://es/x\r\nX-Evil: 1",
                "'\\u{d}' is not allowed in a URL",
            ),
            ("http://es/\u{202e}", "'\\u{202e}' is not allowed in a URL"),
            ("http://es/#", "unknown key '' after '#'"),
            (
                "http://es/#stat=200",
                "unknown key 'stat' after '#', expected status=CODES",
            ),
            ("http://es/#status=200&x=1", "unknown key 'x'"),
            (
                "http://es/#status=200&status=204",
                "query key 'status' is given twice",
            ),
            (
                "http://es/#status=",
                "status '' is not a code from 100 to 599",
            ),
            ("http://es/#status=99", "status '99'"),
            ("http://es/#status=600", "status '600'"),
            ("http://es/#status=+200", "status '+200'"),
            ("http://es/#status=200-", "status ''"),
            ("http://es/#status=200,,204", "status ''"),
            ("http://es/#status=2xx", "status '2xx'"),
            ("http://es/#status=200-299-300", "status '299-300'"),
            (
                "http://es/#status=299-200",
                "status range '299-200' is reversed",
            ),
            (
                "http://es/?min=2",
                "min=N is not offered for http:// targets",
            ),
            ("http://es?min=2", "min=N is not offered"),
            ("http://es/#min=2", "min=N is not offered"),
            (
                "file://relative/path",
                "the path must be absolute, as in file:///ABS/PATH",
            ),
            ("file://", "the path must be absolute"),
            (
                "unix://run/x.sock",
                "as in unix:///ABS/PATH (three slashes)",
            ),
            (
                "file:///tmp/\u{1b}]0;x\u{7}",
                "'\\u{1b}' is not allowed in a path",
            ),
            ("file:///tmp/a\nb", "'\\u{a}' is not allowed in a path"),
            (
                "unix:///tmp/\u{200b}",
                "'\\u{200b}' is not allowed in a path",
            ),
            (
                "file:///tmp/caf\u{e9}",
                "'\u{e9}' is not allowed in a path: log lines print it as it is",
            ),
        ];
        for (input, want) in cases {
            let got = error(input);
            assert!(got.contains(want), "{input:?}: {got:?} lacks {want:?}");
            assert!(
                got.starts_with(&format!("invalid target {}: ", quoted(input))),
                "{got:?} does not quote {input:?}"
            );
        }
        let long = format!("unix:///{}", "s".repeat(MAX_UNIX_PATH));
        assert!(error(&long).contains("is 108 bytes long, more than 107"));
    }

    #[test]
    fn newcomer_mistakes_name_the_form_to_write() {
        let cases = [
            (
                "db:5432 cache:6379",
                "one target per argument: write 'db:5432' 'cache:6379' as separate arguments",
            ),
            ("http://a/ http://b:81/", "write 'http://a/' 'http://b:81/'"),
            (
                "a:5432,b:6379",
                "commas separate targets only in PRECHECK_TARGETS; as arguments, one target \
                 per argument: write 'a:5432' 'b:6379'",
            ),
            ("db,cache", "write 'db' 'cache'"),
            (
                "http://user:pw@localhost:80/",
                "no user:password@ in a target: the command line is readable by every process on the node",
            ),
            (
                "http://user:pw@localhost:80/x?y#z",
                "write 'http://localhost:80/x?y#z'",
            ),
            (
                "postgres://app:s3cret@db:5432/app",
                "write 'postgres://db:5432/app'",
            ),
            (
                "redis://:pw@cache:6379",
                "needs no password, write 'redis://cache:6379'",
            ),
            ("zk://u:p@zk-0:2181", "write 'zk://zk-0:2181'"),
            ("mysql://root:pw@db/", "write 'mysql://db/'"),
            (
                "http:/localhost/",
                "a URL needs its slashes: write 'http://localhost/'",
            ),
            ("HTTP:localhost", "write 'HTTP://localhost'"),
            ("file:/tmp/x", "write 'file:///tmp/x'"),
            ("unix:run/x.sock", "write 'unix:///run/x.sock'"),
            (
                "/tmp/x",
                "a path to wait for is a file:// target: write 'file:///tmp/x'",
            ),
        ];
        for (input, want) in cases {
            let got = error(input);
            assert!(got.contains(want), "{input:?}: {got:?} lacks {want:?}");
            assert!(got.starts_with(&format!("invalid target {}: ", quoted(input))));
        }
        // What looks alike but is right, or wrong for another reason, keeps its meaning.
        assert_eq!(tcp("http:80").1, 80);
        assert_eq!(tcp("mysql:3306").0, name("mysql"));
        assert_eq!(tcp("redis:6379?min=2").2, 2);
        assert!(error("http://es/a b").contains("%-encoded"));
        assert!(error("http://user@es/").contains("'@' is not allowed"));
        assert!(error("a:b:c").contains("expected [IPV6]:PORT"));
        assert_eq!(
            parse("http://es/#status=200,204").spelling,
            "http://es/#status=200,204"
        );
        assert_eq!(
            parse("file:///a b,c@d:e").kind,
            Kind::File("/a b,c@d:e".into())
        );
    }
}
