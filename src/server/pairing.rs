//! Gateway-side device pairing: `devices/pending.json` and `devices/paired.json` in the
//! original's format (unknown fields kept), written atomically with mode 0600.
//!
//! `lastUsedAtMs` of device tokens is updated in memory on every connect and persisted
//! with the next write or at shutdown, instead of a disk write per connect.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::util::now_ms;

/// Pending requests expire after five minutes (the original's TTL).
pub const PENDING_TTL_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    pub request_id: String,
    pub device_id: String,
    pub public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_repair: Option<bool>,
    pub ts: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeviceToken {
    pub token: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PairedDevice {
    pub device_id: String,
    pub public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<BTreeMap<String, DeviceToken>>,
    pub created_at_ms: i64,
    pub approved_at_ms: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PairedDevice {
    pub fn allowed_roles(&self) -> Vec<String> {
        match (&self.roles, &self.role) {
            (Some(r), _) if !r.is_empty() => r.clone(),
            (_, Some(r)) => vec![r.clone()],
            _ => vec![],
        }
    }

    /// The list form the `device.pair.list` RPC returns: tokens summarised, never shown.
    pub fn public_view(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            let summary: Vec<Value> = self
                .tokens
                .iter()
                .flat_map(|t| t.values())
                .map(|t| {
                    let mut s = serde_json::to_value(t).unwrap_or(Value::Null);
                    if let Some(o) = s.as_object_mut() {
                        o.remove("token");
                    }
                    s
                })
                .collect();
            obj.remove("tokens");
            if !summary.is_empty() {
                obj.insert("tokens".into(), Value::Array(summary));
            }
        }
        v
    }
}

/// Sorted, de-duplicated, trimmed scopes (the original's normalisation).
pub fn normalize_scopes(scopes: &[String]) -> Vec<String> {
    let mut v: Vec<String> = scopes
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn scopes_allow(requested: &[String], allowed: &[String]) -> bool {
    requested.is_empty() || requested.iter().all(|s| allowed.contains(s))
}

fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A protocol v4 device token: 256 random bits, base64url without padding (43 chars),
/// the form openclaw 2026.9 issues.
pub fn new_token_v4() -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut buf = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Whether `t` has the v4 device token form (see [`new_token_v4`]).
pub fn is_v4_token(t: &str) -> bool {
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Both pairing files, in memory.
#[derive(Debug)]
pub struct PairingStore {
    dir: PathBuf,
    pub pending: BTreeMap<String, PendingRequest>,
    pub paired: BTreeMap<String, PairedDevice>,
    dirty: bool,
    /// A file in a format this release does not read: both files are then read-only
    /// (they are written together), so the newer file is never overwritten.
    refused: Option<String>,
}

impl PairingStore {
    /// Loads both files. A corrupt file is moved aside (never deleted) and reported; a
    /// file in a newer format is left where it is, reported, and makes the store
    /// read-only (devices it could read still connect, pairing answers the refusal).
    pub fn load(dir: &Path) -> (PairingStore, Vec<String>) {
        let mut warnings = vec![];
        let mut refused = None;
        let pending = load_map(
            "devices-pending",
            &dir.join("pending.json"),
            &mut warnings,
            &mut refused,
        );
        let paired = load_map(
            "devices-paired",
            &dir.join("paired.json"),
            &mut warnings,
            &mut refused,
        );
        (
            PairingStore {
                dir: dir.to_path_buf(),
                pending,
                paired,
                dirty: false,
                refused,
            },
            warnings,
        )
    }

    /// Checked before any change, so memory never runs ahead of a file it cannot write.
    fn writable(&self) -> std::io::Result<()> {
        match &self.refused {
            Some(r) => Err(std::io::Error::other(format!(
                "device pairing is read-only: {r}"
            ))),
            None => Ok(()),
        }
    }

    /// Why the store is read-only, if it is.
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    fn persist(&mut self) -> std::io::Result<()> {
        self.writable()?;
        let pending = serde_json::to_value(&self.pending).map_err(std::io::Error::other)?;
        let paired = serde_json::to_value(&self.paired).map_err(std::io::Error::other)?;
        crate::fsutil::write_json_private(&self.dir.join("pending.json"), &pending)?;
        crate::fsutil::write_json_private(&self.dir.join("paired.json"), &paired)?;
        self.dirty = false;
        Ok(())
    }

    /// Writes pending in-memory updates (token last-use times); called at shutdown.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.dirty { self.persist() } else { Ok(()) }
    }

    fn prune(&mut self, now: i64) {
        self.pending.retain(|_, p| now - p.ts <= PENDING_TTL_MS);
    }

    /// Creates (or returns the existing) pending request for a device.
    pub fn request(&mut self, mut req: PendingRequest) -> std::io::Result<(PendingRequest, bool)> {
        self.writable()?;
        let now = now_ms();
        self.prune(now);
        if let Some(existing) = self.pending.values().find(|p| p.device_id == req.device_id) {
            return Ok((existing.clone(), false));
        }
        req.request_id = uuid::Uuid::new_v4().to_string();
        req.ts = now;
        req.is_repair = Some(self.paired.contains_key(&req.device_id));
        req.roles = req.role.clone().map(|r| vec![r]);
        self.pending.insert(req.request_id.clone(), req.clone());
        self.persist()?;
        Ok((req, true))
    }

    /// Approves a pending request: merges roles/scopes and issues a token for its role.
    pub fn approve(&mut self, request_id: &str) -> std::io::Result<Option<PairedDevice>> {
        self.writable()?;
        self.prune(now_ms());
        let Some(p) = self.pending.remove(request_id) else {
            return Ok(None);
        };
        let now = now_ms();
        let existing = self.paired.get(&p.device_id).cloned();
        let mut roles: Vec<String> = existing
            .as_ref()
            .map(|e| e.allowed_roles())
            .unwrap_or_default();
        if let Some(r) = &p.role
            && !roles.contains(r)
        {
            roles.push(r.clone());
        }
        let mut scopes = existing
            .as_ref()
            .and_then(|e| e.scopes.clone())
            .unwrap_or_default();
        scopes.extend(p.scopes.clone().unwrap_or_default());
        let scopes = normalize_scopes(&scopes);
        let mut tokens = existing
            .as_ref()
            .and_then(|e| e.tokens.clone())
            .unwrap_or_default();
        if let Some(role) = p.role.clone().filter(|r| !r.trim().is_empty()) {
            let prev = tokens.get(&role).cloned();
            tokens.insert(
                role.clone(),
                DeviceToken {
                    token: new_token(),
                    role,
                    scopes: normalize_scopes(&p.scopes.clone().unwrap_or_default()),
                    created_at_ms: prev.as_ref().map(|t| t.created_at_ms).unwrap_or(now),
                    rotated_at_ms: prev.as_ref().map(|_| now),
                    revoked_at_ms: None,
                    last_used_at_ms: prev.and_then(|t| t.last_used_at_ms),
                },
            );
        }
        let device = PairedDevice {
            device_id: p.device_id.clone(),
            public_key: p.public_key.clone(),
            display_name: p.display_name.clone(),
            platform: p.platform.clone(),
            client_id: p.client_id.clone(),
            client_mode: p.client_mode.clone(),
            role: p.role.clone(),
            roles: Some(roles),
            scopes: Some(scopes),
            remote_ip: p.remote_ip.clone(),
            tokens: Some(tokens),
            created_at_ms: existing.as_ref().map(|e| e.created_at_ms).unwrap_or(now),
            approved_at_ms: now,
            extra: existing.map(|e| e.extra).unwrap_or_default(),
        };
        self.paired.insert(device.device_id.clone(), device.clone());
        self.persist()?;
        Ok(Some(device))
    }

    pub fn reject(&mut self, request_id: &str) -> std::io::Result<Option<PendingRequest>> {
        self.writable()?;
        let removed = self.pending.remove(request_id);
        if removed.is_some() {
            self.persist()?;
        }
        Ok(removed)
    }

    /// Checks a device token for `role` with `scopes` (not revoked, scopes a subset).
    pub fn verify_token(
        &mut self,
        device_id: &str,
        token: &str,
        role: &str,
        scopes: &[String],
    ) -> bool {
        let Some(entry) = self
            .paired
            .get_mut(device_id)
            .and_then(|d| d.tokens.as_mut())
            .and_then(|t| t.get_mut(role))
        else {
            return false;
        };
        let ok = entry.revoked_at_ms.is_none()
            && crate::config::secrets::Secret::new(entry.token.clone()).ct_eq(token)
            && scopes_allow(&normalize_scopes(scopes), &entry.scopes);
        if ok {
            entry.last_used_at_ms = Some(now_ms());
            self.dirty = true;
        }
        ok
    }

    /// Returns the device's token for `role`, issuing one when missing, revoked or too
    /// narrow for `scopes`.
    pub fn ensure_token(
        &mut self,
        device_id: &str,
        role: &str,
        scopes: &[String],
    ) -> std::io::Result<Option<DeviceToken>> {
        self.ensure_token_as(device_id, role, scopes, false)
    }

    /// [`Self::ensure_token`] for a protocol v4 connect when `v4`: a token not in the v4
    /// form (one issued to a v3 client, or by pairing approval) is replaced by one that is.
    pub fn ensure_token_as(
        &mut self,
        device_id: &str,
        role: &str,
        scopes: &[String],
        v4: bool,
    ) -> std::io::Result<Option<DeviceToken>> {
        self.writable()?;
        let requested = normalize_scopes(scopes);
        let Some(device) = self.paired.get_mut(device_id) else {
            return Ok(None);
        };
        let tokens = device.tokens.get_or_insert_with(BTreeMap::new);
        if let Some(t) = tokens.get(role)
            && t.revoked_at_ms.is_none()
            && scopes_allow(&requested, &t.scopes)
            && (!v4 || is_v4_token(&t.token))
        {
            return Ok(Some(t.clone()));
        }
        let now = now_ms();
        let t = DeviceToken {
            token: if v4 { new_token_v4() } else { new_token() },
            role: role.to_string(),
            scopes: requested,
            created_at_ms: now,
            rotated_at_ms: None,
            revoked_at_ms: None,
            last_used_at_ms: Some(now),
        };
        tokens.insert(role.to_string(), t.clone());
        self.persist()?;
        Ok(Some(t))
    }

    /// Forgets a paired device: its tokens stop working and it must pair again.
    pub fn remove(&mut self, device_id: &str) -> std::io::Result<Option<PairedDevice>> {
        self.writable()?;
        let removed = self.paired.remove(device_id);
        if removed.is_some() {
            self.persist()?;
        }
        Ok(removed)
    }

    /// Revokes one role's token of a paired device (the device stays paired).
    pub fn revoke_token(&mut self, device_id: &str, role: &str) -> std::io::Result<bool> {
        self.writable()?;
        let Some(t) = self
            .paired
            .get_mut(device_id)
            .and_then(|d| d.tokens.as_mut())
            .and_then(|t| t.get_mut(role))
        else {
            return Ok(false);
        };
        t.revoked_at_ms = Some(now_ms());
        self.persist()?;
        Ok(true)
    }

    pub fn list(&mut self) -> Value {
        self.prune(now_ms());
        let mut pending: Vec<&PendingRequest> = self.pending.values().collect();
        pending.sort_by_key(|p| std::cmp::Reverse(p.ts));
        let mut paired: Vec<&PairedDevice> = self.paired.values().collect();
        paired.sort_by_key(|d| std::cmp::Reverse(d.approved_at_ms));
        serde_json::json!({
            "pending": pending,
            "paired": paired.iter().map(|d| d.public_view()).collect::<Vec<_>>(),
        })
    }
}

fn load_map<T: serde::de::DeserializeOwned>(
    kind: &str,
    path: &Path,
    warnings: &mut Vec<String>,
    refused: &mut Option<String>,
) -> BTreeMap<String, T> {
    use crate::state_format::ReadError;
    let value = match crate::state_format::read_json(kind, path) {
        Ok(Some(v)) => v,
        Ok(None) => return BTreeMap::new(),
        Err(ReadError::Refused(r)) => {
            // Logged once by the state-format registry, which `status` lists.
            *refused = Some(r.to_string());
            return BTreeMap::new();
        }
        Err(ReadError::Other(e)) => {
            warnings.push(quarantine(path, &e));
            return BTreeMap::new();
        }
    };
    match serde_json::from_value(value) {
        Ok(m) => m,
        Err(e) => {
            warnings.push(quarantine(path, &e.to_string()));
            BTreeMap::new()
        }
    }
}

/// Moves an unreadable file aside so nothing is lost and the gateway still starts.
fn quarantine(path: &Path, why: &str) -> String {
    let aside = path.with_extension(format!("json.corrupt-{}", now_ms()));
    match std::fs::rename(path, &aside) {
        Ok(()) => format!(
            "{} was unreadable ({why}); moved to {} and started empty",
            path.display(),
            aside.display()
        ),
        Err(e) => format!(
            "{} was unreadable ({why}) and could not be moved aside: {e}",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(device: &str) -> PendingRequest {
        PendingRequest {
            request_id: String::new(),
            device_id: device.into(),
            public_key: "pk".into(),
            display_name: None,
            platform: Some("linux".into()),
            client_id: Some("cli".into()),
            client_mode: Some("cli".into()),
            role: Some("operator".into()),
            roles: None,
            scopes: Some(vec!["operator.read".into()]),
            remote_ip: None,
            silent: Some(false),
            is_repair: None,
            ts: 0,
            extra: Map::new(),
        }
    }

    #[test]
    fn request_approve_token_roundtrip_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, w) = PairingStore::load(dir.path());
        assert!(w.is_empty());
        let (r, created) = s.request(req("dev1")).unwrap();
        assert!(created);
        let (again, created) = s.request(req("dev1")).unwrap();
        assert!(!created);
        assert_eq!(again.request_id, r.request_id);
        let d = s.approve(&r.request_id).unwrap().unwrap();
        let tok = d.tokens.as_ref().unwrap()["operator"].token.clone();
        assert_eq!(tok.len(), 32);
        let (mut s2, _) = PairingStore::load(dir.path());
        assert!(s2.verify_token("dev1", &tok, "operator", &["operator.read".into()]));
        assert!(!s2.verify_token("dev1", &tok, "operator", &["operator.admin".into()]));
        assert!(!s2.verify_token("dev1", "nope", "operator", &[]));
        let listed = s2.list();
        assert!(!listed.to_string().contains(&tok), "token leaked in list");
    }

    #[test]
    fn corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("paired.json"), "{not json").unwrap();
        let (s, w) = PairingStore::load(dir.path());
        assert!(s.paired.is_empty());
        assert!(w[0].contains("moved to"), "{w:?}");
        assert!(!dir.path().join("paired.json").exists());
    }

    #[test]
    fn keeps_unknown_fields_of_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let paired = serde_json::json!({"d": {"deviceId": "d", "publicKey": "k", "createdAtMs": 1, "approvedAtMs": 2, "futureField": {"x": 1}}});
        std::fs::write(dir.path().join("paired.json"), paired.to_string()).unwrap();
        let (mut s, _) = PairingStore::load(dir.path());
        s.ensure_token("d", "operator", &[]).unwrap().unwrap();
        let text = std::fs::read_to_string(dir.path().join("paired.json")).unwrap();
        assert!(text.contains("futureField"));
    }

    #[test]
    fn newer_file_is_refused_kept_and_makes_the_store_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let pending = r#"{"version": 2, "r": {"shape": "from the future"}}"#;
        std::fs::write(dir.path().join("pending.json"), pending).unwrap();
        let paired = serde_json::json!({"d": {"deviceId": "d", "publicKey": "k", "createdAtMs": 1, "approvedAtMs": 2,
            "tokens": {"operator": {"token": "t", "role": "operator", "scopes": [], "createdAtMs": 1}}}});
        std::fs::write(dir.path().join("paired.json"), paired.to_string()).unwrap();
        let (mut s, w) = PairingStore::load(dir.path());
        assert!(w.is_empty(), "{w:?}");
        assert!(s.refused().unwrap().contains("newer clawdbot"));
        // What could be read still serves: the paired device's token verifies.
        assert!(s.verify_token("d", "t", "operator", &[]));
        let e = s.request(req("dev2")).unwrap_err();
        assert!(e.to_string().contains("read-only"), "{e}");
        assert!(s.pending.is_empty());
        assert!(s.flush().is_err());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("pending.json")).unwrap(),
            pending
        );
        // A version-1 marker (what a tool may write) is read as the original's map.
        std::fs::write(dir.path().join("pending.json"), r#"{"version": 1}"#).unwrap();
        let (s, w) = PairingStore::load(dir.path());
        assert!(w.is_empty() && s.refused().is_none(), "{w:?}");
    }
}
