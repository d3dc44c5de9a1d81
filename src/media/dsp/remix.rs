//! Channel selection, downmix and upmix with the coefficients FFmpeg's swresample uses by
//! default (ITU-R BS.775 downmix, -3 dB centre and surround, LFE dropped), normalised so a
//! full-scale input cannot clip.

use std::f32::consts::FRAC_1_SQRT_2;

/// A fixed mixing matrix: `out[o] = sum_i m[o][i] * in[i]`.
#[derive(Debug, Clone)]
pub(crate) struct Remix {
    inputs: usize,
    outputs: usize,
    /// Row-major `outputs x inputs`.
    matrix: Vec<f32>,
}

impl Remix {
    /// Channel order is FFmpeg's / WAVE's: FL FR FC LFE BL BR (SL SR) ...
    pub(crate) fn new(inputs: usize, outputs: usize) -> Self {
        let mut m = vec![0.0f32; outputs * inputs];
        let mut set = |o: usize, i: usize, v: f32| m[o * inputs + i] = v;
        const FL: usize = 0;
        const FR: usize = 1;
        const FC: usize = 2;
        match (inputs, outputs) {
            (2, 1) => {
                set(0, FL, FRAC_1_SQRT_2);
                set(0, FR, FRAC_1_SQRT_2);
            }
            (1, 2) => {
                set(FL, 0, FRAC_1_SQRT_2);
                set(FR, 0, FRAC_1_SQRT_2);
            }
            (6, 2) | (8, 2) => {
                // 5.1: FL FR FC LFE SL SR; 7.1 adds SL SR after BL BR.
                set(FL, FL, 1.0);
                set(FR, FR, 1.0);
                set(FL, FC, FRAC_1_SQRT_2);
                set(FR, FC, FRAC_1_SQRT_2);
                for s in (4..inputs).step_by(2) {
                    set(FL, s, FRAC_1_SQRT_2);
                    set(FR, s + 1, FRAC_1_SQRT_2);
                }
            }
            (6, 1) => {
                set(0, FC, 1.0);
                set(0, FL, FRAC_1_SQRT_2);
                set(0, FR, FRAC_1_SQRT_2);
                set(0, 4, 0.5);
                set(0, 5, 0.5);
            }
            (n, 1) => {
                for i in 0..n {
                    set(0, i, 1.0);
                }
            }
            (n, k) => {
                // Keep the first channels in place; extra outputs are silent.
                for c in 0..n.min(k) {
                    set(c, c, 1.0);
                }
            }
        }
        // Normalise so that no output can exceed full scale.
        let max_row = (0..outputs)
            .map(|o| {
                m[o * inputs..(o + 1) * inputs]
                    .iter()
                    .map(|v| v.abs())
                    .sum::<f32>()
            })
            .fold(0.0f32, f32::max);
        if max_row > 1.0 {
            m.iter_mut().for_each(|v| *v /= max_row);
        }
        Remix {
            inputs,
            outputs,
            matrix: m,
        }
    }

    /// True when every output is a plain copy of an input or silence.
    pub(crate) fn is_exact(&self) -> bool {
        self.matrix.iter().all(|&v| v == 0.0 || v == 1.0)
    }

    pub(crate) fn apply(&self, input: &[f32], out: &mut Vec<f32>) {
        let frames = input.len() / self.inputs;
        out.clear();
        out.resize(frames * self.outputs, 0.0);
        if self.inputs == 2 && self.outputs == 1 {
            let (a, b) = (self.matrix[0], self.matrix[1]);
            for (o, f) in out.iter_mut().zip(input.chunks_exact(2)) {
                *o = a * f[0] + b * f[1];
            }
            return;
        }
        for (o, f) in out
            .chunks_exact_mut(self.outputs)
            .zip(input.chunks_exact(self.inputs))
        {
            for (k, slot) in o.iter_mut().enumerate() {
                let row = &self.matrix[k * self.inputs..(k + 1) * self.inputs];
                *slot = row.iter().zip(f).map(|(c, x)| c * x).sum();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_to_mono_averages() {
        let r = Remix::new(2, 1);
        let mut out = Vec::new();
        r.apply(&[1.0, 0.0, 0.5, 0.5], &mut out);
        assert!((out[0] - 0.5).abs() < 1e-6 && (out[1] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn five_one_downmix_never_clips() {
        let r = Remix::new(6, 2);
        let mut out = Vec::new();
        r.apply(&[1.0; 6], &mut out);
        assert!(out.iter().all(|v| (*v - 1.0).abs() < 1e-6), "{out:?}");
        r.apply(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0], &mut out);
        assert_eq!(out, vec![0.0, 0.0], "LFE is dropped");
    }
}
