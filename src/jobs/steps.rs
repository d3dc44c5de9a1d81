//! One attempt of a job, step by step: fetch the source, probe it, extract, store the
//! output. Each step records its status on the job and saves it under the lease; the
//! dispatcher ([`super::dispatch`]) decides what the attempt's end means for the job.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::Services;
use super::failure::Failure;
use super::lease::save;
use super::model::{Job, JobOutput, SourceKind, StepName, StepStatus};
use super::publish::{output_key, put_with_retry, sha256_file};
use super::runner::{Extraction, Input, Run};
use crate::ErrorCode;
use crate::media;
use crate::spec::Report;

/// Run the attempt's steps; `Ok` once the output is stored (not yet published).
pub(super) async fn execute(
    svc: &Arc<Services>,
    job: &mut Job,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    let tmp = svc.config.tmp_dir();
    tokio::fs::create_dir_all(&tmp)
        .await
        .map_err(|e| Failure::transient(format!("cannot create {}: {e}", tmp.display())))?;
    let (input, _download) = fetch(svc, job, cancel, &tmp).await?;
    probe(svc, job, cancel, &input).await?;
    let (report, output) = extract(svc, job, cancel, &tmp, &input).await?;
    store(svc, job, cancel, &report, &output).await
}

/// A source on local disk: the upload where it waits, or a downloaded copy (removed with
/// the returned guard).
async fn fetch(
    svc: &Services,
    job: &mut Job,
    cancel: &CancellationToken,
    tmp: &Path,
) -> Result<(PathBuf, Option<tempfile::TempPath>), Failure> {
    job.start_step(StepName::Fetch);
    save(svc, job, cancel).await;
    let temp_source = || {
        tempfile::Builder::new()
            .prefix(&format!("{}-src-", job.id))
            .tempfile_in(tmp)
            .map(tempfile::NamedTempFile::into_temp_path)
            .map_err(|e| Failure::transient(format!("temp file: {e}")))
    };
    match (&job.source.kind, &job.source.key, &job.source.url) {
        (SourceKind::Upload, Some(key), _) => {
            let dest = temp_source()?;
            tokio::select! {
                r = fetch_upload(svc, key, &dest) => r?,
                _ = cancel.cancelled() => return Err(Failure::stopped(svc.is_shutting_down())),
            }
            job.end_step(StepName::Fetch, StepStatus::Succeeded);
            Ok((dest.to_path_buf(), Some(dest)))
        }
        (SourceKind::Upload, None, _) => {
            let p = svc.upload_path(job.id);
            if !p.exists() {
                return Err(source_missing());
            }
            job.end_step(StepName::Fetch, StepStatus::Skipped);
            Ok((p, None))
        }
        (SourceKind::Url, _, Some(url)) => {
            let dest = temp_source()?;
            let summary = tokio::select! {
                r = super::source::fetch_url(svc, url, &dest) => r?,
                _ = cancel.cancelled() => return Err(Failure::stopped(svc.is_shutting_down())),
            };
            job.source.size = summary.source_size.or(Some(summary.bytes_fetched));
            job.source.fetch = Some(summary);
            job.end_step(StepName::Fetch, StepStatus::Succeeded);
            Ok((dest.to_path_buf(), Some(dest)))
        }
        (SourceKind::Url, _, None) => Err(Failure::transient("a URL job without a URL")),
    }
}

fn source_missing() -> Failure {
    Failure::Fatal {
        code: ErrorCode::SourceMissing,
        message: "the uploaded file is gone".into(),
    }
}

/// Copy an upload from shared storage (put there by whichever API node received it).
async fn fetch_upload(svc: &Services, key: &str, dest: &Path) -> Result<(), Failure> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let body = match svc.objects.get(key, None).await {
        Ok(b) => b,
        Err(crate::storage::StorageError::NotFound(_)) => return Err(source_missing()),
        Err(e) => return Err(Failure::transient(format!("storage: {e}"))),
    };
    let io = |e: std::io::Error| Failure::transient(format!("reading the upload: {e}"));
    let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
    let mut stream = body.stream;
    while let Some(chunk) = stream.next().await {
        file.write_all(&chunk.map_err(io)?).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(())
}

/// What the source holds, and that the requested track is there.
async fn probe(
    svc: &Services,
    job: &mut Job,
    cancel: &CancellationToken,
    input: &Path,
) -> Result<(), Failure> {
    job.start_step(StepName::Probe);
    save(svc, job, cancel).await;
    let engine = job.output_spec.engine;
    let path = input.to_path_buf();
    let info = tokio::task::spawn_blocking(move || media::probe(&media::Input::file(path), engine))
        .await
        .map_err(|e| Failure::transient(format!("probe task: {e}")))??;
    info.select_track(&job.output_spec)?;
    job.input = Some(info);
    job.end_step(StepName::Probe, StepStatus::Succeeded);
    Ok(())
}

/// Run the engine into a temp file, saving progress at most once a second (so it reaches
/// every node's API) and stopping it at the job's deadline.
async fn extract(
    svc: &Services,
    job: &mut Job,
    cancel: &CancellationToken,
    tmp: &Path,
    input: &Path,
) -> Result<(Report, tempfile::TempPath), Failure> {
    job.start_step(StepName::Extract);
    save(svc, job, cancel).await;
    let output = tempfile::Builder::new()
        .prefix(&format!("{}-out-", job.id))
        .suffix(&format!(".{}", job.output_spec.format.extension()))
        .tempfile_in(tmp)
        .map_err(|e| Failure::transient(format!("temp file: {e}")))?
        .into_temp_path();
    let extraction = Extraction::start(
        Input::file(input),
        output.to_path_buf(),
        Run {
            spec: job.output_spec.clone(),
            limits: svc.limits.clone(),
            cancel: cancel.clone(),
            on_first_block: None,
        },
    );
    let progress = extraction.progress();
    let mut done = std::pin::pin!(extraction.finish());
    let deadline = tokio::time::Instant::now() + svc.config.job_timeout();
    let report = loop {
        tokio::select! {
            r = &mut done => break r,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if tokio::time::Instant::now() > deadline {
                    cancel.cancel();
                    let _ = (&mut done).await;
                    return Err(Failure::Fatal {
                        code: ErrorCode::JobTimeout,
                        message: format!("the extraction took longer than {} s", svc.config.job_timeout_secs),
                    });
                }
                job.progress = progress.get() * 0.95;
                job.updated_at = OffsetDateTime::now_utc();
                save(svc, job, cancel).await;
            }
        }
    };
    let report = match report {
        Err(crate::Error::Canceled) if svc.is_shutting_down() => return Err(Failure::Shutdown),
        r => r?,
    };
    job.end_step(StepName::Extract, StepStatus::Succeeded);
    Ok((report, output))
}

/// Hash the output and put it under this attempt's key.
async fn store(
    svc: &Services,
    job: &mut Job,
    cancel: &CancellationToken,
    report: &Report,
    output: &Path,
) -> Result<(), Failure> {
    job.start_step(StepName::Store);
    save(svc, job, cancel).await;
    let path = output.to_path_buf();
    let (sha256, size) = tokio::task::spawn_blocking(move || sha256_file(&path))
        .await
        .map_err(|e| Failure::transient(format!("hash task: {e}")))?
        .map_err(|e| Failure::transient(format!("cannot read the output: {e}")))?;
    let key = output_key(job, job.attempts);
    let content_type = job.output_spec.format.content_type();
    let meta = put_with_retry(svc, &key, output, content_type, cancel).await?;
    metrics::counter!("audiotap_bytes_out_total").increment(meta.size);
    job.output = Some(JobOutput {
        url: format!("/v1/jobs/{}/output", job.id),
        key,
        content_type: content_type.to_string(),
        size: size.max(meta.size),
        sha256,
        duration: report.duration,
        sample_rate: report.sample_rate,
        channels: report.channels,
        bit_depth: report.bit_depth,
        codec: report.codec.clone(),
        copied: report.copied,
        engine: report.engine,
        audio_offset: report.audio_offset,
    });
    job.end_step(StepName::Store, StepStatus::Succeeded);
    Ok(())
}
