//! Does this kernel have overlayfs, and if not, is it only not loaded?

use crate::probe::{filesystem_listed, Fact, ProbeError};
use std::fs;
use std::path::Path;

/// True when `modules.dep` (from `/lib/modules/<release>/`) lists a module
/// called `name`, such as `kernel/fs/overlayfs/overlay.ko.xz: …`.
pub fn module_installed(modules_dep: &str, name: &str) -> bool {
    modules_dep
        .lines()
        .filter_map(|line| line.split(':').next())
        .filter_map(|path| path.rsplit('/').next())
        .any(|file| file.split('.').next() == Some(name))
}

/// The overlayfs fact, from the text of `/proc/filesystems` and of the
/// running kernel's `modules.dep` (`None` when there is none).
///
/// `/proc/filesystems` lists the file systems the kernel knows *now*: a
/// file system built as a module appears only once the module is loaded.
pub fn interpret_overlay(proc_filesystems: &str, modules_dep: Option<&str>) -> Fact {
    let label = "overlayfs";
    if filesystem_listed(proc_filesystems, "overlay") {
        return Fact::ok(label, "overlay is listed in /proc/filesystems");
    }
    if modules_dep.is_some_and(|dep| module_installed(dep, "overlay")) {
        Fact::missing(
            label,
            "overlay is not in /proc/filesystems: its module is installed but not loaded",
            "`sudo modprobe overlay` (and add `overlay` to /etc/modules to keep it)",
        )
    } else {
        Fact::missing(
            label,
            "overlay is not in /proc/filesystems",
            "`sudo modprobe overlay`; if there is no such module, use a kernel built with CONFIG_OVERLAY_FS",
        )
    }
}

/// Probes overlayfs: `/proc/filesystems`, and the running kernel's modules.
pub(crate) fn probe_overlay() -> Fact {
    let path = Path::new("/proc/filesystems");
    let filesystems = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) => {
            let e = ProbeError::ReadFile {
                path: path.to_path_buf(),
                source,
            };
            return Fact::probe_failed("overlayfs", &e);
        }
    };
    // The module list only refines the advice, so failing to read it is
    // not worth a report of its own.
    let modules_dep = fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|release| {
            fs::read_to_string(format!("/lib/modules/{}/modules.dep", release.trim())).ok()
        });
    interpret_overlay(&filesystems, modules_dep.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{fix_of, machines::*, Status};

    // --- Overlayfs ------------------------------------------------------

    #[test]
    fn overlay_listed_in_proc_filesystems() {
        assert!(filesystem_listed(FILESYSTEMS_WITH_OVERLAY, "overlay"));
        assert!(filesystem_listed(FILESYSTEMS_WITH_OVERLAY, "ext4"));
        assert_eq!(
            interpret_overlay(FILESYSTEMS_WITH_OVERLAY, None).status,
            Status::Ok
        );
    }

    #[test]
    fn no_overlay_is_missing_with_modprobe_as_the_fix() {
        assert!(!filesystem_listed(FILESYSTEMS_WITHOUT_OVERLAY, "overlay"));
        let fact = interpret_overlay(FILESYSTEMS_WITHOUT_OVERLAY, None);
        assert_eq!(fact.status, Status::Missing);
        assert!(fix_of(&fact).contains("modprobe overlay"), "{fact:?}");
    }

    #[test]
    fn an_installed_but_unloaded_module_is_told_apart() {
        assert!(module_installed(MODULES_DEP_WITH_OVERLAY, "overlay"));
        assert!(!module_installed(MODULES_DEP_WITH_OVERLAY, "btrfs"));
        let fact = interpret_overlay(FILESYSTEMS_WITHOUT_OVERLAY, Some(MODULES_DEP_WITH_OVERLAY));
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.contains("installed but not loaded"));
        assert!(fix_of(&fact).contains("modprobe overlay"), "{fact:?}");
    }
}
