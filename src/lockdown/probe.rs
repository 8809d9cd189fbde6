//! `nslab doctor`'s questions for lesson 11: can a process here install a
//! seccomp filter, and does this machine have a device cgroup?

use super::seccomp::Filter;
use crate::cgroup::group::{Hierarchy, PARENT};
use crate::probe::{errno_text, run_steps_in_child, step, Fact};
use crate::{cgroup, narrate};
use nix::errno::Errno;
use std::fs;

/// Installs the default filter in a child, after no_new_privs, and checks
/// that it refuses `unshare(CLONE_NEWUSER)` with `EPERM`.
pub(crate) fn probe_seccomp() -> Fact {
    let label = "seccomp filter";
    // Compiled before the fork: the child must not allocate.
    let filter = match Filter::default_filter() {
        Ok(filter) => filter,
        Err(error) => {
            return Fact::missing(
                label,
                error.to_string(),
                "lesson 11's filter is built for x86_64, aarch64 and riscv64",
            )
        }
    };
    let attempt = run_steps_in_child("seccomp", || {
        step(0, nix::sys::prctl::set_no_new_privs())?;
        step(1, filter.install_silently())?;
        match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
            Err(Errno::EPERM) => Ok(()),
            Ok(()) => Err((2, Errno::UnknownErrno)),
            Err(errno) => Err((2, errno)),
        }
    });
    const STEPS: [&str; 3] = [
        "prctl(PR_SET_NO_NEW_PRIVS)",
        "seccomp(SECCOMP_SET_MODE_FILTER)",
        "the filter: unshare(CLONE_NEWUSER) was not refused with EPERM",
    ];
    match attempt {
        Ok(Ok(())) => Fact::ok(
            label,
            "installed after no_new_privs, it refuses unshare(CLONE_NEWUSER) with EPERM",
        ),
        Ok(Err((index, errno))) => Fact::missing(
            label,
            format!("{}: {}", STEPS[index.min(2)], errno_text(errno)),
            "a kernel built with CONFIG_SECCOMP_FILTER",
        ),
        Err(error) => Fact::probe_failed(label, &error),
    }
}

/// v1: the `devices` controller is mounted. v2: as root, the device
/// program loads and attaches to a throwaway cgroup.
pub(crate) fn probe_device_cgroup(root: bool) -> Fact {
    let label = "device cgroup";
    match Hierarchy::detect() {
        Ok(Hierarchy::V1(trees)) => match trees.iter().find(|(c, _)| c == "devices") {
            Some((_, root)) => Fact::ok(
                label,
                format!(
                    "cgroup v1's devices controller is mounted at {}",
                    root.display()
                ),
            ),
            None => Fact::missing(
                label,
                "no cgroup v1 hierarchy has the devices controller",
                "mount it: `sudo mount -t cgroup -o devices devices /sys/fs/cgroup/devices`",
            ),
        },
        Ok(Hierarchy::V2(_)) if !root => Fact::untested(
            label,
            "cgroup v2: a BPF device program, which only root may load",
            "`sudo nslab doctor` tries it",
        ),
        Ok(Hierarchy::V2(tree)) => {
            let parent = tree.join(PARENT);
            let dir = parent.join(format!("doctor-{}", std::process::id()));
            let made_parent = fs::create_dir(&parent).is_ok();
            if let Err(error) = fs::create_dir(&dir) {
                return Fact::untested(
                    label,
                    format!("could not make {}: {error}", dir.display()),
                    "`sudo nslab doctor` tries it",
                );
            }
            // The attach narrates each call; the report is the doctor's.
            let quiet = narrate::is_quiet();
            narrate::init(true);
            let attached = cgroup::devices::attach(&dir, cgroup::devices::DEFAULT_ALLOWED);
            narrate::init(quiet);
            let _ = fs::remove_dir(&dir);
            if made_parent {
                let _ = fs::remove_dir(&parent);
            }
            match attached {
                Ok(()) => Fact::ok(
                    label,
                    "cgroup v2: the BPF device program loads and attaches",
                ),
                Err(error) => Fact::missing(
                    label,
                    format!("cgroup v2: {error}"),
                    "a kernel built with CONFIG_CGROUP_BPF and CONFIG_BPF_SYSCALL",
                ),
            }
        }
        Err(error) => Fact::missing(
            label,
            error.to_string(),
            "`nslab doctor` shows the cgroup layout",
        ),
    }
}
