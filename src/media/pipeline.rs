//! The decode-to-file pipeline, on every core.
//!
//! - The calling thread decodes (itself, or by collecting from the parallel decoder's
//!   workers), trims, and cuts the audio into segments of about a second and a half.
//! - A pool of segment workers remixes, resamples and packs (quantises, dithers and lays
//!   out the bytes of) each segment.
//! - One more thread commits the packed segments to the sink in order.
//!
//! The result is the one-pass result, bit for bit (the test below checks it):
//! - Remixing works frame by frame.
//! - A segment starts on a multiple of the resampler's processing chunk and carries one
//!   chunk of the audio before it as pre-roll, which rebuilds the resampler's state
//!   ([`Resampler::start_segment`]).
//! - The dither noise depends on the output position only ([`super::dsp::Quantiser`]).
//!
//! Memory stays bounded whatever the input's length: each worker holds at most one segment
//! waiting, one in work and one packed.

use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use super::Control;
use super::decode::{Decoder, EditCutter};
use super::dsp::{Remix, Resampler};
use super::encode::{Packed, Packer, Sink};
use crate::error::{Error, Result};

/// Frames of a segment, before rounding up to the resampler's chunk.
const SEGMENT_FRAMES: u64 = 1 << 16;

/// What the pipeline converts between.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) in_rate: u32,
    pub(crate) in_channels: usize,
    pub(crate) out_rate: u32,
    pub(crate) out_channels: usize,
}

impl Shape {
    fn remix(&self) -> Option<Remix> {
        (self.in_channels != self.out_channels)
            .then(|| Remix::new(self.in_channels, self.out_channels))
    }

    fn resampler(&self) -> Result<Option<Resampler>> {
        if self.in_rate == self.out_rate {
            return Ok(None);
        }
        Resampler::new(self.in_rate, self.out_rate, self.out_channels).map(Some)
    }

    /// Whether the chain changes the samples' values (a requantisation then needs dither).
    pub(crate) fn alters_samples(&self) -> bool {
        self.in_rate != self.out_rate || self.remix().is_some_and(|r| !r.is_exact())
    }
}

/// One segment of trimmed source audio.
struct Segment {
    /// Source frame (after trimming) at which the segment's own audio begins.
    pos: u64,
    /// Frames of pre-roll at the front of `data`, before `pos`.
    preroll: u64,
    /// Interleaved source audio, pre-roll first.
    data: Vec<f32>,
    /// The last segment: the resampler's tail is flushed after it.
    last: bool,
}

/// A worker's remix and resample state, reused across its segments.
struct Stage {
    out_channels: usize,
    remix: Option<Remix>,
    resample: Option<Resampler>,
    mixed: Vec<f32>,
}

impl Stage {
    fn new(shape: &Shape) -> Result<Self> {
        Ok(Stage {
            out_channels: shape.out_channels,
            remix: shape.remix(),
            resample: shape.resampler()?,
            mixed: Vec::new(),
        })
    }

    /// Frames a segment's start must be a multiple of, and its pre-roll.
    fn chunk_frames(&self) -> u64 {
        self.resample.as_ref().map_or(1, Resampler::chunk_frames)
    }

    fn preroll_frames(&self) -> u64 {
        self.resample.as_ref().map_or(0, Resampler::chunk_frames)
    }

    fn run(&mut self, seg: &Segment, packer: &mut Packer, spare: Option<Packed>) -> Result<Packed> {
        let Stage {
            out_channels,
            remix,
            resample,
            mixed,
        } = self;
        let ch = *out_channels as u64;
        let input: &[f32] = match remix {
            Some(r) => {
                r.apply(&seg.data, mixed);
                mixed
            }
            None => &seg.data,
        };
        match resample {
            Some(rs) => {
                rs.start_segment(seg.pos, seg.preroll);
                let mut at = rs.output_position(seg.pos) * ch;
                let mut emit = |b: &[f32]| {
                    packer.pack(b, at);
                    at += b.len() as u64;
                    Ok(())
                };
                rs.push(input, &mut emit)?;
                if seg.last {
                    rs.finish(&mut emit)?;
                }
            }
            None => packer.pack(&input[(seg.preroll * ch) as usize..], seg.pos * ch),
        }
        Ok(packer.take(spare))
    }
}

/// Decode (and trim) on this thread; remix, resample and pack on `workers` threads; commit
/// in order on one more. Returns (source frames decoded, frames written).
#[allow(
    clippy::too_many_arguments,
    reason = "one private call site; the pieces are built just before"
)]
pub(crate) fn run(
    dec: &mut dyn Decoder,
    first: Vec<f32>,
    shape: Shape,
    (skip, keep): (u64, Option<u64>),
    mut sink: Box<dyn Sink>,
    total_frames: Option<f64>,
    workers: usize,
    control: Control<'_>,
) -> Result<(u64, u64)> {
    let stages = (0..workers.max(1))
        .map(|_| Stage::new(&shape))
        .collect::<Result<Vec<_>>>()?;
    let workers = stages.len();
    let chunk = stages[0].chunk_frames();
    let preroll = stages[0].preroll_frames();
    let seg_frames = SEGMENT_FRAMES.div_ceil(chunk) * chunk;
    let in_ch = shape.in_channels;
    let packer = sink.packer();

    let mut to_workers: Vec<SyncSender<Segment>> = Vec::with_capacity(workers);
    let mut from_workers: Vec<Receiver<Result<Packed>>> = Vec::with_capacity(workers);
    // Committed segments go back to the worker that packed them, spent source buffers back
    // to this thread: after the first few segments nothing is allocated.
    let mut recycle: Vec<Sender<Packed>> = Vec::with_capacity(workers);
    let (spent_tx, spent_rx) = channel::<Vec<f32>>();
    let mut worker_ends = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (tx, rx) = sync_channel::<Segment>(1);
        let (rtx, rrx) = sync_channel::<Result<Packed>>(1);
        let (back_tx, back_rx) = channel::<Packed>();
        to_workers.push(tx);
        from_workers.push(rrx);
        recycle.push(back_tx);
        worker_ends.push((rx, rtx, back_rx, spent_tx.clone()));
    }
    let worker_ends = worker_ends.into_iter().zip(stages);
    drop(spent_tx);
    let span = tracing::Span::current();
    std::thread::scope(|s| {
        for (w, ((rx, rtx, back_rx, spent_tx), mut stage)) in worker_ends.enumerate() {
            let (span, mut packer) = (span.clone(), packer.clone());
            std::thread::Builder::new()
                .name(format!("dsp-{w}"))
                .spawn_scoped(s, move || {
                    let _enter = span.enter();
                    for seg in rx {
                        // A panic here would be a bug; it must still end as an error, not
                        // take the process (or the service's blocking thread) with it.
                        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            stage.run(&seg, &mut packer, back_rx.try_recv().ok())
                        }))
                        .unwrap_or_else(|_| Err(Error::Internal("a DSP thread panicked".into())));
                        let _ = spent_tx.send(seg.data);
                        let failed = out.is_err();
                        if rtx.send(out).is_err() || failed {
                            return;
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("cannot start a DSP thread: {e}")))?;
        }
        let committer = {
            let span = span.clone();
            s.spawn(move || -> Result<u64> {
                let _enter = span.enter();
                for w in (0..workers).cycle() {
                    match from_workers[w].recv() {
                        Ok(Ok(packed)) => {
                            sink.commit(&packed)?;
                            let _ = recycle[w].send(packed);
                        }
                        Ok(Err(e)) => return Err(e),
                        // Every worker has stopped: the last segment was committed, or the
                        // decoding side gave up (its error is reported first).
                        Err(_) => break,
                    }
                }
                sink.finish()
            })
        };

        let produced = (|| -> Result<u64> {
            let mut trim = EditCutter::new(skip, keep);
            let mut decoded = 0u64;
            let mut next_report = 0u64;
            let mut seq = 0usize;
            // Source frames (after trimming) handed on so far, and the segment being filled.
            let mut pos = 0u64;
            let mut seg = Segment {
                pos: 0,
                preroll: 0,
                data: Vec::with_capacity(seg_frames as usize * in_ch),
                last: false,
            };
            let mut pending_first = Some(first);
            loop {
                if control.cancel.is_some_and(|canceled| canceled()) {
                    return Err(Error::Canceled);
                }
                let owned;
                let block: &[f32] = match pending_first.take() {
                    Some(f) if !f.is_empty() => {
                        owned = f;
                        &owned
                    }
                    _ => match dec.next_block()? {
                        Some(b) => b,
                        None => break,
                    },
                };
                let frames = block.len() / in_ch;
                decoded += frames as u64;
                let Some(range) = trim.cut(frames) else { break };
                let mut rest = &block[range.start * in_ch..range.end * in_ch];
                while !rest.is_empty() {
                    let room = (seg.pos + seg_frames - pos) as usize;
                    let take = room.min(rest.len() / in_ch);
                    seg.data.extend_from_slice(&rest[..take * in_ch]);
                    rest = &rest[take * in_ch..];
                    pos += take as u64;
                    if pos == seg.pos + seg_frames {
                        // The next segment starts with this one's last chunk as pre-roll.
                        let mut data = spent_rx.try_recv().unwrap_or_else(|_| {
                            Vec::with_capacity((preroll + seg_frames) as usize * in_ch)
                        });
                        data.clear();
                        data.extend_from_slice(
                            &seg.data[seg.data.len() - preroll as usize * in_ch..],
                        );
                        let next = Segment {
                            pos,
                            preroll,
                            data,
                            last: false,
                        };
                        let full = std::mem::replace(&mut seg, next);
                        if to_workers[seq % workers].send(full).is_err() {
                            // A worker stopped on an error: the committer reports it.
                            return Ok(decoded);
                        }
                        seq += 1;
                    }
                }
                if let Some(cb) = control.progress
                    && decoded >= next_report
                {
                    // Called at the first block too, so a caller learns when decoding began
                    // even when the length is unknown.
                    next_report = decoded + u64::from(shape.in_rate);
                    cb(total_frames.map_or(0.0, |total| (decoded as f64 / total).min(1.0)));
                }
            }
            seg.last = true;
            let _ = to_workers[seq % workers].send(seg);
            Ok(decoded)
        })();
        drop(to_workers);
        let written = committer
            .join()
            .map_err(|_| Error::Internal("the writing thread panicked".into()))?;
        // A decode error explains a writer that stopped early: report it first.
        let decoded = produced?;
        Ok((decoded, written?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::encode::wav::WavSink;

    /// A decoder over a synthetic signal, handing it out in blocks of uneven sizes.
    struct Synthetic {
        rate: u32,
        channels: usize,
        data: Vec<f32>,
        at: usize,
        step: usize,
    }

    impl Decoder for Synthetic {
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
            if self.at >= self.data.len() {
                return Ok(None);
            }
            self.step = self.step * 7 % 4093 + 100;
            let end = (self.at + self.step * self.channels).min(self.data.len());
            let block = &self.data[self.at..end];
            self.at = end;
            Ok(Some(block))
        }
    }

    fn signal(frames: usize, channels: usize) -> Vec<f32> {
        (0..frames * channels)
            .map(|i| {
                let (f, c) = ((i / channels) as f32, (i % channels) as f32);
                (f * (0.013 + 0.007 * c)).sin() * 0.7 + ((i * 31 % 101) as f32 - 50.0) * 0.002
            })
            .collect()
    }

    /// The reference: one pass, one thread, no segments.
    fn one_pass(shape: Shape, input: &[f32], skip: u64, keep: Option<u64>, bits: u16) -> Vec<u8> {
        let ch = shape.in_channels;
        let from = (skip as usize * ch).min(input.len());
        let to = keep.map_or(input.len(), |k| (from + k as usize * ch).min(input.len()));
        let mut mixed = Vec::new();
        let part: &[f32] = match shape.remix() {
            Some(r) => {
                r.apply(&input[from..to], &mut mixed);
                &mixed
            }
            None => &input[from..to],
        };
        let dither = shape.alters_samples();
        let sink = WavSink::create(
            std::path::Path::new("/dev/null"),
            shape.out_rate,
            shape.out_channels,
            bits,
            false,
            dither,
            u64::MAX,
        )
        .unwrap();
        let Packer::Wav(mut packer, _) = sink.packer() else {
            unreachable!()
        };
        let mut bytes = Vec::new();
        let mut at = 0u64;
        let mut emit = |b: &[f32]| {
            packer.pack(b, at, &mut bytes);
            at += b.len() as u64;
            Ok(())
        };
        match shape.resampler().unwrap() {
            Some(mut rs) => {
                rs.push(part, &mut emit).unwrap();
                rs.finish(&mut emit).unwrap();
            }
            None => emit(part).unwrap(),
        }
        bytes
    }

    /// The pipeline's output equals one pass, byte for byte, whatever the number of
    /// workers, with trimming, remixing, resampling and dither in play.
    #[test]
    fn segmented_parallel_output_equals_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            // (in rate, in ch, out rate, out ch, frames, skip, keep, bits)
            (48_000, 2, 16_000, 1, 400_000, 0, None, 16),
            (44_100, 2, 48_000, 2, 300_001, 1_234, Some(250_000), 16),
            (48_000, 6, 44_100, 2, 140_000, 0, None, 24),
            (48_000, 2, 48_000, 2, 200_000, 17, None, 24),
            (48_000, 2, 48_000, 1, 131_072 + 5, 0, None, 16),
            (22_050, 1, 16_000, 1, 2 * 65_536 + 1_470 * 3, 0, None, 8),
        ];
        for (i, (in_rate, in_ch, out_rate, out_ch, frames, skip, keep, bits)) in
            cases.into_iter().enumerate()
        {
            let shape = Shape {
                in_rate,
                in_channels: in_ch,
                out_rate,
                out_channels: out_ch,
            };
            let input = signal(frames, in_ch);
            let want = one_pass(shape, &input, skip, keep, bits);
            for workers in [1, 2, 3] {
                let path = dir.path().join(format!("{i}-{workers}.wav"));
                let sink = WavSink::create(
                    &path,
                    out_rate,
                    out_ch,
                    bits,
                    false,
                    shape.alters_samples(),
                    u64::MAX,
                )
                .unwrap();
                let mut dec = Synthetic {
                    rate: in_rate,
                    channels: in_ch,
                    data: input.clone(),
                    at: 0,
                    step: 1,
                };
                let (decoded, written) = run(
                    &mut dec,
                    Vec::new(),
                    shape,
                    (skip, keep),
                    Box::new(sink),
                    None,
                    workers,
                    Control::default(),
                )
                .unwrap();
                let frame_bytes = out_ch * usize::from(bits / 8);
                assert!(decoded >= skip + keep.unwrap_or(0), "case {i}");
                assert_eq!(written as usize * frame_bytes, want.len(), "case {i}");
                let got = std::fs::read(&path).unwrap();
                let data = &got[got.len() - want.len() - want.len() % 2..][..want.len()];
                let first_diff = data.iter().zip(&want).position(|(a, b)| a != b);
                assert_eq!(first_diff, None, "case {i}, {workers} workers");
            }
        }
    }
}
