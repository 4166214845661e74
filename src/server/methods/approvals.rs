//! Channel pairing codes (`pairing.list`, `pairing.approve`) and exec approvals
//! (`exec.approval.resolve`, and `exec.approval.list` so a CLI can see what waits).

use serde_json::{Value, json};

use super::{Ctx, Params};
use crate::agent::approvals::Decision;
use crate::channels::pairing::Store;
use crate::protocol::RpcError;

/// Every channel kind this build runs pairs unknown DM senders.
fn channel(p: &Params) -> Result<String, RpcError> {
    let ch = p.required_str("channel")?.to_ascii_lowercase();
    match crate::channels::kinds::kind(&ch) {
        Some(k) => Ok(k.id.to_string()),
        None => Err(RpcError::invalid(format!(
            "unsupported pairing channel: {ch} (supported: {})",
            crate::channels::kinds::ids()
        ))),
    }
}

pub fn pairing_list(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["channel"])?;
    let ch = channel(&p)?;
    let store = Store::new(&ctx.gw.host.paths.state_dir);
    let requests = store.list(&ch).map_err(RpcError::unavailable)?;
    let allow = store.allow_from(&ch).map_err(RpcError::unavailable)?;
    Ok(json!({"channel": ch, "requests": requests, "allowFrom": allow}))
}

pub fn pairing_approve(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["channel", "code"])?;
    let ch = channel(&p)?;
    let code = p.required_str("code")?;
    let store = Store::new(&ctx.gw.host.paths.state_dir);
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
        .host
        .agents
        .approvals
        .resolve(&ctx.gw.host.bus, id, decision, ctx.client)
        .map_err(RpcError::invalid)?;
    Ok(json!({"ok": true}))
}

pub fn approval_list(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    Ok(json!({"pending": ctx.gw.host.agents.approvals.list()}))
}
