//! Lesson 03: a mount namespace, pivot_root, and fresh /proc /dev /sys /tmp.
//!
//! The effects are checked from outside: the host's mount table before and
//! after each run, the rootfs left as it was, and what the container itself
//! reports about its mounts and processes.

mod common;

use insta_cmd::assert_cmd_snapshot;
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

const BIN: &str = env!("CARGO_BIN_EXE_03-mount");

/// The container's own mounts, in the order the lesson makes them; with no
/// terminal on stdin there is no /dev/console.
const CONTAINER_MOUNTS: &[&str] = &["/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/sys", "/tmp"];

/// The shared filters, plus this lesson's: the type of the file system the
/// rootfs lives on depends on where the repository was cloned.
fn settings() -> insta::Settings {
    let mut settings = common::settings();
    settings.add_filter(r"(?m)^  / \(\S+\)$", "  / ([ROOTFS FS TYPE])");
    settings.add_filter(
        r"(?m)^(! leaked into the outer namespace: \S+) \(\S+\)$",
        "$1 ([ROOTFS FS TYPE])",
    );
    settings
}

/// One container at a time: each test checks that the rootfs is left as it
/// was, and another test's container creates `.old-root` in it for a moment.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs the lesson with `args` and checks that the host's mount table and
/// the rootfs's top level are exactly as they were.
fn run_leaving_host_alone(args: &[&str]) -> (i32, String, String) {
    let rootfs = common::rootfs();
    let _one = one_at_a_time();
    let mounts = common::mount_points();
    let top_level = |dir: &std::path::Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let rootfs_before = top_level(&rootfs);
    let result = common::run(common::lesson(BIN).args(args));
    assert_eq!(
        common::mount_points(),
        mounts,
        "03-mount {args:?} changed the host's mount table:\n{}{}",
        result.1,
        result.2
    );
    assert_eq!(
        top_level(&rootfs),
        rootfs_before,
        "03-mount {args:?} left something in the rootfs"
    );
    result
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    common::rootfs();
    let _one = one_at_a_time();
    settings().bind(|| assert_cmd_snapshot!(common::timed(&mut common::lesson(BIN))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn escape_demo_narration_and_output() {
    require_root!();
    common::rootfs();
    let _one = one_at_a_time();
    settings().bind(|| assert_cmd_snapshot!(common::timed(common::lesson(BIN).arg("--escape"))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn no_private_demo_narration_and_output() {
    require_root!();
    common::rootfs();
    let _one = one_at_a_time();
    settings()
        .bind(|| assert_cmd_snapshot!(common::timed(common::lesson(BIN).arg("--no-private"))));
}

#[test]
fn help() {
    settings().bind(|| assert_cmd_snapshot!(common::timed(common::lesson(BIN).arg("--help"))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_host_mount_table_is_unchanged_by_every_mode() {
    require_root!();
    for args in [
        &[][..],
        &["--escape"],
        &["--no-private"],
        &[
            "-q",
            "--",
            "sh",
            "-c",
            "mount -t tmpfs tmpfs /mnt && : > /mnt/x",
        ],
        &["-q", "--", "sh", "-c", "exit 3"],
    ] {
        run_leaving_host_alone(args);
    }
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn inside_the_mount_table_holds_only_the_containers_mounts() {
    require_root!();
    let (code, out, err) = run_leaving_host_alone(&["-q", "--", "cat", "/proc/self/mountinfo"]);
    assert_eq!(code, 0, "{err}");
    let points: Vec<&str> = out
        .lines()
        .map(|line| line.split(' ').nth(4).expect("a mount point field"))
        .collect();
    assert_eq!(points, CONTAINER_MOUNTS, "{out}");
    // None of the host's other mount points is visible inside.
    for host_point in common::mount_points() {
        if !CONTAINER_MOUNTS.contains(&host_point.as_str()) {
            assert!(
                !points.contains(&host_point.as_str()),
                "{host_point} is visible inside"
            );
        }
    }
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn ps_inside_lists_only_the_containers_processes() {
    require_root!();
    let (code, out, err) =
        run_leaving_host_alone(&["-q", "--", "sh", "-c", "ps -o pid,comm; true"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    // The shell as PID 1 and ps, its child (`; true` keeps the shell from
    // exec'ing ps in its place): nothing of the host's hundreds.
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0], ["1", "sh"], "{out}");
    assert_eq!(rows[1][1], "ps", "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn proc_dev_sys_and_tmp_are_what_the_lesson_says() {
    require_root!();
    // `: > FILE` (the shell's own redirection) instead of touch(1): the
    // rootfs made from host programs has no touch, and "command not found"
    // must not pass for "read-only".
    let script = "cat /proc/self/mounts; ls -l /dev/null /dev/zero /dev/ptmx; \
                  head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; \
                  ( : > /sys/x ) 2>&1 | grep -q 'Read-only file system' && echo sys-read-only; \
                  : > /tmp/x && echo tmp-writable";
    let (code, out, err) = run_leaving_host_alone(&["-q", "--", "sh", "-c", script]);
    assert_eq!(code, 0, "{err}");
    let has_mount = |point: &str, fstype: &str, option: &str| {
        out.lines().any(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.len() > 3 && f[1] == point && f[2] == fstype && f[3].split(',').any(|o| o == option)
        })
    };
    assert!(has_mount("/proc", "proc", "nosuid"), "{out}");
    assert!(has_mount("/dev", "tmpfs", "nosuid"), "{out}");
    assert!(has_mount("/dev/pts", "devpts", "ptmxmode=666"), "{out}");
    assert!(has_mount("/sys", "sysfs", "ro"), "{out}");
    assert!(has_mount("/tmp", "tmpfs", "nodev"), "{out}");
    assert!(
        out.contains("crw-rw-rw-"),
        "/dev/null is not a 0666 device:\n{out}"
    );
    assert!(out.contains("/dev/ptmx -> pts/ptmx"), "{out}");
    for expected in ["4\n", "null-ok", "sys-read-only", "tmp-writable"] {
        assert!(out.contains(expected), "no {expected:?} in:\n{out}");
    }
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_chroot_escape_no_longer_reaches_the_host() {
    require_root!();
    let rootfs = common::rootfs();
    let (code, out, err) = run_leaving_host_alone(&[
        "--escape",
        "--",
        "sh",
        "-c",
        &format!(
            "cat /etc/nslab-release; ls -d {} || echo not-visible",
            rootfs.display()
        ),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("✓ no escape: after 0 × chdir(\"..\")"),
        "{out}"
    );
    // Still reading the rootfs's files, and the host's path to it is gone.
    assert!(out.contains("nslab rootfs, built from"), "{out}");
    assert!(out.contains("not-visible"), "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn without_private_the_mount_leaks_into_the_outer_namespace_only() {
    require_root!();
    let rootfs = common::rootfs();
    let (code, out, err) = run_leaving_host_alone(&["--no-private"]);
    // The container never starts: pivot_root refuses a shared tree.
    assert_eq!(code, 125, "{out}{err}");
    assert!(err.contains("EINVAL"), "{err}");
    assert!(
        err.contains("MS_REC | MS_PRIVATE"),
        "the hint is missing: {err}"
    );
    assert!(
        out.contains(&format!(
            "! leaked into the outer namespace: {} ",
            rootfs.display()
        )),
        "{out}"
    );
    assert!(out.contains("✓ unchanged"), "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_commands_exit_status_is_passed_on() {
    require_root!();
    let (code, _, _) = run_leaving_host_alone(&["-q", "--", "sh", "-c", "exit 7"]);
    assert_eq!(code, 7);
    let (code, _, err) = run_leaving_host_alone(&["-q", "--", "no-such-command"]);
    assert_eq!(code, 127, "{err}");
}
