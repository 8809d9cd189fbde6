//! Lesson 00: a container starts life as an ordinary process.
//!
//! Everything nslab does happens between two system calls every shell makes
//! for every command: create a child (`fork(2)`, or `clone(2)` when the child
//! should start in new namespaces) and replace its program (`execve(2)`).
//! The parent then waits for it (`waitpid(2)`) and passes its exit status on.

use crate::narrate;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::pipe2;
use nix::unistd::{fork, ForkResult, Pid};
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The `PATH` a contained command is started with.
///
/// The container gets a fresh environment rather than the caller's: the
/// caller's `PATH` may name directories that do not exist inside.
pub const CONTAINER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Exit status when the container could not be set up (as `docker run` does).
pub const EXIT_SETUP_FAILED: i32 = 125;
/// Exit status when the command exists but cannot be executed (as shells do).
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit status when the command is not found (as shells do).
pub const EXIT_NOT_FOUND: i32 = 127;

/// What can go wrong while starting, running or waiting for a process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// `pipe2(2)` for the start gate failed.
    #[error("failed to create the pipe the child waits at")]
    Pipe(#[source] Errno),
    /// `fork(2)` failed.
    #[error("failed to fork a child process")]
    Fork(#[source] Errno),
    /// `clone(2)` failed.
    #[error("failed to clone a child process with {flags}")]
    Clone {
        /// The flags as narrated.
        flags: String,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// The command was empty.
    #[error("no command to run")]
    EmptyCommand,
    /// The command contains a NUL byte, which execve cannot pass.
    #[error("the command {0:?} contains a NUL byte")]
    NulInCommand(String),
    /// The command was not found in `PATH`.
    #[error("command not found: {name} (looked in {path})")]
    NotFound {
        /// The command name as given.
        name: String,
        /// The `PATH` that was searched.
        path: String,
    },
    /// `execve(2)` failed.
    #[error("failed to execute {}", path.display())]
    Exec {
        /// The program that could not be executed.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// `waitpid(2)` failed.
    #[error("failed to wait for process {pid}")]
    Wait {
        /// The child being waited for.
        pid: Pid,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
}

impl ProcessError {
    /// The exit status a child should end with when this error stops it.
    pub fn exit_code(&self) -> i32 {
        match self {
            ProcessError::NotFound { .. } => EXIT_NOT_FOUND,
            ProcessError::Exec { source, .. } if *source == Errno::ENOENT => EXIT_NOT_FOUND,
            ProcessError::Exec { .. } => EXIT_CANNOT_EXECUTE,
            _ => EXIT_SETUP_FAILED,
        }
    }
}

/// Names of the `CLONE_NEW*` flags set in `flags`, in the man page's order.
pub fn clone_flag_names(flags: CloneFlags) -> Vec<&'static str> {
    const NAMES: &[(CloneFlags, &str)] = &[
        (CloneFlags::CLONE_NEWNS, "CLONE_NEWNS"),
        (CloneFlags::CLONE_NEWUTS, "CLONE_NEWUTS"),
        (CloneFlags::CLONE_NEWIPC, "CLONE_NEWIPC"),
        (CloneFlags::CLONE_NEWUSER, "CLONE_NEWUSER"),
        (CloneFlags::CLONE_NEWPID, "CLONE_NEWPID"),
        (CloneFlags::CLONE_NEWNET, "CLONE_NEWNET"),
        (CloneFlags::CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
    ];
    NAMES
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(_, name)| *name)
        .collect()
}

/// A child started by [`spawn`], held at its gate until released.
///
/// The child blocks on a pipe before it does anything, so the parent can
/// look at it (or, in later lessons, configure it) from outside first. Real
/// runtimes have the same split: `runc create` sets up, `runc start` lets go.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    gate: Option<OwnedFd>,
}

impl Child {
    /// The child's PID, as the parent (the host) numbers it.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Opens the gate: the child goes on to set itself up and exec.
    pub fn release(&mut self) {
        if let Some(gate) = self.gate.take() {
            narrate::syscall("close(gate)   # the child may go on");
            drop(gate);
        }
    }

    /// Releases the child if that was not done yet, and waits for it to end.
    pub fn wait(mut self) -> Result<Exit, ProcessError> {
        self.release();
        wait(self.pid)
    }
}

/// Runs `child` in a new process, held at a gate until [`Child::release`].
///
/// With no namespace flags this is a plain `fork(2)`. With flags it is
/// `clone(2)`, which creates the child *already inside* the new namespaces:
/// for a PID namespace that matters, because a process never changes its own
/// PID namespace, only its children are born into a new one
/// (see pid_namespaces(7)).
///
/// `child` runs in the new process and must not return on success (it ends
/// by calling [`exec`]); if it returns an error, the error is printed and
/// the child exits with the error's exit code.
// ANCHOR: spawn
pub fn spawn<F>(namespaces: CloneFlags, child: F) -> Result<Child, ProcessError>
where
    F: FnOnce() -> Result<Infallible, crate::Error>,
{
    // The gate: the child reads from this pipe, and the read returns (end of
    // file) only once the parent has closed its write end.
    narrate::syscall("pipe2(O_CLOEXEC)   # a gate the child waits at");
    let (gate_read, gate_write) = pipe2(OFlag::O_CLOEXEC).map_err(ProcessError::Pipe)?;

    let (read_fd, write_fd) = (gate_read.as_raw_fd(), gate_write.as_raw_fd());
    let mut child = Some(child);
    let mut run_child = move || -> isize {
        let child = child.take().expect("the child closure runs once");
        // Close the child's copy of the write end, or it would wait for itself.
        let _ = nix::unistd::close(write_fd);
        let mut byte = [0u8; 1];
        let _ = nix::unistd::read(read_fd, &mut byte);
        let _ = nix::unistd::close(read_fd);
        let error = match child() {
            Ok(never) => match never {},
            Err(error) => error,
        };
        crate::report::print_error(&error);
        error.exit_code() as isize
    };

    let pid = if namespaces.is_empty() {
        narrate::syscall("fork()");
        // SAFETY: the lessons are single-threaded, so the child gets a
        // consistent copy of the whole program; it only execs or exits.
        match unsafe { fork() }.map_err(ProcessError::Fork)? {
            ForkResult::Parent { child } => child,
            ForkResult::Child => exit_now(run_child() as i32),
        }
    } else {
        let mut names = clone_flag_names(namespaces);
        // SIGCHLD as the "exit signal" makes the child behave like a forked
        // one: the parent is notified, and waitpid() works without __WCLONE.
        names.push("SIGCHLD");
        let flags = narrate::flags(&names);
        narrate::syscall(format!("clone({flags})"));
        // The child runs on its own stack; without CLONE_VM it gets a
        // copy-on-write copy of our memory, like fork(), so this buffer is
        // only the child's stack, not shared state.
        let mut stack = vec![0u8; 1024 * 1024];
        // SAFETY: as for fork() above; the closure only uses data it owns.
        let result = unsafe {
            nix::sched::clone(
                Box::new(&mut run_child),
                &mut stack,
                namespaces,
                Some(Signal::SIGCHLD as i32),
            )
        };
        result.map_err(|source| ProcessError::Clone { flags, source })?
    };
    drop(gate_read);
    narrate::explain(format!(
        "child started: PID {pid} on the host; it waits at the gate"
    ));
    Ok(Child {
        pid,
        gate: Some(gate_write),
    })
}
// ANCHOR_END: spawn

/// Ends the current (child) process at once, without running the parent's
/// cleanup code that the child inherited a copy of.
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit(2) has no preconditions; it is the documented way for a
    // forked child to end without running atexit handlers twice.
    unsafe { libc::_exit(code) }
}

/// Finds `name` the way a shell would: as given when it contains a `/`,
/// otherwise in each directory of [`CONTAINER_PATH`], resolved against the
/// *current* root directory (so call it after chroot or pivot_root).
pub fn find_program(name: &str) -> Result<PathBuf, ProcessError> {
    if name.is_empty() {
        return Err(ProcessError::EmptyCommand);
    }
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    CONTAINER_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| ProcessError::NotFound {
            name: name.to_string(),
            path: CONTAINER_PATH.to_string(),
        })
}

/// Replaces the current program with `command`. See execve(2).
///
/// The environment is fresh: `PATH`, `HOME`, and `TERM` if the caller had
/// one, so the container does not inherit the caller's settings.
// ANCHOR: exec
pub fn exec(command: &[String]) -> Result<Infallible, ProcessError> {
    let name = command.first().ok_or(ProcessError::EmptyCommand)?;
    let program = find_program(name)?;

    let to_c = |s: &str| CString::new(s).map_err(|_| ProcessError::NulInCommand(s.to_string()));
    let argv = command
        .iter()
        .map(|a| to_c(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut env = vec![format!("PATH={CONTAINER_PATH}"), "HOME=/root".to_string()];
    if let Ok(term) = std::env::var("TERM") {
        env.push(format!("TERM={term}"));
    }
    let envp = env.iter().map(|e| to_c(e)).collect::<Result<Vec<_>, _>>()?;
    let program_c = CString::new(program.as_os_str().as_bytes())
        .map_err(|_| ProcessError::NulInCommand(program.display().to_string()))?;

    narrate::syscall(format!(
        "execve({:?}, {})",
        program.display().to_string(),
        narrate::argv(command)
    ));
    // Signals the lesson ignored while waiting must not stay ignored in the
    // command: ignored dispositions survive execve (see signal(7)).
    restore_default_signals();
    let errno = nix::unistd::execve(&program_c, &argv, &envp).unwrap_err();
    Err(ProcessError::Exec {
        path: program,
        source: errno,
    })
}
// ANCHOR_END: exec

/// How a waited-for child ended, as a shell would report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It called exit(code).
    Code(i32),
    /// A signal killed it.
    Signal(Signal),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exited with status {code}"),
            Exit::Signal(signal) => write!(f, "killed by {signal}"),
        }
    }
}

impl Exit {
    /// The status to exit with so that the caller sees what the child did:
    /// the code itself, or 128 + the signal number, as shells report it.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal as i32,
        }
    }
}

/// Waits for `pid` to end. See waitpid(2).
///
/// While waiting, the lesson ignores SIGINT and SIGQUIT, as system(3) does:
/// Ctrl-C at an interactive shell inside the container is meant for the
/// shell, and the lesson must stay alive to clean up after it.
// ANCHOR: wait
pub fn wait(pid: Pid) -> Result<Exit, ProcessError> {
    ignore_terminal_signals();
    let exit = loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => break Exit::Code(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => break Exit::Signal(signal),
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(source) => return Err(ProcessError::Wait { pid, source }),
        }
    };
    // Narrated on return, with the result: while the child runs, its own
    // output owns the terminal.
    narrate::syscall(format!("waitpid({pid}) = {exit}"));
    Ok(exit)
}
// ANCHOR_END: wait

fn ignore_terminal_signals() {
    // SAFETY: installing SIG_IGN has no handler code to be unsafe in.
    unsafe {
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal(Signal::SIGQUIT, SigHandler::SigIgn);
    }
}

fn restore_default_signals() {
    // SAFETY: as above, SIG_DFL has no handler code.
    unsafe {
        let _ = signal(Signal::SIGINT, SigHandler::SigDfl);
        let _ = signal(Signal::SIGQUIT, SigHandler::SigDfl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_follows_shell_conventions() {
        assert_eq!(Exit::Code(3).status(), 3);
        assert_eq!(Exit::Signal(Signal::SIGKILL).status(), 137);
    }

    #[test]
    fn clone_flags_are_named() {
        let flags = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS;
        assert_eq!(clone_flag_names(flags), vec!["CLONE_NEWNS", "CLONE_NEWPID"]);
    }

    #[test]
    fn missing_program_is_reported_with_the_path_searched() {
        let err = find_program("no-such-program-nslab").unwrap_err();
        assert_eq!(err.exit_code(), EXIT_NOT_FOUND);
        assert!(err.to_string().contains("/usr/bin"), "{err}");
    }

    #[test]
    fn a_path_with_a_slash_is_used_as_given() {
        assert_eq!(find_program("./x").unwrap(), PathBuf::from("./x"));
    }
}
