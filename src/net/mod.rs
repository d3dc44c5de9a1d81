//! Outbound HTTP, made safe to point at user-supplied URLs.
//!
//! Every URL audiotap fetches (a job's `source.url`) or posts to (a job's `webhook_url`)
//! comes from a client, so every outbound request goes through the same checks:
//!
//! - [`guard::UrlGuard`] decides which destinations are acceptable: http(s) only, no
//!   credentials in the URL, and no loopback, private, link-local, metadata or otherwise
//!   special address unless the operator allowlisted it (`AUDIOTAP_URL_ALLOWLIST`).
//! - [`client::guarded_client`] builds a `reqwest::Client` that enforces the guard on every
//!   request and every redirect hop, and pins each connection to the addresses the guard
//!   vetted (no DNS rebinding between check and connect).
//! - [`fetch::download_to_file`] streams a source to a file under a size cap.
//! - [`range::fetch_source`] reads a remote MP4/MOV with Range requests, fetching only
//!   `moov` and the audio's chunks (many ranges per request, answered `multipart/
//!   byteranges` and parsed as they stream by `byteranges`), and streams anything else whole.
//! - [`webhook`] signs and delivers Standard Webhooks notifications and schedules retries.

mod byteranges;
pub mod client;
pub mod error;
pub mod fetch;
pub mod guard;
pub mod range;
pub mod webhook;

pub use client::{ClientOptions, guarded_client};
pub use error::NetError;
pub use fetch::{DownloadInfo, download_to_file};
pub use guard::UrlGuard;
pub use range::{FetchMethod, FetchSummary};
pub use webhook::{DeliveryAttempt, RetrySchedule, WebhookSecret, deliver_once, sign, verify};
