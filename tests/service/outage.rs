//! Outages through the real server: the S3 store unreachable while a job finishes (the
//! store step retries with backoff and completes once S3 is back, without extracting
//! again), a webhook receiver that is down for a while (deliveries resume, same
//! `webhook-id`), a source that drops the connection mid-transfer (clean failure with a
//! stable code), and a full temp folder (a 1 MiB tmpfs over the data dir's `tmp`, mounted
//! in a private mount namespace with `unshare -m`; needs root, skipped with a message
//! otherwise).
//!
//! The S3 outage is made with a TCP relay in front of the test run's Garage server: while
//! it is "down" its port is closed (connection refused, exactly what a stopped server
//! gives), then it listens again on the same port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::s3::TestS3;
use crate::support::*;
use serde_json::json;

const MP4: &str = "mp4_aac.mp4";

/// A TCP relay on a fixed loopback port that can be taken down (port closed, live
/// connections cut) and brought back.
struct Relay {
    port: u16,
    upstream: String,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: &str) -> Relay {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let r = Relay {
            port,
            upstream: upstream.to_string(),
            task: Mutex::new(None),
            conns: Arc::new(Mutex::new(Vec::new())),
        };
        r.serve(l);
        r
    }

    fn serve(&self, l: tokio::net::TcpListener) {
        let (up, conns) = (self.upstream.clone(), self.conns.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = l.accept().await {
                let up = up.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&up).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                conns.lock().unwrap().push(h);
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    fn down(&self) {
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    async fn up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let l = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.port),
            }
        };
        self.serve(l);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outage_during_a_job_is_ridden_out_and_the_job_completes() {
    let Some(garage) = TestS3::from_env("s3 outage") else {
        return;
    };
    let relay = Relay::start(garage.endpoint.trim_start_matches("http://")).await;
    let env = garage
        .via(&relay.url())
        .server_env(&format!("outage-test-{}/", std::process::id()));
    let cfg = ServerConfig::new()
        .env("AUDIOTAP_STORE_RETRY_SECS", "120")
        .envs(&env);
    let srv = TestServer::start(cfg).await;
    srv.get("/readyz").await.expect_status(200);

    relay.down();
    let started = Instant::now();
    let id = srv.submit_raw("?sample_rate=16000", media_bytes(MP4)).await;
    // The job reaches its store step and keeps retrying while S3 is unreachable.
    srv.wait_job(&id, "retrying the store step", |j| {
        j["status"] == "running" && step_status(j, "store") == "running"
    })
    .await;
    let deadline = Instant::now() + JOB_TIMEOUT;
    while srv
        .log_text()
        .matches("storage put failed; retrying")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "no store retries logged:\n{}",
            srv.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = srv.get("/readyz").await;
    assert_eq!(r.status, 503, "readyz while S3 is down: {}", r.text());
    let down_for = started.elapsed();
    relay.up().await;

    let job = srv.wait_status(&id, "succeeded").await;
    let retries = srv
        .log_text()
        .matches("storage put failed; retrying")
        .count();
    println!("S3 down {down_for:.1?}: {retries} store retries, then the job succeeded");
    assert_eq!(job["attempts"], 1, "the job was extracted again: {job:#}");
    let dl = srv.get(&format!("/v1/jobs/{id}/output")).await;
    dl.expect_status(200);
    assert_eq!(
        sha256_hex(&dl.body),
        job["output"]["sha256"].as_str().unwrap()
    );
    assert_eq!(wav_info(&dl.body).0, 16000);
    srv.get("/readyz").await.expect_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_receiver_down_for_a_while_then_deliveries_resume() {
    // A port nobody listens on yet.
    let port = closed_port();
    let srv = TestServer::start(
        ServerConfig::new()
            .env("AUDIOTAP_WEBHOOK_MAX_ATTEMPTS", "50")
            .env("AUDIOTAP_WEBHOOK_BACKOFF_BASE_MS", "50")
            .env("AUDIOTAP_WEBHOOK_BACKOFF_MAX_MS", "300"),
    )
    .await;
    let parts = [
        Part::file("file", "a.mp4", "video/mp4", media_bytes(MP4)),
        Part::text(
            "options",
            "application/json",
            &json!({"webhook_url": format!("http://127.0.0.1:{port}/hook")}).to_string(),
        ),
    ];
    let r = srv.create_multipart("/v1/jobs", &parts).await;
    r.expect_status(202);
    let id = job_id(&r.json());
    srv.wait_status(&id, "succeeded").await;
    let failing = srv
        .wait_job(&id, "three failed deliveries", |j| {
            j["webhook"]["attempts"]
                .as_array()
                .is_some_and(|a| a.len() >= 3)
        })
        .await;
    for a in failing["webhook"]["attempts"].as_array().unwrap() {
        assert!(a["status"].is_null() && a["error"].is_string(), "{a}");
    }
    assert_eq!(failing["webhook"]["status"], "pending");

    // The receiver comes up on that port.
    let seen: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: axum::http::HeaderMap| {
            let s = s.clone();
            async move {
                let id = h
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                s.lock().unwrap().push(id.to_string());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    serve_app(&format!("127.0.0.1:{port}"), app).await;
    let job = srv
        .wait_job(&id, "delivered", |j| j["webhook"]["status"] == "delivered")
        .await;
    let attempts = job["webhook"]["attempts"].as_array().unwrap();
    let ids = seen.lock().unwrap().clone();
    println!(
        "webhook receiver down: {} failed attempts, then delivered ({} deliveries seen)",
        attempts.len() - 1,
        ids.len()
    );
    assert_eq!(
        ids.len(),
        1,
        "delivered more than once after success: {ids:?}"
    );
    assert_eq!(
        job["webhook"]["message_id"], ids[0],
        "the delivery's webhook-id is not the message id the job recorded:\n{job:#}"
    );
    assert_eq!(attempts.last().unwrap()["status"], 204);
}

/// A source server that announces `len` bytes and sends half, then closes.
async fn truncating_source(body: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body[..body.len() / 2]).await;
                let _ = s.flush().await;
                // Dropping the socket cuts the transfer.
            });
        }
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_dropping_mid_transfer_fails_cleanly_with_a_stable_code() {
    let (addr, hits) = truncating_source(media_bytes(MP4)).await;
    let srv = TestServer::start(ServerConfig::new()).await;
    let url = format!("http://{addr}/v.mp4");
    let id = srv
        .submit_json(&json!({"source": {"url": url}, "output": {"format": "wav"}}))
        .await;
    let job = srv.wait_status(&id, "failed").await;
    assert_eq!(job["error"]["code"], "source_unreachable", "{job:#}");
    assert!(job["output"].is_null());
    let sync = send(
        srv.post_req("/v1/extract")
            .header("content-type", "application/json")
            .body(json!({"source": {"url": url}}).to_string()),
    )
    .await;
    sync.expect_problem(422, Some("source_unreachable"));
    assert!(hits.load(Ordering::SeqCst) >= 2);
    assert_eq!(
        dir_entries(&srv.data_dir().join("tmp")),
        Vec::<String>::new(),
        "partial downloads left behind"
    );
    println!(
        "source cut mid-transfer: job failed {}: {}",
        job["error"]["code"], job["error"]["message"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_temp_folder_fails_the_job_cleanly_and_the_server_recovers() {
    if !is_root() {
        eprintln!("SKIPPED disk full: needs root for unshare -m and a tmpfs mount");
        return;
    }
    let srv = TestServer::start(
        ServerConfig::new()
            .env("AUDIOTAP_JOB_MAX_ATTEMPTS", "2")
            .wrap(&[
                "unshare",
                "-m",
                "sh",
                "-c",
                "mkdir -p \"$AUDIOTAP_DATA_DIR/tmp\" && \
                 mount -t tmpfs -o size=1m tmpfs \"$AUDIOTAP_DATA_DIR/tmp\" && exec \"$0\" \"$@\"",
            ]),
    )
    .await;
    // 2 s of 8 channels at 384 kHz, 32-bit: 24 MiB of WAV into a 1 MiB folder.
    let id = srv
        .submit_raw(
            "?sample_rate=384000&channels=8&bit_depth=32",
            media_bytes(MP4),
        )
        .await;
    let job = srv.wait_status(&id, "failed").await;
    let msg = job["error"]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("No space left on device") || msg.contains("os error 28"),
        "{job:#}"
    );
    // A local I/O failure, named as such (not `internal`).
    assert_eq!(job["error"]["code"], "io_error", "{job:#}");
    assert!(job["output"].is_null());
    // The server's view of its tmp (inside its mount namespace) holds nothing of the job.
    let tmp = srv.proc_root_path(&srv.data_dir().join("tmp"));
    assert_eq!(
        dir_entries(&tmp),
        Vec::<String>::new(),
        "left in the full tmp"
    );
    // A job that fits still runs.
    let ok = srv
        .submit_raw("?sample_rate=8000&channels=1", media_bytes(MP4))
        .await;
    srv.wait_status(&ok, "succeeded").await;
    srv.get("/healthz").await.expect_status(200);
    println!(
        "disk full: job failed {} ({msg}); the next job succeeded",
        job["error"]["code"]
    );
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
