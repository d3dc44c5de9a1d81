//! M4A output through libavcodec and libavformat's MP4 (`ipod`) muxer: AAC or ALAC encoding
//! of the processed audio, and stream copy of the source's packets untouched.

use std::path::Path;

use ff::{ChannelLayout, codec, encoder, format, frame};
use ffmpeg_next as ff;

use super::io::open_input;
use super::{discard_all_but, init, map_err, raw_fields};
use crate::error::{Error, Result};
use crate::media::dsp::Quantiser;
use crate::media::encode::{Packed, Packer, Sink};
use crate::media::input::Input;

/// Which encoder a [`M4aSink`] runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum M4aCodec {
    Aac { bitrate: u32 },
    Alac { bits: u16 },
}

fn internal(what: &str) -> impl Fn(ff::Error) -> Error + '_ {
    move |e| Error::Internal(format!("{what}: {e}"))
}

/// Samples beyond this magnitude (far above full scale) are clamped before encoding.
const MAX_SAMPLE: f32 = 32.0;

/// The muxer's refusal of a packet: an I/O failure when the OS said so (disk full, I/O
/// error), else the stream's fault (timestamps or parameters the MP4 muxer cannot
/// store, FFmpeg's ENOSYS/PATCHWELCOME refusals included): bad media, not a server error.
fn mux_error(e: ff::Error) -> Error {
    const IO_ERRNOS: [i32; 6] = [5, 9, 13, 28, 30, 122]; // EIO EBADF EACCES ENOSPC EROFS EDQUOT
    match e {
        ff::Error::Other { errno } if IO_ERRNOS.contains(&errno) => Error::io(
            "cannot write the M4A output",
            std::io::Error::from_raw_os_error(errno),
        ),
        other => Error::media(format!("the MP4 muxer refused the audio packets: {other}")),
    }
}

pub(crate) struct M4aSink {
    octx: format::context::Output,
    encoder: encoder::Audio,
    codec: M4aCodec,
    channels: usize,
    frame_size: usize,
    fifo: Vec<f32>,
    pts: i64,
    frames: u64,
    enc_tb: ff::Rational,
    ost_tb: ff::Rational,
    quantiser: Quantiser,
    ints: Vec<i32>,
    max_bytes: u64,
    written_bytes: u64,
}

impl M4aSink {
    pub(crate) fn create(
        path: &Path,
        rate: u32,
        channels: usize,
        codec: M4aCodec,
        dither: bool,
        max_bytes: u64,
    ) -> Result<Self> {
        init();
        let mut octx = format::output_as(&path, "ipod").map_err(|e| match e {
            ff::Error::Other { .. } => Error::io(
                format!("cannot create {}", path.display()),
                std::io::Error::other(e.to_string()),
            ),
            other => Error::Internal(format!("cannot open the M4A muxer: {other}")),
        })?;
        let id = match codec {
            M4aCodec::Aac { .. } => codec::Id::AAC,
            M4aCodec::Alac { .. } => codec::Id::ALAC,
        };
        let enc_codec = encoder::find(id).ok_or_else(|| {
            Error::UnsupportedCodec(format!("this FFmpeg has no {} encoder", id.name()))
        })?;
        let global = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let mut ost = octx
            .add_stream(enc_codec)
            .map_err(internal("cannot add the audio stream"))?;
        let mut enc = codec::context::Context::new_with_codec(enc_codec)
            .encoder()
            .audio()
            .map_err(internal("encoder"))?;
        let layout = ChannelLayout::default(channels as i32);
        enc.set_rate(rate as i32);
        enc.set_channel_layout(layout);
        enc.set_channels(channels as i32);
        let (sample_fmt, quant_bits) = match codec {
            M4aCodec::Aac { bitrate } => {
                enc.set_bit_rate(bitrate as usize);
                (format::Sample::F32(format::sample::Type::Planar), 16)
            }
            M4aCodec::Alac { bits: 16 } => (format::Sample::I16(format::sample::Type::Planar), 16),
            // The ALAC encoder codes S32P input as 24-bit samples.
            M4aCodec::Alac { .. } => (format::Sample::I32(format::sample::Type::Planar), 24),
        };
        enc.set_format(sample_fmt);
        enc.set_time_base((1, rate as i32));
        if global {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = enc.open_as(enc_codec).map_err(|e| {
            Error::InvalidOptions(format!(
                "the {} encoder refused {rate} Hz x {channels} channels: {e}",
                id.name()
            ))
        })?;
        ost.set_parameters(&encoder);
        ost.set_time_base((1, rate as i32));
        octx.write_header()
            .map_err(internal("cannot write the M4A header"))?;
        let ost_tb = octx
            .stream(0)
            .map(|s| s.time_base())
            .unwrap_or(ff::Rational(1, rate as i32));
        let frame_size = match encoder.frame_size() {
            0 => 4096,
            n => n as usize,
        };
        Ok(M4aSink {
            octx,
            encoder,
            codec,
            channels,
            frame_size,
            fifo: Vec::with_capacity(frame_size * channels * 2),
            pts: 0,
            frames: 0,
            enc_tb: ff::Rational(1, rate as i32),
            ost_tb,
            quantiser: Quantiser::new(quant_bits, dither),
            ints: Vec::new(),
            max_bytes,
            written_bytes: 0,
        })
    }

    fn encode_frame(&mut self, frames: usize) -> Result<()> {
        let ch = self.channels;
        let fmt = self.encoder.format();
        let mut f = frame::Audio::new(fmt, frames, ChannelLayout::default(ch as i32));
        f.set_rate(self.encoder.rate());
        let src = &self.fifo[..frames * ch];
        match self.codec {
            M4aCodec::Aac { .. } => {
                for c in 0..ch {
                    let plane = f.plane_mut::<f32>(c);
                    for (i, o) in plane.iter_mut().take(frames).enumerate() {
                        *o = src[i * ch + c];
                    }
                }
            }
            M4aCodec::Alac { bits } => {
                self.quantiser
                    .quantise_block_at(src, self.pts as u64 * ch as u64, &mut self.ints);
                for c in 0..ch {
                    if bits == 16 {
                        let plane = f.plane_mut::<i16>(c);
                        for (i, o) in plane.iter_mut().take(frames).enumerate() {
                            *o = self.ints[i * ch + c] as i16;
                        }
                    } else {
                        // 24-bit values, left-justified in 32 bits as S32P wants.
                        let plane = f.plane_mut::<i32>(c);
                        for (i, o) in plane.iter_mut().take(frames).enumerate() {
                            *o = self.ints[i * ch + c] << 8;
                        }
                    }
                }
            }
        }
        f.set_pts(Some(self.pts));
        self.pts += frames as i64;
        self.encoder
            .send_frame(&f)
            .map_err(internal("encoder rejected a frame"))?;
        self.fifo.drain(..frames * ch);
        self.drain_packets()
    }

    fn drain_packets(&mut self) -> Result<()> {
        let mut packet = ff::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            packet.rescale_ts(self.enc_tb, self.ost_tb);
            self.written_bytes += packet.size() as u64;
            if self.written_bytes > self.max_bytes {
                return Err(Error::LimitExceeded(format!(
                    "the output would exceed {} bytes",
                    self.max_bytes
                )));
            }
            packet
                .write_interleaved(&mut self.octx)
                .map_err(mux_error)?;
        }
        Ok(())
    }
}

impl Sink for M4aSink {
    fn packer(&self) -> Packer {
        Packer::Float(Vec::new())
    }

    fn commit(&mut self, packed: &Packed) -> Result<()> {
        match packed {
            Packed::Samples(s) => self.write(s),
            Packed::Bytes(_) => Err(Error::Internal("the M4A writer takes samples".into())),
        }
    }

    fn write(&mut self, block: &[f32]) -> Result<()> {
        // A float source can carry NaN, infinities or absurd values (the fuzzer's
        // decode_ffmpeg target fed a mutated f32 PCM track); the AAC encoder refuses such
        // frames, so they are made silent or clamped far above full scale first.
        self.fifo.extend(block.iter().map(|&x| {
            if x.is_nan() {
                0.0
            } else {
                x.clamp(-MAX_SAMPLE, MAX_SAMPLE)
            }
        }));
        self.frames += (block.len() / self.channels) as u64;
        while self.fifo.len() >= self.frame_size * self.channels {
            self.encode_frame(self.frame_size)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        let mut rest = self.fifo.len() / self.channels;
        if (1..3).contains(&rest)
            && matches!(self.codec, M4aCodec::Alac { .. })
            && self.channels > 2
        {
            // FFmpeg 5.1's ALAC encoder aborts the whole process on a final frame of one or
            // two samples with more than two channels (found by the `writers` fuzz target:
            // e.g. a 6-channel source whose length is 1 or 2 more than a multiple of 4096).
            // Repeat the last sample up to three: the output is at most two samples (42 µs
            // at 48 kHz) longer instead of a crash.
            let last = self.fifo[self.fifo.len() - self.channels..].to_vec();
            while rest < 3 {
                self.fifo.extend_from_slice(&last);
                rest += 1;
            }
        }
        if rest > 0 {
            self.encode_frame(rest)?;
        }
        self.encoder.send_eof().map_err(internal("encoder flush"))?;
        self.drain_packets()?;
        self.octx.write_trailer().map_err(|e| {
            Error::io(
                "cannot finish the M4A output",
                std::io::Error::other(e.to_string()),
            )
        })?;
        Ok(self.frames)
    }
}

/// Samples the decoder is told to drop from this packet's start (encoder priming).
fn skip_samples(packet: &ff::Packet) -> Option<i64> {
    packet
        .side_data()
        .find(|sd| sd.kind() == ff::codec::packet::side_data::Type::SkipSamples)
        .and_then(|sd| {
            sd.data()
                .get(0..4)
                .map(|b| i64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        })
}

/// What a stream copy wrote.
#[derive(Debug, Clone)]
pub(crate) struct CopyReport {
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    /// Presented duration in seconds (packet durations less the priming the edit list skips).
    pub(crate) duration: f64,
    pub(crate) sample_rate: u32,
    pub(crate) channels: u16,
}

/// Copy the packets of audio stream `stream_index` of `input` into an M4A at `output`,
/// untouched: same bytes, same timestamps (so the muxer writes the same priming edit).
pub(crate) fn copy_audio(
    input: &Input,
    stream_index: usize,
    output: &Path,
    max_bytes: u64,
) -> Result<CopyReport> {
    let mut ictx = open_input(input)?;
    let ist = ictx
        .stream(stream_index)
        // The container probed one way and demuxes another (a decode_symphonia fuzz find).
        .ok_or_else(|| Error::media("the audio stream is missing when the file is read again"))?;
    let ist_tb = ist.time_base();
    let params = ist.parameters();
    let id = params.id();
    if !matches!(id, codec::Id::AAC | codec::Id::ALAC) {
        return Err(Error::InvalidOptions(format!(
            "codec copy into M4A needs AAC or ALAC audio, the source is {}: re-encode with --codec aac or alac",
            id.name()
        )));
    }
    let (rate, channels, _) = raw_fields(&params);
    let (rate, channels) = (rate.max(0) as u32, channels.max(0) as u16);
    discard_all_but(&mut ictx, stream_index);
    let mut octx = format::output_as(&output, "ipod").map_err(|e| {
        Error::io(
            format!("cannot create {}", output.display()),
            std::io::Error::other(e.to_string()),
        )
    })?;
    {
        let mut ost = octx
            .add_stream(encoder::find(codec::Id::None))
            .map_err(internal("cannot add the audio stream"))?;
        ost.set_parameters(params);
        // SAFETY: clearing the tag of the output stream's own AVCodecParameters; the MP4
        // muxer picks its own tag for the codec id (an AVI/FLV tag would be refused).
        unsafe {
            (*ost.parameters().as_mut_ptr()).codec_tag = 0;
        }
    }
    octx.write_header()
        .map_err(|e| map_err(e, "cannot write the M4A header"))?;
    // The muxer may change the stream's time base in write_header.
    let ost_tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(ist_tb);
    let mut packets = 0u64;
    let mut written = 0u64;
    let (mut first_pts, mut end_pts): (Option<i64>, i64) = (None, 0);
    let mut shift = 0i64;
    let mut packet = ff::Packet::empty();
    let mut read_errors = 0;
    loop {
        match packet.read(&mut ictx) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(ff::Error::InvalidData) if read_errors < 1000 => {
                read_errors += 1;
                continue;
            }
            Err(e) => return Err(map_err(e, "cannot read the next packet")),
        }
        if packet.stream() != stream_index {
            continue;
        }
        if let Some(pts) = packet.pts() {
            if first_pts.is_none() {
                first_pts = Some(pts);
                // The output starts at its first presented sample: drop the source's start
                // offset (MPEG-TS starts near 1.4 s; an audio track may start after the
                // video) but keep the priming, which the MP4 muxer turns back into an edit
                // list because the first packet then starts before zero.
                let skip = skip_samples(&packet).map_or(0, |n| {
                    ff::Rescale::rescale(&n, ff::Rational(1, rate.max(1) as i32), ist_tb)
                });
                shift = pts + skip;
            }
            end_pts = end_pts.max(pts + packet.duration());
        }
        if shift != 0 {
            packet.set_pts(packet.pts().map(|t| t - shift));
            packet.set_dts(packet.dts().map(|t| t - shift));
        }
        written += packet.size() as u64;
        if written > max_bytes {
            return Err(Error::LimitExceeded(format!(
                "the output would exceed {max_bytes} bytes"
            )));
        }
        packets += 1;
        packet.rescale_ts(ist_tb, ost_tb);
        packet.set_position(-1);
        packet.set_stream(0);
        packet.write_interleaved(&mut octx).map_err(mux_error)?;
    }
    if packets == 0 {
        return Err(Error::media("the audio track holds no packets"));
    }
    octx.write_trailer().map_err(|e| {
        Error::io(
            "cannot finish the M4A output",
            std::io::Error::other(e.to_string()),
        )
    })?;
    let start = first_pts.unwrap_or(0).max(0);
    let duration = (end_pts - start).max(0) as f64 * f64::from(ist_tb.numerator())
        / f64::from(ist_tb.denominator().max(1));
    Ok(CopyReport {
        packets,
        bytes: written,
        duration,
        sample_rate: rate,
        channels,
    })
}
