//! Helpers for tests/hostile.rs: the binary under test, network namespaces, pipes, waiting.
//!
//! Namespaces: a test thread of its own calls unshare(CLONE_NEWNET), so every socket it opens
//! and every process it starts lives in a fresh network namespace with only `lo` up. Names are
//! resolved only by a binary started there under `unshare --mount` with our own /etc/hosts,
//! resolv.conf (a nameserver on 127.0.0.1 where nothing listens) and nsswitch.conf.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::read_all;
pub use crate::common::{
    PATIENCE, Running, bin, clean, cmd, exit_within, is_root, output, skip, wait_status,
};

/// Whether the binary under test is statically linked (no ELF interpreter): the musl build,
/// whose resolver some tests are about.
pub fn is_static() -> bool {
    let elf = std::fs::read(bin()).expect("read the binary");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let mut phoff = [0; 8];
    phoff.copy_from_slice(&elf[0x20..0x28]);
    let (phoff, size, count) = (
        u64::from_le_bytes(phoff) as usize,
        u16_at(0x36),
        u16_at(0x38),
    );
    const PT_INTERP: u32 = 3;
    !(0..count).any(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes([elf[at], elf[at + 1], elf[at + 2], elf[at + 3]]) == PT_INTERP
    })
}

/// The tests here start thousands of threads and measure time: one at a time, so that they
/// neither starve each other of the two CPUs nor share a pid or descriptor budget.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    // A test that failed while holding the lock poisons it; the next test can still run.
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The last `n` characters of a long log, for failure messages.
pub fn tail(log: &str, n: usize) -> &str {
    let mut start = log.len().saturating_sub(n);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "status {:?}\nstderr (end):\n{}",
        o.status,
        tail(&text(&o.stderr), 3000)
    );
}

pub fn kill(pid: i32, sig: i32) {
    // SAFETY: kill with a pid of a child we have not reaped yet and a valid signal number.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}): {}", io::Error::last_os_error());
}

/// The scheduler state letter of a process (`T` when stopped), from /proc.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Runs `f` on a thread of its own in a new network namespace with `lo` up. Sockets `f` opens
/// and processes it starts (and threads it starts) are in that namespace; the rest of the test
/// process is not. None (after saying why) when namespaces are not available here.
pub fn in_netns<T: Send + 'static>(
    test: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    if !is_root() {
        skip(
            test,
            "it needs root (CAP_SYS_ADMIN) to create a network namespace; run the tests as root, \
             as CI does",
        );
        return None;
    }
    let handle = thread::spawn(move || -> Result<T, String> {
        let outer = std::fs::read_link("/proc/thread-self/ns/net").map_err(|e| e.to_string())?;
        // SAFETY: unshare(CLONE_NEWNET) changes only the calling thread's network namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!(
                "unshare(CLONE_NEWNET): {}",
                io::Error::last_os_error()
            ));
        }
        let inner = std::fs::read_link("/proc/thread-self/ns/net").map_err(|e| e.to_string())?;
        if inner == outer {
            return Err("unshare(CLONE_NEWNET) left the thread in its namespace".into());
        }
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .map_err(|e| format!("ip link set lo up: {e} (install iproute2)"))?;
        if !up.success() {
            return Err(format!("ip link set lo up: {up}"));
        }
        Ok(f())
    });
    match handle.join() {
        Ok(Ok(value)) => Some(value),
        Ok(Err(why)) => {
            skip(test, &format!("no network namespace: {why}"));
            None
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Inside `in_netns`: sets a per-namespace sysctl under /proc/sys/net and checks it took.
pub fn netns_sysctl(path: &str, value: &str) {
    assert!(
        path.starts_with("/proc/sys/net/"),
        "{path}: not per namespace"
    );
    std::fs::write(path, value).unwrap_or_else(|e| panic!("write {path}: {e}"));
    let got = std::fs::read_to_string(path).expect("read back the sysctl");
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(norm(&got), norm(value), "{path}");
}

/// Inside `in_netns`: the binary under `unshare --mount` with our own /etc/hosts (`hosts`
/// after the localhost lines), resolv.conf (nameserver 127.0.0.1, in the namespace) and
/// nsswitch.conf (`hosts: files`, or `files dns` with `dns`: glibc builds then ask the
/// nameserver as musl always does), after the shell lines `pre`.
pub fn with_hosts(name: &str, hosts: &str, dns: bool, pre: &str, args: &[String]) -> Command {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-{name}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let files = [
        (
            "hosts",
            format!("127.0.0.1 localhost\n::1 localhost\n{hosts}"),
        ),
        (
            "resolv.conf",
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n".into(),
        ),
        (
            "nsswitch.conf",
            if dns {
                "hosts: files dns\n"
            } else {
                "hosts: files\n"
            }
            .into(),
        ),
    ];
    let mut script = String::from("set -e; ");
    for (file, text) in &files {
        let path = dir.join(file);
        std::fs::write(&path, text).expect("write namespace file");
        script.push_str(&format!("mount --bind '{}' /etc/{file}; ", path.display()));
    }
    script.push_str(pre);
    script.push_str("; exec \"$@\"");
    let mut c = clean("unshare");
    c.args(["--mount", "--", "sh", "-c", &script, "sh"])
        .arg(bin())
        .args(args);
    c
}

/// A pipe: (read end, write end), both close-on-exec (Command dups the write end as stderr).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Sets the pipe's capacity (rounded up by the kernel to pages) and returns it.
pub fn set_pipe_size(fd: &OwnedFd, size: i32) -> usize {
    // SAFETY: fcntl on an open descriptor we own.
    let got = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
    assert!(got > 0, "F_SETPIPE_SZ: {}", io::Error::last_os_error());
    got as usize
}

pub fn pipe_size(fd: &OwnedFd) -> usize {
    // SAFETY: fcntl on an open descriptor we own.
    let got = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(got > 0, "F_GETPIPE_SZ: {}", io::Error::last_os_error());
    got as usize
}

/// Bytes waiting in a pipe.
pub fn unread(fd: &OwnedFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", io::Error::last_os_error());
    n as usize
}

/// Waits until the pipe holds at least `capacity - slack` bytes (a writer is blocked), or
/// the child has exited. Returns whether the pipe filled up.
pub fn wait_full(read: &OwnedFd, child: &mut Child, slack: usize) -> bool {
    let want = pipe_size(read).saturating_sub(slack);
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if unread(read) >= want {
            return true;
        }
        if child.try_wait().expect("try_wait").is_some() {
            return unread(read) >= want;
        }
        thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Reads the pipe to its end on a thread of its own.
pub fn drain(read: OwnedFd) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || read_all(Some(std::fs::File::from(read))))
}

/// Distinct loopback targets on `port`: 127.0.X.Y, avoiding 127.0.0.1.
pub fn loopback_targets(n: usize, port: u16) -> Vec<String> {
    (0..n)
        .map(|i| format!("127.1.{}.{}:{port}", i / 250, 1 + i % 250))
        .collect()
}

/// A child that is killed when dropped: a failing test must not leave a binary behind that
/// waits forever on thousands of targets.
pub struct Reaped(pub std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        // Already gone is fine: kill fails and wait returns the status.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
