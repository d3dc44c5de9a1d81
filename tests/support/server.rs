//! The server under test: the real `audiotap serve` binary on a loopback port with its own
//! data dir, started, signalled, killed and restarted by the tests, and driven over HTTP
//! (job polling included). Everything binds 127.0.0.1:0.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use super::http::{Part, Resp, multipart, send};
use super::json::job_id;
use super::pg;
use super::run::bin;

/// How long a job may take to reach the state a test waits for.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Environment for one `audiotap serve` process (besides the listen address and data dir).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    env: Vec<(String, String)>,
    /// A command the server is started through (`wrapper… audiotap serve`).
    wrap: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new()
    }
}

impl ServerConfig {
    /// Two workers, a short webhook schedule, loopback allowed as a URL destination.
    pub fn new() -> Self {
        ServerConfig {
            env: Vec::new(),
            wrap: Vec::new(),
        }
        .env("AUDIOTAP_LOG", "audiotap=info")
        .env("AUDIOTAP_WORKERS", "2")
        .env("AUDIOTAP_WEBHOOK_BACKOFF_BASE_MS", "50")
        .env("AUDIOTAP_WEBHOOK_BACKOFF_MAX_MS", "200")
        .env("AUDIOTAP_URL_ALLOWLIST", "127.0.0.1")
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Sets every `(key, value)` of `vars` (for example [`TestS3::server_env`]).
    ///
    /// [`TestS3::server_env`]: super::s3::TestS3::server_env
    pub fn envs(self, vars: &[(String, String)]) -> Self {
        vars.iter().fold(self, |c, (k, v)| c.env(k, v))
    }

    pub fn without(mut self, k: &str) -> Self {
        self.env.retain(|(key, _)| key != k);
        self
    }

    /// The guard's default: loopback and private destinations refused.
    pub fn no_allowlist(self) -> Self {
        self.without("AUDIOTAP_URL_ALLOWLIST")
    }

    pub fn api_keys(self, keys: &str) -> Self {
        self.env("AUDIOTAP_API_KEYS", keys)
    }

    /// Start the server through this command (for example `unshare -m sh -c '…; exec "$0" "$@"'`).
    pub fn wrap(mut self, cmd: &[&str]) -> Self {
        self.wrap = cmd.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn max_upload_bytes(self, n: u64) -> Self {
        self.env("AUDIOTAP_MAX_UPLOAD_BYTES", &n.to_string())
    }
}

/// One running `audiotap serve`, killed (and reaped) on drop. Its stderr is collected and
/// printed when the test fails.
pub struct TestServer {
    child: Option<Child>,
    base: String,
    pub client: reqwest::Client,
    data: tempfile::TempDir,
    env: Vec<(String, String)>,
    wrap: Vec<String>,
    /// The `whsec_…` secret the server signs webhooks with.
    pub webhook_secret: String,
    /// The key bytes behind `webhook_secret`.
    pub webhook_key: Vec<u8>,
    log: Arc<Mutex<Vec<String>>>,
    /// Bearer key sent by the convenience helpers (`get`, `create_raw`, `job`, ...).
    pub auth: Option<String>,
}

impl TestServer {
    pub async fn start(cfg: ServerConfig) -> TestServer {
        tokio::task::spawn_blocking(move || TestServer::start_blocking(cfg))
            .await
            .expect("server start task")
    }

    pub fn start_blocking(cfg: ServerConfig) -> TestServer {
        let data = tempfile::Builder::new()
            .prefix("audiotap-api-")
            .tempdir()
            .expect("temp data dir");
        let key: [u8; 32] = rand::random();
        let webhook_secret = format!("whsec_{}", B64.encode(key));
        let mut env = cfg.env;
        // AUDIOTAP_TEST_API_DATABASE=postgres: every server on its own PostgreSQL database
        // (kept across restarts), under a stable node id, instead of its SQLite file.
        if std::env::var("AUDIOTAP_TEST_API_DATABASE").as_deref() == Ok("postgres")
            && !env.iter().any(|(k, _)| k == "AUDIOTAP_DATABASE_URL")
        {
            let admin = std::env::var("AUDIOTAP_TEST_DATABASE_URL").expect(
                "AUDIOTAP_TEST_API_DATABASE=postgres needs AUDIOTAP_TEST_DATABASE_URL (scripts/pg-test-server.sh)",
            );
            env.push((
                "AUDIOTAP_DATABASE_URL".into(),
                pg::fresh_database_blocking(&admin),
            ));
            if !env.iter().any(|(k, _)| k == "AUDIOTAP_NODE_ID") {
                env.push((
                    "AUDIOTAP_NODE_ID".into(),
                    format!("test-{}", std::process::id()),
                ));
            }
        }
        if !env.iter().any(|(k, _)| k == "AUDIOTAP_WEBHOOK_SECRET") {
            env.push(("AUDIOTAP_WEBHOOK_SECRET".into(), webhook_secret.clone()));
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("reqwest client");
        let log = Arc::new(Mutex::new(Vec::new()));
        let wrap = cfg.wrap;
        let (child, base) = spawn_server(data.path(), &env, &wrap, &log);
        TestServer {
            child: Some(child),
            base,
            client,
            data,
            env,
            wrap,
            webhook_secret,
            webhook_key: key.to_vec(),
            log,
            auth: None,
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Send a signal (`STOP`, `CONT`, …) to the server process.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("server running").id();
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {pid}");
        self.log.lock().unwrap().push(format!("---- SIG{sig} ----"));
    }

    /// SIGKILL the server and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.log
            .lock()
            .unwrap()
            .push("---- killed (SIGKILL) ----".into());
    }

    /// Send SIGTERM (graceful shutdown) and wait up to `timeout` for the process to exit;
    /// returns whether it exited successfully in time.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.log
                    .lock()
                    .unwrap()
                    .push("---- exited after SIGTERM ----".into());
                return status.success();
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start a new process on the same data dir and environment (a new port).
    pub async fn restart(&mut self) {
        self.kill9();
        let (data, env, wrap, log) = (
            self.data.path().to_path_buf(),
            self.env.clone(),
            self.wrap.clone(),
            self.log.clone(),
        );
        let (child, base) =
            tokio::task::spawn_blocking(move || spawn_server(&data, &env, &wrap, &log))
                .await
                .expect("restart task");
        self.child = Some(child);
        self.base = base;
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// `path` as the server process sees it (through `/proc/PID/root`, so inside its own
    /// mount namespace when it has one).
    pub fn proc_root_path(&self, path: &Path) -> PathBuf {
        let pid = self.pid().expect("the server is running");
        PathBuf::from(format!("/proc/{pid}/root{}", path.display()))
    }

    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    fn authed(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        }
    }

    pub fn get_req(&self, path: &str) -> reqwest::RequestBuilder {
        self.authed(self.client.get(self.url(path)))
    }

    pub fn post_req(&self, path: &str) -> reqwest::RequestBuilder {
        self.authed(self.client.post(self.url(path)))
    }

    pub fn delete_req(&self, path: &str) -> reqwest::RequestBuilder {
        self.authed(self.client.delete(self.url(path)))
    }

    pub async fn get(&self, path: &str) -> Resp {
        send(self.get_req(path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        send(self.delete_req(path)).await
    }

    /// `POST path` with a raw video body.
    pub async fn create_raw(
        &self,
        path_and_query: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Resp {
        send(
            self.post_req(path_and_query)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// `POST path` with a `multipart/form-data` body of `parts`.
    pub async fn create_multipart(&self, path_and_query: &str, parts: &[Part]) -> Resp {
        let (content_type, body) = multipart(parts);
        self.create_raw(path_and_query, body, &content_type).await
    }

    /// `POST /v1/jobs` with a JSON body.
    pub async fn create_json(&self, body: &Value) -> Resp {
        send(
            self.post_req("/v1/jobs")
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// Create a job from a JSON body and return its id (asserting 202).
    pub async fn submit_json(&self, body: &Value) -> String {
        let r = self.create_json(body).await;
        r.expect_status(202);
        job_id(&r.json())
    }

    /// Create a job from a raw body and return its id (asserting 202).
    pub async fn submit_raw(&self, query: &str, body: Vec<u8>) -> String {
        let r = self
            .create_raw(&format!("/v1/jobs{query}"), body, "video/mp4")
            .await;
        r.expect_status(202);
        job_id(&r.json())
    }

    pub async fn job(&self, id: &str) -> Value {
        let r = self.get(&format!("/v1/jobs/{id}")).await;
        r.expect_status(200);
        r.json()
    }

    /// Poll the job until `pred` holds; panics after [`JOB_TIMEOUT`] with the last job JSON.
    pub async fn wait_job(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + JOB_TIMEOUT;
        loop {
            let job = self.job(id).await;
            if pred(&job) {
                return job;
            }
            if Instant::now() > deadline {
                panic!("job {id}: not {what} within {JOB_TIMEOUT:?}; last seen:\n{job:#}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Poll until the job is succeeded, failed or canceled.
    pub async fn wait_terminal(&self, id: &str) -> Value {
        self.wait_job(id, "finished", |j| {
            matches!(
                j["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            )
        })
        .await
    }

    /// Poll until the job is finished and assert it ended in `status`.
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        let job = self.wait_terminal(id).await;
        assert_eq!(
            job["status"], status,
            "job {id} ended {} (expected {status}):\n{job:#}",
            job["status"]
        );
        job
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- audiotap serve log ({}) ----\n{}\n---- end of log ----",
                self.base,
                self.log_text()
            );
        }
    }
}

/// True when the servers run on PostgreSQL (AUDIOTAP_TEST_API_DATABASE=postgres), a store
/// nodes share: uploads then wait in shared storage rather than on the node's disk.
pub fn shared_job_store() -> bool {
    std::env::var("AUDIOTAP_TEST_API_DATABASE").as_deref() == Ok("postgres")
}

fn spawn_server(
    data_dir: &Path,
    env: &[(String, String)],
    wrap: &[String],
    log: &Arc<Mutex<Vec<String>>>,
) -> (Child, String) {
    let mut cmd = match wrap.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin());
            c
        }
        None => Command::new(bin()),
    };
    cmd.arg("serve");
    // Only what the test sets: no AUDIOTAP_* or proxy settings from the caller's shell.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("AUDIOTAP_") || k.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("AUDIOTAP_LISTEN", "127.0.0.1:0")
        .env("AUDIOTAP_DATA_DIR", data_dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn audiotap serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel::<String>();
    let log2 = log.clone();
    std::thread::spawn(move || {
        // Keeps draining after the listening line so the pipe never fills.
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("audiotap: listening on ").nth(1)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.trim().to_string());
            }
            if let Ok(mut l) = log2.lock()
                && l.len() < 20_000
            {
                l.push(line);
            }
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(base) => {
            assert!(
                base.starts_with("http://127.0.0.1:"),
                "server announced {base:?}, expected a 127.0.0.1 address"
            );
            (child, base.trim_end_matches('/').to_string())
        }
        Err(e) => {
            let why = match e {
                mpsc::RecvTimeoutError::Timeout => {
                    format!("printed no listening line within {START_TIMEOUT:?}")
                }
                mpsc::RecvTimeoutError::Disconnected => {
                    "closed stderr before its listening line".to_string()
                }
            };
            let _ = child.kill();
            let status = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "`{} serve` {why} (exit: {status:?}); stderr:\n{}",
                bin().display(),
                log.lock().map(|l| l.join("\n")).unwrap_or_default()
            );
        }
    }
}
