//! # Lesson 12: `nslab`, the runtime
//!
//! An OCI runtime that real engines (podman, containerd) drive, with
//! runc's command line, built on the same spec and start sequence as the
//! lessons, and a small docker above it (images, run, ps, logs, exec,
//! stop, rm, commit). Their code lives in `src/runtime/` and
//! `src/engine/`; this file only starts them.
//! It also has the commands an instructor needs: `nslab doctor` tells
//! which lessons this machine can run, and how to fix the ones it cannot;
//! `nslab cleanup` removes what a killed lesson left behind.
//!
//! **Run it.**
//!
//! ```text
//! cd BUNDLE && nslab spec             # a config.json; the rootfs goes in ./rootfs
//! sudo target/debug/nslab run --bundle . demo    # create, start, wait
//! sudo target/debug/nslab run --rm busybox echo hi   # the engine: an image, not a bundle
//! sudo target/debug/nslab create demo && sudo target/debug/nslab start demo
//! sudo target/debug/nslab doctor
//! sudo target/debug/nslab cleanup --dry-run
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    nslab::runtime::main()
}
