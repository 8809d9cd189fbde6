//! # Lesson 01: a different `/` with chroot
//!
//! **What you will learn.** `chroot(2)` changes the directory a process
//! resolves `/` against. Run inside the nslab rootfs, the child sees a tiny
//! busybox system instead of the host's files. But chroot changes nothing
//! else, and a root process can simply leave: `--escape` shows how.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/01-chroot                # the demo
//! sudo target/debug/01-chroot --escape       # break out of the chroot
//! sudo target/debug/01-chroot -- sh          # a shell inside the rootfs
//! ```
//!
//! **Look for.** Inside, `/` holds the rootfs, not the host's directories;
//! PID, hostname and PID namespace are still the host's. With `--escape`,
//! the child ends up back at the host's `/` and sees the rootfs from above.
//!
//! **Next.** Lesson 02 gives the child its own PIDs: it becomes PID 1.

use clap::Parser;
use nslab::spec::{Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{demo, leftovers, lesson, rootfs};
use std::process::ExitCode;

/// Lesson 01: run a command chrooted into a root filesystem.
///
/// The first run builds the default rootfs (offline, from the host's static
/// busybox or its own binaries). The child chroots into it, changes
/// directory to its new `/`, and execs the command. Without a command it
/// runs a demo showing the new `/` next to the host's.
#[derive(Debug, Parser)]
#[command(
    name = "01-chroot",
    version,
    after_help = "Examples:\n  sudo 01-chroot\n  sudo 01-chroot --escape\n  sudo 01-chroot -- ls /"
)]
struct Args {
    #[command(flatten)]
    output: lesson::OutputArgs,

    #[command(flatten)]
    rootfs: lesson::RootfsArgs,

    /// After the chroot, break out of it the way any root process can, then run the command
    #[arg(long)]
    escape: bool,

    /// The command to run instead of the demo; put it after `--`
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = lesson::parse("01-chroot");
    lesson::main("01-chroot", args.output.quiet, || {
        let rootfs = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        // What a killed run left behind, said before anything new is made.
        leftovers::warn_if_any(&args.rootfs.state_dir);
        let writes = demo::RootfsWatch::start(&rootfs);
        demo::show_host_view()?;
        let command = demo::or_demo(args.command, &[&demo::first_look(args.escape, &rootfs)]);
        let escape = demo::Escape::prepare(&rootfs)?;
        // ANCHOR: run
        let spec = Spec {
            root: Some(Root::chroot(rootfs.clone())),
            command,
            ..Spec::default()
        };
        let hooks = Hooks {
            inside: args.escape.then(|| Box::new(|| escape.attempt(false)) as _),
            ..Hooks::default()
        };
        let exit = start::run(&spec, hooks);
        // ANCHOR_END: run
        writes.report();
        Ok(lesson::finish(exit?))
    })
}
