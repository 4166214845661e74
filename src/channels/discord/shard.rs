//! One Discord Gateway session (v10, JSON, no compression), driven by the caller:
//! [`Shard::next`] returns the next event and, while it waits, does everything a session
//! needs — connect, Hello, identify or resume, heartbeats, zombie detection, reconnects
//! with backoff. Nothing runs in the background, so there is no task to leak or orphan,
//! and the caller decides when an event counts as handled (the resume sequence advances
//! when a dispatch is returned, i.e. when the caller has it).
//!
//! The token is sent in identify/resume payloads only; no error, reason or Debug output
//! of this module contains it.

use std::fmt;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_util::sync::CancellationToken;

use crate::config::secrets::Secret;

/// GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT (privileged: without it
/// guild message `content` arrives empty).
pub const INTENTS: u64 = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15);

/// Largest frame accepted; READY for a small bot is a few KiB, so a bigger one is a
/// broken or hostile peer and the connection is dropped (then resumed).
const MAX_FRAME: usize = 1 << 20;
/// How long a fresh connection may take to open, and then to say Hello.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Close code for closes we initiate that must keep the session resumable (Discord
/// invalidates the session on 1000/1001).
const RESUMABLE_CLOSE: u16 = 4000;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// The Gateway URL from `Rest::gateway_url` (`wss://…`; `ws://` in tests).
    pub url: String,
    pub token: Secret,
    pub intents: u64,
    /// Cancelling ends the session: `next` returns [`ShardError::Cancelled`] at once,
    /// whatever it was waiting for.
    pub cancel: CancellationToken,
    /// After op 9 with `d:false` Discord asks for a random 1–5 s wait before a fresh
    /// identify; tests shorten it.
    pub invalid_session_wait: (Duration, Duration),
    /// Reconnect backoff after failed connections: first wait, cap (jittered).
    pub backoff: (Duration, Duration),
}

impl ShardConfig {
    /// Production defaults: [`INTENTS`], 1–5 s invalid-session wait, 1 s → 60 s backoff.
    pub fn new(url: &str, token: Secret, cancel: CancellationToken) -> ShardConfig {
        ShardConfig {
            url: url.to_string(),
            token,
            intents: INTENTS,
            cancel,
            invalid_session_wait: (Duration::from_secs(1), Duration::from_secs(5)),
            backoff: (Duration::from_secs(1), Duration::from_secs(60)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// READY: a new session (`user` is READY's `d.user`, the bot).
    Ready { user: Value, session_id: String },
    /// RESUMED: the missed events were replayed (they came before this).
    Resumed,
    /// Any other dispatch (op 0): MESSAGE_CREATE, GUILD_CREATE, …
    Dispatch { name: String, data: Value },
    /// The connection was lost; the next `next` reconnects (resuming if it can).
    Disconnected { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardError {
    /// Discord closed with a code that retrying cannot fix; `message` names the fix.
    Fatal {
        code: u16,
        message: String,
    },
    Cancelled,
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::Fatal { code, message } => {
                write!(f, "Discord Gateway closed with {code}: {message}")
            }
            ShardError::Cancelled => f.write_str("Discord Gateway session cancelled"),
        }
    }
}

impl std::error::Error for ShardError {}

/// Counters for tests and status output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub identifies: u64,
    pub resumes: u64,
    pub heartbeats: u64,
    pub acks: u64,
    /// Connections that ended (lost, closed, or closed by us to resume/re-identify).
    pub reconnects: u64,
    /// Attempts that did not get a WebSocket open.
    pub connect_failures: u64,
}

/// The human text for close codes after which reconnecting is pointless.
fn fatal_message(code: u16) -> Option<&'static str> {
    Some(match code {
        4004 => {
            "authentication failed: the bot token is wrong or was reset; copy a fresh one from the Developer Portal (Bot > Reset Token) into the config"
        }
        4010 => "invalid shard: clawdbot sent a bad shard number (a bug; please report it)",
        4011 => {
            "sharding required: the bot is in too many guilds for one connection, which clawdbot does not support yet"
        }
        4012 => "invalid API version: this clawdbot speaks Gateway v10; update clawdbot",
        4013 => "invalid intents: clawdbot sent a bad intents bitmask (a bug; please report it)",
        4014 => {
            "disallowed intents: enable the Message Content intent in the Developer Portal (Bot > Privileged Gateway Intents)"
        }
        _ => return None,
    })
}

struct Session {
    id: String,
    resume_url: String,
}

struct Conn {
    ws: Ws,
    /// Hello received (and identify/resume sent).
    hello: bool,
    /// READY or RESUMED received on this connection.
    ready: bool,
    interval: Duration,
    /// When the next heartbeat is due (before Hello: the Hello deadline).
    due: Instant,
    /// The last heartbeat was acknowledged (op 11).
    acked: bool,
}

pub struct Shard {
    cfg: ShardConfig,
    conn: Option<Conn>,
    session: Option<Session>,
    seq: Option<u64>,
    /// Do not connect before this instant (backoff, invalid-session wait).
    not_before: Option<Instant>,
    /// Consecutive connections that failed to reach READY/RESUMED.
    failures: u32,
    fatal: Option<(u16, String)>,
    stats: ShardStats,
}

impl fmt::Debug for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shard")
            .field("connected", &self.conn.is_some())
            .field("session", &self.session.as_ref().map(|s| &s.id))
            .field("seq", &self.seq)
            .field("stats", &self.stats)
            .finish()
    }
}

/// What woke a wait on a live connection.
enum Wake {
    Cancel,
    Due,
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
}

/// Random point in `[a, b]`.
fn between(a: Duration, b: Duration) -> Duration {
    if b <= a {
        return a;
    }
    a + (b - a).mul_f64(rand::random::<f64>())
}

/// `{base}/?v=10&encoding=json` (Discord's URL has no path; the fake's has one).
fn gateway_query(base: &str) -> String {
    format!("{}/?v=10&encoding=json", base.trim_end_matches('/'))
}

impl Shard {
    pub fn new(cfg: ShardConfig) -> Shard {
        Shard {
            cfg,
            conn: None,
            session: None,
            seq: None,
            not_before: None,
            failures: 0,
            fatal: None,
            stats: ShardStats::default(),
        }
    }

    pub fn stats(&self) -> ShardStats {
        self.stats
    }

    /// The sequence number a resume would send (the last dispatch returned).
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// The current session id, if any (a resume is possible).
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.id.as_str())
    }

    /// Next event. Connects/reconnects/resumes internally; heartbeats run inside this
    /// call. Dropping the future is safe between frames (a half-opened connection is
    /// just opened again). After a `Fatal` every call returns the same error.
    pub async fn next(&mut self) -> Result<Event, ShardError> {
        loop {
            if let Some((code, message)) = &self.fatal {
                return Err(ShardError::Fatal {
                    code: *code,
                    message: message.clone(),
                });
            }
            if self.cfg.cancel.is_cancelled() {
                return Err(self.cancelled().await);
            }
            if self.conn.is_none() {
                self.open().await?;
                continue;
            }
            if let Some(ev) = self.step().await? {
                return Ok(ev);
            }
        }
    }

    async fn cancelled(&mut self) -> ShardError {
        // A deliberate stop: 1000 tells Discord the bot is gone (it shows offline now).
        if let Some(mut c) = self.conn.take() {
            close(&mut c, 1000).await;
        }
        ShardError::Cancelled
    }

    /// Waits out any backoff, then opens a WebSocket (no frames yet).
    async fn open(&mut self) -> Result<(), ShardError> {
        let cancel = self.cfg.cancel.clone();
        if let Some(t) = self.not_before.take() {
            tokio::select! {
                _ = cancel.cancelled() => return Err(ShardError::Cancelled),
                _ = tokio::time::sleep_until(t) => {}
            }
        }
        // A resume goes to READY's resume_gateway_url; if that keeps failing, the main
        // URL accepts a resume too.
        let base = match &self.session {
            Some(s) if self.failures < 3 => s.resume_url.clone(),
            _ => self.cfg.url.clone(),
        };
        let url = gateway_query(&base);
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME))
            .max_frame_size(Some(MAX_FRAME));
        let attempt = tokio::time::timeout(
            OPEN_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false),
        );
        let res = tokio::select! {
            _ = cancel.cancelled() => return Err(ShardError::Cancelled),
            r = attempt => r,
        };
        match res {
            Ok(Ok((ws, _))) => {
                self.conn = Some(Conn {
                    ws,
                    hello: false,
                    ready: false,
                    interval: OPEN_TIMEOUT,
                    due: Instant::now() + OPEN_TIMEOUT,
                    acked: true,
                });
            }
            Ok(Err(e)) => self.connect_failed(&format!("cannot connect to {base}: {e}")),
            Err(_) => self.connect_failed(&format!("cannot connect to {base}: timed out")),
        }
        Ok(())
    }

    fn connect_failed(&mut self, why: &str) {
        self.stats.connect_failures += 1;
        self.failures += 1;
        let wait = self.backoff();
        tracing::warn!(target: "discord", "{}; retrying in {:.1}s", self.scrub(why), wait.as_secs_f64());
        self.not_before = Some(Instant::now() + wait);
    }

    /// Jittered exponential backoff for the current failure count.
    fn backoff(&self) -> Duration {
        let (first, cap) = self.cfg.backoff;
        let exp = self.failures.saturating_sub(1).min(16);
        let full = first.saturating_mul(1 << exp).min(cap);
        between(full / 2, full)
    }

    /// One wait on the live connection: a frame, the heartbeat timer, or cancel.
    async fn step(&mut self) -> Result<Option<Event>, ShardError> {
        let cancel = self.cfg.cancel.clone();
        let wake = {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            let due = conn.due;
            tokio::select! {
                _ = cancel.cancelled() => Wake::Cancel,
                _ = tokio::time::sleep_until(due) => Wake::Due,
                m = conn.ws.next() => Wake::Frame(m),
            }
        };
        match wake {
            Wake::Cancel => Err(self.cancelled().await),
            Wake::Due => Ok(self.heartbeat_due().await),
            Wake::Frame(None) => Ok(Some(self.lost("connection closed without a close frame"))),
            Wake::Frame(Some(Err(e))) => Ok(Some(self.lost(&format!("connection lost: {e}")))),
            Wake::Frame(Some(Ok(m))) => self.on_message(m).await,
        }
    }

    async fn heartbeat_due(&mut self) -> Option<Event> {
        let (hello, acked) = {
            let c = self.conn.as_ref()?;
            (c.hello, c.acked)
        };
        if !hello {
            return Some(self.drop_conn(true, None, "no Hello within 30s").await);
        }
        if !acked {
            // A zombie connection: TCP looks fine but Discord no longer answers.
            return Some(
                self.drop_conn(true, None, "no heartbeat ACK since the last heartbeat")
                    .await,
            );
        }
        let conn = self.conn.as_mut()?;
        conn.acked = false;
        conn.due += conn.interval;
        if conn.due < Instant::now() {
            conn.due = Instant::now() + conn.interval;
        }
        self.send_heartbeat().await
    }

    async fn send_heartbeat(&mut self) -> Option<Event> {
        let frame = json!({"op": 1, "d": self.seq});
        self.stats.heartbeats += 1;
        self.send(frame).await
    }

    /// Sends a frame; on failure the connection is gone and this is the event to return.
    async fn send(&mut self, v: Value) -> Option<Event> {
        let conn = self.conn.as_mut()?;
        match conn.ws.send(Message::text(v.to_string())).await {
            Ok(()) => None,
            Err(e) => Some(self.lost(&format!("send failed: {e}"))),
        }
    }

    async fn on_message(&mut self, m: Message) -> Result<Option<Event>, ShardError> {
        let text = match m {
            Message::Text(t) => t,
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return self.closed_by_discord(code, &reason);
            }
            // Binary (we asked for no compression), ping/pong (tungstenite answers).
            _ => return Ok(None),
        };
        if text.len() > MAX_FRAME {
            return Ok(Some(self.drop_conn(true, None, "oversized frame").await));
        }
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            return Ok(Some(
                self.drop_conn(true, None, "a frame that is not JSON").await,
            ));
        };
        let d = v.get("d").cloned().unwrap_or(Value::Null);
        match v.get("op").and_then(Value::as_u64) {
            Some(0) => Ok(self.on_dispatch(&v, d)),
            Some(1) => Ok(self.send_heartbeat().await),
            Some(7) => Ok(Some(
                self.drop_conn(true, None, "Discord asked for a reconnect (op 7)")
                    .await,
            )),
            Some(9) if d.as_bool() == Some(true) => Ok(Some(
                self.drop_conn(true, None, "invalid session (resumable)")
                    .await,
            )),
            Some(9) => {
                let (a, b) = self.cfg.invalid_session_wait;
                let why = "invalid session; identifying again";
                Ok(Some(self.drop_conn(false, Some(between(a, b)), why).await))
            }
            Some(10) => Ok(self.on_hello(&d).await),
            Some(11) => {
                if let Some(c) = self.conn.as_mut() {
                    c.acked = true;
                    self.stats.acks += 1;
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Hello: start the heartbeat (first one after a random fraction of the interval,
    /// so a fleet of reconnecting bots does not beat in step) and identify or resume.
    async fn on_hello(&mut self, d: &Value) -> Option<Event> {
        let ms = d.get("heartbeat_interval").and_then(Value::as_u64)?;
        let conn = self.conn.as_mut()?;
        if conn.hello {
            return None; // a repeated Hello changes nothing
        }
        conn.hello = true;
        conn.interval = Duration::from_millis(ms.max(10));
        conn.due = Instant::now() + conn.interval.mul_f64(rand::random::<f64>());
        conn.acked = true;
        let frame = match &self.session {
            Some(s) => {
                self.stats.resumes += 1;
                json!({"op": 6, "d": {
                    "token": self.cfg.token.expose(),
                    "session_id": s.id,
                    "seq": self.seq.unwrap_or(0),
                }})
            }
            None => {
                self.stats.identifies += 1;
                json!({"op": 2, "d": {
                    "token": self.cfg.token.expose(),
                    "intents": self.cfg.intents,
                    "properties": {
                        "os": std::env::consts::OS,
                        "browser": "clawdbot",
                        "device": "clawdbot",
                    },
                }})
            }
        };
        self.send(frame).await
    }

    fn on_dispatch(&mut self, v: &Value, d: Value) -> Option<Event> {
        let name = v.get("t").and_then(Value::as_str)?.to_string();
        if let Some(s) = v.get("s").and_then(Value::as_u64) {
            self.seq = Some(s);
        }
        match name.as_str() {
            "READY" => {
                let session_id = d.get("session_id").and_then(Value::as_str)?.to_string();
                let resume_url = d
                    .get("resume_gateway_url")
                    .and_then(Value::as_str)
                    .filter(|u| u.starts_with("ws://") || u.starts_with("wss://"))
                    .unwrap_or(&self.cfg.url)
                    .to_string();
                self.session = Some(Session {
                    id: session_id.clone(),
                    resume_url,
                });
                self.mark_ready();
                Some(Event::Ready {
                    user: d.get("user").cloned().unwrap_or(Value::Null),
                    session_id,
                })
            }
            "RESUMED" => {
                self.mark_ready();
                Some(Event::Resumed)
            }
            _ => Some(Event::Dispatch { name, data: d }),
        }
    }

    fn mark_ready(&mut self) {
        self.failures = 0;
        if let Some(c) = self.conn.as_mut() {
            c.ready = true;
        }
    }

    /// Discord sent a close frame: stop, start over, or resume, by its code.
    fn closed_by_discord(&mut self, code: u16, reason: &str) -> Result<Option<Event>, ShardError> {
        if let Some(message) = fatal_message(code) {
            self.conn = None;
            self.fatal = Some((code, message.to_string()));
            tracing::error!(target: "discord", "Gateway closed with {code}: {message}");
            return Err(ShardError::Fatal {
                code,
                message: message.to_string(),
            });
        }
        // 4007 invalid seq, 4009 session timed out: the session is gone.
        let resumable = !matches!(code, 4007 | 4009);
        let reason: String = reason.chars().take(120).collect();
        let reason =
            self.scrub(format!("Discord closed the connection ({code} {reason}").trim_end()) + ")";
        Ok(Some(self.end_conn(resumable, None, reason)))
    }

    /// The connection broke under us (no close handshake possible).
    fn lost(&mut self, why: &str) -> Event {
        let why = self.scrub(why);
        self.end_conn(true, None, why)
    }

    /// Closes our side (4000, so the session stays resumable unless `resumable` is
    /// false anyway) and forgets the connection.
    async fn drop_conn(&mut self, resumable: bool, wait: Option<Duration>, why: &str) -> Event {
        if let Some(c) = self.conn.as_mut() {
            close(c, RESUMABLE_CLOSE).await;
        }
        self.end_conn(resumable, wait, why.to_string())
    }

    fn end_conn(&mut self, resumable: bool, wait: Option<Duration>, reason: String) -> Event {
        let was_ready = self.conn.take().is_some_and(|c| c.ready);
        self.stats.reconnects += 1;
        if !resumable {
            self.session = None;
            self.seq = None;
        }
        // A connection that never got READY/RESUMED counts as a failure (a server that
        // accepts and closes at once must not make us spin).
        let mut delay = Duration::ZERO;
        if !was_ready {
            self.failures += 1;
            delay = self.backoff();
        }
        if let Some(w) = wait {
            delay = delay.max(w);
        }
        self.not_before = (!delay.is_zero()).then(|| Instant::now() + delay);
        tracing::info!(target: "discord", "Gateway disconnected: {reason}");
        Event::Disconnected { reason }
    }

    fn scrub(&self, s: &str) -> String {
        let t = self.cfg.token.expose();
        if t.is_empty() {
            s.to_string()
        } else {
            s.replace(t, "***")
        }
    }
}

/// Best-effort close frame; a zombie peer may never read it, so this is bounded.
async fn close(c: &mut Conn, code: u16) {
    let frame = CloseFrame {
        code: code.into(),
        reason: "".into(),
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), c.ws.close(Some(frame))).await;
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
