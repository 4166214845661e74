//! What the `cron.*` methods do (the original's src/cron/service/ops.ts). Every change
//! is persisted before it is answered, wakes the timer, and is announced on the bus.

use std::sync::Arc;

use serde_json::{Value, json};

use super::types::{Job, JobState, Payload, Schedule};
use super::{Cron, declared, job_next_run, next_wake, runlog, schedule};

/// `cron.add` params after the method's own key check.
pub struct AddInput {
    pub name: String,
    pub agent_id: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub delete_after_run: Option<bool>,
    pub schedule: Value,
    pub session_target: String,
    pub wake_mode: String,
    pub payload: Value,
    pub isolation: Option<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Due,
    Force,
}

/// The original's schemas have no extra keys; the store keeps what it finds (so an
/// older file still loads), but a request naming a key we would ignore is refused.
fn only_keys(what: &str, v: &Value, allowed: &[&str]) -> Result<(), String> {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("?");
    match v
        .as_object()
        .and_then(|o| o.keys().find(|k| !allowed.contains(&k.as_str())))
    {
        Some(k) => Err(format!(
            "unexpected property '{what}.{k}' for kind \"{kind}\""
        )),
        None => Ok(()),
    }
}

pub(super) fn parse_schedule(v: Value) -> Result<Schedule, String> {
    match v.get("kind").and_then(Value::as_str) {
        Some("at") => only_keys("schedule", &v, &["kind", "atMs"])?,
        Some("every") => only_keys("schedule", &v, &["kind", "everyMs", "anchorMs"])?,
        Some("cron") => only_keys("schedule", &v, &["kind", "expr", "tz"])?,
        _ => {}
    }
    let s: Schedule = serde_json::from_value(v).map_err(|e| {
        format!("invalid schedule: {e} (use {{kind:\"at\",atMs}}, {{kind:\"every\",everyMs}} or {{kind:\"cron\",expr,tz?}})")
    })?;
    schedule::validate(&s)?;
    Ok(s)
}

pub(super) fn parse_payload(v: Value) -> Result<Payload, String> {
    match v.get("kind").and_then(Value::as_str) {
        Some("systemEvent") => only_keys("payload", &v, &["kind", "text"])?,
        Some("agentTurn") => only_keys(
            "payload",
            &v,
            &[
                "kind",
                "message",
                "model",
                "thinking",
                "timeoutSeconds",
                "allowUnsafeExternalContent",
                "deliver",
                "channel",
                "to",
                "bestEffortDeliver",
            ],
        )?,
        _ => {}
    }
    serde_json::from_value(v).map_err(|e| {
        format!("invalid payload: {e} (use {{kind:\"systemEvent\",text}} or {{kind:\"agentTurn\",message}})")
    })
}

pub(super) fn check_wake_mode(m: &str) -> Result<(), String> {
    match m {
        "now" | "next-heartbeat" => Ok(()),
        _ => Err(format!(
            "invalid wakeMode \"{m}\" (use \"now\" or \"next-heartbeat\")"
        )),
    }
}

fn to_json(job: &Job) -> Value {
    serde_json::to_value(job).unwrap_or(Value::Null)
}

impl Cron {
    pub async fn list(&self, include_disabled: bool) -> Value {
        let inner = self.state.lock().await;
        let mut jobs: Vec<&Job> = inner
            .file
            .jobs
            .iter()
            .filter(|j| include_disabled || j.enabled)
            .collect();
        jobs.sort_by_key(|j| j.state.next_run_at_ms.unwrap_or(0));
        json!({"jobs": jobs.into_iter().map(to_json).collect::<Vec<_>>()})
    }

    pub async fn status(&self) -> Value {
        let inner = self.state.lock().await;
        let next = if self.enabled {
            next_wake(&inner.file.jobs)
        } else {
            None
        };
        let mut out = json!({
            "enabled": self.enabled,
            "storePath": self.store_path.display().to_string(),
            "jobs": inner.file.jobs.len(),
            "nextWakeAtMs": next,
        });
        if !inner.declared_errors.is_empty() {
            out["declaredErrors"] = json!(inner.declared_errors);
        }
        out
    }

    pub async fn add(&self, input: AddInput) -> Result<Value, String> {
        let name = input.name.trim().to_string();
        if name.is_empty() {
            return Err("name is required".into());
        }
        check_wake_mode(&input.wake_mode)?;
        let now = crate::util::now_ms();
        let mut job = Job {
            id: uuid::Uuid::new_v4().to_string(),
            agent_id: input.agent_id.filter(|a| !a.trim().is_empty()),
            name,
            description: input.description.filter(|d| !d.trim().is_empty()),
            enabled: input.enabled,
            delete_after_run: input.delete_after_run,
            created_at_ms: now,
            updated_at_ms: now,
            schedule: parse_schedule(input.schedule)?,
            session_target: input.session_target,
            wake_mode: input.wake_mode,
            payload: parse_payload(input.payload)?,
            isolation: input.isolation,
            state: JobState::default(),
        };
        job.check_spec()?;
        job.state.next_run_at_ms = job_next_run(&job, now);
        let mut inner = self.state.lock().await;
        inner.file.jobs.push(job.clone());
        if let Err(e) = self.persist(&inner) {
            inner.file.jobs.pop();
            return Err(e);
        }
        drop(inner);
        self.wake.notify_one();
        self.emit(
            json!({"jobId": job.id, "action": "added", "nextRunAtMs": job.state.next_run_at_ms}),
        );
        Ok(to_json(&job))
    }

    pub async fn update(
        &self,
        id: &str,
        patch: &serde_json::Map<String, Value>,
    ) -> Result<Value, String> {
        if declared::is_declared(id) {
            return Err(declared::refusal(id, self.ch.host.nix.enabled));
        }
        let mut inner = self.state.lock().await;
        let idx = inner
            .file
            .jobs
            .iter()
            .position(|j| j.id == id)
            .ok_or_else(|| format!("unknown cron job id: {id}"))?;
        let mut job = inner.file.jobs[idx].clone();
        for (k, v) in patch {
            match k.as_str() {
                "name" => {
                    job.name = v
                        .as_str()
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .ok_or("patch.name must be a non-empty string")?
                        .to_string()
                }
                "description" => job.description = v.as_str().map(str::to_string),
                "agentId" => {
                    job.agent_id = v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
                }
                "enabled" => job.enabled = v.as_bool().ok_or("patch.enabled must be boolean")?,
                "deleteAfterRun" => {
                    job.delete_after_run =
                        Some(v.as_bool().ok_or("patch.deleteAfterRun must be boolean")?)
                }
                "schedule" => job.schedule = parse_schedule(v.clone())?,
                "sessionTarget" => {
                    job.session_target = v
                        .as_str()
                        .ok_or("patch.sessionTarget must be a string")?
                        .to_string()
                }
                "wakeMode" => {
                    let m = v.as_str().ok_or("patch.wakeMode must be a string")?;
                    check_wake_mode(m)?;
                    job.wake_mode = m.to_string();
                }
                "payload" => job.payload = merge_payload(&job.payload, v)?,
                "isolation" => job.isolation = Some(v.clone()),
                "state" => {
                    let mut s = serde_json::to_value(&job.state).unwrap_or_default();
                    if let (Some(o), Some(p)) = (s.as_object_mut(), v.as_object()) {
                        o.extend(p.clone());
                    }
                    job.state = serde_json::from_value(s)
                        .map_err(|e| format!("invalid patch.state: {e}"))?;
                }
                other => return Err(format!("unexpected property 'patch.{other}'")),
            }
        }
        job.check_spec()?;
        let now = crate::util::now_ms();
        job.updated_at_ms = now;
        if job.enabled {
            job.state.next_run_at_ms = job_next_run(&job, now);
        } else {
            job.state.next_run_at_ms = None;
        }
        let old = std::mem::replace(&mut inner.file.jobs[idx], job.clone());
        if let Err(e) = self.persist(&inner) {
            inner.file.jobs[idx] = old;
            return Err(e);
        }
        drop(inner);
        self.wake.notify_one();
        self.emit(
            json!({"jobId": id, "action": "updated", "nextRunAtMs": job.state.next_run_at_ms}),
        );
        Ok(to_json(&job))
    }

    pub async fn remove(&self, id: &str) -> Result<Value, String> {
        if declared::is_declared(id) {
            return Err(declared::refusal(id, self.ch.host.nix.enabled));
        }
        let mut inner = self.state.lock().await;
        let before = inner.file.jobs.len();
        inner.file.jobs.retain(|j| j.id != id);
        let removed = inner.file.jobs.len() != before;
        if removed {
            self.persist(&inner)?;
        }
        drop(inner);
        if removed {
            self.wake.notify_one();
            self.emit(json!({"jobId": id, "action": "removed"}));
        }
        Ok(json!({"ok": true, "removed": removed}))
    }

    /// Runs a job now (`force`) or only if it is due, and answers when it finished.
    pub async fn run(self: &Arc<Self>, id: &str, mode: RunMode) -> Result<Value, String> {
        let now = crate::util::now_ms();
        let mut inner = self.state.lock().await;
        let job = inner
            .file
            .jobs
            .iter()
            .find(|j| j.id == id)
            .ok_or_else(|| format!("unknown cron job id: {id}"))?;
        if job.state.running_at_ms.is_some() {
            return Ok(json!({"ok": true, "ran": false, "reason": "already-running"}));
        }
        let due = job.enabled && job.state.next_run_at_ms.is_some_and(|t| now >= t);
        if mode == RunMode::Due && !due {
            return Ok(json!({"ok": true, "ran": false, "reason": "not-due"}));
        }
        let Some(job) = self.begin(&mut inner, id, now) else {
            return Err(format!("unknown cron job id: {id}"));
        };
        self.persist(&inner)?;
        drop(inner);
        self.wake.notify_one();
        self.execute(job, now).await;
        Ok(json!({"ok": true, "ran": true}))
    }

    pub fn runs(&self, id: &str, limit: usize) -> Value {
        let entries = runlog::read(&runlog::path(&self.store_path, id), limit);
        json!({"entries": entries})
    }
}

/// A payload patch of the same kind overlays the existing payload; another kind
/// replaces it (and must be complete).
fn merge_payload(existing: &Payload, patch: &Value) -> Result<Payload, String> {
    let mut base = serde_json::to_value(existing).map_err(|e| e.to_string())?;
    let same = patch.get("kind").is_none() || patch.get("kind") == base.get("kind");
    if !same {
        return parse_payload(patch.clone());
    }
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        b.extend(p.clone());
    }
    parse_payload(base)
}
