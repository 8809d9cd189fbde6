//! # Lesson 09: a root filesystem of layers, with overlayfs
//!
//! **What you will learn.** Until now every container shared one rootfs
//! directory, and what one wrote, the next one saw. overlayfs stacks
//! read-only layers (the image) under a writable layer of the container's
//! own: reading finds a name in the highest layer that has it; writing a
//! file of a layer below first copies it up; deleting one leaves a
//! whiteout; a replaced directory becomes opaque. The layers below never
//! change, so any number of containers can share them.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/09-union                     # write, change, delete; then look from the host
//! sudo target/debug/09-union --keep              # keep the container's layer, and say where
//! sudo target/debug/09-union --layer /srv/l2 --layer /srv/l1   # layers of your own, top first
//! ```
//!
//! **Look for.** The overlay's options (`lowerdir=TOP:…:BASE`); inside,
//! the file the top layer adds and the one it deleted; after the run, the
//! container's layer holding a new file, a copied-up one, a whiteout and
//! an opaque directory, and the layers below unchanged.
//!
//! **Next.** Lesson 10 adds an init layer: `/etc/hostname`, `/etc/hosts`
//! and `/etc/resolv.conf`, made for each container.

use clap::Parser;
use nslab::cgroup::limits::LimitArgs;
use nslab::namespace::Namespace;
use nslab::overlay::layers::{self, ContainerLayers};
use nslab::spec::{Mount, Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{demo, leftovers, lesson, mount, narrate, net, rootfs, uts};
use std::path::PathBuf;
use std::process::ExitCode;

/// Lesson 09: lesson 08, plus a root filesystem of layers.
///
/// Everything lesson 08 does (as root, without a user namespace), but the
/// container's root is an overlay: the layers given with --layer (top
/// first), or the default rootfs with a second layer above it, under a
/// writable layer of the container's own in the state directory, removed
/// after the run unless --keep. Without a command, the demo writes a new
/// file, changes and deletes files of the layers below and replaces a
/// directory; then the lesson shows from the host what that left in the
/// container's layer.
#[derive(Debug, Parser)]
#[command(
    name = "09-union",
    version,
    after_help = "Examples:\n  sudo 09-union\n  sudo 09-union --keep\n  sudo 09-union --layer /srv/top --layer /srv/base -- sh"
)]
struct Args {
    #[command(flatten)]
    output: lesson::OutputArgs,

    #[command(flatten)]
    rootfs: lesson::RootfsArgs,

    #[command(flatten)]
    names: uts::NameArgs,

    #[command(flatten)]
    network: net::NetArgs,

    #[command(flatten)]
    limits: LimitArgs,

    /// A read-only layer, the top one first; repeat for more [default: the rootfs, with a second layer above it]
    #[arg(long = "layer", value_name = "DIR")]
    layers: Vec<PathBuf>,

    /// Keep the container's writable layer after the run, and say where
    #[arg(long)]
    keep: bool,

    /// Show a host directory inside, HOST:CTR or HOST:CTR:ro; repeat for more
    #[arg(long = "volume", short = 'v', value_name = "HOST:CTR[:ro]")]
    volumes: Vec<nslab::mount::Volume>,

    /// The command to run instead of the demo; put it after `--`
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = lesson::parse("09-union");
    lesson::main("09-union", args.output.quiet, || {
        // Without root: rootless, as lesson 07 (your ids as root inside),
        // with no cgroup and no bridge, and overlayfs mounted inside the
        // user namespace (Linux 5.11).
        let root = nix::unistd::geteuid().is_root();
        let maps = (!root).then(nslab::user::rootless_maps);
        if let Some(maps) = &maps {
            maps.check()?;
            nslab::narrate::explain(
                "not root: rootless, your ids as root inside, no cgroup, no bridge; \
                 the overlay is mounted inside the user namespace",
            );
        }
        let limits = args.limits.limits();
        if root {
            let hierarchy = nslab::cgroup::group::Hierarchy::detect()?;
            nslab::cgroup::group::setup_plan(&hierarchy, "check", &limits)?;
        }
        layers::check_given(&args.layers)?;
        // The layers live under the state directory: a path overlayfs
        // cannot take is refused before anything is built there.
        nslab::overlay::check_state_dir(
            &std::path::absolute(&args.rootfs.state_dir).unwrap_or_default(),
        )?;
        let base = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        // What a killed run left behind, said before anything new is made.
        leftovers::warn_if_any(&args.rootfs.state_dir);
        leftovers::warn_if_any_network(&args.network.run_dir());
        let lower = layers::image(&args.layers, &base)?;
        // ANCHOR: layers
        let container = ContainerLayers::create(&args.rootfs.state_dir, args.keep)?;
        let overlay = container.overlay(lower.clone(), !root);
        overlay.options()?;
        // ANCHOR_END: layers
        let lower_before = layers::fingerprint(&lower);
        let host_mounts = mount::MountTable::read()?;
        let host_names = uts::observe::HostNames::read()?;
        let demo_runs = args.command.is_empty();
        let command = demo::or_demo(args.command, &[demo::UNION]);
        let run_dir = args.network.run_dir();
        let mut network = args.network.net;
        if network == net::Network::Bridge && !root {
            network = net::Network::None;
        }
        let mut namespaces = vec![
            Namespace::Pid,
            Namespace::Mnt,
            Namespace::Uts,
            Namespace::Ipc,
        ];
        if network.creates_namespace() {
            namespaces.push(Namespace::Net);
        }
        if root {
            namespaces.push(Namespace::Cgroup);
        } else {
            namespaces.insert(0, Namespace::User);
        }
        let spec = Spec {
            namespaces,
            root: Some(Root::pivot(container.merged())),
            overlay: Some(overlay),
            mounts: [&Mount::STANDARD[..], &[Mount::Mqueue]]
                .concat()
                .into_iter()
                .chain(args.volumes.iter().map(nslab::mount::Volume::mount))
                .collect(),
            names: Some(args.names.into()),
            limits: root.then_some(limits),
            user: maps,
            network: Some(network),
            name: args.network.name,
            run_dir: Some(run_dir),
            command,
            ..Spec::default()
        };
        let seen: Vec<Namespace> = spec
            .namespaces
            .iter()
            .copied()
            .filter(|kind| *kind != Namespace::Cgroup)
            .collect();
        let hooks = Hooks {
            from_host: Some(Box::new(|child| demo::show_child(child, &seen))),
            inside: None,
        };
        let exit = start::run(&spec, hooks);
        if demo_runs || args.keep {
            layers::show_changes(&container.upper(), &lower, &lower_before);
        }
        if args.layers.is_empty() {
            narrate::explain(format!(
                "lower layers: {} (top), {} (base)",
                lower[0].display(),
                lower[1].display()
            ));
        }
        drop(container);
        uts::observe::show_host_unchanged(&host_names)?;
        mount::show_host_unchanged(&host_mounts, &base, true)?;
        Ok(lesson::finish(exit?))
    })
}
