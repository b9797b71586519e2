//! The panic path of the shipped static binary: a panic in a thread prints its message and ends
//! the whole process at once with exit 3 (an internal error, src/panic.rs), also with
//! RUST_BACKTRACE=1; an abort (SIGABRT) ends it with exit 3 and a line as well.
//!
//! The musl build replaces the unwinder with stubs (src/unwind.rs), so this runs the real
//! static binary from $SERVICE_PRECHECK_STATIC (`make test` sets it; unset, the test skips with
//! the reason, except under CI=true, where it fails). The panic comes from the binary's hidden
//! trigger (src/selftest.rs): a thread panics while the main thread blocks for good, so a
//! process still alive after PATIENCE means the panic did not end it. The binary `cargo test`
//! builds for this machine (real unwinder, same profile setting) is checked the same way.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use service_precheck::selftest::PANIC_VAR;

mod common;
use common::{clean, closed_port, host_bin, skip};

/// Far above the milliseconds an abort takes; a hang fails instead of blocking the suite.
const PATIENCE: Duration = Duration::from_secs(5);
const MESSAGE: &str = "selftest: a panic in a thread (SERVICE_PRECHECK_SELFTEST_PANIC is set)";

/// Runs `bin` with the panic trigger set and RUST_BACKTRACE as given; kills it and fails if it
/// is still running after PATIENCE.
fn run_panicking(bin: &PathBuf, backtrace: Option<&str>) -> Output {
    let mut cmd = clean(bin);
    cmd.env(PANIC_VAR, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(value) = backtrace {
        cmd.env("RUST_BACKTRACE", value);
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let pid = child.id();
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(out) => out.expect("collecting the child's output"),
        Err(_) => {
            // pid is our own child, not yet reaped: the waiting thread still holds it.
            let pid = i32::try_from(pid).expect("a pid fits in pid_t");
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!(
                "{} still running {:?} after its thread panicked: the panic did not end the process",
                bin.display(),
                start.elapsed()
            );
        }
    }
}

fn assert_exits_3_with_message(bin: &PathBuf, backtrace: Option<&str>) {
    let out = run_panicking(bin, backtrace);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{} with RUST_BACKTRACE={backtrace:?}: wanted exit 3 (internal error), got {:?}; stderr:\n{stderr}",
        bin.display(),
        out.status
    );
    assert!(
        stderr.contains("thread 'selftest'") && stderr.contains("panicked at"),
        "no panic report in stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(MESSAGE),
        "the panic message is missing from stderr:\n{stderr}"
    );
}

/// $SERVICE_PRECHECK_STATIC, or None (after printing why) when it is unset.
fn static_binary(test: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SERVICE_PRECHECK_STATIC") {
        return Some(PathBuf::from(path));
    }
    let reason = "SERVICE_PRECHECK_STATIC is not set (make test builds the binary and sets it)";
    skip(test, reason);
    None
}

#[test]
fn static_binary_panic_prints_and_exits_3() {
    let Some(bin) = static_binary("static_binary_panic_prints_and_exits_3") else {
        return;
    };
    assert_exits_3_with_message(&bin, None);
}

#[test]
fn static_binary_panic_with_backtrace_prints_and_exits_3() {
    let Some(bin) = static_binary("static_binary_panic_with_backtrace_prints_and_exits_3") else {
        return;
    };
    // The backtrace walk is the one stub that returns (the end of the stack, at once).
    assert_exits_3_with_message(&bin, Some("1"));
    assert_exits_3_with_message(&bin, Some("full"));
}

#[test]
fn host_binary_panic_prints_and_exits_3() {
    assert_exits_3_with_message(&host_bin(), None);
}

/// An abort (SIGABRT: std's own, when an allocation it makes with the system allocator fails)
/// is exit 3 with a line too, not 134. The binary waits for a closed loopback port until it is
/// aborted from outside.
fn assert_abort_exits_3(bin: &PathBuf) {
    use std::io::{BufRead, BufReader};
    let mut child = clean(bin)
        .args(["-t", "30s", &closed_port()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped stderr");
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Waiting: its first reason is logged.
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("not ready")) {
        match rx.recv_timeout(PATIENCE) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "{} never said it was waiting:\n{}",
                    bin.display(),
                    seen.join("\n")
                );
            }
        }
    }
    let pid = i32::try_from(child.id()).expect("a pid fits in pid_t");
    // SAFETY: kill has no memory-safety preconditions; the child is ours and not yet reaped.
    unsafe { libc::kill(pid, libc::SIGABRT) };
    let status = child.wait().expect("wait for the child");
    seen.extend(rx.iter());
    assert_eq!(
        status.code(),
        Some(3),
        "{}: wanted exit 3 after SIGABRT, got {status:?}:\n{}",
        bin.display(),
        seen.join("\n")
    );
    assert!(
        seen.iter().any(|l| l.contains("internal error: aborted")),
        "no line says why:\n{}",
        seen.join("\n")
    );
}

#[test]
fn static_binary_abort_exits_3() {
    let Some(bin) = static_binary("static_binary_abort_exits_3") else {
        return;
    };
    assert_abort_exits_3(&bin);
}

#[test]
fn host_binary_abort_exits_3() {
    assert_abort_exits_3(&host_bin());
}
