//! A curious learner is the test: each claim the lessons print, checked
//! from outside, and each narrated call checked to matter (remove the call,
//! keep its narration, and one of these fails).

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin(name: &str) -> String {
    let target = std::path::Path::new(env!("CARGO_BIN_EXE_nslab"))
        .parent()
        .unwrap();
    target.join(name).display().to_string()
}

/// Without `chdir("/")` after chroot the current directory would stay on
/// the host: `.` would not be `/`.
/// Lesson 06's arguments for a run that makes no network device: these
/// tests are about what every lesson inherits, and a bridge would be the
/// machine's (they do not run in a network namespace of their own).
fn quiet_net(lesson: &str) -> &'static [&'static str] {
    if matches!(lesson, "06-net" | "07-user" | "08-cgroups" | "11-lockdown") {
        &["--net", "none"]
    } else {
        &[]
    }
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn after_chroot_the_current_directory_is_the_new_root() {
    require_root!();
    common::rootfs();
    for lesson in ["01-chroot", "02-pid"] {
        let (code, out, err) = common::run(common::lesson(&bin(lesson)).args([
            "-q",
            "--",
            "sh",
            "-c",
            // `ls -di` prints "INODE NAME"; only sh and ls: any rootfs has them.
            "ls -di .; ls -di /",
        ]));
        assert_eq!(code, 0, "{lesson}: {err}");
        let inodes: Vec<&str> = out
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(inodes.len(), 2, "{lesson}: {out}");
        assert_eq!(inodes[0], inodes[1], "{lesson}: . is not / inside: {out}");
    }
}

/// `MS_REC | MS_PRIVATE` matters only where `/` is shared, as on every
/// systemd host: run the lessons inside an outer mount namespace made
/// shared, and check that nothing they mount appears in it.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn nothing_leaks_into_a_shared_outer_namespace() {
    require_root!();
    common::rootfs();
    for lesson in [
        "03-mount",
        "04-uts",
        "05-ipc",
        "06-net",
        "07-user",
        "08-cgroups",
        "11-lockdown",
    ] {
        let script = format!(
            "before=$(cut -d' ' -f5 /proc/self/mountinfo | sort); \
             {} {} -q -- true || exit 9; \
             after=$(cut -d' ' -f5 /proc/self/mountinfo | sort); \
             [ \"$before\" = \"$after\" ] && echo SAME || {{ echo LEAKED; echo \"$after\"; }}",
            bin(lesson),
            quiet_net(lesson).join(" ")
        );
        let (code, out, err) = common::run(common::lesson("unshare").args([
            "--mount",
            "--propagation",
            "shared",
            "sh",
            "-c",
            &script,
        ]));
        assert_eq!(code, 0, "{lesson}: {out}{err}");
        assert_eq!(
            out.trim(),
            "SAME",
            "{lesson} leaked a mount into a shared outer namespace:\n{out}"
        );
    }
}

/// A descriptor the lesson inherited (`7< /`) must not reach the command.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn inherited_descriptors_do_not_reach_the_command() {
    require_root!();
    common::rootfs();
    for lesson in [
        "00-process",
        "03-mount",
        "05-ipc",
        "06-net",
        "07-user",
        "08-cgroups",
        "11-lockdown",
    ] {
        let mut cmd = common::lesson(&bin(lesson));
        cmd.args(quiet_net(lesson)).args([
            "-q",
            "--",
            "sh",
            "-c",
            "[ -e /proc/self/fd/7 ] && echo LEAKED || echo CLOSED",
        ]);
        let root = std::fs::File::open("/").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&root);
        // SAFETY: dup2 is async-signal-safe; it runs in the forked child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 7) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let (code, out, err) = common::run(&mut cmd);
        assert_eq!(code, 0, "{lesson}: {err}");
        assert_eq!(out.trim(), "CLOSED", "{lesson}: fd 7 reached the command");
    }
}

/// The command starts with no signal ignored and none blocked.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_command_starts_with_default_signals() {
    require_root!();
    common::rootfs();
    for lesson in ["00-process", "03-mount"] {
        let (code, out, err) = common::run(common::lesson(&bin(lesson)).args([
            "-q",
            "--",
            "cat",
            "/proc/self/status",
        ]));
        assert_eq!(code, 0, "{lesson}: {err}");
        for field in ["SigIgn:", "SigBlk:"] {
            let line = out.lines().find(|l| l.starts_with(field)).expect(field);
            assert!(line.ends_with("0000000000000000"), "{lesson}: {line}");
        }
    }
}

/// The direct children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie is as good as gone: it runs nothing.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

fn wait_until(limit: Duration, mut what: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    what()
}

/// Starts `lesson -- sleep 60` and returns it with its container's pid.
fn start_sleeping(lesson: &str) -> (std::process::Child, u32) {
    let mut child = common::lesson(&bin(lesson))
        .args(quiet_net(lesson))
        .args(["--", "sleep", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lesson_pid = child.id();
    let mut container = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            container = children(lesson_pid).first().copied();
            container.is_some_and(|c| {
                std::fs::read_to_string(format!("/proc/{c}/cmdline"))
                    .unwrap_or_default()
                    .starts_with("sleep")
            })
        }),
        "{lesson} did not start its container"
    );
    let _ = &mut child;
    (child, container.unwrap())
}

/// SIGKILL of the lesson kills its container (PR_SET_PDEATHSIG).
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_container_dies_with_a_killed_lesson() {
    require_root!();
    common::rootfs();
    // 07: becoming root inside changes the uid, which clears the death
    // signal (prctl(2)) unless it is set again.
    for lesson in ["00-process", "03-mount", "07-user", "08-cgroups"] {
        let (mut child, container) = start_sleeping(lesson);
        let lesson_pid = child.id();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            wait_until(Duration::from_secs(20), || !alive(container)),
            "{lesson}: the container {container} outlived the lesson"
        );
        if lesson == "08-cgroups" {
            // What SIGKILL leaves of 08: its (empty) cgroup, named after
            // the lesson, which nslab cleanup removes.
            let cgroup =
                std::path::PathBuf::from(format!("/sys/fs/cgroup/memory/nslab/{lesson_pid}"));
            let v2 = std::path::PathBuf::from(format!("/sys/fs/cgroup/nslab/{lesson_pid}"));
            assert!(
                cgroup.exists() || v2.exists(),
                "no cgroup was left to clean up"
            );
            let run = common::state_dir().join("run-curious");
            let (code, out, err) = common::run(
                common::lesson(&bin("nslab"))
                    .env("NSLAB_RUN_DIR", &run)
                    .args(["cleanup"]),
            );
            assert_eq!(code, 0, "{out}{err}");
            assert!(!cgroup.exists() && !v2.exists(), "cleanup left it: {out}");
        }
    }
}

/// SIGTERM and SIGHUP are passed on; a PID 1 that ignores them is killed
/// after the grace period, and the lesson still runs its cleanup.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_terminated_lesson_stops_its_container_and_cleans_up() {
    require_root!();
    common::rootfs();
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let mounts = common::mount_points();
        let (child, container) = start_sleeping("03-mount");
        // SAFETY: kill(2) on the pid of a process this test started.
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!alive(container), "the container outlived the lesson");
        assert!(stdout.contains(&format!("kill({container}, ")), "{stdout}");
        assert!(stdout.contains("SIGKILL"), "{stdout}");
        assert!(
            stdout.contains("The host's mount table, after the run"),
            "{stdout}"
        );
        assert_eq!(out.status.code(), Some(128 + 9), "{stdout}");
        assert_eq!(common::mount_points(), mounts);
    }
}

/// Lesson 02 has no mount namespace: a mount made inside lands on the
/// host. The lesson says so, and removes it.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn lesson_02_shows_and_removes_a_leaked_mount() {
    require_root!();
    common::rootfs();
    let mounts = common::mount_points();
    let (code, out, err) = common::run(common::lesson(&bin("02-pid")).args([
        "--",
        "sh",
        "-c",
        "mount -t proc proc /proc",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        common::mount_points(),
        mounts,
        "the leak was not removed:\n{out}"
    );
    assert!(out.contains("! new on the host:"), "{out}");
    assert!(out.contains("/rootfs/proc (proc)"), "{out}");
    assert!(out.contains("umount2("), "{out}");
}

/// After pivot_root in 04 and 05, the old root is gone: no `.old-root`,
/// no mount of the host's inside.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_old_root_is_gone_in_every_pivoting_lesson() {
    require_root!();
    common::rootfs();
    for lesson in [
        "03-mount",
        "04-uts",
        "05-ipc",
        "06-net",
        "07-user",
        "08-cgroups",
        "11-lockdown",
    ] {
        let (code, out, err) =
            common::run(common::lesson(&bin(lesson)).args(quiet_net(lesson)).args([
                "-q",
                "--",
                "sh",
                "-c",
                "ls -a /; echo --; cat /proc/self/mountinfo",
            ]));
        assert_eq!(code, 0, "{lesson}: {err}");
        let (listing, mountinfo) = out.split_once("--\n").expect(&out);
        assert!(!listing.contains(".old-root"), "{lesson}: {out}");
        // Only the container's own mounts: nothing of the host's tree.
        let ours = [
            "/",
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/tmp",
            // In a user namespace (07) mknod is refused, and these are
            // the host's nodes bound one by one: on purpose, and no more.
            "/dev/null",
            "/dev/zero",
            "/dev/full",
            "/dev/random",
            "/dev/urandom",
            "/dev/tty",
        ];
        // Lesson 11 lends its corpus's layer as a read-only volume, and
        // masks and freezes parts of /proc and /sys with mounts of their own.
        let lockdown: Vec<&str> = if lesson == "11-lockdown" {
            use nslab::lockdown::{escapes, paths};
            [escapes::VOLUME]
                .into_iter()
                .chain(paths::MASKED.iter().copied())
                .chain(paths::READ_ONLY.iter().copied())
                .collect()
        } else {
            Vec::new()
        };
        for point in mountinfo.lines().filter_map(|l| l.split(' ').nth(4)) {
            assert!(
                ours.contains(&point) || lockdown.contains(&point),
                "{lesson}: {point} is mounted inside:\n{out}"
            );
        }
    }
}

/// Twenty escapes at once all succeed, and leave nothing in the rootfs.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn twenty_escapes_at_once_all_succeed() {
    require_root!();
    let rootfs = common::rootfs();
    for lesson in ["01-chroot", "02-pid"] {
        let runs: Vec<_> = (0..20)
            .map(|_| {
                let path = bin(lesson);
                std::thread::spawn(move || {
                    common::run(common::lesson(&path).args(["-q", "--escape", "--", "true"]))
                })
            })
            .collect();
        for run in runs {
            let (code, out, err) = run.join().unwrap();
            assert_eq!(code, 0, "{lesson} --escape failed:\n{out}{err}");
        }
        let left: Vec<_> = std::fs::read_dir(&rootfs)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".nslab-escape"))
            .collect();
        assert!(left.is_empty(), "{lesson}: left {left:?}");
    }
}

/// An error in the child before execve is reported once, by the parent,
/// with its hint.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_childs_error_is_reported_once_with_its_hint() {
    require_root!();
    common::rootfs();
    for lesson in ["01-chroot", "03-mount"] {
        let (code, _, err) =
            common::run(common::lesson(&bin(lesson)).args(["-q", "--", "no-such-command"]));
        assert_eq!(code, 127, "{err}");
        assert_eq!(err.matches("error:").count(), 1, "{lesson}: {err}");
        assert_eq!(err.matches("hint:").count(), 1, "{lesson}: {err}");
    }
}

/// Lesson 00 runs as an ordinary user: it isolates nothing.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root (to become nobody)"]
fn lesson_00_runs_as_nobody() {
    require_root!();
    let (code, out, err) = common::run(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(bin("00-process"))
            .args(["-q", "--", "id", "-u"])
            .env("NO_COLOR", "1"),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "65534");
}

/// A write into the shared rootfs (01 has an empty /dev: `> /dev/null`
/// makes a file) is reported; `nslab cleanup --rootfs` then removes the
/// default rootfs, and the next run builds a clean one. In a state
/// directory of its own, so that no other test sees the write.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_write_into_the_shared_rootfs_is_reported_and_cleanup_rebuilds() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let run = |args: &[&str]| {
        common::run(
            common::lesson(&bin("01-chroot"))
                .env("NSLAB_STATE_DIR", &state)
                .args(args),
        )
    };
    let (code, out, err) = run(&["--", "sh", "-c", "echo hi > /dev/null"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("== The shared rootfs, after the run =="),
        "{out}"
    );
    assert!(out.contains("! new: /dev/null"), "{out}");
    assert!(state.join("rootfs/dev/null").is_file());

    let (code, out, err) = common::run(
        common::lesson(&bin("nslab"))
            .env("NSLAB_STATE_DIR", &state)
            // A run directory of its own: cleanup also judges the network
            // devices of the namespace it runs in, here the machine's.
            .env("NSLAB_RUN_DIR", state.join("run"))
            .args(["cleanup", "--rootfs"]),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(!state.join("rootfs").exists(), "{out}");

    let (code, out, err) = run(&["--", "ls", "/dev"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("The shared rootfs"), "{out}");
    assert!(!state.join("rootfs/dev/null").exists());
}
