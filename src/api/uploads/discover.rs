//! `OPTIONS /v1/uploads`: tus discovery.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::protocol::{CHECKSUM_ALGORITHMS, EXTENSIONS, TUS_RESUMABLE, TUS_VERSION};
use crate::api::state::AppState;

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
