//! `PATCH /v1/uploads/{id}`: bytes at the upload's offset, under its lock; the request
//! that brings the last byte makes the job.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use time::OffsetDateTime;
use uuid::Uuid;

use super::finish;
use super::protocol::{self, TusError, TusResult, UPLOAD_OFFSET, bad};
use super::receive::{self, HOLD, Holder};
use super::reply::{answer, busy, completed, ended, mismatch, not_found, parse_id, refuse};
use crate::ErrorCode;
use crate::api::error::{ApiError, Problem};
use crate::api::state::{AppState, Caller};
use crate::jobs::uploads::{Lock, Upload, UploadState};

/// Append bytes at `Upload-Offset` (tus core). The answer to the `PATCH` that brings the
/// last byte carries `Location: /v1/jobs/{id}`, the job made from the upload.
#[utoipa::path(
    patch, path = "/v1/uploads/{id}", tag = "uploads", operation_id = "append_upload",
    params(
        ("id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Offset" = u64, Header, description = "Where these bytes start: the offset HEAD reported"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha256 <base64>` or `sha1 <base64>` of the body: all of it is kept or none"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Bytes kept", headers(
            ("Upload-Offset" = u64, description = "The new offset"),
            ("Upload-Expires" = String, description = "When an unfinished upload is removed"),
            ("Location" = String, description = "The job's URL, on the PATCH that completes the upload"),
            ("Audiotap-Job-Location" = String, description = "The same, under a name only this means"),
        )),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Upload-Offset is not the upload's offset (`offset_mismatch`), or the upload changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Terminated or expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body runs past Upload-Length", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "Another request is writing this upload", body = Problem, content_type = "application/problem+json"),
        (status = 460, description = "Checksum mismatch: the body was discarded", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn append(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut body = Some(body);
    match take(&state, caller, &id, &headers, &mut body).await {
        Ok(resp) => resp,
        Err(e) => refuse(body, e).await,
    }
}

async fn take(
    state: &AppState,
    caller: Caller,
    id: &str,
    headers: &HeaderMap,
    body: &mut Option<Body>,
) -> TusResult<Response> {
    protocol::check_version(headers)?;
    if !protocol::is_offset_stream(headers) {
        return Err(protocol::wrong_content_type());
    }
    let offset = protocol::number(headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| bad(ErrorCode::InvalidRequest, "Upload-Offset is missing"))?;
    let content_length = protocol::number(headers, &header::CONTENT_LENGTH)?;
    let checksum = protocol::parse_checksum(headers)?;
    let uid = parse_id(id)?;
    let svc = state.svc.clone();
    let slot = state
        .upload_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| busy())?;
    let token = Uuid::now_v7().to_string();
    let uploads = svc.store.uploads();
    let up = match uploads
        .lock_upload(uid, caller.owner.as_deref(), &token, HOLD)
        .await
        .map_err(ApiError::from)?
    {
        Lock::Held(up) => up,
        Lock::Missing => return Err(not_found(id)),
        Lock::Busy => {
            return Err(TusError(ApiError::new(
                ErrorCode::UploadLocked,
                "another request is writing this upload; retry after it ends (HEAD gives the offset)",
            )));
        }
        // A repeated last PATCH (its answer was lost) gets the same answer again.
        Lock::Ended(up)
            if up.state == UploadState::Complete
                && offset == up.length
                && content_length.unwrap_or(0) == 0 =>
        {
            return Ok(completed(&up));
        }
        Lock::Ended(up) if up.state == UploadState::Complete => {
            return Err(mismatch(offset, &up));
        }
        Lock::Ended(up) => return Err(ended(&up)),
    };
    if offset != up.offset || content_length.is_some_and(|n| n > up.length - up.offset) {
        let mut holder = Holder::new(&svc, &token, up.clone());
        let _ = holder.release(&up).await;
        return Err(if offset != up.offset {
            mismatch(offset, &up)
        } else {
            TusError(ApiError::new(
                ErrorCode::SourceTooLarge,
                format!(
                    "Content-Length runs past Upload-Length: {} bytes remain",
                    up.length - up.offset
                ),
            ))
        });
    }
    // In a task of its own: a client that hangs up cancels this handler, but the bytes
    // that did arrive must still be recorded and the lock released.
    let stream = body
        .take()
        .unwrap_or_default()
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let task_state = state.clone();
    let run = tokio::spawn(async move {
        let _slot = slot;
        take_bytes(&task_state, &caller, up, token, stream, checksum).await
    });
    match run.await {
        Ok((up, Ok(()))) if up.state == UploadState::Complete => Ok(completed(&up)),
        Ok((up, Ok(()))) => Ok(answer(StatusCode::NO_CONTENT, &up)),
        Ok((up, Err(e))) => {
            let mut resp = e.into_response();
            resp.headers_mut()
                .insert(UPLOAD_OFFSET.clone(), HeaderValue::from(up.offset));
            Ok(resp)
        }
        Err(e) => Err(TusError(ApiError::internal(format!("upload task: {e}")))),
    }
}

/// Receive one body under the lock, then make the job if the upload is complete, and
/// release the lock. Returns the upload as recorded, and why not all was kept (if so).
pub(super) async fn take_bytes<S>(
    state: &AppState,
    caller: &Caller,
    mut up: Upload,
    token: String,
    body: S,
    checksum: Option<protocol::Checksum>,
) -> (Upload, TusResult<()>)
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin + Send,
{
    let svc = &state.svc;
    let mut holder = Holder::new(svc, &token, up.clone());
    let received = receive::receive(&mut holder, &mut up, body, checksum.as_ref()).await;
    let mut up = holder.committed.clone();
    // Every byte is recorded (also when the connection broke right after the last one):
    // make the job, unless the lock went to another request meanwhile.
    let lost = matches!(&received, Err(e) if e.0.code() == ErrorCode::UploadConflict);
    if !lost && up.offset == up.length {
        return match finish::make_job(state, caller, &up).await {
            Ok(job) => {
                up.state = UploadState::Complete;
                up.job_id = Some(job.id);
                up.expires_at = OffsetDateTime::now_utc() + finish::expiry(svc);
                metrics::counter!("audiotap_uploads_completed_total").increment(1);
                match holder.release(&up).await {
                    Ok(true) => (up, Ok(())),
                    Ok(false) => (up, Err(receive::lock_lost())),
                    Err(e) => (up, Err(e)),
                }
            }
            Err(e) => (up, Err(e)),
        };
    }
    up.expires_at = OffsetDateTime::now_utc() + finish::expiry(svc);
    let released = holder.release(&up).await;
    if matches!(released, Ok(false)) {
        // Ended meanwhile (terminated or expired): what this request wrote is nobody's.
        if let Ok(Some(now)) = svc.store.uploads().get_upload(up.id, None).await
            && now.state != UploadState::Receiving
            && now.state != UploadState::Complete
        {
            receive::remove_bytes(svc, &up).await;
        }
    }
    match (received, released) {
        (Err(e), _) | (Ok(()), Err(e)) => (up, Err(e)),
        (Ok(()), Ok(true)) => (up, Ok(())),
        (Ok(()), Ok(false)) => (up, Err(receive::lock_lost())),
    }
}
