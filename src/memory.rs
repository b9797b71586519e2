//! The memory check: what the memory cgroup's limit cannot hold is refused at once with a line
//! (exit 3), instead of being killed by the kernel's OOM killer without a word (exit 137).
//!
//! Each waiting target costs one thread. Measured in a memory cgroup (user and kernel memory, as
//! a pod's limit counts it; README, bench/MEMORY.md): 33-38 KB per target on an IP literal or a
//! path, 40-46 KB per target that looks a name up (musl's resolver buffers live on the thread's
//! stack). The costs below are under every measurement, so what fits is never refused: the
//! check errs on the side of running, and a run near the limit may still be killed. Where no
//! limit is found, nothing is checked.

use std::ffi::CString;
use std::fmt;

use crate::target::{Host, Kind, Target};

/// The cost of the thread of a target on an IP literal or a path.
pub const THREAD: u64 = 32 * 1024;
/// The cost of the thread of a target on a name.
pub const LOOKUP: u64 = 38 * 1024;

/// Why the threads cannot start: they need `need` bytes, the limit leaves `room`.
#[derive(Debug, PartialEq, Eq)]
pub struct Shortfall {
    pub targets: usize,
    pub need: u64,
    pub limit: u64,
    pub room: u64,
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not enough memory to wait for {} targets: their threads need about {}, and the \
             memory limit of {} leaves {}; raise the limit (resources.limits.memory) or split \
             the targets among several initContainers",
            self.targets,
            Mib(self.need),
            Mib(self.limit),
            Mib(self.room)
        )
    }
}

/// Bytes as MiB with one decimal (integers only: float formatting would cost kilobytes).
struct Mib(u64);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} MiB",
            self.0 >> 20,
            ((self.0 & 0xf_ffff) * 10) >> 20
        )
    }
}

/// Whether the threads of `targets` fit in what this process's memory cgroup leaves.
// Not inlined: in main it would cost the binary more.
#[inline(never)]
pub fn check<'a>(targets: impl Iterator<Item = &'a Target>) -> Result<(), Shortfall> {
    let mut buf = [0; 4096];
    let cgroups = read("/proc/self/cgroup".into(), &mut buf).unwrap_or_default();
    let Some((limit, room)) = room("/sys/fs/cgroup", cgroups) else {
        return Ok(());
    };
    let (mut n, mut need) = (0, 0);
    for target in targets {
        n += 1;
        need += match &target.kind {
            Kind::Dns { .. }
            | Kind::Port {
                host: Host::Name(_),
                ..
            } => LOOKUP,
            _ => THREAD,
        };
    }
    match need <= room {
        true => Ok(()),
        false => Err(Shortfall {
            targets: n,
            need,
            limit,
            room,
        }),
    }
}

/// The limit and what it leaves (limit minus usage) of the tightest memory cgroup from this
/// process's (`cgroups`: /proc/self/cgroup) up to the mount at `root`: cgroup v1's memory
/// controller (`memory.limit_in_bytes`, `memory.usage_in_bytes`) or else v2 (`memory.max`,
/// `memory.current`). Without a cgroup namespace the path may not exist under the mount (a
/// container's own cgroup is mounted as the root): the directories that do exist are read.
pub fn room(root: &str, cgroups: &str) -> Option<(u64, u64)> {
    let v1 = cgroups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':').skip(1);
        let controllers = fields.next()?;
        (controllers.split(',').any(|c| c == "memory")).then_some(fields.next()?)
    });
    let (base, path, [limit, usage]) = match v1 {
        Some(path) => (
            format!("{root}/memory"),
            path,
            ["memory.limit_in_bytes", "memory.usage_in_bytes"],
        ),
        None => (
            root.to_string(),
            cgroups.lines().find_map(|l| l.strip_prefix("0::"))?,
            ["memory.max", "memory.current"],
        ),
    };
    let number = |dir: &str, file| {
        let mut buf = [0; 32];
        read(format!("{dir}/{file}"), &mut buf)?
            .trim()
            .parse::<u64>()
            .ok()
    };
    let mut tightest: Option<(u64, u64)> = None;
    let mut dir = format!("{base}{}", path.trim_end_matches('/'));
    loop {
        // "max" (v2, no limit) does not parse: that level limits nothing.
        if let (Some(l), Some(u)) = (number(&dir, limit), number(&dir, usage)) {
            let left = l.saturating_sub(u);
            if tightest.is_none_or(|(_, room)| left < room) {
                tightest = Some((l, left));
            }
        }
        match dir.rfind('/') {
            Some(end) if dir.len() > base.len() => dir.truncate(end),
            _ => return tightest,
        }
    }
}

/// The start of the file at `path`, as much as `buf` holds. libc rather than std::fs, which
/// would cost the binary kilobytes.
fn read(path: String, buf: &mut [u8]) -> Option<&str> {
    let path = CString::new(path).ok()?;
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: reads into the rest of `buf`, within its length.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        match n {
            1.. => len += n as usize,
            _ => break,
        }
    }
    // SAFETY: `fd` is ours, closed once.
    unsafe { libc::close(fd) };
    std::str::from_utf8(&buf[..len]).ok()
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        fs::create_dir_all(dir).expect("mkdir");
        for (name, text) in files {
            fs::write(dir.join(name), text).expect("write");
        }
    }

    #[test]
    fn reads_the_tightest_limit_from_the_cgroup_up() {
        let dir = std::env::temp_dir().join(format!("precheck-memory-{}", std::process::id()));
        let root = dir.to_str().expect("a UTF-8 temp dir");
        let _ = fs::remove_dir_all(root);
        // v2: the pod's limit is tighter than the container's.
        write(
            &dir.join("pod"),
            &[("memory.max", "1000\n"), ("memory.current", "900\n")],
        );
        let c = [("memory.max", "2000\n"), ("memory.current", "500\n")];
        write(&dir.join("pod/c"), &c);
        assert_eq!(room(root, "0::/pod/c\n"), Some((1000, 100)));
        write(&dir.join("pod"), &[("memory.max", "max\n")]);
        assert_eq!(room(root, "0::/pod/c\n"), Some((2000, 1500)));
        assert_eq!(room(root, "0::/\n"), None);
        // v1: the memory line wins over the v2 line; the container's cgroup is the mount.
        let v1 = [
            ("memory.limit_in_bytes", "64\n"),
            ("memory.usage_in_bytes", "70\n"),
        ];
        write(&dir.join("memory"), &v1);
        let lines = "5:cpu:/x\n4:memory,foo:/docker/abc\n0::/pod/c\n";
        assert_eq!(room(root, lines), Some((64, 0)));
        assert_eq!(room(root, ""), None);
        fs::remove_dir_all(root).expect("clean up");
    }

    #[test]
    fn says_what_is_needed_in_mib() {
        let s = Shortfall {
            targets: 1000,
            need: 1000 * THREAD,
            limit: 16 << 20,
            room: (14 << 20) + (1 << 19),
        };
        let line = s.to_string();
        assert!(line.starts_with("not enough memory to wait for 1000 targets: their threads need about 31.2 MiB, and the memory limit of 16.0 MiB leaves 14.5 MiB; raise"), "{line}");
    }
}
