//! Broadcast events: serialized once per broadcast, filtered per connection by scope, and
//! numbered per connection (`seq` counts what *that* connection received, as openclaw's
//! gateway does): clients treat a jump in `seq` as lost events and reconnect, so one
//! gateway-wide counter would make every scope-filtered or dropped event look like a
//! loss. A receiver that falls behind the channel is a slow consumer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::sync::broadcast;

/// How many events a connection may fall behind before it is closed as a slow consumer.
pub const BUS_CAPACITY: usize = 1024;

#[derive(Debug)]
pub struct Event {
    pub name: String,
    /// The frame text without `seq`, serialized once; see [`Event::numbered`].
    pub frame: String,
    /// Drop for a busy socket instead of closing it (ticks, deltas).
    pub drop_if_slow: bool,
}

impl Event {
    /// The frame with this connection's `seq` appended as the last key.
    pub fn numbered(&self, seq: u64) -> String {
        let body = self.frame.strip_suffix('}').unwrap_or(&self.frame);
        format!("{body},\"seq\":{seq}}}")
    }
}

#[derive(Debug)]
pub struct Bus {
    tx: broadcast::Sender<Arc<Event>>,
    seq: AtomicU64,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            tx: broadcast::channel(BUS_CAPACITY).0,
            seq: AtomicU64::new(0),
        }
    }
}

impl Bus {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Broadcasts one event (counted in [`Bus::seq`]); `state_version` is attached for
    /// presence/health.
    pub fn send(
        &self,
        name: &str,
        payload: Value,
        state_version: Option<Value>,
        drop_if_slow: bool,
    ) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        let mut frame = json!({"type": "event", "event": name, "payload": payload});
        if let Some(sv) = state_version {
            frame["stateVersion"] = sv;
        }
        let _ = self.tx.send(Arc::new(Event {
            name: name.to_string(),
            frame: frame.to_string(),
            drop_if_slow,
        }));
    }

    /// The last `seq` handed out: how many broadcasts happened so far.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    pub fn receivers(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_is_appended_per_connection_and_the_frame_stays_json() {
        let bus = Bus::default();
        let mut rx = bus.subscribe();
        bus.send("tick", json!({"ts": 1}), Some(json!({"presence": 2})), true);
        let ev = rx.try_recv().unwrap();
        for n in [1, 7] {
            let v: Value = serde_json::from_str(&ev.numbered(n)).unwrap();
            assert_eq!(v["seq"], n);
            assert_eq!(v["event"], "tick");
            assert_eq!(v["payload"]["ts"], 1);
            assert_eq!(v["stateVersion"]["presence"], 2);
        }
        assert_eq!(bus.seq(), 1);
    }
}
