//! # Lesson 04: a hostname of its own, in a UTS namespace
//!
//! **What you will learn.** `clone(CLONE_NEWUTS)` gives the child its own
//! copy of the two names `uname(2)` reports that a namespace can change:
//! the hostname and the NIS domain name. The child sets them with
//! `sethostname(2)` and `setdomainname(2)` before it execs the command, and
//! the host's names stay as they were. Names are checked before anything is
//! created, so a bad one fails fast with a message saying what is allowed.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/04-uts                        # the demo, hostname "nslab"
//! sudo target/debug/04-uts --hostname lab         # a name of your choice
//! sudo target/debug/04-uts --hostname 'bad_name!' # rejected before anything runs
//! sudo target/debug/04-uts -- sh                  # a shell; try `hostname x`
//! ```
//!
//! **Look for.** Inside, `uname -n` is the container's name, and renaming it
//! from inside works; the host's hostname after the run is the one before.
//!
//! **Next.** Lesson 05 gives the container its own IPC objects.

use clap::Parser;
use nslab::namespace::Namespace;
use nslab::spec::{Mount, Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{demo, leftovers, lesson, mount, rootfs, uts};
use std::process::ExitCode;

/// Lesson 04: lesson 03, plus a UTS namespace with a hostname of its own.
///
/// Everything lesson 03 does, but the child is also cloned with
/// CLONE_NEWUTS and sets its hostname (and, if asked, its domainname)
/// before it execs the command. Without a command, the demo shows the
/// container's names and renames the container from inside; after the run,
/// the lesson checks that the host's names are unchanged.
#[derive(Debug, Parser)]
#[command(
    name = "04-uts",
    version,
    after_help = "Examples:\n  sudo 04-uts\n  sudo 04-uts --hostname lab --domainname example.org\n  sudo 04-uts --hostname lab -- sh -c 'hostname; uname -n'"
)]
struct Args {
    #[command(flatten)]
    output: lesson::OutputArgs,

    #[command(flatten)]
    rootfs: lesson::RootfsArgs,

    #[command(flatten)]
    names: uts::NameArgs,

    /// After pivot_root, try lesson 01's chroot escape: it no longer reaches the host
    #[arg(long)]
    escape: bool,

    /// The command to run instead of the demo; put it after `--`
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    // The names were checked here, by clap: a bad one ends the lesson
    // before anything is created.
    let args: Args = lesson::parse("04-uts");
    lesson::main("04-uts", args.output.quiet, || {
        let rootfs = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        // What a killed run left behind, said before anything new is made.
        leftovers::warn_if_any(&args.rootfs.state_dir);
        let host_mounts = mount::MountTable::read()?;
        let writes = demo::RootfsWatch::start(&rootfs);
        let host_names = uts::observe::HostNames::read()?;
        demo::show_host_view()?;
        let first_look = demo::first_look(args.escape, &rootfs);
        let command = demo::or_demo(args.command, &[&first_look, demo::UTS_NAMES]);
        let escape = demo::Escape::prepare(&rootfs)?;
        // ANCHOR: run
        let spec = Spec {
            namespaces: vec![Namespace::Pid, Namespace::Mnt, Namespace::Uts],
            root: Some(Root::pivot(rootfs.clone())),
            mounts: Mount::STANDARD.to_vec(),
            names: Some(args.names.into()),
            command,
            ..Spec::default()
        };
        let hooks = Hooks {
            from_host: Some(Box::new(|child| demo::show_child(child, &spec.namespaces))),
            inside: args.escape.then(|| Box::new(|| escape.attempt(true)) as _),
        };
        let exit = start::run(&spec, hooks);
        // ANCHOR_END: run
        uts::observe::show_host_unchanged(&host_names)?;
        mount::show_host_unchanged(&host_mounts, &rootfs, true)?;
        writes.report();
        Ok(lesson::finish(exit?))
    })
}
