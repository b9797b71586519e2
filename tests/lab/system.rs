//! What surrounds the resolver: TCP targets whose names come from the lab's DNS server, a headless
//! service with `publishNotReadyAddresses`, a scratch container (chroot with only the binary and
//! two files, with and without resolv.conf), PID 1 and SIGTERM, and a caching cluster DNS.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use crate::Scenario;
use crate::dns::Server;
use crate::lab::{LONG, Lab, addr, listen, secs, write};
use crate::run::Run;

pub fn scenarios() -> Vec<Scenario> {
    let s = |name, needs_dnsmasq, run| Scenario {
        name,
        needs_dnsmasq,
        run,
    };
    vec![
        s(
            "scratch_without_resolv_conf",
            false,
            scratch_without_resolv_conf,
        ),
        s(
            "cluster_dns_negative_cache_delays_ready",
            true,
            negative_cache,
        ),
        s("scratch_chroot", false, scratch_chroot),
        s("tcp_target_name_from_dns", false, tcp_target_name_from_dns),
        s("tcp_min_2_of_3_headless", false, tcp_min_2_of_3),
        s("publish_not_ready_addresses", false, publish_not_ready),
        s("pid1_sigterm_143", false, pid1_sigterm),
        s("pid1_sigint_130", false, pid1_sigint),
    ]
}

fn server(ip: &str) -> Result<Server, String> {
    Server::start(addr(ip)).map_err(|e| format!("cannot start the DNS server on {ip}: {e}"))
}

/// A TCP target whose name first does not exist, then points at a closed port, then is open.
fn tcp_target_name_from_dns(lab: &Lab) -> Result<(), String> {
    let dns = server("127.0.0.53")?;
    let target = "db.lab.test:5432";
    let mut run = lab.precheck(&["-i", "100ms", target])?;
    run.wait_line(
        &format!("{target}: not ready: no such name (NXDOMAIN)"),
        LONG,
    )?;
    dns.set("db.lab.test", &[addr("127.0.0.2")]);
    run.wait_line(
        &format!("{target}: not ready: connection refused (127.0.0.2:5432)"),
        LONG,
    )?;
    run.expect_running()?;
    let _db = listen("127.0.0.2:5432")?;
    let opened = run.elapsed();
    let ready = run.wait_line(&format!("{target}: ready after"), LONG)?;
    lab.measure(
        "ready after the port opened",
        secs(ready.saturating_sub(opened)),
    );
    run.expect_exit(0, LONG)?;
    Ok(())
}

/// `tcp://NAME:PORT?min=2` over three addresses: one listener is not enough, two are.
fn tcp_min_2_of_3(lab: &Lab) -> Result<(), String> {
    let dns = server("127.0.0.53")?;
    let ips = ["127.0.0.11", "127.0.0.12", "127.0.0.13"].map(addr);
    dns.set("zk.lab.test", &ips);
    let _first = listen("127.0.0.11:2181")?;
    let target = "tcp://zk.lab.test:2181?min=2";
    let mut run = lab.precheck(&["-i", "100ms", target])?;
    run.wait_line(
        &format!("{target}: not ready: only 1 of 2 addresses accept connections"),
        LONG,
    )?;
    run.expect_running()?;
    let _third = listen("127.0.0.13:2181")?;
    run.expect_exit(0, LONG)?;
    run.expect_line(&format!("{target}: ready after"))?;
    Ok(())
}

/// With `publishNotReadyAddresses: true` a pod's name resolves before it is ready: a DNS target is
/// satisfied at once, so only a TCP target really waits for the pod.
fn publish_not_ready(lab: &Lab) -> Result<(), String> {
    let dns = server("127.0.0.53")?;
    dns.set("zk-0.zk-hs.lab.test", &[addr("127.0.0.21")]);
    let mut run = lab.precheck(&["-t", "5s", "zk-0.zk-hs.lab.test"])?;
    run.expect_exit(0, LONG)?;
    let mut run = lab.precheck(&["-t", "1s", "zk-0.zk-hs.lab.test:2181"])?;
    run.expect_exit(1, LONG)?;
    run.expect_line("not ready at the deadline: connection refused (127.0.0.21:2181)")?;
    let _zk = listen("127.0.0.21:2181")?;
    let mut run = lab.precheck(&["-t", "5s", "zk-0.zk-hs.lab.test:2181"])?;
    run.expect_exit(0, LONG)?;
    Ok(())
}

/// A directory holding only the binary and the files a kubelet mounts: a FROM scratch container.
fn scratch_root(lab: &Lab, resolv_conf: Option<&str>) -> Result<std::path::PathBuf, String> {
    let root = lab.dir.join("scratch");
    fs::create_dir_all(root.join("etc"))
        .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    fs::copy(&lab.bin, root.join("service-precheck"))
        .map_err(|e| format!("cannot copy the binary: {e}"))?;
    write(
        &root.join("etc/hosts"),
        "127.0.0.1 localhost\n10.244.9.9 db.from-hosts\n",
    )?;
    if let Some(text) = resolv_conf {
        write(&root.join("etc/resolv.conf"), text)?;
    }
    Ok(root)
}

/// service-precheck run in `root` by chroot.
fn chrooted(root: &Path, args: &[&str]) -> Result<Run, String> {
    let c =
        std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // The path is resolved after the chroot: it is the binary inside the root.
    let mut cmd = crate::common::clean("/service-precheck");
    cmd.args(args);
    // SAFETY: chroot and chdir are async-signal-safe and the string outlives the spawn.
    unsafe {
        cmd.pre_exec(move || {
            if libc::chroot(c.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Run::start("service-precheck (chroot)", cmd)
}

fn scratch_chroot(lab: &Lab) -> Result<(), String> {
    let dns = server("127.0.0.53")?;
    dns.set("api.lab.test", &[addr("10.244.3.3")]);
    let root = scratch_root(lab, Some("nameserver 127.0.0.53\noptions ndots:5\n"))?;
    let mut run = chrooted(
        &root,
        &["-t", "5s", "api.lab.test", "db.from-hosts", "localhost"],
    )?;
    run.expect_exit(0, LONG)?;
    run.expect_line("api.lab.test: ready after")?;
    let line = run.expect_line("db.from-hosts: ready after")?;
    if !line.contains("10.244.9.9") {
        return Err(format!("the hosts entry was not used: {line}"));
    }
    if dns
        .queries()
        .iter()
        .any(|q| q.name.starts_with("db.from-hosts"))
    {
        return Err("a name in etc/hosts was asked from DNS".into());
    }
    // There is no shell in scratch: the command is not found.
    let mut run = chrooted(&root, &["-t", "5s", "localhost", "--", "sh", "-c", "true"])?;
    run.expect_exit(127, LONG)?;
    Ok(())
}

/// No etc/resolv.conf: musl asks 127.0.0.1:53. Nothing listens there at first, then a server.
fn scratch_without_resolv_conf(lab: &Lab) -> Result<(), String> {
    let root = scratch_root(lab, None)?;
    let mut run = chrooted(&root, &["-i", "200ms", "api.lab.test"])?;
    let at = run.wait_line(
        "api.lab.test: not ready: DNS server failure or timeout (EAI_AGAIN)",
        LONG,
    )?;
    lab.measure("no server: first reason logged after", secs(at));
    let dns = server("127.0.0.1")?;
    dns.set("api.lab.test", &[addr("10.244.3.3")]);
    let started = run.elapsed();
    let ready = run.wait_line("api.lab.test: ready after", LONG)?;
    lab.measure(
        "ready after a server started on 127.0.0.1",
        secs(ready.saturating_sub(started)),
    );
    run.expect_exit(0, LONG)?;
    Ok(())
}

/// service-precheck as PID 1 of a new PID namespace ends promptly on `sig` with 128+sig.
fn pid1_signal(lab: &Lab, sig: i32, name: &str) -> Result<(), String> {
    // Answers NXDOMAIN at once, so the binary is waiting, not blocked in a lookup.
    let _dns = server("127.0.0.53")?;
    let mut cmd = crate::common::clean("unshare");
    cmd.args(["--pid", "--fork"])
        .arg(&lab.bin)
        .args(["-i", "100ms", "never.lab.test"]);
    let mut run = Run::start("unshare --pid --fork service-precheck", cmd)?;
    run.wait_line("never.lab.test: not ready: no such name (NXDOMAIN)", LONG)?;
    let children = format!("/proc/{0}/task/{0}/children", run.pid());
    let child: i32 = (fs::read_to_string(&children).map_err(|e| format!("{children}: {e}"))?)
        .trim()
        .parse()
        .map_err(|e| format!("{children}: {e}"))?;
    let status = fs::read_to_string(format!("/proc/{child}/status")).map_err(|e| e.to_string())?;
    let nspid = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .unwrap_or("");
    if !nspid.ends_with("\t1") {
        return Err(format!(
            "the binary is not PID 1 of its namespace: {nspid:?}"
        ));
    }
    let sent = run.elapsed();
    // SAFETY: kill has no memory preconditions; the pid is our grandchild and still running.
    unsafe { libc::kill(child, sig) };
    let (code, at) = run.wait_exit(Duration::from_secs(10))?;
    let took = at.saturating_sub(sent);
    lab.measure(&format!("PID 1: exit after {name}"), secs(took));
    if code != 128 + sig {
        return Err(format!(
            "exit {code}, expected {}\n{}",
            128 + sig,
            run.log()
        ));
    }
    run.expect_line(&format!(
        "interrupted by {name}, still waiting for: never.lab.test"
    ))?;
    if took > Duration::from_secs(1) {
        return Err(format!("took {took:?} to end after {name}"));
    }
    Ok(())
}

fn pid1_sigterm(lab: &Lab) -> Result<(), String> {
    pid1_signal(lab, libc::SIGTERM, "SIGTERM")
}

fn pid1_sigint(lab: &Lab) -> Result<(), String> {
    pid1_signal(lab, libc::SIGINT, "SIGINT")
}

/// A caching cluster DNS (dnsmasq in front of the lab's server, like CoreDNS's cache) keeps a
/// negative answer for its SOA's TTL: a name created meanwhile is seen only after it expires.
fn negative_cache(lab: &Lab) -> Result<(), String> {
    const TTL: u64 = 4;
    let upstream = server("127.0.0.53")?;
    upstream.set_negative_ttl(TTL as u32);
    lab.resolv_conf("nameserver 127.0.0.1\n")?;
    let _cache = lab.dnsmasq("127.0.0.1", &["--server=127.0.0.53", "--cache-size=100"])?;
    let mut run = lab.precheck(&["-i", "200ms", "new.lab.test"])?;
    run.wait_line("new.lab.test: not ready: no such name (NXDOMAIN)", LONG)?;
    upstream.set("new.lab.test", &[addr("10.244.5.5")]);
    let created = run.elapsed();
    let ready = run.wait_line("new.lab.test: ready after", LONG)?;
    let took = ready.saturating_sub(created);
    lab.measure(
        &format!("ready after the name was created (negative TTL {TTL} s)"),
        secs(took),
    );
    run.expect_exit(0, LONG)?;
    if took > Duration::from_secs(TTL + 2) {
        return Err(format!("took {took:?}, the negative TTL is {TTL} s"));
    }
    Ok(())
}
