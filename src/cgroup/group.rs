//! One container's cgroup: made, limited, joined, read and removed, on
//! cgroup v2 or on cgroup v1 (and hybrid), behind one interface.
//!
//! Every change is a step of a plan ([`Step`]): make a directory, write a
//! value into a file, remove a directory. The plans are plain data, built
//! by [`setup_plan`] and [`teardown_plan`] for either version and tested
//! as such; [`Cgroup`] carries them out, narrating each file written and
//! what was written into it.

use super::limits::{Limits, CPU_PERIOD_US};
use super::CgroupError;
use crate::narrate;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The directory under each hierarchy's root that holds nslab's cgroups:
/// everything nslab makes is under a parent of this name.
pub const PARENT: &str = "nslab";

/// Where a container's cgroups are: the two implementations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v2: one tree, every controller in it, mounted at this root.
    V2(PathBuf),
    /// cgroup v1 (or hybrid): one tree per controller, each mounted at its
    /// own root: `("memory", "/sys/fs/cgroup/memory")`.
    V1(Vec<(String, PathBuf)>),
}

impl Hierarchy {
    /// Finds out which cgroups this machine has, by looking at the file
    /// systems (see [`super::cgroup_mode`]), never at a kernel version.
    // ANCHOR: detect
    pub fn detect() -> Result<Hierarchy, CgroupError> {
        use super::{cgroup_mode, v1_hierarchies, CgroupMode, CGROUP_ROOT, CGROUP_UNIFIED};
        use nix::sys::statfs::statfs;
        let fs_type = |path: &str| statfs(path).ok().map(|s| s.filesystem_type());
        let mountinfo =
            fs::read_to_string("/proc/self/mountinfo").map_err(|source| CgroupError::File {
                step: "read the mount table",
                path: "/proc/self/mountinfo".into(),
                source,
            })?;
        let v1 = v1_hierarchies(&mountinfo);
        match cgroup_mode(fs_type(CGROUP_ROOT), fs_type(CGROUP_UNIFIED), v1.len()) {
            CgroupMode::V2 => Ok(Hierarchy::V2(PathBuf::from(CGROUP_ROOT))),
            // Hybrid: the controllers are in the v1 trees; the unified
            // tree beside them has none to limit with.
            CgroupMode::V1 | CgroupMode::Hybrid => Ok(Hierarchy::V1(
                v1.into_iter()
                    .flat_map(|h| {
                        let point = PathBuf::from(&h.mount_point);
                        h.controllers.into_iter().map(move |c| (c, point.clone()))
                    })
                    .collect(),
            )),
            CgroupMode::None => Err(CgroupError::NoCgroups),
        }
    }
    // ANCHOR_END: detect

    /// The root of the v1 tree of `controller`.
    fn v1_root(&self, controller: &str) -> Option<&Path> {
        match self {
            Hierarchy::V1(trees) => trees
                .iter()
                .find(|(c, _)| c == controller)
                .map(|(_, root)| root.as_path()),
            Hierarchy::V2(_) => None,
        }
    }

    /// The directories of the cgroup called `id`, one per tree used.
    pub fn dirs(&self, id: &str, limits: &Limits) -> Vec<PathBuf> {
        match self {
            Hierarchy::V2(root) => vec![root.join(PARENT).join(id)],
            Hierarchy::V1(_) => v1_controllers(limits)
                .into_iter()
                .filter_map(|c| self.v1_root(c))
                .map(|root| root.join(PARENT).join(id))
                .collect(),
        }
    }
}

/// The v1 controllers a container uses: memory, cpuacct and pids always
/// (their counters make the exit report), cpu and blkio for their limits,
/// devices for lesson 11's device rules.
fn v1_controllers(limits: &Limits) -> Vec<&'static str> {
    let mut controllers = vec!["memory", "cpu", "cpuacct", "pids"];
    if limits.io_weight.is_some() {
        controllers.push("blkio");
    }
    if limits.devices.is_some() {
        controllers.push("devices");
    }
    controllers
}

/// One change to the cgroup file systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// mkdir(2): a directory in a cgroup file system is a new cgroup.
    Mkdir(PathBuf),
    /// Write a value into a control file.
    Write(PathBuf, String),
    /// rmdir(2): removes an empty cgroup (its control files go with it).
    Rmdir(PathBuf),
    /// Loads the device program of [`super::devices`] for these rules and
    /// attaches it to this cgroup2 directory: cgroup v2's device cgroup.
    AttachDeviceProgram(PathBuf, Vec<super::devices::DeviceRule>),
}

/// The steps that make cgroup `id` with `limits` in `hierarchy`, in order.
///
/// On v2 the controllers must be enabled in `cgroup.subtree_control` of
/// every cgroup on the way down (cgroups(7), "Enabling and disabling
/// controllers"): the root's, then nslab's, before the container's own
/// files exist. On v1 each controller is a tree of its own, and the
/// container gets a directory in each.
pub fn setup_plan(
    hierarchy: &Hierarchy,
    id: &str,
    limits: &Limits,
) -> Result<Vec<Step>, CgroupError> {
    let mut plan = Vec::new();
    match hierarchy {
        // ANCHOR: plan_v2
        Hierarchy::V2(root) => {
            let parent = root.join(PARENT);
            let dir = parent.join(id);
            // The controllers this tree offers (cgroup.controllers): a
            // limit needs its own; the counters of the others come along.
            let available = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            let has = |name: &str| available.split_whitespace().any(|c| c == name);
            let needed = [
                ("memory", limits.memory.is_some(), "--memory"),
                ("cpu", limits.cpus.is_some(), "--cpus"),
                ("cpu", limits.cpu_shares.is_some(), "--cpu-shares"),
                ("pids", limits.pids.is_some(), "--pids-limit"),
                ("io", limits.io_weight.is_some(), "--io-weight"),
            ];
            for (controller, wanted, flag) in needed {
                if wanted && !has(controller) {
                    return Err(CgroupError::CannotExpress {
                        limit: flag.to_string(),
                        why: format!(
                            "the cgroup2 tree at {} has no {controller} controller",
                            root.display()
                        ),
                    });
                }
            }
            let enable: Vec<String> = ["memory", "cpu", "pids", "io"]
                .iter()
                .filter(|c| has(c) && (**c != "io" || limits.io_weight.is_some()))
                .map(|c| format!("+{c}"))
                .collect();
            let enable = enable.join(" ");
            if !enable.is_empty() {
                plan.push(Step::Write(
                    root.join("cgroup.subtree_control"),
                    enable.clone(),
                ));
            }
            plan.push(Step::Mkdir(parent.clone()));
            if !enable.is_empty() {
                plan.push(Step::Write(parent.join("cgroup.subtree_control"), enable));
            }
            plan.push(Step::Mkdir(dir.clone()));
            if let Some(bytes) = limits.memory {
                plan.push(Step::Write(dir.join("memory.max"), bytes.to_string()));
                // No swap beyond the limit: the limit is the limit.
                plan.push(Step::Write(dir.join("memory.swap.max"), "0".into()));
            }
            if let Some(cpus) = limits.cpus {
                plan.push(Step::Write(
                    dir.join("cpu.max"),
                    format!("{} {CPU_PERIOD_US}", cpus.quota_us),
                ));
            }
            if let Some(shares) = limits.cpu_shares {
                plan.push(Step::Write(
                    dir.join("cpu.weight"),
                    super::limits::shares_to_weight(shares).to_string(),
                ));
            }
            if let Some(pids) = limits.pids {
                plan.push(Step::Write(dir.join("pids.max"), pids.to_string()));
            }
            if let Some(weight) = limits.io_weight {
                plan.push(Step::Write(
                    dir.join("io.weight"),
                    format!("default {weight}"),
                ));
            }
            // v2 has no devices controller: a BPF program attached to the
            // cgroup answers each open and mknod (lesson 11).
            if let Some(rules) = &limits.devices {
                plan.push(Step::AttachDeviceProgram(dir.clone(), rules.clone()));
            }
        }
        // ANCHOR_END: plan_v2
        Hierarchy::V1(_) => {
            for controller in v1_controllers(limits) {
                let root = hierarchy
                    .v1_root(controller)
                    .ok_or(CgroupError::NoController { controller })?;
                let parent = root.join(PARENT);
                let dir = parent.join(id);
                plan.push(Step::Mkdir(parent));
                plan.push(Step::Mkdir(dir.clone()));
                match controller {
                    "memory" => {
                        if let Some(bytes) = limits.memory {
                            plan.push(Step::Write(
                                dir.join("memory.limit_in_bytes"),
                                bytes.to_string(),
                            ));
                            // Memory plus swap: the same, so no swap; set
                            // after the memory limit, which it may not be
                            // below.
                            plan.push(Step::Write(
                                dir.join("memory.memsw.limit_in_bytes"),
                                bytes.to_string(),
                            ));
                        }
                    }
                    "cpu" => {
                        if let Some(cpus) = limits.cpus {
                            plan.push(Step::Write(
                                dir.join("cpu.cfs_period_us"),
                                CPU_PERIOD_US.to_string(),
                            ));
                            plan.push(Step::Write(
                                dir.join("cpu.cfs_quota_us"),
                                cpus.quota_us.to_string(),
                            ));
                        }
                        if let Some(shares) = limits.cpu_shares {
                            plan.push(Step::Write(dir.join("cpu.shares"), shares.to_string()));
                        }
                    }
                    "devices" => {
                        // Deny everything first, then allow the standard
                        // nodes: a cgroup starts with its parent's rules.
                        let rules = limits.devices.as_deref().unwrap_or_default();
                        for (file, value) in super::devices::v1_writes(&dir, rules) {
                            plan.push(Step::Write(file, value));
                        }
                    }
                    "pids" => {
                        if let Some(pids) = limits.pids {
                            plan.push(Step::Write(dir.join("pids.max"), pids.to_string()));
                        }
                    }
                    "blkio" => {
                        if let Some(weight) = limits.io_weight {
                            // CFQ's blkio.weight (10 to 1000) went with CFQ in
                            // Linux 5.0; BFQ's blkio.bfq.weight (1 to 1000)
                            // is what v1 has since, in cgroups below the root
                            // (its blkio.bfq.* counters show it is there).
                            let (file, range) = if root.join("blkio.weight").exists() {
                                ("blkio.weight", 10..=1000)
                            } else if root.join("blkio.bfq.io_serviced").exists() {
                                ("blkio.bfq.weight", 1..=1000)
                            } else {
                                return Err(CgroupError::CannotExpress {
                                    limit: format!("--io-weight {weight}"),
                                    why: "this kernel's v1 blkio has neither CFQ's blkio.weight nor BFQ's \
                                          blkio.bfq.weight (build BFQ: CONFIG_BFQ_GROUP_IOSCHED)"
                                        .into(),
                                });
                            };
                            if !range.contains(&weight) {
                                return Err(CgroupError::CannotExpress {
                                    limit: format!("--io-weight {weight}"),
                                    why: format!(
                                        "cgroup v1's {file} takes {} to {}",
                                        range.start(),
                                        range.end()
                                    ),
                                });
                            }
                            plan.push(Step::Write(dir.join(file), weight.to_string()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(plan)
}

/// The steps that remove cgroup `dirs`, once empty, then nslab's parents
/// when no other container uses them.
pub fn teardown_plan(dirs: &[PathBuf]) -> Vec<Step> {
    let mut plan: Vec<Step> = dirs.iter().cloned().map(Step::Rmdir).collect();
    plan.extend(
        dirs.iter()
            .filter_map(|d| d.parent())
            .map(|p| Step::Rmdir(p.to_path_buf())),
    );
    plan
}

/// What a container used, from its cgroup's own counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// The most memory it held at once, in bytes.
    pub memory_peak: Option<u64>,
    /// CPU time, in nanoseconds.
    pub cpu_ns: Option<u64>,
    /// The most processes at once (v2's `pids.peak`, Linux 6.1; v1 does
    /// not count it).
    pub pids_peak: Option<u64>,
    /// How many times a fork was refused at the pids limit.
    pub pids_refused: Option<u64>,
    /// How many processes the OOM killer ended.
    pub oom_kills: Option<u64>,
}

/// A container's cgroup, made by [`Cgroup::create`]; removed, after its
/// processes are killed, when dropped.
#[derive(Debug)]
pub struct Cgroup {
    hierarchy: Hierarchy,
    dirs: Vec<PathBuf>,
    removed: bool,
}

impl Cgroup {
    /// Makes cgroup `id` with `limits`, carrying out [`setup_plan`]. A
    /// step that fails undoes what was made.
    // ANCHOR: create
    pub fn create(hierarchy: &Hierarchy, id: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        let plan = setup_plan(hierarchy, id, limits)?;
        let mut cgroup = Cgroup {
            hierarchy: hierarchy.clone(),
            dirs: hierarchy.dirs(id, limits),
            removed: false,
        };
        for step in &plan {
            match step {
                Step::Mkdir(dir) => match mkdir(dir) {
                    // Another container's teardown removed nslab's parent
                    // between its mkdir and this one: make it again.
                    Err(_) if dir.parent().is_some_and(|p| !p.exists()) => {
                        if let Some(parent) = dir.parent() {
                            mkdir(parent)?;
                        }
                        mkdir(dir)?
                    }
                    other => other?,
                },
                Step::Write(file, value) => {
                    // The swap files exist only with swap accounting.
                    let optional = file.ends_with("memory.swap.max")
                        || file.ends_with("memory.memsw.limit_in_bytes");
                    if optional && !file.exists() {
                        narrate::explain(format!(
                            "no {}: this kernel does not account swap",
                            file.display()
                        ));
                        continue;
                    }
                    if let Err(e) = write(file, value) {
                        cgroup.destroy();
                        return Err(e);
                    }
                }
                Step::AttachDeviceProgram(dir, rules) => {
                    if let Err(e) = super::devices::attach(dir, rules) {
                        cgroup.destroy();
                        return Err(e.into());
                    }
                }
                Step::Rmdir(_) => {}
            }
        }
        Ok(cgroup)
    }
    // ANCHOR_END: create

    /// Keeps the cgroup after this value is gone (the runtime's container
    /// outlives `nslab create`), and returns its directories, for whoever
    /// removes it later ([`Cgroup::adopt`]).
    pub fn keep(mut self) -> Vec<PathBuf> {
        self.removed = true;
        std::mem::take(&mut self.dirs)
    }

    /// Takes charge again of a cgroup kept by [`Cgroup::keep`], by its
    /// directories: dropping the value kills what is left in it and
    /// removes it (`nslab delete`).
    pub fn adopt(dirs: Vec<PathBuf>) -> Result<Cgroup, CgroupError> {
        Ok(Cgroup {
            hierarchy: Hierarchy::detect()?,
            dirs,
            removed: false,
        })
    }

    /// The processes in the cgroup, as the host numbers them (from the
    /// first directory's `cgroup.procs`; every tree holds the same ones).
    pub fn pids(&self) -> Vec<i32> {
        self.dirs
            .first()
            .and_then(|dir| fs::read_to_string(dir.join("cgroup.procs")).ok())
            .map(|text| text.lines().filter_map(|l| l.parse().ok()).collect())
            .unwrap_or_default()
    }

    /// The cgroup's directories, one per tree.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Moves process `pid` into the cgroup: a write of its pid into
    /// `cgroup.procs` of each directory. Its children are born there.
    // ANCHOR: join
    pub fn add(&self, pid: Pid) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }
    // ANCHOR_END: join

    /// The file `name` in the directory of the tree that has it.
    fn file(&self, name: &str) -> Option<PathBuf> {
        self.dirs.iter().map(|d| d.join(name)).find(|f| f.exists())
    }

    /// A number from a file holding one.
    fn number(&self, name: &str) -> Option<u64> {
        fs::read_to_string(self.file(name)?)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The value of `key` in a flat keyed file (`key value` lines).
    fn keyed(&self, name: &str, key: &str) -> Option<u64> {
        let text = fs::read_to_string(self.file(name)?).ok()?;
        text.lines().find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok())?
        })
    }

    /// What the container used, from the cgroup's counters.
    // ANCHOR: usage
    pub fn usage(&self) -> Usage {
        match self.hierarchy {
            Hierarchy::V2(_) => Usage {
                memory_peak: self.number("memory.peak"),
                cpu_ns: self.keyed("cpu.stat", "usage_usec").map(|us| us * 1000),
                pids_peak: self.number("pids.peak"),
                pids_refused: self.keyed("pids.events", "max"),
                oom_kills: self.keyed("memory.events", "oom_kill"),
            },
            Hierarchy::V1(_) => Usage {
                memory_peak: self.number("memory.max_usage_in_bytes"),
                cpu_ns: self.number("cpuacct.usage"),
                pids_peak: None,
                pids_refused: self.keyed("pids.events", "max"),
                oom_kills: self.keyed("memory.oom_control", "oom_kill"),
            },
        }
    }
    // ANCHOR_END: usage

    /// Kills whatever is left in the cgroup, waits for it to be empty, and
    /// removes its directories ([`teardown_plan`]). On v2 one write to
    /// `cgroup.kill` kills every process at once (Linux 5.14); on v1 the
    /// lesson sends SIGKILL to each pid `cgroup.procs` lists.
    // ANCHOR: destroy
    pub fn destroy(&mut self) {
        if self.removed {
            return;
        }
        self.removed = true;
        let kill_file = self.file("cgroup.kill");
        for dir in &self.dirs {
            let procs = dir.join("cgroup.procs");
            let pids = || {
                fs::read_to_string(&procs)
                    .map(|t| {
                        t.lines()
                            .filter_map(|l| l.parse::<i32>().ok())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            };
            if pids().is_empty() {
                continue;
            }
            match &kill_file {
                Some(file) => {
                    let _ = write(file, "1");
                }
                None => {
                    narrate::syscall(format!("kill(<each pid in {}>, SIGKILL)", procs.display()));
                    for pid in pids() {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while !pids().is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        for step in teardown_plan(&self.dirs) {
            if let Step::Rmdir(dir) = step {
                rmdir(&dir);
            }
        }
    }
    // ANCHOR_END: destroy
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// mkdir(2) in a cgroup file system: an existing directory is fine (nslab's
/// parent, made by an earlier run).
fn mkdir(dir: &Path) -> Result<(), CgroupError> {
    if dir.is_dir() {
        return Ok(());
    }
    narrate::file_op(format!("mkdir {}", dir.display()));
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(CgroupError::File {
            step: "make the cgroup",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Writes `value` into control file `file`, narrated.
fn write(file: &Path, value: &str) -> Result<(), CgroupError> {
    narrate::file_op(format!("write {} <- {value:?}", file.display()));
    fs::write(file, value).map_err(|source| CgroupError::File {
        step: "write a cgroup file",
        path: file.to_path_buf(),
        source,
    })
}

/// rmdir(2), narrated; a parent another container still uses stays
/// (EBUSY), which is no error.
fn rmdir(dir: &Path) {
    match fs::remove_dir(dir) {
        Ok(()) => narrate::file_op(format!("rmdir {}", dir.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(_) if dir.ends_with(PARENT) => {}
        Err(e) => narrate::warning(format!("could not remove {}: {e}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::limits::Cpus;
    use super::*;

    fn limits() -> Limits {
        Limits {
            memory: Some(32 << 20),
            cpus: Some(Cpus { quota_us: 50_000 }),
            pids: Some(20),
            io_weight: None,
            cpu_shares: Some(512),
            devices: None,
        }
    }

    #[test]
    fn v2_enables_controllers_on_the_way_down_before_writing_limits() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        let plan = setup_plan(&Hierarchy::V2(root.clone()), "42", &limits()).unwrap();
        let enable = "+memory +cpu +pids".to_string();
        assert_eq!(
            plan[..4],
            [
                Step::Write(root.join("cgroup.subtree_control"), enable.clone()),
                Step::Mkdir(root.join("nslab")),
                Step::Write(root.join("nslab/cgroup.subtree_control"), enable),
                Step::Mkdir(root.join("nslab/42")),
            ]
        );
        let writes: Vec<(String, String)> = plan[4..]
            .iter()
            .filter_map(|s| match s {
                Step::Write(f, v) => {
                    Some((f.file_name()?.to_string_lossy().into_owned(), v.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            writes,
            [
                ("memory.max".to_string(), "33554432".to_string()),
                ("memory.swap.max".into(), "0".into()),
                ("cpu.max".into(), "50000 100000".into()),
                // 512 of docker's shares, converted as runc does.
                ("cpu.weight".into(), "20".into()),
                ("pids.max".into(), "20".into()),
            ]
        );
    }

    #[test]
    fn v2_refuses_a_limit_whose_controller_the_tree_lacks() {
        let dir = tempfile::tempdir().unwrap();
        // The unified tree of a hybrid machine: no controllers in it.
        fs::write(dir.path().join("cgroup.controllers"), "\n").unwrap();
        let hierarchy = Hierarchy::V2(dir.path().to_path_buf());
        assert!(matches!(
            setup_plan(&hierarchy, "1", &limits()),
            Err(CgroupError::CannotExpress { .. })
        ));
        // Without limits it still makes the cgroup, enabling nothing.
        let plan = setup_plan(&hierarchy, "1", &Limits::default()).unwrap();
        assert!(
            plan.iter().all(|s| !matches!(s, Step::Write(..))),
            "{plan:?}"
        );
    }

    #[test]
    fn device_rules_deny_all_then_allow_on_v1_and_attach_a_program_on_v2() {
        let trees = ["memory", "cpu", "cpuacct", "pids", "devices"]
            .iter()
            .map(|c| (c.to_string(), PathBuf::from(format!("/cg/{c}"))))
            .collect();
        let locked = Limits {
            devices: Some(crate::cgroup::devices::DEFAULT_ALLOWED.to_vec()),
            ..Limits::default()
        };
        let plan = setup_plan(&Hierarchy::V1(trees), "7", &locked).unwrap();
        let writes: Vec<(String, String)> = plan
            .iter()
            .filter_map(|s| match s {
                Step::Write(f, v) if f.starts_with("/cg/devices/nslab/7") => {
                    Some((f.file_name()?.to_str()?.to_string(), v.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(writes[0], ("devices.deny".to_string(), "a".to_string()));
        assert!(writes.contains(&("devices.allow".to_string(), "c 1:3 rwm".to_string())));
        assert_eq!(
            writes.len(),
            1 + crate::cgroup::devices::DEFAULT_ALLOWED.len()
        );
        // Without the flag, the devices tree is not touched.
        let trees = ["memory", "cpu", "cpuacct", "pids", "devices"]
            .iter()
            .map(|c| (c.to_string(), PathBuf::from(format!("/cg/{c}"))))
            .collect();
        let plan = setup_plan(&Hierarchy::V1(trees), "7", &Limits::default()).unwrap();
        assert!(!plan.iter().any(|s| match s {
            Step::Mkdir(p) | Step::Write(p, _) => p.starts_with("/cg/devices"),
            _ => false,
        }));

        let root = PathBuf::from("/nonexistent-cgroup2");
        let plan = setup_plan(&Hierarchy::V2(root.clone()), "7", &locked).unwrap();
        let mkdir = plan
            .iter()
            .position(|s| *s == Step::Mkdir(root.join("nslab/7")))
            .unwrap();
        let attach = plan
            .iter()
            .position(
                |s| matches!(s, Step::AttachDeviceProgram(d, _) if *d == root.join("nslab/7")),
            )
            .unwrap();
        assert!(mkdir < attach);
        let plan = setup_plan(&Hierarchy::V2(root), "7", &Limits::default()).unwrap();
        assert!(!plan
            .iter()
            .any(|s| matches!(s, Step::AttachDeviceProgram(..))));
    }

    #[test]
    fn v1_makes_one_directory_per_controller_tree() {
        let trees = ["memory", "cpu", "cpuacct", "pids"]
            .iter()
            .map(|c| (c.to_string(), PathBuf::from(format!("/cg/{c}"))))
            .collect();
        let hierarchy = Hierarchy::V1(trees);
        let plan = setup_plan(&hierarchy, "7", &limits()).unwrap();
        assert!(plan.contains(&Step::Mkdir("/cg/memory/nslab/7".into())));
        assert!(plan.contains(&Step::Write(
            "/cg/cpu/nslab/7/cpu.cfs_quota_us".into(),
            "50000".into()
        )));
        assert!(plan.contains(&Step::Write(
            "/cg/cpu/nslab/7/cpu.shares".into(),
            "512".into()
        )));
        let memory = plan
            .iter()
            .position(|s| matches!(s, Step::Write(f, _) if f.ends_with("memory.limit_in_bytes")))
            .unwrap();
        let memsw = plan
            .iter()
            .position(
                |s| matches!(s, Step::Write(f, _) if f.ends_with("memory.memsw.limit_in_bytes")),
            )
            .unwrap();
        assert!(
            memory < memsw,
            "memsw may not be set below the memory limit"
        );
        assert_eq!(
            hierarchy.dirs("7", &limits()).len(),
            4,
            "memory, cpu, cpuacct, pids"
        );
        // An I/O weight v1 cannot express is refused before anything.
        let mut io = limits();
        io.io_weight = Some(5000);
        let trees = ["memory", "cpu", "cpuacct", "pids", "blkio"]
            .iter()
            .map(|c| (c.to_string(), PathBuf::from(format!("/nonexistent/{c}"))))
            .collect();
        assert!(matches!(
            setup_plan(&Hierarchy::V1(trees), "7", &io),
            Err(CgroupError::CannotExpress { .. })
        ));
    }

    #[test]
    fn teardown_removes_the_container_before_the_parents() {
        let dirs = vec![
            PathBuf::from("/cg/memory/nslab/7"),
            PathBuf::from("/cg/pids/nslab/7"),
        ];
        assert_eq!(
            teardown_plan(&dirs),
            [
                Step::Rmdir("/cg/memory/nslab/7".into()),
                Step::Rmdir("/cg/pids/nslab/7".into()),
                Step::Rmdir("/cg/memory/nslab".into()),
                Step::Rmdir("/cg/pids/nslab".into()),
            ]
        );
    }

    #[test]
    fn a_directory_laid_out_like_cgroup2_gets_the_files_and_values() {
        let root = tempfile::tempdir().unwrap();
        // Control files the kernel would provide, so that "exists" checks
        // see them.
        fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
        fs::write(root.path().join("cgroup.controllers"), "cpu io memory pids").unwrap();
        let hierarchy = Hierarchy::V2(root.path().to_path_buf());
        fs::create_dir_all(root.path().join("nslab/9")).unwrap();
        fs::write(root.path().join("nslab/9/memory.swap.max"), "max").unwrap();
        let mut cgroup = Cgroup::create(&hierarchy, "9", &limits()).unwrap();
        let read = |f: &str| fs::read_to_string(root.path().join(f)).unwrap();
        assert_eq!(read("cgroup.subtree_control"), "+memory +cpu +pids");
        assert_eq!(read("nslab/cgroup.subtree_control"), "+memory +cpu +pids");
        assert_eq!(read("nslab/9/memory.max"), "33554432");
        assert_eq!(read("nslab/9/memory.swap.max"), "0");
        assert_eq!(read("nslab/9/cpu.max"), "50000 100000");
        assert_eq!(read("nslab/9/pids.max"), "20");
        cgroup.add(Pid::from_raw(1234)).unwrap();
        assert_eq!(read("nslab/9/cgroup.procs"), "1234");
        // Counters, as the kernel would show them.
        fs::write(
            root.path().join("nslab/9/memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        fs::write(
            root.path().join("nslab/9/cpu.stat"),
            "usage_usec 1500000\nuser_usec 1\n",
        )
        .unwrap();
        let usage = cgroup.usage();
        assert_eq!(usage.oom_kills, Some(1));
        assert_eq!(usage.cpu_ns, Some(1_500_000_000));
        fs::write(root.path().join("nslab/9/pids.peak"), "7\n").unwrap();
        assert_eq!(cgroup.usage().pids_peak, Some(7));
        // Not a real cgroup file system: nothing to kill, and rmdir of a
        // directory holding files fails; keep it from trying.
        cgroup.removed = true;
    }
}
