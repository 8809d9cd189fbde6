//! Namespaces seen from outside, through `/proc/<pid>/ns/<kind>`.
//!
//! Every namespace has an identity: the link `/proc/<pid>/ns/<kind>` reads
//! `kind:[inode]`, and two processes share a namespace exactly when their
//! links read the same (namespaces(7)). The lessons use it to show, from
//! the host, that the child really is somewhere else.

use crate::narrate;
use nix::unistd::Pid;
use std::fs;
use std::io;
use std::path::PathBuf;

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
}

/// The namespace of kind `kind` (`pid`, `mnt`, `uts`, `ipc`, …) that
/// process `pid` is in (the caller when `None`), as `readlink` shows it:
/// `pid:[4026531836]`.
pub fn id_of(pid: Option<Pid>, kind: &str) -> Result<String, NamespaceError> {
    let who = pid.map_or("self".to_string(), |p| p.to_string());
    let path = PathBuf::from(format!("/proc/{who}/ns/{kind}"));
    let link = fs::read_link(&path).map_err(|source| NamespaceError::ReadLink { path, source })?;
    Ok(link.display().to_string())
}

/// Shows, from the host, the host's namespace of kind `kind` next to the
/// child's, so the learner can see they differ.
// ANCHOR: observe
pub fn show_from_host(child: Pid, kind: &str) -> Result<(), NamespaceError> {
    narrate::file_op(format!("read /proc/{child}/ns/{kind}"));
    narrate::observe(format!("{kind} namespace"), id_of(None, kind)?);
    narrate::observe(format!("child's {kind} ns"), id_of(Some(child), kind)?);
    Ok(())
}
// ANCHOR_END: observe
