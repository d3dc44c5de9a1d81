//! Many nodes, one PostgreSQL job store, one S3 bucket (Garage): real `audiotap serve`
//! processes on their own ports and data dirs, sharing nothing else.
//!
//! - 30 jobs submitted through one node run on three; one worker node is killed with
//!   SIGKILL mid-job; its leases run out and the others take its jobs over. Every job
//!   succeeds exactly once: one published output object per job (none left by the dead
//!   attempts), uploads staged in the bucket and cleaned up, attempts accounted for.
//! - A worker frozen (SIGSTOP) past its lease while another takes its job over, then thawed:
//!   it loses the race for the job, and only the winner's output is published.
//! - An API-only node and a worker-only node: the API node runs nothing; progress and a
//!   cancellation cross between them through the store.
//!
//! Skipped (with a message) when AUDIOTAP_TEST_DATABASE_URL or AUDIOTAP_TEST_S3_ENDPOINT is
//! absent; CI sets both (scripts/test.sh starts PostgreSQL and Garage).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::support::pg;
use crate::support::s3::TestS3;
use crate::support::*;
use serde_json::{Value, json};

const MP4: &str = "mp4_aac.mp4";
/// Short leases, so a dead node's jobs move on within seconds.
const LEASE_SECS: &str = "3";

struct Shared {
    env: Vec<(String, String)>,
    prefix: String,
    bucket: String,
    s3: aws_sdk_s3::Client,
}

/// One fresh database and one fresh bucket prefix, or `None` to skip.
async fn shared(what: &str) -> Option<Shared> {
    let admin = pg::admin_url(what)?;
    let s3 = TestS3::from_env(what)?;
    let prefix = format!("multinode-{}", uuid::Uuid::now_v7().simple());
    let database = pg::fresh_database(&admin).await;
    let mut env = s3.server_env(&prefix);
    env.push(("AUDIOTAP_DATABASE_URL".into(), database));
    env.push(("AUDIOTAP_LEASE_SECS".into(), LEASE_SECS.into()));
    Some(Shared {
        env,
        prefix,
        bucket: s3.bucket.clone(),
        s3: s3.client(),
    })
}

impl Shared {
    async fn node(&self, id: &str, role: &str) -> TestServer {
        let cfg = ServerConfig::new()
            .env("AUDIOTAP_NODE_ID", id)
            .env("AUDIOTAP_ROLE", role)
            .envs(&self.env);
        TestServer::start(cfg).await
    }

    /// Keys under `<prefix>/<under>/` in the bucket, without the prefix.
    async fn keys(&self, under: &str) -> Vec<String> {
        let full = format!("{}/{under}/", self.prefix);
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full)
                .set_continuation_token(token)
                .send()
                .await
                .expect("list objects");
            for o in page.contents() {
                let k = o.key().unwrap_or_default();
                out.push(
                    k.trim_start_matches(&format!("{}/", self.prefix))
                        .to_string(),
                );
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        out.sort();
        out
    }
}

async fn running_on(srv: &TestServer, node: &str) -> Vec<Value> {
    let list = srv.get("/v1/jobs?status=running&limit=500").await;
    list.expect_status(200);
    list.json()["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|j| j["node"] == node)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_jobs_on_three_nodes_survive_a_killed_node_exactly_once() {
    let Some(sh) = shared("multinode kill -9").await else {
        return;
    };
    let a = sh.node("node-a", "all").await;
    let mut b = sh.node("node-b", "worker").await;
    let c = sh.node("node-c", "worker").await;
    a.get("/readyz").await.expect_status(200);
    b.get("/readyz").await.expect_status(200);
    // Half the jobs are uploads (staged in the bucket by node-a, fetched by whichever node
    // runs them), half download from a slow source, so node-b is surely mid-job when killed.
    let slow = MediaSource::start(media_bytes(MP4), Duration::from_millis(1500)).await;
    let video = media_bytes(MP4);
    let mut ids = Vec::new();
    for i in 0..30 {
        let id = if i % 2 == 0 {
            a.submit_raw("?sample_rate=16000&channels=1", video.clone())
                .await
        } else {
            a.submit_json(&json!({"source": {"url": slow.url()}, "output": {"sample_rate": 16000, "channels": 1}})).await
        };
        ids.push(id);
    }
    // Wait until node-b has finished a job and is downloading a slow source (so at least
    // a second of that job is left), then SIGKILL it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let victims = loop {
        let on_b = running_on(&a, "node-b").await;
        let done = a.get("/v1/jobs?status=succeeded&limit=500").await.json();
        let b_done = done["jobs"]
            .as_array()
            .is_some_and(|js| js.iter().any(|j| j["node"] == "node-b"));
        if b_done && on_b.iter().any(|j| step_status(j, "fetch") == "running") {
            break on_b;
        }
        assert!(
            Instant::now() < deadline,
            "node-b never ran a slow job:\n{}",
            b.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::task::block_in_place(|| b.kill9());
    let victim_ids: HashSet<String> = victims.iter().map(job_id).collect();
    eprintln!("killed node-b while it ran {victim_ids:?}");

    // Every job ends, succeeded, within a bound (the takeover waits for the lease).
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut jobs: HashMap<String, Value> = HashMap::new();
    while jobs.len() < ids.len() {
        for id in &ids {
            if jobs.contains_key(id) {
                continue;
            }
            let j = a.job(id).await;
            if matches!(
                j["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            ) {
                jobs.insert(id.clone(), j);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} jobs ended within 180 s",
            jobs.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut per_node: BTreeMap<String, usize> = ["node-a", "node-b", "node-c"]
        .into_iter()
        .map(|n| (n.to_string(), 0))
        .collect();
    let mut attempts_total = 0;
    let mut taken_over = Vec::new();
    let mut keys = Vec::new();
    for id in &ids {
        let j = &jobs[id];
        assert_eq!(j["status"], "succeeded", "job {id}:\n{j:#}");
        let node = j["node"]
            .as_str()
            .expect("node on a finished job")
            .to_string();
        let attempts = j["attempts"].as_u64().expect("attempts");
        attempts_total += attempts;
        if attempts > 1 {
            taken_over.push(id.clone());
            assert_ne!(
                node, "node-b",
                "a job that needed a second attempt finished on node-b, which was dead: {j:#}"
            );
        }
        if victim_ids.contains(id) {
            assert!(
                attempts >= 2 && node != "node-b",
                "node-b's running job {id} must have been taken over: {j:#}"
            );
        }
        *per_node.entry(node).or_default() += 1;
        keys.push(j["output"]["key"].as_str().expect("output key").to_string());
    }
    eprintln!(
        "per-node jobs: {per_node:?}; attempts {attempts_total} for {} jobs; taken over after the kill: {}",
        ids.len(),
        taken_over.len()
    );
    // Nobody ran a job twice to completion, and no attempt was lost without a trace: the
    // extra attempts are exactly the takeovers (no job failed or retried for another reason).
    assert_eq!(attempts_total as usize, ids.len() + taken_over.len());
    assert!(
        !taken_over.is_empty(),
        "node-b was killed mid-job, so at least one job had a second attempt"
    );
    assert!(
        per_node.values().all(|&n| n > 0),
        "every node finished jobs (node-b before it was killed): {per_node:?}"
    );

    // Exactly one output object per job in the bucket: the published one.
    let mut expected = keys.clone();
    expected.sort();
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), ids.len(), "one distinct output key per job");
    let stored = sh.keys("outputs").await;
    assert_eq!(
        stored, expected,
        "the bucket holds exactly the published outputs (no orphan of a dead attempt)"
    );
    // Every staged upload was removed once its job ended.
    assert_eq!(sh.keys("uploads").await, Vec::<String>::new());
    // Every output is served by the API node and matches its record; the same input and
    // options give the same bytes whichever node ran them.
    let mut digests = HashSet::new();
    for id in &ids {
        let dl = a.get(&format!("/v1/jobs/{id}/output")).await;
        dl.expect_status(200);
        let sha = sha256_hex(&dl.body);
        assert_eq!(sha, jobs[id]["output"]["sha256"].as_str().unwrap());
        digests.insert(sha);
    }
    assert_eq!(digests.len(), 1, "identical jobs gave different bytes");
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_node_and_worker_node_share_progress_and_cancellation() {
    let Some(sh) = shared("multinode roles").await else {
        return;
    };
    let api = sh.node("api-1", "api").await;
    let worker = sh.node("worker-1", "worker").await;
    // The worker serves only the probes and metrics.
    worker.get("/healthz").await.expect_status(200);
    worker.get("/readyz").await.expect_status(200);
    worker.get("/metrics").await.expect_status(200);
    worker
        .get("/v1/jobs")
        .await
        .expect_problem(404, Some("not_found"));

    // An upload through the API node runs on the worker node.
    let id = api
        .submit_raw("?sample_rate=16000&channels=1", media_bytes(MP4))
        .await;
    let job = api.wait_status(&id, "succeeded").await;
    assert_eq!(job["node"], "worker-1", "{job:#}");
    assert_eq!(job["attempts"], 1);
    assert!(
        dir_entries(&api.data_dir().join("uploads")).is_empty(),
        "the API node kept no upload on its disk"
    );
    let dl = api.get(&format!("/v1/jobs/{id}/output")).await;
    dl.expect_status(200);
    assert_eq!(
        sha256_hex(&dl.body),
        job["output"]["sha256"].as_str().unwrap()
    );

    // A slow job: the API node sees the worker's progress, and cancels it there.
    let slow = MediaSource::start(media_bytes(MP4), Duration::from_secs(30)).await;
    let slow_id = api
        .submit_json(&json!({"source": {"url": slow.url()}}))
        .await;
    let running = api
        .wait_job(&slow_id, "fetching on the worker", |j| {
            j["status"] == "running" && step_status(j, "fetch") == "running"
        })
        .await;
    assert_eq!(running["node"], "worker-1");
    let del = api.delete(&format!("/v1/jobs/{slow_id}")).await;
    del.expect_status(202);
    let canceled = api.wait_status(&slow_id, "canceled").await;
    assert_eq!(canceled["error"]["code"], "canceled");
    // The worker gives the job up at its next lease renewal: it runs nothing afterwards
    // (its running gauge drops to 0) and the job stays canceled with no output.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = worker.get("/metrics").await;
        let text = String::from_utf8_lossy(&m.body).to_string();
        if text
            .lines()
            .any(|l| l.starts_with("audiotap_jobs_running ") && l.ends_with(" 0"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never stopped the canceled job:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = api.job(&slow_id).await;
    assert_eq!(after["status"], "canceled");
    assert!(after["output"].is_null());
    let outputs = sh.keys("outputs").await;
    assert!(
        outputs.iter().all(|k| !k.contains(&slow_id)),
        "no output for the canceled job: {outputs:?}"
    );
}

/// A counter or gauge's value in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_worker_loses_its_job_and_its_output_is_not_published() {
    let Some(sh) = shared("multinode split brain").await else {
        return;
    };
    let api = sh.node("api-1", "api").await;
    let x = sh.node("worker-x", "worker").await;
    let slow = MediaSource::start(media_bytes(MP4), Duration::from_secs(2)).await;
    let id = api
        .submit_json(&json!({"source": {"url": slow.url()}, "output": {"channels": 1}}))
        .await;
    api.wait_job(&id, "running on worker-x", |j| {
        j["node"] == "worker-x" && step_status(j, "fetch") == "running"
    })
    .await;
    // Freeze worker-x mid-download: it cannot renew its lease, but it is not dead.
    x.signal("STOP");
    let y = sh.node("worker-y", "worker").await;
    let done = api.wait_status(&id, "succeeded").await;
    assert_eq!(done["node"], "worker-y", "{done:#}");
    assert_eq!(done["attempts"], 2, "{done:#}");
    // Thaw worker-x: it finishes its stale attempt, which must not land.
    x.signal("CONT");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = x.get("/metrics").await;
        let text = String::from_utf8_lossy(&m.body).to_string();
        if metric(&text, "audiotap_attempts_discarded_total").is_some_and(|n| n >= 1.0)
            && metric(&text, "audiotap_jobs_running") == Some(0.0)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "worker-x never gave its stale attempt up:\n{text}\n{}",
            x.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for line in x.log_text().lines().filter(|l| l.contains("attempt")) {
        eprintln!("worker-x: {line}");
    }
    let after = api.job(&id).await;
    assert_eq!(after, done, "the stale attempt changed the job");
    let outputs = sh.keys("outputs").await;
    assert_eq!(
        outputs,
        vec![done["output"]["key"].as_str().unwrap().to_string()],
        "exactly the winner's output is in the bucket"
    );
    let dl = api.get(&format!("/v1/jobs/{id}/output")).await;
    dl.expect_status(200);
    assert_eq!(
        sha256_hex(&dl.body),
        done["output"]["sha256"].as_str().unwrap()
    );
    drop(y);
}
