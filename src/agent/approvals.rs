//! Exec approvals: a command the policy does not allow outright waits for an operator
//! (`clawdbot approvals approve ID`, the Control UI, or any client with
//! `operator.approvals`). Requests are broadcast as `exec.approval.requested`; the answer
//! as `exec.approval.resolved`. No answer before the deadline means "deny".

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::events::Bus;
use crate::util::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    AllowOnce,
    AllowAlways,
    Deny,
}

impl Decision {
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "allow-once" | "approve" | "allow" => Some(Decision::AllowOnce),
            "allow-always" => Some(Decision::AllowAlways),
            "deny" | "reject" => Some(Decision::Deny),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::AllowOnce => "allow-once",
            Decision::AllowAlways => "allow-always",
            Decision::Deny => "deny",
        }
    }
}

struct Pending {
    summary: Value,
    tx: oneshot::Sender<Decision>,
}

#[derive(Default)]
pub struct Approvals {
    pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Approvals")
    }
}

impl Approvals {
    /// Asks and waits; `Deny` on timeout or when `cancel` fires.
    pub async fn request(
        &self,
        bus: &Bus,
        request: Value,
        timeout: Duration,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> (String, Decision) {
        let id = uuid::Uuid::new_v4().to_string();
        let created = now_ms();
        let summary = json!({
            "id": id,
            "request": request,
            "createdAtMs": created,
            "expiresAtMs": created + timeout.as_millis() as i64,
        });
        let (tx, rx) = oneshot::channel();
        self.lock().insert(
            id.clone(),
            Pending {
                summary: summary.clone(),
                tx,
            },
        );
        bus.send("exec.approval.requested", summary, None, false);
        let decision = tokio::select! {
            d = rx => d.unwrap_or(Decision::Deny),
            _ = tokio::time::sleep(timeout) => {
                if self.lock().remove(&id).is_some() {
                    bus.send("exec.approval.resolved", json!({"id": id, "decision": "deny", "resolvedBy": "timeout", "ts": now_ms()}), None, false);
                }
                Decision::Deny
            }
            _ = cancel.cancelled() => {
                self.lock().remove(&id);
                Decision::Deny
            }
        };
        (id, decision)
    }

    pub fn resolve(&self, bus: &Bus, id: &str, d: Decision, by: &str) -> Result<(), String> {
        let Some(p) = self.lock().remove(id) else {
            return Err(format!(
                "unknown or expired approval id: {id} (list pending ones with `clawdbot approvals list`)"
            ));
        };
        let _ = p.tx.send(d);
        bus.send(
            "exec.approval.resolved",
            json!({"id": id, "decision": d.as_str(), "resolvedBy": by, "ts": now_ms()}),
            None,
            false,
        );
        Ok(())
    }

    pub fn list(&self) -> Vec<Value> {
        let mut v: Vec<Value> = self.lock().values().map(|p| p.summary.clone()).collect();
        v.sort_by_key(|s| s["createdAtMs"].as_i64().unwrap_or(0));
        v
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One "allow always" answer: the exact program file and arguments the operator was
/// shown. Only that exact argv runs unasked later; there is no trailing-arguments
/// wildcard (approving `ls -la` does not approve `ls /etc`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Approved {
    /// Absolute path of the program as executed (`resolvedPath` of the request).
    pub path: String,
    /// argv[1..].
    pub args: Vec<String>,
}

/// The "allow always" answers, kept in `<stateDir>/exec-allowlist.json`:
/// `{"version": 2, "commands": [{"path", "args"}], "programs": [...]}`.
///
/// `programs` is the version-1 format (a bare program name). Such an entry is kept in the
/// file but approves nothing: it does not say which file or which arguments the operator
/// saw, so honouring it would approve `git` from anywhere with any arguments. The next
/// request for that program is asked again, and the answer is stored in the new form.
pub fn allowlist_path(state_dir: &Path) -> PathBuf {
    state_dir.join("exec-allowlist.json")
}

/// The file, or `{}` when missing or unreadable. A newer-format file (state format
/// `exec-allowlist`) approves nothing and is never rewritten (see [`remember`]).
fn load_file(state_dir: &Path) -> Value {
    crate::state_format::read_json("exec-allowlist", &allowlist_path(state_dir))
        .ok()
        .flatten()
        .unwrap_or_else(|| json!({}))
}

pub fn load_allowlist(state_dir: &Path) -> Vec<Approved> {
    load_file(state_dir)
        .get("commands")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

pub fn remember(state_dir: &Path, entry: &Approved) -> std::io::Result<()> {
    let path = allowlist_path(state_dir);
    if let Err(crate::state_format::ReadError::Refused(r)) =
        crate::state_format::read_json("exec-allowlist", &path)
    {
        return Err(r.into());
    }
    let old = load_file(state_dir);
    let mut list = load_allowlist(state_dir);
    if !list.contains(entry) {
        list.push(entry.clone());
    }
    let programs = old.get("programs").cloned().unwrap_or_else(|| json!([]));
    crate::fsutil::write_json_private(
        &allowlist_path(state_dir),
        &json!({"version": 2, "commands": list, "programs": programs}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolve_wakes_the_waiter_and_timeout_denies() {
        let a = std::sync::Arc::new(Approvals::default());
        let bus = std::sync::Arc::new(Bus::default());
        let mut rx = bus.subscribe();
        let cancel = tokio_util::sync::CancellationToken::new();
        let (a2, b2, c2) = (a.clone(), bus.clone(), cancel.clone());
        let waiter = tokio::spawn(async move {
            a2.request(&b2, json!({"command": "ls"}), Duration::from_secs(30), &c2)
                .await
        });
        let ev = rx.recv().await.unwrap();
        assert_eq!(ev.name, "exec.approval.requested");
        let id = a.list()[0]["id"].as_str().unwrap().to_string();
        assert!(a.resolve(&bus, "nope", Decision::Deny, "t").is_err());
        a.resolve(&bus, &id, Decision::AllowOnce, "test").unwrap();
        assert_eq!(waiter.await.unwrap().1, Decision::AllowOnce);
        let (_, d) = a
            .request(&bus, json!({}), Duration::from_millis(1), &cancel)
            .await;
        assert_eq!(d, Decision::Deny);
        assert!(a.list().is_empty());
        let dir = tempfile::tempdir().unwrap();
        // A version-1 file (names only) is read but approves nothing, and survives.
        std::fs::write(
            allowlist_path(dir.path()),
            r#"{"version": 1, "programs": ["git"]}"#,
        )
        .unwrap();
        assert!(load_allowlist(dir.path()).is_empty());
        let e = Approved {
            path: "/usr/bin/ls".into(),
            args: vec!["-la".into()],
        };
        remember(dir.path(), &e).unwrap();
        remember(dir.path(), &e).unwrap();
        assert_eq!(load_allowlist(dir.path()), [e]);
        let file = load_file(dir.path());
        assert_eq!(file["version"], 2);
        assert_eq!(file["programs"], json!(["git"]));
    }

    #[test]
    fn a_newer_allowlist_approves_nothing_and_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"version": 3, "commands": [{"path": "/bin/ls", "args": []}]}"#;
        std::fs::write(allowlist_path(dir.path()), text).unwrap();
        assert!(load_allowlist(dir.path()).is_empty());
        let entry = Approved {
            path: "/bin/true".into(),
            args: vec![],
        };
        let e = remember(dir.path(), &entry).unwrap_err();
        assert!(e.to_string().contains("newer clawdbot"), "{e}");
        assert_eq!(
            std::fs::read_to_string(allowlist_path(dir.path())).unwrap(),
            text
        );
        // Version 1 (the older format) is read, and the v2 write keeps its `programs`.
        std::fs::write(allowlist_path(dir.path()), r#"{"programs": ["git"]}"#).unwrap();
        remember(dir.path(), &entry).unwrap();
        let v = crate::fsutil::read_json(&allowlist_path(dir.path()))
            .unwrap()
            .unwrap();
        assert_eq!(
            (v["version"].clone(), v["programs"].clone()),
            (json!(2), json!(["git"]))
        );
    }
}
