//! Heartbeats: the agent wakes on its own every `heartbeat.every` (30 min by default),
//! runs one turn in its main session with the heartbeat prompt (which points it at the
//! workspace's `HEARTBEAT.md`), and stays silent when it answers `HEARTBEAT_OK`; anything
//! else goes to the heartbeat's target (by default the last chat that talked to that
//! session). Rules in [`settings`]; this module is the timer and the delivery.
//!
//! One task runs every beat, so two never overlap; a beat queues behind a run already
//! going in the same session (the session's lock). Each agent's last beat is kept in
//! `<stateDir>/heartbeat/state.json`: after a restart the next beat is one interval after
//! the last one (a beat missed while down runs once, at start), so a crash-looping service
//! does not beat on every start. `set-heartbeats {enabled:false}` pauses them, `wake`
//! runs them now, `CLAWDBOT_SKIP_HEARTBEAT=1` never starts the timer.

pub mod identity;
pub mod settings;
pub mod visibility;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::agent::{RunRequest, run};
use crate::channels::Channels;
use crate::fsutil::write_json_private;
use crate::sessions::keys;
use crate::util::now_ms;
use settings::{Reply, Settings};

/// Text appended to the system prompt of a heartbeat turn.
const HEARTBEAT_SYSTEM: &str = "## Heartbeat\nThis turn is a scheduled heartbeat, not a message from the user. If nothing needs attention, reply exactly HEARTBEAT_OK and nothing else; otherwise reply only with what the user should see.";

/// The config is looked at again at least this often (a reload may change `every`).
const RECHECK: Duration = Duration::from_secs(30);

pub struct Heartbeats {
    ch: Arc<Channels>,
    enabled: AtomicBool,
    last: Mutex<Option<Value>>,
    state_path: PathBuf,
    last_runs: Mutex<HashMap<String, i64>>,
    /// The timer task runs (not `CLAWDBOT_SKIP_HEARTBEAT`).
    running: AtomicBool,
}

impl std::fmt::Debug for Heartbeats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Heartbeats")
    }
}

impl Heartbeats {
    pub fn new(ch: Arc<Channels>) -> Arc<Heartbeats> {
        let state_path = ch.host.paths.state_dir.join("heartbeat").join("state.json");
        // A newer-format file is not read and never rewritten (see `record_run`); the
        // timer then starts from "never ran", which only moves the first beat earlier.
        let last_runs = crate::state_format::read_json("heartbeat-state", &state_path)
            .ok()
            .flatten()
            .and_then(|v| {
                let agents = v.get("agents")?.as_object()?.clone();
                Some(
                    agents
                        .into_iter()
                        .filter_map(|(k, v)| Some((k, v.get("lastRunAtMs")?.as_i64()?)))
                        .collect(),
                )
            })
            .unwrap_or_default();
        Arc::new(Heartbeats {
            ch,
            enabled: AtomicBool::new(true),
            last: Mutex::new(None),
            state_path,
            last_runs: Mutex::new(last_runs),
            running: AtomicBool::new(false),
        })
    }

    /// Starts the timer on the gateway's task tracker (unless `CLAWDBOT_SKIP_HEARTBEAT=1`).
    pub fn start(self: &Arc<Self>) {
        if self.ch.env.get("CLAWDBOT_SKIP_HEARTBEAT") == Some("1") {
            tracing::info!(target: "heartbeat", "CLAWDBOT_SKIP_HEARTBEAT=1: heartbeats are off");
            return;
        }
        self.running.store(true, Ordering::Release);
        let me = self.clone();
        self.ch.tasks.spawn(async move { me.run_timer().await });
    }

    /// Whether beats happen at all: the timer runs and `set-heartbeats` did not pause it.
    pub fn active(&self) -> bool {
        self.running.load(Ordering::Acquire) && self.enabled.load(Ordering::Acquire)
    }

    /// `set-heartbeats`.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Release);
        tracing::info!(target: "heartbeat", "heartbeats {}", if on { "resumed" } else { "paused (set-heartbeats)" });
    }

    /// The last `heartbeat` event payload (`last-heartbeat`).
    pub fn last(&self) -> Option<Value> {
        lock(&self.last).clone()
    }

    /// `wake {mode, text}`: the text waits for the main session's next turn; `now` runs
    /// the heartbeats at once. False on empty text.
    pub fn wake(&self, mode: &str, text: &str) -> bool {
        if text.trim().is_empty() {
            return false;
        }
        let cfg = self.ch.host.config();
        let key = keys::main_key(&cfg.config, &cfg.config.default_agent_id());
        self.ch.host.agents.system_events.enqueue(&key, text);
        if mode == "now" {
            self.ch.host.agents.heartbeat_wake.notify_one();
        }
        true
    }

    /// Settings with the live state: `enabled` is false while paused or not running.
    pub fn summary(&self, cfg: &crate::config::Config) -> Vec<Settings> {
        let active = self.active();
        settings::all(cfg)
            .into_iter()
            .map(|mut s| {
                s.enabled &= active;
                s
            })
            .collect()
    }

    async fn run_timer(self: Arc<Self>) {
        let host = self.ch.host.clone();
        let mut due: HashMap<String, i64> = HashMap::new();
        loop {
            let cfg = host.config();
            let beating: Vec<Settings> = settings::all(&cfg.config)
                .into_iter()
                .filter(|s| s.enabled)
                .collect();
            drop(cfg);
            let now = now_ms();
            due.retain(|id, _| beating.iter().any(|s| &s.agent_id == id));
            for s in &beating {
                let every = s.every_ms as i64;
                let at = due.entry(s.agent_id.clone()).or_insert_with(|| {
                    match lock(&self.last_runs).get(&s.agent_id) {
                        Some(last) => (last + every).max(now),
                        None => now + every,
                    }
                });
                // A shorter interval after a reload takes effect at once.
                *at = (*at).min(now + every);
            }
            let next = due.values().min().copied();
            let wait = next
                .map(|t| Duration::from_millis((t - now).max(0) as u64))
                .unwrap_or(RECHECK)
                .min(RECHECK);
            let woken = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                _ = host.agents.heartbeat_wake.notified() => true,
                _ = host.cancel.cancelled() => return,
            };
            let now = now_ms();
            for s in &beating {
                let Some(at) = due.get(&s.agent_id).copied() else {
                    continue;
                };
                if !woken && at > now {
                    continue;
                }
                if self.enabled.load(Ordering::Acquire) {
                    let reason = if woken { "wake" } else { "interval" };
                    self.beat(s, reason).await;
                    if host.cancel.is_cancelled() {
                        return;
                    }
                    self.record_run(&s.agent_id, now_ms());
                }
                due.insert(s.agent_id.clone(), now_ms() + s.every_ms as i64);
            }
        }
    }

    fn record_run(&self, agent_id: &str, at: i64) {
        let mut runs = lock(&self.last_runs);
        runs.insert(agent_id.to_string(), at);
        let agents: Map<String, Value> = runs
            .iter()
            .map(|(k, v)| (k.clone(), json!({"lastRunAtMs": v})))
            .collect();
        if crate::state_format::is_refused(&self.state_path) {
            return;
        }
        if let Some(dir) = self.state_path.parent() {
            let _ = crate::fsutil::create_private_dir(dir);
        }
        if let Err(e) =
            write_json_private(&self.state_path, &json!({"version": 1, "agents": agents}))
        {
            tracing::warn!(target: "heartbeat", "cannot write {}: {e}", self.state_path.display());
        }
    }

    fn emit(&self, payload: Value) {
        self.emit_with(payload, true)
    }

    /// The `heartbeat` event, with an `indicatorType` when `indicator` (`useIndicator`).
    fn emit_with(&self, mut payload: Value, indicator: bool) {
        payload["ts"] = json!(now_ms());
        let indicator = match payload["status"].as_str().filter(|_| indicator) {
            Some("ok-empty" | "ok-token") => Some("ok"),
            Some("sent") => Some("alert"),
            Some("failed") => Some("error"),
            _ => None,
        };
        if let Some(i) = indicator {
            payload["indicatorType"] = json!(i);
        }
        match payload["status"].as_str() {
            Some("failed") => {
                tracing::warn!(target: "heartbeat", "heartbeat failed: {}", payload["reason"].as_str().unwrap_or("?"))
            }
            Some(st) => {
                tracing::info!(target: "heartbeat", "heartbeat {st}{}", payload["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default())
            }
            None => {}
        }
        self.ch
            .host
            .bus
            .send("heartbeat", payload.clone(), None, false);
        *lock(&self.last) = Some(payload);
    }

    /// One beat of one agent; the outcome is the `heartbeat` event.
    pub async fn beat(&self, s: &Settings, reason: &str) {
        let host = &self.ch.host;
        let started = now_ms();
        let took = || now_ms() - started;
        if !settings::within_active_hours(s.active_hours.as_ref(), started) {
            return self.emit(json!({"status": "skipped", "reason": "quiet-hours"}));
        }
        let cfg = host.config();
        let ws = crate::agent::workspace::dir(&cfg.resolved, &cfg.env, &s.agent_id);
        let main = keys::main_key(&cfg.config, &s.agent_id);
        let session_key = s.session.clone().unwrap_or_else(|| main.clone());
        let pending_events = host.agents.system_events.pending(&session_key) > 0;
        if !pending_events
            && let Ok(md) = std::fs::read_to_string(ws.join("HEARTBEAT.md"))
            && settings::effectively_empty(&md)
        {
            return self.emit(json!({"status": "skipped", "reason": "empty-heartbeat-file", "durationMs": took()}));
        }
        let target = self.target(s, &session_key);
        let vis = visibility::resolve(
            &cfg.resolved,
            target.as_ref().map(|(c, a, _)| (c.as_str(), a.as_str())),
        );
        drop(cfg);
        if vis.nothing() {
            return self.emit_with(
                json!({"status": "skipped", "reason": "alerts-disabled", "durationMs": took()}),
                false,
            );
        }
        let emit = |p: Value| self.emit_with(p, vis.use_indicator);
        let req = RunRequest {
            run_id: uuid::Uuid::new_v4().to_string(),
            agent_id: s.agent_id.clone(),
            session_key: session_key.clone(),
            message: s.prompt.clone(),
            idempotency_key: Some(format!("heartbeat:{}:{started}", s.agent_id)),
            origin: Map::new(),
            extra_system: Some(HEARTBEAT_SYSTEM.into()),
            cancel: host.cancel.child_token(),
            event_session_key: None,
            model: s.model.clone(),
        };
        let reply = match run(host, req).await {
            Ok(out) => out.text,
            Err(_) if host.cancel.is_cancelled() => return,
            Err(e) => {
                return emit(
                    json!({"status": "failed", "reason": e.message, "durationMs": took()}),
                );
            }
        };
        let text = match settings::classify(&reply, s.ack_max_chars) {
            Reply::Deliver(t) => t,
            ack => {
                let status = if matches!(ack, Reply::Empty) {
                    "ok-empty"
                } else {
                    "ok-token"
                };
                // showOk: the chat sees the acknowledgement too.
                let mut sent = false;
                if let (true, Some((channel, account, to))) = (vis.show_ok, &target) {
                    sent =
                        crate::channels::deliver(&self.ch, channel, account, to, settings::TOKEN)
                            .await
                            .is_ok();
                }
                return emit(
                    json!({"status": status, "reason": reason, "durationMs": took(), "silent": !sent}),
                );
            }
        };
        let preview: String = text.chars().take(200).collect();
        let Some((channel, account, to)) = target else {
            return emit(
                json!({"status": "skipped", "reason": "no-target", "preview": preview, "durationMs": took()}),
            );
        };
        let entry = host.agents.sessions.get(&s.agent_id, &session_key);
        if visibility::is_duplicate(entry.as_ref(), &text, started) {
            return emit(
                json!({"status": "skipped", "reason": "duplicate", "preview": preview, "durationMs": took(), "channel": channel}),
            );
        }
        if !vis.show_alerts {
            return emit(
                json!({"status": "skipped", "reason": "alerts-disabled", "preview": preview, "durationMs": took(), "channel": channel}),
            );
        }
        match crate::channels::deliver(&self.ch, &channel, &account, &to, &text).await {
            Ok(_) => {
                // Remembered for the duplicate rule (a failed write only loses that).
                let t = text.clone();
                if let Err(e) = host.agents.sessions.update(&s.agent_id, &session_key, |m| {
                    m.insert("lastHeartbeatText".into(), json!(t));
                    m.insert("lastHeartbeatSentAt".into(), json!(started));
                }) {
                    tracing::warn!(target: "heartbeat", "cannot remember the last heartbeat: {e}");
                }
                emit(
                    json!({"status": "sent", "to": to, "channel": channel, "preview": preview, "durationMs": took(), "hasMedia": false}),
                )
            }
            Err(e) => emit(
                json!({"status": "failed", "reason": e, "to": to, "channel": channel, "preview": preview, "durationMs": took()}),
            ),
        }
    }

    /// Where a beat's message goes: `(channel, account, to)`, or none.
    fn target(&self, s: &Settings, session_key: &str) -> Option<(String, String, String)> {
        let account = s.account_id.clone();
        match s.target.as_str() {
            "none" => None,
            "last" => {
                let e = self.ch.host.agents.sessions.get(&s.agent_id, session_key)?;
                let channel = e.get("lastChannel")?.as_str()?.to_string();
                crate::channels::kinds::kind(&channel)?;
                let to =
                    s.to.clone()
                        .or_else(|| e.get("lastTo")?.as_str().map(String::from))?;
                let acct = account
                    .or_else(|| e.get("lastAccountId")?.as_str().map(String::from))
                    .unwrap_or_else(|| "default".into());
                Some((channel, acct, to))
            }
            ch => {
                let kind = crate::channels::kinds::kind(ch)?;
                Some((
                    kind.id.to_string(),
                    account.unwrap_or_else(|| "default".into()),
                    s.to.clone()?,
                ))
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
