//! Durable job state behind one trait ([`JobStore`], in `contract`; its error in `error`):
//! the embedded SQLite store (one node, zero configuration) and PostgreSQL (many nodes).
//! Jobs are kept as JSON documents with the columns queries need.

mod contract;
mod error;
mod postgres;
mod sqlite;

use std::sync::Arc;

pub(crate) use contract::mark_canceled;
pub use contract::{Idempotency, Inserted, JobStore, LeaseState, Page};
pub use error::{StoreError, StoreResult};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Open the store `url` names: `sqlite:…` or `postgres://…`.
pub async fn open(url: &str) -> StoreResult<Arc<dyn JobStore>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url).await?))
    } else {
        Ok(Arc::new(SqliteStore::open(url).await?))
    }
}
