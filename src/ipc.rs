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
//! The demo makes one object of each kind on the host ([`HostObjects`]),
//! shows them from the host, and lets the container look for them. The
//! objects are removed when the lesson ends, whether or not the run went
//! well: [`HostObjects`] removes them when it is dropped.

use crate::mount::{self, MountError};
use crate::narrate;
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::mqueue::{mq_close, mq_open, mq_unlink, MQ_OFlag, MqAttr};
use nix::sys::stat::Mode;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The POSIX queue the demo creates inside the container, by name.
pub const INSIDE_QUEUE: &str = "/made-inside";

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
            _ => None,
        }
    }
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
    text.lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1)?.parse().ok())
        .collect()
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

/// The name of the POSIX queue the demo makes on the host: with the
/// lesson's PID, so that two runs at once do not collide.
pub fn host_queue_name() -> String {
    format!("/nslab-demo-{}", std::process::id())
}

/// One IPC object of each kind, made on the host by the lesson, and
/// removed when this value is dropped, even if the run failed on the way.
///
/// A forked or cloned child gets a copy of this value but never drops it:
/// children end with `_exit(2)` or `execve(2)`, which run no destructors.
#[derive(Debug)]
pub struct HostObjects {
    msqid: Option<i32>,
    shmid: Option<i32>,
    semid: Option<i32>,
    queue: Option<String>,
}

fn created(what: &'static str, call: String, result: libc::c_int) -> Result<i32, IpcError> {
    match Errno::result(result) {
        Ok(id) => {
            narrate::syscall(format!("{call} = {id}"));
            Ok(id)
        }
        Err(source) => {
            narrate::syscall(format!("{call} = -1 {source}"));
            Err(IpcError::Create { what, source })
        }
    }
}

impl HostObjects {
    /// Creates a message queue, a shared-memory segment, a semaphore set
    /// (msgget(2), shmget(2), semget(2)) and a POSIX message queue
    /// (mq_open(3)) in the caller's, the host's, IPC namespace.
    ///
    /// `IPC_PRIVATE` always makes a new object, with no key that another
    /// program could collide with; the id the kernel returns is its handle.
    // ANCHOR: create
    pub fn create() -> Result<Self, IpcError> {
        narrate::heading("IPC objects on the host");
        // Built up one by one: if a later step fails, dropping `objects`
        // removes the ones already made.
        let mut objects = HostObjects {
            msqid: None,
            shmid: None,
            semid: None,
            queue: None,
        };
        let flags = libc::IPC_CREAT | 0o600;
        // SAFETY (these three): plain system calls on integer arguments.
        objects.msqid = Some(created(
            "a message queue",
            "msgget(IPC_PRIVATE, IPC_CREAT | 0600)".into(),
            unsafe { libc::msgget(libc::IPC_PRIVATE, flags) },
        )?);
        objects.shmid = Some(created(
            "a shared-memory segment",
            "shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600)".into(),
            unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, flags) },
        )?);
        objects.semid = Some(created(
            "a semaphore set",
            "semget(IPC_PRIVATE, 1, IPC_CREAT | 0600)".into(),
            unsafe { libc::semget(libc::IPC_PRIVATE, 1, flags) },
        )?);

        let name = host_queue_name();
        narrate::syscall(format!(
            "mq_open({name:?}, O_CREAT | O_EXCL | O_RDWR, 0600, {{mq_maxmsg = 10, mq_msgsize = 64}})"
        ));
        let oflag = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR;
        // With O_CREAT, mq_open takes a mode and attributes (nix passes
        // neither when given None, and the kernel then reads garbage);
        // 10 messages of 64 bytes are within every default limit.
        let attr = MqAttr::new(0, 10, 64, 0);
        let queue = mq_open(
            name.as_str(),
            oflag,
            Mode::from_bits_truncate(0o600),
            Some(&attr),
        )
        .map_err(|source| IpcError::Create {
            what: "a POSIX message queue",
            source,
        })?;
        objects.queue = Some(name);
        // The queue lives until mq_unlink; the descriptor is not needed, and
        // must not be inherited by the container.
        narrate::syscall("mq_close(mqd)   # the queue itself stays until mq_unlink");
        let _ = mq_close(queue);
        Ok(objects)
    }
    // ANCHOR_END: create

    /// Shows, from the host, that the objects exist: the System V ones in
    /// `/proc/sysvipc/*`, the POSIX queue by opening it.
    pub fn show(&self) -> Result<(), IpcError> {
        narrate::file_op("read /proc/sysvipc/msg, /proc/sysvipc/shm, /proc/sysvipc/sem");
        let listed = |kind: &str, id: Option<i32>| -> Result<String, IpcError> {
            let Some(id) = id else {
                return Ok("none made".into());
            };
            Ok(if sysv_ids(kind)?.contains(&id) {
                format!("lists id {id}")
            } else {
                format!("does not list id {id}")
            })
        };
        narrate::observe("message queues", listed("msg", self.msqid)?);
        narrate::observe("shared memory", listed("shm", self.shmid)?);
        narrate::observe("semaphore sets", listed("sem", self.semid)?);
        if let Some(name) = &self.queue {
            narrate::observe("POSIX queue", describe_queue(name));
        }
        Ok(())
    }

    /// Removes every object still held, narrating each removal; the first
    /// error is returned, but every object is tried.
    pub fn remove(&mut self) -> Result<(), IpcError> {
        let mut first_error = None;
        let mut note = |result: Result<(), IpcError>| {
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        };
        // SAFETY (these three): IPC_RMID takes no buffer; NULL is allowed.
        if let Some(id) = self.msqid.take() {
            narrate::syscall(format!("msgctl({id}, IPC_RMID, NULL)"));
            note(removed("message queue", id, unsafe {
                libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut())
            }));
        }
        if let Some(id) = self.shmid.take() {
            narrate::syscall(format!("shmctl({id}, IPC_RMID, NULL)"));
            note(removed("shared-memory segment", id, unsafe {
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut())
            }));
        }
        if let Some(id) = self.semid.take() {
            narrate::syscall(format!("semctl({id}, 0, IPC_RMID)"));
            note(removed("semaphore set", id, unsafe {
                libc::semctl(id, 0, libc::IPC_RMID)
            }));
        }
        if let Some(name) = self.queue.take() {
            narrate::syscall(format!("mq_unlink({name:?})"));
            note(mq_unlink(name.as_str()).map_err(|source| IpcError::Remove {
                what: "POSIX message queue",
                id: name,
                source,
            }));
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn removed(what: &'static str, id: i32, result: libc::c_int) -> Result<(), IpcError> {
    Errno::result(result)
        .map(drop)
        .map_err(|source| IpcError::Remove {
            what,
            id: id.to_string(),
            source,
        })
}

impl Drop for HostObjects {
    fn drop(&mut self) {
        if let Err(error) = self.remove() {
            crate::report::print_error(&crate::Error::from(error));
        }
    }
}

/// Whether the caller's IPC namespace has a POSIX queue called `name`, as
/// a line for the learner: opening it read-only is the test.
pub fn describe_queue(name: &str) -> String {
    narrate::syscall(format!("mq_open({name:?}, O_RDONLY)"));
    match mq_open(name, MQ_OFlag::O_RDONLY, Mode::empty(), None) {
        Ok(queue) => {
            let _ = mq_close(queue);
            format!("{name} exists")
        }
        Err(errno) => format!("{name}: {errno}"),
    }
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

/// After the run: the queue made inside is not on the host, then the
/// host's objects are removed and the host's System V table compared with
/// `before`.
pub fn show_host_after(
    mut objects: HostObjects,
    before: &[(String, Vec<i32>)],
) -> Result<bool, IpcError> {
    narrate::heading("The host's IPC objects, after the run");
    narrate::observe("made-inside", describe_queue(INSIDE_QUEUE));
    narrate::explain(
        "the container's queue lived in the container's IPC namespace, and went away with it",
    );
    objects.remove()?;
    narrate::file_op("read /proc/sysvipc/msg, /proc/sysvipc/shm, /proc/sysvipc/sem");
    let same = sysv_snapshot()? == before;
    if same {
        narrate::success("the host's IPC objects are as they were before the lesson");
    } else {
        narrate::warning("the host's System V IPC objects differ from before the lesson: something else on this machine made or removed some meanwhile");
    }
    Ok(same)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysvipc_ids_are_the_second_column() {
        let text = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n\
                    \x20        0      32768   600           0          0     0     0     0     0     0     0          0          0 1700000000\n\
                    \x20 12345678          5   644           0          0     0     0     0     0     0     0          0          0 1700000000\n";
        assert_eq!(parse_sysv_ids(text), vec![32768, 5]);
        assert!(parse_sysv_ids("  key msqid\n").is_empty());
    }

    #[test]
    fn the_host_queue_name_is_a_valid_posix_name() {
        let name = host_queue_name();
        assert!(name.starts_with('/'));
        assert!(!name[1..].contains('/'));
    }
}
