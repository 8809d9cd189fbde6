//! Lesson 09: overlayfs, checked from the host.
//!
//! Copy-on-write seen from outside: the layers below unchanged, the
//! container's own layer holding the new and copied-up files, a whiteout
//! for a deletion and an opaque directory for a replacement; the layer
//! removed after the run unless --keep; a killed run's found by nslab
//! cleanup; bad layers refused. Every run is in a network namespace of the
//! test's own.

mod common;

use insta_cmd::assert_cmd_snapshot;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

const BIN: &str = env!("CARGO_BIN_EXE_09-union");

fn run_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("run-09-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lesson(name: &str, args: &[&str]) -> (i32, String, String) {
    let run = run_dir(name);
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", BIN])
        .args(args)
        .env("NSLAB_RUN_DIR", &run);
    common::run(&mut cmd)
}

/// The demo snapshot and the SIGKILL test take turns: what a killed run
/// leaves (its cgroup) is visible to every lesson, whose start would
/// report it.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn settings() -> insta::Settings {
    let run = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-09-demo");
    let mut settings = common::container_settings(&run);
    settings.add_filter(
        r"(?m)^(  host: (?:peak memory|CPU time):\s+)[\d.]+",
        "$1[N]",
    );
    settings
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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
fn copy_on_write_seen_from_the_host() {
    require_root!();
    // Its kept layer, once the lesson is gone, is a killed run's to others.
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = common::rootfs();
    let passwd_before = std::fs::read_to_string(base.join("etc/passwd")).unwrap();
    let (code, out, err) = lesson(
        "cow",
        &[
            "--keep",
            "-q",
            "--net",
            "none",
            "--",
            "sh",
            "-c",
            "echo new > /new-file; echo '# changed' >> /etc/passwd; rm /etc/group; \
             rm -r /home && mkdir /home; cat /etc/motd; ls /linuxrc 2>&1; true",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("comes from the top layer"), "{out}");
    assert!(
        out.contains("No such file"),
        "the top layer's whiteout hides /linuxrc: {out}"
    );
    let kept = err
        .lines()
        .find_map(|l| l.strip_prefix("--keep: the container's layer stays at "))
        .and_then(|rest| rest.split(' ').next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("--keep said nothing: {err}"));
    let check = || -> Result<(), String> {
        let upper = &kept;
        if std::fs::read_to_string(upper.join("new-file")).map_err(|e| e.to_string())? != "new\n" {
            return Err("new-file".into());
        }
        let passwd =
            std::fs::read_to_string(upper.join("etc/passwd")).map_err(|e| e.to_string())?;
        if !passwd.ends_with("# changed\n") || !passwd.starts_with(&passwd_before) {
            return Err(format!("copied-up passwd: {passwd:?}"));
        }
        let group =
            std::fs::symlink_metadata(upper.join("etc/group")).map_err(|e| e.to_string())?;
        if !(group.file_type().is_char_device() && group.rdev() == 0) {
            return Err("etc/group is not a whiteout".into());
        }
        let mut value = [0u8; 1];
        let path = std::ffi::CString::new(upper.join("home").to_str().unwrap()).unwrap();
        // SAFETY: NUL-terminated strings and a buffer with its length.
        let n = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                value.as_mut_ptr().cast(),
                1,
            )
        };
        if !(n == 1 && value[0] == b'y') {
            return Err("home is not opaque".into());
        }
        Ok(())
    };
    let result = check();
    // The layers below, untouched.
    let base_passwd = std::fs::read_to_string(base.join("etc/passwd")).unwrap();
    let group_below = base.join("etc/group").exists();
    let _ = std::fs::remove_dir_all(kept.parent().unwrap());
    result.unwrap();
    assert_eq!(base_passwd, passwd_before, "the base layer changed");
    assert!(group_below, "the base layer lost etc/group");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_layer_goes_after_the_run_and_after_a_kill_with_cleanup() {
    require_root!();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::rootfs();
    let (code, out, err) = lesson("gone", &["-q", "--net", "none", "--", "true"]);
    assert_eq!(code, 0, "{out}{err}");
    let run = run_dir("kill");
    let script = r#"
        "$L" -q --net none -- sleep 30 &
        lesson=$!
        for i in $(seq 100); do [ -d "$STATE/.nslab-overlay-$lesson" ] && break; sleep 0.1; done
        sleep 0.5
        kill -KILL $lesson; wait $lesson
        echo left: $(ls -d "$STATE/.nslab-overlay-$lesson" 2>/dev/null | wc -l)
        "$NSLAB" cleanup --run-dir "$RUN" > /dev/null
        echo after: $(ls -d "$STATE/.nslab-overlay-$lesson" 2>/dev/null | wc -l)
    "#;
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", "sh", "-c", script])
        .env("L", BIN)
        .env("NSLAB", env!("CARGO_BIN_EXE_nslab"))
        .env("RUN", &run)
        .env("STATE", common::state_dir())
        .env("NSLAB_RUN_DIR", &run);
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("left: 1"),
        "SIGKILL left no layer to clean: {out}"
    );
    assert!(out.contains("after: 0"), "{out}{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn bad_layers_are_refused_and_leave_nothing() {
    require_root!();
    // A state directory of its own: other tests' layers come and go.
    let state = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state-09-bad");
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).unwrap();
    let lesson = |name: &str, args: &[&str]| {
        let run = run_dir(name);
        let mut cmd = common::lesson("unshare");
        cmd.args(["--net", "--", BIN])
            .args(args)
            .env("NSLAB_RUN_DIR", &run)
            .env("NSLAB_STATE_DIR", &state);
        common::run(&mut cmd)
    };
    let (code, _, err) = lesson("notdir", &["--layer", "/etc/passwd"]);
    assert_ne!(code, 0);
    assert!(err.contains("is not a directory"), "{err}");
    let long =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("layer-{}", "x".repeat(200)));
    std::fs::create_dir_all(&long).unwrap();
    let long = long.to_str().unwrap().to_string();
    let mut args: Vec<&str> = Vec::new();
    for _ in 0..30 {
        args.extend(["--layer", &long]);
    }
    let (code, _, err) = lesson("many", &args);
    assert_ne!(code, 0);
    assert!(
        err.contains("layers make") && err.contains("mount options"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".nslab-overlay-")
        })
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "a refused run left its layer: {left:?}");
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn volumes_show_a_host_directory_read_write_or_read_only() {
    require_root!();
    common::rootfs();
    let host = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("volume-09");
    let _ = std::fs::remove_dir_all(&host);
    std::fs::create_dir_all(&host).unwrap();
    let rw = format!("{}:/data", host.display());
    let ro = format!("{}:/data:ro", host.display());
    let (code, out, err) = lesson(
        "vol",
        &[
            "-q",
            "--net",
            "none",
            "--volume",
            &rw,
            "--",
            "sh",
            "-c",
            "echo hi > /data/from-inside",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(host.join("from-inside")).unwrap(),
        "hi\n"
    );
    let (code, out, err) = lesson(
        "volro",
        &[
            "-q",
            "--net",
            "none",
            "--volume",
            &ro,
            "--",
            "sh",
            "-c",
            "cat /data/from-inside; ( : > /data/x ) 2>&1; true",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("hi\n") && out.contains("Read-only file system"),
        "{out}"
    );
    assert!(!host.join("x").exists());
    let _ = std::fs::remove_dir_all(&host);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_symlink_in_the_rootfs_does_not_redirect_a_volume_out_of_it() {
    require_root!();
    let base = common::rootfs();
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    // A hostile layer: /data leads, through the old root still attached
    // while mounts are made, to a directory of the host's.
    let victim = tmp.join("victim-09");
    let layer = tmp.join("hostile-layer-09");
    let host = tmp.join("volume-09-hostile");
    for dir in [&victim, &layer, &host] {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
    }
    std::os::unix::fs::symlink(
        format!("/.old-root{}", victim.display()),
        layer.join("data"),
    )
    .unwrap();
    let volume = format!("{}:/data/x", host.display());
    let (code, out, err) = lesson(
        "hostile",
        &[
            "-q",
            "--net",
            "none",
            "--layer",
            layer.to_str().unwrap(),
            "--layer",
            base.to_str().unwrap(),
            "--volume",
            &volume,
            "--",
            "true",
        ],
    );
    assert_ne!(code, 0, "the mount went ahead: {out}{err}");
    assert!(
        err.contains("is a symlink, which could lead out of the rootfs"),
        "{err}"
    );
    assert!(
        !victim.join("x").exists(),
        "a mount point was made in the host's directory"
    );
    for dir in [&victim, &layer, &host] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root (to become nobody)"]
fn an_ordinary_user_gets_layers_too_in_a_user_namespace() {
    require_root!();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rootless-09");
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["", "state", "run"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::os::unix::fs::chown(dir.join(sub), Some(65_534), Some(65_534)).unwrap();
    }
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        BIN,
    ])
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .env("NO_COLOR", "1")
    .env("XDG_STATE_HOME", dir.join("state"))
    .env("XDG_RUNTIME_DIR", dir.join("run"));
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("not root: rootless"), "{out}");
    assert!(
        out.contains(",userxattr\")"),
        "the overlay is mounted for a user namespace: {out}"
    );
    assert!(out.contains("host: /etc/group:      whiteout"), "{out}");
    assert!(
        out.contains("host: /home:           opaque directory"),
        "{out}"
    );
    assert!(out.contains("the layers below are as they were"), "{out}");
    let left: Vec<_> = std::fs::read_dir(dir.join("state/nslab"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".nslab-overlay-")
        })
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "the container's layer is left: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
