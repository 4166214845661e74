//! `web.login.start` / `web.login.wait` (the original's methods and result shapes):
//! the Control UI links WhatsApp through the gateway. `start` begins a link attempt (or
//! returns the one in progress) and answers with the QR as a PNG data URL; `wait` waits
//! for the phone to scan it, then starts the account.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use whatsapp_rust::types::events::Event;

use super::creds::{Creds, self_e164};
use super::login::{self, Linking, State};
use super::{KIND, accounts, creds_of, qr, runner};
use crate::channels::Channels;
use crate::channels::accounts::Account;

type Key = (String, String);

static ACTIVE: LazyLock<Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Linking>>>>> =
    LazyLock::new(Mutex::default);

fn active() -> std::sync::MutexGuard<'static, HashMap<Key, Arc<tokio::sync::Mutex<Linking>>>> {
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The account a login is for (configured, linked, or a new one on default settings).
fn account(ch: &Channels, id: &str) -> Account {
    let cfg = ch.host.config();
    accounts(&cfg.resolved, &cfg.env, &ch.host.paths.state_dir)
        .into_iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| Account {
            kind: &KIND,
            id: id.to_string(),
            enabled: true,
            token: Ok(None),
            token_source: None,
            api_root: cfg
                .resolved
                .pointer("/channels/whatsapp/apiRoot")
                .and_then(Value::as_str)
                .unwrap_or(super::WS_URL)
                .to_string(),
            section: Default::default(),
        })
}

/// Registers a link attempt fed by `events` instead of a live client: the boundary a
/// test drives with the library's own event values.
pub fn drive_for_test(
    ch: &Channels,
    account_id: &str,
    events: mpsc::UnboundedReceiver<Arc<Event>>,
) {
    let acct = account(ch, account_id);
    let creds = creds_of(ch, &acct);
    let l = login::drive(creds, events, None, acct.api_root.clone());
    active().insert(
        runner::key(ch, account_id),
        Arc::new(tokio::sync::Mutex::new(l)),
    );
}

fn who(creds: &Creds) -> String {
    creds
        .linked()
        .and_then(|l| self_e164(&l).or_else(|| l["jid"].as_str().map(String::from)))
        .unwrap_or_else(|| "unknown".into())
}

/// `web.login.start {accountId?, force?, timeoutMs?}` → `{qrDataUrl?, message}`.
pub async fn start(ch: &Arc<Channels>, account_id: &str, force: bool, timeout: Duration) -> Value {
    let acct = account(ch, account_id);
    let creds = creds_of(ch, &acct);
    let k = runner::key(ch, account_id);
    if creds.is_linked() && !force {
        return json!({"message": format!("WhatsApp is already linked ({}). Say “relink” if you want a fresh QR.", who(&creds))});
    }
    let existing = active().get(&k).cloned();
    if let Some(l) = existing.filter(|_| !force) {
        let mut l = l.lock().await;
        if let State::Qr(code) = l.wait(timeout, |s| matches!(s, State::Qr(_))).await {
            return qr_answer(
                &code,
                "QR already active. Scan it in WhatsApp → Linked Devices.",
            );
        }
    }
    if force {
        runner::stop(ch, account_id);
        let old = active().remove(&k);
        if let Some(l) = old {
            l.lock().await.abort();
        }
        if let Err(e) = creds.remove() {
            return json!({"message": format!("Failed to start WhatsApp login: {e}")});
        }
    }
    let linking = match login::start(creds, &acct.api_root, ch.host.agents.http.clone(), None).await
    {
        Ok(l) => l,
        Err(e) => return json!({"message": format!("Failed to start WhatsApp login: {e}")}),
    };
    let l = Arc::new(tokio::sync::Mutex::new(linking));
    active().insert(k.clone(), l.clone());
    let mut g = l.lock().await;
    match g.wait(timeout, |s| matches!(s, State::Qr(_))).await {
        State::Qr(code) => qr_answer(&code, "Scan this QR in WhatsApp → Linked Devices."),
        State::Failed(e) => {
            drop(g);
            active().remove(&k);
            json!({"message": format!("Failed to get QR: {e}")})
        }
        _ => json!({"message": "Failed to get QR: WhatsApp sent no code in time; try again."}),
    }
}

fn qr_answer(code: &str, message: &str) -> Value {
    match qr::png_data_url(code) {
        Ok(url) => json!({"qrDataUrl": url, "message": message}),
        Err(e) => json!({"message": format!("Failed to get QR: {e}")}),
    }
}

/// `web.login.wait {accountId?, timeoutMs?}` → `{connected, message}`; on success the
/// account starts.
pub async fn wait(ch: &Arc<Channels>, account_id: &str, timeout: Duration) -> Value {
    let k = runner::key(ch, account_id);
    let Some(l) = active().get(&k).cloned() else {
        return json!({"connected": false, "message": "No active WhatsApp login in progress."});
    };
    let state = l.lock().await.wait(timeout, State::done).await;
    match state {
        State::Linked { .. } => {
            active().remove(&k);
            let acct = account(ch, account_id);
            if !runner::running(ch, account_id) {
                ch.tasks.spawn(runner::run_account(ch.clone(), acct));
            }
            json!({"connected": true, "message": "✅ Linked! WhatsApp is ready."})
        }
        State::Failed(e) => {
            active().remove(&k);
            json!({"connected": false, "message": format!("WhatsApp login failed: {e}")})
        }
        _ => {
            json!({"connected": false, "message": "Still waiting for the QR scan. Let me know when you’ve scanned it."})
        }
    }
}
