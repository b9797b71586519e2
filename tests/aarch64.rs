//! The cross-built aarch64 static binary, run under qemu-user on this x86_64 machine: it must
//! really be an AArch64 executable, resolve `localhost` from /etc/hosts, connect to a loopback
//! TCP port, keep the exit codes, exec the command after success, and abort on a panic with its
//! message printed (its unwinder is the stubs of src/unwind.rs).
//!
//! The binary comes from $SERVICE_PRECHECK_AARCH64 (`make test` sets it). It runs through
//! qemu-aarch64-static (Debian's qemu-user-static) or, without it, directly when binfmt_misc has
//! an aarch64 handler. When either is missing the tests skip with the reason, except under
//! CI=true, where they fail.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

/// How to start the aarch64 binary: a program and the arguments before the binary's own.
struct Runner {
    program: PathBuf,
    prefix: Vec<OsString>,
}

/// The runner, or None (after printing why) when the tests cannot run here.
fn runner(test: &str) -> Option<Runner> {
    let Some(bin) = std::env::var_os("SERVICE_PRECHECK_AARCH64") else {
        return skip(
            test,
            "SERVICE_PRECHECK_AARCH64 is not set (make test sets it)",
        );
    };
    let bin = PathBuf::from(bin);
    if !bin.is_file() {
        return skip(test, &format!("{} does not exist", bin.display()));
    }
    if let Some(qemu) = find_in_path("qemu-aarch64-static") {
        return Some(Runner {
            program: qemu,
            prefix: vec![bin.into_os_string()],
        });
    }
    let binfmt = fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64").unwrap_or_default();
    if binfmt.starts_with("enabled") {
        return Some(Runner {
            program: bin,
            prefix: Vec::new(),
        });
    }
    skip(
        test,
        "neither qemu-aarch64-static nor a binfmt_misc aarch64 handler (apt-get install qemu-user-static)",
    )
}

fn skip(test: &str, reason: &str) -> Option<Runner> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: cannot run under CI=true: {reason}");
    }
    // One line for all the tests of this file: they are skipped for the one reason. Straight to
    // stderr, not eprintln!: libtest captures the macros, and a skip should show.
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        let _ = writeln!(std::io::stderr(), "skipping the aarch64 tests: {reason}");
    });
    None
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Runs the binary with `args`, killing it if it outlives `limit` (a generous bound: qemu-user
/// starts in milliseconds, but CI machines can be slow).
fn run(runner: &Runner, args: &[&str], limit: Duration) -> Output {
    run_with_env(runner, args, &[], limit)
}

/// `run`, with `env` added to the child's environment.
fn run_with_env(runner: &Runner, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut child = Command::new(&runner.program)
        .args(&runner.prefix)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("PRECHECK_TIMEOUT")
        .env_remove("PRECHECK_INTERVAL")
        .env_remove("PRECHECK_CONNECT_TIMEOUT")
        .env_remove("PRECHECK_MIN_READY")
        .env_remove("PRECHECK_TARGETS")
        .env_remove("PRECHECK_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", runner.program.display()));
    let start = Instant::now();
    while child.try_wait().expect("waiting for the child").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child
                .wait_with_output()
                .expect("collecting the killed child");
            panic!("{args:?} still running after {limit:?}: {out:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child
        .wait_with_output()
        .expect("collecting the child's output")
}

fn assert_exit(out: &Output, code: i32, stderr_has: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr:\n{stderr}");
    assert!(
        stderr.contains(stderr_has),
        "wanted {stderr_has:?} in stderr:\n{stderr}"
    );
}

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn is_an_aarch64_static_executable() {
    let Some(r) = runner("is_an_aarch64_static_executable") else {
        return;
    };
    let bin = r.prefix.first().map(PathBuf::from).unwrap_or(r.program);
    let elf = fs::read(&bin).expect("reading the binary");
    assert_eq!(elf.get(..4), Some(&b"\x7fELF"[..]), "not an ELF file");
    // e_machine (little-endian u16 at offset 18): 183 is EM_AARCH64.
    assert_eq!(
        elf.get(18..20),
        Some(&[183u8, 0][..]),
        "not an AArch64 executable"
    );
    // Static: no program header of type PT_INTERP (3) names a dynamic loader. ELF64 LE:
    // e_phoff (u64) at 32, e_phentsize (u16) at 54, e_phnum (u16) at 56, p_type (u32) first.
    let num = |at: usize, len: usize| {
        let bytes = elf.get(at..at + len).expect("a complete ELF header");
        bytes
            .iter()
            .rev()
            .fold(0usize, |n, b| n << 8 | usize::from(*b))
    };
    let (phoff, phentsize, phnum) = (num(32, 8), num(54, 2), num(56, 2));
    assert!(phnum > 0, "no program headers");
    let interp = (0..phnum).any(|i| num(phoff + i * phentsize, 4) == 3);
    assert!(!interp, "has a PT_INTERP header: dynamically linked");
}

#[test]
fn prints_its_version() {
    let Some(r) = runner("prints_its_version") else {
        return;
    };
    let out = run(&r, &["-V"], LIMIT);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        format!("service-precheck {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn localhost_from_etc_hosts_is_ready() {
    let Some(r) = runner("localhost_from_etc_hosts_is_ready") else {
        return;
    };
    let out = run(&r, &["-t", "10s", "localhost"], LIMIT);
    assert_exit(&out, 0, "localhost: ready after");
}

#[test]
fn open_loopback_port_is_ready() {
    let Some(r) = runner("open_loopback_port_is_ready") else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    let target = addr.to_string();
    let out = run(&r, &["-t", "10s", &target], LIMIT);
    assert_exit(&out, 0, &format!("{target}: ready after"));
}

#[test]
fn closed_loopback_port_reaches_the_deadline() {
    let Some(r) = runner("closed_loopback_port_reaches_the_deadline") else {
        return;
    };
    // Bind and drop: the port was free a moment ago and nothing listens on it now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a loopback port");
    let target = addr.to_string();
    let out = run(&r, &["-t", "1s", &target], LIMIT);
    assert_exit(&out, 1, &format!("connection refused ({target})"));
    assert_exit(&out, 1, "deadline of 1s passed");
}

#[test]
fn bad_flag_is_a_usage_error() {
    let Some(r) = runner("bad_flag_is_a_usage_error") else {
        return;
    };
    let out = run(&r, &["--no-such-flag", "localhost"], LIMIT);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn execs_the_command_after_success() {
    let Some(r) = runner("execs_the_command_after_success") else {
        return;
    };
    // qemu-user passes the execve of a host binary to the kernel, which runs it natively.
    let sh = Path::new("/bin/sh");
    assert!(sh.is_file(), "no /bin/sh");
    let out = run(
        &r,
        &[
            "localhost",
            "--",
            "/bin/sh",
            "-c",
            "echo \"ran: $1\"; exit 7",
            "sh",
            "a b",
        ],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran: a b\n");
}

#[test]
fn panic_prints_its_message_and_exits_3() {
    let Some(r) = runner("panic_prints_its_message_and_exits_3") else {
        return;
    };
    // src/selftest.rs: a thread panics while the main thread blocks for good, so only the hook
    // ends the process (exit 3, src/panic.rs). RUST_BACKTRACE=1 also runs the backtrace stub of src/unwind.rs.
    let env = [
        (service_precheck::selftest::PANIC_VAR, "1"),
        ("RUST_BACKTRACE", "1"),
    ];
    let out = run_with_env(&r, &[], &env, LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "wanted exit 3 (internal error), got {:?}; stderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("selftest: a panic in a thread"),
        "the panic message is missing from stderr:\n{stderr}"
    );
}
