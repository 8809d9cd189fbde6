//! The default rootfs: built offline, deterministically, from either
//! source, and usable by a lesson.

mod common;

use nslab::rootfs::{self, Source};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

/// Every entry under `root`: path → (kind, mode, size, link target or content).
fn describe_tree(root: &Path) -> BTreeMap<String, String> {
    let mut tree = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let what = if meta.file_type().is_symlink() {
                format!("link -> {}", fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {:o}", meta.mode())
            } else {
                format!(
                    "file {:o} {} bytes, sum {}",
                    meta.mode(),
                    meta.len(),
                    fs::read(&path)
                        .unwrap()
                        .iter()
                        .map(|b| *b as u64)
                        .sum::<u64>()
                )
            };
            tree.insert(rel, what);
        }
    }
    tree
}

#[test]
fn the_same_host_gives_the_same_tree_fast() {
    nslab::narrate::init(true);
    let source = rootfs::detect_source().expect("this host has busybox or a shell");
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    rootfs::build(&source, &dir.path().join("a")).unwrap();
    let elapsed = started.elapsed();
    rootfs::build(&source, &dir.path().join("b")).unwrap();
    assert_eq!(
        describe_tree(&dir.path().join("a")),
        describe_tree(&dir.path().join("b"))
    );
    assert!(elapsed.as_millis() < 1000, "building took {elapsed:?}");
}

#[test]
fn busybox_rootfs_has_a_shell_and_the_marker() {
    nslab::narrate::init(true);
    let Ok(Source::Busybox(_)) = rootfs::detect_source() else {
        // The CI machine installs busybox-static; a laptop may not have it.
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must have busybox-static installed"
        );
        eprintln!("skipping: no busybox on this host");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("rootfs");
    rootfs::build_into_place(&rootfs::detect_source().unwrap(), &target).unwrap();
    assert_eq!(
        fs::read_link(target.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert!(fs::read_to_string(target.join(rootfs::MARKER))
        .unwrap()
        .contains("busybox"));
    // Nothing but the finished tree is left in the state directory.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("rootfs")]);
}

#[test]
fn host_programs_rootfs_runs_a_shell_without_busybox() {
    require_root!();
    nslab::narrate::init(true);
    // The fallback for hosts without busybox: host binaries plus the shared
    // libraries the dynamic loader says they need.
    let source = rootfs::host_programs_source().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("rootfs");
    rootfs::build_into_place(&source, &target).unwrap();
    assert!(
        fs::read_link(target.join("bin/sh")).is_err(),
        "sh must be a copied binary, not a busybox link"
    );
    let (code, out, err) = common::run(
        common::lesson(env!("CARGO_BIN_EXE_01-chroot"))
            .arg("--quiet")
            .arg("--rootfs")
            .arg(&target)
            .args([
                "--",
                "sh",
                "-c",
                "echo shell ok; cat /etc/nslab-release; ls /bin | grep -c .",
            ]),
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "shell ok");
    assert!(lines[1].contains("host programs"), "{out}");
    assert!(lines[2].parse::<usize>().unwrap() >= 10, "{out}");
}

#[test]
fn first_run_narrates_the_build() {
    require_root!();
    let state = tempfile::tempdir().unwrap();
    let (code, out, err) = common::run(
        common::lesson(env!("CARGO_BIN_EXE_01-chroot"))
            .env("NSLAB_STATE_DIR", state.path())
            .args(["--", "true"]),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("First run: building the default rootfs"),
        "{out}"
    );
    assert!(out.contains("rootfs ready at"), "{out}");
    // The second run reuses it, silently.
    let (_, again, _) = common::run(
        common::lesson(env!("CARGO_BIN_EXE_01-chroot"))
            .env("NSLAB_STATE_DIR", state.path())
            .args(["--", "true"]),
    );
    assert!(!again.contains("First run"), "{again}");
}
