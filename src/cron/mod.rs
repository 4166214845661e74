//! Cron: jobs that wake the assistant on a schedule (the original's src/cron/).
//!
//! One service per gateway: the job list lives in memory behind one lock and is
//! written through to the store on every change. One timer task sleeps until the
//! earliest `nextRunAtMs` (or a change wakes it), then starts every due job on the
//! gateway's task tracker.
//!
//! Delivery guarantee: **at most once per slot**. Before a run starts, the job's
//! `runningAtMs`, `lastRunAtMs` and its *next* `nextRunAtMs` are persisted; a gateway
//! killed mid-run finds `runningAtMs` on restart, records the run as interrupted and
//! does not run that slot again. (The original marks running the same way.) A slot
//! missed while the gateway was down keeps its past `nextRunAtMs`, so it runs once on
//! start, and the next slot is then computed from the current time: one catch-up run,
//! never one per missed slot.

pub mod declared;
mod ops;
pub mod run;
pub mod runlog;
pub mod schedule;
pub mod store;
pub mod types;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Mutex, Notify};

use crate::channels::Channels;
use types::{Job, Schedule, StoreFile};

pub use ops::{AddInput, RunMode};

/// A run whose marker is older than this is stuck, not running (the original's 2 h).
const STUCK_RUN_MS: i64 = 2 * 60 * 60 * 1000;
/// The longest single sleep; the timer re-checks at least this often.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

pub struct Cron {
    ch: Arc<Channels>,
    pub store_path: PathBuf,
    /// False with `cron.enabled=false` or `CLAWDBOT_SKIP_CRON=1`: methods still answer,
    /// the timer never runs.
    pub enabled: bool,
    state: Mutex<Inner>,
    wake: Notify,
    /// `cron.maxConcurrentRuns` (default 1, as the original's cron lane): agent turns of
    /// jobs run at most this many at a time; the size it was made for, re-read per run.
    lane: std::sync::Mutex<(usize, Arc<tokio::sync::Semaphore>)>,
}

struct Inner {
    file: StoreFile,
    /// The invalid `cron.jobs` declarations of the config in force (shown by status).
    declared_errors: Vec<String>,
    /// Why the store could not be read: writes are refused so a bad file is never
    /// replaced by an empty list.
    load_error: Option<String>,
}

impl std::fmt::Debug for Cron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cron")
            .field("store", &self.store_path)
            .finish_non_exhaustive()
    }
}

impl Cron {
    /// Reads `cron.enabled`, `cron.store` and `CLAWDBOT_SKIP_CRON`, and loads the store.
    pub fn new(ch: Arc<Channels>) -> Arc<Cron> {
        let cfg = ch.host.config();
        let cron_cfg = cfg.resolved.get("cron");
        let configured_off = cron_cfg
            .and_then(|c| c.get("enabled"))
            .and_then(Value::as_bool)
            == Some(false);
        let skip = matches!(
            ch.env
                .get("CLAWDBOT_SKIP_CRON")
                .or(cfg.env.get("CLAWDBOT_SKIP_CRON")),
            Some("1") | Some("true")
        );
        let store_path = store::resolve_path(
            &ch.host.paths.state_dir,
            cron_cfg
                .and_then(|c| c.get("store"))
                .and_then(Value::as_str),
            &cfg.env,
        );
        let now = crate::util::now_ms();
        let (declared_jobs, declared_errors) = declared::parse_all(&cfg.resolved, now);
        let keep = declared::declared_ids(&cfg.resolved);
        drop(cfg);
        for e in &declared_errors {
            tracing::error!(target: "cron", "{e}; this job keeps its stored version (if any)");
        }
        let (file, load_error) = match store::load(&store_path) {
            Ok(mut f) => {
                // Before anything can run (and whether or not the timer will): an
                // interrupted run is recorded, never retried.
                let mut changed = false;
                for job in &mut f.jobs {
                    changed |= recover_on_start(job, now);
                }
                let c = declared::reconcile(&mut f.jobs, &declared_jobs, &keep, now);
                log_changes(&c);
                changed |= !c.is_empty();
                if changed && let Err(e) = store::save(&store_path, &f) {
                    tracing::warn!(target: "cron", "{e}");
                }
                (f, None)
            }
            Err(e) => {
                tracing::error!(target: "cron", "{e}");
                (StoreFile::default(), Some(e))
            }
        };
        Arc::new(Cron {
            ch,
            store_path,
            enabled: !configured_off && !skip,
            state: Mutex::new(Inner {
                file,
                load_error,
                declared_errors,
            }),
            wake: Notify::new(),
            lane: std::sync::Mutex::new((1, Arc::new(tokio::sync::Semaphore::new(1)))),
        })
    }

    /// Applies the config's `cron.jobs` to the store (after a reload): persisted first,
    /// then announced as `cron` events like any other change.
    pub async fn reconcile_declared(&self) {
        let cfg = self.ch.host.config();
        let now = crate::util::now_ms();
        let (want, errors) = declared::parse_all(&cfg.resolved, now);
        let keep = declared::declared_ids(&cfg.resolved);
        drop(cfg);
        let mut inner = self.state.lock().await;
        // Recorded before it is logged, so whoever reads the log finds it in status.
        for e in &errors {
            tracing::error!(target: "cron", "{e}; this job keeps its stored version (if any)");
        }
        inner.declared_errors = errors;
        if inner.load_error.is_some() {
            return;
        }
        let before = inner.file.jobs.clone();
        let c = declared::reconcile(&mut inner.file.jobs, &want, &keep, now);
        if c.is_empty() {
            return;
        }
        if let Err(e) = self.persist(&inner) {
            tracing::error!(target: "cron", "declared jobs not applied: {e}");
            inner.file.jobs = before;
            return;
        }
        let next = |id: &str, jobs: &[Job]| {
            jobs.iter()
                .find(|j| j.id == id)
                .and_then(|j| j.state.next_run_at_ms)
        };
        let mut events = vec![];
        for (action, ids) in [("added", &c.added), ("updated", &c.updated)] {
            for id in ids {
                events.push(json!({"jobId": id, "action": action, "nextRunAtMs": next(id, &inner.file.jobs)}));
            }
        }
        for id in &c.removed {
            events.push(json!({"jobId": id, "action": "removed"}));
        }
        drop(inner);
        log_changes(&c);
        self.wake.notify_one();
        for e in events {
            self.emit(e);
        }
    }

    fn emit(&self, payload: Value) {
        self.ch.host.bus.send("cron", payload, None, false);
    }

    fn persist(&self, inner: &Inner) -> Result<(), String> {
        if let Some(e) = &inner.load_error {
            return Err(format!("cron store not writable until fixed: {e}"));
        }
        store::save(&self.store_path, &inner.file)
    }
}

fn log_changes(c: &declared::Changes) {
    if !c.is_empty() {
        tracing::info!(target: "cron", "declared jobs (cron.jobs): {} added, {} updated, {} removed", c.added.len(), c.updated.len(), c.removed.len());
    }
}

/// The earliest `nextRunAtMs` of an enabled job that is not running.
fn next_wake(jobs: &[Job]) -> Option<i64> {
    jobs.iter()
        .filter(|j| j.enabled && j.state.running_at_ms.is_none())
        .filter_map(|j| j.state.next_run_at_ms)
        .min()
}

/// When a job runs next, computed at `now`: None when disabled or a finished `at`.
pub fn job_next_run(job: &Job, now: i64) -> Option<i64> {
    if !job.enabled {
        return None;
    }
    if let Schedule::At { at_ms } = job.schedule {
        // A one-shot stays due until it has run.
        return job.state.last_run_at_ms.is_none().then_some(at_ms);
    }
    schedule::next_run_at(&job.schedule, now)
}

/// The state a job gets when the gateway starts at `now`: an interrupted run is
/// recorded and not retried; a slot missed while down stays due (once); a job with no
/// next time gets one. Returns whether anything changed.
pub fn recover_on_start(job: &mut Job, now: i64) -> bool {
    let before = job.state.clone();
    if let Some(started) = job.state.running_at_ms.take() {
        job.state.last_status = Some("error".into());
        job.state.last_error = Some(if now - started > STUCK_RUN_MS {
            "stuck run cleared".into()
        } else {
            "interrupted: the gateway stopped during this run (not retried: at most once per slot)"
                .into()
        });
        if matches!(job.schedule, Schedule::At { .. }) {
            job.enabled = false;
        }
        job.state.next_run_at_ms = job_next_run(job, now);
    } else if !job.enabled {
        job.state.next_run_at_ms = None;
    } else if job.state.next_run_at_ms.is_none() {
        job.state.next_run_at_ms = job_next_run(job, now);
    }
    // A past nextRunAtMs is kept: it is the one catch-up run.
    job.state != before
}

/// Starts the timer on the channels' task tracker (nothing when cron is off); it stops
/// with `host.cancel`.
pub fn start(cron: &Arc<Cron>) {
    if !cron.enabled {
        tracing::info!(target: "cron", "cron disabled (cron.enabled=false or CLAWDBOT_SKIP_CRON=1)");
        return;
    }
    let c = cron.clone();
    cron.ch.tasks.spawn(async move {
        {
            let inner = c.state.lock().await;
            tracing::info!(target: "cron", "cron started: {} job(s), store {}", inner.file.jobs.len(), c.store_path.display());
        }
        let cancel = c.ch.host.cancel.clone();
        loop {
            let next = next_wake(&c.state.lock().await.file.jobs);
            let now = crate::util::now_ms();
            let sleep = match next {
                Some(t) if t <= now => Duration::ZERO,
                Some(t) => Duration::from_millis((t - now) as u64).min(MAX_SLEEP),
                None => MAX_SLEEP,
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => c.start_due().await,
                _ = c.wake.notified() => {}
                _ = cancel.cancelled() => break,
            }
        }
    });
}

impl Cron {
    /// Marks every due job running (persisted first) and runs each on its own task.
    async fn start_due(self: &Arc<Self>) {
        let now = crate::util::now_ms();
        let mut inner = self.state.lock().await;
        let due: Vec<String> = inner
            .file
            .jobs
            .iter()
            .filter(|j| j.enabled && j.state.running_at_ms.is_none())
            .filter(|j| j.state.next_run_at_ms.is_some_and(|t| t <= now))
            .map(|j| j.id.clone())
            .collect();
        let mut started = vec![];
        for id in due {
            if let Some(job) = self.begin(&mut inner, &id, now) {
                started.push(job);
            }
        }
        if !started.is_empty()
            && let Err(e) = self.persist(&inner)
        {
            // Not persisted means a crash could run the slot twice: do not run it.
            tracing::error!(target: "cron", "not starting due jobs: {e}");
            for job in &started {
                if let Some(j) = inner.file.jobs.iter_mut().find(|j| j.id == job.id) {
                    j.state.running_at_ms = None;
                }
            }
            return;
        }
        drop(inner);
        for job in started {
            let c = self.clone();
            self.ch
                .tasks
                .spawn(async move { c.execute(job, now).await });
        }
    }

    /// Marks one job running in memory (the caller persists), and returns a copy.
    fn begin(&self, inner: &mut Inner, id: &str, now: i64) -> Option<Job> {
        let job = inner.file.jobs.iter_mut().find(|j| j.id == id)?;
        job.state.running_at_ms = Some(now);
        job.state.last_run_at_ms = Some(now);
        job.state.last_error = None;
        job.state.next_run_at_ms = match job.schedule {
            Schedule::At { .. } => None,
            _ => job_next_run(job, now),
        };
        Some(job.clone())
    }

    /// The lane for agent turns, remade when `cron.maxConcurrentRuns` changed (runs
    /// holding a permit of the old one finish on it).
    fn lane(&self) -> Arc<tokio::sync::Semaphore> {
        let want = self
            .ch
            .host
            .config()
            .resolved
            .pointer("/cron/maxConcurrentRuns")
            .and_then(Value::as_u64)
            .map_or(1, |n| n.clamp(1, 64) as usize);
        let mut lane = self.lane.lock().unwrap_or_else(|p| p.into_inner());
        if lane.0 != want {
            *lane = (want, Arc::new(tokio::sync::Semaphore::new(want)));
        }
        lane.1.clone()
    }

    /// Runs a started job and records how it ended. An agent turn waits for a place in
    /// the lane first; a system event only queues text, so it never waits.
    async fn execute(self: &Arc<Self>, job: Job, started: i64) {
        self.emit(json!({"jobId": job.id, "action": "started", "runAtMs": started}));
        let _permit = match job.payload {
            types::Payload::AgentTurn { .. } => self.lane().acquire_owned().await.ok(),
            types::Payload::SystemEvent { .. } => None,
        };
        let out = run::execute(&self.ch, &job).await;
        self.finish(&job.id, started, out).await;
        self.wake.notify_one();
    }

    async fn finish(&self, id: &str, started: i64, out: run::Outcome) {
        let ended = crate::util::now_ms();
        let duration = (ended - started).max(0);
        let mut inner = self.state.lock().await;
        let Some(idx) = inner.file.jobs.iter().position(|j| j.id == id) else {
            return; // removed while it ran
        };
        let job = &mut inner.file.jobs[idx];
        job.state.running_at_ms = None;
        job.state.last_run_at_ms = Some(started);
        job.state.last_status = Some(out.status.into());
        job.state.last_duration_ms = Some(duration);
        job.state.last_error = out.error.clone();
        job.updated_at_ms = ended;
        let one_shot = matches!(job.schedule, Schedule::At { .. });
        // A declared one-shot is disabled instead: its declaration would bring it back.
        let delete = one_shot
            && out.status == "ok"
            && job.delete_after_run == Some(true)
            && !declared::is_declared(id);
        if one_shot && !delete {
            job.enabled = false;
            job.state.next_run_at_ms = None;
        } else if job.enabled && !delete {
            job.state.next_run_at_ms = job_next_run(job, ended);
        }
        let next = job.state.next_run_at_ms;
        if delete {
            inner.file.jobs.remove(idx);
        }
        if let Err(e) = self.persist(&inner) {
            tracing::warn!(target: "cron", "{e}");
        }
        drop(inner);
        let mut entry = json!({
            "ts": ended, "jobId": id, "action": "finished", "status": out.status,
            "runAtMs": started, "durationMs": duration,
        });
        for (k, v) in [("error", &out.error), ("summary", &out.summary)] {
            if let Some(v) = v {
                entry[k] = json!(v);
            }
        }
        if let Some(n) = next {
            entry["nextRunAtMs"] = json!(n);
        }
        if let Some(d) = out.delivered {
            entry["delivered"] = json!(d);
        }
        if let Some(r) = &out.delivery_error {
            entry["deliveryError"] = json!(r);
        }
        let path = runlog::path(&self.store_path, id);
        let e2 = entry.clone();
        let res = tokio::task::spawn_blocking(move || runlog::append(&path, &e2)).await;
        if !matches!(res, Ok(Ok(()))) {
            tracing::warn!(target: "cron", "could not append the run log of job {id}");
        }
        if let Some(o) = entry.as_object_mut() {
            o.remove("ts");
            o.remove("delivered");
            o.remove("deliveryError");
        }
        self.emit(entry);
        if delete {
            self.emit(json!({"jobId": id, "action": "removed"}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::*;

    fn job(schedule: Schedule) -> Job {
        Job {
            id: "j".into(),
            agent_id: None,
            name: "n".into(),
            description: None,
            enabled: true,
            delete_after_run: None,
            created_at_ms: 0,
            updated_at_ms: 0,
            schedule,
            session_target: "main".into(),
            wake_mode: "now".into(),
            payload: Payload::SystemEvent { text: "t".into() },
            isolation: None,
            state: JobState::default(),
        }
    }

    #[test]
    fn downtime_gives_one_catch_up_run() {
        let mut j = job(Schedule::Every {
            every_ms: 1000,
            anchor_ms: Some(0),
        });
        j.state.next_run_at_ms = Some(2000);
        // Down from 1500 to 10_250: eight slots missed.
        let now = 10_250;
        recover_on_start(&mut j, now);
        assert_eq!(j.state.next_run_at_ms, Some(2000), "due once, now");
        assert_eq!(next_wake(std::slice::from_ref(&j)), Some(2000));
        // After that run the next slot is in the future: no second catch-up.
        assert_eq!(job_next_run(&j, now), Some(11_000));
    }

    #[test]
    fn an_interrupted_run_is_not_retried() {
        let mut j = job(Schedule::Every {
            every_ms: 1000,
            anchor_ms: Some(0),
        });
        j.state.running_at_ms = Some(5000);
        j.state.last_run_at_ms = Some(5000);
        j.state.next_run_at_ms = Some(6000);
        recover_on_start(&mut j, 5100);
        assert_eq!(j.state.running_at_ms, None);
        assert_eq!(j.state.last_status.as_deref(), Some("error"));
        assert_eq!(j.state.next_run_at_ms, Some(6000));
        let mut once = job(Schedule::At { at_ms: 5000 });
        once.state.running_at_ms = Some(5000);
        once.state.last_run_at_ms = Some(5000);
        recover_on_start(&mut once, 5100);
        assert!(!once.enabled);
        assert_eq!(once.state.next_run_at_ms, None);
    }

    #[test]
    fn a_past_at_stays_due_until_it_ran() {
        let j = job(Schedule::At { at_ms: 100 });
        assert_eq!(job_next_run(&j, 5000), Some(100));
    }
}
