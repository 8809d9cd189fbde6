//! The start sequence: one ordered list of steps that turns a [`Spec`] into
//! a running container. Every lesson runs it; so will the runtime.
//!
//! Two processes take part. The **parent** (the lesson, or the runtime)
//! spawns the child into its new namespaces, where it waits at a gate; the
//! parent looks at it from outside (and, in later lessons, writes its id
//! maps, places it in cgroups, plugs in its network), then opens the gate
//! and waits for it. The **child** sets itself up inside, in the order the
//! kernel requires, and ends by exec'ing the command.
//!
//! ```text
//! parent                                   child
//! ──────                                   ─────
//! clone(CLONE_NEW…)  ───────────────────►  prctl(PR_SET_PDEATHSIG)
//! observe from the host                    wait at the gate …
//! write(gate)  ─────────────────────────►  make mounts private
//!                                          pivot_root, mount /proc /dev …
//!                                          unmount the old root
//!                                          sethostname
//!                                          reset signals, close fds
//! waitpid  ◄─── exit status ────────────── execve(command)
//!          ◄─── or an error, by pipe ───── (if a step failed)
//! ```
//!
//! Each facility module contributes its step; the sequence runs a step
//! only when the spec asks for it.

use crate::cgroup::group::{Cgroup, Hierarchy, Usage};
use crate::namespace::Namespace;
use crate::process::{self, Child, Exit};
use crate::spec::{Enter, Mount, Root, Spec};
use crate::{cgroup, chroot, init_layer, ipc, lockdown, mount, net, record, user, uts, Error};
use nix::unistd::Pid;
use std::convert::Infallible;
use std::path::Path;

/// A look at the child from the host, given its pid as the host sees it.
pub type FromHost<'a> = Box<dyn FnMut(Pid) -> Result<(), Error> + 'a>;

/// What a lesson adds to the start sequence: looking at the child from the
/// host while it waits at the gate, and demonstrations inside the container
/// just before `execve`. The runtime adds nothing.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Runs in the parent while the child waits at its gate.
    pub from_host: Option<FromHost<'a>>,
    /// Runs in the child after its setup, just before `execve`.
    pub inside: Option<Box<dyn Fn() -> Result<(), Error> + 'a>>,
}

/// What runs in the child besides the spec's own steps, and how it relates
/// to its parent: for [`create`].
#[derive(Default, Clone, Copy)]
pub struct InChild<'a> {
    /// Runs after the setup, before the lockdown's last steps.
    pub inside: Option<&'a (dyn Fn() -> Result<(), Error> + 'a)>,
    /// Runs last before the seccomp filter and `execve`: the runtime's init
    /// says it is ready here and waits for `nslab start`.
    pub before_exec: Option<&'a (dyn Fn() -> Result<(), Error> + 'a)>,
    /// The container outlives its parent (the runtime's `create`): no
    /// death signal.
    pub detached: bool,
}

/// Starts the container `spec` describes, lets it run, and returns how it
/// ended: [`create`], the hooks, [`Container::release`], [`Container::wait`].
// ANCHOR: run
pub fn run(spec: &Spec, hooks: Hooks) -> Result<Exit, Error> {
    run_measured(spec, hooks).map(|(exit, _)| exit)
}
// ANCHOR_END: run

/// [`run`], returning also what the container used, from its cgroup's
/// counters, read after it ended and before the cgroup is removed (lesson
/// 08 on; `None` without a cgroup).
pub fn run_measured(spec: &Spec, mut hooks: Hooks) -> Result<(Exit, Option<Usage>), Error> {
    let inside = hooks.inside.take();
    let in_child = InChild {
        inside: inside.as_deref(),
        ..InChild::default()
    };
    let mut container = create(spec, in_child)?;
    if let Some(from_host) = hooks.from_host.as_mut() {
        if let Err(error) = from_host(container.pid()) {
            container.abandon();
            return Err(error);
        }
    }
    // The id maps, the cgroup and the network were set up in `create`,
    // while the child waited at the gate.
    container.release();
    container.wait_measured()
}

/// A container made by [`create`]: its child at the gate, and what the
/// parent set up for it on the host, undone when it ends.
pub struct Container {
    child: Child,
    /// Its cgroup; dropping it kills what is left in it and removes it.
    cgroup: Option<Cgroup>,
    /// Its name's record, removed when this is dropped.
    record: Option<record::Claim>,
    /// Its network; dropping it unplugs a bridge container.
    network: Option<net::Prepared>,
}

impl Container {
    /// The child's PID, as the host numbers it.
    pub fn pid(&self) -> Pid {
        self.child.pid()
    }

    /// Lets the child go on: see [`Child::release`].
    pub fn release(&mut self) {
        self.child.release();
    }

    /// Waits for the container to end, then undoes what the parent set up
    /// for it on the host: the network first, then the name's record.
    pub fn wait(self) -> Result<Exit, Error> {
        self.wait_measured().map(|(exit, _)| exit)
    }

    /// [`Container::wait`], returning also the cgroup's counters, read
    /// after the container ended and before its cgroup is removed.
    pub fn wait_measured(self) -> Result<(Exit, Option<Usage>), Error> {
        let Container {
            child,
            cgroup,
            record,
            network,
        } = self;
        let exit = child.wait();
        let usage = cgroup.as_ref().map(Cgroup::usage);
        drop(cgroup);
        drop(network);
        drop(record);
        Ok((exit?, usage))
    }

    /// Its cgroup's directories (none without limits).
    pub fn cgroup_dirs(&self) -> Vec<std::path::PathBuf> {
        self.cgroup
            .as_ref()
            .map(|cgroup| cgroup.dirs().to_vec())
            .unwrap_or_default()
    }

    /// Waits until the container's init is set up and waiting (see
    /// [`InChild::before_exec`]), or returns the error it met on the way.
    pub fn wait_ready(&mut self) -> Result<(), Error> {
        self.child.wait_ready()
    }

    /// Leaves the container running on its own, for the runtime: the
    /// parent forgets it without undoing anything; its cgroup stays, to be
    /// removed by `nslab delete`. Returns its pid and its cgroup's
    /// directories. A container with a bridge or a name cannot be
    /// detached: nothing would unplug or unname it.
    pub fn detach(self) -> (Pid, Vec<std::path::PathBuf>) {
        let Container {
            child,
            cgroup,
            record,
            network,
        } = self;
        debug_assert!(record.is_none() && network.is_none());
        let dirs = cgroup.map(Cgroup::keep).unwrap_or_default();
        (child.detach(), dirs)
    }

    /// Gives up on the container before it was released (a parent step
    /// failed): the child exits at its gate; then the host side is undone.
    pub fn abandon(self) {
        let Container {
            child,
            cgroup,
            record,
            network,
        } = self;
        child.abandon();
        drop(cgroup);
        drop(network);
        drop(record);
    }
}

/// The parent's first steps: checks the spec, claims the container's name,
/// prepares its network, spawns the child into its new namespaces (where it
/// waits at the gate until [`Container::release`]), and plugs the network
/// in from the host.
// ANCHOR: create
pub fn create(spec: &Spec, in_child: InChild<'_>) -> Result<Container, Error> {
    spec.check()?;
    let run_dir = spec.run_dir.as_deref();
    // Claimed first: two containers cannot both take a name.
    let record = match (&spec.name, run_dir) {
        (Some(name), Some(run_dir)) => Some(record::claim(run_dir, name)?),
        _ => None,
    };
    let network = match (&spec.network, run_dir) {
        (Some(network), Some(run_dir)) => Some(net::prepare(network, run_dir)?),
        (Some(network), None) => Some(net::prepare(network, Path::new(record::DEFAULT_RUN_DIR))?),
        (None, _) => None,
    };
    // The init layer, once the network has given the container an address.
    if let Some(dir) = &spec.init_layer {
        let name = spec
            .names
            .as_ref()
            .map_or(crate::uts::DEFAULT_HOSTNAME, |names| {
                names.hostname.as_str()
            });
        let address = network.as_ref().and_then(net::Prepared::address);
        init_layer::write(dir, name, address)?;
    }
    // A cgroup namespace is made by the child itself, once it is in its
    // cgroup (see `cgroup::enter_namespace`), not at clone time.
    let clone_namespaces: Vec<Namespace> = spec
        .namespaces
        .iter()
        .copied()
        .filter(|kind| *kind != Namespace::Cgroup)
        .collect();
    // A PID namespace joined by path is joined here, by the parent:
    // setns(2) with CLONE_NEWPID moves only the children made afterwards
    // (pid_namespaces(7)), and the child is the next one.
    for (kind, path) in spec.join.iter().filter(|(kind, _)| *kind == Namespace::Pid) {
        crate::namespace::join(*kind, path)?;
    }
    let child = process::spawn(&clone_namespaces, in_child.detached, || {
        child_steps(spec, network.as_ref(), in_child)
    })?;
    let mut container = Container {
        child,
        cgroup: None,
        record,
        network,
    };
    // While the child waits at the gate: its id maps first (it can do
    // nothing as nobody), then its cgroup, so that nothing of the
    // container ever runs unlimited, then the host's end of its network.
    if let Some(maps) = &spec.user {
        let privileged = nix::unistd::geteuid().is_root();
        if let Err(error) = user::write_maps(container.child.pid(), maps, privileged) {
            container.abandon();
            return Err(error.into());
        }
    }
    if let Some(limits) = &spec.limits {
        // Named after the lesson: `nslab cleanup` finds a killed run's.
        let id = spec
            .cgroup_name
            .clone()
            .unwrap_or_else(|| std::process::id().to_string());
        let joined = Hierarchy::detect()
            .and_then(|hierarchy| Cgroup::create(&hierarchy, &id, limits))
            .and_then(|cgroup| {
                cgroup.add(container.child.pid())?;
                Ok(cgroup)
            });
        match joined {
            Ok(cgroup) => container.cgroup = Some(cgroup),
            Err(error) => {
                container.abandon();
                return Err(error.into());
            }
        }
    }
    let plugged = match container.network.as_mut() {
        Some(network) => network.plug_in(container.child.pid()),
        None => Ok(()),
    };
    if let Err(error) = plugged {
        container.abandon();
        return Err(error.into());
    }
    let pid = container.pid();
    if let Some(record) = container.record.as_mut() {
        if let Err(error) = record.set_container(pid.as_raw(), namespace_ids(pid)) {
            container.abandon();
            return Err(error.into());
        }
    }
    Ok(container)
}
// ANCHOR_END: create

/// The child's namespaces as the host sees them, for its record.
fn namespace_ids(pid: Pid) -> Vec<(String, String)> {
    crate::namespace::Namespace::ALL
        .iter()
        .filter_map(|kind| {
            let id = crate::namespace::id_of(Some(pid), *kind).ok()?;
            Some((kind.name().to_string(), id))
        })
        .collect()
}

/// The child's steps, inside its new namespaces, in the order the kernel
/// requires.
// ANCHOR: child
fn child_steps(
    spec: &Spec,
    network: Option<&net::Prepared>,
    in_child: InChild<'_>,
) -> Result<Infallible, Error> {
    // Root inside first: every later step needs the capabilities of the
    // user namespace's root, and a uid that is not "nobody".
    if spec.user.is_some() {
        let lesson = nix::unistd::getppid();
        user::become_root()?;
        // New uid, no death signal (prctl(2)): set it again.
        if !in_child.detached {
            process::rearm_death_signal(lesson)?;
        }
    }
    // Namespaces joined rather than made (the runtime's paths), before
    // anything that depends on them; and resource limits while raising a
    // hard one is still allowed (CAP_SYS_RESOURCE).
    // (A PID namespace was joined by the parent: see `create`.)
    for (kind, path) in spec.join.iter().filter(|(kind, _)| *kind != Namespace::Pid) {
        crate::namespace::join(*kind, path)?;
    }
    process::set_rlimits(&spec.process.rlimits)?;
    if let Some(adj) = spec.process.oom_score_adj {
        process::set_oom_score_adj(adj)?;
    }
    // The parent put us in our cgroup before opening the gate: a cgroup
    // namespace made now is rooted there.
    if spec.namespaces.contains(&Namespace::Cgroup) {
        cgroup::enter_namespace()?;
    }
    // The network next: joining another container's namespace must come
    // before /sys is mounted (sysfs shows the mounter's devices), and the
    // host's end was plugged in before the gate opened.
    if let Some(network) = network {
        network.inside()?;
    }
    match &spec.root {
        None => {}
        Some(Root {
            path,
            enter: Enter::Chroot,
        }) => chroot::enter(path)?,
        Some(Root {
            path,
            enter: Enter::Pivot { make_private },
        }) => {
            // Private before the first mount: on a host whose mounts are
            // shared, anything mounted before this would appear on the host.
            if *make_private {
                mount::make_private()?;
            } else {
                mount::skip_private();
            }
            // The layers, stacked where the root is to be (lesson 09).
            if let Some(overlay) = &spec.overlay {
                overlay.mount(path)?;
            }
            // pivot_root needs the new root to be a mount point, and leaves
            // the old root at /.old-root for the mounts that follow.
            let old_root = mount::pivot_into(path, spec.user.is_some())?;
            // Mounted while the old root is still there: /dev/console is
            // bound from the host's terminal, reachable only through it.
            for each in &spec.mounts {
                mount_one(each)?;
            }
            for node in &spec.devices {
                mount::make_device_node(node)?;
            }
            // Kernel settings of our own namespaces, while /proc/sys is
            // still writable.
            for (name, value) in &spec.sysctl {
                crate::sysctl::write(name, value)?;
            }
            // Last: after this no path leads back to the host's files.
            old_root.detach()?;
            // The root is final: hide and freeze what of /proc and /sys is
            // the host kernel's, while mount is still ours to call.
            if let Some(lockdown) = &spec.lockdown {
                lockdown::paths::mask_and_freeze(&lockdown.masked, &lockdown.read_only)?;
            }
            if spec.readonly_root {
                mount::remount_root_readonly()?;
            }
            if let Some(propagation) = spec.root_propagation {
                mount::mount(
                    "the root's propagation",
                    None,
                    std::path::Path::new("/"),
                    None,
                    propagation,
                    None,
                )?;
            }
        }
    }
    // The names are the UTS namespace's, so any time after clone will do;
    // before execve, so the command starts with them.
    if let Some(names) = &spec.names {
        uts::set_names(names)?;
    }
    if let Some(inside) = in_child.inside {
        inside()?;
    }
    // The lockdown's last steps, in the only order that works: compile the
    // filter while allocating is harmless; drop capabilities now that no
    // step needs them; no_new_privs, without which a process lacking
    // CAP_SYS_ADMIN may not install a filter; the filter itself just
    // before execve, as it refuses calls the setup made.
    let mut filter = None;
    if let Some(lockdown) = &spec.lockdown {
        if lockdown.seccomp {
            filter = Some(lockdown::seccomp::Filter::default_filter()?);
        }
        // The container's user between the bounding set (which needs
        // CAP_SETPCAP) and the other sets (which the new uid keeps only
        // through PR_SET_KEEPCAPS).
        lockdown.capabilities.drop_bounding()?;
        if let Some(identity) = &spec.process.identity {
            process::switch_user(identity)?;
        }
        lockdown.capabilities.set()?;
        if lockdown.no_new_privs {
            lockdown::no_new_privs()?;
        }
    } else if let Some(identity) = &spec.process.identity {
        process::switch_user(identity)?;
    }
    // A terminal of its own, from the container's devpts, its master sent
    // to whoever asked.
    if let Some(socket) = spec.console {
        crate::terminal::take_new_terminal(socket, spec.process.console_size)?;
    }
    if let Some(before_exec) = in_child.before_exec {
        before_exec()?;
    }
    // Last of all: signals reset and descriptors closed, then execve (or,
    // with a tiny init, a fork first, the parent staying as PID 1).
    Ok(process::exec_with_init(
        &spec.command,
        &spec.process,
        filter.as_ref(),
        spec.tiny_init,
    )?)
}
// ANCHOR_END: child

fn mount_one(each: &Mount) -> Result<(), Error> {
    match each {
        Mount::Proc => mount::mount_proc()?,
        Mount::Dev => mount::mount_dev()?,
        Mount::Sys => mount::mount_sys()?,
        Mount::Tmp => mount::mount_tmp()?,
        Mount::Mqueue => ipc::mount_mqueue()?,
        Mount::Bind {
            source,
            target,
            read_only,
        } => mount::bind_host_dir(source, target, *read_only)?,
        Mount::Generic(generic) => generic.mount()?,
    }
    Ok(())
}
