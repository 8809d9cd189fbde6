//! `nslab`, the runtime: an OCI runtime with runc's command line.
//!
//! Engines do not start containers themselves: podman, containerd and
//! CRI-O call an OCI runtime binary (runc, crun) with a *bundle*, a
//! directory holding a root filesystem and a `config.json`. This module
//! tree makes `nslab` one: [`config`] fills the same [`crate::spec::Spec`]
//! the lessons fill, [`crate::start`] runs the same sequence, [`state`]
//! keeps what is needed between commands, and [`lifecycle`] is the
//! commands: `create`, `start`, `state`, `kill`, `delete`, `run`, `list`,
//! `spec`. Narration goes to `--log`, never to standard output, where
//! clients read JSON. `nslab doctor` and `nslab cleanup` are the
//! instructor's commands.

pub mod config;
pub mod exec;
pub mod hooks;
pub mod lifecycle;
pub mod state;

use crate::{doctor, leftovers, narrate, record, rootfs};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// nslab: a container runtime built one kernel facility at a time.
#[derive(Debug, Parser)]
#[command(
    name = "nslab",
    version,
    after_help = "Two tools in one, as runc and docker are two:\n  \
        the runtime (runc's commands, for an OCI bundle): create, start, state, kill, delete, \
        run --bundle DIR ID, exec ID, ps ID, list, spec, features;\n  \
        the engine (docker's, for an image): run IMAGE, ps, logs, exec NAME, stop, kill NAME, \
        rm, inspect, commit, image, images.\n\
        Where both have a command, a bundle or a runtime id makes it the runtime's."
)]
pub struct Args {
    /// Where containers' state is kept
    #[arg(long, global = true, value_name = "DIR", default_value = state::DEFAULT_ROOT)]
    root: PathBuf,

    /// Write the narration of each system call, and errors, to FILE
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,

    /// The log's format: text, or json (one record per line, as runc writes them)
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,

    /// Narrate every step into the log (without it, the log gets errors only)
    #[arg(long, global = true)]
    debug: bool,

    /// Accepted for runc compatibility; nslab manages cgroupfs paths only
    #[arg(long, global = true)]
    systemd_cgroup: bool,

    #[command(subcommand)]
    command: Command,
}

/// What went wrong in a runtime command.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A config.json field nslab does not do.
    #[error("config.json: {field} is not supported: {why}")]
    Unsupported {
        /// The field, as config.json spells it.
        field: String,
        /// Why, and what to do.
        why: String,
    },
    /// A config.json (or state file) that cannot be read.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A container id that cannot be a directory name.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// Why.
        reason: String,
    },
    /// An id already in use.
    #[error("container {id} already exists")]
    Exists {
        /// The id.
        id: String,
    },
    /// An id nothing has.
    #[error("container {id} does not exist")]
    NoSuchContainer {
        /// The id.
        id: String,
    },
    /// A command the container's status does not allow.
    #[error("container {id} is {status}: {what}")]
    WrongStatus {
        /// The id.
        id: String,
        /// Its status.
        status: state::Status,
        /// What was refused, and what to do.
        what: String,
    },
    /// Its init has exited (runc's words, which clients look for).
    #[error("container not running")]
    NotRunning,
    /// A signal by a name or number nslab does not know.
    #[error("unknown signal {0:?}: use a name (TERM, SIGKILL) or a number")]
    BadSignal(String),
    /// kill(2) failed.
    #[error("failed to send {signal} to {pid}")]
    Kill {
        /// The signal.
        signal: nix::sys::signal::Signal,
        /// The process.
        pid: i32,
        /// The kernel's answer.
        #[source]
        source: nix::errno::Errno,
    },
    /// The start sequence failed (in the runtime or in the container's
    /// init, which reported it back before its program ran).
    #[error("the container could not be set up: {0}")]
    Start(String),
    /// A hook failed.
    #[error("the {point} hook {} failed: {why}", path.display())]
    Hook {
        /// The hook point.
        point: String,
        /// Its program.
        path: PathBuf,
        /// What happened.
        why: String,
    },
    /// `exec` could not start its process in the container.
    #[error("exec failed: {0}")]
    Exec(String),
    /// From making the terminal.
    #[error(transparent)]
    Terminal(#[from] crate::terminal::TerminalError),
    /// `start` found no init waiting on the FIFO.
    #[error("the container's init did not take the start signal")]
    StartTimedOut,
    /// A file of the runtime's own state.
    #[error("failed to {step} {}", path.display())]
    File {
        /// What was being done.
        step: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A flag nslab accepts for runc's sake but does not do.
    #[error("{flag} is not supported: {why}")]
    UnsupportedFlag {
        /// The flag.
        flag: &'static str,
        /// Why.
        why: &'static str,
    },
    /// Arguments that do not fit together.
    #[error("{0}")]
    Usage(String),
    /// From the spec check.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// From the sysctl check.
    #[error(transparent)]
    Sysctl(#[from] crate::sysctl::SysctlError),
}

impl RuntimeError {
    /// Advice, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            RuntimeError::Exists { id } => Some(format!(
                "`nslab delete {id}` removes the old one, or choose another id"
            )),
            RuntimeError::NoSuchContainer { .. } => {
                Some("`nslab list` shows the runtime's containers under this --root, `nslab ps -a` the engine's".into())
            }
            RuntimeError::Unsupported { .. } => Some(
                "edit config.json (`nslab spec` writes one nslab runs), or use runc for this container".into(),
            ),
            _ => None,
        }
    }
}

/// `nslab exec`'s arguments: runc's, and docker's `-i` and `-w`.
#[derive(Debug, clap::Args)]
struct ExecArgs {
    /// The process to run, as an OCI process JSON file
    #[arg(long, short, value_name = "FILE")]
    process: Option<PathBuf>,
    /// Write its pid here
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Return once it runs, instead of waiting for it
    #[arg(long, short)]
    detach: bool,
    /// Give it a new terminal: relayed to yours for an engine container, else sent to --console-socket
    #[arg(long, short)]
    tty: bool,
    /// The unix socket to send the new terminal's master to
    #[arg(long, value_name = "SOCKET")]
    console_socket: Option<PathBuf>,
    /// More NAME=value for its environment; repeat for more
    #[arg(long, short, value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Its working directory inside
    #[arg(long, short = 'w', alias = "workdir", value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Accepted for docker's sake: standard input is passed on anyway
    #[arg(long, short = 'i')]
    interactive: bool,
    /// The container's id (the runtime's), or an engine container's name or id
    id: String,
    /// The command, when there is no --process
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl ExecArgs {
    /// The runtime's request.
    fn request(self) -> exec::ExecRequest {
        exec::ExecRequest {
            process_file: self.process,
            args: self.args,
            env: self.env,
            cwd: self.cwd,
            detach: self.detach,
            pid_file: self.pid_file,
            tty: self.tty,
            console_socket: self.console_socket,
            console_size: None,
        }
    }
}

/// `nslab image …`.
#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Import a docker export or docker save tarball, or an OCI image layout
    Import {
        /// The tarball, or the OCI layout's directory
        file: PathBuf,
        /// Its NAME[:TAG]
        name: Option<String>,
    },
    /// List the images
    #[command(alias = "list")]
    Ls,
    /// Remove images (refused while a container uses one)
    Rm {
        /// NAME[:TAG] or id
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a container from a bundle: set up, its process waiting for `start`
    Create {
        /// The bundle: a directory with config.json and the root filesystem
        #[arg(long, short, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
        /// Write the container's pid here, once it is ready
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// With process.terminal: the unix socket to send the new terminal's master to
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        /// Use chroot instead of pivot_root (not supported: pivot_root always)
        #[arg(long)]
        no_pivot: bool,
        /// Accepted for runc compatibility: nslab makes no session keyring
        #[arg(long)]
        no_new_keyring: bool,
        /// Pass this many descriptors after 0, 1, 2 to the container (only 0 so far)
        #[arg(long, value_name = "N", default_value_t = 0)]
        preserve_fds: u32,
        /// The container's id
        id: String,
    },
    /// Let a created container's process run
    Start {
        /// The container's id
        id: String,
    },
    /// Print a container's state as OCI JSON
    State {
        /// The container's id
        id: String,
    },
    /// Send a signal to a container's process (TERM unless given)
    Kill {
        /// Send it to every process of the container (its cgroup)
        #[arg(long, short)]
        all: bool,
        /// The container's id
        id: String,
        /// The signal: a name (TERM, SIGKILL) or a number
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Remove a stopped container (--force: kill it first)
    Delete {
        /// Kill it if it still runs
        #[arg(long, short)]
        force: bool,
        /// The container's id
        id: String,
    },
    /// Run a container: `run IMAGE [CMD…]` (the engine's, docker's flags) or `run --bundle DIR ID` (the runtime's, runc's)
    ///
    /// With an image, the engine makes the container (its overlay root, a
    /// config.json) and runs it, here or with -d under a monitor. With
    /// --bundle, the runtime creates, starts and waits for the bundle's
    /// container, and exits with its status.
    Run {
        /// The runtime's form: the bundle (a directory with config.json and the root filesystem)
        #[arg(long, short, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// The runtime's form: write the container's pid here
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        #[command(flatten)]
        engine: crate::engine::cli::RunArgs,
        /// IMAGE [CMD]..., or with --bundle the container's ID
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "IMAGE [CMD]..."
        )]
        args: Vec<String>,
    },
    /// List the containers under --root
    List {
        /// table, or json
        #[arg(long, short, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Run one more process in a running container
    Exec(ExecArgs),
    /// `ps ID`: a container's processes (the runtime's); `ps [-a]`: the engine's containers
    Ps {
        /// table, or json (an array of pids, as containerd's shim reads it)
        #[arg(long, short, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// The engine's containers that have ended too
        #[arg(long, short)]
        all: bool,
        /// Only the engine's containers' ids (`nslab rm -f $(nslab ps -aq)`)
        #[arg(long, short)]
        quiet: bool,
        /// The container's id (the runtime's); without it, the engine's list
        id: Option<String>,
    },
    /// Print what a container run with -d wrote (-f: and follow it)
    Logs {
        /// Keep printing what it writes, until it ends
        #[arg(long, short)]
        follow: bool,
        /// The container's name or id
        name: String,
    },
    /// Stop containers: SIGTERM, then SIGKILL after the grace period
    Stop {
        /// Seconds to wait after SIGTERM
        #[arg(long = "time", short = 't', default_value_t = 10)]
        time: u64,
        /// The containers' names or ids
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove containers (-f: kill running ones first)
    Rm {
        /// Kill it first if it runs
        #[arg(long, short)]
        force: bool,
        /// The containers' names or ids
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Print an engine container's record and state as JSON
    Inspect {
        /// The container's name or id
        name: String,
    },
    /// Make an image of a container's own layer, on top of its image
    Commit {
        /// The container's name or id
        name: String,
        /// The new image's NAME[:TAG]
        image: Option<String>,
    },
    /// Import, list and remove images
    #[command(subcommand)]
    Image(ImageCommand),
    /// List images (as `image ls`)
    Images,
    /// Print what this runtime supports, as the OCI features JSON
    Features,
    /// Write a default config.json (runc's shape) into the bundle
    Spec {
        /// The bundle directory
        #[arg(long, short, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
    },
    /// Check which lessons this machine can run, and how to fix the rest
    ///
    /// Probes each kernel facility the lessons use (root, every namespace
    /// kind, the user-namespace sysctls, overlayfs, cgroup v1/v2/hybrid and
    /// its controllers, the rootfs source) by trying it, never by kernel
    /// version. Exits 0 when every lesson can run here, 1 otherwise. Runs
    /// without root too: it then says what it could not test.
    Doctor,
    /// Find and remove what a killed lesson left behind
    ///
    /// Lists the mounts under the state directory, System V IPC objects
    /// and POSIX queues of lessons that are no longer running, `.old-root`
    /// and escape directories in the rootfs, and half-built rootfs staging
    /// directories; then removes them, unmounting before removing, never
    /// walking through a mount point. For lesson 06, it also lists the
    /// container records and address leases under the run directory whose
    /// lesson is gone, and, in this network namespace, the bridge nslab0
    /// and the veth ends nslab<N>h that no running lesson uses (judged by
    /// the leases under the run directory, under their lock: give the one
    /// the lessons used), and that lock and lease directory once no lease
    /// is left.
    Cleanup {
        /// Only list what would be removed
        #[arg(long)]
        dry_run: bool,

        /// Also remove the default rootfs (and lesson 07's copies of it), so that the next lesson rebuilds it
        #[arg(long)]
        rootfs: bool,

        /// Where nslab keeps its state
        #[arg(long, value_name = "DIR", env = "NSLAB_STATE_DIR", default_value = rootfs::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,

        /// Where lesson 06 records running containers and leases addresses
        #[arg(long, value_name = "DIR", env = record::RUN_DIR_ENV, default_value = record::DEFAULT_RUN_DIR)]
        run_dir: PathBuf,
    },
}

/// The `nslab` binary's `main`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let command = match args.command {
        Command::Doctor => {
            narrate::init(false);
            return doctor::main();
        }
        Command::Cleanup {
            dry_run,
            rootfs: remove_rootfs,
            state_dir,
            run_dir,
        } => {
            narrate::init(false);
            let mut code = leftovers::cleanup(&state_dir, &run_dir, dry_run);
            if remove_rootfs && code == 0 {
                code = remove_default_rootfs(&state_dir, dry_run);
            }
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
        other => other,
    };
    let log = lifecycle::Log::open(args.log.as_deref(), &args.log_format, args.debug);
    let root = std::path::absolute(&args.root).unwrap_or(args.root);
    let command = match engine_command(command, &root) {
        Ok(result) => return finish_engine(&log, result),
        Err(runtime_command) => *runtime_command,
    };
    let result = match command {
        Command::Create {
            bundle,
            pid_file,
            console_socket,
            no_pivot,
            no_new_keyring: _,
            preserve_fds,
            id,
        } => {
            if no_pivot {
                Err(RuntimeError::UnsupportedFlag {
                    flag: "--no-pivot",
                    why: "nslab always enters the root with pivot_root",
                })
            } else if preserve_fds > 0 {
                Err(RuntimeError::UnsupportedFlag {
                    flag: "--preserve-fds",
                    why: "nslab passes only 0, 1 and 2",
                })
            } else {
                lifecycle::create(
                    &root,
                    &id,
                    &bundle,
                    pid_file.as_deref(),
                    console_socket.as_deref(),
                )
                .map(|()| 0)
            }
        }
        Command::Start { id } => lifecycle::start(&root, &id).map(|()| 0),
        Command::State { id } => lifecycle::state(&root, &id).map(|()| 0),
        Command::Kill { all, id, signal } => lifecycle::kill(&root, &id, &signal, all).map(|()| 0),
        Command::Delete { force, id } => lifecycle::delete(&root, &id, force).map(|()| 0),
        Command::Run {
            bundle,
            pid_file,
            engine,
            args,
        } => match (engine.engine_flag(), args.as_slice()) {
            (Some(flag), _) => Err(RuntimeError::Usage(format!(
                "{flag} is the engine's (`nslab run {flag} IMAGE`), not for a bundle's run"
            ))),
            (None, [id]) => lifecycle::run(
                &root,
                id,
                bundle.as_deref().unwrap_or(std::path::Path::new(".")),
                pid_file.as_deref(),
            ),
            (None, _) => Err(RuntimeError::Usage(
                "with --bundle, give one container id: `nslab run --bundle DIR ID`".into(),
            )),
        },
        Command::List { format } => lifecycle::list(&root, &format).map(|()| 0),
        Command::Spec { bundle } => lifecycle::spec(&bundle).map(|()| 0),
        Command::Ps { format, id, .. } => {
            lifecycle::ps(&root, id.as_deref().unwrap_or_default(), &format).map(|()| 0)
        }
        Command::Exec(args) => {
            let id = args.id.clone();
            exec::exec(&root, &id, &args.request())
        }
        Command::Features => {
            println!("{}", lifecycle::features());
            Ok(0)
        }
        Command::Doctor | Command::Cleanup { .. } => unreachable!("handled above"),
        Command::Logs { .. }
        | Command::Stop { .. }
        | Command::Rm { .. }
        | Command::Inspect { .. }
        | Command::Commit { .. }
        | Command::Image(_)
        | Command::Images => unreachable!("the engine's, run by engine_command"),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)),
        Err(error) => {
            log.error(&error);
            ExitCode::FAILURE
        }
    }
}

/// The engine's commands, and the runtime's commands that name an engine
/// container (by name, or by an id the runtime does not know), run here;
/// the runtime's are handed back.
fn engine_command(
    command: Command,
    root: &std::path::Path,
) -> Result<Result<i32, crate::engine::EngineError>, Box<Command>> {
    use crate::engine::{commands, Engine};
    let engine = Engine::from_env(root);
    // A runtime id wins: containerd and podman name their own containers.
    // An id neither knows gets the runtime's error ("container ID does
    // not exist"), which containerd's shim looks for.
    let for_engine = |id: &str| {
        state::Record::load(root, id).is_err()
            && crate::engine::container::resolve(&engine, id).is_ok()
    };
    if matches!(
        command,
        Command::Ps { id: None, .. }
            | Command::Logs { .. }
            | Command::Inspect { .. }
            | Command::Images
            | Command::Image(ImageCommand::Ls)
    ) {
        // A listing piped into `head` ends quietly when head has read
        // enough, as ls does: SIGPIPE's default action (Rust ignores it,
        // and would panic on the failed write instead). signal(7).
        // SAFETY: no handler is installed, only the default restored.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let needs_root = match &command {
        Command::Run { bundle: None, .. } => Some("run"),
        Command::Stop { .. } => Some("stop"),
        Command::Rm { .. } => Some("rm"),
        Command::Commit { .. } => Some("commit"),
        Command::Image(ImageCommand::Import { .. }) => Some("image import"),
        Command::Image(ImageCommand::Rm { .. }) => Some("image rm"),
        _ => None,
    };
    if let Some(what) = needs_root {
        if let Err(error) = crate::engine::require_root(what) {
            return Ok(Err(error));
        }
    }
    Ok(match command {
        Command::Run {
            bundle: None,
            pid_file: None,
            engine: flags,
            args,
        } => flags
            .request(args)
            .and_then(|request| commands::run(&engine, request)),
        Command::Ps {
            id: None,
            all,
            quiet,
            ..
        } => commands::ps(&engine, all, quiet),
        Command::Ps {
            id: Some(id),
            format,
            ..
        } if for_engine(&id) => crate::engine::container::resolve(&engine, &id).and_then(|c| {
            lifecycle::ps(root, &c.id, &format)
                .map(|()| 0)
                .map_err(Into::into)
        }),
        Command::Kill { id, signal, all: _ } if for_engine(&id) => {
            commands::kill(&engine, &id, &signal)
        }
        Command::Exec(args) if for_engine(&args.id) => {
            let id = args.id.clone();
            commands::exec(&engine, &id, args.request())
        }
        Command::Logs { follow, name } => commands::logs(&engine, &name, follow),
        Command::Stop { time, names } => commands::stop(&engine, &names, time),
        Command::Rm { force, names } => commands::rm(&engine, &names, force),
        Command::Inspect { name } => commands::inspect(&engine, &name),
        Command::Commit { name, image } => commands::commit(&engine, &name, image.as_deref()),
        Command::Images | Command::Image(ImageCommand::Ls) => commands::image_ls(&engine),
        Command::Image(ImageCommand::Import { file, name }) => {
            commands::image_import(&engine, &file, name.as_deref())
        }
        Command::Image(ImageCommand::Rm { names }) => commands::image_rm(&engine, &names),
        other => return Err(Box::new(other)),
    })
}

/// Reports an engine command's error, and turns its result into an exit
/// code.
fn finish_engine(
    log: &lifecycle::Log,
    result: Result<i32, crate::engine::EngineError>,
) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)),
        Err(crate::engine::EngineError::Runtime(error)) => {
            log.error(&error);
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("nslab: {}", crate::engine::describe_without_hint(&error));
            if let Some(hint) = error.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Removes the default rootfs with [`rootfs::remove_tree`], which refuses
/// to walk through a mount point or a tree a process still uses as its root.
fn remove_default_rootfs(state_dir: &std::path::Path, dry_run: bool) -> i32 {
    // The default rootfs, the copies lesson 07 made of it for a user
    // namespace's root (rootfs-UID-GID), which would outlive a rebuild, and
    // lesson 11's layer of its escape corpus (layer-escapes-…).
    let mut trees = vec![state_dir.join(rootfs::ROOTFS_DIR)];
    if let Ok(entries) = std::fs::read_dir(state_dir) {
        let mut copies: Vec<_> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                let name = path.file_name().and_then(|name| name.to_str());
                if name.is_some_and(|name| name.starts_with(crate::lockdown::kit::PREFIX)) {
                    return true;
                }
                name.and_then(|name| name.strip_prefix("rootfs-"))
                    .is_some_and(|ids| {
                        ids.split_once('-').is_some_and(|(uid, gid)| {
                            uid.parse::<u32>().is_ok() && gid.parse::<u32>().is_ok()
                        })
                    })
            })
            .collect();
        copies.sort();
        trees.extend(copies);
    }
    let mut code = 0;
    for tree in trees.into_iter().filter(|tree| tree.exists()) {
        narrate::warning(format!("a rootfs: {}", tree.display()));
        if dry_run {
            continue;
        }
        narrate::file_op(format!(
            "remove {}   # never crossing a mount point",
            tree.display()
        ));
        match rootfs::remove_tree(&tree) {
            Ok(()) => narrate::success("removed: the next lesson builds it again"),
            Err(error) => {
                crate::report::print_error(&crate::Error::from(error));
                code = 1;
            }
        }
    }
    code
}
