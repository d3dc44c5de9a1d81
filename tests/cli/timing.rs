//! Timing: sample-exact lengths (ffmpeg's, or the MP4 edit list's where it ends the
//! presentation before ffmpeg 5.1 stops decoding) for MP4 AAC in every layout, sample-exact
//! trims, and the audio offset of a track that starts after the video.

use crate::support::*;
use serde_json::Value;
use std::path::Path;

/// Frames ffmpeg decodes for the first audio track (priming removed by the edit list).
fn ffmpeg_frames(f: &MFile, job: &ExtractArgs) -> usize {
    let dir = tmpdir();
    let p = dir.path().join("ref.wav");
    ffmpeg_reference(&f.path, 0, job, &p);
    read_wav(&p).unwrap().frames
}

/// Presentation length in samples that the edit list of an MP4's sound track declares
/// (sum of its non-empty edits), if it has one.
///
/// ffmpeg 5.1 applies the start of an edit list (priming) but not its end: it decodes
/// the last AAC packet in full, so mp4_aac.mp4 (edit: 2.000 s from media time 1024)
/// decodes to 96256 samples there, while the file says 96000. The file is the authority.
fn mp4_edit_list_samples(path: &Path, rate: u32) -> Option<u64> {
    let b = std::fs::read(path).ok()?;
    let moov = find_box(&b, 0, b.len(), b"moov")?;
    let mvhd = find_box(&b, moov.0, moov.1, b"mvhd")?;
    let movie_ts = be32(&b, mvhd.0 + if b[mvhd.0] == 1 { 20 } else { 12 }) as u64;
    let mut pos = moov.0;
    while let Some(trak) = find_box(&b, pos, moov.1, b"trak") {
        pos = trak.1;
        let mdia = find_box(&b, trak.0, trak.1, b"mdia")?;
        let hdlr = find_box(&b, mdia.0, mdia.1, b"hdlr")?;
        if &b[hdlr.0 + 8..hdlr.0 + 12] != b"soun" {
            continue;
        }
        let edts = find_box(&b, trak.0, trak.1, b"edts")?;
        let elst = find_box(&b, edts.0, edts.1, b"elst")?;
        let v1 = b[elst.0] == 1;
        let n = be32(&b, elst.0 + 4) as usize;
        let mut total = 0u64;
        for i in 0..n {
            let (dur, media_time) = if v1 {
                let o = elst.0 + 8 + i * 20;
                (be64(&b, o), be64(&b, o + 8) as i64)
            } else {
                let o = elst.0 + 8 + i * 12;
                (be32(&b, o) as u64, be32(&b, o + 4) as i32 as i64)
            };
            if media_time >= 0 {
                total += dur;
            }
        }
        return Some(total * rate as u64 / movie_ts);
    }
    None
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().unwrap())
}

fn be64(b: &[u8], o: usize) -> u64 {
    u64::from_be_bytes(b[o..o + 8].try_into().unwrap())
}

/// First box of type `t` among the boxes in b[from..to]: (body start, box end).
fn find_box(b: &[u8], mut from: usize, to: usize, t: &[u8; 4]) -> Option<(usize, usize)> {
    while from + 8 <= to {
        let mut size = be32(b, from) as usize;
        let mut hdr = 8;
        if size == 1 {
            size = be64(b, from + 8) as usize;
            hdr = 16;
        } else if size == 0 {
            size = to - from;
        }
        if size < hdr || from + size > to {
            return None;
        }
        if &b[from + 4..from + 8] == t {
            // Full boxes (mvhd, hdlr, elst) keep their version/flags at the body start.
            return Some((from + hdr, from + size));
        }
        from += size;
    }
    None
}

/// The exact length audiotap must produce for a job: ffmpeg's, unless the MP4 edit list
/// ends the presentation earlier (see `mp4_edit_list_samples`).
fn expected_frames(f: &MFile, job: &ExtractArgs) -> (usize, usize) {
    let ff = ffmpeg_frames(f, job);
    let rate = f.track(0).sample_rate;
    let want = match mp4_edit_list_samples(&f.path, rate) {
        Some(total) if f.container() == "mp4" => {
            let start = (job.start.unwrap_or(0.0) * rate as f64).round() as u64;
            let mut n = total.saturating_sub(start);
            if let Some(d) = job.duration {
                n = n.min((d * rate as f64).round() as u64);
            }
            assert!(
                n as usize <= ff,
                "{}: edit list says {n}, ffmpeg decodes only {ff}",
                f.name
            );
            n as usize
        }
        _ => ff,
    };
    (want, ff)
}

/// Frames audiotap writes (and reports) for a job with a given engine.
fn audiotap_frames(f: &MFile, job: &ExtractArgs) -> Result<(usize, Value), String> {
    let dir = tmpdir();
    let p = dir.path().join("out.wav");
    let run = extract(&f.path, &p, job, &["--json"]);
    if !run.success() {
        return Err(run.describe());
    }
    let report = run.json();
    let wav = read_wav(&p)?;
    if report["frames"] != wav.frames as u64 {
        return Err(format!(
            "report.frames {} but the file holds {} frames",
            report["frames"], wav.frames
        ));
    }
    Ok((wav.frames, report))
}

fn exact_lengths(names: &[&str], job: ExtractArgs) {
    let mut fails = Vec::new();
    for name in names {
        let f = fixture(name);
        let (want, ff) = expected_frames(f, &job);
        let engines: &[&str] = if f.symphonia() {
            &["symphonia", "ffmpeg"]
        } else {
            &["ffmpeg"]
        };
        for &engine in engines {
            let job = ExtractArgs {
                engine: Some(engine),
                ..job.clone()
            };
            match audiotap_frames(f, &job) {
                Ok((got, _)) => {
                    println!(
                        "{name:<24} {engine:<9} {:?}: {got} frames, expected {want} (ffmpeg CLI {ff})",
                        job.cli_args(),
                    );
                    if got != want {
                        fails.push(format!(
                            "{name} {:?}: {got} frames, expected {want} (diff {}; ffmpeg CLI decodes {ff})",
                            job.cli_args(),
                            got as i64 - want as i64
                        ));
                    }
                }
                Err(e) => fails.push(format!("{name} --engine {engine}: {e}")),
            }
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn edit_list_parser_reads_the_fixtures() {
    let f = fixture("mp4_aac.mp4");
    assert_eq!(mp4_edit_list_samples(&f.path, 48000), Some(96000));
    // Empty edit (0.5 s) + 2 s of media.
    assert_eq!(
        mp4_edit_list_samples(&fixture("mp4_aac_offset.mp4").path, 48000),
        Some(96000)
    );
    assert_eq!(
        mp4_edit_list_samples(&fixture("mkv_aac.mkv").path, 48000),
        None
    );
}

#[test]
fn mp4_aac_lengths_are_exact() {
    exact_lengths(
        &[
            "mp4_aac.mp4",           // moov at the end
            "mp4_aac_faststart.mp4", // moov at the start
            "mp4_aac_frag.mp4",      // fragmented
            "mp4_aac_long.mp4",
            "mov_aac.mov",
            "3gp_aac.3gp",
            "mp4_aac_offset.mp4",
            "mp4_aac_51.mp4",
        ],
        ExtractArgs::default(),
    );
}

#[test]
fn lossless_lengths_are_nominal() {
    // Lossless fixtures hold exactly the generator's N seconds of signal: the output must
    // have exactly N·rate frames with both engines (no padding, no lost tail).
    let mut fails = Vec::new();
    let mut n = 0;
    for f in manifest()
        .iter()
        .filter(|f| f.has_audio() && is_lossless_codec(&f.track(0).codec) && f.symphonia())
    {
        n += 1;
        let secs = f.nominal_duration.expect("nominal_duration_s");
        let want = (secs * f.track(0).sample_rate as f64).round() as usize;
        for engine in ["symphonia", "ffmpeg"] {
            let job = ExtractArgs {
                engine: Some(engine),
                ..ExtractArgs::default()
            };
            match audiotap_frames(f, &job) {
                Ok((got, _)) if got == want => {}
                Ok((got, _)) => fails.push(format!(
                    "{} --engine {engine}: {got} frames, expected {want}",
                    f.name
                )),
                Err(e) => fails.push(format!("{} --engine {engine}: {e}", f.name)),
            }
        }
    }
    assert!(n >= 5, "expected several lossless fixtures, got {n}");
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn trims_are_sample_exact() {
    // 1.0 s + 2.0 s at 48 kHz: exactly 96000 frames, and the same as ffmpeg's trim.
    let f = fixture("mp4_aac_long.mp4");
    let job = ExtractArgs {
        start: Some(1.0),
        duration: Some(2.0),
        ..ExtractArgs::default()
    };
    assert_eq!(expected_frames(f, &job).0, 96000);
    exact_lengths(&["mp4_aac_long.mp4"], job);
    // A start inside a codec frame and an odd duration (0.123 s + 1.2345 s).
    let job = ExtractArgs {
        start: Some(0.123),
        duration: Some(1.2345),
        ..ExtractArgs::default()
    };
    exact_lengths(&["mp4_aac_long.mp4", "mkv_flac.mkv"], job);
}

#[test]
fn duration_past_the_end_gives_the_rest() {
    let job = ExtractArgs {
        start: Some(9.5),
        duration: Some(5.0),
        ..ExtractArgs::default()
    };
    exact_lengths(&["mp4_aac_long.mp4"], job);
}

fn close(v: &Value, want: f64, tol: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() <= tol)
}

/// The audio of mp4_aac_offset.mp4 starts 0.5 s after the video (an empty edit). ffprobe
/// places its first sample at 0.478 s (0.5 s minus the 1024-sample priming it keeps in the
/// timeline); either is right within one AAC frame (21.3 ms).
const OFFSET: f64 = 0.5;
const OFFSET_TOL: f64 = 0.025;

#[test]
fn offset_in_probe() {
    let f = fixture("mp4_aac_offset.mp4");
    let p = audiotap(["probe", f.path.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert!(
        close(&p["audio_offset"], OFFSET, OFFSET_TOL),
        "probe audio_offset: {p}"
    );
    let audio: Vec<&Value> = p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "audio")
        .collect();
    assert_eq!(audio.len(), 1, "{p}");
    assert!(
        close(&audio[0]["start"], OFFSET, OFFSET_TOL),
        "audio track start: {p}"
    );

    // And a file without offset says 0 (so the check above is not a constant).
    let p0 = audiotap([
        "probe",
        fixture("mp4_aac.mp4").path.to_str().unwrap(),
        "--json",
    ])
    .ok()
    .json();
    assert!(close(&p0["audio_offset"], 0.0, 0.001), "{p0}");
    // TS: both streams start at 1.4 s; the audio offset is relative to the container.
    let pts = audiotap([
        "probe",
        fixture("ts_aac.ts").path.to_str().unwrap(),
        "--json",
    ])
    .ok()
    .json();
    assert!(
        close(&pts["audio_offset"], 0.0, OFFSET_TOL),
        "ts_aac.ts: {pts}"
    );
}

#[test]
fn offset_in_extract_report() {
    let f = fixture("mp4_aac_offset.mp4");
    let mut fails = Vec::new();
    for engine in ["symphonia", "ffmpeg"] {
        let job = ExtractArgs {
            engine: Some(engine),
            ..ExtractArgs::default()
        };
        match audiotap_frames(f, &job) {
            Ok((_, r)) if close(&r["audio_offset"], OFFSET, OFFSET_TOL) => {}
            Ok((_, r)) => fails.push(format!(
                "--engine {engine}: audio_offset {} in {r}",
                r["audio_offset"]
            )),
            Err(e) => fails.push(format!("--engine {engine}: {e}")),
        }
        match audiotap_frames(fixture("mp4_aac.mp4"), &job) {
            Ok((_, r)) if close(&r["audio_offset"], 0.0, 0.001) => {}
            Ok((_, r)) => fails.push(format!(
                "mp4_aac.mp4 --engine {engine}: audio_offset {}",
                r["audio_offset"]
            )),
            Err(e) => fails.push(format!("mp4_aac.mp4 --engine {engine}: {e}")),
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}
