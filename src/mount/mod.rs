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
//! Last, [`mount_proc`], [`mount_dev`], [`mount_sys`] and [`mount_tmp`]
//! mount what programs expect to find: a `/proc` for the new PID namespace,
//! a minimal `/dev`, a read-only `/sys` and a `/tmp`
//! ([`crate::spec::Mount::STANDARD`]).
//!
//! This module is the mechanism, what the runtime needs too; [`observe`]
//! holds what only the lesson shows: the host's mount table before and
//! after, and the throwaway shared namespace of `--no-private`.

pub mod generic;
pub mod observe;
pub mod probe;

pub use observe::{explain_escape, in_shared_outer_namespace, show_host_unchanged, MountTable};

use crate::{narrate, syscall};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::mount::{MntFlags, MsFlags};
use std::fs::{self, File};
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

/// Where `pivot_root` puts the old root, relative to the new root, until it
/// is unmounted and the directory removed.
pub const OLD_ROOT: &str = ".old-root";

/// What can go wrong while setting up a container's mounts.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// A mount target inside the container that could lead elsewhere.
    #[error("refusing to mount on {}: {why}", target.display())]
    UnsafeTarget {
        /// The target, inside the container.
        target: PathBuf,
        /// Why.
        why: String,
    },
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
    Wait(#[source] crate::process::ProcessError),
}

impl MountError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            MountError::PivotRoot { source: Errno::EINVAL, .. } => Some(
                "pivot_root refuses to move a root whose mounts are shared (that could propagate to another namespace): make them private first with mount(NULL, \"/\", NULL, MS_REC | MS_PRIVATE, NULL), the step --no-private skips; on a machine booted from an initramfs the root is not a mount pivot_root can move: `nslab doctor` checks it".into(),
            ),
            MountError::PivotRoot { source: Errno::EBUSY, .. } => Some(
                "the new root is on the current root mount: bind-mount the rootfs onto itself first, so that it is a mount of its own".into(),
            ),
            MountError::File { source: Errno::EROFS, .. } => Some(
                "the rootfs is read-only, and pivot_root needs a directory in it for the old root: use a writable --rootfs".into(),
            ),
            _ => None,
        }
    }
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
    syscall::mount(source, target, fstype, flags, data, "").map_err(|source| MountError::Mount {
        what: what.to_string(),
        target: target.into(),
        source,
    })
}

/// Changes the propagation type of every mount from `/` down. See
/// mount(2), "Changing the propagation type of an existing mount", and
/// mount_namespaces(7).
pub(crate) fn set_propagation(flag: MsFlags, propagation: &'static str) -> Result<(), MountError> {
    let root = Path::new("/");
    // Only the flags matter here: source, type and data are ignored.
    let flags = MsFlags::MS_REC | flag;
    syscall::mount(None, root, None, flags, None, "").map_err(|source| MountError::Propagation {
        propagation,
        target: root.into(),
        source,
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
    syscall::chdir(path).map_err(|source| MountError::Chdir {
        path: path.into(),
        source,
    })
}

/// Creates a directory (an existing one is fine). See mkdir(2).
pub fn mkdir(path: &Path, mode: u32) -> Result<(), MountError> {
    match syscall::mkdir(path, mode) {
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

fn rmdir(path: &Path, why: &str) -> Result<(), MountError> {
    syscall::rmdir(path, why).map_err(|source| MountError::File {
        step: "remove the directory",
        path: path.into(),
        source,
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
///
/// `in_user_namespace` only changes what is said afterwards about the
/// doors pivot_root leaves open: a user namespace (lesson 07) closes them.
// ANCHOR: pivot
pub fn pivot_into(rootfs: &Path, in_user_namespace: bool) -> Result<OldRoot, MountError> {
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

    let lock_error = |source| MountError::Lock {
        path: rootfs.into(),
        source,
    };
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let dir = syscall::open(rootfs, flags, 0, "to lock it")
        .map_err(|errno| lock_error(io::Error::from(errno)))?;
    narrate::syscall(format!(
        "flock({rootfs_name:?}, LOCK_EX)   # other containers may be pivoting into this rootfs too"
    ));
    let lock = Flock::lock(File::from(dir), FlockArg::LockExclusive)
        .map_err(|(_, errno)| lock_error(io::Error::from(errno)))?;

    let put_old = Path::new(OLD_ROOT);
    mkdir(put_old, 0o700)?;
    if let Err(source) = syscall::pivot_root(Path::new("."), put_old) {
        narrate::warning(format!("pivot_root failed: {source}"));
        // Leave the shared rootfs as we found it.
        let _ = rmdir(put_old, "leave the rootfs as it was");
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
    if in_user_namespace {
        narrate::explain(
            "root in here holds every capability, but in its own user namespace: they stop at\n\
             what that namespace owns, so /proc/sys, the host's devices and disks stay out of reach.",
        );
    } else {
        narrate::explain(
            "what pivot_root does not close: root in here still holds every capability of the\n\
             host's root (see CapEff in /proc/self/status), /proc/sys is the host's and writable,\n\
             /sys can be remounted read-write, and mknod plus mount reach the host's disks.\n\
             User namespaces (lesson 07) and the lockdown (lesson 11) close those doors.",
        );
    }
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
        let unmounted = syscall::umount2(&old_root, MntFlags::MNT_DETACH, "");
        // Whatever happens next, Drop must not try again.
        let lock = self.lock.take();
        unmounted.map_err(|source| MountError::Unmount {
            target: old_root.clone(),
            source,
        })?;
        rmdir(&old_root, "")?;
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
            let _ = syscall::umount2(
                &old_root,
                MntFlags::MNT_DETACH,
                "cleaning up after the error",
            );
            let _ = rmdir(&old_root, "cleaning up after the error");
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

/// Creates a character device node, readable and writable by all.
fn mknod(path: &Path, major: u64, minor: u64) -> Result<(), MountError> {
    syscall::mknod_char(path, 0o666, major, minor).map_err(|source| MountError::File {
        step: "create the device node",
        path: path.into(),
        source,
    })
}

fn symlink(target: &str, link: &Path) -> Result<(), MountError> {
    syscall::symlink(target, link).map_err(|source| MountError::File {
        step: "create the symlink",
        path: link.into(),
        source,
    })
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
    populate_dev(dev)?;

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

/// Fills a fresh `/dev` (a tmpfs at `dev`) with the device nodes every
/// container gets (null, zero, full, random, urandom, tty) and the usual
/// symlinks (`fd`, `stdin`, `ptmx`…): mknod(2), or in a user namespace the
/// host's nodes bound one by one. The runtime calls it after mounting the
/// `/dev` a config.json asks for.
pub fn populate_dev(dev: &Path) -> Result<(), MountError> {
    let old_mask = syscall::umask(0);
    let made = DEVICES.iter().try_for_each(|(name, major, minor)| {
        match mknod(&dev.join(name), *major, *minor) {
            // In a user namespace (lesson 07) mknod(2) is refused even to
            // root inside: a device node would reach the host's hardware.
            Err(MountError::File {
                source: Errno::EPERM,
                ..
            }) => bind_host_device(dev, name),
            other => other,
        }
    });
    syscall::umask(old_mask.bits());
    made?;

    for (name, target) in DEV_SYMLINKS {
        symlink(target, &dev.join(name))?;
    }

    Ok(())
}

/// Makes a device node a config.json asks for (`linux.devices`), with its
/// mode and owner. The device cgroup decides whether it may be opened.
pub fn make_device_node(node: &crate::spec::DeviceNode) -> Result<(), MountError> {
    let failed = |step: &'static str| {
        let path = node.path.clone();
        move |source| MountError::File { step, path, source }
    };
    if let Some(dir) = node.path.parent() {
        make_target(dir)?;
    }
    if node.path.exists() {
        let _ = fs::remove_file(&node.path);
    }
    narrate::syscall(format!(
        "mknod({:?}, {:?} | 0{:o}, makedev({}, {}))",
        node.path.display().to_string(),
        node.kind,
        node.mode,
        node.major,
        node.minor
    ));
    let old_mask = syscall::umask(0);
    let made = nix::sys::stat::mknod(
        &node.path,
        node.kind,
        nix::sys::stat::Mode::from_bits_truncate(node.mode),
        nix::sys::stat::makedev(node.major, node.minor),
    );
    syscall::umask(old_mask.bits());
    made.map_err(failed("create the device node"))?;
    nix::unistd::chown(
        &node.path,
        Some(nix::unistd::Uid::from_raw(node.uid)),
        Some(nix::unistd::Gid::from_raw(node.gid)),
    )
    .map_err(failed("chown the device node"))
}

/// Makes `/` read-only (a config.json's `root.readonly`): a remount of
/// the bind mount pivot_root made, which the mounts on top keep their own
/// flags through.
pub fn remount_root_readonly() -> Result<(), MountError> {
    mount(
        "the root, read-only",
        None,
        Path::new("/"),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None,
    )
}

/// Binds the host's device node `name` onto an empty file in our `/dev`,
/// reached through the old root: what a runtime in a user namespace does
/// instead of mknod(2). The node stays the host's, with the host's
/// permissions: `/dev/null` works, nothing else is reachable.
// ANCHOR: bind_host_device
fn bind_host_device(dev: &Path, name: &str) -> Result<(), MountError> {
    let target = dev.join(name);
    let source = Path::new("/").join(OLD_ROOT).join("dev").join(name);
    if name == DEVICES[0].0 {
        narrate::explain(
            "mknod is refused in a user namespace (EPERM): bind the host's nodes instead",
        );
    }
    let file = syscall::open(
        &target,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC,
        0o666,
        "a file to bind the device onto",
    )
    .map_err(|source| MountError::File {
        step: "create the file to bind the device onto",
        path: target.clone(),
        source,
    })?;
    drop(file);
    mount(
        "the host's device node",
        Some(source.to_str().unwrap_or_default()),
        &target,
        None,
        MsFlags::MS_BIND,
        None,
    )
}
// ANCHOR_END: bind_host_device

/// Binds the host's directory `source` at `target` inside (docker's
/// `--volume`), reached through the old root, so called while it is still
/// attached. The directory keeps its owners: inside a user namespace they
/// show through the map, and root inside may write only where the owner
/// is an id of its map (lesson 07).
// ANCHOR: bind
pub fn bind_host_dir(source: &Path, target: &Path, read_only: bool) -> Result<(), MountError> {
    let relative = source.strip_prefix("/").unwrap_or(source);
    let through_old_root = Path::new("/").join(OLD_ROOT).join(relative);
    make_target(target)?;
    mount(
        "a host directory",
        Some(through_old_root.to_str().unwrap_or_default()),
        target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    if read_only {
        // A bind mount takes MS_RDONLY only on a remount (mount(2)).
        mount(
            "the host directory, read-only",
            None,
            target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    narrate::explain(format!(
        "the host's {} is {} inside: the same files, the same owners",
        source.display(),
        target.display()
    ));
    Ok(())
}
// ANCHOR_END: bind

/// A host directory to show inside, docker's `--volume HOST:CTR[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The host's directory (absolute, existing).
    pub host: PathBuf,
    /// Where it appears inside (absolute, no `..`).
    pub inside: PathBuf,
    /// Read-only inside.
    pub read_only: bool,
}

impl std::str::FromStr for Volume {
    type Err = String;

    /// Parses `HOST:CTR` or `HOST:CTR:ro`, checking what can be checked
    /// before anything exists: both absolute, the host's a directory, no
    /// `..` inside. Symlinks inside the rootfs are checked when mounting.
    fn from_str(text: &str) -> Result<Volume, String> {
        let fields: Vec<&str> = text.split(':').collect();
        let (host, inside, read_only) = match fields[..] {
            [host, inside] => (host, inside, false),
            [host, inside, "ro"] => (host, inside, true),
            [host, inside, "rw"] => (host, inside, false),
            _ => return Err(format!("{text:?} is not HOST:CTR or HOST:CTR:ro")),
        };
        let host = PathBuf::from(host);
        if !host.is_absolute() || !host.is_dir() {
            return Err(format!(
                "{}: the host's side must be an existing directory, given by its absolute path",
                host.display()
            ));
        }
        let inside = PathBuf::from(inside);
        if !inside.is_absolute()
            || inside
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            || inside == Path::new("/")
        {
            return Err(format!(
                "{}: the container's side must be an absolute path, not /, without '..'",
                inside.display()
            ));
        }
        Ok(Volume {
            host,
            inside,
            read_only,
        })
    }
}

impl Volume {
    /// The mount that shows it inside.
    pub fn mount(&self) -> crate::spec::Mount {
        crate::spec::Mount::Bind {
            source: self.host.clone(),
            target: self.inside.clone(),
            read_only: self.read_only,
        }
    }
}

/// Makes the mount point `target` inside the container, one directory at a
/// time, refusing any symlink on the way.
///
/// The rootfs is not to be trusted: an image may hold `data -> /.old-root/etc`,
/// and a mount on `/data/x` would then land on the host's `/etc` (the old
/// root is still attached while mounts are made). runc resolves such links
/// inside the root (CVE-2021-30465 was a race in doing so); nslab refuses
/// them: the container has no other process yet, so what is checked here
/// is what gets mounted on.
// ANCHOR: make_target
fn make_target(target: &Path) -> Result<(), MountError> {
    use std::path::Component;
    let unsafe_target = |why: &str| MountError::UnsafeTarget {
        target: target.to_path_buf(),
        why: why.to_string(),
    };
    if !target.is_absolute() {
        return Err(unsafe_target("it is not an absolute path"));
    }
    let mut path = PathBuf::from("/");
    for component in target.components().skip(1) {
        let Component::Normal(name) = component else {
            return Err(unsafe_target("it has a '..' or '.' in it"));
        };
        path.push(name);
        if path == Path::new("/").join(OLD_ROOT) {
            return Err(unsafe_target("it is under the host's old root"));
        }
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(unsafe_target(&format!(
                    "{} is a symlink, which could lead out of the rootfs",
                    path.display()
                )))
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(unsafe_target(&format!(
                    "{} is not a directory",
                    path.display()
                )))
            }
            Err(_) => mkdir(&path, 0o755)?,
        }
    }
    Ok(())
}
// ANCHOR_END: make_target

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
    narrate::returned(format!(
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
    // A plain file to bind onto, like runc's: only the owner may touch it
    // until the terminal is bound over it.
    let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    syscall::open(&console, flags, 0o600, "a file to bind onto").map_err(|source| {
        MountError::File {
            step: "create",
            path: console.clone(),
            source,
        }
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
