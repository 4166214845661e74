//! Telegram's side of the conversation: an update becomes an [`Inbound`], the account's
//! keys (`dmPolicy`, `allowFrom`, `groups`, `groupPolicy`, `groupAllowFrom`,
//! `requireMention`) become an [`Access`], and answers go out as HTML chunks with a
//! plain-text retry for a chunk Telegram cannot parse.

use std::time::Duration;

use serde_json::{Value, json};

use super::decode;
use super::format::{TELEGRAM_MAX, markdown_to_html};
use crate::channels::access::{Access, DmPolicy, GroupPolicy, strs};
use crate::channels::accounts::{self, Account};
use crate::channels::conversation::{self, Adapter, Inbound, Outcome, SendFailure};
use crate::channels::worker::Reporter;
use crate::sessions::keys::PeerKind;
use crate::util::now_ms;

/// One account's adapter: its bot and who it is.
pub struct Tg {
    pub rep: Reporter,
    pub account: Account,
    pub bot: super::api::Bot,
    /// `getMe` (id, username), for mentions and replies to the bot.
    pub me: Value,
}

pub async fn handle(tg: &Tg, update: &Value) -> Outcome {
    let Some(m) = decode::message(update) else {
        return Outcome::Done;
    };
    let ch = &tg.rep.ch;
    let sec = accounts::current_section(&ch.host.config().resolved, &super::KIND, &tg.account.id)
        .unwrap_or_else(|| tg.account.section.clone());
    let username = tg.me["username"].as_str().unwrap_or_default();
    let (mentioned, text) = if m.is_dm {
        (false, m.text.to_string())
    } else {
        decode::mention(m.text, username)
    };
    let groups = sec.get("groups").and_then(Value::as_object);
    let group_cfg = groups.and_then(|g| g.get(&m.chat_id.to_string()).or_else(|| g.get("*")));
    let access = Access {
        dm_policy: DmPolicy::parse(sec.get("dmPolicy").and_then(Value::as_str)),
        dm_allow: strs(sec.get("allowFrom")),
        group_listed: groups.is_none_or(|g| g.is_empty()) || group_cfg.is_some(),
        group_policy: GroupPolicy::parse(sec.get("groupPolicy").and_then(Value::as_str)),
        group_allow: match sec.get("groupAllowFrom") {
            Some(v) => strs(Some(v)),
            None => strs(sec.get("allowFrom")),
        },
        require_mention: group_cfg
            .and_then(|g| g.get("requireMention"))
            .and_then(Value::as_bool)
            .unwrap_or(true),
    };
    let sender = m.sender();
    let msg = Inbound {
        peer_kind: if m.is_dm {
            PeerKind::Dm
        } else {
            PeerKind::Group
        },
        peer_id: if m.is_dm {
            m.sender.clone()
        } else {
            m.chat_id.to_string()
        },
        guild_id: None,
        title: m.chat_title.map(String::from),
        mentioned,
        replied_to_bot: m.reply_to_from.is_some_and(|f| *f == tg.me["id"]),
        reply_to: m.message_id.map(|i| i.to_string()),
        to: m.chat_id.to_string(),
        idempotency_key: format!("telegram:{}:{}", tg.account.id, m.update_id),
        text,
        sender,
    };
    conversation::handle(ch, tg, &access, msg).await
}

impl Adapter for Tg {
    fn account(&self) -> &Account {
        &self.account
    }

    /// HTML first; a chunk Telegram cannot parse (or that escaping pushed past its cap)
    /// goes again as plain text.
    async fn send_chunk(
        &self,
        to: &str,
        reply_to: Option<&str>,
        markdown: &str,
    ) -> Result<String, SendFailure> {
        let chat = chat(to)?;
        let reply = reply_to.and_then(|r| r.parse().ok());
        let html = markdown_to_html(markdown);
        let as_html = if html.chars().count() <= TELEGRAM_MAX {
            Some(self.send(body(chat, reply, &html, true)).await)
        } else {
            None
        };
        match as_html {
            None | Some(Err(Sent::ParseError)) => {
                self.send(body(chat, reply, markdown, false)).await
            }
            Some(r) => r,
        }
        .map_err(SendFailure::from)
    }

    async fn send_plain(&self, to: &str, text: &str) -> Result<String, SendFailure> {
        self.send(body(chat(to)?, None, text, false))
            .await
            .map_err(SendFailure::from)
    }

    async fn typing(&self, to: &str) {
        if let Ok(c) = to.parse() {
            self.bot.send_typing(c).await;
        }
    }
}

fn chat(to: &str) -> Result<i64, SendFailure> {
    super::chat_id(to).map_err(SendFailure::permanent)
}

fn body(chat_id: i64, reply_to: Option<i64>, text: &str, html: bool) -> Value {
    let mut b = json!({"chat_id": chat_id, "text": text});
    if html {
        b["parse_mode"] = json!("HTML");
    }
    if let Some(m) = reply_to {
        b["reply_parameters"] = json!({"message_id": m, "allow_sending_without_reply": true});
    }
    b
}

#[derive(Debug)]
enum Sent {
    /// Telegram could not parse the HTML (the caller retries as plain text).
    ParseError,
    Failed(String),
    Transient(String),
}

impl std::fmt::Display for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sent::ParseError => f.write_str("Telegram could not parse the message"),
            Sent::Failed(e) | Sent::Transient(e) => f.write_str(e),
        }
    }
}

impl From<Sent> for SendFailure {
    fn from(s: Sent) -> SendFailure {
        let transient = matches!(s, Sent::Transient(_));
        SendFailure {
            message: s.to_string(),
            transient,
        }
    }
}

impl Tg {
    /// Sends one message, honouring `retry_after` up to three times; the message id.
    async fn send(&self, body: Value) -> Result<String, Sent> {
        let id = &self.account.id;
        for _ in 0..4 {
            match self.bot.send_message(body.clone()).await {
                Ok(m) => {
                    self.rep.update(|s| s.last_outbound_at = Some(now_ms()));
                    return Ok(m["message_id"].as_i64().unwrap_or_default().to_string());
                }
                Err(e) if e.is_parse_error() && body.get("parse_mode").is_some() => {
                    return Err(Sent::ParseError);
                }
                Err(super::api::ApiError::Api {
                    retry_after: Some(s),
                    ..
                }) => {
                    tokio::time::sleep(Duration::from_secs(s.min(60))).await;
                }
                Err(e) => {
                    tracing::warn!(target: "channels", "[telegram] account {id}: {e}");
                    self.rep.update(|s| s.last_error = Some(e.to_string()));
                    // 429 without `retry_after` is still rate limiting: worth a retry,
                    // not a reply dropped for good.
                    let transient = e.code().is_none_or(|c| c >= 500 || c == 429);
                    return Err(if transient {
                        Sent::Transient(e.to_string())
                    } else {
                        Sent::Failed(e.to_string())
                    });
                }
            }
        }
        Err(Sent::Transient(
            "Telegram kept answering 429 (rate limited); gave up after 4 tries".into(),
        ))
    }
}
