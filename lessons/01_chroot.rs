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
use nix::sched::CloneFlags;
use nslab::{chroot, demo, lesson, process, rootfs};
use std::path::Path;
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
    after_help = "Examples:\n  sudo 01-chroot\n  sudo 01-chroot --escape\n  sudo 01-chroot -- ls /\n\nNext: 02-pid gives the child its own PID namespace."
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
    let args = Args::parse();
    lesson::main(args.output.quiet, || {
        lesson::require_root("01-chroot", "calls chroot(2), which needs CAP_SYS_CHROOT")?;
        let rootfs = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        demo::show_host_view()?;
        let first_look = demo::first_look(args.escape, &rootfs);
        let command = demo::or_demo(args.command, &[&first_look]);
        // Taken before the chroot, so the escape can tell whether it got out.
        let host_root = chroot::dir_id(Path::new("/"))?;
        // ANCHOR: run
        let child = process::spawn(CloneFlags::empty(), || {
            chroot::enter(&rootfs)?;
            if args.escape {
                chroot::escape(host_root, &rootfs.join(".nslab-escape"))?;
            }
            Ok(process::exec(&command)?)
        })?;
        let exit = child.wait()?;
        // ANCHOR_END: run
        Ok(lesson::finish(exit))
    })
}
