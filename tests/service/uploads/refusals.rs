//! What tus refuses, as problem+json with nothing half-stored left behind: the wrong
//! protocol version, bad creation headers and options, wrong offsets, content types and
//! checksums, bodies past the length; and the ends of an upload: termination, expiry, and
//! scoping to its API key.

use std::time::{Duration, Instant};

use super::{
    B64, MP4, create, head, job_of, metadata, offset_of, options, patch, patch_with_checksum, tus,
};
use crate::support::*;
use base64::Engine as _;
use reqwest::Method;
use serde_json::json;
use sha2::Digest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_problems_and_keep_nothing() {
    let srv = TestServer::start(ServerConfig::new().max_upload_bytes(200_000)).await;
    let video = media_bytes(MP4);
    let meta = metadata("a.mp4", &options());
    // Protocol version: 412 with the version the server speaks.
    let r = send(
        srv.client
            .post(srv.url("/v1/uploads"))
            .header("Upload-Length", "10"),
    )
    .await;
    r.expect_problem(412, Some("tus_version_unsupported"));
    assert_eq!(r.header("tus-version").as_deref(), Some("1.0.0"));
    let r = send(
        srv.client
            .post(srv.url("/v1/uploads"))
            .header("Tus-Resumable", "0.2.2")
            .header("Upload-Length", "10"),
    )
    .await;
    r.expect_problem(412, Some("tus_version_unsupported"));
    // Creation: length missing, zero, over the cap; metadata and options that do not parse.
    let post = |len: Option<&str>, meta: &str| {
        let rb = tus(&srv, Method::POST, "/v1/uploads").header("Upload-Metadata", meta.to_string());
        match len {
            Some(l) => rb.header("Upload-Length", l.to_string()),
            None => rb,
        }
    };
    send(post(None, &meta))
        .await
        .expect_problem(400, Some("invalid_request"));
    send(post(Some("0"), &meta))
        .await
        .expect_problem(400, Some("invalid_request"));
    send(post(Some("-5"), &meta))
        .await
        .expect_problem(400, Some("invalid_request"));
    send(post(Some("200001"), &meta))
        .await
        .expect_problem(413, Some("source_too_large"));
    send(post(Some("10"), "filename %%%"))
        .await
        .expect_problem(400, Some("invalid_request"));
    let bad_opts = metadata("a.mp4", &json!({"output": {"format": "flac7"}}));
    send(post(Some("10"), &bad_opts))
        .await
        .expect_problem(400, Some("invalid_options"));
    let bad_rate = metadata("a.mp4", &json!({"output": {"sample_rate": 0}}));
    send(post(Some("10"), &bad_rate))
        .await
        .expect_problem(400, Some("invalid_options"));
    let with_source = metadata("a.mp4", &json!({"source": {"url": "http://127.0.0.1/x"}}));
    send(post(Some("10"), &with_source))
        .await
        .expect_problem(400, Some("invalid_options"));
    // None of those made an upload.
    assert_eq!(
        dir_entries(&srv.data_dir().join("tus")),
        Vec::<String>::new()
    );

    let up = create(&srv, video.len(), &meta).await;
    patch(&srv, &up, 0, &video[..1000]).await.expect_status(204);
    // Wrong offset: 409, and the upload is as it was.
    let r = patch(&srv, &up, 0, &video[..1000]).await;
    let p = r.expect_problem(409, Some("offset_mismatch"));
    assert!(p["detail"].as_str().unwrap_or("").contains("1000"), "{p}");
    // Wrong content type: 415; missing offset: 400.
    let r = send(
        tus(&srv, Method::PATCH, &up)
            .header("Upload-Offset", "1000")
            .header("Content-Type", "application/octet-stream")
            .body(video[1000..2000].to_vec()),
    )
    .await;
    r.expect_problem(415, Some("invalid_content_type"));
    let r = send(
        tus(&srv, Method::PATCH, &up)
            .header("Content-Type", "application/offset+octet-stream")
            .body(video[1000..2000].to_vec()),
    )
    .await;
    r.expect_problem(400, Some("invalid_request"));
    // A body past Upload-Length: 413, nothing of it kept.
    let mut long = video[1000..].to_vec();
    long.extend_from_slice(b"one too many");
    patch(&srv, &up, 1000, &long)
        .await
        .expect_problem(413, Some("source_too_large"));
    // A checksum that does not match: 460, nothing of the body kept.
    let wrong = B64.encode(sha2::Sha256::digest(b"something else"));
    let r = patch_with_checksum(
        &srv,
        &up,
        1000,
        &format!("sha256 {wrong}"),
        &video[1000..5000],
    )
    .await;
    r.expect_problem(460, Some("checksum_mismatch"));
    let r = patch_with_checksum(&srv, &up, 1000, "md5 AAAA", &video[1000..5000]).await;
    r.expect_problem(400, Some("checksum_algorithm_unsupported"));
    let h = head(&srv, &up).await;
    assert_eq!(offset_of(&h), 1000);
    let file = srv
        .data_dir()
        .join("tus")
        .join(up.rsplit('/').next().unwrap());
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 1000);
    // The right checksum (sha256 or sha1): kept.
    let good = B64.encode(sha2::Sha256::digest(&video[1000..5000]));
    let r = patch_with_checksum(
        &srv,
        &up,
        1000,
        &format!("sha256 {good}"),
        &video[1000..5000],
    )
    .await;
    r.expect_status(204);
    assert_eq!(offset_of(&r), 5000);
    // Unknown uploads: 404.
    let r = patch(
        &srv,
        "/v1/uploads/0192b5a0-0000-7000-8000-000000000000",
        0,
        b"x",
    )
    .await;
    r.expect_problem(404, Some("not_found"));
    head(&srv, "/v1/uploads/not-an-id").await.expect_status(404);
    // No job was made by any of it.
    assert!(page_ids(&srv.get("/v1/jobs").await.json()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_upload_is_gone() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let video = media_bytes(MP4);
    let up = create(&srv, video.len(), &metadata("t.mp4", &options())).await;
    patch(&srv, &up, 0, &video[..20_000])
        .await
        .expect_status(204);
    assert_eq!(dir_entries(&srv.data_dir().join("tus")).len(), 1);
    send(tus(&srv, Method::DELETE, &up))
        .await
        .expect_status(204);
    assert_eq!(
        dir_entries(&srv.data_dir().join("tus")),
        Vec::<String>::new()
    );
    head(&srv, &up).await.expect_status(410);
    patch(&srv, &up, 20_000, &video[20_000..])
        .await
        .expect_problem(410, Some("upload_terminated"));
    send(tus(&srv, Method::DELETE, &up))
        .await
        .expect_problem(410, Some("upload_terminated"));
    assert!(page_ids(&srv.get("/v1/jobs").await.json()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_upload_expires_and_its_bytes_are_removed() {
    let srv = TestServer::start(ServerConfig::new().env("AUDIOTAP_UPLOAD_EXPIRY_SECS", "1")).await;
    let video = media_bytes(MP4);
    let up = create(&srv, video.len(), &metadata("e.mp4", &options())).await;
    patch(&srv, &up, 0, &video[..20_000])
        .await
        .expect_status(204);
    // The sweep removes it: its bytes go, and it answers 410 (later 404, once purged).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir_entries(&srv.data_dir().join("tus")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the expired upload's file is still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h = head(&srv, &up).await;
    assert!(matches!(h.status, 404 | 410), "HEAD answered {}", h.status);
    let r = patch(&srv, &up, 20_000, &video[20_000..]).await;
    let p = r.expect_problem_any(r.status, &["upload_expired", "not_found"]);
    assert!(matches!(r.status, 404 | 410), "{p}");
    assert!(page_ids(&srv.get("/v1/jobs").await.json()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_belong_to_their_key() {
    let (a, b) = ("key-a-0123456789abcdef", "key-b-0123456789abcdef");
    let mut srv = TestServer::start(ServerConfig::new().api_keys(&format!("{a},{b}"))).await;
    let video = media_bytes(MP4);
    srv.auth = Some(a.into());
    let up = create(&srv, video.len(), &metadata("k.mp4", &options())).await;
    srv.auth = None;
    head(&srv, &up).await.expect_status(401);
    let r = send(tus(&srv, Method::POST, "/v1/uploads").header("Upload-Length", "10")).await;
    r.expect_problem(401, Some("unauthorized"));
    srv.auth = Some(b.into());
    head(&srv, &up).await.expect_status(404);
    patch(&srv, &up, 0, &video)
        .await
        .expect_problem(404, Some("not_found"));
    srv.auth = Some(a.into());
    let r = patch(&srv, &up, 0, &video).await;
    r.expect_status(204);
    let id = job_of(&r);
    srv.wait_status(&id, "succeeded").await;
    srv.auth = Some(b.into());
    srv.get(&format!("/v1/jobs/{id}")).await.expect_status(404);
}
