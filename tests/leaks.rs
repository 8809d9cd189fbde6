//! The leak check: after the whole suite, the host holds nothing nslab made.
//!
//! `scripts/test.sh` records the host's state before the suite (mount
//! points, System V IPC objects, network devices) in the directory named by
//! `NSLAB_LEAKS_BEFORE`, runs every other test, then runs this one
//! (`--ignored`, so a plain `cargo test` does not run it mid-suite).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

/// System V IPC objects on the host, one line per object, without the
/// columns that change by themselves (times, counters).
fn sysvipc() -> Vec<String> {
    let mut objects = Vec::new();
    for kind in ["msg", "sem", "shm"] {
        let text = fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // key and id identify the object.
            objects.push(format!(
                "{kind} {}",
                fields.iter().take(2).cloned().collect::<Vec<_>>().join(" ")
            ));
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

fn lines_of(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
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

/// Writes the "before" record that the leak check compares against.
/// Called by scripts/test.sh as `cargo test --test leaks -- --ignored record`.
#[test]
#[ignore = "run by scripts/test.sh before the suite"]
fn record_host_state() {
    let Ok(dir) = std::env::var("NSLAB_LEAKS_BEFORE") else {
        panic!("set NSLAB_LEAKS_BEFORE to a directory to record the host's state in");
    };
    let dir = PathBuf::from(dir);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("mounts"), common::mount_points().join("\n")).unwrap();
    fs::write(dir.join("sysvipc"), sysvipc().join("\n")).unwrap();
    fs::write(dir.join("netdevs"), network_devices().join("\n")).unwrap();
}

#[test]
#[ignore = "run by scripts/test.sh after the suite"]
fn nothing_is_left_behind() {
    let mut leaks = Vec::new();

    // Things nslab names itself must never outlive a run.
    let mounts = common::mount_points();
    leaks.extend(
        mounts
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
    if let Ok(entries) = fs::read_dir("/dev/mqueue") {
        leaks.extend(
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("nslab"))
                .map(|e| format!("POSIX message queue {}", e.path().display())),
        );
    }
    // Debris of interrupted steps inside the test state directory.
    let state = common::state_dir();
    for entry in fs::read_dir(&state).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().contains(".building-") {
            leaks.push(format!("half-built rootfs {}", entry.path().display()));
        }
    }
    if state.join("rootfs/.nslab-escape").exists() {
        leaks.push("escape directory left in the rootfs".into());
    }

    // And everything else exactly as it was before the suite.
    if let Ok(before) = std::env::var("NSLAB_LEAKS_BEFORE") {
        let before = PathBuf::from(before);
        let compare = |what: &str, was: Vec<String>, now: Vec<String>, leaks: &mut Vec<String>| {
            for extra in now.iter().filter(|n| !was.contains(n)) {
                leaks.push(format!("{what} appeared: {extra}"));
            }
            for gone in was.iter().filter(|w| !now.contains(w)) {
                leaks.push(format!("{what} disappeared: {gone}"));
            }
        };
        compare(
            "mount",
            lines_of(&before.join("mounts")),
            mounts,
            &mut leaks,
        );
        compare(
            "System V IPC object",
            lines_of(&before.join("sysvipc")),
            sysvipc(),
            &mut leaks,
        );
        compare(
            "network device",
            lines_of(&before.join("netdevs")),
            network_devices(),
            &mut leaks,
        );
    }

    assert!(
        leaks.is_empty(),
        "the suite left these behind on the host:\n  {}",
        leaks.join("\n  ")
    );
}
