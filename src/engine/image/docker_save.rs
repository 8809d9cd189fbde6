//! `docker save`'s archive: `manifest.json`, then a config and layer tars.
//!
//! ```text
//! manifest.json   [{"Config": "<id>.json", "RepoTags": ["busybox:latest"],
//!                   "Layers": ["<a>/layer.tar", "<b>/layer.tar"]}]
//! <id>.json       the image config: Env, Cmd…, and rootfs.diff_ids
//! <a>/layer.tar   the bottom layer, a plain tar
//! ```
//!
//! (Docker 25 and later write an OCI layout *and* this manifest.json in the
//! same tar, with `blobs/sha256/<digest>` paths; read through the manifest,
//! it is the same thing.) Nothing here is signed, but everything is
//! hashed: the config's name is its own digest (the image id), and the
//! config names each layer by its diff_id. Both are checked.

use super::config;
use super::digest::{hex_of, is_full_hex, sha256_of};
use super::import::{LayerPlan, Plan};
use super::reference::Reference;
use super::source::Source;
use super::ImageError;
use serde::Deserialize;

/// One image in manifest.json.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// What to import from a `docker save` archive: the image `given` names
/// (when the archive holds several), or its only one.
pub fn plan(source: &Source, given: Option<&Reference>) -> Result<Plan, ImageError> {
    let bytes = source.read_small("manifest.json", "archive")?;
    let entries: Vec<Entry> = serde_json::from_slice(&bytes).map_err(|e| ImageError::BadJson {
        path: source.path.clone(),
        member: "manifest.json".into(),
        what: "docker save manifest",
        source: e,
    })?;
    let entry = choose(source, entries, given)?;
    let config_bytes = source.read_small(&entry.config, "manifest.json")?;
    let id = sha256_of(&config_bytes);
    check_named_by_digest(source, &entry.config, &id)?;
    let parsed = config::parse(&config_bytes, &source.path, &entry.config)?;
    if parsed.diff_ids.len() != entry.layers.len() {
        return Err(ImageError::Inconsistent {
            path: source.path.clone(),
            reason: format!(
                "manifest.json lists {} layers, but the config `{}` lists {}",
                entry.layers.len(),
                entry.config,
                parsed.diff_ids.len()
            ),
        });
    }
    let layers = entry
        .layers
        .iter()
        .zip(&parsed.diff_ids)
        .map(|(member, diff_id)| LayerPlan {
            member: Some(member.clone()),
            diff_id: Some(diff_id.clone()),
            blob: None,
        })
        .collect();
    Ok(Plan {
        names: names_of(&entry),
        bare_tag: None,
        config: Some((config_bytes, parsed)),
        layers,
    })
}

/// The names an image carries, those that nslab can spell (a registry
/// with a port, `localhost:5000/app`, cannot be: it is left out).
fn names_of(entry: &Entry) -> Vec<Reference> {
    entry
        .repo_tags
        .iter()
        .flatten()
        .filter_map(|tag| Reference::parse(tag).ok())
        .collect()
}

/// The one image to import.
fn choose(
    source: &Source,
    mut entries: Vec<Entry>,
    given: Option<&Reference>,
) -> Result<Entry, ImageError> {
    match entries.len() {
        0 => Err(ImageError::Inconsistent {
            path: source.path.clone(),
            reason: "its manifest.json lists no image".into(),
        }),
        1 => Ok(entries.remove(0)),
        _ => {
            if let Some(given) = given {
                if let Some(i) = entries.iter().position(|e| names_of(e).contains(given)) {
                    return Ok(entries.remove(i));
                }
            }
            let names = entries
                .iter()
                .map(|e| match names_of(e).first() {
                    Some(name) => name.to_string(),
                    None => format!("untagged {}", e.config),
                })
                .collect();
            Err(ImageError::SeveralImages {
                path: source.path.clone(),
                names,
            })
        }
    }
}

/// A member named after a digest (`<hex>.json`, `blobs/sha256/<hex>`)
/// must hash to it.
pub fn check_named_by_digest(
    source: &Source,
    member: &str,
    actual: &str,
) -> Result<(), ImageError> {
    let file_name = member.rsplit('/').next().unwrap_or(member);
    let stem = file_name.strip_suffix(".json").unwrap_or(file_name);
    if !is_full_hex(stem) || hex_of(actual) == Some(stem) {
        return Ok(());
    }
    Err(ImageError::DigestMismatch {
        path: source.path.clone(),
        what: format!("the config `{member}`"),
        expected: format!("sha256:{stem}"),
        actual: actual.to_string(),
    })
}
