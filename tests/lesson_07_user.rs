//! Lesson 07: user namespaces, checked from outside.
//!
//! Runs happen in a network namespace of the test's own (lesson 07 plugs
//! in a bridge by default), with a run directory of their own. What is
//! checked: the maps the kernel holds are the ones asked for; the ids root
//! inside has on the host; the doors of lessons 03-05 closed; bad maps
//! refused before anything exists.

mod common;

use insta_cmd::assert_cmd_snapshot;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_07-user");

/// A fresh run directory for test `name`.
fn run_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("run-07-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Lesson 07 with `args`, in a new network namespace.
fn in_netns(run: &Path, args: &[&str]) -> Command {
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", BIN])
        .args(args)
        .env("NSLAB_RUN_DIR", run);
    cmd
}

/// The shifted copy of the rootfs for root mapped to `uid`:`gid`.
fn shifted_rootfs(uid: u32, gid: u32) -> PathBuf {
    common::state_dir().join(format!("rootfs-{uid}-{gid}"))
}

fn settings() -> insta::Settings {
    let mut settings = common::settings();
    settings.add_filter(r"time=[0-9.]+ ms", "time=[T] ms");
    // Unplugging: the kernel removes a dead namespace's veth pair in the
    // background, so the host's end is found and deleted, found and gone
    // before the delete (ENODEV), or gone already. All three are right.
    settings.add_filter(
        r"(?m)^→ ip link show nslab2h   # RTM_GETLINK\n(?:  nslab2h is link \d+\n→ ip link del nslab2h   # RTM_DELLINK\n|  no link called nslab2h\n)(?:  nslab2h went with the container's namespace: a veth pair dies with either end\n)?",
        "[THE HOST'S END nslab2h: DELETED, OR GONE WITH THE CONTAINER'S NAMESPACE]\n",
    );
    settings.add_filter(r"netns \d+", "netns [PID]");
    settings.add_filter(r"\.nslab-volume-\d+", ".nslab-volume-[PID]");
    let run = run_dir_path("demo");
    settings.add_filter(&regex::escape(&run), "[RUN]");
    let relative = run
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    settings.add_filter(&regex::escape(&format!("./{relative}")), "[RUN]");
    // Written by an earlier run, or by this one: the copy is made once.
    settings.add_filter(
        r"(?m)^→ copy \[STATE\]/rootfs to \[STATE\]/rootfs-100000-100000, owners shifted: 0:0 becomes 100000:100000, so root inside owns its files\n|^  \[STATE\]/rootfs-100000-100000 is the rootfs with its owners shifted to 100000:100000, made by an earlier run\n",
        "[THE ROOTFS, OWNERS SHIFTED: MADE NOW OR BEFORE]\n",
    );
    settings
}

fn run_dir_path(name: &str) -> String {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("run-07-{name}"))
        .display()
        .to_string()
}

/// The demo runs take turns: each makes and removes the volume's mount
/// point in the shared shifted copy of the rootfs, and looks for demo
/// volumes left behind, which another demo in progress has.
static DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    let _turn = DEMO.lock().unwrap_or_else(|e| e.into_inner());
    common::rootfs();
    let run = run_dir("demo");
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", BIN]).env("NSLAB_RUN_DIR", &run);
    settings().bind(|| assert_cmd_snapshot!(common::timed(&mut cmd)));
}

#[test]
fn help() {
    settings().bind(|| assert_cmd_snapshot!(common::timed(common::lesson(BIN).arg("--help"))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_kernel_holds_exactly_the_maps_asked_for() {
    require_root!();
    common::rootfs();
    let run = run_dir("maps");
    let (code, out, err) = common::run(&mut in_netns(
        &run,
        &[
            "-q",
            "--map",
            "0:200000:1000",
            "--map",
            "1000:300000:5",
            "--",
            "sh",
            "-c",
            "echo uid: $(cat /proc/self/uid_map); echo gid: $(cat /proc/self/gid_map); id -u; id -g",
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    let expected = "0 200000 1000 1000 300000 5";
    assert!(out.contains(&format!("uid: {expected}")), "{out}");
    assert!(out.contains(&format!("gid: {expected}")), "{out}");
    assert!(out.contains("\n0\n0\n"), "root inside: {out}");
    // The copy for that root belongs to it on the host.
    let bin = shifted_rootfs(200_000, 200_000).join("bin");
    let meta = std::fs::symlink_metadata(&bin).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (200_000, 200_000));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn what_root_inside_makes_belongs_to_the_mapped_uid_on_the_host() {
    require_root!();
    common::rootfs();
    let run = run_dir("owner");
    let (code, out, err) = common::run(&mut in_netns(
        &run,
        &[
            "-q",
            "--",
            "sh",
            "-c",
            "echo hi > /root/from-the-test; id -u",
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "0");
    let file = shifted_rootfs(100_000, 100_000).join("root/from-the-test");
    let meta = std::fs::metadata(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (100_000, 100_000));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_doors_of_lessons_03_to_05_are_closed() {
    require_root!();
    let _turn = DEMO.lock().unwrap_or_else(|e| e.into_inner());
    common::rootfs();
    let run = run_dir("doors");
    let (code, out, err) = common::run(&mut in_netns(&run, &[]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("inside: id:             uid=0(root) gid=0(root)"),
        "{out}"
    );
    // The file root inside wrote in the host's directory is uid 100000's.
    assert!(
        out.contains("host: owner:           uid 100000 gid 100000"),
        "{out}"
    );
    let volumes: Vec<_> = std::fs::read_dir(common::state_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".nslab-volume-")
        })
        .map(|e| e.path())
        .collect();
    assert!(volumes.is_empty(), "the demo volume is left: {volumes:?}");
    assert!(
        out.contains("inside: /proc/sys/vm:   refused (Permission denied)"),
        "{out}"
    );
    assert!(
        out.contains("inside: mknod b 8 0:    refused (Operation not permitted)"),
        "{out}"
    );
    assert!(
        out.contains("inside: /sys:           remount read-write refused"),
        "{out}"
    );
    // The host's own user namespace is not the container's.
    let inside = out
        .lines()
        .find_map(|l| l.strip_prefix("inside: user namespace: "))
        .expect(&out);
    assert_ne!(inside, common::host_namespace("user"));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn bad_maps_are_refused_before_anything_is_made() {
    require_root!();
    let run = run_dir("bad");
    for (args, message) in [
        (&["--map", "0:100000:0"][..], "COUNT is 0"),
        (&["--map", "0:100000"][..], "three numbers"),
        (
            &["--map", "0:400000:10", "--map", "5:500000:10"][..],
            "overlap inside",
        ),
        (&["--map", "1:600000:10"][..], "give root inside"),
        (&["--net", "host"][..], "cannot go with a user namespace"),
        (
            &["--net", "container:web"][..],
            "cannot go with a user namespace",
        ),
    ] {
        let (code, out, err) = common::run(&mut in_netns(&run, args));
        assert_ne!(code, 0, "{args:?}: {out}{err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!out.contains("inside:"), "{args:?} ran: {out}");
    }
    for uid in [0, 400_000, 600_000] {
        assert!(
            !shifted_rootfs(uid, uid).exists(),
            "a copy for {uid} was made"
        );
    }
    let leases = run.join("net/leases");
    let held = std::fs::read_dir(&leases).map(|d| d.count()).unwrap_or(0);
    assert_eq!(held, 0, "a lease was taken");
}

/// A directory owned by nobody (65534), for a rootless run's state.
fn nobodys_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("rootless-07-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["", "state", "run"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(65_534), Some(65_534)).unwrap();
    }
    dir
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root (to become nobody)"]
fn an_ordinary_user_runs_it_without_sudo_and_is_root_inside() {
    require_root!();
    let dir = nobodys_dir("nobody");
    let before = common::mount_points();
    // As nobody, in a new network namespace for safety's sake (the lesson
    // chooses --net none itself: a bridge needs real root).
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", BIN])
        .args([
            "--",
            "sh",
            "-c",
            "echo id: $(id -u) $(id -g); echo map: $(cat /proc/self/uid_map); echo links: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_RUNTIME_DIR", dir.join("run"));
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("not root: a rootless container, your uid 65534"),
        "{out}"
    );
    assert!(out.contains("so --net none"), "{out}");
    assert!(out.contains("id: 0 0"), "{out}");
    assert!(out.contains("map: 0 65534 1"), "{out}");
    assert!(out.contains("links: lo\n"), "{out}");
    assert!(
        out.contains("write /proc/"),
        "the handshake is narrated: {out}"
    );
    // Its state is its own, and nothing is left mounted or running.
    let rootfs = dir.join("state/nslab/rootfs");
    assert_eq!(std::fs::metadata(&rootfs).unwrap().uid(), 65_534);
    assert!(!rootfs.join(".old-root").exists());
    assert_eq!(common::mount_points(), before);
    assert!(
        std::fs::read_dir(dir.join("run")).unwrap().next().is_none(),
        "the run directory is not empty"
    );

    // A range of ids needs root (or newuidmap): said before anything is made.
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        BIN,
    ])
    .args(["--map", "0:100000:65536", "--", "true"])
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .env("NO_COLOR", "1")
    .env("XDG_STATE_HOME", dir.join("state"))
    .env("XDG_RUNTIME_DIR", dir.join("run"));
    let (code, out, err) = common::run(&mut cmd);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("without root only your own ids can be mapped"),
        "{err}"
    );
    assert!(!dir.join("state/nslab/rootfs-100000-100000").exists());
}

/// A user the test makes, with a range of subordinate ids, removed (with
/// its ranges: userdel(8) removes them from /etc/subuid and /etc/subgid)
/// when dropped.
struct Learner {
    name: &'static str,
    uid: u32,
    gid: u32,
}

impl Learner {
    const NAME: &'static str = "nslab-learner";

    fn create() -> Learner {
        let _ = Command::new("userdel").arg(Self::NAME).status();
        let made = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                Self::NAME,
            ])
            .status()
            .unwrap();
        assert!(made.success(), "useradd failed");
        let ranges = Command::new("usermod")
            .args([
                "--add-subuids",
                "300000-365535",
                "--add-subgids",
                "300000-365535",
                Self::NAME,
            ])
            .status()
            .unwrap();
        assert!(ranges.success(), "usermod --add-subuids failed");
        let user = nix::unistd::User::from_name(Self::NAME).unwrap().unwrap();
        Learner {
            name: Self::NAME,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }
    }
}

impl Drop for Learner {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(self.name).status();
    }
}

#[test]
#[ignore = "needs root and the uidmap package: run by scripts/test.sh as root (.ci/run installs uidmap)"]
fn a_user_with_subordinate_ids_gets_a_whole_range_through_newuidmap() {
    require_root!();
    assert!(
        Path::new("/usr/bin/newuidmap").is_file(),
        "newuidmap is missing: `apt install uidmap` (.ci/run installs it)"
    );
    let learner = Learner::create();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rootless-07-range");
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["", "state", "run"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::os::unix::fs::chown(dir.join(sub), Some(learner.uid), Some(learner.gid)).unwrap();
    }
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={}", learner.uid),
        &format!("--regid={}", learner.gid),
        "--clear-groups",
        "--",
        BIN,
        "--",
        "sh",
        "-c",
        // uid 1 inside exists only with a range: chown to it works.
        "echo map: $(cat /proc/self/uid_map); echo gmap: $(cat /proc/self/gid_map); \
         echo x > /tmp/f && chown 1:1 /tmp/f && echo owner: $(stat -c %u:%g /tmp/f)",
    ])
    .env_clear()
    .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
    .env("NO_COLOR", "1")
    .env("XDG_STATE_HOME", dir.join("state"))
    .env("XDG_RUNTIME_DIR", dir.join("run"));
    let (code, out, err) = common::run(&mut cmd);
    drop(learner);
    let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
    assert!(
        !subuid.contains(Learner::NAME),
        "userdel left the range behind"
    );
    assert_eq!(code, 0, "{out}{err}");
    let uid = nix::unistd::User::from_name(Learner::NAME).ok().flatten();
    assert!(uid.is_none(), "the test user is still there");
    assert!(out.contains("newuidmap "), "the helper is narrated: {out}");
    let map_line = out
        .lines()
        .find_map(|l| l.strip_prefix("map: "))
        .expect(&out);
    let fields: Vec<&str> = map_line.split_whitespace().collect();
    assert_eq!(fields.len(), 6, "two ranges: {map_line}");
    assert_eq!(&fields[3..], ["1", "300000", "65536"], "{map_line}");
    assert!(out.contains("gmap: 0 "), "{out}");
    assert!(out.contains("owner: 1:1"), "{out}{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_killed_runs_demo_volume_is_found_and_removed_by_cleanup() {
    require_root!();
    let state = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state-07-volume");
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let volume = state.join(format!(".nslab-volume-{dead}"));
    std::fs::create_dir(&volume).unwrap();
    std::fs::write(volume.join("made-inside"), "hi").unwrap();
    let live = state.join(format!(".nslab-volume-{}", std::process::id()));
    std::fs::create_dir(&live).unwrap();
    let run = run_dir("volume");
    let cleanup = |dry: bool| {
        let mut cmd = common::lesson(env!("CARGO_BIN_EXE_nslab"));
        cmd.arg("cleanup").args(dry.then_some("--dry-run")).args([
            "--state-dir",
            state.to_str().unwrap(),
            "--run-dir",
            run.to_str().unwrap(),
        ]);
        common::run(&mut cmd)
    };
    let (code, out, err) = cleanup(true);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("volume or layer of a killed lesson"), "{out}");
    assert!(volume.exists(), "--dry-run removed it");
    let (code, out, err) = cleanup(false);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!volume.exists(), "{out}");
    assert!(live.exists(), "a running lesson's volume was removed");
    std::fs::remove_dir(&live).unwrap();
}
