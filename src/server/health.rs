//! The `health` summary and its cache.
//!
//! The original rebuilds and re-broadcasts health to every client on every `health`
//! call, which collapses at 1000 clients (spec reference §6). Here a call is answered from
//! the cache; at most one refresh runs at a time, and the `health` event goes out only
//! when the summary actually changed, plus once per maintenance interval.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::state::Gateway;
use crate::util::now_ms;

/// A cached answer younger than this is served without rebuilding.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// `{path, count, recent[≤5]}` of one agent's `sessions.json`.
pub fn session_store_summary(path: &Path, limit: usize) -> Value {
    let now = now_ms();
    let index = crate::sessions::read_index(path);
    let error = index.as_ref().err().cloned();
    let mut rows: Vec<(String, i64)> = match index {
        Ok(map) => map
            .into_iter()
            .filter(|(k, _)| k != "global" && k != "unknown")
            .map(|(k, v)| {
                let updated = v.get("updatedAt").and_then(Value::as_i64).unwrap_or(0);
                (k, updated)
            })
            .collect(),
        Err(_) => vec![],
    };
    let count = rows.len();
    rows.sort_by_key(|(_, u)| std::cmp::Reverse(*u));
    let recent: Vec<Value> = rows
        .into_iter()
        .take(limit)
        .map(|(key, updated)| json!({"key": key, "updatedAt": updated, "age": now - updated}))
        .collect();
    let mut out = json!({"path": path.display().to_string(), "count": count, "recent": recent});
    if let Some(e) = error {
        // A refused (newer-format) or corrupt store says so instead of looking empty.
        out["error"] = json!(e);
    }
    out
}

/// Builds the HealthSummary (spec §3.2) from the current config and state files.
pub fn build(gw: &Gateway) -> Value {
    let started = Instant::now();
    let rt = gw.runtime();
    let cfg = &rt.loaded.config;
    // What the heartbeat timer really does: `enabled` is false while it is paused
    // (`set-heartbeats`) or not running (`CLAWDBOT_SKIP_HEARTBEAT`).
    let beats = gw.heartbeats.summary(cfg);
    let default_id = cfg.default_agent_id();
    let every_ms = beats
        .iter()
        .find(|b| b.agent_id == default_id)
        .filter(|b| b.enabled)
        .map_or(0, |b| b.every_ms);
    let agents: Vec<Value> = beats
        .iter()
        .map(|b| {
            json!({
                "agentId": b.agent_id,
                "isDefault": b.agent_id == default_id,
                "heartbeat": b.to_json(),
                "sessions": session_store_summary(&gw.host.paths.sessions_store(&b.agent_id), 5),
            })
        })
        .collect();
    let channels = super::channels::health_channels(&rt.loaded.resolved, &gw.channels.status);
    json!({
        "ok": true,
        "ts": now_ms(),
        "durationMs": started.elapsed().as_millis() as u64,
        "channels": channels.0,
        "channelOrder": channels.1,
        "channelLabels": channels.2,
        "heartbeatSeconds": every_ms / 1000,
        "defaultAgentId": default_id,
        "agents": agents,
        "sessions": session_store_summary(&gw.host.paths.sessions_store(&default_id), 5),
        "stateFormat": crate::state_format::summary_json(&gw.host.paths.state_dir, &[&gw.cron.store_path]),
    })
}

/// The cached summary and the `stateVersion.health` counter.
#[derive(Debug)]
pub struct HealthCache {
    inner: std::sync::Mutex<Cached>,
    refreshing: AtomicBool,
}

#[derive(Debug)]
struct Cached {
    summary: Arc<Value>,
    /// `summary` serialised once per refresh: a `health` call splices it into its reply
    /// instead of cloning and re-serialising the tree (benches/gateway.rs: that was
    /// ~80% of the gateway's instructions per `health` call).
    json: Option<Arc<str>>,
    at: Instant,
    version: u64,
}

impl Default for HealthCache {
    fn default() -> Self {
        HealthCache {
            inner: std::sync::Mutex::new(Cached {
                summary: Arc::new(json!({})),
                json: None,
                at: Instant::now() - FRESH_FOR * 2,
                version: 1,
            }),
            refreshing: AtomicBool::new(false),
        }
    }
}

/// The summary without its timing fields, to tell a real change from a re-stamp.
fn essence(v: &Value) -> Value {
    fn strip_ages(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.remove("age");
                o.values_mut().for_each(strip_ages);
            }
            Value::Array(items) => items.iter_mut().for_each(strip_ages),
            _ => {}
        }
    }
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("ts");
        o.remove("durationMs");
    }
    strip_ages(&mut v);
    v
}

impl HealthCache {
    pub fn version(&self) -> u64 {
        self.inner.lock().map(|g| g.version).unwrap_or(1)
    }

    pub fn current(&self) -> (Arc<Value>, Duration) {
        match self.inner.lock() {
            Ok(g) => (g.summary.clone(), g.at.elapsed()),
            Err(_) => (Arc::new(json!({})), Duration::MAX),
        }
    }

    /// The summary as JSON text and its age; `None` before the first real summary.
    pub fn current_json(&self) -> Option<(Arc<str>, Duration)> {
        let g = self.inner.lock().ok()?;
        Some((g.json.clone()?, g.at.elapsed()))
    }

    /// Stores a new summary; returns true when it differs from the previous one.
    pub fn store(&self, summary: Value) -> bool {
        let json = summary
            .get("ok")
            .is_some()
            .then(|| Arc::<str>::from(summary.to_string()));
        let Ok(mut g) = self.inner.lock() else {
            return false;
        };
        let changed = essence(&g.summary) != essence(&summary);
        g.summary = Arc::new(summary);
        g.json = json;
        g.at = Instant::now();
        if changed {
            g.version += 1;
        }
        changed
    }

    /// Claims the single refresh slot; false when a refresh is already running.
    pub fn begin_refresh(&self) -> bool {
        !self.refreshing.swap(true, Ordering::AcqRel)
    }

    pub fn end_refresh(&self) {
        self.refreshing.store(false, Ordering::Release);
    }
}
