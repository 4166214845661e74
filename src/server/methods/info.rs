//! Read-only views of agents, models, sessions and channels.

use serde_json::{Value, json};

use super::{Ctx, Params};
use crate::config::model::{ModelSpec, normalize_agent_id, resolve_model_alias};
use crate::protocol::RpcError;
use crate::util::now_ms;

pub fn channels_status(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["probe", "timeoutMs"])?;
    p.bool("probe")?;
    p.int("timeoutMs", 0, i64::MAX)?;
    Ok(crate::server::channels::status(
        &ctx.gw.runtime().loaded.resolved,
        &ctx.gw.channels.status,
    ))
}

fn split_model(r: &str) -> (String, String) {
    let r = resolve_model_alias(r);
    match r.split_once('/') {
        Some((p, m)) => (p.to_string(), m.to_string()),
        None => ("anthropic".to_string(), r.to_string()),
    }
}

/// Models the config refers to: primary, fallbacks, the `agents.defaults.models`
/// allowlist and every model declared under `models.providers`.
pub fn models_list(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    let rt = ctx.gw.runtime();
    let cfg = &rt.loaded.config;
    let resolved = &rt.loaded.resolved;
    let mut refs: Vec<String> = vec![cfg.primary_model()];
    if let Some(ModelSpec::Detailed {
        fallbacks: Some(f), ..
    }) = &cfg.agents.defaults.model
    {
        refs.extend(f.iter().cloned());
    }
    for a in &cfg.agents.list {
        if let Some(m) = &a.model {
            refs.extend(m.primary().map(str::to_string));
        }
    }
    if let Some(allow) = resolved
        .pointer("/agents/defaults/models")
        .and_then(Value::as_object)
    {
        refs.extend(allow.keys().cloned());
    }
    let mut out: Vec<Value> = vec![];
    let mut seen = std::collections::HashSet::new();
    for r in refs {
        let (provider, model) = split_model(&r);
        if seen.insert(format!("{provider}/{model}")) {
            out.push(json!({"id": model, "name": model, "provider": provider}));
        }
    }
    if let Some(providers) = resolved
        .pointer("/models/providers")
        .and_then(Value::as_object)
    {
        for (provider, def) in providers {
            for m in def
                .get("models")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(id) = m.get("id").and_then(Value::as_str) else {
                    continue;
                };
                if seen.insert(format!("{provider}/{id}")) {
                    let mut entry = json!({"id": id, "name": m.get("name").and_then(Value::as_str).unwrap_or(id), "provider": provider});
                    if let Some(cw) = m.get("contextWindow") {
                        entry["contextWindow"] = cw.clone();
                    }
                    if let Some(r) = m.get("reasoning") {
                        entry["reasoning"] = r.clone();
                    }
                    out.push(entry);
                }
            }
        }
    }
    Ok(json!({"models": out}))
}

pub fn agents_list(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    let rt = ctx.gw.runtime();
    let cfg = &rt.loaded.config;
    let agents: Vec<Value> = if cfg.agents.list.is_empty() {
        vec![json!({"id": "main"})]
    } else {
        cfg.agents
            .list
            .iter()
            .map(|a| {
                let mut v = json!({"id": normalize_agent_id(&a.id)});
                if let Some(n) = &a.name {
                    v["name"] = json!(n);
                }
                if let Some(i) = &a.identity {
                    v["identity"] = i.clone();
                }
                v
            })
            .collect()
    };
    Ok(
        json!({"defaultId": cfg.default_agent_id(), "mainKey": "main", "scope": cfg.session_scope(), "agents": agents}),
    )
}

/// Sessions from every agent's `sessions.json`, newest first (empty until agents run).
pub fn sessions_list(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&[
        "limit",
        "activeMinutes",
        "includeGlobal",
        "includeUnknown",
        "includeDerivedTitles",
        "includeLastMessage",
        "label",
        "spawnedBy",
        "agentId",
        "search",
    ])?;
    let limit = p.int("limit", 1, 100_000)?.map(|l| l as usize);
    let active = p.int("activeMinutes", 1, i64::MAX)?;
    let only_agent = p.str("agentId")?.map(normalize_agent_id);
    let search = p.str("search")?.map(str::to_lowercase);
    let include_global = p.bool("includeGlobal")?.unwrap_or(false);
    let include_unknown = p.bool("includeUnknown")?.unwrap_or(false);
    let gw = ctx.gw;
    let rt = gw.runtime();
    let cfg = &rt.loaded.config;
    let ids: Vec<String> = cfg
        .agent_ids()
        .into_iter()
        .filter(|id| only_agent.as_ref().is_none_or(|o| o == id))
        .collect();
    let now = now_ms();
    let mut rows = vec![];
    for id in &ids {
        let path = gw.host.paths.sessions_store(id);
        let Ok(map) = crate::sessions::read_index(&path) else {
            continue;
        };
        for (key, entry) in map {
            if (key == "global" && !include_global) || (key == "unknown" && !include_unknown) {
                continue;
            }
            let updated = entry.get("updatedAt").and_then(Value::as_i64).unwrap_or(0);
            if active.is_some_and(|m| now - updated > m * 60_000) {
                continue;
            }
            if search
                .as_ref()
                .is_some_and(|s| !key.to_lowercase().contains(s))
            {
                continue;
            }
            let kind = if key == "global" {
                "global"
            } else if key == "unknown" {
                "unknown"
            } else if key.contains(":group:") || key.contains(":channel:") {
                "group"
            } else {
                "direct"
            };
            let mut row = entry.as_object().cloned().unwrap_or_default();
            row.insert("key".into(), json!(key));
            row.insert("kind".into(), json!(kind));
            row.insert("updatedAt".into(), json!(updated));
            rows.push(Value::Object(row));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r["updatedAt"].as_i64().unwrap_or(0)));
    if let Some(l) = limit {
        rows.truncate(l);
    }
    let path = match ids.as_slice() {
        [one] => gw.host.paths.sessions_store(one).display().to_string(),
        _ => "(multiple)".to_string(),
    };
    let (provider, model) = split_model(&cfg.primary_model());
    Ok(json!({
        "ts": now,
        "path": path,
        "count": rows.len(),
        "defaults": {"modelProvider": provider, "model": model, "contextTokens": cfg.context_tokens()},
        "sessions": rows,
    }))
}

/// `agent.identity.get {agentId?, sessionKey?}` → `{agentId, name, avatar}`.
pub fn identity(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["agentId", "sessionKey"])?;
    let rt = ctx.gw.runtime();
    let agent = match (p.str("agentId")?, p.str("sessionKey")?) {
        (Some(a), _) => Some(a.to_string()),
        (None, Some(k)) => Some(crate::sessions::keys::agent_of_key(&rt.loaded.config, k)),
        _ => None,
    };
    Ok(crate::heartbeat::identity::resolve(
        &rt.loaded,
        agent.as_deref(),
    ))
}
