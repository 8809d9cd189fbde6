//! Images: imported tarballs, stored as content-addressed layers.
//!
//! An image is a stack of *layers* (each a tar of files added, changed or
//! deleted) and a *config* (what to run: Env, Cmd, Entrypoint, WorkingDir,
//! User). `nslab run IMAGE` mounts the layers as overlayfs's read-only
//! lower directories (lesson 09), with the container's own writable layer
//! on top, and runs the config's command there.
//!
//! Everything is named by its content's sha256 (`digest`): a layer by its
//! uncompressed tar (its *diff_id*), an image by its config (its *id*,
//! docker's `IMAGE ID`). Two images built on the same base share its
//! layers on disk, because the same bytes have the same name.
//!
//! | submodule | what it does |
//! |---|---|
//! | `source` | tells `docker export`, `docker save` and OCI layouts apart; reads their parts by name |
//! | `docker_save`, `oci` | each format's manifest: which config, which layers, which digests |
//! | `config` | the image config, read and written; why layers are named by diff_id |
//! | `extract` | one layer tar into a directory: whiteouts, safety against hostile tarballs |
//! | `write` | a container's writable layer back into a layer tar (`nslab commit`) |
//! | `store` | the directories on disk, atomic updates, the lock, removing what nothing uses |
//! | `reference` | `NAME[:TAG]` as docker spells it |
//!
//! The built-in image `busybox` is made from nslab's default rootfs (see
//! [`crate::rootfs`]) the first time it is asked for, so `nslab run
//! busybox` works offline on a fresh machine.

mod config;
mod digest;
mod docker_save;
mod error;
mod extract;
mod import;
mod oci;
mod reference;
mod source;
mod store;
mod write;
mod xattr;

pub use error::ImageError;
pub use reference::Reference;

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// The image nslab makes itself, from its default rootfs.
pub const BUILTIN: &str = "busybox:latest";

/// The images of one state directory: `<state_dir>/images`.
#[derive(Debug, Clone)]
pub struct ImageStore {
    /// `<state_dir>/images`.
    dir: PathBuf,
    /// The state directory itself (where the default rootfs is built).
    state_dir: PathBuf,
}

/// An image in the store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:<hex>` of its config JSON, as docker's image ids.
    pub id: String,
    /// Its names, `name:tag`, sorted; none for an image whose names all
    /// moved to newer images (docker's "dangling" ones).
    pub names: Vec<String>,
    /// Its layers' diff_ids (`sha256:<hex>` of each uncompressed tar),
    /// bottom first.
    pub layers: Vec<String>,
    /// What to run.
    pub config: ImageConfig,
    /// When it was made, RFC 3339.
    pub created: String,
    /// The bytes of its layers' files.
    pub size: u64,
}

/// What an image runs: the part of docker's and OCI's config the engine
/// uses. An exported tarball has none: all fields empty.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageConfig {
    /// `NAME=value` pairs.
    pub env: Vec<String>,
    /// The command, or the arguments to the entrypoint.
    pub cmd: Vec<String>,
    /// The program the command's words are given to, if any.
    pub entrypoint: Vec<String>,
    /// The directory it starts in; empty for `/`.
    pub working_dir: String,
    /// `user`, `uid`, or `uid:gid`; empty for root.
    pub user: String,
}

impl ImageStore {
    /// `<state_dir>/images`, made if missing.
    pub fn open(state_dir: &Path) -> Result<ImageStore, ImageError> {
        // Absolute: layer directories become overlayfs options, and the
        // runtime changes directory before mounting.
        let state_dir = std::path::absolute(state_dir).map_err(|source| ImageError::Store {
            step: "make absolute",
            path: state_dir.into(),
            source,
        })?;
        let store = ImageStore {
            dir: state_dir.join("images"),
            state_dir,
        };
        store.create_dirs()?;
        Ok(store)
    }

    /// The store's directory, `<state_dir>/images`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Imports `file`: a `docker export` tarball (one layer, no config), a
    /// `docker save` tarball (manifest.json, several layers), or an OCI
    /// image layout (a directory, or a tar of one; gzip or plain layers).
    /// Any of the tarballs may be gzipped.
    ///
    /// `reference` is `NAME[:TAG]` (the tag defaults to `latest`). Without
    /// one, the image keeps the names a `docker save` or OCI layout gives
    /// it; an export has none, and needs one. Every digest the file gives
    /// is checked; a hostile entry (see `extract`) stops the import, and
    /// nothing of it is kept. A progress bar shows on standard error when
    /// it is a terminal.
    pub fn import(&self, file: &Path, reference: Option<&str>) -> Result<Image, ImageError> {
        self.import_file(file, reference)
    }

    /// The image called `reference` (`NAME[:TAG]`), or with that id
    /// (`sha256:<hex>`, or a unique prefix of the hex, 4 digits or more).
    /// A name is looked up first, as docker does.
    ///
    /// `busybox` (`busybox:latest`) is built in: if the store does not
    /// have it, it is made from the default rootfs on first use.
    pub fn find(&self, reference: &str) -> Result<Image, ImageError> {
        let index = self.read_index()?;
        if let Some((image, _)) = self.lookup(reference, &index)? {
            return Ok(image);
        }
        if Reference::parse(reference).is_ok_and(|r| r.to_string() == BUILTIN) {
            return self.make_builtin();
        }
        Err(ImageError::NotFound {
            reference: reference.to_string(),
        })
    }

    /// Every image, named ones first by name, then the nameless by id.
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        let mut images = self.all_images(&self.read_index()?)?;
        images.sort_by(|a, b| {
            (a.names.is_empty(), a.names.first(), &a.id).cmp(&(
                b.names.is_empty(),
                b.names.first(),
                &b.id,
            ))
        });
        Ok(images)
    }

    /// Removes `reference`: a name, or an id.
    ///
    /// A name of an image that has others only goes itself (`docker rmi`
    /// untags). Otherwise the image goes, with all its names, and so do
    /// its layers that no other image uses. `in_use` lists (container
    /// name, image id) of the existing containers: an image one of them
    /// uses is not removed, and the error names the container.
    pub fn remove(
        &self,
        reference: &str,
        in_use: &[(String, String)],
    ) -> Result<Image, ImageError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let Some((image, by_name)) = self.lookup(reference, &index)? else {
            return Err(ImageError::NotFound {
                reference: reference.to_string(),
            });
        };
        if let Some(name) = by_name.filter(|_| image.names.len() > 1) {
            index.remove(&name.to_string());
            self.write_index(&index)?;
            return Ok(image);
        }
        let bare = |id: &str| id.trim_start_matches("sha256:").to_string();
        if let Some((container, _)) = in_use.iter().find(|(_, id)| bare(id) == bare(&image.id)) {
            return Err(ImageError::InUse {
                image: reference.to_string(),
                container: container.clone(),
            });
        }
        self.delete(&image, &mut index)?;
        Ok(image)
    }

    /// The directories of `image`'s layers, top first: overlayfs's
    /// `lowerdir` order.
    pub fn layer_dirs(&self, image: &Image) -> Vec<PathBuf> {
        top_first_unique(&image.layers)
            .into_iter()
            .map(|diff_id| self.layer_path(diff_id))
            .collect()
    }

    /// Makes a new image from a container's writable layer `upper` on top
    /// of `parent`'s layers: the whiteouts overlayfs left in it (character
    /// devices 0/0, `trusted.overlay.opaque` directories) are written as a
    /// layer tar's (`.wh.NAME`, `.wh..wh..opq`; see `write`), and the tar
    /// is stored as an imported layer is, by the same code. `config`
    /// becomes the new image's; `reference` names it (None: no name, find
    /// it by id).
    pub fn commit(
        &self,
        upper: &Path,
        parent: &Image,
        config: ImageConfig,
        reference: Option<&str>,
    ) -> Result<Image, ImageError> {
        let names = reference
            .map(Reference::parse)
            .transpose()?
            .into_iter()
            .collect();
        self.remove_stale_temps();
        let tar = self.write_tree(upper)?;
        let now = crate::runtime::state::now_rfc3339();
        self.store_layer_tar(
            &tar.path,
            &parent.layers,
            config,
            names,
            "nslab commit",
            Some(now),
        )
    }

    /// The tree at `dir` as a layer tar in `tmp/`.
    fn write_tree(&self, dir: &Path) -> Result<store::Temp, ImageError> {
        let tar = self.temp("layer.tar");
        let file = File::create(&tar.path).map_err(|source| ImageError::WriteLayer {
            path: tar.path.clone(),
            source,
        })?;
        write::write_layer(dir, BufWriter::with_capacity(1 << 20, file))?;
        Ok(tar)
    }

    /// `busybox:latest`, from the default rootfs. Its config is fixed and
    /// its tar the same for the same rootfs, so two runs making it at once
    /// make the same image.
    fn make_builtin(&self) -> Result<Image, ImageError> {
        let rootfs = crate::rootfs::prepare(&self.state_dir, None).map_err(ImageError::Rootfs)?;
        self.remove_stale_temps();
        let tar = self.write_tree(&rootfs)?;
        let config = ImageConfig {
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cmd: vec!["sh".into()],
            ..ImageConfig::default()
        };
        let name = Reference::parse(BUILTIN)?;
        self.store_layer_tar(
            &tar.path,
            &[],
            config,
            vec![name],
            "nslab's default rootfs",
            None,
        )
    }

    /// The image `reference` names or identifies, and the name if it was
    /// found by one. A reference that is neither a valid name nor an id
    /// prefix is an error; one that is valid but unknown is None.
    fn lookup(
        &self,
        reference: &str,
        index: &store::Index,
    ) -> Result<Option<(Image, Option<Reference>)>, ImageError> {
        let as_name = Reference::parse(reference);
        if let Ok(name) = &as_name {
            if let Some(id) = index.get(&name.to_string()) {
                let image = self.read_image(id, index)?;
                return Ok(image.map(|image| (image, Some(name.clone()))));
            }
        }
        let Some(prefix) = id_prefix(reference) else {
            return as_name.map(|_| None);
        };
        let ids: Vec<String> = self
            .image_ids()?
            .into_iter()
            .filter(|id| id.trim_start_matches("sha256:").starts_with(prefix))
            .collect();
        match ids.as_slice() {
            [] => Ok(None),
            [id] => Ok(self.read_image(id, index)?.map(|image| (image, None))),
            _ => Err(ImageError::Ambiguous {
                prefix: reference.to_string(),
                ids,
            }),
        }
    }
}

/// The hex an id or id prefix gives (`sha256:` optional), if `text` is
/// one: 4 to 64 lowercase hex digits.
fn id_prefix(text: &str) -> Option<&str> {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    (hex.len() >= 4 && hex.len() <= 64 && digest::is_lower_hex(hex)).then_some(hex)
}

/// `layers` (bottom first) top first, each once, at its highest place.
///
/// An image may list one diff_id twice (old docker images have several
/// empty layers), and overlayfs may refuse the same lower directory twice.
/// Dropping the lower copy changes nothing: the upper copy holds the same
/// paths, so it hides everything the lower one could show or hide.
fn top_first_unique(layers: &[String]) -> Vec<&String> {
    let mut seen = std::collections::HashSet::new();
    layers.iter().rev().filter(|l| seen.insert(*l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_prefix_is_four_to_sixty_four_hex_digits() {
        assert_eq!(id_prefix("abcd"), Some("abcd"));
        assert_eq!(id_prefix("sha256:0123ab"), Some("0123ab"));
        assert_eq!(id_prefix("abc"), None);
        assert_eq!(id_prefix("busybox"), None);
        assert_eq!(id_prefix(&"a".repeat(65)), None);
    }

    #[test]
    fn layers_come_top_first_and_a_repeated_one_at_its_highest_place() {
        let l = |s: &str| s.to_string();
        let layers = [l("base"), l("empty"), l("app"), l("empty")];
        assert_eq!(top_first_unique(&layers), vec!["empty", "app", "base"]);
    }

    #[test]
    fn open_makes_the_store_and_an_empty_one_lists_nothing() {
        let state = tempfile::tempdir().unwrap();
        let store = ImageStore::open(state.path()).unwrap();
        assert!(store.dir().join("layers").is_dir());
        assert!(store.list().unwrap().is_empty());
        let error = store.find("nothing:here").unwrap_err();
        assert_eq!(error.to_string(), "no image named nothing:here");
        assert!(error.hint().unwrap().contains("nslab image ls"));
        let error = store.find("Bad Name").unwrap_err();
        assert!(matches!(error, ImageError::BadReference { .. }), "{error}");
    }
}
