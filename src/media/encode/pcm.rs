//! WAV sample data: float samples quantised (with dither where asked) and laid out as
//! little-endian PCM, or passed through as 32-bit float. Any thread can pack, in any order:
//! the bytes depend only on the samples and their position (see [`Quantiser`]).

use crate::media::dsp::Quantiser;

/// Packs float samples as a WAV's sample data.
#[derive(Clone)]
pub(crate) struct WavPacker {
    bits: u16,
    float: bool,
    quantiser: Quantiser,
    ints: Vec<i32>,
}

impl WavPacker {
    /// A packer for `bits`-bit integer samples (TPDF dither when `dither`), or for 32-bit
    /// float samples when `float`.
    pub(crate) fn new(bits: u16, float: bool, dither: bool) -> Self {
        WavPacker {
            bits,
            float,
            quantiser: Quantiser::new(bits, dither),
            ints: Vec::new(),
        }
    }

    /// Append `block` (interleaved; its first sample at output sample `pos`) to `out` as
    /// little-endian PCM.
    pub(crate) fn pack(&mut self, block: &[f32], pos: u64, out: &mut Vec<u8>) {
        if self.float {
            out.reserve(block.len() * 4);
            for &x in block {
                out.extend_from_slice(&x.to_le_bytes());
            }
            return;
        }
        self.quantiser.quantise_block_at(block, pos, &mut self.ints);
        let width = usize::from(self.bits / 8);
        let at = out.len();
        out.resize(at + self.ints.len() * width, 0);
        let dst = &mut out[at..];
        match width {
            // 8-bit WAV is unsigned, centred on 128.
            1 => {
                for (o, &v) in dst.iter_mut().zip(&self.ints) {
                    *o = (v + 128) as u8;
                }
            }
            2 => {
                for (o, &v) in dst.chunks_exact_mut(2).zip(&self.ints) {
                    o.copy_from_slice(&(v as i16).to_le_bytes());
                }
            }
            3 => {
                for (o, &v) in dst.chunks_exact_mut(3).zip(&self.ints) {
                    o.copy_from_slice(&v.to_le_bytes()[..3]);
                }
            }
            _ => {
                for (o, &v) in dst.chunks_exact_mut(4).zip(&self.ints) {
                    o.copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
}
