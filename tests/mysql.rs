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

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Finished, Running, skip};
use mariadb_server::{Mariadb, Options, raw_login, read_packet};
use netns::Netns;

fn run(c: Command) -> Finished {
    Running::start(c).finish()
}

fn precheck(args: &[&str]) -> Command {
    let mut c = Command::new(common::bin());
    c.env_clear().env("NO_COLOR", "1").args(args);
    c
}

fn start(name: &str, options: &Options, netns: Option<&Netns>) -> Option<Mariadb> {
    match Mariadb::start(name, options, netns) {
        Ok(db) => Some(db),
        Err(why) => {
            skip(&format!("mysql tests ({name})"), &why);
            None
        }
    }
}

#[test]
fn a_running_server_is_ready() {
    let Some(db) = start("up", &Options::default(), None) else {
        return;
    };
    let target = format!("mysql://{}", db.addr);
    // An unknown user: access denied, so the server serves.
    run(precheck(&["-t", "20s", &target]))
        .code(0)
        .logged(&format!("{target}: ready after"));
    // An account without a password: OK, then COM_QUIT.
    let target = format!("mysql://control@{}", db.addr);
    run(precheck(&["-t", "20s", &target]))
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
    let f = run(precheck(&["-t", "1500ms", "-i", "200ms", &target]));
    f.code(1)
        .logged(&format!(
            "{target}: not ready: mysql: 1040 Too many connections"
        ))
        .within(Duration::from_secs(15));
    // A `tcp://` check is fooled: the port accepts.
    run(precheck(&["-t", "5s", &format!("tcp://{}", db.addr)])).code(0);
    let running = Running::start(precheck(&["-t", "20s", "-i", "100ms", &target]));
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
    let ns = match Netns::new("mysql-block", &[CLIENT], &format!("{CLIENT} db.test\n")) {
        Ok(ns) => ns,
        Err(why) => return skip("mysql host-blocking test", &why),
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
        let mut c = ns.command(common::bin());
        c.env_clear().env("NO_COLOR", "1");
        c.args(["-t", "300ms", "-i", "5s", "--connect-timeout", timeout, t]);
        let f = run(c);
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
    let mut c = ns.command(common::bin());
    c.env_clear().env("NO_COLOR", "1");
    c.args(["-t", "300ms", "-i", "5s", &target]);
    run(c).code(1).logged(&format!(
        "{target}: not ready: mysql: 1129 Host '{CLIENT}' is blocked"
    ));
    db.flush_hosts();
    db.real_client().expect("FLUSH HOSTS unblocks");
}

/// A fake server: each connection gets `behave`, and what the client sent is recorded.
struct Fake {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// What a fake does with each connection.
type Behave = fn(&mut TcpStream);

fn fake(behave: Behave) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let got = Arc::new(Mutex::new(Vec::new()));
    let record = got.clone();
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { break };
            let record = record.clone();
            let mut reader = s.try_clone().expect("clone");
            // What the client sent, recorded when it closes.
            thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = reader.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = reader.read_to_end(&mut bytes);
                record.lock().unwrap().push(bytes);
            });
            thread::spawn(move || behave(&mut s));
        }
    });
    Fake { addr, got }
}

impl Fake {
    /// Waits for `n` finished connections and returns what the client sent on each.
    fn sent(&self, n: usize) -> Vec<Vec<u8>> {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n || Instant::now() > until {
                return got;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
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

/// Holds the connection open without a byte, until the client goes.
fn silent(s: &mut TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.peek(&mut [0u8; 1]);
    thread::sleep(Duration::from_secs(3));
}

/// A packet that is not a greeting (garbage in a packet's frame; unframed garbage reads as a
/// huge length, below).
fn garbage(s: &mut TcpStream) {
    let _ = s.write_all(b"\x0d\x00\x00\x00\x09<html>\x1b[0m\x00\xff");
    thread::sleep(Duration::from_secs(3));
}

fn trickle(s: &mut TcpStream) {
    for b in GREETING {
        if s.write_all(&[*b]).is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn endless(s: &mut TcpStream) {
    let junk = [b'A'; 4096];
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && s.write_all(&junk).is_ok() {}
}

fn huge(s: &mut TcpStream) {
    let _ = s.write_all(b"\xff\xff\xff\x00\x0a5.5.5-");
    thread::sleep(Duration::from_secs(3));
}

fn control_chars(s: &mut TcpStream) {
    let _ = s.write_all(&packet(
        0,
        b"\xff\x10\x04\x1b[2J\x1b]0;pwned\x07\r\nToo many\x00",
    ));
    let _ = s.shutdown(Shutdown::Write);
}

/// A greeting, then an AuthSwitchRequest to ed25519 cut short inside its nonce, then silence.
fn switch_then_silent(s: &mut TcpStream) {
    let mut req = b"\xfeclient_ed25519\x00".to_vec();
    req.extend_from_slice(&[7; 32]);
    let req = packet(2, &req);
    let _ = s.write_all(&[GREETING, &req[..req.len() - 10]].concat());
    thread::sleep(Duration::from_secs(3));
}

#[test]
fn hostile_fakes_are_never_ready_and_always_get_the_login() {
    let login = raw_login("service-precheck");
    let cases: [(&str, Behave, &str); 6] = [
        ("silent", silent, "no mysql answer within"),
        (
            "garbage",
            garbage,
            "mysql: not a MySQL greeting: '\\x09<html>\\x1b[0m\\x00\\xff'",
        ),
        ("trickle", trickle, "no mysql answer within"),
        (
            "endless",
            endless,
            "mysql: a packet of 4276545 bytes announced",
        ),
        (
            "huge",
            huge,
            "mysql: a packet of 16777215 bytes announced, more than the 4096",
        ),
        (
            "control",
            control_chars,
            "mysql: 1040 \\x1b[2J\\x1b]0;pwned\\x07\\x0d\\x0aToo many\\x00 (127.0.0.1:",
        ),
    ];
    for (name, behave, reason) in cases {
        let f = fake(behave);
        let target = format!("mysql://{}", f.addr);
        let run = run(precheck(&[
            "-t",
            "1s",
            "-i",
            "5s",
            "--connect-timeout",
            "500ms",
            &target,
        ]));
        run.code(1)
            .logged(&format!("{target}: not ready: {reason}"))
            .not_logged("ready after")
            .within(Duration::from_secs(8));
        assert!(!run.log.contains('\x1b'), "{name}: a raw escape in the log");
        let sent = f.sent(1);
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
    // (The fake does not wait for the login: the client sends it on the greeting.)
    let f = fake(switch_then_silent);
    let target = format!("mysql://{}", f.addr);
    run(precheck(&[
        "-t",
        "1s",
        "-i",
        "5s",
        "--connect-timeout",
        "500ms",
        &target,
    ]))
    .code(1)
    .logged("no mysql answer within");
    let sent = f.sent(1);
    let mut want = login.clone();
    want.extend(packet(3, &[0; 64]));
    assert_eq!(sent, vec![want]);
}
