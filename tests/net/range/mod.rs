//! Remote sources read with HTTP Range requests: a local server that counts the bytes it
//! serves shows that a remote MP4 costs its `moov` and its audio chunks, not its video, and
//! that everything else (no Range support, MKV, fragmented MP4) is streamed whole. Outputs
//! must equal those of the same file read locally. The server answers multi-range requests
//! with `multipart/byteranges` as nginx does, or, to test the fallbacks, as other servers
//! do (one coalesced range, the first range only, the whole file) or wrongly.
//!
//! The size cap is tested on the same `range::fetch_source` the product runs, and so is
//! what every URL source goes through, in `whole.rs`: a body read whole, the guard on each
//! request and redirect hop, the error codes. A module per subject; the helpers several of
//! them use are here.

mod failures;
mod multi;
mod planned;
mod whole;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use crate::support::*;
use audiotap::net::range::{self, FetchOutcome, RangeOptions};
use audiotap::net::{ClientOptions, NetError, UrlGuard, guarded_client};
use serde_json::Value;

/// A video-heavy MP4: 30 s of 320x240 H.264 at a high bitrate and two AAC tracks, moov at
/// the end or (faststart) at the start.
fn heavy_mp4(dir: &Path, name: &str, faststart: bool) -> Vec<u8> {
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=30",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=30",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=660:sample_rate=44100:duration=30",
        ])
        .args(["-map", "0:v", "-map", "1:a", "-map", "2:a"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "12",
            "-threads",
            "2",
        ])
        .args(["-c:a", "aac", "-aac_coder", "fast", "-b:a", "128k"]);
    if faststart {
        cmd.args(["-movflags", "+faststart"]);
    }
    let st = cmd.arg(&out).status().expect("run ffmpeg");
    assert!(st.success(), "ffmpeg failed to make {name}");
    std::fs::read(&out).unwrap()
}

fn extract_json(url_or_path: &str, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["extract", url_or_path, "-o"];
    let o = out.to_str().unwrap();
    args.push(o);
    args.extend_from_slice(extra);
    args.push("--json");
    let r = audiotap_allowing_loopback(&args);
    assert!(r.success(), "{}", r.describe());
    r.json()
}

/// Fetch `url` with the library, as the CLI and the service do (with `allow` allowlisted,
/// at most 3 redirects).
async fn fetch_url(
    allow: &[&str],
    url: &str,
    dest: &Path,
    opts: &RangeOptions,
) -> Result<FetchOutcome, NetError> {
    let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    let guard = Arc::new(UrlGuard::new(&allow).unwrap());
    let client = guarded_client(guard.clone(), client_options()).unwrap();
    let mut planner = audiotap::media::mp4::AudioRanges::default();
    range::fetch_source(&client, &guard, url, dest, opts, &mut planner).await
}

fn client_options() -> ClientOptions {
    ClientOptions {
        max_redirects: 3,
        ..ClientOptions::default()
    }
}

/// Fetch `name` from `server` under a cap of `cap` bytes.
async fn fetch_capped(
    server: &RangeServer,
    name: &str,
    dest: &Path,
    cap: u64,
) -> Result<FetchOutcome, NetError> {
    fetch_url(
        &["127.0.0.1"],
        &server.url(name),
        dest,
        &RangeOptions::new(cap),
    )
    .await
}

/// Fetch `name` from `server`, uncapped.
async fn fetch_to(server: &RangeServer, name: &str, dest: &Path) -> Result<FetchOutcome, NetError> {
    fetch_capped(server, name, dest, u64::MAX).await
}

fn multi_range_requests(server: &RangeServer) -> usize {
    server.ranges_asked().iter().filter(|r| r.len() > 1).count()
}

/// The remote output (CLI) equals the local one.
fn assert_same_output(server: &RangeServer, dir: &Path, name: &str) -> Value {
    let remote_out = dir.join("remote.wav");
    let local_out = dir.join("local.wav");
    let report = extract_json(&server.url(name), &remote_out, &[]);
    extract_json(dir.join(name).to_str().unwrap(), &local_out, &[]);
    assert!(
        std::fs::read(&remote_out).unwrap() == std::fs::read(&local_out).unwrap(),
        "the remote output differs from the local one"
    );
    report
}
