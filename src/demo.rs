//! The built-in demonstrations: what a lesson runs when no command is given.
//!
//! Each demo is a small shell script run *inside* the container, next to
//! what the lesson shows of the host from outside, with the same labels, so
//! the two can be read side by side: what is the same, what changed.

use crate::chroot::{self, DirId};
use crate::namespace::{self, Namespace};
use crate::{mount, narrate, pid, Error};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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

/// Lesson 03 on: what pivot_root does not close. Root inside still holds
/// every capability (the `CapEff` mask), and `/proc/sys` is the host's.
pub const STILL_OPEN: &str = r#"echo "inside: CapEff:         $(while read -r key value; do [ "$key" = CapEff: ] && echo "$value"; done < /proc/self/status)  (a bit per capability: still the host's root)"
echo "inside: /proc/sys/vm:   $([ -w /proc/sys/vm/swappiness ] && echo "writable: these are the host's kernel settings" || echo read-only)""#;

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

/// Lesson 06: the container's network, as it sees it: its devices and
/// addresses, its routes, and, on a bridge, the gateway answering a ping.
/// `ip` and `ping` are busybox's (a rootfs made from host programs may
/// lack them, and says so).
pub const NETWORK: &str = r#"echo "inside: net namespace:  $(readlink /proc/self/ns/net)"
echo "inside: ip -4 addr  (IPv4: what the lesson configures)"
ip -4 addr || echo "(no ip command in this rootfs)"
echo "inside: ip route"
ip route || true
gateway=$(ip route 2>/dev/null | sed -n 's/^default via \([0-9.]*\).*/\1/p')
if [ -n "$gateway" ]; then
  echo "inside: ping -c 1 $gateway  (the bridge, on the host)"
  ping -c 1 -W 2 "$gateway" | grep -E 'packets|bytes from' || echo "inside: no answer from $gateway"
fi"#;

/// Lesson 07: who root inside is, and the doors of lessons 03-05 tried
/// again. Each attempt is harmless where it succeeds: the kernel setting
/// is written back with the value it has, `/sys` is the container's own
/// mount (never remounted read-only again, which would reach a sysfs the
/// host shares), and the device node goes on the container's own tmpfs
/// and is never opened.
pub const USER_INSIDE: &str = r#"echo "inside: id:             $(id)"
echo "inside: uid_map:        $(echo $(cat /proc/self/uid_map))  (inside, outside, count)"
echo "inside: user namespace: $(readlink /proc/self/ns/user)"
echo "inside: CapEff:         $(while read -r key value; do [ "$key" = CapEff: ] && echo "$value"; done < /proc/self/status)  (every capability, over what our user namespace owns)"
swappiness=$(cat /proc/sys/vm/swappiness)
if out=$( (echo "$swappiness" > /proc/sys/vm/swappiness) 2>&1); then
  echo "inside: /proc/sys/vm:   written (the same value back): the host's kernel settings are ours to change"
else
  echo "inside: /proc/sys/vm:   refused (${out##*: }): the host's settings belong to the host's user namespace"
fi
if out=$(mount -o remount,rw /sys 2>&1); then
  echo "inside: /sys:           remounted read-write: the host's devices, writable"
else
  echo "inside: /sys:           remount read-write refused: root inside may not make /sys writable"
fi
if out=$(mknod /tmp/disk b 8 0 2>&1); then
  echo "inside: mknod b 8 0:    made: a node for the host's first disk"
else
  echo "inside: mknod b 8 0:    refused (${out##*: }): devices belong to the host's user namespace"
fi
echo "inside: echo hi > /mnt/volume/made-inside  (a host directory, lent: the host will see who owns it)"
echo hi > /mnt/volume/made-inside"#;

/// Lesson 08: the container's cgroup, as it sees it. With a cgroup
/// namespace its paths start at `/`; without, they are the host's.
pub const CGROUP_INSIDE: &str = r#"echo "inside: cgroup namespace: $(readlink /proc/self/ns/cgroup)"
echo "inside: /proc/self/cgroup:"
while read -r line; do echo "  $line"; done < /proc/self/cgroup"#;

/// Lesson 08, `--demo oom`: `tail` reads /dev/zero, which has no newline,
/// and keeps all of it in memory, looking for the last ten lines.
pub const OOM: &str = r#"echo "inside: tail /dev/zero  (keeps everything it reads: memory grows until the limit)"
exec tail /dev/zero"#;

/// Lesson 08, `--demo forkbomb`: each call starts two more in the
/// background, forever. PID 1 waits 2 s and exits, and with it, the
/// kernel kills every process of its PID namespace.
pub const FORK_BOMB: &str = r#"echo "inside: a fork bomb: bomb() { bomb | bomb & }; bomb"
bomb() { bomb | bomb & }
bomb 2>/dev/null
sleep 2
echo "inside: still answering after 2 s of fork bomb""#;

/// Lesson 08, `--demo cpu`: `yes` writes as fast as one CPU lets it, for
/// 3 s, then `timeout` ends it.
pub const CPU_BURN: &str = r#"echo "inside: timeout 3 yes > /dev/null  (one CPU's worth of work, for 3 s)"
timeout 3 yes > /dev/null
echo "inside: done""#;

/// Lesson 09: a new file, a change and a deletion in files of the
/// layers below, and a directory replaced; and what the top layer did.
pub const UNION: &str = r#"echo "inside: cat /etc/motd  (a file the top layer adds)"
cat /etc/motd
echo "inside: ls /linuxrc  (the base has it; the top layer deleted it)"
ls /linuxrc 2>&1
echo "inside: echo hello > /new-file  (a new file: straight into our layer)"
echo hello > /new-file
echo "inside: echo '# changed' >> /etc/passwd  (a file of a layer below: copied up, then changed)"
echo '# changed' >> /etc/passwd
echo "inside: rm /etc/group  (a file of a layer below: hidden by a whiteout)"
rm /etc/group
echo "inside: rm -r /home; mkdir /home  (a directory replaced: made opaque)"
rm -r /home && mkdir /home && echo mine > /home/made-inside
echo "inside: ls /etc: $(ls /etc | tr '
' ' ')""#;

/// Lesson 10: the three files the init layer made for this container.
pub const INIT_LAYER: &str = r#"for f in /etc/hostname /etc/hosts /etc/resolv.conf; do
  echo "inside: cat $f"
  while read -r line; do echo "  $line"; done < $f
done
echo "inside: hostname: $(uname -n)""#;

/// Lesson 05: the container's IPC objects. Expects `key` set, by a line
/// before it, to the lesson's System V key in decimal, as
/// `/proc/sysvipc/*` lists keys (see `ipc::demo::demo_script`).
///
/// Before this shell started, the child made a message queue with that
/// key (`ipc::demo::HostObjects::look_from_inside`). A second `sh`, another
/// process in the same IPC namespace, finds it by key in
/// `/proc/sysvipc/msg` and prints key and id as ipcs(1) would, with
/// `read` and `printf` only, as a rootfs may have no `ipcs`. The other
/// tables are counted by lines rather than printed, as their headers
/// change with the kernel version. A POSIX queue is made by creating a
/// file in the mqueue file system with a shell redirection, as a rootfs
/// built from host programs has no `touch`.
pub const IPC_INSIDE: &str = r#"echo "inside: ipc namespace:  $(readlink /proc/self/ns/ipc)"
echo "inside: message queues: $(($(wc -l < /proc/sysvipc/msg) - 1)) in /proc/sysvipc/msg"
sh -c 'found=no
while read -r k id rest; do
  [ "$k" = "$1" ] && found=yes && printf "inside: key 0x%08x:    msqid %s  (read by PID %s; PID 1 made it before execve: two processes, one queue)\n" "$k" "$id" "$$"
done < /proc/sysvipc/msg
[ $found = yes ] || printf "inside: key 0x%08x:    not in /proc/sysvipc/msg\n" "$1"' sh "$key"
echo "inside: shared memory:  $(($(wc -l < /proc/sysvipc/shm) - 1)) in /proc/sysvipc/shm"
echo "inside: semaphore sets: $(($(wc -l < /proc/sysvipc/sem) - 1)) in /proc/sysvipc/sem"
queues=$(ls /dev/mqueue)
echo "inside: /dev/mqueue:    ${queues:-empty}"
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
    narrate::observe("pid namespace", namespace::id_of(None, Namespace::Pid)?);
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
pub fn first_look(escape: bool, rootfs: &Path) -> String {
    if escape {
        after_escape(rootfs)
    } else {
        LOOK_AROUND.to_string()
    }
}

/// The demo after `--escape`: where did the escaped process end up?
/// `rootfs` is the rootfs's path on the host.
pub fn after_escape(rootfs: &Path) -> String {
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

/// Shows the child from the host while it waits at its gate: its two PIDs
/// if it has a PID namespace of its own, then each other new namespace
/// next to the host's.
pub fn show_child(child: Pid, namespaces: &[Namespace]) -> Result<(), Error> {
    if namespaces.contains(&Namespace::Pid) {
        pid::show_from_host(child)?;
    }
    for kind in namespaces.iter().filter(|k| **k != Namespace::Pid) {
        namespace::show_from_host(child, *kind)?;
    }
    Ok(())
}

/// Lesson 01's escape, ready to be tried inside a container.
#[derive(Debug, Clone)]
pub struct Escape {
    host_root: DirId,
    rootfs: PathBuf,
    dir_name: String,
}

impl Escape {
    /// Takes the host's `/` identity now, before any chroot, so that the
    /// escape can tell honestly whether it got out.
    pub fn prepare(rootfs: &Path) -> Result<Escape, Error> {
        Ok(Escape {
            host_root: chroot::dir_id(Path::new("/"))?,
            rootfs: rootfs.to_path_buf(),
            dir_name: chroot::escape_dir_name(std::process::id()),
        })
    }

    /// Tries the escape; after pivot_root (`pivoted`) explains its outcome.
    pub fn attempt(&self, pivoted: bool) -> Result<(), Error> {
        let outcome = chroot::escape(self.host_root, &self.rootfs, &self.dir_name)?;
        if pivoted {
            mount::explain_escape(outcome);
        }
        Ok(())
    }
}

/// What the files of a shared rootfs looked like before a run, to tell the
/// learner afterwards what the container (or another one running on the
/// same rootfs meanwhile) wrote there. Until lesson 09 gives each container
/// a layer of its own, every container writes into the one rootfs.
#[derive(Debug)]
pub struct RootfsWatch {
    root: PathBuf,
    before: Option<BTreeMap<PathBuf, (u32, u64, i64)>>,
}

/// More entries than this and the rootfs is too big to compare cheaply.
const WATCH_LIMIT: usize = 20_000;

impl RootfsWatch {
    /// Records the rootfs at `root` as it is now.
    pub fn start(root: &Path) -> RootfsWatch {
        RootfsWatch {
            root: root.to_path_buf(),
            before: files(root),
        }
    }

    /// Says what changed in the rootfs since [`RootfsWatch::start`], if
    /// anything. Returns true when nothing did.
    pub fn report(&self) -> bool {
        let (Some(before), Some(after)) = (&self.before, files(&self.root)) else {
            return true;
        };
        let mut changes = Vec::new();
        for (path, meta) in &after {
            match before.get(path) {
                None => changes.push(format!("new: /{}", path.display())),
                Some(old) if old != meta => changes.push(format!("changed: /{}", path.display())),
                _ => {}
            }
        }
        for path in before.keys().filter(|p| !after.contains_key(*p)) {
            changes.push(format!("removed: /{}", path.display()));
        }
        if changes.is_empty() {
            return true;
        }
        narrate::heading("The shared rootfs, after the run");
        for change in changes.iter().take(10) {
            narrate::warning(change);
        }
        if changes.len() > 10 {
            narrate::warning(format!("… and {} more", changes.len() - 10));
        }
        narrate::explain(format!(
            "written into {} while the container ran: every container started on\n\
             this rootfs will see it. Lesson 09 gives each container a layer of its own.\n\
             Until then, for a fresh default rootfs: `sudo nslab cleanup --rootfs` (with the\n\
             same --state-dir, if you gave one), and the next lesson builds it again.",
            self.root.display()
        ));
        false
    }
}

/// Every file and directory under `root` (not crossing into other file
/// systems, not following links) with its type and permissions, size and
/// modification time; a directory's time is left out, as creating and
/// removing a file inside changes it. The lessons' own passing entries
/// (`.old-root`, `.nslab-escape-*`) are left out too: another lesson's
/// may be there for a moment. `None` for a tree too big to compare.
fn files(root: &Path) -> Option<BTreeMap<PathBuf, (u32, u64, i64)>> {
    let device = fs::symlink_metadata(root).ok()?.dev();
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).ok()?.to_path_buf();
            let name = relative.to_string_lossy();
            if name.starts_with(mount::OLD_ROOT) || name.starts_with(".nslab-escape") {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let mtime = if meta.is_dir() {
                0
            } else {
                meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
            };
            if meta.is_dir() && meta.dev() == device {
                stack.push(path);
            }
            found.insert(
                relative,
                (
                    meta.mode(),
                    if meta.is_dir() { 0 } else { meta.len() },
                    mtime,
                ),
            );
            if found.len() > WATCH_LIMIT {
                return None;
            }
        }
    }
    Some(found)
}
