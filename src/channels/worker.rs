//! The durable part of every channel: messages wait in the account's [`Inbox`] until
//! answered, one queue per peer keeps a chat's answers in order while different chats
//! are served at once, and failures that clear by themselves (a full disk, the platform
//! down) are retried with backoff and shown in `channels.status` meanwhile.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use super::Channels;
use super::conversation::Outcome;
use super::inbox::Inbox;
use super::kinds::Kind;

/// Retry delays with ±25 % jitter.
#[derive(Debug)]
pub struct Backoff {
    first: f64,
    cap: f64,
    next: f64,
}

impl Backoff {
    /// Network and API failures: 2 s growing ×1.8 to 30 s.
    pub fn network() -> Backoff {
        Backoff {
            first: 2.0,
            cap: 30.0,
            next: 2.0,
        }
    }

    /// Local storage (a full disk): 0.5 s to 5 s, so messages flow again soon after
    /// space returns.
    pub fn storage() -> Backoff {
        Backoff {
            first: 0.5,
            cap: 5.0,
            next: 0.5,
        }
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }

    pub fn step(&mut self) -> Duration {
        use rand::Rng;
        let base = self.next;
        self.next = (self.next * 1.8).min(self.cap);
        let jitter = rand::thread_rng().gen_range(-0.25..=0.25);
        Duration::from_secs_f64(base * (1.0 + jitter))
    }
}

/// One account's view of the status registry, with the retry helpers every runner uses.
#[derive(Clone)]
pub struct Reporter {
    pub ch: Arc<Channels>,
    pub kind: &'static Kind,
    pub account: String,
}

impl Reporter {
    pub fn update(&self, f: impl FnOnce(&mut super::AccountStatus)) {
        self.ch.status.update(self.kind.id, &self.account, f);
    }

    /// The account cannot run (a rejected token, an unusable state dir): logged once,
    /// shown in `channels.status` until a restart.
    pub fn fatal(&self, msg: String) {
        tracing::error!(target: "channels", "[{}] account {}: {msg}", self.kind.id, self.account);
        self.update(|s| {
            s.running = false;
            s.connected = false;
            s.last_error = Some(msg);
        });
    }

    pub fn stopped(&self) {
        self.update(|s| {
            s.running = false;
            s.connected = false;
        });
    }

    /// Records a connection error, logs it once per distinct message, sleeps the
    /// backoff. False when the gateway is shutting down.
    pub async fn wait_retry(
        &self,
        msg: &str,
        backoff: &mut Backoff,
        last_logged: &mut Option<String>,
    ) -> bool {
        let delay = backoff.step();
        if last_logged.as_deref() != Some(msg) {
            tracing::warn!(target: "channels", "[{}] account {}: {msg}; retrying (backoff up to 30s)", self.kind.id, self.account);
            *last_logged = Some(msg.to_string());
        }
        self.update(|s| {
            s.connected = false;
            s.last_error = Some(msg.to_string());
        });
        self.sleep(delay).await
    }

    /// Sleeps unless the gateway shuts down first (then false).
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.ch.host.cancel.cancelled() => false,
        }
    }

    /// A write to the state dir failed: report it (`lastError` and `storeError`), log it
    /// when it starts, sleep the storage backoff. False on shutdown.
    pub async fn store_failed(&self, msg: &str, backoff: &mut Backoff) -> bool {
        self.report_and_wait(msg, true, backoff).await
    }

    /// Reports a failure that clears by itself (in `lastError`, and in `storeError` when
    /// `storage`), logs it when it starts, and sleeps `backoff`. False on shutdown.
    pub async fn report_and_wait(&self, msg: &str, storage: bool, backoff: &mut Backoff) -> bool {
        let mut first = false;
        self.update(|s| {
            first = s.last_error.as_deref() != Some(msg);
            if storage {
                s.store_error = Some(msg.to_string());
            }
            s.last_error = Some(msg.to_string());
        });
        if first {
            tracing::error!(target: "channels", "[{}] account {}: {msg}; the message is kept and retried", self.kind.id, self.account);
        }
        self.sleep(backoff.step()).await
    }

    /// A write succeeded: clear a storage error reported earlier.
    pub fn store_ok(&self, backoff: &mut Backoff) {
        backoff.reset();
        if self
            .ch
            .status
            .get(self.kind.id, &self.account)
            .is_some_and(|s| s.store_error.is_some())
        {
            tracing::info!(target: "channels", "[{}] account {}: the state dir takes writes again", self.kind.id, self.account);
            self.update(|s| {
                if s.last_error == s.store_error {
                    s.last_error = None;
                }
                s.store_error = None;
            });
        }
    }
}

/// What a channel's worker does with one stored item.
pub trait Handler: Send + Sync + 'static {
    fn reporter(&self) -> &Reporter;
    fn inbox(&self) -> &Inbox;
    /// The item's inbox key.
    fn key(&self, item: &Value) -> i64;
    /// Answers the item (or drops it).
    fn handle(&self, item: &Value) -> impl Future<Output = Outcome> + Send;
}

/// Per-peer queues of one account.
pub struct Queues<H: Handler> {
    handler: Arc<H>,
    workers: HashMap<String, mpsc::UnboundedSender<Value>>,
}

impl<H: Handler> Queues<H> {
    pub fn new(handler: Arc<H>) -> Queues<H> {
        Queues {
            handler,
            workers: HashMap::new(),
        }
    }

    /// Hands a stored item to its peer's worker (started on first use).
    pub fn dispatch(&mut self, peer: String, item: Value) {
        let item = match self.workers.get(&peer) {
            Some(tx) => match tx.send(item) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            None => item,
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
        let _ = tx.send(item);
        self.workers.insert(peer, tx);
        let h = self.handler.clone();
        let ch = h.reporter().ch.clone();
        ch.tasks.spawn(async move {
            while let Some(u) = rx.recv().await {
                if !work(&*h, &u).await || h.reporter().ch.host.cancel.is_cancelled() {
                    break;
                }
            }
        });
    }
}

/// Answers one item until it is done, then marks it done in the inbox right away (the
/// mark is what ends the at-least-once window). A failure that clears by itself is
/// retried with backoff; the item stays in the inbox meanwhile. False on shutdown.
async fn work<H: Handler>(h: &H, item: &Value) -> bool {
    let rep = h.reporter();
    let mut backoff = Backoff::storage();
    loop {
        match h.handle(item).await {
            Outcome::Done => break,
            // Shutting down mid-run: the item stays in the inbox for the next start.
            Outcome::Retry => return false,
            Outcome::Later { message, storage } => {
                if !rep.report_and_wait(&message, storage, &mut backoff).await {
                    return false;
                }
            }
        }
    }
    let mut r = h.inbox().done(h.key(item));
    while let Err(e) = r {
        if !rep.store_failed(&e, &mut backoff).await {
            return false;
        }
        r = h.inbox().flush();
    }
    rep.store_ok(&mut backoff);
    true
}
