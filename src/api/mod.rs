//! The HTTP API (v1): routes, the caller's identity, problem+json errors and the OpenAPI
//! document, over the job services. Each route module exposes its handlers; handlers take
//! their state and caller from `state`; `router` assembles them.

pub mod error;
mod events;
pub mod input;
mod jobs;
pub mod openapi;
mod page;
mod state;
mod sync;
mod system;
pub mod uploads;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use error::ApiError;
pub use state::{AppState, Caller};

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
            post(uploads::create::create).options(uploads::discover::discover),
        )
        .route(
            "/v1/uploads/{id}",
            axum::routing::head(uploads::status::status)
                .patch(uploads::append::append)
                .delete(uploads::terminate::terminate),
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
