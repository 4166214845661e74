//! Jobs declared in the config (`cron.jobs.<key>`, an extension key the Nix modules'
//! `cron.jobs` option writes), reconciled into the store at start and on every reload.
//!
//! A declared job's id is `declared:<key>`; that prefix is the only marker, so the store
//! keeps the original's shape. Reconciling creates a missing job, updates a changed one
//! (its run state is kept, so a changed prompt does not make a job run again), and
//! removes a `declared:` job whose key is gone. Jobs made at run time (`cron.add`, the
//! CLI) are never touched. The methods refuse to edit or remove a declared job and name
//! the config key (or the Nix option) instead: the declaration would bring it back.
//!
//! `deleteAfterRun` does not apply to a declared one-shot (`at`) job: it is disabled after
//! its run, as a declaration that still exists must not be recreated and run again.

use serde_json::Value;

use super::ops::{check_wake_mode, parse_payload, parse_schedule};
use super::types::{Job, JobState, Schedule};

/// The id prefix of a declared job.
pub const PREFIX: &str = "declared:";

/// The keys a declared job may have: `cron.add`'s, without a store-side `state`.
const KEYS: &[&str] = &[
    "name",
    "description",
    "enabled",
    "agentId",
    "schedule",
    "sessionTarget",
    "wakeMode",
    "payload",
    "deleteAfterRun",
    "isolation",
];

/// A declared job's key is short and safe to show and to put in an id.
fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 64
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

pub fn is_declared(id: &str) -> bool {
    id.starts_with(PREFIX)
}

/// The job a declaration describes (definition only: state is the store's), or why it
/// is invalid, naming `cron.jobs.<key>.<field>`.
pub fn parse_one(key: &str, spec: &Value, now: i64) -> Result<Job, String> {
    let at = format!("cron.jobs.{key}");
    if !valid_key(key) {
        return Err(format!(
            "{at}: job keys may only contain letters, digits, '-', '_' and '.' (at most 64)"
        ));
    }
    let obj = spec
        .as_object()
        .ok_or_else(|| format!("{at} must be an object"))?;
    if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "{at}.{k}: unknown key (a declared job has {})",
            KEYS.join(", ")
        ));
    }
    let str_of = |k: &str| -> Result<Option<String>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{at}.{k} must be a string")),
        }
    };
    let bool_of = |k: &str| -> Result<Option<bool>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(format!("{at}.{k} must be true or false")),
        }
    };
    let schedule = parse_schedule(
        obj.get("schedule")
            .cloned()
            .ok_or_else(|| format!("{at}.schedule is required"))?,
    )
    .map_err(|e| format!("{at}.schedule: {e}"))?;
    let payload = parse_payload(
        obj.get("payload")
            .cloned()
            .ok_or_else(|| format!("{at}.payload is required"))?,
    )
    .map_err(|e| format!("{at}.payload: {e}"))?;
    // The original's default: a system event goes to the main session, a turn is isolated.
    let session_target = str_of("sessionTarget")?.unwrap_or_else(|| {
        match payload {
            super::types::Payload::SystemEvent { .. } => "main",
            super::types::Payload::AgentTurn { .. } => "isolated",
        }
        .to_string()
    });
    let wake_mode = str_of("wakeMode")?.unwrap_or_else(|| "next-heartbeat".into());
    check_wake_mode(&wake_mode).map_err(|e| format!("{at}.wakeMode: {e}"))?;
    let isolation = match obj.get("isolation") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err(format!("{at}.isolation must be an object")),
    };
    let job = Job {
        id: format!("{PREFIX}{key}"),
        agent_id: str_of("agentId")?.filter(|s| !s.trim().is_empty()),
        name: str_of("name")?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| key.to_string()),
        description: str_of("description")?.filter(|s| !s.trim().is_empty()),
        enabled: bool_of("enabled")?.unwrap_or(true),
        delete_after_run: bool_of("deleteAfterRun")?,
        created_at_ms: now,
        updated_at_ms: now,
        schedule,
        session_target,
        wake_mode,
        payload,
        isolation,
        state: JobState::default(),
    };
    job.check_spec().map_err(|e| format!("{at}: {e}"))?;
    Ok(job)
}

/// The ids of every declaration, valid or not: a job whose new declaration is invalid
/// keeps its stored version instead of being removed.
pub fn declared_ids(resolved: &Value) -> Vec<String> {
    resolved
        .pointer("/cron/jobs")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(|k| format!("{PREFIX}{k}")).collect())
        .unwrap_or_default()
}

/// Every declared job of a resolved config, or every problem (for `check-config`).
pub fn parse_all(resolved: &Value, now: i64) -> (Vec<Job>, Vec<String>) {
    let mut jobs = vec![];
    let mut errors = vec![];
    match resolved.pointer("/cron/jobs") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match parse_one(k, v, now) {
                    Ok(j) => jobs.push(j),
                    Err(e) => errors.push(e),
                }
            }
        }
        Some(_) => errors.push("cron.jobs must be an object of jobs by key".into()),
    }
    (jobs, errors)
}

/// The definition fields of two jobs are equal (state and timestamps aside).
fn same_definition(a: &Job, b: &Job) -> bool {
    a.agent_id == b.agent_id
        && a.name == b.name
        && a.description == b.description
        && a.enabled == b.enabled
        && a.delete_after_run == b.delete_after_run
        && a.schedule == b.schedule
        && a.session_target == b.session_target
        && a.wake_mode == b.wake_mode
        && a.payload == b.payload
        && a.isolation == b.isolation
}

/// What reconciling did, by job id.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }
}

/// Brings `jobs` in line with `declared` at `now`; run-time jobs, and declared jobs in
/// `keep` (still declared, but invalid now), are left alone.
pub fn reconcile(jobs: &mut Vec<Job>, declared: &[Job], keep: &[String], now: i64) -> Changes {
    let mut changes = Changes::default();
    jobs.retain(|j| {
        let keep =
            !is_declared(&j.id) || keep.contains(&j.id) || declared.iter().any(|d| d.id == j.id);
        if !keep {
            changes.removed.push(j.id.clone());
        }
        keep
    });
    for want in declared {
        match jobs.iter_mut().find(|j| j.id == want.id) {
            Some(have) if same_definition(have, want) => {}
            Some(have) => {
                let schedule_changed = have.schedule != want.schedule;
                let state = std::mem::take(&mut have.state);
                let created = have.created_at_ms;
                *have = want.clone();
                have.created_at_ms = created;
                have.updated_at_ms = now;
                have.state = state;
                if schedule_changed && matches!(have.schedule, Schedule::At { .. }) {
                    // A new time for a one-shot is a new shot.
                    have.state.last_run_at_ms = None;
                }
                if have.state.running_at_ms.is_none() {
                    have.state.next_run_at_ms = super::job_next_run(have, now);
                }
                changes.updated.push(have.id.clone());
            }
            None => {
                let mut job = want.clone();
                job.state.next_run_at_ms = super::job_next_run(&job, now);
                jobs.push(job);
                changes.added.push(want.id.clone());
            }
        }
    }
    changes
}

/// Why a method may not change declared job `id`: its config key, or its Nix option.
pub fn refusal(id: &str, nix: bool) -> String {
    let key = id.strip_prefix(PREFIX).unwrap_or(id);
    if nix {
        format!(
            "cron job {id} is declared by Nix ({}.cron.jobs.{key}); change it there and run `home-manager switch` (or `nixos-rebuild switch`)",
            crate::nix::option_path()
        )
    } else {
        format!(
            "cron job {id} is declared in the config (cron.jobs.{key}); edit or remove it there (the gateway applies the change on reload)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared(v: Value) -> Vec<Job> {
        let (jobs, errors) = parse_all(&json!({"cron": {"jobs": v}}), 1_000);
        assert!(errors.is_empty(), "{errors:?}");
        jobs
    }

    #[test]
    fn defaults_follow_the_payload() {
        let jobs = declared(json!({
            "morning": {"schedule": {"kind": "cron", "expr": "0 7 * * *", "tz": "Europe/Lisbon"},
                        "payload": {"kind": "agentTurn", "message": "inbox", "deliver": true}},
            "nudge": {"schedule": {"kind": "every", "everyMs": 60000},
                      "payload": {"kind": "systemEvent", "text": "check"}},
        }));
        let m = jobs.iter().find(|j| j.id == "declared:morning").unwrap();
        assert_eq!(m.session_target, "isolated");
        assert_eq!(m.name, "morning");
        assert!(m.enabled);
        let n = jobs.iter().find(|j| j.id == "declared:nudge").unwrap();
        assert_eq!(n.session_target, "main");
        assert_eq!(n.wake_mode, "next-heartbeat");
    }

    #[test]
    fn bad_declarations_name_the_key() {
        let cases = [
            (
                json!({"x": {"payload": {"kind": "systemEvent", "text": "t"}}}),
                "cron.jobs.x.schedule is required",
            ),
            (
                json!({"x": {"schedule": {"kind": "every", "everyMs": 1000}, "payload": {"kind": "systemEvent", "text": "t"}, "state": {}}}),
                "cron.jobs.x.state: unknown key",
            ),
            (
                json!({"x": {"schedule": {"kind": "cron", "expr": "not a cron"}, "payload": {"kind": "systemEvent", "text": "t"}}}),
                "cron.jobs.x.schedule:",
            ),
            (
                json!({"x": {"schedule": {"kind": "every", "everyMs": 1000}, "payload": {"kind": "systemEvent", "text": "t"}, "sessionTarget": "isolated"}}),
                "cron.jobs.x: isolated cron jobs require",
            ),
            (
                json!({"a b": {"schedule": {"kind": "every", "everyMs": 1000}, "payload": {"kind": "systemEvent", "text": "t"}}}),
                "cron.jobs.a b: job keys",
            ),
            (
                json!({"x": {"schedule": {"kind": "every", "everyMs": 1000}, "payload": {"kind": "systemEvent", "text": "t"}, "enabled": "yes"}}),
                "cron.jobs.x.enabled must be true or false",
            ),
            (json!(["x"]), "cron.jobs must be an object"),
        ];
        for (v, want) in cases {
            let (_, errors) = parse_all(&json!({"cron": {"jobs": v}}), 0);
            assert!(
                errors.iter().any(|e| e.contains(want)),
                "{want:?} not in {errors:?}"
            );
        }
    }

    #[test]
    fn reconcile_adds_updates_removes_and_keeps_runtime_jobs() {
        let mut jobs = declared(json!({
            "a": {"schedule": {"kind": "every", "everyMs": 60000}, "payload": {"kind": "systemEvent", "text": "one"}},
            "gone": {"schedule": {"kind": "every", "everyMs": 60000}, "payload": {"kind": "systemEvent", "text": "x"}},
        }));
        let mut runtime = jobs[0].clone();
        runtime.id = "11111111-runtime".into();
        jobs.push(runtime);
        // The store's run state of "a".
        jobs[0].state.last_run_at_ms = Some(900);
        jobs[0].state.last_status = Some("ok".into());
        let want = declared(json!({
            "a": {"schedule": {"kind": "every", "everyMs": 60000}, "payload": {"kind": "systemEvent", "text": "two"}},
            "b": {"schedule": {"kind": "every", "everyMs": 5000}, "payload": {"kind": "systemEvent", "text": "new"}},
        }));
        let c = reconcile(&mut jobs, &want, &[], 2_000);
        assert_eq!(c.added, ["declared:b"]);
        assert_eq!(c.updated, ["declared:a"]);
        assert_eq!(c.removed, ["declared:gone"]);
        let a = jobs.iter().find(|j| j.id == "declared:a").unwrap();
        assert_eq!(a.state.last_status.as_deref(), Some("ok"), "state kept");
        assert!(
            matches!(&a.payload, super::super::types::Payload::SystemEvent { text } if text == "two")
        );
        assert!(
            jobs.iter().any(|j| j.id == "11111111-runtime"),
            "runtime job kept"
        );
        // Nothing changed: nothing to do (no rewrite of the store).
        assert!(reconcile(&mut jobs, &want, &[], 3_000).is_empty());
        // No declarations left: only the runtime job remains.
        let c = reconcile(&mut jobs, &[], &[], 4_000);
        assert_eq!(c.removed.len(), 2);
        assert_eq!(jobs.len(), 1);
    }

    #[test]
    fn a_declared_one_shot_that_ran_is_not_run_again_until_its_time_changes() {
        let mut jobs = declared(json!({
            "once": {"schedule": {"kind": "at", "atMs": 500}, "payload": {"kind": "systemEvent", "text": "t"}},
        }));
        jobs[0].state.last_run_at_ms = Some(600);
        jobs[0].state.next_run_at_ms = None;
        let same = declared(json!({
            "once": {"schedule": {"kind": "at", "atMs": 500}, "payload": {"kind": "systemEvent", "text": "t"}, "description": "d"},
        }));
        reconcile(&mut jobs, &same, &[], 1_000);
        assert_eq!(jobs[0].state.next_run_at_ms, None, "ran already");
        let moved = declared(json!({
            "once": {"schedule": {"kind": "at", "atMs": 5_000}, "payload": {"kind": "systemEvent", "text": "t"}},
        }));
        reconcile(&mut jobs, &moved, &[], 1_000);
        assert_eq!(jobs[0].state.next_run_at_ms, Some(5_000), "a new shot");
    }
}
