//! An account's durable inbox, under `<state>/<channel>/inbox-<account>.json`
//! (`{version:1, updates:[…], lastUpdateId, recent:[…]}`: messages accepted and not yet
//! answered), shared by every channel.
//!
//! The order is the point. A batch enters the in-memory set only after the inbox file
//! holding it was written and fsynced ([`crate::fsutil::write_atomic`]); the caller
//! acknowledges upstream (moves Telegram's `getUpdates` offset, hands a Discord message
//! to its worker) only after that. A failed write (the disk is full) changes nothing.
//!
//! Every item has an `i64` key (Telegram's `update_id`, a Discord message snowflake).
//! An item seen before is never admitted twice: [`Order::Increasing`] keys (Telegram's
//! update ids) are refused at or below the largest one accepted, which also survives an
//! offset file that could not be written; [`Order::Unordered`] keys (snowflakes from
//! several Discord workers need not arrive in order) are refused when among the last
//! [`RECENT`] accepted, which the file keeps too.
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::fsutil::{create_private_dir, write_json_private};
use crate::sessions::describe_io;

/// How many accepted keys an [`Order::Unordered`] inbox remembers.
pub const RECENT: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Keys only grow (Telegram update ids).
    Increasing,
    /// Keys are unique but may arrive in any order (Discord message ids).
    Unordered,
}

pub struct Inbox {
    inbox_path: PathBuf,
    order: Order,
    state: Mutex<State>,
}

struct State {
    pending: BTreeMap<i64, Value>,
    last_update_id: Option<i64>,
    recent: VecDeque<i64>,
    /// The file is behind memory (a `done` could not be written yet).
    dirty: bool,
}

impl Inbox {
    /// Opens `<state>/<channel>/inbox-<account>.json`; `key` finds an item's key (the
    /// items were stored whole). `floor` is a largest key known from elsewhere (Telegram's
    /// offset file): nothing at or below it is admitted in [`Order::Increasing`].
    pub fn open(
        state_dir: &Path,
        channel: &str,
        account: &str,
        order: Order,
        key: fn(&Value) -> Option<i64>,
        floor: Option<i64>,
    ) -> Result<Inbox, String> {
        let dir = state_dir.join(channel);
        create_private_dir(&dir)
            .map_err(|e| format!("cannot create {}: {}", dir.display(), describe_io(&e)))?;
        let inbox_path = dir.join(format!("inbox-{account}.json"));
        // A newer-format inbox is refused (the account does not start) rather than
        // read wrongly and overwritten: it may hold messages not answered yet.
        let inbox = crate::state_format::read_json("channel-inbox", &inbox_path)?;
        let pending = inbox
            .as_ref()
            .and_then(|v| v.get("updates").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|u| Some((key(&u)?, u)))
            .collect();
        let recent = inbox
            .as_ref()
            .and_then(|v| v.get("recent").and_then(Value::as_array))
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let from_inbox = inbox.and_then(|v| v.get("lastUpdateId")?.as_i64());
        Ok(Inbox {
            inbox_path,
            order,
            state: Mutex::new(State {
                pending,
                last_update_id: from_inbox.max(floor),
                recent,
                dirty: false,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Items accepted earlier and not answered yet, by key.
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

    /// The largest key accepted so far.
    pub fn last_key(&self) -> Option<i64> {
        self.lock().last_update_id
    }

    /// Stores new items (key, item) durably and returns the ones not seen before. On an
    /// error nothing was accepted: the caller must not acknowledge them upstream.
    pub fn accept(&self, items: Vec<(i64, Value)>) -> Result<Vec<Value>, String> {
        let mut s = self.lock();
        let mut pending = s.pending.clone();
        let mut recent = s.recent.clone();
        let mut fresh = vec![];
        let mut max = None;
        for (id, u) in items {
            let seen = match self.order {
                Order::Increasing => s.last_update_id.is_some_and(|l| id <= l),
                Order::Unordered => recent.contains(&id),
            };
            if seen || pending.contains_key(&id) {
                continue;
            }
            pending.insert(id, u.clone());
            if self.order == Order::Unordered {
                recent.push_back(id);
                if recent.len() > RECENT {
                    recent.pop_front();
                }
            }
            max = max.max(Some(id));
            fresh.push(u);
        }
        let Some(max) = max else {
            return Ok(fresh);
        };
        let last = s.last_update_id.map_or(max, |l| l.max(max));
        self.write_inbox(&pending, last, &recent)?;
        s.pending = pending;
        s.recent = recent;
        s.last_update_id = Some(last);
        s.dirty = false;
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
        self.write_inbox(&s.pending, s.last_update_id.unwrap_or_default(), &s.recent)?;
        s.dirty = false;
        Ok(())
    }

    fn write_inbox(
        &self,
        pending: &BTreeMap<i64, Value>,
        last: i64,
        recent: &VecDeque<i64>,
    ) -> Result<(), String> {
        let updates: Vec<&Value> = pending.values().collect();
        let mut doc = json!({"version": 1, "updates": updates, "lastUpdateId": last});
        if self.order == Order::Unordered {
            doc["recent"] = json!(recent);
        }
        write_json_private(&self.inbox_path, &doc).map_err(|e| {
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

    fn open(dir: &Path, account: &str) -> Inbox {
        Inbox::open(
            dir,
            "telegram",
            account,
            Order::Increasing,
            |u| u["update_id"].as_i64(),
            None,
        )
        .unwrap()
    }

    fn ups(items: Vec<Value>) -> Vec<(i64, Value)> {
        items
            .into_iter()
            .map(|u| (u["update_id"].as_i64().unwrap(), u))
            .collect()
    }

    #[test]
    fn the_offset_saturates_at_the_largest_update_id() {
        // Found by fuzz/fuzz_targets/telegram.rs: `last + 1` overflowed.
        let dir = tempfile::tempdir().unwrap();
        let inbox = open(dir.path(), "x");
        let fresh = inbox
            .accept(ups(vec![
                json!({"update_id": i64::MAX, "message": {"text": "x"}}),
            ]))
            .unwrap();
        assert_eq!(fresh.len(), 1);
        assert_eq!(inbox.offset(), Some(i64::MAX));
        inbox.done(i64::MAX).unwrap();
        // Seen before: the same update is never admitted twice.
        let again = inbox
            .accept(ups(vec![
                json!({"update_id": i64::MAX, "message": {"text": "x"}}),
            ]))
            .unwrap();
        assert!(again.is_empty());
        assert_eq!(inbox.offset(), Some(i64::MAX));
    }

    #[test]
    fn accept_persist_done() {
        let dir = tempfile::tempdir().unwrap();
        let ib = open(dir.path(), "default");
        assert_eq!(ib.offset(), None);
        let fresh = ib
            .accept(ups(vec![json!({"update_id": 5}), json!({"update_id": 6})]))
            .unwrap();
        assert_eq!(fresh.len(), 2);
        assert_eq!(ib.offset(), Some(7));
        // A re-delivery is dropped.
        assert!(
            ib.accept(ups(vec![json!({"update_id": 6})]))
                .unwrap()
                .is_empty()
        );
        ib.done(5).unwrap();
        // A new process sees what is still pending and where to go on.
        let again = open(dir.path(), "default");
        assert_eq!(again.pending(), vec![json!({"update_id": 6})]);
        assert_eq!(again.offset(), Some(7));
    }

    /// A write that fails accepts nothing: the update is neither pending nor skipped,
    /// so the next poll (same offset) stores it once the disk takes writes again.
    #[test]
    fn a_failed_write_accepts_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ib = open(dir.path(), "default");
        ib.accept(ups(vec![json!({"update_id": 1})])).unwrap();
        let tg = dir.path().join("telegram");
        std::fs::set_permissions(&tg, std::fs::Permissions::from_mode(0o500)).unwrap();
        let probe = tg.join("probe");
        if std::fs::write(&probe, b"x").is_ok() {
            // Root ignores directory permissions; the tmpfs test covers this case.
            std::fs::remove_file(&probe).unwrap();
            eprintln!("skipped: running as root, the directory stays writable");
            return;
        }
        let err = ib.accept(ups(vec![json!({"update_id": 2})])).unwrap_err();
        assert!(err.contains("inbox-default.json"), "{err}");
        assert_eq!(ib.offset(), Some(2));
        assert_eq!(ib.pending().len(), 1);
        assert!(ib.done(1).is_err());
        std::fs::set_permissions(&tg, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            ib.accept(ups(vec![json!({"update_id": 2})])).unwrap().len(),
            1
        );
        ib.flush().unwrap();
        let again = open(dir.path(), "default");
        assert_eq!(again.pending(), vec![json!({"update_id": 2})]);
        assert_eq!(again.offset(), Some(3));
    }

    /// The inbox's own `lastUpdateId` wins over a stale offset file.
    #[test]
    fn a_stale_offset_file_does_not_readmit_answered_updates() {
        let dir = tempfile::tempdir().unwrap();
        let ib = open(dir.path(), "default");
        ib.accept(ups(vec![json!({"update_id": 9})])).unwrap();
        ib.done(9).unwrap();
        // An older floor (a stale offset file) does not lower it.
        let again = Inbox::open(
            dir.path(),
            "telegram",
            "default",
            Order::Increasing,
            |u| u["update_id"].as_i64(),
            Some(3),
        )
        .unwrap();
        assert_eq!(again.offset(), Some(10));
        assert!(
            again
                .accept(ups(vec![json!({"update_id": 9})]))
                .unwrap()
                .is_empty()
        );
    }

    /// Discord's message ids need not arrive in order: a smaller new id is admitted, a
    /// repeated one (within the remembered window, across a restart too) is not.
    #[test]
    fn unordered_keys_are_deduplicated_not_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let key = |u: &Value| u["id"].as_str()?.parse().ok();
        let ib = Inbox::open(
            dir.path(),
            "discord",
            "default",
            Order::Unordered,
            key,
            None,
        )
        .unwrap();
        let m = |id: i64| (id, json!({"id": id.to_string()}));
        assert_eq!(ib.accept(vec![m(50), m(40)]).unwrap().len(), 2);
        ib.done(50).unwrap();
        ib.done(40).unwrap();
        assert_eq!(ib.accept(vec![m(45), m(50)]).unwrap().len(), 1);
        let again = Inbox::open(
            dir.path(),
            "discord",
            "default",
            Order::Unordered,
            key,
            None,
        )
        .unwrap();
        assert_eq!(again.pending(), vec![json!({"id": "45"})]);
        assert!(again.accept(vec![m(40), m(45), m(50)]).unwrap().is_empty());
        assert_eq!(again.accept(vec![m(1)]).unwrap().len(), 1);
    }

    #[test]
    fn a_newer_inbox_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("telegram/inbox-a.json");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let text = r#"{"version": 2, "queue": [{"update_id": 9}]}"#;
        std::fs::write(&p, text).unwrap();
        let e = Inbox::open(
            dir.path(),
            "telegram",
            "a",
            Order::Increasing,
            |u| u["update_id"].as_i64(),
            None,
        )
        .err()
        .unwrap();
        assert!(
            e.contains("inbox-a.json") && e.contains("newer clawdbot"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
    }
}
