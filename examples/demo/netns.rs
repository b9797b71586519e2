//! The demo's sandbox: this process enters a network and mount namespace of its own (inside a user
//! namespace when not root), brings `lo` up and bind-mounts its own /etc/resolv.conf and /etc/hosts,
//! so every DNS query of the story goes to the demo's server and nowhere else.
//!
//! Done with system calls rather than unshare(1) and ip(8), so the demo needs nothing but the
//! Rust toolchain. `enter` must run while the process still has one thread: the kernel refuses a
//! user namespace to a multi-threaded process.

use std::ffi::CString;
use std::fs;
use std::io;
use std::path::Path;

/// Why the namespaces could not be made, in words a user can act on.
#[derive(Debug)]
pub struct Unavailable(String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Moves this process into new network and mount namespaces with `lo` up. As root that is all;
/// otherwise (or where root lacks CAP_SYS_ADMIN, as in a container) a user namespace maps the
/// caller to root inside first. Mount events never propagate back to the host.
pub fn enter() -> Result<(), Unavailable> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let plain = libc::CLONE_NEWNET | libc::CLONE_NEWNS;
    if !(root && unshare(plain).is_ok()) {
        let (uid, gid) = ids();
        unshare(plain | libc::CLONE_NEWUSER)
            .and_then(|()| map_to_root(uid, gid))
            .map_err(|e| {
                let why = match e.raw_os_error() {
                    Some(libc::ENOSPC) => "user namespaces are limited to none".to_string(),
                    Some(libc::EPERM) => "not permitted".to_string(),
                    _ => e.to_string(),
                };
                Unavailable(format!(
                    "cannot create Linux namespaces here ({why}): run `make demo` as root, or \
                     enable unprivileged user namespaces (sysctl user.max_user_namespaces=10000, \
                     and kernel.unprivileged_userns_clone=1 where it exists)"
                ))
            })?;
    }
    let fail = |what: &str, e: io::Error| Unavailable(format!("namespaces made, but {what}: {e}"));
    // `/` is often a shared mount: make every mount here private so the binds stay in this namespace.
    mount(None, "/", libc::MS_REC | libc::MS_PRIVATE)
        .map_err(|e| fail("cannot make / private", e))?;
    lo_up().map_err(|e| fail("cannot bring lo up", e))?;
    Ok(())
}

/// Bind-mounts `src` over `dst` in this mount namespace (follows a symlink at `dst`).
pub fn bind(src: &Path, dst: &str) -> io::Result<()> {
    let src = src.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not UTF-8", src.display()),
        )
    })?;
    mount(Some(src), dst, libc::MS_BIND)
        .map_err(|e| io::Error::new(e.kind(), format!("bind {src} over {dst}: {e}")))
}

fn ids() -> (libc::uid_t, libc::gid_t) {
    // SAFETY: getuid and getgid have no preconditions and cannot fail.
    unsafe { (libc::getuid(), libc::getgid()) }
}

fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes plain flags; the caller is single-threaded (see the module comment).
    match unsafe { libc::unshare(flags) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Maps the calling user and group to root in the new user namespace (setgroups must be denied
/// before an unprivileged process may write gid_map).
fn map_to_root(uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    let write = |file: &str, text: String| {
        fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| io::Error::new(e.kind(), format!("writing /proc/self/{file}: {e}")))
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("0 {uid} 1"))?;
    write("gid_map", format!("0 {gid} 1"))
}

fn mount(src: Option<&str>, dst: &str, flags: libc::c_ulong) -> io::Result<()> {
    let c = |s: &str| CString::new(s).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e));
    let dst = c(dst)?;
    let src = src.map(c).transpose()?;
    let src_ptr = src.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: the strings are NUL-terminated and outlive the call; type and data may be null.
    let rc = unsafe {
        libc::mount(
            src_ptr,
            dst.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `ip link set lo up`, by ioctl: a new network namespace starts with `lo` down.
fn lo_up() -> io::Result<()> {
    // SAFETY: socket has no memory preconditions; the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain data, valid when zeroed.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: fd is an open socket and req a valid ifreq naming "lo"; the flags member of the union
    // is the one SIOCGIFFLAGS fills and SIOCSIFFLAGS reads.
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            match libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            }
        }
    };
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
    result
}
