//! OCI hooks: programs an engine asks the runtime to run at fixed points
//! of the lifecycle, each given the container's state JSON on standard
//! input (the OCI runtime spec, "POSIX-platform Hooks"). Engines use them
//! to plug in networks (CNI), GPUs, or to record what ran.
//!
//! | hook | when | where it runs |
//! |---|---|---|
//! | `prestart` (old), `createRuntime` | `create`, the init at its gate | the runtime's namespaces |
//! | `createContainer` | `create`, the init at its gate, before pivot_root | the container's |
//! | `startContainer` | `start`, before the program runs | the container's |
//! | `poststart` | `start`, once the program runs | the runtime's |
//! | `poststop` | `delete` | the runtime's |
//!
//! A hook "in the container's namespaces" is started by the runtime: its
//! forked child enters the namespaces of the container's init with
//! setns(2), then forks the hook itself (setns into a PID namespace moves
//! only children, and a hook should see its own /proc/self). A failing `createRuntime`,
//! `createContainer` or `startContainer` hook stops the container; a
//! failing `poststart` or `poststop` hook is reported and ignored, as the
//! spec says.

use super::RuntimeError;
use crate::narrate;
use oci_spec::runtime as oci;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One hook: a program, its arguments (`argv[0]` first) and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The program, absolute.
    pub path: PathBuf,
    /// Its arguments, `argv[0]` first; empty for just the path.
    pub args: Vec<String>,
    /// Its environment, `NAME=value`.
    pub env: Vec<String>,
    /// How long it may take.
    pub timeout: Option<Duration>,
}

/// The hooks of a config.json, by the point they run at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// `prestart` and `createRuntime`.
    pub create_runtime: Vec<Hook>,
    /// `createContainer`.
    pub create_container: Vec<Hook>,
    /// `startContainer`.
    pub start_container: Vec<Hook>,
    /// `poststart`.
    pub poststart: Vec<Hook>,
    /// `poststop`.
    pub poststop: Vec<Hook>,
}

/// The hooks of one point; `point` is the config.json key, for errors.
fn read(list: &Option<Vec<oci::Hook>>, point: &str) -> Result<Vec<Hook>, RuntimeError> {
    let mut hooks = Vec::new();
    for (index, hook) in list.iter().flatten().enumerate() {
        // The spec: "path ... MUST be absolute". A relative one would be
        // looked up from wherever the runtime happens to run.
        if !hook.path().is_absolute() {
            return Err(RuntimeError::Unsupported {
                field: format!("hooks.{point}[{index}].path"),
                why: format!(
                    "{:?} is relative; a hook's path must be absolute",
                    hook.path().display().to_string()
                ),
            });
        }
        hooks.push(Hook {
            path: hook.path().clone(),
            args: hook.args().clone().unwrap_or_default(),
            env: hook.env().clone().unwrap_or_default(),
            timeout: hook
                .timeout()
                .filter(|t| *t > 0)
                .map(|t| Duration::from_secs(t as u64)),
        });
    }
    Ok(hooks)
}

/// The hooks `config` asks for.
pub fn from_config(config: &oci::Spec) -> Result<Hooks, RuntimeError> {
    let Some(hooks) = config.hooks() else {
        return Ok(Hooks::default());
    };
    let mut create_runtime = read(hooks.prestart(), "prestart")?;
    create_runtime.extend(read(hooks.create_runtime(), "createRuntime")?);
    Ok(Hooks {
        create_runtime,
        create_container: read(hooks.create_container(), "createContainer")?,
        start_container: read(hooks.start_container(), "startContainer")?,
        poststart: read(hooks.poststart(), "poststart")?,
        poststop: read(hooks.poststop(), "poststop")?,
    })
}

/// Runs `hook` with `state` (the state JSON) on its standard input, and
/// waits for it, killing it at its timeout. `point` names the hook point
/// for messages.
pub fn run(hook: &Hook, point: &str, state: &str) -> Result<(), RuntimeError> {
    run_entering(hook, point, state, None)
}

/// [`run`], in the namespaces of process `pid` (the container's init).
pub fn run_inside(hook: &Hook, point: &str, state: &str, pid: i32) -> Result<(), RuntimeError> {
    run_entering(hook, point, state, Some(pid))
}

fn run_entering(
    hook: &Hook,
    point: &str,
    state: &str,
    inside: Option<i32>,
) -> Result<(), RuntimeError> {
    let failed = |why: String| RuntimeError::Hook {
        point: point.to_string(),
        path: hook.path.clone(),
        why,
    };
    narrate::syscall(format!(
        "fork() + execve({:?})   # the {point} hook, the state on its stdin",
        hook.path.display().to_string()
    ));
    let mut command = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    command
        .env_clear()
        .envs(hook.env.iter().filter_map(|e| e.split_once('=')))
        .stdin(Stdio::piped());
    // The init's namespace files, opened now, entered in the child.
    let files = match inside {
        Some(pid) => super::exec::namespace_files(pid)?,
        None => Vec::new(),
    };
    let entering: Vec<(nix::sched::CloneFlags, std::os::fd::RawFd)> = files
        .iter()
        .map(|(kind, fd)| (kind.flag(), std::os::fd::AsRawFd::as_raw_fd(fd)))
        .collect();
    if !entering.is_empty() {
        // The hook must be a *member* of the container's PID namespace
        // (so that its /proc/self resolves in the container's procfs), and
        // setns(2) into a PID namespace moves only the caller's future
        // children. So the forked child enters every namespace, then forks
        // once more: the grandchild returns and goes on to execve(2) the
        // hook; the child waits for it and exits with its status. Both are
        // in one new process group, so a timeout can kill the pair.
        command.process_group(0);
        // SAFETY: between fork and exec the closure makes only
        // async-signal-safe calls (setns, fork, close_range, waitpid,
        // _exit) on descriptors this process keeps open until spawn
        // returns.
        unsafe {
            command.pre_exec(move || {
                for (flag, fd) in &entering {
                    let fd = std::os::fd::BorrowedFd::borrow_raw(*fd);
                    nix::sched::setns(fd, *flag).map_err(std::io::Error::from)?;
                }
                match nix::unistd::fork().map_err(std::io::Error::from)? {
                    nix::unistd::ForkResult::Child => Ok(()),
                    nix::unistd::ForkResult::Parent { child } => {
                        // std waits for its close-on-exec error pipe to
                        // close; this process never execs, so it closes
                        // every descriptor it holds (the hook has its own).
                        libc::close_range(3, u32::MAX, 0);
                        let code = match nix::sys::wait::waitpid(child, None) {
                            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => code,
                            Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
                            _ => 127,
                        };
                        libc::_exit(code)
                    }
                }
            });
        }
    }
    let mut child = command
        .spawn()
        .map_err(|e| failed(format!("cannot start it: {e}")))?;
    drop(files);
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its input is not an error.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = hook.timeout.map(|t| Instant::now() + t);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(failed(format!("it ended with {status}"))),
            Ok(None) if deadline.is_some_and(|d| Instant::now() > d) => {
                if inside.is_some() {
                    // The hook is the grandchild, in the child's group.
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(child.id() as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(
                    "it took longer than its timeout, and was killed".into(),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(failed(e.to_string())),
        }
    }
}

use std::os::unix::process::CommandExt;
