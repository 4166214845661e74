//! The CLI's gateway client: finds the gateway from the same config as the daemon, signs
//! in with the device identity at `~/.clawdbot/identity/device.json` (like the original's
//! CLI), and makes RPC calls.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::cli::ConnectOpts;
use crate::config::secrets::SecretMode;
use crate::paths::{Env, Paths};

/// Where to connect and with what.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub source: &'static str,
    pub token: Option<String>,
    pub password: Option<String>,
    pub config_path: std::path::PathBuf,
}

/// Resolves URL and secret from flags, env, the config and the generated token, in the
/// original's order (spec §4.5).
pub fn resolve_target(opts: &ConnectOpts, profile: Option<&str>) -> Target {
    let env = Env::from_process();
    let paths = Paths::resolve(&env, profile);
    let loaded = crate::config::load(&paths.config_path, &env).ok();
    let cfg = loaded
        .as_ref()
        .map(|l| l.config.clone())
        .unwrap_or_default();
    let env = loaded.as_ref().map(|l| l.env.clone()).unwrap_or(env);
    let remote = cfg.gateway.mode.as_deref() == Some("remote");
    let port = env
        .get("CLAWDBOT_GATEWAY_PORT")
        .and_then(|p| p.parse::<u16>().ok())
        .or(cfg.gateway.port)
        .unwrap_or(crate::config::model::DEFAULT_PORT);
    let (url, source) = match (
        &opts.url,
        remote.then_some(cfg.gateway.remote.url.as_ref()).flatten(),
    ) {
        (Some(u), _) => (u.clone(), "cli --url"),
        (None, Some(u)) => (u.clone(), "config gateway.remote.url"),
        (None, None) => (format!("ws://127.0.0.1:{port}"), "local loopback"),
    };
    let mut warnings = vec![];
    let token = opts.token.clone().or_else(|| {
        if remote && opts.url.is_none() {
            let r = &cfg.gateway.remote;
            return crate::config::secrets::lookup(
                &[
                    crate::config::secrets::Candidate::Inline {
                        key: "gateway.remote.token",
                        value: r.token.as_deref(),
                    },
                    crate::config::secrets::Candidate::File {
                        key: "gateway.remote.tokenFile",
                        path: r.token_file.as_deref(),
                    },
                ],
                &env,
                SecretMode::Read,
                &mut warnings,
            )
            .ok()
            .flatten()
            .and_then(|f| f.secret().map(|s| s.expose().to_string()));
        }
        let overrides = crate::server::auth::AuthOverrides::default();
        let resolved =
            crate::server::auth::resolve(&cfg, &env, &overrides, SecretMode::Read, &mut warnings)
                .ok();
        resolved
            .and_then(|(a, _)| a.token.map(|t| t.expose().to_string()))
            .or_else(|| {
                std::fs::read_to_string(paths.generated_token_path())
                    .ok()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
            })
    });
    let password = opts
        .password
        .clone()
        .or_else(|| env.get("CLAWDBOT_GATEWAY_PASSWORD").map(str::to_string))
        .or_else(|| cfg.gateway.auth.password.clone());
    Target {
        url,
        source,
        token,
        password,
        config_path: paths.config_path,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "gateway not reachable at {url} ({why}). Is it running? Start it with `clawdbot gateway`."
    )]
    Unreachable { url: String, why: String },
    #[error("gateway timeout after {0}ms")]
    Timeout(u64),
    #[error("gateway closed ({code}): {reason}")]
    Closed { code: u16, reason: String },
    #[error("{code}: {message}")]
    Rpc { code: String, message: String },
    #[error("{0}")]
    Other(String),
}

pub struct Client {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pub hello: Value,
    next_id: u64,
}

impl Client {
    /// Connects, answers the challenge and completes the handshake.
    pub async fn connect(t: &Target, mode: &str, timeout: Duration) -> Result<Client, ClientError> {
        let ms = timeout.as_millis() as u64;
        tokio::time::timeout(timeout, Self::connect_inner(t, mode))
            .await
            .map_err(|_| ClientError::Timeout(ms))?
    }

    async fn connect_inner(t: &Target, mode: &str) -> Result<Client, ClientError> {
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(t.url.as_str(), None, true)
            .await
            .map_err(|e| ClientError::Unreachable {
                url: t.url.clone(),
                why: short_io(&e.to_string()),
            })?;
        // The server speaks first; the original clients wait up to 750 ms for it.
        let nonce = match tokio::time::timeout(Duration::from_millis(750), next_json(&mut ws)).await
        {
            Ok(Ok(v)) if v["event"] == "connect.challenge" => {
                v["payload"]["nonce"].as_str().map(str::to_string)
            }
            Ok(Err(e)) => return Err(e),
            _ => None,
        };
        let env = Env::from_process();
        let identity = crate::device::DeviceIdentity::load_or_create(
            &crate::paths::client_identity_path(&env),
        )
        .map_err(|e| ClientError::Other(e.to_string()))?;
        let scopes: Vec<String> = ["operator.admin", "operator.approvals", "operator.pairing"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let signed_at = crate::util::now_ms();
        let token = t.token.clone().unwrap_or_default();
        let payload = crate::device::signed_payload(&crate::device::SignedFields {
            device_id: identity.device_id(),
            client_id: "cli",
            client_mode: mode,
            role: "operator",
            scopes: &scopes,
            signed_at_ms: signed_at,
            token: &token,
            nonce: nonce.as_deref(),
        });
        let mut device = json!({
            "id": identity.device_id(),
            "publicKey": identity.public_key_b64url(),
            "signature": identity.sign(&payload),
            "signedAt": signed_at,
        });
        if let Some(n) = &nonce {
            device["nonce"] = json!(n);
        }
        let mut auth = json!({});
        if let Some(tok) = &t.token {
            auth["token"] = json!(tok);
        }
        if let Some(pw) = &t.password {
            auth["password"] = json!(pw);
        }
        let connect = json!({
            "type": "req", "id": uuid::Uuid::new_v4().to_string(), "method": "connect",
            "params": {
                "minProtocol": 3, "maxProtocol": 3,
                "client": {"id": "cli", "version": crate::VERSION, "platform": crate::util::platform(), "mode": mode, "instanceId": uuid::Uuid::new_v4().to_string()},
                "caps": [], "auth": auth, "role": "operator", "scopes": scopes, "device": device,
            }
        });
        ws.send(Message::text(connect.to_string()))
            .await
            .map_err(|e| ClientError::Other(e.to_string()))?;
        loop {
            let v = next_json(&mut ws).await?;
            if v["type"] == "res" {
                if v["ok"] == true {
                    return Ok(Client {
                        ws,
                        hello: v["payload"].clone(),
                        next_id: 1,
                    });
                }
                let err = &v["error"];
                // The close frame that follows carries the same text; report it as closed.
                return Err(match next_json(&mut ws).await {
                    Err(closed @ ClientError::Closed { .. }) => closed,
                    _ => ClientError::Rpc {
                        code: err["code"].as_str().unwrap_or("").into(),
                        message: err["message"].as_str().unwrap_or("").into(),
                    },
                });
            }
        }
    }

    /// Calls a method and waits for its response (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.request(method, params, false).await
    }

    /// Calls a method that answers twice (`agent`: `accepted`, then the result) and
    /// returns the final answer.
    pub async fn call_final(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.request(method, params, true).await
    }

    async fn request(
        &mut self,
        method: &str,
        params: Value,
        skip_accepted: bool,
    ) -> Result<Value, ClientError> {
        let id = format!("cli-{}", self.next_id);
        self.next_id += 1;
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .map_err(|e| ClientError::Other(e.to_string()))?;
        loop {
            let v = next_json(&mut self.ws).await?;
            if v["type"] != "res" || v["id"] != id.as_str() {
                continue;
            }
            if v["ok"] == true {
                if skip_accepted && v["payload"]["status"] == "accepted" {
                    continue;
                }
                return Ok(v.get("payload").cloned().unwrap_or(Value::Null));
            }
            return Err(ClientError::Rpc {
                code: v["error"]["code"].as_str().unwrap_or("").into(),
                message: v["error"]["message"].as_str().unwrap_or("").into(),
            });
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

fn short_io(e: &str) -> String {
    if e.contains("Connection refused") {
        "connection refused".into()
    } else {
        e.to_string()
    }
}

async fn next_json<S>(ws: &mut S) -> Result<Value, ClientError>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(t)) => {
                return serde_json::from_str(&t)
                    .map_err(|e| ClientError::Other(format!("bad frame from gateway: {e}")));
            }
            Ok(Message::Close(frame)) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((u16::from(CloseCode::Status), String::new()));
                return Err(ClientError::Closed { code, reason });
            }
            Ok(_) => continue,
            Err(e) => return Err(ClientError::Other(e.to_string())),
        }
    }
    Err(ClientError::Closed {
        code: 1006,
        reason: "abnormal closure (no close frame)".into(),
    })
}

/// One connection, one call: what most CLI commands do.
pub async fn call_once(
    t: &Target,
    mode: &str,
    method: &str,
    params: Value,
    timeout: Duration,
) -> Result<Value, ClientError> {
    let mut c = Client::connect(t, mode, timeout).await?;
    let ms = timeout.as_millis() as u64;
    let out = tokio::time::timeout(timeout, c.call(method, params))
        .await
        .map_err(|_| ClientError::Timeout(ms))?;
    c.close().await;
    out
}
