//! Lesson 02: a PID namespace; the command is PID 1.

mod common;

use insta_cmd::assert_cmd_snapshot;

const BIN: &str = env!("CARGO_BIN_EXE_02-pid");

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    common::rootfs();
    common::settings().bind(|| assert_cmd_snapshot!(common::timed(&mut common::lesson(BIN))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_command_is_pid_1() {
    require_root!();
    common::rootfs();
    let (code, out, err) =
        common::run(common::lesson(BIN).args(["-q", "--", "sh", "-c", "echo $$"]));
    assert_eq!((code, out.as_str()), (0, "1\n"), "{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_host_sees_two_pids_and_a_different_namespace() {
    require_root!();
    common::rootfs();
    let (code, out, _) = common::run(common::lesson(BIN).args(["--", "true"]));
    assert_eq!(code, 0, "{out}");
    let field = |label: &str| -> String {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} line in:\n{out}"))
            .trim()
            .to_string()
    };
    let nspid: Vec<i32> = field("host: child's NSpid:")
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(nspid.len(), 2, "{out}");
    assert!(nspid[0] > 1);
    assert_eq!(nspid[1], 1);
    let host_ns = common::host_namespace("pid");
    assert_eq!(field("host: pid namespace:"), host_ns);
    let child_ns = field("host: child's pid ns:");
    assert!(child_ns.starts_with("pid:["), "{child_ns}");
    assert_ne!(child_ns, host_ns);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn pid_1_survives_its_own_sigterm() {
    require_root!();
    common::rootfs();
    let (code, out, _) = common::run(common::lesson(BIN).args([
        "-q",
        "--",
        "sh",
        "-c",
        "kill -TERM $$; echo alive",
    ]));
    assert_eq!((code, out.as_str()), (0, "alive\n"));
}
