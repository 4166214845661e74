//! Inbound routing and session keys, as the original computes them (spec §10.4):
//! bindings pick the agent (peer, guild, team, account, channel, default), `session.scope`
//! and `session.dmScope` pick the session.

use serde_json::Value;

use crate::config::Config;
use crate::config::model::normalize_agent_id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    Dm,
    Group,
    Channel,
}

impl PeerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerKind::Dm => "dm",
            PeerKind::Group => "group",
            PeerKind::Channel => "channel",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Inbound<'a> {
    pub channel: &'a str,
    pub account_id: &'a str,
    pub peer_kind: PeerKind,
    pub peer_id: &'a str,
    pub guild_id: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub agent_id: String,
    pub session_key: String,
    pub matched_by: &'static str,
}

pub fn main_key(cfg: &Config, agent_id: &str) -> String {
    if cfg.session_scope() == "global" {
        "global".into()
    } else {
        format!("agent:{agent_id}:main")
    }
}

/// The agent a session key belongs to (`agent:<id>:...`), else the default agent.
pub fn agent_of_key(cfg: &Config, key: &str) -> String {
    let mut parts = key.split(':');
    match (parts.next(), parts.next()) {
        (Some("agent"), Some(id)) if !id.is_empty() => normalize_agent_id(id),
        _ => cfg.default_agent_id(),
    }
}

/// `(agent id, store key)` for a key a client sent: `main` (what the Control UI sends)
/// is the default agent's main session, a bare name lives under the default agent,
/// `agent:<id>:…` and `global` are used as they are.
pub fn canonical(cfg: &Config, key: &str) -> (String, String) {
    let key = key.trim();
    let default = cfg.default_agent_id();
    if key.is_empty() || key == "main" {
        return (default.clone(), main_key(cfg, &default));
    }
    if key == "global" || key == "unknown" {
        return (default, key.to_string());
    }
    if key.starts_with("agent:") {
        return (agent_of_key(cfg, key), key.to_ascii_lowercase());
    }
    (
        default.clone(),
        format!("agent:{default}:{}", key.to_ascii_lowercase()),
    )
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

pub fn resolve(cfg: &Config, resolved: &Value, inb: &Inbound<'_>) -> Route {
    let bindings: Vec<&Value> = resolved
        .get("bindings")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let account_matches = |b: &Value| match str_at(b, &["match", "accountId"]) {
        None | Some("") => inb.account_id == "default",
        Some("*") => true,
        Some(a) => a.eq_ignore_ascii_case(inb.account_id),
    };
    let candidates: Vec<&Value> = bindings
        .into_iter()
        .filter(|b| {
            str_at(b, &["match", "channel"]).is_some_and(|c| c.eq_ignore_ascii_case(inb.channel))
                && account_matches(b)
        })
        .collect();
    let peer_match = |b: &Value| {
        str_at(b, &["match", "peer", "kind"]) == Some(inb.peer_kind.as_str())
            && str_at(b, &["match", "peer", "id"]) == Some(inb.peer_id)
    };
    let no_scope = |b: &Value| {
        let m = &b["match"];
        m.get("peer").is_none() && m.get("guildId").is_none() && m.get("teamId").is_none()
    };
    let guild_match =
        |b: &Value| inb.guild_id.is_some() && str_at(b, &["match", "guildId"]) == inb.guild_id;
    let account_specific =
        |b: &Value| no_scope(b) && str_at(b, &["match", "accountId"]).is_some_and(|a| a != "*");
    type Pred<'a> = &'a dyn Fn(&Value) -> bool;
    let tiers: [(Pred<'_>, &'static str); 4] = [
        (&peer_match, "binding.peer"),
        (&guild_match, "binding.guild"),
        (&account_specific, "binding.account"),
        (&no_scope, "binding.channel"),
    ];
    let picked: Option<(&Value, &'static str)> = tiers
        .iter()
        .find_map(|(pred, by)| candidates.iter().find(|b| pred(b)).map(|b| (*b, *by)));
    let known = cfg.agent_ids();
    let (agent_id, matched_by) = match picked
        .and_then(|(b, by)| str_at(b, &["agentId"]).map(|a| (normalize_agent_id(a), by)))
    {
        Some((a, by)) if known.contains(&a) || cfg.agents.list.is_empty() && a == "main" => (a, by),
        _ => (cfg.default_agent_id(), "default"),
    };
    let session_key = session_key(cfg, resolved, &agent_id, inb);
    Route {
        agent_id,
        session_key,
        matched_by,
    }
}

fn session_key(cfg: &Config, resolved: &Value, agent_id: &str, inb: &Inbound<'_>) -> String {
    let main = main_key(cfg, agent_id);
    if cfg.session_scope() == "global" {
        return main;
    }
    let ch = inb.channel.to_ascii_lowercase();
    let peer = inb.peer_id.to_ascii_lowercase();
    let key = match inb.peer_kind {
        PeerKind::Dm => match str_at(resolved, &["session", "dmScope"]).unwrap_or("main") {
            "per-peer" => format!("agent:{agent_id}:dm:{peer}"),
            "per-channel-peer" => format!("agent:{agent_id}:{ch}:dm:{peer}"),
            "per-account-channel-peer" => format!(
                "agent:{agent_id}:{ch}:{}:dm:{peer}",
                inb.account_id.to_ascii_lowercase()
            ),
            _ => main,
        },
        kind => format!("agent:{agent_id}:{ch}:{}:{peer}", kind.as_str()),
    };
    key.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: &Value) -> Config {
        serde_json::from_value(v.clone()).unwrap()
    }

    #[test]
    fn bindings_and_keys() {
        let v = json!({
            "agents": {"list": [{"id": "main"}, {"id": "work"}]},
            "session": {"dmScope": "per-channel-peer"},
            "bindings": [
                {"agentId": "work", "match": {"channel": "telegram", "peer": {"kind": "dm", "id": "42"}}},
                {"agentId": "ghost", "match": {"channel": "discord"}},
            ]
        });
        let c = cfg(&v);
        let dm = |id| Inbound {
            channel: "telegram",
            account_id: "default",
            peer_kind: PeerKind::Dm,
            peer_id: id,
            guild_id: None,
        };
        let r = resolve(&c, &v, &dm("42"));
        assert_eq!(
            (r.agent_id.as_str(), r.matched_by, r.session_key.as_str()),
            ("work", "binding.peer", "agent:work:telegram:dm:42")
        );
        let r = resolve(&c, &v, &dm("7"));
        assert_eq!(r.matched_by, "default");
        let g = Inbound {
            channel: "discord",
            account_id: "default",
            peer_kind: PeerKind::Group,
            peer_id: "-100123:topic:42",
            guild_id: None,
        };
        // Bound to an agent that does not exist: the default is used.
        let r = resolve(&c, &v, &g);
        assert_eq!(r.agent_id, "main");
        assert_eq!(r.session_key, "agent:main:discord:group:-100123:topic:42");
        let plain = json!({});
        assert_eq!(
            resolve(&cfg(&plain), &plain, &dm("42")).session_key,
            "agent:main:main"
        );
        assert_eq!(agent_of_key(&c, "agent:Work:main"), "work");
    }
}
