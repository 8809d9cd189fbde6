//! `nslab doctor`: which lessons can run on this machine, and why not.
//! (Placeholder while the probes are written.)

use std::process::ExitCode;

/// Runs every probe, prints the report, and exits non-zero if a lesson cannot run.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
