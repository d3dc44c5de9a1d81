//! The storage behaviour suite, run against every back end: LocalStore always, S3Store when
//! `AUDIOTAP_TEST_S3_ENDPOINT` is set (see `scripts/s3-test-server.sh`). With `CI` set and no
//! S3 endpoint, the S3 test fails instead of skipping.
//!
//! The suite every back end must pass is here; `local` and `s3` run it, and check what only
//! their back end does.

mod local;
mod s3;

use std::path::{Path, PathBuf};
use std::time::Duration;

use audiotap::storage::{ByteRange, ObjectBody, ObjectStore, StorageError};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};

use crate::support::sha256_hex;

const MIB: usize = 1024 * 1024;

/// Deterministic, incompressible bytes (xorshift), different per `seed`.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

async fn read_all(body: ObjectBody) -> Vec<u8> {
    let chunks: Vec<bytes::Bytes> = body.stream.try_collect().await.unwrap();
    chunks.concat()
}

async fn get_bytes(store: &dyn ObjectStore, key: &str, range: Option<ByteRange>) -> Vec<u8> {
    read_all(store.get(key, range).await.unwrap()).await
}

fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StorageError>, what: &str) {
    match r {
        Err(StorageError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Everything every back end must do. Keys live under `suite/`; all are deleted at the end.
async fn suite(store: &dyn ObjectStore, scratch: &Path) {
    store.check().await.expect("check()");

    round_trip(store, scratch).await;
    ranges(store, scratch).await;
    empty_object(store, scratch).await;
    multipart(store, scratch).await;
    failing_puts(store, scratch).await;
    delete_idempotent(store, scratch).await;
    invalid_keys(store, scratch).await;
    presigned(store, scratch).await;

    for key in [
        "suite/small.wav",
        "suite/big.m4a",
        "suite/keep.wav",
        "suite/empty.bin",
    ] {
        store.delete(key).await.unwrap();
        assert_not_found(store.head(key).await, key);
    }
}

async fn round_trip(store: &dyn ObjectStore, scratch: &Path) {
    let data = pattern(1000, 1);
    let src = write(scratch, "small", &data);
    let put = store
        .put_file("suite/small.wav", &src, "audio/wav")
        .await
        .unwrap();
    assert_eq!(put.key, "suite/small.wav");
    assert_eq!(put.size, 1000);
    assert_eq!(put.content_type, "audio/wav");
    assert!(put.etag.is_some(), "put returns an ETag");

    let head = store.head("suite/small.wav").await.unwrap();
    assert_eq!(head, put, "head agrees with put");

    let body = store.get("suite/small.wav", None).await.unwrap();
    assert_eq!(body.meta, put);
    assert_eq!(body.range, None);
    assert_eq!(read_all(body).await, data, "byte-identical");

    // Overwrite: the new bytes replace the old ones whole.
    let data2 = pattern(1500, 2);
    let src2 = write(scratch, "small2", &data2);
    let put2 = store
        .put_file("suite/small.wav", &src2, "audio/wav")
        .await
        .unwrap();
    assert_eq!(put2.size, 1500);
    assert_ne!(put2.etag, put.etag, "new content, new ETag");
    assert_eq!(get_bytes(store, "suite/small.wav", None).await, data2);
    // Leave the 1000-byte version for the range tests.
    store
        .put_file("suite/small.wav", &src, "audio/wav")
        .await
        .unwrap();

    assert_not_found(store.head("suite/missing.wav").await, "head missing");
    assert_not_found(
        store.get("suite/missing.wav", None).await.map(|b| b.meta),
        "get missing",
    );
    assert_not_found(
        store
            .get("suite/missing.wav", Some(ByteRange::From(0)))
            .await
            .map(|b| b.meta),
        "ranged get missing",
    );
}

async fn ranges(store: &dyn ObjectStore, _scratch: &Path) {
    let data = pattern(1000, 1);
    let cases = [
        (ByteRange::From(900), (900, 999)),
        (ByteRange::From(0), (0, 999)),
        (ByteRange::Inclusive(10, 19), (10, 19)),
        (ByteRange::Inclusive(999, 999), (999, 999)),
        (ByteRange::Inclusive(990, 5000), (990, 999)),
        (ByteRange::Suffix(10), (990, 999)),
        (ByteRange::Suffix(5000), (0, 999)),
    ];
    for (range, (start, end)) in cases {
        let body = store.get("suite/small.wav", Some(range)).await.unwrap();
        assert_eq!(body.range, Some((start, end)), "{range:?}");
        assert_eq!(
            body.meta.size, 1000,
            "{range:?}: size is the whole object's"
        );
        assert_eq!(body.meta.content_type, "audio/wav");
        let got = read_all(body).await;
        assert_eq!(got, &data[start as usize..=end as usize], "{range:?}");
    }
    for range in [
        ByteRange::From(1000),
        ByteRange::Inclusive(1000, 1001),
        ByteRange::Suffix(0),
    ] {
        match store.get("suite/small.wav", Some(range)).await {
            Err(StorageError::RangeNotSatisfiable { size: 1000 }) => {}
            other => panic!(
                "{range:?}: expected RangeNotSatisfiable(1000), got {:?}",
                other.map(|b| b.meta)
            ),
        }
    }
}

async fn empty_object(store: &dyn ObjectStore, scratch: &Path) {
    let src = write(scratch, "empty", &[]);
    let put = store
        .put_file("suite/empty.bin", &src, "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(put.size, 0);
    assert_eq!(store.head("suite/empty.bin").await.unwrap().size, 0);
    assert!(get_bytes(store, "suite/empty.bin", None).await.is_empty());
    match store.get("suite/empty.bin", Some(ByteRange::From(0))).await {
        Err(StorageError::RangeNotSatisfiable { size: 0 }) => {}
        other => panic!("range on empty object: {:?}", other.map(|b| b.meta)),
    }
}

async fn multipart(store: &dyn ObjectStore, scratch: &Path) {
    // Over the 16 MiB single-put limit: three 8 MiB parts on S3.
    let data = pattern(20 * MIB + 12_345, 3);
    let src = write(scratch, "big", &data);
    let put = store
        .put_file("suite/big.m4a", &src, "audio/mp4")
        .await
        .unwrap();
    assert_eq!(put.size, data.len() as u64);
    assert_eq!(put.content_type, "audio/mp4");
    if store.kind() == "s3" {
        // S3's multipart ETag ends in the part count: proof the multipart path ran.
        let etag = put.etag.as_deref().unwrap_or_default();
        assert!(etag.ends_with("-3\""), "multipart ETag {etag:?}");
    }

    let body = store.get("suite/big.m4a", None).await.unwrap();
    assert_eq!(body.meta.size, data.len() as u64);
    assert_eq!(body.meta.content_type, "audio/mp4");
    let mut hasher = Sha256::new();
    let mut chunks = body.stream;
    let mut largest = 0;
    while let Some(chunk) = chunks.try_next().await.unwrap() {
        largest = largest.max(chunk.len());
        hasher.update(&chunk);
    }
    assert_eq!(
        hex::encode(hasher.finalize()),
        sha256_hex(&data),
        "sha256 round trip"
    );
    assert!(largest < 4 * MIB, "streamed in chunks (largest {largest})");

    // A range across the first part boundary.
    let at = 8 * MIB as u64;
    let got = get_bytes(
        store,
        "suite/big.m4a",
        Some(ByteRange::Inclusive(at - 5, at + 4)),
    )
    .await;
    assert_eq!(got, &data[at as usize - 5..at as usize + 5]);
    assert_eq!(store.head("suite/big.m4a").await.unwrap().etag, put.etag);
}

async fn failing_puts(store: &dyn ObjectStore, scratch: &Path) {
    let missing = scratch.join("does-not-exist");
    let err = store
        .put_file("suite/never.wav", &missing, "audio/wav")
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Io(_)), "{err:?}");
    assert_not_found(store.head("suite/never.wav").await, "after failed put");

    let dir = scratch.join("a-folder");
    std::fs::create_dir_all(&dir).unwrap();
    store
        .put_file("suite/never.wav", &dir, "audio/wav")
        .await
        .unwrap_err();
    assert_not_found(store.head("suite/never.wav").await, "after folder put");

    // A failed put over an existing object leaves the old one intact.
    let old = pattern(321, 4);
    let src = write(scratch, "keep", &old);
    store
        .put_file("suite/keep.wav", &src, "audio/wav")
        .await
        .unwrap();
    store
        .put_file("suite/keep.wav", &missing, "audio/wav")
        .await
        .unwrap_err();
    assert_eq!(get_bytes(store, "suite/keep.wav", None).await, old);
}

async fn delete_idempotent(store: &dyn ObjectStore, scratch: &Path) {
    let src = write(scratch, "del", b"bye");
    store
        .put_file("suite/del/x.wav", &src, "audio/wav")
        .await
        .unwrap();
    store.delete("suite/del/x.wav").await.unwrap();
    assert_not_found(store.head("suite/del/x.wav").await, "after delete");
    store.delete("suite/del/x.wav").await.unwrap();
    store.delete("suite/never/existed.wav").await.unwrap();
}

async fn invalid_keys(store: &dyn ObjectStore, scratch: &Path) {
    let src = write(scratch, "bad", b"x");
    let long = "k".repeat(513);
    for key in [
        "../x",
        "/abs",
        "a//b",
        "a/./b",
        "",
        "a/../../etc/passwd",
        "a/",
        "a\\b",
        "x~meta.json",
        &long,
    ] {
        let results = [
            store.put_file(key, &src, "audio/wav").await.map(|_| ()),
            store.get(key, None).await.map(|_| ()),
            store.get(key, Some(ByteRange::From(0))).await.map(|_| ()),
            store.head(key).await.map(|_| ()),
            store.delete(key).await,
            store
                .presigned_get(key, Duration::from_secs(60))
                .await
                .map(|_| ()),
        ];
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Err(StorageError::InvalidKey(_)) => {}
                other => panic!("key {key:?}, method #{i}: expected InvalidKey, got {other:?}"),
            }
        }
    }
    // Nothing was written outside (or inside) the store.
    assert!(!scratch.join("x").exists());
}

async fn presigned(store: &dyn ObjectStore, _scratch: &Path) {
    let url = store
        .presigned_get("suite/small.wav", Duration::from_secs(300))
        .await
        .unwrap();
    match store.kind() {
        "local" => assert_eq!(url, None),
        "s3" => {
            let url = url.expect("S3 presigns");
            let resp = reqwest::get(&url).await.unwrap();
            assert_eq!(resp.status(), 200, "presigned GET of {url}");
            assert_eq!(resp.bytes().await.unwrap().as_ref(), pattern(1000, 1));
            // The signature covers the key: another key with the same query fails.
            let tampered = url.replacen("small.wav", "other.wav", 1);
            let resp = reqwest::get(&tampered).await.unwrap();
            assert_eq!(resp.status(), 403, "tampered presigned URL");
        }
        other => panic!("unknown kind {other}"),
    }
}
