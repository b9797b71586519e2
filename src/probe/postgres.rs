//! postgres://: is a PostgreSQL server accepting connections? The rule of libpq's PQping (what
//! pg_isready uses), judged on the first message answering a protocol-3.0 StartupMessage.
//!
//! No SSLRequest and never a password: any authentication request (`R`) means the server is up,
//! and so does an error (`E`) with any SQLSTATE but 57P03 (a wrong role, a missing database and
//! "too many clients" are answers of a running server). 57P03 ("the database system is starting
//! up", "... is shutting down", "... is not accepting connections") is not ready, with the
//! server's own words. Anything else (another first byte, a length libpq would not take, an
//! error without a SQLSTATE) is not ready and says what came.

use std::borrow::Cow;
use std::sync::Arc;

use super::talk::{Dialect, Said, Step, printable};

/// The PostgreSQL protocol's default user, when the URL names none.
pub const DEFAULT_USER: &str = "postgres";

/// The most bytes read: more than the longest message judged (an `E` of 30000 bytes).
const LIMIT: usize = 32 * 1024;

/// libpq's bounds on the length word of a first `R` and a first `E` message.
const AUTH_LENGTH: std::ops::RangeInclusive<usize> = 8..=2000;
const ERROR_LENGTH: std::ops::RangeInclusive<usize> = 8..=30000;

/// The SQLSTATE of "cannot connect now": starting up, shutting down, hot standby off.
const CANNOT_CONNECT_NOW: &[u8] = b"57P03";

/// The most bytes of server text quoted in a reason.
const QUOTE: usize = 200;

/// A PostgreSQL conversation: the StartupMessage for one user and database.
pub struct Postgres {
    startup: Vec<u8>,
}

/// The constructor the scheme table holds: USER@ of the URL (default `postgres`) and the
/// database (default: the user's name).
pub fn dialect(user: Option<&str>, path: Option<&str>) -> Arc<dyn Dialect> {
    Arc::new(Postgres::new(user, path))
}

impl Postgres {
    pub fn new(user: Option<&str>, database: Option<&str>) -> Postgres {
        let user = user.filter(|u| !u.is_empty()).unwrap_or(DEFAULT_USER);
        let database = database.filter(|d| !d.is_empty()).unwrap_or(user);
        Postgres {
            startup: startup(user, database),
        }
    }
}

/// A protocol-3.0 StartupMessage: length, version 3.0, then name/value pairs, each
/// NUL-terminated, and a final NUL.
fn startup(user: &str, database: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(80 + user.len() + database.len());
    body.extend_from_slice(&0x0003_0000u32.to_be_bytes());
    for (name, value) in [
        ("user", user),
        ("database", database),
        ("application_name", "service-precheck"),
    ] {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        // A NUL would end the value early and shift every field after it; the grammar does
        // not let one through, and a value is cut at one rather than sent malformed.
        body.extend(value.bytes().take_while(|&b| b != 0));
        body.push(0);
    }
    body.push(0);
    // The URL's parts are bounded by the command line, far below 4 GiB.
    let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    let mut message = len.to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    message
}

impl Dialect for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn hello(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.startup)
    }

    fn limit(&self) -> usize {
        LIMIT
    }

    fn judge(&self, heard: &[u8], _sent: usize, closed: bool) -> Step {
        judge(heard, closed)
    }
}

/// The verdict on the first message of the server's answer (see the module's documentation).
pub fn judge(heard: &[u8], closed: bool) -> Step {
    let Some(&kind) = heard.first() else {
        return Step::More;
    };
    if kind != b'R' && kind != b'E' {
        return not_ready(format!(
            "postgres: not a PostgreSQL answer: '{}'",
            printable(heard, 48)
        ));
    }
    let Some(word) = heard.get(1..5) else {
        return Step::More;
    };
    let length = u32::from_be_bytes([word[0], word[1], word[2], word[3]]) as usize;
    if kind == b'R' {
        if !AUTH_LENGTH.contains(&length) {
            return not_ready(format!(
                "postgres: authentication request of {length} bytes: '{}'",
                printable(heard, 48)
            ));
        }
        return match heard.len() > length {
            true => Step::Done(Ok(())),
            false => Step::More,
        };
    }
    if !ERROR_LENGTH.contains(&length) {
        // Old-style text has no NUL in its first four bytes; a length word with one is a
        // protocol-3.0 message whose length libpq refuses.
        if word.contains(&0) {
            return not_ready(format!(
                "postgres: error message of {length} bytes: '{}'",
                printable(heard, 48)
            ));
        }
        return old_error(&heard[1..], closed);
    }
    match heard.get(5..=length) {
        Some(body) => error(body),
        None => Step::More,
    }
}

fn not_ready(text: String) -> Step {
    Step::Done(Err(Said::new(text)))
}

/// An `E` whose length word libpq does not take: an error in the pre-3.0 format, `E` and a
/// NUL-terminated text (the postmaster's "could not fork new process" reply). Judged once the
/// NUL, the close or enough text to quote has come.
fn old_error(text: &[u8], closed: bool) -> Step {
    let end = text.iter().position(|&b| b == 0);
    if end.is_none() && !closed && text.len() <= QUOTE {
        return Step::More;
    }
    let text = &text[..end.unwrap_or(text.len())];
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    not_ready(format!(
        "postgres: error without a protocol-3.0 length: '{}'",
        printable(text, QUOTE)
    ))
}

/// An ErrorResponse body: fields `<code><text>\0`, then `\0`.
fn error(body: &[u8]) -> Step {
    let Some(fields) = fields(body) else {
        return not_ready(format!(
            "postgres: malformed error message: '{}'",
            printable(body, 48)
        ));
    };
    let field = |code: u8| fields.iter().find(|(c, _)| *c == code).map(|(_, t)| *t);
    let message = field(b'M').unwrap_or_default();
    let state = field(b'C').filter(|c| is_sqlstate(c));
    match state {
        Some(CANNOT_CONNECT_NOW) if message.is_empty() => {
            not_ready("postgres: the server does not accept connections now (57P03)".to_string())
        }
        Some(CANNOT_CONNECT_NOW) => {
            not_ready(format!("postgres: {} (57P03)", printable(message, QUOTE)))
        }
        // A wrong role, a missing database, too many clients: a running server said so.
        Some(_) => Step::Done(Ok(())),
        None => not_ready(format!(
            "postgres: error without a SQLSTATE: '{}'",
            printable(message, QUOTE)
        )),
    }
}

/// The fields of an ErrorResponse body; None when one lacks its NUL, or the final NUL is
/// missing or not the body's last byte. At most one entry per two bytes of the body.
fn fields(mut body: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut fields = Vec::new();
    loop {
        let (&code, rest) = body.split_first()?;
        if code == 0 {
            return rest.is_empty().then_some(fields);
        }
        let end = rest.iter().position(|&b| b == 0)?;
        fields.push((code, &rest[..end]));
        body = &rest[end + 1..];
    }
}

/// Five characters of digits and upper-case letters, as every SQLSTATE is.
fn is_sqlstate(code: &[u8]) -> bool {
    code.len() == 5
        && code
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trust: AuthenticationOk and the start of what follows (PostgreSQL 15, measured).
    const TRUST: &[u8] = b"R\x00\x00\x00\x08\x00\x00\x00\x00S\x00\x00\x00&application_name\x00\
        service-precheck\x00S\x00\x00\x00\x19client_encoding\x00UTF8\x00K\x00\x00\x00\x0c\
        \x00\x00$\xea\t\xd5\x98?Z\x00\x00\x00\x05I";
    const SCRAM: &[u8] = b"R\x00\x00\x00\x17\x00\x00\x00\nSCRAM-SHA-256\x00\x00";
    const NO_ROLE: &[u8] = b"E\x00\x00\x00bSFATAL\x00VFATAL\x00C28000\x00Mrole \"nosuch\" does \
        not exist\x00Fmiscinit.c\x00L768\x00RInitializeSessionUserId\x00\x00";
    const NO_DB: &[u8] = b"E\x00\x00\x00YSFATAL\x00VFATAL\x00C3D000\x00Mdatabase \"nodb\" does \
        not exist\x00Fpostinit.c\x00L948\x00RInitPostgres\x00\x00";
    const STANDBY: &[u8] = b"E\x00\x00\x00\x95SFATAL\x00VFATAL\x00C57P03\x00Mthe database system \
        is not accepting connections\x00DHot standby mode is disabled.\x00Fpostmaster.c\x00\
        L2426\x00RProcessStartupPacket\x00\x00";

    fn error_message(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (code, text) in fields {
            body.extend_from_slice(code.as_bytes());
            body.extend_from_slice(text.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut m = vec![b'E'];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(&body);
        m
    }

    fn reason(step: Step) -> String {
        match step {
            Step::Done(Err(said)) => {
                assert!(!said.proves_absent(), "{said}");
                said.to_string()
            }
            other => panic!("not a reason: {other:?}"),
        }
    }

    #[test]
    fn the_startup_message_names_user_database_and_application() {
        let p = Postgres::new(None, None);
        let hello = p.hello();
        let want = b"\x00\x00\x00\x4b\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00\
            application_name\x00service-precheck\x00\x00";
        assert_eq!(&hello[..], &want[..]);
        let has = |p: &Postgres, part: &[u8]| p.hello().windows(part.len()).any(|w| w == part);
        let p = Postgres::new(Some("app"), None);
        assert!(has(&p, b"user\x00app\x00database\x00app\x00"));
        let p = Postgres::new(Some("app"), Some("orders"));
        assert!(has(&p, b"user\x00app\x00database\x00orders\x00"));
        let p = Postgres::new(Some("a\0b"), Some(""));
        assert!(has(&p, b"user\x00a\x00database\x00a\x00"));
        let len = p.hello().len();
        assert_eq!(&p.hello()[..4], &(len as u32).to_be_bytes());
    }

    #[test]
    fn any_authentication_request_and_most_errors_are_ready() {
        for answer in [TRUST, SCRAM, NO_ROLE, NO_DB] {
            assert_eq!(judge(answer, false), Step::Done(Ok(())));
            assert_eq!(judge(answer, true), Step::Done(Ok(())));
        }
        let full = error_message(&[("S", "FATAL"), ("C", "53300"), ("M", "sorry, too many")]);
        assert_eq!(judge(&full, false), Step::Done(Ok(())));
    }

    #[test]
    fn cannot_connect_now_is_not_ready_in_the_servers_words() {
        assert_eq!(
            reason(judge(STANDBY, false)),
            "postgres: the database system is not accepting connections (57P03)"
        );
        let m = error_message(&[("C", "57P03"), ("M", "the database system is starting up")]);
        assert_eq!(
            reason(judge(&m, true)),
            "postgres: the database system is starting up (57P03)"
        );
        let m = error_message(&[("C", "57P03")]);
        assert_eq!(
            reason(judge(&m, false)),
            "postgres: the server does not accept connections now (57P03)"
        );
    }

    #[test]
    fn every_prefix_of_an_answer_asks_for_more() {
        for answer in [SCRAM, NO_ROLE, STANDBY, &TRUST[..9]] {
            for n in 0..answer.len() {
                assert_eq!(judge(&answer[..n], false), Step::More, "{n} of {answer:?}");
                assert_eq!(judge(&answer[..n], true), Step::More, "{n} of {answer:?}");
            }
        }
    }

    #[test]
    fn other_first_bytes_are_not_postgres() {
        assert_eq!(
            reason(judge(b"HTTP/1.1 400 Bad Request\r\n", false)),
            "postgres: not a PostgreSQL answer: 'HTTP/1.1 400 Bad Request\\x0d\\x0a'"
        );
        assert_eq!(
            reason(judge(b"N", false)),
            "postgres: not a PostgreSQL answer: 'N'"
        );
        assert_eq!(
            reason(judge(b"\x00\x1b[2J", false)),
            "postgres: not a PostgreSQL answer: '\\x00\\x1b[2J'"
        );
    }

    #[test]
    fn lengths_outside_libpqs_bounds_are_told_without_waiting() {
        assert_eq!(
            reason(judge(b"R\xff\xff\xff\xff", false)),
            "postgres: authentication request of 4294967295 bytes: 'R\\xff\\xff\\xff\\xff'"
        );
        assert_eq!(
            reason(judge(b"R\x00\x00\x00\x04", false)),
            "postgres: authentication request of 4 bytes: 'R\\x00\\x00\\x00\\x04'"
        );
        assert!(reason(judge(b"R\x00\x00\x07\xd1", false)).contains("2001 bytes"));
        assert_eq!(judge(b"R\x00\x00\x07\xd0", false), Step::More);
        assert_eq!(
            reason(judge(b"E\x00\x00\x75\x31", false)),
            "postgres: error message of 30001 bytes: 'E\\x00\\x00u1'"
        );
        assert_eq!(judge(b"E\x00\x00\x75\x30", false), Step::More);
        // Text where the length word should be: old-style text, cut at the quote's bound.
        let mut huge = b"Exxxx".to_vec();
        assert_eq!(judge(&huge, false), Step::More);
        huge.resize(1000, b'x');
        let text = reason(judge(&huge, false));
        assert!(text.starts_with("postgres: error without a protocol-3.0 length: 'xxx"));
        assert!(text.ends_with("xxx...'"), "{text}");
    }

    #[test]
    fn a_pre_3_0_text_error_is_quoted() {
        let fork = b"Ecould not fork new process for connection: Resource temporarily \
            unavailable\n\x00";
        let want = "postgres: error without a protocol-3.0 length: 'could not fork new process \
            for connection: Resource temporarily unavailable'";
        assert_eq!(reason(judge(fork, false)), want);
        // Cut short by a close, it is still told; before the NUL it waits.
        assert_eq!(judge(&fork[..27], false), Step::More);
        assert_eq!(
            reason(judge(&fork[..27], true)),
            "postgres: error without a protocol-3.0 length: 'could not fork new process'"
        );
    }

    #[test]
    fn errors_without_a_sqlstate_are_not_ready() {
        for fields in [
            &[("S", "FATAL"), ("M", "no code")][..],
            &[("C", "57P0"), ("M", "no code")],
            &[("C", "57p03"), ("M", "no code")],
            &[("C", "57P033"), ("M", "no code")],
        ] {
            assert_eq!(
                reason(judge(&error_message(fields), false)),
                "postgres: error without a SQLSTATE: 'no code'"
            );
        }
        // The fields end before the claimed length does.
        let short = b"E\x00\x00\x00\x0eC28000\x00\x00\x00\x00";
        assert_eq!(
            reason(judge(short, false)),
            "postgres: malformed error message: 'C28000\\x00\\x00\\x00\\x00'"
        );
        // A field without its NUL inside the claimed length.
        let bad = b"E\x00\x00\x00\x0eC57P03Mabc";
        assert_eq!(
            reason(judge(bad, false)),
            "postgres: malformed error message: 'C57P03Mabc'"
        );
    }

    #[test]
    fn control_characters_of_the_server_are_escaped_and_bounded() {
        let long = format!("\x1b]0;owned\x07{}\r\n", "y".repeat(400));
        let m = error_message(&[("C", "57P03"), ("M", &long)]);
        let text = reason(judge(&m, false));
        assert!(
            text.starts_with("postgres: \\x1b]0;owned\\x07yyy"),
            "{text}"
        );
        assert!(text.ends_with("yyy... (57P03)"), "{text}");
        assert!(text.len() < 300);
        assert!(!text.chars().any(|c| c.is_control()));
    }

    #[test]
    fn the_dialect_is_plain_data() {
        let d = dialect(Some("u"), Some("db"));
        assert_eq!(d.name(), "postgres");
        assert_eq!(d.limit(), LIMIT);
        assert_eq!(d.judge(SCRAM, 0, false), Step::Done(Ok(())));
        assert_eq!(d.last_words(STANDBY, 0), None);
    }
}
