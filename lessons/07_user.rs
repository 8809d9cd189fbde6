//! # Lesson 07: root inside, an ordinary user outside, in a user namespace
//!
//! **What you will learn.** Until now root in the container was the
//! host's root: every capability over everything, the host's kernel
//! settings writable, device nodes that reach the host's disks.
//! `clone(CLONE_NEWUSER)` gives the child a user namespace of its own,
//! with its own ids: the parent writes its `uid_map` and `gid_map`
//! (`0 100000 65536`: root inside is uid 100000 outside), and the child
//! becomes root inside. It holds every capability again, but only over
//! what its user namespace owns: its own namespaces, mounts and files
//! owned by ids in its map. The host's settings and devices are out of
//! reach, and what it creates belongs to an ordinary uid on the host.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/07-user                          # the demo, map 0:100000:65536
//! sudo target/debug/07-user --map 0:200000:1000      # a map of your choice
//! sudo target/debug/07-user --map 0:100000:0         # rejected before anything is made
//! sudo target/debug/07-user -- sh                    # a shell; try `id`, `cat /proc/self/uid_map`
//! ```
//!
//! **Look for.** The handshake: the child waits at its gate while the
//! lesson writes the maps, then takes uid 0. Inside, `id` says root and
//! CapEff is full, yet `/proc/sys` is not writable and mknod is refused;
//! from the host, the file root made inside belongs to uid 100000.
//!
//! **Next.** Lesson 08 limits what the container may use, with cgroups.

use clap::Parser;
use nslab::namespace::Namespace;
use nslab::net;
use nslab::spec::{Mount, Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{demo, leftovers, lesson, mount, rootfs, user, uts};
use std::process::ExitCode;

/// Lesson 07: lesson 06, plus a user namespace.
///
/// Everything lesson 06 does, but the child is also cloned with
/// CLONE_NEWUSER, created first so that it owns every other new namespace.
/// The lesson writes the child's uid and gid maps while it waits at its
/// gate (--map, 0:100000:65536 unless given), and the child becomes root
/// inside. The rootfs is a copy whose files belong to the mapped root,
/// made once. Without a command, the demo shows who root inside is and
/// tries again what lessons 03-05 could do: each attempt now fails.
#[derive(Debug, Parser)]
#[command(
    name = "07-user",
    version,
    after_help = "Examples:\n  sudo 07-user\n  sudo 07-user --map 0:200000:1000\n  sudo 07-user -- sh -c 'id; cat /proc/self/uid_map'"
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
    maps: user::MapArgs,

    /// After pivot_root, try lesson 01's chroot escape: it no longer reaches the host
    #[arg(long)]
    escape: bool,

    /// The command to run instead of the demo; put it after `--`
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = lesson::parse("07-user");
    lesson::main("07-user", args.output.quiet, || {
        // Checked before anything is made.
        let maps = args.maps.id_maps()?;
        nslab::spec::check_user_network(&args.network.net)?;
        if maps.root_outside() == Some(0) {
            nslab::narrate::warning(
                "this map makes root inside the host's root again (0 outside): the doors stay open",
            );
        }
        if !nix::unistd::geteuid().is_root() {
            nslab::narrate::explain(format!(
                "not root: a rootless container, your uid {} as root inside; its rootfs and state are yours, in {}",
                nix::unistd::geteuid(),
                args.rootfs.state_dir.display()
            ));
            if let Some(range) = maps.uid.get(1) {
                nslab::narrate::explain(format!(
                    "and ids {}.. inside are your range from /etc/subuid, {}.. outside, written by newuidmap",
                    range.inside, range.outside
                ));
            }
        }
        let shared = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        // What a killed run left behind, said before anything new is made.
        leftovers::warn_if_any(&args.rootfs.state_dir);
        leftovers::warn_if_any_network(&args.network.run_dir());
        let rootfs = user::rootfs_for(&shared, &maps)?;
        let host_mounts = mount::MountTable::read()?;
        let host_names = uts::observe::HostNames::read()?;
        let host_links =
            net::observe::show_host_links("The host's network devices, before the run")?;
        demo::show_host_view()?;
        let first_look = demo::first_look(args.escape, &rootfs);
        let demo_runs = args.command.is_empty();
        // The demo's host directory, lent as docker's --volume lends one;
        // removed, with what the container wrote, when dropped.
        let volume = demo_runs
            .then(|| user::DemoVolume::create(&args.rootfs.state_dir, &rootfs, &maps))
            .transpose()?;
        let command = demo::or_demo(args.command, &[&first_look, demo::USER_INSIDE]);
        let escape = demo::Escape::prepare(&rootfs)?;
        let run_dir = args.network.run_dir();
        let mut network = args.network.net;
        if network == net::Network::Bridge && !nix::unistd::geteuid().is_root() {
            // The bridge and the host's end of the cable are the host's
            // devices: only real root may make them.
            nslab::narrate::explain(
                "not root: no bridge (the host's devices need real root), so --net none",
            );
            network = net::Network::None;
        }
        // ANCHOR: run
        // The user namespace first: the kernel makes it before the others,
        // which it then owns, whatever the order of the flags.
        let mut namespaces = vec![
            Namespace::User,
            Namespace::Pid,
            Namespace::Mnt,
            Namespace::Uts,
            Namespace::Ipc,
        ];
        if network.creates_namespace() {
            namespaces.push(Namespace::Net);
        }
        let spec = Spec {
            namespaces,
            root: Some(Root::pivot(rootfs.clone())),
            mounts: [&Mount::STANDARD[..], &[Mount::Mqueue]]
                .concat()
                .into_iter()
                .chain(volume.as_ref().map(user::DemoVolume::mount))
                .collect(),
            names: Some(args.names.into()),
            user: Some(maps),
            network: Some(network),
            name: args.network.name,
            run_dir: Some(run_dir),
            command,
            ..Spec::default()
        };
        let hooks = Hooks {
            from_host: Some(Box::new(|child| demo::show_child(child, &spec.namespaces))),
            inside: args.escape.then(|| Box::new(|| escape.attempt(true)) as _),
        };
        let exit = start::run(&spec, hooks);
        // ANCHOR_END: run
        if let (Some(volume), Ok(_)) = (&volume, &exit) {
            volume.show_file_owner();
        }
        drop(volume);
        if spec.network != Some(net::Network::Host) {
            net::observe::show_host_unchanged(&host_links)?;
        }
        uts::observe::show_host_unchanged(&host_names)?;
        mount::show_host_unchanged(&host_mounts, &rootfs, true)?;
        Ok(lesson::finish(exit?))
    })
}
