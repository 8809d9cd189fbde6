//! `nslab doctor`: which lessons this machine can run, and how to fix the rest.
//!
//! Every lesson leans on a kernel facility, and workshop machines differ:
//! one kernel was built without user namespaces, another distribution turns
//! them off for unprivileged users, a third still mounts cgroups v1, a
//! container forbids `unshare(2)` altogether. Instead of letting a lesson
//! fail half-way, `nslab doctor` checks every facility up front and prints
//!
//! 1. the **machine facts**: running as root; where the default rootfs
//!    would come from; whether programs can run from the state directory
//!    (not `noexec`); whether a bind mount and `pivot_root(2)` work there,
//!    as lesson 03 does them; each namespace kind (mnt, uts, ipc, pid, net,
//!    user, cgroup); System V IPC and POSIX message queues; the sysctls
//!    that switch user namespaces off; overlayfs; the cgroup layout (v1, v2
//!    or hybrid) and its controllers. Each fact is ✓ (works), ✗ (does not,
//!    with the fix) or ? (could not be tested);
//! 2. the **verdict for each lesson that exists** (see [`LESSONS`]), from
//!    the facts that lesson needs: lesson 00 needs nothing, so it can run
//!    as any user. A "can run" is a promise, and `tests/doctor.rs` keeps
//!    it by running every such lesson.
//!
//! The state directory is `$NSLAB_STATE_DIR`, as for the lessons, or
//! `/var/lib/nslab`; until a lesson has made it, its nearest existing
//! ancestor stands for it.
//!
//! It exits with status 0 when every lesson can run, 1 otherwise.
//!
//! Two rules shape the code:
//!
//! - **Probe features, never compare kernel version numbers.** Distributions
//!   backport features into old kernels and build new kernels without some,
//!   so a version number proves nothing. A namespace is checked by creating
//!   one, a file system by asking the kernel which ones it knows.
//! - **Probing and interpreting are separate.** Each probe is a small
//!   function that reads a file or makes one system call; what the result
//!   *means* is decided by a pure function that takes the file's text or the
//!   call's result. The pure functions are unit-tested with the files of
//!   other machines (cgroup v1, v2, hybrid, user namespaces switched off),
//!   without root and without those machines.
//!
//! The doctor is the diagnosis tool, so it runs without root too: it then
//! says "not root", and never reports ✗ for something it merely could not
//! test.

use crate::manifest::{Lesson, Need, LESSONS};
pub use crate::namespace::Namespace;
use crate::rootfs::{self, RootfsError, Source};
use colored::Colorize;
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::Mode;
use nix::sys::statfs::{statfs, FsType, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{chdir, fork, geteuid, mkdir, pipe, pivot_root, read, write, ForkResult, Uid};
use std::ffi::{CStr, CString};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What can go wrong while probing. A failed probe does not stop the
/// doctor: the fact it was probing is reported as "could not test", with
/// this error as the reason.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// Reading a file under `/proc` or `/sys` failed.
    #[error("failed to read {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// statfs(2) on a directory failed.
    #[error("failed to statfs {}", path.display())]
    Statfs {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// statvfs(2) on a directory failed.
    #[error("failed to statvfs {}", path.display())]
    Statvfs {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// Making the empty directory a probe works in failed.
    #[error("failed to create the probe directory {}", path.display())]
    CreateProbeDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Removing a probe directory failed: it is left behind.
    #[error("failed to remove the probe directory {}", path.display())]
    RemoveProbeDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// pipe(2) for a probe child's report failed.
    #[error("failed to make a pipe for the child trying {call}")]
    Pipe {
        /// The call the child was going to try.
        call: String,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// fork(2) for a probe child failed.
    #[error("failed to fork a child to try {call}")]
    Fork {
        /// The call the child was going to try.
        call: String,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// waitpid(2) for a probe child failed.
    #[error("failed to wait for the child trying {call}")]
    Wait {
        /// The call the child was trying.
        call: String,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// The probe child ended some other way than exiting.
    #[error("the child trying {call} did not exit normally: {status:?}")]
    ProbeChild {
        /// The call the child was trying.
        call: String,
        /// How it ended.
        status: WaitStatus,
    },
}

// ---------------------------------------------------------------------------
// Facts: what the doctor found out, one line of the report each.
// ---------------------------------------------------------------------------

/// Whether a fact about the machine is good news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It works (✓).
    Ok,
    /// It does not work, or is missing (✗).
    Missing,
    /// It could not be tested, e.g. without root (?). Never reported as ✗:
    /// a diagnosis tool must not claim a problem it did not see.
    Untested,
}

/// One line of the machine report: what was checked, what was found, and
/// what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// What was checked: "root", "pid namespace", "overlayfs", …
    pub label: String,
    /// Good news or not.
    pub status: Status,
    /// What was found, in a sentence.
    pub detail: String,
    /// What to do about it, when there is something to do.
    pub fix: Option<String>,
}

impl Fact {
    fn ok(label: impl Into<String>, detail: impl Into<String>) -> Fact {
        Fact {
            label: label.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn missing(
        label: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Fact {
        Fact {
            label: label.into(),
            status: Status::Missing,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn untested(
        label: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Fact {
        Fact {
            label: label.into(),
            status: Status::Untested,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// The fact for a probe that itself failed: we do not know.
    fn probe_failed(label: impl Into<String>, error: &DoctorError) -> Fact {
        Fact::untested(
            label,
            format!("could not test: {}", error_chain(error)),
            "see the error; `sudo nslab doctor` tests everything it can",
        )
    }
}

/// Formats an error and its causes on one line: `outer: inner: innermost`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let _ = write!(text, ": {inner}");
        cause = inner.source();
    }
    text
}

// ---------------------------------------------------------------------------
// Root.
// ---------------------------------------------------------------------------

/// The root fact, from the effective user id.
///
/// Lessons check the effective uid, not capabilities, so the doctor does
/// the same: creating most namespaces, mounting and writing cgroup files
/// all need `CAP_SYS_ADMIN` in the initial user namespace, which in
/// practice means root (capabilities(7)).
pub fn interpret_root(euid: Uid) -> Fact {
    if euid.is_root() {
        Fact::ok("root", "running as root")
    } else {
        Fact::missing(
            "root",
            format!("not running as root (effective uid {euid})"),
            "run it with sudo",
        )
    }
}

// ---------------------------------------------------------------------------
// Namespaces.
// ---------------------------------------------------------------------------

/// How the doctor tried to create a namespace, and what the kernel said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// `unshare(flag)` in a child running as root.
    AsRoot(Result<(), Errno>),
    /// Without root: `unshare(CLONE_NEWUSER | flag)` in a child. Inside a
    /// user namespace it owns, an unprivileged process holds every
    /// capability, so the kernel lets it create the other kinds there
    /// (user_namespaces(7)). For the user namespace itself, plain
    /// `unshare(CLONE_NEWUSER)`.
    Unprivileged(Result<(), Errno>),
    /// Not tried: not root, and no user namespace to try it in.
    NotTried,
}

/// The fact for one namespace kind.
///
/// `ns_link` is what `/proc/self/ns/<kind>` points to (`pid:[4026531836]`),
/// or `None` when it does not exist; `attempt` is the result of trying to
/// create one. Creating one is the stronger evidence: the file only tells
/// that this kernel knows the kind.
pub fn interpret_namespace(kind: Namespace, ns_link: Option<&str>, attempt: Attempt) -> Fact {
    let label = kind.label();
    let flag = kind.flag_name();
    let here = match ns_link {
        Some(link) => format!("this process is in {link}"),
        None => format!(
            "but /proc/self/ns/{} is missing: is /proc mounted?",
            kind.name()
        ),
    };
    let build_fix = match kind.kernel_option() {
        Some(option) => format!("use a kernel built with {option}=y"),
        None => "mount /proc: `sudo mount -t proc proc /proc`".to_string(),
    };
    let limit = format!("user.max_{}_namespaces", kind.name());
    match attempt {
        Attempt::AsRoot(Ok(())) => Fact::ok(label, format!("unshare({flag}) works; {here}")),
        Attempt::Unprivileged(Ok(())) if kind == Namespace::User => {
            Fact::ok(label, format!("unshare({flag}) works without root; {here}"))
        }
        Attempt::Unprivileged(Ok(())) => Fact::ok(
            label,
            format!("unshare(CLONE_NEWUSER | {flag}) works without root; {here}"),
        ),
        // Without the /proc/self/ns file, and without a successful unshare
        // to prove otherwise, the kernel does not know this kind.
        _ if ns_link.is_none() => Fact::missing(
            label,
            format!(
                "/proc/self/ns/{} is missing: this kernel has no {} namespaces",
                kind.name(),
                kind.name()
            ),
            build_fix,
        ),
        // unshare(2): EINVAL "CLONE_NEW* was specified in flags, but the
        // kernel was not configured with" the matching option.
        Attempt::AsRoot(Err(Errno::EINVAL)) | Attempt::Unprivileged(Err(Errno::EINVAL)) => {
            Fact::missing(
                label,
                format!("unshare({flag}) fails with EINVAL: this kernel was built without them"),
                build_fix,
            )
        }
        // unshare(2): ENOSPC when the per-user limit in /proc/sys/user/
        // is reached; a limit of 0 switches the kind off (namespaces(7)).
        Attempt::AsRoot(Err(Errno::ENOSPC)) | Attempt::Unprivileged(Err(Errno::ENOSPC)) => {
            Fact::missing(
                label,
                format!("unshare({flag}) fails with ENOSPC: {limit} is 0 or used up"),
                format!("raise the limit: `sudo sysctl -w {limit}=15000`"),
            )
        }
        // Root was refused: not a missing feature but a policy above the
        // namespace code, typically the seccomp filter of a container
        // runtime, or a chroot (unshare(2): EPERM for CLONE_NEWUSER when
        // "the caller is in a chroot environment").
        Attempt::AsRoot(Err(errno)) => Fact::missing(
            label,
            format!("unshare({flag}) fails even for root: {}", errno_text(errno)),
            "a seccomp filter, a security module or a chroot forbids it: \
             run nslab on the host or in a VM, not inside a container",
        ),
        // An unprivileged process may be refused a user namespace by the
        // sysctls the doctor reports below; root may still have it.
        Attempt::Unprivileged(Err(errno)) if kind == Namespace::User => Fact::missing(
            label,
            format!("unshare({flag}) fails without root: {}", errno_text(errno)),
            "allow unprivileged user namespaces (see the sysctls below), \
             or run `sudo nslab doctor` to test it as root",
        ),
        // Refused inside a user namespace: that says nothing about what
        // root may do, so it is not a ✗.
        Attempt::Unprivileged(Err(errno)) => Fact::untested(
            label,
            format!(
                "could not test without root: unshare(CLONE_NEWUSER | {flag}) fails: {}",
                errno_text(errno)
            ),
            "run `sudo nslab doctor` to test it",
        ),
        Attempt::NotTried => Fact::untested(
            label,
            "could not test without root (and without a user namespace to test it in)",
            "run `sudo nslab doctor` to test it",
        ),
    }
}

/// An errno the way the man pages write it: `EPERM (Operation not permitted)`.
fn errno_text(errno: Errno) -> String {
    format!("{errno:?} ({})", errno.desc())
}

/// Reads the `/proc/self/ns/<kind>` link; `None` when the kernel has no such file.
fn probe_ns_link(kind: Namespace) -> Result<Option<String>, DoctorError> {
    let path = Path::new("/proc/self/ns").join(kind.name());
    match fs::read_link(&path) {
        Ok(target) => Ok(Some(target.display().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DoctorError::ReadFile { path, source }),
    }
}

/// Tries `unshare(flags)` in a forked child, and returns what the kernel said.
///
/// Why a child: unshare(2) changes the *calling* process for good. The
/// doctor must stay in the host's namespaces to probe the next kind, and
/// unshare(CLONE_NEWUSER) is refused (EINVAL) in a multi-threaded process,
/// while a freshly forked child always has exactly one thread.
///
/// The child reports the errno as its exit status (errno values fit in the
/// 8 bits of an exit status).
fn probe_unshare(flags: CloneFlags, call: &str) -> Result<Result<(), Errno>, DoctorError> {
    // SAFETY: between fork and _exit the child only calls unshare(2) and
    // _exit(2), both async-signal-safe (signal-safety(7)), and allocates
    // nothing, so this is sound even if other threads held locks at the
    // time of the fork.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = match unshare(flags) {
                Ok(()) => 0,
                Err(errno) => errno as i32,
            };
            // _exit, not exit: the child must not run the parent's exit
            // handlers or flush a copy of its buffered output.
            // SAFETY: _exit(2) takes no pointers and never returns.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Ok(Ok(())),
            Ok(WaitStatus::Exited(_, code)) => Ok(Err(Errno::from_raw(code))),
            Ok(status) => Err(DoctorError::ProbeChild {
                call: call.to_string(),
                status,
            }),
            Err(source) => Err(DoctorError::Wait {
                call: call.to_string(),
                source,
            }),
        },
        Err(source) => Err(DoctorError::Fork {
            call: call.to_string(),
            source,
        }),
    }
}

/// Probes every namespace kind: the `/proc/self/ns` link, then creating one.
fn probe_namespaces(is_root: bool) -> Vec<(Namespace, Fact)> {
    // Without root, try a user namespace first: if it works, the other
    // kinds can be tested inside one; if not, they cannot be tested at all.
    let mut unprivileged_userns = (!is_root).then(|| {
        probe_unshare(CloneFlags::CLONE_NEWUSER, "unshare(CLONE_NEWUSER)")
            .map(Attempt::Unprivileged)
    });
    let userns_works = matches!(unprivileged_userns, Some(Ok(Attempt::Unprivileged(Ok(())))));

    let mut facts = Vec::new();
    for kind in Namespace::ALL {
        let attempt = if is_root {
            let call = format!("unshare({})", kind.flag_name());
            probe_unshare(kind.flag(), &call).map(Attempt::AsRoot)
        } else if kind == Namespace::User {
            // Already tried above; `take` hands that result over.
            unprivileged_userns.take().unwrap_or(Ok(Attempt::NotTried))
        } else if userns_works {
            let call = format!("unshare(CLONE_NEWUSER | {})", kind.flag_name());
            probe_unshare(CloneFlags::CLONE_NEWUSER | kind.flag(), &call).map(Attempt::Unprivileged)
        } else {
            Ok(Attempt::NotTried)
        };
        let fact = match (probe_ns_link(kind), attempt) {
            (Ok(link), Ok(attempt)) => interpret_namespace(kind, link.as_deref(), attempt),
            (Err(e), _) | (_, Err(e)) => Fact::probe_failed(kind.label(), &e),
        };
        facts.push((kind, fact));
    }
    facts
}

// ---------------------------------------------------------------------------
// User-namespace sysctls.
// ---------------------------------------------------------------------------

/// The upstream limit on user namespaces per user; 0 switches them off for
/// everyone, root included (namespaces(7), "/proc/sys/user").
pub const MAX_USER_NAMESPACES: &str = "/proc/sys/user/max_user_namespaces";
/// Debian's switch (a Debian kernel patch): 0 allows user namespaces to
/// root only.
pub const UNPRIVILEGED_USERNS_CLONE: &str = "/proc/sys/kernel/unprivileged_userns_clone";
/// Ubuntu's AppArmor switch: 1 strips an unprivileged process of its
/// capabilities in a new user namespace unless its AppArmor profile allows
/// `userns`.
pub const APPARMOR_RESTRICT_USERNS: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

/// The fact for `user.max_user_namespaces`, from the file's text (`None`
/// when the file does not exist).
pub fn interpret_max_user_namespaces(text: Option<&str>) -> Fact {
    let label = "max user namespaces";
    let Some(text) = text else {
        return Fact::untested(
            label,
            format!("{MAX_USER_NAMESPACES} does not exist: is /proc mounted?"),
            "see the user namespace line above",
        );
    };
    match text.trim().parse::<u64>() {
        Ok(0) => Fact::missing(
            label,
            "user.max_user_namespaces = 0: user namespaces are off, even for root",
            "`sudo sysctl -w user.max_user_namespaces=15000` \
             (and put it in /etc/sysctl.d/ to keep it)",
        ),
        Ok(n) => Fact::ok(label, format!("user.max_user_namespaces = {n}")),
        Err(_) => Fact::untested(
            label,
            format!(
                "user.max_user_namespaces is not a number: {:?}",
                text.trim()
            ),
            "see the user namespace line above",
        ),
    }
}

/// The fact for Debian's `kernel.unprivileged_userns_clone`, from the
/// file's text (`None` when the kernel has no such switch).
pub fn interpret_unprivileged_userns_clone(text: Option<&str>) -> Fact {
    let label = "Debian userns switch";
    match text.map(str::trim) {
        None => Fact::ok(
            label,
            "kernel.unprivileged_userns_clone does not exist here (a Debian kernel patch)",
        ),
        Some("0") => Fact::missing(
            label,
            "kernel.unprivileged_userns_clone = 0: only root may create user namespaces",
            "`sudo sysctl -w kernel.unprivileged_userns_clone=1` \
             (and put it in /etc/sysctl.d/ to keep it)",
        ),
        Some(value) => Fact::ok(
            label,
            format!(
                "kernel.unprivileged_userns_clone = {value}: anyone may create user namespaces"
            ),
        ),
    }
}

/// The fact for Ubuntu's `kernel.apparmor_restrict_unprivileged_userns`,
/// from the file's text (`None` when the kernel has no such switch).
pub fn interpret_apparmor_restrict_userns(text: Option<&str>) -> Fact {
    let label = "Ubuntu userns switch";
    match text.map(str::trim) {
        None => Fact::ok(
            label,
            "kernel.apparmor_restrict_unprivileged_userns does not exist here (an Ubuntu AppArmor feature)",
        ),
        Some("0") => Fact::ok(
            label,
            "kernel.apparmor_restrict_unprivileged_userns = 0: user namespaces are not restricted",
        ),
        Some(value) => Fact::missing(
            label,
            format!(
                "kernel.apparmor_restrict_unprivileged_userns = {value}: without root, a new user \
                 namespace gets no capabilities unless an AppArmor profile allows `userns`"
            ),
            "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, \
             or give the lesson an AppArmor profile with `userns,`",
        ),
    }
}

/// Reads a small file; `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, DoctorError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DoctorError::ReadFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A function that turns a sysctl's text (`None` when the file does not
/// exist) into a fact.
type SysctlInterpreter = fn(Option<&str>) -> Fact;

/// Probes the three user-namespace sysctls.
fn probe_userns_sysctls() -> Vec<Fact> {
    let checks: [(&str, &str, SysctlInterpreter); 3] = [
        (
            MAX_USER_NAMESPACES,
            "max user namespaces",
            interpret_max_user_namespaces,
        ),
        (
            UNPRIVILEGED_USERNS_CLONE,
            "Debian userns switch",
            interpret_unprivileged_userns_clone,
        ),
        (
            APPARMOR_RESTRICT_USERNS,
            "Ubuntu userns switch",
            interpret_apparmor_restrict_userns,
        ),
    ];
    checks
        .iter()
        .map(
            |(path, label, interpret)| match read_optional(Path::new(path)) {
                Ok(text) => interpret(text.as_deref()),
                Err(e) => Fact::probe_failed(*label, &e),
            },
        )
        .collect()
}

// ---------------------------------------------------------------------------
// Overlayfs.
// ---------------------------------------------------------------------------

/// True when `/proc/filesystems` lists `name`.
///
/// Each line is a file system type, after `nodev` when it needs no block
/// device (proc(5)): `nodev\toverlay`.
pub fn filesystem_listed(proc_filesystems: &str, name: &str) -> bool {
    proc_filesystems
        .lines()
        .filter_map(|line| line.split_whitespace().last())
        .any(|fs| fs == name)
}

/// True when `modules.dep` (from `/lib/modules/<release>/`) lists a module
/// called `name`, such as `kernel/fs/overlayfs/overlay.ko.xz: …`.
pub fn module_installed(modules_dep: &str, name: &str) -> bool {
    modules_dep
        .lines()
        .filter_map(|line| line.split(':').next())
        .filter_map(|path| path.rsplit('/').next())
        .any(|file| file.split('.').next() == Some(name))
}

/// The overlayfs fact, from the text of `/proc/filesystems` and of the
/// running kernel's `modules.dep` (`None` when there is none).
///
/// `/proc/filesystems` lists the file systems the kernel knows *now*: a
/// file system built as a module appears only once the module is loaded.
pub fn interpret_overlay(proc_filesystems: &str, modules_dep: Option<&str>) -> Fact {
    let label = "overlayfs";
    if filesystem_listed(proc_filesystems, "overlay") {
        return Fact::ok(label, "overlay is listed in /proc/filesystems");
    }
    if modules_dep.is_some_and(|dep| module_installed(dep, "overlay")) {
        Fact::missing(
            label,
            "overlay is not in /proc/filesystems: its module is installed but not loaded",
            "`sudo modprobe overlay` (and add `overlay` to /etc/modules to keep it)",
        )
    } else {
        Fact::missing(
            label,
            "overlay is not in /proc/filesystems",
            "`sudo modprobe overlay`; if there is no such module, use a kernel built with CONFIG_OVERLAY_FS",
        )
    }
}

/// Probes overlayfs: `/proc/filesystems`, and the running kernel's modules.
fn probe_overlay() -> Fact {
    let path = Path::new("/proc/filesystems");
    let filesystems = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) => {
            let e = DoctorError::ReadFile {
                path: path.to_path_buf(),
                source,
            };
            return Fact::probe_failed("overlayfs", &e);
        }
    };
    // The module list only refines the advice, so failing to read it is
    // not worth a report of its own.
    let modules_dep = fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|release| {
            fs::read_to_string(format!("/lib/modules/{}/modules.dep", release.trim())).ok()
        });
    interpret_overlay(&filesystems, modules_dep.as_deref())
}

// ---------------------------------------------------------------------------
// Cgroups.
// ---------------------------------------------------------------------------

/// Where cgroups are mounted; the usual place.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Where systemd mounts cgroup2 in hybrid mode.
pub const CGROUP_UNIFIED: &str = "/sys/fs/cgroup/unified";
/// The controllers lesson 08 uses.
pub const NEEDED_CONTROLLERS: &[&str] = &["memory", "cpu", "pids"];

/// How cgroups are laid out on this machine (cgroups(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// cgroup v2: one unified hierarchy (`cgroup2`) at `/sys/fs/cgroup`.
    V2,
    /// cgroup v1: one hierarchy per controller (or group of controllers),
    /// each mounted under `/sys/fs/cgroup/<name>`.
    V1,
    /// v1 controller hierarchies, plus a cgroup2 mount at
    /// `/sys/fs/cgroup/unified` (what systemd calls "hybrid"); controllers
    /// bound to a v1 hierarchy are not available in the v2 one.
    Hybrid,
    /// No cgroup file system is mounted.
    None,
}

/// Decides the cgroup mode from statfs(2) of `/sys/fs/cgroup` and of
/// `/sys/fs/cgroup/unified` (`None` when the directory does not exist), and
/// the number of v1 hierarchies mounted.
///
/// The file system *type* answers the question without parsing anything:
/// statfs(2) `f_type` is `CGROUP2_SUPER_MAGIC` on a cgroup2 mount. In v1 and
/// hybrid mode `/sys/fs/cgroup` is a tmpfs holding one mount per hierarchy.
pub fn cgroup_mode(
    root: Option<FsType>,
    unified: Option<FsType>,
    v1_hierarchies: usize,
) -> CgroupMode {
    if root == Some(CGROUP2_SUPER_MAGIC) {
        CgroupMode::V2
    } else if unified == Some(CGROUP2_SUPER_MAGIC) {
        CgroupMode::Hybrid
    } else if v1_hierarchies > 0 || root == Some(CGROUP_SUPER_MAGIC) {
        CgroupMode::V1
    } else {
        CgroupMode::None
    }
}

/// A mounted cgroup v1 hierarchy, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: String,
    /// The controllers bound to it, e.g. `["cpu", "cpuacct"]`; empty for a
    /// named hierarchy without controllers such as `name=systemd`.
    pub controllers: Vec<String>,
}

/// Mount options of a v1 cgroup mount that are not controller names
/// (cgroups(7), "Mounting v1 controllers"), besides `rw`/`ro`.
const V1_NON_CONTROLLER_OPTIONS: &[&str] = &[
    "rw",
    "ro",
    "all",
    "none",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
    "favordynmods",
];

/// The v1 hierarchies mounted, from the text of `/proc/self/mountinfo`.
///
/// A mountinfo line is (proc(5)):
/// `36 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:15 - cgroup cgroup rw,memory`:
/// the mount point is the 5th field; after the ` - ` separator come the file
/// system type, the source and the super-block options, which for a v1
/// cgroup mount name its controllers.
pub fn v1_hierarchies(mountinfo: &str) -> Vec<V1Hierarchy> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, super_block) = line.split_once(" - ")?;
            let mut sb = super_block.split_whitespace();
            if sb.next()? != "cgroup" {
                return None;
            }
            let options = sb.nth(1).unwrap_or("");
            let mount_point = mount.split_whitespace().nth(4)?.to_string();
            let controllers = options
                .split(',')
                .filter(|o| !o.is_empty() && !o.contains('='))
                .filter(|o| !V1_NON_CONTROLLER_OPTIONS.contains(o))
                .map(str::to_string)
                .collect();
            Some(V1Hierarchy {
                mount_point,
                controllers,
            })
        })
        .collect()
}

/// The controllers listed in a v2 `cgroup.controllers` file.
pub fn v2_controllers(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// A line of `/proc/cgroups`: a controller the kernel was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelController {
    /// Its name.
    pub name: String,
    /// 0 when it is bound to no v1 hierarchy (so free for v2, or unused).
    pub hierarchy: u32,
    /// False when switched off on the kernel command line (`cgroup_disable=`).
    pub enabled: bool,
}

/// Parses `/proc/cgroups` (cgroups(7)): `name hierarchy num_cgroups enabled`.
pub fn parse_proc_cgroups(text: &str) -> Vec<KernelController> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some(KernelController {
                name: fields.first()?.to_string(),
                hierarchy: fields.get(1)?.parse().ok()?,
                enabled: fields.get(3)? != &"0",
            })
        })
        .collect()
}

/// Everything the doctor learned about cgroups on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroups {
    /// The layout.
    pub mode: CgroupMode,
    /// Controllers available through v1 hierarchies.
    pub v1: Vec<String>,
    /// Controllers available in the v2 hierarchy.
    pub v2: Vec<String>,
    /// The kernel's own list (`/proc/cgroups`), to explain a missing
    /// controller; `None` when it could not be read.
    pub kernel: Option<Vec<KernelController>>,
}

/// The cgroup-mode fact.
pub fn interpret_cgroup_mode(cgroups: &Cgroups) -> Fact {
    let label = "cgroup mode";
    match cgroups.mode {
        CgroupMode::V2 => Fact::ok(
            label,
            format!("v2: one unified hierarchy (cgroup2) at {CGROUP_ROOT}"),
        ),
        CgroupMode::V1 => Fact::ok(label, "v1: one hierarchy per controller, no cgroup2"),
        CgroupMode::Hybrid => Fact::ok(
            label,
            format!("hybrid: v1 controller hierarchies, plus cgroup2 at {CGROUP_UNIFIED}"),
        ),
        CgroupMode::None => Fact::missing(
            label,
            "no cgroup file system is mounted",
            format!("`sudo mount -t cgroup2 none {CGROUP_ROOT}`"),
        ),
    }
}

/// The cgroup-controllers fact: are [`NEEDED_CONTROLLERS`] available, in
/// either version?
pub fn interpret_cgroup_controllers(cgroups: &Cgroups) -> Fact {
    let label = "cgroup controllers";
    let list = |names: &[String]| {
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(" ")
        }
    };
    let found = match cgroups.mode {
        CgroupMode::V2 => format!("v2: {}", list(&cgroups.v2)),
        CgroupMode::V1 => format!("v1: {}", list(&cgroups.v1)),
        CgroupMode::Hybrid => format!("v1: {}; v2: {}", list(&cgroups.v1), list(&cgroups.v2)),
        CgroupMode::None => "no cgroup file system".to_string(),
    };
    let missing: Vec<&str> = NEEDED_CONTROLLERS
        .iter()
        .copied()
        .filter(|c| !cgroups.v1.iter().chain(&cgroups.v2).any(|have| have == c))
        .collect();
    if missing.is_empty() {
        return Fact::ok(
            label,
            format!("{} available ({found})", NEEDED_CONTROLLERS.join(", ")),
        );
    }
    let fixes: Vec<String> = missing.iter().map(|c| controller_fix(c, cgroups)).collect();
    Fact::missing(
        label,
        format!("missing {} ({found})", missing.join(", ")),
        fixes.join("; "),
    )
}

/// How to get a missing controller, from what `/proc/cgroups` says about it.
fn controller_fix(name: &str, cgroups: &Cgroups) -> String {
    let Some(kernel) = &cgroups.kernel else {
        return format!("{name}: check /proc/cgroups and the kernel command line");
    };
    match kernel.iter().find(|k| k.name == name) {
        None => format!("{name}: this kernel was built without it"),
        Some(k) if !k.enabled => format!(
            "{name}: it is switched off at boot: remove `cgroup_disable={name}` from the kernel \
             command line (some boards, e.g. Raspberry Pi, need `cgroup_enable={name}`)"
        ),
        Some(_) if cgroups.mode == CgroupMode::V2 => format!(
            "{name}: it is not delegated to this cgroup: enable it in the parent's cgroup.subtree_control"
        ),
        Some(_) => format!(
            "{name}: mount its v1 hierarchy: `sudo mkdir -p {CGROUP_ROOT}/{name} && \
             sudo mount -t cgroup -o {name} cgroup {CGROUP_ROOT}/{name}`"
        ),
    }
}

/// statfs(2) of a directory: its file system type, `None` when it does not exist.
fn probe_fs_type(path: &str) -> Result<Option<FsType>, DoctorError> {
    match statfs(path) {
        Ok(stat) => Ok(Some(stat.filesystem_type())),
        Err(Errno::ENOENT) => Ok(None),
        Err(source) => Err(DoctorError::Statfs {
            path: PathBuf::from(path),
            source,
        }),
    }
}

/// Probes the cgroup layout and its controllers.
fn probe_cgroups() -> Result<Cgroups, DoctorError> {
    let root = probe_fs_type(CGROUP_ROOT)?;
    let unified = probe_fs_type(CGROUP_UNIFIED)?;
    let mountinfo_path = Path::new("/proc/self/mountinfo");
    let mountinfo = fs::read_to_string(mountinfo_path).map_err(|source| DoctorError::ReadFile {
        path: mountinfo_path.to_path_buf(),
        source,
    })?;
    let hierarchies = v1_hierarchies(&mountinfo);
    let mode = cgroup_mode(root, unified, hierarchies.len());

    let mut v1: Vec<String> = hierarchies
        .into_iter()
        .flat_map(|h| h.controllers)
        .collect();
    v1.sort();
    v1.dedup();
    let v2_file = match mode {
        CgroupMode::V2 => Some(Path::new(CGROUP_ROOT).join("cgroup.controllers")),
        CgroupMode::Hybrid => Some(Path::new(CGROUP_UNIFIED).join("cgroup.controllers")),
        CgroupMode::V1 | CgroupMode::None => None,
    };
    let v2 = match v2_file {
        Some(path) => read_optional(&path)?
            .map(|t| v2_controllers(&t))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    // /proc/cgroups only explains a missing controller; without it the
    // advice is vaguer, but the verdict is the same.
    let kernel = fs::read_to_string("/proc/cgroups")
        .ok()
        .map(|t| parse_proc_cgroups(&t));
    Ok(Cgroups {
        mode,
        v1,
        v2,
        kernel,
    })
}

// ---------------------------------------------------------------------------
// Rootfs source.
// ---------------------------------------------------------------------------

/// The rootfs-source fact, from [`rootfs::detect_source`].
pub fn interpret_rootfs(source: &Result<Source, RootfsError>) -> Fact {
    let label = "rootfs source";
    match source {
        Ok(source @ Source::Busybox(_)) => Fact::ok(label, source.describe()),
        Ok(source @ Source::HostPrograms(_)) => Fact::ok(
            label,
            format!(
                "{} (a static busybox makes a smaller one: `sudo apt install busybox-static`)",
                source.describe()
            ),
        ),
        Err(e) => Fact::missing(
            label,
            error_chain(e),
            "`sudo apt install busybox-static`, or give each lesson `--rootfs DIR`",
        ),
    }
}

// ---------------------------------------------------------------------------
// The state directory: can the rootfs's programs run there?
// ---------------------------------------------------------------------------

/// The environment variable that moves the state directory, for the
/// doctor as for the lessons (their `--state-dir`).
pub const STATE_DIR_ENV: &str = "NSLAB_STATE_DIR";

/// The state directory the lessons would use: `$NSLAB_STATE_DIR`, or
/// [`rootfs::DEFAULT_STATE_DIR`].
pub fn state_dir() -> PathBuf {
    std::env::var_os(STATE_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(rootfs::DEFAULT_STATE_DIR))
}

/// The directory that stands for `dir`'s file system: `dir` itself, or,
/// before the first lesson has made it, its nearest ancestor that exists,
/// on whose file system it will be made.
pub fn nearest_existing(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|ancestor| ancestor.is_dir())
        // A relative path none of whose ancestors exist yet is made in
        // the current directory.
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// What statvfs(2) says about the state directory's file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDirFs {
    /// The state directory.
    pub dir: PathBuf,
    /// The directory examined: `dir`, or its nearest existing ancestor.
    pub examined: PathBuf,
    /// Mounted `noexec` (`ST_NOEXEC`): no program on it can be executed.
    pub noexec: bool,
    /// Mounted `nodev` (`ST_NODEV`): device nodes on it cannot be opened.
    pub nodev: bool,
}

/// The state-directory fact.
///
/// The default rootfs is built in the state directory, so its programs,
/// `/bin/sh` first, are executed from that file system: on a `noexec`
/// mount execve(2) fails with EACCES, and no lesson from 01 on can start
/// its command. `nodev` only matters to device nodes made there, and no
/// lesson makes any: 01 and 02 make no nodes at all, and from 03 on the
/// nodes go on a fresh tmpfs mounted at the container's `/dev`. So `nodev`
/// is a note, not a problem.
pub fn interpret_state_dir(state: &StateDirFs) -> Fact {
    let label = "state directory";
    let place = if state.examined == state.dir {
        state.dir.display().to_string()
    } else {
        format!(
            "{} (not made yet; it will be made on the file system of {})",
            state.dir.display(),
            state.examined.display()
        )
    };
    if state.noexec {
        return Fact::missing(
            label,
            format!(
                "{place} is on a file system mounted noexec: the rootfs's programs could not run"
            ),
            format!(
                "give the lessons a state directory on another file system (`--state-dir DIR`, \
                 or NSLAB_STATE_DIR=DIR for the doctor too), or remount this one with exec: \
                 `sudo mount -o remount,exec \"$(findmnt -no TARGET -T {})\"`",
                state.examined.display()
            ),
        );
    }
    if state.nodev {
        return Fact::ok(
            label,
            format!(
                "{place}: programs can run; it is mounted nodev, so device nodes made there would \
                 not open, but no lesson makes any there (03 on make theirs on a fresh tmpfs /dev)"
            ),
        );
    }
    Fact::ok(
        label,
        format!("{place}: programs can run (not mounted noexec)"),
    )
}

/// statvfs(2) of the state directory, or of its nearest existing ancestor.
fn probe_state_dir(dir: &Path) -> Result<StateDirFs, DoctorError> {
    let examined = nearest_existing(dir);
    let stat = statvfs(&examined).map_err(|source| DoctorError::Statvfs {
        path: examined.clone(),
        source,
    })?;
    Ok(StateDirFs {
        dir: dir.to_path_buf(),
        noexec: stat.flags().contains(FsFlags::ST_NOEXEC),
        nodev: stat.flags().contains(FsFlags::ST_NODEV),
        examined,
    })
}

// ---------------------------------------------------------------------------
// Probing step by step in a child, in a directory of its own.
// ---------------------------------------------------------------------------

/// A step of a probe that failed: which one (its index in the probe's list
/// of steps) and what the kernel said.
type StepFailure = (usize, Errno);

/// Runs `steps` in a forked child, and returns which step failed, if any.
///
/// As with [`probe_unshare`], a child keeps the doctor in the host's
/// namespaces; the mounts a probe makes in the child's own mount namespace
/// disappear with it. The child writes the failed step and its errno (two
/// bytes: errno values are below 256) into a pipe, and exits.
///
/// `steps` runs between fork(2) and _exit(2), so it may only make
/// async-signal-safe calls (signal-safety(7)) and must not allocate: pass
/// it paths made into `CString`s before the fork.
fn run_steps_in_child(
    call: &str,
    steps: impl FnOnce() -> Result<(), StepFailure>,
) -> Result<Result<(), StepFailure>, DoctorError> {
    let (read_end, write_end) = pipe().map_err(|source| DoctorError::Pipe {
        call: call.to_string(),
        source,
    })?;
    // SAFETY: the child runs `steps` (async-signal-safe calls only, see
    // above), write(2) and _exit(2), and allocates nothing.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = match steps() {
                Ok(()) => 0,
                Err((step, errno)) => {
                    // Step indexes and errno values fit in a byte.
                    let _ = write(&write_end, &[step as u8, errno as i32 as u8]);
                    1
                }
            };
            // SAFETY: _exit(2) takes no pointers and never returns.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            // Close the parent's copy of the write end, so that the read
            // below sees end-of-file once the child is gone.
            drop(write_end);
            let status = waitpid(child, None).map_err(|source| DoctorError::Wait {
                call: call.to_string(),
                source,
            })?;
            let mut failure = [0u8; 2];
            let got = read(read_end.as_raw_fd(), &mut failure).unwrap_or(0);
            match status {
                WaitStatus::Exited(_, 0) => Ok(Ok(())),
                WaitStatus::Exited(_, 1) if got == 2 => Ok(Err((
                    usize::from(failure[0]),
                    Errno::from_raw(i32::from(failure[1])),
                ))),
                status => Err(DoctorError::ProbeChild {
                    call: call.to_string(),
                    status,
                }),
            }
        }
        Err(source) => Err(DoctorError::Fork {
            call: call.to_string(),
            source,
        }),
    }
}

/// The result of a step, as [`run_steps_in_child`] wants it.
fn step<T>(index: usize, result: nix::Result<T>) -> Result<(), StepFailure> {
    result.map(drop).map_err(|errno| (index, errno))
}

/// An empty directory a probe works in, made by the doctor and removed by
/// it with rmdir(2) (never a recursive delete: if a mount were still on
/// it, rmdir would refuse instead of deleting through it).
struct ProbeDir {
    path: PathBuf,
    /// Subdirectories the probe child may make, removed first.
    inner: &'static [&'static str],
}

impl ProbeDir {
    /// Makes `<parent>/.nslab-doctor-<what>-<pid>`.
    fn create(
        parent: &Path,
        what: &str,
        inner: &'static [&'static str],
    ) -> Result<ProbeDir, DoctorError> {
        let path = parent.join(format!(".nslab-doctor-{what}-{}", std::process::id()));
        fs::create_dir(&path).map_err(|source| DoctorError::CreateProbeDir {
            path: path.clone(),
            source,
        })?;
        Ok(ProbeDir { path, inner })
    }

    /// The path as a C string, made before the fork (see [`run_steps_in_child`]).
    fn c_path(&self) -> Result<CString, DoctorError> {
        CString::new(self.path.as_os_str().as_bytes()).map_err(|_| DoctorError::CreateProbeDir {
            path: self.path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "the path holds a NUL byte"),
        })
    }

    /// Removes the directory, and what the child made in it. The child's
    /// mounts died with its mount namespace, so all of it is empty.
    fn remove(self) -> Result<(), DoctorError> {
        for name in self.inner {
            let inner = self.path.join(name);
            match fs::remove_dir(&inner) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(DoctorError::RemoveProbeDir {
                        path: inner,
                        source,
                    })
                }
            }
        }
        fs::remove_dir(&self.path).map_err(|source| DoctorError::RemoveProbeDir {
            path: self.path.clone(),
            source,
        })
    }
}

// ---------------------------------------------------------------------------
// Mounting and pivot_root in the state directory (lessons 03 on).
// ---------------------------------------------------------------------------

/// The steps of the pivot probe, in order: the ones lesson 03 takes to
/// move the container into its rootfs, in a directory of the state
/// directory's file system instead of the rootfs.
pub const PIVOT_STEPS: [&str; 6] = [
    "unshare(CLONE_NEWNS)",
    "mount(NULL, \"/\", NULL, MS_REC | MS_PRIVATE, NULL)",
    "mount(DIR, DIR, NULL, MS_BIND, NULL)",
    "chdir(DIR)",
    "mkdir(\"put_old\", 0700)",
    "pivot_root(\".\", \"put_old\")",
];
/// The index of pivot_root in [`PIVOT_STEPS`].
pub const PIVOT_ROOT_STEP: usize = 5;

/// How the pivot probe went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PivotAttempt {
    /// Tried as root: every step worked, or this one failed.
    Tried(Result<(), StepFailure>),
    /// Not tried: without root, mount(2) and pivot_root(2) are refused.
    NotRoot,
}

/// The type of the file system mounted at `/`, from the text of
/// `/proc/self/mountinfo` (the last `/` mount, the one on top).
pub fn root_fs_type(mountinfo: &str) -> Option<String> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, super_block) = line.split_once(" - ")?;
            (mount.split_whitespace().nth(4)? == "/")
                .then(|| super_block.split_whitespace().next().map(str::to_string))?
        })
        .next_back()
}

/// The mount-and-pivot fact, for the directory the probe worked in
/// (`dir`), the type of the file system at `/` (`root_type`) and the
/// attempt.
pub fn interpret_pivot(dir: &Path, root_type: Option<&str>, attempt: PivotAttempt) -> Fact {
    let label = "mount and pivot_root";
    let dir = dir.display();
    let failure = match attempt {
        PivotAttempt::NotRoot => {
            return Fact::untested(
                label,
                "could not test without root",
                "run `sudo nslab doctor` to test it",
            )
        }
        PivotAttempt::Tried(Ok(())) => {
            return Fact::ok(label, format!("a bind mount and pivot_root work in {dir}"))
        }
        PivotAttempt::Tried(Err(failure)) => failure,
    };
    let (index, errno) = failure;
    let call = PIVOT_STEPS.get(index).copied().unwrap_or("a step");
    let elsewhere = "put the state directory on another file system (`--state-dir DIR`), \
                     or give the lessons a rootfs on one (`--rootfs DIR`)";
    match (index, errno) {
        // pivot_root(2): EINVAL "The current root is on the rootfs (initial
        // ramfs) mount": a machine that never left its initramfs has a root
        // that pivot_root cannot move, wherever the new root is.
        (PIVOT_ROOT_STEP, Errno::EINVAL) if root_type == Some("rootfs") => Fact::missing(
            label,
            format!(
                "{call} fails with EINVAL in {dir}: / is the initramfs (rootfs), \
                 which pivot_root cannot move"
            ),
            "boot with a real root file system (root= on the kernel command line, \
             or switch_root to it from the initramfs)",
        ),
        (_, Errno::EPERM) => Fact::missing(
            label,
            format!("{call} fails even for root in {dir}: {}", errno_text(errno)),
            "a seccomp filter, a security module or a chroot forbids it: \
             run nslab on the host or in a VM, not inside a container",
        ),
        _ => Fact::missing(
            label,
            format!("{call} fails in {dir}: {}", errno_text(errno)),
            elsewhere,
        ),
    }
}

/// The pivot probe's steps, run in the child; `dir` is the probe directory.
fn pivot_steps(dir: &CStr) -> Result<(), StepFailure> {
    step(0, unshare(CloneFlags::CLONE_NEWNS))?;
    // Private first, as in lesson 03: pivot_root(2) fails with EINVAL when
    // the new root's parent mount is shared, as `/` is on systemd hosts.
    step(
        1,
        mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&CStr>,
        ),
    )?;
    // pivot_root needs the new root to be a mount point: bind it onto itself.
    step(
        2,
        mount(
            Some(dir),
            dir,
            None::<&CStr>,
            MsFlags::MS_BIND,
            None::<&CStr>,
        ),
    )?;
    step(3, chdir(dir))?;
    step(4, mkdir(c"put_old", Mode::S_IRWXU))?;
    step(5, pivot_root(c".", c"put_old"))
}

/// Probes mounting and pivot_root in a directory made under `base` (the
/// state directory or its nearest existing ancestor).
fn probe_pivot(base: &Path, is_root: bool) -> Result<PivotAttempt, DoctorError> {
    if !is_root {
        return Ok(PivotAttempt::NotRoot);
    }
    let dir = ProbeDir::create(base, "pivot", &["put_old"])?;
    let attempt = dir
        .c_path()
        .and_then(|c_dir| run_steps_in_child("pivot_root", || pivot_steps(&c_dir)));
    // Remove the directory whatever happened; report the first error.
    let removed = dir.remove();
    let attempt = attempt?;
    removed?;
    Ok(PivotAttempt::Tried(attempt))
}

// ---------------------------------------------------------------------------
// IPC: System V IPC and POSIX message queues (lesson 05).
// ---------------------------------------------------------------------------

/// The list of System V message queues; it exists when the kernel has
/// System V IPC (sysvipc(7)).
pub const SYSVIPC_MSG: &str = "/proc/sysvipc/msg";

/// The System V IPC fact, from whether [`SYSVIPC_MSG`] exists.
pub fn interpret_sysv_ipc(msg_exists: bool) -> Fact {
    let label = "System V IPC";
    if msg_exists {
        Fact::ok(label, format!("{SYSVIPC_MSG} exists"))
    } else {
        Fact::missing(
            label,
            format!(
                "{SYSVIPC_MSG} does not exist: this kernel has no System V IPC \
                 (or /proc is not mounted)"
            ),
            "use a kernel built with CONFIG_SYSVIPC=y",
        )
    }
}

/// The steps of the mqueue probe, in order: lesson 05 mounts a fresh
/// mqueue file system for the container's IPC namespace.
pub const MQUEUE_STEPS: [&str; 3] = [
    "unshare(CLONE_NEWNS)",
    "mount(NULL, \"/\", NULL, MS_REC | MS_PRIVATE, NULL)",
    "mount(\"mqueue\", DIR, \"mqueue\", 0, NULL)",
];

/// The POSIX message queue fact, from whether `/proc/filesystems` lists
/// `mqueue` and, as root, how mounting one went (`None` when not tried).
pub fn interpret_mqueue(listed: bool, mounted: Option<Result<(), StepFailure>>) -> Fact {
    let label = "POSIX mqueue";
    let build_fix = "use a kernel built with CONFIG_POSIX_MQUEUE=y";
    match (listed, mounted) {
        (_, Some(Ok(()))) => Fact::ok(label, "mount -t mqueue works in a private mount namespace"),
        (true, None) => Fact::ok(label, "mqueue is listed in /proc/filesystems"),
        (false, None) => Fact::missing(
            label,
            "mqueue is not in /proc/filesystems: this kernel has no POSIX message queues",
            build_fix,
        ),
        (listed, Some(Err((index, errno)))) => {
            let call = MQUEUE_STEPS.get(index).copied().unwrap_or("a step");
            let detail = format!("{call} fails: {}", errno_text(errno));
            if listed {
                Fact::missing(
                    label,
                    detail,
                    "a seccomp filter, a security module or a chroot forbids it: \
                     run nslab on the host or in a VM, not inside a container",
                )
            } else {
                Fact::missing(
                    label,
                    format!("{detail}; mqueue is not in /proc/filesystems"),
                    build_fix,
                )
            }
        }
    }
}

/// The mqueue probe's steps, run in the child; `dir` is the probe directory.
fn mqueue_steps(dir: &CStr) -> Result<(), StepFailure> {
    step(0, unshare(CloneFlags::CLONE_NEWNS))?;
    step(
        1,
        mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&CStr>,
        ),
    )?;
    step(
        2,
        mount(
            Some(c"mqueue"),
            dir,
            Some(c"mqueue"),
            MsFlags::empty(),
            None::<&CStr>,
        ),
    )
}

/// Probes System V IPC and POSIX message queues; the mqueue mount only as
/// root, in a directory under the system's temporary directory.
fn probe_ipc(is_root: bool) -> (Fact, Fact) {
    let sysv = interpret_sysv_ipc(Path::new(SYSVIPC_MSG).exists());
    let filesystems_path = Path::new("/proc/filesystems");
    let listed = match fs::read_to_string(filesystems_path) {
        Ok(text) => filesystem_listed(&text, "mqueue"),
        Err(source) => {
            let e = DoctorError::ReadFile {
                path: filesystems_path.to_path_buf(),
                source,
            };
            return (sysv, Fact::probe_failed("POSIX mqueue", &e));
        }
    };
    if !is_root {
        return (sysv, interpret_mqueue(listed, None));
    }
    let mounted = ProbeDir::create(&std::env::temp_dir(), "mqueue", &[]).and_then(|dir| {
        let attempt = dir
            .c_path()
            .and_then(|c_dir| run_steps_in_child("mount mqueue", || mqueue_steps(&c_dir)));
        let removed = dir.remove();
        let attempt = attempt?;
        removed?;
        Ok(attempt)
    });
    let mqueue = match mounted {
        Ok(attempt) => interpret_mqueue(listed, Some(attempt)),
        Err(e) => Fact::probe_failed("POSIX mqueue", &e),
    };
    (sysv, mqueue)
}

// ---------------------------------------------------------------------------
// All the facts, and the lessons that need them.
// ---------------------------------------------------------------------------

/// Everything the doctor found out about this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Running as root.
    pub root: Fact,
    /// Where the default rootfs would come from.
    pub rootfs: Fact,
    /// Whether programs can run from the state directory's file system.
    pub state_dir: Fact,
    /// Whether mounting and pivot_root work in the state directory.
    pub pivot: Fact,
    /// One fact per namespace kind, in [`Namespace::ALL`] order.
    pub namespaces: Vec<(Namespace, Fact)>,
    /// The sysctls that can switch user namespaces off.
    pub userns_sysctls: Vec<Fact>,
    /// overlayfs.
    pub overlay: Fact,
    /// The cgroup layout.
    pub cgroup_mode: Fact,
    /// The cgroup controllers lesson 08 needs.
    pub cgroup_controllers: Fact,
    /// System V IPC.
    pub sysv_ipc: Fact,
    /// POSIX message queues.
    pub mqueue: Fact,
}

impl Facts {
    /// Runs every probe on this machine.
    pub fn probe() -> Facts {
        let euid = geteuid();
        let state = state_dir();
        let base = nearest_existing(&state);
        let state_fs = match probe_state_dir(&state) {
            Ok(state_fs) => interpret_state_dir(&state_fs),
            Err(e) => Fact::probe_failed("state directory", &e),
        };
        // The root's type only sharpens the advice for an EINVAL.
        let root_type = fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|mountinfo| root_fs_type(&mountinfo));
        let pivot = match probe_pivot(&base, euid.is_root()) {
            Ok(attempt) => interpret_pivot(&base, root_type.as_deref(), attempt),
            Err(e) => Fact::probe_failed("mount and pivot_root", &e),
        };
        let (sysv_ipc, mqueue) = probe_ipc(euid.is_root());
        let (cgroup_mode, cgroup_controllers) = match probe_cgroups() {
            Ok(cgroups) => (
                interpret_cgroup_mode(&cgroups),
                interpret_cgroup_controllers(&cgroups),
            ),
            Err(e) => (
                Fact::probe_failed("cgroup mode", &e),
                Fact::probe_failed("cgroup controllers", &e),
            ),
        };
        Facts {
            root: interpret_root(euid),
            rootfs: interpret_rootfs(&rootfs::detect_source()),
            state_dir: state_fs,
            pivot,
            namespaces: probe_namespaces(euid.is_root()),
            userns_sysctls: probe_userns_sysctls(),
            overlay: probe_overlay(),
            cgroup_mode,
            cgroup_controllers,
            sysv_ipc,
            mqueue,
        }
    }

    /// Every fact, in the order of the report.
    pub fn all(&self) -> Vec<&Fact> {
        let mut all = vec![&self.root, &self.rootfs, &self.state_dir, &self.pivot];
        all.extend(self.namespaces.iter().map(|(_, fact)| fact));
        all.extend([&self.sysv_ipc, &self.mqueue]);
        all.extend(&self.userns_sysctls);
        all.extend([&self.overlay, &self.cgroup_mode, &self.cgroup_controllers]);
        all
    }

    /// The facts that decide whether `need` is met.
    pub fn for_need(&self, need: Need) -> Vec<&Fact> {
        match need {
            Need::Root => vec![&self.root],
            Need::Rootfs => vec![&self.rootfs, &self.state_dir],
            Need::Ns(kind) => {
                let mut facts: Vec<&Fact> = self
                    .namespaces
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .map(|(_, fact)| fact)
                    .collect();
                // A mount namespace is only as good as what the lessons do
                // in it: mount, then pivot_root into the rootfs.
                if kind == Namespace::Mnt {
                    facts.push(&self.pivot);
                }
                facts
            }
            Need::UnprivilegedUserns => self.userns_sysctls.iter().collect(),
            Need::Cgroups => vec![&self.cgroup_mode, &self.cgroup_controllers],
            Need::Overlay => vec![&self.overlay],
            Need::Ipc => vec![&self.sysv_ipc, &self.mqueue],
        }
    }
}

/// Whether a lesson can run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Everything it needs works.
    CanRun,
    /// Something it needs does not work: these facts.
    CannotRun(Vec<&'a Fact>),
    /// Nothing it needs is known to be broken, but these facts could not
    /// be tested.
    Unknown(Vec<&'a Fact>),
}

/// Decides whether `lesson` can run, from the facts it needs.
pub fn verdict<'a>(lesson: &Lesson, facts: &'a Facts) -> Verdict<'a> {
    let relevant: Vec<&Fact> = lesson
        .needs
        .iter()
        .flat_map(|&need| facts.for_need(need))
        .collect();
    let blocking: Vec<&Fact> = relevant
        .iter()
        .copied()
        .filter(|f| f.status == Status::Missing)
        .collect();
    let untested: Vec<&Fact> = relevant
        .iter()
        .copied()
        .filter(|f| f.status == Status::Untested)
        .collect();
    if !blocking.is_empty() {
        // Show what could not be tested too: it may be the next problem.
        Verdict::CannotRun(blocking.into_iter().chain(untested).collect())
    } else if !untested.is_empty() {
        Verdict::Unknown(untested)
    } else {
        Verdict::CanRun
    }
}

// ---------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------

const LABEL_WIDTH: usize = 21;
const LESSON_WIDTH: usize = 14;

fn mark(status: Status) -> String {
    match status {
        Status::Ok => "✓".green().bold().to_string(),
        Status::Missing => "✗".red().bold().to_string(),
        Status::Untested => "?".yellow().bold().to_string(),
    }
}

/// Renders the whole report: the machine facts, then one verdict per lesson.
pub fn render(facts: &Facts, lessons: &[Lesson]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; `let _` keeps that visible.
    let _ = writeln!(out, "{}", "nslab doctor: what this machine can run".bold());
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", "Machine".bold());
    for fact in facts.all() {
        let label = format!("{:<LABEL_WIDTH$}", fact.label);
        let _ = writeln!(out, "  {} {label} {}", mark(fact.status), fact.detail);
        if let Some(fix) = &fact.fix {
            let _ = writeln!(out, "    {:<LABEL_WIDTH$} {} {fix}", "", "fix:".yellow());
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", "Lessons".bold());
    let mut cannot = 0;
    for lesson in lessons {
        let name = format!("{:<LESSON_WIDTH$}", lesson.binary);
        let (status, text, facts_to_show) = match verdict(lesson, facts) {
            Verdict::CanRun => (Status::Ok, "can run".green().to_string(), Vec::new()),
            Verdict::CannotRun(why) => (Status::Missing, "cannot run".red().to_string(), why),
            Verdict::Unknown(why) => (Status::Untested, "not verified".yellow().to_string(), why),
        };
        if status != Status::Ok {
            cannot += 1;
        }
        let _ = writeln!(out, "  {} {name} {text}", mark(status));
        for fact in facts_to_show {
            let _ = writeln!(
                out,
                "    {:<LESSON_WIDTH$} {} {} {}: {}",
                "",
                mark(fact.status),
                "why:".dimmed(),
                fact.label,
                fact.detail
            );
            if let Some(fix) = &fact.fix {
                let _ = writeln!(out, "    {:<LESSON_WIDTH$}   {} {fix}", "", "fix:".yellow());
            }
        }
    }
    let _ = writeln!(out);
    let summary = if cannot == 0 {
        format!("All {} lessons can run on this machine.", lessons.len())
            .green()
            .bold()
    } else {
        format!(
            "{cannot} of {} lessons cannot run (or could not be verified) here: apply the fixes above, then run `sudo nslab doctor` again.",
            lessons.len()
        )
        .red()
        .bold()
    };
    let _ = writeln!(out, "{summary}");
    out
}

/// True when every lesson can run, which is what the exit status reports.
pub fn all_can_run(facts: &Facts, lessons: &[Lesson]) -> bool {
    lessons
        .iter()
        .all(|lesson| verdict(lesson, facts) == Verdict::CanRun)
}

/// Runs every probe, prints the report to standard output, and returns
/// exit status 0 when every lesson can run, 1 otherwise.
pub fn main() -> ExitCode {
    let facts = Facts::probe();
    let report = render(&facts, LESSONS);
    let mut out = io::stdout().lock();
    // A closed stdout (`nslab doctor | head`) must not turn into a panic;
    // the exit status still carries the verdict.
    let _ = out.write_all(report.as_bytes());
    let _ = out.flush();
    if all_can_run(&facts, LESSONS) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fix a fact suggests, or "" when it has none.
    fn fix_of(fact: &Fact) -> &str {
        fact.fix.as_deref().unwrap_or("")
    }
    use nix::sys::statfs::TMPFS_MAGIC;

    // --- Fake machine files -------------------------------------------------

    /// /proc/filesystems of a machine with overlayfs loaded (abridged).
    const FILESYSTEMS_WITH_OVERLAY: &str =
        "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\n\text4\nnodev\toverlay\n";
    /// The same, before the overlay module is loaded.
    const FILESYSTEMS_WITHOUT_OVERLAY: &str =
        "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\n\text4\n";
    /// A modules.dep with overlay built as a compressed module.
    const MODULES_DEP_WITH_OVERLAY: &str = "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz\n\
         kernel/fs/overlayfs/overlay.ko.xz:\nkernel/net/bridge/bridge.ko.xz: kernel/net/802/stp.ko.xz\n";

    /// mountinfo of a pure cgroup v2 machine (Debian 12, Fedora, Ubuntu 22.04+).
    const MOUNTINFO_V2: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
26 24 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    /// The v2 root's cgroup.controllers there.
    const CONTROLLERS_V2: &str = "cpuset cpu io memory hugetlb pids rdma misc\n";

    /// mountinfo of a pure cgroup v1 machine (CentOS 7 style: cpu and
    /// cpuacct share a hierarchy, plus systemd's named one).
    const MOUNTINFO_V1: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
25 24 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:5 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,cpu,cpuacct
30 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,memory
31 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,pids
32 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpuset,clone_children
";

    /// mountinfo of this project's CI machine: hybrid.
    const MOUNTINFO_HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// /proc/cgroups of a v1 machine whose memory controller is switched
    /// off at boot (`cgroup_disable=memory`, Raspberry Pi OS default).
    const PROC_CGROUPS_MEMORY_DISABLED: &str = "\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t5\t1\t1
cpu\t2\t60\t1
cpuacct\t2\t60\t1
memory\t0\t60\t0
pids\t4\t65\t1
";

    fn cgroups_from(mode: CgroupMode, mountinfo: &str, v2: &str) -> Cgroups {
        let mut v1: Vec<String> = v1_hierarchies(mountinfo)
            .into_iter()
            .flat_map(|h| h.controllers)
            .collect();
        v1.sort();
        v1.dedup();
        Cgroups {
            mode,
            v1,
            v2: v2_controllers(v2),
            kernel: None,
        }
    }

    // --- Root -----------------------------------------------------------

    #[test]
    fn root_is_ok_and_anyone_else_is_told_to_use_sudo() {
        assert_eq!(interpret_root(Uid::from_raw(0)).status, Status::Ok);
        let user = interpret_root(Uid::from_raw(1000));
        assert_eq!(user.status, Status::Missing);
        assert!(user.detail.contains("1000"));
        assert_eq!(user.fix.as_deref(), Some("run it with sudo"));
    }

    // --- Namespaces -----------------------------------------------------

    #[test]
    fn a_namespace_that_root_can_create_works() {
        let fact = interpret_namespace(
            Namespace::Pid,
            Some("pid:[4026531836]"),
            Attempt::AsRoot(Ok(())),
        );
        assert_eq!(fact.status, Status::Ok);
        assert!(fact.detail.contains("unshare(CLONE_NEWPID) works"));
        assert!(fact.detail.contains("pid:[4026531836]"));
    }

    #[test]
    fn without_root_and_without_a_user_namespace_nothing_is_claimed_missing() {
        let fact = interpret_namespace(Namespace::Net, Some("net:[4026531833]"), Attempt::NotTried);
        assert_eq!(fact.status, Status::Untested);
        assert!(fact.detail.contains("could not test without root"));
        let refused = interpret_namespace(
            Namespace::Net,
            Some("net:[4026531833]"),
            Attempt::Unprivileged(Err(Errno::EPERM)),
        );
        assert_eq!(refused.status, Status::Untested);
    }

    #[test]
    fn without_root_a_kind_can_be_tested_inside_a_user_namespace() {
        let fact = interpret_namespace(
            Namespace::Mnt,
            Some("mnt:[1]"),
            Attempt::Unprivileged(Ok(())),
        );
        assert_eq!(fact.status, Status::Ok);
        assert!(fact.detail.contains("CLONE_NEWUSER | CLONE_NEWNS"));
    }

    #[test]
    fn a_kernel_without_the_kind_is_missing_it() {
        let no_file =
            interpret_namespace(Namespace::User, None, Attempt::AsRoot(Err(Errno::EINVAL)));
        assert_eq!(no_file.status, Status::Missing);
        assert!(no_file
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("CONFIG_USER_NS"));
        // Even untested: no /proc/self/ns file means no such namespaces.
        let untested = interpret_namespace(Namespace::Ipc, None, Attempt::NotTried);
        assert_eq!(untested.status, Status::Missing);
        let einval = interpret_namespace(
            Namespace::Net,
            Some("net:[1]"),
            Attempt::AsRoot(Err(Errno::EINVAL)),
        );
        assert_eq!(einval.status, Status::Missing);
        assert!(einval
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("CONFIG_NET_NS"));
    }

    #[test]
    fn a_limit_of_zero_points_at_its_sysctl() {
        let fact = interpret_namespace(
            Namespace::User,
            Some("user:[1]"),
            Attempt::AsRoot(Err(Errno::ENOSPC)),
        );
        assert_eq!(fact.status, Status::Missing);
        assert!(
            fix_of(&fact).contains("user.max_user_namespaces"),
            "{fact:?}"
        );
    }

    #[test]
    fn root_refused_points_at_a_container_or_policy() {
        let fact = interpret_namespace(
            Namespace::Mnt,
            Some("mnt:[1]"),
            Attempt::AsRoot(Err(Errno::EPERM)),
        );
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.contains("EPERM"));
        assert!(fact.fix.as_deref().unwrap_or("").contains("container"));
    }

    #[test]
    fn an_unprivileged_user_namespace_refused_is_missing_for_rootless_use() {
        let fact = interpret_namespace(
            Namespace::User,
            Some("user:[1]"),
            Attempt::Unprivileged(Err(Errno::EPERM)),
        );
        assert_eq!(fact.status, Status::Missing);
        assert!(fix_of(&fact).contains("sudo nslab doctor"), "{fact:?}");
    }

    // --- User-namespace sysctls -----------------------------------------

    #[test]
    fn user_namespaces_allowed_by_every_sysctl() {
        assert_eq!(
            interpret_max_user_namespaces(Some("96365\n")).status,
            Status::Ok
        );
        assert_eq!(
            interpret_unprivileged_userns_clone(Some("1\n")).status,
            Status::Ok
        );
        assert_eq!(
            interpret_apparmor_restrict_userns(Some("0\n")).status,
            Status::Ok
        );
    }

    #[test]
    fn switches_a_kernel_does_not_have_are_fine() {
        assert_eq!(interpret_unprivileged_userns_clone(None).status, Status::Ok);
        assert_eq!(interpret_apparmor_restrict_userns(None).status, Status::Ok);
    }

    #[test]
    fn user_namespaces_disabled_by_max_user_namespaces() {
        let fact = interpret_max_user_namespaces(Some("0\n"));
        assert_eq!(fact.status, Status::Missing);
        assert!(
            fix_of(&fact).contains("user.max_user_namespaces=15000"),
            "{fact:?}"
        );
    }

    #[test]
    fn user_namespaces_disabled_by_debians_switch() {
        let fact = interpret_unprivileged_userns_clone(Some("0\n"));
        assert_eq!(fact.status, Status::Missing);
        assert!(
            fix_of(&fact).contains("kernel.unprivileged_userns_clone=1"),
            "{fact:?}"
        );
    }

    #[test]
    fn user_namespaces_restricted_by_ubuntus_apparmor_switch() {
        let fact = interpret_apparmor_restrict_userns(Some("1\n"));
        assert_eq!(fact.status, Status::Missing);
        assert!(
            fix_of(&fact).contains("kernel.apparmor_restrict_unprivileged_userns=0"),
            "{fact:?}"
        );
    }

    #[test]
    fn a_garbled_sysctl_is_untested_not_missing() {
        assert_eq!(
            interpret_max_user_namespaces(Some("lots")).status,
            Status::Untested
        );
        assert_eq!(interpret_max_user_namespaces(None).status, Status::Untested);
    }

    // --- Overlayfs ------------------------------------------------------

    #[test]
    fn overlay_listed_in_proc_filesystems() {
        assert!(filesystem_listed(FILESYSTEMS_WITH_OVERLAY, "overlay"));
        assert!(filesystem_listed(FILESYSTEMS_WITH_OVERLAY, "ext4"));
        assert_eq!(
            interpret_overlay(FILESYSTEMS_WITH_OVERLAY, None).status,
            Status::Ok
        );
    }

    #[test]
    fn no_overlay_is_missing_with_modprobe_as_the_fix() {
        assert!(!filesystem_listed(FILESYSTEMS_WITHOUT_OVERLAY, "overlay"));
        let fact = interpret_overlay(FILESYSTEMS_WITHOUT_OVERLAY, None);
        assert_eq!(fact.status, Status::Missing);
        assert!(fix_of(&fact).contains("modprobe overlay"), "{fact:?}");
    }

    #[test]
    fn an_installed_but_unloaded_module_is_told_apart() {
        assert!(module_installed(MODULES_DEP_WITH_OVERLAY, "overlay"));
        assert!(!module_installed(MODULES_DEP_WITH_OVERLAY, "btrfs"));
        let fact = interpret_overlay(FILESYSTEMS_WITHOUT_OVERLAY, Some(MODULES_DEP_WITH_OVERLAY));
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.contains("installed but not loaded"));
        assert!(fix_of(&fact).contains("modprobe overlay"), "{fact:?}");
    }

    // --- Cgroups --------------------------------------------------------

    #[test]
    fn cgroup_mode_from_the_file_system_types() {
        assert_eq!(
            cgroup_mode(Some(CGROUP2_SUPER_MAGIC), None, 0),
            CgroupMode::V2
        );
        assert_eq!(
            cgroup_mode(Some(TMPFS_MAGIC), Some(CGROUP2_SUPER_MAGIC), 9),
            CgroupMode::Hybrid
        );
        assert_eq!(cgroup_mode(Some(TMPFS_MAGIC), None, 5), CgroupMode::V1);
        // A v1 machine whose unified directory exists but is not a mount.
        assert_eq!(
            cgroup_mode(Some(TMPFS_MAGIC), Some(TMPFS_MAGIC), 5),
            CgroupMode::V1
        );
        assert_eq!(cgroup_mode(Some(TMPFS_MAGIC), None, 0), CgroupMode::None);
        assert_eq!(cgroup_mode(None, None, 0), CgroupMode::None);
    }

    #[test]
    fn pure_v2_has_no_v1_hierarchies_and_all_controllers() {
        assert!(v1_hierarchies(MOUNTINFO_V2).is_empty());
        let cgroups = cgroups_from(CgroupMode::V2, MOUNTINFO_V2, CONTROLLERS_V2);
        assert_eq!(interpret_cgroup_mode(&cgroups).status, Status::Ok);
        let fact = interpret_cgroup_controllers(&cgroups);
        assert_eq!(fact.status, Status::Ok);
        assert!(fact
            .detail
            .contains("v2: cpuset cpu io memory hugetlb pids rdma misc"));
    }

    #[test]
    fn pure_v1_hierarchies_and_their_controllers() {
        let hierarchies = v1_hierarchies(MOUNTINFO_V1);
        assert_eq!(hierarchies.len(), 5);
        assert_eq!(hierarchies[0].mount_point, "/sys/fs/cgroup/systemd");
        assert!(
            hierarchies[0].controllers.is_empty(),
            "name=systemd has no controllers"
        );
        assert_eq!(hierarchies[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(
            hierarchies[4].controllers,
            ["cpuset"],
            "clone_children is an option"
        );
        let cgroups = cgroups_from(CgroupMode::V1, MOUNTINFO_V1, "");
        assert!(interpret_cgroup_mode(&cgroups).detail.starts_with("v1"));
        let fact = interpret_cgroup_controllers(&cgroups);
        assert_eq!(fact.status, Status::Ok);
        assert_eq!(
            fact.detail,
            "memory, cpu, pids available (v1: cpu cpuacct cpuset memory pids)"
        );
    }

    #[test]
    fn hybrid_takes_controllers_from_both_versions() {
        let hierarchies = v1_hierarchies(MOUNTINFO_HYBRID);
        assert_eq!(
            hierarchies.len(),
            9,
            "the cgroup2 mount is not a v1 hierarchy"
        );
        // On the CI machine every controller but hugetlb is bound to v1.
        let cgroups = cgroups_from(CgroupMode::Hybrid, MOUNTINFO_HYBRID, "hugetlb\n");
        let mode = interpret_cgroup_mode(&cgroups);
        assert!(mode.detail.starts_with("hybrid"));
        assert!(mode.detail.contains("/sys/fs/cgroup/unified"));
        let fact = interpret_cgroup_controllers(&cgroups);
        assert_eq!(fact.status, Status::Ok);
        assert!(fact.detail.ends_with("v2: hugetlb)"));
        // A hybrid machine with memory left to v2 still has all three.
        let split = cgroups_from(
            CgroupMode::Hybrid,
            "40 31 0:37 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,pids\n",
            "memory",
        );
        assert_eq!(interpret_cgroup_controllers(&split).status, Status::Ok);
    }

    #[test]
    fn a_controller_switched_off_at_boot_is_explained() {
        let mountinfo: String = MOUNTINFO_V1
            .lines()
            .filter(|line| !line.contains("memory"))
            .map(|line| format!("{line}\n"))
            .collect();
        let mut cgroups = cgroups_from(CgroupMode::V1, &mountinfo, "");
        cgroups.kernel = Some(parse_proc_cgroups(PROC_CGROUPS_MEMORY_DISABLED));
        let fact = interpret_cgroup_controllers(&cgroups);
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.starts_with("missing memory"));
        assert!(fix_of(&fact).contains("cgroup_disable=memory"), "{fact:?}");
    }

    #[test]
    fn proc_cgroups_is_parsed() {
        let kernel = parse_proc_cgroups(PROC_CGROUPS_MEMORY_DISABLED);
        assert_eq!(kernel.len(), 5);
        assert_eq!(
            kernel[3],
            KernelController {
                name: "memory".into(),
                hierarchy: 0,
                enabled: false
            }
        );
    }

    #[test]
    fn no_cgroups_at_all() {
        let cgroups = cgroups_from(CgroupMode::None, "", "");
        assert_eq!(interpret_cgroup_mode(&cgroups).status, Status::Missing);
        assert_eq!(
            interpret_cgroup_controllers(&cgroups).status,
            Status::Missing
        );
    }

    // --- Rootfs ---------------------------------------------------------

    #[test]
    fn rootfs_sources() {
        let busybox = interpret_rootfs(&Ok(Source::Busybox(PathBuf::from("/bin/busybox"))));
        assert_eq!(busybox.status, Status::Ok);
        let host = interpret_rootfs(&Ok(Source::HostPrograms(vec![PathBuf::from("/bin/sh")])));
        assert_eq!(host.status, Status::Ok);
        assert!(host.detail.contains("busybox-static"));
        let none = interpret_rootfs(&Err(RootfsError::NoSource));
        assert_eq!(none.status, Status::Missing);
        assert!(none
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("apt install busybox-static"));
    }

    // --- State directory -------------------------------------------------

    fn state_fs(noexec: bool, nodev: bool) -> StateDirFs {
        StateDirFs {
            dir: PathBuf::from("/var/lib/nslab"),
            examined: PathBuf::from("/var/lib/nslab"),
            noexec,
            nodev,
        }
    }

    #[test]
    fn a_noexec_state_directory_is_missing_with_two_fixes() {
        let fact = interpret_state_dir(&state_fs(true, true));
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.contains("noexec"), "{fact:?}");
        assert!(fix_of(&fact).contains("--state-dir"), "{fact:?}");
        assert!(fix_of(&fact).contains("remount,exec"), "{fact:?}");
    }

    #[test]
    fn nodev_alone_is_a_note_not_a_problem() {
        let fact = interpret_state_dir(&state_fs(false, true));
        assert_eq!(fact.status, Status::Ok);
        assert!(fact.detail.contains("nodev"), "{fact:?}");
        let plain = interpret_state_dir(&state_fs(false, false));
        assert_eq!(plain.status, Status::Ok);
        assert!(!plain.detail.contains("nodev"), "{plain:?}");
    }

    #[test]
    fn a_state_directory_not_made_yet_is_judged_by_its_parent() {
        let fact = interpret_state_dir(&StateDirFs {
            examined: PathBuf::from("/var/lib"),
            ..state_fs(false, false)
        });
        assert!(fact.detail.contains("not made yet"), "{fact:?}");
        assert!(fact.detail.contains("/var/lib)"), "{fact:?}");
    }

    #[test]
    fn the_nearest_existing_ancestor_stands_for_a_missing_directory() {
        let tmp = std::env::temp_dir();
        assert_eq!(nearest_existing(&tmp), tmp);
        assert_eq!(nearest_existing(&tmp.join("no-such/dir/here")), tmp);
        assert_eq!(
            nearest_existing(Path::new("no-such-relative-dir-8c1f/state")),
            PathBuf::from(".")
        );
    }

    // --- Mount and pivot_root -------------------------------------------

    #[test]
    fn pivot_einval_on_an_initramfs_root_says_boot_a_real_root() {
        let einval = PivotAttempt::Tried(Err((PIVOT_ROOT_STEP, Errno::EINVAL)));
        let fact = interpret_pivot(Path::new("/var/lib"), Some("rootfs"), einval);
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.contains("initramfs"), "{fact:?}");
        assert!(fix_of(&fact).contains("real root"), "{fact:?}");
        // The same errno on a root that is a real mount is another case.
        let other = interpret_pivot(Path::new("/var/lib"), Some("ext4"), einval);
        assert_eq!(other.status, Status::Missing);
        assert!(!other.detail.contains("initramfs"), "{other:?}");
        assert!(fix_of(&other).contains("--state-dir"), "{other:?}");
    }

    #[test]
    fn a_failed_bind_mount_names_its_step() {
        let fact = interpret_pivot(
            Path::new("/srv"),
            Some("ext4"),
            PivotAttempt::Tried(Err((2, Errno::EPERM))),
        );
        assert_eq!(fact.status, Status::Missing);
        assert!(
            fact.detail.starts_with("mount(DIR, DIR, NULL, MS_BIND"),
            "{fact:?}"
        );
        assert!(fact.detail.contains("EPERM"), "{fact:?}");
        assert!(fix_of(&fact).contains("container"), "{fact:?}");
    }

    #[test]
    fn pivot_without_root_is_untested_and_success_is_ok() {
        let dir = Path::new("/var/lib");
        assert_eq!(
            interpret_pivot(dir, None, PivotAttempt::NotRoot).status,
            Status::Untested
        );
        assert_eq!(
            interpret_pivot(dir, None, PivotAttempt::Tried(Ok(()))).status,
            Status::Ok
        );
    }

    #[test]
    fn the_root_file_system_type_comes_from_the_top_mount_on_slash() {
        assert_eq!(root_fs_type(MOUNTINFO_V2).as_deref(), Some("ext4"));
        let initramfs = "1 1 0:2 / / rw - rootfs rootfs rw\n\
                         20 1 0:20 / /proc rw - proc proc rw\n";
        assert_eq!(root_fs_type(initramfs).as_deref(), Some("rootfs"));
        let stacked = "1 1 0:2 / / rw - rootfs rootfs rw\n\
                       30 1 0:30 / / rw - tmpfs tmpfs rw\n";
        assert_eq!(root_fs_type(stacked).as_deref(), Some("tmpfs"));
        assert_eq!(root_fs_type(""), None);
    }

    // --- IPC ------------------------------------------------------------

    #[test]
    fn no_sysvipc_points_at_the_kernel_option() {
        assert_eq!(interpret_sysv_ipc(true).status, Status::Ok);
        let fact = interpret_sysv_ipc(false);
        assert_eq!(fact.status, Status::Missing);
        assert!(fix_of(&fact).contains("CONFIG_SYSVIPC"), "{fact:?}");
    }

    #[test]
    fn mqueue_from_proc_filesystems_and_from_mounting_it() {
        assert_eq!(interpret_mqueue(true, None).status, Status::Ok);
        assert_eq!(interpret_mqueue(true, Some(Ok(()))).status, Status::Ok);
        let absent = interpret_mqueue(false, None);
        assert_eq!(absent.status, Status::Missing);
        assert!(
            fix_of(&absent).contains("CONFIG_POSIX_MQUEUE"),
            "{absent:?}"
        );
        let unknown_fs = interpret_mqueue(false, Some(Err((2, Errno::ENODEV))));
        assert_eq!(unknown_fs.status, Status::Missing);
        assert!(unknown_fs.detail.contains("ENODEV"), "{unknown_fs:?}");
        assert!(fix_of(&unknown_fs).contains("CONFIG_POSIX_MQUEUE"));
        let refused = interpret_mqueue(true, Some(Err((2, Errno::EPERM))));
        assert_eq!(refused.status, Status::Missing);
        assert!(
            refused.detail.starts_with("mount(\"mqueue\""),
            "{refused:?}"
        );
        assert!(fix_of(&refused).contains("container"), "{refused:?}");
        assert!(filesystem_listed("nodev\tmqueue\n", "mqueue"));
    }

    // --- Verdicts -------------------------------------------------------

    fn healthy_root_machine() -> Facts {
        let cgroups = cgroups_from(CgroupMode::Hybrid, MOUNTINFO_HYBRID, "");
        Facts {
            root: interpret_root(Uid::from_raw(0)),
            rootfs: interpret_rootfs(&Ok(Source::Busybox(PathBuf::from("/bin/busybox")))),
            state_dir: interpret_state_dir(&state_fs(false, false)),
            pivot: interpret_pivot(
                Path::new("/var/lib"),
                Some("ext4"),
                PivotAttempt::Tried(Ok(())),
            ),
            namespaces: Namespace::ALL
                .iter()
                .map(|&k| {
                    (
                        k,
                        interpret_namespace(k, Some("x:[1]"), Attempt::AsRoot(Ok(()))),
                    )
                })
                .collect(),
            userns_sysctls: vec![
                interpret_max_user_namespaces(Some("100")),
                interpret_unprivileged_userns_clone(None),
                interpret_apparmor_restrict_userns(None),
            ],
            overlay: interpret_overlay(FILESYSTEMS_WITH_OVERLAY, None),
            cgroup_mode: interpret_cgroup_mode(&cgroups),
            cgroup_controllers: interpret_cgroup_controllers(&cgroups),
            sysv_ipc: interpret_sysv_ipc(true),
            mqueue: interpret_mqueue(true, Some(Ok(()))),
        }
    }

    /// Lessons still to come, with the needs they will have, to test the
    /// verdicts for facilities no lesson in [`LESSONS`] needs yet.
    const FUTURE_LESSONS: &[Lesson] = &[
        future(
            "07",
            "07-user",
            &[
                Need::Rootfs,
                Need::Ns(Namespace::User),
                Need::UnprivilegedUserns,
            ],
        ),
        future(
            "08",
            "08-cgroups",
            &[Need::Root, Need::Rootfs, Need::Cgroups],
        ),
        future("09", "09-union", &[Need::Root, Need::Rootfs, Need::Overlay]),
    ];

    const fn future(number: &'static str, binary: &'static str, needs: &'static [Need]) -> Lesson {
        Lesson {
            number,
            binary,
            title: "",
            needs,
            why_root: None,
            next: "",
        }
    }

    /// The lessons that would not run on `facts`.
    fn blocked<'a>(lessons: &'a [Lesson], facts: &Facts) -> Vec<&'a str> {
        lessons
            .iter()
            .filter(|l| verdict(l, facts) != Verdict::CanRun)
            .map(|l| l.binary)
            .collect()
    }

    #[test]
    fn a_healthy_machine_runs_every_lesson() {
        let facts = healthy_root_machine();
        assert!(all_can_run(&facts, LESSONS));
        assert!(all_can_run(&facts, FUTURE_LESSONS));
        colored::control::set_override(false);
        let report = render(&facts, LESSONS);
        assert!(report.contains("All 6 lessons can run"), "{report}");
    }

    #[test]
    fn the_report_gives_each_problem_its_fix_twice() {
        let mut facts = healthy_root_machine();
        facts.sysv_ipc = interpret_sysv_ipc(false);
        colored::control::set_override(false);
        let report = render(&facts, LESSONS);
        // Once under the machine fact, once under the one lesson it stops.
        assert_eq!(
            report
                .matches("fix: use a kernel built with CONFIG_SYSVIPC=y")
                .count(),
            2,
            "{report}"
        );
        assert!(
            report.contains("  ✗ 05-ipc         cannot run\n"),
            "{report}"
        );
        assert!(report.contains("1 of 6 lessons cannot run"), "{report}");
    }

    #[test]
    fn the_report_lists_exactly_the_lessons_of_the_manifest() {
        colored::control::set_override(false);
        let report = render(&healthy_root_machine(), LESSONS);
        let listed: Vec<&str> = report
            .lines()
            .filter_map(|line| line.strip_prefix("  ✓ "))
            .filter(|rest| rest.ends_with(" can run"))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        let manifest: Vec<&str> = LESSONS.iter().map(|l| l.binary).collect();
        assert_eq!(listed, manifest);
        assert_eq!(manifest.first(), Some(&"00-process"));
    }

    #[test]
    fn without_root_only_what_needs_no_root_runs() {
        let mut facts = healthy_root_machine();
        facts.root = interpret_root(Uid::from_raw(1000));
        facts.pivot = interpret_pivot(Path::new("/var/lib"), None, PivotAttempt::NotRoot);
        facts.mqueue = interpret_mqueue(true, None);
        facts.namespaces = Namespace::ALL
            .iter()
            .map(|&k| {
                (
                    k,
                    interpret_namespace(k, Some("x:[1]"), Attempt::Unprivileged(Ok(()))),
                )
            })
            .collect();
        // Lesson 00 needs nothing; every other lesson so far needs root.
        for lesson in LESSONS {
            assert_eq!(
                verdict(lesson, &facts) == Verdict::CanRun,
                lesson.binary == "00-process",
                "{}",
                lesson.binary
            );
        }
        assert!(!all_can_run(&facts, LESSONS));
        // The rootless lesson to come runs without root.
        assert_eq!(blocked(FUTURE_LESSONS, &facts), ["08-cgroups", "09-union"]);
    }

    #[test]
    fn untested_facts_never_become_cannot_run_on_their_own() {
        let mut facts = healthy_root_machine();
        facts.namespaces[3].1 =
            interpret_namespace(Namespace::Pid, Some("pid:[1]"), Attempt::NotTried);
        assert!(matches!(
            verdict(crate::manifest::lesson("02-pid"), &facts),
            Verdict::Unknown(_)
        ));
        assert_eq!(verdict(&LESSONS[0], &facts), Verdict::CanRun);

        let mut facts = healthy_root_machine();
        facts.pivot = interpret_pivot(Path::new("/var/lib"), None, PivotAttempt::NotRoot);
        assert!(matches!(
            verdict(crate::manifest::lesson("03-mount"), &facts),
            Verdict::Unknown(_)
        ));
        assert_eq!(blocked(LESSONS, &facts), ["03-mount", "04-uts", "05-ipc"]);
    }

    #[test]
    fn each_missing_facility_stops_exactly_the_lessons_that_need_it() {
        let mut facts = healthy_root_machine();
        facts.state_dir = interpret_state_dir(&state_fs(true, false));
        assert_eq!(
            blocked(LESSONS, &facts),
            ["01-chroot", "02-pid", "03-mount", "04-uts", "05-ipc"]
        );

        let mut facts = healthy_root_machine();
        facts.pivot = interpret_pivot(
            Path::new("/var/lib"),
            Some("rootfs"),
            PivotAttempt::Tried(Err((PIVOT_ROOT_STEP, Errno::EINVAL))),
        );
        assert_eq!(blocked(LESSONS, &facts), ["03-mount", "04-uts", "05-ipc"]);

        let mut facts = healthy_root_machine();
        facts.mqueue = interpret_mqueue(false, None);
        assert_eq!(blocked(LESSONS, &facts), ["05-ipc"]);

        let mut facts = healthy_root_machine();
        facts.overlay = interpret_overlay(FILESYSTEMS_WITHOUT_OVERLAY, None);
        assert!(
            all_can_run(&facts, LESSONS),
            "no lesson so far needs overlayfs"
        );
        assert_eq!(blocked(FUTURE_LESSONS, &facts), ["09-union"]);

        let mut facts = healthy_root_machine();
        facts.cgroup_controllers =
            interpret_cgroup_controllers(&cgroups_from(CgroupMode::None, "", ""));
        assert!(
            all_can_run(&facts, LESSONS),
            "no lesson so far needs cgroups"
        );
        assert_eq!(blocked(FUTURE_LESSONS, &facts), ["08-cgroups"]);

        let mut facts = healthy_root_machine();
        facts.userns_sysctls[1] = interpret_unprivileged_userns_clone(Some("0"));
        assert!(all_can_run(&facts, LESSONS));
        assert_eq!(blocked(FUTURE_LESSONS, &facts), ["07-user"]);
    }
}
