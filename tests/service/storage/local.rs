//! LocalStore: the suite, nothing left behind once everything is deleted, and files copied
//! in by hand (content type from the extension; a folder is not an object).

use audiotap::storage::{LocalStore, ObjectStore, StorageError};

use super::{assert_not_found, suite, write};
use crate::support::tree;

#[tokio::test]
async fn local_store() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("objects");
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let store = LocalStore::new(root.clone()).unwrap();
    assert!(root.is_dir(), "new() creates the folder");
    assert_eq!(store.kind(), "local");

    suite(&store, &scratch).await;

    // No temp file, sidecar or job folder left behind once everything was deleted.
    let left: Vec<_> = tree(&root);
    assert!(left.is_empty(), "left in the store: {left:?}");

    // A file copied in by hand: content type from its extension, no ETag.
    std::fs::create_dir_all(root.join("manual")).unwrap();
    std::fs::write(root.join("manual/a.m4a"), b"abc").unwrap();
    let meta = store.head("manual/a.m4a").await.unwrap();
    assert_eq!(
        (meta.size, meta.content_type.as_str(), meta.etag),
        (3, "audio/mp4", None)
    );
    std::fs::write(root.join("manual/b.wav"), b"abc").unwrap();
    assert_eq!(
        store.head("manual/b.wav").await.unwrap().content_type,
        "audio/wav"
    );

    // A folder of objects is not an object, and neither can become one.
    assert_not_found(store.head("manual").await, "folder");
    store.delete("manual").await.unwrap();
    assert!(root.join("manual/a.m4a").exists());
    let src = write(&scratch, "x", b"x");
    for key in ["manual", "manual/a.m4a/child"] {
        match store.put_file(key, &src, "audio/wav").await {
            Err(StorageError::InvalidKey(_)) => {}
            other => panic!("put {key:?}: expected InvalidKey, got {other:?}"),
        }
    }
    assert_eq!(std::fs::read(root.join("manual/a.m4a")).unwrap(), b"abc");
    assert_eq!(tree(&root).len(), 3, "{:?}", tree(&root));
}
