//! Every fault class of the lab's own DNS server against the static binary's resolver (musl):
//! alone and then recovering, AAAA faults beside a good A answer, `-4`/`-6`, truncation and the
//! 48-address limit, the search list, the trailing dot, and a server that drops everything.

use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::rr::RecordType;

use crate::Scenario;
use crate::dns::{Fault, Server};
use crate::lab::{K8S_SEARCH, LONG, Lab, addr, secs};

pub fn scenarios() -> Vec<Scenario> {
    let s = |name, run| Scenario {
        name,
        needs_dnsmasq: false,
        run,
    };
    vec![
        // The slow ones first: they wait out musl's 5 s timeout.
        s("fault_servfail_then_recovers", servfail),
        s("fault_refused_then_recovers", refused),
        s("fault_drop_then_recovers", drop),
        s("fault_delay_over_timeout_then_recovers", delay_over_timeout),
        s(
            "search_candidate_servfail_aborts_search",
            search_candidate_servfail,
        ),
        s("aaaa_refused_a_ok", aaaa_refused),
        s("aaaa_servfail_a_ok", aaaa_servfail),
        s("aaaa_drop_a_ok", aaaa_drop),
        s("aaaa_nxdomain_a_ok", aaaa_nxdomain),
        s("drop_everything_timeout_2s", drop_everything_timeout),
        s("fault_drop_with_timeout_1_then_recovers", drop_timeout_1),
        s("fault_nxdomain_then_recovers", nxdomain),
        s("fault_nodata_then_recovers", nodata),
        s("fault_delay_short_is_slow_not_failed", delay_short),
        s("fault_truncated_tcp_fallback", truncated),
        s("many_records_min_48_limit", many_records),
        s("family_4_ignores_aaaa", family_4),
        s("family_6", family_6),
        s("dual_stack_min_counts_one_family", dual_stack_min),
        s("trailing_dot_and_ndots", trailing_dot_and_ndots),
        s("canonical_name_with_search_list", canonical_name),
        s("resolv_conf_changed_while_waiting", resolv_conf_changed),
    ]
}

const NAME: &str = "api.lab.test";
const A: &str = "10.244.3.3";

/// The lab's server on 127.0.0.53 (the default resolv.conf) with `api.lab.test` A 10.244.3.3.
fn server(lab: &Lab) -> Result<Server, String> {
    lab.resolv_conf("nameserver 127.0.0.53\n")?;
    let dns =
        Server::start(addr("127.0.0.53")).map_err(|e| format!("cannot start the server: {e}"))?;
    dns.set(NAME, &[addr(A)]);
    Ok(dns)
}

/// The fault on every type of NAME, then no fault: never ready during it, the right reason, and
/// ready within `within` of its end.
fn fault_then_recover(
    lab: &Lab,
    fault: Fault,
    reason: &str,
    within: Duration,
) -> Result<(), String> {
    fault_then_recover_with(lab, "", fault, reason, within)
}

/// The same with these `options` in resolv.conf.
fn fault_then_recover_with(
    lab: &Lab,
    options: &str,
    fault: Fault,
    reason: &str,
    within: Duration,
) -> Result<(), String> {
    let dns = server(lab)?;
    lab.resolv_conf(&format!("nameserver 127.0.0.53\n{options}"))?;
    dns.fault(NAME, None, fault);
    let mut run = lab.precheck(&["-v", "-i", "200ms", NAME])?;
    let first = run.wait_line(&format!("{NAME}: not ready: {reason}"), LONG)?;
    lab.measure("first reason logged after", secs(first));
    // A second attempt fails the same way: still waiting, no false "ready".
    run.wait_line(&format!("{NAME}: attempt 2: {reason}"), LONG)?;
    run.expect_no_line("ready after")?;
    run.expect_running()?;
    // A failing DNS service, or a name that does not exist, ends the attempt after the A lookup:
    // AAAA would only double the wait, or the queries.
    let a_is_final = reason == EAI_AGAIN || reason.contains("NXDOMAIN");
    if a_is_final && dns.queries().iter().any(|q| q.rtype == RecordType::AAAA) {
        return Err(format!(
            "AAAA was asked after the A lookup said {reason}\n{}",
            run.log()
        ));
    }
    // End the fault while the next attempt is waiting for an answer: the harder case.
    dns.wait_queries(dns.queries().len(), LONG)?;
    dns.clear_faults(NAME);
    let ended = run.elapsed();
    let ready = run.wait_line(&format!("{NAME}: ready after"), LONG)?;
    let took = ready.saturating_sub(ended);
    lab.measure("ready after the fault ended", secs(took));
    run.expect_exit(0, LONG)?;
    if took > within {
        return Err(format!(
            "ready {took:?} after the fault ended, bound {within:?}\n{}",
            run.log()
        ));
    }
    Ok(())
}

const EAI_AGAIN: &str = "DNS server failure or timeout (EAI_AGAIN)";
/// One interval (200 ms) plus the rest of a musl lookup that was waiting for a retransmission
/// (timeout 5 s / attempts 2), plus slack.
const AFTER_TIMEOUT: Duration = Duration::from_millis(200 + 2500 + 1500);
/// One interval plus slack.
const ONE_INTERVAL: Duration = Duration::from_millis(200 + 1000);

fn nxdomain(lab: &Lab) -> Result<(), String> {
    fault_then_recover(
        lab,
        Fault::NxDomain,
        "no such name (NXDOMAIN)",
        ONE_INTERVAL,
    )
}

fn nodata(lab: &Lab) -> Result<(), String> {
    fault_then_recover(
        lab,
        Fault::NoData,
        "the name has no address (NODATA)",
        ONE_INTERVAL,
    )
}

fn servfail(lab: &Lab) -> Result<(), String> {
    fault_then_recover(lab, Fault::ServFail, EAI_AGAIN, AFTER_TIMEOUT)
}

fn refused(lab: &Lab) -> Result<(), String> {
    fault_then_recover(lab, Fault::Refused, EAI_AGAIN, AFTER_TIMEOUT)
}

fn drop(lab: &Lab) -> Result<(), String> {
    fault_then_recover(lab, Fault::Drop, EAI_AGAIN, AFTER_TIMEOUT)
}

/// `options timeout:1` (a pod's dnsConfig can set it) makes a dropped lookup fail in 1 s.
fn drop_timeout_1(lab: &Lab) -> Result<(), String> {
    let within = Duration::from_millis(200 + 500 + 1000);
    fault_then_recover_with(lab, "options timeout:1\n", Fault::Drop, EAI_AGAIN, within)
}

fn delay_over_timeout(lab: &Lab) -> Result<(), String> {
    let delay = Fault::Delay(Duration::from_secs(7));
    fault_then_recover(lab, delay, EAI_AGAIN, AFTER_TIMEOUT)
}

/// A slow server (300 ms) is only slow: ready, after about the delay.
fn delay_short(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    dns.fault(NAME, None, Fault::Delay(Duration::from_millis(300)));
    let mut run = lab.precheck(&["-t", "10s", NAME])?;
    run.expect_exit(0, LONG)?;
    let ready = run.wait_line(&format!("{NAME}: ready after"), LONG)?;
    lab.measure("ready (300 ms delay on every answer) after", secs(ready));
    run.expect_no_line("not ready")?;
    Ok(())
}

/// TC on every UDP answer: musl asks again over TCP and gets the full answer.
fn truncated(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    dns.set(
        NAME,
        &[addr("10.244.3.1"), addr("10.244.3.2"), addr("10.244.3.3")],
    );
    dns.fault(NAME, None, Fault::Truncate);
    let mut run = lab.precheck(&["-t", "10s", &format!("dns://{NAME}?min=3")])?;
    let took = run.expect_exit(0, LONG)?;
    lab.measure("ready (TC on UDP, answer over TCP) after", secs(took));
    if !dns
        .queries()
        .iter()
        .any(|q| q.tcp && q.rtype == RecordType::A)
    {
        return Err(format!("no query came over TCP\n{}", run.log()));
    }
    Ok(())
}

/// An AAAA fault while A is fine: the A answer must not be hidden.
fn aaaa_fault(lab: &Lab, fault: Fault) -> Result<(), String> {
    let dns = server(lab)?;
    dns.fault(NAME, Some(RecordType::AAAA), fault);
    let mut run = lab.precheck(&["-t", "20s", NAME])?;
    let took = run.expect_exit(0, LONG)?;
    let line = run.expect_line(&format!("{NAME}: ready after"))?;
    if !line.contains(A) {
        return Err(format!("the A address is missing: {line}"));
    }
    lab.measure("exit 0 after", secs(took));
    Ok(())
}

fn aaaa_refused(lab: &Lab) -> Result<(), String> {
    aaaa_fault(lab, Fault::Refused)
}

fn aaaa_servfail(lab: &Lab) -> Result<(), String> {
    aaaa_fault(lab, Fault::ServFail)
}

fn aaaa_drop(lab: &Lab) -> Result<(), String> {
    aaaa_fault(lab, Fault::Drop)
}

fn aaaa_nxdomain(lab: &Lab) -> Result<(), String> {
    aaaa_fault(lab, Fault::NxDomain)
}

/// `-4` never asks for AAAA, so a dropped AAAA costs nothing.
fn family_4(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    dns.fault(NAME, Some(RecordType::AAAA), Fault::Drop);
    let mut run = lab.precheck(&["-4", "-t", "10s", NAME])?;
    let took = run.expect_exit(0, LONG)?;
    lab.measure("-4 with AAAA dropped: exit 0 after", secs(took));
    if took > Duration::from_secs(2) {
        return Err(format!("-4 took {took:?}\n{}", run.log()));
    }
    if dns.queries().iter().any(|q| q.rtype == RecordType::AAAA) {
        return Err("-4 asked for AAAA".into());
    }
    Ok(())
}

/// `-6`: an A-only name is NODATA for IPv6; an AAAA name is ready. An AAAA-only name is ready
/// without `-6` too, from DNS and from /etc/hosts.
fn family_6(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    dns.set("v6.lab.test", &[addr("fd00::6")]);
    let mut run = lab.precheck(&["-6", "-t", "1s", NAME])?;
    run.expect_exit(1, LONG)?;
    run.expect_line(&format!(
        "{NAME}: not ready at the deadline: the name has no IPv6 address (NODATA)"
    ))?;
    let mut run = lab.precheck(&["-6", "-t", "5s", "v6.lab.test"])?;
    run.expect_exit(0, LONG)?;
    run.expect_line("v6.lab.test: ready after")?;
    let mut run = lab.precheck(&["-t", "5s", "v6.lab.test"])?;
    run.expect_exit(0, LONG)?;
    let line = run.expect_line("v6.lab.test: ready after")?;
    if !line.contains("fd00::6") {
        return Err(format!("the AAAA address is missing: {line}"));
    }
    // The same for a name that only /etc/hosts has, with an IPv6 address only (a pod's
    // hostAliases): musl says NODATA for its A lookup, so AAAA is still asked.
    lab.hosts("fd00::7 v6hosts.lab.test\n")?;
    let mut run = lab.precheck(&["-t", "5s", "v6hosts.lab.test"])?;
    run.expect_exit(0, LONG)?;
    let line = run.expect_line("v6hosts.lab.test: ready after")?;
    if !line.contains("fd00::7") {
        return Err(format!("the /etc/hosts IPv6 address is missing: {line}"));
    }
    Ok(())
}

/// `?min` counts the distinct addresses of one family: two dual-stack pods (four addresses)
/// are two pods, never three.
fn dual_stack_min(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    let pods = ["10.244.6.1", "10.244.6.2", "fd00::6:1", "fd00::6:2"].map(addr);
    dns.set("zk-hs.lab.test", &pods);
    let mut run = lab.precheck(&["-t", "5s", "dns://zk-hs.lab.test?min=2"])?;
    run.expect_exit(0, LONG)?;
    let mut run = lab.precheck(&["-t", "1s", "dns://zk-hs.lab.test?min=3"])?;
    run.expect_exit(1, LONG)?;
    run.expect_line("not ready at the deadline: only 2 of 3 addresses: 10.244.6.1, 10.244.6.2")?;
    let mut run = lab.precheck(&["-6", "-t", "1s", "dns://zk-hs.lab.test?min=3"])?;
    run.expect_exit(1, LONG)?;
    run.expect_line("not ready at the deadline: only 2 of 3 addresses: fd00::6:1, fd00::6:2")?;
    Ok(())
}

/// 48 A records with `?min=48` (needs TCP), 60 records still give 48, and `min=49` is refused.
fn many_records(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    let ips = |n: u8| -> Vec<IpAddr> { (1..=n).map(|i| IpAddr::from([10, 244, 4, i])).collect() };
    dns.set("many48.lab.test", &ips(48));
    dns.set("many60.lab.test", &ips(60));

    let mut run = lab.precheck(&["-t", "10s", "dns://many48.lab.test?min=48"])?;
    let took = run.expect_exit(0, LONG)?;
    lab.measure("48 records, min=48: exit 0 after", secs(took));
    if !dns
        .queries()
        .iter()
        .any(|q| q.tcp && q.name == "many48.lab.test")
    {
        return Err("48 records came without TCP fallback".into());
    }

    let mut run = lab.precheck(&["-t", "10s", "dns://many60.lab.test?min=48"])?;
    run.expect_exit(0, LONG)?;
    let line = run.expect_line("many60.lab.test?min=48: ready after")?;
    let seen = line.matches("10.244.4.").count();
    lab.measure("60 records: addresses seen", seen);
    if seen != 48 {
        return Err(format!(
            "expected musl's 48 of 60 addresses, saw {seen}: {line}"
        ));
    }

    let before = dns.queries().len();
    let mut run = lab.precheck(&["-t", "10s", "dns://many60.lab.test?min=49"])?;
    run.expect_exit(2, LONG)?;
    run.expect_line("49")?;
    if dns.queries().len() != before {
        return Err("a usage error still asked the DNS server".into());
    }
    Ok(())
}

/// The search list with `ndots:5`: a trailing dot makes one A query; a name with fewer than five
/// dots goes through the search domains first, each a round trip. (AAAA is asked only when the
/// A answer is not enough, so the A queries are what is counted.)
fn trailing_dot_and_ndots(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    lab.resolv_conf(&format!("nameserver 127.0.0.53\n{K8S_SEARCH}"))?;
    let service = "mysql-read.ns1.svc.cluster.local";
    dns.set(service, &[addr("10.96.0.20")]);
    dns.set(
        "mysql-0.mysql.ns1.svc.cluster.local",
        &[addr("10.244.1.10")],
    );
    let cases = [
        (
            format!("{service}."),
            "a service name with a trailing dot",
            1,
        ),
        (
            service.to_string(),
            "the same without it (4 dots < ndots:5)",
            4,
        ),
        (
            "mysql-0.mysql.ns1".to_string(),
            "mysql-0.mysql.ns1 (2nd search candidate)",
            2,
        ),
    ];
    let mut asked = 0;
    for (name, what, expected) in cases {
        let mut run = lab.precheck(&["-t", "5s", &name])?;
        run.expect_exit(0, LONG)?;
        let all = dns.queries();
        let new = &all[asked..];
        asked = all.len();
        let a = new.iter().filter(|q| q.rtype == RecordType::A).count();
        lab.measure(&format!("A queries for {what}"), a);
        if a != expected {
            return Err(format!(
                "{name}: expected {expected} A queries, got {new:?}"
            ));
        }
    }

    let mut run = lab.precheck(&["-t", "1s", "mysql-0.mysql.ns1."])?;
    run.expect_exit(1, LONG)?;
    run.expect_line("mysql-0.mysql.ns1.: not ready at the deadline: no such name (NXDOMAIN)")?;
    Ok(())
}

/// With a pod's search list the ready line names the name that answered, when it is not the one
/// typed: a wildcard or a stray record in a search domain can no longer pass unnoticed.
fn canonical_name(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    lab.resolv_conf(&format!("nameserver 127.0.0.53\n{K8S_SEARCH}"))?;
    let full = "mysql-0.mysql.ns1.svc.cluster.local";
    dns.set(full, &[addr("10.244.1.10")]);

    let mut run = lab.precheck(&["-t", "5s", "mysql-0.mysql.ns1"])?;
    run.expect_exit(0, LONG)?;
    run.expect_line("mysql-0.mysql.ns1: ready after")?;
    let line = run.expect_line(&format!("10.244.1.10 (as {full})"))?;
    lab.measure("ready line with a search list", &line);

    // Typed in full (here with the trailing dot), nothing is added.
    let mut run = lab.precheck(&["-t", "5s", &format!("{full}.")])?;
    run.expect_exit(0, LONG)?;
    let line = run.expect_line(&format!("{full}.: ready after"))?;
    if line.contains("(as ") {
        return Err(format!("the typed name was shown again: {line}"));
    }

    // JSON: the same name in `canonical`.
    let mut run = lab.precheck(&["--log-format", "json", "-t", "5s", "mysql-0.mysql.ns1"])?;
    run.expect_exit(0, LONG)?;
    run.expect_line(&format!("\"canonical\":\"{full}\""))?;
    Ok(())
}

/// musl stops the search at the first candidate that SERVFAILs, although a later one exists.
fn search_candidate_servfail(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    lab.resolv_conf(&format!("nameserver 127.0.0.53\n{K8S_SEARCH}"))?;
    dns.set(
        "mysql-0.mysql.ns1.svc.cluster.local",
        &[addr("10.244.1.10")],
    );
    let first_candidate = "mysql-0.mysql.ns1.ns1.svc.cluster.local";
    dns.fault(first_candidate, None, Fault::ServFail);
    let mut run = lab.precheck(&["-i", "200ms", "mysql-0.mysql.ns1"])?;
    let at = run.wait_line(&format!("mysql-0.mysql.ns1: not ready: {EAI_AGAIN}"), LONG)?;
    lab.measure("first reason logged after", secs(at));
    run.expect_running()?;
    dns.clear_faults(first_candidate);
    let ended = run.elapsed();
    let ready = run.wait_line("mysql-0.mysql.ns1: ready after", LONG)?;
    lab.measure(
        "ready after the fault ended",
        secs(ready.saturating_sub(ended)),
    );
    run.expect_exit(0, LONG)?;
    Ok(())
}

/// A server that answers nothing, with `--timeout 2s`: exit 1 close to 2 s, not at 5-10 s.
fn drop_everything_timeout(lab: &Lab) -> Result<(), String> {
    let dns = server(lab)?;
    dns.fault("*", None, Fault::Drop);
    let mut run = lab.precheck(&["--timeout", "2s", NAME])?;
    let took = run.expect_exit(1, LONG)?;
    lab.measure("exit 1 after", secs(took));
    run.expect_line(&format!("{NAME}: not ready at the deadline: no answer yet"))?;
    run.expect_line("deadline of 2s passed: 0 of 1 targets ready, 1 needed")?;
    if took < Duration::from_millis(1900) || took > Duration::from_millis(3000) {
        return Err(format!(
            "exit after {took:?}, expected about 2 s\n{}",
            run.log()
        ));
    }
    Ok(())
}

/// resolv.conf is read afresh: pointing it at another server while waiting takes effect.
fn resolv_conf_changed(lab: &Lab) -> Result<(), String> {
    let good = server(lab)?;
    let empty = Server::start(addr("127.0.0.1")).map_err(|e| format!("cannot start: {e}"))?;
    lab.resolv_conf("nameserver 127.0.0.1\n")?;
    let mut run = lab.precheck(&["-i", "200ms", NAME])?;
    run.wait_line(&format!("{NAME}: not ready: no such name (NXDOMAIN)"), LONG)?;
    lab.resolv_conf("nameserver 127.0.0.53\n")?;
    let changed = run.elapsed();
    let ready = run.wait_line(&format!("{NAME}: ready after"), LONG)?;
    lab.measure(
        "ready after resolv.conf changed",
        secs(ready.saturating_sub(changed)),
    );
    run.expect_exit(0, LONG)?;
    if empty.queries().is_empty() || good.queries().is_empty() {
        return Err("one of the two servers was never asked".into());
    }
    Ok(())
}
