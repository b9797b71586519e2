//! `--invert` against real listeners, servers, files and sockets: a target counts only with proof
//! that it is gone (refused, a status outside the set, a missing path, no such name), never for
//! not knowing (a connect or HTTP timeout, a DNS server failure, a permission error).
//!
//! Runs the static binary from $SERVICE_PRECHECK_STATIC where set, else the one cargo built.
//! Synchronisation waits for the binary's own log lines; time bounds are generous. Only loopback
//! and `localhost` with -4 are used outside a network namespace of our own.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::Duration;

mod common;
use common::fake::{Fake, Step, http};
use common::*;

/// Blocks until `target` was found still there (`what`) on the first attempt and on the
/// `n`th: the info line comes once (and every 10 s), the -v debug line every attempt.
fn still_there(run: &mut Running, target: &str, what: &str, n: u32) {
    run.wait_for(&format!("{target}: not gone: still ready: {what}"));
    run.wait_for(&format!("{target}: attempt {n}: still ready: {what}"));
}

/// The binary with `--invert` and these arguments, in the clean environment of `cmd`.
fn invert(args: &[&str]) -> Command {
    let mut c = cmd(&["--invert"]);
    c.args(args);
    c
}

/// Runs to the end.
fn run(args: &[&str]) -> Finished {
    Running::start(invert(args)).finish()
}

fn open_port() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let t = l.local_addr().expect("local_addr").to_string();
    (l, t)
}

/// The connections a listener has queued, accepted now without blocking.
fn accepted(l: &TcpListener) -> usize {
    l.set_nonblocking(true).expect("nonblocking");
    let mut n = 0;
    loop {
        match l.accept() {
            Ok(_) => n += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A loopback listener whose accept queue is full: further SYNs are dropped, so a connect
/// hangs until its own timeout. The returned socket and stream keep it that way.
fn hanging_listener() -> (socket2::Socket, TcpStream, String) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal");
    s.bind(&addr.into()).expect("bind");
    s.listen(0).expect("listen");
    let addr = s
        .local_addr()
        .expect("local_addr")
        .as_socket()
        .expect("inet");
    // Backlog 0 holds one connection that is never accepted; after it the queue is full.
    let filler = TcpStream::connect(addr).expect("fill the queue");
    let probe = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    assert!(probe.is_err(), "the accept queue did not fill up");
    (s, filler, addr.to_string())
}

#[test]
fn a_closed_port_is_gone_at_once() {
    let target = closed_port();
    run(&["-t", "10s", &target])
        .code(0)
        .within(Duration::from_secs(5))
        .logged("waiting for 1 target (it must be gone), deadline 10s")
        .logged(&format!("{target}: gone after 0.0"))
        .logged(&format!("s: connection refused ({target})"))
        .logged("gone: 1 of 1 targets")
        .not_logged("ready");
}

#[test]
fn a_listener_is_asked_every_time_until_it_closes() {
    let (listener, target) = open_port();
    let mut run = Running::start(invert(&["-v", "-i", "50ms", "-t", "15s", &target]));
    // The first attempt too: a listener up is no reason to count (no shortcut for literals).
    still_there(&mut run, &target, &target, 3);
    // Each "still ready" was a new connection: nothing is remembered from before.
    let n = accepted(&listener);
    assert!(
        n >= 3,
        "{n} connections for three attempts:\n{}",
        run.seen.join("\n")
    );
    drop(listener);
    run.wait_for(&format!("{target}: gone after"));
    run.finish()
        .code(0)
        .logged(&format!("s: connection refused ({target})"))
        .logged("gone: 1 of 1 targets");
}

#[test]
fn a_connect_that_never_completes_never_counts() {
    let (_s, _filler, target) = hanging_listener();
    run(&[
        "-t",
        "2s",
        "--connect-timeout",
        "200ms",
        "-i",
        "50ms",
        &target,
    ])
    .code(1)
    .within(Duration::from_secs(10))
    .logged(&format!(
        "{target}: not gone: connect timed out after 200ms ({target})"
    ))
    .logged(&format!("{target}: not gone at the deadline: "))
    .logged("deadline of 2s passed: 0 of 1 targets gone, 1 needed")
    .not_logged("gone after");
    // A connect still under way at the deadline is no proof either.
    run(&["-t", "300ms", "--connect-timeout", "30s", &target])
        .code(1)
        .within(Duration::from_secs(10))
        .logged(&format!(
            "{target}: not gone at the deadline: no answer yet"
        ));
}

/// A server that reads a request head and then sends nothing until the client closes.
fn silent() -> Vec<Step> {
    vec![Step::read_until("\r\n\r\n"), Step::Silent]
}

/// A server that reads a request head and answers something that is not HTTP.
fn garbage() -> Vec<Step> {
    vec![
        Step::read_until("\r\n\r\n"),
        Step::send("SSH-2.0-OpenSSH_9.6\r\n"),
    ]
}

#[test]
fn http_200_is_not_gone_until_it_turns_503() {
    let server = Fake::start(http(200, "OK"));
    let addr = server.addr;
    let target = format!("http://{addr}/ready");
    let mut run = Running::start(invert(&["-v", "-i", "20ms", "-t", "15s", &target]));
    still_there(&mut run, &target, &addr.to_string(), 2);
    server.set(http(503, "Service Unavailable"));
    run.wait_for(&format!("{target}: gone after"));
    run.finish()
        .code(0)
        .logged(&format!("s: HTTP 503 Service Unavailable ({addr})"))
        .logged("gone: 1 of 1 targets");
}

#[test]
fn http_status_sets_decide_what_is_gone() {
    // 503 is in the set: the service is still "ready" by its own definition.
    let server = Fake::start(http(503, "Service Unavailable"));
    let addr = server.addr;
    let target = format!("http://{addr}/#status=500-599");
    let mut waiting = Running::start(invert(&["-v", "-i", "20ms", "-t", "15s", &target]));
    still_there(&mut waiting, &target, &addr.to_string(), 2);
    server.set(http(200, "OK"));
    waiting.wait_for(&format!("{target}: gone after"));
    waiting
        .finish()
        .code(0)
        .logged(&format!("s: HTTP 200 not in 500-599 ({addr})"));

    // Without a set 302 is in 200-399 (not gone); with `#status=200` it is outside (gone).
    server.set(http(302, "Found"));
    let plain = format!("http://{addr}/");
    run(&["-i", "50ms", "-t", "500ms", &plain])
        .code(1)
        .logged(&format!(
            "{plain}: not gone at the deadline: still ready: {addr}"
        ));
    let only_200 = format!("http://{addr}/#status=200");
    run(&["-t", "10s", &only_200])
        .code(0)
        .logged(&format!("{only_200}: gone after"))
        .logged(&format!("HTTP 302 not in 200 ({addr})"));
}

#[test]
fn http_refused_is_gone() {
    let port = closed_port();
    let target = format!("http://{port}/");
    run(&["-t", "10s", &target])
        .code(0)
        .within(Duration::from_secs(5))
        .logged(&format!("{target}: gone after"))
        .logged(&format!("s: connection refused ({port})"));
}

/// A server that misbehaves never counts as gone: exit 1 at the deadline with `reason`.
fn never_gone(script: Vec<Step>, reason: &str) {
    let server = Fake::start(script);
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
    run(&args)
        .code(1)
        .within(Duration::from_secs(10))
        .logged(&format!("{target}: not gone: {reason} ({})", server.addr))
        .logged(&format!("{target}: not gone at the deadline: "))
        .logged("deadline of 2s passed: 0 of 1 targets gone, 1 needed")
        .not_logged("gone after");
}

#[test]
fn http_that_accepts_and_never_answers_is_never_gone() {
    never_gone(silent(), "no HTTP response within 300ms");
}

#[test]
fn http_garbage_is_never_gone() {
    never_gone(garbage(), "not an HTTP response");
}

/// A fresh directory for one test, readable by everyone (one test runs the binary as nobody).
#[test]
fn a_file_is_not_gone_until_removed() {
    let dir = temp_dir("file");
    let file = dir.join("old.pid");
    std::fs::write(&file, "").expect("write");
    let target = format!("file://{}", text(&file));
    let mut run = Running::start(invert(&["-v", "-i", "20ms", "-t", "15s", &target]));
    still_there(&mut run, &target, text(&file), 2);
    std::fs::remove_file(&file).expect("remove");
    run.wait_for(&format!("{target}: gone after"));
    run.finish()
        .code(0)
        .logged("s: no such file or directory")
        .logged("gone: 1 of 1 targets");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_path_under_a_file_is_gone() {
    let dir = temp_dir("notdir");
    let file = dir.join("plain");
    std::fs::write(&file, "").expect("write");
    let target = format!("file://{}/x", text(&file));
    run(&["-t", "10s", &target])
        .code(0)
        .within(Duration::from_secs(5))
        .logged(&format!("{target}: gone after"))
        .logged("no such file: a component of the path is not a directory");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_permission_error_is_never_gone() {
    let dir = temp_dir("denied");
    let locked = dir.join("locked");
    std::fs::create_dir(&locked).expect("mkdir");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    // No file inside: were the path readable, it would be gone.
    let target = format!("file://{}/file", text(&locked));
    let args = ["--invert", "-i", "50ms", "-t", "500ms", &target];
    // Root passes every permission check: run the binary as nobody instead.
    let c = if is_root() {
        cmd_as_nobody(&dir, &args)
    } else {
        cmd(&args)
    };
    let done = Running::start(c).finish();
    let _ = std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755));
    let _ = std::fs::remove_dir_all(&dir);
    done.code(1)
        .logged("not gone at the deadline: cannot check the path: Permission denied (os error 13)")
        .not_logged("gone after");
}

#[test]
fn a_unix_socket_is_not_gone_until_removed() {
    let dir = temp_dir("unix");
    let path = dir.join("app.sock");
    let _listener = UnixListener::bind(&path).expect("bind");
    let target = format!("unix://{}", text(&path));
    let mut run = Running::start(invert(&["-v", "-i", "20ms", "-t", "15s", &target]));
    still_there(&mut run, &target, text(&path), 2);
    // The listener stays open: only the path is gone, as when a new instance unlinks it.
    std::fs::remove_file(&path).expect("remove the socket");
    run.wait_for(&format!("{target}: gone after"));
    run.finish()
        .code(0)
        .logged("s: no socket: no such file or directory");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_unix_socket_nobody_listens_on_is_gone() {
    let dir = temp_dir("deadsock");
    let path = dir.join("dead.sock");
    drop(UnixListener::bind(&path).expect("bind"));
    assert!(
        path.exists(),
        "the socket file stays after the listener closes"
    );
    let target = format!("unix://{}", text(&path));
    run(&["-t", "10s", &target])
        .code(0)
        .within(Duration::from_secs(5))
        .logged(&format!("{target}: gone after"))
        .logged("connection refused: nothing listens on the socket");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_unix_listener_with_a_full_queue_is_never_gone() {
    use socket2::{Domain, SockAddr, Socket, Type};
    let dir = temp_dir("fullsock");
    let path = dir.join("full.sock");
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
    listener
        .bind(&SockAddr::unix(&path).expect("address"))
        .expect("bind");
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
    run(&args)
        .code(1)
        .within(Duration::from_secs(10))
        .logged("not gone: connect timed out after 300ms: the listener's queue is full")
        .logged("deadline of 1s passed: 0 of 1 targets gone, 1 needed")
        .not_logged("gone after");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn localhost_is_never_gone() {
    // -4: this machine's /etc/hosts may lack ::1, and AAAA must not go out to its DNS.
    run(&["-4", "-i", "200ms", "-t", "1s", "localhost"])
        .code(1)
        .within(Duration::from_secs(10))
        .logged("localhost: not gone: still ready: 127.0.0.1")
        .logged("localhost: not gone at the deadline: still ready: 127.0.0.1")
        .logged("deadline of 1s passed: 0 of 1 targets gone, 1 needed");
}

/// The binary (with `--invert`) inside fresh network and mount namespaces with lo up, our own
/// /etc/hosts, a resolv.conf naming a server where nothing listens (1 s, one try), and this
/// nsswitch.conf `hosts:` line (musl ignores it and always asks DNS after the file; glibc
/// follows it).
fn in_netns(name: &str, hosts: &str, nsswitch: &str, args: &[&str]) -> Command {
    let hosts = format!("127.0.0.1 localhost\n{hosts}");
    let args = [&["--invert"], args].concat();
    netns_cmd(
        &format!("invert-netns-{name}"),
        &hosts,
        nsswitch,
        &bin(),
        &args,
    )
}

#[test]
fn no_dns_server_answering_is_never_gone() {
    if !can_unshare("no_dns_server_answering_is_never_gone") {
        return;
    }
    let eai_again = "DNS server failure or timeout (EAI_AGAIN)";
    let target = "old-job.migrations.svc";
    let c = in_netns(
        "eai-again",
        "",
        "files dns",
        &["-4", "-i", "100ms", "-t", "3s", target],
    );
    Running::start(c)
        .finish()
        .code(1)
        .within(Duration::from_secs(15))
        .logged(&format!("{target}: not gone: {eai_again}"))
        .logged(&format!("{target}: not gone at the deadline: "))
        .logged("deadline of 3s passed: 0 of 1 targets gone, 1 needed")
        .not_logged("gone after");
    // The same namespace does give proof: a name in /etc/hosts with only an IPv6 address has
    // no IPv4 address (musl answers from the file; glibc is told to ask only the file).
    let hosts = "fd00::5 v6only.test\n";
    let c = in_netns(
        "nodata",
        hosts,
        "files",
        &["-4", "-t", "10s", "v6only.test"],
    );
    let done = Running::start(c).finish();
    done.code(0).logged("v6only.test: gone after");
    // musl says NODATA; glibc says no such name for a file entry of the other family.
    assert!(
        done.log.contains("the name has no IPv4 address (NODATA)")
            || done.log.contains("no such name (NXDOMAIN)"),
        "{}",
        done.log
    );
}

#[test]
fn quorum_with_any() {
    let (_listener, up) = open_port();
    let down = closed_port();
    run(&["-t", "10s", "--any", &up, &down])
        .code(0)
        .logged("(1 of 2 must be gone)")
        .logged(&format!("{down}: gone after"))
        .logged("gone: 1 of 2 targets");
    run(&["-i", "50ms", "-t", "1s", &up, &down])
        .code(1)
        .logged("(all must be gone)")
        .logged(&format!(
            "{up}: not gone at the deadline: still ready: {up}"
        ))
        .logged("deadline of 1s passed: 1 of 2 targets gone, 2 needed");
}

#[test]
fn the_command_runs_only_after_gone() {
    let down = closed_port();
    let done = run(&["-t", "10s", &down, "--", "sh", "-c", "echo ran; exit 7"]);
    done.code(7);
    assert_eq!(done.stdout, "ran\n", "{}", done.log);

    let (_listener, up) = open_port();
    let marker = temp_dir("exec").join("must-not-exist");
    let m = text(&marker);
    let done = run(&["-t", "300ms", &up, "--", "touch", m]);
    done.code(1);
    assert!(
        !marker.exists(),
        "the command ran although the target is up"
    );
}

#[test]
fn sigterm_exits_143() {
    let (_listener, up) = open_port();
    let mut run = Running::start(invert(&["-i", "20ms", &up]));
    run.wait_for(&format!("{up}: not gone: still ready"));
    run.signal(libc::SIGTERM);
    run.finish().code(143).logged(&format!(
        "interrupted by SIGTERM, still waiting for: {up} (still ready"
    ));
}

#[test]
fn json_events_gone_and_not_gone() {
    let (_listener, up) = open_port();
    let down = closed_port();
    let done = run(&["--log-format", "json", "-i", "50ms", "-t", "1s", &up, &down]);
    done.code(1);
    let events: Vec<serde_json::Value> = (done.log.lines())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let find = |event: &str, target: Option<&str>| {
        (events.iter())
            .find(|e| e["event"] == event && target.is_none_or(|t| e["target"] == t))
            .unwrap_or_else(|| panic!("no {event} event for {target:?}:\n{}", done.log))
    };
    let waiting = find("waiting", None);
    assert!(
        (waiting["msg"].as_str()).is_some_and(|m| m.contains("(all must be gone)")),
        "{waiting}"
    );
    let gone = find("gone", Some(&down));
    assert_eq!(gone["reason"], format!("connection refused ({down})"));
    assert!(
        (gone["msg"].as_str()).is_some_and(|m| m.starts_with(&format!("{down}: gone after "))),
        "{gone}"
    );
    let not_gone = find("not_gone", Some(&up));
    assert_eq!(not_gone["reason"], format!("still ready: {up}"));
    assert_eq!(
        not_gone["msg"],
        format!("{up}: not gone: still ready: {up}")
    );
    assert_eq!(
        find("deadline", Some(&up))["reason"],
        format!("still ready: {up}")
    );
    assert!(
        (events.iter()).any(|e| e["event"] == "deadline"
            && e["msg"] == "deadline of 1s passed: 1 of 2 targets gone, 2 needed"),
        "{}",
        done.log
    );
    assert!(
        !(events.iter()).any(|e| e["event"] == "ready" || e["event"] == "not_ready"),
        "{}",
        done.log
    );
}

/// A protocol's "not ready" is no proof of absence: a Redis that answers `-LOADING` is there.
/// Only a refused connection (or NXDOMAIN) counts, for every protocol.
#[test]
fn a_protocol_that_is_not_ready_is_not_gone() {
    let loading = Fake::start(vec![
        Step::read_until(b"\r\n".to_vec()),
        Step::send(b"-LOADING Redis is loading the dataset in memory\r\n".to_vec()),
    ]);
    let target = format!("redis://{}", loading.addr);
    let reason = "redis: LOADING Redis is loading the dataset in memory";
    run(&["-t", "500ms", "-i", "50ms", &target])
        .code(1)
        .logged(&format!("{target}: not gone: {reason} ({})", loading.addr))
        .not_logged("gone after");

    let closed = closed_port();
    for scheme in ["postgres", "mysql", "redis", "zk", "grpc"] {
        let target = format!("{scheme}://{closed}");
        run(&["-t", "5s", &target])
            .code(0)
            .logged(&format!("{target}: gone after"))
            .logged(&format!("connection refused ({closed})"));
    }
}
