//! The HTTP dialect: one `GET` over a plain TCP connection, read as far as the end of the
//! response headers, and the status judged as a Kubernetes httpGet probe would.
//!
//! The shared conversation loop (`talk`) bounds it in bytes (`MAX_HEAD`) and in time: the connect
//! timeout bounds the connect, and the same length again the whole answer, so a server trickling
//! bytes cannot hold the attempt. Redirects are not followed (a 3xx is a status like any other).
//! Nothing the server sends reaches a log line except the status code and a reason phrase of
//! printable ASCII.

use std::borrow::Cow;
use std::fmt;
use std::io;

use super::talk::{Dialect, Fault, Said, Step};

/// The most bytes of status line and headers read; a longer head is not waited for.
pub const MAX_HEAD: usize = 16 * 1024;

/// The most bytes of a reason phrase kept for the log line.
const MAX_PHRASE: usize = 64;

/// An http:// target's conversation: ready when a GET answers with a status in `statuses`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Http {
    /// The request, built once: `GET` with the path and query exactly as written (`/` when
    /// there is no path), the Host header (HOST as written, with `:PORT` unless the port is 80),
    /// User-Agent, Accept and `Connection: close`.
    pub request: String,
    pub statuses: Statuses,
}

/// The statuses that count as ready: inclusive ranges. The default is 200-399, as a Kubernetes
/// httpGet probe counts success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statuses {
    ranges: Vec<(u16, u16)>,
    /// Whether the user gave them (`#status=`): reasons then name the set.
    pub given: bool,
}

impl Statuses {
    pub fn default_set() -> Statuses {
        Statuses {
            ranges: vec![(200, 399)],
            given: false,
        }
    }

    /// The set the user wrote.
    pub fn given(ranges: Vec<(u16, u16)>) -> Statuses {
        Statuses {
            ranges,
            given: true,
        }
    }

    pub fn contains(&self, code: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

impl fmt::Display for Statuses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            if lo == hi {
                write!(f, "{sep}{lo}")?;
            } else {
                write!(f, "{sep}{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// Why a response did not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// A status outside the success set, with the reason phrase (empty unless printable ASCII)
    /// and, when the user set the statuses, the set.
    Status {
        code: u16,
        phrase: String,
        expected: Option<String>,
    },
    /// The first bytes are not an HTTP/1.x status line.
    NotHttp,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Status {
                code,
                expected: Some(set),
                ..
            } => write!(f, "HTTP {code} not in {set}"),
            HttpError::Status { code, phrase, .. } if phrase.is_empty() => write!(f, "HTTP {code}"),
            HttpError::Status { code, phrase, .. } => write!(f, "HTTP {code} {phrase}"),
            HttpError::NotHttp => write!(f, "not an HTTP response"),
        }
    }
}

impl From<HttpError> for Said {
    /// A status outside the set proves the service is not (or no longer) what was asked for.
    fn from(e: HttpError) -> Said {
        let absent = matches!(e, HttpError::Status { .. });
        Said::of(&e, absent)
    }
}

impl Dialect for Http {
    fn name(&self) -> &'static str {
        "HTTP"
    }

    fn hello(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.request.as_bytes())
    }

    fn limit(&self) -> usize {
        MAX_HEAD
    }

    fn judge(&self, heard: &[u8], _sent: usize, _closed: bool) -> Step {
        match parse(heard) {
            None => Step::More,
            Some(Err(e)) => Step::Done(Err(e.into())),
            Some(Ok((code, _))) if self.statuses.contains(code) => Step::Done(Ok(())),
            Some(Ok((code, phrase))) => Step::Done(Err(HttpError::Status {
                code,
                phrase,
                expected: self.statuses.given.then(|| self.statuses.to_string()),
            }
            .into())),
        }
    }

    fn fault(&self, fault: Fault, _heard: &[u8]) -> Said {
        Said::new(match fault {
            Fault::TimedOut(t) => {
                format!("no HTTP response within {}", crate::duration::format(t))
            }
            Fault::Closed => "connection closed before a complete HTTP response".to_string(),
            Fault::TooLong(_) => format!("HTTP headers longer than {} KiB", MAX_HEAD / 1024),
            Fault::Reset => format!(
                "HTTP exchange failed: {}",
                io::Error::from_raw_os_error(libc::ECONNRESET)
            ),
            Fault::Io(errno) => format!(
                "HTTP exchange failed: {}",
                io::Error::from_raw_os_error(errno)
            ),
        })
    }
}

/// The final status and reason phrase of a response head, `None` while more bytes are needed.
/// Interim 1xx responses (103 Early Hints, a stray 100 Continue) are skipped; 101 is final.
fn parse(mut buf: &[u8]) -> Option<Result<(u16, String), HttpError>> {
    loop {
        // Garbage is recognised from its first bytes, without waiting for a line end.
        let n = buf.len().min(5);
        if buf[..n] != b"HTTP/"[..n] {
            return Some(Err(HttpError::NotHttp));
        }
        let eol = buf.iter().position(|&b| b == b'\n')?;
        let Some((code, phrase)) = status_line(&buf[..eol]) else {
            return Some(Err(HttpError::NotHttp));
        };
        let end = head_end(buf, eol)?;
        if (100..200).contains(&code) && code != 101 {
            buf = &buf[end..];
            continue;
        }
        return Some(Ok((code, phrase)));
    }
}

/// `HTTP/1.1 503 Service Unavailable` (a CR before the LF allowed).
fn status_line(line: &[u8]) -> Option<(u16, String)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line.strip_prefix(b"HTTP/")?;
    let (version, rest) = rest.split_at_checked(3)?;
    if !(version[0].is_ascii_digit() && version[1] == b'.' && version[2].is_ascii_digit()) {
        return None;
    }
    let (code, rest) = rest.strip_prefix(b" ")?.split_at_checked(3)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&code) {
        return None;
    }
    let phrase = match rest {
        [] => &[][..],
        [b' ', phrase @ ..] => phrase,
        _ => return None,
    };
    let printable = phrase.iter().all(|b| (b' '..=b'~').contains(b));
    let phrase = match std::str::from_utf8(phrase) {
        Ok(text) if printable => text.trim(),
        _ => "",
    };
    Some((code, phrase[..phrase.len().min(MAX_PHRASE)].to_string()))
}

/// Where the head that starts at `buf` ends (after its empty line), if it does; `eol` is the end
/// of its status line. Bare LF line ends are accepted, as most clients do.
fn head_end(buf: &[u8], eol: usize) -> Option<usize> {
    (eol..buf.len())
        .filter(|&i| buf[i] == b'\n')
        .find_map(|i| match buf.get(i + 1..) {
            Some([b'\n', ..]) => Some(i + 2),
            Some([b'\r', b'\n', ..]) => Some(i + 3),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(head: &str) -> Option<Result<(u16, String), HttpError>> {
        parse(head.as_bytes())
    }

    fn ok(code: u16, phrase: &str) -> Option<Result<(u16, String), HttpError>> {
        Some(Ok((code, phrase.to_string())))
    }

    #[test]
    fn complete_heads_give_their_status() {
        assert_eq!(status("HTTP/1.1 200 OK\r\n\r\n"), ok(200, "OK"));
        assert_eq!(
            status("HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5\r\n\r\nbody"),
            ok(503, "Service Unavailable")
        );
        assert_eq!(status("HTTP/1.1 204\r\n\r\n"), ok(204, ""));
        assert_eq!(status("HTTP/1.1 200 OK\n\n"), ok(200, "OK"));
        assert_eq!(
            status("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n"),
            ok(404, "Not Found")
        );
        assert_eq!(
            status("HTTP/1.1 101 Switching\r\n\r\n"),
            ok(101, "Switching")
        );
    }

    #[test]
    fn incomplete_heads_need_more() {
        for head in [
            "",
            "H",
            "HTTP/",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK\r\n",
            "HTTP/1.1 200 OK\r\nServer: x\r\n",
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200",
        ] {
            assert_eq!(status(head), None, "{head:?}");
        }
    }

    #[test]
    fn garbage_is_not_http() {
        for head in [
            "SSH-2.0-OpenSSH_9.6\r\n",
            "\u{15}\u{3}\u{1}\u{0}\u{2}",
            "http/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 099 Low\r\n\r\n",
            "HTTP/1.1 600 High\r\n\r\n",
            "HTTP/1.1 200OK\r\n\r\n",
            "HTTP/11 200 OK\r\n\r\n",
            "HTTP/1.1\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\ngarbage",
        ] {
            assert_eq!(status(head), Some(Err(HttpError::NotHttp)), "{head:?}");
        }
    }

    #[test]
    fn only_printable_ascii_phrases_are_kept() {
        assert_eq!(status("HTTP/1.1 500 \u{1b}[31mred\r\n\r\n"), ok(500, ""));
        assert_eq!(status("HTTP/1.1 500 caf\u{e9}\r\n\r\n"), ok(500, ""));
        let long = "x".repeat(200);
        let got = status(&format!("HTTP/1.1 500 {long}\r\n\r\n"));
        assert_eq!(got, ok(500, &long[..MAX_PHRASE]));
    }
}
