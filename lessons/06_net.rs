//! # Lesson 06: a network of its own, in a network namespace
//!
//! **What you will learn.** `clone(CLONE_NEWNET)` gives the child a network
//! stack of its own: devices, addresses, routes, ports. It starts with
//! nothing but `lo`, down. What the container gets then is the runtime's
//! choice, docker's `--net`: `none` (only loopback, up), `host` (no new
//! namespace: the host's own stack, as lessons 00–05 had without saying
//! so), `bridge` (a veth pair, a virtual cable, from the container's
//! `eth0` to the bridge `nslab0` on the host, with an address of
//! 10.213.0.0/24), or `container:NAME` (another running container's
//! namespace, joined with setns(2): what a Kubernetes pod's containers
//! share, and what `docker exec` does for every namespace).
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/06-net                         # bridge: eth0, a route, ping the bridge
//! sudo target/debug/06-net --net none              # only lo
//! sudo target/debug/06-net --net host              # the host's devices
//! sudo target/debug/06-net --name web -- sh        # terminal 1: a named container
//! sudo target/debug/06-net --net container:web     # terminal 2: the same devices as web
//! ```
//!
//! **Look for.** Each netlink request printed as the `ip` command that does
//! the same; the veth end leaving the host; after the run, no `nslab`
//! device left on the host unless another container still uses the bridge.
//!
//! **Next.** Lesson 07 makes root inside an ordinary user outside.

use clap::Parser;
use nslab::namespace::Namespace;
use nslab::net::{self, Network};
use nslab::spec::{Mount, Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{demo, leftovers, lesson, mount, rootfs, uts};
use std::process::ExitCode;

/// Lesson 06: lesson 05, plus a network namespace.
///
/// Everything lesson 05 does, but the child also gets a network: with
/// --net bridge (the default) it is cloned with CLONE_NEWNET and plugged
/// into the bridge nslab0 by a veth pair, with an address of 10.213.0.0/24;
/// --net none gives it only loopback; --net host no network namespace at
/// all; --net container:NAME the network namespace of the running container
/// started with --name NAME. Without a command, the demo shows the
/// container's devices, routes, and a ping to the bridge.
#[derive(Debug, Parser)]
#[command(
    name = "06-net",
    version,
    after_help = "Examples:\n  sudo 06-net\n  sudo 06-net --net none\n  sudo 06-net --name web -- sh\n  sudo 06-net --net container:web -- ip addr"
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

    /// After pivot_root, try lesson 01's chroot escape: it no longer reaches the host
    #[arg(long)]
    escape: bool,

    /// The command to run instead of the demo; put it after `--`
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = lesson::parse("06-net");
    lesson::main("06-net", args.output.quiet, || {
        let rootfs = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        // What a killed run left behind, said before anything new is made.
        leftovers::warn_if_any(&args.rootfs.state_dir);
        leftovers::warn_if_any_network(&args.network.run_dir());
        let host_mounts = mount::MountTable::read()?;
        let writes = demo::RootfsWatch::start(&rootfs);
        let host_names = uts::observe::HostNames::read()?;
        let host_links =
            net::observe::show_host_links("The host's network devices, before the run")?;
        demo::show_host_view()?;
        let first_look = demo::first_look(args.escape, &rootfs);
        let command = demo::or_demo(args.command, &[&first_look, demo::NETWORK]);
        let escape = demo::Escape::prepare(&rootfs)?;
        let run_dir = args.network.run_dir();
        let network = args.network.net;
        // ANCHOR: run
        let mut namespaces = vec![
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
            mounts: [&Mount::STANDARD[..], &[Mount::Mqueue]].concat(),
            names: Some(args.names.into()),
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
        if spec.network != Some(Network::Host) {
            net::observe::show_host_unchanged(&host_links)?;
        }
        uts::observe::show_host_unchanged(&host_names)?;
        mount::show_host_unchanged(&host_mounts, &rootfs, true)?;
        writes.report();
        Ok(lesson::finish(exit?))
    })
}
