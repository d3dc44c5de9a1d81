//! The HTTP API (v1): routes, the caller's identity, problem+json errors and the OpenAPI
//! document, over the job services. Each route module exposes its handlers; `router`
//! assembles them.

pub mod error;
mod events;
pub mod input;
mod jobs;
pub mod openapi;
mod page;
mod sync;
mod system;
pub mod uploads;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use axum::{Router, extract::ConnectInfo};
use metrics_exporter_prometheus::PrometheusHandle;
use sha2::{Digest, Sha256};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::ErrorCode;
use crate::jobs::Services;
use error::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub svc: Arc<Services>,
    pub metrics: PrometheusHandle,
    /// Bounds synchronous extractions running at once.
    pub sync_slots: Arc<tokio::sync::Semaphore>,
    /// Bounds job requests whose bodies are being received at once (uploads spool to disk:
    /// past the limit new ones get 503 `busy` with `Retry-After` instead of piling up).
    pub upload_slots: Arc<tokio::sync::Semaphore>,
}

/// Who is calling: the owner scope of the API key, or `None` when no keys are configured
/// (loopback-only mode, where every job is visible).
#[derive(Debug, Clone)]
pub struct Caller {
    pub owner: Option<String>,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let keys = &state.svc.config.api_keys;
        if keys.is_empty() {
            // No keys: only loopback peers (the listener is loopback-only, checked at start;
            // this also covers a proxy on the same host forwarding outside traffic).
            if let Some(ConnectInfo(addr)) =
                parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>()
                && !addr.ip().is_loopback()
            {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "only loopback clients are served when no API keys are configured",
                ));
            }
            return Ok(Caller { owner: None });
        }
        let token = bearer(&parts.headers).ok_or_else(unauthorized)?;
        let matched = keys
            .iter()
            .any(|k| constant_time_eq(k.expose().as_bytes(), token.as_bytes()));
        if !matched {
            return Err(unauthorized());
        }
        let owner = hex::encode(Sha256::digest(token.as_bytes()))[..24].to_string();
        Ok(Caller { owner: Some(owner) })
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn unauthorized() -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        "a valid API key is required: Authorization: Bearer <key>",
    )
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/jobs", post(jobs::create_job).get(jobs::list_jobs))
        .route("/v1/jobs/{id}", get(jobs::get_job).delete(jobs::delete_job))
        .route("/v1/jobs/{id}/output", get(jobs::get_output))
        .route("/v1/jobs/{id}/events", get(events::job_events))
        .route("/v1/extract", post(sync::extract))
        .route(
            "/v1/uploads",
            post(uploads::create::create).options(uploads::discover),
        )
        .route(
            "/v1/uploads/{id}",
            axum::routing::head(uploads::status)
                .patch(uploads::append::append)
                .delete(uploads::terminate),
        )
        .route("/", get(page::index))
        .route("/assets/{name}", get(page::asset));
    with_system_routes(v1, state)
}

/// What a `--role worker` node serves: liveness, readiness, metrics and the spec.
pub fn system_router(state: AppState) -> Router {
    with_system_routes(Router::new(), state)
}

fn with_system_routes(routes: Router<AppState>, state: AppState) -> Router {
    Router::new()
        .merge(routes)
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        // Uploads are capped by our own streaming check (413 problem+json), not axum's.
        .layer(DefaultBodyLimit::disable())
        // Innermost to outermost: a panic becomes an internal error whose cause the logging
        // middleware sees, inside the request's trace span.
        .layer(CatchPanicLayer::custom(
            |payload: Box<dyn std::any::Any + Send>| {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                axum::response::IntoResponse::into_response(ApiError::internal(format!(
                    "a handler panicked: {what}"
                )))
            },
        ))
        .layer(axum::middleware::from_fn(error::log_internal_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
