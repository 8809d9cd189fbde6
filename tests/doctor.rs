//! `nslab doctor`, run for real on this machine.
//!
//! The snapshot pins the whole report as root: every fact and every lesson
//! verdict. Only what changes from boot to boot or machine to machine
//! without changing the verdict is filtered (namespace inode numbers, the
//! user-namespace limit, which the kernel sizes from the memory, and where
//! the test state directory is). The other tests check single claims of
//! the report against the machine itself, the strongest one by running
//! every lesson the report says can run.

mod common;

use insta_cmd::assert_cmd_snapshot;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a lesson running `true` may take before the test calls it hung.
const LESSON_TIMEOUT: Duration = Duration::from_secs(60);

/// `nslab doctor` with plain output, probing the state directory the
/// lessons use under test (made first, so that the report does not depend
/// on whether another test made it already).
fn doctor() -> Command {
    let state = common::state_dir();
    std::fs::create_dir_all(&state).expect("making the test state directory");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nslab"));
    cmd.arg("doctor")
        .env("NO_COLOR", "1")
        .env("NSLAB_STATE_DIR", &state);
    cmd
}

fn run(cmd: &mut Command) -> (Output, String) {
    let output = cmd.output().expect("nslab doctor starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

/// Panics unless the tests run as root: a privileged test that cannot
/// test what it claims must not pass.
fn require_root(test: &str) {
    assert!(
        common::is_root(),
        "{test} needs root: run it with scripts/test.sh as root, or skip it (it is #[ignore]d)"
    );
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

/// The lessons of the report's "Lessons" part, with whether each can run.
fn lesson_verdicts(report: &str) -> Vec<(String, bool)> {
    report
        .lines()
        .skip_while(|line| *line != "Lessons")
        .skip(1)
        .take_while(|line| !line.is_empty())
        // Verdict lines are indented by two; their reasons by more.
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .map(|line| {
            let mut words = line.split_whitespace();
            let mark = words.next().unwrap_or("");
            let name = words.next().unwrap_or("").to_string();
            let rest: Vec<&str> = words.collect();
            (name, mark == "✓" && rest == ["can", "run"])
        })
        .collect()
}

/// The path cargo built a lesson's binary at.
fn lesson_binary(name: &str) -> &'static str {
    match name {
        "00-process" => env!("CARGO_BIN_EXE_00-process"),
        "01-chroot" => env!("CARGO_BIN_EXE_01-chroot"),
        "02-pid" => env!("CARGO_BIN_EXE_02-pid"),
        "03-mount" => env!("CARGO_BIN_EXE_03-mount"),
        "04-uts" => env!("CARGO_BIN_EXE_04-uts"),
        "05-ipc" => env!("CARGO_BIN_EXE_05-ipc"),
        "06-net" => env!("CARGO_BIN_EXE_06-net"),
        "07-user" => env!("CARGO_BIN_EXE_07-user"),
        "08-cgroups" => env!("CARGO_BIN_EXE_08-cgroups"),
        "09-union" => env!("CARGO_BIN_EXE_09-union"),
        "10-init-layer" => env!("CARGO_BIN_EXE_10-init-layer"),
        "11-lockdown" => env!("CARGO_BIN_EXE_11-lockdown"),
        other => panic!("the doctor lists {other}, which this test does not know: add it here"),
    }
}

/// Runs `cmd` with its output captured, killing it after `timeout`.
fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> (ExitStatus, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the lesson binary");
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().expect("waiting for the lesson").is_some() {
            break;
        }
        if Instant::now() > deadline {
            // Our own child, killed by its pid.
            let _ = child.kill();
            let output = child.wait_with_output().expect("reaping the lesson");
            panic!(
                "{cmd:?} did not finish within {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child
        .wait_with_output()
        .expect("reading the lesson's output");
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn report_on_this_machine() {
    require_root("report_on_this_machine");
    let mut settings = insta::Settings::clone_current();
    // The namespaces this process is in: pid:[4026531836] is the initial
    // PID namespace on the host, but other numbers in a container or a VM.
    settings.add_filter(r"\b(mnt|uts|ipc|pid|net|user|cgroup):\[\d+\]", "$1:[INODE]");
    // The kernel sets this limit from the amount of memory.
    settings.add_filter(
        r"user\.max_user_namespaces = [1-9]\d*",
        "user.max_user_namespaces = [N>0]",
    );
    // Where the repository is checked out.
    settings.add_filter(
        &regex::escape(&common::state_dir().display().to_string()),
        "[STATE]",
    );
    settings.bind(|| assert_cmd_snapshot!("report", common::timed(&mut doctor())));
}

/// "can run" is a promise: every lesson the report says can run here does
/// run, `true` inside it, and exits 0. (As root, where the report can say
/// "can run" for more than lesson 00.)
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn every_lesson_it_says_can_run_runs() {
    require_root("every_lesson_it_says_can_run_runs");
    // Build the default rootfs now, so that its first build is not timed
    // as the first lesson's run.
    common::rootfs();
    let (_, report) = run(&mut doctor());
    let verdicts = lesson_verdicts(&report);
    let names: Vec<&str> = verdicts.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names.first(),
        Some(&"00-process"),
        "no lessons in the report:\n{report}"
    );
    let can_run: Vec<&str> = verdicts
        .iter()
        .filter(|(_, can)| *can)
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        can_run.contains(&"00-process"),
        "lesson 00 needs nothing, so it can run:\n{report}"
    );
    for name in can_run {
        let mut cmd = common::lesson(lesson_binary(name));
        if matches!(
            name,
            "06-net" | "07-user" | "08-cgroups" | "09-union" | "10-init-layer" | "11-lockdown"
        ) {
            // Its bridge and veth pair go in a network namespace of the
            // test's own, never on the machine's network.
            let run = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-doctor");
            cmd = common::lesson("unshare");
            cmd.args(["--net", "--", lesson_binary(name)])
                .env("NSLAB_RUN_DIR", run);
        }
        cmd.args(["-q", "--", "true"]);
        let (status, output) = run_with_timeout(&mut cmd, LESSON_TIMEOUT);
        assert_eq!(
            status.code(),
            Some(0),
            "the doctor says {name} can run, but `{name} -q -- true` failed:\n{output}\n\nreport:\n{report}"
        );
    }
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

/// The report lists the lessons that exist, and only those: the ones with
/// a binary here. Needs no root.
#[test]
fn the_report_lists_the_lessons_that_exist() {
    let (_, report) = run(&mut doctor());
    let verdicts = lesson_verdicts(&report);
    assert!(!verdicts.is_empty(), "no lessons in the report:\n{report}");
    for (name, _) in &verdicts {
        assert!(
            Path::new(lesson_binary(name)).is_file(),
            "{name} has no binary"
        );
    }
    let names: Vec<&str> = verdicts.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "00-process",
            "01-chroot",
            "02-pid",
            "03-mount",
            "04-uts",
            "05-ipc",
            "06-net",
            "07-user",
            "08-cgroups",
            "09-union",
            "10-init-layer",
            "11-lockdown"
        ]
    );
}

/// Without root the doctor still runs: it says so, blames root for the
/// lessons that need it, says lesson 00 (which needs nothing) can run, and
/// claims nothing about namespaces it could not test. (Needs root to
/// become `nobody`.)
#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn without_root_it_diagnoses_instead_of_failing() {
    require_root("without_root_it_diagnoses_instead_of_failing");
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
    // Mounting needs root: not tested, so not ✗.
    let pivot = fact_line(&report, "mount and pivot_root");
    assert!(pivot.trim_start().starts_with('?'), "{pivot}");

    for (name, can_run) in lesson_verdicts(&report) {
        assert_eq!(can_run, name == "00-process", "{name} in\n{report}");
        let line = report
            .lines()
            .find(|line| line.contains(&name))
            .unwrap_or_else(|| panic!("no {name} line in\n{report}"));
        if matches!(
            name.as_str(),
            "07-user" | "08-cgroups" | "09-union" | "10-init-layer"
        ) {
            // Rootless: root does not stop it; what could not be tested
            // without root leaves it unverified, never "cannot run".
            assert!(
                line.contains("?") && line.contains("not verified"),
                "{line}"
            );
        } else if name != "00-process" {
            assert!(line.contains("✗") && line.contains("cannot run"), "{line}");
        }
    }
}
