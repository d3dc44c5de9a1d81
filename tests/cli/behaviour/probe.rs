//! `audiotap probe` against the manifest (ffprobe's view of every fixture), as JSON and as
//! the human table.

use serde_json::Value;

use super::{probe, s};
use crate::support::*;

/// Differences between `audiotap probe --json` and the manifest (ffprobe) for one file.
fn probe_mismatches(f: &MFile, p: &Value) -> Vec<String> {
    let mut e = Vec::new();
    if p["container"] != f.container() {
        e.push(format!(
            "container {} (want {})",
            p["container"],
            f.container()
        ));
    }
    if p["size"] != f.size {
        e.push(format!("size {} (want {})", p["size"], f.size));
    }
    if !matches!(p["engine"].as_str(), Some("symphonia" | "ffmpeg")) {
        e.push(format!("engine {}", p["engine"]));
    }
    if let Some(d) = f.duration {
        // float|null by contract (not every container states it); when given it must
        // be right. Containers disagree on what it covers (video vs audio end): 0.1 s.
        if !p["duration"].is_null() && !approx(&p["duration"], d, 0.1) {
            e.push(format!("duration {} (ffprobe {d})", p["duration"]));
        }
    }
    let want_offset = f.audio_offset.unwrap_or(0.0);
    if f.has_audio() && !approx(&p["audio_offset"], want_offset, 0.025) {
        e.push(format!(
            "audio_offset {} (ffprobe {want_offset})",
            p["audio_offset"]
        ));
    }
    let Some(tracks) = p["tracks"].as_array() else {
        e.push("no tracks array".into());
        return e;
    };
    let audio: Vec<&Value> = tracks.iter().filter(|t| t["kind"] == "audio").collect();
    if audio.len() != f.audio.len() {
        e.push(format!(
            "{} audio tracks (want {})",
            audio.len(),
            f.audio.len()
        ));
    }
    for (i, (got, want)) in audio.iter().zip(&f.audio).enumerate() {
        let mut chk = |k: &str, ok: bool| {
            if !ok {
                e.push(format!("audio track {i}: {k} = {}", got[k]));
            }
        };
        chk("index", got["index"] == want.index);
        chk("audio_index", got["audio_index"] == i as u64);
        chk("codec", got["codec"] == want.codec.as_str());
        chk("sample_rate", got["sample_rate"] == want.sample_rate);
        chk("channels", got["channels"] == want.channels);
        if let Some(b) = want.bit_depth {
            chk("bit_depth", got["bit_depth"] == b);
        }
        if want.codec == "aac" {
            // string|null by contract; when given it must be right.
            chk(
                "profile",
                got["profile"].is_null()
                    || got["profile"].as_str().is_some_and(|p| p.contains("LC")),
            );
        }
        chk(
            "language",
            match &want.language {
                Some(l) => got["language"] == l.as_str(),
                None => got["language"].is_null() || got["language"] == "und",
            },
        );
        if let Some(st) = want.start {
            // audiotap's starts are relative to the container start, ffprobe's absolute.
            chk(
                "start",
                approx(&got["start"], st - f.container_start, 0.025),
            );
        }
        if let Some(d) = want.duration {
            chk(
                "duration",
                got["duration"].is_null() || approx(&got["duration"], d, 0.05),
            );
        }
    }
    for t in tracks {
        if t["kind"] != "audio" && !t["audio_index"].is_null() {
            e.push(format!("non-audio track with audio_index: {t}"));
        }
    }
    if let Some(vc) = &f.video_codec {
        let found = tracks
            .iter()
            .any(|t| t["kind"] == "video" && t["codec"] == vc.as_str());
        if !found {
            e.push(format!("no video track with codec {vc}"));
        }
    }
    e
}

#[test]
fn probe_json_matches_manifest_for_every_fixture() {
    let mut fails = Vec::new();
    for f in manifest() {
        match probe(f) {
            Ok(p) => {
                let m = probe_mismatches(f, &p);
                if !m.is_empty() {
                    fails.push(format!("{}: {}\n  probe: {p}", f.name, m.join("; ")));
                }
            }
            Err(e) => fails.push(format!("{}: {e}", f.name)),
        }
    }
    assert!(
        fails.is_empty(),
        "{} of {} fixtures:\n{}",
        fails.len(),
        manifest().len(),
        fails.join("\n")
    );
}

#[test]
fn probe_human_output() {
    let f = fixture("mkv_multi.mkv");
    let r = audiotap(["probe", &s(&f.path)]).ok();
    let out = r.stdout_str();
    assert!(
        serde_json::from_str::<Value>(&out).is_err(),
        "plain probe printed JSON: {out}"
    );
    for w in ["aac", "48000", "fre", "eng"] {
        assert!(out.contains(w), "probe table lacks {w}:\n{out}");
    }
}
