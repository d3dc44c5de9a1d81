//! The PostgreSQL the test run started (scripts/pg-test-server.sh): a fresh database per
//! test, so tests running at once never see each other's jobs.

use super::skip::server_from_env;

/// `AUDIOTAP_TEST_DATABASE_URL`, or `None` to skip (failing instead when CI is set: there
/// the PostgreSQL suite must run).
pub fn admin_url(what: &str) -> Option<String> {
    server_from_env(
        "AUDIOTAP_TEST_DATABASE_URL",
        what,
        "scripts/pg-test-server.sh",
    )
}

/// Create an empty database on the test server and return its URL.
pub async fn fresh_database(admin: &str) -> String {
    use sqlx::Connection;
    let name = format!("audiotap_t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {admin}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let _ = conn.close().await;
    let (base, _) = admin
        .rsplit_once('/')
        .expect("database URL ends in /<database>");
    format!("{base}/{name}")
}

/// Blocking form, callable from anywhere (its own thread and runtime).
pub fn fresh_database_blocking(admin: &str) -> String {
    let admin = admin.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(fresh_database(&admin))
    })
    .join()
    .expect("create database thread")
}
