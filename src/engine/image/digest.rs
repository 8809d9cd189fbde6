//! Content addresses: sha256 digests, computed while the bytes stream past.
//!
//! Everything in an image is named by the sha256 of its bytes, written
//! `sha256:<64 hex digits>`: the config (whose digest is the image id),
//! each layer's uncompressed tar (its *diff_id*, which names its directory
//! in the store) and, in an OCI layout, each blob as stored (compressed or
//! not). A name that is a hash cannot lie: reading the bytes again and
//! hashing them says whether they are what the name promised.
//!
//! A layer can be hundreds of megabytes, so it is never read twice to be
//! hashed: [`HashingReader`] sits in the pipeline between the file and the
//! tar reader and feeds every byte it passes on to sha256 as well.

use indicatif::ProgressBar;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};

/// The digest of `bytes`, as `sha256:<hex>`.
pub fn sha256_of(bytes: &[u8]) -> String {
    format_digest(&Sha256::digest(bytes))
}

/// `sha256:` and the hex of a finished hash.
fn format_digest(hash: &[u8]) -> String {
    let mut out = String::with_capacity(7 + 2 * hash.len());
    out.push_str("sha256:");
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The hex part of a `sha256:<hex>` digest, if `digest` is one: exactly 64
/// lowercase hex digits after the prefix.
pub fn hex_of(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|hex| is_full_hex(hex))
}

/// Whether `text` is 64 lowercase hex digits: the hex of a sha256.
pub fn is_full_hex(text: &str) -> bool {
    text.len() == 64 && is_lower_hex(text)
}

/// Whether `text` is lowercase hex digits only (and not empty).
pub fn is_lower_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A reader that hashes (and counts) every byte read through it.
///
/// The progress bar, when there is one, advances with the bytes read: put
/// the hashing reader that reads the file itself in charge of it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    progress: Option<ProgressBar>,
}

impl<R: Read> HashingReader<R> {
    /// Hashes what is read from `inner`.
    pub fn new(inner: R, progress: Option<ProgressBar>) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            progress,
        }
    }

    /// Reads what is left, to the end, so that the digest covers the whole
    /// stream: a tar reader stops at the end-of-archive blocks, but the
    /// padding after them is part of the bytes the digest was taken over.
    pub fn read_to_end_hashed(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(|_| ())
    }

    /// The digest of everything read, and how many bytes that was.
    pub fn finish(self) -> (String, u64, R) {
        (
            format_digest(&self.hasher.finalize()),
            self.bytes,
            self.inner,
        )
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Some(bar) = &self.progress {
            bar.inc(n as u64);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_of_nothing_is_the_well_known_one() {
        assert_eq!(
            sha256_of(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn reading_through_hashes_what_was_read_even_in_small_pieces() {
        let data = b"hello layer".repeat(1000);
        let mut reader = HashingReader::new(&data[..], None);
        let mut piece = [0u8; 7];
        while reader.read(&mut piece).unwrap() > 0 {}
        let (digest, bytes, _) = reader.finish();
        assert_eq!(digest, sha256_of(&data));
        assert_eq!(bytes, data.len() as u64);
    }

    #[test]
    fn only_a_full_lowercase_sha256_is_a_digest() {
        let hex = "a".repeat(64);
        assert_eq!(hex_of(&format!("sha256:{hex}")), Some(hex.as_str()));
        assert_eq!(hex_of(&format!("sha512:{hex}")), None);
        assert_eq!(hex_of(&format!("sha256:{}", "A".repeat(64))), None);
        assert_eq!(hex_of("sha256:abcd"), None);
        assert!(is_lower_hex("0f3a"));
        assert!(!is_lower_hex("0g"));
        assert!(!is_lower_hex(""));
    }
}
