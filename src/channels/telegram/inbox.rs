//! The account's durable inbox and poll offset, under `<state>/telegram/`:
//! `inbox-<account>.json` (`{version:1, updates:[…], lastUpdateId}`: accepted, not yet
//! answered) and `update-offset-<account>.json` (`{version:1, lastUpdateId}`, the
//! original's shape).
//!
//! The order is the point. A batch enters the in-memory set only after the inbox file
//! holding it was written and fsynced ([`crate::fsutil::write_atomic`]); the caller moves
//! the `getUpdates` offset (acknowledges upstream) only after that. A failed write (the
//! disk is full) changes nothing: the next poll, with the old offset, fetches the same
//! updates again. The inbox also records `lastUpdateId`, so an offset file that could
//! not be written never re-admits an update that was answered and forgotten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::fsutil::{create_private_dir, read_json, write_json_private};
use crate::sessions::describe_io;

pub struct Inbox {
    inbox_path: PathBuf,
    offset_path: PathBuf,
    state: Mutex<State>,
}

struct State {
    pending: BTreeMap<i64, Value>,
    last_update_id: Option<i64>,
    /// The file is behind memory (a `done` could not be written yet).
    dirty: bool,
}

impl Inbox {
    pub fn open(state_dir: &Path, account: &str) -> Result<Inbox, String> {
        let dir = state_dir.join("telegram");
        create_private_dir(&dir)
            .map_err(|e| format!("cannot create {}: {}", dir.display(), describe_io(&e)))?;
        let inbox_path = dir.join(format!("inbox-{account}.json"));
        let offset_path = dir.join(format!("update-offset-{account}.json"));
        let inbox = read_json(&inbox_path)?;
        let pending = inbox
            .as_ref()
            .and_then(|v| v.get("updates").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|u| Some((u.get("update_id")?.as_i64()?, u)))
            .collect();
        let from_inbox = inbox.and_then(|v| v.get("lastUpdateId")?.as_i64());
        let from_offset = read_json(&offset_path)?.and_then(|v| v.get("lastUpdateId")?.as_i64());
        Ok(Inbox {
            inbox_path,
            offset_path,
            state: Mutex::new(State {
                pending,
                last_update_id: from_inbox.max(from_offset),
                dirty: false,
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

    /// The `offset` for the next `getUpdates`. Saturating: an `update_id` of
    /// `i64::MAX` (from a broken or hostile Bot API endpoint) must not wrap the offset to
    /// a negative one, which Telegram reads as "the last updates" and replays them.
    pub fn offset(&self) -> Option<i64> {
        let s = self.lock();
        let max_pending = s.pending.keys().next_back().copied();
        s.last_update_id
            .max(max_pending)
            .map(|i| i.saturating_add(1))
    }

    /// Stores new updates durably and returns the ones not seen before. On an error
    /// nothing was accepted: the caller must not move the offset, and polls again.
    pub fn accept(&self, updates: Vec<Value>) -> Result<Vec<Value>, String> {
        let mut s = self.lock();
        let mut pending = s.pending.clone();
        let mut fresh = vec![];
        for u in updates {
            let Some(id) = u.get("update_id").and_then(Value::as_i64) else {
                continue;
            };
            if s.last_update_id.is_some_and(|l| id <= l) || pending.contains_key(&id) {
                continue;
            }
            pending.insert(id, u.clone());
            fresh.push(u);
        }
        let Some(max) = fresh.iter().filter_map(|u| u["update_id"].as_i64()).max() else {
            return Ok(fresh);
        };
        let last = s.last_update_id.map_or(max, |l| l.max(max));
        self.write_inbox(&pending, last)?;
        s.pending = pending;
        s.last_update_id = Some(last);
        s.dirty = false;
        // The inbox already records `lastUpdateId`; this file is the original's copy.
        if let Err(e) = write_json_private(
            &self.offset_path,
            &json!({"version": 1, "lastUpdateId": last}),
        ) {
            tracing::warn!(target: "telegram", "cannot write {}: {}", self.offset_path.display(), describe_io(&e));
        }
        Ok(fresh)
    }

    /// The update was answered (or deliberately dropped): forget it. On an error it is
    /// forgotten in memory only; [`Inbox::flush`] writes it later.
    pub fn done(&self, update_id: i64) -> Result<(), String> {
        let mut s = self.lock();
        if s.pending.remove(&update_id).is_some() {
            s.dirty = true;
        }
        self.flush_locked(&mut s)
    }

    /// Writes the inbox if memory is ahead of the file.
    pub fn flush(&self) -> Result<(), String> {
        let mut s = self.lock();
        self.flush_locked(&mut s)
    }

    fn flush_locked(&self, s: &mut State) -> Result<(), String> {
        if !s.dirty {
            return Ok(());
        }
        self.write_inbox(&s.pending, s.last_update_id.unwrap_or_default())?;
        s.dirty = false;
        Ok(())
    }

    fn write_inbox(&self, pending: &BTreeMap<i64, Value>, last: i64) -> Result<(), String> {
        let updates: Vec<&Value> = pending.values().collect();
        write_json_private(
            &self.inbox_path,
            &json!({"version": 1, "updates": updates, "lastUpdateId": last}),
        )
        .map_err(|e| {
            format!(
                "cannot write {}: {}",
                self.inbox_path.display(),
                describe_io(&e)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_saturates_at_the_largest_update_id() {
        // Found by fuzz/fuzz_targets/telegram.rs: `last + 1` overflowed.
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), "x").unwrap();
        let fresh = inbox
            .accept(vec![
                json!({"update_id": i64::MAX, "message": {"text": "x"}}),
            ])
            .unwrap();
        assert_eq!(fresh.len(), 1);
        assert_eq!(inbox.offset(), Some(i64::MAX));
        inbox.done(i64::MAX).unwrap();
        // Seen before: the same update is never admitted twice.
        let again = inbox
            .accept(vec![
                json!({"update_id": i64::MAX, "message": {"text": "x"}}),
            ])
            .unwrap();
        assert!(again.is_empty());
        assert_eq!(inbox.offset(), Some(i64::MAX));
    }

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
        ib.done(5).unwrap();
        // A new process sees what is still pending and where to go on.
        let again = Inbox::open(dir.path(), "default").unwrap();
        assert_eq!(again.pending(), vec![json!({"update_id": 6})]);
        assert_eq!(again.offset(), Some(7));
    }

    /// A write that fails accepts nothing: the update is neither pending nor skipped,
    /// so the next poll (same offset) stores it once the disk takes writes again.
    #[test]
    fn a_failed_write_accepts_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ib = Inbox::open(dir.path(), "default").unwrap();
        ib.accept(vec![json!({"update_id": 1})]).unwrap();
        let tg = dir.path().join("telegram");
        std::fs::set_permissions(&tg, std::fs::Permissions::from_mode(0o500)).unwrap();
        let probe = tg.join("probe");
        if std::fs::write(&probe, b"x").is_ok() {
            // Root ignores directory permissions; the tmpfs test covers this case.
            std::fs::remove_file(&probe).unwrap();
            eprintln!("skipped: running as root, the directory stays writable");
            return;
        }
        let err = ib.accept(vec![json!({"update_id": 2})]).unwrap_err();
        assert!(err.contains("inbox-default.json"), "{err}");
        assert_eq!(ib.offset(), Some(2));
        assert_eq!(ib.pending().len(), 1);
        assert!(ib.done(1).is_err());
        std::fs::set_permissions(&tg, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(ib.accept(vec![json!({"update_id": 2})]).unwrap().len(), 1);
        ib.flush().unwrap();
        let again = Inbox::open(dir.path(), "default").unwrap();
        assert_eq!(again.pending(), vec![json!({"update_id": 2})]);
        assert_eq!(again.offset(), Some(3));
    }

    /// The inbox's own `lastUpdateId` wins over a stale offset file.
    #[test]
    fn a_stale_offset_file_does_not_readmit_answered_updates() {
        let dir = tempfile::tempdir().unwrap();
        let ib = Inbox::open(dir.path(), "default").unwrap();
        ib.accept(vec![json!({"update_id": 9})]).unwrap();
        ib.done(9).unwrap();
        std::fs::write(
            dir.path().join("telegram/update-offset-default.json"),
            r#"{"version":1,"lastUpdateId":3}"#,
        )
        .unwrap();
        let again = Inbox::open(dir.path(), "default").unwrap();
        assert_eq!(again.offset(), Some(10));
        assert!(
            again
                .accept(vec![json!({"update_id": 9})])
                .unwrap()
                .is_empty()
        );
    }
}
