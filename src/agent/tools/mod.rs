//! The agent's tools. File tools ([`files`]) are confined to the workspace by race-free
//! opens ([`beneath`]), refuse anything but regular files and never hold up the runtime;
//! `exec` follows the approval policy; `web_fetch` ([`web_fetch`]) reaches only public
//! addresses unless the operator allows a private host ([`netguard`]).
//! `tools.allow` / `tools.deny` pick which are offered.

mod beneath;
mod files;
pub mod netguard;
mod web_fetch;

use serde_json::{Value, json};

use crate::llm::ToolSpec;

pub fn all_specs() -> Vec<ToolSpec> {
    let t = |name: &str, description: &str, parameters: Value| ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters,
    };
    vec![
        t(
            "read",
            "Read a text file in the workspace.",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "offset": {"type": "integer", "description": "first line (1-based)"}, "limit": {"type": "integer", "description": "number of lines"}}, "required": ["path"]}),
        ),
        t(
            "write",
            "Create or overwrite a file in the workspace.",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]}),
        ),
        t(
            "edit",
            "Replace one exact, unique occurrence of oldText with newText in a workspace file.",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "oldText": {"type": "string"}, "newText": {"type": "string"}}, "required": ["path", "oldText", "newText"]}),
        ),
        t(
            "ls",
            "List a directory in the workspace.",
            json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        ),
        t(
            "exec",
            "Run a shell command in the workspace (subject to the operator's approval policy).",
            json!({"type": "object", "properties": {"command": {"type": "string"}, "timeout": {"type": "integer", "description": "seconds"}}, "required": ["command"]}),
        ),
        t(
            "web_fetch",
            "Fetch a URL over HTTP(S) and return its text (size-capped).",
            json!({"type": "object", "properties": {"url": {"type": "string"}, "maxChars": {"type": "integer"}}, "required": ["url"]}),
        ),
    ]
}

fn names(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    })
}

/// The tools offered under the current config.
pub fn specs(resolved: &Value) -> Vec<ToolSpec> {
    let allow = names(resolved.pointer("/tools/allow"));
    let deny = names(resolved.pointer("/tools/deny")).unwrap_or_default();
    let fetch_on = resolved
        .pointer("/tools/web/fetch/enabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    all_specs()
        .into_iter()
        .filter(|s| allow.as_ref().is_none_or(|a| a.contains(&s.name)))
        .filter(|s| !deny.contains(&s.name))
        .filter(|s| s.name != "web_fetch" || fetch_on)
        .collect()
}

pub(crate) fn arg<'a>(args: &'a Value, k: &str) -> Result<&'a str, String> {
    args.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string argument \"{k}\""))
}

/// Runs a tool; returns (output, is_error).
/// The file tools see the workspace as a sandboxed `exec` of the same session would: with
/// `workspaceAccess: "ro"` they only read, with `"none"` not at all. (The gateway itself
/// runs them, so this is where the sandbox's view is enforced for them.)
fn sandbox_allows(ctx: &super::exec::ExecCtx<'_>, name: &str) -> Result<(), String> {
    use crate::sandbox::Access;
    let rt = ctx.host.config();
    let p = crate::sandbox::for_run(
        &rt.config,
        ctx.session_key,
        ctx.workspace,
        std::time::Duration::from_secs(1),
    )?;
    let key = "agents.defaults.sandbox.workspaceAccess";
    match (p.enabled, p.workspace_access, name) {
        (false, _, _) | (true, Access::Rw, _) | (true, Access::Ro, "read" | "ls") => Ok(()),
        (true, Access::Ro, _) => Err(format!(
            "{name} refused: this session is sandboxed with a read-only workspace ({key} = \"ro\"; \"rw\" allows writes)"
        )),
        (true, Access::None, _) => Err(format!(
            "{name} refused: this session is sandboxed without workspace access ({key} = \"none\"; \"ro\" or \"rw\" grants it, agents.defaults.sandbox.mode = \"off\" turns the sandbox off)"
        )),
    }
}

pub async fn call(ctx: &super::exec::ExecCtx<'_>, name: &str, args: &Value) -> (String, bool) {
    let root = ctx.workspace;
    let r: Result<String, String> = match name {
        "read" | "write" | "edit" | "ls" => match sandbox_allows(ctx, name) {
            Ok(()) => files::run(root, name, args).await,
            Err(e) => Err(e),
        },
        "exec" => return super::exec::run(ctx, args).await,
        "web_fetch" => {
            let cfg = ctx.host.config().config.tools.web.fetch.clone();
            web_fetch::fetch(args, &cfg).await
        }
        other => Err(format!("unknown tool: {other}")),
    };
    match r {
        Ok(s) => (s, false),
        Err(e) => (e, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_deny_and_fetch_switch() {
        let only =
            specs(&json!({"tools": {"deny": ["exec"], "web": {"fetch": {"enabled": false}}}}));
        let names: Vec<_> = only.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["read", "write", "edit", "ls"]);
    }

    /// Every tool the model is offered has an arm in `call`, and every arm is offered:
    /// the two lists cannot drift.
    #[test]
    fn offered_tools_are_exactly_the_dispatched_ones() {
        let src = include_str!("mod.rs");
        let body = &src[src
            .find("let r: Result<String, String> = match name {")
            .unwrap()..];
        let body = &body[..body.find("other => Err(").unwrap()];
        let mut arms: Vec<&str> = body
            .lines()
            .filter(|l| l.trim_start().starts_with('"'))
            .flat_map(|l| l.split("=>").next().unwrap_or_default().split('|'))
            .map(|t| t.trim().trim_matches('"'))
            .collect();
        arms.sort_unstable();
        let mut offered: Vec<String> = all_specs().into_iter().map(|s| s.name).collect();
        offered.sort_unstable();
        assert_eq!(arms, offered);
    }
}
