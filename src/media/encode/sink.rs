//! The contract between the pipeline and a writer: a [`Sink`] takes processed audio, and the
//! [`Packer`] it hands out prepares segments for it on any thread.

use super::pcm::WavPacker;
use crate::error::Result;

/// Turns processed interleaved `f32` audio into what a [`Sink`] commits, collecting one
/// segment at a time. It runs on any thread, on segments in any order: what it makes of a
/// block depends only on the samples and their position in the output, so segments packed
/// in parallel and committed in order equal one pass.
#[derive(Clone)]
pub(crate) enum Packer {
    /// WAV sample data (quantised, dithered, little-endian).
    Wav(WavPacker, Vec<u8>),
    /// Samples passed on as they are (the sink encodes them in order).
    Float(Vec<f32>),
}

/// A packed segment, in the form its sink takes.
pub(crate) enum Packed {
    Bytes(Vec<u8>),
    Samples(Vec<f32>),
}

impl Packer {
    /// Append `block` (its first sample at output sample `pos`, interleaved) to the
    /// segment being collected.
    pub(crate) fn pack(&mut self, block: &[f32], pos: u64) {
        match self {
            Packer::Wav(w, bytes) => w.pack(block, pos, bytes),
            Packer::Float(samples) => samples.extend_from_slice(block),
        }
    }

    /// The segment collected so far. The packer starts the next one in `spare`'s
    /// buffer, when given one that a sink has committed, so buffers circulate instead of
    /// being allocated (and page-faulted in) for every segment.
    pub(crate) fn take(&mut self, spare: Option<Packed>) -> Packed {
        use std::mem::{replace, take};
        match (self, spare) {
            (Packer::Wav(_, bytes), Some(Packed::Bytes(mut next))) => {
                next.clear();
                Packed::Bytes(replace(bytes, next))
            }
            (Packer::Wav(_, bytes), _) => Packed::Bytes(take(bytes)),
            (Packer::Float(samples), Some(Packed::Samples(mut next))) => {
                next.clear();
                Packed::Samples(replace(samples, next))
            }
            (Packer::Float(samples), _) => Packed::Samples(take(samples)),
        }
    }
}

/// A destination for processed interleaved `f32` audio.
pub(crate) trait Sink: Send {
    /// The packer for this sink's segments.
    fn packer(&self) -> Packer;
    /// Take the next packed segment, in output order.
    fn commit(&mut self, packed: &Packed) -> Result<()>;
    /// Pack and commit one block (one thread, in order).
    fn write(&mut self, block: &[f32]) -> Result<()>;
    /// Flush and close; returns frames written.
    fn finish(self: Box<Self>) -> Result<u64>;
}
