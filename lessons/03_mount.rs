//! # Lesson 03: a mount namespace, pivot_root, and a fresh /proc
//!
//! **What you will learn.** `clone(CLONE_NEWNS)` gives the child its own
//! copy of the mount table. The first thing it does with it is make every
//! mount *private*, so that nothing it mounts propagates back to the host.
//! Then it swaps its root with `pivot_root(2)` instead of `chroot(2)`,
//! unmounts the host's tree, and mounts what programs expect: a `/proc` of
//! its own PID namespace, a minimal `/dev`, a read-only `/sys`, a `/tmp`.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/03-mount                  # the demo
//! sudo target/debug/03-mount --escape         # lesson 01's escape, now failing
//! sudo target/debug/03-mount --no-private     # forget MS_PRIVATE, safely
//! sudo target/debug/03-mount -- sh            # a shell in the container
//! ```
//!
//! **Look for.** Inside, `ps` lists only the container's processes and the
//! mount table only its mounts; the host's mount table is unchanged after
//! the run. With `--escape`, the climb stops at the container's `/`. With
//! `--no-private`, the container's mount leaks into a throwaway outer
//! namespace and `pivot_root` fails with EINVAL.
//!
//! **Next.** Lesson 04 gives the container a hostname of its own.

use clap::Parser;
use nslab::namespace::Namespace;
use nslab::spec::{Enter, Mount, Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{demo, leftovers, lesson, mount, rootfs};
use std::process::ExitCode;

/// Lesson 03: run a command in new PID and mount namespaces, pivoted into a rootfs.
///
/// Everything lesson 02 does, but the child is also cloned with CLONE_NEWNS.
/// It makes its mounts private, bind-mounts the rootfs onto itself, pivots
/// into it, unmounts the host's tree, and mounts /proc, /dev, /sys and /tmp.
/// Without a command, the demo shows the container's processes, mount table
/// and /dev; after the run, the lesson checks that the host's mount table
/// is unchanged.
#[derive(Debug, Parser)]
#[command(
    name = "03-mount",
    version,
    after_help = "Examples:\n  sudo 03-mount\n  sudo 03-mount --escape\n  sudo 03-mount --no-private\n  sudo 03-mount -- sh -c 'ps; cat /proc/self/mounts'"
)]
struct Args {
    #[command(flatten)]
    output: lesson::OutputArgs,

    #[command(flatten)]
    rootfs: lesson::RootfsArgs,

    /// After pivot_root, try lesson 01's chroot escape: it no longer reaches the host
    #[arg(long)]
    escape: bool,

    /// Skip making the mounts private, inside a throwaway outer namespace shared like a systemd host's, to see the leak and pivot_root's EINVAL
    #[arg(long)]
    no_private: bool,

    /// The command to run instead of the demo; put it after `--`
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = lesson::parse("03-mount");
    lesson::main("03-mount", args.output.quiet, || {
        let rootfs = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        // What a killed run left behind, said before anything new is made.
        leftovers::warn_if_any(&args.rootfs.state_dir);
        let host_mounts = mount::MountTable::read()?;
        let writes = demo::RootfsWatch::start(&rootfs);
        demo::show_host_view()?;
        let first_look = demo::first_look(args.escape, &rootfs);
        let command = demo::or_demo(args.command, &[&first_look, demo::MOUNTS, demo::STILL_OPEN]);
        let escape = demo::Escape::prepare(&rootfs)?;
        // ANCHOR: run
        let spec = Spec {
            namespaces: vec![Namespace::Pid, Namespace::Mnt],
            root: Some(Root {
                path: rootfs.clone(),
                enter: Enter::Pivot {
                    make_private: !args.no_private,
                },
            }),
            mounts: Mount::STANDARD.to_vec(),
            command,
            ..Spec::default()
        };
        let run = || {
            let hooks = Hooks {
                from_host: Some(Box::new(|child| demo::show_child(child, &spec.namespaces))),
                inside: args.escape.then(|| Box::new(|| escape.attempt(true)) as _),
            };
            start::run(&spec, hooks)
        };
        // ANCHOR_END: run
        let exit = if args.no_private {
            mount::in_shared_outer_namespace(run).map_err(nslab::Error::from)
        } else {
            run()
        };
        mount::show_host_unchanged(&host_mounts, &rootfs, true)?;
        writes.report();
        Ok(lesson::finish(exit?))
    })
}
