//! [`ConfigError`]: what is wrong with the configuration, naming the setting at fault.

use std::path::PathBuf;

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
    /// The file is not TOML (an unknown key or a value of the wrong type is [`Invalid`]).
    ///
    /// [`Invalid`]: ConfigError::Invalid
    #[error("configuration: {}", path.display())]
    Syntax {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A setting has a value that does not parse or is out of range, or the file has a key
    /// that is no setting. `key` is the file key, or the variable when the value came from
    /// the environment; `value` is as the operator wrote it, except a secret's
    /// (`(not shown)`).
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
    /// The webhook signing secret is not `whsec_` + base64 of a 16 to 64 byte key (the
    /// source says which; it is not repeated here, as `serve` prints the whole chain).
    #[error("invalid webhook secret")]
    InvalidSecret(#[from] crate::net::webhook::InvalidSecret),
}

impl ConfigError {
    /// The stable code of every configuration error.
    pub fn code(&self) -> crate::ErrorCode {
        crate::ErrorCode::Config
    }

    pub(super) fn invalid(
        key: impl Into<String>,
        value: impl std::fmt::Debug,
        reason: impl ToString,
    ) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            value: format!("{value:?}"),
            reason: reason.to_string(),
        }
    }

    pub(super) fn rule(key: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Rule {
            key,
            reason: reason.into(),
        }
    }
}
