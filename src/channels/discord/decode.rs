//! What the gateway reads out of a Discord `MESSAGE_CREATE`: every field may be missing
//! or of the wrong type (a stranger writes the message, a proxy may answer anything), so
//! nothing here panics or trusts a shape. Pure, for the fuzzer and the unit tests.

use serde_json::Value;

use crate::channels::conversation::Sender;

/// A text message as the access rules and routing see it.
#[derive(Debug, PartialEq)]
pub struct Message {
    pub id: String,
    pub channel_id: String,
    /// None: a DM (bots cannot join group DMs, so a message without a guild is a DM).
    pub guild_id: Option<String>,
    pub author_id: String,
    pub username: Option<String>,
    pub global_name: Option<String>,
    pub author_is_bot: bool,
    /// The text with mentions of the bot removed.
    pub text: String,
    /// The bot's id is in `mentions` (Discord resolved the mention; the text alone is
    /// not trusted: `<@id>` inside a code block is no mention).
    pub mentioned: bool,
    /// A reply to one of the bot's messages.
    pub replied_to_bot: bool,
}

impl Message {
    pub fn sender(&self) -> Sender {
        Sender {
            id: self.author_id.clone(),
            username: self.username.clone(),
            display: self.global_name.clone().or_else(|| self.username.clone()),
        }
    }
}

/// A snowflake: 1 to 20 ASCII digits. Everything the gateway later puts in a URL or a
/// file name goes through this.
pub fn snowflake(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_string())
}

/// The inbox key of a message (its id), when it is a snowflake that fits an `i64`.
pub fn key(d: &Value) -> Option<i64> {
    snowflake(&d["id"])?.parse().ok()
}

/// The message worth answering in a `MESSAGE_CREATE`, or None (no text, a system
/// message, malformed ids). `bot_id` is the bot's own user id.
pub fn message(d: &Value, bot_id: &str) -> Option<Message> {
    // 0 a default message, 19 a reply; the rest are joins, pins, boosts, …
    if !matches!(d["type"].as_u64(), Some(0 | 19) | None) {
        return None;
    }
    let id = snowflake(&d["id"])?;
    let channel_id = snowflake(&d["channel_id"])?;
    let author = &d["author"];
    let author_id = snowflake(&author["id"])?;
    let guild_id = match d.get("guild_id") {
        None | Some(Value::Null) => None,
        Some(g) => Some(snowflake(g)?),
    };
    let mentioned = !bot_id.is_empty()
        && d["mentions"]
            .as_array()
            .is_some_and(|m| m.iter().any(|u| u["id"].as_str() == Some(bot_id)));
    let mut text = d["content"].as_str().unwrap_or_default().to_string();
    if mentioned {
        for m in [format!("<@{bot_id}>"), format!("<@!{bot_id}>")] {
            text = text.replace(&m, "");
        }
    }
    if text.trim().is_empty() {
        return None;
    }
    let name = |k: &str| {
        author[k]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    Some(Message {
        id,
        channel_id,
        guild_id,
        username: name("username"),
        global_name: name("global_name"),
        author_is_bot: author["bot"].as_bool() == Some(true),
        author_id,
        text: text.trim().to_string(),
        mentioned,
        replied_to_bot: !bot_id.is_empty()
            && d.pointer("/referenced_message/author/id")
                .and_then(Value::as_str)
                == Some(bot_id),
    })
}

/// Where a delivery goes: a channel, or a user (reached through a DM channel).
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Channel(String),
    User(String),
}

/// Parses a delivery target the way the original does: `channel:<id>`; `user:<id>`,
/// `discord:<id>`, `<@id>`, `<@!id>`, `@<id>` are users; a bare number is refused as
/// ambiguous (a user and a channel id look the same).
pub fn target(to: &str) -> Result<Target, String> {
    let t = to.trim();
    let digits = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.to_string())
    };
    let bad =
        || format!("invalid Discord target: {to} (channel:<id> for a channel, user:<id> for a DM)");
    if let Some(r) = t.strip_prefix("channel:") {
        return digits(r).map(Target::Channel).ok_or_else(bad);
    }
    for p in ["user:", "discord:", "@"] {
        if let Some(r) = t.strip_prefix(p) {
            return digits(r).map(Target::User).ok_or_else(bad);
        }
    }
    if let Some(r) = t.strip_prefix("<@").and_then(|r| r.strip_suffix('>')) {
        return digits(r.trim_start_matches('!'))
            .map(Target::User)
            .ok_or_else(bad);
    }
    if digits(t).is_some() {
        return Err(format!(
            "ambiguous Discord recipient \"{t}\": use \"user:{t}\" for a DM or \"channel:{t}\" for a channel"
        ));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOT: &str = "999";

    fn msg(extra: Value) -> Value {
        let mut m = json!({"id": "10", "channel_id": "20", "type": 0, "content": "hi",
            "author": {"id": "30", "username": "ann", "global_name": "Ann"}, "mentions": []});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    }

    #[test]
    fn a_dm_a_mention_and_a_reply_to_the_bot() {
        let m = message(&msg(json!({})), BOT).unwrap();
        assert_eq!(
            (m.guild_id, m.mentioned, m.text.as_str()),
            (None, false, "hi")
        );
        let g = message(
            &msg(json!({"guild_id": "5", "content": "<@999> hello <@!999>", "mentions": [{"id": "999"}]})),
            BOT,
        )
        .unwrap();
        assert_eq!(g.guild_id.as_deref(), Some("5"));
        assert!(g.mentioned);
        assert_eq!(g.text, "hello");
        // The text alone is no mention: Discord did not resolve one.
        let fake = message(&msg(json!({"guild_id": "5", "content": "`<@999>` x"})), BOT).unwrap();
        assert!(!fake.mentioned);
        let r = message(
            &msg(json!({"type": 19, "referenced_message": {"author": {"id": "999"}}})),
            BOT,
        )
        .unwrap();
        assert!(r.replied_to_bot);
    }

    #[test]
    fn hostile_or_empty_messages_are_none() {
        for extra in [
            json!({"content": "   "}),
            json!({"content": "<@999>", "mentions": [{"id": "999"}]}),
            json!({"type": 7}),
            json!({"id": "../1"}),
            json!({"channel_id": 20}),
            json!({"guild_id": "x/y"}),
            json!({"author": {"id": "1?x"}}),
            json!({"author": null}),
        ] {
            assert_eq!(message(&msg(extra.clone()), BOT), None, "{extra}");
        }
        assert_eq!(key(&json!({"id": "99999999999999999999"})), None);
        assert_eq!(key(&json!({"id": "123"})), Some(123));
    }

    #[test]
    fn targets_in_every_spelling() {
        assert_eq!(target("channel:12"), Ok(Target::Channel("12".into())));
        for t in ["user:7", "discord:7", "<@7>", "<@!7>", "@7", " user:7 "] {
            assert_eq!(target(t), Ok(Target::User("7".into())), "{t}");
        }
        assert!(target("12").unwrap_err().contains("ambiguous"));
        for t in [
            "channel:../x",
            "user:",
            "channel:1?x",
            "#general",
            "",
            "<@x>",
        ] {
            assert!(target(t).is_err(), "{t}");
        }
    }
}
