//! The Symphonia (pure Rust) back end, first choice for untrusted bytes. Every Symphonia type
//! stays inside this folder. This file holds what its parts share: opening a reader over
//! the engine's input, error mapping and the names of Symphonia's formats and codecs.
//! [`probe`] lists a file, [`caps`] says what Symphonia can decode, [`decoder`] opens a
//! decoder (on several cores through [`parallel`] for long MP4/AAC), and [`contain`]
//! turns Symphonia's panics on hostile input into errors.

pub(crate) mod caps;
pub(crate) mod contain;
pub(crate) mod decoder;
mod parallel;
pub(crate) mod probe;

use std::io::{Read, Seek, SeekFrom};

use symphonia::core::codecs::audio::AudioCodecId;
use symphonia::core::codecs::audio::well_known as ac;
use symphonia::core::codecs::video::{VideoCodecId, well_known as vc};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;

use crate::error::{Error, Result};
use crate::media::info::Container;
use crate::media::input::{Input, ReadSeek};

/// The engine's input as Symphonia's byte source.
struct Source(Box<dyn ReadSeek>);

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Seek for Source {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.0.seek(to)
    }
}

impl MediaSource for Source {
    fn is_seekable(&self) -> bool {
        self.0.is_seekable()
    }

    fn byte_len(&self) -> Option<u64> {
        self.0.byte_len()
    }
}

/// Symphonia's reader for `input`, its format probed.
fn open_reader(input: &Input) -> Result<Box<dyn FormatReader + 'static>> {
    let path = input.path();
    let file = input
        .open()
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    // Symphonia's Matroska reader, given a seekable source, follows the SeekHead to every
    // element it lists before the first packet: the Cues and Tags that muxers write at the
    // end. It needs none of them to demux (they serve seeking and metadata), so a file still
    // arriving is handed over unseekable and is read front to back as its bytes land.
    let source: Box<dyn MediaSource> = if input.is_arriving() && head(input, 4) == EBML_MAGIC {
        Box::new(ReadOnlySource::new(file))
    } else {
        Box::new(Source(file))
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

/// Up to `n` bytes from the start of `input` (fewer when the file is shorter); a file still
/// arriving is waited for.
fn head(input: &Input, n: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(n);
    if let Ok(f) = input.open() {
        let _ = f.take(n as u64).read_to_end(&mut buf);
    }
    buf
}

fn map_err(e: SymError, what: &str) -> Error {
    match e {
        SymError::Unsupported(s) => Error::UnsupportedFormat(format!("{what}: {s}")),
        SymError::LimitError(s) => Error::LimitExceeded(format!("{what}: {s}")),
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::media(format!("{what}: unexpected end of file"))
        }
        other => Error::media(format!("{what}: {other}")),
    }
}

/// Our name for the format a Symphonia reader reports (`FormatInfo::short_name`).
fn container(short: &str) -> Container {
    match short {
        "isomp4" => Container::Mp4,
        "matroska" | "mkv" | "webm" => Container::Matroska,
        "wave" | "wav" | "riff" => Container::Wav,
        "aiff" => Container::Aiff,
        "mp1" | "mp2" | "mp3" | "mpa" => Container::Mp3,
        "aac" | "adts" => Container::Adts,
        other => Container::from_name(other),
    }
}

/// The FFmpeg-style name of an audio codec. Symphonia's demuxers name the stored PCM width
/// themselves (MOV `lpcm` included), so the id alone gives the name.
fn audio_codec_name(id: AudioCodecId) -> String {
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
    name.to_string()
}

fn video_codec_name(id: VideoCodecId) -> &'static str {
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

/// Lossy codecs decode to float: they have no bit depth.
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
