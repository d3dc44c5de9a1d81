//! `audiotap analyze` and `audiotap waveform` through the real binary, checked against
//! references: FFmpeg's `ebur128` and `silencedetect` filters, EBU-style test signals
//! synthesised here, and min/max computed here from FFmpeg's 16-bit decode.
//!
//! One file past 500 lines on purpose: both commands share the reference helpers, and one
//! more test binary (each links the whole crate) costs more than the length.

use std::path::{Path, PathBuf};

use crate::support::{audiotap, audiotap_opts, dir_entries, media_path, tmpdir, tool};
use serde_json::Value;

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn speech() -> PathBuf {
    let p = crate::support::root().join("fixtures/analysis/speech_gaps.flac");
    assert!(
        p.is_file(),
        "{} is missing: run fixtures/generate.sh",
        p.display()
    );
    p
}

fn analyze(input: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["analyze".to_string(), s(input), "--json".into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    audiotap(&args).ok().json()
}

fn num(v: &Value, path: &str) -> f64 {
    let mut cur = v;
    for key in path.split('.') {
        cur = &cur[key];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number in {v:#}"))
}

// ---------------------------------------------------------------------------------------
// FFmpeg references
// ---------------------------------------------------------------------------------------

/// Integrated loudness (LUFS) and true peak (dBFS) from the summary of FFmpeg's
/// `ebur128=peak=true` over the first audio stream.
fn ffmpeg_ebur128(input: &Path) -> (f64, f64) {
    let r = tool(
        "ffmpeg",
        [
            "-hide_banner",
            "-nostats",
            "-nostdin",
            "-i",
            &s(input),
            "-map",
            "0:a:0",
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
    );
    let summary = r
        .stderr
        .rsplit_once("Summary:")
        .map(|(_, tail)| tail.to_string())
        .unwrap_or_else(|| panic!("no ebur128 summary:\n{}", r.stderr));
    let field = |label: &str| -> f64 {
        summary
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {label} in the ebur128 summary:\n{summary}"))
    };
    (field("I:"), field("Peak:"))
}

/// `(start, end)` of every span `silencedetect` reports.
fn ffmpeg_silences(input: &Path, threshold_db: f64, min_seconds: f64) -> Vec<(f64, f64)> {
    let filter = format!("silencedetect=n={threshold_db}dB:d={min_seconds}");
    let r = tool(
        "ffmpeg",
        [
            "-hide_banner",
            "-nostats",
            "-nostdin",
            "-i",
            &s(input),
            "-map",
            "0:a:0",
            "-af",
            &filter,
            "-f",
            "null",
            "-",
        ],
    );
    let value = |line: &str, key: &str| -> Option<f64> {
        let at = line.find(key)? + key.len();
        line[at..].split_whitespace().next()?.parse().ok()
    };
    let mut spans = Vec::new();
    let mut start = None;
    for line in r.stderr.lines() {
        if let Some(v) = value(line, "silence_start: ") {
            start = Some(v);
        } else if let Some(v) = value(line, "silence_end: ") {
            spans.push((start.take().expect("silence_end before silence_start"), v));
        }
    }
    spans
}

/// FFmpeg's decode of the first audio stream as interleaved s16 (its own conversion).
fn ffmpeg_s16(input: &Path, channels: usize) -> Vec<i16> {
    let dir = tmpdir();
    let raw = dir.path().join("ref.s16");
    tool(
        "ffmpeg",
        [
            "-nostdin",
            "-v",
            "error",
            "-i",
            &s(input),
            "-map",
            "0:a:0",
            "-f",
            "s16le",
            "-acodec",
            "pcm_s16le",
            &s(&raw),
        ],
    );
    let bytes = std::fs::read(&raw).unwrap();
    let v: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(v.len() % channels, 0);
    v
}

// ---------------------------------------------------------------------------------------
// Loudness
// ---------------------------------------------------------------------------------------

fn assert_loudness_matches_ffmpeg(input: &Path, extra: &[&str]) {
    let a = analyze(input, extra);
    let (i_ref, tp_ref) = ffmpeg_ebur128(input);
    let i = num(&a, "loudness.integrated_lufs");
    let tp = num(&a, "loudness.true_peak_dbtp");
    assert!(
        (i - i_ref).abs() <= 0.1,
        "{}: integrated {i} LUFS, ffmpeg {i_ref}",
        input.display()
    );
    assert!(
        (tp - tp_ref).abs() <= 0.2,
        "{}: true peak {tp} dBTP, ffmpeg {tp_ref}",
        input.display()
    );
    let sp = num(&a, "loudness.sample_peak_dbfs");
    assert!(sp <= tp + 1e-9, "sample peak {sp} above true peak {tp}");
}

#[test]
fn loudness_matches_ffmpeg_ebur128_on_fixtures() {
    for name in [
        "mp4_aac.mp4",
        "mp4_aac_51.mp4",
        "mkv_flac.mkv",
        "ogg_vorbis.ogg",
        "flv_mp3.flv",
        "m4a_alac24.m4a",
    ] {
        assert_loudness_matches_ffmpeg(&media_path(name), &[]);
    }
    assert_loudness_matches_ffmpeg(&speech(), &[]);
    // Opus and AC-3 are read by the FFmpeg back end.
    assert_loudness_matches_ffmpeg(&media_path("mkv_ac3.mkv"), &["--engine", "ffmpeg"]);
}

/// Writes `expr` (one aevalsrc expression per channel, `|`-separated) as 10 s of 48 kHz
/// 24-bit WAV.
fn synth(dir: &Path, name: &str, exprs: &str) -> PathBuf {
    let out = dir.join(name);
    let src = format!("aevalsrc=exprs={exprs}:s=48000:d=10");
    tool(
        "ffmpeg",
        [
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            &src,
            "-c:a",
            "pcm_s24le",
            &s(&out),
        ],
    );
    out
}

#[test]
fn ebu_style_test_signals_measure_what_they_are_built_to() {
    let dir = tmpdir();
    // EBU Tech 3341 case 1 and 2: a 1 kHz stereo sine at -23 dBFS and -33 dBFS measures
    // -23.0 and -33.0 LUFS.
    for level in [-23.0f64, -33.0] {
        let amp = 10f64.powf(level / 20.0);
        let sine = format!("{amp}*sin(2*PI*1000*t)");
        let f = synth(
            dir.path(),
            &format!("sine{level}.wav"),
            &format!("{sine}|{sine}"),
        );
        let a = analyze(&f, &[]);
        let i = num(&a, "loudness.integrated_lufs");
        assert!((i - level).abs() <= 0.1, "{level} dBFS sine: {i} LUFS");
        assert!(num(&a, "loudness.lra").abs() <= 0.1, "{a:#}");
        assert_loudness_matches_ffmpeg(&f, &[]);
    }
    // A quarter-rate sine sampled 45° off its peaks: every sample sits 3 dB below the
    // waveform's true peak (-6.02 dBTP; sample peak -9.03 dBFS). It fades in over 1 s: an
    // abrupt start overshoots between samples (by 0.4 dB in audiotap's meter and 0.6 dB in
    // FFmpeg's), which is the signal's own true peak, not the sine's.
    let tp = "0.5*sin(2*PI*12000*t+PI/4)*min(1\\,t)";
    let f = synth(dir.path(), "intersample.wav", &format!("{tp}|{tp}"));
    let a = analyze(&f, &[]);
    let sp = num(&a, "loudness.sample_peak_dbfs");
    let t = num(&a, "loudness.true_peak_dbtp");
    assert!((sp - -9.03).abs() <= 0.02, "sample peak {sp}");
    assert!((t - -6.02).abs() <= 0.2, "true peak {t}");
    assert_loudness_matches_ffmpeg(&f, &[]);
    // One channel at -23 dBFS, the other silent: 3 dB quieter than both (-26 LUFS), and
    // the levels show which channel carries the signal.
    let amp = 10f64.powf(-23.0 / 20.0);
    let f = synth(dir.path(), "left.wav", &format!("{amp}*sin(2*PI*1000*t)|0"));
    let a = analyze(&f, &[]);
    let i = num(&a, "loudness.integrated_lufs");
    assert!((i - -26.01).abs() <= 0.1, "left-only sine: {i} LUFS");
    let rms = num(&a["channels"][0], "rms_dbfs");
    assert!((rms - -26.01).abs() <= 0.02, "left RMS {rms}");
    assert!(a["channels"][1]["rms_dbfs"].is_null(), "{a:#}");
    assert_eq!(a["clipped_samples"], 0);
}

#[test]
fn clipped_samples_are_counted() {
    let dir = tmpdir();
    // A sine driven 6 dB past full scale, clipped by the 16-bit encode: its samples sit at
    // the rails for a third of each period.
    let out = dir.path().join("clipped.wav");
    tool(
        "ffmpeg",
        [
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "aevalsrc=exprs=2*sin(2*PI*100*t):s=48000:d=1",
            "-c:a",
            "pcm_s16le",
            &s(&out),
        ],
    );
    let a = analyze(&out, &[]);
    let reference = ffmpeg_s16(&out, 1)
        .iter()
        .filter(|&&v| v == i16::MAX || v == i16::MIN)
        .count();
    assert!(reference > 10_000, "{reference}");
    assert_eq!(a["clipped_samples"].as_u64(), Some(reference as u64));
    assert_eq!(num(&a["channels"][0], "peak_dbfs"), 0.0);
}

// ---------------------------------------------------------------------------------------
// Silence
// ---------------------------------------------------------------------------------------

fn assert_silences_match(threshold_db: f64, min_seconds: f64, expected_spans: usize) {
    let input = speech();
    let a = analyze(
        &input,
        &[
            "--silence-threshold-db",
            &threshold_db.to_string(),
            "--silence-min-seconds",
            &min_seconds.to_string(),
        ],
    );
    let reference = ffmpeg_silences(&input, threshold_db, min_seconds);
    let spans: Vec<(f64, f64)> = a["silence"]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (num(p, "start"), num(p, "end")))
        .collect();
    assert_eq!(
        spans.len(),
        expected_spans,
        "{spans:?} vs ffmpeg {reference:?}"
    );
    assert_eq!(
        spans.len(),
        reference.len(),
        "{spans:?} vs ffmpeg {reference:?}"
    );
    for ((s0, e0), (s1, e1)) in spans.iter().zip(&reference) {
        assert!(
            (s0 - s1).abs() <= 0.010 && (e0 - e1).abs() <= 0.010,
            "span {s0}-{e0} vs ffmpeg {s1}-{e1}"
        );
    }
    let duration = num(&a, "duration");
    let silent: f64 = reference.iter().map(|(s, e)| e - s).sum();
    let ratio = num(&a, "silence.speech_ratio");
    assert!(
        (ratio - (duration - silent) / duration).abs() <= 0.002,
        "{ratio}"
    );
    assert_eq!(num(&a, "silence.threshold_db"), threshold_db);
    assert_eq!(num(&a, "silence.min_seconds"), min_seconds);
}

#[test]
fn silence_spans_match_silencedetect() {
    // The fixture's timeline (fixtures/generate.sh): silences 0-1.5, 4-5.6, 9-10.25,
    // 11-13 s; 7-7.6 s is too short at 1 s, and 7.6-9 s is silent on the left only.
    assert_silences_match(-50.0, 1.0, 4);
    assert_silences_match(-40.0, 0.5, 5);
    let a = analyze(&speech(), &[]);
    assert!((num(&a, "silence.leading") - 1.5).abs() <= 0.01, "{a:#}");
    assert!((num(&a, "silence.trailing") - 2.0).abs() <= 0.01, "{a:#}");
    assert!((num(&a, "duration") - 13.0).abs() < 1e-9, "{a:#}");
    // A tone has no silence at all.
    let a = analyze(&media_path("mp4_aac.mp4"), &[]);
    assert_eq!(a["silence"]["spans"].as_array().map(Vec::len), Some(0));
    assert_eq!(num(&a, "silence.speech_ratio"), 1.0);
    assert_eq!(num(&a, "silence.leading"), 0.0);
}

#[test]
fn human_output_and_stdin_input() {
    let input = speech();
    let r = audiotap(["analyze", &s(&input)]).ok();
    let text = r.stdout_str();
    assert!(text.contains("LUFS integrated"), "{text}");
    assert!(text.contains("4 span(s)"), "{text}");
    let bytes = std::fs::read(&input).unwrap();
    let piped = audiotap_opts(
        ["analyze", "-", "--json"],
        Some(bytes),
        crate::support::DEFAULT_TIMEOUT,
    )
    .ok()
    .json();
    assert_eq!(piped, analyze(&input, &[]));
}

// ---------------------------------------------------------------------------------------
// Waveform
// ---------------------------------------------------------------------------------------

/// A parsed waveform file, values as written.
#[derive(Debug)]
struct Peaks {
    channels: usize,
    sample_rate: u32,
    spp: usize,
    bits: u32,
    data: Vec<i32>,
}

/// Parses the `.dat` layout of audiowaveform's format document (version 2: 24-byte header).
fn parse_dat(b: &[u8]) -> Peaks {
    let word = |i: usize| i32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    assert_eq!(word(0), 2, "version");
    let flags = word(4) as u32;
    let bits = if flags & 1 == 1 { 8 } else { 16 };
    let (length, channels) = (word(16) as usize, word(20) as usize);
    let body = &b[24..];
    let data: Vec<i32> = if bits == 8 {
        body.iter().map(|&v| i32::from(v as i8)).collect()
    } else {
        body.chunks_exact(2)
            .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]])))
            .collect()
    };
    assert_eq!(data.len(), length * channels * 2, "length field");
    Peaks {
        channels,
        sample_rate: word(8) as u32,
        spp: word(12) as usize,
        bits,
        data,
    }
}

fn parse_json(v: &Value) -> Peaks {
    assert_eq!(v["version"], 2);
    let data: Vec<i32> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap() as i32)
        .collect();
    let channels = v["channels"].as_u64().unwrap() as usize;
    assert_eq!(
        data.len(),
        v["length"].as_u64().unwrap() as usize * channels * 2
    );
    Peaks {
        channels,
        sample_rate: v["sample_rate"].as_u64().unwrap() as u32,
        spp: v["samples_per_pixel"].as_u64().unwrap() as usize,
        bits: v["bits"].as_u64().unwrap() as u32,
        data,
    }
}

/// The min/max pairs audiowaveform's definition gives for FFmpeg's s16 decode: mono
/// mixdown by summing and dividing (toward zero), or each channel; 8 bits = value / 256.
fn expected(s16: &[i16], in_channels: usize, split: bool, spp: usize, bits: u32) -> Vec<i32> {
    let frames: Vec<&[i16]> = s16.chunks_exact(in_channels).collect();
    let out_channels = if split { in_channels } else { 1 };
    let mut out = Vec::new();
    for px in frames.chunks(spp) {
        for c in 0..out_channels {
            let values = px.iter().map(|f| {
                if split {
                    i32::from(f[c])
                } else {
                    f.iter().map(|&v| i32::from(v)).sum::<i32>() / in_channels as i32
                }
            });
            let (lo, hi) = values.fold((i32::MAX, i32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let div = if bits == 8 { 256 } else { 1 };
            out.push(lo / div);
            out.push(hi / div);
        }
    }
    out
}

fn run_waveform(input: &Path, ext: &str, args: &[&str]) -> Peaks {
    let dir = tmpdir();
    let out = dir.path().join(format!("peaks.{ext}"));
    let mut argv = vec!["waveform".to_string(), s(input), "-o".into(), s(&out)];
    argv.extend(args.iter().map(|a| a.to_string()));
    audiotap(&argv).ok();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(dir_entries(dir.path()), vec![format!("peaks.{ext}")]);
    if ext == "dat" {
        parse_dat(&bytes)
    } else {
        parse_json(&serde_json::from_slice(&bytes).unwrap())
    }
}

#[test]
fn waveform_equals_min_max_of_ffmpeg_s16_decode() {
    // 16-bit WAV and FLAC, 24-bit FLAC (narrowed to 16 bits by dropping the low byte), and
    // AAC decoded by the FFmpeg back end (rounded to 16 bits).
    let cases: [(PathBuf, usize, &[&str]); 4] = [
        (media_path("wav_pcm_s16le.wav"), 2, &[]),
        (speech(), 2, &[]),
        (media_path("mkv_flac.mkv"), 2, &[]),
        (media_path("mp4_aac.mp4"), 2, &["--engine", "ffmpeg"]),
    ];
    for (input, channels, extra) in &cases {
        let mut s16 = ffmpeg_s16(input, *channels);
        // FFmpeg's CLI keeps AAC's end padding where audiotap applies the edit list's
        // presented length (fixtures/README.md): compare the frames both decode.
        let mut argv = vec!["analyze", "--json"];
        argv.extend(extra.iter());
        let path = s(input);
        argv.insert(1, &path);
        let frames = audiotap(&argv).ok().json()["frames"].as_u64().unwrap() as usize;
        assert!(
            s16.len() / channels >= frames && s16.len() / channels <= frames + 2048,
            "{}: ffmpeg decodes {} frames, audiotap {frames}",
            input.display(),
            s16.len() / channels
        );
        s16.truncate(frames * channels);
        let runs: [(&str, Vec<&str>); 4] = [
            ("json", vec!["--samples-per-pixel", "300"]),
            (
                "dat",
                vec!["--points", "100", "--bits", "8", "--split-channels"],
            ),
            ("dat", vec!["--pixels-per-second", "50"]),
            ("json", vec!["--points", "1000", "--bits", "8"]),
        ];
        for (ext, mut args) in runs {
            args.extend(extra.iter());
            let p = run_waveform(input, ext, &args);
            let split = args.contains(&"--split-channels");
            let bits = if args.contains(&"8") { 8 } else { 16 };
            let ctx = format!("{} {args:?}", input.display());
            assert_eq!(p.bits, bits, "{ctx}");
            assert_eq!(p.channels, if split { *channels } else { 1 }, "{ctx}");
            let rate = crate::support::source_rate(input, 0);
            assert_eq!(p.sample_rate, rate, "{ctx}");
            if let Some(i) = args.iter().position(|a| *a == "--points") {
                let n: usize = args[i + 1].parse().unwrap();
                let length = p.data.len() / (2 * p.channels);
                assert!(length <= n, "{ctx}: {length} pixels");
                assert!(
                    p.spp == 2 || p.spp <= frames.div_ceil(n) * 33 / 32 + 1,
                    "{ctx}: spp {} for {frames} frames",
                    p.spp
                );
            } else if args.contains(&"--pixels-per-second") {
                assert_eq!(p.spp, rate as usize / 50, "{ctx}");
            } else {
                assert_eq!(p.spp, 300, "{ctx}");
            }
            assert_eq!(
                p.data,
                expected(&s16, *channels, split, p.spp, bits),
                "{ctx}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Bad options and inputs: one line, invalid_options (exit 2), nothing written
// ---------------------------------------------------------------------------------------

#[test]
fn bad_options_give_one_line_and_leave_nothing() {
    let dir = tmpdir();
    let input = s(&media_path("wav_pcm_s16le.wav"));
    let json = s(&dir.path().join("peaks.json"));
    let cases: Vec<Vec<&str>> = vec![
        vec!["waveform", &input, "-o", &json, "--points", "0"],
        vec!["waveform", &input, "-o", &json, "--samples-per-pixel", "1"],
        vec!["waveform", &input, "-o", &json, "--bits", "12"],
        vec!["waveform", &input, "-o", &json, "--pixels-per-second", "0"],
        vec![
            "waveform",
            &input,
            "-o",
            &json,
            "--pixels-per-second",
            "30000",
        ],
        vec![
            "waveform",
            &input,
            "-o",
            &json,
            "--points",
            "10",
            "--samples-per-pixel",
            "64",
        ],
        vec!["waveform", &input, "-o", "peaks.txt"],
        vec!["analyze", &input, "--silence-threshold-db", "10"],
        vec!["analyze", &input, "--silence-threshold-db", "-200"],
        vec!["analyze", &input, "--silence-min-seconds", "0"],
        vec!["analyze", &input, "--silence-min-seconds", "nan"],
    ];
    for args in cases {
        let r = audiotap(&args);
        r.assert_error(2, Some("invalid_options"));
        assert!(dir_entries(dir.path()).is_empty(), "{args:?} left a file");
    }
    // Bad media and a missing track: their own codes, still nothing written.
    let bad = s(&crate::support::bad_dir().join("random.bin"));
    audiotap(["waveform", &bad, "-o", &json]).assert_error(1, None);
    audiotap(["waveform", &input, "-o", &json, "--track", "3"])
        .assert_error(1, Some("track_not_found"));
    audiotap(["analyze", &input, "--track", "3"]).assert_error(1, Some("track_not_found"));
    assert!(dir_entries(dir.path()).is_empty());
}
