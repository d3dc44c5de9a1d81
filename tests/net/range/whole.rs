//! What every URL source goes through, read whole (`use_ranges: false`, as for a server
//! without Range support) on the product's `range::fetch_source`: the size cap on a body
//! read whole, the guard on each request and each redirect hop, the error codes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use audiotap::net::range::{FetchOutcome, RangeOptions};
use audiotap::net::{NetError, UrlGuard, WebhookSecret, deliver_once, guarded_client};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Redirect;

use super::{client_options, fetch_url};
use crate::Hits;
use crate::support::{closed_port, serve_app, tmpdir};

const PAYLOAD_LEN: u64 = 100_000;

fn payload() -> Vec<u8> {
    (0..PAYLOAD_LEN).map(|i| (i % 251) as u8).collect()
}

/// A plain server (no Range support) on 127.0.0.1 that counts its requests:
/// `/file.mp4`, `/chunked` (200 000 bytes, no `Content-Length`), `/missing` (404),
/// `/redirect-to?u=URL` (302 to URL) and `/loop` (a redirect to itself).
async fn media_server() -> (std::net::SocketAddr, Hits) {
    let hits = Hits::default();
    let app = axum::Router::new()
        .route(
            "/file.mp4",
            axum::routing::get(|| async { ([(header::CONTENT_TYPE, "video/mp4")], payload()) }),
        )
        .route(
            "/chunked",
            axum::routing::get(|| async {
                let chunks =
                    (0..20).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 10_000])));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route(
            "/missing",
            axum::routing::get(|| async { StatusCode::NOT_FOUND }),
        )
        .route(
            "/redirect-to",
            axum::routing::get(|Query(q): Query<HashMap<String, String>>| async move {
                Redirect::to(&q["u"])
            }),
        )
        .route(
            "/loop",
            axum::routing::get(|| async { Redirect::to("/loop") }),
        )
        .layer(axum::middleware::from_fn_with_state(
            hits.clone(),
            |State(hits): State<Hits>,
             req: axum::extract::Request,
             next: axum::middleware::Next| async move {
                hits.hit();
                next.run(req).await
            },
        ));
    let (addr, _) = serve_app("127.0.0.1:0", app).await;
    (addr, hits)
}

/// Read `url` whole (no Range requests), as for a server without Range support.
async fn fetch_whole(
    allow: &[&str],
    url: &str,
    dest: &Path,
    cap: u64,
) -> Result<FetchOutcome, NetError> {
    let opts = RangeOptions {
        use_ranges: false,
        ..RangeOptions::new(cap)
    };
    fetch_url(allow, url, dest, &opts).await
}

#[tokio::test]
async fn whole_reads_from_an_allowlisted_server() {
    let (addr, hits) = media_server().await;
    let dir = tmpdir();
    let dest = dir.path().join("in.mp4");
    let url = format!("http://{addr}/file.mp4");
    let out = fetch_whole(&["127.0.0.1"], &url, &dest, 1 << 20)
        .await
        .unwrap();
    assert_eq!(out.summary.bytes_fetched, PAYLOAD_LEN);
    assert_eq!(out.summary.source_size, Some(PAYLOAD_LEN));
    assert_eq!(out.summary.requests, 1);
    assert_eq!(out.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(out.final_url, url);
    assert_eq!(std::fs::read(&dest).unwrap(), payload());
    assert_eq!(hits.count(), 1);
    // Exactly at the limit is fine.
    let out = fetch_whole(&["127.0.0.1"], &url, &dest, PAYLOAD_LEN)
        .await
        .unwrap();
    assert_eq!(out.summary.bytes_fetched, PAYLOAD_LEN);
}

#[tokio::test]
async fn content_length_over_the_cap_is_refused() {
    let (addr, _) = media_server().await;
    let dir = tmpdir();
    let dest = dir.path().join("in.mp4");
    let url = format!("http://{addr}/file.mp4");
    let err = fetch_whole(&["127.0.0.1"], &url, &dest, PAYLOAD_LEN - 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "source_too_large", "{err}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn chunked_body_over_the_cap_is_cut_while_streaming() {
    let (addr, _) = media_server().await;
    let dir = tmpdir();
    let dest = dir.path().join("in.bin");
    let url = format!("http://{addr}/chunked");
    let err = fetch_whole(&["127.0.0.1"], &url, &dest, 150_000)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "source_too_large", "{err}");
    assert!(!dest.exists(), "partial file removed");
    // Under the cap the same body is read whole.
    let out = fetch_whole(&["127.0.0.1"], &url, &dest, 200_000)
        .await
        .unwrap();
    assert_eq!(out.summary.bytes_fetched, 200_000);
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), 200_000);
}

#[tokio::test]
async fn not_found_is_source_unreachable() {
    let (addr, _) = media_server().await;
    let dir = tmpdir();
    let dest = dir.path().join("x");
    let url = format!("http://{addr}/missing");
    let err = fetch_whole(&["127.0.0.1"], &url, &dest, 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "source_unreachable");
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("404"), "{err}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn connection_refused_is_source_unreachable() {
    let port = closed_port();
    let dir = tmpdir();
    let url = format!("http://127.0.0.1:{port}/");
    let err = fetch_whole(&["127.0.0.1"], &url, &dir.path().join("x"), 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "source_unreachable", "{err}");
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn same_host_redirect_is_followed() {
    let (addr, _) = media_server().await;
    let dir = tmpdir();
    let target = format!("http://{addr}/file.mp4");
    let url = format!("http://{addr}/redirect-to?u={target}");
    let out = fetch_whole(&["127.0.0.1"], &url, &dir.path().join("x"), 1 << 20)
        .await
        .unwrap();
    assert_eq!(out.final_url, target);
    assert_eq!(out.summary.bytes_fetched, PAYLOAD_LEN);
}

#[tokio::test]
async fn redirect_to_a_forbidden_literal_ip_is_refused() {
    let (addr, hits) = media_server().await;
    let port = addr.port();
    let dir = tmpdir();
    for target in [
        format!("http://127.0.0.2:{port}/file.mp4"),
        format!("http://[::1]:{port}/file.mp4"),
        format!("http://[::ffff:127.0.0.2]:{port}/file.mp4"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://2130706434:{port}/file.mp4"),
        format!("http://localhost:{port}/file.mp4"),
    ] {
        let before = hits.count();
        let url = format!("http://{addr}/redirect-to?u={target}");
        let dest = dir.path().join("x");
        let err = fetch_whole(&["127.0.0.1"], &url, &dest, 1 << 20)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "url_forbidden", "{target}: {err}");
        // Only the redirecting request reached the server.
        assert_eq!(hits.count(), before + 1, "{target}");
        assert!(!dest.exists());
    }
}

#[tokio::test]
async fn redirect_with_credentials_is_refused() {
    let (addr, _) = media_server().await;
    let url = format!("http://{addr}/redirect-to?u=http://u:pw123@{addr}/file.mp4");
    let dir = tmpdir();
    let err = fetch_whole(&["127.0.0.1"], &url, &dir.path().join("x"), 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_url", "{err}");
    assert!(!err.to_string().contains("pw123"));
}

#[tokio::test]
async fn redirect_loops_are_cut() {
    let (addr, hits) = media_server().await;
    let dir = tmpdir();
    let url = format!("http://{addr}/loop");
    let err = fetch_whole(&["127.0.0.1"], &url, &dir.path().join("x"), 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "source_unreachable", "{err}");
    assert!(err.to_string().contains("redirect"), "{err}");
    // The first request plus max_redirects (3) hops.
    assert_eq!(hits.count(), 4);
}

#[tokio::test]
async fn forbidden_destinations_are_refused_before_connecting() {
    // A bare TCP listener that counts the connections it accepts.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Hits::default();
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            h.hit();
            drop(sock);
        }
    });
    // Nothing allowlisted: the listener on 127.0.0.1 is forbidden.
    let guard = UrlGuard::new(&[]).unwrap();
    let client = guarded_client(Arc::new(guard.clone()), client_options()).unwrap();
    let dir = tmpdir();
    let urls = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://localhost:{port}/"),
        format!("https://127.0.0.1:{port}/"),
    ];
    for url in &urls {
        // Through fetch_source (checks the URL itself first), whole or ranged.
        for use_ranges in [false, true] {
            let opts = RangeOptions {
                use_ranges,
                ..RangeOptions::new(1 << 20)
            };
            let err = fetch_url(&[], url, &dir.path().join("x"), &opts)
                .await
                .unwrap_err();
            assert_eq!(err.code(), "url_forbidden", "{url}: {err}");
        }

        // Straight through the client, as code that forgot to call check_url would: the
        // client's own request hook refuses literal IPs, the resolver refuses names.
        let err = client.get(url).send().await.unwrap_err();
        let own = audiotap_net_error(&err).unwrap_or_else(|| panic!("{url}: {err:?}"));
        assert_eq!(own.code(), "url_forbidden", "{url}");

        let secret = WebhookSecret::generate().0;
        let attempt = deliver_once(&client, url, &secret, "msg_1", b"{}").await;
        assert_eq!(attempt.status, None, "{url}");
        let error = attempt.error.unwrap();
        assert!(error.contains("refused"), "{url}: {error}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        hits.count(),
        0,
        "no connection may reach a forbidden address"
    );
}

#[tokio::test]
async fn host_name_allowlist_lets_localhost_through() {
    let (addr, hits) = media_server().await;
    let dir = tmpdir();
    let url = format!("http://localhost:{}/file.mp4", addr.port());
    let out = fetch_whole(&["localhost"], &url, &dir.path().join("x"), 1 << 20)
        .await
        .unwrap();
    assert_eq!(out.summary.bytes_fetched, PAYLOAD_LEN);
    assert_eq!(hits.count(), 1);
}

#[tokio::test]
async fn invalid_urls_are_refused() {
    let dir = tmpdir();
    for url in [
        "not a url",
        "ftp://example.com/x",
        "http://u:pw@example.com/",
    ] {
        let err = fetch_whole(&[], url, &dir.path().join("x"), 1)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_url", "{url}: {err}");
        assert!(!err.to_string().contains("pw@"));
    }
}

fn audiotap_net_error(err: &reqwest::Error) -> Option<&NetError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(own) = e.downcast_ref::<NetError>() {
            return Some(own);
        }
        cur = e.source();
    }
    None
}
