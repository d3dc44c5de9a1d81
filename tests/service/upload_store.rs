//! The resumable-upload part of the job-store contract (`jobs::uploads::UploadStore`), run
//! against both stores: the embedded SQLite file and PostgreSQL (when
//! AUDIOTAP_TEST_DATABASE_URL is set; CI always sets it). One lock holder at a time, writes
//! only by the holder, termination whoever holds it, expiry and purge.

use std::sync::Arc;

use crate::support::*;
use std::time::Duration;

use audiotap::jobs::store::JobStore;
use audiotap::jobs::uploads::{Lock, MultipartState, Upload, UploadState};
use time::OffsetDateTime;
use uuid::Uuid;

const HOLD: Duration = Duration::from_secs(60);

fn upload(owner: &str, expires_in: time::Duration) -> Upload {
    let now = OffsetDateTime::now_utc();
    Upload {
        id: Uuid::now_v7(),
        owner: owner.into(),
        state: UploadState::Receiving,
        length: 1000,
        offset: 0,
        filename: Some("a.mp4".into()),
        options: Some(serde_json::json!({"output": {"format": "wav"}})),
        created_at: now,
        expires_at: now + expires_in,
        job_id: None,
        multipart: None,
    }
}

on_both_stores!(
    threads = 2,
    suite = "upload store";
    create_and_get_by_owner,
    one_holder_at_a_time,
    only_the_holder_writes,
    terminate_whoever_holds_it,
    expiry_and_purge,
);

async fn create_and_get_by_owner(s: Arc<dyn JobStore>) {
    let u = s.uploads();
    let mut up = upload("alice", time::Duration::hours(1));
    up.multipart = Some(MultipartState {
        key: format!("uploads/tus-{}", up.id),
        upload_id: "mp-1".into(),
        part_size: 5 << 20,
        etags: vec!["\"e1\"".into()],
        tail_key: format!("uploads/tus-{}.part", up.id),
        tail_len: 7,
    });
    u.create_upload(&up, None).await.unwrap();
    let got = u.get_upload(up.id, Some("alice")).await.unwrap();
    assert_eq!(got.as_ref(), Some(&up));
    assert_eq!(u.get_upload(up.id, None).await.unwrap(), Some(up.clone()));
    assert_eq!(u.get_upload(up.id, Some("bob")).await.unwrap(), None);
    assert_eq!(u.get_upload(Uuid::now_v7(), None).await.unwrap(), None);
    assert!(matches!(
        u.lock_upload(up.id, Some("bob"), "t", HOLD).await.unwrap(),
        Lock::Missing
    ));
}

async fn one_holder_at_a_time(s: Arc<dyn JobStore>) {
    let u = s.uploads();
    let up = upload("", time::Duration::hours(1));
    u.create_upload(&up, None).await.unwrap();
    assert!(matches!(
        u.lock_upload(up.id, None, "a", HOLD).await.unwrap(),
        Lock::Held(_)
    ));
    assert!(matches!(
        u.lock_upload(up.id, None, "b", HOLD).await.unwrap(),
        Lock::Busy
    ));
    // Released: the next request takes it.
    assert!(u.save_upload(&up, "a", None).await.unwrap());
    assert!(matches!(
        u.lock_upload(up.id, None, "b", HOLD).await.unwrap(),
        Lock::Held(_)
    ));
    // A lock that ran out without renewal goes to the next request.
    let short = upload("", time::Duration::hours(1));
    u.create_upload(&short, Some(("c", Duration::from_millis(1))))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(matches!(
        u.lock_upload(short.id, None, "d", HOLD).await.unwrap(),
        Lock::Held(_)
    ));
    // Many at once: exactly one wins.
    let race = upload("", time::Duration::hours(1));
    u.create_upload(&race, None).await.unwrap();
    let tries = (0..8).map(|i| {
        let s = s.clone();
        let id = race.id;
        tokio::spawn(async move {
            s.uploads()
                .lock_upload(id, None, &format!("r{i}"), HOLD)
                .await
        })
    });
    let mut held = 0;
    for t in tries {
        if matches!(t.await.unwrap().unwrap(), Lock::Held(_)) {
            held += 1;
        }
    }
    assert_eq!(held, 1);
}

async fn only_the_holder_writes(s: Arc<dyn JobStore>) {
    let u = s.uploads();
    let mut up = upload("", time::Duration::hours(1));
    u.create_upload(&up, Some(("mine", HOLD))).await.unwrap();
    up.offset = 400;
    assert!(
        !u.save_upload(&up, "someone else", Some(HOLD))
            .await
            .unwrap()
    );
    assert_eq!(u.get_upload(up.id, None).await.unwrap().unwrap().offset, 0);
    assert!(u.save_upload(&up, "mine", Some(HOLD)).await.unwrap());
    assert_eq!(
        u.get_upload(up.id, None).await.unwrap().unwrap().offset,
        400
    );
    // Completing ends the lock and the receiving: no more locks, no more writes.
    up.offset = 1000;
    up.state = UploadState::Complete;
    up.job_id = Some(Uuid::now_v7());
    assert!(u.save_upload(&up, "mine", None).await.unwrap());
    assert!(!u.save_upload(&up, "mine", None).await.unwrap());
    match u.lock_upload(up.id, None, "late", HOLD).await.unwrap() {
        Lock::Ended(got) => assert_eq!(got, up),
        other => panic!("{other:?}"),
    }
}

async fn terminate_whoever_holds_it(s: Arc<dyn JobStore>) {
    let u = s.uploads();
    let mut up = upload("alice", time::Duration::hours(1));
    u.create_upload(&up, Some(("writer", HOLD))).await.unwrap();
    let keep = OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert_eq!(
        u.end_upload(up.id, Some("bob"), UploadState::Terminated, keep)
            .await
            .unwrap(),
        None
    );
    let was = u
        .end_upload(up.id, Some("alice"), UploadState::Terminated, keep)
        .await
        .unwrap()
        .expect("ended");
    assert_eq!(was.state, UploadState::Receiving);
    // Once is enough; the writer's next record is refused.
    assert_eq!(
        u.end_upload(up.id, None, UploadState::Terminated, keep)
            .await
            .unwrap(),
        None
    );
    up.offset = 10;
    assert!(!u.save_upload(&up, "writer", Some(HOLD)).await.unwrap());
    let now = u.get_upload(up.id, None).await.unwrap().unwrap();
    assert_eq!((now.state, now.offset), (UploadState::Terminated, 0));
    assert!(matches!(
        u.lock_upload(up.id, None, "x", HOLD).await.unwrap(),
        Lock::Ended(_)
    ));
}

async fn expiry_and_purge(s: Arc<dyn JobStore>) {
    let u = s.uploads();
    let old = upload("", -time::Duration::seconds(5));
    let fresh = upload("", time::Duration::hours(1));
    let held = upload("", -time::Duration::seconds(5));
    u.create_upload(&old, None).await.unwrap();
    u.create_upload(&fresh, None).await.unwrap();
    u.create_upload(&held, Some(("busy", HOLD))).await.unwrap();
    let now = OffsetDateTime::now_utc();
    // Expired and not held: listed. An expired upload takes no lock.
    let expired: Vec<Uuid> = u
        .expired_uploads(now, 10)
        .await
        .unwrap()
        .iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(expired, vec![old.id]);
    assert!(matches!(
        u.lock_upload(old.id, None, "t", HOLD).await.unwrap(),
        Lock::Ended(_)
    ));
    let was = u
        .end_upload(old.id, None, UploadState::Expired, now)
        .await
        .unwrap();
    assert_eq!(was.map(|w| w.id), Some(old.id));
    // Purge removes ended records past their time, never receiving ones.
    assert_eq!(
        u.purge_uploads(now + time::Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(u.get_upload(old.id, None).await.unwrap(), None);
    assert!(u.get_upload(fresh.id, None).await.unwrap().is_some());
    assert!(u.get_upload(held.id, None).await.unwrap().is_some());
}
