//! Narrated system calls: each one defined once, here.
//!
//! Every function prints its call the way the man page spells it, built
//! from the very arguments it is about to pass, then makes the call and
//! returns the kernel's answer as an [`Errno`]. The facility modules wrap
//! that answer in their own error, naming the step that failed; none of
//! them prints a call by hand, so narration cannot drift from what runs.

use crate::narrate;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use std::os::fd::OwnedFd;
use std::path::Path;

/// A path as C code would quote it: `"/proc"`.
pub fn quoted(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// An octal number as C writes it: `0`, `022`, `0755`.
pub fn octal(n: u32) -> String {
    if n == 0 {
        "0".into()
    } else {
        format!("0{n:o}")
    }
}

/// Names of the mount flags set in `flags`, in the order the lessons use.
pub fn mount_flag_names(flags: MsFlags) -> Vec<&'static str> {
    const NAMES: &[(MsFlags, &str)] = &[
        (MsFlags::MS_BIND, "MS_BIND"),
        (MsFlags::MS_REC, "MS_REC"),
        (MsFlags::MS_PRIVATE, "MS_PRIVATE"),
        (MsFlags::MS_SLAVE, "MS_SLAVE"),
        (MsFlags::MS_SHARED, "MS_SHARED"),
        (MsFlags::MS_REMOUNT, "MS_REMOUNT"),
        (MsFlags::MS_RDONLY, "MS_RDONLY"),
        (MsFlags::MS_NOSUID, "MS_NOSUID"),
        (MsFlags::MS_NODEV, "MS_NODEV"),
        (MsFlags::MS_NOEXEC, "MS_NOEXEC"),
    ];
    NAMES
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(_, name)| *name)
        .collect()
}

/// Names of the open(2) flags set in `flags`.
pub fn open_flag_names(flags: OFlag) -> Vec<&'static str> {
    let access = match flags & OFlag::O_ACCMODE {
        f if f == OFlag::O_WRONLY => "O_WRONLY",
        f if f == OFlag::O_RDWR => "O_RDWR",
        _ => "O_RDONLY",
    };
    const NAMES: &[(OFlag, &str)] = &[
        (OFlag::O_CREAT, "O_CREAT"),
        (OFlag::O_EXCL, "O_EXCL"),
        (OFlag::O_TRUNC, "O_TRUNC"),
        (OFlag::O_DIRECTORY, "O_DIRECTORY"),
        (OFlag::O_NOFOLLOW, "O_NOFOLLOW"),
        (OFlag::O_CLOEXEC, "O_CLOEXEC"),
    ];
    std::iter::once(access)
        .chain(
            NAMES
                .iter()
                .filter(|(flag, _)| flags.contains(*flag))
                .map(|(_, name)| *name),
        )
        .collect()
}

/// How `mount(2)` is narrated: `mount("proc", "/proc", "proc", MS_NOSUID, NULL)`.
pub fn describe_mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> String {
    let quote = |s: Option<&str>| s.map_or("NULL".to_string(), |s| format!("{s:?}"));
    format!(
        "mount({}, {}, {}, {}, {})",
        quote(source),
        quoted(target),
        quote(fstype),
        narrate::flags(&mount_flag_names(flags)),
        quote(data)
    )
}

/// Mounts a file system, or changes a mount. See mount(2).
///
/// `source`, `fstype` and `data` are `None` where the call passes `NULL`.
/// `why`, when not empty, is printed after the call as a comment.
pub fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    why: &str,
) -> Result<(), Errno> {
    narrate::syscall(with_comment(
        describe_mount(source, target, fstype, flags, data),
        why,
    ));
    nix::mount::mount(source, target, fstype, flags, data)
}

/// Unmounts. See umount2(2).
pub fn umount2(target: &Path, flags: MntFlags, why: &str) -> Result<(), Errno> {
    let names: Vec<&str> = [
        (MntFlags::MNT_DETACH, "MNT_DETACH"),
        (MntFlags::UMOUNT_NOFOLLOW, "UMOUNT_NOFOLLOW"),
    ]
    .iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .map(|(_, name)| *name)
    .collect();
    narrate::syscall(with_comment(
        format!("umount2({}, {})", quoted(target), narrate::flags(&names)),
        why,
    ));
    nix::mount::umount2(target, flags)
}

/// Swaps the root mount. See pivot_root(2).
pub fn pivot_root(new_root: &Path, put_old: &Path) -> Result<(), Errno> {
    narrate::syscall(format!(
        "pivot_root({}, {})",
        quoted(new_root),
        quoted(put_old)
    ));
    nix::unistd::pivot_root(new_root, put_old)
}

/// Changes the current directory. See chdir(2).
pub fn chdir(path: &Path) -> Result<(), Errno> {
    narrate::syscall(format!("chdir({})", quoted(path)));
    nix::unistd::chdir(path)
}

/// Changes the root directory. See chroot(2).
pub fn chroot(path: &Path) -> Result<(), Errno> {
    narrate::syscall(format!("chroot({})", quoted(path)));
    nix::unistd::chroot(path)
}

/// Creates a directory. See mkdir(2).
pub fn mkdir(path: &Path, mode: u32) -> Result<(), Errno> {
    narrate::syscall(format!("mkdir({}, {})", quoted(path), octal(mode)));
    nix::unistd::mkdir(path, Mode::from_bits_truncate(mode))
}

/// Removes an empty directory. See rmdir(2).
pub fn rmdir(path: &Path, why: &str) -> Result<(), Errno> {
    narrate::syscall(with_comment(format!("rmdir({})", quoted(path)), why));
    nix::unistd::unlinkat(None, path, nix::unistd::UnlinkatFlags::RemoveDir)
}

/// Creates a character device node. See mknod(2).
pub fn mknod_char(path: &Path, mode: u32, major: u64, minor: u64) -> Result<(), Errno> {
    narrate::syscall(format!(
        "mknod({}, S_IFCHR | {}, makedev({major}, {minor}))",
        quoted(path),
        octal(mode)
    ));
    nix::sys::stat::mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(mode),
        nix::sys::stat::makedev(major, minor),
    )
}

/// Creates a symbolic link `link` pointing to `target`. See symlink(2).
pub fn symlink(target: &str, link: &Path) -> Result<(), Errno> {
    narrate::syscall(format!("symlink({target:?}, {})", quoted(link)));
    nix::unistd::symlinkat(target, None, link)
}

/// Sets the file mode creation mask and returns the old one. See umask(2).
pub fn umask(mask: u32) -> Mode {
    narrate::syscall(format!("umask({})", octal(mask)));
    nix::sys::stat::umask(Mode::from_bits_truncate(mask))
}

/// Opens a file. See open(2).
pub fn open(path: &Path, flags: OFlag, mode: u32, why: &str) -> Result<OwnedFd, Errno> {
    let flag_text = narrate::flags(&open_flag_names(flags));
    let call = if flags.contains(OFlag::O_CREAT) {
        format!("open({}, {flag_text}, {})", quoted(path), octal(mode))
    } else {
        format!("open({}, {flag_text})", quoted(path))
    };
    narrate::syscall(with_comment(call, why));
    nix::fcntl::open(path, flags, Mode::from_bits_truncate(mode))
        // SAFETY: open(2) just returned this descriptor, owned by no one else.
        .map(|fd| unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Sets the hostname of the caller's UTS namespace. See sethostname(2).
pub fn sethostname(name: &str) -> Result<(), Errno> {
    narrate::syscall(format!("sethostname({name:?}, {})", name.len()));
    nix::unistd::sethostname(name)
}

/// Sets the NIS domain name of the caller's UTS namespace. See
/// setdomainname(2).
pub fn setdomainname(name: &str) -> Result<(), Errno> {
    narrate::syscall(format!("setdomainname({name:?}, {})", name.len()));
    // nix has no wrapper. SAFETY: the pointer and length describe `name`'s
    // bytes, which live for the duration of the call; the kernel copies them.
    let result = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(result).map(drop)
}

/// Creates a pipe. See pipe2(2). Only `O_CLOEXEC` is named: it is the
/// only flag the lessons pass.
pub fn pipe2(flags: OFlag, why: &str) -> Result<(OwnedFd, OwnedFd), Errno> {
    let names: Vec<&str> = [
        (OFlag::O_CLOEXEC, "O_CLOEXEC"),
        (OFlag::O_NONBLOCK, "O_NONBLOCK"),
    ]
    .iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .map(|(_, name)| *name)
    .collect();
    narrate::syscall(with_comment(
        format!("pipe2({})", narrate::flags(&names)),
        why,
    ));
    nix::unistd::pipe2(flags)
}

/// `CLOSE_RANGE_CLOEXEC` from linux/close_range.h (Linux 5.11).
pub const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Marks every descriptor from `first` up close-on-exec, so that execve(2)
/// closes them. See close_range(2).
///
/// Marked rather than closed: the pipe that carries a failed `execve`'s
/// error back to the parent must stay open until the `execve` succeeds,
/// and then it closes by itself. Kernels older than 5.11 know close_range
/// but not this flag (EINVAL); there each descriptor is marked with
/// fcntl(2) instead.
pub fn close_range_cloexec(first: libc::c_uint, why: &str) -> Result<(), Errno> {
    narrate::syscall(with_comment(
        format!("close_range({first}, ~0U, CLOSE_RANGE_CLOEXEC)"),
        why,
    ));
    // SAFETY: close_range takes three integers and touches no memory.
    let result = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    match Errno::result(result) {
        Ok(_) => Ok(()),
        Err(Errno::EINVAL) | Err(Errno::ENOSYS) => mark_cloexec_one_by_one(first),
        Err(errno) => Err(errno),
    }
}

/// The fallback of [`close_range_cloexec`]: `fcntl(fd, F_SETFD,
/// FD_CLOEXEC)` on every descriptor below the open-files limit.
pub fn mark_cloexec_one_by_one(first: libc::c_uint) -> Result<(), Errno> {
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)?;
    let last = soft.min(1 << 20) as libc::c_int;
    narrate::syscall(format!(
        "fcntl(fd, F_SETFD, FD_CLOEXEC) for fd {first}..{last}   # this kernel has no CLOSE_RANGE_CLOEXEC"
    ));
    for fd in first as libc::c_int..last {
        // SAFETY: F_SETFD on a descriptor that is not open fails with
        // EBADF and changes nothing.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Removes a System V message queue. See msgctl(2).
pub fn msgctl_rmid(id: i32) -> Result<(), Errno> {
    narrate::syscall(format!("msgctl({id}, IPC_RMID, NULL)"));
    // SAFETY: IPC_RMID reads no buffer, so NULL is allowed.
    Errno::result(unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

/// Removes a System V shared-memory segment (once nothing has it attached).
/// See shmctl(2).
pub fn shmctl_rmid(id: i32) -> Result<(), Errno> {
    narrate::syscall(format!("shmctl({id}, IPC_RMID, NULL)"));
    // SAFETY: as for msgctl_rmid.
    Errno::result(unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

/// Removes a System V semaphore set. See semctl(2).
pub fn semctl_rmid(id: i32) -> Result<(), Errno> {
    narrate::syscall(format!("semctl({id}, 0, IPC_RMID)"));
    // SAFETY: IPC_RMID takes no fourth argument.
    Errno::result(unsafe { libc::semctl(id, 0, libc::IPC_RMID) }).map(drop)
}

fn with_comment(call: String, why: &str) -> String {
    if why.is_empty() {
        call
    } else {
        format!("{call}   # {why}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_calls_are_narrated_like_the_man_page() {
        let line = describe_mount(
            Some("proc"),
            Path::new("/proc"),
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        );
        assert_eq!(
            line,
            r#"mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)"#
        );
        let line = describe_mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        );
        assert_eq!(line, r#"mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)"#);
    }

    #[test]
    fn open_flags_are_named_with_the_access_mode_first() {
        let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
        assert_eq!(open_flag_names(flags), ["O_WRONLY", "O_CREAT", "O_CLOEXEC"]);
        assert_eq!(open_flag_names(OFlag::O_RDONLY), ["O_RDONLY"]);
    }

    #[test]
    fn octal_is_written_as_c_does() {
        assert_eq!(octal(0), "0");
        assert_eq!(octal(0o22), "022");
        assert_eq!(octal(0o1777), "01777");
    }
}
