//! One attempt at one target: resolve the name, connect to the port and hold the target's
//! conversation, look for the file or the socket, and say *why* it failed.
//!
//! Resolving and trying each address is the same for every kind with a host: the address loop
//! knows only "connect, then converse if there is a dialect" (see `talk`). Each kind of check
//! has its own module (`dns`, `tcp`, `file`, `unix`, and one per protocol), and each protocol is
//! one line in the scheme table (`target::SERVICES`). A `Probe` is one target's state across
//! attempts.

mod dns;
mod file;
pub mod grpc;
pub mod http;
pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod talk;
mod tcp;
mod unix;
pub mod zookeeper;

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::thread;
use std::time::Duration;

use crate::target::{Family, Host, Kind, Target};
use dns::Lookup;
pub use file::FileError;
use talk::{AddrError, Said, Talk};
pub use tcp::{ConnectError, connect_many};
pub use unix::UnixError;

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The addresses that resolved (DNS), accepted a connection (TCP) or answered ready (a
    /// conversation), sorted; the path (file, unix: a socket's address is its path).
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
    /// One address's connect or conversation failed: the first failure, when none was ready.
    Address(SocketAddr, AddrError),
    TooFewAccept {
        have: usize,
        want: usize,
        failure: Option<(SocketAddr, AddrError)>,
        /// Whether the addresses must also answer ready (a dialect), not only accept.
        talk: bool,
    },
    /// A check without an address (a file, a unix socket) failed.
    Check(Said),
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
    /// an answer that says so, a missing file), as opposed to not knowing (a timeout, a DNS
    /// server failure, a permission error). For one address: of several, the first failure
    /// is kept.
    pub fn proves_absent(&self) -> bool {
        match self {
            Reason::NoSuchName | Reason::NoAddress(_) | Reason::TooFew { .. } => true,
            Reason::Address(_, e) => e.proves_absent(),
            Reason::TooFewAccept { failure, .. } => {
                failure.as_ref().is_none_or(|(_, e)| e.proves_absent())
            }
            Reason::Check(said) => said.proves_absent(),
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
            Reason::Address(addr, e) => write_address(f, *addr, e),
            Reason::TooFewAccept {
                have,
                want,
                failure,
                talk,
            } => {
                let verb = if *talk {
                    "are ready"
                } else {
                    "accept connections"
                };
                write!(f, "only {have} of {want} addresses {verb}")?;
                match failure {
                    Some((addr, e)) => {
                        f.write_str("; ")?;
                        write_address(f, *addr, e)
                    }
                    None => write!(f, "; the name has fewer addresses"),
                }
            }
            Reason::Check(said) => write!(f, "{said}"),
            Reason::NoAnswerYet => write!(f, "no answer yet"),
            Reason::StillThere(what) => write!(f, "still ready: {}", what.join(", ")),
            Reason::NoProof { seen, lookup } => {
                write!(f, "{seen}, but no proof: a lookup failed: {lookup}")
            }
        }
    }
}

/// One address's failure, with the address.
fn write_address(f: &mut fmt::Formatter<'_>, addr: SocketAddr, e: &AddrError) -> fmt::Result {
    match e {
        AddrError::Connect(ConnectError::Refused) => write!(f, "connection refused ({addr})"),
        AddrError::Connect(ConnectError::TimedOut(t)) => write!(
            f,
            "connect timed out after {} ({addr})",
            crate::duration::format(*t)
        ),
        AddrError::Connect(ConnectError::ToItself) => write!(
            f,
            "connected to itself ({addr}): nothing listens on that port"
        ),
        AddrError::Connect(ConnectError::Other(text)) => {
            write!(f, "connect failed ({addr}): {text}")
        }
        AddrError::Answer(said) => write!(f, "{said} ({addr})"),
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
    /// Addresses that accepted a connection (and answered ready) once. They are not connected
    /// to again: MySQL and MariaDB block a client host after `max_connect_errors` connections
    /// closed before the handshake, and a `?min=3` target waiting for its third replica must
    /// not get there.
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

/// What the addresses of one family came to.
enum Tried {
    /// Enough were ready: the target is.
    Ready(Vec<String>),
    /// The addresses that were ready (resolved, or accepted and answered), sorted.
    Some(Vec<String>),
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
        let check = |result: Result<(), Said>, path: &str| match result {
            Ok(()) => Outcome::Ready(vec![path.to_string()]),
            Err(said) => Outcome::NotReady(Reason::Check(said)),
        };
        match self.target.kind.clone() {
            Kind::File(path) => check(file::check(&path).map_err(Said::from), &path),
            Kind::Unix(path) => {
                let result = unix::connect(&path, self.connect_timeout).map_err(Said::from);
                check(result, &path)
            }
            Kind::Dns { host, min } => self.each_family(&host, min, None),
            Kind::Port {
                host,
                port,
                min,
                talk,
            } => self.each_family(&host, min, Some((port, talk.as_ref()))),
        }
    }

    /// A family at a time: IPv4 first, then IPv6 only when IPv4 did not already make the target
    /// ready, the DNS service answered and the name exists. So a broken AAAA answer never delays
    /// a good A answer, and the common case costs one lookup. With a port, each address is
    /// connected to (and spoken to) at once; without, the addresses are what counts.
    ///
    /// `min` counts the addresses of one family: in a dual-stack cluster every pod of a headless
    /// service has an A and an AAAA record, and two pods must not pass for `min=3`.
    fn each_family(
        &mut self,
        host: &Host,
        min: usize,
        port: Option<(u16, Option<&Talk>)>,
    ) -> Outcome {
        self.unsure = None;
        // The family that came closest: its addresses that were ready.
        let mut best: Vec<String> = Vec::new();
        let mut resolved_any = false;
        // The first failure of an address, or the first that proves nothing: `--invert` may
        // count the target gone only if every address proved it.
        let mut failure: Option<(SocketAddr, AddrError)> = None;
        let mut worst: Option<Lookup> = None;
        for &(fam, af) in self.family.each() {
            let found = match host {
                Host::Ip(ip) if (af == libc::AF_INET) == ip.is_ipv4() => vec![*ip],
                Host::Ip(_) => continue,
                Host::Name(name) => match self.lookup(name, fam, af, &mut worst) {
                    Ok(Some(found)) => found,
                    Ok(None) => continue,
                    Err(Stop::Family) => break,
                    Err(Stop::Fatal(text)) => return Outcome::Fatal(text),
                },
            };
            resolved_any = true;
            let tried = match port {
                None => tally(strings(&found), min),
                Some((port, talk)) => self.each_address(&found, port, talk, min, &mut failure),
            };
            match tried {
                Tried::Ready(ready) => return Outcome::Ready(ready),
                Tried::Some(ready) if ready.len() > best.len() => best = ready,
                Tried::Some(_) => {}
            }
        }
        if !resolved_any {
            return Outcome::NotReady(self.lookup_reason(worst));
        }
        Outcome::NotReady(match (port, failure) {
            (None, _) => Reason::TooFew {
                // The strings were made from these addresses.
                have: best.iter().filter_map(|a| a.parse().ok()).collect(),
                want: min,
            },
            (Some(_), Some((addr, e))) if min == 1 => Reason::Address(addr, e),
            (Some((_, talk)), failure) => Reason::TooFewAccept {
                have: best.len(),
                want: min,
                failure,
                talk: talk.is_some(),
            },
        })
    }

    /// The addresses of `name` in one family: `Ok(None)` when the family has none (or its
    /// lookup failed: `worst` keeps the worst failure); `Err` when no further family is worth
    /// asking, or the request itself is malformed.
    fn lookup(
        &mut self,
        name: &str,
        fam: Family,
        af: i32,
        worst: &mut Option<Lookup>,
    ) -> Result<Option<Vec<IpAddr>>, Stop> {
        match dns::lookup(name, af) {
            Ok((mut found, canonical)) if !found.is_empty() => {
                self.answered_as = dns::answered_as(name, canonical.as_deref());
                found.sort_unstable();
                found.dedup();
                Ok(Some(found))
            }
            Ok(_) => {
                worse(worst, Lookup::NoData);
                Ok(None)
            }
            Err(Lookup::Fatal(text)) => Err(Stop::Fatal(dns::fatal(name, fam, &text))),
            // The DNS service is failing (SERVFAIL, REFUSED, no answer). AAAA would fail alike
            // after another full resolver timeout, doubling the wait for this reason and for
            // the next attempt. `-6` asks AAAA alone.
            Err(Lookup::Again) if fam == Family::V4 => {
                self.unsure = Some(Reason::ServerFailure);
                worse(worst, Lookup::Again);
                Err(Stop::Family)
            }
            // The name exists for no record type (RFC 8020): AAAA cannot have it either.
            Err(Lookup::NoName) if fam == Family::V4 && dns::NONAME_IS_FINAL => {
                worse(worst, Lookup::NoName);
                Err(Stop::Family)
            }
            Err(lookup) => {
                self.unsure = match &lookup {
                    Lookup::Again => Some(Reason::ServerFailure),
                    Lookup::Fail => Some(Reason::LookupFailed),
                    Lookup::Other(text) => Some(Reason::Resolver(text.clone())),
                    Lookup::NoConfig(text) => Some(Reason::NoResolverConfig(text.clone())),
                    Lookup::NoName | Lookup::NoData | Lookup::Fatal(_) => self.unsure.take(),
                };
                worse(worst, lookup);
                Ok(None)
            }
        }
    }

    /// The reason when no family resolved.
    fn lookup_reason(&self, worst: Option<Lookup>) -> Reason {
        match worst {
            Some(Lookup::Again) => Reason::ServerFailure,
            Some(Lookup::Fail) => Reason::LookupFailed,
            Some(Lookup::Other(text)) => Reason::Resolver(text),
            Some(Lookup::NoConfig(text)) => Reason::NoResolverConfig(text),
            Some(Lookup::NoName) => Reason::NoSuchName,
            // NODATA everywhere, or no error and no address: the name exists without addresses.
            Some(Lookup::NoData) | Some(Lookup::Fatal(_)) | None => Reason::NoAddress(self.family),
        }
    }

    /// Connects to the addresses not ready before, all at once, each holding the conversation
    /// when there is one; keeps the first failure (see `each_family`).
    fn each_address(
        &mut self,
        found: &[IpAddr],
        port: u16,
        talk: Option<&Talk>,
        min: usize,
        failure: &mut Option<(SocketAddr, AddrError)>,
    ) -> Tried {
        let (known, new): (Vec<IpAddr>, Vec<IpAddr>) =
            (found.iter()).partition(|ip| self.accepted.contains(&SocketAddr::new(**ip, port)));
        let new: Vec<SocketAddr> = new
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        let timeout = self.connect_timeout;
        let results = at_once(&new, &|addr| match talk {
            None => tcp::connect(addr, timeout).map_err(AddrError::Connect),
            Some(talk) => talk::converse(addr, timeout, talk.dialect()),
        });
        let mut ok = known;
        for (addr, result) in new.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    if self.remember {
                        self.accepted.insert(addr);
                    }
                    ok.push(addr.ip());
                }
                Err(e) => {
                    let keep = failure
                        .as_ref()
                        .is_none_or(|(_, f)| f.proves_absent() && !e.proves_absent());
                    if keep {
                        *failure = Some((addr, e));
                    }
                }
            }
        }
        // One port: sorting the addresses sorts the socket addresses (sorting IpAddr, as the
        // lookups do, keeps one sort in the binary).
        ok.sort_unstable();
        let ok: Vec<SocketAddr> = ok.into_iter().map(|ip| SocketAddr::new(ip, port)).collect();
        tally(strings(&ok), min)
    }
}

/// Why a lookup ends the attempt's families early.
enum Stop {
    /// No further family is worth asking (see `Probe::lookup`).
    Family,
    /// The resolver calls the request malformed.
    Fatal(String),
}

/// Ready when at least `min` are.
fn tally(ready: Vec<String>, min: usize) -> Tried {
    if ready.len() >= min {
        Tried::Ready(ready)
    } else {
        Tried::Some(ready)
    }
}

/// Runs `check` on every address at once (a hung address must not delay the others) and
/// returns the results in `addrs` order. One address needs no thread.
// Not inlined: the binary is smaller so (measured against the size budget).
#[inline(never)]
fn at_once(
    addrs: &[SocketAddr],
    check: &(dyn Fn(SocketAddr) -> Result<(), AddrError> + Sync),
) -> Vec<Result<(), AddrError>> {
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

fn worse(worst: &mut Option<Lookup>, new: Lookup) {
    if worst.as_ref().is_none_or(|w| w.rank() < new.rank()) {
        *worst = Some(new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HttpError, MAX_HEAD};
    use talk::Dialect;

    fn connect(a: SocketAddr, e: ConnectError) -> Reason {
        Reason::Address(a, AddrError::Connect(e))
    }

    fn http(a: SocketAddr, e: HttpError) -> Reason {
        Reason::Address(a, AddrError::Answer(e.into()))
    }
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
                connect(a, ConnectError::Refused),
                "connection refused (10.0.0.2:2181)",
            ),
            (
                connect(a, ConnectError::TimedOut(Duration::from_secs(1))),
                "connect timed out after 1s (10.0.0.2:2181)",
            ),
            (
                connect(a, ConnectError::ToItself),
                "connected to itself (10.0.0.2:2181): nothing listens on that port",
            ),
            (
                Reason::TooFewAccept {
                    have: 1,
                    want: 2,
                    failure: Some((a, AddrError::Connect(ConnectError::Refused))),
                    talk: false,
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
        let want = connect(
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
            talk: false,
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
            connect(a, ConnectError::Refused),
            connect(a, ConnectError::Refused),
            http(a, status),
            Reason::Check(FileError::Missing.into()),
            Reason::Check(FileError::NotADirectory.into()),
            Reason::Check(UnixError::Missing.into()),
            Reason::Check(UnixError::Refused.into()),
        ];
        let unknown = [
            Reason::ServerFailure,
            Reason::LookupFailed,
            connect(a, ConnectError::TimedOut(Duration::from_secs(1))),
            Reason::Address(
                a,
                AddrError::Answer(Said::new("no HTTP response within 1s")),
            ),
            http(a, HttpError::NotHttp),
            Reason::Address(
                a,
                AddrError::Answer(Said::new("HTTP headers longer than 16 KiB")),
            ),
            Reason::Check(FileError::Other(libc::EACCES).into()),
            Reason::Check(UnixError::TimedOut(Duration::from_secs(1)).into()),
            Reason::Check(UnixError::Other(libc::EACCES).into()),
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
        let status = |phrase: &str, expected: Option<&str>| {
            http(
                a,
                HttpError::Status {
                    code: 301,
                    phrase: phrase.into(),
                    expected: expected.map(String::from),
                },
            )
        };
        let dialect = http::Http {
            request: String::new(),
            statuses: http::Statuses::default_set(),
        };
        let fault = |f| Reason::Address(a, AddrError::Answer(dialect.fault(f, b"")));
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
                fault(talk::Fault::TimedOut(Duration::from_secs(1))),
                "no HTTP response within 1s (10.0.0.2:8080)",
            ),
            (
                fault(talk::Fault::Closed),
                "connection closed before a complete HTTP response (10.0.0.2:8080)",
            ),
            (
                fault(talk::Fault::TooLong(MAX_HEAD)),
                "HTTP headers longer than 16 KiB (10.0.0.2:8080)",
            ),
            (
                http(a, HttpError::NotHttp),
                "not an HTTP response (10.0.0.2:8080)",
            ),
            (
                connect(a, ConnectError::Refused),
                "connection refused (10.0.0.2:8080)",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
        }
    }
}
