//! The agent's workspace (`agents.defaults.workspace`, default `~/clawd`) and the system
//! prompt built from its documents. The files are read on every run, so an edit (or a
//! Home Manager switch that copies new documents) takes effect on the next message.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::paths::Env;

/// The documents that make up the prompt, in the order the original injects them.
pub const DOCUMENTS: &[&str] = &["AGENTS.md", "SOUL.md", "TOOLS.md", "IDENTITY.md", "USER.md"];

/// Per-file cap (the original's `bootstrapMaxChars` default).
const DEFAULT_MAX_CHARS: usize = 20_000;

/// The agent's config merged over `agents.defaults` for the keys we read.
pub fn agent_value<'a>(resolved: &'a Value, agent_id: &str, key: &str) -> Option<&'a Value> {
    let from_list = resolved
        .pointer("/agents/list")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter().find(|a| {
                a.get("id")
                    .and_then(Value::as_str)
                    .map(crate::config::model::normalize_agent_id)
                    .as_deref()
                    == Some(agent_id)
            })
        })
        .and_then(|a| a.get(key));
    from_list.or_else(|| resolved.pointer(&format!("/agents/defaults/{key}")))
}

pub fn dir(resolved: &Value, env: &Env, agent_id: &str) -> PathBuf {
    match agent_value(resolved, agent_id, "workspace").and_then(Value::as_str) {
        Some(p) => env.expand_tilde(p),
        None => env.home().join("clawd"),
    }
}

/// The system prompt: a short frame, then each present document under its name.
pub fn system_prompt(
    workspace: &Path,
    resolved: &Value,
    agent_id: &str,
    tool_names: &[String],
    skills: &str,
) -> String {
    let max = resolved
        .pointer("/agents/defaults/bootstrapMaxChars")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .unwrap_or(DEFAULT_MAX_CHARS);
    let mut out = String::from(
        "You are a personal assistant running inside Clawdbot. Answer the user directly and concisely.\n",
    );
    out.push_str(&format!(
        "Your workspace is {}; file tools work relative to it.\n",
        workspace.display()
    ));
    if !tool_names.is_empty() {
        out.push_str(&format!("Tools available: {}.\n", tool_names.join(", ")));
    }
    // The eligible skills (`skills::Context::prompt_section`), after the tool list as in
    // the original.
    if !skills.is_empty() {
        out.push('\n');
        out.push_str(skills);
    }
    if let Some(extra) = agent_value(resolved, agent_id, "systemPrompt").and_then(Value::as_str) {
        out.push('\n');
        out.push_str(extra);
        out.push('\n');
    }
    for name in DOCUMENTS {
        let Ok(text) = std::fs::read_to_string(workspace.join(name)) else {
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        out.push_str(&format!("\n## {name}\n\n"));
        if text.chars().count() > max {
            out.extend(text.chars().take(max));
            out.push_str("\n[…truncated]\n");
        } else {
            out.push_str(text);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_read_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = json!({});
        let p = system_prompt(dir.path(), &cfg, "main", &[], "");
        assert!(!p.contains("## SOUL.md"));
        std::fs::write(dir.path().join("SOUL.md"), "Be kind.").unwrap();
        std::fs::write(dir.path().join("AGENTS.md"), "Rules.").unwrap();
        let p = system_prompt(
            dir.path(),
            &cfg,
            "main",
            &["read".into()],
            "## Skills (mandatory)\n",
        );
        let (a, s) = (
            p.find("## AGENTS.md").unwrap(),
            p.find("## SOUL.md").unwrap(),
        );
        assert!(
            a < s
                && p.contains("Be kind.")
                && p.contains("Tools available: read.\n\n## Skills (mandatory)\n")
        );
        let cfg = json!({"agents": {"defaults": {"workspace": "~/w"}, "list": [{"id": "ops", "workspace": "/srv/ops"}]}});
        let env = Env::from_pairs([("HOME", "/home/u")]);
        assert_eq!(super::dir(&cfg, &env, "main"), PathBuf::from("/home/u/w"));
        assert_eq!(super::dir(&cfg, &env, "ops"), PathBuf::from("/srv/ops"));
    }
}
