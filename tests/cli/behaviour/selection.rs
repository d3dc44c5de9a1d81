//! What gets extracted and how: the track by language (from MP4 `mdhd` boxes), the engine
//! `auto` picks, and the output format from the extension or `--format`.

use serde_json::Value;

use super::{probe, s};
use crate::support::*;

/// An MP4 whose audio languages only its `mdhd` boxes state (Symphonia does not read
/// them): probe reports them, and `--language fra` selects the track FFmpeg's
/// `-map 0:m:language:fra` selects, on both engines and in a stream copy.
#[test]
fn mp4_languages_come_from_mdhd() {
    let f = fixture("mp4_multi.mp4");
    let p = probe(f).unwrap();
    assert_eq!(p["engine"], "symphonia", "{p}");
    let languages: Vec<&Value> = p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "audio")
        .map(|t| &t["language"])
        .collect();
    assert_eq!(languages, ["eng", "fra"], "{p}");

    let dir = tmpdir();
    let reference = |language: &str| {
        let out = dir.path().join(format!("ref-{language}.wav"));
        let map = format!("0:m:language:{language}");
        #[rustfmt::skip]
        let args = [
            "-v", "error", "-nostdin", "-y", "-i", &s(&f.path), "-map", &map, "-c:a", "pcm_s16le",
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", &s(&out),
        ];
        tool("ffmpeg", args).ok();
        read_wav(&out).unwrap()
    };
    let (fra, eng) = (reference("fra"), reference("eng"));
    for engine in ["symphonia", "ffmpeg"] {
        let out = dir.path().join(format!("{engine}.wav"));
        let job = ExtractArgs {
            language: Some("fra".into()),
            engine: Some(engine),
            ..ExtractArgs::default()
        };
        let report = extract(&f.path, &out, &job, &["--json"]).ok().json();
        assert_eq!(report["engine"], engine, "{report}");
        assert_eq!(report["source"]["language"], "fra", "{report}");
        assert_eq!(report["source"]["track"], 1, "{report}");
        let wav = read_wav(&out).unwrap();
        let c = compare(&fra, &wav, 2048);
        assert!(c.min_snr > 40.0, "{engine}: against fra {c:?}");
        let c = compare(&eng, &wav, 2048);
        assert!(
            c.min_snr < 10.0,
            "{engine}: the eng track was extracted: {c:?}"
        );
    }
    let m4a = dir.path().join("fra.m4a");
    let report = audiotap([
        "extract",
        &s(&f.path),
        "-o",
        &s(&m4a),
        "--language",
        "fra",
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(report["copied"], true, "{report}");
    assert_eq!(
        packet_md5s(&m4a, 0, true),
        packet_md5s(&f.path, 1, true),
        "the copy is not the fra track"
    );
}

#[test]
fn auto_engine_prefers_symphonia_where_supported() {
    let mut fails = Vec::new();
    for f in manifest().iter().filter(|f| f.has_audio()) {
        let dir = tmpdir();
        let out = dir.path().join("o.wav");
        let r = extract(&f.path, &out, &ExtractArgs::default(), &["--json"]);
        if !r.success() {
            fails.push(format!("{}: {}", f.name, r.describe()));
            continue;
        }
        let want = if f.symphonia() { "symphonia" } else { "ffmpeg" };
        let got = r.json()["engine"].clone();
        if got != want {
            fails.push(format!("{}: engine {got}, expected {want}", f.name));
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn format_follows_extension_or_flag() {
    let dir = tmpdir();
    let f = fixture("mp4_aac.mp4");
    let m4a = dir.path().join("a.m4a");
    audiotap(["extract", &s(&f.path), "-o", &s(&m4a)]).ok();
    let p = ffprobe_json(&m4a);
    assert!(
        p["format"]["format_name"]
            .as_str()
            .unwrap()
            .starts_with("mov,mp4"),
        "{p}"
    );
    let bin = dir.path().join("a.bin");
    audiotap(["extract", &s(&f.path), "-o", &s(&bin), "--format", "wav"]).ok();
    read_wav(&bin).expect("--format wav writes a WAV whatever the extension");
    // No --format and an unknown extension: not specified by the contract. Either a WAV
    // (`--help` says "else wav") or a usage error with nothing written.
    let odd = dir.path().join("a.xyz");
    let r = audiotap(["extract", &s(&f.path), "-o", &s(&odd)]);
    if r.success() {
        read_wav(&odd).expect("unknown extension falls back to WAV");
    } else {
        r.assert_error(2, Some("invalid_options"));
        assert!(!odd.exists());
    }
}
