//! WAV files: reading them whole (hound), a raw RIFF parse for streamed output whose sizes
//! may be placeholders, and the check of a `--json` report against the file it describes.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::reference::Depth;

#[derive(Debug, Clone)]
pub struct Wav {
    pub spec: hound::WavSpec,
    pub frames: usize,
    /// Interleaved samples normalised to [-1, 1).
    pub samples: Vec<f64>,
    /// Interleaved raw values (integers, or f32 bit patterns) for exact comparison.
    pub raw: Vec<i64>,
    /// Frames the header declares (the data chunk's length over the block size).
    pub header_frames: u32,
}

impl Wav {
    pub fn channel(&self, c: usize) -> Vec<f64> {
        let n = self.spec.channels as usize;
        self.samples.iter().skip(c).step_by(n).copied().collect()
    }
    pub fn mono(&self) -> Vec<f64> {
        let n = self.spec.channels as usize;
        self.samples
            .chunks(n)
            .map(|f| f.iter().sum::<f64>())
            .collect()
    }
    pub fn header(&self) -> (u16, u32, u16, hound::SampleFormat) {
        (
            self.spec.channels,
            self.spec.sample_rate,
            self.spec.bits_per_sample,
            self.spec.sample_format,
        )
    }
}

pub fn read_wav(path: &Path) -> Result<Wav, String> {
    let r = hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    wav_from_reader(r).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn read_wav_bytes(bytes: &[u8]) -> Result<Wav, String> {
    let r = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    wav_from_reader(r).map_err(|e| e.to_string())
}

fn wav_from_reader<R: Read>(mut r: hound::WavReader<R>) -> Result<Wav, hound::Error> {
    let spec = r.spec();
    let header_frames = r.duration();
    let (samples, raw): (Vec<f64>, Vec<i64>) = match spec.sample_format {
        hound::SampleFormat::Float => {
            let v: Vec<f32> = r.samples::<f32>().collect::<Result<_, _>>()?;
            (
                v.iter().map(|&x| x as f64).collect(),
                v.iter().map(|x| x.to_bits() as i64).collect(),
            )
        }
        hound::SampleFormat::Int => {
            let v: Vec<i32> = r.samples::<i32>().collect::<Result<_, _>>()?;
            let scale = (1u64 << (spec.bits_per_sample - 1)) as f64;
            (
                v.iter().map(|&x| x as f64 / scale).collect(),
                v.iter().map(|&x| x as i64).collect(),
            )
        }
    };
    let frames = samples.len() / spec.channels.max(1) as usize;
    Ok(Wav {
        spec,
        frames,
        samples,
        raw,
        header_frames,
    })
}

/// `(sample_rate, channels, bits, frames)` of a WAV whose every sample reads and whose data
/// length agrees with its header; panics otherwise.
pub fn wav_info(bytes: &[u8]) -> (u32, u16, u16, u32) {
    let w = read_wav_bytes(bytes).unwrap_or_else(|e| panic!("not a valid WAV: {e}"));
    assert_eq!(
        w.samples.len() as u64,
        u64::from(w.header_frames) * u64::from(w.spec.channels),
        "WAV data length disagrees with its header"
    );
    (
        w.spec.sample_rate,
        w.spec.channels,
        w.spec.bits_per_sample,
        w.header_frames,
    )
}

/// Minimal RIFF/WAVE parse of a byte buffer: (format tag, channels, rate, bits, data
/// offset, declared data length). Used for streamed (stdout) output whose sizes may be
/// placeholders.
pub fn riff_info(b: &[u8]) -> Result<(u16, u16, u32, u16, usize, u32), String> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err("no RIFF/WAVE header".into());
    }
    let mut pos = 12;
    let mut fmt = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().unwrap());
        let body = pos + 8;
        if id == b"fmt " {
            if body + 16 > b.len() {
                return Err("short fmt chunk".into());
            }
            let tag = u16::from_le_bytes([b[body], b[body + 1]]);
            let ch = u16::from_le_bytes([b[body + 2], b[body + 3]]);
            let rate = u32::from_le_bytes(b[body + 4..body + 8].try_into().unwrap());
            let bits = u16::from_le_bytes([b[body + 14], b[body + 15]]);
            fmt = Some((tag, ch, rate, bits));
        } else if id == b"data" {
            let (tag, ch, rate, bits) = fmt.ok_or("data chunk before fmt chunk")?;
            return Ok((tag, ch, rate, bits, body, len));
        }
        pos = body + len as usize + (len as usize & 1);
    }
    Err("no data chunk".into())
}

/// Checks the `--json` report of a WAV extraction against the file it describes.
/// Returns the list of mismatches.
pub fn check_wav_report(
    report: &Value,
    out_path: &Path,
    wav: &Wav,
    depth: Depth,
    engine: Option<&str>,
    track: usize,
    source_codec: &str,
) -> Vec<String> {
    let mut errs = Vec::new();
    let mut expect = |key: &str, got: &Value, want: Value| {
        if *got != want {
            errs.push(format!("report.{key} = {got}, expected {want}"));
        }
    };
    expect("format", &report["format"], "wav".into());
    expect("codec", &report["codec"], depth.ffmpeg_codec().into());
    expect("copied", &report["copied"], false.into());
    expect(
        "sample_rate",
        &report["sample_rate"],
        wav.spec.sample_rate.into(),
    );
    expect("channels", &report["channels"], wav.spec.channels.into());
    expect("bit_depth", &report["bit_depth"], depth.bits().into());
    expect(
        "sample_format",
        &report["sample_format"],
        if depth.is_float() { "float" } else { "int" }.into(),
    );
    expect("frames", &report["frames"], (wav.frames as u64).into());
    if let Some(e) = engine {
        expect("engine", &report["engine"], e.into());
    }
    expect(
        "source.track",
        &report["source"]["track"],
        (track as u64).into(),
    );
    expect(
        "source.codec",
        &report["source"]["codec"],
        source_codec.into(),
    );
    let size = std::fs::metadata(out_path).map(|m| m.len()).unwrap_or(0);
    expect("bytes_written", &report["bytes_written"], size.into());
    match report["duration"].as_f64() {
        Some(d) if (d - wav.frames as f64 / wav.spec.sample_rate as f64).abs() < 1e-3 => {}
        _ => errs.push(format!(
            "report.duration = {} but the file holds {} frames at {} Hz",
            report["duration"], wav.frames, wav.spec.sample_rate
        )),
    }
    errs
}
