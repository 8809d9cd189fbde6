//! `nslab doctor`, run for real on this machine.
//!
//! The snapshot pins the whole report as root: every fact and every lesson
//! verdict. Only what changes from boot to boot or machine to machine
//! without changing the verdict is filtered (namespace inode numbers, the
//! user-namespace limit, which the kernel sizes from the memory). The other
//! tests check single claims of the report against the machine itself.

mod common;

use insta_cmd::assert_cmd_snapshot;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

/// `nslab doctor` with plain output.
fn doctor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nslab"));
    cmd.arg("doctor").env("NO_COLOR", "1");
    cmd
}

fn run(cmd: &mut Command) -> (Output, String) {
    let output = cmd.output().expect("nslab doctor starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

/// The report line for a fact, such as `  ✓ cgroup mode          hybrid: …`.
fn fact_line<'a>(report: &'a str, label: &str) -> &'a str {
    report
        .lines()
        .find(|line| {
            // Skip the indent and the mark (✓, ✗ or ?).
            line.trim_start()
                .split_once(' ')
                .and_then(|(_, rest)| rest.strip_prefix(label))
                .is_some_and(|after| after.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("no {label:?} line in the report:\n{report}"))
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn report_on_this_machine() {
    require_root!();
    let mut settings = insta::Settings::clone_current();
    // The namespaces this process is in: pid:[4026531836] is the initial
    // PID namespace on the host, but other numbers in a container or a VM.
    settings.add_filter(r"\b(mnt|uts|ipc|pid|net|user|cgroup):\[\d+\]", "$1:[INODE]");
    // The kernel sets this limit from the amount of memory.
    settings.add_filter(
        r"user\.max_user_namespaces = [1-9]\d*",
        "user.max_user_namespaces = [N>0]",
    );
    settings.bind(|| assert_cmd_snapshot!("report", doctor()));
}

/// The cgroup mode the report names is the one the machine has, found here
/// another way than the doctor does (which files exist, not statfs(2)); on
/// the CI machine, hybrid. Needs no root: the doctor reports cgroups either way.
#[test]
fn the_report_names_the_cgroup_mode_of_this_machine() {
    let expected = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "v2"
    } else if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
        "hybrid"
    } else {
        "v1"
    };
    let (_, report) = run(&mut doctor());
    let line = fact_line(&report, "cgroup mode");
    let verdict = line
        .split_whitespace()
        .nth(3)
        .unwrap_or_else(|| panic!("no mode in {line:?}"));
    assert_eq!(verdict, format!("{expected}:"), "in {line:?}");
    assert!(line.trim_start().starts_with('✓'), "{line}");
}

/// Without root the doctor still runs: it says so, blames root for the
/// lessons that need it, and claims nothing about namespaces it could not
/// test. (Needs root to become `nobody`.)
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn without_root_it_diagnoses_instead_of_failing() {
    require_root!();
    // nobody:nogroup; std drops the supplementary groups too.
    let (output, report) = run(doctor().uid(65534).gid(65534));
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let root = fact_line(&report, "root");
    assert!(
        root.contains("✗ root") && root.contains("uid 65534"),
        "{root}"
    );
    assert!(report.contains("fix: run it with sudo"), "{report}");

    // A namespace kind is ✗ only if the kernel really lacks it, which is
    // not the case on a machine where root created them all (as the
    // snapshot shows). The user namespace is the exception: unprivileged
    // creation may be switched off, and that *is* a fact about rootless use.
    for kind in ["mnt", "uts", "ipc", "pid", "net", "cgroup"] {
        let line = fact_line(&report, &format!("{kind} namespace"));
        assert!(!line.contains('✗'), "{line}");
    }
    for lesson in [
        "00-process",
        "02-pid",
        "06-net",
        "08-cgroups",
        "nslab runtime",
    ] {
        let line = report
            .lines()
            .find(|line| line.contains(lesson))
            .unwrap_or_else(|| panic!("no {lesson} line in\n{report}"));
        assert!(line.contains("✗") && line.contains("cannot run"), "{line}");
    }
}
