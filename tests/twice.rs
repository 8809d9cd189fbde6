//! Running a lesson twice leaves the host exactly as before: the same mount
//! table, and no file added or changed in the state directory (the only
//! place the lessons may write) after the first run built the rootfs.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn tree(root: &Path) -> BTreeMap<String, (u32, u64, i64)> {
    let mut entries = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            }
            let rel = entry
                .path()
                .strip_prefix(root)
                .unwrap()
                .display()
                .to_string();
            // mode, size and mtime: a rewritten file changes its mtime. A
            // directory's mtime is left out: the escape demo's mkdir and
            // rmdir touch it while leaving its contents as they were.
            let mtime = if meta.is_dir() {
                0
            } else {
                meta.mtime_nsec() + meta.mtime() * 1_000_000_000
            };
            entries.insert(rel, (meta.mode(), meta.len(), mtime));
        }
    }
    entries
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn each_lesson_twice_leaves_the_host_as_it_found_it() {
    require_root!();
    common::rootfs();
    let lessons: &[(&str, &[&str])] = &[
        (env!("CARGO_BIN_EXE_00-process"), &[]),
        (env!("CARGO_BIN_EXE_01-chroot"), &[]),
        (env!("CARGO_BIN_EXE_01-chroot"), &["--escape"]),
        (env!("CARGO_BIN_EXE_02-pid"), &[]),
        (env!("CARGO_BIN_EXE_03-mount"), &[]),
        (env!("CARGO_BIN_EXE_03-mount"), &["--escape"]),
        (env!("CARGO_BIN_EXE_04-uts"), &["--hostname", "lab"]),
        (env!("CARGO_BIN_EXE_05-ipc"), &[]),
        // No bridge: this test runs on the machine's own network.
        (env!("CARGO_BIN_EXE_06-net"), &["--net", "none"]),
    ];
    for (bin, args) in lessons {
        let mounts = common::mount_points();
        let state = tree(&common::state_dir());
        for run in 1..=2 {
            let (code, out, err) = common::run(common::lesson(bin).args(*args));
            assert_eq!(code, 0, "{bin} {args:?} run {run}:\n{out}{err}");
        }
        assert_eq!(
            common::mount_points(),
            mounts,
            "{bin} {args:?} changed the host's mount table"
        );
        assert_eq!(
            tree(&common::state_dir()),
            state,
            "{bin} {args:?} changed the state directory"
        );
    }
}
