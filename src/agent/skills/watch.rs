//! `skills.load.watch` (default on, as in the original): the skill directories are
//! polled and a change is announced as a `skills.changed` event, so a Control UI or a
//! script sees a newly installed or edited skill without asking.
//!
//! Polling, not inotify: skills are read afresh on every run anyway (so nothing waits
//! on this to take effect), the directories are few and small, and a poll also sees a
//! Home Manager generation re-pointing a symlinked skill, which inotify on the link's
//! parent would not report as a change of the skill's contents. The debounce is the
//! original's `skills.load.watchDebounceMs` (default 250 ms): a change is announced once
//! the tree has stopped changing for that long.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// Default `skills.load.watchDebounceMs`.
pub const DEFAULT_DEBOUNCE_MS: u64 = 250;
/// How often the directories are looked at.
pub const POLL: Duration = Duration::from_millis(500);

/// Whether to watch (`skills.load.watch`, default true) and the debounce.
pub fn settings(resolved: &Value) -> (bool, Duration) {
    let load = resolved.pointer("/skills/load");
    let on = load
        .and_then(|l| l.get("watch"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let ms = load
        .and_then(|l| l.get("watchDebounceMs"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_DEBOUNCE_MS);
    (on, Duration::from_millis(ms))
}

/// What one look at the directories saw: each skill folder's SKILL.md (size, mtime,
/// and where a symlinked folder points), by path.
pub type Snapshot = BTreeMap<PathBuf, (u64, Option<SystemTime>, Option<PathBuf>)>;

/// Looks at every `<dir>/<name>/SKILL.md` of `dirs` (bounded like discovery).
pub fn snapshot(dirs: &[PathBuf]) -> Snapshot {
    let mut out = Snapshot::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in rd.flatten().take(super::MAX_PER_DIR) {
            let folder = entry.path();
            let link = std::fs::read_link(&folder).ok();
            let file = folder.join("SKILL.md");
            let seen = std::fs::metadata(&file)
                .map(|m| (m.len(), m.modified().ok()))
                .unwrap_or((0, None));
            out.insert(file, (seen.0, seen.1, link));
        }
    }
    out
}

/// The first path that differs between two snapshots (added, removed or changed).
pub fn changed_path(a: &Snapshot, b: &Snapshot) -> Option<PathBuf> {
    a.iter()
        .find(|(k, v)| b.get(*k) != Some(*v))
        .or_else(|| b.iter().find(|(k, _)| !a.contains_key(*k)))
        .map(|(k, _)| k.clone())
}

/// The skill directories of every agent: extra dirs, the managed dir, each workspace's
/// `skills/`.
pub fn dirs(loaded: &crate::config::Loaded, state_dir: &Path) -> Vec<PathBuf> {
    let mut out = super::extra_dirs(&loaded.resolved, &loaded.env);
    out.push(state_dir.join("skills"));
    for agent in loaded.config.agent_ids() {
        let ws = crate::agent::workspace::dir(&loaded.resolved, &loaded.env, &agent);
        let d = ws.join("skills");
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// Debounces snapshots: `observe` returns the changed path once a difference from the
/// last announced snapshot has been stable for `debounce`.
pub struct Debouncer {
    announced: Snapshot,
    pending: Option<(Snapshot, std::time::Instant)>,
}

impl Debouncer {
    pub fn new(initial: Snapshot) -> Debouncer {
        Debouncer {
            announced: initial,
            pending: None,
        }
    }

    pub fn observe(
        &mut self,
        now: Snapshot,
        at: std::time::Instant,
        debounce: Duration,
    ) -> Option<PathBuf> {
        if now == self.announced {
            self.pending = None;
            return None;
        }
        match &self.pending {
            Some((p, since)) if *p == now => {
                if at.duration_since(*since) >= debounce {
                    let path = changed_path(&self.announced, &now);
                    self.announced = now;
                    self.pending = None;
                    return path;
                }
                None
            }
            _ => {
                self.pending = Some((now, at));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_change_is_announced_once_after_it_settles() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = vec![dir.path().to_path_buf()];
        let mut d = Debouncer::new(snapshot(&dirs));
        let t0 = Instant::now();
        let debounce = Duration::from_millis(250);
        assert_eq!(d.observe(snapshot(&dirs), t0, debounce), None);
        std::fs::create_dir(dir.path().join("weather")).unwrap();
        std::fs::write(dir.path().join("weather/SKILL.md"), "---\nname: w\n---\n").unwrap();
        assert_eq!(
            d.observe(snapshot(&dirs), t0, debounce),
            None,
            "not settled"
        );
        let got = d.observe(snapshot(&dirs), t0 + Duration::from_millis(300), debounce);
        assert_eq!(got, Some(dir.path().join("weather/SKILL.md")));
        assert_eq!(
            d.observe(snapshot(&dirs), t0 + Duration::from_secs(1), debounce),
            None,
            "announced once"
        );
        // A symlinked skill re-pointed elsewhere (a Nix generation switch) is a change.
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for t in [&a, &b] {
            std::fs::write(t.path().join("SKILL.md"), "x").unwrap();
        }
        std::os::unix::fs::symlink(a.path(), dir.path().join("linked")).unwrap();
        let s1 = snapshot(&dirs);
        std::fs::remove_file(dir.path().join("linked")).unwrap();
        std::os::unix::fs::symlink(b.path(), dir.path().join("linked")).unwrap();
        let s2 = snapshot(&dirs);
        assert_eq!(
            changed_path(&s1, &s2),
            Some(dir.path().join("linked/SKILL.md"))
        );
        // Removal is a change too.
        std::fs::remove_dir_all(dir.path().join("weather")).unwrap();
        assert!(changed_path(&s2, &snapshot(&dirs)).is_some());
    }

    #[test]
    fn settings_default_to_watching() {
        assert_eq!(
            settings(&serde_json::json!({})),
            (true, Duration::from_millis(250))
        );
        assert_eq!(
            settings(
                &serde_json::json!({"skills": {"load": {"watch": false, "watchDebounceMs": 10}}})
            ),
            (false, Duration::from_millis(10))
        );
    }
}
