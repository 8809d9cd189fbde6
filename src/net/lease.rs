//! Addresses for bridge containers: a small allocator that never hands out
//! the same address twice at once, and frees it when its container ends.
//!
//! Every bridge container gets one address of [`SUBNET`]; the bridge itself
//! has [`GATEWAY`]. A lease is a file, `<run_dir>/net/leases/<n>`, holding
//! the pid and start time of the lesson that took it. All changes happen
//! under one lock, `flock(2)` on `<run_dir>/net/lock`, which also guards
//! the bridge: it is made by whoever takes the first lease and removed by
//! whoever gives back the last, so twenty runs at once never pull it from
//! under each other.
//!
//! A lesson killed with SIGKILL cannot give its lease back. Its container
//! died with it (`PR_SET_PDEATHSIG`), and with the container's network
//! namespace its veth pair went too (veth(4)), so only the lease file is
//! left: [`Leases::remove_stale`] recognises it by its dead owner.

use super::NetError;
use crate::narrate;
use crate::record::ProcessId;
use nix::fcntl::{Flock, FlockArg, OFlag};
use std::fs::{self, File};
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The containers' subnet, `10.213.0.0/24`: private (RFC 1918), and far
/// from the ranges docker (172.17.0.0/16) and podman (10.88.0.0/16) use.
pub const SUBNET: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 0);
/// Its prefix length.
pub const PREFIX: u8 = 24;
/// The bridge's address, every container's default gateway.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 1);
/// The host part of the first and last container addresses.
const FIRST: u8 = 2;
const LAST: u8 = 254;

/// One address, held by one running lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The host part of the address, 2 to 254.
    pub number: u8,
}

impl Lease {
    /// The container's address.
    pub fn address(self) -> Ipv4Addr {
        let [a, b, c, _] = SUBNET.octets();
        Ipv4Addr::new(a, b, c, self.number)
    }

    /// The host's end of the container's veth pair. Link names are at most
    /// 15 bytes (`IFNAMSIZ` is 16, with the NUL); every device nslab makes
    /// starts with `nslab`, so `nslab cleanup` can find them.
    pub fn host_end(self) -> String {
        format!("nslab{}h", self.number)
    }

    /// The container's end, named so until it is renamed `eth0` inside.
    pub fn container_end(self) -> String {
        format!("nslab{}c", self.number)
    }
}

/// The lease directory, locked: while this value lives, no other lesson
/// takes or gives back a lease, or touches the bridge.
pub struct Leases {
    dir: PathBuf,
    net: PathBuf,
    _lock: Flock<File>,
}

impl Leases {
    /// Makes `<run_dir>/net/leases` if needed and takes the lock.
    ///
    /// The last lesson off the bridge removes the lock file and the
    /// directories ([`Leases::remove_if_unused`]), so a lesson may wake up
    /// holding the lock of a file no longer there: it checks, and starts
    /// again with a new one (the lock is the file's, not the path's).
    // ANCHOR: lock
    pub fn lock(run_dir: &Path) -> Result<Leases, NetError> {
        // Each retry follows another lesson's removal, which needs the
        // lock in between: a few are plenty; more means something else is
        // removing the directory, and an error says so.
        let mut tries = 0;
        loop {
            tries += 1;
            match Leases::lock_once(run_dir) {
                Ok((leases, true)) => return Ok(leases),
                // Locked a removed file, or the directory went between
                // making it and opening the lock in it: again.
                Ok((_, false)) if tries < 100 => {}
                Err(NetError::Leases { source, .. })
                    if source.kind() == io::ErrorKind::NotFound && tries < 100 => {}
                Ok((_, false)) => {
                    return Err(NetError::Leases {
                        path: run_dir.join("net").join("lock"),
                        source: io::Error::other("it keeps being removed under us"),
                    })
                }
                Err(error) => return Err(error),
            }
        }
    }
    // ANCHOR_END: lock

    /// One try: the lock, and whether its file is still the one at its
    /// path (fstat(2) against stat(2): same device and inode).
    fn lock_once(run_dir: &Path) -> Result<(Leases, bool), NetError> {
        let net = run_dir.join("net");
        let dir = net.join("leases");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| NetError::Leases {
                path: dir.clone(),
                source,
            })?;
        let path = net.join("lock");
        let file = crate::syscall::open(
            &path,
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_CLOEXEC,
            0o600,
            "the lock the leases and the bridge share",
        )
        .map(File::from)
        .map_err(|errno| NetError::Leases {
            path: path.clone(),
            source: io::Error::from(errno),
        })?;
        narrate::syscall(format!(
            "flock({:?}, LOCK_EX)   # one lesson at a time takes addresses and touches the bridge",
            path.display().to_string()
        ));
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| NetError::Leases {
                path: path.clone(),
                source: io::Error::from(errno),
            })?;
        let locked = lock.metadata().map(|m| (m.dev(), m.ino())).ok();
        let at_path = fs::metadata(&path).map(|m| (m.dev(), m.ino())).ok();
        let current = locked.is_some() && locked == at_path;
        Ok((
            Leases {
                dir,
                net,
                _lock: lock,
            },
            current,
        ))
    }

    /// With no lease left (the last container off the bridge, which is
    /// gone too), removes the lease directory, the lock file and `net/`,
    /// so that nothing of the bridge's bookkeeping outlives the bridge.
    /// Done holding the lock; a lesson waiting for it
    /// then finds its file gone and makes a new one ([`Leases::lock`]).
    pub fn remove_if_unused(self) -> Result<(), NetError> {
        if !self.files()?.is_empty() {
            return Ok(());
        }
        narrate::file_op(format!(
            "remove {}   # no lease is left: the lock and the lease directory go too",
            self.net.display()
        ));
        let removed = fs::remove_dir(&self.dir)
            .and_then(|()| fs::remove_file(self.net.join("lock")))
            .and_then(|()| fs::remove_dir(&self.net));
        match removed {
            Ok(()) => {}
            // A lease taken meanwhile cannot be (we hold the lock); an
            // entry someone else put there is theirs: leave it all.
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => return Ok(()),
            Err(source) => {
                return Err(NetError::Leases {
                    path: self.net.clone(),
                    source,
                })
            }
        }
        // The run directory itself stays: the runtime's records and
        // lesson 06's names are made in it by others, who do not take this
        // lock, and would race its removal.
        Ok(())
    }

    /// The lease files there are, with their numbers.
    fn files(&self) -> Result<Vec<(u8, PathBuf)>, NetError> {
        let entries = fs::read_dir(&self.dir).map_err(|source| NetError::Leases {
            path: self.dir.clone(),
            source,
        })?;
        let mut files: Vec<(u8, PathBuf)> = entries
            .flatten()
            .filter_map(|entry| {
                let number = entry.file_name().to_str()?.parse().ok()?;
                Some((number, entry.path()))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Removes the leases whose lesson is no longer running (a run killed
    /// with SIGKILL), and returns their numbers.
    pub fn remove_stale(&self) -> Result<Vec<u8>, NetError> {
        let mut removed = Vec::new();
        for (number, path) in self.files()? {
            if owner(&path).is_some_and(|owner| owner.is_running()) {
                continue;
            }
            narrate::file_op(format!(
                "remove {}   # its lesson is gone: a killed run",
                path.display()
            ));
            match fs::remove_file(&path) {
                Ok(()) => removed.push(number),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(NetError::Leases { path, source }),
            }
        }
        Ok(removed)
    }

    /// How many leases are held: the bridge's count of containers.
    pub fn held(&self) -> Result<usize, NetError> {
        Ok(self.files()?.len())
    }

    /// Takes the lowest free address for `owner` (the lesson).
    // ANCHOR: take
    pub fn take(&self, owner: ProcessId) -> Result<Lease, NetError> {
        let taken: Vec<u8> = self.files()?.into_iter().map(|(n, _)| n).collect();
        let number = (FIRST..=LAST)
            .find(|n| !taken.contains(n))
            .ok_or(NetError::NoAddressLeft)?;
        let path = self.dir.join(number.to_string());
        let lease = Lease { number };
        narrate::file_op(format!(
            "write {}   # {} is ours while we run",
            path.display(),
            lease.address()
        ));
        // create_new: O_EXCL, a second guard besides the lock.
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| {
                use std::io::Write;
                writeln!(file, "{} {}", owner.pid, owner.start_time)
            })
            .map_err(|source| NetError::Leases { path, source })?;
        Ok(lease)
    }
    // ANCHOR_END: take

    /// Gives `lease` back.
    pub fn give_back(&self, lease: Lease) -> Result<(), NetError> {
        let path = self.dir.join(lease.number.to_string());
        narrate::file_op(format!(
            "remove {}   # {} is free again",
            path.display(),
            lease.address()
        ));
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(NetError::Leases { path, source }),
        }
    }
}

/// The lesson a lease file names; `None` when it cannot be read (a lease
/// file cut short by a crash counts as stale).
fn owner(path: &Path) -> Option<ProcessId> {
    let text = fs::read_to_string(path).ok()?;
    let mut fields = text.split_whitespace();
    Some(ProcessId {
        pid: fields.next()?.parse().ok()?,
        start_time: fields.next()?.parse().ok()?,
    })
}

/// The stale lease files under `run_dir`, for `nslab cleanup`.
pub fn stale_leases(run_dir: &Path) -> Vec<PathBuf> {
    let dir = run_dir.join("net").join("leases");
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| !owner(path).is_some_and(|owner| owner.is_running()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> ProcessId {
        ProcessId::of(std::process::id() as i32).unwrap()
    }

    #[test]
    fn names_fit_in_ifnamsiz_and_start_with_nslab() {
        for number in [FIRST, 99, LAST] {
            let lease = Lease { number };
            for name in [lease.host_end(), lease.container_end()] {
                assert!(name.len() <= 15, "{name}");
                assert!(name.starts_with("nslab"), "{name}");
            }
            assert_ne!(lease.host_end(), lease.container_end());
        }
        assert_eq!(Lease { number: 7 }.address(), Ipv4Addr::new(10, 213, 0, 7));
    }

    #[test]
    fn leases_are_distinct_until_given_back() {
        let run = tempfile::tempdir().unwrap();
        let leases = Leases::lock(run.path()).unwrap();
        let a = leases.take(me()).unwrap();
        let b = leases.take(me()).unwrap();
        assert_eq!((a.number, b.number), (FIRST, FIRST + 1));
        assert_eq!(leases.held().unwrap(), 2);
        leases.give_back(a).unwrap();
        assert_eq!(leases.take(me()).unwrap(), a, "a freed address is reused");
        assert!(leases.remove_stale().unwrap().is_empty(), "we are running");
    }

    #[test]
    fn a_dead_owners_lease_is_stale() {
        let run = tempfile::tempdir().unwrap();
        let leases = Leases::lock(run.path()).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = ProcessId::of(child.id() as i32).unwrap();
        child.wait().unwrap();
        let lease = leases.take(dead).unwrap();
        leases.take(me()).unwrap();
        assert_eq!(stale_leases(run.path()).len(), 1);
        assert_eq!(leases.remove_stale().unwrap(), vec![lease.number]);
        assert_eq!(leases.held().unwrap(), 1);
    }

    #[test]
    fn the_last_lease_back_takes_the_lock_and_directory_with_it() {
        let run = tempfile::tempdir().unwrap();
        let net = run.path().join("net");
        // A lease held: nothing goes.
        let leases = Leases::lock(run.path()).unwrap();
        let lease = leases.take(me()).unwrap();
        leases.remove_if_unused().unwrap();
        assert!(net.join("leases").join(lease.number.to_string()).exists());
        // None held: the lock, the lease directory and net/ go; the run
        // directory stays.
        let leases = Leases::lock(run.path()).unwrap();
        leases.give_back(lease).unwrap();
        leases.remove_if_unused().unwrap();
        assert!(!net.exists());
        assert!(run.path().exists());
    }

    #[test]
    fn a_lesson_waiting_on_a_removed_lock_takes_a_new_one() {
        let run = tempfile::tempdir().unwrap();
        let first = Leases::lock(run.path()).unwrap();
        // A second lesson opens the lock file and waits for it.
        let path = run.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let leases = Leases::lock(&path).unwrap();
            // What it holds is the lock at the path, not the removed file.
            let held = leases._lock.metadata().unwrap().ino();
            let at_path = fs::metadata(path.join("net").join("lock")).unwrap().ino();
            (held, at_path, leases.take(me()).is_ok())
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        first.remove_if_unused().unwrap();
        let (held, at_path, took) = waiter.join().unwrap();
        assert_eq!(held, at_path);
        assert!(took, "its lease directory is there again");
    }
}
