//! The inside of one scenario's namespaces: a pod-like network, resolver files bind-mounted over
//! /etc, and helpers to run service-precheck, dnsmasq and TCP listeners there.

use std::ffi::CString;
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::run::Run;

/// The resolv.conf of a pod in namespace `ns1`, as the kubelet writes it (nameserver added).
pub const K8S_SEARCH: &str =
    "search ns1.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n";

/// What every wait in a scenario is bounded by unless it says otherwise: generous, never a sync.
pub const LONG: Duration = Duration::from_secs(20);

pub struct Lab {
    pub scenario: String,
    pub dir: PathBuf,
    pub bin: PathBuf,
    pub dnsmasq: Option<PathBuf>,
}

impl Lab {
    /// Sets up the namespaces that `unshare` made for this process: lo and an `eth0` with an IPv4
    /// address, and this scenario's own /etc/resolv.conf and /etc/hosts.
    pub fn setup(
        scenario: &str,
        dir: PathBuf,
        bin: PathBuf,
        dnsmasq: Option<PathBuf>,
    ) -> Result<Lab, String> {
        ip(&["link", "set", "lo", "up"])?;
        ip(&[
            "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
        ])?;
        ip(&["addr", "add", "10.244.0.10/16", "dev", "eth0"])?;
        ip(&["link", "set", "eth0", "up"])?;
        ip(&["link", "set", "peer0", "up"])?;
        let lab = Lab {
            scenario: scenario.to_string(),
            dir,
            bin,
            dnsmasq,
        };
        lab.resolv_conf("nameserver 127.0.0.53\n")?;
        lab.hosts("")?;
        bind(&lab.dir.join("resolv.conf"), Path::new("/etc/resolv.conf"))?;
        bind(&lab.dir.join("hosts"), Path::new("/etc/hosts"))?;
        Ok(lab)
    }

    /// Rewrites /etc/resolv.conf in place (the bind mount follows the inode, not the name).
    pub fn resolv_conf(&self, text: &str) -> Result<(), String> {
        write(&self.dir.join("resolv.conf"), text)
    }

    /// Rewrites /etc/hosts in place; `localhost` is always there, as the kubelet writes it.
    pub fn hosts(&self, extra: &str) -> Result<(), String> {
        write(
            &self.dir.join("hosts"),
            &format!("127.0.0.1 localhost\n::1 localhost ip6-localhost\n{extra}"),
        )
    }

    /// service-precheck with these arguments, in a clean environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = crate::common::clean(&self.bin);
        cmd.args(args);
        cmd
    }

    /// Starts service-precheck with these arguments.
    pub fn precheck(&self, args: &[&str]) -> Result<Run, String> {
        Run::start("service-precheck", self.command(args))
    }

    /// Prints a measurement; the lab collects these lines into its closing table.
    pub fn measure(&self, what: &str, value: impl std::fmt::Display) {
        println!("measure: {}: {what}: {value}", self.scenario);
    }

    /// Starts dnsmasq on `listen`:53 serving a hosts file that it re-reads on SIGHUP (see
    /// `Dnsmasq::set_hosts`), with no upstream server unless `extra` names one.
    pub fn dnsmasq(&self, listen: &str, extra: &[&str]) -> Result<Dnsmasq, String> {
        let exe = self.dnsmasq.clone().ok_or("dnsmasq is not installed")?;
        let hosts = self.dir.join("dnsmasq.hosts");
        write(&hosts, "")?;
        let mut cmd = Command::new(exe);
        cmd.args([
            "--no-daemon",
            "--log-facility=-",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--user=root",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--port=53",
        ])
        .arg(format!("--listen-address={listen}"))
        .arg(format!("--addn-hosts={}", hosts.display()))
        .args(extra);
        let run = Run::start("dnsmasq", cmd)?;
        run.wait_line("started, version", LONG)?;
        let dnsmasq = Dnsmasq {
            run,
            hosts,
            reads: 0,
        };
        Ok(dnsmasq)
    }
}

/// A dnsmasq whose hosts file the scenario changes.
pub struct Dnsmasq {
    pub run: Run,
    hosts: PathBuf,
    reads: usize,
}

impl Dnsmasq {
    /// Replaces its hosts file and waits until dnsmasq has read it again.
    pub fn set_hosts(&mut self, text: &str) -> Result<(), String> {
        write(&self.hosts, text)?;
        let needle = format!("read {}", self.hosts.display());
        self.reads = self.run.lines_with(&needle).len() + 1;
        self.run.signal(libc::SIGHUP);
        self.run.wait_nth(&needle, self.reads, LONG).map(|_| ())
    }
}

/// Listens on `addr` (TCP) until dropped.
pub fn listen(addr: &str) -> Result<TcpListener, String> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("bad address {addr}: {e}"))?;
    TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))
}

pub fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Bind-mounts `src` over `dst`, in this process's own mount namespace.
pub fn bind(src: &Path, dst: &Path) -> Result<(), String> {
    let c = |p: &Path| CString::new(p.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string());
    let (s, d) = (c(src)?, c(dst)?);
    // SAFETY: both strings are NUL-terminated and outlive the call; the other pointers may be null.
    let rc = unsafe {
        libc::mount(
            s.as_ptr(),
            d.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "cannot bind {} over {}: {}",
            src.display(),
            dst.display(),
            std::io::Error::last_os_error()
        ))
    }
}

/// An address written as a literal in a scenario.
pub fn addr(text: &str) -> std::net::IpAddr {
    // Only ever called with literals in this test code: a typo fails the scenario at once.
    text.parse().unwrap()
}

/// A duration as seconds with milliseconds, for measurement lines.
pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
