//! What is inside a media file: container, duration and every track, with field names that
//! are part of the public contract (`audiotap probe --json`, the job's `input`). Both back
//! ends of the engine fill these types; what only the engine needs of them (AAC profiles,
//! channel layout names) stays in `media::info`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::OutputSpec;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    Audio,
    Video,
    Subtitle,
    Other,
}

/// The back end that read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Symphonia,
    Ffmpeg,
    /// audiotap's own MP4 box reader and writer (stream copy of an MP4/MOV track).
    Native,
}

/// A container format, under the one name both back ends report for it. Serialised as that
/// name (a plain string in the JSON contract); a format without a name of ours keeps the
/// back end's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    /// MP4, MOV, M4A and 3GP (ISO base media files).
    Mp4,
    /// Matroska and WebM.
    Matroska,
    Avi,
    Mpegts,
    Flv,
    Ogg,
    Wav,
    /// Raw AAC in ADTS frames.
    Adts,
    /// Raw MPEG audio (layers 1 to 3).
    Mp3,
    Flac,
    Caf,
    Aiff,
    /// FFmpeg's (or Symphonia's) name for anything else.
    Other(String),
}

impl Container {
    const NAMED: [(Container, &'static str); 12] = [
        (Container::Mp4, "mp4"),
        (Container::Matroska, "matroska"),
        (Container::Avi, "avi"),
        (Container::Mpegts, "mpegts"),
        (Container::Flv, "flv"),
        (Container::Ogg, "ogg"),
        (Container::Wav, "wav"),
        (Container::Adts, "adts"),
        (Container::Mp3, "mp3"),
        (Container::Flac, "flac"),
        (Container::Caf, "caf"),
        (Container::Aiff, "aiff"),
    ];

    /// The container a name stands for (one of ours, or any other).
    pub fn from_name(name: &str) -> Self {
        Self::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| Container::Other(name.to_string()), |(c, _)| c.clone())
    }

    /// The name in reports and in the JSON contract.
    pub fn as_str(&self) -> &str {
        match self {
            Container::Other(name) => name,
            known => Self::NAMED
                .iter()
                .find(|(c, _)| c == known)
                .map_or("", |(_, n)| n),
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Container {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Container {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(|name| Container::from_name(&name))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrackInfo {
    /// Position among all tracks of the container (0-based).
    pub index: usize,
    pub kind: TrackKind,
    /// Position among the audio tracks (what `--track` selects), for audio tracks.
    pub audio_index: Option<usize>,
    /// FFmpeg-style short codec name (`aac`, `opus`, `pcm_s16le`, `h264`, ...).
    pub codec: String,
    /// Codec profile where known (`LC`, `HE-AAC`, `HE-AACv2`).
    pub profile: Option<String>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub channel_layout: Option<String>,
    pub bit_depth: Option<u32>,
    pub language: Option<String>,
    /// Presentation start of the track in seconds from the container's start.
    pub start: f64,
    pub duration: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProbeInfo {
    /// `mp4` (also MOV, M4A, 3GP), `matroska` (also WebM), `avi`, `mpegts`, `flv`, `ogg`,
    /// `wav`, `adts`, `mp3`, `flac`, `caf`, `aiff`, or FFmpeg's name for anything else.
    #[schema(value_type = String)]
    pub container: Container,
    pub engine: EngineKind,
    pub duration: Option<f64>,
    pub size: Option<u64>,
    /// Start of the default audio track relative to the container's start, in seconds.
    pub audio_offset: f64,
    pub tracks: Vec<TrackInfo>,
}

impl ProbeInfo {
    pub fn audio_tracks(&self) -> impl Iterator<Item = &TrackInfo> {
        self.tracks.iter().filter(|t| t.kind == TrackKind::Audio)
    }

    /// The audio track a spec selects (`track`, `language`, or the first).
    pub fn select_track(&self, spec: &OutputSpec) -> Result<&TrackInfo> {
        let audio: Vec<&TrackInfo> = self.audio_tracks().collect();
        if audio.is_empty() {
            return Err(Error::NoAudioTrack);
        }
        if let Some(n) = spec.track {
            return audio.get(n).copied().ok_or_else(|| {
                Error::TrackNotFound(format!(
                    "audio track {n} not found: the input has {} audio track(s)",
                    audio.len()
                ))
            });
        }
        if let Some(lang) = &spec.language {
            return audio
                .iter()
                .copied()
                .find(|t| {
                    t.language
                        .as_deref()
                        .is_some_and(|l| l.eq_ignore_ascii_case(lang))
                })
                .ok_or_else(|| {
                    let langs: Vec<&str> =
                        audio.iter().filter_map(|t| t.language.as_deref()).collect();
                    Error::TrackNotFound(format!(
                        "no audio track in language {lang:?} (languages: {})",
                        if langs.is_empty() {
                            "none stated".to_string()
                        } else {
                            langs.join(", ")
                        }
                    ))
                });
        }
        Ok(audio[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON contract keeps plain container names, ours and the back ends' alike.
    #[test]
    fn containers_serialise_as_their_names() {
        for (c, name) in Container::NAMED {
            assert_eq!(serde_json::to_value(&c).unwrap(), name);
            assert_eq!(Container::from_name(name), c);
        }
        let other = Container::from_name("asf");
        assert_eq!(other, Container::Other("asf".into()));
        assert_eq!(serde_json::to_value(&other).unwrap(), "asf");
        let back: Container = serde_json::from_value("matroska".into()).unwrap();
        assert_eq!(back, Container::Matroska);
    }
}
