//! `skills.status`: every skill the default agent's workspace, the managed dir and
//! `skills.load.extraDirs` hold, with its gate (the original's report shape).

use serde_json::Value;

use super::{Ctx, Params};
use crate::protocol::RpcError;

/// The original takes no params (`{}` only) and reports the default agent's workspace.
pub fn status(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    let host = &ctx.gw.host;
    let loaded = host.config();
    let agent = loaded.config.default_agent_id();
    let ws = crate::agent::workspace::dir(&loaded.resolved, &loaded.env, &agent);
    Ok(crate::agent::skills::Context::new(&ws, &host.paths.state_dir, &loaded, &host.nix).status())
}
