//! HTTP contract tests (DESIGN.md, "HTTP contract (v1)"): the real `audiotap serve` binary on
//! a loopback port with its own data dir and local storage, driven over HTTP. URL sources
//! and webhook receivers are small servers on 127.0.0.1 inside the test.
//!
//! The OpenAPI drift check lives here too: `UPDATE_OPENAPI=1 cargo test --test api openapi`
//! rewrites `openapi/openapi.yaml` from the code.

mod api_support;

use std::time::{Duration, Instant};

use api_support::*;
use serde_json::{Value, json};

const MP4: &str = "mp4_aac.mp4";

fn approx(a: &Value, want: f64, tol: f64) -> bool {
    a.as_f64().is_some_and(|x| (x - want).abs() <= tol)
}

// ---------------------------------------------------------------------------------------
// 1. Raw body upload, the job JSON, download with Range
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_upload_job_succeeds_and_output_downloads_with_ranges() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let r = srv
        .create_raw(
            "/v1/jobs?sample_rate=16000&channels=1",
            media(MP4),
            "video/mp4",
        )
        .await;
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

    let job = srv.wait_status(&id, "succeeded").await;
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
    let size = out["size"].as_u64().expect("output size");
    let sha = out["sha256"].as_str().expect("output sha256").to_string();
    assert_eq!(sha.len(), 64, "sha256 {sha:?}");

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
// 2. Multipart upload
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_to_m4a_and_multipart_without_file() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let (ct, body) = multipart(&[
        Part::file(
            "file",
            "mkv_vorbis.mkv",
            "video/x-matroska",
            media("mkv_vorbis.mkv"),
        ),
        Part::text(
            "options",
            "application/json",
            r#"{"output":{"format":"m4a"},"metadata":{"customer":"x"}}"#,
        ),
    ]);
    let r = send(
        srv.post_req("/v1/jobs")
            .header("content-type", ct)
            .body(body),
    )
    .await;
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

    // No file part.
    let (ct, body) = multipart(&[Part::text(
        "options",
        "application/json",
        r#"{"output":{"format":"wav"}}"#,
    )]);
    let r = send(
        srv.post_req("/v1/jobs")
            .header("content-type", ct)
            .body(body),
    )
    .await;
    r.expect_problem(400, Some("invalid_request"));
}

// ---------------------------------------------------------------------------------------
// 3. JSON with a URL source; the SSRF guard without an allowlist
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_source_copies_aac_and_loopback_is_refused_without_allowlist() {
    let (srv, guarded) = tokio::join!(
        TestServer::start(ServerConfig::new()),
        TestServer::start(ServerConfig::new().no_allowlist())
    );
    let src = MediaSource::start(media(MP4), Duration::ZERO).await;
    let req = json!({"source": {"url": src.url()}, "output": {"format": "m4a", "codec": "copy"}});
    let r = srv.create_json(&req).await;
    r.expect_status(202);
    let id = job_id(&r.json());
    let job = srv.wait_status(&id, "succeeded").await;
    assert_eq!(job["source"]["kind"], "url");
    assert_eq!(
        job["source"]["size"].as_u64(),
        Some(media(MP4).len() as u64),
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

    // The same request to a server without AUDIOTAP_URL_ALLOWLIST: refused, never fetched.
    let src2 = MediaSource::start(media(MP4), Duration::ZERO).await;
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
// 4. Webhooks: signed, retried, recorded
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_signed_retried_and_recorded() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let rx = WebhookReceiver::start(srv.webhook_key.clone(), vec![500, 200]).await;
    let q = format!("?webhook_url={}", rx.url());
    let id = srv.submit_raw(&q, media(MP4)).await;
    let job = srv.wait_status(&id, "succeeded").await;
    let job = if job["webhook"]["status"] == "delivered" {
        job
    } else {
        srv.wait_job(&id, "webhook delivered", |j| {
            j["webhook"]["status"] == "delivered"
        })
        .await
    };
    let hook = &job["webhook"];
    assert_eq!(hook["url"], rx.url());
    assert_eq!(hook["event"], "job.succeeded");
    let attempts = hook["attempts"].as_array().expect("attempts array");
    assert_eq!(attempts.len(), 2, "delivery attempts: {hook:#}");
    assert_eq!(attempts[0]["status"], 500, "first attempt: {}", attempts[0]);
    assert_eq!(
        attempts[1]["status"], 200,
        "second attempt: {}",
        attempts[1]
    );
    assert_eq!(step_status(&job, "notify"), "succeeded");

    let seen = rx.deliveries();
    assert_eq!(seen.len(), 2, "the receiver saw {} deliveries", seen.len());
    for (i, d) in seen.iter().enumerate() {
        assert!(
            d.signature_ok,
            "delivery {i}: bad signature {:?} (id {:?}, ts {:?})",
            d.signature, d.id, d.timestamp
        );
        assert!(
            d.timestamp_fresh,
            "delivery {i}: webhook-timestamp {:?} is not now",
            d.timestamp
        );
        assert!(
            d.content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/json")),
            "delivery {i}: Content-Type {:?}",
            d.content_type
        );
        let body: Value = serde_json::from_slice(&d.body).expect("webhook body is JSON");
        assert_eq!(body["type"], "job.succeeded", "delivery {i}: {body}");
        assert_eq!(body["data"]["id"], id.as_str(), "delivery {i}: data.id");
        assert_eq!(body["data"]["status"], "succeeded");
        assert!(
            body["data"]["output"].is_object(),
            "delivery {i}: no output in data"
        );
    }
    assert!(seen[0].id.is_some(), "no webhook-id header");
    assert_eq!(
        seen[0].id, seen[1].id,
        "webhook-id changed between attempts"
    );
    assert_eq!(
        hook["message_id"].as_str(),
        seen[0].id.as_deref(),
        "job.webhook.message_id vs webhook-id"
    );
    // The message is the job as it ended: every attempt carries the same bytes.
    if seen[0].body != seen[1].body {
        let a: Value = serde_json::from_slice(&seen[0].body).unwrap();
        let b: Value = serde_json::from_slice(&seen[1].body).unwrap();
        panic!(
            "the retry sent a different payload; differences (path: first -> second):\n{}",
            json_diff(&a, &b).join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------
// 5. Idempotency-Key
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_returns_the_same_job_or_422() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let src = MediaSource::start(media(MP4), Duration::ZERO).await;
    let req =
        json!({"source": {"url": src.url()}, "output": {"format": "wav", "sample_rate": 16000}});
    let post = |body: &Value, key: &str| {
        srv.post_req("/v1/jobs")
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body.to_string())
    };
    let first = send(post(&req, "key-one")).await;
    first.expect_status(202);
    let id = job_id(&first.json());
    let again = send(post(&req, "key-one")).await;
    again.expect_status(200);
    assert_eq!(
        job_id(&again.json()),
        id,
        "same key, same request: another job"
    );

    let mut other = req.clone();
    other["output"]["format"] = json!("m4a");
    send(post(&other, "key-one"))
        .await
        .expect_problem(422, Some("idempotency_key_reused"));

    let fresh = send(post(&req, "key-two")).await;
    fresh.expect_status(202);
    assert_ne!(job_id(&fresh.json()), id, "a new key must make a new job");

    let page = srv.get("/v1/jobs").await;
    page.expect_status(200);
    assert_eq!(
        page_ids(&page.json()).len(),
        2,
        "jobs after two keys: {}",
        page.text()
    );
    srv.wait_status(&id, "succeeded").await;
}

// ---------------------------------------------------------------------------------------
// 6. API keys and ownership
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_required_and_jobs_are_private_to_their_key() {
    const A: &str = "key-aaaaaaaaaaaaaaaa";
    const B: &str = "key-bbbbbbbbbbbbbbbb";
    let srv = TestServer::start(ServerConfig::new().api_keys(&format!("{A},{B}"))).await;
    let c = &srv.client;

    send(c.get(srv.url("/v1/jobs")))
        .await
        .expect_problem(401, Some("unauthorized"));
    send(
        c.post(srv.url("/v1/jobs"))
            .header("content-type", "video/mp4")
            .body(media(MP4)),
    )
    .await
    .expect_problem(401, Some("unauthorized"));
    send(
        c.get(srv.url("/v1/jobs"))
            .bearer_auth("key-cccccccccccccccc"),
    )
    .await
    .expect_problem(401, Some("unauthorized"));
    send(
        c.post(srv.url("/v1/extract"))
            .header("content-type", "video/mp4")
            .body(media(MP4)),
    )
    .await
    .expect_problem(401, Some("unauthorized"));

    let r = send(
        c.post(srv.url("/v1/jobs"))
            .bearer_auth(A)
            .header("content-type", "video/mp4")
            .body(media(MP4)),
    )
    .await;
    r.expect_status(202);
    let id = job_id(&r.json());
    send(c.get(srv.url(&format!("/v1/jobs/{id}"))))
        .await
        .expect_problem(401, Some("unauthorized"));

    let a_job = |id: &str| send(c.get(srv.url(&format!("/v1/jobs/{id}"))).bearer_auth(A));
    let deadline = Instant::now() + JOB_TIMEOUT;
    let job = loop {
        let r = a_job(&id).await;
        r.expect_status(200);
        let j = r.json();
        if matches!(
            j["status"].as_str(),
            Some("succeeded" | "failed" | "canceled")
        ) {
            break j;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {j:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["status"], "succeeded", "{job:#}");

    // B sees nothing of A's job and cannot touch it.
    send(c.get(srv.url(&format!("/v1/jobs/{id}"))).bearer_auth(B))
        .await
        .expect_problem(404, Some("not_found"));
    send(
        c.get(srv.url(&format!("/v1/jobs/{id}/output")))
            .bearer_auth(B),
    )
    .await
    .expect_problem(404, Some("not_found"));
    send(c.delete(srv.url(&format!("/v1/jobs/{id}"))).bearer_auth(B))
        .await
        .expect_problem(404, Some("not_found"));
    let b_list = send(c.get(srv.url("/v1/jobs")).bearer_auth(B)).await;
    b_list.expect_status(200);
    assert!(
        !page_ids(&b_list.json()).contains(&id),
        "B's list shows A's job: {}",
        b_list.text()
    );

    let a_list = send(c.get(srv.url("/v1/jobs")).bearer_auth(A)).await;
    a_list.expect_status(200);
    assert_eq!(page_ids(&a_list.json()), vec![id.clone()], "A's list");
    // B's DELETE changed nothing.
    let after = a_job(&id).await.json();
    assert_eq!(after["status"], "succeeded");
    assert!(
        after["output"].is_object(),
        "B's DELETE removed A's output: {after:#}"
    );
    send(
        c.get(srv.url(&format!("/v1/jobs/{id}/output")))
            .bearer_auth(A),
    )
    .await
    .expect_status(200);
}

// ---------------------------------------------------------------------------------------
// 7. Errors: problem+json everywhere, failed jobs carry codes
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_problem_json_with_stable_codes() {
    let srv = TestServer::start(ServerConfig::new()).await;

    srv.get("/no/such/route")
        .await
        .expect_problem(404, Some("not_found"));
    srv.get("/v1/jobs/not-a-uuid")
        .await
        .expect_problem(404, Some("not_found"));
    srv.get("/v1/jobs/0190f5a2-0000-7000-8000-000000000000")
        .await
        .expect_problem(404, Some("not_found"));

    let bad_json = send(
        srv.post_req("/v1/jobs")
            .header("content-type", "application/json")
            .body("{bad"),
    )
    .await;
    bad_json.expect_problem(400, None);
    let unknown = json!({"source": {"url": "http://127.0.0.1:9/v.mp4"}, "output": {"format": "wav"}, "bogus": 1});
    srv.create_json(&unknown).await.expect_problem(400, None);
    let unknown_output = json!({"source": {"url": "http://127.0.0.1:9/v.mp4"}, "output": {"format": "wav", "sample_rat": 1}});
    srv.create_json(&unknown_output)
        .await
        .expect_problem(400, None);
    srv.create_raw("/v1/jobs?sample_rate=0", media(MP4), "video/mp4")
        .await
        .expect_problem(400, Some("invalid_options"));
    srv.create_raw("/v1/jobs?channels=0", media(MP4), "video/mp4")
        .await
        .expect_problem(400, Some("invalid_options"));
    srv.create_raw("/v1/jobs?format=flac", media(MP4), "video/mp4")
        .await
        .expect_problem(400, Some("invalid_options"));
    srv.create_raw("/v1/jobs", Vec::new(), "video/mp4")
        .await
        .expect_problem(400, None);
    // Nothing above made a job.
    let page = srv.get("/v1/jobs").await.json();
    assert!(
        page_ids(&page).is_empty(),
        "rejected requests left jobs: {page}"
    );

    let garbage = srv.submit_raw("", bad("random.bin")).await;
    let video_only = srv.submit_raw("", media("mp4_video_only.mp4")).await;
    let no_track = srv.submit_raw("?track=5", media(MP4)).await;
    for (id, codes) in [
        (&garbage, &["invalid_media", "unsupported_format"][..]),
        (&video_only, &["no_audio_track"][..]),
        (&no_track, &["track_not_found"][..]),
    ] {
        let job = srv.wait_status(id, "failed").await;
        let code = job["error"]["code"].as_str().unwrap_or_default();
        assert!(
            codes.contains(&code),
            "job {id}: error code {code:?}, expected one of {codes:?}: {}",
            job["error"]
        );
        assert!(
            job["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "no error message: {}",
            job["error"]
        );
        assert!(
            job["output"].is_null(),
            "failed job with an output: {}",
            job["output"]
        );
        srv.get(&format!("/v1/jobs/{id}/output"))
            .await
            .expect_problem(409, None);
    }
    srv.delete("/v1/jobs/not-a-uuid")
        .await
        .expect_problem(404, Some("not_found"));
    send(srv.client.put(srv.url("/v1/jobs")))
        .await
        .expect_problem(405, None);
}

// ---------------------------------------------------------------------------------------
// 8. Upload size cap
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_over_the_limit_is_413_and_leaves_nothing() {
    let srv = TestServer::start(ServerConfig::new().max_upload_bytes(10_000)).await;
    let video = media(MP4);
    assert!(video.len() > 10_000);
    srv.create_raw("/v1/jobs", video.clone(), "video/mp4")
        .await
        .expect_problem(413, Some("source_too_large"));
    let (ct, body) = multipart(&[Part::file("file", "v.mp4", "video/mp4", video.clone())]);
    send(
        srv.post_req("/v1/jobs")
            .header("content-type", ct)
            .body(body),
    )
    .await
    .expect_problem(413, Some("source_too_large"));
    srv.create_raw("/v1/extract", video, "video/mp4")
        .await
        .expect_problem(413, Some("source_too_large"));

    let uploads = srv.data_dir().join("uploads");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !dir_entries(&uploads).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        dir_entries(&uploads),
        Vec::<String>::new(),
        "files left in {}",
        uploads.display()
    );
    assert_eq!(
        dir_entries(&srv.data_dir().join("tmp")),
        Vec::<String>::new(),
        "files left in tmp"
    );
    let page = srv.get("/v1/jobs").await.json();
    assert!(
        page_ids(&page).is_empty(),
        "a refused upload made a job: {page}"
    );
}

// ---------------------------------------------------------------------------------------
// 9. Listing: newest first, cursor pages, status filter
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_is_newest_first_paginated_and_filtered() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let j1 = srv.submit_raw("?sample_rate=16000", media(MP4)).await;
    let j2 = srv.submit_raw("", bad("random.bin")).await;
    let j3 = srv.submit_raw("", media("wav_pcm_s16le.wav")).await;
    srv.wait_status(&j1, "succeeded").await;
    srv.wait_status(&j2, "failed").await;
    srv.wait_status(&j3, "succeeded").await;

    let all = srv.get("/v1/jobs").await;
    all.expect_status(200);
    assert_eq!(
        page_ids(&all.json()),
        vec![j3.clone(), j2.clone(), j1.clone()],
        "newest first"
    );
    assert!(all.json()["next_cursor"].is_null());

    let p1 = srv.get("/v1/jobs?limit=2").await;
    p1.expect_status(200);
    let p1 = p1.json();
    assert_eq!(page_ids(&p1), vec![j3.clone(), j2.clone()], "first page");
    let cursor = p1["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("first page without next_cursor: {p1}"))
        .to_string();
    let p2 = srv.get(&format!("/v1/jobs?limit=2&cursor={cursor}")).await;
    p2.expect_status(200);
    let p2 = p2.json();
    assert_eq!(page_ids(&p2), vec![j1.clone()], "second page");
    assert!(
        p2["next_cursor"].is_null(),
        "last page has a next_cursor: {p2}"
    );

    let ok = srv.get("/v1/jobs?status=succeeded").await.json();
    assert_eq!(
        page_ids(&ok),
        vec![j3.clone(), j1.clone()],
        "status=succeeded"
    );
    let failed = srv.get("/v1/jobs?status=failed").await.json();
    assert_eq!(page_ids(&failed), vec![j2.clone()], "status=failed");
    let queued = srv.get("/v1/jobs?status=queued").await.json();
    assert!(page_ids(&queued).is_empty(), "status=queued: {queued}");
    let ok1 = srv.get("/v1/jobs?status=succeeded&limit=1").await.json();
    assert_eq!(page_ids(&ok1), vec![j3.clone()]);
    let c = ok1["next_cursor"]
        .as_str()
        .expect("next_cursor")
        .to_string();
    let ok2 = srv
        .get(&format!("/v1/jobs?status=succeeded&limit=1&cursor={c}"))
        .await
        .json();
    assert_eq!(page_ids(&ok2), vec![j1.clone()], "second filtered page");

    srv.get("/v1/jobs?limit=0").await.expect_problem(400, None);
    srv.get("/v1/jobs?status=bogus")
        .await
        .expect_problem(400, None);
    srv.get("/v1/jobs?cursor=zzz")
        .await
        .expect_problem(400, None);
}

// ---------------------------------------------------------------------------------------
// 10. DELETE: cancel a running job; delete a finished job's output
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cancels_running_jobs_and_removes_outputs() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let slow = MediaSource::start(media(MP4), Duration::from_secs(5)).await;
    let created = Instant::now();
    let r = srv
        .create_json(&json!({"source": {"url": slow.url()}}))
        .await;
    r.expect_status(202);
    let id = job_id(&r.json());
    srv.wait_job(&id, "fetching", |j| {
        j["status"] == "running" && step_status(j, "fetch") == "running"
    })
    .await;
    assert!(
        created.elapsed() < Duration::from_secs(4),
        "the job reached fetch too late for this test"
    );

    let del = srv.delete(&format!("/v1/jobs/{id}")).await;
    assert!(
        matches!(del.status, 200 | 202),
        "DELETE of a running job: {} {}",
        del.status,
        del.text()
    );
    let job = srv.wait_status(&id, "canceled").await;
    assert!(job["output"].is_null());
    srv.get(&format!("/v1/jobs/{id}/output"))
        .await
        .expect_problem(409, Some("not_ready"));

    // Past the moment the source would have answered: still canceled, no output.
    let settle = Duration::from_millis(6500).saturating_sub(created.elapsed());
    tokio::time::sleep(settle).await;
    let job = srv.job(&id).await;
    assert_eq!(
        job["status"], "canceled",
        "a canceled job came back: {job:#}"
    );
    assert!(
        job["output"].is_null(),
        "a canceled job got an output: {job:#}"
    );
    srv.get(&format!("/v1/jobs/{id}/output"))
        .await
        .expect_problem(409, None);

    // A finished job: DELETE removes its output.
    let done = srv.submit_raw("", media(MP4)).await;
    let job = srv.wait_status(&done, "succeeded").await;
    let key = job["output"]["key"]
        .as_str()
        .expect("output key")
        .to_string();
    let object = srv.data_dir().join("objects").join(&key);
    srv.get(&format!("/v1/jobs/{done}/output"))
        .await
        .expect_status(200);
    assert!(
        object.is_file(),
        "local storage keeps {key} at {}, expected a file there",
        object.display()
    );
    let del = srv.delete(&format!("/v1/jobs/{done}")).await;
    del.expect_status(200);
    assert!(
        del.json()["output"].is_null(),
        "DELETE answer still has an output: {}",
        del.text()
    );
    let job = srv.job(&done).await;
    assert!(
        job["output"].is_null(),
        "the job still lists an output: {job:#}"
    );
    assert_eq!(job["status"], "succeeded", "{job:#}");
    // Gone for good, and said so: not the 409 of an output still to come.
    let gone = srv.get(&format!("/v1/jobs/{done}/output")).await;
    let p = gone.expect_problem(410, Some("output_deleted"));
    assert_eq!(
        p["type"], "https://audiotap.dev/problems/output_deleted",
        "{p}"
    );
    assert!(gone.header("retry-after").is_none(), "{p}");
    // A second DELETE changes nothing.
    srv.delete(&format!("/v1/jobs/{done}"))
        .await
        .expect_status(200);
    srv.get(&format!("/v1/jobs/{done}/output"))
        .await
        .expect_problem(410, Some("output_deleted"));
    assert!(
        !object.exists(),
        "the output object {} is still on disk",
        object.display()
    );
}

// ---------------------------------------------------------------------------------------
// 11. Synchronous extraction
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_extract_streams_wav_and_rejects_bad_media() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let r = srv
        .create_raw(
            "/v1/extract?sample_rate=16000&channels=1",
            media(MP4),
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
        .create_raw("/v1/extract", bad("random.bin"), "application/octet-stream")
        .await;
    bad_media.expect_problem_any(422, &["invalid_media", "unsupported_format"]);
    let no_audio = srv
        .create_raw("/v1/extract", media("mp4_video_only.mp4"), "video/mp4")
        .await;
    no_audio.expect_problem(422, Some("no_audio_track"));
    srv.create_raw("/v1/extract?sample_rate=0", media(MP4), "video/mp4")
        .await
        .expect_problem(400, Some("invalid_options"));
    let page = srv.get("/v1/jobs").await.json();
    assert!(page_ids(&page).is_empty(), "/v1/extract made jobs: {page}");
}

// ---------------------------------------------------------------------------------------
// 12. A crash mid-job: the job survives and finishes after a restart
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_survives_kill_9_and_finishes_after_restart() {
    let mut srv = TestServer::start(ServerConfig::new()).await;
    let slow = MediaSource::start(media(MP4), Duration::from_secs(3)).await;
    let r = srv
        .create_json(&json!({"source": {"url": slow.url()}, "output": {"sample_rate": 16000}}))
        .await;
    r.expect_status(202);
    let id = job_id(&r.json());
    srv.wait_job(&id, "running", |j| j["status"] == "running")
        .await;
    // Kill it mid-download: the source has the request and is still holding the answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while slow.hits() == 0 {
        assert!(
            Instant::now() < deadline,
            "the running job never asked the source"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

// ---------------------------------------------------------------------------------------
// 13. System endpoints
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_endpoints_health_ready_metrics_spec() {
    let srv = TestServer::start(ServerConfig::new()).await;
    srv.get("/healthz").await.expect_status(200);
    let ready = srv.get("/readyz").await;
    ready.expect_status(200);
    assert!(
        ready.content_type().starts_with("application/json"),
        "readyz Content-Type {:?}",
        ready.content_type()
    );
    assert_eq!(ready.json()["status"], "ok", "{}", ready.text());
    let metrics = srv.get("/metrics").await;
    metrics.expect_status(200);
    assert!(
        metrics.text().contains("audiotap_jobs"),
        "metrics without audiotap_jobs:\n{}",
        metrics.text()
    );
    let spec = srv.get("/openapi.json").await;
    spec.expect_status(200);
    let doc = spec.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "openapi field: {}",
        doc["openapi"]
    );
    for path in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/output",
        "/v1/extract",
    ] {
        assert!(doc["paths"][path].is_object(), "spec has no path {path}");
    }
}

// ---------------------------------------------------------------------------------------
// 14. openapi/openapi.yaml equals what the code generates
// ---------------------------------------------------------------------------------------

#[test]
fn openapi_yaml_matches_the_code() {
    let out = std::process::Command::new(bin())
        .arg("openapi")
        .env_remove("AUDIOTAP_LOG")
        .output()
        .expect("run audiotap openapi");
    assert!(
        out.status.success(),
        "audiotap openapi failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).expect("UTF-8 YAML");
    assert!(
        generated.contains("openapi:") && generated.contains("/v1/jobs"),
        "audiotap openapi printed:\n{generated}"
    );
    let path = root().join("openapi/openapi.yaml");
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).expect("create openapi/");
        std::fs::write(&path, &generated).expect("write openapi/openapi.yaml");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(generated.lines().count()));
        panic!(
            "{} is out of date with the code (first difference at line {}).\n\
             Run `UPDATE_OPENAPI=1 cargo test --test api openapi` and commit the file.",
            path.display(),
            first + 1
        );
    }
}
