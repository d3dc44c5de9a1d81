//! Secrets (API keys, the webhook secret, S3 credentials) never reach the logs, the job
//! JSON, the metrics or a webhook body, even at debug level.

use std::time::Duration;

use super::WAV;
use crate::support::*;
use serde_json::json;

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
    let id = srv
        .submit_json(&json!({
            "source": {"url": src.url()},
            "output": {"format": "wav", "sample_rate": 8000},
            "webhook_url": recv.url(),
            "metadata": {"k": "v"},
        }))
        .await;
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
