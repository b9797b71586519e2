//! redis://: does a Redis server answer PING? Ready on `+PONG`, and on `-NOAUTH` (a password is
//! required, so the server is up and serving); not ready on every other error reply (LOADING,
//! MASTERDOWN, BUSY, DENIED, ...), quoted, and on anything that is not RESP.
//!
//! Redis never speaks first and sends one line per inline command: `PING\r\n` is the whole
//! request, and one CRLF-terminated line is the whole answer. An error line cut short by a close
//! or a reset (DENIED and "max number of clients" are followed by one) is still told, and one
//! longer than the byte limit is told by its start.

use std::borrow::Cow;
use std::sync::Arc;

use super::talk::{Dialect, Said, Step, printable};

/// The most bytes read: far more than any reply to PING (DENIED, the longest, is 1067).
const LIMIT: usize = 4096;

/// The most bytes of server text quoted in a reason.
const QUOTE: usize = 200;

/// The first bytes of RESP2 and RESP3 replies.
const RESP: &[u8] = b"+-:$*_,#!=(%~>|";

/// A Redis conversation: PING, one reply line.
pub struct Redis;

/// The constructor the scheme table holds; redis:// takes neither a user nor a path (the
/// grammar refuses them).
pub fn dialect(_user: Option<&str>, _path: Option<&str>) -> Arc<dyn Dialect> {
    Arc::new(Redis)
}

impl Dialect for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn hello(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(b"PING\r\n")
    }

    fn limit(&self) -> usize {
        LIMIT
    }

    fn judge(&self, heard: &[u8], _sent: usize, closed: bool) -> Step {
        judge(heard, closed)
    }
}

/// The verdict on the first reply line (see the module's documentation).
pub fn judge(heard: &[u8], closed: bool) -> Step {
    let Some(&kind) = heard.first() else {
        return Step::More;
    };
    if !RESP.contains(&kind) {
        return not_ready(format!(
            "redis: not a Redis answer: '{}'",
            printable(heard, 48)
        ));
    }
    let end = heard.windows(2).position(|w| w == b"\r\n");
    let line = match end {
        Some(end) => &heard[1..end],
        None if kind == b'-' && (closed || heard.len() >= LIMIT) => &heard[1..],
        // The loop words a close, a reset or the limit before the line's end.
        None => return Step::More,
    };
    match kind {
        b'+' if line == b"PONG" => Step::Done(Ok(())),
        b'-' => error(line, end.is_some()),
        _ => not_ready(format!(
            "redis: unexpected answer to PING: '{}'",
            printable(&heard[..end.map_or(heard.len(), |e| e + 2)], 48)
        )),
    }
}

fn not_ready(text: String) -> Step {
    Step::Done(Err(Said::new(text)))
}

/// An error reply's line without its `-`: its first word is the code. `complete` is false for
/// a line cut short (a close, a reset, the limit).
fn error(line: &[u8], complete: bool) -> Step {
    let code = line.split(|&b| b == b' ').next().unwrap_or_default();
    if complete && code == b"NOAUTH" {
        // A password is required: the server is up and answering.
        return Step::Done(Ok(()));
    }
    if line.is_empty() {
        return not_ready("redis: an empty error reply".to_string());
    }
    let mut text = format!("redis: {}", printable(line, QUOTE));
    if !complete && !text.ends_with("...") {
        text.push_str("...");
    }
    not_ready(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOADING: &[u8] = b"-LOADING Redis is loading the dataset in memory\r\n";
    const MASTERDOWN: &[u8] =
        b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n";
    const BUSY: &[u8] = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL \
        or SHUTDOWN NOSAVE.\r\n";

    fn reason(step: Step) -> String {
        match step {
            Step::Done(Err(said)) => {
                assert!(!said.proves_absent(), "{said}");
                said.to_string()
            }
            other => panic!("not a reason: {other:?}"),
        }
    }

    /// The DENIED reply of Redis 7.0: 1065 bytes before CRLF.
    fn denied() -> Vec<u8> {
        let mut line = b"-DENIED Redis is running in protected mode because protected mode is \
            enabled and no password is set for the default user. In this mode connections are \
            only accepted from the loopback interface. If you want to connect from external \
            computers to Redis you may adopt one of the following solutions: "
            .to_vec();
        line.resize(1065, b'.');
        line.extend_from_slice(b"\r\n");
        line
    }

    #[test]
    fn pong_and_noauth_are_ready() {
        for answer in [&b"+PONG\r\n"[..], b"-NOAUTH Authentication required.\r\n"] {
            assert_eq!(judge(answer, false), Step::Done(Ok(())));
            assert_eq!(judge(answer, true), Step::Done(Ok(())));
        }
        assert_eq!(judge(b"-NOAUTH\r\n", false), Step::Done(Ok(())));
    }

    #[test]
    fn error_replies_are_quoted() {
        let cases: [(&[u8], &str); 5] = [
            (
                LOADING,
                "redis: LOADING Redis is loading the dataset in memory",
            ),
            (
                MASTERDOWN,
                "redis: MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set \
                 to 'no'.",
            ),
            (
                BUSY,
                "redis: BUSY Redis is busy running a script. You can only call SCRIPT KILL or \
                 SHUTDOWN NOSAVE.",
            ),
            (
                b"-ERR max number of clients reached\r\n",
                "redis: ERR max number of clients reached",
            ),
            (b"-\r\n", "redis: an empty error reply"),
        ];
        for (answer, want) in cases {
            assert_eq!(reason(judge(answer, false)), want);
        }
    }

    #[test]
    fn denied_is_told_whole_or_cut_short_by_the_reset() {
        let denied = denied();
        let whole = reason(judge(&denied, true));
        assert!(
            whole.starts_with("redis: DENIED Redis is running in protected mode because"),
            "{whole}"
        );
        assert!(whole.ends_with("..."), "{whole}");
        assert!(whole.len() < 230, "{whole}");
        for cut in [2, 8, 300, 1066] {
            assert_eq!(judge(&denied[..cut], false), Step::More);
            let text = reason(judge(&denied[..cut], true));
            assert!(text.starts_with("redis: D"), "{text}");
            assert!(text.ends_with("..."), "{text}");
        }
        // A truncated NOAUTH is not an answer.
        assert_eq!(
            reason(judge(b"-NOAUTH Authentication", true)),
            "redis: NOAUTH Authentication..."
        );
    }

    #[test]
    fn every_prefix_of_a_reply_asks_for_more() {
        for answer in [
            &b"+PONG\r\n"[..],
            LOADING,
            b"-NOAUTH Authentication required.\r\n",
        ] {
            for n in 0..answer.len() {
                assert_eq!(judge(&answer[..n], false), Step::More, "{n} of {answer:?}");
            }
        }
        for n in 0..7 {
            assert_eq!(judge(&b"+PONG\r\n"[..n], true), Step::More, "{n}");
        }
    }

    #[test]
    fn other_replies_are_not_ready() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"+OK\r\n",
                "redis: unexpected answer to PING: '+OK\\x0d\\x0a'",
            ),
            (
                b"+PONG \r\n",
                "redis: unexpected answer to PING: '+PONG \\x0d\\x0a'",
            ),
            (
                b"$4\r\nPONG\r\n",
                "redis: unexpected answer to PING: '$4\\x0d\\x0a'",
            ),
            (
                b"HTTP/1.1 400 Bad Request\r\n\r\n",
                "redis: not a Redis answer: 'HTTP/1.1 400 Bad Request\\x0d\\x0a\\x0d\\x0a'",
            ),
            (
                b"\x00\x1b[2J\r\n",
                "redis: not a Redis answer: '\\x00\\x1b[2J\\x0d\\x0a'",
            ),
        ];
        for (answer, want) in cases {
            assert_eq!(reason(judge(answer, false)), want);
        }
        // A bare LF does not end a line.
        assert_eq!(judge(b"+PONG\n", false), Step::More);
    }

    #[test]
    fn a_line_longer_than_the_limit_is_told_by_its_start() {
        let mut long = b"-ERR ".to_vec();
        long.resize(LIMIT, b'z');
        let text = reason(judge(&long, false));
        assert!(text.starts_with("redis: ERR zzz"), "{text}");
        assert!(text.ends_with("zzz..."), "{text}");
        assert_eq!(judge(&long[..LIMIT - 1], false), Step::More);
        // A simple string that never ends is worded by the loop (the limit).
        let mut endless = b"+PONG".to_vec();
        endless.resize(LIMIT, b'G');
        assert_eq!(judge(&endless, false), Step::More);
    }

    #[test]
    fn control_characters_of_the_server_are_escaped() {
        let text = reason(judge(b"-ERR \x1b]0;owned\x07\x08\xff\r\n", false));
        assert_eq!(text, "redis: ERR \\x1b]0;owned\\x07\\x08\\xff");
    }

    #[test]
    fn the_dialect_is_plain_data() {
        let d = dialect(None, None);
        assert_eq!(d.name(), "redis");
        assert_eq!(&d.hello()[..], b"PING\r\n");
        assert_eq!(d.limit(), LIMIT);
        assert_eq!(d.judge(b"+PONG\r\n", 0, false), Step::Done(Ok(())));
    }
}
