//! One agent run: queue behind the session, build the prompt and a bounded history,
//! call the model with fallbacks, run tools, append every message to the transcript
//! (fsynced) and return the final text.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::Host;
use super::commands::{self, Command};
use super::events::Emitter;
use super::{tools, workspace};
use crate::llm::{self, Completion, Content, FailReason, LlmError, Message};
use crate::sessions::{replay, transcript};
use crate::util::now_ms;

/// At most this many model calls per run (tool loops end here).
const MAX_TURNS: usize = 24;
/// Tokens kept free for the answer when bounding history.
const ANSWER_RESERVE: u64 = 8_192;

#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub run_id: String,
    pub agent_id: String,
    pub session_key: String,
    pub message: String,
    /// Stored with the user message: a retried delivery (after a crash) does not
    /// append the same message twice.
    pub idempotency_key: Option<String>,
    /// Session entry fields from the channel (`lastChannel`, `lastTo`, `chatType`, …).
    pub origin: Map<String, Value>,
    pub extra_system: Option<String>,
    pub cancel: CancellationToken,
    /// The key `chat`/`agent` events carry when the client used another spelling of
    /// the session (the Control UI sends `main`; the store uses `agent:main:main`).
    pub event_session_key: Option<String>,
    /// A model for this run only (`heartbeat.model`, a cron job's `model`), tried before
    /// the session's and the agent's; the fallbacks still follow.
    pub model: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RunOutput {
    pub text: String,
    pub model: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    pub message: String,
    pub aborted: bool,
    /// A write to the state dir failed; see [`RunError::is_storage`]. A flag, not a
    /// message prefix: a provider's error text must never pass for one.
    pub storage: bool,
}

impl RunError {
    /// A write to the state dir failed (the disk is full, …): nothing is wrong with the
    /// message, so a channel keeps it and tries again instead of answering with an error.
    fn storage(what: impl std::fmt::Display) -> RunError {
        RunError {
            storage: true,
            ..RunError::failed(format!("cannot store {what}"))
        }
    }

    /// The run was stopped (abort, shutdown, a deadline) before it finished.
    pub fn aborted(message: impl Into<String>) -> RunError {
        RunError {
            aborted: true,
            ..RunError::failed(message)
        }
    }

    pub fn is_storage(&self) -> bool {
        !self.aborted && self.storage
    }

    fn failed(message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
            aborted: false,
            storage: false,
        }
    }
}

pub async fn run(host: &Arc<Host>, req: RunRequest) -> Result<RunOutput, RunError> {
    let ticket = host.agents.enqueue(&req.session_key);
    run_queued(host, req, ticket).await
}

/// [`run`] with a place in the session's queue taken earlier (by `chat.send`, so the
/// runs of one connection start in the order it sent them).
pub async fn run_queued(
    host: &Arc<Host>,
    req: RunRequest,
    ticket: super::Ticket,
) -> Result<RunOutput, RunError> {
    let agents = &host.agents;
    agents.register(&req.run_id, &req.session_key, req.cancel.clone());
    let started = now_ms();
    let em = Emitter::new(
        &host.bus,
        &req.run_id,
        req.event_session_key.as_deref().unwrap_or(&req.session_key),
    );
    em.start(started);
    let out = {
        let queued = async {
            let _turn = ticket.turn().await;
            let _slot = agents
                .slots
                .acquire()
                .await
                .map_err(|_| RunError::failed("gateway is shutting down"))?;
            let timeout = Duration::from_secs(
                host.config()
                    .resolved
                    .pointer("/agents/defaults/timeoutSeconds")
                    .and_then(Value::as_u64)
                    .unwrap_or(600),
            );
            match tokio::time::timeout(timeout, run_locked(host, &req, &em)).await {
                Ok(r) => r,
                Err(_) => {
                    req.cancel.cancel();
                    Err(RunError::failed(format!(
                        "the agent run timed out after {}s (agents.defaults.timeoutSeconds)",
                        timeout.as_secs()
                    )))
                }
            }
        };
        tokio::select! {
            r = queued => r,
            _ = req.cancel.cancelled() => Err(RunError::aborted("aborted")),
        }
    };
    let result = match &out {
        Ok(o) => {
            em.end(started, &o.text);
            json!({"runId": req.run_id, "status": "ok", "startedAt": started, "endedAt": now_ms(), "text": o.text, "model": o.model})
        }
        Err(e) if e.aborted => {
            em.aborted(started, "rpc");
            json!({"runId": req.run_id, "status": "error", "startedAt": started, "endedAt": now_ms(), "error": "aborted", "aborted": true})
        }
        Err(e) => {
            em.error(started, &e.message);
            json!({"runId": req.run_id, "status": "error", "startedAt": started, "endedAt": now_ms(), "error": e.message})
        }
    };
    agents.finish(&req.run_id, result);
    out
}

async fn run_locked(
    host: &Arc<Host>,
    req: &RunRequest,
    em: &Emitter<'_>,
) -> Result<RunOutput, RunError> {
    let rt = host.config();
    let resolved = &rt.resolved;
    let sessions = &host.agents.sessions;
    let mut message = req.message.as_str();
    match commands::parse(message) {
        Some(Command::Reset { rest }) => {
            sessions
                .reset(&req.agent_id, &req.session_key)
                .map_err(RunError::failed)?;
            if rest.is_empty() {
                return Ok(RunOutput {
                    text: "✅ New session started.".into(),
                    model: None,
                });
            }
            message = rest;
        }
        Some(Command::Status) => {
            return status_text(host, req).map(|text| RunOutput { text, model: None });
        }
        None => {}
    }
    let origin = req.origin.clone();
    let entry = sessions
        .update(&req.agent_id, &req.session_key, |m| m.extend(origin))
        .map_err(|e| RunError::storage(format!("the session entry ({e})")))?;
    let sid = entry["sessionId"].as_str().unwrap_or_default().to_string();
    let path = sessions.transcript_path(&req.agent_id, &sid);
    let ws = workspace::dir(resolved, &rt.env, &req.agent_id);
    let (stored, _) = transcript::read(&path)
        .map_err(|e| RunError::failed(format!("cannot read transcript: {e}")))?;
    // Every message this run writes carries the key of the message it answers (a run
    // without one gets its own), so a replay finds exactly its turn (sessions::replay).
    let key = req
        .idempotency_key
        .clone()
        .unwrap_or_else(|| format!("run:{}", req.run_id));
    let tags = Tags {
        path: &path,
        sid: &sid,
        ws: &ws,
        key: &key,
        run_id: &req.run_id,
    };
    let view = replay::view(stored, req.idempotency_key.as_deref());
    if let Some(text) = view.answer {
        // Answered before a crash (or a retried send): deliver that answer, do not ask
        // the model again.
        return Ok(RunOutput { text, model: None });
    }
    let mut history = view.history;
    if !view.stored {
        let events = host.agents.system_events.drain(&req.session_key);
        let user = Message::user(&super::system_events::with_events(&events, message));
        tags.append(&user)?;
        history.push(user);
    }
    let specs = tools::specs(resolved);
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let skills = super::skills::Context::new(&ws, &host.paths.state_dir, &rt, &host.nix);
    let mut system = workspace::system_prompt(
        &ws,
        resolved,
        &req.agent_id,
        &names,
        &skills.prompt_section(),
    );
    if let Some(x) = &req.extra_system {
        system.push_str("\n\n");
        system.push_str(x);
    }
    let (requested, fallbacks) = model_chain(resolved, &rt.config, &req.agent_id, &entry);
    let requested = req.model.clone().unwrap_or(requested);
    let allow: Option<Vec<String>> = resolved
        .pointer("/agents/defaults/models")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .map(|m| m.keys().cloned().collect());
    let primary = rt.config.primary_model();
    let candidates = llm::fallback::candidates(&requested, &fallbacks, &primary, allow.as_deref());
    let budget = rt
        .config
        .context_tokens()
        .saturating_sub(ANSWER_RESERVE + (system.len() as u64) / 4);
    let exec_ctx = super::exec::ExecCtx {
        host,
        workspace: &ws,
        agent_id: &req.agent_id,
        session_key: &req.session_key,
        cancel: &req.cancel,
    };
    let mut usage = llm::Usage::default();
    let mut used_model = None;
    for turn in 0..MAX_TURNS {
        let window = bound_history(&history, budget);
        let on_text = |piece: &str| em.delta(piece);
        let (won, completion) = llm::fallback::run(&candidates, &host.agents.cooldowns, |model_ref| {
            em.restart_text();
            let window = &window;
            let system = &system;
            let specs = &specs;
            let on_text = &on_text;
            let cancel = req.cancel.clone();
            let host = host.clone();
            async move {
                let mut warnings = vec![];
                let target = llm::providers::resolve(&model_ref, &host.config().resolved, &host.config().env, &host.paths.state_dir, &mut warnings)
                    .map_err(|e| LlmError::new(FailReason::Auth, e))?;
                let request = llm::Request { system, messages: window, tools: specs };
                tokio::select! {
                    r = llm::complete(&host.agents.http, &target, &request, on_text) => r,
                    _ = cancel.cancelled() => Err(LlmError::new(FailReason::Aborted, "aborted")),
                }
            }
        })
        .await
        .map_err(|e| RunError { aborted: e.last_reason == FailReason::Aborted, message: e.message, storage: false })?;
        usage.input += completion.usage.input;
        usage.output += completion.usage.output;
        used_model = Some(won.clone());
        let (provider, model) = llm::providers::split_ref(&won);
        let assistant = assistant_message(&completion, &provider, &model);
        tags.append(&assistant)?;
        history.push(assistant);
        let calls = completion.tool_calls();
        if calls.is_empty() {
            let text = completion.text();
            finish_entry(host, req, &usage, &won);
            return Ok(RunOutput {
                text,
                model: used_model,
            });
        }
        for (id, name, args) in calls {
            em.tool("start", &name, &id, json!({"args": args}));
            let (output, is_error) = tools::call(&exec_ctx, &name, &args).await;
            em.tool(
                "result",
                &name,
                &id,
                json!({"result": output, "isError": is_error}),
            );
            let result = Message::ToolResult {
                tool_call_id: id,
                tool_name: name,
                content: vec![Content::Text { text: output }],
                is_error,
                timestamp: now_ms(),
            };
            tags.append(&result)?;
            history.push(result);
        }
        if req.cancel.is_cancelled() {
            return Err(RunError::aborted("aborted"));
        }
        tracing::debug!(target: "agent", "run {} turn {} used tools", req.run_id, turn + 1);
    }
    finish_entry(host, req, &usage, used_model.as_deref().unwrap_or_default());
    Err(RunError::failed(format!(
        "stopped after {MAX_TURNS} model calls without a final answer (tool loop limit)"
    )))
}

/// Where a run's messages go and what each is tagged with.
struct Tags<'a> {
    path: &'a Path,
    sid: &'a str,
    ws: &'a Path,
    key: &'a str,
    run_id: &'a str,
}

impl Tags<'_> {
    fn append(&self, m: &Message) -> Result<(), RunError> {
        transcript::append(
            self.path,
            self.sid,
            self.ws,
            m,
            Some(self.key),
            Some(self.run_id),
        )
        .map_err(|e| {
            RunError::storage(format!(
                "transcript {} ({})",
                self.path.display(),
                crate::sessions::describe_io(&e)
            ))
        })
    }
}

fn assistant_message(c: &Completion, provider: &str, model: &str) -> Message {
    Message::Assistant {
        content: c.content.clone(),
        stop_reason: Some(c.stop_reason.clone()),
        provider: Some(provider.into()),
        model: Some(model.into()),
        usage: Some(c.usage.clone()),
        timestamp: now_ms(),
    }
}

fn finish_entry(host: &Host, req: &RunRequest, usage: &llm::Usage, model_ref: &str) {
    let (provider, model) = llm::providers::split_ref(model_ref);
    let r = host
        .agents
        .sessions
        .update(&req.agent_id, &req.session_key, |m| {
            let add = |m: &mut Map<String, Value>, k: &str, n: u64| {
                let cur = m.get(k).and_then(Value::as_u64).unwrap_or(0);
                m.insert(k.into(), json!(cur + n));
            };
            add(m, "inputTokens", usage.input);
            add(m, "outputTokens", usage.output);
            m.insert("totalTokens".into(), json!(usage.input + usage.output));
            m.insert("modelProvider".into(), json!(provider));
            m.insert("lastModel".into(), json!(model));
        });
    if let Err(e) = r {
        tracing::warn!(target: "sessions", "cannot update session {}: {e}", req.session_key);
    }
}

/// (requested model, fallbacks): a session override, else the agent's, else the defaults.
fn model_chain(
    resolved: &Value,
    cfg: &crate::config::Config,
    agent_id: &str,
    entry: &Map<String, Value>,
) -> (String, Vec<String>) {
    let spec = workspace::agent_value(resolved, agent_id, "model");
    let (primary, fallbacks) = match spec {
        Some(Value::String(s)) => (Some(s.clone()), None),
        Some(Value::Object(o)) => (
            o.get("primary").and_then(Value::as_str).map(String::from),
            o.get("fallbacks").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect::<Vec<_>>()
            }),
        ),
        _ => (None, None),
    };
    let fallbacks = fallbacks
        .or_else(|| {
            resolved
                .pointer("/agents/defaults/model/fallbacks")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
        })
        .unwrap_or_default();
    let requested = entry
        .get("model")
        .and_then(Value::as_str)
        .map(String::from)
        .or(primary)
        .unwrap_or_else(|| cfg.primary_model());
    (requested, fallbacks)
}

/// History that fits `budget` tokens: the newest messages, starting at a user turn.
pub fn bound_history(all: &[Message], budget: u64) -> Vec<Message> {
    let mut used = 0u64;
    let mut start = all.len();
    while start > 0 {
        let t = all[start - 1].estimate_tokens();
        if used + t > budget && start < all.len() {
            break;
        }
        used += t;
        start -= 1;
    }
    while start < all.len() - 1 && !matches!(all[start], Message::User { .. }) {
        start += 1;
    }
    all[start..].to_vec()
}

fn status_text(host: &Host, req: &RunRequest) -> Result<String, RunError> {
    let rt = host.config();
    let entry = host
        .agents
        .sessions
        .get(&req.agent_id, &req.session_key)
        .unwrap_or_default();
    let sid = entry
        .get("sessionId")
        .and_then(Value::as_str)
        .unwrap_or("(none yet)");
    let count = if sid == "(none yet)" {
        0
    } else {
        transcript::read(&host.agents.sessions.transcript_path(&req.agent_id, sid))
            .map(|(m, _)| m.len())
            .unwrap_or(0)
    };
    let (model, _) = model_chain(&rt.resolved, &rt.config, &req.agent_id, &entry);
    Ok(format!(
        "🦞 Clawdbot (rust) {}\nModel: {}\nAgent: {}\nSession: {} ({})\nMessages: {count} · context budget {} tokens\nUptime: {}s",
        env!("CARGO_PKG_VERSION"),
        llm::providers::split_ref(&model).0 + "/" + &llm::providers::split_ref(&model).1,
        req.agent_id,
        req.session_key,
        sid,
        rt.config.context_tokens(),
        host.uptime_ms() / 1000,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_recent_turns_from_a_user_message() {
        let long = "x".repeat(4000);
        let mut all = vec![Message::user(&long)];
        all.push(Message::Assistant {
            content: vec![Content::Text { text: long.clone() }],
            stop_reason: None,
            provider: None,
            model: None,
            usage: None,
            timestamp: 0,
        });
        all.push(Message::user("recent"));
        let kept = bound_history(&all, 1500);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].text(), "recent");
        assert_eq!(bound_history(&all, 1_000_000).len(), 3);
        // The newest message is always sent, even if it alone exceeds the budget.
        assert_eq!(bound_history(&all, 1).len(), 1);
    }

    #[test]
    fn only_a_failed_write_is_a_storage_error() {
        assert!(RunError::storage("the transcript (No space left on device)").is_storage());
        // A provider's text that happens to read like one is a plain failure (it used
        // to be matched by prefix, and such a message would be retried forever).
        let provider = RunError::failed("cannot store prompts longer than 200k tokens");
        assert!(!provider.is_storage());
        assert!(!RunError::aborted("aborted").is_storage());
    }
}
