//! Who may talk to the bot, the same for every channel: each adapter turns its own config
//! keys into an [`Access`] (Telegram's `dmPolicy`/`groups`, Discord's `dm.policy`/`guilds`),
//! and [`admit`] decides. One allowlist matcher, one pairing flow.

use serde_json::Value;

use super::conversation::{Inbound, Sender};
use super::kinds::Kind;
use super::pairing;
use crate::sessions::keys::PeerKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmPolicy {
    /// Unknown senders get a pairing code; approved ones are let in.
    Pairing,
    Allowlist,
    Open,
    Disabled,
}

impl DmPolicy {
    /// A config value; anything unknown is the safe default, pairing.
    pub fn parse(s: Option<&str>) -> DmPolicy {
        match s {
            Some("open") => DmPolicy::Open,
            Some("allowlist") => DmPolicy::Allowlist,
            Some("disabled") => DmPolicy::Disabled,
            _ => DmPolicy::Pairing,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPolicy {
    Open,
    Allowlist,
    Disabled,
}

impl GroupPolicy {
    /// A config value; anything unknown is the safe default, allowlist.
    pub fn parse(s: Option<&str>) -> GroupPolicy {
        match s {
            Some("open") => GroupPolicy::Open,
            Some("disabled") => GroupPolicy::Disabled,
            _ => GroupPolicy::Allowlist,
        }
    }
}

/// The rules for one message, built by its channel's adapter from the config in force.
#[derive(Debug, Clone)]
pub struct Access {
    pub dm_policy: DmPolicy,
    /// Senders let into DMs by the config (the pairing store adds approved ones).
    pub dm_allow: Vec<String>,
    /// For a group message: the group (chat, guild channel) is admitted by the config.
    pub group_listed: bool,
    pub group_policy: GroupPolicy,
    /// For a group message under the allowlist policy: the senders let in (empty: none).
    pub group_allow: Vec<String>,
    /// A group message must mention the bot (or reply to it).
    pub require_mention: bool,
}

/// What to do with a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Answer,
    /// An unknown sender in a DM under the pairing policy.
    Pair,
    /// Dropped; the reason is logged at debug level.
    Drop(&'static str),
}

/// Decides with the config's rules plus the senders approved through pairing.
pub fn admit(kind: &Kind, access: &Access, msg: &Inbound, approved: &[String]) -> Decision {
    if msg.peer_kind == PeerKind::Dm {
        let mut list = access.dm_allow.clone();
        if access.dm_policy != DmPolicy::Open {
            list.extend(approved.iter().cloned());
        }
        return match access.dm_policy {
            DmPolicy::Disabled => Decision::Drop("DMs are disabled (dmPolicy disabled)"),
            DmPolicy::Open => Decision::Answer,
            _ if allows(kind, &list, &msg.sender) => Decision::Answer,
            DmPolicy::Pairing => Decision::Pair,
            DmPolicy::Allowlist => Decision::Drop("sender not in the DM allowlist"),
        };
    }
    if !access.group_listed {
        return Decision::Drop("group not in the config's list");
    }
    match access.group_policy {
        GroupPolicy::Disabled => return Decision::Drop("groups are disabled (groupPolicy)"),
        GroupPolicy::Open => {}
        GroupPolicy::Allowlist => {
            if !allows(kind, &access.group_allow, &msg.sender) {
                return Decision::Drop("sender not in the group allowlist");
            }
        }
    }
    if access.require_mention && !msg.mentioned && !msg.replied_to_bot {
        return Decision::Drop("not mentioned (requireMention)");
    }
    Decision::Answer
}

/// Whether a sender matches an allowlist: `*`, the sender's id, `@username`/username (any
/// case), each with an optional channel prefix (`telegram:`, `discord:`, `user:`), or a
/// mention of the id (`<@id>`, `<@!id>`). A sender without an id or a username matches
/// only `*`: an empty entry never matches an empty field.
pub fn allows(kind: &Kind, list: &[String], sender: &Sender) -> bool {
    list.iter().any(|e| {
        let mut e = e.trim();
        for p in kind.allow_prefixes {
            if let Some(rest) = e.strip_prefix(p) {
                e = rest;
                break;
            }
        }
        if e == "*" {
            return true;
        }
        let mention = e
            .strip_prefix("<@")
            .and_then(|r| r.strip_suffix('>'))
            .map(|r| r.trim_start_matches('!'));
        let as_id = mention.unwrap_or(e);
        if !sender.id.is_empty() && as_id == sender.id {
            return true;
        }
        let name = e.trim_start_matches('@');
        sender
            .username
            .as_deref()
            .is_some_and(|u| !u.is_empty() && !name.is_empty() && name.eq_ignore_ascii_case(u))
    })
}

/// Strings of a config list (numbers allowed: `allowFrom: [123456789]`).
pub fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(pairing::entry_str).collect())
        .unwrap_or_default()
}

/// The text a sender gets with a new pairing code.
pub fn pairing_text(kind: &Kind, sender: &Sender, code: &str) -> String {
    let who = match sender.username.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => format!("Your {} user id: {} (@{u})", kind.label, sender.id),
        None => format!("Your {} user id: {}", kind.label, sender.id),
    };
    format!(
        "Clawdbot: access not configured.\n\n{who}\n\nPairing code: {code}\n\nAsk the bot owner to approve with:\nclawdbot pairing approve {} {code}",
        kind.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::telegram::KIND as TG;

    fn sender(id: &str, user: Option<&str>) -> Sender {
        Sender {
            id: id.into(),
            username: user.map(String::from),
            display: None,
        }
    }

    #[test]
    fn allowlist_entries_in_every_spelling() {
        let s = sender("42", Some("Alice"));
        for e in [
            "42",
            "telegram:42",
            "tg:42",
            "@alice",
            "ALICE",
            "*",
            "<@42>",
            "<@!42>",
        ] {
            assert!(allows(&TG, &[e.into()], &s), "{e}");
        }
        for e in ["", "4", "420", "@bob", "discord:42x", "<@43>", "@"] {
            assert!(!allows(&TG, &[e.into()], &s), "{e}");
        }
        // No id and no username: only `*` lets it in, never an empty entry.
        let anon = sender("", None);
        assert!(!allows(&TG, &["".into(), "@".into()], &anon));
        assert!(allows(&TG, &["*".into()], &anon));
    }
}
