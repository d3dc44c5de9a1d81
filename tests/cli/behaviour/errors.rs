//! The error contract: exit codes, one stderr line `audiotap: error[<stable code>]: …`, no
//! panic, and nothing left in the output folder, for bad media, missing tracks, bad options,
//! usage errors and unreadable inputs or outputs.

use std::path::PathBuf;

use super::{probe, s};
use crate::support::*;

/// Runs an extraction that must fail; checks exit code, error line and that the output
/// folder is empty afterwards. Returns the error code.
fn must_fail(args: &[&str], exit: i32, code: Option<&str>) -> Result<String, String> {
    let dir = tmpdir();
    let out = dir.path().join("out.wav");
    let mut a: Vec<String> = args.iter().map(|x| x.to_string()).collect();
    if a.first().map(String::as_str) == Some("extract") && !a.iter().any(|x| x == "-o") {
        a.extend(["-o".into(), s(&out)]);
    }
    let r = audiotap(&a);
    let got = r.check_error(exit, code)?;
    if !is_stable_code(&got) {
        return Err(format!("unknown error code {got}\n{}", r.describe()));
    }
    let left = dir_entries(dir.path());
    if !left.is_empty() {
        return Err(format!(
            "left in the output folder: {left:?}\n{}",
            r.describe()
        ));
    }
    Ok(got)
}

#[track_caller]
fn fail_ok(args: &[&str], exit: i32, code: Option<&str>) {
    if let Err(e) = must_fail(args, exit, code) {
        panic!("{e}");
    }
}

#[test]
fn every_bad_fixture_fails_cleanly() {
    let mut fails = Vec::new();
    let bad = bad_files();
    assert!(bad.len() >= 5, "fixtures/bad has {} files", bad.len());
    for p in &bad {
        for engine in ["auto", "symphonia", "ffmpeg"] {
            match must_fail(&["extract", &s(p), "--engine", engine], 1, None) {
                Ok(code) => println!(
                    "{:<28} {engine:<9} -> {code}",
                    p.file_name().unwrap().to_string_lossy()
                ),
                Err(e) => fails.push(format!("{} --engine {engine}: {e}", p.display())),
            }
        }
        // probe may succeed on some (garbage payloads, complete moov) but must not crash.
        let r = audiotap(["probe", &s(p), "--json"]);
        if !(r.success() || r.check_error(1, None).is_ok()) {
            fails.push(format!("probe {}: {}", p.display(), r.describe()));
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n\n"));
}

/// With `--engine auto`, a file that Symphonia cannot read and FFmpeg cannot read either
/// is reported with both back ends' reasons, under FFmpeg's code (the fallback's verdict):
/// `extract` and `probe` alike. A single engine reports its own reason only.
#[test]
fn auto_engine_names_both_reasons_when_both_back_ends_fail() {
    let dir = tmpdir();
    let out = s(&dir.path().join("o.wav"));
    for name in ["text_as.mp4", "corrupt_header.mkv", "truncated_mdat.mp4"] {
        let p = s(&bad_dir().join(name));
        for args in [vec!["extract", &p, "-o", &out], vec!["probe", &p, "--json"]] {
            let r = audiotap(&args);
            r.assert_error(1, Some("invalid_media"));
            let line = r.stderr.trim();
            let ffmpeg = line.find("FFmpeg: ");
            let symphonia = line.find("; Symphonia: ");
            assert!(
                ffmpeg.is_some() && symphonia > ffmpeg,
                "{args:?}: both reasons, FFmpeg's first: {line}"
            );
        }
        let r = audiotap(["extract", &p, "-o", &out, "--engine", "ffmpeg"]);
        r.assert_error(1, Some("invalid_media"));
        assert!(!r.stderr.contains("Symphonia"), "{}", r.stderr);
    }
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn video_only_is_no_audio_track() {
    let f = fixture("mp4_video_only.mp4");
    fail_ok(&["extract", &s(&f.path)], 1, Some("no_audio_track"));
    fail_ok(
        &["extract", &s(&f.path), "--engine", "ffmpeg"],
        1,
        Some("no_audio_track"),
    );
    // Probing it is fine: one video track, no audio.
    let p = probe(f).unwrap();
    let kinds: Vec<&str> = p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["video"], "{p}");
}

#[test]
fn missing_track_is_track_not_found() {
    let f = s(&fixture("mp4_aac.mp4").path);
    fail_ok(&["extract", &f, "--track", "5"], 1, Some("track_not_found"));
    fail_ok(&["extract", &f, "--track", "1"], 1, Some("track_not_found"));
    let multi = s(&fixture("mkv_multi.mkv").path);
    fail_ok(
        &["extract", &multi, "--track", "2"],
        1,
        Some("track_not_found"),
    );
    fail_ok(
        &["extract", &multi, "--language", "deu"],
        1,
        Some("track_not_found"),
    );
}

#[test]
fn invalid_option_values_are_usage_errors() {
    let f = s(&fixture("mp4_aac.mp4").path);
    let mut fails = Vec::new();
    for bad in [
        &["--bit-depth", "12"][..],
        &["--bit-depth", "64"],
        &["--channels", "0"],
        &["--sample-rate", "0"],
        &["--sample-rate", "-8000"],
        &["--start", "-1"],
        &["--start=-1"],
        &["--duration", "0"],
        &["--duration", "-2"],
        &["--start", "abc"],
        &["--format", "ogg"],
        &["--codec", "mp3"],
        &["--engine", "gstreamer"],
        &["--track", "-1"],
        &["--bitrate", "0"],
    ] {
        let mut a = vec!["extract", f.as_str()];
        a.extend_from_slice(bad);
        if let Err(e) = must_fail(&a, 2, Some("invalid_options")) {
            fails.push(format!("{bad:?}: {e}"));
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n\n"));
}

#[test]
fn inconsistent_options_are_invalid() {
    let f = s(&fixture("mp4_aac.mp4").path);
    let dir = tmpdir();
    let m4a = s(&dir.path().join("o.m4a"));
    // Copy cannot change the rate, the channels or the bit depth, nor trim sample-exactly.
    for change in [["--sample-rate", "16000"], ["--channels", "1"]] {
        let mut args = vec!["extract", &f, "-o", &m4a, "--codec", "copy"];
        args.extend(change);
        fail_ok(&args, 2, Some("invalid_options"));
    }
    // AAC into WAV, PCM into M4A: not a combination the formats allow.
    fail_ok(
        &["extract", &f, "--codec", "aac"],
        2,
        Some("invalid_options"),
    );
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let f = s(&fixture("mp4_aac.mp4").path);
    for args in [
        &["extract", f.as_str(), "--frobnicate"][..],
        &["extract"],
        &["frobnicate"],
        &["probe"],
    ] {
        let mut a: Vec<&str> = args.to_vec();
        let dir = tmpdir();
        let out = s(&dir.path().join("o.wav"));
        if a[0] == "extract" && a.len() > 1 {
            a.extend(["-o", &out]);
        }
        let r = audiotap(&a);
        r.assert_error(2, None);
        assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
    }
}

/// A local input that is missing or not a file is the caller's to fix: `source_unreachable`
/// (kind Source), like a URL that cannot be fetched, never `io_error` (a fault of ours).
#[test]
fn missing_or_unreadable_input_is_source_unreachable() {
    let dir = tmpdir();
    let missing = s(&dir.path().join("nope.mp4"));
    let out = s(&dir.path().join("o.wav"));
    let r = audiotap(["extract", &missing, "-o", &out]);
    r.assert_error(1, Some("source_unreachable"));
    assert!(r.stderr.contains("nope.mp4"), "{}", r.describe());
    let folder = s(dir.path());
    audiotap(["probe", &folder]).assert_error(1, Some("source_unreachable"));
    must_fail(&["extract", &folder], 1, Some("source_unreachable")).unwrap();
}

#[test]
fn output_in_missing_directory_is_io_error() {
    let dir = tmpdir();
    let out: PathBuf = dir.path().join("no/such/dir/o.wav");
    let f = s(&fixture("mp4_aac.mp4").path);
    fail_ok(&["extract", &f, "-o", &s(&out)], 1, Some("io_error"));
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn failure_after_output_opened_leaves_nothing() {
    // A failure after the output file was opened must not leave partial or temp files.
    let dir = tmpdir();
    let out = dir.path().join("o.wav");
    let bad = bad_dir().join("truncated_faststart.mp4");
    let r = audiotap(["extract", &s(&bad), "-o", &s(&out)]);
    r.assert_error(1, None);
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn error_line_parser_is_strict() {
    assert_eq!(
        parse_error_line("audiotap: error[io_error]: boom").as_deref(),
        Some("io_error")
    );
    for l in [
        "audiotap: error[io_error]:",
        "audiotap: error[IO]: boom",
        "error[io_error]: boom",
        "audiotap: error[]: boom",
        "thread 'main' panicked at src/main.rs:1:1",
    ] {
        assert!(parse_error_line(l).is_none(), "{l}");
    }
}
