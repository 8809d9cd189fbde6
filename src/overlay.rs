//! Lesson 09: overlayfs, a root filesystem stacked from read-only layers
//! and one writable layer (the kernel's
//! Documentation/filesystems/overlayfs.rst).
//!
//! An overlay mount shows the union of its *lower* directories (read-only,
//! the first one on top) and an *upper* directory (read-write): a name
//! found in a higher layer hides the same name below. Writing to a file of
//! a lower layer first copies it up into the upper layer ("copy-up");
//! deleting one leaves a *whiteout* in the upper layer, a character device
//! 0/0 of the same name; a directory made where a lower one was removed is
//! *opaque* (the `trusted.overlay.opaque` attribute): nothing below shows
//! through it. The lower layers never change, which is what lets many
//! containers share one image.
//!
//! This module is the mechanism ([`Overlay`], [`Overlay::mount`]);
//! [`layers`] builds lesson 09's layers and shows what a run left in its
//! upper layer; [`probe`] finds out whether this kernel has overlayfs.

pub mod layers;
pub mod probe;

use crate::mount::{self, MountError};
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

/// What can go wrong stacking layers.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// A layer path overlayfs cannot take in its options.
    #[error("the layer {} has a ':' or ',' in its path, which overlayfs's options cannot hold", path.display())]
    BadPath {
        /// The path.
        path: PathBuf,
    },
    /// A state directory whose layers overlayfs could not take.
    #[error("the state directory {} has a ':' or ',' in its path, which overlayfs's options cannot hold for the layers kept there", path.display())]
    BadStateDir {
        /// The path.
        path: PathBuf,
    },
    /// The options would not fit in one page, the limit of mount(2)'s data.
    #[error(
        "{count} layers make {length} bytes of mount options, more than the {limit} mount(2) takes"
    )]
    TooManyLayers {
        /// How many lower layers.
        count: usize,
        /// The options' length.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// A layer that is not a directory.
    #[error("the layer {} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Building a layer or a container's directories failed.
    #[error("failed to {step}: {}", path.display())]
    File {
        /// What was being done.
        step: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Mounting the overlay failed.
    #[error("failed to mount the overlay")]
    Mount(#[source] MountError),
}

impl OverlayError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            OverlayError::TooManyLayers { .. } => Some(
                "use fewer --layer directories, or shorter paths to them (symlinks in a short directory)".into(),
            ),
            OverlayError::BadPath { .. } => {
                Some("move or link the layer to a path without ':' or ','".into())
            }
            OverlayError::BadStateDir { .. } => {
                Some("give --state-dir (or NSLAB_STATE_DIR) a path without ':' or ','".into())
            }
            OverlayError::Mount(_) => Some(
                "`nslab doctor` checks overlayfs; the upper and work directories must be on one file system, \
                 and not on an overlay or tmpfs that cannot hold them (`modprobe overlay` if it is missing)"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// An overlay: its layers, top first, and the container's own writable
/// layer with the work directory overlayfs needs beside it (on the same
/// file system, empty, used for atomic copy-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// The read-only layers, the top one first.
    pub lower: Vec<PathBuf>,
    /// The read-write layer.
    pub upper: PathBuf,
    /// overlayfs's work directory.
    pub work: PathBuf,
    /// Mounted in a user namespace (Linux 5.11): overlayfs then keeps its
    /// own marks (opaque directories) in `user.overlay.*` attributes, the
    /// only ones an unprivileged mounter may set (`userxattr`).
    pub userxattr: bool,
}

/// The most bytes mount(2) takes as `data`: one page.
pub const OPTIONS_MAX: usize = 4096;

/// Refuses a state directory overlayfs's options could not hold (a `:`
/// or a `,`) for the layers kept under it: checked before anything is
/// built there.
pub fn check_state_dir(path: &std::path::Path) -> Result<(), OverlayError> {
    check_path(path).map_err(|_| OverlayError::BadStateDir {
        path: path.to_path_buf(),
    })
}

/// Refuses a layer path overlayfs's options cannot hold: a `:` or a `,`.
fn check_path(path: &std::path::Path) -> Result<(), OverlayError> {
    let text = path.to_string_lossy();
    if text.contains(':') || text.contains(',') {
        return Err(OverlayError::BadPath {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

impl Overlay {
    // ANCHOR: options
    /// The mount options: `lowerdir=TOP:…:BOTTOM,upperdir=…,workdir=…`.
    /// `:` separates lower layers and `,` options, so a path holding
    /// either is refused rather than escaped; more layers than fit in one
    /// page are refused with the count.
    pub fn options(&self) -> Result<String, OverlayError> {
        let all = self.lower.iter().chain([&self.upper, &self.work]);
        for path in all {
            check_path(path)?;
        }
        let lower: Vec<String> = self.lower.iter().map(|p| p.display().to_string()).collect();
        let mut options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            self.upper.display(),
            self.work.display()
        );
        if self.userxattr {
            options.push_str(",userxattr");
        }
        if options.len() >= OPTIONS_MAX {
            return Err(OverlayError::TooManyLayers {
                count: self.lower.len(),
                length: options.len(),
                limit: OPTIONS_MAX,
            });
        }
        Ok(options)
    }
    // ANCHOR_END: options

    /// Mounts the overlay on `target`, in the child's own mount namespace
    /// (after its mounts are private, before pivot_root into `target`).
    // ANCHOR: mount
    pub fn mount(&self, target: &Path) -> Result<(), OverlayError> {
        let options = self.options()?;
        mount::mount(
            "the overlay of the layers",
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(&options),
        )
        .map_err(OverlayError::Mount)?;
        crate::narrate::explain(format!(
            "{} shows {} read-only layers, and above them our own writable one",
            target.display(),
            self.lower.len()
        ));
        Ok(())
    }
    // ANCHOR_END: mount
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(lower: Vec<PathBuf>) -> Overlay {
        Overlay {
            lower,
            upper: "/s/u".into(),
            work: "/s/w".into(),
            userxattr: false,
        }
    }

    #[test]
    fn the_top_layer_comes_first_in_lowerdir() {
        let o = overlay(vec!["/l/top".into(), "/l/base".into()]);
        assert_eq!(
            o.options().unwrap(),
            "lowerdir=/l/top:/l/base,upperdir=/s/u,workdir=/s/w"
        );
    }

    #[test]
    fn separators_in_paths_and_too_many_layers_are_refused() {
        assert!(matches!(
            overlay(vec!["/l/a:b".into()]).options(),
            Err(OverlayError::BadPath { .. })
        ));
        assert!(matches!(
            overlay(vec!["/l/a,b".into()]).options(),
            Err(OverlayError::BadPath { .. })
        ));
        let many: Vec<PathBuf> = (0..500)
            .map(|i| PathBuf::from(format!("/layers/{i:04}")))
            .collect();
        match overlay(many).options() {
            Err(OverlayError::TooManyLayers { count: 500, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}
