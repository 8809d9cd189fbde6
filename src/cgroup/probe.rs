//! Which cgroup layout this machine has, and whether the controllers
//! lesson 08 uses are available in it.

use super::*;
use crate::probe::{probe_fs_type, read_optional, Fact, ProbeError};
use std::fs;
use std::path::Path;

/// The controllers lesson 08 uses.
pub const NEEDED_CONTROLLERS: &[&str] = &["memory", "cpu", "pids"];

/// Everything the doctor learned about cgroups on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroups {
    /// The layout.
    pub mode: CgroupMode,
    /// Controllers available through v1 hierarchies.
    pub v1: Vec<String>,
    /// Controllers available in the v2 hierarchy.
    pub v2: Vec<String>,
    /// The kernel's own list (`/proc/cgroups`), to explain a missing
    /// controller; `None` when it could not be read.
    pub kernel: Option<Vec<KernelController>>,
}

/// The cgroup-mode fact.
pub fn interpret_cgroup_mode(cgroups: &Cgroups) -> Fact {
    let label = "cgroup mode";
    match cgroups.mode {
        CgroupMode::V2 => Fact::ok(
            label,
            format!("v2: one unified hierarchy (cgroup2) at {CGROUP_ROOT}"),
        ),
        CgroupMode::V1 => Fact::ok(label, "v1: one hierarchy per controller, no cgroup2"),
        CgroupMode::Hybrid => Fact::ok(
            label,
            format!("hybrid: v1 controller hierarchies, plus cgroup2 at {CGROUP_UNIFIED}"),
        ),
        CgroupMode::None => Fact::missing(
            label,
            "no cgroup file system is mounted",
            format!("`sudo mount -t cgroup2 none {CGROUP_ROOT}`"),
        ),
    }
}

/// The cgroup-controllers fact: are [`NEEDED_CONTROLLERS`] available, in
/// either version?
pub fn interpret_cgroup_controllers(cgroups: &Cgroups) -> Fact {
    let label = "cgroup controllers";
    let list = |names: &[String]| {
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(" ")
        }
    };
    let found = match cgroups.mode {
        CgroupMode::V2 => format!("v2: {}", list(&cgroups.v2)),
        CgroupMode::V1 => format!("v1: {}", list(&cgroups.v1)),
        CgroupMode::Hybrid => format!("v1: {}; v2: {}", list(&cgroups.v1), list(&cgroups.v2)),
        CgroupMode::None => "no cgroup file system".to_string(),
    };
    let missing: Vec<&str> = NEEDED_CONTROLLERS
        .iter()
        .copied()
        .filter(|c| !cgroups.v1.iter().chain(&cgroups.v2).any(|have| have == c))
        .collect();
    if missing.is_empty() {
        return Fact::ok(
            label,
            format!("{} available ({found})", NEEDED_CONTROLLERS.join(", ")),
        );
    }
    let fixes: Vec<String> = missing.iter().map(|c| controller_fix(c, cgroups)).collect();
    Fact::missing(
        label,
        format!("missing {} ({found})", missing.join(", ")),
        fixes.join("; "),
    )
}

/// How to get a missing controller, from what `/proc/cgroups` says about it.
pub(crate) fn controller_fix(name: &str, cgroups: &Cgroups) -> String {
    let Some(kernel) = &cgroups.kernel else {
        return format!("{name}: check /proc/cgroups and the kernel command line");
    };
    match kernel.iter().find(|k| k.name == name) {
        None => format!("{name}: this kernel was built without it"),
        Some(k) if !k.enabled => format!(
            "{name}: it is switched off at boot: remove `cgroup_disable={name}` from the kernel \
             command line (some boards, e.g. Raspberry Pi, need `cgroup_enable={name}`)"
        ),
        Some(_) if cgroups.mode == CgroupMode::V2 => format!(
            "{name}: it is not delegated to this cgroup: enable it in the parent's cgroup.subtree_control"
        ),
        Some(_) => format!(
            "{name}: mount its v1 hierarchy: `sudo mkdir -p {CGROUP_ROOT}/{name} && \
             sudo mount -t cgroup -o {name} cgroup {CGROUP_ROOT}/{name}`"
        ),
    }
}

/// Probes the cgroup layout and its controllers.
pub(crate) fn probe_cgroups() -> Result<Cgroups, ProbeError> {
    let root = probe_fs_type(CGROUP_ROOT)?;
    let unified = probe_fs_type(CGROUP_UNIFIED)?;
    let mountinfo_path = Path::new("/proc/self/mountinfo");
    let mountinfo = fs::read_to_string(mountinfo_path).map_err(|source| ProbeError::ReadFile {
        path: mountinfo_path.to_path_buf(),
        source,
    })?;
    let hierarchies = v1_hierarchies(&mountinfo);
    let mode = cgroup_mode(root, unified, hierarchies.len());

    let mut v1: Vec<String> = hierarchies
        .into_iter()
        .flat_map(|h| h.controllers)
        .collect();
    v1.sort();
    v1.dedup();
    let v2_file = match mode {
        CgroupMode::V2 => Some(Path::new(CGROUP_ROOT).join("cgroup.controllers")),
        CgroupMode::Hybrid => Some(Path::new(CGROUP_UNIFIED).join("cgroup.controllers")),
        CgroupMode::V1 | CgroupMode::None => None,
    };
    let v2 = match v2_file {
        Some(path) => read_optional(&path)?
            .map(|t| v2_controllers(&t))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    // /proc/cgroups only explains a missing controller; without it the
    // advice is vaguer, but the verdict is the same.
    let kernel = fs::read_to_string("/proc/cgroups")
        .ok()
        .map(|t| parse_proc_cgroups(&t));
    Ok(Cgroups {
        mode,
        v1,
        v2,
        kernel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{fix_of, machines::*, Status};
    use nix::sys::statfs::TMPFS_MAGIC;

    // --- Cgroups --------------------------------------------------------

    #[test]
    fn cgroup_mode_from_the_file_system_types() {
        assert_eq!(
            cgroup_mode(Some(CGROUP2_SUPER_MAGIC), None, 0),
            CgroupMode::V2
        );
        assert_eq!(
            cgroup_mode(Some(TMPFS_MAGIC), Some(CGROUP2_SUPER_MAGIC), 9),
            CgroupMode::Hybrid
        );
        assert_eq!(cgroup_mode(Some(TMPFS_MAGIC), None, 5), CgroupMode::V1);
        // A v1 machine whose unified directory exists but is not a mount.
        assert_eq!(
            cgroup_mode(Some(TMPFS_MAGIC), Some(TMPFS_MAGIC), 5),
            CgroupMode::V1
        );
        assert_eq!(cgroup_mode(Some(TMPFS_MAGIC), None, 0), CgroupMode::None);
        assert_eq!(cgroup_mode(None, None, 0), CgroupMode::None);
    }

    #[test]
    fn pure_v2_has_no_v1_hierarchies_and_all_controllers() {
        assert!(v1_hierarchies(MOUNTINFO_V2).is_empty());
        let cgroups = cgroups_from(CgroupMode::V2, MOUNTINFO_V2, CONTROLLERS_V2);
        assert_eq!(interpret_cgroup_mode(&cgroups).status, Status::Ok);
        let fact = interpret_cgroup_controllers(&cgroups);
        assert_eq!(fact.status, Status::Ok);
        assert!(fact
            .detail
            .contains("v2: cpuset cpu io memory hugetlb pids rdma misc"));
    }

    #[test]
    fn pure_v1_hierarchies_and_their_controllers() {
        let hierarchies = v1_hierarchies(MOUNTINFO_V1);
        assert_eq!(hierarchies.len(), 5);
        assert_eq!(hierarchies[0].mount_point, "/sys/fs/cgroup/systemd");
        assert!(
            hierarchies[0].controllers.is_empty(),
            "name=systemd has no controllers"
        );
        assert_eq!(hierarchies[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(
            hierarchies[4].controllers,
            ["cpuset"],
            "clone_children is an option"
        );
        let cgroups = cgroups_from(CgroupMode::V1, MOUNTINFO_V1, "");
        assert!(interpret_cgroup_mode(&cgroups).detail.starts_with("v1"));
        let fact = interpret_cgroup_controllers(&cgroups);
        assert_eq!(fact.status, Status::Ok);
        assert_eq!(
            fact.detail,
            "memory, cpu, pids available (v1: cpu cpuacct cpuset memory pids)"
        );
    }

    #[test]
    fn hybrid_takes_controllers_from_both_versions() {
        let hierarchies = v1_hierarchies(MOUNTINFO_HYBRID);
        assert_eq!(
            hierarchies.len(),
            9,
            "the cgroup2 mount is not a v1 hierarchy"
        );
        // On the CI machine every controller but hugetlb is bound to v1.
        let cgroups = cgroups_from(CgroupMode::Hybrid, MOUNTINFO_HYBRID, "hugetlb\n");
        let mode = interpret_cgroup_mode(&cgroups);
        assert!(mode.detail.starts_with("hybrid"));
        assert!(mode.detail.contains("/sys/fs/cgroup/unified"));
        let fact = interpret_cgroup_controllers(&cgroups);
        assert_eq!(fact.status, Status::Ok);
        assert!(fact.detail.ends_with("v2: hugetlb)"));
        // A hybrid machine with memory left to v2 still has all three.
        let split = cgroups_from(
            CgroupMode::Hybrid,
            "40 31 0:37 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,pids\n",
            "memory",
        );
        assert_eq!(interpret_cgroup_controllers(&split).status, Status::Ok);
    }

    #[test]
    fn a_controller_switched_off_at_boot_is_explained() {
        let mountinfo: String = MOUNTINFO_V1
            .lines()
            .filter(|line| !line.contains("memory"))
            .map(|line| format!("{line}\n"))
            .collect();
        let mut cgroups = cgroups_from(CgroupMode::V1, &mountinfo, "");
        cgroups.kernel = Some(parse_proc_cgroups(PROC_CGROUPS_MEMORY_DISABLED));
        let fact = interpret_cgroup_controllers(&cgroups);
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.starts_with("missing memory"));
        assert!(fix_of(&fact).contains("cgroup_disable=memory"), "{fact:?}");
    }

    #[test]
    fn proc_cgroups_is_parsed() {
        let kernel = parse_proc_cgroups(PROC_CGROUPS_MEMORY_DISABLED);
        assert_eq!(kernel.len(), 5);
        assert_eq!(
            kernel[3],
            KernelController {
                name: "memory".into(),
                hierarchy: 0,
                enabled: false
            }
        );
    }

    #[test]
    fn no_cgroups_at_all() {
        let cgroups = cgroups_from(CgroupMode::None, "", "");
        assert_eq!(interpret_cgroup_mode(&cgroups).status, Status::Missing);
        assert_eq!(
            interpret_cgroup_controllers(&cgroups).status,
            Status::Missing
        );
    }
}

/// What the doctor found out about the caller's own cgroup v2, for
/// rootless use: its directory, its owner, and the controllers enabled
/// for its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnCgroup {
    /// The directory, from the `0::` line of `/proc/self/cgroup`.
    pub dir: std::path::PathBuf,
    /// Its owner's uid.
    pub owner: u32,
    /// The text of its `cgroup.subtree_control`.
    pub subtree_control: String,
}

/// The cgroup-delegation fact: may the caller make cgroups with limits
/// without root? Only on cgroup v2, in a subtree delegated to them (its
/// directory theirs, the controllers enabled below it), as systemd does
/// for a user's session with `Delegate=yes` (systemd.resource-control(5)).
pub fn interpret_delegation(euid: u32, mode: CgroupMode, own: Option<&OwnCgroup>) -> Fact {
    let label = "cgroup delegation";
    if euid == 0 {
        return Fact::ok(label, "running as root: cgroups need no delegation");
    }
    let fix = "run the lessons with sudo; or, for rootless limits, a systemd user session \
               with Delegate=yes on cgroup v2 (systemd.unified_cgroup_hierarchy=1)";
    if mode != CgroupMode::V2 {
        return Fact::missing(
            label,
            "rootless limits need cgroup v2 with a delegated subtree; this machine is not pure v2",
            fix,
        );
    }
    match own {
        Some(own) if own.owner == euid => {
            let missing: Vec<&str> = NEEDED_CONTROLLERS
                .iter()
                .copied()
                .filter(|c| {
                    !own.subtree_control
                        .split_whitespace()
                        .any(|have| have == *c)
                })
                .collect();
            if missing.is_empty() {
                Fact::ok(
                    label,
                    format!(
                        "{} is yours, with {} enabled below it",
                        own.dir.display(),
                        NEEDED_CONTROLLERS.join(", ")
                    ),
                )
            } else {
                Fact::missing(
                    label,
                    format!(
                        "{} is yours, but {} not enabled below it",
                        own.dir.display(),
                        missing.join(", ")
                    ),
                    fix,
                )
            }
        }
        Some(own) => Fact::missing(
            label,
            format!(
                "your cgroup {} is not yours (owner uid {})",
                own.dir.display(),
                own.owner
            ),
            fix,
        ),
        None => Fact::missing(label, "your own cgroup could not be found", fix),
    }
}

/// Probes the caller's own cgroup v2 (the `0::` line of `/proc/self/cgroup`).
pub(crate) fn probe_own_cgroup() -> Option<OwnCgroup> {
    use std::os::unix::fs::MetadataExt;
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new(CGROUP_ROOT).join(path.trim_start_matches('/'));
    let owner = fs::metadata(&dir).ok()?.uid();
    let subtree_control =
        fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    Some(OwnCgroup {
        dir,
        owner,
        subtree_control,
    })
}

#[cfg(test)]
mod delegation_tests {
    use super::*;
    use crate::probe::Status;

    #[test]
    fn only_a_v2_subtree_of_ones_own_with_the_controllers_counts() {
        assert_eq!(
            interpret_delegation(0, CgroupMode::V1, None).status,
            Status::Ok
        );
        assert_eq!(
            interpret_delegation(1000, CgroupMode::Hybrid, None).status,
            Status::Missing
        );
        let own = OwnCgroup {
            dir: "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service".into(),
            owner: 1000,
            subtree_control: "cpu memory pids\n".into(),
        };
        assert_eq!(
            interpret_delegation(1000, CgroupMode::V2, Some(&own)).status,
            Status::Ok
        );
        let partial = OwnCgroup {
            subtree_control: "memory pids".into(),
            ..own.clone()
        };
        let fact = interpret_delegation(1000, CgroupMode::V2, Some(&partial));
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.contains("cpu not enabled"), "{fact:?}");
        let not_mine = OwnCgroup { owner: 0, ..own };
        assert_eq!(
            interpret_delegation(1000, CgroupMode::V2, Some(&not_mine)).status,
            Status::Missing
        );
    }
}
