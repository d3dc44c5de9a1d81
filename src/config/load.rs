//! The layering: [`Config`]'s defaults, then the TOML file given with `--config`, then the
//! `AUDIOTAP_*` variables, merged and type-checked by figment.
//!
//! # Design
//!
//! - Defaults come from `#[serde(default)]` rather than a `Serialized` layer, which would
//!   need [`Secret`](super::Secret) to serialize its value.
//! - The file is parsed here with `toml`, so a syntax error keeps its typed cause (line,
//!   column).
//! - The environment layer is ours, not figment's `Env`: that one parses every value, so
//!   `AUDIOTAP_NODE_ID=007` would reach a string setting as the number 7, and an all-digit
//!   API key would lose its leading zeros. Values stay strings (trimmed), and figment's
//!   lossy extraction makes numbers and booleans (`true`/`yes`/`on`/`1`, …) of them where
//!   a setting is one. Only variables named after a setting are read, so `AUDIOTAP_LOG`
//!   and the test scripts' own variables are left alone.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use figment::error::Kind;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;
use serde::de::Visitor;

use super::error::ConfigError;
use super::settings::Config;

/// What every variable name starts with.
const PREFIX: &str = "AUDIOTAP_";

/// Settings whose values are never shown in an error.
const SECRETS: [&str; 3] = ["api_keys", "webhook_secret", "database_url"];

impl Config {
    /// Defaults, then `file` (TOML, keys as the field names), then the process
    /// environment; validated.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        // A variable that is not UTF-8 is no setting's value: ignored, as unset.
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Config::load_from(file, vars)
    }

    /// [`Config::load`] with the environment given as name/value pairs (a deploy
    /// manifest's, a test's).
    pub fn load_from(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            figment = figment.merge(Layer::file(path)?);
        }
        let figment = figment.merge(Layer::env(vars));
        let config: Config = figment.extract_lossy().map_err(|e| invalid(e, &figment))?;
        config.validate()?;
        Ok(config)
    }

    /// Every variable a setting is read from: `AUDIOTAP_` and its name in capitals.
    pub fn env_variables() -> impl Iterator<Item = String> {
        settings().iter().map(|key| env_name(key))
    }
}

fn env_name(key: &str) -> String {
    format!("{PREFIX}{}", key.to_ascii_uppercase())
}

/// One layer of settings, and where they came from (it names a key in errors).
struct Layer {
    metadata: Metadata,
    dict: Dict,
}

impl Layer {
    fn file(path: &Path) -> Result<Layer, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
            path: path.to_path_buf(),
            source,
        })?;
        let dict = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
        let metadata =
            Metadata::from("file", path).interpolater(|_: &Profile, keys: &[&str]| keys.join("."));
        Ok(Layer { metadata, dict })
    }

    /// The variables named `AUDIOTAP_<SETTING>` (exactly: capitals), as trimmed strings.
    fn env(vars: impl IntoIterator<Item = (String, String)>) -> Layer {
        let names: HashMap<String, &str> =
            settings().iter().map(|key| (env_name(key), *key)).collect();
        let dict = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let key = names.get(&name)?;
                Some((key.to_string(), Value::from(value.trim())))
            })
            .collect();
        let metadata = Metadata::named("environment")
            .interpolater(|_: &Profile, keys: &[&str]| env_name(&keys.join(".")));
        Layer { metadata, dict }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// figment's first complaint as [`ConfigError::Invalid`], naming the setting the way the
/// layer that gave its value does (`workers` in the file, `AUDIOTAP_WORKERS` in the
/// environment). The reason says what was expected and never repeats the value, as
/// figment's own messages do: a secret's would be printed.
fn invalid(e: figment::Error, figment: &Figment) -> ConfigError {
    let (key, reason) = match e.kind {
        Kind::UnknownField(key, _) => (key, "not a setting".to_string()),
        kind => {
            let reason = match kind {
                Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) => {
                    format!("expected {}", plainly(&expected))
                }
                Kind::UnknownVariant(_, expected) => format!("expected {}", one_of(expected)),
                // serde's parse messages (a socket address, a list) do not quote the input.
                Kind::Message(message) => message,
                _ => "not a valid value".to_string(),
            };
            (e.path.first().cloned().unwrap_or_default(), reason)
        }
    };
    let value = if SECRETS.contains(&key.as_str()) {
        "(not shown)".to_string()
    } else {
        figment
            .find_value(&key)
            .ok()
            .and_then(|v| serde_json::to_string(&v).ok())
            .unwrap_or_default()
    };
    let (key, reason) = match figment.find_metadata(&key) {
        Some(md) => {
            let named = md.interpolate(&Profile::Default, &[key.as_str()]);
            match md.source.as_ref().and_then(figment::Source::file_path) {
                Some(path) => (named, format!("{reason} (in {})", path.display())),
                None => (named, reason),
            }
        }
        None => (key, reason),
    };
    ConfigError::Invalid { key, value, reason }
}

/// serde's name of an expected number type, for an operator.
fn plainly(expected: &str) -> String {
    match expected {
        "u64" | "usize" => "a whole number".to_string(),
        "u32" => format!("a whole number up to {}", u32::MAX),
        other => other.to_string(),
    }
}

/// `["all", "api", "worker"]` as "all, api or worker".
fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".to_string(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The settings' names, as `Config`'s `Deserialize` impl lists its fields: the variables
/// read cannot drift from the struct.
fn settings() -> &'static [&'static str] {
    static NAMES: OnceLock<&'static [&'static str]> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names = FieldNames(&[]);
        // Fails on purpose once `deserialize_struct` has been told the fields.
        let _ = Config::deserialize(&mut names);
        assert!(!names.0.is_empty(), "Config deserializes as a struct");
        names.0
    })
}

/// A deserializer that only records the fields of the struct asked for.
struct FieldNames(&'static [&'static str]);

impl<'de> serde::Deserializer<'de> for &mut FieldNames {
    type Error = serde::de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = fields;
        Err(serde::de::Error::custom("field names recorded"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;
    use crate::config::{Role, StorageKind};

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn toml_file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn invalid_key(err: &ConfigError) -> (&str, &str) {
        match err {
            ConfigError::Invalid { key, value, .. } => (key, value),
            other => panic!("not Invalid: {other:?}"),
        }
    }

    #[test]
    fn the_environment_overrides_the_file_over_the_defaults() {
        let file = toml_file(
            "workers = 2\nlease_secs = 12\ns3_region = \"eu-west-3\"\nurl_allowlist = [\"10.0.0.0/8\"]\n",
        );
        let c = Config::load_from(
            Some(file.path()),
            env(&[
                ("AUDIOTAP_WORKERS", " 3 "),
                ("AUDIOTAP_ROLE", "worker"),
                ("AUDIOTAP_DATABASE_URL", "postgres://u:p@db:5432/audiotap"),
                ("AUDIOTAP_STORAGE", "s3"),
                ("AUDIOTAP_S3_BUCKET", "media"),
                ("AUDIOTAP_S3_PATH_STYLE", "yes"),
            ]),
        )
        .unwrap();
        assert_eq!(c.workers, 3, "the environment wins");
        assert_eq!(
            c.lease(),
            Duration::from_secs(12),
            "the file over the default"
        );
        assert_eq!(c.s3_region, "eu-west-3");
        assert_eq!(c.url_allowlist, ["10.0.0.0/8"]);
        assert_eq!(c.max_queue, Config::default().max_queue, "a default");
        assert_eq!(c.role, Role::Worker);
        assert!(c.role.runs_jobs() && !c.role.serves_api());
        assert_eq!(c.storage, StorageKind::S3);
        assert_eq!(c.s3_bucket.as_deref(), Some("media"));
        assert!(c.s3_path_style);
        // Without a file, the environment alone over the defaults.
        let c = Config::load_from(None, env(&[("AUDIOTAP_LEASE_SECS", "15")])).unwrap();
        assert_eq!((c.lease_secs, c.workers), (15, Config::default().workers));
    }

    #[test]
    fn lists_are_comma_separated_or_arrays() {
        let c = Config::load_from(
            None,
            env(&[
                ("AUDIOTAP_URL_ALLOWLIST", "127.0.0.1, 10.0.0.0/8,,"),
                ("AUDIOTAP_API_KEYS", "0000111122223333 , key-number-two-xx"),
            ]),
        )
        .unwrap();
        assert_eq!(c.url_allowlist, ["127.0.0.1", "10.0.0.0/8"]);
        let keys: Vec<&str> = c.api_keys.iter().map(|k| k.expose()).collect();
        assert_eq!(keys, ["0000111122223333", "key-number-two-xx"]);
        let file = toml_file(
            "url_allowlist = \"a.example, b.example\"\napi_keys = [\" 0123456789abcdef \"]\n",
        );
        let c = Config::load_from(Some(file.path()), env(&[])).unwrap();
        assert_eq!(c.url_allowlist, ["a.example", "b.example"]);
        assert_eq!(c.api_keys[0].expose(), "0123456789abcdef");
        // An empty variable clears the file's list.
        let c =
            Config::load_from(Some(file.path()), env(&[("AUDIOTAP_URL_ALLOWLIST", "")])).unwrap();
        assert!(c.url_allowlist.is_empty());
    }

    #[test]
    fn text_settings_stay_text() {
        let c = Config::load_from(
            None,
            env(&[
                ("AUDIOTAP_NODE_ID", "007"),
                ("AUDIOTAP_S3_PREFIX", "2024"),
                ("AUDIOTAP_S3_REGION", "1.5"),
            ]),
        )
        .unwrap();
        assert_eq!(c.node_id(), "007");
        assert_eq!(c.s3_prefix, "2024");
        assert_eq!(c.s3_region, "1.5");
    }

    #[test]
    fn other_variables_are_not_settings() {
        let c = Config::load_from(
            None,
            env(&[
                ("AUDIOTAP_LOG", "audiotap=debug"),
                ("AUDIOTAP_TEST_DATABASE_URL", "postgres://x"),
                ("audiotap_workers", "many"),
                ("AUDIOTAP_workers", "many"),
                ("WORKERS", "many"),
            ]),
        )
        .unwrap();
        assert_eq!(c.workers, Config::default().workers);
        let names: Vec<String> = Config::env_variables().collect();
        for name in [
            "AUDIOTAP_LISTEN",
            "AUDIOTAP_API_KEYS",
            "AUDIOTAP_UPLOAD_EXPIRY_SECS",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        assert!(!names.iter().any(|n| n == "AUDIOTAP_LOG"));
    }

    #[test]
    fn every_documented_variable_is_read_and_every_setting_documented() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let start = readme
            .find("### Configuration")
            .expect("a Configuration section");
        // Each row's first column: its `AUDIOTAP_…` names, and `_SUFFIX` shorthands for
        // more names in the group of the first (`AUDIOTAP_S3_BUCKET`, `_ENDPOINT`).
        let rows: Vec<Vec<&str>> = readme[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .map(|row| {
                let first = row.split('|').nth(1).unwrap_or_default();
                first.split('`').skip(1).step_by(2).collect()
            })
            .collect();
        let names: Vec<String> = Config::env_variables().collect();
        for name in rows.iter().flatten() {
            if name.starts_with(PREFIX) && *name != "AUDIOTAP_LOG" {
                assert!(names.iter().any(|n| n == name), "README's {name} is read");
            }
        }
        for name in &names {
            let documented = rows.iter().any(|row| {
                row.contains(&name.as_str())
                    || row.iter().any(|short| {
                        short.starts_with('_')
                            && name.ends_with(short)
                            && row[0].starts_with(&name[..name.len() - short.len()])
                    })
            });
            assert!(documented, "{name} is in README's Configuration table");
        }
    }

    #[test]
    fn bad_values_name_the_variable_or_the_file_key() {
        for (var, value, expected) in [
            ("AUDIOTAP_WORKERS", "many", "expected a whole number"),
            ("AUDIOTAP_LEASE_SECS", "-1", "expected a whole number"),
            ("AUDIOTAP_ROLE", "scheduler", "expected all, api or worker"),
            ("AUDIOTAP_STORAGE", "ftp", "expected local or s3"),
            ("AUDIOTAP_S3_PATH_STYLE", "maybe", "expected a boolean"),
            ("AUDIOTAP_LISTEN", "localhost", "invalid socket address"),
            (
                "AUDIOTAP_WEBHOOK_MAX_ATTEMPTS",
                "5000000000",
                "up to 4294967295",
            ),
        ] {
            let err = Config::load_from(None, env(&[(var, value)])).unwrap_err();
            let (key, shown) = invalid_key(&err);
            assert_eq!(key, var, "{err}");
            assert_eq!(shown, format!("{value:?}"), "{err}");
            assert!(err.to_string().contains(expected), "{var}: {err}");
            assert_eq!(err.code(), crate::ErrorCode::Config);
        }
        let file = toml_file("workers = \"many\"\n");
        let err = Config::load_from(Some(file.path()), env(&[])).unwrap_err();
        assert_eq!(invalid_key(&err), ("workers", "\"many\""));
        assert!(
            err.to_string().contains(&file.path().display().to_string()),
            "{err}"
        );
        // The environment's good value hides the file's bad one.
        Config::load_from(Some(file.path()), env(&[("AUDIOTAP_WORKERS", "2")])).unwrap();
        let file = toml_file("wokers = 4\n");
        let err = Config::load_from(Some(file.path()), env(&[])).unwrap_err();
        assert_eq!(invalid_key(&err), ("wokers", "4"));
        assert!(err.to_string().contains("not a setting"), "{err}");
    }

    #[test]
    fn secrets_are_not_shown_in_errors() {
        let file = toml_file("webhook_secret = [\"whsec_hunter2\"]\n");
        let err = Config::load_from(Some(file.path()), env(&[])).unwrap_err();
        assert_eq!(invalid_key(&err), ("webhook_secret", "(not shown)"));
        let err = Config::load_from(
            None,
            env(&[("AUDIOTAP_DATABASE_URL", "mysql://u:hunter2@db")]),
        )
        .unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
    }

    #[test]
    fn file_problems_keep_their_cause() {
        let err = Config::load(Some(Path::new("/no/such/audiotap.toml"))).unwrap_err();
        assert!(matches!(&err, ConfigError::File { path, .. } if path.ends_with("audiotap.toml")));
        assert!(std::error::Error::source(&err).is_some());
        let file = toml_file("workers = = 4\n");
        let err = Config::load_from(Some(file.path()), env(&[])).unwrap_err();
        assert!(matches!(&err, ConfigError::Syntax { .. }), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(err.code(), crate::ErrorCode::Config);
    }
}
