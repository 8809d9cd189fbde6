//! `nslab cleanup`: each kind of leftover is planted, found, left alone by
//! a dry run and removed by a real one, while a live one of the same kind
//! is never reported.
//!
//! Every check runs in a forked child in new mount, IPC and network
//! namespaces with `/` made private: the mounts, System V objects, POSIX
//! queues and network devices it plants exist only there and die with it,
//! and nothing another program on the host made can be found (or removed).
//! Only the state and run directories, in a temporary directory, are on
//! the host's disk.

mod common;

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{mount, MsFlags};
use nslab::leftovers::LeftoversError;
use nslab::leftovers::{self, Leftover, SysvKind};
use nslab::net::lease::{Lease, Leases};
use nslab::net::netlink::Netlink;
use nslab::net::BRIDGE;
use nslab::record::{self, ProcessId, Record};
use std::fs;
use std::io::{Read, Seek};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// [`common::in_private_namespaces`], and a network namespace of its own
/// too: `nslab cleanup` removes network devices, and must never see the
/// host's. Fails unless the new namespace has only `lo`.
fn in_private_namespaces(check: impl FnOnce()) {
    common::in_private_namespaces(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        assert_eq!(links(), ["lo"], "not in a new network namespace");
        check();
    });
}

/// The names of the links in this network namespace, sorted.
fn links() -> Vec<String> {
    let mut names = Netlink::open().unwrap().link_names().unwrap();
    names.sort();
    names
}

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

/// `cleanup` with `dry_run`: its exit code and narration. Its run
/// directory, beside `state`, does not exist: no network leftover is
/// looked for.
fn cleanup(state: &Path, dry_run: bool) -> (i32, String) {
    let mut code = -1;
    let run = state.with_file_name("run");
    let narration = narration_of(|| code = leftovers::cleanup(state, &run, dry_run));
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
    in_private_namespaces(|| {
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
    in_private_namespaces(|| {
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
    in_private_namespaces(|| {
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
    in_private_namespaces(|| {
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
    in_private_namespaces(|| {
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
    in_private_namespaces(|| {
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
    in_private_namespaces(|| {
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
    let run = run_dir(&tmp);
    let dead = reaped();
    in_private_namespaces(|| {
        fs::create_dir(state.join("rootfs/.nslab-escape")).unwrap();
        // Readable by anyone, unlike the run directory lessons make.
        plant_record(&run, &Record::new("dead", dead));
        nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).unwrap();
        let (code, narration) = cleanup(&state, false);
        assert_eq!(code, 1, "{narration}");
        assert!(
            narration.contains("needs root: run it with sudo"),
            "{narration}"
        );
        assert_eq!(narration_of(|| leftovers::warn_if_any(&state)), "");
        assert_eq!(narration_of(|| leftovers::warn_if_any_network(&run)), "");
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
    in_private_namespaces(|| {
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

// Lesson 06: container records, address leases, the bridge and veth ends.

/// A process that has ended and been reaped, told apart from a later
/// process with its pid by its start time.
fn reaped() -> ProcessId {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let id = ProcessId::of(child.id() as i32).unwrap();
    child.wait().unwrap();
    id
}

/// This process, which runs until its check ends.
fn me() -> ProcessId {
    ProcessId::of(std::process::id() as i32).unwrap()
}

/// A run directory in `tmp`, without symlinks; not made yet.
fn run_dir(tmp: &tempfile::TempDir) -> PathBuf {
    fs::canonicalize(tmp.path()).unwrap().join("run")
}

/// Writes `record` where, and as, record.rs writes it: what a lesson
/// killed with SIGKILL leaves.
fn plant_record(run: &Path, record: &Record) -> PathBuf {
    fs::create_dir_all(record::containers_dir(run)).unwrap();
    let path = record::record_path(run, &record.name);
    fs::write(&path, serde_json::to_vec_pretty(record).unwrap()).unwrap();
    path
}

/// Makes the bridge, as lesson 06 does; returns its index.
fn plant_bridge(netlink: &mut Netlink) -> u32 {
    netlink.add_bridge(BRIDGE).unwrap();
    netlink.link_index(BRIDGE).unwrap().unwrap()
}

/// Makes the veth pair `host`/`peer` and plugs `host` into the bridge.
fn plant_veth(netlink: &mut Netlink, host: &str, peer: &str, bridge: u32) {
    netlink.add_veth(host, peer).unwrap();
    let index = netlink.link_index(host).unwrap().unwrap();
    netlink.set_master(host, index, BRIDGE, bridge).unwrap();
}

/// The path of lease `lease` under `run`.
fn lease_path(run: &Path, lease: Lease) -> PathBuf {
    run.join("net/leases").join(lease.number.to_string())
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The leftover device `name`, judged by the leases of `run`.
fn link(name: &str, run: &Path) -> Leftover {
    Leftover::Link {
        name: name.into(),
        run_dir: run.into(),
    }
}

/// `nslab cleanup` run as the program, in the caller's namespaces: its
/// exit code, and its standard output and error.
fn nslab_cleanup(state: &Path, run: &Path, dry_run: bool) -> (i32, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nslab"));
    cmd.env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .arg("cleanup")
        .arg("--state-dir")
        .arg(state)
        .arg("--run-dir")
        .arg(run);
    if dry_run {
        cmd.arg("--dry-run");
    }
    let (code, out, err) = common::run(&mut cmd);
    (code, format!("{out}{err}"))
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn network_leftovers_are_listed_by_a_dry_run_and_removed_by_cleanup() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = state_dir(&tmp);
    let run = run_dir(&tmp);
    let dead = reaped();
    in_private_namespaces(|| {
        // A killed lesson's lease and record; a running lesson's.
        let leases = Leases::lock(&run).unwrap();
        let stale = leases.take(dead).unwrap();
        let live = leases.take(me()).unwrap();
        drop(leases);
        let dead_record = plant_record(&run, &Record::new("dead", dead));
        let live_claim = record::claim(&run, "live").unwrap();
        // The bridge; the killed lesson's veth pair, the running one's,
        // and one whose lease is gone already; a device not nslab's.
        let mut netlink = Netlink::open().unwrap();
        let bridge = plant_bridge(&mut netlink);
        let orphan = ("nslab7h".to_string(), "nslab7c".to_string());
        for (host, peer) in [
            (stale.host_end(), stale.container_end()),
            (live.host_end(), live.container_end()),
            orphan.clone(),
        ] {
            plant_veth(&mut netlink, &host, &peer, bridge);
        }
        netlink.add_bridge("other0").unwrap();
        let planted = links();
        assert_eq!(
            planted,
            [
                "lo", "nslab0", "nslab2c", "nslab2h", "nslab3c", "nslab3h", "nslab7c", "nslab7h",
                "other0"
            ]
        );

        let found = vec![
            Leftover::Record(dead_record.clone()),
            link(&stale.host_end(), &run),
            link(&orphan.0, &run),
            Leftover::Lease(lease_path(&run, stale)),
        ];
        assert_eq!(leftovers::find_network(&run).unwrap(), found);

        let (code, out) = nslab_cleanup(&state, &run, true);
        assert_eq!(code, 0, "{out}");
        for leftover in &found {
            assert!(out.contains(&leftover.describe()), "{out}");
        }
        let bridge_found = link(BRIDGE, &run).describe();
        assert!(!out.contains(&bridge_found), "a lease is live: {out}");
        assert!(
            out.contains("dry run: 4 leftovers found, nothing removed"),
            "{out}"
        );
        assert_eq!(calls(&out), Vec::<&str>::new(), "{out}");
        assert_eq!(links(), planted);
        assert_eq!(names_in(&run.join("net/leases")), ["2", "3"]);
        assert!(dead_record.exists());

        let (code, out) = nslab_cleanup(&state, &run, false);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("4 leftovers removed: nothing is left behind"),
            "{out}"
        );
        for call in ["ip link del nslab2h", "ip link del nslab7h"] {
            assert!(calls(&out).iter().any(|c| c.starts_with(call)), "{out}");
        }
        assert!(!out.contains("ip link del nslab0"), "{out}");
        // A veth end takes its peer with it; the running lesson's devices,
        // the bridge, its lease and its record stay.
        assert_eq!(links(), ["lo", "nslab0", "nslab3c", "nslab3h", "other0"]);
        assert_eq!(names_in(&run.join("net/leases")), ["3"]);
        assert_eq!(names_in(&record::containers_dir(&run)), ["live.json"]);
        assert_eq!(leftovers::find_network(&run).unwrap(), vec![]);

        // That lesson is killed too, and a later one swept its stale
        // lease: its veth end has no lease, and nobody holds one.
        drop(live_claim);
        Leases::lock(&run).unwrap().give_back(live).unwrap();
        let found = vec![
            link(&live.host_end(), &run),
            link(BRIDGE, &run),
            Leftover::NetState(run.join("net")),
        ];
        assert_eq!(leftovers::find_network(&run).unwrap(), found);
        let (code, out) = nslab_cleanup(&state, &run, false);
        assert_eq!(code, 0, "{out}");
        for leftover in &found {
            assert!(out.contains(&leftover.describe()), "{out}");
        }
        assert!(
            calls(&out).contains(&"ip link del nslab0   # RTM_DELLINK"),
            "{out}"
        );
        assert_eq!(links(), ["lo", "other0"]);
        // The bridge's bookkeeping went with it.
        assert!(!run.join("net").exists());
        assert_eq!(leftovers::find_network(&run).unwrap(), vec![]);
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn what_was_found_unused_is_kept_when_a_lesson_starts_meanwhile() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(&tmp);
    in_private_namespaces(|| {
        drop(Leases::lock(&run).unwrap()); // makes the lease directory
        let mut netlink = Netlink::open().unwrap();
        let bridge = plant_bridge(&mut netlink);
        plant_veth(&mut netlink, "nslab2h", "nslab2c", bridge);
        let found = vec![
            link("nslab2h", &run),
            link(BRIDGE, &run),
            Leftover::NetState(run.join("net")),
        ];
        assert_eq!(leftovers::find_network(&run).unwrap(), found);

        // A lesson starts and takes the lowest free address, 2: the
        // bridge, and a device by the name it is about to use, are its.
        let lease = Leases::lock(&run).unwrap().take(me()).unwrap();
        assert_eq!(lease.number, 2);
        let lease_found = Leftover::Lease(lease_path(&run, lease));
        let kept = [
            "kept the veth end nslab2h: a lesson started".to_string(),
            "kept the bridge nslab0: a lesson started".to_string(),
            format!(
                "kept the lock and lease directory {}: a lesson started",
                run.join("net").display()
            ),
            format!(
                "kept the address lease {}: a lesson started",
                lease_path(&run, lease).display()
            ),
        ];
        for (leftover, kept) in found.iter().chain([&lease_found]).zip(kept) {
            let error = leftover.remove().unwrap_err();
            assert!(matches!(error, LeftoversError::NowInUse { .. }), "{error}");
            assert!(error.to_string().starts_with(&kept), "{error}");
            assert!(error.hint().unwrap().contains("nslab cleanup"), "{error}");
        }
        assert_eq!(links(), ["lo", "nslab0", "nslab2c", "nslab2h"]);
        assert!(lease_path(&run, lease).exists());
        assert_eq!(leftovers::find_network(&run).unwrap(), vec![]);
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn devices_are_judged_only_by_a_run_dir_with_leases() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = state_dir(&tmp);
    let run = run_dir(&tmp);
    in_private_namespaces(|| {
        let mut netlink = Netlink::open().unwrap();
        let bridge = plant_bridge(&mut netlink);
        plant_veth(&mut netlink, "nslab7h", "nslab7c", bridge);
        let planted = links();

        // No lesson 06 used this run directory: these devices may be
        // those of lessons run with another one.
        assert_eq!(leftovers::find_network(&run).unwrap(), vec![]);
        let (code, out) = nslab_cleanup(&state, &run, false);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("nothing is left behind"), "{out}");
        assert_eq!(links(), planted);

        drop(Leases::lock(&run).unwrap());
        assert_eq!(
            leftovers::find_network(&run).unwrap(),
            [
                link("nslab7h", &run),
                link(BRIDGE, &run),
                Leftover::NetState(run.join("net"))
            ]
        );
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn lesson_06_is_warned_about_network_leftovers_and_told_its_run_dir() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(&tmp);
    let dead = reaped();
    in_private_namespaces(|| {
        let live = Leases::lock(&run).unwrap().take(me()).unwrap();
        let mut netlink = Netlink::open().unwrap();
        let bridge = plant_bridge(&mut netlink);
        plant_veth(
            &mut netlink,
            &live.host_end(),
            &live.container_end(),
            bridge,
        );
        let warned = narration_of(|| leftovers::warn_if_any_network(&run));
        assert_eq!(warned, "", "only a running lesson's lease and devices");

        let stale = Leases::lock(&run).unwrap().take(dead).unwrap();
        let warned = narration_of(|| leftovers::warn_if_any_network(&run));
        let lease = Leftover::Lease(lease_path(&run, stale));
        assert!(warned.contains(&lease.describe()), "{warned}");
        let command = format!("sudo nslab cleanup --run-dir {}", run.display());
        assert!(
            warned.contains(&format!("run `{command}` to remove it")),
            "{warned}"
        );
    });
}
