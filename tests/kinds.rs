//! http://, file:// and unix:// targets against real servers, files and sockets on loopback.
//!
//! The HTTP server is our own (tests/common/fake.rs): its behaviour changes while the binary waits, and
//! it records every request it reads. Synchronisation waits for the binary's own log lines; the
//! timing bounds are generous. Only loopback addresses and `localhost` with -4 are used.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::time::Duration;

mod common;
use common::fake::{Fake, Step, http};
use common::*;

/// Runs to the end: the exit code and the log.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let (status, log, _) = Running::start(cmd(args)).finish().parts();
    (status.code(), log)
}

/// What connection `n` of `server` sent in its first read step (the request head), waiting
/// for it.
fn head_sent(server: &Fake, n: usize) -> String {
    String::from_utf8_lossy(&server.read(n, 0)).into_owned()
}

/// Reads the request head, then the `answer` steps.
fn after_head(answer: Vec<Step>) -> Vec<Step> {
    let mut script = vec![Step::read_until("\r\n\r\n")];
    script.extend(answer);
    script
}

#[test]
fn http_statuses_that_change_while_waiting() {
    let server = Fake::start(http(503, "Service Unavailable"));
    let addr = server.addr;
    let target = format!("http://{addr}/health/ready");
    let mut run = Running::start(cmd(&["-i", "20ms", "-t", "15s", &target]));
    run.wait_for(&format!(
        "{target}: not ready: HTTP 503 Service Unavailable ({addr})"
    ));
    let request = head_sent(&server, 0);
    let want = format!(
        "GET /health/ready HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: service-precheck/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    assert!(request.starts_with(&want), "{request:?}");
    assert!(request.contains("\r\nConnection: close\r\n"), "{request:?}");
    server.set(http(404, "Not Found"));
    run.wait_for(&format!("{target}: not ready: HTTP 404 Not Found ({addr})"));
    server.set(http(200, "OK"));
    let line = run.wait_for(&format!("{target}: ready after"));
    assert!(line.ends_with(&format!("s: {addr}")), "{line}");
    let (status, log, _) = run.finish().parts();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn redirects_are_statuses_not_followed() {
    let server = Fake::start(http(302, "Found"));
    let addr = server.addr;
    // 302 is in the default 200-399; the query reaches the server byte for byte, the '#' never.
    let target = format!("http://{addr}/_cluster/health?wait_for_status=yellow&x=%2F%20");
    let (code, log) = run(&["-t", "10s", &target]);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains(&format!("{target}: ready after")), "{log}");
    let request = head_sent(&server, 0);
    let line = "GET /_cluster/health?wait_for_status=yellow&x=%2F%20 HTTP/1.1\r\n";
    assert!(request.starts_with(line), "{request:?}");
    // Only one request: the Location of a redirect is not followed.
    let target = format!("http://{addr}/#status=200-299");
    let (code, log) = run(&["-i", "50ms", "-t", "1s", &target]);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "{target}: not ready at the deadline: HTTP 302 not in 200-299 ({addr})"
        )),
        "{log}"
    );
    assert!(head_sent(&server, 1).starts_with("GET / HTTP/1.1\r\n"));
}

#[test]
fn a_status_list_after_the_hash() {
    let server = Fake::start(http(202, "Accepted"));
    let addr = server.addr;
    let target = format!("http://{addr}/#status=200,204");
    let mut run = Running::start(cmd(&["-i", "20ms", "-t", "15s", &target]));
    run.wait_for(&format!("not ready: HTTP 202 not in 200,204 ({addr})"));
    server.set(http(204, "No Content"));
    run.wait_for(&format!("{target}: ready after"));
    let (status, log, _) = run.finish().parts();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains(&format!("{target}: ready after")), "{log}");
}

/// A server that misbehaves: the run ends at the deadline with `reason`, well within bounds.
fn misbehaving(answer: Vec<Step>, reason: &str) {
    let server = Fake::start(after_head(answer));
    let target = format!("http://{}/", server.addr);
    let args = [
        "--connect-timeout",
        "300ms",
        "-i",
        "50ms",
        "-t",
        "2s",
        &target,
    ];
    let (status, log, took) = Running::start(cmd(&args)).finish().parts();
    assert_eq!(status.code(), Some(1), "{log}");
    let want = format!(
        "{target}: not ready at the deadline: {reason} ({})",
        server.addr
    );
    assert!(log.contains(&want), "lacks {want:?}:\n{log}");
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{log}");
}

#[test]
fn a_server_that_accepts_and_never_answers() {
    misbehaving(vec![Step::Silent], "no HTTP response within 300ms");
}

#[test]
fn a_server_that_answers_garbage() {
    misbehaving(
        vec![Step::send("SSH-2.0-OpenSSH_9.6\r\n")],
        "not an HTTP response",
    );
}

#[test]
fn a_server_that_sends_an_endless_header() {
    // A status line, then one header that never ends.
    let answer = vec![
        Step::send("HTTP/1.1 200 OK\r\nX-Endless: "),
        Step::endless([b'a'; 1024], Duration::ZERO),
    ];
    misbehaving(answer, "HTTP headers longer than 16 KiB");
}

#[test]
fn a_server_that_trickles_cannot_hold_the_attempt() {
    // A byte every 50 ms never lets a 300 ms read timeout expire: only a bound on the whole
    // answer ends the attempt.
    let answer = vec![
        Step::send("HTTP/1.1 200 OK\r\n"),
        Step::endless("X", Duration::from_millis(50)),
    ];
    misbehaving(answer, "no HTTP response within 300ms");
}

#[test]
fn http_connect_reasons_and_names() {
    let addr = closed_port();
    let target = format!("http://{addr}/");
    let (code, log) = run(&["-i", "50ms", "-t", "500ms", &target]);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "not ready at the deadline: connection refused ({addr})"
        )),
        "{log}"
    );
    // A name goes through the resolver; the Host header is the name as written.
    let server = Fake::start(http(200, "OK"));
    let target = format!("http://localhost:{}/ready", server.addr.port());
    let (code, log) = run(&["-4", "-t", "10s", &target]);
    assert_eq!(code, Some(0), "{log}");
    let request = head_sent(&server, 0);
    let host = format!("\r\nHost: localhost:{}\r\n", server.addr.port());
    assert!(request.contains(&host), "{request:?}");
}

#[test]
fn http_on_an_ipv6_literal() {
    let Ok(server) = Fake::start_at("[::1]:0", http(200, "OK")) else {
        let _ = writeln!(
            std::io::stderr(),
            "skipping http_on_an_ipv6_literal: no IPv6 loopback here (enable ::1 on lo)"
        );
        return;
    };
    let target = format!("http://[::1]:{}/", server.addr.port());
    let (code, log) = run(&["-t", "10s", &target]);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("ready after") && log.contains(&format!(": [::1]:{}", server.addr.port())),
        "{log}"
    );
    let request = head_sent(&server, 0);
    assert!(
        request.contains(&format!("\r\nHost: [::1]:{}\r\n", server.addr.port())),
        "{request:?}"
    );
}

#[test]
fn malformed_urls_and_https_are_usage_errors() {
    let cases = [
        ("https://keycloak:8443/health", "https:// needs TLS"),
        ("https://keycloak:8443/health", "tcp://HOST:443"),
        ("http://:8080/", "the host is empty"),
        ("http://es:99999/", "port '99999'"),
        (
            "http://es/#status=299-200",
            "status range '299-200' is reversed",
        ),
        (
            "http://es/#status=700",
            "status '700' is not a code from 100 to 599",
        ),
        ("http://es/#timeout=1s", "unknown key 'timeout' after '#'"),
        (
            "http://es/?min=2",
            "min=N is not offered for http:// targets",
        ),
        ("file://etc/hosts", "the path must be absolute"),
        ("unix://\u{1b}[2J", "'\\u{1b}' is not allowed in a path"),
        ("http://es/\u{1b}[2J", "'\\u{1b}' is not allowed in a URL"),
    ];
    for (target, want) in cases {
        let (code, log) = run(&[target]);
        assert_eq!(code, Some(2), "{target:?}: {log}");
        assert!(log.contains(want), "{target:?}: lacks {want:?}: {log}");
        assert!(!log.contains('\u{1b}'), "a raw ESC in {log:?}");
    }
}

#[test]
fn a_file_created_while_waiting_and_a_symlink_followed() {
    let dir = temp_dir("file");
    let file = dir.join("ready");
    let target = format!("file://{}", text(&file));
    let mut run = Running::start(cmd(&["-i", "20ms", "-t", "15s", &target]));
    run.wait_for(&format!("{target}: not ready: no such file or directory"));
    std::fs::write(&file, "").expect("create the file");
    let line = run.wait_for(&format!("{target}: ready after"));
    assert!(line.ends_with(&format!("s: {}", text(&file))), "{line}");
    let (status, log, _) = run.finish().parts();
    assert_eq!(status.code(), Some(0), "{log}");

    // A dangling symlink is missing until what it points to appears (a directory here).
    let link = dir.join("link");
    std::os::unix::fs::symlink(dir.join("later"), &link).expect("symlink");
    let target = format!("file://{}", text(&link));
    let mut run = Running::start(cmd(&["-i", "20ms", "-t", "15s", &target]));
    run.wait_for(&format!("{target}: not ready: no such file or directory"));
    std::fs::create_dir(dir.join("later")).expect("mkdir");
    let (status, log, _) = run.finish().parts();
    assert_eq!(status.code(), Some(0), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_path_under_a_file_is_not_a_directory() {
    let dir = temp_dir("notdir");
    let file = dir.join("plain");
    std::fs::write(&file, "").expect("write");
    let target = format!("file://{}/x", text(&file));
    let (code, log) = run(&["-i", "50ms", "-t", "300ms", &target]);
    assert_eq!(code, Some(1), "{log}");
    let want =
        "not ready at the deadline: no such file: a component of the path is not a directory";
    assert!(log.contains(want), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_permission_error_is_a_reason_not_missing() {
    let dir = temp_dir("denied");
    let locked = dir.join("locked");
    std::fs::create_dir(&locked).expect("mkdir");
    std::fs::write(locked.join("file"), "").expect("write");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let target = format!("file://{}/file", text(&locked));
    let args = ["-i", "50ms", "-t", "300ms", &target];
    // Root passes every permission check: run the binary as nobody instead.
    let c = if is_root() {
        cmd_as_nobody(&dir, &args)
    } else {
        cmd(&args)
    };
    let (status, log, _) = Running::start(c).finish().parts();
    let _ = std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(status.code(), Some(1), "{log}");
    let want = "not ready at the deadline: cannot check the path: Permission denied (os error 13)";
    assert!(log.contains(want), "{log}");
}

#[test]
fn a_unix_socket_that_appears_while_waiting() {
    let dir = temp_dir("unix");
    let path = dir.join("app.sock");
    let target = format!("unix://{}", text(&path));
    let mut run = Running::start(cmd(&["-i", "20ms", "-t", "15s", &target]));
    run.wait_for(&format!(
        "{target}: not ready: no socket: no such file or directory"
    ));
    let _listener = UnixListener::bind(&path).expect("bind");
    let line = run.wait_for(&format!("{target}: ready after"));
    assert!(line.ends_with(&format!("s: {}", text(&path))), "{line}");
    let (status, log, _) = run.finish().parts();
    assert_eq!(status.code(), Some(0), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_unix_socket_nobody_listens_on() {
    let dir = temp_dir("deadsock");
    let path = dir.join("dead.sock");
    drop(UnixListener::bind(&path).expect("bind"));
    assert!(
        path.exists(),
        "the socket file stays after the listener closes"
    );
    let target = format!("unix://{}", text(&path));
    let (code, log) = run(&["-i", "50ms", "-t", "300ms", &target]);
    assert_eq!(code, Some(1), "{log}");
    let want = "not ready at the deadline: connection refused: nothing listens on the socket";
    assert!(log.contains(want), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_unix_listener_with_a_full_queue_times_out() {
    use socket2::{Domain, SockAddr, Socket, Type};
    let dir = temp_dir("fullsock");
    let path = dir.join("full.sock");
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
    let addr = SockAddr::unix(&path).expect("address");
    listener.bind(&addr).expect("bind");
    // Backlog 0: one connection waiting to be accepted fills the queue.
    listener.listen(0).expect("listen");
    let _queued = std::os::unix::net::UnixStream::connect(&path).expect("first connect");
    let target = format!("unix://{}", text(&path));
    let args = [
        "--connect-timeout",
        "300ms",
        "-i",
        "50ms",
        "-t",
        "1s",
        &target,
    ];
    let (status, log, took) = Running::start(cmd(&args)).finish().parts();
    assert_eq!(status.code(), Some(1), "{log}");
    let want = "connect timed out after 300ms: the listener's queue is full";
    assert!(log.contains(want), "{log}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_lines_carry_the_new_reasons_and_addresses() {
    let server = Fake::start(http(200, "OK"));
    let dir = temp_dir("json");
    let file = dir.join("ready");
    std::fs::write(&file, "").expect("write");
    let http = format!("http://{}/", server.addr);
    let file_target = format!("file://{}", text(&file));
    let missing = format!("file://{}/missing", text(&dir));
    // All three must be ready, so the run ends at the deadline with every event logged.
    let args = ["--log-format", "json", "-t", "1s"];
    let mut c = cmd(&args);
    c.args([&http, &file_target, &missing]);
    let (status, log, _) = Running::start(c).finish().parts();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(status.code(), Some(1), "{log}");
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let find = |event: &str, target: &str| {
        events
            .iter()
            .find(|e| e["event"] == event && e["target"] == target)
            .unwrap_or_else(|| panic!("no {event} event for {target}:\n{log}"))
            .clone()
    };
    let addresses = |e: &serde_json::Value| e["addresses"].clone();
    let addr = server.addr.to_string();
    assert_eq!(addresses(&find("ready", &http)), serde_json::json!([addr]));
    let path = text(&file).to_string();
    assert_eq!(
        addresses(&find("ready", &file_target)),
        serde_json::json!([path])
    );
    assert_eq!(
        find("not_ready", &missing)["reason"],
        "no such file or directory"
    );
}
