//! The fixtures: paths and bytes of `fixtures/media` and `fixtures/bad`, temp dirs, and the
//! manifest `fixtures/generate.sh` writes from ffprobe (what each fixture holds).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

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
pub fn media_path(name: &str) -> PathBuf {
    let p = media_dir().join(name);
    assert!(
        p.is_file(),
        "fixture {} is missing: run fixtures/generate.sh",
        p.display()
    );
    p
}

/// Bytes of `fixtures/media/<name>`.
pub fn media_bytes(name: &str) -> Vec<u8> {
    read_fixture(&media_dir().join(name))
}

/// Bytes of `fixtures/bad/<name>`.
pub fn bad_bytes(name: &str) -> Vec<u8> {
    read_fixture(&bad_dir().join(name))
}

fn read_fixture(p: &Path) -> Vec<u8> {
    std::fs::read(p)
        .unwrap_or_else(|e| panic!("fixture {}: {e} (run fixtures/generate.sh)", p.display()))
}

pub fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("audiotap-test-")
        .tempdir()
        .expect("create temp dir")
}

/// Names of the entries of a directory (sorted; empty when it does not exist): used to
/// check that nothing is left behind.
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

/// Every file and folder below `dir`, sorted (empty when it does not exist): what a store
/// or a folder holds, nested.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(tree(&path));
        }
        out.push(path);
    }
    out.sort();
    out
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
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
