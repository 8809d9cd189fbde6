//! Lesson 04: a UTS namespace, a hostname and domainname of its own.
//!
//! Checked from outside: the host's names before and after each run, and a
//! bad name stopping the lesson before it creates anything.

mod common;

use insta_cmd::assert_cmd_snapshot;

const BIN: &str = env!("CARGO_BIN_EXE_04-uts");

/// The shared filters, plus lesson 03's: the type of the file system the
/// rootfs lives on depends on where the repository was cloned.
fn settings() -> insta::Settings {
    let mut settings = common::settings();
    settings.add_filter(r"(?m)^  / \(\S+\)$", "  / ([ROOTFS FS TYPE])");
    settings
}

/// The host's hostname and NIS domain name.
fn host_names() -> (String, String) {
    let uts = nix::sys::utsname::uname().unwrap();
    (
        uts.nodename().to_string_lossy().into_owned(),
        uts.domainname().to_string_lossy().into_owned(),
    )
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    common::rootfs();
    settings().bind(|| {
        assert_cmd_snapshot!(common::timed(
            common::lesson(BIN).args(["--hostname", "lab"])
        ))
    });
}

#[test]
fn a_bad_hostname_is_rejected() {
    settings().bind(|| {
        assert_cmd_snapshot!(common::timed(
            common::lesson(BIN).args(["--hostname", "bad_name!"])
        ))
    });
}

#[test]
fn help() {
    settings().bind(|| assert_cmd_snapshot!(common::timed(common::lesson(BIN).arg("--help"))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_container_has_its_names_and_the_host_keeps_its_own() {
    require_root!();
    common::rootfs();
    let before = host_names();
    let mounts = common::mount_points();
    let (code, out, err) = common::run(common::lesson(BIN).args([
        "-q",
        "--hostname",
        "lab",
        "--domainname",
        "example.org",
        "--",
        "sh",
        "-c",
        "uname -n; cat /proc/sys/kernel/domainname; hostname renamed && uname -n",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "lab\nexample.org\nrenamed\n");
    assert_eq!(host_names(), before, "a run changed the host's names");
    assert_ne!(before.0, "lab");
    assert_eq!(common::mount_points(), mounts);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_default_hostname_is_nslab_and_the_domainname_is_the_hosts() {
    require_root!();
    common::rootfs();
    let (host, domain) = host_names();
    let (code, out, err) = common::run(common::lesson(BIN).args([
        "-q",
        "--",
        "sh",
        "-c",
        "uname -n; cat /proc/sys/kernel/domainname",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("nslab\n{domain}\n"));
    assert_eq!(host_names(), (host, domain));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_lesson_says_the_hosts_names_are_unchanged() {
    require_root!();
    common::rootfs();
    let (host, _) = host_names();
    let (code, out, err) =
        common::run(common::lesson(BIN).args(["--hostname", "lab", "--", "true"]));
    assert_eq!(code, 0, "{err}");
    let after = out
        .split("== The host's names, after the run ==")
        .nth(1)
        .expect(&out);
    assert!(
        after.contains(&format!("host: hostname:        {host}\n")),
        "{after}"
    );
    assert!(after.contains("✓ unchanged"), "{after}");
}

#[test]
fn bad_names_are_rejected_before_anything_is_created() {
    // A state directory that does not exist: a run that got as far as the
    // rootfs would create it.
    let state = common::state_dir().join("uts-never-created");
    let long = "a".repeat(65);
    for (option, name, reason) in [
        ("--hostname", "bad_name!", "'_' is not allowed"),
        ("--hostname", "-lab", "starts or ends with '-'"),
        ("--hostname", "a..b", "empty label"),
        ("--hostname", "", "it is empty"),
        ("--hostname", long.as_str(), "at most 64"),
        ("--domainname", "exa mple.org", "' ' is not allowed"),
    ] {
        let hostname_before = host_names();
        let mounts = common::mount_points();
        let (code, out, err) = common::run(
            common::lesson(BIN)
                .env("NSLAB_STATE_DIR", &state)
                // `--hostname=-lab`: with a space, clap would take -lab for an option.
                .arg(format!("{option}={name}")),
        );
        assert_eq!(code, 2, "{option} {name:?} was accepted: {out}{err}");
        assert_eq!(out, "", "{option} {name:?}: the lesson started: {out}");
        assert!(err.contains(reason), "{option} {name:?}: {err}");
        assert!(
            err.contains("letters a-z or A-Z, digits 0-9 and '-'"),
            "{err}"
        );
        assert!(
            !state.exists(),
            "{option} {name:?}: the state directory was created"
        );
        assert_eq!(host_names(), hostname_before);
        assert_eq!(common::mount_points(), mounts);
    }
}

/// RFC 1123 allows uppercase, and so does docker: `--hostname MyHost`.
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn an_uppercase_hostname_is_used_as_given() {
    require_root!();
    common::rootfs();
    let (code, out, err) =
        common::run(common::lesson(BIN).args(["-q", "--hostname", "MyHost", "--", "uname", "-n"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "MyHost");
}
