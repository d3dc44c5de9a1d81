//! One request's bytes of a resumable upload, written by the holder of the upload's lock:
//! appended to its file in the data dir, or cut into parts of its S3 multipart upload.
//!
//! What is kept: without `Upload-Checksum`, every byte that arrived, also when the client
//! hangs up mid-way (that is what makes the upload resumable); with one, all of the body or
//! nothing. Progress is recorded as it goes (on S3, part by part), so a node that dies
//! mid-request loses at most the bytes since the last record. Bytes past the recorded offset
//! are never trusted: the next request starts from the offset.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::protocol::{BodyHasher, Checksum, TusError, TusResult};
use crate::ErrorCode;
use crate::api::error::ApiError;
use crate::jobs::Services;
use crate::jobs::uploads::{MultipartState, Upload, UploadState};

/// How long a lock holds without renewal: a node that dies mid-request frees the upload
/// after this.
pub(crate) const HOLD: Duration = Duration::from_secs(60);
/// Renew (and record progress) this often while bytes arrive.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Stop writing this long before the lock would run out without a renewal.
const MARGIN: Duration = Duration::from_secs(15);

/// Where an upload's bytes wait when they go to the data dir.
pub(crate) fn local_path(svc: &Services, id: uuid::Uuid) -> PathBuf {
    svc.config.data_dir.join("tus").join(id.to_string())
}

/// The request's lock on the upload and the last record written under it.
pub(crate) struct Holder<'a> {
    svc: &'a Services,
    token: &'a str,
    renewed: Instant,
    /// The upload as last recorded (what a renewal writes again).
    pub(crate) committed: Upload,
}

impl<'a> Holder<'a> {
    pub(crate) fn new(svc: &'a Services, token: &'a str, up: Upload) -> Self {
        Holder {
            svc,
            token,
            renewed: Instant::now(),
            committed: up,
        }
    }

    /// Record `up` and keep the lock. Fails when the lock is gone (terminated, or taken over).
    pub(crate) async fn commit(&mut self, up: &Upload) -> TusResult<()> {
        let kept = self
            .svc
            .store
            .uploads()
            .save_upload(up, self.token, Some(HOLD))
            .await
            .map_err(ApiError::from)?;
        if !kept {
            return Err(lock_lost());
        }
        self.renewed = Instant::now();
        self.committed = up.clone();
        Ok(())
    }

    /// Record `up` and release the lock; false when the lock was already gone.
    pub(crate) async fn release(&mut self, up: &Upload) -> TusResult<bool> {
        let kept = self
            .svc
            .store
            .uploads()
            .save_upload(up, self.token, None)
            .await
            .map_err(ApiError::from)?;
        if kept {
            self.committed = up.clone();
        }
        Ok(kept)
    }

    fn renew_due(&self) -> bool {
        self.renewed.elapsed() >= RENEW_EVERY
    }

    fn may_write(&self) -> TusResult<()> {
        if self.renewed.elapsed() + MARGIN < HOLD {
            Ok(())
        } else {
            Err(lock_lost())
        }
    }
}

pub(crate) fn lock_lost() -> TusError {
    TusError(ApiError::new(
        ErrorCode::UploadConflict,
        "the upload was terminated or taken over by another request meanwhile",
    ))
}

fn broke_off(e: &std::io::Error) -> TusError {
    TusError(ApiError::new(
        ErrorCode::InvalidRequest,
        format!("the upload broke off: {e}"),
    ))
}

fn too_long(up: &Upload) -> TusError {
    TusError(ApiError::new(
        ErrorCode::SourceTooLarge,
        format!(
            "the body runs past Upload-Length ({} bytes): its bytes were discarded",
            up.length
        ),
    ))
}

/// How a body ended.
enum End {
    Done,
    Broken(std::io::Error),
    TooLong,
    Failed(TusError),
    /// The lock is gone: another request may be writing, so touch nothing.
    Lost(TusError),
}

fn failed(e: TusError) -> End {
    if e.0.code() == ErrorCode::UploadConflict {
        End::Lost(e)
    } else {
        End::Failed(e)
    }
}

fn outcome(end: End, up: &Upload) -> TusResult<()> {
    match end {
        End::Done => Ok(()),
        End::Broken(e) => Err(broke_off(&e)),
        End::TooLong => Err(too_long(up)),
        End::Failed(e) | End::Lost(e) => Err(e),
    }
}

/// Take `body` at `up.offset` (already checked against the client's `Upload-Offset`) and
/// record how far the upload got. On return `holder.committed` is what is kept, and the lock
/// is still held (the caller completes the upload or releases it). An error tells why not
/// all of the body was kept.
pub(crate) async fn receive<S>(
    holder: &mut Holder<'_>,
    up: &mut Upload,
    body: S,
    checksum: Option<&Checksum>,
) -> TusResult<()>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
{
    if up.multipart.is_some() {
        receive_s3(holder, up, body, checksum).await
    } else {
        receive_local(holder, up, body, checksum).await
    }
}

fn io_err(e: std::io::Error) -> TusError {
    TusError(ApiError::internal(format!("upload file: {e}")))
}

async fn receive_local<S>(
    holder: &mut Holder<'_>,
    up: &mut Upload,
    mut body: S,
    checksum: Option<&Checksum>,
) -> TusResult<()>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
{
    let path = local_path(holder.svc, up.id);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .await
        .map_err(io_err)?;
    // Bytes past the recorded offset came from a request that broke off before recording
    // them: drop them.
    file.set_len(up.offset).await.map_err(io_err)?;
    file.seek(SeekFrom::Start(up.offset))
        .await
        .map_err(io_err)?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = checksum.map(Checksum::hasher);
    let end = loop {
        let chunk = match body.next().await {
            None => break End::Done,
            Some(Err(e)) => break End::Broken(e),
            Some(Ok(c)) => c,
        };
        if up.offset + chunk.len() as u64 > up.length {
            break End::TooLong;
        }
        if let Err(e) = holder.may_write() {
            break End::Lost(e);
        }
        if let Err(e) = out.write_all(&chunk).await {
            break End::Failed(io_err(e));
        }
        metrics::counter!("audiotap_upload_bytes_total").increment(chunk.len() as u64);
        if let Some(h) = &mut hasher {
            h.update(&chunk);
        }
        up.offset += chunk.len() as u64;
        if holder.renew_due() {
            let step = if hasher.is_none() {
                // Make the bytes durable before the record says they are there.
                sync(&mut out).await.map(|()| up.clone())
            } else {
                Ok(holder.committed.clone())
            };
            if let Err(e) = match step {
                Ok(record) => holder.commit(&record).await,
                Err(e) => Err(e),
            } {
                break failed(e);
            }
        }
    };
    let keep_all = matches!(end, End::Done) || (hasher.is_none() && matches!(end, End::Broken(_)));
    let verdict = match (&end, checksum, hasher) {
        (End::Done, Some(c), Some(h)) => c.verify(h),
        _ => Ok(()),
    };
    if let End::Lost(e) = end {
        *up = holder.committed.clone();
        return Err(e);
    }
    if keep_all && verdict.is_ok() {
        sync(&mut out).await?;
        holder.commit(up).await?;
    } else {
        // Back to the last record: nothing of this body beyond it is kept.
        *up = holder.committed.clone();
        let file = out.into_inner();
        file.set_len(up.offset).await.map_err(io_err)?;
    }
    verdict?;
    outcome(end, up)
}

async fn sync(out: &mut tokio::io::BufWriter<tokio::fs::File>) -> TusResult<()> {
    out.flush().await.map_err(io_err)?;
    out.get_ref().sync_data().await.map_err(io_err)
}

/// The part being filled: a temp file, so a part is never held in memory.
struct Spool {
    path: tempfile::TempPath,
    out: tokio::io::BufWriter<tokio::fs::File>,
    len: u64,
}

impl Spool {
    async fn new(svc: &Services) -> TusResult<Spool> {
        let dir = svc.config.tmp_dir();
        tokio::fs::create_dir_all(&dir).await.map_err(io_err)?;
        let (file, path) = tempfile::Builder::new()
            .prefix("tus-part-")
            .tempfile_in(&dir)
            .map_err(io_err)?
            .into_parts();
        Ok(Spool {
            path,
            out: tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file)),
            len: 0,
        })
    }

    async fn write(&mut self, b: &[u8]) -> TusResult<()> {
        self.out.write_all(b).await.map_err(io_err)?;
        self.len += b.len() as u64;
        Ok(())
    }

    async fn flush(&mut self) -> TusResult<()> {
        self.out.flush().await.map_err(io_err)
    }

    async fn clear(&mut self) -> TusResult<()> {
        self.flush().await?;
        let f = self.out.get_mut();
        f.set_len(0).await.map_err(io_err)?;
        f.seek(SeekFrom::Start(0)).await.map_err(io_err)?;
        self.len = 0;
        Ok(())
    }
}

fn storage(e: crate::storage::StorageError) -> TusError {
    TusError(ApiError::from(e))
}

async fn receive_s3<S>(
    holder: &mut Holder<'_>,
    up: &mut Upload,
    mut body: S,
    checksum: Option<&Checksum>,
) -> TusResult<()>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
{
    let svc = holder.svc;
    let parts = svc.objects.multipart().ok_or_else(|| {
        TusError(ApiError::internal(
            "the upload went to S3 but storage has no multipart",
        ))
    })?;
    let Some(mut mp) = up.multipart.clone() else {
        return Err(TusError(ApiError::internal("no multipart state")));
    };
    let mut spool = Spool::new(svc).await?;
    // The bytes past the last whole part, kept by an earlier request.
    if mp.tail_len > 0 {
        let tail = svc.objects.get(&mp.tail_key, None).await.map_err(storage)?;
        let mut stream = tail.stream;
        while let Some(chunk) = stream.next().await {
            spool.write(&chunk.map_err(io_err)?).await?;
        }
        if spool.len != mp.tail_len {
            return Err(TusError(ApiError::internal(format!(
                "the tail of upload {} holds {} bytes, not {}",
                up.id, spool.len, mp.tail_len
            ))));
        }
    }
    let had_tail = mp.tail_len > 0;
    let mut hasher: Option<BodyHasher> = checksum.map(Checksum::hasher);
    let end = loop {
        let mut chunk = match body.next().await {
            None => break End::Done,
            Some(Err(e)) => break End::Broken(e),
            Some(Ok(c)) => c,
        };
        if up.offset + chunk.len() as u64 > up.length {
            break End::TooLong;
        }
        if let Err(e) = holder.may_write() {
            break End::Lost(e);
        }
        if let Some(h) = &mut hasher {
            h.update(&chunk);
        }
        metrics::counter!("audiotap_upload_bytes_total").increment(chunk.len() as u64);
        up.offset += chunk.len() as u64;
        let mut trouble = None;
        while !chunk.is_empty() {
            let take = chunk.len().min((mp.part_size - spool.len) as usize);
            let head = chunk.split_to(take);
            if let Err(e) = spool.write(&head).await {
                trouble = Some(e);
                break;
            }
            if spool.len == mp.part_size
                && let Err(e) =
                    put_part(holder, parts, up, &mut mp, &mut spool, hasher.is_none()).await
            {
                trouble = Some(e);
                break;
            }
        }
        if let Some(e) = trouble {
            break failed(e);
        }
        if holder.renew_due() {
            let record = holder.committed.clone();
            if let Err(e) = holder.commit(&record).await {
                break End::Lost(e);
            }
        }
    };
    if let End::Lost(e) = end {
        *up = holder.committed.clone();
        return Err(e);
    }
    let keep_all = matches!(end, End::Done) || (hasher.is_none() && matches!(end, End::Broken(_)));
    let verdict = match (&end, checksum, hasher) {
        (End::Done, Some(c), Some(h)) => c.verify(h),
        _ => Ok(()),
    };
    if keep_all && verdict.is_ok() {
        spool.flush().await?;
        if up.offset == up.length {
            if spool.len > 0 {
                let n = mp.etags.len() as u32 + 1;
                let etag = parts
                    .upload_part(&mp.key, &mp.upload_id, n, &spool.path, spool.len)
                    .await
                    .map_err(storage)?;
                mp.etags.push(etag);
            }
            parts
                .complete_multipart(&mp.key, &mp.upload_id, &mp.etags)
                .await
                .map_err(storage)?;
            mp.tail_len = 0;
        } else if spool.len > 0 {
            svc.objects
                .put_file(&mp.tail_key, &spool.path, "application/octet-stream")
                .await
                .map_err(storage)?;
            mp.tail_len = spool.len;
        } else {
            mp.tail_len = 0;
        }
        if had_tail && mp.tail_len == 0 {
            let _ = svc.objects.delete(&mp.tail_key).await;
        }
        let complete = up.offset == up.length;
        let key = mp.key.clone();
        up.multipart = Some(mp);
        if let Err(e) = holder.commit(up).await {
            if complete {
                // Terminated while the object was being joined: it is nobody's.
                let _ = svc.objects.delete(&key).await;
            }
            return Err(e);
        }
    } else {
        // Back to the last record. Parts this body uploaded past it are uploaded again
        // under the same numbers by the next request, which replaces them.
        *up = holder.committed.clone();
    }
    verdict?;
    outcome(end, up)
}

/// Upload the full spool as the next part; without a checksum to wait for, record it at
/// once (its bytes are then safe whatever happens to the rest of the body).
async fn put_part(
    holder: &mut Holder<'_>,
    parts: &dyn crate::storage::multipart::Multipart,
    up: &mut Upload,
    mp: &mut MultipartState,
    spool: &mut Spool,
    record: bool,
) -> TusResult<()> {
    spool.flush().await?;
    let n = mp.etags.len() as u32 + 1;
    let etag = parts
        .upload_part(&mp.key, &mp.upload_id, n, &spool.path, spool.len)
        .await
        .map_err(storage)?;
    mp.etags.push(etag);
    mp.tail_len = 0;
    spool.clear().await?;
    if record {
        let mut at = up.clone();
        at.offset = mp.parts_len();
        at.multipart = Some(mp.clone());
        holder.commit(&at).await?;
    }
    Ok(())
}

/// Remove what an upload holds (its file, or its multipart upload and tail object).
/// Idempotent; failures are logged (an S3 lifecycle rule catches what is left).
pub(crate) async fn remove_bytes(svc: &Services, up: &Upload) {
    match &up.multipart {
        Some(mp) if up.state != UploadState::Complete => {
            if let Some(parts) = svc.objects.multipart()
                && let Err(e) = parts.abort_multipart(&mp.key, &mp.upload_id).await
            {
                tracing::warn!(error = %e, upload = %up.id, "cannot abort an upload's multipart upload");
            }
            if let Err(e) = svc.objects.delete(&mp.tail_key).await {
                tracing::warn!(error = %e, upload = %up.id, "cannot delete an upload's tail");
            }
        }
        Some(_) => {}
        None => {
            let _ = tokio::fs::remove_file(local_path(svc, up.id)).await;
        }
    }
}
