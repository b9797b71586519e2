//! One attempt at one target: resolve the name or connect to the port, and say *why* it failed.
//!
//! Each family is looked up on its own, never with AF_UNSPEC: under musl a broken AAAA answer
//! fails a whole AF_UNSPEC lookup and would hide a good A answer (../shared/RESOLVER-FACTS.md).
//! Nothing is cached: every attempt asks the system resolver afresh, as the application will.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use dns_lookup::{AddrInfoHints, LookupError, LookupErrorKind};

use crate::cli::Family;
use crate::target::{Host, Target};

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The addresses that resolved (DNS) or accepted a connection (TCP), sorted.
    Ready(Vec<String>),
    NotReady(Reason),
    /// A request the resolver calls malformed: a bug here, not a state of the world.
    Fatal(String),
}

/// Why a target is not ready, in words a person understands. Equal reasons are not logged again
/// (but every 10 s), so a reason holds only what matters to the reader, in a stable order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    NoSuchName,
    NoAddress(Family),
    ServerFailure,
    LookupFailed,
    Resolver(String),
    TooFew {
        have: Vec<IpAddr>,
        want: usize,
    },
    Connect(SocketAddr, ConnectError),
    TooFewAccept {
        have: usize,
        want: usize,
        failure: Option<(SocketAddr, ConnectError)>,
    },
    NoAnswerYet,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectError {
    Refused,
    TimedOut(Duration),
    Other(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoSuchName => write!(f, "no such name (NXDOMAIN)"),
            Reason::NoAddress(Family::V4) => write!(f, "the name has no IPv4 address (NODATA)"),
            Reason::NoAddress(Family::V6) => write!(f, "the name has no IPv6 address (NODATA)"),
            Reason::NoAddress(Family::Both) => write!(f, "the name has no address (NODATA)"),
            Reason::ServerFailure => write!(f, "DNS server failure or timeout (EAI_AGAIN)"),
            Reason::LookupFailed => write!(f, "DNS lookup failed (EAI_FAIL)"),
            Reason::Resolver(text) => write!(f, "resolver error: {text}"),
            Reason::TooFew { have, want } => {
                write!(f, "only {} of {want} addresses: {}", have.len(), join(have))
            }
            Reason::Connect(addr, e) => write_connect(f, *addr, e),
            Reason::TooFewAccept {
                have,
                want,
                failure,
            } => {
                write!(f, "only {have} of {want} addresses accept connections")?;
                match failure {
                    Some((addr, e)) => {
                        f.write_str("; ")?;
                        write_connect(f, *addr, e)
                    }
                    None => write!(f, "; the name has fewer addresses"),
                }
            }
            Reason::NoAnswerYet => write!(f, "no answer yet"),
        }
    }
}

fn write_connect(f: &mut fmt::Formatter<'_>, addr: SocketAddr, e: &ConnectError) -> fmt::Result {
    match e {
        ConnectError::Refused => write!(f, "connection refused ({addr})"),
        ConnectError::TimedOut(t) => write!(
            f,
            "connect timed out after {} ({addr})",
            humantime::format_duration(*t)
        ),
        ConnectError::Other(text) => write!(f, "connect failed ({addr}): {text}"),
    }
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One attempt at `target`, a family at a time: IPv4 first, then IPv6 only when IPv4 did not
/// already make the target ready, the DNS service answered and the name exists. So a broken
/// AAAA answer never delays a good A answer, and the common case costs one lookup.
///
/// `min` counts the addresses of one family: in a dual-stack cluster every pod of a headless
/// service has an A and an AAAA record, and two pods must not pass for `min=3`.
pub fn attempt(target: &Target, family: Family, connect_timeout: Duration) -> Outcome {
    let families: &[(Family, i32)] = match family {
        Family::V4 => &[(Family::V4, libc::AF_INET)],
        Family::V6 => &[(Family::V6, libc::AF_INET6)],
        Family::Both => &[(Family::V4, libc::AF_INET), (Family::V6, libc::AF_INET6)],
    };
    // The family that came closest: its addresses (DNS) or those that accepted (TCP).
    let mut best_resolved: Vec<IpAddr> = Vec::new();
    let mut best_accepted: Vec<SocketAddr> = Vec::new();
    let mut resolved_any = false;
    let mut failure: Option<(SocketAddr, ConnectError)> = None;
    let mut worst: Option<Lookup> = None;
    for &(fam, af) in families {
        let mut found = match &target.host {
            Host::Ip(ip) if (af == libc::AF_INET) == ip.is_ipv4() => vec![*ip],
            Host::Ip(_) => continue,
            Host::Name(name) => match lookup(name, af) {
                Ok(found) if !found.is_empty() => found,
                Ok(_) => {
                    worst = worse(worst, Lookup::NoData);
                    continue;
                }
                Err(e) => match classify(e) {
                    Lookup::Fatal(text) => return Outcome::Fatal(fatal(name, fam, &text)),
                    // The DNS service is failing (SERVFAIL, REFUSED, no answer). AAAA would
                    // fail alike after another full resolver timeout, doubling the wait for
                    // this reason and for the next attempt. `-6` asks AAAA alone.
                    Lookup::Again if fam == Family::V4 => {
                        worst = worse(worst, Lookup::Again);
                        break;
                    }
                    // The name exists for no record type (RFC 8020): AAAA cannot have it either.
                    Lookup::NoName if fam == Family::V4 && NONAME_IS_FINAL => {
                        worst = worse(worst, Lookup::NoName);
                        break;
                    }
                    lookup => {
                        worst = worse(worst, lookup);
                        continue;
                    }
                },
            },
        };
        found.sort_unstable();
        found.dedup();
        resolved_any = true;
        match target.port {
            None if found.len() >= target.min => return Outcome::Ready(strings(&found)),
            None if found.len() > best_resolved.len() => best_resolved = found,
            None => {}
            Some(port) => {
                let (ok, failed) = connect_all(&found, port, connect_timeout);
                failure = failure.or(failed);
                if ok.len() >= target.min {
                    return Outcome::Ready(strings(&ok));
                }
                if ok.len() > best_accepted.len() {
                    best_accepted = ok;
                }
            }
        }
    }
    Outcome::NotReady(match (target.port, failure) {
        _ if !resolved_any => match worst {
            Some(Lookup::Again) => Reason::ServerFailure,
            Some(Lookup::Fail) => Reason::LookupFailed,
            Some(Lookup::Other(text)) => Reason::Resolver(text),
            Some(Lookup::NoName) => Reason::NoSuchName,
            // NODATA everywhere, or no error and no address: the name exists without addresses.
            Some(Lookup::NoData) | Some(Lookup::Fatal(_)) | None => Reason::NoAddress(family),
        },
        (None, _) => Reason::TooFew {
            have: best_resolved,
            want: target.min,
        },
        (Some(_), Some((addr, e))) if target.min == 1 => Reason::Connect(addr, e),
        (Some(_), failure) => Reason::TooFewAccept {
            have: best_accepted.len(),
            want: target.min,
            failure,
        },
    })
}

/// Whether EAI_NONAME for AF_INET proves that AF_INET6 would find nothing either. Under musl it
/// does: a name that exists with other types only, in DNS or in /etc/hosts, is EAI_NODATA. glibc
/// says EAI_NONAME for an IPv6-only /etc/hosts name asked for AF_INET, so it asks AAAA anyway.
/// Skipping that AAAA lookup halves the queries (times the search list) that a pod waiting for
/// a name that does not exist yet sends to the cluster DNS.
const NONAME_IS_FINAL: bool = cfg!(target_env = "musl");

fn strings<'a, T: fmt::Display + 'a>(items: impl IntoIterator<Item = &'a T>) -> Vec<String> {
    items.into_iter().map(|i| i.to_string()).collect()
}

fn worse(worst: Option<Lookup>, new: Lookup) -> Option<Lookup> {
    match worst {
        Some(w) if w.rank() >= new.rank() => Some(w),
        _ => Some(new),
    }
}

fn fatal(name: &str, family: Family, text: &str) -> String {
    let af = if family == Family::V4 {
        "AF_INET"
    } else {
        "AF_INET6"
    };
    format!("getaddrinfo({name:?}, {af}) rejected the request: {text}")
}

fn lookup(name: &str, af: i32) -> Result<Vec<IpAddr>, LookupError> {
    let hints = AddrInfoHints {
        // No AI_ADDRCONFIG: musl and glibc apply it differently, and a pod's interfaces say
        // nothing about whether a name is ready.
        flags: 0,
        address: af,
        socktype: libc::SOCK_STREAM,
        protocol: 0,
    };
    let mut found = Vec::new();
    // An entry that cannot be decoded (an unknown family) is skipped, not fatal.
    for info in dns_lookup::getaddrinfo(Some(name), None, Some(hints))?.flatten() {
        let ip = info.sockaddr.ip();
        let wanted = match af {
            libc::AF_INET => ip.is_ipv4(),
            _ => ip.is_ipv6(),
        };
        if wanted {
            found.push(ip);
        }
    }
    Ok(found)
}

/// A getaddrinfo error as the waiting loop sees it. Ordered by `rank`: when both families
/// fail, the reason shown is the one that says most about the DNS service.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    NoName,
    NoData,
    Other(String),
    Fail,
    Again,
    Fatal(String),
}

impl Lookup {
    fn rank(&self) -> u8 {
        match self {
            // Some resolvers say EAI_NONAME for NODATA; a NODATA from the other family proves
            // the name exists, so NODATA outranks NONAME.
            Lookup::NoName => 0,
            Lookup::NoData => 1,
            Lookup::Other(_) => 2,
            Lookup::Fail => 3,
            Lookup::Again => 4,
            Lookup::Fatal(_) => 5,
        }
    }
}

/// Maps a getaddrinfo error to "not ready yet, because …" or "this is a bug, stop".
fn classify(e: LookupError) -> Lookup {
    match e.kind() {
        LookupErrorKind::NoName => Lookup::NoName,
        LookupErrorKind::NoData => Lookup::NoData,
        LookupErrorKind::Again => Lookup::Again,
        LookupErrorKind::Fail => Lookup::Fail,
        LookupErrorKind::Badflags
        | LookupErrorKind::Family
        | LookupErrorKind::Socktype
        | LookupErrorKind::Service => Lookup::Fatal(gai_text(e)),
        LookupErrorKind::System
        | LookupErrorKind::Memory
        | LookupErrorKind::Unknown
        | LookupErrorKind::IO => Lookup::Other(gai_text(e)),
    }
}

fn gai_text(e: LookupError) -> String {
    let code = e.error_num();
    // dns-lookup turns the code into gai_strerror's text (or errno's, for EAI_SYSTEM).
    format!("{} (code {code})", io::Error::from(e))
}

/// Connects to every address at once (a hung address must not delay the others). Returns the
/// addresses that accepted and the first failure, in `ips` order.
fn connect_all(
    ips: &[IpAddr],
    port: u16,
    timeout: Duration,
) -> (Vec<SocketAddr>, Option<(SocketAddr, ConnectError)>) {
    let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
    let results: Vec<Result<(), ConnectError>> = if addrs.len() == 1 {
        vec![connect(addrs[0], timeout)]
    } else {
        thread::scope(|s| {
            let handles: Vec<_> = addrs
                .iter()
                .map(|&addr| {
                    thread::Builder::new()
                        .stack_size(64 * 1024)
                        .spawn_scoped(s, move || connect(addr, timeout))
                })
                .collect();
            handles
                .into_iter()
                .zip(&addrs)
                .map(|(handle, &addr)| match handle {
                    // Panics abort the process (panic = "abort"), so join only returns Ok.
                    Ok(h) => h
                        .join()
                        .unwrap_or(Err(ConnectError::Other("panicked".into()))),
                    // No thread to spare: connect from this one instead.
                    Err(_) => connect(addr, timeout),
                })
                .collect()
        })
    };
    let mut ok = Vec::new();
    let mut failure = None;
    for (addr, result) in addrs.into_iter().zip(results) {
        match result {
            Ok(()) => ok.push(addr),
            Err(e) => {
                failure = failure.or(Some((addr, e)));
            }
        }
    }
    (ok, failure)
}

fn connect(addr: SocketAddr, timeout: Duration) -> Result<(), ConnectError> {
    TcpStream::connect_timeout(&addr, timeout)
        .map(drop)
        .map_err(|e| connect_error(&e, timeout))
}

fn connect_error(e: &io::Error, timeout: Duration) -> ConnectError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectError::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnectError::TimedOut(timeout),
        _ => ConnectError::Other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn resolver_errors_map_to_reasons() {
        let kind = |code| classify(LookupError::new(code));
        assert_eq!(kind(libc::EAI_NONAME), Lookup::NoName);
        assert_eq!(kind(libc::EAI_NODATA), Lookup::NoData);
        assert_eq!(kind(libc::EAI_AGAIN), Lookup::Again);
        assert_eq!(kind(libc::EAI_FAIL), Lookup::Fail);
        for bug in [
            libc::EAI_BADFLAGS,
            libc::EAI_FAMILY,
            libc::EAI_SOCKTYPE,
            libc::EAI_SERVICE,
        ] {
            assert!(matches!(kind(bug), Lookup::Fatal(_)), "{bug}");
        }
        for other in [libc::EAI_SYSTEM, libc::EAI_MEMORY, -12345] {
            match kind(other) {
                Lookup::Other(text) => assert!(text.contains(&format!("code {other}")), "{text}"),
                l => panic!("{other}: {l:?}"),
            }
        }
    }

    #[test]
    fn the_most_telling_failure_wins() {
        let mut ranks = [
            Lookup::Again,
            Lookup::NoName,
            Lookup::Fail,
            Lookup::NoData,
            Lookup::Other(String::new()),
        ];
        ranks.sort_by_key(Lookup::rank);
        assert_eq!(
            ranks,
            [
                Lookup::NoName,
                Lookup::NoData,
                Lookup::Other(String::new()),
                Lookup::Fail,
                Lookup::Again
            ]
        );
    }

    #[test]
    fn reasons_read_as_documented() {
        let a: SocketAddr = "10.0.0.2:2181".parse().unwrap();
        let cases = [
            (Reason::NoSuchName, "no such name (NXDOMAIN)"),
            (
                Reason::NoAddress(Family::V6),
                "the name has no IPv6 address (NODATA)",
            ),
            (
                Reason::NoAddress(Family::Both),
                "the name has no address (NODATA)",
            ),
            (
                Reason::ServerFailure,
                "DNS server failure or timeout (EAI_AGAIN)",
            ),
            (
                Reason::TooFew {
                    have: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
                    want: 3,
                },
                "only 2 of 3 addresses: 10.0.0.1, 10.0.0.2",
            ),
            (
                Reason::Connect(a, ConnectError::Refused),
                "connection refused (10.0.0.2:2181)",
            ),
            (
                Reason::Connect(a, ConnectError::TimedOut(Duration::from_secs(1))),
                "connect timed out after 1s (10.0.0.2:2181)",
            ),
            (
                Reason::TooFewAccept {
                    have: 1,
                    want: 2,
                    failure: Some((a, ConnectError::Refused)),
                },
                "only 1 of 2 addresses accept connections; connection refused (10.0.0.2:2181)",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
        }
    }

    #[test]
    fn connect_errors_map_to_reasons() {
        let t = Duration::from_millis(300);
        let e = |kind| connect_error(&io::Error::from(kind), t);
        assert_eq!(e(io::ErrorKind::ConnectionRefused), ConnectError::Refused);
        assert_eq!(e(io::ErrorKind::TimedOut), ConnectError::TimedOut(t));
        assert_eq!(e(io::ErrorKind::WouldBlock), ConnectError::TimedOut(t));
        let unreachable = connect_error(&io::Error::from_raw_os_error(libc::ENETUNREACH), t);
        assert!(
            matches!(&unreachable, ConnectError::Other(text) if text.contains("nreachable")),
            "{unreachable:?}"
        );
    }

    #[test]
    fn literal_addresses_need_no_resolver() {
        let target: Target = "127.0.0.1".parse().unwrap();
        let got = attempt(&target, Family::Both, Duration::from_secs(1));
        assert_eq!(got, Outcome::Ready(vec!["127.0.0.1".into()]));
    }

    #[test]
    fn tcp_attempts_see_listeners_and_refusals() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let target: Target = format!("127.0.0.1:{port}").parse().unwrap();
        let got = attempt(&target, Family::Both, Duration::from_secs(1));
        assert_eq!(got, Outcome::Ready(vec![format!("127.0.0.1:{port}")]));
        drop(listener);
        let got = attempt(&target, Family::Both, Duration::from_secs(1));
        let want = Reason::Connect(
            format!("127.0.0.1:{port}").parse().unwrap(),
            ConnectError::Refused,
        );
        assert_eq!(got, Outcome::NotReady(want));
    }

    #[test]
    fn connect_all_tries_every_address() {
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = open.local_addr().unwrap().port();
        // 127.0.0.2 is loopback too, but nothing listens there on this port.
        let ips: Vec<IpAddr> = vec!["127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        let (ok, failure) = connect_all(&ips, port, Duration::from_secs(1));
        assert_eq!(
            ok,
            [format!("127.0.0.1:{port}").parse::<SocketAddr>().unwrap()]
        );
        let failed: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
        assert_eq!(failure, Some((failed, ConnectError::Refused)));
    }

    #[test]
    fn literal_of_the_other_family_is_never_looked_up() {
        let target: Target = "::1".parse().unwrap();
        let got = attempt(&target, Family::V4, Duration::from_secs(1));
        assert_eq!(got, Outcome::NotReady(Reason::NoAddress(Family::V4)));
    }
}
