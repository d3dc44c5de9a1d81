//! Decoding one audio track with libavcodec, read through [`super::io`] (so also while the
//! file arrives), as interleaved `f32` blocks.

use ff::{codec, format, frame};
use ffmpeg_next as ff;

use super::io::{Source, SourceFailure, open_source};
use super::{container, discard_all_but, is_lossless, map_err, pcm_bits};
use crate::error::{Error, Result};
use crate::media::decode::Decoder;
use crate::media::decode::cutter::{self, EditCutter};
use crate::media::decode::secs_to_frames;
use crate::media::decode::tally::{DecodeTally, stated_secs};
use crate::media::info::TrackInfo;
use crate::media::input::Input;
use crate::media::limits::Limits;

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
    tally: DecodeTally,
    draining: bool,
}

impl FfmpegDecoder {
    pub(crate) fn open(input: &Input, track: &TrackInfo, limits: &Limits) -> Result<Self> {
        let Source { mut ictx, failure } = open_source(input)?;
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
        discard_all_but(&mut ictx, stream_index);
        let rate = decoder.rate();
        let edit = cutter::track_edit(input, track.index);
        let expected = stated_secs(&container(ictx.format().name()), track, edit.as_ref());
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
            keep_secs: edit.and_then(|e| e.duration_secs),
            tally: DecodeTally::new(limits, rate, expected),
            draining: false,
        })
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
                    self.tally.add_packets(1);
                    match self.decoder.send_packet(&packet) {
                        Ok(()) => return Ok(true),
                        Err(e) => self.tally.bad_packet(e)?,
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
                            if self.tally.decoded() == 0 {
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
            if self.tally.is_done() {
                return Ok(None);
            }
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => {
                    let rate = self.frame.rate();
                    let ch = usize::from(self.frame.channels());
                    if self.tally.decoded() == 0 {
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
                    let Some(range) = self.tally.present(&mut self.cutter, frames)? else {
                        return Ok(None);
                    };
                    if range.is_empty() {
                        continue;
                    }
                    return Ok(Some(&self.block[range.start * ch..range.end * ch]));
                }
                Err(ff::Error::Eof) => {
                    self.tally.finish(self.rate)?;
                    return Ok(None);
                }
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    if !self.feed()? {
                        self.tally.finish(self.rate)?;
                        return Ok(None);
                    }
                }
                Err(e) => self.tally.bad_packet(e)?,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::ffmpeg::io::tests::{fixture, long_ts, spool_head};
    use crate::media::ffmpeg::probe::probe;
    use std::sync::mpsc;
    use std::time::Duration;

    /// An upload that breaks off stops the decoder with the upload's error, not a shorter
    /// success, and does not hang.
    #[test]
    fn a_failed_upload_stops_the_ffmpeg_decoder_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        for source in [long_ts(dir.path()), fixture("webm_opus.webm")] {
            let name = source.display();
            let (input, _file, arrival, _) = spool_head(&source, dir.path());
            let (tx, rx) = mpsc::channel();
            let p = input.clone();
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
}
