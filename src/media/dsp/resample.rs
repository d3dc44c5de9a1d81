//! Streaming sample-rate conversion with rubato's FFT resampler (synchronous: the ratio is
//! exactly out/in). The resampler's delay is trimmed and the tail flushed, so N input
//! frames become round(N * out / in) output frames, aligned with the input.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

use super::SinkFn;
use crate::error::{Error, Result};

const CHUNK: usize = 1024;

pub(crate) struct Resampler {
    inner: Fft<f32>,
    channels: usize,
    in_rate: u64,
    out_rate: u64,
    pending: Vec<f32>,
    out: Vec<f32>,
    delay_left: usize,
    frames_in: u64,
    frames_out: u64,
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
        let delay_left = inner.output_delay();
        Ok(Resampler {
            inner,
            channels,
            in_rate: u64::from(in_rate),
            out_rate: u64::from(out_rate),
            pending: Vec::with_capacity(CHUNK * 2 * channels),
            out,
            delay_left,
            frames_in: 0,
            frames_out: 0,
        })
    }

    fn expected_out(&self) -> u64 {
        (self.frames_in * self.out_rate + self.in_rate / 2) / self.in_rate
    }

    /// Run one chunk (`partial` frames valid when given) and emit what is past the delay,
    /// never more than `limit` frames in total.
    fn run(
        &mut self,
        partial: Option<usize>,
        limit: Option<u64>,
        sink: &mut SinkFn<'_>,
    ) -> Result<()> {
        let ch = self.channels;
        let need = self.inner.input_frames_next();
        let valid = partial.unwrap_or(need);
        if self.pending.len() < need * ch {
            self.pending.resize(need * ch, 0.0);
        }
        let input = InterleavedSlice::new(&self.pending[..need * ch], ch, need).map_err(rerr)?;
        let cap = self.out.len() / ch;
        let mut output = InterleavedSlice::new_mut(&mut self.out[..], ch, cap).map_err(rerr)?;
        let indexing = partial.map(|p| Indexing::new().partial_len(p));
        let (_, written) = self
            .inner
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .map_err(rerr)?;
        self.pending.drain(..valid.min(need) * ch);
        let skip = self.delay_left.min(written);
        self.delay_left -= skip;
        let mut emit = written - skip;
        if let Some(limit) = limit {
            emit = emit.min(limit.saturating_sub(self.frames_out) as usize);
        }
        if emit > 0 {
            self.frames_out += emit as u64;
            sink(&self.out[skip * ch..(skip + emit) * ch])?;
        }
        Ok(())
    }

    pub(crate) fn push(&mut self, block: &[f32], sink: &mut SinkFn<'_>) -> Result<()> {
        let ch = self.channels;
        self.frames_in += (block.len() / ch) as u64;
        self.pending.extend_from_slice(block);
        while self.pending.len() >= self.inner.input_frames_next() * ch {
            self.run(None, None, sink)?;
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, sink: &mut SinkFn<'_>) -> Result<()> {
        let target = self.expected_out();
        let ch = self.channels;
        // The last partial chunk, then silence until the delayed tail is out.
        let mut guard = 0;
        while self.frames_out < target {
            let have = self.pending.len() / ch;
            self.run(
                Some(have.min(self.inner.input_frames_next())),
                Some(target),
                sink,
            )?;
            guard += 1;
            if guard > 64 {
                return Err(Error::Internal("resampler did not drain".into()));
            }
        }
        Ok(())
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
