//! The soak's load: held and churning WebSocket clients (protocol v3), Telegram DM chats,
//! and the collector that tallies every reply the fake Telegram records against the
//! message it answers. Every loop ends when `Shared::stop` fires; every wait has a
//! deadline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::fakes::FakeTelegram;

pub const TOKEN: &str = "soak-token";
/// How long one call or one handshake may take before it counts as an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a chat waits for the reply to its message before sending the next one
/// anyway (the final drain still requires the reply).
const REPLY_WAIT: Duration = Duration::from_secs(90);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Counters and the reply ledger, shared by every load task and the report.
#[derive(Default)]
pub struct Shared {
    pub stop: CancellationToken,
    pub connects: AtomicU64,
    pub calls: AtomicU64,
    pub held_up: AtomicUsize,
    pub client_errors: AtomicU64,
    pub first_errors: Mutex<Vec<String>>,
    pub messages: AtomicU64,
    pub replies: AtomicU64,
    pub answered: AtomicU64,
    pub timeouts: AtomicU64,
    pub failed: AtomicU64,
    pub late: AtomicU64,
    pub model_requests: AtomicUsize,
    pub panics: AtomicU64,
    /// Message id of each update sent → how many replies answered it.
    pub ledger: Mutex<HashMap<i64, u32>>,
    /// Replies that answer no message this soak sent.
    pub strays: AtomicU64,
    pub replied: Notify,
}

impl Shared {
    fn error(&self, what: String) {
        self.client_errors.fetch_add(1, Relaxed);
        let mut first = self.first_errors.lock().unwrap();
        if first.len() < 10 {
            first.push(what);
        }
    }

    /// Messages that got no reply, and messages that got more than one.
    pub fn unanswered_and_duplicates(&self) -> (usize, usize) {
        let l = self.ledger.lock().unwrap();
        (
            l.values().filter(|&&n| n == 0).count(),
            l.values().filter(|&&n| n > 1).count(),
        )
    }
}

async fn connect(url: &str) -> Result<Ws, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let connect = json!({"type": "req", "id": "c", "method": "connect", "params": {
        "minProtocol": 3, "maxProtocol": 3, "auth": {"token": TOKEN},
        "client": {"id": "cli", "version": "soak", "platform": "linux", "mode": "cli"}}});
    ws.send(Message::text(connect.to_string()))
        .await
        .map_err(|e| format!("send connect: {e}"))?;
    let v = response(&mut ws, "c").await?;
    if v["ok"] != true {
        return Err(format!("connect refused: {v}"));
    }
    Ok(ws)
}

/// Reads until the response with `id` (events in between are skipped).
async fn response(ws: &mut Ws, id: &str) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + CALL_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Err(format!("no response to {id} within 30s")),
            Ok(None) => return Err(format!("closed while waiting for {id}")),
            Ok(Some(Err(e))) => return Err(format!("waiting for {id}: {e}")),
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).map_err(|e| format!("{e}: {t}"))?;
                if v["type"] == "res" && v["id"] == id {
                    return Ok(v);
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn call(ws: &mut Ws, id: &str, method: &str) -> Result<(), String> {
    ws.send(Message::text(
        json!({"type": "req", "id": id, "method": method}).to_string(),
    ))
    .await
    .map_err(|e| format!("send {method}: {e}"))?;
    let v = response(ws, id).await?;
    if v["ok"] != true {
        return Err(format!("{method} failed: {v}"));
    }
    Ok(())
}

/// The gateway's tracked task count (`status.tasks`), over a connection of its own.
pub async fn gateway_tasks(url: &str) -> Option<u64> {
    let mut ws = connect(url).await.ok()?;
    ws.send(Message::text(
        json!({"type": "req", "id": "tasks", "method": "status"}).to_string(),
    ))
    .await
    .ok()?;
    let v = response(&mut ws, "tasks").await.ok()?;
    let _ = ws.close(None).await;
    v["payload"]["tasks"].as_u64()
}

/// A client that stays connected, reads every event broadcast to it, and makes a
/// `health` call every ~10 s.
pub async fn held(url: String, s: std::sync::Arc<Shared>, i: usize) {
    let mut ws = match connect(&url).await {
        Ok(ws) => ws,
        Err(e) => return s.error(format!("held {i}: {e}")),
    };
    s.connects.fetch_add(1, Relaxed);
    s.held_up.fetch_add(1, Relaxed);
    let mut n = 0u64;
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_millis(100 * i as u64),
        Duration::from_secs(10),
    );
    loop {
        tokio::select! {
            _ = s.stop.cancelled() => break,
            _ = tick.tick() => {
                n += 1;
                if let Err(e) = call(&mut ws, &format!("h{n}"), "health").await {
                    s.error(format!("held {i}: {e}"));
                    s.held_up.fetch_sub(1, Relaxed);
                    return;
                }
                s.calls.fetch_add(1, Relaxed);
            }
            m = ws.next() => match m {
                Some(Ok(_)) => {}
                other => {
                    s.error(format!("held {i}: connection ended: {other:?}"));
                    s.held_up.fetch_sub(1, Relaxed);
                    return;
                }
            },
        }
    }
    let _ = ws.close(None).await;
    s.held_up.fetch_sub(1, Relaxed);
}

/// Connect, `health` / `status` / `system-presence`, close; again after a pause of up
/// to a second, until stopped.
pub async fn churn(url: String, s: std::sync::Arc<Shared>) {
    while !s.stop.is_cancelled() {
        let session = async {
            let mut ws = connect(&url).await?;
            s.connects.fetch_add(1, Relaxed);
            for (i, m) in ["health", "status", "system-presence"].iter().enumerate() {
                call(&mut ws, &format!("r{i}"), m).await?;
                s.calls.fetch_add(1, Relaxed);
            }
            ws.close(None).await.map_err(|e| format!("close: {e}"))?;
            // Read to the close frame so the socket is shut down from both sides.
            while let Ok(Some(Ok(_))) = tokio::time::timeout(CALL_TIMEOUT, ws.next()).await {}
            Ok::<_, String>(())
        };
        if let Err(e) = session.await {
            s.error(format!("churn: {e}"));
        }
        let pause = Duration::from_millis(rand::thread_rng().gen_range(0..1000));
        tokio::select! {
            _ = s.stop.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// One DM chat: a message, wait for its reply, a pause, the next; every 25th message
/// starts a fresh session (`/new …`) so transcripts stay the size a real chat has.
pub async fn chat(tg: FakeTelegram, s: std::sync::Arc<Shared>, user: i64) {
    let mut n = 0u64;
    while !s.stop.is_cancelled() {
        n += 1;
        let text = if n.is_multiple_of(25) {
            format!("/new soak {user} n{n}")
        } else {
            format!("soak {user} n{n}")
        };
        // The ledger entry exists before the gateway can see the message.
        let msg_id = {
            let mut ledger = s.ledger.lock().unwrap();
            let id = tg.dm(user, &text) * 10;
            ledger.insert(id, 0);
            id
        };
        s.messages.fetch_add(1, Relaxed);
        let deadline = tokio::time::Instant::now() + REPLY_WAIT;
        loop {
            let notified = s.replied.notified();
            if s.ledger
                .lock()
                .unwrap()
                .get(&msg_id)
                .is_some_and(|&c| c > 0)
            {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                s.late.fetch_add(1, Relaxed);
                break;
            }
        }
        let pause = Duration::from_millis(rand::thread_rng().gen_range(0..500));
        tokio::select! {
            _ = s.stop.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Tallies each reply against the message it answers (`reply_parameters.message_id`)
/// and classifies it: the model's echo, a run timeout, another failure.
pub async fn collect(tg: FakeTelegram, s: std::sync::Arc<Shared>) {
    loop {
        let batch = tg.take_sent(Duration::from_millis(500)).await;
        if batch.is_empty() && s.stop.is_cancelled() && s.unanswered_and_duplicates().0 == 0 {
            // Keep collecting through the drain; stop once nothing is outstanding.
            let late = tg.take_sent(Duration::from_secs(2)).await;
            if late.is_empty() {
                return;
            }
            tally(&s, late);
            continue;
        }
        tally(&s, batch);
    }
}

fn tally(s: &Shared, batch: Vec<Value>) {
    if batch.is_empty() {
        return;
    }
    for m in batch {
        s.replies.fetch_add(1, Relaxed);
        let text = m["text"].as_str().unwrap_or_default();
        if text.starts_with("re ") {
            s.answered.fetch_add(1, Relaxed);
        } else if text.contains("timed out") {
            s.timeouts.fetch_add(1, Relaxed);
        } else {
            s.failed.fetch_add(1, Relaxed);
        }
        let to = m["reply_parameters"]["message_id"].as_i64().unwrap_or(-1);
        match s.ledger.lock().unwrap().get_mut(&to) {
            Some(c) => *c += 1,
            None => {
                s.strays.fetch_add(1, Relaxed);
            }
        }
    }
    s.replied.notify_waiters();
}

/// Waits (up to `max`) until every message sent has a reply; true when they all do.
pub async fn drain(s: &Shared, max: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + max;
    loop {
        let notified = s.replied.notified();
        if s.unanswered_and_duplicates().0 == 0 {
            return true;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return false;
        }
    }
}
