//! One long MP4/AAC track decoded on several cores. The track is cut into segments of a
//! few seconds at packet boundaries; each worker opens its own reader, seeks a little
//! before its segment, decodes the pre-roll packets only to settle the decoder (AAC's
//! overlap-add needs the previous frame) and keeps the packets whose timestamps fall in its
//! segment. The consumer takes the segments in order, so the output is the serial decode,
//! sample for sample (a test checks that). Memory is bounded: each worker runs at most
//! about one segment ahead of the consumer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{SeekMode, SeekTo};
use symphonia::core::units::Timestamp;

use super::symphonia::{map_err, open_reader};
use super::{Decoder, EditCutter};
use crate::error::{Error, Result};
use crate::media::limits::Limits;
use crate::media::mp4;
use crate::media::probe::TrackInfo;

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
    End,
    Failed(Error),
}

/// Whether a track is worth (and safe) decoding in parallel.
pub(crate) fn suitable(container: &str, track: &TrackInfo, min_secs: f64) -> bool {
    container == "mp4" && track.codec == "aac" && track.duration.is_some_and(|d| d >= min_secs)
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
    edit: Option<mp4::TrackEdit>,
    decoded_frames: u64,
    max_frames: u64,
    expected_secs: Option<f64>,
    done: bool,
}

impl ParallelDecoder {
    pub(crate) fn open(
        path: &Path,
        track: &TrackInfo,
        limits: &Limits,
        threads: usize,
        segment_secs: f64,
    ) -> Result<Self> {
        let reader = open_reader(path)?;
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
            .calc_timestamp(
                symphonia::core::units::Time::try_new(1, 0)
                    .unwrap_or(symphonia::core::units::Time::ZERO),
            )
            .map(|t| t.get().max(1))
            .unwrap_or(i64::from(rate));
        let seg_ts = ((segment_secs * ticks as f64) as i64).max(1);
        let segments = usize::try_from((total_ts as i64 + seg_ts - 1) / seg_ts)
            .unwrap_or(1)
            .max(1);
        let preroll_ts = PREROLL_PACKETS * 1024 * ticks / i64::from(rate);
        let edit = crate::media::growing::open(path)
            .ok()
            .and_then(|mut f| mp4::read_track_edits(&mut f))
            .and_then(|e| e.get(track.index).copied().flatten());
        let expected_secs = edit.and_then(|e| e.duration_secs).or(track.duration);
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
                path: path.to_path_buf(),
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
                    let _ = super::contain::contain("a Symphonia decoding thread", || {
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
            decoded_frames: 0,
            max_frames: limits.max_frames(rate),
            expected_secs,
            done: false,
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
    path: PathBuf,
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
            let reader = open_reader(&self.path)?;
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
            if let Err(e) = self.segment(seg, &mut reader, decoder.as_mut(), track_id, &tx, spent) {
                let _ = tx.send(Msg::Failed(e));
                return;
            }
            if tx.send(Msg::End).is_err() {
                return;
            }
            seg += self.step;
        }
    }

    fn segment(
        &self,
        seg: usize,
        reader: &mut Box<dyn symphonia::core::formats::FormatReader + 'static>,
        decoder: &mut dyn symphonia::core::codecs::audio::AudioDecoder,
        track_id: u32,
        tx: &SyncSender<Msg>,
        spent: &Receiver<Vec<f32>>,
    ) -> Result<()> {
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
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
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
                            return Ok(());
                        }
                    }
                }
                // Pre-roll: decoded only to settle the decoder's state.
                Ok(_) => {}
                Err(SymError::DecodeError(_) | SymError::Unsupported(_)) => {}
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
        Ok(())
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
            if self.done {
                return Ok(None);
            }
            if self.next_segment >= self.segments {
                self.done = true;
                if self.decoded_frames == 0 {
                    return Err(Error::media("no audio could be decoded"));
                }
                super::check_not_truncated(self.decoded_frames, self.rate, self.expected_secs)?;
                return Ok(None);
            }
            let w = self.next_segment % self.rx.len();
            let msg = self.rx[w]
                .recv()
                .map_err(|_| Error::media("a decoding thread stopped on malformed input"))?;
            let (data, rate, channels) = match msg {
                Msg::End => {
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
            if self.decoded_frames == 0 {
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
            self.decoded_frames += frames as u64;
            if self.decoded_frames > self.max_frames {
                return Err(Error::LimitExceeded(
                    "the audio track is longer than the duration limit".into(),
                ));
            }
            let old = std::mem::replace(&mut self.block, data);
            if old.capacity() > 0 {
                let _ = self.spent[self.block_from].send(old);
            }
            self.block_from = w;
            let Some(range) = self.cutter.cut(frames) else {
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
    use crate::media::decode::symphonia::{SymphoniaDecoder, probe};

    fn drain(d: &mut dyn Decoder) -> Vec<f32> {
        let mut out = Vec::new();
        while let Some(b) = d.next_block().unwrap() {
            out.extend_from_slice(b);
        }
        out
    }

    fn decode_both(path: &Path) -> Vec<(String, Vec<f32>, Vec<f32>)> {
        let info = probe(path).unwrap();
        let track = info
            .tracks
            .iter()
            .find(|t| t.audio_index == Some(0))
            .unwrap()
            .clone();
        let limits = Limits::default();
        let serial = drain(&mut SymphoniaDecoder::open(path, &track, &limits).unwrap());
        assert!(serial.len() > 400_000);
        [(2, 1.0), (3, 0.7), (2, 4.3)]
            .into_iter()
            .map(|(threads, seg)| {
                let par =
                    drain(&mut ParallelDecoder::open(path, &track, &limits, threads, seg).unwrap());
                (
                    format!("{threads} threads, {seg} s segments"),
                    serial.clone(),
                    par,
                )
            })
            .collect()
    }

    /// Without perceptual noise substitution the parallel decode is the serial decode,
    /// sample for sample, wherever the cuts fall.
    #[test]
    fn parallel_equals_serial_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nopns.mp4");
        let ok = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "sine=f=440:r=48000:d=10",
                "-f",
                "lavfi",
            ])
            .args([
                "-i",
                "sine=f=660:r=48000:d=10",
                "-filter_complex",
                "[0][1]amerge=inputs=2",
            ])
            .args(["-c:a", "aac", "-aac_pns", "0", "-b:a", "128k"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        for (what, serial, par) in decode_both(&path) {
            assert_eq!(par.len(), serial.len(), "{what}");
            let first_diff = par
                .iter()
                .zip(&serial)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(first_diff, None, "{what}");
        }
    }

    /// With noise substitution (FFmpeg's encoder default) the noise bands draw from a
    /// generator whose state runs across the whole stream: a segment started mid-stream
    /// draws other noise. Same length, identical first segment, and the rest within the
    /// fidelity threshold (the difference is noise in noise-coded bands).
    #[test]
    fn parallel_matches_serial_with_noise_substitution() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/media/mp4_aac_long.mp4");
        for (what, serial, par) in decode_both(&path) {
            assert_eq!(par.len(), serial.len(), "{what}");
            let first_diff = par
                .iter()
                .zip(&serial)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert!(
                first_diff.is_none_or(|i| i >= 2 * 30_000),
                "{what}: differs from sample {first_diff:?}"
            );
            let sig: f64 = serial.iter().map(|&x| f64::from(x).powi(2)).sum();
            let noise: f64 = par
                .iter()
                .zip(&serial)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum();
            let snr = 10.0 * (sig / noise.max(1e-30)).log10();
            assert!(snr > 70.0, "{what}: {snr:.1} dB");
        }
    }
}
