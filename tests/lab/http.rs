//! An http:// target on a name that does not exist yet, as in a pod waiting for Keycloak: the name
//! appears in the lab's DNS, then the port opens, then the service answers 503, then 200.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::Scenario;
use crate::dns::Server;
use crate::lab::{K8S_SEARCH, LONG, Lab, addr, listen};

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "http_name_appears_then_port_then_200",
        needs_dnsmasq: false,
        run: keycloak,
    }]
}

/// The pod's own address in the lab: the service runs "there".
const IP: &str = "10.244.0.10";

/// A tiny HTTP server answering every request with the current status; it sends each request
/// head it reads on `heads`.
fn serve(listener: TcpListener, status: Arc<Mutex<(u16, &'static str)>>, heads: Sender<String>) {
    for mut conn in listener.incoming().flatten() {
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
            match conn.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        let _ = heads.send(String::from_utf8_lossy(&head).into_owned());
        let (code, phrase) = *status.lock().unwrap_or_else(|e| e.into_inner());
        let _ = write!(
            conn,
            "HTTP/1.1 {code} {phrase}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
}

fn keycloak(lab: &Lab) -> Result<(), String> {
    lab.resolv_conf(&format!("nameserver 127.0.0.53\n{K8S_SEARCH}"))?;
    let dns = Server::start(addr("127.0.0.53")).map_err(|e| format!("DNS server: {e}"))?;
    let target = "http://keycloak:8080/health/ready";
    let mut run = lab.precheck(&["-i", "100ms", "-t", "60s", target])?;
    run.wait_line(
        &format!("{target}: not ready: no such name (NXDOMAIN)"),
        LONG,
    )?;
    dns.set("keycloak.ns1.svc.cluster.local", &[addr(IP)]);
    run.wait_line(
        &format!("{target}: not ready: connection refused ({IP}:8080)"),
        LONG,
    )?;
    let status = Arc::new(Mutex::new((503, "Service Unavailable")));
    let (tx, heads): (Sender<String>, Receiver<String>) = mpsc::channel();
    let listener = listen(&format!("{IP}:8080"))?;
    let shared = Arc::clone(&status);
    thread::spawn(move || serve(listener, shared, tx));
    run.wait_line(
        &format!("{target}: not ready: HTTP 503 Service Unavailable ({IP}:8080)"),
        LONG,
    )?;
    run.expect_running()?;
    *status.lock().unwrap_or_else(|e| e.into_inner()) = (200, "OK");
    run.expect_exit(0, LONG)?;
    let line = run.expect_line(&format!("{target}: ready after"))?;
    // The address, then the name that answered through the pod's search list.
    let want = format!("s: {IP}:8080 (as keycloak.ns1.svc.cluster.local)");
    if !line.ends_with(&want) {
        return Err(format!("the ready line does not end in {want:?}: {line}"));
    }
    let head = heads
        .recv_timeout(LONG)
        .map_err(|_| "the server read no request")?;
    // The Host header is the name as written in the target, not the search-list expansion.
    let want = "GET /health/ready HTTP/1.1\r\nHost: keycloak:8080\r\n";
    if !head.starts_with(want) {
        return Err(format!("request {head:?} does not start with {want:?}"));
    }
    Ok(())
}
