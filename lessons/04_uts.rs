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
use nslab::{chroot, demo, lesson, mount, namespace, pid, process, rootfs, uts};
use std::path::Path;
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
    after_help = "Examples:\n  sudo 04-uts\n  sudo 04-uts --hostname lab --domainname example.org\n  sudo 04-uts --hostname lab -- sh -c 'hostname; uname -n'\n\nNext: 05-ipc gives the container its own IPC objects."
)]
struct Args {
    #[command(flatten)]
    output: lesson::OutputArgs,

    #[command(flatten)]
    rootfs: lesson::RootfsArgs,

    /// The container's hostname: lowercase letters, digits, '-' and dots, at most 64 characters
    #[arg(long, value_name = "NAME", default_value = uts::DEFAULT_HOSTNAME, value_parser = uts::parse_hostname)]
    hostname: String,

    /// The container's NIS domain name (same rules); without it, the container keeps a copy of the host's
    #[arg(long, value_name = "NAME", value_parser = uts::parse_domainname)]
    domainname: Option<String>,

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
    let args = Args::parse();
    lesson::main(args.output.quiet, || {
        lesson::require_root(
            "04-uts",
            "creates mount, PID and UTS namespaces, which needs CAP_SYS_ADMIN",
        )?;
        let rootfs = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        let host_mounts = mount::MountTable::read()?;
        let host_names = uts::HostNames::read()?;
        demo::show_host_view()?;
        let first_look = demo::first_look(args.escape, &rootfs);
        let command = demo::or_demo(args.command, &[&first_look, demo::UTS_NAMES]);
        let names = uts::Names {
            hostname: args.hostname,
            domainname: args.domainname,
        };
        let host_root = chroot::dir_id(Path::new("/"))?;
        // ANCHOR: run
        let mut child = process::spawn(pid::FLAG | mount::FLAG | uts::FLAG, || {
            mount::make_private()?;
            let old_root = mount::pivot_into(&rootfs)?;
            mount::standard_filesystems()?;
            old_root.detach()?;
            uts::set_names(&names)?;
            if args.escape {
                let outcome = chroot::escape(host_root, &rootfs.join(".nslab-escape"))?;
                mount::explain_escape(outcome);
            }
            Ok(process::exec(&command)?)
        })?;
        pid::show_from_host(child.pid())?;
        namespace::show_from_host(child.pid(), "mnt")?;
        namespace::show_from_host(child.pid(), "uts")?;
        child.release();
        let exit = child.wait()?;
        // ANCHOR_END: run
        uts::show_host_unchanged(&host_names)?;
        mount::show_host_unchanged(&host_mounts)?;
        Ok(lesson::finish(exit))
    })
}
