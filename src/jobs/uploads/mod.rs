//! Resumable (tus) uploads as the job store keeps them: how far each has arrived, where its
//! bytes wait, and which request may write them. Both job stores implement [`UploadStore`]
//! (in `contract`) with [`sqlite`] and [`postgres`], so any node can take an upload's next
//! `PATCH`.

mod contract;
mod postgres;
mod sqlite;

pub use contract::{Lock, MultipartState, Upload, UploadState, UploadStore};
