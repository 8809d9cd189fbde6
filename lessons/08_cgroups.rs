//! # Lesson 08: limits on what it uses, with cgroups
//!
//! **What you will learn.** Namespaces change what a container sees;
//! cgroups limit what it uses: memory, CPU time, processes, block I/O.
//! The lesson makes a cgroup for the container (on cgroup v2, or on v1
//! and hybrid machines, whichever this one has, found by looking), writes
//! the limits into its files, and moves the child in while it waits at
//! its gate, so that nothing of the container ever runs unlimited. The
//! child then makes a cgroup namespace rooted there: inside,
//! `/proc/self/cgroup` says `/`.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/08-cgroups                               # the cgroup namespace, and the report
//! sudo target/debug/08-cgroups --memory 32M --demo oom       # the OOM killer ends it
//! sudo target/debug/08-cgroups --pids-limit 20 --demo forkbomb
//! sudo target/debug/08-cgroups --cpus 0.5 --demo cpu         # half a CPU, measured
//! ```
//!
//! **Look for.** Each cgroup file written and what went into it; the
//! container's own counters after the run: peak memory, CPU time, forks
//! refused, OOM kills; no `nslab` cgroup left afterwards.
//!
//! **Next.** Lesson 09 builds the root filesystem from layers, with
//! overlayfs.

use clap::Parser;
use nslab::cgroup::limits::LimitArgs;
use nslab::cgroup::observe::{self, Demo};
use nslab::namespace::Namespace;
use nslab::spec::{Mount, Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{demo, leftovers, lesson, mount, narrate, net, rootfs, user, uts};
use std::process::ExitCode;
use std::time::Instant;

/// Lesson 08: lesson 07, plus cgroups.
///
/// Everything lesson 07 does (the user namespace only with --map, or
/// without root), and a cgroup of the container's own with the limits
/// given (--memory, --cpus, --pids-limit, --io-weight), joined before the
/// child goes on, and a cgroup namespace rooted there (unless
/// --no-cgroupns). After the run, what the container used, from the
/// cgroup's own counters. --demo oom, forkbomb and cpu each run into one
/// limit.
#[derive(Debug, Parser)]
#[command(
    name = "08-cgroups",
    version,
    after_help = "Examples:\n  sudo 08-cgroups --memory 32M --demo oom\n  sudo 08-cgroups --pids-limit 20 --demo forkbomb\n  sudo 08-cgroups --cpus 0.5 --demo cpu"
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

    #[command(flatten)]
    limits: LimitArgs,

    /// Run into one limit: oom (memory), forkbomb (pids) or cpu (cpus)
    #[arg(long, value_enum)]
    demo: Option<Demo>,

    /// Leave out the cgroup namespace, to compare /proc/self/cgroup
    #[arg(long)]
    no_cgroupns: bool,

    /// The command to run instead of the demo; put it after `--`
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = lesson::parse("08-cgroups");
    lesson::main("08-cgroups", args.output.quiet, || {
        let root = nix::unistd::geteuid().is_root();
        // As root, a user namespace only when a map is asked for, as docker
        // does by default; without root, always (rootless).
        let maps = if root && args.maps.maps.is_empty() {
            None
        } else {
            Some(args.maps.id_maps()?)
        };
        let mut limits = args.limits.limits();
        if let Some(demo) = args.demo {
            demo.default_limit(&mut limits);
        }
        if !root {
            narrate::explain(
                "not root: no cgroup (cgroups need root, or a subtree delegated to you), so no limits",
            );
        }
        if maps.is_some() {
            nslab::spec::check_user_network(&args.network.net)?;
        }
        // A limit this machine's cgroups cannot express is refused now,
        // before anything exists.
        if root {
            let hierarchy = nslab::cgroup::group::Hierarchy::detect()?;
            nslab::cgroup::group::setup_plan(&hierarchy, "check", &limits)?;
        }
        let shared = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        // What a killed run left behind, said before anything new is made.
        leftovers::warn_if_any(&args.rootfs.state_dir);
        leftovers::warn_if_any_network(&args.network.run_dir());
        let rootfs = match &maps {
            Some(maps) => user::rootfs_for(&shared, maps)?,
            None => shared,
        };
        let host_mounts = mount::MountTable::read()?;
        let host_names = uts::observe::HostNames::read()?;
        let script = match args.demo {
            Some(Demo::Oom) => demo::OOM,
            Some(Demo::Forkbomb) => demo::FORK_BOMB,
            Some(Demo::Cpu) => demo::CPU_BURN,
            None => demo::CGROUP_INSIDE,
        };
        let command = demo::or_demo(args.command, &[script]);
        let run_dir = args.network.run_dir();
        let mut network = args.network.net;
        if network == net::Network::Bridge && !root {
            narrate::explain(
                "not root: no bridge (the host's devices need real root), so --net none",
            );
            network = net::Network::None;
        }
        // ANCHOR: run
        let mut namespaces = vec![
            Namespace::Pid,
            Namespace::Mnt,
            Namespace::Uts,
            Namespace::Ipc,
        ];
        if maps.is_some() {
            namespaces.insert(0, Namespace::User);
        }
        if network.creates_namespace() {
            namespaces.push(Namespace::Net);
        }
        if root && !args.no_cgroupns {
            namespaces.push(Namespace::Cgroup);
        }
        let spec = Spec {
            namespaces,
            root: Some(Root::pivot(rootfs.clone())),
            mounts: [&Mount::STANDARD[..], &[Mount::Mqueue]].concat(),
            names: Some(args.names.into()),
            user: maps,
            limits: root.then_some(limits.clone()),
            network: Some(network),
            name: args.network.name,
            run_dir: Some(run_dir),
            command,
            ..Spec::default()
        };
        // The cgroup namespace is made by the child after the gate: from
        // the host, before it, there is nothing new to see.
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
        let started = Instant::now();
        let ran = start::run_measured(&spec, hooks);
        let wall = started.elapsed();
        // ANCHOR_END: run
        let (exit, usage) = ran?;
        if let Some(usage) = usage {
            observe::report(&usage, wall.as_secs_f64(), args.demo, &limits);
        }
        uts::observe::show_host_unchanged(&host_names)?;
        mount::show_host_unchanged(&host_mounts, &rootfs, true)?;
        Ok(lesson::finish(exit))
    })
}
