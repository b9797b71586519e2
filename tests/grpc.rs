//! grpc:// targets against real servers on loopback: a grpcio server whose health statuses the
//! test sets, etcd (one member; a member of two whose peer starts late), and hostile fakes
//! that are never ready (HTTP/1.1, silence, SETTINGS then silence, garbage, a huge message).
//!
//! Synchronisation waits for the binary's own log lines and the servers' answers; timing bounds
//! are generous.

use std::time::{Duration, Instant};

mod common;
#[path = "servers/etcd.rs"]
mod etcd_server;
#[path = "servers/grpc.rs"]
mod grpc_server;
mod servers;

use common::fake::{Fake, Step};
use common::{Running, cmd, or_skip};
use grpc_server::Grpcio;

/// Runs to the end: the exit code, the log and how long it took.
fn run(args: &[&str]) -> (Option<i32>, String, Duration) {
    let (status, log, took) = common::run(cmd(args)).parts();
    (status.code(), log, took)
}

fn grpcio(test: &str) -> Option<std::path::PathBuf> {
    let why = "no Python venv with grpcio and grpcio-health-checking at \
               $PRECHECK_GRPC_PYTHON or /opt/precheck-grpc/bin/python";
    let why = format!("{why} ({})", grpc_server::INSTALL);
    or_skip(test, grpc_server::python().ok_or(why))
}

fn etcd(test: &str) -> Option<std::path::PathBuf> {
    let why = format!("no etcd ({})", etcd_server::INSTALL);
    or_skip(test, etcd_server::binary().ok_or(why))
}

/// The binary against one target, to the end: never ready, with `reason` in the log.
fn not_ready(target: &str, reason: &str) {
    let (code, log, took) = run(&["-t", "2s", "--connect-timeout", "500ms", target]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains(reason), "lacks {reason:?}:\n{log}");
    assert!(!log.contains("ready after"), "{log}");
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{log}");
}

#[test]
fn grpcio_serving_is_ready() {
    let Some(python) = grpcio("grpcio_serving_is_ready") else {
        return;
    };
    let mut server = Grpcio::start(&python, true);
    let target = format!("grpc://{}", server.addr());
    let (code, log, _) = run(&["-t", "10s", &target]);
    assert_eq!(code, Some(0), "{log}");
    // A named service set SERVING is ready too.
    server.set("precheck.Named", "SERVING");
    let named = format!("grpc://{}/precheck.Named", server.addr());
    let (code, log, _) = run(&["-t", "10s", &named]);
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn grpcio_not_serving_then_serving() {
    let Some(python) = grpcio("grpcio_not_serving_then_serving") else {
        return;
    };
    let mut server = Grpcio::start(&python, true);
    server.set("", "NOT_SERVING");
    let target = format!("grpc://{}", server.addr());
    let mut running = Running::start(cmd(&["-t", "20s", "-i", "200ms", &target]));
    running.wait_for("not ready: grpc: NOT_SERVING");
    let set = Instant::now();
    server.set("", "SERVING");
    let finished = running.finish();
    finished.code(0);
    // Ready within a few intervals of the change.
    let after = set.elapsed();
    assert!(after < grpc_server::SETTLE, "{after:?}:\n{}", finished.log);
    // The other statuses, each a reason of its own.
    for status in ["SERVICE_UNKNOWN", "UNKNOWN"] {
        server.set("", status);
        not_ready(&target, &format!("not ready: grpc: {status} (127.0.0.1:"));
    }
}

#[test]
fn grpcio_unknown_service_is_not_found() {
    let Some(python) = grpcio("grpcio_unknown_service_is_not_found") else {
        return;
    };
    let server = Grpcio::start(&python, true);
    let target = format!("grpc://{}/no.such.Service", server.addr());
    not_ready(&target, "not ready: grpc: NOT_FOUND (5) (127.0.0.1:");
}

#[test]
fn grpcio_without_the_health_service_is_unimplemented() {
    let Some(python) = grpcio("grpcio_without_the_health_service_is_unimplemented") else {
        return;
    };
    let server = Grpcio::start(&python, false);
    let target = format!("grpc://{}", server.addr());
    not_ready(&target, "grpc: UNIMPLEMENTED (12): Method not found!");
}

#[test]
fn etcd_single_member_is_ready() {
    let Some(etcd) = etcd("etcd_single_member_is_ready") else {
        return;
    };
    let member = etcd_server::single(&etcd);
    let target = format!("grpc://{}", member.client_addr());
    let (code, log, _) = run(&["-t", "20s", "-i", "200ms", &target]);
    assert_eq!(code, Some(0), "{log}\n{}", member.log());
    // etcd's health service knows only the server as a whole.
    let named = format!("grpc://{}/etcdserverpb.KV", member.client_addr());
    not_ready(&named, "grpc: NOT_FOUND (5): unknown service");
}

#[test]
fn etcd_member_without_quorum_is_ready_once_its_peer_starts() {
    let Some(etcd) = etcd("etcd_member_without_quorum_is_ready_once_its_peer_starts") else {
        return;
    };
    let mut first = etcd_server::Member::new("first");
    let mut second = etcd_server::Member::new("second");
    let cluster = etcd_server::initial_cluster(&[&first, &second]);
    let token = format!("pair-{}", std::process::id());
    first.start(&etcd, &cluster, &token);
    let target = format!("grpc://{}", first.client_addr());
    let args = [
        "-t",
        "40s",
        "-i",
        "500ms",
        "--connect-timeout",
        "1s",
        &target,
    ];
    let mut running = Running::start(cmd(&args));
    // It accepts TCP but answers nothing, not even SETTINGS.
    running.wait_for("not ready: no grpc answer within 1s (127.0.0.1:");
    let started = Instant::now();
    second.start(&etcd, &cluster, &token);
    let finished = running.finish();
    assert_eq!(
        finished.status.code(),
        Some(0),
        "{}\nfirst:\n{}\nsecond:\n{}",
        finished.log,
        first.log(),
        second.log()
    );
    // Measured: 0.5-1.4 s after the peer starts; bounded generously.
    let after = started.elapsed();
    assert!(
        after < Duration::from_secs(15),
        "{after:?}:\n{}",
        finished.log
    );
    second.stop();
    first.stop();
}

/// A fake server on loopback: each connection gets `answer` once the client's first bytes came,
/// then the connection is held open (until the client closes it) or closed.
fn answering(answer: &[u8], close: bool) -> Fake {
    let hold = if close { Step::Close } else { Step::Silent };
    Fake::start(vec![Step::ReadSome, Step::send(answer), hold])
}

const SETTINGS: &[u8] = b"\0\0\0\x04\0\0\0\0\0";

#[test]
fn an_http1_server_is_not_http2() {
    let server = answering(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        true,
    );
    not_ready(
        &format!("grpc://{}", server.addr),
        "grpc: not an HTTP/2 server: 'HTTP/1.1 400 Bad Request\\x0d\\x0a",
    );
}

#[test]
fn a_silent_server_times_out() {
    let server = answering(b"", false);
    not_ready(
        &format!("grpc://{}", server.addr),
        "no grpc answer within 500ms (127.0.0.1:",
    );
}

#[test]
fn settings_then_silence_times_out() {
    let server = answering(SETTINGS, false);
    not_ready(
        &format!("grpc://{}", server.addr),
        "no grpc answer within 500ms (after 9 bytes: '\\x00\\x00\\x00\\x04",
    );
}

#[test]
fn garbage_is_not_http2() {
    let server = answering(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage", true);
    not_ready(
        &format!("grpc://{}", server.addr),
        "grpc: not an HTTP/2 server: '\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc",
    );
}

#[test]
fn a_16_mb_message_is_refused_unread() {
    // SETTINGS, HEADERS :status 200, DATA with a message prefix claiming 16 MB; held open.
    let answer: &[u8] = b"\0\0\0\x04\0\0\0\0\0\
        \0\0\x01\x01\x04\0\0\0\x01\x88\
        \0\0\x05\0\0\0\0\0\x01\0\x01\0\0\0";
    let server = answering(answer, false);
    not_ready(
        &format!("grpc://{}", server.addr),
        "grpc: a message of 16777216 bytes, over the limit of 1024",
    );
}

#[test]
fn a_port_is_required_and_grpcs_is_refused() {
    let (code, log, _) = run(&["-t", "1s", "grpc://127.0.0.1"]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("grpc:// needs HOST:PORT"), "{log}");
    let (code, log, _) = run(&["-t", "1s", "grpcs://127.0.0.1:1"]);
    assert_eq!(code, Some(2), "{log}");
}
