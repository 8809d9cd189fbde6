//! The escape corpus's layer: this lesson's own program, with the shared
//! libraries it needs, as one more read-only layer of the container.
//!
//! The escape attempts need system calls no shell has a command for
//! (`open_by_handle_at`, `init_module`), and they must run the way any
//! command in the container runs, after `execve`, because `execve` is where
//! the kernel recomputes capabilities and honours no_new_privs. So the
//! lesson lends the container itself: `usr/local/bin/nslab-escapes` is a
//! copy of the running program (the name tells it to try the escapes, as
//! busybox's name tells it which tool to be), setuid root, so that the
//! no_new_privs attempt has a setuid program to run. Lesson 09's layers make
//! this a directory, not a change to the image.
//!
//! The layer is built once per build of the lesson, keyed by the program's
//! size and modification time, under a lock, in a staging directory
//! renamed into place, as the default rootfs is.

use super::LockdownError;
use crate::{narrate, rootfs};
use nix::fcntl::{Flock, FlockArg};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The corpus's path inside the container.
pub const PROGRAM: &str = "/usr/local/bin/nslab-escapes";

/// The name the program answers to when run as the corpus.
pub const NAME: &str = "nslab-escapes";

/// The prefix of the layer's directories in the state directory.
pub const PREFIX: &str = "layer-escapes-";

/// The prefix of a layer being built, followed by the builder's PID:
/// `nslab cleanup` removes those whose builder is gone.
pub const STAGING_PREFIX: &str = ".layer-escapes-staging-";

fn failed(step: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LockdownError {
    let path = path.to_path_buf();
    move |source| LockdownError::Kit { step, path, source }
}

/// Makes (or finds) the layer for the running program in `state_dir` and
/// returns its path.
pub fn prepare(state_dir: &Path) -> Result<PathBuf, LockdownError> {
    // Absolute: the container reaches it through the old root, by path.
    let state_dir = &std::path::absolute(state_dir).map_err(failed("find", state_dir))?;
    // The program's own path: `ld.so --list /proc/self/exe` would list the
    // loader's libraries, /proc/self/exe being the loader then.
    let exe = std::env::current_exe().map_err(failed("find", Path::new("/proc/self/exe")))?;
    let meta = fs::metadata(&exe).map_err(failed("look at", &exe))?;
    let layer = state_dir.join(format!("{PREFIX}{:x}-{:x}", meta.size(), meta.mtime()));
    let lock_path = state_dir.join(".escapes.lock");
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(failed("open", &lock_path))?;
    // Twenty lessons started at once build it once.
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| failed("lock", &lock_path)(errno.into()))?;
    if layer.join(PROGRAM.trim_start_matches('/')).exists() {
        return Ok(layer);
    }
    // Layers of earlier builds of the lesson are no longer needed.
    for old in fs::read_dir(state_dir)
        .map_err(failed("list", state_dir))?
        .flatten()
    {
        let name = old.file_name().to_string_lossy().into_owned();
        if name.starts_with(PREFIX) && old.path() != layer {
            let _ = rootfs::remove_tree(&old.path());
        }
    }
    narrate::explain(format!(
        "making the escape corpus's layer {}: this program and its libraries",
        layer.display()
    ));
    let staging = state_dir.join(format!("{STAGING_PREFIX}{}", std::process::id()));
    let _ = rootfs::remove_tree(&staging);
    let result = build(&exe, &staging)
        .and_then(|()| fs::rename(&staging, &layer).map_err(failed("rename into place", &layer)));
    if result.is_err() {
        let _ = rootfs::remove_tree(&staging);
    }
    result.map(|()| layer)
}

/// Copies `file` to the same path under `root`.
fn copy_to(root: &Path, file: &Path, as_path: &Path) -> Result<(), LockdownError> {
    let target = root.join(as_path.strip_prefix("/").unwrap_or(as_path));
    if let Some(dir) = target.parent() {
        fs::create_dir_all(dir).map_err(failed("create", dir))?;
    }
    fs::copy(file, &target).map_err(failed("copy", &target))?;
    Ok(())
}

fn build(exe: &Path, staging: &Path) -> Result<(), LockdownError> {
    let program = staging.join(PROGRAM.trim_start_matches('/'));
    copy_to(staging, exe, Path::new(PROGRAM))?;
    // setuid root: owned by root (the lesson runs as root), mode 4755.
    fs::set_permissions(&program, fs::Permissions::from_mode(0o4755))
        .map_err(failed("make setuid", &program))?;
    let rootfs_error = |error: rootfs::RootfsError| LockdownError::Kit {
        step: "find the libraries of",
        path: exe.to_path_buf(),
        source: std::io::Error::other(error.to_string()),
    };
    // The loader where the program's header says (PT_INTERP), the
    // libraries where the loader looks for them.
    if let Some(loader) = rootfs::interpreter(exe).map_err(rootfs_error)? {
        copy_to(staging, &loader, &loader)?;
    }
    for library in rootfs::needed_libraries(exe).map_err(rootfs_error)? {
        copy_to(staging, &library, &library)?;
    }
    Ok(())
}
