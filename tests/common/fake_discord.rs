//! A fake Discord on one 127.0.0.1 port: the REST routes the gateway uses under
//! `/api/v10`, and the Gateway v10 WebSocket at `/gateway` (and `/resume`, READY's
//! `resume_gateway_url`). It keeps one session like Discord does — sequence numbers, a
//! buffer of sent dispatches for replay on resume — and lets a test break things (drop
//! the TCP connection, close with a code, invalidate the session, stop ACKing).
//! Waiting is on a Notify with a deadline, never on sleeps.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

pub const DISCORD_TOKEN: &str = "MTEwMDAw.fake-discord.token-SECRET42";
pub const BOT_ID: &str = "1100000000000000001";
pub const DM_CHANNEL_ID: &str = "1200000000000000001";

/// What a test asks the live connection's task to do.
enum Ctl {
    Send(Value),
    /// Drop the TCP connection without a close frame.
    Drop,
    Close(u16, String),
    /// Any frame as is (binary, broken JSON, oversized text).
    Raw(Message),
}

/// A canned failure for the next create_message calls.
#[derive(Debug, Clone, Copy)]
pub enum RestFault {
    /// 429 with `retry_after` (seconds) in the body and `Retry-After` header.
    RateLimited(f64),
    ServerError,
}

#[derive(Default)]
struct St {
    token: String,
    port: u16,
    heartbeat_interval: u64,
    ack: bool,
    // Gateway observations.
    identifies: u64,
    resumes: u64,
    heartbeats: u64,
    last_identify: Option<Value>,
    last_resume: Option<Value>,
    last_heartbeat: Option<Value>,
    /// Close codes the client sent, in order.
    client_closes: Vec<u16>,
    /// Paths the client opened sockets on (`/gateway`, `/resume`).
    opened: Vec<&'static str>,
    // The session.
    session: Option<String>,
    sessions_made: u64,
    seq: u64,
    replay: Vec<Value>,
    /// Dispatched while no session existed: delivered after the next READY.
    orphans: Vec<(String, Value)>,
    /// The connection that is READY/RESUMED, with its id.
    current: Option<(u64, mpsc::UnboundedSender<Ctl>)>,
    conns: u64,
    // REST.
    requests: u64,
    sent: Vec<(String, Value)>,
    typing: u64,
    dm_recipients: Vec<String>,
    user_agents: Vec<String>,
    faults: VecDeque<RestFault>,
    next_id: u64,
}

struct Inner {
    st: Mutex<St>,
    changed: Notify,
}

impl Inner {
    fn with<T>(&self, f: impl FnOnce(&mut St) -> T) -> T {
        let out = f(&mut self.st.lock().unwrap());
        self.changed.notify_waiters();
        out
    }
}

#[derive(Clone)]
pub struct FakeDiscord {
    pub port: u16,
    inner: Arc<Inner>,
}

fn bot_user() -> Value {
    json!({"id": BOT_ID, "username": "clawbot", "discriminator": "0", "global_name": null, "bot": true, "avatar": null})
}

// Re-exported so tests keep one import path for the fake and its objects.
#[allow(unused_imports)]
pub use super::discord_msgs::{message_create, replying_to, user, with_mentions};

impl FakeDiscord {
    /// Serves on 127.0.0.1:0; accepts `token`; Hello says 1000 ms heartbeats (roomy
    /// enough that a busy test machine never misses an ACK; heartbeat tests lower it).
    pub async fn start(token: &str) -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
            st: Mutex::new(St {
                token: token.into(),
                port,
                heartbeat_interval: 1000,
                ack: true,
                next_id: 1_300_000_000_000_000_000,
                ..St::default()
            }),
            changed: Notify::new(),
        });
        let app = Router::new()
            .route("/api/v10/users/@me", get(rest_me))
            .route("/api/v10/gateway/bot", get(rest_gateway))
            .route("/api/v10/channels/{id}/messages", post(rest_create))
            .route("/api/v10/channels/{id}/typing", post(rest_typing))
            .route("/api/v10/users/@me/channels", post(rest_dm))
            .route("/gateway", any(ws_gateway))
            .route("/gateway/", any(ws_gateway))
            .route("/resume", any(ws_resume))
            .route("/resume/", any(ws_resume))
            .fallback(rest_not_found)
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeDiscord { port, inner }
    }

    pub fn api_root(&self) -> String {
        format!("http://127.0.0.1:{}/api/v10", self.port)
    }
    pub fn gateway_url(&self) -> String {
        format!("ws://127.0.0.1:{}/gateway", self.port)
    }

    // ------------------------------------------------------------ controls

    /// Sends a dispatch to the live connection, or buffers it (replayed on resume, like
    /// Discord; with no session at all it is sent after the next READY). Its seq.
    pub fn dispatch(&self, name: &str, data: Value) -> Option<u64> {
        self.inner.with(|s| {
            if s.session.is_none() {
                s.orphans.push((name.into(), data));
                return None;
            }
            s.seq += 1;
            let frame = json!({"op": 0, "t": name, "s": s.seq, "d": data});
            s.replay.push(frame.clone());
            if let Some((_, tx)) = &s.current {
                let _ = tx.send(Ctl::Send(frame));
            }
            Some(s.seq)
        })
    }

    fn take_current(&self, what: &str) -> mpsc::UnboundedSender<Ctl> {
        self.inner
            .with(|s| s.current.take())
            .unwrap_or_else(|| panic!("{what}: no live (READY/RESUMED) gateway connection"))
            .1
    }

    /// Drops the TCP connection without a close frame.
    pub fn drop_socket(&self) {
        let _ = self.take_current("drop_socket").send(Ctl::Drop);
    }
    pub fn close_with(&self, code: u16, reason: &str) {
        let _ = self
            .take_current("close_with")
            .send(Ctl::Close(code, reason.into()));
    }
    /// op 9; `resumable: false` also forgets the session (a resume would fail).
    pub fn invalid_session(&self, resumable: bool) {
        let tx = self.take_current("invalid_session");
        if !resumable {
            self.inner.with(|s| s.session = None);
        }
        let _ = tx.send(Ctl::Send(json!({"op": 9, "d": resumable})));
    }
    /// op 7 Reconnect.
    pub fn request_reconnect(&self) {
        let _ = self
            .take_current("request_reconnect")
            .send(Ctl::Send(json!({"op": 7, "d": null})));
    }
    /// Sends a raw frame on the live connection (it stays the live one).
    pub fn send_raw(&self, m: Message) {
        self.inner.with(|s| match &s.current {
            Some((_, tx)) => drop(tx.send(Ctl::Raw(m))),
            None => panic!("send_raw: no live gateway connection"),
        })
    }
    /// Forgets the session while the client is away (as Discord does after a while).
    pub fn expire_session(&self) {
        self.inner.with(|s| s.session = None);
    }
    pub fn set_ack(&self, ack: bool) {
        self.inner.with(|s| s.ack = ack);
    }
    /// For connections opened from now on.
    pub fn set_heartbeat_interval(&self, ms: u64) {
        self.inner.with(|s| s.heartbeat_interval = ms);
    }
    pub fn fail_creates(&self, n: usize, fault: RestFault) {
        self.inner
            .with(|s| s.faults.extend(std::iter::repeat_n(fault, n)));
    }

    // ------------------------------------------------------------ observers

    fn read<T>(&self, f: impl FnOnce(&St) -> T) -> T {
        f(&self.inner.st.lock().unwrap())
    }
    pub fn identifies(&self) -> u64 {
        self.read(|s| s.identifies)
    }
    pub fn resumes(&self) -> u64 {
        self.read(|s| s.resumes)
    }
    pub fn heartbeats(&self) -> u64 {
        self.read(|s| s.heartbeats)
    }
    /// The last op 2 frame (`{"op":2,"d":{token,intents,properties}}`).
    pub fn last_identify(&self) -> Option<Value> {
        self.read(|s| s.last_identify.clone())
    }
    pub fn last_resume(&self) -> Option<Value> {
        self.read(|s| s.last_resume.clone())
    }
    pub fn last_heartbeat(&self) -> Option<Value> {
        self.read(|s| s.last_heartbeat.clone())
    }
    pub fn opened_paths(&self) -> Vec<&'static str> {
        self.read(|s| s.opened.clone())
    }
    pub fn session_id(&self) -> Option<String> {
        self.read(|s| s.session.clone())
    }
    pub fn typing_count(&self) -> u64 {
        self.read(|s| s.typing)
    }
    /// REST requests received (any route, authorized or not).
    pub fn requests(&self) -> u64 {
        self.read(|s| s.requests)
    }
    pub fn user_agents(&self) -> Vec<String> {
        self.read(|s| s.user_agents.clone())
    }
    pub fn dm_recipients(&self) -> Vec<String> {
        self.read(|s| s.dm_recipients.clone())
    }

    /// Waits (up to 10 s) until `cond` holds, re-checking on every state change.
    async fn wait<T>(&self, what: &str, mut cond: impl FnMut(&St) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.inner.changed.notified();
            if let Some(v) = cond(&self.inner.st.lock().unwrap()) {
                return v;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("fake Discord: {what} not reached within 10s");
            }
        }
    }
    pub async fn wait_identifies(&self, n: u64) {
        self.wait("identifies", |s| (s.identifies >= n).then_some(()))
            .await
    }
    pub async fn wait_resumes(&self, n: u64) {
        self.wait("resumes", |s| (s.resumes >= n).then_some(()))
            .await
    }
    pub async fn wait_heartbeats(&self, n: u64) {
        self.wait("heartbeats", |s| (s.heartbeats >= n).then_some(()))
            .await
    }
    /// The client's close codes, once there are at least `n`.
    pub async fn wait_client_closes(&self, n: usize) -> Vec<u16> {
        self.wait("client closes", |s| {
            (s.client_closes.len() >= n).then(|| s.client_closes.clone())
        })
        .await
    }
    /// The recorded (channel id, body) of create_message calls, once there are `n`.
    pub async fn wait_sent(&self, n: usize) -> Vec<(String, Value)> {
        self.wait("sent messages", |s| {
            (s.sent.len() >= n).then(|| s.sent.clone())
        })
        .await
    }
}

// ---------------------------------------------------------------- REST

type Shared = Arc<Inner>;

fn discord_error(status: StatusCode, message: &str, code: i64) -> Response {
    (
        status,
        axum::Json(json!({"message": message, "code": code})),
    )
        .into_response()
}

/// Counts the request and checks `Authorization: Bot <token>`; the 401 to answer if
/// it is wrong.
fn unauthorized(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    let ok = s.with(|st| {
        st.requests += 1;
        if let Some(ua) = headers.get("user-agent").and_then(|v| v.to_str().ok()) {
            st.user_agents.push(ua.into());
        }
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bot {}", st.token))
    });
    (!ok).then(|| discord_error(StatusCode::UNAUTHORIZED, "401: Unauthorized", 0))
}

async fn rest_not_found(State(s): State<Shared>) -> Response {
    s.with(|st| st.requests += 1);
    discord_error(StatusCode::NOT_FOUND, "404: Not Found", 0)
}

async fn rest_me(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    axum::Json(bot_user()).into_response()
}

async fn rest_gateway(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let port = s.st.lock().unwrap().port;
    axum::Json(json!({
        "url": format!("ws://127.0.0.1:{port}/gateway"), "shards": 1,
        "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1},
    }))
    .into_response()
}

async fn rest_create(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let outcome = s.with(|st| match st.faults.pop_front() {
        Some(f) => Err(f),
        None => {
            st.sent.push((id.clone(), body.0.clone()));
            st.next_id += 1;
            Ok(st.next_id)
        }
    });
    match outcome {
        Err(RestFault::RateLimited(secs)) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", format!("{}", secs.ceil() as u64))],
            axum::Json(json!({"message": "You are being rate limited.", "retry_after": secs, "global": false})),
        )
            .into_response(),
        Err(RestFault::ServerError) => discord_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500: Internal Server Error",
            0,
        ),
        Ok(msg_id) => {
            let mut m = message_create(
                &msg_id.to_string(),
                &id,
                None,
                bot_user(),
                body["content"].as_str().unwrap_or(""),
            );
            if let Some(r) = body.get("message_reference") {
                m["message_reference"] = r.clone();
            }
            axum::Json(m).into_response()
        }
    }
}

async fn rest_typing(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    s.with(|st| st.typing += 1);
    StatusCode::NO_CONTENT.into_response()
}

async fn rest_dm(State(s): State<Shared>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    if let Some(r) = unauthorized(&s, &headers) {
        return r;
    }
    let Some(rid) = body["recipient_id"].as_str() else {
        return discord_error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035);
    };
    s.with(|st| st.dm_recipients.push(rid.into()));
    axum::Json(
        json!({"id": DM_CHANNEL_ID, "type": 1, "last_message_id": null, "flags": 0,
        "recipients": [user(rid, "someone")]}),
    )
    .into_response()
}

// ---------------------------------------------------------------- Gateway

async fn ws_gateway(
    State(s): State<Shared>,
    RawQuery(q): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(s, q, ws, "/gateway")
}

async fn ws_resume(
    State(s): State<Shared>,
    RawQuery(q): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(s, q, ws, "/resume")
}

fn upgrade(s: Shared, q: Option<String>, ws: WebSocketUpgrade, path: &'static str) -> Response {
    let q = q.unwrap_or_default();
    if !(q.split('&').any(|p| p == "v=10") && q.split('&').any(|p| p == "encoding=json")) {
        return (StatusCode::BAD_REQUEST, "want ?v=10&encoding=json").into_response();
    }
    ws.on_upgrade(move |sock| connection(sock, s, path))
}

async fn send(sock: &mut WebSocket, v: &Value) -> bool {
    sock.send(Message::text(v.to_string())).await.is_ok()
}

/// One client connection: Hello, then identify/resume/heartbeats from the client and
/// control messages from the test.
async fn connection(mut sock: WebSocket, s: Shared, path: &'static str) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (id, hb) = s.with(|st| {
        st.conns += 1;
        st.opened.push(path);
        (st.conns, st.heartbeat_interval)
    });
    if !send(
        &mut sock,
        &json!({"op": 10, "d": {"heartbeat_interval": hb}}),
    )
    .await
    {
        return;
    }
    loop {
        tokio::select! {
            ctl = rx.recv() => match ctl {
                Some(Ctl::Send(v)) => { if !send(&mut sock, &v).await { break; } }
                Some(Ctl::Raw(m)) => { if sock.send(m).await.is_err() { break; } }
                Some(Ctl::Drop) | None => return,
                Some(Ctl::Close(code, reason)) => {
                    let _ = sock.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    return;
                }
            },
            m = sock.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    let Ok(v) = serde_json::from_str::<Value>(&t) else {
                        let _ = sock.send(Message::Close(Some(CloseFrame { code: 4002, reason: "Error while decoding payload.".into() }))).await;
                        break;
                    };
                    let frames = on_client_frame(&s, id, &tx, &v);
                    for f in frames {
                        if let Some(code) = f.get("close").and_then(Value::as_u64) {
                            let reason = f["reason"].as_str().unwrap_or("").to_string();
                            let _ = sock.send(Message::Close(Some(CloseFrame { code: code as u16, reason: reason.into() }))).await;
                            return;
                        }
                        if !send(&mut sock, &f).await { break; }
                    }
                }
                Some(Ok(Message::Close(f))) => {
                    let code = f.map(|f| f.code).unwrap_or(1005);
                    s.with(|st| st.client_closes.push(code));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    s.with(|st| {
        if st.current.as_ref().is_some_and(|(c, _)| *c == id) {
            st.current = None;
        }
    });
}

/// Handles one client frame; the frames to answer with (`{"close": code, "reason"}`
/// means close the socket).
fn on_client_frame(s: &Shared, id: u64, tx: &mpsc::UnboundedSender<Ctl>, v: &Value) -> Vec<Value> {
    let d = &v["d"];
    s.with(|st| match v["op"].as_u64() {
        Some(1) => {
            st.heartbeats += 1;
            st.last_heartbeat = Some(v.clone());
            if st.ack {
                vec![json!({"op": 11})]
            } else {
                vec![]
            }
        }
        Some(2) => {
            st.identifies += 1;
            st.last_identify = Some(v.clone());
            if d["token"].as_str() != Some(st.token.as_str()) {
                return vec![json!({"close": 4004, "reason": "Authentication failed."})];
            }
            st.sessions_made += 1;
            let sid = format!("fake-session-{}", st.sessions_made);
            st.session = Some(sid.clone());
            st.seq = 1;
            st.replay.clear();
            let mut out = vec![json!({"op": 0, "t": "READY", "s": 1, "d": {
                "v": 10, "user": bot_user(), "session_id": sid, "guilds": [],
                "resume_gateway_url": format!("ws://127.0.0.1:{}/resume", st.port),
                "application": {"id": BOT_ID, "flags": 0},
            }})];
            for (name, data) in std::mem::take(&mut st.orphans) {
                st.seq += 1;
                let f = json!({"op": 0, "t": name, "s": st.seq, "d": data});
                st.replay.push(f.clone());
                out.push(f);
            }
            st.current = Some((id, tx.clone()));
            out
        }
        Some(6) => {
            st.resumes += 1;
            st.last_resume = Some(v.clone());
            if d["token"].as_str() != Some(st.token.as_str()) {
                return vec![json!({"close": 4004, "reason": "Authentication failed."})];
            }
            if st.session.is_none() || d["session_id"].as_str() != st.session.as_deref() {
                return vec![json!({"op": 9, "d": false})];
            }
            let after = d["seq"].as_u64().unwrap_or(0);
            let mut out: Vec<Value> = st
                .replay
                .iter()
                .filter(|f| f["s"].as_u64().is_some_and(|n| n > after))
                .cloned()
                .collect();
            st.seq += 1;
            out.push(json!({"op": 0, "t": "RESUMED", "s": st.seq, "d": {"_trace": ["fake"]}}));
            st.current = Some((id, tx.clone()));
            out
        }
        _ => vec![],
    })
}
