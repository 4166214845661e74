//! Methods as protocol v4 clients (openclaw 2026.9) call them, on v4 connections only;
//! v3 connections never reach this file, so their strict params stay exactly as before.
//!
//! Two things: new optional params on methods we have (`status includeChannelSummary`,
//! `sessions.list configuredAgentsOnly`, `models.list view`, `cron.list compact` …,
//! protocol-v4.md §3.9) are type-checked and then dropped because they only shape a
//! view we do not have; and a few methods the 2026.9 Control UI calls first are answered
//! from what we do have (`chat.startup` from the transcript, `sessions.describe` from
//! the session store) or with the well-formed empty result openclaw itself gives on a
//! fresh install (`question.list`, `tasks.list`, …).

use serde_json::{Map, Value, json};

use super::methods::{self, Ctx};
use crate::protocol::RpcError;
use crate::util::now_ms;

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Str,
    /// Any JSON: context the 2026.9 UI attaches to `chat.send` that only shapes its own
    /// views (mentions, work context, intent).
    Any,
}

/// v4 params we accept and ignore, per method, with their types.
const IGNORED: &[(&str, &[(&str, Kind)])] = &[
    (
        "status",
        &[
            ("includeChannelSummary", Kind::Bool),
            ("includeCliProjection", Kind::Bool),
        ],
    ),
    (
        "sessions.list",
        &[
            ("configuredAgentsOnly", Kind::Bool),
            ("ownerFirst", Kind::Bool),
        ],
    ),
    (
        "models.list",
        &[
            ("view", Kind::Str),
            ("sessionKey", Kind::Str),
            ("agentId", Kind::Str),
        ],
    ),
    // The 2026.9 Control UI's chat pane: `sessionId` once it knows the transcript,
    // `queueMode` for /steer (we queue behind the running turn either way), its own
    // context blocks, and a resume marker after a reconnect.
    (
        "chat.send",
        &[
            ("sessionId", Kind::Str),
            ("agentId", Kind::Str),
            ("queueMode", Kind::Str),
            ("replyToId", Kind::Str),
            ("expectedLeafEntryId", Kind::Str),
            ("__controlUiReconnectResume", Kind::Bool),
            ("mentions", Kind::Any),
            ("workContext", Kind::Any),
            ("intent", Kind::Any),
        ],
    ),
    // The 2026.9 UI's transcript paging and pending-input reconciliation; we answer
    // the newest `limit` messages whatever the cursor.
    (
        "chat.history",
        &[
            ("agentId", Kind::Str),
            ("sessionId", Kind::Str),
            ("messageId", Kind::Str),
            ("cursor", Kind::Any),
            ("maxBytes", Kind::Int),
            ("maxChars", Kind::Int),
            ("offset", Kind::Int),
            ("pendingBefore", Kind::Int),
            ("inputRunIds", Kind::Any),
        ],
    ),
    (
        "cron.list",
        &[
            ("agentId", Kind::Str),
            ("includeDeliveryPreviews", Kind::Bool),
            ("compact", Kind::Bool),
            ("limit", Kind::Int),
            ("offset", Kind::Int),
            ("enabled", Kind::Str),
            ("sortBy", Kind::Str),
            ("sortDir", Kind::Str),
        ],
    ),
];

/// Methods answered here for v4 clients (advertised in their `hello-ok`).
pub const METHODS: &[&str] = &[
    "chat.startup",
    "sessions.subscribe",
    "sessions.messages.subscribe",
    "sessions.messages.unsubscribe",
    "sessions.describe",
    "models.authStatus",
    "question.list",
    "tasks.list",
    "users.prefs.get",
    "update.status",
    "plugin.approval.list",
    "openclaw.approval.list",
    "sessions.observer.visibility",
    "sessions.viewers.set",
    "sessions.branches.list",
    "sessions.companion.state",
    "sessions.groups.list",
    "sessions.groups.defaults",
    "sessions.catalog.list",
    "session.discussion.info",
    "board.get",
    "projects.list",
    "progressCard.get",
    "taskSuggestions.list",
    "controlUi.sessionPullRequests.subscribe",
    "mentions.list",
    "plugins.controlUi.list",
    "chat.metadata",
    "talk.catalog",
    "environments.list",
    "system.info",
];

/// v3 methods whose answer v4 clients need more of (answered here, not advertised again).
const DECORATED: &[&str] = &["agents.list", "chat.send"];

/// Drops the ignored v4 params of `method` after checking their types.
pub fn adapt(method: &str, params: Option<Value>) -> Result<Option<Value>, RpcError> {
    let Some((_, keys)) = IGNORED.iter().find(|(m, _)| *m == method) else {
        return Ok(params);
    };
    let Some(Value::Object(mut map)) = params else {
        return Ok(params);
    };
    for (key, kind) in *keys {
        let Some(v) = map.get(*key) else { continue };
        let ok = match kind {
            Kind::Any => true,
            Kind::Bool => v.is_boolean(),
            Kind::Int => v.as_i64().is_some_and(|n| n >= 0),
            Kind::Str => v.is_string(),
        };
        if !ok && !v.is_null() {
            let want = match kind {
                Kind::Any => "",
                Kind::Bool => "must be boolean",
                Kind::Int => "must be integer >= 0",
                Kind::Str => "must be string",
            };
            return Err(RpcError::invalid(format!(
                "invalid {method} params: at /{key}: {want}"
            )));
        }
        map.remove(*key);
    }
    Ok(Some(Value::Object(map)))
}

fn obj(params: &Option<Value>) -> Map<String, Value> {
    params
        .as_ref()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn only(method: &str, p: &Map<String, Value>, allowed: &[&str]) -> Result<(), RpcError> {
    let extra: Vec<String> = p
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("at root: unexpected property '{k}'"))
        .collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(RpcError::invalid(format!(
            "invalid {method} params: {}",
            extra.join("; ")
        )))
    }
}

fn required_str<'a>(
    method: &str,
    p: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a str, RpcError> {
    p.get(key).and_then(Value::as_str).ok_or_else(|| {
        RpcError::invalid(format!(
            "invalid {method} params: at root: must have required property '{key}'"
        ))
    })
}

/// Answers a method of [`METHODS`]; `None` for any other (it goes to the v3 dispatch).
pub async fn respond(
    ctx: &Ctx<'_>,
    method: &str,
    params: &Option<Value>,
) -> Option<Result<Value, RpcError>> {
    if !METHODS.contains(&method) && !DECORATED.contains(&method) {
        return None;
    }
    let p = obj(params);
    Some(answer(ctx, method, &p).await)
}

async fn answer(ctx: &Ctx<'_>, method: &str, p: &Map<String, Value>) -> Result<Value, RpcError> {
    match method {
        // Events reach every connection already; subscribing only acknowledges.
        "sessions.subscribe" => Ok(json!({"subscribed": true})),
        "sessions.messages.subscribe" => {
            only(method, p, &["key", "includeApprovals"])?;
            let key = required_str(method, p, "key")?;
            Ok(json!({"subscribed": true, "key": key, "approvalReplay": {
                "sessionKey": key, "updatedAtMs": now_ms(), "approvals": [], "truncated": false,
            }}))
        }
        // The v3 UI's chat.history, in chat.startup's shape.
        "chat.startup" => {
            let mut p = p.clone();
            p.remove("maxBytes");
            let p = match adapt("chat.history", Some(Value::Object(p)))? {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            only(method, &p, &["sessionKey", "limit"])?;
            let key = required_str(method, &p, "sessionKey")?;
            let limit = p.get("limit").and_then(Value::as_i64).unwrap_or(80);
            let h = methods::dispatch(
                ctx,
                "chat.history",
                Some(json!({"sessionKey": key, "limit": limit.clamp(1, 1000)})),
            )
            .await?;
            let messages = h["messages"].as_array().cloned().unwrap_or_default();
            Ok(json!({
                "sessionKey": key,
                "sessionId": h["sessionId"],
                "messages": messages,
                "pendingInputs": {"items": [], "total": 0},
                "hasMore": false,
                "totalMessages": messages.len(),
                "thinkingLevel": h["thinkingLevel"],
            }))
        }
        "sessions.describe" => {
            only(method, p, &["key"])?;
            let key = required_str(method, p, "key")?;
            let list = methods::dispatch(
                ctx,
                "sessions.list",
                Some(json!({"includeGlobal": true, "includeUnknown": true})),
            )
            .await?;
            let session = list["sessions"]
                .as_array()
                .and_then(|s| s.iter().find(|e| e["key"] == key))
                .cloned()
                .unwrap_or(Value::Null);
            Ok(json!({"session": session}))
        }
        // No provider login flows here: keys come from the config.
        "models.authStatus" => {
            only(method, p, &["agentId"])?;
            Ok(json!({"ts": now_ms(), "providers": [], "providerCapabilities": []}))
        }
        // Each agent's `model.primary`: without it the UI shows "model setup required".
        "agents.list" => {
            let mut v =
                methods::dispatch(ctx, "agents.list", Some(Value::Object(p.clone()))).await?;
            let cfg = ctx.gw.runtime().loaded.config.clone();
            for a in v["agents"].as_array_mut().into_iter().flatten() {
                let id = a["id"].as_str().unwrap_or("main").to_string();
                a["kind"] = json!("agent");
                a["model"] = json!({"primary": cfg.agent_model(&id)});
            }
            Ok(v)
        }
        // v4 answers where the user's message landed (`messageSeq`, 1-based); with it the
        // UI marks the message delivered at once instead of "Delivery unconfirmed". Known
        // only when nothing is queued ahead of it in that session.
        "chat.send" => {
            let seq = next_message_seq(ctx, p);
            let params = adapt(method, Some(Value::Object(p.clone())))?;
            let mut v = methods::dispatch(ctx, method, params).await?;
            if let (Some(n), true) = (seq, v["status"] == "started") {
                v["messageSeq"] = json!(n);
            }
            Ok(v)
        }
        "sessions.messages.unsubscribe" => Ok(json!({"subscribed": false})),
        // What openclaw answers on a fresh install, for views we do not have.
        "question.list" => Ok(json!({"questions": []})),
        "tasks.list" => Ok(json!({"tasks": []})),
        "users.prefs.get" => Ok(json!({"status": "ok", "entries": {}})),
        "update.status" => {
            Ok(json!({"sentinel": null, "updateAvailable": null, "effectiveChannel": "stable"}))
        }
        "plugin.approval.list" | "openclaw.approval.list" => Ok(json!([])),
        "sessions.observer.visibility" => Ok(json!({"ok": true})),
        "sessions.viewers.set" => {
            Ok(json!({"sessionKeys": p.get("sessionKeys").cloned().unwrap_or(json!([]))}))
        }
        "sessions.branches.list" => Ok(json!({"branches": []})),
        "sessions.companion.state" => Ok(json!({"exchanges": []})),
        "sessions.groups.list" => Ok(json!({"groups": [], "sectionOrder": []})),
        "sessions.groups.defaults" => Ok(json!({"defaults": []})),
        "sessions.catalog.list" => Ok(json!({"catalogs": []})),
        "session.discussion.info" => Ok(json!({"state": "none"})),
        "board.get" => Ok(json!({
            "sessionKey": p.get("sessionKey").cloned().unwrap_or(Value::Null),
            "revision": 0, "tabs": [], "widgets": [],
        })),
        "projects.list" => Ok(json!({"projects": [], "recents": []})),
        "progressCard.get" => Ok(json!({"card": null})),
        "taskSuggestions.list" => Ok(json!({"suggestions": []})),
        "controlUi.sessionPullRequests.subscribe" => Ok(json!({"subscribed": true})),
        "mentions.list" => Ok(
            json!({"gatewayInstanceId": super::handshake_v4::boot_id(), "revision": 0, "items": []}),
        ),
        "plugins.controlUi.list" => Ok(json!({"revision": "0", "plugins": [], "diagnostics": []})),
        // No remote machines or workers here: the gateway host is the only system.
        "environments.list" => Ok(json!({"environments": [], "profiles": []})),
        // The gateway host's facts for the Systems page, read fresh (server::machine).
        "system.info" => {
            only(method, p, &[])?;
            let gw = ctx.gw;
            Ok(super::machine::system_info(&super::machine::Process {
                port: gw.bind.get().map(|b| b.port),
                state_dir: &gw.host.paths.state_dir,
                uptime_ms: gw.uptime_ms(),
                instance_id: super::handshake_v4::boot_id(),
            }))
        }
        "chat.metadata" => Ok(json!({"models": [], "commands": []})),
        "talk.catalog" => {
            Ok(json!({"modes": [], "transports": [], "brains": [], "speech": {"providers": []}}))
        }
        _ => Err(RpcError::invalid(format!("unknown method: {method}"))),
    }
}

/// The position the message of this `chat.send` will take in its transcript, if no
/// other run of the session is ahead of it.
fn next_message_seq(ctx: &Ctx<'_>, p: &Map<String, Value>) -> Option<usize> {
    let key = p.get("sessionKey")?.as_str()?;
    let cfg = ctx.gw.runtime().loaded.config.clone();
    let (agent_id, store_key) = crate::sessions::keys::canonical(&cfg, key);
    let agents = &ctx.gw.host.agents;
    if !agents.active_for(&store_key).is_empty() {
        return None;
    }
    let store = agents.sessions.load(&agent_id).ok()?;
    let count = match store
        .get(&store_key)
        .and_then(|e| e.get("sessionId"))
        .and_then(Value::as_str)
    {
        Some(sid) => {
            crate::sessions::transcript::read_raw(&agents.sessions.transcript_path(&agent_id, sid))
                .ok()?
                .len()
        }
        None => 0,
    };
    Some(count + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_params_are_checked_then_dropped() {
        let p = adapt(
            "status",
            Some(json!({"includeChannelSummary": false, "includeCliProjection": true})),
        )
        .unwrap();
        assert_eq!(p, Some(json!({})));
        let e = adapt("status", Some(json!({"includeChannelSummary": "yes"}))).unwrap_err();
        assert_eq!(
            e.message,
            "invalid status params: at /includeChannelSummary: must be boolean"
        );
        // Keys that are not v4's stay, for the method's own strict check to refuse.
        let p = adapt(
            "models.list",
            Some(json!({"view": "configured", "bogus": 1})),
        )
        .unwrap();
        assert_eq!(p, Some(json!({"bogus": 1})));
        // Other methods are untouched.
        let p = adapt("health", Some(json!({"compact": true}))).unwrap();
        assert_eq!(p, Some(json!({"compact": true})));
    }
}
