//! `config.get|schema|set|apply|patch`. Secrets are redacted on the way out and restored
//! from the current file when a client sends the redaction marker back. In Nix mode every
//! write is refused with the option that manages the changed key.

use serde_json::{Map, Value, json};

use super::{Ctx, Params};
use crate::config::{self, ConfigError, schema};
use crate::protocol::RpcError;
use crate::util::now_ms;

const REDACTED: &str = "__CLAWDBOT_REDACTED__";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Set,
    Apply,
    Patch,
}

fn issues_json(e: &ConfigError) -> Value {
    Value::Array(
        e.problems()
            .iter()
            .map(|p| {
                let mut v = json!({"path": p.path, "message": p.message});
                if let Some(l) = &p.location {
                    v["line"] = json!(l.line);
                    v["file"] = json!(l.file.display().to_string());
                }
                v
            })
            .collect(),
    )
}

/// The file's text for clients: verbatim unless it holds inline secrets, in which case
/// a redacted JSON rendering.
fn raw_for_client(raw: &str, parsed: Option<&Value>) -> String {
    match parsed {
        Some(p) => {
            let red = schema::redact(p);
            if &red == p {
                raw.to_string()
            } else {
                serde_json::to_string_pretty(&red).unwrap_or_default()
            }
        }
        None => String::new(),
    }
}

pub fn get(ctx: &Ctx<'_>, p: Params) -> Result<Value, RpcError> {
    p.none()?;
    let gw = ctx.gw;
    let path = &gw.host.paths.config_path;
    let raw = std::fs::read_to_string(path).ok();
    let hash = config::sha256_hex(raw.as_deref().unwrap_or("").as_bytes());
    let parsed = raw
        .as_deref()
        .and_then(|t| config::json5::parse(t).ok())
        .map(|p| p.value);
    let loaded = config::load_text(path, raw.clone(), &gw.env);
    let (valid, resolved, issues, warnings) = match &loaded {
        Ok(l) => (
            true,
            l.display(),
            json!([]),
            l.warnings
                .iter()
                .map(|w| json!({"path": w.path, "message": w.message}))
                .collect(),
        ),
        Err(e) => (false, Value::Null, issues_json(e), vec![]),
    };
    Ok(json!({
        "path": path.display().to_string(),
        "exists": raw.is_some(),
        "raw": raw.as_deref().map(|r| raw_for_client(r, parsed.as_ref())),
        "parsed": parsed.as_ref().map(schema::redact),
        "valid": valid,
        "config": resolved,
        "hash": hash,
        "issues": issues,
        "warnings": warnings,
        "legacyIssues": [],
        "nixMode": gw.host.nix.enabled,
    }))
}

pub fn schema(p: Params) -> Result<Value, RpcError> {
    p.none()?;
    Ok(json!({
        "schema": schema::json_schema(),
        "uiHints": schema::ui_hints(),
        "version": crate::VERSION,
        "generatedAt": crate::util::iso_from_ms(now_ms()),
    }))
}

/// Puts the current secret back wherever the client sent the redaction marker.
fn restore_redacted(new: &mut Value, old: Option<&Value>) {
    match new {
        Value::String(s) if s == REDACTED => {
            if let Some(Value::String(o)) = old {
                *s = o.clone();
            }
        }
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                restore_redacted(v, old.and_then(|o| o.get(k)));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                restore_redacted(v, old.and_then(|o| o.get(i)));
            }
        }
        _ => {}
    }
}

fn contains_marker(v: &Value) -> bool {
    match v {
        Value::String(s) => s == REDACTED,
        Value::Object(m) => m.values().any(contains_marker),
        Value::Array(a) => a.iter().any(contains_marker),
        _ => false,
    }
}

/// Leaf paths that differ between two documents (for naming the Nix option).
pub fn changed_paths(old: &Value, new: &Value, prefix: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                changed_paths(
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    &p,
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(if prefix.is_empty() {
            "config".into()
        } else {
            prefix.to_string()
        }),
        _ => {}
    }
}

/// RFC 7386 merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

pub fn set(ctx: &Ctx<'_>, p: Params, kind: Kind) -> Result<Value, RpcError> {
    p.only(&["raw", "baseHash", "sessionKey", "note", "restartDelayMs"])?;
    let raw = p.required_str("raw")?;
    let base_hash = p.str("baseHash")?;
    let gw = ctx.gw;
    let path = gw.host.paths.config_path.clone();
    let current_raw = std::fs::read_to_string(&path).ok();
    let current_parsed = current_raw
        .as_deref()
        .and_then(|t| config::json5::parse(t).ok())
        .map(|p| p.value);
    let incoming = config::json5::parse(raw)
        .map_err(|e| RpcError::invalid(e.to_string()))?
        .value;

    // Compute the document that would be written.
    let (mut next, verbatim) = match kind {
        Kind::Patch => {
            if !incoming.is_object() {
                return Err(RpcError::invalid("config.patch raw must be an object"));
            }
            if config::load_text(&path, current_raw.clone(), &gw.env).is_err() {
                return Err(RpcError::invalid("invalid config; fix before patching"));
            }
            let mut doc = current_parsed.clone().unwrap_or_else(|| json!({}));
            merge_patch(&mut doc, &incoming);
            (doc, false)
        }
        Kind::Set | Kind::Apply => (incoming.clone(), !contains_marker(&incoming)),
    };
    restore_redacted(&mut next, current_parsed.as_ref());

    if gw.host.nix.enabled {
        let mut changed = vec![];
        changed_paths(
            current_parsed.as_ref().unwrap_or(&json!({})),
            &next,
            "",
            &mut changed,
        );
        let first = changed.first().cloned().unwrap_or_else(|| "config".into());
        let mut msg = crate::nix::key_remediation(&first);
        if changed.len() > 1 {
            msg.push_str(&format!(
                " ({} more changed keys are managed the same way)",
                changed.len() - 1
            ));
        }
        return Err(
            RpcError::invalid(msg).with_details(json!({"nixMode": true, "changedPaths": changed}))
        );
    }
    if let Some(current) = &current_raw {
        let current_hash = config::sha256_hex(current.as_bytes());
        match base_hash {
            None => {
                return Err(RpcError::invalid(
                    "config base hash required; re-run config.get and retry",
                ));
            }
            Some(h) if h != current_hash => {
                return Err(RpcError::invalid(
                    "config changed since last load; re-run config.get and retry",
                ));
            }
            _ => {}
        }
    }
    let text = if verbatim {
        raw.to_string()
    } else {
        serde_json::to_string_pretty(&next).unwrap_or_default() + "\n"
    };
    let loaded = config::load_text(&path, Some(text.clone()), &gw.env).map_err(|e| match &e {
        ConfigError::Invalid { .. } => {
            RpcError::invalid("invalid config").with_details(json!({"issues": issues_json(&e)}))
        }
        other => RpcError::invalid(
            other
                .problems()
                .first()
                .map(|p| p.message.clone())
                .unwrap_or_default(),
        ),
    })?;
    if verbatim {
        config::write::write_text(&path, &text, &gw.host.nix, "config")
    } else {
        config::write::write_value(&path, &mut next, &gw.host.nix, "config")
    }
    .map_err(|e| RpcError::unavailable(e.to_string()))?;
    let method = match kind {
        Kind::Set => "config.set",
        Kind::Apply => "config.apply",
        Kind::Patch => "config.patch",
    };
    tracing::info!(target: "gateway", "{method}: wrote {}", path.display());
    let reload = gw.reload_config(method);
    let mut out =
        json!({"ok": true, "path": path.display().to_string(), "config": loaded.display()});
    if kind != Kind::Set {
        out["restart"] = json!({
            "ok": reload.is_ok(),
            "pid": std::process::id(),
            "signal": Value::Null,
            "delayMs": 0,
            "mode": "reload",
            "reason": match &reload { Ok(()) => "applied in place; no restart needed".to_string(), Err(e) => e.clone() },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut t, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(t, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }

    #[test]
    fn changed_paths_name_leaves() {
        let mut out = vec![];
        changed_paths(
            &json!({"gateway": {"port": 1, "bind": "lan"}}),
            &json!({"gateway": {"port": 2, "bind": "lan"}}),
            "",
            &mut out,
        );
        assert_eq!(out, vec!["gateway.port"]);
    }

    #[test]
    fn restore_puts_secrets_back() {
        let old = json!({"gateway": {"auth": {"token": "real"}}});
        let mut new = json!({"gateway": {"auth": {"token": REDACTED}, "port": 1}});
        restore_redacted(&mut new, Some(&old));
        assert_eq!(new["gateway"]["auth"]["token"], "real");
    }
}
