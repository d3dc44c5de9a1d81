//! Creating jobs from each kind of source (raw body, multipart, URL) through to their
//! outputs, the synchronous extraction, and a job that survives `kill -9` of its server.

use std::time::Duration;

use serde_json::{Value, json};

use super::MP4;
use crate::support::*;

// ---------------------------------------------------------------------------------------
// Raw body upload, the job JSON, download with Range
// ---------------------------------------------------------------------------------------

/// `POST /v1/jobs?sample_rate=16000&channels=1` with the MP4 as the raw body.
async fn create_raw_job(srv: &TestServer) -> Resp {
    srv.create_raw(
        "/v1/jobs?sample_rate=16000&channels=1",
        media_bytes(MP4),
        "video/mp4",
    )
    .await
}

/// A raw-body job that has succeeded: its id and its JSON.
async fn succeeded_raw_job(srv: &TestServer) -> (String, Value) {
    let r = create_raw_job(srv).await;
    r.expect_status(202);
    let id = job_id(&r.json());
    let job = srv.wait_status(&id, "succeeded").await;
    (id, job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_upload_creates_a_job_at_its_location() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let r = create_raw_job(&srv).await;
    r.expect_status(202);
    let job = r.json();
    let id = job_id(&job);
    let location = r.header("location").expect("202 without a Location header");
    assert!(
        location.ends_with(&format!("/v1/jobs/{id}")),
        "Location {location:?} does not name job {id}"
    );
    assert!(
        matches!(job["status"].as_str(), Some("queued" | "running")),
        "new job status: {}",
        job["status"]
    );
    let names: Vec<&str> = job["steps"]
        .as_array()
        .expect("steps array")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        names,
        ["fetch", "probe", "extract", "store", "notify"],
        "steps of a new job"
    );
    assert!(job["created_at"].is_string(), "created_at: {job}");
    assert_eq!(job["output_spec"]["sample_rate"], 16000);
    assert_eq!(job["output_spec"]["channels"], 1);

    // The Location resolves to the same job.
    let loc_url = if location.starts_with("http") {
        location.clone()
    } else {
        srv.url(&location)
    };
    let via_loc = send(srv.client.get(&loc_url)).await;
    via_loc.expect_status(200);
    assert_eq!(job_id(&via_loc.json()), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn succeeded_job_records_each_step() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let (_, job) = succeeded_raw_job(&srv).await;
    assert!(
        approx(&job["progress"], 1.0, 1e-9),
        "progress of a succeeded job: {}",
        job["progress"]
    );
    assert!(job["finished_at"].is_string(), "finished_at: {job:#}");
    assert!(
        job["error"].is_null(),
        "error on a succeeded job: {}",
        job["error"]
    );
    for step in ["probe", "extract", "store"] {
        assert_eq!(step_status(&job, step), "succeeded", "step {step}: {job:#}");
        let s = job["steps"]
            .as_array()
            .and_then(|v| v.iter().find(|s| s["name"] == step))
            .unwrap();
        assert!(
            s["started_at"].is_string()
                && s["finished_at"].is_string()
                && s["duration_ms"].is_u64(),
            "step {step} without timing: {s}"
        );
    }
    // An upload needs no fetch (unless nodes share the job store: then it waits in shared
    // storage and the worker fetches it); a job without a webhook notifies nobody.
    let fetch = if shared_job_store() {
        "succeeded"
    } else {
        "skipped"
    };
    assert_eq!(step_status(&job, "fetch"), fetch);
    assert_eq!(step_status(&job, "notify"), "skipped");
    let input = &job["input"];
    assert!(input.is_object(), "no probe result on the job: {job:#}");
    assert_eq!(input["container"], "mp4", "probe: {input}");
    assert!(
        input["tracks"].as_array().is_some_and(|t| !t.is_empty()),
        "probe without tracks: {input}"
    );
    assert!(
        approx(&input["duration"], 2.0, 0.05),
        "probe duration: {}",
        input["duration"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn succeeded_job_describes_its_output() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let (id, job) = succeeded_raw_job(&srv).await;
    let out = &job["output"];
    assert!(
        out["key"].as_str().is_some_and(|k| !k.is_empty()),
        "output key: {out}"
    );
    assert_eq!(out["url"], format!("/v1/jobs/{id}/output"));
    assert_eq!(out["content_type"], "audio/wav");
    assert_eq!(out["sample_rate"], 16000);
    assert_eq!(out["channels"], 1);
    assert_eq!(out["codec"], "pcm_s16le");
    assert_eq!(out["copied"], false);
    assert!(
        approx(&out["duration"], 2.0, 0.01),
        "output duration {} (expected 2.0)",
        out["duration"]
    );
    let sha = out["sha256"].as_str().expect("output sha256");
    assert_eq!(sha.len(), 64, "sha256 {sha:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_downloads_whole_or_by_range() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let (id, job) = succeeded_raw_job(&srv).await;
    let size = job["output"]["size"].as_u64().expect("output size");
    let sha = job["output"]["sha256"].as_str().expect("output sha256");

    let dl = srv.get(&format!("/v1/jobs/{id}/output")).await;
    dl.expect_status(200);
    assert!(
        dl.content_type().starts_with("audio/wav"),
        "output Content-Type {:?}",
        dl.content_type()
    );
    assert_eq!(
        dl.header("content-length")
            .and_then(|v| v.parse::<u64>().ok()),
        Some(size),
        "Content-Length vs output.size"
    );
    assert_eq!(
        dl.body.len() as u64,
        size,
        "downloaded bytes vs output.size"
    );
    assert_eq!(
        sha256_hex(&dl.body),
        sha,
        "sha256 of the download vs output.sha256"
    );
    assert_eq!(
        wav_info(&dl.body),
        (16000, 1, 16, 32000),
        "(rate, channels, bits, frames) of the WAV"
    );

    let part = send(
        srv.get_req(&format!("/v1/jobs/{id}/output"))
            .header("range", "bytes=0-99"),
    )
    .await;
    part.expect_status(206);
    assert_eq!(
        part.header("content-range").as_deref(),
        Some(format!("bytes 0-99/{size}").as_str())
    );
    assert_eq!(part.body.len(), 100);
    assert_eq!(
        part.body[..],
        dl.body[..100],
        "ranged bytes differ from the full download"
    );

    let past = send(
        srv.get_req(&format!("/v1/jobs/{id}/output"))
            .header("range", "bytes=999999999-"),
    )
    .await;
    past.expect_problem(416, None);
}

// ---------------------------------------------------------------------------------------
// Multipart upload
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_extracts_to_m4a() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let parts = [
        Part::file(
            "file",
            "mkv_vorbis.mkv",
            "video/x-matroska",
            media_bytes("mkv_vorbis.mkv"),
        ),
        Part::text(
            "options",
            "application/json",
            r#"{"output":{"format":"m4a"},"metadata":{"customer":"x"}}"#,
        ),
    ];
    let r = srv.create_multipart("/v1/jobs", &parts).await;
    r.expect_status(202);
    assert!(r.header("location").is_some(), "202 without Location");
    let id = job_id(&r.json());
    let job = srv.wait_status(&id, "succeeded").await;
    assert_eq!(
        job["metadata"],
        json!({"customer": "x"}),
        "metadata not echoed"
    );
    assert_eq!(job["output_spec"]["format"], "m4a");
    assert_eq!(job["source"]["kind"], "upload");
    assert_eq!(job["source"]["filename"], "mkv_vorbis.mkv");
    let out = &job["output"];
    assert_eq!(out["content_type"], "audio/mp4");
    assert!(
        approx(&out["duration"], 2.0, 0.05),
        "duration {}",
        out["duration"]
    );
    let dl = srv.get(&format!("/v1/jobs/{id}/output")).await;
    dl.expect_status(200);
    assert!(
        dl.content_type().starts_with("audio/mp4"),
        "Content-Type {:?}",
        dl.content_type()
    );
    assert_eq!(dl.body.len() as u64, out["size"].as_u64().unwrap());
    assert_eq!(sha256_hex(&dl.body), out["sha256"].as_str().unwrap());
    assert_eq!(
        &dl.body[4..8],
        b"ftyp",
        "the M4A does not start with an ftyp box"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_without_a_file_part_is_refused() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let parts = [Part::text(
        "options",
        "application/json",
        r#"{"output":{"format":"wav"}}"#,
    )];
    let r = srv.create_multipart("/v1/jobs", &parts).await;
    r.expect_problem(400, Some("invalid_request"));
}

// ---------------------------------------------------------------------------------------
// JSON with a URL source; the SSRF guard without an allowlist
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_source_with_codec_copy_copies_the_aac() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let src = MediaSource::start(media_bytes(MP4), Duration::ZERO).await;
    let req = json!({"source": {"url": src.url()}, "output": {"format": "m4a", "codec": "copy"}});
    let id = srv.submit_json(&req).await;
    let job = srv.wait_status(&id, "succeeded").await;
    assert_eq!(job["source"]["kind"], "url");
    assert_eq!(
        job["source"]["size"].as_u64(),
        Some(media_bytes(MP4).len() as u64),
        "downloaded size"
    );
    assert_eq!(step_status(&job, "fetch"), "succeeded");
    let out = &job["output"];
    assert_eq!(
        out["copied"], true,
        "AAC -> M4A with codec copy must be a copy: {out}"
    );
    assert_eq!(out["content_type"], "audio/mp4");
    assert!(src.hits() >= 1, "the source server saw no request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_source_on_loopback_is_refused_without_an_allowlist() {
    // A server without AUDIOTAP_URL_ALLOWLIST: refused, never fetched.
    let guarded = TestServer::start(ServerConfig::new().no_allowlist()).await;
    let src2 = MediaSource::start(media_bytes(MP4), Duration::ZERO).await;
    let req2 = json!({"source": {"url": src2.url()}, "output": {"format": "m4a", "codec": "copy"}});
    let r = guarded.create_json(&req2).await;
    if r.status == 400 {
        r.expect_problem(400, Some("url_forbidden"));
    } else {
        r.expect_status(202);
        let id = job_id(&r.json());
        let job = guarded.wait_status(&id, "failed").await;
        assert_eq!(
            job["error"]["code"], "url_forbidden",
            "error: {}",
            job["error"]
        );
        assert!(job["output"].is_null());
    }
    assert_eq!(
        src2.hits(),
        0,
        "the guard let a request through to 127.0.0.1"
    );
}

// ---------------------------------------------------------------------------------------
// Synchronous extraction
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_extract_streams_wav_and_rejects_bad_media() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let r = srv
        .create_raw(
            "/v1/extract?sample_rate=16000&channels=1",
            media_bytes(MP4),
            "video/mp4",
        )
        .await;
    r.expect_status(200);
    assert!(
        r.content_type().starts_with("audio/wav"),
        "Content-Type {:?}",
        r.content_type()
    );
    if let Some(len) = r.header("content-length") {
        assert_eq!(
            len.parse::<usize>().ok(),
            Some(r.body.len()),
            "Content-Length vs body"
        );
    }
    assert_eq!(wav_info(&r.body), (16000, 1, 16, 32000));

    let bad_media = srv
        .create_raw(
            "/v1/extract",
            bad_bytes("random.bin"),
            "application/octet-stream",
        )
        .await;
    bad_media.expect_problem_any(422, &["invalid_media", "unsupported_format"]);
    let no_audio = srv
        .create_raw(
            "/v1/extract",
            media_bytes("mp4_video_only.mp4"),
            "video/mp4",
        )
        .await;
    no_audio.expect_problem(422, Some("no_audio_track"));
    srv.create_raw("/v1/extract?sample_rate=0", media_bytes(MP4), "video/mp4")
        .await
        .expect_problem(400, Some("invalid_options"));
    let page = srv.get("/v1/jobs").await.json();
    assert!(page_ids(&page).is_empty(), "/v1/extract made jobs: {page}");
}

// ---------------------------------------------------------------------------------------
// A crash mid-job: the job survives and finishes after a restart
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_survives_kill_9_and_finishes_after_restart() {
    let mut srv = TestServer::start(ServerConfig::new()).await;
    let slow = MediaSource::start(media_bytes(MP4), Duration::from_secs(3)).await;
    let id = srv
        .submit_json(&json!({"source": {"url": slow.url()}, "output": {"sample_rate": 16000}}))
        .await;
    srv.wait_job(&id, "running", |j| j["status"] == "running")
        .await;
    // Kill it mid-download: the source has the request and is still holding the answer.
    slow.wait_asked().await;
    assert_eq!(srv.job(&id).await["status"], "running");
    srv.kill9();
    srv.restart().await;
    let job = srv.wait_status(&id, "succeeded").await;
    assert!(
        job["attempts"].as_u64().is_some_and(|a| a >= 2),
        "attempts after a crash: {}",
        job["attempts"]
    );
    assert!(
        slow.hits() >= 2,
        "the source was fetched {} time(s)",
        slow.hits()
    );
    let dl = srv.get(&format!("/v1/jobs/{id}/output")).await;
    dl.expect_status(200);
    assert_eq!(wav_info(&dl.body).0, 16000);
}
