//! `/v1/uploads`: resumable uploads (tus 1.0: core, creation, creation-with-upload,
//! termination, expiration, checksum). The job's options travel in `Upload-Metadata`; the
//! job is made when the last byte arrives. Upload state lives in the job store, so any node
//! takes the next request.
//!
//! One file per route (`discover`, `create`, `status`, `append`, `terminate`); the wire
//! format is in `protocol`, the answers they share in `reply`, receiving bytes in `receive`
//! and making the job (and expiry) in `finish`.

pub(crate) mod append;
pub(crate) mod create;
pub(crate) mod discover;
mod finish;
mod protocol;
mod receive;
mod reply;
pub(crate) mod status;
pub(crate) mod terminate;

pub use finish::run_expiry;
