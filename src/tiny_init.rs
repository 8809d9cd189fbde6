//! A tiny PID 1 for `--init`: it reaps orphans and forwards signals.
//!
//! Lesson 02 showed why a program makes a poor PID 1 ("PID 1 is special"
//! in `book/src/02-pid.md`; pid_namespaces(7)):
//!
//! 1. the kernel drops a signal PID 1 left at its default action, so a
//!    `SIGTERM` (`docker stop`) does nothing to a program without a handler;
//! 2. orphans are re-parented to PID 1, and stay zombies until it waits for
//!    them, which a program does not do for children it never started;
//! 3. when PID 1 exits, the kernel kills everything else in the namespace.
//!
//! Docker's `--init` bind-mounts tini into the container and runs it as
//! PID 1. nslab needs no binary in the root filesystem: the container's init
//! *is* nslab's code, already inside the new namespaces, at the end of the
//! start sequence. Where it would call execve(2), it forks instead
//! ([`fork_at_exec`]): the child goes on to execve the program, and the
//! parent stays behind as PID 1, doing only the two jobs above:
//!
//! ```text
//! init (nslab, PID 1)                           child (PID 2)
//! ───────────────────                           ─────────────
//! sigprocmask(SIG_BLOCK, forwarded + SIGCHLD)
//! fork()  ────────────────────────────────────► sigprocmask(SIG_SETMASK, [])
//! close every descriptor but 0, 1, 2            execve(program)
//! loop:
//!   waitpid(-1, WNOHANG) until nothing is left ◄── SIGCHLD: something ended
//!   sigwaitinfo(blocked set)
//!     SIGCHLD  → reap again
//!     another  → kill(program, it)
//! the program ended → exit(its code, or 128 + its signal)
//! ```
//!
//! When the init exits, rule 3 ends whatever the program left running.
//! How the runtime is asked for it: the annotation [`ANNOTATION`] in
//! `config.json` (the OCI config has no field for an init), read into
//! [`crate::spec::Spec::tiny_init`].

use crate::process::{self, ProcessError};
use crate::{narrate, signals};
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// The `config.json` annotation that asks for the tiny init:
/// `"annotations": {"org.nslab.init": "true"}` (`"false"` or no annotation
/// runs the program as PID 1, as runc does).
pub const ANNOTATION: &str = "org.nslab.init";

/// The signals PID 1 passes on to the program, as they arrive.
///
/// Every standard signal a process can be sent, except:
/// - `SIGKILL` and `SIGSTOP`, which cannot be blocked or waited for (a
///   `SIGKILL` from the host ends the init, and with it the namespace);
/// - `SIGCHLD`, the init's own: it means "something ended, reap it";
/// - the signals the kernel sends a thread for its own fault (`SIGSEGV`,
///   `SIGBUS`, `SIGILL`, `SIGFPE`, `SIGTRAP`, `SIGSYS`), and `SIGABRT`,
///   which abort(3) raises in the process itself: they are about the
///   init, not the program.
///
/// Real-time signals (`SIGRTMIN+n`) are not forwarded.
pub fn forwarded() -> SigSet {
    use Signal::*;
    let mut set = SigSet::empty();
    for signal in Signal::iterator() {
        if !matches!(
            signal,
            SIGKILL
                | SIGSTOP
                | SIGCHLD
                | SIGSEGV
                | SIGBUS
                | SIGILL
                | SIGFPE
                | SIGTRAP
                | SIGSYS
                | SIGABRT
        ) {
            set.add(signal);
        }
    }
    set
}

/// Forks at the exec point of the start sequence (see [`process::exec`]).
///
/// Returns in the child, which goes on to execve the program; in the
/// parent, never returns: it becomes the container's PID 1 ([`supervise`])
/// and exits with the program's status.
///
/// Why here, the very last step before execve: the child must start the
/// program with everything the start sequence did (its user, capabilities,
/// no_new_privs, terminal, the FIFO of `nslab create` already passed, so
/// the program does not run before `nslab start`), and a fork copies all
/// of it. And after the seccomp filter is installed, not before: the
/// filter then confines the init too. A parent outside it, with the
/// program's user, would be a way around it (the program could ptrace(2)
/// its parent and make the calls the filter refuses).
pub fn fork_at_exec() -> Result<(), ProcessError> {
    // Blocked before the fork, so that no signal is lost between the fork
    // and the loop: a blocked signal waits in the queue until sigwaitinfo
    // takes it. It also answers rule 1: the kernel drops a signal only if
    // PID 1 leaves it at its default action *unblocked*; a blocked one is
    // queued, since its handler may change before it is unblocked.
    let mut blocked = forwarded();
    blocked.add(Signal::SIGCHLD);
    narrate::syscall(format!(
        "sigprocmask(SIG_BLOCK, {})   # --init: PID 1 takes them one at a time",
        signals::names(&blocked)
    ));
    blocked
        .thread_block()
        .map_err(|source| ProcessError::Signals {
            step: "block the signals the tiny init forwards",
            source,
        })?;
    narrate::syscall("fork()   # --init: this process stays PID 1, its child runs the program");
    // SAFETY: the container's init has one thread (spawn checked it before
    // the clone, and nothing since started one), so the child's copy of
    // the program is consistent.
    match unsafe { fork() }.map_err(ProcessError::Fork)? {
        ForkResult::Child => {
            // The program starts with no signal blocked, as without --init
            // (a mask survives execve). Its disposition of each signal is
            // the default: reset before the fork.
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
                .map_err(|source| ProcessError::Signals {
                    step: "unblock the signals in the program's process",
                    source,
                })?;
            Ok(())
        }
        ForkResult::Parent { child } => {
            // PID 1 is nslab's own binary, the host's file: not dumpable,
            // so that the container's processes (without CAP_SYS_PTRACE)
            // cannot open /proc/1/exe, and through it write the host's
            // binary: runc's CVE-2019-5736. prctl(2), PR_SET_DUMPABLE;
            // proc(5) on what it guards.
            let _ = nix::sys::prctl::set_dumpable(false);
            // From here on nothing is narrated: the program owns the
            // terminal, and the narration's descriptors are about to go.
            close_descriptors();
            process::exit_now(supervise(child, &blocked))
        }
    }
}

/// PID 1's loop: reaps every child that ends, passes `blocked`'s signals
/// (but SIGCHLD) on to `program`, and returns the status to exit with once
/// `program` has ended.
///
/// Signals are taken with sigwaitinfo(2), synchronously, rather than by
/// handlers that could run at any instruction: the loop is ordinary code.
// ANCHOR: supervise
fn supervise(program: Pid, blocked: &SigSet) -> i32 {
    loop {
        // Reap first, then wait: SIGCHLD was blocked before the fork, so
        // an end that happens after this pass leaves a SIGCHLD pending and
        // the wait below returns at once. One SIGCHLD may stand for many
        // ends (standard signals do not queue), so reap until none is left.
        // See waitpid(2): -1 is "any child", orphans adopted included.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == program => return code,
                Ok(WaitStatus::Signaled(pid, signal, _)) if pid == program => {
                    // As a shell reports it: 128 + the signal's number.
                    return 128 + signal as i32;
                }
                // Nothing more has ended.
                Ok(WaitStatus::StillAlive) => break,
                // An orphan reaped: no zombie is left behind.
                Ok(_) | Err(Errno::EINTR) => continue,
                // No child at all, yet the program was never reaped: cannot
                // happen; exit rather than spin.
                Err(_) => return process::EXIT_SETUP_FAILED,
            }
        }
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: the set and the info buffer are valid for the call.
        let number = unsafe { libc::sigwaitinfo(blocked.as_ref(), info.as_mut_ptr()) };
        let Ok(signal) = Signal::try_from(number) else {
            // -1 (EINTR, after a SIGCONT say): wait again.
            continue;
        };
        // SAFETY: sigwaitinfo filled `info` when it returned a signal.
        let code = unsafe { info.assume_init() }.si_code;
        if signal == Signal::SIGCHLD || code == libc::SI_KERNEL {
            // SI_KERNEL: the kernel sent it, not a process. From a
            // terminal (Ctrl-C, Ctrl-\, a new window size, a hang-up) it
            // went to the whole foreground process group, and the program
            // is in the init's group: it has it already (the lessons do
            // the same, see `signals`). Other kernel signals (SIGXCPU) are
            // about the init itself.
            continue;
        }
        // To the program's pid, not its process group: the program decides
        // what its own children hear (a shell's `trap`, a supervisor's
        // workers), as with tini's default; what it leaves running dies
        // with PID 1 anyway (rule 3). A group would also need the program
        // made a group leader and, with a terminal, the terminal's
        // foreground group moved to it (tcsetpgrp), or it could no longer
        // read its terminal: more moving parts for little gain.
        // ESRCH: it ended meanwhile; the next pass reaps it.
        let _ = kill(program, signal);
    }
}
// ANCHOR_END: supervise

/// Closes every descriptor but 0, 1 and 2 in the init: they were marked
/// close-on-exec for the program, but PID 1 never execs, and would hold
/// them (the start sequence's pipes, a log) for the container's lifetime.
/// See close_range(2); each one closed by hand where it is missing.
fn close_descriptors() {
    // SAFETY: close_range takes three integers and touches no memory.
    let result = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if result != 0 {
        let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1024, |(soft, _)| soft.min(1 << 20));
        for fd in 3..limit as libc::c_int {
            // SAFETY: closing a descriptor this process owns, or EBADF.
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signals_a_container_is_sent_are_forwarded() {
        let set = forwarded();
        for signal in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGWINCH,
            Signal::SIGCONT,
        ] {
            assert!(set.contains(signal), "{signal} is not forwarded");
        }
    }

    #[test]
    fn the_inits_own_signals_are_not() {
        let set = forwarded();
        for signal in [
            Signal::SIGKILL,
            Signal::SIGSTOP,
            Signal::SIGCHLD,
            Signal::SIGSEGV,
            Signal::SIGABRT,
        ] {
            assert!(!set.contains(signal), "{signal} is forwarded");
        }
    }
}
