//! Resumable uploads (tus 1.0 at `/v1/uploads`) against the real server: discovery,
//! creation (with and without bytes), resuming after a connection broke mid-request, the
//! job made from the last byte, checksums, every refusal as problem+json with nothing
//! half-stored left behind, termination, expiry, owner scoping and the lock that keeps two
//! requests from writing one upload. With AUDIOTAP_TEST_S3_ENDPOINT (CI), the same upload
//! goes straight into an S3 multipart upload; with PostgreSQL too, two nodes take turns.
//! One file past the usual length: the whole tus contract is one test binary (each binary
//! costs a link of the service).

use std::time::{Duration, Instant};

use crate::support::*;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MP4: &str = "mp4_aac_long.mp4";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn options() -> Value {
    json!({"output": {"format": "wav", "sample_rate": 16000, "channels": 1}, "metadata": {"via": "tus"}})
}

fn metadata(filename: &str, options: &Value) -> String {
    format!(
        "filename {},options {}",
        B64.encode(filename),
        B64.encode(options.to_string())
    )
}

fn tus(srv: &TestServer, method: Method, path: &str) -> reqwest::RequestBuilder {
    let rb = srv
        .client
        .request(method, srv.url(path))
        .header("Tus-Resumable", "1.0.0");
    match &srv.auth {
        Some(k) => rb.bearer_auth(k),
        None => rb,
    }
}

/// POST /v1/uploads for `len` bytes; returns the upload's path.
async fn create(srv: &TestServer, len: usize, meta: &str) -> String {
    let r = send(
        tus(srv, Method::POST, "/v1/uploads")
            .header("Upload-Length", len.to_string())
            .header("Upload-Metadata", meta),
    )
    .await;
    r.expect_status(201);
    assert_eq!(r.header("upload-offset").as_deref(), Some("0"));
    assert!(
        r.header("upload-expires")
            .is_some_and(|e| e.ends_with(" GMT"))
    );
    let loc = r.header("location").expect("Location");
    assert!(loc.starts_with("/v1/uploads/"), "{loc}");
    loc
}

async fn patch(srv: &TestServer, path: &str, offset: usize, bytes: &[u8]) -> Resp {
    send(
        tus(srv, Method::PATCH, path)
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes.to_vec()),
    )
    .await
}

async fn head(srv: &TestServer, path: &str) -> Resp {
    send(tus(srv, Method::HEAD, path)).await
}

fn offset_of(r: &Resp) -> usize {
    r.header("upload-offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or_else(|| panic!("{}: no Upload-Offset", r.what))
}

fn job_of(r: &Resp) -> String {
    let loc = r
        .header("location")
        .unwrap_or_else(|| panic!("{}: no Location", r.what));
    assert_eq!(r.header("audiotap-job-location"), Some(loc.clone()));
    loc.strip_prefix("/v1/jobs/")
        .expect("a job URL")
        .to_string()
}

/// The output a plain `POST /v1/jobs` makes of the same bytes and options.
async fn reference_output(srv: &TestServer, bytes: Vec<u8>) -> Vec<u8> {
    let id = srv.submit_raw("?sample_rate=16000&channels=1", bytes).await;
    srv.wait_status(&id, "succeeded").await;
    srv.get(&format!("/v1/jobs/{id}/output")).await.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_version_extensions_size_and_checksums() {
    let srv = TestServer::start(ServerConfig::new().max_upload_bytes(123_456)).await;
    let r = send(srv.client.request(Method::OPTIONS, srv.url("/v1/uploads"))).await;
    r.expect_status(204);
    assert_eq!(r.header("tus-resumable").as_deref(), Some("1.0.0"));
    assert_eq!(r.header("tus-version").as_deref(), Some("1.0.0"));
    let ext = r.header("tus-extension").unwrap_or_default();
    for e in [
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    ] {
        assert!(ext.split(',').any(|x| x == e), "{e} missing from {ext}");
    }
    assert_eq!(r.header("tus-max-size").as_deref(), Some("123456"));
    let algos = r.header("tus-checksum-algorithm").unwrap_or_default();
    assert!(algos.split(',').any(|a| a == "sha256"), "{algos}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_in_pieces_becomes_a_job_on_its_last_byte() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let video = media_bytes(MP4);
    let up = create(&srv, video.len(), &metadata("talk.mp4", &options())).await;
    let h = head(&srv, &up).await;
    h.expect_status(200);
    assert_eq!(offset_of(&h), 0);
    assert_eq!(
        h.header("upload-length"),
        Some(video.len().to_string()),
        "HEAD Upload-Length"
    );
    assert!(
        h.header("upload-metadata")
            .is_some_and(|m| m.contains("filename"))
    );
    assert_eq!(h.header("cache-control").as_deref(), Some("no-store"));
    let mut at = 0;
    for piece in video.chunks(7_000) {
        let r = patch(&srv, &up, at, piece).await;
        r.expect_status(204);
        at += piece.len();
        assert_eq!(offset_of(&r), at);
        if at < video.len() {
            assert!(r.header("location").is_none(), "Location before the end");
        } else {
            let id = job_of(&r);
            let job = srv.wait_status(&id, "succeeded").await;
            assert_eq!(job["source"]["filename"], "talk.mp4");
            assert_eq!(job["source"]["size"], video.len());
            assert_eq!(job["metadata"], json!({"via": "tus"}));
            assert_eq!(job["output"]["sample_rate"], 16000);
            let out = srv.get(&format!("/v1/jobs/{id}/output")).await.body;
            assert_eq!(out, reference_output(&srv, video.clone()).await);
            // A complete upload names its job; a repeated last PATCH gets the same answer.
            let h = head(&srv, &up).await;
            assert_eq!(offset_of(&h), video.len());
            assert_eq!(
                h.header("audiotap-job-location"),
                Some(format!("/v1/jobs/{id}"))
            );
            let again = patch(&srv, &up, video.len(), &[]).await;
            again.expect_status(204);
            assert_eq!(job_of(&again), id);
        }
    }
    // Its bytes moved to the job (and were removed with it): nothing waits in tus/.
    assert_eq!(
        dir_entries(&srv.data_dir().join("tus")),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_with_upload_can_bring_every_byte() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let video = media_bytes(MP4);
    let r = send(
        tus(&srv, Method::POST, "/v1/uploads")
            .header("Upload-Length", video.len().to_string())
            .header("Upload-Metadata", metadata("a.mp4", &options()))
            .header("Content-Type", "application/offset+octet-stream")
            .body(video.clone()),
    )
    .await;
    r.expect_status(201);
    assert_eq!(offset_of(&r), video.len());
    let loc = r.header("audiotap-job-location").expect("the job's URL");
    let id = loc.trim_start_matches("/v1/jobs/");
    srv.wait_status(id, "succeeded").await;
}

/// Send a PATCH head announcing all of `rest` but only `sent` bytes of it, then hang up.
async fn broken_patch(srv: &TestServer, path: &str, offset: usize, rest: &[u8], sent: usize) {
    let addr = srv.base().trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        rest.len()
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(&rest[..sent]).await.expect("write body");
    s.flush().await.expect("flush");
    drop(s);
}

/// HEAD until the upload's offset stops at `want` (the broken request has been recorded).
async fn wait_offset(srv: &TestServer, path: &str, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = head(srv, path).await;
        h.expect_status(200);
        if offset_of(&h) == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "offset {} never reached {want}",
            offset_of(&h)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_before_a_hang_up_are_kept_and_the_upload_resumes_there() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let video = media_bytes(MP4);
    let up = create(&srv, video.len(), &metadata("cut.mp4", &options())).await;
    broken_patch(&srv, &up, 0, &video, 40_000).await;
    wait_offset(&srv, &up, 40_000).await;
    // The lock was released with the record: the next PATCH goes on from there.
    let r = patch(&srv, &up, 40_000, &video[40_000..]).await;
    r.expect_status(204);
    let id = job_of(&r);
    srv.wait_status(&id, "succeeded").await;
    let out = srv.get(&format!("/v1/jobs/{id}/output")).await.body;
    assert_eq!(out, reference_output(&srv, video).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_waits_for_the_first() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let video = media_bytes(MP4);
    let up = create(&srv, video.len(), &metadata("x.mp4", &options())).await;
    // A PATCH that sends some bytes and then stalls, holding the upload. Empty PATCHes probe
    // the lock without writing; when a probe happened to hold it just as the stalled one
    // came, that one was refused (it got an answer): start it again.
    let addr = srv.base().trim_start_matches("http://").to_string();
    let head_text = format!(
        "PATCH {up} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        video.len()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut slow: Option<tokio::net::TcpStream> = None;
    let locked = loop {
        if slow.is_none() {
            let mut s = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            s.write_all(head_text.as_bytes()).await.unwrap();
            s.write_all(&video[..10_000]).await.unwrap();
            s.flush().await.unwrap();
            slow = Some(s);
        }
        let r = patch(&srv, &up, 0, &[]).await;
        if r.status == 423 || Instant::now() > deadline {
            break r;
        }
        r.expect_status(204);
        let mut buf = [0u8; 64];
        if let Some(s) = slow.as_mut()
            && let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await
            && n > 0
        {
            slow = None;
        }
    };
    locked.expect_problem(423, Some("upload_locked"));
    drop(slow);
    wait_offset(&srv, &up, 10_000).await;
    let r = patch(&srv, &up, 10_000, &video[10_000..]).await;
    r.expect_status(204);
    srv.wait_status(&job_of(&r), "succeeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_problems_and_keep_nothing() {
    let srv = TestServer::start(ServerConfig::new().max_upload_bytes(200_000)).await;
    let video = media_bytes(MP4);
    let meta = metadata("a.mp4", &options());
    // Protocol version: 412 with the version the server speaks.
    let r = send(
        srv.client
            .post(srv.url("/v1/uploads"))
            .header("Upload-Length", "10"),
    )
    .await;
    r.expect_problem(412, Some("tus_version_unsupported"));
    assert_eq!(r.header("tus-version").as_deref(), Some("1.0.0"));
    let r = send(
        srv.client
            .post(srv.url("/v1/uploads"))
            .header("Tus-Resumable", "0.2.2")
            .header("Upload-Length", "10"),
    )
    .await;
    r.expect_problem(412, Some("tus_version_unsupported"));
    // Creation: length missing, zero, over the cap; metadata and options that do not parse.
    let post = |len: Option<&str>, meta: &str| {
        let rb = tus(&srv, Method::POST, "/v1/uploads").header("Upload-Metadata", meta.to_string());
        match len {
            Some(l) => rb.header("Upload-Length", l.to_string()),
            None => rb,
        }
    };
    send(post(None, &meta))
        .await
        .expect_problem(400, Some("invalid_request"));
    send(post(Some("0"), &meta))
        .await
        .expect_problem(400, Some("invalid_request"));
    send(post(Some("-5"), &meta))
        .await
        .expect_problem(400, Some("invalid_request"));
    send(post(Some("200001"), &meta))
        .await
        .expect_problem(413, Some("source_too_large"));
    send(post(Some("10"), "filename %%%"))
        .await
        .expect_problem(400, Some("invalid_request"));
    let bad_opts = metadata("a.mp4", &json!({"output": {"format": "flac7"}}));
    send(post(Some("10"), &bad_opts))
        .await
        .expect_problem(400, Some("invalid_options"));
    let bad_rate = metadata("a.mp4", &json!({"output": {"sample_rate": 0}}));
    send(post(Some("10"), &bad_rate))
        .await
        .expect_problem(400, Some("invalid_options"));
    let with_source = metadata("a.mp4", &json!({"source": {"url": "http://127.0.0.1/x"}}));
    send(post(Some("10"), &with_source))
        .await
        .expect_problem(400, Some("invalid_options"));
    // None of those made an upload.
    assert_eq!(
        dir_entries(&srv.data_dir().join("tus")),
        Vec::<String>::new()
    );

    let up = create(&srv, video.len(), &meta).await;
    patch(&srv, &up, 0, &video[..1000]).await.expect_status(204);
    // Wrong offset: 409, and the upload is as it was.
    let r = patch(&srv, &up, 0, &video[..1000]).await;
    let p = r.expect_problem(409, Some("offset_mismatch"));
    assert!(p["detail"].as_str().unwrap_or("").contains("1000"), "{p}");
    // Wrong content type: 415; missing offset: 400.
    let r = send(
        tus(&srv, Method::PATCH, &up)
            .header("Upload-Offset", "1000")
            .header("Content-Type", "application/octet-stream")
            .body(video[1000..2000].to_vec()),
    )
    .await;
    r.expect_problem(415, Some("invalid_content_type"));
    let r = send(
        tus(&srv, Method::PATCH, &up)
            .header("Content-Type", "application/offset+octet-stream")
            .body(video[1000..2000].to_vec()),
    )
    .await;
    r.expect_problem(400, Some("invalid_request"));
    // A body past Upload-Length: 413, nothing of it kept.
    let mut long = video[1000..].to_vec();
    long.extend_from_slice(b"one too many");
    patch(&srv, &up, 1000, &long)
        .await
        .expect_problem(413, Some("source_too_large"));
    // A checksum that does not match: 460, nothing of the body kept.
    let wrong = B64.encode(sha2::Sha256::digest(b"something else"));
    let r = send(
        tus(&srv, Method::PATCH, &up)
            .header("Upload-Offset", "1000")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Checksum", format!("sha256 {wrong}"))
            .body(video[1000..5000].to_vec()),
    )
    .await;
    r.expect_problem(460, Some("checksum_mismatch"));
    let r = send(
        tus(&srv, Method::PATCH, &up)
            .header("Upload-Offset", "1000")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Checksum", "md5 AAAA")
            .body(video[1000..5000].to_vec()),
    )
    .await;
    r.expect_problem(400, Some("checksum_algorithm_unsupported"));
    let h = head(&srv, &up).await;
    assert_eq!(offset_of(&h), 1000);
    let file = srv
        .data_dir()
        .join("tus")
        .join(up.rsplit('/').next().unwrap());
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 1000);
    // The right checksum (sha256 or sha1): kept.
    let good = B64.encode(sha2::Sha256::digest(&video[1000..5000]));
    let r = send(
        tus(&srv, Method::PATCH, &up)
            .header("Upload-Offset", "1000")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Checksum", format!("sha256 {good}"))
            .body(video[1000..5000].to_vec()),
    )
    .await;
    r.expect_status(204);
    assert_eq!(offset_of(&r), 5000);
    // Unknown uploads: 404.
    let r = patch(
        &srv,
        "/v1/uploads/0192b5a0-0000-7000-8000-000000000000",
        0,
        b"x",
    )
    .await;
    r.expect_problem(404, Some("not_found"));
    head(&srv, "/v1/uploads/not-an-id").await.expect_status(404);
    // No job was made by any of it.
    assert!(page_ids(&srv.get("/v1/jobs").await.json()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_upload_is_gone() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let video = media_bytes(MP4);
    let up = create(&srv, video.len(), &metadata("t.mp4", &options())).await;
    patch(&srv, &up, 0, &video[..20_000])
        .await
        .expect_status(204);
    assert_eq!(dir_entries(&srv.data_dir().join("tus")).len(), 1);
    send(tus(&srv, Method::DELETE, &up))
        .await
        .expect_status(204);
    assert_eq!(
        dir_entries(&srv.data_dir().join("tus")),
        Vec::<String>::new()
    );
    head(&srv, &up).await.expect_status(410);
    patch(&srv, &up, 20_000, &video[20_000..])
        .await
        .expect_problem(410, Some("upload_terminated"));
    send(tus(&srv, Method::DELETE, &up))
        .await
        .expect_problem(410, Some("upload_terminated"));
    assert!(page_ids(&srv.get("/v1/jobs").await.json()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_upload_expires_and_its_bytes_are_removed() {
    let srv = TestServer::start(ServerConfig::new().env("AUDIOTAP_UPLOAD_EXPIRY_SECS", "1")).await;
    let video = media_bytes(MP4);
    let up = create(&srv, video.len(), &metadata("e.mp4", &options())).await;
    patch(&srv, &up, 0, &video[..20_000])
        .await
        .expect_status(204);
    // The sweep removes it: its bytes go, and it answers 410 (later 404, once purged).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir_entries(&srv.data_dir().join("tus")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the expired upload's file is still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h = head(&srv, &up).await;
    assert!(matches!(h.status, 404 | 410), "HEAD answered {}", h.status);
    let r = patch(&srv, &up, 20_000, &video[20_000..]).await;
    let p = r.expect_problem_any(r.status, &["upload_expired", "not_found"]);
    assert!(matches!(r.status, 404 | 410), "{p}");
    assert!(page_ids(&srv.get("/v1/jobs").await.json()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_belong_to_their_key() {
    let (a, b) = ("key-a-0123456789abcdef", "key-b-0123456789abcdef");
    let mut srv = TestServer::start(ServerConfig::new().api_keys(&format!("{a},{b}"))).await;
    let video = media_bytes(MP4);
    srv.auth = Some(a.into());
    let up = create(&srv, video.len(), &metadata("k.mp4", &options())).await;
    srv.auth = None;
    head(&srv, &up).await.expect_status(401);
    let r = send(tus(&srv, Method::POST, "/v1/uploads").header("Upload-Length", "10")).await;
    r.expect_problem(401, Some("unauthorized"));
    srv.auth = Some(b.into());
    head(&srv, &up).await.expect_status(404);
    patch(&srv, &up, 0, &video)
        .await
        .expect_problem(404, Some("not_found"));
    srv.auth = Some(a.into());
    let r = patch(&srv, &up, 0, &video).await;
    r.expect_status(204);
    let id = job_of(&r);
    srv.wait_status(&id, "succeeded").await;
    srv.auth = Some(b.into());
    srv.get(&format!("/v1/jobs/{id}")).await.expect_status(404);
}

// ---------------------------------------------------------------------------------------
// S3 (and two nodes on PostgreSQL): the bytes go straight into a multipart upload
// ---------------------------------------------------------------------------------------

/// The S3 server the test run started, or `None` to skip (failing instead under CI).
fn s3_env() -> Option<Vec<(String, String)>> {
    let Ok(endpoint) = std::env::var("AUDIOTAP_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but AUDIOTAP_TEST_S3_ENDPOINT is not: start scripts/s3-test-server.sh"
        );
        eprintln!("SKIPPED tus on S3: AUDIOTAP_TEST_S3_ENDPOINT is not set");
        return None;
    };
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    Some(vec![
        ("AUDIOTAP_STORAGE".into(), "s3".into()),
        ("AUDIOTAP_S3_ENDPOINT".into(), endpoint),
        (
            "AUDIOTAP_S3_BUCKET".into(),
            var("AUDIOTAP_TEST_S3_BUCKET", "audiotap-test"),
        ),
        (
            "AUDIOTAP_S3_REGION".into(),
            var("AUDIOTAP_TEST_S3_REGION", "garage"),
        ),
        (
            "AUDIOTAP_S3_PREFIX".into(),
            format!("tus-test-{}-{}/", std::process::id(), rand::random::<u32>()),
        ),
        ("AUDIOTAP_S3_PATH_STYLE".into(), "true".into()),
        ("AWS_ACCESS_KEY_ID".into(), var("AWS_ACCESS_KEY_ID", "")),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            var("AWS_SECRET_ACCESS_KEY", ""),
        ),
    ])
}

/// A WAV of about `seconds` of 48 kHz stereo noise: a real input larger than S3's 5 MiB
/// smallest part, so the upload spans whole parts and a tail.
fn big_wav(seconds: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).expect("wav writer");
    let mut x: u32 = 12345;
    for _ in 0..48_000 * seconds * 2 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        w.write_sample(((x >> 16) as i16) / 4).expect("sample");
    }
    w.finalize().expect("finalize");
    out.into_inner()
}

fn config(env: &[(String, String)]) -> ServerConfig {
    env.iter()
        .fold(ServerConfig::new(), |c, (k, v)| c.env(k, v))
}

/// Send `bytes` in PATCHes of `sizes` (cycled), through the servers in turn; a hang-up
/// after half of the second PATCH. Returns the final answer.
async fn upload_across(servers: &[&TestServer], up: &str, bytes: &[u8], sizes: &[usize]) -> Resp {
    let mut at = 0;
    let mut n = 0;
    loop {
        let srv = servers[n % servers.len()];
        let len = sizes[n % sizes.len()].min(bytes.len() - at);
        if n == 1 {
            broken_patch(srv, up, at, &bytes[at..at + len], len / 2).await;
            wait_offset(srv, up, at + len / 2).await;
            at += len / 2;
            n += 1;
            continue;
        }
        let r = patch(srv, up, at, &bytes[at..at + len]).await;
        r.expect_status(204);
        at += len;
        assert_eq!(offset_of(&r), at);
        if at == bytes.len() {
            return r;
        }
        n += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_the_bytes_go_into_a_multipart_upload() {
    let Some(env) = s3_env() else { return };
    let srv = TestServer::start(config(&env)).await;
    let wav = big_wav(70); // about 13 MiB: two whole parts and a last one
    let opts = json!({"output": {"format": "wav"}});
    let up = create(&srv, wav.len(), &metadata("noise.wav", &opts)).await;
    let r = upload_across(&[&srv], &up, &wav, &[3 << 20, 4 << 20, 1 << 20]).await;
    let id = job_of(&r);
    let job = srv.wait_status(&id, "succeeded").await;
    assert_eq!(job["source"]["size"], wav.len());
    // A WAV in, the same WAV out: the object S3 joined is the bytes sent, in order.
    let out = srv.get(&format!("/v1/jobs/{id}/output")).await.body;
    assert_eq!(sha256_hex(&out), sha256_hex(&wav));
    // Nothing of it on local disk.
    assert_eq!(
        dir_entries(&srv.data_dir().join("tus")),
        Vec::<String>::new()
    );
    // Terminating another one aborts its multipart upload; its tail goes too.
    let other = create(&srv, wav.len(), &metadata("b.wav", &opts)).await;
    patch(&srv, &other, 0, &wav[..(6 << 20)])
        .await
        .expect_status(204);
    send(tus(&srv, Method::DELETE, &other))
        .await
        .expect_status(204);
    head(&srv, &other).await.expect_status(410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_store_take_turns_with_one_upload() {
    let Some(mut env) = s3_env() else { return };
    let Some(admin) = pg::admin_url("tus across two nodes") else {
        return;
    };
    let url = pg::fresh_database(&admin).await;
    env.push(("AUDIOTAP_DATABASE_URL".into(), url));
    let a = TestServer::start(config(&env).env("AUDIOTAP_NODE_ID", "node-a")).await;
    let b = TestServer::start(config(&env).env("AUDIOTAP_NODE_ID", "node-b")).await;
    let wav = big_wav(40);
    let opts = json!({"output": {"format": "wav"}});
    let up = create(&a, wav.len(), &metadata("two.wav", &opts)).await;
    let r = upload_across(&[&a, &b], &up, &wav, &[2 << 20, 3 << 20]).await;
    let id = job_of(&r);
    let job = b.wait_status(&id, "succeeded").await;
    let out = a.get(&format!("/v1/jobs/{id}/output")).await.body;
    assert_eq!(sha256_hex(&out), sha256_hex(&wav), "{job:#}");
}
