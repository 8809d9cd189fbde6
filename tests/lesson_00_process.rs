//! Lesson 00: a plain child process, nothing isolated.

mod common;

use insta_cmd::assert_cmd_snapshot;

const BIN: &str = env!("CARGO_BIN_EXE_00-process");

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    common::settings().bind(|| assert_cmd_snapshot!(common::timed(&mut common::lesson(BIN))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_child_is_the_pid_fork_returned_with_the_hosts_names() {
    require_root!();
    let (code, out, _) = common::run(common::lesson(BIN).args([
        "--",
        "sh",
        "-c",
        "echo $$; uname -n; readlink /proc/self/ns/pid",
    ]));
    assert_eq!(code, 0, "{out}");
    let forked: String = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("child started: PID "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the narration names the child's PID")
        .to_string();
    let inside: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with(['→', ' ', '=']))
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        inside,
        vec![
            forked.as_str(),
            &common::host_hostname(),
            &common::host_namespace("pid")
        ],
        "{out}"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn exit_status_is_passed_through() {
    require_root!();
    let (code, _, _) = common::run(common::lesson(BIN).args(["-q", "--", "sh", "-c", "exit 7"]));
    assert_eq!(code, 7);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn quiet_prints_only_the_commands_output() {
    require_root!();
    let (code, out, err) =
        common::run(common::lesson(BIN).args(["--quiet", "--", "echo", "hello"]));
    assert_eq!((code, out.as_str(), err.as_str()), (0, "hello\n", ""));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_missing_command_fails_with_127_and_says_so() {
    require_root!();
    let (code, _, err) =
        common::run(common::lesson(BIN).args(["-q", "--", "no-such-command-nslab"]));
    assert_eq!(code, 127);
    assert!(
        err.contains("command not found: no-such-command-nslab"),
        "{err}"
    );
}

#[test]
fn help_teaches() {
    let (code, out, _) = common::run(common::lesson(BIN).arg("--help"));
    assert_eq!(code, 0);
    insta::assert_snapshot!("help", out);
}
