//! Printing an error for a confused learner: what failed, why, what to do.
//!
//! Errors are printed as their whole chain of causes, outermost first, then
//! a hint when one is known:
//!
//! ```text
//! error: failed to change the root directory to /var/lib/nslab/rootfs
//!   caused by: EPERM: Operation not permitted
//! hint: this needs root: run the lesson with sudo
//! ```
//!
//! Each module's error knows its own hint (a `hint()` method beside the
//! enum); [`crate::Error::hint`] asks the module the error came from. An
//! error in the container's child process, before `execve`, is turned into
//! a [`Report`] there, sent to the parent over a pipe, and printed once, by
//! the parent: the way a runtime tells its caller why a container did not
//! start.

use crate::Error;
use colored::Colorize;
use std::error::Error as _;

/// An error made printable: its chain of messages, its hint, its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The error's message, then each cause's, outermost first.
    pub chain: Vec<String>,
    /// What to do about it, if anything is known.
    pub hint: Option<String>,
    /// The exit status the lesson ends with because of it.
    pub code: i32,
}

impl Report {
    /// The report for `error`.
    pub fn of(error: &Error) -> Report {
        if let Error::Child(report) = error {
            return report.clone();
        }
        let mut chain = vec![error.to_string()];
        let mut cause = error.source();
        while let Some(inner) = cause {
            chain.push(inner.to_string());
            cause = inner.source();
        }
        Report {
            chain,
            hint: error.hint(),
            code: error.exit_code(),
        }
    }

    /// Prints the report to standard error.
    pub fn print(&self) {
        let mut lines = self.chain.iter();
        if let Some(first) = lines.next() {
            eprintln!("{} {first}", "error:".red().bold());
        }
        for cause in lines {
            eprintln!("  {} {cause}", "caused by:".red());
        }
        if let Some(hint) = &self.hint {
            eprintln!("{} {hint}", "hint:".yellow().bold());
        }
    }

    /// The report as bytes for the pipe to the parent: the fields separated
    /// by NUL bytes, which no message contains.
    pub fn encode(&self) -> Vec<u8> {
        let mut fields = vec![self.code.to_string(), self.hint.clone().unwrap_or_default()];
        fields.extend(self.chain.iter().cloned());
        fields.join("\0").into_bytes()
    }

    /// The report [`Report::encode`] wrote, or `None` if `bytes` is not one.
    pub fn decode(bytes: &[u8]) -> Option<Report> {
        let text = String::from_utf8_lossy(bytes);
        let mut fields = text.split('\0');
        let code = fields.next()?.parse().ok()?;
        let hint = fields.next().filter(|h| !h.is_empty()).map(String::from);
        let chain: Vec<String> = fields.map(String::from).collect();
        (!chain.is_empty()).then_some(Report { chain, hint, code })
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.chain.join(": "))
    }
}

/// Prints `error`, its causes and a hint (if any) to standard error.
pub fn print_error(error: &Error) {
    Report::of(error).print();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_the_pipe() {
        let report = Report {
            chain: vec![
                "failed to mount proc on /proc".into(),
                "EPERM: Operation not permitted".into(),
            ],
            hint: Some("run it with sudo".into()),
            code: 125,
        };
        assert_eq!(Report::decode(&report.encode()), Some(report.clone()));
        let no_hint = Report {
            hint: None,
            ..report
        };
        assert_eq!(Report::decode(&no_hint.encode()), Some(no_hint));
        assert_eq!(Report::decode(b""), None);
        assert_eq!(Report::decode(b"not a number\0\0x"), None);
    }

    #[test]
    fn the_chain_and_hint_come_from_the_error() {
        let error = Error::from(crate::process::ProcessError::NotFound {
            name: "cargo".into(),
            path: "/bin".into(),
        });
        let report = Report::of(&error);
        assert_eq!(report.chain, ["command not found: cargo (looked in /bin)"]);
        assert!(report.hint.unwrap().contains("must exist in the rootfs"));
        assert_eq!(report.code, crate::process::EXIT_NOT_FOUND);
    }
}
