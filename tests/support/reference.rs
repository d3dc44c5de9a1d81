//! The ffmpeg/ffprobe reference: the same extraction run by audiotap and by the ffmpeg
//! CLI ([`ExtractArgs`] drives both), ffprobe's view of a file, and packet hashes.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use serde_json::Value;

use super::run::{Run, audiotap, tool};

pub fn ffprobe_json(path: &Path) -> Value {
    let r = tool(
        "ffprobe",
        [
            OsStr::new("-v"),
            OsStr::new("error"),
            OsStr::new("-print_format"),
            OsStr::new("json"),
            OsStr::new("-show_format"),
            OsStr::new("-show_streams"),
            path.as_os_str(),
        ],
    );
    r.json()
}

/// Hash column of `ffmpeg -i X -map 0:a:N -c copy -f framemd5 -`: one MD5 per packet.
/// For AAC the `aac_adtstoasc` filter strips ADTS headers (TS/ADTS sources) so packets
/// compare with their MP4 form; it leaves raw AAC packets untouched.
pub fn packet_md5s(path: &Path, audio_track: usize, aac: bool) -> Vec<String> {
    let map = format!("0:a:{audio_track}");
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("-v"),
        OsStr::new("error"),
        OsStr::new("-i"),
        path.as_os_str(),
        OsStr::new("-map"),
        OsStr::new(&map),
        OsStr::new("-c"),
        OsStr::new("copy"),
    ];
    if aac {
        args.extend([OsStr::new("-bsf:a"), OsStr::new("aac_adtstoasc")]);
    }
    args.extend([OsStr::new("-f"), OsStr::new("framemd5"), OsStr::new("-")]);
    let r = tool("ffmpeg", args);
    // Columns: stream, dts, pts, duration, size, hash[, side data...]
    r.stdout_str()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .nth(5)
                .expect("framemd5 hash column")
                .trim()
                .to_string()
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    U8,
    S16,
    S24,
    S32,
    F32,
}

impl Depth {
    pub fn arg(self) -> &'static str {
        match self {
            Depth::U8 => "8",
            Depth::S16 => "16",
            Depth::S24 => "24",
            Depth::S32 => "32",
            Depth::F32 => "32f",
        }
    }
    pub fn ffmpeg_codec(self) -> &'static str {
        match self {
            Depth::U8 => "pcm_u8",
            Depth::S16 => "pcm_s16le",
            Depth::S24 => "pcm_s24le",
            Depth::S32 => "pcm_s32le",
            Depth::F32 => "pcm_f32le",
        }
    }
    pub fn bits(self) -> u16 {
        match self {
            Depth::U8 => 8,
            Depth::S16 => 16,
            Depth::S24 => 24,
            Depth::S32 | Depth::F32 => 32,
        }
    }
    pub fn is_float(self) -> bool {
        self == Depth::F32
    }
}

#[derive(Debug, Clone, Default)]
/// The options of one extraction: they drive both `audiotap extract` ([`extract`]) and
/// the ffmpeg reference decode ([`ffmpeg_reference`]).
pub struct ExtractArgs {
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub depth: Option<Depth>,
    pub track: Option<usize>,
    pub language: Option<String>,
    pub start: Option<f64>,
    pub duration: Option<f64>,
    pub engine: Option<&'static str>,
}

impl ExtractArgs {
    pub fn depth(&self) -> Depth {
        self.depth.unwrap_or(Depth::S16)
    }
    /// The `audiotap extract` arguments for these options.
    pub fn cli_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(r) = self.sample_rate {
            a.extend(["--sample-rate".into(), r.to_string()]);
        }
        if let Some(c) = self.channels {
            a.extend(["--channels".into(), c.to_string()]);
        }
        if let Some(d) = self.depth {
            a.extend(["--bit-depth".into(), d.arg().to_string()]);
        }
        if let Some(t) = self.track {
            a.extend(["--track".into(), t.to_string()]);
        }
        if let Some(l) = &self.language {
            a.extend(["--language".into(), l.clone()]);
        }
        if let Some(s) = self.start {
            a.extend(["--start".into(), s.to_string()]);
        }
        if let Some(d) = self.duration {
            a.extend(["--duration".into(), d.to_string()]);
        }
        if let Some(e) = self.engine {
            a.extend(["--engine".into(), e.to_string()]);
        }
        a
    }
}

/// `audiotap extract INPUT -o OUT.wav <args> [extra]`; returns the run (not checked).
pub fn extract(input: &Path, out: &Path, args: &ExtractArgs, extra: &[&str]) -> Run {
    let mut cmd: Vec<OsString> = vec!["extract".into(), input.into(), "-o".into(), out.into()];
    cmd.extend(args.cli_args().into_iter().map(OsString::from));
    cmd.extend(extra.iter().map(OsString::from));
    audiotap(cmd)
}

/// ffmpeg reference decode of the same extraction into `out` (a WAV).
pub fn ffmpeg_reference(input: &Path, audio_track: usize, args: &ExtractArgs, out: &Path) -> Run {
    let mut a: Vec<OsString> = vec![
        "-v".into(),
        "error".into(),
        "-nostdin".into(),
        "-y".into(),
        "-i".into(),
        input.into(),
        "-map".into(),
        format!("0:a:{audio_track}").into(),
        "-vn".into(),
    ];
    if args.start.is_some() || args.duration.is_some() {
        // Trim by sample count on the decoded stream: `-ss/-t` after `-i` work on
        // timestamps, which Matroska rounds to 1 ms (16 samples off at 44.1 kHz).
        let rate = source_rate(input, audio_track) as f64;
        let s = (args.start.unwrap_or(0.0) * rate).round() as u64;
        let mut f = format!("atrim=start_sample={s}");
        if let Some(d) = args.duration {
            f += &format!(":end_sample={}", s + (d * rate).round() as u64);
        }
        a.extend(["-af".into(), f.into()]);
    }
    if let Some(r) = args.sample_rate {
        a.extend(["-ar".into(), r.to_string().into()]);
    }
    if let Some(c) = args.channels {
        a.extend(["-ac".into(), c.to_string().into()]);
    }
    a.extend([
        "-c:a".into(),
        args.depth().ffmpeg_codec().into(),
        "-map_metadata".into(),
        "-1".into(),
        "-fflags".into(),
        "+bitexact".into(),
        "-flags:a".into(),
        "+bitexact".into(),
        out.into(),
    ]);
    tool("ffmpeg", a)
}

/// Sample rate of the N-th audio track, from ffprobe.
pub fn source_rate(input: &Path, audio_track: usize) -> u32 {
    let r = tool(
        "ffprobe",
        [
            OsStr::new("-v"),
            OsStr::new("error"),
            OsStr::new("-select_streams"),
            OsStr::new(&format!("a:{audio_track}")),
            OsStr::new("-show_entries"),
            OsStr::new("stream=sample_rate"),
            OsStr::new("-of"),
            OsStr::new("csv=p=0"),
            input.as_os_str(),
        ],
    );
    // MPEG-TS lists the stream again under its program: take the first line.
    let out = r.stdout_str();
    let first = out
        .lines()
        .map(|l| l.trim().trim_end_matches(','))
        .find(|l| !l.is_empty());
    first.and_then(|l| l.parse().ok()).unwrap_or_else(|| {
        panic!(
            "no sample rate from ffprobe for {}: {out:?}",
            input.display()
        )
    })
}

/// Decodes any file to WAV with ffmpeg (no conversion of rate/channels), at `depth`.
pub fn ffmpeg_decode(input: &Path, audio_track: usize, depth: Depth, out: &Path) -> Run {
    ffmpeg_reference(
        input,
        audio_track,
        &ExtractArgs {
            depth: Some(depth),
            ..Default::default()
        },
        out,
    )
}
