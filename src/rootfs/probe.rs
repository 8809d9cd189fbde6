//! Where the default rootfs would come from, and whether its programs can
//! run from the state directory's file system.

use super::{RootfsError, Source, DEFAULT_STATE_DIR};
use crate::probe::{error_chain, Fact, ProbeError};
use nix::sys::statvfs::{statvfs, FsFlags};
use std::path::{Path, PathBuf};

/// The rootfs-source fact, from [`super::detect_source`].
pub fn interpret_rootfs(source: &Result<Source, RootfsError>) -> Fact {
    let label = "rootfs source";
    match source {
        Ok(source @ Source::Busybox(_)) => Fact::ok(label, source.describe()),
        Ok(source @ Source::HostPrograms(_)) => Fact::ok(
            label,
            format!(
                "{} (a static busybox makes a smaller one: `sudo apt install busybox-static`)",
                source.describe()
            ),
        ),
        Err(e) => Fact::missing(
            label,
            error_chain(e),
            "`sudo apt install busybox-static`, or give each lesson `--rootfs DIR`",
        ),
    }
}

/// The environment variable that moves the state directory, for the
/// doctor as for the lessons (their `--state-dir`).
pub const STATE_DIR_ENV: &str = "NSLAB_STATE_DIR";

/// The state directory the lessons would use: `$NSLAB_STATE_DIR`, or
/// [`DEFAULT_STATE_DIR`].
///
/// A relative one is made absolute, as the lessons make theirs
/// ([`super::absolute_state_dir`]), so the report names the directory the
/// lessons would use.
pub fn state_dir() -> PathBuf {
    let dir = std::env::var_os(STATE_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
    std::path::absolute(&dir).unwrap_or(dir)
}

/// The directory that stands for `dir`'s file system: `dir` itself, or,
/// before the first lesson has made it, its nearest ancestor that exists,
/// on whose file system it will be made.
pub fn nearest_existing(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|ancestor| ancestor.is_dir())
        // A relative path none of whose ancestors exist yet is made in
        // the current directory.
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// What statvfs(2) says about the state directory's file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDirFs {
    /// The state directory.
    pub dir: PathBuf,
    /// The directory examined: `dir`, or its nearest existing ancestor.
    pub examined: PathBuf,
    /// Mounted `noexec` (`ST_NOEXEC`): no program on it can be executed.
    pub noexec: bool,
    /// Mounted `nodev` (`ST_NODEV`): device nodes on it cannot be opened.
    pub nodev: bool,
}

/// The state-directory fact.
///
/// The default rootfs is built in the state directory, so its programs,
/// `/bin/sh` first, are executed from that file system: on a `noexec`
/// mount execve(2) fails with EACCES, and no lesson from 01 on can start
/// its command. `nodev` only matters to device nodes made there, and no
/// lesson makes any: 01 and 02 make no nodes at all, and from 03 on the
/// nodes go on a fresh tmpfs mounted at the container's `/dev`. So `nodev`
/// is a note, not a problem.
pub fn interpret_state_dir(state: &StateDirFs) -> Fact {
    let label = "state directory";
    let place = if state.examined == state.dir {
        state.dir.display().to_string()
    } else {
        format!(
            "{} (not made yet; it will be made on the file system of {})",
            state.dir.display(),
            state.examined.display()
        )
    };
    if state.noexec {
        return Fact::missing(
            label,
            format!(
                "{place} is on a file system mounted noexec: the rootfs's programs could not run"
            ),
            format!(
                "give the lessons a state directory on another file system (`--state-dir DIR`, \
                 or NSLAB_STATE_DIR=DIR for the doctor too), or remount this one with exec: \
                 `sudo mount -o remount,exec \"$(findmnt -no TARGET -T {})\"`",
                state.examined.display()
            ),
        );
    }
    if state.nodev {
        return Fact::ok(
            label,
            format!(
                "{place}: programs can run; it is mounted nodev, so device nodes made there would \
                 not open, but no lesson makes any there (03 on make theirs on a fresh tmpfs /dev)"
            ),
        );
    }
    Fact::ok(
        label,
        format!("{place}: programs can run (not mounted noexec)"),
    )
}

/// statvfs(2) of the state directory, or of its nearest existing ancestor.
pub(crate) fn probe_state_dir(dir: &Path) -> Result<StateDirFs, ProbeError> {
    let examined = nearest_existing(dir);
    let stat = statvfs(&examined).map_err(|source| ProbeError::Statvfs {
        path: examined.clone(),
        source,
    })?;
    Ok(StateDirFs {
        dir: dir.to_path_buf(),
        noexec: stat.flags().contains(FsFlags::ST_NOEXEC),
        nodev: stat.flags().contains(FsFlags::ST_NODEV),
        examined,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{fix_of, Status};

    // --- Rootfs ---------------------------------------------------------

    #[test]
    fn rootfs_sources() {
        let busybox = interpret_rootfs(&Ok(Source::Busybox(PathBuf::from("/bin/busybox"))));
        assert_eq!(busybox.status, Status::Ok);
        let host = interpret_rootfs(&Ok(Source::HostPrograms(vec![PathBuf::from("/bin/sh")])));
        assert_eq!(host.status, Status::Ok);
        assert!(host.detail.contains("busybox-static"));
        let none = interpret_rootfs(&Err(RootfsError::NoSource));
        assert_eq!(none.status, Status::Missing);
        assert!(none
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("apt install busybox-static"));
    }

    // --- State directory -------------------------------------------------

    fn state_fs(noexec: bool, nodev: bool) -> StateDirFs {
        StateDirFs {
            dir: PathBuf::from("/var/lib/nslab"),
            examined: PathBuf::from("/var/lib/nslab"),
            noexec,
            nodev,
        }
    }

    #[test]
    fn a_noexec_state_directory_is_missing_with_two_fixes() {
        let fact = interpret_state_dir(&state_fs(true, true));
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.contains("noexec"), "{fact:?}");
        assert!(fix_of(&fact).contains("--state-dir"), "{fact:?}");
        assert!(fix_of(&fact).contains("remount,exec"), "{fact:?}");
    }

    #[test]
    fn nodev_alone_is_a_note_not_a_problem() {
        let fact = interpret_state_dir(&state_fs(false, true));
        assert_eq!(fact.status, Status::Ok);
        assert!(fact.detail.contains("nodev"), "{fact:?}");
        let plain = interpret_state_dir(&state_fs(false, false));
        assert_eq!(plain.status, Status::Ok);
        assert!(!plain.detail.contains("nodev"), "{plain:?}");
    }

    #[test]
    fn a_state_directory_not_made_yet_is_judged_by_its_parent() {
        let fact = interpret_state_dir(&StateDirFs {
            examined: PathBuf::from("/var/lib"),
            ..state_fs(false, false)
        });
        assert!(fact.detail.contains("not made yet"), "{fact:?}");
        assert!(fact.detail.contains("/var/lib)"), "{fact:?}");
    }

    #[test]
    fn the_nearest_existing_ancestor_stands_for_a_missing_directory() {
        let tmp = std::env::temp_dir();
        assert_eq!(nearest_existing(&tmp), tmp);
        assert_eq!(nearest_existing(&tmp.join("no-such/dir/here")), tmp);
        assert_eq!(
            nearest_existing(Path::new("no-such-relative-dir-8c1f/state")),
            PathBuf::from(".")
        );
    }
}
