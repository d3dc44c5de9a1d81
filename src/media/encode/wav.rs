//! WAV output through hound: 8/16/24/32-bit integer or 32-bit float. hound writes the
//! classic RIFF header, whose sizes are 32-bit: an output that would pass 4 GiB is refused
//! before it is written, and again while writing should the estimate be wrong.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use hound::{SampleFormat, WavSpec, WavWriter};

use super::Sink;
use crate::error::{Error, Result};
use crate::media::dsp::Quantiser;

/// RIFF sizes are u32; leave room for the header.
pub(crate) const MAX_WAV_DATA_BYTES: u64 = u32::MAX as u64 - 1024;

pub(crate) struct WavSink {
    writer: Option<WavWriter<BufWriter<File>>>,
    bits: u16,
    float: bool,
    channels: usize,
    quantiser: Quantiser,
    ints: Vec<i32>,
    frames: u64,
    max_data_bytes: u64,
}

fn herr(e: hound::Error) -> Error {
    match e {
        hound::Error::IoError(e) => Error::io("cannot write the WAV output", e),
        other => Error::Internal(format!("WAV writer: {other}")),
    }
}

impl WavSink {
    pub(crate) fn create(
        path: &Path,
        rate: u32,
        channels: usize,
        bits: u16,
        float: bool,
        dither: bool,
        max_bytes: u64,
    ) -> Result<Self> {
        let spec = WavSpec {
            channels: channels as u16,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float {
                SampleFormat::Float
            } else {
                SampleFormat::Int
            },
        };
        let file = File::create(path)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        let writer = WavWriter::new(BufWriter::with_capacity(1 << 20, file), spec).map_err(herr)?;
        Ok(WavSink {
            writer: Some(writer),
            bits,
            float,
            channels,
            quantiser: Quantiser::new(bits, dither),
            ints: Vec::new(),
            frames: 0,
            max_data_bytes: max_bytes.min(MAX_WAV_DATA_BYTES),
        })
    }
}

impl Sink for WavSink {
    fn write(&mut self, block: &[f32]) -> Result<()> {
        let frames = (block.len() / self.channels) as u64;
        let bytes = (self.frames + frames) * self.channels as u64 * u64::from(self.bits / 8);
        if bytes > self.max_data_bytes {
            return Err(Error::LimitExceeded(format!(
                "the WAV output would exceed {} bytes (RIFF sizes are 32-bit): use M4A, a lower rate or depth, or --duration",
                self.max_data_bytes
            )));
        }
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::Internal("WAV writer used after finish".into()))?;
        if self.float {
            for &x in block {
                w.write_sample(x).map_err(herr)?;
            }
        } else {
            self.quantiser.quantise_block(block, &mut self.ints);
            match self.bits {
                8 => {
                    for &v in &self.ints {
                        w.write_sample(v as i8).map_err(herr)?;
                    }
                }
                16 => {
                    let mut w16 = w.get_i16_writer(self.ints.len() as u32);
                    for &v in &self.ints {
                        w16.write_sample(v as i16);
                    }
                    w16.flush().map_err(herr)?;
                }
                _ => {
                    for &v in &self.ints {
                        w.write_sample(v).map_err(herr)?;
                    }
                }
            }
        }
        self.frames += frames;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        if let Some(w) = self.writer.take() {
            w.finalize().map_err(herr)?;
        }
        Ok(self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_limit_is_refused_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.wav");
        // A limit of 4000 data bytes stands in for the 4 GiB RIFF ceiling.
        let mut sink = Box::new(WavSink::create(&path, 48_000, 2, 16, false, false, 4000).unwrap());
        sink.write(&[0.1; 2000]).unwrap(); // 1000 frames = 4000 bytes: at the limit
        let err = sink.write(&[0.1; 2]).unwrap_err();
        assert_eq!(err.code(), "limit_exceeded");
        assert!(MAX_WAV_DATA_BYTES < u64::from(u32::MAX));
    }
}
