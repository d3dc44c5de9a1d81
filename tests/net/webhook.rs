//! Webhooks as the service sends them: signatures (checked against the Standard Webhooks
//! test vectors and the reference library), secrets, the retry schedule, and single
//! delivery attempts against a loopback receiver.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use audiotap::net::webhook::parse_retry_after;
use audiotap::net::{DeliveryAttempt, RetrySchedule, WebhookSecret, deliver_once, sign};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rand::SeedableRng;

use crate::support::{closed_port, serve_app};
use crate::{Hits, client, guard};

// ---------------------------------------------------------------- webhooks: signatures

#[test]
fn signature_matches_the_standard_webhooks_test_vectors() {
    // The vector used by the Standard Webhooks / Svix reference libraries' tests.
    let text = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let secret = WebhookSecret::parse(text).unwrap();
    let body = br#"{"test": 2432232314}"#;
    let sig = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
    assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    // The reference library signs the same message the same way.
    let reference = standardwebhooks::Webhook::new(text).unwrap();
    assert_eq!(
        reference
            .sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
            .unwrap(),
        sig
    );

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

/// The three Standard Webhooks headers of a message.
fn webhook_headers(id: &str, ts: i64, signature: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("webhook-id", id.parse().unwrap());
    h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
    h.insert("webhook-signature", signature.parse().unwrap());
    h
}

#[test]
fn signatures_verify_with_the_reference_library() {
    let (secret, text) = WebhookSecret::generate();
    let reference = standardwebhooks::Webhook::new(&text).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (id, body) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", br#"{"test": 2432232314}"#);
    let good = sign(&secret, id, now, body);
    let verify = |id: &str, ts: i64, body: &[u8], sig: &str| {
        reference
            .verify(body, &webhook_headers(id, ts, sig))
            .is_ok()
    };
    assert!(verify(id, now, body, &good));
    // Among other signatures, as during a key rotation.
    let others = [
        "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ=",
        "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q=",
    ];
    let header = format!("{} {good} {}", others[0], others[1]);
    assert!(verify(id, now, body, &header));
    assert!(!verify(id, now, body, &others.join(" ")));
    // Same MAC under another version label does not count.
    assert!(!verify(id, now, body, &good.replacen("v1,", "v2,", 1)));
    // Any change to id, timestamp or body breaks it, and so does another secret.
    assert!(!verify("msg_other", now, body, &good));
    assert!(!verify(id, now + 1, body, &good));
    assert!(!verify(id, now, br#"{"test": 2432232315}"#, &good));
    let (other_secret, _) = WebhookSecret::generate();
    assert!(!verify(id, now, body, &sign(&other_secret, id, now, body)));
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
        let err = audiotap::config::ConfigError::from(err);
        assert!(
            matches!(err, audiotap::config::ConfigError::InvalidSecret(_)),
            "{bad}: {err:?}"
        );
        assert_eq!(err.code(), audiotap::ErrorCode::Config);
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
    /// The reference library, keyed with the same secret: checks every delivery.
    reference: Arc<standardwebhooks::Webhook>,
    calls: Hits,
    /// Status to answer per call number (0-based); 200 after the list.
    script: Arc<Vec<(StatusCode, Option<&'static str>)>>,
    seen: Arc<std::sync::Mutex<Vec<(String, i64)>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let n = r.calls.hit();
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
        || r.reference.verify(&body, &headers).is_err()
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
    let (secret, text) = WebhookSecret::generate();
    let r = Receiver {
        secret: Arc::new(secret),
        reference: Arc::new(standardwebhooks::Webhook::new(&text).expect("whsec_ secret")),
        calls: Hits::default(),
        script: Arc::new(script),
        seen: Arc::default(),
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    (serve_app("127.0.0.1:0", app).await.0, r)
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
    let port = closed_port();
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
