//! The ends of a resumable upload: the job made when its last byte arrives (through the
//! same path as `POST /v1/jobs`), and the background sweep that removes uploads left
//! unfinished past their expiry.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::protocol::{TusError, TusResult, bad};
use super::receive::{local_path, remove_bytes};
use crate::ErrorCode;
use crate::api::error::ApiError;
use crate::api::input::{self, Source, Stored, UploadOptions};
use crate::api::jobs::{Submitted, submit};
use crate::api::state::{AppState, Caller};
use crate::jobs::Services;
use crate::jobs::model::Job;
use crate::jobs::store::Idempotency;
use crate::jobs::uploads::{Upload, UploadState};

/// The `options` metadata as job options (checked when the upload was created).
pub(crate) fn options(text: Option<&str>) -> TusResult<UploadOptions> {
    match text {
        None => Ok(UploadOptions::default()),
        Some(t) => serde_json::from_str(t).map_err(|e| {
            bad(
                ErrorCode::InvalidOptions,
                format!("Upload-Metadata options: {e}"),
            )
        }),
    }
}

/// Make the job of a complete upload. Its bytes move to where jobs' uploads wait (or, on
/// S3, the joined object is the source). On failure the bytes are gone and the upload is
/// terminated, so nothing half-made stays behind.
pub(crate) async fn make_job(state: &AppState, caller: &Caller, up: &Upload) -> TusResult<Job> {
    let svc = &state.svc;
    let made = async {
        let opts: UploadOptions = match &up.options {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| bad(ErrorCode::InvalidOptions, format!("options: {e}")))?,
            None => UploadOptions::default(),
        };
        let source = match &up.multipart {
            Some(mp) => Source::Stored(Stored {
                key: mp.key.clone(),
                filename: up.filename.clone(),
                size: up.length,
            }),
            None => Source::Upload(input::Upload {
                file: tempfile::TempPath::try_from_path(local_path(svc, up.id))
                    .map_err(ApiError::internal)?,
                filename: up.filename.clone(),
                size: up.length,
                // Not hashed again (a second read of the whole file): the request is named
                // by the upload's id instead, in its idempotency key below.
                sha256: format!("tus-{}", up.id),
            }),
        };
        let req = input::job_request(source, opts.output, opts.webhook_url, opts.metadata)?;
        // Keyed by the upload: a completion that is retried finds the job made the first time.
        let idem = Idempotency {
            key: format!("tus:{}", up.id),
            request_hash: req.request_hash.clone(),
        };
        match submit(state, caller, req, Some(&idem)).await? {
            Submitted::Created(job) | Submitted::Existing(job) => Ok::<_, TusError>(job),
        }
    };
    match made.await {
        Ok(job) => Ok(job),
        Err(e) => {
            let keep = OffsetDateTime::now_utc() + expiry(svc);
            if let Ok(Some(was)) = svc
                .store
                .uploads()
                .end_upload(up.id, None, UploadState::Terminated, keep)
                .await
            {
                remove_bytes(svc, &was).await;
            }
            if let Some(mp) = &up.multipart {
                let _ = svc.objects.delete(&mp.key).await;
            }
            Err(e)
        }
    }
}

pub(crate) fn expiry(svc: &Services) -> Duration {
    Duration::from_secs(svc.config.upload_expiry_secs)
}

/// Check an upload's options when it is created, as the job would check them, so a bad
/// option is refused before any byte is sent.
pub(crate) fn check(svc: &Services, opts: &UploadOptions) -> TusResult<()> {
    input::check_options(
        &opts.output,
        opts.webhook_url.as_deref(),
        opts.metadata.clone(),
    )?;
    if let Some(url) = &opts.webhook_url
        && let Ok(u) = reqwest::Url::parse(url)
    {
        svc.guard.check_url(&u).map_err(ApiError::from)?;
    }
    Ok(())
}

/// Remove expired uploads (their bytes and multipart uploads) until shutdown, on every node
/// that serves the API; the store's conditional end makes each removal happen once. Records
/// that take no bytes any more are purged one expiry period after theirs.
pub async fn run_expiry(svc: Arc<Services>) {
    let every = expiry(&svc)
        .div_f64(2.0)
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        let now = OffsetDateTime::now_utc();
        let uploads = svc.store.uploads();
        match uploads.expired_uploads(now, 100).await {
            Ok(expired) => {
                for up in expired {
                    match uploads
                        .end_upload(up.id, None, UploadState::Expired, now + expiry(&svc))
                        .await
                    {
                        Ok(Some(was)) => {
                            remove_bytes(&svc, &was).await;
                            metrics::counter!("audiotap_uploads_expired_total").increment(1);
                            tracing::info!(upload = %up.id, offset = was.offset, "removed an expired upload");
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot expire an upload"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list expired uploads"),
        }
        if let Err(e) = uploads.purge_uploads(now - expiry(&svc)).await {
            tracing::warn!(error = %e, "cannot purge ended uploads");
        }
    }
}
