//! A directory becomes a layer tar: what `nslab commit` does to a
//! container's writable layer, and what makes the built-in `busybox`
//! image from nslab's default rootfs.
//!
//! A container's writable layer (overlayfs's `upperdir`) holds its changes
//! in overlay's spelling: a deleted file is a character device 0/0, a
//! directory that replaced a lower one carries `trusted.overlay.opaque=y`.
//! A tar layer spells the same facts as whiteout files (OCI image spec,
//! layer.md, "Whiteouts"), which any tool can carry:
//!
//! - character device 0/0 `DIR/NAME` → an empty file `DIR/.wh.NAME`;
//! - opaque `DIR` → `DIR` itself, then an empty file `DIR/.wh..wh..opq`.
//!
//! Entries are written in sorted order, so the same tree gives the same
//! tar, byte for byte, and so the same diff_id.

use super::extract::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use super::xattr;
use super::ImageError;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use tar::{EntryType, Header, HeaderMode};

/// Writes the tree at `top` as a layer tar to `out`.
pub fn write_layer(top: &Path, out: impl Write) -> Result<(), ImageError> {
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageError::WriteLayer { path, source }
    };
    let meta = fs::symlink_metadata(top).map_err(failed(top))?;
    let mut writer = LayerWriter {
        builder: tar::Builder::new(out),
        top: top.to_path_buf(),
        device: meta.dev(),
        first_links: HashMap::new(),
    };
    writer.write_dir(Path::new(""))?;
    writer
        .builder
        .into_inner()
        .map_err(failed(top))?
        .flush()
        .map_err(failed(top))
}

struct LayerWriter<W: Write> {
    builder: tar::Builder<W>,
    top: PathBuf,
    /// The file system of `top`: a mount below it is not descended into.
    device: u64,
    /// (device, inode) of each file with several links → the first path
    /// written, so the others become hard links to it.
    first_links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> LayerWriter<W> {
    fn failed(&self, rel: &Path) -> impl FnOnce(io::Error) -> ImageError {
        let path = self.top.join(rel);
        move |source| ImageError::WriteLayer { path, source }
    }

    /// The entries of directory `rel`, sorted by name.
    fn write_dir(&mut self, rel: &Path) -> Result<(), ImageError> {
        let entries = fs::read_dir(self.top.join(rel)).map_err(self.failed(rel))?;
        let mut names: Vec<OsString> = entries
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(self.failed(rel))?;
        names.sort();
        for name in names {
            self.write_entry(&rel.join(name))?;
        }
        Ok(())
    }

    fn write_entry(&mut self, rel: &Path) -> Result<(), ImageError> {
        let path = self.top.join(rel);
        let meta = fs::symlink_metadata(&path).map_err(self.failed(rel))?;
        let kind = meta.file_type();
        let mut header = Header::new_gnu();
        header.set_metadata_in_mode(&meta, HeaderMode::Complete);
        if is_whiteout_name(rel.file_name().unwrap_or_default()) {
            return Err(ImageError::Uncommittable {
                path,
                reason: "its name starts with `.wh.`, which layer tars keep for whiteouts".into(),
            });
        }
        if kind.is_char_device() && meta.rdev() == 0 {
            return self.write_whiteout(rel, &meta);
        }
        if kind.is_char_device() || kind.is_block_device() {
            let (major, minor) = (libc::major(meta.rdev()), libc::minor(meta.rdev()));
            return Err(ImageError::Uncommittable {
                path,
                reason: format!(
                    "it is a device node ({major}/{minor}), and images carry no devices"
                ),
            });
        }
        if kind.is_socket() {
            // A socket means something only while its program listens on
            // it; tar has no type for one. GNU tar skips them too.
            return Ok(());
        }
        self.write_xattrs(rel)?;
        if kind.is_dir() {
            self.append(&mut header, rel, io::empty())?;
            if xattr::get(&path, xattr::OPAQUE)
                .map_err(self.failed(rel))?
                .as_deref()
                == Some(b"y")
            {
                self.write_marker(&rel.join(OPAQUE_MARKER), &meta)?;
            }
            if meta.dev() == self.device {
                self.write_dir(rel)?;
            }
            Ok(())
        } else if kind.is_symlink() {
            let target = fs::read_link(&path).map_err(self.failed(rel))?;
            let result = self.builder.append_link(&mut header, rel, target);
            result.map_err(self.failed(rel))
        } else if kind.is_file() {
            self.write_file(rel, &path, &meta, header)
        } else {
            // A FIFO: a header alone.
            header.set_size(0);
            self.append(&mut header, rel, io::empty())
        }
    }

    /// A regular file: its bytes, or a hard link to where the same inode
    /// was written first.
    fn write_file(
        &mut self,
        rel: &Path,
        path: &Path,
        meta: &fs::Metadata,
        mut header: Header,
    ) -> Result<(), ImageError> {
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.first_links.get(&key).cloned() {
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                let result = self.builder.append_link(&mut header, rel, first);
                return result.map_err(self.failed(rel));
            }
            self.first_links.insert(key, rel.to_path_buf());
        }
        let file = File::open(path).map_err(self.failed(rel))?;
        // The header's size is the one stat gave; a file that changes
        // while being read makes the tar crate fail, not lie.
        self.append(&mut header, rel, file)
    }

    fn append(
        &mut self,
        header: &mut Header,
        rel: &Path,
        data: impl io::Read,
    ) -> Result<(), ImageError> {
        let result = self.builder.append_data(header, rel, data);
        result.map_err(self.failed(rel))
    }

    /// `DIR/NAME` deleted: the empty file `DIR/.wh.NAME`.
    fn write_whiteout(&mut self, rel: &Path, meta: &fs::Metadata) -> Result<(), ImageError> {
        let mut name = OsString::from(WHITEOUT_PREFIX);
        name.push(rel.file_name().unwrap_or_default());
        self.write_marker(&rel.with_file_name(name), meta)
    }

    /// An empty regular file named `rel`, owned as `meta` says.
    fn write_marker(&mut self, rel: &Path, meta: &fs::Metadata) -> Result<(), ImageError> {
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_size(0);
        header.set_mode(0o644);
        header.set_uid(meta.uid().into());
        header.set_gid(meta.gid().into());
        header.set_mtime(meta.mtime().max(0) as u64);
        self.append(&mut header, rel, io::empty())
    }

    /// The file's xattrs, as a pax header before its entry (GNU tar's
    /// `SCHILY.xattr.NAME`); overlayfs's own are not part of the content.
    fn write_xattrs(&mut self, rel: &Path) -> Result<(), ImageError> {
        let path = self.top.join(rel);
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        for name in xattr::list(&path).map_err(self.failed(rel))? {
            if name.starts_with(xattr::OVERLAY_PREFIX) {
                continue;
            }
            let (Ok(text), Some(value)) = (
                std::str::from_utf8(&name),
                xattr::get(&path, &name).map_err(self.failed(rel))?,
            ) else {
                continue;
            };
            records.push((format!("SCHILY.xattr.{text}"), value));
        }
        if records.is_empty() {
            return Ok(());
        }
        let result = self
            .builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        result.map_err(self.failed(rel))
    }
}

/// Whether `name` would read as a whiteout in a layer tar: a file the
/// container itself named `.wh.something` cannot be committed as itself.
fn is_whiteout_name(name: &std::ffi::OsStr) -> bool {
    name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes())
}
