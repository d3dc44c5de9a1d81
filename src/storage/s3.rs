//! [`S3Store`]: objects in an S3-compatible bucket (AWS S3, Garage, MinIO, Ceph), under an
//! optional key prefix.
//!
//! Uploads under [`SINGLE_PUT_MAX`] are one `PutObject`; larger ones are a multipart upload
//! whose parts are read from the file one by one (a few in flight), and which is aborted on
//! any failure or when the caller gives up, so no half object or orphan upload is left behind.
//!
//! One idea, one file (about 550 lines): every method is one S3 call with its retries and
//! its error mapping, and they share the client and the key prefix; tus parts are apart in
//! `s3/parts.rs`.

use std::path::Path;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream as SdkByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use super::contract::{ByteRange, ByteStream, ObjectBody, ObjectMeta, ObjectStore, validate_key};
use super::error::StorageError;

mod parts;

/// Files smaller than this go up in one `PutObject`.
const SINGLE_PUT_MAX: u64 = 16 * 1024 * 1024;
/// Multipart part size (grown for files that would need more than 10 000 parts).
const PART_SIZE: u64 = 8 * 1024 * 1024;
/// Parts uploaded at once. Each streams from the file, so memory stays small.
const PARTS_IN_FLIGHT: usize = 4;
const MAX_PARTS: u64 = 10_000;
/// Written and deleted by [`S3Store::check`]; `~` cannot occur in a key, so it never collides.
const CHECK_KEY: &str = "~audiotap-readyz";
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Where the S3 back end keeps objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Custom endpoint (Garage, MinIO, …); `None` for AWS.
    pub endpoint: Option<String>,
    /// Must equal the server's region (Garage: its `s3_region`).
    pub region: String,
    /// Prepended to every key, e.g. `audiotap/` (a missing trailing `/` is added).
    pub prefix: String,
    /// Path-style URLs (`endpoint/bucket/key`), needed by most self-hosted servers.
    pub path_style: bool,
}

/// Objects in an S3 bucket. Credentials come from the standard AWS chain (environment,
/// profile, web identity, instance metadata).
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Store {
    /// Builds the client; does not contact the server (see [`ObjectStore::check`]).
    pub async fn new(cfg: S3Config) -> Result<Self, StorageError> {
        if cfg.bucket.trim().is_empty() {
            return Err(StorageError::Backend("S3 bucket name is empty".into()));
        }
        if cfg.region.trim().is_empty() {
            return Err(StorageError::Backend("S3 region is empty".into()));
        }
        let prefix = cfg.prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            validate_key(prefix)
                .map_err(|e| StorageError::InvalidKey(format!("S3 prefix: {e}")))?;
            format!("{prefix}/")
        };

        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(cfg.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .build(),
            );
        if let Some(endpoint) = cfg.endpoint.as_deref().filter(|e| !e.is_empty()) {
            loader = loader.endpoint_url(endpoint);
        }
        let sdk = loader.load().await;
        // Checksums only where the API requires them: several S3-compatible servers reject the
        // newer flexible checksums (Garage fails CompleteMultipartUpload with InvalidDigest).
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(cfg.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Ok(Self {
            client: Client::from_conf(s3),
            bucket: cfg.bucket,
            prefix,
        })
    }

    fn full_key(&self, key: &str) -> Result<String, StorageError> {
        validate_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }

    async fn put_single(
        &self,
        key: &str,
        full: &str,
        path: &Path,
        size: u64,
        content_type: &str,
    ) -> Result<Option<String>, StorageError> {
        let body = file_part(key, path, 0, size).await?;
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(full)
            .content_type(content_type)
            .content_length(size as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| map_err("put", key, e))?;
        Ok(out.e_tag)
    }

    async fn put_multipart(
        &self,
        key: &str,
        full: &str,
        path: &Path,
        size: u64,
        content_type: &str,
    ) -> Result<Option<String>, StorageError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(full)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| map_err("start multipart upload of", key, e))?;
        let upload_id = created.upload_id.ok_or_else(|| {
            StorageError::Backend(format!("no upload id for multipart upload of {key:?}"))
        })?;
        let mut guard = AbortGuard {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: full.to_owned(),
            upload_id: Some(upload_id.clone()),
        };

        let result = self
            .upload_parts_and_complete(key, full, path, size, &upload_id)
            .await;
        match result {
            Ok(etag) => {
                guard.upload_id = None;
                Ok(etag)
            }
            Err(e) => {
                guard.abort().await;
                Err(e)
            }
        }
    }

    async fn upload_parts_and_complete(
        &self,
        key: &str,
        full: &str,
        path: &Path,
        size: u64,
        upload_id: &str,
    ) -> Result<Option<String>, StorageError> {
        let part_size = part_size(size);
        let count = size.div_ceil(part_size);
        let parts: Vec<CompletedPart> = futures_util::stream::iter(0..count)
            .map(|i| {
                let offset = i * part_size;
                let len = part_size.min(size - offset);
                let number = i as i32 + 1;
                async move {
                    let body = file_part(key, path, offset, len).await?;
                    let out = self
                        .client
                        .upload_part()
                        .bucket(&self.bucket)
                        .key(full)
                        .upload_id(upload_id)
                        .part_number(number)
                        .content_length(len as i64)
                        .body(body)
                        .send()
                        .await
                        .map_err(|e| map_err("upload part of", key, e))?;
                    // Only number and ETag: copying the part's checksum into CompletedPart
                    // makes Garage refuse the completion.
                    Ok::<_, StorageError>(
                        CompletedPart::builder()
                            .part_number(number)
                            .set_e_tag(out.e_tag)
                            .build(),
                    )
                }
            })
            .buffered(PARTS_IN_FLIGHT)
            .try_collect()
            .await?;

        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(full)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_err("complete multipart upload of", key, e))?;
        Ok(out.e_tag)
    }
}

/// Part size for a file of `size` bytes: [`PART_SIZE`], or bigger (whole MiB) when the file
/// would otherwise need more than 10 000 parts.
fn part_size(size: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    PART_SIZE.max(size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB)
}

/// `len` bytes of the file at `offset`, read lazily (and re-read on retry).
async fn file_part(
    key: &str,
    path: &Path,
    offset: u64,
    len: u64,
) -> Result<SdkByteStream, StorageError> {
    SdkByteStream::read_from()
        .path(path)
        .offset(offset)
        .length(Length::Exact(len))
        .build()
        .await
        .map_err(|e| StorageError::Io(format!("read source file for {key:?}: {e}")))
}

/// Aborts a multipart upload that did not complete: awaited on the error path, spawned when
/// the put future is dropped mid-way.
struct AbortGuard {
    client: Client,
    bucket: String,
    key: String,
    upload_id: Option<String>,
}

impl AbortGuard {
    async fn abort(&mut self) {
        if let Some(id) = self.upload_id.take() {
            abort_upload(
                self.client.clone(),
                self.bucket.clone(),
                self.key.clone(),
                id,
            )
            .await;
        }
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let (Some(id), Ok(rt)) = (self.upload_id.take(), tokio::runtime::Handle::try_current()) {
            let (client, bucket, key) =
                (self.client.clone(), self.bucket.clone(), self.key.clone());
            rt.spawn(abort_upload(client, bucket, key, id));
        }
    }
}

async fn abort_upload(client: Client, bucket: String, key: String, upload_id: String) {
    let res = client
        .abort_multipart_upload()
        .bucket(&bucket)
        .key(&key)
        .upload_id(&upload_id)
        .send()
        .await;
    if let Err(e) = res {
        tracing::warn!(
            bucket, key, upload_id, error = %DisplayErrorContext(&e),
            "could not abort multipart upload; a bucket lifecycle rule should clean it up"
        );
    }
}

/// Maps an SDK error: 404 → `NotFound`, 416 → `RangeNotSatisfiable` (size 0: the caller
/// fills it in), no answer (connect, timeout, broken body) → `Io`, any other answer → `Backend`.
fn map_err<E>(
    op: &str,
    key: &str,
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StorageError::Io(format!("{op} {key:?}: {}", DisplayErrorContext(&err)))
        }
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code();
            match (status, code) {
                (_, Some("NoSuchBucket")) => {
                    StorageError::Backend(format!("{op} {key:?}: bucket does not exist"))
                }
                (404, _) | (_, Some("NoSuchKey" | "NotFound")) => {
                    StorageError::NotFound(key.to_owned())
                }
                (416, _) | (_, Some("InvalidRange")) => {
                    StorageError::RangeNotSatisfiable { size: 0 }
                }
                _ => StorageError::Backend(format!(
                    "{op} {key:?}: HTTP {status} {}: {}",
                    code.unwrap_or("(no code)"),
                    se.err().message().unwrap_or("(no message)")
                )),
            }
        }
        _ => StorageError::Backend(format!("{op} {key:?}: {}", DisplayErrorContext(&err))),
    }
}

/// Parses `Content-Range: bytes a-b/size` into `((a, b), size)`.
fn parse_content_range(value: &str) -> Option<((u64, u64), u64)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    Some((
        (a.trim().parse().ok()?, b.trim().parse().ok()?),
        total.trim().parse().ok()?,
    ))
}

fn body_stream(body: SdkByteStream) -> ByteStream {
    Box::pin(futures_util::stream::unfold(body, |mut body| async move {
        body.next()
            .await
            .map(|chunk| (chunk.map_err(std::io::Error::other), body))
    }))
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<ObjectMeta, StorageError> {
        let full = self.full_key(key)?;
        let file_meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| StorageError::Io(format!("source file for {key:?}: {e}")))?;
        if !file_meta.is_file() {
            return Err(StorageError::Io(format!(
                "source file for {key:?} is not a regular file"
            )));
        }
        let size = file_meta.len();
        let etag = if size < SINGLE_PUT_MAX {
            self.put_single(key, &full, path, size, content_type)
                .await?
        } else {
            self.put_multipart(key, &full, path, size, content_type)
                .await?
        };
        Ok(ObjectMeta {
            key: key.to_owned(),
            size,
            content_type: content_type.to_owned(),
            etag,
        })
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<ObjectBody, StorageError> {
        let full = self.full_key(key)?;
        if let Some(r @ ByteRange::Suffix(0)) = range {
            // Servers disagree on `bytes=-0`; HTTP says it selects nothing.
            let size = self.head(key).await?.size;
            r.resolve(size)?;
        }
        let mut req = self.client.get_object().bucket(&self.bucket).key(&full);
        if let Some(r) = range {
            req = req.range(r.to_header());
        }
        let out = match req.send().await.map_err(|e| map_err("get", key, e)) {
            Ok(out) => out,
            Err(StorageError::RangeNotSatisfiable { .. }) => {
                let size = self.head(key).await?.size;
                return Err(StorageError::RangeNotSatisfiable { size });
            }
            Err(e) => return Err(e),
        };
        let length = out.content_length.unwrap_or(0).max(0) as u64;
        // A server may ignore the range and send everything: then there is no Content-Range
        // and `range` stays `None`.
        let (span, size) = match out.content_range.as_deref().and_then(parse_content_range) {
            Some((span, size)) if range.is_some() => (Some(span), size),
            _ => (None, length),
        };
        Ok(ObjectBody {
            meta: ObjectMeta {
                key: key.to_owned(),
                size,
                content_type: out
                    .content_type
                    .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
                etag: out.e_tag,
            },
            range: span,
            stream: body_stream(out.body),
        })
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, StorageError> {
        let full = self.full_key(key)?;
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| map_err("head", key, e))?;
        Ok(ObjectMeta {
            key: key.to_owned(),
            size: out.content_length.unwrap_or(0).max(0) as u64,
            content_type: out
                .content_type
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
            etag: out.e_tag,
        })
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let full = self.full_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| map_err("delete", key, e))
        {
            Ok(_) | Err(StorageError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn check(&self) -> Result<(), StorageError> {
        let bucket_err = |e| match e {
            StorageError::NotFound(_) => {
                StorageError::Backend(format!("bucket {:?} does not exist", self.bucket))
            }
            e => e,
        };
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| bucket_err(map_err("check bucket", &self.bucket, e)))?;
        let probe = format!("{}{CHECK_KEY}", self.prefix);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&probe)
            .body(SdkByteStream::from(Bytes::from_static(b"ok")))
            .send()
            .await
            .map_err(|e| map_err("write probe object", &probe, e))?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&probe)
            .send()
            .await
            .map_err(|e| map_err("delete probe object", &probe, e))?;
        Ok(())
    }

    async fn presigned_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StorageError> {
        let full = self.full_key(key)?;
        let cfg = PresigningConfig::expires_in(ttl)
            .map_err(|e| StorageError::Backend(format!("presign {key:?}: {e}")))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .presigned(cfg)
            .await
            .map_err(|e| map_err("presign", key, e))?;
        Ok(Some(req.uri().to_owned()))
    }

    fn multipart(&self) -> Option<&dyn super::multipart::Multipart> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes() {
        assert_eq!(part_size(20 << 20), PART_SIZE);
        assert_eq!(part_size(PART_SIZE * MAX_PARTS), PART_SIZE);
        let big = 200u64 << 30; // 200 GiB
        let p = part_size(big);
        assert!(
            big.div_ceil(p) <= MAX_PARTS && p.is_multiple_of(1 << 20),
            "{p}"
        );
    }

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some(((0, 9), 100)));
        assert_eq!(parse_content_range("bytes 5-5/6"), Some(((5, 5), 6)));
        assert_eq!(parse_content_range("bytes */100"), None);
    }
}
