//! Extended attributes, without following symlinks: lsetxattr(2),
//! lgetxattr(2), llistxattr(2).
//!
//! Layers carry a few of them: `security.capability` (the file
//! capabilities that let `ping` run without setuid), ACLs, and overlayfs's
//! own `trusted.overlay.opaque`, which marks a directory whose lower
//! contents are hidden.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The xattr that makes a directory opaque to the layers below it
/// (the kernel's Documentation/filesystems/overlayfs.rst, "whiteouts and
/// opaque directories").
pub const OPAQUE: &[u8] = b"trusted.overlay.opaque";

/// The prefix of every xattr overlayfs reads. A layer's tar never sets
/// one directly: a tarball could otherwise plant overlayfs's own
/// bookkeeping (`redirect`, `origin`, `metacopy`) in a layer. Whiteout
/// files are the one way a tar layer speaks to overlayfs.
pub const OVERLAY_PREFIX: &[u8] = b"trusted.overlay.";

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

fn c_name(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Sets `name` to `value` on `path` itself (a symlink is not followed).
pub fn set(path: &Path, name: &[u8], value: &[u8]) -> io::Result<()> {
    let (path, name) = (c_path(path)?, c_name(name)?);
    // SAFETY: both strings are NUL-terminated and live across the call;
    // the value's pointer and length describe one slice.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The value of `name` on `path` itself, or None when it has none.
pub fn get(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let (path, name) = (c_path(path)?, c_name(name)?);
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: as in `set`; the buffer's pointer and length match.
        let n = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ENODATA) => return Ok(None),
            e if e.raw_os_error() == Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            e => return Err(e),
        }
    }
}

/// The names of the xattrs on `path` itself.
pub fn list(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let path = c_path(path)?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: as in `get`.
        let n = unsafe { libc::llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            // The names come NUL-separated.
            return Ok(buf
                .split(|b| *b == 0)
                .filter(|name| !name.is_empty())
                .map(<[u8]>::to_vec)
                .collect());
        }
        match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            // A file system without xattrs has none to list.
            e if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
            e => return Err(e),
        }
    }
}
