//! Agent runs: one message in, the model (with fallbacks and tools) until it answers,
//! the transcript appended as it goes. Runs for one session queue in arrival order
//! (a fair lock per session); `agents.defaults.maxConcurrent` bounds runs overall.

pub mod approvals;
mod commands;
mod events;
pub mod exec;
mod host;
mod run;
pub mod skills;
pub mod system_events;
pub mod tools;
pub mod workspace;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

pub use host::Host;
pub use run::{RunError, RunOutput, RunRequest, run, run_queued};

use crate::llm::fallback::Cooldowns;
use crate::sessions::Sessions;

type Turn = std::pin::Pin<Box<dyn Future<Output = tokio::sync::OwnedMutexGuard<()>> + Send>>;

/// A place in a session's queue; await [`Ticket::turn`] for the session to be free.
pub struct Ticket {
    fut: Turn,
    ready: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ticket")
    }
}

impl Ticket {
    pub async fn turn(self) -> tokio::sync::OwnedMutexGuard<()> {
        match self.ready {
            Some(g) => g,
            None => self.fut.await,
        }
    }
}

/// How long finished results stay available to `agent.wait` and idempotent retries.
pub const RESULT_TTL_MS: i64 = 5 * 60 * 1000;
const RESULT_MAX: usize = 1000;

struct Active {
    session_key: String,
    cancel: CancellationToken,
    started_at: i64,
}

pub struct Agents {
    pub sessions: Sessions,
    pub http: reqwest::Client,
    pub cooldowns: Cooldowns,
    pub approvals: approvals::Approvals,
    /// Lines for a session's next turn (cron `systemEvent`, `wake`).
    pub system_events: system_events::SystemEvents,
    /// Wakes the heartbeat runner now (`wake {mode:"now"}`, a cron job's `wakeMode: "now"`).
    pub heartbeat_wake: tokio::sync::Notify,
    slots: Arc<Semaphore>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    active: Mutex<HashMap<String, Active>>,
    finished: Mutex<HashMap<String, (i64, Value)>>,
    done: broadcast::Sender<String>,
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Agents")
    }
}

impl Agents {
    pub fn new(state_dir: &std::path::Path, max_concurrent: usize) -> Agents {
        Agents {
            sessions: Sessions::new(state_dir),
            http: crate::llm::http_client(),
            cooldowns: Cooldowns::default(),
            approvals: approvals::Approvals::default(),
            system_events: Default::default(),
            heartbeat_wake: tokio::sync::Notify::new(),
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            locks: Mutex::new(HashMap::new()),
            active: Mutex::new(HashMap::new()),
            finished: Mutex::new(HashMap::new()),
            done: broadcast::channel(256).0,
        }
    }

    fn session_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.locks)
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Takes a place in the session's queue now (the order runs start in is the order
    /// of these calls, not of the tasks that later wait for their turn).
    pub fn enqueue(&self, session_key: &str) -> Ticket {
        let mut fut: Turn = Box::pin(self.session_lock(session_key).lock_owned());
        // The first poll registers the waiter in the mutex's FIFO queue.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let ready = match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(g) => Some(g),
            std::task::Poll::Pending => None,
        };
        Ticket { fut, ready }
    }

    pub fn register(&self, run_id: &str, session_key: &str, cancel: CancellationToken) {
        lock(&self.active).insert(
            run_id.to_string(),
            Active {
                session_key: session_key.to_string(),
                cancel,
                started_at: crate::util::now_ms(),
            },
        );
    }

    fn finish(&self, run_id: &str, result: Value) {
        lock(&self.active).remove(run_id);
        let now = crate::util::now_ms();
        let mut f = lock(&self.finished);
        f.retain(|_, (at, _)| now - *at < RESULT_TTL_MS);
        if f.len() >= RESULT_MAX
            && let Some(oldest) = f
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
        {
            f.remove(&oldest);
        }
        f.insert(run_id.to_string(), (now, result));
        drop(f);
        let _ = self.done.send(run_id.to_string());
    }

    /// Keeps a result for [`RESULT_TTL_MS`] under `key` (method-level dedupe).
    pub fn remember(&self, key: &str, result: Value) {
        self.finish(key, result);
    }

    /// Cancels one run wherever it is.
    pub fn abort_run(&self, run_id: &str) {
        if let Some(a) = lock(&self.active).get(run_id) {
            a.cancel.cancel();
        }
    }

    /// The stored result of a finished run.
    pub fn result(&self, run_id: &str) -> Option<Value> {
        lock(&self.finished).get(run_id).map(|(_, v)| v.clone())
    }

    pub fn is_active(&self, run_id: &str) -> bool {
        lock(&self.active).contains_key(run_id)
    }

    pub fn started_at(&self, run_id: &str) -> Option<i64> {
        lock(&self.active).get(run_id).map(|a| a.started_at)
    }

    pub fn active_for(&self, session_key: &str) -> Vec<String> {
        lock(&self.active)
            .iter()
            .filter(|(_, a)| a.session_key == session_key)
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn session_of(&self, run_id: &str) -> Option<String> {
        lock(&self.active)
            .get(run_id)
            .map(|a| a.session_key.clone())
    }

    /// Cancels the session's runs (or one of them); returns the ids aborted.
    pub fn abort(&self, session_key: &str, run_id: Option<&str>) -> Vec<String> {
        let active = lock(&self.active);
        let mut ids = vec![];
        for (id, a) in active.iter() {
            if a.session_key == session_key && run_id.is_none_or(|r| r == id) {
                a.cancel.cancel();
                ids.push(id.clone());
            }
        }
        ids
    }

    /// Waits until `run_id` finishes (or `timeout`); `None` on timeout.
    pub async fn wait(&self, run_id: &str, timeout: std::time::Duration) -> Option<Value> {
        let mut rx = self.done.subscribe();
        if let Some(v) = self.result(run_id) {
            return Some(v);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => return None,
                Ok(Ok(id)) if id == run_id => return self.result(run_id),
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Ok(_) => {
                    if let Some(v) = self.result(run_id) {
                        return Some(v);
                    }
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
