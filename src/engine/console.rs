//! `-t`: the user's side of the container's terminal.
//!
//! The runtime gives the container a new pseudo-terminal from the
//! container's own devpts and sends its master end over a unix socket
//! (`--console-socket`, [`crate::terminal`]). Here the engine is the one
//! listening: it receives the master, puts the user's own terminal in raw
//! mode (so that Ctrl-C, arrows and tab reach the container's shell as
//! bytes, to be interpreted by the container's terminal, not ours), and
//! copies bytes both ways until the program ends. That is what `podman
//! run -it` asks conmon to do.

use super::EngineError;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};
use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// A listening console socket.
pub struct Console {
    listener: UnixListener,
    path: PathBuf,
}

impl Console {
    /// Listens on a new socket in the temporary directory: its path must
    /// fit in `sun_path` (108 bytes, unix(7)), which a path under a deep
    /// state directory may not.
    pub fn listen() -> Result<Console, EngineError> {
        let path = std::env::temp_dir().join(format!("nslab-console-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        // Only root can connect: the socket file is made with root's umask
        // (0755 at most), and connecting needs write permission (unix(7)).
        let listener = UnixListener::bind(&path).map_err(|source| EngineError::File {
            step: "listen on the console socket",
            path: path.clone(),
            source,
        })?;
        // Not blocking: whoever waits for the runtime's connection must be
        // able to give up if the runtime failed before it connected.
        listener
            .set_nonblocking(true)
            .map_err(|source| EngineError::File {
                step: "make non-blocking",
                path: path.clone(),
                source,
            })?;
        Ok(Console { listener, path })
    }

    /// Where it listens, for the runtime's `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the one connection the runtime made and the master it sent:
    /// one `SCM_RIGHTS` message (unix(7)). The runtime's `create` has
    /// connected and the init has sent it by the time `create` returns.
    pub fn receive(&self) -> Result<OwnedFd, EngineError> {
        self.try_receive()?.ok_or_else(|| {
            EngineError::Monitor("the terminal: the container sent no terminal".into())
        })
    }

    /// [`Console::receive`], or `None` if the runtime has not connected
    /// (yet): the caller checks whether it is still running, and asks
    /// again.
    pub fn try_receive(&self) -> Result<Option<OwnedFd>, EngineError> {
        let failed = |why: String| EngineError::Monitor(format!("the terminal: {why}"));
        let stream = match self.listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(failed(format!("accept: {e}"))),
        };
        // The connection blocks: the master may be a moment behind it.
        stream
            .set_nonblocking(false)
            .map_err(|e| failed(format!("the connection: {e}")))?;
        let mut payload = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut payload)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let message = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| failed(format!("recvmsg: {e}")))?;
        for control in message.cmsgs().map_err(|e| failed(e.to_string()))? {
            if let ControlMessageOwned::ScmRights(fds) = control {
                if let Some(fd) = fds.first() {
                    // SAFETY: the kernel just gave this process the descriptor.
                    return Ok(Some(unsafe { OwnedFd::from_raw_fd(*fd) }));
                }
            }
        }
        Err(failed(
            "the container ended before it sent its terminal".into(),
        ))
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The user's terminal in raw mode until dropped, when its settings are
/// put back (termios(3), `cfmakeraw`).
pub struct RawMode {
    saved: Option<(std::os::fd::RawFd, Termios)>,
}

impl RawMode {
    /// Our terminal (standard input's, or else standard output's) in raw
    /// mode, if there is one.
    pub fn enter() -> RawMode {
        for fd in [0, 1] {
            // SAFETY: 0 and 1 stay open for the life of the process.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            if let Ok(saved) = termios::tcgetattr(borrowed) {
                let mut raw = saved.clone();
                termios::cfmakeraw(&mut raw);
                let _ = termios::tcsetattr(borrowed, SetArg::TCSANOW, &raw);
                return RawMode {
                    saved: Some((fd, saved)),
                };
            }
        }
        RawMode { saved: None }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some((fd, saved)) = &self.saved {
            // SAFETY: as in `enter`.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(*fd) };
            let _ = termios::tcsetattr(borrowed, SetArg::TCSANOW, saved);
        }
    }
}

/// Our terminal's rows and columns (standard input's, or else standard
/// output's), for the runtime's `process.consoleSize`.
pub fn our_size() -> Option<(u16, u16)> {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills a winsize.
    [0, 1].into_iter().find_map(|fd| {
        let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
        (ok && size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
    })
}

/// Gives the container's terminal the size of ours (TIOCGWINSZ, then
/// TIOCSWINSZ: ioctl_tty(2)), so full-screen programs fit.
pub fn copy_size(master: &OwnedFd) {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // Standard input's terminal, or else standard output's, as RawMode.
    // SAFETY: TIOCGWINSZ fills a winsize; TIOCSWINSZ reads one.
    unsafe {
        for fd in [0, 1] {
            if libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) == 0 {
                libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size);
                return;
            }
        }
    }
}

/// Keeps the container's terminal the size of ours: a thread takes each
/// SIGWINCH (sent to us when the user resizes the window) with
/// sigwait(2) and copies the size again; the kernel then sends the
/// container's foreground programs their own SIGWINCH (ioctl_tty(2),
/// TIOCSWINSZ). SIGWINCH is blocked first, in this thread, so that every
/// thread started after it (the relays) has it blocked too and only the
/// waiting thread takes it.
pub fn follow_size(master: &OwnedFd) {
    let Ok(master) = master.try_clone() else {
        return;
    };
    let mut winch = nix::sys::signal::SigSet::empty();
    winch.add(nix::sys::signal::Signal::SIGWINCH);
    if winch.thread_block().is_err() {
        return;
    }
    // Not joined: it waits for the next resize until the process exits.
    std::thread::spawn(move || {
        while winch.wait().is_ok() {
            copy_size(&master);
        }
    });
}

/// Copies the container's terminal to our standard output until it
/// closes (EIO once every process holding the slave has ended), and, with
/// `interactive`, our standard input to it. Returns the output copier, to
/// be joined after the container ended.
pub fn relay(master: OwnedFd, interactive: bool) -> std::thread::JoinHandle<()> {
    let master = File::from(master);
    if interactive {
        if let Ok(mut to_container) = master.try_clone() {
            // Not joined: it sits in read(0) until the process exits.
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let mut stdin = std::io::stdin();
                while let Ok(n @ 1..) = stdin.read(&mut buffer) {
                    if to_container.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    }
    std::thread::spawn(move || {
        let mut from_container = master;
        let mut buffer = [0u8; 4096];
        let mut stdout = std::io::stdout();
        while let Ok(n @ 1..) = from_container.read(&mut buffer) {
            if stdout.write_all(&buffer[..n]).is_err() {
                break;
            }
            let _ = stdout.flush();
        }
    })
}
