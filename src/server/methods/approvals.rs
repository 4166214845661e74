//! Channel pairing codes (`pairing.list`, `pairing.approve`) and exec approvals
//! (`exec.approval.resolve`, and `exec.approval.list` so a CLI can see what waits).

use serde_json::{Value, json};

use super::{Ctx, Params};
use crate::agent::approvals::Decision;
use crate::channels::pairing::Store;
use crate::protocol::RpcError;

/// Channels with DM pairing in this build.
const PAIRING_CHANNELS: &[&str] = &["telegram"];

fn channel(p: &Params) -> Result<String, RpcError> {
    let ch = p.required_str("channel")?.to_ascii_lowercase();
    if !PAIRING_CHANNELS.contains(&ch.as_str()) {
        return Err(RpcError::invalid(format!(
            "unsupported pairing channel: {ch} (supported: {})",
            PAIRING_CHANNELS.join(", ")
        )));
    }
    Ok(ch)
}

pub fn pairing_list(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["channel"])?;
    let ch = channel(&p)?;
    let store = Store::new(&ctx.gw.paths.state_dir);
    let requests = store.list(&ch).map_err(RpcError::unavailable)?;
    let allow = store.allow_from(&ch).map_err(RpcError::unavailable)?;
    Ok(json!({"channel": ch, "requests": requests, "allowFrom": allow}))
}

pub fn pairing_approve(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["channel", "code"])?;
    let ch = channel(&p)?;
    let code = p.required_str("code")?;
    let store = Store::new(&ctx.gw.paths.state_dir);
    let req = store.approve(&ch, code).map_err(RpcError::invalid)?;
    tracing::info!(target: "pairing", "{ch} sender {} approved by {}", req["id"], ctx.client);
    Ok(json!({"ok": true, "channel": ch, "id": req["id"], "request": req}))
}

pub fn approval_resolve(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["id", "decision"])?;
    let id = p.required_str("id")?;
    let d = p.required_str("decision")?;
    let decision = Decision::parse(d).ok_or_else(|| {
        RpcError::invalid(format!(
            "invalid decision: {d} (allow-once, allow-always or deny)"
        ))
    })?;
    ctx.gw
        .agents
        .approvals
        .resolve(&ctx.gw.bus, id, decision, ctx.client)
        .map_err(RpcError::invalid)?;
    Ok(json!({"ok": true}))
}

pub fn approval_list(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    Ok(json!({"pending": ctx.gw.agents.approvals.list()}))
}
