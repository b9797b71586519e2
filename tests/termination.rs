//! The termination message (issue 18), as the kubelet reads it: written on every failing exit of
//! our own through `--termination-log`, PRECHECK_TERMINATION_LOG or an existing
//! /dev/termination-log (in a private mount namespace), never on success, bounded, and never a
//! reason to end late or differently: a directory, a FIFO with or without a reader, a file
//! nobody may write, and storage that never answers (a FUSE mount whose daemon never reads).
//!
//! Only loopback ports and IP literals: nothing reaches a resolver.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;
use common::{
    PATIENCE, Running, can_unshare, clean, closed_port, cmd, cmd_as_nobody, is_root, output, skip,
    temp_dir, text, unshare_flags,
};

fn run(c: Command) -> (Output, Duration) {
    let start = Instant::now();
    let out = output(c, PATIENCE);
    (out, start.elapsed())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The message in `path`: one line, ended by a newline.
fn message(path: &Path) -> String {
    let m = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(m.ends_with('\n') && m.lines().count() == 1, "{m:?}");
    m.trim_end().to_string()
}

#[test]
fn the_deadline_with_the_option_names_the_targets_and_their_reasons() {
    let dir = temp_dir("option");
    let file = dir.join("message");
    let (a, b) = (closed_port(), closed_port());
    let log = ["--termination-log", text(&file)];
    let (out, _) = run(cmd(&[&log[..], &["-t", "1s", &a, &b]].concat()));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let m = message(&file);
    let want = format!(
        "deadline of 1s passed: 0 of 2 targets ready, 2 needed; not ready: {a}: connection \
         refused ({a}); {b}: connection refused ({b})"
    );
    assert_eq!(m, want);
    // The same words as the log lines.
    let log = stderr(&out);
    assert!(
        log.contains("deadline of 1s passed: 0 of 2 targets ready, 2 needed"),
        "{log}"
    );
    assert!(log.contains(&format!(
        "{a}: not ready at the deadline: connection refused ({a})"
    )));
}

#[test]
fn the_variable_and_the_flag_that_wins_over_it() {
    let dir = temp_dir("variable");
    let (var, flag) = (dir.join("var"), dir.join("flag"));
    let port = closed_port();
    let mut c = cmd(&["-t", "300ms", &port]);
    c.env("PRECHECK_TERMINATION_LOG", &var);
    let (out, _) = run(c);
    assert_eq!(out.status.code(), Some(1));
    assert!(message(&var).starts_with("deadline of 300ms passed: 0 of 1 targets ready"));

    fs::write(&var, "untouched").expect("write");
    let mut c = cmd(&["-t", "300ms", &port, "--termination-log", text(&flag)]);
    c.env("PRECHECK_TERMINATION_LOG", &var);
    let (out, _) = run(c);
    assert_eq!(out.status.code(), Some(1));
    assert!(message(&flag).starts_with("deadline of 300ms passed"));
    assert_eq!(fs::read_to_string(&var).expect("read"), "untouched");

    // An empty value writes nowhere (not even the default).
    let mut c = cmd(&["-t", "300ms", &port]);
    c.env("PRECHECK_TERMINATION_LOG", "");
    let (out, _) = run(c);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("termination"), "{}", stderr(&out));
}

#[test]
fn usage_errors_are_written_once_the_path_is_known() {
    let dir = temp_dir("usage");
    let file = dir.join("message");
    // The flag after the error it reports: argv is read for it before the parse.
    let (out, _) = run(cmd(&["--bogus", "--termination-log", text(&file)]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(message(&file), "usage error: invalid option '--bogus'");
    let mut c = cmd(&["-t", "soon", "db:5432"]);
    c.env("PRECHECK_TERMINATION_LOG", &file);
    let (out, _) = run(c);
    assert_eq!(out.status.code(), Some(2));
    let m = message(&file);
    assert!(
        m.starts_with("usage error: invalid value 'soon' for --timeout"),
        "{m}"
    );
    // Control characters in the input come out escaped, as on stderr.
    let (out, _) = run(cmd(&["--termination-log", text(&file), "a\x1b[31mb:1"]));
    assert_eq!(out.status.code(), Some(2));
    let m = message(&file);
    assert!(
        m.contains("'a\\u{1b}[31mb:1'") && !m.contains('\x1b'),
        "{m}"
    );
}

#[test]
fn success_writes_nothing() {
    let dir = temp_dir("success");
    let file = dir.join("message");
    fs::write(&file, "").expect("write");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let up = listener.local_addr().expect("addr").to_string();
    let (out, _) = run(cmd(&["--termination-log", text(&file), "-t", "5s", &up]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&file).expect("read"), "");
}

#[test]
fn a_command_that_cannot_run_and_a_signal_are_written() {
    let dir = temp_dir("endings");
    let file = dir.join("message");
    let log = ["--termination-log", text(&file)];
    let port = closed_port();
    let (out, _) = run(cmd(&[&log[..], &[&port, "--", "/nonexistent/cmd"]].concat()));
    assert_eq!(out.status.code(), Some(127));
    let m = message(&file);
    assert!(m.contains("'/nonexistent/cmd'"), "{m}");
    assert!(stderr(&out).contains(&m), "{m}\n{}", stderr(&out));

    let mut r = Running::start(cmd(&[&log[..], &[&port]].concat()));
    r.wait_for("not ready");
    r.signal(libc::SIGTERM);
    r.finish().code(143);
    let m = message(&file);
    let want = format!(
        "interrupted by SIGTERM: 0 of 1 targets ready, 1 needed; not ready: {port}: \
         connection refused ({port})"
    );
    assert_eq!(m, want);
}

#[test]
fn many_targets_fit_the_first_kilobyte_and_the_rest_are_counted() {
    let dir = temp_dir("many");
    let file = dir.join("message");
    let ports: Vec<String> = (0..300).map(|_| closed_port()).collect();
    let mut args = vec!["--termination-log", text(&file), "-t", "1s", "--any"];
    args.extend(ports.iter().map(String::as_str));
    let (out, _) = run(cmd(&args));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let m = message(&file);
    assert!(m.len() < 1024, "{} bytes: {m}", m.len());
    assert!(m.starts_with("deadline of 1s passed: 0 of 300 targets ready, 1 needed; not ready: "));
    let named = m.matches(": connection refused").count();
    assert!(named >= 10, "{m}");
    assert!(m.ends_with(&format!("; and {} more", 300 - named)), "{m}");
}

/// Runs with the message going to `path` (the flag): the exit is 1 at the 300 ms deadline, as
/// without it, and the log says why nothing was written. Returns that line.
fn hostile(c: Command) -> String {
    let (out, took) = run(c);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("termination")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    lines[0].to_string()
}

fn hostile_args(path: &Path) -> Vec<String> {
    let log = ["--termination-log", text(path), "-t", "300ms"];
    let mut args: Vec<String> = log.iter().map(|s| s.to_string()).collect();
    args.push(closed_port());
    args
}

#[test]
fn a_directory_or_a_device_is_refused() {
    let dir = temp_dir("directory");
    let line = hostile(cmd(&hostile_args(&dir)));
    assert!(line.contains("it is not a regular file"), "{line}");
    let line = hostile(cmd(&hostile_args(Path::new("/dev/null"))));
    assert!(
        line.contains("'/dev/null': it is not a regular file"),
        "{line}"
    );
}

fn fifo(dir: &Path) -> CString {
    let path = CString::new(text(&dir.join("fifo"))).expect("no NUL");
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o666) }, 0, "mkfifo");
    path
}

#[test]
fn a_fifo_with_or_without_a_reader_never_holds_the_end() {
    let dir = temp_dir("fifo");
    let path = fifo(&dir);
    // Looked at before the open: never opened, so no wait for a reader either way.
    let line = hostile(cmd(&hostile_args(&dir.join("fifo"))));
    assert!(line.contains("it is not a regular file"), "{line}");
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let reader = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK) };
    assert!(reader >= 0, "open the FIFO for reading");
    let line = hostile(cmd(&hostile_args(&dir.join("fifo"))));
    assert!(line.contains("it is not a regular file"), "{line}");
    let mut buf = [0u8; 16];
    // SAFETY: reads into `buf`, within its length.
    let n = unsafe { libc::read(reader, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: our descriptor, closed once.
    unsafe { libc::close(reader) };
    assert!(n <= 0, "the FIFO got {n} bytes");
}

#[test]
fn a_file_nobody_may_write() {
    if !is_root() {
        return skip("a file nobody may write", "needs root to run as uid 65534");
    }
    let dir = temp_dir("unwritable");
    let file = dir.join("message");
    fs::write(&file, "").expect("write");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
    let line = hostile(cmd_as_nobody(&dir, &hostile_args(&file)));
    assert!(line.contains("Permission denied"), "{line}");
    // The kubelet's file is world-writable: nobody writes it.
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).expect("chmod");
    let (out, _) = run(cmd_as_nobody(&dir, &hostile_args(&file)));
    assert_eq!(out.status.code(), Some(1));
    assert!(message(&file).starts_with("deadline of 300ms passed"));
}

#[test]
fn storage_that_never_answers_does_not_hold_the_end() {
    let what = "stalled storage";
    if !is_root() || !Path::new("/dev/fuse").exists() {
        return skip(
            what,
            "needs root and /dev/fuse for a FUSE mount that never answers",
        );
    }
    // A FUSE connection whose daemon never reads: every lookup under the mount waits for the
    // daemon's answer to INIT, forever. Mounted in the child's own mount namespace, so it ends
    // with the child; the test holds the device open until then.
    let fuse = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .expect("open /dev/fuse");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&fuse);
    let dir = temp_dir("fuse");
    let mnt = CString::new(text(&dir)).expect("no NUL");
    let opts = CString::new(format!("fd={fd},rootmode=40000,user_id=0,group_id=0")).expect("");
    let mut c = cmd(&hostile_args(&dir.join("message")));
    // SAFETY: only system calls between fork and exec; the strings outlive the spawn.
    unsafe {
        c.pre_exec(move || {
            let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    c"precheck".as_ptr(),
                    mnt.as_ptr(),
                    c"fuse".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    opts.as_ptr().cast(),
                ) == 0;
            match ok {
                true => Ok(()),
                false => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let line = hostile(c);
    assert!(line.contains("timed out"), "{line}");
    drop(fuse);
}

/// `program ARGS` with `dir` bind-mounted on /dev in a private mount namespace: the default
/// path is `dir`/termination-log.
fn with_dev(dir: &Path, args: &[String]) -> Command {
    let mut c = clean("unshare");
    c.args(unshare_flags())
        .args([
            "--",
            "sh",
            "-c",
            "ip link set lo up && mount --bind \"$0\" /dev && exec \"$@\"",
        ])
        .arg(dir)
        .arg(common::bin())
        .args(args);
    c
}

#[test]
fn the_default_path_only_when_it_exists() {
    if !can_unshare("the default /dev/termination-log") {
        return;
    }
    let dir = temp_dir("default");
    let port = closed_port();
    let args = ["-t".to_string(), "300ms".to_string(), port.clone()];
    let (out, _) = run(with_dev(&dir, &args));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let created = fs::read_dir(&dir).expect("read_dir").count();
    assert_eq!(created, 0, "something was created under /dev");
    assert!(!stderr(&out).contains("termination"), "{}", stderr(&out));

    let file = dir.join("termination-log");
    fs::write(&file, "an earlier run's longer message\n").expect("write");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).expect("chmod");
    let (out, _) = run(with_dev(&dir, &args));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let want = format!(
        "deadline of 300ms passed: 0 of 1 targets ready, 1 needed; not ready: {port}: \
         connection refused ({port})"
    );
    assert_eq!(message(&file), want);
}
