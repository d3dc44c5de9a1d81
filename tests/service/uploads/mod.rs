//! Resumable uploads (tus 1.0 at `/v1/uploads`) against the real server: discovery,
//! creation (with and without bytes), resuming after a connection broke mid-request, the
//! job made from the last byte, checksums, every refusal as problem+json with nothing
//! half-stored left behind, termination, expiry, owner scoping and the lock that keeps two
//! requests from writing one upload. With AUDIOTAP_TEST_S3_ENDPOINT (CI), the same upload
//! goes straight into an S3 multipart upload; with PostgreSQL too, two nodes take turns.
//!
//! A module per subject (`transfer`, `refusals`, `s3`); the tus client helpers they share
//! are here.

mod refusals;
mod s3;
mod transfer;

use std::time::{Duration, Instant};

use crate::support::*;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

const MP4: &str = "mp4_aac_long.mp4";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn options() -> Value {
    json!({"output": {"format": "wav", "sample_rate": 16000, "channels": 1}, "metadata": {"via": "tus"}})
}

fn metadata(filename: &str, options: &Value) -> String {
    format!(
        "filename {},options {}",
        B64.encode(filename),
        B64.encode(options.to_string())
    )
}

fn tus(srv: &TestServer, method: Method, path: &str) -> reqwest::RequestBuilder {
    let rb = srv
        .client
        .request(method, srv.url(path))
        .header("Tus-Resumable", "1.0.0");
    match &srv.auth {
        Some(k) => rb.bearer_auth(k),
        None => rb,
    }
}

/// POST /v1/uploads for `len` bytes; returns the upload's path.
async fn create(srv: &TestServer, len: usize, meta: &str) -> String {
    let r = send(
        tus(srv, Method::POST, "/v1/uploads")
            .header("Upload-Length", len.to_string())
            .header("Upload-Metadata", meta),
    )
    .await;
    r.expect_status(201);
    assert_eq!(r.header("upload-offset").as_deref(), Some("0"));
    assert!(
        r.header("upload-expires")
            .is_some_and(|e| e.ends_with(" GMT"))
    );
    let loc = r.header("location").expect("Location");
    assert!(loc.starts_with("/v1/uploads/"), "{loc}");
    loc
}

/// PATCH `bytes` at `offset`.
async fn patch(srv: &TestServer, path: &str, offset: usize, bytes: &[u8]) -> Resp {
    send(patch_req(srv, path, offset, bytes)).await
}

/// PATCH `bytes` at `offset` with an `Upload-Checksum` of `checksum` (`<algorithm> <base64
/// digest>`).
async fn patch_with_checksum(
    srv: &TestServer,
    path: &str,
    offset: usize,
    checksum: &str,
    bytes: &[u8],
) -> Resp {
    send(patch_req(srv, path, offset, bytes).header("Upload-Checksum", checksum)).await
}

fn patch_req(srv: &TestServer, path: &str, offset: usize, bytes: &[u8]) -> reqwest::RequestBuilder {
    tus(srv, Method::PATCH, path)
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes.to_vec())
}

async fn head(srv: &TestServer, path: &str) -> Resp {
    send(tus(srv, Method::HEAD, path)).await
}

fn offset_of(r: &Resp) -> usize {
    r.header("upload-offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or_else(|| panic!("{}: no Upload-Offset", r.what))
}

fn job_of(r: &Resp) -> String {
    let loc = r
        .header("location")
        .unwrap_or_else(|| panic!("{}: no Location", r.what));
    assert_eq!(r.header("audiotap-job-location"), Some(loc.clone()));
    loc.strip_prefix("/v1/jobs/")
        .expect("a job URL")
        .to_string()
}

/// The output a plain `POST /v1/jobs` makes of the same bytes and options.
async fn reference_output(srv: &TestServer, bytes: Vec<u8>) -> Vec<u8> {
    let id = srv.submit_raw("?sample_rate=16000&channels=1", bytes).await;
    srv.wait_status(&id, "succeeded").await;
    srv.get(&format!("/v1/jobs/{id}/output")).await.body
}

/// Send a PATCH head announcing all of `rest` but only `sent` bytes of it, then hang up.
async fn broken_patch(srv: &TestServer, path: &str, offset: usize, rest: &[u8], sent: usize) {
    let addr = srv.base().trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        rest.len()
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(&rest[..sent]).await.expect("write body");
    s.flush().await.expect("flush");
    drop(s);
}

/// HEAD until the upload's offset stops at `want` (the broken request has been recorded).
async fn wait_offset(srv: &TestServer, path: &str, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = head(srv, path).await;
        h.expect_status(200);
        if offset_of(&h) == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "offset {} never reached {want}",
            offset_of(&h)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
