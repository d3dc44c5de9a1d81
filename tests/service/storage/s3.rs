//! S3Store on the test S3 server: the suite, nothing left under the prefix (objects or
//! multipart uploads), an upload aborted when its source shrinks, and the errors of a
//! missing bucket and of a server that does not answer.

use std::path::Path;
use std::time::Duration;

use audiotap::storage::{ObjectStore, S3Config, S3Store, StorageError};

use super::{MIB, assert_not_found, pattern, suite, write};
use crate::support::closed_port;
use crate::support::s3::TestS3;

/// The store's settings for the test S3 server, each run in its own prefix (the bucket
/// outlives test runs).
fn s3_config(s3: &TestS3) -> S3Config {
    S3Config {
        bucket: s3.bucket.clone(),
        endpoint: Some(s3.endpoint.clone()),
        region: s3.region.clone(),
        prefix: format!("test-{}/", uuid::Uuid::now_v7().simple()),
        path_style: true,
    }
}

async fn listing(client: &aws_sdk_s3::Client, cfg: &S3Config) -> (Vec<String>, Vec<String>) {
    let objects = client
        .list_objects_v2()
        .bucket(&cfg.bucket)
        .prefix(&cfg.prefix)
        .send()
        .await
        .unwrap();
    let uploads = client
        .list_multipart_uploads()
        .bucket(&cfg.bucket)
        .prefix(&cfg.prefix)
        .send()
        .await
        .unwrap();
    (
        objects
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect(),
        uploads
            .uploads()
            .iter()
            .filter_map(|u| u.key().map(str::to_owned))
            .collect(),
    )
}

#[tokio::test]
async fn s3_store() {
    let Some(s3) = TestS3::from_env("s3_store") else {
        return;
    };
    let cfg = s3_config(&s3);
    let tmp = tempfile::tempdir().unwrap();
    let store = S3Store::new(cfg.clone()).await.unwrap();
    assert_eq!(store.kind(), "s3");

    suite(&store, tmp.path()).await;

    let client = s3.client();
    let (objects, uploads) = listing(&client, &cfg).await;
    assert!(
        objects.is_empty(),
        "objects left under the prefix: {objects:?}"
    );
    assert!(uploads.is_empty(), "multipart uploads left: {uploads:?}");

    source_truncated_mid_upload(&store, &client, &cfg, tmp.path()).await;
    unreachable_or_misconfigured(&cfg).await;
}

/// A bucket that does not exist is a back-end fault; a server that does not answer is I/O.
async fn unreachable_or_misconfigured(cfg: &S3Config) {
    let no_bucket = S3Store::new(S3Config {
        bucket: "audiotap-no-such-bucket".into(),
        ..cfg.clone()
    })
    .await
    .unwrap();
    let err = no_bucket.check().await.unwrap_err();
    assert!(matches!(err, StorageError::Backend(_)), "{err:?}");

    // A loopback port nobody listens on.
    let port = closed_port();
    let down = S3Store::new(S3Config {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        ..cfg.clone()
    })
    .await
    .unwrap();
    let err = down.check().await.unwrap_err();
    assert!(matches!(err, StorageError::Io(_)), "{err:?}");
    assert!(err.is_transient());
    let err = down.head("suite/small.wav").await.unwrap_err();
    assert!(matches!(err, StorageError::Io(_)), "{err:?}");
}

/// The source file shrinks while its multipart upload runs: the put fails, the upload is
/// aborted, and no object appears.
async fn source_truncated_mid_upload(
    store: &S3Store,
    client: &aws_sdk_s3::Client,
    cfg: &S3Config,
    scratch: &Path,
) {
    let src = write(scratch, "shrinking", &pattern(96 * MIB, 5));
    let put = {
        let (store, src) = (store.clone(), src.clone());
        tokio::spawn(async move {
            store
                .put_file("suite/shrinking.wav", &src, "audio/wav")
                .await
        })
    };
    // Truncate as soon as the multipart upload exists.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, uploads) = listing(client, cfg).await;
        if !uploads.is_empty() {
            break;
        }
        assert!(
            !put.is_finished(),
            "put finished before its upload was seen"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "no multipart upload appeared"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&src)
        .unwrap()
        .set_len(MIB as u64)
        .unwrap();
    let err = put
        .await
        .unwrap()
        .expect_err("put of a file that shrank mid-way");
    assert!(err.is_transient(), "{err}");
    assert_not_found(
        store.head("suite/shrinking.wav").await,
        "after aborted upload",
    );
    let (objects, uploads) = listing(client, cfg).await;
    assert!(
        objects.is_empty() && uploads.is_empty(),
        "left behind: {objects:?} {uploads:?}"
    );
}
