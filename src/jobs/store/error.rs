//! The job store's error, [`StoreError`]: its own leaf so that the upload records
//! (`jobs::uploads`), which the [`JobStore`](super::JobStore) trait names, can use it too.

/// A job store failure. Callers retry later, except for [`StoreError::InvalidCursor`]
/// (the caller's) and [`StoreError::Document`] (a job that does not round-trip: a bug).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable, timed out, or refused the query.
    #[error("job store: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date at start.
    #[error("job store migrations: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored job document does not parse, or a job does not serialise.
    #[error("job document: {0}")]
    Document(#[from] serde_json::Error),
    /// A listing cursor that no page handed out.
    #[error("bad cursor {0:?}")]
    InvalidCursor(String),
    /// Two inserts with one idempotency key raced, and the job the other one made was
    /// deleted before this one could read it: a retry makes a new job.
    #[error("the job made with this idempotency key vanished during the insert")]
    IdempotencyRace,
}

pub type StoreResult<T> = Result<T, StoreError>;
