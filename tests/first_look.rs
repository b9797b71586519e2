//! The first look (src/sweep.rs) from the outside: TCP targets on IP literals that are up, or a
//! SIGTERM/SIGINT pending at the start, decide the run from the main thread before any thread
//! exists, and only a log writer when there is something to write to (src/logging.rs: none
//! for /dev/null); the look is bounded by the deadline and ends once the quorum is met.
//!
//! Threads are counted with `strace -f -e trace=clone,clone3`, and perl makes a signal pending
//! under strace (each skipped with a line when missing, a failure under CI=true). Only loopback
//! listeners on 127.0.0.1:0 are used. A target whose connect hangs is a listener with backlog 0
//! whose accept queue holds one connection already: the kernel drops further SYNs, so a connect
//! neither succeeds nor fails while the test holds the listener. Timing bounds are generous;
//! nothing sleeps to synchronise.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{PATIENCE, Running, bin, clean, closed_port, cmd, temp_dir};

/// Far below PATIENCE and far above what a passing run needs (some milliseconds).
const BOUND: Duration = Duration::from_secs(5);

/// Says why `what` cannot run here, once per test binary (tests share a missing tool); under
/// CI=true fails every time instead.
fn skip(what: &str, why: &str, said: &Once) {
    if common::in_ci() {
        common::skip(what, why);
    }
    said.call_once(|| common::skip(what, why));
}

/// A program on PATH, or None (after saying so once) when it is missing.
fn program(name: &str, what: &str, package: &str, said: &Once) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        let why = format!("{name} is missing (apt-get install {package})");
        skip(what, &why, said);
    }
    found
}

/// strace, or None (after saying so once) when it is missing.
fn strace() -> Option<PathBuf> {
    static SAID: Once = Once::new();
    program("strace", "first-look thread tests", "strace", &SAID)
}

/// The binary with `args` under `strace -f`, recording every clone and clone3 in `trace`.
fn traced(strace: &Path, trace: &Path, args: &[String]) -> Command {
    let mut c = clean(strace);
    c.args(["-f", "-qq", "-e", "trace=clone,clone3", "-o"])
        .arg(trace)
        .arg(bin())
        .args(args);
    c
}

/// How many threads (or processes) the traced run started: one line per clone call, not counting
/// the second half of a call that strace split with `<unfinished ...>`.
fn clones(trace: &Path) -> (usize, String) {
    let text = std::fs::read_to_string(trace).expect("read the strace output");
    let n = (text.lines())
        .filter(|l| l.contains("clone(") || l.contains("clone3("))
        .count();
    (n, text)
}

/// A finished run whose stderr went to a regular file.
struct Run {
    status: ExitStatus,
    log: String,
    took: Duration,
}

/// Runs `c` to the end with stderr to the regular file `log`; fails after PATIENCE.
fn run_to_file(c: Command, log: &Path) -> Run {
    run_to(c, File::create(log).expect("create the log file"), log)
}

/// The same with stderr to `err`, the file `log` opened by the caller.
fn run_to(mut c: Command, err: File, log: &Path) -> Run {
    let started = Instant::now();
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn the binary");
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            let seen = std::fs::read_to_string(log).unwrap_or_default();
            panic!("the binary did not exit; saw:\n{seen}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    let log = std::fs::read_to_string(log).expect("read the log file");
    Run { status, log, took }
}

/// `n` listeners on 127.0.0.1 (not accepting: the kernel completes a handshake from the backlog).
fn listeners(n: usize) -> Vec<TcpListener> {
    (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect()
}

fn target(l: &TcpListener) -> String {
    l.local_addr()
        .expect("a bound listener has an address")
        .to_string()
}

/// A listener whose accept queue is full: a connect to it hangs (the kernel drops the SYN).
struct Hanging {
    addr: SocketAddr,
    _listener: OwnedFd,
    _filler: TcpStream,
}

impl Hanging {
    fn new() -> Hanging {
        // SAFETY: plain socket(2); the descriptor is owned by an OwnedFd at once.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
        // SAFETY: socket returned a new descriptor that nothing else owns.
        let listener = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_in is valid; family and address are set below.
        let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `sin` is a valid sockaddr_in of length `len`.
        let rc = unsafe { libc::bind(fd, (&raw const sin).cast(), len) };
        assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
        // Backlog 0: the accept queue holds one connection, and a SYN beyond it is dropped.
        // SAFETY: listen on our own bound socket.
        let rc = unsafe { libc::listen(fd, 0) };
        assert_eq!(rc, 0, "listen: {}", io::Error::last_os_error());
        // SAFETY: `sin` and `len` are valid for getsockname to fill.
        let rc = unsafe { libc::getsockname(fd, (&raw mut sin).cast(), &mut len) };
        assert_eq!(rc, 0, "getsockname: {}", io::Error::last_os_error());
        let addr = SocketAddr::from((
            std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
            u16::from_be(sin.sin_port),
        ));
        // Fills the accept queue; nothing ever accepts it.
        let filler = TcpStream::connect(addr).expect("the first connect fills the queue");
        Hanging {
            addr,
            _listener: listener,
            _filler: filler,
        }
    }
}

/// Starts `c` with `sig` blocked and pending: the mask and the pending signal survive execve, so
/// the binary finds the signal waiting when it starts.
fn with_pending(c: &mut Command, sig: libc::c_int) {
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe functions (sigemptyset, sigaddset, sigprocmask, getpid, kill). The child
    // has a single thread, so the mask and the signal concern it alone, not the test's threads.
    unsafe {
        c.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::kill(libc::getpid(), sig) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn signal_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => unreachable!("only SIGTERM and SIGINT are waited for"),
    }
}

#[test]
fn targets_that_are_up_start_no_thread_with_stderr_dev_null() {
    let Some(strace) = strace() else { return };
    let dir = temp_dir("up-null");
    let ls = listeners(3);
    let args: Vec<String> = ls.iter().map(target).collect();
    let trace = dir.join("trace");
    let null = File::options()
        .write(true)
        .open("/dev/null")
        .expect("open /dev/null");
    let status = traced(&strace, &trace, &args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(null)
        .status()
        .expect("run the binary under strace");
    let (n, text) = clones(&trace);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(n, 0, "threads were started:\n{text}");
}

#[test]
fn targets_that_are_up_start_only_the_log_writer_with_stderr_a_file() {
    let Some(strace) = strace() else { return };
    let dir = temp_dir("up-file");
    let ls = listeners(3);
    let args: Vec<String> = ls.iter().map(target).collect();
    let trace = dir.join("trace");
    let run = run_to_file(traced(&strace, &trace, &args), &dir.join("stderr"));
    let (n, text) = clones(&trace);
    let log = &run.log;
    assert_eq!(run.status.code(), Some(0), "{:?}\n{log}", run.status);
    assert_eq!(
        n, 1,
        "expected one thread (the log writer):\n{text}\nstderr:\n{log}"
    );
    for t in &args {
        let ready = format!("{t}: ready after ");
        assert!(log.contains(&ready), "lacks {ready:?}:\n{log}");
    }
    assert!(
        log.contains("ready: 3 of 3 targets"),
        "no success line:\n{log}"
    );
}

#[test]
fn targets_that_are_up_start_only_the_log_writer_with_stderr_a_pipe() {
    let Some(strace) = strace() else { return };
    let dir = temp_dir("up-pipe");
    let ls = listeners(3);
    let args: Vec<String> = ls.iter().map(target).collect();
    let trace = dir.join("trace");
    let run = Running::start(traced(&strace, &trace, &args)).finish();
    let (n, text) = clones(&trace);
    run.code(0).logged("ready: 3 of 3 targets");
    for t in &args {
        run.logged(&format!("{t}: ready after "));
    }
    assert_eq!(
        n, 1,
        "expected one thread (the log writer):\n{text}\nstderr:\n{}",
        run.log
    );
}

#[test]
fn a_refused_target_gets_threads_and_meets_the_deadline() {
    let Some(strace) = strace() else { return };
    let dir = temp_dir("refused");
    let up = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let (up, refused) = (target(&up), closed_port());
    let args = [
        "-t".to_string(),
        "300ms".to_string(),
        up.clone(),
        refused.clone(),
    ];
    let trace = dir.join("trace");
    let run = run_to_file(traced(&strace, &trace, &args), &dir.join("stderr"));
    let (n, text) = clones(&trace);
    let log = &run.log;
    assert_eq!(run.status.code(), Some(1), "{:?}\n{log}", run.status);
    assert!(run.took < BOUND, "took {:?}:\n{log}", run.took);
    assert!(n >= 1, "no thread was started:\n{text}\nstderr:\n{log}");
    assert!(log.contains(&format!("{up}: ready after ")), "{log}");
    let line = format!("{refused}: not ready at the deadline");
    assert!(log.contains(&line), "lacks {line:?}:\n{log}");
    let line = "deadline of 300ms passed: 1 of 2 targets ready, 2 needed";
    assert!(log.contains(line), "lacks {line:?}:\n{log}");
}

#[test]
fn a_pending_signal_wins_over_targets_that_are_up() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let name = signal_name(sig);
        let dir = temp_dir(&format!("pending-up-{name}"));
        let marker = dir.join("marker");
        let ls = listeners(2);
        let mut args: Vec<String> = ls.iter().map(target).collect();
        let touch = format!("touch '{}'", marker.display());
        args.extend(["--", "sh", "-c", &touch].map(String::from));

        // Without the signal the command runs: the marker proves it would have.
        let control = Running::start(cmd(&args)).finish();
        control.code(0);
        let log = &control.log;
        assert!(marker.exists(), "the command did not run:\n{log}");
        std::fs::remove_file(&marker).expect("remove the marker");

        let mut c = cmd(&args);
        with_pending(&mut c, sig);
        let run = Running::start(c).finish();
        // The targets the look found up are told, and the interruption names none of them.
        run.code(128 + sig)
            .within(BOUND)
            .logged(&format!("{}: ready after ", args[0]))
            .logged(&format!("interrupted by {name}"))
            .not_logged("still waiting for")
            .not_logged("running ");
        assert!(
            !marker.exists(),
            "the command ran despite {name}:\n{}",
            run.log
        );
    }
}

#[test]
fn a_pending_signal_ends_a_hanging_first_look() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let name = signal_name(sig);
        let hanging = Hanging::new();
        let up = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        // A connect timeout far above BOUND: only the signal can end the look in time.
        let (addr, up) = (hanging.addr.to_string(), target(&up));
        let mut c = cmd(&["--connect-timeout", "30s", &up, &addr].map(String::from));
        with_pending(&mut c, sig);
        // Only the hanging target is still waited for: the one up is not named.
        let waiting = format!("interrupted by {name}, still waiting for: {addr} (no answer yet)");
        Running::start(c)
            .finish()
            .code(128 + sig)
            .within(BOUND)
            .logged(&format!("{up}: ready after "))
            .logged(&waiting);
    }
}

#[test]
fn a_pending_signal_decides_a_hanging_look_without_threads() {
    // strace gives its child an empty signal mask, so the signal is made pending after strace
    // by perl, which then becomes the binary (exec starts no thread of its own).
    let Some(strace) = strace() else { return };
    static SAID: Once = Once::new();
    let what = "the pending-signal thread test";
    let Some(perl) = program("perl", what, "perl-base", &SAID) else {
        return;
    };
    let dir = temp_dir("pending-hanging-traced");
    let hanging = Hanging::new();
    let trace = dir.join("trace");
    let block_and_raise = "use POSIX; sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGTERM)) \
        or die qq(sigprocmask: $!); kill(q(TERM), $$) or die qq(kill: $!); exec(@ARGV) \
        or die qq(exec: $!)";
    let mut c = clean(strace);
    c.args(["-f", "-qq", "-e", "trace=clone,clone3", "-o"])
        .arg(&trace)
        .arg(perl)
        .args(["-e", block_and_raise])
        .arg(bin())
        .args(["--connect-timeout", "30s", &hanging.addr.to_string()])
        // Nothing logged, so no log writer either (a_pending_signal_ends_a_hanging_first_look
        // checks the line).
        .env("PRECHECK_LOG", "off");
    let run = run_to_file(c, &dir.join("stderr"));
    let (n, text) = clones(&trace);
    let log = &run.log;
    assert_eq!(run.status.code(), Some(143), "{:?}\n{log}", run.status);
    assert!(run.took < BOUND, "took {:?}:\n{log}", run.took);
    assert_eq!(n, 0, "threads were started:\n{text}\nstderr:\n{log}");
}

#[test]
fn a_deadline_shorter_than_the_first_look_bounds_it() {
    let hanging = Hanging::new();
    // A connect timeout far above BOUND: only the deadline can end the look in time.
    let addr = hanging.addr.to_string();
    let args = ["--connect-timeout", "30s", "-t", "10ms", &addr].map(String::from);
    Running::start(cmd(&args))
        .finish()
        .code(1)
        .within(BOUND)
        .logged("deadline of 10ms passed: 0 of 1 targets ready, 1 needed");
}

/// A target up from the start counts under a deadline shorter than the look, even while another
/// target hangs. Failed at 8b65e88 (and before it, with the starter's sweep): the look went on to
/// its end (the deadline) although the quorum was met at once, then stamped every ready target
/// with that end, which is past the deadline: "ready after 0.040s, past the deadline: not
/// counted", exit 1. Now each connect has its own moment, and the look ends at the quorum.
#[test]
fn a_target_up_at_once_counts_when_the_look_reaches_the_deadline() {
    let up = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let hanging = Hanging::new();
    let (up, addr) = (target(&up), hanging.addr.to_string());
    let args = [
        "--any",
        "--connect-timeout",
        "30s",
        "-t",
        "40ms",
        &up,
        &addr,
    ]
    .map(String::from);
    Running::start(cmd(&args))
        .finish()
        .code(0)
        .within(BOUND)
        .logged("ready: 1 of 2 targets");
}
