//! Broadcast events: one gateway-wide `seq`, serialized once per broadcast, filtered per
//! connection by scope. A receiver that falls behind the channel is a slow consumer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::sync::broadcast;

/// How many events a connection may fall behind before it is closed as a slow consumer.
pub const BUS_CAPACITY: usize = 1024;

#[derive(Debug)]
pub struct Event {
    pub name: String,
    /// The frame text, serialized once.
    pub frame: String,
    /// Drop for a busy socket instead of closing it (ticks, deltas).
    pub drop_if_slow: bool,
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

    /// Broadcasts with the next `seq`; `state_version` is attached for presence/health.
    pub fn send(
        &self,
        name: &str,
        payload: Value,
        state_version: Option<Value>,
        drop_if_slow: bool,
    ) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let mut frame = json!({"type": "event", "event": name, "payload": payload, "seq": seq});
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
