//! Lesson 03: the mount namespace, private propagation, `pivot_root`, and
//! fresh `/proc`, `/dev`, `/sys` and `/tmp`.
//!
//! `clone(CLONE_NEWNS)` gives the child its own *copy* of the mount table
//! (mount_namespaces(7)): from then on, a mount or unmount inside changes the
//! copy, not the host's table. With one exception, which is the step every
//! tutorial's readers trip on: **propagation**. A mount can be *shared* with
//! peers in other namespaces (systemd makes the host's whole tree shared at
//! boot), and a copy made by `CLONE_NEWNS` starts out as a peer of the
//! original. So the first thing a container does in its new namespace is
//! [`make_private`]: `mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)`.
//!
//! Then it replaces its root with [`pivot_into`]: unlike `chroot(2)`, which
//! only changes one process's idea of `/`, `pivot_root(2)` swaps the root
//! *mount* of the namespace; once the old root is unmounted there is no path
//! left that leads back to the host's files, and the lesson 01 escape climbs
//! to the container's `/` and stops there.
//!
//! Last, [`standard_filesystems`] mounts what programs expect to find: a
//! `/proc` for the new PID namespace, a minimal `/dev`, a read-only `/sys`
//! and a `/tmp`.
//!
//! Every function here narrates the call it is about to make, then makes it.

use crate::narrate;
use crate::process::{self, Exit};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::ForkResult;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

/// The flag that puts a new child into a new mount namespace.
///
/// Its name is older than the other namespaces: in 2002 the mount
/// namespace was the only one, so it became simply "new namespace".
pub const FLAG: CloneFlags = CloneFlags::CLONE_NEWNS;

/// Where `pivot_root` puts the old root, relative to the new root, until it
/// is unmounted and the directory removed.
pub const OLD_ROOT: &str = ".old-root";

/// What can go wrong while setting up a container's mounts.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// `mount(2)` failed.
    #[error("failed to mount {what} on {}", target.display())]
    Mount {
        /// What was being mounted, as narrated ("proc", "a bind of …", …).
        what: String,
        /// The mount point.
        target: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// `mount(2)` changing a propagation type failed.
    #[error("failed to make the mounts under {} {propagation}", target.display())]
    Propagation {
        /// "private" or "shared".
        propagation: &'static str,
        /// The top of the tree that was changed.
        target: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// `chdir(2)` failed.
    #[error("failed to change directory to {}", path.display())]
    Chdir {
        /// The target directory.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// `flock(2)` on the rootfs failed.
    #[error("failed to lock the rootfs {} while pivoting into it", path.display())]
    Lock {
        /// The rootfs.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `pivot_root(2)` failed.
    #[error("failed to pivot the root to {} (old root at {put_old})", new_root.display())]
    PivotRoot {
        /// The new root, as the host names it.
        new_root: PathBuf,
        /// Where the old root was to go, relative to the new root.
        put_old: &'static str,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// `umount2(2)` failed.
    #[error("failed to unmount {}", target.display())]
    Unmount {
        /// The mount point.
        target: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// Creating or removing a directory, device node, symlink or file failed.
    #[error("failed to {step} {}", path.display())]
    File {
        /// "create the directory", "remove the directory", "create the device node", …
        step: &'static str,
        /// The path.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// Reading `/proc/self/mountinfo` or `/proc/<pid>/ns/mnt` failed.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `fork(2)` of the helper that owns the throwaway outer namespace failed.
    #[error("failed to fork the helper for the throwaway mount namespace")]
    Fork(#[source] Errno),
    /// `unshare(2)` failed.
    #[error("failed to unshare a new mount namespace")]
    Unshare(#[source] Errno),
    /// Waiting for the helper failed.
    #[error("failed to wait for the helper")]
    Wait(#[source] process::ProcessError),
}

/// Names of the mount flags set in `flags`, in the order the lessons use.
pub fn flag_names(flags: MsFlags) -> Vec<&'static str> {
    const NAMES: &[(MsFlags, &str)] = &[
        (MsFlags::MS_BIND, "MS_BIND"),
        (MsFlags::MS_REC, "MS_REC"),
        (MsFlags::MS_PRIVATE, "MS_PRIVATE"),
        (MsFlags::MS_SLAVE, "MS_SLAVE"),
        (MsFlags::MS_SHARED, "MS_SHARED"),
        (MsFlags::MS_REMOUNT, "MS_REMOUNT"),
        (MsFlags::MS_RDONLY, "MS_RDONLY"),
        (MsFlags::MS_NOSUID, "MS_NOSUID"),
        (MsFlags::MS_NODEV, "MS_NODEV"),
        (MsFlags::MS_NOEXEC, "MS_NOEXEC"),
    ];
    NAMES
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(_, name)| *name)
        .collect()
}

/// How `mount(2)` is narrated: `mount("proc", "/proc", "proc", MS_NOSUID, NULL)`.
pub fn describe_mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> String {
    let quoted = |s: Option<&str>| s.map_or("NULL".to_string(), |s| format!("{s:?}"));
    format!(
        "mount({}, {:?}, {}, {}, {})",
        quoted(source),
        target.display().to_string(),
        quoted(fstype),
        narrate::flags(&flag_names(flags)),
        quoted(data)
    )
}

/// Mounts a file system. See mount(2).
///
/// `source`, `fstype` and `data` are `None` where the call passes `NULL`.
/// `what` names the mount in an error message.
pub fn mount(
    what: &str,
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), MountError> {
    narrate::syscall(describe_mount(source, target, fstype, flags, data));
    nix::mount::mount(source, target, fstype, flags, data).map_err(|source| MountError::Mount {
        what: what.to_string(),
        target: target.into(),
        source,
    })
}

/// Changes the propagation type of every mount from `/` down. See
/// mount(2), "Changing the propagation type of an existing mount", and
/// mount_namespaces(7).
fn set_propagation(flag: MsFlags, propagation: &'static str) -> Result<(), MountError> {
    let root = Path::new("/");
    // Only the flags matter here: source, type and data are ignored.
    let flags = MsFlags::MS_REC | flag;
    narrate::syscall(describe_mount(None, root, None, flags, None));
    nix::mount::mount(None::<&str>, root, None::<&str>, flags, None::<&str>).map_err(|source| {
        MountError::Propagation {
            propagation,
            target: root.into(),
            source,
        }
    })
}

/// Makes every mount in this namespace private: nothing mounted or
/// unmounted here from now on propagates to another namespace, and nothing
/// from elsewhere propagates in. See mount_namespaces(7).
///
/// This must come before the first mount. `CLONE_NEWNS` copies the mount
/// table, but on a host where `/` is *shared* (every systemd host: systemd
/// runs the equivalent of `mount --make-rshared /` at boot) each copy is a
/// peer of the original, and a mount made on the copy appears on the host.
/// `MS_REC` because propagation is a property of each mount, not of the
/// tree: `/`'s alone would leave `/proc`, `/sys`, … shared.
// ANCHOR: private
pub fn make_private() -> Result<(), MountError> {
    set_propagation(MsFlags::MS_PRIVATE, "private")?;
    narrate::explain(
        "every mount in our copy of the table is private now: nothing we mount leaks back",
    );
    Ok(())
}
// ANCHOR_END: private

/// Says that [`make_private`] is skipped on purpose (`03-mount --no-private`).
pub fn skip_private() {
    narrate::warning(
        "skipped: mount(NULL, \"/\", NULL, MS_REC | MS_PRIVATE, NULL)   (--no-private)",
    );
    narrate::explain("our copy of the mount table is still a peer of the one it was copied from");
}

fn chdir(path: &Path) -> Result<(), MountError> {
    narrate::syscall(format!("chdir({:?})", path.display().to_string()));
    nix::unistd::chdir(path).map_err(|source| MountError::Chdir {
        path: path.into(),
        source,
    })
}

/// Creates a directory (an existing one is fine). See mkdir(2).
pub fn mkdir(path: &Path, mode: u32) -> Result<(), MountError> {
    narrate::syscall(format!(
        "mkdir({:?}, {mode:04o})",
        path.display().to_string()
    ));
    match nix::unistd::mkdir(path, Mode::from_bits_truncate(mode)) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(source) => Err(MountError::File {
            step: "create the directory",
            path: path.into(),
            source,
        }),
    }
}

/// Creates `path` as a directory unless it already is one: a rootfs given
/// with `--rootfs` may lack a mount point the lesson needs.
fn ensure_dir(path: &Path, mode: u32) -> Result<(), MountError> {
    if path.is_dir() {
        Ok(())
    } else {
        mkdir(path, mode)
    }
}

fn rmdir(path: &Path) -> Result<(), MountError> {
    narrate::syscall(format!("rmdir({:?})", path.display().to_string()));
    nix::unistd::unlinkat(None, path, nix::unistd::UnlinkatFlags::RemoveDir).map_err(|source| {
        MountError::File {
            step: "remove the directory",
            path: path.into(),
            source,
        }
    })
}

/// Swaps the root mount of this namespace for `rootfs`. See pivot_root(2).
///
/// 1. `pivot_root` wants `new_root` to be a *mount point*, and a rootfs is
///    usually just a directory: bind-mounting it onto itself makes it one
///    (`MS_REC` to keep anything mounted below it).
/// 2. `pivot_root(".", ".old-root")` from inside the new root: the new root
///    becomes `/`, and the old root is moved to `/.old-root`.
///
/// The old root stays there, reachable, until [`OldRoot::detach`]: the
/// container's `/dev/console` is the terminal the lesson runs on, which
/// lives on the host's devpts, and a bind mount can only be made from a
/// mount that is still in this namespace.
///
/// The kernel refuses (EINVAL) if the current root's mount or the new
/// root's parent mount is shared, so that the pivot never propagates to
/// another namespace: [`make_private`] first.
///
/// The rootfs directory is shared by every container that uses it, and so
/// is `.old-root` in it: an exclusive `flock(2)` on the rootfs, held until
/// the directory is removed again, keeps two containers starting at once
/// from pulling it from under each other.
// ANCHOR: pivot
pub fn pivot_into(rootfs: &Path) -> Result<OldRoot, MountError> {
    let rootfs_name = rootfs.display().to_string();
    mount(
        "the rootfs onto itself",
        Some(&rootfs_name),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    narrate::explain("pivot_root needs the new root to be a mount point: now it is one");
    chdir(rootfs)?;

    narrate::syscall(format!(
        "flock({rootfs_name:?}, LOCK_EX)   # other containers may be pivoting into this rootfs too"
    ));
    let lock_error = |source| MountError::Lock {
        path: rootfs.into(),
        source,
    };
    let dir = File::open(rootfs).map_err(lock_error)?;
    let lock = Flock::lock(dir, FlockArg::LockExclusive)
        .map_err(|(_, errno)| lock_error(io::Error::from(errno)))?;

    let put_old = Path::new(OLD_ROOT);
    mkdir(put_old, 0o700)?;
    narrate::syscall(format!("pivot_root(\".\", {OLD_ROOT:?})"));
    if let Err(source) = nix::unistd::pivot_root(".", put_old) {
        narrate::warning(format!("pivot_root failed: {source}"));
        // Leave the shared rootfs as we found it.
        let _ = rmdir(put_old);
        return Err(MountError::PivotRoot {
            new_root: rootfs.into(),
            put_old: OLD_ROOT,
            source,
        });
    }
    narrate::explain(format!(
        "the rootfs is now the root mount of this namespace; the host's / is at /{OLD_ROOT}"
    ));
    chdir(Path::new("/"))?;
    Ok(OldRoot { lock: Some(lock) })
}
// ANCHOR_END: pivot

/// The host's old root, at `/.old-root` after [`pivot_into`], until
/// [`OldRoot::detach`] takes it away. If the container fails before that,
/// dropping this value detaches it anyway, so the directory does not stay
/// behind in the rootfs.
#[derive(Debug)]
pub struct OldRoot {
    lock: Option<Flock<File>>,
}

impl OldRoot {
    /// Unmounts the old root and removes its directory. See umount2(2).
    ///
    /// The old root still has mounts below it (`/proc`, `/sys`, …), so a
    /// plain unmount would fail with EBUSY; `MNT_DETACH` (a *lazy* unmount)
    /// takes the whole tree out of the namespace at once.
    // ANCHOR: detach
    pub fn detach(mut self) -> Result<(), MountError> {
        let old_root = Path::new("/").join(OLD_ROOT);
        narrate::syscall(format!(
            "umount2({:?}, MNT_DETACH)",
            old_root.display().to_string()
        ));
        let unmounted = nix::mount::umount2(&old_root, MntFlags::MNT_DETACH);
        // Whatever happens next, Drop must not try again.
        let lock = self.lock.take();
        unmounted.map_err(|source| MountError::Unmount {
            target: old_root.clone(),
            source,
        })?;
        rmdir(&old_root)?;
        drop(lock);
        narrate::explain(
            "the host's tree is detached from this namespace: no path leads there any more",
        );
        Ok(())
    }
    // ANCHOR_END: detach
}

impl Drop for OldRoot {
    fn drop(&mut self) {
        if self.lock.take().is_some() {
            // The container failed between pivot_root and detach: leave the
            // shared rootfs without a stray .old-root all the same.
            let old_root = Path::new("/").join(OLD_ROOT);
            narrate::syscall(format!(
                "umount2({:?}, MNT_DETACH)   # cleaning up after the error",
                old_root.display().to_string()
            ));
            let _ = nix::mount::umount2(&old_root, MntFlags::MNT_DETACH);
            let _ = rmdir(&old_root);
        }
    }
}

/// A device node [`mount_dev`] creates: name, major, minor.
pub const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The symlinks [`mount_dev`] creates: link name, target.
pub const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Mounts a `/proc` for the container. See proc(5).
///
/// A procfs instance shows the PID namespace of the process that mounted
/// it, whatever namespace later reads it. The `/proc` the container would
/// otherwise have (a copy of the host's mount) shows the host's
/// processes; mounted here, by PID 1 of the new namespace, it shows only
/// the container's. `MS_NOSUID | MS_NODEV | MS_NOEXEC`: nothing in /proc
/// should be run or act as a device.
// ANCHOR: proc
pub fn mount_proc() -> Result<(), MountError> {
    let target = Path::new("/proc");
    ensure_dir(target, 0o555)?;
    mount(
        "proc",
        Some("proc"),
        target,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )?;
    narrate::explain(
        "this procfs belongs to our PID namespace: ps will list only the container's processes",
    );
    Ok(())
}
// ANCHOR_END: proc

/// Creates a character device node. See mknod(2).
fn mknod(path: &Path, major: u64, minor: u64) -> Result<(), MountError> {
    narrate::syscall(format!(
        "mknod({:?}, S_IFCHR | 0666, makedev({major}, {minor}))",
        path.display().to_string()
    ));
    nix::sys::stat::mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(major, minor),
    )
    .map_err(|source| MountError::File {
        step: "create the device node",
        path: path.into(),
        source,
    })
}

fn symlink(target: &str, link: &Path) -> Result<(), MountError> {
    narrate::syscall(format!(
        "symlink({target:?}, {:?})",
        link.display().to_string()
    ));
    nix::unistd::symlinkat(target, None, link).map_err(|source| MountError::File {
        step: "create the symlink",
        path: link.into(),
        source,
    })
}

/// Sets the file mode creation mask, returning the old one. See umask(2).
fn umask(mask: u32) -> Mode {
    narrate::syscall(format!("umask({})", octal(mask)));
    nix::sys::stat::umask(Mode::from_bits_truncate(mask))
}

/// An octal number as C writes it: `0`, `022`, `0755`.
fn octal(n: u32) -> String {
    if n == 0 {
        "0".into()
    } else {
        format!("0{n:o}")
    }
}

/// Builds a minimal `/dev`: a tmpfs holding the few device nodes programs
/// expect, a private `devpts` for terminals, a `/dev/shm`, and the usual
/// symlinks. See the OCI runtime spec's list of default devices.
///
/// The host's `/dev` is not an option: it holds every disk and every
/// device of the machine. The nodes are made with `mknod(2)`, which root
/// may do; a runtime in a user namespace may not, and bind-mounts the
/// host's nodes one by one instead (runc does). The tmpfs must *not* be
/// `MS_NODEV`, or none of its nodes would work. The modes need `umask(0)`
/// around the `mknod` calls, as the mask would otherwise clear the bits
/// that let everyone read and write `/dev/null`.
///
/// `/dev/console` is the terminal the lesson was started on, bound in,
/// when there is one (runc binds the container's own pseudo-terminal
/// there); the host's real console is never made available.
// ANCHOR: dev
pub fn mount_dev() -> Result<(), MountError> {
    let dev = Path::new("/dev");
    ensure_dir(dev, 0o755)?;
    mount(
        "a tmpfs",
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID,
        Some("mode=755,size=65536k"),
    )?;
    let old_mask = umask(0);
    let made = DEVICES
        .iter()
        .try_for_each(|(name, major, minor)| mknod(&dev.join(name), *major, *minor));
    nix::sys::stat::umask(old_mask);
    narrate::syscall(format!("umask({})", octal(old_mask.bits())));
    made?;

    for (name, target) in DEV_SYMLINKS {
        symlink(target, &dev.join(name))?;
    }

    // Each devpts instance has its own numbering of pseudo-terminals:
    // `newinstance` (the default since Linux 4.7, explicit for older
    // kernels) keeps the container's ptys apart from the host's;
    // `ptmxmode=0666` lets anyone open pts/ptmx, which /dev/ptmx points to.
    let pts = dev.join("pts");
    mkdir(&pts, 0o755)?;
    mount(
        "devpts",
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;

    let shm = dev.join("shm");
    mkdir(&shm, 0o755)?;
    mount(
        "a tmpfs",
        Some("shm"),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )?;

    bind_console(dev)?;
    Ok(())
}
// ANCHOR_END: dev

/// Binds the lesson's terminal, if it has one, onto `/dev/console`.
fn bind_console(dev: &Path) -> Result<(), MountError> {
    // The name the terminal has on the host, e.g. /dev/pts/0: the link
    // under /proc/self/fd names it as seen from the namespace it was opened in.
    if !io::stdin().is_terminal() {
        narrate::explain("no terminal on standard input, so no /dev/console");
        return Ok(());
    }
    let tty = match fs::read_link("/proc/self/fd/0") {
        Ok(name) if name.starts_with("/dev") => name,
        _ => {
            narrate::explain(
                "standard input is a terminal without a name in /dev: no /dev/console",
            );
            return Ok(());
        }
    };
    narrate::syscall(format!(
        "readlink(\"/proc/self/fd/0\") = {:?}   # our terminal, by its host name",
        tty.display().to_string()
    ));
    // A bind mount's source must be a mount of this namespace: the file
    // behind /proc/self/fd/0 is on the *host's* mount (EINVAL), but our copy
    // of the host's tree, still attached under /.old-root, has the same
    // terminal at the same path.
    let source = Path::new("/")
        .join(OLD_ROOT)
        .join(tty.strip_prefix("/").unwrap_or(&tty));
    let console = dev.join("console");
    narrate::syscall(format!(
        "open({:?}, O_CREAT | O_WRONLY, 0600)   # a file to bind onto",
        console.display().to_string()
    ));
    File::create(&console).map_err(|e| MountError::File {
        step: "create",
        path: console.clone(),
        source: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
    })?;
    mount(
        "the terminal",
        Some(&source.display().to_string()),
        &console,
        None,
        MsFlags::MS_BIND,
        None,
    )?;
    narrate::explain(format!(
        "/dev/console is the terminal this lesson runs on ({} on the host)",
        tty.display()
    ));
    Ok(())
}

/// Mounts a read-only `/sys`. See sysfs(5).
///
/// sysfs exposes kernel and device settings, many of them writable by
/// root; a container has no business changing them, so `MS_RDONLY`.
// ANCHOR: sys
pub fn mount_sys() -> Result<(), MountError> {
    let target = Path::new("/sys");
    ensure_dir(target, 0o555)?;
    mount(
        "sysfs",
        Some("sysfs"),
        target,
        Some("sysfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None,
    )
}
// ANCHOR_END: sys

/// Mounts a fresh tmpfs on `/tmp`: scratch space that lives in memory and
/// vanishes with the container, instead of files left in the shared rootfs.
pub fn mount_tmp() -> Result<(), MountError> {
    let target = Path::new("/tmp");
    ensure_dir(target, 0o1777)?;
    mount(
        "a tmpfs",
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
}

/// Mounts everything a program expects to find, after [`pivot_into`] and
/// before [`OldRoot::detach`]: `/proc` first (the `/dev` symlinks and the
/// `/dev/console` bind go through it), then `/dev`, `/sys` and `/tmp`.
// ANCHOR: filesystems
pub fn standard_filesystems() -> Result<(), MountError> {
    mount_proc()?;
    mount_dev()?;
    mount_sys()?;
    mount_tmp()?;
    Ok(())
}
// ANCHOR_END: filesystems

/// One line of `/proc/<pid>/mountinfo` (proc(5)), the parts the lessons use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MountEntry {
    /// The mount's unique id.
    pub id: u32,
    /// Where it is mounted, relative to the reader's root.
    pub mount_point: String,
    /// The file system type.
    pub fstype: String,
}

/// The mounts a process sees, from its `/proc/<pid>/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountTable(pub BTreeSet<MountEntry>);

impl MountTable {
    /// The calling process's mount table.
    pub fn read() -> Result<Self, MountError> {
        let path = PathBuf::from("/proc/self/mountinfo");
        let text = fs::read_to_string(&path).map_err(|source| MountError::Read { path, source })?;
        Ok(Self::parse(&text))
    }

    /// Parses the text of a `mountinfo` file.
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // Optional fields end with "-"; the file system type follows.
                let dash = fields.iter().position(|f| *f == "-")?;
                Some(MountEntry {
                    id: fields.first()?.parse().ok()?,
                    mount_point: fields.get(4)?.to_string(),
                    fstype: fields.get(dash + 1)?.to_string(),
                })
            })
            .collect();
        MountTable(entries)
    }

    /// The mounts in `self` that `before` did not have.
    pub fn added_since(&self, before: &MountTable) -> Vec<MountEntry> {
        self.0.difference(&before.0).cloned().collect()
    }
}

/// Compares the host's mount table with the one read before the run, and
/// says what the learner should conclude.
pub fn show_host_unchanged(before: &MountTable) -> Result<bool, MountError> {
    narrate::heading("The host's mount table, after the run");
    narrate::file_op("read /proc/self/mountinfo");
    let after = MountTable::read()?;
    let added = after.added_since(before);
    let removed = before.added_since(&after);
    if added.is_empty() && removed.is_empty() {
        narrate::success(
            "unchanged: every mount the container made lived and died in its own namespace",
        );
        return Ok(true);
    }
    for entry in &added {
        narrate::warning(format!(
            "new on the host: {} ({})",
            entry.mount_point, entry.fstype
        ));
    }
    for entry in &removed {
        narrate::warning(format!(
            "gone from the host: {} ({})",
            entry.mount_point, entry.fstype
        ));
    }
    narrate::explain(
        "something else on this machine mounted or unmounted meanwhile, or a mount leaked",
    );
    Ok(false)
}

/// Explains the outcome of lesson 01's escape tried after [`pivot_into`].
pub fn explain_escape(outcome: crate::chroot::EscapeOutcome) {
    match outcome {
        crate::chroot::EscapeOutcome::StayedInside => narrate::explain(
            "chroot(2) had only moved our idea of `/`: the host's tree was still mounted above it.\n\
             After pivot_root and the unmount of the old root, the container's / is the top of\n\
             its mount namespace: `..` of / is / itself, and there is nothing above to climb to.",
        ),
        crate::chroot::EscapeOutcome::ReachedHostRoot => narrate::warning(
            "the escape reached the host's /: the old root was not unmounted",
        ),
    }
}

/// Runs `run` in a forked helper that owns a throwaway mount namespace
/// whose mounts are all *shared*, the way systemd sets up a host, so that
/// `03-mount --no-private` can show a leak without the real host seeing it.
///
/// The helper:
/// 1. `unshare(CLONE_NEWNS)`: a copy of the host's table, all its own.
/// 2. makes it private, which cuts every tie with the host's mounts (on a
///    systemd host the copy would otherwise be the host's peer, and the
///    demo would leak onto the real host);
/// 3. makes it shared again: each mount now starts a new peer group that
///    exists only in this throwaway namespace and in copies made from it;
/// 4. runs the container, then compares its own mount table with the one
///    it had before, and prints what leaked into it.
///
/// When the helper exits, its namespace and everything that leaked into it
/// are gone. Returns how the helper (and so the container) ended.
// ANCHOR: throwaway
pub fn in_shared_outer_namespace<F>(run: F) -> Result<Exit, MountError>
where
    F: FnOnce() -> Result<Exit, crate::Error>,
{
    narrate::warning("--no-private: the container runs in a throwaway outer mount namespace,");
    narrate::explain("shared like a systemd host's, so that the real host never sees what leaks");
    narrate::syscall("fork()   # a helper to own it, so the lesson itself stays on the host");
    // SAFETY: the lessons are single-threaded; the child only runs the
    // lesson's own code and ends with _exit.
    let helper = match unsafe { nix::unistd::fork() }.map_err(MountError::Fork)? {
        ForkResult::Parent { child } => child,
        ForkResult::Child => {
            let code = match outer_namespace(run) {
                Ok(exit) => exit.status(),
                Err(error) => {
                    let error = crate::Error::from(error);
                    crate::report::print_error(&error);
                    error.exit_code()
                }
            };
            process::exit_now(code)
        }
    };
    let exit = process::wait(helper).map_err(MountError::Wait)?;
    narrate::explain(
        "the helper is gone, and with it the outer namespace and the mounts that leaked into it",
    );
    Ok(exit)
}
// ANCHOR_END: throwaway

fn outer_namespace<F>(run: F) -> Result<Exit, MountError>
where
    F: FnOnce() -> Result<Exit, crate::Error>,
{
    narrate::syscall("unshare(CLONE_NEWNS)");
    nix::sched::unshare(FLAG).map_err(MountError::Unshare)?;
    set_propagation(MsFlags::MS_PRIVATE, "private")?;
    narrate::explain("first cut every tie with the real host's mounts,");
    set_propagation(MsFlags::MS_SHARED, "shared")?;
    narrate::explain(
        "then share everything again, as systemd does at boot: but these peer groups\n\
         exist only in this outer namespace and the copies made from it",
    );
    narrate::file_op("read /proc/self/mountinfo   # the outer namespace, before");
    let before = MountTable::read()?;

    let exit = match run() {
        Ok(exit) => exit,
        Err(error) => {
            crate::report::print_error(&error);
            Exit::Code(error.exit_code())
        }
    };

    narrate::heading("The outer namespace, after the container");
    narrate::file_op("read /proc/self/mountinfo   # the outer namespace, after");
    let leaked = MountTable::read()?.added_since(&before);
    if leaked.is_empty() {
        narrate::success("nothing leaked into the outer namespace");
    }
    for entry in &leaked {
        narrate::warning(format!(
            "leaked into the outer namespace: {} ({})",
            entry.mount_point, entry.fstype
        ));
    }
    if !leaked.is_empty() {
        narrate::explain(
            "the container mounted this in its own namespace, but its copy of the table was a\n\
             peer of ours, so the mount propagated here, and it outlives the container.\n\
             On a systemd host without the throwaway namespace, this would be the host's table.",
        );
    }
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_calls_are_narrated_like_the_man_page() {
        let line = describe_mount(
            Some("proc"),
            Path::new("/proc"),
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        );
        assert_eq!(
            line,
            r#"mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)"#
        );
        let line = describe_mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        );
        assert_eq!(line, r#"mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)"#);
    }

    #[test]
    fn mountinfo_is_parsed_past_the_optional_fields() {
        let text = "22 27 0:21 / /proc rw,relatime shared:5 - proc proc rw\n\
                    27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";
        let table = MountTable::parse(text);
        let points: Vec<(&str, &str)> = table
            .0
            .iter()
            .map(|e| (e.mount_point.as_str(), e.fstype.as_str()))
            .collect();
        assert_eq!(points, vec![("/proc", "proc"), ("/", "ext4")]);
    }

    #[test]
    fn added_mounts_are_found() {
        let before = MountTable::parse("27 1 254:0 / / rw - ext4 /dev/vda rw\n");
        let after = MountTable::parse(
            "27 1 254:0 / / rw - ext4 /dev/vda rw\n99 27 254:0 /x /x rw shared:1 - ext4 /dev/vda rw\n",
        );
        let added = after.added_since(&before);
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].mount_point, "/x");
        assert!(before.added_since(&after).is_empty());
    }

    #[test]
    fn our_own_mount_table_has_a_root() {
        let table = MountTable::read().unwrap();
        assert!(table.0.iter().any(|e| e.mount_point == "/"));
    }
}
