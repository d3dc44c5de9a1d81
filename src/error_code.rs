//! The registry of stable error codes: every code the CLI, the HTTP API and the job JSON can
//! carry, with its HTTP status and whether a retry may succeed. Layer errors map onto it.
//!
//! Codes are a public contract that stored jobs also carry: add codes, never rename or
//! remove one. README.md ("Error codes") and `openapi/openapi.yaml` list the same set, in
//! this order; a test fails when they drift apart.

use std::fmt;
use std::str::FromStr;

/// `transient` (a later identical request may succeed) or `permanent`, as a bool.
macro_rules! transient {
    (transient) => {
        true
    };
    (permanent) => {
        false
    };
}

/// One row per code: `Variant = "code" => HTTP status, transient | permanent;`. The enum,
/// [`ErrorCode::ALL`] and the lookups are all generated from these rows, so a code is added
/// in one place.
macro_rules! registry {
    ($( $(#[doc = $doc:literal])* $variant:ident = $code:tt => $status:literal, $retry:ident; )*) => {
        /// A stable machine-readable error code. README.md ("Error codes") gives each one's
        /// meaning, HTTP status and whether a retry may succeed.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
            utoipa::ToSchema,
        )]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* #[serde(rename = $code)] $variant, )*
        }

        impl ErrorCode {
            /// Every code, in the order README.md lists them.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as clients see it (`"invalid_request"`).
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status of a response carrying this code. Codes only the CLI or the
            /// job JSON carry have the status they would have as an answer.
            pub const fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// True when the same request may succeed later, unchanged: the cause is a
            /// passing condition (load, an outage, a lost upload, a job not finished yet),
            /// not the request or its media.
            pub const fn is_retryable(self) -> bool {
                match self { $(ErrorCode::$variant => transient!($retry),)* }
            }
        }
    };
}

registry! {
    // The request itself.
    /// The request is malformed: its body, query string, headers or multipart parts.
    InvalidRequest = "invalid_request" => 400, permanent;
    /// The output options are invalid or contradict each other (the CLI exits 2).
    InvalidOptions = "invalid_options" => 400, permanent;
    /// A source or webhook URL is malformed, is not http(s), or carries credentials.
    InvalidUrl = "invalid_url" => 400, permanent;
    /// `cursor` does not come from a previous page of the job listing.
    InvalidCursor = "invalid_cursor" => 400, permanent;
    /// The URL guard refused the address (private, loopback, link-local, cloud metadata).
    UrlForbidden = "url_forbidden" => 400, permanent;
    /// This `Idempotency-Key` came before with a different request.
    IdempotencyKeyReused = "idempotency_key_reused" => 422, permanent;
    // Access, and the resource asked for.
    /// A valid API key is required: `Authorization: Bearer <key>`.
    Unauthorized = "unauthorized" => 401, permanent;
    /// No API keys are configured, so only loopback clients are served.
    Forbidden = "forbidden" => 403, permanent;
    /// No such job for this key (or no such route), or its output object is gone from
    /// storage.
    NotFound = "not_found" => 404, permanent;
    /// The route does not take this method.
    MethodNotAllowed = "method_not_allowed" => 405, permanent;
    /// The job has no output yet (queued or running); a failed or canceled job answers it
    /// too, and never gets one.
    NotReady = "not_ready" => 409, transient;
    /// The job's output was deleted (`DELETE /v1/jobs/{id}` on a finished job).
    OutputDeleted = "output_deleted" => 410, permanent;
    /// The `Range` asked for holds no byte of the output.
    RangeNotSatisfiable = "range_not_satisfiable" => 416, permanent;
    // Resumable uploads (tus, `/v1/uploads`).
    /// `Tus-Resumable` is missing or names a version this server does not speak (1.0.0).
    TusVersionUnsupported = "tus_version_unsupported" => 412, permanent;
    /// Upload bytes must come as `Content-Type: application/offset+octet-stream`.
    InvalidContentType = "invalid_content_type" => 415, permanent;
    /// `Upload-Offset` is not the upload's offset: `HEAD` gives the one to resume from.
    OffsetMismatch = "offset_mismatch" => 409, permanent;
    /// Another request is writing this upload; retry once it ends.
    UploadLocked = "upload_locked" => 423, transient;
    /// The upload was terminated, or taken over by another request, while this one wrote.
    UploadConflict = "upload_conflict" => 409, permanent;
    /// The body differs from its `Upload-Checksum`; none of it was kept (a resend may pass).
    ChecksumMismatch = "checksum_mismatch" => 460, transient;
    /// `Upload-Checksum` names an algorithm other than `sha256` and `sha1`.
    ChecksumAlgorithmUnsupported = "checksum_algorithm_unsupported" => 400, permanent;
    /// The upload was terminated (`DELETE`): its bytes are gone.
    UploadTerminated = "upload_terminated" => 410, permanent;
    /// The upload got no byte for `AUDIOTAP_UPLOAD_EXPIRY_SECS`: its bytes are gone.
    UploadExpired = "upload_expired" => 410, permanent;
    // The source and its media.
    /// The upload or URL source is larger than the configured maximum.
    SourceTooLarge = "source_too_large" => 413, permanent;
    /// The source could not be read: network failure, timeout, a non-2xx answer, a source
    /// that changed during the transfer, or a local input that is missing or unreadable.
    SourceUnreachable = "source_unreachable" => 422, transient;
    /// Jobs only: the job's uploaded input was gone when the job ran; submit it again.
    SourceMissing = "source_missing" => 500, transient;
    /// The input has no audio track.
    NoAudioTrack = "no_audio_track" => 422, permanent;
    /// The asked track (`track`, `language`) is not in the input.
    TrackNotFound = "track_not_found" => 422, permanent;
    /// The input's bytes are not valid media (truncated, corrupt, hostile).
    InvalidMedia = "invalid_media" => 422, permanent;
    /// Valid media whose audio codec this build cannot decode (or the chosen engine).
    UnsupportedCodec = "unsupported_codec" => 422, permanent;
    /// Valid media whose container this build cannot read (or the chosen engine).
    UnsupportedFormat = "unsupported_format" => 422, permanent;
    /// A configured limit refused the job (duration, channels, output size, `--timeout`).
    LimitExceeded = "limit_exceeded" => 422, permanent;
    /// Jobs only: the extraction outlasted the service's wall-time budget
    /// (`AUDIOTAP_JOB_TIMEOUT_SECS`); send a shorter part (`start`, `duration`).
    JobTimeout = "job_timeout" => 422, permanent;
    // The service.
    /// Too many jobs are waiting; retry after `Retry-After`.
    QueueFull = "queue_full" => 503, transient;
    /// Every upload or synchronous extraction slot is taken; retry after `Retry-After`.
    Busy = "busy" => 503, transient;
    /// Output storage failed or is unreachable; retry after `Retry-After`.
    StorageUnavailable = "storage_unavailable" => 503, transient;
    /// Jobs only: the attempt failed for a passing reason (storage, I/O) and the job is
    /// queued for another attempt.
    Retrying = "retrying" => 503, transient;
    /// The work stopped before its end: `DELETE` on the job, or the server shutting down
    /// during `POST /v1/extract`.
    Canceled = "canceled" => 503, transient;
    /// Local I/O failed on the writing side: a full disk, or (CLI) an output path that
    /// cannot be written.
    IoError = "io_error" => 500, transient;
    /// A fault on our side; the details are in the server's log.
    Internal = "internal" => 500, transient;
    /// CLI `serve` only: the service could not start (a setting, or what it names: the
    /// listen address, the job store, storage).
    Config = "config" => 500, permanent;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no registered code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCode(s.to_string()))
    }
}

/// `err.code() == "no_audio_track"`: scripts and tests compare with the string form.
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::PathBuf;

    fn repo_file(rel: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn strings_are_unique_snake_case_and_match_serde() {
        let mut seen = HashSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s} is not snake_case"
            );
            assert_eq!(serde_json::to_value(code).unwrap(), s);
            assert_eq!(serde_json::from_value::<ErrorCode>(s.into()).unwrap(), code);
            assert_eq!(s.parse::<ErrorCode>(), Ok(code));
            assert_eq!(code.to_string(), s);
            assert!(
                (400..600).contains(&code.http_status()),
                "{s}: {}",
                code.http_status()
            );
        }
        assert!("job_timeout".parse::<ErrorCode>().is_ok());
        assert_eq!(
            "no_such_code".parse::<ErrorCode>(),
            Err(UnknownCode("no_such_code".into()))
        );
        assert!(serde_json::from_str::<ErrorCode>("\"InvalidRequest\"").is_err());
    }

    /// The rows of README.md's "Error codes" table: `| `code` | status | yes/no | meaning |`.
    fn readme_rows() -> Vec<(String, u16, bool)> {
        let readme = repo_file("README.md");
        let section = readme
            .split("\n## Error codes\n")
            .nth(1)
            .expect("README.md has a `## Error codes` section");
        let section = section.split("\n## ").next().unwrap_or(section);
        section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .map(|row| {
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                let code = cells[0].trim_end_matches('`').to_string();
                let status = cells[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("README: {code}: status {:?}", cells[1]));
                let retry = match cells[2] {
                    "yes" => true,
                    "no" => false,
                    other => panic!("README: {code}: retry {other:?} (yes or no)"),
                };
                (code, status, retry)
            })
            .collect()
    }

    #[test]
    fn readme_lists_every_code_with_its_status_and_retry() {
        let rows = readme_rows();
        let listed: Vec<&str> = rows.iter().map(|(c, _, _)| c.as_str()).collect();
        let registry: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            listed, registry,
            "README.md's error code table and src/error_code.rs differ"
        );
        for (code, status, retry) in &rows {
            let c: ErrorCode = code.parse().unwrap();
            assert_eq!(*status, c.http_status(), "README: status of {code}");
            assert_eq!(*retry, c.is_retryable(), "README: retry of {code}");
        }
    }

    #[test]
    fn openapi_lists_every_code_for_problems_and_failed_jobs() {
        let doc: serde_json::Value = yaml_serde::from_str(&repo_file("openapi/openapi.yaml"))
            .expect("openapi/openapi.yaml parses");
        let schemas = &doc["components"]["schemas"];
        let listed: Vec<&str> = schemas["ErrorCode"]["enum"]
            .as_array()
            .expect("openapi.yaml: ErrorCode has an enum")
            .iter()
            .map(|v| v.as_str().expect("string codes"))
            .collect();
        let registry: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            listed, registry,
            "openapi.yaml's ErrorCode enum and src/error_code.rs differ"
        );
        let code_ref = "#/components/schemas/ErrorCode";
        assert_eq!(
            schemas["Problem"]["properties"]["code"]["$ref"], code_ref,
            "Problem.code"
        );
        assert_eq!(
            schemas["JobError"]["properties"]["code"]["$ref"], code_ref,
            "JobError.code"
        );
    }
}
