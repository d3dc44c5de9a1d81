//! Uploads are extracted while they arrive: a raw-body `POST /v1/extract` whose bytes come
//! slowly is decoded as they land when the container can be read front to back (MKV,
//! faststart MP4), waits for the last byte when it cannot (an MP4 with `moov` at the end,
//! MPEG-TS through FFmpeg), and in every case gives the same bytes as the CLI on the file.
//! `Server-Timing` tells when the input was whole (`input`) and when the first block was
//! decoded (`decode`); the test compares the two instants (an order, not a duration).

mod api_support;
mod common;

use std::time::Duration;

use api_support::{ServerConfig, TestServer};
use bytes::Bytes;

/// The `dur` of one `Server-Timing` metric, in ms.
fn timing(header: &str, name: &str) -> Option<f64> {
    header.split(',').find_map(|m| {
        let mut parts = m.trim().split(';');
        (parts.next()? == name)
            .then(|| parts.find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok()))
            .flatten()
    })
}

/// POST `data` as a raw body in `pieces` chunks, `gap` apart.
async fn slow_extract(
    srv: &TestServer,
    query: &str,
    data: Vec<u8>,
    pieces: usize,
    gap: Duration,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let total = data.len();
    let size = data.len().div_ceil(pieces);
    let chunks: Vec<Bytes> = data.chunks(size).map(Bytes::copy_from_slice).collect();
    let stream = futures_util::stream::iter(chunks).then(move |c| async move {
        tokio::time::sleep(gap).await;
        Ok::<_, std::io::Error>(c)
    });
    let resp = srv
        .post_req(&format!("/v1/extract?{query}"))
        .header("content-type", "application/octet-stream")
        .header("content-length", total)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

use futures_util::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_decoded_while_they_arrive() {
    let srv = TestServer::start(ServerConfig::new()).await;
    // (fixture, decoded before the last byte?)
    let cases = [
        ("mp4_aac_faststart.mp4", true),
        ("mkv_aac.mkv", false),
        ("mp4_aac.mp4", false),
        ("ogg_vorbis.ogg", true),
        ("ts_aac.ts", false),
    ];
    for (name, streams) in cases {
        let data = api_support::media(name);
        let (status, headers, body) = slow_extract(
            &srv,
            "sample_rate=16000&channels=1",
            data,
            12,
            Duration::from_millis(120),
        )
        .await;
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
        let st = headers
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let input = timing(&st, "input").expect("input timing");
        let decode = timing(&st, "decode").expect("decode timing");
        println!("{name}: {st}");
        // The pieces come 120 ms apart: a streamed upload is decoding while at least two
        // pieces are still to come; one that needs its last piece cannot be decoding before
        // that piece lands (at `input`, give or take the end of the body, far under half a
        // gap).
        if streams {
            assert!(decode < input - 240.0, "{name}: decoding began late ({st})");
        } else {
            assert!(
                decode > input - 60.0,
                "{name}: decoded before it was whole? ({st})"
            );
        }
        // Same bytes as the CLI on the whole file.
        let dir = common::tmpdir();
        let out = dir.path().join("cli.wav");
        common::audiotap([
            "extract",
            common::media(name).to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--sample-rate",
            "16000",
            "--channels",
            "1",
        ])
        .ok();
        assert!(
            std::fs::read(&out).unwrap() == body,
            "{name}: the streamed extraction differs from the CLI's"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_upload_answers_its_own_error_and_leaves_nothing() {
    let srv = TestServer::start(ServerConfig::new().max_upload_bytes(20_000)).await;
    let data = api_support::media("mkv_aac.mkv");
    assert!(data.len() > 20_000);
    let (status, _, body) = slow_extract(&srv, "", data, 8, Duration::from_millis(30)).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "source_too_large");
    // Nothing of the upload or the output remains in the temp folder.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tmp = srv.data_dir().join("tmp");
    let left: Vec<String> = api_support::dir_entries(&tmp);
    assert!(left.is_empty(), "left behind: {left:?}");
}
