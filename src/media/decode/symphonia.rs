//! The Symphonia (pure Rust) back end: first choice for untrusted bytes. Symphonia types
//! stay inside this module.

use std::io::Read;
use std::path::Path;

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::well_known as ac;
use symphonia::core::codecs::audio::{
    AudioCodecId, AudioCodecParameters, AudioDecoder, AudioDecoderOptions,
};
use symphonia::core::codecs::video::well_known as vc;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, Track};
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;

use super::{Decoder, EditCutter, mp4edit};
use crate::error::{Error, Result};
use crate::media::limits::Limits;
use crate::media::probe::{EngineKind, ProbeInfo, TrackInfo, TrackKind, aac_profile};

pub(super) fn open_reader(path: &Path) -> Result<Box<dyn FormatReader + 'static>> {
    let file = crate::media::growing::open(path)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    // Symphonia's Matroska reader, given a seekable source, follows the SeekHead to every
    // element it lists before the first packet: the Cues and Tags that muxers write at the
    // end. It needs none of them to demux (they serve seeking and metadata), so a file still
    // arriving is handed over unseekable and is read front to back as its bytes land.
    let source: Box<dyn MediaSource> =
        if crate::media::growing::is_arriving(path) && head(path, 4) == EBML_MAGIC {
            Box::new(ReadOnlySource::new(file))
        } else {
            file
        };
    let mss = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| map_err(e, "cannot read the container"))
}

/// The EBML header's ID, which every Matroska/WebM file starts with.
const EBML_MAGIC: &[u8] = &[0x1A, 0x45, 0xDF, 0xA3];

/// Up to `n` bytes from the start of `path` (fewer when the file is shorter); a file still
/// arriving is waited for.
fn head(path: &Path, n: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(n);
    if let Ok(f) = crate::media::growing::open(path) {
        let _ = f.take(n as u64).read_to_end(&mut buf);
    }
    buf
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

pub(super) fn map_err(e: SymError, what: &str) -> Error {
    match e {
        SymError::Unsupported(s) => Error::UnsupportedFormat(format!("{what}: {s}")),
        SymError::LimitError(s) => Error::LimitExceeded(format!("{what}: {s}")),
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::media(format!("{what}: unexpected end of file"))
        }
        other => Error::media(format!("{what}: {other}")),
    }
}

fn container_name(short: &str) -> String {
    match short {
        "isomp4" => "mp4",
        "matroska" | "mkv" | "webm" => "matroska",
        "wave" | "wav" | "riff" => "wav",
        "aiff" => "aiff",
        "mp1" | "mp2" | "mp3" | "mpa" => "mp3",
        "aac" | "adts" => "adts",
        other => other,
    }
    .to_string()
}

pub(crate) fn audio_codec_name(id: AudioCodecId, bits: Option<u32>) -> String {
    let name = match id {
        ac::CODEC_ID_AAC => "aac",
        ac::CODEC_ID_MP1 => "mp1",
        ac::CODEC_ID_MP2 => "mp2",
        ac::CODEC_ID_MP3 => "mp3",
        ac::CODEC_ID_OPUS => "opus",
        ac::CODEC_ID_VORBIS => "vorbis",
        ac::CODEC_ID_FLAC => "flac",
        ac::CODEC_ID_ALAC => "alac",
        ac::CODEC_ID_AC3 => "ac3",
        ac::CODEC_ID_EAC3 => "eac3",
        ac::CODEC_ID_DCA => "dts",
        ac::CODEC_ID_WAVPACK => "wavpack",
        ac::CODEC_ID_PCM_ALAW => "pcm_alaw",
        ac::CODEC_ID_PCM_MULAW => "pcm_mulaw",
        ac::CODEC_ID_PCM_U8 | ac::CODEC_ID_PCM_U8_PLANAR => "pcm_u8",
        ac::CODEC_ID_PCM_S8 | ac::CODEC_ID_PCM_S8_PLANAR => "pcm_s8",
        ac::CODEC_ID_PCM_S16LE | ac::CODEC_ID_PCM_S16LE_PLANAR => "pcm_s16le",
        ac::CODEC_ID_PCM_S16BE | ac::CODEC_ID_PCM_S16BE_PLANAR => "pcm_s16be",
        ac::CODEC_ID_PCM_S24LE | ac::CODEC_ID_PCM_S24LE_PLANAR => "pcm_s24le",
        ac::CODEC_ID_PCM_S24BE | ac::CODEC_ID_PCM_S24BE_PLANAR => "pcm_s24be",
        ac::CODEC_ID_PCM_S32LE | ac::CODEC_ID_PCM_S32LE_PLANAR => "pcm_s32le",
        ac::CODEC_ID_PCM_S32BE | ac::CODEC_ID_PCM_S32BE_PLANAR => "pcm_s32be",
        ac::CODEC_ID_PCM_F32LE | ac::CODEC_ID_PCM_F32LE_PLANAR => "pcm_f32le",
        ac::CODEC_ID_PCM_F32BE | ac::CODEC_ID_PCM_F32BE_PLANAR => "pcm_f32be",
        ac::CODEC_ID_PCM_F64LE | ac::CODEC_ID_PCM_F64LE_PLANAR => "pcm_f64le",
        ac::CODEC_ID_PCM_F64BE | ac::CODEC_ID_PCM_F64BE_PLANAR => "pcm_f64be",
        ac::CODEC_ID_ADPCM_IMA_WAV => "adpcm_ima_wav",
        ac::CODEC_ID_ADPCM_MS => "adpcm_ms",
        _ => return format!("unknown({id})"),
    };
    // Some demuxers (MOV `lpcm`, MKV) only say "PCM": name the width actually stored.
    let _ = bits;
    name.to_string()
}

fn video_codec_name(id: symphonia::core::codecs::video::VideoCodecId) -> &'static str {
    match id {
        vc::CODEC_ID_H264 => "h264",
        vc::CODEC_ID_HEVC => "hevc",
        vc::CODEC_ID_VP8 => "vp8",
        vc::CODEC_ID_VP9 => "vp9",
        vc::CODEC_ID_AV1 => "av1",
        vc::CODEC_ID_MPEG4 => "mpeg4",
        vc::CODEC_ID_MPEG2 => "mpeg2video",
        vc::CODEC_ID_MPEG1 => "mpeg1video",
        vc::CODEC_ID_H263 => "h263",
        vc::CODEC_ID_THEORA => "theora",
        vc::CODEC_ID_MJPEG => "mjpeg",
        _ => "unknown",
    }
}

fn layout_name(channels: u16) -> Option<String> {
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

/// Probe with Symphonia. Fails when Symphonia does not recognise the container.
pub(crate) fn probe(path: &Path) -> Result<ProbeInfo> {
    if let Some(name) = foreign_container(&head(path, 392)) {
        return Err(Error::UnsupportedFormat(format!(
            "Symphonia has no {name} demuxer"
        )));
    }
    let mut reader = open_reader(path)?;
    let container = container_name(reader.format_info().short_name);
    // Symphonia's probe scans forward for a known marker; a raw MPEG-audio or ADTS match
    // deep inside some other container (MPEG-TS, AVI) is not that container.
    if matches!(container.as_str(), "mp3" | "adts") && !starts_like_elementary_stream(path) {
        return Err(Error::UnsupportedFormat(format!(
            "{container} sync found past the start of the file"
        )));
    }
    let edits = if container == "mp4" {
        crate::media::growing::open(path)
            .ok()
            .and_then(|mut f| mp4edit::read_track_edits(&mut f))
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
                info.codec = audio_codec_name(p.codec, p.bits_per_sample);
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
                if p.codec == ac::CODEC_ID_AAC && container == "adts" {
                    info.profile = adts_profile(path);
                } else if p.codec == ac::CODEC_ID_AAC {
                    info.profile = p
                        .extra_data
                        .as_deref()
                        .and_then(aac_profile)
                        .map(str::to_string);
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
    if container == "mp4"
        && tracks.iter().any(|t| t.duration.is_none())
        && !crate::media::growing::is_arriving(path)
    {
        // Fragmented MP4: the moov has no samples; the fragments say how long each track is.
        // Walking them needs the whole file: while it arrives the length stays unknown.
        let frag = crate::media::growing::open(path)
            .ok()
            .and_then(|mut f| mp4edit::fragmented_durations(&mut f));
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
    if container != "mp4" {
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
/// ADTS is signalled implicitly, which `cannot_decode` guards by the core rate.
fn adts_profile(path: &Path) -> Option<String> {
    let mut head = [0u8; 7];
    crate::media::growing::open(path)
        .ok()?
        .read_exact(&mut head)
        .ok()?;
    if head[0] != 0xFF || head[1] & 0xF0 != 0xF0 {
        return None;
    }
    let object_type = (head[2] >> 6) + 1;
    aac_profile(&[object_type << 3]).map(str::to_string)
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

fn starts_like_elementary_stream(path: &Path) -> bool {
    let mut head = [0u8; 3];
    let Ok(mut f) = crate::media::growing::open(path) else {
        return false;
    };
    if f.read_exact(&mut head).is_err() {
        return false;
    }
    head == *b"ID3" || (head[0] == 0xFF && head[1] & 0xE0 == 0xE0)
}

fn is_lossy(id: AudioCodecId) -> bool {
    matches!(
        id,
        ac::CODEC_ID_AAC
            | ac::CODEC_ID_MP1
            | ac::CODEC_ID_MP2
            | ac::CODEC_ID_MP3
            | ac::CODEC_ID_VORBIS
            | ac::CODEC_ID_OPUS
            | ac::CODEC_ID_AC3
            | ac::CODEC_ID_EAC3
    )
}

/// Whether Symphonia's view of this file is complete enough to trust (every track has
/// known codec parameters).
pub(crate) fn covers(info: &ProbeInfo) -> bool {
    !info.tracks.is_empty()
}

/// Why Symphonia cannot decode this track, if it cannot.
pub(crate) fn cannot_decode(container: &str, track: &TrackInfo) -> Option<String> {
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
    if !DECODABLE.contains(&track.codec.as_str()) {
        return Some(format!("Symphonia has no {} decoder", track.codec));
    }
    if container == "matroska" && matches!(track.codec.as_str(), "mp3" | "mp2" | "mp1") {
        // Symphonia 0.6 ignores Matroska's DiscardPadding, so MPEG audio would keep up to a
        // frame of encoder padding at the end; FFmpeg applies it.
        return Some("Symphonia does not apply Matroska DiscardPadding to MPEG audio".into());
    }
    if track.codec == "aac" {
        // Symphonia decodes AAC-LC only; HE-AAC is usually signalled implicitly by a low
        // core rate, where Symphonia would silently give half-rate audio without SBR.
        match track.profile.as_deref() {
            Some("LC") if track.sample_rate.unwrap_or(0) > 24_000 => {}
            Some("LC") => {
                return Some("AAC at a core rate <= 24 kHz may carry implicit SBR (HE-AAC)".into());
            }
            Some(p) => return Some(format!("Symphonia does not decode AAC profile {p}")),
            None => return Some("AAC without a decoder configuration".into()),
        }
    }
    None
}

pub(crate) struct SymphoniaDecoder {
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    rate: u32,
    channels: usize,
    bits: Option<u32>,
    block: Vec<f32>,
    cutter: EditCutter,
    /// MP4 edit list, applied once the first block tells the true rate: Symphonia 0.6
    /// neither drops the priming nor cuts the padding.
    edit: Option<mp4edit::TrackEdit>,
    decoded_frames: u64,
    max_frames: u64,
    packets: u64,
    bad_packets: u64,
    last_error: Option<String>,
    expected_secs: Option<f64>,
    done: bool,
}

impl SymphoniaDecoder {
    pub(crate) fn open(path: &Path, track: &TrackInfo, limits: &Limits) -> Result<Self> {
        let reader = open_reader(path)?;
        let st = reader
            .tracks()
            .get(track.index)
            .ok_or_else(|| Error::Internal("track vanished between probe and open".into()))?;
        let Some(CodecParameters::Audio(params)) = &st.codec_params else {
            return Err(Error::NoAudioTrack);
        };
        let params: AudioCodecParameters = params.clone();
        let track_id = st.id;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(s) => {
                    Error::UnsupportedCodec(format!("{}: {s}", track.codec))
                }
                other => map_err(other, "cannot start the decoder"),
            })?;
        let rate = params
            .sample_rate
            .filter(|&r| r > 0)
            .ok_or_else(|| Error::media("audio track has no sample rate"))?;
        let channels = params
            .channels
            .as_ref()
            .map(|c| c.count())
            .filter(|&c| c > 0)
            .unwrap_or(0);
        let bits = if is_lossy(params.codec) {
            None
        } else {
            params.bits_per_sample.or(track.bit_depth)
        };

        // Edit list (MP4): drop priming, cut to the presented length.
        let mut expected_secs = None;
        let edit = crate::media::growing::open(path)
            .ok()
            .and_then(|mut f| mp4edit::read_track_edits(&mut f))
            .and_then(|e| e.get(track.index).copied().flatten());
        if let Some(edit) = edit {
            expected_secs = edit.duration_secs;
        } else if reader.format_info().short_name == "isomp4" {
            expected_secs = track.duration;
        }
        Ok(SymphoniaDecoder {
            reader,
            decoder,
            track_id,
            rate,
            channels,
            bits,
            block: Vec::new(),
            cutter: EditCutter::default(),
            edit,
            decoded_frames: 0,
            max_frames: limits.max_frames(rate),
            packets: 0,
            bad_packets: 0,
            last_error: None,
            expected_secs,
            done: false,
        })
    }

    fn finish(&mut self) -> Result<()> {
        self.done = true;
        if self.decoded_frames == 0 {
            return Err(Error::media(match &self.last_error {
                Some(e) => format!("no audio could be decoded: {e}"),
                None => "the audio track holds no samples".to_string(),
            }));
        }
        super::check_not_truncated(self.decoded_frames, self.rate, self.expected_secs)
    }
}

impl Decoder for SymphoniaDecoder {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn source_bits(&self) -> Option<u32> {
        self.bits
    }

    fn next_block(&mut self) -> Result<Option<&[f32]>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let packet = match self.reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) | Err(SymError::ResetRequired) => {
                    self.finish()?;
                    return Ok(None);
                }
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.finish()?;
                    return Ok(None);
                }
                Err(e) => return Err(map_err(e, "cannot read the next packet")),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            self.packets += 1;
            let buf = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                // A packet the decoder cannot use (corrupt, or claiming an unsupported
                // feature such as a program config element) is skipped, as FFmpeg does.
                Err(e @ (SymError::DecodeError(_) | SymError::Unsupported(_))) => {
                    self.bad_packets += 1;
                    self.last_error = Some(e.to_string());
                    super::check_error_rate(self.packets, self.bad_packets, &self.last_error)?;
                    continue;
                }
                Err(e) => return Err(map_err(e, "decode failed")),
            };
            let spec = buf.spec();
            if spec.rate() != self.rate
                || (self.channels != 0 && spec.channels().count() != self.channels)
            {
                if self.decoded_frames == 0 {
                    self.rate = spec.rate();
                    self.channels = spec.channels().count();
                } else {
                    return Err(Error::UnsupportedCodec(
                        "the stream changes sample rate or channel count midway".into(),
                    ));
                }
            }
            if self.channels == 0 {
                self.channels = spec.channels().count();
            }
            if self.decoded_frames == 0
                && let Some(edit) = self.edit
            {
                self.cutter = EditCutter::for_edit(&edit, self.rate);
            }
            let frames = buf.frames();
            if frames == 0 {
                continue;
            }
            buf.copy_to_vec_interleaved::<f32>(&mut self.block);
            self.decoded_frames += frames as u64;
            if self.decoded_frames > self.max_frames {
                return Err(Error::LimitExceeded(
                    "the audio track is longer than the duration limit".into(),
                ));
            }
            let Some(range) = self.cutter.cut(frames) else {
                // The edit list's presentation is complete: what follows is padding.
                self.done = true;
                return Ok(None);
            };
            if range.is_empty() {
                continue;
            }
            let ch = self.channels;
            return Ok(Some(&self.block[range.start * ch..range.end * ch]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::growing;
    use std::fs::File;
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::mpsc;
    use std::time::Duration;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/media")
            .join(name)
    }

    /// Matroska/WebM and fragmented MP4 are probed and give a first decoded block while
    /// their last quarter has not arrived (the Matroska reader would otherwise follow the
    /// SeekHead to the Cues at the end, and the fragment walk would read every `moof`).
    #[test]
    fn matroska_and_fragmented_mp4_decode_before_they_are_whole() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["mkv_aac.mkv", "webm_vorbis.webm", "mp4_aac_frag.mp4"] {
            let data = std::fs::read(fixture(name)).unwrap();
            let path = dir.path().join(name);
            let mut file = File::create(&path).unwrap();
            let arrival = growing::register(&path, Some(data.len() as u64));
            let head = data.len() * 3 / 4;
            file.write_all(&data[..head]).unwrap();
            arrival.advance(head as u64);
            let (tx, rx) = mpsc::channel();
            let p = path.clone();
            let reader = std::thread::spawn(move || {
                let info = probe(&p).expect("probe while arriving");
                let track = info.audio_tracks().next().cloned().expect("audio");
                let mut dec = SymphoniaDecoder::open(&p, &track, &Limits::default()).unwrap();
                let mut frames = 0;
                while let Some(block) = dec.next_block().unwrap() {
                    frames += block.len();
                    let _ = tx.send(());
                }
                frames
            });
            rx.recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("{name}: nothing decoded before the tail ({e})"));
            file.write_all(&data[head..]).unwrap();
            arrival.advance((data.len() - head) as u64);
            arrival.finish(Ok(()));
            let streamed = reader.join().unwrap();
            let info = probe(&fixture(name)).unwrap();
            let track = info.audio_tracks().next().cloned().unwrap();
            let mut dec =
                SymphoniaDecoder::open(&fixture(name), &track, &Limits::default()).unwrap();
            let mut whole = 0;
            while let Some(block) = dec.next_block().unwrap() {
                whole += block.len();
            }
            assert_eq!(streamed, whole, "{name}: same samples streamed and whole");
        }
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
            probe(&fixture("ts_aac.ts")),
            Err(Error::UnsupportedFormat(_))
        ));
    }
}
