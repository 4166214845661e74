//! `agent` (two answers: accepted, then the result), `agent.wait`, and `send` (deliver a
//! message to a channel peer without the agent).

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Ctx, Params};
use crate::agent::{RunRequest, run};
use crate::config::model::normalize_agent_id;
use crate::protocol::RpcError;
use crate::sessions::keys;
use crate::util::now_ms;

const AGENT_KEYS: &[&str] = &[
    "message",
    "agentId",
    "to",
    "replyTo",
    "sessionId",
    "sessionKey",
    "thinking",
    "deliver",
    "attachments",
    "channel",
    "replyChannel",
    "accountId",
    "replyAccountId",
    "threadId",
    "groupId",
    "groupChannel",
    "groupSpace",
    "timeout",
    "lane",
    "extraSystemPrompt",
    "idempotencyKey",
    "label",
    "spawnedBy",
];

/// Channel ids the original knows (its CLI sends `whatsapp` by default); only a
/// delivery needs the channel to run here.
const KNOWN_CHANNELS: &[&str] = &[
    "",
    "last",
    "webchat",
    "telegram",
    "whatsapp",
    "discord",
    "slack",
    "signal",
    "imessage",
    "googlechat",
    "msteams",
    "mattermost",
    "bluebubbles",
    "matrix",
    "line",
    "zalo",
];

/// Either a plain result or an error that still carries a payload (the `agent` failure).
pub enum Answer {
    Ok(Value),
    Err(Value, RpcError),
}

pub async fn agent(ctx: &Ctx<'_>, p: Params) -> Result<Answer, RpcError> {
    p.only(AGENT_KEYS)?;
    let message = p.required_str("message")?.to_string();
    let idem = p.required_str("idempotencyKey")?.to_string();
    let gw = ctx.gw;
    let rt = gw.runtime();
    let cfg = &rt.loaded.config;
    if let Some(ch) = p.str("channel")?
        && !KNOWN_CHANNELS.contains(&ch.to_ascii_lowercase().as_str())
    {
        return Err(RpcError::invalid(format!(
            "invalid agent params: unknown channel: {ch}"
        )));
    }
    let requested_agent = p.str("agentId")?.map(normalize_agent_id);
    if let Some(a) = &requested_agent
        && !cfg.agent_ids().contains(a)
    {
        return Err(RpcError::invalid(format!(
            "invalid agent params: unknown agent id \"{a}\""
        )));
    }
    let (agent_id, store_key, client_key) = match p.str("sessionKey")? {
        Some(k) if !k.is_empty() => {
            let (a, key) = keys::canonical(cfg, k);
            if let Some(r) = &requested_agent
                && *r != a
            {
                return Err(RpcError::invalid(format!(
                    "invalid agent params: agent \"{r}\" does not match session key agent \"{a}\""
                )));
            }
            (a, key, k.to_string())
        }
        _ => {
            let a = requested_agent.unwrap_or_else(|| cfg.default_agent_id());
            let key = keys::main_key(cfg, &a);
            (a, key.clone(), key)
        }
    };
    let timeout_s = p.int("timeout", 0, i64::MAX)?;
    // `deliver`: the reply also goes to a channel peer (any kind this build runs).
    let deliver_to = match (
        p.bool("deliver")?,
        p.str("replyChannel")?
            .or(p.str("channel")?)
            .and_then(crate::channels::kinds::kind),
    ) {
        (Some(true), Some(kind)) => {
            let to = p.str("replyTo")?.or(p.str("to")?).ok_or_else(|| {
                RpcError::invalid(format!(
                    "invalid agent params: deliver to {} needs \"to\" ({})",
                    kind.id, kind.target_help
                ))
            })?;
            let account = p
                .str("replyAccountId")?
                .or(p.str("accountId")?)
                .unwrap_or("default");
            Some((kind, account.to_string(), to.to_string()))
        }
        _ => None,
    };
    let extra = p.str("extraSystemPrompt")?.map(String::from);
    drop(rt);
    let dedupe = format!("agent:{idem}");
    if let Some(v) = gw.host.agents.result(&dedupe) {
        return Ok(Answer::Ok(v));
    }
    if gw.host.agents.is_active(&idem) {
        return Ok(Answer::Ok(
            json!({"runId": idem, "status": "accepted", "acceptedAt": gw.host.agents.started_at(&idem)}),
        ));
    }
    ctx.interim(json!({"runId": idem, "status": "accepted", "acceptedAt": now_ms()}));
    let req = RunRequest {
        run_id: idem.clone(),
        agent_id,
        session_key: store_key,
        message,
        idempotency_key: Some(format!("agent:{idem}")),
        origin: Map::new(),
        extra_system: extra,
        cancel: gw.host.cancel.child_token(),
        event_session_key: Some(client_key),
        model: None,
    };
    let fut = run(&gw.host, req);
    let out = match timeout_s.filter(|t| *t > 0) {
        Some(t) => match tokio::time::timeout(Duration::from_secs(t as u64), fut).await {
            Ok(r) => r,
            Err(_) => {
                gw.host.agents.abort_run(&idem);
                Err(crate::agent::RunError::aborted(format!(
                    "timed out after {t}s"
                )))
            }
        },
        None => fut.await,
    };
    let (answer, stored) = match out {
        Ok(o) => {
            if let Some((kind, account, to)) = &deliver_to
                && let Err(e) =
                    crate::channels::deliver(&gw.channels, kind.id, account, to, &o.text).await
            {
                tracing::warn!(target: "agent", "run {idem}: reply not delivered to {} {to}: {e}", kind.id);
            }
            let v = json!({"runId": idem, "status": "ok", "summary": "completed", "result": {
                "payloads": [{"text": o.text, "mediaUrl": null}],
                "meta": {"model": o.model},
            }});
            (Answer::Ok(v.clone()), v)
        }
        Err(e) => {
            let v = json!({"runId": idem, "status": "error", "summary": e.message});
            (Answer::Err(v.clone(), RpcError::unavailable(e.message)), v)
        }
    };
    gw.host.agents.remember(&dedupe, stored);
    Ok(answer)
}

pub async fn wait(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["runId", "timeoutMs"])?;
    let run_id = p.required_str("runId")?;
    let timeout = p.int("timeoutMs", 0, i64::MAX)?.unwrap_or(30_000) as u64;
    match ctx
        .gw
        .host
        .agents
        .wait(run_id, Duration::from_millis(timeout))
        .await
    {
        Some(r) => {
            let mut out = Map::new();
            for k in ["runId", "status", "startedAt", "endedAt", "error"] {
                if let Some(v) = r.get(k).filter(|v| !v.is_null()) {
                    out.insert(k.into(), v.clone());
                }
            }
            Ok(Value::Object(out))
        }
        None => Ok(json!({"runId": run_id, "status": "timeout"})),
    }
}

pub async fn send(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&[
        "to",
        "message",
        "mediaUrl",
        "mediaUrls",
        "gifPlayback",
        "channel",
        "accountId",
        "sessionKey",
        "idempotencyKey",
    ])?;
    let to = p.required_str("to")?.to_string();
    let message = p.required_str("message")?.to_string();
    let idem = p.required_str("idempotencyKey")?.to_string();
    let channel = p.str("channel")?.unwrap_or("telegram").to_ascii_lowercase();
    let account = p.str("accountId")?.unwrap_or("default").to_string();
    if p.str("mediaUrl")?.is_some() || !p.array("mediaUrls")?.is_empty() {
        return Err(RpcError::invalid(
            "media is not supported by this gateway yet; send text",
        ));
    }
    let Some(kind) = crate::channels::kinds::kind(&channel) else {
        return Err(RpcError::invalid(format!(
            "unsupported channel: {channel} (this gateway sends to: {})",
            crate::channels::kinds::ids()
        )));
    };
    let dedupe = format!("send:{idem}");
    if let Some(v) = ctx.gw.host.agents.result(&dedupe) {
        return Ok(v);
    }
    let id = crate::channels::deliver(&ctx.gw.channels, kind.id, &account, &to, &message)
        .await
        .map_err(RpcError::unavailable)?;
    let v = json!({"runId": idem, "messageId": id, "channel": kind.id, "chatId": to});
    ctx.gw.host.agents.remember(&dedupe, v.clone());
    Ok(v)
}
