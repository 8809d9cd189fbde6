//! Do a bind mount and `pivot_root(2)` work on the state directory's file
//! system, as lesson 03 does them? Tried in a child, in a directory of its
//! own, in a mount namespace that dies with the child.

use crate::probe::{errno_text, run_steps_in_child, step, Fact, ProbeDir, ProbeError, StepFailure};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, mkdir, pivot_root};
use std::ffi::CStr;
use std::path::Path;

/// The steps of the pivot probe, in order: the ones lesson 03 takes to
/// move the container into its rootfs, in a directory of the state
/// directory's file system instead of the rootfs.
pub const PIVOT_STEPS: [&str; 6] = [
    "unshare(CLONE_NEWNS)",
    "mount(NULL, \"/\", NULL, MS_REC | MS_PRIVATE, NULL)",
    "mount(DIR, DIR, NULL, MS_BIND, NULL)",
    "chdir(DIR)",
    "mkdir(\"put_old\", 0700)",
    "pivot_root(\".\", \"put_old\")",
];

/// The index of pivot_root in [`PIVOT_STEPS`].
pub const PIVOT_ROOT_STEP: usize = 5;

/// How the pivot probe went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PivotAttempt {
    /// Tried as root: every step worked, or this one failed.
    Tried(Result<(), StepFailure>),
    /// Not tried: without root, mount(2) and pivot_root(2) are refused.
    NotRoot,
}

/// The type of the file system mounted at `/`, from the text of
/// `/proc/self/mountinfo` (the last `/` mount, the one on top).
pub fn root_fs_type(mountinfo: &str) -> Option<String> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, super_block) = line.split_once(" - ")?;
            (mount.split_whitespace().nth(4)? == "/")
                .then(|| super_block.split_whitespace().next().map(str::to_string))?
        })
        .next_back()
}

/// The mount-and-pivot fact, for the directory the probe worked in
/// (`dir`), the type of the file system at `/` (`root_type`) and the
/// attempt.
pub fn interpret_pivot(dir: &Path, root_type: Option<&str>, attempt: PivotAttempt) -> Fact {
    let label = "mount and pivot_root";
    let dir = dir.display();
    let failure = match attempt {
        PivotAttempt::NotRoot => {
            return Fact::untested(
                label,
                "could not test without root",
                "run `sudo nslab doctor` to test it",
            )
        }
        PivotAttempt::Tried(Ok(())) => {
            return Fact::ok(label, format!("a bind mount and pivot_root work in {dir}"))
        }
        PivotAttempt::Tried(Err(failure)) => failure,
    };
    let (index, errno) = failure;
    let call = PIVOT_STEPS.get(index).copied().unwrap_or("a step");
    let elsewhere = "put the state directory on another file system (`--state-dir DIR`), \
                     or give the lessons a rootfs on one (`--rootfs DIR`)";
    match (index, errno) {
        // pivot_root(2): EINVAL "The current root is on the rootfs (initial
        // ramfs) mount": a machine that never left its initramfs has a root
        // that pivot_root cannot move, wherever the new root is.
        (PIVOT_ROOT_STEP, Errno::EINVAL) if root_type == Some("rootfs") => Fact::missing(
            label,
            format!(
                "{call} fails with EINVAL in {dir}: / is the initramfs (rootfs), \
                 which pivot_root cannot move"
            ),
            "boot with a real root file system (root= on the kernel command line, \
             or switch_root to it from the initramfs)",
        ),
        (_, Errno::EPERM) => Fact::missing(
            label,
            format!("{call} fails even for root in {dir}: {}", errno_text(errno)),
            "a seccomp filter, a security module or a chroot forbids it: \
             run nslab on the host or in a VM, not inside a container",
        ),
        _ => Fact::missing(
            label,
            format!("{call} fails in {dir}: {}", errno_text(errno)),
            elsewhere,
        ),
    }
}

/// The pivot probe's steps, run in the child; `dir` is the probe directory.
pub(crate) fn pivot_steps(dir: &CStr) -> Result<(), StepFailure> {
    step(0, unshare(CloneFlags::CLONE_NEWNS))?;
    // Private first, as in lesson 03: pivot_root(2) fails with EINVAL when
    // the new root's parent mount is shared, as `/` is on systemd hosts.
    step(
        1,
        mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&CStr>,
        ),
    )?;
    // pivot_root needs the new root to be a mount point: bind it onto itself.
    step(
        2,
        mount(
            Some(dir),
            dir,
            None::<&CStr>,
            MsFlags::MS_BIND,
            None::<&CStr>,
        ),
    )?;
    step(3, chdir(dir))?;
    step(4, mkdir(c"put_old", Mode::S_IRWXU))?;
    step(5, pivot_root(c".", c"put_old"))
}

/// Probes mounting and pivot_root in a directory made under `base` (the
/// state directory or its nearest existing ancestor).
pub(crate) fn probe_pivot(base: &Path, is_root: bool) -> Result<PivotAttempt, ProbeError> {
    if !is_root {
        return Ok(PivotAttempt::NotRoot);
    }
    let dir = ProbeDir::create(base, "pivot", &["put_old"])?;
    let attempt = dir
        .c_path()
        .and_then(|c_dir| run_steps_in_child("pivot_root", || pivot_steps(&c_dir)));
    // Remove the directory whatever happened; report the first error.
    let removed = dir.remove();
    let attempt = attempt?;
    removed?;
    Ok(PivotAttempt::Tried(attempt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{fix_of, machines::*, Status};

    // --- Mount and pivot_root -------------------------------------------

    #[test]
    fn pivot_einval_on_an_initramfs_root_says_boot_a_real_root() {
        let einval = PivotAttempt::Tried(Err((PIVOT_ROOT_STEP, Errno::EINVAL)));
        let fact = interpret_pivot(Path::new("/var/lib"), Some("rootfs"), einval);
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.contains("initramfs"), "{fact:?}");
        assert!(fix_of(&fact).contains("real root"), "{fact:?}");
        // The same errno on a root that is a real mount is another case.
        let other = interpret_pivot(Path::new("/var/lib"), Some("ext4"), einval);
        assert_eq!(other.status, Status::Missing);
        assert!(!other.detail.contains("initramfs"), "{other:?}");
        assert!(fix_of(&other).contains("--state-dir"), "{other:?}");
    }

    #[test]
    fn a_failed_bind_mount_names_its_step() {
        let fact = interpret_pivot(
            Path::new("/srv"),
            Some("ext4"),
            PivotAttempt::Tried(Err((2, Errno::EPERM))),
        );
        assert_eq!(fact.status, Status::Missing);
        assert!(
            fact.detail.starts_with("mount(DIR, DIR, NULL, MS_BIND"),
            "{fact:?}"
        );
        assert!(fact.detail.contains("EPERM"), "{fact:?}");
        assert!(fix_of(&fact).contains("container"), "{fact:?}");
    }

    #[test]
    fn pivot_without_root_is_untested_and_success_is_ok() {
        let dir = Path::new("/var/lib");
        assert_eq!(
            interpret_pivot(dir, None, PivotAttempt::NotRoot).status,
            Status::Untested
        );
        assert_eq!(
            interpret_pivot(dir, None, PivotAttempt::Tried(Ok(()))).status,
            Status::Ok
        );
    }

    #[test]
    fn the_root_file_system_type_comes_from_the_top_mount_on_slash() {
        assert_eq!(root_fs_type(MOUNTINFO_V2).as_deref(), Some("ext4"));
        let initramfs = "1 1 0:2 / / rw - rootfs rootfs rw\n\
                         20 1 0:20 / /proc rw - proc proc rw\n";
        assert_eq!(root_fs_type(initramfs).as_deref(), Some("rootfs"));
        let stacked = "1 1 0:2 / / rw - rootfs rootfs rw\n\
                       30 1 0:30 / / rw - tmpfs tmpfs rw\n";
        assert_eq!(root_fs_type(stacked).as_deref(), Some("tmpfs"));
        assert_eq!(root_fs_type(""), None);
    }
}
