//! Listing a file with libavformat: its container and tracks, with MP4 edit lists applied
//! to the tracks' starts and durations.

use ff::{codec, media};
use ffmpeg_next as ff;

use super::io::open_input;
use super::{container, is_lossless, pcm_bits, raw_fields};
use crate::error::Result;
use crate::media::decode::cutter;
use crate::media::info::{
    AacProfile, Container, EngineKind, ProbeInfo, TrackInfo, TrackKind, layout_name,
};
use crate::media::input::Input;

/// Probe with libavformat.
pub(crate) fn probe(input: &Input) -> Result<ProbeInfo> {
    let ictx = open_input(input)?;
    let container = container(ictx.format().name());
    let edits = if container == Container::Mp4 {
        cutter::all_edits(input)
    } else {
        None
    };
    let mut tracks = Vec::new();
    let mut audio_index = 0;
    let mut first_start: Option<f64> = None;
    for st in ictx.streams() {
        let p = st.parameters();
        let tb = st.time_base();
        let start = secs(st.start_time(), tb).unwrap_or(0.0);
        first_start = Some(first_start.map_or(start, |s: f64| s.min(start)));
        let edit = edits
            .as_ref()
            .and_then(|e| e.get(st.index()).copied().flatten());
        let mut info = TrackInfo {
            index: st.index(),
            kind: match p.medium() {
                media::Type::Audio => TrackKind::Audio,
                media::Type::Video => TrackKind::Video,
                media::Type::Subtitle => TrackKind::Subtitle,
                _ => TrackKind::Other,
            },
            audio_index: None,
            codec: p.id().name().to_string(),
            profile: None,
            sample_rate: None,
            channels: None,
            channel_layout: None,
            bit_depth: None,
            language: st
                .metadata()
                .get("language")
                .filter(|l| !l.is_empty() && *l != "und")
                .map(str::to_string),
            start,
            duration: edit
                .and_then(|e| e.duration_secs)
                .or_else(|| secs(st.duration(), tb)),
        };
        if info.kind == TrackKind::Audio {
            info.audio_index = Some(audio_index);
            audio_index += 1;
            let (rate, channels, bits) = raw_fields(&p);
            info.sample_rate = u32::try_from(rate).ok().filter(|&r| r > 0);
            info.channels = u16::try_from(channels).ok().filter(|&c| c > 0);
            info.channel_layout = info.channels.and_then(layout_name);
            info.bit_depth = pcm_bits(p.id())
                .or_else(|| (is_lossless(p.id()) && bits > 0).then_some(bits as u32));
            if p.id() == codec::Id::AAC {
                info.profile = AacProfile::from_asc(extradata(&p)).map(|p| p.name().to_string());
            }
        }
        tracks.push(info);
    }
    // Report starts relative to the container's first timestamp (MPEG-TS starts near 1.4 s).
    let base = first_start.unwrap_or(0.0);
    for t in &mut tracks {
        t.start = (t.start - base).max(0.0);
        if let Some(edit) = edits
            .as_ref()
            .and_then(|e| e.get(t.index).copied().flatten())
        {
            t.start = edit.offset_secs;
        }
    }
    let duration = secs(ictx.duration(), ff::Rational(1, ff::ffi::AV_TIME_BASE)).or_else(|| {
        tracks
            .iter()
            .filter_map(|t| t.duration.map(|d| d + t.start))
            .reduce(f64::max)
    });
    let audio_offset = tracks
        .iter()
        .find(|t| t.kind == TrackKind::Audio)
        .map_or(0.0, |t| t.start);
    Ok(ProbeInfo {
        container,
        engine: EngineKind::Ffmpeg,
        duration,
        size: None,
        audio_offset,
        tracks,
    })
}

fn secs(ts: i64, tb: ff::Rational) -> Option<f64> {
    (ts != ff::ffi::AV_NOPTS_VALUE && tb.denominator() != 0)
        .then(|| ts as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()))
}

/// The codec's extra data (an AAC AudioSpecificConfig, say).
fn extradata(p: &codec::Parameters) -> &[u8] {
    // SAFETY: `p` wraps a live AVCodecParameters; extradata/extradata_size describe one
    // allocation owned by it, valid while `p` is borrowed.
    unsafe {
        let raw = &*p.as_ptr();
        if raw.extradata.is_null() || raw.extradata_size <= 0 {
            return &[];
        }
        std::slice::from_raw_parts(raw.extradata, raw.extradata_size as usize)
    }
}
