//! The job-store contract, run against both stores: the embedded SQLite file and
//! PostgreSQL (when AUDIOTAP_TEST_DATABASE_URL is set; CI always sets it). Each check is
//! written once and run on each store: insert and idempotency, listing, claims that never
//! hand one job to two claimers, leases (renewal, takeover after expiry, the loser's writes
//! refused), cancellation seen by the worker, webhook delivery claims, node-scoped requeue.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audiotap::jobs::model::{Job, JobSource, JobStatus, SourceKind};
use audiotap::jobs::store::{Idempotency, Inserted, JobStore, LeaseState};
use audiotap::media::OutputSpec;
use time::OffsetDateTime;

use crate::support::on_both_stores;

const LONG: Duration = Duration::from_secs(60);

fn job(webhook: bool) -> Job {
    Job::new(
        JobSource {
            kind: SourceKind::Url,
            url: Some("http://127.0.0.1:9/video.mp4".into()),
            filename: None,
            size: None,
            key: None,
            fetch: None,
        },
        OutputSpec::default(),
        webhook.then(|| "http://127.0.0.1:9/hook".to_string()),
        serde_json::json!({"n": 1}),
    )
}

on_both_stores!(
    threads = 4,
    suite = "store";
    insert_get_list,
    idempotency,
    claims_are_exclusive,
    leases,
    cancellation,
    webhook_claims,
    requeue_by_node,
);

async fn insert_get_list(s: Arc<dyn JobStore>) {
    s.ping().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let j = job(false);
        let owner = if i % 2 == 0 { "alice" } else { "bob" };
        assert!(matches!(
            s.insert(&j, Some(owner), None).await.unwrap(),
            Inserted::Created(_)
        ));
        ids.push(j.id);
    }
    let got = s.get(ids[0], None).await.unwrap().expect("job 0");
    assert_eq!(got.id, ids[0]);
    assert_eq!(got.metadata["n"], 1);
    assert!(s.get(ids[0], Some("alice")).await.unwrap().is_some());
    assert!(
        s.get(ids[0], Some("bob")).await.unwrap().is_none(),
        "another owner's job must be invisible"
    );
    // Newest first, two per page, owner scoped.
    let p1 = s.list(Some("alice"), None, None, 2).await.unwrap();
    assert_eq!(
        p1.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![ids[4], ids[2]]
    );
    let p2 = s
        .list(Some("alice"), None, p1.next_cursor.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(
        p2.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    assert!(p2.next_cursor.is_none());
    let all = s
        .list(None, Some(JobStatus::Queued), None, 50)
        .await
        .unwrap();
    assert_eq!(all.jobs.len(), 5);
    let counts = s.counts().await.unwrap();
    assert_eq!(counts[&JobStatus::Queued], 5);
    assert_eq!(counts[&JobStatus::Running], 0);
    s.delete(ids[1]).await.unwrap();
    assert!(s.get(ids[1], None).await.unwrap().is_none());
    assert_eq!(s.counts().await.unwrap()[&JobStatus::Queued], 4);
}

async fn idempotency(s: Arc<dyn JobStore>) {
    let idem = |hash: &str| Idempotency {
        key: "key-1".into(),
        request_hash: hash.into(),
    };
    let first = job(false);
    assert!(matches!(
        s.insert(&first, Some("o"), Some(&idem("h1")))
            .await
            .unwrap(),
        Inserted::Created(_)
    ));
    match s
        .insert(&job(false), Some("o"), Some(&idem("h1")))
        .await
        .unwrap()
    {
        Inserted::Existing(j) => assert_eq!(j.id, first.id),
        other => panic!("expected the first job, got {other:?}"),
    }
    assert!(matches!(
        s.insert(&job(false), Some("o"), Some(&idem("h2")))
            .await
            .unwrap(),
        Inserted::Conflict
    ));
    // Another owner's key space is separate.
    assert!(matches!(
        s.insert(&job(false), Some("p"), Some(&idem("h1")))
            .await
            .unwrap(),
        Inserted::Created(_)
    ));
    // Racing inserts with one new key: exactly one job is made, the others get it.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let key = Idempotency {
                key: "race".into(),
                request_hash: "same".into(),
            };
            match s.insert(&job(false), Some("o"), Some(&key)).await.unwrap() {
                Inserted::Created(j) => (true, j.id),
                Inserted::Existing(j) => (false, j.id),
                Inserted::Conflict => panic!("same request must not conflict"),
            }
        }));
    }
    let mut created = 0;
    let mut seen = HashSet::new();
    for t in tasks {
        let (c, id) = t.await.unwrap();
        created += usize::from(c);
        seen.insert(id);
    }
    assert_eq!(created, 1, "exactly one racing insert creates the job");
    assert_eq!(seen.len(), 1, "every racer gets the same job");
}

async fn claims_are_exclusive(s: Arc<dyn JobStore>) {
    let n = 40;
    let mut ids = HashSet::new();
    for _ in 0..n {
        let j = job(false);
        s.insert(&j, None, None).await.unwrap();
        ids.insert(j.id);
    }
    // Six claimers (three "nodes", two workers each) drain the queue at once.
    let mut tasks = Vec::new();
    for w in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let node = format!("node-{}", w / 2);
            let mut got = Vec::new();
            while let Some(j) = s.claim_next(&node, LONG).await.unwrap() {
                assert_eq!(j.status, JobStatus::Running);
                assert_eq!(j.attempts, 1);
                assert_eq!(j.node.as_deref(), Some(node.as_str()));
                got.push(j.id);
            }
            got
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    assert_eq!(claimed.len(), n, "every job claimed once: {claimed:?}");
    assert_eq!(
        claimed.iter().copied().collect::<HashSet<_>>(),
        ids,
        "no job claimed twice, none missed"
    );
    let counts = s.counts().await.unwrap();
    assert_eq!(counts[&JobStatus::Running], n as u64);
    assert_eq!(counts[&JobStatus::Queued], 0);
    assert!(
        s.claim_next("late", LONG).await.unwrap().is_none(),
        "running jobs under live leases are not claimable"
    );
}

/// Claim again until a job whose lease runs out is taken over (bounded wait).
async fn claim_after_expiry(s: &Arc<dyn JobStore>, node: &str) -> Job {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(j) = s.claim_next(node, LONG).await.unwrap() {
            return j;
        }
        assert!(
            Instant::now() < deadline,
            "the expired lease was never taken over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn leases(s: Arc<dyn JobStore>) {
    let j = job(false);
    s.insert(&j, None, None).await.unwrap();
    let short = Duration::from_millis(400);
    let mut a = s.claim_next("node-a", short).await.unwrap().expect("claim");
    assert_eq!(
        s.renew_lease(a.id, "node-a", 1, short).await.unwrap(),
        LeaseState::Held
    );
    assert_eq!(
        s.renew_lease(a.id, "node-b", 1, short).await.unwrap(),
        LeaseState::Lost,
        "only the holder renews"
    );
    a.progress = 0.5;
    assert!(s.update_leased(&a, short).await.unwrap());
    assert_eq!(s.get(a.id, None).await.unwrap().unwrap().progress, 0.5);
    // node-a stops renewing (it died, or stalled): node-b takes the job over.
    let b = claim_after_expiry(&s, "node-b").await;
    assert_eq!(b.id, a.id);
    assert_eq!(b.attempts, 2, "a takeover is a new attempt");
    assert_eq!(b.node.as_deref(), Some("node-b"));
    assert_eq!(b.progress, 0.0);
    // node-a comes back: its renewals and writes are refused; nothing it writes lands.
    assert_eq!(
        s.renew_lease(a.id, "node-a", 1, short).await.unwrap(),
        LeaseState::Lost
    );
    a.finish(JobStatus::Succeeded);
    assert!(
        !s.update_leased(&a, short).await.unwrap(),
        "the old attempt must not publish"
    );
    let now = s.get(a.id, None).await.unwrap().unwrap();
    assert_eq!(now.status, JobStatus::Running);
    assert_eq!(now.attempts, 2);
    // The holder publishes once; afterwards the job is no longer leased by anyone.
    let mut b2 = b.clone();
    b2.finish(JobStatus::Succeeded);
    assert!(s.update_leased(&b2, LONG).await.unwrap());
    assert!(
        !s.update_leased(&b2, LONG).await.unwrap(),
        "a second publish is refused"
    );
    let done = s.get(a.id, None).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.node.as_deref(), Some("node-b"));
    assert!(s.claim_next("node-c", LONG).await.unwrap().is_none());
    // Requeue through the lease (graceful stop): the job is claimable again at once.
    let q = job(false);
    s.insert(&q, None, None).await.unwrap();
    let mut c = s.claim_next("node-c", LONG).await.unwrap().unwrap();
    c.status = JobStatus::Queued;
    assert!(s.update_leased(&c, LONG).await.unwrap());
    let again = s.claim_next("node-d", LONG).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (q.id, 2));
}

async fn cancellation(s: Arc<dyn JobStore>) {
    let queued = job(true);
    s.insert(&queued, None, None).await.unwrap();
    let (c, was) = s.cancel(queued.id).await.unwrap().expect("cancel queued");
    assert_eq!((c.status, was), (JobStatus::Canceled, JobStatus::Queued));
    assert_eq!(c.error.as_ref().unwrap().code, "canceled");
    assert!(
        s.claim_next("n", LONG).await.unwrap().is_none(),
        "a canceled job is never claimed"
    );
    assert!(
        s.cancel(queued.id).await.unwrap().is_none(),
        "an ended job is not canceled again"
    );
    // A running job: the worker learns it at its next renewal, and cannot publish.
    let running = job(false);
    s.insert(&running, None, None).await.unwrap();
    let mut w = s.claim_next("n", LONG).await.unwrap().unwrap();
    let (_, was) = s.cancel(w.id).await.unwrap().expect("cancel running");
    assert_eq!(was, JobStatus::Running);
    assert_eq!(
        s.renew_lease(w.id, "n", w.attempts, LONG).await.unwrap(),
        LeaseState::Canceled
    );
    w.finish(JobStatus::Succeeded);
    assert!(!s.update_leased(&w, LONG).await.unwrap());
    assert_eq!(
        s.get(w.id, None).await.unwrap().unwrap().status,
        JobStatus::Canceled
    );
}

async fn webhook_claims(s: Arc<dyn JobStore>) {
    let j = job(true);
    s.insert(&j, None, None).await.unwrap();
    let now = OffsetDateTime::now_utc();
    assert!(
        s.claim_webhooks(now, 10, LONG).await.unwrap().is_empty(),
        "nothing is due before the job ends"
    );
    let mut w = s.claim_next("n", LONG).await.unwrap().unwrap();
    w.finish(JobStatus::Succeeded);
    assert!(s.update_leased(&w, LONG).await.unwrap());
    let later = OffsetDateTime::now_utc() + Duration::from_millis(10);
    // Racing claimers: the delivery goes to exactly one of them.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.claim_webhooks(later, 10, LONG).await.unwrap().len()
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 1, "one delivery claim among racing nodes");
    assert!(s.claim_webhooks(later, 10, LONG).await.unwrap().is_empty());
    // The attempt failed and schedules a retry: due again at that time.
    let mut d = s.get(j.id, None).await.unwrap().unwrap();
    let retry_at = later + Duration::from_secs(5);
    d.webhook.as_mut().unwrap().next_attempt_at = Some(retry_at);
    s.update(&d).await.unwrap();
    assert!(s.claim_webhooks(later, 10, LONG).await.unwrap().is_empty());
    assert_eq!(s.claim_webhooks(retry_at, 10, LONG).await.unwrap().len(), 1);
}

async fn requeue_by_node(s: Arc<dyn JobStore>) {
    for _ in 0..3 {
        s.insert(&job(false), None, None).await.unwrap();
    }
    let a = s.claim_next("node-a", LONG).await.unwrap().unwrap();
    let b = s.claim_next("node-b", LONG).await.unwrap().unwrap();
    let requeued = s.requeue_running(Some("node-a")).await.unwrap();
    assert_eq!(requeued, vec![a.id], "only node-a's running job");
    assert_eq!(
        s.get(b.id, None).await.unwrap().unwrap().status,
        JobStatus::Running
    );
    assert_eq!(
        s.renew_lease(a.id, "node-a", 1, LONG).await.unwrap(),
        LeaseState::Lost
    );
    let all = s.requeue_running(None).await.unwrap();
    assert_eq!(all, vec![b.id]);
    assert_eq!(s.counts().await.unwrap()[&JobStatus::Queued], 3);
}
