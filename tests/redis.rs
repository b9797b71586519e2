//! redis:// against real Redis servers (up, with a password, loading a dataset, a replica of a
//! dead master) and against hostile fake servers on loopback.
//!
//! The conversation tests call the dialect through the shared loop (`talk::converse`), so they
//! hold without the binary; the binary's tests run `redis://` targets. Without Redis each test
//! says so in one `skipping` line (a failure under CI=true).

use std::path::PathBuf;
use std::time::Duration;

use service_precheck::probe::redis;

mod common;
#[path = "servers/redis.rs"]
mod redis_server;
mod servers;

use common::fake::{Fake, Step, after};
use common::{Running, cmd, or_skip, run};
use redis_server::{MISSING, Redis};

fn program(what: &str) -> Option<PathBuf> {
    or_skip(what, redis_server::program().ok_or(MISSING))
}

/// One conversation with the dialect, as the binary holds it.
fn converse(addr: &str, timeout: Duration) -> Result<(), String> {
    common::converse(addr, timeout, &*redis::dialect(None, None))
}

#[test]
fn pong_and_noauth_are_ready() {
    let Some(p) = program("redis readiness tests") else {
        return;
    };
    let up = Redis::up(&p);
    let auth = Redis::with_password(&p);
    for server in [&up, &auth] {
        assert_eq!(
            converse(&server.addr(), Duration::from_secs(2)),
            Ok(()),
            "{}",
            server.log()
        );
    }
    for server in [&up, &auth] {
        let target = format!("redis://{}", server.addr());
        run(cmd(&["-t", "10s", &target]))
            .code(0)
            .logged(&format!("{target}: ready after"));
    }
}

#[test]
fn loading_is_not_ready_until_loaded() {
    let Some(p) = program("redis loading test") else {
        return;
    };
    // About 3 s of loading at a millisecond a key.
    let loading = Redis::loading(&p, 3000);
    let said = converse(&loading.addr(), Duration::from_secs(2));
    assert_eq!(
        said,
        Err("redis: LOADING Redis is loading the dataset in memory".to_string())
    );
    let target = format!("redis://{}", loading.addr());
    let mut run = Running::start(cmd(&["-i", "100ms", "-t", "60s", &target]));
    let line = run.wait_for(&format!("{target}: not ready: "));
    assert!(
        line.contains("redis: LOADING Redis is loading the dataset in memory"),
        "{line}"
    );
    assert!(line.contains(&loading.addr()), "{line}");
    run.wait_for(&format!("{target}: ready after"));
    run.finish().code(0);
    // The server says it finished loading: the binary did not give up early.
    assert!(
        loading.log().contains("DB loaded from disk"),
        "{}",
        loading.log()
    );
}

#[test]
fn a_replica_of_a_dead_master_is_not_ready() {
    let Some(p) = program("redis masterdown test") else {
        return;
    };
    let replica = Redis::masterdown(&p);
    let reason = "redis: MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set \
                  to 'no'.";
    assert_eq!(
        converse(&replica.addr(), Duration::from_secs(2)),
        Err(reason.to_string())
    );
    let target = format!("redis://{}", replica.addr());
    run(cmd(&["-t", "1s", "-i", "100ms", &target]))
        .code(1)
        .logged(&format!(
            "{target}: not ready: {reason} ({})",
            replica.addr()
        ))
        .not_logged(&format!("{target}: ready"))
        .within(Duration::from_secs(10));
}

/// A fake server's script: read the client's PING, then `then`; reading first, its
/// closing sends no reset of its own.
fn after_ping(then: Vec<Step>) -> Vec<Step> {
    after(Step::read_until("PING\r\n"), then)
}

/// Answers with `bytes`, then holds the connection until the client closes it.
fn answer(bytes: &[u8]) -> Vec<Step> {
    after_ping(vec![Step::send(bytes), Step::Silent])
}

/// The binary and the dialect against a hostile server: never ready (see common::never_ready).
fn never_ready(server: &Fake, reason: &str) {
    let dialect = redis::dialect(None, None);
    common::never_ready("redis", &*dialect, &server.addr.to_string(), reason);
}

#[test]
fn a_silent_server_is_never_ready() {
    let server = Fake::start(after_ping(vec![Step::Silent]));
    never_ready(&server, "no redis answer within 500ms");
}

#[test]
fn garbage_is_not_redis() {
    let server = Fake::start(answer(b"SSH-2.0-OpenSSH_9.2\r\n"));
    never_ready(
        &server,
        "redis: not a Redis answer: 'SSH-2.0-OpenSSH_9.2\\x0d\\x0a'",
    );
    let server = Fake::start(answer(b"+OK\r\n"));
    never_ready(&server, "redis: unexpected answer to PING: '+OK\\x0d\\x0a'");
}

#[test]
fn a_trickling_pong_runs_out_of_time() {
    let server = Fake::start(after_ping(vec![Step::trickle(
        b"+PONG\r\n",
        Duration::from_millis(200),
    )]));
    never_ready(&server, "no redis answer within 500ms (after ");
}

#[test]
fn an_endless_error_line_is_told_by_its_start() {
    let server = Fake::start(after_ping(vec![
        Step::send(b"-ERR "),
        Step::endless([b'z'; 1024], Duration::ZERO),
    ]));
    never_ready(&server, "redis: ERR zzzz");
}

#[test]
fn huge_claimed_lengths_are_reasons_not_allocations() {
    let server = Fake::start(answer(b"$99999999999999999999\r\n"));
    never_ready(
        &server,
        "redis: unexpected answer to PING: '$99999999999999999999\\x0d\\x0a'",
    );
    let server = Fake::start(answer(b"*4294967296\r\n"));
    never_ready(&server, "redis: unexpected answer to PING: '*4294967296");
}

#[test]
fn an_error_line_cut_by_a_reset_is_still_told() {
    // As Redis's DENIED: a long line, then a reset (SO_LINGER 0) before the client reads it all.
    let mut line = b"-DENIED Redis is running in protected mode because protected mode is \
                     enabled"
        .to_vec();
    line.resize(1065, b'.');
    line.extend_from_slice(b"\r\n");
    let server = Fake::start(after_ping(vec![Step::Send(line), Step::Reset]));
    never_ready(
        &server,
        "redis: DENIED Redis is running in protected mode because protected mode is enabled",
    );
}

#[test]
fn control_characters_in_the_error_are_escaped() {
    let server = Fake::start(answer(b"-ERR \x1b[2J\x1b]0;owned\x07\x08\xff\r\n"));
    never_ready(&server, "redis: ERR \\x1b[2J\\x1b]0;owned\\x07\\x08\\xff");
}
