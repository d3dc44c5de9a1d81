//! Float to integer PCM with optional TPDF dither. Rounding and clipping follow FFmpeg's
//! sample conversion (scale by 2^(bits-1), round to nearest, clip), so undithered output
//! equals FFmpeg's bit for bit.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub(crate) struct Quantiser {
    scale: f32,
    /// Clip bounds, exact in f64 (2^31 - 1 is not representable in f32).
    min: f64,
    max: f64,
    dither: bool,
    rng: SmallRng,
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
            rng: SmallRng::seed_from_u64(0x5EED_A0D1_07A9),
        }
    }

    #[inline]
    pub(crate) fn quantise(&mut self, x: f32) -> i32 {
        let mut v = f64::from(x) * f64::from(self.scale);
        if self.dither {
            // Triangular PDF over +-1 LSB: the difference of two uniform variables, both
            // taken from one 64-bit draw.
            let bits: u64 = self.rng.random();
            let (a, b) = ((bits >> 32) as u32, bits as u32);
            v += (f64::from(a) - f64::from(b)) * (1.0 / 4_294_967_296.0);
        }
        round_clip(v, self.min, self.max)
    }

    pub(crate) fn quantise_block(&mut self, block: &[f32], out: &mut Vec<i32>) {
        out.clear();
        out.reserve(block.len());
        if self.dither {
            out.extend(block.iter().map(|&x| self.quantise(x)));
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
        q.quantise_block(&[0.0, 1.0, -1.0, 0.5, 2.0, -0.25 / 32768.0], &mut out);
        assert_eq!(out, vec![0, 32767, -32768, 16384, 32767, 0]);
        let mut q = Quantiser::new(32, false);
        q.quantise_block(&[1.0, -1.0], &mut out);
        assert_eq!(out, vec![i32::MAX, i32::MIN]);
    }

    #[test]
    fn dither_stays_within_one_lsb() {
        let mut q = Quantiser::new(16, true);
        for _ in 0..10_000 {
            let v = q.quantise(0.25);
            assert!((v - 8192).abs() <= 1, "{v}");
        }
    }
}
