//! A config that openclaw (Clawdbot's current release) has rewritten still loads.
//!
//! After one start of openclaw 2026.9 on a Clawdbot state dir, the config carries keys
//! this gateway's strict schema does not know (protocol-v4.md §4): `meta.migrations`,
//! `agents.entries.<id>`, `channels.<ch>.streaming {mode}` instead of `streamMode`, and
//! whatever else a later openclaw adds. Refusing to start on them would strand a user
//! who tried openclaw and came back, so for such a config (and only then: a hand-written
//! config keeps the strict check that catches typos) we map what we implement, ignore
//! the keys we do not have, and say so in one warning. Values of known keys are still
//! validated, and the file is never rewritten.

use std::path::Path;

use serde_json::Value;

use super::schema::{self, Report};

/// Whether `root` (loaded from `path`) shows openclaw's hand.
pub fn written_by_openclaw(root: &Value, path: &Path) -> bool {
    let streaming = root
        .get("channels")
        .and_then(Value::as_object)
        .is_some_and(|chs| chs.values().any(|c| c.get("streaming").is_some()));
    path.file_name().is_some_and(|n| n == "openclaw.json")
        || root.pointer("/meta/migrations").is_some()
        || root.pointer("/agents/entries").is_some()
        || streaming
}

/// Maps openclaw's renamed keys back to ours; returns what was mapped.
fn map_renamed(root: &mut Value) -> Vec<String> {
    let mut mapped = vec![];
    let Some(channels) = root.get_mut("channels").and_then(Value::as_object_mut) else {
        return mapped;
    };
    for (name, ch) in channels.iter_mut() {
        map_streaming(ch, &format!("channels.{name}"), &mut mapped);
        if let Some(accounts) = ch.get_mut("accounts").and_then(Value::as_object_mut) {
            for (acc, a) in accounts.iter_mut() {
                map_streaming(a, &format!("channels.{name}.accounts.{acc}"), &mut mapped);
            }
        }
    }
    mapped
}

/// `streaming: {mode}` → `streamMode` (openclaw's rename of our key), when ours is unset.
fn map_streaming(ch: &mut Value, path: &str, mapped: &mut Vec<String>) {
    let Some(obj) = ch.as_object_mut() else {
        return;
    };
    let mode = obj
        .get("streaming")
        .and_then(|s| s.get("mode"))
        .and_then(Value::as_str)
        .map(str::to_string);
    // Only the values our `streamMode` has; any other leaves `streaming` to be ignored.
    if let Some(mode) = mode
        && ["off", "partial", "block"].contains(&mode.as_str())
        && !obj.contains_key("streamMode")
    {
        obj.insert("streamMode".into(), Value::String(mode));
        mapped.push(format!("{path}.streaming.mode → {path}.streamMode"));
    }
}

/// Removes a dot path ("agents.entries", "agents.list.0.x"); true when it was there.
fn remove_path(root: &mut Value, path: &str) -> bool {
    let (parent, last) = match path.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, path),
    };
    let mut node = root;
    if let Some(parent) = parent {
        for seg in parent.split('.') {
            let next = match node {
                Value::Object(o) => o.get_mut(seg),
                Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return false,
            }
        }
    }
    node.as_object_mut().and_then(|o| o.remove(last)).is_some()
}

/// Adapts an openclaw-written config in place and validates it; the report carries one
/// warning naming what was mapped and ignored. `None` when `root` is not openclaw's.
pub fn adapt(root: &mut Value, path: &Path) -> Option<Report> {
    if !written_by_openclaw(root, path) {
        return None;
    }
    let mapped = map_renamed(root);
    let mut ignored = vec![];
    let mut report = schema::validate(root);
    // Each pass removes the unknown keys found; nested ones surface once their parent is
    // known, so a few passes suffice (bounded in case of a schema quirk).
    for _ in 0..8 {
        let unknown: Vec<String> = report
            .errors
            .iter()
            .filter(|i| i.message.starts_with("unknown key"))
            .map(|i| i.path.clone())
            .collect();
        let removed: Vec<String> = unknown
            .into_iter()
            .filter(|p| remove_path(root, p))
            .collect();
        if removed.is_empty() {
            break;
        }
        ignored.extend(removed);
        report = schema::validate(root);
    }
    let mut parts = vec![];
    if !mapped.is_empty() {
        parts.push(format!("mapped {}", mapped.join(", ")));
    }
    if !ignored.is_empty() {
        parts.push(format!(
            "ignored keys this gateway does not have: {} (left in the file)",
            ignored.join(", ")
        ));
    }
    if !parts.is_empty() {
        report.warnings.push(schema::Issue {
            path: String::new(),
            message: format!("config written by openclaw: {}", parts.join("; ")),
        });
    }
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The keys openclaw 2026.9.6 wrote into a Clawdbot config (protocol-v4.md §4).
    fn migrated() -> Value {
        json!({
            "meta": {"lastTouchedVersion": "2026.9.6", "migrations": {"applied": ["x"]}},
            "gateway": {"mode": "local", "auth": {"token": "t"}},
            "agents": {"defaults": {"model": {"primary": "anthropic/claude-opus-4-7"}},
                       "entries": {"main": {}}},
            "channels": {"telegram": {"botToken": "1:x", "streaming": {"mode": "partial"}}},
        })
    }

    #[test]
    fn an_openclaw_config_is_mapped_and_its_unknown_keys_ignored() {
        let mut v = migrated();
        assert!(
            !schema::validate(&v).errors.is_empty(),
            "strict without adapt"
        );
        let r = adapt(&mut v, Path::new("/s/clawdbot.json")).unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(v["channels"]["telegram"]["streamMode"], "partial");
        assert!(v["channels"]["telegram"].get("streaming").is_none());
        assert!(v["agents"].get("entries").is_none());
        assert!(v["meta"].get("migrations").is_none());
        assert_eq!(v["gateway"]["auth"]["token"], "t");
        let w: Vec<&str> = r.warnings.iter().map(|i| i.message.as_str()).collect();
        let one: Vec<&&str> = w.iter().filter(|m| m.contains("openclaw")).collect();
        assert_eq!(one.len(), 1, "{w:?}");
        for needle in [
            "channels.telegram.streaming.mode → channels.telegram.streamMode",
            "agents.entries",
            "meta.migrations",
        ] {
            assert!(one[0].contains(needle), "{needle}: {}", one[0]);
        }
    }

    #[test]
    fn a_hand_written_config_stays_strict_and_bad_values_still_fail() {
        let mut v = json!({"gateway": {"mdoe": "local"}});
        assert!(adapt(&mut v, Path::new("/s/clawdbot.json")).is_none());
        // openclaw's, but a known key with a wrong value is still an error.
        let mut v = migrated();
        v["gateway"]["port"] = json!("not a port");
        let r = adapt(&mut v, Path::new("/s/clawdbot.json")).unwrap();
        assert!(
            r.errors.iter().any(|i| i.path == "gateway.port"),
            "{:?}",
            r.errors
        );
        // An openclaw.json is openclaw's by name.
        let mut v = json!({"someNewOpenclawKey": 1});
        let r = adapt(&mut v, Path::new("/s/openclaw.json")).unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
}
