//! Lesson 08: cgroups, what the kernel uses to limit what a group of
//! processes may use (cgroups(7)). Namespaces change what a container
//! sees; cgroups limit what it uses.
//!
//! How this machine lays them out decides everything: cgroup v2 (one
//! unified hierarchy), v1 (one hierarchy per controller) or the hybrid of
//! both that systemd calls "hybrid". This module finds out ([`cgroup_mode`]);
//! [`group`] makes, limits, joins, reads and removes a container's cgroup
//! on either; [`limits`] parses docker-style limits; [`observe`] holds the
//! lesson's demos and report; [`enter_namespace`]
//! gives the container a cgroup namespace; [`probe`] turns the layout into
//! the facts `nslab doctor` reports; [`devices`] restricts which device
//! nodes a container may use (the v1 devices controller, or an eBPF
//! program on v2).

pub mod devices;
pub mod group;
pub mod limits;
pub mod observe;
pub mod probe;

use crate::narrate;
use nix::sys::statfs::{FsType, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
use std::io;
use std::path::PathBuf;

/// What can go wrong with cgroups.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A limit flag that does not parse.
    #[error("invalid {flag} {text:?}: {reason}")]
    InvalidLimit {
        /// The flag.
        flag: &'static str,
        /// What was given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// A limit this machine's cgroups cannot express.
    #[error("{limit} cannot be set here: {why}")]
    CannotExpress {
        /// The limit, as given.
        limit: String,
        /// Why not.
        why: String,
    },
    /// No cgroup file system is mounted.
    #[error("no cgroup file system is mounted")]
    NoCgroups,
    /// A v1 controller the lesson needs has no hierarchy.
    #[error("no cgroup v1 hierarchy has the {controller} controller")]
    NoController {
        /// The controller.
        controller: &'static str,
    },
    /// Making a cgroup, writing or reading one of its files failed.
    #[error("failed to {step}: {}", path.display())]
    File {
        /// What was being done.
        step: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The device cgroup could not be set up (lesson 11).
    #[error(transparent)]
    Devices(#[from] devices::DevicesError),
    /// unshare(CLONE_NEWCGROUP) failed.
    #[error("failed to make a cgroup namespace")]
    Namespace(#[source] nix::errno::Errno),
}

impl CgroupError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            CgroupError::NoCgroups | CgroupError::NoController { .. } => {
                Some("`nslab doctor` shows the cgroup layout and how to get the controllers".into())
            }
            CgroupError::File { .. } => Some(
                "cgroups need root (or a delegated subtree); `sudo nslab cleanup` removes a killed run's".into(),
            ),
            CgroupError::Devices(e) => e.hint(),
            _ => None,
        }
    }
}

/// The child's step: a cgroup namespace of its own, made after the parent
/// moved it into its cgroup, so that the namespace's root is that cgroup:
/// inside, `/proc/self/cgroup` then reads `/` instead of the host's path
/// (cgroup_namespaces(7)). Made at clone time it would be rooted at the
/// lesson's cgroup instead.
// ANCHOR: namespace
pub fn enter_namespace() -> Result<(), CgroupError> {
    narrate::syscall("unshare(CLONE_NEWCGROUP)   # rooted at the cgroup we were just moved into");
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP).map_err(CgroupError::Namespace)
}
// ANCHOR_END: namespace

/// Where cgroups are mounted; the usual place.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Where systemd mounts cgroup2 in hybrid mode.
pub const CGROUP_UNIFIED: &str = "/sys/fs/cgroup/unified";

/// How cgroups are laid out on this machine (cgroups(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// cgroup v2: one unified hierarchy (`cgroup2`) at `/sys/fs/cgroup`.
    V2,
    /// cgroup v1: one hierarchy per controller (or group of controllers),
    /// each mounted under `/sys/fs/cgroup/<name>`.
    V1,
    /// v1 controller hierarchies, plus a cgroup2 mount at
    /// `/sys/fs/cgroup/unified` (what systemd calls "hybrid"); controllers
    /// bound to a v1 hierarchy are not available in the v2 one.
    Hybrid,
    /// No cgroup file system is mounted.
    None,
}

/// Decides the cgroup mode from statfs(2) of `/sys/fs/cgroup` and of
/// `/sys/fs/cgroup/unified` (`None` when the directory does not exist), and
/// the number of v1 hierarchies mounted.
///
/// The file system *type* answers the question without parsing anything:
/// statfs(2) `f_type` is `CGROUP2_SUPER_MAGIC` on a cgroup2 mount. In v1 and
/// hybrid mode `/sys/fs/cgroup` is a tmpfs holding one mount per hierarchy.
pub fn cgroup_mode(
    root: Option<FsType>,
    unified: Option<FsType>,
    v1_hierarchies: usize,
) -> CgroupMode {
    if root == Some(CGROUP2_SUPER_MAGIC) {
        CgroupMode::V2
    } else if unified == Some(CGROUP2_SUPER_MAGIC) {
        CgroupMode::Hybrid
    } else if v1_hierarchies > 0 || root == Some(CGROUP_SUPER_MAGIC) {
        CgroupMode::V1
    } else {
        CgroupMode::None
    }
}

/// A mounted cgroup v1 hierarchy, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: String,
    /// The controllers bound to it, e.g. `["cpu", "cpuacct"]`; empty for a
    /// named hierarchy without controllers such as `name=systemd`.
    pub controllers: Vec<String>,
}

/// Mount options of a v1 cgroup mount that are not controller names
/// (cgroups(7), "Mounting v1 controllers"), besides `rw`/`ro`.
const V1_NON_CONTROLLER_OPTIONS: &[&str] = &[
    "rw",
    "ro",
    "all",
    "none",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
    "favordynmods",
];

/// The v1 hierarchies mounted, from the text of `/proc/self/mountinfo`.
///
/// A mountinfo line is (proc(5)):
/// `36 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:15 - cgroup cgroup rw,memory`:
/// the mount point is the 5th field; after the ` - ` separator come the file
/// system type, the source and the super-block options, which for a v1
/// cgroup mount name its controllers.
pub fn v1_hierarchies(mountinfo: &str) -> Vec<V1Hierarchy> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, super_block) = line.split_once(" - ")?;
            let mut sb = super_block.split_whitespace();
            if sb.next()? != "cgroup" {
                return None;
            }
            let options = sb.nth(1).unwrap_or("");
            let mount_point = mount.split_whitespace().nth(4)?.to_string();
            let controllers = options
                .split(',')
                .filter(|o| !o.is_empty() && !o.contains('='))
                .filter(|o| !V1_NON_CONTROLLER_OPTIONS.contains(o))
                .map(str::to_string)
                .collect();
            Some(V1Hierarchy {
                mount_point,
                controllers,
            })
        })
        .collect()
}

/// The controllers listed in a v2 `cgroup.controllers` file.
pub fn v2_controllers(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// A line of `/proc/cgroups`: a controller the kernel was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelController {
    /// Its name.
    pub name: String,
    /// 0 when it is bound to no v1 hierarchy (so free for v2, or unused).
    pub hierarchy: u32,
    /// False when switched off on the kernel command line (`cgroup_disable=`).
    pub enabled: bool,
}

/// Parses `/proc/cgroups` (cgroups(7)): `name hierarchy num_cgroups enabled`.
pub fn parse_proc_cgroups(text: &str) -> Vec<KernelController> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some(KernelController {
                name: fields.first()?.to_string(),
                hierarchy: fields.get(1)?.parse().ok()?,
                enabled: fields.get(3)? != &"0",
            })
        })
        .collect()
}
