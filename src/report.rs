//! Printing an error for a confused learner: what failed, why, what to do.
//!
//! Errors are printed as their whole chain of causes, outermost first, then
//! a hint when one is known:
//!
//! ```text
//! error: failed to change the root directory to /var/lib/nslab/rootfs
//!   caused by: EPERM: Operation not permitted
//! hint: this needs root: run the lesson with sudo
//! ```

use crate::Error;
use colored::Colorize;
use nix::errno::Errno;
use std::error::Error as _;

/// Prints `error`, its causes and a hint (if any) to standard error.
pub fn print_error(error: &Error) {
    eprintln!("{} {error}", "error:".red().bold());
    let mut cause = error.source();
    while let Some(inner) = cause {
        eprintln!("  {} {inner}", "caused by:".red());
        cause = inner.source();
    }
    if let Some(hint) = hint(error) {
        eprintln!("{} {hint}", "hint:".yellow().bold());
    }
}

/// The advice for `error`, if there is any to give.
pub fn hint(error: &Error) -> Option<String> {
    match error {
        Error::NotRoot { lesson, .. } => {
            return Some(format!(
                "run it with sudo, e.g. `sudo target/debug/{lesson}`; `nslab doctor` shows what this machine supports"
            ))
        }
        Error::Rootfs(crate::rootfs::RootfsError::NoSource) => {
            return Some("install a static busybox (`sudo apt install busybox-static`), or pass `--rootfs DIR`".into())
        }
        Error::Rootfs(crate::rootfs::RootfsError::NotARootfs { .. }) => {
            return Some("--rootfs wants a directory holding a whole root filesystem, with /bin/sh".into())
        }
        Error::Mount(crate::mount::MountError::PivotRoot {
            source: Errno::EINVAL,
            ..
        }) => {
            return Some("pivot_root refuses to move a root whose mounts are shared (that could propagate to another namespace): make them private first with mount(NULL, \"/\", NULL, MS_REC | MS_PRIVATE, NULL), the step --no-private skips".into())
        }
        Error::Mount(crate::mount::MountError::PivotRoot {
            source: Errno::EBUSY,
            ..
        }) => {
            return Some("the new root is on the current root mount: bind-mount the rootfs onto itself first, so that it is a mount of its own".into())
        }
        Error::Mount(crate::mount::MountError::File {
            source: Errno::EROFS,
            ..
        }) => {
            return Some("the rootfs is read-only, and pivot_root needs a directory in it for the old root: use a writable --rootfs".into())
        }
        Error::Ipc(crate::ipc::IpcError::MountMqueue(_))
        | Error::Ipc(crate::ipc::IpcError::Create {
            source: Errno::ENOSYS,
            ..
        }) => {
            return Some("this kernel may lack POSIX message queues (CONFIG_POSIX_MQUEUE); `nslab doctor` checks the namespaces".into())
        }
        Error::Process(crate::process::ProcessError::NotFound { .. }) => {
            return Some("the command runs inside the container: it must exist in the rootfs, not just on the host".into())
        }
        _ => {}
    }
    // Otherwise, look for a telling errno anywhere in the chain.
    let mut cause: Option<&dyn std::error::Error> = Some(error);
    while let Some(inner) = cause {
        if let Some(errno) = inner.downcast_ref::<Errno>() {
            match errno {
                Errno::EPERM => {
                    return Some(
                        "the kernel refused: run as root, and check `sudo nslab doctor` for what this machine allows"
                            .into(),
                    )
                }
                Errno::EINVAL => {
                    return Some("the kernel rejected an argument: `nslab doctor` checks for missing features".into())
                }
                _ => {}
            }
        }
        cause = inner.source();
    }
    None
}
