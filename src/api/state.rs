//! What every handler is handed: the shared [`AppState`], and the [`Caller`] extractor that
//! authenticates a request (API key, or loopback when no keys are configured).

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use metrics_exporter_prometheus::PrometheusHandle;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::ErrorCode;
use crate::jobs::Services;

/// What every handler shares: the job services, the metrics handle and the limits on
/// requests in flight.
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
