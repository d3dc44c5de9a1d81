//! Request size limits: oversized headers answer 431, bodies over the cap 413 on every
//! body-taking route (a chunked body is cut while it streams), and no refused request
//! makes a job.

use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};

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
        srv.create_multipart(
            path,
            &[Part::file("file", "v.mp4", "video/mp4", big.clone())],
        )
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
