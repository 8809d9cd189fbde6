//! The engine: a small docker above nslab's own runtime (lesson 12, part 2).
//!
//! Docker's engine does not start containers itself: it turns an image and
//! a command line into an OCI bundle (a root filesystem and a
//! `config.json`) and hands the bundle to runc. This module tree does the
//! same with [`crate::runtime`]:
//!
//! | module | what it does | the lesson it stands on |
//! |---|---|---|
//! | [`image`] | images as content-addressed layers; import, commit | 09 (layers, whiteouts) |
//! | [`container`] | one container's record, name and directory | 06 (names, records) |
//! | [`bundle`] | `config.json` written from the image and the flags | 12 (the runtime's config) |
//! | [`monitor`] | the process that runs a container and outlives `nslab run -d` | 00 (wait), 06 (the network) |
//! | [`proxy`] | `-p`: a host port forwarded to the container's | 06 (the bridge) |
//! | [`console`] | `-t`: the container's terminal, relayed to ours | 12 (the console socket) |
//! | [`commands`] | `run`, `ps`, `logs`, `exec`, `stop`, `kill`, `rm`, `inspect`, `commit` | all of them |
//!
//! State lives in two places, as docker's does: images and containers
//! (their layers, configs and logs) under the state directory
//! (`/var/lib/nslab`, `NSLAB_STATE_DIR`), which survives a reboot; the
//! runtime's records under its `--root` (`/run/nslab`), which does not.

pub mod bundle;
pub mod cli;
pub mod commands;
pub mod console;
pub mod container;
pub mod image;
pub mod monitor;
pub mod proxy;

use std::path::{Path, PathBuf};

/// Where the engine keeps things.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The state directory: images, and the containers' directories.
    pub state_dir: PathBuf,
    /// The runtime's `--root`: its record of each running container.
    pub root: PathBuf,
    /// Lesson 06's run directory: the bridge's address leases.
    pub run_dir: PathBuf,
}

impl Engine {
    /// The engine over `root` (the runtime's), with the state directory
    /// and run directory from the environment (`NSLAB_STATE_DIR`,
    /// `NSLAB_RUN_DIR`) or their defaults, made absolute.
    pub fn from_env(root: &Path) -> Engine {
        let state_dir = std::env::var_os("NSLAB_STATE_DIR")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(crate::rootfs::default_state_dir);
        let run_dir = std::env::var_os(crate::record::RUN_DIR_ENV)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(crate::record::default_run_dir);
        let absolute = |path: PathBuf| std::path::absolute(&path).unwrap_or(path);
        Engine {
            state_dir: absolute(state_dir),
            root: absolute(root.to_path_buf()),
            run_dir: absolute(run_dir),
        }
    }

    /// The directory of every container: `<state>/containers`.
    pub fn containers_dir(&self) -> PathBuf {
        self.state_dir.join("containers")
    }
}

/// What can go wrong in an engine command.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// From the image store.
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// From the runtime, which runs every container.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// A file or directory step failed.
    #[error("failed to {step} {}", path.display())]
    File {
        /// The step.
        step: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No container has that name or id.
    #[error("no container named {0:?}")]
    NoSuchContainer(String),
    /// An id prefix that fits more than one container.
    #[error("{prefix:?} is the start of more than one container's id: {ids}")]
    Ambiguous {
        /// What was typed.
        prefix: String,
        /// The ids it fits.
        ids: String,
    },
    /// The name is taken.
    #[error("the name {name:?} is already used by container {id}")]
    NameInUse {
        /// The name.
        name: String,
        /// Who has it.
        id: String,
    },
    /// A flag's value that cannot be used.
    #[error("{flag} {value:?}: {reason}")]
    BadFlag {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
        /// Why, and what to write instead.
        reason: String,
    },
    /// The container is not in a state the command can act on.
    #[error("container {name} is {status}: {what}")]
    WrongStatus {
        /// Its name.
        name: String,
        /// Its status.
        status: String,
        /// What the command needed.
        what: String,
    },
    /// The root filesystem's overlay could not be mounted.
    #[error(transparent)]
    Overlay(#[from] crate::overlay::OverlayError),
    /// The init layer could not be written.
    #[error(transparent)]
    InitLayer(#[from] crate::init_layer::InitLayerError),
    /// The network could not be set up.
    #[error(transparent)]
    Network(#[from] crate::net::NetError),
    /// A port could not be published.
    #[error(transparent)]
    Proxy(#[from] proxy::ProxyError),
    /// A step of running the container failed: the monitor's word that
    /// it did not start, a pipe, a fork, its terminal.
    #[error("the container did not start: {0}")]
    Monitor(String),
    /// A command that changes the host, run without root.
    #[error("nslab {command} needs root: it mounts, makes namespaces and cgroups, and writes files owned by other users")]
    NeedsRoot {
        /// The command.
        command: &'static str,
    },
    /// A mount step (the root's overlay) failed.
    #[error("failed to {step} {}", path.display())]
    Mount {
        /// The step.
        step: &'static str,
        /// The mount point.
        path: PathBuf,
        /// Why.
        #[source]
        source: nix::errno::Errno,
    },
}

impl EngineError {
    /// Advice, where there is some.
    pub fn hint(&self) -> Option<String> {
        match self {
            EngineError::Image(error) => error.hint(),
            EngineError::Runtime(error) => error.hint(),
            EngineError::Overlay(error) => error.hint(),
            EngineError::Network(error) => error.hint(),
            EngineError::Proxy(error) => error.hint(),
            EngineError::InitLayer(error) => error.hint(),
            EngineError::NeedsRoot { .. } => {
                Some("run it with sudo (the lessons 07-10 run rootless; the engine does not)".into())
            }
            EngineError::NoSuchContainer(_) => {
                Some("`nslab ps -a` lists the containers, by name and id".into())
            }
            EngineError::NameInUse { name, .. } => Some(format!(
                "`nslab rm {name}` frees the name, or choose another with --name"
            )),
            EngineError::WrongStatus { name, status, .. } if status == "created" => Some(format!(
                "it is starting: wait a moment, or `nslab rm -f {name}` stops its start and removes it"
            )),
            EngineError::WrongStatus { name, status, .. } if status == "running" => Some(format!(
                "`nslab stop {name}` stops it first, or `nslab rm -f {name}` kills and removes it"
            )),
            _ => None,
        }
    }
}

/// `error` in one line: its message, its causes, and its hint.
pub fn describe(error: &EngineError) -> String {
    let mut line = describe_without_hint(error);
    if let Some(hint) = error.hint() {
        line.push_str(&format!(" (hint: {hint})"));
    }
    line
}

/// `error` in one line: its message and its causes.
pub fn describe_without_hint(error: &EngineError) -> String {
    let mut chain = vec![error.to_string()];
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !chain.iter().any(|c| c.contains(&text)) {
            chain.push(text);
        }
        cause = inner.source();
    }
    chain.join(": ")
}

/// Refuses `command` without root, before it makes anything.
pub fn require_root(command: &'static str) -> Result<(), EngineError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(EngineError::NeedsRoot { command })
    }
}
