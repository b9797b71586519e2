//! Runs the built binary the way users do: exit codes, log lines, exec, signals, namespaces.
//! The binary is the static one ($SERVICE_PRECHECK_STATIC) where set, else cargo's, in the clean
//! environment of tests/common `cmd`.
//!
//! Timing bounds are generous (seconds); synchronisation waits for the binary's own log lines.
//! Names other than `localhost` and IP literals are resolved only inside `unshare --net --mount`
//! with our own /etc/hosts, resolv.conf and nsswitch.conf, so nothing reaches the host's DNS.
//! Tests needing root or namespaces skip with a reason, except under CI=true where they fail.

use std::ffi::OsStr;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{
    PATIENCE, Running, bin, can_unshare, clean, closed_port, cmd, host_bin, is_root, netns_cmd,
    output, skip, wait_output,
};

fn run(args: &[&str]) -> Output {
    output(cmd(args), PATIENCE)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "status {:?}\nstderr:\n{}",
        o.status,
        stderr(o)
    );
}

fn assert_logged(o: &Output, text: &str) {
    let err = stderr(o);
    assert!(err.contains(text), "stderr lacks {text:?}:\n{err}");
}

/// The binary inside fresh network and mount namespaces with lo up and our own /etc/hosts,
/// /etc/resolv.conf (a nameserver where nothing listens) and nsswitch.conf (`files` only).
/// Runs `program` to the end.
fn run_in_netns(name: &str, hosts: &str, program: &Path, args: &[&str]) -> Output {
    let hosts = format!("127.0.0.1 localhost\n::1 localhost\n{hosts}");
    let c = netns_cmd(&format!("netns-{name}"), &hosts, "files", program, args);
    output(c, PATIENCE)
}

#[test]
fn help_and_version_exit_0() {
    let o = run(&["--help"]);
    assert_code(&o, 0);
    let help = String::from_utf8_lossy(&o.stdout);
    for text in [
        "USAGE:",
        "PRECHECK_TIMEOUT",
        "EXIT CODES:",
        "143 for SIGTERM",
    ] {
        assert!(help.contains(text), "help lacks {text}");
    }
    let o = run(&["-V"]);
    assert_code(&o, 0);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("service-precheck {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2_and_quote_the_input() {
    let cases: [(&[&str], &str); 5] = [
        (&["-t", "soon", "db"], "invalid value 'soon' for --timeout"),
        (&["db:99999"], "invalid target 'db:99999'"),
        (&[], "no targets"),
        (&["--bogus", "db"], "--bogus"),
        (&["db", "--"], "'--' must be followed by a command"),
    ];
    for (args, text) in cases {
        let o = run(args);
        assert_code(&o, 2);
        assert_logged(&o, text);
    }
    let mut c = cmd(&["db"]);
    c.env("PRECHECK_INTERVAL", "1ms");
    let o = output(c, PATIENCE);
    assert_code(&o, 2);
    assert_logged(&o, "invalid value '1ms' for PRECHECK_INTERVAL");
}

#[test]
fn non_utf8_arguments_are_usage_errors_not_panics() {
    let o = output(cmd(&[OsStr::from_bytes(b"db\xff.ns")]), PATIENCE);
    assert_code(&o, 2);
    assert_logged(&o, "not valid UTF-8");
}

#[test]
fn localhost_and_port_checks_on_literals_are_ready() {
    // -4: this machine's /etc/hosts has no ::1 entry, and AAAA must not go out to its DNS.
    let (_l, target) = open_port();
    let mut c = cmd(&["-4", "-t", "5s", "localhost", &target]);
    // The colour check below needs NO_COLOR unset.
    c.env_remove("NO_COLOR");
    let o = output(c, PATIENCE);
    assert_code(&o, 0);
    assert_logged(&o, "localhost: ready after");
    assert_logged(&o, "ready: 2 of 2 targets");
    assert!(!stderr(&o).contains("\x1b["), "colour on a pipe");
}

#[test]
fn bare_ip_literals_are_usage_errors_that_show_the_port_check() {
    for (target, hint) in [
        ("::1:5432", "perhaps '[::1]:5432'"),
        ("2001:db8::5:5432", "perhaps '[2001:db8::5]:5432'"),
        ("127.0.0.1", "e.g. '127.0.0.1:5432'"),
        ("dns://::1", "e.g. '[::1]:5432'"),
    ] {
        let o = run(&["-t", "5s", target]);
        assert_code(&o, 2);
        assert_logged(
            &o,
            &format!("invalid target '{target}': an IP address is not a DNS name"),
        );
        assert_logged(&o, hint);
        assert!(!stderr(&o).contains("ready"), "{}", stderr(&o));
    }
}

#[test]
fn targets_from_the_environment() {
    let (_a, a) = open_port();
    let (_b, b) = open_port();
    let mut c = cmd(&["-4", "localhost"]);
    c.env("PRECHECK_TARGETS", format!("{a}, {b}"))
        .env("PRECHECK_TIMEOUT", "5s");
    let o = output(c, PATIENCE);
    assert_code(&o, 0);
    assert_logged(&o, "waiting for 3 targets (all must be ready), deadline 5s");
    let mut c = cmd(&["-4", "localhost"]);
    c.env("PRECHECK_TARGETS", format!("{a} db:http"));
    let o = output(c, PATIENCE);
    assert_code(&o, 2);
    assert_logged(
        &o,
        "invalid target 'db:http': port 'http' is not a number from 1 to 65535 (in PRECHECK_TARGETS)",
    );
}

#[test]
fn invalid_names_are_not_ready_with_the_reason() {
    if !can_unshare("invalid_names_are_not_ready_with_the_reason") {
        return;
    }
    // NXDOMAIN from /etc/hosts alone is glibc's (nsswitch `files`): the static musl binary
    // always asks the nameserver after the file, and none answers here (tests/lab has one).
    let o = run_in_netns(
        "invalid",
        "",
        &host_bin(),
        &[
            "-t",
            "500ms",
            "-i",
            "50ms",
            "no-such-service.invalid",
            "localhost",
        ],
    );
    assert_code(&o, 1);
    assert_logged(
        &o,
        "no-such-service.invalid: not ready: no such name (NXDOMAIN)",
    );
    assert_logged(&o, "localhost: ready after");
    assert_logged(
        &o,
        "no-such-service.invalid: not ready at the deadline: no such name (NXDOMAIN)",
    );
    assert_logged(&o, "1 of 2 targets ready, 2 needed");
}

#[test]
fn dns_min_counts_distinct_addresses_of_one_family() {
    if !can_unshare("dns_min_counts_distinct_addresses_of_one_family") {
        return;
    }
    // Two dual-stack "pods" (a duplicate line too), and a name with more IPv6 than IPv4.
    let hosts = "10.1.0.1 zk.ns\n10.1.0.2 zk.ns\n10.1.0.2 zk.ns\nfd00::1 zk.ns\nfd00::2 zk.ns\n\
                 10.1.1.1 v6more.ns\nfd00::1:1 v6more.ns\nfd00::1:2 v6more.ns\nfd00::1:3 v6more.ns\n";
    let o = run_in_netns("min-ok", hosts, &bin(), &["-t", "5s", "zk.ns?min=2"]);
    assert_code(&o, 0);
    assert_logged(&o, "zk.ns?min=2: ready after");
    assert_logged(&o, "10.1.0.1, 10.1.0.2");
    // Two pods are four addresses in a dual-stack cluster, but never three pods.
    let o = run_in_netns(
        "min-short",
        hosts,
        &bin(),
        &["-t", "300ms", "-i", "50ms", "zk.ns?min=3"],
    );
    assert_code(&o, 1);
    assert_logged(&o, "not ready: only 2 of 3 addresses: 10.1.0.1, 10.1.0.2");
    let o = run_in_netns("v6more", hosts, &bin(), &["-t", "5s", "v6more.ns?min=3"]);
    assert_code(&o, 0);
    assert_logged(&o, "ready after");
    assert_logged(&o, "fd00::1:1, fd00::1:2, fd00::1:3");
    let o = run_in_netns("v6-only", hosts, &bin(), &["-6", "-t", "5s", "zk.ns"]);
    assert_code(&o, 0);
    assert_logged(&o, "zk.ns: ready after");
    assert_logged(&o, "fd00::1");
    assert!(!stderr(&o).contains("10.1.0.1"), "{}", stderr(&o));
}

#[test]
fn a_listener_that_starts_late_is_seen() {
    let target = closed_port();
    let mut run = Running::start(cmd(&["-t", "15s", "-i", "20ms", &target]));
    run.wait_for(&format!("not ready: connection refused ({target})"));
    let _listener = TcpListener::bind(&target).expect("rebind the released port");
    run.wait_for(&format!("{target}: ready after"));
    let (status, log, _) = run.finish().parts();
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn huge_durations_are_usage_errors_not_panics() {
    // Half a trillion years overflows the monotonic clock; the second one made humantime panic.
    for value in ["500000000000y", "18446744073709551615s 1000000000ns"] {
        for flag in ["-t", "-i", "--connect-timeout"] {
            let o = run(&[flag, value, "-4", "localhost"]);
            assert_code(&o, 2);
            assert_logged(&o, &format!("invalid value '{value}' for "));
            assert_logged(&o, "it is too large");
        }
    }
    // Long but representable: a connect timeout of a century still ends at the deadline.
    let target = closed_port();
    let o = run(&["-t", "200ms", "--connect-timeout", "100y", &target]);
    assert_code(&o, 1);
}

#[test]
fn a_port_that_never_opens_hits_the_deadline() {
    let target = closed_port();
    let start = Instant::now();
    let o = run(&["-t", "300ms", "-i", "50ms", &target]);
    assert_code(&o, 1);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_logged(
        &o,
        &format!("{target}: not ready at the deadline: connection refused"),
    );
    assert_logged(
        &o,
        "deadline of 300ms passed: 0 of 1 targets ready, 1 needed",
    );
}

/// A loopback listener whose accept queue is full: further SYNs are dropped, so a connect
/// hangs until its own timeout. The returned socket and stream keep it that way.
fn hanging_listener() -> (socket2::Socket, TcpStream, u16) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().expect("literal");
    s.bind(&addr.into()).expect("bind");
    s.listen(0).expect("listen");
    let port = s
        .local_addr()
        .expect("local_addr")
        .as_socket()
        .expect("inet")
        .port();
    // Backlog 0 holds one connection that is never accepted; after it the queue is full.
    let filler = TcpStream::connect(("127.0.0.1", port)).expect("fill the queue");
    // Make sure the queue really is full: a further connect must not complete.
    let probe = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().expect("literal"),
        Duration::from_millis(300),
    );
    assert!(probe.is_err(), "the accept queue did not fill up");
    (s, filler, port)
}

#[test]
fn the_deadline_beats_a_connect_that_never_completes() {
    let (_s, _filler, port) = hanging_listener();
    let target = format!("127.0.0.1:{port}");
    let start = Instant::now();
    // The connect timeout (30 s) is far beyond the deadline: only the deadline can end this.
    let o = run(&["-t", "300ms", "--connect-timeout", "30s", &target]);
    let took = start.elapsed();
    assert_code(&o, 1);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_logged(
        &o,
        &format!("{target}: not ready at the deadline: no answer yet"),
    );

    let o = run(&[
        "-t",
        "2s",
        "--connect-timeout",
        "100ms",
        "-i",
        "10ms",
        &target,
    ]);
    assert_code(&o, 1);
    assert_logged(
        &o,
        &format!("not ready: connect timed out after 100ms ({target})"),
    );
}

#[test]
fn quorum_and_any() {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ta = format!("127.0.0.1:{}", a.local_addr().expect("addr").port());
    let tb = format!("tcp://127.0.0.1:{}", b.local_addr().expect("addr").port());
    let tc = closed_port();
    let o = run(&["-t", "10s", "--min-ready", "2", &ta, &tb, &tc]);
    assert_code(&o, 0);
    assert_logged(&o, "(2 of 3 must be ready)");
    assert_logged(&o, "ready: 2 of 3 targets");
    let o = run(&["-t", "10s", "--any", &tc, &ta]);
    assert_code(&o, 0);
    assert_logged(&o, "ready: 1 of 2 targets");
    // Without a quorum, one closed port is enough to fail.
    let o = run(&["-t", "300ms", &ta, &tb, &tc]);
    assert_code(&o, 1);
    assert_logged(&o, "2 of 3 targets ready, 3 needed");
    let mut c = cmd(&["-t", "300ms", &ta, &tc]);
    c.env("PRECHECK_MIN_READY", "1");
    assert_code(&output(c, PATIENCE), 0);
}

fn open_port() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let t = format!("127.0.0.1:{}", l.local_addr().expect("addr").port());
    (l, t)
}

#[test]
fn exec_passes_argv_byte_exact_and_the_exit_code() {
    let (_l, target) = open_port();
    let mut c = cmd(&[&target, "--", "printf", "[%s]"]);
    c.args([
        OsStr::new("a b"),
        OsStr::new(""),
        OsStr::from_bytes(b"\xff-x"),
        OsStr::new("--"),
    ]);
    let o = output(c, PATIENCE);
    assert_code(&o, 0);
    assert_eq!(o.stdout, b"[a b][][\xff-x][--]");

    let o = run(&[&target, "--", "sh", "-c", "exit 42"]);
    assert_code(&o, 42);
}

#[test]
fn exec_keeps_pid_environment_and_stdin() {
    let (_l, target) = open_port();
    let mut c = cmd(&[&target, "--", "sh", "-c", "echo $$ $FOO; cat"]);
    c.env("FOO", "bar")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let pid = child.id();
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"from stdin\n")
        .expect("write stdin");
    let o = wait_output(child, PATIENCE);
    assert_code(&o, 0);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{pid} bar\nfrom stdin\n")
    );
}

#[test]
fn exec_failures_are_126_and_127() {
    let (_l, target) = open_port();
    let o = run(&[&target, "--", "service-precheck-no-such-command"]);
    assert_code(&o, 127);
    assert_logged(&o, "command not found: 'service-precheck-no-such-command'");

    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("not-executable.sh");
    std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let p = path.to_str().expect("utf-8 temp path");
    let o = run(&[&target, "--", p]);
    assert_code(&o, 126);
    assert_logged(&o, "command cannot be executed");
}

#[test]
fn the_command_never_runs_after_a_failure() {
    let marker = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("must-not-exist");
    let _ = std::fs::remove_file(&marker);
    let target = closed_port();
    let m = marker.to_str().expect("utf-8 temp path");
    let o = run(&["-t", "200ms", &target, "--", "touch", m]);
    assert_code(&o, 1);
    assert!(!marker.exists(), "the command ran after the deadline");
}

#[test]
fn exec_restores_the_signal_mask() {
    let (_l, target) = open_port();
    // The test harness starts the binary with an empty mask and default SIGPIPE; the command
    // must see the same, not the blocked SIGINT/SIGTERM or Rust's ignored SIGPIPE.
    let o = run(&[
        &target,
        "--",
        "grep",
        "-E",
        "^Sig(Blk|Ign)",
        "/proc/self/status",
    ]);
    assert_code(&o, 0);
    let text = String::from_utf8_lossy(&o.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| u64::from_str_radix(v.trim(), 16).expect("hex mask"))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert_eq!(field("SigBlk:"), 0, "{text}");
    let sigpipe = 1u64 << (libc::SIGPIPE - 1);
    assert_eq!(
        field("SigIgn:") & sigpipe,
        0,
        "SIGPIPE still ignored: {text}"
    );
}

fn signal_ends_the_wait(sig: i32, name: &str) {
    let target = closed_port();
    let mut run = Running::start(cmd(&["-i", "20ms", &target]));
    run.wait_for("not ready: connection refused");
    // SAFETY: kill with a live child's pid and a valid signal number.
    unsafe { libc::kill(run.child.id() as i32, sig) };
    let (status, log, _) = run.finish().parts();
    assert_eq!(status.code(), Some(128 + sig), "{status:?}\n{log}");
    assert!(
        log.contains(&format!(
            "interrupted by {name}, still waiting for: {target} (connection refused"
        )),
        "{log}"
    );
}

#[test]
fn sigterm_exits_143() {
    signal_ends_the_wait(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_exits_130() {
    signal_ends_the_wait(libc::SIGINT, "SIGINT");
}

/// As PID 1 the kernel drops signals the process does not handle; the wait must still end.
fn signal_ends_the_wait_as_pid_1(sig: i32) {
    if !is_root() {
        skip(
            "the PID 1 signal test",
            "it needs root for a PID namespace (run as root)",
        );
        return;
    }
    let target = closed_port();
    let mut c = clean("unshare");
    c.args(["--pid", "--fork", "--"])
        .arg(bin())
        .args(["-i", "20ms", &target]);
    let mut run = Running::start(c);
    run.wait_for("not ready: connection refused");
    let unshare = run.pid();
    let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
        .expect("read unshare's children");
    let pid: i32 = children.trim().parse().expect("one child pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let nspid = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .expect("NSpid line");
    assert!(
        nspid.ends_with("\t1"),
        "not PID 1 in its namespace: {nspid}"
    );
    // SAFETY: kill with a live pid and a valid signal number.
    unsafe { libc::kill(pid, sig) };
    let (status, log, _) = run.finish().parts();
    assert_eq!(status.code(), Some(128 + sig), "{status:?}\n{log}");
}

#[test]
fn sigterm_as_pid_1_exits_143() {
    signal_ends_the_wait_as_pid_1(libc::SIGTERM);
}

#[test]
fn sigint_as_pid_1_exits_130() {
    signal_ends_the_wait_as_pid_1(libc::SIGINT);
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    // script(1) gives the binary a terminal for stderr.
    let script = |no_color: Option<&str>| {
        let mut c = clean("script");
        let line = format!("{} -4 localhost", bin().display());
        c.args(["-qec", &line, "/dev/null"]);
        c.env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        c.stdin(Stdio::null());
        c.output()
    };
    let Ok(o) = script(None) else {
        skip(
            "the colour test",
            "script(1) is missing (apt-get install bsdutils)",
        );
        return;
    };
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("\x1b[32mINFO"),
        "no colour on a terminal: {text:?}"
    );
    let o = script(Some("1")).expect("script ran before");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("INFO") && !text.contains("\x1b["), "{text:?}");
}

#[test]
fn quiet_and_verbose() {
    let o = run(&["-q", "-4", "localhost"]);
    assert_code(&o, 0);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    let target = closed_port();
    let o = run(&["-v", "-t", "200ms", "-i", "50ms", &target]);
    assert_code(&o, 1);
    assert_logged(&o, "DEBUG");
    assert_logged(&o, &format!("{target}: attempt 2: connection refused"));
    let mut c = cmd(&["-4", "localhost"]);
    c.env("PRECHECK_LOG", "error");
    let o = output(c, PATIENCE);
    assert_code(&o, 0);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

/// A name typed in another case than /etc/hosts holds it is found: names are looked up in
/// lower case (musl matches hosts entries case-sensitively), and the ready line shows the
/// target as typed.
#[test]
fn a_mixed_case_name_is_found_in_etc_hosts() {
    if !can_unshare("a_mixed_case_name_is_found_in_etc_hosts") {
        return;
    }
    let o = run_in_netns(
        "mixed-case",
        "127.0.0.2 db.shop\n",
        &bin(),
        &["-t", "5s", "DB.Shop", "dns://DB.SHOP"],
    );
    assert_code(&o, 0);
    assert_logged(&o, "DB.Shop: ready after");
    assert_logged(&o, "dns://DB.SHOP: ready after");
    assert_logged(&o, "127.0.0.2");
}
