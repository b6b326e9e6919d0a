//! Content digests (`sha256:<64 lowercase hex>`) and a reader that checks one while reading.
//!
//! Digests come from archives and manifests, i.e. from whoever wrote the image, and they become
//! file names in the store: only the well-formed sha256 shape is accepted, before any path is
//! built from one (CVE-2024-3727: `sha256:../../x` reaching a path join).

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A sha256 content digest, always well formed: `sha256:` and 64 lowercase hex digits.
///
/// ```
/// use nsbox_image::Digest;
/// let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse()?;
/// assert_eq!(d, Digest::of(b""));
/// assert!("sha256:../../etc/passwd".parse::<Digest>().is_err());
/// # Ok::<(), nsbox_image::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`; anything else is [`Error::MalformedDigest`].
    ///
    /// [`Error::MalformedDigest`]: crate::Error::MalformedDigest
    pub fn parse(s: &str) -> Result<Self, crate::Error> {
        match s.strip_prefix("sha256:") {
            Some(hex) if Self::is_hex64(hex) => Ok(Self { hex: hex.to_owned() }),
            _ => Err(crate::Error::MalformedDigest { digest: s.to_owned() }),
        }
    }

    /// The digest of a file named by its hex (`blobs/sha256/<hex>`), checked like [`parse`].
    ///
    /// [`parse`]: Self::parse
    pub fn from_hex(hex: &str) -> Result<Self, crate::Error> {
        Self::parse(&format!("sha256:{hex}"))
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(data))
    }

    /// The 64 hex digits, safe as one file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    fn from_hasher(hasher: Sha256) -> Self {
        let bytes = hasher.finalize();
        let mut hex = String::with_capacity(64);
        for b in bytes.iter() {
            hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        Self { hex }
    }

    fn is_hex64(s: &str) -> bool {
        s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
}

impl FromStr for Digest {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Hashes what passes through it; [`finish`](Self::finish) gives the digest and the count.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hasher {
    sha: Sha256,
    bytes: u64,
}

impl Hasher {
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.sha.update(data);
        self.bytes += data.len() as u64;
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn finish(self) -> (Digest, u64) {
        (Digest::from_hasher(self.sha), self.bytes)
    }
}

/// Why a verified read failed: the content is not what its descriptor names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The content hashed to another digest.
    #[error("content of {expected} hashes to {actual}")]
    Digest { expected: Digest, actual: Digest },
    /// The content is longer or shorter than its descriptor says.
    #[error("content of {digest} is {actual} bytes, its descriptor says {expected}")]
    Size { digest: Digest, expected: u64, actual: u64 },
}

/// A reader that hashes what it reads and, at end of file, fails with a [`VerifyError`] (inside
/// an `io::Error`) if the content is not the expected digest or size. With a size given, it
/// fails as soon as more bytes come than the size allows, so a hostile source cannot make the
/// caller read (or store) more than its descriptor declared.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    expected: Digest,
    size: Option<u64>,
    hasher: Hasher,
    done: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Checks `inner` against `expected` and, when given, `size`.
    pub fn new(inner: R, expected: Digest, size: Option<u64>) -> Self {
        Self {
            inner,
            expected,
            size,
            hasher: Hasher::default(),
            done: false,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.hasher.bytes()
    }

    fn fail(&self, error: VerifyError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, error)
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        // Read at most one byte past the declared size: enough to see the excess.
        let room = match self.size {
            Some(size) => usize::try_from(size.saturating_sub(self.hasher.bytes()) + 1).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let len = buf.len().min(room);
        let n = self.inner.read(&mut buf[..len])?;
        self.hasher.update(&buf[..n]);
        let read = self.hasher.bytes();
        if let Some(size) = self.size.filter(|&size| read > size) {
            return Err(self.fail(VerifyError::Size {
                digest: self.expected.clone(),
                expected: size,
                actual: read,
            }));
        }
        if n == 0 {
            if let Some(size) = self.size.filter(|&size| read != size) {
                return Err(self.fail(VerifyError::Size {
                    digest: self.expected.clone(),
                    expected: size,
                    actual: read,
                }));
            }
            let (actual, _) = std::mem::take(&mut self.hasher).finish();
            self.hasher.bytes = read;
            if actual != self.expected {
                return Err(self.fail(VerifyError::Digest {
                    expected: self.expected.clone(),
                    actual,
                }));
            }
            self.done = true;
        }
        Ok(n)
    }
}

/// A reader that hashes what passes through it, for digests computed rather than checked (the
/// diff id of a layer, checked by the caller once the stream is drained).
#[derive(Debug)]
pub(crate) struct HashingReader<R> {
    pub(crate) inner: R,
    pub(crate) hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Hasher::default(),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn only_well_formed_sha256_digests_parse() {
        assert_eq!(Digest::parse(EMPTY).unwrap(), Digest::of(b""));
        let upper = EMPTY.to_uppercase().replace("SHA256", "sha256");
        for bad in [
            "sha256:../../x",
            "sha256:",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            &EMPTY[..EMPTY.len() - 1],
            &format!("{EMPTY}0"),
            &format!("{EMPTY}/"),
            upper.as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            " sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(
                matches!(Digest::parse(bad), Err(crate::Error::MalformedDigest { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn verifying_reader_accepts_matching_content() {
        let mut r = VerifyingReader::new(&b"hello"[..], Digest::of(b"hello"), Some(5));
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");
    }

    fn verify_error(data: &[u8], digest: Digest, size: Option<u64>) -> VerifyError {
        let mut r = VerifyingReader::new(data, digest, size);
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        e.into_inner().unwrap().downcast::<VerifyError>().map(|b| *b).unwrap()
    }

    #[test]
    fn verifying_reader_fails_on_a_digest_mismatch_at_eof() {
        let e = verify_error(b"hello", Digest::of(b"other"), None);
        assert_eq!(
            e,
            VerifyError::Digest {
                expected: Digest::of(b"other"),
                actual: Digest::of(b"hello")
            }
        );
    }

    #[test]
    fn verifying_reader_fails_on_too_many_or_too_few_bytes() {
        let d = Digest::of(b"hello");
        assert!(matches!(
            verify_error(b"hello!", d.clone(), Some(5)),
            VerifyError::Size { actual: 6, .. }
        ));
        assert!(matches!(
            verify_error(b"hell", d, Some(5)),
            VerifyError::Size { actual: 4, .. }
        ));
    }

    #[test]
    fn verifying_reader_stops_reading_past_the_declared_size() {
        // An endless source: the reader must fail rather than read forever.
        let e = verify_error_endless();
        assert!(matches!(
            e,
            VerifyError::Size {
                expected: 10,
                actual: 11,
                ..
            }
        ));
    }

    fn verify_error_endless() -> VerifyError {
        let mut r = VerifyingReader::new(io::repeat(0), Digest::of(b""), Some(10));
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        *e.into_inner().unwrap().downcast::<VerifyError>().unwrap()
    }
}
