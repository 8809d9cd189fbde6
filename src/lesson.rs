//! What every lesson binary shares: its common options, the root check,
//! and a `main` that prints errors and passes the command's exit status on.

use crate::{narrate, process::Exit, report, rootfs, Error};
use clap::Args;
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
    #[arg(long, value_name = "DIR", env = "NSLAB_STATE_DIR", default_value = rootfs::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
}

/// Fails with [`Error::NotRoot`] unless the effective user is root.
///
/// `why` completes "LESSON needs root: it …" for the error message.
pub fn require_root(lesson: &str, why: &'static str) -> Result<(), Error> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(Error::NotRoot {
            lesson: lesson.to_string(),
            why,
        })
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

/// Runs a lesson's body: sets up narration, prints any error with its
/// causes and a hint, and exits with the command's own status.
pub fn main(quiet: bool, body: impl FnOnce() -> Result<i32, Error>) -> ExitCode {
    narrate::init(quiet);
    let status = match body() {
        Ok(status) => status,
        Err(error) => {
            report::print_error(&error);
            error.exit_code()
        }
    };
    ExitCode::from(u8::try_from(status).unwrap_or(u8::MAX))
}
