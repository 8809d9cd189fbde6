//! Helpers every integration test shares: the root check, the state
//! directory the lessons use under test, and one list of snapshot filters.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

/// True when the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether a privileged test may run. Without root it prints why it skips
/// and returns false; under `CI=true` a skip would hide a failure, so it
/// panics instead.
pub fn can_run_privileged(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test}: this privileged test cannot run without root, and CI=true forbids skipping it"
        );
    }
    eprintln!("skipping {test}: it needs root (run the tests with sudo)");
    false
}

/// Returns early from a test that needs root (see [`can_run_privileged`]).
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::can_run_privileged(module_path!()) {
            return;
        }
    };
}

/// The state directory the lessons use under test, inside cargo's
/// per-target temporary directory, so tests never touch /var/lib/nslab.
pub fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state")
}

/// The default rootfs under [`state_dir`], built once per test binary so
/// that no snapshot depends on whether its run was the first.
pub fn rootfs() -> PathBuf {
    static BUILD: Once = Once::new();
    let state = state_dir();
    BUILD.call_once(|| {
        nslab::narrate::init(true);
        nslab::rootfs::prepare(&state, None).expect("building the test rootfs");
    });
    state.join("rootfs")
}

/// A command for lesson binary `bin` (its path from cargo), with narration
/// uncoloured and the test state directory.
pub fn lesson(bin_path: &str) -> Command {
    let mut cmd = Command::new(bin_path);
    cmd.env("NO_COLOR", "1")
        .env("NSLAB_STATE_DIR", state_dir())
        .env_remove("CLICOLOR_FORCE");
    cmd
}

/// Runs `cmd` and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("starting the lesson binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `readlink /proc/self/ns/<kind>` of the test process: the host's namespace.
pub fn host_namespace(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

/// The host's hostname.
pub fn host_hostname() -> String {
    nix::sys::utsname::uname()
        .unwrap()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// The mount points of the calling process's mount namespace, sorted:
/// what a lesson must leave exactly as it found it.
pub fn mount_points() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(String::from)
        .collect();
    points.sort();
    points
}

fn escape(s: &str) -> String {
    regex::escape(s)
}

/// The shared snapshot filters: every value that changes from run to run
/// or machine to machine becomes a placeholder; everything else is pinned.
///
/// Namespace identifiers are not all blurred alike: the host's own become
/// `[HOST]`, any other `[NEW]`, so a snapshot still says whether the child
/// shares the host's namespace.
pub fn filters() -> Vec<(String, String)> {
    let mut filters: Vec<(String, String)> = Vec::new();
    for kind in ["pid", "mnt", "uts", "ipc", "net", "user", "cgroup"] {
        let host = host_namespace(kind);
        filters.push((escape(&host), format!("{kind}:[HOST]")));
    }
    filters.push((
        r"\b(pid|mnt|uts|ipc|net|user|cgroup):\[\d+\]".into(),
        "$1:[NEW]".into(),
    ));
    filters.push((escape(&state_dir().display().to_string()), "[STATE]".into()));
    filters.push((
        r"\.rootfs\.building-\d+".into(),
        ".rootfs.building-[PID]".into(),
    ));
    // PIDs on the host: in narration and in /proc paths. PIDs inside a new
    // PID namespace are small and stay visible (PID 1 is the point).
    filters.push((
        r"PID \d+ on the host".into(),
        "PID [PID] on the host".into(),
    ));
    filters.push((r"waitpid\(\d+\)".into(), "waitpid([PID])".into()));
    filters.push((r"/proc/\d+/".into(), "/proc/[PID]/".into()));
    filters.push((r"(child's NSpid:\s+)\d+".into(), "$1[PID]".into()));
    filters.push((r"(inside: pid:\s+)\d{3,}".into(), "$1[PID]".into()));
    // The escape climbs as many levels as the state directory is deep,
    // which depends on where the repository is checked out.
    filters.push((
        r#"(?:→ chdir\("\.\."\)\n)+"#.into(),
        "→ chdir(\"..\")   [repeated until the top]\n".into(),
    ));
    filters.push((r"after \d+ × chdir".into(), "after [N] × chdir".into()));
    filters.push((
        format!(r"(hostname:\s+){}$", escape(&host_hostname())),
        "$1[HOSTNAME]".into(),
    ));
    let host_root = nslab::demo::root_listing("/");
    filters.push((
        format!(r"(/ holds:\s+){}$", escape(&host_root)),
        "$1[HOST ROOT LISTING]".into(),
    ));
    filters
}

/// insta settings with [`filters`], for `settings.bind(|| …)`.
pub fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for (regex, replacement) in filters() {
        settings.add_filter(&format!("(?m){regex}"), replacement);
    }
    settings
}

/// The path of a file in the rootfs, as the host sees it.
pub fn in_rootfs(path: &str) -> PathBuf {
    rootfs().join(Path::new(path).strip_prefix("/").unwrap_or(Path::new(path)))
}
