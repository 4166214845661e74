//! One running account, apart from the network: the library's events in (its own
//! [`Event`] values), status and answers out through a [`WaSend`]. The live runner feeds
//! it from the library's client; tests feed it events built from the library's types
//! and a recording sender, which is the whole boundary.
//!
//! Exactly once across `kill -9`: the library asks [`Session::commit`] (its inbound
//! durability hook) to store a batch before it acknowledges it to WhatsApp; the batch
//! goes to the account's inbox (fsynced) first, so a crash before the ack makes
//! WhatsApp redeliver (and the inbox refuses the duplicate), a crash after it replays
//! from the inbox on the next start, and the idempotency key finds the message's turn
//! in the transcript so it is answered once.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use whatsapp_rust::types::events::{Event, InboundMessage};

use super::creds::Creds;
use super::inbound::{Me, Wa, decode, item_key};
use super::send::WaSend;
use super::settings::Settings;
use crate::channels::Channels;
use crate::channels::accounts::Account;
use crate::channels::conversation::Outcome;
use crate::channels::inbox::{Inbox, Order};
use crate::channels::worker::{Handler, Queues, Reporter};

/// The line `channels.status` shows for an account with no linked device.
pub fn not_linked(account: &str) -> String {
    let flag = if account == "default" {
        String::new()
    } else {
        format!(" --account {account}")
    };
    format!(
        "WhatsApp is not linked: run `clawdbot channels login --channel whatsapp{flag}` and scan the QR code with the phone"
    )
}

/// What the runner should do after an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// The phone unlinked this device (or WhatsApp refused the session): stop and wait
    /// for a new link.
    LoggedOut,
}

pub struct Worker<S: WaSend> {
    pub wa: Wa<S>,
    pub inbox: Inbox,
}

impl<S: WaSend> Handler for Worker<S> {
    fn reporter(&self) -> &Reporter {
        &self.wa.rep
    }
    fn inbox(&self) -> &Inbox {
        &self.inbox
    }
    fn key(&self, item: &Value) -> i64 {
        item_key(item).unwrap_or_default()
    }
    async fn handle(&self, item: &Value) -> Outcome {
        self.wa.handle(item).await
    }
}

pub struct Session<S: WaSend> {
    pub worker: Arc<Worker<S>>,
    queues: Mutex<Queues<Worker<S>>>,
    creds: Creds,
}

/// The account's inbox (`<state>/whatsapp/inbox-<account>.json`).
pub fn open_inbox(state_dir: &std::path::Path, account: &str) -> Result<Inbox, String> {
    Inbox::open(
        state_dir,
        "whatsapp",
        account,
        Order::Unordered,
        item_key,
        None,
    )
}

impl<S: WaSend> Session<S> {
    /// Opens the account's inbox and replays what a previous run left unanswered.
    pub fn open(
        ch: Arc<Channels>,
        account: Account,
        send: S,
        creds: Creds,
    ) -> Result<Self, String> {
        let rep = Reporter {
            ch: ch.clone(),
            kind: account.kind,
            account: account.id.clone(),
        };
        let inbox = open_inbox(&ch.host.paths.state_dir, &account.id)?;
        let me = creds
            .linked()
            .map(|l| Me {
                pn: l["jid"].as_str().and_then(|j| j.parse().ok()),
                lid: l["lid"].as_str().and_then(|j| j.parse().ok()),
            })
            .unwrap_or_default();
        let worker = Arc::new(Worker {
            wa: Wa {
                rep,
                account,
                send,
                me: std::sync::RwLock::new(me),
            },
            inbox,
        });
        let mut queues = Queues::new(worker.clone());
        let pending = worker.inbox.pending();
        if !pending.is_empty() {
            tracing::info!(target: "channels", "[whatsapp] account {}: replaying {} message(s) left from the last run", worker.wa.account.id, pending.len());
        }
        for m in pending {
            queues.dispatch(peer(&m), m);
        }
        Ok(Session {
            worker,
            queues: Mutex::new(queues),
            creds,
        })
    }

    pub fn reporter(&self) -> &Reporter {
        &self.worker.wa.rep
    }

    pub fn set_me(&self, me: Me) {
        *self.worker.wa.me.write().unwrap_or_else(|p| p.into_inner()) = me;
    }

    /// Stores a batch durably, then hands the new messages to their chats' queues. An
    /// error means nothing was stored: the library must not acknowledge the batch.
    pub fn commit(&self, batch: &[InboundMessage]) -> Result<(), String> {
        let wa = &self.worker.wa;
        let me = wa.me.read().unwrap_or_else(|p| p.into_inner()).clone();
        let settings = Settings::from_section(&wa.account.section);
        let items: Vec<(i64, Value)> = batch
            .iter()
            .filter_map(|m| decode(m, &me, &settings))
            .filter_map(|v| Some((item_key(&v)?, v)))
            .collect();
        if items.is_empty() {
            return Ok(());
        }
        let fresh = match self.worker.inbox.accept(items) {
            Ok(f) => f,
            Err(e) => {
                wa.rep.update(|s| {
                    s.store_error = Some(e.clone());
                    s.last_error = Some(e.clone());
                });
                return Err(e);
            }
        };
        let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        for m in fresh {
            q.dispatch(peer(&m), m);
        }
        Ok(())
    }

    /// Reacts to one library event: status, messages the hook did not already commit.
    pub fn on_event(&self, ev: &Event) -> Next {
        let rep = self.reporter();
        let id = &self.worker.wa.account.id;
        match ev {
            Event::Connected(_) => {
                let linked = self.creds.linked();
                tracing::info!(target: "channels", "[whatsapp] account {id}: connected");
                rep.update(|s| {
                    s.running = true;
                    s.connected = true;
                    s.linked = Some(true);
                    s.last_error = None;
                    if let Some(l) = &linked {
                        s.bot = Some(json!({"id": l["jid"], "e164": super::creds::self_e164(l), "name": l["pushName"]}));
                    }
                });
            }
            Event::Disconnected(d) => {
                let why = format!("disconnected from WhatsApp ({}); reconnecting", d.reason);
                tracing::warn!(target: "channels", "[whatsapp] account {id}: {why}");
                rep.update(|s| {
                    s.connected = false;
                    s.last_error = Some(why);
                });
            }
            Event::LoggedOut(l) => {
                tracing::error!(target: "channels", "[whatsapp] account {id}: logged out ({:?}); the device is unlinked", l.reason);
                if let Err(e) = self.creds.remove() {
                    tracing::warn!(target: "channels", "[whatsapp] account {id}: {e}");
                }
                rep.update(|s| {
                    s.running = false;
                    s.connected = false;
                    s.linked = Some(false);
                    s.bot = None;
                    s.last_error = Some(format!(
                        "logged out from the phone (WhatsApp > Linked devices); {}",
                        not_linked(id)
                    ));
                });
                return Next::LoggedOut;
            }
            Event::StreamReplaced(_) => {
                let why = "another client took over this session (stream replaced); is a second gateway using the same credentials?";
                tracing::error!(target: "channels", "[whatsapp] account {id}: {why}");
                rep.update(|s| {
                    s.connected = false;
                    s.last_error = Some(why.into());
                });
            }
            Event::TemporaryBan(b) => {
                let why = format!("WhatsApp temporarily banned this account: {b:?}");
                rep.update(|s| {
                    s.connected = false;
                    s.last_error = Some(why);
                });
            }
            Event::ClientOutdated(_) => {
                rep.update(|s| {
                    s.connected = false;
                    s.last_error =
                        Some("WhatsApp refused this client version (client outdated)".into());
                });
            }
            Event::Messages(batch) if !batch.hook_committed => {
                let msgs: Vec<InboundMessage> = batch.iter().cloned().collect();
                if let Err(e) = self.commit(&msgs) {
                    tracing::error!(target: "channels", "[whatsapp] account {id}: {e}");
                }
            }
            _ => {}
        }
        Next::Continue
    }
}

/// The per-peer queue a message waits in: its chat.
fn peer(m: &Value) -> String {
    m["chat"].as_str().unwrap_or_default().to_string()
}
