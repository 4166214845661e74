//! The fake model endpoints (a child of `fakes`, so that the tests and the benches that
//! include `fakes.rs` by path get it too): Anthropic Messages and OpenAI Chat
//! Completions streaming, answering what each test scripts (text, a tool call, a status,
//! a hang, or a weighted random mix for the soak).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::{serve, wait_until};

/// What the fake model does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Stream this text (in a few pieces) and stop.
    Text(String),
    /// Ask for a tool call.
    Tool { name: String, input: Value },
    /// Fail with this HTTP status.
    Status(u16),
    /// Start streaming, then never finish.
    Hang,
    /// Answer `re <word>` with the last word of the last user message (a test can tell
    /// which message a reply answers).
    Echo,
}

#[derive(Default)]
pub struct ModelState {
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Option<Reply>>,
    /// Weighted random choice once the script is used up (before `fallback`).
    mix: Mutex<Vec<(u32, Reply)>>,
    /// How often each kind of reply was served from the mix (`"text"`, `"hang"` …).
    pub served: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    pub requests: Mutex<Vec<Value>>,
    changed: Notify,
}

#[derive(Clone)]
pub struct FakeModel {
    pub url: String,
    pub state: Arc<ModelState>,
}

impl FakeModel {
    /// An Anthropic Messages endpoint (`POST /v1/messages`).
    pub async fn anthropic() -> FakeModel {
        let state = Arc::new(ModelState::default());
        let app = Router::new()
            .route("/v1/messages", post(anthropic_messages))
            .with_state(state.clone());
        FakeModel {
            url: serve(app).await,
            state,
        }
    }

    /// An OpenAI Chat Completions endpoint (`POST /v1/chat/completions`); `url` ends in /v1.
    pub async fn openai() -> FakeModel {
        let state = Arc::new(ModelState::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(openai_chat))
            .with_state(state.clone());
        FakeModel {
            url: format!("{}/v1", serve(app).await),
            state,
        }
    }

    /// Queues replies for the next requests.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// What to do once the script is used up.
    pub fn always(&self, r: Reply) {
        *self.state.fallback.lock().unwrap() = Some(r);
    }

    pub fn requests(&self) -> Vec<Value> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Once the script is used up, picks each reply at random with these weights.
    pub fn mix(&self, choices: Vec<(u32, Reply)>) {
        *self.state.mix.lock().unwrap() = choices;
    }

    pub fn served(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.state.served.lock().unwrap().clone()
    }

    /// The number of requests so far, forgetting their bodies (a long run would
    /// otherwise keep every transcript it was sent).
    pub fn take_request_count(&self) -> usize {
        std::mem::take(&mut *self.state.requests.lock().unwrap()).len()
    }

    pub async fn wait_requests(&self, n: usize) -> Vec<Value> {
        let s = self.state.clone();
        wait_until(&self.state.changed, || {
            let v = s.requests.lock().unwrap().clone();
            (v.len() >= n).then_some(v)
        })
        .await
    }
}

/// The text of the last user message in a request body (Anthropic or OpenAI shape).
fn last_user_words(req: &Value) -> String {
    let Some(last) = req["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
    else {
        return String::new();
    };
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn next_reply(s: &ModelState, body: Value) -> Reply {
    let echo = format!(
        "re {}",
        last_user_words(&body)
            .split_whitespace()
            .last()
            .unwrap_or_default()
    );
    s.requests.lock().unwrap().push(body);
    s.changed.notify_waiters();
    let scripted = s.script.lock().unwrap().pop_front();
    match scripted
        .or_else(|| pick(s))
        .or_else(|| s.fallback.lock().unwrap().clone())
        .unwrap_or(Reply::Text("(no script)".into()))
    {
        Reply::Echo => Reply::Text(echo),
        r => r,
    }
}

fn pick(s: &ModelState) -> Option<Reply> {
    let mix = s.mix.lock().unwrap();
    let total: u32 = mix.iter().map(|(w, _)| w).sum();
    if total == 0 {
        return None;
    }
    let mut r = rand::random::<u32>() % total;
    let (_, reply) = mix.iter().find(|(w, _)| {
        let hit = r < *w;
        r = r.saturating_sub(*w);
        hit
    })?;
    let kind = match reply {
        Reply::Text(_) => "text",
        Reply::Tool { .. } => "tool",
        Reply::Status(_) => "status",
        Reply::Hang => "hang",
        Reply::Echo => "echo",
    };
    *s.served.lock().unwrap().entry(kind).or_default() += 1;
    Some(reply.clone())
}

fn sse(events: Vec<String>, hang: bool) -> Response {
    let items = futures_util::stream::iter(events.into_iter().map(Ok::<_, std::io::Error>));
    let body = if hang {
        use futures_util::StreamExt;
        Body::from_stream(items.chain(futures_util::stream::pending()))
    } else {
        Body::from_stream(items)
    };
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .unwrap()
}

fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(chars.len().div_ceil(3).max(1))
        .map(|c| c.iter().collect())
        .collect()
}

async fn anthropic_messages(State(s): State<Arc<ModelState>>, body: axum::Json<Value>) -> Response {
    let reply = next_reply(&s, body.0);
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let start = ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "fake", "content": [], "stop_reason": null, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
    );
    match reply {
        Reply::Status(code) => {
            let kind = match code {
                429 => "rate_limit_error",
                529 => "overloaded_error",
                401 => "authentication_error",
                _ => "api_error",
            };
            (
                StatusCode::from_u16(code).unwrap(),
                axum::Json(json!({"type": "error", "error": {"type": kind, "message": format!("fake {kind}")}})),
            )
                .into_response()
        }
        Reply::Hang => sse(vec![start], true),
        Reply::Echo => unreachable!("next_reply turns Echo into Text"),
        Reply::Text(text) => {
            let mut v = vec![
                start,
                ev(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ),
            ];
            for p in pieces(&text) {
                v.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}})));
            }
            v.push(ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ));
            v.push(ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}})));
            v.push(ev("message_stop", json!({"type": "message_stop"})));
            sse(v, false)
        }
        Reply::Tool { name, input } => {
            let v = vec![
                start,
                ev(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1", "name": name, "input": {}}}),
                ),
                ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
                ),
                ev(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": 0}),
                ),
                ev(
                    "message_delta",
                    json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
                ),
                ev("message_stop", json!({"type": "message_stop"})),
            ];
            sse(v, false)
        }
    }
}

async fn openai_chat(State(s): State<Arc<ModelState>>, body: axum::Json<Value>) -> Response {
    let reply = next_reply(&s, body.0);
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    match reply {
        Reply::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            axum::Json(json!({"error": {"message": format!("fake status {code}"), "type": "server_error"}})),
        )
            .into_response(),
        Reply::Hang => sse(vec![chunk(json!({"role": "assistant"}), Value::Null)], true),
        Reply::Echo => unreachable!("next_reply turns Echo into Text"),
        Reply::Text(text) => {
            let mut v = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
            for p in pieces(&text) {
                v.push(chunk(json!({"content": p}), Value::Null));
            }
            v.push(chunk(json!({}), json!("stop")));
            v.push("data: [DONE]\n\n".into());
            sse(v, false)
        }
        Reply::Tool { name, input } => {
            let v = vec![
                chunk(json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}]}), Value::Null),
                chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": input.to_string()}}]}), Value::Null),
                chunk(json!({}), json!("tool_calls")),
                "data: [DONE]\n\n".into(),
            ];
            sse(v, false)
        }
    }
}
