//! Float to integer PCM with optional TPDF dither. Rounding and clipping follow FFmpeg's
//! sample conversion (scale by 2^(bits-1), round to nearest, clip), so undithered output
//! equals FFmpeg's bit for bit.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub(crate) struct Quantiser {
    scale: f32,
    min: f32,
    max: f32,
    dither: bool,
    rng: SmallRng,
}

impl Quantiser {
    /// `bits` in 8..=32. Dither is seeded, so the same job gives the same bytes.
    pub(crate) fn new(bits: u16, dither: bool) -> Self {
        let scale = (1u64 << (bits - 1)) as f32;
        Quantiser {
            scale,
            min: -scale,
            max: scale - 1.0,
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
        round_clip(v, f64::from(self.min), f64::from(self.max))
    }

    pub(crate) fn quantise_block(&mut self, block: &[f32], out: &mut Vec<i32>) {
        out.clear();
        out.reserve(block.len());
        if self.dither {
            out.extend(block.iter().map(|&x| self.quantise(x)));
        } else {
            let (scale, min, max) = (
                f64::from(self.scale),
                f64::from(self.min),
                f64::from(self.max),
            );
            out.extend(
                block
                    .iter()
                    .map(|&x| round_clip(f64::from(x) * scale, min, max)),
            );
        }
    }
}

/// Round half to even and clip, without a libm call: adding 1.5 * 2^52 leaves no fraction
/// bits in an f64, so the FPU's default rounding (to nearest, ties to even) does the work.
/// Exact for |v| < 2^51, far beyond any 32-bit sample.
#[inline(always)]
fn round_clip(v: f64, min: f64, max: f64) -> i32 {
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let r = (v + MAGIC) - MAGIC;
    r.clamp(min, max) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

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
