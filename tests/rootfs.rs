//! The default rootfs: built offline, deterministically, from either
//! source, and usable by a lesson.

mod common;

use nslab::rootfs::{self, RootfsError, Source, Stamp};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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

/// Privileged tests are `#[ignore]`d, so that without root they show as
/// ignored; run (with `--ignored`) without root, they fail instead of passing.
fn assert_root() {
    assert!(
        common::is_root(),
        "this test needs root: run it through scripts/test.sh, as root"
    );
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The pid of a process that has exited and been reaped: no process has it
/// (until the kernel hands it out again, which takes a full round of pids).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// What the state directory should hold after `prepare`: the rootfs and
/// the lock file, no staging directory, no old tree.
fn assert_only_the_rootfs_in(state: &Path) {
    assert_eq!(names_in(state), vec![".rootfs.lock", "rootfs"]);
}

#[test]
fn the_same_host_gives_the_same_tree() {
    nslab::narrate::init(true);
    let source = rootfs::detect_source().expect("this host has busybox or a shell");
    let dir = tempfile::tempdir().unwrap();
    // No timing here: a test must not depend on the machine's speed.
    rootfs::build(&source, &dir.path().join("a")).unwrap();
    rootfs::build(&source, &dir.path().join("b")).unwrap();
    assert_eq!(
        describe_tree(&dir.path().join("a")),
        describe_tree(&dir.path().join("b"))
    );
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
#[ignore = "needs root: run by scripts/test.sh as root"]
fn host_programs_rootfs_runs_a_shell_without_busybox() {
    assert_root();
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
#[ignore = "needs root: run by scripts/test.sh as root"]
fn first_run_narrates_the_build() {
    assert_root();
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
    // The check and the build happen under the state directory's lock.
    let lock = state.path().join(".rootfs.lock").display().to_string();
    assert!(
        out.contains(&format!("→ flock({lock:?}, LOCK_EX)")),
        "{out}"
    );
    // The second run reuses it, silently.
    let (_, again, _) = common::run(
        common::lesson(env!("CARGO_BIN_EXE_01-chroot"))
            .env("NSLAB_STATE_DIR", state.path())
            .args(["--", "true"]),
    );
    assert!(!again.contains("First run"), "{again}");
    assert!(
        !again.contains("flock"),
        "an up-to-date rootfs needs no lock: {again}"
    );
}

#[test]
fn an_up_to_date_rootfs_is_reused_untouched() {
    nslab::narrate::init(true);
    let state = tempfile::tempdir().unwrap();
    let first = rootfs::prepare(state.path(), None).unwrap();
    fs::write(first.join("planted"), "x").unwrap();
    let again = rootfs::prepare(state.path(), None).unwrap();
    assert_eq!(first, again);
    assert!(
        again.join("planted").exists(),
        "a current rootfs was rebuilt"
    );
    let stamp = Stamp::read(&again).unwrap();
    assert_eq!(stamp, Stamp::of(&rootfs::detect_source().unwrap()));
}

#[test]
fn a_changed_source_triggers_a_rebuild() {
    nslab::narrate::init(true);
    let now = rootfs::detect_source().unwrap();
    let state = tempfile::tempdir().unwrap();
    let target = state.path().join("rootfs");
    if let Source::Busybox(_) = now {
        // As if the first run came before `apt install busybox-static`.
        rootfs::build_into_place(&rootfs::host_programs_source().unwrap(), &target).unwrap();
        let before = Stamp::read(&target).unwrap();
        assert!(before.source.contains("host programs"), "{before}");
    } else {
        // No busybox here: the reverse, a tree from a busybox since removed.
        rootfs::build_into_place(&now, &target).unwrap();
        let from_busybox = Stamp::of(&Source::Busybox("/bin/busybox".into()));
        fs::write(target.join(rootfs::MARKER), format!("{from_busybox}\n")).unwrap();
    }
    fs::write(target.join("planted"), "x").unwrap();
    assert_eq!(rootfs::prepare(state.path(), None).unwrap(), target);
    assert_eq!(Stamp::read(&target), Some(Stamp::of(&now)));
    assert!(
        !target.join("planted").exists(),
        "the old tree is still there"
    );
    if let Source::Busybox(_) = now {
        assert_eq!(
            fs::read_link(target.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
    }
    assert_only_the_rootfs_in(state.path());
}

#[test]
fn a_rootfs_from_an_older_builder_is_rebuilt() {
    nslab::narrate::init(true);
    let source = rootfs::detect_source().unwrap();
    let state = tempfile::tempdir().unwrap();
    let target = state.path().join("rootfs");
    rootfs::build_into_place(&source, &target).unwrap();
    // What builder 1 wrote: the same source, no version.
    fs::write(
        target.join(rootfs::MARKER),
        format!("nslab rootfs, built from {}\n", source.describe()),
    )
    .unwrap();
    assert_eq!(Stamp::read(&target).unwrap().builder, 1);
    fs::write(target.join("planted"), "x").unwrap();
    rootfs::prepare(state.path(), None).unwrap();
    assert_eq!(Stamp::read(&target), Some(Stamp::of(&source)));
    assert!(
        !target.join("planted").exists(),
        "the old tree is still there"
    );
    assert_only_the_rootfs_in(state.path());
}

#[test]
fn a_stale_staging_dir_is_removed_and_a_live_one_kept() {
    nslab::narrate::init(true);
    let state = tempfile::tempdir().unwrap();
    rootfs::prepare(state.path(), None).unwrap();
    // A build that was SIGKILLed half-way, with a link out of the tree
    // whose target must survive the cleanup.
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("keep"), "precious").unwrap();
    let dead = state
        .path()
        .join(format!(".rootfs.building-{}", dead_pid()));
    fs::create_dir_all(dead.join("bin")).unwrap();
    fs::write(dead.join("bin/half"), "x").unwrap();
    std::os::unix::fs::symlink(outside.path(), dead.join("bin/out")).unwrap();
    let dead_old = state.path().join(format!(".rootfs.old-{}", dead_pid()));
    fs::create_dir_all(dead_old.join("etc")).unwrap();
    // A build in progress in another, live process.
    let mut builder = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let live = state
        .path()
        .join(format!(".rootfs.building-{}", builder.id()));
    fs::create_dir_all(live.join("bin")).unwrap();

    let listed = rootfs::stale_staging_dirs(state.path());
    rootfs::prepare(state.path(), None).unwrap();
    let live_kept = live.is_dir();
    builder.kill().unwrap();
    builder.wait().unwrap();

    let real = |p: &Path| {
        fs::canonicalize(p.parent().unwrap())
            .unwrap()
            .join(p.file_name().unwrap())
    };
    assert_eq!(listed, vec![real(&dead), real(&dead_old)]);
    assert!(
        !dead.exists() && !dead_old.exists(),
        "{:?}",
        names_in(state.path())
    );
    assert!(live_kept, "a live run's staging directory was removed");
    assert_eq!(
        fs::read_to_string(outside.path().join("keep")).unwrap(),
        "precious"
    );
    assert!(state
        .path()
        .join("rootfs/bin/sh")
        .symlink_metadata()
        .is_ok());
}

/// `path` relative to the current directory: climb to / with `..`, then
/// go down. (Tests run in threads of one process: none may chdir.)
fn relative_to_cwd(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.join(path.strip_prefix("/").unwrap())
}

#[test]
fn a_relative_state_dir_gives_an_absolute_rootfs() {
    nslab::narrate::init(true);
    let state = tempfile::tempdir().unwrap();
    let relative = relative_to_cwd(state.path());
    assert!(relative.is_relative());
    let rootfs = rootfs::prepare(&relative, None).unwrap();
    assert!(rootfs.is_absolute(), "{}", rootfs.display());
    assert_eq!(
        fs::canonicalize(&rootfs).unwrap(),
        fs::canonicalize(state.path()).unwrap().join("rootfs")
    );
    // Lessons that were handed a relative --rootfs get it absolute too.
    let explicit = rootfs::prepare(Path::new("/nonexistent"), Some(&relative_to_cwd(&rootfs)));
    assert_eq!(explicit.unwrap(), fs::canonicalize(&rootfs).unwrap());
}

#[test]
fn the_host_root_is_refused_under_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("to-root");
    std::os::unix::fs::symlink("/", &link).unwrap();
    for name in [
        PathBuf::from("/"),
        PathBuf::from("/./"),
        PathBuf::from("/.."),
        PathBuf::from("//"),
        link.clone(),
        link.join(""),
        relative_to_cwd(Path::new("/")),
    ] {
        let err = rootfs::prepare(dir.path(), Some(&name)).unwrap_err();
        assert!(
            matches!(err, RootfsError::HostRoot { .. }),
            "{}: {err}",
            name.display()
        );
        assert!(
            err.to_string()
                .contains("the container's root must be a separate directory"),
            "{err}"
        );
        assert!(err.hint().unwrap().contains("/.old-root"), "{err}");
    }
    // Nothing was built in the state directory for them.
    assert_eq!(names_in(dir.path()), vec!["to-root"]);
}

#[test]
fn a_file_is_refused_as_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rootfs.tar");
    fs::write(&file, "not a tree").unwrap();
    for name in [file.clone(), file.join("")] {
        let err = rootfs::prepare(dir.path(), Some(&name)).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is not a usable rootfs: it is a file, not a directory"),
            "{err}"
        );
        assert!(err.hint().is_some());
    }
    let err = rootfs::prepare(dir.path(), Some(&dir.path().join("missing"))).unwrap_err();
    assert!(err.to_string().contains("no such directory"), "{err}");
}

#[test]
fn odd_paths_work() {
    nslab::narrate::init(true);
    let dir = tempfile::tempdir().unwrap();
    // A state directory with a space, unicode and a trailing slash.
    let state = dir.path().join("state dir ☃/");
    let built = rootfs::prepare(&state, None).unwrap();
    assert_eq!(built, dir.path().join("state dir ☃").join("rootfs"));
    assert!(built.join(rootfs::MARKER).is_file());
    // The same tree as --rootfs, by an odd name with a trailing slash.
    let odd = dir.path().join("my rootfs ünïcødé");
    fs::rename(&built, &odd).unwrap();
    let mut with_slash = odd.clone().into_os_string();
    with_slash.push("/");
    let used = rootfs::prepare(&state, Some(Path::new(&with_slash))).unwrap();
    assert_eq!(used, fs::canonicalize(&odd).unwrap());
}

#[test]
fn twenty_runs_at_once_build_one_rootfs() {
    nslab::narrate::init(true);
    let state = tempfile::tempdir().unwrap();
    let barrier = std::sync::Barrier::new(20);
    let results: Vec<Result<PathBuf, String>> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    rootfs::prepare(state.path(), None).map_err(|e| e.to_string())
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    for result in &results {
        assert_eq!(result.as_deref(), Ok(state.path().join("rootfs").as_path()));
    }
    assert_only_the_rootfs_in(state.path());
    assert_eq!(
        Stamp::read(&state.path().join("rootfs")),
        Some(Stamp::of(&rootfs::detect_source().unwrap()))
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_relative_state_dir_works_in_lesson_03() {
    assert_root();
    // Lesson 03 chdirs and pivots: a relative state directory used to
    // mean something else by the time the rootfs was used.
    let cwd = tempfile::tempdir().unwrap();
    let (code, out, err) = common::run(
        common::lesson(env!("CARGO_BIN_EXE_03-mount"))
            .current_dir(cwd.path())
            .env_remove("NSLAB_STATE_DIR")
            .args(["--quiet", "--state-dir", "rel state", "--"])
            .args(["cat", "/etc/nslab-release"]),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("nslab rootfs, built from"), "{out}");
    assert!(out.contains(" by builder v"), "{out}");
    assert!(cwd
        .path()
        .join("rel state/rootfs/bin/sh")
        .symlink_metadata()
        .is_ok());
}
