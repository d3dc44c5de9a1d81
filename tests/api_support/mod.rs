//! Helpers for the HTTP integration tests (`tests/api.rs`): the real `audiotap serve`
//! binary on a loopback port with its own data dir, a small response wrapper that refuses
//! any 500, job polling, hand-built multipart bodies, and loopback helper servers (a media
//! source that can stall, a webhook receiver that checks Standard Webhooks signatures).
//!
//! Everything binds 127.0.0.1:0; nothing here contacts another address.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

#[path = "../pg_support/mod.rs"]
pub mod pg_support;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::Value;

/// How long a job may take to reach the state a test waits for.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Bytes of `fixtures/media/<name>`.
pub fn media(name: &str) -> Vec<u8> {
    read_fixture(&root().join("fixtures/media").join(name))
}

/// Bytes of `fixtures/bad/<name>`.
pub fn bad(name: &str) -> Vec<u8> {
    read_fixture(&root().join("fixtures/bad").join(name))
}

fn read_fixture(p: &Path) -> Vec<u8> {
    std::fs::read(p)
        .unwrap_or_else(|e| panic!("fixture {}: {e} (run fixtures/generate.sh)", p.display()))
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// Entries of a directory (sorted); empty when it does not exist.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------

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
                pg_support::fresh_database_blocking(&admin),
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

    /// `POST /v1/jobs` with a JSON body.
    pub async fn create_json(&self, body: &Value) -> Resp {
        send(
            self.post_req("/v1/jobs")
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
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

/// The binary under test: cargo's, or `AUDIOTAP_TEST_BIN` (for example a release build).
pub fn bin() -> PathBuf {
    std::env::var_os("AUDIOTAP_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_audiotap")))
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

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

/// A fully read response.
pub struct Resp {
    pub what: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// Send and read the whole body. No test expects a 500: one fails the test right here.
pub async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let (client, req) = rb.build_split();
    let req = req.expect("build request");
    let what = format!("{} {}", req.method(), req.url());
    let resp = client
        .execute(req)
        .await
        .unwrap_or_else(|e| panic!("{what}: request failed: {e:?}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{what}: reading the body failed: {e:?}"))
        .to_vec();
    let r = Resp {
        what,
        status,
        headers,
        body,
    };
    assert!(r.status != 500, "{}: answered 500: {}", r.what, r.text());
    r
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(4000)]).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {}", self.what, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| {
            v.to_str()
                .unwrap_or_else(|_| panic!("{}: header {name} is not ASCII", self.what))
                .to_string()
        })
    }

    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }

    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{}: status {} (expected {status}); body: {}",
            self.what,
            self.status,
            self.text()
        );
        self
    }

    /// Assert an RFC 9457 problem with this status (and code, when given); returns it.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: Option<&str>) -> Value {
        self.expect_status(status);
        let p = check_problem(self);
        if let Some(code) = code {
            assert_eq!(
                p["code"], code,
                "{}: problem code {} (expected {code}): {p}",
                self.what, p["code"]
            );
        }
        p
    }

    /// Assert a problem with one of these codes.
    #[track_caller]
    pub fn expect_problem_any(&self, status: u16, codes: &[&str]) -> Value {
        let p = self.expect_problem(status, None);
        let code = p["code"].as_str().unwrap_or_default();
        assert!(
            codes.contains(&code),
            "{}: problem code {code:?} is not one of {codes:?}: {p}",
            self.what
        );
        p
    }
}

/// Every error answer is `application/problem+json` with `code`, `status`, `title`, `type`.
#[track_caller]
pub fn check_problem(r: &Resp) -> Value {
    let ct = r.content_type();
    assert!(
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/problem+json"),
        "{}: error answered with Content-Type {ct:?}, expected application/problem+json; body: {}",
        r.what,
        r.text()
    );
    let p = r.json();
    let code = p["code"].as_str().map(str::parse::<audiotap::ErrorCode>);
    assert!(
        code.is_some_and(|c| c.is_ok_and(|c| c.http_status() == r.status)),
        "{}: problem code not in the registry (src/error_code.rs), or with another status: {p}",
        r.what
    );
    assert_eq!(
        p["status"].as_u64(),
        Some(u64::from(r.status)),
        "{}: problem status differs from the HTTP status: {p}",
        r.what
    );
    assert!(
        p["title"].is_string() && p["type"].is_string(),
        "{}: problem without title/type: {p}",
        r.what
    );
    p
}

pub fn job_id(job: &Value) -> String {
    job["id"]
        .as_str()
        .unwrap_or_else(|| panic!("job JSON without id: {job}"))
        .to_string()
}

/// Status of a named step.
pub fn step_status<'a>(job: &'a Value, name: &str) -> &'a str {
    job["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .and_then(|s| s["status"].as_str())
        .unwrap_or_else(|| panic!("job has no step {name}: {job:#}"))
}

/// Ids of a `GET /v1/jobs` page.
pub fn page_ids(page: &Value) -> Vec<String> {
    page["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobs array: {page}"))
        .iter()
        .map(job_id)
        .collect()
}

/// The leaves where two JSON documents differ, as `path: a -> b`.
pub fn json_diff(a: &Value, b: &Value) -> Vec<String> {
    fn walk(path: String, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let (p, q) = (
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                    );
                    walk(format!("{path}.{k}"), p, q, out);
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(format!("{path}[{i}]"), p, q, out);
                }
            }
            _ if a != b => out.push(format!("{path}: {a} -> {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(String::new(), a, b, &mut out);
    out
}

// ---------------------------------------------------------------------------------------
// Multipart (reqwest is built without its multipart feature)
// ---------------------------------------------------------------------------------------

pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

impl Part {
    pub fn file(name: &str, filename: &str, content_type: &str, data: Vec<u8>) -> Part {
        Part {
            name: name.into(),
            filename: Some(filename.into()),
            content_type: Some(content_type.into()),
            data,
        }
    }
    pub fn text(name: &str, content_type: &str, text: &str) -> Part {
        Part {
            name: name.into(),
            filename: None,
            content_type: Some(content_type.into()),
            data: text.as_bytes().to_vec(),
        }
    }
}

/// `(Content-Type header, body)` of a multipart/form-data request.
pub fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = format!("----audiotap-test-{:016x}", rand::random::<u64>());
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disp = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
        if let Some(f) = &p.filename {
            disp.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend_from_slice(disp.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = &p.content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&p.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

// ---------------------------------------------------------------------------------------
// WAV
// ---------------------------------------------------------------------------------------

/// `(sample_rate, channels, bits, frames)` of a WAV, read with hound (and every sample read).
pub fn wav_info(bytes: &[u8]) -> (u32, u16, u16, u32) {
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes))
        .unwrap_or_else(|e| panic!("not a valid WAV: {e}"));
    let spec = r.spec();
    let frames = r.duration();
    let mut n = 0usize;
    match spec.sample_format {
        hound::SampleFormat::Int => {
            for s in r.samples::<i32>() {
                s.unwrap_or_else(|e| panic!("WAV sample {n}: {e}"));
                n += 1;
            }
        }
        hound::SampleFormat::Float => {
            for s in r.samples::<f32>() {
                s.unwrap_or_else(|e| panic!("WAV sample {n}: {e}"));
                n += 1;
            }
        }
    }
    assert_eq!(
        n as u64,
        u64::from(frames) * u64::from(spec.channels),
        "WAV data length disagrees with its header"
    );
    (
        spec.sample_rate,
        spec.channels,
        spec.bits_per_sample,
        frames,
    )
}

// ---------------------------------------------------------------------------------------
// Loopback helper servers
// ---------------------------------------------------------------------------------------

/// An HTTP server on 127.0.0.1:0 that serves `body` at `/v.mp4` after `delay`, and counts
/// every request it sees (any path).
pub struct MediaSource {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl MediaSource {
    pub async fn start(body: Vec<u8>, delay: Duration) -> MediaSource {
        use axum::http::{StatusCode, header};
        use axum::response::IntoResponse;
        let hits = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(body);
        let (h, b) = (hits.clone(), body.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (h, b) = (h.clone(), b.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                if uri.path() == "/v.mp4" {
                    ([(header::CONTENT_TYPE, "video/mp4")], b.as_ref().clone()).into_response()
                } else {
                    StatusCode::NOT_FOUND.into_response()
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind media source");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MediaSource { addr, hits, task }
    }

    /// `http://127.0.0.1:PORT/v.mp4`
    pub fn url(&self) -> String {
        format!("http://{}/v.mp4", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for MediaSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One delivery the receiver saw.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The Standard Webhooks signature verified (HMAC-SHA256 of "id.timestamp.body").
    pub signature_ok: bool,
    /// The timestamp was within five minutes of now.
    pub timestamp_fresh: bool,
    /// What the receiver answered.
    pub answered: u16,
}

/// A webhook receiver on 127.0.0.1:0 that answers `answers[n]` to the n-th delivery (200
/// once the list runs out) and verifies each signature itself.
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start(key: Vec<u8>, answers: Vec<u16>) -> WebhookReceiver {
        use axum::http::{HeaderMap, StatusCode};
        let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::new(Mutex::new(Vec::new()));
        let (d, key, answers) = (deliveries.clone(), Arc::new(key), Arc::new(answers));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (d, key, answers) = (d.clone(), key.clone(), answers.clone());
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let (id, ts, sig) = (
                        h("webhook-id"),
                        h("webhook-timestamp"),
                        h("webhook-signature"),
                    );
                    let signature_ok = match (&id, &ts, &sig) {
                        (Some(id), Some(ts), Some(sig)) => {
                            verify_signature(&key, id, ts, &body, sig)
                        }
                        _ => false,
                    };
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs() as i64;
                    let timestamp_fresh = ts
                        .as_deref()
                        .and_then(|t| t.parse::<i64>().ok())
                        .is_some_and(|t| (now - t).abs() <= 300);
                    let mut list = d.lock().unwrap();
                    let answered = answers.get(list.len()).copied().unwrap_or(200);
                    list.push(Delivery {
                        id,
                        timestamp: ts,
                        signature: sig,
                        content_type: h("content-type"),
                        body: body.to_vec(),
                        signature_ok,
                        timestamp_fresh,
                        answered,
                    });
                    StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook receiver");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver {
            addr,
            deliveries,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Standard Webhooks: `webhook-signature` holds space-separated `v1,<base64>` entries; one
/// must equal base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
pub fn verify_signature(key: &[u8], id: &str, ts: &str, body: &[u8], header: &str) -> bool {
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = B64.encode(mac.finalize().into_bytes());
    header
        .split_ascii_whitespace()
        .filter_map(|e| e.strip_prefix("v1,"))
        .any(|s| s == expected)
}
