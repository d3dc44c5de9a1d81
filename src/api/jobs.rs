//! `/v1/jobs`: create (JSON, multipart or raw body), read, list, download, cancel/delete.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, ApiResult, Problem};
use super::input::{self, CreateJobRequest, JobRequest, QueryOptions, Source, UploadOptions};
use super::state::{AppState, Caller};
use crate::ErrorCode;
use crate::jobs::model::{Job, JobSource, JobStatus, SourceKind};
use crate::jobs::store::{Idempotency, Inserted};
use crate::storage::ByteRange;

fn parse_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("no job {id:?}")))
}

/// The caller's job by its id in the path: 404 for a bad id, another key's job, or none.
async fn callers_job(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Job> {
    let id = parse_id(id)?;
    state
        .svc
        .store
        .get(id, caller.owner.as_deref())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}

fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// Create a job. The body is either JSON (`CreateJobRequest`, URL source), multipart
/// (`file` part + optional `options` JSON part), or the raw video with options as query
/// parameters.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    params(QueryOptions, ("Idempotency-Key" = Option<String>, Header, description = "Same key and same request: the same job")),
    request_body(
        content(
            (CreateJobRequest = "application/json"),
            (UploadOptions = "multipart/form-data"),
            (Vec<u8> = "application/octet-stream"),
        ),
        description = "JSON with a URL source; multipart with `file` and `options` parts; or the raw video"
    ),
    responses(
        (status = 202, description = "Accepted", body = Job, headers(("Location" = String, description = "The job's URL"))),
        (status = 200, description = "The job made earlier with this Idempotency-Key", body = Job),
        (status = 400, description = "Bad request or options", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Upload too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency-Key reused with another request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Saturated: `queue_full` (the queue is at AUDIOTAP_MAX_QUEUE) or `busy` (too many request bodies being received at once); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn create_job(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<Response> {
    let svc = &state.svc;
    let counts = svc.store.counts().await?;
    let queued = counts.get(&JobStatus::Queued).copied().unwrap_or(0) as usize;
    if queued >= svc.config.max_queue {
        metrics::counter!("audiotap_rejected_total", "reason" => "queue_full").increment(1);
        return Err(ApiError::new(
            ErrorCode::QueueFull,
            format!("{queued} jobs are waiting; try again later"),
        )
        .retry_after(10));
    }
    let Ok(_receiving) = state.upload_slots.clone().try_acquire_owned() else {
        metrics::counter!("audiotap_rejected_total", "reason" => "uploads_busy").increment(1);
        return Err(ApiError::new(
            ErrorCode::Busy,
            "too many job requests are being received at once; try again shortly",
        )
        .retry_after(2));
    };
    let idem_key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| ApiError::invalid_request("Idempotency-Key must be ASCII"))
        })
        .transpose()?;
    if let Some(k) = &idem_key
        && (k.is_empty() || k.len() > 255)
    {
        return Err(ApiError::invalid_request(
            "Idempotency-Key must be 1 to 255 characters",
        ));
    }
    let req = input::read_job_request(req, &svc.uploads_dir(), svc.config.max_upload_bytes).await?;
    let idem = idem_key.map(|key| Idempotency {
        key,
        request_hash: req.request_hash.clone(),
    });
    let (status, job) = match submit(&state, &caller, req, idem.as_ref()).await? {
        Submitted::Created(job) => (StatusCode::ACCEPTED, job),
        Submitted::Existing(job) => (StatusCode::OK, job),
    };
    let mut resp = (status, Json(&job)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/jobs/{}", job.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// What [`submit`] did.
pub(crate) enum Submitted {
    Created(Job),
    /// The job made earlier with the same Idempotency-Key and request.
    Existing(Job),
}

/// Make the job a parsed request asks for: vet its URLs, put an upload where workers find
/// it, insert the job. The one path every way of creating a job goes through (`POST
/// /v1/jobs` and finished resumable uploads). On failure the upload is removed.
pub(crate) async fn submit(
    state: &AppState,
    caller: &Caller,
    req: JobRequest,
    idem: Option<&Idempotency>,
) -> ApiResult<Submitted> {
    let svc = &state.svc;
    // Refuse forbidden destinations (literal private addresses, localhost) now rather than
    // when the job runs; names are vetted again when they are resolved.
    let urls = [
        match &req.source {
            Source::Url(u) => Some(u.as_str()),
            Source::Upload(_) | Source::Stored(_) => None,
        },
        req.webhook_url.as_deref(),
    ];
    if let Err(e) = urls
        .into_iter()
        .flatten()
        .filter_map(|u| reqwest::Url::parse(u).ok())
        .try_for_each(|u| svc.guard.check_url(&u))
    {
        if let Source::Stored(st) = &req.source {
            let _ = svc.objects.delete(&st.key).await;
        }
        return Err(e.into()); // an upload's temp file deletes itself
    }
    let (source, upload) = match req.source {
        Source::Url(url) => (
            JobSource {
                kind: SourceKind::Url,
                url: Some(redact_url(&url)),
                filename: None,
                size: None,
                key: None,
                fetch: None,
            },
            None,
        ),
        Source::Upload(up) => (
            JobSource {
                kind: SourceKind::Upload,
                url: None,
                filename: up.filename.clone(),
                size: Some(up.size),
                key: None,
                fetch: None,
            },
            Some(up),
        ),
        Source::Stored(st) => (
            JobSource {
                kind: SourceKind::Upload,
                url: None,
                filename: st.filename,
                size: Some(st.size),
                key: Some(st.key),
                fetch: None,
            },
            None,
        ),
    };
    // The worker needs the real URL (with credentials if any): keep it in the source
    // only when there were none to hide.
    let mut job = Job::new(source, req.spec, req.webhook_url, req.metadata);
    if let (Some(url), SourceKind::Url) = (&job.source.url, job.source.kind)
        && url.is_empty()
    {
        return Err(ApiError::new(ErrorCode::InvalidUrl, "empty source URL"));
    }
    // Put the upload in place before the job becomes visible to workers: on this node's
    // disk, or, when nodes share the job store, in shared storage where any worker finds it.
    if let Some(up) = &upload {
        if svc.store.shared() {
            let key = format!("uploads/{}", job.id);
            svc.objects
                .put_file(&key, &up.file, "application/octet-stream")
                .await?;
            job.source.key = Some(key);
        } else {
            let dest = svc.upload_path(job.id);
            tokio::fs::rename(&up.file, &dest)
                .await
                .map_err(ApiError::internal)?;
        }
    }
    let inserted = svc.store.insert(&job, caller.owner.as_deref(), idem).await;
    let inserted = match inserted {
        Ok(i) => i,
        Err(e) => {
            svc.remove_upload(&job).await;
            return Err(e.into());
        }
    };
    match inserted {
        Inserted::Created(created) => {
            metrics::counter!("audiotap_jobs_created_total").increment(1);
            svc.job_added();
            Ok(Submitted::Created(created))
        }
        Inserted::Existing(existing) => {
            // A retried resumable upload names the same stored object as the first job.
            if existing.source.key != job.source.key {
                svc.remove_upload(&job).await;
            }
            Ok(Submitted::Existing(existing))
        }
        Inserted::Conflict => {
            svc.remove_upload(&job).await;
            Err(ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request",
            ))
        }
    }
}

/// One job.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = Job),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn get_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Job>> {
    Ok(Json(callers_job(&state, &caller, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only jobs in this state.
    pub(crate) status: Option<JobStatus>,
    /// From a previous page's `next_cursor`.
    pub(crate) cursor: Option<String>,
    /// Page size, 1..=500 (default 50).
    pub(crate) limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobList {
    pub(crate) jobs: Vec<Job>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// Jobs, newest first.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs",
    params(ListParams),
    responses(
        (status = 200, body = JobList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<JobList>> {
    let Query(params) = params.map_err(|e| ApiError::invalid_request(e.body_text()))?;
    if let Some(c) = &params.cursor
        && c.parse::<i64>().is_err()
    {
        return Err(ApiError::new(
            ErrorCode::InvalidCursor,
            "cursor must come from a previous page",
        ));
    }
    let limit = params.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid_request("limit must be between 1 and 500"));
    }
    let page = state
        .svc
        .store
        .list(
            caller.owner.as_deref(),
            params.status,
            params.cursor.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(JobList {
        jobs: page.jobs,
        next_cursor: page.next_cursor,
    }))
}

/// Cancel a queued or running job; delete a finished job's output.
#[utoipa::path(
    delete, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job after cancellation or output deletion", body = Job),
        (status = 202, description = "Cancellation requested for a running job", body = Job),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn delete_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let job = callers_job(&state, &caller, &id).await?;
    let (id, svc) = (job.id, &state.svc);
    if !job.status.is_terminal() {
        // One atomic step in the store, whichever node runs the job: a worker sees it at
        // its next lease renewal (at once when it runs here) and discards its output.
        if let Some((canceled, was)) = svc.store.cancel(id).await? {
            if was == JobStatus::Queued {
                svc.remove_upload(&canceled).await;
                return Ok((StatusCode::OK, Json(canceled)).into_response());
            }
            svc.cancel_running(id);
            return Ok((StatusCode::ACCEPTED, Json(canceled)).into_response());
        }
    }
    // Ended (possibly just now): delete its output.
    let mut job = svc
        .store
        .get(id, None)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
    if let Some(out) = job.output.take() {
        svc.objects.delete(&out.key).await?;
        job.updated_at = time::OffsetDateTime::now_utc();
        svc.store.update(&job).await?;
    }
    Ok((StatusCode::OK, Json(job)).into_response())
}

/// The extracted audio. `Range` gives 206; 409 while there is no output yet, 410 once deleted.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/output", tag = "jobs",
    params(("id" = String, Path, description = "Job id"), ("Range" = Option<String>, Header, description = "bytes=start-end")),
    responses(
        (status = 200, description = "The audio", content_type = "audio/wav", body = Vec<u8>),
        (status = 206, description = "Part of the audio", body = Vec<u8>),
        (status = 302, description = "Redirect to a presigned storage URL (when configured)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_ready`: no output (yet)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`output_deleted`: DELETE removed the output", body = Problem, content_type = "application/problem+json"),
        (status = 416, body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn get_output(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let job = callers_job(&state, &caller, &id).await?;
    let (id, svc) = (job.id, &state.svc);
    let Some(out) = job
        .output
        .clone()
        .filter(|_| job.status == JobStatus::Succeeded)
    else {
        return Err(match job.status {
            // Only DELETE takes a succeeded job's output away: it will not come back.
            JobStatus::Succeeded => ApiError::new(
                ErrorCode::OutputDeleted,
                format!("job {id}'s output was deleted"),
            ),
            JobStatus::Queued | JobStatus::Running => ApiError::new(
                ErrorCode::NotReady,
                format!(
                    "job {id} is {}: its output is not ready",
                    job.status.as_str()
                ),
            ),
            other => ApiError::new(
                ErrorCode::NotReady,
                format!("job {id} {} and has no output", other.as_str()),
            ),
        });
    };
    if svc.config.s3_presign_downloads
        && let Some(url) = svc
            .objects
            .presigned_get(&out.key, std::time::Duration::from_secs(900))
            .await?
    {
        return Ok((StatusCode::FOUND, [(header::LOCATION, url)]).into_response());
    }
    // An unparseable or multi-range header is ignored: RFC 9110 allows serving it whole.
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ByteRange::parse_header);
    let body = svc.objects.get(&out.key, range).await?;
    let total = body.meta.size;
    let mut resp = Response::builder()
        .header(header::CONTENT_TYPE, out.content_type.as_str())
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"{}\"", out.sha256));
    resp = match body.range {
        Some((start, end)) => resp
            .status(StatusCode::PARTIAL_CONTENT)
            .header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{total}"),
            )
            .header(header::CONTENT_LENGTH, end - start + 1),
        None => resp
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, total),
    };
    let filename = format!("{id}.{}", out.key.rsplit('.').next().unwrap_or("bin"));
    resp = resp.header(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{filename}\""),
    );
    resp.body(Body::from_stream(body.stream))
        .map_err(ApiError::internal)
}
