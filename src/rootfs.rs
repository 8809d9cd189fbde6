//! The default root filesystem, assembled offline from what the host has.
//!
//! A container needs a directory tree to use as its `/`. Real runtimes get it
//! from an image; a workshop on bad Wi-Fi cannot download one, so nslab
//! builds a small one on first use from the host itself:
//!
//! - from a **static busybox** when the host has one (Debian/Ubuntu package
//!   `busybox-static`): one binary that is `sh`, `ls`, `ps`, `mount`… and
//!   needs no shared libraries;
//! - otherwise from **host binaries plus the shared libraries they need**,
//!   as listed by the ELF program header (`PT_INTERP`) and the dynamic
//!   loader's `--list` mode (what `ldd` does).
//!
//! The tree is built in a staging directory next to its final place and
//! renamed into place, so a crash never leaves a half-built rootfs where a
//! lesson would use it. The same host gives the same tree, byte for byte,
//! every time.
//!
//! Learners kill lessons half-way, run twenty at once and install busybox
//! after their first run, so the builder also:
//!
//! - **stamps** each tree with the builder's version and its source (the
//!   first line of [`MARKER`], see [`Stamp`]), and rebuilds a tree whose
//!   stamp differs from what it would build now;
//! - takes an exclusive **lock** (`flock(2)` on `<state_dir>/.rootfs.lock`)
//!   around checking and building, so concurrent runs build once;
//! - removes the **staging directories of runs that died** half-way
//!   ([`stale_staging_dirs`]), with [`remove_tree`], which never walks
//!   into a mount point nor pulls a tree from under a running container.

pub mod probe;

use crate::narrate;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::kill;
use nix::unistd::Pid;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where nslab keeps its state (the default rootfs, later images) unless
/// `--state-dir` or `NSLAB_STATE_DIR` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/nslab";

/// The state directory when none is given: [`DEFAULT_STATE_DIR`] for root;
/// for anyone else (lesson 07 on runs without root) their own, following
/// the XDG base directory convention: `$XDG_STATE_HOME/nslab`, or
/// `~/.local/state/nslab`.
pub fn default_state_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from(DEFAULT_STATE_DIR);
    }
    let home = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    home("XDG_STATE_HOME")
        .or_else(|| home("HOME").map(|h| h.join(".local/state")))
        .map(|dir| dir.join("nslab"))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/nslab-state-{}", nix::unistd::geteuid())))
}

/// A file every nslab rootfs has; lessons read it to show which `/` they see.
/// Its first line is the tree's [`Stamp`].
pub const MARKER: &str = "etc/nslab-release";

/// The version of the builder in this module. Bump it whenever a change
/// here changes the tree it makes: every default rootfs built by an older
/// builder is then rebuilt on its next use (see [`Stamp`]).
///
/// - 1: the trees built before markers carried a version;
/// - 2: the marker carries the stamp.
pub const BUILDER_VERSION: u32 = 2;

/// The name of the default rootfs inside the state directory.
pub const ROOTFS_DIR: &str = "rootfs";

/// The lock file, inside the state directory, that serialises building.
pub const LOCK_FILE: &str = ".rootfs.lock";

/// Where to look for a static busybox, in order.
pub const BUSYBOX_CANDIDATES: &[&str] = &[
    "/bin/busybox",
    "/usr/bin/busybox",
    "/sbin/busybox",
    "/usr/sbin/busybox",
];

/// Host programs copied into the rootfs when there is no busybox: enough for
/// every lesson's demo and for an interactive shell.
pub const HOST_PROGRAMS: &[&str] = &[
    "sh", "ls", "cat", "echo", "ps", "mount", "umount", "uname", "hostname", "readlink", "mkdir",
    "rmdir", "rm", "sleep", "id", "env", "grep", "head", "tr", "true", "false", "kill", "stat",
    "ipcs", "wc",
];

const HOST_PROGRAM_DIRS: &[&str] = &["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/// What can go wrong while finding, building or removing a rootfs.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// Neither a busybox nor a usable host shell was found.
    #[error("found neither a static busybox nor a host /bin/sh to build a rootfs from")]
    NoSource,
    /// `--rootfs DIR` names something that is not a usable rootfs.
    #[error("{} is not a usable rootfs: {reason}", path.display())]
    NotARootfs {
        /// The directory given.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// `--rootfs DIR` names the host's own `/`, under whatever name.
    #[error("{} is the host's own root directory: the container's root must be a separate directory", path.display())]
    HostRoot {
        /// The directory given.
        path: PathBuf,
    },
    /// Making `--state-dir` absolute failed (no current directory).
    #[error("failed to make the state directory {} absolute", path.display())]
    ResolveStateDir {
        /// The directory given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Creating the state directory failed.
    #[error("failed to create the state directory {}", path.display())]
    CreateStateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Opening (or creating) the lock file failed.
    #[error("failed to open the lock file {}", path.display())]
    OpenLock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `flock(2)` on the lock file failed.
    #[error("failed to lock {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// A file-system step while building failed.
    #[error("failed to {step} {}", path.display())]
    Build {
        /// What was being done: "copy", "create directory", …
        step: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading a binary's ELF headers failed.
    #[error("failed to read the ELF headers of {}", path.display())]
    ReadElf {
        /// The binary.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: goblin::error::Error,
    },
    /// Asking the dynamic loader for a binary's libraries failed.
    #[error("the dynamic loader {} could not list the libraries of {}", loader.display(), binary.display())]
    ListLibraries {
        /// The loader (`PT_INTERP`).
        loader: PathBuf,
        /// The binary.
        binary: PathBuf,
        /// What it printed on stderr, or why it did not run.
        reason: String,
    },
    /// Moving the finished tree (or the old one) into place failed.
    #[error("failed to move the finished rootfs into place at {}", path.display())]
    Publish {
        /// The final path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading the mount table, to see what lies below a tree, failed.
    #[error("failed to read /proc/self/mountinfo")]
    ReadMounts {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A tree to remove has a mount point at or below its top.
    #[error("refusing to remove {}: {} is a mount point inside it", path.display(), mount_point.display())]
    MountBeneath {
        /// The tree.
        path: PathBuf,
        /// The mount point found at or below it.
        mount_point: PathBuf,
    },
    /// A tree to remove is the root directory of a running process.
    #[error("refusing to remove {}: process {pid} has its root directory in it", path.display())]
    InUse {
        /// The tree.
        path: PathBuf,
        /// The process (a container still running there).
        pid: i32,
    },
    /// Removing a file or directory failed.
    #[error("failed to remove {}", path.display())]
    Remove {
        /// What was being removed.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl RootfsError {
    /// What the learner can do about this error, when there is advice to give.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            RootfsError::NoSource => {
                "install a static busybox (`sudo apt install busybox-static`), or pass `--rootfs DIR`"
            }
            RootfsError::NotARootfs { .. } => {
                "--rootfs wants a directory holding a whole root filesystem, with /bin/sh"
            }
            RootfsError::HostRoot { .. } => {
                "pivoting into the host's own / would change nothing, and lesson 03 would create /.old-root on the host: leave out --rootfs to use the rootfs nslab builds, or pass a directory holding another root filesystem"
            }
            RootfsError::ResolveStateDir { .. } => {
                "the current directory may have been removed: cd to an existing one, or give --state-dir as an absolute path"
            }
            RootfsError::CreateStateDir { .. } | RootfsError::OpenLock { .. } => {
                "--state-dir must be a directory you can write to; the default, /var/lib/nslab, needs root"
            }
            RootfsError::MountBeneath { .. } | RootfsError::ReadMounts { .. } => {
                "run `sudo nslab cleanup`, which unmounts what an interrupted lesson left mounted, then try again"
            }
            RootfsError::InUse { .. } => {
                "a container is still running in it: let it finish (or stop it); the next run, or `sudo nslab cleanup`, removes the tree then"
            }
            _ => return None,
        };
        Some(hint.to_string())
    }
}

/// Where the files of a rootfs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A busybox binary; every applet becomes a symlink to it.
    Busybox(PathBuf),
    /// Host programs, copied with the shared libraries they need.
    HostPrograms(Vec<PathBuf>),
}

impl Source {
    /// A one-line description for narration, for `nslab doctor` and for
    /// the tree's [`Stamp`].
    pub fn describe(&self) -> String {
        match self {
            Source::Busybox(path) => format!("busybox ({})", path.display()),
            Source::HostPrograms(programs) => format!(
                "{} host programs and their shared libraries",
                programs.len()
            ),
        }
    }
}

/// Picks the best source this host offers: busybox first, host programs next.
pub fn detect_source() -> Result<Source, RootfsError> {
    if let Some(busybox) = BUSYBOX_CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
    {
        return Ok(Source::Busybox(busybox.to_path_buf()));
    }
    host_programs_source()
}

/// The host-programs source: every program of [`HOST_PROGRAMS`] that this host has.
pub fn host_programs_source() -> Result<Source, RootfsError> {
    let found: Vec<PathBuf> = HOST_PROGRAMS
        .iter()
        .filter_map(|name| {
            HOST_PROGRAM_DIRS
                .iter()
                .map(|dir| Path::new(dir).join(name))
                .find(|p| p.is_file())
        })
        .collect();
    if !found.iter().any(|p| p.ends_with("sh")) {
        return Err(RootfsError::NoSource);
    }
    Ok(Source::HostPrograms(found))
}

/// How a tree was built: by which [`BUILDER_VERSION`], from which
/// [`Source`]. It is the first line of the tree's [`MARKER`]:
///
/// ```text
/// nslab rootfs, built from busybox (/bin/busybox) by builder v2
/// ```
///
/// The version goes last, so the line still starts the way it did before
/// there were versions: lessons and their tests read it.
///
/// A tree whose stamp differs from the one [`prepare`] would give a new
/// tree is stale: built by an older nslab, or from host programs before a
/// static busybox was installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The builder's version.
    pub builder: u32,
    /// The source, as [`Source::describe`] says it.
    pub source: String,
}

impl Stamp {
    /// The stamp this builder gives a tree built from `source`.
    pub fn of(source: &Source) -> Stamp {
        Stamp {
            builder: BUILDER_VERSION,
            source: source.describe(),
        }
    }

    /// Reads a stamp from the text of a marker; `None` if it has none.
    /// Builder 1 wrote `nslab rootfs, built from …`, without a version.
    pub fn parse(marker: &str) -> Option<Stamp> {
        let line = marker.lines().next()?;
        let described = line.strip_prefix("nslab rootfs, built from ")?;
        let (source, builder) = match described.rsplit_once(" by builder v") {
            Some((source, version)) => (source, version.parse().ok()?),
            None => (described, 1),
        };
        Some(Stamp {
            builder,
            source: source.to_string(),
        })
    }

    /// The stamp of the tree at `rootfs`; `None` when there is no tree, or
    /// no readable stamp in it.
    pub fn read(rootfs: &Path) -> Option<Stamp> {
        let marker = fs::read_to_string(rootfs.join(MARKER)).ok()?;
        Stamp::parse(&marker)
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nslab rootfs, built from {} by builder v{}",
            self.source, self.builder
        )
    }
}

/// Checks that `dir` looks like a root filesystem a lesson can run in, and
/// that it is not the host's own `/`.
pub fn check_rootfs(dir: &Path) -> Result<(), RootfsError> {
    let not = |reason: &str| RootfsError::NotARootfs {
        path: dir.to_path_buf(),
        reason: reason.to_string(),
    };
    // metadata follows symlinks: a link to a directory is a fine --rootfs.
    // Without the trailing slash (components() drops it), `file/` is found
    // to be a file rather than failing with ENOTDIR.
    match fs::metadata(dir.components().collect::<PathBuf>()) {
        Ok(meta) if meta.is_dir() => {}
        Ok(meta) if meta.is_file() => return Err(not("it is a file, not a directory")),
        Ok(_) => return Err(not("it is not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not("no such directory")),
        // ENOTDIR: `some/file/` or `some/file/dir`, a file on the way.
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            return Err(not("a file is on its path, not a directory"))
        }
        Err(e) => return Err(not(&format!("cannot look at it: {e}"))),
    }
    if is_host_root(dir) {
        return Err(RootfsError::HostRoot { path: dir.into() });
    }
    // symlink_metadata: in a rootfs /bin/sh is often a symlink whose target
    // only resolves *inside* the rootfs, so do not follow it from outside.
    if fs::symlink_metadata(dir.join("bin/sh")).is_err() {
        return Err(not("it has no /bin/sh"));
    }
    Ok(())
}

/// True when `dir` is the host's `/` under another name: `/./`, `/..`, a
/// symlink to `/`, even a bind mount of it. Names can differ, so compare
/// what stat(2) says: the same device and inode is the same directory.
/// The host's `/` holds a `/bin/sh`, so without this check it would pass
/// for a rootfs; pivoting into it changes nothing.
fn is_host_root(dir: &Path) -> bool {
    match (fs::metadata(dir), fs::metadata("/")) {
        (Ok(dir), Ok(root)) => (dir.dev(), dir.ino()) == (root.dev(), root.ino()),
        _ => false,
    }
}

/// `dir` made absolute against the current directory, without resolving
/// symlinks and without requiring it to exist yet.
///
/// Lessons `chdir` and `pivot_root` after they have the rootfs's path; a
/// relative state directory would by then name another place (lessons
/// 03–05 failed on `--state-dir state`). Normalise it once, first.
pub fn absolute_state_dir(dir: &Path) -> Result<PathBuf, RootfsError> {
    std::path::absolute(dir).map_err(|source| RootfsError::ResolveStateDir {
        path: dir.into(),
        source,
    })
}

/// The rootfs a lesson should use, as an absolute path: `--rootfs DIR` if
/// given (checked), or the default one under `state_dir`, built on first use
/// and rebuilt when its [`Stamp`] is not what this nslab would build.
// ANCHOR: prepare
pub fn prepare(state_dir: &Path, explicit: Option<&Path>) -> Result<PathBuf, RootfsError> {
    if let Some(dir) = explicit {
        check_rootfs(dir)?;
        return resolve(dir);
    }
    let state_dir = absolute_state_dir(state_dir)?;
    let target = state_dir.join(ROOTFS_DIR);
    let source = match detect_source() {
        Ok(source) => source,
        // Nothing to build from any more, but a tree from before: use it.
        Err(_) if Stamp::read(&target).is_some() => return Ok(target),
        Err(error) => return Err(error),
    };
    let wanted = Stamp::of(&source);
    // The usual case, silent and without the lock: an up-to-date tree, and
    // nothing left behind by an interrupted run.
    let current = Stamp::read(&target).as_ref() == Some(&wanted);
    if current && stale_staging_dirs(&state_dir).is_empty() {
        return Ok(target);
    }
    create_state_dir(&state_dir)?;
    let _lock = lock_state_dir(&state_dir)?;
    remove_stale(&state_dir);
    // Look again, under the lock: the run we waited for may have built it.
    let found = Stamp::read(&target);
    if found.as_ref() != Some(&wanted) {
        announce_build(&target, found.as_ref(), &wanted);
        build_into_place(&source, &target)?;
        narrate::success(format!("rootfs ready at {}", target.display()));
    }
    Ok(target)
}
// ANCHOR_END: prepare

/// Says why a tree is about to be built: a first run, or a stale tree.
fn announce_build(target: &Path, found: Option<&Stamp>, wanted: &Stamp) {
    if fs::symlink_metadata(target).is_err() {
        narrate::heading(format!(
            "First run: building the default rootfs at {}",
            target.display()
        ));
        narrate::explain(format!(
            "No download: it is assembled from {} on this host.\nThe next runs reuse it.",
            wanted.source
        ));
        return;
    }
    narrate::heading(format!(
        "Rebuilding the default rootfs at {}",
        target.display()
    ));
    narrate::explain(match found {
        Some(found) => format!(
            "the rootfs was built by builder v{} from {}; this nslab would build v{} from {}: rebuilding",
            found.builder, found.source, wanted.builder, wanted.source
        ),
        None => format!("the rootfs has no stamp in /{MARKER} to say how it was built: rebuilding"),
    });
}

fn resolve(dir: &Path) -> Result<PathBuf, RootfsError> {
    fs::canonicalize(dir).map_err(|source| RootfsError::Build {
        step: "resolve",
        path: dir.into(),
        source,
    })
}

fn create_state_dir(state_dir: &Path) -> Result<(), RootfsError> {
    fs::create_dir_all(state_dir).map_err(|source| RootfsError::CreateStateDir {
        path: state_dir.into(),
        source,
    })
}

/// Takes the state directory's build lock, waiting while another run holds
/// it; the lock is released when the returned file is closed.
///
/// flock(2) rather than fcntl(2) locks: a flock lock belongs to the open
/// file description, so two threads of one process that each open the
/// file exclude each other too, where fcntl locks (owned by the process)
/// would let both in. The kernel drops the lock when its holder dies, even
/// by SIGKILL: a killed build never leaves a stale lock behind. The file
/// itself stays: deleting a lock file would let a run still holding the
/// old file and a run locking a new one both think they are alone.
fn lock_state_dir(state_dir: &Path) -> Result<Flock<File>, RootfsError> {
    let path = state_dir.join(LOCK_FILE);
    narrate::syscall(format!(
        "open({:?}, O_RDWR | O_CREAT | O_CLOEXEC, 0600)",
        path.display().to_string()
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|source| RootfsError::OpenLock {
            path: path.clone(),
            source,
        })?;
    narrate::syscall(format!("flock({:?}, LOCK_EX)", path.display().to_string()));
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, source)| RootfsError::Lock { path, source })
}

/// `<dir of target>/.<name of target>.<what>-<our pid>`: where the new tree
/// is built (`building`) or the old one is put aside (`old`). The pid says
/// whose it is, so a later run can tell a live build from a dead one.
fn sibling(target: &Path, what: &str) -> PathBuf {
    let name = target
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or(ROOTFS_DIR);
    target.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

/// The pid in the name of a staging directory, `.rootfs.building-<pid>`, or
/// of an old tree put aside, `.rootfs.old-<pid>`.
fn staging_pid(name: &OsStr) -> Option<i32> {
    let name = name.to_str()?;
    let pid = name
        .strip_prefix(".rootfs.building-")
        .or_else(|| name.strip_prefix(".rootfs.old-"))?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok().filter(|pid| *pid > 0)
}

/// Whether process `pid` still exists and can still act: kill(2) with
/// signal 0 checks without sending anything (ESRCH: no such process;
/// EPERM: it exists but is not ours to signal), and a zombie counts as
/// gone. `nslab cleanup` decides with it too.
pub fn is_alive(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH) {
        return false;
    }
    // A zombie (killed, not yet reaped by its parent) still answers
    // kill(pid, 0), but it will never clean up again: its state in
    // /proc/<pid>/stat, after the command name in parentheses, is Z.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// The staging directories (`.rootfs.building-<pid>`) and old trees put
/// aside (`.rootfs.old-<pid>`) in `state_dir` whose run is gone: an
/// interrupted build or swap left them. Those of live runs are not listed:
/// another run is building there right now. Sorted, absolute.
pub fn stale_staging_dirs(state_dir: &Path) -> Vec<PathBuf> {
    let state_dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.into());
    let Ok(entries) = fs::read_dir(&state_dir) else {
        return Vec::new();
    };
    let mut stale: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| staging_pid(&entry.file_name()).is_some_and(|pid| !is_alive(pid)))
        .map(|entry| entry.path())
        .collect();
    stale.sort();
    stale
}

/// Removes the stale leftovers of interrupted runs, saying whose they were.
/// One that cannot go (something is mounted in it, a container still runs
/// in it) is reported and kept: it does not stop this run.
fn remove_stale(state_dir: &Path) {
    for dir in stale_staging_dirs(state_dir) {
        let pid = dir.file_name().and_then(staging_pid).unwrap_or_default();
        narrate::explain(format!(
            "left behind by run {pid}, which is gone (kill({pid}, 0) fails with ESRCH): removing it"
        ));
        remove_or_keep(&dir);
    }
}

/// [`remove_tree`], with a refusal narrated as a warning instead of failing.
fn remove_or_keep(dir: &Path) {
    if let Err(error) = remove_tree(dir) {
        // The message already says what was refused, and why.
        narrate::warning(&error);
        if let Some(hint) = error.hint() {
            narrate::explain(hint);
        }
    }
}

/// Builds a rootfs from `source` in a staging directory next to `target`,
/// then swaps it into place; a tree already at `target` is replaced.
///
/// Hold the state directory's lock while calling it, as [`prepare`] does:
/// the staging directory is named after this process, so two builds of
/// one process at once would share it.
pub fn build_into_place(source: &Source, target: &Path) -> Result<(), RootfsError> {
    let staging = sibling(target, "building");
    if fs::symlink_metadata(&staging).is_ok() {
        // An earlier build of this same process failed half-way.
        remove_tree(&staging)?;
    }
    if let Err(error) = build(source, &staging) {
        // Best effort: whatever stays is stale once we exit, and the next
        // run removes it.
        let _ = remove_tree(&staging);
        return Err(error);
    }
    swap_into_place(&staging, target)
}

/// Puts the finished tree `staging` at `target`.
///
/// rename(2) replaces an empty directory but fails on a full one
/// (ENOTEMPTY), so an existing tree is first renamed aside, then the new
/// one renamed in, then the old one removed. Renaming is harmless even
/// while a container runs in the old tree: its root directory and open
/// files follow the inode, not the name. Removing is another matter, and
/// [`remove_tree`] refuses while the tree is a process's root.
fn swap_into_place(staging: &Path, target: &Path) -> Result<(), RootfsError> {
    let aside = sibling(target, "old");
    let moved_aside = fs::symlink_metadata(target).is_ok();
    if moved_aside {
        if fs::symlink_metadata(&aside).is_ok() {
            // An old tree this process put aside before and had to keep.
            remove_tree(&aside)?;
        }
        rename(target, &aside, target)?;
    }
    if let Err(error) = rename(staging, target, target) {
        if moved_aside {
            // Put the old tree back: a lesson can still use it.
            let _ = fs::rename(&aside, target);
        }
        let _ = remove_tree(staging);
        return Err(error);
    }
    if moved_aside {
        narrate::explain("the new tree is in place: the old one goes");
        remove_or_keep(&aside);
    }
    Ok(())
}

/// rename(2), narrated; an error is reported against `target`, the path
/// the learner knows.
fn rename(from: &Path, to: &Path, target: &Path) -> Result<(), RootfsError> {
    narrate::file_op(format!(
        "rename({:?}, {:?})",
        from.display().to_string(),
        to.display().to_string()
    ));
    fs::rename(from, to).map_err(|source| RootfsError::Publish {
        path: target.into(),
        source,
    })
}

/// Removes the tree at `path` the way nslab must: never through a mount,
/// never through a symlink, never from under a running container.
///
/// - It refuses when `/proc/self/mountinfo` lists a mount point at or
///   below `path`: removing through it would empty the mounted file
///   system too (a bind mount of the host's `/dev`, say). `sudo nslab
///   cleanup` unmounts those first.
/// - It refuses when a process has its root directory at or below `path`:
///   a container still runs there, and would lose its files.
/// - Then it walks the tree with lstat(2), which never follows a symlink
///   (a link is removed as a link; its target is untouched), and refuses to
///   enter anything whose `st_dev` is not the top's: a file system mounted
///   after the check.
///
/// A `path` that does not exist is already removed: that is success.
pub fn remove_tree(path: &Path) -> Result<(), RootfsError> {
    let top = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(removing(path, source)),
        Ok(meta) => meta,
    };
    if !top.is_dir() {
        narrate::file_op(format!("remove {}", path.display()));
        return fs::remove_file(path).map_err(|source| removing(path, source));
    }
    let path = resolve(path)?;
    if let Some(mount_point) = mount_at_or_below(&path)? {
        return Err(RootfsError::MountBeneath { path, mount_point });
    }
    if let Some(pid) = process_rooted_in(&path, &top) {
        return Err(RootfsError::InUse { path, pid });
    }
    narrate::file_op(format!(
        "remove {}   # no mount below, staying on its file system",
        path.display()
    ));
    remove_walk(&path, &path, top.dev())
}

fn removing(path: &Path, source: io::Error) -> RootfsError {
    RootfsError::Remove {
        path: path.into(),
        source,
    }
}

/// The first mount point at or below `dir` in this process's mount table.
fn mount_at_or_below(dir: &Path) -> Result<Option<PathBuf>, RootfsError> {
    let table =
        fs::read("/proc/self/mountinfo").map_err(|source| RootfsError::ReadMounts { source })?;
    // Path::starts_with compares whole components: /a/rootfs2 is not
    // below /a/rootfs.
    Ok(mount_points(&table)
        .into_iter()
        .find(|m| m.starts_with(dir)))
}

/// The mount points listed in the text of a mountinfo file: the fifth
/// field of each line (see proc_pid_mountinfo(5)), with the kernel's octal
/// escapes undone (`\040` is a space, `\134` a backslash). Read as bytes:
/// a path need not be UTF-8.
pub fn mount_points(mountinfo: &[u8]) -> Vec<PathBuf> {
    mountinfo
        .split(|b| *b == b'\n')
        .filter_map(|line| line.split(|b| *b == b' ').nth(4))
        .map(unescape_octal)
        .collect()
}

fn unescape_octal(field: &[u8]) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let mut rest = field;
    while let Some((&byte, tail)) = rest.split_first() {
        let code = tail
            .get(..3)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match (byte, code) {
            (b'\\', Some(code)) => {
                out.push(code);
                rest = &tail[3..];
            }
            _ => {
                out.push(byte);
                rest = tail;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// A process whose root directory is `dir` or below it: a container still
/// running in a tree about to be removed.
///
/// Two looks at `/proc/<pid>/root`, because a container may be in another
/// mount namespace: stat(2) through it gives the inode of the process's
/// root wherever it is (lesson 03 pivots into a bind mount of the rootfs,
/// the same inode); readlink(2) gives its path when it only chrooted
/// (lessons 01 and 02), which also catches a root below `dir`'s top.
fn process_rooted_in(dir: &Path, top: &fs::Metadata) -> Option<i32> {
    let mut pids = fs::read_dir("/proc").ok()?.flatten().filter_map(|entry| {
        let name = entry.file_name();
        name.to_str()?.parse::<i32>().ok()
    });
    pids.find(|pid| {
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        let same = fs::metadata(&root).is_ok_and(|m| (m.dev(), m.ino()) == (top.dev(), top.ino()));
        same || fs::read_link(&root).is_ok_and(|link| link.starts_with(dir))
    })
}

/// Removes `path` and everything below it, staying on file system `dev`;
/// `top` is the tree being removed, for the error.
fn remove_walk(top: &Path, path: &Path, dev: u64) -> Result<(), RootfsError> {
    let meta = fs::symlink_metadata(path).map_err(|source| removing(path, source))?;
    if meta.dev() != dev {
        return Err(RootfsError::MountBeneath {
            path: top.into(),
            mount_point: path.into(),
        });
    }
    if !meta.is_dir() {
        return fs::remove_file(path).map_err(|source| removing(path, source));
    }
    for entry in fs::read_dir(path).map_err(|source| removing(path, source))? {
        let entry = entry.map_err(|source| removing(path, source))?;
        remove_walk(top, &entry.path(), dev)?;
    }
    fs::remove_dir(path).map_err(|source| removing(path, source))
}

/// The directories every rootfs has, with their modes.
const SKELETON: &[(&str, u32)] = &[
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("lib", 0o755),
    ("mnt", 0o755),
    ("proc", 0o555),
    ("root", 0o700),
    ("run", 0o755),
    ("sbin", 0o755),
    ("sys", 0o555),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("var", 0o755),
];

/// Builds a rootfs from `source` into `dest`, which must not exist yet:
/// building over an old tree would mix the two.
pub fn build(source: &Source, dest: &Path) -> Result<(), RootfsError> {
    fs::create_dir(dest).map_err(|source| RootfsError::Build {
        step: "create directory",
        path: dest.into(),
        source,
    })?;
    set_mode(dest, 0o755)?;
    for (dir, mode) in SKELETON {
        mkdir(&dest.join(dir), *mode)?;
    }
    narrate::file_op(format!(
        "mkdir {}/{{bin,dev,etc,proc,sys,tmp,…}}",
        dest.display()
    ));
    match source {
        Source::Busybox(busybox) => install_busybox(busybox, dest)?,
        Source::HostPrograms(programs) => {
            for program in programs {
                install_with_libraries(program, dest)?;
            }
        }
    }
    write_etc(dest, source)
}

fn install_busybox(busybox: &Path, dest: &Path) -> Result<(), RootfsError> {
    // Even a "static" busybox is checked: Debian's plain `busybox` package
    // is dynamically linked and would need its libraries too.
    install_with_libraries(busybox, dest)?;
    narrate::file_op(format!(
        "{} --list-full   # one symlink per applet",
        busybox.display()
    ));
    let listing = Command::new(busybox)
        .arg("--list-full")
        .output()
        .map_err(|source| RootfsError::Build {
            step: "run",
            path: busybox.into(),
            source,
        })?;
    let mut applets: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    // Sorted so that the tree does not depend on busybox's listing order.
    applets.sort();
    applets.dedup();
    for applet in &applets {
        let link = dest.join(applet);
        if link.exists() || link.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).map_err(|source| RootfsError::Build {
                step: "create directory",
                path: parent.into(),
                source,
            })?;
        }
        symlink("/bin/busybox", &link).map_err(|source| RootfsError::Build {
            step: "symlink",
            path: link,
            source,
        })?;
    }
    Ok(())
}

/// Copies `program` to the same path under `dest`, with its ELF interpreter
/// and every shared library the dynamic loader says it needs.
fn install_with_libraries(program: &Path, dest: &Path) -> Result<(), RootfsError> {
    let real = fs::canonicalize(program).map_err(|source| RootfsError::Build {
        step: "resolve",
        path: program.into(),
        source,
    })?;
    // Every program lands in /bin under the name it was found by (so
    // /bin/sh stays "sh" even where the host's is a link to dash); busybox
    // goes to /bin/busybox, where the applet symlinks point. The bytes come
    // from the resolved path, so host links do not matter.
    let inside = if program.file_name().is_some_and(|n| n == "busybox") {
        PathBuf::from("/bin/busybox")
    } else {
        Path::new("/bin").join(program.file_name().unwrap_or_default())
    };
    copy_file(
        &real,
        &dest.join(inside.strip_prefix("/").unwrap_or(&inside)),
    )?;
    for library in needed_libraries(&real)? {
        let target = dest.join(library.strip_prefix("/").unwrap_or(&library));
        if !target.exists() {
            copy_file(&library, &target)?;
        }
    }
    Ok(())
}

/// The ELF interpreter (`PT_INTERP`) of `binary`, or `None` for a static one.
pub fn interpreter(binary: &Path) -> Result<Option<PathBuf>, RootfsError> {
    let bytes = fs::read(binary).map_err(|source| RootfsError::Build {
        step: "read",
        path: binary.into(),
        source,
    })?;
    let elf = goblin::elf::Elf::parse(&bytes).map_err(|source| RootfsError::ReadElf {
        path: binary.into(),
        source,
    })?;
    Ok(elf.interpreter.map(PathBuf::from))
}

/// Every file a dynamically linked `binary` needs at run time (its loader
/// and its libraries, resolved to real files), sorted; empty when static.
pub fn needed_libraries(binary: &Path) -> Result<Vec<PathBuf>, RootfsError> {
    let Some(loader) = interpreter(binary)? else {
        return Ok(Vec::new());
    };
    narrate::file_op(format!(
        "{} --list {}   # which libraries?",
        loader.display(),
        binary.display()
    ));
    let failed = |reason: String| RootfsError::ListLibraries {
        loader: loader.clone(),
        binary: binary.into(),
        reason,
    };
    let output = Command::new(&loader)
        .arg("--list")
        .arg(binary)
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    let mut files = parse_loader_list(&String::from_utf8_lossy(&output.stdout));
    files.push(loader.clone());
    let mut resolved = Vec::new();
    for file in files {
        // Keep the path the loader looks for *and* what it points to: the
        // link name is what DT_NEEDED asks for, the target holds the bytes.
        resolved.push(file.clone());
        if let Ok(real) = fs::canonicalize(&file) {
            resolved.push(real);
        }
    }
    resolved.sort();
    resolved.dedup();
    Ok(resolved)
}

/// Parses the output of `ld.so --list` (the same format `ldd` prints):
///
/// ```text
///         linux-vdso.so.1 (0x00007ffc...)
///         libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f...)
///         /lib64/ld-linux-x86-64.so.2 (0x00007f...)
/// ```
///
/// Returns the absolute paths; the vDSO (provided by the kernel) has none.
pub fn parse_loader_list(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, right)) => right.trim(),
                None => line,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn write_etc(dest: &Path, source: &Source) -> Result<(), RootfsError> {
    let files: [(&str, String, u32); 4] = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                .into(),
            0o644,
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n".into(), 0o644),
        ("etc/hostname", "nslab\n".into(), 0o644),
        (MARKER, format!("{}\n", Stamp::of(source)), 0o644),
    ];
    for (path, content, mode) in files {
        let path = dest.join(path);
        fs::write(&path, content).map_err(|source| RootfsError::Build {
            step: "write",
            path: path.clone(),
            source,
        })?;
        set_mode(&path, mode)?;
    }
    narrate::file_op(format!(
        "write {}/etc/{{passwd,group,hostname,nslab-release}}",
        dest.display()
    ));
    Ok(())
}

fn mkdir(path: &Path, mode: u32) -> Result<(), RootfsError> {
    fs::create_dir_all(path).map_err(|source| RootfsError::Build {
        step: "create directory",
        path: path.into(),
        source,
    })?;
    // Set the mode explicitly: create_dir applies the caller's umask.
    set_mode(path, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), RootfsError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|source| {
        RootfsError::Build {
            step: "set the mode of",
            path: path.into(),
            source,
        }
    })
}

fn copy_file(from: &Path, to: &Path) -> Result<(), RootfsError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|source| RootfsError::Build {
            step: "create directory",
            path: parent.into(),
            source,
        })?;
    }
    narrate::file_op(format!("copy {} -> {}", from.display(), to.display()));
    fs::copy(from, to).map_err(|source| RootfsError::Build {
        step: "copy",
        path: from.into(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Exited, not yet reaped: a zombie.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while is_alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let zombie_alive = is_alive(pid);
        let still_listed = Path::new(&format!("/proc/{pid}")).exists();
        child.wait().unwrap();
        assert!(still_listed, "it was reaped too early to be a zombie");
        assert!(!zombie_alive, "a zombie counted as alive");
        assert!(is_alive(std::process::id() as i32));
    }
    use std::os::fd::AsRawFd;

    #[test]
    fn loader_listing_is_parsed() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_loader_list(out),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
    }

    #[test]
    fn a_directory_without_a_shell_is_not_a_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_rootfs(dir.path()).unwrap_err();
        assert!(err.to_string().contains("has no /bin/sh"), "{err}");
        let err = check_rootfs(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("no such directory"), "{err}");
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let err = check_rootfs(&file).unwrap_err();
        assert!(
            err.to_string().contains("is a file, not a directory"),
            "{err}"
        );
        let err = check_rootfs(&file.join("")).unwrap_err();
        assert!(
            err.to_string().contains("is a file, not a directory"),
            "{err}"
        );
        let err = check_rootfs(&file.join("below")).unwrap_err();
        assert!(err.to_string().contains("a file is on its path"), "{err}");
    }

    #[test]
    fn stamps_round_trip_and_unversioned_markers_are_builder_1() {
        let stamp = Stamp::of(&Source::Busybox("/bin/busybox".into()));
        assert_eq!(stamp.builder, BUILDER_VERSION);
        let line = stamp.to_string();
        assert_eq!(
            line,
            format!(
                "nslab rootfs, built from busybox (/bin/busybox) by builder v{BUILDER_VERSION}"
            )
        );
        assert_eq!(Stamp::parse(&format!("{line}\nmore\n")), Some(stamp));
        assert_eq!(
            Stamp::parse("nslab rootfs, built from 25 host programs and their shared libraries\n"),
            Some(Stamp {
                builder: 1,
                source: "25 host programs and their shared libraries".into()
            })
        );
        assert_eq!(
            Stamp::parse("nslab rootfs, built from busybox by builder vX"),
            None
        );
        assert_eq!(Stamp::parse("hello\n"), None);
        assert_eq!(Stamp::parse(""), None);
    }

    #[test]
    fn every_error_with_advice_has_a_hint() {
        let path = PathBuf::from("/x");
        assert!(RootfsError::NoSource
            .hint()
            .unwrap()
            .contains("busybox-static"));
        let host = RootfsError::HostRoot { path: path.clone() };
        assert!(
            host.to_string().contains("must be a separate directory"),
            "{host}"
        );
        assert!(host.hint().unwrap().contains("/.old-root"));
        let mounted = RootfsError::MountBeneath {
            path: path.clone(),
            mount_point: path.join("proc"),
        };
        assert!(mounted.to_string().contains("/x/proc"), "{mounted}");
        assert!(mounted.hint().unwrap().contains("sudo nslab cleanup"));
        assert!(RootfsError::NotARootfs {
            path,
            reason: String::new()
        }
        .hint()
        .unwrap()
        .contains("/bin/sh"));
    }

    #[test]
    fn a_relative_state_dir_is_made_absolute_without_existing() {
        let dir = absolute_state_dir(Path::new("no/such/state dir/")).unwrap();
        assert!(dir.is_absolute(), "{}", dir.display());
        assert!(dir.ends_with("no/such/state dir"), "{}", dir.display());
        assert!(absolute_state_dir(Path::new("")).is_err());
    }

    #[test]
    fn staging_names_carry_a_pid() {
        let pid = |name: &str| staging_pid(OsStr::new(name));
        assert_eq!(pid(".rootfs.building-42"), Some(42));
        assert_eq!(pid(".rootfs.old-7"), Some(7));
        assert_eq!(pid(".rootfs.building-"), None);
        assert_eq!(pid(".rootfs.building-+4"), None);
        assert_eq!(pid(".rootfs.building-0"), None);
        assert_eq!(pid(".rootfs.building-4x"), None);
        assert_eq!(pid("rootfs"), None);
        assert_eq!(pid(".rootfs.lock"), None);
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        let table = b"22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n\
            30 22 0:5 / /tmp/with\\040space rw - tmpfs tmpfs rw\n\
            31 22 0:6 / /tmp/back\\134slash\\012nl rw - tmpfs tmpfs rw\n\
            32 22 0:7 / /tmp/\xe2\x98\x83 rw - tmpfs tmpfs rw\n";
        assert_eq!(
            mount_points(table),
            vec![
                PathBuf::from("/"),
                PathBuf::from("/tmp/with space"),
                PathBuf::from("/tmp/back\\slash\nnl"),
                PathBuf::from("/tmp/\u{2603}"),
            ]
        );
    }

    /// A small tree: files, nested directories, a symlink inside the tree,
    /// a dangling one, and one pointing outside at `outside`.
    fn plant_tree(tree: &Path, outside: &Path) {
        fs::create_dir_all(tree.join("a/b/c")).unwrap();
        fs::write(tree.join("file"), "x").unwrap();
        fs::write(tree.join("a/b/c/deep"), "x").unwrap();
        symlink("a/b", tree.join("inner-link")).unwrap();
        symlink("/nonexistent/nslab", tree.join("dangling")).unwrap();
        symlink(outside, tree.join("a/outside-link")).unwrap();
        // A directory without write permission: removal must still work
        // for root, and for its owner it is the parent's mode that counts.
        fs::create_dir(tree.join("a/locked")).unwrap();
        fs::set_permissions(tree.join("a/locked"), fs::Permissions::from_mode(0o555)).unwrap();
    }

    #[test]
    fn remove_tree_removes_everything_but_what_links_point_to() {
        crate::narrate::init(true);
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), "precious").unwrap();
        let tree = dir.path().join("tree with space ☃");
        plant_tree(&tree, &outside);
        remove_tree(&tree).unwrap();
        assert!(
            fs::symlink_metadata(&tree).is_err(),
            "the tree is still there"
        );
        assert_eq!(
            fs::read_to_string(outside.join("keep")).unwrap(),
            "precious"
        );
        // Already gone: nothing to do, and no error.
        remove_tree(&tree).unwrap();
    }

    #[test]
    fn remove_tree_of_a_symlink_removes_the_link_only() {
        crate::narrate::init(true);
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), "precious").unwrap();
        let link = dir.path().join("link");
        symlink(&outside, &link).unwrap();
        remove_tree(&link).unwrap();
        assert!(fs::symlink_metadata(&link).is_err());
        assert_eq!(
            fs::read_to_string(outside.join("keep")).unwrap(),
            "precious"
        );
    }

    #[test]
    fn stale_staging_dirs_lists_dead_runs_only() {
        let state = tempfile::tempdir().unwrap();
        let dead = dead_pid();
        let live = std::process::id();
        for name in [
            format!(".rootfs.building-{dead}"),
            format!(".rootfs.old-{dead}"),
            format!(".rootfs.building-{live}"),
            format!(".rootfs.old-{live}"),
            format!(".other.building-{dead}"),
            "rootfs".to_string(),
        ] {
            fs::create_dir(state.path().join(name)).unwrap();
        }
        let root = fs::canonicalize(state.path()).unwrap();
        assert_eq!(
            stale_staging_dirs(state.path()),
            vec![
                root.join(format!(".rootfs.building-{dead}")),
                root.join(format!(".rootfs.old-{dead}")),
            ]
        );
        assert!(stale_staging_dirs(&state.path().join("missing")).is_empty());
    }

    /// The pid of a process that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    const NEEDS_ROOT: &str = "this test needs root: run it through scripts/test.sh, as root";

    /// Runs `check` in a forked child and fails unless it returns `Ok`.
    ///
    /// A child, so that what it does to its mount namespace or root
    /// directory dies with it. After fork(2) only the calling thread exists
    /// in the child; narration is silenced first, so the child never needs
    /// the stdout lock another test thread might have held.
    fn in_child(check: impl FnOnce() -> Result<(), String>) {
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::{fork, ForkResult};
        crate::narrate::init(true);
        // SAFETY: the child runs `check` and leaves with _exit(2), without
        // returning into the test harness.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
                    Ok(Ok(())) => 0,
                    Ok(Err(message)) => {
                        let _ = nix::unistd::write(io::stderr(), format!("{message}\n").as_bytes());
                        1
                    }
                    Err(_) => 2,
                };
                // SAFETY: ends the child at once, running no destructors.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).unwrap();
                assert_eq!(
                    status,
                    WaitStatus::Exited(child, 0),
                    "the check in the child failed: its message is on stderr"
                );
            }
        }
    }

    #[test]
    #[ignore = "needs root: run by scripts/test.sh as root"]
    fn remove_tree_refuses_a_tree_with_a_mount_beneath() {
        use nix::mount::{mount, MsFlags};
        use nix::sched::{unshare, CloneFlags};
        assert!(nix::unistd::geteuid().is_root(), "{NEEDS_ROOT}");
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let tree = fs::canonicalize(dir.path()).unwrap().join("tree");
        plant_tree(&tree, &outside);
        // A space in the mount point: mountinfo escapes it as \040.
        let mnt = tree.join("a/b/mnt point");
        fs::create_dir(&mnt).unwrap();
        in_child(|| {
            let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
            // A mount namespace of its own, made private, so that nothing
            // this child mounts reaches the host's mount table.
            unshare(CloneFlags::CLONE_NEWNS).map_err(|e| fail("unshare", &e))?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| fail("make / private", &e))?;
            mount(
                Some("tmpfs"),
                &mnt,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .map_err(|e| fail("mount tmpfs", &e))?;
            fs::write(mnt.join("on-tmpfs"), "x").map_err(|e| fail("write", &e))?;
            match remove_tree(&tree) {
                Err(RootfsError::MountBeneath { mount_point, .. }) if mount_point == mnt => {}
                other => return Err(format!("expected a refusal naming {mnt:?}, got {other:?}")),
            }
            // Also when the mount is the top itself.
            match remove_tree(&mnt) {
                Err(RootfsError::MountBeneath { mount_point, .. }) if mount_point == mnt => {}
                other => {
                    return Err(format!(
                        "expected a refusal of the mount itself, got {other:?}"
                    ))
                }
            }
            for kept in ["file", "a/b/c/deep", "inner-link", "a/b/mnt point/on-tmpfs"] {
                fs::symlink_metadata(tree.join(kept))
                    .map_err(|e| fail(&format!("{kept} was removed"), &e))?;
            }
            // The walk on its own, as if the mount came after the check:
            // it stops at the other file system and leaves it alone.
            let top = fs::symlink_metadata(&tree).map_err(|e| fail("stat", &e))?;
            match remove_walk(&tree, &tree, top.dev()) {
                Err(RootfsError::MountBeneath { mount_point, .. }) if mount_point == mnt => {}
                other => return Err(format!("the walk crossed into the tmpfs: {other:?}")),
            }
            fs::symlink_metadata(mnt.join("on-tmpfs"))
                .map_err(|e| fail("the walk removed a file on the tmpfs", &e))?;
            Ok(())
        });
        // The child's namespace, and its tmpfs, are gone with it.
        remove_tree(&tree).unwrap();
        assert!(outside.is_dir());
    }

    #[test]
    #[ignore = "needs root: run by scripts/test.sh as root"]
    fn remove_tree_refuses_a_tree_a_process_has_as_its_root() {
        use nix::sys::wait::waitpid;
        use nix::unistd::{chroot, fork, pipe, read, write, ForkResult};
        assert!(nix::unistd::geteuid().is_root(), "{NEEDS_ROOT}");
        crate::narrate::init(true);
        let dir = tempfile::tempdir().unwrap();
        let tree = fs::canonicalize(dir.path()).unwrap().join("tree");
        fs::create_dir_all(tree.join("sub")).unwrap();
        let (ready_read, ready_write) = pipe().unwrap();
        let (go_read, go_write) = pipe().unwrap();
        // SAFETY: the child only makes system calls, then _exit(2)s.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                drop(go_write);
                // Below the top, so that only the readlink look finds it.
                let code = i32::from(chroot(&tree.join("sub")).is_err());
                let _ = write(&ready_write, b"x");
                let _ = read(go_read.as_raw_fd(), &mut [0u8; 1]);
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                drop((ready_write, go_read));
                read(ready_read.as_raw_fd(), &mut [0u8; 1]).unwrap();
                let refused = remove_tree(&tree);
                drop(go_write);
                waitpid(child, None).unwrap();
                match refused {
                    Err(RootfsError::InUse { pid, .. }) => assert_eq!(pid, child.as_raw()),
                    other => panic!("expected a refusal, got {other:?}"),
                }
                assert!(tree.join("sub").is_dir());
                remove_tree(&tree).unwrap();
            }
        }
    }

    #[test]
    fn host_shell_needs_its_loader() {
        // /bin/sh on a glibc host is dynamically linked: the loader must be
        // among what it needs. (A host with a static sh needs nothing.)
        let sh = fs::canonicalize("/bin/sh").unwrap();
        let libs = needed_libraries(&sh).unwrap();
        if let Some(loader) = interpreter(&sh).unwrap() {
            assert!(libs.contains(&loader), "{libs:?}");
            assert!(
                libs.iter().any(|l| l.to_string_lossy().contains("libc")),
                "{libs:?}"
            );
        } else {
            assert!(libs.is_empty());
        }
    }
}
