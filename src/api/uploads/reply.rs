//! The answers every tus route shares: the headers each answer carries ([`answer`],
//! [`completed`]), refusals that keep the connection usable ([`refuse`]), and the errors for
//! a missing, ended, busy or out-of-step upload.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use uuid::Uuid;

use super::protocol::{
    self, JOB_LOCATION, TUS_RESUMABLE, TUS_VERSION, TusError, TusResult, UPLOAD_EXPIRES,
    UPLOAD_OFFSET,
};
use crate::ErrorCode;
use crate::api::error::ApiError;
use crate::jobs::uploads::{Upload, UploadState};

pub(super) fn not_found(id: &str) -> TusError {
    TusError(ApiError::not_found(format!("no upload {id}")))
}

pub(super) fn parse_id(id: &str) -> TusResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| not_found(id))
}

pub(super) fn ended(up: &Upload) -> TusError {
    let (code, what) = match up.state {
        UploadState::Terminated => (ErrorCode::UploadTerminated, "was terminated"),
        _ => (ErrorCode::UploadExpired, "expired"),
    };
    TusError(ApiError::new(
        code,
        format!("upload {} {what}: its bytes are gone", up.id),
    ))
}

pub(super) fn header_value(v: impl AsRef<str>) -> HeaderValue {
    HeaderValue::from_str(v.as_ref()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Headers every tus answer carries, and the upload's state.
pub(super) fn answer(status: StatusCode, up: &Upload) -> Response {
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
pub(super) async fn refuse(body: Option<Body>, e: TusError) -> Response {
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
pub(super) fn busy() -> TusError {
    metrics::counter!("audiotap_rejected_total", "reason" => "uploads_busy").increment(1);
    TusError(
        ApiError::new(
            ErrorCode::Busy,
            "too many uploads are being received at once; try again shortly",
        )
        .retry_after(2),
    )
}

pub(super) fn mismatch(offset: u64, up: &Upload) -> TusError {
    TusError(ApiError::new(
        ErrorCode::OffsetMismatch,
        format!(
            "Upload-Offset is {offset} but the upload has {} bytes: resume from there (HEAD)",
            up.offset
        ),
    ))
}

/// The answer to the `PATCH` that completed the upload: where its job is.
pub(super) fn completed(up: &Upload) -> Response {
    let mut resp = answer(StatusCode::NO_CONTENT, up);
    if let Some(job) = up.job_id {
        resp.headers_mut()
            .insert(header::LOCATION, header_value(format!("/v1/jobs/{job}")));
    }
    resp
}
