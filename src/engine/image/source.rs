//! The file being imported: what it is, and its parts by name.
//!
//! Three kinds of file hold images, and one look at their members tells
//! them apart:
//!
//! - `docker save` writes a tar with a `manifest.json` listing each image's
//!   config and layer tars (older dockers also a `repositories` file, and
//!   before 1.10 no manifest at all);
//! - an OCI image layout is a directory (or a tar of one) with an
//!   `oci-layout` file, an `index.json`, and every part as a *blob* under
//!   `blobs/sha256/<digest>`;
//! - `docker export` writes a container's whole filesystem as one tar:
//!   anything else is taken to be that, a single layer.
//!
//! A tar is not a random-access format, and the parts of a `docker save`
//! come in any order, so an archive is read in two passes: the first one
//! only reads headers (seeking over file contents) and notes where each
//! member starts; the second reads each member in place, by seeking to it.
//! Nothing is copied out first, except a gzip-compressed archive, which
//! cannot be seeked in: it is decompressed once into the store's temporary
//! directory.

use super::extract::{sniff, Compression};
use super::store::Temp;
use super::ImageError;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The JSON files of an image are small; a member claiming to be more is
/// not read into memory.
const MAX_JSON: u64 = 64 << 20;

/// What the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `docker export`: one layer, no config.
    Export,
    /// `docker save`: manifest.json, configs, layer tars.
    DockerSave,
    /// An OCI image layout: oci-layout, index.json, blobs.
    Oci,
}

/// The file being imported, opened.
pub struct Source {
    /// The path given, for messages.
    pub path: PathBuf,
    /// What it holds.
    pub format: Format,
    place: Place,
    /// A decompressed copy, removed when the import ends.
    _copy: Option<Temp>,
}

/// Where the members are.
enum Place {
    /// A directory: a member is a file in it.
    Dir(PathBuf),
    /// A tar file: a member is a run of bytes in it.
    Tar {
        file: PathBuf,
        members: BTreeMap<String, Member>,
    },
}

/// One member of a tar: where its bytes are, or which member it links to.
#[derive(Debug, Clone)]
struct Member {
    offset: u64,
    size: u64,
    /// For a symlink or hard link: the archive path it points to.
    /// (`docker save` writes a layer that two images share once, and a
    /// symlink `../<other>/layer.tar` for the second.)
    link: Option<String>,
}

impl Source {
    /// Opens `path` and finds out what it holds. A gzip file is first
    /// decompressed to `copy`; so is a pipe (`docker export c | nslab
    /// image import /dev/stdin NAME`) copied there, since a tar must be
    /// seeked in.
    pub fn open(path: &Path, copy: Temp) -> Result<Source, ImageError> {
        let opening = |source| ImageError::Open {
            path: path.into(),
            source,
        };
        let meta = fs::metadata(path).map_err(opening)?;
        if meta.is_dir() {
            return Source::open_dir(path);
        }
        let file = File::open(path).map_err(opening)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let head = reader.fill_buf().map_err(opening)?;
        let reading = |source| ImageError::ReadLayer {
            what: path.display().to_string(),
            source,
        };
        match sniff(head) {
            Compression::None if meta.is_file() => Source::open_tar(path, path, None),
            Compression::None => {
                let mut out = File::create(&copy.path).map_err(reading)?;
                io::copy(&mut reader, &mut out).map_err(reading)?;
                let tar = copy.path.clone();
                Source::open_tar(path, &tar, Some(copy))
            }
            Compression::Gzip => {
                let mut gzip = flate2::read::MultiGzDecoder::new(reader);
                let mut out = File::create(&copy.path).map_err(reading)?;
                io::copy(&mut gzip, &mut out).map_err(reading)?;
                let tar = copy.path.clone();
                Source::open_tar(path, &tar, Some(copy))
            }
            Compression::Other(what) => Err(ImageError::Unsupported {
                path: path.into(),
                what: format!("the whole file uses {what}, which"),
            }),
        }
    }

    fn open_dir(path: &Path) -> Result<Source, ImageError> {
        let format = if path.join("manifest.json").is_file() {
            Format::DockerSave
        } else if path.join("oci-layout").is_file() {
            Format::Oci
        } else {
            return Err(ImageError::Inconsistent {
                path: path.into(),
                reason:
                    "it is a directory, but not an OCI image layout (it has no `oci-layout` file) \
                         nor an unpacked `docker save` (no `manifest.json`)"
                        .into(),
            });
        };
        Ok(Source {
            path: path.into(),
            format,
            place: Place::Dir(path.into()),
            _copy: None,
        })
    }

    /// The first pass over a tar: every member's name and place.
    fn open_tar(path: &Path, tar: &Path, copy: Option<Temp>) -> Result<Source, ImageError> {
        let file = File::open(tar).map_err(|source| ImageError::Open {
            path: path.into(),
            source,
        })?;
        let members = index_tar(file).map_err(|source| ImageError::NotATar {
            path: path.into(),
            source,
        })?;
        let format = detect(&members).map_err(|()| ImageError::NoManifest { path: path.into() })?;
        Ok(Source {
            path: path.into(),
            format,
            place: Place::Tar {
                file: tar.into(),
                members,
            },
            _copy: copy,
        })
    }

    /// The whole file as one stream, and its length: an exported layer.
    pub fn whole(&self) -> Result<(Box<dyn Read>, u64), ImageError> {
        let Place::Tar { file, .. } = &self.place else {
            unreachable!("an export is always a tar file")
        };
        let opened = File::open(file).map_err(|source| self.open_error(source))?;
        let len = opened.metadata().map(|m| m.len()).unwrap_or(0);
        Ok((Box::new(opened), len))
    }

    /// A member's bytes as a stream, and its length. `named_by` says which
    /// file named it, for the error when it is missing.
    pub fn member(&self, name: &str, named_by: &str) -> Result<(Box<dyn Read>, u64), ImageError> {
        let missing = || ImageError::MissingMember {
            path: self.path.clone(),
            member: name.to_string(),
            named_by: named_by.to_string(),
        };
        match (&self.place, self.locate(name).ok_or_else(missing)?) {
            (Place::Dir(dir), Located::File(rel)) => {
                let file = File::open(dir.join(rel)).map_err(|_| missing())?;
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                Ok((Box::new(file), len))
            }
            (Place::Tar { file, .. }, Located::Range(offset, size)) => {
                let mut file = File::open(file).map_err(|source| self.open_error(source))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|source| self.open_error(source))?;
                Ok((Box::new(file.take(size)), size))
            }
            _ => Err(missing()),
        }
    }

    /// A small member (a JSON file), read whole.
    pub fn read_small(&self, name: &str, named_by: &str) -> Result<Vec<u8>, ImageError> {
        let (reader, len) = self.member(name, named_by)?;
        if len > MAX_JSON {
            return Err(ImageError::Inconsistent {
                path: self.path.clone(),
                reason: format!(
                    "`{name}` is {len} bytes, too large for the JSON file it should be"
                ),
            });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        reader
            .take(MAX_JSON)
            .read_to_end(&mut bytes)
            .map_err(|source| ImageError::ReadLayer {
                what: format!("`{name}`"),
                source,
            })?;
        Ok(bytes)
    }

    fn open_error(&self, source: io::Error) -> ImageError {
        ImageError::Open {
            path: self.path.clone(),
            source,
        }
    }

    /// Where member `name` is, following links inside the archive.
    fn locate(&self, name: &str) -> Option<Located> {
        let mut name = normalize(name)?;
        match &self.place {
            Place::Dir(dir) => dir.join(&name).is_file().then_some(Located::File(name)),
            Place::Tar { members, .. } => {
                // A few hops at most: a loop of links is simply missing.
                for _ in 0..8 {
                    let member = members.get(&name)?;
                    match &member.link {
                        None => return Some(Located::Range(member.offset, member.size)),
                        Some(target) => name = target.clone(),
                    }
                }
                None
            }
        }
    }
}

/// Where a member was found.
enum Located {
    /// A file, relative to the directory.
    File(String),
    /// Offset and size in the tar.
    Range(u64, u64),
}

/// Reads every header of the tar, seeking over contents. A file that is not
/// a tar fails on its first header; an empty one has no members, which is
/// not a tar either.
fn index_tar(file: File) -> Result<BTreeMap<String, Member>, Option<io::Error>> {
    let mut archive = tar::Archive::new(file);
    let mut members = BTreeMap::new();
    // A tar whose every name climbs out (`../../x`) is still a tar: its
    // extraction refuses the entry by name, which says more than "not a
    // tar archive".
    let mut any_entry = false;
    for entry in archive.entries_with_seek().map_err(Some)? {
        let entry = entry.map_err(Some)?;
        any_entry = true;
        let Some(name) = normalize(&String::from_utf8_lossy(&entry.path_bytes())) else {
            continue;
        };
        let kind = entry.header().entry_type();
        let link = if kind.is_symlink() || kind.is_hard_link() {
            let target =
                String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default()).into_owned();
            // A symlink's target is relative to its directory; a hard
            // link's to the archive's root.
            let base = if kind.is_symlink() {
                name.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")
            } else {
                ""
            };
            match normalize(&format!("{base}/{target}")) {
                Some(target) => Some(target),
                None => continue,
            }
        } else {
            None
        };
        members.insert(
            name,
            Member {
                offset: entry.raw_file_position(),
                size: entry.size(),
                link,
            },
        );
    }
    if !any_entry {
        return Err(None);
    }
    Ok(members)
}

/// The format, from the members' names; Err when it is a `docker save`
/// without its manifest.
fn detect(members: &BTreeMap<String, Member>) -> Result<Format, ()> {
    if members.contains_key("manifest.json") {
        Ok(Format::DockerSave)
    } else if members.contains_key("oci-layout") {
        Ok(Format::Oci)
    } else if members.contains_key("repositories")
        || members.keys().any(|name| name.ends_with("/layer.tar"))
    {
        Err(())
    } else {
        Ok(Format::Export)
    }
}

/// An archive path in one spelling: no leading `/` or `./`, no `.` parts;
/// `..` resolved against what precedes it, None if it climbs out.
pub fn normalize(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_have_one_spelling() {
        assert_eq!(
            normalize("./manifest.json").as_deref(),
            Some("manifest.json")
        );
        assert_eq!(
            normalize("/blobs//sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(
            normalize("a/b/../../c/layer.tar").as_deref(),
            Some("c/layer.tar")
        );
        assert_eq!(normalize("../etc/shadow"), None);
        assert_eq!(normalize("a/../../x"), None);
    }

    fn members(names: &[&str]) -> BTreeMap<String, Member> {
        names
            .iter()
            .map(|n| {
                let member = Member {
                    offset: 0,
                    size: 0,
                    link: None,
                };
                (n.to_string(), member)
            })
            .collect()
    }

    #[test]
    fn the_format_shows_in_the_member_names() {
        assert_eq!(
            detect(&members(&["manifest.json", "abc/layer.tar"])),
            Ok(Format::DockerSave)
        );
        assert_eq!(
            detect(&members(&["oci-layout", "index.json"])),
            Ok(Format::Oci)
        );
        assert_eq!(
            detect(&members(&["bin", "bin/sh", "etc/passwd"])),
            Ok(Format::Export)
        );
        assert_eq!(
            detect(&members(&["repositories", "abc/layer.tar", "abc/json"])),
            Err(())
        );
        assert_eq!(detect(&members(&["abc/layer.tar", "abc/VERSION"])), Err(()));
    }
}
