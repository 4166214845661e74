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

/// `skills.install {name, installId, timeoutMs?}`: this gateway has no installer (it
/// never downloads and runs package managers on its own). The answer says what to do
/// instead: in Nix mode, the module options; else install the binaries yourself.
pub fn install(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.only(&["name", "installId", "timeoutMs"])?;
    let name = p.required_str("name")?;
    p.required_str("installId")?;
    p.int("timeoutMs", 1000, 86_400_000)?;
    let msg = if ctx.gw.host.nix.enabled {
        format!(
            "skills.install is disabled in Nix mode: add the skill to {o}.skills and the programs it needs to {o}.extraPackages, then run `home-manager switch` (or `nixos-rebuild switch`)",
            o = crate::nix::option_path()
        )
    } else {
        format!(
            "skills.install is not supported by this gateway: install what skill \"{name}\" needs yourself (`clawdbot skills info {name}` lists the missing binaries and env), then it becomes eligible on the next message"
        )
    };
    Err(RpcError::unavailable(msg))
}
