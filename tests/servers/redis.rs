//! Redis servers for tests/redis.rs, each in a state of SERVER-FACTS.md: up, with a password
//! (NOAUTH), loading a dataset (LOADING), and a replica of a dead master (MASTERDOWN).
//!
//! redis-server runs in the foreground as nobody, on 127.0.0.1 only, without persistence unless
//! a state needs a dump, logging to a file of its directory, and is stopped by PID (its process
//! group). The harness talks to it with a few raw RESP bytes over a TcpStream.
// Each test uses a part of this module.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::servers::{
    Dir, NOBODY, Process, STARTUP, command_as, find, free_port, log_text, unique,
};

/// What a missing server says (see common::skip).
pub const MISSING: &str = "redis-server not found (apt-get install redis-server)";

/// The redis-server program, or None when Redis is not installed.
pub fn program() -> Option<PathBuf> {
    find(
        "redis-server",
        &["/usr/bin/redis-server", "/usr/sbin/redis-server"],
    )
}

/// One running redis-server on 127.0.0.1:port.
pub struct Redis {
    pub port: u16,
    program: PathBuf,
    process: Option<Process>,
    starts: usize,
    // Last: removed after the server is stopped.
    dir: Dir,
}

impl Redis {
    /// Answers `+PONG`.
    pub fn up(program: &Path) -> Redis {
        let r = Redis::start(program, "up", &[]);
        r.wait_for_reply(b"PING\r\n", "+PONG");
        r
    }

    /// `--requirepass`: answers `-NOAUTH Authentication required.`
    pub fn with_password(program: &Path) -> Redis {
        let r = Redis::start(program, "auth", &["--requirepass", "not-sent"]);
        r.wait_for_reply(b"PING\r\n", "-NOAUTH");
        r
    }

    /// A replica of a master that is not there, serving no stale data: `-MASTERDOWN`.
    pub fn masterdown(program: &Path) -> Redis {
        let master = free_port().to_string();
        let args = [
            "--replicaof",
            "127.0.0.1",
            &master,
            "--replica-serve-stale-data",
            "no",
        ];
        let r = Redis::start(program, "masterdown", &args);
        r.wait_for_reply(b"PING\r\n", "-MASTERDOWN");
        r
    }

    /// A server that loads `keys` keys at about a millisecond each (`--key-load-delay`),
    /// answering `-LOADING` meanwhile; returned once it does.
    pub fn loading(program: &Path, keys: usize) -> Redis {
        let debug = ["--enable-debug-command", "local"];
        let mut r = Redis::start(program, "loading", &debug);
        r.wait_for_reply(b"PING\r\n", "+PONG");
        let populate = format!("DEBUG POPULATE {keys}\r\n");
        assert_eq!(r.ask(populate.as_bytes()), "+OK", "{}", r.log());
        assert_eq!(r.ask(b"SAVE\r\n"), "+OK", "{}", r.log());
        r.stop();
        let slow = [
            "--key-load-delay",
            "1000",
            "--loading-process-events-interval-bytes",
            "1024",
        ];
        r.spawn(&slow);
        r.wait_for_reply(b"PING\r\n", "-LOADING");
        r
    }

    fn start(program: &Path, kind: &str, extra: &[&str]) -> Redis {
        let mut r = Redis {
            port: free_port(),
            program: program.to_path_buf(),
            process: None,
            starts: 0,
            dir: Dir::new(&unique(&format!("redis-{kind}")), NOBODY),
        };
        r.spawn(extra);
        r
    }

    /// Starts redis-server on this directory and port, logging to `log.N`.
    fn spawn(&mut self, extra: &[&str]) {
        self.starts += 1;
        let log = self.dir.join(&format!("log.{}", self.starts));
        let mut c = command_as(&self.program, NOBODY, &log);
        c.current_dir(self.dir.path())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(extra);
        self.process = Some(Process::spawn("redis-server", c));
    }

    /// Stops the server by PID (SIGTERM; SIGKILL after a grace period).
    pub fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            p.stop(Duration::from_secs(10));
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends `request` and returns the first reply line, without its CRLF; empty when nothing
    /// came (not listening yet, or no reply within a second).
    pub fn ask(&self, request: &[u8]) -> String {
        let Ok(mut s) = TcpStream::connect(self.addr()) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if s.write_all(request).is_err() {
            return String::new();
        }
        let mut reply = Vec::new();
        let mut buf = [0u8; 512];
        while !reply.ends_with(b"\r\n") {
            match s.read(&mut buf) {
                Ok(n) if n > 0 => reply.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let line = reply.split(|&b| b == b'\r').next().unwrap_or_default();
        String::from_utf8_lossy(line).into_owned()
    }

    /// Waits until `request` is answered with a line starting with `start`.
    pub fn wait_for_reply(&self, request: &[u8], start: &str) {
        let until = std::time::Instant::now() + STARTUP;
        loop {
            let reply = self.ask(request);
            if reply.starts_with(start) {
                return;
            }
            assert!(
                std::time::Instant::now() < until,
                "redis never answered {start:?} (last: {reply:?}):\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The logs of every start so far.
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| log_text(&self.dir.join(&format!("log.{n}"))))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
