//! `web_fetch`: one GET per hop, each hop's host resolved once and vetted by
//! [`netguard`](super::netguard) before anything connects. The client for a hop is pinned
//! to the vetted addresses (`resolve_to_addrs`) and its fallback resolver refuses every
//! name, so no second DNS answer can rebind the connection; proxies are ignored, and
//! redirects are followed here (never by reqwest) so every `Location` is vetted again.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Name, Resolve, Resolving};
use serde_json::Value;

use super::netguard::{self, Allowlist};
use crate::config::model::WebFetch;

const FETCH_BYTES_CAP: usize = 2 * 1024 * 1024;

/// The resolver of last resort: every name not pinned to vetted addresses fails.
struct RefuseAll;

impl Resolve for RefuseAll {
    fn resolve(&self, name: Name) -> Resolving {
        let msg = format!(
            "web_fetch resolves {} only through its vetted lookup",
            name.as_str()
        );
        Box::pin(async move { Err(msg.into()) })
    }
}

/// Resolves `url`'s host once and returns the addresses it may connect to.
async fn vet(url: &Url, allow: &Allowlist) -> Result<Vec<SocketAddr>, String> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("{url} has no port"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("{url} has no host"))?
        .to_string();
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        _ => {
            let name = netguard::normalize_host(&host);
            tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect()
        }
    };
    if addrs.is_empty() {
        return Err(format!("cannot resolve {host}: no addresses"));
    }
    // One forbidden answer refuses the host: a name that mixes public and private
    // answers is how rebinding attacks look.
    for a in &addrs {
        if let Some(b) = netguard::classify(a.ip())
            && !allow.allows(&host, a.ip(), port)
        {
            return Err(netguard::refusal(&host, a.ip(), &b));
        }
    }
    Ok(addrs)
}

fn client(url: &Url, addrs: &[SocketAddr], cfg: &WebFetch) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(15))
        .user_agent(cfg.user_agent())
        .dns_resolver(Arc::new(RefuseAll));
    if let Some(url::Host::Domain(d)) = url.host() {
        b = b.resolve_to_addrs(d, addrs);
    }
    b.build().map_err(|e| format!("fetch failed: {e}"))
}

/// Runs the tool under `tools.web.fetch` (the whole call, every hop, within
/// `timeoutSeconds`).
pub async fn fetch(args: &Value, cfg: &WebFetch) -> Result<String, String> {
    let timeout = Duration::from_secs(cfg.timeout_seconds());
    match tokio::time::timeout(timeout, fetch_inner(args, cfg)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "fetch timed out after {}s (tools.web.fetch.timeoutSeconds)",
            timeout.as_secs()
        )),
    }
}

async fn fetch_inner(args: &Value, cfg: &WebFetch) -> Result<String, String> {
    let raw = super::arg(args, "url")?;
    let mut url = Url::parse(raw).map_err(|e| format!("invalid URL {raw}: {e}"))?;
    let max_chars = args
        .get("maxChars")
        .and_then(Value::as_u64)
        .unwrap_or(cfg.max_chars()) as usize;
    let (allow, bad) = Allowlist::parse(&cfg.allow_private_hosts);
    if let Some(b) = bad.first() {
        tracing::warn!(entry = %b, "tools.web.fetch.allowPrivateHosts: entry not understood; ignored");
    }
    let max_redirects = cfg.max_redirects();
    let mut hops = 0;
    let mut resp = loop {
        if !matches!(url.scheme(), "http" | "https") {
            return Err("only http:// and https:// URLs can be fetched".into());
        }
        let addrs = vet(&url, &allow).await.map_err(|e| {
            if hops > 0 {
                format!("redirect to {url} refused: {e}")
            } else {
                e
            }
        })?;
        let resp = client(&url, &addrs, cfg)?
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("fetch failed: {e}"))?;
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok());
        match location {
            Some(loc) if resp.status().is_redirection() => {
                if hops >= max_redirects {
                    return Err(format!(
                        "too many redirects (more than {max_redirects}; tools.web.fetch.maxRedirects)"
                    ));
                }
                url = url
                    .join(loc)
                    .map_err(|e| format!("bad redirect Location {loc}: {e}"))?;
                hops += 1;
            }
            _ => break resp,
        }
    };
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("fetch failed: {e}"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > FETCH_BYTES_CAP {
            body.truncate(FETCH_BYTES_CAP);
            break;
        }
    }
    let text = String::from_utf8_lossy(&body);
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push_str(&format!("\n[truncated at {max_chars} characters]"));
    }
    if !status.is_success() {
        return Err(format!("HTTP {}: {out}", status.as_u16()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL parser (WHATWG rules) turns every numeric spelling into the address it
    /// means before the classifier sees it; these are the spellings attackers use.
    #[tokio::test]
    async fn numeric_spellings_are_refused_before_connecting() {
        let allow = Allowlist::default();
        for u in [
            "http://127.0.0.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::1]/",
            "http://[0:0:0:0:0:0:0:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://0/",
            "http://10.0.0.1/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://100.64.0.1/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::1]/",
            "http://user:pw@127.0.0.1/",
            "http://127.0.0.1./",
            "http://%31%32%37.0.0.1/",
            "http://[::]/",
            "https://[::ffff:7f00:1]:443/",
            "http://017700000001/",
        ] {
            let url = Url::parse(u).unwrap();
            let e = vet(&url, &allow).await.unwrap_err();
            assert!(
                e.contains("web_fetch refuses loopback, private and link-local addresses"),
                "{u}: {e}"
            );
        }
        let e = vet(&Url::parse("http://0x7f000001:8080/").unwrap(), &allow)
            .await
            .unwrap_err();
        assert!(e.starts_with("127.0.0.1 is a loopback address"), "{e}");
    }

    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        let allow = Allowlist::default();
        for u in [
            "http://localhost/",
            "http://LOCALHOST./",
            "http://localhost:1/",
        ] {
            let e = vet(&Url::parse(u).unwrap(), &allow).await.unwrap_err();
            assert!(
                e.contains("resolves to") && e.contains("loopback"),
                "{u}: {e}"
            );
        }
        let (allow, _) = Allowlist::parse(&["localhost:1234".to_string()]);
        assert!(
            vet(&Url::parse("http://localhost:1234/").unwrap(), &allow)
                .await
                .is_ok()
        );
        assert!(
            vet(&Url::parse("http://localhost:1235/").unwrap(), &allow)
                .await
                .is_err()
        );
    }
}
