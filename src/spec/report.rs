//! What an extraction wrote: the engine's answer to an [`OutputSpec`](super::OutputSpec),
//! with field names that are part of the public contract (`audiotap extract --json`, the
//! job's `output`).

use serde::{Deserialize, Serialize};

use super::{EngineKind, Format, SampleFormat, TrackInfo};

/// Which source track an extraction read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceTrack {
    /// Position among the audio tracks.
    pub track: usize,
    /// Position among all tracks of the container.
    pub stream_index: usize,
    pub codec: String,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub language: Option<String>,
}

impl From<&TrackInfo> for SourceTrack {
    fn from(t: &TrackInfo) -> Self {
        SourceTrack {
            track: t.audio_index.unwrap_or(0),
            stream_index: t.index,
            codec: t.codec.clone(),
            sample_rate: t.sample_rate,
            channels: t.channels,
            language: t.language.clone(),
        }
    }
}

/// What an extraction wrote. Field names are part of the public contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub input: Option<String>,
    pub output: Option<String>,
    pub engine: EngineKind,
    pub format: Format,
    /// `pcm_s16le`, `pcm_f32le`, `aac`, `alac`, ...
    pub codec: String,
    /// True when the source packets were copied untouched.
    pub copied: bool,
    pub sample_rate: u32,
    pub channels: u16,
    pub bit_depth: Option<u16>,
    pub sample_format: Option<SampleFormat>,
    /// Frames (samples per channel) written, when known.
    pub frames: Option<u64>,
    /// Seconds of audio written.
    pub duration: f64,
    /// Start of the audio track relative to the container's start, in seconds.
    pub audio_offset: f64,
    pub source: SourceTrack,
    pub bytes_written: u64,
}
