//! Issue 8 as tests: the two promises (never ready too early, never past the deadline) under
//! hostile conditions, run against the static binary (SERVICE_PRECHECK_STATIC) where set.
//!
//! Cases: TCP self-connect, Ready observed after the deadline (full log pipe, SIGSTOP),
//! blocked stderr, many targets, SIGTERM between "ready" and exec, bare IP literals, `?min=N`
//! over TCP, durations too large for the clock, EMFILE inside getaddrinfo, an address-space
//! limit, and usage messages. Tests that need a network namespace need root; they skip with a
//! reason elsewhere and fail under CI=true. Bounds are generous; the tests wait for events
//! (a full pipe, an accepted connection, a log line, an exit) and sleep only to pace a
//! scenario (a port that opens at about 3 s), never to synchronise.

mod common;
#[path = "hostile/support.rs"]
mod support;

use std::net::TcpListener;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::*;

fn code_or_signal(s: &ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => format!("{s:?}"),
    }
}

/// Sleeps until `at`: pacing a scenario, not waiting for an event.
fn pace_until(at: Instant) {
    thread::sleep(at.saturating_duration_since(Instant::now()));
}

/// Waits until `listener` (non-blocking) accepts a connection or the child exits.
/// Returns whether a connection came.
fn wait_accept(listener: &TcpListener, child: &mut std::process::Child) -> bool {
    listener.set_nonblocking(true).expect("nonblocking");
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if listener.accept().is_ok() {
            return true;
        }
        if child.try_wait().expect("try_wait").is_some() {
            return listener.accept().is_ok();
        }
        thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Connections waiting in a listener's accept queue (a connect that succeeded lands there
/// whether or not anyone accepts).
fn count_accepted(listener: &TcpListener) -> usize {
    listener.set_nonblocking(true).expect("nonblocking");
    let mut n = 0;
    while listener.accept().is_ok() {
        n += 1;
    }
    n
}

// ---- Ready too early -------------------------------------------------------------------------

/// A loopback connect to a port in the ephemeral range can pick that port as its source and
/// connect to itself. Narrowing the range to 10 ports makes it happen within a second or two.
#[test]
fn tcp_self_connect_never_counts() {
    let _serial = serial();
    in_netns("tcp_self_connect_never_counts", || {
        netns_sysctl("/proc/sys/net/ipv4/ip_local_port_range", "40000 40009");
        let mut selves = 0;
        for run in 0..5 {
            let o = output(
                cmd(&["-i", "10ms", "-t", "2s", "127.0.0.1:40004"]),
                PATIENCE,
            );
            let log = text(&o.stderr);
            assert_eq!(
                o.status.code(),
                Some(1),
                "run {run}: a port nothing listens on counted as ready ({}):\n{log}",
                code_or_signal(&o.status)
            );
            assert!(!log.contains("ready after"), "run {run}:\n{log}");
            if log.contains("connected to itself") {
                selves += 1;
            }
        }
        // Otherwise the scenario did not happen and the runs above prove nothing.
        assert!(selves > 0, "no run logged a self-connect");
    });
}

/// Closed-port targets fill a small log pipe nobody reads, so today's main thread blocks
/// writing; a listener opens at about 3 s, long after the 1 s deadline; then the pipe drains.
#[test]
fn ready_after_the_deadline_behind_a_full_log_pipe_does_not_count() {
    let _serial = serial();
    in_netns(
        "ready_after_the_deadline_behind_a_full_log_pipe_does_not_count",
        || {
            let (read, write) = pipe();
            set_pipe_size(&read, 4096);
            let mut args: Vec<String> = ["--any", "-t", "1s", "-i", "10ms", "127.0.0.1:2000"]
                .map(String::from)
                .to_vec();
            args.extend(loopback_targets(200, 1000));
            let start = Instant::now();
            let mut c = cmd(&args);
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(write));
            let mut child = Reaped(c.spawn().expect("spawn"));
            drop(c); // our copy of the write end
            assert!(
                wait_full(&read, &mut child, 512),
                "the log pipe never filled up"
            );
            // Pacing: the port opens 2 s after the deadline.
            pace_until(start + Duration::from_secs(3));
            let listener = TcpListener::bind("127.0.0.1:2000").expect("bind the late port");
            let connected = wait_accept(&listener, &mut child);
            let reader = drain(read);
            let status = wait_status(&mut child, PATIENCE);
            let log = text(&reader.join().expect("reader"));
            assert_eq!(
                status.code(),
                Some(1),
                "{} (a connection came at 3 s: {connected}):\n{}",
                code_or_signal(&status),
                tail(&log, 2000)
            );
        },
    );
}

/// Stopped before the deadline, the port opens while it is stopped, continued after it: the
/// targets that turn ready on SIGCONT are late, whatever the order the threads wake in.
#[test]
fn sigstop_across_the_deadline_does_not_count() {
    let _serial = serial();
    in_netns("sigstop_across_the_deadline_does_not_count", || {
        const PORTS: u16 = 20;
        for run in 0..10 {
            let mut args: Vec<String> = ["--any", "-t", "1s", "-i", "10ms"]
                .map(String::from)
                .to_vec();
            args.extend((0..PORTS).map(|p| format!("127.0.0.1:{}", 3000 + p)));
            let start = Instant::now();
            let mut r = Running::start(cmd(&args));
            r.wait_for("not ready: connection refused");
            kill(r.pid(), libc::SIGSTOP);
            while proc_state(r.pid()) != Some('T') {
                assert!(start.elapsed() < PATIENCE, "the binary never stopped");
                thread::sleep(Duration::from_millis(1));
            }
            let stopped_at = start.elapsed();
            let listeners: Vec<TcpListener> = (0..PORTS)
                .map(|p| TcpListener::bind(("127.0.0.1", 3000 + p)).expect("bind"))
                .collect();
            // Pacing: the deadline passes while the binary is stopped.
            pace_until(start + Duration::from_millis(2000));
            kill(r.pid(), libc::SIGCONT);
            let (status, log, _) = r.finish().parts();
            drop(listeners);
            if stopped_at >= Duration::from_millis(900) {
                // Too slow to stop it before its deadline here: this run proves nothing.
                eprintln!("run {run}: stopped only at {stopped_at:?}, not counted");
                continue;
            }
            assert_eq!(
                status.code(),
                Some(1),
                "run {run}: {} after SIGCONT past the deadline:\n{log}",
                code_or_signal(&status)
            );
        }
    });
}

// ---- Past the deadline, or stuck -------------------------------------------------------------

fn blocked_stderr_run(test: &str, extra: &[&str], targets: usize) {
    in_netns(test, {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        move || {
            let (read, write) = pipe();
            let mut args = extra;
            args.extend(["-t", "1s"].map(String::from));
            args.extend(loopback_targets(targets, 1000));
            let start = Instant::now();
            let mut c = cmd(&args);
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(write));
            let mut child = Reaped(c.spawn().expect("spawn"));
            drop(c);
            let status = exit_within(&mut child, Duration::from_secs(3));
            let took = start.elapsed();
            let full = unread(&read) >= pipe_size(&read) - 1024;
            if status.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            drop(read);
            let status = status.unwrap_or_else(|| {
                panic!("still running {took:?} after a 1 s deadline (stderr pipe full: {full})")
            });
            assert_eq!(status.code(), Some(1), "{}", code_or_signal(&status));
            // Otherwise the scenario did not happen.
            assert!(full, "stderr never filled up");
        }
    });
}

#[test]
fn blocked_stderr_does_not_hold_the_deadline_2000_targets() {
    let _serial = serial();
    blocked_stderr_run(
        "blocked_stderr_does_not_hold_the_deadline_2000_targets",
        &[],
        2000,
    );
}

#[test]
fn blocked_stderr_does_not_hold_the_deadline_verbose() {
    let _serial = serial();
    blocked_stderr_run(
        "blocked_stderr_does_not_hold_the_deadline_verbose",
        &["-v", "-i", "10ms"],
        200,
    );
}

#[test]
fn sigterm_with_blocked_stderr_is_answered() {
    let _serial = serial();
    in_netns("sigterm_with_blocked_stderr_is_answered", || {
        let (read, write) = pipe();
        let mut args: Vec<String> = ["-v", "-i", "10ms"].map(String::from).to_vec();
        args.extend(loopback_targets(200, 1000));
        let mut c = cmd(&args);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(write));
        let mut child = Reaped(c.spawn().expect("spawn"));
        drop(c);
        assert!(wait_full(&read, &mut child, 1024), "stderr never filled up");
        let sent = Instant::now();
        kill(child.id() as i32, libc::SIGTERM);
        let status = exit_within(&mut child, Duration::from_secs(2));
        let took = sent.elapsed();
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(read);
        let status = status.unwrap_or_else(|| panic!("SIGTERM not answered within {took:?}"));
        assert_eq!(status.code(), Some(143), "{}", code_or_signal(&status));
    });
}

/// More descriptors for thousands of TCP targets, up to the hard limit.
fn raise_nofile(c: &mut std::process::Command, want: u64) {
    // SAFETY: the closure only calls getrlimit/setrlimit, which are async-signal-safe.
    unsafe {
        c.pre_exec(move || {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < want {
                lim.rlim_cur = want.min(lim.rlim_max);
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
            Ok(())
        });
    }
}

fn many_targets_run(n: usize, deadline: &str, bound: Duration) {
    let mut args: Vec<String> = ["-t", deadline].map(String::from).to_vec();
    args.extend(loopback_targets(n, 1000));
    let mut c = cmd(&args);
    raise_nofile(&mut c, n as u64 + 100);
    let start = Instant::now();
    let o = output(c, PATIENCE);
    let took = start.elapsed();
    assert_code(&o, 1);
    assert!(
        took < bound,
        "-t {deadline} with {n} targets ended after {took:?}, bound {bound:?}"
    );
}

#[test]
fn many_targets_end_at_the_deadline() {
    let _serial = serial();
    in_netns("many_targets_end_at_the_deadline", || {
        many_targets_run(500, "50ms", Duration::from_secs(1));
        many_targets_run(10_000, "200ms", Duration::from_secs(2));
        // Starting 10,000 threads takes longer than this deadline and bound together; only a
        // deadline watched from the first moment meets it.
        many_targets_run(10_000, "10ms", Duration::from_millis(600));
    });
}

/// The command `sh -c 'sleep 2; touch MARKER'` must never complete once SIGTERM was sent.
fn signal_before_exec(sig: i32, name: &str) {
    let marker = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-{name}-ran"));
    let _ = std::fs::remove_file(&marker);
    let (read, write) = pipe();
    set_pipe_size(&read, 4096);
    let mut args: Vec<String> = ["--any", "-i", "10ms", "127.0.0.1:2000"]
        .map(String::from)
        .to_vec();
    args.extend(loopback_targets(200, 1000));
    args.extend(["--", "sh", "-c", "sleep 2; touch \"$1\"", "sh"].map(String::from));
    args.push(marker.to_str().expect("utf-8 temp path").to_string());
    let mut c = cmd(&args);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write));
    let mut child = Reaped(c.spawn().expect("spawn"));
    drop(c);
    assert!(
        wait_full(&read, &mut child, 512),
        "the log pipe never filled up"
    );
    // The one target turns ready; once its connection is accepted the probe has seen it.
    let listener = TcpListener::bind("127.0.0.1:2000").expect("bind");
    let connected = wait_accept(&listener, &mut child);
    kill(child.id() as i32, sig);
    let reader = drain(read);
    let status = wait_status(&mut child, PATIENCE);
    let log = text(&reader.join().expect("reader"));
    let signalled = status.code() == Some(128 + sig) || status.signal() == Some(sig);
    assert!(
        signalled,
        "{name} sent, yet {} (connected: {connected}):\n{}",
        code_or_signal(&status),
        tail(&log, 2000)
    );
    // Pacing: the command would have finished 2 s after it started.
    thread::sleep(Duration::from_millis(2500));
    assert!(
        !marker.exists(),
        "the command ran to completion after {name}"
    );
}

#[test]
fn sigterm_between_ready_and_exec_wins() {
    let _serial = serial();
    in_netns("sigterm_between_ready_and_exec_wins", || {
        signal_before_exec(libc::SIGTERM, "SIGTERM")
    });
}

#[test]
fn sigint_between_ready_and_exec_wins() {
    let _serial = serial();
    in_netns("sigint_between_ready_and_exec_wins", || {
        signal_before_exec(libc::SIGINT, "SIGINT")
    });
}

// ---- Targets ---------------------------------------------------------------------------------

#[test]
fn bare_ip_literals_are_usage_errors() {
    let _serial = serial();
    for target in [
        "::1:5432",
        "2001:db8::5:5432",
        "127.0.0.1",
        "::1",
        "dns://::1",
        "dns://10.0.0.5",
    ] {
        let o = output(cmd(&["-t", "2s", target]), PATIENCE);
        let log = text(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{target}: {}:\n{log}",
            code_or_signal(&o.status)
        );
        assert!(log.contains(&format!("'{target}'")), "{target}:\n{log}");
        assert!(log.contains("[IPV6]:PORT"), "{target}:\n{log}");
        // The same from the environment.
        let mut c = cmd(&["-t", "2s"]);
        c.env("PRECHECK_TARGETS", target);
        let o = output(c, PATIENCE);
        assert_eq!(o.status.code(), Some(2), "PRECHECK_TARGETS={target}");
    }
}

/// Two of three addresses accept, the third never does: each accepting address is connected
/// to once, not once per interval (MySQL blocks a host after 100 aborted connections).
#[test]
fn min_over_tcp_never_reconnects_to_an_accepting_address() {
    let _serial = serial();
    in_netns(
        "min_over_tcp_never_reconnects_to_an_accepting_address",
        || {
            let a = TcpListener::bind("127.0.0.1:4000").expect("bind a");
            let b = TcpListener::bind("127.0.0.2:4000").expect("bind b");
            let hosts = "127.0.0.1 svc.test\n127.0.0.2 svc.test\n127.0.0.3 svc.test\n";
            let args = ["tcp://svc.test:4000?min=3", "-i", "10ms", "-t", "1s"].map(String::from);
            let o = output(with_hosts("min", hosts, false, "true", &args), PATIENCE);
            let log = text(&o.stderr);
            assert_code(&o, 1);
            assert!(log.contains("only 2 of 3 addresses accept"), "{log}");
            let (na, nb) = (count_accepted(&a), count_accepted(&b));
            assert_eq!(
                (na, nb),
                (1, 1),
                "connections to 127.0.0.1 and 127.0.0.2:\n{log}"
            );
        },
    );
}

// ---- Clear errors, not crashes ---------------------------------------------------------------

#[test]
fn durations_too_large_for_the_clock_are_usage_errors() {
    let _serial = serial();
    let flags = [
        ("-t", "--timeout"),
        ("-i", "--interval"),
        ("--connect-timeout", "--connect-timeout"),
    ];
    let vars = [
        "PRECHECK_TIMEOUT",
        "PRECHECK_INTERVAL",
        "PRECHECK_CONNECT_TIMEOUT",
    ];
    for value in [
        "18446744073709551615s 1000000000ns",
        "18446744073709551615s",
    ] {
        let mut runs = Vec::new();
        for (flag, long) in flags {
            runs.push((cmd(&["-4", flag, value, "localhost"]), long));
        }
        for var in vars {
            let mut c = cmd(&["-4", "localhost"]);
            c.env(var, value);
            runs.push((c, var));
        }
        for (c, source) in runs {
            let o = output(c, PATIENCE);
            let log = text(&o.stderr);
            assert_eq!(
                o.status.code(),
                Some(2),
                "{source} {value:?}: {}:\n{log}",
                code_or_signal(&o.status)
            );
            assert!(log.contains(&format!("'{value}'")), "{source}:\n{log}");
            assert!(log.contains(source), "{source}:\n{log}");
            assert!(!log.contains("panicked"), "{log}");
        }
    }
}

/// musl's getaddrinfo returns -1 (EAI_BADFLAGS) when it cannot open resolv.conf, here because
/// 3000 lookups at once exhaust 1024 descriptors. That is a passing system state, not a bug.
#[test]
fn emfile_in_getaddrinfo_is_not_an_internal_error() {
    let _serial = serial();
    in_netns("emfile_in_getaddrinfo_is_not_an_internal_error", || {
        // A third of the names are in /etc/hosts; the rest go to the (silent) nameserver.
        let hosts: String = (1..=1000)
            .map(|i| format!("10.9.{}.{} h{i}.test\n", i / 250, i % 250))
            .collect();
        let mut args: Vec<String> = ["-t", "3s", "-i", "100ms"].map(String::from).to_vec();
        args.extend((1..=3000).map(|i| format!("h{i}.test")));
        let o = output(
            with_hosts("emfile", &hosts, true, "ulimit -n 1024", &args),
            PATIENCE,
        );
        let log = text(&o.stderr);
        assert!(
            matches!(o.status.code(), Some(0) | Some(1)),
            "{}:\n{}",
            code_or_signal(&o.status),
            tail(&log, 3000)
        );
        assert!(
            !log.contains("rejected the request"),
            "{}",
            tail(&log, 3000)
        );
        if !is_static() {
            // glibc reports a lack of descriptors as EAI_AGAIN; the case is musl's.
            eprintln!("not the static musl binary: only checked that it never exits 3");
            return;
        }
        // Otherwise the descriptors never ran out and the run proves nothing.
        assert!(
            [
                "cannot read the resolver configuration",
                "No file descriptors available",
                "Too many open files"
            ]
            .iter()
            .any(|t| log.contains(t)),
            "no lookup ran out of descriptors:\n{}",
            tail(&log, 3000)
        );
    });
}

fn limit_address_space(c: &mut std::process::Command, bytes: u64) {
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe.
    unsafe {
        c.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn address_space_run(limit: u64, extra: &[&str], targets: &[String]) {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.extend(["-t", "300ms"].map(String::from));
    args.extend(targets.iter().cloned());
    let mut c = cmd(&args);
    limit_address_space(&mut c, limit);
    let o = output(c, PATIENCE);
    let log = text(&o.stderr);
    let what = format!(
        "RLIMIT_AS {} KiB {extra:?}: {}",
        limit / 1024,
        code_or_signal(&o.status)
    );
    match o.status.code() {
        Some(0) | Some(1) => {}
        Some(3) => assert!(
            // std's own words for a failed thread start say "Out of memory (os error 12)"; for
            // an allocation of its own that fails (then it aborts, see src/panic.rs), "memory
            // allocation of N bytes failed".
            log.to_lowercase().contains("out of memory")
                || log.contains("cannot start a thread")
                || (log.contains("memory allocation of")
                    && log.contains("internal error: aborted")),
            "{what} without saying why:\n{}",
            tail(&log, 2000)
        ),
        _ => panic!("{what}:\n{}", tail(&log, 2000)),
    }
}

/// Under an address-space limit too small for the threads the end is always a clear exit 3,
/// never an abort (134) from a failed allocation.
#[test]
fn an_address_space_limit_never_aborts() {
    let _serial = serial();
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let targets: Vec<String> = (0..100)
        .map(|i| format!("127.0.{}.{}:{port}", 1 + i / 250, 1 + i % 250))
        .collect();
    for _ in 0..20 {
        address_space_run(16 << 20, &[], &targets);
    }
    // The abort comes from an allocation failing somewhere, so sweep the limit, with the
    // allocations of verbose logging on.
    for kib in (4096..=24576).step_by(128) {
        address_space_run(kib << 10, &["-v", "-i", "10ms"], &targets);
    }
}

// ---- Usage messages --------------------------------------------------------------------------

fn usage_error(c: std::process::Command) -> String {
    let o = output(c, PATIENCE);
    assert_code(&o, 2);
    text(&o.stderr)
}

#[test]
fn unknown_options_quote_the_whole_argument() {
    let _serial = serial();
    for arg in ["-version", "-4v-4v"] {
        let log = usage_error(cmd(&[arg, "localhost"]));
        assert!(log.contains(&format!("'{arg}'")), "{arg}:\n{log}");
    }
}

#[test]
fn a_bad_target_in_precheck_targets_names_the_variable() {
    let _serial = serial();
    let mut c = cmd::<&str>(&[]);
    c.env("PRECHECK_TARGETS", "ok.test bad:port");
    let log = usage_error(c);
    assert!(log.contains("PRECHECK_TARGETS"), "{log}");
    assert!(log.contains("'bad:port'"), "{log}");
}

#[test]
fn control_and_bidi_characters_are_never_echoed_raw() {
    let _serial = serial();
    let raw = [
        '\u{1b}', '\u{202e}', '\u{7}', '\u{9b}', '\u{200f}', '\u{2066}',
    ];
    let check = |what: &str, log: &str| {
        for c in raw {
            assert!(!log.contains(c), "{what}: raw {c:?} in:\n{log:?}");
        }
    };
    let evil = ["db\u{1b}[2Jx", "db\u{202e}kcatta", "x\u{1b}]0;title\u{7}"];
    for t in evil {
        let log = usage_error(cmd(&[t]));
        check(t, &log);
        let mut c = cmd::<&str>(&[]);
        c.env("PRECHECK_TARGETS", format!("ok.test {t}"));
        check(t, &usage_error(c));
        check(t, &usage_error(cmd(&["-t", t, "localhost"])));
        check(t, &usage_error(cmd(&[&format!("--{t}"), "localhost"])));
    }
    let log = usage_error(cmd(&["db\u{1b}x"]));
    assert!(log.contains("\\u{1b}"), "ESC not escaped: {log:?}");
    let log = usage_error(cmd(&["db\u{202e}x"]));
    assert!(log.contains("\\u{202e}"), "U+202E not escaped: {log:?}");
}

#[test]
fn a_failed_write_of_help_or_version_is_an_error() {
    let _serial = serial();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let mut c = cmd(&["--version"]);
    let o = c
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert_ne!(o.status.code(), Some(0), "--version >/dev/full");
    assert!(!o.status.success());
    assert!(!o.stderr.is_empty(), "--version >/dev/full said nothing");

    let mut c = cmd(&["--help"]);
    // SAFETY: close is async-signal-safe; fd 1 is the child's own stdout.
    unsafe {
        c.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let o = c
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(
        !o.status.success(),
        "--help >&- exited {} having written nothing",
        code_or_signal(&o.status)
    );
}
