//! Discord objects as the Gateway sends them, for tests to dispatch through the fake.
#![allow(dead_code)]

use serde_json::{Value, json};

/// A Discord user object.
pub fn user(id: &str, username: &str) -> Value {
    json!({"id": id, "username": username, "discriminator": "0", "global_name": username.to_uppercase(), "avatar": null})
}

/// A MESSAGE_CREATE `d` as Discord sends it (type 0, default message); `guild_id` None
/// is a DM. Add mentions / a reply with [`with_mentions`] / [`replying_to`].
pub fn message_create(
    id: &str,
    channel_id: &str,
    guild_id: Option<&str>,
    author: Value,
    content: &str,
) -> Value {
    let mut m = json!({
        "id": id, "channel_id": channel_id, "author": author, "content": content,
        "timestamp": "2025-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 0,
    });
    if let Some(g) = guild_id {
        m["guild_id"] = json!(g);
        m["member"] =
            json!({"roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00", "nick": null});
    }
    m
}

pub fn with_mentions(mut msg: Value, users: Vec<Value>) -> Value {
    msg["mentions"] = Value::Array(users);
    msg
}

/// Marks `msg` as a reply (type 19) to `referenced` (a message object).
pub fn replying_to(mut msg: Value, referenced: Value) -> Value {
    msg["type"] = json!(19);
    msg["message_reference"] =
        json!({"type": 0, "message_id": referenced["id"], "channel_id": referenced["channel_id"]});
    msg["referenced_message"] = referenced;
    msg
}
