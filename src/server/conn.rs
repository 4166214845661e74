//! One WebSocket connection: challenge, handshake with a deadline, then requests and
//! broadcast events until the client leaves, falls behind, or the gateway stops.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::http::HeaderMap;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;

use super::frame;
use super::handshake::{self, Peer, Session};
use super::methods;
use super::state::Gateway;
use crate::protocol::{self, RpcError, close};
use crate::util::now_ms;

type Sink = SplitSink<WebSocket, Message>;

async fn send(sink: &mut Sink, text: String) -> bool {
    sink.send(Message::Text(Utf8Bytes::from(text)))
        .await
        .is_ok()
}

async fn close_with(sink: &mut Sink, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(protocol::close_reason(reason)),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.flush().await;
}

/// The next text frame; `Err(())` on close or a transport error.
async fn next_text(stream: &mut SplitStream<WebSocket>) -> Result<String, Option<String>> {
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(Message::Text(t)) => return Ok(t.to_string()),
            Ok(Message::Binary(b)) => return Ok(String::from_utf8_lossy(&b).into_owned()),
            Ok(Message::Close(_)) => return Err(None),
            Ok(_) => continue,
            Err(e) => return Err(Some(e.to_string())),
        }
    }
    Err(None)
}

/// A frame over `MAX_PAYLOAD` ends the connection with 1009, before or after the
/// handshake. tungstenite stops reading at the frame header, so the rest of the frame
/// is still unread in the kernel: closing now would send a TCP reset that can overtake
/// our close frame. We hold the socket briefly so the peer reads the close first.
async fn close_oversize(sink: &mut Sink) {
    close_with(sink, CLOSE_TOO_BIG, "Max payload size exceeded").await;
    tokio::time::sleep(OVERSIZE_LINGER).await;
}

/// RFC 6455 close codes used only here.
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_TRY_AGAIN: u16 = 1013;

const OVERSIZE_LINGER: std::time::Duration = std::time::Duration::from_millis(500);

fn is_oversize(e: &str) -> bool {
    e.contains("too long") || e.contains("too big")
}

pub async fn handle(
    gw: Arc<Gateway>,
    socket: WebSocket,
    peer: SocketAddr,
    headers: HeaderMap,
    slot: Option<Arc<super::limits::Slot>>,
) {
    let conn_id = uuid::Uuid::new_v4().to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let (mut sink, mut stream) = socket.split();
    let mut events = gw.host.bus.subscribe();
    let trusted = gw.runtime().loaded.config.gateway.trusted_proxies.clone();
    let peer_info = Peer {
        is_local: super::auth::is_local_client(peer.ip(), &headers, &trusted),
        remote_ip: peer.ip().to_string(),
    };
    if !send(
        &mut sink,
        protocol::direct_event("connect.challenge", json!({"nonce": nonce, "ts": now_ms()})),
    )
    .await
    {
        return;
    }
    let first = tokio::select! {
        r = tokio::time::timeout(gw.opts.handshake_timeout, next_text(&mut stream)) => r,
        _ = gw.host.cancel.cancelled() => {
            close_with(&mut sink, close::RESTART, close::RESTART_REASON).await;
            return;
        }
    };
    let text = match first {
        Err(_elapsed) => return close_with(&mut sink, close::NORMAL, "").await,
        Ok(Err(Some(e))) if is_oversize(&e) => return close_oversize(&mut sink).await,
        Ok(Err(_)) => return,
        Ok(Ok(t)) => t,
    };
    let (id, params) = match frame::first(&text) {
        frame::First::Connect { id, params } => (id, params),
        frame::First::NotJson => return close_with(&mut sink, close::NORMAL, "").await,
        frame::First::Invalid => {
            return close_with(&mut sink, close::POLICY, "invalid request frame").await;
        }
        frame::First::NotConnect { id } => {
            let msg = "invalid handshake: first request must be connect";
            send(&mut sink, protocol::res_err(&id, &RpcError::invalid(msg))).await;
            return close_with(&mut sink, close::POLICY, msg).await;
        }
    };
    let session = match handshake::run(&gw, params.as_ref(), &nonce, &peer_info) {
        Ok(s) => s,
        Err(reject) => {
            if let Some(err) = &reject.error {
                send(&mut sink, protocol::res_err(&id, err)).await;
            }
            return close_with(&mut sink, reject.code, &reject.reason).await;
        }
    };
    if let Some(slot) = &slot
        && let Err(r) = slot.promote()
    {
        return close_with(&mut sink, CLOSE_TRY_AGAIN, r.reason()).await;
    }
    let presence_key = register_presence(&gw, &session, &conn_id, &peer_info);
    let hello = hello_ok(&gw, &conn_id, &session);
    if !send(&mut sink, protocol::res_ok(&id, hello)).await {
        unregister_presence(&gw, presence_key.as_deref());
        return;
    }
    tracing::debug!(target: "ws", "connected conn={conn_id} client={} mode={} auth={}", session.params.client.id, session.params.client.mode, session.auth_method);
    super::refresh_health(&gw, false);

    // Requests run concurrently (an `agent` run must not block `chat.abort`); their
    // replies come back through this channel, in the order they finish.
    let session = Arc::new(session);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    // Waiting requests are bounded per connection, and `agent.wait` (pure waiting, no
    // side effect) ends with the connection: a peer cannot park work it will never read.
    let max_in_flight = gw.limits.settings.max_in_flight_per_connection;
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let conn_gone = gw.host.cancel.child_token();
    // This connection's event count (see crate::events): gap-free whatever is filtered.
    let mut seq = 0u64;
    loop {
        tokio::select! {
            msg = next_text(&mut stream) => match msg {
                Ok(text) => {
                    let req = match frame::parse(&text, &session.role, &session.scopes) {
                        Ok(req) => req,
                        Err(mut refusal) => {
                            if session.is_v4() {
                                super::handshake_v4::forbid(&mut refusal.error);
                            }
                            let _ = out_tx.send(refusal.frame());
                            continue;
                        }
                    };
                    if !frame::waits(&req.method) {
                        // Quick methods answer in order (chat.send queues its run before the
                        // next frame is read).
                        let reply = handle_request(&gw, &session, req, &out_tx).await;
                        let _ = out_tx.send(reply);
                        continue;
                    }
                    let Some(guard) = super::limits::InFlight::enter(&gw.limits, &in_flight, max_in_flight) else {
                        let msg = format!("too many requests in flight on this connection (limit {max_in_flight}); wait for their replies first");
                        let _ = out_tx.send(protocol::res_err(&req.id, &RpcError::unavailable(msg)));
                        continue;
                    };
                    let (gw2, session2, tx) = (gw.clone(), session.clone(), out_tx.clone());
                    let gone = (req.method == "agent.wait").then(|| conn_gone.clone());
                    gw.tasks.spawn(async move {
                        let _guard = guard;
                        let work = handle_request(&gw2, &session2, req, &tx);
                        let reply = match gone {
                            Some(gone) => tokio::select! {
                                r = work => r,
                                _ = gone.cancelled() => return,
                            },
                            None => work.await,
                        };
                        let _ = tx.send(reply);
                    });
                }
                Err(Some(e)) if is_oversize(&e) => {
                    close_oversize(&mut sink).await;
                    break;
                }
                Err(_) => break,
            },
            Some(reply) = out_rx.recv() => {
                if !send(&mut sink, reply).await { break; }
            }
            ev = events.recv() => match ev {
                Ok(ev) => {
                    if ev.drop_if_slow && events.len() > crate::events::BUS_CAPACITY / 2 { continue; }
                    if allowed(&session, &ev.name) { seq += 1; if !send(&mut sink, event_frame(&session, &ev, seq)).await { break; } }
                }
                Err(RecvError::Lagged(_)) => {
                    tracing::warn!(target: "ws", "closing slow consumer conn={conn_id}");
                    close_with(&mut sink, close::POLICY, close::SLOW_CONSUMER).await;
                    break;
                }
                Err(RecvError::Closed) => break,
            },
            _ = gw.host.cancel.cancelled() => {
                // Deliver what was broadcast before the stop (the `shutdown` event), then close.
                loop {
                    match events.try_recv() {
                        Ok(ev) => {
                            if allowed(&session, &ev.name) { seq += 1; if !send(&mut sink, event_frame(&session, &ev, seq)).await { break; } }
                        }
                        Err(TryRecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
                close_with(&mut sink, close::RESTART, close::RESTART_REASON).await;
                break;
            }
        }
    }
    conn_gone.cancel();
    unregister_presence(&gw, presence_key.as_deref());
}

async fn handle_request(
    gw: &Arc<Gateway>,
    session: &Session,
    req: frame::Request,
    out: &mpsc::UnboundedSender<String>,
) -> String {
    let ctx = methods::Ctx {
        gw,
        req_id: &req.id,
        out: Some(out),
        client: &session.params.client.id,
    };
    if !session.is_v4() {
        return methods::respond(&ctx, &req.method, req.params).await;
    }
    // v4 clients: their extra methods and params first (super::methods_v4).
    if let Some(r) = super::methods_v4::respond(&ctx, &req.method, &req.params).await {
        return match r {
            Ok(v) => protocol::res_ok(&req.id, v),
            Err(e) => protocol::res_err(&req.id, &e),
        };
    }
    match super::methods_v4::adapt(&req.method, req.params) {
        Ok(params) => methods::respond(&ctx, &req.method, params).await,
        Err(e) => protocol::res_err(&req.id, &e),
    }
}

/// The event as this connection's protocol has it, numbered `seq`.
fn event_frame(session: &Session, ev: &crate::events::Event, seq: u64) -> String {
    if session.is_v4() {
        super::handshake_v4::event_frame(ev, seq)
    } else {
        ev.numbered(seq)
    }
}

fn allowed(session: &Session, event: &str) -> bool {
    match protocol::event_scope(event) {
        None => true,
        Some(_) if session.role == "node" => false,
        Some(scope) => session
            .scopes
            .iter()
            .any(|s| s == scope || s == protocol::SCOPE_ADMIN),
    }
}

fn register_presence(gw: &Gateway, s: &Session, conn_id: &str, peer: &Peer) -> Option<String> {
    let c = &s.params.client;
    if c.mode == "cli" {
        return None;
    }
    let key = s
        .params
        .device
        .as_ref()
        .map(|d| d.id.clone())
        .or_else(|| c.instance_id.clone())
        .unwrap_or_else(|| conn_id.to_string());
    let entry = json!({
        "host": c.display_name.clone().unwrap_or_else(|| c.id.clone()),
        "ip": peer.remote_ip,
        "version": c.version,
        "platform": c.platform,
        "deviceFamily": c.device_family,
        "modelIdentifier": c.model_identifier,
        "mode": c.mode,
        "reason": "connect",
        "text": format!("{} · {} · {}", c.display_name.clone().unwrap_or_else(|| c.id.clone()), c.mode, c.version),
        "ts": now_ms(),
        "deviceId": s.params.device.as_ref().map(|d| d.id.clone()),
        "roles": [s.role],
        "scopes": s.scopes,
        "instanceId": c.instance_id,
    });
    let entry = strip_nulls(entry);
    gw.presence
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .upsert(&key, entry);
    Some(key)
}

fn strip_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    v
}

fn unregister_presence(gw: &Gateway, key: Option<&str>) {
    let Some(key) = key else { return };
    let (list, version) = {
        let mut p = gw.presence.lock().unwrap_or_else(|p| p.into_inner());
        if !p.remove(key) {
            return;
        }
        (p.list(), p.version)
    };
    gw.host.bus.send(
        "presence",
        json!({"presence": list}),
        Some(json!({"presence": version, "health": gw.health.version()})),
        true,
    );
}

/// The `hello-ok` payload (spec §2.6); the schema forbids extra properties. v4
/// connections get openclaw's shape (`handshake_v4::hello_ok`).
fn hello_ok(gw: &Gateway, conn_id: &str, s: &Session) -> Value {
    let rt = gw.runtime();
    let cfg = &rt.loaded.config;
    let default_agent = cfg.default_agent_id();
    let (presence, presence_version) = {
        let mut p = gw.presence.lock().unwrap_or_else(|p| p.into_inner());
        (p.list(), p.version)
    };
    let (health, _) = gw.health.current();
    let mut hello = json!({
        "type": "hello-ok",
        "protocol": protocol::PROTOCOL_VERSION,
        "server": {"version": crate::VERSION, "host": crate::util::hostname(), "connId": conn_id},
        "features": {"methods": protocol::METHODS, "events": protocol::EVENTS},
        "snapshot": {
            "presence": presence,
            "health": *health,
            "stateVersion": {"presence": presence_version, "health": gw.health.version()},
            "uptimeMs": gw.uptime_ms(),
            "configPath": gw.host.paths.config_path.display().to_string(),
            "stateDir": gw.host.paths.state_dir.display().to_string(),
            "sessionDefaults": {
                "defaultAgentId": default_agent,
                "mainKey": "main",
                "mainSessionKey": format!("agent:{default_agent}:main"),
                "scope": cfg.session_scope(),
            },
        },
        "policy": {"maxPayload": protocol::MAX_PAYLOAD, "maxBufferedBytes": protocol::MAX_BUFFERED, "tickIntervalMs": gw.opts.tick_interval.as_millis() as u64},
    });
    if s.is_v4() {
        return super::handshake_v4::hello_ok(hello, s);
    }
    if let Some(auth) = &s.device_token {
        hello["auth"] = auth.clone();
    }
    hello
}
