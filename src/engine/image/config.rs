//! The image config: what to run, and which layers, in which order.
//!
//! Docker and OCI share one config format (the OCI image spec's
//! config.md, which grew out of docker's): `config` holds Env, Cmd,
//! Entrypoint, WorkingDir, User; `rootfs.diff_ids` lists the layers,
//! bottom first, by the digest of each *uncompressed* tar.
//!
//! Why diff_ids, when a manifest already names each layer's blob? A blob's
//! digest depends on how it was compressed (gzip level, tool, timestamp in
//! the gzip header): the same files compress to many blobs. The diff_id
//! names the content itself, so the config, and with it the image id (the
//! config's own digest), stays the same however the layers travel. It is
//! also what names a layer in the store: two images that share a layer
//! share its directory, whoever compressed it.

use super::digest::hex_of;
use super::{ImageConfig, ImageError};
use oci_spec::image::ImageConfiguration;
use std::path::Path;

/// What an image's config says that the store keeps.
#[derive(Debug, Clone)]
pub struct ParsedConfig {
    /// What to run.
    pub config: ImageConfig,
    /// The layers, bottom first.
    pub diff_ids: Vec<String>,
    /// When the image was made, if it says.
    pub created: Option<String>,
}

/// Parses a docker or OCI config (`member` of the file at `path`).
pub fn parse(bytes: &[u8], path: &Path, member: &str) -> Result<ParsedConfig, ImageError> {
    let parsed: ImageConfiguration =
        serde_json::from_slice(bytes).map_err(|source| ImageError::BadJson {
            path: path.into(),
            member: member.into(),
            what: "image config",
            source,
        })?;
    let diff_ids = parsed.rootfs().diff_ids().clone();
    if let Some(bad) = diff_ids.iter().find(|d| hex_of(d).is_none()) {
        return Err(ImageError::Inconsistent {
            path: path.into(),
            reason: format!(
                "the config `{member}` lists the layer `{bad}`, which is not a sha256 digest"
            ),
        });
    }
    let config = parsed
        .config()
        .as_ref()
        .map(|c| ImageConfig {
            env: c.env().clone().unwrap_or_default(),
            cmd: c.cmd().clone().unwrap_or_default(),
            entrypoint: c.entrypoint().clone().unwrap_or_default(),
            working_dir: c.working_dir().clone().unwrap_or_default(),
            user: c.user().clone().unwrap_or_default(),
        })
        .unwrap_or_default();
    Ok(ParsedConfig {
        config,
        diff_ids,
        created: parsed.created().clone(),
    })
}

/// A config for an image nslab makes itself (an export, a commit, the
/// built-in busybox), in the same format, so its id is made the same way.
///
/// serde_json writes an object's keys sorted, so the same arguments give
/// the same bytes, and the same id: importing one export twice gives one
/// image. `created` is left out when None for that reason.
pub fn to_json(
    config: &ImageConfig,
    diff_ids: &[String],
    created: Option<&str>,
    comment: &str,
) -> Vec<u8> {
    let mut run = serde_json::Map::new();
    let mut put = |key: &str, value: serde_json::Value| {
        run.insert(key.to_string(), value);
    };
    if !config.env.is_empty() {
        put("Env", config.env.clone().into());
    }
    if !config.cmd.is_empty() {
        put("Cmd", config.cmd.clone().into());
    }
    if !config.entrypoint.is_empty() {
        put("Entrypoint", config.entrypoint.clone().into());
    }
    if !config.working_dir.is_empty() {
        put("WorkingDir", config.working_dir.clone().into());
    }
    if !config.user.is_empty() {
        put("User", config.user.clone().into());
    }
    let mut json = serde_json::json!({
        "architecture": oci_spec::image::Arch::default().to_string(),
        "os": "linux",
        "config": run,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": [{ "created_by": comment }],
    });
    if let Some(created) = created {
        json["created"] = created.into();
        json["history"][0]["created"] = created.into();
    }
    serde_json::to_vec(&json).expect("a JSON value always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_we_write_is_one_we_read_back() {
        let config = ImageConfig {
            env: vec!["PATH=/bin".into(), "A=b".into()],
            cmd: vec!["sh".into(), "-c".into(), "echo hi".into()],
            entrypoint: vec!["/init".into()],
            working_dir: "/srv".into(),
            user: "1000:1000".into(),
        };
        let diff = format!("sha256:{}", "a".repeat(64));
        let json = to_json(
            &config,
            std::slice::from_ref(&diff),
            Some("2026-01-02T03:04:05Z"),
            "test",
        );
        let parsed = parse(&json, Path::new("f"), "config").unwrap();
        assert_eq!(parsed.config.env, config.env);
        assert_eq!(parsed.config.cmd, config.cmd);
        assert_eq!(parsed.config.entrypoint, config.entrypoint);
        assert_eq!(parsed.config.working_dir, config.working_dir);
        assert_eq!(parsed.config.user, config.user);
        assert_eq!(parsed.diff_ids, vec![diff]);
        assert_eq!(parsed.created.as_deref(), Some("2026-01-02T03:04:05Z"));
    }

    #[test]
    fn the_same_arguments_give_the_same_bytes() {
        let config = ImageConfig::default();
        let a = to_json(&config, &[], None, "x");
        let b = to_json(&config, &[], None, "x");
        assert_eq!(a, b);
        assert!(!String::from_utf8(a).unwrap().contains("created\""));
    }

    #[test]
    fn dockers_nulls_read_as_empty() {
        let json = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":null,"Env":null,"Entrypoint":null},
            "rootfs":{"type":"layers","diff_ids":[]},"container_config":{"Hostname":"x"},"docker_version":"24"}"#;
        let parsed = parse(json, Path::new("f"), "c").unwrap();
        assert!(parsed.config.cmd.is_empty() && parsed.config.env.is_empty());
    }

    #[test]
    fn a_layer_that_is_not_a_sha256_is_refused() {
        let json = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["md5:abc"]}}"#;
        let error = parse(json, Path::new("f"), "c").unwrap_err();
        assert!(error.to_string().contains("md5:abc"), "{error}");
    }
}
