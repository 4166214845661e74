//! `cron.*` (the original's src/gateway/server-methods/cron.ts): strict params, then
//! the cron service. Errors carry the service's message (which names the bad key).

use serde_json::Value;

use super::{Ctx, Params};
use crate::cron::{AddInput, RunMode};
use crate::protocol::RpcError;

fn job_id(p: &Params) -> Result<String, RpcError> {
    match p.str("id")?.or(p.str("jobId")?) {
        Some(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => Err(RpcError::invalid(format!(
            "invalid {} params: missing id",
            p.method
        ))),
    }
}

pub async fn list(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["includeDisabled"])?;
    let all = p.bool("includeDisabled")?.unwrap_or(false);
    Ok(ctx.gw.cron.list(all).await)
}

pub async fn status(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    Ok(ctx.gw.cron.status().await)
}

pub async fn add(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&[
        "name",
        "agentId",
        "description",
        "enabled",
        "deleteAfterRun",
        "schedule",
        "sessionTarget",
        "wakeMode",
        "payload",
        "isolation",
    ])?;
    let object = |k: &str| -> Result<Value, RpcError> {
        match p.raw(k) {
            Some(v @ Value::Object(_)) => Ok(v.clone()),
            None | Some(Value::Null) => {
                Err(p.err(format!("at root: must have required property '{k}'")))
            }
            Some(_) => Err(p.err(format!("at /{k}: must be object"))),
        }
    };
    let input = AddInput {
        name: p.required_str("name")?.to_string(),
        agent_id: p.str("agentId")?.map(str::to_string),
        description: p.str("description")?.map(str::to_string),
        enabled: p.bool("enabled")?.unwrap_or(true),
        delete_after_run: p.bool("deleteAfterRun")?,
        schedule: object("schedule")?,
        session_target: p.required_str("sessionTarget")?.to_string(),
        wake_mode: p.str("wakeMode")?.unwrap_or("next-heartbeat").to_string(),
        payload: object("payload")?,
        isolation: p.raw("isolation").filter(|v| !v.is_null()).cloned(),
    };
    ctx.gw.cron.add(input).await.map_err(RpcError::invalid)
}

pub async fn update(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["id", "jobId", "patch"])?;
    let id = job_id(&p)?;
    let Some(Value::Object(patch)) = p.raw("patch") else {
        return Err(p.err("at root: must have required property 'patch'".into()));
    };
    ctx.gw
        .cron
        .update(&id, patch)
        .await
        .map_err(RpcError::invalid)
}

pub async fn remove(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["id", "jobId"])?;
    let id = job_id(&p)?;
    ctx.gw.cron.remove(&id).await.map_err(RpcError::invalid)
}

pub async fn run(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["id", "jobId", "mode"])?;
    let id = job_id(&p)?;
    let mode = match p.str("mode")? {
        // The original runs only a due job unless told `force`.
        None | Some("due") => RunMode::Due,
        Some("force") => RunMode::Force,
        Some(_) => return Err(p.err("at /mode: must be \"due\" or \"force\"".into())),
    };
    ctx.gw.cron.run(&id, mode).await.map_err(RpcError::invalid)
}

pub fn runs(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["id", "jobId", "limit"])?;
    let id = job_id(&p)?;
    let limit = p.int("limit", 1, 5000)?.unwrap_or(200) as usize;
    Ok(ctx.gw.cron.runs(&id, limit))
}
