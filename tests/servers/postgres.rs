//! PostgreSQL servers for tests/postgres.rs, each in a state of SERVER-FACTS.md: trust,
//! scram-sha-256, and a standby with hot_standby = off (57P03) that can be promoted.
//!
//! initdb runs once per test process, as the package's user `postgres` (nobody when there is
//! none; ourselves when not root), into a base directory removed at exit; each server is a
//! `cp -a` of that stopped base with its own port, socket directory and log, started with
//! `pg_ctl -w` and stopped by `pg_ctl -m immediate`, then by the postmaster's PID.
// Each test uses a part of this module.
#![allow(dead_code)]

use std::ffi::CString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::temp_dir;
use crate::servers::{Dir, NOBODY, STARTUP, chown, command_as, find, free_port, log_text, unique};

/// What a missing server says (see common::skip).
pub const MISSING: &str = "initdb, pg_ctl or postgres not found (apt-get install postgresql)";

/// Where Debian keeps the server programs (off PATH).
const LIBDIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/14/bin",
    "/usr/lib/postgresql/13/bin",
];

/// The programs, found together in one directory (initdb, pg_ctl and postgres of one version).
#[derive(Clone, Debug)]
pub struct Programs {
    pub initdb: PathBuf,
    pub pg_ctl: PathBuf,
}

/// initdb and pg_ctl (with postgres beside them), or None when PostgreSQL is not installed.
pub fn programs() -> Option<Programs> {
    let also: Vec<String> = LIBDIRS.iter().map(|d| format!("{d}/initdb")).collect();
    let also: Vec<&str> = also.iter().map(String::as_str).collect();
    let initdb = find("initdb", &also)?;
    // The real directory: Debian's /usr/bin/pg_ctl-like wrappers and symlinks lead there.
    let dir = std::fs::canonicalize(&initdb).ok()?.parent()?.to_path_buf();
    let pg_ctl = dir.join("pg_ctl");
    (pg_ctl.exists() && dir.join("postgres").exists()).then_some(Programs {
        initdb: dir.join("initdb"),
        pg_ctl,
    })
}

/// The user the servers run as: `postgres` when it exists, else nobody.
pub fn owner() -> (u32, u32) {
    let name = CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam with a valid C string; the entry is read at once, before another call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return NOBODY;
    }
    // SAFETY: non-null, from getpwnam just above.
    unsafe { ((*pw).pw_uid, (*pw).pw_gid) }
}

/// The stopped base cluster of this process: initdb once, removed at exit.
struct Base {
    data: PathBuf,
}

static BASE: OnceLock<Result<Base, String>> = OnceLock::new();
static BASE_DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_base() {
    if let Some(dir) = BASE_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn base(programs: &Programs) -> &'static Base {
    let made = BASE.get_or_init(|| {
        let dir = temp_dir("srv-pgbase");
        chown(&dir, owner());
        let _ = BASE_DIR.set(dir.clone());
        // SAFETY: registers a plain function with no arguments, run at exit.
        unsafe { libc::atexit(remove_base) };
        let data = dir.join("data");
        let log = dir.join("initdb.log");
        let status = command_as(&programs.initdb, owner(), &log)
            .current_dir(&dir)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .arg("-D")
            .arg(&data)
            .status()
            .map_err(|e| format!("initdb: {e}"))?;
        if !status.success() {
            return Err(format!("initdb: {status}\n{}", log_text(&log)));
        }
        Ok(Base { data })
    });
    match made {
        Ok(base) => base,
        Err(e) => panic!("cannot make the base cluster: {e}"),
    }
}

/// One running PostgreSQL server on 127.0.0.1:port.
pub struct Postgres {
    pub port: u16,
    programs: Programs,
    data: PathBuf,
    log: PathBuf,
    pid: Option<i32>,
    // Last: removed after the server is stopped.
    dir: Dir,
}

impl Postgres {
    /// `host all all 127.0.0.1/32 trust`: AuthenticationOk for everyone.
    pub fn trust(programs: &Programs) -> Postgres {
        Postgres::start(
            programs,
            "trust",
            "",
            Some("host all all 127.0.0.1/32 trust\n"),
        )
    }

    /// `host all all 127.0.0.1/32 scram-sha-256`: a SASL request for everyone.
    pub fn scram(programs: &Programs) -> Postgres {
        let hba = "host all all 127.0.0.1/32 scram-sha-256\n";
        Postgres::start(programs, "scram", "", Some(hba))
    }

    /// A standby with hot_standby = off whose primary never answers: 57P03 "the database
    /// system is not accepting connections" until `promote`.
    pub fn standby(programs: &Programs) -> Postgres {
        let conf = format!(
            "hot_standby = off\nprimary_conninfo = 'host=127.0.0.1 port={} connect_timeout=1'\n",
            free_port()
        );
        Postgres::start(programs, "standby", &conf, None)
    }

    fn start(programs: &Programs, kind: &str, conf: &str, hba: Option<&str>) -> Postgres {
        let base = base(programs);
        let owner = owner();
        let dir = Dir::new(&unique(&format!("pg-{kind}")), owner);
        let data = dir.join("data");
        let copied = Command::new("cp")
            .arg("-a")
            .arg(&base.data)
            .arg(&data)
            .status()
            .expect("run cp");
        assert!(copied.success(), "cp -a of the base cluster: {copied}");
        let sock = dir.join("sock");
        std::fs::create_dir(&sock).expect("socket directory");
        chown(&sock, owner);
        let port = free_port();
        let mut lines = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\nlog_connections = off\n{conf}",
            sock.display()
        );
        lines.push('\n');
        append(&data.join("postgresql.conf"), &lines);
        if let Some(hba) = hba {
            let local = "local all all trust\n";
            std::fs::write(data.join("pg_hba.conf"), format!("{local}{hba}")).expect("pg_hba");
        }
        if kind == "standby" {
            let signal = data.join("standby.signal");
            std::fs::write(&signal, "").expect("standby.signal");
            chown(&signal, owner);
        }
        let log = dir.join("server.log");
        let mut server = Postgres {
            port,
            programs: programs.clone(),
            data,
            log,
            pid: None,
            dir,
        };
        let out = server.pg_ctl(&["-w", "-t", "30", "start"]);
        assert!(out.0, "pg_ctl start: {}\n{}", out.1, server.log());
        server.pid = std::fs::read_to_string(server.data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()));
        assert!(server.pid.is_some(), "no postmaster.pid after start");
        server
    }

    /// Runs pg_ctl on this server as its owner: whether it succeeded, and its output.
    fn pg_ctl(&self, args: &[&str]) -> (bool, String) {
        let out_file = self.dir.join("pg_ctl.out");
        let status = command_as(&self.programs.pg_ctl, owner(), &out_file)
            .current_dir(self.dir.path())
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(args)
            .stdin(Stdio::null())
            .status()
            .expect("run pg_ctl");
        (status.success(), log_text(&out_file))
    }

    /// Ends recovery: from here on a primary that accepts connections.
    pub fn promote(&self) {
        let out = self.pg_ctl(&["-w", "-t", "30", "promote"]);
        assert!(out.0, "pg_ctl promote: {}\n{}", out.1, self.log());
    }

    /// The postmaster's PID.
    pub fn postmaster(&self) -> i32 {
        self.pid.expect("started servers have a pid")
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        log_text(&self.log)
    }

    /// How long a state may take to reach.
    pub fn patience() -> Duration {
        STARTUP
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open postgresql.conf");
    f.write_all(text.as_bytes())
        .expect("append to postgresql.conf");
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let (stopped, _) = self.pg_ctl(&["-m", "immediate", "-w", "-t", "10", "stop"]);
        if let (false, Some(pid)) = (stopped, self.pid) {
            // SAFETY: SIGKILL to the postmaster this server started, which pg_ctl could not
            // stop (so it has not exited and its PID is not reused).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}
