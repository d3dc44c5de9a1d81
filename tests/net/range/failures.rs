//! Reads that must fail cleanly: a source that changes mid-transfer, malformed multipart
//! answers, a URL the guard forbids, and the size cap on ranged reads.

use std::process::Command;

use super::{fetch_capped, fetch_to, heavy_mp4};
use crate::support::*;

#[test]
fn a_source_that_changes_mid_transfer_fails_cleanly() {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server(vec![("a.mp4".into(), data)], true, Some(1));
    let out_dir = tmpdir();
    let out = out_dir.path().join("o.wav");
    let r =
        audiotap_allowing_loopback(&["extract", &server.url("a.mp4"), "-o", out.to_str().unwrap()]);
    r.assert_error(1, Some("source_unreachable"));
    assert!(r.stderr.contains("changed"), "{}", r.describe());
    assert_eq!(dir_entries(out_dir.path()), Vec::<String>::new());
}

#[test]
fn cli_url_sources_obey_the_url_guard() {
    let server = range_server(
        vec![("a.mp4".into(), media_bytes("mp4_aac.mp4"))],
        true,
        None,
    );
    let out_dir = tmpdir();
    let out = out_dir.path().join("o.wav");
    let mut cmd = Command::new(bin());
    cmd.args(["extract", &server.url("a.mp4"), "-o", out.to_str().unwrap()]);
    cmd.env_remove("AUDIOTAP_URL_ALLOWLIST");
    let r = run_cmd(cmd, None, DEFAULT_TIMEOUT);
    r.assert_error(1, Some("url_forbidden"));
    assert_eq!(server.requests(), 0, "no request may reach loopback");
    assert_eq!(dir_entries(out_dir.path()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_multipart_answers_fail_cleanly() {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    for (multi, want) in [
        (Multi::WrongRange, "not asked"),
        (Multi::Truncated, "malformed multipart/byteranges"),
    ] {
        let server = range_server_with(vec![("a.mp4".into(), data.clone())], true, None, multi);
        // The library: a clear error and no spool file left behind.
        let spool = dir.path().join("spool.mp4");
        let err = fetch_to(&server, "a.mp4", &spool).await.unwrap_err();
        assert_eq!(err.code(), "source_unreachable", "{multi:?}: {err}");
        assert!(err.to_string().contains(want), "{multi:?}: {err}");
        assert!(!spool.exists(), "{multi:?}: the spool file is left");
        // The CLI: the same error, no output.
        let out_dir = tmpdir();
        let out = out_dir.path().join("o.wav");
        let url = server.url("a.mp4");
        let r = tokio::task::spawn_blocking(move || {
            audiotap_allowing_loopback(&["extract", &url, "-o", out.to_str().unwrap()])
        })
        .await
        .unwrap();
        r.assert_error(1, Some("source_unreachable"));
        assert!(r.stderr.contains(want), "{multi:?}: {}", r.describe());
        assert_eq!(dir_entries(out_dir.path()), Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_cap_holds_on_ranged_reads() {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server(vec![("a.mp4".into(), data.clone())], true, None);
    let spool = dir.path().join("spool.mp4");
    let planned = fetch_to(&server, "a.mp4", &spool).await.unwrap().summary;
    assert_eq!(planned.method, audiotap::net::FetchMethod::Range);
    let needed = planned.bytes_fetched;
    assert!(needed * 5 < data.len() as u64, "fetched {needed}");
    // The cap counts the bytes fetched, not the source's size: what the plan fetches is
    // enough, a byte less is refused while fetching, and no spool file is left.
    let out = fetch_capped(&server, "a.mp4", &spool, needed)
        .await
        .unwrap();
    assert_eq!(out.summary.bytes_fetched, needed);
    let err = fetch_capped(&server, "a.mp4", &spool, needed - 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "source_too_large", "{err}");
    assert!(!spool.exists());

    // A file with nothing to plan is read whole: refused once its size is known from the
    // first answer, before its body is fetched.
    let mkv = media_bytes("mkv_aac.mkv");
    let len = mkv.len() as u64;
    let server = range_server(vec![("a.mkv".into(), mkv)], true, None);
    let err = fetch_capped(&server, "a.mkv", &spool, len - 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "source_too_large", "{err}");
    assert!(server.served() <= 64 * 1024, "served {}", server.served());
    let out = fetch_capped(&server, "a.mkv", &spool, len).await.unwrap();
    assert_eq!(out.summary.method, audiotap::net::FetchMethod::Full);
    assert_eq!(std::fs::read(&spool).unwrap().len() as u64, len);
}
