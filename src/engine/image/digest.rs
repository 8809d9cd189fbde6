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
//!
//! sha256 is not free: even with the CPU's SHA instructions it runs at
//! about 2 GB/s, half as fast as the kernel writes files into the page
//! cache, so hashing on the way would make an import half again as slow as
//! `tar -x`. The reader therefore hands each megabyte it has passed on to
//! a second thread that hashes it while the tar reader goes on with the
//! next: still one pass over the file, and on a machine with two cores the
//! hash costs next to nothing.

use indicatif::ProgressBar;
use sha2::{Digest as _, Sha256};
use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// How much is read from the file at once, and handed to the hasher.
const CHUNK: usize = 1 << 20;

/// How many chunks may wait for the hasher: if it falls behind, the reader
/// waits, so memory stays bounded.
const QUEUE: usize = 4;

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

/// A buffered reader that hashes (and counts) every byte read through it.
///
/// It reads `inner` a chunk at a time into a buffer of its own, serves
/// reads from it, and once every byte of the chunk has been passed on,
/// sends the chunk to the hashing thread. Bytes still in the buffer, not
/// yet read, are not hashed: the digest covers exactly what was passed on.
///
/// The progress bar, when there is one, advances with the bytes read: put
/// the hashing reader that reads the file itself in charge of it.
pub struct HashingReader<R> {
    inner: R,
    /// The current chunk; `pos..len` not yet passed on.
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    bytes: u64,
    progress: Option<ProgressBar>,
    /// Chunks to hash; None once finished.
    to_hasher: Option<SyncSender<Vec<u8>>>,
    /// Chunks hashed, back for reuse.
    recycled: Receiver<Vec<u8>>,
    hasher: Option<JoinHandle<Sha256>>,
}

impl<R: Read> HashingReader<R> {
    /// Hashes what is read from `inner`.
    pub fn new(inner: R, progress: Option<ProgressBar>) -> HashingReader<R> {
        let (to_hasher, chunks) = mpsc::sync_channel::<Vec<u8>>(QUEUE);
        let (give_back, recycled) = mpsc::sync_channel::<Vec<u8>>(QUEUE + 2);
        let hasher = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in chunks {
                hasher.update(&chunk);
                // The reader may be gone, or have chunks enough: then this
                // one is simply freed.
                let _ = give_back.try_send(chunk);
            }
            hasher
        });
        HashingReader {
            inner,
            buf: Vec::new(),
            pos: 0,
            len: 0,
            bytes: 0,
            progress,
            to_hasher: Some(to_hasher),
            recycled,
            hasher: Some(hasher),
        }
    }

    /// Reads what is left, to the end, so that the digest covers the whole
    /// stream: a tar reader stops at the end-of-archive blocks, but the
    /// padding after them is part of the bytes the digest was taken over.
    pub fn read_to_end_hashed(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(|_| ())
    }

    /// The digest of everything read, how many bytes that was, and the
    /// inner reader.
    pub fn finish(mut self) -> (String, u64, R) {
        let mut rest = std::mem::take(&mut self.buf);
        rest.truncate(self.pos);
        self.send(rest);
        // Closing the channel ends the thread's loop.
        self.to_hasher = None;
        let hasher = self.hasher.take().expect("finish is called once");
        let hash = hasher.join().expect("the hashing thread does not panic");
        let digest = format_digest(&hash.finalize());
        (digest, self.bytes, self.inner)
    }

    /// Sends a chunk whose every byte was passed on to the hasher.
    fn send(&mut self, chunk: Vec<u8>) {
        if let Some(to_hasher) = &self.to_hasher {
            // It only fails if the thread is gone, which finish() reports.
            let _ = to_hasher.send(chunk);
        }
    }

    /// Hands the spent chunk to the hasher and reads the next one.
    fn refill(&mut self) -> io::Result<()> {
        let spent = std::mem::take(&mut self.buf);
        if !spent.is_empty() {
            self.send(spent);
        }
        let mut next = self.recycled.try_recv().unwrap_or_default();
        next.resize(CHUNK, 0);
        let n = loop {
            match self.inner.read(&mut next) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        next.truncate(n);
        self.buf = next;
        self.pos = 0;
        self.len = n;
        Ok(())
    }
}

impl<R: Read> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.len {
            self.refill()?;
        }
        Ok(&self.buf[self.pos..self.len])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.len - self.pos);
        self.pos += n;
        self.bytes += n as u64;
        if let Some(bar) = &self.progress {
            bar.inc(n as u64);
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
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
    fn bytes_looked_at_but_not_read_are_not_hashed() {
        let data = b"1f8b and the rest".to_vec();
        let mut reader = HashingReader::new(&data[..], None);
        assert_eq!(&reader.fill_buf().unwrap()[..4], b"1f8b");
        let (digest, bytes, _) = reader.finish();
        assert_eq!((digest, bytes), (sha256_of(b""), 0));
        let mut reader = HashingReader::new(&data[..], None);
        let mut four = [0u8; 4];
        reader.read_exact(&mut four).unwrap();
        assert_eq!(reader.finish().0, sha256_of(b"1f8b"));
    }

    #[test]
    fn many_chunks_hash_as_one_stream() {
        let data: Vec<u8> = (0..(3 * CHUNK + 12345)).map(|i| (i % 251) as u8).collect();
        let mut reader = HashingReader::new(&data[..], None);
        reader.read_to_end_hashed().unwrap();
        let (digest, bytes, _) = reader.finish();
        assert_eq!((digest, bytes), (sha256_of(&data), data.len() as u64));
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
