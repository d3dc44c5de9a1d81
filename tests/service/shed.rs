//! Load shedding: past its limits the service answers 503 `busy` with `Retry-After` at
//! once instead of queuing without bound: job requests being received
//! (`AUDIOTAP_MAX_CONCURRENT_UPLOADS`), synchronous extractions (`AUDIOTAP_WORKERS` slots)
//! and queued jobs (`AUDIOTAP_MAX_QUEUE`, tested in tests/service/api_lifecycle.rs). Slow clients
//! hold the slots: raw sockets that send the headers and part of a body, then wait.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::support::*;

/// Start a request whose body never finishes arriving; the socket keeps the slot busy.
fn stalled_upload(base: &str, path: &str) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: video/mp4\r\nContent-Length: 1000000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&[0u8; 1000]).unwrap();
    // Not answered: the server is waiting for the rest of the body, holding a slot.
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 512];
    if let Ok(n) = s.read(&mut buf) {
        panic!(
            "a stalled {path} was answered: {}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    s
}

async fn wait_until_busy(srv: &TestServer, path: &str) -> Resp {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = srv
            .create_raw(path, media_bytes("mp4_aac.mp4"), "video/mp4")
            .await;
        if r.status == 503 || std::time::Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_sync_extractions_past_their_limits_get_503_with_retry_after() {
    let srv = TestServer::start(
        ServerConfig::new()
            .env("AUDIOTAP_MAX_CONCURRENT_UPLOADS", "2")
            .env("AUDIOTAP_WORKERS", "1"),
    )
    .await;
    // Two uploads in flight fill the upload slots.
    let a = stalled_upload(srv.base(), "/v1/jobs");
    let b = stalled_upload(srv.base(), "/v1/jobs");
    let r = wait_until_busy(&srv, "/v1/jobs").await;
    r.expect_problem(503, Some("busy"));
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    // Reads are not shed.
    srv.get("/v1/jobs").await.expect_status(200);
    // The one synchronous slot (one worker) is taken by a stalled extraction.
    let c = stalled_upload(srv.base(), "/v1/extract");
    let r = wait_until_busy(&srv, "/v1/extract").await;
    r.expect_problem(503, Some("busy"));
    assert!(r.header("retry-after").is_some());
    // The slow clients go away: the slots are free again.
    drop((a, b, c));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let id = loop {
        let r = srv
            .create_raw("/v1/jobs", media_bytes("mp4_aac.mp4"), "video/mp4")
            .await;
        if r.status == 202 {
            break job_id(&r.json());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slots never freed: {}",
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    srv.wait_status(&id, "succeeded").await;
    let sync = srv
        .create_raw("/v1/extract", media_bytes("mp4_aac.mp4"), "video/mp4")
        .await;
    sync.expect_status(200);
    let metrics = srv.get("/metrics").await.text();
    assert!(
        metrics.contains("uploads_busy") && metrics.contains("sync_busy"),
        "{metrics}"
    );
}
