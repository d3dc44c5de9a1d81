//! The system endpoints (health, readiness, metrics, the served spec) and the committed
//! `openapi/openapi.yaml` against what the code generates (`UPDATE_OPENAPI=1 cargo test
//! --test service openapi` rewrites it).

use crate::support::*;

// ---------------------------------------------------------------------------------------
// System endpoints
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_endpoints_health_ready_metrics_spec() {
    let srv = TestServer::start(ServerConfig::new()).await;
    srv.get("/healthz").await.expect_status(200);
    let ready = srv.get("/readyz").await;
    ready.expect_status(200);
    assert!(
        ready.content_type().starts_with("application/json"),
        "readyz Content-Type {:?}",
        ready.content_type()
    );
    assert_eq!(ready.json()["status"], "ok", "{}", ready.text());
    let metrics = srv.get("/metrics").await;
    metrics.expect_status(200);
    assert!(
        metrics.text().contains("audiotap_jobs"),
        "metrics without audiotap_jobs:\n{}",
        metrics.text()
    );
    let spec = srv.get("/openapi.json").await;
    spec.expect_status(200);
    let doc = spec.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "openapi field: {}",
        doc["openapi"]
    );
    for path in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/output",
        "/v1/extract",
    ] {
        assert!(doc["paths"][path].is_object(), "spec has no path {path}");
    }
}

// ---------------------------------------------------------------------------------------
// openapi/openapi.yaml equals what the code generates
// ---------------------------------------------------------------------------------------

#[test]
fn openapi_yaml_matches_the_code() {
    let out = std::process::Command::new(bin())
        .arg("openapi")
        .env_remove("AUDIOTAP_LOG")
        .output()
        .expect("run audiotap openapi");
    assert!(
        out.status.success(),
        "audiotap openapi failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).expect("UTF-8 YAML");
    assert!(
        generated.contains("openapi:") && generated.contains("/v1/jobs"),
        "audiotap openapi printed:\n{generated}"
    );
    let path = root().join("openapi/openapi.yaml");
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).expect("create openapi/");
        std::fs::write(&path, &generated).expect("write openapi/openapi.yaml");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(generated.lines().count()));
        panic!(
            "{} is out of date with the code (first difference at line {}).\n\
             Run `UPDATE_OPENAPI=1 cargo test --test service openapi` and commit the file.",
            path.display(),
            first + 1
        );
    }
}
