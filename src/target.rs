//! The target grammar: what the user asks to wait for, parsed once at the edge.
//!
//! `NAME`, `dns://NAME`, `HOST:PORT`, `tcp://HOST:PORT` and `[V6]:PORT`, each optionally followed
//! by `?min=N`. A malformed target is a usage error whose message quotes the target.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use crate::quote::quoted;

/// The most addresses musl's getaddrinfo returns for one lookup (MAXADDRS in musl's lookup.h).
/// A `min` above it could never be met by the shipped static binary, so it is refused.
pub const MAX_MIN: usize = 48;

/// One thing to wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The target exactly as the user wrote it, for log lines.
    pub spelling: String,
    pub host: Host,
    /// `Some(port)` for a TCP target, `None` for a DNS target.
    pub port: Option<u16>,
    /// How many distinct addresses must resolve (DNS) or accept a connection (TCP).
    pub min: usize,
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
    MissingPort,
    BadPort(String),
    DnsWithPort,
    BadBracket,
    UnknownQueryKey(String),
    DuplicateQueryKey(String),
    BadMin(String),
    MinTooLarge(usize),
    MinOnLiteral(usize),
    BareLiteral(IpAddr),
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TargetErrorKind::*;
        write!(f, "invalid target {}: ", quoted(&self.target))?;
        match &self.kind {
            Empty => write!(f, "it is empty"),
            EmptyHost => write!(f, "the host is empty"),
            UnknownScheme(s) => write!(
                f,
                "unknown scheme {}, expected dns:// or tcp://",
                quoted(&format!("{s}://"))
            ),
            BadChar(c) => write!(
                f,
                "{} is not allowed in a host name (letters, digits, '-', '_' and '.' are)",
                quoted(&c.to_string())
            ),
            LabelEmpty => write!(f, "the name has an empty label (two dots in a row?)"),
            LabelTooLong(l) => write!(f, "label {} is longer than 63 bytes", quoted(l)),
            LabelHyphen(l) => write!(f, "label {} starts or ends with '-'", quoted(l)),
            NameTooLong(n) => write!(f, "the name is {n} bytes long, more than 253"),
            MissingPort => write!(f, "tcp:// needs HOST:PORT"),
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
        }
    }
}

impl std::error::Error for TargetError {}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(spelling: &str) -> Result<Target, TargetError> {
        let err = |kind| TargetError {
            target: spelling.to_string(),
            kind,
        };
        if spelling.is_empty() {
            return Err(err(TargetErrorKind::Empty));
        }
        let (rest, query) = match spelling.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (spelling, None),
        };
        let min = match query {
            Some(query) => parse_query(query).map_err(err)?,
            None => 1,
        };
        let (scheme, rest) = match rest.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, rest),
        };
        let (host, port) = match scheme.as_deref() {
            Some("dns") => {
                if let Ok(ip) = rest.parse::<IpAddr>() {
                    return Err(err(TargetErrorKind::BareLiteral(ip)));
                }
                if rest.contains(':') || rest.starts_with('[') {
                    return Err(err(TargetErrorKind::DnsWithPort));
                }
                (parse_host(rest).map_err(err)?, None)
            }
            Some("tcp") => {
                let (host, port) = split_host_port(rest).map_err(err)?;
                (host, Some(port))
            }
            Some(other) => return Err(err(TargetErrorKind::UnknownScheme(other.to_string()))),
            None => {
                // An IP literal as a DNS target would be "ready" without checking anything, and
                // `::1:5432` reads like a port check: refuse it, saying how to write one.
                if let Ok(ip) = rest.parse::<IpAddr>() {
                    return Err(err(TargetErrorKind::BareLiteral(ip)));
                }
                if rest.contains(':') {
                    let (host, port) = split_host_port(rest).map_err(err)?;
                    (host, Some(port))
                } else {
                    (parse_host(rest).map_err(err)?, None)
                }
            }
        };
        if min > 1 && matches!(host, Host::Ip(_)) {
            return Err(err(TargetErrorKind::MinOnLiteral(min)));
        }
        Ok(Target {
            spelling: spelling.to_string(),
            host,
            port,
            min,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spelling)
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

/// `HOST:PORT` or `[V6]:PORT`.
fn split_host_port(s: &str) -> Result<(Host, u16), TargetErrorKind> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let (addr, port) = inner.split_once("]:").ok_or(TargetErrorKind::BadBracket)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| TargetErrorKind::BadBracket)?;
        (Host::Ip(IpAddr::V6(addr)), port)
    } else {
        let (host, port) = s.rsplit_once(':').ok_or(TargetErrorKind::MissingPort)?;
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
    Ok(Host::Name(s.to_string()))
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

    #[test]
    fn dns_names() {
        for s in ["mysql-0.mysql.ns", "dns://mysql-0.mysql.ns"] {
            let t = parse(s);
            assert_eq!(t.host, name("mysql-0.mysql.ns"));
            assert_eq!(t.port, None);
            assert_eq!(t.min, 1);
            assert_eq!(t.spelling, s);
        }
        assert_eq!(parse("localhost").host, name("localhost"));
        assert_eq!(parse("db.example.com.").host, name("db.example.com."));
        assert_eq!(parse("DNS://Upper.Case").host, name("Upper.Case"));
        assert_eq!(parse("_srv._tcp.x").host, name("_srv._tcp.x"));
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
        let t = parse("db:5432");
        assert_eq!((t.host, t.port), (name("db"), Some(5432)));
        let t = parse("tcp://db.ns:5432");
        assert_eq!((t.host, t.port), (name("db.ns"), Some(5432)));
        let t = parse("[::1]:5432");
        assert_eq!(
            (t.host, t.port),
            (Host::Ip("::1".parse().unwrap()), Some(5432))
        );
        let t = parse("tcp://[::1]:1");
        assert_eq!(t.port, Some(1));
        let t = parse("127.0.0.1:65535");
        assert_eq!(t.port, Some(65535));
    }

    #[test]
    fn min_query() {
        assert_eq!(parse("dns://zk-headless.ns?min=3").min, 3);
        let t = parse("tcp://zk-headless.ns:2181?min=2");
        assert_eq!((t.min, t.port), (2, Some(2181)));
        assert_eq!(parse("zk:2181?min=48").min, 48);
        assert_eq!(parse("zk?min=1").min, 1);
    }

    #[test]
    fn usage_errors_quote_the_target() {
        let cases = [
            ("", "invalid target '': it is empty"),
            ("dns://", "the host is empty"),
            (":80", "the host is empty"),
            ("http://x", "unknown scheme 'http://'"),
            ("a:b:c", "expected [IPV6]:PORT"),
            ("db\u{1b}[2J", "'\\u{1b}' is not allowed"),
            ("my host", "' ' is not allowed in a host name"),
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
        assert_eq!(parse(&label63).host, name(&label63));
        assert!(error(&"a".repeat(64)).contains("longer than 63 bytes"));
        // 4 labels of 63 plus 3 dots = 255 bytes.
        let long = [label63.as_str(); 4].join(".");
        assert!(error(&long).contains("255 bytes long, more than 253"));
        let ok = format!("{}.{}.{}.{}", label63, label63, label63, "a".repeat(61));
        assert_eq!(ok.len(), 253);
        assert_eq!(parse(&ok).host, name(&ok));
        assert_eq!(parse(&format!("{ok}.")).host, name(&format!("{ok}.")));
    }
}
