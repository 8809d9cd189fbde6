//! Lesson 10: the init layer, checked from outside: the files inside hold
//! the container's name and address and the host's usable nameservers; a
//! commit of the container (its writable layer) does not hold them; the
//! image's layers are unchanged; nothing is left after the run. The files'
//! text for fixed inputs is unit-tested in src/init_layer.rs.

mod common;

use insta_cmd::assert_cmd_snapshot;
use std::path::PathBuf;

const BIN: &str = env!("CARGO_BIN_EXE_10-init-layer");

fn run_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("run-10-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lesson(name: &str, args: &[&str]) -> (i32, String, String) {
    let run = run_dir(name);
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", BIN])
        .args(args)
        .env("NSLAB_RUN_DIR", &run);
    common::run(&mut cmd)
}

/// The demo snapshot and the test that keeps a layer take turns: a kept
/// layer, once its lesson is gone, is reported by every lesson that starts.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn settings() -> insta::Settings {
    let run = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-10-demo");
    let mut settings = common::container_settings(&run);
    // The host's resolver configuration differs from machine to machine:
    // its content, after the line nslab writes first (the unit tests check
    // the rest with fixed inputs).
    settings.add_filter(
        r"(?s)(  # made by nslab for this container \(its init layer\), from the host's\n).*?(inside: hostname:)",
        "$1  [THE HOST'S RESOLV.CONF, LOOPBACK NAMESERVERS LEFT OUT]\n$2",
    );
    settings
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::rootfs();
    let run = run_dir("demo");
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", BIN, "--hostname", "web"])
        .env("NSLAB_RUN_DIR", &run);
    settings().bind(|| assert_cmd_snapshot!(common::timed(&mut cmd)));
}

#[test]
fn help() {
    settings().bind(|| assert_cmd_snapshot!(common::timed(common::lesson(BIN).arg("--help"))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_files_name_the_container_and_a_commit_leaves_them_out() {
    require_root!();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = common::rootfs();
    let (code, out, err) = lesson(
        "files",
        &[
            "--hostname",
            "db",
            "--keep",
            "-q",
            "--",
            "sh",
            "-c",
            "cat /etc/hostname /etc/hosts /etc/resolv.conf; echo made > /made-inside",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("db\n"), "{out}");
    assert!(
        out.contains("10.213.0.2\tdb\n"),
        "the container's own address: {out}"
    );
    assert!(out.contains("127.0.0.1\tlocalhost\n"), "{out}");
    assert!(
        out.lines()
            .filter(|l| l.starts_with("nameserver "))
            .all(|l| !l.starts_with("nameserver 127.")),
        "a loopback nameserver reached the container: {out}"
    );
    let upper = err
        .lines()
        .find_map(|l| l.strip_prefix("--keep: the container's layer stays at "))
        .and_then(|rest| rest.split(' ').next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("--keep said nothing: {err}"));
    let in_commit: Vec<bool> = ["etc/hostname", "etc/hosts", "etc/resolv.conf"]
        .iter()
        .map(|f| upper.join(f).exists())
        .collect();
    let made = upper.join("made-inside").exists();
    let _ = std::fs::remove_dir_all(upper.parent().unwrap());
    assert!(made, "the writable layer is the container's");
    assert_eq!(
        in_commit,
        [false, false, false],
        "a commit would take the init layer's files"
    );
    assert!(
        !base.join("etc/hosts").exists(),
        "the image gained /etc/hosts"
    );
}
