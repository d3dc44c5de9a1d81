//! A URL source fetched to local disk through the guarded Range reader, under the
//! service's fetch timeout: the same for URL jobs and for `POST /v1/extract`.

use std::path::Path;
use std::time::Duration;

use super::Services;
use crate::net::range::{RangeOptions, fetch_source};
use crate::net::{FetchSummary, NetError};

/// Fetch `url` into `dest` (only the audio's bytes of a remote MP4, where the server
/// answers ranges). A fetch that outlives `fetch_timeout_secs` is `source_unreachable`.
pub async fn fetch_url(svc: &Services, url: &str, dest: &Path) -> Result<FetchSummary, NetError> {
    let timeout = Duration::from_secs(svc.config.fetch_timeout_secs);
    let opts = RangeOptions::new(svc.config.max_upload_bytes);
    let fetch = fetch_source(&svc.http, &svc.guard, url, dest, &opts);
    match tokio::time::timeout(timeout, fetch).await {
        Ok(outcome) => {
            let summary = outcome?.summary;
            metrics::counter!("audiotap_bytes_in_total").increment(summary.bytes_fetched);
            Ok(summary)
        }
        Err(_) => Err(NetError::SourceUnreachable {
            status: None,
            message: format!("the download did not finish within {} s", timeout.as_secs()),
        }),
    }
}
