//! `nslab cleanup`: each kind of leftover is planted, found, left alone by
//! a dry run and removed by a real one, while a live one of the same kind
//! is never reported.
//!
//! Every check runs in a forked child in new mount and IPC namespaces with
//! `/` made private: the mounts, System V objects and POSIX queues it
//! plants exist only there and die with it, and nothing another program on
//! the host made can be found (or removed). Only the state directory, a
//! temporary directory, is on the host's disk.

mod common;

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{mount, MsFlags};
use nslab::leftovers::{self, Leftover, SysvKind};
use std::fs;
use std::io::{Read, Seek};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// What `f` narrates: standard output is a file meanwhile.
fn narration_of(f: impl FnOnce()) -> String {
    let mut file = tempfile::tempfile().unwrap();
    let stdout = nix::unistd::dup(1).unwrap();
    nix::unistd::dup2(file.as_raw_fd(), 1).unwrap();
    nslab::narrate::init(false);
    f();
    nix::unistd::dup2(stdout, 1).unwrap();
    nix::unistd::close(stdout).unwrap();
    nslab::narrate::init(true);
    let mut text = String::new();
    file.rewind().unwrap();
    file.read_to_string(&mut text).unwrap();
    text
}

/// A PID that is gone: that of a child that has ended and been reaped.
fn gone_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    child.id()
}

/// A temporary directory and, in it, `state/rootfs`; returns the state
/// directory, without symlinks (as the kernel shows mount points).
fn state_dir(tmp: &tempfile::TempDir) -> PathBuf {
    let state = fs::canonicalize(tmp.path()).unwrap().join("state");
    fs::create_dir_all(state.join("rootfs")).unwrap();
    state
}

/// The mount points at or below `dir`, as this namespace sees them.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    common::mount_points()
        .into_iter()
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect()
}

fn mount_tmpfs(target: &Path) {
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
}

/// The removal calls in a narration, in order.
fn calls(narration: &str) -> Vec<&str> {
    narration
        .lines()
        .filter_map(|line| line.strip_prefix("→ "))
        .collect()
}

/// `cleanup` with `dry_run`: its exit code and narration.
fn cleanup(state: &Path, dry_run: bool) -> (i32, String) {
    let mut code = -1;
    let narration = narration_of(|| code = leftovers::cleanup(state, dry_run));
    (code, narration)
}

/// A dry run reports `found` and removes nothing (it makes no call).
fn dry_run_reports(state: &Path, found: &[Leftover]) {
    let (code, narration) = cleanup(state, true);
    assert_eq!(code, 0, "{narration}");
    for leftover in found {
        assert!(narration.contains(&leftover.describe()), "{narration}");
    }
    assert!(narration.contains("nothing removed"), "{narration}");
    assert_eq!(calls(&narration), Vec::<&str>::new(), "{narration}");
    assert_eq!(leftovers::find(state, &[]).unwrap(), found);
}

/// A real run removes everything and says so.
fn cleanup_removes_all(state: &Path) -> String {
    let (code, narration) = cleanup(state, false);
    assert_eq!(code, 0, "{narration}");
    assert!(narration.contains("nothing is left behind"), "{narration}");
    assert_eq!(leftovers::find(state, &[]).unwrap(), vec![]);
    narration
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn mounts_below_the_state_dir_are_unmounted_deepest_first() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = fs::canonicalize(tmp.path()).unwrap().join("state");
    fs::create_dir(&state).unwrap();
    common::in_private_namespaces(|| {
        // The state directory may be a mount of its own (an administrator's
        // tmpfs or disk): it is not a leftover, only what is below it.
        mount_tmpfs(&state);
        let rootfs = state.join("rootfs");
        let proc = rootfs.join("proc");
        fs::create_dir_all(&proc).unwrap();
        // What a lesson in the host's mount namespace leaves: the rootfs
        // bound onto itself, and two mounts stacked on its /proc.
        mount(
            Some(&rootfs),
            &rootfs,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
        mount_tmpfs(&proc);
        mount_tmpfs(&proc);

        let found = vec![
            Leftover::Mount(proc.clone()),
            Leftover::Mount(proc.clone()),
            Leftover::Mount(rootfs.clone()),
        ];
        assert_eq!(leftovers::find(&state, &[]).unwrap(), found);
        dry_run_reports(&state, &found);
        assert_eq!(mounts_under(&state).len(), 4);

        let narration = cleanup_removes_all(&state);
        let unmount = |p: &Path| format!("umount2({p:?}, MNT_DETACH | UMOUNT_NOFOLLOW)");
        assert_eq!(
            calls(&narration),
            [unmount(&proc), unmount(&proc), unmount(&rootfs)],
            "{narration}"
        );
        assert_eq!(mounts_under(&state), std::slice::from_ref(&state));
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn system_v_objects_of_gone_lessons_are_removed() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = state_dir(&tmp);
    let gone = nslab::ipc::demo::key_for(gone_pid());
    common::in_private_namespaces(|| {
        let live = nslab::ipc::demo::key_for(std::process::id());
        let flags = libc::IPC_CREAT | 0o600;
        // SAFETY (all four): plain system calls on integer arguments.
        let msg = unsafe { libc::msgget(gone, flags) };
        let shm = unsafe { libc::shmget(gone, 4096, flags) };
        let sem = unsafe { libc::semget(gone, 1, flags) };
        let kept = [
            unsafe { libc::msgget(live, flags) },
            unsafe { libc::msgget(libc::IPC_PRIVATE, flags) },
            unsafe { libc::msgget(0x1234_5678, flags) },
        ];
        assert!([msg, shm, sem].iter().chain(&kept).all(|&id| id >= 0));

        let found = vec![
            Leftover::SysV {
                kind: SysvKind::Msg,
                key: gone,
                id: msg,
            },
            Leftover::SysV {
                kind: SysvKind::Shm,
                key: gone,
                id: shm,
            },
            Leftover::SysV {
                kind: SysvKind::Sem,
                key: gone,
                id: sem,
            },
        ];
        assert_eq!(leftovers::find(&state, &[]).unwrap(), found);
        dry_run_reports(&state, &found);

        let narration = cleanup_removes_all(&state);
        assert_eq!(
            calls(&narration),
            [
                format!("msgctl({msg}, IPC_RMID, NULL)"),
                format!("shmctl({shm}, IPC_RMID, NULL)"),
                format!("semctl({sem}, 0, IPC_RMID)"),
            ],
            "{narration}"
        );
        assert_eq!(nslab::ipc::sysv_ids("msg").unwrap(), kept);
        assert!(nslab::ipc::sysv_ids("shm").unwrap().is_empty());
        assert!(nslab::ipc::sysv_ids("sem").unwrap().is_empty());
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn posix_queues_of_gone_lessons_are_removed() {
    use nix::mqueue::{mq_close, mq_open, MQ_OFlag, MqAttr};
    use nix::sys::stat::Mode;

    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = state_dir(&tmp);
    let gone = format!("/nslab-demo-{}", gone_pid());
    common::in_private_namespaces(|| {
        let live = format!("/nslab-demo-{}", std::process::id());
        let other = "/made-by-someone-else".to_string();
        for name in [&gone, &live, &other] {
            let attr = MqAttr::new(0, 10, 64, 0);
            let oflag = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR;
            let queue = mq_open(name.as_str(), oflag, Mode::S_IRUSR, Some(&attr)).unwrap();
            mq_close(queue).unwrap();
        }
        let sorted = |mut names: Vec<String>| {
            names.sort();
            names
        };
        assert_eq!(
            sorted(leftovers::queues().unwrap()),
            sorted(vec![gone.clone(), live.clone(), other.clone()])
        );

        let found = vec![Leftover::Queue(gone.clone())];
        assert_eq!(leftovers::find(&state, &[]).unwrap(), found);
        dry_run_reports(&state, &found);

        let narration = cleanup_removes_all(&state);
        assert_eq!(calls(&narration), [format!("mq_unlink({gone:?})")]);
        assert_eq!(
            sorted(leftovers::queues().unwrap()),
            sorted(vec![live, other])
        );
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn old_root_counts_only_while_nobody_holds_the_rootfs_lock() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = state_dir(&tmp);
    let rootfs = state.join("rootfs");
    let other = state.parent().unwrap().join("other-rootfs");
    common::in_private_namespaces(|| {
        let old_root = rootfs.join(".old-root");
        let other_old_root = other.join(".old-root");
        fs::create_dir_all(&old_root).unwrap();
        fs::create_dir_all(&other_old_root).unwrap();
        let both = vec![
            Leftover::OldRoot(old_root.clone()),
            Leftover::OldRoot(other_old_root.clone()),
        ];
        assert_eq!(
            leftovers::find(&state, std::slice::from_ref(&other)).unwrap(),
            both
        );

        // A lesson pivoting into the rootfs holds its lock: .old-root is
        // in use, neither reported nor removed.
        let lock = Flock::lock(fs::File::open(&rootfs).unwrap(), FlockArg::LockExclusive).unwrap();
        assert_eq!(
            leftovers::find(&state, std::slice::from_ref(&other)).unwrap(),
            [both[1].clone()]
        );
        let error = both[0].remove().unwrap_err();
        assert!(error.to_string().contains("in use"), "{error}");
        assert!(old_root.is_dir());
        drop(lock);

        // Not empty: reported, skipped, and the run fails.
        fs::write(old_root.join("file"), "").unwrap();
        dry_run_reports(&state, &both[..1]);
        let (code, narration) = cleanup(&state, false);
        assert_eq!(code, 1, "{narration}");
        assert!(
            narration.contains("skipped: failed to remove"),
            "{narration}"
        );
        assert!(old_root.join("file").exists());

        fs::remove_file(old_root.join("file")).unwrap();
        let narration = cleanup_removes_all(&state);
        assert_eq!(
            calls(&narration),
            [
                format!("flock({rootfs:?}, LOCK_EX | LOCK_NB)"),
                format!("rmdir({old_root:?})"),
            ]
        );
        both[1].remove().unwrap();
        assert!(!old_root.exists() && !other_old_root.exists());
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn escape_directories_of_gone_lessons_are_removed() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = state_dir(&tmp);
    let rootfs = state.join("rootfs");
    let gone = rootfs.join(format!(".nslab-escape-{}", gone_pid()));
    common::in_private_namespaces(|| {
        let old_name = rootfs.join(".nslab-escape");
        let live = rootfs.join(format!(".nslab-escape-{}", std::process::id()));
        for dir in [&old_name, &gone, &live] {
            fs::create_dir(dir).unwrap();
        }
        let found = vec![
            Leftover::EscapeDir(old_name.clone()),
            Leftover::EscapeDir(gone.clone()),
        ];
        assert_eq!(leftovers::find(&state, &[]).unwrap(), found);
        dry_run_reports(&state, &found);

        let narration = cleanup_removes_all(&state);
        assert_eq!(
            calls(&narration),
            [format!("rmdir({old_name:?})"), format!("rmdir({gone:?})")]
        );
        assert!(live.is_dir());
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn staging_directories_are_removed_without_crossing_mounts_or_symlinks() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = state_dir(&tmp);
    let pid = gone_pid();
    common::in_private_namespaces(|| {
        let outside = state.parent().unwrap().join("outside");
        fs::create_dir_all(outside.join("dir")).unwrap();
        fs::write(outside.join("file"), "keep").unwrap();
        fs::write(outside.join("dir/file"), "keep").unwrap();

        let building = state.join(format!(".rootfs.building-{pid}"));
        fs::create_dir_all(building.join("usr/lib/deep")).unwrap();
        fs::write(building.join("usr/lib/deep/libc.so"), "").unwrap();
        std::os::unix::fs::symlink(outside.join("file"), building.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.join("dir"), building.join("usr/dirlink")).unwrap();
        let mnt = building.join("proc");
        fs::create_dir(&mnt).unwrap();
        mount_tmpfs(&mnt);
        fs::write(mnt.join("precious"), "").unwrap();
        let old = state.join(format!(".rootfs.old-{pid}"));
        fs::create_dir_all(old.join("bin")).unwrap();
        let live = state.join(format!(".rootfs.building-{}", std::process::id()));
        fs::create_dir(&live).unwrap();

        let found = vec![
            Leftover::Mount(mnt.clone()),
            Leftover::Staging(building.clone()),
            Leftover::Staging(old.clone()),
        ];
        assert_eq!(leftovers::find(&state, &[]).unwrap(), found);

        // Removed on its own, the tree stops at the mount: nothing goes.
        let error = found[1].remove().unwrap_err();
        assert!(
            error.to_string().contains("is a mount point inside it"),
            "{error}"
        );
        assert!(mnt.join("precious").exists());
        assert!(building.join("usr/lib/deep/libc.so").exists());

        dry_run_reports(&state, &found);
        let narration = cleanup_removes_all(&state);
        let calls = calls(&narration);
        assert_eq!(calls.len(), 3, "{narration}");
        assert!(calls[0].starts_with(&format!("umount2({mnt:?}")));
        assert!(calls[1].starts_with(&format!("remove {}   # no mount below", building.display())));
        assert!(calls[2].starts_with(&format!("remove {}   # no mount below", old.display())));
        assert!(!building.exists() && !old.exists());
        assert!(live.is_dir());
        assert_eq!(fs::read_to_string(outside.join("file")).unwrap(), "keep");
        assert_eq!(
            fs::read_to_string(outside.join("dir/file")).unwrap(),
            "keep"
        );
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_lesson_is_warned_about_leftovers_and_told_the_command() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = state_dir(&tmp);
    common::in_private_namespaces(|| {
        let warned = narration_of(|| leftovers::warn_if_any(&state));
        assert_eq!(warned, "", "nothing to warn about yet");

        let escape = state.join("rootfs/.nslab-escape");
        fs::create_dir(&escape).unwrap();
        let warned = narration_of(|| leftovers::warn_if_any(&state));
        assert!(
            warned.contains(&Leftover::EscapeDir(escape).describe()),
            "{warned}"
        );
        assert!(
            warned.contains("run `sudo nslab cleanup` to remove it"),
            "{warned}"
        );
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn without_root_cleanup_says_it_needs_root() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = state_dir(&tmp);
    common::in_private_namespaces(|| {
        fs::create_dir(state.join("rootfs/.nslab-escape")).unwrap();
        nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).unwrap();
        let (code, narration) = cleanup(&state, false);
        assert_eq!(code, 1, "{narration}");
        assert!(
            narration.contains("needs root: run it with sudo"),
            "{narration}"
        );
        assert_eq!(narration_of(|| leftovers::warn_if_any(&state)), "");
    });
}

/// Starts a lesson with `args` and the state directory `state`, waits for
/// its command to print `ready`, then SIGKILLs the lesson and its
/// container by PID, as a learner's `kill -9` (and the kernel's
/// PR_SET_PDEATHSIG) would.
fn kill_lesson_when_ready(bin: &str, state: &Path, args: &[&str]) {
    use nix::sys::signal::{kill, SIGKILL};
    use nix::unistd::Pid;
    use std::io::BufRead;

    let mut lesson = common::lesson(bin)
        .env("NSLAB_STATE_DIR", state)
        .args(["-q", "--"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(lesson.stdout.take().unwrap());
    assert!(
        stdout.lines().map_while(Result::ok).any(|l| l == "ready"),
        "the lesson ended before its command was ready"
    );
    let pid = lesson.id();
    let children = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    kill(Pid::from_raw(pid as i32), SIGKILL).unwrap();
    for child in children.split_whitespace() {
        let _ = kill(Pid::from_raw(child.parse().unwrap()), SIGKILL);
    }
    lesson.wait().unwrap();
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn what_killed_lessons_leave_is_found_and_removed() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = state_dir(&tmp);
    fs::remove_dir(state.join("rootfs")).unwrap(); // the lesson builds it
    common::in_private_namespaces(|| {
        // Lesson 02 has no mount namespace: the container's mount is made
        // in ours, on the rootfs's /proc, and stays.
        let mount_proc = "mount -t proc proc /proc && echo ready && sleep 30";
        kill_lesson_when_ready(
            env!("CARGO_BIN_EXE_02-pid"),
            &state,
            &["sh", "-c", mount_proc],
        );
        // Lesson 05 makes its IPC objects in our IPC namespace first.
        kill_lesson_when_ready(
            env!("CARGO_BIN_EXE_05-ipc"),
            &state,
            &["sh", "-c", "echo ready && sleep 30"],
        );

        let found = leftovers::find(&state, &[]).unwrap();
        assert!(
            found.contains(&Leftover::Mount(state.join("rootfs/proc"))),
            "{found:?}"
        );
        assert!(
            found.iter().any(|l| matches!(l, Leftover::Queue(_))),
            "{found:?}"
        );
        // Its message queue, segment and semaphore set, by their key.
        for kind in [SysvKind::Msg, SysvKind::Shm, SysvKind::Sem] {
            assert!(
                found
                    .iter()
                    .any(|l| matches!(l, Leftover::SysV { kind: k, .. } if *k == kind)),
                "no {kind} found: {found:?}"
            );
        }
        cleanup_removes_all(&state);
        // No System V object with nslab's key is left.
        for kind in nslab::ipc::SYSV_KINDS {
            let table = fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap();
            for line in table.lines().skip(1) {
                let key: i32 = line.split_whitespace().next().unwrap().parse().unwrap();
                assert_ne!(key as u32 >> 24, 0x6e, "{kind} {line}");
            }
        }
    });
}
