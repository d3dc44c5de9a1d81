//! `GET /`: a page to try audiotap in a browser (upload or URL, options, live progress,
//! listen, download), and its few static files, compiled into the binary: no build step,
//! nothing fetched from elsewhere.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, Problem};
use super::state::AppState;

const INDEX: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const CLIENT_JS: &str = include_str!("../../assets/client.js");
const STYLE: &str = include_str!("../../assets/style.css");
const ICON: &str = include_str!("../../assets/icon.svg");

/// Only this server's own files and API; audio from the API or from blobs of it.
const CSP: &str = "default-src 'self'; media-src 'self' blob:; img-src 'self' data: blob:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn file(content_type: &'static str, body: String) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Small files that change with the binary: revalidate rather than guess a lifetime.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The page. It asks for an API key only when the server has keys configured.
#[utoipa::path(
    get, path = "/", tag = "page", operation_id = "page",
    responses((status = 200, description = "The page", content_type = "text/html", body = String))
)]
pub(crate) async fn index(State(state): State<AppState>) -> Response {
    let keys = if state.svc.config.api_keys.is_empty() {
        "none"
    } else {
        "required"
    };
    let html = INDEX
        .replace("{{keys}}", keys)
        .replace("{{version}}", env!("CARGO_PKG_VERSION"));
    let mut resp = file("text/html; charset=utf-8", html);
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

/// The page's scripts, style sheet and icon.
#[utoipa::path(
    get, path = "/assets/{name}", tag = "page", operation_id = "page_asset",
    params(("name" = String, Path, description = "`app.js`, `client.js`, `style.css` or `icon.svg`")),
    responses(
        (status = 200, description = "The file", content_type = "text/javascript", body = String),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => file("text/javascript; charset=utf-8", APP_JS.to_string()),
        "client.js" => file("text/javascript; charset=utf-8", CLIENT_JS.to_string()),
        "style.css" => file("text/css; charset=utf-8", STYLE.to_string()),
        "icon.svg" => file("image/svg+xml", ICON.to_string()),
        _ => ApiError::not_found(format!("no asset {name:?}")).into_response(),
    }
}
