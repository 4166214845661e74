//! `health`, `status`, `system-presence`, `logs.tail`.

use serde_json::{Value, json};

use super::{Ctx, Params};
use crate::protocol::RpcError;

/// The whole `res` frame of a `health` call without params, when the cache can answer:
/// the summary's JSON text is spliced in (same bytes as serialising the tree).
pub fn health_frame_from_cache(ctx: &Ctx<'_>, params: Option<&Value>) -> Option<String> {
    match params {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) if m.is_empty() => {}
        _ => return None,
    }
    let (json, age) = ctx.gw.health.current_json()?;
    if age > crate::server::health::FRESH_FOR {
        crate::server::refresh_health(ctx.gw, false);
    }
    let id = Value::from(ctx.req_id).to_string();
    let mut f = String::with_capacity(json.len() + id.len() + 40);
    f.push_str(r#"{"type":"res","id":"#);
    f.push_str(&id);
    f.push_str(r#","ok":true,"payload":"#);
    f.push_str(&json);
    f.push('}');
    Some(f)
}

pub async fn health(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["probe"])?;
    let probe = p.bool("probe")?.unwrap_or(false);
    let gw = ctx.gw.clone();
    if probe {
        let summary = tokio::task::spawn_blocking(move || {
            let s = crate::server::health::build(&gw);
            if gw.health.store(s.clone()) {
                crate::server::broadcast_health(&gw);
            }
            s
        })
        .await
        .map_err(|e| RpcError::unavailable(format!("health failed: {e}")))?;
        return Ok(summary);
    }
    let (cached, age) = ctx.gw.health.current();
    if age > crate::server::health::FRESH_FOR {
        crate::server::refresh_health(ctx.gw, false);
    }
    if cached.get("ok").is_none() {
        let gw = ctx.gw.clone();
        let s = tokio::task::spawn_blocking(move || crate::server::health::build(&gw))
            .await
            .map_err(|e| RpcError::unavailable(format!("health failed: {e}")))?;
        return Ok(s);
    }
    Ok((*cached).clone())
}

pub fn status(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    let gw = ctx.gw;
    let rt = gw.runtime();
    let cfg = &rt.loaded.config;
    let beats = gw.heartbeats.summary(cfg);
    let ids = cfg.agent_ids();
    let default_id = cfg.default_agent_id();
    let by_agent: Vec<Value> = ids
        .iter()
        .map(|id| {
            let mut s =
                crate::server::health::session_store_summary(&gw.host.paths.sessions_store(id), 10);
            s["agentId"] = json!(id);
            s
        })
        .collect();
    let count: u64 = by_agent
        .iter()
        .map(|a| a["count"].as_u64().unwrap_or(0))
        .sum();
    let mut recent: Vec<Value> = by_agent
        .iter()
        .flat_map(|a| a["recent"].as_array().cloned().unwrap_or_default())
        .collect();
    recent.sort_by_key(|r| std::cmp::Reverse(r["updatedAt"].as_i64().unwrap_or(0)));
    recent.truncate(10);
    let model = cfg.primary_model();
    let model_name = model
        .split_once('/')
        .map(|(_, m)| m)
        .unwrap_or(&model)
        .to_string();
    let reload = gw.reload.lock().map(|r| r.clone()).unwrap_or_default();
    let bind = gw.bind.get().cloned();
    Ok(json!({
        "connections": gw.limits.snapshot(),
        // Tasks the gateway tracks (connections, runs, channel workers): the soak samples
        // it to tell a task leak from memory growth.
        "tasks": gw.tasks.len(),
        "authThrottle": gw.throttle.snapshot(),
        "heartbeat": {
            "defaultAgentId": default_id,
            "agents": beats.iter().map(|b| json!({"agentId": b.agent_id, "enabled": b.enabled, "every": b.every, "everyMs": b.every_ms})).collect::<Vec<_>>(),
        },
        "channelSummary": [],
        "queuedSystemEvents": [],
        "sessions": {
            "paths": by_agent.iter().map(|a| a["path"].clone()).collect::<Vec<_>>(),
            "count": count,
            "defaults": {"model": model_name, "contextTokens": cfg.context_tokens()},
            "recent": recent,
            "byAgent": by_agent,
        },
        "stateFormat": crate::state_format::summary_json(&gw.host.paths.state_dir, &[&gw.cron.store_path]),
        "gateway": {
            "version": crate::VERSION,
            "pid": std::process::id(),
            "uptimeMs": gw.uptime_ms(),
            "bind": bind.as_ref().map(|b| b.mode.clone()),
            "host": bind.as_ref().map(|b| b.host.clone()),
            "port": bind.as_ref().map(|b| b.port),
            "configPath": gw.host.paths.config_path.display().to_string(),
            "stateDir": gw.host.paths.state_dir.display().to_string(),
            "nixMode": gw.host.nix.enabled,
            "auth": {"mode": rt.auth.mode.as_str(), "source": rt.auth.source},
            "configReload": {
                "ok": reload.last_error.is_none(),
                "lastAtMs": reload.last_at_ms,
                "lastError": reload.last_error,
                "reloads": reload.reloads,
            },
            "warnings": rt.loaded.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
        },
    }))
}

pub fn presence(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    let list = ctx
        .gw
        .presence
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .list();
    Ok(Value::Array(list))
}

/// `node.list`: the nodes connected now (server::presence).
pub fn node_list(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    let nodes = ctx
        .gw
        .presence
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .nodes();
    Ok(json!({"ts": crate::util::now_ms(), "nodes": nodes}))
}

pub async fn logs_tail(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["cursor", "limit", "maxBytes"])?;
    let cursor = p.int("cursor", 0, i64::MAX)?.map(|c| c as u64);
    let limit = p.int("limit", 1, 5000)?.unwrap_or(500) as usize;
    let max_bytes = p.int("maxBytes", 1, 1_000_000)?.unwrap_or(250_000) as u64;
    let Some(file) = ctx.gw.log_file.clone() else {
        return Err(RpcError::unavailable(
            "file logging is off for this gateway",
        ));
    };
    tokio::task::spawn_blocking(move || crate::logging::tail(&file, cursor, limit, max_bytes))
        .await
        .map_err(|e| RpcError::unavailable(format!("logs.tail failed: {e}")))?
        .map_err(RpcError::unavailable)
}

/// The last `heartbeat` event, or null before the first beat.
pub fn last_heartbeat(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    Ok(ctx.gw.heartbeats.last().unwrap_or(Value::Null))
}

pub fn set_heartbeats(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["enabled"])?;
    let on = p.bool("enabled")?.ok_or_else(|| {
        RpcError::invalid(
            "invalid set-heartbeats params: at root: must have required property 'enabled'",
        )
    })?;
    ctx.gw.heartbeats.set_enabled(on);
    Ok(json!({"ok": true, "enabled": on}))
}

/// `wake {mode: "now"|"next-heartbeat", text}`.
pub fn wake(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["mode", "text"])?;
    let mode = p.str("mode")?.unwrap_or("now");
    if !matches!(mode, "now" | "next-heartbeat") {
        return Err(RpcError::invalid(format!(
            "invalid wake params: mode must be \"now\" or \"next-heartbeat\" (got {mode:?})"
        )));
    }
    let text = p.str("text")?.unwrap_or_default();
    Ok(json!({"ok": ctx.gw.heartbeats.wake(mode, text)}))
}
