//! One run of a job: a `systemEvent` queued for the main session, or an `agentTurn` in
//! the job's own isolated session, delivered to a chat when asked.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::types::{Job, Payload};
use crate::agent::RunRequest;
use crate::channels::Channels;
use crate::sessions::keys;

#[derive(Debug, Default)]
pub struct Outcome {
    /// `ok` | `error` | `skipped`
    pub status: &'static str,
    pub error: Option<String>,
    pub summary: Option<String>,
    pub delivered: Option<bool>,
    pub delivery_error: Option<String>,
}

impl Outcome {
    fn new(status: &'static str, error: Option<String>, summary: Option<String>) -> Outcome {
        Outcome {
            status,
            error,
            summary,
            ..Default::default()
        }
    }
}

/// The isolated session of a job (the original's `cron:<jobId>` under the agent).
pub fn isolated_key(agent_id: &str, job_id: &str) -> String {
    format!("agent:{agent_id}:cron:{job_id}")
}

pub async fn execute(ch: &Arc<Channels>, job: &Job) -> Outcome {
    let host = &ch.host;
    let cfg = host.config();
    let agent_id = job
        .agent_id
        .clone()
        .unwrap_or_else(|| cfg.config.default_agent_id());
    let main_key = keys::main_key(&cfg.config, &agent_id);
    // A job's own timeoutSeconds, else the agents' default, else 10 minutes.
    let default_timeout = cfg
        .resolved
        .pointer("/agents/defaults/timeoutSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(600);
    drop(cfg);
    let wake_now = job.wake_mode == "now";
    match &job.payload {
        Payload::SystemEvent { text } => {
            let text = text.trim();
            if job.session_target != "main" {
                return Outcome::new(
                    "skipped",
                    Some("isolated job requires payload.kind=agentTurn".into()),
                    None,
                );
            }
            if text.is_empty() {
                return Outcome::new(
                    "skipped",
                    Some("main job requires non-empty systemEvent text".into()),
                    None,
                );
            }
            host.agents.system_events.enqueue(&main_key, text);
            if wake_now {
                host.agents.heartbeat_wake.notify_one();
            }
            Outcome::new("ok", None, Some(text.to_string()))
        }
        Payload::AgentTurn {
            message,
            model,
            timeout_seconds,
            deliver,
            channel,
            to,
            best_effort_deliver,
            ..
        } => {
            if job.session_target != "isolated" {
                return Outcome::new(
                    "skipped",
                    Some("main job requires payload.kind=\"systemEvent\"".into()),
                    None,
                );
            }
            let cancel = host.cancel.child_token();
            let req = RunRequest {
                run_id: uuid::Uuid::new_v4().to_string(),
                agent_id: agent_id.clone(),
                session_key: isolated_key(&agent_id, &job.id),
                message: message.clone(),
                idempotency_key: None,
                origin: Map::new(),
                extra_system: None,
                cancel: cancel.clone(),
                event_session_key: None,
                model: model.clone(),
            };
            let limit = Duration::from_secs(timeout_seconds.unwrap_or(default_timeout).max(1));
            let text = match tokio::time::timeout(limit, crate::agent::run(host, req)).await {
                Ok(Ok(out)) => out.text,
                Ok(Err(e)) => return Outcome::new("error", Some(e.message), None),
                Err(_) => {
                    cancel.cancel();
                    return Outcome::new(
                        "error",
                        Some(format!("timed out after {}s", limit.as_secs())),
                        None,
                    );
                }
            };
            let summary = summarize(&text);
            let mut out = Outcome::new("ok", None, summary.clone());
            if *deliver == Some(true) {
                match deliver_to(
                    ch,
                    &agent_id,
                    &main_key,
                    channel.as_deref(),
                    to.as_deref(),
                    &text,
                )
                .await
                {
                    Ok(()) => out.delivered = Some(true),
                    Err(reason) => {
                        out.delivered = Some(false);
                        out.delivery_error = Some(reason.clone());
                        if *best_effort_deliver != Some(true) {
                            out.status = "error";
                            out.error = Some(reason);
                        }
                    }
                }
            }
            post_to_main(ch, job, &main_key, &out, &text, wake_now);
            out
        }
    }
}

/// The first non-empty line, at most 200 characters.
fn summarize(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut s: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        s.push('…');
    }
    Some(s)
}

/// Sends the answer to `channel`/`to`, or (channel unset or `"last"`) to where the main
/// session last talked.
async fn deliver_to(
    ch: &Arc<Channels>,
    agent_id: &str,
    main_key: &str,
    channel: Option<&str>,
    to: Option<&str>,
    text: &str,
) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("nothing to deliver: the agent's answer was empty".into());
    }
    let last = ch
        .host
        .agents
        .sessions
        .get(agent_id, main_key)
        .unwrap_or_default();
    let field = |k: &str| last.get(k).and_then(Value::as_str).map(str::to_string);
    let explicit = channel.filter(|c| !c.is_empty() && *c != "last");
    let (channel, account) = match explicit {
        Some(c) => {
            let same = field("lastChannel").as_deref() == Some(c);
            let acct = if same { field("lastAccountId") } else { None };
            (Some(c.to_string()), acct)
        }
        None => (field("lastChannel"), field("lastAccountId")),
    };
    let to = to
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .or_else(|| field("lastTo"));
    let (Some(channel), Some(to)) = (channel, to) else {
        return Err("no delivery target: set payload.channel and payload.to (the main session has no lastChannel/lastTo yet)".into());
    };
    if channel == "webchat" {
        return Err("cannot deliver to webchat: set payload.channel and payload.to".into());
    }
    let account = account.unwrap_or_else(|| "default".into());
    crate::channels::deliver(ch, &channel, &account, &to, text)
        .await
        .map(|_| ())
}

/// Tells the main session what an isolated run did (`Cron: <summary>`), as the original
/// does; `isolation.postToMainMode:"full"` posts the whole answer.
fn post_to_main(
    ch: &Arc<Channels>,
    job: &Job,
    main_key: &str,
    out: &Outcome,
    text: &str,
    wake_now: bool,
) {
    let iso = job.isolation.as_ref();
    let get = |k: &str| iso.and_then(|i| i.get(k));
    let prefix = get("postToMainPrefix")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("Cron");
    let mut body = out
        .summary
        .clone()
        .or_else(|| out.error.clone())
        .unwrap_or_else(|| out.status.to_string());
    if get("postToMainMode").and_then(Value::as_str) == Some("full") && !text.trim().is_empty() {
        let max = get("postToMainMaxChars")
            .and_then(Value::as_u64)
            .unwrap_or(8000) as usize;
        body = text.trim().chars().take(max).collect();
    }
    let head = if out.status == "ok" {
        prefix.to_string()
    } else {
        format!("{prefix} ({})", out.status)
    };
    ch.host
        .agents
        .system_events
        .enqueue(main_key, &format!("{head}: {body}"));
    if wake_now {
        ch.host.agents.heartbeat_wake.notify_one();
    }
}
