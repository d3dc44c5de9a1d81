//! One API error type, answered as RFC 9457 `application/problem+json` with a stable `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The problem document every error response carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank`-style: `https://audiotap.dev/problems/<code>`).
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred",
        )
    }
    pub fn unavailable(code: &'static str, detail: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code,
            detail: detail.into(),
            retry_after: Some(retry_after),
        }
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        use crate::Error as E;
        let status = match &e {
            E::InvalidOptions(_) | E::UrlForbidden(_) => StatusCode::BAD_REQUEST,
            E::SourceTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            E::UnsupportedCodec(_) | E::UnsupportedFormat(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::NoAudioTrack | E::TrackNotFound(_) | E::InvalidMedia(_) | E::LimitExceeded(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            E::SourceUnreachable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::Canceled => StatusCode::SERVICE_UNAVAILABLE,
            E::Io { .. } | E::Internal(_) => return ApiError::internal(&e),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<crate::net::NetError> for ApiError {
    fn from(e: crate::net::NetError) -> Self {
        let status = match e.code() {
            "source_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_url" | "url_forbidden" | "invalid_secret" => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<crate::jobs::store::StoreError> for ApiError {
    fn from(e: crate::jobs::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError as S;
        match e {
            S::NotFound(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "the output object is gone",
            ),
            S::RangeNotSatisfiable { .. } => ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                "the requested range is outside the output",
            ),
            S::InvalidKey(k) => ApiError::internal(format!("invalid key {k}")),
            other => ApiError::unavailable("storage_unavailable", other.to_string(), 5),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            type_: format!("https://audiotap.dev/problems/{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_string(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
