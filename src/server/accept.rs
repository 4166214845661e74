//! The accept loop: our own instead of `axum::serve`, because that one sets no header
//! read timeout and counts nothing. Every socket takes a [`Slot`] before hyper sees it
//! (refused with a plain HTTP 503 when its address or the gateway is full), and hyper
//! closes a socket whose request head does not arrive within the header-read timeout
//! (which also bounds a kept-alive socket's idle wait for its next request).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use super::limits::{ConnLimits, Refusal, Slot};

/// Accepts until `cancel`; each connection is shut down gracefully on `cancel` too.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Arc<ConnLimits>,
    cancel: CancellationToken,
) {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE/ENFILE: back off instead of spinning; the slots free up.
                    tracing::debug!(target: "gateway", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        match limits.admit(peer.ip()) {
            Ok(slot) => {
                tokio::spawn(serve_one(
                    stream,
                    peer,
                    app.clone(),
                    Arc::new(slot),
                    limits.settings.header_read_timeout,
                    cancel.clone(),
                ));
            }
            Err(r) => refuse(stream, r),
        }
    }
}

/// Answers 503 without waiting: one non-blocking write, then close.
fn refuse(stream: TcpStream, r: Refusal) {
    let body = r.reason();
    let msg = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(msg.as_bytes());
}

async fn serve_one(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    slot: Arc<Slot>,
    header_timeout: Duration,
    cancel: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(slot.clone());
        let mut app = app.clone();
        async move { app.call(req).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
