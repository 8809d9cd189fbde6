//! `nslab exec`: one more process in a running container.
//!
//! A container is a set of namespaces and a cgroup, held open by its init;
//! another process enters them the way `nsenter` does. The order matters:
//!
//! 1. the namespace files `/proc/INIT/ns/*` are opened while this process
//!    still sees the host's `/proc`;
//! 2. a child joins the container's cgroup (its files are the host's, so
//!    before it enters the mount namespace), then enters each namespace
//!    with setns(2), the mount namespace last (it changes the root);
//! 3. setns into a PID namespace moves only the *children* made afterwards
//!    (pid_namespaces(7)), so that child forks once more: the grandchild is
//!    in the container's PID namespace, and it is the one that execs;
//! 4. the grandchild becomes the container's user with its capabilities
//!    and no_new_privs, as the init did ([`crate::start`]), and execs.
//!
//! Without `--detach`, `nslab exec` waits and exits with the process's
//! status. With it, it writes the process's pid (as the host numbers it)
//! to `--pid-file` and returns; whoever called it (containerd's shim, a
//! subreaper) reaps it.

use super::config;
use super::state::{Record, Status};
use super::RuntimeError;
use crate::namespace::Namespace;
use crate::narrate;
use crate::spec::Spec;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime as oci;
use std::convert::Infallible;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// What to run, from `--process` or from the arguments.
pub struct ExecRequest {
    /// An OCI `process` JSON file (containerd's shim passes one).
    pub process_file: Option<PathBuf>,
    /// The command, when there is no process file.
    pub args: Vec<String>,
    /// More `NAME=value` for the environment.
    pub env: Vec<String>,
    /// The working directory.
    pub cwd: Option<PathBuf>,
    /// Return once it runs; write its pid to `pid_file`.
    pub detach: bool,
    /// Where to write its pid.
    pub pid_file: Option<PathBuf>,
    /// Give it a new terminal (`--tty`, or the process file's `terminal`).
    pub tty: bool,
    /// Where to send the terminal's master.
    pub console_socket: Option<PathBuf>,
    /// The new terminal's rows and columns (`process.consoleSize`).
    pub console_size: Option<(u16, u16)>,
}

/// The namespaces entered, in the order nsenter(1) uses: the user
/// namespace first (it grants the rights for the others), the mount
/// namespace after the PID namespace (the PID namespace's file is opened
/// before anything changes, but setns into a mount namespace also changes
/// the root, so it comes late).
const ORDER: [Namespace; 7] = [
    Namespace::User,
    Namespace::Cgroup,
    Namespace::Ipc,
    Namespace::Uts,
    Namespace::Net,
    Namespace::Pid,
    Namespace::Mnt,
];

/// The container's spec, as its config made it, with the process `request`
/// asks for instead of the config's.
fn exec_spec(record: &Record, id: &str, request: &ExecRequest) -> Result<Spec, RuntimeError> {
    let mut oci_config = config::load(&record.bundle)?;
    if let Some(file) = &request.process_file {
        let text = fs::read_to_string(file).map_err(|source| RuntimeError::File {
            step: "read the process file",
            path: file.clone(),
            source,
        })?;
        let process: oci::Process =
            serde_json::from_str(&text).map_err(|e| RuntimeError::Config {
                path: file.clone(),
                reason: e.to_string(),
            })?;
        oci_config.set_process(Some(process));
    } else if let Some(process) = oci_config.process_mut() {
        if request.args.is_empty() {
            return Err(RuntimeError::Config {
                path: PathBuf::from("nslab exec"),
                reason: "no command: give one after the id, or --process FILE".into(),
            });
        }
        process.set_args(Some(request.args.clone()));
    }
    if let Some(process) = oci_config.process_mut() {
        let mut env = process.env().clone().unwrap_or_default();
        env.extend(request.env.iter().cloned());
        process.set_env(Some(env));
        if let Some(cwd) = &request.cwd {
            process.set_cwd(cwd.clone());
        }
        if let Some((rows, columns)) = request.console_size {
            let size = oci_spec::runtime::BoxBuilder::default()
                .height(u64::from(rows))
                .width(u64::from(columns))
                .build()
                .ok();
            process.set_console_size(size);
        }
    }
    config::to_spec(&oci_config, &record.bundle, id)
}

/// Opens the init's namespace files that differ from ours.
pub(crate) fn namespace_files(pid: i32) -> Result<Vec<(Namespace, OwnedFd)>, RuntimeError> {
    let mut files = Vec::new();
    for kind in ORDER {
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{}", kind.name()));
        let ours = PathBuf::from(format!("/proc/self/ns/{}", kind.name()));
        if fs::read_link(&theirs).ok() == fs::read_link(&ours).ok() {
            continue; // shared with the host: nothing to enter
        }
        let fd = nix::fcntl::open(
            &theirs,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| RuntimeError::File {
            step: "open",
            path: theirs.clone(),
            source: e.into(),
        })?;
        // SAFETY: just opened, owned here.
        files.push((kind, unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    Ok(files)
}

/// Writes a short message into `fd` and ends the process with `code`.
fn fail_child(fd: RawFd, message: &str, code: i32) -> ! {
    // SAFETY: the child's own copy of the pipe's write end.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let _ = nix::unistd::write(fd, message.as_bytes());
    crate::process::exit_now(code)
}

/// `nslab exec`.
pub fn exec(root: &Path, id: &str, request: &ExecRequest) -> Result<i32, RuntimeError> {
    let record = Record::load(root, id)?;
    let status = record.status(root);
    if status != Status::Running {
        return Err(RuntimeError::WrongStatus {
            id: id.into(),
            status,
            what: "exec needs a running container".into(),
        });
    }
    let mut spec = exec_spec(&record, id, request)?;
    // The process file may ask for a terminal too (containerd's does).
    let file_terminal = request
        .process_file
        .as_ref()
        .and_then(|f| fs::read_to_string(f).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["terminal"].as_bool())
        .unwrap_or(false);
    let console = match (request.tty || file_terminal, &request.console_socket) {
        (true, Some(path)) => Some(crate::terminal::connect(path)?),
        (true, None) => {
            return Err(RuntimeError::UnsupportedFlag {
                flag: "--tty without --console-socket",
                why: "a terminal's master must go somewhere: give --console-socket",
            })
        }
        (false, _) => None,
    };
    spec.console = console.as_ref().map(|fd| fd.as_raw_fd());
    let files = namespace_files(record.init.pid)?;
    // Errors before execve come back on this pipe; execve closes it.
    let (errors_read, errors_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| RuntimeError::File {
            step: "make a pipe for",
            path: PathBuf::from("nslab exec"),
            source: e.into(),
        })?;
    // The grandchild's pid, as the host numbers it, from the child.
    let (pid_read, pid_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| RuntimeError::File {
            step: "make a pipe for",
            path: PathBuf::from("nslab exec"),
            source: e.into(),
        })?;
    crate::process::ensure_single_threaded().map_err(|e| RuntimeError::Start(e.to_string()))?;
    narrate::syscall("fork()   # the child that enters the container");
    // SAFETY: single-threaded (checked); the child execs or exits.
    let child = match unsafe { fork() }.map_err(|e| RuntimeError::Start(e.to_string()))? {
        ForkResult::Child => {
            drop(errors_read);
            drop(pid_read);
            let code = enter_and_run(
                &record,
                &spec,
                &files,
                errors_write.as_raw_fd(),
                pid_write.as_raw_fd(),
                request.detach,
            );
            crate::process::exit_now(code)
        }
        ForkResult::Parent { child } => child,
    };
    drop(errors_write);
    drop(pid_write);
    // The grandchild's pid: 4 bytes, or nothing if the child failed first.
    let mut pid_bytes = [0u8; 4];
    let got = nix::unistd::read(pid_read.as_raw_fd(), &mut pid_bytes).unwrap_or(0);
    // Everything written before execve (the pipe closes at execve).
    let mut message = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n @ 1..) = nix::unistd::read(errors_read.as_raw_fd(), &mut buffer) {
        message.extend_from_slice(&buffer[..n]);
    }
    if !message.is_empty() {
        let _ = waitpid(child, None);
        return Err(RuntimeError::Exec(
            String::from_utf8_lossy(&message).into_owned(),
        ));
    }
    let grandchild = (got == 4).then(|| i32::from_ne_bytes(pid_bytes));
    if let (Some(file), Some(pid)) = (&request.pid_file, grandchild) {
        fs::write(file, pid.to_string()).map_err(|source| RuntimeError::File {
            step: "write the pid file",
            path: file.clone(),
            source,
        })?;
    }
    // With --detach the child has exited already; without, it waits for
    // the process and exits with its status.
    let code = match waitpid(child, None) {
        Ok(WaitStatus::Exited(_, code)) => code,
        Ok(WaitStatus::Signaled(_, signal, _)) => 128 + signal as i32,
        _ => 1,
    };
    Ok(if request.detach { 0 } else { code })
}

/// The child's part: the cgroup, the namespaces, then the grandchild.
/// Returns its exit code.
fn enter_and_run(
    record: &Record,
    spec: &Spec,
    files: &[(Namespace, OwnedFd)],
    errors: RawFd,
    pid_pipe: RawFd,
    detach: bool,
) -> i32 {
    // Not dumpable: in the container's namespaces, until execve, this is
    // nslab's binary, the host's file; its processes must not open it
    // through /proc/PID/exe (runc's CVE-2019-5736). execve makes the
    // program dumpable again. prctl(2), PR_SET_DUMPABLE.
    let _ = nix::sys::prctl::set_dumpable(false);
    // The cgroup's files are the host's: written before the mount
    // namespace changes.
    for dir in &record.cgroup {
        let procs = dir.join("cgroup.procs");
        if let Err(e) = fs::write(&procs, std::process::id().to_string()) {
            fail_child(
                errors,
                &format!("failed to join the cgroup {}: {e}", procs.display()),
                1,
            );
        }
    }
    for (kind, fd) in files {
        narrate::syscall(format!(
            "setns(/proc/{}/ns/{}, {:?})",
            record.init.pid,
            kind.name(),
            kind.flag()
        ));
        if let Err(e) = nix::sched::setns(fd, kind.flag()) {
            fail_child(
                errors,
                &format!("failed to enter the {}: {e}", kind.label()),
                1,
            );
        }
    }
    // SAFETY: single-threaded; the grandchild execs or exits.
    match unsafe { fork() } {
        Err(e) => fail_child(errors, &format!("failed to fork in the container: {e}"), 1),
        Ok(ForkResult::Child) => match run_inside(spec) {
            Ok(never) => match never {},
            Err(error) => fail_child(errors, &error, 127),
        },
        Ok(ForkResult::Parent { child }) => {
            // SAFETY: the child's copy of the pid pipe's write end.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(pid_pipe) };
            let _ = nix::unistd::write(fd, &child.as_raw().to_ne_bytes());
            if detach {
                return 0;
            }
            wait_exit(child)
        }
    }
}

fn wait_exit(pid: Pid) -> i32 {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, signal, _)) => return 128 + signal as i32,
            Err(nix::errno::Errno::EINTR) | Ok(_) => continue,
            Err(_) => return 1,
        }
    }
}

/// The grandchild, in every namespace of the container: the user, the
/// capabilities and no_new_privs the config gives, then execve.
fn run_inside(spec: &Spec) -> Result<Infallible, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    crate::process::set_rlimits(&spec.process.rlimits).map_err(|e| text(&e))?;
    if let Some(socket) = spec.console {
        crate::terminal::take_new_terminal(socket, spec.process.console_size)
            .map_err(|e| text(&e))?;
    }
    if let Some(lockdown) = &spec.lockdown {
        lockdown
            .capabilities
            .drop_bounding()
            .map_err(|e| text(&e))?;
        if let Some(identity) = &spec.process.identity {
            crate::process::switch_user(identity).map_err(|e| text(&e))?;
        }
        lockdown.capabilities.set().map_err(|e| text(&e))?;
        if lockdown.no_new_privs {
            crate::lockdown::no_new_privs().map_err(|e| text(&e))?;
        }
    } else if let Some(identity) = &spec.process.identity {
        crate::process::switch_user(identity).map_err(|e| text(&e))?;
    }
    crate::process::exec(&spec.command, &spec.process, None).map_err(|e| {
        let hint = e
            .hint()
            .map(|h| format!(" (hint: {h})"))
            .unwrap_or_default();
        format!("{e}{hint}")
    })
}
