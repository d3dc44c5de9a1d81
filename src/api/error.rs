//! One API error type, answered as RFC 9457 `application/problem+json` with a stable
//! [`ErrorCode`] (whose registry entry gives the HTTP status), and the middleware that logs
//! internal errors once.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ErrorCode;

/// The problem document every error response carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank`-style: `https://audiotap.dev/problems/<code>`).
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
}

/// The cause of an internal error, carried to [`log_internal_errors`] in the response's
/// extensions: logged once, never shown to the client.
type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// An error answer. Build it from a typed error (`?` on the engine's, the network's, the
/// storage's and the job store's errors) or from a code and a detail for the client.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    detail: String,
    retry_after: Option<u64>,
    cause: Option<Cause>,
}

impl ApiError {
    /// An answer with `code` (its status comes from the registry) and `detail` for the client.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError {
            code,
            detail: detail.into(),
            retry_after: None,
            cause: None,
        }
    }

    /// `invalid_request`: the request itself is malformed.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
    }

    /// A fault on our side: the client sees only `internal`; `cause` is logged once, by
    /// [`log_internal_errors`], when the response leaves.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError {
            cause: Some(Arc::from(cause.into())),
            ..Self::new(ErrorCode::Internal, "an internal error occurred")
        }
    }

    /// Adds `Retry-After: secs` (for the 503 codes).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        use crate::Error as E;
        match e {
            E::Io { .. } | E::Internal(_) => ApiError::internal(e),
            e => ApiError::new(e.code(), e.to_string()),
        }
    }
}

impl From<crate::net::NetError> for ApiError {
    fn from(e: crate::net::NetError) -> Self {
        use crate::net::NetError as N;
        match e {
            N::Io { .. } => ApiError::internal(e),
            N::UrlForbidden(_)
            | N::InvalidUrl(_)
            | N::SourceUnreachable { .. }
            | N::SourceTooLarge(_) => ApiError::new(e.code(), e.to_string()),
        }
    }
}

impl From<crate::jobs::store::StoreError> for ApiError {
    fn from(e: crate::jobs::store::StoreError) -> Self {
        use crate::jobs::store::StoreError as S;
        match e {
            S::InvalidCursor(_) => ApiError::new(
                ErrorCode::InvalidCursor,
                "cursor must come from a previous page",
            ),
            S::Database(_) | S::Migration(_) | S::Document(_) | S::IdempotencyRace => {
                ApiError::internal(e)
            }
        }
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError as S;
        match e {
            S::NotFound(_) => ApiError::new(e.code(), "the output object is gone"),
            S::RangeNotSatisfiable { .. } => {
                ApiError::new(e.code(), "the requested range is outside the output")
            }
            S::InvalidKey(_) => ApiError::internal(e),
            S::Io(_) | S::Backend(_) => ApiError::new(e.code(), e.to_string()).retry_after(5),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let problem = Problem {
            type_: format!("https://audiotap.dev/problems/{}", self.code),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail,
            code: self.code,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(cause) = self.cause {
            resp.extensions_mut().insert(cause);
        }
        resp
    }
}

/// Middleware (inside the trace layer, so the line carries the request's span): logs the
/// cause of an internal error once, whichever handler or conversion built it.
pub(crate) async fn log_internal_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if let Some(cause) = resp.extensions().get::<Cause>() {
        tracing::error!(
            error = &**cause as &(dyn std::error::Error + 'static),
            "internal error"
        );
    }
    resp
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_retry_after_follow_the_registry() {
        for &code in ErrorCode::ALL {
            let resp = ApiError::new(code, "x").into_response();
            assert_eq!(resp.status().as_u16(), code.http_status(), "{code}");
        }
        let busy = ApiError::new(ErrorCode::Busy, "x")
            .retry_after(2)
            .into_response();
        assert_eq!(busy.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn internal_errors_hide_their_cause_and_carry_it_for_the_log() {
        let io = std::io::Error::other("disk on fire");
        let err = ApiError::from(crate::Error::io("writing /tmp/x", io));
        assert_eq!(err.code(), ErrorCode::Internal);
        let resp = err.into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cause = resp.extensions().get::<Cause>().expect("the cause travels");
        assert!(cause.to_string().contains("disk on fire"), "{cause}");

        // A client error carries nothing to log.
        let resp = ApiError::from(crate::Error::NoAudioTrack).into_response();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(resp.extensions().get::<Cause>().is_none());
    }

    /// What the logging middleware writes, captured.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_middleware_logs_an_internal_error_once_and_client_errors_never() {
        use axum::routing::get;
        use tower::ServiceExt;

        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = axum::Router::new()
            .route(
                "/internal",
                get(|| async {
                    // Built, converted and discarded before the one that is answered.
                    let _ = ApiError::internal("a discarded error");
                    Err::<(), _>(ApiError::from(crate::Error::Internal(
                        "disk on fire".into(),
                    )))
                }),
            )
            .route(
                "/client",
                get(|| async { Err::<(), _>(ApiError::invalid_request("bad query")) }),
            )
            .layer(axum::middleware::from_fn(log_internal_errors));
        for (path, status) in [("/internal", 500), ("/client", 400)] {
            let req = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status().as_u16(), status, "{path}");
        }
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text.lines().filter(|l| l.contains("ERROR")).count(),
            1,
            "{text}"
        );
        assert!(text.contains("disk on fire"), "{text}");
        assert!(
            !text.contains("a discarded error") && !text.contains("bad query"),
            "{text}"
        );
    }
}
