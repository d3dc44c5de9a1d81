//! One extraction, start to end: a stream copy when nothing forces a re-encode, else
//! decode → dsp → encode through `pipeline`, and the [`Report`] of what was written.

use std::path::Path;

use super::backend::{self, probe};
use super::decode::secs_to_frames;
use super::encode::Sink;
use super::encode::wav::WavSink;
use super::ffmpeg;
use super::ffmpeg::mux::{M4aCodec, M4aSink};
use super::mp4;
use super::pipeline;
use super::{Control, Input, Limits};
use crate::error::{Error, Result};
use crate::spec::{
    Codec, Container, Engine, EngineKind, Format, OutputSpec, ProbeInfo, Report, SampleFormat,
};

fn pcm_codec_name(bits: u16, float: bool) -> String {
    match (bits, float) {
        (_, true) => "pcm_f32le".into(),
        (8, false) => "pcm_u8".into(),
        (b, false) => format!("pcm_s{b}le"),
    }
}

/// Run one extraction from `input` (a file, or an upload still arriving) into `output` (a
/// path the caller owns: the CLI and the service write to a temporary name and publish it
/// only on success).
pub fn extract(
    input: &Input,
    spec: &OutputSpec,
    output: &Path,
    limits: &Limits,
    control: Control<'_>,
) -> Result<Report> {
    spec.validate()?;
    if spec.format == Format::M4a
        && matches!(spec.codec, Codec::Auto | Codec::Copy)
        && spec.bit_depth.is_none()
        && let Some(report) = try_copy(input, spec, output, limits)?
    {
        return Ok(report);
    }
    decode_path(input, spec, output, limits, control)
}

/// Stream copy when asked for, or when nothing forces a re-encode (AAC or ALAC in, same rate
/// and channels, no trim). Returns `None` when a re-encode is needed.
fn try_copy(
    input: &Input,
    spec: &OutputSpec,
    output: &Path,
    limits: &Limits,
) -> Result<Option<Report>> {
    let info = probe(
        input,
        if spec.codec == Codec::Copy {
            Engine::Ffmpeg
        } else {
            spec.engine
        },
    )?;
    let track = info.select_track(spec)?.clone();
    let copyable = matches!(track.codec.as_str(), "aac" | "alac");
    let same_rate = spec.sample_rate.is_none() || spec.sample_rate == track.sample_rate;
    let same_channels = spec.channels.is_none() || spec.channels == track.channels;
    let trimmed = spec.start.is_some() || spec.duration.is_some();
    if spec.codec == Codec::Auto
        && !(copyable && same_rate && same_channels && !trimmed && spec.bitrate.is_none())
    {
        return Ok(None);
    }
    if !same_rate || !same_channels {
        return Err(Error::InvalidOptions(format!(
            "codec copy keeps the source's {} Hz x {} channels: drop --sample-rate/--channels or re-encode",
            track.sample_rate.unwrap_or(0),
            track.channels.unwrap_or(0)
        )));
    }
    // Stream indexes are the container's track order in both back ends. An MP4/MOV source
    // is copied by audiotap's own box writer (chunks copied whole, no per-packet work);
    // anything it does not model goes through FFmpeg's demuxer and muxer.
    let native = if info.container == Container::Mp4 {
        mp4::copy_track(input, track.index, output, limits.max_output_bytes)?
    } else {
        None
    };
    let (engine, sample_rate, channels, copied_duration) = match native {
        Some(copy) => {
            tracing::debug!(
                samples = copy.samples,
                payload_bytes = copy.bytes,
                "native stream copy done"
            );
            (
                EngineKind::Native,
                track.sample_rate.unwrap_or(0),
                track.channels.unwrap_or(0),
                None,
            )
        }
        None => {
            let copy =
                ffmpeg::mux::copy_audio(input, track.index, output, limits.max_output_bytes)?;
            tracing::debug!(
                packets = copy.packets,
                payload_bytes = copy.bytes,
                "stream copy done"
            );
            (
                EngineKind::Ffmpeg,
                copy.sample_rate,
                copy.channels,
                Some(copy.duration),
            )
        }
    };
    let bytes_written = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    Ok(Some(Report {
        input: None,
        output: None,
        engine,
        format: Format::M4a,
        codec: track.codec.clone(),
        copied: true,
        sample_rate,
        channels,
        bit_depth: track.bit_depth.map(|b| b as u16),
        sample_format: None,
        frames: None,
        // MP4 states the presented length exactly (edit list); elsewhere (TS, FLV) the
        // header's figure is an estimate and the packets' span is the truth.
        duration: match copied_duration {
            Some(d) if info.container != Container::Mp4 => d,
            d => track.duration.or(d).unwrap_or(0.0),
        },
        audio_offset: track.start,
        source: (&track).into(),
        bytes_written,
    }))
}

fn decode_path(
    input: &Input,
    spec: &OutputSpec,
    output: &Path,
    limits: &Limits,
    control: Control<'_>,
) -> Result<Report> {
    let select = |p: &ProbeInfo| p.select_track(spec).cloned();
    let mut opened = backend::open(input, spec.engine, &select, limits)?;
    let dec = &mut opened.decoder;
    // The first block fixes the true rate and channel count (HE-AAC doubles the rate the
    // header states; some headers state no channel count).
    let first: Vec<f32> = dec.next_block()?.map(<[f32]>::to_vec).unwrap_or_default();
    let (in_rate, in_ch) = (dec.sample_rate(), dec.channels());
    limits.check_decoded(in_rate, in_ch)?;
    let out_rate = spec.sample_rate.unwrap_or(in_rate);
    let out_ch = spec.channels.map_or(in_ch, usize::from);
    let skip = spec.start.map_or(0, |s| secs_to_frames(s, in_rate));
    let keep = spec.duration.map(|d| secs_to_frames(d, in_rate));
    let shape = pipeline::Shape {
        in_rate,
        in_channels: in_ch,
        out_rate,
        out_channels: out_ch,
    };

    let source_bits = dec.source_bits();
    let alters = shape.alters_samples();
    // TPDF dither when the depth is reduced to 8 or 16 bits. At 24 bits and above the
    // quantisation step is below the precision of the f32 pipeline itself (24-bit
    // mantissa), so dither would only add noise.
    let needs_dither =
        |bits: u16| bits <= 16 && (alters || source_bits.is_none_or(|b| b > u32::from(bits)));
    let (format, codec_name, bit_depth, sample_format, sink): (_, _, _, _, Box<dyn Sink>) =
        match spec.format {
            Format::Wav => {
                let (bits, float) = spec.pcm_depth();
                let sink = WavSink::create(
                    output,
                    out_rate,
                    out_ch,
                    bits,
                    float,
                    !float && needs_dither(bits),
                    limits.max_output_bytes,
                )?;
                let sf = if float {
                    SampleFormat::Float
                } else {
                    SampleFormat::Int
                };
                (
                    Format::Wav,
                    pcm_codec_name(bits, float),
                    Some(bits),
                    Some(sf),
                    Box::new(sink),
                )
            }
            Format::M4a => {
                let alac = spec.codec == Codec::Alac || spec.bit_depth.is_some();
                if alac {
                    let bits = spec.bit_depth.unwrap_or(16);
                    let sink = M4aSink::create(
                        output,
                        out_rate,
                        out_ch,
                        M4aCodec::Alac { bits },
                        needs_dither(bits),
                        limits.max_output_bytes,
                    )?;
                    (
                        Format::M4a,
                        "alac".to_string(),
                        Some(bits),
                        Some(SampleFormat::Int),
                        Box::new(sink),
                    )
                } else {
                    let bitrate = spec.bitrate.unwrap_or(128_000);
                    let sink = M4aSink::create(
                        output,
                        out_rate,
                        out_ch,
                        M4aCodec::Aac { bitrate },
                        false,
                        limits.max_output_bytes,
                    )?;
                    (Format::M4a, "aac".to_string(), None, None, Box::new(sink))
                }
            }
        };

    let total_frames = opened
        .track
        .duration
        .map(|d| d * f64::from(in_rate))
        .filter(|&f| f > 0.0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let (decoded, frames) = pipeline::run(
        dec.as_mut(),
        first,
        shape,
        (skip, keep),
        sink,
        total_frames,
        workers,
        control,
    )?;
    if frames == 0 && spec.start.is_some() {
        return Err(Error::InvalidOptions(format!(
            "start {} s is past the end of the audio ({:.3} s)",
            spec.start.unwrap_or(0.0),
            decoded as f64 / f64::from(in_rate)
        )));
    }
    if let Some(cb) = control.progress {
        cb(1.0);
    }
    let bytes_written = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    Ok(Report {
        input: None,
        output: None,
        engine: opened.engine,
        format,
        codec: codec_name,
        copied: false,
        sample_rate: out_rate,
        channels: out_ch as u16,
        bit_depth,
        sample_format,
        frames: Some(frames),
        duration: frames as f64 / f64::from(out_rate),
        audio_offset: opened.track.start,
        source: (&opened.track).into(),
        bytes_written,
    })
}
