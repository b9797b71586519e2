//! One attempt at one target: resolve the name, connect to the port, GET the URL, look for the
//! file or the socket, and say *why* it failed.
//!
//! The outcome and reason types, the dispatch and the family logic live here; each kind of check
//! has its own module (`dns`, `tcp`, `http`, `file`, `unix`). TCP and HTTP targets get their
//! addresses from the same resolution path. A `Probe` is one target's state across attempts.

mod dns;
mod file;
pub mod grpc;
mod http;
pub mod talk;
mod tcp;
mod unix;

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::thread;
use std::time::Duration;

use crate::cli::Family;
use crate::target::{Host, Http, Kind, Target};
use dns::Lookup;
pub use file::FileError;
pub use http::{HttpError, MAX_HEAD};
pub use tcp::{ConnectError, connect_many};
pub use unix::UnixError;

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The addresses that resolved (DNS), accepted a connection (TCP) or answered with a
    /// success status (HTTP), sorted; the path (file, unix: a socket's address is its path).
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
    NoResolverConfig(String),
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
    /// The first address's failure, when no address answered with a success status.
    Http(SocketAddr, HttpError),
    File(FileError),
    Unix(UnixError),
    NoAnswerYet,
    /// Under `--invert`: the target is still ready (its addresses, or its path).
    StillThere(Vec<String>),
    /// Under `--invert`: absence seen on some addresses, but a lookup failed, so others may be up.
    NoProof {
        seen: Box<Reason>,
        lookup: Box<Reason>,
    },
}

impl Reason {
    /// Whether the reason proves the target is not there (no such name, a refused connection,
    /// a status outside the success set, a missing file), as opposed to not knowing (a timeout,
    /// a DNS server failure, a permission error). For one address: of several, the first
    /// failure is kept.
    pub fn proves_absent(&self) -> bool {
        match self {
            Reason::NoSuchName | Reason::NoAddress(_) | Reason::TooFew { .. } => true,
            Reason::Connect(_, e) => refused(e),
            Reason::TooFewAccept { failure, .. } => {
                failure.as_ref().is_none_or(|(_, e)| refused(e))
            }
            Reason::Http(_, e) => proof(e),
            Reason::File(e) => matches!(e, FileError::Missing | FileError::NotADirectory),
            Reason::Unix(e) => matches!(e, UnixError::Missing | UnixError::Refused),
            Reason::ServerFailure
            | Reason::LookupFailed
            | Reason::Resolver(_)
            | Reason::NoResolverConfig(_)
            | Reason::NoAnswerYet
            | Reason::StillThere(_)
            | Reason::NoProof { .. } => false,
        }
    }
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
            Reason::NoResolverConfig(text) => {
                write!(f, "cannot read the resolver configuration: {text}")
            }
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
            Reason::Http(addr, e) => write_http(f, *addr, e),
            Reason::File(e) => write!(f, "{e}"),
            Reason::Unix(e) => write!(f, "{e}"),
            Reason::NoAnswerYet => write!(f, "no answer yet"),
            Reason::StillThere(what) => write!(f, "still ready: {}", what.join(", ")),
            Reason::NoProof { seen, lookup } => {
                write!(f, "{seen}, but no proof: a lookup failed: {lookup}")
            }
        }
    }
}

fn write_http(f: &mut fmt::Formatter<'_>, addr: SocketAddr, e: &HttpError) -> fmt::Result {
    match e {
        HttpError::Connect(e) => return write_connect(f, addr, e),
        HttpError::Status {
            code,
            expected: Some(set),
            ..
        } => write!(f, "HTTP {code} not in {set}"),
        HttpError::Status { code, phrase, .. } if phrase.is_empty() => write!(f, "HTTP {code}"),
        HttpError::Status { code, phrase, .. } => write!(f, "HTTP {code} {phrase}"),
        HttpError::NoResponse(t) => write!(
            f,
            "no HTTP response within {}",
            humantime::format_duration(*t)
        ),
        HttpError::NotHttp => write!(f, "not an HTTP response"),
        HttpError::TooLong => write!(f, "HTTP headers longer than {} KiB", MAX_HEAD / 1024),
        HttpError::Closed => write!(f, "connection closed before a complete HTTP response"),
        HttpError::Io(errno) => write!(
            f,
            "HTTP exchange failed: {}",
            std::io::Error::from_raw_os_error(*errno)
        ),
    }?;
    write!(f, " ({addr})")
}

fn write_connect(f: &mut fmt::Formatter<'_>, addr: SocketAddr, e: &ConnectError) -> fmt::Result {
    match e {
        ConnectError::Refused => write!(f, "connection refused ({addr})"),
        ConnectError::TimedOut(t) => write!(
            f,
            "connect timed out after {} ({addr})",
            humantime::format_duration(*t)
        ),
        ConnectError::ToItself => write!(
            f,
            "connected to itself ({addr}): nothing listens on that port"
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

/// One target's probing: how to attempt, and what earlier attempts proved.
#[derive(Debug)]
pub struct Probe {
    pub target: Target,
    family: Family,
    connect_timeout: Duration,
    /// Addresses that accepted a connection once. They are not connected to again: MySQL and
    /// MariaDB block a client host after `max_connect_errors` connections closed before the
    /// handshake, and a `?min=3` target waiting for its third replica must not get there.
    accepted: BTreeSet<SocketAddr>,
    /// The name that answered the last lookup that made the target ready, when it is not the
    /// name the user typed (see `dns::answered_as`).
    answered_as: Option<String>,
    /// A lookup of the last attempt that failed without an answer (a DNS failure, not NXDOMAIN
    /// or NODATA): then a refusal on the other family's addresses proves nothing.
    unsure: Option<Reason>,
    /// Whether `accepted` is kept. Not under `--invert`, which waits for the addresses to stop
    /// accepting and so must ask them every time.
    remember: bool,
}

impl Probe {
    pub fn new(target: Target, family: Family, connect_timeout: Duration) -> Probe {
        Probe {
            target,
            family,
            connect_timeout,
            accepted: BTreeSet::new(),
            answered_as: None,
            unsure: None,
            remember: true,
        }
    }

    /// Whether the last attempt's lookups left something unknown: a family whose lookup failed
    /// (EAI_AGAIN, EAI_FAIL, ...) may have addresses that are up. `--invert` takes no proof then.
    pub fn unsure(&self) -> Option<&Reason> {
        self.unsure.as_ref()
    }

    /// Asks every address on every attempt, also those that accepted before (`--invert`).
    pub fn forgetful(mut self) -> Probe {
        self.remember = false;
        self
    }

    /// After a Ready: the name that answered, when a search list or CNAME made it another
    /// than the one typed (`mysql-0.mysql` answered as `mysql-0.mysql.shop.svc.cluster.local`).
    pub fn answered_as(&self) -> Option<&str> {
        self.answered_as.as_deref()
    }

    /// One attempt.
    pub fn attempt(&mut self) -> Outcome {
        match &self.target.kind {
            Kind::File(path) => match file::check(path) {
                Ok(()) => Outcome::Ready(vec![path.clone()]),
                Err(e) => Outcome::NotReady(Reason::File(e)),
            },
            Kind::Unix(path) => match unix::connect(path, self.connect_timeout) {
                Ok(()) => Outcome::Ready(vec![path.clone()]),
                Err(e) => Outcome::NotReady(Reason::Unix(e)),
            },
            Kind::Dns { .. } | Kind::Tcp { .. } | Kind::Http(_) => self.each_family(),
        }
    }

    /// A family at a time: IPv4 first, then IPv6 only when IPv4 did not already make the target
    /// ready, the DNS service answered and the name exists. So a broken AAAA answer never delays
    /// a good A answer, and the common case costs one lookup.
    ///
    /// `min` counts the addresses of one family: in a dual-stack cluster every pod of a headless
    /// service has an A and an AAAA record, and two pods must not pass for `min=3`.
    fn each_family(&mut self) -> Outcome {
        let host = match &self.target.kind {
            Kind::Dns { host, .. } | Kind::Tcp { host, .. } | Kind::Http(Http { host, .. }) => host,
            // attempt() handles the kinds without a host.
            Kind::File(_) | Kind::Unix(_) => return Outcome::NotReady(Reason::NoAnswerYet),
        };
        let min = match &self.target.kind {
            Kind::Dns { min, .. } | Kind::Tcp { min, .. } => *min,
            _ => 1,
        };
        self.unsure = None;
        let families: &[(Family, i32)] = match self.family {
            Family::V4 => &[(Family::V4, libc::AF_INET)],
            Family::V6 => &[(Family::V6, libc::AF_INET6)],
            Family::Both => &[(Family::V4, libc::AF_INET), (Family::V6, libc::AF_INET6)],
        };
        // The family that came closest: its addresses (DNS) or those that accepted (TCP).
        let mut best_resolved: Vec<IpAddr> = Vec::new();
        let mut best_accepted: Vec<SocketAddr> = Vec::new();
        let mut resolved_any = false;
        // The first failure of an address (TCP: always a connect error), or the first that
        // proves nothing: `--invert` may count the target gone only if every address proved it.
        let mut failure: Option<(SocketAddr, HttpError)> = None;
        let mut worst: Option<Lookup> = None;
        for &(fam, af) in families {
            let mut found = match host {
                Host::Ip(ip) if (af == libc::AF_INET) == ip.is_ipv4() => vec![*ip],
                Host::Ip(_) => continue,
                Host::Name(name) => match dns::lookup(name, af) {
                    Ok((found, canonical)) if !found.is_empty() => {
                        self.answered_as = dns::answered_as(name, canonical.as_deref());
                        found
                    }
                    Ok(_) => {
                        worst = worse(worst, Lookup::NoData);
                        continue;
                    }
                    Err(Lookup::Fatal(text)) => {
                        return Outcome::Fatal(dns::fatal(name, fam, &text));
                    }
                    // The DNS service is failing (SERVFAIL, REFUSED, no answer). AAAA would
                    // fail alike after another full resolver timeout, doubling the wait for
                    // this reason and for the next attempt. `-6` asks AAAA alone.
                    Err(Lookup::Again) if fam == Family::V4 => {
                        self.unsure = Some(Reason::ServerFailure);
                        worst = worse(worst, Lookup::Again);
                        break;
                    }
                    // The name exists for no record type (RFC 8020): AAAA cannot have it either.
                    Err(Lookup::NoName) if fam == Family::V4 && dns::NONAME_IS_FINAL => {
                        worst = worse(worst, Lookup::NoName);
                        break;
                    }
                    Err(lookup) => {
                        self.unsure = match &lookup {
                            Lookup::Again => Some(Reason::ServerFailure),
                            Lookup::Fail => Some(Reason::LookupFailed),
                            Lookup::Other(text) => Some(Reason::Resolver(text.clone())),
                            Lookup::NoConfig(text) => Some(Reason::NoResolverConfig(text.clone())),
                            Lookup::NoName | Lookup::NoData | Lookup::Fatal(_) => {
                                self.unsure.take()
                            }
                        };
                        worst = worse(worst, lookup);
                        continue;
                    }
                },
            };
            found.sort_unstable();
            found.dedup();
            resolved_any = true;
            let timeout = self.connect_timeout;
            match &self.target.kind {
                Kind::Dns { .. } if found.len() >= min => {
                    return Outcome::Ready(strings(&found));
                }
                Kind::Dns { .. } if found.len() > best_resolved.len() => best_resolved = found,
                Kind::Dns { .. } | Kind::File(_) | Kind::Unix(_) => {}
                Kind::Tcp { port, .. } | Kind::Http(Http { port, .. }) => {
                    let port = *port;
                    let (known, new): (Vec<IpAddr>, Vec<IpAddr>) = found
                        .iter()
                        .partition(|ip| self.accepted.contains(&SocketAddr::new(**ip, port)));
                    let new: Vec<SocketAddr> = new
                        .into_iter()
                        .map(|ip| SocketAddr::new(ip, port))
                        .collect();
                    let kind = &self.target.kind;
                    // One result type for both kinds keeps one copy of the threading code.
                    let results = each_address(&new, &|addr| match kind {
                        Kind::Http(http) => http::get(addr, http, timeout),
                        _ => tcp::connect(addr, timeout).map_err(HttpError::Connect),
                    });
                    let mut ok: Vec<IpAddr> = known;
                    for (addr, result) in new.into_iter().zip(results) {
                        match result {
                            Ok(_) => {
                                if self.remember {
                                    self.accepted.insert(addr);
                                }
                                ok.push(addr.ip());
                            }
                            Err(e) => {
                                if failure.as_ref().is_none_or(|(_, f)| proof(f) && !proof(&e)) {
                                    failure = Some((addr, e));
                                }
                            }
                        }
                    }
                    // One port: sorting the addresses sorts the socket addresses.
                    ok.sort_unstable();
                    let ok: Vec<SocketAddr> =
                        ok.into_iter().map(|ip| SocketAddr::new(ip, port)).collect();
                    if ok.len() >= min {
                        return Outcome::Ready(strings(&ok));
                    }
                    if ok.len() > best_accepted.len() {
                        best_accepted = ok;
                    }
                }
            }
        }
        Outcome::NotReady(match (&self.target.kind, failure) {
            _ if !resolved_any => match worst {
                Some(Lookup::Again) => Reason::ServerFailure,
                Some(Lookup::Fail) => Reason::LookupFailed,
                Some(Lookup::Other(text)) => Reason::Resolver(text),
                Some(Lookup::NoConfig(text)) => Reason::NoResolverConfig(text),
                Some(Lookup::NoName) => Reason::NoSuchName,
                // NODATA everywhere, or no error and no address: the name exists without
                // addresses.
                Some(Lookup::NoData) | Some(Lookup::Fatal(_)) | None => {
                    Reason::NoAddress(self.family)
                }
            },
            (Kind::Http(_), Some((addr, e))) => Reason::Http(addr, e),
            (Kind::Tcp { .. }, Some((addr, HttpError::Connect(e)))) if min == 1 => {
                Reason::Connect(addr, e)
            }
            (Kind::Tcp { .. }, failure) => Reason::TooFewAccept {
                have: best_accepted.len(),
                want: min,
                failure: failure.and_then(|(addr, e)| match e {
                    HttpError::Connect(e) => Some((addr, e)),
                    _ => None,
                }),
            },
            _ => Reason::TooFew {
                have: best_resolved,
                want: min,
            },
        })
    }
}

/// Runs `check` on every address at once (a hung address must not delay the others) and
/// returns the results in `addrs` order. One address needs no thread.
fn each_address(
    addrs: &[SocketAddr],
    check: &(dyn Fn(SocketAddr) -> Result<(), HttpError> + Sync),
) -> Vec<Result<(), HttpError>> {
    if addrs.len() == 1 {
        return vec![check(addrs[0])];
    }
    thread::scope(|s| {
        let handles: Vec<_> = addrs
            .iter()
            .map(|&addr| {
                thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn_scoped(s, move || check(addr))
            })
            .collect();
        handles
            .into_iter()
            .zip(addrs)
            .map(|(handle, &addr)| match handle {
                // A panic aborts the process (panic = "abort"), so join only returns Ok; the
                // check is repeated here rather than unwrapped.
                Ok(h) => h.join().unwrap_or_else(|_| check(addr)),
                // No thread to spare: check from this one instead.
                Err(_) => check(addr),
            })
            .collect()
    })
}

fn strings<'a, T: fmt::Display + 'a>(items: impl IntoIterator<Item = &'a T>) -> Vec<String> {
    items.into_iter().map(|i| i.to_string()).collect()
}

/// Whether a connect error proves nothing listens there.
fn refused(e: &ConnectError) -> bool {
    matches!(e, ConnectError::Refused | ConnectError::ToItself)
}

/// Whether an address's failure proves it is not ready: refused, or a status outside the set.
fn proof(e: &HttpError) -> bool {
    match e {
        HttpError::Connect(e) => refused(e),
        e => matches!(e, HttpError::Status { .. }),
    }
}

fn worse(worst: Option<Lookup>, new: Lookup) -> Option<Lookup> {
    match worst {
        Some(w) if w.rank() >= new.rank() => Some(w),
        _ => Some(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn probe(target: &str, family: Family) -> Probe {
        Probe::new(target.parse().unwrap(), family, Duration::from_secs(1))
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
                Reason::NoResolverConfig("Too many open files (os error 24)".into()),
                "cannot read the resolver configuration: Too many open files (os error 24)",
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
                Reason::Connect(a, ConnectError::ToItself),
                "connected to itself (10.0.0.2:2181): nothing listens on that port",
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
    fn tcp_attempts_see_listeners_and_refusals() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut p = probe(&format!("127.0.0.1:{port}"), Family::Both);
        assert_eq!(
            p.attempt(),
            Outcome::Ready(vec![format!("127.0.0.1:{port}")])
        );
        drop(listener);
        // A new probe: the one above remembers that the address accepted.
        let mut p = probe(&format!("127.0.0.1:{port}"), Family::Both);
        let want = Reason::Connect(
            format!("127.0.0.1:{port}").parse().unwrap(),
            ConnectError::Refused,
        );
        assert_eq!(p.attempt(), Outcome::NotReady(want));
    }

    #[test]
    fn an_address_that_accepted_is_not_connected_to_again() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut p = probe(&format!("tcp://localhost:{port}?min=2"), Family::V4);
        let want = |failure| Reason::TooFewAccept {
            have: 1,
            want: 2,
            failure,
        };
        // localhost has one IPv4 address here: 1 of 2, the listener accepted once.
        assert_eq!(p.attempt(), Outcome::NotReady(want(None)));
        listener.set_nonblocking(true).unwrap();
        assert!(listener.accept().is_ok(), "the first attempt connected");
        assert_eq!(p.attempt(), Outcome::NotReady(want(None)));
        let again = listener.accept().map(drop).map_err(|e| e.kind());
        assert_eq!(
            again,
            Err(std::io::ErrorKind::WouldBlock),
            "connected again"
        );
    }

    #[test]
    fn literal_of_the_other_family_is_never_looked_up() {
        let mut p = probe("[::1]:80", Family::V4);
        assert_eq!(
            p.attempt(),
            Outcome::NotReady(Reason::NoAddress(Family::V4))
        );
    }

    #[test]
    fn absence_is_told_from_not_knowing() {
        let a: SocketAddr = "10.0.0.2:8080".parse().unwrap();
        let status = HttpError::Status {
            code: 503,
            phrase: "Service Unavailable".into(),
            expected: None,
        };
        let absent = [
            Reason::NoSuchName,
            Reason::NoAddress(Family::V4),
            Reason::Connect(a, ConnectError::Refused),
            Reason::Http(a, HttpError::Connect(ConnectError::Refused)),
            Reason::Http(a, status),
            Reason::File(FileError::Missing),
            Reason::File(FileError::NotADirectory),
            Reason::Unix(UnixError::Missing),
            Reason::Unix(UnixError::Refused),
        ];
        let unknown = [
            Reason::ServerFailure,
            Reason::LookupFailed,
            Reason::Connect(a, ConnectError::TimedOut(Duration::from_secs(1))),
            Reason::Http(a, HttpError::NoResponse(Duration::from_secs(1))),
            Reason::Http(a, HttpError::NotHttp),
            Reason::Http(a, HttpError::TooLong),
            Reason::File(FileError::Other(libc::EACCES)),
            Reason::Unix(UnixError::TimedOut(Duration::from_secs(1))),
            Reason::Unix(UnixError::Other(libc::EACCES)),
            Reason::NoAnswerYet,
        ];
        for r in absent {
            assert!(r.proves_absent(), "{r:?}");
        }
        for r in unknown {
            assert!(!r.proves_absent(), "{r:?}");
        }
    }

    #[test]
    fn http_reasons_read_as_documented() {
        let a: SocketAddr = "10.0.0.2:8080".parse().unwrap();
        let status = |phrase: &str, expected: Option<&str>| HttpError::Status {
            code: 301,
            phrase: phrase.into(),
            expected: expected.map(String::from),
        };
        let cases = [
            (
                status("Moved Permanently", None),
                "HTTP 301 Moved Permanently (10.0.0.2:8080)",
            ),
            (status("", None), "HTTP 301 (10.0.0.2:8080)"),
            (
                status("Moved", Some("200-299")),
                "HTTP 301 not in 200-299 (10.0.0.2:8080)",
            ),
            (
                HttpError::NoResponse(Duration::from_secs(1)),
                "no HTTP response within 1s (10.0.0.2:8080)",
            ),
            (HttpError::NotHttp, "not an HTTP response (10.0.0.2:8080)"),
            (
                HttpError::Connect(ConnectError::Refused),
                "connection refused (10.0.0.2:8080)",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(Reason::Http(a, e).to_string(), text);
        }
    }
}
