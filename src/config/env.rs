//! The layering: defaults, then the TOML file, then `AUDIOTAP_*` variables.

use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::role::Role;
use super::secret::Secret;
use super::settings::{Config, StorageKind};

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
            self.api_keys = list(v).into_iter().map(Secret::new).collect();
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
                self.webhook_secret = Some(Secret::new(v.trim()));
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
}
