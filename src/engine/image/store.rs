//! The store on disk, and the rules that keep it whole.
//!
//! ```text
//! <state>/images/
//!   layers/<hex>/          one directory per layer, named by its diff_id
//!   images/<hex>.json      one file per image, named by its id
//!   repositories.json      the names: {"busybox:latest": "sha256:<hex>", …}
//!   lock                   flock(2)ed around every change to the above
//!   tmp/<pid>.<n>.<what>   work in progress, named after its process
//! ```
//!
//! Learners kill imports half-way and run two at once, so:
//!
//! - **Nothing appears half-made.** A layer is extracted into `tmp/` and
//!   renamed into `layers/` once complete; a JSON file is written into
//!   `tmp/` and renamed over the old one. rename(2) within one file system
//!   is atomic: a reader sees the old file or the new one, never a part.
//!   (Against a power cut it would also take fsync(2); a killed process is
//!   what this guards against.)
//! - **Changes take turns.** Extracting, the slow part, runs in parallel;
//!   putting layers in place and updating the index happens under an
//!   exclusive flock(2) on `lock`, which the kernel releases when its
//!   holder dies, even by SIGKILL.
//! - **Leftovers are recognised.** A killed import leaves only its `tmp/`
//!   entries; their names carry its pid, and the next import removes those
//!   whose process is gone.

use super::digest::{hex_of, is_full_hex, sha256_of};
use super::reference::Reference;
use super::{Image, ImageConfig, ImageError, ImageStore};
use nix::fcntl::{Flock, FlockArg};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The names index: `name:tag` → image id.
pub type Index = BTreeMap<String, String>;

/// Work in progress under `tmp/`: removed when dropped, unless renamed
/// away first (into `layers/`, say), which is how it is kept.
#[derive(Debug)]
pub struct Temp {
    /// Its path.
    pub path: PathBuf,
}

impl Drop for Temp {
    fn drop(&mut self) {
        remove_any(&self.path);
    }
}

/// Removes a file or a whole directory, if it is there. Best effort:
/// whatever stays is a stale temporary, removed by a later import.
/// (`remove_dir_all` never follows a symlink out of the tree.)
fn remove_any(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// An image ready to be put in the store: its config, its layers (some
/// still in `tmp/`), the names it gets.
pub struct NewImage {
    /// The config's bytes: their digest is the id.
    pub config_json: Vec<u8>,
    /// What to run.
    pub config: ImageConfig,
    /// Its layers, bottom first.
    pub layers: Vec<Staged>,
    /// When it was made.
    pub created: String,
    /// The names it gets.
    pub names: Vec<Reference>,
}

/// A layer on its way into the store.
pub struct Staged {
    /// Its diff_id.
    pub diff_id: String,
    /// Where it was extracted; None when it was in the store already.
    pub temp: Option<Temp>,
    /// The bytes of its files.
    pub size: u64,
}

/// Numbers the temporaries of one process: threads import at once too.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

impl ImageStore {
    pub(super) fn layers_dir(&self) -> PathBuf {
        self.dir.join("layers")
    }

    /// `layers/<hex>` for a diff_id `sha256:<hex>`.
    pub(super) fn layer_path(&self, diff_id: &str) -> PathBuf {
        self.layers_dir()
            .join(hex_of(diff_id).unwrap_or(diff_id.trim_start_matches("sha256:")))
    }

    fn images_dir(&self) -> PathBuf {
        self.dir.join("images")
    }

    fn image_path(&self, id: &str) -> PathBuf {
        self.images_dir()
            .join(format!("{}.json", id.trim_start_matches("sha256:")))
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("repositories.json")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Makes the store's directories.
    pub(super) fn create_dirs(&self) -> Result<(), ImageError> {
        for dir in [self.layers_dir(), self.images_dir(), self.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(|source| ImageError::Store {
                step: "create",
                path: dir,
                source,
            })?;
        }
        Ok(())
    }

    /// A new temporary path, `tmp/<pid>.<n>.<what>` (nothing is made).
    pub(super) fn temp(&self, what: &str) -> Temp {
        let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
        Temp {
            path: self
                .tmp_dir()
                .join(format!("{}.{n}.{what}", std::process::id())),
        }
    }

    /// A new, empty temporary directory.
    pub(super) fn temp_dir(&self, what: &str) -> Result<Temp, ImageError> {
        let temp = self.temp(what);
        // 0755 whatever the umask: a layer's top directory can become the
        // container's `/`, which every user in it must be able to enter.
        fs::create_dir(&temp.path)
            .and_then(|()| fs::set_permissions(&temp.path, fs::Permissions::from_mode(0o755)))
            .map_err(|source| ImageError::Store {
                step: "create",
                path: temp.path.clone(),
                source,
            })?;
        Ok(temp)
    }

    /// Removes what killed imports left in `tmp/`: the entries whose pid
    /// is no longer a live process.
    pub(super) fn remove_stale_temps(&self) {
        let Ok(entries) = fs::read_dir(self.tmp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.split('.').next())
                .and_then(|pid| pid.parse::<i32>().ok());
            if pid.is_some_and(|pid| pid > 0 && !crate::rootfs::is_alive(pid)) {
                remove_any(&entry.path());
            }
        }
    }

    /// Takes the store's lock, waiting for whoever holds it; released when
    /// the returned value is dropped (or the process dies).
    pub(super) fn lock(&self) -> Result<Flock<File>, ImageError> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| ImageError::Store {
                step: "open the lock file",
                path: path.clone(),
                source,
            })?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, source)| ImageError::Lock { path, source })
    }

    /// The names index; empty before the first import.
    pub(super) fn read_index(&self) -> Result<Index, ImageError> {
        Ok(read_json(&self.index_path())?.unwrap_or_default())
    }

    pub(super) fn write_index(&self, index: &Index) -> Result<(), ImageError> {
        self.write_json(&self.index_path(), index)
    }

    /// Writes `value` to `path` atomically: into `tmp/`, then rename(2).
    fn write_json<T: serde::Serialize>(&self, path: &Path, value: &T) -> Result<(), ImageError> {
        let temp = self.temp("json");
        let bytes = serde_json::to_vec_pretty(value).expect("the store's types always serialise");
        fs::write(&temp.path, bytes)
            .and_then(|()| fs::rename(&temp.path, path))
            .map_err(|source| ImageError::Store {
                step: "write",
                path: path.into(),
                source,
            })
    }

    /// The image with id `id`, its names from `index`; None if there is
    /// no such image.
    pub(super) fn read_image(&self, id: &str, index: &Index) -> Result<Option<Image>, ImageError> {
        let image: Option<Image> = read_json(&self.image_path(id))?;
        Ok(image.map(|mut image| {
            image.names = names_of(&image.id, index);
            image
        }))
    }

    /// Every image, its names from `index`.
    pub(super) fn all_images(&self, index: &Index) -> Result<Vec<Image>, ImageError> {
        let mut images = Vec::new();
        for id in self.image_ids()? {
            images.extend(self.read_image(&id, index)?);
        }
        Ok(images)
    }

    /// The ids of every image, as `sha256:<hex>`.
    pub(super) fn image_ids(&self) -> Result<Vec<String>, ImageError> {
        let dir = self.images_dir();
        let entries = fs::read_dir(&dir).map_err(|source| ImageError::Store {
            step: "read",
            path: dir,
            source,
        })?;
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let hex = name.strip_suffix(".json")?;
                is_full_hex(hex).then(|| format!("sha256:{hex}"))
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Puts `new` in the store: its layers into `layers/` (a layer already
    /// there is kept, and the new copy dropped), its JSON, its names.
    /// Returns the image with every name it now has.
    pub(super) fn publish(&self, new: NewImage) -> Result<Image, ImageError> {
        let id = sha256_of(&new.config_json);
        let _lock = self.lock()?;
        for layer in &new.layers {
            self.put_in_place(layer)?;
        }
        let mut index = self.read_index()?;
        let image = match self.read_image(&id, &index)? {
            // The same config again: the same image. It keeps its date.
            Some(existing) => existing,
            None => {
                let image = Image {
                    id: id.clone(),
                    names: Vec::new(),
                    layers: new.layers.iter().map(|l| l.diff_id.clone()).collect(),
                    config: new.config,
                    created: new.created,
                    size: new.layers.iter().map(|l| l.size).sum(),
                };
                self.write_json(&self.image_path(&id), &image)?;
                image
            }
        };
        if !new.names.is_empty() {
            // A name moves to the new image; the image it left stays,
            // without it, until `nslab image rm` (docker's "dangling").
            for name in &new.names {
                index.insert(name.to_string(), id.clone());
            }
            self.write_index(&index)?;
        }
        Ok(Image {
            names: names_of(&id, &index),
            ..image
        })
    }

    /// One layer into `layers/`, under the lock.
    fn put_in_place(&self, layer: &Staged) -> Result<(), ImageError> {
        let target = self.layer_path(&layer.diff_id);
        match &layer.temp {
            Some(temp) if !target.exists() => {
                fs::rename(&temp.path, &target).map_err(|source| ImageError::Store {
                    step: "move the new layer into place at",
                    path: target,
                    source,
                })
            }
            // Another import put the same layer in place first: ours is
            // dropped with its Temp.
            Some(_) => Ok(()),
            // It was there when the import looked; `nslab image rm` may
            // have removed it since.
            None if target.is_dir() => Ok(()),
            None => Err(ImageError::Store {
                step:
                    "find the layer (removed by `nslab image rm` during the import: import again)",
                path: target,
                source: io::ErrorKind::NotFound.into(),
            }),
        }
    }

    /// Removes image `image` (by id) and its names, then every layer that
    /// no image uses any more. Call it holding the lock.
    pub(super) fn delete(&self, image: &Image, index: &mut Index) -> Result<(), ImageError> {
        index.retain(|_, id| *id != image.id);
        self.write_index(index)?;
        let path = self.image_path(&image.id);
        fs::remove_file(&path).map_err(|source| ImageError::Store {
            step: "remove",
            path,
            source,
        })?;
        self.collect_garbage(index)
    }

    /// Removes the layers no image lists (also those a crash left
    /// unlisted). Each is first renamed into `tmp/`, so that it is gone
    /// from `layers/` at once, whatever happens during the slow removal.
    fn collect_garbage(&self, index: &Index) -> Result<(), ImageError> {
        let used: HashSet<String> = self
            .all_images(index)?
            .into_iter()
            .flat_map(|image| image.layers)
            .collect();
        let dir = self.layers_dir();
        let entries = fs::read_dir(&dir).map_err(|source| ImageError::Store {
            step: "read",
            path: dir,
            source,
        })?;
        for entry in entries.flatten() {
            let Some(hex) = entry.file_name().into_string().ok() else {
                continue;
            };
            if is_full_hex(&hex) && !used.contains(&format!("sha256:{hex}")) {
                let aside = self.temp("removed");
                if fs::rename(entry.path(), &aside.path).is_ok() {
                    drop(aside);
                }
            }
        }
        Ok(())
    }
}

/// Every name that points to `id`, sorted.
fn names_of(id: &str, index: &Index) -> Vec<String> {
    index
        .iter()
        .filter(|(_, target)| *target == id)
        .map(|(name, _)| name.clone())
        .collect()
}

/// Reads and parses `path`; None if it does not exist.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, ImageError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ImageError::Store {
                step: "read",
                path: path.into(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| ImageError::Damaged {
            path: path.into(),
            source,
        })
}

/// The bytes of a layer's regular files (a hard-linked file counted once):
/// what `nslab image ls` shows as an image's size.
pub fn layer_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                todo.push(entry.path());
            } else if meta.is_file() && (meta.nlink() == 1 || seen.insert(meta.ino())) {
                total += meta.len();
            }
        }
    }
    total
}
