//! Security tests through the real `audiotap serve` binary: the SSRF matrix for URL sources
//! and webhook URLs (every spelling of loopback and the private ranges, redirects to them,
//! names that resolve to them), tenant isolation between API keys, path traversal in
//! upload filenames and job ids, secrets kept out of logs and job JSON, and request size
//! and header limits.
//!
//! Every destination in the matrix is on this machine: the loopback targets are listeners
//! in this test that count what reaches them (they must see nothing); the private ranges
//! are refused before any connection (`scripts/test.sh` runs this suite in a loopback-only
//! network namespace, so even a guard failure could not leave the machine).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};

const WAV: &str = "wav_pcm_s16le.wav";

/// A listener that counts every request (any method, any path) and answers 200 with media.
async fn counting_target(bind: &str) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let body = Arc::new(media_bytes(WAV));
    let app = axum::Router::new().fallback(move || {
        let (h, b) = (h.clone(), body.clone());
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            b.as_ref().clone()
        }
    });
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, hits)
}

/// A redirector: `/r?to=<url>` answers 302 to `<url>`; `/media` serves a WAV (the positive
/// control: the redirector's own address is allowlisted).
async fn redirector(bind: &str) -> SocketAddr {
    use axum::extract::Query;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let body = Arc::new(media_bytes(WAV));
    let app = axum::Router::new()
        .route(
            "/r",
            axum::routing::any(
                |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let to = q.get("to").cloned().unwrap_or_default();
                    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
                },
            ),
        )
        .route(
            "/media",
            axum::routing::get(move || {
                let b = body.clone();
                async move { b.as_ref().clone() }
            }),
        );
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Host names other than `localhost` that this machine's /etc/hosts maps to loopback (the
/// "name that resolves to a forbidden address" rows; the resolver, not the URL check, must
/// refuse them).
fn hosts_file_loopback_names() -> Vec<String> {
    let text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut parts = line.split_whitespace();
        let Some(addr) = parts.next() else { continue };
        if !(addr.starts_with("127.") || addr == "::1") {
            continue;
        }
        for name in parts {
            let lower = name.to_ascii_lowercase();
            if lower != "localhost" && !lower.ends_with(".localhost") && !names.contains(&lower) {
                names.push(lower);
            }
        }
    }
    names
}

/// The matrix: URLs that must never be contacted. `{p}` is the loopback target's port.
fn forbidden_urls(p: u16) -> Vec<String> {
    let mut v: Vec<String> = [
        // loopback in every spelling the URL parser accepts
        "http://127.0.0.1:{p}/a.mp4",
        "http://127.1:{p}/a.mp4",
        "http://127.0.0.2:{p}/a.mp4",
        "http://2130706433:{p}/a.mp4",
        "http://0177.0.0.1:{p}/a.mp4",
        "http://0x7f.1:{p}/a.mp4",
        "http://0x7f000001:{p}/a.mp4",
        "http://017700000001:{p}/a.mp4",
        "http://127.000.000.001:{p}/a.mp4",
        "http://[::1]:{p}/a.mp4",
        "http://[0:0:0:0:0:0:0:1]:{p}/a.mp4",
        "http://[::ffff:127.0.0.1]:{p}/a.mp4",
        "http://[::ffff:7f00:1]:{p}/a.mp4",
        "http://[::127.0.0.1]:{p}/a.mp4",
        "http://[64:ff9b::7f00:1]:{p}/a.mp4",
        "http://[2002:7f00:1::]:{p}/a.mp4",
        "http://localhost:{p}/a.mp4",
        "http://LOCALHOST.:{p}/a.mp4",
        "http://media.localhost:{p}/a.mp4",
        // "this host": 0.0.0.0 and :: connect to loopback on Linux
        "http://0.0.0.0:{p}/a.mp4",
        "http://0:{p}/a.mp4",
        "http://[::]:{p}/a.mp4",
        // private, link-local, CGNAT, metadata, multicast, broadcast, ULA
        "http://10.0.0.1/a.mp4",
        "http://172.16.5.4/a.mp4",
        "http://192.168.1.1/a.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.1.1/a.mp4",
        "http://100.64.0.1/a.mp4",
        "http://100.127.255.254/a.mp4",
        "http://224.0.0.1/a.mp4",
        "http://255.255.255.255/a.mp4",
        "http://[fe80::1]/a.mp4",
        "http://[fc00::1]/a.mp4",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/a.mp4",
        "http://[::ffff:169.254.169.254]/a.mp4",
        "https://192.168.0.1:8443/a.mp4",
    ]
    .iter()
    .map(|t| t.replace("{p}", &p.to_string()))
    .collect();
    for name in hosts_file_loopback_names() {
        v.push(format!("http://{name}:{p}/a.mp4"));
    }
    v
}

fn sync_extract_url(srv: &TestServer, url: &str) -> reqwest::RequestBuilder {
    srv.post_req("/v1/extract")
        .header("content-type", "application/json")
        .body(json!({"source": {"url": url}, "output": {"format": "wav"}}).to_string())
}

/// A URL source refused: at creation (400) or by the job (failed, `url_forbidden`).
async fn assert_job_source_refused(srv: &TestServer, url: &str) {
    let r = srv
        .create_json(&json!({"source": {"url": url}, "output": {"format": "wav"}}))
        .await;
    if r.status == 400 {
        r.expect_problem(400, Some("url_forbidden"));
        return;
    }
    r.expect_status(202);
    let job = srv.wait_status(&job_id(&r.json()), "failed").await;
    assert_eq!(job["error"]["code"], "url_forbidden", "{url}: {job:#}");
    assert!(job["output"].is_null(), "{url}: {job:#}");
}

/// A webhook URL refused: at creation (400), or every delivery attempt refused by the guard.
async fn assert_webhook_refused(srv: &TestServer, url: &str) {
    let (ct, body) = multipart(&[
        Part::file("file", "a.wav", "audio/wav", media_bytes(WAV)),
        Part::text(
            "options",
            "application/json",
            &json!({"webhook_url": url}).to_string(),
        ),
    ]);
    let r = send(
        srv.post_req("/v1/jobs")
            .header("content-type", ct)
            .body(body),
    )
    .await;
    if r.status == 400 {
        r.expect_problem(400, Some("url_forbidden"));
        return;
    }
    r.expect_status(202);
    let id = job_id(&r.json());
    srv.wait_status(&id, "succeeded").await;
    let job = srv
        .wait_job(&id, "done delivering", |j| {
            j["webhook"]["status"] == "failed"
        })
        .await;
    for a in job["webhook"]["attempts"].as_array().unwrap() {
        assert!(
            a["status"].is_null(),
            "{url}: a delivery got an answer: {a}"
        );
        let err = a["error"].as_str().unwrap_or_default();
        assert!(
            err.contains("ALLOWLIST") || err.contains("refused"),
            "{url}: attempt error does not say the guard refused it: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf_matrix_for_sources_and_webhooks_through_the_api() {
    // The redirector's address is allowlisted; nothing else on this machine is.
    let redir = redirector("127.0.0.3:0").await;
    let (target, hits) = counting_target("127.0.0.1:0").await;
    let srv = TestServer::start(
        ServerConfig::new()
            .env("AUDIOTAP_URL_ALLOWLIST", "127.0.0.3")
            .env("AUDIOTAP_WEBHOOK_MAX_ATTEMPTS", "2"),
    )
    .await;

    // Positive control: an allowlisted address is reachable through the same routes.
    let ok = send(sync_extract_url(&srv, &format!("http://{redir}/media"))).await;
    ok.expect_status(200);
    assert_eq!(&ok.body[..4], b"RIFF");

    let direct = forbidden_urls(target.port());
    let mut redirects: Vec<String> = direct
        .iter()
        .filter(|u| u.contains(&format!(":{}/", target.port())))
        .map(|u| format!("http://{redir}/r?to={}", urlencode(u)))
        .collect();
    redirects.push(format!(
        "http://{redir}/r?to={}",
        urlencode(&format!(
            "http://{redir}/r?to=http://127.0.0.1:{}/",
            target.port()
        ))
    ));
    let mut rows = 0;
    for url in &direct {
        let r = send(sync_extract_url(&srv, url)).await;
        r.expect_problem(400, Some("url_forbidden"));
        assert_job_source_refused(&srv, url).await;
        rows += 1;
    }
    for url in &redirects {
        let r = send(sync_extract_url(&srv, url)).await;
        assert!(
            r.status == 400 || r.status == 422,
            "{url}: {} {}",
            r.status,
            r.text()
        );
        let p = check_problem(&r);
        assert_eq!(p["code"], "url_forbidden", "{url}: {p}");
        assert_job_source_refused(&srv, url).await;
        rows += 1;
    }
    // Webhooks: the literal rows, a name row and the redirect rows.
    let mut hook_rows: Vec<&String> = direct.iter().take(8).collect();
    hook_rows.extend(direct.iter().filter(|u| u.contains("localhost")));
    hook_rows.extend(direct.iter().filter(|u| u.contains("169.254.169.254")));
    hook_rows.extend(redirects.iter().take(4));
    if let Some(name_row) = direct
        .last()
        .filter(|_| !hosts_file_loopback_names().is_empty())
    {
        hook_rows.push(name_row);
    }
    for url in hook_rows {
        assert_webhook_refused(&srv, url).await;
        rows += 1;
    }
    eprintln!(
        "SSRF matrix: {rows} rows refused; loopback target hits: {}",
        hits.load(Ordering::SeqCst)
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a forbidden destination was contacted"
    );
    let log = srv.log_text();
    assert!(
        !log.contains("panicked"),
        "server log shows a panic:\n{log}"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_cannot_see_touch_or_collide_with_each_other() {
    const A: &str = "tenant-a-key-aaaaaaaa";
    const B: &str = "tenant-b-key-bbbbbbbb";
    let mut srv = TestServer::start(ServerConfig::new().api_keys(&format!("{A},{B}"))).await;

    // The same Idempotency-Key under two keys makes two jobs, not one shared job.
    let mk = |key: &'static str| {
        srv.post_req("/v1/jobs")
            .bearer_auth(key)
            .header("content-type", "audio/wav")
            .header("idempotency-key", "shared-key-1")
            .body(media_bytes(WAV))
    };
    let ra = send(mk(A)).await;
    ra.expect_status(202);
    let rb = send(mk(B)).await;
    rb.expect_status(202);
    let (ida, idb) = (job_id(&ra.json()), job_id(&rb.json()));
    assert_ne!(ida, idb, "two tenants' idempotency keys collided");

    srv.auth = Some(A.into());
    srv.wait_status(&ida, "succeeded").await;
    srv.auth = Some(B.into());
    srv.wait_status(&idb, "succeeded").await;

    for (me, mine, theirs) in [(A, &ida, &idb), (B, &idb, &ida)] {
        srv.auth = Some(me.into());
        srv.get(&format!("/v1/jobs/{theirs}"))
            .await
            .expect_problem(404, Some("not_found"));
        srv.get(&format!("/v1/jobs/{theirs}/output"))
            .await
            .expect_problem(404, Some("not_found"));
        send(
            srv.get_req(&format!("/v1/jobs/{theirs}/output"))
                .header("range", "bytes=0-10"),
        )
        .await
        .expect_problem(404, Some("not_found"));
        srv.delete(&format!("/v1/jobs/{theirs}"))
            .await
            .expect_problem(404, Some("not_found"));
        for q in ["", "?status=succeeded", "?limit=1", "?status=queued"] {
            let page = srv.get(&format!("/v1/jobs{q}")).await;
            page.expect_status(200);
            let ids = page_ids(&page.json());
            assert!(
                !ids.contains(theirs),
                "{me} listed another tenant's job ({q})"
            );
            if q.is_empty() {
                assert_eq!(&ids, &vec![mine.clone()]);
            }
        }
    }
    // Both jobs are intact after the other's attempts.
    srv.auth = Some(A.into());
    srv.get(&format!("/v1/jobs/{ida}/output"))
        .await
        .expect_status(200);
    srv.auth = Some(B.into());
    srv.get(&format!("/v1/jobs/{idb}/output"))
        .await
        .expect_status(200);

    // Ownership survives a restart (it is stored, not held in memory).
    srv.restart().await;
    srv.auth = Some(A.into());
    srv.get(&format!("/v1/jobs/{idb}"))
        .await
        .expect_problem(404, Some("not_found"));
    srv.get(&format!("/v1/jobs/{ida}")).await.expect_status(200);

    // Near-miss keys: a prefix, different case, trailing junk, another scheme.
    for auth in [
        "Bearer tenant-a-key-aaaaaaa",
        "Bearer TENANT-A-KEY-AAAAAAAA",
        "Bearer tenant-a-key-aaaaaaaax",
        "Basic dGVuYW50LWEta2V5LWFhYWFhYWFh",
        "tenant-a-key-aaaaaaaa",
        "Bearer",
    ] {
        send(
            srv.client
                .get(srv.url(&format!("/v1/jobs/{ida}")))
                .header("authorization", auth),
        )
        .await
        .expect_problem(401, Some("unauthorized"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_in_filenames_ids_and_paths_names_nothing_outside() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let outside = srv
        .data_dir()
        .parent()
        .unwrap()
        .join(format!("audiotap-traversal-{}", std::process::id()));
    let _ = std::fs::remove_file(&outside);
    let evil_names = [
        "../../../../etc/passwd".to_string(),
        format!("../../{}", outside.file_name().unwrap().to_string_lossy()),
        "..\\..\\windows\\win.ini".to_string(),
        "/etc/shadow".to_string(),
        "..".to_string(),
        "a\u{0}b.mp4".to_string(),
        "x/../../objects/outputs/evil.wav".to_string(),
    ];
    for name in &evil_names {
        let (ct, body) = multipart(&[Part::file("file", name, "audio/wav", media_bytes(WAV))]);
        let r = send(
            srv.post_req("/v1/jobs")
                .header("content-type", ct)
                .body(body),
        )
        .await;
        if r.status == 400 {
            // A control character makes the part's headers unreadable: refused outright.
            r.expect_problem(400, Some("invalid_request"));
            assert!(name.chars().any(char::is_control), "{name:?}: {}", r.text());
            continue;
        }
        r.expect_status(202);
        let job = srv.wait_status(&job_id(&r.json()), "succeeded").await;
        let stored = job["source"]["filename"].as_str().unwrap_or("");
        assert!(
            !stored.contains('/')
                && !stored.contains('\\')
                && stored != ".."
                && !stored.contains('\0'),
            "{name:?} kept as {stored:?}"
        );
        let key = job["output"]["key"].as_str().unwrap();
        // The key is built from the job id and attempt only, never from the filename.
        assert_eq!(
            key,
            format!(
                "outputs/{}-{}.wav",
                job["id"].as_str().unwrap(),
                job["attempts"].as_u64().unwrap()
            )
        );
    }
    let r = srv
        .create_raw(
            "/v1/jobs?filename=../../../etc/passwd",
            media_bytes(WAV),
            "audio/wav",
        )
        .await;
    r.expect_status(202);
    srv.wait_status(&job_id(&r.json()), "succeeded").await;
    assert!(!outside.exists(), "a file was written outside the data dir");
    // Everything the server wrote is under its data dir, in the folders it owns.
    for entry in dir_entries(srv.data_dir()) {
        assert!(
            [
                "objects",
                "uploads",
                "tmp",
                "jobs.db",
                "jobs.db-wal",
                "jobs.db-shm",
                "webhook_secret"
            ]
            .contains(&entry.as_str()),
            "unexpected entry {entry:?} in the data dir"
        );
    }
    let outputs = dir_entries(&srv.data_dir().join("objects/outputs"));
    assert!(
        outputs
            .iter()
            .all(|o| !o.contains("evil") && !o.contains("passwd")),
        "{outputs:?}"
    );

    // Ids and paths: encoded traversal never reaches a file.
    for path in [
        "/v1/jobs/..%2F..%2Fjobs.db",
        "/v1/jobs/%2e%2e%2f%2e%2e%2fjobs.db/output",
        "/v1/jobs/../../jobs.db",
        "/v1/jobs/..%5c..%5cjobs.db/output",
        "/v1/jobs/00000000-0000-0000-0000-000000000000/output",
    ] {
        let r = send(srv.client.get(format!("{}{path}", srv.base()))).await;
        assert!(
            r.status == 404 || r.status == 400,
            "GET {path}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            !r.body.starts_with(b"SQLite"),
            "GET {path} served the database"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_or_job_json() {
    const KEY: &str = "api-key-SECRET-7f3a9c1e55";
    const S3_SECRET: &str = "s3secretS3SECRETs3secret0123456789abcd";
    let webhook_key: [u8; 32] = *b"whsec-test-key-0123456789abcdef!";
    let whsec = {
        use base64::Engine as _;
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(webhook_key)
        )
    };
    let recv = WebhookReceiver::start(webhook_key.to_vec(), vec![500]).await;
    let src = MediaSource::start(media_bytes(WAV), Duration::ZERO).await;
    let mut srv = TestServer::start(
        ServerConfig::new()
            .api_keys(KEY)
            .env("AUDIOTAP_WEBHOOK_SECRET", &whsec)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
            .env("AWS_ACCESS_KEY_ID", "GK0123456789abcdef01234567")
            .env("AUDIOTAP_LOG", "debug,hyper=info,h2=info"),
    )
    .await;
    srv.auth = Some(KEY.into());
    // A URL job with a webhook (first delivery fails, then succeeds), an upload job, a
    // failed job, a wrong key and a sync extraction: every path that logs.
    let r = srv
        .create_json(&json!({
            "source": {"url": src.url()},
            "output": {"format": "wav", "sample_rate": 8000},
            "webhook_url": recv.url(),
            "metadata": {"k": "v"},
        }))
        .await;
    r.expect_status(202);
    let id = job_id(&r.json());
    srv.wait_status(&id, "succeeded").await;
    srv.wait_job(&id, "delivered", |j| j["webhook"]["status"] == "delivered")
        .await;
    let failed = srv.submit_raw("", bad_bytes("random.bin")).await;
    srv.wait_status(&failed, "failed").await;
    send(
        srv.client
            .get(srv.url("/v1/jobs"))
            .bearer_auth("wrong-key-0123456789"),
    )
    .await
    .expect_problem(401, Some("unauthorized"));
    srv.create_raw("/v1/extract", media_bytes(WAV), "audio/wav")
        .await
        .expect_status(200);

    let mut texts = vec![
        srv.get(&format!("/v1/jobs/{id}")).await.text(),
        srv.get(&format!("/v1/jobs/{failed}")).await.text(),
        srv.get("/v1/jobs").await.text(),
        srv.get("/metrics").await.text(),
    ];
    for d in recv.deliveries() {
        texts.push(String::from_utf8_lossy(&d.body).into_owned());
    }
    srv.terminate(Duration::from_secs(20));
    texts.push(srv.log_text());
    assert!(
        srv.log_text().lines().count() > 10,
        "the debug log is unexpectedly short"
    );
    let b64_key = whsec.trim_start_matches("whsec_");
    for (i, text) in texts.iter().enumerate() {
        for secret in [KEY, S3_SECRET, whsec.as_str(), b64_key] {
            assert!(
                !text.contains(secret),
                "secret {secret:?} found in text #{i}:\n{text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_and_bodies_are_refused_with_431_and_413() {
    let srv = TestServer::start(ServerConfig::new().max_upload_bytes(64 * 1024)).await;
    // One huge header.
    let r = send(
        srv.client
            .get(srv.url("/v1/jobs"))
            .header("x-big", "a".repeat(512 * 1024)),
    )
    .await;
    assert_eq!(r.status, 431, "a 512 KiB header: {} {}", r.status, r.text());
    // Too many headers.
    let mut rb = srv.client.get(srv.url("/v1/jobs"));
    for i in 0..200 {
        rb = rb.header(format!("x-h{i}"), "v");
    }
    let r = send(rb).await;
    assert_eq!(r.status, 431, "200 headers: {} {}", r.status, r.text());
    // Bodies over the cap on every body-taking route and content type.
    let big = vec![0u8; 200 * 1024];
    for path in ["/v1/jobs", "/v1/extract"] {
        srv.create_raw(path, big.clone(), "video/mp4")
            .await
            .expect_problem(413, Some("source_too_large"));
        let (ct, body) = multipart(&[Part::file("file", "v.mp4", "video/mp4", big.clone())]);
        send(srv.post_req(path).header("content-type", ct).body(body))
            .await
            .expect_problem(413, Some("source_too_large"));
        let json_body = json!({"source": {"url": "http://example.com/a"}, "metadata": {"pad": "x".repeat(200 * 1024)}});
        let r = send(
            srv.post_req(path)
                .header("content-type", "application/json")
                .body(json_body.to_string()),
        )
        .await;
        assert!(
            r.status == 413 || r.status == 400,
            "{path} with a 200 KiB JSON body: {} {}",
            r.status,
            r.text()
        );
        check_problem(&r);
    }
    // A chunked body (no Content-Length) is cut while it streams: the answer comes before
    // the client has sent it all (a raw socket, since the server may close early).
    let addr = srv.base().trim_start_matches("http://").to_string();
    let status = tokio::task::spawn_blocking(move || chunked_upload_status(&addr, 4 << 20))
        .await
        .unwrap();
    assert!(
        status.starts_with("HTTP/1.1 413"),
        "chunked 4 MiB upload: {status}"
    );
    let page: Value = srv.get("/v1/jobs").await.json();
    assert!(
        page_ids(&page).is_empty(),
        "a refused request made a job: {page}"
    );
}

/// POST a chunked body of `total` bytes to /v1/jobs on a raw socket, stopping at the first
/// write error (the server answered and closed), and return the status line.
fn chunked_upload_status(addr: &str, total: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: video/mp4\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).expect("write head");
    let chunk = vec![7u8; 16 * 1024];
    let mut sent = 0;
    while sent < total {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if sock.write_all(&frame).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = sock.write_all(b"0\r\n\r\n");
    let mut line = String::new();
    let _ = BufReader::new(sock).read_line(&mut line);
    line
}
