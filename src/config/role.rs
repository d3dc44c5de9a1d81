//! [`Role`]: what a `serve` process does (`all`, `api` or `worker`).

use serde::Deserialize;

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
