//! What every object store promises: the [`ObjectStore`] trait, the records it hands back
//! ([`ObjectMeta`], [`ObjectBody`]), the single [`ByteRange`] it serves and the key rules
//! ([`validate_key`]). Its error is in `error`, part-by-part uploads in `multipart`.

use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use super::error::StorageError;
use super::multipart::Multipart;

/// What the store knows about one object.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ObjectMeta {
    /// The key as the caller gave it (without any back-end prefix).
    pub key: String,
    /// Size of the whole object in bytes (also when a range was asked).
    pub size: u64,
    pub content_type: String,
    /// An opaque strong validator, quoted as in HTTP `ETag`, when the back end has one.
    pub etag: Option<String>,
}

/// One HTTP byte range (RFC 9110 §14.1.2). Positions are inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-`: from `a` to the end.
    From(u64),
    /// `bytes=a-b`: from `a` to `b`, both included (`b` past the end is clamped).
    Inclusive(u64, u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses a `Range` header holding exactly one range. Returns `None` for anything else
    /// (other units, several ranges, `a > b`, garbage): HTTP says such a header is ignored and
    /// the whole object is served.
    pub fn parse_header(value: &str) -> Option<ByteRange> {
        let spec = value.trim();
        let (unit, set) = spec.split_once('=')?;
        if !unit.trim().eq_ignore_ascii_case("bytes") {
            return None;
        }
        let set = set.trim();
        if set.contains(',') {
            return None;
        }
        let (first, last) = set.split_once('-')?;
        let (first, last) = (first.trim(), last.trim());
        let num = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        match (first.is_empty(), last.is_empty()) {
            (true, true) => None,
            (true, false) => Some(ByteRange::Suffix(num(last)?)),
            (false, true) => Some(ByteRange::From(num(first)?)),
            (false, false) => {
                let (a, b) = (num(first)?, num(last)?);
                (a <= b).then_some(ByteRange::Inclusive(a, b))
            }
        }
    }

    /// The inclusive `(start, end)` this range selects in an object of `size` bytes, or
    /// [`StorageError::RangeNotSatisfiable`] when it selects nothing (start at or past the
    /// end, an empty suffix, an empty object).
    pub fn resolve(self, size: u64) -> Result<(u64, u64), StorageError> {
        let unsatisfiable = StorageError::RangeNotSatisfiable { size };
        match self {
            ByteRange::From(a) if a < size => Ok((a, size - 1)),
            ByteRange::Inclusive(a, b) if a <= b && a < size => Ok((a, b.min(size - 1))),
            ByteRange::Suffix(n) if n > 0 && size > 0 => Ok((size - n.min(size), size - 1)),
            _ => Err(unsatisfiable),
        }
    }

    /// The `Range` header value for this range.
    pub fn to_header(self) -> String {
        match self {
            ByteRange::From(a) => format!("bytes={a}-"),
            ByteRange::Inclusive(a, b) => format!("bytes={a}-{b}"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        }
    }
}

/// Object bytes as they arrive; never the whole object in memory.
pub type ByteStream =
    Pin<Box<dyn futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>;

/// The answer to [`ObjectStore::get`].
pub struct ObjectBody {
    pub meta: ObjectMeta,
    /// inclusive byte span actually returned, when a range was asked
    pub range: Option<(u64, u64)>,
    pub stream: ByteStream,
}

impl std::fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBody")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Where finished outputs live. Every method validates its key first and fails with
/// [`StorageError::InvalidKey`] before touching the back end.
///
/// Errors: [`StorageError::NotFound`], [`StorageError::InvalidKey`] and
/// [`StorageError::RangeNotSatisfiable`] are properties of the request; [`StorageError::Io`]
/// and [`StorageError::Backend`] are transient (see [`StorageError::is_transient`]).
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// `"local"` or `"s3"`.
    fn kind(&self) -> &'static str;

    /// Uploads a finished local file. The object becomes visible under `key` only when
    /// complete: a failed put leaves no object (and no partial upload) behind, and an earlier
    /// object under the same key stays as it was. The file is streamed, never held whole.
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<ObjectMeta, StorageError>;

    /// Streams an object, or the asked range of it. `NotFound` when there is no such object,
    /// `RangeNotSatisfiable` when the range selects no byte.
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<ObjectBody, StorageError>;

    /// The object's metadata; `NotFound` when there is none.
    async fn head(&self, key: &str) -> Result<ObjectMeta, StorageError>;

    /// Deletes an object. Idempotent: deleting a missing key is `Ok`.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Readiness probe: the bucket or folder is reachable and writable.
    async fn check(&self) -> Result<(), StorageError>;

    /// Removes what puts cut short by a crash left behind, once at start; returns how many
    /// were removed. Default: nothing (S3 has lifecycle rules for incomplete uploads).
    async fn sweep_incomplete(&self) -> Result<usize, StorageError> {
        Ok(0)
    }

    /// A URL that fetches the object with a plain GET until `ttl` has passed, when the back end
    /// can make one (S3: a presigned URL; local: `Ok(None)`, serve it through the API instead).
    /// Does not check that the object exists.
    async fn presigned_get(&self, key: &str, ttl: Duration)
    -> Result<Option<String>, StorageError>;

    /// Part-by-part multipart uploads, when the back end has them (S3); `None` otherwise.
    fn multipart(&self) -> Option<&dyn Multipart> {
        None
    }
}

/// Longest key accepted, in bytes (S3 allows 1024 with the prefix).
pub const MAX_KEY_LEN: usize = 512;

/// Keys are relative paths of `[A-Za-z0-9._-]` segments joined by `/`, with no empty, `.` or
/// `..` segment, at most [`MAX_KEY_LEN`] bytes. Path traversal and absolute paths are
/// therefore impossible, on every back end.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let bad = |why: &str| Err(StorageError::InvalidKey(format!("{key:?}: {why}")));
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return bad("longer than 512 bytes");
    }
    for segment in key.split('/') {
        match segment {
            "" => return bad("empty segment (leading, trailing or double '/')"),
            "." | ".." => return bad("'.' or '..' segment"),
            _ => {}
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return bad("only A-Z a-z 0-9 . _ - and '/' are allowed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn parses_single_ranges() {
        assert_eq!(
            ByteRange::parse_header("bytes=0-99"),
            Some(ByteRange::Inclusive(0, 99))
        );
        assert_eq!(
            ByteRange::parse_header("bytes=5-5"),
            Some(ByteRange::Inclusive(5, 5))
        );
        assert_eq!(
            ByteRange::parse_header("bytes=100-"),
            Some(ByteRange::From(100))
        );
        assert_eq!(
            ByteRange::parse_header("bytes=-20"),
            Some(ByteRange::Suffix(20))
        );
        assert_eq!(
            ByteRange::parse_header("bytes=-0"),
            Some(ByteRange::Suffix(0))
        );
        assert_eq!(
            ByteRange::parse_header(" Bytes = 1 - 2 "),
            Some(ByteRange::Inclusive(1, 2))
        );
    }

    #[test]
    fn refuses_garbage_and_multi_ranges() {
        for v in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-2,4-5",
            "bytes=5-3",
            "bytes=+1-2",
            "bytes=1--2",
            "bytes=-+5",
            "items=0-1",
            "0-1",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(ByteRange::parse_header(v), None, "{v:?}");
        }
    }

    #[test]
    fn resolves_against_size() {
        assert_eq!(ByteRange::From(0).resolve(10).unwrap(), (0, 9));
        assert_eq!(ByteRange::From(9).resolve(10).unwrap(), (9, 9));
        assert_eq!(ByteRange::Inclusive(2, 4).resolve(10).unwrap(), (2, 4));
        assert_eq!(ByteRange::Inclusive(2, 400).resolve(10).unwrap(), (2, 9));
        assert_eq!(ByteRange::Suffix(3).resolve(10).unwrap(), (7, 9));
        assert_eq!(ByteRange::Suffix(30).resolve(10).unwrap(), (0, 9));
    }

    #[test]
    fn unsatisfiable_ranges() {
        for r in [
            ByteRange::From(10),
            ByteRange::Inclusive(10, 20),
            ByteRange::Inclusive(5, 3),
            ByteRange::Suffix(0),
        ] {
            let err = r.resolve(10).unwrap_err();
            assert!(
                matches!(err, StorageError::RangeNotSatisfiable { size: 10 }),
                "{r:?}"
            );
            assert_eq!(err.code(), "range_not_satisfiable");
        }
        for r in [
            ByteRange::From(0),
            ByteRange::Inclusive(0, 0),
            ByteRange::Suffix(1),
        ] {
            assert!(r.resolve(0).is_err(), "{r:?} on an empty object");
        }
    }

    #[test]
    fn header_round_trip() {
        for r in [
            ByteRange::From(7),
            ByteRange::Inclusive(1, 2),
            ByteRange::Suffix(9),
        ] {
            assert_eq!(ByteRange::parse_header(&r.to_header()), Some(r));
        }
    }

    #[test]
    fn key_rules() {
        for ok in [
            "a",
            "jobs/0192/output.wav",
            "a-b_c.D9",
            ".hidden",
            "a/..b/c..",
            "x".repeat(512).as_str(),
        ] {
            validate_key(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
        let long = "x".repeat(513);
        for bad in [
            "",
            "../x",
            "/abs",
            "a//b",
            "a/./b",
            "a/",
            ".",
            "..",
            "a/../b",
            "a\\b",
            "a b",
            "a:b",
            "é",
            "a\0b",
            "~x",
            long.as_str(),
        ] {
            let err = validate_key(bad).unwrap_err();
            assert!(matches!(err, StorageError::InvalidKey(_)), "{bad:?}");
            assert_eq!(err.code(), ErrorCode::Internal, "{bad:?}");
            assert!(!err.is_transient());
        }
    }
}
