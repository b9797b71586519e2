//! Real servers for the protocol tests: what every server helper needs (a free loopback port,
//! a program found or skipped, a process run as nobody in a temp dir and stopped by PID, waiting
//! for a condition). Each server has a file of its own beside this one.
//!
//! Servers run as an unprivileged user (nobody, or the package's own user where the server
//! insists), never as the distribution's system service, and listen on loopback only.
// Each test crate uses a part of this module.
#![allow(dead_code)]

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::temp_dir;
pub use crate::common::{free_port, is_root};

/// How long a server may take to start or to reach a state before the test fails.
pub const STARTUP: Duration = Duration::from_secs(30);

/// The path of `program` on PATH, or of the first of `also` that exists (servers whose
/// packages keep them off PATH, such as /usr/lib/postgresql/15/bin).
pub fn find(program: &str, also: &[&str]) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| is_executable(p))
    });
    on_path.or_else(|| (also.iter().map(PathBuf::from)).find(|p| is_executable(p)))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A user id and group id to run servers as: nobody.
pub const NOBODY: (u32, u32) = (65534, 65534);

/// `name` made unique among the servers of this process: NAME-N.
pub fn unique(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{name}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A directory for one server, owned by `owner` (uid, gid), removed when dropped.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(name: &str, owner: (u32, u32)) -> Dir {
        let dir = temp_dir(&format!("srv-{name}"));
        chown(&dir, owner);
        Dir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// chown a path (as root; without root the path stays ours, which is what a server run as
/// ourselves needs).
pub fn chown(path: &Path, (uid, gid): (u32, u32)) {
    if is_root() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    }
}

/// A command that runs as `owner` when we are root (as ourselves otherwise), detached as
/// `detach` says.
pub fn command_as(program: &Path, owner: (u32, u32), log: &Path) -> Command {
    let mut c = Command::new(program);
    detach(&mut c, log);
    if is_root() {
        // std drops root's supplementary groups (setgroups(0)) before setuid.
        c.uid(owner.0).gid(owner.1);
    }
    c
}

/// A server's command in its own process group, with stdin closed and output to `log`.
pub fn detach(c: &mut Command, log: &Path) {
    let out = std::fs::File::create(log).expect("create a server log");
    let err = out.try_clone().expect("dup the server log");
    c.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
}

/// A server process, killed (SIGKILL to its process group) when dropped.
pub struct Process {
    pub child: Child,
    pub name: String,
}

impl Process {
    pub fn spawn(name: &str, mut c: Command) -> Process {
        let child = c.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Process {
            child,
            name: name.to_string(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` to the server's process group.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with the process group of our own child, a valid signal number.
        unsafe { libc::kill(-self.pid(), sig) };
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `grace`).
    pub fn stop(mut self, grace: Duration) {
        self.signal(libc::SIGTERM);
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Drop kills the rest.
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Polls `condition` every 20 ms until it holds; panics with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < until, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether something accepts TCP connections at `addr` now.
pub fn accepts(addr: &str) -> bool {
    let addr = addr.parse().expect("a socket address");
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// The text of a server's log file, for failure messages.
pub fn log_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
