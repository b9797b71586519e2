//! `mysql://[USER@]HOST[:PORT]`: a MySQL or MariaDB server is ready when it lets a client log in
//! far enough to be told yes or "access denied".
//!
//! The server speaks first. Its first packet is either an ERR (1040 "Too many connections", 1129
//! "Host ... is blocked") or the protocol-10 greeting; after the greeting a HandshakeResponse41
//! for USER with no password goes out, and the reply decides: OK, or ERR 1045 "Access denied"
//! (the server authenticated the client, so it serves), is ready; any other ERR is not. An
//! AuthSwitchRequest is answered with an empty-password answer of the length the plugin expects.
//!
//! This is stricter than `mysqladmin ping`, which calls every error the server sends "alive",
//! 1040 and 1129 included: here a server that turns clients away is not ready.
//!
//! The server counts every connection that ends before the login packet (or with an
//! AuthSwitchRequest left unanswered) toward `max_connect_errors`, and blocks the client's host
//! at that count (1129) until `FLUSH HOSTS`: a probe repeated every second would block the very
//! pods it waits for. So no conversation here ever ends there: `last_words` sends the login
//! packet, or the answer to a pending AuthSwitchRequest, whenever a conversation ends early.

use std::borrow::Cow;
use std::sync::Arc;

use super::talk::{Dialect, Said, Step, printable};

/// The user logged in as when the URL names none.
pub const DEFAULT_USER: &str = "service-precheck";

/// The most bytes read: a greeting is about 100 bytes, an error message at most 512.
const LIMIT: usize = 4096;

/// The most bytes of server text in a reason.
const QUOTE: usize = 200;

/// The most AuthSwitchRequests and AuthMoreData rounds followed before giving up.
const MAX_ROUNDS: usize = 4;

// Capability flags (the protocol's names).
const CLIENT_LONG_PASSWORD: u32 = 0x1; // MariaDB: CLIENT_MYSQL, "not a MariaDB-extended client"
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;

/// ER_ACCESS_DENIED_ERROR: the server checked the credentials and refused them.
const ACCESS_DENIED: u16 = 1045;
/// ER_ACCESS_DENIED_NO_PASSWORD_ERROR: the same for an account that takes no password this way
/// (MariaDB's root@localhost with unix_socket authentication, asked over TCP).
const ACCESS_DENIED_NO_PASSWORD: u16 = 1698;

/// COM_QUIT, sequence 0: a polite goodbye after an OK, so the server logs nothing.
const QUIT: [u8; 5] = [1, 0, 0, 0, 1];

/// The MySQL dialect for one user.
#[derive(Debug)]
pub struct Mysql {
    /// The HandshakeResponse41, ready to send.
    login: Vec<u8>,
}

/// The constructor the scheme table holds. MySQL takes no path (the grammar refuses one).
pub fn dialect(user: Option<&str>, _path: Option<&str>) -> Arc<dyn Dialect> {
    Arc::new(Mysql::new(user.unwrap_or(DEFAULT_USER)))
}

impl Mysql {
    pub fn new(user: &str) -> Mysql {
        Mysql {
            login: login_packet(user),
        }
    }
}

/// HandshakeResponse41, sequence 1: capabilities, max packet size, character set, 23 zero
/// bytes, the user (NUL-terminated), empty auth data, no database, the plugin name.
fn login_packet(user: &str) -> Vec<u8> {
    // A NUL would end the name early on the server's side; the grammar lets none through.
    let user = user.split('\0').next().unwrap_or_default();
    let caps =
        CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
    let mut payload = Vec::with_capacity(64 + user.len());
    payload.extend_from_slice(&caps.to_le_bytes());
    payload.extend_from_slice(&(1u32 << 24).to_le_bytes());
    payload.push(33); // utf8_general_ci, known to every server since 4.1
    payload.extend_from_slice(&[0; 23]);
    payload.extend_from_slice(user.as_bytes());
    payload.push(0);
    payload.push(0); // auth data: none
    payload.extend_from_slice(b"mysql_native_password\0");
    packet(1, &payload)
}

/// A packet: 3-byte little-endian length, sequence number, payload (always short here).
fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32; // at most a few hundred bytes: a user name, a dummy
    let mut p = Vec::with_capacity(4 + payload.len());
    p.extend_from_slice(&len.to_le_bytes()[..3]);
    p.push(seq);
    p.extend_from_slice(payload);
    p
}

/// The answer to an AuthSwitchRequest for `plugin`, as a client without a password sends it:
/// the length the plugin reads, so that the server answers 1045 rather than counting a
/// handshake error (measured: MariaDB's ed25519 counts anything but 64 bytes).
fn switch_answer(plugin: &[u8], seq: u8) -> Vec<u8> {
    let payload: &[u8] = match plugin {
        b"client_ed25519" => &[0; 64],
        // An empty password, one zero byte, as libmysql sends it: the server decides at once
        // (a 32-byte scramble would lead to the RSA "full authentication" round, which a client
        // without a password and without TLS cannot finish, and leaving it counts).
        b"caching_sha2_password" | b"sha256_password" => &[0],
        // mysql_native_password and plugins unknown here: 20 zero bytes. That is a scramble's
        // length for the scramble plugins (native, and most others: an empty answer is a
        // handshake error for some), and an empty NUL-terminated password for those that read
        // a string (mysql_clear_password, dialog).
        _ => &[0; 20],
    };
    packet(seq, payload)
}

/// One packet at the start of `buf`.
enum Packet<'a> {
    /// Sequence number, payload, and what follows.
    Whole(u8, &'a [u8], &'a [u8]),
    /// Its header or payload is not all there yet: the sequence and payload so far, if any.
    Part(Option<(u8, &'a [u8])>),
    /// Its claimed length is more than the limit leaves room for.
    TooLong(usize),
}

fn split(buf: &[u8], room: usize) -> Packet<'_> {
    let [a, b, c, seq, rest @ ..] = buf else {
        return Packet::Part(None);
    };
    let len = usize::from(*a) | usize::from(*b) << 8 | usize::from(*c) << 16;
    if len + 4 > room {
        return Packet::TooLong(len);
    }
    match rest.split_at_checked(len) {
        Some((payload, after)) => Packet::Whole(*seq, payload, after),
        None => Packet::Part(Some((*seq, rest))),
    }
}

fn said(text: String) -> Step {
    Step::Done(Err(Said::new(text)))
}

fn too_long(len: usize) -> Step {
    said(format!(
        "mysql: a packet of {len} bytes announced, more than the {LIMIT} bytes expected"
    ))
}

/// An ERR packet's payload (after `ff`): code, `#SQLSTATE` when `with_state`, message.
fn error(payload: &[u8], with_state: bool) -> (Option<u16>, Option<&[u8]>, &[u8]) {
    let Some([lo, hi]) = payload.get(1..3) else {
        return (None, None, &[]);
    };
    let code = u16::from_le_bytes([*lo, *hi]);
    let rest = &payload[3..];
    match rest {
        [b'#', state @ ..] if with_state && state.len() >= 5 => {
            (Some(code), Some(&state[..5]), &state[5..])
        }
        _ => (Some(code), None, rest),
    }
}

fn error_reason(payload: &[u8], with_state: bool) -> Step {
    match error(payload, with_state) {
        (None, ..) => said("mysql: a truncated error packet".to_string()),
        (Some(code), None, message) => said(format!("mysql: {code} {}", printable(message, QUOTE))),
        (Some(code), Some(state), message) => said(format!(
            "mysql: {code} #{} {}",
            printable(state, 5),
            printable(message, QUOTE)
        )),
    }
}

/// Whether a payload is a usable protocol-10 greeting: version, connection id, scramble, and
/// capabilities that include protocol 4.1. The reason when not.
fn greeting(payload: &[u8]) -> Result<(), Step> {
    let start = || printable(&payload[..payload.len().min(32)], 32);
    let Some((&10, rest)) = payload.split_first() else {
        return Err(said(format!("mysql: not a MySQL greeting: '{}'", start())));
    };
    let Some(nul) = rest.iter().position(|&b| b == 0) else {
        return Err(said(format!("mysql: not a MySQL greeting: '{}'", start())));
    };
    // Connection id (4), scramble part 1 (8), filler (1), capabilities, low half (2).
    let Some(&[lo, hi]) = rest.get(nul + 1 + 13..nul + 1 + 15) else {
        return Err(said(format!("mysql: a truncated greeting: '{}'", start())));
    };
    if u32::from(u16::from_le_bytes([lo, hi])) & CLIENT_PROTOCOL_41 == 0 {
        return Err(said(format!(
            "mysql: the server does not speak protocol 4.1 (version '{}')",
            printable(&rest[..nul], 64)
        )));
    }
    Ok(())
}

/// What the walk over the bytes heard found.
enum Walked<'a> {
    /// The judge's answer.
    Step(Step),
    /// More is needed; the reply packet begun after the login, if any: sequence, payload so far.
    Partial(Option<(u8, &'a [u8])>),
}

/// Follows the conversation: the first packet, then each reply to what was sent. `sent` counts
/// the login, the answers to authentication rounds, and the COM_QUIT after an OK.
fn walk<'a>(login: &[u8], heard: &'a [u8], sent: usize) -> Walked<'a> {
    let step = |s| Walked::Step(s);
    let mut room = LIMIT;
    let (payload, mut rest) = match split(heard, room) {
        Packet::Whole(_, payload, rest) => (payload, rest),
        Packet::Part(_) => return Walked::Partial(None),
        Packet::TooLong(len) => return step(too_long(len)),
    };
    if payload.first() == Some(&0xff) {
        // Before the login the server does not know the client speaks 4.1: no SQLSTATE.
        return step(error_reason(payload, false));
    }
    if let Err(reason) = greeting(payload) {
        return step(reason);
    }
    if sent == 0 {
        return step(Step::Send(login.to_vec()));
    }
    room -= heard.len() - rest.len();
    // How many of our packets the replies so far account for: the login, then one per round.
    let mut answered = 1;
    loop {
        let (seq, payload) = match split(rest, room) {
            Packet::Whole(seq, payload, after) => {
                room -= rest.len() - after.len();
                rest = after;
                (seq, payload)
            }
            Packet::Part(part) => return Walked::Partial(part),
            Packet::TooLong(len) => return step(too_long(len)),
        };
        match payload {
            [0x00, ..] if sent == answered => return step(Step::Send(QUIT.to_vec())),
            [0x00, ..] => return step(Step::Done(Ok(()))),
            [0xff, ..] => {
                return step(match error(payload, true) {
                    (Some(ACCESS_DENIED | ACCESS_DENIED_NO_PASSWORD), ..) => Step::Done(Ok(())),
                    _ => error_reason(payload, true),
                });
            }
            // "Fast authentication succeeded": the OK follows.
            [0x01, 0x03] => {}
            [0xfe, ..] | [0x01, 0x04] => {
                let Some(answer) = round(payload, seq) else {
                    return step(said(format!(
                        "mysql: a malformed authentication request: '{}'",
                        printable(payload, 48)
                    )));
                };
                if sent == answered {
                    if answered > MAX_ROUNDS {
                        return step(said(format!(
                            "mysql: more than {MAX_ROUNDS} authentication rounds"
                        )));
                    }
                    return step(Step::Send(answer));
                }
                answered += 1;
            }
            _ => {
                return step(said(format!(
                    "mysql: an unexpected answer to the login: '{}'",
                    printable(payload, 48)
                )));
            }
        }
    }
}

/// The answer to an authentication round: an AuthSwitchRequest (`fe`, plugin name, NUL, data)
/// or AuthMoreData "perform full authentication" (`01 04`, answered with an empty password).
/// None when the request is malformed.
fn round(payload: &[u8], seq: u8) -> Option<Vec<u8>> {
    match payload {
        [0xfe, rest @ ..] => {
            let nul = rest.iter().position(|&b| b == 0)?;
            Some(switch_answer(&rest[..nul], seq.wrapping_add(1)))
        }
        [0x01, 0x04] => Some(packet(seq.wrapping_add(1), &[0])),
        _ => None,
    }
}

impl Dialect for Mysql {
    fn name(&self) -> &'static str {
        "mysql"
    }

    fn hello(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&[])
    }

    fn limit(&self) -> usize {
        LIMIT
    }

    fn judge(&self, heard: &[u8], sent: usize, _closed: bool) -> Step {
        match walk(&self.login, heard, sent) {
            Walked::Step(step) => step,
            Walked::Partial(_) => Step::More,
        }
    }

    /// The login packet when it was not sent and the server did not refuse at once, or the
    /// answer to an authentication round left open: never a close the server counts.
    fn last_words(&self, heard: &[u8], sent: usize) -> Option<Vec<u8>> {
        if sent == 0 {
            return match split(heard, LIMIT) {
                Packet::Whole(_, [0xff, ..], _) | Packet::Part(Some((_, [0xff, ..]))) => None,
                _ => Some(self.login.clone()),
            };
        }
        match walk(&self.login, heard, sent) {
            Walked::Step(Step::Send(bytes)) if bytes != QUIT => Some(bytes),
            // A request cut short whose plugin name is there already.
            Walked::Partial(Some((seq, part @ [0xfe, ..]))) => {
                let nul = part.iter().position(|&b| b == 0)?;
                Some(switch_answer(&part[1..nul], seq.wrapping_add(1)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A MariaDB 10.11.19 greeting as captured on loopback (sequence 0, protocol 10).
    const GREETING: &[u8] = b"d\x00\x00\x00\n5.5.5-10.11.19-MariaDB-0+deb12u1\x00\x03\x00\x00\x00\
        {bWnEN7i\x00\xfe\xf7\x08\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00\
        *5i3_ghTKZb\\\x00mysql_native_password\x00";

    fn mysql() -> Mysql {
        Mysql::new(DEFAULT_USER)
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn err(text: &str) -> Step {
        Step::Done(Err(Said::new(text)))
    }

    /// Every proper prefix of `bytes` needs more, after `sent` packets.
    fn prefixes_need_more(bytes: &[u8], from: usize, sent: usize) {
        for n in from..bytes.len() {
            for closed in [false, true] {
                let step = mysql().judge(&bytes[..n], sent, closed);
                assert_eq!(step, Step::More, "prefix of {n} bytes, sent {sent}");
            }
        }
    }

    #[test]
    fn the_greeting_is_well_formed_and_asks_for_the_login() {
        assert_eq!(GREETING.len(), 4 + 100);
        let m = mysql();
        assert_eq!(m.judge(GREETING, 0, false), Step::Send(m.login.clone()));
        prefixes_need_more(GREETING, 0, 0);
    }

    #[test]
    fn the_login_packet_is_a_handshake_response_41() {
        let login = login_packet("app");
        let len = login.len() - 4;
        assert_eq!(&login[..4], &[len as u8, 0, 0, 1]);
        let caps = u32::from_le_bytes(login[4..8].try_into().unwrap());
        assert_eq!(caps & CLIENT_PROTOCOL_41, CLIENT_PROTOCOL_41);
        assert_eq!(caps & CLIENT_SECURE_CONNECTION, CLIENT_SECURE_CONNECTION);
        assert_eq!(caps & CLIENT_PLUGIN_AUTH, CLIENT_PLUGIN_AUTH);
        // No CLIENT_SSL (0x800), no CLIENT_CONNECT_WITH_DB (0x8).
        assert_eq!(caps & 0x808, 0);
        assert_eq!(login[12], 33);
        assert_eq!(&login[13..36], &[0; 23]);
        assert_eq!(&login[36..], b"app\0\0mysql_native_password\0");
        assert!(
            mysql()
                .login
                .windows(17)
                .any(|w| w == b"service-precheck\0")
        );
    }

    #[test]
    fn a_first_packet_error_is_not_ready_and_quoted_without_sqlstate() {
        let too_many = b"\x17\x00\x00\x00\xff\x10\x04Too many connections";
        assert_eq!(
            mysql().judge(too_many, 0, false),
            err("mysql: 1040 Too many connections")
        );
        prefixes_need_more(too_many, 0, 0);
        let blocked = &packet(
            0,
            b"\xffi\x04Host '192.0.2.10' is blocked because of many connection errors; \
              unblock with 'mariadb-admin flush-hosts'",
        );
        assert_eq!(
            mysql().judge(blocked, 0, true),
            err(
                "mysql: 1129 Host '192.0.2.10' is blocked because of many connection errors; \
                 unblock with 'mariadb-admin flush-hosts'"
            )
        );
        // Nothing is sent after a first-packet ERR: the server refused, it counts nothing.
        assert_eq!(mysql().last_words(too_many, 0), None);
        assert_eq!(mysql().last_words(&too_many[..9], 0), None);
    }

    /// Captured: the answer to the login of an unknown user.
    const DENIED: &[u8] = b"S\x00\x00\x02\xff\x15\x04#28000Access denied for user \
        'service-precheck'@'localhost' (using password: NO)";
    const OK: &[u8] = b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00";

    #[test]
    fn access_denied_after_the_login_is_ready() {
        assert_eq!(DENIED.len(), 4 + 0x53);
        let heard = cat(&[GREETING, DENIED]);
        assert_eq!(mysql().judge(&heard, 1, false), Step::Done(Ok(())));
        prefixes_need_more(&heard, GREETING.len(), 1);
        assert_eq!(mysql().last_words(&heard, 1), None);
        // 1698, access denied for an account that takes no password this way.
        let no_pw = &packet(2, b"\xff\xa2\x06#28000Access denied");
        let heard = cat(&[GREETING, no_pw]);
        assert_eq!(mysql().judge(&heard, 1, true), Step::Done(Ok(())));
    }

    #[test]
    fn ok_after_the_login_says_quit_then_ready() {
        let heard = cat(&[GREETING, OK]);
        assert_eq!(mysql().judge(&heard, 1, false), Step::Send(QUIT.to_vec()));
        assert_eq!(mysql().judge(&heard, 2, false), Step::Done(Ok(())));
        prefixes_need_more(&heard, GREETING.len(), 1);
    }

    #[test]
    fn other_errors_after_the_login_are_not_ready_with_code_and_sqlstate() {
        let too_many = &packet(2, b"\xff\x10\x04#08004Too many connections");
        let heard = cat(&[GREETING, too_many]);
        assert_eq!(
            mysql().judge(&heard, 1, false),
            err("mysql: 1040 #08004 Too many connections")
        );
        prefixes_need_more(&heard, GREETING.len(), 1);
        // No SQLSTATE though the client speaks 4.1: quoted as it is.
        let odd = &packet(2, b"\xff\x10\x04oops");
        let heard = cat(&[GREETING, odd]);
        assert_eq!(mysql().judge(&heard, 1, false), err("mysql: 1040 oops"));
        let short = b"\x02\x00\x00\x02\xff\x10";
        let heard = cat(&[GREETING, short]);
        assert_eq!(
            mysql().judge(&heard, 1, false),
            err("mysql: a truncated error packet")
        );
    }

    fn switch(plugin: &[u8], data: &[u8]) -> Vec<u8> {
        let mut payload = vec![0xfe];
        payload.extend_from_slice(plugin);
        payload.push(0);
        payload.extend_from_slice(data);
        packet(2, &payload)
    }

    #[test]
    fn an_auth_switch_is_answered_with_the_plugins_length_and_the_next_sequence() {
        let cases: [(&[u8], usize); 5] = [
            (b"mysql_native_password", 20),
            (b"client_ed25519", 64),
            (b"caching_sha2_password", 1),
            (b"sha256_password", 1),
            (b"auth_who_knows", 20),
        ];
        for (plugin, len) in cases {
            let req = switch(plugin, &[7; 20]);
            let heard = cat(&[GREETING, &req]);
            let Step::Send(answer) = mysql().judge(&heard, 1, false) else {
                panic!("no answer to {plugin:?}");
            };
            assert_eq!(answer.len(), 4 + len, "{plugin:?}");
            assert_eq!(&answer[..4], &[len as u8, 0, 0, 3]);
            prefixes_need_more(&heard, GREETING.len(), 1);
            // Unanswered (a write that failed): the last words answer it.
            assert_eq!(mysql().last_words(&heard, 1), Some(answer.clone()));
            // Cut short after the plugin name: still answered.
            let cut = &heard[..GREETING.len() + 5 + plugin.len() + 1];
            assert_eq!(mysql().last_words(cut, 1), Some(answer));
            // Cut short inside the plugin name: nothing to answer with.
            let cut = &heard[..GREETING.len() + 6];
            assert_eq!(mysql().last_words(cut, 1), None);
            // Its reply judged as any other: sequence 4.
            let denied = cat(&[&heard, &DENIED[..3], b"\x04", &DENIED[4..]]);
            assert_eq!(mysql().judge(&denied, 2, false), Step::Done(Ok(())));
            assert_eq!(mysql().last_words(&denied, 2), None);
        }
    }

    #[test]
    fn caching_sha2_rounds_are_followed() {
        let req = switch(b"caching_sha2_password", &[7; 20]);
        let fast = b"\x02\x00\x00\x04\x01\x03";
        let ok = cat(&[&OK[..3], b"\x05", &OK[4..]]);
        let heard = cat(&[GREETING, &req, fast, &ok]);
        assert_eq!(mysql().judge(&heard, 2, false), Step::Send(QUIT.to_vec()));
        assert_eq!(mysql().judge(&heard, 3, false), Step::Done(Ok(())));
        let full = b"\x02\x00\x00\x04\x01\x04";
        let heard = cat(&[GREETING, &req, full]);
        assert_eq!(
            mysql().judge(&heard, 2, false),
            Step::Send(b"\x01\x00\x00\x05\x00".to_vec())
        );
    }

    #[test]
    fn endless_auth_rounds_end() {
        let mut heard = GREETING.to_vec();
        let mut sent = 1;
        loop {
            heard.extend(switch(b"mysql_native_password", &[]));
            match mysql().judge(&heard, sent, false) {
                Step::Send(_) => sent += 1,
                step => {
                    assert_eq!(step, err("mysql: more than 4 authentication rounds"));
                    break;
                }
            }
            assert!(sent < 10);
        }
    }

    #[test]
    fn before_the_login_every_early_end_sends_it() {
        let m = mysql();
        for heard in [
            &b""[..],
            &GREETING[..3],
            &GREETING[..40],
            b"HTTP/1.1 400 Bad Request\r\n",
            b"\xff\xff\xff\x00",
            GREETING,
        ] {
            assert_eq!(m.last_words(heard, 0), Some(m.login.clone()), "{heard:?}");
        }
    }

    #[test]
    fn garbage_is_not_ready_and_quoted() {
        let m = mysql();
        assert_eq!(
            m.judge(
                b"\x1a\x00\x00\x00SSH-2.0-OpenSSH_9.2p1\r\n\x00\x00\x00",
                0,
                false
            ),
            err("mysql: not a MySQL greeting: 'SSH-2.0-OpenSSH_9.2p1\\x0d\\x0a\\x00\\x00\\x00'")
        );
        // A version without its NUL, or cut before the capabilities.
        assert_eq!(
            m.judge(b"\x04\x00\x00\x00\x0a5.5", 0, false),
            err("mysql: not a MySQL greeting: '\\x0a5.5'")
        );
        assert_eq!(
            m.judge(b"\x07\x00\x00\x00\x0a5.5\x00\x01\x02", 0, false),
            err("mysql: a truncated greeting: '\\x0a5.5\\x00\\x01\\x02'")
        );
        // A server without protocol 4.1.
        let mut old = GREETING.to_vec();
        // Header, protocol, version and its NUL, connection id, scramble, filler.
        let caps = 4 + 1 + 33 + 4 + 8 + 1;
        assert_eq!(old[caps + 1] & 0x02, 0x02);
        old[caps + 1] &= !0x02;
        assert_eq!(
            m.judge(&old, 0, false),
            err("mysql: the server does not speak protocol 4.1 \
                 (version '5.5.5-10.11.19-MariaDB-0+deb12u1')")
        );
        // After the login.
        let heard = cat(&[GREETING, b"\x03\x00\x00\x02\x42\x1b["]);
        assert_eq!(
            m.judge(&heard, 1, false),
            err("mysql: an unexpected answer to the login: 'B\\x1b['")
        );
        let heard = cat(&[GREETING, b"\x03\x00\x00\x02\xfeab"]);
        assert_eq!(
            m.judge(&heard, 1, false),
            err("mysql: a malformed authentication request: '\\xfeab'")
        );
    }

    #[test]
    fn a_huge_claimed_length_is_a_reason_at_once() {
        let m = mysql();
        assert_eq!(
            m.judge(b"\xff\xff\xff\x00", 0, false),
            err("mysql: a packet of 16777215 bytes announced, more than the 4096 bytes expected")
        );
        // The limit is for the whole conversation: a reply that does not fit after the
        // greeting is refused as well.
        let heard = cat(&[GREETING, b"\x00\x10\x00\x02"]);
        assert_eq!(
            m.judge(&heard, 1, false),
            err("mysql: a packet of 4096 bytes announced, more than the 4096 bytes expected")
        );
    }

    #[test]
    fn control_characters_in_server_text_are_escaped() {
        let evil = &packet(0, b"\xff\x10\x04\x1b[31mred\n\x00\xc3\xa9");
        let Step::Done(Err(said)) = mysql().judge(evil, 0, false) else {
            panic!("not a reason");
        };
        assert_eq!(
            said.to_string(),
            "mysql: 1040 \\x1b[31mred\\x0a\\x00\\xc3\\xa9"
        );
        let long = packet(0, &cat(&[b"\xff\x10\x04", &[b'x'; 497]]));
        let Step::Done(Err(said)) = mysql().judge(&long, 0, false) else {
            panic!("not a reason");
        };
        assert!(said.to_string().ends_with("xxx..."), "{said}");
        assert!(said.to_string().len() < 220, "{said}");
    }

    #[test]
    fn the_constructor_takes_the_user() {
        let d = dialect(Some("app"), None);
        assert_eq!(d.name(), "mysql");
        assert!(d.hello().is_empty());
        let Step::Send(login) = d.judge(GREETING, 0, false) else {
            panic!("no login");
        };
        assert!(login.windows(4).any(|w| w == b"app\0"));
    }
}
