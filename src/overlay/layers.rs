//! Lesson 09's layers: the default rootfs as the base layer, a second
//! layer above it, and each container's own writable layer; and, after a
//! run, what the container's writes left in that layer, seen from the host.

use super::{Overlay, OverlayError};
use crate::narrate;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The second layer, made once beside the rootfs: it adds `/etc/motd` and
/// deletes `/linuxrc` from the base, so the stack has something to show.
pub const TOP_LAYER: &str = "layer-top";

/// Each container's layers dir is called this, then the lesson's PID:
/// `nslab cleanup` finds a killed run's by it.
pub const CONTAINER_PREFIX: &str = ".nslab-overlay-";

/// The file the top layer adds.
pub const ADDED: &str = "etc/motd";
/// The file of the base layer the top layer deletes, with a whiteout.
pub const DELETED: &str = "linuxrc";

fn file_error(step: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OverlayError {
    let path = path.to_path_buf();
    move |source| OverlayError::File { step, path, source }
}

/// Refuses a `--layer` that is not a directory, before anything is built.
pub fn check_given(layers: &[PathBuf]) -> Result<(), OverlayError> {
    match layers.iter().find(|layer| !layer.is_dir()) {
        Some(layer) => Err(OverlayError::NotADirectory {
            path: layer.clone(),
        }),
        None => Ok(()),
    }
}

/// The image's layers, top first: the `--layer`s given, made absolute
/// (overlayfs resolves relative paths from the mounter's directory, which
/// the child leaves), or, without any, the top layer over `base`.
pub fn image(given: &[PathBuf], base: &Path) -> Result<Vec<PathBuf>, OverlayError> {
    if given.is_empty() {
        return Ok(vec![top_layer(base)?, base.to_path_buf()]);
    }
    Ok(given
        .iter()
        .map(|layer| std::path::absolute(layer).unwrap_or(layer.clone()))
        .collect())
}

/// The top layer beside `rootfs` (the base), made if missing: staged in
/// `.rootfs.building-<pid>` and renamed, as the rootfs itself is.
pub fn top_layer(rootfs: &Path) -> Result<PathBuf, OverlayError> {
    let parent = rootfs.parent().unwrap_or(Path::new("/"));
    let layer = parent.join(TOP_LAYER);
    if layer.join(ADDED).is_file() {
        return Ok(layer);
    }
    let staging = parent.join(format!(".rootfs.building-{}", std::process::id()));
    narrate::file_op(format!(
        "make the layer {}: it adds /{ADDED}, and deletes /{DELETED} with a whiteout",
        layer.display()
    ));
    fs::create_dir_all(staging.join("etc")).map_err(file_error("make the top layer", &staging))?;
    fs::write(
        staging.join(ADDED),
        "This file comes from the top layer (layer-top), above the base layer.\n",
    )
    .map_err(file_error("make the top layer", &staging))?;
    // A whiteout, the way overlayfs makes one: a character device 0/0.
    let whiteout = staging.join(DELETED);
    match nix::sys::stat::mknod(
        &whiteout,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    ) {
        Ok(()) => {}
        // Without root, mknod(2) makes no device node, not even this one:
        // the top layer of a rootless run deletes nothing.
        Err(nix::errno::Errno::EPERM) => narrate::explain(format!(
            "not root: mknod refuses even a whiteout, so this top layer leaves /{DELETED} alone"
        )),
        Err(errno) => {
            return Err(OverlayError::File {
                step: "make a whiteout in the top layer",
                path: whiteout.clone(),
                source: errno.into(),
            })
        }
    }
    match fs::rename(&staging, &layer) {
        Ok(()) => Ok(layer),
        Err(_) if layer.join(ADDED).is_file() => {
            let _ = crate::rootfs::remove_tree(&staging);
            Ok(layer)
        }
        Err(source) => Err(OverlayError::File {
            step: "put the top layer in place",
            path: layer,
            source,
        }),
    }
}

/// One container's writable layer, work directory and mount point, under
/// the state directory; removed when dropped unless kept (`--keep`).
#[derive(Debug)]
pub struct ContainerLayers {
    dir: PathBuf,
    keep: bool,
}

impl ContainerLayers {
    // ANCHOR: container
    /// Makes `<state>/.nslab-overlay-<pid>/{upper,work,merged}`.
    pub fn create(state_dir: &Path, keep: bool) -> Result<ContainerLayers, OverlayError> {
        let state_dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
        let dir = state_dir.join(format!("{CONTAINER_PREFIX}{}", std::process::id()));
        narrate::file_op(format!(
            "mkdir {}/upper, work and merged   # this container's own layer",
            dir.display()
        ));
        let layers = ContainerLayers { dir, keep };
        for sub in ["upper", "work", "merged"] {
            fs::create_dir_all(layers.dir.join(sub))
                .map_err(file_error("make the container's layer", &layers.dir))?;
        }
        Ok(layers)
    }
    // ANCHOR_END: container

    /// The overlay of `lower` (top first) under this container's layer;
    /// `rootless` when it is mounted in a user namespace.
    pub fn overlay(&self, lower: Vec<PathBuf>, rootless: bool) -> Overlay {
        Overlay {
            lower,
            upper: self.dir.join("upper"),
            work: self.dir.join("work"),
            userxattr: rootless,
        }
    }

    /// Where the overlay is mounted, the container's root.
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }

    /// The writable layer.
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// The container's init layer (lesson 10), made and filled by the
    /// start sequence.
    pub fn init(&self) -> PathBuf {
        self.dir.join("init")
    }
}

impl Drop for ContainerLayers {
    fn drop(&mut self) {
        if self.keep {
            // Said even with --quiet: it is the answer to --keep.
            eprintln!(
                "--keep: the container's layer stays at {} (remove {} when done)",
                self.upper().display(),
                self.dir.display()
            );
            return;
        }
        // overlayfs leaves work/work with no permissions at all; as root
        // that stops nothing, but a rootless run could not even look into
        // it to remove it.
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(
            self.dir.join("work/work"),
            fs::Permissions::from_mode(0o700),
        );
        narrate::file_op(format!(
            "remove {}   # the container's layer",
            self.dir.display()
        ));
        if let Err(error) = crate::rootfs::remove_tree(&self.dir) {
            crate::report::print_error(&crate::Error::from(error));
        }
    }
}

/// What an entry of an upper layer is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// A file or symlink written (new, or copied up and changed).
    Written,
    /// A whiteout: the name deleted from a lower layer.
    Whiteout,
    /// A directory made where a lower one was removed: nothing below shows.
    Opaque,
    /// A directory that only holds other changes.
    Directory,
}

/// Whether `dir` carries `trusted.overlay.opaque = y` (or `user.` for a
/// rootless overlay).
fn is_opaque(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // trusted.* as root; user.* for an overlay mounted in a user
    // namespace with `userxattr` (a rootless run).
    [c"trusted.overlay.opaque", c"user.overlay.opaque"]
        .iter()
        .any(|name| {
            let mut value = [0u8; 1];
            // SAFETY: both strings are NUL-terminated, and the buffer's
            // length is passed with it.
            let n = unsafe {
                libc::lgetxattr(
                    path.as_ptr(),
                    name.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            n == 1 && value[0] == b'y'
        })
}

/// Every change in upper layer `upper`, by path inside the container.
pub fn changes(upper: &Path) -> Vec<(String, Change)> {
    let mut found = Vec::new();
    let mut stack = vec![upper.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let inside = format!("/{}", path.strip_prefix(upper).unwrap_or(&path).display());
            let kind = meta.file_type();
            // ANCHOR: changes
            let change = if kind.is_char_device() && meta.rdev() == 0 {
                Change::Whiteout
            } else if kind.is_dir() {
                stack.push(path.clone());
                if is_opaque(&path) {
                    Change::Opaque
                } else {
                    Change::Directory
                }
            } else {
                Change::Written
            };
            // ANCHOR_END: changes
            found.push((inside, change));
        }
    }
    found.sort();
    found
}

/// What the layers below hold: each file's path, size and modification
/// time, to compare before and after a run.
pub fn fingerprint(lower: &[PathBuf]) -> std::collections::BTreeMap<PathBuf, (u64, i64)> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack: Vec<PathBuf> = lower.to_vec();
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path.clone());
            }
            files.insert(path, (meta.len(), meta.mtime()));
        }
    }
    files
}

/// After the run, from the host: what the container's writes left in its
/// layer, and whether the layers below are as `before` found them.
pub fn show_changes(
    upper: &Path,
    lower: &[PathBuf],
    before: &std::collections::BTreeMap<PathBuf, (u64, i64)>,
) {
    narrate::heading("The container's layer, seen from the host");
    narrate::file_op(format!("read {}", upper.display()));
    for (path, change) in changes(upper) {
        let what = match change {
            Change::Written => "written: new, or copied up from below and changed",
            Change::Whiteout => "whiteout (a character device 0/0): deleted from a layer below",
            Change::Opaque => "opaque directory: made where one below was removed",
            Change::Directory => continue,
        };
        narrate::observe(path, what);
    }
    if fingerprint(lower) == *before {
        narrate::success(
            "the layers below are as they were: every change is in the container's own layer",
        );
    } else {
        narrate::warning("a layer below changed during the run: something else wrote there");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_told_apart_by_type() {
        let upper = tempfile::tempdir().unwrap();
        fs::create_dir(upper.path().join("etc")).unwrap();
        fs::write(upper.path().join("etc/passwd"), "x").unwrap();
        fs::write(upper.path().join("new-file"), "x").unwrap();
        nix::sys::stat::mknod(
            &upper.path().join("etc/group"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let found = changes(upper.path());
        assert!(
            found.contains(&("/etc/passwd".into(), Change::Written)),
            "{found:?}"
        );
        assert!(found.contains(&("/new-file".into(), Change::Written)));
        assert!(found.contains(&("/etc/group".into(), Change::Whiteout)));
        assert!(found.contains(&("/etc".into(), Change::Directory)));
    }
}
