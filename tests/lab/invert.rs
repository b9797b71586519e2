//! `--invert` against the lab's own DNS server: a name that leaves the zone (NXDOMAIN) or loses
//! its addresses (NODATA) is gone within about one interval; a server that fails, refuses or
//! drops is no proof, and the run ends at the deadline with nothing counted.

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
