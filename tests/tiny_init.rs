//! `--init`: with the `org.nslab.init` annotation, the runtime's init stays
//! PID 1 and the program runs as its child. Checked from inside (the
//! program's pid) and from the host (zombies, signals, exit statuses);
//! every test has a check that fails if the init is not there.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NSLAB: &str = env!("CARGO_BIN_EXE_nslab");

/// A bundle and a `--root` of the test's own, removed when dropped (the
/// small part of `tests/runtime.rs`'s helper these tests need).
struct Bundle {
    dir: PathBuf,
    root: PathBuf,
}

impl Bundle {
    /// `nslab spec` in a fresh directory, a copy of the test rootfs as
    /// root, `args` to run, and the init annotation if `init`.
    fn new(name: &str, args: &[&str], init: bool) -> Bundle {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tiny-init-{name}"));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("bundle");
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = Bundle {
            dir,
            root: base.join("root"),
        };
        let (code, out, err) = bundle.nslab(&["spec", "--bundle", bundle.dir.to_str().unwrap()]);
        assert_eq!(code, 0, "nslab spec: {out}{err}");
        let status = Command::new("cp")
            .arg("-a")
            .arg(common::rootfs())
            .arg(bundle.dir.join("rootfs"))
            .status()
            .unwrap();
        assert!(status.success(), "copying the rootfs");
        let path = bundle.dir.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        config["root"]["path"] = "rootfs".into();
        config["process"]["args"] = args.iter().map(|a| a.to_string()).collect();
        if init {
            config["annotations"] = serde_json::json!({ nslab::tiny_init::ANNOTATION: "true" });
        }
        std::fs::write(&path, config.to_string()).unwrap();
        bundle
    }

    /// `nslab --root ROOT ARGS…`, its output captured.
    fn nslab(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = self.command(args);
        common::run(&mut cmd)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = common::lesson(NSLAB);
        cmd.arg("--root")
            .arg(&self.root)
            .args(args)
            .current_dir(&self.dir);
        cmd
    }

    /// `nslab create ID` then `nslab start ID`; returns the init's pid.
    fn create_and_start(&self, id: &str) -> i32 {
        let pid_file = self.dir.join(format!("{id}.pid"));
        // Its output to /dev/null: the container inherits create's stdio.
        let status = Command::new(NSLAB)
            .arg("--root")
            .arg(&self.root)
            .args(["create", "--pid-file"])
            .arg(&pid_file)
            .arg(id)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "nslab create {id}");
        let (code, out, err) = self.nslab(&["start", id]);
        assert_eq!(code, 0, "nslab start: {out}{err}");
        std::fs::read_to_string(pid_file).unwrap().parse().unwrap()
    }

    /// What `nslab state` says the container's status is (empty while
    /// it has no record yet, or none any more).
    fn status(&self, id: &str) -> String {
        let (_, out, _) = self.nslab(&["state", id]);
        serde_json::from_str::<serde_json::Value>(&out)
            .ok()
            .and_then(|state| state["status"].as_str().map(String::from))
            .unwrap_or_default()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                let _ = self.nslab(&["delete", "--force", &id]);
            }
        }
    }
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

/// The pids (as the host numbers them) in the container's cgroup.
fn cgroup_pids(id: &str) -> Vec<i32> {
    let mut dirs = vec![Path::new("/sys/fs/cgroup/nslab").join(id)];
    for tree in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        dirs.push(tree.path().join("nslab").join(id));
    }
    // Each hierarchy (v1 has one per controller) lists the same pids.
    let mut pids: Vec<i32> = dirs
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort();
    pids.dedup();
    pids
}

/// A process's state letter (`R`, `S`, `Z`…) from /proc/PID/stat, or
/// `None` once it is gone (reaped).
fn proc_state(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .next()
        .map(String::from)
}

fn cmdline(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .replace('\0', " ")
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn with_the_annotation_the_program_is_not_pid_1() {
    require_root!();
    let script = "echo $$; tr '\\0' ' ' < /proc/1/cmdline; echo";
    let bundle = Bundle::new("pid", &["sh", "-c", script], true);
    let (code, out, err) = bundle.nslab(&["run", "--bundle", ".", "p1"]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"2"), "the init's first child: {out}");
    // PID 1 is nslab itself, not the program.
    assert!(
        lines.get(1).is_some_and(|l| !l.starts_with("sh ")),
        "PID 1 is the program: {out}"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn without_the_annotation_the_program_is_pid_1() {
    require_root!();
    let bundle = Bundle::new(
        "no-init",
        &["sh", "-c", "echo $$; kill -USR1 $$; echo alive"],
        false,
    );
    let (code, out, err) = bundle.nslab(&["run", "--bundle", ".", "n1"]);
    // PID 1 without a handler: the USR1 is dropped (lesson 02).
    assert_eq!((code, out.as_str()), (0, "1\nalive\n"), "{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_exit_status_passes_through_and_a_signal_death_is_128_plus_it() {
    require_root!();
    let bundle = Bundle::new("status", &["sh", "-c", "exit 7"], true);
    let (code, out, err) = bundle.nslab(&["run", "--bundle", ".", "s1"]);
    assert_eq!(code, 7, "{out}{err}");
    // A program that kills itself: as PID 1 it would survive (the signal
    // dropped) and exit 0; as the init's child it dies, 128 + SIGUSR1 (10).
    let bundle = Bundle::new("signal", &["sh", "-c", "kill -USR1 $$; exit 0"], true);
    let (code, out, err) = bundle.nslab(&["run", "--bundle", ".", "s2"]);
    assert_eq!(code, 128 + 10, "{out}{err}");
    // A program that leaves children running: the init exits with the
    // program, and the kernel ends the rest (nslab run does not wait 100 s).
    let bundle = Bundle::new(
        "leftover",
        &["sh", "-c", "sleep 100 & sleep 100 & exit 3"],
        true,
    );
    let started = Instant::now();
    let (code, out, err) = bundle.nslab(&["run", "--bundle", ".", "s3"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited for the children"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn orphans_are_reaped() {
    require_root!();
    // The subshell starts `sleep 1` and exits: the sleep is orphaned,
    // adopted by PID 1, and ends a second later. With the program as PID 1
    // (`exec sleep 100`, which never waits) it would stay a zombie.
    let bundle = Bundle::new(
        "orphans",
        &["sh", "-c", "(sleep 1 &); exec sleep 100"],
        true,
    );
    let init = bundle.create_and_start("o1");
    let mut orphan = None;
    assert!(
        wait_until(Duration::from_secs(5), || {
            orphan = cgroup_pids("o1")
                .into_iter()
                .find(|pid| cmdline(*pid).trim_end() == "sleep 1");
            orphan.is_some()
        }),
        "the orphan never ran: {:?}",
        cgroup_pids("o1")
    );
    let orphan = orphan.unwrap();
    // Its parent is now PID 1, the init, as the host numbers it.
    assert!(
        wait_until(Duration::from_secs(5), || proc_state(orphan).is_none()),
        "the orphan {orphan} was not reaped: state {:?} (init {init}: {})",
        proc_state(orphan),
        cmdline(init)
    );
    // The program runs on, the init's child.
    let program: Vec<i32> = cgroup_pids("o1")
        .into_iter()
        .filter(|pid| cmdline(*pid).trim_end() == "sleep 100")
        .collect();
    assert_eq!(program.len(), 1, "{:?}", cgroup_pids("o1"));
    assert_ne!(program[0], init, "the program is the init");
    let (code, out, err) = bundle.nslab(&["delete", "--force", "o1"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn kill_term_ends_a_program_without_a_handler() {
    require_root!();
    // `sleep` installs no handler: as PID 1 the TERM would be dropped;
    // forwarded to it as an ordinary process, its default action kills it.
    let bundle = Bundle::new("term", &["sleep", "100"], true);
    let mut run = bundle
        .command(&["run", "--bundle", ".", "t1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || {
            bundle.status("t1") == "running"
        }),
        "t1 never ran"
    );
    // Running is not enough: the program must have been forked, or the
    // TERM would reach the init before it blocked signals.
    assert!(
        wait_until(Duration::from_secs(5), || cgroup_pids("t1")
            .iter()
            .any(|pid| cmdline(*pid).trim_end() == "sleep 100")),
        "the program never started"
    );
    let (code, out, err) = bundle.nslab(&["kill", "t1", "TERM"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut status = None;
    let ended = wait_until(Duration::from_secs(5), || {
        status = run.try_wait().unwrap();
        status.is_some()
    });
    if !ended {
        let _ = run.kill();
        let _ = run.wait();
    }
    assert!(ended, "the container outlived a SIGTERM");
    assert_eq!(status.unwrap().code(), Some(128 + 15), "{status:?}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_program_that_ignores_term_runs_on_until_killed() {
    require_root!();
    // An ignored signal stays ignored across execve: the sleep ignores TERM.
    let bundle = Bundle::new(
        "ignore",
        &["sh", "-c", "trap '' TERM; exec sleep 100"],
        true,
    );
    let init = bundle.create_and_start("i1");
    assert!(
        wait_until(Duration::from_secs(5), || cgroup_pids("i1")
            .iter()
            .any(|pid| cmdline(*pid).trim_end() == "sleep 100")),
        "the program never started"
    );
    let (code, out, err) = bundle.nslab(&["kill", "i1", "TERM"]);
    assert_eq!(code, 0, "{out}{err}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(bundle.status("i1"), "running", "the init died of the TERM");
    assert!(proc_state(init).is_some_and(|s| s != "Z"));
    // A forwarded signal it does not ignore still reaches it.
    let (code, out, err) = bundle.nslab(&["kill", "i1", "USR1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        wait_until(Duration::from_secs(5), || bundle.status("i1") == "stopped"),
        "the USR1 was not forwarded"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn kill_kill_ends_the_init_and_every_process() {
    require_root!();
    let bundle = Bundle::new("sigkill", &["sh", "-c", "sleep 100 & exec sleep 100"], true);
    let init = bundle.create_and_start("k1");
    assert!(
        wait_until(Duration::from_secs(5), || cgroup_pids("k1").len() >= 3),
        "init, sh and a sleep: {:?}",
        cgroup_pids("k1")
    );
    let pids = cgroup_pids("k1");
    assert!(pids.contains(&init), "{pids:?}");
    let (code, out, err) = bundle.nslab(&["kill", "k1", "KILL"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        wait_until(Duration::from_secs(5), || bundle.status("k1") == "stopped"),
        "still running after SIGKILL"
    );
    assert!(
        wait_until(Duration::from_secs(5), || pids
            .iter()
            .all(|pid| matches!(proc_state(*pid).as_deref(), None | Some("Z")))),
        "a process outlived its init: {:?}",
        pids.iter().map(|p| (p, proc_state(*p))).collect::<Vec<_>>()
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn ctrl_c_on_a_terminal_reaches_the_program() {
    use std::io::{Read, Write};
    use std::os::fd::OwnedFd;
    use std::os::unix::process::CommandExt;
    require_root!();
    // The terminal sends SIGINT to its whole foreground process group:
    // nslab run, the init and the program. The init does not send it a
    // second time, but this cannot tell: a second SIGINT arriving while
    // the first is pending merges with it (standard signals do not queue),
    // so the count checks only that the program got it, once or merged.
    let script = "n=0; trap 'n=$((n+1))' INT; echo ready $$; i=0; \
                  while [ $i -lt 15 ]; do sleep 0.1; i=$((i+1)); done; echo total $n";
    let bundle = Bundle::new("terminal", &["sh", "-c", script], true);
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
    let mut cmd = bundle.command(&["run", "--bundle", ".", "c1"]);
    cmd.stdin(slave(&pty.slave))
        .stdout(slave(&pty.slave))
        .stderr(slave(&pty.slave));
    // SAFETY: setsid and an ioctl, both async-signal-safe, in the child
    // between fork and exec: the pty becomes its controlling terminal.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()?;
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut run = cmd.spawn().unwrap();
    drop(pty.slave);
    let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut master = std::fs::File::from(pty.master);
    let mut reader = master.try_clone().unwrap();
    let sink = output.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        // EIO once every slave is closed: the end.
        while let Ok(n @ 1..) = reader.read(&mut buffer) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    let ready = wait_until(Duration::from_secs(10), || {
        output.lock().unwrap().contains("ready")
    });
    if ready {
        // Ctrl-C, as the terminal's line discipline reads it.
        master.write_all(b"\x03").unwrap();
    }
    let ended = wait_until(Duration::from_secs(10), || {
        run.try_wait().unwrap().is_some()
    });
    if !ended {
        let _ = run.kill();
    }
    let status = run.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let output = output.lock().unwrap().clone();
    assert!(ready && ended, "{output}");
    assert!(output.contains("ready 2"), "the program is PID 1: {output}");
    assert!(output.contains("total 1"), "one Ctrl-C, one trap: {output}");
    assert_eq!(status.code(), Some(0), "{output}");
}
