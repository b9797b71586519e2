//! A grpcio server with the standard health service (grpcio-health-checking), run as nobody on a
//! loopback port from a Python venv, whose statuses the test sets through lines on its stdin
//! (tests/servers/grpc_health.py); or without the health service at all.
//!
//! The venv: PRECHECK_GRPC_PYTHON names its python, else /opt/precheck-grpc/bin/python.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use crate::servers::{
    Dir, NOBODY, Process, STARTUP, accepts, command_as, free_port, log_text, wait_until,
};

/// How to install what the server needs.
pub const INSTALL: &str = "python3 -m venv /opt/precheck-grpc && \
    /opt/precheck-grpc/bin/pip install grpcio grpcio-health-checking";

/// The venv's python, when it imports grpcio and the health service.
pub fn python() -> Option<PathBuf> {
    let python = std::env::var_os("PRECHECK_GRPC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/precheck-grpc/bin/python"));
    let imports = std::process::Command::new(&python)
        .args(["-I", "-c", "import grpc, grpc_health.v1.health"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    imports.is_ok_and(|s| s.success()).then_some(python)
}

/// A running grpcio server.
pub struct Grpcio {
    pub port: u16,
    stdin: ChildStdin,
    lines: Receiver<String>,
    log: PathBuf,
    // Dropped in this order: the process before its directory.
    _process: Process,
    _dir: Dir,
}

impl Grpcio {
    /// Starts a server on a free loopback port, with the health service (the server as a whole
    /// SERVING) or without any service; returns once it listens.
    pub fn start(python: &Path, health: bool) -> Grpcio {
        let dir = Dir::new(if health { "grpcio" } else { "grpcio-bare" }, NOBODY);
        let script = dir.join("grpc_health.py");
        std::fs::write(&script, include_str!("grpc_health.py")).expect("write the server script");
        let port = free_port();
        let log = dir.join("log");
        let mut c = command_as(python, NOBODY, &log);
        // -I: the script's directory is not on sys.path (its name would hide grpc_health).
        c.arg("-I").arg(&script).arg(port.to_string());
        if !health {
            c.arg("--no-health");
        }
        c.current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut process = Process::spawn("grpcio", c);
        let stdin = process.child.stdin.take().expect("piped stdin");
        let stdout = process.child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Grpcio {
            port,
            stdin,
            lines,
            log,
            _process: process,
            _dir: dir,
        };
        server.expect("listening");
        let addr = server.addr();
        wait_until("grpcio accepts", STARTUP, || accepts(&addr));
        server
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sets the status of `service` ("" is the server as a whole) and waits until it applies.
    pub fn set(&mut self, service: &str, status: &str) {
        writeln!(self.stdin, "set {status} {service}").expect("write to grpcio");
        self.stdin.flush().expect("flush");
        self.expect("ok");
    }

    fn expect(&mut self, want: &str) {
        match self.lines.recv_timeout(STARTUP) {
            Ok(line) if line == want => {}
            other => panic!(
                "grpcio said {other:?}, not {want:?}; its log:\n{}",
                log_text(&self.log)
            ),
        }
    }
}

/// How long a test waits for a status change to show: a few intervals.
pub const SETTLE: Duration = Duration::from_secs(10);
