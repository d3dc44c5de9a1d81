//! Remote sources read with HTTP Range requests: a local server that counts the bytes it
//! serves shows that a remote MP4 costs its `moov` and its audio chunks, not its video, and
//! that everything else (no Range support, MKV, fragmented MP4) is streamed whole. Outputs
//! must equal those of the same file read locally. The server answers multi-range requests
//! with `multipart/byteranges` as nginx does, or, to test the fallbacks, as other servers
//! do (one coalesced range, the first range only, the whole file) or wrongly.
//!
//! The size cap is tested on the same `range::fetch_source` the product runs, and so is
//! what every URL source goes through, in `range/whole.rs`: a body read whole, the guard on
//! each request and redirect hop, the error codes.

#[path = "whole.rs"]
mod whole;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::*;
use audiotap::net::range::{self, FetchOutcome, RangeOptions};
use audiotap::net::{ClientOptions, NetError, UrlGuard, guarded_client};
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

/// How the server answers a request for several ranges.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Multi {
    /// `multipart/byteranges`, a part per range, as nginx does.
    Parts,
    /// One range spanning all those asked.
    Coalesce,
    /// The first range asked only.
    FirstOnly,
    /// The whole file (`200`), as nginx does with `max_ranges 1`.
    Ignore,
    /// Parts, the second of which is one byte off what was asked (Content-Range and data).
    WrongRange,
    /// Parts, the last of which is cut short (its Content-Range left as asked).
    Truncated,
}

/// The ranges (first, last) of each ranged request, in order.
type RangeLog = Arc<Mutex<Vec<Vec<(u64, u64)>>>>;

#[derive(Clone)]
struct Files {
    files: Arc<HashMap<String, Arc<Vec<u8>>>>,
    ranges: bool,
    multi: Multi,
    /// After this many requests the file "changes" (new ETag), as if replaced upstream.
    change_after: Option<u64>,
    served: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    log: RangeLog,
}

struct RangeServer {
    port: u16,
    served: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    log: RangeLog,
}

impl RangeServer {
    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
    fn reset(&self) {
        self.served.store(0, Ordering::SeqCst);
        self.requests.store(0, Ordering::SeqCst);
        self.log.lock().unwrap().clear();
    }
    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
    /// Ranged requests made, and the ranges they asked for in all.
    fn ranged(&self) -> (usize, usize) {
        let log = self.log.lock().unwrap();
        (log.len(), log.iter().map(Vec::len).sum())
    }
    fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

/// An HTTP/1.1 file server on 127.0.0.1 (keep-alive), with `Range: bytes=a-b,c-d,...`
/// support when `ranges` (several ranges answered `multipart/byteranges`), a strong `ETag`
/// honoured through `If-Range`, and a count of the body bytes it sends (payload only).
fn range_server(
    files: Vec<(String, Vec<u8>)>,
    ranges: bool,
    change_after: Option<u64>,
) -> RangeServer {
    range_server_with(files, ranges, change_after, Multi::Parts)
}

fn range_server_with(
    files: Vec<(String, Vec<u8>)>,
    ranges: bool,
    change_after: Option<u64>,
    multi: Multi,
) -> RangeServer {
    let state = Files {
        files: Arc::new(files.into_iter().map(|(n, b)| (n, Arc::new(b))).collect()),
        ranges,
        multi,
        change_after,
        served: Arc::new(AtomicU64::new(0)),
        requests: Arc::new(AtomicU64::new(0)),
        log: Arc::new(Mutex::new(Vec::new())),
    };
    let served = state.served.clone();
    let requests = state.requests.clone();
    let log = state.log.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route("/{name}", axum::routing::get(serve_file))
                .with_state(state);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    RangeServer {
        port,
        served,
        requests,
        log,
    }
}

async fn serve_file(
    State(st): State<Files>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let n = st.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let Some(body) = st.files.get(&name).cloned() else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found"))
            .unwrap();
    };
    let version = if st.change_after.is_some_and(|after| n > after) {
        2
    } else {
        1
    };
    let etag = format!("\"v{version}\"");
    let len = body.len() as u64;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // nginx refuses header lines over 8 KiB; the client keeps `Range` under 4 KiB.
    if range_header.is_some_and(|v| v.len() > 4096) {
        return Response::builder()
            .status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .body(Body::empty())
            .unwrap();
    }
    let ranges: Option<Vec<(u64, u64)>> = range_header
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| {
            v.split(',')
                .map(|spec| {
                    let (a, b) = spec.split_once('-')?;
                    let a: u64 = a.parse().ok()?;
                    let b: u64 = if b.is_empty() {
                        len - 1
                    } else {
                        b.parse().ok()?
                    };
                    Some((a, b.min(len - 1)))
                })
                .collect()
        });
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.to_str().ok() == Some(etag.as_str()));
    if st.ranges
        && if_range_ok
        && let Some(ranges) = ranges
    {
        st.log.lock().unwrap().push(ranges.clone());
        if ranges.iter().any(|&(a, b)| a > b || a >= len) {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::empty())
                .unwrap();
        }
        let (a, b) = match (ranges.len(), st.multi) {
            (1, _) | (_, Multi::FirstOnly) => ranges[0],
            (_, Multi::Coalesce) => (ranges[0].0, ranges.last().unwrap().1),
            (_, Multi::Ignore) => return whole_file(&st, &body, &etag),
            (_, multi) => return multipart(&st, &body, &etag, &ranges, multi),
        };
        if a > b || a >= len {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::empty())
                .unwrap();
        }
        let part = body[a as usize..=b as usize].to_vec();
        st.served.fetch_add(part.len() as u64, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {a}-{b}/{len}"))
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::ETAG, &etag)
            .body(Body::from(part))
            .unwrap();
    }
    whole_file(&st, &body, &etag)
}

fn whole_file(st: &Files, body: &[u8], etag: &str) -> Response {
    st.served.fetch_add(body.len() as u64, Ordering::SeqCst);
    let mut r = Response::builder()
        .status(StatusCode::OK)
        .header(header::ETAG, etag);
    if st.ranges {
        r = r.header(header::ACCEPT_RANGES, "bytes");
    }
    r.body(Body::from(body.to_vec())).unwrap()
}

/// A `multipart/byteranges` answer laid out as nginx writes it, sent in 1000-byte chunks
/// so that boundaries and part headers straddle chunks.
fn multipart(st: &Files, body: &[u8], etag: &str, ranges: &[(u64, u64)], multi: Multi) -> Response {
    const BOUNDARY: &str = "00000000000000000042";
    let len = body.len() as u64;
    let mut out = Vec::new();
    for (i, &(mut a, mut b)) in ranges.iter().enumerate() {
        if multi == Multi::WrongRange && i == 1 {
            (a, b) = (a + 1, (b + 1).min(len - 1));
        }
        out.extend_from_slice(
            format!(
                "\r\n--{BOUNDARY}\r\nContent-Type: video/mp4\r\n\
                 Content-Range: bytes {a}-{b}/{len}\r\n\r\n"
            )
            .as_bytes(),
        );
        let mut part = &body[a as usize..=b as usize];
        if multi == Multi::Truncated && i == ranges.len() - 1 {
            part = &part[..part.len() / 2];
        }
        st.served.fetch_add(part.len() as u64, Ordering::SeqCst);
        out.extend_from_slice(part);
    }
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = out
        .chunks(1000)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/byteranges; boundary={BOUNDARY}"),
        )
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, etag)
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap()
}

fn url_cmd(args: &[&str]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    cmd.env_remove("RUST_LOG");
    cmd.env("AUDIOTAP_URL_ALLOWLIST", "127.0.0.1");
    run_cmd(cmd, None, DEFAULT_TIMEOUT)
}

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

fn extract_json(url_or_path: &str, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["extract", url_or_path, "-o"];
    let o = out.to_str().unwrap();
    args.push(o);
    args.extend_from_slice(extra);
    args.push("--json");
    let r = url_cmd(&args);
    assert!(r.success(), "{}", r.describe());
    r.json()
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
                server.requests.load(Ordering::SeqCst)
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
        let p = url_cmd(&["probe", &server.url(name), "--json"]).ok().json();
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

#[test]
fn a_source_that_changes_mid_transfer_fails_cleanly() {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server(vec![("a.mp4".into(), data)], true, Some(1));
    let out_dir = tmpdir();
    let out = out_dir.path().join("o.wav");
    let r = url_cmd(&["extract", &server.url("a.mp4"), "-o", out.to_str().unwrap()]);
    r.assert_error(1, Some("source_unreachable"));
    assert!(r.stderr.contains("changed"), "{}", r.describe());
    assert_eq!(dir_entries(out_dir.path()), Vec::<String>::new());
}

#[test]
fn cli_url_sources_obey_the_url_guard() {
    let server = range_server(
        vec![("a.mp4".into(), media_bytes("mp4_aac.mp4"))],
        true,
        None,
    );
    let out_dir = tmpdir();
    let out = out_dir.path().join("o.wav");
    let mut cmd = Command::new(bin());
    cmd.args(["extract", &server.url("a.mp4"), "-o", out.to_str().unwrap()]);
    cmd.env_remove("AUDIOTAP_URL_ALLOWLIST");
    let r = run_cmd(cmd, None, DEFAULT_TIMEOUT);
    r.assert_error(1, Some("url_forbidden"));
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        0,
        "no request may reach loopback"
    );
    assert_eq!(dir_entries(out_dir.path()), Vec::<String>::new());
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

/// Every byte range the server was asked for holds the source's bytes in the spool file.
fn assert_ranges_match(server: &RangeServer, data: &[u8], spool: &Path) {
    let got = std::fs::read(spool).unwrap();
    assert_eq!(
        got.len(),
        data.len(),
        "the spool file has the source's size"
    );
    for ranges in server.log.lock().unwrap().iter() {
        for &(a, b) in ranges {
            let (a, b) = (a as usize, b as usize);
            assert!(got[a..=b] == data[a..=b], "bytes {a}-{b} differ");
        }
    }
}

fn multi_range_requests(server: &RangeServer) -> usize {
    let log = server.log.lock().unwrap();
    log.iter().filter(|r| r.len() > 1).count()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_range_requests_fetch_the_audio_in_few_requests() {
    use audiotap::net::range::MAX_RANGES_PER_REQUEST;
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server(vec![("a.mp4".into(), data.clone())], true, None);
    let spool = dir.path().join("spool.mp4");
    let out = fetch_to(&server, "a.mp4", &spool).await.unwrap();
    assert_ranges_match(&server, &data, &spool);
    let (ranged, asked) = server.ranged();
    let requests = server.requests();
    let multi = multi_range_requests(&server);
    println!("{requests} requests ({multi} multi-range) for {asked} ranges");
    assert_eq!(out.summary.requests as u64, requests);
    assert_eq!(out.summary.bytes_fetched, server.served());
    assert_eq!(ranged as u64, requests, "every request asks for ranges");
    // The head, the box header at the end and the moov, then the audio's ranges in
    // requests of up to MAX_RANGES_PER_REQUEST.
    assert!(multi >= 1, "no multi-range request");
    assert!(
        requests as usize <= asked.div_ceil(MAX_RANGES_PER_REQUEST) + 4,
        "{requests} requests for {asked} ranges"
    );
    assert!(
        requests as usize * 20 < asked,
        "{requests} requests for {asked} ranges"
    );
    // The CLI's output equals the local file's, and its count of requests is small too.
    server.reset();
    let report = assert_same_output(&server, dir.path(), "a.mp4");
    assert_eq!(report["fetch"]["method"], "range", "{report}");
    assert_eq!(report["fetch"]["requests"], server.requests(), "{report}");
    assert_eq!(
        report["fetch"]["bytes_fetched"],
        server.served(),
        "{report}"
    );
}

#[test]
fn a_server_that_coalesces_ranges_into_one_is_read_correctly() {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server_with(
        vec![("a.mp4".into(), data.clone())],
        true,
        None,
        Multi::Coalesce,
    );
    let report = assert_same_output(&server, dir.path(), "a.mp4");
    assert_eq!(report["fetch"]["method"], "range", "{report}");
    assert_eq!(
        report["fetch"]["bytes_fetched"],
        server.served(),
        "{report}"
    );
    // A coalesced answer costs the gaps between the ranges: after the first multi-range
    // request (which goes alone), one range per request.
    assert_eq!(multi_range_requests(&server), 1);
    assert!(
        // The hull of the first 200 ranges is a quarter of this small file.
        server.served() * 2 < data.len() as u64,
        "served {}",
        server.served()
    );
}

#[test]
fn a_server_that_ignores_multi_range_requests_is_read_one_range_at_a_time() {
    // nginx with `max_ranges 1` answers one range but the whole file for several.
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server_with(
        vec![("a.mp4".into(), data.clone())],
        true,
        None,
        Multi::Ignore,
    );
    let report = assert_same_output(&server, dir.path(), "a.mp4");
    assert_eq!(report["fetch"]["method"], "range", "{report}");
    let fetched = report["fetch"]["bytes_fetched"].as_u64().unwrap();
    assert!(fetched * 5 < data.len() as u64, "fetched {fetched}");
    // The first multi-range request goes alone; then one range per request.
    assert_eq!(multi_range_requests(&server), 1);
}

#[test]
fn a_server_that_answers_only_the_first_range_is_read_one_range_at_a_time() {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server_with(
        vec![("a.mp4".into(), data.clone())],
        true,
        None,
        Multi::FirstOnly,
    );
    let report = assert_same_output(&server, dir.path(), "a.mp4");
    assert_eq!(report["fetch"]["method"], "range", "{report}");
    assert_eq!(
        report["fetch"]["bytes_fetched"],
        server.served(),
        "{report}"
    );
    assert_eq!(multi_range_requests(&server), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_multipart_answers_fail_cleanly() {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    for (multi, want) in [
        (Multi::WrongRange, "not asked"),
        (Multi::Truncated, "malformed multipart/byteranges"),
    ] {
        let server = range_server_with(vec![("a.mp4".into(), data.clone())], true, None, multi);
        // The library: a clear error and no spool file left behind.
        let spool = dir.path().join("spool.mp4");
        let err = fetch_to(&server, "a.mp4", &spool).await.unwrap_err();
        assert_eq!(err.code(), "source_unreachable", "{multi:?}: {err}");
        assert!(err.to_string().contains(want), "{multi:?}: {err}");
        assert!(!spool.exists(), "{multi:?}: the spool file is left");
        // The CLI: the same error, no output.
        let out_dir = tmpdir();
        let out = out_dir.path().join("o.wav");
        let url = server.url("a.mp4");
        let r = tokio::task::spawn_blocking(move || {
            url_cmd(&["extract", &url, "-o", out.to_str().unwrap()])
        })
        .await
        .unwrap();
        r.assert_error(1, Some("source_unreachable"));
        assert!(r.stderr.contains(want), "{multi:?}: {}", r.describe());
        assert_eq!(dir_entries(out_dir.path()), Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_cap_holds_on_ranged_reads() {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server(vec![("a.mp4".into(), data.clone())], true, None);
    let spool = dir.path().join("spool.mp4");
    let planned = fetch_to(&server, "a.mp4", &spool).await.unwrap().summary;
    assert_eq!(planned.method, audiotap::net::FetchMethod::Range);
    let needed = planned.bytes_fetched;
    assert!(needed * 5 < data.len() as u64, "fetched {needed}");
    // The cap counts the bytes fetched, not the source's size: what the plan fetches is
    // enough, a byte less is refused while fetching, and no spool file is left.
    let out = fetch_capped(&server, "a.mp4", &spool, needed)
        .await
        .unwrap();
    assert_eq!(out.summary.bytes_fetched, needed);
    let err = fetch_capped(&server, "a.mp4", &spool, needed - 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "source_too_large", "{err}");
    assert!(!spool.exists());

    // A file with nothing to plan is read whole: refused once its size is known from the
    // first answer, before its body is fetched.
    let mkv = media_bytes("mkv_aac.mkv");
    let len = mkv.len() as u64;
    let server = range_server(vec![("a.mkv".into(), mkv)], true, None);
    let err = fetch_capped(&server, "a.mkv", &spool, len - 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "source_too_large", "{err}");
    assert!(server.served() <= 64 * 1024, "served {}", server.served());
    let out = fetch_capped(&server, "a.mkv", &spool, len).await.unwrap();
    assert_eq!(out.summary.method, audiotap::net::FetchMethod::Full);
    assert_eq!(std::fs::read(&spool).unwrap().len() as u64, len);
}
