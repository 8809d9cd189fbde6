//! Lesson 05: the IPC namespace.
//!
//! Processes can talk through kernel objects that are found by a number or
//! a name rather than through the file system: System V message queues,
//! shared-memory segments and semaphore sets (sysvipc(7)), and POSIX
//! message queues (mq_overview(7)). Each IPC namespace has its own set of
//! them (ipc_namespaces(7)): a child cloned with `CLONE_NEWIPC` starts
//! with none, cannot reach the host's by their ids or names, and whatever
//! it creates disappears when the namespace does.
//!
//! This module is the mechanism, what the runtime needs too: the
//! namespace itself comes from the clone flag, so all a container adds is
//! [`mount_mqueue`], a `/dev/mqueue` that shows its own POSIX queues; and
//! reading `/proc/sysvipc`, which shows the System V objects of the
//! reader's namespace ([`sysv_ids`]). [`demo`] holds what only the lesson
//! shows: objects made on the host and looked for from inside.

pub mod demo;
pub mod probe;

use crate::mount::{self, MountError};
use crate::narrate;
use nix::errno::Errno;
use nix::mount::MsFlags;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The three kinds of System V IPC object, as `/proc/sysvipc` names them.
pub const SYSV_KINDS: &[&str] = &["msg", "shm", "sem"];

/// What can go wrong while creating, showing or removing IPC objects.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    /// msgget(2), shmget(2), semget(2) or mq_open(3) failed.
    #[error("failed to create {what} on the host")]
    Create {
        /// "a message queue", …
        what: &'static str,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// msgget(2), shmget(2) or semget(2) with `IPC_EXCL` found an object
    /// with the lesson's key already there.
    #[error("the key {} already names {what} on the host", hex_key(*key))]
    KeyInUse {
        /// "a message queue", …
        what: &'static str,
        /// The key.
        key: i32,
    },
    /// The child could not make its own message queue under the key.
    #[error("failed to create the container's message queue with key {}", hex_key(*key))]
    CreateInside {
        /// The key.
        key: i32,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// Removing an object failed.
    #[error("failed to remove {what} {id} from the host")]
    Remove {
        /// "message queue", …
        what: &'static str,
        /// Its id or name.
        id: String,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// Reading `/proc/sysvipc/*` or a namespace link failed.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Mounting the container's mqueue file system failed.
    #[error("failed to mount the container's POSIX message queue file system")]
    MountMqueue(#[source] MountError),
}

impl IpcError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            IpcError::MountMqueue(_) | IpcError::Create { source: Errno::ENOSYS, .. } => Some(
                "this kernel may lack POSIX message queues (CONFIG_POSIX_MQUEUE) or System V IPC (CONFIG_SYSVIPC); `nslab doctor` checks both".into(),
            ),
            IpcError::KeyInUse { what, key } => Some(format!(
                "most likely a run of this lesson that had the same PID was killed before it could clean up: \
                 `sudo nslab cleanup` removes what it left, or `sudo ipcrm -{flag} {k}` removes this one",
                flag = match *what {
                    "a shared-memory segment" => 'M',
                    "a semaphore set" => 'S',
                    _ => 'Q',
                },
                k = hex_key(*key)
            )),
            _ => None,
        }
    }
}

/// A key written the way ipcs(1) writes it: `0x6e001f2a`.
pub fn hex_key(key: i32) -> String {
    format!("0x{key:08x}")
}

/// The System V ids listed in `/proc/sysvipc/<kind>` for the reader's IPC
/// namespace (the second column of each line after the header).
pub fn sysv_ids(kind: &str) -> Result<Vec<i32>, IpcError> {
    let path = PathBuf::from(format!("/proc/sysvipc/{kind}"));
    let text = fs::read_to_string(&path).map_err(|source| IpcError::Read { path, source })?;
    Ok(parse_sysv_ids(&text))
}

/// Extracts the ids from the text of a `/proc/sysvipc/*` file.
pub fn parse_sysv_ids(text: &str) -> Vec<i32> {
    parse_sysv_keys(text)
        .into_iter()
        .map(|(_, id)| id)
        .collect()
}

/// Extracts `(key, id)` pairs from the text of a `/proc/sysvipc/*` file:
/// its first two columns, the key in decimal.
pub fn parse_sysv_keys(text: &str) -> Vec<(i32, i32)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut columns = line.split_whitespace();
            let key = columns.next()?.parse().ok()?;
            let id = columns.next()?.parse().ok()?;
            Some((key, id))
        })
        .collect()
}

/// The ids of the objects of `kind` with key `key` in the reader's IPC
/// namespace, as `/proc/sysvipc/<kind>` lists them.
pub fn sysv_ids_with_key(kind: &str, key: i32) -> Result<Vec<i32>, IpcError> {
    let path = PathBuf::from(format!("/proc/sysvipc/{kind}"));
    let text = fs::read_to_string(&path).map_err(|source| IpcError::Read { path, source })?;
    Ok(parse_sysv_keys(&text)
        .into_iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, id)| id)
        .collect())
}

/// Every System V id the caller's IPC namespace holds, by kind: what the
/// lesson compares before and after a run.
pub fn sysv_snapshot() -> Result<Vec<(String, Vec<i32>)>, IpcError> {
    SYSV_KINDS
        .iter()
        .map(|kind| {
            let mut ids = sysv_ids(kind)?;
            ids.sort();
            Ok((kind.to_string(), ids))
        })
        .collect()
}

/// Mounts a fresh mqueue file system on `/dev/mqueue`, in the child.
/// See mq_overview(7).
///
/// Like a procfs and its PID namespace, an mqueue file system shows the
/// POSIX queues of the IPC namespace of the process that mounted it; the
/// host's (if it has one mounted) would show the host's queues. Mount it
/// after `/dev`, which is a fresh tmpfs.
// ANCHOR: mqueue
pub fn mount_mqueue() -> Result<(), IpcError> {
    let target = Path::new("/dev/mqueue");
    mount::mkdir(target, 0o755).map_err(IpcError::MountMqueue)?;
    mount::mount(
        "an mqueue file system",
        Some("mqueue"),
        target,
        Some("mqueue"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )
    .map_err(IpcError::MountMqueue)?;
    narrate::explain("it lists the POSIX queues of our IPC namespace: none yet");
    Ok(())
}
// ANCHOR_END: mqueue

#[cfg(test)]
mod tests {
    use super::*;
    use demo::key_for;

    #[test]
    fn sysvipc_ids_are_the_second_column() {
        let text = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n\
                    \x20        0      32768   600           0          0     0     0     0     0     0     0          0          0 1700000000\n\
                    \x20 12345678          5   644           0          0     0     0     0     0     0     0          0          0 1700000000\n";
        assert_eq!(parse_sysv_ids(text), vec![32768, 5]);
        assert!(parse_sysv_ids("  key msqid\n").is_empty());
    }

    #[test]
    fn sysvipc_keys_are_the_first_column() {
        let text = "       key      msqid perms\n\
                    \x20        0      32768   600\n\
                    \x201845501234          5   644\n";
        assert_eq!(parse_sysv_keys(text), vec![(0, 32768), (1845501234, 5)]);
    }

    #[test]
    fn a_key_in_use_says_which_and_how_to_remove_it() {
        let error = IpcError::KeyInUse {
            what: "a message queue",
            key: key_for(42),
        };
        assert_eq!(
            error.to_string(),
            "the key 0x6e00002a already names a message queue on the host"
        );
        let hint = error.hint().unwrap();
        assert!(hint.contains("nslab cleanup") && hint.contains("ipcrm -Q 0x6e00002a"));
    }
}
