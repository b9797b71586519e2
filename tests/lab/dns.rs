//! The lab's own DNS server: small, synchronous and authoritative, on UDP and TCP, with a zone and
//! per-name, per-type faults that a scenario changes while service-precheck is running.
//!
//! It exists because no packaged server can be told "SERVFAIL only the AAAA of this name, now stop".
//! Messages are parsed and built with hickory-proto; everything else is std.
//!
//! `make demo` uses this same file as its cluster DNS (`examples/demo/main.rs` includes it with
//! `#[path]`), so the demo needs no DNS server installed and there is one implementation to keep.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// What the server does instead of (or before) answering from the zone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    NxDomain,
    NoData,
    ServFail,
    Refused,
    /// No answer at all.
    Drop,
    /// The zone's answer, this much later.
    Delay(Duration),
    /// Over UDP an empty answer with the TC bit; over TCP the full answer.
    Truncate,
}

/// One query the server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub name: String,
    pub rtype: RecordType,
    pub tcp: bool,
}

#[derive(Default)]
struct State {
    /// Lower-case names without the trailing dot.
    records: HashMap<String, Vec<IpAddr>>,
    /// `None` as the type: every type.
    faults: HashMap<(String, Option<RecordType>), Fault>,
    /// SOA minimum on negative answers, so a caching server in front caches them this long.
    negative_ttl: u32,
    queries: Vec<Seen>,
}

/// A handle on a running server; cloning shares the zone.
#[derive(Clone)]
pub struct Server {
    shared: Arc<(Mutex<State>, Condvar)>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Server {
    /// Serves on `ip` port 53, UDP and TCP, until the process ends.
    pub fn start(ip: IpAddr) -> io::Result<Server> {
        let server = Server {
            shared: Arc::new((Mutex::new(State::default()), Condvar::new())),
        };
        let udp = UdpSocket::bind(SocketAddr::new(ip, 53))?;
        let tcp = TcpListener::bind(SocketAddr::new(ip, 53))?;
        let s = server.clone();
        thread::Builder::new().spawn(move || s.serve_udp(udp))?;
        let s = server.clone();
        thread::Builder::new().spawn(move || s.serve_tcp(tcp))?;
        Ok(server)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a server thread panicked: the scenario fails anyway.
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the addresses of `name` (an empty list keeps the name, with no address: NODATA).
    pub fn set(&self, name: &str, addrs: &[IpAddr]) {
        self.state().records.insert(key(name), addrs.to_vec());
    }

    /// Takes `name` out of the zone: from now on it is NXDOMAIN.
    pub fn remove(&self, name: &str) {
        self.state().records.remove(&key(name));
    }

    /// Sets a fault on `name` (`*`: every name), for one record type or (`None`) all of them.
    pub fn fault(&self, name: &str, rtype: Option<RecordType>, fault: Fault) {
        self.state().faults.insert((key(name), rtype), fault);
    }

    /// Ends every fault on `name`.
    pub fn clear_faults(&self, name: &str) {
        let name = key(name);
        self.state().faults.retain(|(n, _), _| *n != name);
    }

    pub fn set_negative_ttl(&self, secs: u32) {
        self.state().negative_ttl = secs;
    }

    /// Every query received so far.
    pub fn queries(&self) -> Vec<Seen> {
        self.state().queries.clone()
    }

    /// Waits until the server has received more than `n` queries in all.
    pub fn wait_queries(&self, n: usize, timeout: Duration) -> Result<(), String> {
        let end = Instant::now() + timeout;
        let mut state = self.state();
        while state.queries.len() <= n {
            let now = Instant::now();
            if now >= end {
                return Err(format!("the DNS server got no query after the first {n}"));
            }
            state = match self.shared.1.wait_timeout(state, end - now) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
        Ok(())
    }

    fn serve_udp(&self, sock: UdpSocket) {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((len, peer)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Some((reply, delay)) = self.answer(&buf[..len], false) else {
                continue;
            };
            match (delay, sock.try_clone()) {
                (Some(d), Ok(sock)) => {
                    let _ = thread::Builder::new().spawn(move || {
                        thread::sleep(d);
                        let _ = sock.send_to(&reply, peer);
                    });
                }
                _ => {
                    let _ = sock.send_to(&reply, peer);
                }
            }
        }
    }

    fn serve_tcp(&self, listener: TcpListener) {
        for conn in listener.incoming().flatten() {
            let s = self.clone();
            let _ = thread::Builder::new().spawn(move || s.serve_conn(conn));
        }
    }

    fn serve_conn(&self, mut conn: TcpStream) {
        loop {
            let mut len = [0u8; 2];
            if conn.read_exact(&mut len).is_err() {
                return;
            }
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if conn.read_exact(&mut msg).is_err() {
                return;
            }
            let Some((reply, delay)) = self.answer(&msg, true) else {
                continue;
            };
            if let Some(d) = delay {
                thread::sleep(d);
            }
            // The reply was built from a message of at most 64 KiB and so fits the length prefix.
            let len = u16::try_from(reply.len()).unwrap_or(u16::MAX).to_be_bytes();
            if conn
                .write_all(&len)
                .and_then(|()| conn.write_all(&reply))
                .is_err()
            {
                return;
            }
        }
    }

    /// The reply to one query and how long to hold it back, or `None` to stay silent.
    fn answer(&self, query: &[u8], tcp: bool) -> Option<(Vec<u8>, Option<Duration>)> {
        let req = Message::from_vec(query).ok()?;
        let q = req.queries().first()?.clone();
        let name = key(&q.name().to_ascii());
        let rtype = q.query_type();
        let mut state = self.state();
        state.queries.push(Seen {
            name: name.clone(),
            rtype,
            tcp,
        });
        self.shared.1.notify_all();
        let fault = [(name.as_str(), Some(rtype)), (&name, None), ("*", None)]
            .into_iter()
            .find_map(|(n, t)| state.faults.get(&(n.to_string(), t)))
            .copied();

        let mut resp = Message::new();
        resp.set_id(req.id())
            .set_message_type(MessageType::Response)
            .set_op_code(req.op_code())
            .set_recursion_desired(req.recursion_desired())
            .set_recursion_available(true)
            .set_authoritative(true)
            .add_query(q.clone());
        let soa = soa_record(&name, state.negative_ttl);
        let mut delay = None;
        match fault {
            Some(Fault::Drop) => return None,
            Some(Fault::ServFail) => {
                resp.set_response_code(ResponseCode::ServFail);
            }
            Some(Fault::Refused) => {
                resp.set_response_code(ResponseCode::Refused);
            }
            Some(Fault::NxDomain) => {
                resp.set_response_code(ResponseCode::NXDomain)
                    .add_name_server(soa);
            }
            Some(Fault::NoData) => {
                resp.add_name_server(soa);
            }
            Some(Fault::Truncate) if !tcp => {
                resp.set_truncated(true);
            }
            Some(Fault::Delay(d)) => {
                delay = Some(d);
                answer_from_zone(&state, &name, q.name(), rtype, soa, &mut resp);
            }
            Some(Fault::Truncate) | None => {
                answer_from_zone(&state, &name, q.name(), rtype, soa, &mut resp);
            }
        }
        drop(state);
        let mut bytes = resp.to_vec().ok()?;
        // Plain DNS over UDP carries 512 bytes; a larger answer is cut and flagged, as a real
        // server does, and the client asks again over TCP.
        if !tcp && bytes.len() > 512 {
            bytes = resp.truncate().to_vec().ok()?;
        }
        Some((bytes, delay))
    }
}

fn answer_from_zone(
    state: &State,
    name: &str,
    qname: &Name,
    rtype: RecordType,
    soa: Record,
    resp: &mut Message,
) {
    let Some(addrs) = state.records.get(name) else {
        resp.set_response_code(ResponseCode::NXDomain)
            .add_name_server(soa);
        return;
    };
    let answers: Vec<Record> = (addrs.iter())
        .filter_map(|ip| match (ip, rtype) {
            (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(*v4))),
            (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
            _ => None,
        })
        .map(|rdata| Record::from_rdata(qname.clone(), 0, rdata))
        .collect();
    if answers.is_empty() {
        resp.add_name_server(soa);
    } else {
        resp.add_answers(answers);
    }
}

/// An SOA for the name's last two labels, whose minimum sets how long negative answers are cached.
fn soa_record(name: &str, negative_ttl: u32) -> Record {
    let labels: Vec<&str> = name.split('.').collect();
    let zone = labels[labels.len().saturating_sub(2)..].join(".");
    let zone = Name::from_ascii(format!("{zone}.")).unwrap_or_else(|_| Name::root());
    let mname = Name::from_ascii("ns.lab.test.").unwrap_or_else(|_| Name::root());
    let soa = SOA::new(mname.clone(), mname, 1, 60, 60, 60, negative_ttl);
    Record::from_rdata(zone, negative_ttl, RData::SOA(soa))
}
