//! What can go wrong with images, one variant per failed step.

use crate::rootfs::RootfsError;
use std::io;
use std::path::PathBuf;

/// What can go wrong with images. Each variant is named after the step
/// that failed and keeps its cause; [`ImageError::hint`] says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The store's directories could not be made or read.
    #[error("failed to {step} {}", path.display())]
    Store {
        /// What was being done.
        step: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file of the store's own (an image's JSON, the names index) that
    /// does not parse.
    #[error("the image store's file {} is damaged", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// Taking the store's lock failed.
    #[error("failed to lock {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: nix::errno::Errno,
    },
    /// The file to import could not be opened (most often: it is not there).
    #[error("failed to open {}", path.display())]
    Open {
        /// The file given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file to import is not a tar archive (nor gzip of one).
    #[error("{} is not a tar archive", path.display())]
    NotATar {
        /// The file given.
        path: PathBuf,
        /// What the tar reader said, if it said anything.
        #[source]
        source: Option<io::Error>,
    },
    /// A format nslab recognises but cannot read (a zstd layer, say).
    #[error("{}: {what} is not supported", path.display())]
    Unsupported {
        /// The file given.
        path: PathBuf,
        /// What it uses.
        what: String,
    },
    /// A `docker save` archive (it has per-layer `layer.tar` files or a
    /// `repositories` file) without the `manifest.json` that lists them.
    #[error("{} looks like a `docker save` archive, but it has no manifest.json", path.display())]
    NoManifest {
        /// The file given.
        path: PathBuf,
    },
    /// A file the archive's own manifest or index names is not in it.
    #[error("{} has no `{member}`, which its {named_by} names", path.display())]
    MissingMember {
        /// The file given.
        path: PathBuf,
        /// The missing member.
        member: String,
        /// The file that named it.
        named_by: String,
    },
    /// A JSON file inside the archive (manifest, index, config) that does
    /// not parse as what it should be.
    #[error("`{member}` in {} is not a valid {what}", path.display())]
    BadJson {
        /// The file given.
        path: PathBuf,
        /// The member.
        member: String,
        /// What it should have been.
        what: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The archive's parts do not fit together (more layers than
    /// diff_ids, a digest that is not sha256, no manifest for this
    /// machine…).
    #[error("{} is not an image nslab can import: {reason}", path.display())]
    Inconsistent {
        /// The file given.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// Content whose sha256 is not the digest it was given under.
    #[error("{what} in {} does not match its digest: expected {expected}, found {actual}", path.display())]
    DigestMismatch {
        /// The file given.
        path: PathBuf,
        /// Which part: a layer, a config, a blob.
        what: String,
        /// The digest it was given under.
        expected: String,
        /// The digest of what was read.
        actual: String,
    },
    /// Nothing in the archive says what the image is called, and no name
    /// was given.
    #[error("{} does not say what the image is called{}", path.display(),
        tag.as_ref().map(|t| format!(" (it is only tagged `{t}`)")).unwrap_or_default())]
    NoName {
        /// The file given.
        path: PathBuf,
        /// A bare tag it carries, if any.
        tag: Option<String>,
    },
    /// The archive holds several images and nothing says which one.
    #[error("{} holds {} images ({}): which one?", path.display(), names.len(), names.join(", "))]
    SeveralImages {
        /// The file given.
        path: PathBuf,
        /// Their names.
        names: Vec<String>,
    },
    /// A name that is not `NAME[:TAG]` in docker's spelling.
    #[error("`{reference}` is not a valid image name: {reason}")]
    BadReference {
        /// The text given.
        reference: String,
        /// The rule it breaks.
        reason: String,
    },
    /// No image by that name or id.
    #[error("no image named {reference}")]
    NotFound {
        /// The name or id given.
        reference: String,
    },
    /// An id prefix that several images share.
    #[error("the id prefix {prefix} matches {} images: {}", ids.len(), ids.join(", "))]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// The ids it matches.
        ids: Vec<String>,
    },
    /// Removing an image a container still uses.
    #[error("image {image} is used by the container {container}")]
    InUse {
        /// The image's name or id, as given.
        image: String,
        /// The container's name.
        container: String,
    },
    /// A tar entry that would write outside its layer, or make a device.
    /// Nothing of the import is kept.
    #[error("refused the entry `{entry}` of {what}: {reason}")]
    UnsafeEntry {
        /// Which layer (or file).
        what: String,
        /// The entry's path, as the tar has it.
        entry: String,
        /// Why.
        reason: String,
    },
    /// Reading a layer's tar stream failed: a truncated file, a corrupt
    /// header, a gzip error.
    #[error("failed to read {what}")]
    ReadLayer {
        /// Which layer.
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Creating one entry of a layer on disk failed.
    #[error("failed to extract `{entry}` of {what}")]
    Extract {
        /// Which layer.
        what: String,
        /// The entry's path, as the tar has it.
        entry: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing a container's layer (or the default rootfs) as a tar failed.
    #[error("failed to write {} into a layer", path.display())]
    WriteLayer {
        /// The file being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Something in a container's layer that an image cannot hold.
    #[error("cannot commit {}: {reason}", path.display())]
    Uncommittable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The built-in `busybox` image needs the default rootfs, which could
    /// not be built.
    #[error("failed to make the built-in busybox image from nslab's default rootfs")]
    Rootfs(#[source] RootfsError),
}

impl ImageError {
    /// What to do about it, when there is advice to give.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            ImageError::Open { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                "check the path: `nslab image import FILE NAME` takes what `docker export` or \
                 `docker save` wrote, or an OCI image layout (a directory, or a tar of one)"
                    .into()
            }
            ImageError::NotATar { .. } | ImageError::Unsupported { .. } => {
                "nslab imports `docker export` and `docker save` tarballs (plain or gzip) and OCI \
                 image layouts with plain or gzip layers"
                    .into()
            }
            ImageError::NoManifest { .. } => {
                "docker before 1.10 wrote archives without one: save it again with a newer docker, \
                 or import a `docker export` of a container instead"
                    .into()
            }
            ImageError::MissingMember { .. }
            | ImageError::BadJson { .. }
            | ImageError::DigestMismatch { .. }
            | ImageError::ReadLayer { .. } => {
                "the file is damaged or was changed after it was made: copy or save it again".into()
            }
            ImageError::NoName { .. } => {
                "give it a name: `nslab image import FILE NAME[:TAG]`".into()
            }
            ImageError::SeveralImages { .. } => {
                "name the one to import: `nslab image import FILE NAME:TAG`, with one of the names listed"
                    .into()
            }
            ImageError::BadReference { .. } => {
                "a name is lowercase letters, digits and `._-/`, with an optional `:TAG`, like \
                 `busybox` or `me/app:1.0`"
                    .into()
            }
            ImageError::NotFound { .. } => {
                "`nslab image ls` lists them; `nslab image import FILE NAME` adds one".into()
            }
            ImageError::Ambiguous { .. } => "give more of the id".into(),
            ImageError::InUse { container, .. } => {
                format!("remove the container first: `nslab rm {container}` (`nslab rm -f {container}` if it still runs)")
            }
            ImageError::UnsafeEntry { .. } => {
                "the tarball tries to write outside its layer or to make a device: it was not \
                 imported, and nothing of it was kept"
                    .into()
            }
            ImageError::Uncommittable { .. } => {
                "remove it from the container (or stop making it), then commit again".into()
            }
            ImageError::Damaged { path, .. } => format!(
                "remove {} (the images it describes are then forgotten; their layers go with the next `nslab image rm`)",
                path.display()
            ),
            ImageError::Rootfs(error) => return error.hint(),
            ImageError::Extract { source, .. }
            | ImageError::Store { source, .. }
            | ImageError::WriteLayer { source, .. }
                if source.kind() == io::ErrorKind::PermissionDenied =>
            {
                "images need root: a layer keeps its files' owners, overlay whiteouts are device \
                 nodes and opaque directories carry a `trusted.` attribute; run it with sudo"
                    .into()
            }
            ImageError::Store { .. } | ImageError::Lock { .. } => {
                "the state directory (--state-dir, NSLAB_STATE_DIR) must be writable; the default, \
                 /var/lib/nslab, needs root"
                    .into()
            }
            _ => return None,
        };
        Some(hint)
    }
}
