//! The node id of a process that was given none: its host name and a random suffix.

use std::sync::OnceLock;

/// Drawn on first use and kept for the life of the process.
pub(super) fn process_node_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok());
        format!(
            "{}-{:08x}",
            host_part(host.as_deref()),
            rand::random::<u32>()
        )
    })
}

/// The host name in the characters a node id allows, at most 40 of them (room for the
/// suffix within the 64 the setting allows); `node` without one.
fn host_part(host: Option<&str>) -> String {
    let host: String = host
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(40)
        .collect();
    if host.is_empty() { "node".into() } else { host }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn a_process_keeps_one_node_id() {
        let anon = Config::default();
        let id = anon.node_id();
        assert_eq!(id, anon.node_id(), "stable across calls");
        assert_eq!(id, Config::default().node_id(), "and across configs");
        // It passes the rule a configured id must pass.
        let named = Config {
            node_id: Some(id.clone()),
            ..Config::default()
        };
        named.validate().unwrap();
        let configured = Config {
            node_id: Some("worker-7".into()),
            ..Config::default()
        };
        assert_eq!(configured.node_id(), "worker-7");
    }

    #[test]
    fn host_names_are_cut_to_what_an_id_allows() {
        assert_eq!(host_part(Some(" web-1.example\n")), "web-1.example");
        assert_eq!(host_part(Some("héllo wörld")), "hllowrld");
        assert_eq!(host_part(Some(&"a".repeat(100))).len(), 40);
        assert_eq!(host_part(Some("  ")), "node");
        assert_eq!(host_part(None), "node");
    }
}
