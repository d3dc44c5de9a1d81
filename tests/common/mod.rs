//! Shared helpers for the integration tests: running the real `audiotap` binary (with a
//! timeout), ffmpeg/ffprobe reference tools, the fixture manifest, WAV reading and signal
//! comparison (lag search + per-channel SNR).
//!
//! Every test file includes this module with `mod common;` and uses only part of it.
#![allow(dead_code, unreachable_pub)]

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Paths and fixtures
// ---------------------------------------------------------------------------------------

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_audiotap")
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn media_dir() -> PathBuf {
    root().join("fixtures/media")
}

pub fn bad_dir() -> PathBuf {
    root().join("fixtures/bad")
}

/// Path of a fixture in `fixtures/media`; panics with a clear message when it is missing.
pub fn media(name: &str) -> PathBuf {
    let p = media_dir().join(name);
    assert!(
        p.is_file(),
        "fixture {} is missing: run fixtures/generate.sh",
        p.display()
    );
    p
}

pub fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("audiotap-test-")
        .tempdir()
        .expect("create temp dir")
}

/// Names of the entries of a directory (sorted); used to check that nothing is left behind.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Manifest (fixtures/media/manifest.json, written by fixtures/generate.sh from ffprobe)
// ---------------------------------------------------------------------------------------

/// One audio track of a fixture, as the manifest records it (ffprobe's view).
#[derive(Debug, Clone)]
pub struct MTrack {
    /// Stream index in the container.
    pub index: u64,
    /// 0-based index among the audio tracks.
    pub audio_index: usize,
    pub codec: String,
    pub profile: Option<String>,
    pub sample_rate: u32,
    pub channels: u16,
    pub channel_layout: Option<String>,
    pub bit_depth: Option<u32>,
    pub language: Option<String>,
    pub start: Option<f64>,
    pub duration: Option<f64>,
}

/// One fixture as the manifest records it.
#[derive(Debug, Clone)]
pub struct MFile {
    pub name: String,
    pub path: PathBuf,
    /// ffprobe's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
    pub ffprobe_format: String,
    pub duration: Option<f64>,
    /// Seconds of signal the generator encoded.
    pub nominal_duration: Option<f64>,
    pub size: u64,
    pub audio_offset: Option<f64>,
    /// ffprobe's container start time (track starts are absolute in ffprobe).
    pub container_start: f64,
    pub video_codec: Option<String>,
    pub audio: Vec<MTrack>,
    pub purpose: String,
    pub raw: Value,
}

impl MFile {
    pub fn track(&self, n: usize) -> &MTrack {
        &self.audio[n]
    }
    /// Container name as audiotap reports it.
    pub fn container(&self) -> &'static str {
        container_name(&self.ffprobe_format)
    }
    pub fn has_audio(&self) -> bool {
        !self.audio.is_empty()
    }
    /// Whether Symphonia handles this container and the first audio track (the support
    /// matrix of the design notes, narrowed by the engine's deliberate refusals: AAC at
    /// ≤ 24 kHz may carry implicit SBR (HE-AAC), and Symphonia's AAC decoder does not do
    /// more than two channels).
    pub fn symphonia(&self) -> bool {
        self.audio.first().is_some_and(|t| {
            symphonia_supports(self.container(), &t.codec)
                && !(t.codec == "aac" && (t.sample_rate <= 24000 || t.channels > 2))
        })
    }
}

/// ffprobe format_name -> the container name audiotap's probe reports.
pub fn container_name(ffprobe_format: &str) -> &'static str {
    match ffprobe_format {
        f if f.starts_with("mov,mp4") => "mp4",
        f if f.starts_with("matroska") => "matroska",
        "avi" => "avi",
        "mpegts" => "mpegts",
        "flv" => "flv",
        "ogg" => "ogg",
        "wav" => "wav",
        "aac" => "adts",
        "mp3" => "mp3",
        "flac" => "flac",
        "caf" => "caf",
        "aiff" => "aiff",
        other => panic!("unknown ffprobe format {other}"),
    }
}

/// Symphonia 0.6 support matrix (container, codec).
pub fn symphonia_supports(container: &str, codec: &str) -> bool {
    let pcm = codec.starts_with("pcm_");
    match container {
        "mp4" => matches!(codec, "aac" | "mp3" | "alac" | "flac") || pcm,
        // MP3 in Matroska is refused on purpose: Symphonia 0.6 ignores DiscardPadding.
        "matroska" => matches!(codec, "vorbis" | "flac" | "aac") || pcm,
        "ogg" => matches!(codec, "vorbis" | "flac"),
        "wav" => pcm,
        "adts" => codec == "aac",
        "mp3" => codec == "mp3",
        "flac" => codec == "flac",
        _ => false,
    }
}

pub fn is_lossless_codec(codec: &str) -> bool {
    codec.starts_with("pcm_") || codec == "flac" || codec == "alac"
}

/// Samples per codec frame: the tolerance for frame counts against the reference.
pub fn codec_frame(codec: &str) -> u64 {
    match codec {
        "aac" => 1024,
        "mp3" | "mp2" => 1152,
        "vorbis" => 2048,
        "opus" => 960,
        "ac3" | "eac3" => 1536,
        "flac" => 4608,
        "alac" => 4096,
        c if c.starts_with("pcm_") => 0,
        other => panic!("no codec frame size known for {other}"),
    }
}

static MANIFEST: OnceLock<Vec<MFile>> = OnceLock::new();

/// All fixtures of fixtures/media/manifest.json, sorted by name.
pub fn manifest() -> &'static [MFile] {
    MANIFEST.get_or_init(load_manifest)
}

pub fn fixture(name: &str) -> &'static MFile {
    manifest()
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("fixture {name} not in manifest.json"))
}

fn load_manifest() -> Vec<MFile> {
    let path = media_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run fixtures/generate.sh)", path.display()));
    let v: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let files = v["files"].as_object().expect("manifest.json: files object");
    let mut out: Vec<MFile> = files
        .iter()
        .map(|(name, f)| {
            let audio = f["tracks"]
                .as_array()
                .expect("tracks array")
                .iter()
                .enumerate()
                .map(|(i, t)| MTrack {
                    index: t["index"].as_u64().expect("track index"),
                    audio_index: i,
                    codec: t["codec"].as_str().expect("codec").to_string(),
                    profile: t["profile"].as_str().map(str::to_string),
                    sample_rate: t["sample_rate"].as_u64().expect("sample_rate") as u32,
                    channels: t["channels"].as_u64().expect("channels") as u16,
                    channel_layout: t["channel_layout"].as_str().map(str::to_string),
                    bit_depth: t["bits_per_sample"].as_u64().map(|b| b as u32),
                    language: t["language"]
                        .as_str()
                        .filter(|l| *l != "und")
                        .map(str::to_string),
                    start: t["start_s"].as_f64(),
                    duration: t["duration_s"].as_f64(),
                })
                .collect();
            MFile {
                name: name.clone(),
                path: media_dir().join(name),
                ffprobe_format: f["container"].as_str().unwrap_or_default().to_string(),
                duration: f["duration_s"].as_f64(),
                nominal_duration: f["nominal_duration_s"].as_f64(),
                size: f["size_bytes"].as_u64().expect("size_bytes"),
                audio_offset: f["audio_offset_s"].as_f64(),
                container_start: f["container_start_s"].as_f64().unwrap_or(0.0),
                video_codec: f["video_codec"].as_str().map(str::to_string),
                audio,
                purpose: f["purpose"].as_str().unwrap_or_default().to_string(),
                raw: f.clone(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Fixtures in fixtures/bad (every file but the manifest).
pub fn bad_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(bad_dir())
        .expect("fixtures/bad exists: run fixtures/generate.sh")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n != "manifest.json"))
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Running processes with a timeout
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct Run {
    pub cmdline: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn describe(&self) -> String {
        format!(
            "`{}` -> code {:?} signal {:?} timed_out {} ({:.2?})\n--- stderr ---\n{}\n--- stdout (first 2000 bytes) ---\n{}",
            self.cmdline,
            self.code,
            self.signal,
            self.timed_out,
            self.elapsed,
            self.stderr,
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(2000)])
        )
    }
    /// Panics unless the process exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.success(), "expected success:\n{}", self.describe());
        self
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.describe()))
    }
    /// Checks the error contract: exit `exit`, exactly one stderr line
    /// `audiotap: error[CODE]: message`, CODE == `code` when given, no panic.
    /// Returns a description of the violation instead of panicking.
    pub fn check_error(&self, exit: i32, code: Option<&str>) -> Result<String, String> {
        if self.timed_out {
            return Err(format!("timed out\n{}", self.describe()));
        }
        if self.code != Some(exit) {
            return Err(format!("expected exit {exit}\n{}", self.describe()));
        }
        if self.stderr.contains("panicked") {
            return Err(format!("panic\n{}", self.describe()));
        }
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.len() != 1 {
            return Err(format!(
                "expected exactly one stderr line, got {}\n{}",
                lines.len(),
                self.describe()
            ));
        }
        let Some(got) = parse_error_line(lines[0]) else {
            return Err(format!(
                "stderr line does not match `audiotap: error[code]: message`\n{}",
                self.describe()
            ));
        };
        if let Some(c) = code
            && got != c
        {
            return Err(format!(
                "expected error code {c}, got {got}\n{}",
                self.describe()
            ));
        }
        Ok(got)
    }
    #[track_caller]
    pub fn assert_error(&self, exit: i32, code: Option<&str>) -> String {
        match self.check_error(exit, code) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }
}

/// True when `code` is in the registry of stable codes (`audiotap::ErrorCode`).
pub fn is_stable_code(code: &str) -> bool {
    code.parse::<audiotap::ErrorCode>().is_ok()
}

/// `audiotap: error[CODE]: message` → CODE (lowercase letters and `_`, non-empty message).
pub fn parse_error_line(line: &str) -> Option<String> {
    let rest = line.strip_prefix("audiotap: error[")?;
    let close = rest.find(']')?;
    let code = &rest[..close];
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return None;
    }
    let msg = rest[close + 1..].strip_prefix(": ")?;
    if msg.trim().is_empty() {
        return None;
    }
    Some(code.to_string())
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs a command with optional stdin bytes and a timeout (the child is killed on
/// timeout; a hang is reported as `timed_out`). stdout and stderr are drained in threads
/// so a chatty child can never block on a full pipe.
pub fn run_cmd(mut cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Run {
    let cmdline = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
    let stdin_thread = stdin.map(|bytes| {
        let mut w = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            // The child may exit before reading everything (broken pipe): not our error.
            let _ = w.write_all(&bytes);
        })
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(s) => break s,
            None if start.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill(); // this child only, by its pid
                break child.wait().expect("wait after kill");
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let elapsed = start.elapsed();
    if let Some(t) = stdin_thread {
        let _ = t.join();
    }
    let stdout = out_t.join().unwrap();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    Run {
        cmdline,
        code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout,
        stderr,
        elapsed,
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn args_vec<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    args.into_iter().map(|a| a.as_ref().to_owned()).collect()
}

/// Runs `audiotap ARGS...` (no stdin) with the default timeout.
pub fn audiotap<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    audiotap_opts(args, None, DEFAULT_TIMEOUT)
}

pub fn audiotap_opts<I, S>(args: I, stdin: Option<Vec<u8>>, timeout: Duration) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(bin());
    cmd.args(args_vec(args));
    // Keep logs out of stderr so the one-line error contract is what we see.
    cmd.env_remove("RUST_LOG");
    cmd.env("NO_COLOR", "1");
    run_cmd(cmd, stdin, timeout)
}

/// Runs a tool (ffmpeg/ffprobe) and panics on failure.
pub fn tool<I, S>(program: &str, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args_vec(args));
    let r = run_cmd(cmd, None, DEFAULT_TIMEOUT);
    assert!(r.success(), "{program} failed:\n{}", r.describe());
    r
}

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

// ---------------------------------------------------------------------------------------
// Jobs: one description drives both audiotap and the ffmpeg reference
// ---------------------------------------------------------------------------------------

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
pub struct Job {
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub depth: Option<Depth>,
    pub track: Option<usize>,
    pub language: Option<String>,
    pub start: Option<f64>,
    pub duration: Option<f64>,
    pub engine: Option<&'static str>,
}

impl Job {
    pub fn depth(&self) -> Depth {
        self.depth.unwrap_or(Depth::S16)
    }
    /// Extra `audiotap extract` arguments for this job.
    pub fn args(&self) -> Vec<String> {
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

/// `audiotap extract INPUT -o OUT.wav <job args> [extra]`; returns the run (not checked).
pub fn extract(input: &Path, out: &Path, job: &Job, extra: &[&str]) -> Run {
    let mut args: Vec<OsString> = vec!["extract".into(), input.into(), "-o".into(), out.into()];
    args.extend(job.args().into_iter().map(OsString::from));
    args.extend(extra.iter().map(OsString::from));
    audiotap(args)
}

/// ffmpeg reference decode of the same job into `out` (a WAV).
pub fn ffmpeg_reference(input: &Path, audio_track: usize, job: &Job, out: &Path) -> Run {
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
    if job.start.is_some() || job.duration.is_some() {
        // Trim by sample count on the decoded stream: `-ss/-t` after `-i` work on
        // timestamps, which Matroska rounds to 1 ms (16 samples off at 44.1 kHz).
        let rate = source_rate(input, audio_track) as f64;
        let s = (job.start.unwrap_or(0.0) * rate).round() as u64;
        let mut f = format!("atrim=start_sample={s}");
        if let Some(d) = job.duration {
            f += &format!(":end_sample={}", s + (d * rate).round() as u64);
        }
        a.extend(["-af".into(), f.into()]);
    }
    if let Some(r) = job.sample_rate {
        a.extend(["-ar".into(), r.to_string().into()]);
    }
    if let Some(c) = job.channels {
        a.extend(["-ac".into(), c.to_string().into()]);
    }
    a.extend([
        "-c:a".into(),
        job.depth().ffmpeg_codec().into(),
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
        &Job {
            depth: Some(depth),
            ..Default::default()
        },
        out,
    )
}

// ---------------------------------------------------------------------------------------
// WAV reading and comparison
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Wav {
    pub spec: hound::WavSpec,
    pub frames: usize,
    /// Interleaved samples normalised to [-1, 1).
    pub samples: Vec<f64>,
    /// Interleaved raw values (integers, or f32 bit patterns) for exact comparison.
    pub raw: Vec<i64>,
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
    })
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

#[derive(Debug, Clone)]
pub struct Comparison {
    /// out[i + lag] best matches ref[i].
    pub lag: i64,
    pub correlation: f64,
    pub snr_per_channel: Vec<f64>,
    pub min_snr: f64,
    pub overlap: usize,
    pub max_abs_diff: f64,
}

/// Aligns `out` against `reference` (lag in ±max_lag maximising the normalised
/// correlation of the mono sums over a window of the reference), then computes
/// SNR = 10·log10(Σref² / Σ(ref−out)²) per channel over the overlap.
/// An exact match gives +inf.
pub fn compare(reference: &Wav, out: &Wav, max_lag: usize) -> Comparison {
    assert_eq!(
        reference.spec.channels, out.spec.channels,
        "channel counts differ"
    );
    let r = reference.mono();
    let o = out.mono();
    let (lag, correlation) = best_lag(&r, &o, max_lag as i64);
    let at_best = snr_at(reference, out, lag);
    // Pure tones correlate almost as well one period away; when no shift does at least
    // as well as the best-correlated one, report lag 0.
    let mut c = if lag != 0 {
        let at_zero = snr_at(reference, out, 0);
        if at_zero.min_snr >= at_best.min_snr {
            at_zero
        } else {
            at_best
        }
    } else {
        at_best
    };
    c.correlation = correlation;
    c
}

fn snr_at(reference: &Wav, out: &Wav, lag: i64) -> Comparison {
    let ch = reference.spec.channels as usize;
    let mut snrs = Vec::with_capacity(ch);
    let mut max_abs_diff: f64 = 0.0;
    let (r0, o0, n) = overlap(reference.frames, out.frames, lag);
    for c in 0..ch {
        if n == 0 {
            snrs.push(f64::NEG_INFINITY);
            continue;
        }
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        for i in 0..n {
            let a = reference.samples[(r0 + i) * ch + c];
            let b = out.samples[(o0 + i) * ch + c];
            sig += a * a;
            err += (a - b) * (a - b);
            max_abs_diff = max_abs_diff.max((a - b).abs());
        }
        snrs.push(snr_db(sig, err));
    }
    let min_snr = snrs.iter().copied().fold(f64::INFINITY, f64::min);
    Comparison {
        lag,
        correlation: 0.0,
        snr_per_channel: snrs,
        min_snr,
        overlap: n,
        max_abs_diff,
    }
}

pub fn snr_db(sig: f64, err: f64) -> f64 {
    if err == 0.0 {
        f64::INFINITY
    } else if sig == 0.0 {
        f64::NEG_INFINITY
    } else {
        10.0 * (sig / err).log10()
    }
}

/// Start in ref, start in out, and length of the overlap for a lag (out[i+lag] ~ ref[i]).
fn overlap(rlen: usize, olen: usize, lag: i64) -> (usize, usize, usize) {
    let r0 = if lag < 0 { (-lag) as usize } else { 0 };
    let o0 = if lag > 0 { lag as usize } else { 0 };
    let n = rlen.saturating_sub(r0).min(olen.saturating_sub(o0));
    (r0, o0, n)
}

fn best_lag(r: &[f64], o: &[f64], max_lag: i64) -> (i64, f64) {
    // Window: 4096 samples in the middle of the reference,
    // kept away from the edges so every lag sees a full window where possible.
    const W: usize = 4096;
    if r.is_empty() || o.is_empty() {
        return (0, 0.0);
    }
    let w = W.min(r.len());
    let start = (r.len() - w) / 2;
    let win = &r[start..start + w];
    let e_r: f64 = win.iter().map(|x| x * x).sum();
    let mut best = (0i64, f64::NEG_INFINITY);
    // Search lags in order of |lag| so ties keep the smallest shift.
    let mut lags = vec![0i64];
    for l in 1..=max_lag {
        lags.push(l);
        lags.push(-l);
    }
    for lag in lags {
        let mut dot = 0.0;
        let mut e_o = 0.0;
        for (i, &a) in win.iter().enumerate() {
            let j = (start + i) as i64 + lag;
            if j < 0 || j >= o.len() as i64 {
                continue;
            }
            let b = o[j as usize];
            dot += a * b;
            e_o += b * b;
        }
        let denom = (e_r * e_o).sqrt();
        let c = if denom > 0.0 { dot / denom } else { 0.0 };
        // The fixtures are sums of tones, periodic at 20 Hz: lags a whole period apart
        // correlate almost equally. Prefer the smallest shift unless another is clearly
        // better (a one-sample error on the 660 Hz tone alone costs > 1e-2 at 48 kHz).
        if c > best.1 + 1e-4 {
            best = (lag, c);
        }
    }
    best
}

pub fn fmt_db(x: f64) -> String {
    if x.is_infinite() && x > 0.0 {
        "exact".into()
    } else {
        format!("{x:.1} dB")
    }
}

/// RMS level (dBFS, full scale sine = -3 dB) of a WAV, for choosing noise-relative limits.
pub fn power(w: &Wav) -> f64 {
    if w.samples.is_empty() {
        return 0.0;
    }
    w.samples.iter().map(|x| x * x).sum::<f64>() / w.samples.len() as f64
}

/// Mean power of the weakest channel.
pub fn min_channel_power(w: &Wav) -> f64 {
    (0..w.spec.channels as usize)
        .map(|c| {
            let ch = w.channel(c);
            ch.iter().map(|x| x * x).sum::<f64>() / ch.len().max(1) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// SNR (dB) that an output quantised to `bits` (with TPDF dither) can at worst reach
/// against an undithered, rounded reference of the same signal: the two errors are
/// independent, TPDF dither + rounding has variance Δ²/4 and plain rounding Δ²/12, so the
/// difference has variance Δ²/3 (Δ = 2^(1-bits)).
pub fn quantisation_floor_db(signal_power: f64, bits: u16) -> f64 {
    let delta = 2f64.powi(1 - bits as i32);
    10.0 * (signal_power / (delta * delta / 3.0)).log10()
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
