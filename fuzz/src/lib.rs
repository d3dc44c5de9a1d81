//! What the fuzz targets share: a scratch folder per process, tight limits, the rule
//! every target enforces on errors, and the writer round trip.

#![allow(dead_code, unused_imports, unreachable_pub, clippy::all)]

pub use audiotap::{Error, Result, media};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use media::Limits;

/// A folder of this process's own (on /dev/shm when there is one: no disk I/O per run).
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new("/dev/shm");
        let b = tempfile::Builder::new()
            .prefix("audiotap-fuzz-")
            .tempdir_in(if base.is_dir() {
                base.to_path_buf()
            } else {
                std::env::temp_dir()
            });
        b.expect("scratch dir")
    })
    .path()
}

/// Write `data` to `<scratch>/<name>` and return its path.
pub fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let p = scratch_dir().join(name);
    std::fs::write(&p, data).expect("write scratch input");
    p
}

/// Limits small enough that one run stays fast whatever the input claims.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_duration_secs: 120.0,
        max_output_bytes: 64 << 20,
        max_input_bytes: 16 << 20,
        ..Limits::default()
    }
}

/// The rule for hostile input: any error is fine as long as it is a client-side one (bad,
/// unsupported or over a limit). `internal` and `io_error` would be a 500 in the API, so
/// they count as findings, like a panic.
pub fn check_error(what: &str, e: &Error) {
    if matches!(e, Error::Internal(_) | Error::Io { .. } | Error::Canceled) {
        panic!(
            "{what}: hostile input gave a server-side error [{}]: {e}",
            e.code()
        );
    }
}

/// Probe with one engine; errors are checked, results sanity-checked.
pub fn probe_one(path: &Path, engine: media::Engine) {
    match media::probe(&media::Input::file(path), engine) {
        Ok(info) => {
            for t in info.audio_tracks() {
                if let Some(d) = t.duration {
                    assert!(d.is_finite() && d >= 0.0, "probe: track duration {d}");
                }
            }
        }
        Err(e) => check_error("probe", &e),
    }
}

/// Extract `input` with `spec` into a scratch output; on success the output must exist and
/// the report must be sane, on failure the error must be a client-side one.
pub fn extract_one(input: &Path, spec: &media::OutputSpec) {
    let out = scratch_dir().join(format!("out.{}", spec.format.extension()));
    let _ = std::fs::remove_file(&out);
    let input = media::Input::file(input);
    match media::extract(&input, spec, &out, &fuzz_limits(), media::Control::default()) {
        Ok(report) => {
            assert!(
                report.duration.is_finite() && report.duration >= 0.0,
                "extract: report duration {}",
                report.duration
            );
            let len = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            assert!(len > 0, "extract succeeded without an output file");
            assert_eq!(len, report.bytes_written, "report's byte count");
        }
        Err(e) => check_error("extract", &e),
    }
}

/// Write `samples` (interleaved) with one of the writers, then read the file back and check
/// what it says. `kind`: 0..=4 WAV 8/16/24/32/32f, 5..=6 ALAC 16/24, 7 AAC.
pub fn write_and_read_back(kind: u8, rate: u32, channels: usize, samples: &[f32]) {
    use media::fuzzing::{Writer, write};
    let wav = kind <= 4;
    let path = scratch_dir().join(if wav { "w.wav" } else { "w.m4a" });
    let _ = std::fs::remove_file(&path);
    let writer = match kind {
        0..=3 => Writer::Wav { bits: [8, 16, 24, 32][kind as usize], float: false },
        4 => Writer::Wav { bits: 32, float: true },
        5 | 6 => Writer::Alac { bits: if kind == 5 { 16 } else { 24 } },
        _ => Writer::Aac { bitrate: 128_000 },
    };
    let whole = samples.len() - samples.len() % channels;
    let frames = match write(&path, writer, rate, channels, &samples[..whole], 97) {
        Ok(f) => f,
        // An encoder may refuse a rate/channel combination: that is an options error.
        Err(e) => return check_error("writer", &e),
    };
    if wav {
        assert_eq!(frames as usize, whole / channels, "frames reported by the WAV writer");
        let r = hound::WavReader::open(&path).expect("the WAV writer's output must be readable");
        let s = r.spec();
        assert_eq!((s.sample_rate, s.channels as usize), (rate, channels), "WAV header");
        assert_eq!(r.duration() as u64, frames, "WAV data length");
        if kind == 4 {
            // Float output is written as it came, bit for bit.
            let back: Vec<f32> = r.into_samples::<f32>().map(|x| x.expect("float sample")).collect();
            assert!(
                back.iter().zip(&samples[..whole]).all(|(a, b)| a.to_bits() == b.to_bits()),
                "32-bit float samples changed on the way through"
            );
        }
    } else if frames > 0 {
        let info = media::probe(&media::Input::file(&path), media::Engine::Ffmpeg).expect("the M4A writer's output must probe");
        let t = info.audio_tracks().next().expect("an audio track in the M4A output");
        assert_eq!(t.channels, Some(channels as u16), "M4A channels");
        assert_eq!(t.sample_rate, Some(rate), "M4A sample rate");
    }
}
