//! `agent.identity.get`: the assistant's name and avatar as the original resolves them:
//! `ui.assistant`, then `agents.list[].identity`, then the workspace's `IDENTITY.md`
//! (`- Name: …`, `- Emoji: …`, `- Avatar: …` lines), then "Assistant" / "A". An avatar
//! is a URL (`http(s)://`, `data:image/`) or a short text (an emoji); a local image
//! path is not served by this gateway, so it is passed over for the next candidate.
//! (It lives beside the heartbeat because both speak for the agent on their own.)

use serde_json::{Value, json};

use crate::config::Loaded;

const MAX_NAME: usize = 50;
const MAX_AVATAR: usize = 200;

fn clean(v: Option<&str>, max: usize) -> Option<String> {
    let t = v?.trim();
    (!t.is_empty()).then(|| t.chars().take(max).collect())
}

fn avatar_ok(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("data:image/")
        || (!v.contains(char::is_whitespace) && !v.contains(['/', '\\']) && v.chars().count() <= 4)
}

/// `Name`, `Emoji`, `Avatar` from IDENTITY.md (`- **Name:** Claw` or `Name: Claw`).
fn from_file(text: &str, field: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let t = l
            .trim()
            .trim_start_matches(['-', '*', ' '])
            .replace("**", "");
        let (k, v) = t.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(field)
            .then(|| v.trim().to_string())
    })
}

fn s(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

pub fn resolve(loaded: &Loaded, agent_id: Option<&str>) -> Value {
    let cfg = &loaded.config;
    let agent_id = agent_id
        .map(crate::config::model::normalize_agent_id)
        .unwrap_or_else(|| cfg.default_agent_id());
    let ui = loaded.resolved.pointer("/ui/assistant");
    let ident = cfg
        .agents
        .list
        .iter()
        .find(|a| crate::config::model::normalize_agent_id(&a.id) == agent_id)
        .and_then(|a| a.identity.clone())
        .unwrap_or(Value::Null);
    let ws = crate::agent::workspace::dir(&loaded.resolved, &loaded.env, &agent_id);
    let file = std::fs::read_to_string(ws.join("IDENTITY.md"))
        .ok()
        .filter(|t| t.len() <= 64 * 1024)
        .unwrap_or_default();
    let name = clean(s(ui.and_then(|u| u.get("name"))), MAX_NAME)
        .or_else(|| clean(s(ident.get("name")), MAX_NAME))
        .or_else(|| clean(from_file(&file, "name").as_deref(), MAX_NAME))
        .unwrap_or_else(|| "Assistant".into());
    let avatar = [
        clean(s(ui.and_then(|u| u.get("avatar"))), MAX_AVATAR),
        clean(s(ident.get("avatar")), MAX_AVATAR),
        clean(s(ident.get("emoji")), MAX_AVATAR),
        clean(from_file(&file, "avatar").as_deref(), MAX_AVATAR),
        clean(from_file(&file, "emoji").as_deref(), MAX_AVATAR),
    ]
    .into_iter()
    .flatten()
    .find(|a| avatar_ok(a))
    .unwrap_or_else(|| "A".into());
    json!({"agentId": agent_id, "name": name, "avatar": avatar})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_file_lines_and_avatar_rules() {
        let f = "# IDENTITY\n- **Name:** Claw\n- Emoji: 🦞\n- Avatar: ./me.png\n";
        assert_eq!(from_file(f, "name").as_deref(), Some("Claw"));
        assert_eq!(from_file(f, "emoji").as_deref(), Some("🦞"));
        assert!(
            avatar_ok("🦞")
                && avatar_ok("https://x/y.png")
                && avatar_ok("data:image/png;base64,AA")
        );
        assert!(!avatar_ok("./me.png") && !avatar_ok("a long text"));
    }
}
