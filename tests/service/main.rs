//! The service as its users and operators meet it: the real `audiotap serve` binary on a
//! loopback port driven over HTTP (contract, life cycle, crashes, outages, security, load
//! shedding, streaming uploads, many nodes), its storage and job-store back ends, and its
//! deployment manifests.
//!
//! One test binary with a module per subject, so the crate and the helpers link once.
//! `AUDIOTAP_TEST_API_DATABASE=postgres cargo test --test service -- api:: api_lifecycle:: uploads:: events::`
//! runs the HTTP suites again with every server on its own PostgreSQL database.

#[path = "../support/mod.rs"]
mod support;

mod api;
mod api_lifecycle;
mod crash;
mod deploy;
mod events;
mod multinode;
mod outage;
mod security;
mod shed;
mod storage;
mod store;
mod streaming;
mod upload_store;
mod uploads;
