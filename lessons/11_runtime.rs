//! # Lesson 11: `nslab`, the runtime
//!
//! This binary grows, lesson by lesson, into a full OCI runtime. For now it
//! has one subcommand, `nslab doctor`, which tells you which lessons this
//! machine can run, and how to fix the ones it cannot.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/nslab doctor
//! ```

use clap::{Parser, Subcommand};
use nslab::{doctor, narrate};
use std::process::ExitCode;

/// nslab: a container runtime built one kernel facility at a time.
#[derive(Debug, Parser)]
#[command(name = "nslab", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check which lessons this machine can run, and how to fix the rest
    ///
    /// Probes each kernel facility the lessons use (root, every namespace
    /// kind, the user-namespace sysctls, overlayfs, cgroup v1/v2/hybrid and
    /// its controllers, the rootfs source) by trying it, never by kernel
    /// version. Exits 0 when every lesson can run here, 1 otherwise. Runs
    /// without root too: it then says what it could not test.
    Doctor,
}

fn main() -> ExitCode {
    let args = Args::parse();
    narrate::init(false);
    match args.command {
        Command::Doctor => doctor::main(),
    }
}
