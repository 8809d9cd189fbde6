//! # Lesson 10: the init layer, files made for one container
//!
//! **What you will learn.** A container needs a few files that belong to
//! it and to no image: `/etc/hostname` (its name), `/etc/hosts` (its name
//! at its own address) and `/etc/resolv.conf` (where to ask for names:
//! the host's nameservers, but not its loopback ones, which inside the
//! container's network namespace would be the container's own). Docker
//! makes them in an *init layer* between the image's layers and the
//! container's writable layer: above the image, so they win; below the
//! writable layer, so a commit never takes them into an image.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/10-init-layer                   # the three files, and where they live
//! sudo target/debug/10-init-layer --hostname web    # web, at its address, in /etc/hosts
//! ```
//!
//! **Look for.** The files written into the init layer once the bridge has
//! given the container its address; inside, the three files; from the
//! host, that the image layers and the writable layer do not hold them.
//!
//! **Next.** Lesson 11 locks the container down: capabilities, seccomp,
//! masked paths.

use clap::Parser;
use nslab::cgroup::limits::LimitArgs;
use nslab::namespace::Namespace;
use nslab::overlay::layers::{self, ContainerLayers};
use nslab::spec::{Mount, Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{demo, init_layer, leftovers, lesson, mount, net, rootfs, uts};
use std::path::PathBuf;
use std::process::ExitCode;

/// Lesson 10: lesson 09, plus an init layer.
///
/// Everything lesson 09 does, with one more layer between the image's
/// layers and the container's writable one: /etc/hostname, /etc/hosts and
/// /etc/resolv.conf, made for this container once its address is known.
/// Without a command, the demo shows the three files inside, then the
/// lesson shows from the host which layers hold them.
#[derive(Debug, Parser)]
#[command(
    name = "10-init-layer",
    version,
    after_help = "Examples:\n  sudo 10-init-layer\n  sudo 10-init-layer --hostname web\n  sudo 10-init-layer --keep -- sh -c 'echo x > /etc/hosts'"
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
    let args: Args = lesson::parse("10-init-layer");
    lesson::main("10-init-layer", args.output.quiet, || {
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
        let image = layers::image(&args.layers, &base)?;
        let container = ContainerLayers::create(&args.rootfs.state_dir, args.keep)?;
        // ANCHOR: layers
        // The init layer on top of the image's layers, under the
        // container's writable one.
        let lower: Vec<PathBuf> = std::iter::once(container.init())
            .chain(image.iter().cloned())
            .collect();
        let overlay = container.overlay(lower.clone(), !root);
        overlay.options()?;
        // ANCHOR_END: layers
        let host_mounts = mount::MountTable::read()?;
        let host_names = uts::observe::HostNames::read()?;
        let command = demo::or_demo(args.command, &[demo::INIT_LAYER]);
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
            init_layer: Some(container.init()),
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
            lockdown: None,
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
        if exit.is_ok() {
            init_layer::show_where(&container.init(), &image, &container.upper());
        }
        drop(container);
        uts::observe::show_host_unchanged(&host_names)?;
        mount::show_host_unchanged(&host_mounts, &base, true)?;
        Ok(lesson::finish(exit?))
    })
}
