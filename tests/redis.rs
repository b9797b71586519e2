//! redis:// against real Redis servers (up, with a password, loading a dataset, a replica of a
//! dead master) and against hostile fake servers on loopback.
//!
//! The conversation tests call the dialect through the shared loop (`talk::converse`), so they
//! hold without the binary; the binary's tests run `redis://` targets. Without Redis each test
//! says so in one `skipping` line (a failure under CI=true).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use service_precheck::probe::redis;
use service_precheck::probe::talk::{self, AddrError};

mod common;
#[path = "servers/redis.rs"]
mod redis_server;
mod servers;

use common::{Running, bin, skip};
use redis_server::{MISSING, Redis};

fn program(what: &str) -> Option<PathBuf> {
    let found = redis_server::program();
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

/// One conversation with the dialect, as the binary holds it.
fn converse(addr: &str, timeout: Duration) -> Result<(), String> {
    let addr: SocketAddr = addr.parse().expect("an address");
    talk::converse(addr, timeout, &*redis::dialect(None, None)).map_err(|e| match e {
        AddrError::Answer(said) => said.to_string(),
        AddrError::Connect(e) => format!("connect: {e:?}"),
    })
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
        Running::start(cmd(&["-t", "10s", &target]))
            .finish()
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
    Running::start(cmd(&["-t", "1s", "-i", "100ms", &target]))
        .finish()
        .code(1)
        .logged(&format!(
            "{target}: not ready: {reason} ({})",
            replica.addr()
        ))
        .not_logged(&format!("{target}: ready"))
        .within(Duration::from_secs(10));
}

/// A fake server on loopback that answers every connection with `serve`.
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

/// Reads the client's PING (so that closing sends no reset of our own).
fn read_ping(conn: &mut TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.read(&mut [0u8; 64]);
}

/// Answers with `bytes`, then holds the connection until the client closes it.
fn answer(bytes: &'static [u8]) -> impl Fn(TcpStream) + Send + Sync + 'static {
    move |mut conn| {
        read_ping(&mut conn);
        let _ = conn.write_all(bytes);
        let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
        let _ = conn.read(&mut [0u8; 64]);
    }
}

/// The binary against a hostile server: never ready, exit 1 at the deadline with `reason` in
/// the log, no raw control character in it, in a generous bound.
fn never_ready(addr: &str, reason: &str) {
    let said = converse(addr, Duration::from_millis(500));
    let said = said.expect_err("a hostile server is never ready");
    assert!(said.starts_with(reason), "{said:?} is not {reason:?}");
    let raw = said.chars().find(|c| c.is_control());
    assert_eq!(raw, None, "{said:?}");
    let target = format!("redis://{addr}");
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
        read_ping(&mut conn);
        let _ = conn.read(&mut [0u8; 64]);
    });
    never_ready(&addr, "no redis answer within 500ms");
}

#[test]
fn garbage_is_not_redis() {
    let addr = fake(answer(b"SSH-2.0-OpenSSH_9.2\r\n"));
    never_ready(
        &addr,
        "redis: not a Redis answer: 'SSH-2.0-OpenSSH_9.2\\x0d\\x0a'",
    );
    let addr = fake(answer(b"+OK\r\n"));
    never_ready(&addr, "redis: unexpected answer to PING: '+OK\\x0d\\x0a'");
}

#[test]
fn a_trickling_pong_runs_out_of_time() {
    let addr = fake(|mut conn| {
        read_ping(&mut conn);
        for b in b"+PONG\r\n" {
            if conn.write_all(&[*b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
    });
    never_ready(&addr, "no redis answer within 500ms (after ");
}

#[test]
fn an_endless_error_line_is_told_by_its_start() {
    let addr = fake(|mut conn| {
        read_ping(&mut conn);
        let _ = conn.write_all(b"-ERR ");
        let chunk = [b'z'; 1024];
        while conn.write_all(&chunk).is_ok() {}
    });
    never_ready(&addr, "redis: ERR zzzz");
}

#[test]
fn huge_claimed_lengths_are_reasons_not_allocations() {
    let addr = fake(answer(b"$99999999999999999999\r\n"));
    never_ready(
        &addr,
        "redis: unexpected answer to PING: '$99999999999999999999\\x0d\\x0a'",
    );
    let addr = fake(answer(b"*4294967296\r\n"));
    never_ready(&addr, "redis: unexpected answer to PING: '*4294967296");
}

#[test]
fn an_error_line_cut_by_a_reset_is_still_told() {
    // As Redis's DENIED: a long line, then a reset (SO_LINGER 0) before the client reads it all.
    let addr = fake(|mut conn| {
        read_ping(&mut conn);
        let mut line = b"-DENIED Redis is running in protected mode because protected mode is \
                         enabled"
            .to_vec();
        line.resize(1065, b'.');
        line.extend_from_slice(b"\r\n");
        let _ = conn.write_all(&line);
        let socket = socket2::SockRef::from(&conn);
        let _ = socket.set_linger(Some(Duration::ZERO));
    });
    never_ready(
        &addr,
        "redis: DENIED Redis is running in protected mode because protected mode is enabled",
    );
}

#[test]
fn control_characters_in_the_error_are_escaped() {
    let addr = fake(answer(b"-ERR \x1b[2J\x1b]0;owned\x07\x08\xff\r\n"));
    never_ready(&addr, "redis: ERR \\x1b[2J\\x1b]0;owned\\x07\\x08\\xff");
}
