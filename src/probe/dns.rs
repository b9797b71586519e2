//! The DNS half of an attempt: one getaddrinfo call for one family, and what its error means.
//!
//! Each family is looked up on its own, never with AF_UNSPEC: under musl a broken AAAA answer
//! fails a whole AF_UNSPEC lookup and would hide a good A answer (docs/dns-behaviour.md).
//! Nothing is cached: every attempt asks the system resolver afresh, as the application will.

use std::io;
use std::net::IpAddr;

use dns_lookup::{AddrInfoHints, LookupError, LookupErrorKind};

use crate::target::Family;

/// Whether EAI_NONAME for AF_INET proves that AF_INET6 would find nothing either. Under musl it
/// does: a name that exists with other types only, in DNS or in /etc/hosts, is EAI_NODATA. glibc
/// says EAI_NONAME for an IPv6-only /etc/hosts name asked for AF_INET, so it asks AAAA anyway.
/// Skipping that AAAA lookup halves the queries (times the search list) that a pod waiting for
/// a name that does not exist yet sends to the cluster DNS.
pub const NONAME_IS_FINAL: bool = cfg!(target_env = "musl");

/// The addresses of `name` in family `af` (AF_INET or AF_INET6) and the canonical name that
/// answered (the search-list candidate, or a CNAME's target), or why there are none.
// Not inlined: the binary is smaller so (measured against the size budget).
#[inline(never)]
pub fn lookup(name: &str, af: i32) -> Result<(Vec<IpAddr>, Option<String>), Lookup> {
    let hints = AddrInfoHints {
        // No AI_ADDRCONFIG: musl and glibc apply it differently, and a pod's interfaces say
        // nothing about whether a name is ready. AI_CANONNAME is a valid flag, so EAI_BADFLAGS
        // still means musl could not read resolv.conf (see `Lookup::NoConfig`).
        flags: libc::AI_CANONNAME,
        address: af,
        socktype: libc::SOCK_STREAM,
        protocol: 0,
    };
    let found = match dns_lookup::getaddrinfo(Some(name), None, Some(hints)) {
        Ok(found) => found,
        Err(e) => {
            // Read errno at once: musl leaves the reason resolv.conf could not be read there.
            let errno = io::Error::last_os_error();
            return Err(classify(e, errno));
        }
    };
    let mut ips = Vec::new();
    let mut canonical = None;
    // An entry that cannot be decoded (an unknown family) is skipped, not fatal.
    for info in found.flatten() {
        // The first entry carries the canonical name.
        canonical = canonical.or(info.canonname);
        let ip = info.sockaddr.ip();
        let wanted = match af {
            libc::AF_INET => ip.is_ipv4(),
            _ => ip.is_ipv6(),
        };
        if wanted {
            ips.push(ip);
        }
    }
    Ok((ips, canonical))
}

/// `canonical` when it names another host than `typed` (case and a trailing dot aside): the
/// name that actually answered, worth showing when a search list or a CNAME was involved.
pub fn answered_as(typed: &str, canonical: Option<&str>) -> Option<String> {
    let canonical = canonical?;
    let bare = |s: &str| s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    (bare(typed) != bare(canonical)).then(|| crate::quote::escaped(canonical))
}

/// A getaddrinfo error as the waiting loop sees it. Ordered by `rank`: when both families
/// fail, the reason shown is the one that says most about the DNS service.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    NoName,
    NoData,
    Other(String),
    /// musl's -1 (EAI_BADFLAGS) with flags 0: resolv.conf could not be opened (EMFILE, ENFILE,
    /// ENOMEM). A passing state of the system, not a bug: retried like any other reason.
    NoConfig(String),
    Fail,
    Again,
    Fatal(String),
}

impl Lookup {
    pub fn rank(&self) -> u8 {
        match self {
            // Some resolvers say EAI_NONAME for NODATA; a NODATA from the other family proves
            // the name exists, so NODATA outranks NONAME.
            Lookup::NoName => 0,
            Lookup::NoData => 1,
            Lookup::Other(_) => 2,
            Lookup::NoConfig(_) => 3,
            Lookup::Fail => 4,
            Lookup::Again => 5,
            Lookup::Fatal(_) => 6,
        }
    }
}

/// Maps a getaddrinfo error to "not ready yet, because …" or "this is a bug, stop".
/// `errno` is errno as the call left it.
fn classify(e: LookupError, errno: io::Error) -> Lookup {
    match e.kind() {
        LookupErrorKind::NoName => Lookup::NoName,
        LookupErrorKind::NoData => Lookup::NoData,
        LookupErrorKind::Again => Lookup::Again,
        LookupErrorKind::Fail => Lookup::Fail,
        // Our only flag is valid, so "bad flags" is musl failing to open resolv.conf.
        LookupErrorKind::Badflags => Lookup::NoConfig(match errno.raw_os_error() {
            Some(0) | None => "unknown error".to_string(),
            Some(_) => errno.to_string(),
        }),
        LookupErrorKind::Family | LookupErrorKind::Socktype | LookupErrorKind::Service => {
            Lookup::Fatal(gai_text(e))
        }
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

/// The message for a request the resolver calls malformed.
pub fn fatal(name: &str, family: Family, text: &str) -> String {
    let af = if family == Family::V4 {
        "AF_INET"
    } else {
        "AF_INET6"
    };
    format!(
        "getaddrinfo({}, {af}) rejected the request: {text}",
        crate::quote::quoted(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_errors_map_to_reasons() {
        let kind = |code| classify(LookupError::new(code), io::Error::from_raw_os_error(0));
        assert_eq!(kind(libc::EAI_NONAME), Lookup::NoName);
        assert_eq!(kind(libc::EAI_NODATA), Lookup::NoData);
        assert_eq!(kind(libc::EAI_AGAIN), Lookup::Again);
        assert_eq!(kind(libc::EAI_FAIL), Lookup::Fail);
        for bug in [libc::EAI_FAMILY, libc::EAI_SOCKTYPE, libc::EAI_SERVICE] {
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
    fn the_answering_name_is_shown_only_when_it_differs() {
        let full = Some("mysql-0.mysql.shop.svc.cluster.local");
        let shown = answered_as("mysql-0.mysql", full);
        assert_eq!(shown.as_deref(), full);
        assert_eq!(
            answered_as("mysql-0.mysql.shop.svc.cluster.local.", full),
            None
        );
        assert_eq!(
            answered_as("MySQL-0.mysql.shop.svc.cluster.local", full),
            None
        );
        assert_eq!(answered_as("db", None), None);
        let odd = answered_as("db", Some("x\u{1b}y"));
        assert_eq!(odd.as_deref(), Some("x\\u{1b}y"));
    }

    #[test]
    fn bad_flags_with_no_flags_is_a_passing_state() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        match classify(LookupError::new(libc::EAI_BADFLAGS), emfile) {
            Lookup::NoConfig(text) => assert!(text.contains("open files"), "{text}"),
            l => panic!("{l:?}"),
        }
    }

    #[test]
    fn the_most_telling_failure_wins() {
        let mut ranks = [
            Lookup::Again,
            Lookup::NoName,
            Lookup::Fail,
            Lookup::NoData,
            Lookup::NoConfig(String::new()),
            Lookup::Other(String::new()),
        ];
        ranks.sort_by_key(Lookup::rank);
        assert_eq!(
            ranks,
            [
                Lookup::NoName,
                Lookup::NoData,
                Lookup::Other(String::new()),
                Lookup::NoConfig(String::new()),
                Lookup::Fail,
                Lookup::Again
            ]
        );
    }
}
