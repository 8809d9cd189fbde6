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

use crate::process::{self, Child, Exit};
use crate::spec::{Enter, Mount, Root, Spec};
use crate::{chroot, ipc, mount, uts, Error};
use nix::unistd::Pid;
use std::convert::Infallible;

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

/// Starts the container `spec` describes, lets it run, and returns how it
/// ended: [`create`], the hooks, [`Child::release`], [`Child::wait`].
// ANCHOR: run
pub fn run(spec: &Spec, mut hooks: Hooks) -> Result<Exit, Error> {
    let inside = hooks.inside.take();
    let mut child = create(spec, inside.as_deref())?;
    if let Some(from_host) = hooks.from_host.as_mut() {
        from_host(child.pid())?;
    }
    // Later lessons: write the id maps, join cgroups, plug in the network.
    child.release();
    child.wait()
}
// ANCHOR_END: run

/// The parent's first step: checks the spec, then spawns the child into its
/// new namespaces, where it waits at the gate until [`Child::release`].
pub fn create(
    spec: &Spec,
    inside: Option<&(dyn Fn() -> Result<(), Error> + '_)>,
) -> Result<Child, Error> {
    spec.check()?;
    Ok(process::spawn(&spec.namespaces, || {
        child_steps(spec, inside)
    })?)
}

/// The child's steps, inside its new namespaces, in the order the kernel
/// requires.
// ANCHOR: child
fn child_steps(
    spec: &Spec,
    inside: Option<&(dyn Fn() -> Result<(), Error> + '_)>,
) -> Result<Infallible, Error> {
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
            // pivot_root needs the new root to be a mount point, and leaves
            // the old root at /.old-root for the mounts that follow.
            let old_root = mount::pivot_into(path)?;
            // Mounted while the old root is still there: /dev/console is
            // bound from the host's terminal, reachable only through it.
            for each in &spec.mounts {
                mount_one(*each)?;
            }
            // Last: after this no path leads back to the host's files.
            old_root.detach()?;
        }
    }
    // The names are the UTS namespace's, so any time after clone will do;
    // before execve, so the command starts with them.
    if let Some(names) = &spec.names {
        uts::set_names(names)?;
    }
    if let Some(inside) = inside {
        inside()?;
    }
    // Last of all: signals reset and descriptors closed, then execve.
    Ok(process::exec(&spec.command)?)
}
// ANCHOR_END: child

fn mount_one(each: Mount) -> Result<(), Error> {
    match each {
        Mount::Proc => mount::mount_proc()?,
        Mount::Dev => mount::mount_dev()?,
        Mount::Sys => mount::mount_sys()?,
        Mount::Tmp => mount::mount_tmp()?,
        Mount::Mqueue => ipc::mount_mqueue()?,
    }
    Ok(())
}
