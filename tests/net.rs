//! Outbound networking: SSRF guard, guarded client, downloads and webhooks.
//!
//! Every server here binds 127.0.0.1:0. Forbidden destinations must be refused by the guard
//! before any connection: the tests check the error is `url_forbidden` (not a connection
//! error) and, where a listener exists, that it accepted nothing. No test resolves a public
//! name: `localhost` comes from /etc/hosts.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use audiotap::net::client::resolve_checked;
use audiotap::net::webhook::parse_retry_after;
use audiotap::net::{
    ClientOptions, DeliveryAttempt, NetError, RetrySchedule, UrlGuard, WebhookSecret, deliver_once,
    download_to_file, guarded_client, sign, verify,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rand::SeedableRng;
use reqwest::Url;

fn guard(allow: &[&str]) -> UrlGuard {
    let list: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    UrlGuard::new(&list).expect("valid allowlist")
}

fn client(g: &UrlGuard) -> reqwest::Client {
    let opts = ClientOptions {
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(20),
        max_redirects: 3,
        user_agent: "audiotap-test".into(),
    };
    guarded_client(Arc::new(g.clone()), opts).expect("client")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ---------------------------------------------------------------- guard: addresses

/// One or more addresses of each refused range.
const FORBIDDEN_IPS: &[&str] = &[
    // IPv4
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.0.0.2",
    "127.255.255.255",
    "169.254.0.1",
    "169.254.169.254",
    "168.63.129.16",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.8",
    "192.0.0.170",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.0.1",
    "192.168.255.255",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    // IPv6
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "::127.0.0.1",
    "::8.8.8.8",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",
    "100::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:2::1",
    "2001:10::1",
    "2001:db8::1",
    "2002:7f00:1::1",
    "2002:a00:1::1",
    "2002:c0a8:101::1",
    "3fff::1",
    "5f00::1",
    "fc00::1",
    "fd00::1",
    "fd00:ec2::254",
    "fe80::1",
    "febf::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "4000::1",
    "::2",
];

/// Public unicast addresses, also reached through the IPv6 forms that embed them.
const PUBLIC_IPS: &[&str] = &[
    "1.1.1.1",
    "8.8.8.8",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.1",
    "172.15.255.255",
    "172.32.0.1",
    "192.0.1.1",
    "192.169.0.1",
    "198.17.255.255",
    "198.20.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
];

#[test]
fn every_special_range_is_refused() {
    let g = guard(&[]);
    for s in FORBIDDEN_IPS {
        let err = g
            .check_ip(s, ip(s))
            .expect_err(&format!("{s} must be refused"));
        assert_eq!(err.code(), "url_forbidden", "{s}: {err}");
        assert!(err.is_client_error());
        // A literal address is named in the message (canonical form), with the range.
        assert!(err.to_string().contains(&ip(s).to_string()), "{s}: {err}");
    }
}

#[test]
fn public_addresses_pass() {
    let g = guard(&[]);
    for s in PUBLIC_IPS {
        g.check_ip(s, ip(s))
            .unwrap_or_else(|e| panic!("{s} must pass: {e}"));
    }
}

#[test]
fn messages_name_the_range() {
    let g = guard(&[]);
    let cases = [
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("127.0.0.1", "loopback range 127.0.0.0/8"),
        ("10.1.2.3", "private range 10.0.0.0/8"),
        ("100.64.1.1", "CGNAT"),
        ("255.255.255.255", "broadcast"),
        ("::ffff:192.168.1.1", "IPv4-mapped"),
        ("64:ff9b::a00:1", "NAT64"),
        ("2002:a00:1::", "6to4"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
    ];
    for (addr, phrase) in cases {
        let err = g.check_ip(addr, ip(addr)).unwrap_err().to_string();
        assert!(err.contains(phrase), "{addr}: {err}");
    }
}

#[test]
fn a_resolved_name_does_not_reveal_the_internal_address() {
    let g = guard(&[]);
    let err = g
        .check_ip("db.corp.example", ip("10.20.30.40"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("host db.corp.example resolves to an address in the private range 10.0.0.0/8"),
        "{err}"
    );
    assert!(!err.contains("10.20.30.40"), "{err}");
}

// ---------------------------------------------------------------- guard: URLs

#[test]
fn url_parser_normalises_ipv4_spellings() {
    for spelling in [
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://0x7F000001/",
        "http://127.1/",
        "http://0177.1/",
    ] {
        let url = Url::parse(spelling).unwrap();
        assert_eq!(url.host_str(), Some("127.0.0.1"), "{spelling}");
    }
}

#[test]
fn forbidden_urls_are_refused() {
    let g = guard(&[]);
    let urls = [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/x",
        "https://127.0.0.2/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://0x7f000001:80/",
        "http://127.1/",
        "http://127.0.0.1./",
        "http://127.000.000.001/",
        "http://0/",
        "http://0.0.0.0:9000/",
        "http://[::]/",
        "http://[::1]:8080/",
        "http://[0:0:0:0:0:0:0:1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://2852039166/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.1/",
        "http://012.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1:8443/",
        "http://100.64.0.1/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://localhost/",
        "http://LOCALHOST:8080/",
        "http://localhost./",
        "http://api.localhost/",
    ];
    for u in urls {
        let url = Url::parse(u).unwrap();
        let err = g.check_url(&url).expect_err(u);
        assert_eq!(err.code(), "url_forbidden", "{u}: {err}");
    }
}

#[test]
fn bad_urls_are_invalid_and_do_not_leak_credentials() {
    let g = guard(&[]);
    for u in [
        "ftp://example.com/a.mp4",
        "file:///etc/passwd",
        "gopher://example.com/",
        "data:video/mp4;base64,AAAA",
        "unix:/var/run/docker.sock",
        "http://user:hunter2@example.com/a.mp4",
        "http://user@example.com/a.mp4",
        "https://:hunter2@example.com/",
    ] {
        let url = Url::parse(u).unwrap();
        let err = g.check_url(&url).expect_err(u);
        assert_eq!(err.code(), "invalid_url", "{u}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
    // Userinfo with an allowlisted host is still refused.
    let g = guard(&["127.0.0.1"]);
    let err = g
        .check_url(&Url::parse("http://a:secretpw@127.0.0.1/").unwrap())
        .unwrap_err();
    assert_eq!(err.code(), "invalid_url");
    assert!(!err.to_string().contains("secretpw"));
}

#[test]
fn public_urls_pass_without_resolution() {
    // check_url does not resolve names: these never leave the process.
    let g = guard(&[]);
    for u in [
        "https://example.com/video.mp4",
        "http://media.example.org:8080/a?b=c",
        "http://8.8.8.8/",
        "http://[2606:4700:4700::1111]/",
        "http://[::ffff:8.8.8.8]/",
    ] {
        g.check_url(&Url::parse(u).unwrap())
            .unwrap_or_else(|e| panic!("{u}: {e}"));
    }
}

// ---------------------------------------------------------------- guard: allowlist

#[test]
fn allowlist_by_ip() {
    let g = guard(&["127.0.0.1"]);
    g.check_ip("127.0.0.1", ip("127.0.0.1")).unwrap();
    g.check_ip("127.0.0.1", ip("::ffff:127.0.0.1")).unwrap();
    g.check_url(&Url::parse("http://127.0.0.1:1234/").unwrap())
        .unwrap();
    g.check_url(&Url::parse("http://2130706433/").unwrap())
        .unwrap();
    for other in ["127.0.0.2", "::1", "10.0.0.1"] {
        assert_eq!(
            g.check_ip(other, ip(other)).unwrap_err().code(),
            "url_forbidden"
        );
    }
    // A name resolving to the allowlisted address passes by address.
    g.check_ip("box.example", ip("127.0.0.1")).unwrap();
}

#[test]
fn allowlist_by_cidr() {
    let g = guard(&["10.0.0.0/8", "fd00::/8", "192.168.1.7/24"]);
    g.check_ip("10.9.8.7", ip("10.9.8.7")).unwrap();
    g.check_ip("fd12::1", ip("fd12::1")).unwrap();
    g.check_ip("64:ff9b::a01:203", ip("64:ff9b::a01:203"))
        .unwrap();
    // Host bits in the entry are ignored: 192.168.1.0/24.
    g.check_ip("192.168.1.200", ip("192.168.1.200")).unwrap();
    for other in [
        "100.64.0.1",
        "172.16.0.1",
        "fc00::1",
        "192.168.2.1",
        "127.0.0.1",
    ] {
        assert!(g.check_ip(other, ip(other)).is_err(), "{other}");
    }
    // The metadata address stays refused unless it is itself allowlisted.
    assert!(g.check_ip("x", ip("169.254.169.254")).is_err());
}

#[test]
fn allowlist_by_host_name() {
    let g = guard(&["Media.Internal", "localhost"]);
    g.check_ip("media.internal", ip("10.0.0.5")).unwrap();
    g.check_ip("MEDIA.INTERNAL.", ip("192.168.0.5")).unwrap();
    g.check_url(&Url::parse("http://media.internal:9000/a.mp4").unwrap())
        .unwrap();
    g.check_url(&Url::parse("http://localhost:8080/").unwrap())
        .unwrap();
    // Other names resolving to the same addresses are refused.
    assert!(g.check_ip("evil.example", ip("10.0.0.5")).is_err());
    assert!(g.check_ip("sub.media.internal", ip("10.0.0.5")).is_err());
    // A host-name entry does not allowlist the address itself.
    assert!(g.check_ip("10.0.0.5", ip("10.0.0.5")).is_err());
}

#[test]
fn allowlist_entries_are_validated() {
    for bad in ["10.0.0.0/33", "not a host", "http://x/", "a:b:c", "/8"] {
        let err = UrlGuard::new(&[bad.to_string()]).expect_err(bad);
        assert_eq!(err.code(), "invalid_url", "{bad}");
    }
    // Blank entries (an empty AUDIOTAP_URL_ALLOWLIST split on commas) are ignored.
    let g = UrlGuard::new(&["".into(), "  ".into()]).unwrap();
    assert!(g.allowlist_is_empty());
    // Bracketed IPv6 and WHATWG IPv4 spellings are addresses.
    let g = UrlGuard::new(&["[::1]".into(), "0x7f.2".into()]).unwrap();
    g.check_ip("::1", ip("::1")).unwrap();
    g.check_ip("127.0.0.2", ip("127.0.0.2")).unwrap();
}

// ---------------------------------------------------------------- resolver

#[tokio::test]
async fn resolver_refuses_a_name_resolving_to_loopback() {
    // localhost comes from /etc/hosts: no DNS query leaves the machine.
    let err = resolve_checked(&guard(&[]), "localhost", 80)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "url_forbidden", "{err}");
    assert!(err.to_string().contains("localhost"), "{err}");
    // Allowlisted by name: every address returned, with the port.
    let addrs = resolve_checked(&guard(&["localhost"]), "localhost", 8080)
        .await
        .unwrap();
    assert!(!addrs.is_empty());
    assert!(
        addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8080)
    );
}

#[tokio::test]
async fn resolver_refuses_when_any_address_is_forbidden() {
    // localhost resolves to 127.0.0.1 (and ::1 on most systems). Allowlisting only an
    // address it does not resolve to leaves it refused.
    let err = resolve_checked(&guard(&["127.0.0.2"]), "localhost", 80)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "url_forbidden");
    // When the resolver returns addresses outside the allowlisted ones, the name is refused.
    let all = resolve_checked(&guard(&["localhost"]), "localhost", 0)
        .await
        .unwrap();
    if all.iter().any(|a| a.is_ipv6()) {
        let err = resolve_checked(&guard(&["127.0.0.0/8"]), "localhost", 80)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "url_forbidden");
    } else {
        resolve_checked(&guard(&["127.0.0.0/8"]), "localhost", 80)
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------- test servers

#[derive(Clone, Default)]
struct Hits(Arc<AtomicUsize>);

impl Hits {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

const PAYLOAD_LEN: usize = 100_000;

fn payload() -> Vec<u8> {
    (0..PAYLOAD_LEN).map(|i| (i % 251) as u8).collect()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// A media server. `/redirect-to?u=URL` answers 302 to URL.
async fn media_server() -> (SocketAddr, Hits) {
    let hits = Hits::default();
    let app = Router::new()
        .route(
            "/file.mp4",
            get(|| async { ([(header::CONTENT_TYPE, "video/mp4")], payload()) }),
        )
        .route(
            "/chunked",
            get(|| async {
                // No Content-Length: 20 chunks of 10 000 bytes.
                let chunks =
                    (0..20).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 10_000])));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/redirect-to",
            get(
                |axum::extract::Query(q): axum::extract::Query<
                    std::collections::HashMap<String, String>,
                >| async move { Redirect::to(&q["u"]) },
            ),
        )
        .route("/loop", get(|| async { Redirect::to("/loop") }))
        .layer(axum::middleware::from_fn_with_state(
            hits.clone(),
            |State(hits): State<Hits>,
             req: axum::extract::Request,
             next: axum::middleware::Next| async move {
                hits.0.fetch_add(1, Ordering::SeqCst);
                next.run(req).await
            },
        ));
    (serve(app).await, hits)
}

/// A bare TCP listener that counts the connections it accepts.
async fn counting_listener() -> (SocketAddr, Hits) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            h.0.fetch_add(1, Ordering::SeqCst);
            drop(sock);
        }
    });
    (addr, hits)
}

// ---------------------------------------------------------------- downloads

#[tokio::test]
async fn downloads_from_an_allowlisted_loopback_server() {
    let (addr, hits) = media_server().await;
    let g = guard(&["127.0.0.1"]);
    let c = client(&g);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("in.mp4");
    let url = format!("http://{addr}/file.mp4");
    let info = download_to_file(&c, &g, &url, &dest, 1 << 20)
        .await
        .unwrap();
    assert_eq!(info.bytes, PAYLOAD_LEN as u64);
    assert_eq!(info.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(info.final_url, url);
    assert_eq!(std::fs::read(&dest).unwrap(), payload());
    assert_eq!(hits.count(), 1);

    // Exactly at the limit is fine.
    let info = download_to_file(&c, &g, &url, &dest, PAYLOAD_LEN as u64)
        .await
        .unwrap();
    assert_eq!(info.bytes, PAYLOAD_LEN as u64);
}

#[tokio::test]
async fn content_length_over_the_cap_is_refused() {
    let (addr, _) = media_server().await;
    let g = guard(&["127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("in.mp4");
    let err = download_to_file(
        &client(&g),
        &g,
        &format!("http://{addr}/file.mp4"),
        &dest,
        PAYLOAD_LEN as u64 - 1,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "source_too_large", "{err}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn chunked_body_over_the_cap_is_cut_while_streaming() {
    let (addr, _) = media_server().await;
    let g = guard(&["127.0.0.1"]);
    let c = client(&g);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("in.bin");
    let url = format!("http://{addr}/chunked");
    let err = download_to_file(&c, &g, &url, &dest, 150_000)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "source_too_large", "{err}");
    assert!(!dest.exists(), "partial file removed");
    // Under the cap the same body downloads whole.
    let info = download_to_file(&c, &g, &url, &dest, 200_000)
        .await
        .unwrap();
    assert_eq!(info.bytes, 200_000);
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), 200_000);
}

#[tokio::test]
async fn not_found_is_source_unreachable() {
    let (addr, _) = media_server().await;
    let g = guard(&["127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x");
    let err = download_to_file(
        &client(&g),
        &g,
        &format!("http://{addr}/missing"),
        &dest,
        1 << 20,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "source_unreachable");
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("404"), "{err}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn connection_refused_is_source_unreachable() {
    // Bind then drop: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let g = guard(&["127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let err = download_to_file(
        &client(&g),
        &g,
        &format!("http://127.0.0.1:{port}/"),
        &dir.path().join("x"),
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "source_unreachable", "{err}");
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn same_host_redirect_is_followed() {
    let (addr, _) = media_server().await;
    let g = guard(&["127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let target = format!("http://{addr}/file.mp4");
    let url = format!("http://{addr}/redirect-to?u={target}");
    let info = download_to_file(&client(&g), &g, &url, &dir.path().join("x"), 1 << 20)
        .await
        .unwrap();
    assert_eq!(info.final_url, target);
    assert_eq!(info.bytes, PAYLOAD_LEN as u64);
}

#[tokio::test]
async fn redirect_to_a_forbidden_literal_ip_is_refused() {
    let (addr, hits) = media_server().await;
    let port = addr.port();
    let g = guard(&["127.0.0.1"]);
    let c = client(&g);
    let dir = tempfile::tempdir().unwrap();
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
        let err = download_to_file(&c, &g, &url, &dest, 1 << 20)
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
    let g = guard(&["127.0.0.1"]);
    let url = format!("http://{addr}/redirect-to?u=http://u:pw123@{addr}/file.mp4");
    let dir = tempfile::tempdir().unwrap();
    let err = download_to_file(&client(&g), &g, &url, &dir.path().join("x"), 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_url", "{err}");
    assert!(!err.to_string().contains("pw123"));
}

#[tokio::test]
async fn redirect_loops_are_cut() {
    let (addr, hits) = media_server().await;
    let g = guard(&["127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let err = download_to_file(
        &client(&g),
        &g,
        &format!("http://{addr}/loop"),
        &dir.path().join("x"),
        1 << 20,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "source_unreachable", "{err}");
    assert!(err.to_string().contains("redirect"), "{err}");
    // The first request plus max_redirects (3) hops.
    assert_eq!(hits.count(), 4);
}

#[tokio::test]
async fn forbidden_destinations_are_refused_before_connecting() {
    let (addr, hits) = counting_listener().await;
    let port = addr.port();
    // Nothing allowlisted: the listener on 127.0.0.1 is forbidden.
    let g = guard(&[]);
    let c = client(&g);
    let dir = tempfile::tempdir().unwrap();
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
        // Through download_to_file (checks the URL itself first).
        let err = download_to_file(&c, &g, url, &dir.path().join("x"), 1 << 20)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "url_forbidden", "{url}: {err}");

        // Straight through the client, as code that forgot to call check_url would: the
        // client's own request hook refuses literal IPs, the resolver refuses names.
        let err = c.get(url).send().await.unwrap_err();
        let own = audiotap_net_error(&err).unwrap_or_else(|| panic!("{url}: {err:?}"));
        assert_eq!(own.code(), "url_forbidden", "{url}");

        let secret = WebhookSecret::generate().0;
        let attempt = deliver_once(&c, url, &secret, "msg_1", b"{}").await;
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
    let g = guard(&["localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://localhost:{}/file.mp4", addr.port());
    let info = download_to_file(&client(&g), &g, &url, &dir.path().join("x"), 1 << 20)
        .await
        .unwrap();
    assert_eq!(info.bytes, PAYLOAD_LEN as u64);
    assert_eq!(hits.count(), 1);
}

#[tokio::test]
async fn invalid_urls_are_refused() {
    let g = guard(&[]);
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "not a url",
        "ftp://example.com/x",
        "http://u:pw@example.com/",
    ] {
        let err = download_to_file(&client(&g), &g, url, &dir.path().join("x"), 1)
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

// ---------------------------------------------------------------- webhooks: signatures

#[test]
fn signature_matches_the_standard_webhooks_test_vectors() {
    // The vector used by the Standard Webhooks / Svix reference libraries' tests.
    let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = br#"{"test": 2432232314}"#;
    let sig = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
    assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert!(verify(
        &secret,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        body,
        &sig
    ));

    // From standard-webhooks' Rust library tests (libraries/rust/src/lib.rs, test_sign).
    let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
    let sig = sign(
        &secret,
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1649367553,
        br#"{"email":"test@example.com","username":"test_user"}"#,
    );
    assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
}

#[test]
fn verify_accepts_one_of_several_signatures() {
    let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let (id, ts, body) = (
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        br#"{"test": 2432232314}"#,
    );
    let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let others = [
        "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ=",
        "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q=",
    ];
    let header = format!("{} {good} {}", others[0], others[1]);
    assert!(verify(&secret, id, ts, body, &header));
    assert!(verify(
        &secret,
        id,
        ts,
        body,
        &format!("v1a,abc not-a-sig {good}")
    ));
    assert!(!verify(&secret, id, ts, body, &others.join(" ")));
    assert!(!verify(&secret, id, ts, body, ""));
    assert!(!verify(&secret, id, ts, body, "v1,"));
    assert!(!verify(&secret, id, ts, body, "v1,!!!notbase64"));
    // Same MAC under another version label does not count.
    assert!(!verify(
        &secret,
        id,
        ts,
        body,
        &good.replacen("v1,", "v2,", 1)
    ));
    // Any change to id, timestamp or body breaks it.
    assert!(!verify(&secret, "msg_other", ts, body, good));
    assert!(!verify(&secret, id, ts + 1, body, good));
    assert!(!verify(&secret, id, ts, br#"{"test": 2432232315}"#, good));
    let (other_secret, _) = WebhookSecret::generate();
    assert!(!verify(&other_secret, id, ts, body, good));
}

#[test]
fn secrets_parse_generate_and_stay_hidden() {
    let (secret, text) = WebhookSecret::generate();
    assert!(text.starts_with("whsec_"));
    let parsed = WebhookSecret::parse(&text).unwrap();
    assert_eq!(parsed, secret);
    assert_eq!(format!("{secret:?}"), "WebhookSecret(***)");
    assert_ne!(WebhookSecret::generate().1, text);

    for bad in [
        "",
        "whsec_",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_not base64!",
        "whsec_c2hvcnQ=",
    ] {
        let err = WebhookSecret::parse(bad).expect_err(bad);
        assert!(
            matches!(err, audiotap::config::ConfigError::InvalidSecret(_)),
            "{bad}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------- webhooks: retries

#[test]
fn retry_delays_grow_exponentially_within_jitter_bounds() {
    let schedule = RetrySchedule {
        base: Duration::from_secs(2),
        max: Duration::from_secs(60),
        max_attempts: 10,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for n in 1..10u32 {
        let exp = (Duration::from_secs(2) * 2u32.pow(n - 1)).min(Duration::from_secs(60));
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..500 {
            let d = schedule.next_delay(n, None, &mut rng).unwrap();
            assert!(
                d >= exp / 2 && d <= exp,
                "n={n}: {d:?} outside [{:?}, {exp:?}]",
                exp / 2
            );
            seen_low |= d < exp / 2 + exp / 4;
            seen_high |= d > exp / 2 + exp / 4;
        }
        assert!(
            seen_low && seen_high,
            "n={n}: jitter spreads over the range"
        );
    }
    assert_eq!(schedule.next_delay(10, None, &mut rng), None);
    assert_eq!(schedule.next_delay(11, None, &mut rng), None);
    assert_eq!(schedule.next_delay(0, None, &mut rng), Some(Duration::ZERO));
    // Huge attempt numbers neither overflow nor exceed the cap.
    let long = RetrySchedule {
        max_attempts: u32::MAX,
        ..schedule
    };
    for n in [31, 32, 33, 64, 1000, u32::MAX - 1] {
        let d = long.next_delay(n, None, &mut rng).unwrap();
        assert!(
            d <= Duration::from_secs(60) && d >= Duration::from_secs(30),
            "{n}"
        );
    }
}

#[test]
fn retry_after_is_honoured() {
    let schedule = RetrySchedule {
        base: Duration::from_secs(1),
        max: Duration::from_secs(10),
        max_attempts: 5,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for _ in 0..100 {
        let d = schedule
            .next_delay(1, Some(Duration::from_secs(30)), &mut rng)
            .unwrap();
        assert_eq!(d, Duration::from_secs(30));
        // A short Retry-After does not shorten the backoff.
        let d = schedule
            .next_delay(4, Some(Duration::from_millis(1)), &mut rng)
            .unwrap();
        assert!(d >= Duration::from_secs(4), "{d:?}");
    }
    // Absurd values are capped, and exhaustion still wins.
    let d = schedule
        .next_delay(1, Some(Duration::from_secs(10 * 365 * 86400)), &mut rng)
        .unwrap();
    assert_eq!(d, audiotap::net::webhook::MAX_RETRY_AFTER);
    assert_eq!(
        schedule.next_delay(5, Some(Duration::from_secs(1)), &mut rng),
        None
    );
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
}

// ---------------------------------------------------------------- webhooks: delivery

#[derive(Clone)]
struct Receiver {
    secret: Arc<WebhookSecret>,
    calls: Hits,
    /// Status to answer per call number (0-based); 200 after the list.
    script: Arc<Vec<(StatusCode, Option<&'static str>)>>,
    seen: Arc<std::sync::Mutex<Vec<(String, i64)>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let n = r.calls.0.fetch_add(1, Ordering::SeqCst);
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let Ok(ts) = h("webhook-timestamp").parse::<i64>() else {
        return (StatusCode::BAD_REQUEST, "no timestamp").into_response();
    };
    let id = h("webhook-id").to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if h("content-type") != "application/json"
        || (now - ts).abs() > 300
        || !verify(&r.secret, &id, ts, &body, h("webhook-signature"))
    {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    r.seen.lock().unwrap().push((id, ts));
    match r.script.get(n) {
        Some((status, retry_after)) => {
            let mut resp = (*status, "scripted").into_response();
            if let Some(v) = retry_after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, v.parse().unwrap());
            }
            resp
        }
        None => (StatusCode::OK, "thanks").into_response(),
    }
}

async fn receiver(script: Vec<(StatusCode, Option<&'static str>)>) -> (SocketAddr, Receiver) {
    let (secret, _) = WebhookSecret::generate();
    let r = Receiver {
        secret: Arc::new(secret),
        calls: Hits::default(),
        script: Arc::new(script),
        seen: Arc::default(),
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    (serve(app).await, r)
}

#[tokio::test]
async fn deliver_once_signs_and_reports_failure_then_success() {
    let (addr, r) = receiver(vec![(StatusCode::INTERNAL_SERVER_ERROR, None)]).await;
    let g = guard(&["127.0.0.1"]);
    let c = client(&g);
    let url = format!("http://{addr}/hook");
    let body = br#"{"type":"job.succeeded","data":{"id":"j1"}}"#;

    let first = deliver_once(&c, &url, &r.secret, "msg_01", body).await;
    assert_eq!(first.status, Some(500));
    assert!(first.error.as_deref().unwrap().contains("500"));
    assert!(!first.succeeded());
    assert_eq!(first.retry_after, None, "Retry-After only read on 429/503");

    let second = deliver_once(&c, &url, &r.secret, "msg_01", body).await;
    assert_eq!(second.status, Some(200), "{second:?}");
    assert_eq!(second.error, None);
    assert!(second.succeeded());
    assert!(second.at >= first.at);

    // Both attempts reached the receiver with a valid signature and the same id.
    let seen = r.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|(id, _)| id == "msg_01"));

    // A wrong secret is rejected by the receiver.
    let (wrong, _) = WebhookSecret::generate();
    let bad = deliver_once(&c, &url, &wrong, "msg_02", body).await;
    assert_eq!(bad.status, Some(401));
}

#[tokio::test]
async fn deliver_once_reads_retry_after_on_429_and_503() {
    let (addr, r) = receiver(vec![
        (StatusCode::TOO_MANY_REQUESTS, Some("7")),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Wed, 21 Oct 2015 07:28:00 GMT"),
        ),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("9")),
    ])
    .await;
    let g = guard(&["127.0.0.1"]);
    let c = client(&g);
    let url = format!("http://{addr}/hook");
    let a = deliver_once(&c, &url, &r.secret, "m", b"{}").await;
    assert_eq!(
        (a.status, a.retry_after),
        (Some(429), Some(Duration::from_secs(7)))
    );
    let a = deliver_once(&c, &url, &r.secret, "m", b"{}").await;
    assert_eq!((a.status, a.retry_after), (Some(503), Some(Duration::ZERO)));
    let a = deliver_once(&c, &url, &r.secret, "m", b"{}").await;
    assert_eq!((a.status, a.retry_after), (Some(500), None));
}

#[tokio::test]
async fn deliver_once_records_network_errors() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let g = guard(&["127.0.0.1"]);
    let (secret, _) = WebhookSecret::generate();
    let a = deliver_once(
        &client(&g),
        &format!("http://127.0.0.1:{port}/hook?token=s3cr3t"),
        &secret,
        "m",
        b"{}",
    )
    .await;
    assert_eq!(a.status, None);
    let error = a.error.unwrap();
    assert!(
        !error.contains("s3cr3t"),
        "URL stripped from errors: {error}"
    );
}

#[test]
fn delivery_attempts_round_trip_through_json() {
    let attempt = DeliveryAttempt {
        attempt: 3,
        at: time::macros::datetime!(2026-01-02 03:04:05.5 UTC),
        status: Some(503),
        error: Some("the receiver answered HTTP 503".into()),
        duration_ms: 12,
        retry_after: Some(Duration::from_secs(7)),
    };
    let json = serde_json::to_value(&attempt).unwrap();
    assert_eq!(json["at"], "2026-01-02T03:04:05.5Z");
    assert_eq!(json["retry_after_ms"], 7000);
    let back: DeliveryAttempt = serde_json::from_value(json).unwrap();
    assert_eq!(back, attempt);

    let ok = DeliveryAttempt {
        status: Some(200),
        error: None,
        retry_after: None,
        ..attempt
    };
    let json = serde_json::to_string(&ok).unwrap();
    assert!(!json.contains("retry_after"));
    assert_eq!(serde_json::from_str::<DeliveryAttempt>(&json).unwrap(), ok);
}
