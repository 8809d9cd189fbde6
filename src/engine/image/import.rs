//! Importing: a file becomes layers and an image, the same way for all
//! three formats once each has said what its parts are (a [`Plan`]).

use super::config::{self, ParsedConfig};
use super::extract::{extract_layer, Extracted};
use super::reference::Reference;
use super::source::{Format, Source};
use super::store::{layer_size, NewImage, Staged};
use super::{docker_save, oci, Image, ImageConfig, ImageError, ImageStore};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::Path;

/// What a file holds, as its format describes it.
pub struct Plan {
    /// The names it carries (`RepoTags`, annotations), maybe none.
    pub names: Vec<Reference>,
    /// A tag without a name (an OCI `ref.name` of `latest`), for the
    /// error that asks for a name.
    pub bare_tag: Option<String>,
    /// The config's bytes and what they say; None for an export, which
    /// has none: one is written once the layer's diff_id is known.
    pub config: Option<(Vec<u8>, ParsedConfig)>,
    /// The layers, bottom first.
    pub layers: Vec<LayerPlan>,
}

/// One layer to read.
pub struct LayerPlan {
    /// The member holding it; None for the whole file (an export).
    pub member: Option<String>,
    /// The diff_id it must have, when the config says.
    pub diff_id: Option<String>,
    /// The digest and size its blob must have, when a descriptor says.
    pub blob: Option<(String, u64)>,
}

impl ImageStore {
    /// See [`ImageStore::import`].
    pub(super) fn import_file(
        &self,
        file: &Path,
        reference: Option<&str>,
    ) -> Result<Image, ImageError> {
        let given = reference.map(Reference::parse).transpose()?;
        self.remove_stale_temps();
        let source = Source::open(file, self.temp("tar"))?;
        let plan = match source.format {
            Format::Export => Plan {
                names: Vec::new(),
                bare_tag: None,
                config: None,
                layers: vec![LayerPlan {
                    member: None,
                    diff_id: None,
                    blob: None,
                }],
            },
            Format::DockerSave => docker_save::plan(&source, given.as_ref())?,
            Format::Oci => oci::plan(&source, given.as_ref())?,
        };
        // The name is settled before the slow part: a missing one fails now.
        let names = match given {
            Some(given) => vec![given],
            None if !plan.names.is_empty() => plan.names.clone(),
            None => {
                return Err(ImageError::NoName {
                    path: file.into(),
                    tag: plan.bare_tag.clone(),
                })
            }
        };
        let staged = self.stage_layers(&source, &plan.layers)?;
        let (config_json, parsed) = match plan.config {
            Some(config) => config,
            None => {
                let diff_ids: Vec<String> = staged.iter().map(|l| l.diff_id.clone()).collect();
                let json = config::to_json(
                    &ImageConfig::default(),
                    &diff_ids,
                    None,
                    "nslab image import",
                );
                let parsed = config::parse(&json, file, "(written by nslab)")?;
                (json, parsed)
            }
        };
        self.publish(NewImage {
            config_json,
            config: parsed.config,
            layers: staged,
            created: parsed
                .created
                .unwrap_or_else(crate::runtime::state::now_rfc3339),
            names,
        })
    }

    /// Reads every layer not yet in the store into `tmp/`, checking its
    /// digests; a layer already there (by the diff_id the config gives)
    /// is not read again.
    fn stage_layers(
        &self,
        source: &Source,
        layers: &[LayerPlan],
    ) -> Result<Vec<Staged>, ImageError> {
        let stored = |layer: &LayerPlan| {
            let diff_id = layer.diff_id.as_ref();
            diff_id.is_some_and(|d| self.layer_path(d).is_dir())
        };
        let progress = progress_bar(source, layers, stored);
        let mut staged = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            let what = match &layer.member {
                Some(member) => format!("layer {} of {} (`{member}`)", i + 1, layers.len()),
                None => "the layer".to_string(),
            };
            if let Some(diff_id) = &layer.diff_id {
                let dir = self.layer_path(diff_id);
                if dir.is_dir() {
                    staged.push(Staged {
                        diff_id: diff_id.clone(),
                        temp: None,
                        size: layer_size(&dir),
                    });
                    continue;
                }
            }
            let (reader, _) = match &layer.member {
                Some(member) => source.member(member, "manifest")?,
                None => source.whole()?,
            };
            staged.push(self.stage_one(source, reader, layer, &what, progress.clone())?);
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        Ok(staged)
    }

    /// Extracts one layer into a new temporary directory and checks what
    /// was read against what the plan expected.
    fn stage_one(
        &self,
        source: &Source,
        reader: Box<dyn Read>,
        layer: &LayerPlan,
        what: &str,
        progress: Option<ProgressBar>,
    ) -> Result<Staged, ImageError> {
        let temp = self.temp_dir("layer")?;
        let extracted = extract_layer(reader, &temp.path, what, &source.path, progress)?;
        check_digests(source, layer, what, &extracted)?;
        Ok(Staged {
            diff_id: extracted.diff_id,
            size: layer_size(&temp.path),
            temp: Some(temp),
        })
    }

    /// Stores the tar at `tar` as a new top layer on `parent`'s (none for
    /// a base image), with `config`: what commit and the built-in image do.
    pub(super) fn store_layer_tar(
        &self,
        tar: &Path,
        parent: &[String],
        config: ImageConfig,
        names: Vec<Reference>,
        comment: &str,
        created: Option<String>,
    ) -> Result<Image, ImageError> {
        let file = File::open(tar).map_err(|source| ImageError::Open {
            path: tar.into(),
            source,
        })?;
        let temp = self.temp_dir("layer")?;
        let extracted = extract_layer(file, &temp.path, "the new layer", tar, None)?;
        let mut diff_ids = parent.to_vec();
        diff_ids.push(extracted.diff_id.clone());
        let config_json = config::to_json(&config, &diff_ids, created.as_deref(), comment);
        let mut layers: Vec<Staged> = parent
            .iter()
            .map(|diff_id| Staged {
                diff_id: diff_id.clone(),
                temp: None,
                size: layer_size(&self.layer_path(diff_id)),
            })
            .collect();
        layers.push(Staged {
            diff_id: extracted.diff_id,
            size: layer_size(&temp.path),
            temp: Some(temp),
        });
        self.publish(NewImage {
            config_json,
            config,
            layers,
            created: created.unwrap_or_else(crate::runtime::state::now_rfc3339),
            names,
        })
    }
}

/// The digests the plan gave, against those of what was read: the blob's
/// first (a damaged blob is the cause; its diff_id is then wrong too).
fn check_digests(
    source: &Source,
    layer: &LayerPlan,
    what: &str,
    read: &Extracted,
) -> Result<(), ImageError> {
    let mismatch = |what: String, expected: &str, actual: &str| ImageError::DigestMismatch {
        path: source.path.clone(),
        what,
        expected: expected.to_string(),
        actual: actual.to_string(),
    };
    if let Some((digest, size)) = &layer.blob {
        if *digest != read.blob_digest {
            return Err(mismatch(
                format!("the blob of {what}"),
                digest,
                &read.blob_digest,
            ));
        }
        if *size != read.blob_size {
            return Err(ImageError::Inconsistent {
                path: source.path.clone(),
                reason: format!(
                    "{what} is {} bytes, but its descriptor says {size}",
                    read.blob_size
                ),
            });
        }
    }
    if let Some(diff_id) = &layer.diff_id {
        if *diff_id != read.diff_id {
            return Err(mismatch(
                format!("{what}, uncompressed,"),
                diff_id,
                &read.diff_id,
            ));
        }
    }
    Ok(())
}

/// A progress bar over the bytes to read, on standard error, only when it
/// is a terminal: a log file or a test's pipe gets no bar.
/// `stored` says which layers the store has already: those are not read.
fn progress_bar(
    source: &Source,
    layers: &[LayerPlan],
    stored: impl Fn(&LayerPlan) -> bool,
) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = layers
        .iter()
        .filter(|layer| !stored(layer))
        .map(|layer| match &layer.member {
            Some(member) => source
                .member(member, "manifest")
                .map(|(_, len)| len)
                .unwrap_or(0),
            None => source.whole().map(|(_, len)| len).unwrap_or(0),
        })
        .sum();
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("importing {bar:40} {bytes}/{total_bytes} ({eta})")
    {
        bar.set_style(style);
    }
    Some(bar)
}
