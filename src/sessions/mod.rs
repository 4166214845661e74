//! Sessions: the `sessions.json` index per agent (rewritten atomically) and one
//! append-only transcript per session (`<sessionId>.jsonl` next to it). Entries are kept
//! as JSON objects so fields written by the original survive our rewrites.

pub mod keys;
pub mod replay;
pub mod transcript;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use crate::util::now_ms;

/// An I/O error as an operator should read it: a full disk is named as such (ENOSPC),
/// since it is the one failure that clears by itself once space returns.
pub fn describe_io(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(28) => format!("{e}; ENOSPC: the disk holding the state dir is full"),
        Some(122) => format!("{e}; EDQUOT: the disk quota is used up"),
        _ => e.to_string(),
    }
}

/// Fields `sessions.reset` keeps (spec §3.2).
const KEPT_ON_RESET: &[&str] = &[
    "thinkingLevel",
    "verboseLevel",
    "reasoningLevel",
    "responseUsage",
    "model",
    "label",
    "sendPolicy",
    "origin",
    "lastChannel",
    "lastTo",
    "lastAccountId",
    "displayName",
    "chatType",
    "channel",
];

/// Reads a `sessions.json` (state format `sessions-index`): a missing file is empty, a
/// file that is not an object or is in a format this release does not read is an error.
pub fn read_index(path: &Path) -> Result<Map<String, Value>, String> {
    match crate::state_format::read_json("sessions-index", path)? {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(format!(
            "{} is not a JSON object; move it aside to start fresh",
            path.display()
        )),
        None => Ok(Map::new()),
    }
}

#[derive(Debug)]
pub struct Sessions {
    state_dir: PathBuf,
    /// Serialises read-modify-write of the index files.
    lock: Mutex<()>,
}

impl Sessions {
    pub fn new(state_dir: &Path) -> Sessions {
        Sessions {
            state_dir: state_dir.to_path_buf(),
            lock: Mutex::new(()),
        }
    }

    pub fn dir(&self, agent_id: &str) -> PathBuf {
        self.state_dir
            .join("agents")
            .join(agent_id)
            .join("sessions")
    }

    pub fn store_path(&self, agent_id: &str) -> PathBuf {
        self.dir(agent_id).join("sessions.json")
    }

    pub fn transcript_path(&self, agent_id: &str, session_id: &str) -> PathBuf {
        self.dir(agent_id).join(format!("{session_id}.jsonl"))
    }

    /// The index; a corrupt file is an error (never silently replaced: it holds history),
    /// and so is one in a newer format (every write reads first, so it is never touched).
    pub fn load(&self, agent_id: &str) -> Result<Map<String, Value>, String> {
        read_index(&self.store_path(agent_id))
    }

    pub fn get(&self, agent_id: &str, key: &str) -> Option<Map<String, Value>> {
        self.load(agent_id)
            .ok()?
            .get(key)
            .and_then(Value::as_object)
            .cloned()
    }

    /// Applies `f` to the entry (created with a fresh `sessionId` when missing) and
    /// writes the index atomically. Returns the entry after the change.
    pub fn update(
        &self,
        agent_id: &str,
        key: &str,
        f: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<Map<String, Value>, String> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = self.load(agent_id)?;
        let entry = all.entry(key.to_string()).or_insert_with(
            || json!({"sessionId": uuid::Uuid::new_v4().to_string(), "updatedAt": now_ms()}),
        );
        if !entry.is_object() {
            *entry = json!({"sessionId": uuid::Uuid::new_v4().to_string()});
        }
        let map = entry.as_object_mut().expect("object");
        if map.get("sessionId").and_then(Value::as_str).is_none() {
            map.insert("sessionId".into(), json!(uuid::Uuid::new_v4().to_string()));
        }
        f(map);
        map.insert("updatedAt".into(), json!(now_ms()));
        let out = map.clone();
        self.save(agent_id, &all)?;
        Ok(out)
    }

    fn save(&self, agent_id: &str, all: &Map<String, Value>) -> Result<(), String> {
        let path = self.store_path(agent_id);
        crate::fsutil::write_json_private(&path, &Value::Object(all.clone()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// A fresh `sessionId` and zeroed counters; the settings in `KEPT_ON_RESET` stay.
    pub fn reset(&self, agent_id: &str, key: &str) -> Result<Map<String, Value>, String> {
        self.update(agent_id, key, |m| {
            let kept: Map<String, Value> = m
                .iter()
                .filter(|(k, _)| KEPT_ON_RESET.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            *m = kept;
            m.insert("sessionId".into(), json!(uuid::Uuid::new_v4().to_string()));
            for k in ["inputTokens", "outputTokens", "totalTokens"] {
                m.insert(k.into(), json!(0));
            }
        })
    }

    /// Removes the entry; the transcript is renamed with a `.deleted.<ts>` suffix.
    pub fn delete(
        &self,
        agent_id: &str,
        key: &str,
        delete_transcript: bool,
    ) -> Result<(bool, Vec<String>), String> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = self.load(agent_id)?;
        let Some(entry) = all.remove(key) else {
            return Ok((false, vec![]));
        };
        self.save(agent_id, &all)?;
        let mut archived = vec![];
        if delete_transcript && let Some(sid) = entry.get("sessionId").and_then(Value::as_str) {
            let p = self.transcript_path(agent_id, sid);
            if p.exists() {
                let to = p.with_extension(format!("jsonl.deleted.{}", now_ms()));
                std::fs::rename(&p, &to)
                    .map_err(|e| format!("cannot archive {}: {e}", p.display()))?;
                archived.push(to.display().to_string());
            }
        }
        Ok((true, archived))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_reset_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::new(dir.path());
        let e = s
            .update("main", "agent:main:main", |m| {
                m.insert("label".into(), json!("x"));
                m.insert("totalTokens".into(), json!(50));
            })
            .unwrap();
        let sid = e["sessionId"].as_str().unwrap().to_string();
        let p = s.transcript_path("main", &sid);
        transcript::append(
            &p,
            &sid,
            dir.path(),
            &crate::llm::Message::user("hi"),
            None,
            None,
        )
        .unwrap();
        let r = s.reset("main", "agent:main:main").unwrap();
        assert_ne!(r["sessionId"], json!(sid));
        assert_eq!(r["label"], "x");
        assert_eq!(r["totalTokens"], 0);
        // The old transcript is untouched by a reset.
        assert!(p.exists());
        let (deleted, archived) = s.delete("main", "agent:main:main", true).unwrap();
        assert!(deleted && archived.is_empty());
        assert!(s.load("main").unwrap().is_empty());
        std::fs::write(s.store_path("main"), "[1]").unwrap();
        assert!(s.load("main").unwrap_err().contains("not a JSON object"));
    }

    #[test]
    fn a_newer_index_is_refused_for_every_change_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::new(dir.path());
        std::fs::create_dir_all(s.dir("main")).unwrap();
        let text = r#"{"version": 2, "sessions": {"k": {"sessionId": "x"}}}"#;
        std::fs::write(s.store_path("main"), text).unwrap();
        for e in [
            s.load("main").unwrap_err(),
            s.update("main", "k", |_| {}).unwrap_err(),
            s.reset("main", "k").unwrap_err(),
            s.delete("main", "k", true).unwrap_err(),
        ] {
            assert!(
                e.contains("sessions.json") && e.contains("newer clawdbot"),
                "{e}"
            );
        }
        assert!(s.get("main", "k").is_none());
        assert_eq!(std::fs::read_to_string(s.store_path("main")).unwrap(), text);
        // Another agent's store is not affected.
        assert!(s.update("other", "k", |_| {}).is_ok());
    }
}
