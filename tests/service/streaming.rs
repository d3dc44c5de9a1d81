//! Uploads are extracted while they arrive: a raw-body `POST /v1/extract` is decoded as its
//! bytes land when the container can be read front to back (MKV, WebM, MPEG-TS, FLV,
//! fragmented and faststart MP4, Ogg, WAV, ADTS), waits for the last byte when it cannot
//! (an MP4 with `moov` at the end), and in every case gives the same bytes as the CLI on
//! the whole file.
//!
//! The FFmpeg-only containers (MPEG-TS, FLV) are checked on 10 s files: libavformat reads up
//! to 5 s of media (its stream-info analysis) before the first packet, so a 2 s file is
//! whole by then.
//!
//! The proof is a gate, not a clock: the test sends the head of the file, holds back its
//! last quarter, and waits for the server's `audiotap_sync_first_block_seconds` count (a
//! first block was decoded) to move before it sends the rest. A server that needed the
//! whole file cannot move it, and the test fails at the gate's timeout.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;

use crate::support::*;

/// How long the gate waits for the first block before calling the upload not streamed.
const GATE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a file that needs its end is watched for a (wrong) early start.
const QUIET_WINDOW: Duration = Duration::from_millis(700);

/// The `dur` of one `Server-Timing` metric, in ms.
fn timing(header: &str, name: &str) -> Option<f64> {
    header.split(',').find_map(|m| {
        let mut parts = m.trim().split(';');
        (parts.next()? == name)
            .then(|| parts.find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok()))
            .flatten()
    })
}

/// How many synchronous extractions have decoded their first block (from `/metrics`).
async fn first_blocks(srv: &TestServer) -> u64 {
    let resp = srv.get("/metrics").await;
    String::from_utf8_lossy(&resp.body)
        .lines()
        .find_map(|l| l.strip_prefix("audiotap_sync_first_block_seconds_count "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

struct Gated {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    /// Whether the first block was decoded while the tail was still held back.
    began_before_tail: bool,
}

/// POST `data` as a raw body (with its `Content-Length`): the head in a few pieces, then
/// hold back the last `tail` bytes until the server reports a first decoded block (or
/// `wait` passes), then the tail.
async fn gated_extract(
    srv: &TestServer,
    query: &str,
    data: &[u8],
    tail: usize,
    wait: Duration,
) -> Gated {
    gated_post(srv, query, "application/octet-stream", data, tail, wait).await
}

/// [`gated_extract`] with any content type (and the body as given).
async fn gated_post(
    srv: &TestServer,
    query: &str,
    content_type: &str,
    data: &[u8],
    tail: usize,
    wait: Duration,
) -> Gated {
    let before = first_blocks(srv).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let request = srv
        .post_req(&format!("/v1/extract?{query}"))
        .header("content-type", content_type)
        .header("content-length", data.len())
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let response = tokio::spawn(request);

    let (head, rest) = data.split_at(data.len() - tail);
    for piece in head.chunks(head.len().div_ceil(4)) {
        tx.send(Bytes::copy_from_slice(piece)).await.expect("send");
    }
    let deadline = Instant::now() + wait;
    let mut began_before_tail = false;
    while Instant::now() < deadline {
        if first_blocks(srv).await > before {
            began_before_tail = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.send(Bytes::copy_from_slice(rest)).await.expect("send");
    drop(tx);

    let resp = response.await.expect("request task").expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    Gated {
        status,
        headers,
        body,
        began_before_tail,
    }
}

/// The CLI's extraction of the whole file with the same options.
fn cli_extract(input: &std::path::Path) -> Vec<u8> {
    let dir = tmpdir();
    let out = dir.path().join("cli.wav");
    audiotap([
        "extract",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--sample-rate",
        "16000",
        "--channels",
        "1",
    ])
    .ok();
    std::fs::read(&out).unwrap()
}

/// The 10 s H.264 + AAC fixture remuxed (packets copied) into `format`. FFmpeg reads up to
/// 5 s of media before it hands out the first packet (its stream-info analysis), so the 2 s
/// fixtures of the FFmpeg-only containers would need their last quarter for that alone.
fn remux_long(dir: &std::path::Path, format: &str, ext: &str) -> std::path::PathBuf {
    let out = dir.join(format!("long.{ext}"));
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(media_path("mp4_aac_long.mp4"))
        .args([
            "-map",
            "0",
            "-c",
            "copy",
            "-fflags",
            "+bitexact",
            "-f",
            format,
        ])
        .arg(&out)
        .status()
        .expect("the ffmpeg CLI (scripts/system-packages.sh test)");
    assert!(st.success(), "remux to {format}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_decoded_while_they_arrive() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let dir = tmpdir();
    let long_ts = remux_long(dir.path(), "mpegts", "ts");
    let long_flv = remux_long(dir.path(), "flv", "flv");
    let fixture = |name: &str| media_path(name);
    // (input, back end, decoded before its last quarter arrives?)
    let cases = [
        (fixture("mkv_aac.mkv"), "symphonia", true),
        (fixture("webm_vorbis.webm"), "symphonia", true),
        (fixture("webm_opus.webm"), "ffmpeg", true),
        (fixture("mkv_ac3.mkv"), "ffmpeg", true),
        (long_ts, "ffmpeg", true),
        (long_flv, "ffmpeg", true),
        (fixture("mp4_aac_frag.mp4"), "symphonia", true),
        (fixture("mp4_aac_faststart.mp4"), "symphonia", true),
        (fixture("ogg_vorbis.ogg"), "symphonia", true),
        (fixture("ogg_opus.opus"), "ffmpeg", true),
        (fixture("wav_pcm_s16le.wav"), "symphonia", true),
        (fixture("adts_aac.aac"), "symphonia", true),
        // `moov` at the end: nothing can be decoded before it.
        (fixture("mp4_aac.mp4"), "symphonia", false),
    ];
    for (input, engine, streams) in cases {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&input).unwrap();
        let wait = if streams { GATE_TIMEOUT } else { QUIET_WINDOW };
        let got = gated_extract(
            &srv,
            "sample_rate=16000&channels=1",
            &data,
            data.len() / 4,
            wait,
        )
        .await;
        assert_eq!(
            got.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&got.body)
        );
        let header = |h: &str| {
            got.headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let st = header("server-timing");
        println!(
            "{name}: engine {}, began before the tail: {}, {st}",
            header("x-audiotap-engine"),
            got.began_before_tail
        );
        assert_eq!(header("x-audiotap-engine"), engine, "{name}: back end");
        assert_eq!(
            got.began_before_tail,
            streams,
            "{name}: {} while its last quarter was held back",
            if streams {
                "decoding did not begin"
            } else {
                "decoding began (it needs its end)"
            }
        );
        // The server's own clock agrees: decoding began before the input was whole, or
        // not before its last bytes landed (give or take the end of the body).
        let whole_at = timing(&st, "input").expect("input timing");
        let decode_at = timing(&st, "decode").expect("decode timing");
        if streams {
            assert!(decode_at < whole_at, "{name}: {st}");
        } else {
            assert!(decode_at > whole_at - 60.0, "{name}: {st}");
        }
        assert!(
            cli_extract(&input) == got.body,
            "{name}: the streamed extraction differs from the CLI's"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_upload_answers_its_own_error_and_leaves_nothing() {
    let srv = TestServer::start(ServerConfig::new().max_upload_bytes(20_000)).await;
    // Symphonia (MKV) and FFmpeg through its AVIO reader (MPEG-TS, WebM/Opus) both read
    // these while they arrive, and must let go when the upload fails.
    for name in ["mkv_aac.mkv", "ts_aac.ts", "webm_opus.webm"] {
        let data = media_bytes(name);
        assert!(data.len() > 20_000);
        let pieces: Vec<Bytes> = data.chunks(4_000).map(Bytes::copy_from_slice).collect();
        let stream = futures_util::stream::iter(pieces).then(|c| async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok::<_, std::io::Error>(c)
        });
        let resp = srv
            .post_req("/v1/extract")
            .header("content-type", "application/octet-stream")
            .header("content-length", data.len())
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        assert_eq!(status, 413, "{name}: {}", String::from_utf8_lossy(&body));
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "source_too_large", "{name}");
        // Nothing of the upload or the output remains in the temp folder.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let tmp = srv.data_dir().join("tmp");
        let left: Vec<String> = dir_entries(&tmp);
        assert!(left.is_empty(), "{name}: left behind: {left:?}");
    }
}

/// A multipart upload whose `options` part comes first is extracted while its file part
/// arrives; with the file part first it is spooled whole (the options may follow). Both
/// give the CLI's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_with_options_first_are_decoded_while_they_arrive() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let dir = tmpdir();
    let long_ts = remux_long(dir.path(), "mpegts", "ts");
    let options: &[u8] = br#"{"output": {"sample_rate": 16000, "channels": 1}}"#;
    for input in [media_path("mkv_aac.mkv"), long_ts] {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&input).unwrap();
        let want = cli_extract(&input);
        for options_first in [true, false] {
            // Parts without a Content-Type of their own, as a bare HTML form sends them.
            let file_part = Part {
                name: "file".into(),
                filename: Some(name.clone()),
                content_type: None,
                data: data.clone(),
            };
            let options_part = Part {
                name: "options".into(),
                filename: None,
                content_type: None,
                data: options.to_vec(),
            };
            let (parts, file_index) = if options_first {
                ([options_part, file_part], 1)
            } else {
                ([file_part, options_part], 0)
            };
            let (content_type, body, offsets) = multipart_with_offsets(&parts);
            let file_at = offsets[file_index];
            // Held back: the last quarter of the file and what follows it.
            let tail = body.len() - (file_at + data.len() * 3 / 4);
            let wait = if options_first {
                GATE_TIMEOUT
            } else {
                QUIET_WINDOW
            };
            let got = gated_post(&srv, "", &content_type, &body, tail, wait).await;
            assert_eq!(
                got.status,
                200,
                "{name}, options first: {options_first}: {}",
                String::from_utf8_lossy(&got.body)
            );
            assert_eq!(
                got.began_before_tail, options_first,
                "{name}, options first: {options_first}"
            );
            assert!(
                got.body == want,
                "{name}, options first: {options_first}: differs from the CLI's output"
            );
        }
    }
}
