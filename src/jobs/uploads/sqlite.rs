//! [`UploadStore`] on the embedded SQLite store (one node: lock times on its clock).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::contract::{Lock, Upload, UploadState, UploadStore, hold_ms, millis};
use crate::jobs::store::{SqliteStore, StoreResult};

fn doc(row: &SqliteRow) -> StoreResult<Upload> {
    let doc: String = row.try_get("doc")?;
    Ok(serde_json::from_str(&doc)?)
}

fn now_ms() -> i64 {
    millis(OffsetDateTime::now_utc())
}

#[async_trait]
impl UploadStore for SqliteStore {
    async fn create_upload(&self, up: &Upload, lock: Option<(&str, Duration)>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO uploads (id, owner, state, expires_at, lock_token, lock_until, doc) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(up.id.to_string())
        .bind(&up.owner)
        .bind(up.state.as_str())
        .bind(millis(up.expires_at))
        .bind(lock.map(|(t, _)| t.to_string()))
        .bind(lock.map(|(_, d)| now_ms() + hold_ms(d)))
        .bind(serde_json::to_string(up)?)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn get_upload(&self, id: Uuid, owner: Option<&str>) -> StoreResult<Option<Upload>> {
        let row =
            sqlx::query("SELECT doc FROM uploads WHERE id = ?1 AND (?2 IS NULL OR owner = ?2)")
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
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE uploads SET lock_token = ?1, lock_until = ?2 \
             WHERE id = ?3 AND (?4 IS NULL OR owner = ?4) AND state = 'receiving' \
             AND expires_at > ?5 AND (lock_until IS NULL OR lock_until < ?5) RETURNING doc",
        )
        .bind(token)
        .bind(now + hold_ms(hold))
        .bind(id.to_string())
        .bind(owner)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = done {
            return Ok(Lock::Held(doc(&row)?));
        }
        Ok(match self.get_upload(id, owner).await? {
            None => Lock::Missing,
            Some(up) if up.state != UploadState::Receiving || millis(up.expires_at) <= now => {
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
        let done = sqlx::query(
            "UPDATE uploads SET state = ?1, expires_at = ?2, doc = ?3, \
             lock_token = CASE WHEN ?4 IS NULL THEN NULL ELSE lock_token END, lock_until = ?4 \
             WHERE id = ?5 AND lock_token = ?6 AND state = 'receiving'",
        )
        .bind(up.state.as_str())
        .bind(millis(up.expires_at))
        .bind(serde_json::to_string(up)?)
        .bind(hold.map(|d| now_ms() + hold_ms(d)))
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
            "UPDATE uploads SET state = ?1, expires_at = ?2, doc = ?3, lock_token = NULL, \
             lock_until = NULL WHERE id = ?4 AND state = ?5 AND state IN ('receiving', 'complete')",
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
        let rows = sqlx::query(
            "SELECT doc FROM uploads WHERE state = 'receiving' AND expires_at < ?1 \
             AND (lock_until IS NULL OR lock_until < ?1) ORDER BY expires_at LIMIT ?2",
        )
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(doc).collect()
    }

    async fn purge_uploads(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM uploads WHERE state <> 'receiving' AND expires_at < ?")
            .bind(millis(before))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
