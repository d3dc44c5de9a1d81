//! The FFmpeg (libav*) back end for what Symphonia lacks: AVI, MPEG-TS, FLV, Opus, AC-3,
//! E-AC-3, HE-AAC and the rest. FFmpeg types stay inside this module and `encode::m4a`.
#![allow(
    unsafe_code,
    reason = "ffmpeg-next has no safe accessor for codec parameter fields such as extradata and bits_per_raw_sample; each use is a plain read of a field of a live AVCodecParameters"
)]

use std::io::{Read, Seek, SeekFrom};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex, Once};

use ff::{codec, format, frame, media};
use ffmpeg_next as ff;

use super::{Decoder, EditCutter, mp4edit, secs_to_frames};
use crate::error::{Error, Result};
use crate::media::growing::UnknownEnd;
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

/// Open `path` with libavformat (probed and with its stream info read).
pub(crate) fn open_input(path: &Path) -> Result<format::context::Input> {
    open_source(path).map(|s| s.ictx)
}

/// An opened input, and for a file still arriving the cell that says whether its upload
/// failed.
pub(crate) struct Source {
    pub(crate) ictx: format::context::Input,
    failure: Option<SourceFailure>,
}

/// Containers that libavformat demuxes front to back and reads the end of only for
/// extras when the input is seekable: the duration (MPEG-TS packets' last timestamps, Ogg's
/// last granule, FLV's last tag) or the Cues and Tags a Matroska SeekHead points at. While
/// the file arrives they are opened unseekable, so decoding starts with the first bytes.
/// Everything else keeps seeking (an MP4 `moov` or an AVI index at the end is waited for).
const FRONT_TO_BACK: &[&str] = &["mpegts", "matroska,webm", "flv", "ogg"];

fn open_source(path: &Path) -> Result<Source> {
    init();
    if !crate::media::growing::is_arriving(path) {
        let ictx = format::input(&path).map_err(|e| open_error(e, path))?;
        return Ok(Source {
            ictx,
            failure: None,
        });
    }
    let reader = crate::media::growing::open_with(path, UnknownEnd::Fail)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    let failure = SourceFailure::default();
    let mut io = format::context::StreamIo::from_read_seek(ArrivingIo {
        inner: reader,
        failure: failure.clone(),
    })
    .map_err(|e| map_err(e, "cannot set up reading the input"))?;
    let opened = probe_container(&mut io).and_then(|name| {
        if FRONT_TO_BACK.contains(&name.as_str()) {
            // SAFETY: a plain write of a flag of the AVIOContext `io` owns; demuxers read
            // it to decide whether to look at the end of the file. Seeks still work.
            unsafe { (*io.as_mut_ptr()).seekable = 0 };
        }
        format::input_from_stream(io, None, None)
    });
    match opened {
        Ok(ictx) => Ok(Source {
            ictx,
            failure: Some(failure),
        }),
        Err(e) => Err(failure.error().unwrap_or_else(|| open_error(e, path))),
    }
}

/// The name of the container libavformat recognises in `io` (its `AVInputFormat` short
/// name, such as `mpegts` or `matroska,webm`). The probed bytes stay buffered in `io`, so
/// the open that follows reads them again without a seek.
fn probe_container(io: &mut format::context::StreamIo) -> std::result::Result<String, ff::Error> {
    let mut fmt: *const ff::ffi::AVInputFormat = std::ptr::null();
    // SAFETY: `io` owns a live read AVIOContext; `fmt` is an out pointer set to a static
    // AVInputFormat (or left null); the url and log context may be null.
    let score = unsafe {
        ff::ffi::av_probe_input_buffer2(
            io.as_mut_ptr(),
            &mut fmt,
            std::ptr::null(),
            std::ptr::null_mut(),
            0,
            0,
        )
    };
    if score < 0 {
        return Err(ff::Error::from(score));
    }
    if fmt.is_null() {
        return Err(ff::Error::InvalidData);
    }
    // SAFETY: `fmt` points at a static AVInputFormat whose `name` is a static C string.
    Ok(unsafe { std::ffi::CStr::from_ptr((*fmt).name) }
        .to_string_lossy()
        .into_owned())
}

fn open_error(e: ff::Error, path: &Path) -> Error {
    match e {
        ff::Error::InvalidData => Error::media("not a recognised media container"),
        ff::Error::Other { errno } if errno == libc_enoent() => Error::io(
            format!("cannot open {}", path.display()),
            std::io::Error::from_raw_os_error(errno),
        ),
        other => map_err(other, "cannot read the container"),
    }
}

/// Set when reading a file still arriving failed (its upload broke off). libavformat
/// reports a failed read as the end of the stream in many demuxers; this tells the two
/// apart.
#[derive(Debug, Clone, Default)]
struct SourceFailure(Arc<Mutex<Option<String>>>);

impl SourceFailure {
    fn set(&self, msg: String) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(msg);
    }

    fn error(&self) -> Option<Error> {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref()
            .map(|msg| Error::io("cannot read the input", std::io::Error::other(msg.clone())))
    }
}

/// The growing reader as libavformat's I/O (through ffmpeg-next's `StreamIo`, which owns
/// the AVIOContext and its buffer and maps `Ok(0)` to `AVERROR_EOF`): a panic is caught
/// here rather than unwound into C, and a failed read is recorded in `failure`.
struct ArrivingIo<R> {
    inner: R,
    failure: SourceFailure,
}

impl<R> ArrivingIo<R> {
    fn guarded<T>(&mut self, op: impl FnOnce(&mut R) -> std::io::Result<T>) -> std::io::Result<T> {
        let inner = &mut self.inner;
        std::panic::catch_unwind(AssertUnwindSafe(|| op(inner)))
            .unwrap_or_else(|_| Err(std::io::Error::other("the input reader panicked")))
    }
}

impl<R: Read> Read for ArrivingIo<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let got = self.guarded(|r| r.read(buf));
        if let Err(e) = &got {
            self.failure.set(e.to_string());
        }
        got
    }
}

impl<R: Seek> Seek for ArrivingIo<R> {
    /// `SeekFrom::End` (and FFmpeg's `AVSEEK_SIZE`) gives the declared length, or fails
    /// while the length is unknown: libavformat then reads on with an unknown size.
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.guarded(|r| r.seek(to))
    }
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
        crate::media::growing::open(path)
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
    /// For a file still arriving: set when its upload failed.
    failure: Option<SourceFailure>,
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
        let Source { mut ictx, failure } = open_source(path)?;
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
        let keep_secs = crate::media::growing::open(path)
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
            failure,
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
                Err(e) => {
                    // The input itself failed (an upload broke off): not the end of the
                    // stream, whatever the demuxer made of it.
                    if let Some(err) = self.failure.as_ref().and_then(SourceFailure::error) {
                        return Err(err);
                    }
                    match e {
                        ff::Error::Eof => break,
                        // A corrupt packet: the demuxer resyncs past it.
                        ff::Error::InvalidData if read_errors < 1000 => read_errors += 1,
                        e => {
                            if self.decoded_frames == 0 {
                                return Err(map_err(e, "cannot read the next packet"));
                            }
                            break;
                        }
                    }
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

    type PacketFacts = (usize, Option<i64>, usize);

    /// (stream, pts, size) of every packet up to the first read error or the end.
    fn read_packets(ictx: &mut format::context::Input, mut each: impl FnMut()) -> Vec<PacketFacts> {
        let mut out = Vec::new();
        let mut packet = ff::Packet::empty();
        while packet.read(ictx).is_ok() {
            out.push((packet.stream(), packet.pts(), packet.size()));
            each();
        }
        out
    }

    /// The 10 s H.264 + AAC fixture remuxed into MPEG-TS. libavformat analyses up to 5 s of
    /// media before the first packet: the 2 s MPEG-TS fixture is whole by then.
    fn long_ts(dir: &Path) -> PathBuf {
        let out = dir.join("long.ts");
        let st = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(fixture("mp4_aac_long.mp4"))
            .args([
                "-map",
                "0",
                "-c",
                "copy",
                "-fflags",
                "+bitexact",
                "-f",
                "mpegts",
            ])
            .arg(&out)
            .status()
            .expect("the ffmpeg CLI");
        assert!(st.success());
        out
    }

    /// A registered spool file holding the first three quarters of `source`.
    fn spool_head(source: &Path, dir: &Path) -> (PathBuf, File, growing::Arrival, Vec<u8>) {
        let data = std::fs::read(source).unwrap();
        let name = source.file_name().unwrap().to_string_lossy();
        let path = dir.join(format!("{name}.incoming"));
        let mut file = File::create(&path).unwrap();
        let arrival = growing::register(&path, Some(data.len() as u64));
        let head = data.len() * 3 / 4;
        file.write_all(&data[..head]).unwrap();
        arrival.advance(head as u64);
        (path, file, arrival, data)
    }

    /// libavformat reads a file still arriving through the AVIO reader: it opens it and
    /// hands out packets while the last quarter is held back, then reads on to the end and
    /// sees the same packets as when it opens the finished file by path.
    #[test]
    fn the_avio_reader_demuxes_a_growing_file_before_it_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let sources = [
            long_ts(dir.path()),
            fixture("webm_opus.webm"),
            fixture("mkv_ac3.mkv"),
            fixture("ogg_opus.opus"),
        ];
        for source in sources {
            let name = source.display();
            let (path, mut file, arrival, data) = spool_head(&source, dir.path());
            let head = data.len() * 3 / 4;
            let (first_packet, seen) = mpsc::channel();
            let p = path.clone();
            let reader = std::thread::spawn(move || {
                let mut src = open_source(&p).expect("open while arriving");
                let packets = read_packets(&mut src.ictx, || {
                    let _ = first_packet.send(());
                });
                let failed = src.failure.and_then(|f| f.error()).map(|e| e.to_string());
                (packets, failed)
            });
            seen.recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("{name}: no packet while the tail was held back ({e})"));
            file.write_all(&data[head..]).unwrap();
            arrival.advance((data.len() - head) as u64);
            arrival.finish(Ok(()));
            let (packets, failed) = reader.join().unwrap();
            assert_eq!(failed, None, "{name}");
            let mut whole = format::input(&source).unwrap();
            assert_eq!(packets, read_packets(&mut whole, || {}), "{name}");
        }
    }

    /// An upload that breaks off stops the decoder with the upload's error, not a shorter
    /// success, and does not hang.
    #[test]
    fn a_failed_upload_stops_the_ffmpeg_decoder_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        for source in [long_ts(dir.path()), fixture("webm_opus.webm")] {
            let name = source.display();
            let (path, _file, arrival, _) = spool_head(&source, dir.path());
            let (tx, rx) = mpsc::channel();
            let p = path.clone();
            std::thread::spawn(move || {
                let info = probe(&p).expect("probe while arriving");
                let track = info.audio_tracks().next().cloned().expect("audio track");
                let mut dec = FfmpegDecoder::open(&p, &track, &Limits::default()).expect("open");
                let first = dec.next_block().map(|b| b.is_some());
                let _ = tx.send(Ok(first.is_ok_and(|some| some)));
                let end = loop {
                    match dec.next_block() {
                        Ok(Some(_)) => continue,
                        Ok(None) => break Ok(()),
                        Err(e) => break Err(e.to_string()),
                    }
                };
                let _ = tx.send(Err(end));
            });
            let first = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("first block");
            assert_eq!(first, Ok(true), "{name}: a first block before the tail");
            drop(arrival);
            let end = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("the decoder hung");
            match end {
                Err(Err(msg)) => assert!(msg.contains("the upload failed"), "{name}: {msg}"),
                other => panic!("{name}: expected the upload's failure, got {other:?}"),
            }
        }
    }

    /// `AVSEEK_SIZE` gives the declared length, or an error (unknown size) while a file
    /// without one arrives; its full length once it has arrived.
    #[test]
    fn the_avio_size_is_declared_or_unknown_until_complete() {
        let dir = tempfile::tempdir().unwrap();
        let size = |path: &Path| {
            let reader = growing::open_with(path, UnknownEnd::Fail).unwrap();
            let mut io = format::context::StreamIo::from_read_seek(ArrivingIo {
                inner: reader,
                failure: SourceFailure::default(),
            })
            .unwrap();
            // SAFETY: `io` owns a live read AVIOContext.
            unsafe { ff::ffi::avio_size(io.as_mut_ptr()) }
        };
        for declared in [Some(5000), None] {
            let path = dir.path().join(format!("in-{declared:?}"));
            let mut file = File::create(&path).unwrap();
            let arrival = growing::register(&path, declared);
            file.write_all(&[0u8; 1000]).unwrap();
            arrival.advance(1000);
            match declared {
                Some(n) => assert_eq!(size(&path), n as i64),
                None => assert!(size(&path) < 0, "unknown while arriving"),
            }
            let reader = growing::open_with(&path, UnknownEnd::Fail).unwrap();
            arrival.finish(Ok(()));
            let mut io = format::context::StreamIo::from_read_seek(ArrivingIo {
                inner: reader,
                failure: SourceFailure::default(),
            })
            .unwrap();
            // SAFETY: as above.
            let whole = unsafe { ff::ffi::avio_size(io.as_mut_ptr()) };
            assert_eq!(whole, declared.unwrap_or(1000) as i64);
        }
    }

    /// A panic in the reader stays on the Rust side of the FFI boundary: libavformat sees
    /// a failed read (an unwind into C would abort the test binary).
    #[test]
    fn a_panicking_reader_is_a_failed_read() {
        struct Boom;
        impl Read for Boom {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                panic!("boom");
            }
        }
        impl Seek for Boom {
            fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
                panic!("boom");
            }
        }
        let failure = SourceFailure::default();
        let mut io = format::context::StreamIo::from_read_seek(ArrivingIo {
            inner: Boom,
            failure: failure.clone(),
        })
        .unwrap();
        assert!(probe_container(&mut io).is_err());
        assert!(
            failure
                .error()
                .is_some_and(|e| e.to_string().contains("panicked"))
        );
    }
}
