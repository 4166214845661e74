//! Test harness: a real gateway on 127.0.0.1:0 (in-process, or the real binary), real
//! temp dirs, and a raw WebSocket client. Readiness is awaited, never slept for.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clawdbot::config::secrets::Secret;
use clawdbot::nix::NixMode;
use clawdbot::paths::{Env, Paths};
use clawdbot::server::auth::{AuthMode, AuthOverrides, ResolvedAuth};
use clawdbot::server::{Gateway, GatewayInit, ServerOptions};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub const TOKEN: &str = "test-token-0123456789";

pub struct TestGateway {
    pub dir: tempfile::TempDir,
    pub gw: Arc<Gateway>,
    pub url: String,
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub struct Setup {
    pub config: Option<String>,
    pub nix: bool,
    pub token: Option<String>,
    pub opts: ServerOptions,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            config: None,
            nix: false,
            token: Some(TOKEN.into()),
            opts: ServerOptions {
                reload_poll: Duration::ZERO,
                ..ServerOptions::default()
            },
        }
    }
}

impl TestGateway {
    pub async fn start() -> TestGateway {
        Self::with(Setup::default()).await
    }

    pub async fn with(setup: Setup) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let env = Env::from_pairs([
            ("HOME", dir.path().join("home").to_str().unwrap()),
            ("CLAWDBOT_STATE_DIR", state.to_str().unwrap()),
        ]);
        let paths = Paths::resolve(&env, None);
        if let Some(c) = &setup.config {
            std::fs::write(&paths.config_path, c).unwrap();
        }
        let loaded = clawdbot::config::load(&paths.config_path, &env).expect("test config loads");
        let auth = ResolvedAuth {
            mode: AuthMode::Token,
            token: setup.token.clone().map(Secret::new),
            password: None,
            source: Some("test".into()),
            generated: false,
        };
        let (gw, _) = Gateway::new(GatewayInit {
            opts: setup.opts,
            paths,
            nix: if setup.nix {
                NixMode {
                    enabled: true,
                    reason: "test",
                }
            } else {
                NixMode::off()
            },
            env,
            overrides: AuthOverrides {
                token: setup.token,
                ..Default::default()
            },
            loaded,
            auth,
            generated_token: None,
            log_file: None,
            notifier: clawdbot::sdnotify::Notifier::from_vars(None, None, None),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(clawdbot::server::serve(listener, gw.clone(), async move {
            let _ = rx.await;
        }));
        TestGateway {
            dir,
            gw,
            url: format!("ws://127.0.0.1:{port}"),
            port,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.gw.host.paths.state_dir.clone()
    }

    /// Stops the server and waits for it to drain.
    pub async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

/// Opens a socket and returns it with the challenge nonce.
pub async fn open(url: &str) -> (Ws, String) {
    open_with_host(url, None).await
}

/// Same, with a custom `Host` header (a non-local Host makes the client "remote").
pub async fn open_with_host(url: &str, host: Option<&str>) -> (Ws, String) {
    let mut req = url.into_client_request().unwrap();
    if let Some(h) = host {
        req.headers_mut().insert("host", h.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let ch = next(&mut ws).await.expect("challenge");
    assert_eq!(ch["event"], "connect.challenge");
    assert!(ch.get("seq").is_none(), "challenge must not carry seq");
    let nonce = ch["payload"]["nonce"].as_str().unwrap().to_string();
    (ws, nonce)
}

/// Next JSON frame, or None once closed.
pub async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("frame within 10s")?
        {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Reads until the socket closes; returns the close code and reason.
pub async fn closed(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("close within 10s")
        {
            Some(Ok(Message::Close(Some(f)))) => return (u16::from(f.code), f.reason.to_string()),
            Some(Ok(Message::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return (1006, String::new()),
        }
    }
}

/// Next `res` frame with this id (events skipped).
pub async fn res(ws: &mut Ws, id: &str) -> Value {
    loop {
        let f = next(ws)
            .await
            .unwrap_or_else(|| panic!("closed while waiting for res {id}"));
        if f["type"] == "res" && f["id"] == id {
            return f;
        }
    }
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

pub fn base_params(token: Option<&str>) -> Value {
    let mut p = json!({
        "minProtocol": 3, "maxProtocol": 3,
        "client": {"id": "cli", "version": "dev", "platform": "linux", "mode": "cli", "instanceId": "i-1"},
        "caps": [], "role": "operator",
        "scopes": ["operator.admin", "operator.approvals", "operator.pairing"],
    });
    if let Some(t) = token {
        p["auth"] = json!({"token": t});
    }
    p
}

/// Adds a signed device block (v2 when `nonce` is Some).
pub fn sign(
    params: &mut Value,
    id: &clawdbot::device::DeviceIdentity,
    nonce: Option<&str>,
    signed_at: i64,
) {
    let scopes: Vec<String> = params["scopes"]
        .as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let token = params["auth"]["token"].as_str().unwrap_or("").to_string();
    let payload = clawdbot::device::signed_payload(&clawdbot::device::SignedFields {
        device_id: id.device_id(),
        client_id: params["client"]["id"].as_str().unwrap(),
        client_mode: params["client"]["mode"].as_str().unwrap(),
        role: params["role"].as_str().unwrap_or("operator"),
        scopes: &scopes,
        signed_at_ms: signed_at,
        token: &token,
        nonce,
    });
    let mut device = json!({"id": id.device_id(), "publicKey": id.public_key_b64url(), "signature": id.sign(&payload), "signedAt": signed_at});
    if let Some(n) = nonce {
        device["nonce"] = json!(n);
    }
    params["device"] = device;
}

/// Sends `connect` and returns the response.
pub async fn connect(ws: &mut Ws, params: Value) -> Value {
    send(
        ws,
        json!({"type": "req", "id": "c1", "method": "connect", "params": params}),
    )
    .await;
    res(ws, "c1").await
}

/// A connected operator (token only).
pub async fn operator(url: &str) -> Ws {
    let (mut ws, _) = open(url).await;
    let r = connect(&mut ws, base_params(Some(TOKEN))).await;
    assert_eq!(r["ok"], true, "{r}");
    ws
}

/// Waits for the `chat` event of `run_id` in state `final`/`error`; returns all its chat
/// events (the deltas and the last one).
pub async fn chat_events(ws: &mut Ws, run_id: &str) -> Vec<Value> {
    let mut out = vec![];
    loop {
        let f = next(ws).await.expect("socket open");
        if f["type"] == "event" && f["event"] == "chat" && f["payload"]["runId"] == run_id {
            let done = f["payload"]["state"] != "delta";
            out.push(f["payload"].clone());
            if done {
                return out;
            }
        }
    }
}

/// `chat.send` of `message` to `session_key` as run `run_id`, then [`chat_events`].
pub async fn chat_send(ws: &mut Ws, session_key: &str, message: &str, run_id: &str) -> Vec<Value> {
    let r = call(
        ws,
        &format!("send-{run_id}"),
        "chat.send",
        json!({"sessionKey": session_key, "message": message, "idempotencyKey": run_id}),
    )
    .await;
    assert_eq!(r["ok"], true, "chat.send: {r}");
    chat_events(ws, run_id).await
}

pub async fn call(ws: &mut Ws, id: &str, method: &str, params: Value) -> Value {
    send(
        ws,
        json!({"type": "req", "id": id, "method": method, "params": params}),
    )
    .await;
    res(ws, id).await
}

pub fn write(path: &Path, text: &str) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

pub mod browser;
pub mod discord_msgs;
pub mod fake_discord;
pub mod fakes;
pub mod proc;
pub mod world;
