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
    "sessions.describe",
    "models.authStatus",
    "question.list",
    "tasks.list",
    "users.prefs.get",
];

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
            Kind::Bool => v.is_boolean(),
            Kind::Int => v.as_i64().is_some_and(|n| n >= 0),
            Kind::Str => v.is_string(),
        };
        if !ok && !v.is_null() {
            let want = match kind {
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
    if !METHODS.contains(&method) {
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
            Ok(json!({"subscribed": true, "key": key}))
        }
        // The v3 UI's chat.history, in chat.startup's shape.
        "chat.startup" => {
            only(method, p, &["sessionKey", "limit", "maxBytes"])?;
            let key = required_str(method, p, "sessionKey")?;
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
        "question.list" => Ok(json!({"questions": []})),
        "tasks.list" => Ok(json!({"tasks": []})),
        "users.prefs.get" => Ok(json!({"status": "ok", "entries": {}})),
        _ => Err(RpcError::invalid(format!("unknown method: {method}"))),
    }
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
