//! What a remote source costs: an MP4 read by ranges fetches its `moov` and its audio, not
//! its video (through the CLI and through a job); a server without Range support and the
//! containers with nothing to gain are read whole.

use std::path::Path;
use std::process::Command;

use super::{extract_json, heavy_mp4};
use crate::support::*;

/// Bytes of the `moov` box and of all audio packets (ffprobe's count): what a Range read
/// must fetch at least.
fn moov_and_audio_bytes(path: &Path, data: &[u8]) -> (u64, u64) {
    let mut pos = 0usize;
    let mut moov = 0u64;
    while pos + 8 <= data.len() {
        let mut size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as u64;
        if size == 1 {
            size = u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap());
        } else if size == 0 {
            size = (data.len() - pos) as u64;
        }
        if &data[pos + 4..pos + 8] == b"moov" {
            moov = size;
        }
        pos += size as usize;
    }
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "packet=size",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let audio: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<u64>().ok())
        .sum();
    assert!(moov > 0 && audio > 0, "moov {moov}, audio {audio}");
    (moov, audio)
}

#[test]
fn remote_mp4_fetches_only_moov_and_audio() {
    let dir = tmpdir();
    for faststart in [false, true] {
        let name = if faststart { "fast.mp4" } else { "end.mp4" };
        let data = heavy_mp4(dir.path(), name, faststart);
        let local = dir.path().join(name);
        let (moov, audio) = moov_and_audio_bytes(&local, &data);
        let server = range_server(vec![(name.to_string(), data.clone())], true, None);
        for track in ["0", "1"] {
            server.reset();
            let remote_out = dir.path().join(format!("remote-{track}.wav"));
            let local_out = dir.path().join(format!("local-{track}.wav"));
            let report = extract_json(&server.url(name), &remote_out, &["--track", track]);
            let served = server.served();
            let need = moov + audio;
            println!(
                "{name} track {track}: served {served} of {} bytes (moov {moov} + audio {audio} = {need}), {} requests",
                data.len(),
                server.requests()
            );
            assert_eq!(report["fetch"]["method"], "range", "{report}");
            assert_eq!(report["fetch"]["bytes_fetched"], served, "{report}");
            assert_eq!(report["fetch"]["source_size"], data.len() as u64);
            // Both audio tracks are fetched (any can be chosen); the first request reads
            // 64 KiB ahead.
            assert!(
                served as f64 <= 1.2 * need as f64 + 65536.0,
                "{name}: served {served} bytes, needed {need}"
            );
            assert!(served * 5 < data.len() as u64, "{name}: served {served}");
            extract_json(local.to_str().unwrap(), &local_out, &["--track", track]);
            assert!(
                std::fs::read(&remote_out).unwrap() == std::fs::read(&local_out).unwrap(),
                "{name} track {track}: the remote output differs from the local one"
            );
        }
        // probe reads the moov (and the audio ranges) only, too.
        server.reset();
        let p = audiotap_allowing_loopback(&["probe", &server.url(name), "--json"])
            .ok()
            .json();
        assert_eq!(p["fetch"]["method"], "range");
        assert_eq!(p["tracks"].as_array().unwrap().len(), 3);
        assert!(server.served() * 5 < data.len() as u64);
    }
}

#[test]
fn without_range_support_the_source_is_read_whole() {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server(vec![("a.mp4".into(), data.clone())], false, None);
    let out = dir.path().join("o.wav");
    let report = extract_json(&server.url("a.mp4"), &out, &[]);
    assert_eq!(report["fetch"]["method"], "full");
    assert_eq!(report["fetch"]["bytes_fetched"], data.len() as u64);
    assert_eq!(server.served(), data.len() as u64);
    let local_out = dir.path().join("l.wav");
    extract_json(dir.path().join("a.mp4").to_str().unwrap(), &local_out, &[]);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&local_out).unwrap());
}

#[test]
fn containers_without_a_gain_are_streamed_whole() {
    // MKV interleaves too finely to gain, a fragmented MP4 keeps its samples in fragments,
    // and in a small audio-heavy MP4 the audio is most of the file.
    let names = [
        "mkv_aac.mkv",
        "mp4_aac_frag.mp4",
        "mp4_aac.mp4",
        "ts_aac.ts",
    ];
    let files: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| (n.to_string(), media_bytes(n)))
        .collect();
    let server = range_server(files.clone(), true, None);
    let dir = tmpdir();
    for (name, data) in &files {
        server.reset();
        let out = dir.path().join(format!("{name}.wav"));
        let report = extract_json(&server.url(name), &out, &[]);
        assert_eq!(report["fetch"]["method"], "full", "{name}: {report}");
        assert_eq!(server.served(), data.len() as u64, "{name}: each byte once");
        let local_out = dir.path().join(format!("{name}.local.wav"));
        extract_json(media_path(name).to_str().unwrap(), &local_out, &[]);
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(&local_out).unwrap(),
            "{name}: the remote output differs from the local one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_jobs_fetch_only_the_audio() {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", true);
    let size = data.len() as u64;
    let server = range_server(vec![("a.mp4".into(), data)], true, None);
    let srv = TestServer::start(ServerConfig::new()).await;
    let r = srv
        .create_json(&serde_json::json!({"source": {"url": server.url("a.mp4")}, "output": {"sample_rate": 16000, "channels": 1}}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let job = srv
        .wait_job(&id, "succeeded", |j| {
            j["status"] == "succeeded" || j["status"] == "failed"
        })
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["source"]["fetch"]["method"], "range", "{job}");
    assert_eq!(job["source"]["size"], size);
    let fetched = job["source"]["fetch"]["bytes_fetched"].as_u64().unwrap();
    assert_eq!(fetched, server.served());
    assert!(fetched * 5 < size, "fetched {fetched} of {size}");
}
