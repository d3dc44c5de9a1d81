//! [`Config`]: every setting of the service with its default, and the values derived from
//! them (paths under the data dir, the job store URL, the node id).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::role::Role;
use super::secret::Secret;

/// Where outputs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    Local,
    S3,
}

/// The service's settings. Each field is a file key and, in capitals after `AUDIOTAP_`, an
/// environment variable; a missing one takes its value from [`Config::default`].
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
    #[serde(deserialize_with = "super::list::comma_list")]
    pub api_keys: Vec<Secret>,
    /// Hosts or CIDRs exempt from the private-address refusal (sources and webhooks).
    #[serde(deserialize_with = "super::list::comma_list")]
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

impl Config {
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("jobs.db").display()
            )
        })
    }

    /// The configured node id, or else this process's: the host name with a random suffix,
    /// drawn once, so every lease and job this process writes names the same node.
    pub fn node_id(&self) -> String {
        match &self.node_id {
            Some(id) => id.clone(),
            None => super::node::process_node_id().to_string(),
        }
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
