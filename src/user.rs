//! Lesson 07: the user namespace, where root inside is an ordinary user
//! outside (user_namespaces(7)).
//!
//! A user namespace has its own user and group ids, tied to the parent's
//! by *maps*: `0 100000 65536` in `/proc/<pid>/uid_map` says ids 0 to
//! 65535 inside are 100000 to 165535 outside. Root inside (id 0) holds
//! every capability, but only over what its namespace owns: the other
//! namespaces created with it, and files whose owner is mapped. The host's
//! kernel settings, devices and files stay out of reach.
//!
//! The maps are the handshake of this lesson: the child is cloned with
//! `CLONE_NEWUSER` (first, so that every other new namespace is owned by
//! it), waits at its gate with no ids mapped yet, the parent writes the
//! maps ([`write_maps`]), opens the gate, and the child takes the ids of
//! root inside ([`become_root`]).
//!
//! [`probe`] holds whether this machine allows user namespaces at all.

pub mod probe;

use crate::narrate;
use nix::errno::Errno;
use nix::unistd::{setresgid, setresuid, Gid, Pid, Uid};
use std::fmt;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;

/// What can go wrong with user namespaces and their maps.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A `--map` that is not `INSIDE:OUTSIDE:COUNT`, or ranges that
    /// overlap.
    #[error("invalid id map {text:?}: {reason}")]
    InvalidMap {
        /// What was given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing `/proc/<pid>/uid_map`, `gid_map` or `setgroups` failed.
    #[error("failed to write {}", path.display())]
    WriteMap {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// newuidmap(1) or newgidmap(1) could not be run, or refused.
    #[error("{program} refused to write the map ({status})")]
    Helper {
        /// The helper.
        program: &'static str,
        /// How it ended, or why it could not start.
        status: String,
    },
    /// Making the demo volume failed.
    #[error("failed to make the demo volume {}", path.display())]
    Volume {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Copying the rootfs with its owners shifted failed.
    #[error("failed to make the rootfs for root inside at {}", path.display())]
    ShiftedRootfs {
        /// The file being copied.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// setresgid(2) or setresuid(2) to root inside failed.
    #[error("failed to become root inside the user namespace ({call})")]
    BecomeRoot {
        /// The call.
        call: &'static str,
        /// The cause.
        #[source]
        source: Errno,
    },
}

impl UserError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            UserError::InvalidMap { reason, .. } if reason.starts_with("without root") => None,
            UserError::InvalidMap { .. } => Some(
                "a map is INSIDE:OUTSIDE:COUNT, e.g. --map 0:100000:65536 (ids 0-65535 inside are 100000-165535 outside)"
                    .into(),
            ),
            UserError::WriteMap { .. } => Some(
                "a map can be written once, by a process with CAP_SETUID over the parent namespace; `nslab doctor` checks that user namespaces are allowed"
                    .into(),
            ),
            UserError::Helper { program, .. } => Some(format!(
                "{program} checks /etc/subuid and /etc/subgid: your user needs a range there \
                 (`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER`)"
            )),
            UserError::Volume { .. } => Some(
                "the state directory must be writable by the lesson; a killed run's volume is removed by `sudo nslab cleanup`"
                    .into(),
            ),
            UserError::ShiftedRootfs { .. } => Some(
                "`sudo nslab cleanup` removes a half-made copy; the next run makes it again".into(),
            ),
            UserError::BecomeRoot { .. } => {
                Some("id 0 must be inside the map: --map 0:OUTSIDE:COUNT".into())
            }
        }
    }
}

/// One line of a uid or gid map: `count` ids from `inside` are the ids
/// from `outside` in the parent namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// The first id inside.
    pub inside: u32,
    /// The first id outside.
    pub outside: u32,
    /// How many.
    pub count: u32,
}

impl IdMap {
    /// The map lesson 07 uses when none is given: root and 65535 more ids
    /// inside, 100000 on outside, the first range `/etc/subuid` hands out.
    pub const DEFAULT: IdMap = IdMap {
        inside: 0,
        outside: 100_000,
        count: 65_536,
    };

    /// The id outside for `inside`, if the map covers it.
    pub fn outside_of(&self, inside: u32) -> Option<u32> {
        (inside >= self.inside && inside - self.inside < self.count)
            .then(|| self.outside + (inside - self.inside))
    }

    /// The line the kernel reads from `uid_map` and `gid_map`.
    pub fn line(&self) -> String {
        format!("{} {} {}", self.inside, self.outside, self.count)
    }
}

impl fmt::Display for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.inside, self.outside, self.count)
    }
}

impl FromStr for IdMap {
    type Err = UserError;

    /// Parses `INSIDE:OUTSIDE:COUNT`, refusing what the kernel would
    /// refuse later with a bare EINVAL: a zero count, or a range that runs
    /// past the largest id (4294967294; 4294967295 is "no id").
    fn from_str(text: &str) -> Result<IdMap, UserError> {
        let invalid = |reason: &str| UserError::InvalidMap {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let fields: Vec<&str> = text.split(':').collect();
        let [inside, outside, count] = fields[..] else {
            return Err(invalid("expected three numbers, INSIDE:OUTSIDE:COUNT"));
        };
        let number = |field: &str, what: &str| {
            field.parse::<u32>().map_err(|_| {
                invalid(&format!(
                    "{what} {field:?} is not a number from 0 to 4294967294"
                ))
            })
        };
        let map = IdMap {
            inside: number(inside, "INSIDE")?,
            outside: number(outside, "OUTSIDE")?,
            count: number(count, "COUNT")?,
        };
        if map.count == 0 {
            return Err(invalid("COUNT is 0: the map would map nothing"));
        }
        for (start, what) in [(map.inside, "inside"), (map.outside, "outside")] {
            if u64::from(start) + u64::from(map.count) > u64::from(u32::MAX) {
                return Err(invalid(&format!(
                    "the {what} range runs past the largest id, 4294967294"
                )));
            }
        }
        Ok(map)
    }
}

/// Checks a list of maps the way the kernel does (user_namespaces(7)):
/// at most 340 lines, and no two ranges overlap, inside or outside.
// ANCHOR: check_maps
pub fn check_maps(maps: &[IdMap]) -> Result<(), UserError> {
    let text = maps
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if maps.len() > 340 {
        return Err(UserError::InvalidMap {
            text,
            reason: "more than 340 ranges".into(),
        });
    }
    let overlap = |a: u32, b: u32, count_a: u32, count_b: u32| {
        u64::from(a) < u64::from(b) + u64::from(count_b)
            && u64::from(b) < u64::from(a) + u64::from(count_a)
    };
    for (i, a) in maps.iter().enumerate() {
        for b in &maps[..i] {
            let side = if overlap(a.inside, b.inside, a.count, b.count) {
                Some("inside")
            } else if overlap(a.outside, b.outside, a.count, b.count) {
                Some("outside")
            } else {
                None
            };
            if let Some(side) = side {
                return Err(UserError::InvalidMap {
                    text,
                    reason: format!("{a} and {b} overlap {side}"),
                });
            }
        }
    }
    Ok(())
}
// ANCHOR_END: check_maps

/// The `--map` option of lesson 07 on.
#[derive(Debug, clap::Args)]
pub struct MapArgs {
    /// Map ids INSIDE.. to OUTSIDE.. for COUNT ids (uids and gids alike); repeat for more ranges [default: 0:100000:65536 as root; 0:UID:1, your own ids, otherwise]
    #[arg(long = "map", value_name = "INSIDE:OUTSIDE:COUNT")]
    pub maps: Vec<IdMap>,
}

impl MapArgs {
    /// The maps, checked ([`IdMaps::check`]). Without `--map`: as root,
    /// [`IdMap::DEFAULT`]; otherwise the caller's own uid and gid as root
    /// inside, the one map an ordinary user may write without help
    /// (user_namespaces(7); `newuidmap(1)` and `/etc/subuid` would allow a
    /// range).
    pub fn id_maps(&self) -> Result<IdMaps, UserError> {
        let maps = if !self.maps.is_empty() {
            IdMaps::same(self.maps.clone())
        } else if nix::unistd::geteuid().is_root() {
            IdMaps::same(vec![IdMap::DEFAULT])
        } else {
            rootless_maps()
        };
        maps.check()?;
        let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
        let only_own = |list: &[IdMap], id: u32| {
            list.len() == 1 && list[0].outside == id && list[0].count == 1
        };
        let own_ids_only = only_own(&maps.uid, uid.as_raw()) && only_own(&maps.gid, gid.as_raw());
        if !uid.is_root() && !own_ids_only && !self.maps.is_empty() {
            return Err(UserError::InvalidMap {
                text: self.maps.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                reason: format!(
                    "without root only your own ids can be mapped, one each: --map 0:{uid}:1 \
                     (a range needs root, or newuidmap(1) with /etc/subuid, which nslab does not use yet)"
                ),
            });
        }
        Ok(maps)
    }
}

/// The setuid-root helpers (shadow-utils' `uidmap` package) that let an
/// ordinary user map a range of ids the administrator gave them.
pub const HELPERS: [&str; 2] = ["newuidmap", "newgidmap"];

/// Where to look for [`HELPERS`].
const HELPER_DIRS: [&str; 2] = ["/usr/bin", "/bin"];

/// The path of helper `name`, if it is installed.
fn helper(name: &str) -> Option<PathBuf> {
    HELPER_DIRS
        .iter()
        .map(|dir| std::path::Path::new(dir).join(name))
        .find(|path| path.is_file())
}

/// The first range `name` (or `id`, as a number) has in the text of
/// `/etc/subuid` or `/etc/subgid`: lines `user:start:count` (subuid(5)).
pub fn subordinate_range(text: &str, name: &str, id: u32) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        if owner != name && owner != id.to_string() {
            return None;
        }
        let start = fields.next()?.parse().ok()?;
        let count = fields.next()?.parse().ok()?;
        (count > 0).then_some((start, count))
    })
}

/// The maps of a rootless run: the caller's own uid and gid as root
/// inside, and, when the helpers are installed and `/etc/subuid` and
/// `/etc/subgid` give the caller a range, that range as ids 1 and up, so
/// that users other than root exist inside.
pub fn rootless_maps() -> IdMaps {
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let own = |id: u32| IdMap {
        inside: 0,
        outside: id,
        count: 1,
    };
    let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|user| user.name)
        .unwrap_or_default();
    let range = |file: &str| {
        let text = fs::read_to_string(file).ok()?;
        subordinate_range(&text, &name, uid)
    };
    let helpers = HELPERS.iter().all(|name| helper(name).is_some());
    match (helpers, range("/etc/subuid"), range("/etc/subgid")) {
        (true, Some((u_start, u_count)), Some((g_start, g_count))) => IdMaps {
            uid: vec![
                own(uid),
                IdMap {
                    inside: 1,
                    outside: u_start,
                    count: u_count,
                },
            ],
            gid: vec![
                own(gid),
                IdMap {
                    inside: 1,
                    outside: g_start,
                    count: g_count,
                },
            ],
        },
        _ => IdMaps {
            uid: vec![own(uid)],
            gid: vec![own(gid)],
        },
    }
}

/// Runs helper `program` (newuidmap or newgidmap) for `child` with `maps`.
/// The helper is setuid root: it checks each range against /etc/subuid or
/// /etc/subgid, then writes the map, which the caller alone may not.
fn run_helper(program: &'static str, child: Pid, maps: &[IdMap]) -> Result<(), UserError> {
    let path = helper(program).ok_or(UserError::Helper {
        program,
        status: "not installed (Debian: `apt install uidmap`)".into(),
    })?;
    let mut args = vec![child.to_string()];
    for map in maps {
        args.extend([map.inside, map.outside, map.count].map(|n| n.to_string()));
    }
    narrate::syscall(format!(
        "{program} {}   # setuid root: checks /etc/sub{}id, then writes the map",
        args.join(" "),
        if program == "newuidmap" { "u" } else { "g" }
    ));
    let status = std::process::Command::new(path)
        .args(&args)
        .status()
        .map_err(|e| UserError::Helper {
            program,
            status: e.to_string(),
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(UserError::Helper {
            program,
            status: status.to_string(),
        })
    }
}

/// Lesson 07's demo volume is called this, then the lesson's PID:
/// `nslab cleanup` finds a killed run's by it.
pub const VOLUME_PREFIX: &str = ".nslab-volume-";

/// Where the demo volume appears inside.
pub const VOLUME_INSIDE: &str = "/mnt/volume";

/// A host directory lent to the container for the demo, as `docker run
/// --volume` lends one: made in the state directory, owned by the host ids
/// root inside maps to (or root inside could not write there), and removed
/// with what the container wrote when this value is dropped.
#[derive(Debug)]
pub struct DemoVolume {
    host: PathBuf,
    /// The mount point inside, as the host sees it in the rootfs: made by
    /// the container, removed after it, so that every run makes it anew.
    mount_point: PathBuf,
}

impl DemoVolume {
    /// Makes `<state_dir>/.nslab-volume-<pid>`, owned by root inside.
    pub fn create(
        state_dir: &std::path::Path,
        rootfs: &std::path::Path,
        maps: &IdMaps,
    ) -> Result<DemoVolume, UserError> {
        use std::os::unix::fs::{chown, DirBuilderExt};
        // Absolute: the container reaches it through the old root.
        let state_dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
        let host = state_dir.join(format!("{VOLUME_PREFIX}{}", std::process::id()));
        let (uid, gid) = (maps.root_outside(), maps.root_group_outside());
        narrate::file_op(format!(
            "mkdir {} and give it to {}:{}, root inside, so that the container can write there",
            host.display(),
            uid.unwrap_or(0),
            gid.unwrap_or(0)
        ));
        let fail = |source| UserError::Volume {
            path: host.clone(),
            source,
        };
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&host)
            .map_err(fail)?;
        let volume = DemoVolume {
            host: host.clone(),
            mount_point: rootfs.join(VOLUME_INSIDE.trim_start_matches('/')),
        };
        chown(&host, uid, gid).map_err(fail)?;
        Ok(volume)
    }

    /// The mount that shows it inside, at [`VOLUME_INSIDE`].
    pub fn mount(&self) -> crate::spec::Mount {
        crate::spec::Mount::Bind {
            source: self.host.clone(),
            target: PathBuf::from(VOLUME_INSIDE),
            read_only: false,
        }
    }

    /// After the run, from the host: who owns the file the demo made in
    /// the volume as root inside. Returns the owner's uid on the host.
    pub fn show_file_owner(&self) -> Option<u32> {
        use std::os::unix::fs::MetadataExt;
        let path = self.host.join("made-inside");
        narrate::heading("The container's file, seen from the host");
        narrate::file_op(format!("stat {}", path.display()));
        let meta = fs::metadata(&path).ok()?;
        narrate::observe("owner", format!("uid {} gid {}", meta.uid(), meta.gid()));
        narrate::explain(
            "root inside made it in the host's directory; on the host it belongs to the id root is mapped to",
        );
        Some(meta.uid())
    }
}

impl Drop for DemoVolume {
    fn drop(&mut self) {
        narrate::file_op(format!(
            "remove {}   # the demo volume",
            self.host.display()
        ));
        if let Err(error) = crate::rootfs::remove_tree(&self.host) {
            crate::report::print_error(&crate::Error::from(error));
        }
        // rmdir, never a recursive delete: empty once the container is gone.
        if fs::remove_dir(&self.mount_point).is_ok() {
            narrate::file_op(format!(
                "rmdir {}   # its mount point in the rootfs",
                self.mount_point.display()
            ));
        }
    }
}

/// The uid and gid maps of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMaps {
    /// For `/proc/<pid>/uid_map`.
    pub uid: Vec<IdMap>,
    /// For `/proc/<pid>/gid_map`.
    pub gid: Vec<IdMap>,
}

impl IdMaps {
    /// The same map for users and groups.
    pub fn same(maps: Vec<IdMap>) -> IdMaps {
        IdMaps {
            uid: maps.clone(),
            gid: maps,
        }
    }

    /// Checks both lists ([`check_maps`]), and that root inside has an id
    /// outside: the child's first step is to become root inside.
    pub fn check(&self) -> Result<(), UserError> {
        check_maps(&self.uid)?;
        check_maps(&self.gid)?;
        if self.root_outside().is_none() || self.root_group_outside().is_none() {
            return Err(UserError::InvalidMap {
                text: self
                    .uid
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                reason: "the maps give root inside (id 0) no id outside: map 0 too".into(),
            });
        }
        Ok(())
    }

    /// The host uid root inside runs as, when the maps give root one.
    pub fn root_outside(&self) -> Option<u32> {
        self.uid.iter().find_map(|map| map.outside_of(0))
    }

    /// The host gid of root's group inside.
    pub fn root_group_outside(&self) -> Option<u32> {
        self.gid.iter().find_map(|map| map.outside_of(0))
    }
}

/// The parent's step while the child waits at its gate: write the child's
/// maps. Each file takes one write(2), once; `gid_map` after `setgroups`
/// says `deny` when the writer has no CAP_SETGID over the parent namespace
/// (an unprivileged writer), so that a process cannot drop its groups to
/// get around a deny rule (user_namespaces(7), "setgroups").
// ANCHOR: write_maps
pub fn write_maps(child: Pid, maps: &IdMaps, privileged: bool) -> Result<(), UserError> {
    let proc = PathBuf::from(format!("/proc/{child}"));
    let write = |name: &str, text: String| {
        let path = proc.join(name);
        narrate::file_op(format!("write {} <- {:?}", path.display(), text));
        fs::write(&path, text).map_err(|source| UserError::WriteMap { path, source })
    };
    let lines = |maps: &[IdMap]| maps.iter().map(|m| m.line() + "\n").collect::<String>();
    // Without privilege, the kernel accepts one line, the writer's own id;
    // a range goes through the setuid helpers.
    if !privileged && (maps.uid.len() > 1 || maps.gid.len() > 1) {
        run_helper("newuidmap", child, &maps.uid)?;
        run_helper("newgidmap", child, &maps.gid)?;
        narrate::explain("ids are mapped: the child can take them now");
        return Ok(());
    }
    write("uid_map", lines(&maps.uid))?;
    if !privileged {
        write("setgroups", "deny".into())?;
    }
    write("gid_map", lines(&maps.gid))?;
    narrate::explain("ids are mapped: the child can take them now");
    Ok(())
}
// ANCHOR_END: write_maps

/// The child's first step after its maps are written: take uid and gid 0
/// inside. Until then it runs as the overflow id (65534, "nobody"), as
/// its id outside is not in the map; it holds every capability in the new
/// namespace all the same, as its creator, which is what lets it set its
/// ids. Groups first: after setresuid the right to change them would
/// depend on being root.
// ANCHOR: become_root
pub fn become_root() -> Result<(), UserError> {
    narrate::syscall("setresgid(0, 0, 0)");
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0)).map_err(|source| {
        UserError::BecomeRoot {
            call: "setresgid",
            source,
        }
    })?;
    narrate::syscall("setresuid(0, 0, 0)");
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).map_err(|source| {
        UserError::BecomeRoot {
            call: "setresuid",
            source,
        }
    })?;
    narrate::explain("root inside: uid 0 and gid 0 in our user namespace");
    Ok(())
}
// ANCHOR_END: become_root

/// The rootfs for a container whose root is `maps`' root: a copy of
/// `rootfs` whose files belong to the host ids root and its group map to,
/// made once per pair of ids, next to the rootfs: `rootfs-<uid>-<gid>`.
///
/// Why a copy: capabilities in a user namespace only reach inodes whose
/// owner is mapped into it (user_namespaces(7)). The shared rootfs belongs
/// to the host's root, which no map of ours includes, so root inside could
/// not even make the `.old-root` directory pivot_root needs. Podman does
/// the same for images when it cannot use idmapped mounts (a kernel
/// feature, mount_setattr(2) with `MOUNT_ATTR_IDMAP`, that would show the
/// same files with shifted owners without copying them).
///
/// Built in `.rootfs.building-<pid>` and renamed into place, so a killed
/// build leaves a staging directory `nslab cleanup` removes, never half a
/// rootfs.
pub fn rootfs_for(rootfs: &std::path::Path, maps: &IdMaps) -> Result<PathBuf, UserError> {
    maps.check()?;
    let uid = maps.root_outside().unwrap_or(0);
    let gid = maps.root_group_outside().unwrap_or(0);
    // A rootfs root inside owns already (one an ordinary user built for
    // themselves, mapped to root inside) needs no copy.
    {
        use std::os::unix::fs::MetadataExt;
        let owner = fs::metadata(rootfs).map(|m| (m.uid(), m.gid())).ok();
        if owner == Some((uid, gid)) {
            narrate::explain(format!(
                "{} belongs to {uid}:{gid} already, root inside: no copy needed",
                rootfs.display()
            ));
            return Ok(rootfs.to_path_buf());
        }
    }
    let parent = rootfs.parent().unwrap_or(std::path::Path::new("/"));
    let target = parent.join(format!("rootfs-{uid}-{gid}"));
    // The copy is current when it carries the shared rootfs's stamp: a
    // rebuilt rootfs (another builder, busybox installed) means a new copy.
    let stamp = |tree: &std::path::Path| fs::read(tree.join(crate::rootfs::MARKER)).ok();
    if target.join("bin").is_dir() {
        if stamp(&target) == stamp(rootfs) {
            narrate::explain(format!(
                "{} is the rootfs with its owners shifted to {uid}:{gid}, made by an earlier run",
                target.display()
            ));
            return Ok(target);
        }
        narrate::explain(format!(
            "{} was copied from an older rootfs: copying again",
            target.display()
        ));
        crate::rootfs::remove_tree(&target).map_err(|e| UserError::ShiftedRootfs {
            path: target.clone(),
            source: io::Error::other(e.to_string()),
        })?;
    }
    let staging = parent.join(format!(".rootfs.building-{}", std::process::id()));
    narrate::file_op(format!(
        "copy {} to {}, owners shifted: 0:0 becomes {uid}:{gid}, so root inside owns its files",
        rootfs.display(),
        target.display()
    ));
    copy_shifted(rootfs, &staging, maps)?;
    match fs::rename(&staging, &target) {
        Ok(()) => Ok(target),
        // Another run made it meanwhile: use theirs.
        Err(_) if target.join("bin").is_dir() => {
            let _ = crate::rootfs::remove_tree(&staging);
            Ok(target)
        }
        Err(source) => Err(UserError::ShiftedRootfs {
            path: target,
            source,
        }),
    }
}

/// Copies the tree at `from` to `to`, each owner shifted through `maps`
/// (an id the maps do not cover is kept as it is).
// ANCHOR: copy_shifted
fn copy_shifted(
    from: &std::path::Path,
    to: &std::path::Path,
    maps: &IdMaps,
) -> Result<(), UserError> {
    use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
    let fail = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| UserError::ShiftedRootfs { path, source }
    };
    let meta = fs::symlink_metadata(from).map_err(fail(from))?;
    let shift = |id: u32, map: &[IdMap]| map.iter().find_map(|m| m.outside_of(id)).unwrap_or(id);
    let (uid, gid) = (shift(meta.uid(), &maps.uid), shift(meta.gid(), &maps.gid));
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = fs::read_link(from).map_err(fail(from))?;
        symlink(&target, to).map_err(fail(to))?;
    } else if kind.is_dir() {
        fs::create_dir(to).map_err(fail(to))?;
        for entry in fs::read_dir(from).map_err(fail(from))? {
            let entry = entry.map_err(fail(from))?;
            copy_shifted(&entry.path(), &to.join(entry.file_name()), maps)?;
        }
    } else if kind.is_file() {
        fs::copy(from, to).map_err(fail(to))?;
    } else {
        // Device nodes, fifos, sockets: none in an nslab rootfs, and a
        // container in a user namespace could not make or use them anyway.
        return Ok(());
    }
    lchown(to, Some(uid), Some(gid)).map_err(fail(to))?;
    if !kind.is_symlink() {
        // After chown, which clears the set-user-ID and set-group-ID bits.
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(fail(to))?;
    }
    Ok(())
}
// ANCHOR_END: copy_shifted

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_parse_and_say_what_is_wrong() {
        let map: IdMap = "0:100000:65536".parse().unwrap();
        assert_eq!(map, IdMap::DEFAULT);
        assert_eq!(map.line(), "0 100000 65536");
        assert_eq!(map.outside_of(0), Some(100_000));
        assert_eq!(map.outside_of(65_535), Some(165_535));
        assert_eq!(map.outside_of(65_536), None);
        let reason = |text: &str| match text.parse::<IdMap>() {
            Err(UserError::InvalidMap { reason, .. }) => reason,
            other => panic!("{text}: {other:?}"),
        };
        assert!(reason("0:100000").contains("three numbers"));
        assert!(reason("0:x:1").contains("OUTSIDE \"x\""));
        assert!(reason("0:1:0").contains("COUNT is 0"));
        assert!(reason("0:4294967290:10").contains("outside range runs past"));
        assert!(reason("-1:0:1").contains("INSIDE"));
    }

    #[test]
    fn subordinate_ranges_are_found_by_name_or_uid() {
        let text = "alice:100000:65536\n1001:165536:65536\nbob:231072:0\n";
        assert_eq!(
            subordinate_range(text, "alice", 1000),
            Some((100_000, 65_536))
        );
        assert_eq!(
            subordinate_range(text, "carol", 1001),
            Some((165_536, 65_536))
        );
        assert_eq!(
            subordinate_range(text, "bob", 1002),
            None,
            "a zero count is no range"
        );
        assert_eq!(subordinate_range(text, "dave", 1003), None);
    }

    #[test]
    fn overlapping_ranges_are_refused() {
        let map = |text: &str| text.parse::<IdMap>().unwrap();
        assert!(check_maps(&[map("0:100000:1000"), map("1000:200000:10")]).is_ok());
        let inside = check_maps(&[map("0:100000:1000"), map("999:200000:10")]).unwrap_err();
        assert!(inside.to_string().contains("invalid id map"));
        assert!(
            matches!(inside, UserError::InvalidMap { ref reason, .. } if reason.contains("overlap inside"))
        );
        let outside = check_maps(&[map("0:100000:1000"), map("2000:100500:10")]).unwrap_err();
        assert!(
            matches!(outside, UserError::InvalidMap { ref reason, .. } if reason.contains("overlap outside"))
        );
    }

    #[test]
    fn root_outside_is_where_the_map_puts_id_0() {
        let maps = IdMaps::same(vec![
            "1:5000:10".parse().unwrap(),
            "0:7000:1".parse().unwrap(),
        ]);
        assert_eq!(maps.root_outside(), Some(7000));
        let no_root = IdMaps::same(vec!["1:5000:10".parse().unwrap()]);
        assert_eq!(no_root.root_outside(), None);
    }
}
