//! What lesson 04 shows about the UTS namespace from the host: the host's
//! names, read before the run and compared after it.

use super::UtsError;
use crate::narrate;
use std::io;
use std::path::PathBuf;

/// The hostname and domainname the caller sees, from uname(2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNames {
    /// `uname -n`.
    pub hostname: String,
    /// The NIS domain name; `(none)` when unset.
    pub domainname: String,
}

impl HostNames {
    /// The names of the caller's UTS namespace.
    pub fn read() -> Result<Self, UtsError> {
        let uts = nix::sys::utsname::uname().map_err(|errno| UtsError::Read {
            path: PathBuf::from("uname(2)"),
            source: io::Error::from(errno),
        })?;
        Ok(HostNames {
            hostname: uts.nodename().to_string_lossy().into_owned(),
            domainname: uts.domainname().to_string_lossy().into_owned(),
        })
    }
}

/// Reads the host's names again after the run and compares them with
/// `before`.
pub fn show_host_unchanged(before: &HostNames) -> Result<bool, UtsError> {
    narrate::heading("The host's names, after the run");
    narrate::syscall("uname()");
    let after = HostNames::read()?;
    narrate::observe("hostname", &after.hostname);
    narrate::observe("domainname", &after.domainname);
    if after == *before {
        narrate::success("unchanged: the container named only its own UTS namespace");
        Ok(true)
    } else {
        narrate::warning(format!(
            "changed since the run began (was {} / {}): something else renamed this machine",
            before.hostname, before.domainname
        ));
        Ok(false)
    }
}
