//! The SSRF matrix through the API: URL sources (`/v1/extract` and `/v1/jobs`) and webhook
//! URLs naming loopback in every spelling, the private ranges, names that resolve to them
//! and redirects to them are refused, and the loopback target counts no request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::WAV;
use crate::support::*;
use serde_json::json;

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
    let (addr, _) = serve_app(bind, app).await;
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
    serve_app(bind, app).await.0
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
    let parts = [
        Part::file("file", "a.wav", "audio/wav", media_bytes(WAV)),
        Part::text(
            "options",
            "application/json",
            &json!({"webhook_url": url}).to_string(),
        ),
    ];
    let r = srv.create_multipart("/v1/jobs", &parts).await;
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
