//! Following and managing jobs: signed webhooks with retries, idempotent creation,
//! listing, and DELETE (cancel a running job, remove a finished job's output).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::MP4;
use crate::support::*;

// ---------------------------------------------------------------------------------------
// Webhooks: signed, retried, recorded
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_signed_retried_and_recorded() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let rx = WebhookReceiver::start(srv.webhook_key.clone(), vec![500, 200]).await;
    let q = format!("?webhook_url={}", rx.url());
    let id = srv.submit_raw(&q, media_bytes(MP4)).await;
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
// Idempotency-Key
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_returns_the_same_job_or_422() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let src = MediaSource::start(media_bytes(MP4), Duration::ZERO).await;
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
// Listing: newest first, cursor pages, status filter
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_is_newest_first_paginated_and_filtered() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let j1 = srv.submit_raw("?sample_rate=16000", media_bytes(MP4)).await;
    let j2 = srv.submit_raw("", bad_bytes("random.bin")).await;
    let j3 = srv.submit_raw("", media_bytes("wav_pcm_s16le.wav")).await;
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
// DELETE: cancel a running job; delete a finished job's output
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cancels_a_running_job() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let slow = MediaSource::start(media_bytes(MP4), Duration::from_secs(5)).await;
    let created = Instant::now();
    let id = srv
        .submit_json(&json!({"source": {"url": slow.url()}}))
        .await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_a_finished_jobs_output() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let done = srv.submit_raw("", media_bytes(MP4)).await;
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
