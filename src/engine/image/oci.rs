//! An OCI image layout: the image spec's image-layout.md.
//!
//! ```text
//! oci-layout              {"imageLayoutVersion": "1.0.0"}
//! index.json              the entry point: descriptors of manifests
//! blobs/sha256/<digest>   everything else, named by its own sha256
//! ```
//!
//! A *descriptor* is (media type, digest, size): a pointer that can check
//! what it points to. The index points to a manifest (or, for a
//! multi-platform image, to another index listing one manifest per
//! platform), the manifest to a config and to the layer blobs, gzip or
//! plain. Each blob read is checked against the digest it was reached by:
//! for a layer that is the digest of the *compressed* blob, while the
//! config names the same layer by its uncompressed diff_id (see
//! [`super::config`]); both are checked, in one pass.

use super::config;
use super::digest::{hex_of, sha256_of};
use super::import::{LayerPlan, Plan};
use super::reference::Reference;
use super::source::Source;
use super::ImageError;
use oci_spec::image::{Arch, Descriptor, ImageIndex, ImageManifest, Os};
use serde::de::DeserializeOwned;

/// The annotation containerd and docker put the full image name in.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for "a tag, or a fully qualified reference".
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A manifest found in the index, with the annotations that name it.
struct Candidate {
    manifest: Descriptor,
    names: Vec<Reference>,
    bare_tag: Option<String>,
}

/// What to import from an OCI layout: the image `given` names (when the
/// layout holds several), or its only one for this machine.
pub fn plan(source: &Source, given: Option<&Reference>) -> Result<Plan, ImageError> {
    check_layout_file(source)?;
    let index: ImageIndex = parse(
        source,
        "index.json",
        &source.read_small("index.json", "layout")?,
        "image index",
    )?;
    let mut candidates = Vec::new();
    for descriptor in index.manifests() {
        collect(source, descriptor, descriptor, 0, &mut candidates)?;
    }
    let chosen = choose(source, candidates, given)?;
    let manifest_bytes = read_blob(source, &chosen.manifest, "index.json")?;
    let manifest: ImageManifest = parse(
        source,
        &blob_path(source, &chosen.manifest)?,
        &manifest_bytes,
        "image manifest",
    )?;
    let config_path = blob_path(source, manifest.config())?;
    let config_bytes = read_blob(source, manifest.config(), "manifest")?;
    let parsed = config::parse(&config_bytes, &source.path, &config_path)?;
    if parsed.diff_ids.len() != manifest.layers().len() {
        return Err(ImageError::Inconsistent {
            path: source.path.clone(),
            reason: format!(
                "its manifest lists {} layers, but its config lists {}",
                manifest.layers().len(),
                parsed.diff_ids.len()
            ),
        });
    }
    let mut layers = Vec::new();
    for (descriptor, diff_id) in manifest.layers().iter().zip(&parsed.diff_ids) {
        layers.push(LayerPlan {
            member: Some(blob_path(source, descriptor)?),
            diff_id: Some(diff_id.clone()),
            blob: Some((descriptor.digest().to_string(), descriptor.size())),
        });
    }
    Ok(Plan {
        names: chosen.names,
        bare_tag: chosen.bare_tag,
        config: Some((config_bytes, parsed)),
        layers,
    })
}

/// `oci-layout` says which version of the layout this is; 1.x is the only
/// one there has been.
fn check_layout_file(source: &Source) -> Result<(), ImageError> {
    let bytes = source.read_small("oci-layout", "layout")?;
    let layout: serde_json::Value = parse(source, "oci-layout", &bytes, "oci-layout file")?;
    match layout["imageLayoutVersion"].as_str() {
        Some(version) if version.starts_with("1.") => Ok(()),
        other => Err(ImageError::Unsupported {
            path: source.path.clone(),
            what: format!("OCI layout version {}", other.unwrap_or("(none)")),
        }),
    }
}

fn parse<T: DeserializeOwned>(
    source: &Source,
    member: &str,
    bytes: &[u8],
    what: &'static str,
) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::BadJson {
        path: source.path.clone(),
        member: member.into(),
        what,
        source: e,
    })
}

/// Gathers the image manifests `descriptor` leads to for this machine:
/// itself, if it is one; those of a nested index, if it is an index. The
/// names come from `named` (the outermost descriptor: that is where tools
/// put them).
fn collect(
    source: &Source,
    descriptor: &Descriptor,
    named: &Descriptor,
    depth: usize,
    out: &mut Vec<Candidate>,
) -> Result<(), ImageError> {
    if !for_this_machine(descriptor) {
        return Ok(());
    }
    match descriptor.media_type().to_string().as_str() {
        "application/vnd.oci.image.manifest.v1+json"
        | "application/vnd.docker.distribution.manifest.v2+json" => {
            let (names, bare_tag) = names_of(named);
            out.push(Candidate {
                manifest: descriptor.clone(),
                names,
                bare_tag,
            });
        }
        "application/vnd.oci.image.index.v1+json"
        | "application/vnd.docker.distribution.manifest.list.v2+json"
            if depth < 4 =>
        {
            let bytes = read_blob(source, descriptor, "index")?;
            let nested: ImageIndex = parse(
                source,
                &blob_path(source, descriptor)?,
                &bytes,
                "image index",
            )?;
            for inner in nested.manifests() {
                collect(source, inner, named, depth + 1, out)?;
            }
        }
        // Signatures, attestations, other artifacts: not images.
        _ => {}
    }
    Ok(())
}

/// A descriptor without a platform is for any machine; with one, it must
/// be this machine's (the architecture as Go spells it, `amd64`, and Linux).
fn for_this_machine(descriptor: &Descriptor) -> bool {
    match descriptor.platform() {
        None => true,
        Some(p) => *p.architecture() == Arch::default() && *p.os() == Os::Linux,
    }
}

/// The names a descriptor's annotations give: containerd's full name, or
/// the OCI ref.name when it is a full reference; a ref.name that is only a
/// tag (`latest`) is no name, but worth mentioning.
fn names_of(descriptor: &Descriptor) -> (Vec<Reference>, Option<String>) {
    let annotations = descriptor.annotations().clone().unwrap_or_default();
    if let Some(name) = annotations
        .get(CONTAINERD_NAME)
        .and_then(|n| Reference::parse(n).ok())
    {
        return (vec![name], None);
    }
    match annotations.get(REF_NAME) {
        Some(name) if name.contains([':', '/']) => {
            (Reference::parse(name).ok().into_iter().collect(), None)
        }
        Some(tag) => (Vec::new(), Some(tag.clone())),
        None => (Vec::new(), None),
    }
}

fn choose(
    source: &Source,
    mut candidates: Vec<Candidate>,
    given: Option<&Reference>,
) -> Result<Candidate, ImageError> {
    if candidates.len() == 1 {
        return Ok(candidates.remove(0));
    }
    if candidates.is_empty() {
        return Err(ImageError::Inconsistent {
            path: source.path.clone(),
            reason: format!(
                "its index lists no image for this machine (linux/{})",
                Arch::default()
            ),
        });
    }
    if let Some(given) = given {
        let matches =
            |c: &Candidate| c.names.contains(given) || c.bare_tag.as_deref() == Some(&given.tag);
        if let Some(i) = candidates.iter().position(matches) {
            return Ok(candidates.remove(i));
        }
    }
    let names = candidates
        .iter()
        .map(|c| match (c.names.first(), &c.bare_tag) {
            (Some(name), _) => name.to_string(),
            (None, Some(tag)) => format!("tagged {tag}"),
            (None, None) => c.manifest.digest().to_string(),
        })
        .collect();
    Err(ImageError::SeveralImages {
        path: source.path.clone(),
        names,
    })
}

/// `blobs/sha256/<hex>`, where a descriptor's blob is.
pub fn blob_path(source: &Source, descriptor: &Descriptor) -> Result<String, ImageError> {
    let digest = descriptor.digest().to_string();
    match hex_of(&digest) {
        Some(hex) => Ok(format!("blobs/sha256/{hex}")),
        None => Err(ImageError::Unsupported {
            path: source.path.clone(),
            what: format!("the digest {digest} (only sha256 is read)"),
        }),
    }
}

/// A small blob (an index, a manifest, a config), read whole and checked
/// against its descriptor's digest.
fn read_blob(
    source: &Source,
    descriptor: &Descriptor,
    named_by: &str,
) -> Result<Vec<u8>, ImageError> {
    let path = blob_path(source, descriptor)?;
    let bytes = source.read_small(&path, named_by)?;
    let actual = sha256_of(&bytes);
    if actual != descriptor.digest().to_string() {
        return Err(ImageError::DigestMismatch {
            path: source.path.clone(),
            what: format!("the blob `{path}`"),
            expected: descriptor.digest().to_string(),
            actual,
        });
    }
    Ok(bytes)
}
