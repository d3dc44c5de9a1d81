//! The FFmpeg (libav*) back end for what Symphonia lacks: AVI, MPEG-TS, FLV, Opus, AC-3,
//! E-AC-3, HE-AAC and the rest. FFmpeg types stay inside this module and `encode::m4a`.
#![allow(
    unsafe_code,
    reason = "ffmpeg-next has no safe accessor for codec parameter fields such as extradata and bits_per_raw_sample; each use is a plain read of a field of a live AVCodecParameters"
)]

use std::path::Path;
use std::sync::Once;

use ff::{codec, format, frame, media};
use ffmpeg_next as ff;

use super::{Decoder, EditCutter, mp4edit, secs_to_frames};
use crate::error::{Error, Result};
use crate::media::limits::Limits;
use crate::media::probe::{EngineKind, ProbeInfo, TrackInfo, TrackKind, aac_profile};

/// Initialise libav* once and keep its logging off stderr (our errors say what went wrong).
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = ff::init();
        let level = if std::env::var_os("AUDIOTAP_FFMPEG_LOG").is_some() {
            ff::util::log::Level::Warning
        } else {
            ff::util::log::Level::Quiet
        };
        ff::util::log::set_level(level);
    });
}

pub(crate) fn map_err(e: ff::Error, what: &str) -> Error {
    match e {
        ff::Error::InvalidData | ff::Error::Eof => Error::media(format!("{what}: {e}")),
        ff::Error::DecoderNotFound | ff::Error::DemuxerNotFound => {
            Error::UnsupportedFormat(format!("{what}: {e}"))
        }
        ff::Error::PatchWelcome | ff::Error::Bug | ff::Error::Bug2 => {
            Error::UnsupportedCodec(format!("{what}: {e}"))
        }
        other => Error::media(format!("{what}: {other}")),
    }
}

pub(crate) fn open_input(path: &Path) -> Result<format::context::Input> {
    // FFmpeg opens by path: a file still arriving is read once it is whole.
    crate::media::growing::wait_complete(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    init();
    format::input(&path).map_err(|e| match e {
        ff::Error::InvalidData => Error::media("not a recognised media container"),
        ff::Error::Other { errno } if errno == libc_enoent() => Error::io(
            format!("cannot open {}", path.display()),
            std::io::Error::from_raw_os_error(errno),
        ),
        other => map_err(other, "cannot read the container"),
    })
}

fn libc_enoent() -> i32 {
    std::io::Error::from(std::io::ErrorKind::NotFound)
        .raw_os_error()
        .unwrap_or(2)
}

fn container_name(long: &str) -> String {
    let first = long.split(',').next().unwrap_or(long);
    match first {
        "mov" | "mp4" | "m4a" | "3gp" => "mp4",
        "matroska" | "webm" => "matroska",
        "aac" => "adts",
        other => other,
    }
    .to_string()
}

fn secs(ts: i64, tb: ff::Rational) -> Option<f64> {
    (ts != ff::ffi::AV_NOPTS_VALUE && tb.denominator() != 0)
        .then(|| ts as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()))
}

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

fn raw_fields(p: &codec::Parameters) -> (i32, i32, i32) {
    // SAFETY: plain reads of integer fields of a live AVCodecParameters.
    unsafe {
        let raw = &*p.as_ptr();
        (
            raw.sample_rate,
            raw.ch_layout.nb_channels,
            raw.bits_per_raw_sample,
        )
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

/// Probe with libavformat.
pub(crate) fn probe(path: &Path) -> Result<ProbeInfo> {
    let ictx = open_input(path)?;
    let container = container_name(ictx.format().name());
    let edits = if container == "mp4" {
        std::fs::File::open(path)
            .ok()
            .and_then(|mut f| mp4edit::read_track_edits(&mut f))
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
                info.profile = aac_profile(extradata(&p)).map(str::to_string);
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
        fetch: None,
    })
}

fn pcm_bits(id: codec::Id) -> Option<u32> {
    use codec::Id::*;
    Some(match id {
        PCM_U8 | PCM_S8 => 8,
        PCM_S16LE | PCM_S16BE | PCM_U16LE | PCM_U16BE => 16,
        PCM_S24LE | PCM_S24BE | PCM_U24LE | PCM_U24BE => 24,
        PCM_S32LE | PCM_S32BE | PCM_U32LE | PCM_U32BE | PCM_F32LE | PCM_F32BE => 32,
        PCM_F64LE | PCM_F64BE => 64,
        _ => return Option::None,
    })
}

fn is_lossless(id: codec::Id) -> bool {
    matches!(
        id,
        codec::Id::FLAC | codec::Id::ALAC | codec::Id::WAVPACK | codec::Id::TTA | codec::Id::TRUEHD
    ) || pcm_bits(id).is_some()
}

pub(crate) struct FfmpegDecoder {
    ictx: format::context::Input,
    decoder: codec::decoder::Audio,
    stream_index: usize,
    frame: frame::Audio,
    block: Vec<f32>,
    rate: u32,
    channels: usize,
    bits: Option<u32>,
    cutter: EditCutter,
    /// Presented length from the MP4 edit list. libavformat already drops the priming
    /// (skip-samples side data) but FFmpeg 5.1 keeps the padding past this length.
    keep_secs: Option<f64>,
    decoded_frames: u64,
    max_frames: u64,
    packets: u64,
    bad_packets: u64,
    last_error: Option<String>,
    expected_secs: Option<f64>,
    draining: bool,
    done: bool,
}

impl FfmpegDecoder {
    pub(crate) fn open(path: &Path, track: &TrackInfo, limits: &Limits) -> Result<Self> {
        let mut ictx = open_input(path)?;
        let st = ictx
            .stream(track.index)
            .ok_or_else(|| Error::Internal("track vanished between probe and open".into()))?;
        let stream_index = st.index();
        let mut ctx = codec::context::Context::from_parameters(st.parameters())
            .map_err(|e| map_err(e, "cannot read the codec parameters"))?;
        // from_parameters leaves time_base at 0/1: decoders that use it for skip/discard
        // side data need the stream's.
        ctx.set_time_base(st.time_base());
        let id = st.parameters().id();
        if codec::decoder::find(id).is_none() {
            return Err(Error::UnsupportedCodec(format!(
                "no decoder for {}",
                id.name()
            )));
        }
        let mut decoder = ctx.decoder().audio().map_err(|e| match e {
            ff::Error::DecoderNotFound => {
                Error::UnsupportedCodec(format!("no decoder for {}", id.name()))
            }
            other => map_err(other, "cannot start the decoder"),
        })?;
        if decoder.channel_layout().is_empty() && decoder.channels() > 0 {
            decoder.set_channel_layout(ff::ChannelLayout::default(i32::from(decoder.channels())));
        }
        let bits =
            pcm_bits(id).or_else(|| is_lossless(id).then_some(track.bit_depth.unwrap_or(24)));
        // Discard every other stream in the demuxer: fewer packets read and allocated.
        for mut other in ictx.streams_mut() {
            if other.index() != stream_index {
                // SAFETY: a plain write of the discard field of a stream owned by this context.
                unsafe {
                    (*other.as_mut_ptr()).discard = ff::ffi::AVDiscard::AVDISCARD_ALL;
                }
            }
        }
        let mut expected_secs = None;
        let rate = decoder.rate();
        let keep_secs = std::fs::File::open(path)
            .ok()
            .and_then(|mut f| mp4edit::read_track_edits(&mut f))
            .and_then(|e| e.get(track.index).copied().flatten())
            .and_then(|edit| edit.duration_secs);
        if keep_secs.is_some() {
            expected_secs = keep_secs;
        } else if container_name(ictx.format().name()) == "mp4" {
            expected_secs = track.duration;
        }
        Ok(FfmpegDecoder {
            ictx,
            decoder,
            stream_index,
            frame: frame::Audio::empty(),
            block: Vec::new(),
            rate,
            channels: track.channels.map_or(0, usize::from),
            bits,
            cutter: EditCutter::default(),
            keep_secs,
            decoded_frames: 0,
            max_frames: limits.max_frames(rate.max(1)),
            packets: 0,
            bad_packets: 0,
            last_error: None,
            expected_secs,
            draining: false,
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

    /// Feed the decoder one packet of our stream, or EOF. Returns false at the end.
    fn feed(&mut self) -> Result<bool> {
        if self.draining {
            return Ok(false);
        }
        let mut packet = ff::Packet::empty();
        let mut read_errors = 0;
        loop {
            match packet.read(&mut self.ictx) {
                Ok(()) => {
                    if packet.stream() != self.stream_index {
                        continue;
                    }
                    self.packets += 1;
                    match self.decoder.send_packet(&packet) {
                        Ok(()) => return Ok(true),
                        Err(e) => {
                            self.bad_packets += 1;
                            self.last_error = Some(e.to_string());
                            super::check_error_rate(
                                self.packets,
                                self.bad_packets,
                                &self.last_error,
                            )?;
                        }
                    }
                }
                Err(ff::Error::Eof) => break,
                // A corrupt packet: the demuxer resyncs past it.
                Err(ff::Error::InvalidData) if read_errors < 1000 => read_errors += 1,
                Err(e) => {
                    if self.decoded_frames == 0 {
                        return Err(map_err(e, "cannot read the next packet"));
                    }
                    break;
                }
            }
        }
        self.draining = true;
        let _ = self.decoder.send_eof();
        Ok(true)
    }

    /// Convert the current frame to interleaved f32 in `self.block`.
    fn convert(&mut self) -> Result<usize> {
        let f = &self.frame;
        let n = f.samples();
        let ch = usize::from(f.channels());
        if ch == 0 {
            return Err(Error::media("decoded frame has no channels"));
        }
        self.block.clear();
        self.block.resize(n * ch, 0.0);
        let fmt = f.format();
        let bps = fmt.bytes();
        let planar = fmt.is_planar();
        let planes: Vec<&[u8]> = if planar {
            (0..ch).map(|c| &f.data(c)[..n * bps]).collect()
        } else {
            vec![&f.data(0)[..n * ch * bps]]
        };
        use ff::format::Sample as S;
        macro_rules! conv {
            ($ty:ty, $w:expr, $to:expr) => {{
                let to = $to;
                if planar {
                    for (c, plane) in planes.iter().enumerate() {
                        for (i, b) in plane.chunks_exact($w).enumerate() {
                            self.block[i * ch + c] =
                                to(<$ty>::from_ne_bytes(b.try_into().unwrap_or([0; $w])));
                        }
                    }
                } else {
                    for (o, b) in self.block.iter_mut().zip(planes[0].chunks_exact($w)) {
                        *o = to(<$ty>::from_ne_bytes(b.try_into().unwrap_or([0; $w])));
                    }
                }
            }};
        }
        match fmt {
            S::U8(_) => conv!(u8, 1, |x: u8| (f32::from(x) - 128.0) / 128.0),
            S::I16(_) => conv!(i16, 2, |x: i16| f32::from(x) / 32768.0),
            S::I32(_) => conv!(i32, 4, |x: i32| (f64::from(x) / 2_147_483_648.0) as f32),
            S::I64(_) => conv!(i64, 8, |x: i64| (x as f64 / 9_223_372_036_854_775_808.0)
                as f32),
            S::F32(_) => conv!(f32, 4, |x: f32| x),
            S::F64(_) => conv!(f64, 8, |x: f64| x as f32),
            S::None => return Err(Error::media("decoded frame has no sample format")),
        }
        Ok(n)
    }
}

impl Decoder for FfmpegDecoder {
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
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => {
                    let rate = self.frame.rate();
                    let ch = usize::from(self.frame.channels());
                    if self.decoded_frames == 0 {
                        self.rate = rate;
                        self.channels = ch;
                        self.cutter =
                            EditCutter::new(0, self.keep_secs.map(|d| secs_to_frames(d, rate)));
                    } else if rate != self.rate || ch != self.channels {
                        return Err(Error::UnsupportedCodec(
                            "the stream changes sample rate or channel count midway".into(),
                        ));
                    }
                    let frames = self.convert()?;
                    if frames == 0 {
                        continue;
                    }
                    self.decoded_frames += frames as u64;
                    if self.decoded_frames > self.max_frames {
                        return Err(Error::LimitExceeded(
                            "the audio track is longer than the duration limit".into(),
                        ));
                    }
                    let Some(range) = self.cutter.cut(frames) else {
                        self.done = true;
                        return Ok(None);
                    };
                    if range.is_empty() {
                        continue;
                    }
                    return Ok(Some(&self.block[range.start * ch..range.end * ch]));
                }
                Err(ff::Error::Eof) => {
                    self.finish()?;
                    return Ok(None);
                }
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    if !self.feed()? {
                        self.finish()?;
                        return Ok(None);
                    }
                }
                Err(e) => {
                    self.bad_packets += 1;
                    self.last_error = Some(e.to_string());
                    super::check_error_rate(
                        self.packets.max(1),
                        self.bad_packets,
                        &self.last_error,
                    )?;
                }
            }
        }
    }
}
