//! # Lesson 02: PID 1 in a PID namespace
//!
//! **What you will learn.** `clone(CLONE_NEWPID)` starts the child in a
//! new PID namespace, where it is PID 1. The host still sees it under its
//! host PID: one process, two numbers. You will also see what does *not*
//! change yet: `ps` reads `/proc`, and no `/proc` for the new namespace is
//! mounted, so it shows nothing. And PID 1 is special: the kernel does not
//! deliver it signals it has no handler for, and orphans are re-parented to
//! it, so it must reap them.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/02-pid                          # the demo
//! sudo target/debug/02-pid -- sh -c 'echo $$'       # prints 1
//! sudo target/debug/02-pid -- sh                    # a shell as PID 1
//! ```
//!
//! **Look for.** `NSpid` lists two PIDs for the child; the PID namespaces
//! differ; inside, `$$` is 1, `ps` lists nothing, and `kill -TERM $$`
//! does not kill the shell.
//!
//! **Next.** Lesson 03 adds a mount namespace, a fresh `/proc`, and
//! `pivot_root`, which finally closes the chroot escape.

use clap::Parser;
use nslab::namespace::Namespace;
use nslab::spec::{Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{demo, leftovers, lesson, mount, pid, rootfs};
use std::process::ExitCode;

/// Lesson 02: run a command as PID 1 of a new PID namespace, chrooted.
///
/// Everything lesson 01 does, but the child is cloned with CLONE_NEWPID.
/// Before letting the child run, the lesson shows it from the host: its
/// two PIDs and the two PID namespaces. Without a command, the demo shows
/// PID 1 from inside, what `ps` and `/proc` show, and PID 1's signal rule.
#[derive(Debug, Parser)]
#[command(
    name = "02-pid",
    version,
    after_help = "Examples:\n  sudo 02-pid\n  sudo 02-pid -- sh -c 'echo $$'"
)]
struct Args {
    #[command(flatten)]
    output: lesson::OutputArgs,

    #[command(flatten)]
    rootfs: lesson::RootfsArgs,

    /// After the chroot, break out of it as in lesson 01 (a PID namespace does not stop that)
    #[arg(long)]
    escape: bool,

    /// The command to run instead of the demo; put it after `--`
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = lesson::parse("02-pid");
    lesson::main("02-pid", args.output.quiet, || {
        let rootfs = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        // What a killed run left behind, said before anything new is made.
        leftovers::warn_if_any(&args.rootfs.state_dir);
        let host_mounts = mount::MountTable::read()?;
        let writes = demo::RootfsWatch::start(&rootfs);
        demo::show_host_view()?;
        // After an escape the demo looks at where it landed; PID_ONE's
        // remarks about an empty /proc would not be true on the host's /.
        let escaped = demo::after_escape(&rootfs);
        let demo: &[&str] = if args.escape {
            &[&escaped]
        } else {
            &[demo::LOOK_AROUND, demo::PID_ONE]
        };
        let command = demo::or_demo(args.command, demo);
        let escape = demo::Escape::prepare(&rootfs)?;
        // ANCHOR: run
        let spec = Spec {
            namespaces: vec![Namespace::Pid],
            root: Some(Root::chroot(rootfs.clone())),
            command,
            ..Spec::default()
        };
        let hooks = Hooks {
            // The child waits at its gate, so it is certainly alive to look at.
            from_host: Some(Box::new(|child| demo::show_child(child, &spec.namespaces))),
            inside: args.escape.then(|| Box::new(|| escape.attempt(false)) as _),
        };
        let exit = start::run(&spec, hooks);
        // ANCHOR_END: run
        // No mount namespace yet: a mount made inside lands on the host.
        mount::show_host_unchanged(&host_mounts, &rootfs, false)?;
        writes.report();
        let status = lesson::finish(exit?);
        pid::explain_pid_one_duties();
        Ok(status)
    })
}
