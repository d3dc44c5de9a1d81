//! [`UploadStore`] on PostgreSQL: lock times on the database's clock, so the nodes' clocks
//! need not agree about who holds an upload.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::contract::{Lock, Upload, UploadState, UploadStore, hold_ms, millis};
use crate::jobs::store::PgStore;
use crate::jobs::store::StoreResult;

/// The database's clock in Unix ms.
macro_rules! now_ms {
    () => {
        "(extract(epoch from now()) * 1000)::bigint"
    };
}

fn doc(row: &PgRow) -> StoreResult<Upload> {
    let doc: String = row.try_get("doc")?;
    Ok(serde_json::from_str(&doc)?)
}

#[async_trait]
impl UploadStore for PgStore {
    async fn create_upload(&self, up: &Upload, lock: Option<(&str, Duration)>) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO uploads (id, owner, state, expires_at, lock_token, lock_until, doc) \
             VALUES ($1::uuid, $2, $3, $4, $5, CASE WHEN $6::bigint IS NULL THEN NULL ELSE ",
            now_ms!(),
            " + $6 END, $7)"
        ))
        .bind(up.id.to_string())
        .bind(&up.owner)
        .bind(up.state.as_str())
        .bind(millis(up.expires_at))
        .bind(lock.map(|(t, _)| t.to_string()))
        .bind(lock.map(|(_, d)| hold_ms(d)))
        .bind(serde_json::to_string(up)?)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn get_upload(&self, id: Uuid, owner: Option<&str>) -> StoreResult<Option<Upload>> {
        let row = sqlx::query(
            "SELECT doc FROM uploads WHERE id = $1::uuid AND ($2::text IS NULL OR owner = $2)",
        )
        .bind(id.to_string())
        .bind(owner)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(doc).transpose()
    }

    async fn lock_upload(
        &self,
        id: Uuid,
        owner: Option<&str>,
        token: &str,
        hold: Duration,
    ) -> StoreResult<Lock> {
        let done = sqlx::query(concat!(
            "UPDATE uploads SET lock_token = $1, lock_until = ",
            now_ms!(),
            " + $2 WHERE id = $3::uuid AND ($4::text IS NULL OR owner = $4) \
             AND state = 'receiving' AND expires_at > $5 \
             AND (lock_until IS NULL OR lock_until < ",
            now_ms!(),
            ") RETURNING doc"
        ))
        .bind(token)
        .bind(hold_ms(hold))
        .bind(id.to_string())
        .bind(owner)
        .bind(millis(OffsetDateTime::now_utc()))
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = done {
            return Ok(Lock::Held(doc(&row)?));
        }
        let now = OffsetDateTime::now_utc();
        Ok(match self.get_upload(id, owner).await? {
            None => Lock::Missing,
            Some(up) if up.state != UploadState::Receiving || up.expires_at <= now => {
                Lock::Ended(up)
            }
            Some(_) => Lock::Busy,
        })
    }

    async fn save_upload(
        &self,
        up: &Upload,
        token: &str,
        hold: Option<Duration>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(concat!(
            "UPDATE uploads SET state = $1, expires_at = $2, doc = $3, \
             lock_token = CASE WHEN $4::bigint IS NULL THEN NULL ELSE lock_token END, \
             lock_until = CASE WHEN $4::bigint IS NULL THEN NULL ELSE ",
            now_ms!(),
            " + $4 END WHERE id = $5::uuid AND lock_token = $6 AND state = 'receiving'"
        ))
        .bind(up.state.as_str())
        .bind(millis(up.expires_at))
        .bind(serde_json::to_string(up)?)
        .bind(hold.map(hold_ms))
        .bind(up.id.to_string())
        .bind(token)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_upload(
        &self,
        id: Uuid,
        owner: Option<&str>,
        state: UploadState,
        keep_until: OffsetDateTime,
    ) -> StoreResult<Option<Upload>> {
        let Some(was) = self.get_upload(id, owner).await? else {
            return Ok(None);
        };
        let mut ended = was.clone();
        ended.state = state;
        ended.expires_at = keep_until;
        // Conditional on the state read: of two enders (or an ender and a completing PATCH)
        // exactly one wins.
        let done = sqlx::query(
            "UPDATE uploads SET state = $1, expires_at = $2, doc = $3, lock_token = NULL, \
             lock_until = NULL WHERE id = $4::uuid AND state = $5 \
             AND state IN ('receiving', 'complete')",
        )
        .bind(state.as_str())
        .bind(millis(keep_until))
        .bind(serde_json::to_string(&ended)?)
        .bind(id.to_string())
        .bind(was.state.as_str())
        .execute(self.pool())
        .await?;
        Ok((done.rows_affected() == 1).then_some(was))
    }

    async fn expired_uploads(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<Upload>> {
        let rows = sqlx::query(concat!(
            "SELECT doc FROM uploads WHERE state = 'receiving' AND expires_at < $1 \
             AND (lock_until IS NULL OR lock_until < ",
            now_ms!(),
            ") ORDER BY expires_at LIMIT $2"
        ))
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(doc).collect()
    }

    async fn purge_uploads(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM uploads WHERE state <> 'receiving' AND expires_at < $1")
                .bind(millis(before))
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected())
    }
}
