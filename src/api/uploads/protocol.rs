//! The tus 1.0 wire format: protocol headers in and out, `Upload-Metadata`,
//! `Upload-Checksum` and its hashers, and errors that carry `Tus-Resumable`.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::ErrorCode;
use crate::api::error::ApiError;

pub(crate) const TUS_VERSION: &str = "1.0.0";
pub(crate) const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
pub(crate) const CHECKSUM_ALGORITHMS: &str = "sha256,sha1";
pub(crate) const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// Longest `Upload-Metadata` accepted (the options JSON is at most 64 KiB, base64 grows it).
const MAX_METADATA: usize = 96 * 1024;

pub(crate) static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub(crate) static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub(crate) static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub(crate) static UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
/// Where the job made from a finished upload is (also in `Location` of the final `PATCH`).
pub(crate) static JOB_LOCATION: HeaderName = HeaderName::from_static("audiotap-job-location");

/// An API error answered with the tus headers a client needs to read it.
#[derive(Debug)]
pub(crate) struct TusError(pub(crate) ApiError);

impl From<ApiError> for TusError {
    fn from(e: ApiError) -> Self {
        TusError(e)
    }
}

impl IntoResponse for TusError {
    fn into_response(self) -> Response {
        let precondition = self.0.status() == StatusCode::PRECONDITION_FAILED;
        let mut resp = self.0.into_response();
        let h = resp.headers_mut();
        h.insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(TUS_VERSION));
        if precondition {
            h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
        }
        resp
    }
}

pub(crate) type TusResult<T> = Result<T, TusError>;

pub(crate) fn bad(code: ErrorCode, detail: impl Into<String>) -> TusError {
    TusError(ApiError::new(code, detail))
}

/// Every request but `OPTIONS` names the protocol version it speaks.
pub(crate) fn check_version(headers: &HeaderMap) -> TusResult<()> {
    match headers.get(&TUS_RESUMABLE).map(HeaderValue::to_str) {
        Some(Ok(TUS_VERSION)) => Ok(()),
        Some(v) => Err(TusError(ApiError::new(
            ErrorCode::TusVersionUnsupported,
            format!("Tus-Resumable {v:?} is not supported: this server speaks {TUS_VERSION}"),
        ))),
        None => Err(TusError(ApiError::new(
            ErrorCode::TusVersionUnsupported,
            format!("the Tus-Resumable header is missing (this server speaks {TUS_VERSION})"),
        ))),
    }
}

/// A header holding a non-negative integer (`Upload-Length`, `Upload-Offset`), if present.
pub(crate) fn number(headers: &HeaderMap, name: &HeaderName) -> TusResult<Option<u64>> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            ErrorCode::InvalidRequest,
            format!("{name} must be a non-negative integer, not {text:?}"),
        ));
    }
    text.parse()
        .map(Some)
        .map_err(|_| bad(ErrorCode::InvalidRequest, format!("{name} is out of range")))
}

/// The body of a `PATCH` (or of a creation with bytes) is `application/offset+octet-stream`.
pub(crate) fn is_offset_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
}

pub(crate) fn wrong_content_type() -> TusError {
    TusError(ApiError::new(
        ErrorCode::InvalidContentType,
        format!("upload bytes must be sent as Content-Type: {OFFSET_OCTET_STREAM}"),
    ))
}

/// What `Upload-Metadata` carries for audiotap.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Metadata {
    pub(crate) filename: Option<String>,
    /// The JSON text of a `POST /v1/jobs` body without `source`.
    pub(crate) options: Option<String>,
}

/// Parse `key base64,key base64,…` (a value may be absent). Keys other than `filename` and
/// `options` are allowed and ignored (clients add their own, such as `filetype`).
pub(crate) fn parse_metadata(value: &str) -> TusResult<Metadata> {
    if value.len() > MAX_METADATA {
        return Err(bad(
            ErrorCode::InvalidRequest,
            "Upload-Metadata is longer than 96 KiB",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Metadata::default();
    for pair in value.split(',') {
        let pair = pair.trim();
        let (key, encoded) = pair.split_once(' ').unwrap_or((pair, ""));
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad(
                ErrorCode::InvalidRequest,
                format!("Upload-Metadata has an empty or non-ASCII key in {pair:?}"),
            ));
        }
        if !seen.insert(key) {
            return Err(bad(
                ErrorCode::InvalidRequest,
                format!("Upload-Metadata names {key:?} twice"),
            ));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| {
                bad(
                    ErrorCode::InvalidRequest,
                    format!("Upload-Metadata value of {key:?} is not base64"),
                )
            })?;
        let text = || {
            String::from_utf8(decoded.clone()).map_err(|_| {
                bad(
                    ErrorCode::InvalidRequest,
                    format!("Upload-Metadata value of {key:?} is not UTF-8"),
                )
            })
        };
        match key {
            "filename" => out.filename = Some(text()?),
            "options" => out.options = Some(text()?),
            _ => {}
        }
    }
    Ok(out)
}

/// An `Upload-Checksum` to verify a body against.
pub(crate) struct Checksum {
    algorithm: &'static str,
    expected: Vec<u8>,
}

/// `Upload-Checksum: <algorithm> <base64 digest>`, if present.
pub(crate) fn parse_checksum(headers: &HeaderMap) -> TusResult<Option<Checksum>> {
    let Some(v) = headers.get("upload-checksum") else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    let (algo, digest) = text.split_once(' ').unwrap_or((text, ""));
    let (algorithm, len) = match algo.to_ascii_lowercase().as_str() {
        "sha256" => ("sha256", 32),
        "sha1" => ("sha1", 20),
        other => {
            return Err(bad(
                ErrorCode::ChecksumAlgorithmUnsupported,
                format!(
                    "checksum algorithm {other:?} is not supported (use one of {CHECKSUM_ALGORITHMS})"
                ),
            ));
        }
    };
    let expected = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .ok()
        .filter(|d| d.len() == len)
        .ok_or_else(|| {
            bad(
                ErrorCode::InvalidRequest,
                format!("Upload-Checksum: the {algorithm} digest must be {len} bytes in base64"),
            )
        })?;
    Ok(Some(Checksum {
        algorithm,
        expected,
    }))
}

/// Hashes a body as it arrives, for its [`Checksum`].
pub(crate) enum BodyHasher {
    Sha256(Sha256),
    Sha1(Sha1),
}

impl Checksum {
    pub(crate) fn hasher(&self) -> BodyHasher {
        match self.algorithm {
            "sha1" => BodyHasher::Sha1(Sha1::new()),
            _ => BodyHasher::Sha256(Sha256::new()),
        }
    }

    /// `Ok` when `hasher` saw exactly the bytes the client hashed.
    pub(crate) fn verify(&self, hasher: BodyHasher) -> TusResult<()> {
        let got: Vec<u8> = match hasher {
            BodyHasher::Sha256(h) => h.finalize().to_vec(),
            BodyHasher::Sha1(h) => h.finalize().to_vec(),
        };
        if got == self.expected {
            return Ok(());
        }
        Err(TusError(ApiError::new(
            ErrorCode::ChecksumMismatch,
            format!(
                "the body's {} differs from Upload-Checksum: its bytes were discarded",
                self.algorithm
            ),
        )))
    }
}

impl BodyHasher {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            BodyHasher::Sha256(h) => h.update(bytes),
            BodyHasher::Sha1(h) => h.update(bytes),
        }
    }
}

/// `Upload-Expires` (an HTTP date).
pub(crate) fn http_date(t: time::OffsetDateTime) -> String {
    let secs = t.unix_timestamp().max(0) as u64;
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn metadata_pairs() {
        let v = format!(
            "filename {},options {},filetype {},empty",
            b64("talk.mp4"),
            b64(r#"{"output":{"format":"wav"}}"#),
            b64("video/mp4")
        );
        let m = parse_metadata(&v).unwrap();
        assert_eq!(m.filename.as_deref(), Some("talk.mp4"));
        assert_eq!(m.options.as_deref(), Some(r#"{"output":{"format":"wav"}}"#));
        for bad in [
            "filename !!!".to_string(),
            format!("filename {0},filename {0}", b64("a")),
            ",".to_string(),
            format!(
                "filename {}",
                base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe])
            ),
        ] {
            assert!(parse_metadata(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn checksums() {
        let mut h = HeaderMap::new();
        assert!(parse_checksum(&h).unwrap().is_none());
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"abc"));
        h.insert(
            "upload-checksum",
            format!("sha256 {digest}").parse().unwrap(),
        );
        let c = parse_checksum(&h).unwrap().unwrap();
        let mut ok = c.hasher();
        ok.update(b"ab");
        ok.update(b"c");
        assert!(c.verify(ok).is_ok());
        let mut wrong = c.hasher();
        wrong.update(b"abd");
        let e = c.verify(wrong).unwrap_err();
        assert_eq!(e.0.status().as_u16(), 460);
        h.insert("upload-checksum", "md5 AAAA".parse().unwrap());
        assert_eq!(
            parse_checksum(&h).err().unwrap().0.code(),
            ErrorCode::ChecksumAlgorithmUnsupported
        );
        h.insert("upload-checksum", "sha1 AAAA".parse().unwrap());
        assert_eq!(
            parse_checksum(&h).err().unwrap().0.code(),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn numbers_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(UPLOAD_LENGTH.clone(), "42".parse().unwrap());
        assert_eq!(number(&h, &UPLOAD_LENGTH).unwrap(), Some(42));
        for bad in ["-1", "4 2", "", "99999999999999999999", "0x10"] {
            h.insert(UPLOAD_LENGTH.clone(), bad.parse().unwrap());
            assert!(number(&h, &UPLOAD_LENGTH).is_err(), "{bad:?}");
        }
        let t = time::macros::datetime!(2014-06-25 16:00:00 UTC);
        assert_eq!(http_date(t), "Wed, 25 Jun 2014 16:00:00 GMT");
    }
}
