//! A newcomer's first mistakes (issue 21), on the built binary: each ends with its exact exit
//! code and a message that names the real problem and the form to write, never with a silent
//! go-ahead (exit 0 having checked nothing) or a silent log.
//!
//! Most cases are usage errors, which end before any name is looked up. The rest wait only for
//! loopback IP literals, except the PATH warning, whose name is resolved inside a network and
//! mount namespace of our own with a private /etc/hosts, never by this machine's resolver.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

mod common;
use common::{Finished, bin, can_unshare, closed_port, cmd, netns_cmd, temp_dir, text};

/// The binary with `args` in the clean environment of `common::cmd`, and `env`, to the end.
fn run(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut c = cmd(args);
    c.envs(env.iter().copied());
    common::run(c)
}

/// A usage error: exit 2 at once, the message holding every one of `words`.
fn usage(args: &[&str], env: &[(&str, &str)], words: &[&str]) {
    let f = run(args, env);
    f.code(2).within(Duration::from_secs(5));
    for w in words {
        assert!(
            f.log.contains(w),
            "{args:?} {env:?}: lacks {w:?}:\n{}",
            f.log
        );
    }
    assert!(
        f.log.contains("Try 'service-precheck --help'"),
        "{args:?}: {}",
        f.log
    );
}

fn script(path: &Path, mode: u32) {
    std::fs::write(path, "#!/bin/sh\necho ran\n").expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn help_and_version_succeed_only_alone() {
    let f = run(&["--help"], &[]);
    f.code(0);
    assert!(f.stdout.contains("USAGE:") && f.stdout.contains("127"));
    for line in f.stdout.lines() {
        assert!(line.chars().count() <= 80, "wider than 80: {line:?}");
    }
    let f = run(&["-h"], &[]);
    f.code(0);
    assert!(f.stdout.contains("USAGE:"));
    let f = run(&["-V"], &[]);
    f.code(0);
    assert!(f.stdout.starts_with("service-precheck "), "{}", f.stdout);

    usage(
        &["127.0.0.1:1", "--help"],
        &[],
        &[
            "'--help' is accepted only alone",
            "nothing would be checked",
        ],
    );
    usage(&["-V", "db"], &[], &["'-V' is accepted only alone"]);
    usage(
        &["--version=1"],
        &[],
        &["option '--version' takes no value, got '1'"],
    );
    usage(
        &["db.shop", "migrate", "--help"],
        &[],
        &["if it is the command's, put '--' before the command"],
    );
}

#[test]
fn wait_for_its_host_and_port_show_the_target_to_write() {
    let words = [
        "'-h' and '-p': wait-for-it's host and port options are not taken here",
        "a target is one argument, HOST:PORT: write 'db:5432'",
    ];
    usage(&["-h", "db", "-p", "5432"], &[], &words);
    usage(&["-t", "15s", "-h", "db", "-p", "5432"], &[], &words);
    usage(
        &["--host", "db", "--port", "5432"],
        &[],
        &["write 'db:5432'"],
    );
    usage(
        &["-h", "db"],
        &[],
        &["'-h': wait-for-it's", "write 'db:PORT'"],
    );
    usage(
        &["db", "-p", "5432"],
        &[],
        &["'-p': wait-for-it's", "write 'HOST:5432'"],
    );
}

#[test]
fn precheck_log_must_be_a_level_or_select_our_lines() {
    for value in ["verbose", "1", "bogus", "hyper=debug", "info/x"] {
        usage(
            &["127.0.0.1:1"],
            &[("PRECHECK_LOG", value)],
            &[
                &format!("invalid value '{value}' for PRECHECK_LOG"),
                "off, error, warn, info, debug, trace",
                "service_precheck=LEVEL",
            ],
        );
    }
    // -v wins over the variable, which must be good all the same.
    usage(
        &["-v", "127.0.0.1:1"],
        &[("PRECHECK_LOG", "verbose")],
        &["PRECHECK_LOG"],
    );
    // off: valid and silent, to the end.
    let target = closed_port();
    let f = run(&["-t", "300ms", &target], &[("PRECHECK_LOG", "off")]);
    f.code(1);
    assert!(f.log.is_empty(), "off printed:\n{}", f.log);
    // A directive naming the crate selects its lines: debug shows each attempt.
    for value in [
        "service_precheck=debug",
        "warn,service_precheck::logging=debug",
    ] {
        let f = run(
            &["-t", "300ms", "-i", "50ms", &target],
            &[("PRECHECK_LOG", value)],
        );
        f.code(1).logged(" DEBUG ").logged(" ERROR ");
    }
    let only_errors = [("PRECHECK_LOG", "service_precheck=error")];
    let f = run(&["-t", "300ms", &target], &only_errors);
    f.code(1).logged(" ERROR ").not_logged(" INFO ");
}

#[test]
fn a_forgotten_double_dash_is_named() {
    usage(
        &["db.shop", "migrate", "--force"],
        &[],
        &["invalid option '--force': did you forget '--' before the command?"],
    );
    usage(
        &["-t", "1.5s", "db.shop", "ls", "-la"],
        &[],
        &["invalid option '-l' in '-la': did you forget '--'"],
    );
}

/// `... db.shop sh` with sh on PATH: one warning line before anything else, and the name is
/// still a target. `sh` and `db.shop` resolve from the namespace's own /etc/hosts.
#[test]
fn a_target_that_is_a_command_on_path_gets_one_warning() {
    if !can_unshare("the PATH warning test") {
        return;
    }
    let hosts = "127.0.0.1 localhost\n127.0.0.1 db.shop sh\n";
    let args = ["-t", "5s", "db.shop", "sh"];
    let f = common::run(netns_cmd("netns-warning", hosts, "files", &bin(), &args));
    f.code(0);
    let lines: Vec<&str> = f.log.lines().collect();
    let warnings: Vec<&&str> = lines.iter().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warnings.len(), 1, "{}", f.log);
    assert!(
        lines[0].contains("WARN  'sh' is waited for as a DNS name, and it is also a command")
            && lines[0].contains("put '--' before it"),
        "{}",
        f.log
    );
    f.logged("sh: ready after").logged("db.shop: ready after");
}

#[test]
fn each_typo_names_the_real_problem_and_the_form_to_write() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["db:5432 cache:6379"],
            &["one target per argument: write 'db:5432' 'cache:6379' as separate arguments"],
        ),
        (
            &["a:5432,b:6379"],
            &[
                "commas separate targets only in PRECHECK_TARGETS",
                "write 'a:5432' 'b:6379'",
            ],
        ),
        (
            &["http://user:pw@localhost:80/"],
            &[
                "no user:password@ in a target",
                "readable by every process on the node",
                "needs no password, write 'http://localhost:80/'",
            ],
        ),
        (
            &["postgres://app:s3cret@db:5432/app"],
            &["no user:password@", "write 'postgres://db:5432/app'"],
        ),
        (
            &["http:/localhost/"],
            &["a URL needs its slashes: write 'http://localhost/'"],
        ),
        (&["file:/tmp/x"], &["write 'file:///tmp/x'"]),
        (
            &["/tmp/x"],
            &["a path to wait for is a file:// target: write 'file:///tmp/x'"],
        ),
        (
            &["-timeout", "5s", "db"],
            &["invalid option '-timeout': a long option takes two dashes, write '--timeout'"],
        ),
        (&["-version"], &["write '--version'"]),
        (
            &["-t", "0.5", "db"],
            &["invalid value '0.5' for --timeout: a number needs a unit: write '0.5s'"],
        ),
        (&["-t", "5", "db"], &["write '5s'"]),
        (
            &["-t", "soon", "db"],
            &[
                "invalid value 'soon' for --timeout: expected a number and a unit (ns, us, ms, s, m, h, d), such as 15s, 500ms",
            ],
        ),
        (
            &["-i", "5 parsecs", "db"],
            &[
                "invalid value '5 parsecs' for --interval: expected a number and a unit (ns, us, ms, s, m, h, d)",
            ],
        ),
        (
            &["--min-ready", "localhost"],
            &["invalid value 'localhost' for --min-ready: expected a whole number"],
        ),
    ];
    for (args, words) in cases {
        usage(args, &[], words);
        let f = run(args, &[]);
        for leak in [
            "expected number at",
            "few variations",
            "time unit needed",
            "no targets",
            "[IPV6]",
        ] {
            f.not_logged(leak);
        }
    }
    usage(
        &[],
        &[("PRECHECK_TARGETS", "")],
        &["invalid value '' for PRECHECK_TARGETS: it holds no target"],
    );
    // `0` stays the way to say: no deadline.
    let open = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ready = format!("127.0.0.1:{}", open.local_addr().expect("addr").port());
    run(&["-t", "0", &ready], &[]).code(0);
}

#[test]
fn a_bad_variable_is_an_error_even_where_its_flag_wins() {
    usage(
        &["-t", "1s", "x"],
        &[("PRECHECK_TIMEOUT", "abc")],
        &["invalid value 'abc' for PRECHECK_TIMEOUT"],
    );
    usage(
        &["-i", "1s", "x"],
        &[("PRECHECK_INTERVAL", "5")],
        &["invalid value '5' for PRECHECK_INTERVAL: a number needs a unit"],
    );
}

#[test]
fn the_command_is_looked_up_before_the_wait() {
    let dir = temp_dir("path");
    script(&dir.join("not-executable"), 0o644);
    script(&dir.join("tool"), 0o755);
    let path = text(&dir);
    let pending = closed_port();
    // No deadline: only the lookup can end these runs.
    let f = run(
        &[&pending, "--", "service-precheck-no-such-command", "x"],
        &[("PATH", path)],
    );
    f.code(127)
        .within(Duration::from_secs(5))
        .logged("ERROR command not found: 'service-precheck-no-such-command'");
    let f = run(&[&pending, "--", "not-executable"], &[("PATH", path)]);
    f.code(126)
        .within(Duration::from_secs(5))
        .logged("ERROR command cannot be executed: 'not-executable'");
    let missing = format!("{path}/missing");
    let f = run(&[&pending, "--", &missing], &[("PATH", path)]);
    f.code(127).logged("command not found");
    // A name with '/' is a path, not looked up on PATH.
    let f = run(&[&pending, "--", "./tool"], &[("PATH", path)]);
    f.code(127).logged("command not found: './tool'");

    // What is found waits, then runs.
    let f = run(&["-t", "300ms", &pending, "--", "tool"], &[("PATH", path)]);
    f.code(1).not_logged("command not found");
    let open = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ready = format!("127.0.0.1:{}", open.local_addr().expect("addr").port());
    let f = run(&[&ready, "--", "tool"], &[("PATH", path)]);
    f.code(0).logged("running 'tool'");
    assert_eq!(f.stdout, "ran\n");
}
