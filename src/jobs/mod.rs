//! Jobs: the model clients see, the durable store, the worker pool that runs the engine,
//! and webhook delivery.
//!
//! [`Services`] is what every piece shares; [`dispatch`] claims jobs and runs each attempt
//! through [`steps`] (fetch, probe, extract, store); [`runner`] is the one way the service
//! runs the engine (the steps and `POST /v1/extract` both use it); [`webhooks`] delivers
//! notifications.

pub mod dispatch;
mod failure;
mod lease;
pub mod model;
mod publish;
pub mod runner;
mod services;
pub mod source;
mod steps;
pub mod store;
pub mod uploads;
pub mod webhooks;

pub use dispatch::{drain, recover, run_dispatcher};
pub use model::{Job, JobStatus};
pub use services::Services;
pub use store::{JobStore, PgStore, SqliteStore};
pub use webhooks::run_webhooks;
