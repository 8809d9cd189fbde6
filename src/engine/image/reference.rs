//! Image names: `NAME[:TAG]`, spelled the way docker spells them.
//!
//! A name is one or more components separated by `/` (`busybox`,
//! `library/busybox`, `ghcr.io/me/app`); each component is lowercase
//! letters and digits, with `.`, `_` and `-` allowed between them. The
//! tag, after a `:`, is letters (either case), digits, `_`, `.` and `-`, up
//! to 128 of them, and not starting with `.` or `-`; without one the tag is
//! `latest`. Docker Hub's own prefix is dropped, so `docker.io/library/
//! busybox` (what `docker save` may write) and `busybox` are one name.
//!
//! Left out, on purpose: registry ports (`localhost:5000/app`) and digests
//! (`app@sha256:…`), which need a registry this engine never talks to.

use super::ImageError;
use std::fmt;

/// The tag a name without one gets.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed `NAME:TAG`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// The name: `busybox`, `me/app`.
    pub name: String,
    /// The tag: `latest`, `1.0`.
    pub tag: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

impl Reference {
    /// Parses `NAME[:TAG]`; the error says which rule the text broke.
    pub fn parse(text: &str) -> Result<Reference, ImageError> {
        parse(text).map_err(|reason| ImageError::BadReference {
            reference: text.to_string(),
            reason,
        })
    }
}

/// The parser itself, with the reason as a plain string.
fn parse(text: &str) -> Result<Reference, String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if text.contains('@') {
        return Err("digests (`@sha256:…`) are not supported here: use a tag".into());
    }
    let text = strip_docker_hub(text);
    // The tag is after the last ':', unless a '/' follows it (that ':'
    // would be a registry's port, which we do not support: the name's
    // check below says so).
    let (name, tag) = match text.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (text, DEFAULT_TAG),
    };
    check_name(name)?;
    check_tag(tag)?;
    Ok(Reference {
        name: name.to_string(),
        tag: tag.to_string(),
    })
}

/// `docker.io/library/busybox` and `docker.io/me/app` are, to docker,
/// `busybox` and `me/app`: the names `docker save` writes keep the prefix.
fn strip_docker_hub(text: &str) -> &str {
    for prefix in [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return rest;
        }
    }
    text
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name before the `:` is empty".into());
    }
    if name.len() > 255 {
        return Err("names are at most 255 characters".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-' | '/'))
    {
        return Err(if bad.is_ascii_uppercase() {
            "names are lowercase (tags may have capitals)".into()
        } else {
            format!("`{bad}` is not allowed in a name")
        });
    }
    for component in name.split('/') {
        let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if component.is_empty() {
            return Err("a name has no empty parts between `/`".into());
        }
        if !alnum(component.chars().next()) || !alnum(component.chars().last()) {
            return Err(format!(
                "`{component}` must start and end with a letter or digit"
            ));
        }
    }
    // An id and a name must never be confused: `nslab image rm abc…` means
    // the id when nothing is named so, and a name of 64 hex digits would be
    // indistinguishable from one.
    if super::digest::is_full_hex(name) {
        return Err("a name of 64 hex digits would look like an image id".into());
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("the tag after the `:` is empty".into());
    }
    if tag.len() > 128 {
        return Err("tags are at most 128 characters".into());
    }
    if tag.starts_with(['.', '-']) {
        return Err("a tag cannot start with `.` or `-`".into());
    }
    if let Some(bad) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!("`{bad}` is not allowed in a tag"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> String {
        parse(text).unwrap().to_string()
    }

    #[test]
    fn a_name_without_a_tag_is_latest() {
        assert_eq!(ok("busybox"), "busybox:latest");
        assert_eq!(ok("busybox:1.36"), "busybox:1.36");
        assert_eq!(ok("me/my-app_2.x:V1.0-rc_1"), "me/my-app_2.x:V1.0-rc_1");
        assert_eq!(ok("ghcr.io/me/app:1"), "ghcr.io/me/app:1");
    }

    #[test]
    fn docker_hubs_prefix_is_dropped() {
        assert_eq!(ok("docker.io/library/busybox:latest"), "busybox:latest");
        assert_eq!(ok("docker.io/me/app"), "me/app:latest");
    }

    #[test]
    fn what_docker_refuses_is_refused_with_a_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("busy box", "` ` is not allowed"),
            ("a::b", "`:` is not allowed"),
            ("a:b:c", "`:` is not allowed"),
            (":tag", "name before the `:` is empty"),
            ("app:", "tag after the `:` is empty"),
            ("app:-x", "cannot start"),
            ("app:x/y", "`:` is not allowed"),
            ("a//b", "empty parts"),
            ("-app", "start and end"),
            ("app.", "start and end"),
            ("localhost:5000/app", "`:` is not allowed"),
            ("app@sha256:abcd", "digests"),
            ("../../etc", "start and end"),
            ("app:a+b", "`+` is not allowed in a tag"),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(reason), "{text:?}: {error}");
        }
        assert!(parse(&"a".repeat(256)).is_err());
        assert!(parse(&format!("a:{}", "b".repeat(129))).is_err());
        assert!(parse(&"ab12".repeat(16)).unwrap_err().contains("image id"));
    }

    #[test]
    fn the_error_names_the_reference() {
        let error = Reference::parse("Bad").unwrap_err();
        assert_eq!(
            error.to_string(),
            "`Bad` is not a valid image name: names are lowercase (tags may have capitals)"
        );
    }
}
