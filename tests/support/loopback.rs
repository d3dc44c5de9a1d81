//! Loopback servers the code under test talks to: any router served on a loopback port, a
//! media source that can stall and counts requests, a webhook receiver that records and
//! verifies deliveries, and a port nothing listens on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

/// Serves `app` on `bind` (`127.0.0.1:0` for any free port) in a task of the current
/// runtime: the bound address, and the task (abort it to stop serving; dropped, it serves
/// until the runtime ends).
pub async fn serve_app(bind: &str, app: axum::Router) -> (SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .unwrap_or_else(|e| panic!("bind {bind}: {e}"));
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

/// A loopback port that nothing listens on (bound, then released): connecting to it is
/// refused.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// An HTTP server on 127.0.0.1:0 that serves `body` at `/v.mp4` after `delay`, and counts
/// every request it sees (any path).
pub struct MediaSource {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl MediaSource {
    pub async fn start(body: Vec<u8>, delay: Duration) -> MediaSource {
        use axum::http::{StatusCode, header};
        use axum::response::IntoResponse;
        let hits = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(body);
        let (h, b) = (hits.clone(), body.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (h, b) = (h.clone(), b.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                if uri.path() == "/v.mp4" {
                    ([(header::CONTENT_TYPE, "video/mp4")], b.as_ref().clone()).into_response()
                } else {
                    StatusCode::NOT_FOUND.into_response()
                }
            }
        });
        let (addr, task) = serve_app("127.0.0.1:0", app).await;
        MediaSource { addr, hits, task }
    }

    /// `http://127.0.0.1:PORT/v.mp4`
    pub fn url(&self) -> String {
        format!("http://{}/v.mp4", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Waits until something asked for the source (a job is fetching it); panics after 10 s.
    pub async fn wait_asked(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.hits() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "nothing asked the source within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for MediaSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One delivery the receiver saw.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The `standardwebhooks` crate verified the delivery: a `v1` signature of
    /// "id.timestamp.body" under the key, and a timestamp within its five-minute tolerance.
    pub signature_ok: bool,
    /// The timestamp was within five minutes of now.
    pub timestamp_fresh: bool,
    /// What the receiver answered.
    pub answered: u16,
}

/// A webhook receiver on 127.0.0.1:0 that answers `answers[n]` to the n-th delivery (200
/// once the list runs out) and verifies each one with the reference Standard Webhooks
/// library (an oracle independent of the service's signing code).
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    task: JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start(key: Vec<u8>, answers: Vec<u16>) -> WebhookReceiver {
        use axum::http::{HeaderMap, StatusCode};
        let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::new(Mutex::new(Vec::new()));
        let key = standardwebhooks::Webhook::from_bytes(key).expect("any key length");
        let (d, key, answers) = (deliveries.clone(), Arc::new(key), Arc::new(answers));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (d, key, answers) = (d.clone(), key.clone(), answers.clone());
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let (id, ts, sig) = (
                        h("webhook-id"),
                        h("webhook-timestamp"),
                        h("webhook-signature"),
                    );
                    let signature_ok = key.verify(&body, &headers).is_ok();
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs() as i64;
                    let timestamp_fresh = ts
                        .as_deref()
                        .and_then(|t| t.parse::<i64>().ok())
                        .is_some_and(|t| (now - t).abs() <= 300);
                    let mut list = d.lock().unwrap();
                    let answered = answers.get(list.len()).copied().unwrap_or(200);
                    list.push(Delivery {
                        id,
                        timestamp: ts,
                        signature: sig,
                        content_type: h("content-type"),
                        body: body.to_vec(),
                        signature_ok,
                        timestamp_fresh,
                        answered,
                    });
                    StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        let (addr, task) = serve_app("127.0.0.1:0", app).await;
        WebhookReceiver {
            addr,
            deliveries,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
