//! SSRF guard: which destinations an outbound request may reach.
//!
//! The rule is "public unicast addresses only": loopback, private, link-local, shared
//! (CGNAT), multicast, broadcast, unspecified, documentation, benchmarking and reserved
//! ranges are refused, as are the cloud metadata endpoints, and IPv6 forms that embed an
//! IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the embedded address.
//! An operator can exempt host names, addresses or CIDRs with an allowlist (for example a
//! media server on the internal network).
//!
//! [`UrlGuard::check_url`] checks the URL itself (scheme, credentials, literal IP hosts,
//! `localhost`); [`UrlGuard::check_ip`] checks each address a host name resolves to (the
//! guarded client's resolver calls it, see [`crate::net::client`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;
use reqwest::Url;

use super::NetError;

/// Decides whether a URL or a resolved address may be contacted.
#[derive(Debug, Clone, Default)]
pub struct UrlGuard {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

impl UrlGuard {
    /// `allowlist` entries: host names (exact, case-insensitive), IPs, or CIDRs (v4/v6),
    /// e.g. `["127.0.0.1", "10.0.0.0/8", "media.internal"]`. Blank entries are ignored;
    /// anything else that is not a valid host name, address or CIDR is an error.
    pub fn new(allowlist: &[String]) -> Result<Self, NetError> {
        let mut guard = UrlGuard::default();
        for raw in allowlist {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            let bad = || NetError::InvalidUrl(format!("invalid URL allowlist entry {entry:?}"));
            if entry.contains('/') {
                let net = IpNet::from_str(entry).map_err(|_| bad())?;
                guard.nets.push(net.trunc());
                continue;
            }
            let bare = entry.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = IpAddr::from_str(bare) {
                guard.nets.push(IpNet::from(ip));
                continue;
            }
            // A host name: normalise it the way URLs are (lower case, IDNA, and the WHATWG
            // IPv4 spellings such as "0x7f.1" become addresses).
            let url = Url::parse(&format!("http://{entry}/")).map_err(|_| bad())?;
            if url.path() != "/" || url.port().is_some() || !url.username().is_empty() {
                return Err(bad());
            }
            match url_host(&url) {
                Some(UrlHost::Ip(ip)) => guard.nets.push(IpNet::from(ip)),
                Some(UrlHost::Domain(name)) if !name.is_empty() => {
                    guard.hosts.push(normalise_host(name))
                }
                _ => return Err(bad()),
            }
        }
        Ok(guard)
    }

    /// True when the allowlist is empty (every special address is refused).
    pub fn allowlist_is_empty(&self) -> bool {
        self.hosts.is_empty() && self.nets.is_empty()
    }

    /// Refuse loopback, private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10),
    /// CGNAT 100.64/10, multicast, broadcast, unspecified, documentation/benchmark/reserved
    /// ranges, 0.0.0.0/8, the cloud metadata addresses 169.254.169.254 and fd00:ec2::254,
    /// IPv4-mapped/-compatible IPv6 (checked as the embedded v4), NAT64 64:ff9b::/96 and
    /// 6to4 2002::/16 (embedded v4), Teredo, and any IPv6 outside global unicast 2000::/3,
    /// unless the host name or the IP matches the allowlist.
    ///
    /// `host` is the name the address was resolved from (or the literal address). The
    /// message names the range; it names the address itself only when `host` is that
    /// literal address, so the API cannot be used to learn what internal names resolve to.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), NetError> {
        if self.host_allowed(host) {
            return Ok(());
        }
        match self.ip_refusal(ip) {
            None => Ok(()),
            Some(reason) => {
                let literal = parse_ip_host(host) == Some(ip);
                Err(NetError::UrlForbidden(if literal {
                    format!("{ip} is {reason}; add it to AUDIOTAP_URL_ALLOWLIST to allow it")
                } else {
                    let article = if reason.starts_with("in ") || reason.starts_with("outside ") {
                        "an address "
                    } else {
                        ""
                    };
                    format!(
                        "host {} resolves to {article}{reason}; add the host to \
                         AUDIOTAP_URL_ALLOWLIST to allow it",
                        normalise_host(host)
                    )
                }))
            }
        }
    }

    /// Scheme must be http/https; no userinfo; host present; port any. Literal IP hosts
    /// (including the decimal "2130706433", octal "0177.0.0.1" and hex "0x7f.1" spellings,
    /// which the URL parser normalises to dotted quads) and `localhost` names are checked
    /// here; other host names are checked when they are resolved.
    pub fn check_url(&self, url: &Url) -> Result<(), NetError> {
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(NetError::InvalidUrl(format!(
                    "scheme {other:?} is not allowed: only http and https URLs are accepted"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(NetError::InvalidUrl(
                "URLs with credentials (user:password@) are not accepted".into(),
            ));
        }
        match url_host(url) {
            None => Err(NetError::InvalidUrl("the URL has no host".into())),
            Some(UrlHost::Ip(ip)) => self.check_ip(&ip.to_string(), ip),
            Some(UrlHost::Domain(name)) => {
                if name.is_empty() {
                    return Err(NetError::InvalidUrl("the URL has no host".into()));
                }
                if is_localhost_name(name) && !self.host_allowed(name) {
                    return Err(NetError::UrlForbidden(format!(
                        "host {} is a loopback name; add it to AUDIOTAP_URL_ALLOWLIST to \
                         allow it",
                        normalise_host(name)
                    )));
                }
                Ok(())
            }
        }
    }

    /// Whether `host` is allowlisted, by name or (for a literal address) by address.
    pub fn host_allowed(&self, host: &str) -> bool {
        if let Some(ip) = parse_ip_host(host) {
            return self.ip_allowed(ip);
        }
        let host = normalise_host(host);
        self.hosts.contains(&host)
    }

    fn ip_allowed(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Why `ip` is refused (a phrase such as "in the loopback range 127.0.0.0/8"), or None
    /// when it may be contacted.
    fn ip_refusal(&self, ip: IpAddr) -> Option<String> {
        if self.ip_allowed(ip) {
            return None;
        }
        match ip {
            IpAddr::V4(v4) => v4_refusal(v4).map(str::to_owned),
            IpAddr::V6(v6) => self.v6_refusal(v6),
        }
    }

    fn v6_refusal(&self, ip: Ipv6Addr) -> Option<String> {
        let bits = u128::from(ip);
        // Forms that carry an IPv4 address: judge the embedded address (allowlist included).
        let embedded = |v4: Ipv4Addr, form: &str| -> Option<String> {
            self.ip_refusal(IpAddr::V4(v4))
                .map(|why| format!("{form} embedding an IPv4 address {why}"))
        };
        if bits == 0 {
            return Some("the unspecified address ::".into());
        }
        if bits == 1 {
            return Some("the loopback address ::1".into());
        }
        if in_v6(bits, 0xffff_0000_0000, 96) {
            return embedded(low_v4(bits), "an IPv4-mapped IPv6 address");
        }
        if in_v6(bits, 0, 96) {
            // Deprecated (RFC 4291) and never routed: refused even with a public v4 inside.
            return Some(
                embedded(low_v4(bits), "an IPv4-compatible IPv6 address")
                    .unwrap_or_else(|| "a deprecated IPv4-compatible IPv6 address (::/96)".into()),
            );
        }
        if in_v6(bits, 0x0064_ff9b << 96, 96) {
            return embedded(low_v4(bits), "a NAT64 address (64:ff9b::/96)");
        }
        if in_v6(bits, 0x2002 << 112, 16) {
            let v4 = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
            return embedded(v4, "a 6to4 address (2002::/16)");
        }
        V6_RANGES
            .iter()
            .find(|(base, len, _)| in_v6(bits, *base, *len))
            .map(|(_, _, why)| (*why).to_owned())
            .or_else(|| {
                (!in_v6(bits, 0x2 << 124, 3))
                    .then(|| "outside IPv6 global unicast 2000::/3 (reserved)".to_owned())
            })
    }
}

/// IPv4 special-purpose ranges, most specific first: (network, prefix length, phrase).
const V4_RANGES: &[(u32, u8, &str)] = &[
    (
        0xa9fe_a9fe,
        32,
        "the cloud metadata address 169.254.169.254",
    ),
    (
        0xa83f_8110,
        32,
        "the cloud platform address 168.63.129.16 (Azure WireServer)",
    ),
    (0, 32, "the unspecified address 0.0.0.0"),
    (0xffff_ffff, 32, "the broadcast address 255.255.255.255"),
    (0, 8, "in the \"this network\" range 0.0.0.0/8"),
    (0x0a00_0000, 8, "in the private range 10.0.0.0/8"),
    (0x6440_0000, 10, "in the shared (CGNAT) range 100.64.0.0/10"),
    (0x7f00_0000, 8, "in the loopback range 127.0.0.0/8"),
    (0xa9fe_0000, 16, "in the link-local range 169.254.0.0/16"),
    (0xac10_0000, 12, "in the private range 172.16.0.0/12"),
    (
        0xc000_0000,
        24,
        "in the IETF protocol assignments range 192.0.0.0/24",
    ),
    (0xc000_0200, 24, "in the documentation range 192.0.2.0/24"),
    (
        0xc058_6300,
        24,
        "in the 6to4 relay anycast range 192.88.99.0/24",
    ),
    (0xc0a8_0000, 16, "in the private range 192.168.0.0/16"),
    (0xc612_0000, 15, "in the benchmarking range 198.18.0.0/15"),
    (
        0xc633_6400,
        24,
        "in the documentation range 198.51.100.0/24",
    ),
    (0xcb00_7100, 24, "in the documentation range 203.0.113.0/24"),
    (0xe000_0000, 4, "in the multicast range 224.0.0.0/4"),
    (0xf000_0000, 4, "in the reserved range 240.0.0.0/4"),
];

/// IPv6 special-purpose ranges checked after the IPv4-embedding forms, most specific first.
/// Anything else outside 2000::/3 is refused as reserved.
const V6_RANGES: &[(u128, u8, &str)] = &[
    (
        0xfd00_0ec2_0000_0000_0000_0000_0000_0254,
        128,
        "the cloud metadata address fd00:ec2::254",
    ),
    (
        0x0064_ff9b_0001 << 80,
        48,
        "in the local-use NAT64 range 64:ff9b:1::/48",
    ),
    (0x0100 << 112, 64, "in the discard-only range 100::/64"),
    (0x2001 << 112, 32, "in the Teredo range 2001::/32"),
    (
        0x2001_0002 << 96,
        48,
        "in the benchmarking range 2001:2::/48",
    ),
    (
        0x2001 << 112,
        23,
        "in the IETF special-purpose range 2001::/23",
    ),
    (
        0x2001_0db8 << 96,
        32,
        "in the documentation range 2001:db8::/32",
    ),
    (0x3fff << 112, 20, "in the documentation range 3fff::/20"),
    (0x5f00 << 112, 16, "in the SRv6 SID range 5f00::/16"),
    (
        0xfc00 << 112,
        7,
        "in the unique local (private) range fc00::/7",
    ),
    (0xfe80 << 112, 10, "in the link-local range fe80::/10"),
    (
        0xfec0 << 112,
        10,
        "in the deprecated site-local range fec0::/10",
    ),
    (0xff00 << 112, 8, "in the multicast range ff00::/8"),
];

fn v4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_RANGES
        .iter()
        .find(|(base, len, _)| {
            let mask = if *len == 0 { 0 } else { u32::MAX << (32 - len) };
            bits & mask == *base
        })
        .map(|(_, _, why)| *why)
}

fn in_v6(bits: u128, base: u128, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    bits & mask == base
}

fn low_v4(bits: u128) -> Ipv4Addr {
    Ipv4Addr::from((bits & 0xffff_ffff) as u32)
}

enum UrlHost<'a> {
    Ip(IpAddr),
    Domain(&'a str),
}

/// The URL's host. The URL parser has already turned every IPv4 spelling (decimal, octal,
/// hex, short forms) into a dotted quad and IPv6 into its canonical bracketed form, so a
/// host that does not parse as an address here is a domain name.
fn url_host(url: &Url) -> Option<UrlHost<'_>> {
    let host = url.host_str()?;
    Some(match parse_ip_host(host) {
        Some(ip) => UrlHost::Ip(ip),
        None => UrlHost::Domain(host),
    })
}

/// Lower case, without a trailing dot or IPv6 brackets.
fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn parse_ip_host(host: &str) -> Option<IpAddr> {
    IpAddr::from_str(host.trim_start_matches('[').trim_end_matches(']')).ok()
}

/// `localhost` and `*.localhost` (RFC 6761: always loopback), with or without a final dot.
fn is_localhost_name(host: &str) -> bool {
    let host = normalise_host(host);
    host == "localhost" || host.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_tables_are_canonical_networks() {
        for (base, len, why) in V4_RANGES {
            let net = ipnet::Ipv4Net::new(Ipv4Addr::from(*base), *len).unwrap();
            assert_eq!(u32::from(net.network()), *base, "{why}");
        }
        for (base, len, why) in V6_RANGES {
            let net = ipnet::Ipv6Net::new(Ipv6Addr::from(*base), *len).unwrap();
            assert_eq!(u128::from(net.network()), *base, "{why}");
        }
    }

    #[test]
    fn table_phrases_match_their_bases() {
        let g = UrlGuard::default();
        let cases: &[(&str, &str)] = &[
            ("100.127.255.255", "100.64.0.0/10"),
            ("172.31.0.1", "172.16.0.0/12"),
            ("198.19.255.255", "198.18.0.0/15"),
            ("fd00:ec2::254", "metadata"),
            ("fd00:ec2::253", "fc00::/7"),
            ("2001:1ff::1", "2001::/23"),
            ("2001:0:1::1", "Teredo"),
            ("2001:2::1", "benchmarking"),
            ("64:ff9b:1::1", "64:ff9b:1::/48"),
            ("3fff:fff::1", "3fff::/20"),
            ("4000::1", "2000::/3"),
        ];
        for (ip, phrase) in cases {
            let ip: IpAddr = ip.parse().unwrap();
            let why = g.ip_refusal(ip).unwrap_or_else(|| panic!("{ip} allowed"));
            assert!(why.contains(phrase), "{ip}: {why}");
        }
        // Just outside the ranges.
        for ip in [
            "100.128.0.0",
            "172.32.0.1",
            "198.20.0.1",
            "2001:200::1",
            "3fff:1000::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(g.ip_refusal(ip), None, "{ip}");
        }
    }
}
