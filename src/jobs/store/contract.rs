//! What every job store promises: the [`JobStore`] trait and its records, and the helpers
//! both back ends share. Its error is in `error`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::error::StoreResult;
use crate::ErrorCode;
use crate::jobs::model::{Job, JobStatus};

/// What an insert with an idempotency key found.
#[derive(Debug)]
pub enum Inserted {
    Created(Job),
    /// Same key, same request: the job made the first time.
    Existing(Job),
    /// Same key, different request.
    Conflict,
}

/// An idempotency key, scoped to its owner, with a hash of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub request_hash: String,
}

/// One page of a listing, newest first.
#[derive(Debug)]
pub struct Page {
    pub jobs: Vec<Job>,
    /// Pass back to get the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// What a worker learns when it renews its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Still ours, extended.
    Held,
    /// Canceled through the API (on any node): stop and discard the output.
    Canceled,
    /// Another node took the job over (our lease ran out) or it is gone: stop, write nothing.
    Lost,
}

/// Durable job state. Claims are exclusive: a job is run by the node that holds its lease
/// (`lease_owner`, for attempt `attempt`) until the lease runs out without a renewal; then any
/// node may take it over as a new attempt. Writes a worker makes during an attempt go through
/// [`JobStore::update_leased`], which only lands while that attempt still holds the lease, so
/// a node that lost its job can never overwrite (or publish over) the new attempt.
///
/// Errors are [`StoreError`](super::StoreError): the database is unreachable or refused;
/// callers retry later.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn kind(&self) -> &'static str;
    /// True when other processes may share this store: uploads must then wait in shared
    /// object storage, and a starting node must not requeue other nodes' running jobs.
    fn shared(&self) -> bool;
    async fn insert(
        &self,
        job: &Job,
        owner: Option<&str>,
        idem: Option<&Idempotency>,
    ) -> StoreResult<Inserted>;
    async fn get(&self, id: Uuid, owner: Option<&str>) -> StoreResult<Option<Job>>;
    async fn list(
        &self,
        owner: Option<&str>,
        status: Option<JobStatus>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page>;
    /// Replace the stored document (status column follows it), whoever holds the job. For
    /// jobs no worker holds (finished ones: output deletion, webhook attempts).
    async fn update(&self, job: &Job) -> StoreResult<()>;
    /// Atomically take the oldest job that is queued, or running under a lease that ran out,
    /// for `node`: [`Job::begin_attempt`], lease for `lease`. Never hands one job to two
    /// claimers (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    async fn claim_next(&self, node: &str, lease: Duration) -> StoreResult<Option<Job>>;
    /// Extend the lease of attempt `attempt` of job `id` held by `node`.
    async fn renew_lease(
        &self,
        id: Uuid,
        node: &str,
        attempt: u32,
        lease: Duration,
    ) -> StoreResult<LeaseState>;
    /// Write `job` only if its attempt (`job.node`, `job.attempts`) still holds the lease and
    /// the job is still running. A running `job` extends the lease; any other status (ended,
    /// or queued again) releases it. Returns false, writing nothing, when the lease is gone.
    async fn update_leased(&self, job: &Job, lease: Duration) -> StoreResult<bool>;
    /// At a node's start: jobs left `running` go back to `queued`: all of them (`None`, a
    /// store only this node uses) or those leased by `node`. Returns their ids.
    async fn requeue_running(&self, node: Option<&str>) -> StoreResult<Vec<Uuid>>;
    /// Claim up to `limit` jobs whose webhook delivery is due at `now`: each is hidden from
    /// other claimers for `hold` (a node that dies mid-delivery hands it on after that).
    /// The delivery's own [`JobStore::update`] then sets the next due time.
    async fn claim_webhooks(
        &self,
        now: OffsetDateTime,
        limit: u32,
        hold: Duration,
    ) -> StoreResult<Vec<Job>>;
    async fn delete(&self, id: Uuid) -> StoreResult<()>;
    /// Cancel a queued or running job, atomically with respect to claims and to the worker's
    /// end. Returns the canceled job and the status it had, or `None` when it had already
    /// ended. A running job's worker sees it at its next lease renewal.
    async fn cancel(&self, id: Uuid) -> StoreResult<Option<(Job, JobStatus)>>;
    async fn counts(&self) -> StoreResult<HashMap<JobStatus, u64>>;
    async fn ping(&self) -> StoreResult<()>;
    /// The same database's resumable uploads (tus), in `jobs::uploads`.
    fn uploads(&self) -> &dyn crate::jobs::uploads::UploadStore;
}

/// Mark a canceled job (shared by both stores).
pub(crate) fn mark_canceled(job: &mut Job) {
    job.error = Some(crate::jobs::model::JobError {
        code: ErrorCode::Canceled,
        message: "the job was canceled".into(),
    });
    job.finish(JobStatus::Canceled);
}

pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The `webhook_due` column: when a finished job's pending delivery is next due (Unix ms).
pub(crate) fn webhook_due(job: &Job) -> Option<i64> {
    let w = job.webhook.as_ref()?;
    if w.status != crate::jobs::model::DeliveryStatus::Pending || !job.status.is_terminal() {
        return None;
    }
    w.next_attempt_at.map(millis)
}
