//! What lesson 05 shows about the IPC namespace, and only the lesson.
//!
//! The demo makes one object of each kind on the host ([`HostObjects`]),
//! the System V ones under a key ([`key_for`]), and shows them from the
//! host. Inside, before the command, the child looks for them by key and by
//! id and finds nothing, then makes its own message queue under the same
//! key ([`HostObjects::look_from_inside`]): another process in the
//! container then finds that one, not the host's. The host's objects are
//! removed when the lesson ends, whether or not the run went well:
//! [`HostObjects`] removes them when it is dropped.
//!
//! The names it uses ([`KEY_TAG`], [`QUEUE_PREFIX`]) carry the lesson's
//! PID, so two runs at once never collide, and `nslab cleanup` can tell a
//! killed run's objects from other programs'.

use super::{hex_key, sysv_ids_with_key, sysv_snapshot, IpcError};
use crate::{narrate, syscall};
use nix::errno::Errno;
use nix::mqueue::{mq_close, mq_open, mq_unlink, MQ_OFlag, MqAttr};
use nix::sys::stat::Mode;

/// The POSIX queue the demo creates inside the container, by name.
pub const INSIDE_QUEUE: &str = "/made-inside";

/// The top byte of every System V key nslab uses, `'n'` (0x6e): how
/// `nslab cleanup` tells a killed lesson's leftovers from other programs'.
pub const KEY_TAG: i32 = 0x6e00_0000;

/// The System V key a lesson with PID `pid` uses: `0x6e00_0000 | pid`.
/// PIDs are below 2^22 (`pid_max`, see proc(5)), so they fit in the low
/// three bytes, and two runs at once never share a key.
pub fn key_for(pid: u32) -> i32 {
    KEY_TAG | (pid & 0xff_ffff) as i32
}

/// The POSIX queues the demo makes on the host are named this, then the
/// lesson's PID: `nslab cleanup` finds a killed run's by it.
pub const QUEUE_PREFIX: &str = "/nslab-demo-";

/// The name of the POSIX queue the demo makes on the host: with the
/// lesson's PID, so that two runs at once do not collide.
pub fn host_queue_name() -> String {
    format!("{QUEUE_PREFIX}{}", std::process::id())
}

/// The demo's shell script: [`crate::demo::IPC_INSIDE`], after a line that
/// sets `key` to `key` in decimal. Formatted into the script's text, as
/// execve(2) gives the command a fresh environment.
pub fn demo_script(key: i32) -> String {
    format!("key={key}\n{}", crate::demo::IPC_INSIDE)
}

/// One IPC object of each kind, made on the host by the lesson, and
/// removed when this value is dropped, even if the run failed on the way.
///
/// A forked or cloned child gets a copy of this value but never drops it:
/// children end with `_exit(2)` or `execve(2)`, which run no destructors.
#[derive(Debug)]
pub struct HostObjects {
    key: i32,
    msqid: Option<i32>,
    shmid: Option<i32>,
    semid: Option<i32>,
    queue: Option<String>,
}

/// Narrates a System V `*get` call on its return, `call = id`, and turns
/// its result into the id or an error (`IPC_EXCL`'s EEXIST into
/// [`IpcError::KeyInUse`]).
fn created(
    what: &'static str,
    key: i32,
    call: String,
    result: libc::c_int,
) -> Result<i32, IpcError> {
    match Errno::result(result) {
        Ok(id) => {
            narrate::returned(format!("{call} = {id}"));
            Ok(id)
        }
        Err(source) => {
            narrate::returned(format!("{call} = -1 {source:?}"));
            Err(match source {
                Errno::EEXIST => IpcError::KeyInUse { what, key },
                _ => IpcError::Create { what, source },
            })
        }
    }
}

impl HostObjects {
    /// Creates a message queue, a shared-memory segment, a semaphore set
    /// (msgget(2), shmget(2), semget(2)) and a POSIX message queue
    /// (mq_open(3)) in the caller's, the host's, IPC namespace.
    ///
    /// The System V objects get the key [`key_for`] this process: a key is
    /// how unrelated processes find the same object, and what the child
    /// will look up from inside. `IPC_EXCL` makes sure the objects are new,
    /// ours to remove: with a key already taken (by a killed run that had
    /// our PID), the call fails with EEXIST instead of handing back the old
    /// object.
    // ANCHOR: create
    pub fn create() -> Result<Self, IpcError> {
        narrate::heading("IPC objects on the host");
        let key = key_for(std::process::id());
        // Built up one by one: if a later step fails, dropping `objects`
        // removes the ones already made.
        let mut objects = HostObjects {
            key,
            msqid: None,
            shmid: None,
            semid: None,
            queue: None,
        };
        let flags = libc::IPC_CREAT | libc::IPC_EXCL | 0o600;
        let k = hex_key(key);
        // SAFETY (these three): plain system calls on integer arguments.
        objects.msqid = Some(created(
            "a message queue",
            key,
            format!("msgget({k}, IPC_CREAT | IPC_EXCL | 0600)"),
            unsafe { libc::msgget(key, flags) },
        )?);
        objects.shmid = Some(created(
            "a shared-memory segment",
            key,
            format!("shmget({k}, 4096, IPC_CREAT | IPC_EXCL | 0600)"),
            unsafe { libc::shmget(key, 4096, flags) },
        )?);
        objects.semid = Some(created(
            "a semaphore set",
            key,
            format!("semget({k}, 1, IPC_CREAT | IPC_EXCL | 0600)"),
            unsafe { libc::semget(key, 1, flags) },
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

    /// The key of the System V objects.
    pub fn key(&self) -> i32 {
        self.key
    }

    /// The message queue's id, while the lesson holds it.
    pub fn msqid(&self) -> Option<i32> {
        self.msqid
    }

    /// Shows, from the host, that the objects exist: the System V ones in
    /// `/proc/sysvipc/*`, found by their key, the POSIX queue by opening it.
    pub fn show(&self) -> Result<(), IpcError> {
        narrate::file_op("read /proc/sysvipc/msg, /proc/sysvipc/shm, /proc/sysvipc/sem");
        self.observe_by_key("")?;
        if let Some(name) = &self.queue {
            narrate::observe("POSIX queue", describe_queue(name));
        }
        Ok(())
    }

    /// One `host:` line per System V kind: which id the key finds in
    /// `/proc/sysvipc/<kind>`, against the id the lesson was given.
    /// `suffix` is added when they agree. Returns true when all agree.
    fn observe_by_key(&self, suffix: &str) -> Result<bool, IpcError> {
        let mut all_agree = true;
        for (kind, label, id) in [
            ("msg", "message queues", self.msqid),
            ("shm", "shared memory", self.shmid),
            ("sem", "semaphore sets", self.semid),
        ] {
            let Some(id) = id else { continue };
            let found = sysv_ids_with_key(kind, self.key)?;
            let k = hex_key(self.key);
            let line = match found[..] {
                [one] if one == id => format!("key {k} is id {id}{suffix}"),
                [] => {
                    all_agree = false;
                    format!("key {k} finds nothing (the lesson made id {id})")
                }
                _ => {
                    all_agree = false;
                    format!("key {k} is id {found:?}, not the lesson's id {id}")
                }
            };
            narrate::observe(label, line);
        }
        Ok(all_agree)
    }

    /// In the container's child, before `execve`: looks for the host's
    /// message queue by its key and by its id, and for the host's POSIX
    /// queue by its name, then makes the container's own queue under the
    /// same key. See ipc_namespaces(7): keys, ids and queue names are all
    /// looked up in the caller's IPC namespace.
    ///
    /// Each call is narrated on its return, with its result: the result is
    /// the lesson. A result other than the one the lesson expects is shown
    /// as it is, with a warning.
    // ANCHOR: inside
    pub fn look_from_inside(&self) -> Result<(), IpcError> {
        let k = hex_key(self.key);
        // SAFETY: a plain system call on integer arguments.
        let by_key = Errno::result(unsafe { libc::msgget(self.key, 0) });
        expect_failure(
            format!("msgget({k}, 0)"),
            by_key,
            Errno::ENOENT,
            "the key names nothing in this IPC namespace",
        );
        if let Some(id) = self.msqid {
            // SAFETY: IPC_STAT writes one msqid_ds into `buf`, which is
            // ours and big enough; IPC_RMID takes no buffer.
            let mut buf: libc::msqid_ds = unsafe { std::mem::zeroed() };
            let stat = Errno::result(unsafe { libc::msgctl(id, libc::IPC_STAT, &mut buf) });
            expect_failure(
                format!("msgctl({id}, IPC_STAT, &buf)"),
                stat,
                Errno::EINVAL,
                "",
            );
            let rmid =
                Errno::result(unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) });
            expect_failure(
                format!("msgctl({id}, IPC_RMID, NULL)"),
                rmid,
                Errno::EINVAL,
                "the host's id means nothing here: the container can neither read the host's queue nor remove it",
            );
        }
        if let Some(name) = &self.queue {
            let call = format!("mq_open({name:?}, O_RDONLY)");
            match mq_open(name.as_str(), MQ_OFlag::O_RDONLY, Mode::empty(), None) {
                Ok(queue) => {
                    let _ = mq_close(queue);
                    narrate::returned(format!("{call} = mqd"));
                    narrate::warning("the host's POSIX queue is open to the container");
                }
                Err(errno) => {
                    narrate::returned(format!("{call} = -1 {errno:?}"));
                    if errno == Errno::ENOENT {
                        narrate::explain("the host's POSIX queue name means nothing here either");
                    }
                }
            }
        }
        // No IPC_EXCL: if the key found something, this shows what.
        // SAFETY: a plain system call on integer arguments.
        let result = unsafe { libc::msgget(self.key, libc::IPC_CREAT | 0o600) };
        let call = format!("msgget({k}, IPC_CREAT | 0600)");
        let id = match Errno::result(result) {
            Ok(id) => id,
            Err(source) => {
                narrate::returned(format!("{call} = -1 {source:?}"));
                return Err(IpcError::CreateInside {
                    key: self.key,
                    source,
                });
            }
        };
        narrate::returned(format!("{call} = {id}"));
        // Each IPC namespace numbers its objects from the start, so the
        // first queue since boot on the host and the container's first
        // have the same number.
        if Some(id) == self.msqid {
            narrate::explain("the same key now names a different object, the container's; its id is the host's number too, by chance: each IPC namespace counts its own");
        } else {
            narrate::explain(
                "the same key now names a different object, the container's, with an id of its own",
            );
        }
        Ok(())
    }
    // ANCHOR_END: inside

    /// Removes every object still held, narrating each removal; the first
    /// error is returned, but every object is tried.
    pub fn remove(&mut self) -> Result<(), IpcError> {
        let mut first_error = None;
        let mut note = |result: Result<(), IpcError>| {
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        };
        if let Some(id) = self.msqid.take() {
            note(removed("message queue", id, syscall::msgctl_rmid(id)));
        }
        if let Some(id) = self.shmid.take() {
            note(removed(
                "shared-memory segment",
                id,
                syscall::shmctl_rmid(id),
            ));
        }
        if let Some(id) = self.semid.take() {
            note(removed("semaphore set", id, syscall::semctl_rmid(id)));
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

fn removed(what: &'static str, id: i32, result: Result<(), Errno>) -> Result<(), IpcError> {
    result.map_err(|source| IpcError::Remove {
        what,
        id: id.to_string(),
        source,
    })
}

/// Narrates a call made from inside to reach a host object, on its return,
/// and explains a failure with `expected`; anything else is shown as it is.
fn expect_failure(call: String, result: Result<libc::c_int, Errno>, expected: Errno, why: &str) {
    match result {
        Err(errno) => {
            narrate::returned(format!("{call} = -1 {errno:?}"));
            if errno == expected && !why.is_empty() {
                narrate::explain(why);
            }
        }
        Ok(value) => {
            narrate::returned(format!("{call} = {value}"));
            narrate::warning("the container reached an object of the host's");
        }
    }
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

/// After the run, from the host: the host's System V objects still have
/// their key and their ids, and the host's POSIX queue is still there;
/// after the demo (`demo_ran`), the container's `/made-inside` queue is
/// not on the host. Then the host's objects are removed and the host's
/// System V tables compared with `before`. Returns true when every check
/// held.
///
/// Only what was checked is said: after a command of the learner's, the
/// lesson does not know what the container made.
pub fn show_host_after(
    mut objects: HostObjects,
    before: &[(String, Vec<i32>)],
    demo_ran: bool,
) -> Result<bool, IpcError> {
    narrate::heading("The host's IPC objects, after the run");
    narrate::file_op("read /proc/sysvipc/msg, /proc/sysvipc/shm, /proc/sysvipc/sem");
    let mut held = objects.observe_by_key(", as before the run")?;
    if let Some(name) = &objects.queue {
        let line = describe_queue(name);
        held &= line.ends_with("exists");
        narrate::observe("POSIX queue", line);
    }
    if demo_ran {
        narrate::observe("made-inside", describe_queue(INSIDE_QUEUE));
        // Checked: the host's table above lists one queue with the key,
        // its own, and /made-inside is not the host's. Not checked, and
        // not claimed: that the container's namespace is gone (a process
        // that joined it with setns(2) would keep it alive); nothing on
        // the host can look into it.
        narrate::explain(format!(
            "neither the container's queue with key {} nor its /made-inside is on the host:\n\
             they lived in the container's IPC namespace, whose objects are destroyed\n\
             when its last process ends (ipc_namespaces(7))",
            hex_key(objects.key)
        ));
    }
    objects.remove()?;
    narrate::file_op("read /proc/sysvipc/msg, /proc/sysvipc/shm, /proc/sysvipc/sem");
    let same = sysv_snapshot()? == before;
    if same {
        narrate::success("the host's System V IPC objects are as they were before the lesson");
    } else {
        narrate::warning("the host's System V IPC objects differ from before the lesson: something else on this machine made or removed some meanwhile");
    }
    Ok(held && same)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_tag_and_the_pid() {
        assert_eq!(key_for(0x1234), 0x6e00_1234);
        assert_eq!(key_for(4_194_304), 0x6e40_0000);
        assert_eq!(hex_key(key_for(42)), "0x6e00002a");
    }

    #[test]
    fn the_host_queue_name_is_a_valid_posix_name() {
        let name = host_queue_name();
        assert!(name.starts_with('/'));
        assert!(!name[1..].contains('/'));
    }
}
