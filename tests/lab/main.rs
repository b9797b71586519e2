//! The hermetic DNS lab: runs the real static service-precheck against real DNS servers (the lab's
//! own and dnsmasq) inside fresh network, mount and PID namespaces, one set per scenario.
//!
//! Without arguments it runs every scenario, a few at a time, each as
//! `unshare --net --mount --pid --fork <this test binary> __inner NAME`: a multi-threaded process
//! cannot enter a new mount namespace, so the namespaces are made by re-executing. Other
//! arguments not starting with `-` select scenarios by substring, like libtest's filter.
//!
//! Environment: SERVICE_PRECHECK_STATIC (the binary under test), CI=true (a skip is a failure),
//! LAB_JOBS (scenarios at once, default 8), LAB_KEEP=1 (keep the work directory).

// The shared builder of the integration tests: one clean environment for every run.
#[path = "../common/mod.rs"]
mod common;
mod dns;
mod flows;
mod http;
mod invert;
mod lab;
mod resolver;
mod run;
mod system;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use std::{env, fs, thread};

use lab::Lab;
use run::Run;

const INNER: &str = "__inner";
/// Why a scenario that needs dnsmasq is skipped (a failure under CI=true).
const NO_DNSMASQ: &str = "dnsmasq is not installed (apt-get install dnsmasq-base)";

/// One scenario: it runs inside its own namespaces and fails with a message.
pub struct Scenario {
    pub name: &'static str,
    pub needs_dnsmasq: bool,
    pub run: fn(&Lab) -> Result<(), String>,
}

fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend(system::scenarios());
    all.extend(resolver::scenarios());
    all.extend(flows::scenarios());
    all.extend(http::scenarios());
    all.extend(invert::scenarios());
    all
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(INNER) {
        let name = args.get(1).map(String::as_str).unwrap_or("");
        std::process::exit(inner(name));
    }
    let filters: Vec<&str> = (args.iter())
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    std::process::exit(outer(&filters));
}

/// The in-namespace side: sets up the lab, runs one scenario, exits 0 or 1.
fn inner(name: &str) -> i32 {
    let Some(scenario) = scenarios().into_iter().find(|s| s.name == name) else {
        println!("no scenario named {name:?}");
        return 1;
    };
    let var = |k: &str| env::var_os(k).map(PathBuf::from);
    let (Some(dir), Some(bin)) = (var("LAB_DIR"), var("SERVICE_PRECHECK_STATIC")) else {
        println!("LAB_DIR or SERVICE_PRECHECK_STATIC is not set");
        return 1;
    };
    let result =
        Lab::setup(name, dir, bin, var("LAB_DNSMASQ")).and_then(|lab| (scenario.run)(&lab));
    match result {
        Ok(()) => 0,
        Err(e) => {
            println!("{e}");
            1
        }
    }
}

enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// Runs the selected scenarios and prints `N passed, N failed, N skipped`; 0 unless one failed.
fn outer(filters: &[&str]) -> i32 {
    let started = Instant::now();
    let ci = matches!(env::var("CI").as_deref(), Ok("true" | "1"));
    let chosen: Vec<Scenario> = (scenarios().into_iter())
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f)))
        .collect();
    if chosen.is_empty() {
        println!("0 passed, 0 failed");
        return 0;
    }
    let setup = env::var_os("SERVICE_PRECHECK_STATIC")
        .map(PathBuf::from)
        .ok_or_else(|| "SERVICE_PRECHECK_STATIC is not set (run `make test`)".to_string())
        .and_then(|bin| match bin.is_file() {
            true => Ok(bin),
            false => Err(format!(
                "SERVICE_PRECHECK_STATIC={} is not a file",
                bin.display()
            )),
        })
        .and_then(|bin| Ok((bin, unshare_prefix()?)));
    let (bin, unshare) = match setup {
        Ok(setup) => setup,
        Err(why) if ci => {
            println!("lab: FAILED: cannot run under CI=true: {why}");
            println!("0 passed, {} failed", chosen.len());
            return 1;
        }
        Err(why) => {
            println!("lab: skipped all {} scenarios: {why}", chosen.len());
            println!("0 passed, 0 failed, {} skipped", chosen.len());
            return 0;
        }
    };
    let dnsmasq = find_program("dnsmasq");
    let work = env::temp_dir().join(format!("service-precheck-lab-{}", std::process::id()));

    let outcomes: Mutex<Vec<(&str, Outcome)>> = Mutex::new(Vec::new());
    let measures: Mutex<BTreeMap<&str, Vec<String>>> = Mutex::new(BTreeMap::new());
    let next = AtomicUsize::new(0);
    let jobs = env::var("LAB_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(8usize);
    thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                while let Some(s) = chosen.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let t = Instant::now();
                    let outcome = if s.needs_dnsmasq && dnsmasq.is_none() {
                        Outcome::Skipped(NO_DNSMASQ.into())
                    } else {
                        let (outcome, lines) =
                            run_one(s.name, &unshare, &bin, dnsmasq.as_deref(), &work);
                        let mut m = measures.lock().unwrap_or_else(|e| e.into_inner());
                        m.entry(s.name).or_default().extend(lines);
                        outcome
                    };
                    report(s.name, &outcome, t.elapsed(), ci);
                    let mut o = outcomes.lock().unwrap_or_else(|e| e.into_inner());
                    o.push((s.name, outcome));
                }
            });
        }
    });
    if env::var_os("LAB_KEEP").is_none() {
        let _ = fs::remove_dir_all(&work);
    }

    let measures = measures.into_inner().unwrap_or_else(|e| e.into_inner());
    if measures.values().any(|v| !v.is_empty()) {
        println!("\nlab measurements (times from this run):");
        for line in measures.values().flatten() {
            println!("  {line}");
        }
    }
    let outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    let (mut passed, mut failed, mut skipped) = (0, 0, Vec::new());
    for (name, outcome) in &outcomes {
        match outcome {
            Outcome::Passed => passed += 1,
            Outcome::Skipped(_) if !ci => skipped.push(*name),
            _ => failed += 1,
        }
    }
    if !skipped.is_empty() {
        // One line for all of them: they are skipped for the one reason.
        println!(
            "lab: skipped {} scenarios ({}): {NO_DNSMASQ}",
            skipped.len(),
            skipped.join(", ")
        );
    }
    let took = started.elapsed().as_secs_f64();
    println!("\nlab: {} scenarios in {took:.1} s", outcomes.len());
    if !skipped.is_empty() {
        println!(
            "{passed} passed, {failed} failed, {} skipped",
            skipped.len()
        );
    } else {
        println!("{passed} passed, {failed} failed");
    }
    i32::from(failed > 0)
}

fn report(name: &str, outcome: &Outcome, took: Duration, ci: bool) {
    let secs = took.as_secs_f64();
    match outcome {
        Outcome::Passed => println!("lab: ok      {name} ({secs:.1} s)"),
        Outcome::Skipped(why) if ci => {
            println!("lab: FAILED  {name}: skipped under CI=true: {why}")
        }
        // Printed once for all of them at the end.
        Outcome::Skipped(_) => {}
        Outcome::Failed(out) => {
            println!("lab: FAILED  {name} ({secs:.1} s)");
            for line in out.lines() {
                println!("    {line}");
            }
        }
    }
}

/// Runs one scenario in fresh namespaces; returns its outcome and its measurement lines.
fn run_one(
    name: &str,
    prefix: &[String],
    bin: &Path,
    dnsmasq: Option<&Path>,
    work: &Path,
) -> (Outcome, Vec<String>) {
    let dir = work.join(name);
    if let Err(e) = fs::create_dir_all(&dir) {
        return (
            Outcome::Failed(format!("cannot create {}: {e}", dir.display())),
            vec![],
        );
    }
    let exe = match env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            return (
                Outcome::Failed(format!("cannot find the lab binary: {e}")),
                vec![],
            );
        }
    };
    let mut cmd = Command::new(&prefix[0]);
    cmd.args(&prefix[1..])
        .arg(exe)
        .args([INNER, name])
        .env("LAB_DIR", &dir)
        .env("SERVICE_PRECHECK_STATIC", bin);
    if let Some(d) = dnsmasq {
        cmd.env("LAB_DNSMASQ", d);
    }
    let mut run = match Run::start(name, cmd) {
        Ok(run) => run,
        Err(e) => return (Outcome::Failed(e), vec![]),
    };
    // A scenario bounds each of its own waits; this only catches a lab bug.
    let code = run.wait_exit(Duration::from_secs(180));
    let out = run.stdout();
    let (measures, rest): (Vec<&str>, Vec<&str>) =
        out.lines().partition(|l| l.starts_with("measure: "));
    let measures = measures
        .iter()
        .map(|l| l["measure: ".len()..].to_string())
        .collect();
    let outcome = match code {
        Ok((0, _)) => Outcome::Passed,
        Ok((code, _)) => {
            Outcome::Failed(format!("exit {code}\n{}\n{}", rest.join("\n"), run.log()))
        }
        Err(e) => Outcome::Failed(format!("{e}\n{}", rest.join("\n"))),
    };
    (outcome, measures)
}

/// The unshare command line that gives a scenario its own namespaces, or why there is none.
fn unshare_prefix() -> Result<Vec<String>, String> {
    let base = [
        "unshare",
        "--net",
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
    ];
    let mut prefix: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        // Unprivileged user namespaces, where the system allows them.
        prefix.extend(["--user".to_string(), "--map-root-user".to_string()]);
    }
    let probe = Command::new(&prefix[0])
        .args(&prefix[1..])
        .args(["sh", "-c", "ip link set lo up"])
        .output();
    match probe {
        Ok(out) if out.status.success() => Ok(prefix),
        Ok(out) => Err(format!(
            "cannot make namespaces ({}): {} (run as root or enable unprivileged user \
             namespaces; needs unshare and ip: apt-get install util-linux iproute2)",
            prefix.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!(
            "cannot run unshare: {e} (apt-get install util-linux)"
        )),
    }
}

/// An executable on PATH or in the sbin directories (root's PATH has them, others may not).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    (env::split_paths(&path))
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
