//! The one DSP chain after decode, shared by both back ends: sample-accurate trim, channel
//! remix, resampling, then (in the writers) quantisation. Blocks are interleaved `f32`.

mod quantise;
mod remix;
mod resample;

pub(crate) use quantise::Quantiser;
pub(crate) use remix::Remix;
pub(crate) use resample::Resampler;

use crate::error::Result;

/// Where processed audio goes.
pub(crate) type SinkFn<'a> = dyn FnMut(&[f32]) -> Result<()> + 'a;

/// Trim → remix → resample, streaming.
pub(crate) struct Chain {
    in_channels: usize,
    skip: u64,
    keep: Option<u64>,
    remix: Option<Remix>,
    resample: Option<Resampler>,
    mixed: Vec<f32>,
}

impl Chain {
    /// `skip`/`keep` are in source frames.
    pub(crate) fn new(
        in_rate: u32,
        in_channels: usize,
        out_rate: u32,
        out_channels: usize,
        skip: u64,
        keep: Option<u64>,
    ) -> Result<Self> {
        let remix = (in_channels != out_channels).then(|| Remix::new(in_channels, out_channels));
        let resample = if in_rate != out_rate {
            Some(Resampler::new(in_rate, out_rate, out_channels)?)
        } else {
            None
        };
        Ok(Chain {
            in_channels,
            skip,
            keep,
            remix,
            resample,
            mixed: Vec::new(),
        })
    }

    /// Whether the chain changes the samples' values (a requantisation then needs dither).
    pub(crate) fn alters_samples(&self) -> bool {
        self.resample.is_some() || self.remix.as_ref().is_some_and(|r| !r.is_exact())
    }

    /// Process one decoded block. Returns false once the trim window has ended (the caller
    /// can stop decoding).
    pub(crate) fn push(&mut self, block: &[f32], sink: &mut SinkFn<'_>) -> Result<bool> {
        let ch = self.in_channels;
        let frames = (block.len() / ch) as u64;
        let drop = self.skip.min(frames);
        self.skip -= drop;
        let mut take = frames - drop;
        if let Some(keep) = &mut self.keep {
            take = take.min(*keep);
            *keep -= take;
        }
        let part = &block[drop as usize * ch..(drop + take) as usize * ch];
        if !part.is_empty() {
            let mixed: &[f32] = match &self.remix {
                Some(r) => {
                    r.apply(part, &mut self.mixed);
                    &self.mixed
                }
                None => part,
            };
            match &mut self.resample {
                Some(rs) => rs.push(mixed, sink)?,
                None => sink(mixed)?,
            }
        }
        Ok(self.keep != Some(0))
    }

    pub(crate) fn finish(&mut self, sink: &mut SinkFn<'_>) -> Result<()> {
        if let Some(rs) = &mut self.resample {
            rs.finish(sink)?;
        }
        Ok(())
    }
}
