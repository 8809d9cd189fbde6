//! What every probe shares: a [`Fact`] about this machine, and ways to
//! find one out without changing the machine.
//!
//! Each facility module keeps its own probe beside its mechanism
//! ([`crate::namespace::probe`], [`crate::mount::probe`],
//! [`crate::ipc::probe`], [`crate::rootfs::probe`], [`crate::user::probe`],
//! [`crate::cgroup::probe`], [`crate::overlay::probe`]): the lesson or
//! runtime that needs the knowledge finds it where the facility lives, and
//! `nslab doctor` ([`crate::doctor`]) only gathers the facts and judges
//! each lesson by them.
//!
//! Two rules shape every probe:
//!
//! - **Probe features, never compare kernel version numbers.** Distributions
//!   backport features into old kernels and build new kernels without some,
//!   so a version number proves nothing. A namespace is checked by creating
//!   one, a file system by asking the kernel which ones it knows.
//! - **Probing and interpreting are separate.** Each probe is a small
//!   function that reads a file or makes one system call; what the result
//!   *means* is decided by a pure `interpret_…` function that takes the
//!   file's text or the call's result. The pure functions are unit-tested
//!   with the files of other machines (`machines` in the tests: cgroup
//!   v1, v2, hybrid, user namespaces switched off), without root and
//!   without those machines.
//!
//! A probe that changes anything does it in a forked child
//! (`run_steps_in_child`, `probe_unshare`), in namespaces that die with
//! the child, and in a directory of its own (`ProbeDir`).

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::sys::statfs::{statfs, FsType};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe, read, write, ForkResult};
use std::ffi::CString;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What can go wrong while probing. A failed probe does not stop the
/// doctor: the fact it was probing is reported as "could not test", with
/// this error as the reason.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
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
    /// A fact that is good news.
    pub fn ok(label: impl Into<String>, detail: impl Into<String>) -> Fact {
        Fact {
            label: label.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A fact that is bad news, with what to do about it.
    pub fn missing(
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

    /// A fact that could not be tested, with how to test it.
    pub fn untested(
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
    pub fn probe_failed(label: impl Into<String>, error: &ProbeError) -> Fact {
        Fact::untested(
            label,
            format!("could not test: {}", error_chain(error)),
            "see the error; `sudo nslab doctor` tests everything it can",
        )
    }
}

/// Formats an error and its causes on one line: `outer: inner: innermost`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let _ = write!(text, ": {inner}");
        cause = inner.source();
    }
    text
}

/// An errno the way the man pages write it: `EPERM (Operation not permitted)`.
pub(crate) fn errno_text(errno: Errno) -> String {
    format!("{errno:?} ({})", errno.desc())
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
pub(crate) fn probe_unshare(
    flags: CloneFlags,
    call: &str,
) -> Result<Result<(), Errno>, ProbeError> {
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
            Ok(status) => Err(ProbeError::ProbeChild {
                call: call.to_string(),
                status,
            }),
            Err(source) => Err(ProbeError::Wait {
                call: call.to_string(),
                source,
            }),
        },
        Err(source) => Err(ProbeError::Fork {
            call: call.to_string(),
            source,
        }),
    }
}

/// Reads a small file; `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, ProbeError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ProbeError::ReadFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

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

/// statfs(2) of a directory: its file system type, `None` when it does not exist.
pub(crate) fn probe_fs_type(path: &str) -> Result<Option<FsType>, ProbeError> {
    match statfs(path) {
        Ok(stat) => Ok(Some(stat.filesystem_type())),
        Err(Errno::ENOENT) => Ok(None),
        Err(source) => Err(ProbeError::Statfs {
            path: PathBuf::from(path),
            source,
        }),
    }
}

/// A step of a probe that failed: which one (its index in the probe's list
/// of steps) and what the kernel said.
pub(crate) type StepFailure = (usize, Errno);

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
pub(crate) fn run_steps_in_child(
    call: &str,
    steps: impl FnOnce() -> Result<(), StepFailure>,
) -> Result<Result<(), StepFailure>, ProbeError> {
    let (read_end, write_end) = pipe().map_err(|source| ProbeError::Pipe {
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
            let status = waitpid(child, None).map_err(|source| ProbeError::Wait {
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
                status => Err(ProbeError::ProbeChild {
                    call: call.to_string(),
                    status,
                }),
            }
        }
        Err(source) => Err(ProbeError::Fork {
            call: call.to_string(),
            source,
        }),
    }
}

/// The result of a step, as [`run_steps_in_child`] wants it.
pub(crate) fn step<T>(index: usize, result: nix::Result<T>) -> Result<(), StepFailure> {
    result.map(drop).map_err(|errno| (index, errno))
}

/// An empty directory a probe works in, made by the doctor and removed by
/// it with rmdir(2) (never a recursive delete: if a mount were still on
/// it, rmdir would refuse instead of deleting through it).
pub(crate) struct ProbeDir {
    path: PathBuf,
    /// Subdirectories the probe child may make, removed first.
    inner: &'static [&'static str],
}

impl ProbeDir {
    /// Makes `<parent>/.nslab-doctor-<what>-<pid>`.
    pub(crate) fn create(
        parent: &Path,
        what: &str,
        inner: &'static [&'static str],
    ) -> Result<ProbeDir, ProbeError> {
        let path = parent.join(format!(".nslab-doctor-{what}-{}", std::process::id()));
        fs::create_dir(&path).map_err(|source| ProbeError::CreateProbeDir {
            path: path.clone(),
            source,
        })?;
        Ok(ProbeDir { path, inner })
    }

    /// The path as a C string, made before the fork (see [`run_steps_in_child`]).
    pub(crate) fn c_path(&self) -> Result<CString, ProbeError> {
        CString::new(self.path.as_os_str().as_bytes()).map_err(|_| ProbeError::CreateProbeDir {
            path: self.path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "the path holds a NUL byte"),
        })
    }

    /// Removes the directory, and what the child made in it. The child's
    /// mounts died with its mount namespace, so all of it is empty.
    pub(crate) fn remove(self) -> Result<(), ProbeError> {
        for name in self.inner {
            let inner = self.path.join(name);
            match fs::remove_dir(&inner) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ProbeError::RemoveProbeDir {
                        path: inner,
                        source,
                    })
                }
            }
        }
        fs::remove_dir(&self.path).map_err(|source| ProbeError::RemoveProbeDir {
            path: self.path.clone(),
            source,
        })
    }
}

/// The fix a fact suggests, or "" when it has none (for tests' asserts).
#[cfg(test)]
pub(crate) fn fix_of(fact: &Fact) -> &str {
    fact.fix.as_deref().unwrap_or("")
}

/// The files of other machines, as the probes would read them there.
#[cfg(test)]
pub(crate) mod machines {
    use crate::cgroup::probe::Cgroups;
    use crate::cgroup::{v1_hierarchies, v2_controllers, CgroupMode};

    /// /proc/filesystems of a machine with overlayfs loaded (abridged).
    pub const FILESYSTEMS_WITH_OVERLAY: &str =
        "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\n\text4\nnodev\toverlay\n";
    /// The same, before the overlay module is loaded.
    pub const FILESYSTEMS_WITHOUT_OVERLAY: &str =
        "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\n\text4\n";
    /// A modules.dep with overlay built as a compressed module.
    pub const MODULES_DEP_WITH_OVERLAY: &str = "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz\n\
         kernel/fs/overlayfs/overlay.ko.xz:\nkernel/net/bridge/bridge.ko.xz: kernel/net/802/stp.ko.xz\n";

    /// mountinfo of a pure cgroup v2 machine (Debian 12, Fedora, Ubuntu 22.04+).
    pub const MOUNTINFO_V2: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
26 24 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    /// The v2 root's cgroup.controllers there.
    pub const CONTROLLERS_V2: &str = "cpuset cpu io memory hugetlb pids rdma misc\n";

    /// mountinfo of a pure cgroup v1 machine (CentOS 7 style: cpu and
    /// cpuacct share a hierarchy, plus systemd's named one).
    pub const MOUNTINFO_V1: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
25 24 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:5 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,cpu,cpuacct
30 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,memory
31 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,pids
32 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpuset,clone_children
";

    /// mountinfo of this project's CI machine: hybrid.
    pub const MOUNTINFO_HYBRID: &str = "\
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
    pub const PROC_CGROUPS_MEMORY_DISABLED: &str = "\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t5\t1\t1
cpu\t2\t60\t1
cpuacct\t2\t60\t1
memory\t0\t60\t0
pids\t4\t65\t1
";

    pub fn cgroups_from(mode: CgroupMode, mountinfo: &str, v2: &str) -> Cgroups {
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
}
