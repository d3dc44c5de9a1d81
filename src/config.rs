//! The one service configuration: embedded defaults, then an optional TOML file
//! (`--config`), then `AUDIOTAP_*` environment variables; validated once at start with a
//! message that names the offending setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where outputs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    Local,
    S3,
}

/// What a `serve` process does: `all` (default), only the HTTP API (`api`: accepts jobs,
/// runs none), or only jobs and webhook deliveries (`worker`: serves just /healthz,
/// /readyz and /metrics). Many nodes share one PostgreSQL job store and one S3 bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    All,
    Api,
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        }
    }

    /// Serves `/v1` (jobs and synchronous extraction).
    pub fn serves_api(self) -> bool {
        self != Role::Worker
    }

    /// Claims and runs jobs, and delivers webhooks.
    pub fn runs_jobs(self) -> bool {
        self != Role::Api
    }
}

/// A secret that never prints.
#[derive(Clone, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to serve on.
    pub listen: SocketAddr,
    /// Local storage, the SQLite job store and temporary files live here.
    pub data_dir: PathBuf,
    pub storage: StorageKind,
    pub s3_bucket: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_prefix: String,
    pub s3_path_style: bool,
    /// Redirect output downloads to presigned S3 URLs instead of streaming them.
    pub s3_presign_downloads: bool,
    /// `sqlite://…` (default: `<data_dir>/jobs.db`) or `postgres://…`.
    pub database_url: Option<String>,
    /// What this process does (`--role`).
    pub role: Role,
    /// This node's name in leases and on the jobs it runs (`node` in the job JSON). Default:
    /// the host name and a random suffix. Set a stable one to have a restarted node requeue
    /// at once the jobs it left running on a shared store.
    pub node_id: Option<String>,
    /// How long a claim holds without renewal; a node that dies loses its jobs to another
    /// node after this. Renewed every third of it.
    pub lease_secs: u64,
    /// Jobs running at once.
    pub workers: usize,
    /// Jobs accepted but not yet running before new ones get 503.
    pub max_queue: usize,
    pub max_upload_bytes: u64,
    /// Bearer keys; with none, only loopback clients are served.
    pub api_keys: Vec<Secret>,
    /// Hosts or CIDRs exempt from the private-address refusal (sources and webhooks).
    pub url_allowlist: Vec<String>,
    /// `whsec_…` signing key; generated and stored in the data dir when absent.
    pub webhook_secret: Option<Secret>,
    pub webhook_backoff_base_ms: u64,
    pub webhook_backoff_max_ms: u64,
    pub webhook_max_attempts: u32,
    /// Attempts at a job that fails for a transient reason (storage down, crash).
    pub job_max_attempts: u32,
    /// Wall-clock budget of one extraction.
    pub job_timeout_secs: u64,
    /// Timeout of a URL source download.
    pub fetch_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    /// How long a finished job keeps retrying the upload of its output (storage outage),
    /// with exponential backoff, before the attempt counts as failed.
    pub store_retry_secs: u64,
    /// Job requests whose bodies may be received at once; more get 503 `busy`.
    pub max_concurrent_uploads: usize,
    /// How long a resumable (tus) upload may go without a byte before it is removed.
    pub upload_expiry_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("./data"),
            storage: StorageKind::Local,
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_prefix: String::new(),
            s3_path_style: false,
            s3_presign_downloads: false,
            database_url: None,
            role: Role::All,
            node_id: None,
            lease_secs: 30,
            workers: cores,
            max_queue: 1000,
            max_upload_bytes: 4 << 30,
            api_keys: Vec::new(),
            url_allowlist: Vec::new(),
            webhook_secret: None,
            webhook_backoff_base_ms: 5_000,
            webhook_backoff_max_ms: 10 * 60 * 1000,
            webhook_max_attempts: 8,
            job_max_attempts: 3,
            job_timeout_secs: 3 * 3600,
            fetch_timeout_secs: 3600,
            shutdown_grace_secs: 30,
            store_retry_secs: 900,
            max_concurrent_uploads: 64,
            upload_expiry_secs: 24 * 3600,
        }
    }
}

/// A configuration problem, naming the setting (file key or `AUDIOTAP_*` variable) at fault.
/// Every variant is `config` in the registry: `serve` prints `error[config]` and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given with `--config` cannot be read.
    #[error("configuration: cannot read {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML, or holds an unknown key or a value of the wrong type.
    #[error("configuration: {}", path.display())]
    Syntax {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A setting has a value that does not parse or is out of range. `value` is as the
    /// operator wrote it (never a secret: those are checked without printing them).
    #[error("configuration: {key} = {value}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    /// A setting breaks a rule, alone (a secret, shown without its value) or together with
    /// others (`storage = s3` without a bucket).
    #[error("configuration: {key}: {reason}")]
    Rule { key: &'static str, reason: String },
    /// The webhook signing secret is not `whsec_` + base64 of a 16 to 64 byte key.
    #[error("invalid webhook secret: {0}")]
    InvalidSecret(#[from] crate::net::webhook::InvalidSecret),
}

impl ConfigError {
    /// The stable code of every configuration error.
    pub fn code(&self) -> crate::ErrorCode {
        crate::ErrorCode::Config
    }

    fn invalid(key: impl Into<String>, value: impl std::fmt::Debug, reason: impl ToString) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            value: format!("{value:?}"),
            reason: reason.to_string(),
        }
    }

    fn rule(key: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Rule {
            key,
            reason: reason.into(),
        }
    }
}

impl Config {
    /// Defaults, then `file` (TOML, keys as the field names), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    source: Box::new(e),
                })?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Apply `AUDIOTAP_*` variables (through `get`, so tests need no process environment).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            v.trim()
                .parse()
                .map_err(|e| ConfigError::invalid(name, v, e))
        }
        fn boolean(name: &str, v: &str) -> Result<bool, ConfigError> {
            match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" | "" => Ok(false),
                _ => Err(ConfigError::invalid(name, v, "expected true or false")),
            }
        }
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        macro_rules! env {
            ($name:literal, $apply:expr) => {
                if let Some(v) = get($name) {
                    #[allow(clippy::redundant_closure_call)]
                    ($apply)($name, v.as_str())?;
                }
            };
        }
        env!("AUDIOTAP_LISTEN", |n, v| -> Result<(), ConfigError> {
            self.listen = parse(n, v)?;
            Ok(())
        });
        env!("AUDIOTAP_DATA_DIR", |_,
                                   v: &str|
         -> Result<(), ConfigError> {
            self.data_dir = PathBuf::from(v);
            Ok(())
        });
        env!("AUDIOTAP_STORAGE", |n,
                                  v: &str|
         -> Result<(), ConfigError> {
            self.storage = match v.trim().to_ascii_lowercase().as_str() {
                "local" => StorageKind::Local,
                "s3" => StorageKind::S3,
                _ => return Err(ConfigError::invalid(n, v, "expected local or s3")),
            };
            Ok(())
        });
        env!("AUDIOTAP_S3_BUCKET", |_,
                                    v: &str|
         -> Result<(), ConfigError> {
            self.s3_bucket = Some(v.to_string());
            Ok(())
        });
        env!("AUDIOTAP_S3_ENDPOINT", |_,
                                      v: &str|
         -> Result<(), ConfigError> {
            self.s3_endpoint = Some(v.to_string());
            Ok(())
        });
        env!("AUDIOTAP_S3_REGION", |_,
                                    v: &str|
         -> Result<(), ConfigError> {
            self.s3_region = v.to_string();
            Ok(())
        });
        env!("AUDIOTAP_S3_PREFIX", |_,
                                    v: &str|
         -> Result<(), ConfigError> {
            self.s3_prefix = v.to_string();
            Ok(())
        });
        env!(
            "AUDIOTAP_S3_PATH_STYLE",
            |n, v| -> Result<(), ConfigError> {
                self.s3_path_style = boolean(n, v)?;
                Ok(())
            }
        );
        env!("AUDIOTAP_S3_PRESIGN_DOWNLOADS", |n,
                                               v|
         -> Result<
            (),
            ConfigError,
        > {
            self.s3_presign_downloads = boolean(n, v)?;
            Ok(())
        });
        env!(
            "AUDIOTAP_DATABASE_URL",
            |_, v: &str| -> Result<(), ConfigError> {
                self.database_url = Some(v.to_string());
                Ok(())
            }
        );
        env!("AUDIOTAP_ROLE", |n, v: &str| -> Result<(), ConfigError> {
            self.role = match v.trim().to_ascii_lowercase().as_str() {
                "all" => Role::All,
                "api" => Role::Api,
                "worker" => Role::Worker,
                _ => return Err(ConfigError::invalid(n, v, "expected all, api or worker")),
            };
            Ok(())
        });
        env!("AUDIOTAP_NODE_ID", |_,
                                  v: &str|
         -> Result<(), ConfigError> {
            self.node_id = Some(v.trim().to_string());
            Ok(())
        });
        env!("AUDIOTAP_LEASE_SECS", |n, v| -> Result<(), ConfigError> {
            self.lease_secs = parse(n, v)?;
            Ok(())
        });
        env!("AUDIOTAP_WORKERS", |n, v| -> Result<(), ConfigError> {
            self.workers = parse(n, v)?;
            Ok(())
        });
        env!("AUDIOTAP_MAX_QUEUE", |n, v| -> Result<(), ConfigError> {
            self.max_queue = parse(n, v)?;
            Ok(())
        });
        env!(
            "AUDIOTAP_MAX_UPLOAD_BYTES",
            |n, v| -> Result<(), ConfigError> {
                self.max_upload_bytes = parse(n, v)?;
                Ok(())
            }
        );
        env!("AUDIOTAP_API_KEYS", |_,
                                   v: &str|
         -> Result<(), ConfigError> {
            self.api_keys = list(v).into_iter().map(Secret).collect();
            Ok(())
        });
        env!(
            "AUDIOTAP_URL_ALLOWLIST",
            |_, v: &str| -> Result<(), ConfigError> {
                self.url_allowlist = list(v);
                Ok(())
            }
        );
        env!(
            "AUDIOTAP_WEBHOOK_SECRET",
            |_, v: &str| -> Result<(), ConfigError> {
                self.webhook_secret = Some(Secret(v.trim().to_string()));
                Ok(())
            }
        );
        env!("AUDIOTAP_WEBHOOK_BACKOFF_BASE_MS", |n,
                                                  v|
         -> Result<
            (),
            ConfigError,
        > {
            self.webhook_backoff_base_ms = parse(n, v)?;
            Ok(())
        });
        env!("AUDIOTAP_WEBHOOK_BACKOFF_MAX_MS", |n,
                                                 v|
         -> Result<
            (),
            ConfigError,
        > {
            self.webhook_backoff_max_ms = parse(n, v)?;
            Ok(())
        });
        env!("AUDIOTAP_WEBHOOK_MAX_ATTEMPTS", |n,
                                               v|
         -> Result<
            (),
            ConfigError,
        > {
            self.webhook_max_attempts = parse(n, v)?;
            Ok(())
        });
        env!(
            "AUDIOTAP_JOB_MAX_ATTEMPTS",
            |n, v| -> Result<(), ConfigError> {
                self.job_max_attempts = parse(n, v)?;
                Ok(())
            }
        );
        env!(
            "AUDIOTAP_JOB_TIMEOUT_SECS",
            |n, v| -> Result<(), ConfigError> {
                self.job_timeout_secs = parse(n, v)?;
                Ok(())
            }
        );
        env!("AUDIOTAP_FETCH_TIMEOUT_SECS", |n,
                                             v|
         -> Result<
            (),
            ConfigError,
        > {
            self.fetch_timeout_secs = parse(n, v)?;
            Ok(())
        });
        env!("AUDIOTAP_UPLOAD_EXPIRY_SECS", |n,
                                             v|
         -> Result<
            (),
            ConfigError,
        > {
            self.upload_expiry_secs = parse(n, v)?;
            Ok(())
        });
        env!("AUDIOTAP_MAX_CONCURRENT_UPLOADS", |n,
                                                 v|
         -> Result<
            (),
            ConfigError,
        > {
            self.max_concurrent_uploads = parse(n, v)?;
            Ok(())
        });
        env!(
            "AUDIOTAP_STORE_RETRY_SECS",
            |n, v| -> Result<(), ConfigError> {
                self.store_retry_secs = parse(n, v)?;
                Ok(())
            }
        );
        env!("AUDIOTAP_SHUTDOWN_GRACE_SECS", |n,
                                              v|
         -> Result<
            (),
            ConfigError,
        > {
            self.shutdown_grace_secs = parse(n, v)?;
            Ok(())
        });
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.workers == 0 || self.workers > 1024 {
            return Err(ConfigError::invalid(
                "workers",
                self.workers,
                "must be between 1 and 1024",
            ));
        }
        if self.upload_expiry_secs == 0 {
            return Err(ConfigError::invalid(
                "upload_expiry_secs",
                0,
                "must be at least 1",
            ));
        }
        if self.max_concurrent_uploads == 0 {
            return Err(ConfigError::invalid(
                "max_concurrent_uploads",
                0,
                "must be at least 1",
            ));
        }
        if self.max_queue == 0 {
            return Err(ConfigError::invalid("max_queue", 0, "must be at least 1"));
        }
        if self.max_upload_bytes == 0 {
            return Err(ConfigError::invalid(
                "max_upload_bytes",
                0,
                "must be above 0",
            ));
        }
        if self.storage == StorageKind::S3 && self.s3_bucket.as_deref().is_none_or(str::is_empty) {
            return Err(ConfigError::rule(
                "s3_bucket",
                "storage = s3 needs AUDIOTAP_S3_BUCKET",
            ));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            // Not shown: the URL may hold a password.
            return Err(ConfigError::rule(
                "database_url",
                "must start with sqlite: or postgres://",
            ));
        }
        if let Some(id) = &self.node_id
            && (id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
        {
            return Err(ConfigError::invalid(
                "node_id",
                id,
                "must be 1 to 64 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        if self.role != Role::All && !self.shared_job_store() {
            return Err(ConfigError::rule(
                "role",
                format!(
                    "role = {} needs a job store other nodes share: set AUDIOTAP_DATABASE_URL=postgres://… (with SQLite, run one node with role = all)",
                    self.role.as_str()
                ),
            ));
        }
        if !(3..=3600).contains(&self.lease_secs) {
            return Err(ConfigError::invalid(
                "lease_secs",
                self.lease_secs,
                "must be between 3 and 3600",
            ));
        }
        for (key, attempts) in [
            ("webhook_max_attempts", self.webhook_max_attempts),
            ("job_max_attempts", self.job_max_attempts),
        ] {
            if attempts == 0 {
                return Err(ConfigError::invalid(key, 0, "must be at least 1"));
            }
        }
        if self.webhook_backoff_base_ms == 0 {
            return Err(ConfigError::invalid(
                "webhook_backoff_base_ms",
                0,
                "must be above 0",
            ));
        }
        if self.webhook_backoff_max_ms < self.webhook_backoff_base_ms {
            return Err(ConfigError::rule(
                "webhook_backoff_max_ms",
                format!(
                    "{} is below webhook_backoff_base_ms ({})",
                    self.webhook_backoff_max_ms, self.webhook_backoff_base_ms
                ),
            ));
        }
        if self.api_keys.iter().any(|k| k.expose().len() < 16) {
            return Err(ConfigError::rule(
                "api_keys",
                "every API key must be at least 16 characters",
            ));
        }
        if self.api_keys.is_empty() && !self.listen.ip().is_loopback() {
            return Err(ConfigError::rule(
                "listen",
                format!(
                    "listen = {} is not a loopback address and no API keys are set: set AUDIOTAP_API_KEYS or listen on 127.0.0.1",
                    self.listen
                ),
            ));
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("jobs.db").display()
            )
        })
    }

    /// The configured node id, or the host name with a random suffix (one per process).
    pub fn node_id(&self) -> String {
        if let Some(id) = &self.node_id {
            return id.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| {
                h.trim()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                    .take(40)
                    .collect::<String>()
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".into());
        format!("{host}-{:08x}", rand::random::<u32>())
    }

    /// True when the job store is PostgreSQL (shared by many nodes).
    pub fn shared_job_store(&self) -> bool {
        self.database_url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    pub fn storage_dir(&self) -> PathBuf {
        self.data_dir.join("objects")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    pub fn job_timeout(&self) -> Duration {
        Duration::from_secs(self.job_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_validation() {
        let mut c = Config::default();
        let env = |k: &str| match k {
            "AUDIOTAP_LISTEN" => Some("127.0.0.1:0".to_string()),
            "AUDIOTAP_WORKERS" => Some("3".to_string()),
            "AUDIOTAP_URL_ALLOWLIST" => Some("127.0.0.1, 10.0.0.0/8".to_string()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert_eq!(c.workers, 3);
        assert_eq!(c.url_allowlist, vec!["127.0.0.1", "10.0.0.0/8"]);
        c.validate().unwrap();
        let mut c2 = c.clone();
        c2.listen = "0.0.0.0:8080".parse().unwrap();
        assert!(
            c2.validate().is_err(),
            "public listen without keys must be refused"
        );
        let err = c
            .apply_env(|k| (k == "AUDIOTAP_WORKERS").then(|| "many".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("AUDIOTAP_WORKERS"));
    }

    #[test]
    fn roles_node_ids_and_leases() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let mut c = Config::default();
        c.apply_env(env(&[
            ("AUDIOTAP_ROLE", "worker"),
            ("AUDIOTAP_DATABASE_URL", "postgres://u:p@db:5432/audiotap"),
            ("AUDIOTAP_NODE_ID", "worker-7"),
            ("AUDIOTAP_LEASE_SECS", "12"),
        ]))
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.role, Role::Worker);
        assert!(c.role.runs_jobs() && !c.role.serves_api());
        assert_eq!(c.node_id(), "worker-7");
        assert_eq!(c.lease(), Duration::from_secs(12));
        // A split role on a store only one node can use would strand its jobs.
        let mut sqlite = c.clone();
        sqlite.database_url = None;
        let err = sqlite.validate().unwrap_err().to_string();
        assert!(err.contains("AUDIOTAP_DATABASE_URL"), "{err}");
        sqlite.role = Role::All;
        sqlite.validate().unwrap();
        for (k, v) in [
            ("AUDIOTAP_ROLE", "scheduler"),
            ("AUDIOTAP_LEASE_SECS", "soon"),
        ] {
            let err = Config::default()
                .apply_env(|n| (n == k).then(|| v.to_string()))
                .unwrap_err();
            assert!(err.to_string().contains(k), "{err}");
        }
        let mut bad = c.clone();
        bad.node_id = Some("two words".into());
        assert!(bad.validate().is_err());
        bad.node_id = None;
        bad.lease_secs = 1;
        assert!(bad.validate().is_err());
        // Without a configured id, each process gets its own.
        let mut anon = c.clone();
        anon.node_id = None;
        assert_ne!(anon.node_id(), anon.node_id());
    }

    #[test]
    fn errors_name_the_setting_and_keep_their_cause() {
        let err = Config::load(Some(Path::new("/no/such/audiotap.toml"))).unwrap_err();
        assert!(matches!(&err, ConfigError::File { path, .. } if path.ends_with("audiotap.toml")));
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(err.code(), crate::ErrorCode::Config);

        let err = Config::default()
            .apply_env(|k| (k == "AUDIOTAP_S3_PATH_STYLE").then(|| "maybe".to_string()))
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key, value, .. }
                if key == "AUDIOTAP_S3_PATH_STYLE" && value == "\"maybe\""),
            "{err:?}"
        );

        let mut c = Config {
            job_max_attempts: 0,
            ..Config::default()
        };
        let err = c.validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "job_max_attempts"),
            "{err:?}"
        );
        c.job_max_attempts = 1;
        c.api_keys = vec![Secret::new("short-key")];
        let err = c.validate().unwrap_err();
        assert!(
            matches!(
                &err,
                ConfigError::Rule {
                    key: "api_keys",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.to_string().contains("short-key"), "{err}");
        c.api_keys.clear();
        c.database_url = Some("mysql://root:hunter2@db/audiotap".into());
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("database_url") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("super-secret-key-123");
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }
}
