//! Helpers shared by the integration tests that run the binary: the binary under test and the
//! one way to start it (a clean environment), a loopback port where nothing listens, a run
//! bounded in time, a running binary whose stderr lines arrive on a channel and its finished
//! run, a scripted fake TCP server (fake.rs) and what every protocol test asks of a hostile
//! one, temporary directories, namespaces, and the rules for skipping (a line on stderr, a
//! failure under CI=true).
// Each test crate uses a part of this module.
#![allow(dead_code)]

pub mod fake;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use service_precheck::probe::talk::{self, AddrError, Dialect};

/// Far above anything a passing run needs; a hang fails instead of blocking the suite.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The binary under test: the static one users run ($SERVICE_PRECHECK_STATIC, set by
/// `make test`), else the one cargo built for this machine.
pub fn bin() -> PathBuf {
    match std::env::var_os("SERVICE_PRECHECK_STATIC") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => host_bin(),
    }
}

/// The binary cargo built for this machine (glibc), for the few tests about it: run it with
/// `clean(host_bin())`.
pub fn host_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_service-precheck"))
}

/// The PATH every run gets: commands after `--` (sh, printf, touch) and the tools a wrapper
/// needs (ip, mount) are found, and nothing of the test's own PATH leaks in.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `program` in the environment every run of the binary gets: nothing of the test's environment
/// (no PRECHECK_*, RUST_BACKTRACE, LANG...), only PATH (above) and NO_COLOR=1 (the colour
/// test removes it). A test that needs a variable sets it on the returned Command. For wrappers
/// that run `bin()` (unshare, strace, script) and for a binary other than `bin()`.
pub fn clean(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    c.env_clear().env("PATH", PATH).env("NO_COLOR", "1");
    c
}

/// The binary under test with `args`, in the clean environment of `clean`.
pub fn cmd<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut c = clean(bin());
    c.args(args);
    c
}

/// `cmd` as nobody (uid and gid 65534), for tests run as root (who passes every permission
/// check): from a copy of the binary in `dir` (a `temp_dir`), which nobody may execute wherever
/// the build directory is.
pub fn cmd_as_nobody<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Command {
    let copy = dir.join("service-precheck");
    std::fs::copy(bin(), &copy).expect("copy the binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut c = clean(&copy);
    c.args(args).uid(65534).gid(65534);
    c
}

/// A loopback port nothing listens on now (bound, then released): for servers to take.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A loopback target with nothing listening on it, "127.0.0.1:PORT" (bound, then released).
pub fn closed_port() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// Runs `c` (`cmd`, or a wrapper of it) to the end, its stderr read as it comes.
pub fn run(c: Command) -> Finished {
    Running::start(c).finish()
}

/// `cmd` for one attempt at `target` that a hostile server cannot stretch: a deadline of 1 s,
/// an interval of 5 s (no second attempt), a connect timeout of 500 ms.
pub fn one_attempt(target: &str) -> Command {
    cmd(&["-t", "1s", "-i", "5s", "--connect-timeout", "500ms", target])
}

/// `one_attempt` at a hostile server: exit 1 at the deadline, `{target}: not ready: {reason}`
/// in the log and never `ready after`, in a generous bound, and no raw escape in the log.
pub fn refused_once(target: &str, reason: &str) -> Finished {
    let f = run(one_attempt(target));
    f.code(1)
        .logged(&format!("{target}: not ready: {reason}"))
        .not_logged("ready after")
        .within(Duration::from_secs(8));
    assert!(
        !f.log.contains('\x1b'),
        "a raw escape in the log:\n{}",
        f.log
    );
    f
}

/// One conversation with `dialect` at `addr`, as the binary holds it: Ok, or its reason.
pub fn converse(addr: &str, timeout: Duration, dialect: &dyn Dialect) -> Result<(), String> {
    let addr: SocketAddr = addr.parse().expect("an address");
    talk::converse(addr, timeout, dialect).map_err(|e| match e {
        AddrError::Answer(said) => said.to_string(),
        AddrError::Connect(e) => format!("connect: {e:?}"),
    })
}

/// A hostile server at `addr` is never ready for `scheme`: the conversation (500 ms) fails
/// with `reason` and no control character, and the binary exits 1 at the deadline with
/// `reason` in the log, no raw control character in it, in a generous bound.
pub fn never_ready(scheme: &str, dialect: &dyn Dialect, addr: &str, reason: &str) {
    let said = converse(addr, Duration::from_millis(500), dialect);
    let said = said.expect_err("a hostile server is never ready");
    assert!(said.starts_with(reason), "{said:?} is not {reason:?}");
    let raw = said.chars().find(|c| c.is_control());
    assert_eq!(raw, None, "{said:?}");
    let target = format!("{scheme}://{addr}");
    let args = [
        "-t",
        "1s",
        "-i",
        "100ms",
        "--connect-timeout",
        "500ms",
        &target,
    ];
    let done = run(cmd(&args));
    done.code(1)
        .logged(&format!("{target}: not ready: {reason}"))
        .not_logged(&format!("{target}: ready"))
        .within(Duration::from_secs(10));
    let raw = done.log.chars().find(|c| c.is_control() && *c != '\n');
    assert_eq!(raw, None, "{}", done.log);
}

/// Runs `c` to the end with stdin null and stdout and stderr captured; fails after `limit`.
pub fn output(mut c: Command, limit: Duration) -> Output {
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    wait_output(child, limit)
}

/// Like wait_with_output, but kills the child and fails the test after `limit`.
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = thread::spawn(move || read_all(stdout));
    let err = thread::spawn(move || read_all(stderr));
    let status = wait_status(&mut child, limit);
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Everything `r` gives until its end (nothing for None).
pub fn read_all(r: Option<impl Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut r) = r {
        let _ = r.read_to_end(&mut buf);
    }
    buf
}

/// The exit status, or None when the child is still running after `limit`.
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if start.elapsed() > limit {
            return None;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// The exit status; kills the child and fails the test after `limit`.
pub fn wait_status(child: &mut Child, limit: Duration) -> ExitStatus {
    match exit_within(child, limit) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the binary did not exit within {limit:?}");
        }
    }
}

/// A running binary whose stderr lines arrive on a channel, to wait for events.
pub struct Running {
    pub child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
    started: Instant,
    stdout: Option<thread::JoinHandle<String>>,
}

impl Running {
    pub fn start(mut c: Command) -> Running {
        let started = Instant::now();
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the binary");
        let err = child.stderr.take().expect("piped stderr");
        let mut out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
            started,
            stdout: Some(stdout),
        }
    }

    /// Blocks until a stderr line contains `text`; fails after PATIENCE.
    pub fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no line with {text:?}; saw:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with our own child's pid, not yet reaped, and a valid signal number.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits for the exit: the status, the whole log, stdout, and how long the run took.
    pub fn finish(mut self) -> Finished {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if self.started.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("the binary did not exit; saw:\n{}", self.seen.join("\n"));
            }
            thread::sleep(Duration::from_millis(5));
        };
        let took = self.started.elapsed();
        // The reader thread ends at EOF; collect what it still had.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        let stdout = (self.stdout.take())
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        Finished {
            status,
            log: self.seen.join("\n"),
            stdout,
            took,
        }
    }
}

pub struct Finished {
    pub status: ExitStatus,
    pub log: String,
    pub stdout: String,
    pub took: Duration,
}

impl Finished {
    pub fn code(&self, code: i32) -> &Finished {
        assert_eq!(
            self.status.code(),
            Some(code),
            "{:?}\n{}",
            self.status,
            self.log
        );
        self
    }

    pub fn logged(&self, text: &str) -> &Finished {
        assert!(self.log.contains(text), "lacks {text:?}:\n{}", self.log);
        self
    }

    pub fn not_logged(&self, text: &str) -> &Finished {
        assert!(!self.log.contains(text), "has {text:?}:\n{}", self.log);
        self
    }

    pub fn within(&self, bound: Duration) -> &Finished {
        assert!(self.took < bound, "took {:?}:\n{}", self.took, self.log);
        self
    }
}

impl Finished {
    /// The status, the log and the time, for a `let (status, log, took) = ...` binding.
    pub fn parts(self) -> (ExitStatus, String, Duration) {
        (self.status, self.log, self.took)
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "precheck-{}-{}-{name}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

pub fn text(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// `program` (`bin()`, or `host_bin()`) with `args` inside fresh network and mount namespaces (`unshare_flags`) with lo up
/// and, bind-mounted over /etc, our own files (written to CARGO_TARGET_TMPDIR/`name`): `hosts`
/// as given, a resolv.conf naming 127.0.0.1 where nothing listens (1 s, one try) and an
/// nsswitch.conf with this `hosts:` line (musl ignores it; glibc follows it).
pub fn netns_cmd<S: AsRef<OsStr>>(
    name: &str,
    hosts: &str,
    nsswitch: &str,
    program: &Path,
    args: &[S],
) -> Command {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut script = String::from("set -e; ip link set lo up; ");
    for (file, text) in &etc_files(hosts, nsswitch) {
        let path = dir.join(file);
        std::fs::write(&path, text).expect("write namespace file");
        script.push_str(&format!("mount --bind '{}' /etc/{file}; ", path.display()));
    }
    script.push_str("exec \"$@\"");
    let mut c = clean("unshare");
    c.args(unshare_flags())
        .args(["--", "sh", "-c", &script, "sh"])
        .arg(program)
        .args(args);
    c
}

/// The files a namespace of ours bind-mounts over /etc: `hosts` as given, a resolv.conf naming
/// 127.0.0.1 where nothing listens (1 s, one try: no lookup leaves the namespace) and an
/// nsswitch.conf with this `hosts:` line (musl ignores it; glibc follows it).
pub fn etc_files(hosts: &str, nsswitch: &str) -> [(&'static str, String); 3] {
    [
        ("hosts", hosts.to_string()),
        (
            "resolv.conf",
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n".into(),
        ),
        ("nsswitch.conf", format!("hosts: {nsswitch}\n")),
    ]
}

/// CI=true (or 1): nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Says that `what` is skipped and why, as one `skipping ` line that tests/run-all.sh collects;
/// under CI=true fails instead. Straight to stderr: libtest captures eprintln!.
pub fn skip(what: &str, why: &str) {
    let line = format!("skipping {what}: {why}");
    assert!(!in_ci(), "{line}, and CI=true requires it");
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// What `found` holds; or, when it holds why not, says that `what` is skipped (see `skip`).
pub fn or_skip<T, E: std::fmt::Display>(what: &str, found: Result<T, E>) -> Option<T> {
    found.map_err(|why| skip(what, &why.to_string())).ok()
}

/// The flags of `unshare` for a network and mount namespace of our own (as root, or mapped to
/// root in a user namespace).
pub fn unshare_flags() -> Vec<&'static str> {
    let mut flags = vec!["--net", "--mount"];
    if !is_root() {
        flags.push("--map-root-user");
    }
    flags
}

/// Whether namespace tests can run here; when not, says so for `what` (see `skip`).
pub fn can_unshare(what: &str) -> bool {
    let ok = Command::new("unshare")
        .args(unshare_flags())
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let why = "cannot create network and mount namespaces here \
                   (run as root or enable unprivileged user namespaces)";
        skip(what, why);
    }
    ok
}
