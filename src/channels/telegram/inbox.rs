//! The account's durable inbox and poll offset, under `<state>/telegram/`:
//! `inbox-<account>.json` (`{version:1, updates:[…]}`: accepted, not yet answered) and
//! `update-offset-<account>.json` (`{version:1, lastUpdateId}`, the original's shape).
//! The inbox is written before the offset, so a crash in between re-delivers an update
//! we already hold, which [`Inbox::accept`] drops, rather than losing one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::fsutil::{create_private_dir, read_json, write_json_private};

pub struct Inbox {
    inbox_path: PathBuf,
    offset_path: PathBuf,
    state: Mutex<State>,
}

struct State {
    pending: BTreeMap<i64, Value>,
    last_update_id: Option<i64>,
}

impl Inbox {
    pub fn open(state_dir: &Path, account: &str) -> Result<Inbox, String> {
        let dir = state_dir.join("telegram");
        create_private_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let inbox_path = dir.join(format!("inbox-{account}.json"));
        let offset_path = dir.join(format!("update-offset-{account}.json"));
        let pending = read_json(&inbox_path)?
            .and_then(|v| v.get("updates").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|u| Some((u.get("update_id")?.as_i64()?, u)))
            .collect();
        let last_update_id = read_json(&offset_path)?.and_then(|v| v.get("lastUpdateId")?.as_i64());
        Ok(Inbox {
            inbox_path,
            offset_path,
            state: Mutex::new(State {
                pending,
                last_update_id,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Updates accepted earlier and not answered yet, oldest first.
    pub fn pending(&self) -> Vec<Value> {
        self.lock().pending.values().cloned().collect()
    }

    /// The `offset` for the next `getUpdates`.
    pub fn offset(&self) -> Option<i64> {
        let s = self.lock();
        let max_pending = s.pending.keys().next_back().copied();
        s.last_update_id.max(max_pending).map(|i| i + 1)
    }

    /// Stores new updates durably and returns the ones not seen before.
    pub fn accept(&self, updates: Vec<Value>) -> Result<Vec<Value>, String> {
        let mut s = self.lock();
        let mut fresh = vec![];
        for u in updates {
            let Some(id) = u.get("update_id").and_then(Value::as_i64) else {
                continue;
            };
            if s.last_update_id.is_some_and(|l| id <= l) || s.pending.contains_key(&id) {
                continue;
            }
            s.pending.insert(id, u.clone());
            fresh.push(u);
        }
        let Some(last) = fresh.iter().filter_map(|u| u["update_id"].as_i64()).max() else {
            return Ok(fresh);
        };
        self.write_inbox(&s)?;
        write_json_private(
            &self.offset_path,
            &json!({"version": 1, "lastUpdateId": last}),
        )
        .map_err(|e| format!("cannot write {}: {e}", self.offset_path.display()))?;
        s.last_update_id = Some(last.max(s.last_update_id.unwrap_or(last)));
        Ok(fresh)
    }

    /// The update was answered (or deliberately dropped): forget it.
    pub fn done(&self, update_id: i64) {
        let mut s = self.lock();
        if s.pending.remove(&update_id).is_some()
            && let Err(e) = self.write_inbox(&s)
        {
            tracing::warn!(target: "telegram", "{e}");
        }
    }

    fn write_inbox(&self, s: &State) -> Result<(), String> {
        let updates: Vec<&Value> = s.pending.values().collect();
        write_json_private(&self.inbox_path, &json!({"version": 1, "updates": updates}))
            .map_err(|e| format!("cannot write {}: {e}", self.inbox_path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_persist_done() {
        let dir = tempfile::tempdir().unwrap();
        let ib = Inbox::open(dir.path(), "default").unwrap();
        assert_eq!(ib.offset(), None);
        let fresh = ib
            .accept(vec![json!({"update_id": 5}), json!({"update_id": 6})])
            .unwrap();
        assert_eq!(fresh.len(), 2);
        assert_eq!(ib.offset(), Some(7));
        // A re-delivery is dropped.
        assert!(ib.accept(vec![json!({"update_id": 6})]).unwrap().is_empty());
        ib.done(5);
        // A new process sees what is still pending and where to go on.
        let again = Inbox::open(dir.path(), "default").unwrap();
        assert_eq!(again.pending(), vec![json!({"update_id": 6})]);
        assert_eq!(again.offset(), Some(7));
    }
}
