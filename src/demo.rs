//! The built-in demonstrations: what a lesson runs when no command is given.
//!
//! Each demo is a small shell script run *inside* the container, next to
//! what the lesson shows of the host from outside, with the same labels, so
//! the two can be read side by side: what is the same, what changed.

use crate::{namespace, narrate};
use std::fs;

/// Looks around from inside: the shell's PID, the hostname, the PID
/// namespace and the contents of `/`. Uses only `sh`, `uname`, `readlink`
/// and `ls`, which both a host and the nslab rootfs have.
///
/// The demos never write `2>/dev/null`: in a bare chroot `/dev` is an empty
/// directory, and the redirection would create a regular file there.
pub const LOOK_AROUND: &str = r#"echo "inside: pid:            $$"
echo "inside: hostname:       $(uname -n)"
echo "inside: pid namespace:  $([ -e /proc/self/ns/pid ] && readlink /proc/self/ns/pid || echo '(unknown: nothing is mounted on /proc)')"
echo "inside: / holds:       " $(ls /)"#;

/// Lesson 02: what `ps` and `/proc` show, and PID 1's special treatment.
pub const PID_ONE: &str = r#"echo "inside: ps (reads /proc):"
ps
echo "inside: /proc holds:   " $(ls /proc) "(nothing: no procfs is mounted here yet)"
echo "inside: kill -TERM \$\$  (PID 1 signals itself)"
kill -TERM $$
echo "inside: still alive: PID 1 gets no signal it has not installed a handler for""#;

/// Lesson 03: the container's own mount namespace, `/proc` and `/dev`.
/// Prints mount points and types only (not sources or options, which
/// differ from machine to machine), with a loop in plain `sh` so that it
/// works in any rootfs.
pub const MOUNTS: &str = r#"echo "inside: mnt namespace:  $(readlink /proc/self/ns/mnt)"
echo "inside: ps -o pid,comm  (reads the container's own /proc):"
ps -o pid,comm
echo "inside: mount table     (/proc/self/mounts, mount point and type):"
while read -r source point type rest; do echo "  $point ($type)"; done < /proc/self/mounts
echo "inside: /dev holds:     " $(ls /dev)"#;

/// Lesson 04: the container's names, and a rename from inside.
pub const UTS_NAMES: &str = r#"echo "inside: domainname:     $(cat /proc/sys/kernel/domainname)"
echo "inside: uts namespace:  $(readlink /proc/self/ns/uts)"
echo "inside: hostname renamed-inside  (root renames its own namespace)"
hostname renamed-inside
echo "inside: hostname now:   $(uname -n)""#;

/// Lesson 05: the container's IPC objects: none of the host's, and a POSIX
/// queue of its own, made by creating a file in the mqueue file system.
/// Counts lines rather than printing `/proc/sysvipc/*`, whose headers
/// change with the kernel version, and creates the file with a shell
/// redirection, as a rootfs built from host programs has no `touch`.
pub const IPC_INSIDE: &str = r#"echo "inside: message queues: $(($(wc -l < /proc/sysvipc/msg) - 1)) in /proc/sysvipc/msg"
echo "inside: shared memory:  $(($(wc -l < /proc/sysvipc/shm) - 1)) in /proc/sysvipc/shm"
echo "inside: semaphore sets: $(($(wc -l < /proc/sysvipc/sem) - 1)) in /proc/sysvipc/sem"
queues=$(ls /dev/mqueue)
echo "inside: /dev/mqueue:    ${queues:-empty}"
echo "inside: ipc namespace:  $(readlink /proc/self/ns/ipc)"
echo "inside: : > /dev/mqueue/made-inside  (a new file here is a new POSIX queue)"
: > /dev/mqueue/made-inside
echo "inside: /dev/mqueue:    $(ls /dev/mqueue)""#;

/// `sh -c SCRIPT` for the given script parts, joined by newlines.
pub fn shell(parts: &[&str]) -> Vec<String> {
    vec!["sh".to_string(), "-c".to_string(), parts.join("\n")]
}

/// The user's command when one was given after `--`, else the demo.
pub fn or_demo(command: Vec<String>, demo: &[&str]) -> Vec<String> {
    if command.is_empty() {
        shell(demo)
    } else {
        command
    }
}

/// Prints the host's side of [`LOOK_AROUND`], read by the lesson itself
/// before it starts the child.
pub fn show_host_view() -> Result<(), crate::Error> {
    narrate::heading("The host, as the lesson sees it");
    let hostname = nix::sys::utsname::uname().map(|u| u.nodename().to_string_lossy().into_owned());
    narrate::observe("hostname", hostname.unwrap_or_default());
    narrate::observe("pid namespace", namespace::id_of(None, "pid")?);
    narrate::observe("/ holds", root_listing("/"));
    narrate::heading("The container");
    Ok(())
}

/// The non-hidden names in `dir`, sorted bytewise as `ls` sorts them in the
/// C locale, joined by spaces.
pub fn root_listing(dir: &str) -> String {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.retain(|n| !n.starts_with('.'));
    names.sort();
    names.join(" ")
}

/// The first part of every rootfs lesson's demo: [`LOOK_AROUND`], or,
/// with `--escape`, [`after_escape`] to see where the escape landed.
pub fn first_look(escape: bool, rootfs: &std::path::Path) -> String {
    if escape {
        after_escape(rootfs)
    } else {
        LOOK_AROUND.to_string()
    }
}

/// The demo after `--escape`: where did the escaped process end up?
/// `rootfs` is the rootfs's path on the host.
pub fn after_escape(rootfs: &std::path::Path) -> String {
    let marker = rootfs.join(crate::rootfs::MARKER);
    format!(
        r#"echo "inside: cat /{inner}:"
[ -e /{inner} ] && cat /{inner} || echo "  no such file: this / is not the rootfs any more"
echo "inside: ls -d {outer}:"
[ -e {outer} ] && ls -d {outer} && echo "  the rootfs, seen from above: we are on the host's /" || echo "  not visible from here"
"#,
        inner = crate::rootfs::MARKER,
        outer = marker.display()
    )
}
