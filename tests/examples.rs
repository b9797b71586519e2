//! Keeps the examples honest: every Kubernetes manifest and the compose file parse, use the image
//! of this version with arguments that the binary's own parser accepts, have a deadline and a
//! hardened securityContext; the Containerfiles say what the README promises; the shell example
//! really waits for a loopback port and execs the server. A renamed flag, a version bump or a
//! dropped security setting fails here instead of rotting in the docs.
//!
//! The argument parser is compiled in from src/ (the crate has no library), so the check is the
//! real grammar, not a copy of it.

use std::ffi::OsString;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use service_precheck::{cli, target};

mod common;
use common::{PATH, bin, clean, closed_port};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn load_yaml(path: &Path) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// The strings of a YAML sequence; anything else in it is reported as a problem.
fn strings(yaml: &Yaml, what: &str, problems: &mut Vec<String>) -> Vec<String> {
    let Some(items) = yaml.as_vec() else {
        problems.push(format!("{what} is not a list"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match item.as_str() {
            Some(s) => out.push(s.to_string()),
            None => problems.push(format!("{what} has a non-string item {item:?}")),
        }
    }
    out
}

/// Parses arguments the way the binary does, with an empty environment.
fn parse(args: &[String]) -> Result<cli::Config, String> {
    let args = args.iter().map(OsString::from).collect();
    match cli::parse_args(args, &|_| None) {
        Ok(cli::Action::Run(config)) => Ok(config),
        Ok(other) => Err(format!("parses as {other:?}, not as a run")),
        Err(e) => Err(e.to_string()),
    }
}

/// The leading number of a Kubernetes quantity in the given unit ("16Mi", "Mi" -> 16).
fn quantity(value: &Yaml, unit: &str) -> Option<u64> {
    value.as_str()?.strip_suffix(unit)?.parse().ok()
}

/// Everything wrong with the manifests in `text`; `name` labels the messages.
fn check_manifests(name: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let docs = match YamlLoader::load_from_str(text) {
        Ok(docs) => docs,
        Err(e) => return vec![format!("{name}: not valid YAML: {e}")],
    };
    let mut prechecks = 0;
    for doc in docs.iter().filter(|d| !d.is_null()) {
        let kind = doc["kind"].as_str().unwrap_or("(no kind)");
        let what = format!(
            "{name}: {kind} {}",
            doc["metadata"]["name"].as_str().unwrap_or("?")
        );
        let pod = match kind {
            "Pod" => &doc["spec"],
            "Job" | "Deployment" | "StatefulSet" | "DaemonSet" => &doc["spec"]["template"]["spec"],
            "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => {
                problems.push(format!(
                    "{what}: not a workload this test knows how to check"
                ));
                continue;
            }
        };
        // activeDeadlineSeconds counts the pod's whole life, not only its init phase: in a
        // long-running workload it would kill the healthy app after that many seconds.
        let active_deadline = pod["activeDeadlineSeconds"].as_i64();
        if active_deadline.is_some() && !matches!(kind, "Pod" | "Job" | "CronJob") {
            problems.push(format!(
                "{what}: activeDeadlineSeconds would end the running app; use --timeout"
            ));
        }
        let init = pod["initContainers"].as_vec().cloned().unwrap_or_default();
        let main = pod["containers"].as_vec().cloned().unwrap_or_default();
        if main.is_empty() {
            problems.push(format!("{what}: no containers"));
        }
        for c in &main {
            if c["image"]
                .as_str()
                .is_some_and(|i| i.contains("service-precheck"))
            {
                problems.push(format!(
                    "{what}: service-precheck belongs in initContainers"
                ));
            }
        }
        for (c, is_init) in init
            .iter()
            .map(|c| (c, true))
            .chain(main.iter().map(|c| (c, false)))
        {
            let cwhat = format!("{what} container {}", c["name"].as_str().unwrap_or("?"));
            check_hardening(pod, c, &cwhat, &mut problems);
            let image = c["image"].as_str().unwrap_or("");
            if is_init && image.contains("service-precheck") {
                prechecks += 1;
                check_precheck(c, active_deadline, &cwhat, &mut problems);
            }
        }
    }
    if prechecks == 0 {
        problems.push(format!("{name}: no service-precheck initContainer"));
    }
    problems
}

/// The securityContext settings a hardened container must have, and resource bounds.
fn check_hardening(pod: &Yaml, c: &Yaml, what: &str, problems: &mut Vec<String>) {
    let sc = &c["securityContext"];
    let psc = &pod["securityContext"];
    // runAsNonRoot and seccompProfile may come from the pod; the others are per container.
    let non_root = sc["runAsNonRoot"]
        .as_bool()
        .or(psc["runAsNonRoot"].as_bool());
    let seccomp = sc["seccompProfile"]["type"]
        .as_str()
        .or(psc["seccompProfile"]["type"].as_str());
    let drops = sc["capabilities"]["drop"]
        .as_vec()
        .cloned()
        .unwrap_or_default();
    let checks = [
        (non_root == Some(true), "runAsNonRoot: true"),
        (
            sc["readOnlyRootFilesystem"].as_bool() == Some(true),
            "readOnlyRootFilesystem: true",
        ),
        (
            sc["allowPrivilegeEscalation"].as_bool() == Some(false),
            "allowPrivilegeEscalation: false",
        ),
        (
            drops.iter().any(|d| d.as_str() == Some("ALL")),
            "capabilities: drop: [ALL]",
        ),
        (
            seccomp == Some("RuntimeDefault"),
            "seccompProfile: RuntimeDefault",
        ),
        (
            sc["runAsUser"].as_i64() != Some(0),
            "a runAsUser other than 0",
        ),
    ];
    for (ok, setting) in checks {
        if !ok {
            problems.push(format!("{what}: securityContext lacks {setting}"));
        }
    }
    for level in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            if c["resources"][level][resource].is_badvalue() {
                problems.push(format!("{what}: no resources.{level}.{resource}"));
            }
        }
    }
}

/// The service-precheck initContainer: this version's image, its entrypoint, good arguments,
/// a deadline, and small resources.
fn check_precheck(c: &Yaml, active_deadline: Option<i64>, what: &str, problems: &mut Vec<String>) {
    let image = c["image"].as_str().unwrap_or("");
    let want = format!("service-precheck:{VERSION}");
    if image != want && !image.ends_with(&format!("/{want}")) {
        problems.push(format!(
            "{what}: image {image:?}, wanted {want:?} (this version)"
        ));
    }
    if !c["command"].is_badvalue() {
        problems.push(format!(
            "{what}: sets command; the image's entrypoint is the binary"
        ));
    }
    let args = strings(&c["args"], &format!("{what}: args"), problems);
    match parse(&args) {
        Err(e) => problems.push(format!("{what}: args {args:?} rejected: {e}")),
        Ok(config) => {
            if config.plan.timeout.is_none() && active_deadline.is_none() {
                problems.push(format!(
                    "{what}: no deadline (--timeout or the pod's activeDeadlineSeconds)"
                ));
            }
            if !config.command.is_empty() {
                problems.push(format!("{what}: an initContainer has no command to exec"));
            }
        }
    }
    let small = quantity(&c["resources"]["limits"]["memory"], "Mi").is_some_and(|m| m <= 64)
        && quantity(&c["resources"]["limits"]["cpu"], "m").is_some_and(|m| m <= 200);
    if !small {
        problems.push(format!(
            "{what}: limits should be small: memory <= 64Mi, cpu <= 200m"
        ));
    }
}

#[test]
fn kubernetes_manifests_are_hardened_and_use_valid_arguments() {
    let files = yaml_files(&repo().join("examples/kubernetes"));
    assert!(
        files.len() >= 2,
        "expected the MySQL and ZooKeeper manifests, found {files:?}"
    );
    let problems: Vec<String> = files
        .iter()
        .flat_map(|f| check_manifests(&f.display().to_string(), &read(f)))
        .collect();
    assert!(problems.is_empty(), "problems:\n{}", problems.join("\n"));
}

#[test]
fn kubernetes_examples_cover_the_use_cases() {
    let all: String = yaml_files(&repo().join("examples/kubernetes"))
        .iter()
        .map(|f| read(f))
        .collect();
    for needle in [
        "mysql://mysql-0.mysql.",
        "mysql://mysql-read.",
        "zookeeper-0.zookeeper-headless.",
        "--min-ready=2",
        "zk://zookeeper-headless.shop:2181?min=2",
        "dns://zookeeper-headless.shop?min=2",
        "postgres://",
        "grpc://",
    ] {
        assert!(all.contains(needle), "no example mentions {needle:?}");
    }
}

/// The arguments of every service-precheck initContainer in `text`.
fn precheck_args(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let docs = YamlLoader::load_from_str(text).expect("valid YAML (checked above)");
    for doc in &docs {
        let pod = &doc["spec"]["template"]["spec"];
        for c in pod["initContainers"].as_vec().into_iter().flatten() {
            if c["image"]
                .as_str()
                .is_some_and(|i| i.contains("service-precheck"))
            {
                out.push(strings(&c["args"], "args", &mut Vec::new()));
            }
        }
    }
    out
}

/// The protocol examples, as the binary's parser reads them: each waits with the conversation
/// of its service (not a bare connect), on the service's port, with the quorum where there is
/// one. tests/image/kube.sh plays them against stand-ins that answer with the servers' bytes.
#[test]
fn kubernetes_examples_wait_with_the_protocols() {
    let mut seen = Vec::new();
    for file in yaml_files(&repo().join("examples/kubernetes")) {
        for args in precheck_args(&read(&file)) {
            let config = parse(&args).unwrap_or_else(|e| panic!("{file:?}: {args:?}: {e}"));
            for t in config.plan.targets {
                if let target::Kind::Port {
                    host: target::Host::Name(host),
                    port,
                    min,
                    talk: Some(talk),
                } = &t.kind
                {
                    seen.push(format!("{} {host}:{port} min {min}", talk.dialect().name()));
                }
            }
        }
    }
    for want in [
        "mysql mysql-0.mysql.shop:3306 min 1",
        "mysql mysql-read.shop:3306 min 1",
        "zookeeper zookeeper-headless.shop:2181 min 2",
        "postgres postgres.shop:5432 min 1",
        "grpc payments.shop:50051 min 1",
    ] {
        assert!(
            seen.iter().any(|s| s == want),
            "no example waits for {want:?}; they wait for {seen:?}"
        );
    }
    // Both ZooKeeper manifests wait for the quorum, neither for a bare port.
    let quorum = seen.iter().filter(|s| s.starts_with("zookeeper ")).count();
    assert_eq!(quorum, 2, "{seen:?}");
}

/// The checker itself must catch what it claims to: weaken a good manifest, expect complaints.
#[test]
fn the_manifest_check_finds_problems() {
    let good = read(&repo().join("examples/kubernetes/mysql-app.yaml"));
    assert_eq!(check_manifests("good", &good), Vec::<String>::new());
    let image = format!("image: service-precheck:{VERSION}");
    let cases = [
        (
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "readOnlyRootFilesystem",
        ),
        (
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: true",
            "allowPrivilegeEscalation",
        ),
        ("drop: [\"ALL\"]", "drop: [\"NET_RAW\"]", "drop: [ALL]"),
        ("type: RuntimeDefault", "type: Unconfined", "seccompProfile"),
        ("runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot"),
        ("- --timeout=5m", "- --tiemout=5m", "rejected"),
        ("- --timeout=5m", "- --timeout=5 minutes please", "rejected"),
        ("- --timeout=5m", "- -v", "no deadline"),
        (
            "- mysql://mysql-read.shop",
            "- mysql://mysql-read.shop:0",
            "rejected",
        ),
        (
            "- mysql://mysql-read.shop",
            "- mysql://root:secret@mysql-read.shop",
            "rejected",
        ),
        (
            "- mysql://mysql-read.shop",
            "- mysql://mysql-read.shop/db",
            "rejected",
        ),
        (&image, "image: service-precheck:latest", "this version"),
        ("memory: 16Mi", "memory: 1Gi", "limits should be small"),
        (
            "    spec:\n",
            "    spec:\n      activeDeadlineSeconds: 600\n",
            "would end the running app",
        ),
    ];
    for (from, to, complaint) in cases {
        assert!(
            good.contains(from),
            "the good manifest no longer contains {from:?}"
        );
        let bad = good.replace(from, to);
        let problems = check_manifests("bad", &bad);
        assert!(
            problems.iter().any(|p| p.contains(complaint)),
            "replacing {from:?} with {to:?} should complain about {complaint:?}, got {problems:?}"
        );
    }
}

#[test]
fn compose_example_prefixes_the_command_and_depends_on_its_targets() {
    let dir = repo().join("examples/compose");
    for file in yaml_files(&dir) {
        load_yaml(&file);
    }
    let compose = &load_yaml(&dir.join("compose.yaml"))[0];
    let services = compose["services"]
        .as_hash()
        .expect("compose.yaml has services");
    let app = &compose["services"]["app"];
    let mut problems = Vec::new();
    let entrypoint = strings(&app["entrypoint"], "app entrypoint", &mut problems);
    let command = strings(&app["command"], "app command", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(
        entrypoint
            .first()
            .is_some_and(|p| p.rsplit('/').next() == Some("service-precheck")),
        "the app's entrypoint should start with service-precheck: {entrypoint:?}"
    );
    assert_eq!(
        entrypoint.last().map(String::as_str),
        Some("--"),
        "the entrypoint ends with --"
    );
    let argv: Vec<String> = entrypoint[1..].iter().chain(&command).cloned().collect();
    let config = parse(&argv).unwrap_or_else(|e| panic!("{argv:?} rejected: {e}"));
    assert!(
        config.plan.timeout.is_some(),
        "the compose example should show --timeout"
    );
    assert_eq!(
        config.command,
        command.iter().map(OsString::from).collect::<Vec<_>>()
    );

    let depends: Vec<String> = match &app["depends_on"] {
        Yaml::Array(list) => list
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        Yaml::Hash(map) => map
            .keys()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        other => panic!("app has no depends_on list or map: {other:?}"),
    };
    for t in &config.plan.targets {
        if let Some(target::Host::Name(host)) = t.host() {
            assert!(
                depends.contains(host),
                "app waits for {host} but does not depend_on it"
            );
            let key = Yaml::String(host.clone());
            assert!(
                services.contains_key(&key),
                "app waits for {host}, which is no service"
            );
        }
    }

    let containerfile = read(&dir.join("Containerfile"));
    let copy = format!("COPY --from=service-precheck:{VERSION} /service-precheck /usr/local/bin/");
    assert!(
        containerfile.lines().any(|l| l.trim() == copy),
        "{dir:?}/Containerfile lacks {copy:?}"
    );
    assert!(containerfile.contains("ENTRYPOINT [\"service-precheck\""));
    // The example builds as shipped: everything it copies from the build context is there.
    for line in containerfile.lines().map(str::trim) {
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        if args.starts_with("--from=") {
            continue;
        }
        let source = args.split_whitespace().next().unwrap_or_default();
        assert!(
            dir.join(source).exists(),
            "{dir:?}/Containerfile copies {source:?}, which the example does not ship"
        );
    }
    // The images of others can be replaced through the environment (tests/image/compose.sh
    // runs the file with small local ones).
    for (name, service) in services {
        if let Some(image) = service["image"].as_str() {
            assert!(
                image.starts_with("${") && image.contains(":-") && image.ends_with('}'),
                "service {name:?}: image {image:?} is not of the form ${{VARIABLE:-default}}"
            );
        }
    }
}

#[test]
fn image_containerfile_matches_the_package() {
    let text = read(&repo().join("Containerfile"));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let last_from = lines.iter().rev().find(|l| l.starts_with("FROM ")).copied();
    assert_eq!(
        last_from,
        Some("FROM scratch"),
        "the final stage must be FROM scratch"
    );
    for want in [
        format!("ARG VERSION={VERSION}"),
        "USER 65534:65534".to_string(),
        "ENTRYPOINT [\"/service-precheck\"]".to_string(),
        format!(
            "org.opencontainers.image.source=\"{}\"",
            env!("CARGO_PKG_REPOSITORY")
        ),
        format!(
            "org.opencontainers.image.licenses=\"{}\"",
            env!("CARGO_PKG_LICENSE")
        ),
        "org.opencontainers.image.version=\"${VERSION}\"".to_string(),
        "org.opencontainers.image.title=\"service-precheck\"".to_string(),
        "org.opencontainers.image.description=".to_string(),
        "cargo build --locked --release".to_string(),
    ] {
        assert!(text.contains(&want), "Containerfile lacks {want:?}");
    }
}

/// A directory of its own under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory per call: tests run in parallel threads of one process.
    fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("precheck-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creating a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs examples/shell/start-server.sh against 127.0.0.1:`port` with a ./server that prints its
/// arguments, the binary under test first on PATH.
fn run_shell_example(port: u16, wait: &str) -> std::process::Output {
    let dir = TempDir::new("shell");
    let server = dir.0.join("server");
    fs::write(&server, "#!/bin/sh\necho \"server ran with: $*\"\n").expect("writing ./server");
    Command::new("chmod")
        .arg("+x")
        .arg(&server)
        .status()
        .expect("chmod");
    let bin = bin();
    let bin_dir = bin.parent().expect("the binary is in a directory");
    let path = format!("{}:{PATH}", bin_dir.display());
    clean("sh")
        .arg(repo().join("examples/shell/start-server.sh"))
        .args(["--port", "8080"])
        .current_dir(&dir.0)
        .env("PATH", path)
        .env("DB_HOST", "127.0.0.1")
        .env("DB_PORT", port.to_string())
        .env("DB_WAIT", wait)
        .output()
        .expect("running sh")
}

#[test]
fn shell_example_waits_then_execs_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    let port = listener
        .local_addr()
        .expect("a bound socket has an address")
        .port();
    let out = run_shell_example(port, "10s");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout.trim(), "server ran with: --port 8080");
}

#[test]
fn shell_example_does_not_start_the_server_at_the_deadline() {
    // The port was free a moment ago and nothing listens on it now.
    let addr: std::net::SocketAddr = closed_port().parse().expect("an address");
    let port = addr.port();
    let out = run_shell_example(port, "1s");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("server ran"),
        "{out:?}"
    );
}
