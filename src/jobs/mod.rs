//! Jobs: the model clients see, the durable store, the worker pool that runs the engine,
//! and webhook delivery.

pub mod model;
pub mod pgstore;
pub mod store;
pub mod uploads;
pub mod worker;

pub use model::{Job, JobStatus};
pub use pgstore::PgStore;
pub use store::{JobStore, SqliteStore};
