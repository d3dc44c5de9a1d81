//! Download a remote source to a local file, streaming, under a size cap.

use std::path::Path;

use futures_util::StreamExt;
use reqwest::Url;
use tokio::io::AsyncWriteExt;

use super::{NetError, UrlGuard};

/// What a download produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadInfo {
    /// Bytes written to the destination.
    pub bytes: u64,
    /// The response's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The URL the body came from, after redirects.
    pub final_url: String,
}

/// GET `url` and stream the body into `dest` (created or truncated), never holding it whole
/// in memory.
///
/// `client` should come from [`crate::net::guarded_client`] with the same `guard`; the URL is
/// checked here first so that a refusal carries a precise message. Refused with
/// `source_too_large` when the declared `Content-Length` or the bytes actually received
/// exceed `max_bytes`; a non-2xx answer or a network failure is `source_unreachable`. On
/// any error the partial file is removed.
pub async fn download_to_file(
    client: &reqwest::Client,
    guard: &UrlGuard,
    url: &str,
    dest: &Path,
    max_bytes: u64,
) -> Result<DownloadInfo, NetError> {
    // The parse error alone: the URL may carry credentials or tokens.
    let parsed = Url::parse(url).map_err(|e| NetError::InvalidUrl(e.to_string()))?;
    guard.check_url(&parsed)?;

    let response = client
        .get(parsed)
        .send()
        .await
        .map_err(NetError::from_reqwest)?;
    let status = response.status();
    if !status.is_success() {
        return Err(NetError::SourceUnreachable {
            status: Some(status.as_u16()),
            message: format!("the source answered HTTP {status}"),
        });
    }
    if let Some(declared) = response.content_length()
        && declared > max_bytes
    {
        return Err(too_large(max_bytes));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let final_url = response.url().to_string();

    let file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| NetError::io(format!("cannot create {}", dest.display()), e))?;
    match stream_body(response, file, dest, max_bytes).await {
        Ok(bytes) => Ok(DownloadInfo {
            bytes,
            content_type,
            final_url,
        }),
        Err(err) => {
            let _ = tokio::fs::remove_file(dest).await;
            Err(err)
        }
    }
}

async fn stream_body(
    response: reqwest::Response,
    mut file: tokio::fs::File,
    dest: &Path,
    max_bytes: u64,
) -> Result<u64, NetError> {
    let write_err = |e| NetError::io(format!("cannot write {}", dest.display()), e);
    let mut written: u64 = 0;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(NetError::from_reqwest)?;
        written = written.saturating_add(chunk.len() as u64);
        if written > max_bytes {
            return Err(too_large(max_bytes));
        }
        file.write_all(&chunk).await.map_err(write_err)?;
    }
    file.flush().await.map_err(write_err)?;
    Ok(written)
}

fn too_large(max_bytes: u64) -> NetError {
    NetError::SourceTooLarge(format!(
        "the source is larger than the limit of {max_bytes} bytes"
    ))
}
