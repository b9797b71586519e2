//! The blog post's main flows against dnsmasq, an independent real DNS server, with the resolv.conf
//! of a Kubernetes pod in namespace `ns1`: the MySQL primary and read service, the ZooKeeper
//! members appearing one by one, a headless service growing to `?min=3`, and a quorum.

use std::time::Duration;

use crate::Scenario;
use crate::lab::{Dnsmasq, K8S_SEARCH, LONG, Lab};

pub fn scenarios() -> Vec<Scenario> {
    let s = |name, run| Scenario {
        name,
        needs_dnsmasq: true,
        run,
    };
    vec![
        s("dnsmasq_mysql_search_list", mysql_search_list),
        s("dnsmasq_zookeeper_one_by_one", zookeeper_one_by_one),
        s("dnsmasq_headless_grows_to_min_3", headless_grows_to_min_3),
        s("dnsmasq_quorum_min_ready_2", quorum_min_ready_2),
    ]
}

/// dnsmasq as the cluster DNS: it owns the cluster's zones and `ns1.` and answers NXDOMAIN for
/// names it does not have (without `--local` it would answer REFUSED, unlike a real cluster).
fn cluster_dns(lab: &Lab) -> Result<Dnsmasq, String> {
    lab.resolv_conf(&format!("nameserver 127.0.0.1\n{K8S_SEARCH}"))?;
    let locals = ["--local=/cluster.local/", "--local=/ns1/", "--cache-size=0"];
    lab.dnsmasq("127.0.0.1", &locals)
}

fn zk(i: usize) -> String {
    format!("zookeeper-{i}.zookeeper-headless.ns1")
}

fn mysql_search_list(lab: &Lab) -> Result<(), String> {
    let mut dns = cluster_dns(lab)?;
    dns.set_hosts(
        "10.244.1.10 mysql-0.mysql.ns1.svc.cluster.local\n\
         10.96.0.20 mysql-read.ns1.svc.cluster.local\n",
    )?;
    let mut run = lab.precheck(&["-t", "10s", "mysql-0.mysql.ns1", "mysql-read.ns1"])?;
    run.expect_exit(0, LONG)?;
    let line = run.expect_line("mysql-0.mysql.ns1: ready after")?;
    if !line.contains("10.244.1.10") {
        return Err(format!("wrong address: {line}"));
    }
    run.expect_line("mysql-read.ns1: ready after")?;
    run.expect_line("ready: 2 of 2 targets")?;
    Ok(())
}

fn zookeeper_one_by_one(lab: &Lab) -> Result<(), String> {
    let mut dns = cluster_dns(lab)?;
    let (a, b, c) = (zk(0), zk(1), zk(2));
    let args = [
        "-i",
        "100ms",
        "-t",
        "60s",
        &a,
        &b,
        &c,
        "--",
        "echo",
        "zookeeper quorum is up",
    ];
    let mut run = lab.precheck(&args)?;
    for i in 0..3 {
        run.wait_line(
            &format!("{}: not ready: no such name (NXDOMAIN)", zk(i)),
            LONG,
        )?;
    }
    let mut hosts = String::new();
    let mut last = Duration::ZERO;
    for i in 0..3 {
        run.expect_running()?;
        run.expect_no_line("ready: 3 of 3 targets")?;
        hosts.push_str(&format!("10.244.2.{} {}.svc.cluster.local\n", i + 1, zk(i)));
        dns.set_hosts(&hosts)?;
        last = run.wait_line(&format!("{}: ready after", zk(i)), LONG)?;
    }
    run.expect_exit(0, LONG)?;
    let done = run.wait_line("ready: 3 of 3 targets", LONG)?;
    if done < last {
        return Err(format!(
            "the success line came before the last member\n{}",
            run.log()
        ));
    }
    let out = run.stdout();
    if out.trim() != "zookeeper quorum is up" {
        return Err(format!("the command printed {out:?}"));
    }
    Ok(())
}

fn headless_grows_to_min_3(lab: &Lab) -> Result<(), String> {
    let mut dns = cluster_dns(lab)?;
    let target = "dns://zookeeper-headless.ns1?min=3";
    let mut run = lab.precheck(&["-i", "100ms", target])?;
    run.wait_line(
        &format!("{target}: not ready: no such name (NXDOMAIN)"),
        LONG,
    )?;
    let mut hosts = String::new();
    for i in 1..=3 {
        let ip = format!("10.244.2.{i}");
        hosts.push_str(&format!("{ip} zookeeper-headless.ns1.svc.cluster.local\n"));
        dns.set_hosts(&hosts)?;
        if i < 3 {
            run.wait_line(
                &format!("{target}: not ready: only {i} of 3 addresses: "),
                LONG,
            )?;
            run.expect_running()?;
        }
    }
    run.expect_exit(0, LONG)?;
    let line = run.expect_line(&format!("{target}: ready after"))?;
    for i in 1..=3 {
        if !line.contains(&format!("10.244.2.{i}")) {
            return Err(format!("address 10.244.2.{i} missing: {line}"));
        }
    }
    Ok(())
}

fn quorum_min_ready_2(lab: &Lab) -> Result<(), String> {
    let mut dns = cluster_dns(lab)?;
    let (a, b, c) = (zk(0), zk(1), zk(2));
    let mut run = lab.precheck(&["-i", "100ms", "--min-ready", "2", &a, &b, &c])?;
    run.wait_line("(2 of 3 must be ready)", LONG)?;
    for i in 0..3 {
        run.wait_line(
            &format!("{}: not ready: no such name (NXDOMAIN)", zk(i)),
            LONG,
        )?;
    }
    dns.set_hosts(&format!("10.244.2.1 {a}.svc.cluster.local\n"))?;
    run.wait_line(&format!("{a}: ready after"), LONG)?;
    run.expect_running()?;
    dns.set_hosts(&format!(
        "10.244.2.1 {a}.svc.cluster.local\n10.244.2.3 {c}.svc.cluster.local\n"
    ))?;
    run.expect_exit(0, LONG)?;
    run.expect_line(&format!("{c}: ready after"))?;
    run.expect_line("ready: 2 of 3 targets")?;
    run.expect_no_line(&format!("{b}: ready"))?;
    Ok(())
}
