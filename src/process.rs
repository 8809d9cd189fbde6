//! Lesson 00: a container starts life as an ordinary process.
//!
//! Everything nslab does happens between two system calls every shell makes
//! for every command: create a child (`fork(2)`, or `clone(2)` when the child
//! should start in new namespaces) and replace its program (`execve(2)`).
//! The parent then waits for it (`waitpid(2)`) and passes its exit status on.

use crate::namespace::{self, Namespace};
use crate::report::Report;
use crate::{narrate, signals, syscall};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::{fork, ForkResult, Pid};
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
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
    /// The process has more than one thread, so fork/clone is not safe.
    #[error("refusing to fork: this process has {threads} threads")]
    Threaded {
        /// How many `/proc/self/status` counts.
        threads: usize,
    },
    /// Counting this process's threads failed.
    #[error("failed to count this process's threads in /proc/self/status")]
    CountThreads(#[source] std::io::Error),
    /// The seccomp filter, installed just before `execve`, was refused.
    #[error("failed to install the seccomp filter before execve")]
    InstallFilter(#[source] Box<crate::lockdown::LockdownError>),
    /// setrlimit(2) was refused.
    #[error("failed to set the {resource} limit to {soft} (soft) and {hard} (hard)")]
    Rlimit {
        /// The resource.
        resource: String,
        /// The soft limit asked for.
        soft: u64,
        /// The hard limit asked for.
        hard: u64,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// Writing `/proc/self/oom_score_adj` failed.
    #[error("failed to set oom_score_adj to {adj}")]
    OomScoreAdj {
        /// The value.
        adj: i32,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Switching to the container's user failed.
    #[error("failed to become the container's user: {step}")]
    SwitchUser {
        /// The call that failed.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// chdir(2) into the working directory failed.
    #[error("failed to enter the working directory {}", path.display())]
    Chdir {
        /// The directory.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// The runtime's init ended before it was ready.
    #[error("the container's init ended before it was ready: it {exit}")]
    EndedBeforeReady {
        /// How it ended.
        exit: Exit,
    },
    /// `pipe2(2)` for the start gate or the error channel failed.
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
    /// Blocking or resetting signals failed.
    #[error("failed to {step}")]
    Signals {
        /// What was being done.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// A signal told the lesson to stop before the container started.
    #[error("stopped by {0} before the container started")]
    Stopped(Signal),
    /// `prctl(PR_SET_PDEATHSIG)` failed.
    #[error("failed to ask the kernel to kill the child when the lesson dies")]
    DeathSignal(#[source] Errno),
    /// Marking the inherited descriptors close-on-exec failed.
    #[error("failed to close the lesson's file descriptors before execve")]
    CloseFds(#[source] Errno),
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
            ProcessError::Stopped(signal) => 128 + *signal as i32,
            _ => EXIT_SETUP_FAILED,
        }
    }

    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            ProcessError::NotFound { .. } => Some(
                "the command runs inside the container: it must exist in the rootfs, not just on the host".into(),
            ),
            ProcessError::Threaded { .. } => Some(
                "start containers before starting threads: a forked child of a threaded process may find a lock held forever".into(),
            ),
            ProcessError::Stopped(_) => Some("nothing was started, so nothing needs cleaning up".into()),
            ProcessError::Rlimit { source: Errno::EPERM, .. } => Some(
                "raising a hard limit above this process's own needs CAP_SYS_RESOURCE: ask for at most `ulimit -H` of the shell that starts nslab (podman: --ulimit nofile=N:N --ulimit nproc=N:N)".into(),
            ),
            // Without root, a user namespace is the only way in, and three
            // switches can close it (user_namespaces(7), and distributions).
            ProcessError::Clone { flags, source: Errno::EPERM | Errno::EACCES | Errno::ENOSPC | Errno::EUSERS }
                if flags.contains("CLONE_NEWUSER") && !nix::unistd::geteuid().is_root() =>
            {
                // The switch that is off, read now, as `nslab doctor` does.
                let off = crate::user::probe::probe_userns_sysctls()
                    .into_iter()
                    .find(|fact| fact.status == crate::probe::Status::Missing);
                Some(match off {
                    Some(fact) => format!(
                        "ordinary users may not create user namespaces here: {}; fix: {} (or run it with sudo)",
                        fact.detail,
                        fact.fix.unwrap_or_default()
                    ),
                    None => "this machine does not let ordinary users create user namespaces: \
                             `nslab doctor` names the switch and the narrowest fix; or run it with sudo"
                        .into(),
                })
            }
            _ => None,
        }
    }
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
    errors: OwnedFd,
}

impl Child {
    /// The child's PID, as the parent (the host) numbers it.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Opens the gate: the child goes on to set itself up and exec.
    ///
    /// One byte says "go". The child reads end-of-file without it only if
    /// the lesson died first, and then gives up instead of starting.
    pub fn release(&mut self) {
        if let Some(gate) = self.gate.take() {
            narrate::syscall(format!(
                "write(gate, {:?}, 1)   # go: the child may go on",
                char::from(GO).to_string()
            ));
            // If the child is gone already, waitpid will say how it ended.
            let _ = nix::unistd::write(gate.as_fd(), &[GO]);
        }
    }

    /// Gives up on a child still at its gate, after a parent step failed:
    /// closes the gate without "go", so the child exits without starting
    /// anything (it reads end-of-file), and reaps it.
    pub fn abandon(mut self) {
        drop(self.gate.take());
        let _ = wait(self.pid);
    }

    /// Waits until the released child says it is ready ([`READY`], written
    /// by the runtime's init just before it blocks for `nslab start`), or
    /// returns the error it reported, or how it ended, if it ended first.
    pub fn wait_ready(&mut self) -> Result<(), crate::Error> {
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match nix::unistd::read(self.errors.as_raw_fd(), &mut buffer) {
                Err(Errno::EINTR) => continue,
                Ok(n @ 1..) => {
                    bytes.extend_from_slice(&buffer[..n]);
                    if bytes == [READY] {
                        return Ok(());
                    }
                }
                // End of file: the child exited (or exec'd) without saying so.
                _ => break,
            }
        }
        let exit = wait(self.pid)?;
        // A report may follow the ready byte in the same read: an error
        // the init met just after saying it was ready.
        let report = bytes.strip_prefix(&[READY]).unwrap_or(&bytes);
        match Report::decode(report) {
            Some(report) => Err(crate::Error::Child(report)),
            None => Err(ProcessError::EndedBeforeReady { exit }.into()),
        }
    }

    /// Lets the child go on alone: the parent keeps no descriptor to it and
    /// will not wait for it (the runtime's `create` exits; whoever waits for
    /// the container, a shim or conmon, is its subreaper).
    pub fn detach(self) -> Pid {
        self.pid
    }

    /// Releases the child if that was not done yet, waits for it to end,
    /// and returns how it ended, or the error it reported before `execve`.
    pub fn wait(mut self) -> Result<Exit, crate::Error> {
        self.release();
        let exit = wait(self.pid)?;
        // The child wrote here only if it failed before execve; on success
        // execve closed its end (O_CLOEXEC). Every writer is gone now that
        // the child has ended, so this read cannot block.
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = nix::unistd::read(self.errors.as_raw_fd(), &mut buffer) {
            bytes.extend_from_slice(&buffer[..n]);
        }
        match Report::decode(&bytes) {
            Some(report) => Err(crate::Error::Child(report)),
            None => Ok(exit),
        }
    }
}

/// Fails unless this process has exactly one thread.
///
/// fork(2) copies only the calling thread; a lock another thread held at
/// that moment (the memory allocator's, stdout's) stays locked forever in
/// the child, which then hangs at its first allocation. The lessons are
/// single-threaded; this check keeps that true rather than assumed, also
/// for a runtime that may one day start threads.
pub fn ensure_single_threaded() -> Result<(), ProcessError> {
    // A thread that was just joined may still be counted for a moment:
    // pthread_join returns before the kernel has fully reaped the thread.
    let mut threads = 0;
    for _ in 0..100 {
        let status =
            std::fs::read_to_string("/proc/self/status").map_err(ProcessError::CountThreads)?;
        threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        if threads == 1 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Err(ProcessError::Threaded { threads })
}

/// Runs `child` in a new process, inside new namespaces of the kinds in
/// `namespaces`, held at a gate until [`Child::release`].
///
/// With no namespaces this is a plain `fork(2)`. With some it is
/// `clone(2)`, which creates the child *already inside* the new namespaces:
/// for a PID namespace that matters, because a process never changes its own
/// PID namespace, only its children are born into a new one
/// (see pid_namespaces(7)).
///
/// `child` runs in the new process and must not return on success (it ends
/// by calling [`exec`]); if it returns an error, the error travels to the
/// parent through a second pipe, and [`Child::wait`] returns it.
///
/// Call [`signals::block_for_lesson`] first: the child inherits the
/// blocked mask, so a signal cannot reach it half set up, and [`exec`]
/// empties the mask again.
// ANCHOR: spawn
pub fn spawn<F>(namespaces: &[Namespace], detached: bool, child: F) -> Result<Child, ProcessError>
where
    F: FnOnce() -> Result<Infallible, crate::Error>,
{
    ensure_single_threaded()?;
    if let Some(signal) = signals::pending_stop() {
        return Err(ProcessError::Stopped(signal));
    }
    // The gate: the child reads from this pipe until the parent writes.
    let (gate_read, gate_write) = syscall::pipe2(OFlag::O_CLOEXEC, "a gate the child waits at")
        .map_err(ProcessError::Pipe)?;
    // The error channel: what the child writes here before execve is an error.
    let (errors_read, errors_write) = syscall::pipe2(
        OFlag::O_CLOEXEC,
        "for an error the child may meet before execve",
    )
    .map_err(ProcessError::Pipe)?;

    let parent_ends = [gate_write.as_raw_fd(), errors_read.as_raw_fd()];
    let (gate, errors) = (gate_read.as_raw_fd(), errors_write.as_raw_fd());
    let mut child = Some(child);
    let mut run_child = move || -> isize {
        for fd in parent_ends {
            let _ = nix::unistd::close(fd);
        }
        ERROR_CHANNEL.store(errors, std::sync::atomic::Ordering::Relaxed);
        let error = match child_side(gate, detached, child.take()) {
            Ok(never) => match never {},
            Err(error) => error,
        };
        let report = Report::of(&error);
        let _ = nix::unistd::write(
            // SAFETY: `errors` is the child's copy of the pipe's write end,
            // open until the child exits.
            unsafe { std::os::fd::BorrowedFd::borrow_raw(errors) },
            &report.encode(),
        );
        exit_now(report.code)
    };

    let pid = if namespaces.is_empty() {
        narrate::syscall("fork()");
        // SAFETY: this process has one thread (checked above), so the child
        // gets a consistent copy of the whole program; it only sets itself
        // up, then execs or exits.
        match unsafe { fork() }.map_err(ProcessError::Fork)? {
            ForkResult::Parent { child } => child,
            ForkResult::Child => exit_now(run_child() as i32),
        }
    } else {
        let mut names = namespace::flag_names(namespaces);
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
                namespace::clone_flags(namespaces),
                Some(Signal::SIGCHLD as i32),
            )
        };
        result.map_err(|source| ProcessError::Clone { flags, source })?
    };
    drop((gate_read, errors_write));
    narrate::explain(format!(
        "child started: PID {pid} on the host; it waits at the gate"
    ));
    Ok(Child {
        pid,
        gate: Some(gate_write),
        errors: errors_read,
    })
}
// ANCHOR_END: spawn

/// The byte the parent writes into the gate to let the child go on.
const GO: u8 = b'1';

/// What the runtime's init writes on the error channel once it is set up
/// and about to wait for `nslab start` (ASCII ACK: no report starts so).
pub const READY: u8 = 0x06;

/// The child's end of its error channel, set in the child by [`spawn`].
static ERROR_CHANNEL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// In a child of [`spawn`]: tells the parent waiting in
/// [`Child::wait_ready`] that the container is set up.
pub fn say_ready() -> Result<(), Errno> {
    let fd = ERROR_CHANNEL.load(std::sync::atomic::Ordering::Relaxed);
    if fd < 0 {
        return Err(Errno::EBADF);
    }
    narrate::syscall("write(errors, \"\\x06\", 1)   # ready: set up, waiting for start");
    // SAFETY: the child's end of the error channel, open until execve.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    nix::unistd::write(fd, &[READY]).map(drop)
}

/// The signal the kernel sends the child when the lesson dies: SIGKILL,
/// which the command cannot catch or ignore.
const DEATH_SIGNAL: Signal = Signal::SIGKILL;

/// Sets the death signal again after the child changed its credentials,
/// and gives up if the lesson is already gone.
///
/// prctl(2): the death signal "is cleared ... when the effective user ID
/// or ... group ID ... changes": becoming root inside a user namespace
/// (lesson 07) does exactly that, and a container would then outlive a
/// killed lesson. `parent` is the lesson's pid, read before the change: if
/// `getppid()` no longer returns it, the lesson died in between, before the
/// signal was set again, and the child must not go on.
pub fn rearm_death_signal(parent: nix::unistd::Pid) -> Result<(), ProcessError> {
    nix::sys::prctl::set_pdeathsig(DEATH_SIGNAL).map_err(ProcessError::DeathSignal)?;
    narrate::returned(format!(
        "prctl(PR_SET_PDEATHSIG, {DEATH_SIGNAL}) = 0   # again: changing our uid cleared it"
    ));
    if nix::unistd::getppid() != parent {
        exit_now(EXIT_SETUP_FAILED);
    }
    Ok(())
}

/// The first steps of every child, before its own: die with the lesson,
/// then wait at the gate.
///
/// `PR_SET_PDEATHSIG` (prctl(2)) makes the kernel send SIGKILL to the child
/// when its parent dies, so a killed lesson never leaves its container
/// running. It only covers a parent that dies *after* the call: a lesson
/// killed between clone and prctl would be missed. The gate closes that
/// race: a parent that died sends no "go", and the child, reading
/// end-of-file instead, gives up. Nothing is narrated before the gate
/// opens (the parent is narrating then); what happened is told after.
fn child_side<F>(
    gate: std::os::fd::RawFd,
    detached: bool,
    child: Option<F>,
) -> Result<Infallible, crate::Error>
where
    F: FnOnce() -> Result<Infallible, crate::Error>,
{
    // A lesson's container dies with the lesson; the runtime's outlives
    // `nslab create`, which exits once it is ready (see Child::detach).
    let death_signal = if detached {
        Ok(())
    } else {
        nix::sys::prctl::set_pdeathsig(DEATH_SIGNAL)
    };
    let mut byte = [0u8; 1];
    let said_go = loop {
        match nix::unistd::read(gate, &mut byte) {
            Err(Errno::EINTR) => continue,
            result => break result == Ok(1) && byte[0] == GO,
        }
    };
    let _ = nix::unistd::close(gate);
    if !said_go {
        // The lesson is gone: there is nobody to report to.
        exit_now(EXIT_SETUP_FAILED);
    }
    death_signal.map_err(ProcessError::DeathSignal)?;
    if !detached {
        narrate::returned(format!(
            "prctl(PR_SET_PDEATHSIG, {DEATH_SIGNAL}) = 0   # made first: the child dies with the lesson"
        ));
    }
    // 1: the number of bytes read, the GO byte checked above.
    narrate::returned("read(gate) = 1   # the lesson said go");
    match child {
        Some(child) => child(),
        None => unreachable!("the child runs once"),
    }
}

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
    find_program_in(name, CONTAINER_PATH)
}

/// [`find_program`], in the directories of `path` (a `PATH` value).
pub fn find_program_in(name: &str, path: &str) -> Result<PathBuf, ProcessError> {
    if name.is_empty() {
        return Err(ProcessError::EmptyCommand);
    }
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    path.split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| ProcessError::NotFound {
            name: name.to_string(),
            path: path.to_string(),
        })
}

/// Replaces the current program with `command`. See execve(2).
///
/// The environment is fresh: `PATH`, `HOME`, and `TERM` if the caller had
/// one, so the container does not inherit the caller's settings. Before
/// the call, the command is given a clean start: default signal handling
/// ([`signals::reset_for_exec`]) and no file descriptor but 0, 1 and 2.
/// A descriptor inherited from whoever started the lesson could lead
/// anywhere: `7< /` would give the container the host's `/`.
// ANCHOR: exec
pub fn exec(
    command: &[String],
    settings: &crate::spec::Process,
    seccomp: Option<&crate::lockdown::seccomp::Filter>,
) -> Result<Infallible, ProcessError> {
    exec_with_init(command, settings, seccomp, false)
}

/// [`exec`], and with `tiny_init` (`--init`) a fork just before execve:
/// the child execs, the parent stays as the container's PID 1 (see
/// [`crate::tiny_init`]).
pub fn exec_with_init(
    command: &[String],
    settings: &crate::spec::Process,
    seccomp: Option<&crate::lockdown::seccomp::Filter>,
    tiny_init: bool,
) -> Result<Infallible, ProcessError> {
    // The working directory first: a relative command is found from it.
    if let Some(cwd) = &settings.cwd {
        narrate::syscall(format!("chdir({:?})", cwd.display().to_string()));
        nix::unistd::chdir(cwd).map_err(|source| ProcessError::Chdir {
            path: cwd.clone(),
            source,
        })?;
    }
    let name = command.first().ok_or(ProcessError::EmptyCommand)?;
    if let Some(mask) = settings.umask {
        syscall::umask(mask);
    }
    // A config.json's environment brings its own PATH to look in.
    let search = settings
        .env
        .as_ref()
        .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")))
        .unwrap_or(CONTAINER_PATH);
    let program = find_program_in(name, search)?;

    let to_c = |s: &str| CString::new(s).map_err(|_| ProcessError::NulInCommand(s.to_string()));
    let argv = command
        .iter()
        .map(|a| to_c(a))
        .collect::<Result<Vec<_>, _>>()?;
    let env = match &settings.env {
        Some(env) => env.clone(),
        None => {
            let mut env = vec![format!("PATH={CONTAINER_PATH}"), "HOME=/root".to_string()];
            if let Ok(term) = std::env::var("TERM") {
                env.push(format!("TERM={term}"));
            }
            env
        }
    };
    let envp = env.iter().map(|e| to_c(e)).collect::<Result<Vec<_>, _>>()?;
    let program_c = CString::new(program.as_os_str().as_bytes())
        .map_err(|_| ProcessError::NulInCommand(program.display().to_string()))?;

    signals::reset_for_exec().map_err(|source| ProcessError::Signals {
        step: "reset the signals before execve",
        source,
    })?;
    syscall::close_range_cloexec(3, "no descriptor but 0, 1 and 2 reaches the command")
        .map_err(ProcessError::CloseFds)?;
    // The seccomp filter (lesson 11) goes on last: from here on, only the
    // calls it allows, and execve is one of them.
    if let Some(filter) = seccomp {
        filter
            .install()
            .map_err(|e| ProcessError::InstallFilter(Box::new(e)))?;
    }
    // With --init, the fork is here, where execve would be: the child
    // has everything the program should have, the filter included, and
    // goes on; the parent never returns from this call.
    if tiny_init {
        crate::tiny_init::fork_at_exec()?;
    }
    narrate::syscall(format!(
        "execve({:?}, {})",
        program.display().to_string(),
        narrate::argv(command)
    ));
    let errno = nix::unistd::execve(&program_c, &argv, &envp).unwrap_err();
    Err(ProcessError::Exec {
        path: program,
        source: errno,
    })
}
// ANCHOR_END: exec

/// Sets resource limits with setrlimit(2) (the runtime's
/// `process.rlimits`). Before the capabilities go: raising a hard limit
/// needs `CAP_SYS_RESOURCE`.
pub fn set_rlimits(rlimits: &[crate::spec::Rlimit]) -> Result<(), ProcessError> {
    for limit in rlimits {
        narrate::syscall(format!(
            "setrlimit({:?}, {{{}, {}}})",
            limit.resource, limit.soft, limit.hard
        ));
        nix::sys::resource::setrlimit(limit.resource, limit.soft, limit.hard).map_err(
            |source| ProcessError::Rlimit {
                resource: format!("{:?}", limit.resource),
                soft: limit.soft,
                hard: limit.hard,
                source,
            },
        )?;
    }
    Ok(())
}

/// Sets the OOM killer's adjustment for this process and its children
/// (proc(5), `/proc/PID/oom_score_adj`). Lowering it needs
/// `CAP_SYS_RESOURCE`, so before the capabilities go.
pub fn set_oom_score_adj(adj: i32) -> Result<(), ProcessError> {
    narrate::file_op(format!("write /proc/self/oom_score_adj <- {adj}"));
    std::fs::write("/proc/self/oom_score_adj", adj.to_string())
        .map_err(|source| ProcessError::OomScoreAdj { adj, source })
}

/// Becomes the container's user: groups first, then the gid, then the uid,
/// as only root may change the others. `PR_SET_KEEPCAPS` keeps the
/// permitted capabilities across the change from uid 0 (capabilities(7)),
/// for the capability step that follows to set.
pub fn switch_user(identity: &crate::spec::Identity) -> Result<(), ProcessError> {
    use nix::unistd::{Gid, Uid};
    let failed = |step: &'static str| move |source| ProcessError::SwitchUser { step, source };
    let gid = Gid::from_raw(identity.gid);
    let uid = Uid::from_raw(identity.uid);
    let groups: Vec<Gid> = identity
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    narrate::syscall(format!(
        "setgroups({:?}); setresgid({gid}, {gid}, {gid}); prctl(PR_SET_KEEPCAPS, 1); setresuid({uid}, {uid}, {uid})",
        identity.additional_gids
    ));
    nix::unistd::setgroups(&groups).map_err(failed("setgroups"))?;
    nix::unistd::setresgid(gid, gid, gid).map_err(failed("setresgid"))?;
    nix::sys::prctl::set_keepcaps(true).map_err(failed("prctl(PR_SET_KEEPCAPS)"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(failed("setresuid"))?;
    Ok(())
}

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
/// While waiting, the lesson acts on the signals it blocked (see
/// [`signals::wait_forwarding`]): a SIGTERM or SIGHUP is passed on to the
/// child, a second Ctrl-C kills it, and the lesson stays alive to clean up
/// after it either way.
// ANCHOR: wait
pub fn wait(pid: Pid) -> Result<Exit, ProcessError> {
    let exit = match signals::wait_forwarding(pid) {
        Ok(WaitStatus::Exited(_, code)) => Exit::Code(code),
        Ok(WaitStatus::Signaled(_, signal, _)) => Exit::Signal(signal),
        Ok(other) => unreachable!("wait_forwarding returned {other:?}"),
        Err(source) => return Err(ProcessError::Wait { pid, source }),
    };
    // Narrated on return, with the result: while the child runs, its own
    // output owns the terminal.
    narrate::returned(format!("waitpid({pid}) = {exit}"));
    Ok(exit)
}
// ANCHOR_END: wait

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_follows_shell_conventions() {
        assert_eq!(Exit::Code(3).status(), 3);
        assert_eq!(Exit::Signal(Signal::SIGKILL).status(), 137);
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

    #[test]
    fn a_threaded_process_is_refused() {
        // The test harness runs each test on a thread of its own, so this
        // process has at least two.
        let err = ensure_single_threaded().unwrap_err();
        assert!(
            matches!(err, ProcessError::Threaded { threads } if threads >= 2),
            "{err}"
        );
    }
}
