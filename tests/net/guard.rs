//! The SSRF guard on its own: every special address range refused (and named in the
//! message), URL spellings normalised before the check, and the operator's allowlist.

use std::net::IpAddr;

use audiotap::net::UrlGuard;
use reqwest::Url;

use crate::guard;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ---------------------------------------------------------------- guard: addresses

/// One or more addresses of each refused range.
const FORBIDDEN_IPS: &[&str] = &[
    // IPv4
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.0.0.2",
    "127.255.255.255",
    "169.254.0.1",
    "169.254.169.254",
    "168.63.129.16",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.8",
    "192.0.0.170",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.0.1",
    "192.168.255.255",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    // IPv6
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "::127.0.0.1",
    "::8.8.8.8",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",
    "100::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:2::1",
    "2001:10::1",
    "2001:db8::1",
    "2002:7f00:1::1",
    "2002:a00:1::1",
    "2002:c0a8:101::1",
    "3fff::1",
    "5f00::1",
    "fc00::1",
    "fd00::1",
    "fd00:ec2::254",
    "fe80::1",
    "febf::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "4000::1",
    "::2",
];

/// Public unicast addresses, also reached through the IPv6 forms that embed them.
const PUBLIC_IPS: &[&str] = &[
    "1.1.1.1",
    "8.8.8.8",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.1",
    "172.15.255.255",
    "172.32.0.1",
    "192.0.1.1",
    "192.169.0.1",
    "198.17.255.255",
    "198.20.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
];

#[test]
fn every_special_range_is_refused() {
    let g = guard(&[]);
    for s in FORBIDDEN_IPS {
        let err = g
            .check_ip(s, ip(s))
            .expect_err(&format!("{s} must be refused"));
        assert_eq!(err.code(), "url_forbidden", "{s}: {err}");
        assert!(err.is_client_error());
        // A literal address is named in the message (canonical form), with the range.
        assert!(err.to_string().contains(&ip(s).to_string()), "{s}: {err}");
    }
}

#[test]
fn public_addresses_pass() {
    let g = guard(&[]);
    for s in PUBLIC_IPS {
        g.check_ip(s, ip(s))
            .unwrap_or_else(|e| panic!("{s} must pass: {e}"));
    }
}

#[test]
fn messages_name_the_range() {
    let g = guard(&[]);
    let cases = [
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("127.0.0.1", "loopback range 127.0.0.0/8"),
        ("10.1.2.3", "private range 10.0.0.0/8"),
        ("100.64.1.1", "CGNAT"),
        ("255.255.255.255", "broadcast"),
        ("::ffff:192.168.1.1", "IPv4-mapped"),
        ("64:ff9b::a00:1", "NAT64"),
        ("2002:a00:1::", "6to4"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
    ];
    for (addr, phrase) in cases {
        let err = g.check_ip(addr, ip(addr)).unwrap_err().to_string();
        assert!(err.contains(phrase), "{addr}: {err}");
    }
}

#[test]
fn a_resolved_name_does_not_reveal_the_internal_address() {
    let g = guard(&[]);
    let err = g
        .check_ip("db.corp.example", ip("10.20.30.40"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("host db.corp.example resolves to an address in the private range 10.0.0.0/8"),
        "{err}"
    );
    assert!(!err.contains("10.20.30.40"), "{err}");
}

// ---------------------------------------------------------------- guard: URLs

#[test]
fn url_parser_normalises_ipv4_spellings() {
    for spelling in [
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://0x7F000001/",
        "http://127.1/",
        "http://0177.1/",
    ] {
        let url = Url::parse(spelling).unwrap();
        assert_eq!(url.host_str(), Some("127.0.0.1"), "{spelling}");
    }
}

#[test]
fn forbidden_urls_are_refused() {
    let g = guard(&[]);
    let urls = [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/x",
        "https://127.0.0.2/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://0x7f000001:80/",
        "http://127.1/",
        "http://127.0.0.1./",
        "http://127.000.000.001/",
        "http://0/",
        "http://0.0.0.0:9000/",
        "http://[::]/",
        "http://[::1]:8080/",
        "http://[0:0:0:0:0:0:0:1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://2852039166/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.1/",
        "http://012.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1:8443/",
        "http://100.64.0.1/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://localhost/",
        "http://LOCALHOST:8080/",
        "http://localhost./",
        "http://api.localhost/",
    ];
    for u in urls {
        let url = Url::parse(u).unwrap();
        let err = g.check_url(&url).expect_err(u);
        assert_eq!(err.code(), "url_forbidden", "{u}: {err}");
    }
}

#[test]
fn bad_urls_are_invalid_and_do_not_leak_credentials() {
    let g = guard(&[]);
    for u in [
        "ftp://example.com/a.mp4",
        "file:///etc/passwd",
        "gopher://example.com/",
        "data:video/mp4;base64,AAAA",
        "unix:/var/run/docker.sock",
        "http://user:hunter2@example.com/a.mp4",
        "http://user@example.com/a.mp4",
        "https://:hunter2@example.com/",
    ] {
        let url = Url::parse(u).unwrap();
        let err = g.check_url(&url).expect_err(u);
        assert_eq!(err.code(), "invalid_url", "{u}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
    // Userinfo with an allowlisted host is still refused.
    let g = guard(&["127.0.0.1"]);
    let err = g
        .check_url(&Url::parse("http://a:secretpw@127.0.0.1/").unwrap())
        .unwrap_err();
    assert_eq!(err.code(), "invalid_url");
    assert!(!err.to_string().contains("secretpw"));
}

#[test]
fn public_urls_pass_without_resolution() {
    // check_url does not resolve names: these never leave the process.
    let g = guard(&[]);
    for u in [
        "https://example.com/video.mp4",
        "http://media.example.org:8080/a?b=c",
        "http://8.8.8.8/",
        "http://[2606:4700:4700::1111]/",
        "http://[::ffff:8.8.8.8]/",
    ] {
        g.check_url(&Url::parse(u).unwrap())
            .unwrap_or_else(|e| panic!("{u}: {e}"));
    }
}

// ---------------------------------------------------------------- guard: allowlist

#[test]
fn allowlist_by_ip() {
    let g = guard(&["127.0.0.1"]);
    g.check_ip("127.0.0.1", ip("127.0.0.1")).unwrap();
    g.check_ip("127.0.0.1", ip("::ffff:127.0.0.1")).unwrap();
    g.check_url(&Url::parse("http://127.0.0.1:1234/").unwrap())
        .unwrap();
    g.check_url(&Url::parse("http://2130706433/").unwrap())
        .unwrap();
    for other in ["127.0.0.2", "::1", "10.0.0.1"] {
        assert_eq!(
            g.check_ip(other, ip(other)).unwrap_err().code(),
            "url_forbidden"
        );
    }
    // A name resolving to the allowlisted address passes by address.
    g.check_ip("box.example", ip("127.0.0.1")).unwrap();
}

#[test]
fn allowlist_by_cidr() {
    let g = guard(&["10.0.0.0/8", "fd00::/8", "192.168.1.7/24"]);
    g.check_ip("10.9.8.7", ip("10.9.8.7")).unwrap();
    g.check_ip("fd12::1", ip("fd12::1")).unwrap();
    g.check_ip("64:ff9b::a01:203", ip("64:ff9b::a01:203"))
        .unwrap();
    // Host bits in the entry are ignored: 192.168.1.0/24.
    g.check_ip("192.168.1.200", ip("192.168.1.200")).unwrap();
    for other in [
        "100.64.0.1",
        "172.16.0.1",
        "fc00::1",
        "192.168.2.1",
        "127.0.0.1",
    ] {
        assert!(g.check_ip(other, ip(other)).is_err(), "{other}");
    }
    // The metadata address stays refused unless it is itself allowlisted.
    assert!(g.check_ip("x", ip("169.254.169.254")).is_err());
}

#[test]
fn allowlist_by_host_name() {
    let g = guard(&["Media.Internal", "localhost"]);
    g.check_ip("media.internal", ip("10.0.0.5")).unwrap();
    g.check_ip("MEDIA.INTERNAL.", ip("192.168.0.5")).unwrap();
    g.check_url(&Url::parse("http://media.internal:9000/a.mp4").unwrap())
        .unwrap();
    g.check_url(&Url::parse("http://localhost:8080/").unwrap())
        .unwrap();
    // Other names resolving to the same addresses are refused.
    assert!(g.check_ip("evil.example", ip("10.0.0.5")).is_err());
    assert!(g.check_ip("sub.media.internal", ip("10.0.0.5")).is_err());
    // A host-name entry does not allowlist the address itself.
    assert!(g.check_ip("10.0.0.5", ip("10.0.0.5")).is_err());
}

#[test]
fn allowlist_entries_are_validated() {
    for bad in ["10.0.0.0/33", "not a host", "http://x/", "a:b:c", "/8"] {
        let err = UrlGuard::new(&[bad.to_string()]).expect_err(bad);
        assert_eq!(err.code(), "invalid_url", "{bad}");
    }
    // Blank entries (an empty AUDIOTAP_URL_ALLOWLIST split on commas) are ignored.
    let g = UrlGuard::new(&["".into(), "  ".into()]).unwrap();
    assert!(g.allowlist_is_empty());
    // Bracketed IPv6 and WHATWG IPv4 spellings are addresses.
    let g = UrlGuard::new(&["[::1]".into(), "0x7f.2".into()]).unwrap();
    g.check_ip("::1", ip("::1")).unwrap();
    g.check_ip("127.0.0.2", ip("127.0.0.2")).unwrap();
}
