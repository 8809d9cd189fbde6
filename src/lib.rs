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
//! | [`spec`] | 03 on | the container, described once: namespaces, root, mounts, names, command |
//! | [`start`] | 00 on | the one start sequence that runs a spec, parent side and child side |
//! | [`process`] | 00-process | fork/clone + execve + waitpid: a container starts as a process |
//! | [`signals`] | 00-process | the container dies with the lesson, and starts with clean signals |
//! | [`rootfs`] | 01-chroot | the default root filesystem, built offline from the host |
//! | [`chroot`] | 01-chroot | chroot(2), and the classic escape from it |
//! | [`namespace`] | 02 on | the namespace kinds, and how to see them from the host: `/proc/<pid>/ns/<kind>` |
//! | [`pid`] | 02-pid | the PID namespace: PID 1, and two PIDs for one process |
//! | [`mount`] | 03-mount | the mount namespace: private propagation, pivot_root, fresh /proc /dev /sys /tmp |
//! | [`uts`] | 04-uts | the UTS namespace: a hostname and domainname of its own |
//! | [`ipc`] | 05-ipc | the IPC namespace: System V and POSIX IPC objects the host cannot share |
//! | [`record`] | 06 on | named running containers: a record under the run directory, written atomically, stale ones recognised |
//! | [`net`] | 06-net | the network namespace: none, host, bridge (veth pair, bridge, leases), container:NAME |
//! | [`user`] | 07-user | the user namespace: id maps, the handshake, root inside as an ordinary user outside |
//! | [`cgroup`] | 08-cgroups | cgroups v1 and v2 behind one interface: limits, joining, counters, the cgroup namespace |
//! | [`init_layer`] | 10-init-layer | the files made for one container: /etc/hostname, /etc/hosts, /etc/resolv.conf |
//! | [`overlay`] | 09-union | overlayfs: read-only layers, the container's own writable one, copy-up and whiteouts |
//! | [`leftovers`] | nslab cleanup | what a killed lesson leaves behind, found by name and removed |
//! | [`probe`] | nslab doctor | what every facility's `probe` submodule shares: a fact, found without changing the host |
//! | [`doctor`] | nslab doctor | gathers each facility's probe, then a per-lesson verdict with the fix |
//! | [`runtime`] | 12 (nslab) | the OCI runtime: runc's command line on the same spec and start sequence |
//! | [`engine`] | 12 (nslab) | a small docker above the runtime: images, run, ps, logs, exec, stop, rm, commit |
//! | [`tiny_init`] | 12 (nslab run --init) | a PID 1 that reaps orphans and forwards signals |
//!
//! Shared pieces: [`narrate`] prints every kernel call as it is made, and
//! [`syscall`] holds the narrated calls, each defined once; [`manifest`]
//! lists the lessons; [`lesson`] holds the command-line options and `main`
//! every lesson shares; [`demo`] the built-in demonstrations; [`report`]
//! prints errors with hints.

#![warn(missing_docs)]

// The lessons use namespaces, mounts and system calls that only Linux has.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "nslab runs on Linux only: it creates Linux namespaces and mounts. \
     See book/src/setup.md, \"Not on Linux?\", for how to get a Linux VM."
);

pub mod cgroup;
pub mod chroot;
pub mod demo;
pub mod doctor;
pub mod engine;
pub mod init_layer;
pub mod ipc;
pub mod leftovers;
pub mod lesson;
pub mod lockdown;
pub mod manifest;
pub mod mount;
pub mod namespace;
pub mod narrate;
pub mod net;
pub mod overlay;
pub mod pid;
pub mod probe;
pub mod process;
pub mod record;
pub mod report;
pub mod rootfs;
pub mod runtime;
pub mod signals;
pub mod spec;
pub mod start;
pub mod syscall;
pub mod sysctl;
pub mod terminal;
pub mod tiny_init;
pub mod user;
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
    /// From [`spec`].
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    /// From [`net`].
    #[error(transparent)]
    Net(#[from] net::NetError),
    /// From [`record`].
    #[error(transparent)]
    Record(#[from] record::RecordError),
    /// From [`user`].
    #[error(transparent)]
    User(#[from] user::UserError),
    /// From [`cgroup`].
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupError),
    /// From [`overlay`].
    #[error(transparent)]
    Overlay(#[from] overlay::OverlayError),
    /// From [`init_layer`].
    #[error(transparent)]
    InitLayer(#[from] init_layer::InitLayerError),
    /// From [`lockdown`].
    #[error(transparent)]
    Lockdown(#[from] lockdown::LockdownError),
    /// From [`terminal`].
    #[error(transparent)]
    Terminal(#[from] terminal::TerminalError),
    /// From [`sysctl`].
    #[error(transparent)]
    Sysctl(#[from] sysctl::SysctlError),
    /// An error the container's child met before `execve`, reported to
    /// the parent (see [`report`]).
    #[error("{0}")]
    Child(report::Report),
}

impl Error {
    /// The exit status a lesson ends with when this error stops it.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Process(e) => e.exit_code(),
            Error::Child(report) => report.code,
            _ => process::EXIT_SETUP_FAILED,
        }
    }

    /// What to do about it: each module's error knows its own hint; where
    /// it has none, a telling errno anywhere in the chain gives one.
    pub fn hint(&self) -> Option<String> {
        let own = match self {
            Error::NotRoot { lesson, .. } => Some(format!(
                "run it with sudo, e.g. `sudo target/debug/{lesson}`; `nslab doctor` shows what this machine supports"
            )),
            Error::Process(e) => e.hint(),
            Error::Rootfs(e) => e.hint(),
            Error::Namespace(e) => e.hint(),
            Error::Mount(e) => e.hint(),
            Error::Ipc(e) => e.hint(),
            Error::Spec(e) => e.hint(),
            Error::Net(e) => e.hint(),
            Error::Record(e) => e.hint(),
            Error::User(e) => e.hint(),
            Error::Cgroup(e) => e.hint(),
            Error::Overlay(e) => e.hint(),
            Error::InitLayer(e) => e.hint(),
            Error::Lockdown(e) => e.hint(),
            Error::Sysctl(_) | Error::Terminal(_) => None,
            Error::Child(report) => report.hint.clone(),
            Error::Chroot(_) | Error::Pid(_) | Error::Uts(_) => None,
        };
        own.or_else(|| errno_hint(self))
    }
}

/// The advice for the first EPERM or EINVAL in `error`'s chain of causes.
fn errno_hint(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(inner) = cause {
        match inner.downcast_ref::<nix::errno::Errno>() {
            Some(nix::errno::Errno::EPERM) => {
                return Some(
                    "the kernel refused: run as root, and check `sudo nslab doctor` for what this machine allows"
                        .into(),
                )
            }
            Some(nix::errno::Errno::EINVAL) => {
                return Some(
                    "the kernel rejected an argument: `nslab doctor` checks for missing features"
                        .into(),
                )
            }
            _ => cause = inner.source(),
        }
    }
    None
}
