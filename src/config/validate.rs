//! The rules a configuration must pass before the service starts.

use super::error::ConfigError;
use super::role::Role;
use super::settings::{Config, StorageKind};

impl Config {
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
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::Secret;

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
