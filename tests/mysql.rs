//! mysql:// against a real MariaDB and against hostile fakes: ready when the server logs a client
//! in or says "access denied", not ready at 1040, and never a cause of `max_connect_errors`
//! blocking the client's host (1129) — with a naive probe as the control that does get it
//! blocked, in the same namespace, in the same test.

mod common;
#[path = "servers/mariadb.rs"]
mod mariadb_server;
#[path = "servers/netns.rs"]
mod netns;
mod servers;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::fake::{Fake, Step, after};
use common::{Running, cmd, one_attempt, or_skip, refused_once, run};
use mariadb_server::{Mariadb, Options, raw_login, read_packet};
use netns::Netns;

fn start(name: &str, options: &Options, netns: Option<&Netns>) -> Option<Mariadb> {
    let what = format!("mysql tests ({name})");
    or_skip(&what, Mariadb::start(name, options, netns))
}

#[test]
fn a_running_server_is_ready() {
    let Some(db) = start("up", &Options::default(), None) else {
        return;
    };
    let target = format!("mysql://{}", db.addr);
    // An unknown user: access denied, so the server serves.
    run(cmd(&["-t", "20s", &target]))
        .code(0)
        .logged(&format!("{target}: ready after"));
    // An account without a password: OK, then COM_QUIT.
    let target = format!("mysql://control@{}", db.addr);
    run(cmd(&["-t", "20s", &target]))
        .code(0)
        .logged(&format!("{target}: ready after"));
    assert!(
        !db.log().contains("Aborted connection"),
        "a probe left without logging in:\n{}",
        db.log()
    );
}

#[test]
fn too_many_connections_is_not_ready_until_one_is_free() {
    let options = Options {
        max_connections: Some(10),
        ..Options::default()
    };
    let Some(db) = start("full", &options, None) else {
        return;
    };
    let mut held = db.hold(12);
    // max_connections plus the SUPER reserve; the twelfth got a first-packet 1040.
    assert_eq!(held.len(), 11);
    let target = format!("mysql://{}", db.addr);
    let f = run(cmd(&["-t", "1500ms", "-i", "200ms", &target]));
    f.code(1)
        .logged(&format!(
            "{target}: not ready: mysql: 1040 Too many connections"
        ))
        .within(Duration::from_secs(15));
    // A `tcp://` check is fooled: the port accepts.
    run(cmd(&["-t", "5s", &format!("tcp://{}", db.addr)])).code(0);
    let running = Running::start(cmd(&["-t", "20s", "-i", "100ms", &target]));
    let mut running = running;
    running.wait_for("mysql: 1040 Too many connections");
    held.truncate(9);
    running
        .finish()
        .code(0)
        .logged(&format!("{target}: ready after"));
}

/// Connects from inside the namespace, reads the first packet, closes: what a naive probe
/// (or `tcp://` plus a read) does. Returns the first packet's payload.
fn naive_probe(ns: &Netns, addr: SocketAddr) -> Vec<u8> {
    ns.run(|| {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        read_packet(&mut s).expect("a first packet")
    })
}

fn host_errors(db: &Mariadb) -> String {
    db.sql(
        "SELECT IP, HOST, SUM_CONNECT_ERRORS, COUNT_HANDSHAKE_ERRORS, \
         COUNT_AUTHENTICATION_ERRORS FROM performance_schema.host_cache",
    )
    .expect("read the host cache")
}

#[test]
fn probes_never_get_the_host_blocked_and_a_naive_probe_does() {
    const CLIENT: &str = "192.0.2.10";
    let ns = Netns::new("mysql-block", &[CLIENT], &format!("{CLIENT} db.test\n"));
    let Some(ns) = or_skip("mysql host-blocking test", ns) else {
        return;
    };
    let options = Options {
        bind: CLIENT.into(),
        max_connect_errors: Some(2),
        performance_schema: true,
        ..Options::default()
    };
    let Some(db) = start("block", &options, Some(&ns)) else {
        return;
    };
    let target = format!("mysql://{}", db.addr);
    let by_name = format!("mysql://db.test:{}", db.addr.port());
    // Twenty runs, one attempt each. Some with a connect timeout so short that the attempt
    // ends before or in the middle of the greeting: the login goes out anyway.
    let timeouts = [
        "2s", "1ms", "2s", "2ms", "2s", "3ms", "5ms", "2s", "1ms", "10ms",
    ];
    let (mut ready, mut cut) = (0, 0);
    let mut reasons = Vec::new();
    for (n, timeout) in timeouts.iter().cycle().take(20).enumerate() {
        let t = if n % 3 == 1 { &by_name } else { &target };
        let f = run(ns.cmd(&["-t", "300ms", "-i", "5s", "--connect-timeout", timeout, t]));
        match f.status.code() {
            Some(0) => ready += 1,
            Some(1) => {
                assert!(
                    !f.log.contains("1129"),
                    "blocked after {n} runs:\n{}",
                    f.log
                );
                reasons.extend(
                    f.log
                        .lines()
                        .filter(|l| l.contains("not ready"))
                        .map(String::from),
                );
                cut += 1;
            }
            _ => panic!("run {n}: {:?}\n{}", f.status, f.log),
        }
    }
    eprintln!("20 probes: {ready} ready, {cut} ended early by a short connect timeout");
    for r in &reasons {
        eprintln!("  {r}");
    }
    // The runs with a 2 s connect timeout cannot be cut short.
    assert!(ready >= 8, "only {ready} of 20 probes were ready");
    let cache = host_errors(&db);
    db.real_client()
        .unwrap_or_else(|e| panic!("a real client cannot connect after the probes: {e}\n{cache}"));
    // No probe counted: the host cache has no connect error for the client.
    for line in cache.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.get(2), Some(&"0"), "connect errors counted: {cache}");
    }
    // The control: a naive probe gets the host blocked after max_connect_errors (2) greetings
    // read and closed.
    let mut greetings = 0;
    let first = loop {
        let first = naive_probe(&ns, db.addr);
        if first.first() != Some(&10) || greetings == 10 {
            break first;
        }
        greetings += 1;
    };
    assert_eq!(
        &first[..3],
        b"\xff\x69\x04",
        "1129 expected after {greetings} naive probes: {}",
        String::from_utf8_lossy(&first)
    );
    assert_eq!(greetings, 2, "naive probes before the block");
    let e = db
        .real_client()
        .expect_err("the naive probes did not block the host");
    assert!(e.contains("1129"), "{e}");
    run(ns.cmd(&["-t", "300ms", "-i", "5s", &target]))
        .code(1)
        .logged(&format!(
            "{target}: not ready: mysql: 1129 Host '{CLIENT}' is blocked"
        ));
    db.flush_hosts();
    db.real_client().expect("FLUSH HOSTS unblocks");
}

/// A fake server's script: each connection records all the client sends (until it closes)
/// while `then` runs, and stays open until the client closes it.
fn recording(then: Vec<Step>) -> Vec<Step> {
    after(Step::Record, then)
}

/// What the client sent on each connection so far, once the first connection has ended.
fn sent(f: &Fake) -> Vec<Vec<u8>> {
    f.read(0, 0);
    f.sent()
}

/// Packets as a server writes them (test helper).
fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(payload);
    p
}

const GREETING: &[u8] = b"d\x00\x00\x00\n5.5.5-10.11.19-MariaDB-0+deb12u1\x00\x03\x00\x00\x00\
    {bWnEN7i\x00\xfe\xf7\x08\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00\
    *5i3_ghTKZb\\\x00mysql_native_password\x00";

#[test]
fn hostile_fakes_are_never_ready_and_always_get_the_login() {
    let login = raw_login("service-precheck");
    let cases: [(&str, Vec<Step>, &str); 6] = [
        // Holds the connection open without a byte, until the client goes.
        ("silent", vec![], "no mysql answer within"),
        // A packet that is not a greeting (garbage in a packet's frame; unframed garbage reads
        // as a huge length, below).
        (
            "garbage",
            vec![Step::send(b"\x0d\x00\x00\x00\x09<html>\x1b[0m\x00\xff")],
            "mysql: not a MySQL greeting: '\\x09<html>\\x1b[0m\\x00\\xff'",
        ),
        (
            "trickle",
            vec![Step::trickle(GREETING, Duration::from_millis(100))],
            "no mysql answer within",
        ),
        (
            "endless",
            vec![Step::endless([b'A'; 4096], Duration::ZERO)],
            "mysql: a packet of 4276545 bytes announced",
        ),
        (
            "huge",
            vec![Step::send(b"\xff\xff\xff\x00\x0a5.5.5-")],
            "mysql: a packet of 16777215 bytes announced, more than the 4096",
        ),
        (
            "control",
            vec![Step::Send(packet(
                0,
                b"\xff\x10\x04\x1b[2J\x1b]0;pwned\x07\r\nToo many\x00",
            ))],
            "mysql: 1040 \\x1b[2J\\x1b]0;pwned\\x07\\x0d\\x0aToo many\\x00 (127.0.0.1:",
        ),
    ];
    for (name, script, reason) in cases {
        let f = Fake::start(recording(script));
        refused_once(&format!("mysql://{}", f.addr), reason);
        let sent = sent(&f);
        assert_eq!(sent.len(), 1, "{name}: one connection");
        if name == "control" {
            // A first-packet ERR: the server refused, nothing is owed.
            assert_eq!(sent[0], b"", "{name}");
        } else {
            assert_eq!(
                sent[0], login,
                "{name}: the login was not sent before closing"
            );
        }
    }
    // An AuthSwitchRequest left hanging is answered: 64 zero bytes for ed25519, sequence 3.
    // (The fake does not wait for the login: the client sends it on the greeting.) A greeting,
    // then the request to switch to ed25519 cut short inside its nonce, then silence.
    let mut req = b"\xfeclient_ed25519\x00".to_vec();
    req.extend_from_slice(&[7; 32]);
    let req = packet(2, &req);
    let greeting_then_switch = [GREETING, &req[..req.len() - 10]].concat();
    let f = Fake::start(recording(vec![Step::Send(greeting_then_switch)]));
    run(one_attempt(&format!("mysql://{}", f.addr)))
        .code(1)
        .logged("no mysql answer within");
    let mut want = login.clone();
    want.extend(packet(3, &[0; 64]));
    assert_eq!(sent(&f), vec![want]);
}

/// The deadline ends the run in the middle of a conversation (the fake is silent and the
/// connect timeout is longer than the deadline): the login still goes out before the process
/// is gone, and so does it when a signal ends the run.
#[test]
fn the_login_is_sent_when_the_run_ends_mid_conversation() {
    let login = raw_login("service-precheck");
    let f = Fake::start(recording(vec![]));
    let target = format!("mysql://{}", f.addr);
    let args = ["-t", "300ms", "--connect-timeout", "5s", &target];
    run(cmd(&args))
        .code(1)
        .logged(&format!(
            "{target}: not ready at the deadline: no answer yet"
        ))
        .within(Duration::from_secs(4));
    assert_eq!(
        sent(&f),
        std::slice::from_ref(&login),
        "the login was not sent at the deadline"
    );

    let f = Fake::start(recording(vec![]));
    let target = format!("mysql://{}", f.addr);
    let mut running = Running::start(cmd(&["--connect-timeout", "5s", &target]));
    running.wait_for("waiting for 1 target");
    let connected = || f.accepted() > 0;
    servers::wait_until("the probe connects", Duration::from_secs(10), connected);
    running.signal(libc::SIGTERM);
    running.finish().code(143);
    assert_eq!(sent(&f), [login], "the login was not sent on SIGTERM");
}
