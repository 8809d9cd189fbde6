//! `nslab cleanup`: finding and removing what a killed lesson left behind.
//!
//! A lesson cleans up after itself when it ends, fails, or is interrupted.
//! Killed with SIGKILL it cannot: its container dies with it, but what it
//! made on the host stays. Every such object is named so that it can be
//! recognised later, and, where that is possible, carries the PID of the
//! lesson that made it; a leftover is one whose lesson is gone:
//!
//! | leftover | how it is recognised | removed with |
//! |---|---|---|
//! | mount | mount point below the state directory | `umount2(2)`, deepest first |
//! | System V IPC object | key `0x6e00_0000 \| PID` (top byte `'n'`) | `msgctl`/`shmctl`/`semctl(IPC_RMID)` |
//! | POSIX message queue | `/nslab-demo-<PID>` | `mq_unlink(3)` |
//! | `.old-root` in a rootfs | exists while nobody holds the rootfs's `flock(2)` | `rmdir(2)` |
//! | escape directory | `<rootfs>/.nslab-escape-<PID>` (or the older `.nslab-escape`) | `rmdir(2)` |
//! | rootfs staging directory | `<state>/.rootfs.building-<PID>`, `<state>/.rootfs.old-<PID>` | a tree removal that stops at mounts |
//! | container record (06) | `<run>/containers/<name>.json` whose lesson and container are gone | [`record::remove_if_stale`] |
//! | address lease (06) | `<run>/net/leases/<N>` whose lesson is gone | `unlink(2)`, under the lease lock |
//! | host veth end (06) | `nslab<N>h` whose lease `<N>` is stale or absent | `ip link del`, under the lease lock |
//! | bridge (06) | `nslab0` while no lease is held by a running lesson | `ip link del`, under the lease lock |
//!
//! A PID is gone when `kill(PID, 0)` answers `ESRCH` (kill(2)). A mount
//! carries no PID: one that a lesson still running made below the state
//! directory counts too, so run the cleanup when no lesson is running.
//!
//! Lesson 06's leftovers are judged by a *run directory* (`<run>` above,
//! [`record::DEFAULT_RUN_DIR`] by default): its records and leases say
//! which lessons are running, and so which of the `nslab` devices in the
//! caller's network namespace are in use. A lesson started with another
//! run directory is invisible there: its devices would look unused. Devices
//! are therefore judged only where the run directory has a lease directory
//! (every lesson 06 that made a device made one first), and
//! `nslab cleanup --run-dir DIR` must name the directory the lessons used.
//!
//! [`find`] and [`find_network`] only look, and print nothing: lessons call
//! [`warn_if_any`] (and lesson 06 [`warn_if_any_network`]) at start.
//! [`cleanup`] is the body of `nslab cleanup`, and narrates each removal as
//! it makes it.

use crate::net::lease::{self, Leases};
use crate::net::netlink::{Netlink, NetlinkError};
use crate::net::{self, NetError};
use crate::record::{self, RecordError};
use crate::{chroot, ipc, narrate, rootfs, syscall};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::cmp::Reverse;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Where `pivot_root` puts the old root inside a rootfs (lessons 03 on).
use crate::mount::OLD_ROOT;

/// The chroot escape directory of lesson 01 before it had a PID in its name.
const ESCAPE: &str = ".nslab-escape";

/// The three kinds of System V IPC object. See sysvipc(7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysvKind {
    /// A message queue: msgget(2).
    Msg,
    /// A shared-memory segment: shmget(2).
    Shm,
    /// A semaphore set: semget(2).
    Sem,
}

impl SysvKind {
    const ALL: [SysvKind; 3] = [SysvKind::Msg, SysvKind::Shm, SysvKind::Sem];

    /// The file in `/proc/sysvipc` that lists objects of this kind.
    fn proc_file(self) -> PathBuf {
        let name = match self {
            SysvKind::Msg => "msg",
            SysvKind::Shm => "shm",
            SysvKind::Sem => "sem",
        };
        Path::new("/proc/sysvipc").join(name)
    }
}

impl fmt::Display for SysvKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SysvKind::Msg => "message queue",
            SysvKind::Shm => "shared-memory segment",
            SysvKind::Sem => "semaphore set",
        })
    }
}

/// One thing a killed lesson left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// A mount below the state directory.
    Mount(PathBuf),
    /// A System V IPC object whose key names a PID that is gone.
    SysV {
        /// Which kind of object.
        kind: SysvKind,
        /// Its key: `0x6e00_0000 | PID`.
        key: i32,
        /// Its id, the handle `*ctl(2)` takes.
        id: i32,
    },
    /// A POSIX message queue, by name (`/nslab-demo-<PID>`).
    Queue(String),
    /// A `.old-root` directory in a rootfs nobody is pivoting into.
    OldRoot(PathBuf),
    /// A chroot escape directory in a rootfs.
    EscapeDir(PathBuf),
    /// A half-built or half-replaced rootfs in the state directory.
    Staging(PathBuf),
    /// Lesson 07's demo volume (`.nslab-volume-<PID>`) or lesson 09's
    /// container layer (`.nslab-overlay-<PID>`) of a run that is gone.
    Volume(PathBuf),
    /// Lesson 08's cgroup (`nslab/<PID>` in a cgroup tree) of a run that is
    /// gone.
    Cgroup(PathBuf),
    /// A container record (or a temporary file of one) under
    /// `<run_dir>/containers` whose lesson and container are gone.
    Record(PathBuf),
    /// An address lease, `<run_dir>/net/leases/<N>`, whose lesson is gone.
    Lease(PathBuf),
    /// A network device in the caller's network namespace that no running
    /// lesson uses: the bridge [`net::BRIDGE`] while no lease is held, or
    /// the host end `nslab<N>h` of a veth pair whose lease is stale or
    /// absent.
    Link {
        /// The device's name.
        name: String,
        /// The run directory whose leases say whether it is in use.
        run_dir: PathBuf,
    },
    /// The bridge's bookkeeping, `<run_dir>/net` (its lock and lease
    /// directory), with no running lesson's lease in it.
    NetState(PathBuf),
}

/// What can go wrong while looking for or removing leftovers.
#[derive(Debug, thiserror::Error)]
pub enum LeftoversError {
    /// Reading `/proc/self/mountinfo`, `/proc/sysvipc/*` or a directory failed.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Listing the POSIX message queues failed.
    #[error("failed to list the POSIX message queues: could not {step}")]
    ListQueues {
        /// "create a mount point", "unshare a mount namespace", …
        step: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `flock(2)` on a rootfs failed.
    #[error("failed to lock the rootfs {}", path.display())]
    Lock {
        /// The rootfs.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A lesson holds the rootfs's lock: its `.old-root` is in use.
    #[error("the rootfs {} is in use: a running lesson holds its lock", path.display())]
    InUse {
        /// The rootfs.
        path: PathBuf,
    },
    /// `umount2(2)` failed.
    #[error("failed to unmount {}", path.display())]
    Unmount {
        /// The mount point.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// `msgctl`, `shmctl` or `semctl(IPC_RMID)` failed.
    #[error("failed to remove the System V {kind} {id}")]
    RemoveSysv {
        /// Which kind of object.
        kind: SysvKind,
        /// Its id.
        id: i32,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// `mq_unlink(3)` failed.
    #[error("failed to remove the POSIX message queue {name}")]
    RemoveQueue {
        /// The queue's name.
        name: String,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// Removing a file or directory failed.
    #[error("failed to remove {}", path.display())]
    Remove {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Removing a staging tree failed, or was refused (see
    /// [`rootfs::remove_tree`]).
    #[error(transparent)]
    RemoveTree(#[from] rootfs::RootfsError),
    /// Removing a stale container record failed.
    #[error("failed to remove the container record {}", path.display())]
    RemoveRecord {
        /// The record.
        path: PathBuf,
        /// The cause.
        #[source]
        source: RecordError,
    },
    /// Taking the lease lock, which guards the leases and the bridge, failed.
    #[error("failed to lock the address leases under {}", run_dir.display())]
    LockLeases {
        /// The run directory.
        run_dir: PathBuf,
        /// The cause.
        #[source]
        source: NetError,
    },
    /// Removing the bridge's lock and lease directory failed.
    #[error("failed to remove {}", path.display())]
    RemoveNetState {
        /// `<run_dir>/net`.
        path: PathBuf,
        /// The cause.
        #[source]
        source: NetError,
    },
    /// Listing the network devices over rtnetlink failed.
    #[error("failed to list the network devices")]
    ListLinks(#[source] NetlinkError),
    /// Removing a network device over rtnetlink failed.
    #[error("failed to remove the network device {name}")]
    RemoveLink {
        /// The device.
        name: String,
        /// The cause.
        #[source]
        source: NetlinkError,
    },
    /// Looked at again under its lock, a leftover was in use: a lesson
    /// started since it was found, and it is kept.
    #[error("kept the {what}: a lesson started using it since it was found")]
    NowInUse {
        /// What it is: "bridge nslab0", "address lease PATH", …
        what: String,
    },
}

impl LeftoversError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            LeftoversError::Read { source, .. }
            | LeftoversError::Lock { source, .. }
            | LeftoversError::Remove { source, .. }
                if source.kind() == io::ErrorKind::PermissionDenied =>
            {
                Some("nslab cleanup needs root: run it with sudo".into())
            }
            LeftoversError::InUse { .. } | LeftoversError::NowInUse { .. } => {
                Some("a lesson is running: run `sudo nslab cleanup` again once it has ended".into())
            }
            LeftoversError::RemoveTree(e) => e.hint(),
            LeftoversError::RemoveRecord { source, .. } => source.hint(),
            LeftoversError::LockLeases { source, .. }
            | LeftoversError::RemoveNetState { source, .. } => source.hint(),
            LeftoversError::ListLinks(source) | LeftoversError::RemoveLink { source, .. } => {
                source.hint()
            }
            _ => None,
        }
    }
}

/// Everything killed lessons left behind, in the order it must be removed:
/// mounts first (deepest first), so that no directory is removed while
/// something is mounted in it.
///
/// `state_dir` is the lessons' state directory; its `rootfs` is checked for
/// `.old-root` and escape directories, and so is each of `extra_rootfs`
/// (rootfs directories given with `--rootfs`). Mounts below an extra rootfs
/// are not counted: it may be any directory, even one with the host's own
/// mounts under it.
pub fn find(state_dir: &Path, extra_rootfs: &[PathBuf]) -> Result<Vec<Leftover>, LeftoversError> {
    // Twice, keeping what both looks found: a lesson that ends between
    // listing its queue and the check of its PID has removed the queue,
    // and must not be reported as killed (twenty runs at once do this).
    // What is still there after its PID was found gone can no longer be
    // removed by its owner: that is a real leftover.
    let mut found = find_once(state_dir, extra_rootfs)?;
    let again = find_once(state_dir, extra_rootfs)?;
    found.retain(|leftover| again.contains(leftover));
    Ok(found)
}

/// One look for leftovers; see [`find`].
fn find_once(state_dir: &Path, extra_rootfs: &[PathBuf]) -> Result<Vec<Leftover>, LeftoversError> {
    let mut found = Vec::new();
    // Compared with mount points, which the kernel shows without symlinks.
    let state = fs::canonicalize(state_dir).ok();
    if let Some(state) = &state {
        // The engine's containers' roots (`containers/ID/rootfs`) are the
        // engine's to unmount (`nslab rm`): a running container's is not a
        // leftover, and cleanup must never pull it from under it.
        let engine = state.join("containers");
        let below = mount_points()?
            .into_iter()
            .filter(|point| point.starts_with(state) && point != state)
            .filter(|point| !point.starts_with(&engine));
        found.extend(below.map(Leftover::Mount));
    }
    found.extend(sysv_leftovers()?);
    found.extend(
        queues()?
            .into_iter()
            .filter(|name| pid_after(name, ipc::demo::QUEUE_PREFIX).is_some_and(gone))
            .map(Leftover::Queue),
    );
    let default_rootfs = state.iter().map(|s| s.join("rootfs"));
    let mut rootfs_dirs: Vec<PathBuf> = Vec::new();
    for dir in default_rootfs.chain(extra_rootfs.iter().cloned()) {
        match fs::canonicalize(dir) {
            Ok(dir) if !rootfs_dirs.contains(&dir) => rootfs_dirs.push(dir),
            _ => {} // not there (yet), or listed already
        }
    }
    for rootfs in &rootfs_dirs {
        found.extend(rootfs_leftovers(rootfs)?);
    }
    if let Some(state) = &state {
        found.extend(staging_leftovers(state));
    }
    found.extend(cgroup_leftovers(Path::new(crate::cgroup::CGROUP_ROOT)));
    Ok(found)
}

/// Lesson 08's cgroups under `root` (`/sys/fs/cgroup`) whose lesson is
/// gone: `nslab/<PID>` in the v2 tree at `root`, or in any v1 tree below
/// it (`root/memory/nslab/<PID>`…).
fn cgroup_leftovers(root: &Path) -> Vec<Leftover> {
    let parent = crate::cgroup::group::PARENT;
    let mut parents = vec![root.join(parent)];
    parents.extend(
        fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|tree| tree.path().join(parent)),
    );
    let mut found = Vec::new();
    for dir in parents.into_iter().filter(|d| is_dir(d)) {
        for name in dir_names(&dir).unwrap_or_default() {
            let dead = name.parse::<i32>().is_ok_and(gone);
            if dead && is_dir(&dir.join(&name)) {
                found.push(Leftover::Cgroup(dir.join(name)));
            }
        }
    }
    found
}

/// Kills what is left in a killed run's cgroup, waits for it to empty,
/// and removes it, then nslab's parent if no other container uses it.
fn remove_cgroup(dir: &Path) -> Result<(), LeftoversError> {
    let procs = dir.join("cgroup.procs");
    let pids = || {
        fs::read_to_string(&procs)
            .map(|t| {
                t.lines()
                    .filter_map(|l| l.parse::<i32>().ok())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    for pid in pids() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !pids().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    fs::remove_dir(dir).map_err(|source| LeftoversError::Remove {
        path: dir.to_path_buf(),
        source,
    })?;
    if let Some(parent) = dir.parent() {
        let _ = fs::remove_dir(parent);
    }
    Ok(())
}

/// Lesson 06's leftovers for the run directory `run_dir`, in the order
/// they must be removed: stale container records, host veth ends whose
/// lease is stale or absent (before their leases, so that no lesson takes
/// a freed address while its old device is still there), stale leases,
/// and last the bridge, if no running lesson holds a lease.
///
/// Devices are looked for in the caller's network namespace, and only
/// when `<run_dir>/net/leases` exists: without it there is nothing to
/// judge them by (see the module's docs). Reading the leases needs root.
pub fn find_network(run_dir: &Path) -> Result<Vec<Leftover>, LeftoversError> {
    // Twice, as in `find`: a lesson that ends between two reads here (its
    // record removed, its lease given back, its bridge deleted) must not
    // be reported as killed.
    let mut found = find_network_once(run_dir)?;
    let again = find_network_once(run_dir)?;
    found.retain(|leftover| again.contains(leftover));
    Ok(found)
}

/// One look for lesson 06's leftovers; see [`find_network`].
fn find_network_once(run_dir: &Path) -> Result<Vec<Leftover>, LeftoversError> {
    let mut found: Vec<Leftover> = record::stale_records(run_dir)
        .into_iter()
        .map(Leftover::Record)
        .collect();
    let mut bridge = None;
    if is_dir(&leases_dir(run_dir)) {
        // Devices first, leases second: a lesson takes its lease before it
        // makes its devices, so a device seen here has its lease seen
        // below, unless its lesson is ending (which the second look sees).
        let links = nslab_links()?;
        let live = live_leases(run_dir)?;
        let link = |name: &str| Leftover::Link {
            name: name.to_string(),
            run_dir: run_dir.to_path_buf(),
        };
        for name in &links {
            if veth_number(name).is_some_and(|n| !live.contains(&n)) {
                found.push(link(name));
            }
        }
        if live.is_empty() && links.iter().any(|name| name == net::BRIDGE) {
            bridge = Some(link(net::BRIDGE));
        }
    }
    let mut leases = lease::stale_leases(run_dir);
    leases.sort();
    found.extend(leases.into_iter().map(Leftover::Lease));
    found.extend(bridge);
    // Last: once the stale leases and the bridge are gone, the lock and
    // the lease directory are no one's. Lessons remove them as the last
    // one leaves the bridge; a killed one could not.
    if is_dir(&run_dir.join("net")) && live_leases(run_dir)?.is_empty() {
        found.push(Leftover::NetState(run_dir.join("net")));
    }
    Ok(found)
}

/// For lessons, at start: if anything is left from an earlier run, a
/// warning that lists it and says how to remove it. Never fails the lesson:
/// an error while looking is a warning too.
///
/// Only root can have left anything (the lessons that make these objects
/// need root) and only root can look for all of it (listing the POSIX
/// queues takes a mount), so for anyone else it says nothing.
pub fn warn_if_any(state_dir: &Path) {
    if nix::unistd::geteuid().is_root() {
        warn_about(find(state_dir, &[]), "sudo nslab cleanup".into());
    }
}

/// For lesson 06, at start: [`warn_if_any`] for the leftovers of
/// [`find_network`] under `run_dir`. The command it suggests names
/// `--run-dir` unless `run_dir` is the default (sudo does not pass
/// `NSLAB_RUN_DIR` on). Root only, like [`warn_if_any`]: the leases are
/// readable by root only.
pub fn warn_if_any_network(run_dir: &Path) {
    if nix::unistd::geteuid().is_root() {
        warn_about(find_network(run_dir), cleanup_command(run_dir));
    }
}

/// The warning of [`warn_if_any`], telling `command` as the remedy.
fn warn_about(found: Result<Vec<Leftover>, LeftoversError>, command: String) {
    match found {
        Ok(found) if found.is_empty() => {}
        Ok(found) => {
            narrate::warning("an earlier nslab run was killed and left this behind:");
            for leftover in &found {
                narrate::warning(format!("  {}", leftover.describe()));
            }
            let it = if found.len() == 1 { "it" } else { "them" };
            narrate::warning(format!("run `{command}` to remove {it}"));
        }
        Err(error) => narrate::warning(format!(
            "could not look for what earlier runs left behind: {}",
            chain(&error)
        )),
    }
}

/// `sudo nslab cleanup`, with `--run-dir` when `run_dir` is not the default.
fn cleanup_command(run_dir: &Path) -> String {
    if run_dir == Path::new(record::DEFAULT_RUN_DIR) {
        "sudo nslab cleanup".into()
    } else {
        format!("sudo nslab cleanup --run-dir {}", run_dir.display())
    }
}

/// The body of `nslab cleanup [--dry-run] [--state-dir DIR] [--run-dir DIR]`:
/// lists each leftover ([`find`] for `state_dir`, then [`find_network`] for
/// `run_dir`), removes it unless `dry_run`, looks again, and returns the
/// exit code: 0 when nothing is left (or on a dry run), 1 when something
/// could not be found or removed.
pub fn cleanup(state_dir: &Path, run_dir: &Path, dry_run: bool) -> i32 {
    narrate::heading("Looking for what killed lessons left behind");
    if !nix::unistd::geteuid().is_root() {
        narrate::warning("nslab cleanup needs root: run it with sudo");
        return 1;
    }
    narrate::explain(format!(
        "mounts below {}, .old-root and escape directories in its rootfs, half-built rootfs directories,\n\
         and System V IPC objects and POSIX queues named after a lesson whose PID is gone;\n\
         container records and address leases under {} whose lesson is gone,\n\
         and the bridge {} and veth ends nslab<N>h here that no running lesson uses,\n\
         and the bridge's lock and lease directory once no lease is left",
        state_dir.display(),
        run_dir.display(),
        net::BRIDGE,
    ));
    let found = match find_all(state_dir, run_dir) {
        Ok(found) => found,
        Err(error) => {
            narrate::warning(chain(&error));
            return 1;
        }
    };
    if found.is_empty() {
        narrate::success("nothing is left behind");
        return 0;
    }
    for leftover in &found {
        narrate::warning(leftover.describe());
    }
    if dry_run {
        narrate::explain(format!(
            "dry run: {} found, nothing removed",
            count(found.len())
        ));
        return 0;
    }

    narrate::heading("Removing them");
    for leftover in &found {
        match leftover.remove() {
            Ok(()) => narrate::success(format!("removed the {}", leftover.describe())),
            Err(error) => {
                narrate::warning(format!("skipped: {}", chain(&error)));
                if let Some(hint) = error.hint() {
                    narrate::explain(format!("hint: {hint}"));
                }
            }
        }
    }
    // Look again rather than count failures: removing one mount with
    // MNT_DETACH can take others with it, and removing a veth end takes
    // its peer; that is a success.
    match find_all(state_dir, run_dir) {
        Ok(left) if left.is_empty() => {
            narrate::success(format!(
                "{} removed: nothing is left behind",
                count(found.len())
            ));
            0
        }
        Ok(left) => {
            narrate::warning(format!(
                "{} could not be removed; see why above",
                count(left.len())
            ));
            1
        }
        Err(error) => {
            narrate::warning(chain(&error));
            1
        }
    }
}

/// [`find`] for `state_dir`, then [`find_network`] for `run_dir`.
fn find_all(state_dir: &Path, run_dir: &Path) -> Result<Vec<Leftover>, LeftoversError> {
    let mut found = find(state_dir, &[])?;
    found.extend(find_network(run_dir)?);
    Ok(found)
}

impl Leftover {
    /// One line for the learner: what it is and where.
    pub fn describe(&self) -> String {
        match self {
            Leftover::Mount(path) => format!("mount on {}", path.display()),
            Leftover::SysV { kind, key, id } => format!(
                "System V {kind} {id} (key {key:#010x}, made by PID {}, which is gone)",
                key & 0xff_ffff
            ),
            Leftover::Queue(name) => format!("POSIX message queue {name}"),
            Leftover::OldRoot(path) => format!("pivot_root directory {}", path.display()),
            Leftover::EscapeDir(path) => format!("chroot escape directory {}", path.display()),
            Leftover::Staging(path) => format!("rootfs staging directory {}", path.display()),
            Leftover::Volume(path) => {
                format!("volume or layer of a killed lesson {}", path.display())
            }
            Leftover::Cgroup(path) => format!("cgroup of a killed lesson {}", path.display()),
            Leftover::Record(path) => format!("container record {}", path.display()),
            Leftover::Lease(path) => format!("address lease {}", path.display()),
            Leftover::NetState(_) => format!(
                "bridge's {} (no running lesson holds a lease)",
                self.short()
            ),
            Leftover::Link { name, .. } if name == net::BRIDGE => format!(
                "{} (no running lesson holds an address lease)",
                self.short()
            ),
            Leftover::Link { .. } => format!(
                "{} (its lesson is gone; its peer goes with it)",
                self.short()
            ),
        }
    }

    /// What it is, without why it counts as left behind: for
    /// [`LeftoversError::NowInUse`], when it turns out not to be.
    fn short(&self) -> String {
        match self {
            Leftover::Link { name, .. } if name == net::BRIDGE => format!("bridge {name}"),
            Leftover::Link { name, .. } => format!("veth end {name}"),
            Leftover::NetState(path) => format!("lock and lease directory {}", path.display()),
            _ => self.describe(),
        }
    }

    /// Removes it, narrating the call that does.
    pub fn remove(&self) -> Result<(), LeftoversError> {
        match self {
            Leftover::Mount(path) => unmount(path),
            Leftover::SysV { kind, id, .. } => remove_sysv(*kind, *id),
            Leftover::Queue(name) => {
                narrate::syscall(format!("mq_unlink({name:?})"));
                nix::mqueue::mq_unlink(name.as_str()).map_err(|source| {
                    LeftoversError::RemoveQueue {
                        name: name.clone(),
                        source,
                    }
                })
            }
            Leftover::OldRoot(path) => {
                // Under the lock a lesson takes before it creates .old-root,
                // so that none can be pivoting into this rootfs meanwhile.
                let rootfs = path.parent().unwrap_or(Path::new("/"));
                narrate::syscall(format!(
                    "flock({:?}, LOCK_EX | LOCK_NB)",
                    rootfs.display().to_string()
                ));
                let _lock = lock(rootfs)?.ok_or_else(|| LeftoversError::InUse {
                    path: rootfs.into(),
                })?;
                rmdir(path)
            }
            Leftover::EscapeDir(path) => rmdir(path),
            Leftover::Staging(path) | Leftover::Volume(path) => Ok(rootfs::remove_tree(path)?),
            Leftover::Cgroup(path) => remove_cgroup(path),
            Leftover::Record(path) => match record::remove_if_stale(path) {
                Ok(true) => Ok(()),
                // Gone meanwhile (its lesson ended) is what we wanted.
                Ok(false) if fs::symlink_metadata(path).is_err() => Ok(()),
                Ok(false) => Err(LeftoversError::NowInUse { what: self.short() }),
                Err(source) => Err(LeftoversError::RemoveRecord {
                    path: path.clone(),
                    source,
                }),
            },
            Leftover::Lease(path) => remove_lease(path, &self.short()),
            Leftover::Link { name, run_dir } => remove_link(name, run_dir, &self.short()),
            Leftover::NetState(net) => {
                let run_dir = net.parent().unwrap_or(Path::new("/"));
                // Under the lock, and only if no lease is in it by then.
                let leases = lock_leases(run_dir)?;
                let failed = |source| LeftoversError::RemoveNetState {
                    path: net.clone(),
                    source,
                };
                if leases.held().map_err(failed)? > 0 {
                    return Err(LeftoversError::NowInUse { what: self.short() });
                }
                leases.remove_if_unused().map_err(failed)
            }
        }
    }
}

/// Whether process `pid` is gone (see [`rootfs::is_alive`]). A PID reused
/// since by another process keeps its leftovers hidden until that one ends
/// too: the safe direction to be wrong in.
fn gone(pid: i32) -> bool {
    pid > 0 && !rootfs::is_alive(pid)
}

/// The PID in `name` after `prefix` (`/nslab-demo-123` → 123).
fn pid_after(name: &str, prefix: &str) -> Option<i32> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The PID in a System V key, if the key is nslab's.
fn pid_of_key(key: i32) -> Option<i32> {
    (key & !0xff_ffff == ipc::demo::KEY_TAG).then_some(key & 0xff_ffff)
}

/// The mount points of the caller's mount namespace, from
/// `/proc/self/mountinfo` (proc(5)), deepest first.
fn mount_points() -> Result<Vec<PathBuf>, LeftoversError> {
    let path = Path::new("/proc/self/mountinfo");
    let info = fs::read(path).map_err(|source| LeftoversError::Read {
        path: path.into(),
        source,
    })?;
    let mut points = rootfs::mount_points(&info);
    // A stable sort: mounts stacked on one point keep their order.
    points.sort_by_key(|point| Reverse(point.components().count()));
    Ok(points)
}

/// The System V objects of the caller's IPC namespace whose key is nslab's
/// and whose PID is gone. `/proc/sysvipc/*` lists one object per line after
/// a header: the key (in decimal) first, the id second.
fn sysv_leftovers() -> Result<Vec<Leftover>, LeftoversError> {
    let mut found = Vec::new();
    for kind in SysvKind::ALL {
        let path = kind.proc_file();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            // A kernel built without System V IPC has none to leave.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(LeftoversError::Read { path, source }),
        };
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace().map(str::parse::<i32>);
            let (Some(Ok(key)), Some(Ok(id))) = (fields.next(), fields.next()) else {
                continue;
            };
            if pid_of_key(key).is_some_and(gone) {
                found.push(Leftover::SysV { kind, key, id });
            }
        }
    }
    Ok(found)
}

/// The names of the POSIX message queues in the caller's IPC namespace,
/// such as `/nslab-demo-123`. See mq_overview(7).
///
/// Queues are listed by an mqueue file system, which shows the queues of
/// the IPC namespace of whoever mounted it. The host need not have one
/// mounted, and mounting one on the host would change its mount table; so a
/// thread of ours moves into a mount namespace of its own (unshare(2) with
/// `CLONE_NEWNS` is allowed in one thread of a process), mounts one there,
/// reads it, and ends, which takes the namespace and the mount with it.
pub fn queues() -> Result<Vec<String>, LeftoversError> {
    let failed = |step, source| LeftoversError::ListQueues { step, source };
    let template = std::env::temp_dir().join("nslab-mqueue-XXXXXX");
    let dir = nix::unistd::mkdtemp(&template)
        .map_err(|errno| failed("create a mount point", errno.into()))?;
    let listing = {
        let dir = dir.clone();
        std::thread::spawn(move || list_queues_at(&dir))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    };
    // The directory was a mount point only in the thread's namespace.
    let removed = fs::remove_dir(&dir).map_err(|e| failed("remove the mount point", e));
    let names = listing?;
    removed?;
    Ok(names)
}

/// Runs in a thread of its own; see [`queues`].
fn list_queues_at(dir: &Path) -> Result<Vec<String>, LeftoversError> {
    let failed = |step| {
        move |source: Errno| LeftoversError::ListQueues {
            step,
            source: source.into(),
        }
    };
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(failed("unshare a mount namespace"))?;
    // The new namespace's mounts start as peers of the host's (on a systemd
    // host, / is shared): without this the mount below would propagate back
    // to the host. See mount_namespaces(7).
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(failed("make the mounts private"))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match nix::mount::mount(Some("mqueue"), dir, Some("mqueue"), flags, None::<&str>) {
        // A kernel without POSIX message queues has none to leave.
        Err(Errno::ENODEV) => return Ok(Vec::new()),
        mounted => mounted.map_err(failed("mount an mqueue file system"))?,
    }
    let entries = fs::read_dir(dir).map_err(|source| LeftoversError::ListQueues {
        step: "read the mqueue file system",
        source,
    })?;
    Ok(entries
        .flatten()
        .map(|entry| format!("/{}", entry.file_name().to_string_lossy()))
        .collect())
}

/// `.old-root` and escape directories in `rootfs`.
fn rootfs_leftovers(rootfs: &Path) -> Result<Vec<Leftover>, LeftoversError> {
    let mut found = Vec::new();
    let old_root = rootfs.join(OLD_ROOT);
    // A lesson creates .old-root only while it holds the lock, and removes
    // it before letting go: found unlocked, nobody is using it.
    if is_dir(&old_root) && lock(rootfs)?.is_some() {
        found.push(Leftover::OldRoot(old_root));
    }
    for name in dir_names(rootfs)? {
        let ours = name == ESCAPE || pid_after(&name, chroot::ESCAPE_PREFIX).is_some_and(gone);
        if ours && is_dir(&rootfs.join(&name)) {
            found.push(Leftover::EscapeDir(rootfs.join(&name)));
        }
    }
    Ok(found)
}

/// `.rootfs.building-<PID>` and `.rootfs.old-<PID>` in `state` whose run
/// is gone (see [`rootfs::stale_staging_dirs`]).
fn staging_leftovers(state: &Path) -> Vec<Leftover> {
    let mut found: Vec<Leftover> = rootfs::stale_staging_dirs(state)
        .into_iter()
        .filter(|dir| is_dir(dir))
        .map(Leftover::Staging)
        .collect();
    // Lesson 07's demo volumes, lesson 09's container layers and lesson
    // 11's half-built corpus layers, named after the lesson's PID.
    for name in dir_names(state).unwrap_or_default() {
        let prefixes = [
            crate::user::VOLUME_PREFIX,
            crate::overlay::layers::CONTAINER_PREFIX,
            crate::lockdown::kit::STAGING_PREFIX,
        ];
        let dead = prefixes
            .iter()
            .any(|prefix| pid_after(&name, prefix).is_some_and(gone));
        if dead && is_dir(&state.join(&name)) {
            found.push(Leftover::Volume(state.join(&name)));
        }
    }
    found
}

/// `<run_dir>/net/leases`, as [`lease::Leases`] makes it.
fn leases_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("net").join("leases")
}

/// The numbers of the leases held by a running lesson. An unreadable lease
/// directory is an error, not "none": none would free the bridge.
fn live_leases(run_dir: &Path) -> Result<Vec<u8>, LeftoversError> {
    let dir = leases_dir(run_dir);
    let numbers: Vec<(u8, PathBuf)> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path())))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(LeftoversError::Read { path: dir, source }),
    };
    // Read after the listing: a lease given back in between is counted
    // live, which keeps the bridge; the safe direction to be wrong in.
    let stale = lease::stale_leases(run_dir);
    Ok(numbers
        .into_iter()
        .filter(|(_, path)| !stale.contains(path))
        .map(|(number, _)| number)
        .collect())
}

/// The names of the links in the caller's network namespace that start
/// with `nslab`, sorted. A netlink dump, which is not narrated: looking is
/// not a step of the cleanup. See rtnetlink(7).
fn nslab_links() -> Result<Vec<String>, LeftoversError> {
    let mut names: Vec<String> = Netlink::open()
        .and_then(|mut netlink| netlink.link_names())
        .map_err(LeftoversError::ListLinks)?
        .into_iter()
        .filter(|name| name.starts_with("nslab"))
        .collect();
    names.sort();
    Ok(names)
}

/// The lease number in the name of a host veth end: `nslab7h` → 7 (see
/// [`lease::Lease::host_end`]). The bridge, `nslab0`, has none.
fn veth_number(name: &str) -> Option<u8> {
    let digits = name.strip_prefix("nslab")?.strip_suffix('h')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The run directory of a lease file, `<run_dir>/net/leases/<N>`.
fn run_dir_of_lease(path: &Path) -> &Path {
    path.ancestors().nth(3).unwrap_or(Path::new("/"))
}

/// Takes the lease lock, under which lessons take and give back leases
/// and make and remove the bridge: while it is held, what is judged
/// unused stays so.
fn lock_leases(run_dir: &Path) -> Result<Leases, LeftoversError> {
    Leases::lock(run_dir).map_err(|source| LeftoversError::LockLeases {
        run_dir: run_dir.into(),
        source,
    })
}

/// Removes a lease file if, under the lease lock, it is stale still.
fn remove_lease(path: &Path, what: &str) -> Result<(), LeftoversError> {
    let run_dir = run_dir_of_lease(path);
    let _leases = lock_leases(run_dir)?;
    if !lease::stale_leases(run_dir).iter().any(|p| p == path) {
        return match fs::symlink_metadata(path) {
            // Removed meanwhile by a starting lesson's sweep of stale ones.
            Err(_) => Ok(()),
            Ok(_) => Err(LeftoversError::NowInUse { what: what.into() }),
        };
    }
    narrate::file_op(format!("remove {}   # its lesson is gone", path.display()));
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(LeftoversError::Remove {
            path: path.into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Removes the bridge or a host veth end if, under the lease lock, no
/// running lesson uses it: for the bridge, no live lease at all; for
/// `nslab<N>h`, no live lease `<N>`. Removing a veth end removes its peer
/// too (veth(4)).
fn remove_link(name: &str, run_dir: &Path, what: &str) -> Result<(), LeftoversError> {
    let _leases = lock_leases(run_dir)?;
    let live = live_leases(run_dir)?;
    let in_use = match veth_number(name) {
        Some(number) => live.contains(&number),
        None => !live.is_empty(),
    };
    if in_use {
        return Err(LeftoversError::NowInUse { what: what.into() });
    }
    let failed = |source| LeftoversError::RemoveLink {
        name: name.into(),
        source,
    };
    let mut netlink = Netlink::open().map_err(failed)?;
    match netlink.link_index(name).map_err(failed)? {
        // Gone meanwhile (a dying namespace takes its veth pairs along):
        // what was to be removed is removed.
        Some(index) => match netlink.delete_link(name, index) {
            Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => Ok(()),
            result => result.map_err(failed),
        },
        // Gone meanwhile: a veth end goes when its peer's namespace ends.
        None => Ok(()),
    }
}

/// A real directory, not a symlink to one.
fn is_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// The names in `dir`, sorted.
fn dir_names(dir: &Path) -> Result<Vec<String>, LeftoversError> {
    let entries = fs::read_dir(dir).map_err(|source| LeftoversError::Read {
        path: dir.into(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Takes the exclusive `flock(2)` on `rootfs` without waiting: `None` when
/// a lesson holds it.
fn lock(rootfs: &Path) -> Result<Option<Flock<File>>, LeftoversError> {
    let failed = |source| LeftoversError::Lock {
        path: rootfs.into(),
        source,
    };
    let dir = File::open(rootfs).map_err(failed)?;
    match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(failed(errno.into())),
    }
}

/// Unmounts the mount on `path`. See umount2(2).
///
/// `MNT_DETACH` takes it out even if something still uses it;
/// `UMOUNT_NOFOLLOW` keeps a symlink put in its place from sending the
/// unmount somewhere else.
fn unmount(path: &Path) -> Result<(), LeftoversError> {
    let flags = MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW;
    syscall::umount2(path, flags, "").map_err(|source| LeftoversError::Unmount {
        path: path.into(),
        source,
    })
}

/// Removes a System V object by id. See msgctl(2), shmctl(2), semctl(2).
fn remove_sysv(kind: SysvKind, id: i32) -> Result<(), LeftoversError> {
    let removed = match kind {
        SysvKind::Msg => syscall::msgctl_rmid(id),
        SysvKind::Shm => syscall::shmctl_rmid(id),
        SysvKind::Sem => syscall::semctl_rmid(id),
    };
    removed.map_err(|source| LeftoversError::RemoveSysv { kind, id, source })
}

/// Removes an empty directory. See rmdir(2).
fn rmdir(path: &Path) -> Result<(), LeftoversError> {
    syscall::rmdir(path, "").map_err(|errno| LeftoversError::Remove {
        path: path.into(),
        source: errno.into(),
    })
}

/// "1 leftover", "3 leftovers".
fn count(n: usize) -> String {
    format!("{n} leftover{}", if n == 1 { "" } else { "s" })
}

/// An error and its causes on one line: `a: b: c`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sysv_key_carries_the_tag_and_the_pid() {
        assert_eq!(ipc::demo::key_for(0x1234), 0x6e00_1234);
        assert_eq!(pid_of_key(ipc::demo::key_for(4_194_303)), Some(4_194_303));
        assert_eq!(pid_of_key(0), None); // IPC_PRIVATE
        assert_eq!(pid_of_key(0x6f00_0001), None);
        assert_eq!(pid_of_key(-1), None);
    }

    #[test]
    fn a_pid_is_only_digits_after_the_prefix() {
        assert_eq!(
            pid_after("/nslab-demo-123", ipc::demo::QUEUE_PREFIX),
            Some(123)
        );
        assert_eq!(pid_after("/nslab-demo-", ipc::demo::QUEUE_PREFIX), None);
        assert_eq!(pid_after("/nslab-demo-12x", ipc::demo::QUEUE_PREFIX), None);
        assert_eq!(pid_after("/nslab-demo--1", ipc::demo::QUEUE_PREFIX), None);
        assert_eq!(pid_after("/other-123", ipc::demo::QUEUE_PREFIX), None);
        assert_eq!(pid_after(".nslab-escape", chroot::ESCAPE_PREFIX), None);
    }

    #[test]
    fn our_own_pid_is_not_gone() {
        assert!(!gone(std::process::id() as i32));
        assert!(!gone(0), "PID 0 names no process of ours");
    }

    #[test]
    fn descriptions_say_what_and_where() {
        let sysv = Leftover::SysV {
            kind: SysvKind::Msg,
            key: ipc::demo::key_for(42),
            id: 7,
        };
        assert_eq!(
            sysv.describe(),
            "System V message queue 7 (key 0x6e00002a, made by PID 42, which is gone)"
        );
        assert_eq!(
            Leftover::Mount("/s/rootfs/proc".into()).describe(),
            "mount on /s/rootfs/proc"
        );
    }

    #[test]
    fn only_host_veth_ends_carry_a_lease_number() {
        use crate::net::lease::Lease;
        assert_eq!(veth_number(&Lease { number: 7 }.host_end()), Some(7));
        assert_eq!(veth_number("nslab254h"), Some(254));
        assert_eq!(veth_number(net::BRIDGE), None);
        assert_eq!(veth_number(&Lease { number: 7 }.container_end()), None);
        assert_eq!(veth_number("nslabh"), None);
        assert_eq!(veth_number("nslab-1h"), None);
        assert_eq!(veth_number("nslab300h"), None, "no lease has that number");
        assert_eq!(veth_number("veth7h"), None);
    }

    #[test]
    fn network_leftovers_say_what_and_where() {
        let run = PathBuf::from("/r");
        let link = |name: &str| Leftover::Link {
            name: name.into(),
            run_dir: run.clone(),
        };
        assert_eq!(
            link("nslab0").describe(),
            "bridge nslab0 (no running lesson holds an address lease)"
        );
        assert_eq!(
            link("nslab7h").describe(),
            "veth end nslab7h (its lesson is gone; its peer goes with it)"
        );
        assert_eq!(
            Leftover::Lease("/r/net/leases/7".into()).describe(),
            "address lease /r/net/leases/7"
        );
        assert_eq!(
            Leftover::Record("/r/containers/web.json".into()).describe(),
            "container record /r/containers/web.json"
        );
        assert_eq!(run_dir_of_lease(Path::new("/r/net/leases/7")), run);
    }

    #[test]
    fn the_command_names_a_run_dir_that_is_not_the_default() {
        assert_eq!(
            cleanup_command(Path::new(record::DEFAULT_RUN_DIR)),
            "sudo nslab cleanup"
        );
        assert_eq!(
            cleanup_command(Path::new("/tmp/run")),
            "sudo nslab cleanup --run-dir /tmp/run"
        );
    }

    /// A process that has ended and been reaped.
    fn reaped() -> record::ProcessId {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let id = record::ProcessId::of(child.id() as i32).unwrap();
        child.wait().unwrap();
        id
    }

    #[test]
    fn only_leases_of_running_lessons_are_live() {
        narrate::init(true);
        let run = tempfile::tempdir().unwrap();
        assert_eq!(live_leases(run.path()).unwrap(), Vec::<u8>::new());
        let leases = Leases::lock(run.path()).unwrap();
        let dead = leases.take(reaped()).unwrap();
        let me = record::ProcessId::of(std::process::id() as i32).unwrap();
        let live = leases.take(me).unwrap();
        assert_eq!(live_leases(run.path()).unwrap(), vec![live.number]);
        let stale = leases_dir(run.path()).join(dead.number.to_string());
        assert_eq!(lease::stale_leases(run.path()), vec![stale]);
    }

    #[test]
    fn a_stale_record_is_found_and_devices_are_not_judged_without_leases() {
        narrate::init(true);
        let run = tempfile::tempdir().unwrap();
        let dead = record::Record::new("dead", reaped());
        fs::create_dir_all(record::containers_dir(run.path())).unwrap();
        let path = record::record_path(run.path(), "dead");
        fs::write(&path, serde_json::to_vec(&dead).unwrap()).unwrap();
        // No lease directory: no device of this namespace is looked at,
        // whatever nslab devices the machine running the test has.
        assert_eq!(
            find_network(run.path()).unwrap(),
            vec![Leftover::Record(path.clone())]
        );
        Leftover::Record(path.clone()).remove().unwrap();
        assert!(!path.exists());
        assert_eq!(find_network(run.path()).unwrap(), vec![]);
    }

    #[test]
    fn the_bridges_bookkeeping_without_a_lease_is_a_leftover() {
        narrate::init(true);
        let run = tempfile::tempdir().unwrap();
        let net = run.path().join("net");
        // What a killed lesson leaves once its stale lease is gone.
        drop(Leases::lock(run.path()).unwrap());
        assert!(net.join("lock").exists());
        let found = find_network(run.path()).unwrap();
        assert!(
            found.contains(&Leftover::NetState(net.clone())),
            "{found:?}"
        );
        Leftover::NetState(net.clone()).remove().unwrap();
        assert!(!net.exists());
        // A running lesson's lease keeps it.
        let leases = Leases::lock(run.path()).unwrap();
        leases
            .take(crate::record::ProcessId::of(std::process::id() as i32).unwrap())
            .unwrap();
        drop(leases);
        let found = find_network(run.path()).unwrap();
        assert!(
            !found.contains(&Leftover::NetState(net.clone())),
            "{found:?}"
        );
    }

    #[test]
    fn errors_are_chained_on_one_line() {
        let error = LeftoversError::Unmount {
            path: "/s/x".into(),
            source: Errno::EINVAL,
        };
        assert_eq!(
            chain(&error),
            "failed to unmount /s/x: EINVAL: Invalid argument"
        );
    }
}
