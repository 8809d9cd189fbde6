//! A bundle's `config.json`, read with the `oci-spec` crate and turned into
//! the [`Spec`] every lesson fills: the runtime starts containers with the
//! very sequence the lessons do.
//!
//! Each field maps onto one lesson's facility (the book's chapter 12 has
//! the table). A field nslab does not do is an error that names it, never
//! silently skipped: a container that quietly lacks its seccomp profile or
//! its hook would look locked down, or set up, and not be.

use super::RuntimeError;
use crate::cgroup::devices::{Access, DeviceKind, DeviceRule, DEFAULT_ALLOWED};
use crate::cgroup::limits::{Cpus, Limits, CPU_PERIOD_US};
use crate::lockdown::capabilities::{self, Capabilities};
use crate::lockdown::Lockdown;
use crate::mount::generic::Generic;
use crate::namespace::Namespace;
use crate::spec::{Identity, Mount, Process, Rlimit, Root, Spec};
use crate::user::{IdMap, IdMaps};
use crate::uts::Names;
use caps::CapsHashSet;
use oci_spec::runtime as oci;
use std::path::{Path, PathBuf};

/// Reads `config.json` from `bundle`.
pub fn load(bundle: &Path) -> Result<oci::Spec, RuntimeError> {
    let path = bundle.join("config.json");
    oci::Spec::load(&path).map_err(|source| RuntimeError::Config {
        path,
        reason: source.to_string(),
    })
}

/// The `config.json` `nslab spec` writes: oci-spec's default (runc's
/// shape: `sh`, the rootfs in `rootfs`, read-only, new pid, net, ipc, uts,
/// mount and cgroup namespaces, the usual mounts and masked paths), with
/// nslab's hostname and no terminal (nslab's runtime has none yet).
pub fn default_config() -> oci::Spec {
    let mut spec = oci::Spec::default();
    spec.set_hostname(Some("nslab".into()));
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(false));
        // oci-spec's default raises the inheritable and ambient sets too;
        // runc's `spec` no longer does (CVE-2022-24769, lesson 11).
        if let Some(mut caps) = process.capabilities().clone() {
            caps.set_inheritable(None);
            caps.set_ambient(None);
            process.set_capabilities(Some(caps));
        }
    }
    spec
}

/// An unsupported field, by its config.json path.
fn unsupported(field: &str, why: &str) -> RuntimeError {
    RuntimeError::Unsupported {
        field: field.to_string(),
        why: why.to_string(),
    }
}

/// Refuses `field` when it is set.
fn refuse<T>(value: &Option<T>, field: &str, why: &str) -> Result<(), RuntimeError> {
    match value {
        Some(_) => Err(unsupported(field, why)),
        None => Ok(()),
    }
}

/// Turns `config` (from bundle `bundle`, for container `id`) into a spec.
pub fn to_spec(config: &oci::Spec, bundle: &Path, id: &str) -> Result<Spec, RuntimeError> {
    let version = config.version();
    if !version.starts_with("1.") {
        return Err(unsupported(
            "ociVersion",
            &format!("{version}: nslab reads 1.x"),
        ));
    }
    // Checked here, run by the lifecycle commands.
    super::hooks::from_config(config)?;
    // Another platform's section: nothing of it can be done here.
    for (set, field) in [
        (config.solaris().is_some(), "solaris"),
        (config.windows().is_some(), "windows"),
        (config.vm().is_some(), "vm"),
        (config.zos().is_some(), "zos"),
    ] {
        if set {
            return Err(unsupported(field, "nslab runs Linux containers only"));
        }
    }
    let process = config
        .process()
        .as_ref()
        .ok_or_else(|| unsupported("process", "a container needs a process to run"))?;
    let root = config
        .root()
        .as_ref()
        .ok_or_else(|| unsupported("root", "a container needs a root filesystem"))?;
    let linux = config
        .linux()
        .as_ref()
        .ok_or_else(|| unsupported("linux", "nslab runs Linux containers only"))?;

    let mut spec = Spec {
        command: process.args().clone().unwrap_or_default(),
        ..Spec::default()
    };
    if spec.command.is_empty() {
        return Err(unsupported(
            "process.args",
            "it is empty: there is nothing to run",
        ));
    }
    spec.process = read_process(process)?;

    // The root, and how it is entered: always pivot_root (lesson 03).
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        return Err(RuntimeError::Config {
            path: rootfs,
            reason: "root.path is not a directory".into(),
        });
    }
    spec.root = Some(Root::pivot(rootfs));
    spec.readonly_root = root.readonly().unwrap_or(false);
    // Every mount is made private first (lesson 03); another propagation
    // is set once the container is set up.
    match linux.rootfs_propagation().as_deref() {
        None | Some("") | Some("rprivate") => {}
        Some(word) => {
            spec.root_propagation = Some(
                crate::mount::generic::propagation_flags(word).ok_or_else(|| {
                    unsupported(
                        "linux.rootfsPropagation",
                        &format!("{word}: not a propagation"),
                    )
                })?,
            )
        }
    }

    // Namespaces (lessons 02 to 08): new, or joined by path.
    for namespace in linux.namespaces().as_deref().unwrap_or_default() {
        let kind = namespace_kind(namespace.typ())?;
        match namespace.path() {
            None => spec.namespaces.push(kind),
            Some(path)
                if matches!(
                    kind,
                    Namespace::Net | Namespace::Ipc | Namespace::Uts | Namespace::Pid | Namespace::Cgroup
                ) =>
            {
                spec.join.push((kind, path.clone()))
            }
            Some(_) => {
                return Err(unsupported(
                    "linux.namespaces[].path",
                    &format!(
                        "nslab joins net, ipc, uts, pid and cgroup namespaces by path, not a {} (the mount namespace is where it pivots; a user namespace is made with its maps)",
                        kind.label()
                    ),
                ))
            }
        }
    }
    if !spec.namespaces.contains(&Namespace::Mnt) {
        return Err(unsupported(
            "linux.namespaces",
            "nslab needs a new mount namespace: it enters the root with pivot_root",
        ));
    }

    // Names (lesson 04).
    if config.hostname().is_some() || config.domainname().is_some() {
        spec.names = Some(Names {
            hostname: config.hostname().clone().unwrap_or_else(|| id.to_string()),
            domainname: config.domainname().clone(),
        });
    }

    // Id maps (lesson 07).
    let has_maps = linux
        .uid_mappings()
        .as_deref()
        .is_some_and(|m| !m.is_empty())
        || linux
            .gid_mappings()
            .as_deref()
            .is_some_and(|m| !m.is_empty());
    if has_maps && !spec.namespaces.contains(&Namespace::User) {
        return Err(unsupported(
            "linux.uidMappings",
            "id maps need a new user namespace in linux.namespaces",
        ));
    }
    if spec.namespaces.contains(&Namespace::User) {
        let map = |maps: &Option<Vec<oci::LinuxIdMapping>>| -> Vec<IdMap> {
            maps.as_deref()
                .unwrap_or_default()
                .iter()
                .map(|m| IdMap {
                    inside: m.container_id(),
                    outside: m.host_id(),
                    count: m.size(),
                })
                .collect()
        };
        spec.user = Some(IdMaps {
            uid: map(linux.uid_mappings()),
            gid: map(linux.gid_mappings()),
        });
    }

    // Mounts (lessons 03, 05, 09): each as the config says.
    for mount in config.mounts().as_deref().unwrap_or_default() {
        let mut kind = mount.typ().clone();
        // A `cgroup` mount means "the container's cgroups". On cgroup v2
        // that is cgroup2, which the container's cgroup namespace roots at
        // its own cgroup. On v1 and hybrid machines the container's cgroup
        // is in the v1 trees, and a cgroup2 mount would show the host's
        // whole unified tree: an empty read-only tmpfs instead (runc binds
        // each v1 tree; nslab does not yet).
        if kind.as_deref() == Some("cgroup") {
            let v2 = matches!(
                crate::cgroup::group::Hierarchy::detect(),
                Ok(crate::cgroup::group::Hierarchy::V2(_))
            );
            kind = Some(if v2 { "cgroup2" } else { "tmpfs" }.into());
        }
        if mount.uid_mappings().is_some() || mount.gid_mappings().is_some() {
            return Err(unsupported(
                "mounts[].uidMappings",
                "nslab makes no id-mapped mounts (mount_setattr(2), MOUNT_ATTR_IDMAP)",
            ));
        }
        let generic = Generic::parse(
            mount.destination(),
            kind.as_deref(),
            mount.source().as_deref(),
            mount.options().as_deref().unwrap_or_default(),
            bundle,
        )
        .map_err(|why| unsupported("mounts[]", &why))?;
        spec.mounts.push(Mount::Generic(generic));
    }

    // Resources (lesson 08) and devices (lesson 11), in a cgroup under
    // nslab's parent, named after the container unless cgroupsPath says.
    spec.limits = Some(read_resources(linux)?);
    spec.cgroup_name = Some(cgroup_name(linux.cgroups_path().as_deref(), id)?);

    // Kernel settings of the container's own namespaces.
    if let Some(sysctl) = linux.sysctl() {
        let mut settings: Vec<(String, String)> =
            sysctl.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        settings.sort();
        for (name, _) in &settings {
            crate::sysctl::check(name, &spec.namespaces)?;
        }
        spec.sysctl = settings;
    }

    // The lockdown (lesson 11): capabilities, no_new_privs, paths; no
    // seccomp profile.
    refuse(
        linux.seccomp(),
        "linux.seccomp",
        "nslab reads no seccomp profile yet (podman: --security-opt seccomp=unconfined)",
    )?;
    for device in linux.devices().as_deref().unwrap_or_default() {
        use nix::sys::stat::SFlag;
        let kind = match device.typ() {
            oci::LinuxDeviceType::C | oci::LinuxDeviceType::U => SFlag::S_IFCHR,
            oci::LinuxDeviceType::B => SFlag::S_IFBLK,
            oci::LinuxDeviceType::P => SFlag::S_IFIFO,
            other => {
                return Err(unsupported(
                    "linux.devices[].type",
                    &format!("{other:?}: use c, u, b or p"),
                ))
            }
        };
        if !device.path().starts_with("/dev") {
            return Err(unsupported(
                "linux.devices[].path",
                "a device node belongs under /dev",
            ));
        }
        spec.devices.push(crate::spec::DeviceNode {
            path: device.path().clone(),
            kind,
            major: device.major().max(0) as u64,
            minor: device.minor().max(0) as u64,
            mode: device.file_mode().unwrap_or(0o666),
            uid: device.uid().unwrap_or(0),
            gid: device.gid().unwrap_or(0),
        });
    }
    for (value, field) in [
        (linux.mount_label().is_some(), "linux.mountLabel"),
        (linux.intel_rdt().is_some(), "linux.intelRdt"),
        (linux.personality().is_some(), "linux.personality"),
        (linux.time_offsets().is_some(), "linux.timeOffsets"),
        (linux.memory_policy().is_some(), "linux.memoryPolicy"),
        (linux.net_devices().is_some(), "linux.netDevices"),
    ] {
        if value {
            return Err(unsupported(field, "not supported by nslab"));
        }
    }
    // Lesson 11's own filter, when an annotation asks for it: the engine's
    // containers get it, as docker's get docker's default profile.
    let seccomp_annotation = crate::lockdown::seccomp::ANNOTATION;
    let seccomp = match config
        .annotations()
        .as_ref()
        .and_then(|a| a.get(seccomp_annotation))
        .map(String::as_str)
    {
        None | Some("unconfined") => false,
        Some("default") => true,
        Some(other) => {
            return Err(unsupported(
                &format!("annotations.{seccomp_annotation}"),
                &format!("{other:?}: write \"default\" (lesson 11's filter) or \"unconfined\""),
            ))
        }
    };
    spec.lockdown = Some(Lockdown {
        capabilities: read_capabilities(process.capabilities())?,
        no_new_privs: process.no_new_privileges().unwrap_or(false),
        seccomp,
        masked: linux
            .masked_paths()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(PathBuf::from)
            .collect(),
        read_only: linux
            .readonly_paths()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(PathBuf::from)
            .collect(),
    });
    // `--init` (docker's word): the OCI config has no field for an init,
    // so an annotation of nslab's own asks for one.
    spec.tiny_init = match config
        .annotations()
        .as_ref()
        .and_then(|a| a.get(crate::tiny_init::ANNOTATION))
        .map(String::as_str)
    {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(unsupported(
                &format!("annotations.{}", crate::tiny_init::ANNOTATION),
                &format!("{other:?}: write \"true\" or \"false\""),
            ))
        }
    };
    spec.check()?;
    Ok(spec)
}

/// The cgroup's name under `nslab/`: `cgroupsPath` `/nslab/NAME` (or
/// `nslab/NAME`), or the container's id without one. nslab keeps every
/// cgroup it makes under its parent, so another path is refused, as is
/// systemd's `slice:prefix:name` form.
pub fn cgroup_name(path: Option<&Path>, id: &str) -> Result<String, RuntimeError> {
    let Some(path) = path else {
        return Ok(id.to_string());
    };
    let text = path.to_string_lossy();
    if text.contains(':') {
        return Err(unsupported(
            "linux.cgroupsPath",
            &format!("{text}: a systemd slice (--systemd-cgroup); nslab manages cgroupfs paths"),
        ));
    }
    let relative = text.trim_start_matches('/');
    match relative.split_once('/') {
        Some((crate::cgroup::group::PARENT, name))
            if !name.is_empty() && !name.contains('/') && name != ".." && name != "." =>
        {
            Ok(name.to_string())
        }
        _ => Err(unsupported(
            "linux.cgroupsPath",
            &format!(
                "{text}: nslab makes cgroups only under /{parent}: use /{parent}/NAME (podman: --cgroup-parent /{parent})",
                parent = crate::cgroup::group::PARENT
            ),
        )),
    }
}

/// `process`: environment, directory, user, rlimits.
fn read_process(process: &oci::Process) -> Result<Process, RuntimeError> {
    for (set, field) in [
        (
            process
                .apparmor_profile()
                .as_deref()
                .is_some_and(|p| !p.is_empty()),
            "process.apparmorProfile",
        ),
        (
            process
                .selinux_label()
                .as_deref()
                .is_some_and(|l| !l.is_empty()),
            "process.selinuxLabel",
        ),
        (process.io_priority().is_some(), "process.ioPriority"),
        (process.scheduler().is_some(), "process.scheduler"),
        (
            process.exec_cpu_affinity().is_some(),
            "process.execCPUAffinity",
        ),
        (process.command_line().is_some(), "process.commandLine"),
        (process.user().username().is_some(), "process.user.username"),
    ] {
        if set {
            return Err(unsupported(field, "not supported by nslab"));
        }
    }
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        return Err(unsupported("process.cwd", "it must be an absolute path"));
    }
    let user = process.user();
    let identity = Identity {
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
    };
    let mut rlimits = Vec::new();
    for limit in process.rlimits().as_deref().unwrap_or_default() {
        rlimits.push(Rlimit {
            resource: rlimit_resource(limit.typ())?,
            soft: limit.soft(),
            hard: limit.hard(),
        });
    }
    Ok(Process {
        env: Some(process.env().clone().unwrap_or_default()),
        cwd: Some(cwd.clone()),
        identity: (identity.uid != 0 || identity.gid != 0 || !identity.additional_gids.is_empty())
            .then_some(identity),
        rlimits,
        umask: process.user().umask(),
        oom_score_adj: process.oom_score_adj(),
        // A size a terminal cannot have (0, or over 65535) is left out.
        console_size: process.console_size().and_then(|size| {
            let rows = u16::try_from(size.height()).ok().filter(|r| *r > 0)?;
            let columns = u16::try_from(size.width()).ok().filter(|c| *c > 0)?;
            Some((rows, columns))
        }),
    })
}

/// `process.capabilities`: each set by name; none at all keeps nothing.
fn read_capabilities(caps: &Option<oci::LinuxCapabilities>) -> Result<Capabilities, RuntimeError> {
    let set =
        |names: &Option<oci::Capabilities>, field: &str| -> Result<CapsHashSet, RuntimeError> {
            let mut out = CapsHashSet::new();
            for cap in names.iter().flatten() {
                // oci-spec serialises a capability as "CAP_NET_ADMIN".
                let name = serde_json::to_value(cap)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                let known = capabilities::by_name(&name).ok_or_else(|| {
                    unsupported(
                        field,
                        &format!("{name}: not a capability this kernel and nslab know"),
                    )
                })?;
                out.insert(known);
            }
            Ok(out)
        };
    let Some(caps) = caps else {
        return Ok(Capabilities::keeping(CapsHashSet::new()));
    };
    Ok(Capabilities {
        bounding: set(caps.bounding(), "process.capabilities.bounding")?,
        effective: set(caps.effective(), "process.capabilities.effective")?,
        permitted: set(caps.permitted(), "process.capabilities.permitted")?,
        inheritable: set(caps.inheritable(), "process.capabilities.inheritable")?,
        ambient: set(caps.ambient(), "process.capabilities.ambient")?,
    })
}

/// `linux.resources`: what lesson 08's limits and lesson 11's device
/// rules can say; anything else is refused by name.
fn read_resources(linux: &oci::Linux) -> Result<Limits, RuntimeError> {
    // The device rules always allow the standard nodes nslab makes, as
    // runc's do (its "AllowedDevices").
    let mut limits = Limits {
        devices: Some(DEFAULT_ALLOWED.to_vec()),
        ..Limits::default()
    };
    let Some(resources) = linux.resources() else {
        return Ok(limits);
    };
    if let Some(memory) = resources.memory() {
        if let Some(limit) = memory.limit() {
            limits.memory = Some(
                u64::try_from(limit)
                    .map_err(|_| unsupported("linux.resources.memory.limit", "negative"))?,
            );
        }
        let swap_same = memory.swap().is_none() || memory.swap() == memory.limit();
        let others = memory.reservation().is_some()
            || memory.kernel().is_some()
            || memory.kernel_tcp().is_some()
            || memory.swappiness().is_some()
            || memory.disable_oom_killer().is_some_and(|d| d)
            || memory.check_before_update().is_some();
        if !swap_same || others {
            return Err(unsupported(
                "linux.resources.memory",
                "nslab sets only limit (and swap equal to it)",
            ));
        }
    }
    if let Some(cpu) = resources.cpu() {
        if let Some(quota) = cpu.quota() {
            if cpu.period().is_some_and(|p| p != CPU_PERIOD_US) {
                return Err(unsupported(
                    "linux.resources.cpu.period",
                    "nslab uses a period of 100000 µs",
                ));
            }
            if quota > 0 {
                limits.cpus = Some(Cpus {
                    quota_us: quota as u64,
                });
            }
        }
        limits.cpu_shares = cpu.shares().filter(|s| *s > 0);
        if cpu.cpus().is_some()
            || cpu.mems().is_some()
            || cpu.realtime_runtime().is_some()
            || cpu.realtime_period().is_some()
            || cpu.idle().is_some()
            || cpu.burst().is_some()
        {
            return Err(unsupported(
                "linux.resources.cpu",
                "nslab sets only quota, period and shares",
            ));
        }
    }
    if let Some(pids) = resources.pids() {
        if pids.limit() > 0 {
            limits.pids = Some(pids.limit() as u64);
        }
    }
    if let Some(block_io) = resources.block_io() {
        limits.io_weight = block_io.weight();
        let set = |list: &Option<Vec<oci::LinuxThrottleDevice>>| {
            list.as_deref().is_some_and(|l| !l.is_empty())
        };
        if block_io.leaf_weight().is_some()
            || block_io
                .weight_device()
                .as_deref()
                .is_some_and(|l| !l.is_empty())
            || set(block_io.throttle_read_bps_device())
            || set(block_io.throttle_write_bps_device())
            || set(block_io.throttle_read_iops_device())
            || set(block_io.throttle_write_iops_device())
        {
            return Err(unsupported(
                "linux.resources.blockIO",
                "nslab sets only weight",
            ));
        }
    }
    for (set, field) in [
        (
            resources
                .hugepage_limits()
                .as_deref()
                .is_some_and(|h| !h.is_empty()),
            "linux.resources.hugepageLimits",
        ),
        (resources.network().is_some(), "linux.resources.network"),
        (resources.rdma().is_some(), "linux.resources.rdma"),
        (
            resources.unified().as_ref().is_some_and(|u| !u.is_empty()),
            "linux.resources.unified",
        ),
    ] {
        if set {
            return Err(unsupported(field, "not supported by nslab"));
        }
    }
    // Device rules: "deny everything" first, then allows, as engines write
    // them; nslab's device cgroup has that shape.
    let rules = resources.devices().as_deref().unwrap_or_default();
    for (index, rule) in rules.iter().enumerate() {
        let deny_all = !rule.allow()
            && matches!(rule.typ(), None | Some(oci::LinuxDeviceType::A))
            && rule.major().is_none()
            && rule.minor().is_none();
        if index == 0 && deny_all {
            continue;
        }
        if !rule.allow() {
            return Err(unsupported(
                "linux.resources.devices",
                "after the first rule (deny all), nslab takes only allow rules",
            ));
        }
        if let Some(devices) = limits.devices.as_mut() {
            devices.push(device_rule(rule)?);
        }
    }
    Ok(limits)
}

/// One allow rule of `linux.resources.devices`.
fn device_rule(rule: &oci::LinuxDeviceCgroup) -> Result<DeviceRule, RuntimeError> {
    let kind = match rule.typ() {
        None | Some(oci::LinuxDeviceType::A) => DeviceKind::All,
        Some(oci::LinuxDeviceType::B) => DeviceKind::Block,
        Some(oci::LinuxDeviceType::C | oci::LinuxDeviceType::U) => DeviceKind::Char,
        Some(other) => {
            return Err(unsupported(
                "linux.resources.devices[].type",
                &format!("{other:?}"),
            ))
        }
    };
    let number = |n: Option<i64>| n.filter(|n| *n >= 0).map(|n| n as u32);
    let mut access = Access::NONE;
    for c in rule.access().as_deref().unwrap_or("rwm").chars() {
        access = access.union(match c {
            'r' => Access::READ,
            'w' => Access::WRITE,
            'm' => Access::MKNOD,
            other => {
                return Err(unsupported(
                    "linux.resources.devices[].access",
                    &format!("{other:?}: use r, w and m"),
                ))
            }
        });
    }
    Ok(DeviceRule {
        kind,
        major: number(rule.major()),
        minor: number(rule.minor()),
        access,
    })
}

/// A `linux.namespaces[].type` as nslab's namespace kind.
fn namespace_kind(kind: oci::LinuxNamespaceType) -> Result<Namespace, RuntimeError> {
    Ok(match kind {
        oci::LinuxNamespaceType::Mount => Namespace::Mnt,
        oci::LinuxNamespaceType::Cgroup => Namespace::Cgroup,
        oci::LinuxNamespaceType::Uts => Namespace::Uts,
        oci::LinuxNamespaceType::Ipc => Namespace::Ipc,
        oci::LinuxNamespaceType::User => Namespace::User,
        oci::LinuxNamespaceType::Pid => Namespace::Pid,
        oci::LinuxNamespaceType::Network => Namespace::Net,
        other => {
            return Err(unsupported(
                "linux.namespaces[].type",
                &format!("{other}: not supported by nslab"),
            ))
        }
    })
}

/// A `process.rlimits[].type` as setrlimit(2)'s resource.
fn rlimit_resource(
    kind: oci::PosixRlimitType,
) -> Result<nix::sys::resource::Resource, RuntimeError> {
    use nix::sys::resource::Resource as R;
    use oci::PosixRlimitType as T;
    Ok(match kind {
        T::RlimitCpu => R::RLIMIT_CPU,
        T::RlimitFsize => R::RLIMIT_FSIZE,
        T::RlimitData => R::RLIMIT_DATA,
        T::RlimitStack => R::RLIMIT_STACK,
        T::RlimitCore => R::RLIMIT_CORE,
        T::RlimitRss => R::RLIMIT_RSS,
        T::RlimitNproc => R::RLIMIT_NPROC,
        T::RlimitNofile => R::RLIMIT_NOFILE,
        T::RlimitMemlock => R::RLIMIT_MEMLOCK,
        T::RlimitAs => R::RLIMIT_AS,
        T::RlimitLocks => R::RLIMIT_LOCKS,
        T::RlimitSigpending => R::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => R::RLIMIT_MSGQUEUE,
        T::RlimitNice => R::RLIMIT_NICE,
        T::RlimitRtprio => R::RLIMIT_RTPRIO,
        T::RlimitRttime => R::RLIMIT_RTTIME,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_path_must_be_under_nslabs_parent() {
        assert_eq!(cgroup_name(None, "web").unwrap(), "web");
        assert_eq!(
            cgroup_name(Some(Path::new("/nslab/db")), "web").unwrap(),
            "db"
        );
        assert_eq!(
            cgroup_name(Some(Path::new("nslab/db")), "web").unwrap(),
            "db"
        );
        for refused in [
            "/libpod_parent/libpod-x",
            "/nslab/a/b",
            "/nslab/..",
            "machine.slice:libpod:x",
        ] {
            let error = cgroup_name(Some(Path::new(refused)), "web").unwrap_err();
            assert!(
                error.to_string().contains("linux.cgroupsPath"),
                "{refused}: {error}"
            );
        }
    }

    #[test]
    fn fields_of_other_platforms_and_unsupported_process_fields_are_named() {
        let bundle = std::env::temp_dir().join(format!("nslab-fields-test-{}", std::process::id()));
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        let mut config = serde_json::to_value(default_config()).unwrap();
        config["process"]["commandLine"] = "cmd.exe".into();
        let with_line: oci::Spec = serde_json::from_value(config.clone()).unwrap();
        let error = to_spec(&with_line, &bundle, "t1").unwrap_err().to_string();
        assert!(error.contains("process.commandLine"), "{error}");
        config["process"]
            .as_object_mut()
            .unwrap()
            .remove("commandLine");
        config["windows"] = serde_json::json!({"layerFolders": []});
        let windows: oci::Spec = serde_json::from_value(config).unwrap();
        let error = to_spec(&windows, &bundle, "t1").unwrap_err().to_string();
        assert!(error.contains("windows"), "{error}");
        let mut config = serde_json::to_value(default_config()).unwrap();
        config["mounts"][0]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        let idmapped: oci::Spec = serde_json::from_value(config).unwrap();
        let error = to_spec(&idmapped, &bundle, "t1").unwrap_err().to_string();
        assert!(error.contains("mounts[].uidMappings"), "{error}");
        let _ = std::fs::remove_dir_all(&bundle);
    }

    #[test]
    fn a_console_size_is_read_and_an_impossible_one_left_out() {
        let bundle =
            std::env::temp_dir().join(format!("nslab-console-test-{}", std::process::id()));
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        let with = |height: u64, width: u64| {
            let mut config = default_config();
            let size = oci::BoxBuilder::default()
                .height(height)
                .width(width)
                .build()
                .unwrap();
            config
                .process_mut()
                .as_mut()
                .unwrap()
                .set_console_size(Some(size));
            to_spec(&config, &bundle, "t1")
                .unwrap()
                .process
                .console_size
        };
        assert_eq!(with(40, 120), Some((40, 120)));
        assert_eq!(with(0, 120), None);
        assert_eq!(with(70_000, 120), None);
        let _ = std::fs::remove_dir_all(&bundle);
    }

    #[test]
    fn the_seccomp_annotation_asks_for_lesson_11s_filter() {
        let bundle =
            std::env::temp_dir().join(format!("nslab-seccomp-test-{}", std::process::id()));
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        let with = |value: Option<&str>| {
            let mut config = default_config();
            config.set_annotations(value.map(|v| {
                [(
                    crate::lockdown::seccomp::ANNOTATION.to_string(),
                    v.to_string(),
                )]
                .into()
            }));
            to_spec(&config, &bundle, "t1")
        };
        let seccomp = |spec: Spec| spec.lockdown.map(|l| l.seccomp);
        assert_eq!(seccomp(with(None).unwrap()), Some(false));
        assert_eq!(seccomp(with(Some("default")).unwrap()), Some(true));
        assert_eq!(seccomp(with(Some("unconfined")).unwrap()), Some(false));
        let error = with(Some("strict")).unwrap_err().to_string();
        assert!(error.contains("org.nslab.seccomp"), "{error}");
        let _ = std::fs::remove_dir_all(&bundle);
    }

    #[test]
    fn the_default_config_converts_and_unknown_fields_are_named() {
        let bundle = std::env::temp_dir().join(format!("nslab-config-test-{}", std::process::id()));
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        let config = default_config();
        let spec = to_spec(&config, &bundle, "t1").unwrap();
        assert!(spec.namespaces.contains(&Namespace::Mnt));
        assert!(spec.readonly_root);
        assert_eq!(spec.cgroup_name.as_deref(), Some("t1"));
        assert_eq!(spec.command, ["sh"]);
        let mut with_hooks = config.clone();
        let hook: oci::Hook = serde_json::from_str(r#"{"path": "bin/true"}"#).unwrap();
        let mut hooks = oci::Hooks::default();
        hooks.set_create_container(Some(vec![hook]));
        with_hooks.set_hooks(Some(hooks));
        let error = to_spec(&with_hooks, &bundle, "t1").unwrap_err();
        assert!(
            error.to_string().contains("hooks.createContainer[0].path")
                && error.to_string().contains("must be absolute"),
            "{error}"
        );
        // Ids maps without a user namespace say nothing: refused.
        let mut maps = config.clone();
        if let Some(linux) = maps.linux_mut() {
            let map: oci::LinuxIdMapping =
                serde_json::from_str(r#"{"containerID": 0, "hostID": 100000, "size": 1}"#).unwrap();
            linux.set_uid_mappings(Some(vec![map]));
        }
        let error = to_spec(&maps, &bundle, "t1").unwrap_err();
        assert!(error.to_string().contains("uidMappings"), "{error}");
        // A throttle nslab does not set is refused, not dropped.
        let mut throttle = config;
        let resources: oci::LinuxResources = serde_json::from_str(
            r#"{"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]}}"#,
        )
        .unwrap();
        if let Some(linux) = throttle.linux_mut() {
            linux.set_resources(Some(resources));
        }
        let error = to_spec(&throttle, &bundle, "t1").unwrap_err();
        assert!(error.to_string().contains("blockIO"), "{error}");
        std::fs::remove_dir_all(&bundle).unwrap();
    }

    #[test]
    fn the_init_annotation_asks_for_a_tiny_init() {
        let bundle = std::env::temp_dir().join(format!("nslab-init-test-{}", std::process::id()));
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        let with = |value: Option<&str>| {
            let mut config = default_config();
            config.set_annotations(
                value.map(|v| [(crate::tiny_init::ANNOTATION.to_string(), v.to_string())].into()),
            );
            to_spec(&config, &bundle, "t1")
        };
        assert!(!with(None).unwrap().tiny_init, "off without the annotation");
        assert!(!with(Some("false")).unwrap().tiny_init);
        assert!(with(Some("true")).unwrap().tiny_init);
        let error = with(Some("yes")).unwrap_err().to_string();
        assert!(
            error.contains("org.nslab.init") && error.contains("\"true\""),
            "{error}"
        );
        // Without a PID namespace of its own, the init would not be PID 1.
        let mut shared_pid = default_config();
        shared_pid.set_annotations(Some(
            [(crate::tiny_init::ANNOTATION.to_string(), "true".to_string())].into(),
        ));
        if let Some(linux) = shared_pid.linux_mut() {
            let kept: Vec<oci::LinuxNamespace> = linux
                .namespaces()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n.typ() != oci::LinuxNamespaceType::Pid)
                .collect();
            linux.set_namespaces(Some(kept));
        }
        let error = to_spec(&shared_pid, &bundle, "t1").unwrap_err().to_string();
        assert!(error.contains("needs a new pid namespace"), "{error}");
        std::fs::remove_dir_all(&bundle).unwrap();
    }
}
