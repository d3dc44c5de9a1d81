//! Liveness, readiness, Prometheus metrics, and the fallbacks.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::state::AppState;
use crate::ErrorCode;
use crate::jobs::model::JobStatus;

#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    pub(crate) status: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Readiness {
    pub(crate) status: String,
    pub(crate) storage: String,
    pub(crate) job_store: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Storage and the job store answer.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let storage = state.svc.objects.check().await;
    let store = state.svc.store.ping().await;
    let ok = storage.is_ok() && store.is_ok();
    let body = Readiness {
        status: if ok { "ok" } else { "unavailable" }.into(),
        storage: storage.map_or_else(|e| e.to_string(), |_| "ok".into()),
        job_store: store.map_or_else(|e| e.to_string(), |_| "ok".into()),
    };
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
        .into_response()
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(counts) = state.svc.store.counts().await {
        for status in JobStatus::ALL {
            metrics::gauge!("audiotap_jobs", "status" => status.as_str())
                .set(counts.get(&status).copied().unwrap_or(0) as f64);
        }
        metrics::gauge!("audiotap_queue_depth")
            .set(counts.get(&JobStatus::Queued).copied().unwrap_or(0) as f64);
    }
    metrics::gauge!("audiotap_jobs_running").set(state.svc.running() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
}
