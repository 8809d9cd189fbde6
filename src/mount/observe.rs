//! The lesson side of the mount namespace: what the learner is shown.
//!
//! The host's mount table before and after a run (with any mount that
//! leaked onto the host shown, then removed), what the escape of lesson 01
//! meets after pivot_root, and the throwaway *shared* outer namespace in
//! which `03-mount --no-private` can leak a mount without the real host
//! seeing it. The runtime needs none of this.

use super::{set_propagation, MountError};
use crate::namespace::Namespace;
use crate::process::{self, Exit};
use crate::{narrate, syscall};
use nix::mount::{MntFlags, MsFlags};
use nix::unistd::ForkResult;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// One line of `/proc/<pid>/mountinfo` (proc(5)), the parts the lessons use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MountEntry {
    /// The mount's unique id.
    pub id: u32,
    /// Where it is mounted, relative to the reader's root.
    pub mount_point: String,
    /// The file system type.
    pub fstype: String,
}

/// The mounts a process sees, from its `/proc/<pid>/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountTable(pub BTreeSet<MountEntry>);

impl MountTable {
    /// The calling process's mount table.
    pub fn read() -> Result<Self, MountError> {
        let path = PathBuf::from("/proc/self/mountinfo");
        let text = fs::read_to_string(&path).map_err(|source| MountError::Read { path, source })?;
        Ok(Self::parse(&text))
    }

    /// Parses the text of a `mountinfo` file.
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // Optional fields end with "-"; the file system type follows.
                let dash = fields.iter().position(|f| *f == "-")?;
                Some(MountEntry {
                    id: fields.first()?.parse().ok()?,
                    mount_point: fields.get(4)?.to_string(),
                    fstype: fields.get(dash + 1)?.to_string(),
                })
            })
            .collect();
        MountTable(entries)
    }

    /// The mounts in `self` that `before` did not have.
    pub fn added_since(&self, before: &MountTable) -> Vec<MountEntry> {
        self.0.difference(&before.0).cloned().collect()
    }
}

/// Compares the host's mount table with the one read before the run, and
/// says what the learner should conclude. A mount that appeared on the
/// host at or below `rootfs` was made by the container and leaked (lesson
/// 02 has no mount namespace: `mount -t proc proc /proc` inside lands on
/// the host): it is shown, then unmounted, deepest first. `own_namespace`
/// says whether the container had a mount namespace of its own.
// ANCHOR: host_unchanged
pub fn show_host_unchanged(
    before: &MountTable,
    rootfs: &Path,
    own_namespace: bool,
) -> Result<bool, MountError> {
    narrate::heading("The host's mount table, after the run");
    narrate::file_op("read /proc/self/mountinfo");
    let after = MountTable::read()?;
    let added = after.added_since(before);
    let removed = before.added_since(&after);
    if added.is_empty() && removed.is_empty() {
        narrate::success(if own_namespace {
            "unchanged: every mount the container made lived and died in its own namespace"
        } else {
            "unchanged: the container left no mount on the host"
        });
        return Ok(true);
    }
    for entry in &added {
        narrate::warning(format!(
            "new on the host: {} ({})",
            entry.mount_point, entry.fstype
        ));
    }
    for entry in &removed {
        narrate::warning(format!(
            "gone from the host: {} ({})",
            entry.mount_point, entry.fstype
        ));
    }
    let mut leaked: Vec<&MountEntry> = added
        .iter()
        .filter(|e| Path::new(&e.mount_point).starts_with(rootfs))
        .collect();
    if leaked.is_empty() {
        narrate::explain(
            "something else on this machine mounted or unmounted meanwhile, or a mount leaked",
        );
        return Ok(false);
    }
    narrate::explain(
        "the container mounted this in the host's own mount table: without a mount\n\
         namespace of its own, its mounts are the host's, and they outlive it.\n\
         Lesson 03 gives the container a mount namespace; until then, the lesson removes them:",
    );
    // Deepest first: a mount on top of another must go before it.
    leaked.sort_by_key(|e| std::cmp::Reverse((e.mount_point.len(), e.id)));
    for entry in leaked {
        let target = PathBuf::from(&entry.mount_point);
        syscall::umount2(&target, MntFlags::MNT_DETACH, "the leak, removed")
            .map_err(|source| MountError::Unmount { target, source })?;
    }
    Ok(false)
}
// ANCHOR_END: host_unchanged

/// Explains the outcome of lesson 01's escape tried after [`super::pivot_into`].
pub fn explain_escape(outcome: crate::chroot::EscapeOutcome) {
    match outcome {
        crate::chroot::EscapeOutcome::StayedInside => narrate::explain(
            "chroot(2) had only moved our idea of `/`: the host's tree was still mounted above it.\n\
             After pivot_root and the unmount of the old root, the container's / is the top of\n\
             its mount namespace: `..` of / is / itself, and there is nothing above to climb to.",
        ),
        crate::chroot::EscapeOutcome::ReachedHostRoot => narrate::warning(
            "the escape reached the host's /: the old root was not unmounted",
        ),
    }
}

/// Runs `run` in a forked helper that owns a throwaway mount namespace
/// whose mounts are all *shared*, the way systemd sets up a host, so that
/// `03-mount --no-private` can show a leak without the real host seeing it.
///
/// The helper:
/// 1. `unshare(CLONE_NEWNS)`: a copy of the host's table, all its own.
/// 2. makes it private, which cuts every tie with the host's mounts (on a
///    systemd host the copy would otherwise be the host's peer, and the
///    demo would leak onto the real host);
/// 3. makes it shared again: each mount now starts a new peer group that
///    exists only in this throwaway namespace and in copies made from it;
/// 4. runs the container, then compares its own mount table with the one
///    it had before, and prints what leaked into it.
///
/// When the helper exits, its namespace and everything that leaked into it
/// are gone. Returns how the helper (and so the container) ended.
// ANCHOR: throwaway
pub fn in_shared_outer_namespace<F>(run: F) -> Result<Exit, MountError>
where
    F: FnOnce() -> Result<Exit, crate::Error>,
{
    narrate::warning("--no-private: the container runs in a throwaway outer mount namespace,");
    narrate::explain("shared like a systemd host's, so that the real host never sees what leaks");
    process::ensure_single_threaded().map_err(MountError::Wait)?;
    narrate::syscall("fork()   # a helper to own it, so the lesson itself stays on the host");
    // SAFETY: this process has one thread (checked above); the child only
    // runs the lesson's own code and ends with _exit.
    let helper = match unsafe { nix::unistd::fork() }.map_err(MountError::Fork)? {
        ForkResult::Parent { child } => child,
        ForkResult::Child => {
            // The helper dies with the lesson, and the container with it.
            // (The race with a lesson already gone is harmless here: the
            // helper's own container would then die with the helper.)
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            let code = match outer_namespace(run) {
                Ok(exit) => exit.status(),
                Err(error) => {
                    let error = crate::Error::from(error);
                    crate::report::print_error(&error);
                    error.exit_code()
                }
            };
            process::exit_now(code)
        }
    };
    let exit = process::wait(helper).map_err(MountError::Wait)?;
    narrate::explain(
        "the helper is gone, and with it the outer namespace and the mounts that leaked into it",
    );
    Ok(exit)
}
// ANCHOR_END: throwaway

fn outer_namespace<F>(run: F) -> Result<Exit, MountError>
where
    F: FnOnce() -> Result<Exit, crate::Error>,
{
    let kind = Namespace::Mnt;
    narrate::syscall(format!("unshare({})", kind.flag_name()));
    nix::sched::unshare(kind.flag()).map_err(MountError::Unshare)?;
    set_propagation(MsFlags::MS_PRIVATE, "private")?;
    narrate::explain("first cut every tie with the real host's mounts,");
    set_propagation(MsFlags::MS_SHARED, "shared")?;
    narrate::explain(
        "then share everything again, as systemd does at boot: but these peer groups\n\
         exist only in this outer namespace and the copies made from it",
    );
    narrate::file_op("read /proc/self/mountinfo   # the outer namespace, before");
    let before = MountTable::read()?;

    let exit = match run() {
        Ok(exit) => exit,
        Err(error) => {
            crate::report::print_error(&error);
            Exit::Code(error.exit_code())
        }
    };

    narrate::heading("The outer namespace, after the container");
    narrate::file_op("read /proc/self/mountinfo   # the outer namespace, after");
    let leaked = MountTable::read()?.added_since(&before);
    if leaked.is_empty() {
        narrate::success("nothing leaked into the outer namespace");
    }
    for entry in &leaked {
        narrate::warning(format!(
            "leaked into the outer namespace: {} ({})",
            entry.mount_point, entry.fstype
        ));
    }
    if !leaked.is_empty() {
        narrate::explain(
            "the container mounted this in its own namespace, but its copy of the table was a\n\
             peer of ours, so the mount propagated here, and it outlives the container.\n\
             On a systemd host without the throwaway namespace, this would be the host's table.",
        );
    }
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_is_parsed_past_the_optional_fields() {
        let text = "22 27 0:21 / /proc rw,relatime shared:5 - proc proc rw\n\
                    27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";
        let table = MountTable::parse(text);
        let points: Vec<(&str, &str)> = table
            .0
            .iter()
            .map(|e| (e.mount_point.as_str(), e.fstype.as_str()))
            .collect();
        assert_eq!(points, vec![("/proc", "proc"), ("/", "ext4")]);
    }

    #[test]
    fn added_mounts_are_found() {
        let before = MountTable::parse("27 1 254:0 / / rw - ext4 /dev/vda rw\n");
        let after = MountTable::parse(
            "27 1 254:0 / / rw - ext4 /dev/vda rw\n99 27 254:0 /x /x rw shared:1 - ext4 /dev/vda rw\n",
        );
        let added = after.added_since(&before);
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].mount_point, "/x");
        assert!(before.added_since(&after).is_empty());
    }

    #[test]
    fn our_own_mount_table_has_a_root() {
        let table = MountTable::read().unwrap();
        assert!(table.0.iter().any(|e| e.mount_point == "/"));
    }
}
