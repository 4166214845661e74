//! Wire protocol v3 (and v4's additions: `server::handshake_v4`): frame shapes, error codes, limits, and the method/scope tables
//! (spec §2–§4). Everything here is a fact clients depend on.

use serde::Serialize;
use serde_json::{Value, json};

pub const PROTOCOL_VERSION: u64 = 3;
/// OpenClaw's protocol (2026.9 clients), negotiated per connection beside v3
/// (`server::handshake::negotiate`).
pub const PROTOCOL_V4: u64 = 4;
/// v4 signatures older or newer than this are refused (`DEVICE_SIGNATURE_SKEW_MS`).
pub const SIGNATURE_SKEW_V4_MS: i64 = 2 * 60 * 1000;
/// Largest inbound frame (`MAX_PAYLOAD_BYTES`).
pub const MAX_PAYLOAD: usize = 512 * 1024;
/// Per-connection send buffer limit (`MAX_BUFFERED_BYTES`).
pub const MAX_BUFFERED: usize = 1536 * 1024;
pub const TICK_INTERVAL_MS: u64 = 30_000;
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Device signatures older or newer than this are refused.
pub const SIGNATURE_SKEW_MS: i64 = 10 * 60 * 1000;

pub mod codes {
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const NOT_PAIRED: &str = "NOT_PAIRED";
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    /// v4 only: a method the caller's scopes do not allow.
    pub const FORBIDDEN: &str = "FORBIDDEN";
}

/// `ErrorShape` of a failed `res`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl RpcError {
    pub fn invalid(message: impl Into<String>) -> RpcError {
        RpcError {
            code: codes::INVALID_REQUEST,
            message: message.into(),
            details: None,
        }
    }
    pub fn unavailable(message: impl Into<String>) -> RpcError {
        RpcError {
            code: codes::UNAVAILABLE,
            message: message.into(),
            details: None,
        }
    }
    pub fn with_details(mut self, details: Value) -> RpcError {
        self.details = Some(details);
        self
    }
}

pub fn res_ok(id: &str, payload: Value) -> String {
    json!({"type": "res", "id": id, "ok": true, "payload": payload}).to_string()
}

pub fn res_err(id: &str, err: &RpcError) -> String {
    json!({"type": "res", "id": id, "ok": false, "error": err}).to_string()
}

/// An event sent to one socket only (no `seq`), e.g. `connect.challenge`.
pub fn direct_event(event: &str, payload: Value) -> String {
    json!({"type": "event", "event": event, "payload": payload}).to_string()
}

/// Close codes and reasons (spec §2.7).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL: u16 = 1002;
    pub const POLICY: u16 = 1008;
    pub const RESTART: u16 = 1012;
    pub const RESTART_REASON: &str = "service restart";
    pub const SLOW_CONSUMER: &str = "slow consumer";
}

/// Cuts a close reason to at most 120 bytes on a char boundary (WS limit is 123).
pub fn close_reason(text: &str) -> String {
    if text.len() <= 120 {
        return text.to_string();
    }
    let mut end = 120;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Client ids accepted in `connect` (both the clawdbot and renamed moltbot families).
pub const CLIENT_IDS: &[&str] = &[
    "webchat-ui",
    "clawdbot-control-ui",
    "moltbot-control-ui",
    "webchat",
    "cli",
    "gateway-client",
    "clawdbot-macos",
    "moltbot-macos",
    "clawdbot-ios",
    "moltbot-ios",
    "clawdbot-android",
    "moltbot-android",
    "node-host",
    "test",
    "fingerprint",
    "clawdbot-probe",
    "moltbot-probe",
];

pub const CLIENT_MODES: &[&str] = &["webchat", "cli", "ui", "backend", "node", "probe", "test"];

/// Client ids of protocol v4 (openclaw 2026.9 `client-info`): the `clawdbot-*` and
/// `moltbot-*` ids are gone there, so a v4 connect with one is refused as openclaw does.
pub const CLIENT_IDS_V4: &[&str] = &[
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-browser-copilot",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-linux",
    "openclaw-ios",
    "openclaw-watchos",
    "openclaw-android",
    "node-host",
    "openclaw-worker",
    "test",
    "fingerprint",
    "openclaw-probe",
];

/// v4 adds mode `worker`.
pub const CLIENT_MODES_V4: &[&str] = &[
    "webchat", "cli", "ui", "backend", "node", "worker", "probe", "test",
];

pub fn is_control_ui(client_id: &str) -> bool {
    matches!(
        client_id,
        "clawdbot-control-ui" | "moltbot-control-ui" | "openclaw-control-ui"
    )
}

pub const SCOPE_ADMIN: &str = "operator.admin";
pub const SCOPE_READ: &str = "operator.read";
pub const SCOPE_WRITE: &str = "operator.write";
pub const SCOPE_APPROVALS: &str = "operator.approvals";
pub const SCOPE_PAIRING: &str = "operator.pairing";

/// Methods this gateway implements, advertised in `hello-ok.features.methods`.
pub const METHODS: &[&str] = &[
    "health",
    "status",
    "system-presence",
    "node.list",
    "logs.tail",
    "channels.status",
    "config.get",
    "config.schema",
    "config.set",
    "config.patch",
    "config.apply",
    "last-heartbeat",
    "set-heartbeats",
    "wake",
    "agent.identity.get",
    "models.list",
    "agents.list",
    "skills.status",
    "skills.install",
    "sessions.list",
    "device.pair.list",
    "device.pair.approve",
    "device.pair.reject",
    "sessions.preview",
    "sessions.patch",
    "sessions.reset",
    "sessions.delete",
    "chat.send",
    "chat.history",
    "chat.abort",
    "agent",
    "agent.wait",
    "send",
    "pairing.list",
    "pairing.approve",
    "exec.approval.resolve",
    "exec.approval.list",
    "device.pair.remove",
    "device.token.revoke",
    "cron.list",
    "cron.status",
    "cron.add",
    "cron.update",
    "cron.remove",
    "cron.run",
    "cron.runs",
    "web.login.start",
    "web.login.wait",
];

/// Every event name of the protocol (`GATEWAY_EVENTS`).
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "agent",
    "chat",
    "presence",
    "tick",
    "talk.mode",
    "shutdown",
    "health",
    "heartbeat",
    "cron",
    "node.pair.requested",
    "node.pair.resolved",
    "node.invoke.request",
    "device.pair.requested",
    "device.pair.resolved",
    "voicewake.changed",
    "exec.approval.requested",
    "exec.approval.resolved",
    // Ours: a skill directory changed (skills.load.watch).
    "skills.changed",
];

const NODE_ONLY: &[&str] = &["node.invoke.result", "node.event", "skills.bins"];
const APPROVAL_METHODS: &[&str] = &[
    "exec.approval.request",
    "exec.approval.resolve",
    "exec.approval.list",
];
const READ_METHODS: &[&str] = &[
    "health",
    "logs.tail",
    "channels.status",
    "status",
    "usage.status",
    "usage.cost",
    "tts.status",
    "tts.providers",
    "models.list",
    "agents.list",
    "agent.identity.get",
    "skills.status",
    "voicewake.get",
    "sessions.list",
    "sessions.preview",
    "cron.list",
    "cron.status",
    "cron.runs",
    "system-presence",
    "last-heartbeat",
    "node.list",
    "node.describe",
    "chat.history",
    // protocol v4 (server::methods_v4)
    "chat.startup",
    "sessions.subscribe",
    "sessions.messages.subscribe",
    "sessions.describe",
    "models.authStatus",
    "question.list",
    "tasks.list",
    "users.prefs.get",
    "system.info",
];
const WRITE_METHODS: &[&str] = &[
    "send",
    "agent",
    "agent.wait",
    "wake",
    "talk.mode",
    "tts.enable",
    "tts.disable",
    "tts.convert",
    "tts.setProvider",
    "voicewake.set",
    "node.invoke",
    "chat.send",
    "chat.abort",
    "browser.request",
];

fn is_pairing_method(m: &str) -> bool {
    m.starts_with("node.pair.")
        || m.starts_with("device.pair.")
        || m.starts_with("device.token.")
        || m == "node.rename"
        || m.starts_with("pairing.")
}

/// Role and scope check before dispatch (spec §4.4). `Err` carries the message.
pub fn authorize_method(method: &str, role: &str, scopes: &[String]) -> Result<(), String> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    if role == "node" {
        return if NODE_ONLY.contains(&method) {
            Ok(())
        } else {
            Err("unauthorized role: node".into())
        };
    }
    if NODE_ONLY.contains(&method) {
        return Err(format!("unauthorized role: {role}"));
    }
    if has(SCOPE_ADMIN) {
        return Ok(());
    }
    let need = if APPROVAL_METHODS.contains(&method) {
        SCOPE_APPROVALS
    } else if is_pairing_method(method) {
        SCOPE_PAIRING
    } else if READ_METHODS.contains(&method) {
        if has(SCOPE_READ) || has(SCOPE_WRITE) {
            return Ok(());
        }
        SCOPE_READ
    } else if WRITE_METHODS.contains(&method) {
        SCOPE_WRITE
    } else {
        SCOPE_ADMIN
    };
    if has(need) {
        Ok(())
    } else {
        Err(format!("missing scope: {need}"))
    }
}

/// Scope an event needs, if guarded (spec §3.4).
pub fn event_scope(event: &str) -> Option<&'static str> {
    if event.starts_with("exec.approval.") {
        Some(SCOPE_APPROVALS)
    } else if event.starts_with("device.pair.") || event.starts_with("node.pair.") {
        Some(SCOPE_PAIRING)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn scope_table() {
        assert!(authorize_method("config.set", "operator", &s(&[SCOPE_ADMIN])).is_ok());
        assert_eq!(
            authorize_method("config.set", "operator", &s(&[SCOPE_READ])).unwrap_err(),
            "missing scope: operator.admin"
        );
        assert!(authorize_method("health", "operator", &s(&[SCOPE_WRITE])).is_ok());
        assert_eq!(
            authorize_method("health", "operator", &[]).unwrap_err(),
            "missing scope: operator.read"
        );
        assert_eq!(
            authorize_method("device.pair.list", "operator", &s(&[SCOPE_READ])).unwrap_err(),
            "missing scope: operator.pairing"
        );
        assert_eq!(
            authorize_method("health", "node", &[]).unwrap_err(),
            "unauthorized role: node"
        );
        assert_eq!(
            authorize_method("node.event", "operator", &s(&[SCOPE_ADMIN])).unwrap_err(),
            "unauthorized role: operator"
        );
        assert_eq!(
            authorize_method("no.such", "operator", &s(&[SCOPE_READ])).unwrap_err(),
            "missing scope: operator.admin"
        );
    }

    #[test]
    fn close_reason_is_cut_on_char_boundary() {
        let long = "é".repeat(100);
        let r = close_reason(&long);
        assert!(r.len() <= 120 && long.starts_with(&r));
    }
}
