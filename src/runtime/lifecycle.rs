//! The runtime's commands: the OCI lifecycle, as runc spells it.
//!
//! ```text
//!   create ──► created ──start──► running ──(exits)──► stopped ──delete──► (gone)
//!                 │                  │                    ▲
//!                 └─────kill─────────┴──────kill──────────┘
//! ```
//!
//! **Why create and start are two commands.** An engine needs the
//! container fully set up (namespaces, mounts, cgroup, its pid known) before
//! the user's program runs: to attach a network to the new namespace, to
//! record the pid, to wire logs. So `create` runs the whole start sequence
//! and leaves the container's init waiting, then exits; a later `start`
//! lets it go on. They are separate processes, so the init waits on a
//! FIFO, `exec.fifo`: opening a FIFO for writing blocks until someone opens
//! it for reading, which is what `start` does (runc's mechanism).

use super::state::{self, Record, Status};
use super::{config, hooks, RuntimeError};
use crate::narrate;
use crate::process::Exit;
use crate::record::ProcessId;
use crate::start::{self, InChild};
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where narration and errors go: `--log FILE` in `--log-format`, errors
/// also on standard error, where engines show them.
pub struct Log {
    file: Option<fs::File>,
    json: bool,
}

impl Log {
    /// Opens `path` for appending (narration there with `debug`, errors
    /// always); without a path, narration is off. A log that cannot be
    /// opened is said on standard error, and the command goes on.
    pub fn open(path: Option<&Path>, format: &str, debug: bool) -> Log {
        let json = format == "json";
        let file = path.and_then(|path| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| eprintln!("nslab: cannot open the log {}: {e}", path.display()))
                .ok()
        });
        match (&file, debug) {
            (Some(file), true) => {
                narrate::init_with(narrate::Sink::Fd(file.as_raw_fd()));
                narrate::set_json(json);
            }
            _ => narrate::init(true),
        }
        Log { file, json }
    }

    /// Reports `error`: on standard error with its causes and hint, and as
    /// one `error` record in the log, which containerd's shim reads back.
    pub fn error(&self, error: &RuntimeError) {
        let mut chain = vec![error.to_string()];
        let mut cause = std::error::Error::source(error);
        while let Some(inner) = cause {
            chain.push(inner.to_string());
            cause = inner.source();
        }
        let message = chain.join(": ");
        eprintln!("nslab: {message}");
        if let Some(hint) = error.hint() {
            eprintln!("hint: {hint}");
        }
        if let Some(mut file) = self.file.as_ref() {
            use std::io::Write;
            let line = if self.json {
                narrate::json_record("error", &message)
            } else {
                format!("error: {message}")
            };
            let _ = writeln!(file, "{line}");
        }
    }
}

/// Reads the bundle and turns its config into a spec, before anything is
/// created: a field nslab does not do stops it here.
fn prepare(
    bundle: &Path,
    id: &str,
) -> Result<(PathBuf, oci_spec::runtime::Spec, crate::spec::Spec), RuntimeError> {
    state::check_id(id)?;
    let bundle = std::path::absolute(bundle).map_err(|source| RuntimeError::File {
        step: "find",
        path: bundle.to_path_buf(),
        source,
    })?;
    let config = config::load(&bundle)?;
    let spec = config::to_spec(&config, &bundle, id)?;
    Ok((bundle, config, spec))
}

/// Makes container `id`'s directory: its existence is the id's claim,
/// made with mkdir(2), which only one of two racing runs wins.
fn claim(root: &Path, id: &str) -> Result<PathBuf, RuntimeError> {
    fs::create_dir_all(root).map_err(|source| RuntimeError::File {
        step: "make the state directory",
        path: root.to_path_buf(),
        source,
    })?;
    let dir = state::dir(root, id);
    match fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(RuntimeError::Exists { id: id.into() })
        }
        Err(source) => Err(RuntimeError::File {
            step: "make",
            path: dir,
            source,
        }),
    }
}

/// The record of a container just made.
fn record(
    id: &str,
    pid: Pid,
    bundle: &Path,
    spec: &crate::spec::Spec,
    annotations: &oci_spec::runtime::Spec,
    cgroup: Vec<PathBuf>,
) -> Record {
    Record {
        id: id.into(),
        init: ProcessId::of(pid.as_raw()).unwrap_or(ProcessId {
            pid: pid.as_raw(),
            start_time: 0,
        }),
        bundle: bundle.to_path_buf(),
        rootfs: spec
            .root
            .as_ref()
            .map(|r| r.path.clone())
            .unwrap_or_default(),
        created: state::now_rfc3339(),
        annotations: annotations
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        cgroup,
    }
}

/// Writes `pid` into `file` as engines read it: the bare number, no
/// newline (containerd's shim parses it strictly).
fn write_pid_file(file: &Path, pid: Pid) -> Result<(), RuntimeError> {
    fs::write(file, pid.as_raw().to_string()).map_err(|source| RuntimeError::File {
        step: "write the pid file",
        path: file.to_path_buf(),
        source,
    })
}

// ANCHOR: create
/// `nslab create`: the start sequence up to the user's program, which
/// waits on the FIFO for `nslab start`; returns once the container is
/// ready, or with the error its init met.
pub fn create(
    root: &Path,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
) -> Result<(), RuntimeError> {
    let (bundle, config, mut spec) = prepare(bundle, id)?;
    let terminal = config
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    // Connected now: the init, once pivoted, cannot reach the host's path.
    let console = match (terminal, console_socket) {
        (true, Some(path)) => Some(crate::terminal::connect(path)?),
        (true, None) => {
            return Err(RuntimeError::UnsupportedFlag {
                flag: "process.terminal without --console-socket",
                why: "a terminal's master must go somewhere: give --console-socket, or set process.terminal to false",
            })
        }
        (false, Some(_)) => {
            return Err(RuntimeError::UnsupportedFlag {
                flag: "--console-socket without process.terminal",
                why: "set process.terminal to true in config.json, or leave the socket out",
            })
        }
        (false, None) => None,
    };
    spec.console = console.as_ref().map(|fd| fd.as_raw_fd());
    let dir = claim(root, id)?;
    let made = (|| {
        let fifo = state::fifo(root, id);
        // 0622, as runc makes it: the init may have become another user by
        // the time it opens it for writing; nobody else may read it.
        narrate::syscall(format!("mkfifo({:?}, 0622)", fifo.display().to_string()));
        let old_mask = nix::sys::stat::umask(Mode::empty());
        let made = nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622));
        nix::sys::stat::umask(old_mask);
        made.map_err(|e| RuntimeError::File {
            step: "make the FIFO",
            path: fifo.clone(),
            source: e.into(),
        })?;
        // In a user namespace, root inside is another uid outside: the
        // FIFO is given to it, or the init could not open it (runc too).
        if let Some(maps) = &spec.user {
            let outside = |maps: &[crate::user::IdMap]| {
                maps.iter().find(|m| m.inside == 0).map(|m| m.outside)
            };
            let uid = outside(&maps.uid).map(nix::unistd::Uid::from_raw);
            let gid = outside(&maps.gid).map(nix::unistd::Gid::from_raw);
            narrate::syscall(format!(
                "chown({:?}, {uid:?}, {gid:?})   # root inside owns it",
                fifo.display().to_string()
            ));
            nix::unistd::chown(&fifo, uid, gid).map_err(|e| RuntimeError::File {
                step: "give the FIFO to root inside",
                path: fifo.clone(),
                source: e.into(),
            })?;
        }
        // Opened here, O_PATH: the init reopens it through /proc/self/fd
        // after pivot_root, when the host's path is gone (runc does the same).
        let path_fd = nix::fcntl::open(&fifo, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| RuntimeError::File {
                step: "open the FIFO",
                path: fifo.clone(),
                source: e.into(),
            })?;
        // SAFETY: just opened; owned here, closed when this returns.
        let path_fd = unsafe { OwnedFd::from_raw_fd(path_fd) };
        let raw = path_fd.as_raw_fd();
        let program = spec.command.first().cloned().unwrap_or_default();
        let search = spec
            .process
            .env
            .iter()
            .flatten()
            .find_map(|e| e.strip_prefix("PATH=").map(String::from))
            .unwrap_or_else(|| crate::process::CONTAINER_PATH.to_string());
        let cwd = spec
            .process
            .cwd
            .clone()
            .unwrap_or_else(|| PathBuf::from("/"));
        let wait_for_start = move || -> Result<(), crate::Error> {
            // What execve will need, checked now: a missing program is
            // `create`'s error, not a silent failure at `start`.
            if !cwd.is_dir() {
                return Err(crate::process::ProcessError::Chdir {
                    path: cwd.clone(),
                    source: nix::errno::Errno::ENOENT,
                }
                .into());
            }
            // A relative path is found from the working directory.
            let _ = std::env::set_current_dir(&cwd);
            let found = crate::process::find_program_in(&program, &search)?;
            if !found.exists() {
                return Err(crate::process::ProcessError::NotFound {
                    name: program.clone(),
                    path: search.clone(),
                }
                .into());
            }
            crate::process::say_ready().map_err(crate::process::ProcessError::Pipe)?;
            let reopened = format!("/proc/self/fd/{raw}");
            narrate::syscall(format!(
                "open({reopened:?}, O_WRONLY)   # blocks until `nslab start` opens it"
            ));
            let fd = nix::fcntl::open(
                reopened.as_str(),
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(crate::process::ProcessError::Pipe)?;
            // SAFETY: just opened, owned here.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            nix::unistd::write(&fd, b"0").map_err(crate::process::ProcessError::Pipe)?;
            Ok(())
        };
        let in_child = InChild {
            before_exec: Some(&wait_for_start),
            detached: true,
            ..InChild::default()
        };
        let mut container = start::create(&spec, in_child).map_err(child_error)?;
        // Recorded before the init goes on: if this `create` is killed
        // now, `delete --force` still finds the init and its cgroup.
        let early = record(
            id,
            container.pid(),
            &bundle,
            &spec,
            &config,
            container.cgroup_dirs(),
        );
        if let Err(error) = early.save(root) {
            container.abandon();
            return Err(error);
        }
        // createRuntime (and the older prestart): the namespaces exist,
        // the program has not run; here an engine would plug in a network.
        let state = serde_json::to_string(&early.oci_state(root)).unwrap_or_default();
        let all_hooks = hooks::from_config(&config)?;
        for hook in &all_hooks.create_runtime {
            if let Err(error) = hooks::run(hook, "createRuntime", &state) {
                container.abandon();
                return Err(error);
            }
        }
        // createContainer: in the container's namespaces, while its init
        // waits at the gate, before pivot_root.
        for hook in &all_hooks.create_container {
            let pid = container.pid().as_raw();
            if let Err(error) = hooks::run_inside(hook, "createContainer", &state, pid) {
                container.abandon();
                return Err(error);
            }
        }
        container.release();
        container.wait_ready().map_err(child_error)?;
        let (pid, cgroup) = container.detach();
        drop(path_fd);
        record(id, pid, &bundle, &spec, &config, cgroup).save(root)?;
        if let Some(file) = pid_file {
            write_pid_file(file, pid)?;
        }
        Ok(())
    })();
    if made.is_err() {
        let _ = fs::remove_dir_all(&dir);
    }
    made
}
// ANCHOR_END: create

/// A start-sequence error, as the runtime reports it.
fn child_error(error: crate::Error) -> RuntimeError {
    let mut chain = vec![error.to_string()];
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        chain.push(inner.to_string());
        cause = inner.source();
    }
    let hint = error
        .hint()
        .map(|h| format!(" (hint: {h})"))
        .unwrap_or_default();
    RuntimeError::Start(format!("{}{hint}", chain.join(": ")))
}

// ANCHOR: start
/// `nslab start`: opens the FIFO for reading, which lets the init's open
/// for writing return; the init writes one byte and execs the program.
pub fn start(root: &Path, id: &str) -> Result<(), RuntimeError> {
    let record = Record::load(root, id)?;
    let status = record.status(root);
    if status != Status::Created {
        return Err(RuntimeError::WrongStatus {
            id: id.into(),
            status,
            what: "only a created container can be started".into(),
        });
    }
    // startContainer: in the container's namespaces, the program not yet
    // run (its init blocks on the FIFO). A failure stops the container.
    if let Ok(config) = config::load(&record.bundle) {
        let state_json = serde_json::to_string(&record.oci_state(root)).unwrap_or_default();
        for hook in &hooks::from_config(&config)?.start_container {
            let pid = record.init.pid;
            if let Err(error) = hooks::run_inside(hook, "startContainer", &state_json, pid) {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                // SIGKILL is delivered, not done: wait (briefly) until the
                // init is gone, so that `state` right after says stopped.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
                while record.init.is_running() && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                return Err(error);
            }
        }
    }
    let fifo = state::fifo(root, id);
    narrate::syscall(format!(
        "open({:?}, O_RDONLY | O_NONBLOCK)",
        fifo.display().to_string()
    ));
    let fd = nix::fcntl::open(
        &fifo,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RuntimeError::File {
        step: "open",
        path: fifo.clone(),
        source: e.into(),
    })?;
    // SAFETY: just opened, owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // Non-blocking: if the init died, nobody will ever write.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(fd.as_raw_fd(), &mut byte) {
            Ok(1) => break,
            _ if !record.init.is_running() || Instant::now() > deadline => {
                return Err(RuntimeError::StartTimedOut)
            }
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    let _ = fs::remove_file(&fifo);
    // poststart: reported, not fatal (the program runs already).
    poststart_or_stop(&record, root, "poststart");
    Ok(())
}
// ANCHOR_END: start

/// Runs the poststart or poststop hooks of `record`'s config, saying on
/// standard error which failed: the spec makes them non-fatal.
fn poststart_or_stop(record: &Record, root: &Path, point: &str) {
    let Ok(config) = config::load(&record.bundle) else {
        return;
    };
    let Ok(all) = hooks::from_config(&config) else {
        return;
    };
    let list = if point == "poststart" {
        all.poststart
    } else {
        all.poststop
    };
    let state = serde_json::to_string(&record.oci_state(root)).unwrap_or_default();
    for hook in &list {
        if let Err(error) = hooks::run(hook, point, &state) {
            eprintln!("nslab: warning: {error}");
        }
    }
}

/// `nslab state`: the OCI state JSON on standard output.
pub fn state(root: &Path, id: &str) -> Result<(), RuntimeError> {
    let record = Record::load(root, id)?;
    let json = serde_json::to_string_pretty(&record.oci_state(root)).unwrap_or_default();
    println!("{json}");
    Ok(())
}

/// A signal by name (`TERM`, `SIGTERM`, `sigkill`) or number (`9`).
pub fn parse_signal(text: &str) -> Result<Signal, RuntimeError> {
    let bad = || RuntimeError::BadSignal(text.into());
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// The processes of a container's cgroup.
fn cgroup_pids(record: &Record) -> Vec<i32> {
    record
        .cgroup
        .first()
        .and_then(|dir| fs::read_to_string(dir.join("cgroup.procs")).ok())
        .map(|text| text.lines().filter_map(|l| l.parse().ok()).collect())
        .unwrap_or_default()
}

/// `nslab kill`: a signal to the init, or with `all` to every process of
/// its cgroup. A stopped container answers "container not running", the
/// words clients look for; with `all`, nothing to do is no error (runc).
pub fn kill(root: &Path, id: &str, signal: &str, all: bool) -> Result<(), RuntimeError> {
    let signal = parse_signal(signal)?;
    let record = Record::load(root, id)?;
    if record.status(root) == Status::Stopped {
        return if all {
            Ok(())
        } else {
            Err(RuntimeError::NotRunning)
        };
    }
    let pids = if all {
        cgroup_pids(&record)
    } else {
        vec![record.init.pid]
    };
    for pid in pids {
        narrate::syscall(format!("kill({pid}, {signal})"));
        nix::sys::signal::kill(Pid::from_raw(pid), signal).map_err(|source| {
            RuntimeError::Kill {
                signal,
                pid,
                source,
            }
        })?;
    }
    Ok(())
}

// ANCHOR: delete
/// `nslab delete`: removes a stopped container's cgroup and state. A
/// created or running one is refused unless `force`, which kills it
/// first. With `force`, an unknown id is no error (runc's rule).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), RuntimeError> {
    let record = match Record::load(root, id) {
        Ok(record) => record,
        Err(RuntimeError::NoSuchContainer { .. }) if force => {
            // A create killed before it recorded anything leaves only its
            // directory (or nothing).
            let dir = state::dir(root, id);
            if state::check_id(id).is_ok() && dir.is_dir() {
                let _ = fs::remove_dir_all(&dir);
            }
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    let status = record.status(root);
    if status != Status::Stopped {
        if !force {
            return Err(RuntimeError::WrongStatus {
                id: id.into(),
                status,
                what: "stop it first (nslab kill), or delete --force".into(),
            });
        }
        narrate::syscall(format!("kill({}, SIGKILL)", record.init.pid));
        let _ = nix::sys::signal::kill(Pid::from_raw(record.init.pid), Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while record.init.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // The cgroup kills whatever is left in it, then goes.
    if !record.cgroup.is_empty() {
        if let Ok(cgroup) = crate::cgroup::group::Cgroup::adopt(record.cgroup.clone()) {
            drop(cgroup);
        }
    }
    poststart_or_stop(&record, root, "poststop");
    let dir = state::dir(root, id);
    fs::remove_dir_all(&dir).map_err(|source| RuntimeError::File {
        step: "remove",
        path: dir,
        source,
    })
}
// ANCHOR_END: delete

/// `nslab run`: create, start and wait, in this process; exits with the
/// container's status. The container dies with `nslab run` (as with a
/// lesson), and its state exists while it runs, for `state` and `list`.
pub fn run(
    root: &Path,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
) -> Result<i32, RuntimeError> {
    let (bundle, config, spec) = prepare(bundle, id)?;
    if config
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
    {
        return Err(RuntimeError::UnsupportedFlag {
            flag: "run with process.terminal",
            why: "nslab run keeps the caller's terminal: set process.terminal to false (create --console-socket makes a new one)",
        });
    }
    let dir = claim(root, id)?;
    let result = (|| {
        // Signals to `nslab run` are passed on to the container, as the
        // lessons do: blocked now, taken one at a time while waiting.
        crate::signals::block_for_lesson().map_err(|source| RuntimeError::File {
            step: "block signals for",
            path: PathBuf::from("nslab run"),
            source: source.into(),
        })?;
        let hooks = hooks::from_config(&config)?;
        let mut container = start::create(&spec, InChild::default()).map_err(child_error)?;
        let pid = container.pid();
        let record = record(id, pid, &bundle, &spec, &config, container.cgroup_dirs());
        record.save(root)?;
        if let Some(file) = pid_file {
            write_pid_file(file, pid)?;
        }
        let state = serde_json::to_string(&record.oci_state(root)).unwrap_or_default();
        for hook in &hooks.create_runtime {
            if let Err(error) = hooks::run(hook, "createRuntime", &state) {
                container.abandon();
                return Err(error);
            }
        }
        // `run` has no FIFO to pause at: the hooks of the container's
        // namespaces both run while its init waits at the gate.
        let inside = [
            ("createContainer", &hooks.create_container),
            ("startContainer", &hooks.start_container),
        ];
        for (point, list) in inside {
            for hook in list {
                if let Err(error) = hooks::run_inside(hook, point, &state, pid.as_raw()) {
                    container.abandon();
                    return Err(error);
                }
            }
        }
        container.release();
        poststart_or_stop(&record, root, "poststart");
        let exit = container.wait().map_err(child_error);
        poststart_or_stop(&record, root, "poststop");
        let exit = exit?;
        Ok(match exit {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal as i32,
        })
    })();
    let _ = fs::remove_dir_all(&dir);
    result
}

/// `nslab ps`: the container's processes, from its cgroup: their pids as
/// JSON, or a table with each one's command line.
pub fn ps(root: &Path, id: &str, format: &str) -> Result<(), RuntimeError> {
    let record = Record::load(root, id)?;
    let pids = cgroup_pids(&record);
    if format == "json" {
        println!("{}", serde_json::to_string(&pids).unwrap_or_default());
        return Ok(());
    }
    println!("{:<8} CMD", "PID");
    for pid in pids {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let words: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        println!("{pid:<8} {}", words.join(" "));
    }
    Ok(())
}

/// `nslab features`: what this runtime supports, in the shape of the OCI
/// runtime spec's features document, so that an engine can ask.
pub fn features() -> String {
    let namespaces: Vec<&str> = crate::namespace::Namespace::ALL
        .iter()
        .map(|kind| match kind {
            crate::namespace::Namespace::Mnt => "mount",
            crate::namespace::Namespace::Net => "network",
            other => other.name(),
        })
        .collect();
    let caps: Vec<String> = crate::lockdown::capabilities::known_names()
        .iter()
        .map(|name| format!("CAP_{}", name.to_ascii_uppercase()))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": crate::mount::generic::option_names(),
        "linux": {
            "namespaces": namespaces,
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
        "annotations": { "org.nslab.lesson": "12" },
    }))
    .unwrap_or_default()
}

/// `nslab list`: the containers under `root`, as a table or JSON.
pub fn list(root: &Path, format: &str) -> Result<(), RuntimeError> {
    let states: Vec<state::OciState> = state::ids(root)
        .iter()
        .filter_map(|id| Record::load(root, id).ok())
        .map(|record| record.oci_state(root))
        .collect();
    if format == "json" {
        println!("{}", serde_json::to_string(&states).unwrap_or_default());
        return Ok(());
    }
    println!(
        "{:<20} {:<8} {:<8} {:<40} CREATED",
        "ID", "PID", "STATUS", "BUNDLE"
    );
    for s in states {
        println!(
            "{:<20} {:<8} {:<8} {:<40} {}",
            s.id,
            s.pid,
            s.status,
            s.bundle.display(),
            s.created
        );
    }
    Ok(())
}

/// `nslab spec`: writes [`config::default_config`] as `config.json` in
/// `bundle`, refusing to replace one.
pub fn spec(bundle: &Path) -> Result<(), RuntimeError> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(RuntimeError::Config {
            path,
            reason: "already exists: remove it first".into(),
        });
    }
    config::default_config()
        .save(&path)
        .map_err(|e| RuntimeError::Config {
            path,
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_prefixed_or_not_and_by_number() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
