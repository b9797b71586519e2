//! `--invert` against the lab's own DNS server: a name that leaves the zone (NXDOMAIN) or loses
//! its addresses (NODATA) is gone within about one interval; a server that fails, refuses or
//! drops is no proof, and the run ends at the deadline with nothing counted. A name whose
//! addresses fail differently (one refuses, one never completes the connect) is not gone.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use hickory_proto::rr::RecordType;

use crate::Scenario;
use crate::dns::{Fault, Server};
use crate::lab::{LONG, Lab, addr, secs};

pub fn scenarios() -> Vec<Scenario> {
    let s = |name, run| Scenario {
        name,
        needs_dnsmasq: false,
        run,
    };
    vec![
        s("invert_name_removed_is_gone_nxdomain", removed_nxdomain),
        s("invert_addresses_removed_is_gone_nodata", removed_nodata),
        s("invert_servfail_is_never_gone", servfail),
        s("invert_refused_is_never_gone", refused),
        s("invert_drop_is_never_gone", drop),
        s("invert_tcp_one_refused_one_hanging_is_not_gone", tcp_mixed),
        s("invert_http_one_503_one_hanging_is_not_gone", http_mixed),
        s(
            "invert_a_refused_aaaa_servfail_is_not_gone",
            aaaa_unanswered,
        ),
    ]
}

const NAME: &str = "old-job.lab.test";
const A: &str = "10.244.7.7";
/// One interval (200 ms) plus slack.
const ONE_INTERVAL: Duration = Duration::from_millis(200 + 1000);
const EAI_AGAIN: &str = "DNS server failure or timeout (EAI_AGAIN)";

/// The lab's server on 127.0.0.53 with NAME A 10.244.7.7; musl gives up on a silent server
/// after 1 s instead of its default 5 s, twice.
fn server(lab: &Lab) -> Result<Server, String> {
    lab.resolv_conf("nameserver 127.0.0.53\noptions timeout:1 attempts:1\n")?;
    let dns =
        Server::start(addr("127.0.0.53")).map_err(|e| format!("cannot start the server: {e}"))?;
    dns.set(NAME, &[addr(A)]);
    Ok(dns)
}

/// NAME is still there for two attempts; then `remove` takes it away and the run ends gone
/// with `reason` within about one interval.
fn removed_then_gone(lab: &Lab, remove: fn(&Server), reason: &str) -> Result<(), String> {
    let dns = server(lab)?;
    let mut run = lab.precheck(&["--invert", "-v", "-i", "200ms", NAME])?;
    run.wait_line("(it must be gone)", LONG)?;
    run.wait_line(&format!("{NAME}: not gone: still ready: {A}"), LONG)?;
    run.wait_line(&format!("{NAME}: attempt 2: still ready: {A}"), LONG)?;
    run.expect_running()?;
    remove(&dns);
    let removed = run.elapsed();
    let gone = run.wait_line(&format!("{NAME}: gone after"), LONG)?;
    run.expect_exit(0, LONG)?;
    let line = run.expect_line(&format!("{NAME}: gone after"))?;
    if !line.ends_with(reason) {
        return Err(format!("expected the reason {reason:?}: {line}"));
    }
    run.expect_line("gone: 1 of 1 targets")?;
    let took = gone.saturating_sub(removed);
    lab.measure("gone after the name was removed", secs(took));
    if took > ONE_INTERVAL {
        return Err(format!(
            "gone {took:?} after the removal, bound {ONE_INTERVAL:?}\n{}",
            run.log()
        ));
    }
    Ok(())
}

fn removed_nxdomain(lab: &Lab) -> Result<(), String> {
    removed_then_gone(lab, |dns| dns.remove(NAME), "no such name (NXDOMAIN)")
}

fn removed_nodata(lab: &Lab) -> Result<(), String> {
    removed_then_gone(
        lab,
        |dns| dns.set(NAME, &[]),
        "the name has no address (NODATA)",
    )
}

/// The fault on every name: the name may well be gone, but nothing proves it. Exit 1 at the
/// deadline after several attempts, none counted.
fn never_gone(lab: &Lab, fault: Fault) -> Result<(), String> {
    let dns = server(lab)?;
    dns.remove(NAME);
    dns.fault("*", None, fault);
    let mut run = lab.precheck(&["--invert", "-v", "-i", "200ms", "-t", "3s", NAME])?;
    let took = run.expect_exit(1, LONG)?;
    lab.measure("exit 1 after", secs(took));
    run.expect_line(&format!("{NAME}: not gone: {EAI_AGAIN}"))?;
    run.expect_line(&format!("{NAME}: attempt 2: {EAI_AGAIN}"))?;
    run.expect_line(&format!("{NAME}: not gone at the deadline: "))?;
    run.expect_line("deadline of 3s passed: 0 of 1 targets gone, 1 needed")?;
    run.expect_no_line("gone after")?;
    let asked = (dns.queries().iter())
        .filter(|q| q.rtype == RecordType::A)
        .count();
    lab.measure("A queries", asked);
    if asked < 2 {
        return Err(format!("only {asked} A queries\n{}", run.log()));
    }
    if took > Duration::from_secs(8) {
        return Err(format!("exit after {took:?}, deadline 3 s\n{}", run.log()));
    }
    Ok(())
}

fn servfail(lab: &Lab) -> Result<(), String> {
    never_gone(lab, Fault::ServFail)
}

fn refused(lab: &Lab) -> Result<(), String> {
    never_gone(lab, Fault::Refused)
}

fn drop(lab: &Lab) -> Result<(), String> {
    never_gone(lab, Fault::Drop)
}

/// The A record's address refuses, but AAAA gets SERVFAIL: an IPv6 address may be up, so no
/// proof. Once AAAA answers (NODATA), the refusal is proof.
fn aaaa_unanswered(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    let name = "dual.lab.test";
    dns.set(name, &[addr("127.0.0.1")]);
    dns.fault(name, Some(RecordType::AAAA), Fault::ServFail);
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let target = format!("{name}:{port}");
    let args = ["--invert", "-i", "200ms", "-t", "2s", &target];
    let mut run = lab.precheck(&args)?;
    run.expect_exit(1, LONG)?;
    run.expect_line(&format!(
        "{target}: not gone: connection refused (127.0.0.1:{port}), but no proof: \
         a lookup failed: {EAI_AGAIN}"
    ))?;
    run.expect_no_line("gone after")?;
    dns.fault(name, Some(RecordType::AAAA), Fault::NoData);
    let mut run = lab.precheck(&["--invert", "-t", "5s", &target])?;
    run.expect_exit(0, LONG)?;
    run.expect_line(&format!("{target}: gone after"))?;
    Ok(())
}

/// A listener on `ip` whose accept queue is full: a further connect never completes. The
/// socket and the queued stream keep it that way until dropped.
fn hanging(ip: &str) -> Result<(socket2::Socket, TcpStream, u16), String> {
    use socket2::{Domain, Socket, Type};
    let err = |what: &str, e: std::io::Error| format!("hanging listener on {ip}: {what}: {e}");
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| err("socket", e))?;
    let addr = SocketAddr::new(addr(ip), 0);
    s.bind(&addr.into()).map_err(|e| err("bind", e))?;
    // Backlog 0 holds one connection that is never accepted; after it the queue is full.
    s.listen(0).map_err(|e| err("listen", e))?;
    let port = (s.local_addr().ok())
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .ok_or("hanging listener: no port")?;
    let at = SocketAddr::new(addr.ip(), port);
    let filler = TcpStream::connect(at).map_err(|e| err("fill the queue", e))?;
    if TcpStream::connect_timeout(&at, Duration::from_millis(300)).is_ok() {
        return Err(format!("the accept queue of {at} did not fill up"));
    }
    Ok((s, filler, port))
}

/// `two.lab.test` in /etc/hosts with 127.0.0.1 (first) and 127.0.0.2.
fn two_addresses(lab: &Lab) -> Result<(), String> {
    lab.hosts("127.0.0.1 two.lab.test\n127.0.0.2 two.lab.test\n")
}

/// 127.0.0.1 refuses, 127.0.0.2 never completes the connect: the second may well be up, so
/// the name is not gone; once it refuses too, it is.
fn tcp_mixed(lab: &Lab) -> Result<(), String> {
    two_addresses(lab)?;
    let (listener, filler, port) = hanging("127.0.0.2")?;
    let target = format!("two.lab.test:{port}");
    let args = [
        "--invert",
        "-4",
        "--connect-timeout",
        "300ms",
        "-i",
        "100ms",
        "-t",
        "2s",
        &target,
    ];
    let mut run = lab.precheck(&args)?;
    run.expect_exit(1, LONG)?;
    run.expect_line(&format!(
        "{target}: not gone: connect timed out after 300ms (127.0.0.2:{port})"
    ))?;
    run.expect_line("deadline of 2s passed: 0 of 1 targets gone, 1 needed")?;
    run.expect_no_line("gone after")?;
    std::mem::drop((listener, filler));
    let mut run = lab.precheck(&["--invert", "-4", "-t", "10s", &target])?;
    run.expect_exit(0, LONG)?;
    let line = run.expect_line(&format!("{target}: gone after"))?;
    if !line.ends_with(&format!("connection refused (127.0.0.1:{port})")) {
        return Err(format!("expected the first refusal: {line}"));
    }
    Ok(())
}

/// The same for HTTP: 127.0.0.1 answers 503 (outside the set), 127.0.0.2 hangs.
fn http_mixed(lab: &Lab) -> Result<(), String> {
    two_addresses(lab)?;
    let (_listener, _filler, port) = hanging("127.0.0.2")?;
    let server = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    thread::Builder::new()
        .spawn(move || {
            for mut conn in server.incoming().flatten() {
                let _ = conn
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
            }
        })
        .map_err(|e| format!("cannot start the server thread: {e}"))?;
    let target = format!("http://two.lab.test:{port}/");
    let args = [
        "--invert",
        "-4",
        "--connect-timeout",
        "300ms",
        "-i",
        "100ms",
        "-t",
        "2s",
        &target,
    ];
    let mut run = lab.precheck(&args)?;
    run.expect_exit(1, LONG)?;
    run.expect_line(&format!(
        "{target}: not gone: connect timed out after 300ms (127.0.0.2:{port})"
    ))?;
    run.expect_no_line("gone after")?;
    Ok(())
}
