//! Discord's side of the conversation: a `MESSAGE_CREATE` becomes an [`Inbound`], the
//! account's keys become an [`Access`], and answers go out as Markdown (Discord renders
//! it) in chunks of `textChunkLimit` (2000).
//!
//! Access, as the original: DMs follow `dm.enabled`, `dm.policy` (default `pairing`) and
//! `dm.allowFrom`. Guild messages: `groupPolicy` `disabled` drops them; a non-empty
//! `guilds` map admits only its guilds (by id, or `*`), and a guild's non-empty
//! `channels` map only its channels (`allow`/`enabled` not false); under `allowlist`
//! (the default) a guild must be listed. `users` (the channel's, else the guild's), when
//! set, lists the senders let in. `requireMention` (channel, else guild, else true).

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::decode::{self, Target};
use super::rest::{Rest, RestError};
use crate::channels::access::{Access, DmPolicy, GroupPolicy, strs};
use crate::channels::accounts::{self, Account};
use crate::channels::conversation::{self, Adapter, Inbound, Outcome, SendFailure};
use crate::channels::worker::Reporter;
use crate::sessions::keys::PeerKind;
use crate::util::now_ms;

/// One account's adapter: its REST client and who the bot is.
pub struct Dc {
    pub rep: Reporter,
    pub account: Account,
    pub rest: Rest,
    /// The bot's user id (mentions, replies to the bot, its own messages).
    pub bot_id: String,
}

/// The rules for one message, from the account's settings.
pub fn access(sec: &Map<String, Value>, msg: &decode::Message) -> Access {
    let dm = sec.get("dm");
    let dm_get = |k: &str| dm.and_then(|d| d.get(k));
    let dm_policy = if dm_get("enabled").and_then(Value::as_bool) == Some(false) {
        DmPolicy::Disabled
    } else {
        DmPolicy::parse(dm_get("policy").and_then(Value::as_str))
    };
    let policy = GroupPolicy::parse(sec.get("groupPolicy").and_then(Value::as_str));
    let guilds = sec.get("guilds").and_then(Value::as_object);
    let guild = msg.guild_id.as_deref().and_then(|g| {
        let gs = guilds?;
        gs.get(g).or_else(|| gs.get("*"))
    });
    let channels = guild
        .and_then(|g| g.get("channels"))
        .and_then(Value::as_object);
    let channel = channels.and_then(|c| c.get(&msg.channel_id).or_else(|| c.get("*")));
    let guild_ok = match guild {
        Some(_) => true,
        // No list: every guild under `open`, none under `allowlist`.
        None => guilds.is_none_or(|g| g.is_empty()) && policy == GroupPolicy::Open,
    };
    let off = |v: Option<&Value>, k: &str| v.and_then(|c| c.get(k)) == Some(&Value::Bool(false));
    let channel_ok = match channels.filter(|c| !c.is_empty()) {
        None => true,
        Some(_) => channel.is_some() && !off(channel, "allow") && !off(channel, "enabled"),
    };
    let users = strs(channel.and_then(|c| c.get("users")));
    let users = if users.is_empty() {
        strs(guild.and_then(|g| g.get("users")))
    } else {
        users
    };
    let flag = |v: Option<&Value>| {
        v.and_then(|c| c.get("requireMention"))
            .and_then(Value::as_bool)
    };
    Access {
        dm_policy,
        dm_allow: strs(dm_get("allowFrom")),
        group_listed: guild_ok && channel_ok,
        group_policy: match policy {
            GroupPolicy::Disabled => GroupPolicy::Disabled,
            // Listed guilds admit every sender unless `users` names them.
            _ if users.is_empty() => GroupPolicy::Open,
            _ => GroupPolicy::Allowlist,
        },
        group_allow: users,
        require_mention: flag(channel).or(flag(guild)).unwrap_or(true),
    }
}

pub async fn handle(dc: &Dc, item: &Value) -> Outcome {
    let Some(m) = decode::message(item, &dc.bot_id) else {
        return Outcome::Done;
    };
    let ch = &dc.rep.ch;
    let sec = accounts::current_section(&ch.host.config().resolved, &super::KIND, &dc.account.id)
        .unwrap_or_else(|| dc.account.section.clone());
    // Its own messages never; other bots only with `allowBots` (two bots answering
    // each other would loop).
    if m.author_id == dc.bot_id
        || m.author_is_bot && sec.get("allowBots").and_then(Value::as_bool) != Some(true)
    {
        return Outcome::Done;
    }
    let access = access(&sec, &m);
    let msg = Inbound {
        peer_kind: if m.guild_id.is_some() {
            PeerKind::Channel
        } else {
            PeerKind::Dm
        },
        peer_id: if m.guild_id.is_some() {
            m.channel_id.clone()
        } else {
            m.author_id.clone()
        },
        guild_id: m.guild_id.clone(),
        sender: m.sender(),
        mentioned: m.mentioned,
        replied_to_bot: m.replied_to_bot,
        reply_to: Some(m.id.clone()),
        to: format!("channel:{}", m.channel_id),
        title: None,
        idempotency_key: format!("discord:{}:{}", dc.account.id, m.id),
        text: m.text,
    };
    conversation::handle(ch, dc, &access, msg).await
}

impl Dc {
    /// The channel a target names (a user's DM channel is opened on demand).
    async fn channel(&self, to: &str) -> Result<String, SendFailure> {
        match decode::target(to).map_err(SendFailure::permanent)? {
            Target::Channel(c) => Ok(c),
            Target::User(u) => self.rest.open_dm(&u).await.map_err(|e| self.failure(e)),
        }
    }

    /// `channel:<id>` for any target (a user's DM channel opened on demand).
    pub async fn channel_target(&self, to: &str) -> Result<String, SendFailure> {
        Ok(format!("channel:{}", self.channel(to).await?))
    }

    fn failure(&self, e: RestError) -> SendFailure {
        tracing::warn!(target: "channels", "[discord] account {}: {e}", self.account.id);
        self.rep.update(|s| s.last_error = Some(e.to_string()));
        SendFailure {
            transient: e.transient(),
            message: e.to_string(),
        }
    }

    /// Sends one message, waiting out `retry_after` up to three times; its id.
    async fn post(&self, channel: &str, body: Value) -> Result<String, SendFailure> {
        for _ in 0..4 {
            match self.rest.create_message(channel, &body).await {
                Ok(m) => {
                    self.rep.update(|s| s.last_outbound_at = Some(now_ms()));
                    return Ok(m["id"].as_str().unwrap_or_default().to_string());
                }
                Err(RestError {
                    status: Some(429),
                    retry_after: Some(s),
                    ..
                }) => {
                    tokio::time::sleep(Duration::from_secs_f64(s.clamp(0.0, 60.0))).await;
                }
                Err(e) => return Err(self.failure(e)),
            }
        }
        Err(SendFailure {
            message: "Discord kept answering 429 (rate limited); gave up after 4 tries".into(),
            transient: true,
        })
    }
}

/// The model's text never pings anyone: a hostile prompt must not make the bot
/// `@everyone` a server.
fn body(text: &str, reply_to: Option<&str>) -> Value {
    let mut b = json!({"content": text, "allowed_mentions": {"parse": []}});
    if let Some(m) = reply_to {
        b["message_reference"] = json!({"message_id": m, "fail_if_not_exists": false});
    }
    b
}

impl Adapter for Dc {
    fn account(&self) -> &Account {
        &self.account
    }

    async fn send_chunk(
        &self,
        to: &str,
        reply_to: Option<&str>,
        markdown: &str,
    ) -> Result<String, SendFailure> {
        let channel = self.channel(to).await?;
        self.post(&channel, body(markdown, reply_to)).await
    }

    async fn send_plain(&self, to: &str, text: &str) -> Result<String, SendFailure> {
        let channel = self.channel(to).await?;
        self.post(&channel, body(text, None)).await
    }

    async fn typing(&self, to: &str) {
        if let Ok(Target::Channel(c)) = decode::target(to) {
            let _ = self.rest.typing(&c).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(guild: Option<&str>, channel: &str) -> decode::Message {
        decode::Message {
            id: "1".into(),
            channel_id: channel.into(),
            guild_id: guild.map(String::from),
            author_id: "7".into(),
            username: Some("ann".into()),
            global_name: None,
            author_is_bot: false,
            text: "x".into(),
            mentioned: false,
            replied_to_bot: false,
        }
    }

    fn sec(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn guild_and_channel_lists() {
        // Default allowlist with no guilds: no guild is listed; `open` admits all.
        assert!(!access(&sec(json!({})), &m(Some("5"), "9")).group_listed);
        let open = access(&sec(json!({"groupPolicy": "open"})), &m(Some("5"), "9"));
        assert!(open.group_listed && open.require_mention);
        let cfg = sec(
            json!({"guilds": {"5": {"requireMention": false, "users": ["ann"],
            "channels": {"9": {"allow": true}, "8": {"allow": false}, "6": {"requireMention": true}}}}}),
        );
        let a = access(&cfg, &m(Some("5"), "9"));
        assert!(a.group_listed && !a.require_mention);
        assert_eq!(a.group_policy, GroupPolicy::Allowlist);
        assert_eq!(a.group_allow, vec!["ann".to_string()]);
        assert!(!access(&cfg, &m(Some("5"), "8")).group_listed);
        assert!(!access(&cfg, &m(Some("5"), "7")).group_listed);
        assert!(access(&cfg, &m(Some("5"), "6")).require_mention);
        assert!(!access(&cfg, &m(Some("4"), "9")).group_listed);
        let star = sec(json!({"groupPolicy": "open", "guilds": {"*": {}}}));
        assert_eq!(
            access(&star, &m(Some("4"), "1")).group_policy,
            GroupPolicy::Open
        );
        let off = sec(json!({"groupPolicy": "disabled", "guilds": {"5": {}}}));
        assert_eq!(
            access(&off, &m(Some("5"), "9")).group_policy,
            GroupPolicy::Disabled
        );
    }

    #[test]
    fn dm_settings() {
        assert_eq!(
            access(&sec(json!({})), &m(None, "1")).dm_policy,
            DmPolicy::Pairing
        );
        let a = access(
            &sec(json!({"dm": {"policy": "allowlist", "allowFrom": ["7", 8]}})),
            &m(None, "1"),
        );
        assert_eq!(a.dm_policy, DmPolicy::Allowlist);
        assert_eq!(a.dm_allow, vec!["7".to_string(), "8".to_string()]);
        let off = access(
            &sec(json!({"dm": {"enabled": false, "policy": "open"}})),
            &m(None, "1"),
        );
        assert_eq!(off.dm_policy, DmPolicy::Disabled);
    }
}
