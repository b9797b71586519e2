//! postgres:// against real PostgreSQL servers (trust, scram-sha-256, a standby with
//! hot_standby = off that is then promoted) and against hostile fake servers on loopback.
//!
//! The conversation tests call the dialect through the shared loop (`talk::converse`), so they
//! hold without the binary; the binary's tests run `postgres://` targets. Every real server
//! also shows what a probe leaves in its log. Without PostgreSQL each test says so in one
//! `skipping` line (a failure under CI=true).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use service_precheck::probe::postgres;
use service_precheck::probe::talk::{self, AddrError};

mod common;
#[path = "servers/postgres.rs"]
mod postgres_server;
mod servers;

use common::{Running, bin, skip};
use postgres_server::{MISSING, Postgres, Programs};

fn programs(what: &str) -> Option<Programs> {
    let found = postgres_server::programs();
    if found.is_none() {
        skip(what, MISSING);
    }
    found
}

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args).env_clear().env("NO_COLOR", "1");
    c
}

/// One conversation with the dialect for `user` and `db`, as the binary holds it.
fn converse(addr: &str, user: Option<&str>, db: Option<&str>) -> Result<(), String> {
    converse_within(addr, user, db, Duration::from_secs(2))
}

fn converse_within(
    addr: &str,
    user: Option<&str>,
    db: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let addr: SocketAddr = addr.parse().expect("an address");
    let dialect = postgres::dialect(user, db);
    talk::converse(addr, timeout, &*dialect).map_err(|e| match e {
        AddrError::Answer(said) => said.to_string(),
        AddrError::Connect(e) => format!("connect: {e:?}"),
    })
}

/// Lines of a server log that a probe must not cause.
const NOISE: &[&str] = &[
    "could not receive data",
    "incomplete startup packet",
    "unexpected EOF",
    "invalid length of startup packet",
    "Connection reset",
];

/// Waits until no backend of the server at `port` is left (a backend's process title names its
/// client, `127.0.0.1(PORT)`), so that everything the probes' backends log is in the log.
fn backends_gone(server: &Postgres) {
    let title = "127.0.0.1(";
    let postmaster = server.postmaster();
    servers::wait_until("backends gone", Postgres::patience(), || {
        !std::fs::read_dir("/proc")
            .expect("read /proc")
            .flatten()
            .any(|e| {
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                // The parent PID is the fourth field, after the parenthesised command.
                let ppid = stat
                    .rsplit_once(") ")
                    .and_then(|(_, rest)| rest.split(' ').nth(1))
                    .and_then(|p| p.parse::<i32>().ok());
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                ppid == Some(postmaster) && String::from_utf8_lossy(&cmdline).contains(title)
            })
    });
}

#[test]
fn trust_scram_wrong_role_and_missing_database_are_all_ready() {
    let Some(p) = programs("postgres readiness tests") else {
        return;
    };
    let trust = Postgres::trust(&p);
    let scram = Postgres::scram(&p);
    for (server, user, db) in [
        (&trust, None, None),
        (&trust, Some("nosuch"), None),
        (&trust, Some("postgres"), Some("nodb")),
        (&scram, None, None),
        (&scram, Some("nosuch"), Some("nodb")),
    ] {
        let said = converse(&server.addr(), user, db);
        assert_eq!(said, Ok(()), "{user:?} {db:?}:\n{}", server.log());
    }
    for server in [&trust, &scram] {
        let target = format!("postgres://{}", server.addr());
        Running::start(cmd(&["-t", "10s", &target]))
            .finish()
            .code(0)
            .logged(&format!("{target}: ready after"));
    }
    let target = format!("postgresql://app@{}/orders", trust.addr());
    Running::start(cmd(&["-t", "10s", &target]))
        .finish()
        .code(0)
        .logged(&format!("{target}: ready after"));
}

#[test]
fn an_existing_role_under_trust_leaves_nothing_in_the_log() {
    let Some(p) = programs("postgres log noise test") else {
        return;
    };
    let trust = Postgres::trust(&p);
    let scram = Postgres::scram(&p);
    for _ in 0..20 {
        assert_eq!(converse(&trust.addr(), None, None), Ok(()));
        assert_eq!(converse(&scram.addr(), None, None), Ok(()));
    }
    quiet(&[&trust, &scram]);
    for server in [&trust, &scram] {
        let target = format!("postgres://postgres@{}/postgres", server.addr());
        Running::start(cmd(&["-t", "10s", &target]))
            .finish()
            .code(0);
    }
    quiet(&[&trust, &scram]);
}

/// Once their backends are gone, the servers' logs hold nothing after the start.
fn quiet(servers: &[&Postgres]) {
    for &server in servers {
        backends_gone(server);
        let log = server.log();
        let after_start = log
            .split_once("ready to accept connections")
            .map(|(_, after)| after)
            .expect("the server said it was ready");
        for noise in NOISE.iter().chain(&["FATAL", "ERROR"]) {
            assert!(!after_start.contains(noise), "{noise:?} in the log:\n{log}");
        }
    }
}

#[test]
fn a_standby_is_not_ready_until_promoted() {
    let Some(p) = programs("postgres standby test") else {
        return;
    };
    let standby = Postgres::standby(&p);
    let said = converse(&standby.addr(), None, None);
    assert_eq!(
        said,
        Err("postgres: the database system is not accepting connections (57P03)".to_string()),
        "{}",
        standby.log()
    );

    let tcp = format!("tcp://{}", standby.addr());
    let pg = format!("postgres://{}", standby.addr());
    let mut run = Running::start(cmd(&["-v", "-i", "100ms", "-t", "60s", &tcp, &pg]));
    run.wait_for(&format!("{tcp}: ready after"));
    let line = run.wait_for(&format!("{pg}: not ready: "));
    assert!(
        line.contains("postgres: the database system is not accepting connections (57P03)"),
        "{line}"
    );
    assert!(line.contains(&standby.addr()), "{line}");
    // A few more attempts: still not ready, for the same reason.
    let again = run.wait_for(&format!("{pg}: attempt 3: "));
    assert!(again.contains("(57P03)"), "{again}");
    let early = run
        .seen
        .iter()
        .find(|l| l.contains(&format!("{pg}: ready")));
    assert_eq!(early, None, "ready before the promotion");
    standby.promote();
    let promoted = Instant::now();
    run.wait_for(&format!("{pg}: ready after"));
    let took = promoted.elapsed();
    run.finish().code(0);
    // An interval or two after pg_ctl promote returns; generous for a loaded machine.
    assert!(
        took < Duration::from_secs(3),
        "ready {took:?} after promote"
    );
}

/// A fake server on loopback that answers every connection with `serve` (after reading what
/// the client sent first, so that closing sends no reset).
fn fake(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr").to_string();
    let serve = Arc::new(serve);
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let serve = serve.clone();
            thread::spawn(move || serve(conn));
        }
    });
    addr
}

/// Reads the client's StartupMessage (a length word and that many bytes, bounded).
fn read_startup(conn: &mut TcpStream) {
    let mut buf = [0u8; 512];
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.read(&mut buf);
}

/// Answers with `bytes`, then holds the connection until the client closes it.
fn answer(bytes: &'static [u8]) -> impl Fn(TcpStream) + Send + Sync + 'static {
    move |mut conn| {
        read_startup(&mut conn);
        let _ = conn.write_all(bytes);
        let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
        let _ = conn.read(&mut [0u8; 64]);
    }
}

/// The binary against a hostile server: never ready, exit 1 at the deadline with `reason` in
/// the log, no raw control character in it, in a generous bound.
fn never_ready(addr: &str, reason: &str) {
    let said = converse_within(addr, None, None, Duration::from_millis(500));
    let said = said.expect_err("a hostile server is never ready");
    assert!(said.starts_with(reason), "{said:?} is not {reason:?}");
    let raw = said.chars().find(|c| c.is_control());
    assert_eq!(raw, None, "{said:?}");
    let target = format!("postgres://{addr}");
    let args = [
        "-t",
        "1s",
        "-i",
        "100ms",
        "--connect-timeout",
        "500ms",
        &target,
    ];
    let done = Running::start(cmd(&args)).finish();
    done.code(1)
        .logged(&format!("{target}: not ready: {reason}"))
        .not_logged(&format!("{target}: ready"))
        .within(Duration::from_secs(10));
    let raw = done.log.chars().find(|c| c.is_control() && *c != '\n');
    assert_eq!(raw, None, "{}", done.log);
}

#[test]
fn a_silent_server_is_never_ready() {
    let addr = fake(|mut conn| {
        read_startup(&mut conn);
        let _ = conn.read(&mut [0u8; 64]);
    });
    never_ready(&addr, "no postgres answer within 500ms");
}

#[test]
fn garbage_is_not_postgres() {
    let addr = fake(answer(b"HTTP/1.1 400 Bad Request\r\n\r\n"));
    never_ready(
        &addr,
        "postgres: not a PostgreSQL answer: 'HTTP/1.1 400 Bad Request\\x0d\\x0a\\x0d\\x0a'",
    );
}

#[test]
fn a_trickling_answer_runs_out_of_time() {
    let addr = fake(|mut conn| {
        read_startup(&mut conn);
        for b in b"R\x00\x00\x00\x08\x00\x00\x00\x00" {
            if conn.write_all(&[*b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
    });
    never_ready(&addr, "no postgres answer within 500ms (after ");
}

#[test]
fn an_endless_error_is_cut_at_its_length() {
    let addr = fake(|mut conn| {
        read_startup(&mut conn);
        let _ = conn.write_all(b"E\x00\x00\x75\x30SFATAL\x00C");
        let chunk = [b'x'; 4096];
        while conn.write_all(&chunk).is_ok() {}
    });
    never_ready(
        &addr,
        "postgres: malformed error message: 'SFATAL\\x00Cxxxx",
    );
}

#[test]
fn huge_claimed_lengths_are_reasons_not_allocations() {
    let addr = fake(answer(b"R\xff\xff\xff\xff\x00\x00\x00\x00"));
    never_ready(
        &addr,
        "postgres: authentication request of 4294967295 bytes",
    );
    let addr = fake(answer(b"E\x00\xff\xff\xffSFATAL\x00"));
    never_ready(&addr, "postgres: error message of 16777215 bytes");
    let addr = fake(|mut conn| {
        read_startup(&mut conn);
        let _ = conn.write_all(b"Ecould not fork new process for connection: No space\n\x00");
    });
    never_ready(
        &addr,
        "postgres: error without a protocol-3.0 length: 'could not fork new process for \
         connection: No space'",
    );
}

#[test]
fn control_characters_in_the_message_are_escaped() {
    let addr = fake(answer(
        b"E\x00\x00\x00\x26SFATAL\x00C57P03\x00M\x1b[2J\x1b]0;owned\x07\r\nx\x00\x00",
    ));
    never_ready(
        &addr,
        "postgres: \\x1b[2J\\x1b]0;owned\\x07\\x0d\\x0ax (57P03)",
    );
}
