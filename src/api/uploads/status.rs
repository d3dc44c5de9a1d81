//! `HEAD /v1/uploads/{id}`: how far an upload got (tus core).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use time::OffsetDateTime;

use super::protocol::{self, TusResult, UPLOAD_LENGTH};
use super::reply::{answer, ended, header_value, not_found, parse_id};
use crate::api::error::ApiError;
use crate::api::state::{AppState, Caller};
use crate::jobs::uploads::UploadState;

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
