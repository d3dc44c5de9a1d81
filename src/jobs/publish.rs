//! Storing an attempt's output in object storage: under a key of its own, hashed, then put
//! with retries that ride out a storage outage.

use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::Services;
use super::failure::Failure;
use super::model::Job;
use crate::storage::ObjectMeta;

/// Publish the output, riding out a storage outage: transient failures are retried with
/// exponential backoff (0.5 s doubling to 30 s) for up to `store_retry_secs`, so a job that
/// finished while S3 was down completes once it is back, without extracting again. A put
/// replaces the whole object, so a retry never leaves a half-written or duplicate output.
pub(super) async fn put_with_retry(
    svc: &Services,
    key: &str,
    path: &Path,
    content_type: &str,
    cancel: &CancellationToken,
) -> Result<ObjectMeta, Failure> {
    let give_up = Instant::now() + Duration::from_secs(svc.config.store_retry_secs);
    let mut delay = Duration::from_millis(500);
    let mut tries = 0u32;
    loop {
        tries += 1;
        let e = match svc.objects.put_file(key, path, content_type).await {
            Ok(meta) => return Ok(meta),
            Err(e) => e,
        };
        if !e.is_transient() || Instant::now() + delay > give_up {
            return Err(Failure::transient(format!(
                "storage (after {tries} tries): {e}"
            )));
        }
        tracing::warn!(error = %e, tries, retry_in_ms = delay.as_millis() as u64, "storage put failed; retrying");
        metrics::counter!("audiotap_store_retries_total").increment(1);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return Err(Failure::stopped(svc.is_shutting_down())),
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Where attempt `attempt` of `job` stores its output: one key per attempt, so an attempt
/// that lost the job can delete its own output without touching the published one.
pub(super) fn output_key(job: &Job, attempt: u32) -> String {
    format!(
        "outputs/{}-{attempt}.{}",
        job.id,
        job.output_spec.format.extension()
    )
}

/// SHA-256 (hex) and size of a file, read in 1 MiB blocks.
pub(super) fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}
