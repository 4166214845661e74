//! The Control UI: plain JS modules and CSS from `ui/`, embedded in the binary (no CDN,
//! no build step, works offline and in the Nix build), served gzip-compressed when the
//! browser accepts it. `gateway.controlUi.enabled=false` turns it off;
//! `gateway.controlUi.basePath` serves it under a prefix for reverse proxies.

use std::io::Write;
use std::sync::OnceLock;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::state::Gateway;

/// `(file name, content type, bytes)`.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../ui/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/app.js"),
    ),
    (
        "gateway.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/gateway.js"),
    ),
    (
        "util.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/util.js"),
    ),
    (
        "chat.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/chat.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/pages.js"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/admin.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../ui/style.css"),
    ),
];

fn gzipped(i: usize) -> &'static [u8] {
    static CACHE: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    &CACHE.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, bytes)| {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let _ = enc.write_all(bytes);
                enc.finish().unwrap_or_default()
            })
            .collect()
    })[i]
}

/// The prefix the UI lives under: `""` or `/something` (no trailing slash).
pub fn base_path(gw: &Gateway) -> String {
    let raw = gw
        .runtime()
        .loaded
        .config
        .gateway
        .control_ui
        .base_path
        .clone()
        .unwrap_or_default();
    let trimmed = raw.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Answers a GET for the UI, or `None` when the path is not the UI's: the embedded
/// build, or the directory `gateway.controlUi.root` names (src/server/ui_root.rs).
pub async fn serve(gw: &Gateway, path: &str, headers: &HeaderMap) -> Option<Response> {
    let base = base_path(gw);
    let rest = path.strip_prefix(base.as_str())?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let ui = gw.runtime().loaded.config.gateway.control_ui.clone();
    if ui.enabled == Some(false) {
        return Some(
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "The Control UI is turned off (gateway.controlUi.enabled=false).",
            )
                .into_response(),
        );
    }
    if rest.is_empty() {
        // `/prefix` → `/prefix/`, so the page's relative asset URLs resolve under it.
        return Some(Redirect::permanent(&format!("{base}/")).into_response());
    }
    if rest == "/control-ui-config.json" {
        return Some(ui_config(gw, headers));
    }
    if let Some(root) = ui.root.as_deref().filter(|r| !r.trim().is_empty()) {
        let root = gw.env.expand_tilde(root);
        return Some(super::ui_root::serve(&root, &base, rest, headers).await);
    }
    let name = match rest.trim_start_matches('/') {
        "" | "index.html" => "index.html",
        n => n,
    };
    if let Some(agent) = name.strip_prefix("avatar/") {
        let _ = agent;
        return Some(axum::Json(serde_json::json!({"avatarUrl": null})).into_response());
    }
    let i = ASSETS.iter().position(|(n, _, _)| *n == name)?;
    let (_, ctype, bytes) = ASSETS[i];
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut resp = if gzip {
        ([(header::CONTENT_ENCODING, "gzip")], gzipped(i).to_vec()).into_response()
    } else {
        bytes.to_vec().into_response()
    };
    let h = resp.headers_mut();
    file_headers(h, ctype, name == "index.html");
    if name == "index.html" {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
                .parse()
                .expect("static header"),
        );
    }
    Some(resp)
}

/// What every UI file is sent with: its type, no sniffing, revalidation (assets change
/// with the binary or the bundle; the page is small), and for the page no framing.
pub(super) fn file_headers(h: &mut HeaderMap, ctype: &str, page: bool) {
    h.insert(header::CONTENT_TYPE, ctype.parse().expect("static header"));
    h.insert(
        header::VARY,
        "accept-encoding".parse().expect("static header"),
    );
    h.insert(
        header::CACHE_CONTROL,
        "no-cache".parse().expect("static header"),
    );
    h.insert(
        "x-content-type-options",
        "nosniff".parse().expect("static header"),
    );
    if page {
        h.insert("x-frame-options", "DENY".parse().expect("static header"));
    }
}

/// `/control-ui-config.json`, which openclaw's Control UI fetches with the gateway's
/// secret as a bearer token (it falls back to defaults on 401/404): the server version
/// and the assistant's name. `terminalEnabled` is false (no terminal here) and agrees
/// with the page, which carries no terminal attribute, so the UI does not reload.
fn ui_config(gw: &Gateway, headers: &HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let runtime = gw.runtime();
    let ok =
        bearer.is_some_and(|b| super::auth::authorize(&runtime.auth, Some(b), Some(b)).is_ok());
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({"error": "unauthorized"})),
        )
            .into_response();
    }
    let who = crate::heartbeat::identity::resolve(&runtime.loaded, None);
    let body = serde_json::json!({
        "serverVersion": crate::VERSION,
        "assistantAgentId": who["agentId"],
        "assistantName": who["name"],
        "terminalEnabled": false,
        "cliAgentsEnabled": false,
    });
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

/// Total embedded size and gzip size (for the size budget test).
pub fn sizes() -> (usize, usize) {
    let raw = ASSETS.iter().map(|(_, _, b)| b.len()).sum();
    let gz = (0..ASSETS.len()).map(|i| gzipped(i).len()).sum();
    (raw, gz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_small_and_every_module_is_served() {
        let (raw, gz) = sizes();
        assert!(raw < 150 * 1024, "UI is {raw} bytes; the budget is 150 KB");
        assert!(gz < raw / 2, "gzip {gz} of {raw}");
        // Every module a page imports is embedded (no 404 at runtime).
        for (name, _, bytes) in ASSETS {
            let text = std::str::from_utf8(bytes).unwrap();
            for line in text
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let Some(start) = line.find("\"./") else {
                    continue;
                };
                let rest = &line[start + 3..];
                let file = &rest[..rest.find('"').unwrap()];
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == file),
                    "{name} imports {file}, which is not embedded"
                );
            }
        }
    }

    #[test]
    fn every_file_in_ui_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(
                ASSETS.iter().any(|(n, _, _)| *n == name),
                "ui/{name} is not in ASSETS"
            );
        }
    }
}
