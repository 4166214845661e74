//! Messaging channels. Each kind (Telegram, Discord) is a directory here and a row of
//! [`kinds::KINDS`]; what they share lives once: accounts and tokens ([`accounts`]), who
//! may talk to the bot ([`access`]), the conversation (route, run, typing, chunked
//! answer: [`conversation`]), the durable inbox and per-peer queues ([`inbox`],
//! [`worker`]). Each account reports its live state into the [`Registry`], which
//! `channels.status` and `health` read.
//!
//! Channels get a [`Channels`] handle (the agents' [`Host`], the status registry, the
//! task tracker), never the server's state.

pub mod access;
pub mod accounts;
pub mod chunk;
pub mod conversation;
pub mod discord;
pub mod inbox;
pub mod kinds;
pub mod pairing;
pub mod telegram;
pub mod whatsapp;
pub mod worker;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio_util::task::TaskTracker;

use crate::agent::Host;
use crate::paths::Env;

/// What channel runners and workers get from the gateway.
pub struct Channels {
    pub host: Arc<Host>,
    /// Live status of every account.
    pub status: Registry,
    /// Runners and per-peer workers are spawned here; shutdown awaits them.
    pub tasks: TaskTracker,
    /// The process environment at start (tokens from `TELEGRAM_BOT_TOKEN`, …).
    pub env: Env,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Channels")
    }
}

/// Live state of one channel account (a `ChannelAccountSnapshot`, spec §3.2).
#[derive(Debug, Clone, Default)]
pub struct AccountStatus {
    pub running: bool,
    pub connected: bool,
    pub last_error: Option<String>,
    pub last_start_at: Option<i64>,
    pub last_inbound_at: Option<i64>,
    pub last_outbound_at: Option<i64>,
    pub bot: Option<Value>,
    pub token_source: Option<String>,
    pub mode: Option<String>,
    /// Why accepted messages cannot be stored right now (the disk is full, …): updates
    /// stay unacknowledged upstream and are retried. Shown as `storeError` (extension;
    /// `lastError` carries the same text while it lasts).
    pub store_error: Option<String>,
    /// For a linked-device channel (WhatsApp): whether a device is linked.
    pub linked: Option<bool>,
}

impl AccountStatus {
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("running".into(), json!(self.running));
        m.insert("connected".into(), json!(self.connected));
        let opt = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        opt(
            &mut m,
            "lastError",
            self.last_error.clone().map(Value::from),
        );
        opt(&mut m, "lastStartAt", self.last_start_at.map(Value::from));
        opt(
            &mut m,
            "lastInboundAt",
            self.last_inbound_at.map(Value::from),
        );
        opt(
            &mut m,
            "lastOutboundAt",
            self.last_outbound_at.map(Value::from),
        );
        opt(&mut m, "bot", self.bot.clone());
        opt(
            &mut m,
            "tokenSource",
            self.token_source.clone().map(Value::from),
        );
        opt(&mut m, "mode", self.mode.clone().map(Value::from));
        opt(
            &mut m,
            "storeError",
            self.store_error.clone().map(Value::from),
        );
        opt(&mut m, "linked", self.linked.map(Value::from));
        m
    }
}

#[derive(Debug)]
pub struct Registry {
    accounts: Mutex<BTreeMap<(String, String), AccountStatus>>,
    /// Bumped on every change, so a watcher (a test, a status stream) need not poll.
    version: tokio::sync::watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            accounts: Mutex::default(),
            version: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Registry {
    pub fn update(&self, channel: &str, account: &str, f: impl FnOnce(&mut AccountStatus)) {
        let mut m = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry((channel.into(), account.into())).or_default());
        drop(m);
        self.version.send_modify(|v| *v += 1);
    }

    /// Wakes on every status change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Waits until the account's status satisfies `pred` (or `timeout`); the status.
    pub async fn wait_for(
        &self,
        channel: &str,
        account: &str,
        timeout: std::time::Duration,
        pred: impl Fn(&AccountStatus) -> bool,
    ) -> Option<AccountStatus> {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if let Some(s) = self.get(channel, account).filter(|s| pred(s)) {
                return Some(s);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// The accounts of `channel` that reported a status (started, or tried to).
    pub fn accounts_of(&self, channel: &str) -> Vec<String> {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|(c, _)| c == channel)
            .map(|(_, a)| a.clone())
            .collect()
    }

    pub fn get(&self, channel: &str, account: &str) -> Option<AccountStatus> {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(channel.to_string(), account.to_string()))
            .cloned()
    }
}

/// Starts every enabled, configured account of every kind (unless
/// `CLAWDBOT_SKIP_CHANNELS=1`).
pub fn start(ch: &Arc<Channels>) {
    if ch.env.get("CLAWDBOT_SKIP_CHANNELS") == Some("1") {
        tracing::info!(target: "channels", "CLAWDBOT_SKIP_CHANNELS=1: not starting channels");
        return;
    }
    let cfg = ch.host.config();
    for kind in kinds::KINDS {
        let accts = if kind.linked_device {
            whatsapp::accounts(&cfg.resolved, &cfg.env, &ch.host.paths.state_dir)
        } else {
            accounts::accounts(&cfg.resolved, &cfg.env, kind)
        };
        for acct in accts {
            if !acct.enabled {
                continue;
            }
            if kind.linked_device {
                ch.tasks.spawn((kind.run)(ch.clone(), acct));
                continue;
            }
            match acct.token.clone() {
                Ok(Some(_)) => {
                    ch.tasks.spawn((kind.run)(ch.clone(), acct));
                }
                Ok(None) => {
                    tracing::warn!(target: "channels", "[{}] account {}: {}", kind.id, acct.id, acct.require_token().err().unwrap_or_default());
                }
                Err(e) => {
                    tracing::error!(target: "channels", "[{}] account {}: {e}", kind.id, acct.id);
                    ch.status.update(kind.id, &acct.id, |s| {
                        s.last_error = Some(e.clone());
                    });
                }
            }
        }
    }
}

/// Sends Markdown `text` to `to` through a configured account (the `send` method and
/// `agent` delivery); the id of the last message sent.
pub async fn deliver(
    ch: &Arc<Channels>,
    channel: &str,
    account_id: &str,
    to: &str,
    text: &str,
) -> Result<String, String> {
    let kind = kinds::kind(channel).ok_or_else(|| kinds::unknown(channel))?;
    let cfg = ch.host.config();
    let account = if kind.linked_device {
        whatsapp::accounts(&cfg.resolved, &cfg.env, &ch.host.paths.state_dir)
            .into_iter()
            .find(|a| a.id == account_id)
    } else {
        accounts::find(&cfg.resolved, &cfg.env, kind, account_id)
    }
    .ok_or_else(|| format!("unknown {} account: {account_id}", kind.id))?;
    drop(cfg);
    if !kind.linked_device {
        account.require_token()?;
    }
    (kind.deliver)(ch, &account, to, text).await
}
