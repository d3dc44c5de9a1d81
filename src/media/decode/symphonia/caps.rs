//! What Symphonia decodes well enough to be chosen: a track it lists but would decode
//! wrongly or not at all is left to FFmpeg (or refused, with `--engine symphonia`).

use crate::media::info::{AacProfile, Container, TrackInfo};

/// Codecs (by the names the probe gives them) that Symphonia 0.6 has a decoder for.
const DECODABLE: &[&str] = &[
    "aac",
    "mp1",
    "mp2",
    "mp3",
    "vorbis",
    "flac",
    "alac",
    "pcm_u8",
    "pcm_s8",
    "pcm_s16le",
    "pcm_s16be",
    "pcm_s24le",
    "pcm_s24be",
    "pcm_s32le",
    "pcm_s32be",
    "pcm_f32le",
    "pcm_f32be",
    "pcm_f64le",
    "pcm_f64be",
    "pcm_alaw",
    "pcm_mulaw",
    "adpcm_ima_wav",
    "adpcm_ms",
];

/// Why Symphonia cannot decode this track of a `container`, if it cannot.
pub(crate) fn cannot_decode(container: &Container, track: &TrackInfo) -> Option<String> {
    if !DECODABLE.contains(&track.codec.as_str()) {
        return Some(format!("Symphonia has no {} decoder", track.codec));
    }
    if *container == Container::Matroska && matches!(track.codec.as_str(), "mp3" | "mp2" | "mp1") {
        // Symphonia 0.6 ignores Matroska's DiscardPadding, so MPEG audio would keep up to a
        // frame of encoder padding at the end; FFmpeg applies it.
        return Some("Symphonia does not apply Matroska DiscardPadding to MPEG audio".into());
    }
    if track.codec == "aac" {
        // Symphonia decodes AAC-LC only; HE-AAC is usually signalled implicitly by a low
        // core rate, where Symphonia would silently give half-rate audio without SBR.
        match AacProfile::of(track) {
            Some(AacProfile::Lc) if track.sample_rate.unwrap_or(0) > 24_000 => {}
            Some(AacProfile::Lc) => {
                return Some("AAC at a core rate <= 24 kHz may carry implicit SBR (HE-AAC)".into());
            }
            Some(p) => return Some(format!("Symphonia does not decode AAC profile {p}")),
            None => return Some("AAC without a decoder configuration".into()),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::info::TrackKind;

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

    /// HE-AAC, and LC at a core rate that may hide implicit SBR, go to FFmpeg's decoder:
    /// Symphonia would silently decode them at half rate without the SBR band.
    #[test]
    fn he_aac_is_routed_to_ffmpeg() {
        let mp4 = Container::Mp4;
        assert!(cannot_decode(&mp4, &aac(Some("LC"), 48_000)).is_none());
        assert!(cannot_decode(&mp4, &aac(Some("HE-AAC"), 48_000)).is_some());
        assert!(cannot_decode(&mp4, &aac(Some("HE-AACv2"), 48_000)).is_some());
        assert!(cannot_decode(&mp4, &aac(Some("LC"), 24_000)).is_some());
        assert!(cannot_decode(&mp4, &aac(None, 48_000)).is_some());
        let mut mp3 = aac(None, 48_000);
        mp3.codec = "mp3".into();
        assert!(cannot_decode(&Container::Matroska, &mp3).is_some());
        assert!(cannot_decode(&mp4, &mp3).is_none());
        let mut opus = aac(None, 48_000);
        opus.codec = "opus".into();
        assert!(cannot_decode(&Container::Ogg, &opus).is_some());
    }
}
