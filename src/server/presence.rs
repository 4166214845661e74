//! System presence: the gateway's own entry plus one per connected non-CLI client,
//! keyed by device id, instance id or connection id (spec §3.2 `system-presence`).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::util::now_ms;

const TTL_MS: i64 = 5 * 60 * 1000;
const MAX_ENTRIES: usize = 200;

#[derive(Debug, Default)]
pub struct Presence {
    entries: HashMap<String, Value>,
    /// Bumped on every change; clients see it as `stateVersion.presence`.
    pub version: u64,
}

/// The gateway's own entry; the CLI's `status` finds it by mode "gateway" + reason "self".
pub fn self_entry() -> Value {
    let host = crate::util::hostname();
    let version = crate::VERSION;
    json!({
        "host": host,
        "ip": host,
        "version": version,
        "platform": format!("{} {}", crate::util::platform(), crate::util::kernel_release()),
        "deviceFamily": if cfg!(target_os = "macos") { "Mac" } else { "Linux" },
        "modelIdentifier": crate::util::arch(),
        "mode": "gateway",
        "reason": "self",
        "text": format!("Gateway: {host} ({host}) · app {version} · mode gateway · reason self"),
        "ts": now_ms(),
    })
}

impl Presence {
    pub fn new() -> Presence {
        Presence {
            entries: HashMap::new(),
            version: 1,
        }
    }

    pub fn upsert(&mut self, key: &str, entry: Value) {
        self.entries.insert(key.to_string(), entry);
        self.version += 1;
        if self.entries.len() > MAX_ENTRIES {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, v)| v["ts"].as_i64().unwrap_or(0))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> bool {
        let removed = self.entries.remove(key).is_some();
        if removed {
            self.version += 1;
        }
        removed
    }

    /// Newest first, self entry included, expired entries dropped.
    pub fn list(&mut self) -> Vec<Value> {
        let now = now_ms();
        self.entries
            .retain(|_, v| now - v["ts"].as_i64().unwrap_or(now) <= TTL_MS);
        let mut out: Vec<Value> = self.entries.values().cloned().collect();
        out.push(self_entry());
        out.sort_by_key(|v| std::cmp::Reverse(v["ts"].as_i64().unwrap_or(0)));
        out
    }

    /// Connected clients of role `node`, in `node.list`'s entry shape. Only the live
    /// ones: we keep no node pairing records beside the device list, and a node's
    /// `caps`/`commands` are not recorded, so they are left out rather than shown empty.
    pub fn nodes(&mut self) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .list()
            .into_iter()
            .filter(|e| {
                e["roles"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|x| x == "node"))
            })
            .map(|e| {
                let id = e
                    .get("deviceId")
                    .or_else(|| e.get("instanceId"))
                    .cloned()
                    .unwrap_or_else(|| e["host"].clone());
                let mut n = json!({
                    "nodeId": id,
                    "displayName": e["host"],
                    "platform": e.get("platform"),
                    "version": e.get("version"),
                    "deviceFamily": e.get("deviceFamily"),
                    "modelIdentifier": e.get("modelIdentifier"),
                    "remoteIp": e.get("ip"),
                    "paired": e.get("deviceId").is_some(),
                    "connected": true,
                    "connectedAtMs": e["ts"],
                });
                n.as_object_mut()
                    .expect("object")
                    .retain(|_, v| !v.is_null());
                n
            })
            .collect();
        out.sort_by(|a, b| a["nodeId"].as_str().cmp(&b["nodeId"].as_str()));
        out
    }
}
