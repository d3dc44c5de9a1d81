//! The engine's hot loops behind a small surface for the criterion benches
//! (`benches/engine.rs`): decode, remix, resample, quantise, native stream copy. Not part
//! of the public API.

use std::path::Path;

use crate::error::Result;
use crate::media::decode::symphonia;
use crate::media::dsp::{Quantiser, Remix, Resampler};
use crate::media::{Engine, Input, Limits, backend};

/// Decode the first audio track of `path` to the end; returns the frames decoded.
pub fn decode_file(path: &Path, engine: Engine) -> Result<u64> {
    let select = |p: &crate::media::ProbeInfo| {
        p.audio_tracks()
            .next()
            .cloned()
            .ok_or(crate::Error::NoAudioTrack)
    };
    let mut opened = backend::open(&Input::file(path), engine, &select, &Limits::default())?;
    let channels = opened.decoder.channels().max(1);
    let mut frames = 0u64;
    while let Some(block) = opened.decoder.next_block()? {
        frames += (block.len() / channels) as u64;
    }
    Ok(frames)
}

/// Remix interleaved `input` from `inputs` to `outputs` channels into `out`.
pub fn remix(input: &[f32], inputs: usize, outputs: usize, out: &mut Vec<f32>) {
    Remix::new(inputs, outputs).apply(input, out);
}

/// Resample interleaved `input` in blocks of `block` frames; returns the frames produced.
pub fn resample(
    input: &[f32],
    in_rate: u32,
    out_rate: u32,
    channels: usize,
    block: usize,
) -> Result<usize> {
    let mut r = Resampler::new(in_rate, out_rate, channels)?;
    let mut produced = 0usize;
    let mut sink = |b: &[f32]| {
        produced += b.len() / channels;
        Ok(())
    };
    for chunk in input.chunks(block * channels) {
        r.push(chunk, &mut sink)?;
    }
    r.finish(&mut sink)?;
    Ok(produced)
}

/// Quantise `input` to `bits` (with TPDF dither when `dither`) into `out`.
pub fn quantise(input: &[f32], bits: u16, dither: bool, out: &mut Vec<i32>) {
    Quantiser::new(bits, dither).quantise_block_at(input, 0, out);
}

/// Copy the first audio track of the MP4 `input` into the M4A `output` with the native
/// copier (no FFmpeg); returns the payload bytes copied, or `None` when the file needs
/// FFmpeg's copy.
pub fn copy_mp4(input: &Path, output: &Path) -> Result<Option<u64>> {
    let input = Input::file(input);
    let probe = symphonia::probe::probe(&input)?;
    let track = probe
        .audio_tracks()
        .next()
        .ok_or(crate::Error::NoAudioTrack)?;
    Ok(crate::media::mp4::copy_track(&input, track.index, output, u64::MAX)?.map(|c| c.bytes))
}
