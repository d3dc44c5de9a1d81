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
    use super::*;
    use crate::config::Secret;

    #[test]
    fn a_public_listener_needs_keys_and_keys_are_long() {
        let mut c = Config {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..Config::default()
        };
        let err = c.validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Rule { key: "listen", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("AUDIOTAP_API_KEYS"), "{err}");
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
        c.api_keys = vec![Secret::new("a-key-of-16-chars")];
        c.validate().unwrap();
    }

    #[test]
    fn split_roles_need_a_shared_store() {
        let mut c = Config {
            role: Role::Worker,
            ..Config::default()
        };
        // A split role on a store only one node can use would strand its jobs.
        let err = c.validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Rule { key: "role", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("AUDIOTAP_DATABASE_URL"), "{err}");
        c.database_url = Some("postgres://u:p@db:5432/audiotap".into());
        c.validate().unwrap();
        assert!(c.shared_job_store());
        c.role = Role::All;
        c.database_url = None;
        c.validate().unwrap();
    }

    #[test]
    fn out_of_range_values_name_their_setting() {
        type Break = fn(&mut Config);
        let cases: [(&str, Break); 10] = [
            ("workers", |c| c.workers = 0),
            ("workers", |c| c.workers = 1025),
            ("upload_expiry_secs", |c| c.upload_expiry_secs = 0),
            ("max_concurrent_uploads", |c| c.max_concurrent_uploads = 0),
            ("max_queue", |c| c.max_queue = 0),
            ("max_upload_bytes", |c| c.max_upload_bytes = 0),
            ("node_id", |c| c.node_id = Some("two words".into())),
            ("lease_secs", |c| c.lease_secs = 2),
            ("job_max_attempts", |c| c.job_max_attempts = 0),
            ("webhook_backoff_base_ms", |c| c.webhook_backoff_base_ms = 0),
        ];
        for (want, break_it) in cases {
            let mut c = Config::default();
            break_it(&mut c);
            let err = c.validate().unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { key, .. } if key == want),
                "{want}: {err:?}"
            );
        }
        let c = Config {
            webhook_backoff_max_ms: 10,
            webhook_backoff_base_ms: 20,
            ..Config::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Rule {
                key: "webhook_backoff_max_ms",
                ..
            })
        ));
        let c = Config {
            storage: StorageKind::S3,
            s3_bucket: Some(String::new()),
            ..Config::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Rule {
                key: "s3_bucket",
                ..
            })
        ));
    }

    #[test]
    fn a_bad_database_url_is_named_without_its_password() {
        let c = Config {
            database_url: Some("mysql://root:hunter2@db/audiotap".into()),
            ..Config::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("database_url") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
