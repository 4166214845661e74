//! Which addresses `web_fetch` may reach. Everything the model fetches is chosen by text
//! that strangers and web pages control, so the gateway host's own network (loopback, the
//! LAN, link-local cloud metadata at 169.254.169.254, CGNAT, unique-local IPv6) is off
//! limits unless the operator names a host in `tools.web.fetch.allowPrivateHosts`.
//! IPv6 spellings that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged
//! by the IPv4 address inside them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused: the rule's name, and the IPv4 address it was found in when
/// the address was an IPv6 wrapper.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    pub rule: &'static str,
    pub inner: Option<Ipv4Addr>,
}

fn v4_rule(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => "broadcast",
        (0, _, _) => "unspecified (\"this network\")",
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) => "private (RFC 1918)",
        (172, b, _) if (16..32).contains(&b) => "private (RFC 1918)",
        (169, 254, _) => "link-local",
        (100, b, _) if (64..128).contains(&b) => "carrier-grade NAT (100.64.0.0/10)",
        (192, 0, 0) => "reserved (IETF protocol assignments)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18, _) | (198, 19, _) => "benchmarking",
        (192, 88, 99) => "reserved (6to4 relay anycast)",
        (a, _, _) if (224..240).contains(&a) => "multicast",
        (a, _, _) if a >= 240 => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn embedded(seg: &[u16; 8], hi: usize) -> Ipv4Addr {
    let (h, l) = (seg[hi], seg[hi + 1]);
    Ipv4Addr::new((h >> 8) as u8, h as u8, (l >> 8) as u8, l as u8)
}

/// The IPv4 address an IPv6 address stands for, if it is one of the wrapper forms.
fn inner_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    match s {
        // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (SIIT translated).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(embedded(&s, 6)),
        // ::a.b.c.d (deprecated compatible form), except :: and ::1 themselves.
        [0, 0, 0, 0, 0, 0, h, l] if h != 0 || l > 1 => Some(embedded(&s, 6)),
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(embedded(&s, 6)),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, _, _, _, _, _, _, _] => Some(embedded(&s, 1)),
        _ => None,
    }
}

fn v6_rule(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        x if x & 0xffc0 == 0xfe80 => "link-local",
        x if x & 0xffc0 == 0xfec0 => "site-local (deprecated private)",
        x if x & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
        x if x & 0xff00 == 0xff00 => "multicast",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x2001 if s[1] == 0x0002 && s[2] == 0 => "benchmarking",
        // 2001::/23: Teredo, ORCHID and other IETF assignments, none a web server.
        0x2001 if s[1] < 0x0200 => "reserved (IETF protocol assignments)",
        x if x & 0xfff0 == 0x3ff0 && x <= 0x3fff => "documentation",
        0x0100 if s[1..4] == [0, 0, 0] => "reserved (discard-only)",
        0x0064 if s[1] == 0xff9b && s[2] == 1 => "private (local-use NAT64)",
        0x5f00 => "reserved (SRv6 SIDs)",
        _ => return None,
    })
}

/// The rule that refuses `ip`, or `None` when it is a public unicast address.
pub fn classify(ip: IpAddr) -> Option<Blocked> {
    match ip {
        IpAddr::V4(v4) => v4_rule(v4).map(|rule| Blocked { rule, inner: None }),
        IpAddr::V6(v6) => {
            if let Some(v4) = inner_v4(v6) {
                return v4_rule(v4).map(|rule| Blocked {
                    rule,
                    inner: Some(v4),
                });
            }
            v6_rule(v6).map(|rule| Blocked { rule, inner: None })
        }
    }
}

/// The refusal the model sees: the address, the rule, and the key that lifts it.
pub fn refusal(host: &str, ip: IpAddr, b: &Blocked) -> String {
    let article = if b.rule.starts_with(['a', 'e', 'i', 'o']) || b.rule.starts_with("unspec") {
        "an"
    } else {
        "a"
    };
    let inner = b
        .inner
        .map(|v4| format!(" (it embeds the IPv4 address {v4})"))
        .unwrap_or_default();
    let subject = if host.trim_matches(['[', ']']) == ip.to_string() {
        format!("{ip} is")
    } else {
        format!("{host} resolves to {ip}, which is")
    };
    format!(
        "{subject} {article} {} address{inner}; web_fetch refuses loopback, private and link-local addresses (tools.web.fetch.allowPrivateHosts to allow a host)",
        b.rule
    )
}

/// One entry of `tools.web.fetch.allowPrivateHosts`: a host name, an IP, or a CIDR
/// block, each optionally with `:port` (`[v6]:port` for IPv6).
#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Name(String, Option<u16>),
    Net(IpAddr, u8, Option<u16>),
}

fn parse_entry(s: &str) -> Option<Entry> {
    let s = s.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if tail.is_empty() => None,
            None => return None,
        };
        (h.to_string(), port)
    } else if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':')?;
        (h.to_string(), Some(p.parse().ok()?))
    } else {
        (s.to_string(), None)
    };
    let (addr, prefix) = match host.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (host.as_str(), None),
    };
    if let Ok(ip) = addr.parse::<IpAddr>() {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        return (prefix <= max).then_some(Entry::Net(ip, prefix, port));
    }
    if prefix.is_some() || host.is_empty() || host.contains([':', '/']) {
        return None;
    }
    Some(Entry::Name(normalize_host(&host), port))
}

/// Lower case, no trailing dot, no brackets: the form host names are compared in.
pub fn normalize_host(h: &str) -> String {
    h.trim_matches(['[', ']'])
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - prefix as u32).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The operator's allowlist, parsed once per call.
#[derive(Debug, Default)]
pub struct Allowlist(Vec<Entry>);

impl Allowlist {
    /// Unparseable entries are skipped (and named in the returned list).
    pub fn parse(entries: &[String]) -> (Allowlist, Vec<String>) {
        let mut bad = vec![];
        let mut ok = vec![];
        for e in entries {
            match parse_entry(e) {
                Some(p) => ok.push(p),
                None => bad.push(e.clone()),
            }
        }
        (Allowlist(ok), bad)
    }

    /// Whether the operator allowed `ip` reached as `host:port`.
    pub fn allows(&self, host: &str, ip: IpAddr, port: u16) -> bool {
        let host = normalize_host(host);
        self.0.iter().any(|e| match e {
            Entry::Name(n, p) => *n == host && p.is_none_or(|p| p == port),
            Entry::Net(net, prefix, p) => in_net(ip, *net, *prefix) && p.is_none_or(|p| p == port),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        classify(s.parse().unwrap()).map(|b| b.rule)
    }

    #[test]
    fn ipv4_families() {
        for (ip, want) in [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.1.2.3", "private (RFC 1918)"),
            ("172.16.0.1", "private (RFC 1918)"),
            ("172.31.255.255", "private (RFC 1918)"),
            ("192.168.1.1", "private (RFC 1918)"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "carrier-grade NAT (100.64.0.0/10)"),
            ("100.127.255.255", "carrier-grade NAT (100.64.0.0/10)"),
            ("0.0.0.0", "unspecified (\"this network\")"),
            ("0.1.2.3", "unspecified (\"this network\")"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved (240.0.0.0/4)"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("192.0.0.8", "reserved (IETF protocol assignments)"),
        ] {
            assert_eq!(rule(ip), Some(want), "{ip}");
        }
        // Neighbours of every range stay public.
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.0.1",
            "192.169.0.1",
            "11.0.0.1",
            "126.255.255.255",
            "128.0.0.1",
            "223.255.255.255",
            "198.20.0.1",
        ] {
            assert_eq!(rule(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_families_and_ipv4_wrappers() {
        for (ip, want) in [
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local (deprecated private)"),
            ("fc00::1", "unique-local (fc00::/7)"),
            ("fd12:3456::1", "unique-local (fc00::/7)"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001:2::1", "benchmarking"),
            ("2001::1", "reserved (IETF protocol assignments)"),
            ("100::1", "reserved (discard-only)"),
            ("64:ff9b:1::1", "private (local-use NAT64)"),
            // IPv4 inside IPv6: judged by the IPv4 address.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:7f00:1", "loopback"),
            ("::ffff:10.0.0.1", "private (RFC 1918)"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:0:127.0.0.1", "loopback"),
            ("::127.0.0.1", "loopback"),
            ("::192.168.0.1", "private (RFC 1918)"),
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:7f00:1::", "loopback"),
            ("2002:c0a8:101::1", "private (RFC 1918)"),
        ] {
            assert_eq!(rule(ip), Some(want), "{ip}");
        }
        let b = classify("::ffff:127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(b.inner, Some(Ipv4Addr::LOCALHOST));
        for ip in [
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "fe7f::1",
            "fbff::1",
        ] {
            assert_eq!(rule(ip), None, "{ip}");
        }
    }

    #[test]
    fn refusal_names_the_rule_and_the_key() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let b = classify(ip).unwrap();
        assert_eq!(
            refusal("127.0.0.1", ip, &b),
            "127.0.0.1 is a loopback address; web_fetch refuses loopback, private and link-local addresses (tools.web.fetch.allowPrivateHosts to allow a host)"
        );
        let m = refusal("intranet.example", ip, &b);
        assert!(
            m.starts_with("intranet.example resolves to 127.0.0.1, which is a loopback"),
            "{m}"
        );
        let v6: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let m = refusal("[::ffff:7f00:1]", v6, &classify(v6).unwrap());
        assert!(m.contains("embeds the IPv4 address 127.0.0.1"), "{m}");
        let u: IpAddr = "fd00::1".parse().unwrap();
        assert!(refusal("fd00::1", u, &classify(u).unwrap()).contains("a unique-local"));
    }

    #[test]
    fn allowlist_entries() {
        let entries: Vec<String> = [
            "127.0.0.1:8080",
            "NAS.lan.",
            "10.0.0.0/8",
            "[::1]:9000",
            "printer:631",
            "bad:port:x",
            "1.2.3.4/40",
        ]
        .map(String::from)
        .to_vec();
        let (a, bad) = Allowlist::parse(&entries);
        assert_eq!(bad, ["bad:port:x", "1.2.3.4/40"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(a.allows("127.0.0.1", ip("127.0.0.1"), 8080));
        assert!(!a.allows("127.0.0.1", ip("127.0.0.1"), 8081));
        assert!(!a.allows("localhost", ip("127.0.0.2"), 8081));
        assert!(a.allows("nas.lan", ip("192.168.1.5"), 443));
        assert!(a.allows("x", ip("10.9.8.7"), 80));
        assert!(!a.allows("x", ip("11.0.0.1"), 80));
        assert!(a.allows("[::1]", ip("::1"), 9000));
        assert!(!a.allows("[::1]", ip("::1"), 9001));
        assert!(a.allows("printer", ip("192.168.1.9"), 631));
        assert!(!a.allows("printer", ip("192.168.1.9"), 80));
    }
}
