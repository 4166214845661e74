//! `device.pair.list|approve|reject|remove`, `device.token.revoke`.

use serde_json::{Value, json};

use super::{Ctx, Params};
use crate::protocol::RpcError;
use crate::util::now_ms;

fn store_err(e: std::io::Error) -> RpcError {
    RpcError::unavailable(format!("cannot write the pairing store: {e}"))
}

pub fn list(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    Ok(ctx
        .gw
        .pairing
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .list())
}

pub fn approve(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["requestId"])?;
    let id = p.required_str("requestId")?;
    let device = ctx
        .gw
        .pairing
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .approve(id)
        .map_err(store_err)?;
    let Some(device) = device else {
        return Err(RpcError::invalid(format!(
            "unknown requestId: {id} (it may have expired; pending requests last 5 minutes)"
        )));
    };
    tracing::info!(target: "gateway", "device pairing approved device={}", device.device_id);
    ctx.gw.host.bus.send(
        "device.pair.resolved",
        json!({"requestId": id, "deviceId": device.device_id, "decision": "approved", "ts": now_ms()}),
        None,
        true,
    );
    Ok(json!({"requestId": id, "device": device.public_view()}))
}

pub fn reject(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["requestId"])?;
    let id = p.required_str("requestId")?;
    let removed = ctx
        .gw
        .pairing
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .reject(id)
        .map_err(store_err)?;
    let Some(req) = removed else {
        return Err(RpcError::invalid(format!("unknown requestId: {id}")));
    };
    ctx.gw.host.bus.send(
        "device.pair.resolved",
        json!({"requestId": id, "deviceId": req.device_id, "decision": "rejected", "ts": now_ms()}),
        None,
        true,
    );
    Ok(json!({"requestId": id, "deviceId": req.device_id}))
}

pub fn remove(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["deviceId"])?;
    let id = p.required_str("deviceId")?;
    let removed = ctx
        .gw
        .pairing
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(id)
        .map_err(store_err)?;
    if removed.is_none() {
        return Err(RpcError::invalid(format!(
            "unknown deviceId: {id} (see `clawdbot devices list`)"
        )));
    }
    tracing::info!(target: "gateway", "paired device removed device={id} by {}", ctx.client);
    Ok(json!({"ok": true, "deviceId": id}))
}

pub fn revoke(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["deviceId", "role"])?;
    let id = p.required_str("deviceId")?;
    let role = p.required_str("role")?;
    let done = ctx
        .gw
        .pairing
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .revoke_token(id, role)
        .map_err(store_err)?;
    if !done {
        return Err(RpcError::invalid(format!(
            "no {role} token for device {id}"
        )));
    }
    Ok(json!({"ok": true, "deviceId": id, "role": role, "revokedAtMs": now_ms()}))
}
