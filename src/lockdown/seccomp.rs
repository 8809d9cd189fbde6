//! seccomp: the system calls a container has no business making answer
//! `EPERM`. See seccomp(2) and the kernel's
//! Documentation/userspace-api/seccomp_filter.rst.
//!
//! A seccomp filter is a small classic-BPF program the kernel runs on
//! every system call the process makes, before the call itself. It sees
//! the call's number, its architecture and its six arguments (as numbers:
//! it cannot follow a pointer), and answers: allow, fail with an errno,
//! or kill. Once installed, a filter cannot be removed, and it is inherited
//! by every child and kept across `execve`.
//!
//! This filter is a *deny list* in the spirit of docker's default profile
//! (which is an allow list of some 350 calls): the calls below, that
//! reach the kernel as a whole, fail with `EPERM`; everything else is
//! allowed. It is compiled by the `seccompiler` crate (rust-vmm, used by
//! Firecracker) from rules, not written by hand.
//!
//! **Architectures.** A system call is a number, and the numbers differ
//! per architecture: `mount` is 165 on x86_64 and 40 on aarch64. The
//! filter's first instructions compare `seccomp_data.arch` with the
//! architecture it was built for and kill the process on a mismatch, so a
//! 32-bit call (`int 0x80` on x86_64, numbered from the i386 table) cannot
//! slip through under another number. On x86_64 the x32 ABI uses the
//! 64-bit architecture value with bit 30 set in the number, so each
//! refused call is refused under its x32 number too.

use super::LockdownError;
use crate::narrate;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

// ANCHOR: denied
/// The calls refused outright, and why no container needs them.
pub const DENIED: &[(&str, libc::c_long, &str)] = &[
    // Mounting: the setup is over; a mount now could hide or reveal anything.
    ("mount", libc::SYS_mount, "mount a file system"),
    ("umount2", libc::SYS_umount2, "unmount, e.g. a masked path"),
    ("pivot_root", libc::SYS_pivot_root, "change the root mount"),
    // The new mount API (Linux 5.2) does what mount(2) does, call by call.
    ("open_tree", libc::SYS_open_tree, "copy a mount"),
    ("move_mount", libc::SYS_move_mount, "attach a mount"),
    ("fsopen", libc::SYS_fsopen, "start a new file system"),
    ("fsconfig", libc::SYS_fsconfig, "configure it"),
    ("fsmount", libc::SYS_fsmount, "mount it"),
    ("fspick", libc::SYS_fspick, "reconfigure a mounted one"),
    (
        "mount_setattr",
        libc::SYS_mount_setattr,
        "make a mount read-write",
    ),
    // The kernel itself.
    ("init_module", libc::SYS_init_module, "load a kernel module"),
    (
        "finit_module",
        libc::SYS_finit_module,
        "load a kernel module from a file",
    ),
    (
        "delete_module",
        libc::SYS_delete_module,
        "unload a kernel module",
    ),
    ("kexec_load", libc::SYS_kexec_load, "boot another kernel"),
    (
        "kexec_file_load",
        libc::SYS_kexec_file_load,
        "boot another kernel",
    ),
    (
        "reboot",
        libc::SYS_reboot,
        "reboot the host (or, in a PID namespace, end it)",
    ),
    ("bpf", libc::SYS_bpf, "load programs into the kernel"),
    (
        "perf_event_open",
        libc::SYS_perf_event_open,
        "watch the whole machine",
    ),
    ("swapon", libc::SYS_swapon, "add swap"),
    ("swapoff", libc::SYS_swapoff, "remove swap"),
    ("syslog", libc::SYS_syslog, "read or clear the kernel's log"),
    ("acct", libc::SYS_acct, "turn on process accounting"),
    ("quotactl", libc::SYS_quotactl, "change disk quotas"),
    // Time is not namespaced (only CLOCK_MONOTONIC/BOOTTIME offsets are).
    (
        "settimeofday",
        libc::SYS_settimeofday,
        "set the host's clock",
    ),
    (
        "clock_settime",
        libc::SYS_clock_settime,
        "set the host's clock",
    ),
    // Files by handle: the "shocker" escape of docker 0.11 (2014) opened
    // the host's files through any mount of the host's file system.
    (
        "open_by_handle_at",
        libc::SYS_open_by_handle_at,
        "open a file by inode, past the root",
    ),
    // The kernel keyring is not namespaced.
    ("keyctl", libc::SYS_keyctl, "use the kernel's keyrings"),
    ("add_key", libc::SYS_add_key, "add a key"),
    ("request_key", libc::SYS_request_key, "request a key"),
    // A page-fault handler in user space: a tool for kernel exploits.
    (
        "userfaultfd",
        libc::SYS_userfaultfd,
        "handle page faults in user space",
    ),
];
// ANCHOR_END: denied

/// Bit 30 of an x86_64 system call number marks the x32 ABI
/// (`__X32_SYSCALL_BIT`), which reports the same architecture.
#[cfg(target_arch = "x86_64")]
const X32_BIT: libc::c_long = 0x4000_0000;

/// Calls the x32 ABI numbers on its own (512 and up, for calls whose
/// arguments differ in size), not as the 64-bit number with bit 30: of
/// those refused here, only kexec_load (arch/x86/entry/syscalls/syscall_64.tbl).
#[cfg(target_arch = "x86_64")]
const X32_OWN_NUMBERS: &[(&str, libc::c_long)] = &[("kexec_load", 528)];

/// The annotation with which a config.json asks nslab's runtime for this
/// default filter (`"default"`), there being no profile reader: the OCI
/// `linux.seccomp` field holds a whole profile, which nslab refuses. The
/// engine sets it for every container, as docker applies its default
/// profile; `"unconfined"`, or no annotation, installs none.
pub const ANNOTATION: &str = "org.nslab.seccomp";

/// The default filter, compiled: a deny list with `EPERM`, and `clone3`
/// answered `ENOSYS`. Two programs, as seccompiler gives each one action
/// on a match; the kernel runs every installed filter and takes the
/// strictest answer.
#[derive(Debug, Clone)]
pub struct Filter {
    programs: Vec<(String, BpfProgram)>,
}

fn arch() -> Result<TargetArch, LockdownError> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|_| LockdownError::Architecture {
            arch: std::env::consts::ARCH,
        })
}

/// A rule that matches when argument `index` has the bits of `flag` set.
fn has_flag(index: u8, flag: libc::c_int) -> Result<SeccompRule, LockdownError> {
    let condition = SeccompCondition::new(
        index,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(flag as u64),
        flag as u64,
    )
    .map_err(LockdownError::CompileFilter)?;
    SeccompRule::new(vec![condition]).map_err(LockdownError::CompileFilter)
}

impl Filter {
    /// Compiles the default filter for the architecture this program runs
    /// on. Done before the container's last steps, so that a filter that
    /// cannot be built stops the start before anything runs unfiltered.
    // ANCHOR: compile
    pub fn default_filter() -> Result<Filter, LockdownError> {
        let arch = arch()?;
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        for (_, number, _) in DENIED {
            // An empty list of rules: refused whatever the arguments.
            rules.insert(*number, vec![]);
        }
        // A new user namespace would give back every capability, over
        // what it owns: refused when the flags ask for one. Other
        // namespaces need CAP_SYS_ADMIN, which is gone.
        rules.insert(libc::SYS_unshare, vec![has_flag(0, libc::CLONE_NEWUSER)?]);
        rules.insert(libc::SYS_clone, vec![has_flag(0, libc::CLONE_NEWUSER)?]);
        #[cfg(target_arch = "x86_64")]
        {
            let x32: Vec<(i64, Vec<SeccompRule>)> = rules
                .iter()
                .map(|(number, rule)| (number | X32_BIT, rule.clone()))
                .collect();
            rules.extend(x32);
            for (_, number) in X32_OWN_NUMBERS {
                rules.insert(number | X32_BIT, vec![]);
            }
        }
        let deny = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )
        .map_err(LockdownError::CompileFilter)?;
        // clone3 passes its flags in a struct, behind a pointer the filter
        // cannot read. ENOSYS ("no such call") makes the C library fall back
        // to clone, whose flags the rule above can see.
        let mut clone3_rules: BTreeMap<i64, Vec<SeccompRule>> = [(libc::SYS_clone3, vec![])].into();
        #[cfg(target_arch = "x86_64")]
        clone3_rules.insert(libc::SYS_clone3 | X32_BIT, vec![]);
        let clone3 = SeccompFilter::new(
            clone3_rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        )
        .map_err(LockdownError::CompileFilter)?;
        let compile = |filter: SeccompFilter| {
            BpfProgram::try_from(filter).map_err(LockdownError::CompileFilter)
        };
        Ok(Filter {
            programs: vec![
                (
                    format!(
                        "{} calls → EPERM, and unshare and clone asking for a user namespace",
                        DENIED.len()
                    ),
                    compile(deny)?,
                ),
                ("clone3 → ENOSYS".into(), compile(clone3)?),
            ],
        })
    }
    // ANCHOR_END: compile

    /// Installs the filter in the calling thread. The last step before
    /// `execve`: after it, `mount` and the rest are refused, the setup's
    /// own calls included. Needs no_new_privs (or `CAP_SYS_ADMIN`).
    // ANCHOR: install
    pub fn install(&self) -> Result<(), LockdownError> {
        for (what, program) in &self.programs {
            narrate::syscall(format!(
                "seccomp(SECCOMP_SET_MODE_FILTER, 0, {{{} BPF instructions: {what}; other architectures killed}})",
                program.len()
            ));
            seccompiler::apply_filter(program).map_err(LockdownError::InstallFilter)?;
        }
        Ok(())
    }
    // ANCHOR_END: install

    /// [`Filter::install`] without narration, returning the errno: for
    /// `nslab doctor`'s probe, in a forked child that must not allocate.
    pub(crate) fn install_silently(&self) -> Result<(), nix::errno::Errno> {
        for (_, program) in &self.programs {
            seccompiler::apply_filter(program).map_err(|_| nix::errno::Errno::last())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_compiles_for_this_architecture() {
        let filter = Filter::default_filter().unwrap();
        assert_eq!(filter.programs.len(), 2);
        // The deny list: an arch check, then at least one jump per call.
        assert!(filter.programs[0].1.len() > DENIED.len() * 2);
    }

    /// On x86_64 each refused call is compared with its x32 number too.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_numbers_are_refused_too() {
        let filter = Filter::default_filter().unwrap();
        let compares = |program: &BpfProgram, number: libc::c_long| {
            program.iter().any(|insn| i64::from(insn.k) == number)
        };
        let deny = &filter.programs[0].1;
        for (name, number, _) in DENIED {
            assert!(compares(deny, *number), "{name}");
            assert!(compares(deny, number | X32_BIT), "{name} (x32)");
        }
        assert!(compares(&filter.programs[1].1, libc::SYS_clone3 | X32_BIT));
        for (name, number) in X32_OWN_NUMBERS {
            assert!(
                compares(deny, number | X32_BIT),
                "{name} (x32's own number)"
            );
        }
    }

    #[test]
    fn no_call_is_listed_twice() {
        let mut numbers: Vec<_> = DENIED.iter().map(|(_, n, _)| *n).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), DENIED.len());
    }
}
