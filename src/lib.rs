//! audiotap: extract the audio track from video, exactly and safely.
//!
//! [`media`] is the engine (synchronous, no I/O policy); [`cli`] is the command-line front
//! end over it.

pub mod cli;
pub mod error;
pub mod media;

pub use error::{Error, ErrorKind, Result};
