//! The device cgroup, with the real kernel.
//!
//! A process moved into a cgroup restricted to [`DEFAULT_ALLOWED`] may
//! still open `/dev/null`, and may make a node for a disk (mknod is
//! allowed), but not open that node, even read-only: `EPERM`. A process
//! outside the cgroup opens the same node. Each test first runs the same
//! probe in the cgroup *before* restricting it, and expects everything to
//! work: so `EPERM` after comes from the restriction.
//!
//! The disk is the host's root disk when root may open it at all, else
//! another block device (see [`openable_block_device`]); it is only ever
//! opened read-only.
//!
//! v2: an eBPF program attached to a cgroup on the real cgroup2 hierarchy
//! (`/sys/fs/cgroup/unified` on this hybrid machine). v1: the devices
//! controller's files, written from `v1_writes`. The cgroups are made
//! under `nslab/devtest-<pid>-…` and removed by a guard, even when an
//! assertion fails.

mod common;

use nix::errno::Errno;
use nslab::cgroup::devices::{self, Access, DeviceKind, DeviceRule, DEFAULT_ALLOWED};
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The cgroup directories a test made, removed deepest first when the
/// guard is dropped, also when the test panics.
struct Made(Vec<PathBuf>);

impl Made {
    /// Makes `<root>/nslab/devtest-<pid>-<name>`, and `<root>/nslab` if
    /// missing; returns the guard and the cgroup's directory.
    fn cgroup(root: &Path, name: &str) -> (Made, PathBuf) {
        let mut made = Made(Vec::new());
        let parent = root.join("nslab");
        match fs::create_dir(&parent) {
            Ok(()) => made.0.push(parent.clone()),
            // Another run's: not ours to remove.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("mkdir {}: {e}", parent.display()),
        }
        let dir = parent.join(format!("devtest-{}-{name}", std::process::id()));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        made.0.push(dir.clone());
        (made, dir)
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            // The probes were reaped before; a moment's EBUSY is possible
            // while the kernel lets go of an exited process.
            let mut result = fs::remove_dir(dir);
            for _ in 0..50 {
                match &result {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        result = fs::remove_dir(dir);
                    }
                    _ => break,
                }
            }
            match result {
                Ok(()) => {}
                // The shared parent, with another run's cgroup in it.
                Err(_) if dir.ends_with("nslab") => {}
                Err(e) => eprintln!("could not remove {}: {e}", dir.display()),
            }
        }
    }
}

/// One thing a probe process tries; prepared before fork(2), so that the
/// child allocates nothing.
enum Try {
    /// open(path, flags), closed at once.
    Open(CString, libc::c_int),
    /// mknod(path, S_IFBLK | 0600, dev).
    MknodBlock(CString, libc::dev_t),
}

fn open(path: &Path, flags: libc::c_int) -> Try {
    Try::Open(CString::new(path.as_os_str().as_bytes()).unwrap(), flags)
}

fn mknod_block(path: &Path, dev: libc::dev_t) -> Try {
    let _ = fs::remove_file(path);
    Try::MknodBlock(CString::new(path.as_os_str().as_bytes()).unwrap(), dev)
}

/// The most a probe tries.
const MAX_TRIES: usize = 8;

/// Forks a process that joins the cgroup whose `cgroup.procs` is `procs`
/// (stays where it is when `None`), then tries each of `tries`; returns
/// what each got.
///
/// The child joins its cgroup itself, before trying anything. It makes
/// only async-signal-safe calls (open, write, mknod, close, _exit): the
/// test harness has other threads, whose locks a forked child would
/// inherit held.
fn probe(procs: Option<&Path>, tries: &[Try]) -> Vec<Result<(), Errno>> {
    assert!(tries.len() <= MAX_TRIES);
    let procs = procs.map(|p| CString::new(p.as_os_str().as_bytes()).unwrap());
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    // SAFETY: the child makes only async-signal-safe calls, then _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            // report[0]: joining the cgroup; then one errno (or 0) a try.
            let mut report = [0i32; 1 + MAX_TRIES];
            let errno = |ret: libc::c_int| if ret < 0 { Errno::last_raw() } else { 0 };
            if let Some(procs) = &procs {
                // SAFETY: a NUL-terminated path; a 1-byte buffer.
                unsafe {
                    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                    // "0" moves the writer itself (cgroups(7)).
                    report[0] = if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        Errno::last_raw()
                    } else {
                        0
                    };
                    libc::close(fd);
                }
            }
            if report[0] == 0 {
                for (i, t) in tries.iter().enumerate() {
                    report[1 + i] = match t {
                        // SAFETY: a NUL-terminated path; the descriptor
                        // closed is the one just opened.
                        Try::Open(path, flags) => unsafe {
                            let fd = libc::open(path.as_ptr(), flags | libc::O_CLOEXEC);
                            if fd >= 0 {
                                libc::close(fd);
                            }
                            errno(fd)
                        },
                        // SAFETY: a NUL-terminated path.
                        Try::MknodBlock(path, dev) => errno(unsafe {
                            libc::mknod(path.as_ptr(), libc::S_IFBLK | 0o600, *dev)
                        }),
                    };
                }
            }
            // SAFETY: the pipe's write end and the report's bytes; then
            // _exit, which runs nothing of the parent's.
            unsafe {
                libc::write(
                    write_end.as_raw_fd(),
                    report.as_ptr().cast(),
                    std::mem::size_of_val(&report),
                );
                libc::_exit(0);
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write_end);
            let mut bytes = [0u8; 4 * (1 + MAX_TRIES)];
            let mut file = fs::File::from(read_end);
            io::Read::read_exact(&mut file, &mut bytes).expect("the probe's report");
            nix::sys::wait::waitpid(child, None).unwrap();
            let word = |i: usize| i32::from_ne_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
            assert_eq!(
                word(0),
                0,
                "the probe could not join its cgroup: errno {}",
                word(0)
            );
            (0..tries.len())
                .map(|i| match word(1 + i) {
                    0 => Ok(()),
                    e => Err(Errno::from_raw(e)),
                })
                .collect()
        }
    }
}

/// A block device that the test process, outside any cgroup of its own,
/// can open read-only through a node it made in `tmp`: the device `/` is
/// on, the host's disk, when the machine allows that (a VM may refuse
/// even root: this one answers EPERM for its root disk, from outside any
/// cgroup), else the first other one in /sys/dev/block (a loop device).
/// Only ever opened read-only.
fn openable_block_device(tmp: &Path) -> libc::dev_t {
    let root = fs::metadata("/").unwrap().dev();
    let mut others: Vec<(u32, u32)> = fs::read_dir("/sys/dev/block")
        .unwrap()
        .map(|entry| {
            let name = entry.unwrap().file_name();
            let (major, minor) = name.to_str().unwrap().split_once(':').unwrap();
            (major.parse().unwrap(), minor.parse().unwrap())
        })
        .collect();
    others.sort();
    let mut candidates = vec![root];
    candidates.extend(
        others
            .into_iter()
            .map(|(major, minor)| libc::makedev(major, minor))
            .filter(|&dev| dev != root),
    );
    let node = tmp.join("candidate");
    let found = candidates.into_iter().find(|&dev| {
        let made = probe(
            None,
            &[mknod_block(&node, dev), open(&node, libc::O_RDONLY)],
        );
        made == [Ok(()), Ok(())]
    });
    let _ = fs::remove_file(&node);
    found.expect("no block device that root may open read-only: nothing to test with")
}

fn show(dev: libc::dev_t) -> String {
    format!("b {}:{}", libc::major(dev), libc::minor(dev))
}

/// The cgroup2 hierarchy: at /sys/fs/cgroup/unified in hybrid mode, else
/// at /sys/fs/cgroup.
fn cgroup2_root() -> PathBuf {
    let unified = Path::new(nslab::cgroup::CGROUP_UNIFIED);
    let root = if unified.join("cgroup.procs").exists() {
        unified
    } else {
        Path::new(nslab::cgroup::CGROUP_ROOT)
    };
    assert!(
        root.join("cgroup.controllers").exists(),
        "no cgroup2 hierarchy on this machine"
    );
    root.to_path_buf()
}

/// The root of the v1 hierarchy that has the devices controller.
fn devices_v1_root() -> PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    nslab::cgroup::v1_hierarchies(&mountinfo)
        .into_iter()
        .find(|h| h.controllers.iter().any(|c| c == "devices"))
        .map(|h| PathBuf::from(h.mount_point))
        .expect(
            "no v1 hierarchy with the devices controller (this test needs a v1 or hybrid machine)",
        )
}

/// Attaches the program, or fails the test with the error's whole story.
fn attach(dir: &Path, rules: &[DeviceRule]) {
    if let Err(e) = devices::attach(dir, rules) {
        panic!(
            "{e}: {:?} (hint: {})",
            std::error::Error::source(&e),
            e.hint().unwrap_or_default()
        );
    }
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn v2_the_program_refuses_opening_a_disk_but_not_dev_null() {
    require_root!();
    nslab::narrate::init(true);
    let (_made, dir) = Made::cgroup(&cgroup2_root(), "v2");
    let procs = dir.join("cgroup.procs");
    let tmp = tempfile::tempdir().unwrap();
    let disk = openable_block_device(tmp.path());
    let node = tmp.path().join("disk");
    let tries = || {
        [
            open(Path::new("/dev/null"), libc::O_RDONLY),
            mknod_block(&node, disk),
            open(&node, libc::O_RDONLY),
        ]
    };

    // In the cgroup, nothing attached yet: the node opens.
    let got = probe(Some(&procs), &tries());
    assert_eq!(got, [Ok(()); 3], "without the program ({})", show(disk));

    attach(&dir, DEFAULT_ALLOWED);
    let got = probe(Some(&procs), &tries());
    assert_eq!(
        got,
        [Ok(()), Ok(()), Err(Errno::EPERM)],
        "with the program: /dev/null and mknod allowed, opening {} refused",
        show(disk)
    );

    // Outside the cgroup, the same tries work, and the node made inside
    // opens in the test process too.
    assert_eq!(probe(None, &tries()), [Ok(()); 3], "outside the cgroup");
    fs::File::open(&node).expect("the test process, outside, opens the node");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn v2_the_rules_decide_kind_numbers_and_access() {
    require_root!();
    nslab::narrate::init(true);
    let (_made, dir) = Made::cgroup(&cgroup2_root(), "v2rules");
    let procs = dir.join("cgroup.procs");
    let tmp = tempfile::tempdir().unwrap();
    let disk = openable_block_device(tmp.path());
    let node = tmp.path().join("disk");

    // The default list, with /dev/full (c 1:7) readable only, and the
    // block device readable: `b MAJOR:MINOR r`.
    let mut rules: Vec<DeviceRule> = DEFAULT_ALLOWED
        .iter()
        .filter(|r| !(r.major == Some(1) && r.minor == Some(7)))
        .copied()
        .collect();
    rules.push(DeviceRule {
        kind: DeviceKind::Char,
        major: Some(1),
        minor: Some(7),
        access: Access::READ,
    });
    rules.push(DeviceRule {
        kind: DeviceKind::Block,
        major: Some(libc::major(disk)),
        minor: Some(libc::minor(disk)),
        access: Access::READ,
    });
    attach(&dir, &rules);
    let full = Path::new("/dev/full");
    let got = probe(
        Some(&procs),
        &[
            mknod_block(&node, disk),
            open(&node, libc::O_RDONLY),
            open(full, libc::O_RDONLY),
            // Writing to /dev/full is harmless; the disk is never opened
            // for writing.
            open(full, libc::O_WRONLY),
            open(Path::new("/dev/null"), libc::O_WRONLY),
        ],
    );
    assert_eq!(
        got,
        [Ok(()), Ok(()), Ok(()), Err(Errno::EPERM), Ok(())],
        "{} r allowed; /dev/full read, not write",
        show(disk)
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn v1_the_devices_files_refuse_opening_a_disk_but_not_dev_null() {
    require_root!();
    let (_made, dir) = Made::cgroup(&devices_v1_root(), "v1");
    let procs = dir.join("cgroup.procs");
    let tmp = tempfile::tempdir().unwrap();
    let disk = openable_block_device(tmp.path());
    let node = tmp.path().join("disk");
    let tries = || {
        [
            open(Path::new("/dev/null"), libc::O_RDONLY),
            mknod_block(&node, disk),
            open(&node, libc::O_RDONLY),
        ]
    };

    // A new v1 device cgroup copies its parent's list: everything allowed.
    let got = probe(Some(&procs), &tries());
    assert_eq!(got, [Ok(()); 3], "before the writes ({})", show(disk));

    let writes = devices::v1_writes(&dir, DEFAULT_ALLOWED);
    for (file, line) in &writes {
        fs::write(file, line).unwrap_or_else(|e| panic!("{} <- {line:?}: {e}", file.display()));
    }
    let list = fs::read_to_string(dir.join("devices.list")).unwrap();
    assert!(
        !list.contains("a *:* rwm"),
        "still allows everything:\n{list}"
    );
    assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");

    let got = probe(Some(&procs), &tries());
    assert_eq!(
        got,
        [Ok(()), Ok(()), Err(Errno::EPERM)],
        "after the writes: /dev/null and mknod allowed, opening {} refused",
        show(disk)
    );
    assert_eq!(probe(None, &tries()), [Ok(()); 3], "outside the cgroup");
}
