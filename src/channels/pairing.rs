//! DM pairing for channels: an unknown sender gets a code; the owner approves it with
//! `clawdbot pairing approve telegram <code>`, which adds the sender to the channel's
//! stored allowlist. Same files and shapes as the original, so an existing state dir
//! keeps its approvals:
//!
//! - `<state>/credentials/<channel>-pairing.json`: `{version:1, requests:[{id, code,
//!   createdAt, lastSeenAt, meta}]}`, at most [`MAX_PENDING`], each valid for [`TTL_MS`];
//! - `<state>/credentials/<channel>-allowFrom.json`: `{version:1, allowFrom:[…]}`.
//!
//! Both are written atomically (0600), always after reading the file, so one in a newer
//! format (state format `channel-pairing`/`channel-allowfrom`) is refused, never
//! overwritten. A process-wide mutex serializes the
//! read-modify-write cycles of the gateway's tasks; the CLI goes through the gateway.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::fsutil::{create_private_dir, write_json_private};
use crate::state_format::read_json;
use crate::util::{iso_from_ms, now_ms};

/// A pending request expires after an hour.
pub const TTL_MS: i64 = 60 * 60 * 1000;
/// At most this many pending requests per channel; further senders get no code.
pub const MAX_PENDING: usize = 3;
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;

static LOCK: Mutex<()> = Mutex::new(());

#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// The outcome of [`Store::upsert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    pub code: String,
    /// False when the sender already had a pending code (do not send it again and again).
    pub created: bool,
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            dir: state_dir.join("credentials"),
        }
    }

    fn pairing_path(&self, channel: &str) -> PathBuf {
        self.dir.join(format!("{channel}-pairing.json"))
    }

    fn allow_path(&self, channel: &str) -> PathBuf {
        self.dir.join(format!("{channel}-allowFrom.json"))
    }

    fn write(&self, path: &Path, v: &Value) -> Result<(), String> {
        create_private_dir(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        write_json_private(path, v).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn pending_raw(&self, channel: &str) -> Result<Vec<Value>, String> {
        let now = now_ms();
        let v = read_json("channel-pairing", &self.pairing_path(channel))?.unwrap_or(json!({}));
        Ok(v.get("requests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| {
                r.get("createdAt")
                    .and_then(Value::as_str)
                    .and_then(parse_iso_ms)
                    .is_some_and(|t| now - t < TTL_MS)
            })
            .collect())
    }

    /// Pending (unexpired) requests of a channel.
    pub fn list(&self, channel: &str) -> Result<Vec<Value>, String> {
        let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        self.pending_raw(channel)
    }

    /// The stored allowlist of a channel (what approvals added).
    pub fn allow_from(&self, channel: &str) -> Result<Vec<String>, String> {
        let v = read_json("channel-allowfrom", &self.allow_path(channel))?.unwrap_or(json!({}));
        Ok(v.get("allowFrom")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(entry_str).collect())
            .unwrap_or_default())
    }

    /// Records a request for `id` (or refreshes its `lastSeenAt`); `None` when
    /// [`MAX_PENDING`] others are already waiting.
    pub fn upsert(&self, channel: &str, id: &str, meta: Value) -> Result<Option<Upserted>, String> {
        let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let mut reqs = self.pending_raw(channel)?;
        let now = iso_from_ms(now_ms());
        if let Some(r) = reqs.iter_mut().find(|r| r["id"].as_str() == Some(id)) {
            r["lastSeenAt"] = json!(now);
            let code = r["code"].as_str().unwrap_or_default().to_string();
            self.write(
                &self.pairing_path(channel),
                &json!({"version": 1, "requests": reqs}),
            )?;
            return Ok(Some(Upserted {
                code,
                created: false,
            }));
        }
        if reqs.len() >= MAX_PENDING {
            return Ok(None);
        }
        let taken: Vec<String> = reqs
            .iter()
            .filter_map(|r| r["code"].as_str().map(String::from))
            .collect();
        let code = loop {
            let c = random_code();
            if !taken.contains(&c) {
                break c;
            }
        };
        reqs.push(
            json!({"id": id, "code": code, "createdAt": now, "lastSeenAt": now, "meta": meta}),
        );
        self.write(
            &self.pairing_path(channel),
            &json!({"version": 1, "requests": reqs}),
        )?;
        Ok(Some(Upserted {
            code,
            created: true,
        }))
    }

    /// Approves a pending code: the sender id moves to the allowlist. Returns the
    /// request, or an error naming what to do when the code is unknown or expired.
    pub fn approve(&self, channel: &str, code: &str) -> Result<Value, String> {
        let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let code = code.trim().to_ascii_uppercase();
        let mut reqs = self.pending_raw(channel)?;
        let Some(pos) = reqs.iter().position(|r| r["code"].as_str() == Some(&code)) else {
            return Err(format!(
                "no pending {channel} pairing request with code {code} (codes expire after an hour); run `clawdbot pairing list {channel}`"
            ));
        };
        let req = reqs.remove(pos);
        let id = req["id"].as_str().unwrap_or_default().to_string();
        let mut allow = self.allow_from(channel)?;
        if !allow.contains(&id) {
            allow.push(id);
        }
        self.write(
            &self.allow_path(channel),
            &json!({"version": 1, "allowFrom": allow}),
        )?;
        self.write(
            &self.pairing_path(channel),
            &json!({"version": 1, "requests": reqs}),
        )?;
        Ok(req)
    }
}

/// Allowlist entries may be numbers (Telegram ids) or strings.
pub fn entry_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn random_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Milliseconds of an RFC 3339 UTC timestamp as written by [`iso_from_ms`].
fn parse_iso_ms(s: &str) -> Option<i64> {
    // YYYY-MM-DDTHH:MM:SS(.mmm)?Z
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, se) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let ms = if b.get(19) == Some(&b'.') {
        n(20..23).unwrap_or(0)
    } else {
        0
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + h) * 60 + mi) * 60 + se) * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip() {
        for ms in [0i64, 1_700_000_000_123, 1_800_000_000_000] {
            assert_eq!(parse_iso_ms(&iso_from_ms(ms)), Some(ms));
        }
    }

    #[test]
    fn upsert_cap_approve() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path());
        let a = s.upsert("telegram", "100", json!({})).unwrap().unwrap();
        assert!(a.created);
        assert_eq!(a.code.len(), CODE_LEN);
        let again = s.upsert("telegram", "100", json!({})).unwrap().unwrap();
        assert_eq!(
            (again.code.as_str(), again.created),
            (a.code.as_str(), false)
        );
        s.upsert("telegram", "101", json!({})).unwrap().unwrap();
        s.upsert("telegram", "102", json!({})).unwrap().unwrap();
        assert_eq!(s.upsert("telegram", "103", json!({})).unwrap(), None);
        let err = s.approve("telegram", "NOPE2345").unwrap_err();
        assert!(err.contains("clawdbot pairing list telegram"), "{err}");
        let req = s.approve("telegram", &a.code.to_lowercase()).unwrap();
        assert_eq!(req["id"], "100");
        assert_eq!(s.allow_from("telegram").unwrap(), vec!["100".to_string()]);
        assert_eq!(s.list("telegram").unwrap().len(), 2);
        // Expired requests vanish.
        let p = s.pairing_path("telegram");
        let mut v = crate::fsutil::read_json(&p).unwrap().unwrap();
        v["requests"][0]["createdAt"] = json!(iso_from_ms(now_ms() - TTL_MS - 1));
        write_json_private(&p, &v).unwrap();
        assert_eq!(s.list("telegram").unwrap().len(), 1);
    }

    #[test]
    fn newer_allowlist_is_refused_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path());
        let up = s.upsert("telegram", "42", json!({})).unwrap().unwrap();
        let allow = dir.path().join("credentials/telegram-allowFrom.json");
        let text = r#"{"version": 2, "allowFrom": {"new": "shape"}}"#;
        std::fs::write(&allow, text).unwrap();
        let e = s.approve("telegram", &up.code).unwrap_err();
        assert!(
            e.contains("newer clawdbot") && e.contains("allowFrom.json"),
            "{e}"
        );
        assert!(s.allow_from("telegram").is_err());
        assert_eq!(std::fs::read_to_string(&allow).unwrap(), text);
        // The request is still pending (nothing half-applied).
        assert_eq!(s.list("telegram").unwrap().len(), 1);
    }
}
