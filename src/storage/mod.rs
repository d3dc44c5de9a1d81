//! Object storage for finished outputs: one [`ObjectStore`] trait (in `contract`, its error in
//! `error`), a local-folder back end ([`LocalStore`], the default) and an S3 back end
//! ([`S3Store`]: AWS S3, Garage, MinIO, Ceph).
//!
//! Keys are validated by every method of every back end ([`validate_key`]), so a key can never
//! name anything outside the store.

mod contract;
mod error;
mod local;
pub mod multipart;
mod s3;

pub use contract::{
    ByteRange, ByteStream, MAX_KEY_LEN, ObjectBody, ObjectMeta, ObjectStore, validate_key,
};
pub use error::StorageError;
pub use local::LocalStore;
pub use s3::{S3Config, S3Store};
