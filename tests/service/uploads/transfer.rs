//! The tus flow that works: discovery, creation (with and without bytes), an upload in
//! pieces that becomes a job on its last byte, resuming after a hang-up, and the lock that
//! makes a second writer wait.

use std::time::{Duration, Instant};

use super::{
    MP4, broken_patch, create, head, job_of, metadata, offset_of, options, patch, reference_output,
    tus, wait_offset,
};
use crate::support::*;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_version_extensions_size_and_checksums() {
    let srv = TestServer::start(ServerConfig::new().max_upload_bytes(123_456)).await;
    let r = send(srv.client.request(Method::OPTIONS, srv.url("/v1/uploads"))).await;
    r.expect_status(204);
    assert_eq!(r.header("tus-resumable").as_deref(), Some("1.0.0"));
    assert_eq!(r.header("tus-version").as_deref(), Some("1.0.0"));
    let ext = r.header("tus-extension").unwrap_or_default();
    for e in [
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    ] {
        assert!(ext.split(',').any(|x| x == e), "{e} missing from {ext}");
    }
    assert_eq!(r.header("tus-max-size").as_deref(), Some("123456"));
    let algos = r.header("tus-checksum-algorithm").unwrap_or_default();
    assert!(algos.split(',').any(|a| a == "sha256"), "{algos}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_in_pieces_becomes_a_job_on_its_last_byte() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let video = media_bytes(MP4);
    let up = create(&srv, video.len(), &metadata("talk.mp4", &options())).await;
    let h = head(&srv, &up).await;
    h.expect_status(200);
    assert_eq!(offset_of(&h), 0);
    assert_eq!(
        h.header("upload-length"),
        Some(video.len().to_string()),
        "HEAD Upload-Length"
    );
    assert!(
        h.header("upload-metadata")
            .is_some_and(|m| m.contains("filename"))
    );
    assert_eq!(h.header("cache-control").as_deref(), Some("no-store"));
    let mut at = 0;
    for piece in video.chunks(7_000) {
        let r = patch(&srv, &up, at, piece).await;
        r.expect_status(204);
        at += piece.len();
        assert_eq!(offset_of(&r), at);
        if at < video.len() {
            assert!(r.header("location").is_none(), "Location before the end");
        } else {
            let id = job_of(&r);
            let job = srv.wait_status(&id, "succeeded").await;
            assert_eq!(job["source"]["filename"], "talk.mp4");
            assert_eq!(job["source"]["size"], video.len());
            assert_eq!(job["metadata"], json!({"via": "tus"}));
            assert_eq!(job["output"]["sample_rate"], 16000);
            let out = srv.get(&format!("/v1/jobs/{id}/output")).await.body;
            assert_eq!(out, reference_output(&srv, video.clone()).await);
            // A complete upload names its job; a repeated last PATCH gets the same answer.
            let h = head(&srv, &up).await;
            assert_eq!(offset_of(&h), video.len());
            assert_eq!(
                h.header("audiotap-job-location"),
                Some(format!("/v1/jobs/{id}"))
            );
            let again = patch(&srv, &up, video.len(), &[]).await;
            again.expect_status(204);
            assert_eq!(job_of(&again), id);
        }
    }
    // Its bytes moved to the job (and were removed with it): nothing waits in tus/.
    assert_eq!(
        dir_entries(&srv.data_dir().join("tus")),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_with_upload_can_bring_every_byte() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let video = media_bytes(MP4);
    let r = send(
        tus(&srv, Method::POST, "/v1/uploads")
            .header("Upload-Length", video.len().to_string())
            .header("Upload-Metadata", metadata("a.mp4", &options()))
            .header("Content-Type", "application/offset+octet-stream")
            .body(video.clone()),
    )
    .await;
    r.expect_status(201);
    assert_eq!(offset_of(&r), video.len());
    let loc = r.header("audiotap-job-location").expect("the job's URL");
    let id = loc.trim_start_matches("/v1/jobs/");
    srv.wait_status(id, "succeeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_before_a_hang_up_are_kept_and_the_upload_resumes_there() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let video = media_bytes(MP4);
    let up = create(&srv, video.len(), &metadata("cut.mp4", &options())).await;
    broken_patch(&srv, &up, 0, &video, 40_000).await;
    wait_offset(&srv, &up, 40_000).await;
    // The lock was released with the record: the next PATCH goes on from there.
    let r = patch(&srv, &up, 40_000, &video[40_000..]).await;
    r.expect_status(204);
    let id = job_of(&r);
    srv.wait_status(&id, "succeeded").await;
    let out = srv.get(&format!("/v1/jobs/{id}/output")).await.body;
    assert_eq!(out, reference_output(&srv, video).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_waits_for_the_first() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let video = media_bytes(MP4);
    let up = create(&srv, video.len(), &metadata("x.mp4", &options())).await;
    // A PATCH that sends some bytes and then stalls, holding the upload. Empty PATCHes probe
    // the lock without writing; when a probe happened to hold it just as the stalled one
    // came, that one was refused (it got an answer): start it again.
    let addr = srv.base().trim_start_matches("http://").to_string();
    let head_text = format!(
        "PATCH {up} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        video.len()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut slow: Option<tokio::net::TcpStream> = None;
    let locked = loop {
        if slow.is_none() {
            let mut s = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            s.write_all(head_text.as_bytes()).await.unwrap();
            s.write_all(&video[..10_000]).await.unwrap();
            s.flush().await.unwrap();
            slow = Some(s);
        }
        let r = patch(&srv, &up, 0, &[]).await;
        if r.status == 423 || Instant::now() > deadline {
            break r;
        }
        r.expect_status(204);
        let mut buf = [0u8; 64];
        if let Some(s) = slow.as_mut()
            && let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await
            && n > 0
        {
            slow = None;
        }
    };
    locked.expect_problem(423, Some("upload_locked"));
    drop(slow);
    wait_offset(&srv, &up, 10_000).await;
    let r = patch(&srv, &up, 10_000, &video[10_000..]).await;
    r.expect_status(204);
    srv.wait_status(&job_of(&r), "succeeded").await;
}
