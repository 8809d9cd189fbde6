//! Any mount a `config.json` asks for: the runtime's general form of the
//! lessons' fixed `/proc`, `/dev`, `/sys` and volumes.
//!
//! An OCI mount is a destination, a type, a source and a list of options
//! in mount(8)'s words (`nosuid`, `ro`, `rbind`, `mode=755`…). The words
//! that are flags become mount(2)'s `mountflags`, the propagation words
//! (`rprivate`…) a second call, and the rest the `data` string the file
//! system reads, as runc's `parseMountOptions` does.

use super::{make_target, MountError, OLD_ROOT};
use crate::{narrate, syscall};
use nix::mount::MsFlags;
use std::fs;
use std::path::{Path, PathBuf};

/// One mount, as a config.json describes it, its options parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generic {
    /// Where inside (absolute).
    pub destination: PathBuf,
    /// The file system type (`proc`, `tmpfs`, …); `None` for a bind mount.
    pub kind: Option<String>,
    /// The source: a host path for a bind mount, else a name.
    pub source: Option<PathBuf>,
    /// mount(2) flags.
    pub flags: MsFlags,
    /// A propagation to set after mounting (`MS_PRIVATE`, with `MS_REC`…).
    pub propagation: MsFlags,
    /// The options the file system itself reads (`mode=755`).
    pub data: String,
}

/// The option words that are flags: set, or cleared when `false`.
const FLAGS: &[(&str, MsFlags, bool)] = &[
    ("ro", MsFlags::MS_RDONLY, true),
    ("rw", MsFlags::MS_RDONLY, false),
    ("nosuid", MsFlags::MS_NOSUID, true),
    ("suid", MsFlags::MS_NOSUID, false),
    ("nodev", MsFlags::MS_NODEV, true),
    ("dev", MsFlags::MS_NODEV, false),
    ("noexec", MsFlags::MS_NOEXEC, true),
    ("exec", MsFlags::MS_NOEXEC, false),
    ("sync", MsFlags::MS_SYNCHRONOUS, true),
    ("async", MsFlags::MS_SYNCHRONOUS, false),
    ("dirsync", MsFlags::MS_DIRSYNC, true),
    ("noatime", MsFlags::MS_NOATIME, true),
    ("atime", MsFlags::MS_NOATIME, false),
    ("nodiratime", MsFlags::MS_NODIRATIME, true),
    ("diratime", MsFlags::MS_NODIRATIME, false),
    ("relatime", MsFlags::MS_RELATIME, true),
    ("norelatime", MsFlags::MS_RELATIME, false),
    ("strictatime", MsFlags::MS_STRICTATIME, true),
    ("nostrictatime", MsFlags::MS_STRICTATIME, false),
    ("bind", MsFlags::MS_BIND, true),
    ("rbind", MsFlags::MS_BIND.union(MsFlags::MS_REC), true),
];

/// The propagation words.
const PROPAGATION: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// Option words runc knows that nslab does not do: refused by name.
const UNSUPPORTED: &[&str] = &["tmpcopyup", "idmap", "ridmap", "rro", "rrw", "nosymfollow"];

/// The propagation flags of a word (`rshared` → `MS_SHARED | MS_REC`).
pub fn propagation_flags(word: &str) -> Option<MsFlags> {
    PROPAGATION
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, flags)| *flags)
}

/// Every option word nslab understands (for `nslab features`).
pub fn option_names() -> Vec<&'static str> {
    FLAGS
        .iter()
        .map(|(name, _, _)| *name)
        .chain(PROPAGATION.iter().map(|(name, _)| *name))
        .collect()
}

impl Generic {
    /// Parses a config.json mount. `bundle` makes a relative bind source
    /// absolute. An option nslab does not do is an error naming it.
    pub fn parse(
        destination: &Path,
        kind: Option<&str>,
        source: Option<&Path>,
        options: &[String],
        bundle: &Path,
    ) -> Result<Generic, String> {
        if !destination.is_absolute() {
            return Err(format!(
                "destination {} is not absolute",
                destination.display()
            ));
        }
        let mut flags = MsFlags::empty();
        let mut propagation = MsFlags::empty();
        let mut data = Vec::new();
        for option in options {
            let option = option.as_str();
            if let Some((_, flag, set)) = FLAGS.iter().find(|(name, _, _)| *name == option) {
                if *set {
                    flags |= *flag;
                } else {
                    flags &= !*flag;
                }
            } else if let Some((_, flag)) = PROPAGATION.iter().find(|(name, _)| *name == option) {
                propagation |= *flag;
            } else if UNSUPPORTED.contains(&option) {
                return Err(format!("mount option {option:?} is not supported by nslab"));
            } else {
                data.push(option.to_string());
            }
        }
        let kind = kind
            .filter(|k| !k.is_empty() && *k != "none")
            .map(String::from);
        let bind = flags.contains(MsFlags::MS_BIND) || kind.as_deref() == Some("bind");
        if bind {
            flags |= MsFlags::MS_BIND;
        }
        let source = source.map(|s| {
            if bind && s.is_relative() {
                bundle.join(s)
            } else {
                s.to_path_buf()
            }
        });
        if bind && source.is_none() {
            return Err(format!(
                "bind mount on {} has no source",
                destination.display()
            ));
        }
        Ok(Generic {
            destination: destination.to_path_buf(),
            kind: if bind { None } else { kind },
            source,
            flags,
            propagation,
            data: data.join(","),
        })
    }

    /// Whether this is a bind mount of a host path.
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Mounts it, inside the new root, while the old root is still at
    /// `/.old-root` (a bind mount's source is the host's, reached through
    /// it). A bind mount takes its other flags only on a remount.
    pub fn mount(&self) -> Result<(), MountError> {
        let failed = |what: &str| {
            let what = what.to_string();
            let target = self.destination.clone();
            move |source| MountError::Mount {
                what,
                target,
                source,
            }
        };
        if self.is_bind() {
            let host = self.source.as_deref().unwrap_or(Path::new("/"));
            let relative = host.strip_prefix("/").unwrap_or(host);
            let through_old_root = Path::new("/").join(OLD_ROOT).join(relative);
            if fs::metadata(&through_old_root).is_ok_and(|m| !m.is_dir()) {
                make_file_target(&self.destination)?;
            } else {
                make_target(&self.destination)?;
            }
            let rec = self.flags & MsFlags::MS_REC;
            syscall::mount(
                Some(&through_old_root.display().to_string()),
                &self.destination,
                None,
                MsFlags::MS_BIND | rec,
                None,
                "",
            )
            .map_err(failed("a bind mount"))?;
            let rest = self.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
            if !rest.is_empty() {
                syscall::mount(
                    None,
                    &self.destination,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | rest,
                    None,
                    "",
                )
                .map_err(failed("a bind mount's flags"))?;
            }
        } else {
            make_target(&self.destination)?;
            let kind = self.kind.as_deref().unwrap_or("none");
            let source = self
                .source
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_else(|| kind.to_string());
            let data = (!self.data.is_empty()).then_some(self.data.as_str());
            syscall::mount(
                Some(&source),
                &self.destination,
                Some(kind),
                self.flags,
                data,
                "",
            )
            .map_err(failed(kind))?;
            if kind == "tmpfs" && self.destination == Path::new("/dev") {
                narrate::explain("a fresh /dev: the standard nodes and links go in it");
                super::populate_dev(&self.destination)?;
            }
        }
        if !self.propagation.is_empty() {
            syscall::mount(None, &self.destination, None, self.propagation, None, "")
                .map_err(failed("a propagation change"))?;
        }
        Ok(())
    }
}

/// An empty file to bind a host file onto, its directory made first.
fn make_file_target(target: &Path) -> Result<(), MountError> {
    if let Some(dir) = target.parent() {
        make_target(dir)?;
    }
    if fs::symlink_metadata(target).is_err() {
        fs::File::create(target).map_err(|e| MountError::File {
            step: "create the file to bind onto",
            path: target.to_path_buf(),
            source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: &str, options: &[&str]) -> Result<Generic, String> {
        let options: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        Generic::parse(
            Path::new("/dest"),
            Some(kind),
            Some(Path::new("src")),
            &options,
            Path::new("/bundle"),
        )
    }

    #[test]
    fn flags_propagation_and_data_are_told_apart() {
        let m = parse(
            "tmpfs",
            &[
                "nosuid",
                "strictatime",
                "mode=755",
                "size=65536k",
                "rprivate",
            ],
        )
        .unwrap();
        assert_eq!(m.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(m.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(m.data, "mode=755,size=65536k");
        assert_eq!(m.kind.as_deref(), Some("tmpfs"));
    }

    #[test]
    fn a_later_word_undoes_an_earlier_one() {
        let m = parse("proc", &["ro", "rw", "nodev", "dev"]).unwrap();
        assert!(m.flags.is_empty());
    }

    #[test]
    fn a_bind_source_is_found_from_the_bundle() {
        let m = parse("bind", &["rbind", "ro"]).unwrap();
        assert!(m.is_bind());
        assert_eq!(
            m.flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
        assert_eq!(m.source.as_deref(), Some(Path::new("/bundle/src")));
        assert_eq!(m.kind, None);
    }

    #[test]
    fn unknown_runc_options_and_relative_destinations_are_refused() {
        assert!(parse("tmpfs", &["tmpcopyup"])
            .unwrap_err()
            .contains("tmpcopyup"));
        let relative = Generic::parse(Path::new("dest"), Some("tmpfs"), None, &[], Path::new("/"));
        assert!(relative.unwrap_err().contains("not absolute"));
    }
}
