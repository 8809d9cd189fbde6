//! Does each namespace kind work on this machine? Created, not assumed.
//!
//! For each [`Namespace`], the probe reads the `/proc/self/ns` link (does
//! the kernel know the kind?) and then creates one in a forked child (may
//! this process create it?). Creating one is the stronger evidence.

use super::Namespace;
use crate::probe::{errno_text, probe_unshare, Fact, ProbeError};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use std::fs;
use std::io;
use std::path::Path;

/// How the doctor tried to create a namespace, and what the kernel said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// `unshare(flag)` in a child running as root.
    AsRoot(Result<(), Errno>),
    /// Without root: `unshare(CLONE_NEWUSER | flag)` in a child. Inside a
    /// user namespace it owns, an unprivileged process holds every
    /// capability, so the kernel lets it create the other kinds there
    /// (user_namespaces(7)). For the user namespace itself, plain
    /// `unshare(CLONE_NEWUSER)`.
    Unprivileged(Result<(), Errno>),
    /// Not tried: not root, and no user namespace to try it in.
    NotTried,
}

/// The fact for one namespace kind.
///
/// `ns_link` is what `/proc/self/ns/<kind>` points to (`pid:[4026531836]`),
/// or `None` when it does not exist; `attempt` is the result of trying to
/// create one. Creating one is the stronger evidence: the file only tells
/// that this kernel knows the kind.
pub fn interpret_namespace(kind: Namespace, ns_link: Option<&str>, attempt: Attempt) -> Fact {
    let label = kind.label();
    let flag = kind.flag_name();
    let here = match ns_link {
        Some(link) => format!("this process is in {link}"),
        None => format!(
            "but /proc/self/ns/{} is missing: is /proc mounted?",
            kind.name()
        ),
    };
    let build_fix = match kind.kernel_option() {
        Some(option) => format!("use a kernel built with {option}=y"),
        None => "mount /proc: `sudo mount -t proc proc /proc`".to_string(),
    };
    let limit = format!("user.max_{}_namespaces", kind.name());
    match attempt {
        Attempt::AsRoot(Ok(())) => Fact::ok(label, format!("unshare({flag}) works; {here}")),
        Attempt::Unprivileged(Ok(())) if kind == Namespace::User => {
            Fact::ok(label, format!("unshare({flag}) works without root; {here}"))
        }
        Attempt::Unprivileged(Ok(())) => Fact::ok(
            label,
            format!("unshare(CLONE_NEWUSER | {flag}) works without root; {here}"),
        ),
        // Without the /proc/self/ns file, and without a successful unshare
        // to prove otherwise, the kernel does not know this kind.
        _ if ns_link.is_none() => Fact::missing(
            label,
            format!(
                "/proc/self/ns/{} is missing: this kernel has no {} namespaces",
                kind.name(),
                kind.name()
            ),
            build_fix,
        ),
        // unshare(2): EINVAL "CLONE_NEW* was specified in flags, but the
        // kernel was not configured with" the matching option.
        Attempt::AsRoot(Err(Errno::EINVAL)) | Attempt::Unprivileged(Err(Errno::EINVAL)) => {
            Fact::missing(
                label,
                format!("unshare({flag}) fails with EINVAL: this kernel was built without them"),
                build_fix,
            )
        }
        // unshare(2): ENOSPC when the per-user limit in /proc/sys/user/
        // is reached; a limit of 0 switches the kind off (namespaces(7)).
        Attempt::AsRoot(Err(Errno::ENOSPC)) | Attempt::Unprivileged(Err(Errno::ENOSPC)) => {
            Fact::missing(
                label,
                format!("unshare({flag}) fails with ENOSPC: {limit} is 0 or used up"),
                format!("raise the limit: `sudo sysctl -w {limit}=15000`"),
            )
        }
        // Root was refused: not a missing feature but a policy above the
        // namespace code, typically the seccomp filter of a container
        // runtime, or a chroot (unshare(2): EPERM for CLONE_NEWUSER when
        // "the caller is in a chroot environment").
        Attempt::AsRoot(Err(errno)) => Fact::missing(
            label,
            format!("unshare({flag}) fails even for root: {}", errno_text(errno)),
            "a seccomp filter, a security module or a chroot forbids it: \
             run nslab on the host or in a VM, not inside a container",
        ),
        // An unprivileged process may be refused a user namespace by the
        // sysctls the doctor reports below; root may still have it.
        Attempt::Unprivileged(Err(errno)) if kind == Namespace::User => Fact::missing(
            label,
            format!("unshare({flag}) fails without root: {}", errno_text(errno)),
            "allow unprivileged user namespaces (see the sysctls below), \
             or run `sudo nslab doctor` to test it as root",
        ),
        // Refused inside a user namespace: that says nothing about what
        // root may do, so it is not a ✗.
        Attempt::Unprivileged(Err(errno)) => Fact::untested(
            label,
            format!(
                "could not test without root: unshare(CLONE_NEWUSER | {flag}) fails: {}",
                errno_text(errno)
            ),
            "run `sudo nslab doctor` to test it",
        ),
        Attempt::NotTried => Fact::untested(
            label,
            "could not test without root (and without a user namespace to test it in)",
            "run `sudo nslab doctor` to test it",
        ),
    }
}

/// Reads the `/proc/self/ns/<kind>` link; `None` when the kernel has no such file.
pub(crate) fn probe_ns_link(kind: Namespace) -> Result<Option<String>, ProbeError> {
    let path = Path::new("/proc/self/ns").join(kind.name());
    match fs::read_link(&path) {
        Ok(target) => Ok(Some(target.display().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ProbeError::ReadFile { path, source }),
    }
}

/// Probes every namespace kind: the `/proc/self/ns` link, then creating one.
pub(crate) fn probe_namespaces(is_root: bool) -> Vec<(Namespace, Fact)> {
    // Without root, try a user namespace first: if it works, the other
    // kinds can be tested inside one; if not, they cannot be tested at all.
    let mut unprivileged_userns = (!is_root).then(|| {
        probe_unshare(CloneFlags::CLONE_NEWUSER, "unshare(CLONE_NEWUSER)")
            .map(Attempt::Unprivileged)
    });
    let userns_works = matches!(unprivileged_userns, Some(Ok(Attempt::Unprivileged(Ok(())))));

    let mut facts = Vec::new();
    for kind in Namespace::ALL {
        let attempt = if is_root {
            let call = format!("unshare({})", kind.flag_name());
            probe_unshare(kind.flag(), &call).map(Attempt::AsRoot)
        } else if kind == Namespace::User {
            // Already tried above; `take` hands that result over.
            unprivileged_userns.take().unwrap_or(Ok(Attempt::NotTried))
        } else if userns_works {
            let call = format!("unshare(CLONE_NEWUSER | {})", kind.flag_name());
            probe_unshare(CloneFlags::CLONE_NEWUSER | kind.flag(), &call).map(Attempt::Unprivileged)
        } else {
            Ok(Attempt::NotTried)
        };
        let fact = match (probe_ns_link(kind), attempt) {
            (Ok(link), Ok(attempt)) => interpret_namespace(kind, link.as_deref(), attempt),
            (Err(e), _) | (_, Err(e)) => Fact::probe_failed(kind.label(), &e),
        };
        facts.push((kind, fact));
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{fix_of, Status};

    // --- Namespaces -----------------------------------------------------

    #[test]
    fn a_namespace_that_root_can_create_works() {
        let fact = interpret_namespace(
            Namespace::Pid,
            Some("pid:[4026531836]"),
            Attempt::AsRoot(Ok(())),
        );
        assert_eq!(fact.status, Status::Ok);
        assert!(fact.detail.contains("unshare(CLONE_NEWPID) works"));
        assert!(fact.detail.contains("pid:[4026531836]"));
    }

    #[test]
    fn without_root_and_without_a_user_namespace_nothing_is_claimed_missing() {
        let fact = interpret_namespace(Namespace::Net, Some("net:[4026531833]"), Attempt::NotTried);
        assert_eq!(fact.status, Status::Untested);
        assert!(fact.detail.contains("could not test without root"));
        let refused = interpret_namespace(
            Namespace::Net,
            Some("net:[4026531833]"),
            Attempt::Unprivileged(Err(Errno::EPERM)),
        );
        assert_eq!(refused.status, Status::Untested);
    }

    #[test]
    fn without_root_a_kind_can_be_tested_inside_a_user_namespace() {
        let fact = interpret_namespace(
            Namespace::Mnt,
            Some("mnt:[1]"),
            Attempt::Unprivileged(Ok(())),
        );
        assert_eq!(fact.status, Status::Ok);
        assert!(fact.detail.contains("CLONE_NEWUSER | CLONE_NEWNS"));
    }

    #[test]
    fn a_kernel_without_the_kind_is_missing_it() {
        let no_file =
            interpret_namespace(Namespace::User, None, Attempt::AsRoot(Err(Errno::EINVAL)));
        assert_eq!(no_file.status, Status::Missing);
        assert!(no_file
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("CONFIG_USER_NS"));
        // Even untested: no /proc/self/ns file means no such namespaces.
        let untested = interpret_namespace(Namespace::Ipc, None, Attempt::NotTried);
        assert_eq!(untested.status, Status::Missing);
        let einval = interpret_namespace(
            Namespace::Net,
            Some("net:[1]"),
            Attempt::AsRoot(Err(Errno::EINVAL)),
        );
        assert_eq!(einval.status, Status::Missing);
        assert!(einval
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("CONFIG_NET_NS"));
    }

    #[test]
    fn a_limit_of_zero_points_at_its_sysctl() {
        let fact = interpret_namespace(
            Namespace::User,
            Some("user:[1]"),
            Attempt::AsRoot(Err(Errno::ENOSPC)),
        );
        assert_eq!(fact.status, Status::Missing);
        assert!(
            fix_of(&fact).contains("user.max_user_namespaces"),
            "{fact:?}"
        );
    }

    #[test]
    fn root_refused_points_at_a_container_or_policy() {
        let fact = interpret_namespace(
            Namespace::Mnt,
            Some("mnt:[1]"),
            Attempt::AsRoot(Err(Errno::EPERM)),
        );
        assert_eq!(fact.status, Status::Missing);
        assert!(fact.detail.contains("EPERM"));
        assert!(fact.fix.as_deref().unwrap_or("").contains("container"));
    }

    #[test]
    fn an_unprivileged_user_namespace_refused_is_missing_for_rootless_use() {
        let fact = interpret_namespace(
            Namespace::User,
            Some("user:[1]"),
            Attempt::Unprivileged(Err(Errno::EPERM)),
        );
        assert_eq!(fact.status, Status::Missing);
        assert!(fix_of(&fact).contains("sudo nslab doctor"), "{fact:?}");
    }
}
