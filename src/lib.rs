//! # nslab: a container runtime, one kernel facility at a time
//!
//! A container is an ordinary process started with a set of *namespaces*
//! (what it can see) inside *cgroups* (what it can use), with a root
//! filesystem of its own. Each lesson binary in `lessons/` adds one of those
//! facilities to the previous lesson; this library holds the code that does
//! the work, one module per facility, so a lesson file stays short.
//!
//! # Layout
//!
//! | module | lesson | what it teaches |
//! |---|---|---|
//! | [`process`] | 00-process | fork/clone + execve + waitpid: a container starts as a process |
//! | [`rootfs`] | 01-chroot | the default root filesystem, built offline from the host |
//! | [`chroot`] | 01-chroot | chroot(2), and the classic escape from it |
//! | [`namespace`] | 02 on | namespaces seen from the host: `/proc/<pid>/ns/<kind>` |
//! | [`pid`] | 02-pid | the PID namespace: PID 1, and two PIDs for one process |
//! | [`mount`] | 03-mount | the mount namespace: private propagation, pivot_root, fresh /proc /dev /sys /tmp |
//! | [`uts`] | 04-uts | the UTS namespace: a hostname and domainname of its own |
//! | [`ipc`] | 05-ipc | the IPC namespace: System V and POSIX IPC objects the host cannot share |
//! | [`leftovers`] | nslab cleanup | what a killed lesson leaves behind, found by name and removed |
//! | [`doctor`] | nslab doctor | probes every facility, then a per-lesson verdict with the fix |
//!
//! Shared pieces: [`narrate`] prints every kernel call as it is made,
//! [`lesson`] holds the command-line options and `main` every lesson shares,
//! [`demo`] the built-in demonstrations, [`report`] prints errors with hints.

#![warn(missing_docs)]

pub mod chroot;
pub mod demo;
pub mod doctor;
pub mod ipc;
pub mod leftovers;
pub mod lesson;
pub mod mount;
pub mod namespace;
pub mod narrate;
pub mod pid;
pub mod process;
pub mod report;
pub mod rootfs;
pub mod uts;

/// Any error a lesson can end with: one variant per module, each keeping
/// the module's own error (and its causes) intact for [`report`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lesson was started without root privileges.
    #[error("{lesson} needs root: it {why}")]
    NotRoot {
        /// The lesson's binary name.
        lesson: String,
        /// What it does that needs root.
        why: &'static str,
    },
    /// From [`process`].
    #[error(transparent)]
    Process(#[from] process::ProcessError),
    /// From [`rootfs`].
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    /// From [`chroot`].
    #[error(transparent)]
    Chroot(#[from] chroot::ChrootError),
    /// From [`namespace`].
    #[error(transparent)]
    Namespace(#[from] namespace::NamespaceError),
    /// From [`pid`].
    #[error(transparent)]
    Pid(#[from] pid::PidError),
    /// From [`mount`].
    #[error(transparent)]
    Mount(#[from] mount::MountError),
    /// From [`uts`].
    #[error(transparent)]
    Uts(#[from] uts::UtsError),
    /// From [`ipc`].
    #[error(transparent)]
    Ipc(#[from] ipc::IpcError),
}

impl Error {
    /// The exit status a lesson ends with when this error stops it.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Process(e) => e.exit_code(),
            _ => process::EXIT_SETUP_FAILED,
        }
    }
}
