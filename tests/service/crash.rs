//! Crash safety: `kill -9` the server again and again while jobs are queued and running,
//! start it again on the same data dir each time, and check what survives:
//!
//! - every accepted job ends exactly once (terminal, and still the same after one more
//!   restart), valid media succeeded and bad media failed;
//! - one output object per succeeded job, whole (its SHA-256 and WAV header check out),
//!   none for failed jobs, no half-written or stray files in the object store;
//! - every webhook delivered at least once, all attempts of one job with the same
//!   `webhook-id`, distinct across jobs, nothing sent again after the final restart;
//! - no temporary files or unfinished uploads left once the dust settles.
//!
//! `CRASH_JOBS` (default 12) and `CRASH_KILLS` (default 4) size the run;
//! `scripts/crash-test.sh` runs it with 50 jobs and prints the tally.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Deliveries seen: job id (from the payload) -> webhook-ids, in order.
type Seen = Arc<Mutex<HashMap<String, Vec<String>>>>;

async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: axum::http::HeaderMap, body: axum::body::Bytes| {
            let s = s.clone();
            async move {
                let id = h
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let job = v["data"]["id"].as_str().unwrap_or("?").to_string();
                s.lock().unwrap().entry(job).or_default().push(id);
                axum::http::StatusCode::OK
            }
        }),
    );
    let (addr, _) = serve_app("127.0.0.1:0", app).await;
    (format!("http://{addr}/hook"), seen)
}

async fn submit(srv: &TestServer, i: usize, hook: &str) -> (String, bool) {
    // One in five is bad media: it must fail, once, with a stable code.
    let good = i % 5 != 4;
    let file = if good {
        media_bytes("mp4_aac_long.mp4")
    } else {
        bad_bytes("random.bin")
    };
    let parts = [
        Part::file("file", &format!("v{i}.mp4"), "video/mp4", file),
        Part::text(
            "options",
            "application/json",
            &json!({"output": {"format": "wav", "sample_rate": 16000 + 1000 * (i % 3) as u32},
                    "webhook_url": hook, "metadata": {"i": i}})
            .to_string(),
        ),
    ];
    let r = srv.create_multipart("/v1/jobs", &parts).await;
    r.expect_status(202);
    (job_id(&r.json()), good)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_jobs_queued_and_running_loses_nothing_and_repeats_nothing() {
    let jobs = env_usize("CRASH_JOBS", 12);
    let kills = env_usize("CRASH_KILLS", 4);
    let mut rng = StdRng::seed_from_u64(env_usize("CRASH_SEED", 5) as u64);
    let (hook, seen) = receiver().await;
    let mut srv = TestServer::start(
        ServerConfig::new()
            .env("AUDIOTAP_WORKERS", "2")
            .env("AUDIOTAP_WEBHOOK_MAX_ATTEMPTS", "30")
            .env("AUDIOTAP_JOB_MAX_ATTEMPTS", "20"),
    )
    .await;
    let started = Instant::now();
    let mut ids: Vec<(String, bool)> = Vec::new();
    let per_round = jobs.div_ceil(kills + 1);
    let mut running_at_kill = Vec::new();
    for round in 0..=kills {
        while ids.len() < jobs.min(per_round * (round + 1)) {
            let n = ids.len();
            ids.push(submit(&srv, n, &hook).await);
        }
        if round == kills {
            break;
        }
        // Let some jobs start, then pull the plug mid-flight.
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..700))).await;
        let page = srv.get("/v1/jobs?status=running&limit=100").await.json();
        running_at_kill.push(page_ids(&page).len());
        srv.kill9();
        srv.restart().await;
    }
    // Wait for every job and every delivery.
    let mut finals = BTreeMap::new();
    for (id, _) in &ids {
        let job = srv.wait_terminal(id).await;
        finals.insert(id.clone(), job);
    }
    for (id, _) in &ids {
        srv.wait_job(id, "webhook delivered", |j| {
            j["webhook"]["status"] == "delivered"
        })
        .await;
    }
    let elapsed = started.elapsed();

    // Exactly once: one more restart changes nothing.
    let deliveries_before: usize = seen.lock().unwrap().values().map(Vec::len).sum();
    srv.restart().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut reruns = 0;
    let objects = srv.data_dir().join("objects");
    for (id, good) in &ids {
        let before = &finals[id];
        let now = srv.job(id).await;
        assert_eq!(
            now["status"], before["status"],
            "{id} changed after a restart"
        );
        assert_eq!(
            now["finished_at"], before["finished_at"],
            "{id} finished twice"
        );
        let status = now["status"].as_str().unwrap().to_string();
        *tally.entry(status.clone()).or_default() += 1;
        if now["attempts"].as_u64().unwrap_or(1) > 1 {
            reruns += 1;
        }
        if *good {
            assert_eq!(status, "succeeded", "{now:#}");
            let out = &now["output"];
            let dl = srv.get(&format!("/v1/jobs/{id}/output")).await;
            dl.expect_status(200);
            assert_eq!(
                sha256_hex(&dl.body),
                out["sha256"].as_str().unwrap(),
                "{id}"
            );
            let (rate, ch, _, _) = wav_info(&dl.body);
            assert_eq!((rate, ch), (out["sample_rate"].as_u64().unwrap() as u32, 2));
            let file = objects.join(out["key"].as_str().unwrap());
            assert_eq!(
                std::fs::read(&file).unwrap(),
                dl.body,
                "{id}: object differs"
            );
        } else {
            assert_eq!(status, "failed", "{now:#}");
            assert!(now["output"].is_null());
            assert_eq!(now["error"]["code"], "invalid_media", "{now:#}");
        }
    }
    // The object store holds exactly the succeeded outputs (and their metadata sidecars).
    let outputs: Vec<_> = tree(&objects)
        .into_iter()
        .filter(|p| p.is_file() && !p.to_string_lossy().ends_with("~meta.json"))
        .collect();
    let good = ids.iter().filter(|(_, g)| *g).count();
    assert_eq!(
        outputs.len(),
        good,
        "objects other than one per succeeded job: {outputs:#?}"
    );
    // Webhooks: at least once, one id per job on every attempt, distinct across jobs.
    let seen = seen.lock().unwrap().clone();
    let mut all_ids = std::collections::HashSet::new();
    let mut duplicates = 0;
    for (id, _) in &ids {
        let got = seen
            .get(id)
            .unwrap_or_else(|| panic!("{id}: no webhook delivered"));
        assert!(
            got.iter().all(|w| w == &got[0]),
            "{id}: webhook-ids differ: {got:?}"
        );
        assert!(
            all_ids.insert(got[0].clone()),
            "webhook-id reused across jobs"
        );
        duplicates += got.len() - 1;
    }
    let deliveries_after: usize = seen.values().map(Vec::len).sum();
    assert_eq!(
        deliveries_before, deliveries_after,
        "deliveries sent again after a restart"
    );
    // No temp files or unfinished uploads.
    assert_eq!(
        dir_entries(&srv.data_dir().join("tmp")),
        Vec::<String>::new()
    );
    assert_eq!(
        dir_entries(&srv.data_dir().join("uploads")),
        Vec::<String>::new()
    );
    println!(
        "crash tally: {} jobs, {kills} kill -9s (running at each kill: {running_at_kill:?}), \
         {elapsed:.1?}: {tally:?}; {reruns} jobs ran more than once (killed mid-run); \
         outputs {}/{good} whole; webhooks {} delivered, {duplicates} duplicate deliveries \
         (same webhook-id), 0 lost; temp files left 0",
        ids.len(),
        outputs.len(),
        seen.len(),
    );
}
