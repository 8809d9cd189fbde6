//! # Lesson 11: lockdown, what root inside no longer has
//!
//! **What you will learn.** Without a user namespace, root in lessons
//! 03–10 is the host's root in a smaller room: it can make a node for the
//! host's disk, write the host's kernel settings, open files by inode past
//! its root. Production runtimes close those doors with five more layers,
//! each one step at the end of the start sequence: masked and read-only
//! paths, a device cgroup, capabilities, no_new_privs, and a seccomp
//! filter; and the order of those steps is forced by the kernel.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/11-lockdown               # the escapes, before and after, as a table
//! sudo target/debug/11-lockdown --unlocked    # lesson 10's settings: every door open
//! sudo target/debug/11-lockdown -- sh         # a locked-down shell to try things in
//! ```
//!
//! **Look for.** The lockdown's steps after the mounts: the masks, the
//! capability drop, `PR_SET_NO_NEW_PRIVS`, the filter just before
//! `execve`; `CapEff` inside, before and after; the table.
//!
//! **Next.** Lesson 12 is the runtime: the same start sequence, driven by
//! an OCI bundle.

use clap::Parser;
use nslab::cgroup::limits::LimitArgs;
use nslab::lockdown::capabilities::{self, Capabilities};
use nslab::lockdown::{escapes, kit, Lockdown};
use nslab::namespace::Namespace;
use nslab::overlay::layers::{self, ContainerLayers};
use nslab::spec::{Mount, Root, Spec};
use nslab::start::{self, Hooks};
use nslab::{leftovers, lesson, narrate, net, rootfs, uts, Error};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Lesson 11: lesson 10, locked down.
///
/// Lesson 10's container, with what production runtimes take away from
/// root inside: masked and read-only paths, a device cgroup, docker's
/// capabilities, no_new_privs and a seccomp filter. Without a command,
/// the same escape attempts run in lesson 10's container and in this
/// one, and the lesson prints them side by side.
#[derive(Debug, Parser)]
#[command(
    name = "11-lockdown",
    version,
    after_help = "Examples:\n  sudo 11-lockdown\n  sudo 11-lockdown --unlocked\n  sudo 11-lockdown --cap-add net_admin -- ip addr add 10.1.2.3/32 dev lo\n  sudo 11-lockdown --seccomp unconfined -- unshare -U id"
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
    limits: LimitArgs,

    /// Keep a capability docker's default drops (net_admin, CAP_SYS_TIME, ALL…); repeat for more
    #[arg(long = "cap-add", value_name = "CAP", value_parser = capabilities::check_name)]
    cap_add: Vec<String>,

    /// Drop a capability docker's default keeps (chown, ALL…); repeat for more
    #[arg(long = "cap-drop", value_name = "CAP", value_parser = capabilities::check_name)]
    cap_drop: Vec<String>,

    /// The seccomp filter: default, or unconfined for none
    #[arg(long, value_name = "PROFILE", default_value = "default", value_parser = ["default", "unconfined"])]
    seccomp: String,

    /// No lockdown at all: lesson 10's settings, to compare
    #[arg(long)]
    unlocked: bool,

    /// The command to run instead of the demo; put it after `--`
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    // Inside the container, this same program is the escape corpus.
    if let Some(code) = escapes::run_if_called_so() {
        return code;
    }
    let args: Args = lesson::parse("11-lockdown");
    lesson::main("11-lockdown", args.output.quiet, || {
        // Every name and limit checked before anything exists.
        let capabilities = Capabilities::from_flags(&args.cap_add, &args.cap_drop)?;
        let lockdown = Lockdown {
            capabilities,
            seccomp: args.seccomp == "default",
            ..Lockdown::default()
        };
        let limits = args.limits.limits();
        let hierarchy = nslab::cgroup::group::Hierarchy::detect()?;
        nslab::cgroup::group::setup_plan(&hierarchy, "check", &limits)?;
        let demo = args.command.is_empty();
        if demo && !args.network.net.creates_namespace() {
            // The corpus remounts /sys, which is the host's with its network.
            return Err(nslab::lockdown::LockdownError::DemoNetwork {
                network: args.network.net.to_string(),
            }
            .into());
        }
        // The layers live under the state directory: a path overlayfs
        // cannot take is refused before anything is built there.
        nslab::overlay::check_state_dir(
            &std::path::absolute(&args.rootfs.state_dir).unwrap_or_default(),
        )?;
        let base = rootfs::prepare(&args.rootfs.state_dir, args.rootfs.rootfs.as_deref())?;
        leftovers::warn_if_any(&args.rootfs.state_dir);
        leftovers::warn_if_any_network(&args.network.run_dir());
        let corpus = kit::prepare(&args.rootfs.state_dir)?;
        let image = vec![corpus.clone(), layers::top_layer(&base)?, base.clone()];
        let run = |locked: Option<&Lockdown>, command: Vec<String>| {
            run_one(&args, &image, &corpus, locked, command)
        };
        if !demo {
            let locked = (!args.unlocked).then_some(&lockdown);
            let (exit, _) = run(locked, args.command.clone())?;
            return Ok(lesson::finish(exit?));
        }
        let corpus_command = vec![kit::PROGRAM.to_string()];
        // ANCHOR: demo
        narrate::heading("lesson 10's container: the escapes, every door open");
        narrate::explain("set up as lesson 10 narrates it (not repeated here), with the corpus's layer and a read-only volume");
        // Lesson 10's narration, not repeated; the corpus's own lines are
        // the container's output, and still show.
        narrate::init(true);
        let first = run(None, corpus_command.clone());
        narrate::init(args.output.quiet);
        let (exit, before) = first?;
        let exit = exit?;
        if args.unlocked {
            return Ok(lesson::finish(exit));
        }
        narrate::heading("lesson 11's container: the same escapes, locked down");
        let (exit, after) = run(Some(&lockdown), corpus_command)?;
        let exit = exit?;
        escapes::print_table(before.as_ref(), after.as_ref(), &corpus);
        // ANCHOR_END: demo
        Ok(lesson::finish(exit))
    })
}

/// One container: lesson 10's, with the corpus's layer, lent as a
/// read-only volume too, and `lockdown` if given. Returns how it ended
/// and the corpus's report, if it left one.
fn run_one(
    args: &Args,
    image: &[PathBuf],
    corpus: &Path,
    lockdown: Option<&Lockdown>,
    command: Vec<String>,
) -> Result<(Result<nslab::process::Exit, Error>, Option<escapes::Report>), Error> {
    let container = ContainerLayers::create(&args.rootfs.state_dir, false)?;
    let lower: Vec<PathBuf> = std::iter::once(container.init())
        .chain(image.iter().cloned())
        .collect();
    let overlay = container.overlay(lower, false);
    overlay.options()?;
    let mut limits = args.limits.limits();
    // The device cgroup is part of the lockdown.
    limits.devices = lockdown.map(|_| nslab::cgroup::devices::DEFAULT_ALLOWED.to_vec());
    let network = args.network.net.clone();
    let mut namespaces = vec![
        Namespace::Pid,
        Namespace::Mnt,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Cgroup,
    ];
    if network.creates_namespace() {
        namespaces.push(Namespace::Net);
    }
    let volume = Mount::Bind {
        source: corpus.to_path_buf(),
        target: PathBuf::from(escapes::VOLUME),
        read_only: true,
    };
    let spec = Spec {
        namespaces,
        root: Some(Root::pivot(container.merged())),
        overlay: Some(overlay),
        init_layer: Some(container.init()),
        mounts: [&Mount::STANDARD[..], &[Mount::Mqueue, volume]].concat(),
        names: Some(args.names.clone().into()),
        limits: Some(limits),
        user: None,
        network: Some(network),
        name: args.network.name.clone(),
        run_dir: Some(args.network.run_dir()),
        lockdown: lockdown.cloned(),
        command,
        ..Spec::default()
    };
    let exit = start::run(&spec, Hooks::default());
    let report = escapes::read_report(&container.upper());
    drop(container);
    Ok((exit, report))
}
