//! ZooKeeper for the zk:// tests: QuorumPeerMain on java as nobody, standalone or an ensemble of
//! members on 127.0.0.1, .2, .3 sharing the same ports, each started and stopped on its own.
//!
//! JVM flags and zoo.cfg lines as measured in /work/shared/SERVER-FACTS.md: a member at about
//! 55 MB, no admin server (every member would start Jetty on 8080), no fsync.
// Each test crate uses a part of this module.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{Netns, command_as_in, within};
use crate::servers::{Dir, NOBODY, Process, chown, command_as, find, free_port};

const JAR: &str = "/usr/share/java/zookeeper.jar";
const SLF4J: &str = "/usr/share/java/slf4j-simple.jar";

const JVM_FLAGS: &[&str] = &[
    "-Xms16m",
    "-Xmx64m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xss512k",
    "-Djava.net.preferIPv4Stack=true",
    "-Dzookeeper.forceSync=no",
    "-Dzookeeper.preAllocSize=64",
];

/// One member: its address, directory and process while it runs.
struct Member {
    ip: String,
    dir: PathBuf,
    process: Option<Process>,
}

/// Standalone server or ensemble; members killed when dropped.
pub struct Zookeeper {
    /// The client port every member listens on (on its own address).
    pub port: u16,
    java: PathBuf,
    members: Vec<Member>,
    /// The namespace's holder PID, when the members run in one.
    netns: Option<i32>,
    // Dropped last: every member's files.
    dir: Dir,
}

impl Zookeeper {
    /// A standalone server on 127.0.0.1, started. Err: why it cannot run here.
    pub fn standalone(name: &str) -> Result<Zookeeper, String> {
        let mut zk = Zookeeper::configure(name, &["127.0.0.1"], None)?;
        zk.start(0);
        Ok(zk)
    }

    /// An ensemble with a member per address (or a standalone server for one address), none
    /// started; inside `netns` when given.
    pub fn configure(name: &str, ips: &[&str], netns: Option<&Netns>) -> Result<Zookeeper, String> {
        let java = find("java", &[]).ok_or("java is missing (apt-get install zookeeper)")?;
        if !Path::new(JAR).exists() {
            return Err(format!("{JAR} is missing (apt-get install zookeeper)"));
        }
        let dir = Dir::new(&format!("zk-{name}"), NOBODY);
        let (port, quorum, election) = (free_port(), free_port(), free_port());
        let mut servers = String::new();
        if ips.len() > 1 {
            for (n, ip) in ips.iter().enumerate() {
                servers += &format!("server.{}={ip}:{quorum}:{election}\n", n + 1);
            }
        }
        let mut members = Vec::new();
        for (n, ip) in ips.iter().enumerate() {
            let mdir = dir.join(&format!("m{}", n + 1));
            let data = mdir.join("data");
            std::fs::create_dir_all(&data).expect("member dir");
            std::fs::write(data.join("myid"), format!("{}\n", n + 1)).expect("myid");
            let cfg = format!(
                "tickTime=1000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
                 clientPortAddress={ip}\nadmin.enableServer=false\n{servers}",
                data.display()
            );
            std::fs::write(mdir.join("zoo.cfg"), cfg).expect("zoo.cfg");
            for p in [&mdir, &data, &data.join("myid"), &mdir.join("zoo.cfg")] {
                chown(p, NOBODY);
            }
            members.push(Member {
                ip: ip.to_string(),
                dir: mdir,
                process: None,
            });
        }
        Ok(Zookeeper {
            port,
            java,
            members,
            netns: netns.map(Netns::pid),
            dir,
        })
    }

    /// The client address of member `i` (from 0).
    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::new(self.members[i].ip.parse().expect("an IP"), self.port)
    }

    /// Starts member `i` (from 0) and waits until its client port accepts.
    pub fn start(&mut self, i: usize) {
        let m = &self.members[i];
        let log = m.dir.join("server.log");
        let mut c = match self.netns {
            Some(pid) => command_as_in(pid, &self.java, NOBODY, &log),
            None => command_as(&self.java, NOBODY, &log),
        };
        c.args(JVM_FLAGS).arg("-cp");
        let mut cp = JAR.to_string();
        if Path::new(SLF4J).exists() {
            cp = format!("{cp}:{SLF4J}");
        }
        c.arg(cp)
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(m.dir.join("zoo.cfg"))
            .current_dir(&m.dir);
        self.members[i].process = Some(Process::spawn("zookeeper", c));
        let addr = self.addr(i);
        crate::servers::wait_until("zookeeper accepts", crate::servers::STARTUP, || {
            if let Some(p) = self.members[i].process.as_mut() {
                if let Ok(Some(status)) = p.child.try_wait() {
                    panic!(
                        "zookeeper exited: {status}\n{}",
                        crate::servers::log_text(&log)
                    );
                }
            }
            self.net(move || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok())
        });
    }

    /// Kills member `i` (SIGKILL: its data is throwaway).
    pub fn kill(&mut self, i: usize) {
        self.members[i].process.take();
    }

    /// Runs `f` in the servers' network.
    fn net<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match self.netns {
            Some(pid) => within(pid, f),
            None => f(),
        }
    }

    /// Member `i`'s answer to `srvr` (empty when it cannot be asked).
    pub fn srvr(&self, i: usize) -> String {
        let addr = self.addr(i);
        self.net(move || {
            let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
                return String::new();
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"srvr");
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            text
        })
    }

    /// Waits until member `i` says `text` in its `srvr` answer.
    pub fn wait_for(&self, i: usize, text: &str) {
        crate::servers::wait_until(
            &format!("zookeeper member {} says {text:?}", i + 1),
            crate::servers::STARTUP,
            || self.srvr(i).contains(text),
        );
    }

    pub fn log(&self, i: usize) -> String {
        crate::servers::log_text(&self.members[i].dir.join("server.log"))
    }
}
