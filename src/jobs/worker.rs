//! The worker pool: claims jobs from the store under a lease it keeps renewing, and runs
//! each through its steps (fetch, probe, extract, store, notify), the engine on the blocking
//! pool, bounded by the configured number of workers. Every write of an attempt is
//! conditional on still holding the lease, so when nodes race for a job (one presumed dead
//! comes back) only one attempt publishes; the others delete their output. Also the webhook
//! dispatcher, which claims due deliveries through the store, so any node sends them and
//! they survive restarts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tracing::Instrument;
use uuid::Uuid;

use super::model::{
    DeliveryStatus, Job, JobError, JobOutput, JobStatus, SourceKind, StepName, StepStatus,
    WebhookAttempt,
};
use super::store::JobStore;
use crate::config::Config;
use crate::media::{self, Control, Limits};
use crate::net::UrlGuard;
use crate::net::webhook::{RetrySchedule, WebhookSecret};
use crate::storage::ObjectStore;

/// Everything a worker needs, shared by the API and the pool.
pub struct Services {
    pub config: Config,
    pub store: Arc<dyn JobStore>,
    pub objects: Arc<dyn ObjectStore>,
    /// HTTP client for sources and webhooks, behind the SSRF guard.
    pub http: reqwest::Client,
    pub guard: Arc<UrlGuard>,
    pub webhook_secret: WebhookSecret,
    pub limits: Limits,
    /// This node's name in leases and in the job JSON (`node`).
    pub node: String,
    cancels: Mutex<HashMap<Uuid, Arc<AtomicBool>>>,
    running: AtomicUsize,
    shutting_down: AtomicBool,
    wake_jobs: Notify,
    wake_webhooks: Notify,
}

/// Why a job attempt ended without success.
enum Failure {
    /// The client's input or options: the job fails with this code.
    Fatal {
        code: String,
        message: String,
    },
    /// Storage or I/O trouble that may pass: retried while attempts remain, then the job
    /// fails with `code` (`io_error` for a local I/O failure such as a full disk,
    /// `internal` otherwise).
    Transient {
        code: &'static str,
        message: String,
    },
    Canceled,
    /// The process is stopping: the job goes back to the queue.
    Shutdown,
}

impl Failure {
    /// A transient failure on our side, reported as `internal` once retries are spent.
    fn transient(message: impl Into<String>) -> Failure {
        Failure::Transient {
            code: "internal",
            message: message.into(),
        }
    }
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Canceled => Failure::Canceled,
            e if e.is_client_error() => Failure::Fatal {
                code: e.code().into(),
                message: e.to_string(),
            },
            e => Failure::Transient {
                code: e.code(),
                message: e.to_string(),
            },
        }
    }
}

impl Services {
    pub fn new(
        config: Config,
        store: Arc<dyn JobStore>,
        objects: Arc<dyn ObjectStore>,
        http: reqwest::Client,
        guard: Arc<UrlGuard>,
        webhook_secret: WebhookSecret,
    ) -> Services {
        let limits = Limits {
            max_input_bytes: config.max_upload_bytes,
            ..Limits::default()
        };
        Services {
            node: config.node_id(),
            config,
            store,
            objects,
            http,
            guard,
            webhook_secret,
            limits,
            cancels: Mutex::new(HashMap::new()),
            running: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            wake_jobs: Notify::new(),
            wake_webhooks: Notify::new(),
        }
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.config.data_dir.join("uploads")
    }

    pub fn upload_path(&self, id: Uuid) -> PathBuf {
        self.uploads_dir().join(id.to_string())
    }

    /// Remove a job's upload, wherever it waits (this node's disk or shared storage).
    pub async fn remove_upload(&self, job: &Job) {
        let _ = tokio::fs::remove_file(self.upload_path(job.id)).await;
        if let Some(key) = &job.source.key
            && let Err(e) = self.objects.delete(key).await
        {
            tracing::warn!(error = %e, key, "cannot delete an upload from storage");
        }
    }

    /// A new job is queued: wake the dispatcher.
    pub fn job_added(&self) {
        self.wake_jobs.notify_one();
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Ask a running job to stop. Returns false when it is not running here.
    pub fn cancel_running(&self, id: Uuid) -> bool {
        match self.cancels.lock().ok().and_then(|m| m.get(&id).cloned()) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Stop claiming jobs; running ones are told to stop and go back to the queue.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.wake_jobs.notify_waiters();
        self.wake_webhooks.notify_waiters();
    }

    pub fn stop_running_jobs(&self) {
        if let Ok(m) = self.cancels.lock() {
            for flag in m.values() {
                flag.store(true, Ordering::Relaxed);
            }
        }
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

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
                    svc.running.fetch_add(1, Ordering::Relaxed);
                    let s = svc.clone();
                    let span = tracing::info_span!("job", id = %job.id, attempt = job.attempts);
                    tokio::spawn(async move { run_job(s, job).await }.instrument(span));
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

async fn run_job(svc: Arc<Services>, mut job: Job) {
    let cancel = Arc::new(AtomicBool::new(false));
    if let Ok(mut m) = svc.cancels.lock() {
        m.insert(job.id, cancel.clone());
    }
    metrics::gauge!("audiotap_jobs_running").set(svc.running() as f64);
    let started = Instant::now();
    let lease = tokio::spawn(
        keep_lease(svc.clone(), job.id, job.attempts, cancel.clone())
            .instrument(tracing::Span::current()),
    );
    let outcome = execute(&svc, &mut job, &cancel).await;
    lease.abort();
    match outcome {
        Ok(()) => job.finish(JobStatus::Succeeded),
        Err(Failure::Canceled) if svc.is_shutting_down() => requeue(&mut job),
        Err(Failure::Shutdown) => requeue(&mut job),
        Err(Failure::Canceled) => crate::jobs::store::mark_canceled(&mut job),
        Err(Failure::Transient { message, .. }) if job.attempts < svc.config.job_max_attempts => {
            tracing::warn!(%message, attempt = job.attempts, "transient failure; the job will be retried");
            job.error = Some(JobError {
                code: "retrying".into(),
                message,
            });
            requeue(&mut job);
        }
        Err(Failure::Transient { code, message }) => {
            job.error = Some(JobError {
                code: code.into(),
                message,
            });
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
    if let Ok(mut m) = svc.cancels.lock() {
        m.remove(&job.id);
    }
    svc.running.fetch_sub(1, Ordering::Relaxed);
    metrics::gauge!("audiotap_jobs_running").set(svc.running() as f64);
    svc.wake_jobs.notify_one();
}

/// Renew the lease every third of its length. When the store says the job was canceled
/// (through the API of any node) or is no longer ours, raise the job's stop flag.
async fn keep_lease(svc: Arc<Services>, id: Uuid, attempt: u32, stop: Arc<AtomicBool>) {
    let lease = svc.config.lease();
    let mut tick = tokio::time::interval(lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match svc.store.renew_lease(id, &svc.node, attempt, lease).await {
            Ok(crate::jobs::store::LeaseState::Held) => {}
            Ok(state) => {
                tracing::info!(?state, "the job is no longer this attempt's: stopping it");
                stop.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot renew the job's lease; retrying"),
        }
    }
}

/// Write the attempt's progress; when the lease is gone (canceled, or taken over), stop.
async fn save(svc: &Services, job: &Job, stop: &AtomicBool) {
    match svc.store.update_leased(job, svc.config.lease()).await {
        Ok(true) => {}
        Ok(false) => stop.store(true, Ordering::Relaxed),
        Err(e) => tracing::warn!(error = %e, "cannot record the job's progress"),
    }
}

/// Where attempt `attempt` of `job` stores its output: one key per attempt, so an attempt
/// that lost the job can delete its own output without touching the published one.
fn output_key(job: &Job, attempt: u32) -> String {
    format!(
        "outputs/{}-{attempt}.{}",
        job.id,
        job.output_spec.format.extension()
    )
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

async fn execute(
    svc: &Arc<Services>,
    job: &mut Job,
    cancel: &Arc<AtomicBool>,
) -> Result<(), Failure> {
    let tmp = svc.config.tmp_dir();
    tokio::fs::create_dir_all(&tmp)
        .await
        .map_err(|e| Failure::transient(format!("cannot create {}: {e}", tmp.display())))?;

    // fetch
    job.start_step(StepName::Fetch);
    save(svc, job, cancel).await;
    let (input, _download_guard): (PathBuf, Option<tempfile::TempPath>) = match job.source.kind {
        SourceKind::Upload if job.source.key.is_some() => {
            let key = job.source.key.clone().unwrap_or_default();
            let dest = tempfile::Builder::new()
                .prefix(&format!("{}-src-", job.id))
                .tempfile_in(&tmp)
                .map_err(|e| Failure::transient(format!("temp file: {e}")))?
                .into_temp_path();
            tokio::select! {
                r = fetch_upload(svc, &key, &dest) => r?,
                _ = wait_flag(cancel) => return Err(if svc.is_shutting_down() { Failure::Shutdown } else { Failure::Canceled }),
            }
            job.end_step(StepName::Fetch, StepStatus::Succeeded);
            (dest.to_path_buf(), Some(dest))
        }
        SourceKind::Upload => {
            let p = svc.upload_path(job.id);
            if !p.exists() {
                return Err(Failure::Fatal {
                    code: "source_missing".into(),
                    message: "the uploaded file is gone".into(),
                });
            }
            job.end_step(StepName::Fetch, StepStatus::Skipped);
            (p, None)
        }
        SourceKind::Url => {
            let url = job.source.url.clone().unwrap_or_default();
            let dest = tempfile::Builder::new()
                .prefix(&format!("{}-src-", job.id))
                .tempfile_in(&tmp)
                .map_err(|e| Failure::transient(format!("temp file: {e}")))?
                .into_temp_path();
            let timeout = Duration::from_secs(svc.config.fetch_timeout_secs);
            let opts = crate::net::range::RangeOptions::new(svc.config.max_upload_bytes);
            let mut planner = crate::media::mp4::AudioRanges::default();
            let fetch = crate::net::range::fetch_source(
                &svc.http,
                &svc.guard,
                &url,
                &dest,
                &opts,
                &mut planner,
            );
            let outcome = tokio::select! {
                r = tokio::time::timeout(timeout, fetch) => match r {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(e)) => return Err(Failure::Fatal { code: e.code().into(), message: e.to_string() }),
                    Err(_) => return Err(Failure::Fatal { code: "source_unreachable".into(), message: format!("the download did not finish within {} s", timeout.as_secs()) }),
                },
                _ = wait_flag(cancel) => return Err(if svc.is_shutting_down() { Failure::Shutdown } else { Failure::Canceled }),
            };
            let summary = outcome.summary;
            metrics::counter!("audiotap_bytes_in_total").increment(summary.bytes_fetched);
            job.source.size = summary.source_size.or(Some(summary.bytes_fetched));
            job.source.fetch = Some(summary);
            job.end_step(StepName::Fetch, StepStatus::Succeeded);
            (dest.to_path_buf(), Some(dest))
        }
    };

    // probe
    job.start_step(StepName::Probe);
    save(svc, job, cancel).await;
    let engine = job.output_spec.engine;
    let p = input.clone();
    let info = tokio::task::spawn_blocking(move || media::probe(&p, engine))
        .await
        .map_err(|e| Failure::transient(format!("probe task: {e}")))??;
    info.select_track(&job.output_spec)?;
    job.input = Some(info);
    job.end_step(StepName::Probe, StepStatus::Succeeded);

    // extract
    job.start_step(StepName::Extract);
    save(svc, job, cancel).await;
    let ext = job.output_spec.format.extension();
    let out_path = tempfile::Builder::new()
        .prefix(&format!("{}-out-", job.id))
        .suffix(&format!(".{ext}"))
        .tempfile_in(&tmp)
        .map_err(|e| Failure::transient(format!("temp file: {e}")))?
        .into_temp_path();
    let progress = Arc::new(AtomicU64::new(0));
    let (spec, limits, p_in, p_out, prog, flag) = (
        job.output_spec.clone(),
        svc.limits.clone(),
        input.clone(),
        out_path.to_path_buf(),
        progress.clone(),
        cancel.clone(),
    );
    let span = tracing::Span::current();
    let mut task = tokio::task::spawn_blocking(move || {
        let _enter = span.enter();
        let cb = |p: f64| prog.store(p.to_bits(), Ordering::Relaxed);
        media::extract(
            &p_in,
            &spec,
            &p_out,
            &limits,
            Control {
                progress: Some(&cb),
                cancel: Some(&flag),
            },
        )
    });
    let deadline = tokio::time::Instant::now() + svc.config.job_timeout();
    let report = loop {
        tokio::select! {
            r = &mut task => break r.map_err(|e| Failure::transient(format!("extract task: {e}")))?,
            // Progress reaches the store (and so every node's API) at most once a second.
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if tokio::time::Instant::now() > deadline {
                    cancel.store(true, Ordering::Relaxed);
                    let _ = (&mut task).await;
                    return Err(Failure::Fatal { code: "job_timeout".into(), message: format!("the extraction took longer than {} s", svc.config.job_timeout_secs) });
                }
                job.progress = f64::from_bits(progress.load(Ordering::Relaxed)) * 0.95;
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

    // store
    job.start_step(StepName::Store);
    save(svc, job, cancel).await;
    let p = out_path.to_path_buf();
    let (sha256, size) = tokio::task::spawn_blocking(move || sha256_file(&p))
        .await
        .map_err(|e| Failure::transient(format!("hash task: {e}")))?
        .map_err(|e| Failure::transient(format!("cannot read the output: {e}")))?;
    let key = output_key(job, job.attempts);
    let content_type = job.output_spec.format.content_type();
    let meta = put_with_retry(svc, &key, &out_path, content_type, cancel).await?;
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

/// Copy an upload from shared storage (put there by whichever API node received it).
async fn fetch_upload(svc: &Services, key: &str, dest: &std::path::Path) -> Result<(), Failure> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let body = match svc.objects.get(key, None).await {
        Ok(b) => b,
        Err(crate::storage::StorageError::NotFound(_)) => {
            return Err(Failure::Fatal {
                code: "source_missing".into(),
                message: "the uploaded file is gone".into(),
            });
        }
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

/// Publish the output, riding out a storage outage: transient failures are retried with
/// exponential backoff (0.5 s doubling to 30 s) for up to `store_retry_secs`, so a job that
/// finished while S3 was down completes once it is back, without extracting again. A put
/// replaces the whole object, so a retry never leaves a half-written or duplicate output.
async fn put_with_retry(
    svc: &Services,
    key: &str,
    path: &std::path::Path,
    content_type: &str,
    cancel: &AtomicBool,
) -> Result<crate::storage::ObjectMeta, Failure> {
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
            _ = wait_flag(cancel) => {
                return Err(if svc.is_shutting_down() { Failure::Shutdown } else { Failure::Canceled });
            }
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

async fn wait_flag(flag: &AtomicBool) {
    while !flag.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
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

/// Deliver due webhooks until shutdown. Attempts are recorded on the job, so a restart
/// resumes the schedule; the message id stays the same on every attempt.
pub async fn run_webhooks(svc: Arc<Services>) {
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    loop {
        if svc.is_shutting_down() {
            return;
        }
        let free = limit.available_permits() as u32;
        if free > 0 {
            // A claimed delivery is hidden from the other nodes for WEBHOOK_HOLD; the
            // attempt's own update sets the next due time.
            match svc
                .store
                .claim_webhooks(OffsetDateTime::now_utc(), free, WEBHOOK_HOLD)
                .await
            {
                Ok(jobs) => {
                    for job in jobs {
                        let Ok(permit) = limit.clone().acquire_owned().await else {
                            return;
                        };
                        let s = svc.clone();
                        tokio::spawn(async move {
                            deliver(&s, job.id).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot claim due webhooks"),
            }
        }
        tokio::select! {
            _ = svc.wake_webhooks.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Longer than one delivery attempt can take (its HTTP timeout).
const WEBHOOK_HOLD: Duration = Duration::from_secs(120);

async fn deliver(svc: &Services, id: Uuid) {
    let Ok(Some(mut job)) = svc.store.get(id, None).await else {
        return;
    };
    let Some(hook) = job.webhook.clone() else {
        return;
    };
    if hook.status != DeliveryStatus::Pending || !job.status.is_terminal() {
        return;
    }
    // The payload carries the job as it ended, without the delivery log, so every attempt
    // sends the same bytes.
    let mut snapshot = job.clone();
    snapshot.webhook = None;
    snapshot.updated_at = job.finished_at.unwrap_or(job.updated_at);
    for step in snapshot
        .steps
        .iter_mut()
        .filter(|s| s.name == StepName::Notify)
    {
        step.status = StepStatus::Pending;
        step.started_at = None;
        step.finished_at = None;
        step.duration_ms = None;
    }
    let event = hook
        .event
        .clone()
        .unwrap_or_else(|| format!("job.{}", job.status.as_str()));
    let body = serde_json::json!({
        "type": event,
        "timestamp": job.finished_at.unwrap_or(job.updated_at).format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "data": snapshot,
    });
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let attempt_no = hook.attempts.len() as u32 + 1;
    if attempt_no == 1 {
        job.start_step(StepName::Notify);
    }
    let result = if let Err(e) = reqwest::Url::parse(&hook.url)
        .map_err(|e| e.to_string())
        .and_then(|u| svc.guard.check_url(&u).map_err(|e| e.to_string()))
    {
        crate::net::webhook::DeliveryAttempt {
            attempt: attempt_no,
            at: OffsetDateTime::now_utc(),
            status: None,
            error: Some(e),
            duration_ms: 0,
            retry_after: None,
        }
    } else {
        crate::net::webhook::deliver_once(
            &svc.http,
            &hook.url,
            &svc.webhook_secret,
            &hook.message_id,
            &body,
        )
        .await
    };
    let ok = result.status.is_some_and(|s| (200..300).contains(&s));
    metrics::counter!("audiotap_webhook_attempts_total", "ok" => if ok { "true" } else { "false" })
        .increment(1);
    let schedule = RetrySchedule {
        base: Duration::from_millis(svc.config.webhook_backoff_base_ms),
        max: Duration::from_millis(svc.config.webhook_backoff_max_ms),
        max_attempts: svc.config.webhook_max_attempts,
    };
    let next = if ok {
        None
    } else {
        schedule.next_delay(attempt_no, result.retry_after, &mut rand::rng())
    };
    let Some(w) = job.webhook.as_mut() else {
        return;
    };
    w.attempts.push(WebhookAttempt {
        attempt: attempt_no,
        at: result.at,
        status: result.status,
        error: result.error.clone(),
        duration_ms: result.duration_ms,
    });
    match (ok, next) {
        (true, _) => {
            w.status = DeliveryStatus::Delivered;
            w.next_attempt_at = None;
            job.end_step(StepName::Notify, StepStatus::Succeeded);
        }
        (false, Some(delay)) => {
            w.next_attempt_at = Some(OffsetDateTime::now_utc() + delay);
        }
        (false, None) => {
            w.status = DeliveryStatus::Failed;
            w.next_attempt_at = None;
            job.end_step(StepName::Notify, StepStatus::Failed);
        }
    }
    job.updated_at = OffsetDateTime::now_utc();
    if let Err(e) = svc.store.update(&job).await {
        tracing::error!(error = %e, "cannot record a webhook attempt");
    }
}
