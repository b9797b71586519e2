//! zk:// against real ZooKeeper (standalone, an ensemble of three members started one by one,
//! a name with three addresses in a private namespace) and against hostile fakes: ready only
//! when `srvr` shows a serving Mode, while `tcp://` is fooled by a member without a quorum.

mod common;
#[path = "servers/netns.rs"]
mod netns;
mod servers;
#[path = "servers/zookeeper.rs"]
mod zookeeper_server;

use std::time::Duration;

use common::fake::{Fake, Step};
use common::{Running, cmd, or_skip, refused_once, run};
use netns::Netns;
use zookeeper_server::Zookeeper;

const NOT_SERVING: &str = "zookeeper: This ZooKeeper instance is not currently serving requests";

fn configure(name: &str, ips: &[&str], ns: Option<&Netns>) -> Option<Zookeeper> {
    let what = format!("zookeeper tests ({name})");
    or_skip(&what, Zookeeper::configure(name, ips, ns))
}

#[test]
fn a_standalone_server_is_ready() {
    let Some(zk) = or_skip("zookeeper tests", Zookeeper::standalone("alone")) else {
        return;
    };
    let target = format!("zk://{}", zk.addr(0));
    run(cmd(&["-t", "30s", "-i", "100ms", &target]))
        .code(0)
        .logged(&format!("{target}: ready after"));
    assert!(zk.srvr(0).contains("Mode: standalone"), "{}", zk.srvr(0));
}

#[test]
fn an_ensemble_is_ready_with_a_quorum_only() {
    let ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    let Some(mut zk) = configure("ensemble", &ips, None) else {
        return;
    };
    zk.start(0);
    zk.wait_for(0, "not currently serving");
    let one = format!("zk://{}", zk.addr(0));
    run(cmd(&["-t", "1500ms", "-i", "200ms", &one]))
        .code(1)
        .logged(&format!("{one}: not ready: {NOT_SERVING} ({})", zk.addr(0)))
        .not_logged("ready after")
        .within(Duration::from_secs(10));
    // The client port accepts without a quorum: tcp:// is ready at once.
    let tcp = format!("tcp://{}", zk.addr(0));
    run(cmd(&["-t", "5s", &tcp]))
        .code(0)
        .within(Duration::from_secs(3));
    // Per-member targets, two needed: waits for the second member.
    let members: Vec<String> = (0..3).map(|i| format!("zk://{}", zk.addr(i))).collect();
    let mut args = vec!["-t", "60s", "-i", "200ms", "--min-ready", "2"];
    args.extend(members.iter().map(String::as_str));
    let mut running = Running::start(cmd(&args));
    running.wait_for(NOT_SERVING);
    zk.start(1);
    let f = running.finish();
    f.code(0)
        .logged(&format!("{}: ready after", members[0]))
        .logged(&format!("{}: ready after", members[1]));
    // Two of three up: the first member alone is ready now.
    run(cmd(&["-t", "30s", "-i", "200ms", &one])).code(0);
}

#[test]
fn a_name_with_three_addresses_needs_two_serving() {
    let hosts = "127.0.0.1 zk.test\n127.0.0.2 zk.test\n127.0.0.3 zk.test\n";
    let Some(ns) = or_skip("zookeeper name test", Netns::new("zk-name", &[], hosts)) else {
        return;
    };
    let ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    let Some(mut zk) = configure("named", &ips, Some(&ns)) else {
        return;
    };
    let target = format!("zk://zk.test:{}?min=2", zk.port);
    zk.start(0);
    zk.wait_for(0, "not currently serving");
    run(ns.cmd(&["-t", "1500ms", "-i", "200ms", &target]))
        .code(1)
        .logged(NOT_SERVING)
        .not_logged("ready after");
    let mut running = Running::start(ns.cmd(&["-t", "60s", "-i", "200ms", &target]));
    running.wait_for(NOT_SERVING);
    zk.start(1);
    let f = running.finish();
    f.code(0).logged(&format!("{target}: ready after"));
    // Both serving addresses named, the third (down) not.
    let port = zk.port;
    f.logged(&format!("127.0.0.1:{port}, 127.0.0.2:{port}"));
}

#[test]
fn hostile_fakes_are_never_ready() {
    let cases: [(Vec<Step>, &str); 6] = [
        (vec![Step::Silent], "no zookeeper answer within"),
        (
            vec![Step::send(b"\x00\x00\x00\x2c\x00\x00\x00\x00binary")],
            "zookeeper: \\x00\\x00\\x00,\\x00\\x00\\x00\\x00binary",
        ),
        (
            vec![Step::trickle(
                b"Zookeeper version: 3.8.0\nMode: leader\n",
                Duration::from_millis(100),
            )],
            "no zookeeper answer within",
        ),
        (
            vec![Step::endless([b'Z'; 4096], Duration::ZERO)],
            "zookeeper answer longer than 4096 bytes",
        ),
        (
            vec![Step::send(
                b"\x1b[2J\x1b]0;pwned\x07 ok\r\nMode: \x1b[32mleader\n",
            )],
            "zookeeper: Mode: \\x1b[32mleader",
        ),
        (
            vec![Step::send(
                b"srvr is not executed because it is not in the whitelist.\n",
            )],
            "zookeeper: srvr is not executed because it is not in the whitelist.",
        ),
    ];
    for (script, reason) in cases {
        let server = Fake::start(script);
        refused_once(&format!("zk://{}", server.addr), reason);
    }
}
