//! Kernel settings that belong to the container's own namespaces: a
//! config.json's `linux.sysctl`, written under `/proc/sys` before it is
//! made read-only.
//!
//! Most of `/proc/sys` is the whole machine's; only some settings are kept
//! per namespace: the network's (`net.*`, per network namespace), System V
//! IPC's and POSIX queues' (`kernel.shm*`, `kernel.msg*`, `kernel.sem`,
//! `fs.mqueue.*`, per IPC namespace). Those are the ones runc accepts, and
//! nslab too: writing another would change the host.

use crate::namespace::Namespace;
use crate::narrate;
use std::path::PathBuf;

/// A setting that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// A setting no namespace of the container's owns.
    #[error("sysctl {name} is not kept per namespace: writing it would change the host")]
    NotNamespaced {
        /// Its name.
        name: String,
    },
    /// A namespaced setting, without the namespace that owns it.
    #[error("sysctl {name} needs a new {}, and the container shares the host's", needed.label())]
    SharedNamespace {
        /// Its name.
        name: String,
        /// The namespace it belongs to.
        needed: Namespace,
    },
    /// Writing the file failed.
    #[error("failed to write {value:?} into {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The value.
        value: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The namespace that owns setting `name`, if any.
pub fn owner(name: &str) -> Option<Namespace> {
    let ipc = [
        "kernel.shmmax",
        "kernel.shmall",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let ipc_prefix = ["kernel.msg", "fs.mqueue."];
    if name.starts_with("net.") {
        Some(Namespace::Net)
    } else if ipc.contains(&name)
        || name == "kernel.sem"
        || ipc_prefix.iter().any(|p| name.starts_with(p))
    {
        Some(Namespace::Ipc)
    } else {
        None
    }
}

/// Checks that `name` belongs to one of `namespaces` (the container's new
/// ones), before anything is created.
pub fn check(name: &str, namespaces: &[Namespace]) -> Result<(), SysctlError> {
    match owner(name) {
        None => Err(SysctlError::NotNamespaced { name: name.into() }),
        Some(needed) if !namespaces.contains(&needed) => Err(SysctlError::SharedNamespace {
            name: name.into(),
            needed,
        }),
        Some(_) => Ok(()),
    }
}

/// Writes `value` into the setting `name` (`net.ipv4.ip_forward` is
/// `/proc/sys/net/ipv4/ip_forward`), in the container's `/proc`.
pub fn write(name: &str, value: &str) -> Result<(), SysctlError> {
    let path = PathBuf::from("/proc/sys").join(name.replace('.', "/"));
    narrate::file_op(format!(
        "write {} <- {value:?}   # sysctl {name}",
        path.display()
    ));
    std::fs::write(&path, value).map_err(|source| SysctlError::Write {
        path,
        value: value.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_settings_of_new_namespaces_pass() {
        let new = [Namespace::Net, Namespace::Ipc];
        assert!(check("net.ipv4.ip_forward", &new).is_ok());
        assert!(check("kernel.msgmax", &new).is_ok());
        assert!(check("fs.mqueue.queues_max", &new).is_ok());
        assert!(matches!(
            check("kernel.core_pattern", &new),
            Err(SysctlError::NotNamespaced { .. })
        ));
        assert!(matches!(
            check("net.core.somaxconn", &[Namespace::Ipc]),
            Err(SysctlError::SharedNamespace { .. })
        ));
    }
}
