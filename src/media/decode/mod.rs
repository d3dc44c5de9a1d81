//! Decode: the [`Decoder`] contract every back end implements, what all of them share to
//! keep it (edit lists in [`cutter`], frame and packet bookkeeping in [`tally`]), and the
//! Symphonia back end. Every decoder hands the rest of the pipeline interleaved `f32` blocks
//! with encoder priming, edit lists and padding already applied, so nothing after this
//! module knows which decoder ran.
//!
//! The FFmpeg back end lives beside this module, in `media::ffmpeg`, because it also
//! encodes and muxes the M4A output; `media::backend` chooses between the two. This file
//! only declares its children and imports none of them: they use it, not the other way
//! round (`tests/imports.rs` checks that no import cycle runs through these files).

pub(crate) mod cutter;
pub(crate) mod symphonia;
pub(crate) mod tally;

use crate::error::Result;

/// A decoder positioned on one audio track.
///
/// `next_block` returns `Ok(None)` once at the end. A corrupt packet that the decoder can
/// skip is skipped (as FFmpeg's CLI does); an error is returned only when decoding cannot
/// go on (truncated container, nothing decodable, a limit reached).
pub(crate) trait Decoder: Send {
    fn sample_rate(&self) -> u32;
    fn channels(&self) -> usize;
    /// Bits of precision of the decoded samples: the PCM/lossless depth, or `None` for
    /// lossy codecs (which decode to float).
    fn source_bits(&self) -> Option<u32>;
    fn next_block(&mut self) -> Result<Option<&[f32]>>;
}

/// Frames at `rate` for a span of seconds, rounded to the nearest frame.
pub(crate) fn secs_to_frames(secs: f64, rate: u32) -> u64 {
    (secs * f64::from(rate)).round().max(0.0) as u64
}
