//! audiotap: extract the audio track from video, exactly and safely.
//!
//! [`media`] is the engine (synchronous, no I/O policy); [`cli`] is the command-line front
//! end over it; [`net`] is outbound HTTP (SSRF guard, downloads, webhooks).

pub mod cli;
pub mod error;
pub mod media;
pub mod net;

pub use error::{Error, ErrorKind, Result};
