//! Masked and read-only paths: the parts of `/proc` and `/sys` that are
//! the host kernel's, not the container's.
//!
//! A container's `/proc` shows its own processes, but many files beside
//! them are the whole machine's: `/proc/kcore` is the host's memory,
//! `/proc/sys` its kernel settings, `/proc/sysrq-trigger` a reset button.
//! Runtimes hide the first kind (**masked**: `/dev/null` bound over a
//! file, an empty read-only tmpfs over a directory) and freeze the second
//! (**read-only**: the path bound onto itself, then remounted read-only).
//! The lists are docker's (moby's `oci/defaults.go`). A path this kernel
//! does not have is skipped, as docker skips it.
//!
//! A bind mount can be undone by `umount`, or remounted read-write: what
//! makes these stick is what comes after them, `CAP_SYS_ADMIN` dropped
//! and `mount`/`umount2` refused by seccomp.

use super::LockdownError;
use crate::{narrate, syscall};
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

// ANCHOR: lists
/// Hidden: files bound over with `/dev/null`, directories with an empty
/// read-only tmpfs.
pub const MASKED: &[&str] = &[
    "/proc/acpi",                    // the host's power management
    "/proc/asound",                  // its sound cards
    "/proc/kcore",                   // its physical memory, as an ELF core file
    "/proc/keys",                    // the kernel keyrings' keys
    "/proc/latency_stats",           // latency tracing of every process
    "/proc/timer_list",              // every timer, with kernel addresses
    "/proc/timer_stats",             // timer statistics, with process names
    "/proc/sched_debug",             // the scheduler's view of every process
    "/proc/scsi",                    // its SCSI devices, and a file to rescan them
    "/sys/firmware",                 // firmware tables (ACPI, EFI variables)
    "/sys/devices/virtual/powercap", // power limits, and an energy side channel
];

/// Frozen: readable, never writable, from inside.
pub const READ_ONLY: &[&str] = &[
    "/proc/bus",           // PCI and USB devices' configuration space
    "/proc/fs",            // file system settings (NFS, ext4)
    "/proc/irq",           // interrupt routing
    "/proc/sys",           // the kernel's settings: most are the whole host's
    "/proc/sysrq-trigger", // write a letter here to crash or reboot the host
];
// ANCHOR_END: lists

fn failed(step: &'static str, path: &Path) -> impl FnOnce(nix::errno::Errno) -> LockdownError {
    let path = path.to_path_buf();
    move |source| LockdownError::Path { step, path, source }
}

/// Masks `mask` ([`MASKED`] for the lesson) and freezes `freeze`
/// ([`READ_ONLY`]); a path this kernel lacks is skipped. Runs inside the new root,
/// once `/proc`, `/dev` and `/sys` are mounted (it binds the container's
/// own `/dev/null`), and while the container still has `CAP_SYS_ADMIN`.
// ANCHOR: apply
pub fn mask_and_freeze(mask: &[PathBuf], freeze: &[PathBuf]) -> Result<(), LockdownError> {
    let mut masked = Vec::new();
    for path in mask.iter().map(PathBuf::as_path) {
        let Ok(meta) = std::fs::metadata(path) else {
            continue; // not on this kernel
        };
        if meta.is_dir() {
            // An empty tmpfs, read-only: nothing to list, nothing to add.
            syscall::mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None,
                "",
            )
            .map_err(failed("mask", path))?;
        } else {
            // /dev/null over a file: it reads as empty, writes vanish.
            syscall::mount(Some("/dev/null"), path, None, MsFlags::MS_BIND, None, "")
                .map_err(failed("mask", path))?;
        }
        masked.push(path.display().to_string());
    }
    let mut frozen = Vec::new();
    for path in freeze.iter().map(PathBuf::as_path) {
        if !path.exists() {
            continue;
        }
        // A bind mount takes MS_RDONLY only when remounted (mount(2)).
        syscall::mount(
            Some(&path.display().to_string()),
            path,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
            "",
        )
        .map_err(failed("bind onto itself", path))?;
        syscall::mount(
            None,
            path,
            None,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            None,
            "",
        )
        .map_err(failed("make read-only", path))?;
        frozen.push(path.display().to_string());
    }
    narrate::explain(format!(
        "masked: {}; read-only: {}",
        masked.join(" "),
        frozen.join(" ")
    ));
    Ok(())
}
// ANCHOR_END: apply
