//! `zk://HOST[:PORT]`: a ZooKeeper server is ready when it serves requests, which its `srvr`
//! four-letter word tells by a `Mode:` line (leader, follower, standalone, observer).
//!
//! The client port accepts long before a quorum (a member alone for its whole life accepts), so
//! a TCP check says nothing; `ruok` answers `imok` without a quorum too. `srvr` is the one word a
//! 3.5+ server always answers. Without a quorum it says "This ZooKeeper instance is not
//! currently serving requests". The server closes after any four-letter answer, so the answer
//! is read to the close, under a byte limit; a `Mode:` line decides as soon as it is complete.

use std::borrow::Cow;
use std::sync::Arc;

use super::talk::{Dialect, Said, Step, printable};

/// A serving answer is under 300 bytes.
const LIMIT: usize = 4096;

/// The most bytes of server text in a reason.
const QUOTE: usize = 100;

/// The modes of a member that serves requests.
const SERVING: [&[u8]; 4] = [b"leader", b"follower", b"standalone", b"observer"];

/// The ZooKeeper dialect: `srvr`, then the answer to the close.
#[derive(Debug)]
pub struct Zookeeper;

/// The constructor the scheme table holds. ZooKeeper takes no user and no path.
pub fn dialect(_user: Option<&str>, _path: Option<&str>) -> Arc<dyn Dialect> {
    Arc::new(Zookeeper)
}

fn said(text: String) -> Step {
    Step::Done(Err(Said::new(text)))
}

impl Dialect for Zookeeper {
    fn name(&self) -> &'static str {
        "zookeeper"
    }

    fn hello(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(b"srvr")
    }

    fn limit(&self) -> usize {
        LIMIT
    }

    fn judge(&self, heard: &[u8], _sent: usize, closed: bool) -> Step {
        // Complete lines only: the last piece is complete once the server closed.
        let mut lines: Vec<&[u8]> = heard.split(|&b| b == b'\n').collect();
        if !closed {
            lines.pop();
        }
        for line in &lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(mode) = line.strip_prefix(b"Mode: ") else {
                continue;
            };
            if SERVING.contains(&mode) {
                return Step::Done(Ok(()));
            }
            if mode == b"read-only" {
                return said(
                    "zookeeper: Mode: read-only (no quorum: serving only read-only clients)"
                        .to_string(),
                );
            }
            return said(format!("zookeeper: Mode: {}", printable(mode, QUOTE)));
        }
        match lines.first() {
            // Without a Mode line the first line is the server's word: "This ZooKeeper
            // instance is not currently serving requests", "srvr is not executed because it is
            // not in the whitelist.", or something that is not ZooKeeper at all.
            Some(first) if closed && !heard.is_empty() => {
                let first = first.strip_suffix(b"\r").unwrap_or(first);
                said(format!("zookeeper: {}", printable(first, QUOTE)))
            }
            // Known refusals are whole lines, decided without waiting for the close.
            Some(&first) if first == NOT_SERVING || first.ends_with(b" in the whitelist.") => {
                said(format!("zookeeper: {}", printable(first, QUOTE)))
            }
            _ => Step::More,
        }
    }
}

/// The answer of a member without a quorum (or during an election).
const NOT_SERVING: &[u8] = b"This ZooKeeper instance is not currently serving requests";

#[cfg(test)]
mod tests {
    use super::*;

    /// `srvr` of a Debian 12 standalone server (3.8.0), as measured.
    const STANDALONE: &[u8] =
        b"Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2023-03-15 08:19 UTC\n\
        Latency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\nOutstanding: 0\n\
        Zxid: 0x0\nMode: standalone\nNode count: 5\n";

    const READ_ONLY: &[u8] =
        b"Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2023-03-15 08:19 UTC\n\
        READ-ONLY mode; serving only read-only clients\nLatency min/avg/max: 0/0.0/0\n\
        Received: 1\nSent: 0\nConnections: 1\nOutstanding: 0\nZxid: 0x0\nMode: read-only\n\
        Node count: 5\n";

    fn judge(heard: &[u8], closed: bool) -> Step {
        Zookeeper.judge(heard, 0, closed)
    }

    fn err(text: &str) -> Step {
        Step::Done(Err(Said::new(text)))
    }

    #[test]
    fn serving_modes_are_ready_as_soon_as_the_line_is_complete() {
        for mode in ["standalone", "leader", "follower", "observer"] {
            let answer = String::from_utf8_lossy(STANDALONE).replace("standalone", mode);
            let answer = answer.as_bytes();
            assert_eq!(judge(answer, true), Step::Done(Ok(())), "{mode}");
            assert_eq!(judge(answer, false), Step::Done(Ok(())), "{mode}");
            let end = answer.windows(6).position(|w| w == b"Mode: ").unwrap() + 6 + mode.len();
            assert_eq!(judge(&answer[..=end], false), Step::Done(Ok(())), "{mode}");
            for n in 0..=end {
                assert_eq!(judge(&answer[..n], false), Step::More, "{mode}: {n} bytes");
            }
        }
        assert_eq!(
            judge(b"Mode: leader\r\nNode count: 5\r\n", false),
            Step::Done(Ok(()))
        );
    }

    #[test]
    fn no_quorum_is_not_ready_and_said() {
        let answer = b"This ZooKeeper instance is not currently serving requests\n";
        assert_eq!(answer.len(), 58);
        let want = err("zookeeper: This ZooKeeper instance is not currently serving requests");
        assert_eq!(judge(answer, false), want);
        assert_eq!(judge(answer, true), want);
        for n in 0..answer.len() {
            assert_eq!(judge(&answer[..n], false), Step::More, "{n} bytes");
        }
    }

    #[test]
    fn a_word_outside_the_whitelist_is_quoted() {
        let answer = b"srvr is not executed because it is not in the whitelist.\n";
        let want = err("zookeeper: srvr is not executed because it is not in the whitelist.");
        assert_eq!(judge(answer, false), want);
        assert_eq!(judge(answer, true), want);
    }

    #[test]
    fn read_only_is_not_ready() {
        let want = err("zookeeper: Mode: read-only (no quorum: serving only read-only clients)");
        assert_eq!(judge(READ_ONLY, true), want);
        assert_eq!(judge(READ_ONLY, false), want);
    }

    #[test]
    fn anything_else_is_quoted_at_the_close() {
        assert_eq!(judge(b"imok", false), Step::More);
        assert_eq!(judge(b"imok", true), err("zookeeper: imok"));
        assert_eq!(judge(b"", true), Step::More);
        assert_eq!(
            judge(
                b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n",
                true
            ),
            err("zookeeper: HTTP/1.1 400 Bad Request")
        );
        assert_eq!(
            judge(b"\x1b[2J\x00\xff evil\nMode: \x07\n", true),
            err("zookeeper: Mode: \\x07")
        );
        assert_eq!(
            judge(b"\x1b[2J\x00\xff evil\n", true),
            err("zookeeper: \\x1b[2J\\x00\\xff evil")
        );
        let Step::Done(Err(long)) = judge(&[b'z'; 4096], true) else {
            panic!("no reason");
        };
        assert_eq!(long.to_string().len(), "zookeeper: ".len() + 100 + 3);
        // A Mode line that is not a serving one, nor read-only.
        assert_eq!(
            judge(b"Mode: leaderelection\n", false),
            err("zookeeper: Mode: leaderelection")
        );
        // Not a line on its own.
        assert_eq!(
            judge(b"XMode: leader\n", true),
            err("zookeeper: XMode: leader")
        );
    }

    #[test]
    fn the_dialect_says_srvr_and_reads_a_little() {
        let d = dialect(None, None);
        assert_eq!(d.name(), "zookeeper");
        assert_eq!(&*d.hello(), b"srvr");
        assert_eq!(d.limit(), LIMIT);
        assert_eq!(d.last_words(b"", 0), None);
    }
}
