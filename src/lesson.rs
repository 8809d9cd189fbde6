//! What every lesson binary shares: its common options, its command line
//! completed from the [`manifest`], the root check, and a `main` that
//! prints errors and passes the command's exit status on.

use crate::manifest::{self, Lesson};
use crate::{narrate, process::Exit, report, rootfs, signals, Error};
use clap::{Args, CommandFactory, FromArgMatches};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options every lesson has.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print only the command's own output, not the narration of each system call
    #[arg(short, long)]
    pub quiet: bool,
}

/// Options of the lessons that run the command in a root filesystem.
#[derive(Debug, Args)]
pub struct RootfsArgs {
    /// Use DIR as the container's root filesystem instead of the default one
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,

    /// Where nslab keeps its state; the default rootfs is built in DIR/rootfs on first use
    #[arg(long, value_name = "DIR", env = "NSLAB_STATE_DIR", default_value_os_t = rootfs::default_state_dir())]
    pub state_dir: PathBuf,
}

/// Parses the command line of lesson `binary`, whose `--help` ends with
/// the manifest's "Next:" line.
pub fn parse<A: CommandFactory + FromArgMatches>(binary: &str) -> A {
    let lesson = manifest::lesson(binary);
    let command = A::command();
    let examples = command
        .get_after_help()
        .map(|help| format!("{help}\n\n"))
        .unwrap_or_default();
    let command = command.after_help(format!("{examples}Next: {}", lesson.next));
    let matches = command.get_matches();
    A::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// Fails with [`Error::NotRoot`] if `lesson` needs root and the effective
/// user is not root.
pub fn require_root(lesson: &Lesson) -> Result<(), Error> {
    match lesson.why_root {
        Some(_) if lesson.runs_rootless() => Ok(()),
        Some(why) if !nix::unistd::geteuid().is_root() => Err(Error::NotRoot {
            lesson: lesson.binary.to_string(),
            why,
        }),
        _ => Ok(()),
    }
}

/// Narrates the status the lesson passes on, and returns it.
pub fn finish(exit: Exit) -> i32 {
    narrate::explain(format!(
        "the lesson exits with the command's status: {}",
        exit.status()
    ));
    exit.status()
}

/// Runs the body of lesson `binary`: sets up narration, checks for root,
/// blocks the signals the lesson will pass on to its container, then runs
/// `body`, prints any error with its causes and a hint, and exits with the
/// command's own status.
pub fn main(binary: &str, quiet: bool, body: impl FnOnce() -> Result<i32, Error>) -> ExitCode {
    narrate::init(quiet);
    let lesson = manifest::lesson(binary);
    let run = || -> Result<i32, Error> {
        require_root(lesson)?;
        // Before anything that needs cleaning up exists: from here on a
        // SIGTERM waits until the lesson can act on it.
        signals::block_for_lesson().map_err(|source| crate::process::ProcessError::Signals {
            step: "block the signals the lesson passes on",
            source,
        })?;
        body()
    };
    let status = match run() {
        Ok(status) => status,
        Err(error) => {
            report::print_error(&error);
            error.exit_code()
        }
    };
    ExitCode::from(u8::try_from(status).unwrap_or(u8::MAX))
}
