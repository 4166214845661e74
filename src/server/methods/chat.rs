//! The webchat channel: `chat.send` starts a run and streams `chat` events with the
//! session key the client sent; `chat.history` reads the transcript; `chat.abort` stops
//! the session's runs.

use serde_json::{Map, Value, json};

use super::{Ctx, Params};
use crate::agent::{RunRequest, run_queued};
use crate::protocol::RpcError;
use crate::sessions::{keys, transcript};

/// `chat.history` answers at most this much JSON (the original's cap).
const HISTORY_MAX_BYTES: usize = 6 * 1024 * 1024;
const ATTACHMENTS_MAX_BYTES: usize = 5_000_000;

fn is_stop(message: &str) -> bool {
    matches!(
        message.trim().to_ascii_lowercase().as_str(),
        "/stop" | "stop" | "/abort" | "abort"
    )
}

pub fn send(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&[
        "sessionKey",
        "message",
        "thinking",
        "deliver",
        "attachments",
        "timeoutMs",
        "idempotencyKey",
    ])?;
    let client_key = p.required_str("sessionKey")?.to_string();
    let idem = p.required_str("idempotencyKey")?.to_string();
    let message = p.str("message")?.unwrap_or_default().to_string();
    p.str("thinking")?;
    p.bool("deliver")?;
    p.int("timeoutMs", 0, i64::MAX)?;
    let attachments = p.array("attachments")?;
    let attached_bytes: usize = attachments
        .iter()
        .filter_map(|a| a.get("content").and_then(Value::as_str))
        .map(|c| c.len() * 3 / 4)
        .sum();
    if attached_bytes > ATTACHMENTS_MAX_BYTES {
        return Err(RpcError::invalid(format!(
            "attachments exceed {ATTACHMENTS_MAX_BYTES} bytes"
        )));
    }
    if !attachments.is_empty() {
        return Err(RpcError::invalid(
            "attachments are not supported by this gateway yet; send the text alone",
        ));
    }
    if message.trim().is_empty() {
        return Err(RpcError::invalid("message or attachment required"));
    }
    let gw = ctx.gw;
    let rt = gw.runtime();
    let (agent_id, store_key) = keys::canonical(&rt.loaded.config, &client_key);
    drop(rt);
    if is_stop(&message) {
        let ids = gw.host.agents.abort(&store_key, None);
        return Ok(json!({"ok": true, "aborted": !ids.is_empty(), "runIds": ids}));
    }
    if gw.host.agents.is_active(&idem) {
        return Ok(json!({"runId": idem, "status": "in_flight"}));
    }
    if let Some(done) = gw.host.agents.result(&idem) {
        return Ok(done);
    }
    if gw
        .host
        .agents
        .sessions
        .get(&agent_id, &store_key)
        .and_then(|e| e.get("sendPolicy").cloned())
        == Some(json!("deny"))
    {
        return Err(RpcError::invalid("send blocked by session policy"));
    }
    let mut origin = Map::new();
    origin.insert("lastChannel".into(), json!("webchat"));
    let req = RunRequest {
        run_id: idem.clone(),
        agent_id,
        session_key: store_key,
        message,
        idempotency_key: Some(format!("chat:{idem}")),
        origin,
        extra_system: None,
        cancel: gw.host.cancel.child_token(),
        event_session_key: Some(client_key),
        model: None,
    };
    // Registered and queued before the ack: an immediate `chat.abort` finds the run,
    // and runs start in the order the client sent them.
    gw.host
        .agents
        .register(&req.run_id, &req.session_key, req.cancel.clone());
    let ticket = gw.host.agents.enqueue(&req.session_key);
    let gw2 = gw.clone();
    gw.tasks.spawn(async move {
        let _ = run_queued(&gw2.host, req, ticket).await;
    });
    Ok(json!({"runId": idem, "status": "started"}))
}

pub fn history(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["sessionKey", "limit"])?;
    let client_key = p.required_str("sessionKey")?.to_string();
    let limit = p.int("limit", 1, 1000)?.unwrap_or(200) as usize;
    let rt = ctx.gw.runtime();
    let (agent_id, store_key) = keys::canonical(&rt.loaded.config, &client_key);
    let sessions = &ctx.gw.host.agents.sessions;
    // A store this release refuses (a newer format) is an error, not an empty history.
    let entry = sessions
        .load(&agent_id)
        .map_err(RpcError::unavailable)?
        .get(&store_key)
        .and_then(Value::as_object)
        .cloned();
    let sid = entry
        .as_ref()
        .and_then(|e| e.get("sessionId"))
        .and_then(Value::as_str);
    let mut messages = match sid {
        Some(sid) => transcript::read_raw(&sessions.transcript_path(&agent_id, sid))
            .map_err(RpcError::unavailable)?,
        None => vec![],
    };
    if messages.len() > limit {
        messages.drain(..messages.len() - limit);
    }
    // Drop the oldest until the answer fits.
    let mut size: usize = messages.iter().map(|m| m.to_string().len() + 1).sum();
    while size > HISTORY_MAX_BYTES && !messages.is_empty() {
        size -= messages[0].to_string().len() + 1;
        messages.remove(0);
    }
    let thinking = entry
        .as_ref()
        .and_then(|e| e.get("thinkingLevel").cloned())
        .unwrap_or(Value::Null);
    Ok(
        json!({"sessionKey": client_key, "sessionId": sid, "messages": messages, "thinkingLevel": thinking}),
    )
}

pub fn abort(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["sessionKey", "runId"])?;
    let client_key = p.required_str("sessionKey")?;
    let run_id = p.str("runId")?;
    let (_, store_key) = keys::canonical(&ctx.gw.runtime().loaded.config, client_key);
    if let Some(r) = run_id
        && let Some(owner) = ctx.gw.host.agents.session_of(r)
        && owner != store_key
    {
        return Err(RpcError::invalid("runId does not match sessionKey"));
    }
    let ids = ctx.gw.host.agents.abort(&store_key, run_id);
    Ok(json!({"ok": true, "aborted": !ids.is_empty(), "runIds": ids}))
}
