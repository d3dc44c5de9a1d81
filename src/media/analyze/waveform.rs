//! Waveform peaks in BBC audiowaveform's data format, version 2 (what peaks.js and
//! waveform-data.js read): min/max pairs of 16-bit samples per pixel, per channel or of a
//! mono mixdown, written as JSON or as the binary `.dat`.
//!
//! # Values
//!
//! audiowaveform works on 16-bit samples. Decoded samples become 16-bit the way a 16-bit
//! decode gives them: integer sources (PCM and lossless up to 24 bits) drop their low bits
//! (`floor(x·32768)`, as libsndfile and FFmpeg narrow integers), so a 16-bit source keeps
//! its exact values; float-decoded (lossy) sources round to nearest, ties to even, and
//! clamp (`lrintf(x·32768)`, FFmpeg's float to s16). The mixdown (without
//! `split_channels`) is audiowaveform's: the 16-bit samples of a frame summed and divided
//! by the channel count, truncating. A pixel's min and max start at +32767 and -32768;
//! a last, partial pixel is kept. 8-bit output is each 16-bit value divided by 256,
//! truncating toward zero, as audiowaveform writes it.
//!
//! # Zoom
//!
//! `samples_per_pixel` as given; `pixels_per_second` as audiowaveform computes it
//! (`sample_rate / pixels_per_second`, integer division); `points` (which audiowaveform
//! lacks) gives at most that many pixels without knowing the length in advance: pixels
//! are collected at a fine size that doubles whenever too many pile up, and grouped at
//! the end. The grouped pixels hold exactly the min/max a direct pass at the final size
//! would; the final size is within 1/32 of the smallest that fits (up to 16384 points).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::media::frames::decode_with;
use crate::media::{Control, Engine, Limits};

/// audiowaveform's default zoom.
pub const DEFAULT_SAMPLES_PER_PIXEL: u32 = 256;
/// Most pixels a `points` request may ask for.
pub const MAX_POINTS: u64 = 1_000_000;
/// Most 16-bit values a waveform may hold (128 MiB): past it a zoom asks for too much.
const MAX_VALUES: usize = 64 << 20;

/// `json` or the binary `.dat`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum WaveformFormat {
    Json,
    Dat,
}

impl WaveformFormat {
    /// The format an output file name implies (`.json` or `.dat`).
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(WaveformFormat::Json),
            "dat" => Some(WaveformFormat::Dat),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            WaveformFormat::Json => "application/json",
            WaveformFormat::Dat => "application/octet-stream",
        }
    }
}

/// What a waveform output asks for; at most one of the three zoom fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaveformOptions {
    /// At most this many pixels over the whole track (1..=1000000).
    #[serde(default)]
    pub points: Option<u64>,
    #[serde(default)]
    pub pixels_per_second: Option<u32>,
    /// Samples per pixel, at least 2 (default 256).
    #[serde(default)]
    pub samples_per_pixel: Option<u32>,
    /// 8 or 16 (default 16).
    #[serde(default)]
    pub bits: Option<u8>,
    /// One waveform per channel instead of a mono mixdown.
    #[serde(default)]
    pub split_channels: bool,
}

/// How pixels are sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zoom {
    Points(u64),
    PixelsPerSecond(u32),
    SamplesPerPixel(u32),
}

impl WaveformOptions {
    /// Check the options; the zoom they ask for.
    pub fn zoom(&self) -> Result<Zoom> {
        let bad = |m: String| Err(Error::InvalidOptions(m));
        if !matches!(self.bits, None | Some(8) | Some(16)) {
            return bad(format!(
                "waveform bits {} is not 8 or 16",
                self.bits.unwrap_or(0)
            ));
        }
        match (self.points, self.pixels_per_second, self.samples_per_pixel) {
            (None, None, None) => Ok(Zoom::SamplesPerPixel(DEFAULT_SAMPLES_PER_PIXEL)),
            (Some(p), None, None) if (1..=MAX_POINTS).contains(&p) => Ok(Zoom::Points(p)),
            (Some(p), None, None) => bad(format!(
                "waveform points {p} is out of range: use 1 to {MAX_POINTS}"
            )),
            (None, Some(p), None) if p >= 1 => Ok(Zoom::PixelsPerSecond(p)),
            (None, Some(_), None) => bad("waveform pixels_per_second must be at least 1".into()),
            (None, None, Some(s)) if s >= 2 && s <= i32::MAX as u32 => Ok(Zoom::SamplesPerPixel(s)),
            (None, None, Some(s)) => bad(format!(
                "waveform samples_per_pixel {s} is out of range: use at least 2"
            )),
            _ => bad("give at most one of points, pixels_per_second and samples_per_pixel".into()),
        }
    }

    pub fn bits(&self) -> u8 {
        self.bits.unwrap_or(16)
    }
}

/// Finished peaks: `data` holds, per pixel, a (min, max) pair of 16-bit values for each
/// channel in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waveform {
    pub sample_rate: u32,
    pub samples_per_pixel: u32,
    pub channels: u32,
    pub bits: u8,
    data: Vec<i16>,
}

impl Waveform {
    /// Pixels per channel (the format's `length`).
    pub fn length(&self) -> usize {
        self.data.len() / (2 * self.channels.max(1) as usize)
    }

    /// The values as written: 16-bit, or divided by 256 toward zero for 8 bits.
    pub fn values(&self) -> impl Iterator<Item = i32> + '_ {
        let div = if self.bits == 8 { 256 } else { 1 };
        self.data.iter().map(move |&v| i32::from(v) / div)
    }

    pub fn write(&self, format: WaveformFormat, out: &mut dyn Write) -> std::io::Result<()> {
        match format {
            WaveformFormat::Json => self.write_json(out),
            WaveformFormat::Dat => self.write_dat(out),
        }
    }

    /// audiowaveform's JSON, keys in its order, on one line.
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write!(
            out,
            "{{\"version\":2,\"channels\":{},\"sample_rate\":{},\"samples_per_pixel\":{},\"bits\":{},\"length\":{},\"data\":[",
            self.channels,
            self.sample_rate,
            self.samples_per_pixel,
            self.bits,
            self.length()
        )?;
        for (i, v) in self.values().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write!(out, "{v}")?;
        }
        out.write_all(b"]}\n")
    }

    /// The binary format: a 24-byte little-endian header (version 2, flags with bit 0 set
    /// for 8-bit data, sample rate, samples per pixel, length, channels), then the values.
    pub fn write_dat(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut head = Vec::with_capacity(24);
        head.extend_from_slice(&2i32.to_le_bytes());
        head.extend_from_slice(&u32::from(self.bits == 8).to_le_bytes());
        head.extend_from_slice(&(self.sample_rate as i32).to_le_bytes());
        head.extend_from_slice(&(self.samples_per_pixel as i32).to_le_bytes());
        head.extend_from_slice(&(self.length() as u32).to_le_bytes());
        head.extend_from_slice(&(self.channels as i32).to_le_bytes());
        out.write_all(&head)?;
        let mut body = Vec::with_capacity(self.data.len() * 2);
        if self.bits == 8 {
            body.extend(self.values().map(|v| v as i8 as u8));
        } else {
            for v in &self.data {
                body.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.write_all(&body)
    }
}

/// Streaming min/max over interleaved frames.
#[derive(Debug)]
pub struct WaveformBuilder {
    rate: u32,
    in_channels: usize,
    out_channels: usize,
    bits: u8,
    /// Integer source: narrow by dropping bits; else round.
    integer_source: bool,
    /// Samples per pixel being collected (fine size while `points` decides the final one).
    spp: u64,
    points: Option<u64>,
    /// Pixels held before two neighbours are merged (`points` only; even).
    cap: usize,
    /// Frames in the open pixel.
    count: u64,
    open: Vec<(i16, i16)>,
    data: Vec<i16>,
}

fn empty_pixel() -> (i16, i16) {
    (i16::MAX, i16::MIN)
}

/// 1.5 * 2^23: adding and subtracting it rounds an f32 below 2^22 in magnitude to an
/// integer, ties to even (the default rounding mode), without a libm call.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// A decoded sample as a 16-bit value (module doc): `floor` for integer sources, nearest
/// (ties to even) otherwise, clamped to the 16-bit range first (the bounds are integers,
/// so clamping before rounding gives the same result as after).
fn to_i16(integer_source: bool, x: f32) -> i16 {
    let v = (x * 32768.0).clamp(-32768.0, 32767.0);
    if integer_source {
        // Truncation, then one down for negative non-integers.
        let t = v as i32;
        (t - i32::from((t as f32) > v)) as i16
    } else {
        ((v + ROUND_MAGIC) - ROUND_MAGIC) as i16
    }
}

impl WaveformBuilder {
    /// A builder for a stream of `channels` at `rate` whose decoder reports `source_bits`
    /// ([`crate::media::frames::StreamInfo::source_bits`]); `opts` are validated here.
    pub fn new(
        opts: &WaveformOptions,
        rate: u32,
        channels: usize,
        source_bits: Option<u32>,
    ) -> Result<Self> {
        let zoom = opts.zoom()?;
        let channels = channels.max(1);
        let (spp, points) = match zoom {
            Zoom::SamplesPerPixel(s) => (u64::from(s), None),
            Zoom::PixelsPerSecond(p) => {
                let s = rate / p;
                if s < 2 {
                    return Err(Error::InvalidOptions(format!(
                        "waveform pixels_per_second {p} is too high for {rate} Hz audio: at most {}",
                        rate / 2
                    )));
                }
                (u64::from(s), None)
            }
            Zoom::Points(n) => (1, Some(n)),
        };
        let out_channels = if opts.split_channels { channels } else { 1 };
        let cap = points.map_or(usize::MAX, |n| {
            (n.saturating_mul(64).clamp(4096, 1 << 20) as usize) & !1
        });
        Ok(WaveformBuilder {
            rate,
            in_channels: channels,
            out_channels,
            bits: opts.bits(),
            integer_source: source_bits.is_some_and(|b| b <= 24),
            spp,
            points,
            cap,
            count: 0,
            open: vec![empty_pixel(); out_channels],
            data: Vec::new(),
        })
    }

    pub fn push(&mut self, frames: &[f32]) -> Result<()> {
        let (ch, integer) = (self.in_channels, self.integer_source);
        let mut rest = frames;
        // Whole runs of the open pixel at a time: the inner loops carry no bookkeeping.
        while rest.len() >= ch {
            let take = ((self.spp - self.count) as usize).min(rest.len() / ch);
            let (now, later) = rest.split_at(take * ch);
            if self.out_channels == 1 {
                let (mut lo, mut hi) = self.open[0];
                for frame in now.chunks_exact(ch) {
                    let sum: i32 = frame.iter().map(|&x| i32::from(to_i16(integer, x))).sum();
                    // Integer division truncates toward zero, as audiowaveform's does.
                    let s = match ch {
                        1 => sum,
                        2 => sum / 2,
                        n => sum / n as i32,
                    } as i16;
                    lo = lo.min(s);
                    hi = hi.max(s);
                }
                self.open[0] = (lo, hi);
            } else {
                for frame in now.chunks_exact(ch) {
                    for (p, &x) in self.open.iter_mut().zip(frame) {
                        let s = to_i16(integer, x);
                        *p = (p.0.min(s), p.1.max(s));
                    }
                }
            }
            self.count += take as u64;
            if self.count == self.spp {
                self.close_pixel()?;
            }
            rest = later;
        }
        Ok(())
    }

    fn close_pixel(&mut self) -> Result<()> {
        for p in &mut self.open {
            self.data.push(p.0);
            self.data.push(p.1);
            *p = empty_pixel();
        }
        self.count = 0;
        if self.data.len() > MAX_VALUES {
            return Err(Error::LimitExceeded(format!(
                "the waveform would hold more than {MAX_VALUES} values: ask for fewer points or more samples per pixel"
            )));
        }
        if self.pixels() >= self.cap {
            self.merge(2);
        }
        Ok(())
    }

    fn pixels(&self) -> usize {
        self.data.len() / (2 * self.out_channels)
    }

    /// Group every `k` pixels into one (the last group may be short).
    fn merge(&mut self, k: usize) {
        let width = 2 * self.out_channels;
        let groups = self.pixels().div_ceil(k);
        for g in 0..groups {
            let first = g * k;
            let last = (first + k).min(self.pixels());
            for c in 0..self.out_channels {
                let mut p = empty_pixel();
                for i in first..last {
                    p.0 = p.0.min(self.data[i * width + 2 * c]);
                    p.1 = p.1.max(self.data[i * width + 2 * c + 1]);
                }
                // Group g is written at or before the pixels it reads from.
                self.data[g * width + 2 * c] = p.0;
                self.data[g * width + 2 * c + 1] = p.1;
            }
        }
        self.data.truncate(groups * width);
        self.spp *= k as u64;
    }

    pub fn finish(mut self) -> Result<Waveform> {
        if self.count > 0 {
            // The partial pixel is kept; the grouping below replaces the doubling.
            self.cap = usize::MAX;
            self.close_pixel()?;
        }
        if let Some(n) = self.points {
            let mut k = self.pixels().div_ceil(n.max(1) as usize).max(1);
            if self.spp * (k as u64) < 2 {
                k = 2;
            }
            self.merge(k);
        }
        let samples_per_pixel = u32::try_from(self.spp)
            .ok()
            .filter(|&s| s <= i32::MAX as u32)
            .ok_or_else(|| {
                Error::LimitExceeded("the waveform's pixel size does not fit the format".into())
            })?;
        Ok(Waveform {
            sample_rate: self.rate,
            samples_per_pixel,
            channels: self.out_channels as u32,
            bits: self.bits,
            data: self.data,
        })
    }
}

/// Decode one track of `input` and compute its waveform.
pub fn waveform(
    input: &Path,
    opts: &WaveformOptions,
    track: Option<usize>,
    engine: Engine,
    limits: &Limits,
    control: Control<'_>,
) -> Result<Waveform> {
    opts.zoom()?;
    let (builder, _) = decode_with(
        input,
        track,
        engine,
        limits,
        control,
        |stream| {
            WaveformBuilder::new(
                opts,
                stream.sample_rate,
                stream.channels,
                stream.source_bits,
            )
        },
        WaveformBuilder::push,
    )?;
    builder.finish()
}

#[cfg(test)]
#[path = "waveform_tests.rs"]
mod tests;
