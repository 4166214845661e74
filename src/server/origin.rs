//! Which browser pages may open a WebSocket to the gateway. Browsers send `Origin` on
//! every WebSocket upgrade and let any page connect anywhere, so without this check any
//! web page the operator opens could guess a weak password against `ws://127.0.0.1`.
//! Non-browser clients (the CLI, apps) send no `Origin` and are not affected.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};

/// `Ok(())` when the upgrade may proceed; `Err(origin)` with the refused origin.
pub fn check(headers: &HeaderMap, peer: IpAddr, allowed: &[String]) -> Result<(), String> {
    let Some(raw) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = raw.to_str().unwrap_or("").trim().to_ascii_lowercase();
    let Some(o) = parse(&origin) else {
        return Err(origin);
    };
    let normalized = format!("{}://{}", o.scheme, o.authority());
    if allowed.iter().any(|a| {
        a.trim()
            .trim_end_matches('/')
            .eq_ignore_ascii_case(&normalized)
    }) {
        return Ok(());
    }
    if o.is_loopback() && peer.is_loopback() {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    if let Some(host) = host
        && let Some(h) = parse(&format!("{}://{host}", o.scheme))
        && h.host == o.host
        && h.port == o.port
        && (!peer.is_loopback() || proxied(headers))
    {
        return Ok(());
    }
    Err(origin)
}

/// DNS rebinding: a page on `evil.example` whose name later resolves to 127.0.0.1 is
/// "same origin" with the gateway by `Host`, and its browser connects from loopback. A
/// reverse proxy on the same machine (Caddy, nginx, `tailscale serve`) also connects
/// from loopback with the public name in `Host`, but it says so with a forwarding
/// header, which a page's WebSocket cannot set. So a non-loopback same-origin page
/// reached from loopback without one must be listed in
/// `gateway.controlUi.allowedOrigins`.
fn proxied(headers: &HeaderMap) -> bool {
    ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| headers.contains_key(*h))
}

struct Origin<'a> {
    scheme: &'a str,
    host: &'a str,
    /// Explicit or the scheme's default.
    port: u16,
}

impl Origin<'_> {
    fn authority(&self) -> String {
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn is_loopback(&self) -> bool {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// `scheme://host[:port]` with nothing else (no path, no userinfo), lowercase input.
fn parse(s: &str) -> Option<Origin<'_>> {
    let (scheme, rest) = s.split_once("://")?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        return None;
    }
    if rest.contains(['/', '@', '?', '#', ' ']) {
        return None;
    }
    let (host, port) = if rest.starts_with('[') {
        let end = rest.find(']')?;
        let (h, tail) = rest.split_at(end + 1);
        (h, tail.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None if scheme == "https" => 443,
        None => 80,
    };
    Some(Origin { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    const LO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const LAN: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 9));

    #[test]
    fn rules() {
        let none: &[String] = &[];
        assert!(check(&h(&[]), LAN, none).is_ok());
        let evil = h(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:18789"),
        ]);
        assert!(check(&evil, LO, none).is_err());
        for o in [
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example:18789",
            "null",
            "http://user@127.0.0.1:18789",
            "file://",
        ] {
            assert!(
                check(&h(&[("origin", o), ("host", "x")]), LO, none).is_err(),
                "{o}"
            );
        }
        assert!(check(&h(&[("origin", "http://localhost:5173")]), LO, none).is_ok());
        assert!(check(&h(&[("origin", "http://[::1]:5173")]), LO, none).is_ok());
        // Loopback origin from a non-loopback peer is not trusted.
        assert!(check(&h(&[("origin", "http://localhost:5173")]), LAN, none).is_err());
        let same = h(&[("origin", "https://gw.example"), ("host", "GW.example:443")]);
        assert!(check(&same, LAN, none).is_ok());
        let port = h(&[
            ("origin", "https://gw.example:8443"),
            ("host", "gw.example"),
        ]);
        assert!(check(&port, LAN, none).is_err());
        let listed = vec!["https://ui.example/".to_string()];
        let ui = h(&[("origin", "https://UI.example"), ("host", "gw.example")]);
        assert!(check(&ui, LAN, &listed).is_ok());
        let other = h(&[("origin", "https://ui.example:444"), ("host", "gw.example")]);
        assert!(check(&other, LAN, &listed).is_err());
    }

    #[test]
    fn dns_rebinding_is_refused_a_local_proxy_is_not() {
        let none: &[String] = &[];
        // The rebound page: same origin by Host, from the operator's own browser.
        for (o, host) in [
            ("http://evil.example:18789", "evil.example:18789"),
            ("http://EVIL.example:18789", "evil.example:18789"),
            ("https://rebind.example", "rebind.example:443"),
        ] {
            let rebound = h(&[("origin", o), ("host", host)]);
            assert!(check(&rebound, LO, none).is_err(), "{o}");
            let v6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
            assert!(check(&rebound, v6, none).is_err(), "{o} over ::1");
        }
        // A reverse proxy on the same machine says it is one.
        for fwd in ["x-forwarded-for", "forwarded", "x-real-ip"] {
            let proxied = h(&[
                ("origin", "https://gw.example"),
                ("host", "gw.example"),
                (fwd, "203.0.113.7"),
            ]);
            assert!(check(&proxied, LO, none).is_ok(), "{fwd}");
        }
        // Or the operator lists the name.
        let listed = vec!["http://evil.example:18789".to_string()];
        let rebound = h(&[
            ("origin", "http://evil.example:18789"),
            ("host", "evil.example:18789"),
        ]);
        assert!(check(&rebound, LO, &listed).is_ok());
        // Loopback pages themselves are unaffected.
        let local = h(&[
            ("origin", "http://127.0.0.1:18789"),
            ("host", "127.0.0.1:18789"),
        ]);
        assert!(check(&local, LO, none).is_ok());
    }
}
