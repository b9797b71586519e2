//! The TCP half of an attempt: connect to every address of a family at once, bounded in time.
//!
//! A connection counts only when something else accepted it: Linux lets a loopback connect to a
//! port in the ephemeral range pick that same port as its source and connect to itself, which is
//! not a listener. The connection is closed at once; nothing is sent.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

/// Why one connect did not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectError {
    Refused,
    TimedOut(Duration),
    /// The socket connected to itself: nothing listens on that port.
    ToItself,
    Other(String),
}

/// Connects to every address at once (a hung address must not delay the others). Returns, in
/// `ips` order, the addresses that accepted and the first failure.
pub fn connect_all(
    ips: &[IpAddr],
    port: u16,
    timeout: Duration,
) -> (Vec<SocketAddr>, Option<(SocketAddr, ConnectError)>) {
    let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
    let results: Vec<Result<(), ConnectError>> = if addrs.len() == 1 {
        vec![connect(addrs[0], timeout)]
    } else {
        thread::scope(|s| {
            let handles: Vec<_> = addrs
                .iter()
                .map(|&addr| {
                    thread::Builder::new()
                        .stack_size(64 * 1024)
                        .spawn_scoped(s, move || connect(addr, timeout))
                })
                .collect();
            handles
                .into_iter()
                .zip(&addrs)
                .map(|(handle, &addr)| match handle {
                    // Panics abort the process (panic = "abort"), so join only returns Ok.
                    Ok(h) => h
                        .join()
                        .unwrap_or(Err(ConnectError::Other("panicked".into()))),
                    // No thread to spare: connect from this one instead.
                    Err(_) => connect(addr, timeout),
                })
                .collect()
        })
    };
    let mut ok = Vec::new();
    let mut failure = None;
    for (addr, result) in addrs.into_iter().zip(results) {
        match result {
            Ok(()) => ok.push(addr),
            Err(e) => {
                failure = failure.or(Some((addr, e)));
            }
        }
    }
    (ok, failure)
}

/// One connect, bounded by `timeout`; counts only a connection to another socket.
pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<(), ConnectError> {
    let stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| connect_error(&e, timeout))?;
    match stream.local_addr() {
        Ok(local) if local == addr => Err(ConnectError::ToItself),
        Ok(_) => Ok(()),
        Err(e) => Err(ConnectError::Other(e.to_string())),
    }
}

fn connect_error(e: &io::Error, timeout: Duration) -> ConnectError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectError::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnectError::TimedOut(timeout),
        _ => ConnectError::Other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn connect_errors_map_to_reasons() {
        let t = Duration::from_millis(300);
        let e = |kind| connect_error(&io::Error::from(kind), t);
        assert_eq!(e(io::ErrorKind::ConnectionRefused), ConnectError::Refused);
        assert_eq!(e(io::ErrorKind::TimedOut), ConnectError::TimedOut(t));
        assert_eq!(e(io::ErrorKind::WouldBlock), ConnectError::TimedOut(t));
        let unreachable = connect_error(&io::Error::from_raw_os_error(libc::ENETUNREACH), t);
        assert!(
            matches!(&unreachable, ConnectError::Other(text) if text.contains("nreachable")),
            "{unreachable:?}"
        );
    }

    #[test]
    fn connect_all_tries_every_address() {
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = open.local_addr().unwrap().port();
        // 127.0.0.2 is loopback too, but nothing listens there on this port.
        let ips: Vec<IpAddr> = vec!["127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        let (ok, failure) = connect_all(&ips, port, Duration::from_secs(1));
        assert_eq!(
            ok,
            [format!("127.0.0.1:{port}").parse::<SocketAddr>().unwrap()]
        );
        let failed: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
        assert_eq!(failure, Some((failed, ConnectError::Refused)));
    }
}
