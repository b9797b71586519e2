//! zk:// against real ZooKeeper (standalone, an ensemble of three members started one by one,
//! a name with three addresses in a private namespace) and against hostile fakes: ready only
//! when `srvr` shows a serving Mode, while `tcp://` is fooled by a member without a quorum.

mod common;
#[path = "servers/netns.rs"]
mod netns;
mod servers;
#[path = "servers/zookeeper.rs"]
mod zookeeper_server;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Finished, Running, skip};
use netns::Netns;
use zookeeper_server::Zookeeper;

const NOT_SERVING: &str = "zookeeper: This ZooKeeper instance is not currently serving requests";

fn run(c: Command) -> Finished {
    Running::start(c).finish()
}

fn precheck(args: &[&str]) -> Command {
    let mut c = Command::new(common::bin());
    c.env_clear().env("NO_COLOR", "1").args(args);
    c
}

fn configure(name: &str, ips: &[&str], ns: Option<&Netns>) -> Option<Zookeeper> {
    match Zookeeper::configure(name, ips, ns) {
        Ok(zk) => Some(zk),
        Err(why) => {
            skip(&format!("zookeeper tests ({name})"), &why);
            None
        }
    }
}

#[test]
fn a_standalone_server_is_ready() {
    let zk = match Zookeeper::standalone("alone") {
        Ok(zk) => zk,
        Err(why) => return skip("zookeeper tests", &why),
    };
    let target = format!("zk://{}", zk.addr(0));
    run(precheck(&["-t", "30s", "-i", "100ms", &target]))
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
    run(precheck(&["-t", "1500ms", "-i", "200ms", &one]))
        .code(1)
        .logged(&format!("{one}: not ready: {NOT_SERVING} ({})", zk.addr(0)))
        .not_logged("ready after")
        .within(Duration::from_secs(10));
    // The client port accepts without a quorum: tcp:// is ready at once.
    let tcp = format!("tcp://{}", zk.addr(0));
    run(precheck(&["-t", "5s", &tcp]))
        .code(0)
        .within(Duration::from_secs(3));
    // Per-member targets, two needed: waits for the second member.
    let members: Vec<String> = (0..3).map(|i| format!("zk://{}", zk.addr(i))).collect();
    let mut args = vec!["-t", "60s", "-i", "200ms", "--min-ready", "2"];
    args.extend(members.iter().map(String::as_str));
    let mut running = Running::start(precheck(&args));
    running.wait_for(NOT_SERVING);
    zk.start(1);
    let f = running.finish();
    f.code(0)
        .logged(&format!("{}: ready after", members[0]))
        .logged(&format!("{}: ready after", members[1]));
    // Two of three up: the first member alone is ready now.
    run(precheck(&["-t", "30s", "-i", "200ms", &one])).code(0);
}

#[test]
fn a_name_with_three_addresses_needs_two_serving() {
    let hosts = "127.0.0.1 zk.test\n127.0.0.2 zk.test\n127.0.0.3 zk.test\n";
    let ns = match Netns::new("zk-name", &[], hosts) {
        Ok(ns) => ns,
        Err(why) => return skip("zookeeper name test", &why),
    };
    let ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    let Some(mut zk) = configure("named", &ips, Some(&ns)) else {
        return;
    };
    let target = format!("zk://zk.test:{}?min=2", zk.port);
    let inside = |args: &[&str]| {
        let mut c = ns.command(common::bin());
        c.env_clear().env("NO_COLOR", "1").args(args);
        c
    };
    zk.start(0);
    zk.wait_for(0, "not currently serving");
    run(inside(&["-t", "1500ms", "-i", "200ms", &target]))
        .code(1)
        .logged(NOT_SERVING)
        .not_logged("ready after");
    let mut running = Running::start(inside(&["-t", "60s", "-i", "200ms", &target]));
    running.wait_for(NOT_SERVING);
    zk.start(1);
    let f = running.finish();
    f.code(0).logged(&format!("{target}: ready after"));
    // Both serving addresses named, the third (down) not.
    let port = zk.port;
    f.logged(&format!("127.0.0.1:{port}, 127.0.0.2:{port}"));
}

/// A fake server that treats every connection with `behave`.
fn fake(behave: fn(&mut TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { break };
            thread::spawn(move || behave(&mut s));
        }
    });
    addr
}

fn silent(_: &mut TcpStream) {
    thread::sleep(Duration::from_secs(5));
}

fn garbage(s: &mut TcpStream) {
    let _ = s.write_all(b"\x00\x00\x00\x2c\x00\x00\x00\x00binary");
}

fn trickle(s: &mut TcpStream) {
    for b in b"Zookeeper version: 3.8.0\nMode: leader\n" {
        if s.write_all(&[*b]).is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn endless(s: &mut TcpStream) {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && s.write_all(&[b'Z'; 4096]).is_ok() {}
}

fn control_chars(s: &mut TcpStream) {
    let _ = s.write_all(b"\x1b[2J\x1b]0;pwned\x07 ok\r\nMode: \x1b[32mleader\n");
}

fn not_whitelisted(s: &mut TcpStream) {
    let _ = s.write_all(b"srvr is not executed because it is not in the whitelist.\n");
}

#[test]
fn hostile_fakes_are_never_ready() {
    type Behave = fn(&mut TcpStream);
    let cases: [(Behave, &str); 6] = [
        (silent, "no zookeeper answer within"),
        (
            garbage,
            "zookeeper: \\x00\\x00\\x00,\\x00\\x00\\x00\\x00binary",
        ),
        (trickle, "no zookeeper answer within"),
        (endless, "zookeeper answer longer than 4096 bytes"),
        (control_chars, "zookeeper: Mode: \\x1b[32mleader"),
        (
            not_whitelisted,
            "zookeeper: srvr is not executed because it is not in the whitelist.",
        ),
    ];
    for (behave, reason) in cases {
        let addr = fake(behave);
        let target = format!("zk://{addr}");
        let f = run(precheck(&[
            "-t",
            "1s",
            "-i",
            "5s",
            "--connect-timeout",
            "500ms",
            &target,
        ]));
        f.code(1)
            .logged(&format!("{target}: not ready: {reason}"))
            .not_logged("ready after")
            .within(Duration::from_secs(8));
        assert!(
            !f.log.contains('\x1b'),
            "a raw escape in the log:\n{}",
            f.log
        );
    }
}
