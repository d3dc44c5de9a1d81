//! The FFmpeg (libav*) back end: it demuxes and decodes what Symphonia lacks (AVI, MPEG-TS,
//! FLV, Opus, AC-3, E-AC-3, HE-AAC and the rest) and encodes and muxes M4A output. Every
//! FFmpeg type stays inside this folder. This file holds what its parts share: library
//! setup, error mapping, container names and the codec-parameter fields ffmpeg-next has no
//! accessor for. [`io`] opens an input (also one still arriving), [`probe`] lists it,
//! [`decoder`] decodes a track and [`mux`] writes M4A (encoded or stream-copied).
#![allow(
    unsafe_code,
    reason = "ffmpeg-next has no safe API for some fields and calls (codec parameters' extradata, rate, channels, bit depth and tag; a stream's discard flag; an AVIO context's seekable flag; probing a custom AVIO input); each use says why it is sound"
)]

pub(crate) mod decoder;
pub(crate) mod io;
pub(crate) mod mux;
pub(crate) mod probe;

use std::sync::Once;

use ff::codec;
use ffmpeg_next as ff;

use crate::error::Error;
use crate::media::info::Container;

/// Initialise libav* once and keep its logging off stderr (our errors say what went wrong).
fn init() {
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

fn map_err(e: ff::Error, what: &str) -> Error {
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

/// Our name for a libavformat input format (its `AVInputFormat` name, a comma-separated
/// list such as `mov,mp4,m4a,3gp,3g2,mj2`).
fn container(long: &str) -> Container {
    let first = long.split(',').next().unwrap_or(long);
    match first {
        "mov" | "mp4" | "m4a" | "3gp" => Container::Mp4,
        "matroska" | "webm" => Container::Matroska,
        "aac" => Container::Adts,
        other => Container::from_name(other),
    }
}

/// (sample rate, channel count, bits per raw sample) as the stream's parameters state them.
fn raw_fields(p: &ff::codec::Parameters) -> (i32, i32, i32) {
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

/// Tell the demuxer to drop the packets of every stream but `keep`: fewer packets read and
/// allocated.
fn discard_all_but(ictx: &mut ff::format::context::Input, keep: usize) {
    for mut other in ictx.streams_mut() {
        if other.index() != keep {
            // SAFETY: a plain write of the discard field of a stream owned by this context.
            unsafe {
                (*other.as_mut_ptr()).discard = ff::ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
}

/// Bits per sample of a PCM codec.
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

/// Lossless codecs, PCM included: their decoded samples have a bit depth.
fn is_lossless(id: codec::Id) -> bool {
    matches!(
        id,
        codec::Id::FLAC | codec::Id::ALAC | codec::Id::WAVPACK | codec::Id::TTA | codec::Id::TRUEHD
    ) || pcm_bits(id).is_some()
}
