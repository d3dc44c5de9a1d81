//! Outbound networking: the SSRF guard, the guarded client, webhooks, and remote sources
//! read with HTTP Range requests.
//!
//! Every server here binds 127.0.0.1:0. Forbidden destinations must be refused by the guard
//! before any connection: the tests check the error is `url_forbidden` (not a connection
//! error) and, where a listener exists, that it accepted nothing. No test resolves a public
//! name: `localhost` comes from /etc/hosts.
//!
//! One test binary with a module per subject, so the crate and the helpers link once.

#[path = "../support/mod.rs"]
mod support;

mod client;
mod guard;
mod range;
mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use audiotap::net::{ClientOptions, UrlGuard, guarded_client};

fn guard(allow: &[&str]) -> UrlGuard {
    let list: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    UrlGuard::new(&list).expect("valid allowlist")
}

fn client(g: &UrlGuard) -> reqwest::Client {
    let opts = ClientOptions {
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(20),
        max_redirects: 3,
        user_agent: "audiotap-test".into(),
    };
    guarded_client(Arc::new(g.clone()), opts).expect("client")
}

/// A request (or connection) counter shared with a loopback server.
#[derive(Clone, Default)]
struct Hits(Arc<AtomicUsize>);

impl Hits {
    /// Counts one more; returns the count before it.
    fn hit(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst)
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}
