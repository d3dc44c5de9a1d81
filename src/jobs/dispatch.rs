//! The worker pool: claims jobs from the store under a lease it keeps renewing and runs each
//! attempt ([`super::steps`]), bounded by the configured number of workers. Every write of
//! an attempt is conditional on still holding the lease, so when nodes race for a job (one
//! presumed dead comes back) only one attempt publishes; the others delete their output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Services;
use super::failure::Failure;
use super::lease::keep_lease;
use super::model::{Job, JobError, JobStatus, StepStatus};
use super::publish::output_key;
use crate::ErrorCode;

/// At start: put jobs a crash left running back in the queue and remove orphaned temp files.
pub async fn recover(svc: &Services) -> anyhow::Result<()> {
    // A store only this node uses: whatever it left running is dead. A shared store: only
    // the jobs leased under this node's (stable, configured) name; the others' leases run
    // out on their own if their nodes are gone.
    let ids = if !svc.store.shared() {
        svc.store.requeue_running(None).await?
    } else if svc.config.node_id.is_some() && svc.config.role.runs_jobs() {
        svc.store.requeue_running(Some(&svc.node)).await?
    } else {
        Vec::new()
    };
    if !ids.is_empty() {
        tracing::warn!(
            count = ids.len(),
            "requeued jobs left running by a previous process"
        );
    }
    match svc.objects.sweep_incomplete().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            count = n,
            "removed outputs a previous process left half-written"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot sweep half-written outputs"),
    }
    // Temp files of dead jobs and uploads that never finished arriving.
    if let Ok(rd) = std::fs::read_dir(svc.config.tmp_dir()) {
        for entry in rd.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if let Ok(rd) = std::fs::read_dir(svc.uploads_dir()) {
        for entry in rd.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".incoming-")
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// Claim and run jobs until shutdown.
pub async fn run_dispatcher(svc: Arc<Services>) {
    loop {
        if svc.is_shutting_down() {
            return;
        }
        while svc.running() < svc.config.workers && !svc.is_shutting_down() {
            match svc.store.claim_next(&svc.node, svc.config.lease()).await {
                Ok(Some(job)) => {
                    let cancel = svc.job_started(job.id);
                    let s = svc.clone();
                    let span = tracing::info_span!("job", id = %job.id, attempt = job.attempts);
                    tokio::spawn(async move { run_job(s, job, cancel).await }.instrument(span));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim jobs");
                    break;
                }
            }
        }
        tokio::select! {
            _ = svc.wake_jobs.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Wait until no job runs (or the grace period ends).
pub async fn drain(svc: &Services, grace: Duration) {
    let deadline = Instant::now() + grace;
    while svc.running() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if svc.running() > 0 {
        svc.stop_running_jobs();
        let hard = Instant::now() + Duration::from_secs(10);
        while svc.running() > 0 && Instant::now() < hard {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn run_job(svc: Arc<Services>, mut job: Job, cancel: CancellationToken) {
    metrics::gauge!("audiotap_jobs_running").set(svc.running() as f64);
    let started = Instant::now();
    let lease = tokio::spawn(
        keep_lease(svc.clone(), job.id, job.attempts, cancel.clone())
            .instrument(tracing::Span::current()),
    );
    let outcome = super::steps::execute(&svc, &mut job, &cancel).await;
    lease.abort();
    match outcome {
        Ok(()) => job.finish(JobStatus::Succeeded),
        Err(Failure::Canceled) if svc.is_shutting_down() => requeue(&mut job),
        Err(Failure::Shutdown) => requeue(&mut job),
        Err(Failure::Canceled) => crate::jobs::store::mark_canceled(&mut job),
        Err(Failure::Transient { message, .. }) if job.attempts < svc.config.job_max_attempts => {
            tracing::warn!(%message, attempt = job.attempts, "transient failure; the job will be retried");
            job.error = Some(JobError {
                code: ErrorCode::Retrying,
                message,
            });
            requeue(&mut job);
        }
        Err(Failure::Transient { code, message }) => {
            job.error = Some(JobError { code, message });
            job.finish(JobStatus::Failed);
        }
        Err(Failure::Fatal { code, message }) => {
            job.error = Some(JobError { code, message });
            job.finish(JobStatus::Failed);
        }
    }
    // The attempt's one publishing write: it lands only while this attempt still holds the
    // lease. A cancel (from any node) or a takeover after our lease ran out wins over it,
    // and this attempt's output is then not the job's.
    let published = match svc.store.update_leased(&job, svc.config.lease()).await {
        Ok(p) => p,
        Err(e) => {
            // The lease runs out and another attempt redoes the job.
            tracing::error!(error = %e, "cannot record the job's end");
            false
        }
    };
    if published {
        if job.status == JobStatus::Succeeded {
            // Outputs of earlier attempts that died after storing but before publishing.
            for attempt in 1..job.attempts {
                let _ = svc.objects.delete(&output_key(&job, attempt)).await;
            }
        }
        if job.status.is_terminal() {
            svc.remove_upload(&job).await;
            metrics::counter!("audiotap_jobs_finished_total", "status" => job.status.as_str())
                .increment(1);
            metrics::histogram!("audiotap_job_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            svc.wake_webhooks.notify_one();
        }
    } else {
        if let Some(out) = &job.output
            && let Err(e) = svc.objects.delete(&out.key).await
        {
            tracing::warn!(error = %e, key = out.key, "cannot delete an unpublished output");
        }
        match svc.store.get(job.id, None).await {
            Ok(Some(current)) if current.status.is_terminal() => {
                tracing::info!(
                    status = current.status.as_str(),
                    "the job ended elsewhere (canceled, or finished by another attempt); this attempt's output was discarded"
                );
                svc.remove_upload(&current).await;
            }
            Ok(Some(current)) => tracing::warn!(
                holder = current.node.as_deref().unwrap_or(""),
                attempt = current.attempts,
                "lost the job's lease to another attempt; this attempt's output was discarded"
            ),
            _ => {}
        }
        metrics::counter!("audiotap_attempts_discarded_total").increment(1);
    }
    svc.job_ended(job.id);
    metrics::gauge!("audiotap_jobs_running").set(svc.running() as f64);
    svc.wake_jobs.notify_one();
}

fn requeue(job: &mut Job) {
    job.status = JobStatus::Queued;
    job.progress = 0.0;
    job.updated_at = OffsetDateTime::now_utc();
    for s in &mut job.steps {
        if s.status == StepStatus::Running {
            s.status = StepStatus::Pending;
        }
    }
}
