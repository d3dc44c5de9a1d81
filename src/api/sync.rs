//! `POST /v1/extract`: the same inputs as a job, the audio streamed back in the response.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::error::{ApiError, ApiResult, Problem};
use super::input::{self, CreateJobRequest, QueryOptions, Source, UploadOptions};
use super::{AppState, Caller};
use crate::jobs::Services;
use crate::jobs::runner::{ArrivingUpload, Extraction, Input, Run};
use crate::spec::{OutputSpec, Report};

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
        (status = 503, description = "`busy`: every synchronous extraction slot is taken; retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn extract(
    State(state): State<AppState>,
    _caller: Caller,
    req: Request,
) -> ApiResult<Response> {
    let t0 = Instant::now();
    let svc = state.svc.clone();
    let Ok(permit) = state.sync_slots.clone().try_acquire_owned() else {
        metrics::counter!("audiotap_rejected_total", "reason" => "sync_busy").increment(1);
        return Err(ApiError::new(
            crate::ErrorCode::Busy,
            "all synchronous extraction slots are busy",
        )
        .retry_after(2));
    };
    let tmp = svc.config.tmp_dir();
    tokio::fs::create_dir_all(&tmp)
        .await
        .map_err(ApiError::internal)?;
    if input::is_raw_body(&req) {
        return extract_arriving(svc, req, permit, t0).await;
    }
    if input::is_multipart(&req) {
        return extract_multipart(svc, req, permit, t0).await;
    }
    let req = input::read_job_request(req, &tmp, svc.config.max_upload_bytes).await?;
    let (input_path, _keep) = match req.source {
        Source::Upload(up) => (up.file.to_path_buf(), up.file),
        Source::Stored(_) => return Err(ApiError::internal("a stored source in a sync request")),
        Source::Url(url) => {
            let dest = tempfile::Builder::new()
                .prefix("sync-src-")
                .tempfile_in(&tmp)
                .map_err(ApiError::internal)?
                .into_temp_path();
            crate::jobs::source::fetch_url(&svc, &url, &dest).await?;
            (dest.to_path_buf(), dest)
        }
    };
    let input_done = t0.elapsed();
    let done = Running::start(&svc, Input::file(&input_path), &req.spec, t0)?
        .finish()
        .await?;
    drop(_keep);
    respond(done, permit, t0, input_done).await
}

/// A raw-body upload: the engine starts on the file while its bytes still arrive (see
/// [`ArrivingUpload`]); containers read front to back are decoded as they come.
async fn extract_arriving(
    svc: Arc<Services>,
    req: Request,
    permit: tokio::sync::OwnedSemaphorePermit,
    t0: Instant,
) -> ApiResult<Response> {
    let q: QueryOptions = serde_urlencoded::from_str(req.uri().query().unwrap_or(""))
        .map_err(|e| ApiError::new(crate::ErrorCode::InvalidOptions, format!("query: {e}")))?;
    let spec = q.spec();
    spec.validate()?;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let stream = req
        .into_body()
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let (done, upload_done) = extract_while_arriving(&svc, stream, declared, &spec, t0).await?;
    respond(done, permit, t0, upload_done).await
}

/// A multipart upload. When the `options` part comes before the `file` part, the file is
/// extracted while it arrives, like a raw body but without a declared length (so an MP4,
/// whose reader needs the length, waits for its end). A file part that comes first is
/// spooled whole, since options may still follow.
async fn extract_multipart(
    svc: Arc<Services>,
    req: Request,
    permit: tokio::sync::OwnedSemaphorePermit,
    t0: Instant,
) -> ApiResult<Response> {
    use axum::extract::{FromRequest, Multipart};
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::invalid_request(e.body_text()))?;
    let mut options: Option<UploadOptions> = None;
    let mut streamed: Option<(Finished, std::time::Duration)> = None;
    let mut spooled: Option<tempfile::TempPath> = None;
    while let Some(field) = mp.next_field().await.map_err(input::multipart_error)? {
        match field.name() {
            Some("options") if streamed.is_some() || (spooled.is_some() && options.is_some()) => {
                return Err(input::duplicate_part("options"));
            }
            Some("options") => options = Some(input::options_part(field).await?),
            Some("file") if streamed.is_some() || spooled.is_some() => {
                return Err(input::duplicate_part("file"));
            }
            Some("file") => {
                let stream = field.map(|r| r.map_err(|e| std::io::Error::other(e.body_text())));
                match &options {
                    Some(opts) => {
                        let spec = opts.output.clone();
                        spec.validate()?;
                        streamed =
                            Some(extract_while_arriving(&svc, stream, None, &spec, t0).await?);
                    }
                    None => {
                        let dir = svc.config.tmp_dir();
                        let up =
                            input::spool(stream, &dir, None, svc.config.max_upload_bytes).await?;
                        if up.size == 0 {
                            return Err(input::empty_body());
                        }
                        spooled = Some(up.file);
                    }
                }
            }
            other => return Err(input::unexpected_part(other)),
        }
    }
    let (done, input_done) = match (streamed, spooled) {
        (Some(done), _) => done,
        (None, Some(file)) => {
            let input_done = t0.elapsed();
            let spec = options.map(|o| o.output).unwrap_or_default();
            spec.validate()?;
            let done = Running::start(&svc, Input::file(&*file), &spec, t0)?
                .finish()
                .await?;
            drop(file);
            (done, input_done)
        }
        (None, None) => return Err(input::no_file_part()),
    };
    respond(done, permit, t0, input_done).await
}

/// Spool `stream` to a new file while the engine already extracts from it. Returns the
/// finished extraction and when the upload was whole. An upload that breaks off answers
/// its own error: the engine is stopped and waited for, and nothing is left behind.
async fn extract_while_arriving<S>(
    svc: &Services,
    stream: S,
    declared: Option<u64>,
    spec: &OutputSpec,
    t0: Instant,
) -> ApiResult<(Finished, std::time::Duration)>
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin,
{
    let mut upload = ArrivingUpload::create(&svc.config.tmp_dir(), declared)
        .await
        .map_err(ApiError::internal)?;
    let job = Running::start(svc, upload.input(), spec, t0)?;
    let advance = |n: u64| upload.advance(n);
    let written = input::write_upload(
        stream,
        upload.path(),
        svc.config.max_upload_bytes,
        Some(&advance),
    )
    .await;
    let upload_done = t0.elapsed();
    let failed = match written {
        Ok((0, _)) => Some(input::empty_body()),
        Ok(_) => None,
        Err(e) => Some(e),
    };
    if let Some(err) = failed {
        // The upload's own error is the answer; stop the engine and wait for it to let go
        // of the file.
        job.cancel.cancel();
        upload.end(Err("the upload failed".into()));
        let _ = job.extraction.finish().await;
        return Err(err);
    }
    upload.end(Ok(()));
    let done = job.finish().await?;
    drop(upload);
    Ok((done, upload_done))
}

/// A synchronous extraction on the service's runner, writing to a temp file that lives as
/// long as the response streams.
struct Running {
    extraction: Extraction,
    cancel: CancellationToken,
    out: tempfile::TempPath,
    spec: OutputSpec,
    /// When the first block was decoded.
    first_block: Arc<OnceLock<Instant>>,
}

impl Running {
    fn start(svc: &Services, input: Input, spec: &OutputSpec, t0: Instant) -> ApiResult<Running> {
        let out = tempfile::Builder::new()
            .prefix("sync-out-")
            .suffix(&format!(".{}", spec.format.extension()))
            .tempfile_in(svc.config.tmp_dir())
            .map_err(ApiError::internal)?
            .into_temp_path();
        let cancel = CancellationToken::new();
        let first_block = Arc::new(OnceLock::new());
        let first = first_block.clone();
        let on_first_block = Box::new(move || {
            let now = Instant::now();
            // Time to the first decoded block: for an upload read while it arrives, this is
            // counted before the body has ended.
            metrics::histogram!("audiotap_sync_first_block_seconds")
                .record(now.duration_since(t0).as_secs_f64());
            let _ = first.set(now);
        });
        let extraction = Extraction::start(
            input,
            out.to_path_buf(),
            Run {
                spec: spec.clone(),
                limits: svc.limits.clone(),
                cancel: cancel.clone(),
                on_first_block: Some(on_first_block),
            },
        );
        Ok(Running {
            extraction,
            cancel,
            out,
            spec: spec.clone(),
            first_block,
        })
    }

    async fn finish(self) -> ApiResult<Finished> {
        let report = self.extraction.finish().await?;
        Ok(Finished {
            report,
            out: self.out,
            spec: self.spec,
            first_block: self.first_block.get().copied(),
        })
    }
}

struct Finished {
    report: Report,
    out: tempfile::TempPath,
    spec: OutputSpec,
    first_block: Option<Instant>,
}

/// Stream the output back. `Server-Timing` says when the input was whole (`input`) and
/// when the first block was decoded (`decode`), both from the request's start: for an
/// upload read while it arrived, `decode` comes before `input`.
async fn respond(
    done: Finished,
    permit: tokio::sync::OwnedSemaphorePermit,
    t0: Instant,
    input_done: std::time::Duration,
) -> ApiResult<Response> {
    let Finished {
        report,
        out,
        spec,
        first_block,
    } = done;
    let file = tokio::fs::File::open(&out)
        .await
        .map_err(ApiError::internal)?;
    let len = file.metadata().await.map_err(ApiError::internal)?.len();
    metrics::counter!("audiotap_bytes_out_total").increment(len);
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut timing = format!("input;dur={:.1}", ms(input_done));
    if let Some(at) = first_block {
        timing.push_str(&format!(", decode;dur={:.1}", ms(at.duration_since(t0))));
    }
    timing.push_str(&format!(", total;dur={:.1}", ms(t0.elapsed())));
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
        .header("server-timing", timing)
        .body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}
