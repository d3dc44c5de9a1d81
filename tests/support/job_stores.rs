//! The job stores the store contracts run on (a new SQLite file always, a new database on
//! the test run's PostgreSQL when there is one), and the macro that makes one test per
//! store for each check of a contract.

use std::sync::Arc;

use audiotap::jobs::store::{self, JobStore};

use super::pg;

/// A job store on a new SQLite file, which lives as long as the returned folder.
pub async fn sqlite_store() -> (Arc<dyn JobStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
    (store::open(&url).await.expect("open sqlite"), dir)
}

/// A job store on a new PostgreSQL database, or `None` to skip `what` (failing instead when
/// CI is set, see [`pg::admin_url`]).
pub async fn postgres_store(what: &str) -> Option<Arc<dyn JobStore>> {
    let admin = pg::admin_url(what)?;
    let url = pg::fresh_database(&admin).await;
    Some(store::open(&url).await.expect("open postgres"))
}

/// One test per job store for each check: `<check>::sqlite`, and `<check>::postgres` (which
/// skips without the test run's PostgreSQL). A check is an `async fn check(store: Arc<dyn
/// JobStore>)` in the calling module; `threads` is the test runtime's worker count and
/// `suite` names the contract in the skip message.
macro_rules! on_both_stores {
    (threads = $threads:tt, suite = $suite:literal; $($check:ident),* $(,)?) => {$(
        mod $check {
            #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn sqlite() {
                let (s, _dir) = $crate::support::sqlite_store().await;
                assert_eq!(s.kind(), "sqlite");
                super::$check(s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn postgres() {
                let what = concat!($suite, " ", stringify!($check), " on PostgreSQL");
                let Some(s) = $crate::support::postgres_store(what).await else { return };
                assert_eq!(s.kind(), "postgres");
                super::$check(s).await;
            }
        }
    )*};
}
pub(crate) use on_both_stores;
