//! One long MP4/AAC track decoded on several cores. The track is cut into segments of a
//! few seconds at packet boundaries; each worker opens its own reader, seeks a little
//! before its segment, decodes the pre-roll packets only to settle the decoder (AAC's
//! overlap-add needs the previous frame) and keeps the packets whose timestamps fall in its
//! segment. The consumer takes the segments in order, so the output is the serial decode,
//! sample for sample (`decoder.rs` tests that), and packets the decoder refuses are
//! reported in order, so the consumer's [`DecodeTally`] sees what the serial decoder's sees.
//! Memory is bounded: each worker runs at most about one segment ahead of the consumer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatReader, SeekMode, SeekTo};
use symphonia::core::units::{Time, Timestamp};

use super::contain::contain;
use super::{map_err, open_reader};
use crate::error::{Error, Result};
use crate::media::decode::Decoder;
use crate::media::decode::cutter::{self, EditCutter};
use crate::media::decode::tally::{DecodeTally, stated_secs};
use crate::media::info::{Container, TrackInfo};
use crate::media::input::Input;
use crate::media::limits::Limits;
use crate::media::mp4::TrackEdit;

/// Frames per message from a worker.
const CHUNK_FRAMES: usize = 16_384;
/// Packets decoded before a segment's start and thrown away.
const PREROLL_PACKETS: i64 = 3;

enum Msg {
    Chunk {
        data: Vec<f32>,
        rate: u32,
        channels: usize,
    },
    /// The decoder refused the segment's `packets`-th packet (counting from 1).
    Bad {
        packets: u64,
        error: String,
    },
    /// The segment is complete: it held `packets` packets.
    End {
        packets: u64,
    },
    Failed(Error),
}

/// Whether a track is worth (and safe) decoding in parallel.
pub(crate) fn suitable(container: &Container, track: &TrackInfo, min_secs: f64) -> bool {
    *container == Container::Mp4
        && track.codec == "aac"
        && track.duration.is_some_and(|d| d >= min_secs)
}

pub(crate) struct ParallelDecoder {
    rx: Vec<Receiver<Msg>>,
    /// Spent chunks go back to the worker that filled them, for reuse.
    spent: Vec<Sender<Vec<f32>>>,
    /// The worker `block` came from.
    block_from: usize,
    stop: Arc<AtomicBool>,
    segments: usize,
    next_segment: usize,
    rate: u32,
    channels: usize,
    block: Vec<f32>,
    cutter: EditCutter,
    edit: Option<TrackEdit>,
    /// Packets of the segment being consumed already counted in `tally`.
    segment_packets: u64,
    tally: DecodeTally,
}

impl ParallelDecoder {
    pub(crate) fn open(
        input: &Input,
        track: &TrackInfo,
        limits: &Limits,
        threads: usize,
        segment_secs: f64,
    ) -> Result<Self> {
        let reader = open_reader(input)?;
        let st = reader
            .tracks()
            .get(track.index)
            .ok_or_else(|| Error::Internal("track vanished between probe and open".into()))?;
        let Some(CodecParameters::Audio(params)) = &st.codec_params else {
            return Err(Error::NoAudioTrack);
        };
        let rate = params
            .sample_rate
            .filter(|&r| r > 0)
            .ok_or_else(|| Error::media("audio track has no sample rate"))?;
        let tb = st
            .time_base
            .ok_or_else(|| Error::media("audio track has no time base"))?;
        let total_ts = st
            .duration
            .map(|d| d.get())
            .ok_or_else(|| Error::media("audio track has no duration"))?;
        // Ticks per second of the track's time base (MP4: the media timescale).
        let ticks = tb
            .calc_timestamp(Time::try_new(1, 0).unwrap_or(Time::ZERO))
            .map(|t| t.get().max(1))
            .unwrap_or(i64::from(rate));
        let seg_ts = ((segment_secs * ticks as f64) as i64).max(1);
        let segments = usize::try_from((total_ts as i64 + seg_ts - 1) / seg_ts)
            .unwrap_or(1)
            .max(1);
        let preroll_ts = PREROLL_PACKETS * 1024 * ticks / i64::from(rate);
        let edit = cutter::track_edit(input, track.index);
        let expected_secs = stated_secs(&Container::Mp4, track, edit.as_ref());
        let threads = threads.clamp(1, segments);
        let stop = Arc::new(AtomicBool::new(false));
        let mut rx = Vec::with_capacity(threads);
        let mut spent = Vec::with_capacity(threads);
        // One segment of chunks (plus the end marker) fits in a worker's channel.
        let capacity = (segment_secs * f64::from(rate)) as usize / CHUNK_FRAMES + 2;
        for w in 0..threads {
            let (tx, r) = sync_channel(capacity);
            rx.push(r);
            let (spent_tx, spent_rx) = channel();
            spent.push(spent_tx);
            let job = Worker {
                input: input.clone(),
                track_index: track.index,
                seg_ts,
                preroll_ts,
                segments,
                first: w,
                step: threads,
                stop: stop.clone(),
            };
            std::thread::Builder::new()
                .name(format!("decode-{w}"))
                .spawn(move || {
                    // A panic in Symphonia drops `tx`: the reader sees it as malformed input.
                    let _ = contain("a Symphonia decoding thread", || {
                        job.run(tx, &spent_rx);
                        Ok(())
                    });
                })
                .map_err(|e| Error::Internal(format!("cannot start a decoding thread: {e}")))?;
        }
        Ok(ParallelDecoder {
            rx,
            spent,
            block_from: 0,
            stop,
            segments,
            next_segment: 0,
            rate,
            channels: 0,
            block: Vec::new(),
            cutter: EditCutter::default(),
            edit,
            segment_packets: 0,
            tally: DecodeTally::new(limits, rate, expected_secs),
        })
    }
}

impl Drop for ParallelDecoder {
    fn drop(&mut self) {
        // Workers notice on their next send (the receivers are gone) or here.
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Worker {
    input: Input,
    track_index: usize,
    seg_ts: i64,
    preroll_ts: i64,
    segments: usize,
    first: usize,
    step: usize,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(self, tx: SyncSender<Msg>, spent: &Receiver<Vec<f32>>) {
        // One reader and one decoder per worker, reused across its segments: opening a
        // reader parses the whole sample table, too costly to repeat per segment.
        let setup = (|| -> Result<_> {
            let reader = open_reader(&self.input)?;
            let st = &reader.tracks()[self.track_index];
            let track_id = st.id;
            let Some(CodecParameters::Audio(params)) = st.codec_params.clone() else {
                return Err(Error::NoAudioTrack);
            };
            let decoder = symphonia::default::get_codecs()
                .make_audio_decoder(&params, &AudioDecoderOptions::default())
                .map_err(|e| map_err(e, "cannot start the decoder"))?;
            Ok((reader, decoder, track_id))
        })();
        let (mut reader, mut decoder, track_id) = match setup {
            Ok(x) => x,
            Err(e) => {
                let _ = tx.send(Msg::Failed(e));
                return;
            }
        };
        let mut seg = self.first;
        while seg < self.segments && !self.stop.load(Ordering::Relaxed) {
            let packets =
                match self.segment(seg, &mut reader, decoder.as_mut(), track_id, &tx, spent) {
                    Ok(packets) => packets,
                    Err(e) => {
                        let _ = tx.send(Msg::Failed(e));
                        return;
                    }
                };
            if tx.send(Msg::End { packets }).is_err() {
                return;
            }
            seg += self.step;
        }
    }

    /// Decode segment `seg` and send its chunks; returns the packets it held.
    fn segment(
        &self,
        seg: usize,
        reader: &mut Box<dyn FormatReader + 'static>,
        decoder: &mut dyn AudioDecoder,
        track_id: u32,
        tx: &SyncSender<Msg>,
        spent: &Receiver<Vec<f32>>,
    ) -> Result<u64> {
        let start = seg as i64 * self.seg_ts;
        let end = if seg + 1 == self.segments {
            i64::MAX
        } else {
            start + self.seg_ts
        };
        if start > 0 {
            let ts = Timestamp::new((start - self.preroll_ts).max(0));
            reader
                .seek(SeekMode::Accurate, SeekTo::Timestamp { ts, track_id })
                .map_err(|e| map_err(e, "cannot seek"))?;
            // The pre-roll packets rebuild the state a discontinuity leaves behind.
            decoder.reset();
        }
        // Chunks come back from the consumer once used: after the first few nothing is
        // allocated, copied by a growing Vec or page-faulted in.
        let fresh = || {
            spent
                .try_recv()
                .map(|mut v| {
                    v.clear();
                    v
                })
                .unwrap_or_else(|_| Vec::with_capacity((CHUNK_FRAMES + 4096) * 2))
        };
        let mut chunk: Vec<f32> = fresh();
        let (mut rate, mut channels) = (0u32, 0usize);
        let mut packets = 0u64;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(packets);
            }
            let packet = match reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) | Err(SymError::ResetRequired) => break,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(map_err(e, "cannot read the next packet")),
            };
            if packet.track_id != track_id {
                continue;
            }
            let pts = packet.pts.get();
            if pts >= end {
                break;
            }
            // Pre-roll packets belong to the previous segment, which counts them.
            let own = pts >= start;
            packets += u64::from(own);
            match decoder.decode(&packet) {
                Ok(buf) if pts >= start => {
                    let spec = buf.spec();
                    (rate, channels) = (spec.rate(), spec.channels().count());
                    // Straight into the chunk: no intermediate copy.
                    let at = chunk.len();
                    chunk.resize(at + buf.samples_interleaved(), 0.0);
                    buf.copy_to_slice_interleaved::<f32, _>(&mut chunk[at..]);
                    if chunk.len() >= CHUNK_FRAMES * channels.max(1) {
                        let data = std::mem::replace(&mut chunk, fresh());
                        if tx
                            .send(Msg::Chunk {
                                data,
                                rate,
                                channels,
                            })
                            .is_err()
                        {
                            return Ok(packets);
                        }
                    }
                }
                // Pre-roll: decoded only to settle the decoder's state.
                Ok(_) => {}
                // Skipped, as the serial decoder does; the consumer counts it.
                Err(e @ (SymError::DecodeError(_) | SymError::Unsupported(_))) => {
                    if own {
                        let error = e.to_string();
                        if tx.send(Msg::Bad { packets, error }).is_err() {
                            return Ok(packets);
                        }
                    }
                }
                Err(e) => return Err(map_err(e, "decode failed")),
            }
        }
        if !chunk.is_empty() {
            let _ = tx.send(Msg::Chunk {
                data: chunk,
                rate,
                channels,
            });
        }
        Ok(packets)
    }
}

impl Decoder for ParallelDecoder {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn source_bits(&self) -> Option<u32> {
        None
    }

    fn next_block(&mut self) -> Result<Option<&[f32]>> {
        loop {
            if self.tally.is_done() {
                return Ok(None);
            }
            if self.next_segment >= self.segments {
                self.tally.finish(self.rate)?;
                return Ok(None);
            }
            let w = self.next_segment % self.rx.len();
            let msg = self.rx[w]
                .recv()
                .map_err(|_| Error::media("a decoding thread stopped on malformed input"))?;
            let (data, rate, channels) = match msg {
                Msg::Bad { packets, error } => {
                    self.tally.add_packets(packets - self.segment_packets);
                    self.segment_packets = packets;
                    self.tally.bad_packet(error)?;
                    continue;
                }
                Msg::End { packets } => {
                    self.tally.add_packets(packets - self.segment_packets);
                    self.segment_packets = 0;
                    self.next_segment += 1;
                    continue;
                }
                Msg::Failed(e) => return Err(e),
                Msg::Chunk {
                    data,
                    rate,
                    channels,
                } => (data, rate, channels),
            };
            if channels == 0 {
                continue;
            }
            if self.tally.decoded() == 0 {
                self.rate = rate;
                self.channels = channels;
                if let Some(edit) = self.edit {
                    self.cutter = EditCutter::for_edit(&edit, rate);
                }
            } else if rate != self.rate || channels != self.channels {
                return Err(Error::UnsupportedCodec(
                    "the stream changes sample rate or channel count midway".into(),
                ));
            }
            let frames = data.len() / channels;
            let old = std::mem::replace(&mut self.block, data);
            if old.capacity() > 0 {
                let _ = self.spent[self.block_from].send(old);
            }
            self.block_from = w;
            let Some(range) = self.tally.present(&mut self.cutter, frames)? else {
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
