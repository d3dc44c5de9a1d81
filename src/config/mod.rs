//! The one service configuration: embedded defaults, then an optional TOML file
//! (`--config`), then `AUDIOTAP_*` environment variables; validated once at start with a
//! message that names the offending setting.

mod error;
mod list;
mod load;
mod node;
mod role;
mod secret;
mod settings;
mod validate;

pub use error::ConfigError;
pub use role::Role;
pub use secret::Secret;
pub use settings::{Config, StorageKind};
