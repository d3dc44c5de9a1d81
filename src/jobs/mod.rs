//! Jobs: the model clients see, the durable store, the worker pool that runs the engine,
//! and webhook delivery.

pub mod model;
pub mod store;
pub mod worker;

pub use model::{Job, JobStatus};
pub use store::{JobStore, PgStore, SqliteStore};
