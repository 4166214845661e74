//! One inbound update: who may talk to the bot (DM policy, pairing, group policy,
//! mentions), which agent and session it goes to, the run, and the reply.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::Ctx;
use super::decode::{self, allowed};
use super::format::{DEFAULT_CHUNK, chunk_markdown, markdown_to_html};
use crate::agent::{RunRequest, run};
use crate::channels::pairing::{self, Store};
use crate::sessions::keys::{self, Inbound, PeerKind};
use crate::util::now_ms;

pub enum Outcome {
    /// Answered or deliberately ignored: remove from the inbox.
    Done,
    /// Interrupted by shutdown: keep it for the next start.
    Retry,
    /// Not answered for a reason that clears by itself (the state dir cannot be
    /// written, Telegram is unreachable): keep it and try again after a backoff.
    Later { message: String, storage: bool },
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(pairing::entry_str).collect())
        .unwrap_or_default()
}

pub async fn handle(ctx: &Ctx, update: &Value) -> Outcome {
    let Some(m) = decode::message(update) else {
        return Outcome::Done;
    };
    let (chat_id, from, sender, is_dm) = (m.chat_id, m.from, m.sender.clone(), m.is_dm);
    let acct = &ctx.account;
    let gw = &ctx.gw;
    let sec = &super::current_section(&gw.runtime().loaded.resolved, &acct.id)
        .unwrap_or_else(|| acct.section.clone());
    gw.channels
        .update("telegram", &acct.id, |s| s.last_inbound_at = Some(now_ms()));
    let store = Store::new(&gw.paths.state_dir);
    let mut text = m.text.to_string();
    if is_dm {
        let policy = sec
            .get("dmPolicy")
            .and_then(Value::as_str)
            .unwrap_or("pairing");
        let mut list = strs(sec.get("allowFrom"));
        if policy != "open" {
            list.extend(store.allow_from("telegram").unwrap_or_default());
        }
        match policy {
            "disabled" => return Outcome::Done,
            "open" => {}
            _ if allowed(&list, from) => {}
            "pairing" => {
                pair(ctx, &store, chat_id, from).await;
                return Outcome::Done;
            }
            _ => {
                tracing::info!(target: "telegram", "dropped a DM from {sender}: not in channels.telegram.allowFrom (dmPolicy allowlist)");
                return Outcome::Done;
            }
        }
    } else {
        let groups = sec.get("groups").and_then(Value::as_object);
        let chat_key = chat_id.to_string();
        let group_cfg = groups.and_then(|g| g.get(&chat_key).or_else(|| g.get("*")));
        if groups.is_some_and(|g| !g.is_empty()) && group_cfg.is_none() {
            return Outcome::Done;
        }
        match sec
            .get("groupPolicy")
            .and_then(Value::as_str)
            .unwrap_or("allowlist")
        {
            "disabled" => return Outcome::Done,
            "open" => {}
            _ => {
                let list = match sec.get("groupAllowFrom") {
                    Some(v) => strs(Some(v)),
                    None => strs(sec.get("allowFrom")),
                };
                if !allowed(&list, from) {
                    return Outcome::Done;
                }
            }
        }
        let require = group_cfg
            .and_then(|g| g.get("requireMention"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let username = ctx.me["username"].as_str().unwrap_or_default();
        let (mentioned, stripped) = decode::mention(&text, username);
        let replied_to_bot = m.reply_to_from == Some(&ctx.me["id"]);
        if require && !mentioned && !replied_to_bot {
            return Outcome::Done;
        }
        text = stripped;
        let name = m.first_name.unwrap_or("someone");
        text = format!("{name}: {}", text.trim());
    }
    let rt = gw.runtime();
    let peer = if is_dm {
        sender.clone()
    } else {
        chat_id.to_string()
    };
    let route = keys::resolve(
        &rt.loaded.config,
        &rt.loaded.resolved,
        &Inbound {
            channel: "telegram",
            account_id: &acct.id,
            peer_kind: if is_dm { PeerKind::Dm } else { PeerKind::Group },
            peer_id: &peer,
            guild_id: None,
        },
    );
    drop(rt);
    let mut origin = Map::new();
    origin.insert("lastChannel".into(), json!("telegram"));
    origin.insert("lastTo".into(), json!(chat_id.to_string()));
    origin.insert("lastAccountId".into(), json!(acct.id));
    origin.insert(
        "chatType".into(),
        json!(if is_dm { "direct" } else { "group" }),
    );
    if let Some(t) = m.chat_title.or(m.first_name) {
        origin.insert("displayName".into(), json!(t));
    }
    let update_id = m.update_id;
    let req = RunRequest {
        run_id: uuid::Uuid::new_v4().to_string(),
        agent_id: route.agent_id,
        session_key: route.session_key,
        message: text.trim().to_string(),
        idempotency_key: Some(format!("telegram:{}:{update_id}", acct.id)),
        origin,
        extra_system: None,
        cancel: gw.cancel.child_token(),
        event_session_key: None,
    };
    let typing = gw.cancel.child_token();
    let typing_task = {
        let bot = ctx.bot.clone();
        let stop = typing.clone();
        tokio::spawn(async move {
            loop {
                bot.send_typing(chat_id).await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = stop.cancelled() => break,
                }
            }
        })
    };
    let result = run(gw, req).await;
    typing.cancel();
    let _ = typing_task.await;
    let reply_to = m.message_id;
    let reply = match result {
        Ok(out) => out.text,
        Err(_) if gw.cancel.is_cancelled() => return Outcome::Retry,
        Err(e) if e.aborted => return Outcome::Done,
        Err(e) if e.is_storage() => {
            return Outcome::Later {
                message: e.message,
                storage: true,
            };
        }
        Err(e) => format!("⚠️ Agent failed before reply: {}", e.message),
    };
    match send_reply(&ctx.outbound(), chat_id, reply_to, &reply).await {
        Ok(_) => Outcome::Done,
        // The answer is in the transcript: the retry delivers it without a model call.
        Err(e) if e.transient => Outcome::Later {
            message: format!("reply to chat {chat_id} not delivered yet: {}", e.message),
            storage: false,
        },
        Err(e) => {
            tracing::warn!(target: "telegram", "reply to chat {chat_id} not delivered: {}", e.message);
            Outcome::Done
        }
    }
}

async fn pair(ctx: &Ctx, store: &Store, chat_id: i64, from: &Value) {
    let id = from["id"]
        .as_i64()
        .map(|i| i.to_string())
        .unwrap_or_default();
    let meta = json!({"username": from["username"], "firstName": from["first_name"], "lastName": from["last_name"], "accountId": ctx.account.id});
    match store.upsert("telegram", &id, meta) {
        Ok(Some(up)) if up.created => {
            tracing::info!(target: "telegram", "pairing request from {id}; approve with `clawdbot pairing approve telegram {}`", up.code);
            let who = match from["username"].as_str() {
                Some(u) => format!("Your Telegram user id: {id} (@{u})"),
                None => format!("Your Telegram user id: {id}"),
            };
            let text = format!(
                "Clawdbot: access not configured.\n\n{who}\n\nPairing code: {}\n\nAsk the bot owner to approve with:\nclawdbot pairing approve telegram {}",
                up.code, up.code
            );
            send_plain(ctx, chat_id, None, &text).await;
        }
        Ok(Some(_)) => {}
        Ok(None) => {
            tracing::warn!(target: "telegram", "pairing request from {id} ignored: {} requests already pending", pairing::MAX_PENDING)
        }
        Err(e) => tracing::error!(target: "telegram", "pairing store: {e}"),
    }
}

/// Where a reply goes out: the account's bot, with status updates in the registry.
pub struct Outbound<'a> {
    pub gw: &'a crate::server::state::Gateway,
    pub account: &'a super::Account,
    pub bot: &'a super::api::Bot,
}

impl Ctx {
    fn outbound(&self) -> Outbound<'_> {
        Outbound {
            gw: &self.gw,
            account: &self.account,
            bot: &self.bot,
        }
    }
}

/// Sends a Markdown reply as HTML chunks; a chunk Telegram cannot parse goes again as
/// plain text. The first chunk replies to the user's message (`replyToMode: first`).
/// Returns the id of the last message sent.
pub async fn send_reply(
    out: &Outbound<'_>,
    chat_id: i64,
    reply_to: Option<i64>,
    text: &str,
) -> Result<i64, SendFailure> {
    if text.trim().is_empty() {
        return Err(SendFailure::permanent("nothing to send: the text is empty"));
    }
    let section = &super::current_section(&out.gw.runtime().loaded.resolved, &out.account.id)
        .unwrap_or_else(|| out.account.section.clone());
    let limit = section
        .get("textChunkLimit")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .unwrap_or(DEFAULT_CHUNK);
    let mode = section
        .get("replyToMode")
        .and_then(Value::as_str)
        .unwrap_or("first");
    let mut last = Err(SendFailure::permanent("nothing sent"));
    for (i, chunk) in chunk_markdown(text, limit).iter().enumerate() {
        let reply = match mode {
            "all" => reply_to,
            "off" => None,
            _ if i == 0 => reply_to,
            _ => None,
        };
        let html = markdown_to_html(chunk);
        // Escaping can push a full chunk past Telegram's cap: that one goes as plain text.
        let as_html = if html.chars().count() <= super::format::TELEGRAM_MAX {
            Some(send(out, body(chat_id, reply, &html, true)).await)
        } else {
            None
        };
        last = match as_html {
            None | Some(Err(Sent::ParseError)) => {
                send(out, body(chat_id, reply, chunk, false)).await
            }
            Some(r) => r,
        }
        .map_err(SendFailure::from);
        if last.is_err() {
            break;
        }
    }
    last
}

/// Why a reply was not sent, and whether trying again later can help.
#[derive(Debug)]
pub struct SendFailure {
    pub message: String,
    /// Network trouble, Telegram 5xx or rate limiting: worth a retry.
    pub transient: bool,
}

impl SendFailure {
    fn permanent(m: &str) -> SendFailure {
        SendFailure {
            message: m.into(),
            transient: false,
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

async fn send_plain(ctx: &Ctx, chat_id: i64, reply_to: Option<i64>, text: &str) {
    let _ = send(&ctx.outbound(), body(chat_id, reply_to, text, false)).await;
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

/// Sends one message, honouring `retry_after` up to three times; the message id.
async fn send(out: &Outbound<'_>, body: Value) -> Result<i64, Sent> {
    let id = &out.account.id;
    for _ in 0..4 {
        match out.bot.send_message(body.clone()).await {
            Ok(m) => {
                out.gw
                    .channels
                    .update("telegram", id, |s| s.last_outbound_at = Some(now_ms()));
                return Ok(m["message_id"].as_i64().unwrap_or_default());
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
                tracing::warn!(target: "telegram", "account {id}: {e}");
                out.gw
                    .channels
                    .update("telegram", id, |s| s.last_error = Some(e.to_string()));
                // 429 without `retry_after` is still rate limiting: worth a retry, not a
                // reply dropped for good.
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
