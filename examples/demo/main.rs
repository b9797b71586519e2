//! `make demo`: the ZooKeeper story from the blog post that started the project, played for real in
//! a sandbox of its own. A namenode pod's initContainer waits for zookeeper-{0,1,2}, the pods become
//! ready one by one (their names appear in the cluster DNS), service-precheck logs why it still
//! waits, then execs the namenode's command.
//!
//! The cluster DNS is the DNS lab's own server (`tests/lab/dns.rs`, shared, not copied), so the
//! demo needs nothing but the Rust toolchain and Linux namespaces (root, or unprivileged user
//! namespaces). Every query stays inside the demo's own network namespace (see `netns.rs`).
//!
//! Usage: `make demo`, or `SERVICE_PRECHECK_STATIC=path/to/service-precheck cargo run --example demo`.

// The lab's fault controls (SERVFAIL, drops, query logs) are not part of this story.
#[allow(dead_code)]
#[path = "../../tests/lab/dns.rs"]
mod dns;
mod netns;

use std::io::{BufRead, BufReader, IsTerminal};
use std::net::IpAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use std::{env, fs, io, thread};

/// The whole story ends within this, whatever happens (service-precheck's own deadline is 15 s).
const DEADLINE: Duration = Duration::from_secs(20);
/// How long the viewer watches each state before the next pod becomes ready.
const PACE: Duration = Duration::from_millis(1500);
/// The ZooKeeper pods and the addresses their readiness puts into the cluster DNS.
const PODS: [(&str, [u8; 4]); 3] = [
    ("zookeeper-0", [10, 244, 2, 11]),
    ("zookeeper-1", [10, 244, 2, 12]),
    ("zookeeper-2", [10, 244, 2, 13]),
];
const RESOLV_CONF: &str = "nameserver 127.0.0.1\n\
    search ns1.svc.cluster.local svc.cluster.local cluster.local\n\
    options ndots:5\n";

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<u8, String> {
    let bin = binary()?;
    // First, while this process has one thread: the kernel refuses a user namespace otherwise.
    netns::enter().map_err(|e| e.to_string())?;
    let dir = env::temp_dir().join(format!("service-precheck-demo-{}", std::process::id()));
    let result = sandbox(&dir).and_then(|()| story(&bin));
    let _ = fs::remove_dir_all(&dir);
    result
}

/// The static binary `make demo` built, as an absolute path.
fn binary() -> Result<PathBuf, String> {
    let bin = env::var_os("SERVICE_PRECHECK_STATIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| "target/x86_64-unknown-linux-musl/release/service-precheck".into());
    fs::canonicalize(&bin).map_err(|e| {
        format!(
            "no service-precheck binary at {} ({e}): run `make demo`",
            bin.display()
        )
    })
}

/// The pod's resolver files, bind-mounted over the host's inside the demo's mount namespace.
fn sandbox(dir: &Path) -> Result<(), String> {
    let io = |e: io::Error| format!("cannot set up the pod's /etc: {e}");
    fs::create_dir_all(dir).map_err(io)?;
    let (resolv, hosts) = (dir.join("resolv.conf"), dir.join("hosts"));
    fs::write(&resolv, RESOLV_CONF).map_err(io)?;
    fs::write(&hosts, "127.0.0.1 localhost\n").map_err(io)?;
    netns::bind(&resolv, "/etc/resolv.conf").map_err(io)?;
    netns::bind(&hosts, "/etc/hosts").map_err(io)
}

fn story(bin: &Path) -> Result<u8, String> {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let server = dns::Server::start(IpAddr::from([127, 0, 0, 1]))
        .map_err(|e| format!("cannot start the cluster DNS on 127.0.0.1:53: {e}"))?;

    say("A network namespace of our own: only lo, the cluster DNS on 127.0.0.1:53.");
    say("The namenode pod's /etc/resolv.conf (namespace ns1), as the kubelet writes it:");
    for line in RESOLV_CONF.lines() {
        say(&format!("    {line}"));
    }
    say("No ZooKeeper pod is ready yet. The pod's initContainer runs:");
    let names = PODS.map(|(pod, _)| format!("{pod}.zookeeper-headless.ns1"));
    let command = ["echo", "namenode: ZooKeeper is ready, starting"];
    say("    service-precheck -i 500ms -t 15s \\");
    say(&format!("        {} {} \\", names[0], names[1]));
    say(&format!(
        "        {} -- {} \"{}\"",
        names[2], command[0], command[1]
    ));

    let mut args = vec!["-i", "500ms", "-t", "15s"];
    args.extend(names.iter().map(String::as_str));
    args.push("--");
    args.extend(command);
    let (mut child, lines) = spawn(bin, &args)?;
    let result = play(&server, &names, &lines, deadline);
    if let Err(e) = result {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    // The log pipe closed: service-precheck and the command it exec'd have ended.
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for service-precheck: {e}"))?;
    let code = status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1));
    let took = started.elapsed().as_secs_f64();
    match code {
        0 => say(&format!(
            "service-precheck exec'd the command in its own process; exit 0 after {took:.1} s."
        )),
        _ => say(&format!(
            "service-precheck ended with exit {code} ({status})."
        )),
    }
    Ok(code)
}

/// The pods become ready one by one, each once service-precheck has shown it still waits.
fn play(
    server: &dns::Server,
    names: &[String; 3],
    lines: &Receiver<String>,
    deadline: Instant,
) -> Result<(), String> {
    let waiting = names.each_ref().map(|name| format!("{name}: not ready"));
    wait_for(lines, deadline, &waiting)?;
    for ((pod, ip), name) in PODS.iter().zip(names) {
        pause(lines, PACE);
        let ip = IpAddr::from(*ip);
        say(&format!(
            "{pod} passes its readiness probe: the cluster DNS now answers {ip} for it."
        ));
        server.set(&format!("{name}.svc.cluster.local"), &[ip]);
        wait_for(lines, deadline, &[format!("{name}: ready after")])?;
    }
    // Until the pipe closes: the exec'd command holds it until it ends.
    while Instant::now() < deadline {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(_) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
            Err(RecvTimeoutError::Timeout) => break,
        }
    }
    Err(format!(
        "the demo did not end within {DEADLINE:?}; stopped it"
    ))
}

/// Starts service-precheck with stdout and stderr on one pipe, so its log and the exec'd command's
/// output keep their order; a thread prints every line and passes it on.
fn spawn(bin: &Path, args: &[&str]) -> Result<(Child, Receiver<String>), String> {
    let (read, write) = pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let child = {
        let out = write
            .try_clone()
            .map_err(|e| format!("cannot duplicate the pipe: {e}"))?;
        Command::new(bin)
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("PRECHECK_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(write))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?
        // The Command and with it this process's write ends are dropped here, so the reader sees
        // the end of the pipe when the child's side closes.
    };
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .spawn(move || {
            for line in BufReader::new(fs::File::from(read)).lines() {
                let Ok(line) = line else { break };
                println!("{line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    Ok((child, rx))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Waits until, for each needle, a log line containing it has been printed (in any order).
fn wait_for(lines: &Receiver<String>, deadline: Instant, needles: &[String]) -> Result<(), String> {
    let mut missing: Vec<&String> = needles.iter().collect();
    while !missing.is_empty() {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => missing.retain(|n| !line.contains(n.as_str())),
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!("no line with {:?} within {DEADLINE:?}", missing[0]));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!(
                    "service-precheck ended before logging {:?}",
                    missing[0]
                ));
            }
        }
    }
    Ok(())
}

/// Lets the viewer read for `d`; the reader thread keeps printing lines meanwhile.
fn pause(lines: &Receiver<String>, d: Duration) {
    let end = Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        if let Err(RecvTimeoutError::Disconnected) = lines.recv_timeout(left) {
            return; // service-precheck ended: the next wait says so
        }
    }
}

/// One narration line, bold on a terminal.
fn say(text: &str) {
    let bold = io::stdout().is_terminal() && env::var_os("NO_COLOR").is_none();
    match bold {
        true => println!("\x1b[1mdemo>\x1b[0m {text}"),
        false => println!("demo> {text}"),
    }
}
