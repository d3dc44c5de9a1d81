//! Streaming sample-rate conversion with rubato's FFT resampler (synchronous: the ratio is
//! exactly out/in). The resampler's delay is trimmed and the tail flushed, so N input
//! frames become round(N * out / in) output frames, aligned with the input.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

use crate::error::{Error, Result};

/// Where resampled audio goes.
pub(crate) type SinkFn<'a> = dyn FnMut(&[f32]) -> Result<()> + 'a;

const CHUNK: usize = 1024;

pub(crate) struct Resampler {
    inner: Fft<f32>,
    channels: usize,
    in_rate: u64,
    out_rate: u64,
    /// Input frames per call; output frames per call. Every call is independent of the
    /// input before the previous call (FFT overlap-add keeps one call's tail).
    chunk_in: u64,
    chunk_out: u64,
    /// rubato's delay, in output frames.
    delay: u64,
    pending: Vec<f32>,
    out: Vec<f32>,
    /// Input position (frames from the start of the whole input) after the input fed.
    frames_in: u64,
    /// Position in the raw output (delay included) after the output produced.
    raw_out: u64,
    /// Raw output before this position is not emitted (the delay, or a segment's pre-roll).
    emit_from: u64,
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

fn rerr(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("resampler: {e}"))
}

impl Resampler {
    pub(crate) fn new(in_rate: u32, out_rate: u32, channels: usize) -> Result<Self> {
        // rubato reports its delay as fft_size_out / 2 output frames. That is exact only
        // when both FFT sizes are even; with an odd input size (44.1 kHz -> 16 kHz: 441 ->
        // 160) the true delay is half an input frame off, which shows as a 0.2-sample shift
        // against other resamplers. So pick a whole, even number of minimal FFT blocks
        // and enough of them per call.
        let gcd = gcd(in_rate, out_rate);
        let min_in = (in_rate / gcd) as usize;
        // A power of two (at least 2) keeps the FFT lengths free of large prime factors
        // (258 = 2 * 3 * 43 needs Rader's algorithm and ran 3x slower than 384 = 2^7 * 3).
        let blocks = 512usize.div_ceil(min_in).next_power_of_two().max(2);
        let sub_in = blocks * min_in;
        let sub_chunks = (CHUNK / sub_in).max(1);
        let inner = Fft::<f32>::new_custom(
            in_rate as usize,
            out_rate as usize,
            sub_in * sub_chunks,
            sub_chunks,
            channels,
            rubato::WindowFunction::BlackmanHarris2,
            FixedSync::Input,
        )
        .map_err(|e| {
            Error::InvalidOptions(format!(
                "cannot resample {in_rate} Hz to {out_rate} Hz: {e}"
            ))
        })?;
        let out = vec![0.0; inner.output_frames_max() * channels];
        let chunk_in = (sub_in * sub_chunks) as u64;
        let chunk_out = chunk_in * u64::from(out_rate) / u64::from(in_rate);
        debug_assert_eq!(inner.input_frames_next() as u64, chunk_in);
        debug_assert_eq!(inner.output_frames_next() as u64, chunk_out);
        let delay = inner.output_delay() as u64;
        Ok(Resampler {
            inner,
            channels,
            in_rate: u64::from(in_rate),
            out_rate: u64::from(out_rate),
            chunk_in,
            chunk_out,
            delay,
            pending: Vec::with_capacity(CHUNK * 2 * channels),
            out,
            frames_in: 0,
            raw_out: 0,
            emit_from: delay,
        })
    }

    /// Input frames per processing call: segments must start on a multiple of it.
    pub(crate) fn chunk_frames(&self) -> u64 {
        self.chunk_in
    }

    /// Restart for a segment whose own input begins at input frame `pos` (a multiple of
    /// [`Self::chunk_frames`]), with `preroll` frames (a multiple of it, at most `pos`) of
    /// the input before it fed first. One chunk of pre-roll rebuilds the state a pass over
    /// the whole input would have there, so the segment's output is that pass's output,
    /// bit for bit; its first frame is output frame [`Self::output_position`]`(pos)`.
    pub(crate) fn start_segment(&mut self, pos: u64, preroll: u64) {
        debug_assert!(pos.is_multiple_of(self.chunk_in) && preroll.is_multiple_of(self.chunk_in));
        debug_assert!(preroll <= pos);
        self.inner.reset();
        self.pending.clear();
        let first = pos - preroll.min(pos);
        self.frames_in = first;
        self.raw_out = first / self.chunk_in * self.chunk_out;
        self.emit_from = self.delay.max(pos / self.chunk_in * self.chunk_out);
    }

    /// The output frame at which a segment starting at input frame `pos` begins.
    pub(crate) fn output_position(&self, pos: u64) -> u64 {
        (pos / self.chunk_in * self.chunk_out).saturating_sub(self.delay)
    }

    fn expected_out(&self) -> u64 {
        (self.frames_in * self.out_rate + self.in_rate / 2) / self.in_rate
    }

    /// Run one chunk (`input` holds a whole chunk; `partial` frames of it are valid when
    /// given) and emit what is past `emit_from`, never past output frame `limit`.
    fn run(
        &mut self,
        input: &[f32],
        partial: Option<usize>,
        limit: Option<u64>,
        sink: &mut SinkFn<'_>,
    ) -> Result<()> {
        let ch = self.channels;
        let need = self.chunk_in as usize;
        let input = InterleavedSlice::new(input, ch, need).map_err(rerr)?;
        let cap = self.out.len() / ch;
        let mut output = InterleavedSlice::new_mut(&mut self.out[..], ch, cap).map_err(rerr)?;
        let indexing = partial.map(|p| Indexing::new().partial_len(p));
        let (_, written) = self
            .inner
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .map_err(rerr)?;
        let (start, mut end) = (self.raw_out, self.raw_out + written as u64);
        self.raw_out = end;
        if let Some(limit) = limit {
            end = end.min(limit + self.delay);
        }
        let from = start.max(self.emit_from);
        if end > from {
            let (a, b) = ((from - start) as usize, (end - start) as usize);
            sink(&self.out[a * ch..b * ch])?;
        }
        Ok(())
    }

    /// Feed `block`. Whole chunks are resampled straight from it; only a chunk that spans
    /// two blocks is gathered in `pending` first.
    pub(crate) fn push(&mut self, block: &[f32], sink: &mut SinkFn<'_>) -> Result<()> {
        let ch = self.channels;
        let need = self.chunk_in as usize * ch;
        self.frames_in += (block.len() / ch) as u64;
        let mut rest = block;
        if !self.pending.is_empty() {
            let take = (need - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() < need {
                return Ok(());
            }
            let pending = std::mem::take(&mut self.pending);
            let res = self.run(&pending, None, None, sink);
            self.pending = pending;
            self.pending.clear();
            res?;
        }
        while rest.len() >= need {
            self.run(&rest[..need], None, None, sink)?;
            rest = &rest[need..];
        }
        self.pending.extend_from_slice(rest);
        Ok(())
    }

    /// The input has ended: flush the last partial chunk and the delayed tail, so that N
    /// input frames give round(N * out / in) output frames in all.
    pub(crate) fn finish(&mut self, sink: &mut SinkFn<'_>) -> Result<()> {
        let target = self.expected_out();
        let ch = self.channels;
        let need = self.chunk_in as usize * ch;
        // The last partial chunk, then silence until the delayed tail is out.
        let mut input = std::mem::take(&mut self.pending);
        let mut have = input.len() / ch;
        input.resize(need, 0.0);
        let mut guard = 0;
        let mut res = Ok(());
        while res.is_ok() && self.raw_out < target + self.delay {
            res = self.run(&input, Some(have), Some(target), sink);
            input.fill(0.0);
            have = 0;
            guard += 1;
            if guard > 64 {
                res = Err(Error::Internal("resampler did not drain".into()));
            }
        }
        input.clear();
        self.pending = input;
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(in_rate: u32, out_rate: u32, frames: usize) -> Vec<f32> {
        let mut rs = Resampler::new(in_rate, out_rate, 1).unwrap();
        let input: Vec<f32> = (0..frames)
            .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / in_rate as f32).sin() * 0.5)
            .collect();
        let mut out = Vec::new();
        for block in input.chunks(700) {
            rs.push(block, &mut |b| {
                out.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        }
        rs.finish(&mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        out
    }

    /// A 440 Hz sine stays a 440 Hz sine with no delay: compare mid-signal.
    fn assert_sine_at_16k(out: &[f32]) {
        for (i, got) in out.iter().enumerate().take(4100).skip(4000) {
            let want = (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 0.5;
            assert!((got - want).abs() < 1e-3, "frame {i}: {got} vs {want}");
        }
    }

    /// Segments that start on chunk multiples, each with one chunk of pre-roll, give the
    /// whole pass's output bit for bit, and the same length.
    #[test]
    fn segments_with_preroll_equal_one_pass() {
        for (in_rate, out_rate, ch) in [
            (48_000, 16_000, 1),
            (44_100, 48_000, 2),
            (48_000, 44_100, 2),
        ] {
            let frames = 200_003usize;
            let input: Vec<f32> = (0..frames * ch)
                .map(|i| ((i as f32) * 0.0137).sin() * 0.6 + ((i % 97) as f32) * 0.001)
                .collect();
            let whole = run_with(in_rate, out_rate, ch, &input);
            let mut rs = Resampler::new(in_rate, out_rate, ch).unwrap();
            let c = rs.chunk_frames() as usize;
            let seg = c * 37;
            let mut joined = Vec::new();
            let mut pos = 0usize;
            while pos < frames || pos == 0 {
                let end = (pos + seg).min(frames);
                let pre = if pos == 0 { 0 } else { c };
                rs.start_segment(pos as u64, pre as u64);
                let first = rs.output_position(pos as u64) as usize;
                assert_eq!(first * ch, joined.len(), "{in_rate}->{out_rate} at {pos}");
                let mut sink = |b: &[f32]| {
                    joined.extend_from_slice(b);
                    Ok(())
                };
                for block in input[(pos - pre) * ch..end * ch].chunks(1000 * ch) {
                    rs.push(block, &mut sink).unwrap();
                }
                if end == frames {
                    rs.finish(&mut sink).unwrap();
                    break;
                }
                pos = end;
            }
            assert_eq!(joined.len(), whole.len(), "{in_rate}->{out_rate}");
            let first_diff = joined
                .iter()
                .zip(&whole)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(first_diff, None, "{in_rate}->{out_rate}");
        }
    }

    fn run_with(in_rate: u32, out_rate: u32, ch: usize, input: &[f32]) -> Vec<f32> {
        let mut rs = Resampler::new(in_rate, out_rate, ch).unwrap();
        let mut out = Vec::new();
        let mut sink = |b: &[f32]| {
            out.extend_from_slice(b);
            Ok(())
        };
        for block in input.chunks(777 * ch) {
            rs.push(block, &mut sink).unwrap();
        }
        rs.finish(&mut sink).unwrap();
        out
    }

    #[test]
    fn length_is_exact_and_signal_aligned() {
        let out = run(48_000, 16_000, 48_000);
        assert_eq!(out.len(), 16_000);
        assert_sine_at_16k(&out);
        // 44117 * 48000 / 44100 = 48018.8
        assert_eq!(run(44_100, 48_000, 44_100 + 17).len(), 48_019);
        // 44.1 kHz -> 16 kHz has odd minimal FFT blocks: the delay must still be exact.
        let out = run(44_100, 16_000, 44_100);
        assert_eq!(out.len(), 16_000);
        assert_sine_at_16k(&out);
    }
}
