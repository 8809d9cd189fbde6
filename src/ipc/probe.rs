//! Does this kernel have System V IPC and POSIX message queues, and can
//! an mqueue file system be mounted, as lesson 05 does?

use crate::probe::{
    errno_text, filesystem_listed, run_steps_in_child, step, Fact, ProbeDir, ProbeError,
    StepFailure,
};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::ffi::CStr;
use std::fs;
use std::path::Path;

/// The list of System V message queues; it exists when the kernel has
/// System V IPC (sysvipc(7)).
pub const SYSVIPC_MSG: &str = "/proc/sysvipc/msg";

/// The System V IPC fact, from whether [`SYSVIPC_MSG`] exists.
pub fn interpret_sysv_ipc(msg_exists: bool) -> Fact {
    let label = "System V IPC";
    if msg_exists {
        Fact::ok(label, format!("{SYSVIPC_MSG} exists"))
    } else {
        Fact::missing(
            label,
            format!(
                "{SYSVIPC_MSG} does not exist: this kernel has no System V IPC \
                 (or /proc is not mounted)"
            ),
            "use a kernel built with CONFIG_SYSVIPC=y",
        )
    }
}

/// The steps of the mqueue probe, in order: lesson 05 mounts a fresh
/// mqueue file system for the container's IPC namespace.
pub const MQUEUE_STEPS: [&str; 3] = [
    "unshare(CLONE_NEWNS)",
    "mount(NULL, \"/\", NULL, MS_REC | MS_PRIVATE, NULL)",
    "mount(\"mqueue\", DIR, \"mqueue\", 0, NULL)",
];

/// The POSIX message queue fact, from whether `/proc/filesystems` lists
/// `mqueue` and, as root, how mounting one went (`None` when not tried).
pub fn interpret_mqueue(listed: bool, mounted: Option<Result<(), StepFailure>>) -> Fact {
    let label = "POSIX mqueue";
    let build_fix = "use a kernel built with CONFIG_POSIX_MQUEUE=y";
    match (listed, mounted) {
        (_, Some(Ok(()))) => Fact::ok(label, "mount -t mqueue works in a private mount namespace"),
        (true, None) => Fact::ok(label, "mqueue is listed in /proc/filesystems"),
        (false, None) => Fact::missing(
            label,
            "mqueue is not in /proc/filesystems: this kernel has no POSIX message queues",
            build_fix,
        ),
        (listed, Some(Err((index, errno)))) => {
            let call = MQUEUE_STEPS.get(index).copied().unwrap_or("a step");
            let detail = format!("{call} fails: {}", errno_text(errno));
            if listed {
                Fact::missing(
                    label,
                    detail,
                    "a seccomp filter, a security module or a chroot forbids it: \
                     run nslab on the host or in a VM, not inside a container",
                )
            } else {
                Fact::missing(
                    label,
                    format!("{detail}; mqueue is not in /proc/filesystems"),
                    build_fix,
                )
            }
        }
    }
}

/// The mqueue probe's steps, run in the child; `dir` is the probe directory.
pub(crate) fn mqueue_steps(dir: &CStr) -> Result<(), StepFailure> {
    step(0, unshare(CloneFlags::CLONE_NEWNS))?;
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
    step(
        2,
        mount(
            Some(c"mqueue"),
            dir,
            Some(c"mqueue"),
            MsFlags::empty(),
            None::<&CStr>,
        ),
    )
}

/// Probes System V IPC and POSIX message queues; the mqueue mount only as
/// root, in a directory under the system's temporary directory.
pub(crate) fn probe_ipc(is_root: bool) -> (Fact, Fact) {
    let sysv = interpret_sysv_ipc(Path::new(SYSVIPC_MSG).exists());
    let filesystems_path = Path::new("/proc/filesystems");
    let listed = match fs::read_to_string(filesystems_path) {
        Ok(text) => filesystem_listed(&text, "mqueue"),
        Err(source) => {
            let e = ProbeError::ReadFile {
                path: filesystems_path.to_path_buf(),
                source,
            };
            return (sysv, Fact::probe_failed("POSIX mqueue", &e));
        }
    };
    if !is_root {
        return (sysv, interpret_mqueue(listed, None));
    }
    let mounted = ProbeDir::create(&std::env::temp_dir(), "mqueue", &[]).and_then(|dir| {
        let attempt = dir
            .c_path()
            .and_then(|c_dir| run_steps_in_child("mount mqueue", || mqueue_steps(&c_dir)));
        let removed = dir.remove();
        let attempt = attempt?;
        removed?;
        Ok(attempt)
    });
    let mqueue = match mounted {
        Ok(attempt) => interpret_mqueue(listed, Some(attempt)),
        Err(e) => Fact::probe_failed("POSIX mqueue", &e),
    };
    (sysv, mqueue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{fix_of, Status};
    use nix::errno::Errno;

    // --- IPC ------------------------------------------------------------

    #[test]
    fn no_sysvipc_points_at_the_kernel_option() {
        assert_eq!(interpret_sysv_ipc(true).status, Status::Ok);
        let fact = interpret_sysv_ipc(false);
        assert_eq!(fact.status, Status::Missing);
        assert!(fix_of(&fact).contains("CONFIG_SYSVIPC"), "{fact:?}");
    }

    #[test]
    fn mqueue_from_proc_filesystems_and_from_mounting_it() {
        assert_eq!(interpret_mqueue(true, None).status, Status::Ok);
        assert_eq!(interpret_mqueue(true, Some(Ok(()))).status, Status::Ok);
        let absent = interpret_mqueue(false, None);
        assert_eq!(absent.status, Status::Missing);
        assert!(
            fix_of(&absent).contains("CONFIG_POSIX_MQUEUE"),
            "{absent:?}"
        );
        let unknown_fs = interpret_mqueue(false, Some(Err((2, Errno::ENODEV))));
        assert_eq!(unknown_fs.status, Status::Missing);
        assert!(unknown_fs.detail.contains("ENODEV"), "{unknown_fs:?}");
        assert!(fix_of(&unknown_fs).contains("CONFIG_POSIX_MQUEUE"));
        let refused = interpret_mqueue(true, Some(Err((2, Errno::EPERM))));
        assert_eq!(refused.status, Status::Missing);
        assert!(
            refused.detail.starts_with("mount(\"mqueue\""),
            "{refused:?}"
        );
        assert!(fix_of(&refused).contains("container"), "{refused:?}");
        assert!(filesystem_listed("nodev\tmqueue\n", "mqueue"));
    }
}
