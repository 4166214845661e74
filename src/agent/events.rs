//! `agent` and `chat` events of one run (spec §3.4): agent events carry a per-run `seq`;
//! chat `delta` events carry the full text so far and go out at most every 150 ms.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::events::Bus;
use crate::util::now_ms;

const DELTA_INTERVAL: Duration = Duration::from_millis(150);

pub struct Emitter<'a> {
    bus: &'a Bus,
    pub run_id: String,
    pub session_key: String,
    seq: AtomicU64,
    text: Mutex<String>,
    last_delta: Mutex<Option<Instant>>,
}

impl<'a> Emitter<'a> {
    pub fn new(bus: &'a Bus, run_id: &str, session_key: &str) -> Emitter<'a> {
        Emitter {
            bus,
            run_id: run_id.into(),
            session_key: session_key.into(),
            seq: AtomicU64::new(0),
            text: Mutex::new(String::new()),
            last_delta: Mutex::new(None),
        }
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn agent(&self, stream: &str, data: Value) {
        let seq = self.next_seq();
        self.bus.send(
            "agent",
            json!({"runId": self.run_id, "seq": seq, "stream": stream, "ts": now_ms(), "data": data, "sessionKey": self.session_key}),
            None,
            stream == "assistant",
        );
    }

    fn chat(&self, state: &str, extra: Value) {
        let mut payload = json!({"runId": self.run_id, "sessionKey": self.session_key, "seq": self.seq.load(Ordering::SeqCst), "state": state});
        if let (Some(p), Value::Object(e)) = (payload.as_object_mut(), extra) {
            p.extend(e);
        }
        self.bus.send("chat", payload, None, state == "delta");
    }

    fn message(text: &str) -> Value {
        json!({"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": now_ms()})
    }

    /// A new model attempt (e.g. a fallback) starts from empty text.
    pub fn restart_text(&self) {
        self.text.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn delta(&self, piece: &str) {
        let full = {
            let mut t = self.text.lock().unwrap_or_else(|p| p.into_inner());
            t.push_str(piece);
            t.clone()
        };
        self.agent("assistant", json!({"text": full, "delta": piece}));
        let mut last = self.last_delta.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|l| l.elapsed() >= DELTA_INTERVAL) {
            *last = Some(Instant::now());
            drop(last);
            self.chat("delta", json!({"message": Self::message(&full)}));
        }
    }

    pub fn tool(&self, phase: &str, name: &str, id: &str, extra: Value) {
        let mut data = json!({"phase": phase, "name": name, "toolCallId": id});
        if let (Some(d), Value::Object(e)) = (data.as_object_mut(), extra) {
            d.extend(e);
        }
        self.agent("tool", data);
    }

    pub fn start(&self, started_at: i64) {
        self.agent(
            "lifecycle",
            json!({"phase": "start", "startedAt": started_at}),
        );
    }

    pub fn end(&self, started_at: i64, text: &str) {
        self.agent(
            "lifecycle",
            json!({"phase": "end", "startedAt": started_at, "endedAt": now_ms()}),
        );
        if text.is_empty() {
            self.chat("final", json!({}));
        } else {
            self.chat("final", json!({"message": Self::message(text)}));
        }
    }

    pub fn error(&self, started_at: i64, message: &str) {
        self.agent(
            "lifecycle",
            json!({"phase": "error", "startedAt": started_at, "endedAt": now_ms(), "error": message}),
        );
        self.chat("error", json!({"errorMessage": message}));
    }

    pub fn aborted(&self, started_at: i64, reason: &str) {
        self.agent(
            "lifecycle",
            json!({"phase": "end", "startedAt": started_at, "endedAt": now_ms(), "aborted": true}),
        );
        let text = self.text.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut extra = json!({"stopReason": reason});
        if !text.is_empty() {
            extra["message"] = Self::message(&text);
        }
        self.chat("aborted", extra);
    }
}
