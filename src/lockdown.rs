//! Lesson 11's facility: the lockdown, what a production runtime takes
//! away from root inside once the container is assembled.
//!
//! Namespaces change what a container sees and cgroups what it uses, but a
//! container started by root without a user namespace is still run by the
//! host's root: every capability, every system call, every file in
//! `/proc`. Docker, runc, crun and youki all close that gap with the same
//! handful of facilities, each a layer of its own:
//!
//! - [`paths`]: the `/proc` and `/sys` files a container has no business
//!   reading are masked, the kernel's knobs made read-only;
//! - the **device cgroup** ([`crate::cgroup::devices`]): only the standard
//!   device nodes may be opened, so a node made for the host's disk is
//!   useless;
//! - [`capabilities`]: root's powers cut to the short list a service needs;
//! - **no_new_privs** ([`no_new_privs`]): no program run from here on gains
//!   privileges, not through a setuid bit nor file capabilities;
//! - [`seccomp`]: the system calls no container needs answer `EPERM`.
//!
//! The order is the lesson: see [`crate::start`]'s child steps and
//! chapter 11. Masking needs `mount`, so it comes while the container
//! still has `CAP_SYS_ADMIN`; capabilities go once nothing needs them;
//! no_new_privs comes before seccomp, because without `CAP_SYS_ADMIN` the
//! kernel accepts a filter only from a process that can gain nothing by
//! exec (seccomp(2), "EACCES"); and the filter is installed last, just
//! before `execve`, because it would refuse the setup's own calls.

pub mod capabilities;
pub mod escapes;
pub mod kit;
pub mod paths;
pub(crate) mod probe;
pub mod seccomp;

use crate::narrate;
use capabilities::Capabilities;

/// What lesson 11 takes away, as part of a [`crate::spec::Spec`]; each
/// layer can be left open to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockdown {
    /// The capabilities root inside keeps, in every set but inheritable.
    pub capabilities: Capabilities,
    /// Set `PR_SET_NO_NEW_PRIVS` before `execve`.
    pub no_new_privs: bool,
    /// Install the default seccomp filter (`--seccomp unconfined` leaves
    /// it out).
    pub seccomp: bool,
    /// Paths hidden: `/dev/null` over a file, an empty read-only tmpfs
    /// over a directory ([`paths::MASKED`] by default).
    pub masked: Vec<std::path::PathBuf>,
    /// Paths made read-only ([`paths::READ_ONLY`] by default).
    pub read_only: Vec<std::path::PathBuf>,
}

impl Default for Lockdown {
    /// Everything locked, with docker's default capabilities.
    fn default() -> Lockdown {
        Lockdown {
            capabilities: Capabilities::default(),
            no_new_privs: true,
            seccomp: true,
            masked: paths::MASKED.iter().map(Into::into).collect(),
            read_only: paths::READ_ONLY.iter().map(Into::into).collect(),
        }
    }
}

/// A step of the lockdown that failed.
#[derive(Debug, thiserror::Error)]
pub enum LockdownError {
    /// A `--cap-add` or `--cap-drop` name that is no capability.
    #[error("unknown capability {name:?} in {flag}")]
    UnknownCapability {
        /// The flag.
        flag: &'static str,
        /// The name given.
        name: String,
    },
    /// Reading or changing a capability set failed.
    #[error("failed to {step}")]
    Capabilities {
        /// What was being done.
        step: String,
        /// The cause.
        #[source]
        source: caps::errors::CapsError,
    },
    /// prctl(PR_SET_NO_NEW_PRIVS) failed.
    #[error("failed to set no_new_privs")]
    NoNewPrivs(#[source] nix::errno::Errno),
    /// The seccomp filter could not be compiled.
    #[error("failed to compile the seccomp filter")]
    CompileFilter(#[source] seccompiler::BackendError),
    /// The seccomp filter could not be installed.
    #[error("failed to install the seccomp filter")]
    InstallFilter(#[source] seccompiler::Error),
    /// seccomp on an architecture the filter does not know.
    #[error("no seccomp filter for this architecture ({arch})")]
    Architecture {
        /// `std::env::consts::ARCH`.
        arch: &'static str,
    },
    /// Masking a path or making it read-only failed.
    #[error("failed to {step} {}", path.display())]
    Path {
        /// What was being done.
        step: &'static str,
        /// The path.
        path: std::path::PathBuf,
        /// The kernel's answer.
        #[source]
        source: nix::errno::Errno,
    },
    /// The demo asked for with a network that is not the container's own.
    #[error("the demo remounts /sys, and with --net {network} that is the host's sysfs")]
    DemoNetwork {
        /// The mode given.
        network: String,
    },
    /// Building the escape corpus's layer failed.
    #[error("failed to {step} {}", path.display())]
    Kit {
        /// What was being done.
        step: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl LockdownError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            LockdownError::UnknownCapability { .. } => Some(format!(
                "use a name from capabilities(7), with or without CAP_, in any case (net_admin, CAP_SYS_TIME), or ALL; this kernel knows: {}",
                capabilities::known_names().join(" ")
            )),
            LockdownError::DemoNetwork { .. } => {
                Some("use --net none or bridge, or give a command after --".into())
            }
            LockdownError::InstallFilter(_) => Some(
                "without CAP_SYS_ADMIN the kernel takes a filter only after prctl(PR_SET_NO_NEW_PRIVS): keep no_new_privs on".into(),
            ),
            _ => None,
        }
    }
}

/// Sets `PR_SET_NO_NEW_PRIVS`: from now on `execve` never grants more
/// privileges than the caller has, not through a setuid or setgid bit
/// nor through file capabilities (prctl(2); the flag is inherited by
/// children and cannot be unset). It also lets a process without
/// `CAP_SYS_ADMIN` install a seccomp filter.
// ANCHOR: no_new_privs
pub fn no_new_privs() -> Result<(), LockdownError> {
    narrate::syscall("prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)");
    nix::sys::prctl::set_no_new_privs().map_err(LockdownError::NoNewPrivs)
}
// ANCHOR_END: no_new_privs
