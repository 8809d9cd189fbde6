//! The lesson manifest: one table of every lesson, read by everything that
//! needs to know the lessons.
//!
//! The root check takes a lesson's reason for root from here, `--help`
//! its "Next:" line, `nslab doctor` what each lesson needs from the
//! machine, and the layout test the list of binaries, sources and chapters
//! to keep in step. Adding a lesson starts with adding its line here.

use crate::namespace::Namespace;

/// Something a lesson needs from the machine, which `nslab doctor` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Root privileges.
    Root,
    /// A default rootfs that can be built, in a state directory where
    /// programs can run and where the lessons can mount and pivot.
    Rootfs,
    /// A namespace kind.
    Ns(Namespace),
    /// System V IPC and POSIX message queues.
    Ipc,
    /// Bridges and veth pairs (lesson 06).
    NetDevices,
    /// User namespaces allowed without root, by all three sysctls.
    UnprivilegedUserns,
    /// cgroups (v1, v2 or hybrid) with the controllers lesson 08 uses.
    Cgroups,
    /// overlayfs.
    Overlay,
    /// A seccomp filter and a device cgroup (lesson 11).
    Lockdown,
}

/// A lesson: where it lives, what it needs, what comes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lesson {
    /// Its number, as in `lessons/04_uts.rs`: `"04"`.
    pub number: &'static str,
    /// Its binary, as in Cargo.toml and `target/debug/`: `"04-uts"`.
    pub binary: &'static str,
    /// Its title, as in the book's table of contents.
    pub title: &'static str,
    /// Everything it needs, its own facility and those of the lessons before it.
    pub needs: &'static [Need],
    /// Why it needs root, completing "04-uts needs root: it …"; `None`
    /// when it runs as any user.
    pub why_root: Option<&'static str>,
    /// What the next lesson adds, for `--help` and the end of the chapter.
    pub next: &'static str,
    /// Whether it also runs without root, rootless, in a user namespace
    /// (lessons 07 and 08), leaving out what only root may do.
    pub rootless: bool,
}

impl Lesson {
    /// The lesson's source file: `lessons/04_uts.rs`.
    pub fn source(&self) -> String {
        let name = self
            .binary
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
        format!("lessons/{}_{}.rs", self.number, name.replace('-', "_"))
    }

    /// The lesson's chapter: `book/src/04-uts.md`.
    pub fn chapter(&self) -> String {
        format!("book/src/{}.md", self.binary)
    }

    /// Whether the lesson can run without root: it maps the user who runs
    /// it to root inside a user namespace, and leaves out what only real
    /// root may do (a bridge, cgroups).
    pub fn runs_rootless(&self) -> bool {
        self.rootless
    }

    /// Whether the lesson needs `need`.
    pub fn needs(&self, need: Need) -> bool {
        self.needs.contains(&need)
    }
}

const ROOT: Need = Need::Root;
const ROOTFS: Need = Need::Rootfs;
const PID: Need = Need::Ns(Namespace::Pid);
const MNT: Need = Need::Ns(Namespace::Mnt);
const UTS: Need = Need::Ns(Namespace::Uts);
const IPC_NS: Need = Need::Ns(Namespace::Ipc);
const IPC: Need = Need::Ipc;
const NET: Need = Need::Ns(Namespace::Net);
const NET_DEVICES: Need = Need::NetDevices;
const USER: Need = Need::Ns(Namespace::User);
const CGROUPS: Need = Need::Cgroups;
const OVERLAY: Need = Need::Overlay;
const LOCKDOWN: Need = Need::Lockdown;

/// Every lesson that exists, in order.
///
/// Lessons are cumulative: lesson N does everything lesson N-1 did, plus
/// one facility, so the lists of needs grow. Lesson 00 isolates nothing and
/// runs as any user.
// Kept as a table, one lesson per entry, so the lists can be compared by eye.
#[rustfmt::skip]
pub const LESSONS: &[Lesson] = &[
    Lesson {
        number: "00", binary: "00-process", title: "A container is a process",
        needs: &[],
        why_root: None,
        next: "01-chroot gives the child its own root directory.",
        rootless: false,
    },
    Lesson {
        number: "01", binary: "01-chroot", title: "chroot: a different /",
        needs: &[ROOT, ROOTFS],
        why_root: Some("calls chroot(2), which needs CAP_SYS_CHROOT"),
        next: "02-pid gives the child its own PID namespace.",
        rootless: false,
    },
    Lesson {
        number: "02", binary: "02-pid", title: "PID namespace: PID 1",
        needs: &[ROOT, ROOTFS, PID],
        why_root: Some("creates a PID namespace, which needs CAP_SYS_ADMIN"),
        next: "03-mount gives the child its own mount table and a fresh /proc.",
        rootless: false,
    },
    Lesson {
        number: "03", binary: "03-mount", title: "Mount namespace and pivot_root",
        needs: &[ROOT, ROOTFS, PID, MNT],
        why_root: Some("creates mount and PID namespaces and mounts file systems, which needs CAP_SYS_ADMIN"),
        next: "04-uts gives the container a hostname of its own.",
        rootless: false,
    },
    Lesson {
        number: "04", binary: "04-uts", title: "UTS namespace: a hostname of its own",
        needs: &[ROOT, ROOTFS, PID, MNT, UTS],
        why_root: Some("creates mount, PID and UTS namespaces, which needs CAP_SYS_ADMIN"),
        next: "05-ipc gives the container its own IPC objects.",
        rootless: false,
    },
    Lesson {
        number: "05", binary: "05-ipc", title: "IPC namespace",
        needs: &[ROOT, ROOTFS, PID, MNT, UTS, IPC_NS, IPC],
        why_root: Some("creates mount, PID, UTS and IPC namespaces, which needs CAP_SYS_ADMIN"),
        next: "06-net gives the container a network stack of its own.",
        rootless: false,
    },
    Lesson {
        number: "06", binary: "06-net", title: "Network namespace: none, host, bridge, container",
        needs: &[ROOT, ROOTFS, PID, MNT, UTS, IPC_NS, IPC, NET, NET_DEVICES],
        why_root: Some("creates mount, PID, UTS, IPC and network namespaces and network devices, which needs CAP_SYS_ADMIN and CAP_NET_ADMIN"),
        next: "07-user makes root inside the container an ordinary user outside.",
        rootless: false,
    },
    Lesson {
        number: "07", binary: "07-user", title: "User namespace: root inside, nobody outside",
        needs: &[ROOT, ROOTFS, PID, MNT, UTS, IPC_NS, IPC, NET, NET_DEVICES, USER],
        why_root: Some("writes id maps for any range of host ids, and plugs in the network, which needs CAP_SETUID and CAP_NET_ADMIN"),
        next: "08-cgroups limits what the container may use.",
        rootless: true,
    },
    Lesson {
        number: "08", binary: "08-cgroups", title: "cgroups: limits on what it uses",
        needs: &[ROOT, ROOTFS, PID, MNT, UTS, IPC_NS, IPC, NET, NET_DEVICES, USER, CGROUPS],
        why_root: Some("makes cgroups and writes their limits, which needs root (or a delegated subtree)"),
        next: "09-union builds the root filesystem from layers, with overlayfs.",
        rootless: true,
    },
    Lesson {
        number: "09", binary: "09-union", title: "overlayfs: layers and a writable top",
        needs: &[ROOT, ROOTFS, PID, MNT, UTS, IPC_NS, IPC, NET, NET_DEVICES, USER, CGROUPS, OVERLAY],
        why_root: Some("makes cgroups and network devices and mounts overlayfs for any user (without root it runs rootless)"),
        next: "10-init-layer adds a layer made for each container: hostname, hosts, resolv.conf.",
        rootless: true,
    },
    Lesson {
        number: "10", binary: "10-init-layer", title: "The init layer: files made for one container",
        needs: &[ROOT, ROOTFS, PID, MNT, UTS, IPC_NS, IPC, NET, NET_DEVICES, USER, CGROUPS, OVERLAY],
        why_root: Some("makes cgroups and network devices and mounts overlayfs for any user (without root it runs rootless)"),
        next: "11-lockdown takes away what root inside still has: capabilities, system calls, paths.",
        rootless: true,
    },
    Lesson {
        number: "11", binary: "11-lockdown", title: "Lockdown: what root inside no longer has",
        // USER: the corpus makes a user namespace, the door seccomp closes.
        needs: &[ROOT, ROOTFS, PID, MNT, UTS, IPC_NS, IPC, NET, NET_DEVICES, USER, CGROUPS, OVERLAY, LOCKDOWN],
        why_root: Some("compares a container of the host's root before and after the lockdown: without root there is no host's root inside to lock down (lesson 07's rootless containers already lack its powers)"),
        next: "nslab, the runtime (lesson 12): the same start sequence, driven by an OCI bundle.",
        rootless: false,
    },
];

/// The lesson whose binary is `binary`.
///
/// # Panics
///
/// When no such lesson is in [`LESSONS`]: a lesson binary asking for a
/// name that is not there is a bug the layout test catches first.
pub fn lesson(binary: &str) -> &'static Lesson {
    LESSONS
        .iter()
        .find(|lesson| lesson.binary == binary)
        .unwrap_or_else(|| panic!("{binary} is not in the lesson manifest"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_one_number_rule() {
        let uts = lesson("04-uts");
        assert_eq!(uts.source(), "lessons/04_uts.rs");
        assert_eq!(uts.chapter(), "book/src/04-uts.md");
    }

    #[test]
    fn lessons_are_numbered_in_order_and_cumulative() {
        for (index, pair) in LESSONS.windows(2).enumerate() {
            let (before, after) = (&pair[0], &pair[1]);
            assert_eq!(after.number, format!("{:02}", index + 1));
            for need in before.needs {
                assert!(after.needs(*need), "{} lost {need:?}", after.binary);
            }
        }
    }

    #[test]
    fn only_lessons_that_need_root_say_why() {
        for lesson in LESSONS {
            assert_eq!(
                lesson.needs(Need::Root),
                lesson.why_root.is_some(),
                "{}",
                lesson.binary
            );
        }
    }
}
