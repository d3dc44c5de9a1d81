//! The job store on PostgreSQL, for many nodes sharing one queue: claims with
//! `FOR UPDATE SKIP LOCKED` (workers never wait on each other's rows), leases on the
//! database's clock, schema from the embedded `migrations/postgres`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::contract::{
    Idempotency, Inserted, JobStore, LeaseState, Page, duration_ms, mark_canceled, millis,
    webhook_due,
};
use super::error::{StoreError, StoreResult};
use crate::jobs::model::{Job, JobStatus};

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// `lease_until` for a lease of `$n` milliseconds from now, on the database's clock.
macro_rules! lease_from_now {
    ($n:literal) => {
        concat!("now() + ($", $n, "::bigint * interval '1 millisecond')")
    };
}

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connect to `url` (`postgres://user:pass@host:port/db`) and migrate. Nodes starting
    /// together are fine: sqlx serialises migrations with an advisory lock.
    pub async fn open(url: &str) -> StoreResult<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        PG_MIGRATIONS.run(&pool).await?;
        Ok(PgStore { pool })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn doc(row: &PgRow) -> StoreResult<Job> {
        let doc: String = row.try_get("doc")?;
        Ok(serde_json::from_str(&doc)?)
    }

    async fn find_idem(
        tx: &mut Transaction<'_, Postgres>,
        owner: &str,
        idem: &Idempotency,
    ) -> StoreResult<Option<Inserted>> {
        let found =
            sqlx::query("SELECT idem_hash, doc FROM jobs WHERE owner = $1 AND idem_key = $2")
                .bind(owner)
                .bind(&idem.key)
                .fetch_optional(&mut **tx)
                .await?;
        let Some(row) = found else { return Ok(None) };
        let hash: Option<String> = row.try_get("idem_hash")?;
        Ok(Some(
            if hash.as_deref() == Some(idem.request_hash.as_str()) {
                Inserted::Existing(Self::doc(&row)?)
            } else {
                Inserted::Conflict
            },
        ))
    }
}

#[async_trait]
impl JobStore for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn shared(&self) -> bool {
        true
    }

    async fn insert(
        &self,
        job: &Job,
        owner: Option<&str>,
        idem: Option<&Idempotency>,
    ) -> StoreResult<Inserted> {
        let owner = owner.unwrap_or("");
        let mut tx = self.pool.begin().await?;
        if let Some(idem) = idem
            && let Some(found) = Self::find_idem(&mut tx, owner, idem).await?
        {
            return Ok(found);
        }
        // Two nodes may insert the same key at once: the unique index picks one, the other
        // finds its job.
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, owner, status, idem_key, idem_hash, webhook_due, attempt, doc) \
             VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (owner, idem_key) WHERE idem_key IS NOT NULL DO NOTHING",
        )
        .bind(job.id.to_string())
        .bind(owner)
        .bind(job.status.as_str())
        .bind(idem.map(|i| i.key.clone()))
        .bind(idem.map(|i| i.request_hash.clone()))
        .bind(webhook_due(job))
        .bind(i64::from(job.attempts) as i32)
        .bind(serde_json::to_string(job)?)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0
            && let Some(idem) = idem
        {
            tx.rollback().await?;
            let mut tx = self.pool.begin().await?;
            return Self::find_idem(&mut tx, owner, idem)
                .await?
                .ok_or(StoreError::IdempotencyRace);
        }
        tx.commit().await?;
        Ok(Inserted::Created(job.clone()))
    }

    async fn get(&self, id: Uuid, owner: Option<&str>) -> StoreResult<Option<Job>> {
        let row = sqlx::query(
            "SELECT doc FROM jobs WHERE id = $1::uuid AND ($2::text IS NULL OR owner = $2)",
        )
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
            "SELECT seq, doc FROM jobs WHERE seq < $1 AND ($2::text IS NULL OR owner = $2) \
             AND ($3::text IS NULL OR status = $3) ORDER BY seq DESC LIMIT $4",
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
        sqlx::query("UPDATE jobs SET status = $1, webhook_due = $2, doc = $3 WHERE id = $4::uuid")
            .bind(job.status.as_str())
            .bind(webhook_due(job))
            .bind(serde_json::to_string(job)?)
            .bind(job.id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn claim_next(&self, node: &str, lease: Duration) -> StoreResult<Option<Job>> {
        let mut tx = self.pool.begin().await?;
        // SKIP LOCKED: a row another node is claiming right now is passed over, not waited on.
        let row = sqlx::query(
            "SELECT doc FROM jobs WHERE status = 'queued' OR (status = 'running' AND lease_until < now()) \
             ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut job = Self::doc(&row)?;
        job.begin_attempt(node);
        sqlx::query(concat!(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = ",
            lease_from_now!(2),
            ", attempt = $3, doc = $4 WHERE id = $5::uuid"
        ))
        .bind(node)
        .bind(duration_ms(lease))
        .bind(job.attempts as i32)
        .bind(serde_json::to_string(&job)?)
        .bind(job.id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    async fn renew_lease(
        &self,
        id: Uuid,
        node: &str,
        attempt: u32,
        lease: Duration,
    ) -> StoreResult<LeaseState> {
        let done = sqlx::query(concat!(
            "UPDATE jobs SET lease_until = ",
            lease_from_now!(1),
            " WHERE id = $2::uuid AND status = 'running' AND lease_owner = $3 AND attempt = $4"
        ))
        .bind(duration_ms(lease))
        .bind(id.to_string())
        .bind(node)
        .bind(attempt as i32)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(LeaseState::Held);
        }
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1::uuid")
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
        let done = sqlx::query(concat!(
            "UPDATE jobs SET status = $1, webhook_due = $2, doc = $3, ",
            "lease_owner = CASE WHEN $4 THEN lease_owner END, ",
            "lease_until = CASE WHEN $4 THEN ",
            lease_from_now!(5),
            " END WHERE id = $6::uuid AND status = 'running' AND lease_owner = $7 AND attempt = $8"
        ))
        .bind(job.status.as_str())
        .bind(webhook_due(job))
        .bind(serde_json::to_string(job)?)
        .bind(job.status == JobStatus::Running)
        .bind(duration_ms(lease))
        .bind(job.id.to_string())
        .bind(node)
        .bind(job.attempts as i32)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn requeue_running(&self, node: Option<&str>) -> StoreResult<Vec<Uuid>> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT doc FROM jobs WHERE status = 'running' AND ($1::text IS NULL OR lease_owner = $1) \
             FOR UPDATE SKIP LOCKED",
        )
        .bind(node)
        .fetch_all(&mut *tx)
        .await?;
        let mut ids = Vec::new();
        for row in rows {
            let mut job = Self::doc(&row)?;
            job.status = JobStatus::Queued;
            job.progress = 0.0;
            job.updated_at = OffsetDateTime::now_utc();
            sqlx::query(
                "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, doc = $1 \
                 WHERE id = $2::uuid",
            )
            .bind(serde_json::to_string(&job)?)
            .bind(job.id.to_string())
            .execute(&mut *tx)
            .await?;
            ids.push(job.id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn claim_webhooks(
        &self,
        now: OffsetDateTime,
        limit: u32,
        hold: Duration,
    ) -> StoreResult<Vec<Job>> {
        let now_ms = millis(now);
        let rows = sqlx::query(
            "UPDATE jobs SET webhook_due = $1 WHERE seq IN ( \
               SELECT seq FROM jobs WHERE webhook_due IS NOT NULL AND webhook_due <= $2 \
               ORDER BY webhook_due LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING doc",
        )
        .bind(now_ms + duration_ms(hold))
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::doc).collect()
    }

    async fn delete(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query("DELETE FROM jobs WHERE id = $1::uuid")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn cancel(&self, id: Uuid) -> StoreResult<Option<(Job, JobStatus)>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT doc FROM jobs WHERE id = $1::uuid AND status IN ('queued', 'running') FOR UPDATE",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut job = Self::doc(&row)?;
        let was = job.status;
        mark_canceled(&mut job);
        sqlx::query(
            "UPDATE jobs SET status = 'canceled', lease_owner = NULL, lease_until = NULL, \
             webhook_due = $1, doc = $2 WHERE id = $3::uuid",
        )
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
