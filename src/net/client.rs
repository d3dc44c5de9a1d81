//! A `reqwest::Client` that cannot be talked into reaching a forbidden address.
//!
//! Three hooks, so that the guard holds whoever uses the client and however the URL
//! reaches it:
//!
//! 1. **Resolver.** Host names are resolved by [`resolve_checked`]: every address must pass
//!    [`UrlGuard::check_ip`] (one forbidden address refuses the whole name) and reqwest
//!    connects to exactly the vetted addresses, so a DNS answer cannot change between the
//!    check and the connection (DNS rebinding).
//! 2. **Redirects.** Every hop is checked with [`UrlGuard::check_url`] (literal IPs in a
//!    `Location` never reach the resolver) and the number of hops is limited.
//! 3. **Request hook.** reqwest connects to literal IP hosts without asking the resolver,
//!    so the first request's URL must be checked too. The only per-request hook reqwest
//!    offers is the proxy selector: the client consults [`UrlGuard::check_url`] there for
//!    every request, and routes a refused one to a "proxy" under the reserved `.invalid`
//!    domain, which the resolver refuses without any lookup. No connection is attempted.
//!    Callers that hold the guard should still call `check_url` first (as
//!    [`crate::net::range::fetch_source`] does) for the precise error message.
//!
//! Proxies from the environment (`HTTP_PROXY`, ...) are ignored: a proxy would resolve and
//! connect on our behalf, out of the guard's sight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Proxy, Url, redirect};

use super::{NetError, UrlGuard};

/// The host of the pseudo-proxy that refused requests are routed to. `.invalid` never
/// resolves (RFC 6761) and the guarded resolver refuses it before any lookup.
const REFUSED_HOST: &str = "refused-by-url-guard.invalid";
const REFUSED_PROXY: &str = "http://refused-by-url-guard.invalid:9";

/// Settings of a guarded client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Limit on resolving and connecting.
    pub connect_timeout: Duration,
    /// Limit on a whole request, body included.
    pub timeout: Duration,
    /// Redirect hops followed before giving up.
    pub max_redirects: usize,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(3600),
            max_redirects: 5,
            user_agent: concat!("audiotap/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Build a client that enforces `guard` on every request, redirect and connection.
pub fn guarded_client(
    guard: Arc<UrlGuard>,
    opts: ClientOptions,
) -> Result<reqwest::Client, NetError> {
    let redirect_guard = Arc::clone(&guard);
    let max_redirects = opts.max_redirects;
    let policy = redirect::Policy::custom(move |attempt| {
        // `previous` holds every URL requested so far, the original one included.
        if attempt.previous().len() > max_redirects {
            let err = NetError::unreachable(format!("too many redirects (limit {max_redirects})"));
            return attempt.error(err);
        }
        match redirect_guard.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(err) => {
                tracing::warn!(error = %err, "redirect refused by the URL guard");
                attempt.error(err)
            }
        }
    });

    let request_guard = Arc::clone(&guard);
    let refusal_hook = Proxy::custom(move |url: &Url| -> Option<&'static str> {
        match request_guard.check_url(url) {
            Ok(()) => None,
            Err(err) => {
                tracing::warn!(error = %err, "request refused by the URL guard");
                Some(REFUSED_PROXY)
            }
        }
    });

    reqwest::Client::builder()
        .no_proxy()
        .proxy(refusal_hook)
        .dns_resolver(GuardedResolver { guard })
        .redirect(policy)
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.timeout)
        .user_agent(opts.user_agent)
        .build()
        .map_err(|e| NetError::unreachable(format!("cannot build the HTTP client: {e}")))
}

/// Resolve `host` with the system resolver and vet every address with the guard.
///
/// Refused when any address is forbidden (a name that resolves to a public and a private
/// address must not be usable to reach the private one), or when none is returned. Names
/// under `.invalid` are refused without a lookup. Returned addresses carry `port`.
pub async fn resolve_checked(
    guard: &UrlGuard,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, NetError> {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == REFUSED_HOST {
        return Err(NetError::UrlForbidden(
            "the destination was refused by the URL guard".into(),
        ));
    }
    if name == "invalid" || name.ends_with(".invalid") {
        return Err(NetError::unreachable(format!(
            "host {name} cannot be resolved (reserved .invalid domain)"
        )));
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| NetError::unreachable(format!("cannot resolve host {name}: {e}")))?
        .collect();
    vet_addresses(guard, host, addrs)
}

/// The resolver's verdict on the addresses `host` resolved to: all of them when every one
/// passes the guard; refused when any is forbidden or there are none.
pub fn vet_addresses(
    guard: &UrlGuard,
    host: &str,
    addrs: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, NetError> {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if addrs.is_empty() {
        return Err(NetError::unreachable(format!(
            "host {name} resolves to no address"
        )));
    }
    for addr in &addrs {
        if let Err(err) = guard.check_ip(host, addr.ip()) {
            tracing::warn!(host = %name, ip = %addr.ip(), "resolved address refused by the URL guard");
            return Err(err);
        }
    }
    Ok(addrs)
}

/// The resolver installed in guarded clients: [`resolve_checked`] with port 0 (reqwest
/// fills in the URL's port).
struct GuardedResolver {
    guard: Arc<UrlGuard>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.guard);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_checked(&guard, &host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_proxy_host_matches_the_constant() {
        let url = Url::parse(REFUSED_PROXY).unwrap();
        assert_eq!(url.host_str(), Some(REFUSED_HOST));
    }

    #[tokio::test]
    async fn invalid_names_are_refused_without_lookup() {
        let guard = UrlGuard::default();
        let err = resolve_checked(&guard, REFUSED_HOST, 0).await.unwrap_err();
        assert_eq!(err.code(), "url_forbidden");
        let err = resolve_checked(&guard, "anything.invalid.", 0)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "source_unreachable");
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn one_forbidden_address_refuses_the_whole_name() {
        let guard = UrlGuard::default();
        let public = addrs(&["8.8.8.8:443", "[2606:4700:4700::1111]:443"]);
        assert_eq!(
            vet_addresses(&guard, "ok.example", public.clone()).unwrap(),
            public
        );
        for mixed in [
            &["8.8.8.8:443", "10.0.0.1:443"][..],
            &["[::1]:443", "8.8.8.8:443"],
            &["1.1.1.1:80", "[::ffff:169.254.169.254]:80"],
        ] {
            let err = vet_addresses(&guard, "rebind.example", addrs(mixed)).unwrap_err();
            assert_eq!(err.code(), "url_forbidden", "{mixed:?}");
        }
        let err = vet_addresses(&guard, "empty.example", Vec::new()).unwrap_err();
        assert_eq!(err.code(), "source_unreachable");
        // Allowlisted by name: private addresses pass.
        let guard = UrlGuard::new(&["media.internal".into()]).unwrap();
        let private = addrs(&["10.0.0.1:80", "[fd00::1]:80"]);
        assert_eq!(
            vet_addresses(&guard, "media.internal", private.clone()).unwrap(),
            private
        );
    }
}
