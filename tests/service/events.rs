//! `GET /v1/jobs/{id}/events` against the real server: the events of a job from queued to
//! its end, resuming with `Last-Event-ID` (also after the end: 204), a failed job's error,
//! the job routes' auth and tenancy, and (with PostgreSQL) a stream served by an API node
//! while a worker node runs the job.

use std::time::Duration;

use crate::support::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

const MP4: &str = "mp4_aac_long.mp4";

#[derive(Debug, Clone, PartialEq)]
struct Ev {
    name: String,
    id: String,
    data: Value,
}

/// Read a whole event stream (the server closes it after `end`).
async fn events(srv: &TestServer, id: &str, last: Option<&str>) -> (u16, Vec<Ev>) {
    let mut rb = srv
        .client
        .get(srv.url(&format!("/v1/jobs/{id}/events")))
        .timeout(Duration::from_secs(60));
    if let Some(k) = &srv.auth {
        rb = rb.bearer_auth(k);
    }
    if let Some(l) = last {
        rb = rb.header("Last-Event-ID", l);
    }
    let resp = rb.send().await.expect("events request");
    let status = resp.status().as_u16();
    if status == 200 {
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(ct.starts_with("text/event-stream"), "Content-Type {ct}");
    }
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(
            &chunk.expect("event stream chunk"),
        ));
    }
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let (mut name, mut ev_id, mut data) = (String::new(), String::new(), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                name = v.into();
            } else if let Some(v) = line.strip_prefix("id: ") {
                ev_id = v.into();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
        if name.is_empty() {
            continue; // a keep-alive comment
        }
        let data = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{name}: {e}: {data}"));
        out.push(Ev {
            name,
            id: ev_id,
            data,
        });
    }
    (status, out)
}

fn names(evs: &[Ev]) -> Vec<&str> {
    evs.iter().map(|e| e.name.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_events_run_to_its_end_and_resume_where_they_stopped() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let id = srv
        .submit_raw("?sample_rate=16000&channels=1", media_bytes(MP4))
        .await;
    let (status, evs) = events(&srv, &id, None).await;
    assert_eq!(status, 200);
    let n = names(&evs);
    assert_eq!(n.first(), Some(&"status"), "{n:?}");
    assert_eq!(n.last(), Some(&"end"), "{n:?}");
    assert_eq!(n.iter().filter(|e| **e == "end").count(), 1);
    assert_eq!(n.iter().filter(|e| **e == "output_ready").count(), 1);
    // The end carries the job as GET /v1/jobs/{id} has it.
    let job = srv.job(&id).await;
    let end = &evs.last().unwrap().data;
    assert_eq!(end["status"], "succeeded");
    assert_eq!(end, &job);
    // The output announced is the job's output.
    let ready = evs.iter().find(|e| e.name == "output_ready").unwrap();
    assert_eq!(ready.data, job["output"]);
    // Every step ended as the job says, and the last progress is 1.
    for step in job["steps"].as_array().unwrap() {
        let last = evs
            .iter()
            .rfind(|e| e.name == "step" && e.data["name"] == step["name"])
            .unwrap_or_else(|| panic!("no event for step {}", step["name"]));
        assert_eq!(last.data["status"], step["status"]);
    }
    let progress = evs.iter().rfind(|e| e.name == "progress").unwrap();
    assert_eq!(progress.data["progress"], 1.0);
    // Ids are distinct: each names what the client has been told.
    let mut ids: Vec<&str> = evs.iter().map(|e| e.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), evs.len());
    // Resume from any event: the rest, exactly, and nothing the client already had.
    for cut in [0, evs.len() / 2, evs.len() - 2] {
        let (status, rest) = events(&srv, &id, Some(&evs[cut].id)).await;
        assert_eq!(status, 200);
        // A finished job's state is what the first stream ended with, so the remainder of
        // the first stream and the resumed stream bring the client to the same place.
        assert_eq!(
            rest.last().map(|e| e.id.clone()),
            evs.last().map(|e| e.id.clone())
        );
        assert!(
            !rest
                .iter()
                .any(|e| evs[..=cut].iter().any(|f| f.id == e.id))
        );
    }
    // After the end there is nothing more: 204 tells the client to stop.
    let (status, rest) = events(&srv, &id, Some(&evs.last().unwrap().id)).await;
    assert_eq!((status, rest.len()), (204, 0));
    // A Last-Event-ID this server did not write starts from the beginning.
    let (status, again) = events(&srv, &id, Some("garbage")).await;
    assert_eq!(status, 200);
    assert_eq!(again.first().map(|e| e.name.as_str()), Some("status"));
    assert_eq!(
        again.last().map(|e| e.id.clone()),
        evs.last().map(|e| e.id.clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_ends_with_its_error() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let id = srv.submit_raw("", bad_bytes("random.bin")).await;
    let (_, evs) = events(&srv, &id, None).await;
    let end = evs.last().expect("events");
    assert_eq!(end.name, "end");
    assert_eq!(end.data["status"], "failed");
    let code = end.data["error"]["code"].as_str().unwrap_or("");
    assert!(!code.is_empty(), "{}", end.data);
    let status = evs.iter().rfind(|e| e.name == "status").unwrap();
    assert_eq!(status.data["status"], "failed");
    assert_eq!(status.data["error"], end.data["error"]);
    assert!(!evs.iter().any(|e| e.name == "output_ready"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_the_job_routes_auth_and_tenancy() {
    let (a, b) = ("events-key-a-0123456789", "events-key-b-0123456789");
    let mut srv = TestServer::start(ServerConfig::new().api_keys(&format!("{a},{b}"))).await;
    srv.auth = Some(a.into());
    let id = srv.submit_raw("", media_bytes(MP4)).await;
    srv.auth = None;
    let r = send(srv.client.get(srv.url(&format!("/v1/jobs/{id}/events")))).await;
    r.expect_problem(401, Some("unauthorized"));
    srv.auth = Some(b.into());
    let r = send(
        srv.client
            .get(srv.url(&format!("/v1/jobs/{id}/events")))
            .bearer_auth(b),
    )
    .await;
    r.expect_problem(404, Some("not_found"));
    let r = send(
        srv.client
            .get(srv.url("/v1/jobs/not-a-job/events"))
            .bearer_auth(b),
    )
    .await;
    r.expect_problem(404, Some("not_found"));
    srv.auth = Some(a.into());
    let (status, evs) = events(&srv, &id, None).await;
    assert_eq!(status, 200);
    assert_eq!(evs.last().map(|e| e.name.as_str()), Some("end"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_node_streams_a_job_a_worker_node_runs() {
    let Some(admin) = pg::admin_url("events across nodes") else {
        return;
    };
    let db = pg::fresh_database(&admin).await;
    let shared = |role: &str, node: &str| {
        ServerConfig::new()
            .env("AUDIOTAP_DATABASE_URL", &db)
            .env("AUDIOTAP_ROLE", role)
            .env("AUDIOTAP_NODE_ID", node)
    };
    let api = TestServer::start(shared("api", "api-node")).await;
    // A slow source keeps the job running for a while on the worker.
    let source = MediaSource::start(media_bytes(MP4), Duration::from_millis(600)).await;
    let id = api
        .submit_json(&json!({"source": {"url": source.url()}, "output": {"sample_rate": 16000}}))
        .await;
    let worker = TestServer::start(shared("worker", "worker-node")).await;
    let (status, evs) = events(&api, &id, None).await;
    assert_eq!(status, 200);
    let end = &evs.last().expect("events").data;
    assert_eq!(end["status"], "succeeded", "{end:#}");
    assert_eq!(end["node"], "worker-node");
    assert!(names(&evs).contains(&"output_ready"));
    drop(worker);
}
