//! The service's life cycle and its S3 back end: graceful shutdown requeues a running job
//! that the next process finishes; the whole job flow against a real S3 server (Garage).

use std::time::Duration;

use crate::support::s3::TestS3;
use crate::support::*;
use serde_json::json;

const MP4: &str = "mp4_aac.mp4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_requeues_the_running_job_and_the_next_process_finishes_it() {
    // No grace: a job still running at SIGTERM must go back to the queue, not be lost
    // and not be marked failed.
    let mut srv =
        TestServer::start(ServerConfig::new().env("AUDIOTAP_SHUTDOWN_GRACE_SECS", "0")).await;
    let slow = MediaSource::start(media_bytes(MP4), Duration::from_secs(4)).await;
    let id = srv
        .submit_json(&json!({"source": {"url": slow.url()}}))
        .await;
    slow.wait_asked().await;
    let exited = tokio::task::block_in_place(|| srv.terminate(Duration::from_secs(20)));
    assert!(
        exited,
        "the server did not exit cleanly on SIGTERM:\n{}",
        srv.log_text()
    );
    srv.restart().await;
    let job = srv.wait_status(&id, "succeeded").await;
    assert!(
        job["attempts"].as_u64().is_some_and(|a| a >= 2),
        "attempts: {}",
        job["attempts"]
    );
    let dl = srv.get(&format!("/v1/jobs/{id}/output")).await;
    dl.expect_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_store_outputs_in_s3_and_serve_them_back() {
    let Some(s3) = TestS3::from_env("api s3") else {
        return;
    };
    let env = s3.server_env(&format!("api-test-{}/", std::process::id()));
    let srv = TestServer::start(ServerConfig::new().envs(&env)).await;
    srv.get("/readyz").await.expect_status(200);
    let id = srv
        .submit_raw("?sample_rate=16000&channels=1", media_bytes(MP4))
        .await;
    let job = srv.wait_status(&id, "succeeded").await;
    let out = &job["output"];
    assert!(
        out["key"].as_str().is_some_and(|k| k.ends_with(".wav")),
        "{out}"
    );
    // Nothing of the output is on local disk: it went to the bucket.
    assert!(
        !srv.data_dir()
            .join("objects")
            .join(out["key"].as_str().unwrap())
            .exists()
    );
    let dl = srv.get(&format!("/v1/jobs/{id}/output")).await;
    dl.expect_status(200);
    assert_eq!(sha256_hex(&dl.body), out["sha256"].as_str().unwrap());
    assert_eq!(wav_info(&dl.body).0, 16000);
    let part = send(
        srv.get_req(&format!("/v1/jobs/{id}/output"))
            .header("Range", "bytes=10-19"),
    )
    .await;
    part.expect_status(206);
    assert_eq!(part.body.len(), 10);
    assert_eq!(&part.body[..], &dl.body[10..20]);
    // Deleting the job's output removes the object.
    srv.delete(&format!("/v1/jobs/{id}"))
        .await
        .expect_status(200);
    let gone = srv.get(&format!("/v1/jobs/{id}/output")).await;
    gone.expect_problem(410, Some("output_deleted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after() {
    // One worker busy on a slow download, one job waiting: the queue (1) is full.
    let srv = TestServer::start(
        ServerConfig::new()
            .env("AUDIOTAP_WORKERS", "1")
            .env("AUDIOTAP_MAX_QUEUE", "1"),
    )
    .await;
    let slow = MediaSource::start(media_bytes(MP4), Duration::from_secs(3)).await;
    let first_id = srv
        .submit_json(&json!({"source": {"url": slow.url()}}))
        .await;
    srv.wait_job(&first_id, "running", |j| j["status"] == "running")
        .await;
    srv.create_json(&json!({"source": {"url": slow.url()}}))
        .await
        .expect_status(202);
    let refused = srv
        .create_json(&json!({"source": {"url": slow.url()}}))
        .await;
    let problem = refused.expect_problem(503, Some("queue_full"));
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    let retry = refused.header("retry-after").expect("Retry-After on 503");
    assert!(
        retry.parse::<u64>().is_ok_and(|s| s > 0),
        "Retry-After: {retry}"
    );
    // The refused request made no job.
    let list = srv.get("/v1/jobs").await;
    assert_eq!(page_ids(&list.json()).len(), 2);
}
