//! # Lesson 12: `nslab`, the runtime
//!
//! This binary grows into a full OCI runtime that real engines (podman,
//! containerd) can drive, built on the same spec and start sequence as the
//! lessons. Its code lives in `src/runtime/`; this file only starts it.
//! For now it has the commands an instructor needs: `nslab doctor` tells
//! which lessons this machine can run, and how to fix the ones it cannot;
//! `nslab cleanup` removes what a killed lesson left behind.
//!
//! **Run it.**
//!
//! ```text
//! sudo target/debug/nslab doctor
//! sudo target/debug/nslab cleanup --dry-run
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    nslab::runtime::main()
}
