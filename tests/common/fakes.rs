//! Fake external services on 127.0.0.1 that speak the real HTTP APIs: the Telegram Bot
//! API (queues updates, records sends) and Anthropic / OpenAI streaming endpoints that
//! do what each test scripts (answer, call a tool, fail with a status, hang).
//! Waiting is on notifications with a deadline, never on sleeps.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Waits (up to 20 s) until `cond` holds, re-checking whenever `notify` fires.
async fn wait_until<T>(notify: &Notify, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let notified = notify.notified();
        if let Some(v) = cond() {
            return v;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            panic!("condition not met within 20s");
        }
    }
}

// ---------------------------------------------------------------- Telegram

pub const BOT_TOKEN: &str = "123456:TEST-token";
pub const BOT_ID: i64 = 999;
pub const BOT_USERNAME: &str = "clawtest_bot";

#[derive(Default)]
pub struct TgState {
    updates: Mutex<Vec<Value>>,
    next_update: Mutex<i64>,
    pub sent: Mutex<Vec<Value>>,
    pub actions: Mutex<Vec<Value>>,
    /// Answer the next getUpdates calls with this status (409 conflict, 502 …).
    pub fail_polls: Mutex<Vec<u16>>,
    pub polls: Mutex<Vec<Option<i64>>>,
    /// Answer the next sendMessage calls with this status and no `retry_after`.
    pub fail_sends: Mutex<Vec<u16>>,
    /// Reject HTML sends with a parse error (to test the plain-text retry).
    pub reject_html: Mutex<bool>,
    /// Random faults on getUpdates and sendMessage (soak runs); none by default.
    pub faults: Mutex<TgFaults>,
    /// How many faults of each kind were injected, e.g. `"sendMessage 502"`.
    pub injected: Mutex<std::collections::BTreeMap<String, u64>>,
    changed: Notify,
}

/// Odds, in per mille of calls, of each fault on one Bot API method.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultOdds {
    /// Answer 200 and reset the connection halfway through the body (the request is
    /// not acted on: a dropped sendMessage records nothing).
    pub drop: u32,
    /// 409 Conflict, as Telegram answers getUpdates while another poller is active.
    pub conflict: u32,
    /// 502 Bad Gateway with an HTML body (what Telegram's front end serves).
    pub bad_gateway: u32,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TgFaults {
    pub get_updates: FaultOdds,
    pub send_message: FaultOdds,
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Drop,
    Conflict,
    BadGateway,
}

impl FaultOdds {
    fn roll(&self) -> Option<Fault> {
        let r = rand::random::<u32>() % 1000;
        if r < self.drop {
            Some(Fault::Drop)
        } else if r < self.drop + self.conflict {
            Some(Fault::Conflict)
        } else if r < self.drop + self.conflict + self.bad_gateway {
            Some(Fault::BadGateway)
        } else {
            None
        }
    }
}

/// Counts the fault and builds its response.
fn inject(s: &TgState, method: &str, fault: Fault) -> Response {
    let name = match fault {
        Fault::Drop => "drop",
        Fault::Conflict => "409",
        Fault::BadGateway => "502",
    };
    *s.injected
        .lock()
        .unwrap()
        .entry(format!("{method} {name}"))
        .or_default() += 1;
    match fault {
        Fault::Drop => {
            let items = futures_util::stream::iter([
                Ok(bytes::Bytes::from_static(b"{\"ok\":tr")),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fake drop",
                )),
            ]);
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from_stream(items))
                .unwrap()
        }
        Fault::Conflict => (
            StatusCode::CONFLICT,
            axum::Json(json!({"ok": false, "error_code": 409, "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"})),
        )
            .into_response(),
        Fault::BadGateway => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .header("content-type", "text/html")
            .body(Body::from(
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n",
            ))
            .unwrap(),
    }
}

#[derive(Clone)]
pub struct FakeTelegram {
    pub url: String,
    pub state: Arc<TgState>,
}

impl FakeTelegram {
    pub async fn start() -> FakeTelegram {
        let state = Arc::new(TgState::default());
        *state.next_update.lock().unwrap() = 1000;
        let app = Router::new()
            .route("/{bot}/{method}", post(tg_method))
            .with_state(state.clone());
        FakeTelegram {
            url: serve(app).await,
            state,
        }
    }

    /// Queues a text message; returns its update_id.
    pub fn push(&self, chat: Value, from: Value, text: &str, extra: Value) -> i64 {
        let mut n = self.state.next_update.lock().unwrap();
        *n += 1;
        let id = *n;
        let mut message =
            json!({"message_id": id * 10, "date": 0, "chat": chat, "from": from, "text": text});
        if let Value::Object(m) = extra {
            message.as_object_mut().unwrap().extend(m);
        }
        self.state
            .updates
            .lock()
            .unwrap()
            .push(json!({"update_id": id, "message": message}));
        self.state.changed.notify_waiters();
        id
    }

    pub fn dm(&self, user: i64, text: &str) -> i64 {
        self.push(
            json!({"id": user, "type": "private", "first_name": "Ada"}),
            json!({"id": user, "is_bot": false, "first_name": "Ada", "username": format!("user{user}")}),
            text,
            json!({}),
        )
    }

    pub fn group(&self, chat: i64, user: i64, text: &str) -> i64 {
        self.push(
            json!({"id": chat, "type": "supergroup", "title": "Team"}),
            json!({"id": user, "is_bot": false, "first_name": "Bob"}),
            text,
            json!({}),
        )
    }

    pub fn sent(&self) -> Vec<Value> {
        self.state.sent.lock().unwrap().clone()
    }

    /// Turns on random faults (see `TgFaults`).
    pub fn set_faults(&self, f: TgFaults) {
        *self.state.faults.lock().unwrap() = f;
    }

    pub fn injected(&self) -> std::collections::BTreeMap<String, u64> {
        self.state.injected.lock().unwrap().clone()
    }

    /// Waits (up to `max`) for sends and removes them (and the typing actions) from the
    /// record: a long run keeps its own tally instead of ever-growing lists. Empty when
    /// nothing came.
    pub async fn take_sent(&self, max: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let notified = self.state.changed.notified();
            {
                let mut sent = self.state.sent.lock().unwrap();
                if !sent.is_empty() {
                    self.state.actions.lock().unwrap().clear();
                    return std::mem::take(&mut *sent);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return vec![];
            }
        }
    }

    /// Waits until at least `n` messages were sent; returns all of them.
    pub async fn wait_sent(&self, n: usize) -> Vec<Value> {
        let s = self.state.clone();
        wait_until(&self.state.changed, || {
            let v = s.sent.lock().unwrap().clone();
            (v.len() >= n).then_some(v)
        })
        .await
    }

    /// Waits until the bot polled with an offset past `update_id` (the update was
    /// accepted and confirmed).
    pub async fn wait_confirmed(&self, update_id: i64) {
        let s = self.state.clone();
        wait_until(&self.state.changed, || {
            s.polls
                .lock()
                .unwrap()
                .iter()
                .any(|o| o.is_some_and(|o| o > update_id))
                .then_some(())
        })
        .await
    }
}

async fn tg_method(
    State(s): State<Arc<TgState>>,
    Path((bot, method)): Path<(String, String)>,
    body: axum::Json<Value>,
) -> Response {
    if bot != format!("bot{BOT_TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"})),
        )
            .into_response();
    }
    let ok = |v: Value| axum::Json(json!({"ok": true, "result": v})).into_response();
    match method.as_str() {
        "getMe" => ok(json!({"id": BOT_ID, "is_bot": true, "first_name": "Claw", "username": BOT_USERNAME})),
        "getUpdates" => {
            let offset = body["offset"].as_i64();
            s.polls.lock().unwrap().push(offset);
            s.changed.notify_waiters();
            let odds = s.faults.lock().unwrap().get_updates;
            if let Some(f) = odds.roll() {
                return inject(&s, "getUpdates", f);
            }
            let fail = {
                let mut f = s.fail_polls.lock().unwrap();
                (!f.is_empty()).then(|| f.remove(0))
            };
            if let Some(code) = fail {
                let description = match code {
                    409 => "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                    _ => "Bad Gateway",
                };
                return (
                    StatusCode::from_u16(code).unwrap(),
                    axum::Json(json!({"ok": false, "error_code": code, "description": description})),
                )
                    .into_response();
            }
            if let Some(o) = offset {
                s.updates.lock().unwrap().retain(|u| u["update_id"].as_i64().unwrap() >= o);
            }
            // Long poll: answer when there is something, or after the timeout (capped).
            let wait = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0).min(30));
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let notified = s.changed.notified();
                let pending = s.updates.lock().unwrap().clone();
                if !pending.is_empty() || tokio::time::Instant::now() >= deadline {
                    return ok(Value::Array(pending));
                }
                let _ = tokio::time::timeout_at(deadline, notified).await;
            }
        }
        "sendMessage" => {
            let odds = s.faults.lock().unwrap().send_message;
            if let Some(f) = odds.roll() {
                return inject(&s, "sendMessage", f);
            }
            let fail = {
                let mut f = s.fail_sends.lock().unwrap();
                (!f.is_empty()).then(|| f.remove(0))
            };
            if let Some(code) = fail {
                return (
                    StatusCode::from_u16(code).unwrap(),
                    axum::Json(json!({"ok": false, "error_code": code, "description": "Too Many Requests"})),
                )
                    .into_response();
            }
            if body["parse_mode"] == "HTML" && *s.reject_html.lock().unwrap() {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"ok": false, "error_code": 400, "description": "Bad Request: can't parse entities: unexpected end tag"})),
                )
                    .into_response();
            }
            let mut sent = s.sent.lock().unwrap();
            let id = sent.len() as i64 + 1;
            sent.push(body.0.clone());
            drop(sent);
            s.changed.notify_waiters();
            ok(json!({"message_id": id, "chat": {"id": body["chat_id"]}, "text": body["text"]}))
        }
        "sendChatAction" => {
            s.actions.lock().unwrap().push(body.0.clone());
            ok(json!(true))
        }
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"})),
        )
            .into_response(),
    }
}

// ---------------------------------------------------------------- Models

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
