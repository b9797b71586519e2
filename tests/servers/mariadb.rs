//! A MariaDB server for the mysql:// tests: mariadb-install-db and mariadbd as the package's
//! user `mysql` in a temp dir, on a loopback (or namespace) address, with the options a test
//! needs (max_connect_errors, max_connections), and what the tests do to it: run SQL over its
//! unix socket, hold connections, ask whether a real client (`mariadb`) can log in, FLUSH HOSTS.
//!
//! Readiness is polled over the unix socket, never over TCP: every TCP connect-and-close is
//! logged, and from a non-loopback address counted toward max_connect_errors.
// Each test crate uses a part of this module.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::netns::Netns;
use crate::servers::{Dir, Process, STARTUP, command_as, find, free_port, wait_until};

/// How to start one server.
pub struct Options {
    /// The address mariadbd binds (and the tests connect to).
    pub bind: String,
    pub max_connect_errors: Option<u32>,
    pub max_connections: Option<u32>,
    /// performance_schema on, for `performance_schema.host_cache`.
    pub performance_schema: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            bind: "127.0.0.1".into(),
            max_connect_errors: None,
            max_connections: None,
            performance_schema: false,
        }
    }
}

/// A running server; killed (SIGTERM, then SIGKILL) when dropped.
pub struct Mariadb {
    pub addr: SocketAddr,
    socket: PathBuf,
    log: PathBuf,
    client: PathBuf,
    /// The namespace's holder PID, when the server runs in one.
    netns: Option<i32>,
    process: Option<Process>,
    // Dropped last: the server's files.
    dir: Dir,
}

/// The package's user: mariadbd refuses to run as root and wants its files owned by it.
fn mysql_user() -> Option<(u32, u32)> {
    let name = c"mysql";
    // SAFETY: getpwnam with a NUL-terminated name; the result is read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    // SAFETY: a non-null result points to a valid passwd record.
    (!pw.is_null()).then(|| unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

impl Mariadb {
    /// Installs a data directory and starts mariadbd (inside `netns` when given). Err says why
    /// it cannot run here: the caller skips with it.
    pub fn start(name: &str, options: &Options, netns: Option<&Netns>) -> Result<Mariadb, String> {
        let missing = || "mariadbd is not installed (apt-get install mariadb-server)".to_string();
        let server = find("mariadbd", &["/usr/sbin/mariadbd"]).ok_or_else(missing)?;
        let install = find("mariadb-install-db", &[]).ok_or_else(missing)?;
        let client = find("mariadb", &[]).ok_or_else(missing)?;
        let owner = mysql_user().ok_or("no user mysql (apt-get install mariadb-server)")?;
        if !crate::servers::is_root() {
            return Err("needs root to run mariadbd as the user mysql".into());
        }
        let dir = Dir::new(&format!("mariadb-{name}"), owner);
        let data = dir.join("data");
        let log = dir.join("server.log");
        let install_log = dir.join("install.log");
        let out = command_as(&install, owner, &install_log)
            .args(["--no-defaults", "--auth-root-authentication-method=normal"])
            .args(["--skip-test-db", "--skip-name-resolve"])
            .arg(format!("--datadir={}", data.display()))
            .current_dir(dir.path())
            .status()
            .map_err(|e| format!("mariadb-install-db: {e}"))?;
        assert!(
            out.success(),
            "mariadb-install-db: {out}\n{}",
            crate::servers::log_text(&install_log)
        );
        let port = free_port();
        let socket = dir.join("mysqld.sock");
        let mut args = vec![
            "--no-defaults".to_string(),
            format!("--datadir={}", data.display()),
            format!("--socket={}", socket.display()),
            format!("--pid-file={}", dir.join("mysqld.pid").display()),
            format!("--log-error={}", log.display()),
            format!("--bind-address={}", options.bind),
            format!("--port={port}"),
            "--innodb-buffer-pool-size=16M".into(),
            "--skip-log-bin".into(),
        ];
        if let Some(n) = options.max_connect_errors {
            args.push(format!("--max-connect-errors={n}"));
        }
        if let Some(n) = options.max_connections {
            args.push(format!("--max-connections={n}"));
        }
        if options.performance_schema {
            args.push("--performance-schema=ON".into());
        }
        let console = dir.join("console.log");
        let mut c = match netns {
            Some(ns) => ns.command_as(&server, owner, &console),
            None => command_as(&server, owner, &console),
        };
        c.args(&args).current_dir(dir.path());
        let process = Process::spawn("mariadbd", c);
        let addr = SocketAddr::new(options.bind.parse().expect("an IP to bind"), port);
        let mut db = Mariadb {
            addr,
            socket,
            log,
            client,
            netns: netns.map(Netns::pid),
            process: Some(process),
            dir,
        };
        wait_until("mariadbd answers on its socket", STARTUP, || {
            db.assert_running();
            db.sql("SELECT 1").is_ok()
        });
        // The account a real client logs in with (no password, from anywhere).
        db.sql("CREATE USER control@'%'")
            .expect("create the control user");
        Ok(db)
    }

    fn assert_running(&mut self) {
        if let Some(p) = self.process.as_mut() {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!(
                    "mariadbd exited: {status}\n{}",
                    crate::servers::log_text(&self.log)
                );
            }
        }
    }

    /// Runs SQL as root over the unix socket: its output, or the client's error.
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(&self.client)
            .args([
                "--no-defaults",
                "--batch",
                "--skip-column-names",
                "-u",
                "root",
            ])
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-e", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("mariadb: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    pub fn flush_hosts(&self) {
        self.sql("FLUSH HOSTS").expect("FLUSH HOSTS");
    }

    /// Whether a real client logs in over TCP (from inside the namespace, when there is one):
    /// Ok, or its error (`ERROR 1129 (HY000): Host '192.0.2.10' is blocked ...`).
    pub fn real_client(&self) -> Result<(), String> {
        let mut c = match self.netns {
            Some(pid) => crate::netns::command_in(pid, &self.client),
            None => Command::new(&self.client),
        };
        let out = c
            .args([
                "--no-defaults",
                "--skip-ssl",
                "--protocol=TCP",
                "-u",
                "control",
            ])
            .args([
                "-h",
                &self.addr.ip().to_string(),
                "-P",
                &self.addr.port().to_string(),
            ])
            .args(["--connect-timeout=5", "-e", "SELECT 1"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("mariadb: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Holds up to `n` connections logged in as root (with SUPER, so the reserve connection
    /// too); stops early when the server refuses with a first-packet ERR. From loopback only.
    pub fn hold(&self, n: usize) -> Vec<TcpStream> {
        let mut held = Vec::new();
        for _ in 0..n {
            let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
                .expect("connect to mariadbd");
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let greeting = read_packet(&mut s).expect("a first packet");
            if greeting.first() == Some(&0xff) {
                break;
            }
            s.write_all(&raw_login("root")).expect("send a login");
            let reply = read_packet(&mut s).expect("a login reply");
            assert_eq!(reply.first(), Some(&0), "root login: {reply:?}");
            held.push(s);
        }
        held
    }

    /// The server's error log, for failure messages.
    pub fn log(&self) -> String {
        crate::servers::log_text(&self.log)
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        if let Some(p) = self.process.take() {
            p.stop(Duration::from_secs(5));
        }
    }
}

/// One packet's payload (a test helper: a claimed length is trusted up to 64 KiB).
pub fn read_packet(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
    assert!(len < 65536, "a packet of {len} bytes");
    let mut payload = vec![0; len];
    s.read_exact(&mut payload)?;
    Ok(payload)
}

/// A HandshakeResponse41 for `user` without a password, written here independently of the
/// code under test.
pub fn raw_login(user: &str) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&(0x1u32 | 0x200 | 0x8000 | 0x8_0000).to_le_bytes());
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(33);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(user.as_bytes());
    p.extend_from_slice(b"\0\0mysql_native_password\0");
    let mut packet = (p.len() as u32).to_le_bytes()[..3].to_vec();
    packet.push(1);
    packet.extend(p);
    packet
}
