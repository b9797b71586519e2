//! `--log-format json` as a log pipeline sees it: every line of every event type parses as JSON
//! (with serde_json, a real parser), carries the documented fields, and hostile strings (ESC,
//! quotes, backslashes, U+2028, bidi overrides) come out escaped, never raw.
//!
//! Only `localhost` (with -4) and loopback ports: nothing reaches a resolver. The binary is the
//! static one ($SERVICE_PRECHECK_STATIC) where set, in the clean environment of tests/common.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;

use serde_json::Value;

mod common;
use common::{PATIENCE, closed_port, cmd, output};

/// Runs to the end, failing instead of hanging past PATIENCE.
fn run(c: Command) -> Output {
    output(c, PATIENCE)
}

/// Every stderr line as a JSON object with the fields every event has; panics otherwise.
fn events(stderr: &[u8]) -> Vec<Value> {
    let text = String::from_utf8(stderr.to_vec()).expect("stderr is UTF-8");
    assert!(!text.is_empty(), "no log lines");
    assert!(text.ends_with('\n'), "the last line is cut: {text:?}");
    text.lines()
        .map(|line| {
            assert!(
                !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "a raw control or bidi character in {line:?}"
            );
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            check_common(&v, line);
            v
        })
        .collect()
}

fn check_common(v: &Value, line: &str) {
    let ts = v["ts"].as_str().unwrap_or_else(|| panic!("no ts: {line}"));
    // RFC 3339, UTC, milliseconds: 2026-11-30T13:01:46.123Z
    let b = ts.as_bytes();
    assert!(
        ts.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && ts.ends_with('Z'),
        "ts {ts:?} is not RFC 3339 UTC with milliseconds"
    );
    assert!(
        v["elapsed"].as_f64().is_some_and(|e| e >= 0.0),
        "elapsed: {line}"
    );
    let level = v["level"].as_str().unwrap_or_default();
    assert!(
        ["error", "warn", "info", "debug", "trace"].contains(&level),
        "level {level:?}: {line}"
    );
    assert!(
        v["event"].as_str().is_some_and(|e| !e.is_empty()),
        "event: {line}"
    );
    assert!(
        v["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "msg: {line}"
    );
}

fn find<'a>(all: &'a [Value], event: &str) -> Vec<&'a Value> {
    all.iter().filter(|v| v["event"] == event).collect()
}

#[test]
fn every_event_of_a_run_that_misses_its_deadline_is_json() {
    let closed = closed_port();
    let o = run(cmd(&[
        "--log-format",
        "json",
        "-v",
        "-4",
        "-i",
        "20ms",
        "-t",
        "300ms",
        "localhost",
        &closed,
    ]));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let all = events(&o.stderr);

    let waiting = find(&all, "waiting");
    assert_eq!(waiting.len(), 1, "{all:?}");
    assert_eq!(
        waiting[0]["msg"],
        format!("waiting for 2 targets (all must be ready), deadline 300ms: localhost, {closed}")
    );

    let ready = find(&all, "ready");
    assert_eq!(ready.len(), 1, "{all:?}");
    assert_eq!(ready[0]["target"], "localhost");
    assert_eq!(ready[0]["addresses"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(ready[0]["level"], "info");

    let not_ready = find(&all, "not_ready");
    assert!(!not_ready.is_empty(), "{all:?}");
    assert_eq!(not_ready[0]["target"], closed.as_str());
    let reason = format!("connection refused ({closed})");
    assert_eq!(not_ready[0]["reason"], reason.as_str());
    assert_eq!(
        not_ready[0]["msg"],
        format!("{closed}: not ready: {reason}")
    );

    assert!(
        find(&all, "attempt").iter().any(|v| v["level"] == "debug"),
        "-v logs attempts: {all:?}"
    );

    let deadline = find(&all, "deadline");
    assert_eq!(deadline.len(), 2, "{all:?}");
    assert_eq!(deadline[0]["target"], closed.as_str());
    assert_eq!(deadline[0]["reason"], reason.as_str());
    assert_eq!(deadline[1]["level"], "error");
    assert!(
        deadline[1]["msg"]
            .as_str()
            .unwrap_or_default()
            .starts_with("deadline of 300ms passed"),
        "{all:?}"
    );
    // The counts and the pending targets are fields, not only words in msg.
    assert_eq!(deadline[1]["ready"], 1, "{all:?}");
    assert_eq!(deadline[1]["total"], 2, "{all:?}");
    assert_eq!(
        deadline[1]["pending"],
        serde_json::json!([closed]),
        "{all:?}"
    );
}

#[test]
fn success_and_exec_are_json_and_the_variable_selects_it() {
    let mut c = cmd(&["-4", "localhost", "--", "true"]);
    c.env("PRECHECK_LOG_FORMAT", "json");
    let o = run(c);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let all = events(&o.stderr);
    let names: Vec<&str> = all.iter().filter_map(|v| v["event"].as_str()).collect();
    assert_eq!(names, ["waiting", "ready", "success", "exec"], "{all:?}");
    assert_eq!(all[2]["msg"], "ready: 1 of 1 targets");
    assert_eq!(all[3]["msg"], "running 'true'");
    assert_eq!(all[3]["command"], serde_json::json!(["true"]), "{all:?}");
}

#[test]
fn hostile_strings_are_escaped_in_json_and_in_text() {
    let command = "/nonexistent/x\u{1b}[2J\"\\\u{2028}\u{202e}";
    let o = run(cmd(&[
        "--log-format",
        "json",
        "-4",
        "localhost",
        "--",
        command,
    ]));
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    let all = events(&o.stderr);
    let error = find(&all, "error");
    assert_eq!(error.len(), 1, "{all:?}");
    let msg = error[0]["msg"].as_str().unwrap_or_default();
    // The message quotes the command with its control and bidi characters escaped, and JSON
    // escapes the quote, the backslashes and U+2028 on top.
    assert!(
        msg.starts_with("command not found: '/nonexistent/x\\u{1b}[2J\"\\\\\u{2028}\\u{202e}'"),
        "{msg:?}"
    );
    // argv as a field, escaped as the message escapes it.
    let shown = "/nonexistent/x\\u{1b}[2J\"\\\u{2028}\\u{202e}";
    assert_eq!(error[0]["command"], serde_json::json!([shown]), "{all:?}");
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("\\u2028"),
        "U+2028 is escaped in the line: {text}"
    );
}

#[test]
fn a_signal_is_a_json_event() {
    let closed = closed_port();
    let mut child = cmd(&["--log-format", "json", "-i", "20ms", &closed])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let err = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx.recv_timeout(PATIENCE).expect("a not_ready line");
        let ready = line.contains("\"event\":\"not_ready\"");
        lines.push(line);
        if ready {
            break;
        }
    }
    // SAFETY: kill with a live child's pid and a valid signal number.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    lines.extend(rx.iter());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(143));
    let all = events(format!("{}\n", lines.join("\n")).as_bytes());
    let interrupted = find(&all, "interrupted");
    assert_eq!(interrupted.len(), 1, "{all:?}");
    assert_eq!(interrupted[0]["reason"], "SIGTERM");
    assert_eq!(interrupted[0]["ready"], 0, "{all:?}");
    assert_eq!(interrupted[0]["total"], 1, "{all:?}");
    assert_eq!(
        interrupted[0]["pending"],
        serde_json::json!([closed]),
        "{all:?}"
    );
}

#[test]
fn usage_errors_stay_plain_text() {
    let o = run(cmd(&["--log-format", "json", "-t", "soon", "localhost"]));
    assert_eq!(o.status.code(), Some(2));
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(
        text.starts_with("service-precheck: invalid value 'soon' for --timeout"),
        "{text}"
    );
    let o = run(cmd(&["--log-format", "yaml", "localhost"]));
    assert_eq!(o.status.code(), Some(2));
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("invalid value 'yaml' for --log-format"),
        "{text}"
    );
}
