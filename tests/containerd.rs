//! containerd driving nslab through its runc shim (containerd-shim-runc-v2),
//! the path on which Kubernetes would run nslab: `ctr run --runc-binary
//! nslab`. The test starts its own containerd on private directories and
//! socket, and stops it (by its pid) afterwards.
//!
//! containerd 1.6 also uses two host directories it cannot be told to
//! move, `/run/containerd/s` (the shims' sockets) and
//! `/run/containerd/fifo`: the test removes them if it made them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NSLAB: &str = env!("CARGO_BIN_EXE_nslab");

/// A containerd of the test's own.
struct Containerd {
    dir: PathBuf,
    daemon: Child,
    /// Whether /run/containerd existed before: if not, it is removed.
    host_dir_existed: bool,
}

impl Containerd {
    fn start() -> Containerd {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("containerd");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let host_dir_existed = Path::new("/run/containerd").exists();
        let d = dir.display();
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\ntemp = \"{d}/tmp\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [plugins]\n  [plugins.\"io.containerd.internal.v1.opt\"]\n    path = \"{d}/opt\"\n"
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting containerd");
        let containerd = Containerd {
            dir,
            daemon,
            host_dir_existed,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !containerd.socket().exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            containerd.socket().exists(),
            "containerd did not start: see {}",
            containerd.dir.join("containerd.log").display()
        );
        containerd
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// `ctr --address SOCKET ARGS…`.
    fn ctr(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(self.socket()).args(args);
        common::run(&mut cmd)
    }

    /// The flags that make the shim call nslab: its binary, a state root
    /// of the test's own, and a cgroup under /nslab.
    fn runtime_flags(&self, id: &str) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            NSLAB.into(),
            "--runc-root".into(),
            self.dir.join("nslab-root").display().to_string(),
            "--cgroup".into(),
            format!("/nslab/{id}"),
        ]
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Our own daemon, by its pid.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.daemon.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        if !self.host_dir_existed {
            for sub in ["s", "fifo"] {
                let _ = std::fs::remove_dir(Path::new("/run/containerd").join(sub));
            }
            let _ = std::fs::remove_dir("/run/containerd");
        }
    }
}

/// A copy of the test rootfs, which containers may write to.
fn rootfs_copy() -> PathBuf {
    let copy = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("containerd-rootfs");
    let _ = std::fs::remove_dir_all(&copy);
    let status = Command::new("cp")
        .arg("-a")
        .arg(common::rootfs())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    copy
}

fn containerd_installed() -> bool {
    Command::new("containerd")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
#[ignore = "needs root and containerd: run by scripts/test.sh as root, after .ci/run installs containerd"]
fn containerds_shim_runs_execs_kills_and_deletes_through_nslab() {
    require_root!();
    assert!(
        containerd_installed(),
        "containerd is not installed (.ci/run installs it)"
    );
    let rootfs = rootfs_copy();
    let containerd = Containerd::start();
    let with = |verb: &[&str], id: &str, command: &[&str]| -> Vec<String> {
        verb.iter()
            .map(|s| s.to_string())
            .chain(containerd.runtime_flags(id))
            .chain([
                "--rootfs".to_string(),
                rootfs.display().to_string(),
                id.to_string(),
            ])
            .chain(command.iter().map(|s| s.to_string()))
            .collect()
    };
    let ctr = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        containerd.ctr(&args)
    };

    // To completion: output and exit status through the shim.
    let (code, out, err) = ctr(with(
        &["run", "--rm"],
        "c1",
        &["sh", "-c", "echo hello from containerd; exit 3"],
    ));
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(out, "hello from containerd\n");

    // Detached, then exec, ps, kill, delete.
    let script = "trap 'exit 0' TERM; while true; do sleep 0.1; done";
    let (code, out, err) = ctr(with(&["run", "-d"], "c2", &["sh", "-c", script]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = containerd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "c2",
        "sh",
        "-c",
        "echo in-c2; exit 6",
    ]);
    assert_eq!(code, 6, "{out}{err}");
    assert_eq!(out, "in-c2\n");
    let (code, out, err) = containerd.ctr(&["task", "ps", "c2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.lines().count() >= 2, "{out}");
    let (code, out, err) = containerd.ctr(&["task", "kill", "c2"]);
    assert_eq!(code, 0, "{out}{err}");
    let stopped = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        containerd
            .ctr(&["task", "ls"])
            .1
            .lines()
            .any(|l| l.starts_with("c2 ") && l.contains("STOPPED"))
    });
    assert!(stopped, "{:?}", containerd.ctr(&["task", "ls"]));
    let (code, out, err) = containerd.ctr(&["task", "delete", "c2"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = containerd.ctr(&["container", "delete", "c2"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = containerd.ctr(&["task", "ls"]);
    assert_eq!(out.lines().count(), 1, "only the header: {out}");
    for tree in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for id in ["c1", "c2"] {
            assert!(
                !tree.path().join("nslab").join(id).exists(),
                "{id}'s cgroup was left"
            );
        }
    }
    drop(containerd);
    let _ = std::fs::remove_dir_all(&rootfs);
}
