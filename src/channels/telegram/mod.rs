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
pub mod inbox;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::config::secrets::{self, Candidate, Secret, SecretMode};
use crate::paths::Env;
use crate::server::state::Gateway;
use crate::util::now_ms;

pub const DEFAULT_API_ROOT: &str = "https://api.telegram.org";

/// One configured bot account: the top-level `channels.telegram` section (account
/// "default") or an entry of `channels.telegram.accounts`, over the top-level defaults.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub enabled: bool,
    pub token: Result<Option<Secret>, String>,
    pub token_source: Option<String>,
    pub api_root: String,
    /// The effective settings (top-level keys overlaid with the account's own).
    pub section: Map<String, Value>,
}

/// The account ids `channels.telegram` configures, with their effective settings.
fn sections(resolved: &Value) -> Vec<(String, Map<String, Value>)> {
    let Some(base) = resolved
        .pointer("/channels/telegram")
        .and_then(Value::as_object)
    else {
        return vec![];
    };
    let mut common = base.clone();
    let listed = common
        .remove("accounts")
        .and_then(|a| a.as_object().cloned())
        .unwrap_or_default();
    let top_enabled = common.get("enabled").and_then(Value::as_bool) != Some(false);
    let mut ids: Vec<String> = listed.keys().cloned().collect();
    if ids.is_empty() || !listed.contains_key("default") && has_token_keys(&common) {
        ids.insert(0, "default".into());
    }
    ids.into_iter()
        .map(|id| {
            let own = listed
                .get(&id)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut section = common.clone();
            // A token is the account's own: never inherit another bot's token.
            if id != "default" {
                section.remove("botToken");
                section.remove("tokenFile");
            }
            section.extend(own);
            if !top_enabled {
                section.insert("enabled".into(), Value::Bool(false));
            }
            (id, section)
        })
        .collect()
}

/// The current settings of one account (the config may have been reloaded since the
/// account started: access rules and formatting follow it without a restart).
pub fn current_section(resolved: &Value, id: &str) -> Option<Map<String, Value>> {
    sections(resolved)
        .into_iter()
        .find(|(i, _)| i == id)
        .map(|(_, s)| s)
}

/// The accounts `channels.telegram` configures (none when the section is absent).
pub fn accounts(resolved: &Value, env: &Env) -> Vec<Account> {
    sections(resolved)
        .into_iter()
        .map(|(id, section)| {
            let enabled = section.get("enabled").and_then(Value::as_bool) != Some(false);
            let (token, token_source) = token_of(&id, &section, env);
            let api_root = section
                .get("apiRoot")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_API_ROOT)
                .to_string();
            Account {
                id,
                enabled,
                token,
                token_source,
                api_root,
                section,
            }
        })
        .collect()
}

fn has_token_keys(m: &Map<String, Value>) -> bool {
    m.contains_key("botToken") || m.contains_key("tokenFile")
}

fn token_of(
    id: &str,
    section: &Map<String, Value>,
    env: &Env,
) -> (Result<Option<Secret>, String>, Option<String>) {
    let prefix = if id == "default" {
        "channels.telegram".to_string()
    } else {
        format!("channels.telegram.accounts.{id}")
    };
    let inline_key = format!("{prefix}.botToken");
    let file_key = format!("{prefix}.tokenFile");
    let mut c = vec![
        Candidate::File {
            key: &file_key,
            path: section.get("tokenFile").and_then(Value::as_str),
        },
        Candidate::Inline {
            key: &inline_key,
            value: section.get("botToken").and_then(Value::as_str),
        },
    ];
    if id == "default" {
        c.push(Candidate::EnvVar {
            name: "TELEGRAM_BOT_TOKEN",
        });
        c.push(Candidate::EnvFile {
            name: "TELEGRAM_BOT_TOKEN_FILE",
        });
        c.push(Candidate::Credential {
            name: "telegram-bot-token",
        });
    }
    let mut warnings = vec![];
    match secrets::lookup(&c, env, SecretMode::Read, &mut warnings) {
        Ok(Some(found)) => (
            Ok(found.secret().cloned()),
            Some(found.source().to_string()),
        ),
        Ok(None) => (Ok(None), None),
        Err(e) => (Err(e), None),
    }
}

/// Sends `text` (Markdown) to a chat through a configured account (the `send` method).
/// The id of the last message sent.
pub async fn deliver(gw: &Gateway, account_id: &str, to: &str, text: &str) -> Result<i64, String> {
    let rt = gw.runtime();
    let account = accounts(&rt.loaded.resolved, &rt.loaded.env)
        .into_iter()
        .find(|a| a.id == account_id)
        .ok_or_else(|| format!("unknown telegram account: {account_id}"))?;
    drop(rt);
    let token = match &account.token {
        Ok(Some(t)) => t.clone(),
        Ok(None) => return Err(format!("telegram account {account_id} has no bot token")),
        Err(e) => return Err(e.clone()),
    };
    let chat_id: i64 = to
        .trim()
        .trim_start_matches("telegram:")
        .parse()
        .map_err(|_| {
            format!("invalid Telegram chat id: {to} (a number, e.g. 123456789 or -1001234567890)")
        })?;
    let bot = api::Bot::new(gw.agents.http.clone(), &account.api_root, token);
    inbound::send_reply(
        &inbound::Outbound {
            gw,
            account: &account,
            bot: &bot,
        },
        chat_id,
        None,
        text,
    )
    .await
    .map_err(|e| e.message)
}

/// Retry delays: 2 s growing ×1.8 to 30 s, ±25 % jitter (network and API failures).
#[derive(Debug)]
struct Backoff {
    first: f64,
    cap: f64,
    next: f64,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            first: 2.0,
            cap: 30.0,
            next: 2.0,
        }
    }
    /// For local storage (a full disk): 0.5 s to 5 s, so messages flow again soon after
    /// space returns.
    fn storage() -> Backoff {
        Backoff {
            first: 0.5,
            cap: 5.0,
            next: 0.5,
        }
    }
    fn reset(&mut self) {
        self.next = self.first;
    }
    fn step(&mut self) -> Duration {
        use rand::Rng;
        let base = self.next;
        self.next = (self.next * 1.8).min(self.cap);
        let jitter = rand::thread_rng().gen_range(-0.25..=0.25);
        Duration::from_secs_f64(base * (1.0 + jitter))
    }
}

/// What a polling loop shares with its per-chat workers.
pub(crate) struct Ctx {
    pub gw: Arc<Gateway>,
    pub account: Account,
    pub bot: api::Bot,
    pub me: Value,
    pub inbox: inbox::Inbox,
}

/// Runs one account until shutdown: `getMe`, replay of the inbox, then the poll loop.
pub async fn run_account(gw: Arc<Gateway>, account: Account) {
    let Ok(Some(token)) = account.token.clone() else {
        return;
    };
    let id = account.id.clone();
    let bot = api::Bot::new(gw.agents.http.clone(), &account.api_root, token);
    gw.channels.update("telegram", &id, |s| {
        s.running = true;
        s.last_start_at = Some(now_ms());
        s.mode = Some("polling".into());
        s.token_source = account.token_source.clone();
    });
    let mut backoff = Backoff::new();
    let mut last_logged: Option<String> = None;
    let me = loop {
        match tokio::select! { r = bot.get_me() => r, _ = gw.cancel.cancelled() => return stopped(&gw, &id) }
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
                tracing::error!(target: "telegram", "{msg}");
                gw.channels.update("telegram", &id, |s| {
                    s.running = false;
                    s.last_error = Some(msg);
                });
                return;
            }
            Err(e) => {
                if !wait_retry(&gw, &id, &e.to_string(), &mut backoff, &mut last_logged).await {
                    return stopped(&gw, &id);
                }
            }
        }
    };
    let username = me["username"].as_str().unwrap_or_default().to_string();
    tracing::info!(target: "telegram", "account {id}: polling as @{username}");
    gw.channels.update("telegram", &id, |s| {
        s.connected = true;
        s.last_error = None;
        s.bot = Some(json!({"id": me["id"], "username": username}));
    });
    let inbox = match inbox::Inbox::open(&gw.paths.state_dir, &id) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(target: "telegram", "account {id}: {e}");
            gw.channels.update("telegram", &id, |s| {
                s.running = false;
                s.last_error = Some(e);
            });
            return;
        }
    };
    let ctx = Arc::new(Ctx {
        gw: gw.clone(),
        account,
        bot,
        me,
        inbox,
    });
    let mut workers: HashMap<i64, mpsc::UnboundedSender<Value>> = HashMap::new();
    let pending = ctx.inbox.pending();
    if !pending.is_empty() {
        tracing::info!(target: "telegram", "account {id}: replaying {} update(s) left from the last run", pending.len());
    }
    for u in pending {
        dispatch(&ctx, &mut workers, u);
    }
    last_logged = None;
    let mut store_backoff = Backoff::storage();
    loop {
        let offset = ctx.inbox.offset();
        let r = tokio::select! { r = ctx.bot.get_updates(offset) => r, _ = gw.cancel.cancelled() => break };
        match r {
            Ok(updates) => {
                backoff.reset();
                if last_logged.take().is_some() {
                    tracing::info!(target: "telegram", "account {id}: polling again");
                    gw.channels.update("telegram", &id, |s| {
                        s.connected = true;
                        s.last_error = None;
                    });
                }
                let fresh = match ctx.inbox.accept(updates) {
                    Ok(f) => {
                        store_ok(&gw, &id, &mut store_backoff);
                        f
                    }
                    Err(e) => {
                        // Not stored, not acknowledged: the same offset fetches it again.
                        if !store_failed(&gw, &id, &e, &mut store_backoff).await {
                            break;
                        }
                        continue;
                    }
                };
                for u in fresh {
                    dispatch(&ctx, &mut workers, u);
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
                if !wait_retry(&gw, &id, &msg, &mut backoff, &mut last_logged).await {
                    break;
                }
            }
        }
    }
    drop(workers);
    stopped(&gw, &id);
}

fn stopped(gw: &Gateway, id: &str) {
    gw.channels.update("telegram", id, |s| {
        s.running = false;
        s.connected = false;
    });
}

/// Records the error, logs it once per distinct message, sleeps the backoff.
/// False when the gateway is shutting down.
async fn wait_retry(
    gw: &Gateway,
    id: &str,
    msg: &str,
    backoff: &mut Backoff,
    last_logged: &mut Option<String>,
) -> bool {
    let delay = backoff.step();
    if last_logged.as_deref() != Some(msg) {
        tracing::warn!(target: "telegram", "account {id}: {msg}; retrying (backoff up to 30s)");
        *last_logged = Some(msg.to_string());
    }
    gw.channels.update("telegram", id, |s| {
        s.connected = false;
        s.last_error = Some(msg.to_string());
    });
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = gw.cancel.cancelled() => false,
    }
}

/// A write to the state dir failed: report it (`lastError` and `storeError` in
/// `channels.status`), log it when it starts, sleep the storage backoff. False when the
/// gateway is shutting down.
async fn store_failed(gw: &Gateway, id: &str, msg: &str, backoff: &mut Backoff) -> bool {
    report_and_wait(gw, id, msg, true, backoff).await
}

/// Reports a failure that clears by itself (in `lastError`, and in `storeError` when
/// `storage`), logs it when it starts, and sleeps `backoff`. False on shutdown.
async fn report_and_wait(
    gw: &Gateway,
    id: &str,
    msg: &str,
    storage: bool,
    backoff: &mut Backoff,
) -> bool {
    let mut first = false;
    gw.channels.update("telegram", id, |s| {
        first = s.last_error.as_deref() != Some(msg);
        if storage {
            s.store_error = Some(msg.to_string());
        }
        s.last_error = Some(msg.to_string());
    });
    if first {
        tracing::error!(target: "telegram", "account {id}: {msg}; the message is kept and retried");
    }
    tokio::select! {
        _ = tokio::time::sleep(backoff.step()) => true,
        _ = gw.cancel.cancelled() => false,
    }
}

/// A write succeeded: clear a storage error reported earlier.
fn store_ok(gw: &Gateway, id: &str, backoff: &mut Backoff) {
    backoff.reset();
    if gw
        .channels
        .get("telegram", id)
        .is_some_and(|s| s.store_error.is_some())
    {
        tracing::info!(target: "telegram", "account {id}: the state dir takes writes again");
        gw.channels.update("telegram", id, |s| {
            if s.last_error == s.store_error {
                s.last_error = None;
            }
            s.store_error = None;
        });
    }
}

/// Hands an update to its chat's worker (one queue per chat keeps replies in order,
/// while different chats are served concurrently).
fn dispatch(
    ctx: &Arc<Ctx>,
    workers: &mut HashMap<i64, mpsc::UnboundedSender<Value>>,
    update: Value,
) {
    let chat = decode::chat_of(&update);
    let update = match workers.get(&chat) {
        Some(tx) => match tx.send(update) {
            Ok(()) => return,
            Err(e) => e.0,
        },
        None => update,
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let _ = tx.send(update);
    workers.insert(chat, tx);
    let ctx2 = ctx.clone();
    ctx.gw.tasks.spawn(async move {
        while let Some(u) = rx.recv().await {
            if !work(&ctx2, &u).await || ctx2.gw.cancel.is_cancelled() {
                break;
            }
        }
    });
}

/// Answers one update until it is done, then marks it done in the inbox right away (the
/// mark is what ends the at-least-once window). A failure that clears by itself (the
/// disk is full, Telegram is down) is retried with backoff; the update stays in the
/// inbox meanwhile. False when the gateway is shutting down.
async fn work(ctx: &Ctx, u: &Value) -> bool {
    let update_id = u["update_id"].as_i64().unwrap_or_default();
    let id = &ctx.account.id;
    let mut backoff = Backoff::storage();
    loop {
        match inbound::handle(ctx, u).await {
            inbound::Outcome::Done => break,
            // Shutting down mid-run: the update stays in the inbox for the next start.
            inbound::Outcome::Retry => return false,
            inbound::Outcome::Later { message, storage } => {
                if !report_and_wait(&ctx.gw, id, &message, storage, &mut backoff).await {
                    return false;
                }
            }
        }
    }
    let mut r = ctx.inbox.done(update_id);
    while let Err(e) = r {
        if !store_failed(&ctx.gw, id, &e, &mut backoff).await {
            return false;
        }
        r = ctx.inbox.flush();
    }
    store_ok(&ctx.gw, id, &mut backoff);
    true
}
