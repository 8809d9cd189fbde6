//! Every lesson that needs root refuses to run without it, says to use
//! sudo, and touches nothing; lesson 00, which isolates nothing, runs as
//! anyone, and so do the lessons with a user namespace (07 on), rootless
//! (tests/lesson_07_user.rs runs one). Run as root, the test drops to
//! `nobody` to check. Which lesson needs root comes from the manifest.

mod common;

use std::process::Command;

fn as_nobody(bin: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin)
        .args(args)
        .env("NO_COLOR", "1")
        .env("NSLAB_STATE_DIR", common::state_dir().join("never-created"));
    common::run(&mut cmd)
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn lessons_refuse_without_root_and_say_sudo() {
    require_root!();
    let target = std::path::Path::new(env!("CARGO_BIN_EXE_nslab"))
        .parent()
        .unwrap();
    for lesson in nslab::manifest::LESSONS {
        if lesson.runs_rootless() {
            continue;
        }
        let bin = target.join(lesson.binary);
        let bin = bin.to_str().unwrap();
        if lesson.why_root.is_none() {
            let (code, out, err) = as_nobody(bin, &[]);
            assert_eq!(code, 0, "{bin} should run without root:\n{out}{err}");
            assert!(out.contains("inside: pid:"), "{bin}: {out}");
            continue;
        }
        let (code, out, err) = as_nobody(bin, &[]);
        assert_ne!(code, 0, "{bin} ran without root");
        assert!(err.contains("needs root"), "{bin}: {err}");
        assert!(err.contains("sudo"), "{bin}: {err}");
        assert!(
            !out.contains("fork()") && !out.contains("clone("),
            "{bin} started a child: {out}"
        );
    }
    assert!(
        !common::state_dir().join("never-created").exists(),
        "a refused run created its state directory"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_engine_refuses_without_root_and_says_sudo() {
    require_root!();
    let nslab = env!("CARGO_BIN_EXE_nslab");
    let root = common::state_dir().join("never-created-root");
    let root = root.to_str().unwrap();
    for args in [
        &[
            "--root", root, "run", "--rm", "--net", "none", "busybox", "true",
        ][..],
        &["--root", root, "image", "import", "/dev/null", "x"],
        &["--root", root, "rm", "-f", "x"],
    ] {
        let (code, out, err) = as_nobody(nslab, args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(
            err.contains("needs root") && err.contains("sudo"),
            "{args:?}: {err}"
        );
    }
    assert!(!common::state_dir().join("never-created").exists());
}
