//! The switches that turn user namespaces off: one upstream, one Debian's,
//! one Ubuntu's. Lesson 07 and rootless use need them on.

use crate::probe::{read_optional, Fact};
use std::path::Path;

/// The upstream limit on user namespaces per user; 0 switches them off for
/// everyone, root included (namespaces(7), "/proc/sys/user").
pub const MAX_USER_NAMESPACES: &str = "/proc/sys/user/max_user_namespaces";

/// Debian's switch (a Debian kernel patch): 0 allows user namespaces to
/// root only.
pub const UNPRIVILEGED_USERNS_CLONE: &str = "/proc/sys/kernel/unprivileged_userns_clone";

/// Ubuntu's AppArmor switch: 1 strips an unprivileged process of its
/// capabilities in a new user namespace unless its AppArmor profile allows
/// `userns`.
pub const APPARMOR_RESTRICT_USERNS: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

/// The fact for `user.max_user_namespaces`, from the file's text (`None`
/// when the file does not exist).
pub fn interpret_max_user_namespaces(text: Option<&str>) -> Fact {
    let label = "max user namespaces";
    let Some(text) = text else {
        return Fact::untested(
            label,
            format!("{MAX_USER_NAMESPACES} does not exist: is /proc mounted?"),
            "see the user namespace line above",
        );
    };
    match text.trim().parse::<u64>() {
        Ok(0) => Fact::missing(
            label,
            "user.max_user_namespaces = 0: user namespaces are off, even for root",
            "`sudo sysctl -w user.max_user_namespaces=15000` \
             (and put it in /etc/sysctl.d/ to keep it)",
        ),
        Ok(n) => Fact::ok(label, format!("user.max_user_namespaces = {n}")),
        Err(_) => Fact::untested(
            label,
            format!(
                "user.max_user_namespaces is not a number: {:?}",
                text.trim()
            ),
            "see the user namespace line above",
        ),
    }
}

/// The fact for Debian's `kernel.unprivileged_userns_clone`, from the
/// file's text (`None` when the kernel has no such switch).
pub fn interpret_unprivileged_userns_clone(text: Option<&str>) -> Fact {
    let label = "Debian userns switch";
    match text.map(str::trim) {
        None => Fact::ok(
            label,
            "kernel.unprivileged_userns_clone does not exist here (a Debian kernel patch)",
        ),
        Some("0") => Fact::missing(
            label,
            "kernel.unprivileged_userns_clone = 0: only root may create user namespaces",
            "`sudo sysctl -w kernel.unprivileged_userns_clone=1` \
             (and put it in /etc/sysctl.d/ to keep it)",
        ),
        Some(value) => Fact::ok(
            label,
            format!(
                "kernel.unprivileged_userns_clone = {value}: anyone may create user namespaces"
            ),
        ),
    }
}

/// The fact for Ubuntu's `kernel.apparmor_restrict_unprivileged_userns`,
/// from the file's text (`None` when the kernel has no such switch).
pub fn interpret_apparmor_restrict_userns(text: Option<&str>) -> Fact {
    let label = "Ubuntu userns switch";
    match text.map(str::trim) {
        None => Fact::ok(
            label,
            "kernel.apparmor_restrict_unprivileged_userns does not exist here (an Ubuntu AppArmor feature)",
        ),
        Some("0") => Fact::ok(
            label,
            "kernel.apparmor_restrict_unprivileged_userns = 0: user namespaces are not restricted",
        ),
        Some(value) => Fact::missing(
            label,
            format!(
                "kernel.apparmor_restrict_unprivileged_userns = {value}: without root, a new user \
                 namespace gets no capabilities unless an AppArmor profile allows `userns`"
            ),
            "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, \
             or give the lesson an AppArmor profile with `userns,`",
        ),
    }
}

/// A function that turns a sysctl's text (`None` when the file does not
/// exist) into a fact.
pub(crate) type SysctlInterpreter = fn(Option<&str>) -> Fact;

/// Probes the three user-namespace sysctls.
pub(crate) fn probe_userns_sysctls() -> Vec<Fact> {
    let checks: [(&str, &str, SysctlInterpreter); 3] = [
        (
            MAX_USER_NAMESPACES,
            "max user namespaces",
            interpret_max_user_namespaces,
        ),
        (
            UNPRIVILEGED_USERNS_CLONE,
            "Debian userns switch",
            interpret_unprivileged_userns_clone,
        ),
        (
            APPARMOR_RESTRICT_USERNS,
            "Ubuntu userns switch",
            interpret_apparmor_restrict_userns,
        ),
    ];
    checks
        .iter()
        .map(
            |(path, label, interpret)| match read_optional(Path::new(path)) {
                Ok(text) => interpret(text.as_deref()),
                Err(e) => Fact::probe_failed(*label, &e),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{fix_of, Status};

    // --- User-namespace sysctls -----------------------------------------

    #[test]
    fn user_namespaces_allowed_by_every_sysctl() {
        assert_eq!(
            interpret_max_user_namespaces(Some("96365\n")).status,
            Status::Ok
        );
        assert_eq!(
            interpret_unprivileged_userns_clone(Some("1\n")).status,
            Status::Ok
        );
        assert_eq!(
            interpret_apparmor_restrict_userns(Some("0\n")).status,
            Status::Ok
        );
    }

    #[test]
    fn switches_a_kernel_does_not_have_are_fine() {
        assert_eq!(interpret_unprivileged_userns_clone(None).status, Status::Ok);
        assert_eq!(interpret_apparmor_restrict_userns(None).status, Status::Ok);
    }

    #[test]
    fn user_namespaces_disabled_by_max_user_namespaces() {
        let fact = interpret_max_user_namespaces(Some("0\n"));
        assert_eq!(fact.status, Status::Missing);
        assert!(
            fix_of(&fact).contains("user.max_user_namespaces=15000"),
            "{fact:?}"
        );
    }

    #[test]
    fn user_namespaces_disabled_by_debians_switch() {
        let fact = interpret_unprivileged_userns_clone(Some("0\n"));
        assert_eq!(fact.status, Status::Missing);
        assert!(
            fix_of(&fact).contains("kernel.unprivileged_userns_clone=1"),
            "{fact:?}"
        );
    }

    #[test]
    fn user_namespaces_restricted_by_ubuntus_apparmor_switch() {
        let fact = interpret_apparmor_restrict_userns(Some("1\n"));
        assert_eq!(fact.status, Status::Missing);
        assert!(
            fix_of(&fact).contains("kernel.apparmor_restrict_unprivileged_userns=0"),
            "{fact:?}"
        );
    }

    #[test]
    fn a_garbled_sysctl_is_untested_not_missing() {
        assert_eq!(
            interpret_max_user_namespaces(Some("lots")).status,
            Status::Untested
        );
        assert_eq!(interpret_max_user_namespaces(None).status, Status::Untested);
    }
}
