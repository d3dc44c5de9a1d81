//! The guarded client: its resolver refuses names that resolve to forbidden addresses, and
//! its own request hooks refuse forbidden destinations before any connection, even for
//! code that forgot to check the URL first.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use audiotap::net::client::resolve_checked;
use audiotap::net::{NetError, WebhookSecret, deliver_once};

use crate::{Hits, client, guard};

// ---------------------------------------------------------------- resolver

#[tokio::test]
async fn resolver_refuses_a_name_resolving_to_loopback() {
    // localhost comes from /etc/hosts: no DNS query leaves the machine.
    let err = resolve_checked(&guard(&[]), "localhost", 80)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "url_forbidden", "{err}");
    assert!(err.to_string().contains("localhost"), "{err}");
    // Allowlisted by name: every address returned, with the port.
    let addrs = resolve_checked(&guard(&["localhost"]), "localhost", 8080)
        .await
        .unwrap();
    assert!(!addrs.is_empty());
    assert!(
        addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8080)
    );
}

#[tokio::test]
async fn resolver_refuses_when_any_address_is_forbidden() {
    // localhost resolves to 127.0.0.1 (and ::1 on most systems). Allowlisting only an
    // address it does not resolve to leaves it refused.
    let err = resolve_checked(&guard(&["127.0.0.2"]), "localhost", 80)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "url_forbidden");
    // When the resolver returns addresses outside the allowlisted ones, the name is refused.
    let all = resolve_checked(&guard(&["localhost"]), "localhost", 0)
        .await
        .unwrap();
    if all.iter().any(|a| a.is_ipv6()) {
        let err = resolve_checked(&guard(&["127.0.0.0/8"]), "localhost", 80)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "url_forbidden");
    } else {
        resolve_checked(&guard(&["127.0.0.0/8"]), "localhost", 80)
            .await
            .unwrap();
    }
}

/// A bare TCP listener that counts the connections it accepts.
async fn counting_listener() -> (SocketAddr, Hits) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            h.0.fetch_add(1, Ordering::SeqCst);
            drop(sock);
        }
    });
    (addr, hits)
}

#[tokio::test]
async fn forbidden_destinations_are_refused_before_connecting() {
    let (addr, hits) = counting_listener().await;
    let port = addr.port();
    // Nothing allowlisted: the listener on 127.0.0.1 is forbidden.
    let g = guard(&[]);
    let c = client(&g);
    let urls = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://localhost:{port}/"),
        format!("https://127.0.0.1:{port}/"),
    ];
    for url in &urls {
        // Straight through the client, as code that forgot to call check_url would: the
        // client's own request hook refuses literal IPs, the resolver refuses names.
        let err = c.get(url).send().await.unwrap_err();
        let own = audiotap_net_error(&err).unwrap_or_else(|| panic!("{url}: {err:?}"));
        assert_eq!(own.code(), "url_forbidden", "{url}");

        let secret = WebhookSecret::generate().0;
        let attempt = deliver_once(&c, url, &secret, "msg_1", b"{}").await;
        assert_eq!(attempt.status, None, "{url}");
        let error = attempt.error.unwrap();
        assert!(error.contains("refused"), "{url}: {error}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        hits.count(),
        0,
        "no connection may reach a forbidden address"
    );
}

fn audiotap_net_error(err: &reqwest::Error) -> Option<&NetError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(own) = e.downcast_ref::<NetError>() {
            return Some(own);
        }
        cur = e.source();
    }
    None
}
