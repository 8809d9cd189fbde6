//! The container, described once: what a container gets, as plain data.
//!
//! A [`Spec`] says which namespaces the container is born into, which root
//! filesystem it gets and how it enters it, what is mounted inside, what it
//! is called, and what it runs. Each facility is one field, and each is
//! optional: lesson 00's spec is just a command; lesson 05's fills in five
//! fields. Lessons build a spec from their flags; the runtime will build
//! the same struct from an OCI `config.json`. Either way
//! [`crate::start::run`] starts it, so the way a container is assembled is
//! written once.
//!
//! This is the shape of youki's `ContainerBuilder` and of runc's
//! `configs.Config`: a description, checked, then handed to one start
//! sequence.

use crate::cgroup::limits::Limits;
use crate::lockdown::Lockdown;
use crate::namespace::Namespace;
use crate::net::Network;
use crate::overlay::Overlay;
use crate::user::IdMaps;
use crate::uts::Names;
use std::path::PathBuf;

// ANCHOR: spec
/// What a container gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spec {
    /// The namespaces the child is cloned into; the others it shares with
    /// the host.
    pub namespaces: Vec<Namespace>,
    /// Its root filesystem and how it enters it; `None` keeps the host's `/`.
    pub root: Option<Root>,
    /// File systems mounted inside, in this order, after the root is
    /// entered (they need [`Enter::Pivot`]).
    pub mounts: Vec<Mount>,
    /// Its hostname and domainname (they need a UTS namespace).
    pub names: Option<Names>,
    /// Its uid and gid maps (lesson 07): with them, root inside is an
    /// ordinary user outside. They need a user namespace.
    pub user: Option<IdMaps>,
    /// What it may use (lesson 08): a cgroup of its own with these limits,
    /// joined before the child goes on. With [`Namespace::Cgroup`] in
    /// `namespaces`, it also gets a cgroup namespace rooted there.
    pub limits: Option<Limits>,
    /// Its root as a stack of layers (lesson 09): the overlay is mounted
    /// on `root`'s path, in the child's own mount namespace, before it
    /// pivots there.
    pub overlay: Option<Overlay>,
    /// A directory to fill with its init layer (lesson 10): `/etc/hostname`,
    /// `/etc/hosts` and `/etc/resolv.conf` made for it, once its address
    /// is known. The overlay lists it among its lower layers.
    pub init_layer: Option<PathBuf>,
    /// Its network (lesson 06); `None` leaves it in the host's, unsaid.
    pub network: Option<Network>,
    /// A name other containers can find it by (`--net container:NAME`);
    /// recorded under `run_dir` while it runs.
    pub name: Option<String>,
    /// Where running containers are recorded and network addresses leased
    /// (`/run/nslab`): state that must not outlive a reboot. Needed by a
    /// name and by the network modes that use either.
    pub run_dir: Option<PathBuf>,
    /// What root inside loses (lesson 11): capabilities, system calls,
    /// paths; the device rules are part of `limits`. Needs a root entered
    /// with pivot_root (it masks paths of the container's own `/proc`).
    pub lockdown: Option<Lockdown>,
    /// The command to run, `argv[0]` first, looked up in the container.
    pub command: Vec<String>,
    /// How the command runs: environment, directory, user, rlimits (the
    /// runtime's `process`; the lessons keep the defaults).
    pub process: Process,
    /// Namespaces joined instead of made, by a path such as
    /// `/proc/PID/ns/net` (the runtime's `linux.namespaces[].path`).
    pub join: Vec<(Namespace, PathBuf)>,
    /// A connected unix socket to send a new terminal's master over: the
    /// command gets a new pty as its terminal (the runtime's
    /// `process.terminal` with `--console-socket`).
    pub console: Option<std::os::fd::RawFd>,
    /// Device nodes to make after the mounts (the runtime's `linux.devices`).
    pub devices: Vec<DeviceNode>,
    /// The propagation of the container's mounts after setup (the
    /// runtime's `linux.rootfsPropagation`); `None` leaves them private.
    pub root_propagation: Option<nix::mount::MsFlags>,
    /// Remount the root read-only once everything is mounted.
    pub readonly_root: bool,
    /// The name of its cgroup under `nslab/` (`limits` makes one): the
    /// runtime's container id; `None` for the lesson's pid, so that `nslab
    /// cleanup` finds a killed lesson's.
    pub cgroup_name: Option<String>,
    /// Kernel settings of the container's own namespaces to write, by
    /// their `/proc/sys` name (`net.ipv4.ip_forward`).
    pub sysctl: Vec<(String, String)>,
    /// A tiny init as PID 1 (`--init`, the runtime's `org.nslab.init`
    /// annotation): the start sequence forks where it would execve, the
    /// child runs the command, and the parent stays as PID 1, reaping
    /// orphans and forwarding signals ([`crate::tiny_init`]). Needs a new
    /// PID namespace.
    pub tiny_init: bool,
}
// ANCHOR_END: spec

/// How the command runs. The default is the lessons': the environment
/// `PATH`, `HOME` and `TERM`, the directory `/`, root, no rlimits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Process {
    /// Its environment, `NAME=value`; `None` for the lessons' default.
    pub env: Option<Vec<String>>,
    /// Its working directory inside; `None` for `/`.
    pub cwd: Option<PathBuf>,
    /// Its user and groups inside; `None` for root.
    pub identity: Option<Identity>,
    /// Resource limits, set with setrlimit(2) before `execve`.
    pub rlimits: Vec<Rlimit>,
    /// The file mode creation mask (umask(2)); `None` keeps the parent's.
    pub umask: Option<u32>,
    /// Its OOM killer adjustment, -1000 to 1000 (`/proc/PID/oom_score_adj`).
    pub oom_score_adj: Option<i32>,
    /// The size of a new terminal (`process.consoleSize`): rows and
    /// columns, given to it before the program can ask.
    pub console_size: Option<(u16, u16)>,
}

/// A device node to make in the container's `/dev` (the runtime's
/// `linux.devices`), beside the standard ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Where inside (absolute, under `/dev`).
    pub path: PathBuf,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub kind: nix::sys::stat::SFlag,
    /// Its major number.
    pub major: u64,
    /// Its minor number.
    pub minor: u64,
    /// Its permission bits.
    pub mode: u32,
    /// Its owner.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
}

/// A user and its groups, as numbers inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The uid.
    pub uid: u32,
    /// The primary gid.
    pub gid: u32,
    /// Supplementary gids (setgroups(2)).
    pub additional_gids: Vec<u32>,
}

/// One resource limit (getrlimit(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// Which resource.
    pub resource: nix::sys::resource::Resource,
    /// The soft limit.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// A root filesystem and the way into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The directory, as the host names it (absolute).
    pub path: PathBuf,
    /// How the child makes it its `/`.
    pub enter: Enter,
}

/// How the child makes a directory its `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enter {
    /// chroot(2): only the process's idea of `/` changes (lessons 01–02).
    Chroot,
    /// pivot_root(2) in a mount namespace, the host's tree unmounted
    /// (lesson 03 on).
    Pivot {
        /// Make every mount private first. Only lesson 03's `--no-private`
        /// demo sets this to false, to show why it matters.
        make_private: bool,
    },
}

impl Root {
    /// `path`, entered with chroot(2).
    pub fn chroot(path: PathBuf) -> Root {
        Root {
            path,
            enter: Enter::Chroot,
        }
    }

    /// `path`, entered with pivot_root(2) after making every mount private.
    pub fn pivot(path: PathBuf) -> Root {
        Root {
            path,
            enter: Enter::Pivot { make_private: true },
        }
    }
}

/// A file system the container gets inside its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A procfs of the container's PID namespace on `/proc`.
    Proc,
    /// A tmpfs `/dev` with a few device nodes, devpts, shm, the console.
    Dev,
    /// A read-only sysfs on `/sys`.
    Sys,
    /// A tmpfs on `/tmp`.
    Tmp,
    /// An mqueue file system of the container's IPC namespace on `/dev/mqueue`.
    Mqueue,
    /// Any mount a config.json asks for (the runtime).
    Generic(crate::mount::generic::Generic),
    /// A host directory shown inside (docker's `--volume`): `source` on
    /// the host, bound at `target` inside (both absolute).
    Bind {
        /// The host's directory.
        source: PathBuf,
        /// Where it appears inside.
        target: PathBuf,
        /// Read-only inside (`--volume HOST:CTR:ro`).
        read_only: bool,
    },
}

impl Mount {
    /// What every container from lesson 03 on gets, in the order they are
    /// mounted: `/proc` first, as `/dev`'s symlinks and console point into it.
    pub const STANDARD: [Mount; 4] = [Mount::Proc, Mount::Dev, Mount::Sys, Mount::Tmp];

    /// The namespace without which this mount would show the host's
    /// objects instead of the container's.
    pub fn needs(&self) -> Option<Namespace> {
        match self {
            Mount::Proc => Some(Namespace::Pid),
            Mount::Mqueue => Some(Namespace::Ipc),
            Mount::Dev | Mount::Sys | Mount::Tmp | Mount::Bind { .. } | Mount::Generic(_) => None,
        }
    }
}

/// A spec that asks for something it cannot have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// No command.
    #[error("the spec has no command to run")]
    NoCommand,
    /// A facility asked for without the namespace it works in.
    #[error("{what} needs a new {} (see {}), and the spec does not ask for one", needed.label(), needed.man_page())]
    MissingNamespace {
        /// What asked for it.
        what: String,
        /// The namespace it needs.
        needed: Namespace,
    },
    /// Mounts asked for without pivot_root: they would land on the host.
    #[error("mounts inside the container need a root entered with pivot_root")]
    MountsWithoutPivot,
    /// The same namespace twice.
    #[error("the {} is listed twice", .0.label())]
    DuplicateNamespace(Namespace),
    /// A network mode that keeps or joins an existing network namespace,
    /// with a new one asked for too, or the other way round.
    #[error("--net {network} {} a new network namespace", if *.wants { "needs" } else { "cannot have" })]
    NetworkNamespace {
        /// The mode.
        network: Network,
        /// Whether it needs one.
        wants: bool,
    },
    /// A user namespace without maps, maps without a user namespace, or
    /// maps that give root inside no id outside.
    #[error("{0}")]
    IdMaps(String),
    /// A cgroup namespace without a cgroup of the container's own to root
    /// it at: it would be rooted at the lesson's, and show nothing new.
    #[error("a cgroup namespace needs a cgroup of the container's own (limits)")]
    CgroupNamespaceWithoutCgroup,
    /// A name or a network mode that needs the run directory, without one.
    #[error("{what} needs a run directory, and the spec has none")]
    NoRunDir {
        /// What needs it.
        what: String,
    },
}

/// Whether a container in a new user namespace can have `network`: not
/// the host's nor another container's, whose network namespaces another
/// user namespace owns, so that root inside could neither join them
/// (setns(2)) nor mount the `/sys` that shows them.
pub fn check_user_network(network: &Network) -> Result<(), SpecError> {
    match network {
        Network::Host | Network::Container(_) => Err(SpecError::IdMaps(format!(
            "--net {network} cannot go with a user namespace: its network namespace is owned \
             by another user namespace, so root inside could neither join it (setns) nor mount \
             the /sys that shows it; use --net none or bridge"
        ))),
        Network::None | Network::Bridge => Ok(()),
    }
}

/// The reason an id map was refused, for [`SpecError::IdMaps`].
fn error_reason(error: &crate::user::UserError) -> String {
    match error {
        crate::user::UserError::InvalidMap { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

impl SpecError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            SpecError::MissingNamespace { needed, .. } => {
                Some(format!("add {:?} to the spec's namespaces", needed))
            }
            _ => None,
        }
    }
}

impl Spec {
    /// Checks that the spec asks only for what it can have, before
    /// anything is created.
    pub fn check(&self) -> Result<(), SpecError> {
        if self.command.is_empty() {
            return Err(SpecError::NoCommand);
        }
        for (i, kind) in self.namespaces.iter().enumerate() {
            if self.namespaces[..i].contains(kind) {
                return Err(SpecError::DuplicateNamespace(*kind));
            }
        }
        let needs = |what: String, needed: Namespace| {
            // A namespace joined by path counts as the container's own.
            let joined = self.join.iter().any(|(kind, _)| *kind == needed);
            if self.namespaces.contains(&needed) || joined {
                Ok(())
            } else {
                Err(SpecError::MissingNamespace { what, needed })
            }
        };
        if let Some(Root {
            enter: Enter::Pivot { .. },
            ..
        }) = &self.root
        {
            needs("pivot_root".into(), Namespace::Mnt)?;
        } else if !self.mounts.is_empty() {
            return Err(SpecError::MountsWithoutPivot);
        }
        for mount in &self.mounts {
            if let Some(needed) = mount.needs() {
                needs(format!("the {mount:?} mount"), needed)?;
            }
        }
        if self.names.is_some() {
            needs("a hostname".into(), Namespace::Uts)?;
        }
        // A new one: in a joined or the host's, the init would not be PID 1.
        if self.tiny_init && !self.namespaces.contains(&Namespace::Pid) {
            return Err(SpecError::MissingNamespace {
                what: "a tiny init (--init)".into(),
                needed: Namespace::Pid,
            });
        }
        if let Some(network) = &self.network {
            let wants = network.creates_namespace();
            if wants != self.namespaces.contains(&Namespace::Net) {
                return Err(SpecError::NetworkNamespace {
                    network: network.clone(),
                    wants,
                });
            }
            if matches!(network, Network::Bridge | Network::Container(_)) && self.run_dir.is_none()
            {
                return Err(SpecError::NoRunDir {
                    what: format!("--net {network}"),
                });
            }
        }
        match (&self.user, self.namespaces.contains(&Namespace::User)) {
            (Some(maps), true) => maps
                .check()
                .map_err(|e| SpecError::IdMaps(format!("{e}: {}", error_reason(&e))))?,
            (Some(_), false) => {
                return Err(SpecError::IdMaps("id maps need a user namespace".into()))
            }
            (None, true) => {
                return Err(SpecError::IdMaps(
                    "a user namespace needs id maps, or every id inside is nobody".into(),
                ))
            }
            (None, false) => {}
        }
        if (self.overlay.is_some() || self.lockdown.is_some())
            && !matches!(
                &self.root,
                Some(Root {
                    enter: Enter::Pivot { .. },
                    ..
                })
            )
        {
            return Err(SpecError::MountsWithoutPivot);
        }
        if self.namespaces.contains(&Namespace::Cgroup) && self.limits.is_none() {
            return Err(SpecError::CgroupNamespaceWithoutCgroup);
        }
        if let (Some(_), Some(network)) = (&self.user, &self.network) {
            check_user_network(network)?;
        }
        if self.name.is_some() && self.run_dir.is_none() {
            return Err(SpecError::NoRunDir {
                what: "a container name".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> Vec<String> {
        vec!["sh".into()]
    }

    #[test]
    fn a_bare_command_is_a_spec() {
        let spec = Spec {
            command: command(),
            ..Spec::default()
        };
        assert_eq!(spec.check(), Ok(()));
        assert_eq!(Spec::default().check(), Err(SpecError::NoCommand));
    }

    #[test]
    fn each_facility_needs_its_namespace() {
        let mut spec = Spec {
            namespaces: vec![Namespace::Pid],
            root: Some(Root::pivot("/r".into())),
            command: command(),
            ..Spec::default()
        };
        assert!(matches!(
            spec.check(),
            Err(SpecError::MissingNamespace {
                needed: Namespace::Mnt,
                ..
            })
        ));
        spec.namespaces.push(Namespace::Mnt);
        spec.mounts = vec![Mount::Proc, Mount::Mqueue];
        assert!(matches!(
            spec.check(),
            Err(SpecError::MissingNamespace {
                needed: Namespace::Ipc,
                ..
            })
        ));
        spec.namespaces.push(Namespace::Ipc);
        assert_eq!(spec.check(), Ok(()));
        spec.names = Some(Names {
            hostname: "lab".into(),
            domainname: None,
        });
        assert!(matches!(
            spec.check(),
            Err(SpecError::MissingNamespace {
                needed: Namespace::Uts,
                ..
            })
        ));
    }

    #[test]
    fn mounts_without_pivot_root_are_refused() {
        let spec = Spec {
            root: Some(Root::chroot("/r".into())),
            mounts: vec![Mount::Tmp],
            command: command(),
            ..Spec::default()
        };
        assert_eq!(spec.check(), Err(SpecError::MountsWithoutPivot));
    }

    #[test]
    fn a_network_mode_decides_the_network_namespace() {
        let mut spec = Spec {
            network: Some(Network::Bridge),
            run_dir: Some("/run/nslab".into()),
            command: command(),
            ..Spec::default()
        };
        assert!(matches!(
            spec.check(),
            Err(SpecError::NetworkNamespace { wants: true, .. })
        ));
        spec.namespaces.push(Namespace::Net);
        assert_eq!(spec.check(), Ok(()));
        spec.network = Some(Network::Host);
        assert!(matches!(
            spec.check(),
            Err(SpecError::NetworkNamespace { wants: false, .. })
        ));
        spec.namespaces.clear();
        spec.network = Some(Network::Container("web".into()));
        assert_eq!(spec.check(), Ok(()));
        spec.run_dir = None;
        assert!(matches!(spec.check(), Err(SpecError::NoRunDir { .. })));
    }

    #[test]
    fn a_namespace_listed_twice_is_refused() {
        let spec = Spec {
            namespaces: vec![Namespace::Pid, Namespace::Pid],
            command: command(),
            ..Spec::default()
        };
        assert_eq!(
            spec.check(),
            Err(SpecError::DuplicateNamespace(Namespace::Pid))
        );
    }
}
