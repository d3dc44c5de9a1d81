//! Facts measured from decoded audio, with no audio written: loudness (EBU R128), silence
//! spans, sample levels, and waveform peaks. Each analyzer is a streaming consumer of
//! interleaved `f32` frames (`push`, then `finish`), so one decode can feed several.

pub mod levels;
pub mod loudness;
pub mod silence;
pub mod waveform;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::media::frames::decode_with;
use crate::media::{Control, Engine, Limits};
pub use levels::{ChannelLevels, Levels};
pub use loudness::{Loudness, LoudnessMeter};
pub use silence::{Silence, SilenceDetector, SilenceOptions, SilenceSpan};
pub use waveform::{Waveform, WaveformBuilder, WaveformFormat, WaveformOptions};

/// What an analysis measures, beyond what it always measures.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisOptions {
    #[serde(default)]
    pub silence: SilenceOptions,
}

impl AnalysisOptions {
    pub fn validate(&self) -> Result<()> {
        self.silence.validate()
    }
}

/// The analysis output. Field names are part of the public contract (`audiotap analyze
/// --json`, the `analysis` output kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Analysis {
    /// Seconds of decoded audio.
    pub duration: f64,
    pub sample_rate: u32,
    /// Frames (samples per channel) decoded.
    pub frames: u64,
    pub loudness: Loudness,
    /// Samples at full scale (|x| >= 32767/32768), all channels together.
    pub clipped_samples: u64,
    pub silence: Silence,
    /// Levels of each channel, in the decoder's channel order.
    pub channels: Vec<ChannelLevels>,
}

/// All analyzers over one stream.
#[derive(Debug)]
pub struct Analyzer {
    rate: u32,
    loudness: LoudnessMeter,
    silence: SilenceDetector,
    levels: Levels,
}

impl Analyzer {
    /// `opts` must have passed [`AnalysisOptions::validate`].
    pub fn new(opts: &AnalysisOptions, rate: u32, channels: usize) -> Result<Self> {
        Ok(Analyzer {
            rate,
            loudness: LoudnessMeter::new(rate, channels)?,
            silence: SilenceDetector::new(opts.silence, rate, channels),
            levels: Levels::new(channels),
        })
    }

    pub fn push(&mut self, frames: &[f32]) -> Result<()> {
        self.loudness.push(frames)?;
        self.silence.push(frames);
        self.levels.push(frames);
        Ok(())
    }

    pub fn finish(self) -> Result<Analysis> {
        let levels = self.levels.finish();
        Ok(Analysis {
            duration: levels.frames as f64 / f64::from(self.rate.max(1)),
            sample_rate: self.rate,
            frames: levels.frames,
            loudness: self.loudness.finish()?,
            clipped_samples: levels.clipped_samples,
            silence: self.silence.finish(),
            channels: levels.channels,
        })
    }
}

/// Decode one track of `input` and analyse it.
pub fn analyze(
    input: &Path,
    opts: &AnalysisOptions,
    track: Option<usize>,
    engine: Engine,
    limits: &Limits,
    control: Control<'_>,
) -> Result<Analysis> {
    opts.validate()?;
    let (analyzer, _) = decode_with(
        input,
        track,
        engine,
        limits,
        control,
        |stream| Analyzer::new(opts, stream.sample_rate, stream.channels),
        Analyzer::push,
    )?;
    analyzer.finish()
}
