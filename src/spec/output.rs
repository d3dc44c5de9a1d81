//! The validated description of one extraction job: what the caller asked for, parsed once
//! at the edge (CLI flags, JSON, query strings) into enums and checked numbers.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Output container.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Wav,
    M4a,
}

impl Format {
    /// The format implied by an output file name, if its extension is one we write.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "wav" | "wave" => Some(Format::Wav),
            "m4a" | "mp4" | "aac" | "alac" => Some(Format::M4a),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Wav => "wav",
            Format::M4a => "m4a",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Wav => "audio/wav",
            Format::M4a => "audio/mp4",
        }
    }
}

/// Sample representation of integer-or-float PCM outputs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SampleFormat {
    Int,
    Float,
}

/// Codec choice for the output.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Copy when nothing forces a re-encode, else the format's default codec.
    #[default]
    Auto,
    /// Stream-copy the source packets untouched (M4A only).
    Copy,
    Aac,
    Alac,
    Pcm,
}

/// Which decoder back end runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Symphonia when it supports the container and codec, else FFmpeg.
    #[default]
    Auto,
    Symphonia,
    Ffmpeg,
}

/// What one job asks for. Build it, then call [`OutputSpec::validate`]; the engine only runs
/// validated specs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    #[serde(default = "default_format")]
    pub format: Format,
    /// Output sample rate in Hz; the source's when absent.
    #[serde(default)]
    pub sample_rate: Option<u32>,
    /// Bits per sample: 8, 16, 24 or 32. WAV defaults to 16; with M4A it selects ALAC.
    #[serde(default)]
    pub bit_depth: Option<u16>,
    /// `float` is only valid with 32 bits (WAV).
    #[serde(default)]
    pub sample_format: Option<SampleFormat>,
    /// Output channel count; the source's when absent.
    #[serde(default)]
    pub channels: Option<u16>,
    /// The N-th audio track (0-based).
    #[serde(default)]
    pub track: Option<usize>,
    /// The first audio track in this language (ISO 639 code as the container states it).
    #[serde(default)]
    pub language: Option<String>,
    /// Seconds to skip from the start of the audio track.
    #[serde(default)]
    pub start: Option<f64>,
    /// Seconds to keep after `start`.
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub codec: Codec,
    /// AAC bit rate in bits per second (default 128000).
    #[serde(default)]
    pub bitrate: Option<u32>,
    #[serde(default)]
    pub engine: Engine,
}

fn default_format() -> Format {
    Format::Wav
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec {
            format: Format::Wav,
            sample_rate: None,
            bit_depth: None,
            sample_format: None,
            channels: None,
            track: None,
            language: None,
            start: None,
            duration: None,
            codec: Codec::Auto,
            bitrate: None,
            engine: Engine::Auto,
        }
    }
}

/// Sample rates outside this range are refused as options.
const SAMPLE_RATE_RANGE: std::ops::RangeInclusive<u32> = 1_000..=384_000;
/// Output channel counts outside this range are refused as options.
const MAX_OUTPUT_CHANNELS: u16 = 8;

impl OutputSpec {
    /// Check every field and their combinations; the message names the offending option.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidOptions(m));
        if let Some(rate) = self.sample_rate
            && !SAMPLE_RATE_RANGE.contains(&rate)
        {
            return bad(format!(
                "sample_rate {rate} is out of range ({}..={} Hz)",
                SAMPLE_RATE_RANGE.start(),
                SAMPLE_RATE_RANGE.end()
            ));
        }
        if let Some(ch) = self.channels
            && !(1..=MAX_OUTPUT_CHANNELS).contains(&ch)
        {
            return bad(format!(
                "channels {ch} is out of range (1..={MAX_OUTPUT_CHANNELS})"
            ));
        }
        if let Some(bits) = self.bit_depth
            && ![8, 16, 24, 32].contains(&bits)
        {
            return bad(format!("bit_depth {bits} is not one of 8, 16, 24, 32"));
        }
        if self.sample_format == Some(SampleFormat::Float) && self.bit_depth.unwrap_or(32) != 32 {
            return bad(
                "float samples are 32-bit: use bit_depth 32 with sample_format float".into(),
            );
        }
        if let Some(start) = self.start
            && !(start.is_finite() && start >= 0.0)
        {
            return bad(format!(
                "start {start} must be a finite number of seconds >= 0"
            ));
        }
        if let Some(duration) = self.duration
            && !(duration.is_finite() && duration > 0.0)
        {
            return bad(format!(
                "duration {duration} must be a finite number of seconds > 0"
            ));
        }
        if self.track.is_some() && self.language.is_some() {
            return bad("choose the track by index or by language, not both".into());
        }
        if let Some(lang) = &self.language
            && (lang.is_empty()
                || lang.len() > 16
                || !lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return bad(format!("language {lang:?} is not a language code"));
        }
        if let Some(br) = self.bitrate
            && !(8_000..=512_000).contains(&br)
        {
            return bad(format!("bitrate {br} is out of range (8000..=512000 b/s)"));
        }
        match (self.format, self.codec) {
            (Format::Wav, Codec::Auto | Codec::Pcm) => {}
            (Format::Wav, c) => {
                return bad(
                    format!("codec {c:?} cannot be written to WAV (use pcm)").to_lowercase()
                );
            }
            (Format::M4a, Codec::Pcm) => {
                return bad("codec pcm cannot be written to M4A (use aac, alac or copy)".into());
            }
            (Format::M4a, _) => {}
        }
        if self.format == Format::M4a {
            if self.sample_format == Some(SampleFormat::Float) {
                return bad("M4A output has no float samples (use WAV)".into());
            }
            if let Some(bits) = self.bit_depth {
                if !matches!(self.codec, Codec::Auto | Codec::Alac) {
                    return bad("bit_depth with M4A selects ALAC: it cannot be combined with codec aac or copy".into());
                }
                if bits != 16 && bits != 24 {
                    return bad(format!("ALAC supports bit_depth 16 or 24, not {bits}"));
                }
            }
            if self.bitrate.is_some() && matches!(self.codec, Codec::Alac | Codec::Copy) {
                return bad("bitrate applies to AAC only".into());
            }
        } else if self.bitrate.is_some() {
            return bad("bitrate applies to AAC (M4A) only".into());
        }
        if self.codec == Codec::Copy && (self.start.is_some() || self.duration.is_some()) {
            return bad(
                "codec copy cannot trim sample-accurately: drop start/duration or re-encode".into(),
            );
        }
        Ok(())
    }

    /// Integer bits and float flag of a PCM output, after defaults.
    pub fn pcm_depth(&self) -> (u16, bool) {
        let float = self.sample_format == Some(SampleFormat::Float);
        (self.bit_depth.unwrap_or(if float { 32 } else { 16 }), float)
    }
}
