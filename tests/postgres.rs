//! postgres:// against real PostgreSQL servers (trust, scram-sha-256, a standby with
//! hot_standby = off that is then promoted) and against hostile fake servers on loopback.
//!
//! The conversation tests call the dialect through the shared loop (`talk::converse`), so they
//! hold without the binary; the binary's tests run `postgres://` targets. Every real server
//! also shows what a probe leaves in its log. Without PostgreSQL each test says so in one
//! `skipping` line (a failure under CI=true).

use std::time::{Duration, Instant};

use service_precheck::probe::postgres;

mod common;
#[path = "servers/postgres.rs"]
mod postgres_server;
mod servers;

use common::fake::{Fake, Step, after};
use common::{Running, cmd, or_skip, run};
use postgres_server::{MISSING, Postgres, Programs};

fn programs(what: &str) -> Option<Programs> {
    or_skip(what, postgres_server::programs().ok_or(MISSING))
}

/// One conversation with the dialect for `user` and `db`, as the binary holds it.
fn converse(addr: &str, user: Option<&str>, db: Option<&str>) -> Result<(), String> {
    let dialect = postgres::dialect(user, db);
    common::converse(addr, Duration::from_secs(2), &*dialect)
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
        run(cmd(&["-t", "10s", &target]))
            .code(0)
            .logged(&format!("{target}: ready after"));
    }
    let target = format!("postgresql://app@{}/orders", trust.addr());
    run(cmd(&["-t", "10s", &target]))
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
        run(cmd(&["-t", "10s", &target])).code(0);
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

/// A fake server's script: read the client's StartupMessage (what it sent first), then
/// `then`; reading first, its closing sends no reset.
fn after_startup(then: Vec<Step>) -> Vec<Step> {
    after(Step::ReadSome, then)
}

/// Answers with `bytes`, then holds the connection until the client closes it.
fn answer(bytes: &[u8]) -> Vec<Step> {
    after_startup(vec![Step::send(bytes), Step::Silent])
}

/// The binary and the dialect against a hostile server: never ready (see common::never_ready).
fn never_ready(server: &Fake, reason: &str) {
    let dialect = postgres::dialect(None, None);
    common::never_ready("postgres", &*dialect, &server.addr.to_string(), reason);
}

#[test]
fn a_silent_server_is_never_ready() {
    let server = Fake::start(after_startup(vec![Step::Silent]));
    never_ready(&server, "no postgres answer within 500ms");
}

#[test]
fn garbage_is_not_postgres() {
    let server = Fake::start(answer(b"HTTP/1.1 400 Bad Request\r\n\r\n"));
    never_ready(
        &server,
        "postgres: not a PostgreSQL answer: 'HTTP/1.1 400 Bad Request\\x0d\\x0a\\x0d\\x0a'",
    );
}

#[test]
fn a_trickling_answer_runs_out_of_time() {
    let every = Duration::from_millis(200);
    let server = Fake::start(after_startup(vec![Step::trickle(
        b"R\x00\x00\x00\x08\x00\x00\x00\x00",
        every,
    )]));
    never_ready(&server, "no postgres answer within 500ms (after ");
}

#[test]
fn an_endless_error_is_cut_at_its_length() {
    let server = Fake::start(after_startup(vec![
        Step::send(b"E\x00\x00\x75\x30SFATAL\x00C"),
        Step::endless([b'x'; 4096], Duration::ZERO),
    ]));
    never_ready(
        &server,
        "postgres: malformed error message: 'SFATAL\\x00Cxxxx",
    );
}

#[test]
fn huge_claimed_lengths_are_reasons_not_allocations() {
    let server = Fake::start(answer(b"R\xff\xff\xff\xff\x00\x00\x00\x00"));
    never_ready(
        &server,
        "postgres: authentication request of 4294967295 bytes",
    );
    let server = Fake::start(answer(b"E\x00\xff\xff\xffSFATAL\x00"));
    never_ready(&server, "postgres: error message of 16777215 bytes");
    let server = Fake::start(after_startup(vec![Step::send(
        b"Ecould not fork new process for connection: No space\n\x00",
    )]));
    never_ready(
        &server,
        "postgres: error without a protocol-3.0 length: 'could not fork new process for \
         connection: No space'",
    );
}

#[test]
fn control_characters_in_the_message_are_escaped() {
    let answer =
        answer(b"E\x00\x00\x00\x26SFATAL\x00C57P03\x00M\x1b[2J\x1b]0;owned\x07\r\nx\x00\x00");
    let server = Fake::start(answer);
    never_ready(
        &server,
        "postgres: \\x1b[2J\\x1b]0;owned\\x07\\x0d\\x0ax (57P03)",
    );
}
