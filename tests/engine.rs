//! The engine (lesson 12, part 2): `nslab run IMAGE`, `-d` with logs,
//! exec, stop and rm, commit, import, errors, and what a killed engine
//! leaves. Each test has its own state directory, runtime root and run
//! directory; after each, nothing it made is mounted, no cgroup of its
//! containers is left, and the runtime has no record of them.
//!
//! Containers here use `--net none`, except the network test, which runs
//! its commands inside a network namespace of its own (`unshare --net`),
//! where the bridge and the veth pairs live and die.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NSLAB: &str = env!("CARGO_BIN_EXE_nslab");

/// One test's directories.
struct Lab {
    base: PathBuf,
}

impl Lab {
    fn new(name: &str) -> Lab {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("engine-{name}"));
        if base.exists() {
            let _ = Command::new("umount").arg("-R").arg(&base).status();
            let _ = std::fs::remove_dir_all(&base);
        }
        std::fs::create_dir_all(&base).unwrap();
        Lab { base }
    }

    fn state(&self) -> PathBuf {
        self.base.join("state")
    }

    fn root(&self) -> PathBuf {
        self.base.join("root")
    }

    /// `nslab ARGS` with this lab's directories.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = common::lesson(NSLAB);
        cmd.env("NSLAB_STATE_DIR", self.state())
            .env("NSLAB_RUN_DIR", self.base.join("run"))
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn nslab(&self, args: &[&str]) -> (i32, String, String) {
        common::run(&mut self.command(args))
    }

    /// The environment a shell script needs to call this lab's nslab as
    /// `$nslab`.
    fn script_env(&self, cmd: &mut Command) {
        cmd.env("NSLAB_STATE_DIR", self.state())
            .env("NSLAB_RUN_DIR", self.base.join("run"))
            .env("nslab", format!("{NSLAB} --root {}", self.root().display()));
    }

    fn container_ids(&self) -> Vec<String> {
        std::fs::read_dir(self.state().join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.len() == 64)
            .collect()
    }

    fn inspect(&self, name: &str) -> serde_json::Value {
        let (code, out, err) = self.nslab(&["inspect", name]);
        assert_eq!(code, 0, "inspect {name}: {err}");
        serde_json::from_str(&out).unwrap()
    }

    /// Nothing of the lab's containers is left: no container directory,
    /// no mount under the lab, no runtime record, no cgroup.
    fn assert_clean(&self, ids: &[String]) {
        assert_eq!(
            self.container_ids(),
            Vec::<String>::new(),
            "container directories left"
        );
        let base = self.base.display().to_string();
        let mounts: Vec<String> = common::mount_points()
            .into_iter()
            .filter(|m| m.starts_with(&base))
            .collect();
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        for id in ids {
            assert!(
                !self.root().join(id).exists(),
                "runtime record of {id} left"
            );
            for hierarchy in ["unified", "memory", "pids", "cpu,cpuacct"] {
                let cgroup = Path::new("/sys/fs/cgroup")
                    .join(hierarchy)
                    .join("nslab")
                    .join(id);
                assert!(!cgroup.exists(), "{} left", cgroup.display());
            }
        }
    }
}

impl Drop for Lab {
    /// A failed test still removes what it made.
    fn drop(&mut self) {
        for id in self.container_ids() {
            let _ = self.nslab(&["rm", "-f", &id]);
        }
    }
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn run_rm_busybox_echo_hi_leaves_nothing() {
    require_root!();
    let lab = Lab::new("hi");
    let (code, out, err) = lab.nslab(&["run", "--rm", "--net", "none", "busybox", "echo", "hi"]);
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
    // The built-in image was made from the default rootfs, once.
    let (code, out, _) = lab.nslab(&["image", "ls"]);
    assert_eq!(code, 0);
    assert!(out.contains("busybox:latest"), "{out}");
    lab.assert_clean(&[]);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_exit_status_passes_through_and_the_container_stays_until_rm() {
    require_root!();
    let lab = Lab::new("status");
    let (code, _, err) = lab.nslab(&[
        "run", "--name", "three", "--net", "none", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(code, 3, "{err}");
    let (_, out, _) = lab.nslab(&["ps"]);
    assert!(!out.contains("three"), "ps lists running ones only: {out}");
    let (_, out, _) = lab.nslab(&["ps", "-a"]);
    assert!(out.contains("Exited (3)") && out.contains("three"), "{out}");
    let ids = lab.container_ids();
    let (_, out, _) = lab.nslab(&["ps", "-aq"]);
    assert_eq!(out, format!("{}\n", &ids[0][..12]));
    assert_eq!(lab.nslab(&["ps", "-q"]).1, "");
    let (code, _, err) = lab.nslab(&["rm", "three"]);
    assert_eq!(code, 0, "{err}");
    lab.assert_clean(&ids);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_detached_container_has_logs_exec_stop_and_rm() {
    require_root!();
    let lab = Lab::new("detached");
    let (code, out, err) = lab.nslab(&[
        "run",
        "-d",
        "--name",
        "web",
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo started; echo to-stderr >&2; while true; do sleep 1; done",
    ]);
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the id: {out}");
    let (_, out, _) = lab.nslab(&["ps"]);
    assert!(
        out.contains("web") && out.contains("Up") && out.contains(&id[..12]),
        "{out}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || lab
            .nslab(&["logs", "web"])
            .1
            .contains("to-stderr")),
        "logs has both streams"
    );
    assert!(lab.nslab(&["logs", "web"]).1.starts_with("started\n"));
    // exec: in its namespaces: its hostname (the short id), its PID 1.
    let (code, out, err) = lab.nslab(&["exec", "web", "sh", "-c", "hostname; cat /proc/1/cmdline"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(&id[..12]));
    assert!(
        lines
            .next()
            .unwrap_or_default()
            .starts_with("sh\0-c\0echo started"),
        "{out}"
    );
    // The instructor's cleanup does not take a running container's root
    // for a killed lesson's mount.
    let (_, out, err) = lab.nslab(&["cleanup", "--dry-run"]);
    assert!(!format!("{out}{err}").contains(&id), "{out}{err}");
    // ps NAME: its processes, by the engine's name, as `ps ID` by the runtime's.
    let (code, out, err) = lab.nslab(&["ps", "web"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sh -c echo started"), "{out}");
    // rm without -f refuses a running container, and changes nothing.
    let (code, _, err) = lab.nslab(&["rm", "web"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("running") && err.contains("nslab stop web"),
        "{err}"
    );
    // The shell is PID 1 and has no TERM handler: TERM does nothing, and
    // stop sends KILL after the grace period (lesson 02).
    let started = Instant::now();
    let (code, out, err) = lab.nslab(&["stop", "-t", "1", "web"]);
    assert_eq!((code, out.as_str()), (0, "web\n"), "{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "TERM alone did not end PID 1"
    );
    let (_, out, _) = lab.nslab(&["ps", "-a"]);
    assert!(out.contains("Exited (137)"), "{out}");
    let (code, _, err) = lab.nslab(&["exec", "web", "true"]);
    assert_eq!(code, 1);
    assert!(err.contains("exited"), "{err}");
    let (code, _, err) = lab.nslab(&["rm", "web"]);
    assert_eq!(code, 0, "{err}");
    lab.assert_clean(&[id]);
    // The name is free again.
    let (code, _, err) = lab.nslab(&[
        "run", "--rm", "--name", "web", "--net", "none", "busybox", "true",
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn commit_makes_an_image_that_runs() {
    require_root!();
    let lab = Lab::new("commit");
    let (code, _, err) = lab.nslab(&[
        "run",
        "--name",
        "maker",
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo made > /made; rm /bin/true",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = lab.nslab(&["commit", "maker", "made:v1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("sha256:"), "{out}");
    // The file it made is there; the file it removed is gone (a whiteout
    // in the new layer); its hostname is the new container's (the init
    // layer was not committed).
    let (code, out, err) = lab.nslab(&[
        "run",
        "--rm",
        "--name",
        "user",
        "--hostname",
        "fresh",
        "--net",
        "none",
        "made:v1",
        "sh",
        "-c",
        "cat /made; test -e /bin/true && echo true-exists; cat /etc/hostname",
    ]);
    assert_eq!((code, out.as_str()), (0, "made\nfresh\n"), "{err}");
    // An image in use cannot be removed; the error names the container.
    let (code, _, err) = lab.nslab(&[
        "run", "--name", "holder", "--net", "none", "made:v1", "sh", "-c", ":",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = lab.nslab(&["image", "rm", "made:v1"]);
    assert_eq!(code, 1);
    assert!(err.contains("holder"), "{err}");
    let ids = lab.container_ids();
    assert_eq!(lab.nslab(&["rm", "holder", "maker"]).0, 0);
    let (code, _, err) = lab.nslab(&["image", "rm", "made:v1"]);
    assert_eq!(code, 0, "{err}");
    assert!(!lab.nslab(&["image", "ls"]).1.contains("made"));
    lab.assert_clean(&ids);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn an_exported_tarball_imports_and_runs() {
    require_root!();
    let lab = Lab::new("import");
    // A `docker export` is a tar of a root filesystem: make one of the
    // test rootfs, with a file of our own in it.
    let tree = lab.base.join("tree");
    let status = Command::new("cp")
        .arg("-a")
        .arg(common::rootfs())
        .arg(&tree)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(tree.join("imported"), "from the tarball\n").unwrap();
    let tarball = lab.base.join("export.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&tree)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let (code, out, err) = lab.nslab(&["image", "import", tarball.to_str().unwrap(), "exported:1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("sha256:"), "{out}");
    let (code, out, err) = lab.nslab(&[
        "run",
        "--rm",
        "--net",
        "none",
        "exported:1",
        "cat",
        "/imported",
    ]);
    assert_eq!((code, out.as_str()), (0, "from the tarball\n"), "{err}");
    lab.assert_clean(&[]);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn bad_input_is_refused_clearly_and_leaves_nothing() {
    require_root!();
    let lab = Lab::new("errors");
    let cases: [(&[&str], &str); 6] = [
        (&["run", "--net", "none", "no-such-image"], "no image named"),
        (
            &["run", "-v", "relative:/data", "busybox", "true"],
            "named volumes",
        ),
        (&["run", "-p", "80", "busybox", "true"], "HOSTPORT:CTRPORT"),
        (
            &["run", "--net", "moon", "busybox", "true"],
            "none, host, bridge",
        ),
        (
            &["run", "--net", "none", "-p", "8080:80", "busybox", "true"],
            "bridge",
        ),
        (
            &["run", "--net", "container:nobody", "busybox", "true"],
            "nobody",
        ),
    ];
    for (args, expected) in cases {
        let (code, out, err) = lab.nslab(args);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(lab.container_ids().is_empty(), "{args:?} left a container");
    }
    // A name in use: the second run is refused, the first is untouched.
    let (code, _, err) = lab.nslab(&["run", "--name", "once", "--net", "none", "busybox", "true"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = lab.nslab(&["run", "--name", "once", "--net", "none", "busybox", "true"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("already used") && err.contains("nslab rm once"),
        "{err}"
    );
    assert_eq!(lab.container_ids().len(), 1);
    assert_eq!(lab.nslab(&["rm", "once"]).0, 0);
    // runc's habit in a bundle directory: the error says how to do that.
    let mut cmd = lab.command(&["run", "demo"]);
    std::fs::write(lab.base.join("config.json"), "{}").unwrap();
    cmd.current_dir(&lab.base);
    let (code, _, err) = common::run(&mut cmd);
    assert_eq!(code, 1);
    assert!(err.contains("--bundle ."), "{err}");
    lab.assert_clean(&[]);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_killed_engine_or_monitor_leaves_a_container_rm_f_cleans() {
    require_root!();
    let lab = Lab::new("killed");
    // The foreground engine is the container's monitor; SIGKILL it.
    let mut engine = lab
        .command(&[
            "run", "--name", "orphan", "--net", "none", "busybox", "sleep", "600",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || lab
            .nslab(&["ps"])
            .1
            .contains("orphan")),
        "it runs"
    );
    engine.kill().unwrap();
    engine.wait().unwrap();
    // The container goes on: only its monitor is gone, as when conmon dies.
    let (_, out, _) = lab.nslab(&["ps"]);
    assert!(out.contains("orphan") && out.contains("Up"), "{out}");
    let ids = lab.container_ids();
    let (code, _, err) = lab.nslab(&["rm", "-f", "orphan"]);
    assert_eq!(code, 0, "{err}");
    lab.assert_clean(&ids);

    // A detached container whose monitor is killed: stop still ends it,
    // ps says the status is unknown (nobody waited for it), rm cleans.
    let (code, _, err) = lab.nslab(&[
        "run", "-d", "--name", "lost", "--net", "none", "busybox", "sleep", "600",
    ]);
    assert_eq!(code, 0, "{err}");
    let monitor = lab.inspect("lost")["monitor"]["pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor as i32),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    let (code, _, err) = lab.nslab(&["stop", "-t", "1", "lost"]);
    assert_eq!(code, 0, "{err}");
    // With no monitor to do it, stop itself unmounted its root.
    let base = lab.base.display().to_string();
    assert!(
        !common::mount_points().iter().any(|m| m.starts_with(&base)),
        "stop left the root mounted"
    );
    let (_, out, _) = lab.nslab(&["ps", "-a"]);
    assert!(out.contains("Exited (unknown)"), "{out}");
    let ids = lab.container_ids();
    assert_eq!(lab.nslab(&["rm", "lost"]).0, 0);
    lab.assert_clean(&ids);

    // What a run killed while it made the directory leaves: no record.
    // Not listed, not found by rm, but rm -f of its whole id removes it.
    let id = "0123456789abcdef".repeat(4);
    std::fs::create_dir_all(lab.state().join("containers").join(&id).join("upper")).unwrap();
    assert!(!lab.nslab(&["ps", "-aq"]).1.contains(&id[..12]));
    assert_eq!(lab.nslab(&["rm", &id]).0, 1);
    let (code, _, err) = lab.nslab(&["rm", "-f", &id]);
    assert_eq!(code, 0, "{err}");
    lab.assert_clean(&[id]);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn twenty_runs_at_once_each_get_their_own_container() {
    require_root!();
    let lab = Lab::new("twenty");
    // Builds the busybox image first: twenty first runs would all race to.
    assert_eq!(lab.nslab(&["image", "ls"]).0, 0);
    let children: Vec<_> = (0..20)
        .map(|i| {
            lab.command(&[
                "run",
                "--rm",
                "--net",
                "none",
                "busybox",
                "sh",
                "-c",
                &format!("echo {i}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout), format!("{i}\n"));
    }
    lab.assert_clean(&[]);
    // Twenty with one name: exactly one gets it.
    let children: Vec<_> = (0..20)
        .map(|_| {
            lab.command(&[
                "run", "-d", "--name", "same", "--net", "none", "busybox", "sleep", "60",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut won = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        if output.status.success() {
            won += 1;
        } else {
            let err = String::from_utf8_lossy(&output.stderr);
            assert!(err.contains("already used"), "{err}");
        }
    }
    assert_eq!(won, 1);
    assert_eq!(lab.container_ids().len(), 1);
    let ids = lab.container_ids();
    assert_eq!(lab.nslab(&["rm", "-f", "same"]).0, 0);
    lab.assert_clean(&ids);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_bridge_joins_and_publishes_inside_a_network_namespace_of_its_own() {
    require_root!();
    let lab = Lab::new("bridge");
    // Everything in one throwaway network namespace: the bridge, both
    // containers' cables, and the published port on its loopback.
    let script = r#"
set -e
ip link set lo up
$nslab run -d --name server -p 8080:80 busybox sh -c 'while true; do echo served | nc -l -p 80; done' >/dev/null
$nslab run -d --name client busybox sleep 600 >/dev/null
server=$($nslab inspect server | sed -n 's/.*"address": "\(.*\)".*/\1/p')
echo "server address $server"
echo "client sees: $($nslab exec client sh -c "nc $server 80 </dev/null")"
echo "joined sees: $($nslab run --rm --net container:server busybox sh -c 'ip -o -4 addr show eth0 | cut -d" " -f7')"
sleep 0.2
echo "host port sees: $(busybox nc 127.0.0.1 8080 </dev/null)"
$nslab rm -f server client >/dev/null
$nslab run -d --name lost busybox sleep 600 >/dev/null
kill -9 $($nslab inspect lost | sed -n '/"monitor"/,/}/s/.*"pid": \([0-9]*\).*/\1/p')
$nslab rm -f lost >/dev/null
ip -o link show | cut -d: -f2 | tr -d ' ' | sort | tr '\n' ' '
"#;
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "sh", "-c", script]);
    lab.script_env(&mut cmd);
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let server = out
        .lines()
        .find_map(|l| l.strip_prefix("server address "))
        .unwrap_or_default()
        .to_string();
    assert!(server.starts_with("10.213.0."), "{out}");
    assert!(out.contains("client sees: served"), "{out}");
    assert!(out.contains(&format!("joined sees: {server}/24")), "{out}");
    assert!(out.contains("host port sees: served"), "{out}");
    // After rm -f of all three (one whose monitor was killed, which would
    // have given its address back), their veth ends and the bridge are gone.
    assert!(out.trim_end().ends_with("lo"), "links left: {out}");
    // And the bridge's lock and lease directory went with the last lease.
    assert!(!lab.base.join("run/net").exists(), "run/net left");
    lab.assert_clean(&[]);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn with_init_the_program_is_not_pid_1_and_stop_needs_no_kill() {
    require_root!();
    let lab = Lab::new("init");
    let (code, out, err) = lab.nslab(&[
        "run", "--rm", "--init", "--net", "none", "busybox", "sh", "-c", "echo $$",
    ]);
    assert_eq!((code, out.as_str()), (0, "2\n"), "{err}");
    // PID 1 is nslab's own binary, the host's file: the container cannot
    // open it through /proc/1/exe (runc's CVE-2019-5736).
    let (code, out, err) = lab.nslab(&[
        "run",
        "--rm",
        "--init",
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "cat /proc/1/exe > /dev/null && echo exposed; readlink /proc/1/exe || echo hidden",
    ]);
    assert_eq!((code, out.as_str()), (0, "hidden\n"), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    // The tiny init passes TERM on to a program that is not PID 1, whose
    // default action for it is to end: no grace period, no KILL.
    let (code, _, err) = lab.nslab(&[
        "run", "-d", "--init", "--name", "sleeper", "--net", "none", "busybox", "sleep", "600",
    ]);
    assert_eq!(code, 0, "{err}");
    let started = Instant::now();
    let (code, _, err) = lab.nslab(&["stop", "-t", "10", "sleeper"]);
    assert_eq!(code, 0, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "TERM ended it");
    let (_, out, _) = lab.nslab(&["ps", "-a"]);
    assert!(out.contains("Exited (143)"), "{out}");
    let ids = lab.container_ids();
    assert_eq!(lab.nslab(&["rm", "sleeper"]).0, 0);
    lab.assert_clean(&ids);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn run_it_gives_a_shell_a_terminal_of_its_own() {
    require_root!();
    let lab = Lab::new("tty");
    // script(1) gives nslab a terminal, as a learner's would be; what is
    // typed goes in through a pipe.
    let run = format!(
        "{NSLAB} --root {} run -it --rm --net none busybox sh",
        lab.root().display()
    );
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("printf 'tty; echo $((6*7))\\nexit 5\\n' | script -qec \"{run}\" /dev/null"),
    ]);
    lab.script_env(&mut cmd);
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 5, "{out}{err}");
    // Its own pty from the container's devpts, not ours, and the shell
    // read what was typed.
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("42"), "{out}");
    // Its terminal has our size from the first instant, and follows ours
    // when it changes (SIGWINCH).
    let run = format!(
        "{NSLAB} --root {} run -it --rm --net none busybox sh -c \\\"stty size; sleep 1; stty size\\\"",
        lab.root().display()
    );
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!(
            "sleep 3 | script -qec \"sh -c 'stty rows 30 cols 100; {run} & sleep 0.5; stty rows 40 cols 120; wait'\" /dev/null"
        ),
    ]);
    lab.script_env(&mut cmd);
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["30", "100", "40", "120"],
        "{out}"
    );
    // exec -it: a terminal for the new process too; its status is ours.
    let (code, _, err) = lab.nslab(&[
        "run", "-d", "--name", "box", "--net", "none", "busybox", "sleep", "600",
    ]);
    assert_eq!(code, 0, "{err}");
    let exec = format!("{NSLAB} --root {} exec -it box sh", lab.root().display());
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("printf 'tty\nexit 6\n' | script -qec \"{exec}\" /dev/null"),
    ]);
    lab.script_env(&mut cmd);
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 6, "{out}{err}");
    assert!(out.contains("/dev/pts/"), "{out}");
    // Its terminal has our size before the program runs
    // (process.consoleSize), not 0x0.
    let exec = format!(
        "{NSLAB} --root {} exec -it box stty size",
        lab.root().display()
    );
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("sleep 1 | script -qec \"stty rows 31 cols 101; {exec}\" /dev/null"),
    ]);
    lab.script_env(&mut cmd);
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!((code, out.trim()), (0, "31 101"), "{err}");
    let ids = lab.container_ids();
    assert_eq!(lab.nslab(&["rm", "-f", "box"]).0, 0);
    lab.assert_clean(&ids);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn logs_follow_until_the_end_and_net_host_is_the_hosts_network() {
    require_root!();
    let lab = Lab::new("follow");
    let (code, _, err) = lab.nslab(&[
        "run",
        "-d",
        "--name",
        "talker",
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo first; sleep 1; echo last",
    ]);
    assert_eq!(code, 0, "{err}");
    // -f returns once the container has ended, with what it wrote last.
    let (code, out, err) = lab.nslab(&["logs", "-f", "talker"]);
    assert_eq!((code, out.as_str()), (0, "first\nlast\n"), "{err}");
    let (_, out, _) = lab.nslab(&["ps", "-a"]);
    assert!(out.contains("Exited (0)"), "{out}");
    let ids = lab.container_ids();
    assert_eq!(lab.nslab(&["rm", "talker"]).0, 0);
    // --net host: no network namespace of its own.
    let (code, out, err) = lab.nslab(&[
        "run",
        "--rm",
        "--net",
        "host",
        "busybox",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), common::host_namespace("net"));
    let (code, out, err) = lab.nslab(&[
        "run",
        "--rm",
        "--net",
        "none",
        "busybox",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(out.trim(), common::host_namespace("net"));
    lab.assert_clean(&ids);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn rm_goes_on_past_a_wrong_name_and_oom_kills_are_said() {
    require_root!();
    let lab = Lab::new("oom");
    for name in ["one", "two"] {
        let (code, _, err) =
            lab.nslab(&["run", "--name", name, "--net", "none", "busybox", "true"]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = lab.nslab(&["rm", "one", "nope", "two"]);
    assert_eq!(code, 1, "one name was wrong");
    assert_eq!(out, "one\ntwo\n", "both others removed");
    assert!(err.contains("no container named \"nope\""), "{err}");
    // A process that wants 64 MiB in a container allowed 8: the OOM
    // killer ends it, and ps and inspect say why.
    let (code, _, err) = lab.nslab(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "8m",
        "--net",
        "none",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(code, 137, "{err}");
    assert!(lab.nslab(&["ps", "-a"]).1.contains("Exited (137) OOM"));
    assert_eq!(lab.inspect("hog")["State"]["OOMKilled"], true);
    let ids = lab.container_ids();
    assert_eq!(lab.nslab(&["rm", "hog"]).0, 0);
    lab.assert_clean(&ids);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn engine_containers_get_lesson_11s_seccomp_filter_unless_unconfined() {
    require_root!();
    let lab = Lab::new("seccomp");
    let script =
        "grep '^Seccomp:' /proc/self/status; unshare -U true 2>/dev/null && echo unshared; true";
    let (code, out, err) = lab.nslab(&[
        "run", "--rm", "--net", "none", "busybox", "sh", "-c", script,
    ]);
    assert_eq!((code, out.as_str()), (0, "Seccomp:\t2\n"), "{err}");
    let (code, out, err) = lab.nslab(&[
        "run",
        "--rm",
        "--net",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Seccomp:\t0\n"), "{out}");
    let (code, _, err) = lab.nslab(&["run", "--security-opt", "apparmor=x", "busybox", "true"]);
    assert_eq!(code, 2);
    assert!(err.contains("seccomp=unconfined"), "{err}");
    lab.assert_clean(&[]);
}
