//! Security tests through the real `audiotap serve` binary: the SSRF matrix for URL sources
//! and webhook URLs (every spelling of loopback and the private ranges, redirects to them,
//! names that resolve to them), tenant isolation between API keys, path traversal in
//! upload filenames and job ids, secrets kept out of logs and job JSON, and request size
//! and header limits.
//!
//! Every destination in the matrix is on this machine: the loopback targets are listeners
//! in this test that count what reaches them (they must see nothing); the private ranges
//! are refused before any connection (`scripts/test.sh` runs this suite in a loopback-only
//! network namespace, so even a guard failure could not leave the machine).
//!
//! A module per subject: `ssrf`, `tenants`, `traversal`, `secrets`, `limits`.

mod limits;
mod secrets;
mod ssrf;
mod tenants;
mod traversal;

/// The media the tests upload and serve: a small WAV.
const WAV: &str = "wav_pcm_s16le.wav";
