//! Listing a file with Symphonia: its container and tracks, with what Symphonia's readers
//! leave out filled in (edit-list offsets, fragmented MP4 durations, ADTS profiles, ALAC
//! depths, channel counts only the bitstream states).

use std::io::Read;

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::codecs::audio::well_known as ac;
use symphonia::core::formats::{FormatReader, Track};

use super::{audio_codec_name, contain, container, head, is_lossy, open_reader, video_codec_name};
use crate::error::{Error, Result};
use crate::media::decode::cutter;
use crate::media::info::{
    AacProfile, Container, EngineKind, ProbeInfo, TrackInfo, TrackKind, layout_name,
};
use crate::media::input::Input;
use crate::media::mp4;

/// Probe with Symphonia, with a panic on malformed input turned into `invalid_media`. Fails
/// when Symphonia does not recognise the container.
pub(crate) fn probe(input: &Input) -> Result<ProbeInfo> {
    let mut info = contain::contain("the Symphonia demuxer", || probe_file(input))?;
    fill_mp4_languages(&mut info, input);
    Ok(info)
}

/// Fill the languages of MP4/MOV tracks that the reader left empty from the `mdhd` boxes:
/// Symphonia does not report them (FFmpeg does). Selection by `--language` reads the same
/// data, so both back ends select the same track.
fn fill_mp4_languages(info: &mut ProbeInfo, input: &Input) {
    if info.container != Container::Mp4 || info.tracks.iter().all(|t| t.language.is_some()) {
        return;
    }
    let Some(languages) = input
        .open()
        .ok()
        .and_then(|mut f| mp4::read_track_languages(&mut f))
    else {
        return;
    };
    for (track, language) in info.tracks.iter_mut().zip(languages) {
        if track.language.is_none() {
            track.language = language;
        }
    }
}

fn probe_file(input: &Input) -> Result<ProbeInfo> {
    if let Some(name) = foreign_container(&head(input, 392)) {
        return Err(Error::UnsupportedFormat(format!(
            "Symphonia has no {name} demuxer"
        )));
    }
    let mut reader = open_reader(input)?;
    let container = container(reader.format_info().short_name);
    // Symphonia's probe scans forward for a known marker; a raw MPEG-audio or ADTS match
    // deep inside some other container (MPEG-TS, AVI) is not that container.
    if matches!(container, Container::Mp3 | Container::Adts)
        && !starts_like_elementary_stream(input)
    {
        return Err(Error::UnsupportedFormat(format!(
            "{container} sync found past the start of the file"
        )));
    }
    let edits = if container == Container::Mp4 {
        cutter::all_edits(input)
    } else {
        None
    };
    let mut tracks = Vec::new();
    let mut audio_index = 0;
    for (index, t) in reader.tracks().iter().enumerate() {
        let edit = edits.as_ref().and_then(|e| e.get(index).copied().flatten());
        let start = match edit {
            Some(e) => e.offset_secs,
            None => track_secs(t, t.start_ts.get()).max(0.0),
        };
        let mut info = TrackInfo {
            index,
            kind: TrackKind::Other,
            audio_index: None,
            codec: "unknown".into(),
            profile: None,
            sample_rate: None,
            channels: None,
            channel_layout: None,
            bit_depth: None,
            language: t.language.clone().filter(|l| !l.is_empty() && l != "und"),
            start,
            duration: edit
                .and_then(|e| e.duration_secs)
                .or_else(|| track_duration(t)),
        };
        match &t.codec_params {
            Some(CodecParameters::Audio(p)) => {
                info.kind = TrackKind::Audio;
                info.audio_index = Some(audio_index);
                audio_index += 1;
                info.codec = audio_codec_name(p.codec);
                info.sample_rate = p.sample_rate;
                info.channels = p.channels.as_ref().map(|c| c.count() as u16);
                info.channel_layout = info.channels.and_then(layout_name);
                info.bit_depth = if is_lossy(p.codec) {
                    None
                } else {
                    p.bits_per_sample
                };
                if p.codec == ac::CODEC_ID_ALAC && info.bit_depth.is_none() {
                    info.bit_depth = p.extra_data.as_deref().and_then(alac_bit_depth);
                }
                if p.codec == ac::CODEC_ID_AAC {
                    let profile = if container == Container::Adts {
                        adts_profile(input)
                    } else {
                        p.extra_data.as_deref().and_then(AacProfile::from_asc)
                    };
                    info.profile = profile.map(|p| p.name().to_string());
                }
            }
            Some(CodecParameters::Video(p)) => {
                info.kind = TrackKind::Video;
                info.codec = video_codec_name(p.codec).into();
            }
            Some(CodecParameters::Subtitle(_)) => info.kind = TrackKind::Subtitle,
            _ => {}
        }
        tracks.push(info);
    }
    fill_from_first_packet(&mut reader, &mut tracks);
    if container == Container::Mp4
        && tracks.iter().any(|t| t.duration.is_none())
        && !input.is_arriving()
    {
        // Fragmented MP4: the moov has no samples; the fragments say how long each track is.
        // Walking them needs the whole file: while it arrives the length stays unknown.
        let frag = input
            .open()
            .ok()
            .and_then(|mut f| mp4::fragmented_durations(&mut f));
        for (t, d) in tracks.iter_mut().zip(frag.unwrap_or_default()) {
            t.duration = t.duration.or(d);
        }
    }
    let media = reader.media_info();
    let container_duration = media
        .time_base
        .zip(media.duration)
        .and_then(|(tb, d)| tb.calc_duration(d))
        .map(|t| t.as_secs_f64())
        .filter(|&d| d > 0.0);
    if container != Container::Mp4 {
        // Matroska and others state one duration for the whole segment.
        for t in tracks.iter_mut().filter(|t| t.duration.is_none()) {
            t.duration = container_duration;
        }
    }
    let duration = tracks
        .iter()
        .filter_map(|t| t.duration.map(|d| d + t.start))
        .reduce(f64::max)
        .or(container_duration);
    let audio_offset = tracks
        .iter()
        .find(|t| t.kind == TrackKind::Audio)
        .map_or(0.0, |t| t.start);
    Ok(ProbeInfo {
        container,
        engine: EngineKind::Symphonia,
        duration,
        size: None,
        audio_offset,
        tracks,
    })
}

/// Containers Symphonia has no demuxer for, recognised by their first bytes. Its probe would
/// otherwise scan up to a megabyte of them for a marker (waiting for that much of an
/// upload) and may match an ADTS or MPEG-audio sync word inside the packets.
fn foreign_container(head: &[u8]) -> Option<&'static str> {
    let sync_at = |offsets: &[usize]| offsets.iter().all(|&o| head.get(o) == Some(&0x47));
    if sync_at(&[0, 188, 376]) || sync_at(&[4, 196, 388]) {
        Some("MPEG-TS")
    } else if head.starts_with(b"FLV\x01") {
        Some("FLV")
    } else if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"AVI ") {
        Some("AVI")
    } else {
        None
    }
}

fn track_secs(track: &Track, ts: i64) -> f64 {
    track
        .time_base
        .and_then(|tb| tb.calc_time(symphonia::core::units::Timestamp::new(ts)))
        .map(|t| t.as_secs_f64())
        .unwrap_or(0.0)
}

fn track_duration(track: &Track) -> Option<f64> {
    let (tb, dur) = (track.time_base?, track.duration?);
    tb.calc_duration(dur)
        .map(|t| t.as_secs_f64())
        .filter(|&d| d > 0.0)
}

/// Some demuxers (MP3 in MP4) leave the channel count or rate to the bitstream: decode the
/// first packet of such tracks to learn them. Bounded: a few hundred packets at most.
fn fill_from_first_packet(reader: &mut Box<dyn FormatReader + 'static>, tracks: &mut [TrackInfo]) {
    let missing: Vec<usize> = tracks
        .iter()
        .filter(|t| t.kind == TrackKind::Audio && (t.channels.is_none() || t.sample_rate.is_none()))
        .map(|t| t.index)
        .collect();
    for index in missing {
        let Some(st) = reader.tracks().get(index) else {
            continue;
        };
        let Some(CodecParameters::Audio(params)) = &st.codec_params else {
            continue;
        };
        let id = st.id;
        let Ok(mut decoder) = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
        else {
            continue;
        };
        for _ in 0..256 {
            let Ok(Some(packet)) = reader.next_packet() else {
                break;
            };
            if packet.track_id != id {
                continue;
            }
            if let Ok(buf) = decoder.decode(&packet) {
                let spec = buf.spec();
                let t = &mut tracks[index];
                t.sample_rate = t.sample_rate.or(Some(spec.rate()));
                t.channels = t.channels.or(Some(spec.channels().count() as u16));
                t.channel_layout = t.channels.and_then(layout_name);
                break;
            }
        }
    }
}

/// Profile from the first ADTS header (2-bit profile field: object type - 1). HE-AAC in
/// ADTS is signalled implicitly, which `caps::cannot_decode` guards by the core rate.
fn adts_profile(input: &Input) -> Option<AacProfile> {
    let mut head = [0u8; 7];
    input.open().ok()?.read_exact(&mut head).ok()?;
    if head[0] != 0xFF || head[1] & 0xF0 != 0xF0 {
        return None;
    }
    let object_type = (head[2] >> 6) + 1;
    AacProfile::from_asc(&[object_type << 3])
}

/// Bit depth from an ALAC magic cookie (ALACSpecificConfig, optionally inside its atom).
fn alac_bit_depth(cookie: &[u8]) -> Option<u32> {
    let config = if cookie.get(4..8) == Some(b"alac") {
        cookie.get(12..)?
    } else {
        cookie
    };
    config
        .get(5)
        .map(|&b| u32::from(b))
        .filter(|&b| (8..=32).contains(&b))
}

fn starts_like_elementary_stream(input: &Input) -> bool {
    let mut head = [0u8; 3];
    let Ok(mut f) = input.open() else {
        return false;
    };
    if f.read_exact(&mut head).is_err() {
        return false;
    }
    head == *b"ID3" || (head[0] == 0xFF && head[1] & 0xE0 == 0xE0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/media")
            .join(name)
    }

    #[test]
    fn containers_without_a_symphonia_demuxer_are_named_from_their_first_bytes() {
        let head = |name: &str| std::fs::read(fixture(name)).unwrap()[..392].to_vec();
        assert_eq!(foreign_container(&head("ts_aac.ts")), Some("MPEG-TS"));
        assert_eq!(foreign_container(&head("flv_aac.flv")), Some("FLV"));
        assert_eq!(foreign_container(&head("avi_mp3.avi")), Some("AVI"));
        for ours in [
            "wav_pcm_s16le.wav",
            "mkv_aac.mkv",
            "mp4_aac.mp4",
            "adts_aac.aac",
        ] {
            assert_eq!(foreign_container(&head(ours)), None, "{ours}");
        }
        assert!(matches!(
            probe(&fixture("ts_aac.ts").into()),
            Err(Error::UnsupportedFormat(_))
        ));
    }
}
