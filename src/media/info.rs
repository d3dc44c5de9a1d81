//! What the engine knows about media files beyond the contract: the probe result types
//! themselves ([`ProbeInfo`], [`TrackInfo`], ...) are the contract and live in
//! [`crate::spec`]; the names both back ends share when they fill them (AAC profiles,
//! channel layouts) are spelled here once.

use std::fmt;

pub use crate::spec::{Container, EngineKind, ProbeInfo, TrackInfo, TrackKind};

/// An AAC profile (audio object type, ISO 14496-3 1.5.1.1), as `TrackInfo::profile` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AacProfile {
    Main,
    Lc,
    Ssr,
    Ltp,
    He,
    HeV2,
    Ld,
    Eld,
}

impl AacProfile {
    /// (profile, audio object type, name).
    const ALL: [(AacProfile, u8, &'static str); 8] = [
        (AacProfile::Main, 1, "Main"),
        (AacProfile::Lc, 2, "LC"),
        (AacProfile::Ssr, 3, "SSR"),
        (AacProfile::Ltp, 4, "LTP"),
        (AacProfile::He, 5, "HE-AAC"),
        (AacProfile::HeV2, 29, "HE-AACv2"),
        (AacProfile::Ld, 23, "LD"),
        (AacProfile::Eld, 39, "ELD"),
    ];

    /// The profile an AudioSpecificConfig states (its first five bits: the object type).
    pub(crate) fn from_asc(asc: &[u8]) -> Option<Self> {
        let aot = asc.first()? >> 3;
        Self::ALL
            .iter()
            .find(|(_, t, _)| *t == aot)
            .map(|(p, _, _)| *p)
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, _, n)| *n == name)
            .map(|(p, _, _)| *p)
    }

    pub(crate) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(p, _, _)| *p == self)
            .map_or("", |(_, _, n)| n)
    }

    /// The AAC profile of an AAC track, when stated.
    pub(crate) fn of(track: &TrackInfo) -> Option<Self> {
        (track.codec == "aac")
            .then_some(track.profile.as_deref())
            .flatten()
            .and_then(Self::from_name)
    }
}

impl fmt::Display for AacProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The usual name of the layout of `channels` channels (FFmpeg's default layouts).
pub(crate) fn layout_name(channels: u16) -> Option<String> {
    Some(
        match channels {
            1 => "mono",
            2 => "stereo",
            3 => "3.0",
            4 => "quad",
            5 => "5.0",
            6 => "5.1",
            8 => "7.1",
            _ => return None,
        }
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_profiles_from_audio_specific_config() {
        // 0x1190: AAC-LC, 48 kHz, stereo (what FFmpeg's encoder writes).
        assert_eq!(AacProfile::from_asc(&[0x11, 0x90]), Some(AacProfile::Lc));
        assert_eq!(AacProfile::from_asc(&[5 << 3, 0]), Some(AacProfile::He));
        assert_eq!(AacProfile::from_asc(&[29 << 3, 0]), Some(AacProfile::HeV2));
        assert_eq!(AacProfile::from_asc(&[]), None);
        for (p, _, name) in AacProfile::ALL {
            assert_eq!(AacProfile::from_name(name), Some(p));
            assert_eq!(p.to_string(), name);
        }
    }
}
