//! Float to integer PCM with optional TPDF dither. Rounding and clipping follow FFmpeg's
//! sample conversion (scale by 2^(bits-1), round to nearest, clip), so undithered output
//! equals FFmpeg's bit for bit.
//!
//! The dither noise is a function of the sample's position in the output, not of the order
//! in which blocks are quantised: the generator is reseeded from the position at the start
//! of every run of [`DITHER_RUN`] samples. Segments quantised on different threads therefore
//! give the same bytes as one pass over the whole output, and the same job always gives the
//! same bytes.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Samples (interleaved) drawn from one seeding of the dither generator.
const DITHER_RUN: u64 = 1 << 16;
const DITHER_SEED: u64 = 0x5EED_A0D1_07A9;

#[derive(Clone)]
pub(crate) struct Quantiser {
    scale: f32,
    /// Clip bounds, exact in f64 (2^31 - 1 is not representable in f32).
    min: f64,
    max: f64,
    dither: bool,
    rng: SmallRng,
    /// The output position (interleaved samples) the generator's next draw belongs to.
    rng_pos: u64,
}

impl Quantiser {
    /// `bits` in 8..=32. Dither is seeded, so the same job gives the same bytes.
    pub(crate) fn new(bits: u16, dither: bool) -> Self {
        let full = 1u64 << (bits - 1);
        Quantiser {
            scale: full as f32,
            min: -(full as f64),
            max: (full - 1) as f64,
            dither,
            rng: Self::run_rng(0),
            rng_pos: 0,
        }
    }

    fn run_rng(run: u64) -> SmallRng {
        SmallRng::seed_from_u64(DITHER_SEED ^ run.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Put the generator at output position `pos`: reseed at the start of its run and
    /// skip the draws before it (none when the blocks come in order).
    fn seek(&mut self, pos: u64) {
        if pos == self.rng_pos {
            return;
        }
        let run = pos / DITHER_RUN;
        if run != self.rng_pos / DITHER_RUN || pos < self.rng_pos {
            self.rng = Self::run_rng(run);
            self.rng_pos = run * DITHER_RUN;
        }
        while self.rng_pos < pos {
            let _: u64 = self.rng.random();
            self.rng_pos += 1;
        }
    }

    /// Quantise `block`, whose first sample sits at output position `pos` (interleaved
    /// samples from the start of the output), into `out`.
    pub(crate) fn quantise_block_at(&mut self, block: &[f32], pos: u64, out: &mut Vec<i32>) {
        out.clear();
        out.reserve(block.len());
        if self.dither {
            self.seek(pos);
            let (scale, min, max) = (f64::from(self.scale), self.min, self.max);
            let mut rest = block;
            while !rest.is_empty() {
                if self.rng_pos.is_multiple_of(DITHER_RUN) {
                    self.rng = Self::run_rng(self.rng_pos / DITHER_RUN);
                }
                let n = ((DITHER_RUN - self.rng_pos % DITHER_RUN) as usize).min(rest.len());
                let rng = &mut self.rng;
                out.extend(rest[..n].iter().map(|&x| {
                    // Triangular PDF over +-1 LSB: the difference of two uniform
                    // variables, both taken from one 64-bit draw.
                    let bits: u64 = rng.random();
                    let (a, b) = ((bits >> 32) as u32, bits as u32);
                    let noise = (f64::from(a) - f64::from(b)) * (1.0 / 4_294_967_296.0);
                    round_clip(f64::from(x) * scale + noise, min, max)
                }));
                self.rng_pos += n as u64;
                rest = &rest[n..];
            }
        } else {
            let (scale, min, max) = (f64::from(self.scale), self.min, self.max);
            out.extend(
                block
                    .iter()
                    .map(|&x| round_clip(f64::from(x) * scale, min, max)),
            );
        }
    }
}

/// Round half to even and clip, without a libm call or a float-to-int conversion: after
/// clipping, adding 1.5 * 2^52 leaves no fraction bits in an f64, so the FPU's default
/// rounding (to nearest, ties to even) rounds, and the integer sits in the low 32 bits of
/// the sum's bit pattern (two's complement). Only min/max, an add and bit moves, which the
/// compiler vectorises. Exact for |v| < 2^51, far beyond any 32-bit sample. NaN clips to
/// `min` (`f64::max` returns the other operand).
#[inline(always)]
fn round_clip(v: f64, min: f64, max: f64) -> i32 {
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let clipped = v.max(min).min(max);
    (clipped + MAGIC).to_bits() as u32 as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_trick_equals_round_ties_even_then_clip() {
        let mut rng = SmallRng::seed_from_u64(7);
        for bits in [8u16, 16, 24, 32] {
            let scale = (1u64 << (bits - 1)) as f64;
            let (min, max) = (-scale, scale - 1.0);
            let mut values: Vec<f64> = (0..100_000)
                .map(|_| (rng.random::<f64>() * 2.4 - 1.2) * scale)
                .collect();
            values.extend([
                0.5,
                1.5,
                2.5,
                -0.5,
                -1.5,
                -2.5,
                max + 0.5,
                min - 0.5,
                max,
                min,
            ]);
            values.extend([f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300]);
            for v in values {
                let want = v.round_ties_even().clamp(min, max) as i32;
                assert_eq!(round_clip(v, min, max), want, "{bits} bits, {v}");
            }
        }
    }

    #[test]
    fn matches_ffmpeg_rounding_and_clipping() {
        let mut q = Quantiser::new(16, false);
        let mut out = Vec::new();
        q.quantise_block_at(&[0.0, 1.0, -1.0, 0.5, 2.0, -0.25 / 32768.0], 0, &mut out);
        assert_eq!(out, vec![0, 32767, -32768, 16384, 32767, 0]);
        let mut q = Quantiser::new(32, false);
        q.quantise_block_at(&[1.0, -1.0], 0, &mut out);
        assert_eq!(out, vec![i32::MAX, i32::MIN]);
    }

    #[test]
    fn dither_stays_within_one_lsb_and_is_not_constant() {
        let mut q = Quantiser::new(16, true);
        let mut out = Vec::new();
        q.quantise_block_at(&vec![0.25; 10_000], 0, &mut out);
        assert!(out.iter().all(|v| (v - 8192).abs() <= 1));
        assert!(out.iter().any(|&v| v != 8192));
    }

    /// Blocks quantised out of order, by different quantisers, across run boundaries,
    /// give the bytes of one pass in order.
    #[test]
    fn dither_depends_on_position_only() {
        let input: Vec<f32> = (0..300_000)
            .map(|i| ((i as f32) * 0.001).sin() * 0.7)
            .collect();
        let mut whole = Vec::new();
        Quantiser::new(16, true).quantise_block_at(&input, 0, &mut whole);
        let cuts = [0, 1, 65_535, 65_536, 70_001, 131_072, 200_000, 300_000];
        let mut pieces = vec![Vec::new(); cuts.len() - 1];
        let mut q = Quantiser::new(16, true);
        for i in (0..cuts.len() - 1).rev() {
            let (a, b) = (cuts[i], cuts[i + 1]);
            q.quantise_block_at(&input[a..b], a as u64, &mut pieces[i]);
        }
        let mut other = Quantiser::new(16, true);
        let mut again = Vec::new();
        other.quantise_block_at(&input[70_001..200_000], 70_001, &mut again);
        assert_eq!(pieces.concat(), whole);
        assert_eq!(again, whole[70_001..200_000]);
    }
}
