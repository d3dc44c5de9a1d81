//! Several ranges in one request: the audio in few requests, and correct reads from servers
//! that coalesce the ranges, ignore them or answer the first one only.

use std::path::Path;

use super::{assert_same_output, fetch_to, heavy_mp4, multi_range_requests};
use crate::support::*;
use serde_json::Value;

/// Every byte range the server was asked for holds the source's bytes in the spool file.
fn assert_ranges_match(server: &RangeServer, data: &[u8], spool: &Path) {
    let got = std::fs::read(spool).unwrap();
    assert_eq!(
        got.len(),
        data.len(),
        "the spool file has the source's size"
    );
    for ranges in server.ranges_asked() {
        for (a, b) in ranges {
            let (a, b) = (a as usize, b as usize);
            assert!(got[a..=b] == data[a..=b], "bytes {a}-{b} differ");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_range_requests_fetch_the_audio_in_few_requests() {
    use audiotap::net::range::MAX_RANGES_PER_REQUEST;
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server(vec![("a.mp4".into(), data.clone())], true, None);
    let spool = dir.path().join("spool.mp4");
    let out = fetch_to(&server, "a.mp4", &spool).await.unwrap();
    assert_ranges_match(&server, &data, &spool);
    let (ranged, asked) = server.ranged();
    let requests = server.requests();
    let multi = multi_range_requests(&server);
    println!("{requests} requests ({multi} multi-range) for {asked} ranges");
    assert_eq!(out.summary.requests as u64, requests);
    assert_eq!(out.summary.bytes_fetched, server.served());
    assert_eq!(ranged as u64, requests, "every request asks for ranges");
    // The head, the box header at the end and the moov, then the audio's ranges in
    // requests of up to MAX_RANGES_PER_REQUEST.
    assert!(multi >= 1, "no multi-range request");
    assert!(
        requests as usize <= asked.div_ceil(MAX_RANGES_PER_REQUEST) + 4,
        "{requests} requests for {asked} ranges"
    );
    assert!(
        requests as usize * 20 < asked,
        "{requests} requests for {asked} ranges"
    );
    // The CLI's output equals the local file's, and its count of requests is small too.
    server.reset();
    let report = assert_same_output(&server, dir.path(), "a.mp4");
    assert_eq!(report["fetch"]["method"], "range", "{report}");
    assert_eq!(report["fetch"]["requests"], server.requests(), "{report}");
    assert_eq!(
        report["fetch"]["bytes_fetched"],
        server.served(),
        "{report}"
    );
}

/// A heavy MP4 from a server answering several ranges as `multi` says, read through the
/// CLI: its output equals the local one, and it was read by ranges. The data, the server
/// and the CLI's report.
fn read_from(multi: Multi) -> (Vec<u8>, RangeServer, Value) {
    let dir = tmpdir();
    let data = heavy_mp4(dir.path(), "a.mp4", false);
    let server = range_server_with(vec![("a.mp4".into(), data.clone())], true, None, multi);
    let report = assert_same_output(&server, dir.path(), "a.mp4");
    assert_eq!(report["fetch"]["method"], "range", "{report}");
    (data, server, report)
}

#[test]
fn a_server_that_coalesces_ranges_into_one_is_read_correctly() {
    let (data, server, report) = read_from(Multi::Coalesce);
    assert_eq!(
        report["fetch"]["bytes_fetched"],
        server.served(),
        "{report}"
    );
    // A coalesced answer costs the gaps between the ranges: after the first multi-range
    // request (which goes alone), one range per request.
    assert_eq!(multi_range_requests(&server), 1);
    assert!(
        // The hull of the first 200 ranges is a quarter of this small file.
        server.served() * 2 < data.len() as u64,
        "served {}",
        server.served()
    );
}

#[test]
fn a_server_that_ignores_multi_range_requests_is_read_one_range_at_a_time() {
    // nginx with `max_ranges 1` answers one range but the whole file for several.
    let (data, server, report) = read_from(Multi::Ignore);
    let fetched = report["fetch"]["bytes_fetched"].as_u64().unwrap();
    assert!(fetched * 5 < data.len() as u64, "fetched {fetched}");
    // The first multi-range request goes alone; then one range per request.
    assert_eq!(multi_range_requests(&server), 1);
}

#[test]
fn a_server_that_answers_only_the_first_range_is_read_one_range_at_a_time() {
    let (_, server, report) = read_from(Multi::FirstOnly);
    assert_eq!(
        report["fetch"]["bytes_fetched"],
        server.served(),
        "{report}"
    );
    assert_eq!(multi_range_requests(&server), 1);
}
