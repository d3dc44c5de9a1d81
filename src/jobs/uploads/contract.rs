//! What every job store promises about resumable uploads: the [`UploadStore`] trait, the
//! upload record and its states, and the helpers both back ends share.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::jobs::store::StoreResult;

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadState {
    /// Bytes may still arrive.
    Receiving,
    /// Every byte arrived; `job_id` names the job made from it (once made).
    Complete,
    /// Deleted by its client (tus termination): bytes gone, the record answers 410 until purged.
    Terminated,
    /// Not finished in time: bytes gone, the record answers 410 until purged.
    Expired,
}

impl UploadState {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Receiving => "receiving",
            UploadState::Complete => "complete",
            UploadState::Terminated => "terminated",
            UploadState::Expired => "expired",
        }
    }
}

/// An S3 multipart upload that receives an upload's bytes. Every part but the last is
/// `part_size` bytes; bytes past the last whole part wait in the `tail` object (`tail_len`
/// bytes) until they make a part, so a `PATCH` on another node can continue from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultipartState {
    /// The object the upload becomes (also the job's source key).
    pub key: String,
    pub upload_id: String,
    pub part_size: u64,
    /// ETags of the parts uploaded so far, part 1 first.
    pub etags: Vec<String>,
    pub tail_key: String,
    pub tail_len: u64,
}

impl MultipartState {
    /// Bytes held in whole parts.
    pub fn parts_len(&self) -> u64 {
        self.part_size * self.etags.len() as u64
    }
}

/// One resumable upload (the stored document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub id: Uuid,
    /// The API key's owner scope ("" when no keys are configured).
    pub owner: String,
    pub state: UploadState,
    /// `Upload-Length`.
    pub length: u64,
    /// Bytes received and kept (`Upload-Offset`).
    pub offset: u64,
    /// `filename` from `Upload-Metadata`.
    pub filename: Option<String>,
    /// `options` from `Upload-Metadata`: a `POST /v1/jobs` body without `source`.
    pub options: Option<serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The job made when the last byte arrived.
    pub job_id: Option<Uuid>,
    /// Set when the bytes go to S3; `None` when they go to a file in the data dir.
    pub multipart: Option<MultipartState>,
}

/// What [`UploadStore::lock_upload`] found.
#[derive(Debug)]
pub enum Lock {
    /// The caller holds the upload until the lock runs out or is released.
    Held(Upload),
    /// Another request holds it.
    Busy,
    /// It exists but takes no more bytes (complete, terminated, expired).
    Ended(Upload),
    /// No such upload for this owner.
    Missing,
}

/// Durable state of resumable uploads. Bytes are written only by the holder of an upload's
/// lock (a token and a time limit, renewed while a request runs); every write of the record
/// by a request is conditional on still holding it. Errors are
/// [`StoreError`](crate::jobs::store::StoreError): the database is unreachable or refused.
#[async_trait]
pub trait UploadStore: Send + Sync {
    /// Record a new upload, locked by `token` for `hold` when given (creation with bytes).
    async fn create_upload(&self, up: &Upload, lock: Option<(&str, Duration)>) -> StoreResult<()>;
    /// The upload, when it exists for `owner` (`None`: any owner).
    async fn get_upload(&self, id: Uuid, owner: Option<&str>) -> StoreResult<Option<Upload>>;
    /// Take the lock of a receiving upload for `hold` when nobody holds it (or their lock
    /// ran out).
    async fn lock_upload(
        &self,
        id: Uuid,
        owner: Option<&str>,
        token: &str,
        hold: Duration,
    ) -> StoreResult<Lock>;
    /// Write `up` (and its state) while `token` holds the lock: keep it for `hold` more, or
    /// release it (`None`). False, writing nothing, when the lock is no longer `token`'s
    /// (terminated meanwhile, or taken over after it ran out).
    async fn save_upload(
        &self,
        up: &Upload,
        token: &str,
        hold: Option<Duration>,
    ) -> StoreResult<bool>;
    /// End a receiving or complete upload as `state` (terminated or expired), whoever holds
    /// it, keeping the record until `keep_until`; returns it as it was, for its bytes to be
    /// removed. `None` when it does not exist for `owner` or had already ended so.
    async fn end_upload(
        &self,
        id: Uuid,
        owner: Option<&str>,
        state: UploadState,
        keep_until: OffsetDateTime,
    ) -> StoreResult<Option<Upload>>;
    /// Receiving uploads whose expiry passed before `now` and that no request holds.
    async fn expired_uploads(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<Upload>>;
    /// Delete records that take no more bytes and whose `expires_at` passed before `before`.
    async fn purge_uploads(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn hold_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
