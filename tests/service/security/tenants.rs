//! Tenant isolation between API keys: no key sees, fetches, deletes or lists another's
//! jobs, idempotency keys do not collide, ownership survives a restart, and near-miss keys
//! are refused.

use super::WAV;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_cannot_see_touch_or_collide_with_each_other() {
    const A: &str = "tenant-a-key-aaaaaaaa";
    const B: &str = "tenant-b-key-bbbbbbbb";
    let mut srv = TestServer::start(ServerConfig::new().api_keys(&format!("{A},{B}"))).await;

    // The same Idempotency-Key under two keys makes two jobs, not one shared job.
    let mk = |key: &'static str| {
        srv.post_req("/v1/jobs")
            .bearer_auth(key)
            .header("content-type", "audio/wav")
            .header("idempotency-key", "shared-key-1")
            .body(media_bytes(WAV))
    };
    let ra = send(mk(A)).await;
    ra.expect_status(202);
    let rb = send(mk(B)).await;
    rb.expect_status(202);
    let (ida, idb) = (job_id(&ra.json()), job_id(&rb.json()));
    assert_ne!(ida, idb, "two tenants' idempotency keys collided");

    srv.auth = Some(A.into());
    srv.wait_status(&ida, "succeeded").await;
    srv.auth = Some(B.into());
    srv.wait_status(&idb, "succeeded").await;

    for (me, mine, theirs) in [(A, &ida, &idb), (B, &idb, &ida)] {
        srv.auth = Some(me.into());
        srv.get(&format!("/v1/jobs/{theirs}"))
            .await
            .expect_problem(404, Some("not_found"));
        srv.get(&format!("/v1/jobs/{theirs}/output"))
            .await
            .expect_problem(404, Some("not_found"));
        send(
            srv.get_req(&format!("/v1/jobs/{theirs}/output"))
                .header("range", "bytes=0-10"),
        )
        .await
        .expect_problem(404, Some("not_found"));
        srv.delete(&format!("/v1/jobs/{theirs}"))
            .await
            .expect_problem(404, Some("not_found"));
        for q in ["", "?status=succeeded", "?limit=1", "?status=queued"] {
            let page = srv.get(&format!("/v1/jobs{q}")).await;
            page.expect_status(200);
            let ids = page_ids(&page.json());
            assert!(
                !ids.contains(theirs),
                "{me} listed another tenant's job ({q})"
            );
            if q.is_empty() {
                assert_eq!(&ids, &vec![mine.clone()]);
            }
        }
    }
    // Both jobs are intact after the other's attempts.
    srv.auth = Some(A.into());
    srv.get(&format!("/v1/jobs/{ida}/output"))
        .await
        .expect_status(200);
    srv.auth = Some(B.into());
    srv.get(&format!("/v1/jobs/{idb}/output"))
        .await
        .expect_status(200);

    // Ownership survives a restart (it is stored, not held in memory).
    srv.restart().await;
    srv.auth = Some(A.into());
    srv.get(&format!("/v1/jobs/{idb}"))
        .await
        .expect_problem(404, Some("not_found"));
    srv.get(&format!("/v1/jobs/{ida}")).await.expect_status(200);

    // Near-miss keys: a prefix, different case, trailing junk, another scheme.
    for auth in [
        "Bearer tenant-a-key-aaaaaaa",
        "Bearer TENANT-A-KEY-AAAAAAAA",
        "Bearer tenant-a-key-aaaaaaaax",
        "Basic dGVuYW50LWEta2V5LWFhYWFhYWFh",
        "tenant-a-key-aaaaaaaa",
        "Bearer",
    ] {
        send(
            srv.client
                .get(srv.url(&format!("/v1/jobs/{ida}")))
                .header("authorization", auth),
        )
        .await
        .expect_problem(401, Some("unauthorized"));
    }
}
