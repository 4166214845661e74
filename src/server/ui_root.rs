//! `gateway.controlUi.root` (openclaw's key): serve a Control UI build from a directory
//! instead of the embedded one, e.g. openclaw 2026.9's own bundle
//! (`node_modules/openclaw/dist/control-ui`), so a user keeps the UI they know while
//! the gateway is ours.
//!
//! The path is hostile input. A request names a file only through plain segments:
//! no `..`/`.`, no empty or dot-led segment, no backslash, NUL or `%` (nothing is
//! percent-decoded, so no encoded spelling of those either: the bundle's names are
//! plain ASCII). The resolved file must still lie under the canonical root after
//! symlinks are followed, so a link inside the root cannot point out of it.
//!
//! `index.html` gets `data-openclaw-control-ui-base-path` on `<html>` (the bundle reads
//! its mount prefix, and from it the WebSocket URL, from there); a path without a file
//! extension that names no file is a client-side route (`/chat`, `/sessions/…`) and
//! gets the page. `.br`/`.gz` twins the bundle ships are served when the browser
//! accepts them.

use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Where a request path leads inside the root.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A file to send as it is.
    File(PathBuf),
    /// The page (`index.html`, or a client-side route).
    Page(PathBuf),
    NotFound,
    /// A spelling that tries to leave the root or hide a name.
    Refused,
}

/// `rest` is the request path after the base path (`/` or `/assets/x.js`).
pub fn resolve(root: &Path, rest: &str) -> Target {
    let Ok(root) = root.canonicalize() else {
        return Target::NotFound;
    };
    let rel = rest.trim_start_matches('/');
    if rel.is_empty() || rel == "index.html" {
        return Target::Page(root.join("index.html"));
    }
    if rel.contains(['\\', '\0', '%']) || rest.contains("//") {
        return Target::Refused;
    }
    let segs: Vec<&str> = rel.split('/').collect();
    if segs.iter().any(|s| s.is_empty() || s.starts_with('.')) {
        return Target::Refused;
    }
    let candidate = segs.iter().fold(root.clone(), |p, s| p.join(s));
    match candidate.canonicalize() {
        Ok(real) if !real.starts_with(&root) => Target::Refused,
        Ok(real) if real.is_file() => Target::File(real),
        Ok(_) => Target::NotFound,
        // A client-side route: no extension in the last segment.
        Err(_) if !segs.last().is_some_and(|s| s.contains('.')) => {
            Target::Page(root.join("index.html"))
        }
        Err(_) => Target::NotFound,
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Puts the base-path attribute on the page's `<html` tag (once, before any other).
pub fn stamp(html: &str, base: &str) -> String {
    let escaped = base
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let attr = format!(" data-openclaw-control-ui-base-path=\"{escaped}\"");
    match html.find("<html") {
        Some(i) => format!("{}{attr}{}", &html[..i + 5], &html[i + 5..]),
        None => html.to_string(),
    }
}

fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with(coding)))
}

fn plain(code: StatusCode, text: &'static str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// Answers a GET under the UI's base path from `root`.
pub async fn serve(root: &Path, base: &str, rest: &str, headers: &HeaderMap) -> Response {
    let target = resolve(root, rest);
    let (path, page) = match target {
        Target::File(p) => (p, false),
        Target::Page(p) => (p, true),
        Target::NotFound => return plain(StatusCode::NOT_FOUND, "Not Found"),
        Target::Refused => return plain(StatusCode::BAD_REQUEST, "bad path"),
    };
    let mut encoding = None;
    let mut body = None;
    if !page {
        for (coding, ext) in [("br", "br"), ("gzip", "gz")] {
            if !accepts(headers, coding) {
                continue;
            }
            let mut twin = path.clone().into_os_string();
            twin.push(format!(".{ext}"));
            if let Ok(bytes) = tokio::fs::read(&twin).await {
                encoding = Some(coding);
                body = Some(bytes);
                break;
            }
        }
    }
    let body = match body {
        Some(b) => b,
        None => match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if page => {
                tracing::warn!(target: "ui", "gateway.controlUi.root: cannot read {}: {e}", path.display());
                return plain(
                    StatusCode::NOT_FOUND,
                    "gateway.controlUi.root has no readable index.html; point it at a Control UI build (e.g. openclaw's dist/control-ui)",
                );
            }
            Err(_) => return plain(StatusCode::NOT_FOUND, "Not Found"),
        },
    };
    let body = if page {
        stamp(&String::from_utf8_lossy(&body), base).into_bytes()
    } else {
        body
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    super::ui::file_headers(h, content_type(&path), page);
    if let Some(c) = encoding {
        h.insert(header::CONTENT_ENCODING, c.parse().expect("static header"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_that_leaves_the_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ui");
        std::fs::create_dir_all(root.join("assets")).unwrap();
        std::fs::write(root.join("index.html"), "<html lang=en></html>").unwrap();
        std::fs::write(root.join("assets/app.js"), "x").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
        std::fs::write(root.join(".env"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("assets/link.js"))
            .unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
        let real = root.canonicalize().unwrap();
        assert_eq!(
            resolve(&root, "/assets/app.js"),
            Target::File(real.join("assets/app.js"))
        );
        assert_eq!(resolve(&root, "/"), Target::Page(real.join("index.html")));
        assert_eq!(
            resolve(&root, "/chat"),
            Target::Page(real.join("index.html"))
        );
        assert_eq!(resolve(&root, "/nope.js"), Target::NotFound);
        assert_eq!(resolve(&root, "/assets"), Target::NotFound);
        for bad in [
            "/../secret.txt",
            "/assets/../../secret.txt",
            "/./index.html",
            "/%2e%2e/secret.txt",
            "/..%2fsecret.txt",
            "/%2E%2E%5Csecret.txt",
            "/..\\secret.txt",
            "/assets\\..\\..\\secret.txt",
            "/assets//app.js",
            "//etc/passwd",
            "/.env",
            "/assets/.hidden",
            "/index.html\0",
            "/assets/link.js",
            "/up/secret.txt",
        ] {
            assert_eq!(resolve(&root, bad), Target::Refused, "{bad:?}");
        }
    }

    #[test]
    fn the_page_gets_the_base_path_attribute_escaped() {
        assert_eq!(
            stamp(
                "<!doctype html><html lang=\"en\"><body></body></html>",
                "/claw"
            ),
            "<!doctype html><html data-openclaw-control-ui-base-path=\"/claw\" lang=\"en\"><body></body></html>"
        );
        assert!(stamp("<html>", "/a\"><script>").contains("/a&quot;>&lt;script>"));
    }
}
