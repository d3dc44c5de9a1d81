//! The guarded client: its resolver refuses names that resolve to forbidden addresses, and
//! its own request hooks refuse forbidden destinations before any connection, even for
//! code that forgot to check the URL first.

use audiotap::net::client::resolve_checked;

use crate::guard;

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
