//! WAV output: 8/16/24/32-bit integer or 32-bit float.
//!
//! hound writes the header (format chunk, WAVE_FORMAT_EXTENSIBLE and channel mask where
//! needed). The sample data is packed by [`WavPacker`], a block at a time, straight into a
//! buffered file: hound's per-sample `write_sample` cost about 2.5 ns a sample, which made
//! the writer thread the bottleneck of 24-bit jobs (a 60-minute stereo file is 345 M
//! samples). At the end the RIFF and data chunk sizes in hound's header are filled in. RIFF
//! sizes are 32-bit: an output that would pass 4 GiB is refused, never truncated.

use std::fs::File;
use std::io::{BufWriter, Cursor, Seek, SeekFrom, Write};
use std::path::Path;

use hound::{SampleFormat, WavSpec, WavWriter};

use super::pcm::WavPacker;
use super::sink::{Packed, Packer, Sink};
use crate::error::{Error, Result};

/// RIFF sizes are u32; leave room for the header.
pub(crate) const MAX_WAV_DATA_BYTES: u64 = u32::MAX as u64 - 1024;

pub(crate) struct WavSink {
    out: Option<BufWriter<File>>,
    /// Offset of the data chunk's size field in the header.
    data_size_at: u64,
    channels: usize,
    /// Bytes per frame.
    frame_bytes: u64,
    packer: WavPacker,
    bytes: Vec<u8>,
    frames: u64,
    data_bytes: u64,
    max_data_bytes: u64,
}

fn werr(e: std::io::Error) -> Error {
    Error::io("cannot write the WAV output", e)
}

/// hound's header for `spec` with an empty data chunk, and where the data size sits in it.
fn header(spec: WavSpec) -> Result<(Vec<u8>, u64)> {
    let mut buf = Cursor::new(Vec::with_capacity(128));
    WavWriter::new(&mut buf, spec)
        .and_then(WavWriter::finalize)
        .map_err(|e| Error::Internal(format!("WAV header: {e}")))?;
    let header = buf.into_inner();
    let at = header
        .windows(4)
        .rposition(|w| w == b"data")
        .filter(|&p| p + 8 == header.len())
        .ok_or_else(|| Error::Internal("WAV header without a trailing data chunk".into()))?;
    Ok((header, at as u64 + 4))
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
        let (header, data_size_at) = header(spec)?;
        let file = File::create(path)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&header).map_err(werr)?;
        Ok(WavSink {
            out: Some(out),
            data_size_at,
            channels,
            frame_bytes: channels as u64 * u64::from(bits / 8),
            packer: WavPacker::new(bits, float, dither),
            bytes: Vec::new(),
            frames: 0,
            data_bytes: 0,
            max_data_bytes: max_bytes.min(MAX_WAV_DATA_BYTES),
        })
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if self.data_bytes + bytes.len() as u64 > self.max_data_bytes {
            return Err(Error::LimitExceeded(format!(
                "the WAV output would exceed {} bytes (RIFF sizes are 32-bit): use M4A, a lower rate or depth, or --duration",
                self.max_data_bytes
            )));
        }
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| Error::Internal("WAV writer used after finish".into()))?;
        out.write_all(bytes).map_err(werr)?;
        self.data_bytes += bytes.len() as u64;
        self.frames += bytes.len() as u64 / self.frame_bytes;
        Ok(())
    }
}

impl Sink for WavSink {
    fn packer(&self) -> Packer {
        Packer::Wav(self.packer.clone(), Vec::new())
    }

    fn commit(&mut self, packed: &Packed) -> Result<()> {
        match packed {
            Packed::Bytes(b) => self.write_bytes(b),
            Packed::Samples(s) => self.write(s),
        }
    }

    fn write(&mut self, block: &[f32]) -> Result<()> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        let pos = self.frames * self.channels as u64;
        self.packer.pack(block, pos, &mut bytes);
        let res = self.write_bytes(&bytes);
        self.bytes = bytes;
        res
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        let Some(mut out) = self.out.take() else {
            return Ok(self.frames);
        };
        // Chunks are word-aligned: an odd-sized data chunk gets a pad byte after it.
        if self.data_bytes % 2 == 1 {
            out.write_all(&[0]).map_err(werr)?;
        }
        let end = out.stream_position().map_err(werr)?;
        let riff_size = u32::try_from(end - 8)
            .map_err(|_| Error::LimitExceeded("the WAV output passed 4 GiB".into()))?;
        let data_size = u32::try_from(self.data_bytes)
            .map_err(|_| Error::LimitExceeded("the WAV output passed 4 GiB".into()))?;
        out.seek(SeekFrom::Start(4)).map_err(werr)?;
        out.write_all(&riff_size.to_le_bytes()).map_err(werr)?;
        out.seek(SeekFrom::Start(self.data_size_at)).map_err(werr)?;
        out.write_all(&data_size.to_le_bytes()).map_err(werr)?;
        out.flush().map_err(werr)?;
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

    /// Every depth hound reads back as written, with the sizes filled in.
    #[test]
    fn hound_reads_back_every_depth() {
        let dir = tempfile::tempdir().unwrap();
        let block: Vec<f32> = (0..301).map(|i| ((i as f32) * 0.01).sin() * 0.8).collect();
        for (bits, float, channels) in [
            (8, false, 1),
            (16, false, 2),
            (24, false, 1),
            (32, false, 6),
            (32, true, 2),
        ] {
            let path = dir.path().join(format!("{bits}-{float}-{channels}.wav"));
            let n = block.len() / channels * channels;
            let mut sink = Box::new(
                WavSink::create(&path, 44_100, channels, bits, float, false, u64::MAX).unwrap(),
            );
            sink.write(&block[..n]).unwrap();
            assert_eq!(sink.finish().unwrap(), (n / channels) as u64);
            let mut r = hound::WavReader::open(&path).unwrap();
            let spec = r.spec();
            assert_eq!(
                (spec.bits_per_sample, spec.channels as usize),
                (bits, channels)
            );
            assert_eq!(r.len() as usize, n, "{bits} bits {channels} ch");
            let scale = (1i64 << (bits - 1)) as f32;
            let got: Vec<f32> = if float {
                r.samples::<f32>().map(Result::unwrap).collect()
            } else {
                r.samples::<i32>()
                    .map(|s| s.unwrap() as f32 / scale)
                    .collect()
            };
            for (g, w) in got.iter().zip(&block[..n]) {
                assert!(
                    (g - w).abs() <= 1.0 / scale + 1e-6,
                    "{bits} bits: {g} vs {w}"
                );
            }
        }
    }
}
