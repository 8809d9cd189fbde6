//! # Lesson 00: a container starts as a process
//!
//! **What you will learn.** Every container is, underneath, an ordinary
//! process. A runtime starts it the way a shell starts any command: create
//! a child with `fork(2)`, replace its program with `execve(2)`, wait for it
//! with `waitpid(2)`. This lesson does exactly that and nothing more, so you
//! can see what "nothing isolated" looks like before the next lessons take
//! things away from the child one facility at a time.
//!
//! **Run it.**
//!
//! ```text
//! target/debug/00-process            # the demo; no root needed
//! target/debug/00-process -- sh      # your own command (here a shell)
//! ```
//!
//! **Look for.** The child's PID is the one `fork()` returned on the host;
//! its hostname, PID namespace and `/` are the host's. Nothing differs.
//!
//! **Next.** Lesson 01 gives the child its own `/` with `chroot(2)`.

use clap::Parser;
use nslab::spec::Spec;
use nslab::start::{self, Hooks};
use nslab::{demo, lesson};
use std::process::ExitCode;

/// Lesson 00: run a command as a plain child process, with nothing isolated.
///
/// The lesson forks, execs the command and waits for it, narrating each
/// system call. Without a command it runs a demo that prints the child's
/// PID, hostname, PID namespace and root directory, next to the host's:
/// they are all the same, because nothing is isolated yet.
#[derive(Debug, Parser)]
#[command(
    name = "00-process",
    version,
    after_help = "Examples:\n  00-process\n  00-process -- sh -c 'echo my pid is $$'"
)]
struct Args {
    #[command(flatten)]
    output: lesson::OutputArgs,

    /// The command to run instead of the demo; put it after `--`
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = lesson::parse("00-process");
    lesson::main("00-process", args.output.quiet, || {
        demo::show_host_view()?;
        let command = demo::or_demo(args.command, &[demo::LOOK_AROUND]);
        // ANCHOR: run
        // Nothing but a command: no namespace, no root filesystem.
        let spec = Spec {
            command,
            ..Spec::default()
        };
        let exit = start::run(&spec, Hooks::default())?;
        // ANCHOR_END: run
        Ok(lesson::finish(exit))
    })
}
