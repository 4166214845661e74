//! `web.login.start` / `web.login.wait`: linking WhatsApp from the Control UI (the
//! original's methods, params and result shapes; the work is in
//! `channels::whatsapp::web`).

use std::time::Duration;

use serde_json::Value;

use super::{Ctx, Params};
use crate::protocol::RpcError;

fn account_id(p: &Params) -> Result<String, RpcError> {
    let id = p.str("accountId")?.unwrap_or("default");
    if !crate::channels::whatsapp::creds::valid_id(id) {
        return Err(RpcError::invalid(format!(
            "invalid accountId {id:?}: letters, digits, - and _ only"
        )));
    }
    Ok(id.to_string())
}

fn timeout(p: &Params, default_ms: i64) -> Result<Duration, RpcError> {
    let ms = p.int("timeoutMs", 1, 600_000)?.unwrap_or(default_ms);
    Ok(Duration::from_millis(ms as u64))
}

pub async fn start(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["accountId", "force", "timeoutMs", "verbose"])?;
    let id = account_id(&p)?;
    let force = p.bool("force")?.unwrap_or(false);
    p.bool("verbose")?;
    let t = timeout(&p, 30_000)?;
    #[cfg(feature = "whatsapp")]
    {
        Ok(crate::channels::whatsapp::web::start(&ctx.gw.channels, &id, force, t).await)
    }
    #[cfg(not(feature = "whatsapp"))]
    {
        let _ = (ctx, id, force, t);
        Err(RpcError::unavailable(crate::channels::whatsapp::NO_FEATURE))
    }
}

pub async fn wait(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["accountId", "timeoutMs"])?;
    let id = account_id(&p)?;
    let t = timeout(&p, 120_000)?;
    #[cfg(feature = "whatsapp")]
    {
        Ok(crate::channels::whatsapp::web::wait(&ctx.gw.channels, &id, t).await)
    }
    #[cfg(not(feature = "whatsapp"))]
    {
        let _ = (ctx, id, t);
        Err(RpcError::unavailable(crate::channels::whatsapp::NO_FEATURE))
    }
}
