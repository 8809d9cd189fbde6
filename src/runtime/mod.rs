//! `nslab`, the runtime: its command line.
//!
//! This module tree grows into an OCI runtime (lesson 12): the spec read
//! from a bundle's `config.json`, container state under `--root`, and the
//! lifecycle commands real engines call (`create`, `start`, `state`,
//! `kill`, `delete`). It will fill the same [`crate::spec::Spec`] the
//! lessons fill and run the same [`crate::start`] sequence. For now it has
//! the machine-level commands an instructor needs: `nslab doctor` and
//! `nslab cleanup`.

use crate::{doctor, narrate};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// nslab: a container runtime built one kernel facility at a time.
#[derive(Debug, Parser)]
#[command(name = "nslab", version)]
pub struct Args {
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

/// The `nslab` binary's `main`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    narrate::init(false);
    match args.command {
        Command::Doctor => doctor::main(),
    }
}
