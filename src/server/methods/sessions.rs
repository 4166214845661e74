//! Session maintenance: `sessions.preview`, `sessions.patch`, `sessions.reset`,
//! `sessions.delete` (spec §3.2). The store is the one agent runs use.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Ctx, Params};
use crate::protocol::RpcError;
use crate::sessions::{keys, transcript};
use crate::util::now_ms;

/// `sessions.patch` fields and the values each accepts (`None`: any string).
const PATCH_FIELDS: &[(&str, Option<&[&str]>)] = &[
    ("label", None),
    (
        "thinkingLevel",
        Some(&["off", "minimal", "low", "medium", "high", "xhigh"]),
    ),
    ("verboseLevel", Some(&["off", "on", "full"])),
    ("reasoningLevel", Some(&["off", "on", "stream"])),
    ("responseUsage", Some(&["off", "tokens", "full", "on"])),
    ("elevatedLevel", Some(&["off", "on", "ask", "full"])),
    ("execHost", None),
    ("execSecurity", Some(&["deny", "allowlist", "full"])),
    ("execAsk", Some(&["off", "on-miss", "always"])),
    ("execNode", None),
    ("model", None),
    ("spawnedBy", None),
    ("sendPolicy", Some(&["allow", "deny"])),
    ("groupActivation", Some(&["mention", "always"])),
];

pub fn preview(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["keys", "limit", "maxChars"])?;
    let keys_in = p.strings("keys")?;
    if keys_in.is_empty() {
        return Err(RpcError::invalid(
            "invalid sessions.preview params: at /keys: must NOT have fewer than 1 items",
        ));
    }
    let limit = p.int("limit", 1, 1000)?.unwrap_or(12) as usize;
    let max_chars = p.int("maxChars", 20, 100_000)?.unwrap_or(240) as usize;
    let rt = ctx.gw.runtime();
    let sessions = &ctx.gw.host.agents.sessions;
    let previews: Vec<Value> = keys_in
        .iter()
        .take(64)
        .map(|k| {
            let (agent, key) = keys::canonical(&rt.loaded.config, k);
            // A refused (newer-format) or corrupt store is an error, not "missing".
            let entry = match sessions.load(&agent) {
                Ok(all) => all.get(&key).and_then(Value::as_object).cloned(),
                Err(_) => return json!({"key": k, "status": "error", "items": []}),
            };
            let Some(entry) = entry else {
                return json!({"key": k, "status": "missing", "items": []});
            };
            let Some(sid) = entry.get("sessionId").and_then(Value::as_str) else {
                return json!({"key": k, "status": "empty", "items": []});
            };
            let path = sessions.transcript_path(&agent, sid);
            match transcript::read(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    json!({"key": k, "status": "error", "items": []})
                }
                Err(_) => json!({"key": k, "status": "empty", "items": []}),
                Ok((msgs, _)) if msgs.is_empty() => {
                    json!({"key": k, "status": "empty", "items": []})
                }
                Ok((msgs, _)) => {
                    let items: Vec<Value> = msgs[msgs.len().saturating_sub(limit)..]
                        .iter()
                        .map(|s| {
                            let v = serde_json::to_value(&s.message).unwrap_or_default();
                            let text: String = s.message.text().chars().take(max_chars).collect();
                            json!({"role": v["role"], "text": text})
                        })
                        .collect();
                    json!({"key": k, "status": "ok", "items": items})
                }
            }
        })
        .collect();
    Ok(json!({"ts": now_ms(), "previews": previews}))
}

pub fn patch(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    let mut allowed: Vec<&str> = PATCH_FIELDS.iter().map(|(k, _)| *k).collect();
    allowed.push("key");
    p.only(&allowed)?;
    let key_in = p.required_str("key")?;
    for (field, values) in PATCH_FIELDS {
        match p.raw(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                if let Some(vals) = values
                    && !vals.contains(&s.as_str())
                {
                    return Err(RpcError::invalid(format!(
                        "invalid sessions.patch params: at /{field}: must be one of {}",
                        vals.join(", ")
                    )));
                }
            }
            Some(_) => {
                return Err(RpcError::invalid(format!(
                    "invalid sessions.patch params: at /{field}: must be string or null"
                )));
            }
        }
    }
    let rt = ctx.gw.runtime();
    let (agent, key) = keys::canonical(&rt.loaded.config, key_in);
    if let Some(Value::String(m)) = p.raw("model") {
        let allow = rt
            .loaded
            .resolved
            .pointer("/agents/defaults/models")
            .and_then(Value::as_object);
        let full = {
            let (prov, model) = crate::llm::providers::split_ref(m);
            format!("{prov}/{model}")
        };
        if allow.is_some_and(|a| !a.is_empty() && !a.contains_key(&full) && !a.contains_key(m)) {
            return Err(RpcError::invalid(format!(
                "model not allowed: {full} (add it to agents.defaults.models)"
            )));
        }
    }
    let sessions = &ctx.gw.host.agents.sessions;
    let entry = sessions
        .update(&agent, &key, |m| {
            for (field, _) in PATCH_FIELDS {
                match p.raw(field) {
                    Some(Value::Null) => {
                        m.remove(*field);
                    }
                    Some(v) => {
                        m.insert((*field).into(), v.clone());
                    }
                    None => {}
                }
            }
        })
        .map_err(RpcError::unavailable)?;
    Ok(
        json!({"ok": true, "path": sessions.store_path(&agent).display().to_string(), "key": key, "entry": entry}),
    )
}

pub fn reset(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["key"])?;
    let (agent, key) = keys::canonical(&ctx.gw.runtime().loaded.config, p.required_str("key")?);
    let entry = ctx
        .gw
        .host
        .agents
        .sessions
        .reset(&agent, &key)
        .map_err(RpcError::unavailable)?;
    Ok(json!({"ok": true, "key": key, "entry": entry}))
}

pub async fn delete(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["key", "deleteTranscript"])?;
    let key_in = p.required_str("key")?.to_string();
    let delete_transcript = p.bool("deleteTranscript")?.unwrap_or(true);
    let rt = ctx.gw.runtime();
    let (agent, key) = keys::canonical(&rt.loaded.config, &key_in);
    let main = keys::main_key(&rt.loaded.config, &agent);
    drop(rt);
    if key == main {
        return Err(RpcError::invalid(format!(
            "Cannot delete the main session ({key})."
        )));
    }
    let gw = ctx.gw;
    let runs = gw.host.agents.abort(&key, None);
    for r in &runs {
        if gw
            .host
            .agents
            .wait(r, Duration::from_secs(15))
            .await
            .is_none()
        {
            return Err(RpcError::unavailable(format!(
                "Session {key} is still active; try again in a moment."
            )));
        }
    }
    let (deleted, archived) = gw
        .host
        .agents
        .sessions
        .delete(&agent, &key, delete_transcript)
        .map_err(RpcError::unavailable)?;
    Ok(json!({"ok": true, "key": key, "deleted": deleted, "archived": archived}))
}
