//! The `channels.whatsapp` keys (the original's names and defaults, declared once here)
//! read into a typed [`Settings`], and the [`Access`] they give one message.
//!
//! Access, as the original: DMs follow `dmPolicy` (default `pairing`) and `allowFrom`
//! (E.164 numbers, `+15551234567`, or `*`). Groups: a non-empty `groups` map is an
//! allowlist of group JIDs (`*` admits every group); `groupPolicy` (default `allowlist`)
//! lets in the senders of `groupAllowFrom` (falling back to `allowFrom`), `open` every
//! sender, `disabled` none; `groups.<jid>.requireMention` (else `groups.*`, else true).
//! `selfChatMode`: the linked number is the owner's own, and the "Message yourself"
//! chat is how the owner talks to the bot.

use serde_json::{Map, Value};

use crate::channels::access::{Access, DmPolicy, GroupPolicy, strs};
use crate::sessions::keys::PeerKind;

/// `textChunkLimit` default (the original's WhatsApp limit).
pub const CHUNK_DEFAULT: usize = 4000;

/// When the acknowledgement reaction is sent in a group (`ackReaction.group`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckGroup {
    Always,
    Mentions,
    Never,
}

/// `ackReaction`: an emoji put on a message as soon as it is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckReaction {
    pub emoji: String,
    pub direct: bool,
    pub group: AckGroup,
}

/// One account's WhatsApp settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dm_policy: DmPolicy,
    /// `allowFrom`, normalised to `+<digits>` (or `*`).
    pub allow_from: Vec<String>,
    pub group_policy: GroupPolicy,
    /// `groupAllowFrom`, normalised; empty falls back to `allow_from`.
    pub group_allow_from: Vec<String>,
    /// `groups`: JID (or `*`) → its settings.
    pub groups: Map<String, Value>,
    pub self_chat_mode: bool,
    pub send_read_receipts: bool,
    pub ack_reaction: Option<AckReaction>,
    /// `authDir`: where the linked device's credentials live instead of
    /// `<stateDir>/credentials/whatsapp/<account>/`.
    pub auth_dir: Option<String>,
}

impl Settings {
    pub fn from_section(sec: &Map<String, Value>) -> Settings {
        let s = |k: &str| sec.get(k).and_then(Value::as_str);
        let b = |k: &str| sec.get(k).and_then(Value::as_bool);
        let ack = sec.get("ackReaction").and_then(Value::as_object);
        let ack_reaction = ack.and_then(|a| {
            let emoji = a.get("emoji")?.as_str()?.trim().to_string();
            (!emoji.is_empty()).then(|| AckReaction {
                emoji,
                direct: a.get("direct").and_then(Value::as_bool).unwrap_or(true),
                group: match a.get("group").and_then(Value::as_str) {
                    Some("always") => AckGroup::Always,
                    Some("never") => AckGroup::Never,
                    _ => AckGroup::Mentions,
                },
            })
        });
        Settings {
            dm_policy: DmPolicy::parse(s("dmPolicy")),
            allow_from: numbers(sec.get("allowFrom")),
            group_policy: GroupPolicy::parse(s("groupPolicy")),
            group_allow_from: numbers(sec.get("groupAllowFrom")),
            groups: sec
                .get("groups")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            self_chat_mode: b("selfChatMode").unwrap_or(false),
            send_read_receipts: b("sendReadReceipts").unwrap_or(true),
            ack_reaction,
            auth_dir: s("authDir").map(String::from),
        }
    }

    fn group(&self, jid: &str) -> Option<&Value> {
        self.groups.get(jid).or_else(|| self.groups.get("*"))
    }

    /// The rules for a message in `peer` (a DM: the sender's number; a group: its JID).
    pub fn access(&self, peer_kind: PeerKind, group_jid: &str) -> Access {
        let group = (peer_kind != PeerKind::Dm)
            .then(|| self.group(group_jid))
            .flatten();
        let listed = self.groups.is_empty() || group.is_some();
        let require_mention = group
            .and_then(|g| g.get("requireMention"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let group_allow = if self.group_allow_from.is_empty() {
            self.allow_from.clone()
        } else {
            self.group_allow_from.clone()
        };
        Access {
            dm_policy: self.dm_policy,
            dm_allow: self.allow_from.clone(),
            group_listed: listed,
            group_policy: self.group_policy,
            group_allow,
            require_mention,
        }
    }

    /// Whether the ack reaction goes on a message that was let in.
    pub fn ack_for(&self, peer_kind: PeerKind, mentioned: bool) -> Option<&str> {
        let a = self.ack_reaction.as_ref()?;
        let on = match peer_kind {
            PeerKind::Dm => a.direct,
            _ => match a.group {
                AckGroup::Always => true,
                AckGroup::Mentions => mentioned,
                AckGroup::Never => false,
            },
        };
        on.then_some(a.emoji.as_str())
    }
}

/// A config list of phone numbers as `+<digits>` (`*` kept; junk dropped).
fn numbers(v: Option<&Value>) -> Vec<String> {
    strs(v)
        .iter()
        .filter_map(|e| {
            let e = e.trim();
            let e = e.strip_prefix("whatsapp:").unwrap_or(e).trim();
            if e == "*" {
                Some("*".to_string())
            } else {
                e164(e)
            }
        })
        .collect()
}

/// `+1 (555) 123-4567`, `15551234567`, `15551234567@s.whatsapp.net` → `+15551234567`.
/// None for anything that is not 6 to 15 digits once spaces, dashes, dots and
/// parentheses are gone (E.164 is at most 15), so a typo cannot match everyone.
pub fn e164(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .split_once('@')
        .map(|(u, server)| if server == "s.whatsapp.net" { u } else { "" })
        .unwrap_or(s);
    // A device suffix (`155…:12@s.whatsapp.net`) is not part of the number.
    let s = s.split(':').next().unwrap_or_default();
    let s = s.strip_prefix('+').unwrap_or(s);
    let digits: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let ok = (6..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(v: Value) -> Settings {
        Settings::from_section(v.as_object().unwrap())
    }

    #[test]
    fn numbers_normalise_and_junk_never_matches() {
        assert_eq!(e164("+1 (555) 123-4567").as_deref(), Some("+15551234567"));
        assert_eq!(e164("15551234567").as_deref(), Some("+15551234567"));
        assert_eq!(
            e164("15551234567:3@s.whatsapp.net").as_deref(),
            Some("+15551234567")
        );
        for bad in [
            "",
            "+",
            "abc",
            "12345",
            "1234567890123456",
            "+0123456789",
            "1555@lid",
            "123@g.us",
            "+1555x1234567",
        ] {
            assert_eq!(e164(bad), None, "{bad}");
        }
        let s =
            settings(json!({"allowFrom": ["+1 555 123 4567", 15550001111u64, "*", "nope", ""]}));
        assert_eq!(s.allow_from, ["+15551234567", "+15550001111", "*"]);
    }

    #[test]
    fn defaults_are_the_originals() {
        let s = settings(json!({}));
        assert_eq!(s.dm_policy, DmPolicy::Pairing);
        assert_eq!(s.group_policy, GroupPolicy::Allowlist);
        assert!(s.send_read_receipts && !s.self_chat_mode && s.ack_reaction.is_none());
        // No groups map: every group is listed, but the allowlist policy with no
        // senders lets nobody in; a mention is required.
        let a = s.access(PeerKind::Group, "1203@g.us");
        assert!(a.group_listed && a.require_mention && a.group_allow.is_empty());
    }

    #[test]
    fn groups_map_is_an_allowlist_with_per_group_mentions() {
        let s = settings(json!({
            "allowFrom": ["+15551234567"],
            "groups": {"111@g.us": {"requireMention": false}},
            "ackReaction": {"emoji": "👀"},
        }));
        let a = s.access(PeerKind::Group, "111@g.us");
        assert!(a.group_listed && !a.require_mention);
        assert_eq!(a.group_allow, ["+15551234567"]);
        assert!(!s.access(PeerKind::Group, "222@g.us").group_listed);
        assert_eq!(s.ack_for(PeerKind::Dm, false), Some("👀"));
        assert_eq!(s.ack_for(PeerKind::Group, false), None);
        assert_eq!(s.ack_for(PeerKind::Group, true), Some("👀"));
        let star = settings(json!({"groups": {"*": {}}, "groupAllowFrom": ["+4915112345678"]}));
        let a = star.access(PeerKind::Group, "333@g.us");
        assert!(a.group_listed && a.require_mention);
        assert_eq!(a.group_allow, ["+4915112345678"]);
    }
}
