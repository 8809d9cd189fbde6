//! Every lesson refuses to run without root, says to use sudo, and
//! touches nothing. Run as root, the test drops to `nobody` to check.

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
fn lessons_refuse_without_root_and_say_sudo() {
    require_root!();
    let lessons = [
        env!("CARGO_BIN_EXE_00-process"),
        env!("CARGO_BIN_EXE_01-chroot"),
        env!("CARGO_BIN_EXE_02-pid"),
        env!("CARGO_BIN_EXE_03-mount"),
        env!("CARGO_BIN_EXE_04-uts"),
        env!("CARGO_BIN_EXE_05-ipc"),
    ];
    for bin in lessons {
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
