//! One decode of one audio track, its blocks handed to a consumer: what analysis and
//! waveform outputs read instead of a file, with no audio written anywhere.

use std::path::Path;

use super::{Control, Engine, EngineKind, Limits, OutputSpec, TrackInfo};
use super::{Input, backend};
use crate::error::{Error, Result};

/// The decoded stream, as the first block fixes it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub sample_rate: u32,
    pub channels: usize,
    /// Bits of the decoded samples for PCM and lossless sources; `None` for lossy codecs.
    pub source_bits: Option<u32>,
    pub engine: EngineKind,
    pub track: TrackInfo,
}

/// Takes a track's decoded audio block by block.
pub trait FrameConsumer {
    /// Called once, before the first block.
    fn start(&mut self, stream: &StreamInfo) -> Result<()>;
    /// Interleaved `f32` frames, in order; called only after [`FrameConsumer::start`].
    fn push(&mut self, frames: &[f32]) -> Result<()>;
}

/// What a decode went through.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub stream: StreamInfo,
    /// Frames (samples per channel) decoded and handed over.
    pub frames: u64,
}

/// Decode the `track`-th audio track of `input` (the first when `None`) and hand every
/// block to `consumer`. Cancel and progress work as in [`super::extract`].
pub fn decode_into(
    input: &Path,
    track: Option<usize>,
    engine: Engine,
    limits: &Limits,
    control: Control<'_>,
    consumer: &mut dyn FrameConsumer,
) -> Result<Decoded> {
    let wanted = OutputSpec {
        track,
        engine,
        ..OutputSpec::default()
    };
    let select = |p: &super::ProbeInfo| p.select_track(&wanted).cloned();
    // Analysis reads finished files: the CLI's inputs, resolved to a path.
    let mut opened = backend::open(&Input::file(input), engine, &select, limits)?;
    let dec = &mut opened.decoder;
    // The first block fixes the true rate and channel count (see `decode_path`).
    let first: Vec<f32> = dec.next_block()?.map(<[f32]>::to_vec).unwrap_or_default();
    let (rate, channels) = (dec.sample_rate(), dec.channels());
    limits.check_decoded(rate, channels)?;
    let stream = StreamInfo {
        sample_rate: rate,
        channels,
        source_bits: dec.source_bits(),
        engine: opened.engine,
        track: opened.track.clone(),
    };
    consumer.start(&stream)?;
    let total = opened
        .track
        .duration
        .map(|d| d * f64::from(rate))
        .filter(|&f| f > 0.0);
    let mut frames = (first.len() / channels) as u64;
    consumer.push(&first)?;
    drop(first);
    let mut next_report = 0u64;
    loop {
        if control.cancel.is_some_and(|canceled| canceled()) {
            return Err(Error::Canceled);
        }
        let Some(block) = dec.next_block()? else {
            break;
        };
        frames += (block.len() / channels) as u64;
        consumer.push(block)?;
        if let (Some(cb), Some(total)) = (control.progress, total)
            && frames >= next_report
        {
            cb((frames as f64 / total).min(1.0));
            next_report = frames + u64::from(rate);
        }
    }
    if let Some(cb) = control.progress {
        cb(1.0);
    }
    Ok(Decoded { stream, frames })
}

/// [`decode_into`] for a consumer that can only be built once the stream is known: `make`
/// builds it from the first block's shape, `push` feeds it. Returns it with the decode.
pub fn decode_with<C>(
    input: &Path,
    track: Option<usize>,
    engine: Engine,
    limits: &Limits,
    control: Control<'_>,
    make: impl FnOnce(&StreamInfo) -> Result<C>,
    push: impl FnMut(&mut C, &[f32]) -> Result<()>,
) -> Result<(C, Decoded)> {
    struct Deferred<C, M, P> {
        make: Option<M>,
        push: P,
        built: Option<C>,
    }
    impl<C, M, P> FrameConsumer for Deferred<C, M, P>
    where
        M: FnOnce(&StreamInfo) -> Result<C>,
        P: FnMut(&mut C, &[f32]) -> Result<()>,
    {
        fn start(&mut self, stream: &StreamInfo) -> Result<()> {
            let make = self
                .make
                .take()
                .ok_or_else(|| Error::Internal("a consumer was started twice".into()))?;
            self.built = Some(make(stream)?);
            Ok(())
        }
        fn push(&mut self, frames: &[f32]) -> Result<()> {
            match &mut self.built {
                Some(c) => (self.push)(c, frames),
                None => Err(Error::Internal(
                    "a consumer was fed before its start".into(),
                )),
            }
        }
    }
    let mut consumer = Deferred {
        make: Some(make),
        push,
        built: None,
    };
    let decoded = decode_into(input, track, engine, limits, control, &mut consumer)?;
    let built = consumer
        .built
        .ok_or_else(|| Error::Internal("a consumer was never started".into()))?;
    Ok((built, decoded))
}
