//! What is inside a media file: container, duration and every track, with field names that
//! are part of the public contract (`audiotap probe --json`, the job's `input`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::media::decode;
use crate::spec::{Engine, OutputSpec};

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
    pub container: String,
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

/// Probe a local file with the chosen engine (auto: Symphonia, then FFmpeg).
pub fn probe(path: &Path, engine: Engine) -> Result<ProbeInfo> {
    // A file still arriving has no size yet (and may not have its first byte).
    let arriving = crate::media::growing::is_arriving(path);
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?
        .len();
    if size == 0 && !arriving {
        return Err(Error::media("the input is empty (0 bytes)"));
    }
    let mut info = match engine {
        Engine::Symphonia => decode::symphonia_probe(path)?,
        Engine::Ffmpeg => decode::ffmpeg::probe(path)?,
        Engine::Auto => match decode::symphonia_probe(path) {
            // A track Symphonia cannot name (Theora in Ogg, say): list the file with FFmpeg
            // so that probe stays complete. Decoding still prefers Symphonia.
            Ok(info)
                if decode::symphonia::covers(&info)
                    && info.tracks.iter().all(|t| t.kind != TrackKind::Other) =>
            {
                info
            }
            _ => decode::ffmpeg::probe(path)?,
        },
    };
    info.size = if arriving { None } else { Some(size) };
    Ok(info)
}

/// Profile of an AAC stream from its AudioSpecificConfig (ISO 14496-3 1.6.2.1).
pub(crate) fn aac_profile(asc: &[u8]) -> Option<&'static str> {
    let aot = asc.first()? >> 3;
    Some(match aot {
        1 => "Main",
        2 => "LC",
        3 => "SSR",
        4 => "LTP",
        5 => "HE-AAC",
        29 => "HE-AACv2",
        23 => "LD",
        39 => "ELD",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::decode::symphonia::cannot_decode;

    fn aac(profile: Option<&str>, rate: u32) -> TrackInfo {
        TrackInfo {
            index: 1,
            kind: TrackKind::Audio,
            audio_index: Some(0),
            codec: "aac".into(),
            profile: profile.map(str::to_string),
            sample_rate: Some(rate),
            channels: Some(2),
            channel_layout: None,
            bit_depth: None,
            language: None,
            start: 0.0,
            duration: None,
        }
    }

    #[test]
    fn aac_profiles_from_audio_specific_config() {
        // 0x1190: AAC-LC, 48 kHz, stereo (what FFmpeg's encoder writes).
        assert_eq!(aac_profile(&[0x11, 0x90]), Some("LC"));
        assert_eq!(aac_profile(&[5 << 3, 0]), Some("HE-AAC"));
        assert_eq!(aac_profile(&[29 << 3, 0]), Some("HE-AACv2"));
        assert_eq!(aac_profile(&[]), None);
    }

    /// HE-AAC, and LC at a core rate that may hide implicit SBR, go to FFmpeg's decoder:
    /// Symphonia would silently decode them at half rate without the SBR band.
    #[test]
    fn he_aac_is_routed_to_ffmpeg() {
        assert!(cannot_decode("mp4", &aac(Some("LC"), 48_000)).is_none());
        assert!(cannot_decode("mp4", &aac(Some("HE-AAC"), 48_000)).is_some());
        assert!(cannot_decode("mp4", &aac(Some("HE-AACv2"), 48_000)).is_some());
        assert!(cannot_decode("mp4", &aac(Some("LC"), 24_000)).is_some());
        assert!(cannot_decode("mp4", &aac(None, 48_000)).is_some());
        let mut mp3 = aac(None, 48_000);
        mp3.codec = "mp3".into();
        assert!(cannot_decode("matroska", &mp3).is_some());
        assert!(cannot_decode("mp4", &mp3).is_none());
    }
}
