//! Signals: the container never outlives the lesson, and starts clean.
//!
//! Three rules, each a pitfall every runtime meets:
//!
//! 1. **The lesson takes its signals one at a time.** It blocks SIGINT,
//!    SIGTERM, SIGHUP, SIGQUIT and SIGCHLD before it starts anything, and
//!    while the container runs it waits for them with sigtimedwait(2). A
//!    SIGTERM or SIGHUP (a closed terminal, `timeout`, a dropped ssh) is
//!    passed on to the container; if the container has not ended 3 seconds
//!    later (a PID 1 ignores every signal it has no handler for), it gets
//!    SIGKILL. Ctrl-C reaches the container from the terminal by itself; a
//!    second Ctrl-C within 3 seconds kills it. Either way the lesson then
//!    runs its normal cleanup.
//! 2. **The container dies with the lesson**, even when the lesson is
//!    SIGKILLed and can do nothing: the child asks the kernel for
//!    `PR_SET_PDEATHSIG` (prctl(2)) before anything else. See
//!    [`crate::process`] for how the race with a parent that is already
//!    gone is closed.
//! 3. **The command starts clean.** A blocked signal mask and ignored
//!    dispositions survive execve(2) (signal(7)); so [`reset_for_exec`]
//!    puts every disposition back to the default (Rust itself ignores
//!    SIGPIPE) and empties the mask.

use crate::narrate;
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// Signals passed on to the container (or acted on) while it runs.
pub const FORWARDED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// How long a container may take to end after a forwarded SIGTERM or
/// SIGHUP, or between two Ctrl-C, before it is killed.
pub const GRACE: Duration = Duration::from_secs(3);

/// The signals the lesson blocks: [`FORWARDED`] and SIGCHLD.
pub fn lesson_set() -> SigSet {
    let mut set = SigSet::empty();
    for signal in FORWARDED {
        set.add(signal);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Names of the signals in `set`, as the man pages write them.
pub fn names(set: &SigSet) -> String {
    let names: Vec<String> = set.iter().map(|s| s.as_str().to_string()).collect();
    format!("[{}]", names.join(", "))
}

/// Blocks [`lesson_set`], so that the lesson handles those signals when
/// it is ready to, in [`wait_forwarding`]; until then they stay pending.
/// Call it before starting anything that must be cleaned up.
pub fn block_for_lesson() -> Result<(), Errno> {
    let set = lesson_set();
    narrate::syscall(format!(
        "sigprocmask(SIG_BLOCK, {})   # taken one at a time while the container runs",
        names(&set)
    ));
    set.thread_block()
}

/// A termination signal that arrived while blocked and is still pending:
/// checked just before starting a container, so that a lesson told to stop
/// while it was preparing does not start one.
pub fn pending_stop() -> Option<Signal> {
    let mut pending = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending(2) fills the set it is given.
    if unsafe { libc::sigpending(pending.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above.
    let pending = unsafe { pending.assume_init() };
    FORWARDED.into_iter().find(|signal| {
        // SAFETY: sigismember only reads the set it is given.
        unsafe { libc::sigismember(&pending, *signal as libc::c_int) == 1 }
    })
}

/// One signal taken from the blocked set, and whether the kernel sent it
/// on behalf of a terminal (Ctrl-C, Ctrl-\, a hang-up) rather than a process.
struct Taken {
    signal: Signal,
    from_terminal: bool,
}

/// Waits up to `timeout` for one of `set`'s signals. See sigtimedwait(2).
fn take(set: &SigSet, timeout: Duration) -> Result<Option<Taken>, Errno> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: the set, the info buffer and the timeout are valid for the call.
    let number = unsafe { libc::sigtimedwait(set.as_ref(), info.as_mut_ptr(), &ts) };
    match Errno::result(number) {
        Ok(number) => {
            // SAFETY: sigtimedwait filled `info` when it returned a signal.
            let code = unsafe { info.assume_init() }.si_code;
            Ok(Signal::try_from(number).ok().map(|signal| Taken {
                signal,
                // Signals a terminal generates come from the kernel.
                from_terminal: code == libc::SI_KERNEL,
            }))
        }
        Err(Errno::EAGAIN) | Err(Errno::EINTR) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// Sends `signal` to the container, narrated. See kill(2).
fn send(pid: Pid, signal: Signal, why: &str) {
    narrate::syscall(format!("kill({pid}, {signal})   # {why}"));
    // ESRCH: it ended meanwhile, which is what we wanted.
    let _ = kill(pid, signal);
}

/// What to do when the lesson receives a signal while the container runs.
#[derive(Debug, Default)]
pub struct Forwarder {
    last_interrupt: Option<Instant>,
    kill_at: Option<Instant>,
}

impl Forwarder {
    /// How long the wait for the next signal may last.
    pub fn timeout(&self) -> Duration {
        match self.kill_at {
            Some(at) => at.saturating_duration_since(Instant::now()),
            // No deadline: wake up now and then all the same, in case a
            // SIGCHLD was merged with another.
            None => Duration::from_secs(1),
        }
    }

    /// Kills the container if a grace period has run out.
    pub fn on_timeout(&mut self, pid: Pid) {
        if self.kill_at.is_some_and(|at| Instant::now() >= at) {
            self.kill_at = None;
            narrate::warning(format!(
                "the container did not end within {} s of the signal",
                GRACE.as_secs()
            ));
            send(
                pid,
                Signal::SIGKILL,
                "SIGKILL cannot be ignored, not even by PID 1",
            );
        }
    }

    /// Acts on `signal`, received by the lesson while container `pid` runs.
    fn on_signal(&mut self, pid: Pid, signal: Signal, from_terminal: bool) {
        let now = Instant::now();
        match signal {
            Signal::SIGINT | Signal::SIGQUIT => {
                let again = self
                    .last_interrupt
                    .is_some_and(|last| now.duration_since(last) <= GRACE);
                if again {
                    narrate::warning(format!(
                        "{signal} again within {} s: the container is killed",
                        GRACE.as_secs()
                    ));
                    send(
                        pid,
                        Signal::SIGKILL,
                        "SIGKILL cannot be ignored, not even by PID 1",
                    );
                    return;
                }
                self.last_interrupt = Some(now);
                if from_terminal {
                    // The terminal sent it to its whole foreground process
                    // group, the container included: sending it again would
                    // deliver it twice.
                    narrate::warning(format!(
                        "{signal} from the terminal: the container got it too. Press Ctrl-C again within {} s to kill the container",
                        GRACE.as_secs()
                    ));
                } else {
                    send(pid, signal, "passed on to the container");
                    narrate::warning(format!(
                        "send it again within {} s to kill the container",
                        GRACE.as_secs()
                    ));
                }
            }
            _ => {
                send(pid, signal, "passed on to the container");
                if self.kill_at.is_none() {
                    self.kill_at = Some(now + GRACE);
                    narrate::explain(format!(
                        "the lesson waits for it; if it has not ended in {} s, it gets SIGKILL",
                        GRACE.as_secs()
                    ));
                }
            }
        }
    }
}

/// Waits for `pid` to change state, acting on the lesson's signals
/// meanwhile. Returns what `waitpid(2)` returned.
///
/// Must be called with [`lesson_set`] blocked (see [`block_for_lesson`]):
/// a SIGCHLD that arrives before the wait begins then stays pending and
/// ends the wait at once, so no exit is ever missed.
pub fn wait_forwarding(pid: Pid) -> Result<nix::sys::wait::WaitStatus, Errno> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let set = lesson_set();
    let mut forwarder = Forwarder::default();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(status),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
        match take(&set, forwarder.timeout())? {
            None => forwarder.on_timeout(pid),
            Some(Taken {
                signal: Signal::SIGCHLD,
                ..
            }) => {}
            Some(taken) => forwarder.on_signal(pid, taken.signal, taken.from_terminal),
        }
    }
}

/// Puts every signal disposition back to the default and empties the
/// signal mask, in the child, just before execve(2).
///
/// Handled signals are reset by execve itself, but *ignored* ones stay
/// ignored and the mask stays as it was (signal(7), "Signal mask and
/// pending signals"; execve(2)). The Rust runtime ignores SIGPIPE, and the
/// lesson blocked [`lesson_set`]: left alone, `yes | head -1` inside would
/// behave differently from the host, and Ctrl-C would never reach the
/// command. Each reset is narrated, and made only where it changes something.
pub fn reset_for_exec() -> Result<(), Errno> {
    for number in 1..=libc::SIGRTMAX() {
        if number == libc::SIGKILL || number == libc::SIGSTOP {
            continue;
        }
        if !kernel_sigaction::is_ignored(number) {
            // Handled signals execve resets by itself; default ones are fine.
            continue;
        }
        if number < libc::SIGRTMIN() && number > libc::SIGSYS {
            // glibc's own two (32, 33): its posix_spawn leaves them ignored
            // in every program a Rust or glibc program spawns, so whether
            // they need resetting depends on who started the lesson. Reset
            // without narration, so that the narration does not depend on
            // it either (the book's introduction says so).
            kernel_sigaction::set_default(number)?;
            continue;
        }
        narrate::syscall(format!(
            "sigaction({}, SIG_DFL)   # it was ignored, and an ignored signal stays ignored across execve",
            signal_name(number),
        ));
        kernel_sigaction::set_default(number)?;
    }
    let blocked = SigSet::thread_get_mask()?;
    if blocked.iter().next().is_some() {
        narrate::syscall(format!(
            "sigprocmask(SIG_SETMASK, [])   # {} were blocked, and a mask survives execve",
            names(&blocked)
        ));
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    }
    Ok(())
}

/// rt_sigaction(2) called directly. glibc's sigaction refuses the two
/// real-time signals it keeps for its threads (32 and 33), but a process
/// can inherit them ignored all the same, and they must be reset too.
mod kernel_sigaction {
    use nix::errno::Errno;

    /// The kernel's `struct sigaction` (x86_64, aarch64 and most others
    /// with `SA_RESTORER`): not glibc's, whose mask is 128 bytes.
    #[repr(C)]
    #[derive(Default)]
    struct KernelSigaction {
        handler: usize,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }

    fn call(number: libc::c_int, new: Option<&KernelSigaction>) -> Result<KernelSigaction, Errno> {
        let mut old = KernelSigaction::default();
        let new = new.map_or(std::ptr::null(), |n| n as *const KernelSigaction);
        // SAFETY: both pointers are valid for the call (or NULL), and the
        // mask size is the kernel's (8 bytes).
        let result = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                number,
                new,
                &mut old as *mut KernelSigaction,
                8usize,
            )
        };
        Errno::result(result).map(|_| old)
    }

    /// Whether `number` is ignored now.
    pub fn is_ignored(number: libc::c_int) -> bool {
        call(number, None).is_ok_and(|old| old.handler == libc::SIG_IGN)
    }

    /// Puts `number` back to its default disposition.
    pub fn set_default(number: libc::c_int) -> Result<(), Errno> {
        call(number, Some(&KernelSigaction::default())).map(drop)
    }

    /// Ignores `number`, as an inherited disposition would.
    #[cfg(test)]
    pub fn ignore(number: libc::c_int) -> Result<(), Errno> {
        let ignore = KernelSigaction {
            handler: libc::SIG_IGN,
            ..KernelSigaction::default()
        };
        call(number, Some(&ignore)).map(drop)
    }
}

/// `SIGPIPE`, or `SIGRTMIN+3` for a real-time signal.
fn signal_name(number: libc::c_int) -> String {
    match Signal::try_from(number) {
        Ok(signal) => signal.as_str().to_string(),
        Err(_) => format!("SIGRTMIN+{}", number - libc::SIGRTMIN()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lesson_blocks_the_forwarded_signals_and_sigchld() {
        let set = lesson_set();
        for signal in FORWARDED {
            assert!(set.contains(signal));
        }
        assert!(set.contains(Signal::SIGCHLD));
        assert!(!set.contains(Signal::SIGKILL));
        assert_eq!(names(&set), "[SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD]");
    }

    #[test]
    fn real_time_signals_are_named_from_sigrtmin() {
        assert_eq!(signal_name(libc::SIGPIPE), "SIGPIPE");
        assert_eq!(signal_name(libc::SIGRTMIN() + 2), "SIGRTMIN+2");
    }

    #[test]
    fn an_ignored_signal_is_reset_even_where_glibc_refuses() {
        // In a forked child, so that the test process keeps its own.
        // SAFETY: the child only makes system calls, then _exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let ok = kernel_sigaction::ignore(33).is_ok()
                    && kernel_sigaction::is_ignored(33)
                    && kernel_sigaction::set_default(33).is_ok()
                    && !kernel_sigaction::is_ignored(33);
                // SAFETY: _exit has no preconditions.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }

    #[test]
    fn no_deadline_means_a_short_periodic_wait() {
        let forwarder = Forwarder::default();
        assert_eq!(forwarder.timeout(), Duration::from_secs(1));
    }
}
