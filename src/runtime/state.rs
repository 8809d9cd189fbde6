//! What the runtime remembers of a container between its commands: one
//! directory per container under `--root`, holding `state.json` and, until
//! `start`, the `exec.fifo` the container's init waits on.
//!
//! `create`, `start`, `state`, `kill` and `delete` are separate processes,
//! so a container's state lives in files. Its status is not stored but
//! read from the kernel each time, as runc does: **created** while its init
//! is alive and the FIFO is still there, **running** once the FIFO is gone
//! and the init is alive, **stopped** once the init has exited (or its pid
//! belongs to another process: the start time tells them apart).

use super::RuntimeError;
use crate::record::ProcessId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The OCI version nslab's state speaks.
pub const OCI_VERSION: &str = "1.0.2";

/// The default `--root`.
pub const DEFAULT_ROOT: &str = "/run/nslab";

/// Names the lessons use under `/run/nslab`, which a container may not take.
const RESERVED: &[&str] = &["containers", "net"];

/// What is stored of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its id.
    pub id: String,
    /// Its init, told apart from a later process with the same pid.
    pub init: ProcessId,
    /// The bundle it was created from (absolute).
    pub bundle: PathBuf,
    /// Its root filesystem (absolute).
    pub rootfs: PathBuf,
    /// When it was created, RFC 3339, UTC.
    pub created: String,
    /// The config's annotations.
    pub annotations: BTreeMap<String, String>,
    /// Its cgroup's directories, removed by `delete`.
    pub cgroup: Vec<PathBuf>,
}

/// A container's status (the OCI runtime spec's "state").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Set up; its init waits for `start`.
    Created,
    /// Its command runs.
    Running,
    /// Its init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        })
    }
}

/// The state JSON `nslab state` prints (the OCI runtime spec's, with
/// runc's `rootfs` and `created`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    /// The spec version.
    pub oci_version: String,
    /// The container's id.
    pub id: String,
    /// created, running or stopped.
    pub status: String,
    /// Its init's pid; 0 once stopped.
    pub pid: i32,
    /// The bundle.
    pub bundle: PathBuf,
    /// The root filesystem.
    pub rootfs: PathBuf,
    /// When it was created.
    pub created: String,
    /// The config's annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Checks a container id: docker's name rule, and not a name the lessons
/// use in the same directory.
pub fn check_id(id: &str) -> Result<(), RuntimeError> {
    crate::record::check_name(id).map_err(|e| RuntimeError::InvalidId {
        id: id.into(),
        reason: e.to_string(),
    })?;
    // `nslab/<digits>` is a lesson's cgroup, named after its pid, which
    // `nslab cleanup` removes once that pid is gone.
    if id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RuntimeError::InvalidId {
            id: id.into(),
            reason: "an id of digits only would name its cgroup like a lesson's (nslab/PID), which `nslab cleanup` removes".into(),
        });
    }
    if RESERVED.contains(&id) {
        return Err(RuntimeError::InvalidId {
            id: id.into(),
            reason: format!("{id:?} is a directory the lessons keep under the same root"),
        });
    }
    Ok(())
}

/// A container's directory under `root`.
pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// The FIFO the init of container `id` waits on until `start`.
pub fn fifo(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("exec.fifo")
}

fn state_file(root: &Path, id: &str) -> PathBuf {
    dir(root, id).join("state.json")
}

impl Record {
    /// Reads container `id`'s record.
    pub fn load(root: &Path, id: &str) -> Result<Record, RuntimeError> {
        check_id(id)?;
        let path = state_file(root, id);
        let text = fs::read_to_string(&path)
            .map_err(|_| RuntimeError::NoSuchContainer { id: id.into() })?;
        serde_json::from_str(&text).map_err(|e| RuntimeError::Config {
            path,
            reason: e.to_string(),
        })
    }

    /// Writes it, with rename(2): a reader never sees half a file.
    pub fn save(&self, root: &Path) -> Result<(), RuntimeError> {
        let path = state_file(root, &self.id);
        let temporary = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        fs::write(&temporary, text)
            .and_then(|()| fs::rename(&temporary, &path))
            .map_err(|source| RuntimeError::File {
                step: "write",
                path,
                source,
            })
    }

    /// Its status, read from the kernel and the FIFO now.
    pub fn status(&self, root: &Path) -> Status {
        if !self.init.is_running() {
            Status::Stopped
        } else if fifo(root, &self.id).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The OCI state JSON.
    pub fn oci_state(&self, root: &Path) -> OciState {
        let status = self.status(root);
        OciState {
            oci_version: OCI_VERSION.into(),
            id: self.id.clone(),
            status: status.to_string(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.init.pid
            },
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// Every container id under `root`, sorted.
pub fn ids(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().join("state.json").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    ids.sort();
    ids
}

/// Now, as RFC 3339 in UTC (`2026-11-28T09:01:03.123456789Z`), without a
/// date crate: days since 1970 to a civil date (H. Hinnant's algorithm).
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, nanos) = (now.as_secs() as i64, now.subsec_nanos());
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_name_rule_and_avoid_the_lessons_directories() {
        assert!(check_id("web-1").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("../etc").is_err());
        assert!(check_id("net").is_err());
        assert!(check_id("12345").is_err());
        assert!(check_id("web12345").is_ok());
    }

    #[test]
    fn the_date_is_rfc3339() {
        let now = now_rfc3339();
        let re = regex_lite(&now);
        assert!(re, "{now}");
    }

    /// `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ`, checked by hand.
    fn regex_lite(text: &str) -> bool {
        let bytes = text.as_bytes();
        bytes.len() == 30
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes[10] == b'T'
            && bytes[13] == b':'
            && bytes[16] == b':'
            && bytes[19] == b'.'
            && bytes[29] == b'Z'
            && text[..4].parse::<u32>().is_ok_and(|y| y >= 2024)
    }
}
