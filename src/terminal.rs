//! A terminal for the container's process: a new pseudo-terminal pair,
//! the process on its slave end, the master end sent to whoever asked for
//! it (the runtime's `process.terminal` with `--console-socket`).
//!
//! An engine that wants an interactive container (`podman run -it`) cannot
//! hand the container its own terminal: that would be the host's. It asks
//! for a new pty *inside* the container's devpts instead, and for the
//! master end, which it then relays to the user. The master travels over
//! a unix socket the engine listens on, as an `SCM_RIGHTS` message
//! (unix(7)): a file descriptor passed between processes.
//!
//! The socket's path is the host's, and the container's init has
//! pivot_root'ed away from it, so the runtime connects before spawning and
//! the init inherits the connected socket (runc does the same).

use crate::narrate;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// A step of making or sending the terminal that failed.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// Connecting to the engine's console socket failed.
    #[error("failed to connect to the console socket {}", path.display())]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
    /// A step of making the pty failed.
    #[error("failed to {step}")]
    Pty {
        /// The call.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
}

/// Connects to the console socket at `path` (in the runtime, before the
/// container's init is spawned). The descriptor is not close-on-exec…
/// until the init has sent the master: then it is closed.
pub fn connect(path: &Path) -> Result<OwnedFd, TerminalError> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let failed = |source| TerminalError::Connect {
        path: path.to_path_buf(),
        source,
    };
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(failed)?;
    let address = UnixAddr::new(path).map_err(failed)?;
    narrate::syscall(format!(
        "connect(socket(AF_UNIX, SOCK_STREAM), {:?})",
        path.display().to_string()
    ));
    connect(fd.as_raw_fd(), &address).map_err(failed)?;
    Ok(fd)
}

/// In the container, as the last step before execve: a new pty from the
/// container's own devpts, this process its session leader with the slave
/// as controlling terminal and as standard input, output and error, and
/// the master sent over `socket`.
pub fn take_new_terminal(socket: RawFd, size: Option<(u16, u16)>) -> Result<(), TerminalError> {
    let failed = |step| move |source| TerminalError::Pty { step, source };
    narrate::syscall("posix_openpt(O_RDWR | O_NOCTTY)   # /dev/ptmx: the container's devpts");
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(failed("open /dev/ptmx"))?;
    nix::pty::grantpt(&master).map_err(failed("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(failed("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(failed("find the slave's name"))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(failed("open the slave"))?;
    // SAFETY: just opened, owned here.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    // The size the config asks for (`process.consoleSize`), set before the
    // program runs: one that asks at once must not see 0x0. The engine's
    // relay keeps it up to date after. ioctl_tty(2), TIOCSWINSZ.
    if let Some((rows, columns)) = size {
        narrate::syscall(format!(
            "ioctl({name}, TIOCSWINSZ, {{ws_row={rows}, ws_col={columns}}})"
        ));
        let window = libc::winsize {
            ws_row: rows,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize; the descriptor is open.
        if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &window) } < 0 {
            return Err(TerminalError::Pty {
                step: "set its size",
                source: Errno::last(),
            });
        }
    }
    narrate::syscall(format!(
        "setsid(); ioctl({name}, TIOCSCTTY, 0); dup2 onto 0, 1, 2"
    ));
    nix::unistd::setsid().map_err(failed("setsid"))?;
    // SAFETY: TIOCSCTTY takes an int argument; the descriptor is open.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(TerminalError::Pty {
            step: "make it the controlling terminal",
            source: Errno::last(),
        });
    }
    for target in 0..=2 {
        nix::unistd::dup2(slave.as_raw_fd(), target).map_err(failed("dup2 the slave"))?;
    }
    send_master(socket, master.as_raw_fd())?;
    let _ = nix::unistd::close(socket);
    Ok(())
}

/// Sends `master` over `socket` as one `SCM_RIGHTS` message whose payload
/// is the master's name, as runc sends it.
fn send_master(socket: RawFd, master: RawFd) -> Result<(), TerminalError> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    narrate::syscall("sendmsg(console socket, \"/dev/ptmx\", SCM_RIGHTS [master])");
    let payload = b"/dev/ptmx";
    let fds = [master];
    sendmsg::<()>(
        socket,
        &[IoSlice::new(payload)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(drop)
    .map_err(|source| TerminalError::Pty {
        step: "send the master over the console socket",
        source,
    })
}
