//! URL input: the test Range server serves the fixtures; the output equals the one of the
//! same file read locally, and unreachable sources fail with `source_unreachable`.

use super::{file_output, s};
use crate::support::*;

#[test]
fn url_input_matches_file_input() {
    let names = ["mp4_aac.mp4", "mkv_aac.mkv"];
    let server = range_server(
        names
            .iter()
            .map(|n| (n.to_string(), std::fs::read(&fixture(n).path).unwrap()))
            .collect(),
        true,
        None,
    );
    for name in names {
        let dir = tmpdir();
        let out = dir.path().join("o.wav");
        let url = server.url(name);
        let r = audiotap_allowing_loopback(&["extract", &url, "-o", &s(&out), "--json"]);
        assert!(
            r.success(),
            "{name} over HTTP: {}\n{} requests, ranges asked: {:?}",
            r.describe(),
            server.requests(),
            server.ranges_asked()
        );
        assert_eq!(r.json()["input"], url.as_str());
        let a = read_wav(&out).unwrap();
        let b = file_output(fixture(name));
        assert!(
            a.raw == b.raw,
            "{name}: URL output differs from file output"
        );
    }
    let p = audiotap_allowing_loopback(&["probe", &server.url("mp4_aac.mp4"), "--json"]);
    assert!(p.success(), "{}", p.describe());
    assert_eq!(p.json()["container"], "mp4");
    println!(
        "{} requests, ranges asked: {:?}",
        server.requests(),
        server.ranges_asked()
    );
}

#[test]
fn url_404_is_source_unreachable() {
    let server = range_server(vec![], true, None);
    let dir = tmpdir();
    let out = dir.path().join("o.wav");
    let url = server.url("missing.mp4");
    let r = audiotap_allowing_loopback(&["extract", &url, "-o", &s(&out)]);
    r.assert_error(1, Some("source_unreachable"));
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn url_connection_refused_is_source_unreachable() {
    let port = closed_port();
    let dir = tmpdir();
    let out = dir.path().join("o.wav");
    let r = audiotap_allowing_loopback(&[
        "extract",
        &format!("http://127.0.0.1:{port}/a.mp4"),
        "-o",
        &s(&out),
    ]);
    r.assert_error(1, Some("source_unreachable"));
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}
