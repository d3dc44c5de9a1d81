//! `POST /v1/extract`: the same inputs as a job, the audio streamed back in the response.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;

use super::error::{ApiError, ApiResult, Problem};
use super::input::{self, CreateJobRequest, QueryOptions, Source, UploadOptions};
use super::{AppState, Caller};
use crate::media::{self, Control};

/// Extract synchronously and stream the audio back (`audio/wav` or `audio/mp4`).
#[utoipa::path(
    post, path = "/v1/extract", tag = "extract",
    params(QueryOptions),
    request_body(
        content(
            (CreateJobRequest = "application/json"),
            (UploadOptions = "multipart/form-data"),
            (Vec<u8> = "application/octet-stream"),
        ),
        description = "As for POST /v1/jobs (webhook_url and metadata are ignored)"
    ),
    responses(
        (status = 200, description = "The audio", content_type = "audio/wav", body = Vec<u8>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad or unsupported media", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Busy", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn extract(
    State(state): State<AppState>,
    _caller: Caller,
    req: Request,
) -> ApiResult<Response> {
    let svc = state.svc.clone();
    let Ok(permit) = state.sync_slots.clone().try_acquire_owned() else {
        metrics::counter!("audiotap_rejected_total", "reason" => "sync_busy").increment(1);
        return Err(ApiError::unavailable(
            "busy",
            "all synchronous extraction slots are busy",
            2,
        ));
    };
    let tmp = svc.config.tmp_dir();
    tokio::fs::create_dir_all(&tmp)
        .await
        .map_err(ApiError::internal)?;
    let req = input::read_job_request(req, &tmp, svc.config.max_upload_bytes).await?;
    let (input_path, _keep) = match req.source {
        Source::Upload(up) => (up.file.to_path_buf(), up.file),
        Source::Url(url) => {
            let dest = tempfile::Builder::new()
                .prefix("sync-src-")
                .tempfile_in(&tmp)
                .map_err(ApiError::internal)?
                .into_temp_path();
            let fetch = crate::net::fetch::download_to_file(
                &svc.http,
                &svc.guard,
                &url,
                &dest,
                svc.config.max_upload_bytes,
            );
            tokio::time::timeout(
                std::time::Duration::from_secs(svc.config.fetch_timeout_secs),
                fetch,
            )
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "source_unreachable",
                    "the download timed out",
                )
            })??;
            (dest.to_path_buf(), dest)
        }
    };
    let spec = req.spec;
    let ext = spec.format.extension();
    let out = tempfile::Builder::new()
        .prefix("sync-out-")
        .suffix(&format!(".{ext}"))
        .tempfile_in(&tmp)
        .map_err(ApiError::internal)?
        .into_temp_path();
    let (limits, out_path) = (svc.limits.clone(), out.to_path_buf());
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let span = tracing::Span::current();
    let spec2 = spec.clone();
    let report = tokio::task::spawn_blocking(move || {
        let _e = span.enter();
        media::extract(
            &input_path,
            &spec2,
            &out_path,
            &limits,
            Control {
                progress: None,
                cancel: Some(&flag),
            },
        )
    })
    .await
    .map_err(ApiError::internal)??;
    drop(_keep);
    let file = tokio::fs::File::open(&out)
        .await
        .map_err(ApiError::internal)?;
    let len = file.metadata().await.map_err(ApiError::internal)?.len();
    metrics::counter!("audiotap_bytes_out_total").increment(len);
    // The temp file and the slot live as long as the response body streams.
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 16).map(move |chunk| {
        let _hold = (&out, &permit);
        chunk
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, spec.format.content_type())
        .header(header::CONTENT_LENGTH, len)
        .header(
            "x-audiotap-engine",
            format!("{:?}", report.engine).to_lowercase(),
        )
        .header("x-audiotap-duration", format!("{:.6}", report.duration))
        .header("x-audiotap-copied", report.copied.to_string())
        .body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}
