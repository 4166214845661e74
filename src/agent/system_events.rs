//! System events: short lines the gateway itself has for a session (a cron job's
//! `systemEvent`, a `wake` text), queued until that session's next fresh turn, which
//! shows them to the model before the user's message (`System: …`), as the original
//! does. Bounded per session, so a runaway job cannot grow memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Lines kept per session; older ones are dropped first.
pub const MAX_PER_SESSION: usize = 20;
/// Characters kept of one line.
pub const MAX_CHARS: usize = 2000;

#[derive(Debug, Default)]
pub struct SystemEvents {
    queues: Mutex<HashMap<String, VecDeque<String>>>,
}

impl SystemEvents {
    /// Queues `text` for the session's next turn (empty text is ignored).
    pub fn enqueue(&self, session_key: &str, text: &str) {
        let text: String = text.trim().chars().take(MAX_CHARS).collect();
        if text.is_empty() {
            return;
        }
        let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let q = q.entry(session_key.to_string()).or_default();
        if q.back() == Some(&text) {
            return;
        }
        q.push_back(text);
        while q.len() > MAX_PER_SESSION {
            q.pop_front();
        }
    }

    /// Takes the session's queued lines, oldest first.
    pub fn drain(&self, session_key: &str) -> Vec<String> {
        let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        q.remove(session_key).map(Vec::from).unwrap_or_default()
    }

    pub fn pending(&self, session_key: &str) -> usize {
        let q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        q.get(session_key).map_or(0, VecDeque::len)
    }
}

/// The user message with the queued system lines before it.
pub fn with_events(events: &[String], message: &str) -> String {
    if events.is_empty() {
        return message.to_string();
    }
    let mut out: String = events.iter().map(|e| format!("System: {e}\n")).collect();
    out.push('\n');
    out.push_str(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_deduplicated_drained_once() {
        let ev = SystemEvents::default();
        ev.enqueue("s", "  ");
        ev.enqueue("s", "backup done");
        ev.enqueue("s", "backup done");
        assert_eq!(ev.pending("s"), 1);
        for i in 0..30 {
            ev.enqueue("s", &format!("e{i}"));
        }
        let got = ev.drain("s");
        assert_eq!(got.len(), MAX_PER_SESSION);
        assert_eq!(got.last().unwrap(), "e29");
        assert!(ev.drain("s").is_empty());
        assert_eq!(with_events(&["a".into()], "hi"), "System: a\n\nhi");
        assert_eq!(with_events(&[], "hi"), "hi");
    }
}
