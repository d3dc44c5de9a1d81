//! `/v1/uploads`: resumable uploads (tus 1.0: core, creation, creation-with-upload,
//! termination, expiration, checksum). The job's options travel in `Upload-Metadata`; the
//! job is made when the last byte arrives. Upload state lives in the job store, so any node
//! takes the next request.

mod finish;
mod protocol;
mod receive;

pub use finish::run_expiry;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt;
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::{AppState, Caller};
use crate::jobs::uploads::{Lock, MultipartState, Upload, UploadState};
use crate::storage::multipart::part_size_for;
use protocol::{
    CHECKSUM_ALGORITHMS, EXTENSIONS, JOB_LOCATION, TUS_RESUMABLE, TUS_VERSION, TusError,
    TusResult, UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_OFFSET, bad,
};
use receive::{HOLD, Holder};

fn not_found(id: &str) -> TusError {
    TusError(ApiError::not_found(format!("no upload {id}")))
}

fn parse_id(id: &str) -> TusResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| not_found(id))
}

fn ended(up: &Upload) -> TusError {
    let (code, what) = match up.state {
        UploadState::Terminated => ("upload_terminated", "was terminated"),
        _ => ("upload_expired", "expired"),
    };
    TusError(ApiError::new(
        StatusCode::GONE,
        code,
        format!("upload {} {what}: its bytes are gone", up.id),
    ))
}

fn header_value(v: impl AsRef<str>) -> HeaderValue {
    HeaderValue::from_str(v.as_ref()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Headers every tus answer carries, and the upload's state.
fn answer(status: StatusCode, up: &Upload) -> Response {
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    h.insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(TUS_VERSION));
    h.insert(UPLOAD_OFFSET.clone(), HeaderValue::from(up.offset));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if up.state == UploadState::Receiving {
        h.insert(
            UPLOAD_EXPIRES.clone(),
            header_value(protocol::http_date(up.expires_at)),
        );
    }
    if let Some(job) = up.job_id {
        h.insert(JOB_LOCATION.clone(), header_value(format!("/v1/jobs/{job}")));
    }
    resp
}

/// Busy with too many bodies at once: the same answer `POST /v1/jobs` gives.
fn busy() -> TusError {
    metrics::counter!("audiotap_rejected_total", "reason" => "uploads_busy").increment(1);
    TusError(ApiError::unavailable(
        "busy",
        "too many uploads are being received at once; try again shortly",
        2,
    ))
}

/// What this server speaks: versions, extensions, the size cap, checksum algorithms.
#[utoipa::path(
    options, path = "/v1/uploads", tag = "uploads",
    responses((status = 204, description = "tus discovery", headers(
        ("Tus-Resumable" = String, description = "1.0.0"),
        ("Tus-Version" = String, description = "1.0.0"),
        ("Tus-Extension" = String, description = "creation,creation-with-upload,termination,expiration,checksum"),
        ("Tus-Max-Size" = u64, description = "Largest Upload-Length accepted (AUDIOTAP_MAX_UPLOAD_BYTES)"),
        ("Tus-Checksum-Algorithm" = String, description = "sha256,sha1"),
    )))
)]
pub(crate) async fn discover(State(state): State<AppState>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static(EXTENSIONS));
    h.insert(
        "tus-max-size",
        HeaderValue::from(state.svc.config.max_upload_bytes),
    );
    h.insert(
        "tus-checksum-algorithm",
        HeaderValue::from_static(CHECKSUM_ALGORITHMS),
    );
    resp
}

/// Start an upload (tus creation; with a body, creation-with-upload). `Upload-Metadata`
/// may carry `filename` and `options` (base64 of the JSON of a `POST /v1/jobs` body without
/// `source`); the job is made when the last byte arrives.
#[utoipa::path(
    post, path = "/v1/uploads", tag = "uploads",
    params(
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = u64, Header, description = "The whole upload's size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "`filename <base64>,options <base64 of JSON>`"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha256 <base64>` or `sha1 <base64>` of the body, if any"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "Optional: the first bytes"),
    responses(
        (status = 201, description = "Created", headers(
            ("Location" = String, description = "The upload's URL"),
            ("Upload-Offset" = u64, description = "Bytes kept"),
            ("Upload-Expires" = String, description = "When an unfinished upload is removed"),
            ("Audiotap-Job-Location" = String, description = "The job's URL, when the body completed the upload"),
        )),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Missing or unsupported Tus-Resumable", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> TusResult<Response> {
    protocol::check_version(&headers)?;
    let svc = state.svc.clone();
    if headers.contains_key("upload-defer-length") {
        return Err(bad(
            "invalid_request",
            "Upload-Defer-Length is not supported: send Upload-Length",
        ));
    }
    let length = protocol::number(&headers, &UPLOAD_LENGTH)?
        .ok_or_else(|| bad("invalid_request", "Upload-Length is missing"))?;
    if length == 0 {
        return Err(bad("invalid_request", "an empty upload has no audio"));
    }
    if length > svc.config.max_upload_bytes {
        return Err(TusError(crate::api::input::too_large(
            svc.config.max_upload_bytes,
        )));
    }
    let meta = match headers.get("upload-metadata") {
        Some(v) => protocol::parse_metadata(v.to_str().unwrap_or("\u{0}"))?,
        None => protocol::Metadata::default(),
    };
    let opts = finish::options(meta.options.as_deref())?;
    finish::check(&svc, &opts)?;
    let with_body = headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || headers.contains_key(header::TRANSFER_ENCODING);
    if with_body && !protocol::is_offset_stream(&headers) {
        return Err(protocol::wrong_content_type());
    }
    let checksum = protocol::parse_checksum(&headers)?;
    let counts = svc.store.counts().await.map_err(ApiError::from)?;
    let queued = counts
        .get(&crate::jobs::JobStatus::Queued)
        .copied()
        .unwrap_or(0) as usize;
    if queued >= svc.config.max_queue {
        return Err(TusError(ApiError::unavailable(
            "queue_full",
            format!("{queued} jobs are waiting; try again later"),
            10,
        )));
    }
    let slot = if with_body {
        Some(state.upload_slots.clone().try_acquire_owned().map_err(|_| busy())?)
    } else {
        None
    };

    let id = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    let multipart = match svc.objects.multipart() {
        Some(parts) => {
            let key = format!("uploads/tus-{id}");
            let upload_id = parts
                .create_multipart(&key, "application/octet-stream")
                .await
                .map_err(ApiError::from)?;
            Some(MultipartState {
                tail_key: format!("{key}.part"),
                key,
                upload_id,
                part_size: part_size_for(length),
                etags: Vec::new(),
                tail_len: 0,
            })
        }
        None => None,
    };
    let mut up = Upload {
        id,
        owner: caller.owner.clone().unwrap_or_default(),
        state: UploadState::Receiving,
        length,
        offset: 0,
        filename: meta.filename.as_deref().map(crate::api::input::sanitize_filename),
        options: match &meta.options {
            Some(t) => serde_json::from_str(t).ok(),
            None => None,
        },
        created_at: now,
        expires_at: now + finish::expiry(&svc),
        job_id: None,
        multipart,
    };
    if up.multipart.is_none() {
        let path = receive::local_path(&svc, id);
        let made = async {
            tokio::fs::create_dir_all(path.parent().unwrap_or(&path)).await?;
            tokio::fs::File::create(&path).await
        };
        made.await.map_err(ApiError::internal)?;
    }
    let token = Uuid::now_v7().to_string();
    let lock = with_body.then_some((token.as_str(), HOLD));
    if let Err(e) = svc.store.uploads().create_upload(&up, lock).await {
        receive::remove_bytes(&svc, &up).await;
        return Err(TusError(e.into()));
    }
    metrics::counter!("audiotap_uploads_created_total").increment(1);
    let location = header_value(format!("/v1/uploads/{id}"));
    if with_body {
        // Same as a PATCH at offset 0; whatever happens to the body, the upload exists and
        // the client resumes it with HEAD and PATCH.
        let task_state = state.clone();
        let stream = body
            .into_data_stream()
            .map(|r| r.map_err(std::io::Error::other));
        let run = tokio::spawn(async move {
            let _slot = slot;
            take_bytes(&task_state, &caller, up, token, stream, checksum).await
        });
        let (kept, outcome) = run
            .await
            .map_err(|e| TusError(ApiError::internal(format!("upload task: {e}"))))?;
        up = kept;
        match outcome {
            // Complete, but the job could not be made: the upload is gone with its bytes.
            Err(e) if up.offset == up.length && up.job_id.is_none() => return Err(e),
            // The body was discarded; the upload exists: say where, so it can be resumed.
            Err(e) if e.0.code == "checksum_mismatch" => {
                let mut resp = e.into_response();
                resp.headers_mut().insert(header::LOCATION, location);
                resp.headers_mut()
                    .insert(UPLOAD_OFFSET.clone(), HeaderValue::from(up.offset));
                return Ok(resp);
            }
            // Whatever else happened to the body, the bytes kept are in the offset.
            _ => {}
        }
    }
    let mut resp = answer(StatusCode::CREATED, &up);
    resp.headers_mut().insert(header::LOCATION, location);
    if up.offset == 0 {
        resp.headers_mut()
            .insert(UPLOAD_EXPIRES.clone(), header_value(protocol::http_date(up.expires_at)));
    }
    Ok(resp)
}

/// Receive one body under the lock, then make the job if the upload is complete, and
/// release the lock. Returns the upload as recorded, and why not all was kept (if so).
async fn take_bytes<S>(
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
    if received.is_ok() && up.offset == up.length {
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

/// How far the upload got (tus core). Once complete, `Audiotap-Job-Location` names its job.
#[utoipa::path(
    head, path = "/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id"), ("Tus-Resumable" = String, Header, description = "1.0.0")),
    responses(
        (status = 200, description = "The upload's state", headers(
            ("Upload-Offset" = u64, description = "Bytes kept"),
            ("Upload-Length" = u64, description = "The whole upload's size"),
            ("Upload-Expires" = String, description = "When an unfinished upload is removed"),
            ("Upload-Metadata" = String, description = "As given at creation"),
            ("Audiotap-Job-Location" = String, description = "The job's URL, once complete"),
        )),
        (status = 401, description = "Missing or wrong API key"),
        (status = 404, description = "No such upload"),
        (status = 410, description = "Terminated or expired"),
        (status = 412, description = "Missing or unsupported Tus-Resumable"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> TusResult<Response> {
    protocol::check_version(&headers)?;
    let uid = parse_id(&id)?;
    let up = state
        .svc
        .store
        .uploads()
        .get_upload(uid, caller.owner.as_deref())
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| not_found(&id))?;
    if matches!(up.state, UploadState::Terminated | UploadState::Expired)
        || (up.state == UploadState::Receiving && up.expires_at <= OffsetDateTime::now_utc())
    {
        return Err(ended(&up));
    }
    let mut resp = answer(StatusCode::OK, &up);
    let h = resp.headers_mut();
    h.insert(UPLOAD_LENGTH.clone(), HeaderValue::from(up.length));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut meta = Vec::new();
    if let Some(f) = &up.filename {
        meta.push(format!("filename {}", b64(f)));
    }
    if let Some(o) = &up.options {
        meta.push(format!("options {}", b64(&o.to_string())));
    }
    if !meta.is_empty() {
        h.insert("upload-metadata", header_value(meta.join(",")));
    }
    Ok(resp)
}

/// Append bytes at `Upload-Offset` (tus core). The answer to the `PATCH` that brings the
/// last byte carries `Location: /v1/jobs/{id}`, the job made from the upload.
#[utoipa::path(
    patch, path = "/v1/uploads/{id}", tag = "uploads",
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
) -> TusResult<Response> {
    protocol::check_version(&headers)?;
    if !protocol::is_offset_stream(&headers) {
        return Err(protocol::wrong_content_type());
    }
    let offset = protocol::number(&headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| bad("invalid_request", "Upload-Offset is missing"))?;
    let content_length = protocol::number(&headers, &header::CONTENT_LENGTH)?;
    let checksum = protocol::parse_checksum(&headers)?;
    let uid = parse_id(&id)?;
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
        Lock::Missing => return Err(not_found(&id)),
        Lock::Busy => {
            return Err(TusError(ApiError::new(
                StatusCode::LOCKED,
                "upload_locked",
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
                StatusCode::PAYLOAD_TOO_LARGE,
                "source_too_large",
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

fn mismatch(offset: u64, up: &Upload) -> TusError {
    TusError(ApiError::new(
        StatusCode::CONFLICT,
        "offset_mismatch",
        format!(
            "Upload-Offset is {offset} but the upload has {} bytes: resume from there (HEAD)",
            up.offset
        ),
    ))
}

/// The answer to the `PATCH` that completed the upload: where its job is.
fn completed(up: &Upload) -> Response {
    let mut resp = answer(StatusCode::NO_CONTENT, up);
    if let Some(job) = up.job_id {
        resp.headers_mut()
            .insert(header::LOCATION, header_value(format!("/v1/jobs/{job}")));
    }
    resp
}

/// Stop an upload and remove its bytes (tus termination). A complete upload's job is not
/// touched (cancel it with `DELETE /v1/jobs/{id}`).
#[utoipa::path(
    delete, path = "/v1/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id"), ("Tus-Resumable" = String, Header, description = "1.0.0")),
    responses(
        (status = 204, description = "Terminated"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Already terminated or expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> TusResult<Response> {
    protocol::check_version(&headers)?;
    let uid = parse_id(&id)?;
    let svc = &state.svc;
    let keep = OffsetDateTime::now_utc() + finish::expiry(svc);
    let uploads = svc.store.uploads();
    match uploads
        .end_upload(uid, caller.owner.as_deref(), UploadState::Terminated, keep)
        .await
        .map_err(ApiError::from)?
    {
        Some(was) => {
            receive::remove_bytes(svc, &was).await;
            metrics::counter!("audiotap_uploads_terminated_total").increment(1);
            let mut resp = StatusCode::NO_CONTENT.into_response();
            resp.headers_mut()
                .insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(TUS_VERSION));
            Ok(resp)
        }
        None => match uploads
            .get_upload(uid, caller.owner.as_deref())
            .await
            .map_err(ApiError::from)?
        {
            Some(up) => Err(ended(&up)),
            None => Err(not_found(&id)),
        },
    }
}
