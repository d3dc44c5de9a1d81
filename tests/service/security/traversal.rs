//! Path traversal: hostile upload filenames, `filename` queries and encoded job ids and
//! paths never name a file outside the server's data dir.

use super::WAV;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_in_filenames_ids_and_paths_names_nothing_outside() {
    let srv = TestServer::start(ServerConfig::new()).await;
    let outside = srv
        .data_dir()
        .parent()
        .unwrap()
        .join(format!("audiotap-traversal-{}", std::process::id()));
    let _ = std::fs::remove_file(&outside);
    let evil_names = [
        "../../../../etc/passwd".to_string(),
        format!("../../{}", outside.file_name().unwrap().to_string_lossy()),
        "..\\..\\windows\\win.ini".to_string(),
        "/etc/shadow".to_string(),
        "..".to_string(),
        "a\u{0}b.mp4".to_string(),
        "x/../../objects/outputs/evil.wav".to_string(),
    ];
    for name in &evil_names {
        let r = srv
            .create_multipart(
                "/v1/jobs",
                &[Part::file("file", name, "audio/wav", media_bytes(WAV))],
            )
            .await;
        if r.status == 400 {
            // A control character makes the part's headers unreadable: refused outright.
            r.expect_problem(400, Some("invalid_request"));
            assert!(name.chars().any(char::is_control), "{name:?}: {}", r.text());
            continue;
        }
        r.expect_status(202);
        let job = srv.wait_status(&job_id(&r.json()), "succeeded").await;
        let stored = job["source"]["filename"].as_str().unwrap_or("");
        assert!(
            !stored.contains('/')
                && !stored.contains('\\')
                && stored != ".."
                && !stored.contains('\0'),
            "{name:?} kept as {stored:?}"
        );
        let key = job["output"]["key"].as_str().unwrap();
        // The key is built from the job id and attempt only, never from the filename.
        assert_eq!(
            key,
            format!(
                "outputs/{}-{}.wav",
                job["id"].as_str().unwrap(),
                job["attempts"].as_u64().unwrap()
            )
        );
    }
    let r = srv
        .create_raw(
            "/v1/jobs?filename=../../../etc/passwd",
            media_bytes(WAV),
            "audio/wav",
        )
        .await;
    r.expect_status(202);
    srv.wait_status(&job_id(&r.json()), "succeeded").await;
    assert!(!outside.exists(), "a file was written outside the data dir");
    // Everything the server wrote is under its data dir, in the folders it owns.
    for entry in dir_entries(srv.data_dir()) {
        assert!(
            [
                "objects",
                "uploads",
                "tmp",
                "jobs.db",
                "jobs.db-wal",
                "jobs.db-shm",
                "webhook_secret"
            ]
            .contains(&entry.as_str()),
            "unexpected entry {entry:?} in the data dir"
        );
    }
    let outputs = dir_entries(&srv.data_dir().join("objects/outputs"));
    assert!(
        outputs
            .iter()
            .all(|o| !o.contains("evil") && !o.contains("passwd")),
        "{outputs:?}"
    );

    // Ids and paths: encoded traversal never reaches a file.
    for path in [
        "/v1/jobs/..%2F..%2Fjobs.db",
        "/v1/jobs/%2e%2e%2f%2e%2e%2fjobs.db/output",
        "/v1/jobs/../../jobs.db",
        "/v1/jobs/..%5c..%5cjobs.db/output",
        "/v1/jobs/00000000-0000-0000-0000-000000000000/output",
    ] {
        let r = send(srv.client.get(format!("{}{path}", srv.base()))).await;
        assert!(
            r.status == 404 || r.status == 400,
            "GET {path}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            !r.body.starts_with(b"SQLite"),
            "GET {path} served the database"
        );
    }
}
