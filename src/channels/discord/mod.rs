//! Discord: a bot on the Gateway (WebSocket v10, [`shard`]) that answers through the REST
//! API ([`rest`]), both written here rather than taken from twilight or serenity: the
//! gateway needs five REST routes and one shard, which is ~1,000 lines with its tests,
//! against a dependency tree several times this crate's (and its own TLS and HTTP
//! stacks, where we already have reqwest's rustls).
//!
//! Discord does not redeliver a message it has sent, so a message is written (fsynced)
//! to the account's inbox as it arrives, before the shard reads on: a `kill -9` after
//! that replays it from the inbox on the next start, and its idempotency key
//! (`discord:<account>:<message id>`) finds its turn in the transcript, so it is
//! answered once. Messages the bot will never answer (its own, other bots') are not
//! stored.

pub mod decode;
mod inbound;

pub use inbound::access;
pub mod rest;
pub mod shard;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Channels;
use super::accounts::Account;
use super::conversation::Outcome;
use super::inbox::{Inbox, Order};
use super::kinds::Kind;
use super::worker::{Backoff, Handler, Queues, Reporter};
use crate::config::secrets::Secret;
use crate::util::now_ms;
use shard::{Event, Shard, ShardConfig, ShardError};

pub static KIND: Kind = Kind {
    id: "discord",
    label: "Discord",
    inline_token_key: "token",
    token_env: "DISCORD_BOT_TOKEN",
    credential: "discord-bot-token",
    token_hint: "from the Developer Portal (Applications > your app > Bot > Reset Token)",
    api_root: rest::DEFAULT_API_ROOT,
    allow_prefixes: &["discord:", "user:"],
    chunk_default: 2000,
    chunk_max: 2000,
    reply_to_default: "off",
    // Discord shows "typing…" for 10 s.
    typing_every: Duration::from_secs(8),
    target_help: "channel:<id> for a channel, user:<id> for a DM",
    dm_policy_key: "dm.policy",
    allow_from_key: "dm.allowFrom",
    linked_device: false,
    check_token,
    clean_token,
    run: |ch, acct| Box::pin(run_account(ch, acct)),
    deliver: |ch, acct, to, text| Box::pin(deliver(ch, acct, to, text)),
};

/// A bot token is three base64url parts joined by dots.
fn check_token(t: &str) -> Result<(), String> {
    let t = t.strip_prefix("Bot ").unwrap_or(t);
    let parts: Vec<&str> = t.split('.').collect();
    let b64 = |p: &&str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if parts.len() != 3 || !parts.iter().all(b64) {
        return Err(format!(
            "that does not look like a Discord bot token (three parts joined by dots, {})",
            KIND.token_hint
        ));
    }
    Ok(())
}

/// The original accepts a token pasted with its `Bot ` header prefix.
fn clean_token(s: &Secret) -> Secret {
    let t = s.expose().trim();
    Secret::new(t.strip_prefix("Bot ").unwrap_or(t).trim())
}

async fn deliver(
    ch: &Arc<Channels>,
    account: &Account,
    to: &str,
    text: &str,
) -> Result<String, String> {
    decode::target(to)?;
    let dc = inbound::Dc {
        rep: reporter(ch, account),
        rest: rest::Rest::new(
            ch.host.agents.http.clone(),
            &account.api_root,
            account.require_token()?,
        ),
        account: account.clone(),
        bot_id: String::new(),
    };
    // A user's DM channel is opened once, not once per chunk.
    let to = dc.channel_target(to).await.map_err(|e| e.message)?;
    super::conversation::send_reply(ch, &dc, &to, None, text)
        .await
        .map_err(|e| e.message)
}

fn reporter(ch: &Arc<Channels>, account: &Account) -> Reporter {
    Reporter {
        ch: ch.clone(),
        kind: &KIND,
        account: account.id.clone(),
    }
}

struct Worker {
    dc: inbound::Dc,
    inbox: Inbox,
}

impl Handler for Worker {
    fn reporter(&self) -> &Reporter {
        &self.dc.rep
    }
    fn inbox(&self) -> &Inbox {
        &self.inbox
    }
    fn key(&self, item: &Value) -> i64 {
        decode::key(item).unwrap_or_default()
    }
    async fn handle(&self, item: &Value) -> Outcome {
        inbound::handle(&self.dc, item).await
    }
}

/// The account's inbox (`<state>/discord/inbox-<account>.json`).
pub fn open_inbox(state_dir: &std::path::Path, account: &str) -> Result<Inbox, String> {
    Inbox::open(
        state_dir,
        "discord",
        account,
        Order::Unordered,
        decode::key,
        None,
    )
}

/// Whether a `MESSAGE_CREATE` is worth storing: not the bot's own, not another bot's
/// (unless `allowBots`), with a usable id.
fn worth_storing(d: &Value, bot_id: &str, allow_bots: bool) -> bool {
    let author = &d["author"];
    decode::key(d).is_some()
        && author["id"].as_str() != Some(bot_id)
        && (allow_bots || author["bot"].as_bool() != Some(true))
}

/// Runs one account until shutdown: who am I, replay of the inbox, the Gateway session.
pub async fn run_account(ch: Arc<Channels>, account: Account) {
    let Ok(Some(token)) = account.token.clone() else {
        return;
    };
    let id = account.id.clone();
    let rep = reporter(&ch, &account);
    let rest = rest::Rest::new(
        ch.host.agents.http.clone(),
        &account.api_root,
        token.clone(),
    );
    let cancel = ch.host.cancel.clone();
    rep.update(|s| {
        s.running = true;
        s.last_start_at = Some(now_ms());
        s.mode = Some("gateway".into());
        s.token_source = account.token_source.clone();
    });
    let mut backoff = Backoff::network();
    let mut last_logged: Option<String> = None;
    let source = account
        .token_source
        .clone()
        .unwrap_or_else(|| format!("{}.tokenFile", account.key()));
    let bad_token = |code: u16| {
        format!("Discord rejected the bot token of account {id} ({code}); fix {source} and restart")
    };
    let (me, url) = loop {
        let r = tokio::select! {
            r = async { Ok::<_, rest::RestError>((rest.me().await?, rest.gateway_url().await?)) } => r,
            _ = cancel.cancelled() => return rep.stopped(),
        };
        match r {
            Ok(v) => break v,
            Err(e) if e.is_bad_token() => {
                let msg = bad_token(401);
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
    let bot_id = me["id"].as_str().unwrap_or_default().to_string();
    let username = me["username"].as_str().unwrap_or_default().to_string();
    rep.update(|s| s.bot = Some(json!({"id": bot_id, "username": username})));
    let inbox = match open_inbox(&ch.host.paths.state_dir, &id) {
        Ok(i) => i,
        Err(e) => {
            rep.fatal(e);
            return;
        }
    };
    let sec = &account.section;
    if !sec.contains_key("guilds") && !sec.contains_key("groupPolicy") {
        // Safe by default, unlike the original's "open" for an env-only setup: say so.
        tracing::info!(target: "channels", "[discord] account {id}: server (guild) messages are ignored until channels.discord.guilds lists a server or groupPolicy is \"open\"; DMs use dm.policy (default: pairing)");
    }
    let allow_bots = account.section.get("allowBots").and_then(Value::as_bool) == Some(true);
    let worker = Arc::new(Worker {
        dc: inbound::Dc {
            rep: rep.clone(),
            account,
            rest,
            bot_id: bot_id.clone(),
        },
        inbox,
    });
    let mut queues = Queues::new(worker.clone());
    let pending = worker.inbox.pending();
    if !pending.is_empty() {
        tracing::info!(target: "channels", "[discord] account {id}: replaying {} message(s) left from the last run", pending.len());
    }
    for m in pending {
        queues.dispatch(peer(&m), m);
    }
    let mut shard = Shard::new(ShardConfig::new(&url, token, cancel.clone()));
    let mut store_backoff = Backoff::storage();
    loop {
        match shard.next().await {
            Ok(Event::Ready { user, .. }) => {
                let name = user["username"].as_str().unwrap_or(&username).to_string();
                tracing::info!(target: "channels", "[discord] logged in to discord as {name} (id {}, account {id})", user["id"].as_str().unwrap_or(&bot_id));
                rep.update(|s| {
                    s.connected = true;
                    s.last_error = None;
                    s.bot = Some(json!({"id": user["id"], "username": name}));
                });
            }
            Ok(Event::Resumed) => {
                tracing::info!(target: "channels", "[discord] account {id}: session resumed");
                rep.update(|s| {
                    s.connected = true;
                    s.last_error = None;
                });
            }
            Ok(Event::Disconnected { reason }) => {
                tracing::warn!(target: "channels", "[discord] account {id}: {reason}; reconnecting");
                rep.update(|s| {
                    s.connected = false;
                    s.last_error = Some(reason);
                });
            }
            Ok(Event::Dispatch { name, data }) => {
                if name != "MESSAGE_CREATE" || !worth_storing(&data, &bot_id, allow_bots) {
                    continue;
                }
                let key = decode::key(&data).unwrap_or_default();
                // Stored before the shard reads on; a full disk holds the session here
                // (Discord then drops it, and the resume replays from this message).
                let fresh = loop {
                    match worker.inbox.accept(vec![(key, data.clone())]) {
                        Ok(f) => {
                            rep.store_ok(&mut store_backoff);
                            break f;
                        }
                        Err(e) => {
                            if !rep.store_failed(&e, &mut store_backoff).await {
                                return finish(queues, &rep);
                            }
                        }
                    }
                };
                for m in fresh {
                    queues.dispatch(peer(&m), m);
                }
            }
            Err(ShardError::Fatal { code, message }) => {
                let msg = if code == 4004 {
                    bad_token(4004)
                } else {
                    message
                };
                rep.fatal(msg);
                drop(queues);
                return;
            }
            Err(ShardError::Cancelled) => break,
        }
    }
    finish(queues, &rep);
}

fn finish(queues: Queues<Worker>, rep: &Reporter) {
    drop(queues);
    rep.stopped();
}

/// The per-peer queue a message waits in: its channel (a DM has its own channel).
fn peer(m: &Value) -> String {
    m["channel_id"].as_str().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shapes() {
        assert!(check_token("MTEw.fake-x.SECRET_42").is_ok());
        assert!(check_token("Bot MTEw.a.b").is_ok());
        for t in ["", "abc", "a.b", "a..b", "a.b.c.d", "a b.c.d", "123456:ABC"] {
            assert!(check_token(t).is_err(), "{t}");
        }
        assert_eq!(clean_token(&Secret::new(" Bot a.b.c\n")).expose(), "a.b.c");
    }
}
