//! Runs a process (service-precheck, dnsmasq) with its stderr read line by line through a pipe, so
//! a scenario can wait for a log line as an event instead of sleeping, and bound every wait.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

type Lines = Arc<(Mutex<(Vec<(Duration, String)>, bool)>, Condvar)>;

/// A running (or ended) child process and what it wrote to stderr so far.
pub struct Run {
    pub name: String,
    pid: u32,
    started: Instant,
    lines: Lines,
    exit: Receiver<i32>,
    status: Option<(i32, Duration)>,
    stdout: Option<thread::JoinHandle<String>>,
}

impl Run {
    /// Starts `cmd` with stdin closed and stdout and stderr piped.
    pub fn start(name: &str, mut cmd: Command) -> Result<Run, String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let lines: Lines = Arc::new((Mutex::new((Vec::new(), false)), Condvar::new()));
        let stderr = child.stderr.take().ok_or("stderr was not piped")?;
        let stdout = child.stdout.take().ok_or("stdout was not piped")?;
        let l = Arc::clone(&lines);
        spawn(move || read_lines(stderr, started, &l))?;
        let stdout = spawn(move || {
            let mut out = String::new();
            let _ = BufReader::new(stdout).read_to_string(&mut out);
            out
        })?;
        let pid = child.id();
        let (tx, exit) = mpsc::channel();
        spawn(move || {
            let _ = tx.send(wait_code(&mut child));
        })?;
        Ok(Run {
            name: name.to_string(),
            pid,
            started,
            lines,
            exit,
            status: None,
            stdout: Some(stdout),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Fails, with the whole stderr, unless some line so far contains `needle`.
    pub fn expect_line(&self, needle: &str) -> Result<String, String> {
        match self.lines_with(needle).into_iter().next() {
            Some(line) => Ok(line),
            None => Err(format!(
                "{} did not log {needle:?}\n{}",
                self.name,
                self.log()
            )),
        }
    }

    /// Fails, with the whole stderr, if some line so far contains `needle`.
    pub fn expect_no_line(&self, needle: &str) -> Result<(), String> {
        match self.lines_with(needle).into_iter().next() {
            None => Ok(()),
            Some(line) => Err(format!("{} logged {line:?}\n{}", self.name, self.log())),
        }
    }

    /// Fails unless the process is still running.
    pub fn expect_running(&mut self) -> Result<(), String> {
        match self.exited() {
            None => Ok(()),
            Some(code) => Err(format!(
                "{} exited early with {code}\n{}",
                self.name,
                self.log()
            )),
        }
    }

    /// Waits for the exit and fails unless the code is `code`; returns the time since the start.
    pub fn expect_exit(&mut self, code: i32, timeout: Duration) -> Result<Duration, String> {
        let (got, at) = self.wait_exit(timeout)?;
        if got == code {
            Ok(at)
        } else {
            Err(format!(
                "{} exited with {got}, expected {code}\n{}",
                self.name,
                self.log()
            ))
        }
    }

    fn guard(&self) -> MutexGuard<'_, (Vec<(Duration, String)>, bool)> {
        // A poisoned lock means the reader thread panicked: the scenario fails anyway.
        self.lines.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a stderr line containing `needle`; returns when it came (since the start).
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> Result<Duration, String> {
        self.wait_nth(needle, 1, timeout)
    }

    /// Waits for the `n`th stderr line containing `needle`; returns when it came.
    pub fn wait_nth(&self, needle: &str, n: usize, timeout: Duration) -> Result<Duration, String> {
        let end = Instant::now() + timeout;
        let mut g = self.guard();
        loop {
            let mut hits = g.0.iter().filter(|(_, l)| l.contains(needle));
            if let Some((at, _)) = hits.nth(n.saturating_sub(1)) {
                return Ok(*at);
            }
            let now = Instant::now();
            if g.1 || now >= end {
                let why = if g.1 { "stderr closed" } else { "timed out" };
                return Err(format!(
                    "{} never logged {needle:?} (#{n}; {why} after {:.1?})\n{}",
                    self.name,
                    self.started.elapsed(),
                    log_of(&self.name, &g.0)
                ));
            }
            g = match self.lines.1.wait_timeout(g, end - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Waits until stderr is closed (every line has been read), at most `timeout`.
    fn wait_eof(&self, timeout: Duration) {
        let end = Instant::now() + timeout;
        let mut g = self.guard();
        while !g.1 {
            let now = Instant::now();
            if now >= end {
                return;
            }
            g = match self.lines.1.wait_timeout(g, end - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Whether some stderr line so far contains `needle`.
    pub fn has_line(&self, needle: &str) -> bool {
        self.guard().0.iter().any(|(_, l)| l.contains(needle))
    }

    /// The stderr lines that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        (self.guard().0.iter())
            .filter(|(_, l)| l.contains(needle))
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Everything on stderr so far, for failure messages.
    pub fn log(&self) -> String {
        log_of(&self.name, &self.guard().0)
    }

    /// The exit code (128+n for signal n) if the process has ended.
    pub fn exited(&mut self) -> Option<i32> {
        if self.status.is_none() {
            if let Ok(code) = self.exit.try_recv() {
                self.status = Some((code, self.started.elapsed()));
            }
        }
        self.status.map(|(code, _)| code)
    }

    /// Waits for the exit; returns the code and the time since the start. Kills it on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<(i32, Duration), String> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        match self.exit.recv_timeout(timeout) {
            Ok(code) => {
                let s = (code, self.started.elapsed());
                self.status = Some(s);
                // The last lines may still be in the pipe: read up to the end of stderr.
                self.wait_eof(Duration::from_secs(5));
                Ok(s)
            }
            Err(RecvTimeoutError::Timeout) => {
                self.signal(libc::SIGKILL);
                Err(format!(
                    "{} still running after {timeout:?}\n{}",
                    self.name,
                    self.log()
                ))
            }
            Err(RecvTimeoutError::Disconnected) => Err(format!("lost the exit of {}", self.name)),
        }
    }

    /// Everything on stdout; only after the exit.
    pub fn stdout(&mut self) -> String {
        self.stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    pub fn signal(&mut self, sig: i32) {
        if self.exited().is_none() {
            // The pid is our own child's and is not reaped before `exit` has reported it.
            unsafe { libc::kill(self.pid as libc::pid_t, sig) };
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<thread::JoinHandle<T>, String> {
    thread::Builder::new()
        .spawn(f)
        .map_err(|e| format!("cannot start a thread: {e}"))
}

fn read_lines(stderr: impl Read, started: Instant, lines: &Lines) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let mut g = lines.0.lock().unwrap_or_else(|e| e.into_inner());
        g.0.push((started.elapsed(), line));
        lines.1.notify_all();
    }
    lines.0.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
    lines.1.notify_all();
}

fn wait_code(child: &mut Child) -> i32 {
    match child.wait() {
        Ok(st) => st.code().or(st.signal().map(|s| 128 + s)).unwrap_or(-1),
        Err(_) => -1,
    }
}

fn log_of(name: &str, lines: &[(Duration, String)]) -> String {
    let mut out = format!("--- stderr of {name} ---\n");
    for (at, line) in lines {
        out.push_str(&format!("[{:>7.3}] {line}\n", at.as_secs_f64()));
    }
    out
}
