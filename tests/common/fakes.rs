//! Fake external services on 127.0.0.1 that speak the real HTTP APIs: the Telegram Bot
//! API here (queues updates, records sends, injects faults), and in `fake_model.rs` the
//! Anthropic / OpenAI streaming endpoints that do what each test scripts.
//! Waiting is on notifications with a deadline, never on sleeps.
#![allow(dead_code)]

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

// The fake model endpoints live beside this file; `#[path]` keeps them reachable when a
// bench includes this file by path.
#[path = "fake_model.rs"]
mod model;
pub use model::*;

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
