//! One layer: a tar stream becomes a directory, safely, hashed on the way.
//!
//! A layer tar is a *diff*: files added or changed, and files deleted,
//! recorded as *whiteout* files because a tar cannot say "not there". The
//! OCI image spec's layer section ("Whiteouts",
//! <https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>)
//! defines them, after aufs, which docker used first:
//!
//! - `DIR/.wh.NAME`: NAME was deleted from the layers below;
//! - `DIR/.wh..wh..opq`: DIR is *opaque*: nothing of the layers below
//!   shows through it (it was deleted and made again);
//! - any other name starting with `.wh..wh.` is aufs's bookkeeping, not a
//!   file.
//!
//! overlayfs has its own spelling of the same two facts, and that is what
//! the layer directory must hold to be a `lowerdir`: a deleted NAME is a
//! character device 0/0 named NAME, an opaque directory has the xattr
//! `trusted.overlay.opaque=y`. [`classify`] recognises the tar spelling;
//! [`place`] writes the overlay one.
//!
//! # Hostile tarballs
//!
//! A tarball comes from anywhere, and is unpacked as root. Every entry
//! must land inside the layer directory, so:
//!
//! - **refused**: a path with a `..` component (`../escape`); an entry
//!   whose parent directories, inside the layer, pass through a symlink
//!   (`link -> /tmp/outside`, then `link/file`): writing through it would
//!   write wherever the link points; a hard link whose target has `..`, or
//!   is not (yet) a file of this layer, or lies behind a symlink; a block
//!   or character device other than the 0/0 whiteout;
//! - **neutralised**: a leading `/` is dropped (`/abs/path` lands at
//!   `abs/path` in the layer), as GNU tar does, and the same for a hard
//!   link's target: names inside a layer are relative to the layer;
//! - **allowed**: a symlink may point anywhere (`bin/sh -> /bin/busybox`
//!   is normal: it is resolved inside the container); it is created, never
//!   followed. FIFOs are allowed.
//!
//! A refused entry stops the import: the caller removes the half-made
//! directory, so nothing of the tarball is kept.
//!
//! The tar crate's [`tar::Entry::unpack_in`] does the regular files,
//! directories and symlinks; it too refuses a parent that resolves outside
//! the directory (tests/engine_image.rs checks that it does), so the check
//! here is a second, stricter lock on the same door, with an error that
//! names the entry. The kinds it does not handle (hard links, whiteouts,
//! devices, FIFOs: it would write those as empty regular files) are done
//! here.

use super::digest::HashingReader;
use super::xattr;
use super::ImageError;
use flate2::read::MultiGzDecoder;
use indicatif::ProgressBar;
use nix::fcntl::AtFlags;
use nix::sys::stat::{self, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use tar::EntryType;

/// What reading one layer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The sha256 of the uncompressed tar: the layer's diff_id.
    pub diff_id: String,
    /// The sha256 of the bytes as read (the compressed blob, for a gzip
    /// layer; the same as `diff_id` for a plain one).
    pub blob_digest: String,
    /// How many bytes were read.
    pub blob_size: u64,
}

/// How a layer's bytes are compressed, from their first bytes (what
/// docker's own `DetectCompression` looks at: a media type can be wrong,
/// magic numbers are not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (RFC 1952): `1f 8b`.
    Gzip,
    /// Something we recognise but cannot read.
    Other(&'static str),
}

/// Recognises the compression of a stream by its magic number.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Other("zstd compression")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Other("xz compression")
    } else if head.starts_with(b"BZh") {
        Compression::Other("bzip2 compression")
    } else {
        Compression::None
    }
}

/// Unpacks the layer tar read from `input` (plain or gzip) into `dest`, an
/// empty directory, and hashes it in the same pass: the bytes as read
/// (the blob's digest) and, for gzip, the bytes decompressed (the
/// diff_id). `what` names the layer in errors; `file` is the file it comes
/// from.
pub fn extract_layer(
    input: impl Read,
    dest: &Path,
    what: &str,
    file: &Path,
    progress: Option<ProgressBar>,
) -> Result<Extracted, ImageError> {
    let read_error = |source| ImageError::ReadLayer {
        what: what.to_string(),
        source,
    };
    // The hashing reader is also the buffer under everything: the tar
    // reader asks for small pieces, which would otherwise each be a
    // read(2). Looking at the first bytes does not consume them.
    let mut blob = HashingReader::new(input, progress);
    let compression = sniff(blob.fill_buf().map_err(read_error)?);
    match compression {
        Compression::None => {
            unpack(&mut blob, dest, what)?;
            blob.read_to_end_hashed().map_err(read_error)?;
            let (digest, size, _) = blob.finish();
            Ok(Extracted {
                diff_id: digest.clone(),
                blob_digest: digest,
                blob_size: size,
            })
        }
        Compression::Gzip => {
            let mut tar = HashingReader::new(MultiGzDecoder::new(blob), None);
            unpack(&mut tar, dest, what)?;
            tar.read_to_end_hashed().map_err(read_error)?;
            let (diff_id, _, gzip) = tar.finish();
            let mut blob = gzip.into_inner();
            blob.read_to_end_hashed().map_err(read_error)?;
            let (blob_digest, blob_size, _) = blob.finish();
            Ok(Extracted {
                diff_id,
                blob_digest,
                blob_size,
            })
        }
        Compression::Other(name) => Err(ImageError::Unsupported {
            path: file.into(),
            what: format!("{what} uses {name}, which"),
        }),
    }
}

/// Unpacks every entry of the tar read from `reader` into `dest`.
pub fn unpack(reader: &mut dyn Read, dest: &Path, what: &str) -> Result<(), ImageError> {
    let read_error = |source| ImageError::ReadLayer {
        what: what.to_string(),
        source,
    };
    let mut archive = tar::Archive::new(reader);
    // Keep everything a rootfs needs: owners (chown before chmod, so that
    // setuid bits survive), the whole mode, mtimes. Overwrite: a later
    // entry of the same name replaces an earlier one, as with tar -x.
    // Xattrs are set here instead, to leave out overlayfs's own.
    archive.set_preserve_ownerships(true);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    let mut layer = Layer {
        dest,
        what,
        dir_times: Vec::new(),
    };
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        layer.place(&mut entry)?;
    }
    layer.restore_dir_times()
}

/// What a tar entry's path means in a layer (see the module's header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An ordinary file, directory, link…: the path inside the layer.
    Plain(PathBuf),
    /// `DIR/.wh.NAME`: `DIR/NAME` is deleted.
    Whiteout(PathBuf),
    /// `DIR/.wh..wh..opq`: DIR is opaque.
    Opaque(PathBuf),
    /// aufs bookkeeping (`.wh..wh.plnk/…`): not a file, skipped.
    Metadata,
}

/// The prefix of every whiteout name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The name that makes its directory opaque.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// What `path` (already made relative and safe by [`relative`]) means.
pub fn classify(path: &Path) -> Kind {
    let starts_wh = |c: &OsStr| c.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes());
    let Some(name) = path.file_name() else {
        return Kind::Plain(path.into());
    };
    let parent = path.parent().unwrap_or(Path::new(""));
    if parent.iter().any(starts_wh) {
        return Kind::Metadata;
    }
    let name = name.as_bytes();
    if name == OPAQUE_MARKER.as_bytes() {
        return Kind::Opaque(parent.into());
    }
    if name.starts_with(b".wh..wh.") || name == WHITEOUT_PREFIX.as_bytes() {
        return Kind::Metadata;
    }
    match name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        Some(hidden) => Kind::Whiteout(parent.join(OsStr::from_bytes(hidden))),
        None => Kind::Plain(path.into()),
    }
}

/// A tar path made relative to the layer: leading `/` and `.` parts
/// dropped; None if a part is `..`.
pub fn relative(raw: &[u8]) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in Path::new(OsStr::from_bytes(raw)).components() {
        match part {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => return None,
            Component::Normal(name) => out.push(name),
        }
    }
    Some(out)
}

/// The layer being unpacked.
struct Layer<'a> {
    dest: &'a Path,
    what: &'a str,
    /// Directories and their mtimes, set again at the end: every file
    /// made inside a directory changes its mtime, so (as tar -x does) a
    /// directory's own is restored last.
    dir_times: Vec<(PathBuf, i64)>,
}

impl Layer<'_> {
    /// Puts one entry in place, or refuses it.
    fn place<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), ImageError> {
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let Some(path) = relative(&raw) else {
            return Err(self.refuse(&name, "its path climbs out of the layer with `..`"));
        };
        let kind = entry.header().entry_type();
        match classify(&path) {
            Kind::Metadata => Ok(()),
            Kind::Opaque(dir) => self.make_opaque(&name, &dir),
            Kind::Whiteout(hidden) => self.whiteout(&name, &hidden),
            Kind::Plain(path) if path.as_os_str().is_empty() => self.layer_root(&name, entry),
            Kind::Plain(path) => match kind {
                EntryType::Regular
                | EntryType::Continuous
                | EntryType::GNUSparse
                | EntryType::Directory
                | EntryType::Symlink => self.unpack_in(&name, &path, entry),
                EntryType::Link => self.hard_link(&name, &path, entry),
                EntryType::Char | EntryType::Block => self.device(&name, &path, entry),
                EntryType::Fifo => self.fifo(&name, &path, entry),
                // Extension headers the tar crate has already applied to
                // the next entry, or a global one that changes nothing here.
                EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink => Ok(()),
                other => Err(self.refuse(
                    &name,
                    &format!(
                        "its type ({:?}) is not one a layer can hold",
                        other.as_byte() as char
                    ),
                )),
            },
        }
    }

    fn refuse(&self, entry: &str, reason: &str) -> ImageError {
        ImageError::UnsafeEntry {
            what: self.what.to_string(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    fn failed(&self, entry: &str, source: io::Error) -> ImageError {
        ImageError::Extract {
            what: self.what.to_string(),
            entry: entry.to_string(),
            source,
        }
    }

    /// Makes every directory of `rel` (relative to the layer) that is
    /// missing, and refuses when one that exists is a symlink or not a
    /// directory: nothing is ever written through a link.
    fn make_dirs(&self, entry: &str, rel: &Path) -> Result<(), ImageError> {
        let mut dir = self.dest.to_path_buf();
        for part in rel.iter() {
            dir.push(part);
            match fs::symlink_metadata(&dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let link = dir.strip_prefix(self.dest).unwrap_or(&dir);
                    return Err(self.refuse(
                        entry,
                        &format!(
                            "it would be written through the symlink `{}`, which could point outside the layer",
                            link.display()
                        ),
                    ));
                }
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    let file = dir.strip_prefix(self.dest).unwrap_or(&dir);
                    return Err(self.refuse(
                        entry,
                        &format!("`{}`, on its path, is not a directory", file.display()),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // A directory the tar implies without an entry of its
                    // own: 0755, as tar -x makes them, whatever the umask.
                    fs::create_dir(&dir)
                        .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)))
                        .map_err(|e| self.failed(entry, e))?;
                }
                Err(e) => return Err(self.failed(entry, e)),
            }
        }
        Ok(())
    }

    /// [`Layer::make_dirs`] for the directories that hold `rel`.
    fn make_parents(&self, entry: &str, rel: &Path) -> Result<(), ImageError> {
        self.make_dirs(entry, rel.parent().unwrap_or(Path::new("")))
    }

    /// A file, directory or symlink: the tar crate's `unpack_in`, after our
    /// own check of its parents.
    fn unpack_in<R: Read>(
        &mut self,
        name: &str,
        path: &Path,
        entry: &mut tar::Entry<R>,
    ) -> Result<(), ImageError> {
        self.make_parents(name, path)?;
        let target = self.dest.join(path);
        let is_dir = entry.header().entry_type() == EntryType::Directory;
        if is_dir && fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            // chmod(2) and chown(2) of a directory follow a symlink: the
            // mode and owner would land on whatever the link points to.
            return Err(self.refuse(
                name,
                &format!(
                    "it is a directory where the layer already has a symlink, `{}`",
                    path.display()
                ),
            ));
        }
        let xattrs = pax_xattrs(entry);
        let placed = entry
            .unpack_in(self.dest)
            .map_err(|e| self.failed(name, e))?;
        if !placed {
            return Err(self.refuse(name, "the tar crate refused to place it inside the layer"));
        }
        if is_dir {
            self.remember_dir_time(&target, entry.header());
        }
        if entry.header().entry_type() != EntryType::Symlink {
            for (key, value) in xattrs {
                xattr::set(&target, &key, &value).map_err(|e| self.failed(name, e))?;
            }
        }
        Ok(())
    }

    /// `./` or `/`: the layer's own directory takes the entry's owner,
    /// mode and mtime.
    fn layer_root<R: Read>(&mut self, name: &str, entry: &tar::Entry<R>) -> Result<(), ImageError> {
        if entry.header().entry_type() != EntryType::Directory {
            return Err(self.refuse(name, "it has an empty name"));
        }
        let dest = self.dest.to_path_buf();
        self.set_owner_and_mode(name, &dest, entry.header())?;
        self.remember_dir_time(&dest, entry.header());
        Ok(())
    }

    /// A hard link: its target is a path inside this same layer, made
    /// earlier in the tar; never one on the host.
    fn hard_link<R: Read>(
        &mut self,
        name: &str,
        path: &Path,
        entry: &tar::Entry<R>,
    ) -> Result<(), ImageError> {
        let raw = entry.link_name_bytes().unwrap_or_default().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let target = match relative(&raw) {
            Some(target) if !target.as_os_str().is_empty() => target,
            _ => {
                return Err(self.refuse(
                    name,
                    &format!("it is a hard link to `{shown}`, outside the layer"),
                ))
            }
        };
        // Its target's directories must be real directories of the layer
        // too: link(2) would follow a symlink among them.
        if self.has_symlink_on_path(&target) {
            return Err(self.refuse(
                name,
                &format!("it is a hard link to `{shown}`, which lies behind a symlink"),
            ));
        }
        let source = self.dest.join(&target);
        match fs::symlink_metadata(&source) {
            Ok(meta) if !meta.is_dir() => {}
            _ => {
                return Err(self.refuse(
                    name,
                    &format!(
                        "it is a hard link to `{shown}`, which is not a file of this layer (a link's target must come first in the tar)"
                    ),
                ))
            }
        }
        self.make_parents(name, path)?;
        let link = self.dest.join(path);
        self.remove_existing(name, &link)?;
        // link(2) through std: linkat(…, 0) does not follow a symlink at
        // `source` itself; the check above covers its directories.
        fs::hard_link(&source, &link).map_err(|e| self.failed(name, e))
    }

    /// Whether a directory on the way to `rel` (relative to the layer) is
    /// a symlink.
    fn has_symlink_on_path(&self, rel: &Path) -> bool {
        let mut dir = self.dest.to_path_buf();
        let parent = rel.parent().unwrap_or(Path::new(""));
        parent.iter().any(|part| {
            dir.push(part);
            fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink())
        })
    }

    /// A device node: only the 0/0 character device, which *is* an overlay
    /// whiteout, already in overlay's spelling. Any other would give the
    /// container a door to a host device (a disk, /dev/mem).
    fn device<R: Read>(
        &mut self,
        name: &str,
        path: &Path,
        entry: &tar::Entry<R>,
    ) -> Result<(), ImageError> {
        let header = entry.header();
        let major = header.device_major().ok().flatten().unwrap_or(u32::MAX);
        let minor = header.device_minor().ok().flatten().unwrap_or(u32::MAX);
        if header.entry_type() == EntryType::Char && major == 0 && minor == 0 {
            return self.whiteout(name, path);
        }
        let kind = if header.entry_type() == EntryType::Char {
            "character"
        } else {
            "block"
        };
        Err(self.refuse(
            name,
            &format!("it is a {kind} device ({major}/{minor}): images may not carry devices"),
        ))
    }

    /// A named pipe: mkfifo(3), then its owner, mode and mtime.
    fn fifo<R: Read>(
        &mut self,
        name: &str,
        path: &Path,
        entry: &tar::Entry<R>,
    ) -> Result<(), ImageError> {
        self.make_parents(name, path)?;
        let target = self.dest.join(path);
        self.remove_existing(name, &target)?;
        nix::unistd::mkfifo(&target, Mode::from_bits_truncate(0o600))
            .map_err(|e| self.failed(name, e.into()))?;
        self.set_owner_and_mode(name, &target, entry.header())?;
        let mtime = entry.header().mtime().unwrap_or(0) as i64;
        set_times(&target, mtime).map_err(|e| self.failed(name, e))
    }

    // ANCHOR: overlay_spelling
    /// `hidden` is deleted: overlayfs's whiteout, a character device 0/0
    /// by the same name, made with mknod(2).
    fn whiteout(&mut self, name: &str, hidden: &Path) -> Result<(), ImageError> {
        self.make_parents(name, hidden)?;
        let target = self.dest.join(hidden);
        self.remove_existing(name, &target)?;
        stat::mknod(&target, SFlag::S_IFCHR, Mode::empty(), stat::makedev(0, 0))
            .map_err(|e| self.failed(name, e.into()))
    }

    /// `dir` is opaque: setxattr(2) `trusted.overlay.opaque` = `y`.
    fn make_opaque(&mut self, name: &str, dir: &Path) -> Result<(), ImageError> {
        self.make_dirs(name, dir)?;
        xattr::set(&self.dest.join(dir), xattr::OPAQUE, b"y").map_err(|e| self.failed(name, e))
    }
    // ANCHOR_END: overlay_spelling

    /// A later entry replaces an earlier one of the same name (not a
    /// directory: a tar that replaces a directory by a file is refused by
    /// the failing call).
    fn remove_existing(&self, name: &str, path: &Path) -> Result<(), ImageError> {
        match fs::symlink_metadata(path) {
            Ok(meta) if !meta.is_dir() => fs::remove_file(path).map_err(|e| self.failed(name, e)),
            _ => Ok(()),
        }
    }

    /// chown, then chmod (chown(2) clears setuid bits: the mode goes last).
    fn set_owner_and_mode(
        &self,
        name: &str,
        path: &Path,
        header: &tar::Header,
    ) -> Result<(), ImageError> {
        let uid = header.uid().map_err(|e| self.failed(name, e))? as u32;
        let gid = header.gid().map_err(|e| self.failed(name, e))? as u32;
        fchownat(
            None,
            path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.failed(name, e.into()))?;
        let mode = header.mode().map_err(|e| self.failed(name, e))? & 0o7777;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| self.failed(name, e))
    }

    fn remember_dir_time(&mut self, dir: &Path, header: &tar::Header) {
        if let Ok(mtime) = header.mtime() {
            self.dir_times.push((dir.to_path_buf(), mtime as i64));
        }
    }

    /// Gives each directory back the mtime its entry had.
    fn restore_dir_times(&mut self) -> Result<(), ImageError> {
        for (dir, mtime) in self.dir_times.drain(..).rev() {
            set_times(&dir, mtime).map_err(|e| ImageError::Extract {
                what: self.what.to_string(),
                entry: dir.display().to_string(),
                source: e,
            })?;
        }
        Ok(())
    }
}

/// The xattrs a tar entry carries (pax `SCHILY.xattr.NAME` records, as GNU
/// tar and docker write them), without overlayfs's own (see
/// [`xattr::OVERLAY_PREFIX`]).
fn pax_xattrs<R: Read>(entry: &mut tar::Entry<R>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Ok(Some(extensions)) = entry.pax_extensions() else {
        return Vec::new();
    };
    extensions
        .flatten()
        .filter_map(|ext| {
            let name = ext.key_bytes().strip_prefix(b"SCHILY.xattr.")?;
            (!name.starts_with(xattr::OVERLAY_PREFIX))
                .then(|| (name.to_vec(), ext.value_bytes().to_vec()))
        })
        .collect()
}

/// utimensat(2) without following a symlink: atime and mtime to `mtime`.
fn set_times(path: &Path, mtime: i64) -> io::Result<()> {
    let time = TimeSpec::new(mtime, 0);
    stat::utimensat(None, path, &time, &time, UtimensatFlags::NoFollowSymlink)
        .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(path: &str) -> Kind {
        classify(&relative(path.as_bytes()).unwrap())
    }

    #[test]
    fn whiteout_names_map_to_overlays_two_facts() {
        assert_eq!(kind("etc/.wh.passwd"), Kind::Whiteout("etc/passwd".into()));
        assert_eq!(kind(".wh.tmp"), Kind::Whiteout("tmp".into()));
        assert_eq!(
            kind("usr/share/.wh..wh..opq"),
            Kind::Opaque("usr/share".into())
        );
        assert_eq!(kind(".wh..wh..opq"), Kind::Opaque("".into()));
        assert_eq!(kind("etc/passwd"), Kind::Plain("etc/passwd".into()));
        assert_eq!(kind("etc/x.wh.y"), Kind::Plain("etc/x.wh.y".into()));
    }

    #[test]
    fn aufs_bookkeeping_is_not_a_file() {
        assert_eq!(kind(".wh..wh.plnk"), Kind::Metadata);
        assert_eq!(kind(".wh..wh.plnk/123.456"), Kind::Metadata);
        assert_eq!(kind(".wh..wh.aufs"), Kind::Metadata);
        assert_eq!(kind("dir/.wh."), Kind::Metadata);
    }

    #[test]
    fn paths_lose_their_leading_slash_and_dots_but_never_climb() {
        assert_eq!(relative(b"/abs/path"), Some("abs/path".into()));
        assert_eq!(relative(b"./a//b/./c/"), Some("a/b/c".into()));
        assert_eq!(relative(b"./"), Some("".into()));
        assert_eq!(relative(b"../escape"), None);
        assert_eq!(relative(b"a/../../b"), None);
        assert_eq!(relative(b"a/.."), None);
    }

    #[test]
    fn compression_is_known_by_its_magic_number() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Compression::Other("zstd compression")
        );
        assert_eq!(sniff(b"bin/\0\0\0"), Compression::None);
        assert_eq!(sniff(b""), Compression::None);
    }
}
