//! `nslab doctor`: which lessons this machine can run, and how to fix the rest.
//!
//! Every lesson leans on a kernel facility, and workshop machines differ:
//! one kernel was built without user namespaces, another distribution turns
//! them off for unprivileged users, a third still mounts cgroups v1, a
//! container forbids `unshare(2)` altogether. Instead of letting a lesson
//! fail half-way, `nslab doctor` checks every facility up front and prints
//!
//! 1. the **machine facts**: running as root; where the default rootfs
//!    would come from; whether programs can run from the state directory
//!    (not `noexec`); whether a bind mount and `pivot_root(2)` work there,
//!    as lesson 03 does them; each namespace kind (mnt, uts, ipc, pid, net,
//!    user, cgroup); System V IPC and POSIX message queues; the sysctls
//!    that switch user namespaces off; overlayfs; the cgroup layout (v1, v2
//!    or hybrid) and its controllers. Each fact is ✓ (works), ✗ (does not,
//!    with the fix) or ? (could not be tested);
//! 2. the **verdict for each lesson that exists** (see [`LESSONS`]), from
//!    the facts that lesson needs: lesson 00 needs nothing, so it can run
//!    as any user. A "can run" is a promise, and `tests/doctor.rs` keeps
//!    it by running every such lesson.
//!
//! The doctor knows no facility itself: each probe lives beside its
//! facility (see [`crate::probe`] for the list and the rules they follow),
//! and this module gathers their facts ([`Facts::probe`]), judges each
//! lesson by the facts it needs ([`verdict`]) and prints the report.
//!
//! The state directory is `$NSLAB_STATE_DIR`, as for the lessons, or
//! `/var/lib/nslab`; until a lesson has made it, its nearest existing
//! ancestor stands for it.
//!
//! It exits with status 0 when every lesson can run, 1 otherwise.
//!
//! The doctor is the diagnosis tool, so it runs without root too: it then
//! says "not root", and never reports ✗ for something it merely could not
//! test.

use crate::manifest::{Lesson, Need, LESSONS};
use crate::namespace::Namespace;
use crate::probe::{Fact, Status};
use crate::{cgroup, ipc, mount, namespace, net, overlay, rootfs, user};
use colored::Colorize;
use nix::unistd::{geteuid, Uid};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::process::ExitCode;

// ---------------------------------------------------------------------------
// Root.
// ---------------------------------------------------------------------------

/// The root fact, from the effective user id.
///
/// Lessons check the effective uid, not capabilities, so the doctor does
/// the same: creating most namespaces, mounting and writing cgroup files
/// all need `CAP_SYS_ADMIN` in the initial user namespace, which in
/// practice means root (capabilities(7)).
pub fn interpret_root(euid: Uid) -> Fact {
    if euid.is_root() {
        Fact::ok("root", "running as root")
    } else {
        Fact::missing(
            "root",
            format!("not running as root (effective uid {euid})"),
            "run it with sudo",
        )
    }
}

// ---------------------------------------------------------------------------
// All the facts, and the lessons that need them.
// ---------------------------------------------------------------------------

/// Everything the doctor found out about this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Running as root.
    pub root: Fact,
    /// Where the default rootfs would come from.
    pub rootfs: Fact,
    /// Whether programs can run from the state directory's file system.
    pub state_dir: Fact,
    /// Whether mounting and pivot_root work in the state directory.
    pub pivot: Fact,
    /// One fact per namespace kind, in [`Namespace::ALL`] order.
    pub namespaces: Vec<(Namespace, Fact)>,
    /// The sysctls that can switch user namespaces off.
    pub userns_sysctls: Vec<Fact>,
    /// overlayfs.
    pub overlay: Fact,
    /// The cgroup layout.
    pub cgroup_mode: Fact,
    /// The cgroup controllers lesson 08 needs.
    pub cgroup_controllers: Fact,
    /// Whether cgroups are delegated to the caller (rootless limits).
    pub cgroup_delegation: Fact,
    /// System V IPC.
    pub sysv_ipc: Fact,
    /// POSIX message queues.
    pub mqueue: Fact,
    /// Bridges and veth pairs.
    pub net_devices: Fact,
    /// A seccomp filter, installed and refusing (lesson 11).
    pub seccomp: Fact,
    /// A device cgroup: v1's controller, or v2's BPF program (lesson 11).
    pub device_cgroup: Fact,
}

impl Facts {
    /// Runs every probe on this machine.
    pub fn probe() -> Facts {
        let euid = geteuid();
        let state = rootfs::probe::state_dir();
        let base = rootfs::probe::nearest_existing(&state);
        let state_fs = match rootfs::probe::probe_state_dir(&state) {
            Ok(state_fs) => rootfs::probe::interpret_state_dir(&state_fs),
            Err(e) => Fact::probe_failed("state directory", &e),
        };
        // The root's type only sharpens the advice for an EINVAL.
        let root_type = fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|mountinfo| mount::probe::root_fs_type(&mountinfo));
        let pivot = match mount::probe::probe_pivot(&base, euid.is_root()) {
            Ok(attempt) => mount::probe::interpret_pivot(&base, root_type.as_deref(), attempt),
            Err(e) => Fact::probe_failed("mount and pivot_root", &e),
        };
        let (sysv_ipc, mqueue) = ipc::probe::probe_ipc(euid.is_root());
        let mode = cgroup::probe::probe_cgroups()
            .map(|c| c.mode)
            .unwrap_or(cgroup::CgroupMode::None);
        let cgroup_delegation = cgroup::probe::interpret_delegation(
            euid.as_raw(),
            mode,
            cgroup::probe::probe_own_cgroup().as_ref(),
        );
        let (cgroup_mode, cgroup_controllers) = match cgroup::probe::probe_cgroups() {
            Ok(cgroups) => (
                cgroup::probe::interpret_cgroup_mode(&cgroups),
                cgroup::probe::interpret_cgroup_controllers(&cgroups),
            ),
            Err(e) => (
                Fact::probe_failed("cgroup mode", &e),
                Fact::probe_failed("cgroup controllers", &e),
            ),
        };
        Facts {
            root: interpret_root(euid),
            rootfs: rootfs::probe::interpret_rootfs(&rootfs::detect_source()),
            state_dir: state_fs,
            pivot,
            namespaces: namespace::probe::probe_namespaces(euid.is_root()),
            userns_sysctls: user::probe::probe_userns_sysctls(),
            overlay: overlay::probe::probe_overlay(),
            cgroup_mode,
            cgroup_controllers,
            cgroup_delegation,
            sysv_ipc,
            mqueue,
            net_devices: match net::probe::probe(euid.is_root()) {
                Ok(attempt) => net::probe::interpret(attempt),
                Err(e) => Fact::probe_failed("veth and bridge", &e),
            },
            seccomp: crate::lockdown::probe::probe_seccomp(),
            device_cgroup: crate::lockdown::probe::probe_device_cgroup(euid.is_root()),
        }
    }

    /// Every fact, in the order of the report.
    pub fn all(&self) -> Vec<&Fact> {
        let mut all = vec![&self.root, &self.rootfs, &self.state_dir, &self.pivot];
        all.extend(self.namespaces.iter().map(|(_, fact)| fact));
        all.extend([&self.sysv_ipc, &self.mqueue, &self.net_devices]);
        all.extend(&self.userns_sysctls);
        all.extend([
            &self.overlay,
            &self.cgroup_mode,
            &self.cgroup_controllers,
            &self.cgroup_delegation,
            &self.seccomp,
            &self.device_cgroup,
        ]);
        all
    }

    /// The facts that decide whether `need` is met.
    pub fn for_need(&self, need: Need) -> Vec<&Fact> {
        match need {
            Need::Root => vec![&self.root],
            Need::Rootfs => vec![&self.rootfs, &self.state_dir],
            Need::Ns(kind) => {
                let mut facts: Vec<&Fact> = self
                    .namespaces
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .map(|(_, fact)| fact)
                    .collect();
                // A mount namespace is only as good as what the lessons do
                // in it: mount, then pivot_root into the rootfs.
                if kind == Namespace::Mnt {
                    facts.push(&self.pivot);
                }
                facts
            }
            Need::UnprivilegedUserns => self.userns_sysctls.iter().collect(),
            Need::Cgroups => vec![&self.cgroup_mode, &self.cgroup_controllers],
            Need::Overlay => vec![&self.overlay],
            Need::Lockdown => vec![&self.seccomp, &self.device_cgroup],
            Need::Ipc => vec![&self.sysv_ipc, &self.mqueue],
            Need::NetDevices => vec![&self.net_devices],
        }
    }
}

/// Whether a lesson can run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Everything it needs works.
    CanRun,
    /// Something it needs does not work: these facts.
    CannotRun(Vec<&'a Fact>),
    /// Nothing it needs is known to be broken, but these facts could not
    /// be tested.
    Unknown(Vec<&'a Fact>),
}

/// Decides whether `lesson` can run, from the facts it needs.
pub fn verdict<'a>(lesson: &Lesson, facts: &'a Facts) -> Verdict<'a> {
    // Without root, a lesson with a user namespace runs rootless: root and
    // the bridge's devices are not needed, user namespaces for everyone are.
    let rootless = lesson.runs_rootless() && facts.root.status != Status::Ok;
    let needs: Vec<Need> = if rootless {
        lesson
            .needs
            .iter()
            .copied()
            .filter(|need| !matches!(need, Need::Root | Need::NetDevices))
            .chain([Need::UnprivilegedUserns])
            .collect()
    } else {
        lesson.needs.to_vec()
    };
    let relevant: Vec<&Fact> = needs
        .iter()
        .flat_map(|&need| facts.for_need(need))
        .collect();
    let blocking: Vec<&Fact> = relevant
        .iter()
        .copied()
        .filter(|f| f.status == Status::Missing)
        .collect();
    let untested: Vec<&Fact> = relevant
        .iter()
        .copied()
        .filter(|f| f.status == Status::Untested)
        .collect();
    if !blocking.is_empty() {
        // Show what could not be tested too: it may be the next problem.
        Verdict::CannotRun(blocking.into_iter().chain(untested).collect())
    } else if !untested.is_empty() {
        Verdict::Unknown(untested)
    } else {
        Verdict::CanRun
    }
}

// ---------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------

const LABEL_WIDTH: usize = 21;
const LESSON_WIDTH: usize = 14;

fn mark(status: Status) -> String {
    match status {
        Status::Ok => "✓".green().bold().to_string(),
        Status::Missing => "✗".red().bold().to_string(),
        Status::Untested => "?".yellow().bold().to_string(),
    }
}

/// Renders the whole report: the machine facts, then one verdict per lesson.
pub fn render(facts: &Facts, lessons: &[Lesson]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; `let _` keeps that visible.
    let _ = writeln!(out, "{}", "nslab doctor: what this machine can run".bold());
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", "Machine".bold());
    for fact in facts.all() {
        let label = format!("{:<LABEL_WIDTH$}", fact.label);
        let _ = writeln!(out, "  {} {label} {}", mark(fact.status), fact.detail);
        if let Some(fix) = &fact.fix {
            let _ = writeln!(out, "    {:<LABEL_WIDTH$} {} {fix}", "", "fix:".yellow());
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", "Lessons".bold());
    let mut cannot = 0;
    for lesson in lessons {
        let name = format!("{:<LESSON_WIDTH$}", lesson.binary);
        let (status, text, facts_to_show) = match verdict(lesson, facts) {
            Verdict::CanRun => (Status::Ok, "can run".green().to_string(), Vec::new()),
            Verdict::CannotRun(why) => (Status::Missing, "cannot run".red().to_string(), why),
            Verdict::Unknown(why) => (Status::Untested, "not verified".yellow().to_string(), why),
        };
        if status != Status::Ok {
            cannot += 1;
        }
        let _ = writeln!(out, "  {} {name} {text}", mark(status));
        for fact in facts_to_show {
            let _ = writeln!(
                out,
                "    {:<LESSON_WIDTH$} {} {} {}: {}",
                "",
                mark(fact.status),
                "why:".dimmed(),
                fact.label,
                fact.detail
            );
            if let Some(fix) = &fact.fix {
                let _ = writeln!(out, "    {:<LESSON_WIDTH$}   {} {fix}", "", "fix:".yellow());
            }
        }
    }
    let _ = writeln!(out);
    let summary = if cannot == 0 {
        format!("All {} lessons can run on this machine.", lessons.len())
            .green()
            .bold()
    } else {
        format!(
            "{cannot} of {} lessons cannot run (or could not be verified) here: apply the fixes above, then run `sudo nslab doctor` again.",
            lessons.len()
        )
        .red()
        .bold()
    };
    let _ = writeln!(out, "{summary}");
    out
}

/// True when every lesson can run, which is what the exit status reports.
pub fn all_can_run(facts: &Facts, lessons: &[Lesson]) -> bool {
    lessons
        .iter()
        .all(|lesson| verdict(lesson, facts) == Verdict::CanRun)
}

/// Runs every probe, prints the report to standard output, and returns
/// exit status 0 when every lesson can run, 1 otherwise.
pub fn main() -> ExitCode {
    let facts = Facts::probe();
    let report = render(&facts, LESSONS);
    let mut out = io::stdout().lock();
    // A closed stdout (`nslab doctor | head`) must not turn into a panic;
    // the exit status still carries the verdict.
    let _ = out.write_all(report.as_bytes());
    let _ = out.flush();
    if all_can_run(&facts, LESSONS) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::probe::{interpret_cgroup_controllers, interpret_cgroup_mode};
    use crate::cgroup::CgroupMode;
    use crate::ipc::probe::{interpret_mqueue, interpret_sysv_ipc};
    use crate::mount::probe::{interpret_pivot, PivotAttempt, PIVOT_ROOT_STEP};
    use crate::namespace::probe::{interpret_namespace, Attempt};
    use crate::overlay::probe::interpret_overlay;
    use crate::probe::machines::*;
    use crate::rootfs::probe::{interpret_rootfs, interpret_state_dir, StateDirFs};
    use crate::rootfs::Source;
    use crate::user::probe::{
        interpret_apparmor_restrict_userns, interpret_max_user_namespaces,
        interpret_unprivileged_userns_clone,
    };
    use nix::errno::Errno;
    use std::path::{Path, PathBuf};

    /// A state directory on an ordinary file system, or not.
    fn state_fs(noexec: bool, nodev: bool) -> StateDirFs {
        StateDirFs {
            dir: PathBuf::from("/var/lib/nslab"),
            examined: PathBuf::from("/var/lib/nslab"),
            noexec,
            nodev,
        }
    }
    // --- Root -----------------------------------------------------------

    #[test]
    fn root_is_ok_and_anyone_else_is_told_to_use_sudo() {
        assert_eq!(interpret_root(Uid::from_raw(0)).status, Status::Ok);
        let user = interpret_root(Uid::from_raw(1000));
        assert_eq!(user.status, Status::Missing);
        assert!(user.detail.contains("1000"));
        assert_eq!(user.fix.as_deref(), Some("run it with sudo"));
    }

    // --- Verdicts -------------------------------------------------------

    fn healthy_root_machine() -> Facts {
        let cgroups = cgroups_from(CgroupMode::Hybrid, MOUNTINFO_HYBRID, "");
        Facts {
            root: interpret_root(Uid::from_raw(0)),
            rootfs: interpret_rootfs(&Ok(Source::Busybox(PathBuf::from("/bin/busybox")))),
            state_dir: interpret_state_dir(&state_fs(false, false)),
            pivot: interpret_pivot(
                Path::new("/var/lib"),
                Some("ext4"),
                PivotAttempt::Tried(Ok(())),
            ),
            namespaces: Namespace::ALL
                .iter()
                .map(|&k| {
                    (
                        k,
                        interpret_namespace(k, Some("x:[1]"), Attempt::AsRoot(Ok(()))),
                    )
                })
                .collect(),
            userns_sysctls: vec![
                interpret_max_user_namespaces(Some("100")),
                interpret_unprivileged_userns_clone(None),
                interpret_apparmor_restrict_userns(None),
            ],
            overlay: interpret_overlay(FILESYSTEMS_WITH_OVERLAY, None),
            cgroup_mode: interpret_cgroup_mode(&cgroups),
            cgroup_controllers: interpret_cgroup_controllers(&cgroups),
            cgroup_delegation: crate::cgroup::probe::interpret_delegation(
                0,
                CgroupMode::Hybrid,
                None,
            ),
            sysv_ipc: interpret_sysv_ipc(true),
            mqueue: interpret_mqueue(true, Some(Ok(()))),
            net_devices: crate::net::probe::interpret(crate::net::probe::Attempt::Tried(Ok(()))),
            seccomp: Fact::ok("seccomp filter", "refuses"),
            device_cgroup: Fact::ok("device cgroup", "v1"),
        }
    }

    /// Lessons still to come, with the needs they will have, to test the
    /// verdicts for facilities no lesson in [`LESSONS`] needs yet.
    const FUTURE_LESSONS: &[Lesson] = &[
        future(
            "07",
            "07-user",
            &[
                Need::Rootfs,
                Need::Ns(Namespace::User),
                Need::UnprivilegedUserns,
            ],
        ),
        future(
            "08",
            "08-cgroups",
            &[Need::Root, Need::Rootfs, Need::Cgroups],
        ),
        future("09", "09-union", &[Need::Root, Need::Rootfs, Need::Overlay]),
    ];

    const fn future(number: &'static str, binary: &'static str, needs: &'static [Need]) -> Lesson {
        Lesson {
            number,
            binary,
            title: "",
            needs,
            why_root: None,
            next: "",
            rootless: false,
        }
    }

    /// The lessons that would not run on `facts`.
    fn blocked<'a>(lessons: &'a [Lesson], facts: &Facts) -> Vec<&'a str> {
        lessons
            .iter()
            .filter(|l| verdict(l, facts) != Verdict::CanRun)
            .map(|l| l.binary)
            .collect()
    }

    #[test]
    fn a_healthy_machine_runs_every_lesson() {
        let facts = healthy_root_machine();
        assert!(all_can_run(&facts, LESSONS));
        assert!(all_can_run(&facts, FUTURE_LESSONS));
        colored::control::set_override(false);
        let report = render(&facts, LESSONS);
        let all = format!("All {} lessons can run", LESSONS.len());
        assert!(report.contains(&all), "{report}");
    }

    #[test]
    fn the_report_gives_each_problem_its_fix_twice() {
        let mut facts = healthy_root_machine();
        facts.sysv_ipc = interpret_sysv_ipc(false);
        colored::control::set_override(false);
        let report = render(&facts, LESSONS);
        // Once under the machine fact, once under each lesson it stops:
        // 05-ipc and every lesson after it.
        let stopped = LESSONS.iter().filter(|l| l.needs(Need::Ipc)).count();
        assert_eq!(stopped, LESSONS.len() - 5);
        assert_eq!(
            report
                .matches("fix: use a kernel built with CONFIG_SYSVIPC=y")
                .count(),
            1 + stopped,
            "{report}"
        );
        assert!(
            report.contains("  ✗ 05-ipc         cannot run\n"),
            "{report}"
        );
        let summary = format!("{stopped} of {} lessons cannot run", LESSONS.len());
        assert!(report.contains(&summary), "{report}");
    }

    #[test]
    fn the_report_lists_exactly_the_lessons_of_the_manifest() {
        colored::control::set_override(false);
        let report = render(&healthy_root_machine(), LESSONS);
        let listed: Vec<&str> = report
            .lines()
            .filter_map(|line| line.strip_prefix("  ✓ "))
            .filter(|rest| rest.ends_with(" can run"))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        let manifest: Vec<&str> = LESSONS.iter().map(|l| l.binary).collect();
        assert_eq!(listed, manifest);
        assert_eq!(manifest.first(), Some(&"00-process"));
    }

    #[test]
    fn without_root_only_what_needs_no_root_runs() {
        let mut facts = healthy_root_machine();
        facts.root = interpret_root(Uid::from_raw(1000));
        facts.pivot = interpret_pivot(Path::new("/var/lib"), None, PivotAttempt::NotRoot);
        facts.mqueue = interpret_mqueue(true, None);
        facts.namespaces = Namespace::ALL
            .iter()
            .map(|&k| {
                (
                    k,
                    interpret_namespace(k, Some("x:[1]"), Attempt::Unprivileged(Ok(()))),
                )
            })
            .collect();
        // Lesson 00 needs nothing; every other lesson so far needs root.
        for lesson in LESSONS {
            assert_eq!(
                verdict(lesson, &facts) == Verdict::CanRun,
                lesson.binary == "00-process",
                "{}",
                lesson.binary
            );
        }
        assert!(!all_can_run(&facts, LESSONS));
        // 07 runs rootless: root is not what stops it.
        match verdict(crate::manifest::lesson("07-user"), &facts) {
            Verdict::CannotRun(why) | Verdict::Unknown(why) => {
                assert!(why.iter().all(|f| f.label != "root"), "{why:?}")
            }
            Verdict::CanRun => {}
        }
        // The rootless lesson to come runs without root.
        assert_eq!(blocked(FUTURE_LESSONS, &facts), ["08-cgroups", "09-union"]);
    }

    #[test]
    fn untested_facts_never_become_cannot_run_on_their_own() {
        let mut facts = healthy_root_machine();
        facts.namespaces[3].1 =
            interpret_namespace(Namespace::Pid, Some("pid:[1]"), Attempt::NotTried);
        assert!(matches!(
            verdict(crate::manifest::lesson("02-pid"), &facts),
            Verdict::Unknown(_)
        ));
        assert_eq!(verdict(&LESSONS[0], &facts), Verdict::CanRun);

        let mut facts = healthy_root_machine();
        facts.pivot = interpret_pivot(Path::new("/var/lib"), None, PivotAttempt::NotRoot);
        assert!(matches!(
            verdict(crate::manifest::lesson("03-mount"), &facts),
            Verdict::Unknown(_)
        ));
        assert_eq!(
            blocked(LESSONS, &facts),
            [
                "03-mount",
                "04-uts",
                "05-ipc",
                "06-net",
                "07-user",
                "08-cgroups",
                "09-union",
                "10-init-layer",
                "11-lockdown"
            ]
        );
    }

    #[test]
    fn each_missing_facility_stops_exactly_the_lessons_that_need_it() {
        let mut facts = healthy_root_machine();
        facts.state_dir = interpret_state_dir(&state_fs(true, false));
        assert_eq!(
            blocked(LESSONS, &facts),
            [
                "01-chroot",
                "02-pid",
                "03-mount",
                "04-uts",
                "05-ipc",
                "06-net",
                "07-user",
                "08-cgroups",
                "09-union",
                "10-init-layer",
                "11-lockdown"
            ]
        );

        let mut facts = healthy_root_machine();
        facts.pivot = interpret_pivot(
            Path::new("/var/lib"),
            Some("rootfs"),
            PivotAttempt::Tried(Err((PIVOT_ROOT_STEP, Errno::EINVAL))),
        );
        assert_eq!(
            blocked(LESSONS, &facts),
            [
                "03-mount",
                "04-uts",
                "05-ipc",
                "06-net",
                "07-user",
                "08-cgroups",
                "09-union",
                "10-init-layer",
                "11-lockdown"
            ]
        );

        let mut facts = healthy_root_machine();
        facts.mqueue = interpret_mqueue(false, None);
        assert_eq!(
            blocked(LESSONS, &facts),
            [
                "05-ipc",
                "06-net",
                "07-user",
                "08-cgroups",
                "09-union",
                "10-init-layer",
                "11-lockdown"
            ]
        );

        let mut facts = healthy_root_machine();
        for (kind, fact) in facts.namespaces.iter_mut() {
            if *kind == Namespace::Net {
                *fact =
                    interpret_namespace(Namespace::Net, None, Attempt::AsRoot(Err(Errno::EINVAL)));
            }
        }
        assert_eq!(
            blocked(LESSONS, &facts),
            [
                "06-net",
                "07-user",
                "08-cgroups",
                "09-union",
                "10-init-layer",
                "11-lockdown"
            ]
        );

        let mut facts = healthy_root_machine();
        for (kind, fact) in facts.namespaces.iter_mut() {
            if *kind == Namespace::User {
                *fact =
                    interpret_namespace(Namespace::User, None, Attempt::AsRoot(Err(Errno::EINVAL)));
            }
        }
        assert_eq!(
            blocked(LESSONS, &facts),
            [
                "07-user",
                "08-cgroups",
                "09-union",
                "10-init-layer",
                "11-lockdown"
            ]
        );

        let mut facts = healthy_root_machine();
        facts.net_devices = crate::net::probe::interpret(crate::net::probe::Attempt::Tried(Err((
            2,
            Errno::EOPNOTSUPP,
        ))));
        assert_eq!(
            blocked(LESSONS, &facts),
            [
                "06-net",
                "07-user",
                "08-cgroups",
                "09-union",
                "10-init-layer",
                "11-lockdown"
            ]
        );

        let mut facts = healthy_root_machine();
        facts.overlay = interpret_overlay(FILESYSTEMS_WITHOUT_OVERLAY, None);
        assert_eq!(
            blocked(LESSONS, &facts),
            ["09-union", "10-init-layer", "11-lockdown"]
        );
        assert_eq!(blocked(FUTURE_LESSONS, &facts), ["09-union"]);

        let mut facts = healthy_root_machine();
        facts.seccomp = Fact::missing("seccomp filter", "EINVAL", "CONFIG_SECCOMP_FILTER");
        assert_eq!(blocked(LESSONS, &facts), ["11-lockdown"]);
        let mut facts = healthy_root_machine();
        facts.device_cgroup = Fact::missing("device cgroup", "none", "mount it");
        assert_eq!(blocked(LESSONS, &facts), ["11-lockdown"]);

        let mut facts = healthy_root_machine();
        facts.cgroup_controllers =
            interpret_cgroup_controllers(&cgroups_from(CgroupMode::None, "", ""));
        assert_eq!(
            blocked(LESSONS, &facts),
            ["08-cgroups", "09-union", "10-init-layer", "11-lockdown"]
        );
        assert_eq!(blocked(FUTURE_LESSONS, &facts), ["08-cgroups"]);

        let mut facts = healthy_root_machine();
        facts.userns_sysctls[1] = interpret_unprivileged_userns_clone(Some("0"));
        assert!(all_can_run(&facts, LESSONS));
        assert_eq!(blocked(FUTURE_LESSONS, &facts), ["07-user"]);
    }
}
