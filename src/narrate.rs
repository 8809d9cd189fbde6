//! Narration: the teaching voice of every lesson.
//!
//! Each kernel interaction a lesson makes is printed *as it happens*, in the
//! form of the system call a reader would look up in the man pages:
//!
//! ```text
//! → clone(CLONE_NEWPID | SIGCHLD)
//! → chroot("/var/lib/nslab/rootfs")
//! → execve("/bin/sh", ["sh", "-c", "echo $$"])
//! ```
//!
//! The functions that perform those calls (in the facility modules) print
//! their line here and then make the call, in the same function, so the
//! narration cannot describe something that did not run.
//!
//! Narration goes through a [`Sink`]: standard output for the lessons, so
//! that it interleaves in the right order with what the contained command
//! prints there; standard error or a log file for the runtime, whose
//! standard output belongs to its clients. Colour follows the usual
//! conventions: none under `NO_COLOR`, none when the sink is not a
//! terminal. `--quiet` silences narration completely; the command's own
//! output and any error are still printed.

use colored::Colorize;
use std::fmt::Display;
use std::io::IsTerminal;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// Where narration goes.
///
/// Lessons narrate on standard output, interleaved with what the container
/// prints there. The runtime's standard output belongs to its clients (JSON
/// for `state`), so it narrates to standard error or to its `--log` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Standard output: the lessons.
    Stdout,
    /// Standard error.
    Stderr,
    /// An open file descriptor, such as a log file. The caller keeps it open.
    Fd(RawFd),
    /// Nowhere: `--quiet`.
    Silent,
}

/// The descriptor narration is written to; -1 for none.
///
/// A plain integer rather than a locked writer: the child of a fork or
/// clone narrates too, and a lock held by another thread at the time of
/// the fork would never be released in the child. Each line is one
/// write(2), so lines from parent and child never mix.
static SINK_FD: AtomicI32 = AtomicI32::new(1);

/// Whether each line is written as a JSON log record (the runtime's
/// `--log-format json`, which containerd's shim reads).
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes each line as `{"level":"debug","msg":…,"time":…}` from now on
/// (`json`), or as text.
pub fn set_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

/// One JSON log record, as runc writes them.
pub fn json_record(level: &str, msg: &str) -> String {
    serde_json::json!({
        "level": level,
        "msg": msg,
        "time": crate::runtime::state::now_rfc3339(),
    })
    .to_string()
}

/// Decides, once per process, whether narration is printed and coloured.
///
/// Call it first thing in `main`. `quiet` comes from `--quiet`.
pub fn init(quiet: bool) {
    init_with(if quiet { Sink::Silent } else { Sink::Stdout });
}

/// Sends narration to `sink`, coloured only when it is a terminal.
pub fn init_with(sink: Sink) {
    let fd = match sink {
        Sink::Stdout => std::io::stdout().as_raw_fd(),
        Sink::Stderr => std::io::stderr().as_raw_fd(),
        Sink::Fd(fd) => fd,
        Sink::Silent => -1,
    };
    SINK_FD.store(fd, Ordering::Relaxed);
    // `colored` honours NO_COLOR and CLICOLOR by itself, but not whether
    // the output is a terminal: a pipe or a file should get plain text.
    let terminal = fd >= 0 && {
        // SAFETY: the descriptor stays open for the whole program (a
        // standard stream, or a log file the caller keeps open).
        unsafe { BorrowedFd::borrow_raw(fd) }.is_terminal()
    };
    if !terminal {
        colored::control::set_override(false);
    }
}

/// True when `--quiet` was given.
pub fn is_quiet() -> bool {
    SINK_FD.load(Ordering::Relaxed) < 0
}

fn emit(line: impl Display) {
    let fd = SINK_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let line = if JSON.load(Ordering::Relaxed) {
        format!("{}\n", json_record("debug", &line.to_string()))
    } else {
        format!("{line}\n")
    };
    // SAFETY: as in `init_with`, the descriptor outlives every caller.
    let out = unsafe { BorrowedFd::borrow_raw(fd) };
    // Narration is best effort: a closed stdout must not abort the lesson.
    let _ = nix::unistd::write(out, line.as_bytes());
}

/// A system call (or other kernel interaction), printed just before it is made.
///
/// `call` is written the way the man page spells it, e.g.
/// `pivot_root(".", ".old-root")`.
pub fn syscall(call: impl Display) {
    emit(format!(
        "{} {}",
        "→".cyan().bold(),
        call.to_string().cyan().bold()
    ));
}

/// A file-system step done with ordinary file operations (mkdir, copy, write).
pub fn file_op(op: impl Display) {
    emit(format!("{} {}", "→".blue(), op.to_string().blue()));
}

/// The result of a call, printed just *after* it returned:
/// `waitpid(4242) = exited with status 0`. Only lines that show a result
/// are printed after the call; every other `→` line comes just before it.
pub fn returned(call: impl Display) {
    emit(format!(
        "{} {}",
        "→".cyan().bold(),
        call.to_string().cyan().bold()
    ));
}

/// An explanation of why the step before or after matters. Printed in the
/// terminal's normal colour and weight, indented: it is the main text of
/// the lesson and must stay readable on a projector.
pub fn explain(text: impl Display) {
    for line in text.to_string().lines() {
        emit(format!("  {line}"));
    }
}

/// A section heading: what the lesson is about to do.
pub fn heading(text: impl Display) {
    emit("");
    emit(format!("{}", format!("== {text} ==").bold()));
}

/// Something observed from the host, outside the container, as
/// `  host: LABEL:  value`, aligned with the demos' `inside: LABEL:` lines.
pub fn observe(label: impl Display, value: impl Display) {
    let label = format!("host: {label}:");
    emit(format!("  {} {}", format!("{label:<22}").yellow(), value));
}

/// A step that worked out as the lesson expected.
pub fn success(text: impl Display) {
    emit(format!(
        "{} {}",
        "✓".green().bold(),
        text.to_string().green()
    ));
}

/// Something the learner should notice because it went wrong on purpose.
pub fn warning(text: impl Display) {
    emit(format!(
        "{} {}",
        "!".yellow().bold(),
        text.to_string().yellow()
    ));
}

/// Joins flag names the way the man pages write them: `A | B | C`.
pub fn flags(names: &[&str]) -> String {
    if names.is_empty() {
        "0".to_string()
    } else {
        names.join(" | ")
    }
}

/// Formats an argument vector as `["sh", "-c", "echo $$"]`.
///
/// A multi-line argument (a demo script) is shown as `<N-line script>`:
/// the script itself is in the lesson's source, and pasting it into every
/// `execve` line would bury the call under it.
pub fn argv(args: &[String]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| match a.lines().count() {
            n if n > 1 => format!("<{n}-line script>"),
            _ => format!("{a:?}"),
        })
        .collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_joined_like_the_man_pages() {
        assert_eq!(
            flags(&["CLONE_NEWPID", "SIGCHLD"]),
            "CLONE_NEWPID | SIGCHLD"
        );
        assert_eq!(flags(&[]), "0");
    }

    #[test]
    fn scripts_are_abbreviated() {
        let args = vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo a\necho b".to_string(),
        ];
        assert_eq!(argv(&args), r#"["sh", "-c", <2-line script>]"#);
    }

    #[test]
    fn argv_is_quoted() {
        let args = vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo \"$$\"".to_string(),
        ];
        assert_eq!(argv(&args), r#"["sh", "-c", "echo \"$$\""]"#);
    }
}
