//! Helpers shared by the integration tests that run the binary and wait for its log lines
//! (tests/cli.rs, kinds.rs, invert.rs, first_look.rs, hostile.rs): the binary under test, a
//! running binary whose stderr lines arrive on a channel, its finished run, temporary
//! directories, and the rules for skipping (a line on stderr, a failure under CI=true).
// Each test crate uses a part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// Far above anything a passing run needs; a hang fails instead of blocking the suite.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The binary under test: the static one when the Makefile names it, else cargo's.
pub fn bin() -> PathBuf {
    std::env::var_os("SERVICE_PRECHECK_STATIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_service-precheck")))
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
