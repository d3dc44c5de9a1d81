//! Reading a job request in its three shapes: JSON with a URL source, multipart (`file` +
//! `options`), or a raw video body with options in the query string. Uploads stream to a
//! temporary file with a size cap, hashed on the way; nothing is held whole in memory.

use std::path::Path;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use futures_util::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use crate::ErrorCode;
use crate::spec::{Codec, Engine, Format, OutputSpec, SampleFormat};

/// Where a job's input comes from.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// An http(s) URL to download the video from.
    pub url: String,
}

/// `POST /v1/jobs` and `POST /v1/extract` with a JSON body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJobRequest {
    pub source: SourceSpec,
    #[serde(default)]
    pub output: OutputSpec,
    /// Called when the job ends (Standard Webhooks signature).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Returned as given on the job.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Value>,
}

/// The `options` part of a multipart request: the JSON request without `source`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadOptions {
    #[serde(default)]
    pub output: OutputSpec,
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Value>,
}

/// Options as query parameters, for a raw video body.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueryOptions {
    pub format: Option<Format>,
    pub sample_rate: Option<u32>,
    pub bit_depth: Option<u16>,
    pub sample_format: Option<SampleFormat>,
    pub channels: Option<u16>,
    pub track: Option<usize>,
    pub language: Option<String>,
    pub start: Option<f64>,
    pub duration: Option<f64>,
    pub codec: Option<Codec>,
    pub bitrate: Option<u32>,
    pub engine: Option<Engine>,
    pub webhook_url: Option<String>,
    /// The uploaded file's name, for the job record.
    pub filename: Option<String>,
}

impl QueryOptions {
    pub(crate) fn spec(&self) -> OutputSpec {
        OutputSpec {
            format: self.format.unwrap_or(Format::Wav),
            sample_rate: self.sample_rate,
            bit_depth: self.bit_depth,
            sample_format: self.sample_format,
            channels: self.channels,
            track: self.track,
            language: self.language.clone(),
            start: self.start,
            duration: self.duration,
            codec: self.codec.unwrap_or_default(),
            bitrate: self.bitrate,
            engine: self.engine.unwrap_or_default(),
        }
    }
}

/// A received upload: a temporary file (removed on drop unless kept).
pub struct Upload {
    pub file: tempfile::TempPath,
    pub filename: Option<String>,
    pub size: u64,
    pub sha256: String,
}

pub enum Source {
    Url(String),
    Upload(Upload),
    /// Already in object storage under this key (a resumable upload that went to S3).
    Stored(Stored),
}

/// An upload that arrived straight into object storage.
pub struct Stored {
    pub key: String,
    pub filename: Option<String>,
    pub size: u64,
}

/// A parsed job request.
pub struct JobRequest {
    pub source: Source,
    pub spec: OutputSpec,
    pub webhook_url: Option<String>,
    pub metadata: serde_json::Value,
    /// Identifies the request for Idempotency-Key: same hash, same request.
    pub request_hash: String,
}

/// True for a raw-body upload (neither JSON nor multipart): its options are in the query,
/// so the body can be read while the engine already works on it.
pub(crate) fn is_raw_body(req: &Request) -> bool {
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence != "application/json" && essence != "multipart/form-data"
}

/// True for a multipart upload.
pub(crate) fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("multipart/form-data"))
}

/// The `options` part of a multipart upload (JSON, at most 64 KiB).
pub(crate) async fn options_part(
    field: axum::extract::multipart::Field<'_>,
) -> ApiResult<UploadOptions> {
    let text = field
        .text()
        .await
        .map_err(|e| ApiError::invalid_request(e.body_text()))?;
    if text.len() > 64 * 1024 {
        return Err(ApiError::invalid_request(
            "the options part is larger than 64 KiB",
        ));
    }
    serde_json::from_str(&text)
        .map_err(|e| ApiError::new(ErrorCode::InvalidOptions, format!("options: {e}")))
}

pub(crate) fn duplicate_part(name: &str) -> ApiError {
    ApiError::invalid_request(format!("more than one {name} part"))
}

pub(crate) fn unexpected_part(name: Option<&str>) -> ApiError {
    ApiError::invalid_request(format!(
        "unexpected multipart part {:?} (expected file and options)",
        name.unwrap_or("")
    ))
}

pub(crate) fn no_file_part() -> ApiError {
    ApiError::invalid_request("the multipart body has no file part")
}

pub(crate) fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::invalid_request(e.body_text())
}

/// Read a request in any of the three shapes. `dir` receives uploads.
pub async fn read_job_request(req: Request, dir: &Path, max_bytes: u64) -> ApiResult<JobRequest> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = ctype.split(';').next().unwrap_or("").trim().to_string();
    let (source, spec, webhook_url, metadata) = if essence == "application/json" {
        let axum::Json(body) = axum::Json::<CreateJobRequest>::from_request(req, &())
            .await
            .map_err(|e| ApiError::invalid_request(e.body_text()))?;
        (
            Source::Url(body.source.url),
            body.output,
            body.webhook_url,
            body.metadata,
        )
    } else if essence == "multipart/form-data" {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::invalid_request(e.body_text()))?;
        let mut upload = None;
        let mut options = UploadOptions::default();
        while let Some(field) = mp
            .next_field()
            .await
            .map_err(|e| ApiError::invalid_request(e.body_text()))?
        {
            match field.name() {
                Some("file") => {
                    if upload.is_some() {
                        return Err(duplicate_part("file"));
                    }
                    let filename = field.file_name().map(sanitize_filename);
                    let stream = field.map(|r| r.map_err(|e| std::io::Error::other(e.body_text())));
                    upload = Some(spool(stream, dir, filename, max_bytes).await?);
                }
                Some("options") => options = options_part(field).await?,
                other => return Err(unexpected_part(other)),
            }
        }
        let upload = upload.ok_or_else(no_file_part)?;
        (
            Source::Upload(upload),
            options.output,
            options.webhook_url,
            options.metadata,
        )
    } else {
        let query = req.uri().query().unwrap_or("");
        let q: QueryOptions = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::new(ErrorCode::InvalidOptions, format!("query: {e}")))?;
        let filename = q.filename.as_deref().map(sanitize_filename);
        let stream = req
            .into_body()
            .into_data_stream()
            .map(|r| r.map_err(std::io::Error::other));
        let upload = spool(stream, dir, filename, max_bytes).await?;
        if upload.size == 0 {
            return Err(empty_body());
        }
        (
            Source::Upload(upload),
            q.spec(),
            q.webhook_url.clone(),
            None,
        )
    };
    job_request(source, spec, webhook_url, metadata)
}

/// A job request from its parts, once the source is in hand (any of the three shapes above,
/// or a finished resumable upload): options validated, request hash computed.
pub(crate) fn job_request(
    source: Source,
    spec: OutputSpec,
    webhook_url: Option<String>,
    metadata: Option<serde_json::Value>,
) -> ApiResult<JobRequest> {
    let metadata = check_options(&spec, webhook_url.as_deref(), metadata)?;
    if let Source::Url(url) = &source {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ApiError::new(ErrorCode::InvalidUrl, format!("source.url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ApiError::new(
                ErrorCode::InvalidUrl,
                "source.url must be http or https",
            ));
        }
    }
    let mut h = Sha256::new();
    match &source {
        Source::Url(u) => h.update(format!("url:{u}")),
        Source::Upload(up) => h.update(format!("upload:{}", up.sha256)),
        Source::Stored(st) => h.update(format!("stored:{}", st.key)),
    }
    h.update(serde_json::to_vec(&spec).unwrap_or_default());
    h.update(webhook_url.as_deref().unwrap_or(""));
    h.update(serde_json::to_vec(&metadata).unwrap_or_default());
    Ok(JobRequest {
        source,
        spec,
        webhook_url,
        metadata,
        request_hash: hex::encode(h.finalize()),
    })
}

/// Check a job's options (output spec, webhook URL, metadata) the same way whatever shape
/// the request had; returns the metadata object (`{}` when absent).
pub(crate) fn check_options(
    spec: &OutputSpec,
    webhook_url: Option<&str>,
    metadata: Option<serde_json::Value>,
) -> ApiResult<serde_json::Value> {
    spec.validate()?;
    let metadata = metadata.unwrap_or_else(|| serde_json::json!({}));
    if !metadata.is_object() {
        return Err(ApiError::invalid_request("metadata must be a JSON object"));
    }
    if serde_json::to_vec(&metadata).map(|v| v.len()).unwrap_or(0) > 16 * 1024 {
        return Err(ApiError::invalid_request("metadata is larger than 16 KiB"));
    }
    if let Some(url) = webhook_url {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ApiError::new(ErrorCode::InvalidUrl, format!("webhook_url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ApiError::new(
                ErrorCode::InvalidUrl,
                "webhook_url must be http or https",
            ));
        }
    }
    Ok(metadata)
}

/// Only the last path segment, printable, at most 255 bytes.
pub(crate) fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        "upload".into()
    } else {
        clean
    }
}

pub(crate) async fn spool<S>(
    stream: S,
    dir: &Path,
    filename: Option<String>,
    max_bytes: u64,
) -> ApiResult<Upload>
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin,
{
    let tmp = incoming_file(dir).await?;
    let (size, sha256) = write_upload(stream, &tmp, max_bytes, None).await?;
    Ok(Upload {
        file: tmp,
        filename,
        size,
        sha256,
    })
}

/// A new, empty `.incoming-*` file in `dir` (removed on drop).
async fn incoming_file(dir: &Path) -> ApiResult<tempfile::TempPath> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(ApiError::internal)?;
    Ok(tempfile::Builder::new()
        .prefix(".incoming-")
        .tempfile_in(dir)
        .map_err(ApiError::internal)?
        .into_temp_path())
}

/// Write an upload body into `path` under the size cap; returns its size and SHA-256.
/// With `on_written`, every chunk is flushed and then announced with its length (the engine
/// extracts while the upload arrives); without, writes are buffered.
pub(crate) async fn write_upload<S>(
    mut stream: S,
    path: &Path,
    max_bytes: u64,
    on_written: Option<&(dyn Fn(u64) + Sync)>,
) -> ApiResult<(u64, String)>
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin,
{
    let mut file = tokio::io::BufWriter::with_capacity(
        1 << 20,
        tokio::fs::File::create(path)
            .await
            .map_err(ApiError::internal)?,
    );
    let mut size = 0u64;
    let mut h = Sha256::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            // A body over the server's hard limit shows up as a read error.
            if e.to_string().contains("length limit") {
                too_large(max_bytes)
            } else {
                ApiError::invalid_request(format!("the upload broke off: {e}"))
            }
        })?;
        size += chunk.len() as u64;
        if size > max_bytes {
            drain_briefly(&mut stream).await;
            return Err(too_large(max_bytes));
        }
        h.update(&chunk);
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
        if let Some(announce) = on_written {
            file.flush().await.map_err(ApiError::internal)?;
            announce(chunk.len() as u64);
        }
    }
    file.flush().await.map_err(ApiError::internal)?;
    metrics::counter!("audiotap_bytes_in_total").increment(size);
    Ok((size, hex::encode(h.finalize())))
}

/// Read and discard a little more of a refused body before answering. A server that
/// answers and closes while the client is still sending makes the kernel reset the
/// connection, and the client may then never read the 413; a short drain lets uploads that
/// overshoot the limit by a few MiB see the answer. Larger ones are cut off.
async fn drain_briefly<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin,
{
    const DRAIN_BYTES: usize = 8 << 20;
    let drain = async {
        let mut n = 0;
        while let Some(Ok(chunk)) = stream.next().await {
            n += chunk.len();
            if n > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drain).await;
}

/// A raw-body request without a body.
pub(crate) fn empty_body() -> ApiError {
    ApiError::invalid_request(
        "empty body: send the video as the body, as multipart/form-data, or a JSON request with a URL source",
    )
}

pub fn too_large(max: u64) -> ApiError {
    ApiError::new(
        ErrorCode::SourceTooLarge,
        format!("the upload is larger than the {max}-byte limit"),
    )
}

pub type BodyStream = Body;
