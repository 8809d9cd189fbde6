//! Can this kernel make what lesson 06 makes: a bridge and a veth pair?
//! Tried in a child, in a network namespace of its own that dies with it,
//! so the machine's network is never touched.

use super::netlink::{Netlink, NetlinkError};
use crate::narrate;
use crate::probe::{errno_text, run_steps_in_child, Fact, ProbeError, StepFailure};
use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};

/// The steps of the probe, in order.
pub const STEPS: [&str; 3] = [
    "unshare(CLONE_NEWNET)",
    "ip link add nslabprobe0 type bridge",
    "ip link add nslabprobe1 type veth peer name nslabprobe2",
];

/// How the probe went: as root, every step worked or this one failed with
/// this errno; or it was not tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Tried as root.
    Tried(Result<(), StepFailure>),
    /// Not tried: without root, making devices is refused.
    NotRoot,
}

/// The fact for bridges and veth pairs.
pub fn interpret(attempt: Attempt) -> Fact {
    let label = "veth and bridge";
    match attempt {
        Attempt::NotRoot => Fact::untested(
            label,
            "could not test without root",
            "run `sudo nslab doctor` to test it",
        ),
        Attempt::Tried(Ok(())) => Fact::ok(
            label,
            "a bridge and a veth pair can be made (tried in a throwaway network namespace)",
        ),
        Attempt::Tried(Err((index, errno))) => {
            let step = STEPS.get(index).copied().unwrap_or("a step");
            let fix = match (index, errno) {
                (1, Errno::EOPNOTSUPP) => "`sudo modprobe bridge`; if there is no such module, use a kernel built with CONFIG_BRIDGE",
                (2, Errno::EOPNOTSUPP) => "`sudo modprobe veth`; if there is no such module, use a kernel built with CONFIG_VETH",
                (_, Errno::EPERM) => "a seccomp filter, a security module or a chroot forbids it: \
                     run nslab on the host or in a VM, not inside a container",
                _ => "see the error; `nslab doctor` tests each step lesson 06 takes",
            };
            Fact::missing(label, format!("{step} fails: {}", errno_text(errno)), fix)
        }
    }
}

/// The probe's steps, in the child: a fresh network namespace, then the
/// two kinds of device. The namespace, and the devices in it, go with the
/// child.
fn steps() -> Result<(), StepFailure> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| (0, e))?;
    let errno = |index: usize| move |e: NetlinkError| (index, e.errno().unwrap_or(Errno::EIO));
    let mut netlink = Netlink::open().map_err(errno(1))?;
    netlink.add_bridge("nslabprobe0").map_err(errno(1))?;
    netlink
        .add_veth("nslabprobe1", "nslabprobe2")
        .map_err(errno(2))?;
    Ok(())
}

/// Runs the probe in a forked child, as root only.
///
/// Unlike the other probes' children, this one allocates (the netlink
/// messages) after fork(2): sound because
/// [`crate::process::ensure_single_threaded`] checks first that no other
/// thread could hold the allocator's lock at the fork.
pub fn probe(is_root: bool) -> Result<Attempt, ProbeError> {
    if !is_root {
        return Ok(Attempt::NotRoot);
    }
    let call = "make a bridge and a veth pair";
    crate::process::ensure_single_threaded().map_err(|_| ProbeError::Fork {
        call: call.into(),
        source: Errno::EAGAIN,
    })?;
    let attempt = run_steps_in_child(call, || {
        // The child's requests are not the doctor's report.
        narrate::init_with(narrate::Sink::Silent);
        steps()
    })?;
    Ok(Attempt::Tried(attempt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{fix_of, Status};

    #[test]
    fn each_failed_step_names_its_module() {
        let no_bridge = interpret(Attempt::Tried(Err((1, Errno::EOPNOTSUPP))));
        assert_eq!(no_bridge.status, Status::Missing);
        assert!(no_bridge
            .detail
            .starts_with("ip link add nslabprobe0 type bridge fails"));
        assert!(fix_of(&no_bridge).contains("modprobe bridge"));
        let no_veth = interpret(Attempt::Tried(Err((2, Errno::EOPNOTSUPP))));
        assert!(fix_of(&no_veth).contains("CONFIG_VETH"));
        let refused = interpret(Attempt::Tried(Err((0, Errno::EPERM))));
        assert!(fix_of(&refused).contains("container"));
        assert_eq!(interpret(Attempt::NotRoot).status, Status::Untested);
        assert_eq!(interpret(Attempt::Tried(Ok(()))).status, Status::Ok);
    }
}
