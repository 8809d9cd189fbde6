//! Lesson 04: the UTS namespace, a hostname of the container's own.
//!
//! "UTS" is the `struct utsname` that uname(2) fills in, from UNIX
//! Time-sharing System. A UTS namespace isolates two of its fields, the
//! hostname and the NIS domain name (uts_namespaces(7)): a child cloned
//! with `CLONE_NEWUTS` starts with a copy of the host's names, and what it
//! sets with sethostname(2) and setdomainname(2) stays in its copy.
//!
//! Names are checked when the command line is parsed, before anything is
//! created: the kernel accepts nearly any bytes up to 64, but other
//! programs (resolvers, shells' prompts, log formats) expect an RFC 1123
//! host name, and a bad one is much easier to explain before a container
//! exists than after.
//!
//! This module is the mechanism, what the runtime needs too: checking and
//! setting the names. [`observe`] holds what only the lesson shows: the
//! host's names, read before and after the run.

pub mod observe;

use crate::{narrate, syscall};
use nix::errno::Errno;
use std::io;
use std::path::PathBuf;

/// The hostname a container gets unless `--hostname` says otherwise.
pub const DEFAULT_HOSTNAME: &str = "nslab";

/// The longest name sethostname(2) and setdomainname(2) accept: Linux's
/// `HOST_NAME_MAX` (and `__NEW_UTS_LEN`), in bytes.
pub const NAME_MAX: usize = 64;

/// The longest label (the part between dots), from RFC 1123.
pub const LABEL_MAX: usize = 63;

/// What a valid name looks like, for error messages.
pub const RULES: &str = "use letters a-z or A-Z, digits 0-9 and '-', in labels separated by dots; \
each label 1 to 63 characters, not starting or ending with '-'; at most 64 characters in all";

/// What can go wrong while naming the container.
#[derive(Debug, thiserror::Error)]
pub enum UtsError {
    /// A `--hostname` or `--domainname` that breaks the rules.
    #[error("{name:?} is not a valid {what}: {reason} ({RULES})")]
    InvalidName {
        /// "hostname" or "domainname".
        what: &'static str,
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// sethostname(2) failed.
    #[error("failed to set the hostname to {name:?}")]
    SetHostname {
        /// The name.
        name: String,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// setdomainname(2) failed.
    #[error("failed to set the domainname to {name:?}")]
    SetDomainname {
        /// The name.
        name: String,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// Reading the names or a namespace link failed.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Why `name` is not a valid host name, or `None` when it is.
///
/// The rules: RFC 1123 labels (letters of either case, digits and `-`, 1
/// to 63 long, no `-` at either end), separated by dots, and at most
/// [`NAME_MAX`] bytes in all, the kernel's own limit. Case is allowed, as
/// docker allows it: DNS compares names without case, so `MyHost` and
/// `myhost` are one name spelled two ways.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.len() > NAME_MAX {
        return Some(format!(
            "it is {} characters long, and the kernel allows at most {NAME_MAX}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Some(format!("{c:?} is not allowed"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("it has an empty label (a dot at either end, or two in a row)".into());
        }
        if label.len() > LABEL_MAX {
            return Some(format!(
                "the label {label:?} is {} characters long",
                label.len()
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!("the label {label:?} starts or ends with '-'"));
        }
    }
    None
}

fn validate(what: &'static str, name: &str) -> Result<String, UtsError> {
    match name_problem(name) {
        None => Ok(name.to_string()),
        Some(reason) => Err(UtsError::InvalidName {
            what,
            name: name.to_string(),
            reason,
        }),
    }
}

/// Checks a `--hostname`; for clap's `value_parser`, so that a bad name
/// stops the lesson before it creates anything.
// ANCHOR: validate
pub fn parse_hostname(name: &str) -> Result<String, UtsError> {
    validate("hostname", name)
}
// ANCHOR_END: validate

/// Checks a `--domainname`, by the same rules as a hostname.
pub fn parse_domainname(name: &str) -> Result<String, UtsError> {
    validate("domainname", name)
}

/// The options of every lesson from 04 on that names its container.
#[derive(Debug, Clone, clap::Args)]
pub struct NameArgs {
    /// The container's hostname: letters, digits, '-' and dots, at most 64 characters
    #[arg(long, value_name = "NAME", default_value = DEFAULT_HOSTNAME, value_parser = parse_hostname)]
    pub hostname: String,

    /// The container's NIS domain name (same rules); without it, the container keeps a copy of the host's
    #[arg(long, value_name = "NAME", value_parser = parse_domainname)]
    pub domainname: Option<String>,
}

impl From<NameArgs> for Names {
    fn from(args: NameArgs) -> Names {
        Names {
            hostname: args.hostname,
            domainname: args.domainname,
        }
    }
}

/// The names to give the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Its hostname (already validated).
    pub hostname: String,
    /// Its NIS domain name, if one was asked for; otherwise it keeps the
    /// copy of the host's it started with.
    pub domainname: Option<String>,
}

/// Sets the hostname of the caller's UTS namespace. See sethostname(2).
pub fn set_hostname(name: &str) -> Result<(), UtsError> {
    syscall::sethostname(name).map_err(|source| UtsError::SetHostname {
        name: name.into(),
        source,
    })
}

/// Sets the NIS domain name of the caller's UTS namespace. See
/// setdomainname(2). (Not a DNS domain: `hostname -d` and resolv.conf
/// have nothing to do with it.)
pub fn set_domainname(name: &str) -> Result<(), UtsError> {
    syscall::setdomainname(name).map_err(|source| UtsError::SetDomainname {
        name: name.into(),
        source,
    })
}

/// Names the container: in the child, in its new UTS namespace, before
/// exec, so the command starts with the names already set.
// ANCHOR: set_names
pub fn set_names(names: &Names) -> Result<(), UtsError> {
    set_hostname(&names.hostname)?;
    if let Some(domainname) = &names.domainname {
        set_domainname(domainname)?;
    }
    narrate::explain("these names are our UTS namespace's; the host's are untouched");
    Ok(())
}
// ANCHOR_END: set_names

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_pass() {
        for name in [
            "nslab",
            "lab",
            "a",
            "web-1",
            "db.example.org",
            "0123",
            "MyHost",
            "Web-1.Example.ORG",
            &"a".repeat(63),
            &format!("{}.{}", "a".repeat(31), "b".repeat(32)),
        ] {
            assert_eq!(name_problem(name), None, "{name}");
        }
    }

    #[test]
    fn bad_names_say_why() {
        let cases = [
            ("", "empty"),
            ("bad_name!", "'_' is not allowed"),
            ("a b", "' ' is not allowed"),
            ("-lab", "starts or ends with '-'"),
            ("lab-", "starts or ends with '-'"),
            ("a..b", "empty label"),
            (".lab", "empty label"),
            ("lab.", "empty label"),
            ("x\u{e9}", "is not allowed"),
        ];
        for (name, expected) in cases {
            let problem = name_problem(name).unwrap_or_default();
            assert!(problem.contains(expected), "{name:?}: {problem}");
        }
    }

    #[test]
    fn lengths_are_limited() {
        let long_label = "a".repeat(64);
        assert!(name_problem(&long_label)
            .unwrap()
            .contains("64 characters long"));
        let label_too_long = format!("{}.b", "a".repeat(64));
        assert!(name_problem(&label_too_long)
            .unwrap()
            .contains("at most 64"));
        let too_long = ["abcdefg"; 9].join(".");
        assert_eq!(too_long.len(), 71);
        assert!(name_problem(&too_long).unwrap().contains("at most 64"));
        let just_fits = format!("{}.{}", "a".repeat(32), "b".repeat(31));
        assert_eq!(just_fits.len(), 64);
        assert_eq!(name_problem(&just_fits), None);
    }

    #[test]
    fn the_error_names_the_rules() {
        let err = parse_hostname("bad_name!").unwrap_err().to_string();
        assert!(
            err.starts_with("\"bad_name!\" is not a valid hostname: '_' is not allowed"),
            "{err}"
        );
        assert!(err.contains("letters a-z or A-Z"), "{err}");
        let err = parse_domainname("-x").unwrap_err().to_string();
        assert!(err.contains("not a valid domainname"), "{err}");
    }
}
