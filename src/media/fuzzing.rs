//! The writers, reachable from the fuzz targets in `fuzz/` (cargo-fuzz builds with
//! `--cfg fuzzing`); not part of the library otherwise.

use std::path::Path;

use super::encode::Sink;
use super::encode::wav::WavSink;
use super::ffmpeg::mux::{M4aCodec, M4aSink};
use crate::error::Result;

/// Which writer, with its sample format.
#[derive(Debug, Clone, Copy)]
pub enum Writer {
    /// WAV integer PCM (8, 16, 24 or 32 bits) or 32-bit float.
    Wav { bits: u16, float: bool },
    /// ALAC in M4A, 16 or 24 bits.
    Alac { bits: u16 },
    /// AAC in M4A.
    Aac { bitrate: u32 },
}

/// Write interleaved `samples` to `path` in blocks of `block_frames` frames; returns
/// the frames the writer reports.
pub fn write(
    path: &Path,
    writer: Writer,
    rate: u32,
    channels: usize,
    samples: &[f32],
    block_frames: usize,
) -> Result<u64> {
    let max = 64 << 20;
    let mut sink: Box<dyn Sink> = match writer {
        Writer::Wav { bits, float } => Box::new(WavSink::create(
            path, rate, channels, bits, float, !float, max,
        )?),
        Writer::Alac { bits } => Box::new(M4aSink::create(
            path,
            rate,
            channels,
            M4aCodec::Alac { bits },
            true,
            max,
        )?),
        Writer::Aac { bitrate } => Box::new(M4aSink::create(
            path,
            rate,
            channels,
            M4aCodec::Aac { bitrate },
            false,
            max,
        )?),
    };
    for block in samples.chunks(channels * block_frames.max(1)) {
        sink.write(block)?;
    }
    sink.finish()
}
