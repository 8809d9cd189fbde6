//! podman driving nslab: `podman --runtime nslab` on an image made from
//! the test rootfs, with podman's storage, run and temporary directories
//! private to the test, and everything removed afterwards.
//!
//! What podman needs on this machine, besides nslab: `--network none` (no
//! bridge, no NAT), `--security-opt seccomp=unconfined` (nslab reads no
//! seccomp profile yet), `--cgroup-parent /nslab` (nslab makes cgroups
//! only under its parent) and `--ulimit` values within the machine's hard
//! limits (root here lacks CAP_SYS_RESOURCE, and podman asks for more).

mod common;

use std::path::PathBuf;
use std::process::Command;

const NSLAB: &str = env!("CARGO_BIN_EXE_nslab");

/// One podman, on directories of its own.
struct Podman {
    base: PathBuf,
}

impl Podman {
    fn new() -> Podman {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("podman");
        let podman = Podman { base };
        podman.reset();
        podman
    }

    /// `podman` with the private directories.
    fn command(&self) -> Command {
        let mut cmd = Command::new("podman");
        for (flag, dir) in [
            ("--root", "root"),
            ("--runroot", "runroot"),
            ("--tmpdir", "tmp"),
        ] {
            cmd.arg(flag).arg(self.base.join(dir));
        }
        cmd.args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"]);
        cmd
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = self.command();
        cmd.args(args);
        common::run(&mut cmd)
    }

    /// The flags every container gets: nslab as the runtime, and what this
    /// machine needs (see the module's documentation).
    fn container_flags() -> Vec<String> {
        let hard = |resource| {
            nix::sys::resource::getrlimit(resource)
                .map(|(_, hard)| hard)
                .unwrap_or(1024)
        };
        let nofile = hard(nix::sys::resource::Resource::RLIMIT_NOFILE);
        let nproc = hard(nix::sys::resource::Resource::RLIMIT_NPROC).min(32768);
        vec![
            "--runtime".into(),
            NSLAB.into(),
            "--network".into(),
            "none".into(),
            "--security-opt".into(),
            "seccomp=unconfined".into(),
            "--cgroup-parent".into(),
            "/nslab".into(),
            "--ulimit".into(),
            format!("nofile={nofile}:{nofile}"),
            "--ulimit".into(),
            format!("nproc={nproc}:{nproc}"),
        ]
    }

    /// Removes every container, image and mount of this podman, and the
    /// cgroups podman made for its conmon under /nslab.
    fn reset(&self) {
        if self.base.exists() {
            let mut cmd = self.command();
            cmd.args(["system", "reset", "--force"]);
            let _ = common::run(&mut cmd);
            let _ = std::fs::remove_dir_all(&self.base);
        }
        for tree in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(tree.path().join("nslab/conmon"));
            let _ = std::fs::remove_dir(tree.path().join("nslab"));
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        self.reset();
    }
}

fn podman_installed() -> bool {
    Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
#[ignore = "needs root and podman: run by scripts/test.sh as root, after .ci/run installs podman"]
fn podman_runs_execs_logs_stops_and_removes_through_nslab() {
    require_root!();
    assert!(
        podman_installed(),
        "podman is not installed (.ci/run installs it)"
    );
    let podman = Podman::new();
    let rootfs = common::rootfs();
    // An image from the test rootfs: `podman import` of a tarball.
    let mut import = Command::new("sh");
    import.arg("-c").arg(format!(
        "tar -C {} -c . | {} import - nslab-test",
        rootfs.display(),
        shell_words(&podman.command())
    ));
    let (code, out, err) = common::run(&mut import);
    assert_eq!(code, 0, "import: {out}{err}");
    let flags = Podman::container_flags();
    let with = |args: &[&str]| -> Vec<String> {
        let (first, rest) = args.split_first().unwrap();
        std::iter::once(first.to_string())
            .chain(flags.iter().cloned())
            .chain(rest.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        podman.run(&args)
    };

    // run --rm: output and exit status through conmon.
    let (code, out, err) = run(with(&[
        "run",
        "--rm",
        "nslab-test",
        "sh",
        "-c",
        "echo hello; hostname; exit 3",
    ]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.starts_with("hello\n"), "{out}");

    // run -it: a terminal from nslab's --console-socket.
    let command = format!(
        // (A moment before exiting: conmon relays the terminal's output
        // asynchronously, and a program that exits at once can be gone,
        // its pty hung up, before conmon has read what it wrote.)
        "{} {} nslab-test sh -c 'tty; sleep 0.5; exit 4'",
        shell_words(&podman.command()),
        with(&["run", "--rm", "-it"]).join(" ")
    );
    let (code, out, err) =
        common::run(Command::new("script").args(["-qec", &command, "/dev/null"]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains("/dev/pts/0"), "no terminal: {out}");

    // run -d, logs, exec, stop, rm.
    let script = "echo started; trap 'echo stopping; exit 0' TERM; while true; do sleep 0.1; done";
    let (code, out, err) = run(with(&[
        "run",
        "-d",
        "--name",
        "web",
        "nslab-test",
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let wait_for = |what: &str| {
        (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            podman.run(&["logs", "web"]).1.contains(what)
        })
    };
    assert!(
        wait_for("started"),
        "logs: {:?}",
        podman.run(&["logs", "web"])
    );
    let (code, out, err) = podman.run(&[
        "exec",
        "web",
        "sh",
        "-c",
        "echo in-web; cat /proc/1/cmdline",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("in-web\n") && out.contains("while true"),
        "{out}"
    );
    let (code, out, err) = podman.run(&["stop", "-t", "5", "web"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        podman.run(&["logs", "web"]).1.contains("stopping"),
        "SIGTERM reached the container"
    );
    let (code, out, err) = podman.run(&["rm", "web"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = podman.run(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!out.contains("web"), "{out}");
}

/// A command line as one shell string (the paths here have no spaces).
fn shell_words(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
