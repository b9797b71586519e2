//! etcd (Debian's etcd-server, 3.4) as nobody on loopback ports without TLS: a member of a
//! cluster of one or more, each member started when the test says (a member whose peers have
//! not started has no quorum and answers nothing).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::servers::{
    Dir, NOBODY, Process, STARTUP, accepts, command_as, find, free_port, wait_until,
};

/// How to install etcd.
pub const INSTALL: &str = "apt-get install etcd-server";

pub fn binary() -> Option<PathBuf> {
    find("etcd", &["/usr/bin/etcd"])
}

/// One member: its name, client and peer ports, directory, and process once started.
pub struct Member {
    pub name: String,
    pub client: u16,
    pub peer: u16,
    process: Option<Process>,
    dir: Dir,
}

impl Member {
    pub fn new(name: &str) -> Member {
        Member {
            name: name.to_string(),
            client: free_port(),
            peer: free_port(),
            process: None,
            dir: Dir::new(&format!("etcd-{name}"), NOBODY),
        }
    }

    pub fn client_addr(&self) -> String {
        format!("127.0.0.1:{}", self.client)
    }

    /// `NAME=http://127.0.0.1:PEER`, for `--initial-cluster`.
    fn peer_url(&self) -> String {
        format!("{}=http://127.0.0.1:{}", self.name, self.peer)
    }

    /// Starts the member of `cluster` (see `initial_cluster`) and waits until its client port
    /// accepts.
    pub fn start(&mut self, etcd: &Path, cluster: &str, token: &str) {
        let client = format!("http://127.0.0.1:{}", self.client);
        let peer = format!("http://127.0.0.1:{}", self.peer);
        let data = self.dir.join("data");
        let mut c = command_as(etcd, NOBODY, &self.dir.join("log"));
        c.current_dir(self.dir.path())
            .args(["--name", &self.name, "--data-dir"])
            .arg(&data)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", cluster])
            .args([
                "--initial-cluster-token",
                token,
                "--initial-cluster-state",
                "new",
            ]);
        self.process = Some(Process::spawn(&format!("etcd {}", self.name), c));
        let addr = self.client_addr();
        wait_until("etcd accepts", STARTUP, || accepts(&addr));
    }

    /// Stops the member (SIGTERM ends etcd at once).
    pub fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            p.stop(Duration::from_secs(10));
        }
    }

    pub fn log(&self) -> String {
        crate::servers::log_text(&self.dir.join("log"))
    }
}

/// A single-member cluster, started.
pub fn single(etcd: &Path) -> Member {
    let mut m = Member::new("solo");
    let cluster = initial_cluster(&[&m]);
    m.start(etcd, &cluster, &format!("solo-{}", std::process::id()));
    m
}

/// The `--initial-cluster` of these members: `NAME=http://127.0.0.1:PEER,...`.
pub fn initial_cluster(members: &[&Member]) -> String {
    let urls: Vec<String> = members.iter().map(|m| m.peer_url()).collect();
    urls.join(",")
}
