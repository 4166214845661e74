//! Telegram over long polling (`getUpdates`). Nothing an update asks for is lost to a
//! crash or a full disk: each batch is written (fsynced) to the account's inbox before
//! the offset moves past it, a batch that cannot be written is fetched again after a
//! backoff, and an update leaves the inbox only once its reply was sent. After a restart
//! the inbox is replayed; the run's idempotency key (`telegram:<account>:<update_id>`)
//! finds the message's own turn in the transcript, so it is stored once, answered once
//! (a stored answer is delivered, not asked for again) and in its own chat.
//!
//! The one window left: `sendMessage` succeeded and the process died before the inbox
//! write that marks the update done (a few ms: the write follows the send directly).
//! The replay then sends the stored answer again — at least once, never lost.

pub mod api;
pub mod decode;
pub mod format;
pub mod html;
mod inbound;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Channels;
use super::accounts::Account;
use super::inbox::{Inbox, Order};
use super::kinds::{self, Kind};
use super::worker::{Backoff, Handler, Queues, Reporter};
use crate::fsutil::write_json_private;
use crate::sessions::describe_io;
use crate::util::now_ms;

pub const DEFAULT_API_ROOT: &str = "https://api.telegram.org";

pub static KIND: Kind = Kind {
    id: "telegram",
    label: "Telegram",
    inline_token_key: "botToken",
    token_env: "TELEGRAM_BOT_TOKEN",
    credential: "telegram-bot-token",
    token_hint: "from @BotFather (<digits>:<letters>)",
    api_root: DEFAULT_API_ROOT,
    allow_prefixes: &["telegram:", "tg:"],
    chunk_default: format::DEFAULT_CHUNK,
    chunk_max: format::TELEGRAM_MAX,
    reply_to_default: "first",
    typing_every: Duration::from_secs(5),
    target_help: "a chat id, e.g. 123456789 or -1001234567890",
    dm_policy_key: "dmPolicy",
    allow_from_key: "allowFrom",
    linked_device: false,
    check_token,
    clean_token: kinds::keep_token,
    run: |ch, acct| Box::pin(run_account(ch, acct)),
    deliver: |ch, acct, to, text| Box::pin(deliver(ch, acct, to, text)),
};

fn check_token(t: &str) -> Result<(), String> {
    let (id, secret) = t.split_once(':').unwrap_or_default();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || secret.is_empty() {
        return Err(
            "that does not look like a Telegram bot token (<digits>:<letters>, from @BotFather)"
                .into(),
        );
    }
    Ok(())
}

/// A chat id from a delivery target (`123`, `-100123`, `telegram:123`).
fn chat_id(to: &str) -> Result<i64, String> {
    to.trim()
        .trim_start_matches("telegram:")
        .parse()
        .map_err(|_| format!("invalid Telegram chat id: {to} ({})", KIND.target_help))
}

async fn deliver(
    ch: &Arc<Channels>,
    account: &Account,
    to: &str,
    text: &str,
) -> Result<String, String> {
    let chat = chat_id(to)?;
    let bot = api::Bot::new(
        ch.host.agents.http.clone(),
        &account.api_root,
        account.require_token()?,
    );
    let out = inbound::Tg {
        rep: Reporter {
            ch: ch.clone(),
            kind: &KIND,
            account: account.id.clone(),
        },
        account: account.clone(),
        bot,
        me: Value::Null,
    };
    super::conversation::send_reply(ch, &out, &chat.to_string(), None, text)
        .await
        .map_err(|e| e.message)
}

/// What a polling loop shares with its per-chat workers.
pub(crate) struct Worker {
    tg: inbound::Tg,
    inbox: Inbox,
}

impl Handler for Worker {
    fn reporter(&self) -> &Reporter {
        &self.tg.rep
    }
    fn inbox(&self) -> &Inbox {
        &self.inbox
    }
    fn key(&self, item: &Value) -> i64 {
        item["update_id"].as_i64().unwrap_or_default()
    }
    async fn handle(&self, item: &Value) -> super::conversation::Outcome {
        inbound::handle(&self.tg, item).await
    }
}

fn offset_path(state_dir: &Path, account: &str) -> PathBuf {
    state_dir
        .join("telegram")
        .join(format!("update-offset-{account}.json"))
}

/// The account's inbox; the original's offset file (`update-offset-<account>.json`,
/// `{version:1, lastUpdateId}`) is a floor, the inbox's own `lastUpdateId` wins.
///
/// An offset file in a newer format is neither read nor ever written (the refusal is
/// logged and listed in `status`); the inbox's own `lastUpdateId` carries on.
pub fn open_inbox(state_dir: &Path, account: &str) -> Result<Inbox, String> {
    let floor =
        match crate::state_format::read_json("telegram-offset", &offset_path(state_dir, account)) {
            Ok(v) => v.and_then(|v| v.get("lastUpdateId")?.as_i64()),
            Err(crate::state_format::ReadError::Refused(_)) => None,
            Err(e) => return Err(e.to_string()),
        };
    Inbox::open(
        state_dir,
        "telegram",
        account,
        Order::Increasing,
        |u| u["update_id"].as_i64(),
        floor,
    )
}

/// Stores a batch durably; the updates not seen before (none on an error: the same
/// offset fetches them again).
pub fn accept(
    inbox: &Inbox,
    state_dir: &Path,
    account: &str,
    updates: Vec<Value>,
) -> Result<Vec<Value>, String> {
    let keyed = updates
        .into_iter()
        .filter_map(|u| Some((u.get("update_id")?.as_i64()?, u)))
        .collect();
    let fresh = inbox.accept(keyed)?;
    if let (false, Some(last)) = (fresh.is_empty(), inbox.last_key()) {
        // The inbox already records `lastUpdateId`; this file is the original's copy.
        let p = offset_path(state_dir, account);
        if crate::state_format::is_refused(&p) {
            // Written by a newer release: left as it is.
        } else if let Err(e) = write_json_private(&p, &json!({"version": 1, "lastUpdateId": last}))
        {
            tracing::warn!(target: "channels", "[telegram] cannot write {}: {}", p.display(), describe_io(&e));
        }
    }
    Ok(fresh)
}

/// Runs one account until shutdown: `getMe`, replay of the inbox, then the poll loop.
pub async fn run_account(ch: Arc<Channels>, account: Account) {
    let Ok(Some(token)) = account.token.clone() else {
        return;
    };
    let id = account.id.clone();
    let rep = Reporter {
        ch: ch.clone(),
        kind: &KIND,
        account: id.clone(),
    };
    let bot = api::Bot::new(ch.host.agents.http.clone(), &account.api_root, token);
    let cancel = ch.host.cancel.clone();
    rep.update(|s| {
        s.running = true;
        s.last_start_at = Some(now_ms());
        s.mode = Some("polling".into());
        s.token_source = account.token_source.clone();
    });
    let mut backoff = Backoff::network();
    let mut last_logged: Option<String> = None;
    let me = loop {
        match tokio::select! { r = bot.get_me() => r, _ = cancel.cancelled() => return rep.stopped() }
        {
            Ok(me) => break me,
            Err(e) if e.is_bad_token() => {
                let msg = format!(
                    "Telegram rejected the bot token of account {id} ({}); fix {} and restart",
                    e.code().unwrap_or(401),
                    account
                        .token_source
                        .as_deref()
                        .unwrap_or("channels.telegram.tokenFile"),
                );
                rep.fatal(msg);
                return;
            }
            Err(e) => {
                if !rep
                    .wait_retry(&e.to_string(), &mut backoff, &mut last_logged)
                    .await
                {
                    return rep.stopped();
                }
            }
        }
    };
    let username = me["username"].as_str().unwrap_or_default().to_string();
    tracing::info!(target: "channels", "[telegram] account {id}: polling as @{username}");
    rep.update(|s| {
        s.connected = true;
        s.last_error = None;
        s.bot = Some(json!({"id": me["id"], "username": username}));
    });
    let state_dir = ch.host.paths.state_dir.clone();
    let inbox = match open_inbox(&state_dir, &id) {
        Ok(i) => i,
        Err(e) => {
            rep.fatal(e);
            return;
        }
    };
    let worker = Arc::new(Worker {
        tg: inbound::Tg {
            rep: rep.clone(),
            account,
            bot: bot.clone(),
            me,
        },
        inbox,
    });
    let mut queues = Queues::new(worker.clone());
    let pending = worker.inbox.pending();
    if !pending.is_empty() {
        tracing::info!(target: "channels", "[telegram] account {id}: replaying {} update(s) left from the last run", pending.len());
    }
    for u in pending {
        queues.dispatch(decode::chat_of(&u).to_string(), u);
    }
    last_logged = None;
    let mut store_backoff = Backoff::storage();
    loop {
        let offset = worker.inbox.offset();
        let r =
            tokio::select! { r = bot.get_updates(offset) => r, _ = cancel.cancelled() => break };
        match r {
            Ok(updates) => {
                backoff.reset();
                if last_logged.take().is_some() {
                    tracing::info!(target: "channels", "[telegram] account {id}: polling again");
                    rep.update(|s| {
                        s.connected = true;
                        s.last_error = None;
                    });
                }
                let fresh = match accept(&worker.inbox, &state_dir, &id, updates) {
                    Ok(f) => {
                        rep.store_ok(&mut store_backoff);
                        f
                    }
                    Err(e) => {
                        // Not stored, not acknowledged: the same offset fetches it again.
                        if !rep.store_failed(&e, &mut store_backoff).await {
                            break;
                        }
                        continue;
                    }
                };
                for u in fresh {
                    queues.dispatch(decode::chat_of(&u).to_string(), u);
                }
            }
            Err(e) => {
                let msg = if e.code() == Some(409) {
                    format!(
                        "{e} (a webhook is set or another process polls this bot; only one may)"
                    )
                } else {
                    e.to_string()
                };
                if !rep.wait_retry(&msg, &mut backoff, &mut last_logged).await {
                    break;
                }
            }
        }
    }
    drop(queues);
    rep.stopped();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_offset_file_is_neither_read_nor_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = offset_path(dir.path(), "a");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let text = r#"{"version": 2, "lastUpdateId": 900}"#;
        std::fs::write(&p, text).unwrap();
        let inbox = open_inbox(dir.path(), "a").unwrap();
        assert_eq!(inbox.offset(), None, "the newer file was read as a floor");
        let fresh = accept(&inbox, dir.path(), "a", vec![json!({"update_id": 7})]).unwrap();
        assert_eq!(fresh.len(), 1);
        assert_eq!(inbox.offset(), Some(8));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
        // The original's file (version 1) is the floor, and is kept up to date.
        let q = offset_path(dir.path(), "b");
        std::fs::write(&q, r#"{"version": 1, "lastUpdateId": 40}"#).unwrap();
        let inbox = open_inbox(dir.path(), "b").unwrap();
        assert_eq!(inbox.offset(), Some(41));
        accept(&inbox, dir.path(), "b", vec![json!({"update_id": 41})]).unwrap();
        let v = crate::fsutil::read_json(&q).unwrap().unwrap();
        assert_eq!(v, json!({"version": 1, "lastUpdateId": 41}));
    }
}
