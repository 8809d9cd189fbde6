//! # Lesson 05: IPC objects of its own, in an IPC namespace
//!
//! **What you will learn.** Processes can share kernel objects found by a
//! number or a name, not a path: System V message queues, shared-memory
//! segments and semaphore sets, and POSIX message queues. `clone(CLONE_NEWIPC)`
//! gives the child an IPC namespace with none of the host's: keys and ids
//! are looked up in the caller's own namespace, so the child cannot find,
//! open or remove the host's objects, the same key names a different object
//! inside, and what it creates goes away with it. Within one namespace,
//! every process finds the same object by the same key.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/05-ipc                    # the demo
//! sudo target/debug/05-ipc -- sh              # a shell; try `cat /proc/sysvipc/shm`
//! ```
//!
//! **Look for.** The host lists the objects the lesson made under its key
//! (`0x6e…`). Inside, before the shell starts, the key finds nothing
//! (ENOENT) and the host's id names nothing (EINVAL); then the same key
//! makes the container's own queue, which the shell, another process,
//! finds in `/proc/sysvipc/msg`. After the run the host's objects still
//! have their key and ids, and the lesson removes them.
//!
//! **Next.** Lesson 06 gives the container a network stack of its own.

use clap::Parser;
use nslab::namespace::Namespace;
use nslab::spec::{Mount, Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{demo, ipc, leftovers, lesson, mount, rootfs, uts};
use std::process::ExitCode;

/// Lesson 05: lesson 04, plus an IPC namespace.
///
/// Everything lesson 04 does, but the child is also cloned with
/// CLONE_NEWIPC and mounts a fresh mqueue file system on /dev/mqueue.
/// First, the lesson makes a System V message queue, shared-memory segment
/// and semaphore set under a key, and a POSIX message queue, on the host.
/// Without a command, the demo shows that inside the key and the host's
/// ids find none of them, and that the same key then makes a queue of the
/// container's own, which another process inside finds by that key. The
/// host's objects are removed when the lesson ends, even if it fails.
#[derive(Debug, Parser)]
#[command(
    name = "05-ipc",
    version,
    after_help = "Examples:\n  sudo 05-ipc\n  sudo 05-ipc -- sh -c 'cat /proc/sysvipc/msg; ls /dev/mqueue'"
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
    let args: Args = lesson::parse("05-ipc");
    lesson::main("05-ipc", args.output.quiet, || {
        let rootfs = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        // What a killed run left behind, said before anything new is made.
        leftovers::warn_if_any(&args.rootfs.state_dir);
        let host_mounts = mount::MountTable::read()?;
        let writes = demo::RootfsWatch::start(&rootfs);
        let host_names = uts::observe::HostNames::read()?;
        let host_ipc = ipc::sysv_snapshot()?;
        // Made before the child, removed when `host_objects` is dropped:
        // at the end, or on the way out of any error below.
        let host_objects = ipc::demo::HostObjects::create()?;
        host_objects.show()?;
        demo::show_host_view()?;
        let first_look = demo::first_look(args.escape, &rootfs);
        // The demo, and its look at the host's objects from inside, only
        // without a command of the learner's.
        let demo_runs = args.command.is_empty();
        let ipc_demo = ipc::demo::demo_script(host_objects.key());
        let command = demo::or_demo(args.command, &[&first_look, &ipc_demo]);
        let escape = demo::Escape::prepare(&rootfs)?;
        // ANCHOR: run
        let spec = Spec {
            namespaces: vec![
                Namespace::Pid,
                Namespace::Mnt,
                Namespace::Uts,
                Namespace::Ipc,
            ],
            root: Some(Root::pivot(rootfs.clone())),
            mounts: [&Mount::STANDARD[..], &[Mount::Mqueue]].concat(),
            names: Some(args.names.into()),
            command,
            ..Spec::default()
        };
        let hooks = Hooks {
            from_host: Some(Box::new(|child| demo::show_child(child, &spec.namespaces))),
            inside: (args.escape || demo_runs).then(|| {
                Box::new(|| {
                    if args.escape {
                        escape.attempt(true)?;
                    }
                    if demo_runs {
                        host_objects.look_from_inside()?;
                    }
                    Ok(())
                }) as _
            }),
        };
        let exit = start::run(&spec, hooks);
        // ANCHOR_END: run
        ipc::demo::show_host_after(host_objects, &host_ipc, demo_runs)?;
        uts::observe::show_host_unchanged(&host_names)?;
        mount::show_host_unchanged(&host_mounts, &rootfs, true)?;
        writes.report();
        Ok(lesson::finish(exit?))
    })
}
