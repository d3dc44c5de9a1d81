//! audiotap: extract the audio track from video, exactly and safely.
//!
//! [`spec`] is the contract (what a caller asks of an extraction) that every layer speaks;
//! [`media`] is the engine (synchronous, no I/O policy); [`cli`] is the command-line front
//! end over it; [`storage`] keeps finished outputs (local folder or S3); [`net`] is
//! outbound HTTP (SSRF guard, downloads, webhooks); [`jobs`], [`api`] and [`server`] make
//! the HTTP service.

pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod error_code;
pub mod jobs;
pub mod media;
pub mod net;
pub mod server;
pub mod spec;
pub mod storage;

pub use error::{Error, ErrorKind, Result};
pub use error_code::ErrorCode;
