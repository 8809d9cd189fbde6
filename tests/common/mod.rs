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

/// Fails a privileged test that is run without root.
///
/// Privileged tests are marked `#[ignore = "needs root…"]`, so that without
/// root cargo's own summary counts them as ignored, never as passed;
/// `scripts/test.sh` runs them (`--include-ignored`) as root. Asked to run
/// one without root anyway, it fails rather than pass having done nothing.
pub fn assert_privileged(test: &str) {
    assert!(
        is_root(),
        "{test}: this privileged test needs root (run scripts/test.sh, which uses sudo)"
    );
}

/// The first line of a test that needs root (see [`assert_privileged`]).
#[macro_export]
macro_rules! require_root {
    () => {
        common::assert_privileged(module_path!())
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

/// How long any lesson run in a test may take before it is killed and the
/// test fails: a runaway lesson must not hang the suite.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `cmd` with [`TIMEOUT`] and returns (exit code, stdout, stderr).
/// A signal death reads as 128 + the signal, as a shell reports it.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    use std::os::unix::process::ExitStatusExt;
    let out = output_with_timeout(cmd, TIMEOUT);
    let code = out
        .status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `cmd.output()`, but the process is killed (SIGKILL, by its pid; the
/// lesson's container dies with it) and the test fails after `limit`.
pub fn output_with_timeout(cmd: &mut Command, limit: std::time::Duration) -> std::process::Output {
    use std::process::Stdio;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the lesson binary");
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = done_tx.send(());
        out
    });
    if done_rx.recv_timeout(limit).is_err() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = waiter.join();
        panic!("{cmd:?} did not finish within {limit:?}: killed");
    }
    waiter
        .join()
        .unwrap()
        .expect("waiting for the lesson binary")
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
    // As [`timed`] passes it.
    let relative_state = relative(state_dir().as_os_str());
    filters.push((escape(&relative_state.to_string_lossy()), "[STATE]".into()));
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
    filters.push((r"\.nslab-escape-\d+".into(), ".nslab-escape-[PID]".into()));
    // The capability mask depends on the kernel's number of capabilities.
    filters.push((r"(CapEff:\s+)[0-9a-f]{16}".into(), "$1[MASK]".into()));
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

/// [`settings`], plus what differs from run to run in a container lesson
/// (06 on) whose run directory is `run`: pids in names (the overlay's
/// layer, the cgroup, netns), nslab's shared parent cgroups (made or
/// removed by whichever run is first or last), the host's veth end
/// (deleted, or gone already with the container's namespace), the top
/// layer (made by this run or an earlier one), and `run` as `[RUN]`.
pub fn container_settings(run: &Path) -> insta::Settings {
    let mut settings = settings();
    settings.add_filter(r"\.nslab-overlay-\d+", ".nslab-overlay-[PID]");
    settings.add_filter(r"(?m)^→ (?:mkdir|rmdir) /sys/fs/cgroup/[\w,]+/nslab\n", "");
    settings.add_filter(r"nslab/\d+", "nslab/[PID]");
    settings.add_filter(r#"cgroup\.procs <- "\d+""#, r#"cgroup.procs <- "[PID]""#);
    settings.add_filter(r"netns \d+", "netns [PID]");
    settings.add_filter(
        r"(?m)^→ ip link show nslab2h   # RTM_GETLINK\n(?:  nslab2h is link \d+\n→ ip link del nslab2h   # RTM_DELLINK\n|  no link called nslab2h\n)(?:  nslab2h went with the container's namespace: a veth pair dies with either end\n)?",
        "[THE HOST'S END nslab2h: DELETED, OR GONE WITH THE CONTAINER'S NAMESPACE]\n",
    );
    settings.add_filter(
        r"(?m)^→ make the layer \[STATE\]/layer-top: it adds /etc/motd, and deletes /linuxrc with a whiteout\n",
        "",
    );
    let relative = run
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .map(|p| format!("./{}", p.display()))
        .unwrap_or_default();
    settings.add_filter(&regex::escape(&relative), "[RUN]");
    settings.add_filter(&regex::escape(&run.display().to_string()), "[RUN]");
    settings
}

/// The path of a file in the rootfs, as the host sees it.
pub fn in_rootfs(path: &str) -> PathBuf {
    rootfs().join(Path::new(path).strip_prefix("/").unwrap_or(Path::new(path)))
}

/// `cmd` run under `timeout --signal=KILL`, for the snapshot tests: insta-cmd
/// runs the command itself, so the limit comes from timeout(1), which kills
/// the lesson (and with it, its container) after [`TIMEOUT`].
///
/// The program and the state directory are given relative to the package
/// (cargo runs tests there): insta-cmd writes the command line into each
/// snapshot's header, which should not change with where the clone is.
pub fn timed(cmd: &mut Command) -> Command {
    let mut timed = Command::new("timeout");
    timed
        .arg("--signal=KILL")
        .arg(TIMEOUT.as_secs().to_string())
        .arg(relative(cmd.get_program()))
        .args(cmd.get_args().map(relative));
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) if key == "NSLAB_STATE_DIR" || key == "NSLAB_RUN_DIR" => {
                timed.env(key, relative(value))
            }
            Some(value) => timed.env(key, value),
            None => timed.env_remove(key),
        };
    }
    timed
}

/// `path` relative to the current directory when it lies beneath it, as
/// `./target/…`; otherwise as it is.
fn relative(path: &std::ffi::OsStr) -> std::ffi::OsString {
    let here = std::env::current_dir().expect("the current directory");
    match Path::new(path).strip_prefix(&here) {
        Ok(rest) => Path::new(".").join(rest).into_os_string(),
        Err(_) => path.to_os_string(),
    }
}

/// Runs `check` in a forked child, in new mount and IPC namespaces with
/// `/` private; fails if the check panicked in the child.
pub fn in_private_namespaces(check: impl FnOnce()) {
    // Only the forking thread goes on in the child: a lock another thread
    // (the test harness, printing) held at that moment would stay locked
    // there forever. Holding the standard streams' locks across fork(2)
    // keeps them ours; the child narrates, and reports a panic, through them.
    let streams = (std::io::stdout().lock(), std::io::stderr().lock());
    // SAFETY: the child runs only `check` and then leaves with _exit(2),
    // running no destructor of the parent's values.
    let forked = unsafe { nix::unistd::fork() }.expect("fork");
    drop(streams);
    match forked {
        nix::unistd::ForkResult::Child => {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                nix::sched::unshare(
                    nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_NEWIPC,
                )
                .expect("unshare");
                nix::mount::mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .expect("making / private");
                // Silent unless a check turns narration on to read it.
                nslab::narrate::init(true);
                check();
            }));
            if let Err(panic) = &result {
                // The test harness's capture of panic messages stays in
                // the child's memory: write the message out directly.
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                // Not eprintln!: the harness captures that, in the child's memory.
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!("check failed in the child: {message}\n").as_bytes(),
                );
            }
            // SAFETY: ends the child at once, as after fork(2) it must.
            unsafe { libc::_exit(i32::from(result.is_err())) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).expect("waitpid");
            assert_eq!(
                status,
                nix::sys::wait::WaitStatus::Exited(child, 0),
                "the check failed in the child: see its message above"
            );
        }
    }
}
