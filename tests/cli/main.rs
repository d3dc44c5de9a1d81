//! The `audiotap` command line as users run it: the real binary on the committed fixtures,
//! checked against the ffmpeg CLI, on hostile and truncated input, and against its
//! one-line error contract.
//!
//! One test binary with a module per subject, so the crate and the helpers link once.

#[path = "../support/mod.rs"]
mod support;

mod batch;
mod behaviour;
mod fidelity;
mod hostile;
mod m4a;
mod regress;
mod robustness;
mod timing;
