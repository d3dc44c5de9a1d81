//! HTTP contract tests (DESIGN.md, "HTTP contract (v1)"): the real `audiotap serve` binary on
//! a loopback port with its own data dir and local storage, driven over HTTP. URL sources
//! and webhook receivers are small servers on 127.0.0.1 inside the test.
//!
//! One module per part of the contract; each test starts its own server. The OpenAPI drift
//! check is in `system.rs`.

mod create;
mod manage;
mod refusals;
mod system;

/// The fixture most tests upload: two seconds of AAC in an MP4.
const MP4: &str = "mp4_aac.mp4";
