//! The live account: wait for a link, open the session, run the library's client with
//! the inbox as its durability hook, follow its events until shutdown or a logout from
//! the phone, and start over with backoff when the client's own loop ends. The library
//! reconnects a dropped socket itself; `channels.status` shows each drop meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use whatsapp_rust::types::events::Event;

use super::client::{self, Hook, Options};
use super::creds::Creds;
use super::inbound::Me;
use super::send::Live;
use super::session::{Next, Session, not_linked};
use super::{KIND, creds_of, target_jid};
use crate::channels::Channels;
use crate::channels::accounts::Account;
use crate::channels::worker::{Backoff, Reporter};
use crate::util::now_ms;

type Key = (String, String);

/// Running accounts: how to stop one (a forced relink) and its session (deliveries).
#[derive(Default)]
struct Live_ {
    stop: HashMap<Key, CancellationToken>,
    sessions: HashMap<Key, Arc<Session<Live>>>,
}

static LIVE: LazyLock<Mutex<Live_>> = LazyLock::new(Mutex::default);

fn live() -> std::sync::MutexGuard<'static, Live_> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn key(ch: &Channels, account: &str) -> Key {
    (
        ch.host.paths.state_dir.display().to_string(),
        account.to_string(),
    )
}

/// Stops the account's runner, if one runs (`web.login.start` with `force`).
pub(super) fn stop(ch: &Channels, account: &str) {
    if let Some(t) = live().stop.remove(&key(ch, account)) {
        t.cancel();
    }
}

/// Whether a runner is registered for the account.
pub(super) fn running(ch: &Channels, account: &str) -> bool {
    live().stop.contains_key(&key(ch, account))
}

fn reporter(ch: &Arc<Channels>, account: &Account) -> Reporter {
    Reporter {
        ch: ch.clone(),
        kind: &KIND,
        account: account.id.clone(),
    }
}

/// Runs one account until shutdown.
pub async fn run_account(ch: Arc<Channels>, account: Account) {
    let rep = reporter(&ch, &account);
    let k = key(&ch, &account.id);
    let cancel = ch.host.cancel.child_token();
    {
        let mut l = live();
        if l.stop.contains_key(&k) {
            return; // already running (a login restarted it)
        }
        l.stop.insert(k.clone(), cancel.clone());
    }
    let creds = creds_of(&ch, &account);
    rep.update(|s| {
        s.running = true;
        s.last_start_at = Some(now_ms());
        s.mode = Some("web".into());
        s.token_source = Some(format!("linked device ({})", creds.dir.display()));
    });
    let mut backoff = Backoff::network();
    let mut last_logged = None;
    while !cancel.is_cancelled() {
        if !creds.is_linked() {
            rep.update(|s| {
                s.connected = false;
                s.linked = Some(false);
                s.last_error = Some(not_linked(&account.id));
            });
            tracing::warn!(target: "channels", "[whatsapp] account {}: {}", account.id, not_linked(&account.id));
            // A link made by `channels login` in another process shows up as files.
            if !wait_linked(&creds, &cancel).await {
                break;
            }
            continue;
        }
        match session(&ch, &account, &creds, &cancel).await {
            Ok(Next::LoggedOut) => continue,
            Ok(Next::Continue) => {
                if !rep
                    .wait_retry(
                        "the WhatsApp client stopped",
                        &mut backoff,
                        &mut last_logged,
                    )
                    .await
                {
                    break;
                }
            }
            Err(e) => {
                if !rep.wait_retry(&e, &mut backoff, &mut last_logged).await {
                    break;
                }
            }
        }
    }
    live().stop.remove(&k);
    rep.stopped();
}

/// Polls for credentials written by another process; false on shutdown.
async fn wait_linked(creds: &Creds, cancel: &CancellationToken) -> bool {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return false,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        if creds.is_linked() {
            return true;
        }
    }
}

/// One client lifetime: Continue when its loop ended by itself, LoggedOut when the
/// phone unlinked it.
async fn session(
    ch: &Arc<Channels>,
    account: &Account,
    creds: &Creds,
    cancel: &CancellationToken,
) -> Result<Next, String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Arc<Event>>();
    let cell: Arc<OnceLock<Arc<Session<Live>>>> = Arc::new(OnceLock::new());
    let hook_cell = cell.clone();
    let hook = Hook(Arc::new(move |batch| match hook_cell.get() {
        Some(s) => s.commit(batch),
        None => Err("the session is not open yet".into()),
    }));
    let bot = client::build(
        creds,
        Options {
            url: account.api_root.clone(),
            http: ch.host.agents.http.clone(),
            events: tx,
            hook: Some(hook),
            pair_phone: None,
        },
    )
    .await?;
    let session = Arc::new(Session::open(
        ch.clone(),
        account.clone(),
        Live(bot.client()),
        creds.clone(),
    )?);
    let _ = cell.set(session.clone());
    let client = bot.client();
    let mut handle = bot.spawn();
    live()
        .sessions
        .insert(key(ch, &account.id), session.clone());
    let mut ended = false;
    let out = loop {
        tokio::select! {
            _ = cancel.cancelled() => break Next::Continue,
            _ = &mut handle => {
                ended = true;
                break Next::Continue;
            }
            ev = rx.recv() => {
                let Some(ev) = ev else { break Next::Continue };
                if matches!(&*ev, Event::PairingQrCode(_)) {
                    // The server asks to pair again: the stored session is gone.
                    let _ = creds.remove();
                    session.reporter().update(|s| {
                        s.connected = false;
                        s.linked = Some(false);
                        s.last_error = Some(not_linked(&account.id));
                    });
                    break Next::LoggedOut;
                }
                if matches!(&*ev, Event::Connected(_)) {
                    session.set_me(Me { pn: client.pn(), lid: client.lid() });
                }
                if session.on_event(&ev) == Next::LoggedOut {
                    break Next::LoggedOut;
                }
            }
        }
    };
    live().sessions.remove(&key(ch, &account.id));
    if !ended {
        let _ = tokio::time::timeout(Duration::from_secs(10), handle.shutdown()).await;
    }
    Ok(out)
}

/// Sends Markdown `text` to `to` (a number or a JID) through the running account.
pub async fn deliver(
    ch: &Arc<Channels>,
    account: &Account,
    to: &str,
    text: &str,
) -> Result<String, String> {
    let jid = target_jid(to)?;
    let s = live()
        .sessions
        .get(&key(ch, &account.id))
        .cloned()
        .ok_or_else(|| {
            format!(
                "WhatsApp account {} is not connected (see `clawdbot channels status`)",
                account.id
            )
        })?;
    crate::channels::conversation::send_reply(ch, &s.worker.wa, &jid, None, text)
        .await
        .map_err(|e| e.message)
}
