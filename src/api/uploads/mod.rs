//! `/v1/uploads`: resumable uploads (tus 1.0: core, creation, creation-with-upload,
//! termination, expiration, checksum). The job's options travel in `Upload-Metadata`; the
//! job is made when the last byte arrives. Upload state lives in the job store, so any node
//! takes the next request.

pub(crate) mod append;
pub(crate) mod create;
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
use crate::ErrorCode;
use crate::jobs::uploads::{Upload, UploadState};
use protocol::{
    CHECKSUM_ALGORITHMS, EXTENSIONS, JOB_LOCATION, TUS_RESUMABLE, TUS_VERSION, TusError, TusResult,
    UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_OFFSET,
};

fn not_found(id: &str) -> TusError {
    TusError(ApiError::not_found(format!("no upload {id}")))
}

fn parse_id(id: &str) -> TusResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| not_found(id))
}

fn ended(up: &Upload) -> TusError {
    let (code, what) = match up.state {
        UploadState::Terminated => (ErrorCode::UploadTerminated, "was terminated"),
        _ => (ErrorCode::UploadExpired, "expired"),
    };
    TusError(ApiError::new(
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
        h.insert(
            JOB_LOCATION.clone(),
            header_value(format!("/v1/jobs/{job}")),
        );
    }
    resp
}

/// Answer a refused request. Its body is read (and dropped) first, up to a limit, so the
/// connection stays usable and the client reads the answer; past the limit the connection
/// is closed after the answer, which says so.
pub(crate) async fn refuse(body: Option<Body>, e: TusError) -> Response {
    const DRAIN_MAX: usize = 8 << 20;
    let mut resp = e.into_response();
    if let Some(body) = body {
        let mut stream = body.into_data_stream();
        let drain = async {
            let mut n = 0;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) if n + c.len() <= DRAIN_MAX => n += c.len(),
                    _ => return false,
                }
            }
            true
        };
        let read_all = tokio::time::timeout(std::time::Duration::from_secs(2), drain)
            .await
            .unwrap_or(false);
        if !read_all {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    resp
}

/// Busy with too many bodies at once: the same answer `POST /v1/jobs` gives.
fn busy() -> TusError {
    metrics::counter!("audiotap_rejected_total", "reason" => "uploads_busy").increment(1);
    TusError(
        ApiError::new(
            ErrorCode::Busy,
            "too many uploads are being received at once; try again shortly",
        )
        .retry_after(2),
    )
}

/// What this server speaks: versions, extensions, the size cap, checksum algorithms.
#[utoipa::path(
    options, path = "/v1/uploads", tag = "uploads", operation_id = "discover_uploads",
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

/// How far the upload got (tus core). Once complete, `Audiotap-Job-Location` names its job.
#[utoipa::path(
    head, path = "/v1/uploads/{id}", tag = "uploads", operation_id = "upload_status",
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

fn mismatch(offset: u64, up: &Upload) -> TusError {
    TusError(ApiError::new(
        ErrorCode::OffsetMismatch,
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
    delete, path = "/v1/uploads/{id}", tag = "uploads", operation_id = "terminate_upload",
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
