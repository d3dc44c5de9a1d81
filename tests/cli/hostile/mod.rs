//! The hostile media corpus, built in a temp dir from `fixtures/media` by `corpus.rs`
//! (seeded, so every run makes the same files): files truncated at many offsets, headers
//! with bits flipped, absurd claimed sample rates, channel counts and durations (WAV, MP4,
//! Matroska), huge and 64-bit box sizes, deep nesting, zero-length tracks, video only,
//! sample tables claiming billions of entries, and a decompression bomb (ten hours of
//! FLAC silence in a few kilobytes, made with the ffmpeg CLI).
//!
//! Every file goes through the real `audiotap` binary under `/usr/bin/time` (GNU time, for
//! the peak RSS; `runner.rs`): `probe`, and `extract` with each engine (`auto` is always one
//! of them). Each run must end by itself within [`HANG`], exit 0 with a readable output or
//! exit 1 with one line `audiotap: error[<stable code>]: …` and no output left, never a
//! signal or a panic, and stay under [`RSS_LIMIT_KIB`]. A subset also goes through the HTTP API (jobs fail with a
//! stable code or succeed; never a 500). The tally is printed (see RELIABILITY.md).

mod corpus;
mod runner;

use std::collections::BTreeMap;
use std::time::Duration;

use audiotap::ErrorCode;

use crate::support;
use corpus::{bomb, damage_cases, mkv_cases, mp4_cases, other_cases, wav_cases};
use runner::{report, run, run_corpus};

/// A run that has not ended after this long is a hang (the debug binary needs well under
/// a second for these inputs).
const HANG: Duration = Duration::from_secs(60);
/// Generous peak-RSS bound for one CLI run on these (small) inputs.
const RSS_LIMIT_KIB: u64 = 512 * 1024;

/// A hostile input fails with a code of the registry that is not `internal`: its bytes are
/// the problem, never a fault of ours.
fn is_input_failure(code: &str) -> bool {
    code.parse::<ErrorCode>()
        .is_ok_and(|c| c != ErrorCode::Internal)
}

#[test]
fn absurd_claims_huge_boxes_deep_nesting_and_empty_tracks() {
    let mut cases = mp4_cases();
    cases.extend(wav_cases());
    cases.extend(mkv_cases());
    cases.extend(other_cases());
    let n = cases.len();
    let t = run_corpus(cases);
    report("hostile claims corpus", n, &t);
    assert_eq!(t.runs, n * 3);
}

#[test]
fn truncated_and_bit_flipped_headers() {
    let cases = damage_cases();
    let n = cases.len();
    let t = run_corpus(cases);
    report("truncated/bit-flipped corpus", n, &t);
}

#[test]
fn decompression_bomb_is_stopped_by_the_time_budget_with_flat_memory() {
    let dir = support::tmpdir();
    let bomb = bomb(dir.path());
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 2 << 20, "the bomb is {size} bytes");
    let out = dir.path().join("bomb.wav");
    let b = bomb.to_str().unwrap();
    // The probe reads the claim without decoding it.
    let o = run(&["probe", b, "--json"], dir.path());
    assert_eq!(o.exit, Some(0), "probe: {}", o.stderr);
    // A one-second budget stops the extraction: limit_exceeded, no output, flat memory.
    let o = run(
        &["extract", b, "-o", out.to_str().unwrap(), "--timeout", "1"],
        dir.path(),
    );
    println!(
        "bomb: {size} bytes claiming 10 h; extract --timeout 1: exit {:?} after {:.2?}, peak RSS {} KiB: {}",
        o.exit,
        o.took,
        o.rss_kib,
        o.stderr.trim()
    );
    assert_eq!(o.exit, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.starts_with("audiotap: error[limit_exceeded]:") && o.stderr.contains("--timeout"),
        "{}",
        o.stderr
    );
    assert!(!out.exists(), "a stopped extraction left its output");
    assert_eq!(
        support::dir_entries(dir.path())
            .iter()
            .filter(|e| e.starts_with('.'))
            .count(),
        0,
        "temporary files left: {:?}",
        support::dir_entries(dir.path())
    );
    assert!(o.rss_kib < 256 * 1024, "peak RSS {} KiB", o.rss_kib);
}

/// A sample of the corpus as uploads to the real server, with a 2-second job budget: each
/// job ends failed with a stable code (the bomb with `job_timeout`) or succeeded, nothing
/// answers 500, and no temporary file outlives its job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_through_the_api_fail_cleanly_within_the_job_budget() {
    use support::{ServerConfig, TestServer};
    let dir = support::tmpdir();
    let bomb_bytes = std::fs::read(bomb(dir.path())).unwrap();
    let mut picks: Vec<(String, Vec<u8>)> = Vec::new();
    for c in mp4_cases()
        .into_iter()
        .chain(wav_cases())
        .chain(mkv_cases())
        .chain(other_cases())
    {
        if [
            "stts one entry of 4G samples",
            "stsz claims 4G samples",
            "65535 channels",
            "rate 1e300",
            "20k nested moov",
            "20k nested LIST chunks before data",
            "moov 64-bit size 2^63",
            "zero-length tracks (empty stsz/stts/stsc)",
            "video only",
            "data claims 4 GiB (file is 96 KB)",
        ]
        .contains(&c.label.as_str())
        {
            picks.push((c.label, c.bytes));
        }
    }
    assert!(picks.len() >= 10, "corpus labels changed: {}", picks.len());
    picks.push(("decompression bomb".into(), bomb_bytes));
    let srv = TestServer::start(
        ServerConfig::new()
            .env("AUDIOTAP_JOB_TIMEOUT_SECS", "2")
            .env("AUDIOTAP_JOB_MAX_ATTEMPTS", "1"),
    )
    .await;
    let mut ids = Vec::new();
    for (label, bytes) in &picks {
        let r = srv
            .create_raw("/v1/jobs", bytes.clone(), "application/octet-stream")
            .await;
        r.expect_status(202);
        ids.push((label.clone(), support::job_id(&r.json())));
    }
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for (label, id) in &ids {
        let job = srv.wait_terminal(id).await;
        let outcome = match job["status"].as_str() {
            Some("succeeded") => "succeeded".to_string(),
            Some("failed") => {
                let code = job["error"]["code"].as_str().unwrap_or("").to_string();
                assert!(
                    is_input_failure(&code),
                    "{label}: failed with {code:?}: {job:#}"
                );
                assert!(
                    job["output"].is_null(),
                    "{label}: a failed job has an output"
                );
                code
            }
            other => panic!("{label}: ended {other:?}"),
        };
        if label == "decompression bomb" {
            assert_eq!(outcome, ErrorCode::JobTimeout.as_str(), "{job:#}");
        }
        *tally.entry(outcome).or_default() += 1;
    }
    println!("API: {} hostile uploads: {tally:?}", ids.len());
    srv.get("/healthz").await.expect_status(200);
    assert_eq!(
        support::dir_entries(&srv.data_dir().join("tmp")),
        Vec::<String>::new(),
        "temporary files left after the jobs ended"
    );
}
