//! The leak check: after the whole suite, the host holds nothing nslab made.
//!
//! `scripts/test.sh` runs [`record_host_state`] before the suite, which
//! records the host's state (mount points, System V IPC objects, network
//! devices, POSIX message queues) in the directory named by
//! `NSLAB_LEAKS_BEFORE`; runs every other test; then runs
//! [`nothing_is_left_behind`], which compares, and also looks for what
//! nslab names itself: leftovers `nslab cleanup` would remove, cgroups,
//! network devices, runtime state, and processes of the suite still running
//! in a PID namespace of their own. Both are `#[ignore]`d and run by name
//! (`--ignored --exact`), so they never run mid-suite, and nothing else
//! runs in those two phases.
//!
//! The leak check is itself tested: each `planted_*` test plants one leak
//! of a kind and checks that the same functions report it.

mod common;

use nix::mount::{mount, umount, MsFlags};
use nslab::leftovers;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the leak check records before the suite and compares after it.
#[derive(Debug)]
struct HostState {
    /// Mount points, one line per mount: a point with two mounts stacked
    /// on it is there twice.
    mounts: Vec<String>,
    /// `kind key id` of each System V IPC object.
    sysvipc: Vec<String>,
    /// Network device names.
    netdevs: Vec<String>,
    /// POSIX message queue names.
    queues: Vec<String>,
}

impl HostState {
    /// The host's state now.
    fn now() -> Self {
        let mut queues = leftovers::queues().expect("listing the POSIX message queues");
        queues.sort();
        HostState {
            mounts: common::mount_points(),
            sysvipc: sysvipc(),
            netdevs: network_devices(),
            queues,
        }
    }

    /// Each part: the file it is recorded in, what one line is, the lines.
    fn parts(&self) -> [(&'static str, &'static str, &Vec<String>); 4] {
        [
            ("mounts", "mount", &self.mounts),
            ("sysvipc", "System V IPC object", &self.sysvipc),
            ("netdevs", "network device", &self.netdevs),
            ("queues", "POSIX message queue", &self.queues),
        ]
    }

    fn save(&self, dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        for (file, _, lines) in self.parts() {
            fs::write(dir.join(file), lines.join("\n")).unwrap();
        }
    }

    /// The record in `dir`. Fails loudly when there is none: a check with
    /// nothing to compare against would pass whatever the suite leaked.
    fn load(dir: &Path) -> Self {
        let part = |file: &str| -> Vec<String> {
            let path = dir.join(file);
            let text = fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "the leak check has no record of the host before the suite ({}: {e}): \
                     run the suite with scripts/test.sh",
                    path.display()
                )
            });
            let mut lines: Vec<String> = text
                .lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            lines.sort();
            lines
        };
        let state = HostState {
            mounts: part("mounts"),
            sysvipc: part("sysvipc"),
            netdevs: part("netdevs"),
            queues: part("queues"),
        };
        // There is always a / and a lo: without them the record is broken.
        assert!(
            !state.mounts.is_empty() && !state.netdevs.is_empty(),
            "the leak check's record of the host before the suite, in {}, is empty: \
             run the suite with scripts/test.sh",
            dir.display()
        );
        state
    }
}

/// The directory `NSLAB_LEAKS_BEFORE` names; fails loudly without one.
fn record_dir() -> PathBuf {
    match std::env::var("NSLAB_LEAKS_BEFORE") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "NSLAB_LEAKS_BEFORE is not set: the leak check needs a directory for its record \
             of the host before the suite; run the suite with scripts/test.sh"
        ),
    }
}

/// System V IPC objects in our IPC namespace, one line per object, without
/// the columns that change by themselves (times, counters).
fn sysvipc() -> Vec<String> {
    let mut objects = Vec::new();
    for kind in nslab::ipc::SYSV_KINDS {
        let text = fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            // key and id identify the object.
            let fields: Vec<&str> = line.split_whitespace().take(2).collect();
            objects.push(format!("{kind} {}", fields.join(" ")));
        }
    }
    objects.sort();
    objects
}

fn network_devices() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn nslab_cgroups() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for hierarchy in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let candidates = [hierarchy.path().join("nslab"), hierarchy.path()];
        for dir in candidates {
            if dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("nslab"))
                && dir.is_dir()
            {
                found.push(dir);
            }
        }
    }
    found
}

/// What differs between `before` and `now`, one line per change. Lines are
/// counted, not just looked up: a second mount stacked on a mount point
/// that was there before is a change.
fn changes(before: &HostState, now: &HostState) -> Vec<String> {
    let mut changes = Vec::new();
    for ((_, what, was), (_, _, is)) in before.parts().into_iter().zip(now.parts()) {
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for line in is {
            *counts.entry(line).or_default() += 1;
        }
        for line in was {
            *counts.entry(line).or_default() -= 1;
        }
        for (line, n) in counts {
            let change = if n > 0 { "appeared" } else { "disappeared" };
            for _ in 0..n.unsigned_abs() {
                changes.push(format!("{what} {change}: {line}"));
            }
        }
    }
    changes
}

/// What nslab names itself and must never outlive a run, whatever was
/// there before: what `nslab cleanup` would remove for `state_dir`, and
/// nslab's cgroups, network devices, runtime state and mounts.
fn named_leaks(state_dir: &Path) -> Vec<String> {
    let mut leaks: Vec<String> = leftovers::find(state_dir, &[])
        .expect("looking for leftovers")
        .iter()
        .map(|l| l.describe())
        .collect();
    leaks.extend(
        common::mount_points()
            .iter()
            .filter(|m| m.contains("nslab"))
            .map(|m| format!("mount {m}")),
    );
    leaks.extend(
        nslab_cgroups()
            .iter()
            .map(|c| format!("cgroup {}", c.display())),
    );
    leaks.extend(
        network_devices()
            .iter()
            .filter(|n| n.starts_with("nslab"))
            .map(|n| format!("network device {n}")),
    );
    if let Ok(entries) = fs::read_dir("/run/nslab") {
        leaks.extend(
            entries
                .flatten()
                .map(|e| format!("state {}", e.path().display())),
        );
    }
    leaks.extend(
        stray_processes(state_dir)
            .iter()
            .map(|pid| format!("process {pid} still running in a PID namespace of its own")),
    );
    leaks
}

/// Processes in another PID namespace than ours that belong to the suite
/// using `state_dir`: they, or one of their ancestors, are marked as ours.
fn stray_processes(state_dir: &Path) -> Vec<i32> {
    let our_namespace = fs::read_link("/proc/self/ns/pid").unwrap();
    let pids = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok());
    pids.filter(|pid| {
        // Gone meanwhile, or a kernel thread: no namespace link to read.
        fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|ns| ns != our_namespace)
    })
    .filter(|&pid| ancestry(pid).iter().any(|&p| is_marked(p, state_dir)))
    .collect()
}

/// `pid`, its parent, its parent's parent… up to the top.
fn ancestry(pid: i32) -> Vec<i32> {
    let mut line = vec![pid];
    while let Some(parent) = fs::read_to_string(format!("/proc/{}/status", line[line.len() - 1]))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PPid:")?.trim().parse().ok())
        })
        .filter(|&p: &i32| p > 0 && !line.contains(&p))
    {
        line.push(parent);
    }
    line
}

/// Whether process `pid` is marked as the suite's: its environment holds
/// `NSLAB_TEST_MARK` or `NSLAB_STATE_DIR` set to `state_dir` (lessons run
/// by the tests get the latter), or its root directory is the rootfs in
/// `state_dir` (a container's, chrooted or pivoted into it: either way
/// /proc/<pid>/root leads to the same directory).
fn is_marked(pid: i32, state_dir: &Path) -> bool {
    let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let marks =
        ["NSLAB_TEST_MARK", "NSLAB_STATE_DIR"].map(|v| format!("{v}={}", state_dir.display()));
    let in_env = environ
        .split(|&b| b == 0)
        .any(|var| marks.iter().any(|m| var == m.as_bytes()));
    let id = |m: fs::Metadata| (m.dev(), m.ino());
    let rootfs = fs::metadata(state_dir.join("rootfs")).map(id).ok();
    let root = fs::metadata(format!("/proc/{pid}/root")).map(id).ok();
    in_env || (rootfs.is_some() && root == rootfs)
}

/// Writes the "before" record that the leak check compares against.
/// Called by scripts/test.sh as
/// `cargo test --test leaks -- --ignored --exact record_host_state`.
#[test]
#[ignore = "run by scripts/test.sh before the suite"]
fn record_host_state() {
    let dir = record_dir();
    // Leftovers already here would be blamed on the suite afterwards.
    let state = common::state_dir();
    let found = leftovers::find(&state, &[]).expect("looking for leftovers");
    assert!(
        found.is_empty(),
        "before the suite, the host already holds what killed nslab runs left behind:\n  {}\n\
         remove it first: sudo nslab cleanup --state-dir {}",
        found
            .iter()
            .map(|l| l.describe())
            .collect::<Vec<_>>()
            .join("\n  "),
        state.display()
    );
    HostState::now().save(&dir);
}

#[test]
#[ignore = "run by scripts/test.sh after the suite"]
fn nothing_is_left_behind() {
    let before = HostState::load(&record_dir());
    let mut leaks = named_leaks(&common::state_dir());
    // And everything else exactly as it was before the suite.
    leaks.extend(changes(&before, &HostState::now()));
    assert!(
        leaks.is_empty(),
        "the suite left these behind on the host:\n  {}",
        leaks.join("\n  ")
    );
}

// The leak check against planted leaks, one test per kind. Each plants in
// a setting of its own (a temporary directory, or a forked child in new
// mount and IPC namespaces) so that nothing reaches the host.

/// A PID that is gone: that of a child that has ended and been reaped.
fn gone_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    child.id()
}

fn mount_tmpfs(target: &Path) {
    let flags = MsFlags::empty();
    mount(Some("tmpfs"), target, Some("tmpfs"), flags, None::<&str>).unwrap();
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn planted_mount_stacked_on_a_mount_point_is_reported() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = fs::canonicalize(tmp.path()).unwrap();
    common::in_private_namespaces(|| {
        mount_tmpfs(&dir);
        let before = HostState::now();
        mount_tmpfs(&dir);
        let appeared = format!("mount appeared: {}", dir.display());
        assert_eq!(changes(&before, &HostState::now()), [appeared]);

        umount(&dir).unwrap();
        umount(&dir).unwrap();
        let disappeared = format!("mount disappeared: {}", dir.display());
        assert_eq!(changes(&before, &HostState::now()), [disappeared]);
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn planted_system_v_object_is_reported() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let key = nslab::ipc::demo::key_for(gone_pid());
    common::in_private_namespaces(|| {
        let before = HostState::now();
        // SAFETY: a plain system call on integer arguments.
        let id = unsafe { libc::msgget(key, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0);
        assert_eq!(
            changes(&before, &HostState::now()),
            [format!("System V IPC object appeared: msg {key} {id}")]
        );
        let leftover = leftovers::Leftover::SysV {
            kind: leftovers::SysvKind::Msg,
            key,
            id,
        };
        assert!(named_leaks(tmp.path()).contains(&leftover.describe()));
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn planted_posix_queue_is_reported() {
    use nix::mqueue::{mq_close, mq_open, MQ_OFlag, MqAttr};
    use nix::sys::stat::Mode;

    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let name = format!("/nslab-demo-{}", gone_pid());
    common::in_private_namespaces(|| {
        let before = HostState::now();
        let attr = MqAttr::new(0, 10, 64, 0);
        let oflag = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR;
        mq_close(mq_open(name.as_str(), oflag, Mode::S_IRUSR, Some(&attr)).unwrap()).unwrap();
        assert_eq!(
            changes(&before, &HostState::now()),
            [format!("POSIX message queue appeared: {name}")]
        );
        let leftover = leftovers::Leftover::Queue(name.clone());
        assert!(named_leaks(tmp.path()).contains(&leftover.describe()));
    });
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn planted_old_root_is_reported() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let state = fs::canonicalize(tmp.path()).unwrap();
    let old_root = state.join("rootfs/.old-root");
    fs::create_dir_all(&old_root).unwrap();
    let leftover = leftovers::Leftover::OldRoot(old_root);
    assert!(named_leaks(&state).contains(&leftover.describe()));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn planted_process_in_a_new_pid_namespace_is_reported() {
    require_root!();
    let state = common::state_dir();
    // `unshare --fork` stays in our PID namespace and waits for its child,
    // the `sleep`, PID 1 of a new one: the process to find.
    let plant = |mark: bool, command: &[&str]| {
        let mut cmd = Command::new("unshare");
        // unshare 2.38 complains when its child dies of SIGKILL, as ours will.
        cmd.args(["--pid", "--fork"])
            .args(command)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        if mark {
            cmd.env("NSLAB_TEST_MARK", &state);
        }
        let unshare = cmd.spawn().expect("starting unshare");
        let pid = unshare.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let child = loop {
            let children = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
            if let Some(child) = children.ok().and_then(|c| c.trim().parse::<i32>().ok()) {
                break child;
            }
            assert!(Instant::now() < deadline, "unshare started no child");
            std::thread::sleep(Duration::from_millis(10));
        };
        (unshare, child)
    };
    let mut planted = vec![
        // Marked in its own environment.
        plant(true, &["sleep", "30"]),
        // With an empty environment, but started by a marked process.
        plant(true, &["env", "-i", "sleep", "30"]),
        // Not the suite's: another program's container.
        plant(false, &["sleep", "30"]),
    ];
    // The child has exec'd sleep once its command line says so.
    for (_, child) in &planted {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fs::read(format!("/proc/{child}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0")) {
            assert!(Instant::now() < deadline, "sleep did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    let found = stray_processes(&state);
    let reported = |i: usize| found.contains(&planted[i].1);
    let outcome = (reported(0), reported(1), reported(2));
    let unshares_reported = planted
        .iter()
        .any(|(u, _)| found.contains(&(u.id() as i32)));

    // Kill each sleep by its PID; its unshare then ends, and is reaped.
    for (unshare, child) in &mut planted {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*child),
            nix::sys::signal::SIGKILL,
        );
        unshare.wait().unwrap();
    }
    assert_eq!(
        outcome,
        (true, true, false),
        "reported: marked, marked by ancestry, not ours (found {found:?})"
    );
    assert!(
        !unshares_reported,
        "a process in our own PID namespace was reported"
    );
    let planted_pids: Vec<i32> = planted.iter().map(|(_, c)| *c).collect();
    assert!(stray_processes(&state)
        .iter()
        .all(|pid| !planted_pids.contains(pid)));
}
