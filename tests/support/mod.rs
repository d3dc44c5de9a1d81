//! What the integration tests share, one idea per file: fixtures and their manifest,
//! running the `audiotap` binary and the ffmpeg reference, WAV reading and signal
//! comparison, the real server under test and HTTP helpers, loopback servers (a Range file
//! server among them), and the outside servers (PostgreSQL, S3) some suites need.
//!
//! Each test binary (`tests/cli`, `tests/service`, `tests/net`) includes this module with
//! `#[path = "../support/mod.rs"] mod support;` and uses `support::*`.
#![allow(
    dead_code,
    unused_imports,
    unused_macros,
    reason = "each test binary uses a different part of the shared helpers"
)]
#![allow(
    unreachable_pub,
    reason = "the helpers are `pub` for the test modules of the binary; a test binary exports nothing"
)]

mod fixtures;
mod http;
mod job_stores;
mod json;
mod loopback;
pub mod pg;
mod range_server;
mod reference;
mod run;
pub mod s3;
mod server;
mod signal;
mod skip;
mod wav;

pub use fixtures::*;
pub use http::*;
pub use job_stores::*;
pub use json::*;
pub use loopback::*;
pub use range_server::*;
pub use reference::*;
pub use run::*;
pub use server::*;
pub use signal::*;
pub use wav::*;
