//! Lesson 02: the PID namespace.
//!
//! A PID namespace gives its processes their own numbering: the first
//! process in it is PID 1, its children are 2, 3, … Each process still has
//! its PID in the parent namespace too, so the host can see and signal it.
//! See pid_namespaces(7).
//!
//! The namespace itself is created by [`crate::process::spawn`] with
//! `CLONE_NEWPID`; this module holds what the lesson shows about it.

use crate::namespace::{self, Namespace};
use crate::narrate;
use nix::unistd::Pid;
use std::fs;
use std::io;
use std::path::PathBuf;

/// What can go wrong while looking at a process's PID namespace.
#[derive(Debug, thiserror::Error)]
pub enum PidError {
    /// Reading a file under `/proc/<pid>` failed.
    #[error("failed to read {}", path.display())]
    ReadProc {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// The `NSpid:` line of `/proc/<pid>/status`: the process's PID in each
/// namespace it is visible in, outermost first (proc(5)).
pub fn nspids(pid: Pid) -> Result<Vec<i32>, PidError> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let status = fs::read_to_string(&path).map_err(|source| PidError::ReadProc { path, source })?;
    Ok(parse_nspid(&status))
}

/// Extracts the PIDs from the `NSpid:` line of a `/proc/<pid>/status` text.
pub fn parse_nspid(status: &str) -> Vec<i32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("NSpid:"))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Shows, from the host, the child that was just cloned into a new PID
/// namespace: its two PIDs and the two namespaces.
// ANCHOR: observe
pub fn show_from_host(child: Pid) -> Result<(), crate::Error> {
    narrate::heading("The child, seen from the host");
    let pids = nspids(child)?;
    let pid_list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    narrate::file_op(format!("read /proc/{child}/status, /proc/{child}/ns/pid"));
    narrate::observe("child's NSpid", pid_list.join(" "));
    narrate::explain(
        "one process, two numbers: its PID on the host, then its PID in its own namespace",
    );
    narrate::observe("pid namespace", namespace::id_of(None, Namespace::Pid)?);
    narrate::observe(
        "child's pid ns",
        namespace::id_of(Some(child), Namespace::Pid)?,
    );
    Ok(())
}
// ANCHOR_END: observe

/// Narrates the duties PID 1 has and what the runtime will owe it later.
pub fn explain_pid_one_duties() {
    narrate::heading("What PID 1 owes its namespace");
    narrate::explain(
        "- orphans are re-parented to PID 1, which must wait() for them or they stay zombies;\n\
         - the kernel delivers PID 1 only the signals it has installed a handler for, whether\n\
         \x20 they come from inside or from the host: `kill -TERM 1` does nothing to a shell that\n\
         \x20 did not trap TERM, and one Ctrl-C does not stop `02-pid -- sleep 100`; only SIGKILL\n\
         \x20 and SIGSTOP sent from the host (an ancestor namespace) always get through, which is\n\
         \x20 why a second Ctrl-C within 3 s makes the lesson send SIGKILL;\n\
         - when PID 1 exits, the kernel kills every other process in the namespace.\n\
         A shell makes a poor PID 1; the runtime will later run a small init in its place.",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nspid_line_is_parsed_outermost_first() {
        let status = "Name:\tsh\nPid:\t4242\nNSpid:\t4242\t1\nPPid:\t1\n";
        assert_eq!(parse_nspid(status), vec![4242, 1]);
    }

    #[test]
    fn no_nspid_line_gives_nothing() {
        assert!(parse_nspid("Name:\tsh\n").is_empty());
    }

    #[test]
    fn our_own_nspid_has_one_entry_on_the_host() {
        let me = nix::unistd::getpid();
        let pids = nspids(me).unwrap();
        assert_eq!(pids.first(), Some(&me.as_raw()));
    }
}
