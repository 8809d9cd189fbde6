//! Namespaces: the one list of kinds, and how to see them from outside.
//!
//! Every namespace kind appears once, as a [`Namespace`]: the flag that
//! creates it, the name of its `/proc/<pid>/ns/` link, the man page that
//! describes it. Process spawning, the observers, the doctor and the tests
//! all read these, so no namespace kind is ever spelled as a bare string.
//!
//! Every namespace has an identity: the link `/proc/<pid>/ns/<kind>` reads
//! `kind:[inode]`, and two processes share a namespace exactly when their
//! links read the same (namespaces(7)). The lessons use it to show, from
//! the host, that the child really is somewhere else.

pub mod probe;

use crate::narrate;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::fs;
use std::io;
use std::path::PathBuf;

/// A kind of namespace (namespaces(7)), in the order the doctor reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Namespace {
    /// Mount points (mount_namespaces(7)); lesson 03.
    Mnt,
    /// Hostname and NIS domain name (uts_namespaces(7)); lesson 04.
    Uts,
    /// System V IPC and POSIX message queues (ipc_namespaces(7)); lesson 05.
    Ipc,
    /// Process ids (pid_namespaces(7)); lesson 02.
    Pid,
    /// Network devices, addresses, routes, ports (network_namespaces(7)); lesson 06.
    Net,
    /// User and group ids, capabilities (user_namespaces(7)); lesson 07.
    User,
    /// The cgroup root a process sees (cgroup_namespaces(7)); lesson 08.
    Cgroup,
}

impl Namespace {
    /// Every kind, in the doctor's order.
    pub const ALL: [Namespace; 7] = [
        Namespace::Mnt,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Pid,
        Namespace::Net,
        Namespace::User,
        Namespace::Cgroup,
    ];

    /// The `CLONE_NEW*` flags by increasing value (sched.h), which is
    /// how narration lists them: the same set always reads the same.
    const FLAG_ORDER: [Namespace; 7] = [
        Namespace::Mnt,
        Namespace::Cgroup,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::User,
        Namespace::Pid,
        Namespace::Net,
    ];

    /// The kind's name under `/proc/<pid>/ns/` and in `/proc/sys/user/max_*`.
    pub fn name(self) -> &'static str {
        match self {
            Namespace::Mnt => "mnt",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Pid => "pid",
            Namespace::Net => "net",
            Namespace::User => "user",
            Namespace::Cgroup => "cgroup",
        }
    }

    /// The clone(2) / unshare(2) flag that creates one.
    pub fn flag(self) -> CloneFlags {
        match self {
            Namespace::Mnt => CloneFlags::CLONE_NEWNS,
            Namespace::Uts => CloneFlags::CLONE_NEWUTS,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
            Namespace::Pid => CloneFlags::CLONE_NEWPID,
            Namespace::Net => CloneFlags::CLONE_NEWNET,
            Namespace::User => CloneFlags::CLONE_NEWUSER,
            Namespace::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        }
    }

    /// The flag's name, as the man pages spell it.
    pub fn flag_name(self) -> &'static str {
        match self {
            // The mount namespace was the first one (2002), when nobody
            // expected others: hence NEWNS, not NEWMNT.
            Namespace::Mnt => "CLONE_NEWNS",
            Namespace::Uts => "CLONE_NEWUTS",
            Namespace::Ipc => "CLONE_NEWIPC",
            Namespace::Pid => "CLONE_NEWPID",
            Namespace::Net => "CLONE_NEWNET",
            Namespace::User => "CLONE_NEWUSER",
            Namespace::Cgroup => "CLONE_NEWCGROUP",
        }
    }

    /// The man page that describes this kind.
    pub fn man_page(self) -> &'static str {
        match self {
            Namespace::Mnt => "mount_namespaces(7)",
            Namespace::Uts => "uts_namespaces(7)",
            Namespace::Ipc => "ipc_namespaces(7)",
            Namespace::Pid => "pid_namespaces(7)",
            Namespace::Net => "network_namespaces(7)",
            Namespace::User => "user_namespaces(7)",
            Namespace::Cgroup => "cgroup_namespaces(7)",
        }
    }

    /// The kernel build option that provides it. Mount namespaces have
    /// none: they are always built in.
    pub fn kernel_option(self) -> Option<&'static str> {
        match self {
            Namespace::Mnt => None,
            Namespace::Uts => Some("CONFIG_UTS_NS"),
            Namespace::Ipc => Some("CONFIG_IPC_NS"),
            Namespace::Pid => Some("CONFIG_PID_NS"),
            Namespace::Net => Some("CONFIG_NET_NS"),
            Namespace::User => Some("CONFIG_USER_NS"),
            Namespace::Cgroup => Some("CONFIG_CGROUPS"),
        }
    }

    /// `pid namespace`: how reports and errors name it.
    pub fn label(self) -> String {
        format!("{} namespace", self.name())
    }

    /// The `/proc/<pid>/ns/<kind>` link of process `pid` (the caller's
    /// when `None`).
    pub fn link(self, pid: Option<Pid>) -> PathBuf {
        let who = pid.map_or("self".to_string(), |p| p.to_string());
        PathBuf::from(format!("/proc/{who}/ns/{}", self.name()))
    }
}

/// The clone flags that create every namespace in `kinds`.
pub fn clone_flags(kinds: &[Namespace]) -> CloneFlags {
    kinds
        .iter()
        .fold(CloneFlags::empty(), |flags, kind| flags | kind.flag())
}

/// The flag names of `kinds`, by increasing value: what narration prints.
pub fn flag_names(kinds: &[Namespace]) -> Vec<&'static str> {
    Namespace::FLAG_ORDER
        .iter()
        .filter(|kind| kinds.contains(kind))
        .map(|kind| kind.flag_name())
        .collect()
}

/// What can go wrong while looking at a process's namespaces.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// Reading a `/proc/<pid>/ns/<kind>` link failed.
    #[error("failed to read the namespace link {}", path.display())]
    ReadLink {
        /// The link.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Opening or joining (setns(2)) a namespace by path failed.
    #[error("failed to join the {} at {}", kind.label(), path.display())]
    Join {
        /// Its kind.
        kind: Namespace,
        /// The path given.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: nix::errno::Errno,
    },
}

impl NamespaceError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            NamespaceError::ReadLink { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                Some("the process may have exited already, or /proc is not mounted".into())
            }
            NamespaceError::ReadLink { .. } => None,
            NamespaceError::Join { .. } => Some(
                "the path must be a namespace of that kind, such as /proc/PID/ns/net of a running process".into(),
            ),
        }
    }
}

/// Joins the namespace of kind `kind` at `path` (a `/proc/PID/ns/…` link
/// or a bind mount of one) with setns(2): the runtime's
/// `linux.namespaces[].path`. The flag makes the kernel check the kind.
pub fn join(kind: Namespace, path: &std::path::Path) -> Result<(), NamespaceError> {
    let failed = |source| NamespaceError::Join {
        kind,
        path: path.to_path_buf(),
        source,
    };
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(failed)?;
    // SAFETY: the descriptor was just opened, and nothing else owns it.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    crate::narrate::syscall(format!(
        "setns(open({:?}), {:?})",
        path.display().to_string(),
        kind.flag()
    ));
    nix::sched::setns(fd, kind.flag()).map_err(failed)
}

/// The namespace of kind `kind` that process `pid` is in (the caller when
/// `None`), as `readlink` shows it: `pid:[4026531836]`.
pub fn id_of(pid: Option<Pid>, kind: Namespace) -> Result<String, NamespaceError> {
    let path = kind.link(pid);
    let link = fs::read_link(&path).map_err(|source| NamespaceError::ReadLink { path, source })?;
    Ok(link.display().to_string())
}

/// Shows, from the host, the host's namespace of kind `kind` next to the
/// child's, so the learner can see they differ.
// ANCHOR: observe
pub fn show_from_host(child: Pid, kind: Namespace) -> Result<(), NamespaceError> {
    narrate::file_op(format!("read {}", kind.link(Some(child)).display()));
    let name = kind.name();
    narrate::observe(format!("{name} namespace"), id_of(None, kind)?);
    narrate::observe(format!("child's {name} ns"), id_of(Some(child), kind)?);
    Ok(())
}
// ANCHOR_END: observe

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_flag_and_link() {
        let mut flags = CloneFlags::empty();
        for kind in Namespace::ALL {
            assert!(!flags.intersects(kind.flag()), "{kind:?} repeats a flag");
            flags |= kind.flag();
            assert!(
                kind.link(None).exists(),
                "{kind:?}: no {:?}",
                kind.link(None)
            );
        }
    }

    #[test]
    fn flags_are_named_in_the_order_of_their_values() {
        let kinds = [Namespace::Uts, Namespace::Pid, Namespace::Mnt];
        assert_eq!(
            flag_names(&kinds),
            ["CLONE_NEWNS", "CLONE_NEWUTS", "CLONE_NEWPID"]
        );
        assert_eq!(
            clone_flags(&kinds),
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUTS
        );
    }

    #[test]
    fn our_own_namespace_reads_like_readlink() {
        let id = id_of(None, Namespace::Pid).unwrap();
        assert!(id.starts_with("pid:["), "{id}");
    }
}
