//! Lesson 01: chroot into the rootfs, and the escape from it.

mod common;

use insta_cmd::assert_cmd_snapshot;

const BIN: &str = env!("CARGO_BIN_EXE_01-chroot");

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    common::rootfs();
    common::settings().bind(|| assert_cmd_snapshot!(common::timed(&mut common::lesson(BIN))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn escape_demo_narration_and_output() {
    require_root!();
    common::rootfs();
    common::settings()
        .bind(|| assert_cmd_snapshot!(common::timed(common::lesson(BIN).arg("--escape"))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn inside_slash_is_the_rootfs() {
    require_root!();
    let rootfs = common::rootfs();
    let (code, out, err) = common::run(common::lesson(BIN).args(["-q", "--", "ls", "-a", "/"]));
    assert_eq!(code, 0, "{err}");
    let mut expected: Vec<String> = std::fs::read_dir(&rootfs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    expected.extend([".".to_string(), "..".to_string()]);
    expected.sort();
    // The escape tests, running alongside, may briefly add their
    // directories (one per run: `.nslab-escape-PID`).
    expected.retain(|n| !n.starts_with(".nslab-escape"));
    let mut seen: Vec<String> = out
        .split_whitespace()
        .filter(|n| !n.starts_with(".nslab-escape"))
        .map(String::from)
        .collect();
    seen.sort();
    assert_eq!(seen, expected);
    let (_, release, _) =
        common::run(common::lesson(BIN).args(["-q", "--", "cat", "/etc/nslab-release"]));
    assert!(release.starts_with("nslab rootfs"), "{release}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_escape_reaches_the_host_root_and_leaves_nothing_behind() {
    require_root!();
    let rootfs = common::rootfs();
    let marker = rootfs.join("etc/nslab-release");
    let probe = format!("cat /etc/nslab-release 2>&1; ls -d {}", marker.display());
    let (code, out, err) =
        common::run(common::lesson(BIN).args(["-q", "--escape", "--", "sh", "-c", &probe]));
    assert_eq!(code, 0, "{out}{err}");
    // From the host's /, the rootfs's marker is visible under its host path,
    // and /etc/nslab-release (the rootfs's own) is not at the top.
    assert!(out.contains(&marker.display().to_string()), "{out}");
    assert!(!out.contains("nslab rootfs"), "{out}");
    assert!(
        !rootfs.join(".nslab-escape").exists(),
        "the escape directory was left behind"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_signal_death_is_passed_on_as_128_plus_the_signal() {
    require_root!();
    common::rootfs();
    let (code, _, _) =
        common::run(common::lesson(BIN).args(["-q", "--", "sh", "-c", "kill -KILL $$"]));
    assert_eq!(code, 128 + 9);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_bad_rootfs_is_refused_with_a_hint() {
    require_root!();
    let empty = tempfile::tempdir().unwrap();
    let (code, out, err) = common::run(common::lesson(BIN).arg("--rootfs").arg(empty.path()));
    assert_ne!(code, 0);
    assert!(
        err.contains("is not a usable rootfs: it has no /bin/sh"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(
        !out.contains("fork()"),
        "nothing may start with a bad rootfs: {out}"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_command_missing_from_the_rootfs_is_reported() {
    require_root!();
    common::rootfs();
    // `cargo` exists on this host but not in the rootfs.
    let (code, _, err) = common::run(common::lesson(BIN).args(["-q", "--", "cargo"]));
    assert_eq!(code, 127);
    assert!(err.contains("command not found: cargo"), "{err}");
    assert!(err.contains("must exist in the rootfs"), "{err}");
}
