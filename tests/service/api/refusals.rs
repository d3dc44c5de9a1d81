//! What the API refuses, and how: requests without a valid API key, other keys' jobs,
//! malformed requests and failed jobs as problem+json with stable codes, uploads over the cap.

use std::time::{Duration, Instant};

use serde_json::json;

use super::MP4;
use crate::support::*;

// ---------------------------------------------------------------------------------------
// API keys and ownership
// ---------------------------------------------------------------------------------------

const KEY_A: &str = "key-aaaaaaaaaaaaaaaa";
const KEY_B: &str = "key-bbbbbbbbbbbbbbbb";

/// A server that knows two API keys, `KEY_A` and `KEY_B`.
async fn keyed_server() -> TestServer {
    TestServer::start(ServerConfig::new().api_keys(&format!("{KEY_A},{KEY_B}"))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_required() {
    let srv = keyed_server().await;
    let c = &srv.client;

    send(c.get(srv.url("/v1/jobs")))
        .await
        .expect_problem(401, Some("unauthorized"));
    send(
        c.post(srv.url("/v1/jobs"))
            .header("content-type", "video/mp4")
            .body(media_bytes(MP4)),
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
            .body(media_bytes(MP4)),
    )
    .await
    .expect_problem(401, Some("unauthorized"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_private_to_their_key() {
    const A: &str = KEY_A;
    const B: &str = KEY_B;
    let srv = keyed_server().await;
    let c = &srv.client;
    let r = send(
        c.post(srv.url("/v1/jobs"))
            .bearer_auth(A)
            .header("content-type", "video/mp4")
            .body(media_bytes(MP4)),
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
// Errors: problem+json everywhere, failed jobs carry codes
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
    srv.create_raw("/v1/jobs?sample_rate=0", media_bytes(MP4), "video/mp4")
        .await
        .expect_problem(400, Some("invalid_options"));
    srv.create_raw("/v1/jobs?channels=0", media_bytes(MP4), "video/mp4")
        .await
        .expect_problem(400, Some("invalid_options"));
    srv.create_raw("/v1/jobs?format=flac", media_bytes(MP4), "video/mp4")
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

    let garbage = srv.submit_raw("", bad_bytes("random.bin")).await;
    let video_only = srv.submit_raw("", media_bytes("mp4_video_only.mp4")).await;
    let no_track = srv.submit_raw("?track=5", media_bytes(MP4)).await;
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
// Upload size cap
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_over_the_limit_is_413_and_leaves_nothing() {
    let srv = TestServer::start(ServerConfig::new().max_upload_bytes(10_000)).await;
    let video = media_bytes(MP4);
    assert!(video.len() > 10_000);
    srv.create_raw("/v1/jobs", video.clone(), "video/mp4")
        .await
        .expect_problem(413, Some("source_too_large"));
    srv.create_multipart(
        "/v1/jobs",
        &[Part::file("file", "v.mp4", "video/mp4", video.clone())],
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
