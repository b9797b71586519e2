//! A private network and mount namespace for a test: loopback up, optional /32 addresses on it
//! (TEST-NET 192.0.2.x), and its own /etc/hosts, /etc/resolv.conf and an nsswitch.conf that
//! says `hosts: files`, bind-mounted inside so that names resolve from the test's hosts file
//! only and no lookup leaves the namespace.
//!
//! A holder process (`unshare --net --mount sleep`) keeps the namespace alive; programs enter it
//! with `nsenter -t PID -n -m`, and a thread of the test enters its network with `setns` to open
//! sockets there. Dropping the `Netns` kills the holder; what still runs inside is the test's to
//! stop (its servers are `Process`es, killed by PID). Needs root (no user namespace here: the
//! servers inside switch users).
// Each test crate uses a part of this module.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, clean, etc_files, is_root, temp_dir, text};
use crate::servers::detach;

/// The namespace, alive while this value is.
pub struct Netns {
    holder: Child,
    dir: PathBuf,
}

impl Netns {
    /// A namespace with `aliases` (IPv4 addresses, each added as a /32 on lo) and `hosts` as
    /// its /etc/hosts (a `localhost` line is added). Err says why it cannot be made here (not
    /// root, a tool missing): the caller skips with it.
    pub fn new(name: &str, aliases: &[&str], hosts: &str) -> Result<Netns, String> {
        if !is_root() {
            return Err("needs root for a network namespace with servers inside".into());
        }
        for tool in ["unshare", "nsenter", "ip", "mount", "setpriv"] {
            let found = Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok();
            if !found {
                return Err(format!(
                    "{tool} is missing (apt-get install util-linux iproute2)"
                ));
            }
        }
        // 0755: servers inside run as other users and read the files.
        let dir = temp_dir(&format!("netns-{name}"));
        // With `hosts: files` glibc never asks the resolver, and musl (which reads /etc/hosts
        // first) gets a refusal inside the namespace, never a packet out.
        let hosts = format!("127.0.0.1 localhost\n::1 localhost\n{hosts}");
        let files = etc_files(&hosts, "files");
        for (file, content) in &files {
            let path = dir.join(file);
            std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let holder = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--propagation",
                "private",
                "sleep",
                "infinity",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let mut netns = Netns { holder, dir };
        netns.wait_for_holder()?;
        netns.inside(&["ip", "link", "set", "lo", "up"])?;
        for a in aliases {
            netns.inside(&["ip", "addr", "add", &format!("{a}/32"), "dev", "lo"])?;
        }
        for (file, _) in &files {
            let from = netns.dir.join(file);
            let to = format!("/etc/{file}");
            netns.inside(&["mount", "--bind", text(&from), &to])?;
        }
        Ok(netns)
    }

    /// Waits until the holder has entered its namespaces and exec'd `sleep`.
    fn wait_for_holder(&mut self) -> Result<(), String> {
        let until = Instant::now() + Duration::from_secs(10);
        let comm = format!("/proc/{}/comm", self.pid());
        loop {
            if let Ok(Some(status)) = self.holder.try_wait() {
                return Err(format!("unshare --net --mount failed: {status}"));
            }
            if std::fs::read_to_string(&comm).is_ok_and(|c| c.trim() == "sleep") {
                return Ok(());
            }
            if Instant::now() > until {
                return Err("unshare did not start its holder within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Runs a setup command inside and waits for it.
    fn inside(&self, argv: &[&str]) -> Result<(), String> {
        let out = self
            .command(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{argv:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{argv:?} in the namespace: {} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// The holder's PID: `/proc/PID/ns/net` is the namespace.
    pub fn pid(&self) -> i32 {
        self.holder.id() as i32
    }

    /// A command that runs `program` inside (network and mount namespace), as root.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        command_in(self.pid(), program)
    }

    /// The binary under test with `args` inside, in the clean environment of `common::cmd`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = clean("nsenter");
        c.args(["-t", &self.pid().to_string(), "-n", "-m", "--"])
            .arg(bin())
            .args(args);
        c
    }

    /// A server command inside, as `owner` (see `command_as_in`).
    pub fn command_as(&self, program: &Path, owner: (u32, u32), log: &Path) -> Command {
        command_as_in(self.pid(), program, owner, log)
    }

    /// Runs `f` on a thread inside the namespace's network: sockets it opens live there.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        within(self.pid(), f)
    }
}

/// A command that runs `program` inside the namespaces of process `pid`, as root.
pub fn command_in(pid: i32, program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new("nsenter");
    c.arg("-t")
        .arg(pid.to_string())
        .args(["-n", "-m", "--"])
        .arg(program);
    c
}

/// A server command inside the namespaces of process `pid`, as `owner` (uid, gid, no
/// supplementary groups), in its own process group, stdin closed, output to `log`: nsenter and
/// setpriv exec, so the PID is the server's.
pub fn command_as_in(pid: i32, program: &Path, owner: (u32, u32), log: &Path) -> Command {
    let mut c = command_in(pid, "setpriv");
    c.arg(format!("--reuid={}", owner.0))
        .arg(format!("--regid={}", owner.1))
        .arg("--clear-groups")
        .arg(program);
    detach(&mut c, log);
    c
}

/// Runs `f` on a new thread that has entered the network namespace of process `pid` (the
/// thread's own: the rest of the process stays where it is).
pub fn within<T: Send>(pid: i32, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("open the netns");
            use std::os::fd::AsRawFd;
            // SAFETY: setns on an open namespace file, for this thread only.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

impl Drop for Netns {
    fn drop(&mut self) {
        // SAFETY: kill with the process group of our own child, a valid signal number.
        unsafe { libc::kill(-(self.holder.id() as i32), libc::SIGKILL) };
        let _ = self.holder.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
