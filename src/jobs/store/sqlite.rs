//! The embedded job store on SQLite: one node, zero configuration, schema from the
//! embedded `migrations/sqlite`. One writer: claims serialise on a mutex.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::contract::{
    Idempotency, Inserted, JobStore, LeaseState, Page, duration_ms, mark_canceled, millis,
    webhook_due,
};
use super::error::{StoreError, StoreResult};
use crate::jobs::model::{Job, JobStatus};

pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has one writer; claims go through here so two workers never take one job.
    claim: tokio::sync::Mutex<()>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
    /// Open (creating if needed) the database at `url` (`sqlite://path?mode=rwc`) and bring
    /// its schema up to date (migrations embedded from `migrations/sqlite`).
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
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(SqliteStore {
            pool,
            claim: tokio::sync::Mutex::new(()),
        })
    }

    fn doc(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Job> {
        let doc: String = row.try_get("doc")?;
        Ok(serde_json::from_str(&doc)?)
    }

    fn now_ms() -> i64 {
        millis(OffsetDateTime::now_utc())
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn shared(&self) -> bool {
        false
    }

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
        sqlx::query("INSERT INTO jobs (id, owner, status, idem_key, idem_hash, webhook_due, attempt, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(job.id.to_string())
            .bind(owner)
            .bind(job.status.as_str())
            .bind(idem.map(|i| i.key.clone()))
            .bind(idem.map(|i| i.request_hash.clone()))
            .bind(webhook_due(job))
            .bind(i64::from(job.attempts))
            .bind(serde_json::to_string(job)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Inserted::Created(job.clone()))
    }

    async fn get(&self, id: Uuid, owner: Option<&str>) -> StoreResult<Option<Job>> {
        let row = sqlx::query("SELECT doc FROM jobs WHERE id = ?1 AND (?2 IS NULL OR owner = ?2)")
            .bind(id.to_string())
            .bind(owner)
            .fetch_optional(&self.pool)
            .await?;
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
            Some(c) => c
                .parse()
                .map_err(|_| StoreError::InvalidCursor(c.to_string()))?,
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

    async fn claim_next(&self, node: &str, lease: Duration) -> StoreResult<Option<Job>> {
        let _guard = self.claim.lock().await;
        let now = Self::now_ms();
        let row = sqlx::query(
            "SELECT doc FROM jobs WHERE status = 'queued' OR (status = 'running' AND lease_until < ?) ORDER BY seq LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut job = Self::doc(&row)?;
        let was = job.status;
        job.begin_attempt(node);
        // Conditional on what was read: a cancel in between wins.
        let done = sqlx::query(
            "UPDATE jobs SET status = 'running', lease_owner = ?, lease_until = ?, attempt = ?, doc = ? WHERE id = ? AND status = ?",
        )
        .bind(node)
        .bind(now + duration_ms(lease))
        .bind(i64::from(job.attempts))
        .bind(serde_json::to_string(&job)?)
        .bind(job.id.to_string())
        .bind(was.as_str())
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(job))
    }

    async fn renew_lease(
        &self,
        id: Uuid,
        node: &str,
        attempt: u32,
        lease: Duration,
    ) -> StoreResult<LeaseState> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND status = 'running' AND lease_owner = ? AND attempt = ?",
        )
        .bind(Self::now_ms() + duration_ms(lease))
        .bind(id.to_string())
        .bind(node)
        .bind(i64::from(attempt))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(LeaseState::Held);
        }
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match status.as_deref() {
            Some("canceled") => LeaseState::Canceled,
            _ => LeaseState::Lost,
        })
    }

    async fn update_leased(&self, job: &Job, lease: Duration) -> StoreResult<bool> {
        let node = job.node.as_deref().unwrap_or("");
        let running = job.status == JobStatus::Running;
        let done = sqlx::query(
            "UPDATE jobs SET status = ?1, webhook_due = ?2, doc = ?3, \
             lease_owner = CASE WHEN ?4 THEN lease_owner END, \
             lease_until = CASE WHEN ?4 THEN ?5 END \
             WHERE id = ?6 AND status = 'running' AND lease_owner = ?7 AND attempt = ?8",
        )
        .bind(job.status.as_str())
        .bind(webhook_due(job))
        .bind(serde_json::to_string(job)?)
        .bind(running)
        .bind(Self::now_ms() + duration_ms(lease))
        .bind(job.id.to_string())
        .bind(node)
        .bind(i64::from(job.attempts))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn requeue_running(&self, node: Option<&str>) -> StoreResult<Vec<Uuid>> {
        let _guard = self.claim.lock().await;
        let rows = sqlx::query(
            "SELECT doc FROM jobs WHERE status = 'running' AND (?1 IS NULL OR lease_owner = ?1)",
        )
        .bind(node)
        .fetch_all(&self.pool)
        .await?;
        let mut ids = Vec::new();
        for row in rows {
            let mut job = Self::doc(&row)?;
            job.status = JobStatus::Queued;
            job.progress = 0.0;
            job.updated_at = OffsetDateTime::now_utc();
            sqlx::query("UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, doc = ? WHERE id = ? AND status = 'running'")
                .bind(serde_json::to_string(&job)?)
                .bind(job.id.to_string())
                .execute(&self.pool)
                .await?;
            ids.push(job.id);
        }
        Ok(ids)
    }

    async fn claim_webhooks(
        &self,
        now: OffsetDateTime,
        limit: u32,
        hold: Duration,
    ) -> StoreResult<Vec<Job>> {
        let _guard = self.claim.lock().await;
        let now_ms = millis(now);
        let rows = sqlx::query("SELECT doc FROM jobs WHERE webhook_due IS NOT NULL AND webhook_due <= ? ORDER BY webhook_due LIMIT ?")
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let jobs = rows
            .iter()
            .map(Self::doc)
            .collect::<StoreResult<Vec<_>>>()?;
        for job in &jobs {
            sqlx::query("UPDATE jobs SET webhook_due = ? WHERE id = ?")
                .bind(now_ms + duration_ms(hold))
                .bind(job.id.to_string())
                .execute(&self.pool)
                .await?;
        }
        Ok(jobs)
    }

    async fn delete(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query("DELETE FROM jobs WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn cancel(&self, id: Uuid) -> StoreResult<Option<(Job, JobStatus)>> {
        let _guard = self.claim.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row =
            sqlx::query("SELECT doc FROM jobs WHERE id = ? AND status IN ('queued', 'running')")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let mut job = Self::doc(&row)?;
        let was = job.status;
        mark_canceled(&mut job);
        sqlx::query("UPDATE jobs SET status = 'canceled', lease_owner = NULL, lease_until = NULL, webhook_due = ?, doc = ? WHERE id = ?")
            .bind(webhook_due(&job))
            .bind(serde_json::to_string(&job)?)
            .bind(job.id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((job, was)))
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

    fn uploads(&self) -> &dyn crate::jobs::uploads::UploadStore {
        self
    }
}
