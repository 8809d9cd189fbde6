//! `nslab` as an OCI runtime, driven through its runc-style command line on
//! a real bundle: `spec`, `run`, and the `create` → `start` → `state` →
//! `kill` → `delete` cycle with its error rules, each checked from the host
//! (the pid file, the kernel's view of the process, the cgroup, the state
//! directory) and from inside (what the config asked for).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NSLAB: &str = env!("CARGO_BIN_EXE_nslab");

/// A bundle and a `--root` of the test's own, removed when dropped.
struct Bundle {
    dir: PathBuf,
    root: PathBuf,
}

impl Bundle {
    /// `nslab spec` in a fresh directory, with the test rootfs as root
    /// (read-only, as the default config says) and `args` to run.
    fn new(name: &str, args: &[&str]) -> Bundle {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("runtime-{name}"));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("bundle");
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = Bundle {
            dir,
            root: base.join("root"),
        };
        let (code, out, err) = bundle.nslab(&["spec", "--bundle", bundle.dir.to_str().unwrap()]);
        assert_eq!(code, 0, "nslab spec: {out}{err}");
        // A copy of the test rootfs: the runtime makes mount points in the
        // root it is given, and the lessons' rootfs must stay as it is.
        let status = Command::new("cp")
            .arg("-a")
            .arg(common::rootfs())
            .arg(bundle.dir.join("rootfs"))
            .status()
            .unwrap();
        assert!(status.success(), "copying the rootfs");
        bundle.edit(|config| {
            config["root"]["path"] = "rootfs".into();
            config["process"]["args"] = args.iter().map(|a| a.to_string()).collect();
        });
        bundle
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// Changes config.json.
    fn edit(&self, change: impl FnOnce(&mut serde_json::Value)) {
        let text = std::fs::read_to_string(self.config_path()).unwrap();
        let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
        change(&mut config);
        std::fs::write(self.config_path(), config.to_string()).unwrap();
    }

    /// `nslab --root ROOT ARGS…`, its stdio captured (never for `create`,
    /// whose container would hold the pipes: see [`Bundle::create`]).
    fn nslab(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = common::lesson(NSLAB);
        cmd.arg("--root")
            .arg(&self.root)
            .args(args)
            .current_dir(&self.dir);
        common::run(&mut cmd)
    }

    /// `nslab create ID`, its output to files: the container inherits
    /// create's stdio, as with runc.
    fn create(&self, id: &str) -> (i32, String) {
        let err_file = self.dir.join(format!("{id}.create.err"));
        let status = Command::new(NSLAB)
            .arg("--root")
            .arg(&self.root)
            .args(["create", "--pid-file"])
            .arg(self.dir.join(format!("{id}.pid")))
            .arg(id)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_file).unwrap())
            .status()
            .unwrap();
        let err = std::fs::read_to_string(&err_file).unwrap_or_default();
        (status.code().unwrap_or(-1), err)
    }

    /// The status and pid `nslab state` reports.
    fn state(&self, id: &str) -> (String, i64) {
        let (code, out, err) = self.nslab(&["state", id]);
        assert_eq!(code, 0, "{out}{err}");
        let state: serde_json::Value = serde_json::from_str(&out).expect(&out);
        (
            state["status"].as_str().unwrap_or_default().to_string(),
            state["pid"].as_i64().unwrap_or(-1),
        )
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Whatever a failed test left: killed, cgroups and state removed.
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                let _ = self.nslab(&["delete", "--force", &id]);
            }
        }
    }
}

/// The nslab cgroups named `id`, in every hierarchy.
fn cgroups_named(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for tree in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = tree.path().join("nslab").join(id);
        if dir.is_dir() {
            found.push(dir);
        }
    }
    let v2 = Path::new("/sys/fs/cgroup/nslab").join(id);
    if v2.is_dir() {
        found.push(v2);
    }
    found
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

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn spec_then_run_passes_the_exit_status_through() {
    require_root!();
    let bundle = Bundle::new("run", &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    let (code, out, err) = bundle.nslab(&["run", "--bundle", ".", "r1"]);
    assert_eq!(code, 7, "{out}{err}");
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n", "nothing but the container's own stderr");
    assert!(!bundle.root.join("r1").exists(), "run leaves no state");
    assert!(cgroups_named("r1").is_empty());
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_container_is_what_its_config_says() {
    require_root!();
    let script = "hostname; echo pid $$; readlink /proc/self/ns/net; \
                  (echo x > /written) 2>&1 | grep -o 'Read-only file system'; \
                  wc -c < /proc/timer_list; \
                  grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; \
                  echo env $GREETING; pwd; cat /proc/self/oom_score_adj; ls -ln /dev/extra; \\
                  ls /dev | tr '\\n' ' '";
    let bundle = Bundle::new("inside", &["sh", "-c", script]);
    bundle.edit(|config| {
        config["hostname"] = "configured".into();
        config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("GREETING=hello".into());
        config["process"]["cwd"] = "/tmp".into();
        config["process"]["oomScoreAdj"] = 500.into();
        config["linux"]["devices"] = serde_json::json!([
            {"path": "/dev/extra", "type": "c", "major": 1, "minor": 3, "fileMode": 416, "uid": 7, "gid": 8}
        ]);
    });
    let (code, out, err) = bundle.nslab(&["run", "--bundle", ".", "i1"]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "configured");
    assert_eq!(lines[1], "pid 1");
    assert_ne!(
        lines[2],
        common::host_namespace("net"),
        "a new network namespace"
    );
    assert_eq!(lines[3], "Read-only file system", "root.readonly: {out}");
    assert_eq!(lines[4], "0", "/proc/timer_list is masked: {out}");
    // The default config's capabilities: kill (5), net_bind_service (10)
    // and audit_write (29), in every set; no_new_privs as it says (true).
    assert!(out.contains("CapEff:\t0000000020000420"), "{out}");
    assert!(out.contains("CapBnd:\t0000000020000420"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("env hello"), "{out}");
    assert!(out.contains("\n/tmp\n500\n"), "cwd, oomScoreAdj: {out}");
    // linux.devices: mode 0640 (416), owner 7:8, char 1, 3.
    let extra: Vec<&str> = out
        .lines()
        .find(|l| l.ends_with("/dev/extra"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(
        extra.get(..6),
        Some(&["crw-r-----", "1", "7", "8", "1,", "3"][..]),
        "{out}"
    );
    for node in ["null", "zero", "urandom", "tty", "pts", "shm", "mqueue"] {
        assert!(lines.last().unwrap().contains(node), "/dev/{node}: {out}");
    }
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn create_waits_start_runs_and_delete_removes_everything() {
    require_root!();
    // The program leaves a mark in a host directory lent to it: the mark
    // must not exist before `start`.
    let marks = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime-marks");
    let _ = std::fs::remove_dir_all(&marks);
    std::fs::create_dir_all(&marks).unwrap();
    let bundle = Bundle::new(
        "cycle",
        &["sh", "-c", "echo ran > /marks/c1; exec sleep 60"],
    );
    bundle.edit(|config| {
        config["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "destination": "/marks", "type": "bind",
                "source": marks.display().to_string(), "options": ["rbind", "rw"]
            }));
    });
    let (code, err) = bundle.create("c1");
    assert_eq!(code, 0, "{err}");
    // The pid file: the bare number, as containerd's shim reads it.
    let pid_text = std::fs::read_to_string(bundle.dir.join("c1.pid")).unwrap();
    assert!(!pid_text.ends_with('\n'), "{pid_text:?}");
    let pid: i64 = pid_text.parse().unwrap();
    assert_eq!(bundle.state("c1"), ("created".into(), pid));
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the init waits"
    );
    assert!(!marks.join("c1").exists(), "the program ran before start");
    assert!(
        !cgroups_named("c1").is_empty(),
        "its cgroup exists from create"
    );

    let (code, out, err) = bundle.nslab(&["start", "c1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        wait_until(Duration::from_secs(5), || marks.join("c1").exists()),
        "the program did not run after start"
    );
    assert_eq!(bundle.state("c1"), ("running".into(), pid));

    // Refused while running: a second start, a delete without --force.
    let (code, _, err) = bundle.nslab(&["start", "c1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("c1 is running"), "{err}");
    let (code, _, err) = bundle.nslab(&["delete", "c1"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        bundle.state("c1"),
        ("running".into(), pid),
        "state unchanged"
    );

    // A duplicate id is refused, and the first container is untouched.
    let (code, err) = bundle.create("c1");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("container c1 already exists"), "{err}");
    assert_eq!(bundle.state("c1"), ("running".into(), pid));

    let (code, out, err) = bundle.nslab(&["kill", "c1", "SIGKILL"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        wait_until(Duration::from_secs(5), || bundle.state("c1").0 == "stopped"),
        "not stopped after SIGKILL"
    );
    assert_eq!(bundle.state("c1").1, 0, "a stopped container's pid is 0");
    // Stopped: kill says runc's words; kill --all has nothing to do.
    let (code, _, err) = bundle.nslab(&["kill", "c1"]);
    assert_eq!(code, 1);
    assert!(err.contains("container not running"), "{err}");
    let (code, _, _) = bundle.nslab(&["kill", "--all", "c1", "9"]);
    assert_eq!(code, 0);

    let (code, out, err) = bundle.nslab(&["delete", "c1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(cgroups_named("c1").is_empty(), "the cgroup outlived delete");
    assert!(
        !bundle.root.join("c1").exists(),
        "the state outlived delete"
    );
    let _ = std::fs::remove_dir_all(&marks);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn unknown_ids_are_errors_except_for_delete_force() {
    require_root!();
    let bundle = Bundle::new("unknown", &["true"]);
    for args in [
        &["state", "ghost"][..],
        &["start", "ghost"],
        &["kill", "ghost"],
        &["delete", "ghost"],
    ] {
        let (code, _, err) = bundle.nslab(args);
        assert_eq!(code, 1, "{args:?}");
        assert!(
            err.contains("container ghost does not exist"),
            "{args:?}: {err}"
        );
    }
    let (code, _, err) = bundle.nslab(&["delete", "--force", "ghost"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = bundle.nslab(&["state", "../etc"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid container id"), "{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn delete_force_removes_what_a_killed_create_left() {
    require_root!();
    let bundle = Bundle::new("half", &["true"]);
    // A create killed right after claiming its id leaves only the directory.
    std::fs::create_dir_all(bundle.root.join("h1")).unwrap();
    let (code, err) = bundle.create("h1");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = bundle.nslab(&["delete", "--force", "h1"]);
    assert_eq!(code, 0, "{err}");
    assert!(!bundle.root.join("h1").exists());
    let (code, err) = bundle.create("h1");
    assert_eq!(code, 0, "{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn delete_force_kills_a_running_container_and_its_processes() {
    require_root!();
    let bundle = Bundle::new("force", &["sh", "-c", "sleep 60 & sleep 60; true"]);
    let (code, err) = bundle.create("f1");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = bundle.nslab(&["start", "f1"]);
    assert_eq!(code, 0, "{err}");
    let procs = cgroups_named("f1")[0].join("cgroup.procs");
    assert!(
        wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&procs)
                .unwrap_or_default()
                .lines()
                .count()
                >= 3
        }),
        "sh and two sleeps"
    );
    let pids: Vec<String> = std::fs::read_to_string(&procs)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let (code, _, err) = bundle.nslab(&["delete", "--force", "f1"]);
    assert_eq!(code, 0, "{err}");
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .next();
        assert!(
            matches!(state, None | Some("Z")),
            "{pid} still runs: {stat}"
        );
    }
    assert!(cgroups_named("f1").is_empty());
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn an_unsupported_field_is_refused_by_name_and_nothing_is_made() {
    require_root!();
    let bundle = Bundle::new("unsupported", &["true"]);
    bundle.edit(|config| {
        config["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"});
    });
    let log = bundle.dir.join("log.json");
    let (code, _, err) = bundle.nslab(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "u1",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("linux.seccomp is not supported"), "{err}");
    assert!(!bundle.root.join("u1").exists());
    assert!(cgroups_named("u1").is_empty());
    // The error, as containerd's shim reads it: the last JSON record.
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"].as_str().unwrap().contains("linux.seccomp"),
        "{last}"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn create_reports_the_inits_own_error() {
    require_root!();
    let bundle = Bundle::new("missing", &["no-such-program"]);
    let (code, err) = bundle.create("m1");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("command not found: no-such-program"), "{err}");
    assert!(
        !bundle.root.join("m1").exists(),
        "a failed create leaves no state"
    );
    assert!(
        cgroups_named("m1").is_empty(),
        "a failed create leaves no cgroup"
    );
}

#[test]
fn spec_refuses_to_replace_a_config() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime-spec-twice");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = || common::run(common::lesson(NSLAB).args(["spec", "--bundle"]).arg(&dir));
    assert_eq!(spec().0, 0);
    let written = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(config["process"]["terminal"], false);
    assert_eq!(config["root"]["path"], "rootfs");
    let (code, _, err) = spec();
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("config.json")).unwrap(),
        written
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn exec_enters_every_namespace_and_the_cgroup() {
    require_root!();
    let bundle = Bundle::new("exec", &["sleep", "60"]);
    bundle.edit(|config| config["hostname"] = "execd".into());
    let (code, err) = bundle.create("x1");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = bundle.nslab(&["start", "x1"]);
    assert_eq!(code, 0, "{err}");
    let init = bundle.state("x1").1;
    // Each namespace of the init, and its cgroup, from inside the exec'd
    // process: the same links, pid 2 (the init is 1), the config's caps.
    let script = "echo pid $$; hostname; for n in mnt uts ipc net pid cgroup; do readlink /proc/self/ns/$n; done; \
                  grep CapEff /proc/self/status; echo env $EXTRA";
    let (code, out, err) = bundle.nslab(&["exec", "--env", "EXTRA=yes", "x1", "sh", "-c", script]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("pid 2\nexecd\n"), "{out}");
    for kind in ["mnt", "uts", "ipc", "net", "pid", "cgroup"] {
        let theirs = std::fs::read_link(format!("/proc/{init}/ns/{kind}")).unwrap();
        assert!(out.contains(&theirs.display().to_string()), "{kind}: {out}");
    }
    assert!(out.contains("CapEff:\t0000000020000420"), "{out}");
    assert!(out.contains("env yes"), "{out}");
    // The exit status passes through.
    let (code, _, _) = bundle.nslab(&["exec", "x1", "sh", "-c", "exit 5"]);
    assert_eq!(code, 5);
    // Detached: the pid file names a process in the container's cgroup.
    let pid_file = bundle.dir.join("exec.pid");
    // (Its stdio to /dev/null: a detached process keeps what it inherits,
    // and a pipe would stay open for as long as it runs.)
    let status = Command::new(NSLAB)
        .arg("--root")
        .arg(&bundle.root)
        .args(["exec", "--detach", "--pid-file"])
        .arg(&pid_file)
        .args(["x1", "sleep", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let (code, out, _) = bundle.nslab(&["ps", "--format", "json", "x1"]);
    assert_eq!(code, 0);
    let pids: Vec<i64> = serde_json::from_str(&out).unwrap();
    assert!(pids.contains(&pid.parse().unwrap()), "{pid} not in {out}");
    assert!(pids.contains(&init), "{out}");
    // A missing program is exec's error; a stopped container is refused.
    let (code, _, err) = bundle.nslab(&["exec", "x1", "no-such-program"]);
    assert_eq!(code, 1);
    assert!(err.contains("command not found: no-such-program"), "{err}");
    let (code, _, err) = bundle.nslab(&["kill", "x1", "KILL"]);
    assert_eq!(code, 0, "{err}");
    assert!(wait_until(Duration::from_secs(5), || bundle.state("x1").0 == "stopped"));
    let (code, _, err) = bundle.nslab(&["exec", "x1", "true"]);
    assert_eq!(code, 1);
    assert!(err.contains("x1 is stopped"), "{err}");
    let (code, _, err) = bundle.nslab(&["delete", "x1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        cgroups_named("x1").is_empty(),
        "the exec'd sleep kept the cgroup"
    );
}

#[test]
fn features_say_what_is_supported() {
    let (code, out, err) = common::run(common::lesson(NSLAB).arg("features"));
    assert_eq!(code, 0, "{err}");
    let features: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(features["linux"]["seccomp"]["enabled"], false);
    let namespaces = features["linux"]["namespaces"].as_array().unwrap();
    assert!(namespaces.contains(&"mount".into()) && namespaces.contains(&"network".into()));
    let options = features["mountOptions"].as_array().unwrap();
    assert!(options.contains(&"rbind".into()) && options.contains(&"rprivate".into()));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn hooks_run_at_their_points_with_the_state_on_stdin() {
    require_root!();
    let bundle = Bundle::new("hooks", &["sh", "-c", "exit 0"]);
    let record = |point: &str| {
        let file = bundle.dir.join(format!("{point}.json"));
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", file.display())]})
    };
    bundle.edit(|config| {
        config["hooks"] = serde_json::json!({
            "createRuntime": [record("createRuntime")],
            "poststart": [record("poststart")],
            "poststop": [record("poststop")],
        });
    });
    let (code, err) = bundle.create("k1");
    assert_eq!(code, 0, "{err}");
    let read = |point: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(bundle.dir.join(format!("{point}.json")))
            .unwrap_or_else(|_| panic!("the {point} hook did not run"));
        serde_json::from_str(&text).unwrap()
    };
    let created = read("createRuntime");
    assert_eq!(created["id"], "k1");
    assert_eq!(created["status"], "created");
    let pid = bundle.state("k1").1;
    assert_eq!(
        created["pid"], pid,
        "the init's pid, before it runs the program"
    );
    assert!(
        !bundle.dir.join("poststart.json").exists(),
        "poststart before start"
    );
    let (code, _, err) = bundle.nslab(&["start", "k1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read("poststart")["id"], "k1");
    assert!(wait_until(Duration::from_secs(5), || bundle.state("k1").0 == "stopped"));
    let (code, _, err) = bundle.nslab(&["delete", "k1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read("poststop")["status"], "stopped");

    // A failing createRuntime hook stops create, and leaves nothing.
    bundle.edit(|config| {
        config["hooks"] = serde_json::json!({
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 9"]}],
        });
    });
    let (code, err) = bundle.create("k2");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the createRuntime hook /bin/sh failed"),
        "{err}"
    );
    assert!(!bundle.root.join("k2").exists());
    assert!(cgroups_named("k2").is_empty());
    // Hooks in the container's namespaces: createContainer at create,
    // startContainer at start, before the program.
    let marks = bundle.dir.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let created_file = bundle.dir.join("created-in");
    bundle.edit(|config| {
        config["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "[ -f /marks/started ] && echo after > /marks/program"
        ]);
        config["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "destination": "/marks", "type": "bind",
                "source": marks.display().to_string(), "options": ["rbind", "rw"]
            }));
        config["hooks"] = serde_json::json!({
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
                format!("readlink /proc/self/ns/net > {}", created_file.display())]}],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
                "(readlink /proc/self/ns/net; readlink /proc/self/ns/pid) > /marks/started"]}],
        });
    });
    let (code, err) = bundle.create("k3");
    assert_eq!(code, 0, "{err}");
    let init = bundle.state("k3").1;
    let container_net = std::fs::read_link(format!("/proc/{init}/ns/net")).unwrap();
    let created_in = std::fs::read_to_string(&created_file).expect("createContainer ran");
    assert_eq!(
        created_in.trim(),
        container_net.display().to_string(),
        "in the container's net"
    );
    assert!(
        !marks.join("started").exists(),
        "startContainer before start"
    );
    let (code, _, err) = bundle.nslab(&["start", "k3"]);
    assert_eq!(code, 0, "{err}");
    let started = std::fs::read_to_string(marks.join("started")).expect("startContainer ran");
    // A member of the container's PID namespace, not only its children's.
    let container_pid_ns = std::fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    assert_eq!(
        started.lines().collect::<Vec<_>>(),
        [
            container_net.display().to_string(),
            container_pid_ns.display().to_string()
        ]
    );
    assert!(
        wait_until(Duration::from_secs(5), || marks.join("program").exists()),
        "the program ran after startContainer"
    );
    let (code, _, err) = bundle.nslab(&["delete", "--force", "k3"]);
    assert_eq!(code, 0, "{err}");
    // A hook inside that outlives its timeout is killed, all of it: here
    // the container shares the host's PID namespace, so nothing but the
    // runtime would end the hook's process.
    let marker = format!("nslab-hook-marker-{}", std::process::id());
    bundle.edit(|config| {
        let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|ns| ns["type"] != "pid");
        config["hooks"] = serde_json::json!({
            "createContainer": [{"path": "/bin/sleep", "args": [marker, "600"], "timeout": 1}],
        });
    });
    let (code, err) = bundle.create("k4");
    assert_eq!(code, 1);
    assert!(err.contains("longer than its timeout"), "{err}");
    let hook_left = std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|cmdline| cmdline.starts_with(marker.as_bytes()))
    });
    assert!(!hook_left, "the timed-out hook is still running");
    assert!(!bundle.root.join("k4").exists());
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_user_namespace_maps_root_inside_to_an_ordinary_uid() {
    require_root!();
    let bundle = Bundle::new(
        "userns",
        &["sh", "-c", "id -u; cat /proc/self/uid_map; sleep 30"],
    );
    // The rootfs belongs to the mapped ids, as an engine would shift it.
    let status = Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(bundle.dir.join("rootfs"))
        .status()
        .unwrap();
    assert!(status.success());
    bundle.edit(|config| {
        config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        config["linux"]["uidMappings"] = map.clone();
        config["linux"]["gidMappings"] = map;
    });
    let (code, err) = bundle.create("n1");
    assert_eq!(code, 0, "{err}");
    let pid = bundle.state("n1").1;
    // From the host: the init runs as uid 100000.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().nth(1) == Some("100000"),
        "{uid_line}"
    );
    let (code, _, err) = bundle.nslab(&["delete", "--force", "n1"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn create_and_start_work_for_a_non_root_process_user() {
    require_root!();
    let marks = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime-user-marks");
    let _ = std::fs::remove_dir_all(&marks);
    std::fs::create_dir_all(&marks).unwrap();
    let status = Command::new("chmod")
        .arg("777")
        .arg(&marks)
        .status()
        .unwrap();
    assert!(status.success());
    let bundle = Bundle::new(
        "user",
        &["sh", "-c", "id -u > /marks/uid; id -G >> /marks/uid"],
    );
    bundle.edit(|config| {
        config["process"]["user"] =
            serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [5]});
        config["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "destination": "/marks", "type": "bind",
                "source": marks.display().to_string(), "options": ["rbind", "rw"]
            }));
    });
    let (code, err) = bundle.create("p1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(bundle.state("p1").0, "created", "the init is still waiting");
    let (code, _, err) = bundle.nslab(&["start", "p1"]);
    assert_eq!(code, 0, "{err}");
    let file = marks.join("uid");
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.lines().count() == 2)
    }));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "1000\n1000 5\n");
    let (code, _, err) = bundle.nslab(&["delete", "--force", "p1"]);
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&marks);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_second_container_joins_the_first_ones_namespaces_by_path() {
    require_root!();
    // The first: a "pod" holding its namespaces open.
    let first = Bundle::new("pod", &["sleep", "60"]);
    let (code, err) = first.create("pod1");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = first.nslab(&["start", "pod1"]);
    assert_eq!(code, 0, "{err}");
    let pid = first.state("pod1").1;
    // The second joins its pid, net, ipc and uts namespaces.
    let second = Bundle::new(
        "pod-member",
        &[
            "sh",
            "-c",
            "ps -o pid,comm; hostname; readlink /proc/self/ns/net",
        ],
    );
    second.edit(|config| {
        let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
        for ns in namespaces.iter_mut() {
            let kind = ns["type"].as_str().unwrap().to_string();
            let link = match kind.as_str() {
                "pid" => "pid",
                "network" => "net",
                "ipc" => "ipc",
                "uts" => "uts",
                _ => continue,
            };
            ns["path"] = format!("/proc/{pid}/ns/{link}").into();
        }
        // The first container's hostname is the one the member sees.
        config.as_object_mut().unwrap().remove("hostname");
    });
    let (code, out, err) = second.nslab(&["run", "--bundle", ".", "member1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("    1 sleep"),
        "the pod's process is PID 1 here: {out}"
    );
    assert!(
        out.lines().any(|l| l == "nslab"),
        "the pod's hostname: {out}"
    );
    let pod_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert!(out.contains(&pod_net.display().to_string()), "{out}");
    let (code, _, err) = first.nslab(&["delete", "--force", "pod1"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_terminal_is_made_inside_with_the_console_size_asked_for() {
    require_root!();
    let bundle = Bundle::new("console", &["stty", "size"]);
    bundle.edit(|config| {
        config["process"]["terminal"] = true.into();
        config["process"]["consoleSize"] = serde_json::json!({"height": 33, "width": 99});
    });
    // The engine's side of --console-socket: listen, then take the master.
    let console = nslab::engine::console::Console::listen().unwrap();
    let (code, out, err) = bundle.nslab(&[
        "create",
        "--console-socket",
        console.path().to_str().unwrap(),
        "tty1",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let master = console.receive().expect("the master, sent during create");
    let (code, _, err) = bundle.nslab(&["start", "tty1"]);
    assert_eq!(code, 0, "{err}");
    // What the program wrote on its terminal, until it closed (EIO).
    let mut output = String::new();
    let mut master = std::fs::File::from(master);
    let _ = std::io::Read::read_to_string(&mut master, &mut output);
    assert_eq!(
        output.trim(),
        "33 99",
        "the size was set before the program ran"
    );
    assert!(wait_until(Duration::from_secs(5), || bundle
        .state("tty1")
        .0
        == "stopped"));
    let (code, _, err) = bundle.nslab(&["delete", "tty1"]);
    assert_eq!(code, 0, "{err}");
}
