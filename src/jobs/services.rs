//! [`Services`]: what the API and the worker pool share (configuration, the job store,
//! object storage, the guarded HTTP client, the webhook key, engine limits), and the
//! node's runtime state (jobs running here and their cancellation tokens, shutdown, the
//! dispatchers' wake-ups).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::model::Job;
use super::store::JobStore;
use crate::config::Config;
use crate::media::Limits;
use crate::net::UrlGuard;
use crate::net::webhook::WebhookSecret;
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
    /// The jobs running on this node, each with the token that stops it.
    running: Mutex<HashMap<Uuid, CancellationToken>>,
    running_count: AtomicUsize,
    shutdown: CancellationToken,
    pub(super) wake_jobs: Notify,
    pub(super) wake_webhooks: Notify,
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
            running: Mutex::new(HashMap::new()),
            running_count: AtomicUsize::new(0),
            shutdown: CancellationToken::new(),
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

    /// Jobs running on this node.
    pub fn running(&self) -> usize {
        self.running_count.load(Ordering::Relaxed)
    }

    /// Ask a running job to stop. Returns false when it is not running here.
    pub fn cancel_running(&self, id: Uuid) -> bool {
        match self.running.lock().ok().and_then(|m| m.get(&id).cloned()) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Stop claiming jobs; running ones go on until [`super::drain`] tells them to stop.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
        self.wake_jobs.notify_waiters();
        self.wake_webhooks.notify_waiters();
    }

    /// Tell every job running here to stop (they go back to the queue).
    pub fn stop_running_jobs(&self) {
        if let Ok(m) = self.running.lock() {
            for token in m.values() {
                token.cancel();
            }
        }
    }

    pub(super) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Count a job as running here and give it its cancellation token.
    pub(super) fn job_started(&self, id: Uuid) -> CancellationToken {
        let token = CancellationToken::new();
        if let Ok(mut m) = self.running.lock() {
            m.insert(id, token.clone());
        }
        self.running_count.fetch_add(1, Ordering::Relaxed);
        token
    }

    pub(super) fn job_ended(&self, id: Uuid) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(&id);
        }
        self.running_count.fetch_sub(1, Ordering::Relaxed);
    }
}
