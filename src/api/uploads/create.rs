//! `POST /v1/uploads`: a new upload (tus creation), with its first bytes when the request
//! has a body (creation-with-upload). Options are checked here, before any byte is sent.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use time::OffsetDateTime;
use uuid::Uuid;

use super::append::take_bytes;
use super::finish;
use super::protocol::{
    self, TusError, TusResult, UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_OFFSET, bad,
};
use super::receive::{self, HOLD};
use super::reply::{answer, busy, header_value, refuse};
use crate::ErrorCode;
use crate::api::error::{ApiError, Problem};
use crate::api::state::{AppState, Caller};
use crate::jobs::uploads::{MultipartState, Upload, UploadState};
use crate::storage::multipart::part_size_for;

/// Start an upload (tus creation; with a body, creation-with-upload). `Upload-Metadata`
/// may carry `filename` and `options` (base64 of the JSON of a `POST /v1/jobs` body without
/// `source`); the job is made when the last byte arrives.
#[utoipa::path(
    post, path = "/v1/uploads", tag = "uploads", operation_id = "create_upload",
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
) -> Response {
    let mut body = Some(body);
    match start(&state, caller, &headers, &mut body).await {
        Ok(resp) => resp,
        Err(e) => refuse(body, e).await,
    }
}

async fn start(
    state: &AppState,
    caller: Caller,
    headers: &HeaderMap,
    body: &mut Option<Body>,
) -> TusResult<Response> {
    protocol::check_version(headers)?;
    let svc = state.svc.clone();
    if headers.contains_key("upload-defer-length") {
        return Err(bad(
            ErrorCode::InvalidRequest,
            "Upload-Defer-Length is not supported: send Upload-Length",
        ));
    }
    let length = protocol::number(headers, &UPLOAD_LENGTH)?
        .ok_or_else(|| bad(ErrorCode::InvalidRequest, "Upload-Length is missing"))?;
    if length == 0 {
        return Err(bad(
            ErrorCode::InvalidRequest,
            "an empty upload has no audio",
        ));
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
    if with_body && !protocol::is_offset_stream(headers) {
        return Err(protocol::wrong_content_type());
    }
    let checksum = protocol::parse_checksum(headers)?;
    let counts = svc.store.counts().await.map_err(ApiError::from)?;
    let queued = counts
        .get(&crate::jobs::JobStatus::Queued)
        .copied()
        .unwrap_or(0) as usize;
    if queued >= svc.config.max_queue {
        return Err(TusError(
            ApiError::new(
                ErrorCode::QueueFull,
                format!("{queued} jobs are waiting; try again later"),
            )
            .retry_after(10),
        ));
    }
    let slot = if with_body {
        Some(
            state
                .upload_slots
                .clone()
                .try_acquire_owned()
                .map_err(|_| busy())?,
        )
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
        filename: meta
            .filename
            .as_deref()
            .map(crate::api::input::sanitize_filename),
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
            .take()
            .unwrap_or_default()
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
            Err(e) if e.0.code() == ErrorCode::ChecksumMismatch => {
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
        resp.headers_mut().insert(
            UPLOAD_EXPIRES.clone(),
            header_value(protocol::http_date(up.expires_at)),
        );
    }
    Ok(resp)
}
