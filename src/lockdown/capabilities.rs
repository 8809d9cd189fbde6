//! Capabilities: root's powers, cut to a short list. See capabilities(7).
//!
//! Since Linux 2.2 "root" is not one privilege but some forty, each
//! checked on its own: `CAP_SYS_ADMIN` for mount, `CAP_SYS_MODULE` for
//! loading a module, `CAP_NET_ADMIN` for configuring the network… A
//! process holds them in five sets:
//!
//! - **effective**: what the kernel checks now;
//! - **permitted**: what it may make effective;
//! - **inheritable** and **ambient**: what may survive an `execve`;
//! - **bounding**: the ceiling. On `execve` a root process gets back every
//!   capability of its bounding set (a root-owned program counts as having
//!   them all), so dropping only the effective set would last until the
//!   next `exec`: the bounding set is what makes the drop stick.
//!
//! The default kept is docker's: what a service may reasonably need
//! (change file owners, bind port 80, send signals, switch users), and none
//! of what reaches the kernel as a whole (`CAP_SYS_ADMIN`,
//! `CAP_SYS_MODULE`, `CAP_SYS_RAWIO`, `CAP_SYS_TIME`, `CAP_NET_ADMIN`,
//! `CAP_DAC_READ_SEARCH`…).

use super::LockdownError;
use crate::narrate;
use caps::{CapSet, Capability, CapsHashSet};

// ANCHOR: default
/// Docker's default capabilities (moby's `oci/caps/defaults.go`).
pub const DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,            // chown(2) any file
    Capability::CAP_DAC_OVERRIDE,     // read and write whatever the modes say
    Capability::CAP_FOWNER,           // chmod, utime… on files one does not own
    Capability::CAP_FSETID,           // keep setuid bits when changing a file
    Capability::CAP_KILL,             // signal any process (of the PID namespace)
    Capability::CAP_SETGID,           // become any group
    Capability::CAP_SETUID,           // become any user
    Capability::CAP_SETPCAP,          // drop capabilities from the bounding set
    Capability::CAP_NET_BIND_SERVICE, // listen on ports below 1024
    Capability::CAP_NET_RAW,          // raw sockets: ping
    Capability::CAP_SYS_CHROOT,       // chroot(2)
    Capability::CAP_MKNOD,            // mknod(2): the device cgroup decides on use
    Capability::CAP_AUDIT_WRITE,      // write to the audit log (login, sshd)
    Capability::CAP_SETFCAP,          // set file capabilities
];
// ANCHOR_END: default

/// The capabilities a container keeps, set by set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The ceiling: what `execve` can give back.
    pub bounding: CapsHashSet,
    /// What the kernel checks.
    pub effective: CapsHashSet,
    /// What may be made effective.
    pub permitted: CapsHashSet,
    /// What a program with inheritable file capabilities may get.
    pub inheritable: CapsHashSet,
    /// What survives `execve` for a non-root user.
    pub ambient: CapsHashSet,
}

impl Default for Capabilities {
    /// [`DEFAULT`].
    fn default() -> Capabilities {
        Capabilities::keeping(DEFAULT.into_iter().collect())
    }
}

/// Every capability the running kernel has, by its capabilities(7) name.
pub fn known_names() -> Vec<String> {
    sorted(&supported()).iter().map(short_name).collect()
}

/// `set` in the kernel's order (by capability number).
pub fn sorted(set: &CapsHashSet) -> Vec<Capability> {
    let mut caps: Vec<Capability> = set.iter().copied().collect();
    caps.sort_by_key(|cap| cap.index());
    caps
}

/// An error of step `step`, keeping the crate's.
fn failed(step: String) -> impl FnOnce(caps::errors::CapsError) -> LockdownError {
    move |source| LockdownError::Capabilities { step, source }
}

/// `chown dac_override …`: short names, space-separated.
fn names(caps: &[Capability]) -> String {
    caps.iter().map(short_name).collect::<Vec<_>>().join(" ")
}

/// `CAP_NET_ADMIN` as the flags spell it: `net_admin`.
pub fn short_name(cap: &Capability) -> String {
    cap.to_string()
        .trim_start_matches("CAP_")
        .to_ascii_lowercase()
}

/// The capabilities this kernel has: those the crate knows and the
/// kernel's bounding set accepts a question about (new kernels add some;
/// old ones lack the newest).
fn supported() -> CapsHashSet {
    caps::runtime::thread_all_supported().into_iter().collect()
}

/// One capability by name: `net_admin`, `NET_ADMIN` or `CAP_NET_ADMIN`
/// (a config.json spells them `CAP_…`); `None` for an unknown one.
pub fn by_name(name: &str) -> Option<Capability> {
    caps::to_canonical(name.trim()).parse().ok()
}

/// One `--cap-add`/`--cap-drop` name: `net_admin`, `NET_ADMIN` or
/// `CAP_NET_ADMIN`; `ALL` is every capability.
fn parse(flag: &'static str, name: &str) -> Result<CapsHashSet, LockdownError> {
    if name.eq_ignore_ascii_case("all") {
        return Ok(supported());
    }
    let cap: Capability =
        caps::to_canonical(name.trim())
            .parse()
            .map_err(|_| LockdownError::UnknownCapability {
                flag,
                name: name.to_string(),
            })?;
    Ok([cap].into())
}

/// Checks one `--cap-add`/`--cap-drop` name when the command line is
/// parsed, before anything else: an error names what this kernel knows.
pub fn check_name(name: &str) -> Result<String, String> {
    parse("--cap-add", name).map(|_| name.to_string()).map_err(|_| {
        format!(
            "no such capability; use a name from capabilities(7), with or without CAP_, in any case, or ALL. This kernel has: {}",
            known_names().join(" ")
        )
    })
}

impl Capabilities {
    /// The capabilities `--cap-add` and `--cap-drop` leave, as docker
    /// reads them: [`DEFAULT`] without the dropped, plus the added;
    /// `--cap-add ALL` is every capability but the dropped, and
    /// `--cap-drop ALL` keeps only the added.
    ///
    /// Every name is checked before anything is created.
    pub fn from_flags(add: &[String], drop: &[String]) -> Result<Capabilities, LockdownError> {
        let all = |names: &[String]| names.iter().any(|name| name.eq_ignore_ascii_case("all"));
        let mut dropped = CapsHashSet::new();
        for name in drop {
            dropped.extend(parse("--cap-drop", name)?);
        }
        let mut added = CapsHashSet::new();
        for name in add {
            added.extend(parse("--cap-add", name)?);
        }
        let keep = if all(add) {
            added.difference(&dropped).copied().collect()
        } else if all(drop) {
            added
        } else {
            let mut keep: CapsHashSet = DEFAULT.into_iter().collect();
            keep.retain(|cap| !dropped.contains(cap));
            keep.extend(added);
            keep
        };
        Ok(Capabilities::keeping(keep))
    }

    /// `keep` in the bounding, effective and permitted sets; inheritable
    /// and ambient empty (the lessons', and docker's, shape).
    pub fn keeping(keep: CapsHashSet) -> Capabilities {
        Capabilities {
            bounding: keep.clone(),
            effective: keep.clone(),
            permitted: keep,
            inheritable: CapsHashSet::new(),
            ambient: CapsHashSet::new(),
        }
    }

    /// The capabilities kept: the bounding set.
    pub fn kept(&self) -> &CapsHashSet {
        &self.bounding
    }

    /// The kept set as `/proc/PID/status` shows it: a hex mask, a bit per
    /// capability number (`CapEff: 00000000a80425fb` for docker's).
    pub fn mask(&self) -> u64 {
        self.bounding
            .iter()
            .fold(0, |mask, cap| mask | cap.bitmask())
    }

    /// Applies the sets to the calling process, in the order the kernel
    /// allows (capabilities(7), "Capability bounding set"):
    ///
    /// 1. the **bounding** set first: dropping from it needs `CAP_SETPCAP`
    ///    in the effective set, which the steps after may remove;
    /// 2. **ambient** cleared: it would otherwise carry capabilities across
    ///    `execve` to a non-root user;
    /// 3. **effective**, then **permitted** (effective must stay a subset of
    ///    permitted at every capset(2));
    /// 4. **inheritable**: empty by default, as docker and runc do since
    ///    CVE-2022-24769: a non-empty inheritable set let a program with
    ///    inheritable file capabilities gain them on `execve`;
    /// 5. **ambient** raised, from a config.json that asks (each must be
    ///    permitted and inheritable already).
    ///
    /// The runtime switches to the container's user between 1 and 3
    /// ([`Capabilities::drop_bounding`], then [`Capabilities::set`]).
    // ANCHOR: apply
    pub fn apply(&self) -> Result<(), LockdownError> {
        self.drop_bounding()?;
        self.set()
    }

    /// Step 1: the bounding set.
    pub fn drop_bounding(&self) -> Result<(), LockdownError> {
        let to_drop: Vec<Capability> = sorted(&supported())
            .into_iter()
            .filter(|cap| !self.bounding.contains(cap))
            .collect();
        if to_drop.is_empty() {
            narrate::explain("the bounding set keeps every capability: nothing to drop");
        } else {
            narrate::syscall(format!(
                "prctl(PR_CAPBSET_DROP, …) × {}   # {}",
                to_drop.len(),
                names(&to_drop)
            ));
        }
        for cap in &to_drop {
            caps::drop(None, CapSet::Bounding, *cap)
                .map_err(failed(format!("drop {cap} from the bounding set")))?;
        }
        Ok(())
    }

    /// Steps 2 to 5: the other sets.
    pub fn set(&self) -> Result<(), LockdownError> {
        narrate::syscall("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)");
        caps::clear(None, CapSet::Ambient).map_err(failed("clear the ambient set".into()))?;
        // What this process itself lacks it cannot give (capset(2) raises
        // nothing above the permitted set): said, and left out.
        let held =
            caps::read(None, CapSet::Permitted).map_err(failed("read the permitted set".into()))?;
        let wanted: CapsHashSet = self.permitted.union(&self.effective).copied().collect();
        let lacking: Vec<Capability> = sorted(&wanted)
            .into_iter()
            .filter(|cap| !held.contains(cap))
            .collect();
        if !lacking.is_empty() {
            narrate::warning(format!(
                "not kept, as this process does not hold them itself: {}",
                names(&lacking)
            ));
        }
        let effective: CapsHashSet = self.effective.intersection(&held).copied().collect();
        let permitted: CapsHashSet = self.permitted.intersection(&held).copied().collect();
        if effective == permitted && self.inheritable.is_empty() {
            narrate::syscall(format!(
                "capset(effective = permitted = {{{}}}, inheritable = {{}})",
                names(&sorted(&effective))
            ));
        } else {
            narrate::syscall(format!(
                "capset(effective = {{{}}}, permitted = {{{}}}, inheritable = {{{}}})",
                names(&sorted(&effective)),
                names(&sorted(&permitted)),
                names(&sorted(&self.inheritable))
            ));
        }
        caps::set(None, CapSet::Effective, &effective)
            .map_err(failed("set the effective set".into()))?;
        caps::set(None, CapSet::Permitted, &permitted)
            .map_err(failed("set the permitted set".into()))?;
        caps::set(None, CapSet::Inheritable, &self.inheritable)
            .map_err(failed("set the inheritable set".into()))?;
        if !self.ambient.is_empty() {
            narrate::syscall(format!(
                "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, …)   # {}",
                names(&sorted(&self.ambient))
            ));
            caps::set(None, CapSet::Ambient, &self.ambient)
                .map_err(failed("raise the ambient set".into()))?;
        }
        Ok(())
    }
    // ANCHOR_END: apply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(caps: &Capabilities) -> Vec<String> {
        sorted(caps.kept()).iter().map(short_name).collect()
    }

    #[test]
    fn the_default_is_dockers_fourteen() {
        let caps = Capabilities::from_flags(&[], &[]).unwrap();
        assert_eq!(caps.kept().len(), 14);
        assert!(!caps.kept().contains(&Capability::CAP_SYS_ADMIN));
        // docker's default as a mask, as `CapEff` shows it in a container.
        assert_eq!(format!("{:016x}", caps.mask()), "00000000a80425fb");
    }

    #[test]
    fn names_are_read_in_any_spelling() {
        let caps = Capabilities::from_flags(
            &[
                "net_admin".into(),
                "CAP_SYS_TIME".into(),
                "Sys_Ptrace".into(),
            ],
            &["mknod".into()],
        )
        .unwrap();
        let names = names(&caps);
        assert!(names.contains(&"net_admin".to_string()));
        assert!(names.contains(&"sys_time".to_string()));
        assert!(names.contains(&"sys_ptrace".to_string()));
        assert!(!names.contains(&"mknod".to_string()));
    }

    #[test]
    fn drop_all_then_add_keeps_only_what_is_added() {
        let caps = Capabilities::from_flags(&["net_bind_service".into()], &["ALL".into()]).unwrap();
        assert_eq!(names(&caps), ["net_bind_service"]);
    }

    #[test]
    fn add_all_keeps_everything_but_the_dropped() {
        let caps = Capabilities::from_flags(&["all".into()], &["sys_admin".into()]).unwrap();
        assert!(caps.kept().contains(&Capability::CAP_SYS_MODULE));
        assert!(!caps.kept().contains(&Capability::CAP_SYS_ADMIN));
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_flag() {
        let error = Capabilities::from_flags(&["net_admn".into()], &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown capability \"net_admn\" in --cap-add"
        );
        let error = Capabilities::from_flags(&[], &["".into()]).unwrap_err();
        assert!(error.to_string().contains("--cap-drop"), "{error}");
    }
}
