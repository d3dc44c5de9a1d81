//! Durable job state behind a trait: the embedded SQLite store here; PostgreSQL joins it
//! for many nodes. Jobs are kept as JSON documents with the columns queries need.

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{Job, JobStatus};

#[derive(Debug, thiserror::Error)]
#[error("job store: {0}")]
pub struct StoreError(pub String);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError(format!("job document: {e}"))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

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

#[async_trait]
pub trait JobStore: Send + Sync + 'static {
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
    /// Replace the stored document (status column follows it).
    async fn update(&self, job: &Job) -> StoreResult<()>;
    /// Atomically take the oldest queued job, mark it running, count the attempt.
    async fn claim_next(&self) -> StoreResult<Option<Job>>;
    /// After a crash: jobs left `running` go back to `queued`. Returns their ids.
    async fn requeue_running(&self) -> StoreResult<Vec<Uuid>>;
    /// Jobs whose webhook delivery is due at `now`.
    async fn due_webhooks(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<Job>>;
    async fn delete(&self, id: Uuid) -> StoreResult<()>;
    /// Cancel a job that no worker has claimed yet, atomically with respect to claims.
    /// Returns the canceled job, or `None` when it was not queued.
    async fn cancel_queued(&self, id: Uuid) -> StoreResult<Option<Job>>;
    async fn counts(&self) -> StoreResult<HashMap<JobStatus, u64>>;
    async fn ping(&self) -> StoreResult<()>;
}

pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has one writer; claims go through here so two workers never take one job.
    claim: tokio::sync::Mutex<()>,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    idem_key TEXT,
    idem_hash TEXT,
    webhook_due INTEGER,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(owner, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, seq);
CREATE INDEX IF NOT EXISTS jobs_webhook_due ON jobs(webhook_due) WHERE webhook_due IS NOT NULL;
"#;

fn webhook_due(job: &Job) -> Option<i64> {
    let w = job.webhook.as_ref()?;
    if w.status != super::model::DeliveryStatus::Pending || !job.status.is_terminal() {
        return None;
    }
    w.next_attempt_at
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

impl SqliteStore {
    /// Open (creating if needed) the database at `url` (`sqlite://path?mode=rwc`).
    pub async fn open(url: &str) -> StoreResult<SqliteStore> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a committed job survives a process crash (kill -9).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(SqliteStore {
            pool,
            claim: tokio::sync::Mutex::new(()),
        })
    }

    fn doc(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Job> {
        let doc: String = row.try_get("doc")?;
        Ok(serde_json::from_str(&doc)?)
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn insert(
        &self,
        job: &Job,
        owner: Option<&str>,
        idem: Option<&Idempotency>,
    ) -> StoreResult<Inserted> {
        let owner = owner.unwrap_or("");
        let _guard = self.claim.lock().await;
        // IMMEDIATE takes the write lock up front: a deferred transaction that reads and
        // then writes fails at once (SQLITE_BUSY_SNAPSHOT) when a worker wrote in between.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(idem) = idem {
            let found =
                sqlx::query("SELECT idem_hash, doc FROM jobs WHERE owner = ? AND idem_key = ?")
                    .bind(owner)
                    .bind(&idem.key)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(row) = found {
                let hash: Option<String> = row.try_get("idem_hash")?;
                return Ok(if hash.as_deref() == Some(idem.request_hash.as_str()) {
                    Inserted::Existing(Self::doc(&row)?)
                } else {
                    Inserted::Conflict
                });
            }
        }
        sqlx::query("INSERT INTO jobs (id, owner, status, idem_key, idem_hash, webhook_due, doc) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(job.id.to_string())
            .bind(owner)
            .bind(job.status.as_str())
            .bind(idem.map(|i| i.key.clone()))
            .bind(idem.map(|i| i.request_hash.clone()))
            .bind(webhook_due(job))
            .bind(serde_json::to_string(job)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Inserted::Created(job.clone()))
    }

    async fn get(&self, id: Uuid, owner: Option<&str>) -> StoreResult<Option<Job>> {
        let row = match owner {
            Some(o) => {
                sqlx::query("SELECT doc FROM jobs WHERE id = ? AND owner = ?")
                    .bind(id.to_string())
                    .bind(o)
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT doc FROM jobs WHERE id = ?")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        row.as_ref().map(Self::doc).transpose()
    }

    async fn list(
        &self,
        owner: Option<&str>,
        status: Option<JobStatus>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page> {
        let before: i64 = match cursor {
            Some(c) => c.parse().map_err(|_| StoreError("bad cursor".into()))?,
            None => i64::MAX,
        };
        let limit = i64::from(limit.clamp(1, 500));
        let rows = sqlx::query(
            "SELECT seq, doc FROM jobs WHERE seq < ?1 AND (?2 IS NULL OR owner = ?2) AND (?3 IS NULL OR status = ?3) ORDER BY seq DESC LIMIT ?4",
        )
        .bind(before)
        .bind(owner)
        .bind(status.map(JobStatus::as_str))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        let mut last_seq = None;
        for row in rows.iter().take(limit as usize) {
            jobs.push(Self::doc(row)?);
            last_seq = Some(row.try_get::<i64, _>("seq")?);
        }
        let next_cursor = if rows.len() as i64 > limit {
            last_seq.map(|s| s.to_string())
        } else {
            None
        };
        Ok(Page { jobs, next_cursor })
    }

    async fn update(&self, job: &Job) -> StoreResult<()> {
        sqlx::query("UPDATE jobs SET status = ?, webhook_due = ?, doc = ? WHERE id = ?")
            .bind(job.status.as_str())
            .bind(webhook_due(job))
            .bind(serde_json::to_string(job)?)
            .bind(job.id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn claim_next(&self) -> StoreResult<Option<Job>> {
        let _guard = self.claim.lock().await;
        let row = sqlx::query("SELECT doc FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut job = Self::doc(&row)?;
        let now = OffsetDateTime::now_utc();
        job.status = JobStatus::Running;
        job.attempts += 1;
        job.started_at.get_or_insert(now);
        job.updated_at = now;
        let done = sqlx::query(
            "UPDATE jobs SET status = 'running', doc = ? WHERE id = ? AND status = 'queued'",
        )
        .bind(serde_json::to_string(&job)?)
        .bind(job.id.to_string())
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(job))
    }

    async fn requeue_running(&self) -> StoreResult<Vec<Uuid>> {
        let _guard = self.claim.lock().await;
        let rows = sqlx::query("SELECT doc FROM jobs WHERE status = 'running'")
            .fetch_all(&self.pool)
            .await?;
        let mut ids = Vec::new();
        for row in rows {
            let mut job = Self::doc(&row)?;
            job.status = JobStatus::Queued;
            job.progress = 0.0;
            job.updated_at = OffsetDateTime::now_utc();
            self.update(&job).await?;
            ids.push(job.id);
        }
        Ok(ids)
    }

    async fn due_webhooks(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<Job>> {
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let rows = sqlx::query("SELECT doc FROM jobs WHERE webhook_due IS NOT NULL AND webhook_due <= ? ORDER BY webhook_due LIMIT ?")
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::doc).collect()
    }

    async fn delete(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query("DELETE FROM jobs WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn cancel_queued(&self, id: Uuid) -> StoreResult<Option<Job>> {
        let _guard = self.claim.lock().await;
        let row = sqlx::query("SELECT doc FROM jobs WHERE id = ? AND status = 'queued'")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut job = Self::doc(&row)?;
        job.error = None;
        job.finish(JobStatus::Canceled);
        self.update(&job).await?;
        Ok(Some(job))
    }

    async fn counts(&self) -> StoreResult<HashMap<JobStatus, u64>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        let mut out: HashMap<JobStatus, u64> = JobStatus::ALL.into_iter().map(|s| (s, 0)).collect();
        for row in rows {
            let status: String = row.try_get("status")?;
            let n: i64 = row.try_get("n")?;
            if let Some(st) = JobStatus::parse(&status) {
                out.insert(st, n.max(0) as u64);
            }
        }
        Ok(out)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
