//! HTTP on the gateway port: WebSocket upgrades on any path (as the original), liveness
//! and readiness probes for Fly/Docker/Kubernetes, and the Control UI (`ui.rs`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::{Gateway, Phase};

pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new().fallback(entry).with_state(gw)
}

async fn entry(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let is_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        let allowed = gw
            .runtime()
            .loaded
            .config
            .gateway
            .control_ui
            .allowed_origins
            .clone();
        if let Err(origin) = super::origin::check(req.headers(), peer.ip(), &allowed) {
            tracing::debug!(target: "ws", "refused WebSocket upgrade from origin {origin:?} ({})", peer.ip());
            let body = format!(
                "origin not allowed: {origin}; add it to gateway.controlUi.allowedOrigins to allow it"
            );
            return (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                body,
            )
                .into_response();
        }
        let slot = req.extensions().get::<Arc<super::limits::Slot>>().cloned();
        let (mut parts, _body) = req.into_parts();
        let headers = parts.headers.clone();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &gw).await {
            Ok(ws) => {
                if gw.phase() == Phase::Draining {
                    return (StatusCode::SERVICE_UNAVAILABLE, "gateway is shutting down")
                        .into_response();
                }
                let token = gw.tasks.token();
                let gw2 = gw.clone();
                // Per-socket buffers sized for small JSON frames (tungstenite's 128 KiB
                // defaults cost ~256 KiB per idle client); large frames still work
                // (tungstenite reserves a frame's announced length). Small, because
                // tungstenite zero-fills the buffer's whole capacity before every read.
                ws.max_message_size(crate::protocol::MAX_PAYLOAD)
                    .max_frame_size(crate::protocol::MAX_PAYLOAD)
                    .read_buffer_size(2 * 1024)
                    .write_buffer_size(0)
                    .on_upgrade(move |socket| async move {
                        super::conn::handle(gw2, socket, peer, headers, slot).await;
                        drop(token);
                    })
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let get = matches!(method.as_str(), "GET" | "HEAD");
    match path.as_str() {
        "/healthz" if get => return healthz(&gw),
        "/readyz" if get => return readyz(&gw),
        _ => {}
    }
    if get && let Some(r) = super::ui::serve(&gw, &path, req.headers()).await {
        return r;
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Not Found",
    )
        .into_response()
}

/// Liveness: the process answers. No auth, no secrets.
fn healthz(gw: &Gateway) -> Response {
    let body = json!({"ok": true, "status": "live", "version": crate::VERSION, "uptimeMs": gw.uptime_ms()});
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

/// Readiness: 200 once listening, 503 while starting or draining.
fn readyz(gw: &Gateway) -> Response {
    let (code, phase) = match gw.phase() {
        Phase::Ready => (StatusCode::OK, "ready"),
        Phase::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        Phase::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
    };
    let body = json!({"ready": code == StatusCode::OK, "phase": phase});
    (
        code,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}
